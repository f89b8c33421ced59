//! The state of a lane's worker between invocations, owned by the lane's loop alone.
//!
//! A lane only ever asks `/next` from [`Slot::Ready`], so there is no "no worker is running"
//! case to handle while an invocation is in flight: a failed or recycled worker makes the slot
//! [`Slot::Vacant`], and the loop fills it before polling again.

use std::time::Duration;

use super::Handle;
use crate::lambda::ErrorPost;

/// A lane's worker, between invocations.
pub enum Slot<W> {
    /// A worker that said ready and answered everything it was given.
    Ready(W),
    /// No worker: a replacement starts before the next `/next`.
    Vacant(Vacancy),
    /// `--watch`: the code as last edited does not load. Every invocation is answered with this
    /// init error until the next edit reloads it.
    Broken(ErrorPost),
}

impl<W: Handle> Slot<W> {
    /// Stop whatever runs in the slot (the lane is ending).
    pub async fn stop(self, grace: Duration) {
        if let Slot::Ready(worker) = self {
            worker.shutdown(grace).await;
        }
    }
}

/// Why the slot is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vacancy {
    /// The worker failed an invocation and was killed.
    Failed,
    /// The worker was healthy but reached a recycling limit and was shut down.
    Recycled(String),
}

/// When a healthy worker is replaced (like gunicorn's `max_requests`); 0 turns a limit off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recycling {
    pub max_invocations: u64,
    pub max_rss_mb: u64,
}

impl Recycling {
    /// Why `worker` should be replaced now, if it should.
    pub fn due<W: Handle>(&self, worker: &W) -> Option<String> {
        let served = worker.invocations();
        if self.max_invocations > 0 && served >= self.max_invocations {
            return Some(format!(
                "it served {served} invocations (FERRIC_MAX_INVOCATIONS={})",
                self.max_invocations
            ));
        }
        if self.max_rss_mb == 0 {
            return None;
        }
        let rss = worker.rss_mib().filter(|r| *r > self.max_rss_mb)?;
        Some(format!(
            "it uses {rss} MiB (FERRIC_MAX_RSS_MB={})",
            self.max_rss_mb
        ))
    }
}
