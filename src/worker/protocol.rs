//! Worker protocol v1 wire types and their codec (see `docs/PROTOCOL.md`). Pure: no I/O here.
//!
//! A frame is a JSON header line, optionally followed by `len` raw payload bytes and a `\n`.
//! Payloads are never re-encoded: events go to the worker and results come back as the bytes
//! they were. [`FrameDecoder`] is a tokio-util [`Decoder`] whose memory is bounded by
//! [`MAX_HEADER_BYTES`] plus the configured payload limit, whatever the worker writes.

use bytes::{Buf, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tokio_util::codec::Decoder;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Longest header line accepted from a worker, newline excluded.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Longest header line ferric sends to a worker (large client-context or Cognito headers
/// travel in it), newline excluded. ferric checks it before writing; workers accept it.
pub const MAX_INVOKE_HEADER_BYTES: usize = 1024 * 1024;
/// Largest payload of one `stream_chunk` frame: a streamed response of any size crosses in
/// pieces of at most this much, so ferric's memory stays bounded whatever the stream's size.
pub const MAX_STREAM_CHUNK_BYTES: usize = 1024 * 1024;
/// The protocol features this ferric offers workers (in `FERRIC_PROTOCOL_FEATURES`).
pub const FEATURES: &str = "streaming";

/// A header line from a worker, before its payload (if any) has been read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerHeader {
    Ready {
        protocol: u32,
        #[serde(default)]
        pid: Option<u32>,
        #[serde(default)]
        runtime: Option<String>,
        #[serde(default)]
        executable: Option<String>,
        /// Optional frames the worker understands (`hooks`: SnapStart's runtime hooks).
        #[serde(default)]
        features: Vec<String>,
    },
    InitError {
        error_type: String,
        len: u64,
    },
    HooksDone {
        phase: String,
    },
    HooksError {
        phase: String,
        error_type: String,
        len: u64,
    },
    Result {
        id: String,
        #[serde(default)]
        content_type: Option<String>,
        len: u64,
    },
    Error {
        id: String,
        #[serde(default)]
        error_type: Option<String>,
        #[serde(default)]
        xray_cause: Option<String>,
        len: u64,
    },
    StreamStart {
        id: String,
        #[serde(default)]
        content_type: Option<String>,
    },
    StreamChunk {
        id: String,
        len: u64,
    },
    StreamEnd {
        id: String,
    },
    StreamError {
        id: String,
        error_type: String,
        len: u64,
    },
}

impl WorkerHeader {
    /// Payload length announced by this header (`None` when the frame has no payload).
    pub fn payload_len(&self) -> Option<u64> {
        match self {
            WorkerHeader::Ready { .. }
            | WorkerHeader::HooksDone { .. }
            | WorkerHeader::StreamStart { .. }
            | WorkerHeader::StreamEnd { .. } => None,
            WorkerHeader::InitError { len, .. }
            | WorkerHeader::HooksError { len, .. }
            | WorkerHeader::Result { len, .. }
            | WorkerHeader::Error { len, .. }
            | WorkerHeader::StreamChunk { len, .. }
            | WorkerHeader::StreamError { len, .. } => Some(*len),
        }
    }

    /// The largest payload this kind of frame may carry, given the configured limit.
    fn payload_limit(&self, max_payload: usize) -> usize {
        match self {
            WorkerHeader::StreamChunk { .. } => MAX_STREAM_CHUNK_BYTES,
            _ => max_payload,
        }
    }
}

/// Why a header line could not be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("frame header is not valid UTF-8 JSON with a known \"type\": {0}")]
    Malformed(String),
    #[error("frame header is longer than {MAX_HEADER_BYTES} bytes")]
    TooLong,
}

/// Parse one header line (without its newline).
pub fn parse_header(line: &[u8]) -> Result<WorkerHeader, HeaderError> {
    if line.len() > MAX_HEADER_BYTES {
        return Err(HeaderError::TooLong);
    }
    serde_json::from_slice(line).map_err(|e| HeaderError::Malformed(e.to_string()))
}

/// A fully read frame from a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerFrame {
    Ready {
        protocol: u32,
        executable: Option<String>,
        runtime: Option<String>,
        features: Vec<String>,
    },
    InitError {
        error_type: String,
        body: Bytes,
    },
    /// The runtime hooks of a phase ran.
    HooksDone {
        phase: String,
    },
    /// A runtime hook failed: `body` is the error JSON to report.
    HooksError {
        phase: String,
        error_type: String,
        body: Bytes,
    },
    Result {
        id: String,
        content_type: String,
        body: Bytes,
    },
    Error {
        id: String,
        error_type: Option<String>,
        xray_cause: Option<String>,
        body: Bytes,
    },
    /// A streamed response begins (its head, with the content type, is sent now).
    StreamStart {
        id: String,
        content_type: String,
    },
    StreamChunk {
        id: String,
        body: Bytes,
    },
    /// The streamed response ended normally.
    StreamEnd {
        id: String,
    },
    /// The streamed response ended with an error (sent as HTTP trailers).
    StreamError {
        id: String,
        error_type: String,
        body: Bytes,
    },
}

/// The content type of a streamed response when the worker names none (aws-lambda-ric's).
pub const DEFAULT_STREAM_CONTENT_TYPE: &str = "application/octet-stream";

impl WorkerFrame {
    /// Combine a header with the payload read after it.
    pub fn from_parts(header: WorkerHeader, body: Bytes) -> WorkerFrame {
        match header {
            WorkerHeader::Ready {
                protocol,
                executable,
                runtime,
                features,
                ..
            } => WorkerFrame::Ready {
                protocol,
                executable,
                runtime,
                features,
            },
            WorkerHeader::InitError { error_type, .. } => {
                WorkerFrame::InitError { error_type, body }
            }
            WorkerHeader::HooksDone { phase } => WorkerFrame::HooksDone { phase },
            WorkerHeader::HooksError {
                phase, error_type, ..
            } => WorkerFrame::HooksError {
                phase,
                error_type,
                body,
            },
            WorkerHeader::Result {
                id, content_type, ..
            } => WorkerFrame::Result {
                id,
                content_type: content_type.unwrap_or_else(|| "application/json".to_owned()),
                body,
            },
            WorkerHeader::Error {
                id,
                error_type,
                xray_cause,
                ..
            } => WorkerFrame::Error {
                id,
                error_type,
                xray_cause,
                body,
            },
            WorkerHeader::StreamStart { id, content_type } => WorkerFrame::StreamStart {
                id,
                content_type: content_type
                    .unwrap_or_else(|| DEFAULT_STREAM_CONTENT_TYPE.to_owned()),
            },
            WorkerHeader::StreamChunk { id, .. } => WorkerFrame::StreamChunk { id, body },
            WorkerHeader::StreamEnd { id } => WorkerFrame::StreamEnd { id },
            WorkerHeader::StreamError { id, error_type, .. } => WorkerFrame::StreamError {
                id,
                error_type,
                body,
            },
        }
    }

    /// The frame's type, as named on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            WorkerFrame::Ready { .. } => "ready",
            WorkerFrame::InitError { .. } => "init_error",
            WorkerFrame::HooksDone { .. } => "hooks_done",
            WorkerFrame::HooksError { .. } => "hooks_error",
            WorkerFrame::Result { .. } => "result",
            WorkerFrame::Error { .. } => "error",
            WorkerFrame::StreamStart { .. } => "stream_start",
            WorkerFrame::StreamChunk { .. } => "stream_chunk",
            WorkerFrame::StreamEnd { .. } => "stream_end",
            WorkerFrame::StreamError { .. } => "stream_error",
        }
    }

    /// The request id an answer frame names (None for `ready` and `init_error`).
    pub fn id(&self) -> Option<&str> {
        match self {
            WorkerFrame::Ready { .. }
            | WorkerFrame::InitError { .. }
            | WorkerFrame::HooksDone { .. }
            | WorkerFrame::HooksError { .. } => None,
            WorkerFrame::Result { id, .. }
            | WorkerFrame::Error { id, .. }
            | WorkerFrame::StreamStart { id, .. }
            | WorkerFrame::StreamChunk { id, .. }
            | WorkerFrame::StreamEnd { id }
            | WorkerFrame::StreamError { id, .. } => Some(id),
        }
    }
}

/// Why no frame could be read. Every variant except `Closed` is a protocol violation.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the worker closed its frame channel")]
    Closed,
    #[error("reading the frame channel failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{error}; the line began with {preview:?}")]
    BadHeader { error: HeaderError, preview: String },
    #[error("the worker announced a {len}-byte payload, over the {max}-byte limit (FERRIC_MAX_FRAME_BYTES; 1 MiB for a stream_chunk)")]
    TooLarge { len: u64, max: usize },
    #[error("the payload was not followed by a newline: the frame channel is out of sync")]
    MissingTerminator,
}

const PREVIEW: usize = 200;

fn preview(line: &[u8]) -> String {
    let cut = line.len().min(PREVIEW);
    let mut s = String::from_utf8_lossy(&line[..cut]).into_owned();
    if line.len() > cut {
        s.push('…');
    }
    s
}

/// Decodes worker frames; `max_payload` bounds every payload, [`MAX_HEADER_BYTES`] every
/// header. Payloads are split off the read buffer without copying.
#[derive(Debug)]
pub struct FrameDecoder {
    max_payload: usize,
    /// The header of a frame whose payload is still arriving.
    pending: Option<WorkerHeader>,
}

impl FrameDecoder {
    pub fn new(max_payload: usize) -> FrameDecoder {
        FrameDecoder {
            max_payload,
            pending: None,
        }
    }

    fn header(&mut self, src: &mut BytesMut) -> Result<Option<WorkerHeader>, FrameError> {
        let window = &src[..src.len().min(MAX_HEADER_BYTES + 1)];
        let Some(nl) = memchr::memchr(b'\n', window) else {
            if src.len() > MAX_HEADER_BYTES {
                return Err(FrameError::BadHeader {
                    error: HeaderError::TooLong,
                    preview: preview(src),
                });
            }
            return Ok(None);
        };
        let line = src.split_to(nl + 1);
        let header = parse_header(&line[..nl]).map_err(|error| FrameError::BadHeader {
            error,
            preview: preview(&line[..nl]),
        })?;
        Ok(Some(header))
    }
}

impl Decoder for FrameDecoder {
    type Item = WorkerFrame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<WorkerFrame>, FrameError> {
        let header = match self.pending.take() {
            Some(h) => h,
            None => match self.header(src)? {
                None => return Ok(None),
                Some(h) => h,
            },
        };
        let Some(len) = header.payload_len() else {
            return Ok(Some(WorkerFrame::from_parts(header, Bytes::new())));
        };
        let max = header.payload_limit(self.max_payload);
        if len > max as u64 {
            return Err(FrameError::TooLarge { len, max });
        }
        let len = len as usize;
        if src.len() <= len {
            // Room for the whole payload and its newline, so it arrives in as few reads as
            // the pipe allows and is never reallocated on the way.
            src.reserve(len + 1 - src.len());
            self.pending = Some(header);
            return Ok(None);
        }
        let body = src.split_to(len).freeze();
        if src[0] != b'\n' {
            return Err(FrameError::MissingTerminator);
        }
        src.advance(1);
        Ok(Some(WorkerFrame::from_parts(header, body)))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<WorkerFrame>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            // A frame cut off by the end of the stream: the worker is gone.
            None if !src.is_empty() || self.pending.is_some() => Err(FrameError::Closed),
            None => Ok(None),
        }
    }
}

/// The fields of an invoke frame (the event follows the header as its payload).
#[derive(Debug, Serialize)]
pub struct InvokeFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: &'a str,
    pub deadline_ms: u64,
    pub arn: &'a str,
    pub trace_id: Option<&'a str>,
    pub client_context: Option<&'a str>,
    pub cognito_identity: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
    pub content_type: &'a str,
    pub len: usize,
}

/// The invoke header would not fit the protocol's header limit.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the invocation's headers take {0} bytes in a frame header, over the worker protocol's {MAX_INVOKE_HEADER_BYTES}-byte limit")]
pub struct HeaderTooLong(pub usize);

/// Encode the header line of an invoke frame (newline included), checking its size.
pub fn encode_invoke_header(frame: &InvokeFrame) -> Result<Vec<u8>, HeaderTooLong> {
    let mut line = Vec::with_capacity(384);
    // Serialising a struct of strings and integers into a Vec cannot fail.
    serde_json::to_writer(&mut line, frame).expect("invoke header serialises");
    if line.len() > MAX_INVOKE_HEADER_BYTES {
        return Err(HeaderTooLong(line.len()));
    }
    line.push(b'\n');
    Ok(line)
}

/// The byte that ends every payload.
pub const PAYLOAD_TERMINATOR: &[u8] = b"\n";

/// The shutdown frame.
pub const SHUTDOWN_FRAME: &[u8] = b"{\"type\":\"shutdown\"}\n";

/// The worker feature that says it runs SnapStart's runtime hooks.
pub const HOOKS_FEATURE: &str = "hooks";

/// When runtime hooks run (SnapStart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    BeforeSnapshot,
    AfterRestore,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::BeforeSnapshot => "before_snapshot",
            Phase::AfterRestore => "after_restore",
        }
    }

    /// The frame that asks a worker to run this phase's hooks.
    pub fn frame(self) -> Vec<u8> {
        format!("{{\"type\":\"hooks\",\"phase\":\"{}\"}}\n", self.name()).into_bytes()
    }
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
