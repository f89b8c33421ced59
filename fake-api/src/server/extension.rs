//! The Extensions API: register and the extension's `/event/next`.

use super::*;

pub(super) async fn extension(
    ctx: &ConnCtx,
    kind: Kind,
    req: Request<Incoming>,
) -> Result<Response<Body>, Closed> {
    let shared = &*ctx.shared;
    let (parts, body) = req.into_parts();
    let path = path_of(&parts.uri);
    let fault = shared.decide(&Seen {
        method: &parts.method,
        path: &path,
        kind,
        nth: 0,
    });
    let read = read_body(body, false).await;
    let at = shared.elapsed();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    };
    let (response, parks) = {
        let mut s = shared.lock();
        let (status, response, parks) = match &fault {
            Some(Fault::Close) => (None, Err(Closed), false),
            Some(Fault::Status { status, body }) => {
                (Some(*status), Ok(status_reply(*status, body)), false)
            }
            _ if kind == Kind::Register => {
                let name = header(h::EXTENSION_NAME).unwrap_or("");
                let events = serde_json::from_slice::<serde_json::Value>(&read.body)
                    .ok()
                    .and_then(|v| {
                        v.get("events")?
                            .as_array()?
                            .iter()
                            .map(|e| e.as_str().map(str::to_owned))
                            .collect::<Option<Vec<String>>>()
                    });
                let refused = if name.is_empty() {
                    Some((
                        "Extension.InvalidExtensionName",
                        "Empty extension name".to_owned(),
                    ))
                } else if events.is_none() {
                    Some((
                        "InvalidRequestFormat",
                        "the body must be {\"events\": [...]}".to_owned(),
                    ))
                } else if let Some(e) = events.iter().flatten().find(|e| e.as_str() != "INVOKE") {
                    Some((
                        "Extension.InvalidEventType",
                        format!("{e}: internal extensions may subscribe to INVOKE only"),
                    ))
                } else if s.next_calls > 0 {
                    Some((
                        "Extension.RegistrationClosed",
                        "Extension registration closed already".to_owned(),
                    ))
                } else if s
                    .registrations
                    .iter()
                    .any(|r| r.result.is_ok() && r.name == name)
                {
                    Some((
                        "Extension.InvalidExtensionState",
                        "Extension with this name already registered".to_owned(),
                    ))
                } else if s.registrations.iter().filter(|r| r.result.is_ok()).count()
                    >= MAX_EXTENSIONS
                {
                    Some((
                        "Extension.TooManyExtensions",
                        format!("Extension limit ({MAX_EXTENSIONS}) reached"),
                    ))
                } else {
                    None
                };
                let result = match refused {
                    Some((error_type, _)) => Err(error_type.to_owned()),
                    None => Ok(uuid::Uuid::new_v4().to_string()),
                };
                s.registrations.push(Registration {
                    name: name.to_owned(),
                    events: events.unwrap_or_default(),
                    result: result.clone(),
                });
                match (result, refused) {
                    (Ok(id), _) => {
                        let body = serde_json::json!({
                            "functionName": shared.options.function_name,
                            "functionVersion": "$LATEST",
                            "handler": "",
                        })
                        .to_string();
                        let mut r = reply(StatusCode::OK, body);
                        r.headers_mut().insert(
                            h::EXTENSION_IDENTIFIER,
                            HeaderValue::from_str(&id).expect("a UUID is a header value"),
                        );
                        r.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        );
                        (Some(200), Ok(r), false)
                    }
                    (Err(_), Some((error_type, message))) => (
                        Some(403),
                        Ok(api_error(StatusCode::FORBIDDEN, error_type, &message)),
                        false,
                    ),
                    (Err(_), None) => unreachable!(),
                }
            }
            _ => {
                let refused = match header(h::EXTENSION_IDENTIFIER) {
                    None => Some((
                        "Extension.MissingExtensionIdentifier",
                        "Missing Lambda-Extension-Identifier header",
                    )),
                    Some(id) if uuid::Uuid::parse_str(id).is_err() => Some((
                        "Extension.InvalidExtensionIdentifier",
                        "Invalid Lambda-Extension-Identifier",
                    )),
                    Some(id)
                        if !s
                            .registrations
                            .iter()
                            .any(|r| r.result.as_deref() == Ok(id)) =>
                    {
                        Some((
                            "Extension.UnknownExtensionIdentifier",
                            "Unknown Lambda-Extension-Identifier",
                        ))
                    }
                    Some(_) => None,
                };
                match refused {
                    Some((error_type, message)) => (
                        Some(403),
                        Ok(api_error(StatusCode::FORBIDDEN, error_type, message)),
                        false,
                    ),
                    None => (None, Ok(reply(StatusCode::OK, Bytes::new())), true),
                }
            }
        };
        if shared.options.record {
            s.record(read.recorded(parts, kind, status, fault, at));
        }
        (response, parks)
    };
    shared.changed.notify_waiters();
    if parks {
        // No events are ever sent: the call ends when the fake stops.
        std::future::pending::<()>().await;
    }
    response
}
