//! Every platform string ferric writes itself: the error types it reports, Lambda's messages
//! ("Task timed out after N.00 seconds", "Runtime exited with error: ..."), and the error bodies
//! it posts when a worker cannot, in the flavour of the runtime the user migrated from
//! (awslambdaric's `make_error` shape for Python, aws-lambda-ric's for Node).

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use bytes::Bytes;

use crate::handler::Language;

/// Error types ferric reports (RAPID keeps `Runtime.*` types as they are).
pub mod error_type {
    /// The worker exited or was killed.
    pub const EXIT: &str = "Runtime.ExitError";
    /// No answer before the deadline, or no `ready` within the init limit.
    pub const TIMEOUT: &str = "Runtime.Timeout";
    /// The worker broke the frame protocol.
    pub const PROTOCOL: &str = "Runtime.WorkerProtocolError";
    /// The interpreter or program could not be started.
    pub const ENTRYPOINT: &str = "Runtime.InvalidEntrypoint";
    /// The Runtime API handed over an invocation ferric cannot run (bad headers, broken body).
    pub const INVALID_INVOCATION: &str = "Runtime.InvalidInvocation";
}

/// Lambda's timeout wording: the time the invocation had, in whole seconds (rounded up, at
/// least 1) with two decimals.
pub fn timeout_message(budget: Duration) -> String {
    let secs = budget.as_millis().div_ceil(1000).max(1);
    format!("Task timed out after {secs}.00 seconds")
}

/// RAPID's prefix for errors it generates itself.
pub fn with_request_id(request_id: &str, message: &str) -> String {
    format!("RequestId: {request_id} Error: {message}")
}

/// Words for an exit status, in the style of Lambda's `Runtime.ExitError` messages.
pub fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("Runtime exited with error: exit status {code}");
    }
    match status.signal() {
        Some(libc::SIGKILL) => {
            "Runtime exited with error: signal: killed (possibly out of memory)".to_owned()
        }
        Some(sig) => format!("Runtime exited with error: signal: {}", signal_name(sig)),
        None => "Runtime exited without providing a reason".to_owned(),
    }
}

fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGSEGV => "segmentation fault",
        libc::SIGABRT => "aborted",
        libc::SIGTERM => "terminated",
        libc::SIGINT => "interrupt",
        libc::SIGBUS => "bus error",
        libc::SIGFPE => "floating point exception",
        libc::SIGILL => "illegal instruction",
        libc::SIGPIPE => "broken pipe",
        _ => return format!("{sig}"),
    };
    format!("{name} ({sig})")
}

/// `{"errorMessage": ..., "errorType": ..., "requestId": ..., "stackTrace": []}` as
/// awslambdaric serialises it (", " and ": " separators, ASCII-only escapes); Node's
/// `{"errorType":...,"errorMessage":...,"trace":[]}` for Node workers; aws_lambda_ric's compact
/// `{"errorMessage":...,"errorType":...,"stackTrace":[]}` for Ruby. Raw workers get the Python
/// shape.
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
        Some(Language::Ruby) => Bytes::from(format!(
            "{{\"errorMessage\":{},\"errorType\":{},\"stackTrace\":[]}}",
            serde_json::Value::from(message),
            serde_json::Value::from(error_type)
        )),
        _ => Bytes::from(format!(
            "{{\"errorMessage\": {}, \"errorType\": {}, \"requestId\": {}, \"stackTrace\": []}}",
            py_json_string(message),
            py_json_string(error_type),
            py_json_string(request_id)
        )),
    }
}

/// RAPID's own error body (`{"errorMessage":...,"errorType":...}`), as the Runtime API and the
/// invoke endpoint answer with it.
pub fn platform_error_body(error_type: &str, message: &str) -> String {
    serde_json::json!({"errorMessage": message, "errorType": error_type}).to_string()
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
    fn ruby_flavour_matches_aws_lambda_ric() {
        let body = error_body(
            Some(Language::Ruby),
            "Runtime.ExitError",
            "bye \"x\"\né",
            "id",
        );
        assert_eq!(
            &body[..],
            "{\"errorMessage\":\"bye \\\"x\\\"\\né\",\"errorType\":\"Runtime.ExitError\",\"stackTrace\":[]}".as_bytes()
        );
    }

    #[test]
    fn control_and_del_characters_are_escaped_like_python() {
        assert_eq!(py_json_string("\u{1}\u{7f}"), "\"\\u0001\\u007f\"");
    }

    #[test]
    fn timeout_message_rounds_the_budget_up_to_whole_seconds() {
        let ms = Duration::from_millis;
        assert_eq!(
            timeout_message(ms(3000)),
            "Task timed out after 3.00 seconds"
        );
        assert_eq!(
            timeout_message(ms(2990)),
            "Task timed out after 3.00 seconds"
        );
        assert_eq!(timeout_message(ms(0)), "Task timed out after 1.00 seconds");
        assert_eq!(
            timeout_message(ms(300_000)),
            "Task timed out after 300.00 seconds"
        );
    }

    #[test]
    fn exit_descriptions_match_lambda_wording() {
        assert_eq!(
            describe_exit(ExitStatus::from_raw(1 << 8)),
            "Runtime exited with error: exit status 1"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(libc::SIGKILL)),
            "Runtime exited with error: signal: killed (possibly out of memory)"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(libc::SIGSEGV)),
            "Runtime exited with error: signal: segmentation fault (11)"
        );
    }
}
