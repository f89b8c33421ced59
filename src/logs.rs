//! Forwarding a worker's log pipe (its stderr, and for fd-3 workers its stdout) to ferric's
//! stderr, keeping the last few kilobytes for crash reports.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// Bytes of recent log output kept for error messages.
const TAIL_BYTES: usize = 8 * 1024;
/// Lines of the tail quoted in error messages.
pub const TAIL_LINES: usize = 10;

/// Copies one log pipe to ferric's stderr in the background.
#[derive(Clone)]
pub struct LogPump {
    tail: Arc<Mutex<VecDeque<u8>>>,
    done: watch::Receiver<bool>,
}

impl LogPump {
    /// A pump with no pipe (for workers that never started).
    pub fn empty() -> LogPump {
        let (_tx, done) = watch::channel(true);
        LogPump {
            tail: Arc::default(),
            done,
        }
    }

    /// Start copying `pipe` (the read end of the log pipe).
    pub fn start(pipe: OwnedFd) -> std::io::Result<LogPump> {
        let mut reader = tokio::net::unix::pipe::Receiver::from_owned_fd(pipe)?;
        let tail: Arc<Mutex<VecDeque<u8>>> = Arc::default();
        let (tx, done) = watch::channel(false);
        let keep = tail.clone();
        tokio::spawn(async move {
            let mut out = tokio::io::stderr();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                remember(&keep, &buf[..n]);
                // ferric's stderr going away must not stop the worker from being drained.
                let _ = out.write_all(&buf[..n]).await;
            }
            let _ = out.flush().await;
            let _ = tx.send(true);
        });
        Ok(LogPump { tail, done })
    }

    /// Wait (at most a moment) until the worker's pipe has been copied to the end. Used after
    /// the worker exited, so its last words are logged before ferric reports on it.
    pub async fn flush(&self) {
        let mut done = self.done.clone();
        let _ = tokio::time::timeout(Duration::from_millis(500), done.wait_for(|d| *d)).await;
    }

    /// The last [`TAIL_LINES`] lines of output, lossily decoded.
    pub fn tail(&self) -> String {
        let bytes: Vec<u8> = match self.tail.lock() {
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
        let (r, w) = crate::worker::pipe().unwrap();
        let pump = LogPump::start(r).unwrap();
        let mut f = std::fs::File::from(w);
        use std::io::Write;
        f.write_all(b"one\ntwo\n").unwrap();
        drop(f);
        pump.flush().await;
        assert_eq!(pump.tail(), "one\ntwo");
    }
}
