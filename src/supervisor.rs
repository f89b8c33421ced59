//! The runtime loop: init (start a worker, report init errors), then `next → worker → post`,
//! replacing workers that fail, until shutdown.
//!
//! Invariant: every invocation taken from `/next` gets exactly one `/response` or `/error`
//! post, whatever the worker does.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::config::{Config, Language, WorkerKind};
use crate::errors::error_body;
use crate::handler::suggest_python;
use crate::invocation::{epoch_ms, Invocation, InvocationError};
use crate::runtime_api::{ApiError, ErrorPost, PostOutcome, RuntimeApi};
use crate::shims::worker_spec;
use crate::worker::{Answer, Started, Worker, WorkerFailure};

/// How many times `/next` is tried before ferric gives up (transport errors and 5xx).
const NEXT_ATTEMPTS: u32 = 5;
/// Respawn attempts after a worker failure before ferric exits so Lambda resets the sandbox.
const RESPAWN_ATTEMPTS: u32 = 5;
const BACKOFF_START: Duration = Duration::from_millis(100);
/// The no-op internal extension that makes Lambda send SIGTERM (see RUNTIME_API.md §9).
pub const EXTENSION_NAME: &str = "ferric-graceful-shutdown";

/// Why the loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("init failed ({error_type}); reported to the Runtime API")]
    InitFailed { error_type: String },
    #[error("could not replace a failed worker after {RESPAWN_ATTEMPTS} attempts: {last}")]
    RespawnFailed { last: String },
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Owns the Runtime API client and the worker.
pub struct Supervisor {
    config: Config,
    api: RuntimeApi,
    /// The real interpreter reported by the first worker (skips pyenv-style shims).
    interpreter: Option<PathBuf>,
    worker: Option<Worker>,
}

/// The monotonic instant of a wall-clock deadline, less `margin`.
fn deadline_instant(deadline_ms: u64, margin: Duration) -> Instant {
    let remaining = Duration::from_millis(deadline_ms.saturating_sub(epoch_ms()));
    Instant::now() + remaining.saturating_sub(margin)
}

/// Lambda's wording: the function's timeout in whole seconds with two decimals.
fn timeout_message(received_ms: u64, deadline_ms: u64) -> String {
    let budget = deadline_ms.saturating_sub(received_ms);
    let secs = budget.div_ceil(1000).max(1);
    format!("Task timed out after {secs}.00 seconds")
}

impl Supervisor {
    pub fn new(config: Config, api: RuntimeApi) -> Supervisor {
        Supervisor {
            config,
            api,
            interpreter: None,
            worker: None,
        }
    }

    fn language(&self) -> Option<Language> {
        self.config.language()
    }

    fn body(&self, error_type: &str, message: &str, request_id: &str) -> Bytes {
        error_body(self.language(), error_type, message, request_id)
    }

    /// Run until `shutdown` resolves (then finish the in-flight invocation and stop the worker)
    /// or a fatal error.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
        self.init().await?;
        tokio::pin!(shutdown);
        let result = loop {
            let next = tokio::select! {
                biased;
                _ = &mut shutdown => break Ok(()),
                next = self.next_invocation() => next,
            };
            match next {
                Ok(inv) => {
                    if let Err(e) = self.handle(inv).await {
                        break Err(e);
                    }
                }
                Err(RunError::Api(ApiError::Invocation(InvocationError::BadHeader {
                    request_id,
                    reason,
                }))) => {
                    let body = self.body("Runtime.InvalidInvocation", &reason, &request_id);
                    let post = ErrorPost {
                        body,
                        error_type: Some("Runtime.InvalidInvocation".into()),
                        xray_cause: None,
                    };
                    if let Err(e) = self.api.post_error_for(&request_id, None, post).await {
                        break Err(e.into());
                    }
                }
                Err(e) => break Err(e),
            }
            self.recycle_if_due().await;
            if self.worker.is_none() {
                if let Err(e) = self.respawn().await {
                    break Err(e);
                }
            }
        };
        if let Some(worker) = self.worker.take() {
            worker.shutdown(self.config.kill_grace).await;
        }
        result
    }

    /// Start the first worker; report an init failure and return `InitFailed`.
    async fn init(&mut self) -> Result<(), RunError> {
        let started = Instant::now();
        let (api, wanted) = (self.api.clone(), self.config.register_extension);
        let register = async move {
            if wanted {
                if let Err(e) = api.register_extension(EXTENSION_NAME).await {
                    warn!("could not register the graceful-shutdown extension ({e}); SIGTERM may not be delivered (FERRIC_REGISTER_EXTENSION=0 silences this)");
                }
            }
        };
        // Registration (one local request) overlaps the worker's start-up.
        let (_, worker) = tokio::join!(register, self.start_worker());
        match worker {
            Ok(worker) => {
                info!(
                    pid = worker.pid(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "worker ready"
                );
                self.worker = Some(worker);
                Ok(())
            }
            Err(post) => {
                let error_type = post.error_type.clone().unwrap_or_default();
                match self.api.post_init_error(post).await? {
                    PostOutcome::Accepted => {}
                    PostOutcome::Refused { status, body } => {
                        warn!(%status, %body, "the Runtime API refused the init error")
                    }
                }
                Err(RunError::InitFailed { error_type })
            }
        }
    }

    /// Start a worker, or build the init-error post describing why it could not start.
    async fn start_worker(&mut self) -> Result<Worker, ErrorPost> {
        let spec = worker_spec(&self.config, self.interpreter.as_deref());
        match Worker::start(&spec, self.config.init_timeout).await {
            Ok(Started::Ready(worker)) => {
                if let Some(exe) = worker.executable.as_deref().filter(|e| e.starts_with('/')) {
                    self.interpreter.get_or_insert_with(|| PathBuf::from(exe));
                }
                Ok(*worker)
            }
            Ok(Started::InitError {
                error_type, body, ..
            }) => {
                self.log_hints(&error_type);
                Err(ErrorPost {
                    body,
                    error_type: Some(error_type),
                    xray_cause: None,
                })
            }
            Err((failure, logs)) => {
                let mut message = match &failure {
                    WorkerFailure::Spawn { program, source }
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        format!(
                        "{program} was not found: install it or set {} to the interpreter's path",
                        self.interpreter_variable()
                    )
                    }
                    WorkerFailure::TimedOut(limit) => format!(
                        "the worker did not finish init within {:.1} s (FERRIC_INIT_TIMEOUT)",
                        limit.as_secs_f64()
                    ),
                    other => other.to_string(),
                };
                let tail = logs.tail();
                if !tail.is_empty() {
                    message.push('\n');
                    message.push_str(&tail);
                }
                let error_type = failure.error_type();
                error!(error_type, "init failed: {message}");
                let body = self.body(error_type, &message, "");
                Err(ErrorPost {
                    body,
                    error_type: Some(error_type.into()),
                    xray_cause: None,
                })
            }
        }
    }

    fn interpreter_variable(&self) -> &'static str {
        match self.config.worker {
            WorkerKind::Python { .. } => "FERRIC_PYTHON",
            WorkerKind::Node { .. } => "FERRIC_NODE",
            WorkerKind::Raw { .. } => "the command after --",
        }
    }

    fn log_hints(&self, error_type: &str) {
        if error_type != "Runtime.ImportModuleError" || self.language() != Some(Language::Python) {
            return;
        }
        let suggestions = suggest_python(&self.config.task_root, &self.config.handler);
        if !suggestions.is_empty() {
            warn!(
                "handler {:?} cannot be imported from {}; did you mean {}? (the module path is relative to the task root)",
                self.config.handler,
                self.config.task_root.display(),
                suggestions.join(" or ")
            );
        }
    }

    /// Replace a failed worker, with backoff; give up after [`RESPAWN_ATTEMPTS`].
    async fn respawn(&mut self) -> Result<(), RunError> {
        let mut delay = BACKOFF_START;
        let mut last = String::new();
        for attempt in 1..=RESPAWN_ATTEMPTS {
            match self.start_worker().await {
                Ok(worker) => {
                    info!(pid = worker.pid(), attempt, "replacement worker ready");
                    self.worker = Some(worker);
                    return Ok(());
                }
                Err(post) => {
                    last = String::from_utf8_lossy(&post.body).into_owned();
                    warn!(attempt, "replacement worker failed to start: {last}");
                }
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        Err(RunError::RespawnFailed { last })
    }

    /// Replace a healthy worker between invocations when it reached FERRIC_MAX_INVOCATIONS or
    /// FERRIC_MAX_RSS_MB (like gunicorn's max_requests).
    async fn recycle_if_due(&mut self) {
        let Some(worker) = self.worker.as_ref() else {
            return;
        };
        let (max_inv, max_rss) = (self.config.max_invocations, self.config.max_rss_mb);
        let reason = if max_inv > 0 && worker.invocations >= max_inv {
            format!(
                "it served {} invocations (FERRIC_MAX_INVOCATIONS={max_inv})",
                worker.invocations
            )
        } else if let Some(rss) = (max_rss > 0)
            .then(|| rss_mib(worker.pid()))
            .flatten()
            .filter(|r| *r > max_rss)
        {
            format!("it uses {rss} MiB (FERRIC_MAX_RSS_MB={max_rss})")
        } else {
            return;
        };
        info!(pid = worker.pid(), "replacing the worker: {reason}");
        if let Some(worker) = self.worker.take() {
            worker.shutdown(self.config.kill_grace).await;
        }
    }

    /// `GET /next`, retried with backoff on transport errors and 5xx.
    async fn next_invocation(&self) -> Result<Invocation, RunError> {
        let mut delay = BACKOFF_START;
        let mut attempt = 1;
        loop {
            match self.api.next_invocation().await {
                Ok(inv) => return Ok(inv),
                Err(e) if e.is_transient() && attempt < NEXT_ATTEMPTS => {
                    warn!(attempt, "{e}; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Run one invocation and post exactly one answer for it.
    async fn handle(&mut self, inv: Invocation) -> Result<(), RunError> {
        let received_ms = epoch_ms();
        let deadline = deadline_instant(inv.deadline_ms, self.config.timeout_margin);
        let outcome = match self.worker.as_mut() {
            Some(worker) => {
                let outcome = worker.call(&inv, deadline).await;
                // The handler's log lines go out before its answer (and Lambda's END line).
                worker.drain_logs().await;
                outcome
            }
            None => Err(WorkerFailure::Protocol("no worker is running".into())),
        };
        let posted = match outcome {
            Ok(Answer::Result { content_type, body }) => {
                debug!(request_id = %inv.request_id, bytes = body.len(), "result");
                self.api.post_response(&inv, &content_type, body).await
            }
            Ok(Answer::Error {
                error_type,
                xray_cause,
                body,
            }) => {
                debug!(request_id = %inv.request_id, error_type = error_type.as_deref().unwrap_or(""), "function error");
                self.api
                    .post_error(
                        &inv,
                        ErrorPost {
                            body,
                            error_type: None,
                            xray_cause,
                        },
                    )
                    .await
            }
            Err(failure) => {
                let post = self.fail_worker(&inv, failure, received_ms).await;
                self.api.post_error(&inv, post).await
            }
        };
        match posted? {
            PostOutcome::Accepted => Ok(()),
            PostOutcome::Refused { status, body } => {
                warn!(request_id = %inv.request_id, %status, %body, "the Runtime API refused the answer; it has settled this invocation itself");
                Ok(())
            }
        }
    }

    /// Stop a worker that failed an invocation and describe the failure for `/error`.
    async fn fail_worker(
        &mut self,
        inv: &Invocation,
        failure: WorkerFailure,
        received_ms: u64,
    ) -> ErrorPost {
        let timed_out = matches!(failure, WorkerFailure::TimedOut(_));
        let mut tail = String::new();
        if let Some(mut worker) = self.worker.take() {
            if timed_out {
                worker.dump_stacks().await;
            }
            tail = worker.kill(self.config.kill_grace).await.tail();
        }
        let (error_type, mut message) = if timed_out {
            (
                "Runtime.Timeout",
                timeout_message(received_ms, inv.deadline_ms),
            )
        } else {
            (failure.error_type(), failure.to_string())
        };
        error!(request_id = %inv.request_id, error_type, "{message}");
        if !tail.is_empty() && !timed_out {
            message = format!("{message}\nLast worker output:\n{tail}");
        }
        let message = format!("RequestId: {} Error: {message}", inv.request_id);
        ErrorPost {
            body: self.body(error_type, &message, &inv.request_id),
            error_type: Some(error_type.into()),
            xray_cause: None,
        }
    }
}

/// Run `config.concurrency` supervisors (one worker each) side by side, for Lambda Managed
/// Instances (`AWS_LAMBDA_MAX_CONCURRENCY`): each polls `/next` on its own. The first lane to
/// fail stops the others; a 403 on a second init error is expected (a sibling reported first).
pub async fn run_lanes(
    config: &Config,
    api: &RuntimeApi,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), RunError> {
    if config.concurrency <= 1 {
        let stop = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        return Supervisor::new(config.clone(), api.clone()).run(stop).await;
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut lanes = tokio::task::JoinSet::new();
    for _ in 0..config.concurrency {
        let mut stop = stop_rx.clone();
        let lane = Supervisor::new(config.clone(), api.clone());
        lanes.spawn(lane.run(async move {
            let _ = stop.wait_for(|s| *s).await;
        }));
    }
    let mut first_error = None;
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => { let _ = stop_tx.send(true); }
            done = lanes.join_next() => match done {
                None => break,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => {
                    let _ = stop_tx.send(true);
                    first_error.get_or_insert(e);
                }
                Some(Err(join)) => {
                    let _ = stop_tx.send(true);
                    first_error.get_or_insert(RunError::RespawnFailed { last: join.to_string() });
                }
            },
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Resident memory of a process in MiB, from `/proc/<pid>/status`.
fn rss_mib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_message_uses_whole_seconds() {
        assert_eq!(
            timeout_message(1_000, 4_000),
            "Task timed out after 3.00 seconds"
        );
        assert_eq!(
            timeout_message(1_010, 4_000),
            "Task timed out after 3.00 seconds"
        );
        assert_eq!(
            timeout_message(5_000, 4_000),
            "Task timed out after 1.00 seconds"
        );
    }

    #[test]
    fn reads_own_rss() {
        let rss = rss_mib(std::process::id() as i32).unwrap();
        assert!(rss < 10_000);
        assert_eq!(rss_mib(-1), None);
    }

    #[test]
    fn deadline_in_the_past_is_now() {
        let d = deadline_instant(0, Duration::from_millis(50));
        assert!(d <= Instant::now());
    }
}
