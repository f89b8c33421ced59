//! `ferric conform` on the built binary: ferric's own shims and the bash example pass every
//! rule, the reference worker in tests/fixtures/conform/ passes all of them with none skipped,
//! and each of its broken modes fails exactly the rules it breaks.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::*;
use tokio::process::Command;

/// Every rule, in the order the kit reports them.
const RULES: [&str; 20] = [
    "handshake",
    "hooks",
    "invoke",
    "ids",
    "payload-newlines",
    "payload-bytes",
    "payload-large",
    "unknown-fields",
    "largest-header",
    "error",
    "logs",
    "unknown-frames",
    "stream",
    "stream-error",
    "shutdown",
    "eof",
    "invalid-header",
    "invalid-terminator",
    "invalid-truncated",
    "init-error",
];

/// What the conformance handlers and the bash example do not do: stream (both shims stream only
/// from handlers marked for it, and the one conformance handler must also answer bytes as a
/// result; the shims' own suites cover streaming) and run SnapStart hooks (all but Python).
const NOT_OFFERED: [&str; 3] = ["hooks", "stream", "stream-error"];
/// Python's worker runs SnapStart hooks (snapshot_restore_py), as awslambdaric does.
const NOT_OFFERED_PYTHON: [&str; 2] = ["stream", "stream-error"];

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// (verdict, rule) for each report line, checking every rule is reported once, in order.
    fn verdicts(&self) -> Vec<(String, String)> {
        let verdicts: Vec<(String, String)> = self
            .stdout
            .lines()
            .filter_map(|l| {
                let (verdict, rest) = l.split_once(' ')?;
                ["PASS", "FAIL", "SKIP"].contains(&verdict).then(|| {
                    let rule = rest.split(':').next().unwrap_or(rest);
                    (verdict.to_owned(), rule.to_owned())
                })
            })
            .collect();
        let rules: Vec<&str> = verdicts.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(rules, RULES, "{}", self.stdout);
        verdicts
    }

    fn rules(&self, verdict: &str) -> BTreeSet<String> {
        self.verdicts()
            .into_iter()
            .filter(|(v, _)| v == verdict)
            .map(|(_, r)| r)
            .collect()
    }
}

fn set(rules: &[&str]) -> BTreeSet<String> {
    rules.iter().map(|r| r.to_string()).collect()
}

/// `ferric conform ARGS` with generous bounds (the machine may be busy), `env` added.
async fn conform(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(ferric_bin());
    cmd.arg("conform")
        .args(["--timeout", "30"])
        .args(args)
        .current_dir(repo())
        .env("FERRIC_PYTHON", python())
        .env("FERRIC_NODE", node())
        .env("FERRIC_KILL_GRACE_MS", "2000")
        .envs(env.iter().copied())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("ferric conform finishes")
        .expect("ferric runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Passes every rule, skipping only what the worker does not offer.
fn assert_conforms(run: &Run, skipped: &[&str]) {
    assert_eq!(
        run.rules("FAIL"),
        set(&[]),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(run.rules("SKIP"), set(skipped), "{}", run.stdout);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(run.stdout.ends_with(&format!(
        "ferric conform: {} passed, 0 failed, {} skipped\n",
        RULES.len() - skipped.len(),
        skipped.len()
    )));
}

#[tokio::test]
async fn the_python_shim_conforms() {
    let run = conform(&["--runtime", "python"], &[]).await;
    assert_conforms(&run, &NOT_OFFERED_PYTHON);
    assert!(run.stdout.contains("PASS hooks\n"), "{}", run.stdout);
    // Python handlers take bytes: the payload rules ran on raw bytes.
    assert!(
        run.stdout.contains("PASS payload-bytes\n"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn the_node_shim_conforms_in_both_generations() {
    for compat in ["v3", "v4"] {
        let run = conform(&["--runtime", "node"], &[("FERRIC_NODE_COMPAT", compat)]).await;
        assert_conforms(&run, &NOT_OFFERED);
        // Node handlers see parsed JSON only, as with aws-lambda-ric: the report says so.
        assert!(
            run.stdout
                .contains("PASS payload-bytes: checked as JSON text"),
            "{}",
            run.stdout
        );
    }
}

#[tokio::test]
async fn the_ruby_shim_conforms() {
    let run = conform(&["--runtime", "ruby"], &[]).await;
    // aws_lambda_ric resolves the handler's method at the first invocation, not at init, so
    // the Ruby shim (as its peer) reports no init error for a missing method.
    let mut skipped = NOT_OFFERED.to_vec();
    skipped.push("init-error");
    assert_conforms(&run, &skipped);
    assert!(
        run.stdout
            .contains("PASS payload-bytes: checked as JSON text"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn the_bash_example_conforms() {
    let run = conform(&["--", "bash", "examples/raw/echo_worker.sh"], &[]).await;
    assert_conforms(&run, &NOT_OFFERED);
}

const WORKER: &str = "tests/fixtures/conform/worker.py";

/// The reference worker in `mode`, with a small frame limit to keep the large payload quick.
async fn worker(mode: &str) -> Run {
    let python = python();
    let python = python.to_str().expect("a UTF-8 path");
    let env = [("FERRIC_MAX_FRAME_BYTES", "1048576")];
    conform(&["--", python, WORKER, mode], &env).await
}

#[tokio::test]
async fn a_worker_that_streams_and_runs_hooks_passes_every_rule() {
    let run = worker("good").await;
    assert_conforms(&run, &[]);
    assert!(run
        .stdout
        .starts_with("PASS handshake: features: streaming, hooks\n"));
}

/// Each broken mode of the reference worker fails exactly these rules.
const BROKEN: [(&str, &[&str]); 11] = [
    ("short-ids", &["ids"]),
    ("high-bytes", &["payload-bytes", "payload-large"]),
    ("garbage", &["logs"]),
    ("ignore-shutdown", &["shutdown"]),
    ("bad-error", &["error"]),
    ("nostream", &["stream", "stream-error"]),
    ("unsplit", &["stream"]),
    (
        "lenient",
        &["invalid-header", "invalid-terminator", "invalid-truncated"],
    ),
    ("strict-types", &["unknown-frames"]),
    ("wrong-phase", &["hooks"]),
    ("small-headers", &["largest-header"]),
];

async fn check_broken(modes: std::ops::Range<usize>) {
    for (mode, failing) in &BROKEN[modes] {
        let run = worker(mode).await;
        assert_eq!(run.rules("FAIL"), set(failing), "{mode}:\n{}", run.stdout);
        assert_eq!(run.rules("SKIP"), set(&[]), "{mode}:\n{}", run.stdout);
        assert_eq!(run.code, Some(1), "{mode}");
    }
}

#[tokio::test]
async fn broken_workers_fail_exactly_their_rules_1() {
    check_broken(0..4).await;
}

#[tokio::test]
async fn broken_workers_fail_exactly_their_rules_2() {
    check_broken(4..8).await;
}

#[tokio::test]
async fn broken_workers_fail_exactly_their_rules_3() {
    check_broken(8..BROKEN.len()).await;
}

#[tokio::test]
async fn the_wrong_protocol_version_fails_the_handshake_and_stops_there() {
    let run = worker("version-2").await;
    assert_eq!(run.rules("FAIL"), set(&["handshake"]), "{}", run.stdout);
    assert_eq!(run.rules("SKIP").len(), RULES.len() - 1);
    assert!(run.stdout.contains("protocol version 2"), "{}", run.stdout);
    assert_eq!(run.code, Some(1));
}

#[tokio::test]
async fn reasons_say_what_went_wrong() {
    let run = worker("high-bytes").await;
    assert!(
        run.stdout.contains(
            "FAIL payload-bytes: sent 512 bytes, got 512 back; first difference at byte 128: sent 0x80, got 0x3f"
        ),
        "{}",
        run.stdout
    );
    let run = conform(&["--", "/nonexistent/worker"], &[]).await;
    assert_eq!(run.rules("FAIL"), set(&["handshake"]), "{}", run.stdout);
    assert!(
        run.stdout.contains("could not start the worker"),
        "{}",
        run.stdout
    );
    assert_eq!(run.code, Some(1));
}

#[tokio::test]
async fn conform_needs_a_runtime_or_a_command() {
    let run = conform(&[], &[]).await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}
