//! Node.js response streaming (`awslambda.streamifyResponse`) through the built binary and its
//! embedded Node shim: what ferric posts on the fake Runtime API (headers, body bytes, error
//! trailers), and the emulator's streaming endpoint as a caller sees it (bytes as they are
//! produced, the HTTP integration prelude applied). The shim's own tests compare the same
//! handlers with aws-lambda-ric 3.3.0 / 4.0.2 (src/shims/node/test/streaming-differential.test.js).

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use support::*;
use tokio::io::AsyncReadExt;

const EXIT: Duration = Duration::from_secs(20);
const STREAM_INVOKE: &str = "/2015-03-31/functions/function/response-streaming-invocations";

const HANDLERS: &str = r#"
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
exports.text = awslambda.streamifyResponse(async (event, stream) => {
  stream.setContentType('text/plain');
  for (let i = 0; i < (event.chunks || 3); i++) {
    if (i > 0) await sleep(event.pause || 0);
    stream.write(`chunk ${i}\n`);
  }
  stream.write({ as: 'json' });
  stream.end(Buffer.from([0, 255]));
});
exports.fails = awslambda.streamifyResponse(async (event, stream) => {
  stream.write('partial');
  await sleep(20);
  throw new RangeError('mid-stream');
});
exports.http = awslambda.streamifyResponse(async (event, stream) => {
  const out = awslambda.HttpResponseStream.from(stream, {
    statusCode: 201,
    headers: { 'x-streamed': 'yes', 'content-type': 'text/plain' },
    cookies: ['a=1'],
  });
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(400);
    out.write(`chunk ${i}\n`);
  }
  out.end();
});
"#;

fn task_root() -> TaskRoot {
    let root = TaskRoot::new();
    root.write("index.js", HANDLERS);
    root
}

async fn stop(mut running: Running) {
    running.terminate();
    let status = running.wait(EXIT).await;
    assert_eq!(status.code(), Some(0), "{}", running.stderr());
}

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
async fn a_node_streaming_handler_posts_a_streamed_response_with_its_bytes() {
    let root = task_root();
    let (api, running) = start(&root, &["index.text"]).await;
    for _ in 0..2 {
        let r = invoke_json(&api, r#"{"chunks": 3, "pause": 150}"#).await;
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
        assert_eq!(
            body,
            b"chunk 0\nchunk 1\nchunk 2\n{\"as\":\"json\"}\x00\xff",
            "{}",
            running.stderr()
        );
        assert!(trailers.is_none_or(|t| t.is_empty()), "{trailers:?}");
        // the pieces reached the platform as they were written
        let post = &posts_for(&api, &r.request_id)[0];
        let at: Vec<Duration> = post.frames.iter().map(|f| f.at).collect();
        assert!(at.len() >= 3, "{:?}", post.frames);
        assert!(
            at[at.len() - 1] - at[0] >= Duration::from_millis(250),
            "{at:?}"
        );
    }
    stop(running).await;
}

#[tokio::test]
async fn a_node_handler_error_mid_stream_arrives_as_trailers_with_the_node_error_body() {
    let root = task_root();
    let (api, running) = start(&root, &["index.fails"]).await;
    let r = invoke_json(&api, "{}").await;
    let (_, body, trailers) = streamed(&r.outcome);
    assert_eq!(body, b"partial");
    let trailers = trailers.unwrap_or_else(|| panic!("no trailers; {}", running.stderr()));
    assert_eq!(trailers["lambda-runtime-function-error-type"], "RangeError");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(trailers["lambda-runtime-function-error-body"].as_bytes())
        .unwrap();
    let text = String::from_utf8(decoded).unwrap();
    assert!(
        text.starts_with(r#"{"errorType":"RangeError","errorMessage":"mid-stream","trace":["RangeError: mid-stream","#),
        "{text}"
    );
    assert!(
        running
            .stderr_contains("\tERROR\tInvoke Error \t{\"errorType\":\"RangeError\"")
            .await,
        "{}",
        running.stderr()
    );
    // the worker serves the next invocation
    let again = invoke_json(&api, "{}").await;
    assert_eq!(streamed(&again.outcome).1, b"partial");
    assert_eq!(posts_for(&api, &r.request_id).len(), 1);
    stop(running).await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// ferric serving `handler` locally (the emulator); the base URL.
async fn serve(root: &TaskRoot, handler: &str) -> (Running, String) {
    let port = free_port();
    let mut cmd = tokio::process::Command::new(ferric_bin());
    cmd.arg(handler)
        .current_dir(root.path())
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("LAMBDA_TASK_ROOT", root.path())
        .env("FERRIC_NODE", node())
        .env("FERRIC_LISTEN", format!("127.0.0.1:{port}"))
        .env("FERRIC_HTTP_LISTEN", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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

#[tokio::test]
async fn the_emulator_streams_a_node_handler_to_curl_as_it_writes_with_the_prelude_applied() {
    let root = task_root();
    let (running, base) = serve(&root, "index.http").await;
    let started = Instant::now();
    let mut child = tokio::process::Command::new("curl")
        .args([
            "-sN",
            "-D",
            "-",
            "-XPOST",
            &format!("{base}{STREAM_INVOKE}"),
        ])
        .args(["-d", "{}"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl runs");
    let mut out = child.stdout.take().unwrap();
    // the head (status and headers from the prelude), then the first chunk, as they come
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("chunk 0\n") {
        let n = out.read(&mut buf).await.unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let first_at = started.elapsed();
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).await.unwrap();
    let all_at = started.elapsed();
    let head = String::from_utf8_lossy(&seen).to_lowercase();
    assert!(head.starts_with("http/1.1 201"), "{head}");
    assert!(head.contains("\r\nx-streamed: yes\r\n"), "{head}");
    assert!(head.contains("\r\nset-cookie: a=1\r\n"), "{head}");
    assert!(head.contains("\r\ncontent-type: text/plain\r\n"), "{head}");
    assert!(
        !head.contains("statuscode"),
        "the prelude is not in the body: {head}"
    );
    assert!(head.ends_with("\r\n\r\nchunk 0\n"), "{head}");
    assert_eq!(rest, b"chunk 1\nchunk 2\n");
    assert!(
        all_at - first_at >= Duration::from_millis(600),
        "{first_at:?} {all_at:?}"
    );
    stop(running).await;
}
