//! The kit's runner: which worker each rule runs against, and the exchanges the rules share.
//!
//! Rules run in [`Rule::ALL`] order against one worker, which is replaced after a rule fails
//! (its state is unknown then), so one broken behaviour fails one rule. The exit and
//! invalid-input rules get a worker of their own.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::events::{self, Events, Ids};
use super::report::{Report, Rule, Verdict};
use super::session::{Session, SessionError};
use super::HANDLER;
use crate::shims::Launcher;
use crate::worker::protocol::HOOKS_FEATURE;
use crate::worker::{Answer, Hello};

/// Log lines quoted under a failure.
const TAIL: usize = 6;
/// The ready feature of a worker that streams its answers (docs/PROTOCOL.md).
pub const STREAMING_FEATURE: &str = "streaming";

/// The bounds the kit holds the worker to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// For each answer (and the handshake).
    pub timeout: Duration,
    /// For exits (`FERRIC_KILL_GRACE_MS`).
    pub grace: Duration,
    /// `FERRIC_MAX_FRAME_BYTES`.
    pub max_payload: usize,
}

/// What the worker says about itself: ready's `features`, and its answer to the info event.
#[derive(Debug, Clone, Copy)]
pub struct Claims {
    pub streaming: bool,
    pub hooks: bool,
    pub events: Events,
}

/// A failed rule's reason, and the worker's last log lines.
pub type Failure = (String, Vec<String>);

pub struct Kit {
    launcher: Launcher,
    pub(super) limits: Limits,
    pub(super) ids: Ids,
    session: Option<Session>,
    pub(super) claims: Claims,
}

impl Kit {
    pub fn new(launcher: Launcher, limits: Limits) -> Kit {
        Kit {
            launcher,
            limits,
            ids: Ids::default(),
            session: None,
            claims: Claims {
                streaming: false,
                hooks: false,
                events: Events::Bytes,
            },
        }
    }

    /// Check every rule, reporting each as it is decided.
    pub async fn run<W: Write>(mut self, report: &mut Report<W>) {
        let (verdict, logs) = self.handshake().await;
        let failed = verdict.is_fail();
        report.record(Rule::Handshake, verdict, &logs);
        for rule in &Rule::ALL[1..] {
            let (verdict, logs) = if failed {
                let why = "not checked: the handshake failed";
                (Verdict::Skip(why.to_owned()), Vec::new())
            } else {
                self.check(*rule).await
            };
            report.record(*rule, verdict, &logs);
        }
        report.finish();
    }

    /// The handshake rule, which also starts the worker the next rules share.
    async fn handshake(&mut self) -> (Verdict, Vec<String>) {
        let mut session = match self.spawn(HANDLER) {
            Ok(session) => session,
            Err(e) => return (Verdict::Fail(e.to_string()), Vec::new()),
        };
        let verdict = match session.hello(self.limits.timeout).await {
            Ok(Hello::Ready { features, .. }) => {
                self.claims.streaming = features.iter().any(|f| f == STREAMING_FEATURE);
                self.claims.hooks = features.iter().any(|f| f == HOOKS_FEATURE);
                let note =
                    (!features.is_empty()).then(|| format!("features: {}", features.join(", ")));
                Verdict::Pass(note)
            }
            Ok(Hello::InitError { error_type, body }) => Verdict::Fail(format!(
                "the worker could not load the conformance handler: init_error {error_type}: {}",
                events::preview(&body)
            )),
            Err(SessionError::TimedOut(t)) => Verdict::Fail(format!("no first frame within {t:?}")),
            Err(e) => Verdict::Fail(e.to_string()),
        };
        let logs = session.logs().tail(TAIL);
        if !verdict.is_fail() {
            self.session = Some(session);
        }
        (verdict, logs)
    }

    async fn check(&mut self, rule: Rule) -> (Verdict, Vec<String>) {
        let alone = match rule {
            Rule::Eof => Some(self.eof().await),
            Rule::InvalidHeader | Rule::InvalidTerminator | Rule::InvalidTruncated => {
                Some(self.invalid(rule).await)
            }
            Rule::InitError => Some(self.init_error().await),
            _ => None,
        };
        match alone {
            Some(Ok(verdict)) => (verdict, Vec::new()),
            Some(Err((reason, logs))) => (Verdict::Fail(reason), logs),
            None => self.shared(rule).await,
        }
    }

    /// A rule that runs against the shared worker (started afresh if the last rule failed).
    async fn shared(&mut self, rule: Rule) -> (Verdict, Vec<String>) {
        let mut session = match self.session.take() {
            Some(session) => session,
            None => match self.ready(HANDLER).await {
                Ok(session) => session,
                Err((reason, logs)) => {
                    return (Verdict::Fail(format!("no worker to check: {reason}")), logs)
                }
            },
        };
        let offset = session.logs().total();
        let verdict = match rule {
            Rule::Hooks => self.hooks(&mut session).await,
            Rule::Invoke => self.invoke(&mut session).await,
            Rule::Ids => self.ids(&mut session).await,
            Rule::PayloadNewlines => self.newlines(&mut session).await,
            Rule::PayloadBytes => self.bytes(&mut session).await,
            Rule::PayloadLarge => self.large(&mut session).await,
            Rule::UnknownFields => self.unknown_fields(&mut session).await,
            Rule::LargestHeader => self.largest_header(&mut session).await,
            Rule::Error => self.error(&mut session).await,
            Rule::Logs => self.logs(&mut session).await,
            Rule::UnknownFrames => self.unknown_frames(&mut session).await,
            Rule::Stream => self.stream(&mut session, false).await,
            Rule::StreamError => self.stream(&mut session, true).await,
            Rule::Shutdown => self.shutdown(&mut session).await,
            Rule::Handshake
            | Rule::Eof
            | Rule::InvalidHeader
            | Rule::InvalidTerminator
            | Rule::InvalidTruncated
            | Rule::InitError => unreachable!("{rule:?} runs alone"),
        };
        let logs = session.logs().tail_since(offset, TAIL);
        if !verdict.is_fail() && rule != Rule::Shutdown {
            self.session = Some(session);
        }
        (verdict, logs)
    }

    /// Start a worker for `handler` (without waiting for its first frame).
    pub(super) fn spawn(&self, handler: &str) -> Result<Session, SessionError> {
        let launcher = Launcher {
            handler: handler.to_owned(),
            ..self.launcher.clone()
        };
        let spec = launcher.spec().map_err(SessionError::Spawn)?;
        Session::spawn(&spec)
    }

    /// A worker for `handler` that has said ready.
    pub(super) async fn ready(&self, handler: &str) -> Result<Session, Failure> {
        let mut session = self
            .spawn(handler)
            .map_err(|e| (e.to_string(), Vec::new()))?;
        match session.hello(self.limits.timeout).await {
            Ok(Hello::Ready { .. }) => Ok(session),
            Ok(Hello::InitError { error_type, .. }) => Err((
                format!("a fresh worker sent init_error {error_type}"),
                session.logs().tail(TAIL),
            )),
            Err(e) => Err((format!("a fresh worker: {e}"), session.logs().tail(TAIL))),
        }
    }

    /// The deadline of an invoke sent now.
    pub(super) fn deadline_ms(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        (now + self.limits.timeout).as_millis() as u64
    }

    /// An invoke header for a new request id.
    pub(super) fn header(&mut self, content_type: &str, len: usize) -> (String, Vec<u8>) {
        let id = self.ids.fresh();
        let header = events::invoke_header(&id, content_type, len, self.deadline_ms());
        (id, header)
    }

    /// Invoke with `body`; the answer.
    pub(super) async fn ask(
        &mut self,
        s: &mut Session,
        content_type: &str,
        body: &[u8],
    ) -> Result<(String, Answer), String> {
        let (id, header) = self.header(content_type, body.len());
        let answer = s
            .call(&header, body, &id, self.limits.timeout)
            .await
            .map_err(|e| e.to_string())?;
        Ok((id, answer))
    }

    /// Invoke with `body`; the payload of the `result` it must be answered with.
    pub(super) async fn result(
        &mut self,
        s: &mut Session,
        content_type: &str,
        body: &[u8],
    ) -> Result<Bytes, String> {
        match self.ask(s, content_type, body).await? {
            (_, Answer::Result { body, .. }) => Ok(body),
            (_, other) => Err(format!(
                "answered with {} instead of a result",
                describe(&other)
            )),
        }
    }
}

/// An answer, in a reason.
pub fn describe(answer: &Answer) -> String {
    match answer {
        Answer::Result { body, .. } => format!("a result ({})", events::preview(body)),
        Answer::Error { body, .. } => format!("an error frame ({})", events::preview(body)),
        Answer::Stream { .. } => "a stream_start frame".to_owned(),
    }
}
