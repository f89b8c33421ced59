//! Response streaming through the built binary: what ferric posts for a streaming worker
//! (tests/fixtures/streamer.py, a raw worker) on the fake Runtime API, its error trailers for
//! handler errors, crashes, timeouts and protocol violations, bounded memory for a large
//! stream, and the emulator's streaming endpoint and `ferric invoke` as a user sees them.

mod support;

use std::time::{Duration, Instant};

use ferric_fake_api::{Invoke, Options, Outcome};
use support::*;
use tokio::io::AsyncReadExt;

const EXIT: Duration = Duration::from_secs(20);

fn streamer() -> String {
    repo()
        .join("tests/fixtures/streamer.py")
        .display()
        .to_string()
}

fn ferric_streaming(api: &ferric_fake_api::FakeApi) -> (TaskRoot, Running) {
    let root = TaskRoot::new();
    let python = python().display().to_string();
    let cmd = ferric_command(api, root.path(), &["--", &python, &streamer()]);
    (root, Running::spawn(cmd))
}

async fn stop(mut running: Running) {
    running.terminate();
    let status = running.wait(EXIT).await;
    assert_eq!(status.code(), Some(0), "{}", running.stderr());
}

/// The streamed post of an invocation, with its trailers.
fn streamed(outcome: &Outcome) -> (&http::HeaderMap, &[u8], Option<&http::HeaderMap>) {
    match outcome {
        Outcome::Response {
            headers,
            body,
            trailers,
        } => (headers, body, trailers.as_ref()),
        other => panic!("expected a streamed response, got {other:?}"),
    }
}

#[tokio::test]
async fn a_streamed_response_declares_its_mode_and_trailers_and_arrives_in_pieces() {
    let api = fake().await;
    let (_root, running) = ferric_streaming(&api);
    let r = invoke_json(&api, r#"{"chunks": 3, "pause": 0.2}"#).await;
    let (headers, body, trailers) = streamed(&r.outcome);
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    assert_eq!(
        h("lambda-runtime-function-response-mode"),
        Some("streaming")
    );
    assert_eq!(h("transfer-encoding"), Some("chunked"));
    assert_eq!(
        h("trailer"),
        Some("Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body")
    );
    assert_eq!(h("content-type"), Some("text/plain"));
    assert_eq!(body, b"chunk 0\nchunk 1\nchunk 2\n");
    assert!(
        trailers.is_none_or(|t| t.is_empty()),
        "no error: {trailers:?}"
    );
    // The chunks reached the platform as the worker wrote them, not all at the end.
    let post = &posts_for(&api, &r.request_id)[0];
    let at: Vec<Duration> = post.frames.iter().map(|f| f.at).collect();
    assert!(at.len() >= 3, "{:?}", post.frames);
    assert!(
        at[at.len() - 1] - at[0] >= Duration::from_millis(300),
        "{at:?}"
    );
    stop(running).await;
}

async fn error_trailers(event: &str, timeout: Duration) -> (String, serde_json::Value, String) {
    let api = fake().await;
    let (_root, running) = ferric_streaming(&api);
    let r = invoke(&api, Invoke::new(event.to_owned()).timeout(timeout)).await;
    let (_, body, trailers) = streamed(&r.outcome);
    let trailers = trailers.unwrap_or_else(|| panic!("no trailers; {}", running.stderr()));
    let kind = trailers["lambda-runtime-function-error-type"]
        .to_str()
        .unwrap()
        .to_owned();
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(trailers["lambda-runtime-function-error-body"].as_bytes())
        .unwrap();
    let error: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
    let text = String::from_utf8_lossy(body).into_owned();
    // Whatever happened, the next invocation is served (by the same or a new worker).
    let next = invoke_json(&api, r#"{"chunks": 1}"#).await;
    assert_eq!(
        streamed(&next.outcome).1,
        b"chunk 0\n",
        "{}",
        running.stderr()
    );
    stop(running).await;
    (kind, error, text)
}

#[tokio::test]
async fn a_handler_error_mid_stream_is_sent_as_trailers_not_body_bytes() {
    let (kind, error, body) = error_trailers(r#"{"chunks": 2, "end": "error"}"#, EXIT).await;
    assert_eq!(kind, "Boom");
    assert_eq!(error["errorMessage"], "mid-stream");
    assert_eq!(body, "chunk 0\nchunk 1\n");
}

#[tokio::test]
async fn a_crash_a_timeout_or_garbage_mid_stream_still_ends_the_request_with_trailers() {
    let (kind, error, body) = error_trailers(r#"{"chunks": 1, "end": "crash"}"#, EXIT).await;
    assert_eq!(kind, "Runtime.ExitError");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("exit status 7"),
        "{error}"
    );
    assert_eq!(body, "chunk 0\n");
    let (kind, error, _) =
        error_trailers(r#"{"chunks": 1, "end": "hang"}"#, Duration::from_secs(2)).await;
    assert_eq!(kind, "Runtime.Timeout");
    assert!(error["errorMessage"]
        .as_str()
        .unwrap()
        .contains("Task timed out after 2.00 seconds"));
    let (kind, _, _) = error_trailers(r#"{"chunks": 1, "end": "garbage"}"#, EXIT).await;
    assert_eq!(kind, "Runtime.WorkerProtocolError");
}

/// ferric's peak resident memory (VmHWM) in MiB.
fn peak_mib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

#[tokio::test]
async fn a_100_mb_stream_passes_with_ferric_s_memory_bounded() {
    let api = fake_with(Options::default().record(false)).await;
    let (_root, running) = ferric_streaming(&api);
    let started = Instant::now();
    let r = invoke_json(&api, r#"{"chunks": 100, "size": 1048576}"#).await;
    let (_, body, _) = streamed(&r.outcome);
    assert_eq!(body.len(), 100 * 1024 * 1024, "{}", running.stderr());
    let peak = peak_mib(running.pid());
    assert!(peak < 32, "ferric's peak RSS was {peak} MiB");
    eprintln!(
        "100 MiB streamed in {:?}, ferric peak RSS {peak} MiB",
        started.elapsed()
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

/// ferric serving the streamer locally; the base URL.
async fn serve_streamer() -> (Running, String) {
    let port = free_port();
    let mut cmd = tokio::process::Command::new(ferric_bin());
    cmd.args(["--", &python().display().to_string(), &streamer()])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("FERRIC_LISTEN", format!("127.0.0.1:{port}"))
        .env("FERRIC_HTTP_LISTEN", "off")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let running = Running::spawn(cmd);
    for _ in 0..250 {
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
async fn the_emulator_s_streaming_endpoint_passes_bytes_through_as_they_come() {
    let (running, base) = serve_streamer().await;
    let started = Instant::now();
    let mut child = tokio::process::Command::new("curl")
        .args(["-sN", "-XPOST", &format!("{base}{STREAM_INVOKE}")])
        .args(["-d", r#"{"chunks": 3, "pause": 0.4}"#])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl runs");
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 8];
    out.read_exact(&mut first).await.unwrap();
    let first_at = started.elapsed();
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).await.unwrap();
    let all_at = started.elapsed();
    assert_eq!(&first, b"chunk 0\n");
    assert_eq!(rest, b"chunk 1\nchunk 2\n");
    assert!(
        all_at - first_at >= Duration::from_millis(600),
        "{first_at:?} {all_at:?}"
    );
    // A prelude sets the status, headers and cookies.
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{base}{STREAM_INVOKE}"))
        .body(r#"{"http": true, "chunks": 2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-streamed"], "yes");
    assert_eq!(r.headers()["set-cookie"], "a=1");
    assert_eq!(r.text().await.unwrap(), "chunk 0\nchunk 1\n");
    // The buffered endpoint returns the whole body, or the error a stream ended with.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = client
        .post(format!("{base}{INVOKE}"))
        .body(r#"{"chunks": 2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "chunk 0\nchunk 1\n");
    let r = client
        .post(format!("{base}{INVOKE}"))
        .body(r#"{"chunks": 1, "end": "error"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"errorType": "Boom", "errorMessage": "mid-stream", "trace": []}"#
    );
    stop(running).await;
}

#[tokio::test]
async fn ferric_invoke_writes_a_stream_to_stdout_as_it_arrives() {
    let mut child = tokio::process::Command::new(ferric_bin())
        .args([
            "invoke",
            "--event",
            "-",
            "--",
            &python().display().to_string(),
            &streamer(),
        ])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(br#"{"chunks": 2, "pause": 0.5, "end": "error"}"#)
        .await
        .unwrap();
    drop(stdin);
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 8];
    let started = Instant::now();
    out.read_exact(&mut first).await.unwrap();
    let first_at = started.elapsed();
    let mut rest = String::new();
    out.read_to_string(&mut rest).await.unwrap();
    assert_eq!(&first, b"chunk 0\n");
    assert!(started.elapsed() - first_at >= Duration::from_millis(400));
    assert!(rest.starts_with("chunk 1\n"), "{rest}");
    assert!(
        rest.contains("mid-stream"),
        "the error follows the bytes: {rest}"
    );
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(1), "a stream that ended with an error");
}
