//! A minimal HTTP/1.1 client for one Runtime API address, on hyper's connection-level client.
//!
//! The Runtime API is plain HTTP on a fixed local address, so there is nothing to resolve,
//! no TLS and no proxy (proxy variables are ignored by construction: it connects to the address
//! it is given). This keeps a small stack of kept-alive connections (one per concurrent lane)
//! and sends requests with paths, not URLs. Measured against reqwest in the benchmark harness
//! it halves ferric's own CPU time per invocation (no URL parsing, no pool hashing, no
//! middleware layers).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Room for an answer's head: hyper's default (~400 KB) would refuse the large client-context
/// and Cognito headers a worker can take (up to the frame protocol's 1 MiB header).
const MAX_HEAD_BYTES: usize = 1024 * 1024 + 64 * 1024;

/// Why a request got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connecting to {0} timed out")]
    ConnectTimeout(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Http(#[from] hyper::Error),
}

/// An answer. Its head always arrived; its body may still have failed (cut off, bad
/// chunking), which matters for `/next`, where the head already names an invocation.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Result<Bytes, HttpError>,
}

/// A request (or emulator response) body: all at once, or streamed from a channel (data frames,
/// then optionally one trailers frame). The channel is bounded, so whoever feeds it waits for
/// the other end to take what it sent: memory stays bounded and the producer is slowed to the
/// consumer's pace.
#[derive(Debug)]
pub enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Frame<Bytes>>),
}

impl Body {
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        let bytes = bytes.into();
        Body::Full((!bytes.is_empty()).then_some(bytes))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|f| f.map(Ok)),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len()) as u64),
            Body::Stream(_) => SizeHint::default(),
        }
    }
}

type Sender = SendRequest<Body>;

/// Connections to one `host:port`.
pub struct HttpClient {
    address: String,
    host: HeaderValue,
    idle: Mutex<Vec<Sender>>,
}

/// Whether a request's connection goes back to the pool afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    Yes,
    /// For a call that holds its connection indefinitely (the extension's `event/next`).
    No,
}

impl HttpClient {
    pub fn new(address: &str) -> HttpClient {
        HttpClient {
            address: address.to_owned(),
            host: HeaderValue::from_str(address)
                .unwrap_or_else(|_| HeaderValue::from_static("localhost")),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Forget the kept-alive connections (they do not survive a SnapStart snapshot).
    pub fn reset(&self) {
        self.idle().clear();
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Sender>> {
        // The stack holds no invariant a panic could break.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn connect(&self) -> Result<Sender, HttpError> {
        let stream = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect(&self.address),
        )
        .await
        .map_err(|_| HttpError::ConnectTimeout(self.address.clone()))?
        .map_err(|source| HttpError::Connect {
            address: self.address.clone(),
            source,
        })?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(MAX_HEAD_BYTES)
            .handshake(TokioIo::new(stream))
            .await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Send one request and read the whole answer. `timeout` bounds the exchange (None: wait as
    /// long as it takes, for `GET /next`).
    pub async fn send(
        &self,
        request: Request<Bytes>,
        timeout: Option<Duration>,
        reuse: Reuse,
    ) -> Result<Answer, HttpError> {
        let (parts, body) = request.into_parts();
        let exchange = self.exchange(parts, || Some(Body::full(body.clone())), reuse);
        match timeout {
            None => exchange.await,
            Some(limit) => tokio::time::timeout(limit, exchange)
                .await
                .map_err(|_| HttpError::Timeout(limit))?,
        }
    }

    /// Send a request whose body streams from `body` (no timeout: a stream lasts as long as the
    /// invocation). It can be sent only once, so it goes on a connection known to be open.
    pub async fn send_streaming(
        &self,
        head: Request<()>,
        body: mpsc::Receiver<Frame<Bytes>>,
    ) -> Result<Answer, HttpError> {
        let (parts, ()) = head.into_parts();
        let mut body = Some(Body::Stream(body));
        self.exchange(parts, move || body.take(), Reuse::Yes).await
    }

    async fn exchange(
        &self,
        mut parts: http::request::Parts,
        mut body: impl FnMut() -> Option<Body>,
        reuse: Reuse,
    ) -> Result<Answer, HttpError> {
        parts.headers.insert(http::header::HOST, self.host.clone());
        let mut sender = self.ready_sender(reuse).await?;
        let mut make = || body().map(|b| Request::from_parts(parts.clone(), b));
        let req = make().expect("the first attempt always has its body");
        let first = sender.send_request(req).await;
        let response = match first {
            // A kept-alive connection the server closed just now: the request was never sent,
            // so sending it again on a new connection is safe, if its body can be made again.
            Err(e) if e.is_canceled() || e.is_closed() => match make() {
                Some(req) => {
                    sender = self.connect().await?;
                    sender.ready().await?;
                    sender.send_request(req).await?
                }
                None => return Err(e.into()),
            },
            other => other?,
        };
        let (head, incoming) = response.into_parts();
        let body = incoming
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(HttpError::from);
        if reuse == Reuse::Yes && body.is_ok() && !sender.is_closed() {
            self.idle().push(sender);
        }
        Ok(Answer {
            status: head.status,
            headers: head.headers,
            body,
        })
    }

    /// A connection ready for a request: an idle one that is still open, else a new one.
    async fn ready_sender(&self, reuse: Reuse) -> Result<Sender, HttpError> {
        if reuse == Reuse::Yes {
            loop {
                let Some(mut sender) = self.idle().pop() else {
                    break;
                };
                if sender.ready().await.is_ok() {
                    return Ok(sender);
                }
            }
        }
        let mut sender = self.connect().await?;
        sender.ready().await?;
        Ok(sender)
    }
}
