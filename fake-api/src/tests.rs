//! The platform's rules, the faults and the control API, driven over real sockets.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::headers as h;
use crate::*;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

fn response_path(id: &str) -> String {
    format!("/2018-06-01/runtime/invocation/{id}/response")
}

fn error_path(id: &str) -> String {
    format!("/2018-06-01/runtime/invocation/{id}/error")
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn error_type(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap();
        v["errorType"].as_str().unwrap().to_owned()
    }
}

/// One request on a fresh connection (a runtime's client, in hyper).
async fn send(
    api: &FakeApi,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let stream = TcpStream::connect(api.socket_addr()).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", api.address());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = tx
        .send_request(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

async fn next(api: &FakeApi) -> Answer {
    send(api, "GET", NEXT, &[], Bytes::new()).await
}

async fn post(api: &FakeApi, path: &str, body: &'static str) -> Answer {
    send(
        api,
        "POST",
        path,
        &[("content-type", "application/json")],
        body,
    )
    .await
}

/// Write raw bytes on a fresh connection; read until the fake closes it.
async fn raw(api: &FakeApi, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(api.socket_addr()).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    read.expect("the fake closes the connection").expect("read");
    out
}

async fn fake() -> FakeApi {
    FakeApi::start(Options::default()).await.unwrap()
}

fn spawn_invoke(api: &FakeApi, invoke: Invoke) -> tokio::task::JoinHandle<Invoked> {
    let api = api.clone();
    tokio::spawn(async move { api.invoke(invoke).await })
}

#[tokio::test]
async fn next_renders_the_invocation_and_a_response_settles_it() {
    let api = fake().await;
    let invoked = spawn_invoke(
        &api,
        Invoke {
            body: Bytes::from_static(b"{\"a\": 1}"),
            trace_id: Some("Root=1-abc;Sampled=1".into()),
            client_context: Some("{\"custom\": {}}".into()),
            cognito_identity: Some("{\"cognitoIdentityId\": \"i\"}".into()),
            tenant_id: Some("tenant-1".into()),
            invocation_id: Some("nonce-1".into()),
            ..Invoke::default()
        },
    );
    let before = server::epoch_ms();
    let n = next(&api).await;
    assert_eq!(n.status, 200);
    assert_eq!(&n.body[..], b"{\"a\": 1}");
    let id = n.header(h::REQUEST_ID).unwrap().to_owned();
    let deadline: u64 = n.header(h::DEADLINE_MS).unwrap().parse().unwrap();
    assert!(deadline >= before + 29_000 && deadline <= server::epoch_ms() + 30_000);
    assert_eq!(
        n.header(h::FUNCTION_ARN),
        Some("arn:aws:lambda:us-east-1:012345678912:function:test_function")
    );
    assert_eq!(n.header(h::TRACE_ID), Some("Root=1-abc;Sampled=1"));
    assert_eq!(n.header(h::CLIENT_CONTEXT), Some("{\"custom\": {}}"));
    assert_eq!(
        n.header(h::COGNITO_IDENTITY),
        Some("{\"cognitoIdentityId\": \"i\"}")
    );
    assert_eq!(n.header(h::TENANT_ID), Some("tenant-1"));
    assert_eq!(n.header(h::INVOCATION_ID), Some("nonce-1"));
    assert_eq!(n.header("content-type"), Some("application/json"));

    let p = send(
        &api,
        "POST",
        &response_path(&id),
        &[("content-type", "text/plain"), ("x-extra", "1")],
        "hello",
    )
    .await;
    assert_eq!(p.status, 202);
    assert_eq!(&p.body[..], br#"{"status":"OK"}"#);
    let invoked = invoked.await.unwrap();
    assert_eq!(invoked.request_id, id);
    match &invoked.outcome {
        Outcome::Response { body, trailers, .. } => {
            assert_eq!(&body[..], b"hello");
            assert!(trailers.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(invoked.outcome.content_type(), Some("text/plain"));
    assert_eq!(invoked.outcome.header("x-extra"), Some("1"));

    let requests = api.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].kind, Kind::Next);
    assert_eq!(requests[0].status, Some(200));
    assert_eq!(requests[0].request_id.as_deref(), Some(id.as_str()));
    let posts = api.posts_for(&id);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].status, Some(202));
    assert_eq!(&posts[0].body[..], b"hello");
    assert_eq!(api.next_calls(), 1);
    assert!(api.problems().is_empty());
}

#[tokio::test]
async fn optional_headers_are_left_out_and_content_type_defaults() {
    let api = fake().await;
    let invoked = spawn_invoke(&api, Invoke::new("[]"));
    let n = next(&api).await;
    for name in [
        h::TRACE_ID,
        h::CLIENT_CONTEXT,
        h::COGNITO_IDENTITY,
        h::TENANT_ID,
        h::INVOCATION_ID,
    ] {
        assert_eq!(n.header(name), None, "{name}");
    }
    let id = n.header(h::REQUEST_ID).unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    post(&api, &error_path(id), "{}").await;
    assert!(matches!(
        invoked.await.unwrap().outcome,
        Outcome::Error { .. }
    ));
}

#[tokio::test]
async fn hostile_header_sets() {
    let api = fake().await;
    let big = "x".repeat(200 * 1024);
    let _invoked = spawn_invoke(
        &api,
        Invoke::new("{}")
            .without_header(h::REQUEST_ID)
            .header(h::DEADLINE_MS, "soon")
            .header(h::CLIENT_CONTEXT, &big)
            .header("x-surprise", ""),
    );
    let n = next(&api).await;
    assert_eq!(n.header(h::REQUEST_ID), None);
    assert_eq!(n.header(h::DEADLINE_MS), Some("soon"));
    assert_eq!(n.header(h::CLIENT_CONTEXT).map(str::len), Some(big.len()));
    assert_eq!(n.header("x-surprise"), Some(""));
}

#[tokio::test]
async fn a_next_while_in_flight_redelivers_it() {
    let api = fake().await;
    let _a = spawn_invoke(&api, Invoke::new("[1]"));
    let _b = spawn_invoke(&api, Invoke::new("[2]"));
    api.wait_queued().await;
    let first = next(&api).await;
    let again = next(&api).await;
    assert_eq!(first.header(h::REQUEST_ID), again.header(h::REQUEST_ID));
    assert_eq!(first.header(h::DEADLINE_MS), again.header(h::DEADLINE_MS));
    assert_eq!(&again.body[..], b"[1]");
    let id = first.header(h::REQUEST_ID).unwrap();
    assert_eq!(post(&api, &response_path(id), "1").await.status, 202);
    let second = next(&api).await;
    assert_eq!(&second.body[..], b"[2]");
}

#[tokio::test]
async fn lmi_hands_out_up_to_n_and_parks_the_rest() {
    let api = FakeApi::start(Options::default().max_in_flight(2))
        .await
        .unwrap();
    api.enqueue((0..3).map(|i| Invoke::new(format!("[{i}]"))));
    let a = next(&api).await;
    let b = next(&api).await;
    assert_ne!(a.header(h::REQUEST_ID), b.header(h::REQUEST_ID));
    let parked = {
        let api = api.clone();
        tokio::spawn(async move { next(&api).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!parked.is_finished(), "a third /next must wait for a slot");
    assert_eq!(api.max_in_flight(), 2);
    post(&api, &response_path(a.header(h::REQUEST_ID).unwrap()), "0").await;
    let c = parked.await.unwrap();
    assert_eq!(&c.body[..], b"[2]");
    assert_eq!(api.answer_count(), 1);
}

#[tokio::test]
async fn posts_for_unknown_settled_and_timed_out_ids() {
    let api = FakeApi::start(
        Options::default()
            .function_timeout(Duration::from_millis(100))
            .timeout_slack(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    let unknown = post(&api, &response_path("nope"), "{}").await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.error_type(), "InvalidRequestID");

    let invoked = spawn_invoke(&api, Invoke::new("{}").timeout(Duration::from_secs(30)));
    let id = next(&api).await.header(h::REQUEST_ID).unwrap().to_owned();
    assert_eq!(post(&api, &response_path(&id), "1").await.status, 202);
    invoked.await.unwrap();
    let twice = post(&api, &error_path(&id), "2").await;
    assert_eq!(twice.status, 403);
    assert_eq!(twice.error_type(), "InvalidStateTransition");

    let invoked = spawn_invoke(&api, Invoke::new("{}"));
    let id = next(&api).await.header(h::REQUEST_ID).unwrap().to_owned();
    let started = std::time::Instant::now();
    let late = invoked.await.unwrap();
    assert!(matches!(late.outcome, Outcome::TimedOut), "{late:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let gone = post(&api, &response_path(&id), "late").await;
    assert_eq!(gone.status, 410);
    assert_eq!(gone.error_type(), "InvokeTimeout");
    assert_eq!(api.problems().len(), 3, "{:?}", api.problems());
}

#[tokio::test]
async fn a_response_over_6_mib_is_refused_with_413() {
    let api = fake().await;
    let invoked = spawn_invoke(&api, Invoke::new("{}"));
    let id = next(&api).await.header(h::REQUEST_ID).unwrap().to_owned();
    let big = vec![b'x'; MAX_PAYLOAD_BYTES + 1];
    let p = send(&api, "POST", &response_path(&id), &[], big).await;
    assert_eq!(p.status, 413);
    assert_eq!(p.error_type(), "RequestEntityTooLarge");
    match invoked.await.unwrap().outcome {
        Outcome::TooLarge { body } => {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["errorType"], "Function.ResponseSizeTooLarge");
        }
        other => panic!("{other:?}"),
    }
    // Exactly the limit is fine.
    let invoked = spawn_invoke(&api, Invoke::new("{}"));
    let id = next(&api).await.header(h::REQUEST_ID).unwrap().to_owned();
    let p = send(
        &api,
        "POST",
        &response_path(&id),
        &[],
        vec![b'y'; MAX_PAYLOAD_BYTES],
    )
    .await;
    assert_eq!(p.status, 202);
    assert!(matches!(
        invoked.await.unwrap().outcome,
        Outcome::Response { .. }
    ));
}

#[tokio::test]
async fn init_error_rules() {
    let api = fake().await;
    let queued = spawn_invoke(&api, Invoke::new("{}"));
    api.wait_queued().await;
    let p = send(
        &api,
        "POST",
        "/2018-06-01/runtime/init/error",
        &[(
            "lambda-runtime-function-error-type",
            "Runtime.ImportModuleError",
        )],
        "{\"errorType\": \"Runtime.ImportModuleError\"}",
    )
    .await;
    assert_eq!(p.status, 202);
    match queued.await.unwrap().outcome {
        Outcome::InitError { headers, body } => {
            assert_eq!(
                headers.get("lambda-runtime-function-error-type").unwrap(),
                "Runtime.ImportModuleError"
            );
            assert!(body.starts_with(b"{\"errorType\""));
        }
        other => panic!("{other:?}"),
    }
    // Later invocations end the same way, at once.
    let later = api.invoke(Invoke::new("{}")).await;
    assert!(matches!(later.outcome, Outcome::InitError { .. }));
    assert!(api.init_error().is_some());
    let again = post(&api, "/2018-06-01/runtime/init/error", "{}").await;
    assert_eq!(again.status, 403);
    let n = next(&api).await;
    assert_eq!(n.status, 403);
    assert_eq!(n.error_type(), "InvalidStateTransition");

    let api = fake().await;
    let _invoked = spawn_invoke(&api, Invoke::new("{}"));
    next(&api).await;
    let late = post(&api, "/2018-06-01/runtime/init/error", "{}").await;
    assert_eq!(late.status, 403);
    assert_eq!(late.error_type(), "InvalidStateTransition");
    assert!(api.init_error().is_none());
}

#[tokio::test]
async fn extension_registration_rules() {
    let api = fake().await;
    let register = |name: &'static str, body: &'static str| {
        let api = api.clone();
        async move {
            let headers: Vec<(&str, &str)> = if name.is_empty() {
                vec![]
            } else {
                vec![("lambda-extension-name", name)]
            };
            send(
                &api,
                "POST",
                "/2020-01-01/extension/register",
                &headers,
                body,
            )
            .await
        }
    };
    let ok = register("ferric", r#"{"events":[]}"#).await;
    assert_eq!(ok.status, 200);
    let id = ok.header(h::EXTENSION_IDENTIFIER).unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    let v: serde_json::Value = serde_json::from_slice(&ok.body).unwrap();
    assert_eq!(v["functionName"], "test_function");

    let twice = register("ferric", r#"{"events":[]}"#).await;
    assert_eq!(twice.status, 403);
    assert_eq!(twice.error_type(), "Extension.InvalidExtensionState");
    assert_eq!(
        register("", r#"{"events":[]}"#).await.error_type(),
        "Extension.InvalidExtensionName"
    );
    assert_eq!(
        register("x", "nope").await.error_type(),
        "InvalidRequestFormat"
    );
    assert_eq!(
        register("y", r#"{"events":["SHUTDOWN"]}"#)
            .await
            .error_type(),
        "Extension.InvalidEventType"
    );
    assert_eq!(register("z", r#"{"events":["INVOKE"]}"#).await.status, 200);

    for (headers, expected) in [
        (vec![], "Extension.MissingExtensionIdentifier"),
        (
            vec![("lambda-extension-identifier", "not-a-uuid")],
            "Extension.InvalidExtensionIdentifier",
        ),
        (
            vec![(
                "lambda-extension-identifier",
                "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
            )],
            "Extension.UnknownExtensionIdentifier",
        ),
    ] {
        let a = send(
            &api,
            "GET",
            "/2020-01-01/extension/event/next",
            &headers,
            Bytes::new(),
        )
        .await;
        assert_eq!(
            (a.status.as_u16(), a.error_type()),
            (403, expected.to_owned())
        );
    }
    let parked = {
        let api = api.clone();
        let id = id.clone();
        tokio::spawn(async move {
            send(
                &api,
                "GET",
                "/2020-01-01/extension/event/next",
                &[("lambda-extension-identifier", &id)],
                Bytes::new(),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!parked.is_finished(), "event/next parks until shutdown");
    parked.abort();

    let _invoked = spawn_invoke(&api, Invoke::new("{}"));
    next(&api).await;
    assert_eq!(
        register("late", r#"{"events":[]}"#).await.error_type(),
        "Extension.RegistrationClosed"
    );
    assert_eq!(api.extensions(), vec!["ferric".to_owned(), "z".to_owned()]);
    assert_eq!(api.registrations().len(), 7);
    assert!(
        api.problems().is_empty(),
        "extension refusals are not protocol problems"
    );
}

#[tokio::test]
async fn unknown_routes_are_404_and_problems() {
    let api = fake().await;
    let a = send(
        &api,
        "GET",
        "/2018-06-01/runtime/restore/next",
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(a.status, 404);
    let a = send(
        &api,
        "POST",
        "/2018-06-01/runtime/invocation/next",
        &[],
        "x",
    )
    .await;
    assert_eq!(a.status, 404);
    assert_eq!(api.problems().len(), 2);
    // Without the control API, /_fake/ is just another unknown route.
    assert_eq!(
        send(&api, "GET", "/_fake/requests", &[], Bytes::new())
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn next_faults_status_close_and_redelivery() {
    let api = fake().await;
    api.next_faults([
        Fault::status(500),
        Fault::Close,
        Fault::TakeAndClose,
        Fault::Pass,
    ]);
    let invoked = spawn_invoke(&api, Invoke::new("[7]"));
    let n = next(&api).await;
    assert_eq!(
        (n.status.as_u16(), n.error_type()),
        (500, "InternalServerError".to_owned())
    );
    let closed = raw(
        &api,
        b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n",
    )
    .await;
    assert!(closed.is_empty(), "{}", String::from_utf8_lossy(&closed));
    let taken = raw(
        &api,
        b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n",
    )
    .await;
    assert!(taken.is_empty());
    // The invocation went in flight with the broken answer: the retry gets it again.
    let n = next(&api).await;
    assert_eq!(&n.body[..], b"[7]");
    let id = n.header(h::REQUEST_ID).unwrap();
    assert_eq!(post(&api, &response_path(id), "ok").await.status, 202);
    assert!(matches!(
        invoked.await.unwrap().outcome,
        Outcome::Response { .. }
    ));
    let faults: Vec<_> = api.requests().iter().map(|r| r.fault.clone()).collect();
    assert_eq!(
        faults,
        vec![
            Some(Fault::status(500)),
            Some(Fault::Close),
            Some(Fault::TakeAndClose),
            None,
            None
        ]
    );
}

fn split_head(answer: &[u8]) -> (String, &[u8]) {
    let at = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole head");
    (
        String::from_utf8_lossy(&answer[..at]).to_ascii_lowercase(),
        &answer[at + 4..],
    )
}

#[tokio::test]
async fn next_faults_cut_bodies() {
    let api = fake().await;
    api.next_faults([Fault::CutBody { sent: 5 }, Fault::CutChunk { sent: 3 }]);
    let event = "{\"0123456789\": true}";
    let _invoked = spawn_invoke(&api, Invoke::new(event));
    let get = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n";
    let cut = raw(&api, get).await;
    let (head, body) = split_head(&cut);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", event.len())),
        "{head}"
    );
    assert!(head.contains(h::REQUEST_ID), "{head}");
    assert_eq!(body, &event.as_bytes()[..5]);

    let cut = raw(&api, get).await;
    let (head, body) = split_head(&cut);
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert_eq!(
        body,
        format!("{:x}\r\n{}", event.len(), &event[..3]).as_bytes()
    );
    // Both were the same in-flight invocation; a clean retry still gets it.
    let n = next(&api).await;
    assert_eq!(&n.body[..], event.as_bytes());
}

#[tokio::test]
async fn next_fault_delay() {
    let api = fake().await;
    api.next_faults([Fault::Delay(Duration::from_millis(300))]);
    let _invoked = spawn_invoke(&api, Invoke::new("{}"));
    let started = std::time::Instant::now();
    assert_eq!(next(&api).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn post_faults_by_order_nth_and_path() {
    let api = fake().await;
    api.add_rule(Rule::once(Match::NthPost(2), Fault::status(413)));
    api.add_rule(Rule::always(
        Match::PathContains("/error".into()),
        Fault::status(500),
    ));
    let invoked = spawn_invoke(&api, Invoke::new("{}"));
    let id = next(&api).await.header(h::REQUEST_ID).unwrap().to_owned();
    // Post 1: the path rule.
    assert_eq!(post(&api, &error_path(&id), "{}").await.status, 500);
    // Post 2: the n-th rule (before the path rule, which it was added before).
    assert_eq!(post(&api, &response_path(&id), "{}").await.status, 413);
    // Post 3: no rule; the invocation is still in flight (faults settle nothing).
    assert_eq!(post(&api, &response_path(&id), "{}").await.status, 202);
    assert!(matches!(
        invoked.await.unwrap().outcome,
        Outcome::Response { .. }
    ));
    let statuses: Vec<_> = api.posts().iter().map(|p| p.status).collect();
    assert_eq!(statuses, vec![Some(500), Some(413), Some(202)]);

    api.post_faults([Fault::Close]);
    let closed = raw(
        &api,
        b"POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}",
    )
    .await;
    assert!(closed.is_empty());
    let last = api.posts().pop().unwrap();
    assert_eq!((last.status, &last.body[..]), (None, &b"{}"[..]));
}

#[tokio::test]
async fn a_script_decides_faults() {
    let api = fake().await;
    api.script(|seen| (seen.kind == Kind::Next && seen.nth % 2 == 1).then(|| Fault::status(503)));
    let _invoked = spawn_invoke(&api, Invoke::new("{}"));
    assert_eq!(next(&api).await.status, 503);
    assert_eq!(next(&api).await.status, 200);
    assert_eq!(next(&api).await.status, 503);
}

#[tokio::test]
async fn streamed_response_with_trailers() {
    let api = fake().await;
    let invoked = spawn_invoke(&api, Invoke::new("{}"));
    let id = next(&api).await.header(h::REQUEST_ID).unwrap().to_owned();
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: x\r\nlambda-runtime-function-response-mode: streaming\r\n\
         transfer-encoding: chunked\r\ncontent-type: application/octet-stream\r\n\
         trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\
         connection: close\r\n\r\n",
        response_path(&id)
    );
    let mut stream = TcpStream::connect(api.socket_addr()).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"5\r\nhello\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(b"6\r\n world\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream
        .write_all(
            b"0\r\nLambda-Runtime-Function-Error-Type: Runtime.StreamError\r\n\
              Lambda-Runtime-Function-Error-Body: eyJlcnJvclR5cGUiOiJ4In0=\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 202"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    match invoked.await.unwrap().outcome {
        Outcome::Response { body, trailers, .. } => {
            assert_eq!(&body[..], b"hello world");
            let t = trailers.expect("trailers");
            assert_eq!(t.get(h::ERROR_TYPE).unwrap(), "Runtime.StreamError");
            assert_eq!(t.get(h::ERROR_BODY).unwrap(), "eyJlcnJvclR5cGUiOiJ4In0=");
        }
        other => panic!("{other:?}"),
    }
    let post = api.posts_for(&id).pop().unwrap();
    assert_eq!(post.trailer(h::ERROR_TYPE), Some("Runtime.StreamError"));
    let lens: Vec<_> = post.frames.iter().map(|f| (f.offset, f.len)).collect();
    assert_eq!(lens, vec![(0, 5), (5, 6)]);
    assert!(post.frames[1].at - post.frames[0].at >= Duration::from_millis(90));
}

#[tokio::test]
async fn a_streamed_response_may_pass_6_mib_but_a_bad_mode_is_refused() {
    let api = fake().await;
    let invoked = spawn_invoke(&api, Invoke::new("{}"));
    let id = next(&api).await.header(h::REQUEST_ID).unwrap().to_owned();
    let bad = send(
        &api,
        "POST",
        &response_path(&id),
        &[(h::RESPONSE_MODE, "Streaming")],
        "x",
    )
    .await;
    assert_eq!(
        (bad.status.as_u16(), bad.error_type()),
        (400, "InvalidFunctionResponseMode".to_owned())
    );
    let big = vec![b'z'; MAX_PAYLOAD_BYTES + 10];
    let ok = send(
        &api,
        "POST",
        &response_path(&id),
        &[(h::RESPONSE_MODE, "streaming")],
        big,
    )
    .await;
    assert_eq!(ok.status, 202);
    match invoked.await.unwrap().outcome {
        Outcome::Response { body, .. } => assert_eq!(body.len(), MAX_PAYLOAD_BYTES + 10),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn enqueued_invocations_are_answered_with_timing_and_tags() {
    let api = FakeApi::start(Options::default().record(false))
        .await
        .unwrap();
    let tag: Tag = std::sync::Arc::new(String::from("payload-1"));
    api.enqueue((0..3).map(|i| Invoke::new(format!("[{i}]")).tag(tag.clone())));
    let runtime = {
        let api = api.clone();
        tokio::spawn(async move {
            for _ in 0..3 {
                let n = next(&api).await;
                let id = n.header(h::REQUEST_ID).unwrap().to_owned();
                send(&api, "POST", &response_path(&id), &[], n.body).await;
            }
            next(&api).await // parks
        })
    };
    api.wait_answers(3).await;
    tokio::time::timeout(Duration::from_secs(2), api.wait_idle())
        .await
        .expect("idle");
    let answers = api.take_answers();
    assert_eq!(answers.len(), 3);
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.outcome.body().unwrap(), format!("[{i}]").as_bytes());
        assert_eq!(a.tag::<String>().unwrap().as_str(), "payload-1");
        assert!(a.answered >= a.served);
    }
    assert!(api.first_next().is_some());
    assert_eq!(api.max_in_flight(), 1);
    assert!(api.requests().is_empty(), "recording is off");
    assert_eq!(api.answer_count(), 0);
    runtime.abort();
}

#[tokio::test]
async fn reset_forgets_everything() {
    let api = fake().await;
    post(&api, "/2018-06-01/runtime/init/error", "{}").await;
    assert!(api.init_error().is_some());
    api.reset();
    assert!(api.init_error().is_none());
    assert!(api.requests().is_empty());
    assert_eq!(api.next_calls(), 0);
    let invoked = spawn_invoke(&api, Invoke::new("{}"));
    let id = next(&api).await.header(h::REQUEST_ID).unwrap().to_owned();
    post(&api, &response_path(&id), "1").await;
    assert!(matches!(
        invoked.await.unwrap().outcome,
        Outcome::Response { .. }
    ));
}

#[tokio::test]
async fn control_api() {
    let api = FakeApi::start(Options::default().control(true))
        .await
        .unwrap();
    let runtime = {
        let api = api.clone();
        tokio::spawn(async move {
            let n = next(&api).await;
            let id = n.header(h::REQUEST_ID).unwrap().to_owned();
            send(
                &api,
                "POST",
                &response_path(&id),
                &[("content-type", "text/plain")],
                n.body,
            )
            .await;
        })
    };
    let invoked = send(
        &api,
        "POST",
        "/_fake/invoke",
        &[],
        r#"{"body": "hi", "content_type": "text/plain", "headers": {"lambda-runtime-trace-id": "Root=1"}, "timeout_ms": 5000}"#,
    )
    .await;
    runtime.await.unwrap();
    assert_eq!(invoked.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&invoked.body).unwrap();
    assert_eq!(v["outcome"], "response");
    assert_eq!(v["status"], 202);
    assert_eq!(v["body_base64"], "aGk=");
    assert_eq!(v["headers"]["content-type"], "text/plain");
    let id = v["request_id"].as_str().unwrap();

    let requests = send(&api, "GET", "/_fake/requests", &[], Bytes::new()).await;
    let list: serde_json::Value = serde_json::from_slice(&requests.body).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "control requests are not recorded: {list:?}");
    assert_eq!(list[0]["kind"], "next");
    assert_eq!(list[0]["request_id"], id);
    assert_eq!(list[1]["path"], response_path(id));
    assert_eq!(list[1]["body_base64"], "aGk=");

    let none = send(&api, "GET", "/_fake/init_error", &[], Bytes::new()).await;
    assert_eq!(&none.body[..], b"null");
    let faults = send(
        &api,
        "POST",
        "/_fake/faults",
        &[],
        r#"[{"when": "next", "fault": {"status": 500}}, {"when": {"nth_post": 1}, "fault": "close", "times": null}]"#,
    )
    .await;
    assert_eq!(
        faults.status,
        200,
        "{}",
        String::from_utf8_lossy(&faults.body)
    );
    assert_eq!(next(&api).await.status, 500);
    let bad = send(&api, "POST", "/_fake/invoke", &[], "[1]").await;
    assert_eq!(bad.status, 400);

    let api2 = FakeApi::start(
        Options::default()
            .control(true)
            .timeout_slack(Duration::from_millis(10)),
    )
    .await
    .unwrap();
    let t = send(
        &api2,
        "POST",
        "/_fake/invoke",
        &[],
        r#"{"body_base64": "e30=", "timeout_ms": 10}"#,
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&t.body).unwrap();
    assert_eq!(v["outcome"], "timed_out");
    assert_eq!(v["status"], serde_json::Value::Null);

    assert_eq!(
        send(&api, "POST", "/_fake/reset", &[], Bytes::new())
            .await
            .status,
        200
    );
    assert!(api.requests().is_empty());
    assert_eq!(
        send(&api, "POST", "/_fake/shutdown", &[], Bytes::new())
            .await
            .status,
        200
    );
    tokio::time::timeout(Duration::from_secs(2), api.stopped())
        .await
        .expect("stopped");
}
