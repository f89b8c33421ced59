//! A fake AWS Lambda Runtime API with fault injection: the platform side of a Lambda sandbox,
//! in process, for ferric's black-box tests and benchmarks (and, through the
//! `ferric-fake-api` binary, the shims' test suites).
//!
//! This documentation is the specification of the Lambda-like platform the fake implements. It
//! follows RAPID, the Runtime API server inside Lambda (facts from `/work/shared/RUNTIME_API.md`
//! §1, §7 and §9, which cite the Runtime Interface Emulator's source); where the fake simplifies,
//! it says so.
//!
//! # Serving
//!
//! [`FakeApi::start`] listens on `127.0.0.1:0`; [`FakeApi::address`] is the `host:port` to put
//! in `AWS_LAMBDA_RUNTIME_API`. HTTP/1.1 with keep-alive, `TCP_NODELAY`, on the caller's tokio
//! runtime. The fake stops when the last [`FakeApi`] handle is dropped (or on
//! [`FakeApi::shutdown`]): connections are closed, parked requests end with them.
//!
//! # Invocations
//!
//! An invocation is queued by [`FakeApi::invoke`] (which waits for its [`Outcome`]) or by
//! [`FakeApi::enqueue`] (fire and forget: its [`Answer`] is stored, with timing). Each gets a
//! request id (a fresh UUID unless [`Invoke::request_id`] names one) and a deadline, fixed when it
//! is queued: now + [`Invoke::timeout`] (default [`Options::function_timeout`]).
//!
//! `GET /2018-06-01/runtime/invocation/next` hands out queued invocations in order, at most
//! [`Options::max_in_flight`] at a time (Lambda: 1 per sandbox; Lambda Managed Instances: N).
//! The answer is `200` with the event as body and, like RAPID, only the non-empty headers of:
//! `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms` (epoch milliseconds),
//! `Lambda-Runtime-Invoked-Function-Arn`, `Lambda-Runtime-Trace-Id`,
//! `Lambda-Runtime-Client-Context`, `Lambda-Runtime-Cognito-Identity`,
//! `Lambda-Runtime-Aws-Tenant-Id`, `Lambda-Runtime-Invocation-Id`, and `Content-Type` (default
//! `application/json`). [`Invoke::headers`] then sets, replaces or removes any header, for
//! hostile header sets (no request id, a deadline that is not a number, a 200 KB client context).
//!
//! * With `max_in_flight == 1`, a `/next` while the invocation is in flight gets **that
//!   invocation again** (RAPID re-renders the current invoke, so a `/next` retried after a broken
//!   connection is safe). With `max_in_flight > 1` a `/next` waits for a free slot.
//! * With nothing to hand out, `/next` waits (parks) until there is.
//! * After an accepted `/init/error`, `/next` gets `403 InvalidStateTransition`.
//!
//! # Posts
//!
//! `POST /2018-06-01/runtime/invocation/{id}/response` and `.../error` settle the invocation
//! `{id}` if it is in flight: `202 {"status":"OK"}`, and the invoker gets
//! [`Outcome::Response`] or [`Outcome::Error`] with the post's headers and body (and a streamed
//! response's trailers). Otherwise, as RAPID:
//!
//! * a buffered response over [`MAX_PAYLOAD_BYTES`] (6 MiB + 100 B; see
//!   [`Options::response_limit`]) → `413 RequestEntityTooLarge` to the runtime; the invocation is settled as [`Outcome::TooLarge`],
//!   whose body is the `Function.ResponseSizeTooLarge` error an invoker would get;
//! * a `Lambda-Runtime-Function-Response-Mode` other than `streaming` → `400
//!   InvalidFunctionResponseMode` (the invocation stays in flight; RAPID fails it);
//! * a second post for an invocation already settled → `403 InvalidStateTransition`;
//! * a post for an invocation the invoker gave up on (timed out) → `410 InvokeTimeout` (what LMI
//!   answers; classic Lambda would have reset the sandbox);
//! * a post for any other id → `400 InvalidRequestID`.
//!
//! The fake remembers the last 256 settled or timed-out ids for the `403`/`410` rules. Every post
//! refused with 400/403/410 is also a [problem](FakeApi::problems).
//!
//! `POST /2018-06-01/runtime/init/error` before the first `/next` → `202`; every queued
//! invocation (and every later one, until [`FakeApi::reset`]) is settled as
//! [`Outcome::InitError`]. After the first `/next`, or a second time → `403
//! InvalidStateTransition`.
//!
//! Streamed responses (`Lambda-Runtime-Function-Response-Mode: streaming`, chunked): the body is
//! read to its end like any other (no 6 MiB limit), its HTTP trailers
//! (`Lambda-Runtime-Function-Error-Type`, `Lambda-Runtime-Function-Error-Body`) are kept, and
//! so are the body frames as they arrived ([`Recorded::frames`]: offset, length, time since the
//! head; hyper may split or merge the sender's chunks). Trailers may total 1 MiB.
//!
//! # Timeouts
//!
//! [`FakeApi::invoke`] gives up [`Options::timeout_slack`] (default 2 s) after the deadline:
//! the invocation leaves the queue (or flight) and the invoker gets [`Outcome::TimedOut`].
//! Invocations queued by [`FakeApi::enqueue`] never time out.
//!
//! # Extensions API
//!
//! `POST /2020-01-01/extension/register` (header `Lambda-Extension-Name`, body
//! `{"events":[...]}`) → `200` with a `Lambda-Extension-Identifier` (a UUID) and
//! `{"functionName","functionVersion","handler"}`. Refusals are `403` with RAPID's error types:
//! no name → `Extension.InvalidExtensionName`; a body that is not `{"events":[...]}` →
//! `InvalidRequestFormat`; an event other than `INVOKE` → `Extension.InvalidEventType` (every
//! extension is taken for an internal one, which may subscribe to `INVOKE` only); after the
//! runtime's first `/next` → `Extension.RegistrationClosed`; a name already registered →
//! `Extension.InvalidExtensionState` ("Extension with this name already registered"); an 11th
//! extension → `Extension.TooManyExtensions`.
//!
//! `GET /2020-01-01/extension/event/next` with a known identifier parks until the fake stops
//! (no events are ever sent); without the header → `403 Extension.MissingExtensionIdentifier`,
//! not a UUID → `403 Extension.InvalidExtensionIdentifier`, unknown →
//! `403 Extension.UnknownExtensionIdentifier`.
//!
//! Any other route → `404` and a [problem](FakeApi::problems).
//!
//! # Faults
//!
//! See [`faults`]: per request, by [`Rule`]s (queues of faults consumed in order,
//! the n-th post, a path pattern) or a [script](FakeApi::script).
//!
//! # Records
//!
//! With [`Options::record`] (the default), every request is kept as a [`Recorded`] (method, path,
//! headers, body, trailers, the status the fake answered): [`FakeApi::requests`],
//! [`FakeApi::posts`], [`FakeApi::posts_for`]. Benchmarks turn recording off; counters
//! ([`FakeApi::next_calls`], [`FakeApi::first_next`], [`FakeApi::max_in_flight`]), the init
//! error, registrations and problems are kept either way.
//!
//! # Control API
//!
//! With [`Options::control`] (the binary turns it on), `/_fake/...` on the same port drives the
//! fake over HTTP; see `fake-api/README.md`.
//!
//! # Cost
//!
//! The fake is in the benchmarks' measured path. `/next` headers are rendered when an invocation
//! is queued; serving one moves them into the answer. No lock is held across an `.await`; a post
//! is one body read, one lock, one map removal.

use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

mod conn;
mod control;
pub mod faults;
mod server;
mod types;

pub use faults::{Fault, Kind, Match, Rule, Seen};
pub use http;
pub use types::{Answer, Frame, Invoke, Invoked, Outcome, Posted, Recorded, Registration, Tag};

/// Lambda's payload limit as RAPID enforces it (6 MiB + 100 bytes).
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024 + 100;
/// The Runtime API's path prefix.
pub const RUNTIME_PREFIX: &str = "/2018-06-01/runtime/";
/// The Extensions API's path prefix.
pub const EXTENSION_PREFIX: &str = "/2020-01-01/extension/";

/// `/next` header names (lower case, as sent).
pub mod headers {
    pub const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
    pub const DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
    pub const FUNCTION_ARN: &str = "lambda-runtime-invoked-function-arn";
    pub const TRACE_ID: &str = "lambda-runtime-trace-id";
    pub const CLIENT_CONTEXT: &str = "lambda-runtime-client-context";
    pub const COGNITO_IDENTITY: &str = "lambda-runtime-cognito-identity";
    pub const TENANT_ID: &str = "lambda-runtime-aws-tenant-id";
    pub const INVOCATION_ID: &str = "lambda-runtime-invocation-id";
    pub const RESPONSE_MODE: &str = "lambda-runtime-function-response-mode";
    pub const ERROR_TYPE: &str = "lambda-runtime-function-error-type";
    pub const ERROR_BODY: &str = "lambda-runtime-function-error-body";
    pub const EXTENSION_NAME: &str = "lambda-extension-name";
    pub const EXTENSION_IDENTIFIER: &str = "lambda-extension-identifier";
}

/// Settings of one fake platform.
#[derive(Debug, Clone)]
pub struct Options {
    /// The function timeout: an invocation's deadline is this long after it is queued, unless it
    /// says otherwise. Default 30 s.
    pub function_timeout: Duration,
    /// `Lambda-Runtime-Invoked-Function-Arn`. Default
    /// `arn:aws:lambda:us-east-1:012345678912:function:test_function` (the RIE's, for
    /// `AWS_LAMBDA_FUNCTION_NAME=test_function`).
    pub function_arn: String,
    /// `functionName` in the extension registration answer. Default `test_function`.
    pub function_name: String,
    /// How many invocations may be in flight at once: 1 on Lambda (default), N on Lambda
    /// Managed Instances (`AWS_LAMBDA_MAX_CONCURRENCY`).
    pub max_in_flight: usize,
    /// How long after the deadline [`FakeApi::invoke`] declares an invocation timed out.
    /// Default 2 s.
    pub timeout_slack: Duration,
    /// The largest buffered response accepted; a larger one gets `413`. Default
    /// [`MAX_PAYLOAD_BYTES`], as Lambda; `None` accepts any size (the benchmarks time echoes of
    /// 5.5 MB events that some clients re-serialise over the limit).
    pub response_limit: Option<usize>,
    /// Keep every request ([`FakeApi::requests`]). Default on.
    pub record: bool,
    /// Serve the control API under `/_fake/`. Default off.
    pub control: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            function_timeout: Duration::from_secs(30),
            function_arn: arn("test_function"),
            function_name: "test_function".into(),
            max_in_flight: 1,
            timeout_slack: Duration::from_secs(2),
            response_limit: Some(MAX_PAYLOAD_BYTES),
            record: true,
            control: false,
        }
    }
}

/// The RIE's ARN for a function name.
pub fn arn(function_name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:012345678912:function:{function_name}")
}

impl Options {
    pub fn function_timeout(mut self, timeout: Duration) -> Options {
        self.function_timeout = timeout;
        self
    }

    /// Name the function: sets the ARN and the registration answer's `functionName`.
    pub fn function_name(mut self, name: &str) -> Options {
        self.function_arn = arn(name);
        self.function_name = name.into();
        self
    }

    pub fn function_arn(mut self, arn: impl Into<String>) -> Options {
        self.function_arn = arn.into();
        self
    }

    pub fn max_in_flight(mut self, n: usize) -> Options {
        self.max_in_flight = n.max(1);
        self
    }

    pub fn timeout_slack(mut self, slack: Duration) -> Options {
        self.timeout_slack = slack;
        self
    }

    pub fn response_limit(mut self, limit: Option<usize>) -> Options {
        self.response_limit = limit;
        self
    }

    pub fn record(mut self, on: bool) -> Options {
        self.record = on;
        self
    }

    pub fn control(mut self, on: bool) -> Options {
        self.control = on;
        self
    }
}

/// A running fake; cheap to clone. The fake stops when the last clone is dropped.
#[derive(Clone)]
pub struct FakeApi {
    inner: Arc<Handle>,
}

struct Handle {
    shared: Arc<server::Shared>,
    addr: SocketAddr,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

impl FakeApi {
    /// Serve on 127.0.0.1, a free port.
    pub async fn start(options: Options) -> std::io::Result<FakeApi> {
        FakeApi::start_on(([127, 0, 0, 1], 0).into(), options).await
    }

    /// Serve on `addr`.
    pub async fn start_on(addr: SocketAddr, options: Options) -> std::io::Result<FakeApi> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = server::Shared::new(options);
        tokio::spawn(server::serve(listener, shared.clone()));
        Ok(FakeApi {
            inner: Arc::new(Handle { shared, addr }),
        })
    }

    fn shared(&self) -> &Arc<server::Shared> {
        &self.inner.shared
    }

    /// `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.inner.addr.to_string()
    }

    pub fn socket_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    pub fn options(&self) -> &Options {
        &self.shared().options
    }

    /// Queue an invocation and wait until it is settled (or timed out).
    pub async fn invoke(&self, invoke: Invoke) -> Invoked {
        self.shared().invoke(invoke).await
    }

    /// Queue invocations without waiting: each one's [`Answer`] is stored.
    pub fn enqueue(&self, invokes: impl IntoIterator<Item = Invoke>) {
        self.shared().enqueue(invokes)
    }

    /// How many answers are stored.
    pub fn answer_count(&self) -> usize {
        self.shared().lock().answers.len()
    }

    /// The stored answers, oldest first; the store is emptied.
    pub fn take_answers(&self) -> Vec<Answer> {
        std::mem::take(&mut self.shared().lock().answers)
    }

    /// Wait until `count` answers are stored, the runtime posts an init error, or a
    /// [problem](FakeApi::problems) is seen.
    pub async fn wait_answers(&self, count: usize) {
        self.shared()
            .wait_for(|s| {
                s.answers.len() >= count || s.init_error.is_some() || !s.problems.is_empty()
            })
            .await
    }

    /// Wait until the runtime is idle: nothing queued or in flight, a `/next` parked.
    pub async fn wait_idle(&self) {
        self.shared()
            .wait_for(|s| s.in_flight.is_empty() && s.queue.is_empty() && s.parked > 0)
            .await
    }

    /// Wait until at least one invocation is queued and not yet handed out.
    pub async fn wait_queued(&self) {
        self.shared().wait_for(|s| !s.queue.is_empty()).await
    }

    /// The most invocations that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared().lock().max_in_flight_seen
    }

    /// When the first `/next` arrived.
    pub fn first_next(&self) -> Option<Instant> {
        self.shared().lock().first_next
    }

    /// How many `/next` requests arrived.
    pub fn next_calls(&self) -> u64 {
        self.shared().lock().next_calls
    }

    /// Protocol problems: refused posts (unknown, settled or timed-out ids, bad response mode)
    /// and unknown routes.
    pub fn problems(&self) -> Vec<String> {
        self.shared().lock().problems.clone()
    }

    /// The init error the fake accepted.
    pub fn init_error(&self) -> Option<Posted> {
        self.shared().lock().init_error.clone()
    }

    /// Every request received (with [`Options::record`]), in order of arrival.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared().lock().records.clone()
    }

    /// The Runtime API posts (`/response`, `/error`, `/init/error`), in order.
    pub fn posts(&self) -> Vec<Recorded> {
        let s = self.shared().lock();
        s.records
            .iter()
            .filter(|r| r.kind.is_post())
            .cloned()
            .collect()
    }

    /// The posts for one invocation (`/invocation/{request_id}/...`).
    pub fn posts_for(&self, request_id: &str) -> Vec<Recorded> {
        let s = self.shared().lock();
        s.records
            .iter()
            .filter(|r| {
                matches!(r.kind, Kind::Response | Kind::Error)
                    && r.request_id.as_deref() == Some(request_id)
            })
            .cloned()
            .collect()
    }

    /// Every extension registration, accepted or not.
    pub fn registrations(&self) -> Vec<Registration> {
        self.shared().lock().registrations.clone()
    }

    /// The registered extensions (names).
    pub fn extensions(&self) -> Vec<String> {
        self.shared()
            .lock()
            .registrations
            .iter()
            .filter(|r| r.result.is_ok())
            .map(|r| r.name.clone())
            .collect()
    }

    /// Add a fault rule (checked after the rules added before it).
    pub fn add_rule(&self, rule: Rule) {
        self.shared().faults(|f| f.rules.push(rule));
    }

    /// Faults for the next `/next` requests, one each, in order ([`Fault::Pass`] lets one by).
    pub fn next_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared().faults(|f| {
            f.rules
                .extend(faults.into_iter().map(|x| Rule::once(Match::Next, x)))
        });
    }

    /// Faults for the next posts, one each, in order.
    pub fn post_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared().faults(|f| {
            f.rules
                .extend(faults.into_iter().map(|x| Rule::once(Match::Post, x)))
        });
    }

    /// Decide faults with a closure, asked for every request no rule matched.
    pub fn script(&self, script: impl FnMut(&Seen<'_>) -> Option<Fault> + Send + 'static) {
        self.shared().faults(|f| f.script = Some(Box::new(script)));
    }

    /// Remove every rule and the script.
    pub fn clear_faults(&self) {
        self.shared().faults(|f| *f = faults::Faults::default());
    }

    /// Forget everything: invocations (waiting invokers get [`Outcome::TimedOut`]), answers,
    /// records, the init error, registrations, counters, problems, faults. For a new runtime
    /// process against the same address.
    pub fn reset(&self) {
        self.shared().reset();
        self.clear_faults();
    }

    /// Stop serving (as when the last handle is dropped).
    pub fn shutdown(&self) {
        self.shared().stop();
    }

    /// Wait until the fake stops (by [`FakeApi::shutdown`] or `POST /_fake/shutdown`).
    pub async fn stopped(&self) {
        server::stopped(&mut self.shared().stop.subscribe()).await
    }
}

/// The first bytes of a body, for messages.
pub fn preview(body: &[u8]) -> String {
    let cut = &body[..body.len().min(160)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if body.len() > cut.len() {
        s.push('…');
    }
    s
}

/// Header maps as `name → value` (values that are not text are lossily decoded; repeated
/// names joined with ", ").
pub fn header_pairs(headers: &HeaderMap) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = HashMap::new();
    for (k, v) in headers {
        let v = String::from_utf8_lossy(v.as_bytes());
        out.entry(k.as_str().to_owned())
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
    }
    out
}

#[cfg(test)]
mod tests;
