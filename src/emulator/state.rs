//! The emulator's state machine: invokes, `/next` calls and posts in, outcomes out. Pure (no
//! I/O, no clock: times come in as arguments) and generic over the reply token `R` the HTTP
//! shell uses to answer a waiting caller, so it is tested here without a network.
//!
//! Memory stays flat: an invocation is forgotten as soon as it is answered, cancelled or
//! expired; nothing is recorded.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;

/// Lambda's payload limit as RAPID enforces it (6 MiB + 100 bytes).
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024 + 100;

/// One invocation as a caller describes it.
#[derive(Debug, Clone, Default)]
pub struct InvokeRequest {
    pub body: Bytes,
    pub content_type: Option<String>,
    pub trace_id: Option<String>,
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
    pub tenant_id: Option<String>,
    pub invocation_id: Option<String>,
    /// Overrides the emulator's function timeout for this invocation.
    pub timeout: Option<Duration>,
}

/// How an invocation ended, as the invoker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeOutcome {
    Response {
        content_type: Option<String>,
        body: Bytes,
    },
    FunctionError {
        body: Bytes,
    },
    /// The runtime posted `/init/error` instead of taking the invocation.
    InitError {
        body: Bytes,
    },
    /// The response was over [`MAX_PAYLOAD_BYTES`]; the runtime got 413.
    ResponseTooLarge {
        body: Bytes,
    },
    /// Nothing was posted before the deadline (plus slack).
    TimedOut {
        message: String,
    },
    /// The runtime streams its response; the bytes (and any error trailers) follow on a
    /// channel the HTTP shell hands over with this outcome.
    Stream {
        content_type: String,
    },
}

/// An invocation handed to the runtime by `/next`.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub deadline_ms: u64,
    pub request: InvokeRequest,
}

/// What became of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 202.
    Accepted,
    /// 413: the response was too large; the invoker gets `Function.ResponseSizeTooLarge`.
    TooLarge,
    /// 400: no invocation with this id is in flight.
    UnknownId,
    /// 403: `/init/error` after init ended.
    TooLate,
}

/// What a runtime posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Post<'a> {
    Response {
        id: &'a str,
        content_type: Option<String>,
        body: Bytes,
    },
    Error {
        id: &'a str,
        body: Bytes,
    },
    /// The head of a streamed response (`Lambda-Runtime-Function-Response-Mode: streaming`).
    StreamStart {
        id: &'a str,
        content_type: String,
    },
    InitError {
        body: Bytes,
    },
}

/// Why an extension could not register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterError {
    /// `Extension.InvalidExtensionName`: no name.
    NoName,
    /// `Extension.AlreadyRegistered`.
    Duplicate,
    /// `Extension.RegistrationAfterInit`: the runtime already called `/next`.
    AfterInit,
}

/// What a caller that went away leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// It had not started: it is dropped.
    Dropped,
    /// It is running: it finishes, and its answer is dropped.
    Running,
    /// It had already ended.
    Gone,
}

struct Queued<R> {
    delivery: Delivery,
    reply: R,
}

struct InFlight<R> {
    /// None once the caller went away.
    reply: Option<R>,
    since_ms: u64,
}

/// The emulator's state.
pub struct State<R> {
    queue: VecDeque<Queued<R>>,
    in_flight: HashMap<String, InFlight<R>>,
    /// The runtime called `/next` at least once: init is over.
    initialised: bool,
    init_error: Option<Bytes>,
    /// After an init error, queue new invocations for a runtime started afresh (serve mode, as
    /// RIE re-runs init on the next invoke) instead of answering them with that error.
    retry_init: bool,
    extensions: HashSet<String>,
}

impl<R> Default for State<R> {
    fn default() -> Self {
        State {
            queue: VecDeque::new(),
            in_flight: HashMap::new(),
            initialised: false,
            init_error: None,
            retry_init: false,
            extensions: HashSet::new(),
        }
    }
}

/// Outcomes to hand to waiting callers.
pub type Replies<R> = Vec<(R, InvokeOutcome)>;

impl<R> State<R> {
    /// Queue an invocation. Returns what it waits for: the ids in flight and how long the
    /// oldest has been running (ms), and how many queued invocations are ahead of it.
    /// If init already failed, the caller gets that init error at once.
    pub fn invoke(
        &mut self,
        delivery: Delivery,
        reply: R,
        now_ms: u64,
    ) -> Result<Ahead, (R, InvokeOutcome)> {
        match &self.init_error {
            Some(body) if !self.retry_init => {
                return Err((reply, InvokeOutcome::InitError { body: body.clone() }))
            }
            _ => {}
        }
        let ahead = Ahead {
            queued: self.queue.len(),
            in_flight: self.in_flight.len(),
            oldest_ms: self
                .in_flight
                .values()
                .map(|f| now_ms.saturating_sub(f.since_ms))
                .max(),
        };
        self.queue.push_back(Queued { delivery, reply });
        Ok(ahead)
    }

    /// `GET /next`: the oldest queued invocation, now in flight (None: the runtime waits).
    pub fn next(&mut self, now_ms: u64) -> Option<Delivery> {
        self.initialised = true;
        let Queued { delivery, reply } = self.queue.pop_front()?;
        self.in_flight.insert(
            delivery.id.clone(),
            InFlight {
                reply: Some(reply),
                since_ms: now_ms,
            },
        );
        Some(delivery)
    }

    /// A post from the runtime: its verdict, and the replies it settles.
    pub fn post(&mut self, post: Post) -> (Verdict, Replies<R>) {
        let (id, outcome, verdict) = match post {
            Post::InitError { body } => return self.init_error(body),
            Post::Response { id, body, .. } if body.len() > MAX_PAYLOAD_BYTES => {
                let outcome = InvokeOutcome::ResponseTooLarge {
                    body: too_large_body(body.len()).into(),
                };
                (id, outcome, Verdict::TooLarge)
            }
            Post::Response {
                id,
                content_type,
                body,
            } => (
                id,
                InvokeOutcome::Response { content_type, body },
                Verdict::Accepted,
            ),
            Post::Error { id, body } => {
                (id, InvokeOutcome::FunctionError { body }, Verdict::Accepted)
            }
            Post::StreamStart { id, content_type } => (
                id,
                InvokeOutcome::Stream { content_type },
                Verdict::Accepted,
            ),
        };
        let Some(flight) = self.in_flight.remove(id) else {
            return (Verdict::UnknownId, Vec::new());
        };
        (
            verdict,
            flight.reply.map(|r| (r, outcome)).into_iter().collect(),
        )
    }

    fn init_error(&mut self, body: Bytes) -> (Verdict, Replies<R>) {
        if self.initialised {
            return (Verdict::TooLate, Vec::new());
        }
        self.init_error = Some(body.clone());
        let replies = self
            .queue
            .drain(..)
            .map(|q| (q.reply, InvokeOutcome::InitError { body: body.clone() }))
            .collect();
        (Verdict::Accepted, replies)
    }

    /// The caller of `id` went away.
    pub fn abandon(&mut self, id: &str) -> Abandoned {
        if let Some(i) = self.queue.iter().position(|q| q.delivery.id == id) {
            self.queue.remove(i);
            return Abandoned::Dropped;
        }
        match self.in_flight.get_mut(id) {
            Some(flight) => {
                flight.reply = None;
                Abandoned::Running
            }
            None => Abandoned::Gone,
        }
    }

    /// `id` passed its deadline (plus slack) unanswered: forget it, so a late post is refused
    /// as RAPID refuses it (400, the id is no longer current).
    pub fn expire(&mut self, id: &str) {
        self.queue.retain(|q| q.delivery.id != id);
        self.in_flight.remove(id);
    }

    /// `POST /extension/register`.
    pub fn register_extension(&mut self, name: &str) -> Result<(), RegisterError> {
        if name.is_empty() {
            return Err(RegisterError::NoName);
        }
        if self.initialised {
            return Err(RegisterError::AfterInit);
        }
        if !self.extensions.insert(name.to_owned()) {
            return Err(RegisterError::Duplicate);
        }
        Ok(())
    }

    /// From now on, an invocation that arrives after an init error waits for the next runtime
    /// (whose owner calls [`State::reset`] when [`State::has_queued`]) and gets its outcome.
    pub fn retry_init_on_invoke(&mut self) {
        self.retry_init = true;
    }

    /// Whether an invocation is waiting for a runtime.
    pub fn has_queued(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The runtime stopped (its init failed): forget it, so the next one starts afresh.
    pub fn reset(&mut self) {
        self.initialised = false;
        self.init_error = None;
        self.extensions.clear();
        self.in_flight.clear();
    }

    /// How many invocations are remembered (queued or in flight), for tests of flatness.
    pub fn remembered(&self) -> usize {
        self.queue.len() + self.in_flight.len()
    }
}

/// What a new invocation waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ahead {
    pub queued: usize,
    pub in_flight: usize,
    /// How long the oldest invocation in flight has been running, in ms.
    pub oldest_ms: Option<u64>,
}

/// RAPID's body for an oversized response.
pub fn too_large_body(len: usize) -> String {
    let message = format!(
        "Response payload size ({len} bytes) exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes)."
    );
    crate::lambda::wording::platform_error_body("Function.ResponseSizeTooLarge", &message)
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
