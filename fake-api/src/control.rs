//! The control API under `/_fake/` (see `fake-api/README.md`): drive the fake over HTTP from
//! another process, in JSON, with bodies in base64.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{json, Map, Value};

use crate::faults::{Fault, Kind, Match, Rule};
use crate::server::{Body, Shared};
use crate::{header_pairs, Invoke, Outcome, Recorded};

fn json_reply(status: StatusCode, value: &Value) -> Response<Body> {
    let mut r = Response::new(Body::full(value.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn bad(message: impl std::fmt::Display) -> Response<Body> {
    json_reply(
        StatusCode::BAD_REQUEST,
        &json!({"error": message.to_string()}),
    )
}

fn headers_json(headers: &HeaderMap) -> Value {
    let mut pairs: Vec<(String, String)> = header_pairs(headers).into_iter().collect();
    pairs.sort();
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

pub(crate) async fn handle(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().trim_start_matches("/_fake/").to_owned();
    let body = match Limited::new(req.into_body(), 256 * 1024 * 1024)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => return bad(format!("cannot read the request: {e}")),
    };
    match (method, path.as_str()) {
        (Method::POST, "invoke") => match parse_invoke(&body) {
            Ok(invoke) => {
                let invoked = shared.invoke(invoke).await;
                json_reply(
                    StatusCode::OK,
                    &invoked_json(&invoked.request_id, &invoked.outcome),
                )
            }
            Err(e) => bad(e),
        },
        (Method::GET, "requests") => {
            let records = shared.lock().records.clone();
            json_reply(
                StatusCode::OK,
                &Value::Array(records.iter().map(record_json).collect()),
            )
        }
        (Method::GET, "init_error") => {
            let init = shared.lock().init_error.clone();
            let value = init.map_or(Value::Null, |p| {
                json!({"headers": headers_json(&p.headers), "body_base64": B64.encode(&p.body)})
            });
            json_reply(StatusCode::OK, &value)
        }
        (Method::POST, "faults") => match parse_rules(&body) {
            Ok(rules) => {
                shared.faults(|f| f.rules.extend(rules));
                json_reply(StatusCode::OK, &json!({}))
            }
            Err(e) => bad(e),
        },
        (Method::POST, "reset") => {
            shared.reset();
            shared.faults(|f| *f = Default::default());
            json_reply(StatusCode::OK, &json!({}))
        }
        (Method::POST, "shutdown") => {
            let shared = shared.clone();
            tokio::spawn(async move {
                // Let this answer go out first.
                tokio::time::sleep(Duration::from_millis(50)).await;
                shared.stop();
            });
            json_reply(StatusCode::OK, &json!({}))
        }
        (m, p) => json_reply(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no control endpoint {m} /_fake/{p}")}),
        ),
    }
}

fn text(v: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{key} must be a string, not {other}")),
    }
}

fn number(v: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{key} must be a whole number, not {n}")),
    }
}

fn parse_invoke(body: &[u8]) -> Result<Invoke, String> {
    let v: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?
    };
    let v = v.as_object().ok_or("the request must be a JSON object")?;
    let body = match (text(v, "body")?, text(v, "body_base64")?) {
        (Some(_), Some(_)) => return Err("give body or body_base64, not both".into()),
        (Some(s), None) => Bytes::from(s),
        (None, Some(b)) => B64
            .decode(b)
            .map_err(|e| format!("body_base64: {e}"))?
            .into(),
        (None, None) => Bytes::from_static(b"{}"),
    };
    let mut invoke = Invoke {
        body,
        content_type: text(v, "content_type")?,
        trace_id: text(v, "trace_id")?,
        client_context: text(v, "client_context")?,
        cognito_identity: text(v, "cognito_identity")?,
        tenant_id: text(v, "tenant_id")?,
        invocation_id: text(v, "invocation_id")?,
        request_id: text(v, "request_id")?,
        timeout: number(v, "timeout_ms")?.map(Duration::from_millis),
        deadline_ms: number(v, "deadline_ms")?,
        ..Invoke::default()
    };
    if let Some(headers) = v.get("headers").filter(|h| !h.is_null()) {
        let headers = headers.as_object().ok_or("headers must be an object")?;
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("header name {name:?}: {e}"))?;
            let value = match value {
                Value::Null => None,
                Value::String(s) => {
                    Some(HeaderValue::from_str(s).map_err(|e| format!("header {name}: {e}"))?)
                }
                other => {
                    return Err(format!(
                        "header {name} must be a string or null, not {other}"
                    ))
                }
            };
            invoke.headers.push((name, value));
        }
    }
    Ok(invoke)
}

fn invoked_json(request_id: &str, outcome: &Outcome) -> Value {
    let status = match outcome {
        Outcome::Response { .. } | Outcome::Error { .. } | Outcome::InitError { .. } => {
            Value::from(202)
        }
        Outcome::TooLarge { .. } => Value::from(413),
        Outcome::TimedOut => Value::Null,
    };
    let trailers = match outcome {
        Outcome::Response {
            trailers: Some(t), ..
        } => headers_json(t),
        _ => Value::Null,
    };
    json!({
        "request_id": request_id,
        "outcome": outcome.kind(),
        "status": status,
        "headers": outcome.headers().map_or(Value::Null, headers_json),
        "body_base64": outcome.body().map_or(Value::Null, |b| Value::String(B64.encode(b))),
        "trailers": trailers,
    })
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Next => "next",
        Kind::Response => "response",
        Kind::Error => "error",
        Kind::InitError => "init_error",
        Kind::Register => "register",
        Kind::ExtensionNext => "extension_next",
        Kind::Other => "other",
    }
}

fn record_json(r: &Recorded) -> Value {
    json!({
        "method": r.method.as_str(),
        "path": r.path,
        "kind": kind_name(r.kind),
        "request_id": r.request_id,
        "headers": headers_json(&r.headers),
        "body_base64": B64.encode(&r.body),
        "trailers": r.trailers.as_ref().map_or(Value::Null, headers_json),
        "frames": r.frames.iter().map(|f| json!({
            "offset": f.offset, "len": f.len, "at_us": f.at.as_micros() as u64,
        })).collect::<Vec<_>>(),
        "status": r.status,
        "fault": r.fault.as_ref().map(|f| format!("{f:?}")),
        "at_us": r.at.as_micros() as u64,
    })
}

/// `[{"when": ..., "fault": ..., "times": n|null}]`; see the README.
fn parse_rules(body: &[u8]) -> Result<Vec<Rule>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let list = match v {
        Value::Array(list) => list,
        one @ Value::Object(_) => vec![one],
        _ => return Err("give a rule object or a list of them".into()),
    };
    list.iter().map(parse_rule).collect()
}

fn parse_rule(v: &Value) -> Result<Rule, String> {
    let o = v.as_object().ok_or("a rule is an object")?;
    let when = match o.get("when") {
        Some(Value::String(s)) => match s.as_str() {
            "next" => Match::Next,
            "post" => Match::Post,
            "response" => Match::Kind(Kind::Response),
            "error" => Match::Kind(Kind::Error),
            "init_error" => Match::Kind(Kind::InitError),
            "register" => Match::Kind(Kind::Register),
            other => return Err(format!("unknown when {other:?}")),
        },
        Some(Value::Object(m)) => {
            if let Some(n) = m.get("nth_next").and_then(Value::as_u64) {
                Match::NthNext(n)
            } else if let Some(n) = m.get("nth_post").and_then(Value::as_u64) {
                Match::NthPost(n)
            } else if let Some(p) = m.get("path_contains").and_then(Value::as_str) {
                Match::PathContains(p.to_owned())
            } else {
                return Err(format!("unknown when {m:?}"));
            }
        }
        other => return Err(format!("when: {other:?}")),
    };
    let fault = match o.get("fault") {
        Some(Value::String(s)) => match s.as_str() {
            "pass" => Fault::Pass,
            "close" => Fault::Close,
            "take_and_close" => Fault::TakeAndClose,
            other => return Err(format!("unknown fault {other:?}")),
        },
        Some(Value::Object(m)) => {
            if let Some(status) = m.get("status").and_then(Value::as_u64) {
                let status = u16::try_from(status).map_err(|_| "status is a u16")?;
                match m.get("body").and_then(Value::as_str) {
                    Some(b) => Fault::Status {
                        status,
                        body: Bytes::from(b.to_owned()),
                    },
                    None => Fault::status(status),
                }
            } else if let Some(n) = m.get("cut_body").and_then(Value::as_u64) {
                Fault::CutBody { sent: n as usize }
            } else if let Some(n) = m.get("cut_chunk").and_then(Value::as_u64) {
                Fault::CutChunk { sent: n as usize }
            } else if let Some(ms) = m.get("delay_ms").and_then(Value::as_u64) {
                Fault::Delay(Duration::from_millis(ms))
            } else {
                return Err(format!("unknown fault {m:?}"));
            }
        }
        other => return Err(format!("fault: {other:?}")),
    };
    let times = match o.get("times") {
        None => Some(1),
        Some(Value::Null) => None,
        Some(n) => Some(n.as_u64().ok_or("times is a whole number or null")?),
    };
    Ok(Rule { when, fault, times })
}
