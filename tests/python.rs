//! The built binary with real Python workers against a fake Runtime API: init errors, handler
//! errors, the context object, trace ids, output pollution and unusual events.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

const EXIT_LIMIT: Duration = Duration::from_secs(20);

/// Start ferric on a task root that failed init; return (init error post, stderr, exit code).
async fn init_failure(
    root: &TaskRoot,
    handler: &str,
    env: &[(&str, &str)],
) -> (Recorded, String, Option<i32>) {
    let api = fake().await;
    let mut cmd = ferric_command(&api, root.path(), &[handler]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut running = Running::spawn(cmd);
    let status = running.wait(EXIT_LIMIT).await;
    let post = wait_for_init_error(&api, &running, Duration::from_secs(1)).await;
    assert_eq!(
        api.next_calls(),
        0,
        "ferric must not poll /next after a failed init"
    );
    (post, running.stderr(), status.code())
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

#[tokio::test]
async fn malformed_handler_name() {
    let root = TaskRoot::new();
    let (post, stderr, code) = init_failure(&root, "nodot", &[]).await;
    assert_eq!(code, Some(1));
    assert_eq!(
        header(&post, "lambda-runtime-function-error-type").as_deref(),
        Some("Runtime.MalformedHandlerName")
    );
    assert_eq!(
        String::from_utf8_lossy(&post.body),
        r#"{"errorMessage": "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)", "errorType": "Runtime.MalformedHandlerName", "requestId": "", "stackTrace": []}"#
    );
    assert!(
        stderr.contains("[ERROR] Runtime.MalformedHandlerName"),
        "{stderr}"
    );
}

#[tokio::test]
async fn builtin_module_conflict() {
    let root = TaskRoot::new();
    let (post, _, code) = init_failure(&root, "sys.handler", &[]).await;
    assert_eq!(code, Some(1));
    let body = json(&post.body);
    assert_eq!(body["errorType"], "Runtime.BuiltInModuleConflict");
    assert_eq!(
        body["errorMessage"],
        "Cannot use built-in module sys as a handler module"
    );
}

#[tokio::test]
async fn missing_module_suggests_the_workshop_fix() {
    // The workshop copies app/ *into* the task root, then names app.handler.
    let root = TaskRoot::new();
    root.write("handler.py", "def handler(event, context):\n    return 1\n");
    let (post, stderr, code) = init_failure(&root, "app.handler", &[]).await;
    assert_eq!(code, Some(1));
    assert_eq!(
        header(&post, "lambda-runtime-function-error-type").as_deref(),
        Some("Runtime.ImportModuleError")
    );
    assert_eq!(
        String::from_utf8_lossy(&post.body),
        r#"{"errorMessage": "Unable to import module 'app': No module named 'app'", "errorType": "Runtime.ImportModuleError", "requestId": "", "stackTrace": []}"#
    );
    assert!(stderr.contains("did you mean handler.handler?"), "{stderr}");
}

#[tokio::test]
async fn syntax_error() {
    let root = TaskRoot::new();
    root.write("bad.py", "def handler(event, context:\n    return 1\n");
    let (post, _, code) = init_failure(&root, "bad.handler", &[]).await;
    assert_eq!(code, Some(1));
    let body = json(&post.body);
    assert_eq!(body["errorType"], "Runtime.UserCodeSyntaxError");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("Syntax error in module 'bad': "),
        "{body}"
    );
    let trace = body["stackTrace"][0].as_str().unwrap();
    assert!(trace.contains("bad.py\" Line 1"), "{trace}");
}

#[tokio::test]
async fn exception_at_import_keeps_its_class_name() {
    let root = TaskRoot::new();
    root.write(
        "boom.py",
        "class ConfigMissing(Exception):\n    pass\n\nraise ConfigMissing('set TABLE_NAME')\n",
    );
    let (post, _, code) = init_failure(&root, "boom.handler", &[]).await;
    assert_eq!(code, Some(1));
    assert_eq!(
        header(&post, "lambda-runtime-function-error-type").as_deref(),
        Some("ConfigMissing")
    );
    let body = json(&post.body);
    assert_eq!(body["errorType"], "ConfigMissing");
    assert_eq!(body["errorMessage"], "set TABLE_NAME");
    let trace = body["stackTrace"].as_array().unwrap();
    assert!(
        trace
            .iter()
            .any(|l| l.as_str().unwrap().contains("boom.py")),
        "{body}"
    );
    assert!(
        !body.to_string().contains("ferric_shim") && !body.to_string().contains("<string>"),
        "{body}"
    );
}

#[tokio::test]
async fn handler_attribute_missing() {
    let root = TaskRoot::new();
    root.write("app.py", "def other(event, context):\n    return 1\n");
    let (post, _, _) = init_failure(&root, "app.handler", &[]).await;
    let body = json(&post.body);
    assert_eq!(body["errorType"], "Runtime.HandlerNotFound");
    assert_eq!(
        body["errorMessage"],
        "Handler 'handler' missing on module 'app'"
    );
}

#[tokio::test]
async fn worker_exiting_during_init_reports_status_and_last_lines() {
    let root = TaskRoot::new();
    root.write("dies.py", "import os, sys\nsys.stderr.write('loading config...\\n')\nsys.stderr.flush()\nos._exit(3)\n");
    let (post, _, code) = init_failure(&root, "dies.handler", &[]).await;
    assert_eq!(code, Some(1));
    assert_eq!(
        header(&post, "lambda-runtime-function-error-type").as_deref(),
        Some("Runtime.ExitError")
    );
    let body = json(&post.body);
    let message = body["errorMessage"].as_str().unwrap();
    assert!(message.contains("exit status 3"), "{message}");
    assert!(message.contains("loading config..."), "{message}");
}

#[tokio::test]
async fn worker_silent_past_the_init_limit() {
    let root = TaskRoot::new();
    root.write("slow.py", "import time\ntime.sleep(60)\n");
    let started = std::time::Instant::now();
    let (post, _, code) =
        init_failure(&root, "slow.handler", &[("FERRIC_INIT_TIMEOUT", "1")]).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(code, Some(1));
    let body = json(&post.body);
    assert_eq!(body["errorType"], "Runtime.Timeout");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("FERRIC_INIT_TIMEOUT"),
        "{body}"
    );
}

#[tokio::test]
async fn interpreter_not_found_names_the_setting() {
    let root = TaskRoot::new();
    root.write("app.py", "def handler(e, c):\n    return 1\n");
    let (post, stderr, code) = init_failure(
        &root,
        "app.handler",
        &[("FERRIC_PYTHON", "/nonexistent/python3")],
    )
    .await;
    assert_eq!(code, Some(1));
    let body = json(&post.body);
    assert_eq!(body["errorType"], "Runtime.InvalidEntrypoint");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("FERRIC_PYTHON"),
        "{body}"
    );
    assert!(stderr.contains("/nonexistent/python3"), "{stderr}");
}

const HANDLERS: &str = r#"
import ctypes, decimal, os, sys, time

def echo(event, context):
    return event

def kind(event, context):
    return {"type": type(event).__name__, "value": event.decode() if isinstance(event, bytes) else event}

def fails(event, context):
    def inner():
        raise ValueError("boom")
    inner()

def context_fields(event, context):
    cc = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "tenant_id": context.tenant_id,
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "client_context": None if cc is None else {
            "custom": cc.custom, "env": cc.env,
            "installation_id": cc.client.installation_id if cc.client else None,
        },
        "remaining": context.get_remaining_time_in_millis(),
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
    }

def noisy(event, context):
    print("print to stdout")
    sys.stdout.write("sys.stdout.write\n")
    os.write(1, b"os.write to fd 1\n")
    libc = ctypes.CDLL(None)
    libc.write(1, b"libc write to fd 1\n", 19)
    os.system("echo child process stdout")
    print("to stderr", file=sys.stderr)
    return {"ok": True}

def big(event, context):
    return "x" * (7 * 1024 * 1024)
"#;

async fn start_handler(name: &str) -> (TaskRoot, FakeApi, Running) {
    let root = TaskRoot::new();
    root.write("handlers.py", HANDLERS);
    let api = fake().await;
    let running = Running::spawn(ferric_command(
        &api,
        root.path(),
        &[&format!("handlers.{name}")],
    ));
    (root, api, running)
}

fn response(outcome: &Outcome) -> &[u8] {
    match outcome {
        Outcome::Response { body, .. } => body,
        other => panic!("expected a response, got {other:?}"),
    }
}

#[tokio::test]
async fn echo_pretty_unicode_and_large_events() {
    let (_root, api, running) = start_handler("echo").await;
    let pretty = "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"s\": \"line\\nbreak\"\n}\n";
    let r = invoke_json(&api, pretty).await;
    assert_eq!(
        response(&r.outcome),
        br#"{"a": [1, 2], "s": "line\nbreak"}"#,
        "{}",
        running.stderr()
    );

    let r = invoke_json(&api, r#"{"emoji": "😀", "accent": "é"}"#).await;
    // awslambdaric escapes non-ASCII unless AWS_EXECUTION_ENV names python3.12+.
    assert_eq!(
        response(&r.outcome),
        br#"{"emoji": "\ud83d\ude00", "accent": "\u00e9"}"#
    );

    let data = "y".repeat(5 * 1024 * 1024);
    let r = invoke_json(&api, &format!("{{\"data\": \"{data}\"}}")).await;
    let body = response(&r.outcome);
    assert_eq!(body.len(), data.len() + 12);
    assert_eq!(posts_for(&api, &r.request_id).len(), 1);
}

#[tokio::test]
async fn non_json_content_type_passes_bytes() {
    let (_root, api, running) = start_handler("kind").await;
    let r = invoke(
        &api,
        Invoke {
            body: "plain text, not JSON".into(),
            content_type: Some("text/plain".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        response(&r.outcome),
        br#"{"type": "bytes", "value": "plain text, not JSON"}"#,
        "{}",
        running.stderr()
    );
    let r = invoke(
        &api,
        Invoke {
            body: "{\"a\": 1}".into(),
            content_type: Some("application/json".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        response(&r.outcome),
        br#"{"type": "dict", "value": {"a": 1}}"#
    );
}

#[tokio::test]
async fn invalid_json_event_is_an_unmarshal_error() {
    let (_root, api, _running) = start_handler("echo").await;
    let r = invoke_json(&api, "{not json").await;
    match r.outcome {
        Outcome::Error { body, .. } => {
            let body = json(&body);
            assert_eq!(body["errorType"], "Runtime.UnmarshalError");
            assert!(body["errorMessage"]
                .as_str()
                .unwrap()
                .starts_with("Unable to unmarshal input: "));
            assert_eq!(body["requestId"], r.request_id.as_str());
        }
        other => panic!("{other:?}"),
    }
    // The worker survives a bad event.
    let r = invoke_json(&api, "[1]").await;
    assert_eq!(response(&r.outcome), b"[1]");
}

#[tokio::test]
async fn handler_exception_body_and_headers() {
    let (_root, api, running) = start_handler("fails").await;
    let r = invoke_json(&api, "{}").await;
    let body = match &r.outcome {
        Outcome::Error { body, .. } => json(body),
        other => panic!("{other:?}"),
    };
    assert_eq!(body["errorType"], "ValueError");
    assert_eq!(body["errorMessage"], "boom");
    assert_eq!(body["requestId"], r.request_id.as_str());
    let trace: Vec<&str> = body["stackTrace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(trace.len(), 2, "{trace:?}");
    assert!(
        trace[0].contains("handlers.py") && trace[0].contains("in fails"),
        "{trace:?}"
    );
    assert!(
        trace[1].contains("in inner") && trace[1].contains("raise ValueError(\"boom\")"),
        "{trace:?}"
    );
    let posts = posts_for(&api, &r.request_id);
    assert_eq!(posts.len(), 1);
    assert!(posts[0].path.ends_with("/error"));
    // Like awslambdaric: no error-type header on invocation errors, an X-Ray cause instead.
    assert_eq!(
        header(&posts[0], "lambda-runtime-function-error-type"),
        None
    );
    let cause = json(
        header(&posts[0], "lambda-runtime-function-xray-error-cause")
            .unwrap()
            .as_bytes(),
    );
    assert_eq!(cause["exceptions"][0]["type"], "ValueError");
    assert!(
        running.stderr_contains("[ERROR] ValueError: boom").await,
        "{}",
        running.stderr()
    );
}

#[tokio::test]
async fn context_object_and_trace_id() {
    let (_root, api, running) = start_handler("context_fields").await;
    let r = invoke(
        &api,
        Invoke {
            body: "{}".into(),
            trace_id: Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into()),
            client_context: Some(r#"{"client": {"installation_id": "inst-1"}, "custom": {"k": "v"}, "env": {"platform": "x"}}"#.into()),
            cognito_identity: Some(r#"{"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}"#.into()),
            tenant_id: Some("tenant-7".into()),
            ..Default::default()
        },
    )
    .await;
    let ctx = json(response(&r.outcome));
    assert_eq!(
        ctx["aws_request_id"],
        r.request_id.as_str(),
        "{}",
        running.stderr()
    );
    assert_eq!(
        ctx["invoked_function_arn"],
        "arn:aws:lambda:us-east-1:012345678912:function:test_function"
    );
    assert_eq!(ctx["function_name"], "test_function");
    assert_eq!(ctx["function_version"], "$LATEST");
    assert_eq!(ctx["memory_limit_in_mb"], "128");
    assert_eq!(ctx["log_group_name"], "/aws/lambda/test_function");
    assert_eq!(ctx["tenant_id"], "tenant-7");
    assert_eq!(ctx["identity"], serde_json::json!(["id-1", "pool-1"]));
    assert_eq!(ctx["client_context"]["installation_id"], "inst-1");
    assert_eq!(ctx["client_context"]["custom"]["k"], "v");
    let remaining = ctx["remaining"].as_i64().unwrap();
    assert!(remaining > 20_000 && remaining <= 30_000, "{remaining}");
    assert_eq!(
        ctx["trace"],
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    );

    // Next invoke has no trace header: the variable must be gone, identity still an object.
    let r = invoke_json(&api, "{}").await;
    let ctx = json(response(&r.outcome));
    assert_eq!(ctx["trace"], Value::Null);
    assert_eq!(ctx["identity"], serde_json::json!([null, null]));
    assert_eq!(ctx["client_context"], Value::Null);
    assert_eq!(ctx["tenant_id"], Value::Null);
}

#[tokio::test]
async fn bad_client_context_is_a_context_unmarshal_error() {
    let (_root, api, _running) = start_handler("context_fields").await;
    let r = invoke(
        &api,
        Invoke {
            body: "{}".into(),
            client_context: Some("{nope".into()),
            ..Default::default()
        },
    )
    .await;
    match r.outcome {
        Outcome::Error { body, .. } => {
            let body = json(&body);
            assert_eq!(body["errorType"], "Runtime.LambdaContextUnmarshalError");
            assert!(body["errorMessage"]
                .as_str()
                .unwrap()
                .starts_with("Unable to parse Client Context JSON: "));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn output_to_fd1_never_reaches_the_frame_channel() {
    let (_root, api, mut running) = start_handler("noisy").await;
    for _ in 0..3 {
        let r = invoke_json(&api, "{}").await;
        assert_eq!(
            response(&r.outcome),
            br#"{"ok": true}"#,
            "{}",
            running.stderr()
        );
    }
    running.terminate();
    running.wait(EXIT_LIMIT).await;
    let stderr = running.stderr();
    let order = [
        "print to stdout",
        "sys.stdout.write",
        "os.write to fd 1",
        "libc write to fd 1",
        "child process stdout",
        "to stderr",
    ];
    let mut at = 0;
    for line in order {
        let found = stderr[at..]
            .find(line)
            .unwrap_or_else(|| panic!("{line:?} missing or out of order in:\n{stderr}"));
        at += found + line.len();
    }
}

#[tokio::test]
async fn response_over_6mb_is_refused_like_the_platform_and_ferric_goes_on() {
    let (_root, api, running) = start_handler("big").await;
    let r = invoke_json(&api, "{}").await;
    match &r.outcome {
        Outcome::TooLarge { body } => {
            let body = json(body);
            assert_eq!(body["errorType"], "Function.ResponseSizeTooLarge");
        }
        other => panic!("{other:?}\n{}", running.stderr()),
    }
    assert!(running.stderr_contains("413").await, "{}", running.stderr());
    // Same process, next invocation served.
    let again = invoke_json(&api, "{}").await;
    assert!(matches!(again.outcome, Outcome::TooLarge { .. }));
    assert_eq!(api.posts().len(), 2);
}

#[tokio::test]
async fn sigterm_stops_cleanly_after_the_in_flight_invocation() {
    let (_root, api, mut running) = start_handler("echo").await;
    let r = invoke_json(&api, "{\"x\": 1}").await;
    assert_eq!(response(&r.outcome), br#"{"x": 1}"#);
    running.terminate();
    let status = running.wait(EXIT_LIMIT).await;
    assert_eq!(status.code(), Some(0), "{}", running.stderr());
}
