//! The runtime loop of one lane: init (start a worker, report init errors), then
//! `next → worker → post`, replacing workers that fail, until shutdown. [`lanes`] runs one or
//! more lanes against one Runtime API.
//!
//! Invariant: every invocation taken from `/next` gets exactly one `/response` or `/error`
//! post, whatever the worker does.
//!
//! The lane talks to the platform through [`Platform`] and starts workers through [`Workers`]
//! (both in `seams.rs`),
//! so its policy (backoff, recycling, shutdown order, refused posts) is unit-tested over fakes
//! with paused time; [`live`] has the real implementations.

pub mod lanes;
pub mod live;
mod reload;
mod report;
mod seams;
mod slot;
mod snapstart;
mod stream;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::handler::Language;
use crate::lambda::invocation::{epoch_ms, Invocation};
use crate::lambda::{ApiError, ErrorPost, Next, PostOutcome, Target};
use crate::worker::protocol::Phase;
use crate::worker::protocol::{encode_invoke_header, InvokeFrame};
use crate::worker::{Answer, StartFailure, WorkerFailure};
use reload::Waited;
pub use seams::{Handle, Platform, Start, Workers};
pub use slot::Recycling;
use slot::{Slot, Vacancy};

/// How many times `/next` is tried before ferric gives up (transport errors only).
const NEXT_ATTEMPTS: u32 = 5;
/// Start attempts for a replacement worker before ferric exits so Lambda resets the sandbox.
pub const RESPAWN_ATTEMPTS: u32 = 5;
const BACKOFF_START: Duration = Duration::from_millis(100);
/// How long anything may take under `--debug` (a person is stepping through it).
pub const DEBUG_PATIENCE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a lane stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("init failed ({error_type}); reported to the Runtime API")]
    InitFailed { error_type: String },
    #[error("could not replace a failed worker after {RESPAWN_ATTEMPTS} attempts: {last}")]
    RespawnFailed { last: String },
    #[error("a lane stopped unexpectedly: {0}")]
    LaneCrashed(String),
    /// A SnapStart runtime hook failed (reported to the Runtime API).
    #[error("the {} hooks failed ({error_type}); reported to the Runtime API", phase.name())]
    Hooks { phase: Phase, error_type: String },
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// What a lane needs to know beyond its platform and workers.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// ferric answers this long before an invocation's deadline when the worker has not.
    pub timeout_margin: Duration,
    /// How long a worker gets to exit after its shutdown frame or SIGTERM.
    pub kill_grace: Duration,
    pub recycling: Recycling,
    /// Whether to end every orphan ferric adopted whenever a worker ends. Right with one lane,
    /// where every orphan comes from that lane's worker; with several lanes an orphan cannot be
    /// traced to its worker, so they are ended when ferric stops.
    pub sweep_orphans: bool,
    /// SnapStart (`AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`): run the before-snapshot hooks,
    /// wait for `/restore/next`, run the after-restore hooks, then serve.
    pub snap_start: bool,
    /// How long one phase of runtime hooks may take.
    pub hook_timeout: Duration,
    /// `--debug`: a worker stopped at a breakpoint is never killed for its deadline.
    pub debug: bool,
}

/// One worker at a time, polling `/next` on its own.
pub struct Lane<P, L> {
    platform: P,
    workers: L,
    policy: Policy,
    /// `--watch`: reload requests.
    reloads: Option<tokio::sync::watch::Receiver<Option<crate::watch::Reload>>>,
}

impl<P: Platform, L: Workers> Lane<P, L> {
    pub fn new(platform: P, workers: L, policy: Policy) -> Self {
        Lane {
            platform,
            workers,
            policy,
            reloads: None,
        }
    }

    /// Run until `shutdown` resolves (then finish the in-flight invocation and stop the
    /// worker) or a fatal error. `ready_to_poll` resolves when the lane may call `/next` (every
    /// extension has registered); the first worker starts meanwhile.
    pub async fn run(
        mut self,
        ready_to_poll: impl Future<Output = ()>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RunError> {
        let (first, ()) = tokio::join!(self.init(), ready_to_poll);
        let mut first = first?;
        if self.policy.snap_start {
            first = self.snapshot(first).await?;
        }
        let mut slot = Slot::Ready(first);
        tokio::pin!(shutdown);
        loop {
            slot = match slot {
                Slot::Vacant(why) => Slot::Ready(self.replace(why).await?),
                waiting => match self.wait(waiting, &mut shutdown).await {
                    Waited::Shutdown(slot) => {
                        slot.stop(self.policy.kill_grace).await;
                        return Ok(());
                    }
                    Waited::Next(slot, Ok(next)) => self.serve(slot, next).await?,
                    Waited::Next(slot, Err(e)) => {
                        slot.stop(self.policy.kill_grace).await;
                        return Err(e);
                    }
                    Waited::Failed(e) => return Err(e),
                },
            };
        }
    }

    /// Start the first worker; report an init failure and return `InitFailed`.
    async fn init(&mut self) -> Result<L::Worker, RunError> {
        let started = Instant::now();
        let post = match self.workers.start().await {
            Ok(Start::Ready(worker)) => {
                let elapsed_ms = started.elapsed().as_millis() as u64;
                info!(pid = worker.pid(), elapsed_ms, "worker ready");
                return Ok(worker);
            }
            Ok(Start::InitError { error_type, body }) => {
                if let Some(hint) = self.workers.init_error_hint(&error_type) {
                    warn!("{hint}");
                }
                ErrorPost {
                    body,
                    error_type: Some(error_type),
                    xray_cause: None,
                }
            }
            Err(StartFailure { failure, tail }) => {
                let post = report::start_failure(
                    self.workers.language(),
                    &failure,
                    &tail,
                    self.workers.program_setting(),
                );
                error!(error_type = failure.error_type(), "init failed: {failure}");
                post
            }
        };
        let error_type = post.error_type.clone().unwrap_or_default();
        match self.platform.post_init_error(post).await? {
            PostOutcome::Accepted => {}
            // 403 with several lanes: a sibling reported first.
            PostOutcome::Refused { status, body } => {
                warn!(%status, %body, "the Runtime API refused the init error")
            }
        }
        Err(RunError::InitFailed { error_type })
    }

    /// Fill a vacant slot, with backoff; give up after [`RESPAWN_ATTEMPTS`].
    async fn replace(&mut self, why: Vacancy) -> Result<L::Worker, RunError> {
        if let Vacancy::Recycled(reason) = &why {
            info!("replacing the worker: {reason}");
        }
        let mut delay = BACKOFF_START;
        let mut last = String::new();
        for attempt in 1..=RESPAWN_ATTEMPTS {
            match self.workers.start().await {
                Ok(Start::Ready(worker)) => {
                    info!(pid = worker.pid(), attempt, "replacement worker ready");
                    return Ok(worker);
                }
                Ok(Start::InitError { error_type, body }) => {
                    last = format!("{error_type}: {}", String::from_utf8_lossy(&body));
                }
                Err(StartFailure { failure, tail }) => {
                    last = failure.to_string();
                    if !tail.is_empty() {
                        last = format!("{last}\n{tail}");
                    }
                }
            }
            warn!(attempt, "replacement worker failed to start: {last}");
            if attempt < RESPAWN_ATTEMPTS {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
        Err(RunError::RespawnFailed { last })
    }

    /// Answer one `/next`: exactly one post, whatever happens.
    async fn serve(
        &mut self,
        slot: Slot<L::Worker>,
        next: Next,
    ) -> Result<Slot<L::Worker>, RunError> {
        let worker = match slot {
            Slot::Ready(worker) => worker,
            Slot::Broken(post) => return self.answer_broken(post, next).await,
            vacant @ Slot::Vacant(_) => return Ok(vacant),
        };
        let (inv, header) = match next {
            Next::Malformed {
                request_id,
                invocation_id,
                reason,
            } => {
                let target = Target {
                    request_id: &request_id,
                    invocation_id: invocation_id.as_deref(),
                };
                let refused = self.refuse(target, &reason).await;
                return self.keep(worker, refused).await;
            }
            Next::Invocation(inv) => match encode_invoke_header(&invoke_frame(&inv)) {
                Ok(header) => (inv, header),
                Err(e) => {
                    let refused = self.refuse(target(&inv), &e.to_string()).await;
                    return self.keep(worker, refused).await;
                }
            },
        };
        let slot = self.call(worker, &inv, &header).await?;
        Ok(match slot {
            Slot::Ready(worker) => match self.policy.recycling.due(&worker) {
                Some(reason) => {
                    worker.shutdown(self.policy.kill_grace).await;
                    self.sweep();
                    Slot::Vacant(Vacancy::Recycled(reason))
                }
                None => Slot::Ready(worker),
            },
            vacant => vacant,
        })
    }

    /// The worker stays after a post that did not involve it, unless the post was fatal: then
    /// the worker is stopped before the lane ends.
    async fn keep(
        &self,
        worker: L::Worker,
        posted: Result<(), RunError>,
    ) -> Result<Slot<L::Worker>, RunError> {
        match posted {
            Ok(()) => Ok(Slot::Ready(worker)),
            Err(e) => {
                worker.shutdown(self.policy.kill_grace).await;
                Err(e)
            }
        }
    }

    /// Answer an invocation ferric cannot hand to a worker.
    async fn refuse(&self, target: Target<'_>, reason: &str) -> Result<(), RunError> {
        warn!(
            request_id = target.request_id,
            "cannot run this invocation: {reason}"
        );
        let post = report::invalid_invocation(self.workers.language(), target.request_id, reason);
        let posted = self.platform.post_error(target, post).await?;
        self.settled(target, posted);
        Ok(())
    }

    async fn call(
        &mut self,
        mut worker: L::Worker,
        inv: &Invocation,
        header: &[u8],
    ) -> Result<Slot<L::Worker>, RunError> {
        let received_ms = epoch_ms();
        let budget = Duration::from_millis(inv.deadline_ms.saturating_sub(received_ms));
        let deadline = match self.policy.debug {
            // Stopped at a breakpoint, the handler would miss any deadline: under --debug the
            // context still counts down, but nothing is killed.
            true => Instant::now() + DEBUG_PATIENCE,
            false => Instant::now() + budget.saturating_sub(self.policy.timeout_margin),
        };
        let outcome = worker
            .call(header, &inv.body, &inv.request_id, deadline)
            .await;
        if let Ok(Answer::Stream { content_type }) = outcome {
            return self
                .stream(worker, inv, &content_type, deadline, budget)
                .await;
        }
        // The handler's log lines go out before its answer (and Lambda's END line).
        worker.drain_logs().await;
        let target = target(inv);
        let (posted, slot) = match outcome {
            Ok(answer) => (self.post_answer(target, answer).await, Slot::Ready(worker)),
            Err(failure) => {
                let post = self.fail(worker, inv, &failure, budget).await;
                let posted = self.platform.post_error(target, post).await;
                (posted, Slot::Vacant(Vacancy::Failed))
            }
        };
        self.conclude(target, posted, slot).await
    }

    /// The end of an invocation: a refused post is logged; a fatal one stops the lane (and the
    /// worker with it).
    async fn conclude(
        &self,
        target: Target<'_>,
        posted: Result<PostOutcome, ApiError>,
        slot: Slot<L::Worker>,
    ) -> Result<Slot<L::Worker>, RunError> {
        match posted {
            Ok(posted) => {
                self.settled(target, posted);
                Ok(slot)
            }
            Err(e) => {
                if let Slot::Ready(worker) = slot {
                    worker.shutdown(self.policy.kill_grace).await;
                }
                Err(e.into())
            }
        }
    }

    /// Post what the worker answered.
    async fn post_answer(
        &self,
        target: Target<'_>,
        answer: Answer,
    ) -> Result<PostOutcome, ApiError> {
        match answer {
            // Handled by the caller before it gets here.
            Answer::Stream { .. } => unreachable!("streamed answers are posted as streams"),
            Answer::Result { content_type, body } => {
                debug!(request_id = target.request_id, bytes = body.len(), "result");
                self.platform
                    .post_response(target, &content_type, body)
                    .await
            }
            Answer::Error {
                error_type,
                xray_cause,
                body,
            } => {
                let kind = error_type.as_deref().unwrap_or("");
                debug!(
                    request_id = target.request_id,
                    error_type = kind,
                    "function error"
                );
                // awslambdaric and aws-lambda-ric send no error-type header for handler errors;
                // aws_lambda_ric (Ruby) does (`Function<ArgumentError>`).
                let ruby = self.workers.language() == Some(Language::Ruby);
                let post = ErrorPost {
                    body,
                    error_type: error_type.filter(|_| ruby),
                    xray_cause,
                };
                self.platform.post_error(target, post).await
            }
        }
    }

    /// End a worker that failed an invocation; the post that reports it.
    async fn fail(
        &self,
        mut worker: L::Worker,
        inv: &Invocation,
        failure: &WorkerFailure,
        budget: Duration,
    ) -> ErrorPost {
        if matches!(failure, WorkerFailure::TimedOut(_)) {
            worker.dump_stacks().await;
        }
        let tail = worker.kill(self.policy.kill_grace).await;
        self.sweep();
        error!(request_id = %inv.request_id, error_type = failure.error_type(), "{failure}");
        report::invocation_failure(
            self.workers.language(),
            &inv.request_id,
            failure,
            budget,
            &tail,
        )
    }

    fn sweep(&self) {
        if self.policy.sweep_orphans {
            self.workers.sweep_orphans();
        }
    }

    fn settled(&self, target: Target<'_>, posted: PostOutcome) {
        if let PostOutcome::Refused { status, body } = posted {
            warn!(request_id = target.request_id, %status, %body, "the Runtime API refused the answer; it has settled this invocation itself");
        }
    }
}

pub(crate) fn target(inv: &Invocation) -> Target<'_> {
    Target {
        request_id: &inv.request_id,
        invocation_id: inv.invocation_id.as_deref(),
    }
}

/// `GET /next`, retried with backoff on transport errors. It owns its platform handle, so it
/// can stay pending while the lane does other things (replacing a worker under `--watch`).
async fn next_with_retry<P: Platform>(platform: P) -> Result<Next, RunError> {
    let mut delay = BACKOFF_START;
    let mut attempt = 1;
    loop {
        match platform.next().await {
            Ok(next) => return Ok(next),
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

fn invoke_frame(inv: &Invocation) -> InvokeFrame<'_> {
    InvokeFrame {
        kind: "invoke",
        id: &inv.request_id,
        deadline_ms: inv.deadline_ms,
        arn: &inv.invoked_function_arn,
        trace_id: inv.trace_id.as_deref(),
        client_context: inv.client_context.as_deref(),
        cognito_identity: inv.cognito_identity.as_deref(),
        tenant_id: inv.tenant_id.as_deref(),
        content_type: &inv.content_type,
        len: inv.body.len(),
    }
}
