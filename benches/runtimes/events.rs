//! The events the harness sends, and the check that an answer is their echo.
//!
//! Events are deterministic (a fixed-seed generator), realistic (an SQS-like batch of records
//! with nested objects, numbers, escaped JSON strings and some non-ASCII text) and sized on the
//! wire: a "1 MiB pretty" event is 1 MiB of pretty-printed (multi-line) JSON.

use bytes::Bytes;
use serde_json::{json, Value};

/// One event body and the JSON value it stands for.
pub struct Payload {
    pub name: String,
    pub bytes: Bytes,
    value: Value,
}

impl Payload {
    fn new(name: impl Into<String>, text: String) -> Payload {
        let value = serde_json::from_str(&text).expect("the harness generates valid JSON");
        Payload {
            name: name.into(),
            bytes: Bytes::from(text),
            value,
        }
    }

    /// `Ok` when `body` is the echo of this event: the same bytes, or JSON text with the same
    /// value (clients re-serialise: awslambdaric writes `", "` separators and `\u` escapes).
    pub fn check(&self, body: &[u8]) -> Result<(), String> {
        if body == self.bytes.as_ref() {
            return Ok(());
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(v) if same(&v, &self.value) => Ok(()),
            Ok(_) => Err(format!(
                "event {:?}: the answer is JSON but not the event ({} bytes: {})",
                self.name,
                body.len(),
                preview(body)
            )),
            Err(e) => Err(format!(
                "event {:?}: the answer is not JSON ({e}; {} bytes: {})",
                self.name,
                body.len(),
                preview(body)
            )),
        }
    }
}

/// JSON equality where numbers compare by value: Node writes the float `283.0` as `283`.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// The first bytes of a body, for error messages.
pub fn preview(body: &[u8]) -> String {
    let cut = &body[..body.len().min(160)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if body.len() > cut.len() {
        s.push('…');
    }
    s
}

/// The 100-byte event of the warm scenarios (compact JSON, exactly 100 bytes).
pub fn small() -> Payload {
    let mut v = json!({"id": "5f0c2a9e-1b7d-4c3e-9a8f-2d6b7e1c0a45", "action": "echo",
                       "n": 42, "ok": true, "pad": ""});
    let len = serde_json::to_string(&v).expect("serialisable").len();
    v["pad"] = Value::String("x".repeat(100usize.saturating_sub(len)));
    let text = serde_json::to_string(&v).expect("serialisable");
    debug_assert_eq!(text.len(), 100);
    Payload::new("100 B", text)
}

/// Small events that exercise what a fast path could get wrong: newlines between tokens,
/// non-ASCII text, escapes, an empty object, a bare string.
pub fn probes() -> Vec<Payload> {
    let v = json!({"greeting": "Zoë says \"hi\"\n\t✓ 😀", "nested": {"a": [1, 2.5, -3e-7, null]},
                   "big": 9007199254740991u64, "empty": {}});
    vec![
        Payload::new(
            "probe: pretty",
            serde_json::to_string_pretty(&v).expect("serialisable"),
        ),
        Payload::new(
            "probe: compact",
            serde_json::to_string(&v).expect("serialisable"),
        ),
        Payload::new("probe: {}", "{}".into()),
        Payload::new("probe: string", "\"just a string\"".into()),
    ]
}

/// An event of about `target` bytes (a little over), compact or pretty-printed.
pub fn sized(label: &str, target: usize, pretty: bool) -> Payload {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target as u64);
    let render = |records: &[Value]| {
        let v = json!({ "Records": records });
        if pretty {
            serde_json::to_string_pretty(&v)
        } else {
            serde_json::to_string(&v)
        }
        .expect("serialisable")
    };
    let mut records = vec![record(&mut rng, 0)];
    let one = render(&records).len();
    let estimate = target / one.max(1);
    while records.len() < estimate {
        let i = records.len();
        records.push(record(&mut rng, i));
    }
    let mut text = render(&records);
    while text.len() < target {
        let i = records.len();
        records.push(record(&mut rng, i));
        text = render(&records);
    }
    let style = if pretty { "pretty" } else { "compact" };
    Payload::new(format!("{label} {style}"), text)
}

/// One SQS-like record (~1 KB compact).
fn record(rng: &mut Rng, i: usize) -> Value {
    let id = rng.uuid();
    let body = json!({"orderId": i, "customer": rng.word(12), "lines": [
        {"sku": rng.word(8), "qty": rng.below(9) + 1, "price": rng.price()},
        {"sku": rng.word(8), "qty": rng.below(9) + 1, "price": rng.price()}
    ], "note": "livraison à domicile — fragile ✓"});
    json!({
        "messageId": id,
        "receiptHandle": rng.word(96),
        "body": body.to_string(),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": (1_700_000_000_000u64 + rng.below(1_000_000_000)).to_string(),
            "SenderId": rng.word(21),
            "ApproximateFirstReceiveTimestamp": (1_700_000_000_000u64 + rng.below(1_000_000_000)).to_string()
        },
        "messageAttributes": {"traceparent": {"stringValue": rng.word(55), "dataType": "String"}},
        "md5OfBody": rng.hex(32),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:orders",
        "awsRegion": "eu-west-1",
        "score": rng.price(),
        "retries": rng.below(5),
        "urgent": rng.below(2) == 1,
        "labels": ["naïve", "café", rng.word(6)],
        "previous": null
    })
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn price(&mut self) -> f64 {
        self.below(100_000) as f64 / 100.0
    }
    fn word(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0'))
            .collect()
    }
    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }
}
