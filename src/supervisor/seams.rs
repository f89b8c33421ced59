//! What a lane works with, as traits: the Runtime API ([`Platform`]), a way to start workers
//! ([`Workers`]) and a started worker ([`Handle`]). [`super::live`] has the real ones; the
//! supervisor's tests have fakes.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::handler::Language;
use crate::lambda::{ApiError, ErrorPost, Next, PostOutcome, Posted, ResponseStream, Target};
use crate::worker::protocol::Phase;
use crate::worker::{Answer, Hooks, Piece, StartFailure, WorkerFailure};

/// The Runtime API as a lane uses it.
pub trait Platform: Clone + Send + Sync + 'static {
    fn next(&self) -> impl Future<Output = Result<Next, ApiError>> + Send;
    fn post_response(
        &self,
        target: Target<'_>,
        content_type: &str,
        body: Bytes,
    ) -> impl Future<Output = Result<PostOutcome, ApiError>> + Send;
    fn post_error(
        &self,
        target: Target<'_>,
        post: ErrorPost,
    ) -> impl Future<Output = Result<PostOutcome, ApiError>> + Send;
    fn post_init_error(
        &self,
        post: ErrorPost,
    ) -> impl Future<Output = Result<PostOutcome, ApiError>> + Send;
    /// A streamed response: chunks go into the stream; the future (polled meanwhile) is the
    /// platform's answer once it ended.
    fn post_stream(&self, target: Target<'_>, content_type: &str) -> (ResponseStream, Posted);
    /// SnapStart: wait until the snapshot is restored.
    fn restore_next(&self) -> impl Future<Output = Result<(), ApiError>> + Send;
    fn post_restore_error(
        &self,
        post: ErrorPost,
    ) -> impl Future<Output = Result<PostOutcome, ApiError>> + Send;
}

/// How a worker's start ended.
pub enum Start<W> {
    Ready(W),
    /// The worker reported a structured init error (and exited).
    InitError {
        error_type: String,
        body: Bytes,
    },
}

/// Starts workers for a lane.
pub trait Workers: Send + 'static {
    type Worker: Handle;
    fn start(&mut self) -> impl Future<Output = Result<Start<Self::Worker>, StartFailure>> + Send;
    /// The flavour of ferric's own error bodies (raw workers: none).
    fn language(&self) -> Option<Language>;
    /// Where the user points ferric at the worker's program, for messages.
    fn program_setting(&self) -> &'static str;
    /// A hint for the log next to an init error ("did you mean handler.handler?").
    fn init_error_hint(&self, error_type: &str) -> Option<String>;
    /// End what escaped the workers' process groups and outlived them (see
    /// [`super::Policy::sweep_orphans`]).
    fn sweep_orphans(&self);
}

/// A running worker as a lane uses it.
pub trait Handle: Send + 'static {
    fn call<'a>(
        &'a mut self,
        header: &'a [u8],
        body: &'a Bytes,
        request_id: &'a str,
        deadline: Instant,
    ) -> impl Future<Output = Result<Answer, WorkerFailure>> + Send + 'a;
    /// The next piece of a streamed response.
    fn next_piece<'a>(
        &'a mut self,
        request_id: &'a str,
        deadline: Instant,
    ) -> impl Future<Output = Result<Piece, WorkerFailure>> + Send + 'a;
    /// Run one phase of SnapStart's runtime hooks (Done at once if the worker has none).
    fn hooks(
        &mut self,
        phase: Phase,
        limit: Duration,
    ) -> impl Future<Output = Result<Hooks, WorkerFailure>> + Send;
    /// Forward what the worker logged so far (its lines precede its answer).
    fn drain_logs(&self) -> impl Future<Output = ()> + Send;
    /// Ask a worker past its deadline to dump its stacks into the log.
    fn dump_stacks(&mut self) -> impl Future<Output = ()> + Send;
    /// Kill a failed worker; its last log lines.
    fn kill(self, grace: Duration) -> impl Future<Output = String> + Send;
    /// Stop a healthy worker (exit hooks run).
    fn shutdown(self, grace: Duration) -> impl Future<Output = ()> + Send;
    fn invocations(&self) -> u64;
    fn rss_mib(&self) -> Option<u64>;
    fn pid(&self) -> i32;
    /// Resolves, with words for how, when the worker's process has exited (cancel-safe).
    fn exited(&mut self) -> impl Future<Output = String> + Send + '_;
}
