//! Reliability under hostile input, long runs and escaping processes (issue 10), and the
//! defects the restructuring removed (issue 9), through the built binary: a `/next` whose body
//! is cut off is still answered; processes that leave a worker's group are ended; large
//! client-context headers pass; the emulator forgets what it served and says who waits; bad
//! settings exit 2; a worker's command line is short.

mod support;

use std::time::Duration;

use ferric_fake_api::{Fault, Invoke, Match, Rule};
use serde_json::Value;
use support::*;

const EXIT: Duration = Duration::from_secs(20);

fn echo_worker() -> String {
    repo()
        .join("examples/raw/echo_worker.sh")
        .display()
        .to_string()
}

/// ferric with the bash echo worker against `api`.
fn raw_ferric(api: &ferric_fake_api::FakeApi) -> (TaskRoot, Running) {
    let root = TaskRoot::new();
    let cmd = ferric_command(api, root.path(), &["--", "bash", &echo_worker()]);
    (root, Running::spawn(cmd))
}

async fn stop(mut running: Running) {
    running.terminate();
    let status = running.wait(EXIT).await;
    assert_eq!(status.code(), Some(0), "{}", running.stderr());
}

#[tokio::test]
async fn a_next_body_cut_off_after_a_valid_head_is_answered_once_then_the_loop_goes_on() {
    for fault in [Fault::CutBody { sent: 3 }, Fault::CutChunk { sent: 3 }] {
        let api = fake().await;
        api.add_rule(Rule::once(Match::NthNext(1), fault.clone()));
        let (_root, running) = raw_ferric(&api);
        let cut = invoke(&api, Invoke::new("{\"lost\": \"body\"}")).await;
        let posts = posts_for(&api, &cut.request_id);
        assert_eq!(posts.len(), 1, "{fault:?}: {posts:?}\n{}", running.stderr());
        assert!(posts[0].path.ends_with("/error"));
        assert_eq!(
            header(&posts[0], "lambda-runtime-function-error-type").as_deref(),
            Some("Runtime.InvalidInvocation")
        );
        let v: Value = serde_json::from_slice(&posts[0].body).unwrap();
        let message = v["errorMessage"].as_str().unwrap();
        assert!(message.contains("cut off"), "{message}");
        // The next invocation is served normally.
        let next = invoke_json(&api, "{\"n\": 2}").await;
        assert_eq!(
            next.outcome.body().map(|b| &b[..]),
            Some(&b"{\"n\": 2}"[..])
        );
        stop(running).await;
    }
}

fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

async fn gone(pid: i32) -> bool {
    for _ in 0..100 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

const ESCAPER: &str = r#"
import os, subprocess

def handler(event, context):
    # A process that leaves the worker's group, and a daemon (double fork) orphaned at once.
    child = subprocess.Popen(["sleep", "600"], start_new_session=True)
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", "601"])
        os._exit(0)
    os.waitpid(pid, 0)
    if event.get("crash"):
        os._exit(3)
    return {"child": child.pid}
"#;

/// Pids of `sleep 600` / `sleep 601` processes descended from... anything (the test's own).
fn sleepers() -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if (cmdline == b"sleep\x00600\x00" || cmdline == b"sleep\x00601\x00") && alive(pid) {
            out.push(pid);
        }
    }
    out
}

#[tokio::test]
async fn processes_that_escape_a_failed_worker_are_ended_and_none_outlive_ferric() {
    let root = TaskRoot::new();
    root.write("app.py", ESCAPER);
    let (api, running) = start(&root, &["app.handler"]).await;
    let before = sleepers();
    let crash = invoke_json(&api, "{\"crash\": true}").await;
    assert_eq!(crash.outcome.kind(), "error", "{}", running.stderr());
    // The crashed worker's escapees are gone once its replacement serves.
    let ok = invoke_json(&api, "{}").await;
    assert_eq!(ok.outcome.kind(), "response", "{}", running.stderr());
    let left: Vec<i32> = sleepers()
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    // Only the second invocation's two are left (its worker is healthy).
    assert_eq!(left.len(), 2, "{left:?}\n{}", running.stderr());
    stop(running).await;
    for pid in left {
        assert!(gone(pid).await, "sleep {pid} outlived ferric");
    }
}

#[tokio::test]
async fn large_client_context_and_cognito_headers_are_answered_normally() {
    let root = TaskRoot::new();
    root.write(
        "app.py",
        "def handler(event, context):\n    return [len(context.client_context.custom['big']), context.identity.cognito_identity_id]\n",
    );
    let (api, running) = start(&root, &["app.handler"]).await;
    let big = "x".repeat(200 * 1024);
    let context = serde_json::json!({"custom": {"big": big}, "env": {}, "client": {}}).to_string();
    let cognito =
        serde_json::json!({"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "p"}).to_string();
    let large = Invoke {
        client_context: Some(context),
        cognito_identity: Some(cognito),
        ..Invoke::new("{}")
    };
    let r = invoke(&api, large.clone()).await;
    assert_eq!(
        r.outcome
            .body()
            .map(|b| String::from_utf8_lossy(b).into_owned()),
        Some(format!("[{}, \"id-1\"]", 200 * 1024)),
        "{}",
        running.stderr()
    );
    // The same worker serves the next one: nothing broke.
    let next = invoke(&api, large).await;
    assert_eq!(next.outcome.kind(), "response", "{}", running.stderr());
    assert!(!running.stderr().contains("replacement worker"));
    stop(running).await;
}

#[tokio::test]
async fn bad_settings_exit_2_with_one_message_naming_the_variable() {
    for (name, value) in [
        ("AWS_LAMBDA_RUNTIME_API", "not-an-address"),
        ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1"),
        ("FERRIC_INIT_TIMEOUT", "1e300"),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", "1e300"),
        ("FERRIC_MAX_FRAME_BYTES", "lots"),
    ] {
        let out = std::process::Command::new(ferric_bin())
            .arg("app.handler")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(name, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}={value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert_eq!(stderr.matches(name).count(), 1, "{stderr}");
        assert!(stderr.contains("e.g."), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// The pid in ferric's "worker ready pid=N" line.
async fn worker_pid(running: &Running) -> i32 {
    assert!(
        running.stderr_contains("worker ready").await,
        "{}",
        running.stderr()
    );
    let log = running.stderr();
    let line = log.lines().find(|l| l.contains("worker ready")).unwrap();
    let pid = line
        .split("pid=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    pid.parse().unwrap()
}

#[tokio::test]
async fn a_worker_s_command_line_is_short_and_reads_like_what_it_is() {
    let root = TaskRoot::new();
    root.write("app.py", "def handler(e, c):\n    return 1\n");
    root.write("index.js", "exports.handler = async () => 1;\n");
    for handler in ["app.handler", "index.handler"] {
        let (api, running) = start(&root, &[handler]).await;
        let pid = worker_pid(&running).await;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(cmdline.len() < 4096, "{handler}: {} bytes", cmdline.len());
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(text.contains("ferric"), "{text}");
        assert!(text.trim_end().ends_with(handler), "{text}");
        let r = invoke_json(&api, "{}").await;
        assert_eq!(r.outcome.kind(), "response", "{}", running.stderr());
        stop(running).await;
    }
}
