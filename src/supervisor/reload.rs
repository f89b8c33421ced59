//! Waiting for `/next`, and `--watch`'s reloads while waiting: the worker is replaced between
//! invocations (an invocation in flight always finishes on the code it started with), while
//! the `/next` request stays pending, so no invocation can be lost to the swap. A replacement
//! that cannot load is reported at once and leaves the slot [`Slot::Broken`]: invocations get
//! its init error until the next edit.

use std::future::Future;
use std::pin::Pin;

use tokio::time::Instant;
use tracing::{error, info, warn};

use super::slot::Slot;
use super::{next_with_retry, report, target, Handle, Lane, Platform, RunError, Start, Workers};
use crate::lambda::{ErrorPost, Next};
use crate::watch::Reload;

/// How waiting for the next invocation ended. (Short-lived and moved once: the size
/// difference between its variants does not matter.)
#[allow(clippy::large_enum_variant)]
pub(super) enum Waited<W> {
    Shutdown(Slot<W>),
    Next(Slot<W>, Result<Next, RunError>),
    /// The worker died between invocations and no replacement would start.
    Failed(RunError),
}

#[allow(clippy::large_enum_variant)]
enum Event {
    Shutdown,
    Next(Result<Next, RunError>),
    Reload,
    /// The worker exited on its own between invocations (e.g. right after answering).
    Exited(String),
}

type Reloads = tokio::sync::watch::Receiver<Option<Reload>>;

impl<P: Platform, L: Workers> Lane<P, L> {
    /// Replace the worker whenever `reloads` says a source file changed (`--watch`).
    pub fn with_reloads(mut self, reloads: Reloads) -> Self {
        self.reloads = Some(reloads);
        self
    }

    /// Wait for `/next` from a ready or broken slot, reloading it meanwhile when asked.
    pub(super) async fn wait(
        &mut self,
        mut slot: Slot<L::Worker>,
        shutdown: &mut Pin<&mut impl Future<Output = ()>>,
    ) -> Waited<L::Worker> {
        let next = next_with_retry(self.platform.clone());
        tokio::pin!(next);
        loop {
            let event = {
                let reloaded = changed(self.reloads.as_mut());
                let exited = exited(&mut slot);
                tokio::select! {
                    biased;
                    _ = shutdown.as_mut() => Event::Shutdown,
                    how = exited => Event::Exited(how),
                    next = &mut next => Event::Next(next),
                    () = reloaded => Event::Reload,
                }
            };
            match event {
                Event::Shutdown => return Waited::Shutdown(slot),
                Event::Next(next) => return Waited::Next(slot, next),
                Event::Reload => slot = self.reload(slot).await,
                Event::Exited(how) => match self.replace_exited(slot, &how).await {
                    Ok(fresh) => slot = fresh,
                    Err(e) => return Waited::Failed(e),
                },
            }
        }
    }

    /// A worker that exited while idle is replaced before the next invocation reaches it, so
    /// that invocation does not pay for a death it did not cause.
    async fn replace_exited(
        &mut self,
        slot: Slot<L::Worker>,
        how: &str,
    ) -> Result<Slot<L::Worker>, RunError> {
        warn!("the worker exited between invocations ({how}); starting a new one");
        // Its output already reached the log as it was written: it is not repeated here.
        if let Slot::Ready(worker) = slot {
            let _ = worker.kill(self.policy.kill_grace).await;
        }
        self.sweep();
        Ok(Slot::Ready(
            self.replace(super::slot::Vacancy::Failed).await?,
        ))
    }

    /// Replace whatever is in the slot with a worker running the current code.
    async fn reload(&mut self, slot: Slot<L::Worker>) -> Slot<L::Worker> {
        let Some(reload) = self
            .reloads
            .as_mut()
            .and_then(|r| r.borrow_and_update().clone())
        else {
            return slot;
        };
        info!(file = %reload.path.display(), "changed: reloading the worker");
        slot.stop(self.policy.kill_grace).await;
        self.sweep();
        let started = Instant::now();
        match self.workers.start().await {
            Ok(Start::Ready(worker)) => {
                let ready_ms = started.elapsed().as_millis() as u64;
                let since_save_ms = reload.at.elapsed().as_millis() as u64;
                info!(
                    pid = worker.pid(),
                    ready_ms, since_save_ms, "reloaded: the new worker is ready"
                );
                Slot::Ready(worker)
            }
            Ok(Start::InitError { error_type, body }) => {
                if let Some(hint) = self.workers.init_error_hint(&error_type) {
                    warn!("{hint}");
                }
                error!(error_type, "the edited code does not load; invocations get this init error until the next edit");
                Slot::Broken(ErrorPost {
                    body,
                    error_type: Some(error_type),
                    xray_cause: None,
                })
            }
            Err(failure) => {
                let post = report::start_failure(
                    self.workers.language(),
                    &failure.failure,
                    &failure.tail,
                    self.workers.program_setting(),
                );
                error!("the reloaded worker could not start: {}", failure.failure);
                Slot::Broken(post)
            }
        }
    }

    /// Answer an invocation while the code does not load: with its init error.
    pub(super) async fn answer_broken(
        &self,
        post: ErrorPost,
        next: Next,
    ) -> Result<Slot<L::Worker>, RunError> {
        let posted = match &next {
            Next::Invocation(inv) => self.platform.post_error(target(inv), post.clone()).await,
            Next::Malformed {
                request_id,
                invocation_id,
                ..
            } => {
                let t = crate::lambda::Target {
                    request_id,
                    invocation_id: invocation_id.as_deref(),
                };
                self.platform.post_error(t, post.clone()).await
            }
        };
        posted?;
        Ok(Slot::Broken(post))
    }
}

/// Resolves when the slot's worker has exited (never for a slot without one).
async fn exited<W: Handle>(slot: &mut Slot<W>) -> String {
    match slot {
        Slot::Ready(worker) => worker.exited().await,
        _ => std::future::pending().await,
    }
}

/// Resolves when `reloads` has a new request (never when there are no reloads).
async fn changed(reloads: Option<&mut Reloads>) {
    if let Some(r) = reloads {
        if r.changed().await.is_ok() {
            return;
        }
    }
    std::future::pending().await
}
