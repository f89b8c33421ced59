//! A native ferric worker (docs/PROTOCOL.md, version 1): it answers every event with the event,
//! byte for byte. Run behind ferric (`ferric -- native-worker`) it is the floor of ferric's own
//! overhead in the benchmark harness: no interpreter, one read and one write per frame. It also
//! follows the conformance handler contract, so `ferric conform -- native-worker` passes.
//!
//! Frames arrive on stdin; answers go to the frame channel (`FERRIC_PROTOCOL_FD`, default 1:
//! stdout); logs go to stderr.
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::FromRawFd;
use std::process::ExitCode;

use serde_json::Value;

/// Input that breaks the framing: say so on stderr and exit 2 without answering.
fn die(what: &str) -> ! {
    eprintln!("native worker: protocol error: {what}");
    std::process::exit(2);
}

/// One frame: a JSON header line, then `payload` and a `\n`, in one write.
fn frame(out: &mut impl Write, header: Value, payload: &[u8]) {
    let mut header = header;
    header["len"] = payload.len().into();
    let mut buf = serde_json::to_vec(&header).expect("a JSON value serialises");
    buf.reserve(payload.len() + 2);
    buf.push(b'\n');
    buf.extend_from_slice(payload);
    buf.push(b'\n');
    if out.write_all(&buf).and_then(|()| out.flush()).is_err() {
        std::process::exit(0); // ferric is gone
    }
}

/// Read the next frame: its header and payload, or None at the end of input between frames.
fn read_frame(input: &mut impl BufRead, line: &mut Vec<u8>) -> Option<(Value, Vec<u8>)> {
    line.clear();
    match input.read_until(b'\n', line) {
        Ok(0) => return None,
        Ok(_) if line.last() == Some(&b'\n') => {}
        _ => die("stdin closed in the middle of a header"),
    }
    let header: Value = serde_json::from_slice(&line[..line.len() - 1])
        .ok()
        .filter(|h: &Value| h["type"].is_string())
        .unwrap_or_else(|| die("not a frame header"));
    let has_len = header.get("len").is_some();
    let len = match has_len {
        true => header["len"]
            .as_u64()
            .unwrap_or_else(|| die("bad payload length")) as usize,
        false => 0,
    };
    let mut payload = vec![0; len + usize::from(has_len)];
    if input.read_exact(&mut payload).is_err() {
        die("stdin closed in the middle of a payload");
    }
    if has_len && payload.pop() != Some(b'\n') {
        die("payload not followed by a newline");
    }
    Some((header, payload))
}

/// Answer one invocation: the echo, or what a conformance event asks for.
fn invoke(out: &mut impl Write, header: &Value, payload: &[u8]) {
    let id = header["id"]
        .as_str()
        .unwrap_or_else(|| die("invoke without an id"));
    let content_type = header["content_type"]
        .as_str()
        .unwrap_or("application/json");
    let result = |out: &mut _, body: &[u8], content_type: &str| {
        let h = serde_json::json!({"type": "result", "id": id, "content_type": content_type});
        frame(out, h, body);
    };
    if content_type != "application/json" {
        return result(out, payload, content_type);
    }
    match payload {
        br#"{"conform":"error"}"# => {
            let h = serde_json::json!({"type": "error", "id": id, "error_type": "ConformError"});
            let body = br#"{"errorMessage":"an error was asked for","errorType":"ConformError"}"#;
            frame(out, h, body);
        }
        br#"{"conform":"log"}"# => {
            eprintln!("{{\"type\":\"result\",\"id\":\"{id}\",\"len\":4}}\nFAKE\n{{\"type\":\"ready\",\"protocol\":1}}");
            result(out, br#""logged""#, "application/json");
        }
        p if p.starts_with(br#"{"conform":"stream""#) => {
            result(out, br#"{"conform":"nostream"}"#, "application/json");
        }
        p => result(out, p, content_type),
    }
}

fn main() -> ExitCode {
    let fd: i32 = std::env::var("FERRIC_PROTOCOL_FD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    // SAFETY: the frame channel is open for the worker's whole life (ferric's contract) and
    // nothing else in this process uses that descriptor.
    let mut out = unsafe { File::from_raw_fd(fd) };
    if std::env::var("_HANDLER").as_deref() == Ok("conform.init_error") {
        let h = serde_json::json!({"type": "init_error", "error_type": "Runtime.HandlerNotFound"});
        let body = br#"{"errorMessage":"no handler conform.init_error","errorType":"Runtime.HandlerNotFound"}"#;
        frame(&mut out, h, body);
        return ExitCode::from(1);
    }
    let ready = serde_json::json!({"type": "ready", "protocol": 1, "runtime": "rust native echo"});
    let ready = serde_json::to_vec(&ready).expect("a JSON value serialises");
    if out.write_all(&[&ready[..], b"\n"].concat()).is_err() {
        return ExitCode::SUCCESS;
    }
    let mut input = BufReader::with_capacity(1 << 20, std::io::stdin().lock());
    let mut line = Vec::new();
    while let Some((header, payload)) = read_frame(&mut input, &mut line) {
        match header["type"].as_str() {
            Some("invoke") => invoke(&mut out, &header, &payload),
            Some("shutdown") => break,
            _ => {} // unknown frames are ignored (their payload was read by its len)
        }
    }
    ExitCode::SUCCESS
}
