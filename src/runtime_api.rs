//! The Lambda Runtime API client: one method per endpoint, kept-alive connections (see
//! [`crate::http_client`]), proxy variables ignored by construction (it connects to the address
//! it is given), no timeout on `GET /next` (the sandbox may be frozen while waiting), 30 s on the
//! rest.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::http_client::{HttpClient, HttpError};
use crate::invocation::{headers, Invocation, InvocationError};

const API_VERSION: &str = "2018-06-01";
const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
pub const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";
pub const XRAY_CAUSE_HEADER: &str = "lambda-runtime-function-xray-error-cause";
/// The largest X-Ray cause RAPID keeps; awslambdaric drops larger ones.
pub const MAX_XRAY_CAUSE_BYTES: usize = 64 * 1024;
/// Bound on every request except `GET /next`.
const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// What went wrong talking to the Runtime API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Runtime API request {endpoint} failed: {source}")]
    Transport {
        endpoint: &'static str,
        #[source]
        source: HttpError,
    },
    #[error("Runtime API {endpoint} answered {status}: {body}")]
    Status {
        endpoint: &'static str,
        status: StatusCode,
        body: String,
    },
    #[error(transparent)]
    Invocation(#[from] InvocationError),
    #[error("AWS_LAMBDA_RUNTIME_API={0:?} is not host:port")]
    BadAddress(String),
}

impl ApiError {
    /// Whether retrying `/next` could help: a refused or reset connection can be retried (the
    /// platform re-delivers the event); a 500 means "container error, exit promptly".
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Transport { .. })
    }
}

/// How a post for one invocation ended. 4xx answers mean the platform already settled the
/// invocation (timed out, too large, duplicate): log and carry on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    Accepted,
    Refused { status: StatusCode, body: String },
}

/// An error body plus the headers that go with it.
#[derive(Debug, Clone, Default)]
pub struct ErrorPost {
    pub body: Bytes,
    /// `Lambda-Runtime-Function-Error-Type`, when one should be sent.
    pub error_type: Option<String>,
    /// `Lambda-Runtime-Function-XRay-Error-Cause`, when known.
    pub xray_cause: Option<String>,
}

/// A client of one Runtime API endpoint.
#[derive(Clone)]
pub struct RuntimeApi {
    http: Arc<HttpClient>,
    user_agent: HeaderValue,
}

impl RuntimeApi {
    /// `address` is `host:port` without a scheme, as in `AWS_LAMBDA_RUNTIME_API`.
    pub fn new(address: &str, user_agent: &str) -> Result<RuntimeApi, ApiError> {
        let valid = address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
            && !address.contains('/');
        if !valid {
            return Err(ApiError::BadAddress(address.to_owned()));
        }
        Ok(RuntimeApi {
            http: Arc::new(HttpClient::new(address)),
            user_agent: HeaderValue::from_str(user_agent)
                .unwrap_or_else(|_| HeaderValue::from_static("ferric")),
        })
    }

    /// `GET /runtime/invocation/next`, with no timeout.
    pub async fn next_invocation(&self) -> Result<Invocation, ApiError> {
        const EP: &str = "GET /runtime/invocation/next";
        let answer = self
            .http
            .send(
                Method::GET,
                NEXT_PATH,
                self.headers(),
                Bytes::new(),
                None,
                true,
            )
            .await
            .map_err(transport(EP))?;
        if !answer.status.is_success() {
            return Err(ApiError::Status {
                endpoint: EP,
                status: answer.status,
                body: lossy(&answer.body),
            });
        }
        Ok(Invocation::from_next(&answer.headers, answer.body)?)
    }

    /// `POST /runtime/invocation/{id}/response`.
    pub async fn post_response(
        &self,
        inv: &Invocation,
        content_type: &str,
        body: Bytes,
    ) -> Result<PostOutcome, ApiError> {
        let mut h = self.invocation_headers(inv);
        insert(&mut h, http::header::CONTENT_TYPE.as_str(), content_type);
        let path = format!(
            "/{API_VERSION}/runtime/invocation/{}/response",
            inv.request_id
        );
        self.post("POST /runtime/invocation/{id}/response", &path, h, body)
            .await
    }

    /// `POST /runtime/invocation/{id}/error`.
    pub async fn post_error(
        &self,
        inv: &Invocation,
        error: ErrorPost,
    ) -> Result<PostOutcome, ApiError> {
        self.post_error_for(&inv.request_id, inv.invocation_id.as_deref(), error)
            .await
    }

    /// `POST /runtime/invocation/{id}/error` when only the ids are known (e.g. bad headers).
    pub async fn post_error_for(
        &self,
        request_id: &str,
        invocation_id: Option<&str>,
        error: ErrorPost,
    ) -> Result<PostOutcome, ApiError> {
        let mut h = self.headers();
        if let Some(id) = invocation_id {
            insert(&mut h, headers::INVOCATION_ID, id);
        }
        insert(
            &mut h,
            http::header::CONTENT_TYPE.as_str(),
            "application/json",
        );
        add_error_headers(&mut h, &error);
        let path = format!("/{API_VERSION}/runtime/invocation/{request_id}/error");
        self.post("POST /runtime/invocation/{id}/error", &path, h, error.body)
            .await
    }

    /// `POST /runtime/init/error`.
    pub async fn post_init_error(&self, error: ErrorPost) -> Result<PostOutcome, ApiError> {
        let mut h = self.headers();
        add_error_headers(&mut h, &error);
        let path = format!("/{API_VERSION}/runtime/init/error");
        self.post("POST /runtime/init/error", &path, h, error.body)
            .await
    }

    /// Register a no-op internal extension (subscribed to no events) so that the platform
    /// sends SIGTERM before shutdown, and keep its `event/next` call parked in the background, as
    /// init only completes once every registered extension has asked for its next event.
    pub async fn register_extension(&self, name: &str) -> Result<(), ApiError> {
        const EP: &str = "POST /2020-01-01/extension/register";
        let mut h = self.headers();
        insert(&mut h, "lambda-extension-name", name);
        let body = Bytes::from_static(br#"{"events":[]}"#);
        let answer = self
            .http
            .send(
                Method::POST,
                "/2020-01-01/extension/register",
                h,
                body,
                Some(POST_TIMEOUT),
                true,
            )
            .await
            .map_err(transport(EP))?;
        let id = answer.headers.get("lambda-extension-identifier").cloned();
        let Some(id) = id.filter(|_| answer.status.is_success()) else {
            return Err(ApiError::Status {
                endpoint: EP,
                status: answer.status,
                body: lossy(&answer.body),
            });
        };
        let mut h = self.headers();
        h.insert("lambda-extension-identifier", id);
        let http = self.http.clone();
        tokio::spawn(async move {
            // Subscribed to nothing: this call only returns when the environment shuts down.
            // It holds its own connection, which is never reused.
            let _ = http
                .send(
                    Method::GET,
                    "/2020-01-01/extension/event/next",
                    h,
                    Bytes::new(),
                    None,
                    false,
                )
                .await;
        });
        Ok(())
    }

    fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::with_capacity(6);
        h.insert(http::header::USER_AGENT, self.user_agent.clone());
        h
    }

    fn invocation_headers(&self, inv: &Invocation) -> HeaderMap {
        let mut h = self.headers();
        if let Some(id) = &inv.invocation_id {
            insert(&mut h, headers::INVOCATION_ID, id);
        }
        h
    }

    async fn post(
        &self,
        endpoint: &'static str,
        path: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<PostOutcome, ApiError> {
        let answer = self
            .http
            .send(Method::POST, path, headers, body, Some(POST_TIMEOUT), true)
            .await
            .map_err(transport(endpoint))?;
        let status = answer.status;
        if status.is_success() {
            return Ok(PostOutcome::Accepted);
        }
        let body = lossy(&answer.body);
        if status.is_server_error() {
            return Err(ApiError::Status {
                endpoint,
                status,
                body,
            });
        }
        Ok(PostOutcome::Refused { status, body })
    }
}

fn transport(endpoint: &'static str) -> impl FnOnce(HttpError) -> ApiError {
    move |source| ApiError::Transport { endpoint, source }
}

fn add_error_headers(h: &mut HeaderMap, error: &ErrorPost) {
    if let Some(t) = &error.error_type {
        insert(h, ERROR_TYPE_HEADER, &sanitize_header(t));
    }
    if let Some(cause) = &error.xray_cause {
        if cause.len() < MAX_XRAY_CAUSE_BYTES {
            insert(h, XRAY_CAUSE_HEADER, &sanitize_header(cause));
        }
    }
}

fn insert(h: &mut HeaderMap, name: &'static str, value: &str) {
    // Values were sanitised or come from headers we received, so this only fails on
    // bytes no platform would send; such a header is dropped rather than panicking.
    if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
        h.insert(name, v);
    }
}

/// Make a string a valid header value: control characters (including DEL, which broke
/// aws-lambda-ric's requests) are percent-escaped; everything else, UTF-8 included, is kept.
pub fn sanitize_header(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        if ch.is_ascii_control() && ch != '\t' {
            out.push_str(&format!("%{:02X}", ch as u32));
        } else {
            out.push(ch);
        }
    }
    out
}

fn lossy(body: &[u8]) -> String {
    let cut = body.len().min(2048);
    String::from_utf8_lossy(&body[..cut]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_must_be_host_port() {
        assert!(RuntimeApi::new("127.0.0.1:9001", "ua").is_ok());
        assert!(RuntimeApi::new("localhost:1", "ua").is_ok());
        for bad in [
            "",
            "127.0.0.1",
            "http://127.0.0.1:9001",
            ":9001",
            "h:port",
            "h:99999",
        ] {
            assert!(
                matches!(RuntimeApi::new(bad, "ua"), Err(ApiError::BadAddress(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn header_values_are_sanitised() {
        assert_eq!(sanitize_header("Runtime.Error"), "Runtime.Error");
        assert_eq!(sanitize_header("a\x7fb\nc"), "a%7Fb%0Ac");
        assert_eq!(sanitize_header("100% é"), "100% é");
        assert!(HeaderValue::from_bytes(sanitize_header("x\r\ny\0é").as_bytes()).is_ok());
    }

    #[test]
    fn oversized_xray_cause_is_dropped() {
        let mut h = HeaderMap::new();
        add_error_headers(
            &mut h,
            &ErrorPost {
                body: Bytes::new(),
                error_type: Some("Runtime.X".into()),
                xray_cause: Some("x".repeat(MAX_XRAY_CAUSE_BYTES)),
            },
        );
        assert_eq!(h.get(ERROR_TYPE_HEADER).unwrap(), "Runtime.X");
        assert!(h.get(XRAY_CAUSE_HEADER).is_none());
    }

    #[test]
    fn only_transport_and_server_errors_are_transient() {
        let s = |status| ApiError::Status {
            endpoint: "x",
            status,
            body: String::new(),
        };
        assert!(!s(StatusCode::INTERNAL_SERVER_ERROR).is_transient());
        assert!(!s(StatusCode::FORBIDDEN).is_transient());
        assert!(!ApiError::BadAddress("x".into()).is_transient());
    }
}
