//! Serving: connections, routing, and the platform's rules (see the crate docs).

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

use crate::conn::{Cut, CutPlan, CutStream};
use crate::faults::{Fault, Faults, Kind, Seen};
use crate::headers as h;
use crate::{
    Answer, Frame, Invoke, Invoked, Options, Outcome, Posted, Recorded, Registration, Tag,
    RUNTIME_PREFIX,
};

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

impl Shared {
    pub fn new(options: Options) -> Arc<Shared> {
        let arn = HeaderValue::from_str(&options.function_arn)
            .unwrap_or_else(|_| HeaderValue::from_static("arn:invalid"));
        let mut builder = http1::Builder::new();
        // Trailers (a streamed response's error body) may be up to 1 MiB; request heads are
        // bounded by the read buffer (RAPID, a Go server, allows 1 MB of headers).
        builder.max_buf_size(2 * 1024 * 1024);
        builder.max_header_size(1024 * 1024);
        Arc::new(Shared {
            options,
            arn,
            state: Mutex::default(),
            faults: Mutex::default(),
            faults_armed: AtomicBool::new(false),
            posts: AtomicU64::new(0),
            changed: Notify::new(),
            stop: watch::channel(false).0,
            started: Instant::now(),
            builder,
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state worse than serving on.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn faults(&self, f: impl FnOnce(&mut Faults)) {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut faults);
        self.faults_armed
            .store(!faults.is_empty(), Ordering::Release);
    }

    fn decide(&self, seen: &Seen<'_>) -> Option<Fault> {
        if !self.faults_armed.load(Ordering::Acquire) {
            return None;
        }
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let fault = faults.decide(seen);
        self.faults_armed
            .store(!faults.is_empty(), Ordering::Release);
        fault.filter(|f| *f != Fault::Pass)
    }

    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Wait until `pred` holds (re-checked on every change).
    pub async fn wait_for(&self, pred: impl Fn(&State) -> bool) {
        loop {
            let mut notified = pin!(self.changed.notified());
            notified.as_mut().enable();
            if pred(&self.lock()) {
                return;
            }
            notified.await;
        }
    }

    /// The `/next` headers of an invocation.
    fn render_head(&self, id: &str, job_invoke: &Invoke, deadline_ms: u64) -> HeaderMap {
        let mut m = HeaderMap::with_capacity(8 + job_invoke.headers.len());
        let mut set = |name: &'static str, value: Option<&str>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                match HeaderValue::from_str(v) {
                    Ok(v) => {
                        m.insert(name, v);
                    }
                    Err(_) => panic!("{name}: {v:?} cannot be sent as a header value"),
                }
            }
        };
        let i = job_invoke;
        set(h::REQUEST_ID, Some(id));
        set(h::DEADLINE_MS, Some(&deadline_ms.to_string()));
        set(h::TRACE_ID, i.trace_id.as_deref());
        set(h::CLIENT_CONTEXT, i.client_context.as_deref());
        set(h::COGNITO_IDENTITY, i.cognito_identity.as_deref());
        set(h::TENANT_ID, i.tenant_id.as_deref());
        set(h::INVOCATION_ID, i.invocation_id.as_deref());
        set(
            "content-type",
            Some(i.content_type.as_deref().unwrap_or("application/json")),
        );
        if !self.arn.is_empty() {
            m.insert(h::FUNCTION_ARN, self.arn.clone());
        }
        for (name, value) in &i.headers {
            match value {
                Some(v) => {
                    m.insert(name.clone(), v.clone());
                }
                None => {
                    m.remove(name);
                }
            }
        }
        m
    }

    fn job(&self, mut invoke: Invoke, reply: impl FnOnce(Option<Tag>) -> Reply) -> (String, Job) {
        let id = invoke
            .request_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let timeout = invoke.timeout.unwrap_or(self.options.function_timeout);
        let deadline_ms = invoke
            .deadline_ms
            .unwrap_or_else(|| epoch_ms() + timeout.as_millis() as u64);
        let head = self.render_head(&id, &invoke, deadline_ms);
        let tag = invoke.tag.take();
        (
            id,
            Job {
                invoke,
                deadline_ms,
                head: Some(head),
                reply: reply(tag),
            },
        )
    }

    /// Queue a job, or settle it at once after an init error.
    fn queue(&self, s: &mut State, id: String, job: Job) {
        match &s.init_error {
            Some(e) => {
                let outcome = Outcome::InitError {
                    headers: e.headers.clone(),
                    body: e.body.clone(),
                };
                let now = Instant::now();
                let f = InFlight { job, served: now };
                s.settle(id, f, now, outcome);
            }
            None => s.queue.push_back((id, job)),
        }
    }

    pub async fn invoke(&self, invoke: Invoke) -> Invoked {
        let timeout = invoke.timeout.unwrap_or(self.options.function_timeout);
        let (tx, rx) = oneshot::channel();
        let (id, job) = self.job(invoke, |_| Reply::Waiter(tx));
        let request_id = id.clone();
        self.queue(&mut self.lock(), id, job);
        self.changed.notify_waiters();
        let outcome = match tokio::time::timeout(timeout + self.options.timeout_slack, rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) | Err(_) => {
                let mut s = self.lock();
                s.queue.retain(|(id, _)| *id != request_id);
                if s.in_flight.remove(&request_id).is_some() {
                    s.remember(&request_id, Ended::TimedOut);
                }
                drop(s);
                self.changed.notify_waiters();
                Outcome::TimedOut
            }
        };
        Invoked {
            request_id,
            outcome,
        }
    }

    pub fn enqueue(&self, invokes: impl IntoIterator<Item = Invoke>) {
        let jobs: Vec<(String, Job)> = invokes
            .into_iter()
            .map(|i| self.job(i, Reply::Answer))
            .collect();
        {
            let mut s = self.lock();
            for (id, job) in jobs {
                self.queue(&mut s, id, job);
            }
        }
        self.changed.notify_waiters();
    }

    pub fn reset(&self) {
        {
            let mut s = self.lock();
            let base = s.records_base + s.records.len();
            *s = State {
                records_base: base,
                ..State::default()
            };
            self.posts.store(0, Ordering::Relaxed);
        }
        self.changed.notify_waiters();
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
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
                s.record(Recorded {
                    method: parts.method,
                    path,
                    kind,
                    headers: parts.headers,
                    body: read.body,
                    trailers: read.trailers,
                    frames: read.frames,
                    status,
                    fault,
                    request_id: None,
                    at,
                });
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

/// Undoes a `/next`'s parked count if it goes away while parked.
struct Parked<'a> {
    shared: &'a Shared,
    on: bool,
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        if self.on {
            self.shared.lock().parked -= 1;
        }
    }
}

async fn next(ctx: &ConnCtx, req: Request<Incoming>) -> Result<Response<Body>, Closed> {
    let shared = &*ctx.shared;
    let record = shared.options.record;
    let (nth, index) = {
        let mut s = shared.lock();
        s.next_calls += 1;
        s.first_next.get_or_insert_with(Instant::now);
        let nth = s.next_calls;
        let index = record.then(|| {
            let at = shared.elapsed();
            s.record(Recorded {
                method: Method::GET,
                path: path_of(req.uri()),
                kind: Kind::Next,
                headers: req.headers().clone(),
                body: Bytes::new(),
                trailers: None,
                frames: Vec::new(),
                status: None,
                fault: None,
                request_id: None,
                at,
            })
        });
        (nth, index)
    };
    let fault = shared.decide(&Seen {
        method: req.method(),
        path: req.uri().path(),
        kind: Kind::Next,
        nth,
    });
    let finish = |status: Option<u16>, id: Option<&str>| {
        if let Some(i) = index {
            let mut s = shared.lock();
            if let Some(r) = s.record_mut(i) {
                r.status = status;
                r.fault.clone_from(&fault);
                r.request_id = id.map(str::to_owned);
            }
        }
    };
    match &fault {
        Some(Fault::Status { status, body }) => {
            finish(Some(*status), None);
            return Ok(status_reply(*status, body));
        }
        Some(Fault::Close) => {
            finish(None, None);
            return Err(Closed);
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
        _ => {}
    }
    let mut parked = Parked { shared, on: false };
    let (id, head, body) = loop {
        let mut notified = pin!(shared.changed.notified());
        notified.as_mut().enable();
        {
            let mut s = shared.lock();
            if s.init_error.is_some() {
                drop(s);
                finish(Some(403), None);
                return Ok(api_error(
                    StatusCode::FORBIDDEN,
                    "InvalidStateTransition",
                    "State transition from InitError to Ready failed for runtime. Error: the runtime posted an init error",
                ));
            }
            if let Some(taken) = take(shared, &mut s) {
                if parked.on {
                    parked.on = false;
                    s.parked -= 1;
                }
                break taken;
            }
            if !parked.on {
                parked.on = true;
                s.parked += 1;
                drop(s);
                shared.changed.notify_waiters();
            }
        }
        notified.await;
    };
    let plan = match &fault {
        Some(Fault::TakeAndClose) => {
            finish(None, Some(&id));
            return Err(Closed);
        }
        Some(Fault::CutBody { sent }) => Some(CutPlan {
            chunked: false,
            body_bytes: *sent,
        }),
        Some(Fault::CutChunk { sent }) => Some(CutPlan {
            chunked: true,
            body_bytes: *sent,
        }),
        _ => None,
    };
    let mut r = match plan {
        Some(plan) => {
            ctx.cut.arm(plan);
            Response::new(if plan.chunked {
                Body::Chunked(Some(body))
            } else {
                Body::Full(Some(body))
            })
        }
        None => Response::new(Body::full(body)),
    };
    *r.headers_mut() = head;
    if index.is_some() {
        finish(Some(200), Some(&id));
    }
    Ok(r)
}

/// Hand out the next invocation, or the one in flight again (classic, one slot).
fn take(shared: &Shared, s: &mut State) -> Option<(String, HeaderMap, Bytes)> {
    let limit = shared.options.max_in_flight.max(1);
    if s.in_flight.len() >= limit {
        if limit > 1 {
            return None;
        }
        let (id, f) = s.in_flight.iter().next()?;
        let head = shared.render_head(id, &f.job.invoke, f.job.deadline_ms);
        return Some((id.clone(), head, f.job.invoke.body.clone()));
    }
    let (id, mut job) = s.queue.pop_front()?;
    let head = job
        .head
        .take()
        .unwrap_or_else(|| shared.render_head(&id, &job.invoke, job.deadline_ms));
    let body = job.invoke.body.clone();
    let key = if shared.options.record {
        Some(id.clone())
    } else {
        None
    };
    s.in_flight.insert(
        id,
        InFlight {
            job,
            served: Instant::now(),
        },
    );
    s.max_in_flight_seen = s.max_in_flight_seen.max(s.in_flight.len());
    // The id is only needed again for the record; without one, an empty string costs nothing.
    Some((key.unwrap_or_default(), head, body))
}

/// A request body as received.
struct Read {
    body: Bytes,
    trailers: Option<HeaderMap>,
    frames: Vec<Frame>,
    complete: bool,
}

async fn read_body(mut body: Incoming, frames: bool) -> Read {
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

async fn post(ctx: &ConnCtx, kind: Kind, req: Request<Incoming>) -> Result<Response<Body>, Closed> {
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
        s.record(Recorded {
            method: parts.method,
            path: path_of(&parts.uri),
            kind,
            request_id: id.map(str::to_owned),
            headers: parts.headers,
            body: read.body,
            trailers: read.trailers,
            frames: read.frames,
            status,
            fault,
            at,
        });
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

async fn extension(
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
            s.record(Recorded {
                method: parts.method,
                path,
                kind,
                headers: parts.headers,
                body: read.body,
                trailers: read.trailers,
                frames: read.frames,
                status,
                fault,
                request_id: None,
                at,
            });
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
