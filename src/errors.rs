//! Error bodies ferric writes itself (when a worker cannot), in the flavour of the runtime the
//! user migrated from: awslambdaric's `make_error` shape for Python, aws-lambda-ric's for Node.

use bytes::Bytes;

use crate::config::Language;

/// `{"errorMessage": ..., "errorType": ..., "requestId": ..., "stackTrace": []}` as
/// awslambdaric serialises it (", " and ": " separators, ASCII-only escapes); Node's
/// `{"errorType":...,"errorMessage":...,"trace":[]}` for Node workers.
pub fn error_body(
    language: Option<Language>,
    error_type: &str,
    message: &str,
    request_id: &str,
) -> Bytes {
    match language {
        Some(Language::Node) => Bytes::from(format!(
            "{{\"errorType\":{},\"errorMessage\":{},\"trace\":[]}}",
            serde_json::Value::from(error_type),
            serde_json::Value::from(message)
        )),
        _ => Bytes::from(format!(
            "{{\"errorMessage\": {}, \"errorType\": {}, \"requestId\": {}, \"stackTrace\": []}}",
            py_json_string(message),
            py_json_string(error_type),
            py_json_string(request_id)
        )),
    }
}

/// A JSON string literal as Python's `json.dumps` writes it with `ensure_ascii=True`.
pub fn py_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_flavour_matches_awslambdaric_bytes() {
        let body = error_body(
            Some(Language::Python),
            "Runtime.ExitError",
            "bye \"x\"\né😀",
            "id-1",
        );
        assert_eq!(
            &body[..],
            br#"{"errorMessage": "bye \"x\"\n\u00e9\ud83d\ude00", "errorType": "Runtime.ExitError", "requestId": "id-1", "stackTrace": []}"#
        );
        // The raw-worker default is the Python shape too.
        assert_eq!(
            error_body(None, "T", "m", ""),
            error_body(Some(Language::Python), "T", "m", "")
        );
    }

    #[test]
    fn node_flavour_matches_json_stringify() {
        let body = error_body(
            Some(Language::Node),
            "Runtime.ExitError",
            "bye \"x\"\né",
            "id",
        );
        assert_eq!(
            &body[..],
            "{\"errorType\":\"Runtime.ExitError\",\"errorMessage\":\"bye \\\"x\\\"\\né\",\"trace\":[]}".as_bytes()
        );
    }

    #[test]
    fn control_and_del_characters_are_escaped_like_python() {
        assert_eq!(py_json_string("\u{1}\u{7f}"), "\"\\u0001\\u007f\"");
    }
}
