//! The Runtime Interface Emulator's side of the emulator: the invoke endpoint
//! (`POST /2015-03-31/functions/function/invocations`) and RIE's local defaults.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use tokio::net::TcpListener;

use super::{
    api_error, header, respond, serve, Emulator, InvokeOutcome, InvokeRequest, InvokeResult,
    MAX_PAYLOAD_BYTES,
};

pub const INVOKE_PATH: &str = "/2015-03-31/functions/function/invocations";

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
    /// Serve the RIE-compatible invoke endpoint on `listener`.
    pub fn serve_invocations(&self, listener: TcpListener) -> tokio::task::JoinHandle<()> {
        let e = self.clone();
        tokio::spawn(serve(listener, move |req| {
            let e = e.clone();
            async move { Ok::<_, Infallible>(e.invoke_route(req).await) }
        }))
    }

    async fn invoke_route(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if req.method() != Method::POST || req.uri().path() != INVOKE_PATH {
            return respond(
                StatusCode::NOT_FOUND,
                format!("404 page not found: use POST {INVOKE_PATH}\n"),
            );
        }
        let headers = req.headers().clone();
        let body = match Limited::new(req.into_body(), MAX_PAYLOAD_BYTES).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return api_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLarge",
                    &format!("Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation"),
                )
            }
        };
        let client_context =
            match header(&headers, "x-amz-client-context").map(|b64| decode_base64(&b64)) {
                None => None,
                Some(Some(text)) => Some(text),
                Some(None) => {
                    return api_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidRequestContentException",
                        "X-Amz-Client-Context must be base64-encoded JSON",
                    )
                }
            };
        let request = InvokeRequest {
            body,
            // Classic RIE always hands the runtime `application/json`, whatever the caller sent
            // (`curl -d` labels bodies as form data).
            content_type: None,
            trace_id: header(&headers, "x-amzn-trace-id"),
            client_context,
            tenant_id: header(&headers, "x-amz-tenant-id"),
            ..InvokeRequest::default()
        };
        let result = self.invoke(request).await;
        invoke_response(result)
    }
}

/// The invoke endpoint's answer, as RIE gives it.
fn invoke_response(result: InvokeResult) -> Response<Full<Bytes>> {
    let (status, body, content_type, function_error) = match result.outcome {
        InvokeOutcome::Response { content_type, body } => {
            (StatusCode::OK, body, content_type, false)
        }
        InvokeOutcome::FunctionError { body } | InvokeOutcome::ResponseTooLarge { body } => {
            (StatusCode::OK, body, None, true)
        }
        InvokeOutcome::InitError { body } => (StatusCode::BAD_GATEWAY, body, None, true),
        InvokeOutcome::TimedOut { message } => (StatusCode::OK, Bytes::from(message), None, true),
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
    if let Ok(id) = HeaderValue::from_str(&result.request_id) {
        hm.insert("x-amzn-requestid", id);
    }
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
