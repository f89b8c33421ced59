//! The real [`Platform`] (the Runtime API client) and [`Workers`] (worker processes started
//! from a [`Launcher`]).

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::{Handle, Platform, Start, Workers};
use crate::handler::{suggest_python, Language};
use crate::lambda::{
    ApiError, ErrorPost, Next, PostOutcome, Posted, ResponseStream, RuntimeApi, Target,
};
use crate::shims::Launcher;
use crate::worker::protocol::Phase;
use crate::worker::{Answer, Hooks, Piece, StartFailure, Started, Worker, WorkerFailure};

impl Platform for RuntimeApi {
    fn next(&self) -> impl Future<Output = Result<Next, ApiError>> + Send {
        RuntimeApi::next(self)
    }

    fn post_response(
        &self,
        target: Target<'_>,
        content_type: &str,
        body: Bytes,
    ) -> impl Future<Output = Result<PostOutcome, ApiError>> + Send {
        RuntimeApi::post_response(self, target, content_type, body)
    }

    fn post_error(
        &self,
        target: Target<'_>,
        post: ErrorPost,
    ) -> impl Future<Output = Result<PostOutcome, ApiError>> + Send {
        RuntimeApi::post_error(self, target, post)
    }

    fn post_init_error(
        &self,
        post: ErrorPost,
    ) -> impl Future<Output = Result<PostOutcome, ApiError>> + Send {
        RuntimeApi::post_init_error(self, post)
    }

    fn post_stream(&self, target: Target<'_>, content_type: &str) -> (ResponseStream, Posted) {
        RuntimeApi::post_stream(self, target, content_type)
    }

    fn restore_next(&self) -> impl Future<Output = Result<(), ApiError>> + Send {
        RuntimeApi::restore_next(self)
    }

    fn post_restore_error(
        &self,
        post: ErrorPost,
    ) -> impl Future<Output = Result<PostOutcome, ApiError>> + Send {
        RuntimeApi::post_restore_error(self, post)
    }
}

/// Worker processes for one lane.
pub struct ProcessWorkers {
    launcher: Launcher,
    init_timeout: Duration,
    /// Set once a worker reported its real interpreter: later starts skip version-manager
    /// shims such as pyenv's.
    resolved: bool,
}

impl ProcessWorkers {
    pub fn new(launcher: Launcher, init_timeout: Duration) -> ProcessWorkers {
        ProcessWorkers {
            launcher,
            init_timeout,
            resolved: false,
        }
    }
}

impl Workers for ProcessWorkers {
    type Worker = Worker;

    async fn start(&mut self) -> Result<Start<Worker>, StartFailure> {
        if let (Err(p), Some(path)) = (self.launcher.check_wrapper(), &self.launcher.wrapper) {
            return Err(StartFailure {
                failure: WorkerFailure::Wrapper {
                    path: path.display().to_string(),
                    problem: p.problem,
                    code: p.code,
                },
                tail: String::new(),
            });
        }
        let spec = self.launcher.spec().map_err(|source| StartFailure {
            failure: WorkerFailure::Spawn {
                program: self.launcher.interpreter.display().to_string(),
                source,
            },
            tail: String::new(),
        })?;
        match Worker::start(&spec, self.init_timeout).await? {
            Started::Ready(worker) => {
                if !self.resolved {
                    if let Some(exe) = worker.executable().filter(|e| e.starts_with('/')) {
                        self.launcher.interpreter = PathBuf::from(exe);
                        self.resolved = true;
                    }
                }
                Ok(Start::Ready(*worker))
            }
            Started::InitError { error_type, body } => Ok(Start::InitError { error_type, body }),
        }
    }

    fn language(&self) -> Option<Language> {
        self.launcher.language()
    }

    fn program_setting(&self) -> &'static str {
        self.launcher.program_setting()
    }

    fn sweep_orphans(&self) {
        let ended = crate::worker::process::kill_orphans();
        if ended > 0 {
            tracing::info!(
                ended,
                "ended processes that had escaped the worker's process group"
            );
        }
    }

    fn init_error_hint(&self, error_type: &str) -> Option<String> {
        if error_type != "Runtime.ImportModuleError" || self.language() != Some(Language::Python) {
            return None;
        }
        let l = &self.launcher;
        let suggestions = suggest_python(&l.task_root, &l.handler);
        (!suggestions.is_empty()).then(|| {
            format!(
                "handler {:?} cannot be imported from {}; did you mean {}? (the module path is relative to the task root)",
                l.handler,
                l.task_root.display(),
                suggestions.join(" or ")
            )
        })
    }
}

impl Handle for Worker {
    fn call<'a>(
        &'a mut self,
        header: &'a [u8],
        body: &'a Bytes,
        request_id: &'a str,
        deadline: Instant,
    ) -> impl Future<Output = Result<Answer, WorkerFailure>> + Send + 'a {
        Worker::call(self, header, body, request_id, deadline)
    }

    fn next_piece<'a>(
        &'a mut self,
        request_id: &'a str,
        deadline: Instant,
    ) -> impl Future<Output = Result<Piece, WorkerFailure>> + Send + 'a {
        Worker::next_piece(self, request_id, deadline)
    }

    fn hooks(
        &mut self,
        phase: Phase,
        limit: Duration,
    ) -> impl Future<Output = Result<Hooks, WorkerFailure>> + Send {
        Worker::hooks(self, phase, limit)
    }

    fn drain_logs(&self) -> impl Future<Output = ()> + Send {
        Worker::drain_logs(self)
    }

    fn dump_stacks(&mut self) -> impl Future<Output = ()> + Send {
        Worker::dump_stacks(self)
    }

    async fn kill(self, grace: Duration) -> String {
        Worker::kill(self, grace).await
    }

    fn shutdown(self, grace: Duration) -> impl Future<Output = ()> + Send {
        Worker::shutdown(self, grace)
    }

    fn invocations(&self) -> u64 {
        Worker::invocations(self)
    }

    fn rss_mib(&self) -> Option<u64> {
        Worker::rss_mib(self)
    }

    fn pid(&self) -> i32 {
        Worker::pid(self)
    }

    fn exited(&mut self) -> impl Future<Output = String> + Send + '_ {
        Worker::exited(self)
    }
}
