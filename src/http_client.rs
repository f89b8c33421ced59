//! A minimal HTTP/1.1 client for one Runtime API address, on hyper's connection-level client.
//!
//! The Runtime API is plain HTTP on a fixed local address, so there is nothing to resolve,
//! no TLS and no proxy: this keeps a small stack of kept-alive connections (one per concurrent
//! lane) and sends requests with paths, not URLs. Measured against reqwest in the benchmark
//! harness it halves ferric's own CPU time per invocation (no URL parsing, no pool hashing, no
//! middleware layers).

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

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
    #[error("bad request path {0:?}")]
    BadPath(String),
}

/// An answer, body fully read.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

type Sender = SendRequest<Full<Bytes>>;

/// Connections to one `host:port`.
pub struct HttpClient {
    address: String,
    host: HeaderValue,
    idle: Mutex<Vec<Sender>>,
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
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Send one request and read the whole answer. `timeout` bounds the exchange (None: wait as
    /// long as it takes, for `GET /next`). The connection is kept for reuse only when `reuse`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        mut headers: HeaderMap,
        body: Bytes,
        timeout: Option<Duration>,
        reuse: bool,
    ) -> Result<Answer, HttpError> {
        headers.insert(http::header::HOST, self.host.clone());
        let request =
            |headers: HeaderMap, body: Bytes| -> Result<Request<Full<Bytes>>, HttpError> {
                let mut req = Request::new(Full::new(body));
                *req.method_mut() = method.clone();
                *req.uri_mut() = path
                    .parse()
                    .map_err(|_| HttpError::BadPath(path.to_owned()))?;
                *req.headers_mut() = headers;
                Ok(req)
            };
        let exchange = async {
            let pooled = if reuse { self.idle().pop() } else { None };
            let reused = pooled.is_some();
            let mut sender = match pooled {
                Some(s) => s,
                None => self.connect().await?,
            };
            let first = async {
                sender.ready().await?;
                sender
                    .send_request(request(headers.clone(), body.clone())?)
                    .await
                    .map_err(HttpError::from)
            }
            .await;
            let response = match first {
                // A kept-alive connection the server closed while idle: the request was never
                // sent, so sending it again on a new connection is safe.
                Err(HttpError::Http(e)) if reused && (e.is_canceled() || e.is_closed()) => {
                    sender = self.connect().await?;
                    sender.ready().await?;
                    sender.send_request(request(headers, body)?).await?
                }
                other => other?,
            };
            let (parts, incoming) = response.into_parts();
            let body = incoming.collect().await?.to_bytes();
            if reuse && !sender.is_closed() {
                self.idle().push(sender);
            }
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        match timeout {
            None => exchange.await,
            Some(limit) => tokio::time::timeout(limit, exchange)
                .await
                .map_err(|_| HttpError::Timeout(limit))?,
        }
    }
}
