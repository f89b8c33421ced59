//! The frame exchange with one worker over any `AsyncRead`/`AsyncWrite` (so it is testable
//! over `tokio::io::duplex`): the handshake, a call and its answer, the pieces of a streamed
//! answer, runtime hooks and shutdown. What a frame may hold is [`protocol`]'s business.

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::FramedRead;

use super::protocol::{self, FrameDecoder, FrameError, WorkerFrame, PROTOCOL_VERSION};
use super::{ChannelError, Violation};

/// Frames up to this size are copied into one buffer and written with one syscall (every write
/// wakes the worker); larger ones go out in three writes without a copy.
const SMALL_FRAME: usize = 256 * 1024;

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
    /// Poll for answers before sleeping on them ([`spin_then_wait`]): more than one CPU.
    spin: bool,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Channel<R, W> {
    pub fn new(frames: R, input: W, max_payload: usize) -> Self {
        Channel {
            frames: FramedRead::with_capacity(frames, FrameDecoder::new(max_payload), 64 * 1024),
            input,
            // decided while the worker starts, not on the first invocation's path
            spin: several_cpus(),
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
        let (input, frames, spin) = (&mut self.input, &mut self.frames, self.spin);
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
            _ = write => spin_then_wait(&mut read, spin).await?,
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

/// How long ferric polls for a worker's answer before it sleeps on it, when it has a CPU of its
/// own to poll on (see [`spin_then_wait`]).
const SPIN: std::time::Duration = std::time::Duration::from_micros(100);

/// Await `read`, first polling it for up to [`SPIN`] when `spin` (this process may run on more
/// than one CPU). Sleeping in `epoll_wait` right after the invoke frame goes out lets this CPU go
/// idle, and waking an idle virtual CPU when the answer comes costs tens of microseconds; a
/// small handler answers within the spin. Each turn yields the CPU (`sched_yield`), so a
/// worker woken onto this CPU runs at once. On one CPU there is no spin: it would only take
/// the worker's time. Measured in BENCHMARKS.md (benches/runtimes/findings.md).
async fn spin_then_wait<F: std::future::Future + Unpin>(read: &mut F, spin: bool) -> F::Output {
    if spin {
        let until = std::time::Instant::now() + SPIN;
        while std::time::Instant::now() < until {
            if let Some(out) = futures_util::FutureExt::now_or_never(&mut *read) {
                return out;
            }
            std::thread::yield_now();
            tokio::task::yield_now().await;
        }
    }
    read.await
}

/// Whether this process may run on more than one CPU (its affinity and cgroup quota), read
/// once per process.
fn several_cpus() -> bool {
    static CPUS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
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
