//! The Python shim's features beyond awslambdaric, through the built binary: response streaming
//! (`ferric_lambda.stream`) on the fake Runtime API and the emulator's streaming endpoint,
//! `async def` handlers on one event loop, the telemetry log descriptor, Lambda Managed
//! Instances' log socket, and SnapStart's runtime hooks (fake Runtime API and `FERRIC_SNAPSTART`).

mod support;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use ferric_fake_api::{Fault, Match, Options, Outcome, Rule};
use serde_json::Value;
use support::*;
use tokio::io::AsyncReadExt;

const EXIT: Duration = Duration::from_secs(20);

const STREAM_APP: &str = r#"
import asyncio, time
import ferric_lambda
from ferric_lambda import HttpResponse

@ferric_lambda.stream(content_type="text/plain")
def tokens(event, context):
    for i in range(event.get("n", 3)):
        yield "token %d " % i
        time.sleep(event.get("pause", 0))

@ferric_lambda.stream
def http(event, context):
    def body():
        yield b"\x00binary\xff"
        yield "text"
    return HttpResponse(body(), status_code=201, headers={"x-streamed": "yes"},
                        cookies=["a=1", "b=2"])

@ferric_lambda.stream
def fails_mid_stream(event, context):
    yield "before the error"
    raise ValueError("mid-stream")

@ferric_lambda.stream
def fails_first(event, context):
    raise KeyError("before any byte")
    yield "never"

@ferric_lambda.stream(content_type="text/event-stream")
async def agen(event, context):
    for i in range(3):
        await asyncio.sleep(event.get("pause", 0))
        yield "data: %d\n\n" % i

def unmarked(event, context):
    yield "x"
"#;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn streamed(outcome: &Outcome) -> (&http::HeaderMap, &[u8], Option<&http::HeaderMap>) {
    match outcome {
        Outcome::Response {
            headers,
            body,
            trailers,
        } => (headers, body, trailers.as_ref()),
        other => panic!("expected a response, got {other:?}"),
    }
}

fn text(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// ferric for `handler` of a task root holding `files`, against `api`, with `env`.
fn ferric_python(
    api: &ferric_fake_api::FakeApi,
    files: &[(&str, &str)],
    handler: &str,
    env: &[(&str, &str)],
) -> (TaskRoot, Running) {
    let root = TaskRoot::new();
    for (name, contents) in files {
        root.write(name, contents);
    }
    let mut cmd = ferric_command(api, root.path(), &[handler]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    (root, Running::spawn(cmd))
}

async fn stop(mut running: Running) {
    running.terminate();
    let status = running.wait(EXIT).await;
    assert_eq!(status.code(), Some(0), "{}", running.stderr());
}

#[tokio::test]
async fn a_marked_generator_streams_its_tokens_as_they_are_produced() {
    let api = fake().await;
    let (_root, running) = ferric_python(&api, &[("app.py", STREAM_APP)], "app.tokens", &[]);
    let r = invoke_json(&api, r#"{"n": 4, "pause": 0.15}"#).await;
    let (headers, body, trailers) = streamed(&r.outcome);
    assert_eq!(
        text(headers, "lambda-runtime-function-response-mode").as_deref(),
        Some("streaming"),
        "{}",
        running.stderr()
    );
    assert_eq!(text(headers, "content-type").as_deref(), Some("text/plain"));
    assert_eq!(body, b"token 0 token 1 token 2 token 3 ");
    assert!(trailers.is_none_or(|t| t.is_empty()), "{trailers:?}");
    let post = &posts_for(&api, &r.request_id)[0];
    let at: Vec<Duration> = post.frames.iter().map(|f| f.at).collect();
    assert!(at.len() >= 4, "{:?}", post.frames);
    assert!(
        at[at.len() - 1] - at[0] >= Duration::from_millis(300),
        "the tokens arrived together: {at:?}"
    );
    // The same worker streams again.
    let again = invoke_json(&api, r#"{"n": 1}"#).await;
    assert_eq!(streamed(&again.outcome).1, b"token 0 ");
    stop(running).await;
}

#[tokio::test]
async fn an_http_response_streams_its_prelude_then_bytes() {
    let api = fake().await;
    let (_root, running) = ferric_python(&api, &[("app.py", STREAM_APP)], "app.http", &[]);
    let r = invoke_json(&api, "{}").await;
    let (headers, body, _) = streamed(&r.outcome);
    assert_eq!(
        text(headers, "content-type").as_deref(),
        Some("application/vnd.awslambda.http-integration-response"),
        "{}",
        running.stderr()
    );
    let at = body
        .windows(8)
        .position(|w| w == [0u8; 8])
        .expect("the delimiter");
    assert_eq!(
        json(&body[..at]),
        serde_json::json!({"statusCode": 201, "headers": {"x-streamed": "yes"},
                           "cookies": ["a=1", "b=2"]})
    );
    assert_eq!(&body[at + 8..], b"\x00binary\xfftext");
    stop(running).await;
}

#[tokio::test]
async fn an_error_mid_stream_ends_the_response_with_error_trailers() {
    let api = fake().await;
    let (_root, running) =
        ferric_python(&api, &[("app.py", STREAM_APP)], "app.fails_mid_stream", &[]);
    let r = invoke_json(&api, "{}").await;
    let (_, body, trailers) = streamed(&r.outcome);
    assert_eq!(body, b"before the error");
    let trailers = trailers.unwrap_or_else(|| panic!("no trailers; {}", running.stderr()));
    assert_eq!(
        text(trailers, "lambda-runtime-function-error-type").as_deref(),
        Some("ValueError")
    );
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(trailers["lambda-runtime-function-error-body"].as_bytes())
        .unwrap();
    let error = json(&decoded);
    assert_eq!(error["errorMessage"], "mid-stream");
    assert_eq!(error["errorType"], "ValueError");
    assert_eq!(error["requestId"], r.request_id.as_str());
    let trace = error["stackTrace"].as_array().unwrap();
    assert_eq!(trace.len(), 1, "{error}");
    assert!(
        trace[0]
            .as_str()
            .unwrap()
            .contains("in fails_mid_stream\n    raise ValueError(\"mid-stream\")"),
        "{error}"
    );
    // awslambdaric's key order and separators.
    assert!(decoded.starts_with(b"{\"errorMessage\": \"mid-stream\", \"errorType\": "));
    assert!(
        running
            .stderr_contains("[ERROR] ValueError: mid-stream")
            .await
    );
    stop(running).await;
}

#[tokio::test]
async fn an_error_before_the_first_byte_and_an_unmarked_generator_are_ordinary_errors() {
    let api = fake().await;
    let (_root, running) = ferric_python(&api, &[("app.py", STREAM_APP)], "app.fails_first", &[]);
    let r = invoke_json(&api, "{}").await;
    let Outcome::Error { body, headers } = &r.outcome else {
        panic!("{:?}\n{}", r.outcome, running.stderr());
    };
    assert_eq!(json(body)["errorType"], "KeyError");
    assert!(headers.contains_key("lambda-runtime-function-xray-error-cause"));
    stop(running).await;

    let api = fake().await;
    let (_root, running) = ferric_python(&api, &[("app.py", STREAM_APP)], "app.unmarked", &[]);
    let r = invoke_json(&api, "{}").await;
    let Outcome::Error { body, .. } = &r.outcome else {
        panic!("{:?}", r.outcome);
    };
    assert_eq!(json(body)["errorType"], "Runtime.MarshalError");
    stop(running).await;
}

const ASYNC_APP: &str = r#"
import asyncio

LOCK = asyncio.Lock()  # bound to the loop that first uses it
calls = []

async def handler(event, context):
    async with LOCK:
        await asyncio.sleep(0.01)
    calls.append(id(asyncio.get_running_loop()))
    if event.get("fail"):
        raise RuntimeError("async failure")
    return {"calls": len(calls), "one_loop": len(set(calls)) == 1}
"#;

#[tokio::test]
async fn async_handlers_run_on_one_loop_across_invocations() {
    let api = fake().await;
    let (_root, running) = ferric_python(&api, &[("app.py", ASYNC_APP)], "app.handler", &[]);
    for n in 1..=3 {
        let r = invoke_json(&api, "{}").await;
        let body = r
            .outcome
            .body()
            .unwrap_or_else(|| panic!("{:?}", r.outcome));
        assert_eq!(
            json(body),
            serde_json::json!({"calls": n, "one_loop": true}),
            "{}",
            running.stderr()
        );
    }
    let r = invoke_json(&api, r#"{"fail": true}"#).await;
    let Outcome::Error { body, .. } = &r.outcome else {
        panic!("{:?}", r.outcome);
    };
    let error = json(body);
    assert_eq!(error["errorType"], "RuntimeError");
    let trace = error["stackTrace"].as_array().unwrap();
    assert_eq!(
        trace.len(),
        1,
        "only the handler's frame, no asyncio's: {error}"
    );
    stop(running).await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// ferric serving `handler` of `root` locally (the built-in emulator); the base URL.
async fn serve_local(root: &TaskRoot, handler: &str, env: &[(&str, &str)]) -> (Running, String) {
    let port = free_port();
    let mut cmd = tokio::process::Command::new(ferric_bin());
    cmd.arg(handler)
        .current_dir(root.path())
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("LAMBDA_TASK_ROOT", root.path())
        .env("FERRIC_PYTHON", python())
        .env("FERRIC_LISTEN", format!("127.0.0.1:{port}"))
        .env("FERRIC_HTTP_LISTEN", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let running = Running::spawn(cmd);
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (running, format!("http://127.0.0.1:{port}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("ferric did not listen; {}", running.stderr());
}

const STREAM_INVOKE: &str = "/2015-03-31/functions/function/response-streaming-invocations";
const INVOKE: &str = "/2015-03-31/functions/function/invocations";

#[tokio::test]
async fn the_emulator_s_streaming_endpoint_shows_tokens_as_they_come() {
    let root = TaskRoot::new();
    root.write("app.py", STREAM_APP);
    let (running, base) = serve_local(&root, "app.agen", &[]).await;
    let started = Instant::now();
    let mut child = tokio::process::Command::new("curl")
        .args(["-sN", "-XPOST", &format!("{base}{STREAM_INVOKE}")])
        .args(["-d", r#"{"pause": 0.4}"#])
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl runs");
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 9];
    out.read_exact(&mut first).await.unwrap();
    let first_at = started.elapsed();
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).await.unwrap();
    let all_at = started.elapsed();
    assert_eq!(&first, b"data: 0\n\n", "{}", running.stderr());
    assert_eq!(rest, b"data: 1\n\ndata: 2\n\n");
    assert!(
        all_at - first_at >= Duration::from_millis(600),
        "{first_at:?} {all_at:?}"
    );
    stop(running).await;

    // A function URL's view of an HttpResponse: status, headers, cookies, then the body.
    let (running, base) = serve_local(&root, "app.http", &[]).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = client
        .post(format!("{base}{STREAM_INVOKE}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", running.stderr());
    assert_eq!(r.headers()["x-streamed"], "yes");
    let cookies: Vec<_> = r.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(&r.bytes().await.unwrap()[..], b"\x00binary\xfftext");
    stop(running).await;

    // The buffered endpoint gets the whole stream.
    let (running, base) = serve_local(&root, "app.tokens", &[]).await;
    let r = client
        .post(format!("{base}{INVOKE}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "token 0 token 1 token 2 ");
    stop(running).await;
}

/// A pipe whose write end a child gets at the same number (the test process keeps it
/// close-on-exec, so that other tests' children do not hold it open).
fn telemetry_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills the two-element array on success.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just created and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Frames of the telemetry format: (type, message).
fn telemetry_frames(mut data: &[u8]) -> Vec<(u32, String)> {
    let mut frames = Vec::new();
    while data.len() >= 16 {
        let kind = u32::from_be_bytes(data[0..4].try_into().unwrap());
        let len = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
        let micros = i64::from_be_bytes(data[8..16].try_into().unwrap());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64;
        assert!((now - micros).abs() < 600_000_000, "timestamp {micros}");
        frames.push((
            kind,
            String::from_utf8_lossy(&data[16..16 + len]).into_owned(),
        ));
        data = &data[16 + len..];
    }
    assert!(data.is_empty(), "a frame cut short: {data:?}");
    frames
}

const LOG_APP: &str = r#"
import logging, os, sys
logger = logging.getLogger()
logger.setLevel(logging.INFO)

def handler(event, context):
    logger.info("a record\nover two lines")
    print("printed")
    if event.get("fail"):
        raise ValueError("failed")
    return os.environ.get("_LAMBDA_TELEMETRY_LOG_FD")
"#;

#[tokio::test]
async fn log_records_reach_the_telemetry_descriptor_as_frames() {
    let api = fake().await;
    let root = TaskRoot::new();
    root.write("app.py", LOG_APP);
    let (read, write) = telemetry_pipe();
    let fd = write.as_raw_fd();
    let mut cmd = ferric_command(&api, root.path(), &["app.handler"]);
    cmd.env("_LAMBDA_TELEMETRY_LOG_FD", fd.to_string());
    // SAFETY: fcntl on a descriptor that stays open until spawn returns; async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut running = Running::spawn(cmd);
    drop(write);
    let ok = invoke_json(&api, "{}").await;
    assert_eq!(
        ok.outcome.body().map(|b| &b[..]),
        Some(&b"null"[..]),
        "the variable is removed: {:?}\n{}",
        ok.outcome,
        running.stderr()
    );
    let failed = invoke_json(&api, r#"{"fail": true}"#).await;
    assert_eq!(failed.outcome.kind(), "error");
    running.terminate();
    assert_eq!(running.wait(EXIT).await.code(), Some(0));
    // Every holder of the write end has exited: read to the end.
    let mut data = Vec::new();
    let mut file = std::fs::File::from(read);
    std::io::Read::read_to_end(&mut file, &mut data).unwrap();
    let all = telemetry_frames(&data);
    // ferric's own records share the descriptor (they begin with their timestamp; the
    // worker's text records begin with their level in brackets).
    let (frames, own): (Vec<_>, Vec<_>) = all.into_iter().partition(|f| !f.1.starts_with("20"));
    assert!(
        own.iter().all(|f| f.0 == 0xA55A000F),
        "ferric's INFO records: {own:?}"
    );
    assert!(own.iter().any(|f| f.1.contains("worker ready")), "{own:?}");
    let kinds: Vec<u32> = frames.iter().map(|f| f.0).collect();
    assert_eq!(kinds, [0xA55A0003, 0xA55A0003, 0xA55A0017], "{frames:?}");
    let record = format!("\t{}\ta record\nover two lines\n", ok.request_id);
    assert!(frames[0].1.starts_with("[INFO]\t") && frames[0].1.ends_with(&record));
    assert!(frames[2]
        .1
        .starts_with("[ERROR] ValueError: failed\nTraceback (most recent call last):\n"));
    // print() stays on the log stream; records do not.
    let stderr = running.stderr();
    assert!(stderr.contains("printed"), "{stderr}");
    assert!(!stderr.contains("a record"), "{stderr}");
}

/// What each connection to a log socket sent.
type Connections = Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>;

#[tokio::test]
async fn lambda_managed_instances_workers_log_to_the_socket_in_connections_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let received: Connections = Default::default();
    let keep = received.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let buf: Arc<Mutex<Vec<u8>>> = Default::default();
            keep.lock().unwrap().push(buf.clone());
            tokio::spawn(async move {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = conn.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    buf.lock().unwrap().extend_from_slice(&chunk[..n]);
                }
            });
        }
    });
    let api = fake_with(Options::default().max_in_flight(2)).await;
    let socket = path.display().to_string();
    let (_root, running) = ferric_python(
        &api,
        &[("app.py", LOG_APP)],
        "app.handler",
        &[
            ("AWS_LAMBDA_MAX_CONCURRENCY", "2"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET", &socket),
        ],
    );
    let (a, b) = tokio::join!(invoke_json(&api, "{}"), invoke_json(&api, "{}"));
    for r in [&a, &b] {
        assert_eq!(r.outcome.kind(), "response", "{}", running.stderr());
    }
    let texts = || -> Vec<String> {
        received
            .lock()
            .unwrap()
            .iter()
            .map(|b| String::from_utf8_lossy(&b.lock().unwrap()).into_owned())
            .collect()
    };
    let mut seen = Vec::new();
    for _ in 0..250 {
        seen = texts();
        let records = seen.iter().filter(|t| t.contains("a record")).count();
        if seen.len() >= 4 && records >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.len(), 4, "two connections per worker: {seen:?}");
    let mut ids = Vec::new();
    for text in seen.iter().filter(|t| !t.is_empty()) {
        for line in text.lines() {
            if line.starts_with('{') {
                let record = json(line.as_bytes());
                assert_eq!(record["message"], "a record\nover two lines");
                ids.push(record["requestId"].as_str().unwrap().to_owned());
            } else {
                assert_eq!(line, "printed");
            }
        }
    }
    ids.sort();
    let mut want = vec![a.request_id.clone(), b.request_id.clone()];
    want.sort();
    assert_eq!(ids, want, "{seen:?}");
    assert!(!running.stderr().contains("a record"));
    stop(running).await;
}

/// A task root for the SnapStart tests: hooks registered with snapshot_restore_py (a stand-in
/// module if the interpreter lacks the package), recording their order.
fn snap_root(fail: &str) -> TaskRoot {
    let root = TaskRoot::new();
    root.write(
        "app.py",
        &format!(
            r#"
import os
from snapshot_restore_py import register_after_restore, register_before_snapshot

ran = []
FAIL = {fail:?}

def note(what):
    ran.append(what)
    print("hook ran:", what)
    if what == FAIL:
        raise RuntimeError("hook %s failed" % what)

for name in ("before-1", "before-2"):
    register_before_snapshot(note, name)
for name in ("after-1", "after-2"):
    register_after_restore(note, name)

def handler(event, context):
    return ran
"#
        ),
    );
    let has_package = std::process::Command::new(python())
        .args(["-c", "import snapshot_restore_py"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_package {
        root.write(
            "snapshot_restore_py.py",
            "_b, _a = [], []\n\
             def register_before_snapshot(f, *a, **k):\n    _b.append((f, a, k)); return f\n\
             def register_after_restore(f, *a, **k):\n    _a.append((f, a, k)); return f\n\
             def get_before_snapshot():\n    return _b\n\
             def get_after_restore():\n    return _a\n",
        );
    }
    root
}

/// The fake Runtime API has no `/runtime/restore/*` routes: fault rules answer them as RAPID
/// does for SnapStart (200 for `GET restore/next`, 202 for `POST restore/error`).
async fn snap_fake() -> ferric_fake_api::FakeApi {
    let api = fake().await;
    api.add_rule(Rule::always(
        Match::PathContains("/runtime/restore/next".into()),
        Fault::Status {
            status: 200,
            body: bytes::Bytes::new(),
        },
    ));
    api.add_rule(Rule::always(
        Match::PathContains("/runtime/restore/error".into()),
        Fault::Status {
            status: 202,
            body: bytes::Bytes::from_static(b"{\"status\":\"OK\"}"),
        },
    ));
    api
}

fn snap_ferric(api: &ferric_fake_api::FakeApi, root: &TaskRoot) -> Running {
    let mut cmd = ferric_command(api, root.path(), &["app.handler"]);
    cmd.env("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start");
    Running::spawn(cmd)
}

#[tokio::test]
async fn snapstart_runs_the_hooks_around_the_restore() {
    let api = snap_fake().await;
    let root = snap_root("");
    let running = snap_ferric(&api, &root);
    let r = invoke_json(&api, "{}").await;
    assert_eq!(
        json(
            r.outcome
                .body()
                .unwrap_or_else(|| panic!("{:?}", r.outcome))
        ),
        serde_json::json!(["before-2", "before-1", "after-1", "after-2"]),
        "{}",
        running.stderr()
    );
    let lines = request_lines(&api);
    let restore = lines
        .iter()
        .position(|l| l == "GET /2018-06-01/runtime/restore/next")
        .unwrap_or_else(|| panic!("{lines:?}"));
    let next = lines
        .iter()
        .position(|l| l.ends_with("/runtime/invocation/next"))
        .unwrap();
    assert!(restore < next, "{lines:?}");
    stop(running).await;
}

#[tokio::test]
async fn a_failed_before_snapshot_hook_is_an_init_error_and_exit_64() {
    let api = snap_fake().await;
    let root = snap_root("before-1");
    let mut running = snap_ferric(&api, &root);
    let status = running.wait(EXIT).await;
    assert_eq!(status.code(), Some(64), "{}", running.stderr());
    let post = wait_for_init_error(&api, &running, Duration::from_secs(1)).await;
    assert_eq!(
        header(&post, "lambda-runtime-function-error-type").as_deref(),
        Some("Runtime.BeforeSnapshotError")
    );
    let error = json(&post.body);
    assert_eq!(error["errorType"], "RuntimeError");
    assert_eq!(error["errorMessage"], "hook before-1 failed");
    assert_eq!(error["requestId"], "");
    assert!(running
        .stderr()
        .contains("[ERROR] RuntimeError: hook before-1 failed"));
    assert!(!request_lines(&api)
        .iter()
        .any(|l| l.contains("restore/next")));
}

#[tokio::test]
async fn a_failed_after_restore_hook_is_a_restore_error_and_exit_65() {
    let api = snap_fake().await;
    let root = snap_root("after-2");
    let mut running = snap_ferric(&api, &root);
    let status = running.wait(EXIT).await;
    assert_eq!(status.code(), Some(65), "{}", running.stderr());
    let post = api
        .requests()
        .into_iter()
        .find(|r| r.path == "/2018-06-01/runtime/restore/error")
        .unwrap_or_else(|| panic!("{:?}", request_lines(&api)));
    assert_eq!(
        header(&post, "lambda-runtime-function-error-type").as_deref(),
        Some("Runtime.AfterRestoreError")
    );
    let error = json(&post.body);
    assert_eq!(error["errorType"], "RuntimeError");
    assert_eq!(error["errorMessage"], "hook after-2 failed");
    assert_eq!(api.next_calls(), 0);
}

#[tokio::test]
async fn ferric_snapstart_simulates_the_snapshot_locally() {
    let root = snap_root("");
    let (running, base) = serve_local(&root, "app.handler", &[("FERRIC_SNAPSTART", "1")]).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = client
        .post(format!("{base}{INVOKE}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.text().await.unwrap(),
        r#"["before-2", "before-1", "after-1", "after-2"]"#,
        "{}",
        running.stderr()
    );
    stop(running).await;

    let root = snap_root("after-1");
    let (running, base) = serve_local(&root, "app.handler", &[("FERRIC_SNAPSTART", "1")]).await;
    let r = client
        .post(format!("{base}{INVOKE}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(
        body.contains(r#""errorMessage": "hook after-1 failed""#),
        "{body}\n{}",
        running.stderr()
    );
    stop(running).await;
}
