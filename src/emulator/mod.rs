//! The built-in emulator: the Runtime API endpoints a runtime talks to, plus the Runtime
//! Interface Emulator's invoke endpoint (`POST /2015-03-31/functions/function/invocations`).
//!
//! Used when `AWS_LAMBDA_RUNTIME_API` is unset, by `ferric invoke`, and by the tests as a fake
//! Runtime API that records every post. Invokes are queued and served one per `/next`, so
//! concurrent callers wait their turn instead of crashing the emulator (RIE issue #97).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};

use crate::invocation::{epoch_ms, headers as h};

mod rie;
pub use rie::{decode_base64, rie_environment, INVOKE_PATH};

/// Lambda's payload limit as RAPID enforces it (6 MiB + 100 bytes).
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024 + 100;
/// Extra time the invoke endpoint waits past the deadline before answering "timed out".
const DEADLINE_SLACK: Duration = Duration::from_secs(2);

/// One invocation as a caller describes it.
#[derive(Debug, Clone, Default)]
pub struct InvokeRequest {
    pub body: Bytes,
    pub content_type: Option<String>,
    pub trace_id: Option<String>,
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
    pub tenant_id: Option<String>,
    pub invocation_id: Option<String>,
    /// Overrides the emulator's function timeout for this invocation.
    pub timeout: Option<Duration>,
}

/// How an invocation ended, as the invoker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeOutcome {
    Response {
        content_type: Option<String>,
        body: Bytes,
    },
    FunctionError {
        body: Bytes,
    },
    /// The runtime posted `/init/error` instead of taking the invocation.
    InitError {
        body: Bytes,
    },
    /// The response was over [`MAX_PAYLOAD_BYTES`]; the runtime got 413.
    ResponseTooLarge {
        body: Bytes,
    },
    /// Nothing was posted before the deadline (plus slack).
    TimedOut {
        message: String,
    },
}

/// A post the runtime made, recorded for tests.
#[derive(Debug, Clone)]
pub struct Post {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub status: StatusCode,
}

#[derive(Debug, Clone)]
pub struct InvokeResult {
    pub request_id: String,
    pub outcome: InvokeOutcome,
}

/// Emulator settings.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    pub function_timeout: Duration,
    pub function_arn: String,
}

impl EmulatorOptions {
    pub fn new(function_name: &str, function_timeout: Duration) -> EmulatorOptions {
        EmulatorOptions {
            function_timeout,
            function_arn: format!("arn:aws:lambda:us-east-1:012345678912:function:{function_name}"),
        }
    }
}

struct Pending {
    id: String,
    request: InvokeRequest,
    deadline_ms: u64,
    reply: oneshot::Sender<InvokeOutcome>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Pending>,
    in_flight: HashMap<String, oneshot::Sender<InvokeOutcome>>,
    posts: Vec<Post>,
    init_error: Option<Bytes>,
    next_calls: u64,
    extensions: u64,
}

/// A running emulator; cheap to clone.
#[derive(Clone)]
pub struct Emulator {
    state: Arc<Mutex<State>>,
    ready: Arc<Notify>,
    wanted: Arc<Notify>,
    options: Arc<EmulatorOptions>,
    runtime_api: SocketAddr,
}

fn respond(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"errorMessage": message, "errorType": error_type}).to_string();
    respond(status, body)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
}

impl Emulator {
    /// Serve the Runtime API on `addr` (use port 0 for an ephemeral port).
    pub async fn start(addr: SocketAddr, options: EmulatorOptions) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind(addr).await?;
        let emulator = Emulator {
            state: Arc::default(),
            ready: Arc::new(Notify::new()),
            wanted: Arc::new(Notify::new()),
            options: Arc::new(options),
            runtime_api: listener.local_addr()?,
        };
        let served = emulator.clone();
        tokio::spawn(serve(listener, move |req| {
            let e = served.clone();
            async move { Ok::<_, Infallible>(e.runtime_route(req).await) }
        }));
        Ok(emulator)
    }

    /// `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api_address(&self) -> String {
        self.runtime_api.to_string()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State inconsistent in a way that matters
        // more than serving the next request.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every post the runtime made, in order.
    pub fn posts(&self) -> Vec<Post> {
        self.lock().posts.clone()
    }

    /// How many times the runtime called `/next`.
    pub fn next_calls(&self) -> u64 {
        self.lock().next_calls
    }

    /// The body of the init error the runtime posted, if any.
    pub fn init_error(&self) -> Option<Bytes> {
        self.lock().init_error.clone()
    }

    /// Wait until an invocation is queued (used to restart a runtime whose init failed, as
    /// RIE re-runs init on the next invoke).
    pub async fn wait_for_queued(&self) {
        loop {
            let notified = self.wanted.notified();
            if !self.lock().queue.is_empty() {
                return;
            }
            notified.await;
        }
    }

    /// Forget the previous runtime's init state so a new runtime can start.
    pub fn reset(&self) {
        let mut state = self.lock();
        state.init_error = None;
        state.next_calls = 0;
        state.extensions = 0;
        state.in_flight.clear();
    }

    /// Queue an invocation and wait for its outcome (bounded by its deadline plus slack).
    pub async fn invoke(&self, request: InvokeRequest) -> InvokeResult {
        let id = uuid::Uuid::new_v4().to_string();
        let timeout = request.timeout.unwrap_or(self.options.function_timeout);
        let (tx, rx) = oneshot::channel();
        {
            self.lock().queue.push_back(Pending {
                id: id.clone(),
                request,
                deadline_ms: epoch_ms() + timeout.as_millis() as u64,
                reply: tx,
            });
        }
        self.ready.notify_one();
        self.wanted.notify_waiters();
        let timed_out = InvokeOutcome::TimedOut {
            message: format!(
                "Task timed out after {}.00 seconds",
                timeout.as_secs().max(1)
            ),
        };
        let outcome = match tokio::time::timeout(timeout + DEADLINE_SLACK, rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) | Err(_) => {
                let mut state = self.lock();
                state.queue.retain(|p| p.id != id);
                state.in_flight.remove(&id);
                timed_out
            }
        };
        InvokeResult {
            request_id: id,
            outcome,
        }
    }

    async fn next(&self) -> Response<Full<Bytes>> {
        self.lock().next_calls += 1;
        let pending = loop {
            let notified = self.ready.notified();
            if let Some(p) = self.lock().queue.pop_front() {
                break p;
            }
            notified.await;
        };
        let mut response = respond(StatusCode::OK, pending.request.body.clone());
        let hm = response.headers_mut();
        let mut set = |name: &'static str, value: Option<String>| {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                hm.insert(name, v);
            }
        };
        let r = &pending.request;
        set(h::REQUEST_ID, Some(pending.id.clone()));
        set(h::DEADLINE_MS, Some(pending.deadline_ms.to_string()));
        set(h::FUNCTION_ARN, Some(self.options.function_arn.clone()));
        set(h::TRACE_ID, r.trace_id.clone());
        set(h::CLIENT_CONTEXT, r.client_context.clone());
        set(h::COGNITO_IDENTITY, r.cognito_identity.clone());
        set(h::TENANT_ID, r.tenant_id.clone());
        set(h::INVOCATION_ID, r.invocation_id.clone());
        set(
            h::CONTENT_TYPE,
            Some(
                r.content_type
                    .clone()
                    .unwrap_or_else(|| "application/json".into()),
            ),
        );
        self.lock().in_flight.insert(pending.id, pending.reply);
        response
    }

    async fn runtime_route(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        if let Some(ext) = path.strip_prefix("/2020-01-01/extension/") {
            return self.extension_route(ext, &method, req.headers()).await;
        }
        let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
            return api_error(StatusCode::NOT_FOUND, "NotFound", "no such endpoint");
        };
        if method == Method::GET && rest == "invocation/next" {
            return self.next().await;
        }
        if method != Method::POST {
            return api_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "use POST",
            );
        }
        let headers = req.headers().clone();
        let body = match Limited::new(req.into_body(), 64 * 1024 * 1024)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    "TruncatedHTTPRequest",
                    "could not read the body",
                )
            }
        };
        let (status, outcome_for) = self.route_post(rest, &headers, &body);
        self.lock().posts.push(Post {
            path,
            headers,
            body,
            status,
        });
        if let Some((id, outcome)) = outcome_for {
            if let Some(tx) = self.lock().in_flight.remove(&id) {
                let _ = tx.send(outcome);
            }
        }
        match status {
            StatusCode::ACCEPTED => respond(status, r#"{"status":"OK"}"#),
            StatusCode::PAYLOAD_TOO_LARGE => api_error(
                status,
                "RequestEntityTooLarge",
                &format!("Exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes)."),
            ),
            StatusCode::FORBIDDEN => api_error(
                status,
                "InvalidStateTransition",
                "State transition is not allowed",
            ),
            _ => api_error(status, "InvalidRequestID", "Invalid request ID"),
        }
    }

    /// The Extensions API, enough for a runtime's no-op internal extension: register, then an
    /// `event/next` that only returns at shutdown (this emulator never sends events).
    async fn extension_route(
        &self,
        rest: &str,
        method: &Method,
        headers: &HeaderMap,
    ) -> Response<Full<Bytes>> {
        match (method, rest) {
            (&Method::POST, "register") => {
                if header(headers, "lambda-extension-name").is_none_or(|n| n.is_empty()) {
                    return api_error(
                        StatusCode::FORBIDDEN,
                        "Extension.InvalidExtensionName",
                        "missing Lambda-Extension-Name",
                    );
                }
                if self.lock().next_calls > 0 {
                    return api_error(
                        StatusCode::FORBIDDEN,
                        "Extension.RegistrationAfterInit",
                        "register before the runtime's first /next",
                    );
                }
                let id = uuid::Uuid::new_v4().to_string();
                self.lock().extensions += 1;
                let mut r = respond(
                    StatusCode::OK,
                    r#"{"functionName":"","functionVersion":"$LATEST","handler":""}"#,
                );
                if let Ok(v) = HeaderValue::from_str(&id) {
                    r.headers_mut().insert("lambda-extension-identifier", v);
                }
                r
            }
            (&Method::GET, "event/next")
                if header(headers, "lambda-extension-identifier").is_some() =>
            {
                std::future::pending().await
            }
            (&Method::GET, "event/next") => api_error(
                StatusCode::FORBIDDEN,
                "Extension.MissingExtensionIdentifier",
                "missing Lambda-Extension-Identifier",
            ),
            _ => api_error(StatusCode::NOT_FOUND, "NotFound", "no such endpoint"),
        }
    }

    /// How many extensions registered.
    pub fn extensions(&self) -> u64 {
        self.lock().extensions
    }

    /// Decide the status of a post and the outcome it gives its invocation.
    fn route_post(
        &self,
        rest: &str,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> (StatusCode, Option<(String, InvokeOutcome)>) {
        if rest == "init/error" {
            let mut state = self.lock();
            if state.next_calls > 0 {
                return (StatusCode::FORBIDDEN, None);
            }
            state.init_error = Some(body.clone());
            for p in state.queue.drain(..) {
                let _ = p
                    .reply
                    .send(InvokeOutcome::InitError { body: body.clone() });
            }
            return (StatusCode::ACCEPTED, None);
        }
        let Some((id, kind)) = rest
            .strip_prefix("invocation/")
            .and_then(|r| r.rsplit_once('/'))
        else {
            return (StatusCode::NOT_FOUND, None);
        };
        if !self.lock().in_flight.contains_key(id) {
            return (StatusCode::BAD_REQUEST, None);
        }
        let outcome = match kind {
            "response" if body.len() > MAX_PAYLOAD_BYTES => {
                let message = format!(
                    "Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes).",
                    body.len()
                );
                let body = serde_json::json!({"errorMessage": message, "errorType": "Function.ResponseSizeTooLarge"}).to_string();
                return (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Some((
                        id.to_owned(),
                        InvokeOutcome::ResponseTooLarge { body: body.into() },
                    )),
                );
            }
            "response" => InvokeOutcome::Response {
                content_type: header(headers, "content-type"),
                body: body.clone(),
            },
            "error" => InvokeOutcome::FunctionError { body: body.clone() },
            _ => return (StatusCode::NOT_FOUND, None),
        };
        (StatusCode::ACCEPTED, Some((id.to_owned(), outcome)))
    }
}

async fn serve<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            #[allow(clippy::redundant_closure)] // moving `handler` in keeps the future Send
            let service = service_fn(move |req| handler(req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
