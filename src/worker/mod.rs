//! One worker: a [`Channel`] (handshake and calls over any `AsyncRead`/`AsyncWrite`, so it is
//! testable over `tokio::io::duplex`) plus the process behind it ([`process`]) and its log pump
//! ([`logs`]).
//!
//! The worker runs in its own process group so that the whole tree it starts can be signalled,
//! gets SIGKILL if ferric dies (`PR_SET_PDEATHSIG`), and is killed when its handle is dropped.

pub mod logs;
pub mod process;
pub mod protocol;
pub mod telemetry;

use std::process::ExitStatus;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, ChildStdin};
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::codec::FramedRead;

use crate::lambda::wording::{describe_exit, error_type};
use logs::LogPump;
use process::{kill_group, signal, WorkerSpec};
use protocol::{FrameDecoder, FrameError, WorkerFrame, PROTOCOL_VERSION};

/// Frames up to this size are copied into one buffer and written with one syscall (every write
/// wakes the worker); larger ones go out in three writes without a copy.
const SMALL_FRAME: usize = 256 * 1024;
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

/// What the worker said about an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// A streamed response began; its pieces follow ([`Channel::next_piece`]).
    Stream {
        content_type: String,
    },
}

/// The next piece of a streamed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Chunk(Bytes),
    End,
    /// The handler failed mid-stream: `body` is its error JSON.
    Error {
        error_type: String,
        body: Bytes,
    },
}

/// How a phase of runtime hooks ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hooks {
    Done,
    /// A hook failed: the error JSON to report, and its type.
    Failed {
        error_type: String,
        body: Bytes,
    },
}

/// How a worker's handshake ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    Ready {
        executable: Option<String>,
        features: Vec<String>,
    },
    /// A structured init error; the worker exits on its own after sending it.
    InitError { error_type: String, body: Bytes },
}

/// The frame exchange with one worker: frames in on `R`, frames out on `W`.
pub struct Channel<R, W> {
    frames: FramedRead<R, FrameDecoder>,
    input: W,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Channel<R, W> {
    pub fn new(frames: R, input: W, max_payload: usize) -> Self {
        Channel {
            frames: FramedRead::with_capacity(frames, FrameDecoder::new(max_payload), 64 * 1024),
            input,
        }
    }

    /// The next frame from the worker.
    pub async fn read(&mut self) -> Result<WorkerFrame, FrameError> {
        self.frames.next().await.unwrap_or(Err(FrameError::Closed))
    }

    /// The worker's first frame: `ready` (in this protocol version) or `init_error`.
    pub async fn hello(&mut self) -> Result<Hello, ChannelError> {
        match self.read().await {
            Ok(WorkerFrame::Ready { protocol, .. }) if protocol != PROTOCOL_VERSION => {
                Err(ChannelError::Violation(Violation::Version(protocol)))
            }
            Ok(WorkerFrame::Ready {
                executable,
                features,
                ..
            }) => Ok(Hello::Ready {
                executable,
                features,
            }),
            Ok(WorkerFrame::InitError { error_type, body }) => {
                Ok(Hello::InitError { error_type, body })
            }
            Ok(other) => Err(ChannelError::Violation(Violation::FirstFrame(other.kind()))),
            Err(e) => Err(e.into()),
        }
    }

    /// Send an invoke frame (`header` from [`protocol::encode_invoke_header`], then the event)
    /// and read the answer for `request_id`. The caller bounds it with the deadline.
    pub async fn call(
        &mut self,
        header: &[u8],
        body: &Bytes,
        request_id: &str,
    ) -> Result<Answer, ChannelError> {
        let (input, frames) = (&mut self.input, &mut self.frames);
        let write = async {
            if body.len() <= SMALL_FRAME {
                let mut frame = Vec::with_capacity(header.len() + body.len() + 1);
                frame.extend_from_slice(header);
                frame.extend_from_slice(body);
                frame.extend_from_slice(protocol::PAYLOAD_TERMINATOR);
                input.write_all(&frame).await?;
            } else {
                input.write_all(header).await?;
                input.write_all(body).await?;
                input.write_all(protocol::PAYLOAD_TERMINATOR).await?;
            }
            input.flush().await
        };
        let read = async { frames.next().await.unwrap_or(Err(FrameError::Closed)) };
        tokio::pin!(read);
        let frame = tokio::select! {
            // The worker may answer before reading everything (or stop reading): either way
            // its answer, or its silence until the deadline, decides.
            _ = write => read.await?,
            frame = &mut read => frame?,
        };
        match frame {
            WorkerFrame::Result {
                id,
                content_type,
                body,
            } if id == request_id => Ok(Answer::Result { content_type, body }),
            WorkerFrame::Error {
                id,
                error_type,
                xray_cause,
                body,
            } if id == request_id => Ok(Answer::Error {
                error_type,
                xray_cause,
                body,
            }),
            WorkerFrame::StreamStart { id, content_type } if id == request_id => {
                Ok(Answer::Stream { content_type })
            }
            other => Err(ChannelError::Violation(unexpected(other, request_id))),
        }
    }

    /// The next piece of the streamed response to `request_id`.
    pub async fn next_piece(&mut self, request_id: &str) -> Result<Piece, ChannelError> {
        match self.read().await? {
            WorkerFrame::StreamChunk { id, body } if id == request_id => Ok(Piece::Chunk(body)),
            WorkerFrame::StreamEnd { id } if id == request_id => Ok(Piece::End),
            WorkerFrame::StreamError {
                id,
                error_type,
                body,
            } if id == request_id => Ok(Piece::Error { error_type, body }),
            other => Err(ChannelError::Violation(unexpected(other, request_id))),
        }
    }

    /// Ask the worker to run one phase of its runtime hooks.
    pub async fn hooks(&mut self, phase: protocol::Phase) -> Result<Hooks, ChannelError> {
        let sent = async {
            self.input.write_all(&phase.frame()).await?;
            self.input.flush().await
        };
        if sent.await.is_err() {
            return Err(ChannelError::Closed);
        }
        match self.read().await? {
            WorkerFrame::HooksDone { phase: p } if p == phase.name() => Ok(Hooks::Done),
            WorkerFrame::HooksError {
                phase: p,
                error_type,
                body,
            } if p == phase.name() => Ok(Hooks::Failed { error_type, body }),
            other => Err(ChannelError::Violation(Violation::Unexpected(other.kind()))),
        }
    }

    /// The worker's input, for frames the calls above do not cover (`ferric conform` sends
    /// unknown and invalid ones).
    pub fn input(&mut self) -> &mut W {
        &mut self.input
    }

    /// Ask the worker to run its exit hooks and exit.
    pub async fn send_shutdown(&mut self) -> std::io::Result<()> {
        self.input.write_all(protocol::SHUTDOWN_FRAME).await?;
        self.input.flush().await
    }
}

/// What is wrong with a frame that is not the expected answer to `request_id`.
fn unexpected(frame: WorkerFrame, request_id: &str) -> Violation {
    match frame.id() {
        Some(id) if id != request_id => Violation::WrongId {
            got: id.to_owned(),
            want: request_id.to_owned(),
        },
        _ => Violation::Unexpected(frame.kind()),
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
        let exchange = self.channel.call(header, body, request_id);
        match timeout_at(deadline, exchange).await {
            Err(_) => Err(WorkerFailure::TimedOut(
                deadline.saturating_duration_since(Instant::now()),
            )),
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(ChannelError::Closed)) => Err(self.closed_failure().await),
            Ok(Err(ChannelError::Violation(v))) => Err(v.into()),
        }
    }

    /// The next piece of a streamed response; the worker must deliver it before `deadline`.
    pub async fn next_piece(
        &mut self,
        request_id: &str,
        deadline: Instant,
    ) -> Result<Piece, WorkerFailure> {
        match timeout_at(deadline, self.channel.next_piece(request_id)).await {
            Err(_) => Err(WorkerFailure::TimedOut(Duration::ZERO)),
            Ok(Ok(piece)) => Ok(piece),
            Ok(Err(ChannelError::Closed)) => Err(self.closed_failure().await),
            Ok(Err(ChannelError::Violation(v))) => Err(v.into()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

    /// A channel to a scripted worker: returns ferric's end and the worker's two ends.
    fn pair() -> (
        Channel<tokio::io::DuplexStream, tokio::io::DuplexStream>,
        tokio::io::DuplexStream,
        tokio::io::DuplexStream,
    ) {
        let (frames_ferric, frames_worker) = tokio::io::duplex(1 << 16);
        let (input_ferric, input_worker) = tokio::io::duplex(1 << 16);
        (
            Channel::new(frames_ferric, input_ferric, 1 << 20),
            frames_worker,
            input_worker,
        )
    }

    fn header(id: &str, len: usize) -> Vec<u8> {
        protocol::encode_invoke_header(&protocol::InvokeFrame {
            kind: "invoke",
            id,
            deadline_ms: 1,
            arn: "arn",
            trace_id: None,
            client_context: None,
            cognito_identity: None,
            tenant_id: None,
            content_type: "application/json",
            len,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn handshake_accepts_ready_and_init_error() {
        let (mut ch, mut out, _input) = pair();
        out.write_all(b"{\"type\":\"ready\",\"protocol\":1,\"executable\":\"/usr/bin/python3\"}\n")
            .await
            .unwrap();
        assert_eq!(
            ch.hello().await.unwrap(),
            Hello::Ready {
                executable: Some("/usr/bin/python3".into()),
                features: vec![],
            }
        );
        let (mut ch, mut out, _input) = pair();
        out.write_all(b"{\"type\":\"init_error\",\"error_type\":\"Runtime.X\",\"len\":2}\n{}\n")
            .await
            .unwrap();
        assert!(
            matches!(ch.hello().await, Ok(Hello::InitError { error_type, .. }) if error_type == "Runtime.X")
        );
    }

    #[tokio::test]
    async fn handshake_refuses_other_versions_other_frames_and_silence() {
        let (mut ch, mut out, _input) = pair();
        out.write_all(b"{\"type\":\"ready\",\"protocol\":2}\n")
            .await
            .unwrap();
        assert!(matches!(
            ch.hello().await,
            Err(ChannelError::Violation(Violation::Version(2)))
        ));
        let (mut ch, mut out, _input) = pair();
        out.write_all(b"{\"type\":\"result\",\"id\":\"x\",\"len\":0}\n\n")
            .await
            .unwrap();
        assert!(matches!(
            ch.hello().await,
            Err(ChannelError::Violation(Violation::FirstFrame("result")))
        ));
        let (mut ch, out, _input) = pair();
        drop(out);
        assert!(matches!(ch.hello().await, Err(ChannelError::Closed)));
    }

    #[tokio::test]
    async fn call_sends_the_event_and_matches_the_answer_id() {
        let (mut ch, mut out, input) = pair();
        let worker = tokio::spawn(async move {
            let mut input = BufReader::new(input);
            let mut line = String::new();
            input.read_line(&mut line).await.unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let len = v["len"].as_u64().unwrap() as usize;
            let mut event = vec![0u8; len + 1];
            input.read_exact(&mut event).await.unwrap();
            event.pop();
            let answer = format!(
                "{{\"type\":\"result\",\"id\":{},\"len\":{}}}\n",
                v["id"],
                event.len()
            );
            out.write_all(answer.as_bytes()).await.unwrap();
            out.write_all(&event).await.unwrap();
            out.write_all(b"\n").await.unwrap();
            out
        });
        let body = Bytes::from_static(b"{\n  \"a\": 1\n}");
        let answer = ch
            .call(&header("r1", body.len()), &body, "r1")
            .await
            .unwrap();
        assert_eq!(
            answer,
            Answer::Result {
                content_type: "application/json".into(),
                body
            }
        );
        drop(worker.await.unwrap());
    }

    #[tokio::test]
    async fn an_answer_for_another_request_is_a_violation() {
        let (mut ch, mut out, _input) = pair();
        out.write_all(b"{\"type\":\"error\",\"id\":\"other\",\"len\":2}\n{}\n")
            .await
            .unwrap();
        let body = Bytes::from_static(b"{}");
        match ch.call(&header("mine", 2), &body, "mine").await {
            Err(ChannelError::Violation(Violation::WrongId { got, want })) => {
                assert_eq!((got.as_str(), want.as_str()), ("other", "mine"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_worker_that_answers_without_reading_its_input_is_heard() {
        // 1 MiB event, 64 KiB pipe, nobody reading: the write blocks, the answer still counts.
        let (mut ch, mut out, _input) = pair();
        out.write_all(b"{\"type\":\"result\",\"id\":\"r\",\"len\":2}\n{}\n")
            .await
            .unwrap();
        let body = Bytes::from(vec![b'x'; 1 << 20]);
        let answer = ch.call(&header("r", body.len()), &body, "r").await.unwrap();
        assert!(matches!(answer, Answer::Result { .. }));
    }
}
