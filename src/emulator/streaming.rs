//! A streamed response on its way to a local caller: collected whole (the buffered invoke
//! endpoint, `ferric invoke`'s exit status), or passed through as it arrives with an HTTP
//! integration prelude (`application/vnd.awslambda.http-integration-response`: JSON, eight NUL
//! bytes, then the body) applied to the HTTP response, as a function URL does.

use base64::Engine;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use hyper::body::Frame;
use tokio::sync::mpsc;

use super::StreamFrames;
use crate::lambda::http::Body;
use crate::lambda::requests::names;

/// The content type of a streamed response that starts with an HTTP prelude.
pub const HTTP_INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";
/// What separates the prelude from the body.
const DELIMITER: [u8; 8] = [0; 8];
/// A prelude must end within this many bytes (API Gateway allows 16 KB; this is generous).
const MAX_PRELUDE: usize = 64 * 1024;

/// The error a stream ended with: its type and its body (decoded from base64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    pub error_type: String,
    pub body: Bytes,
}

/// The error carried by a trailers frame, if it names one.
pub fn trailer_error(trailers: &HeaderMap) -> Option<StreamError> {
    let text = |name: &str| trailers.get(name).and_then(|v| v.to_str().ok());
    let error_type = text(names::ERROR_TYPE_TRAILER)?.to_owned();
    let body = text(names::ERROR_BODY_TRAILER)
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .unwrap_or_default();
    Some(StreamError {
        error_type,
        body: body.into(),
    })
}

/// Read a whole stream: its bytes, and its error if it ended with one.
pub async fn collect(mut frames: StreamFrames) -> (Bytes, Option<StreamError>) {
    let mut body = BytesMut::new();
    let mut error = None;
    while let Some(frame) = frames.recv().await {
        match frame.into_data() {
            Ok(data) => body.extend_from_slice(&data),
            Err(frame) => error = frame.into_trailers().ok().as_ref().and_then(trailer_error),
        }
    }
    (body.freeze(), error)
}

/// What a prelude asks of the HTTP response.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Prelude {
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub cookies: Vec<String>,
}

/// Parse the JSON of a prelude (`statusCode`, `headers`, `cookies`).
pub fn parse_prelude(json: &[u8]) -> Option<Prelude> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(Prelude {
        status: v
            .get("statusCode")
            .and_then(|s| s.as_u64())
            .map(|s| s as u16),
        headers: v
            .get("headers")
            .and_then(|h| h.as_object())
            .map(|h| h.iter().map(|(k, v)| (k.clone(), text(v))).collect())
            .unwrap_or_default(),
        cookies: v
            .get("cookies")
            .and_then(|c| c.as_array())
            .map(|c| c.iter().map(text).collect())
            .unwrap_or_default(),
    })
}

/// A streaming HTTP response for a caller: bytes pass through as they come; a prelude's status,
/// headers and cookies are applied first; error trailers are passed on as trailers.
pub async fn respond(content_type: &str, mut frames: StreamFrames) -> Response<Body> {
    let mut prelude = None;
    let mut rest = Vec::new();
    if content_type == HTTP_INTEGRATION {
        match read_prelude(&mut frames).await {
            Ok((p, after)) => {
                prelude = Some(p);
                rest = after;
            }
            Err(message) => {
                let mut r = Response::new(Body::full(message));
                *r.status_mut() = StatusCode::BAD_GATEWAY;
                return r;
            }
        }
    }
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        for frame in rest {
            if tx.send(frame).await.is_err() {
                return;
            }
        }
        while let Some(frame) = frames.recv().await {
            if tx.send(frame).await.is_err() {
                return;
            }
        }
    });
    let mut response = Response::new(Body::Stream(rx));
    let headers = response.headers_mut();
    let trailers = format!(
        "{}, {}",
        names::ERROR_TYPE_TRAILER,
        names::ERROR_BODY_TRAILER
    );
    headers.insert(
        http::header::TRAILER,
        HeaderValue::from_str(&trailers).expect("ASCII"),
    );
    match prelude {
        None => {
            if let Ok(v) = HeaderValue::from_str(content_type) {
                headers.insert(http::header::CONTENT_TYPE, v);
            }
        }
        Some(p) => {
            apply(&mut response, p);
        }
    }
    response
}

fn apply(response: &mut Response<Body>, prelude: Prelude) {
    if let Some(status) = prelude.status.and_then(|s| StatusCode::from_u16(s).ok()) {
        *response.status_mut() = status;
    }
    let headers = response.headers_mut();
    for (name, value) in prelude.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(n, v);
        }
    }
    for cookie in prelude.cookies {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            headers.append(http::header::SET_COOKIE, v);
        }
    }
}

/// Read frames until the prelude's delimiter: the prelude, and the frames to pass on after it.
async fn read_prelude(frames: &mut StreamFrames) -> Result<(Prelude, Vec<Frame<Bytes>>), String> {
    let mut head = BytesMut::new();
    while let Some(frame) = frames.recv().await {
        let data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                // The stream ended with an error before its prelude was complete.
                let error = frame.into_trailers().ok().as_ref().and_then(trailer_error);
                let body = error.map(|e| e.body).unwrap_or_default();
                return Err(String::from_utf8_lossy(&body).into_owned());
            }
        };
        head.extend_from_slice(&data);
        if let Some(at) = head.windows(DELIMITER.len()).position(|w| w == DELIMITER) {
            let prelude = parse_prelude(&head[..at])
                .ok_or_else(|| "the function's HTTP prelude is not valid JSON".to_owned())?;
            let rest = head.split_off(at + DELIMITER.len()).freeze();
            let after = if rest.is_empty() {
                Vec::new()
            } else {
                vec![Frame::data(rest)]
            };
            return Ok((prelude, after));
        }
        if head.len() > MAX_PRELUDE {
            return Err("the function's HTTP prelude did not end within 64 KiB".into());
        }
    }
    // Ended without a delimiter: a handler that wrote nothing never sends its prelude.
    if head.is_empty() {
        return Ok((Prelude::default(), Vec::new()));
    }
    Err("the function's HTTP prelude was not followed by its delimiter".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(parts: Vec<Frame<Bytes>>) -> StreamFrames {
        let (tx, rx) = mpsc::channel(parts.len().max(1));
        for p in parts {
            tx.try_send(p).unwrap();
        }
        rx
    }

    fn data(b: &'static [u8]) -> Frame<Bytes> {
        Frame::data(Bytes::from_static(b))
    }

    #[tokio::test]
    async fn collects_bytes_and_the_trailer_error() {
        let trailers =
            crate::lambda::requests::error_trailers("Error", b"{\"errorMessage\":\"x\"}");
        let (body, error) = collect(frames(vec![
            data(b"ab"),
            data(b"c"),
            Frame::trailers(trailers),
        ]))
        .await;
        assert_eq!(&body[..], b"abc");
        let error = error.unwrap();
        assert_eq!(error.error_type, "Error");
        assert_eq!(&error.body[..], b"{\"errorMessage\":\"x\"}");
        let (_, none) = collect(frames(vec![data(b"ok")])).await;
        assert_eq!(none, None);
    }

    #[tokio::test]
    async fn a_prelude_split_across_chunks_sets_status_headers_and_cookies() {
        let stream = frames(vec![
            data(b"{\"statusCode\":201,\"headers\":{\"x-a\":\"1\"},\"cookies\":[\"c=1\",\"d=2\"]}\0\0\0"),
            data(b"\0\0\0\0\0hello"),
            data(b" world"),
        ]);
        let response = respond(HTTP_INTEGRATION, stream).await;
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["x-a"], "1");
        let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["c=1", "d=2"]);
        let mut body = match response.into_body() {
            Body::Stream(rx) => rx,
            Body::Full(_) => panic!("streamed"),
        };
        let mut text = Vec::new();
        while let Some(f) = body.recv().await {
            text.extend_from_slice(&f.into_data().unwrap());
        }
        assert_eq!(text, b"hello world");
    }

    #[tokio::test]
    async fn a_plain_stream_keeps_its_content_type_and_a_bad_prelude_is_a_bad_gateway() {
        let response = respond("text/plain", frames(vec![data(b"x")])).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/plain");
        let bad = respond(
            HTTP_INTEGRATION,
            frames(vec![data(b"{nope\0\0\0\0\0\0\0\0")]),
        )
        .await;
        assert_eq!(bad.status(), 502);
    }
}
