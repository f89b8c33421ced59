use super::*;
use HttpEvent::{V1, V2};

fn ok(version: HttpEvent, body: &str) -> Response<Bytes> {
    answer(version, body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"))
}

fn all(response: &Response<Bytes>, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_proxy_object_sets_status_headers_cookies_and_body() {
    let r = ok(
        V2,
        r#"{"statusCode": 201, "headers": {"Content-Type": "text/html", "X-N": 5, "X-B": true},
            "cookies": ["a=1; Path=/", "b=2"], "body": "<p>hi</p>", "isBase64Encoded": false}"#,
    );
    assert_eq!(r.status(), 201);
    assert_eq!(all(&r, "content-type"), ["text/html"]);
    assert_eq!(all(&r, "x-n"), ["5"]);
    assert_eq!(all(&r, "x-b"), ["true"]);
    assert_eq!(all(&r, "set-cookie"), ["a=1; Path=/", "b=2"]);
    assert_eq!(&r.body()[..], b"<p>hi</p>");
}

#[test]
fn base64_bodies_are_decoded() {
    for version in [V1, V2] {
        let r = ok(
            version,
            r#"{"statusCode": 200, "body": "iVBORw0KGgo=", "isBase64Encoded": true}"#,
        );
        assert_eq!(&r.body()[..], b"\x89PNG\r\n\x1a\n");
        assert_eq!(
            answer(
                version,
                br#"{"statusCode": 200, "body": "!!", "isBase64Encoded": true}"#
            )
            .unwrap_err(),
            Malformed::Base64
        );
    }
}

#[test]
fn headers_and_multi_value_headers_merge_with_pairs_in_both_once() {
    let r = ok(
        V1,
        r#"{"statusCode": "404", "headers": {"X-A": "1", "X-B": "2"},
            "multiValueHeaders": {"x-a": ["1", "3"], "Set-Cookie": ["s=1", "t=2"]}}"#,
    );
    assert_eq!(r.status(), 404, "a statusCode string of digits is accepted");
    let mut a = all(&r, "x-a");
    a.sort();
    assert_eq!(a, ["1", "3"]);
    assert_eq!(all(&r, "x-b"), ["2"]);
    assert_eq!(all(&r, "set-cookie"), ["s=1", "t=2"]);
    assert!(r.body().is_empty(), "no body is an empty body");
}

#[test]
fn v2_answers_that_are_not_proxy_objects_are_json_with_200() {
    let r = ok(V2, r#"{"message": "hi", "n": [1, 2]}"#);
    assert_eq!(r.status(), 200);
    assert_eq!(all(&r, "content-type"), ["application/json"]);
    assert_eq!(
        &r.body()[..],
        br#"{"message": "hi", "n": [1, 2]}"#,
        "as sent"
    );
    let s = ok(V2, r#""Hello, Ferris""#);
    assert_eq!(s.status(), 200);
    assert_eq!(
        &s.body()[..],
        b"Hello, Ferris",
        "a string answer is the string"
    );
    for other in ["null", "42", "[1]", "true"] {
        let r = ok(V2, other);
        assert_eq!(
            (r.status().as_u16(), &r.body()[..]),
            (200, other.as_bytes())
        );
    }
}

#[test]
fn v1_needs_the_proxy_object() {
    for not_proxy in [r#"{"message": "hi"}"#, r#""hi""#, "null", "[]"] {
        assert_eq!(
            answer(V1, not_proxy.as_bytes()).unwrap_err(),
            Malformed::NotProxy,
            "{not_proxy}"
        );
    }
    // Cookies are a 2.0 field: a 1.0 answer's `cookies` is ignored.
    let r = ok(V1, r#"{"statusCode": 200, "cookies": ["a=1"]}"#);
    assert!(r.headers().get("set-cookie").is_none());
}

#[test]
fn malformed_answers_are_named() {
    for (version, body, want) in [
        (V2, "not json", Malformed::NotJson),
        (V1, "\u{0}", Malformed::NotJson),
        (V2, r#"{"statusCode": 99}"#, Malformed::Status("99".into())),
        (
            V2,
            r#"{"statusCode": 600}"#,
            Malformed::Status("600".into()),
        ),
        (
            V2,
            r#"{"statusCode": 200.5}"#,
            Malformed::Status("200.5".into()),
        ),
        (
            V1,
            r#"{"statusCode": "ok"}"#,
            Malformed::Status("\"ok\"".into()),
        ),
        (
            V1,
            r#"{"statusCode": null}"#,
            Malformed::Status("null".into()),
        ),
        (
            V2,
            r#"{"statusCode": 200, "body": {"a": 1}}"#,
            Malformed::Body,
        ),
        (
            V1,
            r#"{"statusCode": 200, "headers": {"a b": "1"}}"#,
            Malformed::Header("a b".into()),
        ),
        (
            V1,
            r#"{"statusCode": 200, "headers": {"x": "a\nb"}}"#,
            Malformed::Header("x".into()),
        ),
        (
            V1,
            r#"{"statusCode": 200, "headers": {"x": [1]}}"#,
            Malformed::Header("x".into()),
        ),
        (
            V1,
            r#"{"statusCode": 200, "headers": []}"#,
            Malformed::List("headers"),
        ),
        (
            V1,
            r#"{"statusCode": 200, "multiValueHeaders": {"x": "1"}}"#,
            Malformed::List("multiValueHeaders"),
        ),
        (
            V2,
            r#"{"statusCode": 200, "cookies": "a=1"}"#,
            Malformed::List("cookies"),
        ),
    ] {
        assert_eq!(
            answer(version, body.as_bytes()).unwrap_err(),
            want,
            "{body}"
        );
    }
}

#[test]
fn framing_headers_from_the_function_are_dropped() {
    let r = ok(
        V2,
        r#"{"statusCode": 200, "headers": {"Content-Length": "999", "Transfer-Encoding": "chunked",
            "Connection": "close", "X-Kept": "1"}, "body": "abc"}"#,
    );
    assert!(r.headers().get("content-length").is_none());
    assert!(r.headers().get("transfer-encoding").is_none());
    assert!(r.headers().get("connection").is_none());
    assert_eq!(all(&r, "x-kept"), ["1"]);
}

#[test]
fn gateway_answers_use_each_api_s_wording() {
    for (version, what, status, body) in [
        (
            V2,
            Gateway::FunctionFailed,
            502,
            r#"{"message":"Internal Server Error"}"#,
        ),
        (
            V1,
            Gateway::FunctionFailed,
            502,
            r#"{"message": "Internal server error"}"#,
        ),
        (
            V2,
            Gateway::TimedOut,
            504,
            r#"{"message":"Endpoint request timed out"}"#,
        ),
        (
            V1,
            Gateway::TimedOut,
            504,
            r#"{"message": "Endpoint request timed out"}"#,
        ),
        (
            V2,
            Gateway::TooLarge,
            413,
            r#"{"message":"Request Entity Too Large"}"#,
        ),
    ] {
        let r = gateway(version, what);
        assert_eq!(r.status(), status);
        assert_eq!(std::str::from_utf8(r.body()).unwrap(), body);
        assert_eq!(all(&r, "content-type"), ["application/json"]);
    }
}
