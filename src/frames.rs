//! Reading worker frames from a byte stream with bounded memory.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

use crate::protocol::{parse_header, HeaderError, WorkerFrame, MAX_HEADER_BYTES};

/// Why no frame could be read. Every variant except `Closed` is a protocol violation.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the worker closed its frame channel")]
    Closed,
    #[error("reading the frame channel failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{error}; the line began with {preview:?}")]
    BadHeader { error: HeaderError, preview: String },
    #[error("the worker announced a {len}-byte payload, over the {max}-byte limit (FERRIC_MAX_FRAME_BYTES)")]
    TooLarge { len: u64, max: usize },
    #[error("the payload was not followed by a newline: the frame channel is out of sync")]
    MissingTerminator,
}

/// Reads frames; `max_payload` bounds every payload, [`MAX_HEADER_BYTES`] every header.
pub struct FrameReader<R> {
    inner: R,
    max_payload: usize,
    line: Vec<u8>,
}

const PREVIEW: usize = 200;

impl<R: AsyncBufRead + Unpin> FrameReader<R> {
    pub fn new(inner: R, max_payload: usize) -> Self {
        FrameReader {
            inner,
            max_payload,
            line: Vec::with_capacity(512),
        }
    }

    /// Read the next frame. Never holds more than one header and one bounded payload.
    pub async fn read_frame(&mut self) -> Result<WorkerFrame, FrameError> {
        self.read_line().await?;
        let header = parse_header(&self.line).map_err(|error| FrameError::BadHeader {
            error,
            preview: preview(&self.line),
        })?;
        if !header.has_payload() {
            return Ok(WorkerFrame::from_parts(header, Bytes::new()));
        }
        let len = header.payload_len();
        if len > self.max_payload as u64 {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_payload,
            });
        }
        let body = self.read_payload(len as usize).await?;
        Ok(WorkerFrame::from_parts(header, body))
    }

    /// Read one line into `self.line` (newline stripped), failing past the header limit.
    async fn read_line(&mut self) -> Result<(), FrameError> {
        self.line.clear();
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                return Err(FrameError::Closed);
            }
            let (take, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (i, true),
                None => (available.len(), false),
            };
            if self.line.len() + take > MAX_HEADER_BYTES {
                let room = MAX_HEADER_BYTES - self.line.len();
                self.line.extend_from_slice(&available[..room.min(take)]);
                return Err(FrameError::BadHeader {
                    error: HeaderError::TooLong,
                    preview: preview(&self.line),
                });
            }
            self.line.extend_from_slice(&available[..take]);
            self.inner.consume(take + usize::from(done));
            if done {
                return Ok(());
            }
        }
    }

    async fn read_payload(&mut self, len: usize) -> Result<Bytes, FrameError> {
        // Read into uninitialised capacity (no zeroing pass over large payloads).
        let mut body = BytesMut::with_capacity(len);
        while body.len() < len {
            let want = (len - body.len()) as u64;
            if (&mut self.inner).take(want).read_buf(&mut body).await? == 0 {
                return Err(FrameError::Closed);
            }
        }
        let mut nl = [0u8; 1];
        self.inner
            .read_exact(&mut nl)
            .await
            .map_err(eof_is_closed)?;
        if nl[0] != b'\n' {
            return Err(FrameError::MissingTerminator);
        }
        Ok(body.freeze())
    }
}

fn eof_is_closed(e: std::io::Error) -> FrameError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        FrameError::Closed
    } else {
        FrameError::Io(e)
    }
}

fn preview(line: &[u8]) -> String {
    let cut = line.len().min(PREVIEW);
    let mut s = String::from_utf8_lossy(&line[..cut]).into_owned();
    if line.len() > cut {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    fn reader(data: &'static [u8]) -> FrameReader<BufReader<&'static [u8]>> {
        FrameReader::new(BufReader::with_capacity(16, data), 1024)
    }

    #[tokio::test]
    async fn reads_frames_with_payloads_containing_newlines() {
        let mut r = reader(
            b"{\"type\":\"ready\",\"protocol\":1}\n{\"type\":\"result\",\"id\":\"a\",\"len\":4}\n{\n}\n\n",
        );
        assert!(matches!(
            r.read_frame().await,
            Ok(WorkerFrame::Ready { .. })
        ));
        match r.read_frame().await.unwrap() {
            WorkerFrame::Result { id, body, .. } => {
                assert_eq!(id, "a");
                assert_eq!(&body[..], b"{\n}\n");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(r.read_frame().await, Err(FrameError::Closed)));
    }

    #[tokio::test]
    async fn truncated_payload_is_closed_and_missing_newline_is_violation() {
        let mut r = reader(b"{\"type\":\"result\",\"id\":\"a\",\"len\":5}\nabc");
        assert!(matches!(r.read_frame().await, Err(FrameError::Closed)));
        let mut r = reader(b"{\"type\":\"result\",\"id\":\"a\",\"len\":2}\nabX");
        assert!(matches!(
            r.read_frame().await,
            Err(FrameError::MissingTerminator)
        ));
    }

    #[tokio::test]
    async fn plain_text_is_a_bad_header_with_preview() {
        let mut r = reader(b"hello from print()\n");
        match r.read_frame().await {
            Err(FrameError::BadHeader { preview, .. }) => assert_eq!(preview, "hello from print()"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn oversized_payload_is_refused_before_reading() {
        let mut r = reader(b"{\"type\":\"result\",\"id\":\"a\",\"len\":999999999}\n");
        assert!(matches!(
            r.read_frame().await,
            Err(FrameError::TooLarge { len: 999999999, .. })
        ));
    }

    #[tokio::test]
    async fn endless_line_stops_at_the_header_limit() {
        // A 1 MiB line with no newline: the reader must give up after MAX_HEADER_BYTES.
        let data: &'static [u8] = Box::leak(vec![b'x'; 1 << 20].into_boxed_slice());
        let mut r = FrameReader::new(BufReader::new(data), 1024);
        match r.read_frame().await {
            Err(FrameError::BadHeader { error, preview }) => {
                assert_eq!(error, HeaderError::TooLong);
                assert!(preview.len() < 300);
            }
            other => panic!("{other:?}"),
        }
        assert!(r.line.len() <= MAX_HEADER_BYTES);
    }
}
