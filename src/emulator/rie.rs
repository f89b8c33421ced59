//! The Runtime Interface Emulator's side of the emulator: the invoke endpoint
//! (`POST /2015-03-31/functions/function/invocations`) and RIE's local defaults.
//!
//! Its answers are RIE's, as read in `aws/aws-lambda-runtime-interface-emulator`
//! (`internal/lambda/rie/handlers.go` `InvokeHandler`, `internal/lambda/rapidcore/server.go`
//! `Invoke`): the function's answer with 200, also for a function error (the error JSON); a
//! timeout with 200 and `Task timed out after N.00 seconds` as text (Go labels it `text/plain;
//! charset=utf-8`); 502 and the error body when init fails or the runtime dies mid-invoke.
//! Where ferric answers otherwise on purpose, the README's "The invoke endpoint: ferric and RIE"
//! says so and why.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::net::TcpListener;

use super::streaming::{self, StreamError};
use super::{
    api_error, header, respond, serve, Emulator, InvokeOutcome, InvokeRequest, InvokeResult,
    MAX_PAYLOAD_BYTES,
};
use crate::lambda::http::Body;
use crate::lambda::wording::{error_type, timeout_message};

pub const INVOKE_PATH: &str = "/2015-03-31/functions/function/invocations";
/// The streaming invoke endpoint (as `InvokeWithResponseStream`; RIE has none, RIE #175).
pub const STREAM_INVOKE_PATH: &str =
    "/2015-03-31/functions/function/response-streaming-invocations";

/// The environment RIE gives a function when the image does not set it, so the context
/// object is populated locally as under RIE. Returns the variables `get` does not have.
pub fn rie_environment(get: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_FUNCTION_NAME", "test_function"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/Functions"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "$LATEST"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ]
    .into_iter()
    .filter(|(k, _)| get(k).is_none_or(|v| v.is_empty()))
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl Emulator {
    /// Serve the RIE-compatible invoke endpoints on `listener`.
    pub fn serve_invocations(&self, listener: TcpListener) -> tokio::task::JoinHandle<()> {
        let e = self.clone();
        tokio::spawn(serve(listener, move |req| {
            let e = e.clone();
            async move { Ok::<_, Infallible>(e.invoke_route(req).await) }
        }))
    }

    async fn invoke_route(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path();
        // RIE serves its path for any method (a Go `HandleFunc` route).
        let streaming = match (req.method(), path) {
            (_, INVOKE_PATH) => false,
            (&Method::POST, STREAM_INVOKE_PATH) => true,
            _ => {
                return respond(
                    StatusCode::NOT_FOUND,
                    format!(
                        "404 page not found: use POST {INVOKE_PATH} (or {STREAM_INVOKE_PATH})\n"
                    ),
                )
            }
        };
        let request = match invoke_request(req).await {
            Ok(request) => request,
            Err(response) => return response,
        };
        let mut result = self.invoke(request).await;
        match (streaming, &result.outcome, result.stream.take()) {
            (true, InvokeOutcome::Stream { content_type }, Some(frames)) => {
                let mut response = streaming::respond(content_type, frames).await;
                set_request_id(response.headers_mut(), &result.request_id);
                response
            }
            (_, InvokeOutcome::Stream { content_type }, Some(frames)) => {
                let content_type = content_type.clone();
                let (body, error) = streaming::collect(frames).await;
                result.outcome = buffered_stream(content_type, body, error);
                self.invoke_response(result)
            }
            _ => self.invoke_response(result),
        }
    }

    /// The invoke endpoint's answer, as RIE gives it (see the module's documentation).
    fn invoke_response(&self, result: InvokeResult) -> Response<Body> {
        let timed_out = || {
            let message = timeout_message(self.inner.options.function_timeout);
            (StatusCode::OK, Bytes::from(message), Some(TEXT), true)
        };
        let (status, body, content_type, function_error) = match result.outcome {
            InvokeOutcome::Response { content_type, body } => {
                let content_type = content_type.and_then(|c| HeaderValue::from_str(&c).ok());
                (StatusCode::OK, body, content_type, false)
            }
            InvokeOutcome::FunctionError { body } => match failure_kind(&body) {
                FailureKind::Timeout => timed_out(),
                FailureKind::Runtime => (StatusCode::BAD_GATEWAY, body, Some(JSON), true),
                FailureKind::Function => (StatusCode::OK, body, Some(JSON), true),
            },
            InvokeOutcome::ResponseTooLarge { body } => (StatusCode::OK, body, Some(JSON), true),
            InvokeOutcome::InitError { body } => (StatusCode::BAD_GATEWAY, body, Some(JSON), true),
            InvokeOutcome::TimedOut { .. } => timed_out(),
            // A stream is collected or passed through before it gets here.
            InvokeOutcome::Stream { content_type } => {
                let content_type = HeaderValue::from_str(&content_type).ok();
                (StatusCode::OK, Bytes::new(), content_type, false)
            }
        };
        let mut response = respond(status, body);
        let hm = response.headers_mut();
        if let Some(ct) = content_type {
            hm.insert("content-type", ct);
        }
        // Not RIE's (it sends no such header) but Lambda's Invoke API's, so an AWS SDK pointed
        // here tells a failed invocation from a successful one (README: "The invoke endpoint:
        // ferric and RIE").
        if function_error {
            hm.insert(
                "x-amz-function-error",
                HeaderValue::from_static("Unhandled"),
            );
        }
        set_request_id(hm, &result.request_id);
        response
    }
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");
/// What Go's `http.DetectContentType` calls RIE's timeout text.
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// Who failed, as a function error's body tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The handler (or its runtime's marshalling) reported an error.
    Function,
    /// ferric timed the invocation out (`Runtime.Timeout`): RIE's own timeout.
    Timeout,
    /// The worker exited or broke the protocol: under RIE, the runtime process died.
    Runtime,
}

/// Tell ferric's own failure reports (`crate::supervisor::report`: one of its error types, and
/// a message with RAPID's `RequestId: <id> Error: ` prefix) from the function's errors.
pub fn failure_kind(body: &[u8]) -> FailureKind {
    let Ok(serde_json::Value::Object(error)) = serde_json::from_slice(body) else {
        return FailureKind::Function;
    };
    let text = |key: &str| error.get(key).and_then(|v| v.as_str()).unwrap_or("");
    if !text("errorMessage").starts_with("RequestId: ") {
        return FailureKind::Function;
    }
    match text("errorType") {
        error_type::TIMEOUT => FailureKind::Timeout,
        error_type::EXIT | error_type::PROTOCOL => FailureKind::Runtime,
        _ => FailureKind::Function,
    }
}

/// A streamed response as the buffered endpoint answers it: the whole body, or the error it
/// ended with (as a function error, with the body the handler reported).
fn buffered_stream(content_type: String, body: Bytes, error: Option<StreamError>) -> InvokeOutcome {
    match error {
        None => InvokeOutcome::Response {
            content_type: Some(content_type),
            body,
        },
        Some(e) => InvokeOutcome::FunctionError { body: e.body },
    }
}

/// The invocation an invoke request describes, or the error answer for a bad one.
async fn invoke_request(req: Request<Incoming>) -> Result<InvokeRequest, Response<Body>> {
    let headers = req.headers().clone();
    let body = match Limited::new(req.into_body(), MAX_PAYLOAD_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Err(api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation"),
            ))
        }
    };
    let client_context =
        match header(&headers, "x-amz-client-context").map(|b64| decode_base64(&b64)) {
            None => None,
            Some(Some(text)) => Some(text),
            Some(None) => {
                return Err(api_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    "X-Amz-Client-Context must be base64-encoded JSON",
                ))
            }
        };
    Ok(InvokeRequest {
        body,
        // Classic RIE always hands the runtime `application/json`, whatever the caller sent
        // (`curl -d` labels bodies as form data).
        content_type: None,
        trace_id: header(&headers, "x-amzn-trace-id"),
        client_context,
        tenant_id: header(&headers, "x-amz-tenant-id"),
        ..InvokeRequest::default()
    })
}

fn set_request_id(headers: &mut HeaderMap, request_id: &str) {
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
}

/// Standard base64 (padding optional) to UTF-8 text, as RIE decodes `X-Amz-Client-Context`.
pub fn decode_base64(input: &str) -> Option<String> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    String::from_utf8(engine.decode(input.trim()).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rie_environment_fills_only_what_is_missing() {
        let env =
            rie_environment(&|k| (k == "AWS_LAMBDA_FUNCTION_NAME").then(|| "mine".to_owned()));
        assert!(env.iter().all(|(k, _)| k != "AWS_LAMBDA_FUNCTION_NAME"));
        assert!(env.contains(&("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "3008".into())));
    }

    #[test]
    fn ferric_s_own_failure_reports_are_told_from_function_errors() {
        use crate::handler::Language;
        use crate::lambda::wording::{error_body, with_request_id};
        let report = |kind: &str, language| {
            let message = with_request_id("id-1", "Task timed out after 3.00 seconds");
            error_body(language, kind, &message, "id-1")
        };
        for language in [Some(Language::Python), Some(Language::Node), None] {
            let kind = |t: &str| failure_kind(&report(t, language));
            assert_eq!(kind(error_type::TIMEOUT), FailureKind::Timeout);
            assert_eq!(kind(error_type::EXIT), FailureKind::Runtime);
            assert_eq!(kind(error_type::PROTOCOL), FailureKind::Runtime);
            assert_eq!(kind(error_type::INVALID_INVOCATION), FailureKind::Function);
        }
        // A handler's own error, even one that borrows the type, is the function's.
        for body in [
            &br#"{"errorMessage": "boom", "errorType": "Runtime.Timeout"}"#[..],
            br#"{"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}"#,
            br#"{"errorMessage": "RequestId: x Error: y", "errorType": "Runtime.MarshalError"}"#,
            b"not json",
            b"[]",
            b"",
        ] {
            assert_eq!(failure_kind(body), FailureKind::Function, "{body:?}");
        }
    }

    #[test]
    fn base64_round_trips() {
        assert_eq!(decode_base64("eyJhIjoxfQ==").as_deref(), Some("{\"a\":1}"));
        assert_eq!(decode_base64("eyJhIjoxfQ").as_deref(), Some("{\"a\":1}"));
        assert_eq!(decode_base64("").as_deref(), Some(""));
        assert_eq!(decode_base64("a"), None);
        assert_eq!(decode_base64("/w=="), None, "not UTF-8");
        assert_eq!(decode_base64("!!!!"), None);
    }
}
