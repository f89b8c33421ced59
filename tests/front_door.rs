//! The HTTP front door (`FERRIC_HTTP_LISTEN`) and the RIE invoke endpoint's answers, black-box:
//! the built binary in serve mode, real clients (`curl`, a headless Chromium), a Python handler
//! through the Python shim (`tests/fixtures/front_door_app/app.py`) or a raw worker
//! (`tests/fixtures/door_worker.py`). Self-contained: no shared test support.
//!
//! The front door's overhead against the invoke endpoint is measured by the ignored test
//! `measure_front_door_overhead` (`cargo test --release --test front_door -- --ignored
//! --nocapture`); it asserts nothing about time.

#[path = "front_door/invoke_endpoint.rs"]
mod invoke_endpoint;
#[path = "front_door/overhead.rs"]
mod overhead;
#[path = "front_door/support.rs"]
mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use support::*;

#[test]
fn a_get_with_a_query_string_is_an_http_api_event() {
    let f = app();
    let hello = curl(&[&format!("{}/hello?name=Ferris", f.door())]);
    assert_eq!(hello.status, 200, "{}", f.log());
    assert_eq!(hello.json(), json!({"greeting": "Hello, Ferris!"}));
    assert_eq!(hello.header("content-type"), Some("application/json"));
    assert!(hello.header("apigw-requestid").is_some());

    let url = format!("{}/event?name=Ferris&x=1&x=2&e=%C3%A9+%26", f.door());
    let reply = curl(&[
        &url,
        "-H",
        "X-Multi: a",
        "-H",
        "X-Multi: b",
        "-b",
        "flavour=oat; session=42",
    ]);
    // The handler answers its event as a plain dict: HTTP APIs make that a 200 JSON response.
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let e = reply.json();
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "$default");
    assert_eq!(e["rawPath"], "/event");
    assert_eq!(e["rawQueryString"], "name=Ferris&x=1&x=2&e=%C3%A9+%26");
    assert_eq!(
        e["queryStringParameters"],
        json!({"name": "Ferris", "x": "1,2", "e": "é &"})
    );
    assert_eq!(e["cookies"], json!(["flavour=oat", "session=42"]));
    assert_eq!(e["headers"]["x-multi"], "a,b");
    assert!(e["headers"].get("cookie").is_none(), "cookies are apart");
    assert!(e["headers"]["host"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    let rc = &e["requestContext"];
    assert_eq!(rc["http"]["method"], "GET");
    assert_eq!(rc["http"]["path"], "/event");
    assert_eq!(rc["http"]["protocol"], "HTTP/1.1");
    assert_eq!(rc["http"]["sourceIp"], "127.0.0.1");
    assert!(rc["http"]["userAgent"]
        .as_str()
        .unwrap()
        .starts_with("curl/"));
    assert_eq!(rc["stage"], "$default");
    assert_eq!(rc["domainPrefix"], "127");
    assert!(rc["timeEpoch"].as_u64().unwrap() > 1_700_000_000_000);
    assert!(rc["time"].as_str().unwrap().ends_with(" +0000"));
    assert!(e.get("body").is_none());
    assert_eq!(e["isBase64Encoded"], false);
    assert!(
        f.logged("GET /event 200"),
        "one line per request:\n{}",
        f.log()
    );
}

#[test]
fn a_form_post_reaches_the_handler_as_text() {
    let f = app();
    let reply = curl(&["-d", "name=Ferris+the+Crab", &format!("{}/page", f.door())]);
    assert_eq!(reply.status, 200, "{}", f.log());
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        reply.text().contains("Thanks, Ferris the Crab!"),
        "{}",
        reply.text()
    );
    assert!(f.logged("POST /page 200"));
}

#[test]
fn binary_uploads_arrive_base64_and_binary_answers_are_decoded() {
    let f = app();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob.bin");
    let bytes: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(7919) % 251) as u8)
        .collect();
    std::fs::write(&file, &bytes).unwrap();
    let upload = format!("{}/upload", f.door());
    let data = format!("@{}", file.display());
    let reply = curl(&[
        "-H",
        "content-type: application/octet-stream",
        "--data-binary",
        &data,
        &upload,
    ]);
    assert_eq!(reply.status, 200, "{}", f.log());
    let got = reply.json();
    assert_eq!(got["bytes"], bytes.len());
    assert_eq!(got["sha256"], sha256(&file));
    assert_eq!(got["isBase64Encoded"], true);
    // A multipart form with a file in it travels as base64 too.
    let form = format!("file=@{}", file.display());
    let multipart = curl(&["-F", &form, &upload]).json();
    assert_eq!(multipart["isBase64Encoded"], true);
    assert!(multipart["contentType"]
        .as_str()
        .unwrap()
        .starts_with("multipart/form-data; boundary="));
    assert!(multipart["bytes"].as_u64().unwrap() > bytes.len() as u64);

    let png = curl(&[&format!("{}/binary", f.door())]);
    assert_eq!(png.status, 200);
    assert_eq!(png.header("content-type"), Some("image/png"));
    assert!(png.body.starts_with(b"\x89PNG\r\n\x1a\n"), "{:?}", png.body);
}

#[test]
fn proxy_answers_set_cookies_headers_and_plain_answers_follow_http_api_rules() {
    let f = app();
    let cookies = curl(&[&format!("{}/cookies", f.door())]);
    assert_eq!(cookies.status, 200);
    assert_eq!(
        cookies.all("set-cookie"),
        ["flavour=oat; Path=/", "session=42; HttpOnly"]
    );
    assert_eq!(cookies.all("x-multi"), ["one", "two"]);
    assert_eq!(cookies.text(), "cookies set");
    let text = curl(&[&format!("{}/text", f.door())]);
    assert_eq!((text.status, text.text().as_str()), (200, "just a string"));
    assert_eq!(text.header("content-type"), Some("application/json"));
    let missing = curl(&[&format!("{}/nowhere", f.door())]);
    assert_eq!(missing.status, 404);
}

#[test]
fn a_function_error_is_api_gateway_s_502_and_is_logged() {
    let f = app();
    let reply = curl(&[&format!("{}/fail", f.door())]);
    assert_eq!(reply.status, 502);
    assert_eq!(reply.text(), r#"{"message":"Internal Server Error"}"#);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(
        f.logged("function error: {\"errorMessage\": \"boom\""),
        "{}",
        f.log()
    );
    assert!(f.logged("GET /fail 502"));
}

#[test]
fn ferric_http_event_v1_sends_rest_api_proxy_events() {
    let f = Ferric::start(Worker::App(&app_root()), &[("FERRIC_HTTP_EVENT", "v1")]);
    let url = format!("{}/echo/deep?x=1&x=2", f.door());
    let reply = curl(&[&url, "-H", "X-Multi: a", "-H", "X-Multi: b"]);
    assert_eq!(reply.status, 200, "{}", f.log());
    assert!(reply.header("x-amzn-requestid").is_some());
    let e = reply.json();
    assert_eq!(e["resource"], "/{proxy+}");
    assert_eq!(e["path"], "/echo/deep");
    assert_eq!(e["httpMethod"], "GET");
    assert_eq!(e["pathParameters"], json!({"proxy": "echo/deep"}));
    assert_eq!(e["queryStringParameters"], json!({"x": "2"}));
    assert_eq!(
        e["multiValueQueryStringParameters"],
        json!({"x": ["1", "2"]})
    );
    assert_eq!(e["headers"]["x-multi"], "b");
    assert_eq!(e["multiValueHeaders"]["x-multi"], json!(["a", "b"]));
    assert_eq!(e["stageVariables"], Value::Null);
    assert_eq!(e["body"], Value::Null);
    assert_eq!(e["requestContext"]["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(e["requestContext"]["stage"], "$default");
    assert_eq!(e["requestContext"]["resourcePath"], "/{proxy+}");
    // REST APIs assume nothing: an answer that is not a proxy object is a malformed response.
    let text = curl(&[&format!("{}/text", f.door())]);
    assert_eq!(text.status, 502);
    assert_eq!(text.text(), r#"{"message": "Internal server error"}"#);
    assert!(f.logged("malformed proxy response"), "{}", f.log());
    let form = curl(&["-d", "name=Rest", &format!("{}/page", f.door())]);
    assert!(form.text().contains("Thanks, Rest!"));
}

#[test]
fn a_streamed_answer_arrives_in_pieces_through_curl_n() {
    let f = Ferric::start(Worker::Raw, &[]);
    let (head, arrivals) = stream_through_curl_n(&format!("{}/stream", f.door()));
    assert!(
        head.starts_with("HTTP/1.1 201"),
        "the prelude's status: {head}"
    );
    let head = head.to_ascii_lowercase();
    assert!(head.contains("x-streamed: yes"), "{head}");
    assert!(head.contains("set-cookie: s=1"), "{head}");
    let (last_at, body) = arrivals.last().cloned().expect("a body");
    assert_eq!(body, "chunk 1\nchunk 2\nchunk 3\n");
    let first = arrivals
        .iter()
        .find(|(_, b)| b.contains("chunk 1"))
        .unwrap();
    assert!(
        !first.1.contains("chunk 3"),
        "the first chunk came alone: {arrivals:?}"
    );
    let gap = last_at - first.0;
    assert!(
        gap >= Duration::from_millis(600),
        "chunks 0.4 s apart at the worker arrived {gap:?} apart"
    );
    assert!(f.logged("GET /stream 201"), "{}", f.log());
    assert!(f.logged("(streaming)"));

    let (plain, arrivals) = stream_through_curl_n(&format!("{}/plain-stream", f.door()));
    assert!(plain.starts_with("HTTP/1.1 200"), "{plain}");
    assert!(plain
        .to_ascii_lowercase()
        .contains("content-type: text/plain"));
    assert_eq!(arrivals.last().unwrap().1, "one\ntwo\nthree\n");

    // A stream that fails before its prelude ends is API Gateway's 502; the error stays in the log.
    let failed = curl(&[&format!("{}/stream-fail", f.door())]);
    assert_eq!(failed.status, 502);
    assert_eq!(failed.text(), r#"{"message":"Internal Server Error"}"#);
    assert!(f.logged("secret detail"), "{}", f.log());
}

#[test]
fn timeouts_crashes_init_errors_and_oversized_requests_through_the_front_door() {
    let f = Ferric::start(Worker::Raw, &[("AWS_LAMBDA_FUNCTION_TIMEOUT", "1")]);
    let slow = curl(&[&format!("{}/sleep", f.door())]);
    assert_eq!(slow.status, 504, "{}", f.log());
    assert_eq!(slow.text(), r#"{"message":"Endpoint request timed out"}"#);
    let crash = curl(&[&format!("{}/exit", f.door())]);
    assert_eq!(crash.status, 502);
    assert_eq!(crash.text(), r#"{"message":"Internal Server Error"}"#);
    let echo = curl(&[&format!("{}/", f.door())]);
    assert_eq!(echo.status, 200, "a fresh worker serves the next request");
    assert_eq!(echo.json()["rawPath"], "/");

    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::write(&big, vec![b'x'; MAX_PAYLOAD + 1]).unwrap();
    let data = format!("@{}", big.display());
    let huge = curl(&["--data-binary", &data, &format!("{}/", f.door())]);
    assert_eq!(huge.status, 413);
    assert_eq!(huge.text(), r#"{"message":"Request Entity Too Large"}"#);
    // Under the limit as a body, over it as a (base64) event.
    std::fs::write(&big, vec![0xffu8; 5 * 1024 * 1024]).unwrap();
    let inflated = curl(&["--data-binary", &data, &format!("{}/", f.door())]);
    assert_eq!(inflated.status, 413);

    let broken = Ferric::start(Worker::Raw, &[("DOOR_INIT_ERROR", "1")]);
    let reply = curl(&[&format!("{}/", broken.door())]);
    assert_eq!(reply.status, 502);
    assert_eq!(reply.text(), r#"{"message":"Internal Server Error"}"#);
    assert!(
        broken.logged("init error: {\"errorMessage\""),
        "{}",
        broken.log()
    );
}

#[test]
fn a_headless_chromium_renders_the_page_the_python_handler_serves() {
    let f = app();
    let url = format!("{}/page?name=Chromium", f.door());
    let artifacts = repo().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("front_door_page.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(&url, &[&format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
        "{} bytes",
        png.len()
    );

    let dom = run_chromium(&url, &["--dump-dom"]);
    assert!(dom.contains("Hello, Chromium!"), "{dom}");
    assert!(
        dom.contains("script ran: 42"),
        "the page's script ran: {dom}"
    );
    assert!(
        dom.contains("<form method=\"post\" action=\"/page\">"),
        "{dom}"
    );
    assert!(f.logged("GET /page 200"), "{}", f.log());
}

#[test]
fn the_front_door_is_off_when_asked_in_ferric_invoke_and_in_production() {
    let off = Ferric::start(Worker::Raw, &[("FERRIC_HTTP_LISTEN", "off")]);
    assert_eq!(invoke(&off, "{}", &[]).status, 200);
    assert!(!off.log().contains("front door"), "{}", off.log());

    let worker = fixture("door_worker.py");
    let out = Command::new(env!("CARGO_BIN_EXE_ferric"))
        .args(["invoke", "--event", "-", "--", &python(), &worker])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("FERRIC_HTTP_LISTEN", "127.0.0.1:0")
        .stdin(std::fs::File::open(repo().join("examples/events/plain.json")).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("front door"));

    // Production: a Runtime API that is not there; ferric gives up without a front door.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferric"));
    cmd.args(["--", &python(), &worker])
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:1")
        .env("FERRIC_HTTP_LISTEN", "127.0.0.1:0");
    let (mut child, log) = spawn_logged(&mut cmd);
    let status = child.wait().unwrap();
    assert!(!status.success());
    let log = log.lock().unwrap().clone();
    assert!(!log.contains("front door"), "{log}");
}

#[test]
fn an_address_in_use_turns_the_front_door_off_with_a_warning() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let f = Ferric::start(Worker::Raw, &[("FERRIC_HTTP_LISTEN", &address)]);
    assert!(f.door.is_none());
    assert!(f
        .log()
        .contains(&format!("cannot listen on {address} (FERRIC_HTTP_LISTEN)")));
    assert_eq!(
        invoke(&f, "{}", &[]).status,
        200,
        "the invoke endpoint serves"
    );
}

#[test]
fn bad_front_door_settings_are_configuration_errors() {
    for (name, value) in [("FERRIC_HTTP_LISTEN", "3000"), ("FERRIC_HTTP_EVENT", "v3")] {
        let out = Command::new(env!("CARGO_BIN_EXE_ferric"))
            .args(["--", "true"])
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env(name, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(name) && stderr.contains(" or "), "{stderr}");
    }
}
