//! SnapStart's lifecycle (`AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`): after init the worker
//! runs its before-snapshot hooks, ferric waits on `GET /runtime/restore/next` (the snapshot is
//! taken meanwhile, and the call returns in a restored sandbox), then the worker runs its
//! after-restore hooks, and the normal loop begins. A failed hook is reported the way the peers
//! report it: before the snapshot on `/init/error` (`Runtime.BeforeSnapshotError`, ferric exits
//! 64), after the restore on `/restore/error` (`Runtime.AfterRestoreError`, exit 65).

use tracing::{error, info};

use super::report;
use super::{Handle, Lane, Platform, RunError, Workers};
use crate::lambda::{ErrorPost, PostOutcome};
use crate::worker::protocol::Phase;
use crate::worker::{Hooks, WorkerFailure};

/// The error type each phase's failures are reported with.
fn error_type(phase: Phase) -> &'static str {
    match phase {
        Phase::BeforeSnapshot => "Runtime.BeforeSnapshotError",
        Phase::AfterRestore => "Runtime.AfterRestoreError",
    }
}

impl<P: Platform, L: Workers> Lane<P, L> {
    /// Take the first worker through the snapshot and the restore.
    pub(super) async fn snapshot(&mut self, worker: L::Worker) -> Result<L::Worker, RunError> {
        let worker = self.phase(worker, Phase::BeforeSnapshot).await?;
        info!("SnapStart: before-snapshot hooks done; waiting for the restore");
        if let Err(e) = self.platform.restore_next().await {
            // As awslambdaric: a failed wait for the restore is a before-snapshot failure.
            worker.shutdown(self.policy.kill_grace).await;
            error!("SnapStart: waiting for the restore failed: {e}");
            let kind = error_type(Phase::BeforeSnapshot);
            let message = format!("GET /runtime/restore/next failed: {e}");
            let post = ErrorPost {
                body: crate::lambda::wording::error_body(
                    self.workers.language(),
                    kind,
                    &message,
                    "",
                ),
                error_type: Some(kind.into()),
                xray_cause: None,
            };
            self.platform.post_init_error(post).await?;
            return Err(RunError::Hooks {
                phase: Phase::BeforeSnapshot,
                error_type: kind.into(),
            });
        }
        let worker = self.phase(worker, Phase::AfterRestore).await?;
        info!("SnapStart: restored; after-restore hooks done");
        Ok(worker)
    }

    async fn phase(&mut self, mut worker: L::Worker, phase: Phase) -> Result<L::Worker, RunError> {
        let post = match worker.hooks(phase, self.policy.hook_timeout).await {
            Ok(Hooks::Done) => return Ok(worker),
            Ok(Hooks::Failed { body, .. }) => {
                worker.shutdown(self.policy.kill_grace).await;
                ErrorPost {
                    body,
                    error_type: Some(error_type(phase).into()),
                    xray_cause: None,
                }
            }
            Err(failure) => {
                let tail = worker.kill(self.policy.kill_grace).await;
                self.hook_failure(phase, &failure, &tail)
            }
        };
        error!(phase = phase.name(), "SnapStart hooks failed");
        let posted = match phase {
            Phase::BeforeSnapshot => self.platform.post_init_error(post).await?,
            Phase::AfterRestore => self.platform.post_restore_error(post).await?,
        };
        if let PostOutcome::Refused { status, body } = posted {
            tracing::warn!(%status, %body, "the Runtime API refused the hook error");
        }
        Err(RunError::Hooks {
            phase,
            error_type: error_type(phase).into(),
        })
    }

    /// The report for a worker that died or hung in its hooks.
    fn hook_failure(&self, phase: Phase, failure: &WorkerFailure, tail: &str) -> ErrorPost {
        let mut post = report::start_failure(
            self.workers.language(),
            failure,
            tail,
            self.workers.program_setting(),
        );
        post.error_type = Some(error_type(phase).into());
        post
    }
}
