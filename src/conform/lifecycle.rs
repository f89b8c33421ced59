//! The rules about a worker's life: SnapStart hooks, shutdown, end of input, what it does with
//! invalid input from ferric, and a failed init. All but hooks and shutdown get a worker of
//! their own.

use std::time::Duration;

use super::events::{self, invalid, JSON};
use super::kit::{Failure, Kit};
use super::report::{status, Rule, Verdict};
use super::session::{Exit, Session, SessionError};
use super::{HANDLER, INIT_ERROR_HANDLER};
use crate::worker::protocol::{Phase, SHUTDOWN_FRAME};
use crate::worker::{Hello, Hooks, Violation};

/// Log lines quoted under a failure.
const TAIL: usize = 6;
/// The status a worker exits with after invalid input from ferric (docs/PROTOCOL.md).
const PROTOCOL_ERROR_STATUS: i32 = 2;

impl Kit {
    /// hooks: a worker whose ready lists `hooks` answers both phases with hooks_done.
    pub(super) async fn hooks(&mut self, s: &mut Session) -> Verdict {
        if !self.claims.hooks {
            return Verdict::Skip(
                "ready lists no \"hooks\" feature (SnapStart runtime hooks)".into(),
            );
        }
        for phase in [Phase::BeforeSnapshot, Phase::AfterRestore] {
            let name = phase.name();
            match s.hooks(phase, self.limits.timeout).await {
                Ok(Hooks::Done) => {}
                Ok(Hooks::Failed { error_type, body }) => {
                    return Verdict::Fail(format!(
                        "{name}: hooks_error {error_type}: {}",
                        events::preview(&body)
                    ))
                }
                Err(SessionError::Violation(Violation::Unexpected(kind))) => {
                    return Verdict::Fail(format!(
                        "{name}: the answer was a {kind} frame, not hooks_done or hooks_error naming phase {name}"
                    ))
                }
                Err(e) => return Verdict::Fail(format!("{name}: {e}")),
            }
        }
        Verdict::pass()
    }

    /// What an exit means after `what`, when the worker must exit with `want`.
    fn judge_exit(&self, exit: Exit, what: &str, want: Option<i32>) -> Result<(), String> {
        let must = want.map_or("non-zero".to_owned(), |c| c.to_string());
        match exit {
            Exit::Exited(s) if want.map_or(!s.success(), |c| s.code() == Some(c)) => Ok(()),
            Exit::Exited(s) => Err(format!(
                "exited with {} after {what} (must be {must})",
                status(s)
            )),
            Exit::Answered(kind) => Err(format!("answered {what} with a {kind} frame")),
            Exit::Running => Err(format!(
                "still running {} ms after {what} (FERRIC_KILL_GRACE_MS)",
                self.limits.grace.as_millis()
            )),
        }
    }

    /// shutdown: the shutdown frame makes the worker exit 0 within the grace.
    pub(super) async fn shutdown(&mut self, s: &mut Session) -> Verdict {
        if let Err(e) = s.send(SHUTDOWN_FRAME).await {
            return Verdict::Fail(e.to_string());
        }
        let exit = s.exit_within(self.limits.grace).await;
        self.judge_exit(exit, "the shutdown frame", Some(0)).into()
    }

    /// eof: a worker whose stdin closes between frames exits 0.
    pub(super) async fn eof(&mut self) -> Result<Verdict, Failure> {
        let mut s = self.ready(HANDLER).await?;
        if let Err(reason) = self.result(&mut s, JSON, events::INFO).await {
            return Err((
                format!("before stdin was closed: {reason}"),
                s.logs().tail(TAIL),
            ));
        }
        s.close_input();
        let exit = s.exit_within(self.limits.grace).await;
        self.judge_exit(exit, "the end of its input", Some(0))
            .map(|()| Verdict::pass())
            .map_err(|reason| (reason, s.logs().tail(TAIL)))
    }

    /// invalid-header, invalid-terminator, invalid-truncated: after input that breaks the
    /// framing the worker says why on stderr and exits 2, without answering.
    pub(super) async fn invalid(&mut self, rule: Rule) -> Result<Verdict, Failure> {
        let mut s = self.ready(HANDLER).await?;
        let (input, close, what) = match rule {
            Rule::InvalidTerminator => {
                let (_, header) = self.header(JSON, 2);
                (
                    invalid::terminator(&header),
                    false,
                    "a payload not followed by \\n",
                )
            }
            Rule::InvalidTruncated => {
                let (_, header) = self.header(JSON, invalid::TRUNCATED_LEN);
                (
                    invalid::truncated(&header),
                    true,
                    "a frame cut off by the end of input",
                )
            }
            _ => (
                invalid::HEADER.to_vec(),
                false,
                "a line that is not a frame header",
            ),
        };
        let offset = s.logs().total();
        if let Err(e) = s.send(&input).await {
            return Err((e.to_string(), s.logs().tail(TAIL)));
        }
        if close {
            s.close_input();
        }
        let exit = s.exit_within(self.limits.grace).await;
        s.logs().wait_ended(Duration::from_millis(500)).await;
        let said = s.logs().total() > offset;
        let judged = self.judge_exit(exit, what, Some(PROTOCOL_ERROR_STATUS));
        match judged {
            Ok(()) if said => Ok(Verdict::pass()),
            Ok(()) => Err((
                format!("exited 2 after {what} but wrote nothing to stderr"),
                Vec::new(),
            )),
            Err(reason) => Err((reason, s.logs().tail(TAIL))),
        }
    }

    /// init-error: a worker that cannot load its handler sends init_error with an error object
    /// and exits non-zero.
    pub(super) async fn init_error(&mut self) -> Result<Verdict, Failure> {
        let mut s = self
            .spawn(INIT_ERROR_HANDLER)
            .map_err(|e| (e.to_string(), Vec::new()))?;
        let with = format!("with _HANDLER={INIT_ERROR_HANDLER}");
        match s.hello(self.limits.timeout).await {
            Ok(Hello::Ready { .. }) => {
                return Ok(Verdict::Skip(format!(
                    "the worker said ready {with} (it reports no init errors)"
                )))
            }
            Err(e) => return Err((format!("{with}: {e}"), s.logs().tail(TAIL))),
            Ok(Hello::InitError { body, .. }) => {
                if let Some(problem) = events::error_body_problem(&body) {
                    return Err((format!("init_error: {problem}"), s.logs().tail(TAIL)));
                }
            }
        }
        let exit = s.exit_within(self.limits.grace).await;
        self.judge_exit(exit, "its init_error frame", None)
            .map(|()| Verdict::pass())
            .map_err(|reason| (reason, s.logs().tail(TAIL)))
    }
}
