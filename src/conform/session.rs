//! One worker under test: the process ([`process::spawn`]), the frame [`Channel`] to it (over
//! an input that can be closed, for the end-of-input rules), and its log pipe, captured rather
//! than forwarded so the rules can look at what the worker logged.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, ChildStdin};
use tokio::time::{sleep, timeout, Instant};

use super::report::status;
use crate::worker::process::{self, kill_group, WorkerSpec};
use crate::worker::protocol::Phase;
use crate::worker::{Answer, Channel, ChannelError, Hello, Hooks, Piece, Violation};

/// Why an exchange with the worker did not complete.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("could not start the worker: {0}")]
    Spawn(std::io::Error),
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    #[error("the worker closed its frame channel ({})", .0.map_or("and kept running".to_owned(), status))]
    Closed(Option<ExitStatus>),
    #[error("{0}")]
    Violation(Violation),
    #[error("writing to the worker's stdin failed: {0}")]
    Write(std::io::Error),
}

/// The worker's stdin, which the kit can close while keeping the frame channel open.
struct Input(Option<ChildStdin>);

fn closed() -> std::io::Error {
    std::io::Error::from(std::io::ErrorKind::BrokenPipe)
}

impl AsyncWrite for Input {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.0 {
            Some(stdin) => Pin::new(stdin).poll_write(cx, buf),
            None => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.0 {
            Some(stdin) => Pin::new(stdin).poll_flush(cx),
            None => Poll::Ready(Err(closed())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.0 {
            Some(stdin) => Pin::new(stdin).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

/// Log bytes kept per worker (the most recent).
const LOG_KEEP: usize = 1 << 20;

#[derive(Default)]
struct LogBuffer {
    bytes: VecDeque<u8>,
    /// How many bytes arrived in all (`bytes` holds the last of them).
    total: u64,
    ended: bool,
}

/// A worker's log pipe (stderr, and stdout for fd-3 workers), read as it arrives.
#[derive(Clone)]
pub struct Logs(Arc<Mutex<LogBuffer>>);

impl Logs {
    fn start(pipe: OwnedFd) -> std::io::Result<Logs> {
        let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(pipe)?;
        let logs = Logs(Arc::default());
        let buffer = logs.clone();
        tokio::spawn(async move {
            let mut chunk = vec![0u8; 16 * 1024];
            while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
                let mut b = buffer.lock();
                b.bytes.extend(&chunk[..n]);
                b.total += n as u64;
                let excess = b.bytes.len().saturating_sub(LOG_KEEP);
                b.bytes.drain(..excess);
            }
            buffer.lock().ended = true;
        });
        Ok(logs)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogBuffer> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many bytes the worker has logged so far.
    pub fn total(&self) -> u64 {
        self.lock().total
    }

    /// What was logged after the first `offset` bytes (as far as it is still kept).
    pub fn since(&self, offset: u64) -> Vec<u8> {
        let b = self.lock();
        let kept_from = b.total - b.bytes.len() as u64;
        let skip = offset.saturating_sub(kept_from).min(b.bytes.len() as u64) as usize;
        b.bytes.iter().skip(skip).copied().collect()
    }

    /// Wait up to `within` for `needle` to appear after `offset`.
    pub async fn wait_for(&self, needle: &[u8], offset: u64, within: Duration) -> bool {
        let end = Instant::now() + within;
        loop {
            let found = memchr::memmem::find(&self.since(offset), needle).is_some();
            if found || Instant::now() >= end {
                return found;
            }
            sleep(Duration::from_millis(10)).await;
        }
    }

    /// Wait up to `within` for the log pipe to close (the worker and its children are gone).
    pub async fn wait_ended(&self, within: Duration) {
        let end = Instant::now() + within;
        while !self.lock().ended && Instant::now() < end {
            sleep(Duration::from_millis(10)).await;
        }
    }

    /// The last `n` lines logged.
    pub fn tail(&self, n: usize) -> Vec<String> {
        self.tail_since(0, n)
    }

    /// The last `n` lines logged after the first `offset` bytes.
    pub fn tail_since(&self, offset: u64, n: usize) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.since(offset)).into_owned();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .map(|l| l.chars().take(200).collect())
            .collect()
    }
}

type Frames = Box<dyn AsyncRead + Unpin + Send + Sync>;

/// How a wait for the worker to exit ended.
#[derive(Debug)]
pub enum Exit {
    Exited(ExitStatus),
    /// It wrote this frame instead.
    Answered(&'static str),
    Running,
}

/// A running worker and the kit's ends of its pipes. Dropping it kills the worker's group.
pub struct Session {
    channel: Channel<Frames, Input>,
    child: Child,
    pid: i32,
    logs: Logs,
}

impl Drop for Session {
    fn drop(&mut self) {
        kill_group(self.pid, libc::SIGKILL);
        process::forget_worker(self.pid);
    }
}

impl Session {
    /// Start the worker `spec` describes.
    pub fn spawn(spec: &WorkerSpec) -> Result<Session, SessionError> {
        let spawned = process::spawn(spec).map_err(SessionError::Spawn)?;
        let logs = Logs::start(spawned.logs).map_err(SessionError::Spawn)?;
        Ok(Session {
            channel: Channel::new(
                spawned.frames,
                Input(Some(spawned.stdin)),
                spec.max_frame_bytes,
            ),
            child: spawned.child,
            pid: spawned.pid,
            logs,
        })
    }

    pub fn logs(&self) -> &Logs {
        &self.logs
    }

    /// What a failed exchange means: for a closed channel, how the worker exited.
    async fn failure(&mut self, e: ChannelError) -> SessionError {
        match e {
            ChannelError::Violation(v) => SessionError::Violation(v),
            ChannelError::Closed => {
                let status = timeout(Duration::from_millis(500), self.child.wait()).await;
                SessionError::Closed(status.ok().and_then(Result::ok))
            }
        }
    }

    /// The worker's first frame, within `within`.
    pub async fn hello(&mut self, within: Duration) -> Result<Hello, SessionError> {
        match timeout(within, self.channel.hello()).await {
            Err(_) => Err(SessionError::TimedOut(within)),
            Ok(Ok(hello)) => Ok(hello),
            Ok(Err(e)) => Err(self.failure(e).await),
        }
    }

    /// One invocation: `header` (any bytes, newline included), then `body`; the answer for `id`.
    pub async fn call(
        &mut self,
        header: &[u8],
        body: &[u8],
        id: &str,
        within: Duration,
    ) -> Result<Answer, SessionError> {
        let body = Bytes::copy_from_slice(body);
        match timeout(within, self.channel.call(header, &body, id)).await {
            Err(_) => Err(SessionError::TimedOut(within)),
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(self.failure(e).await),
        }
    }

    /// The next piece of the streamed answer to `id`.
    pub async fn piece(&mut self, id: &str, within: Duration) -> Result<Piece, SessionError> {
        match timeout(within, self.channel.next_piece(id)).await {
            Err(_) => Err(SessionError::TimedOut(within)),
            Ok(Ok(piece)) => Ok(piece),
            Ok(Err(e)) => Err(self.failure(e).await),
        }
    }

    /// One phase of runtime hooks.
    pub async fn hooks(&mut self, phase: Phase, within: Duration) -> Result<Hooks, SessionError> {
        match timeout(within, self.channel.hooks(phase)).await {
            Err(_) => Err(SessionError::TimedOut(within)),
            Ok(Ok(hooks)) => Ok(hooks),
            Ok(Err(e)) => Err(self.failure(e).await),
        }
    }

    /// Write raw bytes to the worker's stdin.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        let input = self.channel.input();
        let sent = async {
            input.write_all(bytes).await?;
            input.flush().await
        };
        sent.await.map_err(SessionError::Write)
    }

    /// Close the worker's stdin (it sees end of input).
    pub fn close_input(&mut self) {
        self.channel.input().0 = None;
    }

    /// Wait up to `within` for the worker to exit. Frame channel errors are not answers (a
    /// worker that exits closes it); a frame is.
    pub async fn exit_within(&mut self, within: Duration) -> Exit {
        let end = Instant::now() + within;
        let mut reading = true;
        loop {
            tokio::select! {
                status = self.child.wait() => {
                    return status.map_or(Exit::Running, Exit::Exited);
                }
                frame = self.channel.read(), if reading => match frame {
                    Ok(frame) => return Exit::Answered(frame.kind()),
                    Err(_) => reading = false,
                },
                _ = tokio::time::sleep_until(end) => return Exit::Running,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs(bytes: &[u8], total: u64) -> Logs {
        Logs(Arc::new(Mutex::new(LogBuffer {
            bytes: bytes.iter().copied().collect(),
            total,
            ended: false,
        })))
    }

    #[test]
    fn logs_are_read_by_absolute_offset() {
        // 10 bytes logged in all, the last 6 kept.
        let l = logs(b"cd\nef\n", 10);
        assert_eq!(l.since(0), b"cd\nef\n");
        assert_eq!(l.since(7), b"ef\n");
        assert_eq!(l.since(10), b"");
        assert_eq!(l.since(99), b"");
        assert_eq!(l.tail(1), ["ef"]);
        assert_eq!(l.tail_since(7, 5), ["ef"]);
    }

    #[tokio::test]
    async fn waiting_for_a_line_is_bounded() {
        let l = logs(b"hello\n", 6);
        assert!(l.wait_for(b"hello", 0, Duration::ZERO).await);
        assert!(!l.wait_for(b"hello", 1, Duration::from_millis(20)).await);
    }
}
