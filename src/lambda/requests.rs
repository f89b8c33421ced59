//! One pure request builder per Runtime API endpoint (no network; unit-tested here). The HTTP
//! layer adds `Host` and sends them.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};

use super::invocation::headers as next_headers;

pub const API_VERSION: &str = "2018-06-01";
pub const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
pub const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";
pub const RESTORE_NEXT_PATH: &str = "/2018-06-01/runtime/restore/next";
pub const RESTORE_ERROR_PATH: &str = "/2018-06-01/runtime/restore/error";
pub const EXTENSION_REGISTER_PATH: &str = "/2020-01-01/extension/register";
pub const EXTENSION_NEXT_PATH: &str = "/2020-01-01/extension/event/next";

/// Header names ferric sends.
pub mod names {
    pub const ERROR_TYPE: &str = "lambda-runtime-function-error-type";
    pub const XRAY_CAUSE: &str = "lambda-runtime-function-xray-error-cause";
    pub const INVOCATION_ID: &str = super::next_headers::INVOCATION_ID;
    pub const EXTENSION_NAME: &str = "lambda-extension-name";
    pub const EXTENSION_ID: &str = "lambda-extension-identifier";
    pub const RESPONSE_MODE: &str = "lambda-runtime-function-response-mode";
    /// Trailer carrying a streamed response's error type.
    pub const ERROR_TYPE_TRAILER: &str = "Lambda-Runtime-Function-Error-Type";
    /// Trailer carrying a streamed response's error body, in base64.
    pub const ERROR_BODY_TRAILER: &str = "Lambda-Runtime-Function-Error-Body";
}

/// The largest X-Ray cause RAPID keeps; awslambdaric drops larger ones.
pub const MAX_XRAY_CAUSE_BYTES: usize = 64 * 1024;

/// An error body plus the headers that go with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorPost {
    pub body: Bytes,
    /// `Lambda-Runtime-Function-Error-Type`, when one should be sent.
    pub error_type: Option<String>,
    /// `Lambda-Runtime-Function-XRay-Error-Cause`, when known.
    pub xray_cause: Option<String>,
}

/// Which invocation a post answers.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub request_id: &'a str,
    /// `Lambda-Runtime-Invocation-Id`, echoed when the platform sent one.
    pub invocation_id: Option<&'a str>,
}

fn request(method: Method, path: String, headers: HeaderMap, body: Bytes) -> Request<Bytes> {
    let mut req = Request::new(body);
    *req.method_mut() = method;
    // Paths are built from constants and request ids checked to be path-safe.
    *req.uri_mut() = path.parse().unwrap_or_else(|_| http::Uri::from_static("/"));
    *req.headers_mut() = headers;
    req
}

fn base(user_agent: &HeaderValue) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(6);
    h.insert(http::header::USER_AGENT, user_agent.clone());
    h
}

fn insert(h: &mut HeaderMap, name: &'static str, value: &str) {
    // Values were sanitised or come from headers we received, so this only fails on bytes no
    // platform would send; such a header is dropped rather than panicking.
    if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
        h.insert(HeaderName::from_static(name), v);
    }
}

fn invocation_path(target: Target, kind: &str) -> String {
    format!(
        "/{API_VERSION}/runtime/invocation/{}/{kind}",
        target.request_id
    )
}

fn target_headers(user_agent: &HeaderValue, target: Target) -> HeaderMap {
    let mut h = base(user_agent);
    if let Some(id) = target.invocation_id {
        insert(&mut h, names::INVOCATION_ID, id);
    }
    h
}

fn add_error_headers(h: &mut HeaderMap, error: &ErrorPost) {
    if let Some(t) = &error.error_type {
        insert(h, names::ERROR_TYPE, &sanitize_header(t));
    }
    if let Some(cause) = error.xray_cause.as_deref() {
        if cause.len() < MAX_XRAY_CAUSE_BYTES {
            insert(h, names::XRAY_CAUSE, &sanitize_header(cause));
        }
    }
}

/// `GET /runtime/invocation/next`.
pub fn next(user_agent: &HeaderValue) -> Request<Bytes> {
    request(
        Method::GET,
        NEXT_PATH.to_owned(),
        base(user_agent),
        Bytes::new(),
    )
}

/// `POST /runtime/invocation/{id}/response` with a buffered body.
pub fn response(
    user_agent: &HeaderValue,
    target: Target,
    content_type: &str,
    body: Bytes,
) -> Request<Bytes> {
    let mut h = target_headers(user_agent, target);
    insert(&mut h, "content-type", content_type);
    request(Method::POST, invocation_path(target, "response"), h, body)
}

/// The head of a streamed `POST /runtime/invocation/{id}/response`: response mode `streaming`,
/// chunked, the error trailers declared up front (RAPID reads them only if declared).
pub fn stream_response(
    user_agent: &HeaderValue,
    target: Target,
    content_type: &str,
) -> Request<()> {
    let mut h = target_headers(user_agent, target);
    insert(&mut h, names::RESPONSE_MODE, "streaming");
    insert(&mut h, "transfer-encoding", "chunked");
    let trailers = format!(
        "{}, {}",
        names::ERROR_TYPE_TRAILER,
        names::ERROR_BODY_TRAILER
    );
    insert(&mut h, "trailer", &trailers);
    insert(&mut h, "content-type", content_type);
    let mut req = Request::new(());
    *req.method_mut() = Method::POST;
    *req.uri_mut() = invocation_path(target, "response")
        .parse()
        .unwrap_or_else(|_| http::Uri::from_static("/"));
    *req.headers_mut() = h;
    req
}

/// The trailers that end a streamed response with an error: its type and its body in base64.
pub fn error_trailers(error_type: &str, body: &[u8]) -> HeaderMap {
    use base64::Engine;
    let mut h = HeaderMap::new();
    let encoded = base64::engine::general_purpose::STANDARD.encode(body);
    for (name, value) in [
        (names::ERROR_TYPE_TRAILER, sanitize_header(error_type)),
        (names::ERROR_BODY_TRAILER, encoded),
    ] {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            // UTF-8 is kept (obs-text), as for the error-type header of an /error post.
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            h.insert(n, v);
        }
    }
    h
}

/// `POST /runtime/invocation/{id}/error`.
pub fn error(user_agent: &HeaderValue, target: Target, error: ErrorPost) -> Request<Bytes> {
    let mut h = target_headers(user_agent, target);
    insert(&mut h, "content-type", "application/json");
    add_error_headers(&mut h, &error);
    request(
        Method::POST,
        invocation_path(target, "error"),
        h,
        error.body,
    )
}

/// `POST /runtime/init/error`.
pub fn init_error(user_agent: &HeaderValue, error: ErrorPost) -> Request<Bytes> {
    let mut h = base(user_agent);
    add_error_headers(&mut h, &error);
    request(Method::POST, INIT_ERROR_PATH.to_owned(), h, error.body)
}

/// `GET /runtime/restore/next` (SnapStart: returns once the snapshot has been restored).
pub fn restore_next(user_agent: &HeaderValue) -> Request<Bytes> {
    request(
        Method::GET,
        RESTORE_NEXT_PATH.to_owned(),
        base(user_agent),
        Bytes::new(),
    )
}

/// `POST /runtime/restore/error` (SnapStart: an after-restore hook failed).
pub fn restore_error(user_agent: &HeaderValue, error: ErrorPost) -> Request<Bytes> {
    let mut h = base(user_agent);
    add_error_headers(&mut h, &error);
    request(Method::POST, RESTORE_ERROR_PATH.to_owned(), h, error.body)
}

/// `POST /2020-01-01/extension/register` for an internal extension subscribed to no events.
pub fn register_extension(user_agent: &HeaderValue, name: &str) -> Request<Bytes> {
    let mut h = base(user_agent);
    insert(&mut h, names::EXTENSION_NAME, name);
    request(
        Method::POST,
        EXTENSION_REGISTER_PATH.to_owned(),
        h,
        Bytes::from_static(br#"{"events":[]}"#),
    )
}

/// `GET /2020-01-01/extension/event/next` for a registered extension.
pub fn extension_next(user_agent: &HeaderValue, identifier: HeaderValue) -> Request<Bytes> {
    let mut h = base(user_agent);
    h.insert(HeaderName::from_static(names::EXTENSION_ID), identifier);
    request(Method::GET, EXTENSION_NEXT_PATH.to_owned(), h, Bytes::new())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ua() -> HeaderValue {
        HeaderValue::from_static("ferric/test")
    }

    fn header<'a, B>(req: &'a Request<B>, name: &str) -> Option<&'a str> {
        req.headers().get(name).and_then(|v| v.to_str().ok())
    }

    const TARGET: Target = Target {
        request_id: "req-1",
        invocation_id: Some("inv-1"),
    };

    #[test]
    fn next_is_a_plain_get_with_the_user_agent() {
        let req = next(&ua());
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.uri().path(), "/2018-06-01/runtime/invocation/next");
        assert_eq!(header(&req, "user-agent"), Some("ferric/test"));
        assert!(req.body().is_empty());
    }

    #[test]
    fn response_echoes_the_invocation_id_and_labels_the_body() {
        let req = response(
            &ua(),
            TARGET,
            "application/unknown",
            Bytes::from_static(b"x"),
        );
        assert_eq!(req.method(), Method::POST);
        assert_eq!(
            req.uri().path(),
            "/2018-06-01/runtime/invocation/req-1/response"
        );
        assert_eq!(header(&req, "content-type"), Some("application/unknown"));
        assert_eq!(header(&req, "lambda-runtime-invocation-id"), Some("inv-1"));
        assert_eq!(&req.body()[..], b"x");
        let without = Target {
            invocation_id: None,
            ..TARGET
        };
        let req = response(&ua(), without, "application/json", Bytes::new());
        assert!(header(&req, "lambda-runtime-invocation-id").is_none());
    }

    #[test]
    fn error_posts_carry_type_and_cause_headers_only_when_given() {
        let post = ErrorPost {
            body: Bytes::from_static(b"{}"),
            error_type: Some("Runtime.ExitError".into()),
            xray_cause: Some("{\"a\":1}".into()),
        };
        let req = error(&ua(), TARGET, post.clone());
        assert_eq!(
            req.uri().path(),
            "/2018-06-01/runtime/invocation/req-1/error"
        );
        assert_eq!(header(&req, "content-type"), Some("application/json"));
        assert_eq!(header(&req, names::ERROR_TYPE), Some("Runtime.ExitError"));
        assert_eq!(header(&req, names::XRAY_CAUSE), Some("{\"a\":1}"));
        let plain = error(&ua(), TARGET, ErrorPost::default());
        assert!(header(&plain, names::ERROR_TYPE).is_none());
        assert!(header(&plain, names::XRAY_CAUSE).is_none());
        let init = init_error(&ua(), post);
        assert_eq!(init.uri().path(), INIT_ERROR_PATH);
        assert_eq!(header(&init, names::ERROR_TYPE), Some("Runtime.ExitError"));
        assert!(header(&init, "content-type").is_none(), "as awslambdaric");
    }

    #[test]
    fn oversized_xray_cause_is_dropped() {
        let post = ErrorPost {
            body: Bytes::new(),
            error_type: Some("Runtime.X".into()),
            xray_cause: Some("x".repeat(MAX_XRAY_CAUSE_BYTES)),
        };
        let req = error(&ua(), TARGET, post);
        assert_eq!(header(&req, names::ERROR_TYPE), Some("Runtime.X"));
        assert!(header(&req, names::XRAY_CAUSE).is_none());
    }

    #[test]
    fn snapstart_requests() {
        let req = restore_next(&ua());
        assert_eq!(
            (req.method(), req.uri().path()),
            (&Method::GET, RESTORE_NEXT_PATH)
        );
        let post = ErrorPost {
            body: Bytes::from_static(b"{}"),
            error_type: Some("Runtime.AfterRestoreError".into()),
            xray_cause: None,
        };
        let req = restore_error(&ua(), post);
        assert_eq!(req.uri().path(), RESTORE_ERROR_PATH);
        assert_eq!(
            header(&req, names::ERROR_TYPE),
            Some("Runtime.AfterRestoreError")
        );
    }

    #[test]
    fn extension_requests() {
        let req = register_extension(&ua(), "ferric-graceful-shutdown");
        assert_eq!(req.uri().path(), EXTENSION_REGISTER_PATH);
        assert_eq!(
            header(&req, names::EXTENSION_NAME),
            Some("ferric-graceful-shutdown")
        );
        assert_eq!(&req.body()[..], br#"{"events":[]}"#);
        let req = extension_next(&ua(), HeaderValue::from_static("id-7"));
        assert_eq!(req.method(), Method::GET);
        assert_eq!(header(&req, names::EXTENSION_ID), Some("id-7"));
    }

    #[test]
    fn streamed_responses_declare_their_mode_and_trailers() {
        let req = stream_response(&ua(), TARGET, "text/plain");
        assert_eq!(req.method(), Method::POST);
        assert_eq!(
            req.uri().path(),
            "/2018-06-01/runtime/invocation/req-1/response"
        );
        assert_eq!(header(&req, names::RESPONSE_MODE), Some("streaming"));
        assert_eq!(header(&req, "transfer-encoding"), Some("chunked"));
        assert_eq!(
            header(&req, "trailer"),
            Some("Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body")
        );
        assert_eq!(header(&req, "content-type"), Some("text/plain"));
        assert_eq!(header(&req, "lambda-runtime-invocation-id"), Some("inv-1"));
        let t = error_trailers("Runtime.Error\n", b"{\"a\":1}");
        assert_eq!(
            t.get("lambda-runtime-function-error-type").unwrap(),
            "Runtime.Error%0A"
        );
        assert_eq!(
            t.get("lambda-runtime-function-error-body").unwrap(),
            "eyJhIjoxfQ=="
        );
    }

    #[test]
    fn header_values_are_sanitised() {
        assert_eq!(sanitize_header("Runtime.Error"), "Runtime.Error");
        assert_eq!(sanitize_header("a\x7fb\nc"), "a%7Fb%0Ac");
        assert_eq!(sanitize_header("100% é"), "100% é");
        assert!(HeaderValue::from_bytes(sanitize_header("x\r\ny\0é").as_bytes()).is_ok());
    }
}
