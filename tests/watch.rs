//! `ferric --watch` through the built binary: an edit replaces the worker between invocations
//! (the one in flight finishes on the old code), an edit that breaks the code is reported at
//! once and answered as the init error it is, and the next good edit is picked up without a
//! restart.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::*;
use tokio::process::Command;

const INVOKE: &str = "/2015-03-31/functions/function/invocations";

fn app(version: &str, sleep: f64) -> String {
    format!("import time\n\ndef handler(event, context):\n    time.sleep(event.get('sleep', {sleep}))\n    return '{version}'\n")
}

async fn post(url: &str, body: &str) -> String {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    client
        .post(url)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Wait until the log has `needle` at least `count` times.
async fn log_has(running: &Running, needle: &str, count: usize) {
    for _ in 0..500 {
        if running.stderr().matches(needle).count() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{needle:?} not logged {count} times:\n{}", running.stderr());
}

#[tokio::test]
async fn edits_replace_the_worker_between_invocations() {
    let root = TaskRoot::new();
    root.write("app.py", &app("v1", 0.0));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(ferric_bin());
    cmd.args(["--watch", "app.handler"])
        .current_dir(root.path())
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("LAMBDA_TASK_ROOT", root.path())
        .env("FERRIC_PYTHON", python())
        .env("FERRIC_LISTEN", format!("127.0.0.1:{port}"))
        .env("FERRIC_HTTP_LISTEN", "off")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let running = Running::spawn(cmd);
    let url = format!("http://127.0.0.1:{port}{INVOKE}");
    log_has(&running, "watching", 1).await;
    assert_eq!(post(&url, "{}").await, "\"v1\"");

    // An edit while an invocation runs: it finishes on the old code, the next gets the new.
    let slow = tokio::spawn({
        let url = url.clone();
        async move { post(&url, r#"{"sleep": 1.0}"#).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let saved = Instant::now();
    root.write("app.py", &app("v2", 0.0));
    assert_eq!(slow.await.unwrap(), "\"v1\"");
    log_has(&running, "reloaded: the new worker is ready", 1).await;
    assert_eq!(post(&url, "{}").await, "\"v2\"");
    eprintln!("save to next answer on the new code: {:?}", saved.elapsed());
    let log = running.stderr();
    assert!(log.contains("file=app.py"), "names the file: {log}");
    assert!(
        log.contains("ready_ms="),
        "says how long the worker took: {log}"
    );

    // A syntax error is reported at once and is the answer until fixed.
    root.write(
        "app.py",
        "def handler(event, context)\n    return 'broken'\n",
    );
    log_has(&running, "the edited code does not load", 1).await;
    let broken = post(&url, "{}").await;
    assert!(broken.contains("Runtime.UserCodeSyntaxError"), "{broken}");
    root.write("app.py", &app("v3", 0.0));
    log_has(&running, "reloaded: the new worker is ready", 2).await;
    assert_eq!(post(&url, "{}").await, "\"v3\"");

    // Byte-code caches and editor swap files do not reload.
    let reloads = running.stderr().matches("changed: reloading").count();
    root.write("__pycache__/app.cpython-311.pyc", "x");
    root.write(".app.py.swp", "x");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        running.stderr().matches("changed: reloading").count(),
        reloads
    );
}

#[test]
fn watch_is_refused_in_production() {
    let out = std::process::Command::new(ferric_bin())
        .args(["--watch", "app.handler"])
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--watch is for local mode"));
}
