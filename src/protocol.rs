//! Worker protocol v1 wire types (see `docs/PROTOCOL.md`). Pure: no I/O here.
//!
//! A frame is a JSON header line, optionally followed by `len` raw payload bytes and a `\n`.
//! Payloads are never re-encoded: events go to the worker and results come back as the bytes
//! they were.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::invocation::Invocation;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Longest header line accepted from a worker, newline excluded.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

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
    },
    InitError {
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
}

impl WorkerHeader {
    /// Payload length announced by this header (0 when the frame has none).
    pub fn payload_len(&self) -> u64 {
        match self {
            WorkerHeader::Ready { .. } => 0,
            WorkerHeader::InitError { len, .. }
            | WorkerHeader::Result { len, .. }
            | WorkerHeader::Error { len, .. } => *len,
        }
    }

    /// Whether a payload (and its trailing newline) follows the header line.
    pub fn has_payload(&self) -> bool {
        !matches!(self, WorkerHeader::Ready { .. })
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
    },
    InitError {
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
}

impl WorkerFrame {
    /// Combine a header with the payload read after it.
    pub fn from_parts(header: WorkerHeader, body: Bytes) -> WorkerFrame {
        match header {
            WorkerHeader::Ready {
                protocol,
                executable,
                runtime,
                ..
            } => WorkerFrame::Ready {
                protocol,
                executable,
                runtime,
            },
            WorkerHeader::InitError { error_type, .. } => {
                WorkerFrame::InitError { error_type, body }
            }
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
        }
    }
}

#[derive(Serialize)]
struct InvokeHeader<'a> {
    r#type: &'static str,
    id: &'a str,
    deadline_ms: u64,
    arn: &'a str,
    trace_id: Option<&'a str>,
    client_context: Option<&'a str>,
    cognito_identity: Option<&'a str>,
    tenant_id: Option<&'a str>,
    content_type: &'a str,
    len: usize,
}

/// Encode the header line of an invoke frame (newline included). The event itself follows it
/// as raw bytes, then a newline: see [`invoke_frame_trailer`].
pub fn encode_invoke_header(inv: &Invocation) -> Vec<u8> {
    let header = InvokeHeader {
        r#type: "invoke",
        id: &inv.request_id,
        deadline_ms: inv.deadline_ms,
        arn: &inv.invoked_function_arn,
        trace_id: inv.trace_id.as_deref(),
        client_context: inv.client_context.as_deref(),
        cognito_identity: inv.cognito_identity.as_deref(),
        tenant_id: inv.tenant_id.as_deref(),
        content_type: &inv.content_type,
        len: inv.body.len(),
    };
    let mut line = Vec::with_capacity(384);
    // Serialising a struct of strings and integers into a Vec cannot fail.
    serde_json::to_writer(&mut line, &header).expect("invoke header serialises");
    line.push(b'\n');
    line
}

/// The byte that ends every payload.
pub const PAYLOAD_TERMINATOR: &[u8] = b"\n";

/// The shutdown frame.
pub const SHUTDOWN_FRAME: &[u8] = b"{\"type\":\"shutdown\"}\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation() -> Invocation {
        Invocation {
            request_id: "req-1".into(),
            deadline_ms: 1_700_000_000_000,
            invoked_function_arn: "arn:aws:lambda:us-east-1:1:function:f".into(),
            trace_id: Some("Root=1-a;Sampled=1".into()),
            client_context: None,
            cognito_identity: Some("{\"cognitoIdentityId\":\"x\"}".into()),
            tenant_id: None,
            invocation_id: None,
            content_type: "application/json".into(),
            body: Bytes::from_static(b"{\n\"a\": 1\n}"),
        }
    }

    #[test]
    fn invoke_header_is_one_json_line_with_payload_length() {
        let line = encode_invoke_header(&invocation());
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["type"], "invoke");
        assert_eq!(v["id"], "req-1");
        assert_eq!(v["len"], 10);
        assert_eq!(v["deadline_ms"], 1_700_000_000_000u64);
        assert_eq!(v["client_context"], serde_json::Value::Null);
        assert_eq!(v["cognito_identity"], "{\"cognitoIdentityId\":\"x\"}");
    }

    #[test]
    fn parses_every_worker_header() {
        let ready = parse_header(br#"{"type":"ready","protocol":1,"pid":3,"x":"ignored"}"#);
        assert!(matches!(ready, Ok(WorkerHeader::Ready { protocol: 1, .. })));
        let result = parse_header(br#"{"type":"result","id":"r","len":2}"#).unwrap();
        assert_eq!(result.payload_len(), 2);
        let frame = WorkerFrame::from_parts(result, Bytes::from_static(b"{}"));
        assert_eq!(
            frame,
            WorkerFrame::Result {
                id: "r".into(),
                content_type: "application/json".into(),
                body: Bytes::from_static(b"{}")
            }
        );
        let err = parse_header(br#"{"type":"error","id":"r","error_type":"E","len":0}"#);
        assert!(matches!(err, Ok(WorkerHeader::Error { .. })));
        let init = parse_header(br#"{"type":"init_error","error_type":"Runtime.X","len":5}"#);
        assert!(matches!(init, Ok(WorkerHeader::InitError { len: 5, .. })));
    }

    #[test]
    fn rejects_garbage_unknown_types_and_missing_fields() {
        for line in [
            &b"hello world"[..],
            br#"{"type":"bogus"}"#,
            br#"{"type":"result","id":"r"}"#,
            br#"{"type":"result","id":"r","len":-1}"#,
            br#"{"type":"ready"}"#,
            b"\xff\xfe",
            b"",
        ] {
            assert!(
                matches!(parse_header(line), Err(HeaderError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn rejects_oversized_header_without_parsing() {
        let line = vec![b' '; MAX_HEADER_BYTES + 1];
        assert_eq!(parse_header(&line), Err(HeaderError::TooLong));
    }
}
