//! The HTTP front door (`FERRIC_HTTP_LISTEN`): any plain HTTP request — a browser, `curl`, a form
//! post, any method and path — becomes an API Gateway event ([`event`]), goes through the
//! emulator like any invoke, and the function's answer becomes the HTTP response ([`answer`]),
//! as behind an HTTP API, a REST API proxy integration or a function URL. A streamed answer is
//! passed on as it arrives, its HTTP prelude applied ([`super::streaming`]).

pub mod answer;
pub mod event;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tracing::{info, warn};

use super::rie::{failure_kind, FailureKind};
use super::{
    serve_peers, streaming, Emulator, InvokeOutcome, InvokeRequest, InvokeResult, MAX_PAYLOAD_BYTES,
};
use crate::config::HttpEvent;
use crate::lambda::http::Body;
use crate::lambda::invocation::epoch_ms;
use answer::Gateway;
use event::{Caller, HttpRequest};

/// The account id in events (the one in the emulator's function ARN).
const ACCOUNT_ID: &str = "012345678912";

impl Emulator {
    /// Serve the front door on `listener`, sending `version` events.
    pub fn serve_front_door(
        &self,
        listener: TcpListener,
        version: HttpEvent,
    ) -> tokio::task::JoinHandle<()> {
        let e = self.clone();
        tokio::spawn(serve_peers(listener, move |peer, req| {
            let e = e.clone();
            async move { Ok::<_, Infallible>(e.front_door(version, peer, req).await) }
        }))
    }

    /// One request, logged in one line: method, path, status, duration.
    async fn front_door(
        &self,
        version: HttpEvent,
        peer: SocketAddr,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let started = Instant::now();
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let request_id = request_id(version);
        let mut response = self.http_call(version, peer, &request_id, req).await;
        let header = match version {
            HttpEvent::V2 => "apigw-requestid",
            HttpEvent::V1 => "x-amzn-requestid",
        };
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(header, id);
        }
        let streamed = matches!(response.body(), Body::Stream(_));
        info!(
            "{method} {path} {} {:.1} ms{}",
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0,
            if streamed { " (streaming)" } else { "" }
        );
        response
    }

    async fn http_call(
        &self,
        version: HttpEvent,
        peer: SocketAddr,
        request_id: &str,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let Ok(body) = Limited::new(body, MAX_PAYLOAD_BYTES).collect().await else {
            warn!("the request body is over Lambda's payload limit ({MAX_PAYLOAD_BYTES} bytes) or was cut off");
            return full(answer::gateway(version, Gateway::TooLarge));
        };
        let caller = Caller {
            source_ip: peer.ip(),
            request_id,
            now_ms: epoch_ms(),
            account_id: ACCOUNT_ID,
        };
        let Some(event) = event_for(version, &parts, &body.to_bytes(), &caller) else {
            return full(answer::gateway(version, Gateway::TooLarge));
        };
        let trace_id = parts
            .headers
            .get("x-amzn-trace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let InvokeResult {
            request_id,
            outcome,
            stream,
        } = self
            .invoke(InvokeRequest {
                body: event.into(),
                trace_id,
                ..InvokeRequest::default()
            })
            .await;
        match (outcome, stream) {
            (InvokeOutcome::Stream { content_type }, Some(frames)) => {
                let streamed = streaming::respond(&content_type, frames).await;
                // It failed before its HTTP prelude ended: say so as API Gateway would.
                if let (StatusCode::BAD_GATEWAY, Body::Full(reason)) =
                    (streamed.status(), streamed.body())
                {
                    let reason = reason.clone().unwrap_or_default();
                    warn!(
                        request_id,
                        "the stream failed before its prelude ended: {}",
                        String::from_utf8_lossy(&reason)
                    );
                    return full(answer::gateway(version, Gateway::FunctionFailed));
                }
                streamed
            }
            (outcome, _) => full(respond(version, &request_id, outcome)),
        }
    }
}

/// The event for a request; None (logged) when it is over Lambda's payload limit.
fn event_for(
    version: HttpEvent,
    parts: &http::request::Parts,
    body: &[u8],
    caller: &Caller,
) -> Option<String> {
    let protocol = format!("{:?}", parts.version);
    let request = HttpRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        protocol: &protocol,
        headers: &parts.headers,
        body,
    };
    let event = event::event(version, &request, caller).to_string();
    if event.len() > MAX_PAYLOAD_BYTES {
        warn!(
            bytes = event.len(),
            "the event is over Lambda's payload limit ({MAX_PAYLOAD_BYTES} bytes)"
        );
        return None;
    }
    Some(event)
}

/// The HTTP response for a buffered outcome (errors are logged with the invocation's id).
fn respond(version: HttpEvent, request_id: &str, outcome: InvokeOutcome) -> Response<Bytes> {
    let failed = |what: &str, body: &[u8]| {
        warn!(
            request_id,
            "{what}: {}; answering as API Gateway does",
            String::from_utf8_lossy(body)
        );
    };
    match outcome {
        InvokeOutcome::Response { body, .. } => match answer::answer(version, &body) {
            Ok(response) => response,
            Err(malformed) => {
                failed(&format!("malformed proxy response ({malformed})"), &body);
                answer::gateway(version, Gateway::FunctionFailed)
            }
        },
        InvokeOutcome::FunctionError { body } if failure_kind(&body) == FailureKind::Timeout => {
            failed("the function timed out", &body);
            answer::gateway(version, Gateway::TimedOut)
        }
        InvokeOutcome::FunctionError { body } => {
            failed("function error", &body);
            answer::gateway(version, Gateway::FunctionFailed)
        }
        InvokeOutcome::InitError { body } => {
            failed("init error", &body);
            answer::gateway(version, Gateway::FunctionFailed)
        }
        InvokeOutcome::ResponseTooLarge { body } => {
            failed("response too large", &body);
            answer::gateway(version, Gateway::FunctionFailed)
        }
        InvokeOutcome::TimedOut { message } => {
            failed("no answer", message.as_bytes());
            answer::gateway(version, Gateway::TimedOut)
        }
        // Without its frames a stream has nothing to say (the caller went away).
        InvokeOutcome::Stream { .. } => answer::gateway(version, Gateway::FunctionFailed),
    }
}

fn full(response: Response<Bytes>) -> Response<Body> {
    response.map(Body::full)
}

/// An API Gateway request id: a UUID for REST APIs, HTTP APIs' shorter base64 form.
fn request_id(version: HttpEvent) -> String {
    use base64::Engine;
    let id = uuid::Uuid::new_v4();
    match version {
        HttpEvent::V1 => id.to_string(),
        HttpEvent::V2 => base64::engine::general_purpose::STANDARD.encode(&id.as_bytes()[..11]),
    }
}
