//! The rules, their verdicts and the report: one line per rule, printed as soon as it is known.

use std::io::Write;
use std::process::ExitStatus;

/// One rule of docs/PROTOCOL.md the kit checks, in the order it checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Handshake,
    Hooks,
    Invoke,
    Ids,
    PayloadNewlines,
    PayloadBytes,
    PayloadLarge,
    UnknownFields,
    LargestHeader,
    Error,
    Logs,
    UnknownFrames,
    Stream,
    StreamError,
    Shutdown,
    Eof,
    InvalidHeader,
    InvalidTerminator,
    InvalidTruncated,
    InitError,
}

impl Rule {
    pub const ALL: [Rule; 20] = [
        Rule::Handshake,
        Rule::Hooks,
        Rule::Invoke,
        Rule::Ids,
        Rule::PayloadNewlines,
        Rule::PayloadBytes,
        Rule::PayloadLarge,
        Rule::UnknownFields,
        Rule::LargestHeader,
        Rule::Error,
        Rule::Logs,
        Rule::UnknownFrames,
        Rule::Stream,
        Rule::StreamError,
        Rule::Shutdown,
        Rule::Eof,
        Rule::InvalidHeader,
        Rule::InvalidTerminator,
        Rule::InvalidTruncated,
        Rule::InitError,
    ];

    /// The rule's name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Handshake => "handshake",
            Rule::Hooks => "hooks",
            Rule::Invoke => "invoke",
            Rule::Ids => "ids",
            Rule::PayloadNewlines => "payload-newlines",
            Rule::PayloadBytes => "payload-bytes",
            Rule::PayloadLarge => "payload-large",
            Rule::UnknownFields => "unknown-fields",
            Rule::LargestHeader => "largest-header",
            Rule::Error => "error",
            Rule::Logs => "logs",
            Rule::UnknownFrames => "unknown-frames",
            Rule::Stream => "stream",
            Rule::StreamError => "stream-error",
            Rule::Shutdown => "shutdown",
            Rule::Eof => "eof",
            Rule::InvalidHeader => "invalid-header",
            Rule::InvalidTerminator => "invalid-terminator",
            Rule::InvalidTruncated => "invalid-truncated",
            Rule::InitError => "init-error",
        }
    }
}

/// How a rule went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// With a note when something about the check is worth saying.
    Pass(Option<String>),
    Fail(String),
    /// Not applicable to this worker (not a failure).
    Skip(String),
}

impl Verdict {
    pub fn pass() -> Verdict {
        Verdict::Pass(None)
    }

    pub fn is_fail(&self) -> bool {
        matches!(self, Verdict::Fail(_))
    }

    /// The report line for `rule`.
    pub fn line(&self, rule: Rule) -> String {
        match self {
            Verdict::Pass(None) => format!("PASS {}", rule.name()),
            Verdict::Pass(Some(note)) => format!("PASS {}: {note}", rule.name()),
            Verdict::Fail(reason) => format!("FAIL {}: {reason}", rule.name()),
            Verdict::Skip(reason) => format!("SKIP {}: {reason}", rule.name()),
        }
    }
}

impl From<Result<(), String>> for Verdict {
    fn from(r: Result<(), String>) -> Verdict {
        r.map_or_else(Verdict::Fail, |()| Verdict::pass())
    }
}

/// An exit status in a reason.
pub fn status(s: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        (None, None) => "an unknown status".to_owned(),
    }
}

/// The verdicts so far, written to `out` as they come.
pub struct Report<W: Write> {
    out: W,
    verdicts: Vec<(Rule, Verdict)>,
}

impl<W: Write> Report<W> {
    pub fn new(out: W) -> Report<W> {
        Report {
            out,
            verdicts: Vec::new(),
        }
    }

    /// Record and print a verdict, with the worker's last log lines under a failure.
    pub fn record(&mut self, rule: Rule, verdict: Verdict, logs: &[String]) {
        // The report goes to a terminal or a pipe; if it is gone there is no one to tell.
        let _ = writeln!(self.out, "{}", verdict.line(rule));
        if verdict.is_fail() {
            for line in logs {
                let _ = writeln!(self.out, "    | {line}");
            }
        }
        let _ = self.out.flush();
        self.verdicts.push((rule, verdict));
    }

    /// Print the totals.
    pub fn finish(&mut self) {
        let count = |f: fn(&Verdict) -> bool| self.verdicts.iter().filter(|(_, v)| f(v)).count();
        let (passed, failed, skipped) = (
            count(|v| matches!(v, Verdict::Pass(_))),
            count(Verdict::is_fail),
            count(|v| matches!(v, Verdict::Skip(_))),
        );
        let _ = writeln!(
            self.out,
            "ferric conform: {passed} passed, {failed} failed, {skipped} skipped"
        );
        let _ = self.out.flush();
    }

    pub fn failed(&self) -> usize {
        self.verdicts.iter().filter(|(_, v)| v.is_fail()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_are_unique_kebab_case() {
        let names: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '-')));
    }

    #[test]
    fn lines_and_totals() {
        let mut report = Report::new(Vec::new());
        report.record(Rule::Handshake, Verdict::pass(), &["ignored".into()]);
        report.record(
            Rule::Ids,
            Verdict::Fail("answered x".into()),
            &["Traceback".into()],
        );
        report.record(Rule::Stream, Verdict::Skip("no streaming".into()), &[]);
        report.record(
            Rule::PayloadBytes,
            Verdict::Pass(Some("as text".into())),
            &[],
        );
        report.finish();
        assert_eq!(report.failed(), 1);
        let text = String::from_utf8(report.out).unwrap();
        assert_eq!(
            text,
            "PASS handshake\nFAIL ids: answered x\n    | Traceback\nSKIP stream: no streaming\n\
             PASS payload-bytes: as text\nferric conform: 2 passed, 1 failed, 1 skipped\n"
        );
    }

    #[test]
    fn verdicts_from_results() {
        assert_eq!(Verdict::from(Ok(())), Verdict::pass());
        assert_eq!(
            Verdict::from(Err("x".to_owned())),
            Verdict::Fail("x".into())
        );
    }
}
