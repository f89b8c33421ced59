//! One or more lanes against one Runtime API: `AWS_LAMBDA_MAX_CONCURRENCY` runs that many
//! lanes (one worker each, each polling `/next` on its own, for Lambda Managed Instances).
//!
//! The sandbox registers its graceful-shutdown extension once, whatever the number of lanes
//! (Lambda-like platforms refuse a second registration under the same name), while the first
//! workers start; no lane polls `/next` before the registration has finished.

use tokio::sync::watch;
use tracing::warn;

use super::live::ProcessWorkers;
use super::{Lane, Policy, RunError};
use crate::lambda::RuntimeApi;
use crate::shims::Launcher;

/// The no-op internal extension that makes Lambda send SIGTERM (see RUNTIME_API.md §9).
pub const EXTENSION_NAME: &str = "ferric-graceful-shutdown";

/// Everything the lanes of one sandbox share.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub launcher: Launcher,
    pub init_timeout: std::time::Duration,
    pub policy: Policy,
    pub lanes: usize,
    /// Register [`EXTENSION_NAME`] so that Lambda sends SIGTERM before shutdown.
    pub register_extension: bool,
    /// `--watch`: reload requests for every lane.
    pub reloads: Option<tokio::sync::watch::Receiver<Option<crate::watch::Reload>>>,
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Register the extension in the background; the receiver turns true once that is over.
fn register(api: &RuntimeApi, wanted: bool) -> watch::Receiver<bool> {
    let (done, rx) = watch::channel(!wanted);
    if wanted {
        let api = api.clone();
        tokio::spawn(async move {
            match api.register_extension(EXTENSION_NAME).await {
                Ok(registration) => api.park_extension(registration),
                Err(e) => warn!("could not register the graceful-shutdown extension ({e}); SIGTERM may not be delivered (FERRIC_REGISTER_EXTENSION=0 silences this)"),
            }
            let _ = done.send(true);
        });
    }
    rx
}

impl Sandbox {
    fn lane(&self, api: &RuntimeApi) -> Lane<RuntimeApi, ProcessWorkers> {
        let workers = ProcessWorkers::new(self.launcher.clone(), self.init_timeout);
        let lane = Lane::new(api.clone(), workers, self.policy);
        match &self.reloads {
            Some(reloads) => lane.with_reloads(reloads.clone()),
            None => lane,
        }
    }

    /// Run the lanes until `shutdown` turns true (each finishes its in-flight invocation) or
    /// one of them fails; the first failure stops the others. With several lanes a second init
    /// error is refused with 403 (a sibling reported first): that is expected.
    pub async fn run(
        &self,
        api: &RuntimeApi,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), RunError> {
        let registered = register(api, self.register_extension);
        if self.lanes <= 1 {
            let lane = self.lane(api);
            return lane.run(stopped(registered), stopped(shutdown)).await;
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut lanes = tokio::task::JoinSet::new();
        for _ in 0..self.lanes {
            let lane = self.lane(api);
            lanes.spawn(lane.run(stopped(registered.clone()), stopped(stop_rx.clone())));
        }
        let mut first_error = None;
        let mut stopping = false;
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s), if !stopping => {
                    stopping = true;
                    let _ = stop_tx.send(true);
                }
                done = lanes.join_next() => match done {
                    None => break,
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(e))) => {
                        let _ = stop_tx.send(true);
                        first_error.get_or_insert(e);
                    }
                    Some(Err(join)) => {
                        let _ = stop_tx.send(true);
                        first_error.get_or_insert(RunError::LaneCrashed(join.to_string()));
                    }
                },
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
