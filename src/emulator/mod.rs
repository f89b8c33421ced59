//! The built-in emulator: the Runtime API endpoints a runtime talks to (`runtime_api`), plus the
//! Runtime Interface Emulator's invoke endpoint (`rie`) and the HTTP front door that turns plain
//! HTTP requests into API Gateway events (`front_door`), around a pure state machine (`state`).
//!
//! Used when `AWS_LAMBDA_RUNTIME_API` is unset and by `ferric invoke`. Invokes are queued and
//! served one per `/next`, so concurrent callers wait their turn (and are told so in the log)
//! instead of crashing the emulator (RIE issue #97). A caller that goes away before its
//! invocation starts has it dropped; one that goes away later lets it finish, and its answer is
//! dropped. Nothing is kept after an invocation ends, so memory stays flat however long the
//! emulator serves.

pub mod front_door;
mod rie;
mod runtime_api;
pub mod state;
pub mod streaming;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Notify};
use tracing::{info, warn};

use crate::config::ApiAddress;
use crate::lambda::http::Body;
use crate::lambda::invocation::{epoch_ms, headers as h};
use crate::lambda::requests::names;
use crate::lambda::wording::{platform_error_body, timeout_message};
pub use rie::{decode_base64, rie_environment, INVOKE_PATH, STREAM_INVOKE_PATH};
use state::{Abandoned, Delivery, Post, RegisterError, State, Verdict};
pub use state::{InvokeOutcome, InvokeRequest, MAX_PAYLOAD_BYTES};

/// Extra time the invoke endpoint waits past the deadline before answering "timed out".
const DEADLINE_SLACK: Duration = Duration::from_secs(2);
/// The largest post body read (over the payload limit, so oversized responses get their 413).
const MAX_POST_BYTES: usize = 64 * 1024 * 1024;

/// The frames of a streamed response as the runtime sends them: data, then possibly one
/// trailers frame (its error).
pub type StreamFrames = mpsc::Receiver<Frame<Bytes>>;

/// How one invocation ended.
#[derive(Debug)]
pub struct InvokeResult {
    pub request_id: String,
    pub outcome: InvokeOutcome,
    /// For [`InvokeOutcome::Stream`]: the response's frames as they arrive.
    pub stream: Option<StreamFrames>,
}

/// How many frames of a streamed response wait for a slow caller before the runtime is
/// slowed down.
const STREAM_QUEUE: usize = 4;

/// Emulator settings.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    pub function_timeout: Duration,
    pub function_arn: String,
    /// Serve SnapStart's `/runtime/restore/*` routes (RAPID has them only for SnapStart): the
    /// "snapshot" is taken and restored at once.
    pub snap_start: bool,
    /// How long a caller waits past its deadline (default 2 s); `--debug` waits
    /// for the person at the debugger.
    pub patience: Option<Duration>,
}

impl EmulatorOptions {
    pub fn new(function_name: &str, function_timeout: Duration) -> EmulatorOptions {
        EmulatorOptions {
            function_timeout,
            function_arn: format!("arn:aws:lambda:us-east-1:012345678912:function:{function_name}"),
            snap_start: false,
            patience: None,
        }
    }
}

type Reply = oneshot::Sender<(InvokeOutcome, Option<StreamFrames>)>;

struct Inner {
    state: Mutex<State<Reply>>,
    /// Wakes `/next` calls when an invocation is queued.
    queued: Notify,
    /// Wakes [`Emulator::wait_for_queued`].
    wanted: Notify,
    options: EmulatorOptions,
    address: SocketAddr,
}

/// A running emulator; cheap to clone.
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

fn respond(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r
}

fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response<Body> {
    respond(status, platform_error_body(error_type, message))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
}

/// Forgets an invocation whose caller went away (its future was dropped).
struct Caller<'a> {
    emulator: &'a Emulator,
    id: &'a str,
    waiting: bool,
}

impl Drop for Caller<'_> {
    fn drop(&mut self) {
        if !self.waiting {
            return;
        }
        match self.emulator.lock().abandon(self.id) {
            Abandoned::Dropped => info!(
                request_id = self.id,
                "the caller went away before its invocation started; dropped it"
            ),
            Abandoned::Running => info!(
                request_id = self.id,
                "the caller went away; the invocation runs to its end and its answer is dropped"
            ),
            Abandoned::Gone => {}
        }
    }
}

impl Emulator {
    /// Serve the Runtime API on `addr` (use port 0 for an ephemeral port).
    pub async fn start(addr: SocketAddr, options: EmulatorOptions) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind(addr).await?;
        let emulator = Emulator {
            inner: Arc::new(Inner {
                state: Mutex::default(),
                queued: Notify::new(),
                wanted: Notify::new(),
                options,
                address: listener.local_addr()?,
            }),
        };
        let served = emulator.clone();
        tokio::spawn(serve(listener, move |req| {
            let e = served.clone();
            async move { Ok::<_, Infallible>(e.runtime_route(req).await) }
        }));
        Ok(emulator)
    }

    /// `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api_address(&self) -> ApiAddress {
        ApiAddress::parse(&self.inner.address.to_string())
            .expect("a bound socket address is host:port")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<Reply>> {
        // A panic while holding the lock cannot leave State inconsistent in a way that matters
        // more than serving the next request.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait until an invocation is queued (used to restart a runtime whose init failed, as
    /// RIE re-runs init on the next invoke).
    pub async fn wait_for_queued(&self) {
        loop {
            let notified = self.inner.wanted.notified();
            if self.lock().has_queued() {
                return;
            }
            notified.await;
        }
    }

    /// After an init error, make new invocations wait for a runtime started afresh instead of
    /// answering them with that error (the owner restarts one when [`Emulator::wait_for_queued`]
    /// returns): serve mode, where a fixed handler must be picked up as under RIE.
    pub fn retry_init_on_invoke(&self) {
        self.lock().retry_init_on_invoke();
    }

    /// Forget the previous runtime's init state so a new runtime can start.
    pub fn reset(&self) {
        self.lock().reset();
    }

    /// Queue an invocation and wait for its outcome (bounded by its deadline plus slack).
    pub async fn invoke(&self, request: InvokeRequest) -> InvokeResult {
        let id = uuid::Uuid::new_v4().to_string();
        let timeout = request
            .timeout
            .unwrap_or(self.inner.options.function_timeout);
        let (tx, rx) = oneshot::channel();
        let now = epoch_ms();
        let delivery = Delivery {
            id: id.clone(),
            deadline_ms: now + timeout.as_millis() as u64,
            request,
        };
        let queued = self.lock().invoke(delivery, tx, now);
        match queued {
            Err((_, outcome)) => {
                return InvokeResult {
                    request_id: id,
                    outcome,
                    stream: None,
                }
            }
            Ok(ahead) if ahead.in_flight + ahead.queued > 0 => info!(
                request_id = %id,
                "waiting for {} invocation(s) ahead (the oldest running for {:.1} s): the function serves one at a time",
                ahead.in_flight + ahead.queued,
                ahead.oldest_ms.unwrap_or(0) as f64 / 1000.0
            ),
            Ok(_) => {}
        }
        self.inner.queued.notify_one();
        self.inner.wanted.notify_waiters();
        let mut caller = Caller {
            emulator: self,
            id: &id,
            waiting: true,
        };
        let slack = self.inner.options.patience.unwrap_or(DEADLINE_SLACK);
        let (outcome, stream) = match tokio::time::timeout(timeout + slack, rx).await {
            Ok(Ok(settled)) => settled,
            Ok(Err(_)) | Err(_) => {
                self.lock().expire(&id);
                let message = timeout_message(timeout);
                (InvokeOutcome::TimedOut { message }, None)
            }
        };
        caller.waiting = false;
        drop(caller);
        InvokeResult {
            request_id: id,
            outcome,
            stream,
        }
    }
}

/// Accept connections on `listener` and serve each with `handler` (HTTP/1.1, kept alive).
async fn serve<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    serve_peers(listener, move |_, req| handler(req)).await
}

/// [`serve`], telling `handler` the address of the peer each request came from.
async fn serve_peers<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(SocketAddr, Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handler(peer, req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
