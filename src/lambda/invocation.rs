//! One invocation, parsed from the headers and body of a `/next` response. Pure and fallible:
//! nothing here panics on what the Runtime API sends.

use bytes::Bytes;
use http::HeaderMap;

/// Header names of the `/next` response (matched case-insensitively by `HeaderMap`).
pub mod headers {
    pub const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
    pub const DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
    pub const FUNCTION_ARN: &str = "lambda-runtime-invoked-function-arn";
    pub const TRACE_ID: &str = "lambda-runtime-trace-id";
    pub const CLIENT_CONTEXT: &str = "lambda-runtime-client-context";
    pub const COGNITO_IDENTITY: &str = "lambda-runtime-cognito-identity";
    pub const TENANT_ID: &str = "lambda-runtime-aws-tenant-id";
    pub const INVOCATION_ID: &str = "lambda-runtime-invocation-id";
    pub const CONTENT_TYPE: &str = "content-type";
}

/// Now as Unix epoch milliseconds (the clock Lambda deadlines use).
pub fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The content type assumed when `/next` names none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/json";

/// Everything a worker needs to run one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub request_id: String,
    /// Absolute deadline, Unix epoch milliseconds (wall clock).
    pub deadline_ms: u64,
    pub invoked_function_arn: String,
    pub trace_id: Option<String>,
    /// Raw JSON text of the client context header; the worker parses it.
    pub client_context: Option<String>,
    /// Raw JSON text of the Cognito identity header; the worker parses it.
    pub cognito_identity: Option<String>,
    pub tenant_id: Option<String>,
    /// Echoed on `/response` and `/error` when present.
    pub invocation_id: Option<String>,
    pub content_type: String,
    pub body: Bytes,
}

/// Why a `/next` response cannot be turned into an [`Invocation`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvocationError {
    /// Without a request id nothing can be posted back: the caller must treat this as fatal.
    #[error("the /next response has no usable Lambda-Runtime-Aws-Request-Id header")]
    MissingRequestId,
    /// The invocation can still be answered with an error.
    #[error("invocation {request_id}: {reason}")]
    BadHeader { request_id: String, reason: String },
}

impl InvocationError {
    /// The request id, when the invocation can still be answered.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            InvocationError::MissingRequestId => None,
            InvocationError::BadHeader { request_id, .. } => Some(request_id),
        }
    }
}

/// Request ids go into URL paths verbatim, as aws-lambda-cpp does; refuse the bytes that would
/// change the path's meaning.
fn is_path_safe(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'%')
}

fn text(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    (!value.is_empty()).then(|| value.to_owned())
}

/// The request id of a `/next` response, when it is one ferric can post back to.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    text(headers, headers::REQUEST_ID).filter(|id| id.len() <= 256 && id.bytes().all(is_path_safe))
}

/// The invocation id to echo, when the platform sent one.
pub fn invocation_id(headers: &HeaderMap) -> Option<String> {
    text(headers, headers::INVOCATION_ID)
}

impl Invocation {
    /// Parse the headers and body of a `/next` response.
    pub fn from_next(headers: &HeaderMap, body: Bytes) -> Result<Invocation, InvocationError> {
        let request_id = request_id(headers).ok_or(InvocationError::MissingRequestId)?;
        let bad = |reason: String| InvocationError::BadHeader {
            request_id: request_id.clone(),
            reason,
        };
        let deadline_raw = text(headers, headers::DEADLINE_MS)
            .ok_or_else(|| bad("missing Lambda-Runtime-Deadline-Ms header".into()))?;
        let deadline_ms = deadline_raw.trim().parse::<u64>().map_err(|_| {
            bad(format!(
                "Lambda-Runtime-Deadline-Ms {deadline_raw:?} is not epoch milliseconds"
            ))
        })?;
        let invoked_function_arn = text(headers, headers::FUNCTION_ARN).unwrap_or_default();
        Ok(Invocation {
            deadline_ms,
            invoked_function_arn,
            trace_id: text(headers, headers::TRACE_ID),
            client_context: text(headers, headers::CLIENT_CONTEXT),
            cognito_identity: text(headers, headers::COGNITO_IDENTITY),
            tenant_id: text(headers, headers::TENANT_ID),
            invocation_id: invocation_id(headers),
            content_type: text(headers, headers::CONTENT_TYPE)
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned()),
            request_id,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn map(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn parses_all_headers_case_insensitively() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("Lambda-Runtime-Aws-Request-Id", "id-1"),
            ("LAMBDA-RUNTIME-DEADLINE-MS", "1700000000123"),
            ("lambda-runtime-invoked-function-arn", "arn:x"),
            ("Lambda-Runtime-Trace-Id", "Root=1"),
            ("Lambda-Runtime-Client-Context", "{}"),
            ("Lambda-Runtime-Cognito-Identity", "{\"a\":1}"),
            ("Lambda-Runtime-Aws-Tenant-Id", "t"),
            ("Lambda-Runtime-Invocation-Id", "inv"),
            ("Content-Type", "text/plain"),
        ] {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_static(v),
            );
        }
        let inv = Invocation::from_next(&h, Bytes::from_static(b"x")).unwrap();
        assert_eq!(inv.request_id, "id-1");
        assert_eq!(inv.deadline_ms, 1_700_000_000_123);
        assert_eq!(inv.invoked_function_arn, "arn:x");
        assert_eq!(inv.trace_id.as_deref(), Some("Root=1"));
        assert_eq!(inv.client_context.as_deref(), Some("{}"));
        assert_eq!(inv.cognito_identity.as_deref(), Some("{\"a\":1}"));
        assert_eq!(inv.tenant_id.as_deref(), Some("t"));
        assert_eq!(inv.invocation_id.as_deref(), Some("inv"));
        assert_eq!(inv.content_type, "text/plain");
    }

    #[test]
    fn optional_headers_absent_or_empty_are_none() {
        let h = map(&[
            (headers::REQUEST_ID, "id"),
            (headers::DEADLINE_MS, "5"),
            (headers::TRACE_ID, ""),
        ]);
        let inv = Invocation::from_next(&h, Bytes::new()).unwrap();
        assert_eq!(inv.trace_id, None);
        assert_eq!(inv.invoked_function_arn, "");
        assert_eq!(inv.content_type, DEFAULT_CONTENT_TYPE);
    }

    #[test]
    fn missing_or_unsafe_request_id_is_fatal() {
        let h = map(&[(headers::DEADLINE_MS, "5")]);
        assert_eq!(
            Invocation::from_next(&h, Bytes::new()),
            Err(InvocationError::MissingRequestId)
        );
        let h = map(&[(headers::REQUEST_ID, "../x"), (headers::DEADLINE_MS, "5")]);
        assert_eq!(
            Invocation::from_next(&h, Bytes::new()),
            Err(InvocationError::MissingRequestId)
        );
    }

    #[test]
    fn bad_deadline_keeps_the_request_id_for_an_error_post() {
        for deadline in [None, Some("soon"), Some("-1"), Some("1.5")] {
            let mut pairs = vec![(headers::REQUEST_ID, "id-9")];
            if let Some(d) = deadline {
                pairs.push((headers::DEADLINE_MS, d));
            }
            let err = Invocation::from_next(&map(&pairs), Bytes::new()).unwrap_err();
            assert_eq!(err.request_id(), Some("id-9"), "{deadline:?}");
        }
    }

    #[test]
    fn non_ascii_header_values_do_not_panic() {
        let mut h = map(&[(headers::REQUEST_ID, "id"), (headers::DEADLINE_MS, "1")]);
        h.insert(
            headers::TRACE_ID,
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        let inv = Invocation::from_next(&h, Bytes::new()).unwrap();
        assert_eq!(inv.trace_id, None);
    }
}
