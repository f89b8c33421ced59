//! Serving: connections, routing, and the platform's rules (see the crate docs); the routes
//! themselves are in `next`, `posts` and `extension`, `Shared`'s methods in `shared`.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Frame as BodyFrame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Notify};

mod extension;
mod next;
mod posts;
mod shared;

use crate::conn::{Cut, CutPlan, CutStream};
use crate::faults::{Fault, Faults, Kind, Seen};
use crate::headers as h;
use crate::{
    Answer, Frame, Invoke, Invoked, Options, Outcome, Posted, Recorded, Registration, Tag,
    RUNTIME_PREFIX,
};

use extension::extension;
use next::next;
use posts::{post, read_body};

/// Settled or timed-out ids remembered for the 403 / 410 rules.
const RECENT: usize = 256;
/// RAPID's limit on registered extensions.
const MAX_EXTENSIONS: usize = 10;

static ACCEPTED: &[u8] = br#"{"status":"OK"}"#;

pub(crate) fn error_body(error_type: &str, message: &str) -> Bytes {
    serde_json::json!({"errorMessage": message, "errorType": error_type})
        .to_string()
        .into()
}

pub(crate) fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn id_hash(id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

/// Response bodies: whole (with `Content-Length`) or, for [`Fault::CutChunk`], chunked.
pub(crate) enum Body {
    Full(Option<Bytes>),
    Chunked(Option<Bytes>),
}

impl Body {
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        let bytes = bytes.into();
        Body::Full((!bytes.is_empty()).then_some(bytes))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, Infallible>>> {
        let (Body::Full(b) | Body::Chunked(b)) = self.get_mut();
        Poll::Ready(b.take().map(|d| Ok(BodyFrame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        let (Body::Full(b) | Body::Chunked(b)) = self;
        b.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Chunked(_) => SizeHint::default(),
        }
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r
}

fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response<Body> {
    let mut r = reply(status, error_body(error_type, message));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn accepted() -> Response<Body> {
    reply(StatusCode::ACCEPTED, Bytes::from_static(ACCEPTED))
}

/// The service's error: hyper closes the connection without answering.
#[derive(Debug)]
pub(crate) struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("closed by a fault")
    }
}

impl std::error::Error for Closed {}

/// How a queued invocation is settled.
pub(crate) enum Reply {
    Waiter(oneshot::Sender<Outcome>),
    Answer(Option<Tag>),
}

/// An invocation the platform holds (queued or in flight).
pub(crate) struct Job {
    invoke: Invoke,
    deadline_ms: u64,
    /// The `/next` headers, rendered when queued; moved into the first answer.
    head: Option<HeaderMap>,
    reply: Reply,
}

pub(crate) struct InFlight {
    job: Job,
    served: Instant,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ended {
    Settled,
    TimedOut,
}

#[derive(Default)]
pub(crate) struct State {
    pub queue: VecDeque<(String, Job)>,
    pub in_flight: HashMap<String, InFlight>,
    recent: VecDeque<(u64, Ended)>,
    pub answers: Vec<Answer>,
    pub records: Vec<Recorded>,
    /// Records dropped by resets (so a record's index stays meaningful).
    records_base: usize,
    pub next_calls: u64,
    pub first_next: Option<Instant>,
    pub parked: usize,
    pub max_in_flight_seen: usize,
    pub init_error: Option<Posted>,
    pub registrations: Vec<Registration>,
    pub problems: Vec<String>,
}

impl State {
    fn remember(&mut self, id: &str, how: Ended) {
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((id_hash(id), how));
    }

    fn ended(&self, id: &str) -> Option<Ended> {
        let hash = id_hash(id);
        self.recent
            .iter()
            .rev()
            .find(|(h, _)| *h == hash)
            .map(|(_, e)| *e)
    }

    /// Store a record; its index for [`State::answered`].
    fn record(&mut self, record: Recorded) -> usize {
        self.records.push(record);
        self.records_base + self.records.len() - 1
    }

    fn record_mut(&mut self, index: usize) -> Option<&mut Recorded> {
        let i = index.checked_sub(self.records_base)?;
        self.records.get_mut(i)
    }

    fn settle(&mut self, id: String, f: InFlight, answered: Instant, outcome: Outcome) {
        self.remember(&id, Ended::Settled);
        match f.job.reply {
            Reply::Waiter(tx) => {
                let _ = tx.send(outcome);
            }
            Reply::Answer(tag) => self.answers.push(Answer {
                request_id: id,
                tag,
                served: f.served,
                answered,
                outcome,
            }),
        }
    }
}

pub(crate) struct Shared {
    pub options: Options,
    arn: HeaderValue,
    state: Mutex<State>,
    faults: Mutex<Faults>,
    faults_armed: AtomicBool,
    /// Posts received (for [`Seen::nth`]).
    posts: AtomicU64,
    changed: Notify,
    pub stop: watch::Sender<bool>,
    started: Instant,
    builder: http1::Builder,
}

/// Per connection: the platform and the connection's cut switch.
struct ConnCtx {
    shared: Arc<Shared>,
    cut: Arc<Cut>,
}

/// Resolves once the fake is stopping.
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut stop = shared.stop.subscribe();
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => return,
        };
        let _ = stream.set_nodelay(true);
        let cut = Arc::new(Cut::default());
        let ctx = Arc::new(ConnCtx {
            shared: shared.clone(),
            cut: cut.clone(),
        });
        let mut stop = shared.stop.subscribe();
        let builder = shared.builder.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let ctx = ctx.clone();
                async move { route(&ctx, req).await }
            });
            let conn = builder.serve_connection(TokioIo::new(CutStream::new(stream, cut)), svc);
            tokio::select! {
                _ = conn => {}
                _ = stopped(&mut stop) => {}
            }
        });
    }
}

async fn route(ctx: &ConnCtx, req: Request<Incoming>) -> Result<Response<Body>, Closed> {
    let shared = &*ctx.shared;
    if shared.options.control && req.uri().path().starts_with("/_fake/") {
        return Ok(crate::control::handle(&ctx.shared, req).await);
    }
    let kind = Kind::of(req.method(), req.uri().path());
    match kind {
        Kind::Next => next(ctx, req).await,
        Kind::Response | Kind::Error | Kind::InitError => post(ctx, kind, req).await,
        Kind::Register | Kind::ExtensionNext => extension(ctx, kind, req).await,
        Kind::Other => {
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
            let mut s = shared.lock();
            s.problems
                .push(format!("unexpected {} {path}", parts.method));
            let (status, response) = match &fault {
                Some(Fault::Close) => (None, Err(Closed)),
                Some(Fault::Status { status, body }) => {
                    (Some(*status), Ok(status_reply(*status, body)))
                }
                _ => (
                    Some(404),
                    Ok(api_error(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        "no such endpoint",
                    )),
                ),
            };
            if shared.options.record {
                s.record(read.recorded(parts, kind, status, fault, at));
            }
            drop(s);
            shared.changed.notify_waiters();
            response
        }
    }
}

fn path_of(uri: &http::Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned())
}

fn status_reply(status: u16, body: &Bytes) -> Response<Body> {
    let mut r = reply(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.clone(),
    );
    if body.first() == Some(&b'{') {
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    r
}
