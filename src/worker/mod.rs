//! One worker: a [`Channel`] (the frame exchange, in `channel.rs`) plus the process behind it
//! ([`process`]) and its log pump ([`logs`]).
//!
//! The worker runs in its own process group so that the whole tree it starts can be signalled,
//! gets SIGKILL if ferric dies (`PR_SET_PDEATHSIG`), and is killed when its handle is dropped.

mod channel;
pub mod logs;
pub mod process;
pub mod protocol;
pub mod telemetry;

pub use channel::{Answer, Channel, Hello, Hooks, Piece};

use std::process::ExitStatus;
use std::time::Duration;

use bytes::Bytes;
use std::pin::Pin;
use tokio::io::AsyncRead;
use tokio::process::{Child, ChildStdin};

use tokio::time::{timeout, timeout_at, Instant, Sleep};

use crate::lambda::wording::{describe_exit, error_type};
use logs::LogPump;
use process::{kill_group, signal, WorkerSpec};
use protocol::{FrameError, PROTOCOL_VERSION};

/// How long a worker that closed its frame channel gets to exit before that counts as a
/// protocol violation.
const EXIT_WAIT: Duration = Duration::from_millis(500);

/// A broken rule of the protocol.
#[derive(Debug, thiserror::Error)]
pub enum Violation {
    #[error(transparent)]
    Frame(FrameError),
    #[error("the worker speaks protocol version {0}; this ferric speaks {PROTOCOL_VERSION}")]
    Version(u32),
    #[error("expected a ready or init_error frame first, got {0}")]
    FirstFrame(&'static str),
    #[error("unexpected {0} frame during an invocation")]
    Unexpected(&'static str),
    #[error("answer for request id {got:?} while {want:?} was in flight")]
    WrongId { got: String, want: String },
    #[error("the worker closed its frame channel but kept running")]
    ClosedButRunning,
    #[error("the worker closed its frame channel before saying ready")]
    ClosedBeforeReady,
}

/// Why a channel exchange did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("the worker closed its frame channel")]
    Closed,
    #[error(transparent)]
    Violation(Violation),
}

impl From<FrameError> for ChannelError {
    fn from(e: FrameError) -> ChannelError {
        match e {
            FrameError::Closed => ChannelError::Closed,
            other => ChannelError::Violation(Violation::Frame(other)),
        }
    }
}

/// Why a worker failed (at start-up or during a call).
#[derive(Debug, thiserror::Error)]
pub enum WorkerFailure {
    #[error("could not start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", describe_exit(*.0))]
    Exited(ExitStatus),
    /// `AWS_LAMBDA_EXEC_WRAPPER` names no usable program: Lambda's runtimes exit 127 (missing)
    /// or 126 (not executable) here.
    #[error(
        "Runtime exited with error: exit status {code}: AWS_LAMBDA_EXEC_WRAPPER={path} {problem}"
    )]
    Wrapper {
        path: String,
        problem: &'static str,
        code: i32,
    },
    #[error("the worker did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("the worker broke the frame protocol: {0}")]
    Protocol(#[from] Violation),
}

impl WorkerFailure {
    /// The Runtime error type ferric reports for this failure.
    pub fn error_type(&self) -> &'static str {
        match self {
            WorkerFailure::Spawn { .. } => error_type::ENTRYPOINT,
            WorkerFailure::Exited(_) | WorkerFailure::Wrapper { .. } => error_type::EXIT,
            WorkerFailure::TimedOut(_) => error_type::TIMEOUT,
            WorkerFailure::Protocol(_) => error_type::PROTOCOL,
        }
    }
}

type Frames = Box<dyn AsyncRead + Unpin + Send + Sync>;

/// A live worker process that has said `ready`.
pub struct Worker {
    channel: Channel<Frames, ChildStdin>,
    child: Child,
    pid: i32,
    logs: LogPump,
    /// Frames from the worker's telemetry pipe, when ferric has a telemetry descriptor.
    telemetry: Option<LogPump>,
    executable: Option<String>,
    features: Vec<String>,
    invocations: u64,
    /// Its tree was ended by [`Worker::kill`] or [`Worker::shutdown`].
    ended: bool,
    /// The deadline of the call in flight: one timer for the worker's life, moved forward for
    /// each call. A timer registered anew for every call would make tokio's time driver wake
    /// its own thread (an `eventfd` write and an extra `epoll_wait`) each time; moving a
    /// registered timer later is a field update.
    deadline: Pin<Box<Sleep>>,
}

impl Drop for Worker {
    /// A worker dropped without being stopped (its lane ended abruptly) takes its process
    /// group with it.
    fn drop(&mut self) {
        if !self.ended {
            kill_group(self.pid, libc::SIGKILL);
        }
    }
}

/// How starting a worker ended.
pub enum Started {
    Ready(Box<Worker>),
    /// The worker reported a structured init error and exited.
    InitError {
        error_type: String,
        body: Bytes,
    },
}

/// A worker that could not start, with its last log lines.
#[derive(Debug)]
pub struct StartFailure {
    pub failure: WorkerFailure,
    pub tail: String,
}

impl Worker {
    /// Start a worker and wait for its first frame, at most `init_timeout`.
    pub async fn start(spec: &WorkerSpec, init_timeout: Duration) -> Result<Started, StartFailure> {
        let spawned = process::spawn(spec).map_err(|source| StartFailure {
            failure: WorkerFailure::Spawn {
                program: spec.program.display().to_string(),
                source,
            },
            tail: String::new(),
        })?;
        let logs = LogPump::start(spawned.logs).map_err(|source| StartFailure {
            failure: WorkerFailure::Spawn {
                program: spec.program.display().to_string(),
                source,
            },
            tail: String::new(),
        })?;
        let telemetry = match (spawned.telemetry, telemetry::Telemetry::get()) {
            (Some(pipe), Some(t)) => LogPump::start_frames(pipe, t).ok(),
            _ => None,
        };
        let mut worker = Worker {
            channel: Channel::new(spawned.frames, spawned.stdin, spec.max_frame_bytes),
            child: spawned.child,
            pid: spawned.pid,
            logs,
            telemetry,
            executable: None,
            features: Vec::new(),
            invocations: 0,
            ended: false,
            deadline: Box::pin(tokio::time::sleep(Duration::ZERO)),
        };
        let failure = match timeout(init_timeout, worker.channel.hello()).await {
            Ok(Ok(Hello::Ready {
                executable,
                features,
            })) => {
                worker.executable = executable;
                worker.features = features;
                return Ok(Started::Ready(Box::new(worker)));
            }
            Ok(Ok(Hello::InitError { error_type, body })) => {
                // Let it exit on its own (it logs first), but never wait unboundedly.
                let _ = timeout(Duration::from_secs(2), worker.child.wait()).await;
                kill_group(worker.pid, libc::SIGKILL);
                worker.flush_logs().await;
                return Ok(Started::InitError { error_type, body });
            }
            Ok(Err(ChannelError::Closed)) => {
                match timeout(2 * EXIT_WAIT, worker.child.wait()).await {
                    Ok(Ok(status)) => WorkerFailure::Exited(status),
                    _ => Violation::ClosedBeforeReady.into(),
                }
            }
            Ok(Err(ChannelError::Violation(v))) => v.into(),
            Err(_) => WorkerFailure::TimedOut(init_timeout),
        };
        let tail = worker.kill(Duration::from_millis(100)).await;
        Err(StartFailure { failure, tail })
    }

    /// Run one invocation; the worker must answer before `deadline`.
    pub async fn call(
        &mut self,
        header: &[u8],
        body: &Bytes,
        request_id: &str,
        deadline: Instant,
    ) -> Result<Answer, WorkerFailure> {
        self.invocations += 1;
        self.deadline.as_mut().reset(deadline);
        let exchange = self.channel.call(header, body, request_id);
        let answer = tokio::select! {
            biased;
            answer = exchange => answer,
            () = self.deadline.as_mut() => {
                return Err(WorkerFailure::TimedOut(
                    deadline.saturating_duration_since(Instant::now()),
                ));
            }
        };
        match answer {
            Ok(answer) => Ok(answer),
            Err(ChannelError::Closed) => Err(self.closed_failure().await),
            Err(ChannelError::Violation(v)) => Err(v.into()),
        }
    }

    /// The next piece of a streamed response; the worker must deliver it before `deadline`.
    pub async fn next_piece(
        &mut self,
        request_id: &str,
        deadline: Instant,
    ) -> Result<Piece, WorkerFailure> {
        self.deadline.as_mut().reset(deadline);
        let piece = tokio::select! {
            biased;
            piece = self.channel.next_piece(request_id) => piece,
            () = self.deadline.as_mut() => return Err(WorkerFailure::TimedOut(Duration::ZERO)),
        };
        match piece {
            Ok(piece) => Ok(piece),
            Err(ChannelError::Closed) => Err(self.closed_failure().await),
            Err(ChannelError::Violation(v)) => Err(v.into()),
        }
    }

    /// Run one phase of the worker's runtime hooks (none when it does not offer them), within
    /// `limit`.
    pub async fn hooks(
        &mut self,
        phase: protocol::Phase,
        limit: Duration,
    ) -> Result<Hooks, WorkerFailure> {
        if !self.features.iter().any(|f| f == protocol::HOOKS_FEATURE) {
            return Ok(Hooks::Done);
        }
        match timeout(limit, self.channel.hooks(phase)).await {
            Err(_) => Err(WorkerFailure::TimedOut(limit)),
            Ok(Ok(hooks)) => Ok(hooks),
            Ok(Err(ChannelError::Closed)) => Err(self.closed_failure().await),
            Ok(Err(ChannelError::Violation(v))) => Err(v.into()),
        }
    }

    /// The frame channel closed: report the exit status if the worker is gone, else a violation.
    async fn closed_failure(&mut self) -> WorkerFailure {
        match timeout(EXIT_WAIT, self.child.wait()).await {
            Ok(Ok(status)) => WorkerFailure::Exited(status),
            _ => Violation::ClosedButRunning.into(),
        }
    }

    /// Resolves when the worker's process has exited, with words for how (cancel-safe).
    pub async fn exited(&mut self) -> String {
        match self.child.wait().await {
            Ok(status) => describe_exit(status),
            Err(e) => format!("its status cannot be read: {e}"),
        }
    }

    /// Forward the log output the worker has written so far (it flushed it before answering).
    pub async fn drain_logs(&self) {
        self.logs.drain().await;
        if let Some(t) = &self.telemetry {
            t.drain().await;
        }
    }

    /// Wait until both log pipes are forwarded to their end (after the worker exited).
    async fn flush_logs(&self) {
        self.logs.flush().await;
        if let Some(t) = &self.telemetry {
            t.flush().await;
        }
    }

    /// The worker's last log lines: its stdout/stderr, then its telemetry records.
    fn log_tail(&self) -> String {
        let mut tail = self.logs.tail();
        if let Some(t) = self
            .telemetry
            .as_ref()
            .map(LogPump::tail)
            .filter(|t| !t.is_empty())
        {
            if !tail.is_empty() {
                tail.push('\n');
            }
            tail.push_str(&t);
        }
        tail
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// How many invocations this worker was given.
    pub fn invocations(&self) -> u64 {
        self.invocations
    }

    /// The interpreter the worker reported, for respawns without a version-manager shim.
    pub fn executable(&self) -> Option<&str> {
        self.executable.as_deref()
    }

    /// Resident memory in MiB, when readable.
    pub fn rss_mib(&self) -> Option<u64> {
        process::rss_mib(self.pid)
    }

    /// Ask the worker to dump its threads' stacks (the Python shim registers faulthandler on
    /// SIGUSR2), then give it a moment to write them.
    pub async fn dump_stacks(&mut self) {
        signal(self.pid, libc::SIGUSR2);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// Stop a worker that misbehaved: SIGTERM to its group, `grace`, then SIGKILL. Returns its
    /// last log lines (its pipes drained to the end), for the report.
    pub async fn kill(mut self, grace: Duration) -> String {
        // Children that left the group (setsid) are still the worker's: note them now.
        let escaped = process::descendants(self.pid);
        kill_group(self.pid, libc::SIGTERM);
        if timeout(grace, self.child.wait()).await.is_err() {
            kill_group(self.pid, libc::SIGKILL);
            let _ = timeout(Duration::from_secs(5), self.child.wait()).await;
        }
        self.end(&escaped);
        self.flush_logs().await;
        self.log_tail()
    }

    /// After the worker exited: SIGKILL what is left of its tree (its group, and the
    /// descendants that had left the group), and stop treating its pid as a worker's.
    fn end(&mut self, escaped: &[i32]) {
        self.ended = true;
        kill_group(self.pid, libc::SIGKILL);
        process::forget_worker(self.pid);
        process::kill_all(escaped);
    }

    /// Graceful stop: the shutdown frame (the worker runs its exit hooks), then SIGKILL to the
    /// process group if it has not exited within `grace`. Lambda allows a runtime only a few
    /// hundred milliseconds after SIGTERM, so there is no second, SIGTERM stage here.
    pub async fn shutdown(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let escaped = process::descendants(self.pid);
        let _ = timeout_at(deadline, self.channel.send_shutdown()).await;
        let exited = timeout_at(deadline, self.child.wait()).await.is_ok();
        // Also ends anything the worker left behind in its group.
        kill_group(self.pid, libc::SIGKILL);
        if !exited {
            let _ = timeout(Duration::from_secs(1), self.child.wait()).await;
        }
        self.end(&escaped);
        self.flush_logs().await;
    }
}
