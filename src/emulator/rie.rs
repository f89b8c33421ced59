//! The Runtime Interface Emulator's side of the emulator: the invoke endpoint
//! (`POST /2015-03-31/functions/function/invocations`) and RIE's local defaults.

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
        let streaming = match (req.method(), path) {
            (&Method::POST, INVOKE_PATH) => false,
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
                invoke_response(result)
            }
            _ => invoke_response(result),
        }
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

/// The invoke endpoint's answer, as RIE gives it.
fn invoke_response(result: InvokeResult) -> Response<Body> {
    let (status, body, content_type, function_error) = match result.outcome {
        InvokeOutcome::Response { content_type, body } => {
            (StatusCode::OK, body, content_type, false)
        }
        InvokeOutcome::FunctionError { body } | InvokeOutcome::ResponseTooLarge { body } => {
            (StatusCode::OK, body, None, true)
        }
        InvokeOutcome::InitError { body } => (StatusCode::BAD_GATEWAY, body, None, true),
        InvokeOutcome::TimedOut { message } => (StatusCode::OK, Bytes::from(message), None, true),
        // A stream is collected or passed through before it gets here.
        InvokeOutcome::Stream { content_type } => {
            (StatusCode::OK, Bytes::new(), Some(content_type), false)
        }
    };
    let mut response = respond(status, body);
    let hm = response.headers_mut();
    if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        hm.insert("content-type", ct);
    }
    if function_error {
        hm.insert(
            "x-amz-function-error",
            HeaderValue::from_static("Unhandled"),
        );
    }
    set_request_id(hm, &result.request_id);
    response
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
    fn base64_round_trips() {
        assert_eq!(decode_base64("eyJhIjoxfQ==").as_deref(), Some("{\"a\":1}"));
        assert_eq!(decode_base64("eyJhIjoxfQ").as_deref(), Some("{\"a\":1}"));
        assert_eq!(decode_base64("").as_deref(), Some(""));
        assert_eq!(decode_base64("a"), None);
        assert_eq!(decode_base64("/w=="), None, "not UTF-8");
        assert_eq!(decode_base64("!!!!"), None);
    }
}
