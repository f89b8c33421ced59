//! The posts: response, error and init error, their bodies read whole or frame by frame
//! (streamed responses, with trailers), and how each settles its invocation.

use super::*;

/// A request body as received.
pub(super) struct Read {
    pub(super) body: Bytes,
    pub(super) trailers: Option<HeaderMap>,
    pub(super) frames: Vec<Frame>,
    complete: bool,
}

impl Read {
    /// The record of the request this body came with (no request id: a post sets its own).
    pub(super) fn recorded(
        self,
        parts: http::request::Parts,
        kind: Kind,
        status: Option<u16>,
        fault: Option<Fault>,
        at: Duration,
    ) -> Recorded {
        Recorded {
            path: path_of(&parts.uri),
            method: parts.method,
            kind,
            headers: parts.headers,
            body: self.body,
            trailers: self.trailers,
            frames: self.frames,
            status,
            fault,
            request_id: None,
            at,
        }
    }
}

pub(super) async fn read_body(mut body: Incoming, frames: bool) -> Read {
    let started = Instant::now();
    let hint = hyper::body::Body::size_hint(&body).lower() as usize;
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    let mut read = Read {
        body: Bytes::new(),
        trailers: None,
        frames: Vec::new(),
        complete: true,
    };
    let mut offset = 0;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(_) => {
                read.complete = false;
                break;
            }
        };
        match frame.into_data() {
            Ok(data) => {
                if frames {
                    read.frames.push(Frame {
                        offset,
                        len: data.len(),
                        at: started.elapsed(),
                    });
                }
                offset += data.len();
                if first.is_none() && rest.is_empty() {
                    first = Some(data);
                } else {
                    if let Some(f) = first.take() {
                        rest.reserve(hint.max(f.len() + data.len()));
                        rest.extend_from_slice(&f);
                    }
                    rest.extend_from_slice(&data);
                }
            }
            Err(frame) => {
                if let Ok(t) = frame.into_trailers() {
                    read.trailers = Some(t);
                }
            }
        }
    }
    read.body = first.unwrap_or_else(|| rest.freeze());
    read
}

pub(super) async fn post(
    ctx: &ConnCtx,
    kind: Kind,
    req: Request<Incoming>,
) -> Result<Response<Body>, Closed> {
    let shared = &*ctx.shared;
    let record = shared.options.record;
    let (mut parts, body) = req.into_parts();
    let (streaming, bad_mode) = match parts.headers.get(h::RESPONSE_MODE) {
        Some(m) if kind == Kind::Response => (m == "streaming", m != "streaming"),
        _ => (false, false),
    };
    let nth = shared.posts.fetch_add(1, Ordering::Relaxed) + 1;
    let fault = shared.decide(&Seen {
        method: &parts.method,
        path: parts.uri.path(),
        kind,
        nth,
    });
    if let Some(Fault::Delay(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    let read = read_body(body, streaming && record).await;
    let answered = Instant::now();
    let path = parts.uri.path();
    let id = (kind != Kind::InitError).then(|| {
        path[RUNTIME_PREFIX.len() + "invocation/".len()..]
            .rsplit_once('/')
            .map_or("", |(id, _)| id)
    });
    // With records the post's headers are copied into the outcome; without, moved.
    let headers = if record {
        parts.headers.clone()
    } else {
        std::mem::take(&mut parts.headers)
    };
    let mut s = shared.lock();
    let (status, response) = match &fault {
        Some(Fault::Close) => (None, Err(Closed)),
        Some(Fault::Status { status, body }) => (Some(*status), Ok(status_reply(*status, body))),
        _ if !read.complete => (
            Some(400),
            Ok(api_error(
                StatusCode::BAD_REQUEST,
                "TruncatedHTTPRequest",
                "The request body was cut off",
            )),
        ),
        _ => match id {
            None => init_error(&mut s, headers, &read),
            Some(id) => {
                let limit = shared.options.response_limit.filter(|_| !streaming);
                settle_post(&mut s, kind, id, bad_mode, limit, headers, &read, answered)
            }
        },
    };
    if record {
        let at = shared.elapsed();
        let request_id = id.map(str::to_owned);
        let mut record = read.recorded(parts, kind, status, fault, at);
        record.request_id = request_id;
        s.record(record);
    }
    drop(s);
    shared.changed.notify_waiters();
    response
}

type Answered = (Option<u16>, Result<Response<Body>, Closed>);

fn init_error(s: &mut State, headers: HeaderMap, read: &Read) -> Answered {
    if s.next_calls > 0 || s.init_error.is_some() {
        let from = if s.init_error.is_some() {
            "InitError"
        } else {
            "Ready"
        };
        return (
            Some(403),
            Ok(api_error(
                StatusCode::FORBIDDEN,
                "InvalidStateTransition",
                &format!("State transition from {from} to InitError failed for runtime. Error: init is over"),
            )),
        );
    }
    let posted = Posted {
        headers,
        body: read.body.clone(),
    };
    let now = Instant::now();
    for (id, job) in std::mem::take(&mut s.queue) {
        let outcome = Outcome::InitError {
            headers: posted.headers.clone(),
            body: posted.body.clone(),
        };
        s.settle(id, InFlight { job, served: now }, now, outcome);
    }
    s.init_error = Some(posted);
    (Some(202), Ok(accepted()))
}

#[allow(clippy::too_many_arguments)]
fn settle_post(
    s: &mut State,
    kind: Kind,
    id: &str,
    bad_mode: bool,
    limit: Option<usize>,
    headers: HeaderMap,
    read: &Read,
    answered: Instant,
) -> Answered {
    let what = if kind == Kind::Response {
        "response"
    } else {
        "error"
    };
    let Some((id, f)) = s.in_flight.remove_entry(id) else {
        let (status, error_type, message) = match s.ended(id) {
            Some(Ended::Settled) => (
                StatusCode::FORBIDDEN,
                "InvalidStateTransition",
                "State transition from ResponseSent to ResponseSent failed for runtime. Error: the invocation is already settled",
            ),
            Some(Ended::TimedOut) => (StatusCode::GONE, "InvokeTimeout", "Invoke timeout"),
            None => (StatusCode::BAD_REQUEST, "InvalidRequestID", "Invalid request ID"),
        };
        s.problems.push(format!(
            "POST {what} for {id:?}: {} {error_type}",
            status.as_u16()
        ));
        return (
            Some(status.as_u16()),
            Ok(api_error(status, error_type, message)),
        );
    };
    if bad_mode {
        // RAPID fails such an invocation; here it stays in flight.
        s.problems
            .push(format!("POST {what} for {id:?}: bad response mode"));
        s.in_flight.insert(id, f);
        return (
            Some(400),
            Ok(api_error(
                StatusCode::BAD_REQUEST,
                "InvalidFunctionResponseMode",
                "Invalid function response mode",
            )),
        );
    }
    let body = read.body.clone();
    let limit = limit.unwrap_or(usize::MAX);
    let (status, outcome) = if kind == Kind::Response && body.len() > limit {
        let message = format!(
            "Response payload size ({} bytes) exceeded maximum allowed payload size ({limit} bytes).",
            body.len()
        );
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            Outcome::TooLarge {
                body: error_body("Function.ResponseSizeTooLarge", &message),
            },
        )
    } else if kind == Kind::Response {
        (
            StatusCode::ACCEPTED,
            Outcome::Response {
                headers,
                body,
                trailers: read.trailers.clone(),
            },
        )
    } else {
        (StatusCode::ACCEPTED, Outcome::Error { headers, body })
    };
    s.settle(id, f, answered, outcome);
    let response = if status == StatusCode::ACCEPTED {
        accepted()
    } else {
        api_error(
            status,
            "RequestEntityTooLarge",
            &format!("Exceeded maximum allowed payload size ({limit} bytes)."),
        )
    };
    (Some(status.as_u16()), Ok(response))
}
