//! The byte stream under one HTTP connection, able to cut an answer short.
//!
//! hyper writes well-formed messages only: a body that fails makes it drop the connection after
//! a whole chunk at best, never in the middle of one, and never after a chosen byte. To send a
//! valid head whose body stops at an exact byte (`Content-Length` promising more, or a chunk
//! announced bigger than what follows), the service arms the connection's [`Cut`] before it
//! returns the response; this wrapper lets the head and the first `body_bytes` of the body
//! through, then fails every write, and hyper closes the socket. Unarmed, a write costs one
//! relaxed atomic load more than the bare stream's.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where the next answer on this connection stops.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CutPlan {
    /// The body is chunked: skip the first chunk-size line too before counting body bytes.
    pub chunked: bool,
    /// Body (data) bytes let through after the head.
    pub body_bytes: usize,
}

/// Shared between a connection's stream and its service.
#[derive(Default)]
pub(crate) struct Cut {
    armed: AtomicBool,
    plan: Mutex<Option<CutPlan>>,
}

impl Cut {
    /// Cut the next answer written on this connection as `plan` says.
    pub fn arm(&self, plan: CutPlan) {
        *self.plan.lock().unwrap_or_else(|p| p.into_inner()) = Some(plan);
        self.armed.store(true, Ordering::Release);
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// In the head: how much of "\r\n\r\n" was just seen.
    Head(u8),
    /// In the first chunk-size line.
    SizeLine,
    /// In the body: bytes still allowed.
    Body(usize),
    /// Nothing more may be written.
    Done,
}

impl Phase {
    fn start() -> Phase {
        Phase::Head(0)
    }

    fn after_head(self, plan: &CutPlan) -> Option<Phase> {
        match self {
            Phase::Head(4) if plan.chunked => Some(Phase::SizeLine),
            Phase::Head(4) => Some(Phase::Body(plan.body_bytes)),
            _ => None,
        }
    }

    /// Advance over one byte; `false` when the byte may not be written.
    fn step(&mut self, byte: u8, plan: &CutPlan) -> bool {
        const END: &[u8; 4] = b"\r\n\r\n";
        match *self {
            Phase::Head(seen) => {
                let seen = if byte == END[seen as usize] {
                    seen + 1
                } else if byte == b'\r' {
                    1
                } else {
                    0
                };
                *self = Phase::Head(seen);
                if let Some(next) = self.after_head(plan) {
                    *self = next;
                    if let Phase::Body(0) = next {
                        *self = Phase::Done;
                    }
                }
                true
            }
            Phase::SizeLine => {
                if byte == b'\n' {
                    *self = if plan.body_bytes == 0 {
                        Phase::Done
                    } else {
                        Phase::Body(plan.body_bytes)
                    };
                }
                true
            }
            Phase::Body(left) => {
                *self = if left <= 1 {
                    Phase::Done
                } else {
                    Phase::Body(left - 1)
                };
                true
            }
            Phase::Done => false,
        }
    }
}

/// A stream whose writes can be cut short (see the module docs).
pub(crate) struct CutStream<S> {
    inner: S,
    cut: Arc<Cut>,
    active: Option<(CutPlan, Phase)>,
}

impl<S> CutStream<S> {
    pub fn new(inner: S, cut: Arc<Cut>) -> CutStream<S> {
        CutStream {
            inner,
            cut,
            active: None,
        }
    }

    fn take_plan(&mut self) {
        if self.active.is_none() && self.cut.armed.load(Ordering::Acquire) {
            self.cut.armed.store(false, Ordering::Relaxed);
            let plan = self
                .cut
                .plan
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            self.active = plan.map(|p| (p, Phase::start()));
        }
    }
}

fn broken() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "answer cut by a fault")
}

impl<S: AsyncRead + Unpin> AsyncRead for CutStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CutStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.take_plan();
        let Some((plan, phase)) = self.active else {
            return Pin::new(&mut self.inner).poll_write(cx, buf);
        };
        // How much of `buf` may go out, without moving the real phase yet.
        let mut probe = phase;
        let allowed = buf.iter().take_while(|b| probe.step(**b, &plan)).count();
        if allowed == 0 {
            return Poll::Ready(Err(broken()));
        }
        let n = match Pin::new(&mut self.inner).poll_write(cx, &buf[..allowed]) {
            Poll::Ready(Ok(n)) => n,
            other => return other,
        };
        let mut phase = phase;
        for b in &buf[..n] {
            phase.step(*b, &plan);
        }
        self.active = Some((plan, phase));
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.take_plan();
        if self.active.is_none() {
            return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        }
        match bufs.iter().find(|b| !b.is_empty()) {
            Some(first) => self.poll_write(cx, first),
            None => Poll::Ready(Ok(0)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(plan: CutPlan, text: &[u8]) -> usize {
        let mut phase = Phase::start();
        text.iter().take_while(|b| phase.step(**b, &plan)).count()
    }

    #[test]
    fn cuts_after_the_head_and_n_body_bytes() {
        let msg = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n0123456789";
        let head = msg.len() - 10;
        let plan = |n| CutPlan {
            chunked: false,
            body_bytes: n,
        };
        assert_eq!(allowed(plan(3), msg), head + 3);
        assert_eq!(allowed(plan(0), msg), head);
        assert_eq!(allowed(plan(100), msg), msg.len());
    }

    #[test]
    fn chunked_cut_skips_the_size_line() {
        let msg =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n";
        let head = msg.len() - b"a\r\n0123456789\r\n0\r\n\r\n".len();
        let plan = CutPlan {
            chunked: true,
            body_bytes: 4,
        };
        assert_eq!(allowed(plan, msg), head + 3 + 4);
    }

    #[test]
    fn a_lone_cr_in_the_head_does_not_end_it() {
        let msg = b"HTTP/1.1 200 OK\r\nx: a\rb\r\n\r\nBODY";
        let plan = CutPlan {
            chunked: false,
            body_bytes: 1,
        };
        assert_eq!(allowed(plan, msg), msg.len() - 3);
    }
}
