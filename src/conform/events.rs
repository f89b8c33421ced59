//! What the kit sends and how it judges the answers, with no I/O: the conformance events
//! (docs/PROTOCOL.md, "Checking a worker: ferric conform"), the invoke headers it writes, the
//! invalid input it feeds, and the comparisons that turn an answer into a reason.
//!
//! Events for every worker are compact JSON with `conform` as the first key, so a worker with
//! no JSON parser may match them on their bytes (`examples/raw/echo_worker.sh` does).

use serde_json::Value;

use crate::worker::protocol::{encode_invoke_header, InvokeFrame, MAX_INVOKE_HEADER_BYTES};

pub const JSON: &str = "application/json";
pub const OCTETS: &str = "application/octet-stream";

/// Asks what the handler can take: the answer is a JSON object, `{"events":"json"}` for a
/// worker whose handlers only ever see parsed JSON.
pub const INFO: &[u8] = br#"{"conform":"info"}"#;
/// Asks for a handler error (an `error` frame).
pub const ERROR: &[u8] = br#"{"conform":"error"}"#;
/// Asks the handler to log [`fake_frames`], then answer [`LOGGED`].
pub const LOG: &[u8] = br#"{"conform":"log"}"#;
/// The answer to [`LOG`], as a JSON string.
pub const LOGGED: &str = "logged";
/// What a worker that does not stream answers to a stream event (a JSON object).
pub const NOSTREAM: &str = "nostream";
/// The chunks a stream event asks for: the last looks like a frame, so only a worker (and a
/// kit) that frames by length gets it right.
pub const STREAM_CHUNKS: [&str; 3] = ["hello ", "w\u{f6}rld\n", "{\"type\":\"stream_end\"}\n"];
/// How many bytes of `x` the stream event asks for after its chunks: more than one
/// `stream_chunk` may carry, so the worker must split them.
pub const STREAM_FILL: usize = 1536 * 1024;

/// The function ARN in the kit's invoke frames.
const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:conform";

/// How the worker's handlers receive events, from its answer to [`INFO`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Events {
    /// Non-JSON content types reach the handler as bytes and bytes can be answered: payload
    /// rules send `application/octet-stream` events and expect them back byte for byte.
    Bytes,
    /// Handlers see parsed JSON only (aws-lambda-ric's, aws_lambda_ric's): payload rules send
    /// `{"conform":"echo","text":...}` and expect `text` back as a JSON string.
    Json,
}

/// The event mode an answer to [`INFO`] declares (anything but `"events":"json"` is bytes).
pub fn events_mode(answer: &[u8]) -> Events {
    let json = serde_json::from_slice::<Value>(answer)
        .ok()
        .is_some_and(|v| v.get("events").and_then(Value::as_str) == Some("json"));
    if json {
        Events::Json
    } else {
        Events::Bytes
    }
}

/// A JSON string literal.
fn quoted(text: &str) -> String {
    // Serialising a &str cannot fail.
    serde_json::to_string(text).expect("a string serialises")
}

/// `{"conform":"echo","text":...}`; pretty-printed (newlines between tokens) when `pretty`.
pub fn echo_event(text: &str, pretty: bool) -> Vec<u8> {
    let text = quoted(text);
    let event = if pretty {
        format!("{{\n  \"conform\": \"echo\",\n  \"text\": {text}\n}}\n")
    } else {
        format!("{{\"conform\":\"echo\",\"text\":{text}}}")
    };
    event.into_bytes()
}

/// The stream event: [`STREAM_CHUNKS`], then `fill` bytes of `x`, then `stream_end` (or
/// `stream_error` when `error`).
pub fn stream_event(fill: usize, error: bool) -> Vec<u8> {
    let chunks: Vec<String> = STREAM_CHUNKS.iter().map(|c| quoted(c)).collect();
    format!(
        "{{\"conform\":\"stream\",\"chunks\":[{}],\"fill\":{fill},\"error\":{error}}}",
        chunks.join(",")
    )
    .into_bytes()
}

/// The bytes a stream event asks for.
pub fn stream_bytes(fill: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = STREAM_CHUNKS.concat().into_bytes();
    bytes.resize(bytes.len() + fill, b'x');
    bytes
}

/// The lines [`LOG`] asks the handler to write to its logs: frames, should they reach the
/// frame channel (a result for the current request, and a second ready).
pub fn fake_frames(id: &str) -> [String; 3] {
    [
        format!("{{\"type\":\"result\",\"id\":{},\"len\":4}}", quoted(id)),
        "FAKE".to_owned(),
        "{\"type\":\"ready\",\"protocol\":1}".to_owned(),
    ]
}

/// Payload bytes with newlines everywhere, including a line that is a valid frame.
pub fn newline_bytes() -> Vec<u8> {
    b"\n\nline one\nline two\r\n{\"type\":\"shutdown\"}\n\n".to_vec()
}

/// Text with newlines, including a line that is a valid frame.
pub fn newline_text() -> String {
    "\nline one\nline two\r\n{\"type\":\"shutdown\"}\n\n".to_owned()
}

/// Every byte value, up and then down.
pub fn every_byte() -> Vec<u8> {
    (0..=255u8).chain((0..=255u8).rev()).collect()
}

/// Every code point up to U+00FF, and 3- and 4-byte UTF-8 up to U+10FFFF: every byte value
/// UTF-8 text can carry to a JSON-only handler except a few lead bytes.
pub fn every_char() -> String {
    let mut text: String = (0..=0xffu32).filter_map(char::from_u32).collect();
    text.push_str("\u{20ac}\u{ffff}\u{1f600}\u{10ffff}");
    text
}

/// `len` bytes in which every value occurs.
pub fn large_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 256) as u8).collect()
}

/// `len` bytes of ASCII letters.
pub fn large_text(len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

fn invoke<'a>(id: &'a str, content_type: &'a str, len: usize, deadline_ms: u64) -> InvokeFrame<'a> {
    InvokeFrame {
        kind: "invoke",
        id,
        deadline_ms,
        arn: ARN,
        trace_id: Some(
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
        ),
        client_context: None,
        cognito_identity: None,
        tenant_id: None,
        content_type,
        len,
    }
}

/// An invoke header line (newline included) as ferric writes it.
pub fn invoke_header(id: &str, content_type: &str, len: usize, deadline_ms: u64) -> Vec<u8> {
    // Ids and content types of a few dozen bytes never reach the header limit.
    encode_invoke_header(&invoke(id, content_type, len, deadline_ms)).expect("a small header")
}

/// `header` with fields this protocol version does not define, before and after its own.
pub fn with_unknown_fields(header: &[u8]) -> Vec<u8> {
    let inner = header
        .strip_prefix(b"{")
        .and_then(|h| h.strip_suffix(b"}\n"))
        .unwrap_or(b"\"type\":\"invoke\"");
    let mut line = br#"{"x_conform_first":"ignore me","#.to_vec();
    line.extend_from_slice(inner);
    line.extend_from_slice(
        br#","x_conform_object":{"nested":[1,{"deep":null}],"flag":true},"x_conform_number":-1.5e3,"x_conform_list":["a",2,false],"x_conform_null":null}"#,
    );
    line.push(b'\n');
    line
}

/// An invoke header exactly [`MAX_INVOKE_HEADER_BYTES`] long before its newline: the largest
/// ferric sends, filled by a large client context (JSON text, as the Runtime API passes it).
pub fn largest_header(id: &str, content_type: &str, len: usize, deadline_ms: u64) -> Vec<u8> {
    let context = |pad: usize| format!("{{\"custom\":{{\"pad\":\"{}\"}}}}", "p".repeat(pad));
    let measure = |pad: usize| {
        let context = context(pad);
        let frame = InvokeFrame {
            client_context: Some(&context),
            ..invoke(id, content_type, len, deadline_ms)
        };
        serde_json::to_vec(&frame).map_or(0, |v| v.len())
    };
    let pad = MAX_INVOKE_HEADER_BYTES.saturating_sub(measure(0));
    let context = context(pad);
    let frame = InvokeFrame {
        client_context: Some(&context),
        ..invoke(id, content_type, len, deadline_ms)
    };
    // `pad` was measured to fit exactly.
    encode_invoke_header(&frame).expect("the padded header fits the limit")
}

/// At most 80 characters of `bytes`, quoted, for a reason.
pub fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]);
    let more = if bytes.len() > 80 { "…" } else { "" };
    format!("{text:?}{more}")
}

/// Why `got` is not `want`, or None when it is.
pub fn byte_difference(want: &[u8], got: &[u8]) -> Option<String> {
    if want == got {
        return None;
    }
    let at = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let byte = |s: &[u8]| {
        s.get(at)
            .map_or("nothing".to_owned(), |b| format!("0x{b:02x}"))
    };
    Some(format!(
        "sent {} bytes, got {} back; first difference at byte {at}: sent {}, got {}",
        want.len(),
        got.len(),
        byte(want),
        byte(got)
    ))
}

/// Why the answer `got` is not the JSON string `want`, or None when it is.
pub fn text_difference(want: &str, got: &[u8]) -> Option<String> {
    let text = match serde_json::from_slice::<Value>(got) {
        Ok(Value::String(text)) => text,
        _ => return Some(format!("the answer is not a JSON string: {}", preview(got))),
    };
    if text == want {
        return None;
    }
    let (want_chars, got_chars): (Vec<char>, Vec<char>) =
        (want.chars().collect(), text.chars().collect());
    let at = want_chars
        .iter()
        .zip(&got_chars)
        .position(|(a, b)| a != b)
        .unwrap_or(want_chars.len().min(got_chars.len()));
    let char_at = |s: &[char]| {
        s.get(at)
            .map_or("nothing".to_owned(), |c| format!("U+{:04X}", u32::from(*c)))
    };
    Some(format!(
        "sent {} characters, got {} back; first difference at character {at}: sent {}, got {}",
        want_chars.len(),
        got_chars.len(),
        char_at(&want_chars),
        char_at(&got_chars)
    ))
}

/// Whether `body` is the JSON string `want`.
pub fn is_json_string(body: &[u8], want: &str) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| v.as_str() == Some(want))
}

/// Whether `body` is the answer of a worker that does not stream.
pub fn is_nostream(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .is_ok_and(|v| v.get("conform").and_then(Value::as_str) == Some(NOSTREAM))
}

/// What is wrong with an error body: it must be a JSON object with string `errorType` and
/// `errorMessage` (the body every Lambda runtime posts).
pub fn error_body_problem(body: &[u8]) -> Option<String> {
    let value = match serde_json::from_slice::<Value>(body) {
        Ok(value) => value,
        Err(e) => {
            return Some(format!(
                "the error payload is not JSON ({e}): {}",
                preview(body)
            ))
        }
    };
    let Some(object) = value.as_object() else {
        return Some(format!(
            "the error payload is not a JSON object: {}",
            preview(body)
        ));
    };
    let missing: Vec<&str> = ["errorType", "errorMessage"]
        .into_iter()
        .filter(|k| !object.get(*k).is_some_and(Value::is_string))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "the error payload has no string {}: {}",
            missing.join(" or "),
            preview(body)
        )
    })
}

/// Request ids: unique, shaped like Lambda's (UUIDs).
#[derive(Debug, Default)]
pub struct Ids(u64);

impl Ids {
    pub fn fresh(&mut self) -> String {
        self.0 += 1;
        let tail = self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 16;
        format!("c0f0a11d-{:04x}-4c0f-8000-{tail:012x}", self.0 & 0xffff)
    }

    /// Ids of other shapes a Runtime API might use: upper case, and long with punctuation.
    pub fn shapes(&mut self) -> [String; 3] {
        let long = format!("conform.{}{}", "long_request-id:".repeat(6), self.fresh());
        [self.fresh(), self.fresh().to_uppercase(), long]
    }
}

/// Frames of types this protocol version does not define: one without a payload, and one
/// whose payload holds lines that are frames (a worker must skip it by its `len`).
pub fn unknown_frames() -> Vec<u8> {
    let payload = b"{\"type\":\"shutdown\"}\n{\"type\":\"invoke\",\"id\":\"x\",\"len\":0}\n\n";
    let mut frames = b"{\"type\":\"conform_unknown\",\"n\":1}\n".to_vec();
    frames.extend_from_slice(
        format!(
            "{{\"type\":\"conform_unknown\",\"len\":{}}}\n",
            payload.len()
        )
        .as_bytes(),
    );
    frames.extend_from_slice(payload);
    frames.push(b'\n');
    frames
}

/// The invalid input of the invalid-frame rules.
pub mod invalid {
    /// A line that is not a JSON object.
    pub const HEADER: &[u8] = b"this is not a frame header\n";

    /// An invoke whose 2-byte payload is followed by `X`, not `\n`.
    pub fn terminator(header: &[u8]) -> Vec<u8> {
        [header, b"{}X"].concat()
    }

    /// The first bytes of an invoke frame whose payload is [`TRUNCATED_LEN`] bytes.
    pub fn truncated(header: &[u8]) -> Vec<u8> {
        [header, &br#"{"conform":"info""#[..]].concat()
    }

    /// The payload length a truncated frame announces.
    pub const TRUNCATED_LEN: usize = 64;
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
