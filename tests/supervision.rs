//! Faults: a worker that crashes, hangs, or breaks the protocol costs exactly one invocation,
//! which gets one typed `/error`; the next invocation is served by a fresh worker in the same
//! ferric process. Runtime API faults and SIGTERM are covered too.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

fn fixture() -> String {
    repo()
        .join("tests/fixtures/misbehave.py")
        .display()
        .to_string()
}

struct Faulty {
    api: FakeApi,
    running: Running,
    state: tempfile::TempDir,
    _root: TaskRoot,
}

impl Faulty {
    fn spawns(&self) -> Vec<i32> {
        std::fs::read_to_string(self.state.path().join("spawns"))
            .unwrap_or_default()
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect()
    }
}

async fn faulty(mode: &str, env: &[(&str, &str)]) -> Faulty {
    faulty_on(fake().await, mode, env).await
}

/// `faulty` against a given fake (for one that allows several invocations in flight).
async fn faulty_on(api: FakeApi, mode: &str, env: &[(&str, &str)]) -> Faulty {
    let root = TaskRoot::new();
    let state = tempfile::tempdir().unwrap();
    let python = python().display().to_string();
    let mut cmd = ferric_command(&api, root.path(), &["--", &python, &fixture(), mode]);
    cmd.env("FIXTURE_STATE", state.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Faulty {
        api,
        running: Running::spawn(cmd),
        state,
        _root: root,
    }
}

fn alive(pid: i32) -> bool {
    // A zombie counts as dead: check /proc state rather than kill(0).
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

/// Invoke once (expecting a ferric-generated error), check the post, then check recovery.
async fn expect_fault(
    f: &Faulty,
    timeout: Duration,
    error_type: &str,
    message_parts: &[&str],
) -> Duration {
    let started = Instant::now();
    let r = invoke(
        &f.api,
        Invoke {
            body: "{\"n\": 1}".into(),
            timeout: Some(timeout),
            ..Default::default()
        },
    )
    .await;
    let took = started.elapsed();
    let body = match &r.outcome {
        Outcome::Error { body, .. } => body.clone(),
        other => panic!(
            "expected a function error, got {other:?}\nstderr:\n{}",
            f.running.stderr()
        ),
    };
    let posts = posts_for(&f.api, &r.request_id);
    assert_eq!(posts.len(), 1, "exactly one post per invocation");
    assert!(posts[0].path.ends_with("/error"));
    assert_eq!(
        header(&posts[0], "lambda-runtime-function-error-type").as_deref(),
        Some(error_type)
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["errorType"], error_type, "{v}");
    assert_eq!(v["requestId"], r.request_id.as_str());
    let message = v["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("RequestId: {} Error: ", r.request_id)),
        "{message}"
    );
    for part in message_parts {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
    // The next invocation is served by a replacement worker, in the same ferric process.
    let next = invoke_json(&f.api, "{\"n\": 2}").await;
    match &next.outcome {
        Outcome::Response { body, .. } => assert_eq!(&body[..], b"{\"n\": 2}"),
        other => panic!(
            "recovery failed: {other:?}\nstderr:\n{}",
            f.running.stderr()
        ),
    }
    let spawns = f.spawns();
    assert_eq!(spawns.len(), 2, "one replacement worker");
    assert!(
        !alive(spawns[0]),
        "the failed worker {} must not be left running",
        spawns[0]
    );
    took
}

#[tokio::test]
async fn worker_exit_reports_status_and_last_stderr_lines() {
    let f = faulty("exit", &[]).await;
    let took = expect_fault(
        &f,
        Duration::from_secs(30),
        "Runtime.ExitError",
        &["exit status 3", "about to exit with status 3"],
    )
    .await;
    assert!(
        took < Duration::from_secs(5),
        "answered without waiting for the deadline: {took:?}"
    );
    assert!(
        f.running.stderr().contains("about to exit with status 3"),
        "logs kept"
    );
}

#[tokio::test]
async fn segfault_is_named() {
    let f = faulty("segv", &[]).await;
    expect_fault(
        &f,
        Duration::from_secs(30),
        "Runtime.ExitError",
        &["signal: segmentation fault"],
    )
    .await;
}

#[tokio::test]
async fn sigkill_suggests_out_of_memory() {
    let f = faulty("sigkill", &[]).await;
    expect_fault(
        &f,
        Duration::from_secs(30),
        "Runtime.ExitError",
        &["signal: killed (possibly out of memory)"],
    )
    .await;
}

#[tokio::test]
async fn hang_past_the_deadline_times_out_and_kills_the_process_group() {
    let f = faulty("hang_with_grandchild", &[]).await;
    let took = expect_fault(
        &f,
        Duration::from_secs(2),
        "Runtime.Timeout",
        &["Task timed out after 2.00 seconds"],
    )
    .await;
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let grandchild: i32 = std::fs::read_to_string(f.state.path().join("grandchild"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !alive(grandchild),
        "the worker's child process {grandchild} was left running"
    );
}

#[tokio::test]
async fn worker_ignoring_sigterm_is_killed_after_the_grace_period() {
    let f = faulty("ignore_sigterm_hang", &[("FERRIC_KILL_GRACE_MS", "200")]).await;
    expect_fault(
        &f,
        Duration::from_secs(1),
        "Runtime.Timeout",
        &["Task timed out after 1.00 seconds"],
    )
    .await;
}

#[tokio::test]
async fn protocol_violations_are_answered_at_once() {
    for (mode, part, env) in [
        ("malformed", "broke the frame protocol", vec![]),
        ("plain_text", "hello, I am not a frame", vec![]),
        ("wrong_id", "answer for request id", vec![]),
        (
            "oversize",
            "over the 1048576-byte limit",
            vec![("FERRIC_MAX_FRAME_BYTES", "1048576")],
        ),
        ("bad_terminator", "out of sync", vec![]),
        (
            "close_stdout",
            "closed its frame channel but kept running",
            vec![],
        ),
    ] {
        let f = faulty(mode, &env).await;
        let took = expect_fault(
            &f,
            Duration::from_secs(30),
            "Runtime.WorkerProtocolError",
            &[part],
        )
        .await;
        assert!(took < Duration::from_secs(5), "{mode}: waited {took:?}");
    }
}

fn peak_rss_mib(pid: i32) -> u64 {
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
async fn a_100mb_line_keeps_memory_bounded() {
    let f = faulty("huge_line", &[]).await;
    expect_fault(
        &f,
        Duration::from_secs(30),
        "Runtime.WorkerProtocolError",
        &["longer than 65536 bytes"],
    )
    .await;
    let peak = peak_rss_mib(f.running.pid());
    assert!(peak < 64, "ferric's peak RSS was {peak} MiB");
}

#[tokio::test]
async fn worker_not_reading_stdin_is_bounded_by_the_deadline() {
    let f = faulty("stall_stdin", &[]).await;
    let event = format!("{{\"data\": \"{}\"}}", "z".repeat(5 * 1024 * 1024));
    let started = Instant::now();
    let r = invoke(
        &f.api,
        Invoke {
            body: event.into(),
            timeout: Some(Duration::from_secs(2)),
            ..Default::default()
        },
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(4));
    match r.outcome {
        Outcome::Error { body, .. } => {
            assert!(String::from_utf8_lossy(&body).contains("Task timed out after 2.00 seconds"))
        }
        other => panic!("{other:?}"),
    }
    let next = invoke_json(&f.api, "[3]").await;
    assert!(
        matches!(next.outcome, Outcome::Response { ref body, .. } if &body[..] == b"[3]"),
        "{next:?}"
    );
}

#[tokio::test]
async fn respawn_failures_are_bounded_then_ferric_exits() {
    let mut f = faulty("init_crash_after_first", &[]).await;
    let r = invoke_json(&f.api, "{}").await;
    assert!(matches!(r.outcome, Outcome::Error { .. }), "{r:?}");
    let started = Instant::now();
    let status = f.running.wait(Duration::from_secs(20)).await;
    assert!(!status.success());
    // 5 attempts with exponential backoff from 100 ms: never a tight loop.
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        f.spawns().len(),
        6,
        "first worker + 5 bounded respawn attempts"
    );
    assert!(f.running.stderr().contains("replacement cannot start"));
}

#[tokio::test]
async fn workers_are_recycled_after_max_invocations() {
    let f = faulty("echo", &[("FERRIC_MAX_INVOCATIONS", "2")]).await;
    for i in 0..5 {
        let r = invoke_json(&f.api, &format!("[{i}]")).await;
        assert!(matches!(r.outcome, Outcome::Response { .. }), "{r:?}");
    }
    assert_eq!(f.spawns().len(), 3, "workers for invocations 1-2, 3-4, 5");
}

#[tokio::test]
async fn workers_are_recycled_over_max_rss() {
    let f = faulty("echo", &[("FERRIC_MAX_RSS_MB", "1")]).await;
    for i in 0..3 {
        let r = invoke_json(&f.api, &format!("[{i}]")).await;
        assert!(matches!(r.outcome, Outcome::Response { .. }), "{r:?}");
    }
    // The replacement after the last invocation starts after its answer: poll for it.
    for _ in 0..100 {
        if f.spawns().len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(f.spawns().len(), 4, "a python process is always over 1 MiB");
}

#[tokio::test]
async fn registers_the_shutdown_extension_unless_disabled() {
    let f = faulty("echo", &[]).await;
    invoke_json(&f.api, "{}").await;
    assert_eq!(f.api.extensions().len(), 1);
    let f = faulty("echo", &[("FERRIC_REGISTER_EXTENSION", "0")]).await;
    invoke_json(&f.api, "{}").await;
    assert_eq!(f.api.extensions().len(), 0);
}

#[tokio::test]
async fn registers_the_shutdown_extension_once_per_sandbox_with_several_lanes() {
    // Lambda refuses a second registration under the same name (403
    // Extension.InvalidExtensionState); ferric registers once per lane today.
    let api = fake_with(Options::default().max_in_flight(2)).await;
    let f = faulty_on(api, "echo", &[("AWS_LAMBDA_MAX_CONCURRENCY", "2")]).await;
    let (a, b) = tokio::join!(invoke_json(&f.api, "[1]"), invoke_json(&f.api, "[2]"));
    assert!(matches!(a.outcome, Outcome::Response { .. }), "{a:?}");
    assert!(matches!(b.outcome, Outcome::Response { .. }), "{b:?}");
    let registrations = f.api.registrations();
    assert_eq!(
        registrations.len(),
        1,
        "one registration per sandbox: {registrations:?}\n{}",
        f.running.stderr()
    );
    assert!(registrations[0].result.is_ok(), "{registrations:?}");
    assert!(
        !f.running.stderr().contains("could not register"),
        "{}",
        f.running.stderr()
    );
}

async fn raw_ferric_against(address: &str) -> Running {
    let root = TaskRoot::new();
    let mut cmd = tokio::process::Command::new(ferric_bin());
    cmd.args([
        "--",
        "bash",
        &repo()
            .join("examples/raw/echo_worker.sh")
            .display()
            .to_string(),
    ])
    .current_dir(root.path())
    .env("AWS_LAMBDA_RUNTIME_API", address)
    .env("FERRIC_REGISTER_EXTENSION", "0")
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .kill_on_drop(true);
    Running::spawn(cmd)
}

#[tokio::test]
async fn next_refused_is_retried_with_backoff_then_exits() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap().to_string();
    drop(closed);
    let started = Instant::now();
    let mut running = raw_ferric_against(&address).await;
    let status = running.wait(Duration::from_secs(20)).await;
    assert!(!status.success());
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "backoff 100+200+400+800 ms: {:?}",
        started.elapsed()
    );
    assert_eq!(
        running.stderr().matches("retrying").count(),
        4,
        "{}",
        running.stderr()
    );
}

#[tokio::test]
async fn next_reset_is_retried_and_the_event_redelivered() {
    let api = fake().await;
    // The first /next takes the event and loses the connection before answering; RAPID
    // re-delivers an in-flight event to the retried /next. Later /next calls are dropped too.
    api.add_rule(Rule::once(Match::NthNext(1), Fault::TakeAndClose));
    api.script(|seen| (seen.kind == Kind::Next && seen.nth >= 3).then_some(Fault::Close));
    api.enqueue([Invoke {
        request_id: Some("req-redelivered".into()),
        ..Invoke::new("{\"again\": true}")
    }]);
    let mut running = raw_ferric_against(&api.address()).await;
    for _ in 0..200 {
        if request_lines(&api)
            .iter()
            .any(|r| r.contains("/req-redelivered/response"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let requests = request_lines(&api);
    assert!(
        requests
            .contains(&"POST /2018-06-01/runtime/invocation/req-redelivered/response".to_string()),
        "{requests:?}\n{}",
        running.stderr()
    );
    running.terminate();
    running.wait(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn next_500_exits_promptly() {
    let api = fake().await;
    api.script(|_| {
        Some(Fault::Status {
            status: 500,
            body: "{}".into(),
        })
    });
    let started = Instant::now();
    let mut running = raw_ferric_against(&api.address()).await;
    let status = running.wait(Duration::from_secs(10)).await;
    assert!(!status.success());
    assert!(started.elapsed() < Duration::from_secs(2));
    let nexts = request_lines(&api)
        .iter()
        .filter(|r| r.ends_with("/invocation/next"))
        .count();
    assert_eq!(nexts, 1, "no retry after a 500");
}

#[tokio::test]
async fn response_500_exits() {
    let api = fake().await;
    api.add_rule(Rule::always(
        Match::Post,
        Fault::Status {
            status: 500,
            body: "{}".into(),
        },
    ));
    api.enqueue([Invoke {
        request_id: Some("req-1".into()),
        ..Invoke::new("{}")
    }]);
    let mut running = raw_ferric_against(&api.address()).await;
    let status = running.wait(Duration::from_secs(10)).await;
    assert!(!status.success());
    assert!(running.stderr().contains("500"), "{}", running.stderr());
}

#[tokio::test]
async fn max_concurrency_runs_one_worker_per_lane() {
    // Lambda Managed Instances: the platform hands out two invocations at once.
    let api = fake_with(Options::default().max_in_flight(2)).await;
    let f = faulty_on(api, "slow_echo", &[("AWS_LAMBDA_MAX_CONCURRENCY", "2")]).await;
    let started = Instant::now();
    let (a, b) = tokio::join!(invoke_json(&f.api, "[1]"), invoke_json(&f.api, "[2]"));
    let took = started.elapsed();
    assert!(
        matches!(a.outcome, Outcome::Response { ref body, .. } if &body[..] == b"[1]"),
        "{a:?}"
    );
    assert!(
        matches!(b.outcome, Outcome::Response { ref body, .. } if &body[..] == b"[2]"),
        "{b:?}"
    );
    assert_eq!(f.spawns().len(), 2);
    assert!(
        took < Duration::from_millis(1900),
        "the two 1 s invocations ran one after the other: {took:?}"
    );
}

const PY_FAULTS: &str = r#"
import atexit, os, signal, sys, time

def on_exit():
    sys.stderr.write("atexit handler ran\n")
    sys.stderr.flush()

def on_term(signum, frame):
    sys.stderr.write("SIGTERM handler ran\n")
    sys.stderr.flush()

atexit.register(on_exit)
signal.signal(signal.SIGTERM, on_term)

def slow_helper(seconds):
    time.sleep(seconds)

def sleepy(event, context):
    slow_helper(event.get("sleep", 0))
    return {"slept": event.get("sleep", 0)}

def exits(event, context):
    sys.exit(3)

def hard_exit(event, context):
    os._exit(7)

def interrupted(event, context):
    raise KeyboardInterrupt()
"#;

async fn python_faults(handler: &str) -> (TaskRoot, FakeApi, Running) {
    let root = TaskRoot::new();
    root.write("faults.py", PY_FAULTS);
    let api = fake().await;
    let running = Running::spawn(ferric_command(
        &api,
        root.path(),
        &[&format!("faults.{handler}")],
    ));
    (root, api, running)
}

async fn expect_python_fault(handler: &str, error_type: &str, part: &str) {
    let (_root, api, running) = python_faults(handler).await;
    let r = invoke_json(&api, "{}").await;
    match &r.outcome {
        Outcome::Error { body, .. } => {
            let v: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(
                v["errorType"],
                error_type,
                "{handler}: {v}\n{}",
                running.stderr()
            );
            assert!(
                v["errorMessage"].as_str().unwrap().contains(part),
                "{handler}: {v}"
            );
        }
        other => panic!("{handler}: {other:?}\n{}", running.stderr()),
    }
    // The replacement worker serves the next invocation (module state is fresh).
    let r = invoke_json(&api, "{}").await;
    assert!(
        matches!(r.outcome, Outcome::Error { .. }),
        "{handler}: {r:?}"
    );
    assert_eq!(api.posts().len(), 2);
}

#[tokio::test]
async fn python_handler_exits_are_reported_and_survived() {
    expect_python_fault("exits", "Runtime.ExitError", "exit status 3").await;
    expect_python_fault("hard_exit", "Runtime.ExitError", "exit status 7").await;
    expect_python_fault(
        "interrupted",
        "Runtime.ExitError",
        "Runtime exited with error",
    )
    .await;
}

#[tokio::test]
async fn python_timeout_dumps_stacks_then_recovers() {
    let (_root, api, running) = python_faults("sleepy").await;
    let r = invoke(
        &api,
        Invoke {
            body: "{\"sleep\": 30}".into(),
            timeout: Some(Duration::from_secs(2)),
            ..Default::default()
        },
    )
    .await;
    match &r.outcome {
        Outcome::Error { body, .. } => {
            let v: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(v["errorType"], "Runtime.Timeout");
            assert_eq!(
                v["errorMessage"],
                format!(
                    "RequestId: {} Error: Task timed out after 2.00 seconds",
                    r.request_id
                )
            );
        }
        other => panic!("{other:?}"),
    }
    // faulthandler's dump names the function that was running.
    assert!(
        running.stderr_contains("in slow_helper").await,
        "no stack dump:\n{}",
        running.stderr()
    );
    let r = invoke_json(&api, "{\"sleep\": 0}").await;
    assert!(
        matches!(r.outcome, Outcome::Response { ref body, .. } if &body[..] == b"{\"slept\": 0}"),
        "{r:?}"
    );
}

#[tokio::test]
async fn sigterm_finishes_the_invocation_then_runs_the_handlers_hooks() {
    let (_root, api, mut running) = python_faults("sleepy").await;
    let invocation = {
        let api = api.clone();
        tokio::spawn(async move { invoke_json(&api, "{\"sleep\": 1}").await })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    running.terminate();
    let r = invocation.await.unwrap();
    assert!(
        matches!(r.outcome, Outcome::Response { ref body, .. } if &body[..] == b"{\"slept\": 1}"),
        "the in-flight invocation must finish: {r:?}\n{}",
        running.stderr()
    );
    let status = running.wait(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", running.stderr());
    let stderr = running.stderr();
    let term = stderr
        .find("SIGTERM handler ran")
        .unwrap_or_else(|| panic!("{stderr}"));
    let exit = stderr
        .find("atexit handler ran")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(term < exit);
    assert_eq!(api.next_calls(), 1, "no polling after SIGTERM");
}

/// One worker keeps one deadline timer and moves it for each call: a call whose deadline is
/// earlier than the previous call's must still time out at its own.
#[tokio::test]
async fn a_shorter_deadline_after_a_longer_one_is_still_enforced() {
    let (_root, api, running) = python_faults("sleepy").await;
    let long = invoke(
        &api,
        Invoke {
            body: "{\"sleep\": 0}".into(),
            timeout: Some(Duration::from_secs(30)),
            ..Default::default()
        },
    )
    .await;
    assert!(
        matches!(long.outcome, Outcome::Response { .. }),
        "{long:?}\n{}",
        running.stderr()
    );
    let started = std::time::Instant::now();
    let short = invoke(
        &api,
        Invoke {
            body: "{\"sleep\": 30}".into(),
            timeout: Some(Duration::from_secs(2)),
            ..Default::default()
        },
    )
    .await;
    match &short.outcome {
        Outcome::Error { body, .. } => {
            let v: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(v["errorType"], "Runtime.Timeout", "{v}");
        }
        other => panic!("{other:?}\n{}", running.stderr()),
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "timed out after {:?}: the first call's deadline was used",
        started.elapsed()
    );
}
