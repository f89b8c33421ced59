//! One worker process: spawn, handshake, one call at a time under a deadline, terminate.
//!
//! The worker runs in its own process group so that the whole tree it starts can be signalled,
//! gets SIGKILL if ferric dies (`PR_SET_PDEATHSIG`), and is killed when its handle is dropped.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::time::{timeout, timeout_at, Instant};

use crate::frames::{FrameError, FrameReader};
use crate::invocation::Invocation;
use crate::logs::LogPump;
use crate::protocol::{self, WorkerFrame, PROTOCOL_VERSION};

/// Where the worker writes frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameChannel {
    /// The worker's stdout (the Python shim protects it with `dup2`).
    Stdout,
    /// An extra pipe on fd 3; stdout and stderr both go to the log pipe.
    Fd3,
}

/// How to start a worker.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub channel: FrameChannel,
    pub max_frame_bytes: usize,
}

/// A live worker that has said `ready`.
pub struct Worker {
    child: Child,
    pid: i32,
    stdin: ChildStdin,
    frames: FrameReader<BufReader<Box<dyn AsyncRead + Unpin + Send + Sync>>>,
    logs: LogPump,
    /// The interpreter the worker reported, for respawns without a version-manager shim.
    pub executable: Option<String>,
    pub invocations: u64,
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
    #[error("the worker did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("the worker broke the frame protocol: {0}")]
    Protocol(String),
}

impl WorkerFailure {
    /// The Runtime error type ferric reports for this failure.
    pub fn error_type(&self) -> &'static str {
        match self {
            WorkerFailure::Spawn { .. } => "Runtime.InvalidEntrypoint",
            WorkerFailure::Exited(_) => "Runtime.ExitError",
            WorkerFailure::TimedOut(_) => "Runtime.Timeout",
            WorkerFailure::Protocol(_) => "Runtime.WorkerProtocolError",
        }
    }
}

/// Words for an exit status, in the style of Lambda's `Runtime.ExitError` messages.
pub fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("Runtime exited with error: exit status {code}");
    }
    match status.signal() {
        Some(libc::SIGKILL) => {
            "Runtime exited with error: signal: killed (possibly out of memory)".to_owned()
        }
        Some(sig) => format!("Runtime exited with error: signal: {}", signal_name(sig)),
        None => "Runtime exited without providing a reason".to_owned(),
    }
}

fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGSEGV => "segmentation fault",
        libc::SIGABRT => "aborted",
        libc::SIGTERM => "terminated",
        libc::SIGINT => "interrupt",
        libc::SIGBUS => "bus error",
        libc::SIGFPE => "floating point exception",
        libc::SIGILL => "illegal instruction",
        libc::SIGPIPE => "broken pipe",
        _ => return format!("{sig}"),
    };
    format!("{name} ({sig})")
}

/// What the worker said about an invocation.
#[derive(Debug)]
pub enum Answer {
    Result {
        content_type: String,
        body: Bytes,
    },
    Error {
        error_type: Option<String>,
        xray_cause: Option<String>,
        body: Bytes,
    },
}

/// How the start-up handshake ended.
pub enum Started {
    Ready(Box<Worker>),
    /// The worker reported a structured init error; it is exiting on its own.
    InitError {
        error_type: String,
        body: Bytes,
    },
}

/// Frames up to this size are copied into one buffer and written with one syscall.
const SMALL_FRAME: usize = 256 * 1024;
/// Capacity of the frame pipes (Linux's default is 64 KiB; 1 MiB is the unprivileged maximum),
/// so large events and results cross in a few writes.
const PIPE_BYTES: libc::c_int = 1 << 20;

fn grow_pipe(fd: i32) {
    // SAFETY: fcntl on a pipe descriptor we own; failure (EPERM, EBUSY) keeps the default size.
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_BYTES);
    }
}

pub(crate) fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid two-element array; pipe2 fills it on success.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Worker {
    /// Start a worker and wait for its first frame, at most `init_timeout`.
    pub async fn start(
        spec: &WorkerSpec,
        init_timeout: Duration,
    ) -> Result<Started, (WorkerFailure, LogPump)> {
        let (mut child, stdin, frames, logs) = spawn(spec).map_err(|f| (f, LogPump::empty()))?;
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        let mut frames = FrameReader::new(
            BufReader::with_capacity(64 * 1024, frames),
            spec.max_frame_bytes,
        );
        let first = timeout(init_timeout, frames.read_frame()).await;
        let failure = match first {
            Ok(Ok(WorkerFrame::Ready { protocol, .. })) if protocol != PROTOCOL_VERSION => {
                WorkerFailure::Protocol(format!(
                    "the worker speaks protocol version {protocol}; this ferric speaks {PROTOCOL_VERSION}"
                ))
            }
            Ok(Ok(WorkerFrame::Ready { executable, .. })) => {
                return Ok(Started::Ready(Box::new(Worker {
                    child,
                    pid,
                    stdin,
                    frames,
                    logs,
                    executable,
                    invocations: 0,
                })))
            }
            Ok(Ok(WorkerFrame::InitError { error_type, body })) => {
                // Let it exit on its own (it logs first), but never wait unboundedly.
                let _ = timeout(Duration::from_secs(2), child.wait()).await;
                kill_group(pid, libc::SIGKILL);
                logs.flush().await;
                return Ok(Started::InitError { error_type, body });
            }
            Ok(Ok(other)) => WorkerFailure::Protocol(format!(
                "expected a ready or init_error frame first, got {}",
                frame_kind(&other)
            )),
            Ok(Err(FrameError::Closed)) => match timeout(Duration::from_secs(2), child.wait()).await {
                Ok(Ok(status)) => WorkerFailure::Exited(status),
                _ => WorkerFailure::Protocol("the worker closed its frame channel before saying ready".into()),
            },
            Ok(Err(e)) => WorkerFailure::Protocol(e.to_string()),
            Err(_) => WorkerFailure::TimedOut(init_timeout),
        };
        terminate_child(&mut child, pid, Duration::from_millis(100)).await;
        logs.flush().await;
        Err((failure, logs))
    }

    /// Run one invocation; the worker must answer before `deadline`.
    pub async fn call(
        &mut self,
        inv: &Invocation,
        deadline: Instant,
    ) -> Result<Answer, WorkerFailure> {
        self.invocations += 1;
        let header = protocol::encode_invoke_header(inv);
        let (stdin, frames) = (&mut self.stdin, &mut self.frames);
        let write = async {
            // One write(2) for a small frame: every write wakes the worker.
            if inv.body.len() <= SMALL_FRAME {
                let mut frame = Vec::with_capacity(header.len() + inv.body.len() + 1);
                frame.extend_from_slice(&header);
                frame.extend_from_slice(&inv.body);
                frame.extend_from_slice(protocol::PAYLOAD_TERMINATOR);
                stdin.write_all(&frame).await?;
            } else {
                stdin.write_all(&header).await?;
                stdin.write_all(&inv.body).await?;
                stdin.write_all(protocol::PAYLOAD_TERMINATOR).await?;
            }
            stdin.flush().await
        };
        let read = frames.read_frame();
        let exchange = async {
            tokio::pin!(read);
            tokio::select! {
                written = write => match written {
                    // The worker may have answered before reading everything; wait for it.
                    Ok(()) | Err(_) => read.await,
                },
                frame = &mut read => frame,
            }
        };
        let frame = match timeout_at(deadline, exchange).await {
            Err(_) => {
                return Err(WorkerFailure::TimedOut(
                    deadline.saturating_duration_since(Instant::now()),
                ))
            }
            Ok(Ok(frame)) => frame,
            Ok(Err(FrameError::Closed)) => return Err(self.closed_failure().await),
            Ok(Err(e)) => return Err(WorkerFailure::Protocol(e.to_string())),
        };
        match frame {
            WorkerFrame::Result {
                id,
                content_type,
                body,
            } if id == inv.request_id => Ok(Answer::Result { content_type, body }),
            WorkerFrame::Error {
                id,
                error_type,
                xray_cause,
                body,
            } if id == inv.request_id => Ok(Answer::Error {
                error_type,
                xray_cause,
                body,
            }),
            WorkerFrame::Result { id, .. } | WorkerFrame::Error { id, .. } => {
                Err(WorkerFailure::Protocol(format!(
                    "answer for request id {id:?} while {:?} was in flight",
                    inv.request_id
                )))
            }
            other => Err(WorkerFailure::Protocol(format!(
                "unexpected {} frame during an invocation",
                frame_kind(&other)
            ))),
        }
    }

    /// The frame channel closed: report the exit status if the worker is gone, else a violation.
    async fn closed_failure(&mut self) -> WorkerFailure {
        match timeout(Duration::from_millis(500), self.child.wait()).await {
            Ok(Ok(status)) => WorkerFailure::Exited(status),
            _ => WorkerFailure::Protocol(
                "the worker closed its frame channel but kept running".into(),
            ),
        }
    }

    /// The last lines the worker wrote to its logs.
    pub fn log_tail(&self) -> String {
        self.logs.tail()
    }

    /// Forward the log output the worker has written so far (it flushed it before answering).
    pub async fn drain_logs(&self) {
        self.logs.drain().await;
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Ask the worker to dump its threads' stacks (the Python shim registers faulthandler on
    /// SIGUSR2), then give it a moment to write them.
    pub async fn dump_stacks(&mut self) {
        signal(self.pid, libc::SIGUSR2);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// Stop a worker that misbehaved: SIGTERM to its group, `grace`, then SIGKILL.
    pub async fn kill(mut self, grace: Duration) -> LogPump {
        terminate_child(&mut self.child, self.pid, grace).await;
        self.logs.flush().await;
        self.logs
    }

    /// Graceful stop: the shutdown frame (the worker runs its exit hooks), then SIGKILL to the
    /// process group if it has not exited within `grace`. Lambda allows a runtime only a few
    /// hundred milliseconds after SIGTERM, so there is no second, SIGTERM stage here.
    pub async fn shutdown(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let _ = timeout_at(deadline, async {
            self.stdin.write_all(protocol::SHUTDOWN_FRAME).await?;
            self.stdin.flush().await
        })
        .await;
        let exited = timeout_at(deadline, self.child.wait()).await.is_ok();
        // Also reaps anything the worker left behind in its group.
        kill_group(self.pid, libc::SIGKILL);
        if !exited {
            let _ = timeout(Duration::from_secs(1), self.child.wait()).await;
        }
        self.logs.flush().await;
    }
}

fn frame_kind(frame: &WorkerFrame) -> &'static str {
    match frame {
        WorkerFrame::Ready { .. } => "ready",
        WorkerFrame::InitError { .. } => "init_error",
        WorkerFrame::Result { .. } => "result",
        WorkerFrame::Error { .. } => "error",
    }
}

type Spawned = (
    Child,
    ChildStdin,
    Box<dyn AsyncRead + Unpin + Send + Sync>,
    LogPump,
);

fn spawn(spec: &WorkerSpec) -> Result<Spawned, WorkerFailure> {
    let spawn_err = |source| WorkerFailure::Spawn {
        program: spec.program.display().to_string(),
        source,
    };
    let (log_read, log_write) = pipe().map_err(spawn_err)?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stderr(Stdio::from(log_write.try_clone().map_err(spawn_err)?))
        .kill_on_drop(true)
        .process_group(0);
    let fd3 = match spec.channel {
        FrameChannel::Stdout => {
            cmd.stdout(Stdio::piped());
            None
        }
        FrameChannel::Fd3 => {
            cmd.stdout(Stdio::from(log_write.try_clone().map_err(spawn_err)?));
            Some(pipe().map_err(spawn_err)?)
        }
    };
    let fd3_write = fd3.as_ref().map(|(_, w)| w.as_raw_fd());
    // SAFETY: the closure only calls async-signal-safe functions (prctl, getppid, dup2, _exit).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(fd) = fd3_write {
                if libc::dup2(fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(spawn_err)?;
    drop(cmd);
    drop(log_write);
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| spawn_err(std::io::Error::other("no stdin pipe")))?;
    grow_pipe(stdin.as_raw_fd());
    let frames: Box<dyn AsyncRead + Unpin + Send + Sync> = match fd3 {
        None => {
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| spawn_err(std::io::Error::other("no stdout pipe")))?;
            grow_pipe(stdout.as_raw_fd());
            Box::new(stdout)
        }
        Some((read, write)) => {
            grow_pipe(read.as_raw_fd());
            drop(write);
            Box::new(tokio::net::unix::pipe::Receiver::from_owned_fd(read).map_err(spawn_err)?)
        }
    };
    let logs = LogPump::start(log_read).map_err(spawn_err)?;
    Ok((child, stdin, frames, logs))
}

fn signal(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: plain kill(2) on a pid we spawned; errors (already gone) are ignored.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

fn kill_group(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: the worker leads its own process group (process_group(0)), so -pid names
        // exactly the worker's tree.
        unsafe {
            libc::kill(-pid, sig);
        }
    }
}

async fn terminate_child(child: &mut Child, pid: i32, grace: Duration) {
    kill_group(pid, libc::SIGTERM);
    if timeout(grace, child.wait()).await.is_err() {
        kill_group(pid, libc::SIGKILL);
        let _ = timeout(Duration::from_secs(5), child.wait()).await;
    }
    // Children of the worker that ignored SIGTERM.
    kill_group(pid, libc::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_descriptions_match_lambda_wording() {
        assert_eq!(
            describe_exit(ExitStatus::from_raw(1 << 8)),
            "Runtime exited with error: exit status 1"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(libc::SIGKILL)),
            "Runtime exited with error: signal: killed (possibly out of memory)"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(libc::SIGSEGV)),
            "Runtime exited with error: signal: segmentation fault (11)"
        );
    }
}
