//! The `ferric-fake-api` binary as the shims' test suites use it: first line, control API over
//! plain HTTP/1.1, shutdown.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

/// One request with `Connection: close`; (status, head, body).
async fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let at = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&out[..at]).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, head, out[at + 4..].to_vec())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn serves_the_runtime_api_and_the_control_api() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferric-fake-api"))
        .args(["--timeout-ms", "5000", "--function-name", "shim-tests"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first:?}"))
        .to_owned();

    let invoke = {
        let addr = addr.clone();
        tokio::spawn(async move {
            http(
                &addr,
                "POST",
                "/_fake/invoke",
                r#"{"body": "{\"k\": 1}", "headers": {"lambda-runtime-tenant-id": "t"}}"#,
            )
            .await
        })
    };
    let (status, head, body) = http(&addr, "GET", "/2018-06-01/runtime/invocation/next", "").await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, b"{\"k\": 1}");
    assert_eq!(
        header(&head, "lambda-runtime-invoked-function-arn"),
        Some("arn:aws:lambda:us-east-1:012345678912:function:shim-tests")
    );
    assert_eq!(header(&head, "lambda-runtime-tenant-id"), Some("t"));
    let id = header(&head, "lambda-runtime-aws-request-id").unwrap();
    let (status, ..) = http(
        &addr,
        "POST",
        &format!("/2018-06-01/runtime/invocation/{id}/response"),
        "\"done\"",
    )
    .await;
    assert_eq!(status, 202);

    let (status, _, body) = invoke.await.unwrap();
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["outcome"], "response");
    assert_eq!(v["request_id"], id);
    assert_eq!(v["body_base64"], "ImRvbmUi");

    let (_, _, body) = http(&addr, "GET", "/_fake/requests", "").await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);

    let (status, ..) = http(&addr, "POST", "/_fake/shutdown", "").await;
    assert_eq!(status, 200);
    let exit = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("exits after /_fake/shutdown")
        .unwrap();
    assert!(exit.success());
}

#[tokio::test]
async fn bad_arguments_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferric-fake-api"))
        .arg("--max-in-flight")
        .arg("0")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-in-flight"));
}
