use super::*;
use http::HeaderValue;

const NOW: u64 = 1_583_348_638_390; // 2020-03-04T19:03:58.390Z

fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        map.append(name, HeaderValue::from_bytes(value).unwrap());
    }
    map
}

fn caller() -> Caller<'static> {
    Caller {
        source_ip: "192.0.2.7".parse().unwrap(),
        request_id: "req-1",
        now_ms: NOW,
        account_id: "012345678912",
    }
}

fn request<'a>(
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: &'a HeaderMap,
    body: &'a [u8],
) -> HttpRequest<'a> {
    HttpRequest {
        method,
        path,
        query,
        protocol: "HTTP/1.1",
        headers,
        body,
    }
}

fn browser_headers() -> HeaderMap {
    headers(&[
        ("host", b"localhost:3000"),
        ("user-agent", b"curl/7.88.1"),
        ("accept", b"text/html"),
        ("accept", b"application/json"),
        ("cookie", b"a=1; b=2"),
        ("cookie", b"c=3"),
        ("x-name", "café".as_bytes()),
    ])
}

#[test]
fn v2_has_every_field_of_an_http_api_event() {
    let h = browser_headers();
    let r = request(
        "GET",
        "/hello/wor%20ld",
        "name=Ferris&x=1&x=2&flag",
        &h,
        b"",
    );
    let e = event(HttpEvent::V2, &r, &caller());
    let expected = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/hello/wor%20ld",
        "rawQueryString": "name=Ferris&x=1&x=2&flag",
        "cookies": ["a=1", "b=2", "c=3"],
        "headers": {
            "host": "localhost:3000",
            "user-agent": "curl/7.88.1",
            "accept": "text/html,application/json",
            "x-name": "café",
        },
        "queryStringParameters": {"name": "Ferris", "x": "1,2", "flag": ""},
        "requestContext": {
            "accountId": "012345678912",
            "apiId": "ferric",
            "domainName": "localhost:3000",
            "domainPrefix": "localhost",
            "http": {
                "method": "GET",
                "path": "/hello/wor%20ld",
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.7",
                "userAgent": "curl/7.88.1",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "04/Mar/2020:19:03:58 +0000",
            "timeEpoch": NOW,
        },
        "isBase64Encoded": false,
    });
    assert_eq!(e, expected, "{e:#}");
}

#[test]
fn v2_leaves_out_what_the_request_lacks_and_carries_a_text_body() {
    let h = headers(&[("content-type", b"application/x-www-form-urlencoded")]);
    let r = request("POST", "/form", "", &h, b"name=Ferris+the+crab&lang=rust");
    let e = event(HttpEvent::V2, &r, &caller());
    let fields = e.as_object().unwrap();
    for absent in [
        "cookies",
        "queryStringParameters",
        "pathParameters",
        "stageVariables",
    ] {
        assert!(!fields.contains_key(absent), "{absent} in {e:#}");
    }
    assert_eq!(e["body"], "name=Ferris+the+crab&lang=rust");
    assert_eq!(e["isBase64Encoded"], false);
    assert_eq!(e["requestContext"]["domainName"], "localhost");
    assert_eq!(e["requestContext"]["http"]["userAgent"], "");
    let empty = event(HttpEvent::V2, &request("GET", "/", "", &h, b""), &caller());
    assert!(empty.get("body").is_none());
    assert_eq!(empty["isBase64Encoded"], false);
}

#[test]
fn v1_has_every_field_of_a_rest_proxy_event() {
    let h = browser_headers();
    let r = request("PUT", "/a/b", "x=1&x=2&y=%C3%A9", &h, b"{\"k\":1}");
    let e = event(HttpEvent::V1, &r, &caller());
    assert_eq!(e["resource"], "/{proxy+}");
    assert_eq!(e["path"], "/a/b");
    assert_eq!(e["httpMethod"], "PUT");
    assert_eq!(e["headers"]["accept"], "application/json", "the last value");
    assert_eq!(e["headers"]["cookie"], "c=3");
    assert_eq!(
        e["multiValueHeaders"]["accept"],
        json!(["text/html", "application/json"])
    );
    assert_eq!(e["multiValueHeaders"]["cookie"], json!(["a=1; b=2", "c=3"]));
    assert_eq!(e["queryStringParameters"], json!({"x": "2", "y": "é"}));
    assert_eq!(
        e["multiValueQueryStringParameters"],
        json!({"x": ["1", "2"], "y": ["é"]})
    );
    assert_eq!(e["pathParameters"], json!({"proxy": "a/b"}));
    assert_eq!(e["stageVariables"], Value::Null);
    assert_eq!(e["body"], "{\"k\":1}");
    assert_eq!(e["isBase64Encoded"], false);
    let rc = &e["requestContext"];
    for (key, want) in [
        ("accountId", json!("012345678912")),
        ("apiId", json!("ferric")),
        ("domainName", json!("localhost:3000")),
        ("domainPrefix", json!("localhost")),
        ("extendedRequestId", json!("req-1")),
        ("httpMethod", json!("PUT")),
        ("path", json!("/a/b")),
        ("protocol", json!("HTTP/1.1")),
        ("requestId", json!("req-1")),
        ("requestTime", json!("04/Mar/2020:19:03:58 +0000")),
        ("requestTimeEpoch", json!(NOW)),
        ("resourceId", json!("ferric")),
        ("resourcePath", json!("/{proxy+}")),
        ("stage", json!("$default")),
    ] {
        assert_eq!(rc[key], want, "requestContext.{key}");
    }
    assert_eq!(rc["identity"]["sourceIp"], "192.0.2.7");
    assert_eq!(rc["identity"]["userAgent"], "curl/7.88.1");
    assert_eq!(rc["identity"]["user"], Value::Null);
}

#[test]
fn v1_root_and_empty_request_use_nulls() {
    let h = HeaderMap::new();
    let e = event(HttpEvent::V1, &request("GET", "/", "", &h, b""), &caller());
    assert_eq!(e["resource"], "/");
    assert_eq!(e["requestContext"]["resourcePath"], "/");
    for null in [
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "body",
    ] {
        assert_eq!(e[null], Value::Null, "{null}");
    }
    assert_eq!(e["isBase64Encoded"], false);
}

#[test]
fn binary_bodies_travel_as_base64_in_both_versions() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    for (content_type, body, base64) in [
        (&b"image/png"[..], &png[..], true),
        (b"application/octet-stream", b"plain ascii", true),
        (b"multipart/form-data; boundary=x", b"--x\r\n", true),
        (b"text/plain", b"\xff\xfe not utf-8", true),
        (b"text/plain; charset=utf-8", "héllo".as_bytes(), false),
        (b"application/json", b"{}", false),
    ] {
        let h = headers(&[("content-type", content_type)]);
        for version in [HttpEvent::V2, HttpEvent::V1] {
            let e = event(version, &request("POST", "/up", "", &h, body), &caller());
            assert_eq!(e["isBase64Encoded"], base64, "{content_type:?} {version:?}");
            let sent = e["body"].as_str().unwrap();
            let decoded = if base64 {
                base64::engine::general_purpose::STANDARD
                    .decode(sent)
                    .unwrap()
            } else {
                sent.as_bytes().to_vec()
            };
            assert_eq!(decoded, body);
        }
    }
}

#[test]
fn the_text_rule() {
    for text in [
        None,
        Some("text/html"),
        Some("TEXT/CSV"),
        Some("application/json"),
        Some("application/vnd.api+json"),
        Some("application/problem+xml"),
        Some("application/xml"),
        Some("application/javascript"),
        Some("application/x-javascript"),
        Some("application/x-yaml"),
        Some("application/graphql"),
        Some("application/x-www-form-urlencoded"),
        Some("application/octet-stream; charset=utf-8"),
    ] {
        assert!(is_text(text, b"abc"), "{text:?}");
    }
    for binary in [
        Some("application/octet-stream"),
        Some("image/png"),
        Some("application/pdf"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonx"),
    ] {
        assert!(!is_text(binary, b"abc"), "{binary:?}");
    }
    assert!(!is_text(None, b"\xc3"), "not UTF-8");
}

#[test]
fn query_strings_decode_like_forms() {
    assert_eq!(
        query_pairs("a=1&&b=x+y&c=%41%zz&d&=e&%E2%9C%93=%"),
        [
            ("a".into(), "1".into()),
            ("b".into(), "x y".into()),
            ("c".into(), "A%zz".into()),
            ("d".into(), "".into()),
            ("".into(), "e".into()),
            ("✓".into(), "%".into()),
        ]
    );
    assert_eq!(form_decode("%ff"), "\u{fffd}", "invalid UTF-8 is lossy");
    assert_eq!(form_decode("50%"), "50%");
    assert_eq!(form_decode("%4"), "%4");
}

#[test]
fn times_are_api_gateway_s_format_in_utc() {
    assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
    assert_eq!(clf_time(NOW), "04/Mar/2020:19:03:58 +0000");
    assert_eq!(clf_time(951_782_400_000), "29/Feb/2000:00:00:00 +0000");
    assert_eq!(clf_time(1_795_788_000_000), "27/Nov/2026:14:00:00 +0000");
    assert_eq!(clf_time(4_102_444_799_999), "31/Dec/2099:23:59:59 +0000");
}

#[test]
fn header_values_that_are_not_utf8_are_kept_lossily() {
    let h = headers(&[("x-latin1", b"caf\xe9")]);
    let e = event(HttpEvent::V2, &request("GET", "/", "", &h, b""), &caller());
    assert_eq!(e["headers"]["x-latin1"], "caf\u{fffd}");
}
