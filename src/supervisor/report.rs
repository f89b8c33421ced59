//! Failures rendered as the posts that report them. Pure: the wording lives in
//! [`crate::lambda::wording`], the facts come in as arguments.

use std::time::Duration;

use crate::handler::Language;
use crate::lambda::wording::{error_body, error_type, timeout_message, with_request_id};
use crate::lambda::ErrorPost;
use crate::worker::WorkerFailure;

/// The post for an invocation whose worker failed. `budget` is the time the invocation had
/// (deadline minus its arrival), `tail` the worker's last log lines.
pub fn invocation_failure(
    language: Option<Language>,
    request_id: &str,
    failure: &WorkerFailure,
    budget: Duration,
    tail: &str,
) -> ErrorPost {
    let (kind, mut message) = match failure {
        WorkerFailure::TimedOut(_) => (error_type::TIMEOUT, timeout_message(budget)),
        other => (other.error_type(), other.to_string()),
    };
    // A timeout's stacks are in the log already (the worker dumped them); other failures quote
    // the worker's last words, which usually name the cause.
    if !tail.is_empty() && !matches!(failure, WorkerFailure::TimedOut(_)) {
        message = format!("{message}\nLast worker output:\n{tail}");
    }
    let message = with_request_id(request_id, &message);
    ErrorPost {
        body: error_body(language, kind, &message, request_id),
        error_type: Some(kind.into()),
        xray_cause: None,
    }
}

/// The init error for a worker that could not start: `program_setting` names where the user
/// points ferric at the interpreter, `init_timeout` the limit it missed, if that was the cause.
pub fn start_failure(
    language: Option<Language>,
    failure: &WorkerFailure,
    tail: &str,
    program_setting: &str,
) -> ErrorPost {
    let mut message = match failure {
        WorkerFailure::Spawn { program, source }
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            format!("{program} was not found: install it or set {program_setting} to the interpreter's path")
        }
        WorkerFailure::TimedOut(limit) => format!(
            "the worker did not finish init within {:.1} s (FERRIC_INIT_TIMEOUT)",
            limit.as_secs_f64()
        ),
        other => other.to_string(),
    };
    if !tail.is_empty() {
        message.push('\n');
        message.push_str(tail);
    }
    let kind = failure.error_type();
    ErrorPost {
        body: error_body(language, kind, &message, ""),
        error_type: Some(kind.into()),
        xray_cause: None,
    }
}

/// The error for an invocation ferric could not hand to a worker (bad headers, a body that
/// could not be read, headers too large for the frame protocol).
pub fn invalid_invocation(language: Option<Language>, request_id: &str, reason: &str) -> ErrorPost {
    let kind = error_type::INVALID_INVOCATION;
    let message = with_request_id(request_id, reason);
    ErrorPost {
        body: error_body(language, kind, &message, request_id),
        error_type: Some(kind.into()),
        xray_cause: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    fn json(post: &ErrorPost) -> serde_json::Value {
        serde_json::from_slice(&post.body).unwrap()
    }

    #[test]
    fn an_exit_quotes_the_last_log_lines() {
        let failure = WorkerFailure::Exited(ExitStatus::from_raw(3 << 8));
        let post = invocation_failure(
            Some(Language::Python),
            "id-1",
            &failure,
            Duration::from_secs(3),
            "boom\nbye",
        );
        assert_eq!(post.error_type.as_deref(), Some("Runtime.ExitError"));
        let v = json(&post);
        assert_eq!(
            v["errorMessage"],
            "RequestId: id-1 Error: Runtime exited with error: exit status 3\nLast worker output:\nboom\nbye"
        );
        assert_eq!(v["requestId"], "id-1");
    }

    #[test]
    fn a_timeout_says_how_long_the_invocation_had() {
        let failure = WorkerFailure::TimedOut(Duration::ZERO);
        let post = invocation_failure(
            Some(Language::Node),
            "id-2",
            &failure,
            Duration::from_millis(2_995),
            "stack dump",
        );
        let v = json(&post);
        assert_eq!(v["errorType"], "Runtime.Timeout");
        assert_eq!(
            v["errorMessage"],
            "RequestId: id-2 Error: Task timed out after 3.00 seconds"
        );
        assert_eq!(v["trace"], serde_json::json!([]), "Node flavour");
    }

    #[test]
    fn a_missing_interpreter_names_the_setting() {
        let failure = WorkerFailure::Spawn {
            program: "python3.99".into(),
            source: std::io::ErrorKind::NotFound.into(),
        };
        let post = start_failure(Some(Language::Python), &failure, "", "FERRIC_PYTHON");
        assert_eq!(
            post.error_type.as_deref(),
            Some("Runtime.InvalidEntrypoint")
        );
        let v = json(&post);
        assert_eq!(
            v["errorMessage"],
            "python3.99 was not found: install it or set FERRIC_PYTHON to the interpreter's path"
        );
        assert_eq!(v["requestId"], "");
    }

    #[test]
    fn an_invalid_invocation_is_answered_with_its_reason() {
        let post = invalid_invocation(None, "id-3", "bad deadline");
        assert_eq!(
            post.error_type.as_deref(),
            Some("Runtime.InvalidInvocation")
        );
        assert_eq!(
            json(&post)["errorMessage"],
            "RequestId: id-3 Error: bad deadline"
        );
    }
}
