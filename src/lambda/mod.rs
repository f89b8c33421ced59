//! The Lambda Runtime API side: a client with one method per endpoint ([`RuntimeApi`]) over
//! kept-alive connections ([`http`]), pure request builders ([`requests`]), invocation parsing
//! ([`invocation`]) and every platform string ferric writes ([`wording`]).
//!
//! No timeout on `GET /next` (the sandbox may be frozen while it waits); 30 s on every other
//! request. A 5xx answer is fatal ("container error, exit promptly"); a 4xx on a post means the
//! platform settled that invocation itself.

pub mod http;
pub mod invocation;
pub mod requests;
pub mod wording;

use std::sync::Arc;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;

use ::http::{HeaderValue, StatusCode};
use bytes::Bytes;
use hyper::body::Frame;
use tokio::sync::mpsc;

use self::http::{HttpClient, HttpError, Reuse};
use self::invocation::{Invocation, InvocationError};
pub use self::requests::{ErrorPost, Target};
use crate::config::ApiAddress;

/// Bound on every request except `GET /next`.
const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// What went wrong talking to the Runtime API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Runtime API request {endpoint} failed: {source}")]
    Transport {
        endpoint: &'static str,
        #[source]
        source: HttpError,
    },
    #[error("Runtime API {endpoint} answered {status}: {body}")]
    Status {
        endpoint: &'static str,
        status: StatusCode,
        body: String,
    },
    /// `/next` answered without a request id ferric could post back to.
    #[error(transparent)]
    NoRequestId(InvocationError),
}

impl ApiError {
    /// Whether retrying `/next` could help: a refused or reset connection can be retried (the
    /// platform re-delivers the event); a status answer (500) means "exit promptly".
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Transport { .. })
    }
}

/// What `/next` handed over.
#[derive(Debug)]
pub enum Next {
    Invocation(Invocation),
    /// An invocation ferric cannot run (bad headers, a body that could not be read). It has a
    /// request id, so it still gets exactly one answer: an error naming the cause.
    Malformed {
        request_id: String,
        invocation_id: Option<String>,
        reason: String,
    },
}

/// How a post for one invocation ended. 4xx answers mean the platform already settled the
/// invocation (timed out, too large, duplicate): log and carry on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    Accepted,
    Refused { status: StatusCode, body: String },
}

/// A client of one Runtime API endpoint.
#[derive(Clone)]
pub struct RuntimeApi {
    http: Arc<HttpClient>,
    user_agent: HeaderValue,
}

/// How many chunks of a streamed response wait between the worker and the platform: with
/// chunks of at most 1 MiB (the frame protocol's limit), ferric holds a few MiB however large
/// the stream.
const STREAM_QUEUE: usize = 2;

/// The platform's answer to a streamed post, once its body has ended.
pub type Posted = Pin<Box<dyn Future<Output = Result<PostOutcome, ApiError>> + Send>>;

/// A streamed response on its way to the platform.
pub struct ResponseStream {
    tx: mpsc::Sender<Frame<Bytes>>,
}

/// The platform stopped reading a streamed response (it answered, or the connection broke).
#[derive(Debug, thiserror::Error)]
#[error("the Runtime API stopped reading the streamed response")]
pub struct StreamClosed;

impl ResponseStream {
    /// A stream and the receiving end its body is read from.
    pub fn channel() -> (ResponseStream, mpsc::Receiver<Frame<Bytes>>) {
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        (ResponseStream { tx }, rx)
    }

    /// Send one chunk, waiting while the platform is slower than the worker.
    pub async fn send(&self, chunk: Bytes) -> Result<(), StreamClosed> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.tx
            .send(Frame::data(chunk))
            .await
            .map_err(|_| StreamClosed)
    }

    /// End the stream with an error, as HTTP trailers (never as body bytes).
    pub async fn fail(self, error_type: &str, body: &[u8]) {
        let trailers = requests::error_trailers(error_type, body);
        let _ = self.tx.send(Frame::trailers(trailers)).await;
    }

    /// End the stream normally.
    pub fn finish(self) {}
}

/// The extension registration's outcome: its identifier, to park `event/next` with.
pub struct Registration {
    identifier: HeaderValue,
}

impl RuntimeApi {
    pub fn new(address: &ApiAddress, user_agent: &str) -> RuntimeApi {
        RuntimeApi {
            http: Arc::new(HttpClient::new(address.as_str())),
            user_agent: HeaderValue::from_str(user_agent)
                .unwrap_or_else(|_| HeaderValue::from_static("ferric")),
        }
    }

    /// `GET /runtime/invocation/next`, with no timeout.
    pub async fn next(&self) -> Result<Next, ApiError> {
        const EP: &str = "GET /runtime/invocation/next";
        let answer = self
            .http
            .send(requests::next(&self.user_agent), None, Reuse::Yes)
            .await
            .map_err(transport(EP))?;
        let request_id = invocation::request_id(&answer.headers);
        if !answer.status.is_success() {
            return Err(ApiError::Status {
                endpoint: EP,
                status: answer.status,
                body: lossy(&answer.body),
            });
        }
        let malformed = |reason: String| {
            request_id.clone().map(|request_id| Next::Malformed {
                request_id,
                invocation_id: invocation::invocation_id(&answer.headers),
                reason,
            })
        };
        let body = match answer.body {
            Ok(body) => body,
            Err(e) => {
                let reason = format!("the Runtime API's /next answer was cut off: {e}");
                return malformed(reason).ok_or(ApiError::Transport {
                    endpoint: EP,
                    source: e,
                });
            }
        };
        match Invocation::from_next(&answer.headers, body) {
            Ok(inv) => Ok(Next::Invocation(inv)),
            Err(InvocationError::BadHeader { reason, .. }) => {
                malformed(reason).ok_or(ApiError::NoRequestId(InvocationError::MissingRequestId))
            }
            Err(e) => Err(ApiError::NoRequestId(e)),
        }
    }

    /// `POST /runtime/invocation/{id}/response`.
    pub async fn post_response(
        &self,
        target: Target<'_>,
        content_type: &str,
        body: Bytes,
    ) -> Result<PostOutcome, ApiError> {
        let req = requests::response(&self.user_agent, target, content_type, body);
        self.post("POST /runtime/invocation/{id}/response", req)
            .await
    }

    /// A streamed `POST /runtime/invocation/{id}/response`: chunks go into the returned stream,
    /// and the future (which must be polled while they do) resolves with the platform's
    /// answer once the stream has ended.
    pub fn post_stream(&self, target: Target<'_>, content_type: &str) -> (ResponseStream, Posted) {
        const EP: &str = "POST /runtime/invocation/{id}/response (streaming)";
        let head = requests::stream_response(&self.user_agent, target, content_type);
        let (stream, rx) = ResponseStream::channel();
        let http = self.http.clone();
        let posted = async move {
            let answer = http.send_streaming(head, rx).await.map_err(transport(EP))?;
            outcome(EP, answer)
        };
        (stream, Box::pin(posted))
    }

    /// `POST /runtime/invocation/{id}/error`.
    pub async fn post_error(
        &self,
        target: Target<'_>,
        error: ErrorPost,
    ) -> Result<PostOutcome, ApiError> {
        let req = requests::error(&self.user_agent, target, error);
        self.post("POST /runtime/invocation/{id}/error", req).await
    }

    /// `POST /runtime/init/error`.
    pub async fn post_init_error(&self, error: ErrorPost) -> Result<PostOutcome, ApiError> {
        let req = requests::init_error(&self.user_agent, error);
        self.post("POST /runtime/init/error", req).await
    }

    /// `GET /runtime/restore/next` (no timeout: it returns when a snapshot is restored), then a
    /// fresh set of connections, as the old ones did not survive the snapshot.
    pub async fn restore_next(&self) -> Result<(), ApiError> {
        const EP: &str = "GET /runtime/restore/next";
        let req = requests::restore_next(&self.user_agent);
        let answer = self
            .http
            .send(req, None, Reuse::No)
            .await
            .map_err(transport(EP))?;
        self.http.reset();
        if !answer.status.is_success() {
            return Err(ApiError::Status {
                endpoint: EP,
                status: answer.status,
                body: lossy(&answer.body),
            });
        }
        Ok(())
    }

    /// `POST /runtime/restore/error`.
    pub async fn post_restore_error(&self, error: ErrorPost) -> Result<PostOutcome, ApiError> {
        let req = requests::restore_error(&self.user_agent, error);
        self.post("POST /runtime/restore/error", req).await
    }

    /// Register a no-op internal extension (subscribed to no events) so that the platform
    /// sends SIGTERM before shutdown.
    pub async fn register_extension(&self, name: &str) -> Result<Registration, ApiError> {
        const EP: &str = "POST /2020-01-01/extension/register";
        let req = requests::register_extension(&self.user_agent, name);
        let answer = self
            .http
            .send(req, Some(POST_TIMEOUT), Reuse::Yes)
            .await
            .map_err(transport(EP))?;
        let id = answer.headers.get(requests::names::EXTENSION_ID).cloned();
        match id.filter(|_| answer.status.is_success()) {
            Some(identifier) => Ok(Registration { identifier }),
            None => Err(ApiError::Status {
                endpoint: EP,
                status: answer.status,
                body: lossy(&answer.body),
            }),
        }
    }

    /// Park the extension's `event/next` in the background: init only completes once every
    /// registered extension has asked for its next event. Subscribed to nothing, it returns
    /// only when the environment shuts down; it holds its own connection.
    pub fn park_extension(&self, registration: Registration) {
        let req = requests::extension_next(&self.user_agent, registration.identifier);
        let http = self.http.clone();
        tokio::spawn(async move {
            let _ = http.send(req, None, Reuse::No).await;
        });
    }

    async fn post(
        &self,
        endpoint: &'static str,
        req: ::http::Request<Bytes>,
    ) -> Result<PostOutcome, ApiError> {
        let answer = self
            .http
            .send(req, Some(POST_TIMEOUT), Reuse::Yes)
            .await
            .map_err(transport(endpoint))?;
        outcome(endpoint, answer)
    }
}

/// A post's answer: accepted, refused (4xx: the platform settled the invocation), or fatal.
fn outcome(endpoint: &'static str, answer: http::Answer) -> Result<PostOutcome, ApiError> {
    let status = answer.status;
    if status.is_success() {
        return Ok(PostOutcome::Accepted);
    }
    let body = lossy(&answer.body);
    if status.is_server_error() {
        return Err(ApiError::Status {
            endpoint,
            status,
            body,
        });
    }
    Ok(PostOutcome::Refused { status, body })
}

fn transport(endpoint: &'static str) -> impl FnOnce(HttpError) -> ApiError {
    move |source| ApiError::Transport { endpoint, source }
}

/// The start of an answer's body, for messages.
fn lossy(body: &Result<Bytes, HttpError>) -> String {
    match body {
        Ok(body) => {
            let cut = body.len().min(2048);
            String::from_utf8_lossy(&body[..cut]).into_owned()
        }
        Err(e) => format!("(body unreadable: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transport_errors_are_transient() {
        let s = |status| ApiError::Status {
            endpoint: "x",
            status,
            body: String::new(),
        };
        assert!(!s(StatusCode::INTERNAL_SERVER_ERROR).is_transient());
        assert!(!s(StatusCode::FORBIDDEN).is_transient());
        assert!(ApiError::Transport {
            endpoint: "x",
            source: HttpError::ConnectTimeout("a".into())
        }
        .is_transient());
        assert!(!ApiError::NoRequestId(InvocationError::MissingRequestId).is_transient());
    }
}
