//! A plain HTTP request as the event API Gateway sends for it. Pure: the caller's address, the
//! clock and the request id come in as a [`Caller`].
//!
//! - Payload format 2.0 (HTTP APIs, and function URLs, which send the same shape): "Create AWS
//!   Lambda proxy integrations for HTTP APIs in API Gateway", sections "Payload format
//!   differences" and "Payload format structure"
//!   (docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html):
//!   lower-case header names, repeated headers and query keys joined with commas, the request's
//!   cookies in `cookies`, `rawPath` and `rawQueryString` as sent.
//! - Payload format 1.0 (REST API proxy integrations): "Set up Lambda proxy integrations in API
//!   Gateway", "Input format of a Lambda function for proxy integration"
//!   (docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html):
//!   `headers`/`queryStringParameters` hold the last value, `multiValue*` every value, `null` when
//!   there are none; a `/{proxy+}` resource puts the path in `pathParameters.proxy`.
//!
//! What ferric decides itself (the README says so): header names are lower-case in both formats
//! (hyper does not keep the client's case); paths keep their percent-encoding; query values are
//! decoded as a form would be (`%XX`, and `+` as a space); the body is text when it is UTF-8 and
//! its content type is textual ([`is_text`]), base64 otherwise.

use std::net::IpAddr;

use base64::Engine;
use http::HeaderMap;
use serde_json::{json, Map, Value};

use crate::config::HttpEvent;

/// The API id and stage every event names (the local API has one stage).
pub const API_ID: &str = "ferric";
pub const STAGE: &str = "$default";

/// A request as the front door read it.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    /// As sent: percent-encoding kept, no query string.
    pub path: &'a str,
    /// As sent, without the `?`.
    pub query: &'a str,
    /// `HTTP/1.1`, `HTTP/1.0`.
    pub protocol: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Who asked, and when.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub source_ip: IpAddr,
    pub request_id: &'a str,
    pub now_ms: u64,
    pub account_id: &'a str,
}

/// The event for `request`, in the payload format `version`.
pub fn event(version: HttpEvent, request: &HttpRequest, caller: &Caller) -> Value {
    match version {
        HttpEvent::V2 => v2(request, caller),
        HttpEvent::V1 => v1(request, caller),
    }
}

fn v2(r: &HttpRequest, c: &Caller) -> Value {
    let headers = header_pairs(r.headers);
    let cookies: Vec<&str> = headers
        .iter()
        .filter(|(name, _)| name == "cookie")
        .flat_map(|(_, v)| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let mut joined = Map::new();
    for (name, value) in headers.iter().filter(|(name, _)| name != "cookie") {
        join(&mut joined, name, value);
    }
    let mut query = Map::new();
    for (key, value) in query_pairs(r.query) {
        join(&mut query, &key, &value);
    }
    let host = host(r.headers);
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": r.path,
        "rawQueryString": r.query,
        "headers": joined,
        "requestContext": {
            "accountId": c.account_id,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": domain_prefix(&host),
            "http": {
                "method": r.method,
                "path": r.path,
                "protocol": r.protocol,
                "sourceIp": c.source_ip.to_string(),
                "userAgent": user_agent(r.headers),
            },
            "requestId": c.request_id,
            "routeKey": "$default",
            "stage": STAGE,
            "time": clf_time(c.now_ms),
            "timeEpoch": c.now_ms,
        },
        "isBase64Encoded": false,
    });
    // Absent, not empty, when the request has none (as in AWS's examples).
    let fields = event.as_object_mut().expect("built as an object");
    if !cookies.is_empty() {
        fields.insert("cookies".into(), json!(cookies));
    }
    if !query.is_empty() {
        fields.insert("queryStringParameters".into(), Value::Object(query));
    }
    if let Some((body, encoded)) = body(r.headers, r.body) {
        fields.insert("body".into(), Value::String(body));
        fields.insert("isBase64Encoded".into(), Value::Bool(encoded));
    }
    event
}

fn v1(r: &HttpRequest, c: &Caller) -> Value {
    let (mut single, mut multi) = (Map::new(), Map::new());
    for (name, value) in header_pairs(r.headers) {
        push(&mut single, &mut multi, &name, value);
    }
    let (mut query, mut multi_query) = (Map::new(), Map::new());
    for (key, value) in query_pairs(r.query) {
        push(&mut query, &mut multi_query, &key, value);
    }
    // A `/{proxy+}` resource matches every path but the root, which is its own resource.
    let (resource, path_parameters) = match r.path.strip_prefix('/') {
        Some(rest) if !rest.is_empty() => ("/{proxy+}", json!({ "proxy": rest })),
        _ => ("/", Value::Null),
    };
    let (body, encoded) =
        body(r.headers, r.body).map_or((Value::Null, false), |(b, e)| (b.into(), e));
    json!({
        "resource": resource,
        "path": r.path,
        "httpMethod": r.method,
        "headers": object_or_null(single),
        "multiValueHeaders": object_or_null(multi),
        "queryStringParameters": object_or_null(query),
        "multiValueQueryStringParameters": object_or_null(multi_query),
        "pathParameters": path_parameters,
        "stageVariables": null,
        "requestContext": v1_context(r, c, resource),
        "body": body,
        "isBase64Encoded": encoded,
    })
}

fn v1_context(r: &HttpRequest, c: &Caller, resource: &str) -> Value {
    let host = host(r.headers);
    json!({
        "accountId": c.account_id,
        "apiId": API_ID,
        "domainName": host,
        "domainPrefix": domain_prefix(&host),
        "extendedRequestId": c.request_id,
        "httpMethod": r.method,
        "identity": {
            "accessKey": null, "accountId": null, "caller": null,
            "cognitoAuthenticationProvider": null, "cognitoAuthenticationType": null,
            "cognitoIdentityId": null, "cognitoIdentityPoolId": null, "principalOrgId": null,
            "sourceIp": c.source_ip.to_string(),
            "user": null,
            "userAgent": user_agent(r.headers),
            "userArn": null,
        },
        "path": r.path,
        "protocol": r.protocol,
        "requestId": c.request_id,
        "requestTime": clf_time(c.now_ms),
        "requestTimeEpoch": c.now_ms,
        "resourceId": API_ID,
        "resourcePath": resource,
        "stage": STAGE,
    })
}

/// Whether a body travels as text (else base64): it must be UTF-8, and its content type absent,
/// `text/*`, a JSON, XML, JavaScript, YAML, GraphQL or form (`x-www-form-urlencoded`) type, or
/// any type that names a `charset`. `multipart/form-data` is base64: its parts may be files.
pub fn is_text(content_type: Option<&str>, body: &[u8]) -> bool {
    if std::str::from_utf8(body).is_err() {
        return false;
    }
    let Some(content_type) = content_type else {
        return true;
    };
    const TEXTUAL: [&str; 6] = [
        "json",
        "xml",
        "javascript",
        "yaml",
        "graphql",
        "x-www-form-urlencoded",
    ];
    let lower = content_type.to_ascii_lowercase();
    let essence = lower.split(';').next().unwrap_or("").trim();
    let textual = |sub: &str| {
        TEXTUAL.iter().any(|t| {
            sub == *t || sub.strip_prefix("x-") == Some(t) || sub.ends_with(&format!("+{t}"))
        })
    };
    essence.starts_with("text/")
        || essence.strip_prefix("application/").is_some_and(textual)
        || lower.contains("charset=")
}

/// The body field and whether it is base64; None for an empty body.
fn body(headers: &HeaderMap, body: &[u8]) -> Option<(String, bool)> {
    if body.is_empty() {
        return None;
    }
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    Some(match std::str::from_utf8(body) {
        Ok(text) if is_text(content_type, body) => (text.to_owned(), false),
        _ => (base64::engine::general_purpose::STANDARD.encode(body), true),
    })
}

/// Every header line in order: lower-case name, value as UTF-8 (lossy).
fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// `a=1&b=&c&a=2` → `[(a,1), (b,""), (c,""), (a,2)]`, decoded as a form.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(key), form_decode(value))
        })
        .collect()
}

/// `%XX` escapes and `+` as a space; invalid escapes stay as they are; UTF-8, lossy.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// v2: repeated names joined with commas.
fn join(map: &mut Map<String, Value>, key: &str, value: &str) {
    match map.get_mut(key) {
        Some(Value::String(existing)) => {
            existing.push(',');
            existing.push_str(value);
        }
        _ => {
            map.insert(key.to_owned(), Value::String(value.to_owned()));
        }
    }
}

/// v1: the last value in `single`, every value in `multi`.
fn push(single: &mut Map<String, Value>, multi: &mut Map<String, Value>, key: &str, value: String) {
    single.insert(key.to_owned(), Value::String(value.clone()));
    match multi.get_mut(key) {
        Some(Value::Array(values)) => values.push(Value::String(value)),
        _ => {
            multi.insert(key.to_owned(), json!([value]));
        }
    }
}

fn object_or_null(map: Map<String, Value>) -> Value {
    if map.is_empty() {
        Value::Null
    } else {
        Value::Object(map)
    }
}

fn host(headers: &HeaderMap) -> String {
    headers
        .get(http::header::HOST)
        .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The first label of the host name (`abc123` of `abc123.execute-api...`, `localhost` of
/// `localhost:3000`).
fn domain_prefix(host: &str) -> &str {
    host.split(['.', ':']).next().unwrap_or(host)
}

fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get(http::header::USER_AGENT)
        .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        .unwrap_or_default()
}

/// API Gateway's request time: `12/Mar/2020:19:03:58 +0000` (UTC).
pub fn clf_time(epoch_ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms / 1000;
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let of_day = secs % 86_400;
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31): Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
