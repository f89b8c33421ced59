use super::*;

#[test]
fn events_are_compact_json_with_conform_first() {
    for event in [
        INFO,
        ERROR,
        LOG,
        &stream_event(3, true)[..],
        &echo_event("a\"b", false),
    ] {
        assert!(event.starts_with(b"{\"conform\":\""), "{}", preview(event));
        let v: Value = serde_json::from_slice(event).unwrap();
        assert!(v["conform"].is_string());
    }
    let stream: Value = serde_json::from_slice(&stream_event(5, false)).unwrap();
    assert_eq!(
        stream["chunks"].as_array().unwrap().len(),
        STREAM_CHUNKS.len()
    );
    assert_eq!(
        (stream["fill"].as_u64(), stream["error"].as_bool()),
        (Some(5), Some(false))
    );
    assert!(stream_bytes(2).ends_with(b"}\nxx"));
    let pretty = echo_event(&newline_text(), true);
    assert!(pretty.iter().filter(|b| **b == b'\n').count() >= 3);
    let v: Value = serde_json::from_slice(&pretty).unwrap();
    assert_eq!(v["text"], newline_text());
}

#[test]
fn info_answers_declare_the_event_mode() {
    assert_eq!(events_mode(br#"{"events":"json"}"#), Events::Json);
    assert_eq!(events_mode(br#"{"events":"bytes"}"#), Events::Bytes);
    // A worker that echoes the event back takes bytes.
    assert_eq!(events_mode(INFO), Events::Bytes);
    assert_eq!(events_mode(b"\x00garbage"), Events::Bytes);
}

#[test]
fn payloads_cover_what_they_claim() {
    let bytes = every_byte();
    assert!((0..=255u8).all(|b| bytes.contains(&b)));
    let large = large_bytes(4096);
    assert!((0..=255u8).all(|b| large.contains(&b)));
    assert_eq!(large_text(30).len(), 30);
    let text = every_char();
    assert!(text.contains('\0') && text.contains('\u{ff}') && text.contains('\u{10ffff}'));
    assert!(newline_bytes().starts_with(b"\n") && newline_bytes().ends_with(b"\n"));
}

#[test]
fn fake_frames_are_frames_for_the_request() {
    let [result, payload, ready] = fake_frames("r-1");
    let v: Value = serde_json::from_str(&result).unwrap();
    assert_eq!(
        (v["type"].as_str(), v["id"].as_str(), v["len"].as_u64()),
        (Some("result"), Some("r-1"), Some(4))
    );
    assert_eq!(payload.len(), 4);
    assert!(crate::worker::protocol::parse_header(ready.as_bytes()).is_ok());
}

#[test]
fn unknown_fields_keep_the_known_ones() {
    let header = invoke_header("r", JSON, 2, 7);
    let line = with_unknown_fields(&header);
    assert!(line.ends_with(b"}\n") && line.starts_with(b"{\"x_conform_first\""));
    let (known, extended): (Value, Value) = (
        serde_json::from_slice(&header).unwrap(),
        serde_json::from_slice(&line).unwrap(),
    );
    for (k, v) in known.as_object().unwrap() {
        assert_eq!(&extended[k], v, "{k}");
    }
    assert_eq!(
        extended.as_object().unwrap().len(),
        known.as_object().unwrap().len() + 5
    );
}

#[test]
fn the_largest_header_is_exactly_at_the_limit() {
    let line = largest_header("r", JSON, 17, 1_700_000_000_000);
    assert_eq!(line.len(), MAX_INVOKE_HEADER_BYTES + 1);
    let v: Value = serde_json::from_slice(&line).unwrap();
    let context: Value = serde_json::from_str(v["client_context"].as_str().unwrap()).unwrap();
    assert!(context["custom"]["pad"].as_str().unwrap().len() > 1_000_000);
    assert_eq!(v["len"], 17);
}

#[test]
fn differences_say_where() {
    assert_eq!(byte_difference(b"abc", b"abc"), None);
    let d = byte_difference(&[0x41, 0x80, 0x42], &[0x41, 0xef, 0xbf]).unwrap();
    assert!(d.contains("byte 1: sent 0x80, got 0xef"), "{d}");
    let d = byte_difference(b"abcd", b"ab").unwrap();
    assert!(
        d.contains("sent 4 bytes, got 2") && d.contains("got nothing"),
        "{d}"
    );
    assert_eq!(text_difference("h\u{e9}", "\"h\\u00e9\"".as_bytes()), None);
    let d = text_difference("h\u{e9}", "\"h\u{fffd}\"".as_bytes()).unwrap();
    assert!(d.contains("sent U+00E9, got U+FFFD"), "{d}");
    assert!(text_difference("x", b"{}")
        .unwrap()
        .contains("not a JSON string"));
}

#[test]
fn answers_are_recognised() {
    assert!(is_json_string(b"\"logged\"", LOGGED));
    assert!(!is_json_string(b"FAKE", LOGGED));
    assert!(is_nostream(br#"{"conform":"nostream"}"#));
    assert!(!is_nostream(br#"{"conform":"stream"}"#));
    assert_eq!(
        error_body_problem(br#"{"errorType":"E","errorMessage":"m","trace":[]}"#),
        None
    );
    assert!(error_body_problem(b"boom").unwrap().contains("not JSON"));
    assert!(error_body_problem(b"[1]")
        .unwrap()
        .contains("not a JSON object"));
    let missing = error_body_problem(br#"{"errorType":"E"}"#).unwrap();
    assert!(missing.contains("no string errorMessage"), "{missing}");
}

#[test]
fn ids_are_unique_and_varied() {
    let mut ids = Ids::default();
    let (a, b) = (ids.fresh(), ids.fresh());
    assert_ne!(a, b);
    assert_eq!(a.len(), 36);
    let shapes = ids.shapes();
    assert!(shapes[1].chars().any(|c| c.is_ascii_uppercase()));
    assert!(shapes[2].len() > 100);
    assert!(shapes.iter().all(|s| !s.contains(['"', '\\'])));
}

#[test]
fn unknown_frames_are_well_formed_frames() {
    let frames = unknown_frames();
    let (first, rest) = frames.split_at(frames.iter().position(|b| *b == b'\n').unwrap() + 1);
    assert!(serde_json::from_slice::<Value>(first).is_ok());
    let (second, payload) = rest.split_at(rest.iter().position(|b| *b == b'\n').unwrap() + 1);
    let header: Value = serde_json::from_slice(second).unwrap();
    let len = header["len"].as_u64().unwrap() as usize;
    assert_eq!(payload.len(), len + 1);
    assert_eq!(payload.last(), Some(&b'\n'));
}

#[test]
fn invalid_input_is_what_it_says() {
    use crate::worker::protocol::parse_header;
    assert!(parse_header(invalid::HEADER.strip_suffix(b"\n").unwrap()).is_err());
    let header = invoke_header("r", JSON, 2, 1);
    assert!(invalid::terminator(&header).ends_with(b"\n{}X"));
    let header = invoke_header("r", JSON, invalid::TRUNCATED_LEN, 1);
    let cut = invalid::truncated(&header);
    assert!(cut.len() - header.len() < invalid::TRUNCATED_LEN);
}
