//! The built-in emulator as users meet it: `ferric HANDLER` with no AWS_LAMBDA_RUNTIME_API
//! serves the RIE invoke endpoint on FERRIC_LISTEN, and `ferric invoke` runs one event.

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::*;
use tokio::process::Command;

const INVOKE: &str = "/2015-03-31/functions/function/invocations";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn echo_worker() -> String {
    repo()
        .join("examples/raw/echo_worker.sh")
        .display()
        .to_string()
}

/// `ferric -- bash echo_worker.sh` serving on a fresh port.
async fn serve(extra_env: &[(&str, &str)]) -> (Running, String) {
    let port = free_port();
    let mut cmd = Command::new(ferric_bin());
    cmd.args(["--", "bash", &echo_worker()])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("FERRIC_LISTEN", format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let running = Running::spawn(cmd);
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (running, base);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "ferric did not listen on {port}; stderr:\n{}",
        running.stderr()
    );
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn serves_the_rie_invoke_endpoint_and_stops_on_sigterm() {
    let (mut running, base) = serve(&[]).await;
    let response = client()
        .post(format!("{base}{INVOKE}"))
        .body(r#"{"hello": "world"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-amz-function-error").is_none());
    assert_eq!(response.text().await.unwrap(), r#"{"hello": "world"}"#);

    let wrong = client().get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(wrong.status(), 404);

    running.terminate();
    let status = running.wait(Duration::from_secs(10)).await;
    assert!(
        status.success(),
        "exit {status:?}; stderr:\n{}",
        running.stderr()
    );
    assert!(
        running.stderr().contains("echo worker: shutting down"),
        "{}",
        running.stderr()
    );
}

#[tokio::test]
async fn concurrent_invokes_are_queued_not_dropped() {
    let (_running, base) = serve(&[]).await;
    let client = client();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let client = client.clone();
        let url = format!("{base}{INVOKE}");
        tasks.push(tokio::spawn(async move {
            let body = format!("{{\"n\": {i}}}");
            let r = client.post(url).body(body.clone()).send().await.unwrap();
            (r.status(), r.text().await.unwrap(), body)
        }));
    }
    for t in tasks {
        let (status, text, sent) = t.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(text, sent);
    }
}

#[tokio::test]
async fn oversized_request_is_refused_with_413() {
    let (_running, base) = serve(&[]).await;
    let body = vec![b' '; 6 * 1024 * 1024 + 101];
    let r = client()
        .post(format!("{base}{INVOKE}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("RequestEntityTooLarge"));
}

#[tokio::test]
async fn listen_address_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(ferric_bin())
        .args(["--", "bash", &echo_worker()])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("FERRIC_LISTEN", &addr)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("FERRIC_LISTEN") && stderr.contains(&addr),
        "{stderr}"
    );
}

#[tokio::test]
async fn invoke_subcommand_prints_the_result() {
    let dir = TaskRoot::new();
    dir.write("event.json", "{\"k\": [1, 2]}");
    let out = Command::new(ferric_bin())
        .args(["invoke", "--event"])
        .arg(dir.path().join("event.json"))
        .args(["--", "bash", &echo_worker()])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "{\"k\": [1, 2]}\n");

    let mut child = Command::new(ferric_bin())
        .args(["invoke", "--event", "-", "--", "bash", &echo_worker()])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"[\"from stdin\"]").await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[\"from stdin\"]\n");
}

#[tokio::test]
async fn invoke_subcommand_reports_missing_event_file_and_handler() {
    let out = Command::new(ferric_bin())
        .args([
            "invoke",
            "--event",
            "/nonexistent/event.json",
            "--",
            "bash",
            &echo_worker(),
        ])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/event.json"));

    let out = Command::new(ferric_bin())
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("_HANDLER")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("_HANDLER"));
}

/// Resident memory of a process in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_emulator_s_memory_stays_flat_however_much_it_serves() {
    let (running, base) = serve(&[]).await;
    let client = client();
    let event = format!("{{\"pad\": \"{}\"}}", "x".repeat(1024 * 1024));
    let url = format!("{base}{INVOKE}");
    let invoke = || {
        let (client, url, event) = (client.clone(), url.clone(), event.clone());
        async move {
            let r = client.post(url).body(event).send().await.unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.bytes().await.unwrap().len(), 1024 * 1024 + 11);
        }
    };
    for _ in 0..10 {
        invoke().await;
    }
    let pid = running.child.id().unwrap();
    let warm = rss_kib(pid);
    for _ in 0..100 {
        invoke().await;
    }
    let after = rss_kib(pid);
    // Keeping every post would add over 100 MiB here (each 1 MiB event and its answer).
    assert!(
        after < warm + 16 * 1024,
        "ferric grew from {warm} KiB to {after} KiB over 100 invocations"
    );
}

#[tokio::test]
async fn a_caller_that_goes_away_is_dropped_or_left_to_finish_and_waiting_is_logged() {
    let root = TaskRoot::new();
    root.write(
        "app.py",
        "import time\n\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return event\n",
    );
    let port = free_port();
    let mut cmd = Command::new(ferric_bin());
    cmd.arg("app.handler")
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
    let running = Running::spawn(cmd);
    let url = format!("http://127.0.0.1:{port}{INVOKE}");
    for _ in 0..250 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A slow invocation whose caller gives up; a second one queued behind it whose caller also
    // gives up; a third that waits and is served.
    let quick = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let slow = tokio::spawn({
        let (c, u) = (quick.clone(), url.clone());
        async move { c.post(u).body(r#"{"sleep": 1.5}"#).send().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let queued = tokio::spawn({
        let (c, u) = (quick.clone(), url.clone());
        async move { c.post(u).body(r#"{"n": "dropped"}"#).send().await }
    });
    assert!(slow.await.unwrap().is_err() && queued.await.unwrap().is_err());
    let r = client()
        .post(&url)
        .body(r#"{"n": 3}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), r#"{"n": 3}"#);
    let log = running.stderr();
    assert!(log.contains("waiting for 1 invocation(s) ahead"), "{log}");
    assert!(
        log.contains("went away before its invocation started; dropped it"),
        "{log}"
    );
    assert!(
        log.contains("the invocation runs to its end and its answer is dropped"),
        "{log}"
    );
    // The dropped invocation never reached the handler.
    assert!(!log.contains("dropped\"}"), "{log}");
}
