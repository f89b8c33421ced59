//! What goes in and comes out of the fake: invocations to queue, their outcomes, the requests
//! it recorded and the extensions that registered.

use super::*;

/// Anything a caller attaches to an enqueued invocation and gets back with its [`Answer`].
pub type Tag = Arc<dyn Any + Send + Sync>;

/// One invocation as its invoker describes it.
#[derive(Clone, Default)]
pub struct Invoke {
    pub body: Bytes,
    /// `Content-Type` of the event (default `application/json`).
    pub content_type: Option<String>,
    pub trace_id: Option<String>,
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
    pub tenant_id: Option<String>,
    pub invocation_id: Option<String>,
    /// The request id (default: a fresh UUID).
    pub request_id: Option<String>,
    /// This invocation's timeout (default [`Options::function_timeout`]).
    pub timeout: Option<Duration>,
    /// The `Lambda-Runtime-Deadline-Ms` value to send instead of now + timeout (the fake still
    /// times the invocation out by `timeout`).
    pub deadline_ms: Option<u64>,
    /// Applied to the `/next` headers last, in order: `Some` sets (replacing), `None` removes.
    pub headers: Vec<(HeaderName, Option<HeaderValue>)>,
    /// Given back with the [`Answer`] of an enqueued invocation.
    pub tag: Option<Tag>,
}

impl std::fmt::Debug for Invoke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invoke")
            .field("body", &preview(&self.body))
            .field("content_type", &self.content_type)
            .field("request_id", &self.request_id)
            .field("timeout", &self.timeout)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl Invoke {
    /// An invocation with this (JSON) event.
    pub fn new(body: impl Into<Bytes>) -> Invoke {
        Invoke {
            body: body.into(),
            ..Invoke::default()
        }
    }

    /// Set (or replace) a `/next` header. Panics on a name or value HTTP cannot carry.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Invoke {
        let name = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|e| panic!("header name {name:?}: {e}"));
        let value = HeaderValue::from_bytes(value.as_ref())
            .unwrap_or_else(|e| panic!("header {name} value: {e}"));
        self.headers.push((name, Some(value)));
        self
    }

    /// Leave a `/next` header out (for example the request id).
    pub fn without_header(mut self, name: &str) -> Invoke {
        let name = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|e| panic!("header name {name:?}: {e}"));
        self.headers.push((name, None));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Invoke {
        self.timeout = Some(timeout);
        self
    }

    pub fn content_type(mut self, content_type: &str) -> Invoke {
        self.content_type = Some(content_type.into());
        self
    }

    pub fn tag(mut self, tag: Tag) -> Invoke {
        self.tag = Some(tag);
        self
    }
}

/// How an invocation ended, as its invoker sees it.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The runtime posted `/response` (accepted).
    Response {
        headers: HeaderMap,
        body: Bytes,
        /// A streamed response's HTTP trailers.
        trailers: Option<HeaderMap>,
    },
    /// The runtime posted `/error` (accepted).
    Error { headers: HeaderMap, body: Bytes },
    /// The runtime posted `/init/error` instead of taking the invocation.
    InitError { headers: HeaderMap, body: Bytes },
    /// The runtime's buffered response was over [`MAX_PAYLOAD_BYTES`]: it got `413`; `body` is
    /// the `Function.ResponseSizeTooLarge` error the invoker gets.
    TooLarge { body: Bytes },
    /// Nothing was posted before the deadline plus [`Options::timeout_slack`].
    TimedOut,
}

impl Outcome {
    /// `response`, `error`, `init_error`, `too_large` or `timed_out`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Response { .. } => "response",
            Outcome::Error { .. } => "error",
            Outcome::InitError { .. } => "init_error",
            Outcome::TooLarge { .. } => "too_large",
            Outcome::TimedOut => "timed_out",
        }
    }

    /// The body posted (for `TooLarge`, the invoker's error).
    pub fn body(&self) -> Option<&Bytes> {
        match self {
            Outcome::Response { body, .. }
            | Outcome::Error { body, .. }
            | Outcome::InitError { body, .. }
            | Outcome::TooLarge { body } => Some(body),
            Outcome::TimedOut => None,
        }
    }

    /// The headers of the post.
    pub fn headers(&self) -> Option<&HeaderMap> {
        match self {
            Outcome::Response { headers, .. }
            | Outcome::Error { headers, .. }
            | Outcome::InitError { headers, .. } => Some(headers),
            _ => None,
        }
    }

    /// A header of the post, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()?.get(name)?.to_str().ok()
    }

    /// The post's `Content-Type`.
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }
}

/// The end of one [`FakeApi::invoke`].
#[derive(Debug, Clone)]
pub struct Invoked {
    pub request_id: String,
    pub outcome: Outcome,
}

/// The end of one enqueued invocation, with its timing.
#[derive(Clone)]
pub struct Answer {
    pub request_id: String,
    pub tag: Option<Tag>,
    /// When its `/next` answer was handed to hyper.
    pub served: Instant,
    /// When the body of its post had been received in full.
    pub answered: Instant,
    pub outcome: Outcome,
}

impl Answer {
    pub fn latency(&self) -> Duration {
        self.answered.saturating_duration_since(self.served)
    }

    /// The tag, if it is a `T`.
    pub fn tag<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.tag.clone()?.downcast::<T>().ok()
    }

    /// The tag, if it is a `T`, borrowed.
    pub fn tag_ref<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.tag.as_deref()?.downcast_ref::<T>()
    }
}

/// A body frame of a recorded (streamed) request, as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub offset: usize,
    pub len: usize,
    /// Since the request's head was received.
    pub at: Duration,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// Path and query, as sent.
    pub path: String,
    pub kind: Kind,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
    /// The body frames of a streamed response (empty for other requests).
    pub frames: Vec<Frame>,
    /// The status the fake answered; `None` while unanswered or when it closed instead.
    pub status: Option<u16>,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// The request id: of the invocation a `/next` handed out, or in a post's path.
    pub request_id: Option<String>,
    /// When it was received, since the fake started.
    pub at: Duration,
}

impl Recorded {
    /// A header, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// A trailer, if it is text.
    pub fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers.as_ref()?.get(name)?.to_str().ok()
    }
}

/// A post the fake accepted, without its invocation (the init error).
#[derive(Debug, Clone)]
pub struct Posted {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One `POST /extension/register`.
#[derive(Debug, Clone)]
pub struct Registration {
    pub name: String,
    pub events: Vec<String>,
    /// The identifier given, or the error type of the refusal.
    pub result: Result<String, String>,
}
