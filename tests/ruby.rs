//! Ruby handlers (aws_lambda_ric's conventions) through the built binary: detection of
//! `app.rb`, the Runtime API path with errors and the supervision guarantees (a crash, a hang
//! and frame-looking output cost at most one invocation), `ferric invoke`, and the emulator.

mod support;

use std::time::Duration;

use ferric_fake_api::Invoke;
use serde_json::Value;
use support::*;

const APP: &str = r#"
require 'json'

def handler(event:, context:)
  case event['mode']
  when 'crash' then exit!(3)
  when 'hang' then sleep 600
  when 'noise'
    puts '{"type":"result","id":"x","len":0}'
    $stdout.write("not a frame\n")
    STDOUT.flush
    system('echo from a child process')
  when 'raise' then raise ArgumentError, 'bad input'
  end
  { 'echo' => event, 'request_id' => context.aws_request_id, 'trace' => ENV['_X_AMZN_TRACE_ID'] }
end

module Billing
  class Handler
    def self.process(event:, context:)
      "class method #{event['n']}"
    end
  end
end
"#;

fn ruby_available() -> bool {
    std::process::Command::new("ruby")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn ruby_ferric(handler: &str) -> (TaskRoot, ferric_fake_api::FakeApi, Running) {
    assert!(
        ruby_available(),
        "ruby is not installed (apt-get install ruby)"
    );
    let root = TaskRoot::new();
    root.write("app.rb", APP);
    let (api, running) = start(&root, &[handler]).await;
    (root, api, running)
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

#[tokio::test]
async fn a_ruby_handler_is_detected_and_answers_with_its_context() {
    let (_root, api, mut running) = ruby_ferric("app.handler").await;
    let r = invoke(
        &api,
        Invoke {
            trace_id: Some("Root=1-abc".into()),
            ..Invoke::new("{\"n\": 1}")
        },
    )
    .await;
    let v = json(r.outcome.body().unwrap());
    assert_eq!(v["echo"]["n"], 1, "{}", running.stderr());
    assert_eq!(v["request_id"], r.request_id.as_str());
    assert_eq!(v["trace"], "Root=1-abc");
    // A handler error: aws_lambda_ric's body and its error-type header.
    let r = invoke_json(&api, "{\"mode\": \"raise\"}").await;
    assert_eq!(r.outcome.kind(), "error");
    let v = json(r.outcome.body().unwrap());
    assert_eq!(v["errorType"], "Function<ArgumentError>");
    assert_eq!(v["errorMessage"], "bad input");
    assert!(r
        .outcome
        .header("lambda-runtime-function-error-type")
        .is_some());
    running.terminate();
    assert_eq!(running.wait(Duration::from_secs(20)).await.code(), Some(0));
}

#[tokio::test]
async fn module_class_handlers_run() {
    let (_root, api, _running) = ruby_ferric("app.Billing::Handler.process").await;
    let r = invoke_json(&api, "{\"n\": 7}").await;
    assert_eq!(
        r.outcome.body().map(|b| &b[..]),
        Some(&b"\"class method 7\""[..])
    );
}

#[tokio::test]
async fn a_crash_a_hang_and_frame_looking_output_cost_at_most_one_invocation() {
    let (_root, api, running) = ruby_ferric("app.handler").await;
    // Output that looks like frames lands in the logs, never in the answer.
    let r = invoke_json(&api, "{\"mode\": \"noise\", \"n\": 1}").await;
    assert_eq!(json(r.outcome.body().unwrap())["echo"]["n"], 1);
    assert!(running.stderr_contains("not a frame").await);
    assert!(running.stderr_contains("from a child process").await);
    // A crash: Runtime.ExitError in the Ruby flavour, then a fresh worker.
    let r = invoke_json(&api, "{\"mode\": \"crash\"}").await;
    let v = json(r.outcome.body().unwrap());
    assert_eq!(v["errorType"], "Runtime.ExitError");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .contains("exit status 3"),
        "{v}"
    );
    assert!(v.get("requestId").is_none(), "aws_lambda_ric's shape: {v}");
    // A hang: Runtime.Timeout at the deadline, then a fresh worker.
    let r = invoke(
        &api,
        Invoke::new("{\"mode\": \"hang\"}").timeout(Duration::from_secs(2)),
    )
    .await;
    let v = json(r.outcome.body().unwrap());
    assert_eq!(v["errorType"], "Runtime.Timeout");
    let r = invoke_json(&api, "{\"n\": 2}").await;
    assert_eq!(
        json(r.outcome.body().unwrap())["echo"]["n"],
        2,
        "{}",
        running.stderr()
    );
}

#[tokio::test]
async fn ferric_invoke_runs_the_ruby_example_through_the_emulator() {
    assert!(
        ruby_available(),
        "ruby is not installed (apt-get install ruby)"
    );
    let out = std::process::Command::new(ferric_bin())
        .args(["invoke", "--event"])
        .arg(repo().join("examples/events/apigw-rest-v1.json"))
        .arg("app.handler")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("LAMBDA_TASK_ROOT", repo().join("examples/ruby"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["statusCode"], 200);
    let body: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["message"], "Hello, Ferris!");
}
