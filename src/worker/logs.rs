//! Forwarding a worker's log pipe (its stderr, and for fd-3 workers its stdout) to ferric's
//! stderr, and its telemetry pipe (frames, see [`super::telemetry`]) to the telemetry
//! descriptor frame by frame, keeping the last few kilobytes for crash reports.
//!
//! A background task copies the pipe as data arrives; [`LogPump::drain`] copies whatever is
//! already in the pipe right now. The supervisor drains after each answer and before posting
//! it, so a handler's log lines always precede the platform's END/REPORT lines for that
//! invocation (the shims flush their output before writing an answer frame).

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::watch;

use super::process::read_now;
use super::telemetry::{self, Telemetry};

/// Bytes of recent log output kept for error messages.
const TAIL_BYTES: usize = 8 * 1024;
/// Lines of the tail quoted in error messages.
pub const TAIL_LINES: usize = 10;
const CHUNK: usize = 16 * 1024;

/// Where a pump's output goes.
enum Sink {
    /// Bytes, as they come, to ferric's stderr.
    Stderr(tokio::io::Stderr),
    /// Whole telemetry frames to the telemetry descriptor; `pending` holds a frame's start.
    Frames {
        telemetry: &'static Telemetry,
        pending: Vec<u8>,
    },
}

struct Inner {
    pipe: pipe::Receiver,
    /// Serialises copies so output keeps its order; holds the sink and the copy buffer.
    out: tokio::sync::Mutex<(Sink, Vec<u8>)>,
    tail: Mutex<VecDeque<u8>>,
}

impl Sink {
    /// Pass on `bytes`; for frames, only whole ones (a partial frame waits for the rest).
    async fn put(&mut self, tail: &Mutex<VecDeque<u8>>, bytes: &[u8]) {
        match self {
            Sink::Stderr(out) => {
                remember(tail, bytes);
                // ferric's stderr going away must not stop the worker from being drained.
                let _ = out.write_all(bytes).await;
            }
            Sink::Frames { telemetry, pending } => {
                pending.extend_from_slice(bytes);
                forward_frames(telemetry, pending, tail);
            }
        }
    }

    async fn flush(&mut self) {
        if let Sink::Stderr(out) = self {
            let _ = out.flush().await;
        }
    }
}

/// Write every complete frame at the start of `pending` (one write for all of them) and keep
/// the rest. Bytes that cannot be frames are passed on as one error record, so nothing is lost.
fn forward_frames(telemetry: &Telemetry, pending: &mut Vec<u8>, tail: &Mutex<VecDeque<u8>>) {
    let mut end = 0;
    loop {
        match telemetry::frame_len(&pending[end..]) {
            telemetry::Start::Frame(len) if pending.len() - end >= len => {
                let message = &pending[end + telemetry::HEADER..end + len];
                remember(tail, message);
                if !message.ends_with(b"\n") {
                    remember(tail, b"\n");
                }
                end += len;
            }
            telemetry::Start::Frame(_) | telemetry::Start::Partial => break,
            telemetry::Start::Invalid => {
                telemetry.write(&pending[..end]);
                let garbage = std::mem::take(pending);
                remember(tail, &garbage[end..]);
                telemetry.record(telemetry::Level::Error, &garbage[end..]);
                return;
            }
        }
    }
    if end > 0 {
        telemetry.write(&pending[..end]);
        pending.drain(..end);
    }
}

/// Copies one log pipe to ferric's stderr.
#[derive(Clone)]
pub struct LogPump {
    inner: Option<Arc<Inner>>,
    done: watch::Receiver<bool>,
}

impl Inner {
    /// Copy what is in the pipe now. Returns true at end of file.
    async fn copy_available(&self) -> bool {
        let mut guard = self.out.lock().await;
        let (out, buf) = &mut *guard;
        buf.resize(CHUNK, 0);
        loop {
            match read_now(&self.pipe, buf) {
                Ok(0) => return true,
                Ok(n) => out.put(&self.tail, &buf[..n]).await,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // Tell tokio the pipe is drained, so `readable()` waits for new data.
                    let _ = self
                        .pipe
                        .try_io(|| Err::<(), _>(ErrorKind::WouldBlock.into()));
                    out.flush().await;
                    return false;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }
}

impl LogPump {
    /// A pump with no pipe (for workers that never started).
    pub fn empty() -> LogPump {
        let (_tx, done) = watch::channel(true);
        LogPump { inner: None, done }
    }

    /// Start copying `pipe` (the read end of the log pipe) to ferric's stderr.
    pub fn start(pipe: OwnedFd) -> std::io::Result<LogPump> {
        LogPump::with_sink(pipe, Sink::Stderr(tokio::io::stderr()))
    }

    /// Start forwarding the frames of `pipe` (the read end of a worker's telemetry pipe).
    pub fn start_frames(pipe: OwnedFd, telemetry: &'static Telemetry) -> std::io::Result<LogPump> {
        let pending = Vec::new();
        LogPump::with_sink(pipe, Sink::Frames { telemetry, pending })
    }

    fn with_sink(pipe: OwnedFd, sink: Sink) -> std::io::Result<LogPump> {
        let inner = Arc::new(Inner {
            pipe: pipe::Receiver::from_owned_fd(pipe)?,
            out: tokio::sync::Mutex::new((sink, Vec::new())),
            tail: Mutex::default(),
        });
        let (tx, done) = watch::channel(false);
        let task = inner.clone();
        tokio::spawn(async move {
            loop {
                if task.pipe.readable().await.is_err() || task.copy_available().await {
                    break;
                }
            }
            let _ = tx.send(true);
        });
        Ok(LogPump {
            inner: Some(inner),
            done,
        })
    }

    /// Copy everything the worker has written so far (does not wait for more).
    pub async fn drain(&self) {
        if let Some(inner) = &self.inner {
            inner.copy_available().await;
        }
    }

    /// Wait (at most a moment) until the pipe has been copied to its end. Used after the
    /// worker exited, so its last words are logged before ferric reports on it.
    pub async fn flush(&self) {
        let mut done = self.done.clone();
        let _ = tokio::time::timeout(Duration::from_millis(500), done.wait_for(|d| *d)).await;
    }

    /// The last [`TAIL_LINES`] lines of output, lossily decoded.
    pub fn tail(&self) -> String {
        let Some(inner) = &self.inner else {
            return String::new();
        };
        let bytes: Vec<u8> = match inner.tail.lock() {
            Ok(t) => t.iter().copied().collect(),
            Err(poisoned) => poisoned.into_inner().iter().copied().collect(),
        };
        last_lines(&String::from_utf8_lossy(&bytes), TAIL_LINES)
    }
}

fn remember(tail: &Mutex<VecDeque<u8>>, chunk: &[u8]) {
    let mut t = match tail.lock() {
        Ok(t) => t,
        Err(poisoned) => poisoned.into_inner(),
    };
    let chunk = &chunk[chunk.len().saturating_sub(TAIL_BYTES)..];
    let overflow = (t.len() + chunk.len()).saturating_sub(TAIL_BYTES);
    t.drain(..overflow);
    t.extend(chunk);
}

/// The last `n` non-empty lines of `text`, joined with `\n`.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .split(['\n', '\r'])
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn tail_keeps_only_the_newest_bytes() {
        let t = Mutex::new(VecDeque::new());
        remember(&t, &vec![b'a'; TAIL_BYTES]);
        remember(&t, b"\nlast line\n");
        let kept = t.lock().unwrap();
        assert_eq!(kept.len(), TAIL_BYTES);
        assert!(kept
            .iter()
            .copied()
            .collect::<Vec<_>>()
            .ends_with(b"last line\n"));
    }

    #[test]
    fn last_lines_skips_blank_lines() {
        assert_eq!(last_lines("a\n\nb\r\nc\n", 2), "b\nc");
        assert_eq!(last_lines("", 3), "");
    }

    #[tokio::test]
    async fn pump_copies_until_eof_and_keeps_the_tail() {
        let (r, w) = crate::worker::process::pipe().unwrap();
        let pump = LogPump::start(r).unwrap();
        let mut f = std::fs::File::from(w);
        f.write_all(b"one\ntwo\n").unwrap();
        drop(f);
        pump.flush().await;
        assert_eq!(pump.tail(), "one\ntwo");
    }

    #[tokio::test]
    async fn drain_copies_what_is_already_written_without_waiting() {
        let (r, w) = crate::worker::process::pipe().unwrap();
        let pump = LogPump::start(r).unwrap();
        let mut f = std::fs::File::from(w);
        f.write_all(b"before the answer\n").unwrap();
        // No yield to the background task: drain alone must pick the line up.
        pump.drain().await;
        assert_eq!(pump.tail(), "before the answer");
        drop(f);
    }
}
