//! The built binary with real Node.js workers (the `node` on PATH) against a fake Runtime API:
//! handler resolution, init errors, async and callback handlers, context, errors, and output
//! that must not reach the frame channel.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn response(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Response { body, .. } => json(body),
        other => panic!("expected a response, got {other:?}"),
    }
}

fn function_error(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Error { body, .. } => {
            let text = String::from_utf8_lossy(body);
            assert!(
                text.starts_with("{\"errorType\":"),
                "Node key order: {text}"
            );
            json(body)
        }
        other => panic!("expected a function error, got {other:?}"),
    }
}

async fn node_running(root: &TaskRoot, handler: &str, args: &[&str]) -> (FakeApi, Running) {
    let api = fake().await;
    let mut all: Vec<&str> = args.to_vec();
    all.push(handler);
    let running = Running::spawn(ferric_command(&api, root.path(), &all));
    (api, running)
}

const CJS: &str = r#"
exports.echo = async (event) => event;
exports.nested = { deeper: { handler: async () => ({ nested: true }) } };
exports.promise = (event) => Promise.resolve({ promised: event });
exports.callback = (event, context, callback) => { setTimeout(() => callback(null, { cb: event }), 10); };
exports.callbackWaits = (event, context, callback) => {
  setTimeout(() => { globalThis.late = 'ran'; }, 100);
  callback(null, { waited: true });
};
exports.callbackNoWait = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = false;
  setTimeout(() => {}, 5000);
  callback(null, { waited: false });
};
exports.late = async () => ({ late: globalThis.late || null });
exports.succeed = (event, context) => { context.succeed({ via: 'succeed' }); context.fail(new Error('ignored')); };
exports.fail = (event, context) => { context.fail(new Error('failed via context')); };
exports.done = (event, context) => { context.done(null, { via: 'done' }); };
exports.throws = async () => { const e = new TypeError('bad type'); throw e; };
exports.rejects = () => Promise.reject(new RangeError('out of range'));
exports.throwsString = async () => { throw 'just a string'; };
exports.uncaught = (event, context, callback) => { setTimeout(() => { throw new Error('uncaught boom'); }, 5); };
exports.undef = async () => undefined;
exports.context = async (event, context) => ({
  awsRequestId: context.awsRequestId,
  invokedFunctionArn: context.invokedFunctionArn,
  functionName: context.functionName,
  functionVersion: context.functionVersion,
  memoryLimitInMB: context.memoryLimitInMB,
  logGroupName: context.logGroupName,
  logStreamName: context.logStreamName,
  clientContext: context.clientContext,
  identity: context.identity,
  tenantId: context.tenantId,
  remaining: context.getRemainingTimeInMillis(),
  trace: process.env._X_AMZN_TRACE_ID === undefined ? null : process.env._X_AMZN_TRACE_ID,
  awslambda: typeof globalThis.awslambda.streamifyResponse,
});
exports.noisy = async () => {
  console.log('console.log line\nwith a second line');
  process.stdout.write('process.stdout.write {"type":"result"}\n');
  require('child_process').execSync('echo child stdout', { stdio: 'inherit' });
  console.error('console.error line');
  return { ok: true };
};
"#;

#[tokio::test]
async fn commonjs_handlers_async_promise_callback_and_nested() {
    let root = TaskRoot::new();
    root.write("index.js", CJS);
    for (handler, event, expected) in [
        ("index.echo", "{\"a\": 1}", serde_json::json!({"a": 1})),
        (
            "index.nested.deeper.handler",
            "{}",
            serde_json::json!({"nested": true}),
        ),
        ("index.promise", "[1]", serde_json::json!({"promised": [1]})),
        ("index.callback", "\"x\"", serde_json::json!({"cb": "x"})),
        ("index.succeed", "{}", serde_json::json!({"via": "succeed"})),
        ("index.done", "{}", serde_json::json!({"via": "done"})),
        ("index.undef", "{}", Value::Null),
    ] {
        let (api, running) = node_running(&root, handler, &["--runtime", "node"]).await;
        let r = invoke_json(&api, event).await;
        assert_eq!(
            response(&r.outcome),
            expected,
            "{handler}: {}",
            running.stderr()
        );
    }
}

#[tokio::test]
async fn callback_waits_for_the_event_loop_unless_told_not_to() {
    let root = TaskRoot::new();
    root.write("index.js", CJS);
    let (api, running) = node_running(&root, "index.callbackWaits", &[]).await;
    let started = std::time::Instant::now();
    let r = invoke_json(&api, "{}").await;
    assert_eq!(
        response(&r.outcome),
        serde_json::json!({"waited": true}),
        "{}",
        running.stderr()
    );
    assert!(
        started.elapsed() >= Duration::from_millis(90),
        "answered before the timer ran"
    );

    let (api, running) = node_running(&root, "index.callbackNoWait", &[]).await;
    let started = std::time::Instant::now();
    let r = invoke_json(&api, "{}").await;
    assert_eq!(
        response(&r.outcome),
        serde_json::json!({"waited": false}),
        "{}",
        running.stderr()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited for the 5 s timer"
    );
}

#[tokio::test]
async fn esm_module_detected_without_runtime_flag() {
    let root = TaskRoot::new();
    root.write(
        "app.mjs",
        "export const handler = async (event) => ({ esm: true, event });\n",
    );
    let (api, running) = node_running(&root, "app.handler", &[]).await;
    let r = invoke_json(&api, "{\"k\": \"v\"}").await;
    assert_eq!(
        response(&r.outcome),
        serde_json::json!({"esm": true, "event": {"k": "v"}}),
        "{}",
        running.stderr()
    );

    let root = TaskRoot::new();
    root.write("package.json", "{\"type\": \"module\"}");
    root.write(
        "src/lib.js",
        "export default { handler: async () => 'default export' };\n",
    );
    let (api, running) = node_running(&root, "src/lib.handler", &["--runtime", "node"]).await;
    let r = invoke_json(&api, "{}").await;
    assert_eq!(
        response(&r.outcome),
        serde_json::json!("default export"),
        "{}",
        running.stderr()
    );
}

#[tokio::test]
async fn errors_thrown_rejected_and_uncaught() {
    let root = TaskRoot::new();
    root.write("index.js", CJS);
    for (handler, error_type, message) in [
        ("index.throws", "TypeError", "bad type"),
        ("index.rejects", "RangeError", "out of range"),
        ("index.fail", "Error", "failed via context"),
        ("index.throwsString", "string", "just a string"),
    ] {
        let (api, running) = node_running(&root, handler, &[]).await;
        let r = invoke_json(&api, "{}").await;
        let body = function_error(&r.outcome);
        assert_eq!(
            body["errorType"],
            error_type,
            "{handler}: {}",
            running.stderr()
        );
        assert_eq!(body["errorMessage"], message);
        assert!(body["trace"].is_array());
        let posts = posts_for(&api, &r.request_id);
        assert_eq!(posts.len(), 1);
        assert_eq!(
            header(&posts[0], "lambda-runtime-function-error-type"),
            None
        );
    }

    // An uncaught exception is that invocation's error; the worker is replaced.
    let (api, running) = node_running(&root, "index.uncaught", &[]).await;
    let r = invoke_json(&api, "{}").await;
    let body = function_error(&r.outcome);
    assert_eq!(
        body["errorMessage"],
        "uncaught boom",
        "{}",
        running.stderr()
    );
    let again = invoke_json(&api, "{}").await;
    assert!(matches!(again.outcome, Outcome::Error { .. }), "{again:?}");
    assert_eq!(api.posts().len(), 2, "one post per invocation");
}

#[tokio::test]
async fn context_fields_and_trace_id() {
    let root = TaskRoot::new();
    root.write("index.js", CJS);
    let (api, running) = node_running(&root, "index.context", &[]).await;
    let r = invoke(
        &api,
        Invoke {
            body: "{}".into(),
            trace_id: Some("Root=1-abc;Sampled=1".into()),
            client_context: Some(r#"{"custom": {"k": "v"}}"#.into()),
            cognito_identity: Some(
                r#"{"cognitoIdentityId": "i", "cognitoIdentityPoolId": "p"}"#.into(),
            ),
            tenant_id: Some("tenant-1".into()),
            ..Default::default()
        },
    )
    .await;
    let ctx = response(&r.outcome);
    assert_eq!(
        ctx["awsRequestId"],
        r.request_id.as_str(),
        "{}",
        running.stderr()
    );
    assert_eq!(
        ctx["invokedFunctionArn"],
        "arn:aws:lambda:us-east-1:012345678912:function:test_function"
    );
    assert_eq!(ctx["functionName"], "test_function");
    assert_eq!(ctx["functionVersion"], "$LATEST");
    assert_eq!(ctx["memoryLimitInMB"], "128");
    assert_eq!(ctx["logGroupName"], "/aws/lambda/test_function");
    assert_eq!(ctx["clientContext"]["custom"]["k"], "v");
    assert_eq!(ctx["identity"]["cognitoIdentityId"], "i");
    assert_eq!(ctx["tenantId"], "tenant-1");
    assert_eq!(ctx["trace"], "Root=1-abc;Sampled=1");
    assert_eq!(ctx["awslambda"], "function");
    let remaining = ctx["remaining"].as_i64().unwrap();
    assert!(remaining > 20_000 && remaining <= 30_000, "{remaining}");

    let r = invoke_json(&api, "{}").await;
    assert_eq!(
        response(&r.outcome)["trace"],
        Value::Null,
        "trace id removed when absent"
    );
}

#[tokio::test]
async fn stdout_pollution_never_reaches_the_frame_channel() {
    let root = TaskRoot::new();
    root.write("index.js", CJS);
    let (api, running) = node_running(&root, "index.noisy", &[]).await;
    for _ in 0..3 {
        let r = invoke_json(&api, "{}").await;
        assert_eq!(
            response(&r.outcome),
            serde_json::json!({"ok": true}),
            "{}",
            running.stderr()
        );
    }
    for line in [
        "console.log line\rwith a second line",
        "process.stdout.write",
        "child stdout",
        "console.error line",
    ] {
        assert!(
            running.stderr_contains(line).await,
            "{line:?} missing:\n{}",
            running.stderr()
        );
    }
}

async fn node_init_error(root: &TaskRoot, handler: &str) -> (Value, Option<String>, Option<i32>) {
    let api = fake().await;
    let mut running = Running::spawn(ferric_command(
        &api,
        root.path(),
        &["--runtime", "node", handler],
    ));
    let status = running.wait(Duration::from_secs(20)).await;
    let post = wait_for_init_error(&api, &running, Duration::from_secs(1)).await;
    (
        json(&post.body),
        header(&post, "lambda-runtime-function-error-type"),
        status.code(),
    )
}

#[tokio::test]
async fn init_error_matrix() {
    let root = TaskRoot::new();
    root.write("index.js", CJS);
    root.write("broken.js", "exports.handler = async () => {;\n");
    root.write("notfn.js", "exports.handler = 42;\n");
    for (handler, error_type, message_part) in [
        (
            "missing.handler",
            "Runtime.ImportModuleError",
            "Cannot find module 'missing'",
        ),
        ("broken.handler", "Runtime.UserCodeSyntaxError", ""),
        (
            "index.nothere",
            "Runtime.HandlerNotFound",
            "index.nothere is undefined or not exported",
        ),
        (
            "notfn.handler",
            "Runtime.HandlerNotFound",
            "notfn.handler is not a function",
        ),
        (
            "../up.handler",
            "Runtime.MalformedHandlerName",
            "'../up.handler' is not a valid handler name",
        ),
        ("nodot", "Runtime.MalformedHandlerName", "Bad handler"),
    ] {
        let (body, header, code) = node_init_error(&root, handler).await;
        assert_eq!(body["errorType"], error_type, "{handler}: {body}");
        assert_eq!(header.as_deref(), Some(error_type), "{handler}");
        assert!(
            body["errorMessage"]
                .as_str()
                .unwrap()
                .contains(message_part),
            "{handler}: {body}"
        );
        assert_eq!(
            code,
            Some(1),
            "{handler}: ferric exits 1 after an init error"
        );
    }
}
