use super::*;

fn invoke<'a>(body_len: usize, cognito: Option<&'a str>) -> InvokeFrame<'a> {
    InvokeFrame {
        kind: "invoke",
        id: "req-1",
        deadline_ms: 1_700_000_000_000,
        arn: "arn:aws:lambda:us-east-1:1:function:f",
        trace_id: Some("Root=1-a;Sampled=1"),
        client_context: None,
        cognito_identity: cognito,
        tenant_id: None,
        content_type: "application/json",
        len: body_len,
    }
}

fn decode_all(data: &[u8], max: usize) -> Vec<Result<WorkerFrame, String>> {
    let mut d = FrameDecoder::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    // Feed one byte at a time: frames must not depend on how reads split the stream.
    for b in data {
        buf.extend_from_slice(&[*b]);
        match d.decode(&mut buf) {
            Ok(Some(f)) => out.push(Ok(f)),
            Ok(None) => {}
            Err(e) => {
                out.push(Err(e.to_string()));
                return out;
            }
        }
    }
    if let Err(e) = d.decode_eof(&mut buf) {
        out.push(Err(e.to_string()));
    }
    out
}

#[test]
fn invoke_header_is_one_json_line_with_payload_length() {
    let line = encode_invoke_header(&invoke(10, Some("{\"cognitoIdentityId\":\"x\"}"))).unwrap();
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
fn invoke_header_limit_is_checked_before_sending() {
    let big = "x".repeat(200 * 1024);
    assert!(encode_invoke_header(&invoke(0, Some(&big))).is_ok());
    let huge = "\"".repeat(MAX_INVOKE_HEADER_BYTES / 2 + 1);
    let err = encode_invoke_header(&invoke(0, Some(&huge))).unwrap_err();
    assert!(err.0 > MAX_INVOKE_HEADER_BYTES);
}

#[test]
fn parses_every_worker_header() {
    let ready = parse_header(br#"{"type":"ready","protocol":1,"pid":3,"x":"ignored"}"#);
    assert!(matches!(ready, Ok(WorkerHeader::Ready { protocol: 1, .. })));
    let result = parse_header(br#"{"type":"result","id":"r","len":2}"#).unwrap();
    assert_eq!(result.payload_len(), Some(2));
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
    let ready = parse_header(br#"{"type":"ready","protocol":1,"features":["hooks"]}"#);
    assert!(matches!(ready, Ok(WorkerHeader::Ready { features, .. }) if features == ["hooks"]));
    let done = parse_header(br#"{"type":"hooks_done","phase":"after_restore"}"#);
    assert!(matches!(done, Ok(WorkerHeader::HooksDone { .. })));
    assert_eq!(
        Phase::BeforeSnapshot.frame(),
        b"{\"type\":\"hooks\",\"phase\":\"before_snapshot\"}\n"
    );
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
fn decodes_frames_with_payloads_containing_newlines_byte_by_byte() {
    let frames = decode_all(
        b"{\"type\":\"ready\",\"protocol\":1}\n{\"type\":\"result\",\"id\":\"a\",\"len\":4}\n{\n}\n\n",
        1024,
    );
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert!(matches!(frames[0], Ok(WorkerFrame::Ready { .. })));
    match &frames[1] {
        Ok(WorkerFrame::Result { id, body, .. }) => {
            assert_eq!(id, "a");
            assert_eq!(&body[..], b"{\n}\n");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncated_payload_is_closed_and_missing_newline_is_a_violation() {
    let cut = decode_all(b"{\"type\":\"result\",\"id\":\"a\",\"len\":5}\nabc", 1024);
    assert_eq!(cut, vec![Err(FrameError::Closed.to_string())]);
    let bad = decode_all(b"{\"type\":\"result\",\"id\":\"a\",\"len\":2}\nabX", 1024);
    assert_eq!(bad, vec![Err(FrameError::MissingTerminator.to_string())]);
}

#[test]
fn plain_text_is_a_bad_header_with_preview() {
    let frames = decode_all(b"hello from print()\n", 1024);
    match &frames[..] {
        [Err(e)] => assert!(e.contains("\"hello from print()\""), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn oversized_payload_is_refused_before_reading() {
    let mut d = FrameDecoder::new(1024);
    let mut buf = BytesMut::from(&b"{\"type\":\"result\",\"id\":\"a\",\"len\":999999999}\n"[..]);
    assert!(matches!(
        d.decode(&mut buf),
        Err(FrameError::TooLarge { len: 999999999, .. })
    ));
    assert!(
        buf.capacity() < 4096,
        "no room reserved for a refused payload"
    );
}

#[test]
fn endless_line_stops_at_the_header_limit() {
    let mut d = FrameDecoder::new(1024);
    let mut buf = BytesMut::from(&vec![b'x'; MAX_HEADER_BYTES][..]);
    assert!(matches!(d.decode(&mut buf), Ok(None)));
    buf.extend_from_slice(b"xx");
    match d.decode(&mut buf) {
        Err(FrameError::BadHeader { error, preview }) => {
            assert_eq!(error, HeaderError::TooLong);
            assert!(preview.len() < 300);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn stream_frames_decode_and_chunks_are_bounded() {
    let frames = decode_all(
        b"{\"type\":\"stream_start\",\"id\":\"s\"}\n{\"type\":\"stream_chunk\",\"id\":\"s\",\"len\":3}\nab\n\n{\"type\":\"stream_error\",\"id\":\"s\",\"error_type\":\"E\",\"len\":2}\n{}\n{\"type\":\"stream_end\",\"id\":\"s\"}\n",
        1 << 30,
    );
    let kinds: Vec<&str> = frames.iter().map(|f| f.as_ref().unwrap().kind()).collect();
    assert_eq!(
        kinds,
        ["stream_start", "stream_chunk", "stream_error", "stream_end"]
    );
    assert!(
        matches!(&frames[0], Ok(WorkerFrame::StreamStart { content_type, .. }) if content_type == DEFAULT_STREAM_CONTENT_TYPE)
    );
    assert!(
        matches!(&frames[1], Ok(WorkerFrame::StreamChunk { body, .. }) if &body[..] == b"ab\n")
    );
    let mut d = FrameDecoder::new(1 << 30);
    let mut buf =
        BytesMut::from(&b"{\"type\":\"stream_chunk\",\"id\":\"s\",\"len\":1048577}\n"[..]);
    assert!(matches!(
        d.decode(&mut buf),
        Err(FrameError::TooLarge {
            max: MAX_STREAM_CHUNK_BYTES,
            ..
        })
    ));
}

#[test]
fn clean_end_of_stream_is_no_frame() {
    assert!(decode_all(b"", 16).is_empty());
}
