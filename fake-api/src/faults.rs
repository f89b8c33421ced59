//! Fault injection: what the fake does instead of answering a request normally.
//!
//! Each runtime request is matched against the [`Rule`]s in the order they were added; the
//! first rule that matches decides, and is used up once its `times` are spent. When no rule
//! matches, the [script](crate::FakeApi::script) (a closure) is asked. When neither has a
//! fault, the request is handled as the platform would.
//!
//! A fault never settles an invocation, except that the `/next` faults that hand one out
//! ([`Fault::TakeAndClose`], [`Fault::CutBody`], [`Fault::CutChunk`]) put it in flight, as if the
//! platform had rendered it and the connection broke on the way: a retried `/next` gets it again.

use std::time::Duration;

use bytes::Bytes;
use http::Method;

/// What to do with one request instead of the normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Handle the request normally (a placeholder in a queue of faults).
    Pass,
    /// Answer `status` with `body` at once. A post's body is read (and recorded) first; a
    /// `/next` hands nothing out.
    Status { status: u16, body: Bytes },
    /// Close the connection without answering. A post's body is read (and recorded) first; a
    /// `/next` hands nothing out.
    Close,
    /// `/next` only: wait for an invocation, put it in flight, then close the connection without
    /// answering.
    TakeAndClose,
    /// `/next` only: a valid head for the next invocation (request id, deadline, ...) with a
    /// `Content-Length` of the whole event, then only the first `sent` bytes of the body, then
    /// the connection is closed.
    CutBody { sent: usize },
    /// `/next` only: as [`Fault::CutBody`] but the body is chunked (one chunk announced with the
    /// whole event's size) and stops after `sent` bytes of that chunk's data, mid-chunk.
    CutChunk { sent: usize },
    /// Wait, then handle the request normally.
    Delay(Duration),
}

impl Fault {
    /// [`Fault::Status`] with a RAPID-shaped JSON error body.
    pub fn status(status: u16) -> Fault {
        let (error_type, message) = match status {
            400 => ("InvalidRequestID", "Invalid request ID"),
            403 => ("InvalidStateTransition", "State transition is not allowed"),
            410 => ("InvokeTimeout", "Invoke timeout"),
            413 => (
                "RequestEntityTooLarge",
                "Exceeded maximum allowed payload size (6291556 bytes).",
            ),
            500 => ("InternalServerError", "Internal Server Error"),
            _ => ("InjectedFault", "Injected fault"),
        };
        Fault::Status {
            status,
            body: crate::server::error_body(error_type, message),
        }
    }
}

/// The kind of a runtime request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `GET /2018-06-01/runtime/invocation/next`
    Next,
    /// `POST /2018-06-01/runtime/invocation/{id}/response`
    Response,
    /// `POST /2018-06-01/runtime/invocation/{id}/error`
    Error,
    /// `POST /2018-06-01/runtime/init/error`
    InitError,
    /// `POST /2020-01-01/extension/register`
    Register,
    /// `GET /2020-01-01/extension/event/next`
    ExtensionNext,
    /// Anything else.
    Other,
}

impl Kind {
    /// Posts of the Runtime API: `/response`, `/error`, `/init/error`.
    pub fn is_post(self) -> bool {
        matches!(self, Kind::Response | Kind::Error | Kind::InitError)
    }

    pub(crate) fn of(method: &Method, path: &str) -> Kind {
        if let Some(rest) = path.strip_prefix(crate::RUNTIME_PREFIX) {
            return match (method, rest) {
                (&Method::GET, "invocation/next") => Kind::Next,
                (&Method::POST, "init/error") => Kind::InitError,
                (&Method::POST, r) if r.starts_with("invocation/") && r.ends_with("/response") => {
                    Kind::Response
                }
                (&Method::POST, r) if r.starts_with("invocation/") && r.ends_with("/error") => {
                    Kind::Error
                }
                _ => Kind::Other,
            };
        }
        match (method, path.strip_prefix(crate::EXTENSION_PREFIX)) {
            (&Method::POST, Some("register")) => Kind::Register,
            (&Method::GET, Some("event/next")) => Kind::ExtensionNext,
            _ => Kind::Other,
        }
    }
}

/// A request as a [`Rule`] or a script sees it, before the fake handles it.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub kind: Kind,
    /// For a `/next`, 1 for the first `/next`, 2 for the second...; for a post, the same over
    /// all posts (`/response`, `/error` and `/init/error` share one count); 0 for other requests.
    pub nth: u64,
}

/// Which requests a [`Rule`] applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// Every `/next`.
    Next,
    /// Every post (`/response`, `/error`, `/init/error`).
    Post,
    /// The n-th `/next` (1-based).
    NthNext(u64),
    /// The n-th post (1-based).
    NthPost(u64),
    /// Requests of one kind.
    Kind(Kind),
    /// Requests whose path contains this text.
    PathContains(String),
}

impl Match {
    pub fn matches(&self, seen: &Seen<'_>) -> bool {
        match self {
            Match::Next => seen.kind == Kind::Next,
            Match::Post => seen.kind.is_post(),
            Match::NthNext(n) => seen.kind == Kind::Next && seen.nth == *n,
            Match::NthPost(n) => seen.kind.is_post() && seen.nth == *n,
            Match::Kind(k) => seen.kind == *k,
            Match::PathContains(p) => seen.path.contains(p.as_str()),
        }
    }
}

/// A fault for the requests that match, `times` times (`None`: for ever).
#[derive(Debug, Clone)]
pub struct Rule {
    pub when: Match,
    pub fault: Fault,
    pub times: Option<u64>,
}

impl Rule {
    /// `fault` for the next request matching `when`, once.
    pub fn once(when: Match, fault: Fault) -> Rule {
        Rule {
            when,
            fault,
            times: Some(1),
        }
    }

    /// `fault` for every request matching `when`.
    pub fn always(when: Match, fault: Fault) -> Rule {
        Rule {
            when,
            fault,
            times: None,
        }
    }
}

/// A closure deciding faults, asked when no rule matched.
pub type Script = Box<dyn FnMut(&Seen<'_>) -> Option<Fault> + Send>;

#[derive(Default)]
pub(crate) struct Faults {
    pub rules: Vec<Rule>,
    pub script: Option<Script>,
}

impl Faults {
    pub fn decide(&mut self, seen: &Seen<'_>) -> Option<Fault> {
        if let Some(i) = self.rules.iter().position(|r| r.when.matches(seen)) {
            let rule = &mut self.rules[i];
            let fault = rule.fault.clone();
            if let Some(t) = rule.times.as_mut() {
                *t = t.saturating_sub(1);
                if *t == 0 {
                    self.rules.remove(i);
                }
            }
            return Some(fault);
        }
        self.script.as_mut().and_then(|s| s(seen))
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.script.is_none()
    }
}
