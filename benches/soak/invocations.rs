//! The invocations the soak sends: every one unique (request id, trace id, event), with the
//! headers Lambda sends, and the check that an answer is the echo of its event.
//!
//! Unique per invocation on purpose: a runtime that keeps something per request id or per trace
//! id (the Python shim's `_X_AMZN_TRACE_ID` leak was 144 B per unique trace id, through glibc's
//! `setenv`, which never frees a value it has handed out) grows by that much per invocation.
//! One in 16 invocations also carries a client context and a Cognito identity, as a call from
//! the mobile SDK would.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferric_fake_api::{Answer, Invoke, Outcome};
use serde_json::{json, Value};

/// A harness-wide sequence number (so ids are unique across clients and parts).
fn sequence() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Mix `n` into 64 pseudo-random bits (splitmix64), for ids that do not look sequential.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A UUID v4-shaped request id, unique in this harness run.
pub fn request_id(n: u64) -> String {
    let a = mix(n ^ (u64::from(std::process::id()) << 40));
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (n >> 48) & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

/// An X-Ray trace header as Lambda sends it: a fresh root and parent per invocation.
pub fn trace_id(n: u64) -> String {
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let root = mix(n.wrapping_mul(3));
    format!(
        "Root=1-{:08x}-{:08x}{:016x};Parent={:016x};Sampled={}",
        epoch as u32,
        n as u32,
        root,
        mix(n.wrapping_mul(5)),
        n % 2
    )
}

/// A small (about 300 B) event with fields of its own, like one record of an SQS batch.
pub fn event(n: u64, id: &str) -> String {
    json!({
        "messageId": id,
        "n": n,
        "body": format!("{{\"orderId\": {n}, \"status\": \"paid\"}}"),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": (1_700_000_000_000 + n).to_string()},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:soak",
        "note": "livraison à domicile ✓",
    })
    .to_string()
}

fn client_context(n: u64) -> String {
    json!({
        "client": {"installation_id": format!("{:016x}", mix(n)), "app_title": "soak",
                   "app_version_name": "1.0", "app_version_code": "1", "app_package_name": "ferric.soak"},
        "custom": {"n": n.to_string()},
        "env": {"platform": "Android", "make": "ferric", "model": "soak", "locale": "en_US"},
    })
    .to_string()
}

fn cognito_identity(n: u64) -> String {
    json!({"cognitoIdentityId": format!("us-east-1:{}", request_id(mix(n))),
           "cognitoIdentityPoolId": "us-east-1:7a1c3bd4-0000-4000-8000-000000000000"})
    .to_string()
}

/// One invocation for the fake Runtime API, tagged with its event (for the echo check).
pub fn lambda(body: Option<String>) -> Invoke {
    let n = sequence();
    let id = request_id(n);
    let text = body.unwrap_or_else(|| event(n, &id));
    let bytes = Bytes::from(text);
    let mobile = n % 16 == 15;
    Invoke {
        body: bytes.clone(),
        trace_id: Some(trace_id(n)),
        client_context: mobile.then(|| client_context(n)),
        cognito_identity: mobile.then(|| cognito_identity(n)),
        request_id: Some(id),
        tag: Some(Arc::new(bytes)),
        ..Invoke::default()
    }
}

/// `n` invocations, rendered before any of them is sent.
pub fn batch(n: u64) -> Vec<Invoke> {
    (0..n).map(|_| lambda(None)).collect()
}

/// A fresh event and trace id (for the emulator's invoke endpoint).
pub fn emulator_call() -> (String, String) {
    let n = sequence();
    let id = request_id(n);
    (event(n, &id), trace_id(n))
}

/// An invocation of `body` with a fresh request id and trace id, and this timeout.
pub fn with_body(body: String, timeout: std::time::Duration) -> Invoke {
    let n = sequence();
    Invoke {
        body: Bytes::from(body),
        request_id: Some(request_id(n)),
        trace_id: Some(trace_id(n)),
        timeout: Some(timeout),
        ..Invoke::default()
    }
}

/// `Ok` when `body` is `expected` or JSON text of the same value (awslambdaric re-serialises).
pub fn check_echo(expected: &[u8], body: &[u8]) -> Result<(), String> {
    if body == expected {
        return Ok(());
    }
    let same = match (
        serde_json::from_slice::<Value>(body),
        serde_json::from_slice::<Value>(expected),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(format!(
            "not the echo: sent {}, got {}",
            ferric_fake_api::preview(expected),
            ferric_fake_api::preview(body)
        ))
    }
}

/// Check an answer of the fake: an accepted `/response` with the echo of its event.
pub fn check_answer(answer: &Answer) -> Result<(), String> {
    let expected = answer
        .tag_ref::<Bytes>()
        .ok_or("an answer without its event")?;
    match &answer.outcome {
        Outcome::Response { body, .. } => {
            check_echo(expected, body).map_err(|e| format!("invocation {}: {e}", answer.request_id))
        }
        other => Err(format!(
            "invocation {}: {} instead of a response: {}",
            answer.request_id,
            other.kind(),
            ferric_fake_api::preview(other.body().map_or(&[][..], |b| &b[..]))
        )),
    }
}
