//! The RIE invoke endpoint's answers, as RIE gives them (and where ferric differs on purpose,
//! as the README's "ferric and RIE" says): timeout, function error, runtime crash, init error,
//! oversized request, concurrent invokes, any method.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

#[test]
fn the_invoke_endpoint_answers_a_timeout_as_rie_does() {
    let f = Ferric::start(Worker::Raw, &[("AWS_LAMBDA_FUNCTION_TIMEOUT", "1")]);
    let reply = invoke(&f, r#"{"mode": "sleep"}"#, &[]);
    assert_eq!(reply.status, 200, "{}", f.log());
    assert_eq!(reply.text(), "Task timed out after 1.00 seconds");
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(reply.header("x-amz-function-error"), Some("Unhandled"));
    // The Runtime API side still got a `Runtime.Timeout` error post.
    assert!(f.logged("Runtime.Timeout"), "{}", f.log());
    let next = invoke(&f, r#"{"mode": "echo", "n": 2}"#, &[]);
    assert_eq!((next.status, next.json()["n"].clone()), (200, json!(2)));
}

#[test]
fn the_invoke_endpoint_answers_a_function_error_with_200_and_the_error() {
    let f = Ferric::start(Worker::Raw, &[]);
    let reply = invoke(&f, r#"{"mode": "fail"}"#, &[]);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["errorType"], "ValueError");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("x-amz-function-error"), Some("Unhandled"));
    let ok = invoke(&f, r#"{"mode": "echo"}"#, &[]);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-amz-function-error"), None);
    assert_eq!(
        ok.header("content-type"),
        Some("application/json"),
        "as the runtime posted it"
    );
    assert!(ok.header("x-amzn-requestid").is_some());
}

#[test]
fn the_invoke_endpoint_refuses_a_client_context_that_is_not_base64() {
    let f = Ferric::start(Worker::Raw, &[("FERRIC_HTTP_LISTEN", "off")]);
    let reply = invoke(&f, "{}", &["-H", "X-Amz-Client-Context: not base64!"]);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["errorType"], "InvalidRequestContentException");
}

#[test]
fn the_invoke_endpoint_answers_a_runtime_crash_with_502_as_rie_does() {
    let f = Ferric::start(Worker::Raw, &[]);
    let reply = invoke(&f, r#"{"mode": "exit"}"#, &[]);
    assert_eq!(reply.status, 502, "{}", f.log());
    let error = reply.json();
    assert_eq!(error["errorType"], "Runtime.ExitError");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(message.starts_with("RequestId: "), "{message}");
    assert!(message.contains("exit status 3"), "{message}");
    assert_eq!(invoke(&f, r#"{"mode": "echo"}"#, &[]).status, 200);
}

#[test]
fn the_invoke_endpoint_answers_init_errors_with_502_and_retries_init_on_each_invoke() {
    let f = Ferric::start(Worker::Raw, &[("DOOR_INIT_ERROR", "1")]);
    let reply = invoke(&f, "{}", &[]);
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["errorType"], "Runtime.ImportModuleError");
    assert_eq!(reply.header("content-type"), Some("application/json"));

    // As under RIE, each invoke re-runs init: a fixed handler is picked up without a restart.
    let root = tempfile::tempdir().unwrap();
    let app = root.path().join("app.py");
    std::fs::write(&app, "raise ImportError('not yet')\n").unwrap();
    let f = Ferric::start(
        Worker::App(&root.path().display().to_string()),
        &[("FERRIC_HTTP_LISTEN", "off")],
    );
    let broken = invoke(&f, "{}", &[]);
    assert_eq!(broken.status, 502);
    assert!(broken.text().contains("not yet"), "{}", broken.text());
    std::fs::write(&app, "def handler(event, context):\n    return 'fixed'\n").unwrap();
    let fixed = invoke(&f, "{}", &[]);
    assert_eq!(
        (fixed.status, fixed.text().as_str()),
        (200, "\"fixed\""),
        "{}",
        f.log()
    );
}

#[test]
fn the_invoke_endpoint_refuses_oversized_requests_with_413() {
    let f = Ferric::start(Worker::Raw, &[("FERRIC_HTTP_LISTEN", "off")]);
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::write(&big, vec![b'x'; MAX_PAYLOAD + 1]).unwrap();
    let data = format!("@{}", big.display());
    let reply = curl(&["--data-binary", &data, &format!("{}{INVOKE}", f.invoke)]);
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["errorType"], "RequestEntityTooLarge");
    std::fs::write(&big, vec![b'x'; MAX_PAYLOAD]).unwrap();
    let at_limit = curl(&["--data-binary", &data, &format!("{}{INVOKE}", f.invoke)]);
    assert_eq!(at_limit.status, 200, "at the limit is fine");
    assert_eq!(at_limit.body.len(), MAX_PAYLOAD);
}

#[test]
fn concurrent_invokes_wait_their_turn() {
    let f = Ferric::start(Worker::Raw, &[("FERRIC_HTTP_LISTEN", "off")]);
    let started = Instant::now();
    let url = format!("{}{INVOKE}", f.invoke);
    let callers: Vec<_> = (0..3)
        .map(|n| {
            let url = url.clone();
            std::thread::spawn(move || {
                curl(&["-d", &format!(r#"{{"mode":"slow","n":{n}}}"#), &url])
            })
        })
        .collect();
    for (n, caller) in callers.into_iter().enumerate() {
        let reply = caller.join().unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json()["n"], n);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(850),
        "three 0.3 s invocations, one at a time"
    );
    assert!(f.logged("waiting for 1 invocation(s) ahead"), "{}", f.log());
}

#[test]
fn the_invoke_endpoint_serves_any_method_as_rie_does() {
    let f = Ferric::start(Worker::Raw, &[("FERRIC_HTTP_LISTEN", "off")]);
    let url = format!("{}{INVOKE}", f.invoke);
    let put = curl(&["-X", "PUT", "-d", r#"{"mode":"echo","m":"put"}"#, &url]);
    assert_eq!((put.status, put.json()["m"].clone()), (200, json!("put")));
    let get = curl(&[&url]);
    assert_eq!((get.status, get.text().as_str()), (200, ""));
    let elsewhere = curl(&[&format!("{}/nope", f.invoke)]);
    assert_eq!(elsewhere.status, 404);
}
