//! A fake Lambda Runtime API built for measurement (hyper 1, HTTP/1.1, keep-alive).
//!
//! It serves queued invocations as fast as the client pulls them, at most `limit` at a time
//! (as Lambda does: a second `/next` waits while the only slot is taken), and timestamps each
//! invocation from the moment its `/next` answer is handed to hyper until its `/response` (or
//! `/error`) body has been received in full. Answers are stored, not checked here: the session
//! checks them after the phase, so checking a 5.5 MB body never delays the client.
//!
//! Routes: `GET /2018-06-01/runtime/invocation/next`, `POST .../invocation/{id}/response|error`,
//! `POST /2018-06-01/runtime/init/error`, and the Extensions API's `register` and `event/next`
//! (ferric registers a no-op extension to receive SIGTERM; `event/next` never answers here).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::events::Payload;

const PREFIX: &str = "/2018-06-01/runtime/";
const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:bench-echo";

/// One queued invocation.
pub struct Job {
    pub id: String,
    pub payload: Arc<Payload>,
}

/// What the client posted for one invocation.
pub enum Outcome {
    Response(Bytes),
    Error(Bytes),
}

/// One finished invocation.
pub struct Answer {
    pub payload: Arc<Payload>,
    pub served: Instant,
    pub answered: Instant,
    pub outcome: Outcome,
}

impl Answer {
    pub fn latency(&self) -> Duration {
        self.answered.saturating_duration_since(self.served)
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    in_flight: HashMap<String, (Instant, Arc<Payload>)>,
    limit: usize,
    max_in_flight: usize,
    answers: Vec<Answer>,
    first_next: Option<Instant>,
    /// `/next` requests parked because nothing could be served.
    parked: usize,
    init_error: Option<Bytes>,
    /// Protocol problems: posts for unknown ids, unknown routes.
    problems: Vec<String>,
}

struct Shared {
    state: Mutex<State>,
    changed: Notify,
    stop: watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a harness bug; keep going with the data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake Runtime API, one per client session. Dropping it stops it.
pub struct FakeApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        let _ = self.shared.stop.send(true);
    }
}

impl FakeApi {
    /// Listen on 127.0.0.1 (a free port) and serve at most `limit` invocations at a time.
    pub async fn start(limit: usize) -> std::io::Result<FakeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                limit: limit.max(1),
                ..State::default()
            }),
            changed: Notify::new(),
            stop,
        });
        tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(FakeApi { shared, addr })
    }

    /// `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    pub fn enqueue(&self, jobs: impl IntoIterator<Item = Job>) {
        self.shared.lock().queue.extend(jobs);
        self.shared.changed.notify_waiters();
    }

    pub fn answered(&self) -> usize {
        self.shared.lock().answers.len()
    }

    pub fn take_answers(&self) -> Vec<Answer> {
        std::mem::take(&mut self.shared.lock().answers)
    }

    pub fn first_next(&self) -> Option<Instant> {
        self.shared.lock().first_next
    }

    pub fn init_error(&self) -> Option<Bytes> {
        self.shared.lock().init_error.clone()
    }

    pub fn problems(&self) -> Vec<String> {
        self.shared.lock().problems.clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.lock().max_in_flight
    }

    /// Wait until `pred` holds for the state (re-checked on every change).
    async fn wait_for(&self, pred: impl Fn(&State) -> bool) {
        loop {
            let mut notified = pin!(self.shared.changed.notified());
            notified.as_mut().enable();
            if pred(&self.shared.lock()) {
                return;
            }
            notified.await;
        }
    }

    /// Wait until `count` answers are stored, the client posts an init error or reports a
    /// protocol problem.
    pub async fn wait_answers(&self, count: usize) {
        self.wait_for(|s| {
            s.answers.len() >= count || s.init_error.is_some() || !s.problems.is_empty()
        })
        .await
    }

    /// Wait until the client is idle again: nothing in flight and a `/next` parked.
    pub async fn wait_idle(&self) {
        self.wait_for(|s| s.in_flight.is_empty() && s.queue.is_empty() && s.parked > 0)
            .await
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut stop = shared.stop.subscribe();
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut stop = shared.stop.subscribe();
            let svc = service_fn(|req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(&shared, req).await) }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = stop.changed() => {}
            }
        });
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

async fn route(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if let Some(rest) = path.strip_prefix("/2020-01-01/extension/") {
        return extension(shared, rest, &method).await;
    }
    let rest = path.strip_prefix(PREFIX).unwrap_or("");
    match (&method, rest) {
        (&Method::GET, "invocation/next") => next(shared).await,
        (&Method::POST, "init/error") => {
            let body = read_body(req).await;
            shared.lock().init_error = Some(body);
            shared.changed.notify_waiters();
            reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        (&Method::POST, _) if rest.starts_with("invocation/") => post(shared, rest, req).await,
        _ => {
            shared
                .lock()
                .problems
                .push(format!("unexpected {method} {path}"));
            shared.changed.notify_waiters();
            reply(StatusCode::NOT_FOUND, "not found")
        }
    }
}

async fn read_body(req: Request<Incoming>) -> Bytes {
    req.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

async fn extension(shared: &Shared, rest: &str, method: &Method) -> Response<Full<Bytes>> {
    match (method, rest) {
        (&Method::POST, "register") => {
            let mut r = reply(
                StatusCode::OK,
                r#"{"functionName":"bench-echo","functionVersion":"$LATEST","handler":"echo.handler"}"#,
            );
            r.headers_mut().insert(
                "lambda-extension-identifier",
                hyper::header::HeaderValue::from_static("bench-extension-id"),
            );
            r
        }
        (&Method::GET, "event/next") => {
            // No events are ever sent (no SHUTDOWN: sessions end with SIGKILL).
            let mut stop = shared.stop.subscribe();
            let _ = stop.changed().await;
            reply(StatusCode::INTERNAL_SERVER_ERROR, "stopped")
        }
        _ => reply(StatusCode::NOT_FOUND, "not found"),
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Take the next job if a slot is free.
fn take(state: &mut State) -> Option<Job> {
    if state.in_flight.len() >= state.limit {
        return None;
    }
    state.queue.pop_front()
}

async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    let mut stop = shared.stop.subscribe();
    {
        let mut s = shared.lock();
        s.first_next.get_or_insert_with(Instant::now);
    }
    let mut parked = false;
    let job = loop {
        let mut notified = pin!(shared.changed.notified());
        notified.as_mut().enable();
        {
            let mut s = shared.lock();
            if let Some(job) = take(&mut s) {
                if parked {
                    s.parked -= 1;
                }
                break job;
            }
            if !parked {
                parked = true;
                s.parked += 1;
                drop(s);
                shared.changed.notify_waiters();
            }
        }
        tokio::select! {
            _ = notified => {}
            _ = stop.changed() => return reply(StatusCode::INTERNAL_SERVER_ERROR, "stopped"),
        }
    };
    let mut r = reply(StatusCode::OK, job.payload.bytes.clone());
    let h = r.headers_mut();
    let value = |s: String| hyper::header::HeaderValue::from_str(&s).expect("ASCII header");
    h.insert("lambda-runtime-aws-request-id", value(job.id.clone()));
    h.insert(
        "lambda-runtime-deadline-ms",
        value((epoch_ms() + 900_000).to_string()),
    );
    h.insert("lambda-runtime-invoked-function-arn", value(ARN.into()));
    h.insert(
        "lambda-runtime-trace-id",
        value(format!(
            "Root=1-5bef4de7-{};Parent=53995c3f42cd8ad8;Sampled=0",
            &job.id.replace('-', "")[..24]
        )),
    );
    h.insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    let mut s = shared.lock();
    s.in_flight
        .insert(job.id, (Instant::now(), job.payload.clone()));
    s.max_in_flight = s.max_in_flight.max(s.in_flight.len());
    r
}

async fn post(shared: &Shared, rest: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    // invocation/{id}/response or invocation/{id}/error
    let tail = &rest["invocation/".len()..];
    let (id, kind) = match tail.rsplit_once('/') {
        Some((id, kind)) if kind == "response" || kind == "error" => (id.to_owned(), kind),
        _ => {
            shared
                .lock()
                .problems
                .push(format!("unexpected POST {PREFIX}{rest}"));
            shared.changed.notify_waiters();
            return reply(StatusCode::NOT_FOUND, "not found");
        }
    };
    let body = read_body(req).await;
    let answered = Instant::now();
    let outcome = if kind == "response" {
        Outcome::Response(body)
    } else {
        Outcome::Error(body)
    };
    let status = {
        let mut s = shared.lock();
        match s.in_flight.remove(&id) {
            Some((served, payload)) => {
                s.answers.push(Answer {
                    payload,
                    served,
                    answered,
                    outcome,
                });
                StatusCode::ACCEPTED
            }
            None => {
                s.problems
                    .push(format!("POST {kind} for an id not in flight: {id:?}"));
                StatusCode::BAD_REQUEST
            }
        }
    };
    shared.changed.notify_waiters();
    if status == StatusCode::ACCEPTED {
        reply(status, r#"{"status":"OK"}"#)
    } else {
        reply(
            status,
            r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#,
        )
    }
}
