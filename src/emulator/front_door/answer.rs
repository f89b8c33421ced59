//! The function's answer as the HTTP response API Gateway makes of it, and API Gateway's own
//! answers when there is none to make. Pure.
//!
//! - Format 2.0: "Create AWS Lambda proxy integrations for HTTP APIs in API Gateway", "Lambda
//!   function response format"
//!   (docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html),
//!   and the knowledge-center article "How do I map the status codes returned by HTTP APIs"
//!   (repost.aws/knowledge-center/api-gateway-status-codes-http-api): a valid JSON answer without
//!   `statusCode` is assumed to mean status 200, `content-type: application/json`, the answer as
//!   the body, not base64; `cookies` become one `set-cookie` header each. A JSON string answer
//!   is the string.
//! - Format 1.0: "Output format of a Lambda function for proxy integration"
//!   (docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html):
//!   the answer must be the proxy object; `headers` and `multiValueHeaders` are merged (a pair in
//!   both appears once). "API Gateway doesn't make assumptions of the response" (the article
//!   above): anything else is a malformed proxy response.
//! - Errors: "Handling Lambda errors with an API Gateway API"
//!   (docs.aws.amazon.com/lambda/latest/dg/services-apigateway-errors.html): a function error or
//!   a response in the wrong format is a 502 with `{"message": "Internal server error"}` (REST;
//!   HTTP APIs say `{"message":"Internal Server Error"}`); an integration timeout is the
//!   `INTEGRATION_TIMEOUT` gateway response, 504 "Endpoint request timed out" ("Gateway response
//!   types for API Gateway", docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html).

use base64::Engine;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use serde_json::{Map, Value};

use crate::config::HttpEvent;

/// Why an answer is not a response API Gateway would send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("the answer is not JSON")]
    NotJson,
    #[error("the answer is not a proxy object with a statusCode (REST API payload 1.0 needs one)")]
    NotProxy,
    #[error("statusCode {0} is not an HTTP status")]
    Status(String),
    #[error("body is not a string")]
    Body,
    #[error("isBase64Encoded is true but body is not base64")]
    Base64,
    #[error("header {0:?} is not a valid header name and string value")]
    Header(String),
    #[error("{0} is not an array of strings")]
    List(&'static str),
}

/// Headers ferric never copies from an answer: the framing is its own.
const FRAMING: [&str; 3] = ["content-length", "transfer-encoding", "connection"];

/// The HTTP response for a buffered answer.
pub fn answer(version: HttpEvent, answer: &[u8]) -> Result<Response<Bytes>, Malformed> {
    let value: Value = serde_json::from_slice(answer).map_err(|_| Malformed::NotJson)?;
    match (version, value) {
        (_, Value::Object(fields)) if fields.contains_key("statusCode") => proxy(version, &fields),
        (HttpEvent::V1, _) => Err(Malformed::NotProxy),
        (HttpEvent::V2, Value::String(text)) => Ok(json_response(Bytes::from(text))),
        (HttpEvent::V2, _) => Ok(json_response(Bytes::copy_from_slice(answer))),
    }
}

fn json_response(body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn proxy(version: HttpEvent, fields: &Map<String, Value>) -> Result<Response<Bytes>, Malformed> {
    let status = status(&fields["statusCode"])?;
    let body = match fields.get("body") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(Malformed::Body),
    };
    let body = match fields.get("isBase64Encoded") {
        Some(Value::Bool(true)) => base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|_| Malformed::Base64)?
            .into(),
        _ => Bytes::from(body),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for (name, value) in merged_headers(fields)? {
        if FRAMING.contains(&name.as_str()) {
            continue;
        }
        response.headers_mut().append(name, value);
    }
    if version == HttpEvent::V2 {
        for cookie in strings(fields.get("cookies"), "cookies")? {
            let value = HeaderValue::from_str(&cookie).map_err(|_| Malformed::Header(cookie))?;
            response
                .headers_mut()
                .append(http::header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// A number, or a string of digits, from 100 to 599.
fn status(value: &Value) -> Result<StatusCode, Malformed> {
    let code = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    code.and_then(|c| u16::try_from(c).ok())
        .filter(|c| (100..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| Malformed::Status(value.to_string()))
}

/// `headers` and `multiValueHeaders`, merged: a name/value pair given in both appears once.
fn merged_headers(
    fields: &Map<String, Value>,
) -> Result<Vec<(HeaderName, HeaderValue)>, Malformed> {
    let mut pairs = Vec::new();
    if let Some(multi) = object(fields.get("multiValueHeaders"), "multiValueHeaders")? {
        for (name, values) in multi {
            for value in strings(Some(values), "multiValueHeaders")? {
                pairs.push(header(name, &value)?);
            }
        }
    }
    if let Some(single) = object(fields.get("headers"), "headers")? {
        for (name, value) in single {
            let Some(value) = scalar(value) else {
                return Err(Malformed::Header(name.clone()));
            };
            let pair = header(name, &value)?;
            if !pairs.contains(&pair) {
                pairs.push(pair);
            }
        }
    }
    Ok(pairs)
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), Malformed> {
    match (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        (Ok(n), Ok(v)) => Ok((n, v)),
        _ => Err(Malformed::Header(name.to_owned())),
    }
}

fn object<'a>(
    value: Option<&'a Value>,
    field: &'static str,
) -> Result<Option<&'a Map<String, Value>>, Malformed> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(Malformed::List(field)),
    }
}

/// A JSON array of scalars as strings (absent or null: none).
fn strings(value: Option<&Value>, field: &'static str) -> Result<Vec<String>, Malformed> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| scalar(v).ok_or(Malformed::List(field)))
            .collect(),
        Some(_) => Err(Malformed::List(field)),
    }
}

/// A string as it is; a number or a boolean as its JSON text.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        _ => None,
    }
}

/// API Gateway's own answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gateway {
    /// The function failed, its init failed, or its answer was malformed: 502.
    FunctionFailed,
    /// The invocation timed out: 504.
    TimedOut,
    /// The request (or the event made of it) is over Lambda's payload limit: 413.
    TooLarge,
}

/// The answer API Gateway gives for `what`, in the wording of the API type `version` imitates.
pub fn gateway(version: HttpEvent, what: Gateway) -> Response<Bytes> {
    let (status, message) = match what {
        Gateway::FunctionFailed if version == HttpEvent::V1 => {
            (StatusCode::BAD_GATEWAY, "Internal server error")
        }
        Gateway::FunctionFailed => (StatusCode::BAD_GATEWAY, "Internal Server Error"),
        Gateway::TimedOut => (StatusCode::GATEWAY_TIMEOUT, "Endpoint request timed out"),
        Gateway::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
    };
    // REST API error bodies have a space after the colon; HTTP API ones do not.
    let body = match version {
        HttpEvent::V1 => format!("{{\"message\": \"{message}\"}}"),
        HttpEvent::V2 => format!("{{\"message\":\"{message}\"}}"),
    };
    let mut response = json_response(Bytes::from(body));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
