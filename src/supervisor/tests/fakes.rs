//! A fake platform and fake workers that log what the lane does with them, in order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use http::{HeaderMap, StatusCode};

use crate::lambda::http::HttpError;
use crate::lambda::{Posted, ResponseStream};
use crate::supervisor::*;
use crate::worker::protocol::Phase;
use crate::worker::{Hooks, Piece};
use bytes::Bytes;

/// What happened, in order, across the platform and the workers.
pub type Log = Arc<Mutex<Vec<String>>>;

pub fn push(log: &Log, event: impl Into<String>) {
    log.lock().unwrap().push(event.into());
}

#[derive(Clone)]
pub struct FakePlatform {
    log: Log,
    nexts: Arc<Mutex<VecDeque<Result<Next, ApiError>>>>,
    /// Answers to posts, in order; Accepted when empty.
    answers: Arc<Mutex<VecDeque<Result<PostOutcome, ApiError>>>>,
}

pub fn transport() -> ApiError {
    ApiError::Transport {
        endpoint: "GET /next",
        source: HttpError::ConnectTimeout("fake".into()),
    }
}

pub fn server_error() -> ApiError {
    ApiError::Status {
        endpoint: "POST",
        status: StatusCode::INTERNAL_SERVER_ERROR,
        body: String::new(),
    }
}

pub fn invocation(id: &str) -> Next {
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    let deadline = epoch_ms() + 60_000;
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().unwrap(),
    );
    Next::Invocation(Invocation::from_next(&headers, Bytes::from_static(b"{}")).unwrap())
}

impl FakePlatform {
    pub fn new(log: &Log, nexts: Vec<Result<Next, ApiError>>) -> FakePlatform {
        FakePlatform {
            log: log.clone(),
            nexts: Arc::new(Mutex::new(nexts.into())),
            answers: Arc::default(),
        }
    }

    pub fn answer_with(self, answers: Vec<Result<PostOutcome, ApiError>>) -> Self {
        *self.answers.lock().unwrap() = answers.into();
        self
    }

    fn answer(&self) -> Result<PostOutcome, ApiError> {
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(PostOutcome::Accepted))
    }
}

impl Platform for FakePlatform {
    async fn next(&self) -> Result<Next, ApiError> {
        push(&self.log, "next");
        let scripted = self.nexts.lock().unwrap().pop_front();
        match scripted {
            Some(next) => next,
            // Nothing more to do: wait, as Lambda does, until the test shuts the lane down.
            None => std::future::pending().await,
        }
    }

    async fn post_response(
        &self,
        target: Target<'_>,
        _content_type: &str,
        body: Bytes,
    ) -> Result<PostOutcome, ApiError> {
        let body = String::from_utf8_lossy(&body);
        push(&self.log, format!("response {} {body}", target.request_id));
        self.answer()
    }

    async fn post_error(
        &self,
        target: Target<'_>,
        post: ErrorPost,
    ) -> Result<PostOutcome, ApiError> {
        let kind = post.error_type.unwrap_or_else(|| "-".into());
        push(&self.log, format!("error {} {kind}", target.request_id));
        self.answer()
    }

    async fn post_init_error(&self, post: ErrorPost) -> Result<PostOutcome, ApiError> {
        let kind = post.error_type.unwrap_or_default();
        push(&self.log, format!("init_error {kind}"));
        self.answer()
    }

    async fn restore_next(&self) -> Result<(), ApiError> {
        push(&self.log, "restore_next");
        Ok(())
    }

    async fn post_restore_error(&self, post: ErrorPost) -> Result<PostOutcome, ApiError> {
        let kind = post.error_type.unwrap_or_default();
        push(&self.log, format!("restore_error {kind}"));
        self.answer()
    }

    fn post_stream(&self, target: Target<'_>, content_type: &str) -> (ResponseStream, Posted) {
        let (stream, mut rx) = ResponseStream::channel();
        let (log, id) = (self.log.clone(), target.request_id.to_owned());
        push(&log, format!("stream {id} {content_type}"));
        let answer = self.answer();
        let posted = async move {
            while let Some(frame) = rx.recv().await {
                match frame.into_data() {
                    Ok(data) => push(
                        &log,
                        format!("chunk {id} {}", String::from_utf8_lossy(&data)),
                    ),
                    Err(frame) => {
                        let trailers = frame.into_trailers().unwrap_or_default();
                        let kind = trailers
                            .get("lambda-runtime-function-error-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        push(&log, format!("trailers {id} {kind}"));
                    }
                }
            }
            push(&log, format!("stream end {id}"));
            answer
        };
        (stream, Box::pin(posted))
    }
}

/// What a fake worker does with one call.
pub enum Call {
    Echo,
    Fail(WorkerFailure),
    /// Start a streamed response, then hand over these pieces one by one.
    Stream(Vec<Result<Piece, WorkerFailure>>),
}

/// What one start does.
pub enum Boot {
    Ready(Vec<Call>),
    InitError,
    Fail,
}

pub struct FakeWorkers {
    log: Log,
    boots: VecDeque<Boot>,
    started: u32,
    /// Workers whose hooks of this phase fail.
    pub failing_hooks: Option<Phase>,
    /// The next worker exits on its own after this many invocations.
    pub exit_after: Option<u64>,
}

pub struct FakeWorker {
    log: Log,
    n: u32,
    calls: VecDeque<Call>,
    pieces: VecDeque<Result<Piece, WorkerFailure>>,
    served: u64,
    pub failing_hooks: Option<Phase>,
    /// The process exits on its own once it has served this many invocations.
    exit_after: Option<u64>,
}

impl FakeWorkers {
    pub fn new(log: &Log, boots: Vec<Boot>) -> FakeWorkers {
        FakeWorkers {
            log: log.clone(),
            boots: boots.into(),
            started: 0,
            failing_hooks: None,
            exit_after: None,
        }
    }
}

impl Workers for FakeWorkers {
    type Worker = FakeWorker;

    async fn start(&mut self) -> Result<Start<FakeWorker>, StartFailure> {
        self.started += 1;
        let n = self.started;
        push(&self.log, format!("start {n}"));
        match self.boots.pop_front() {
            Some(Boot::Ready(calls)) => Ok(Start::Ready(FakeWorker {
                log: self.log.clone(),
                n,
                calls: calls.into(),
                pieces: VecDeque::new(),
                served: 0,
                failing_hooks: self.failing_hooks,
                exit_after: self.exit_after.take(),
            })),
            Some(Boot::InitError) => Ok(Start::InitError {
                error_type: "Runtime.ImportModuleError".into(),
                body: Bytes::from_static(b"{}"),
            }),
            Some(Boot::Fail) | None => Err(StartFailure {
                failure: WorkerFailure::Spawn {
                    program: "python3".into(),
                    source: std::io::ErrorKind::NotFound.into(),
                },
                tail: String::new(),
            }),
        }
    }

    fn language(&self) -> Option<Language> {
        Some(Language::Python)
    }

    fn program_setting(&self) -> &'static str {
        "FERRIC_PYTHON"
    }

    fn init_error_hint(&self, _: &str) -> Option<String> {
        None
    }

    fn sweep_orphans(&self) {
        push(&self.log, "sweep");
    }
}

impl Handle for FakeWorker {
    async fn call<'a>(
        &'a mut self,
        _header: &'a [u8],
        body: &'a Bytes,
        request_id: &'a str,
        _deadline: Instant,
    ) -> Result<Answer, WorkerFailure> {
        self.served += 1;
        push(&self.log, format!("call {} {request_id}", self.n));
        match self.calls.pop_front().unwrap_or(Call::Echo) {
            Call::Echo => Ok(Answer::Result {
                content_type: "application/json".into(),
                body: body.clone(),
            }),
            Call::Fail(failure) => Err(failure),
            Call::Stream(pieces) => {
                self.pieces = pieces.into();
                Ok(Answer::Stream {
                    content_type: "text/plain".into(),
                })
            }
        }
    }

    async fn next_piece<'a>(
        &'a mut self,
        _request_id: &'a str,
        _deadline: Instant,
    ) -> Result<Piece, WorkerFailure> {
        match self.pieces.pop_front() {
            Some(piece) => piece,
            None => Err(WorkerFailure::TimedOut(Duration::ZERO)),
        }
    }

    async fn hooks(&mut self, phase: Phase, _limit: Duration) -> Result<Hooks, WorkerFailure> {
        push(&self.log, format!("hooks {} {}", self.n, phase.name()));
        if self.failing_hooks == Some(phase) {
            return Ok(Hooks::Failed {
                error_type: "ValueError".into(),
                body: Bytes::from_static(b"{}"),
            });
        }
        Ok(Hooks::Done)
    }

    async fn drain_logs(&self) {}

    async fn dump_stacks(&mut self) {
        push(&self.log, format!("dump {}", self.n));
    }

    async fn kill(self, _grace: Duration) -> String {
        push(&self.log, format!("kill {}", self.n));
        "last words".into()
    }

    async fn shutdown(self, _grace: Duration) {
        push(&self.log, format!("shutdown {}", self.n));
    }

    fn invocations(&self) -> u64 {
        self.served
    }

    fn rss_mib(&self) -> Option<u64> {
        Some(10)
    }

    fn pid(&self) -> i32 {
        self.n as i32
    }

    async fn exited(&mut self) -> String {
        match self.exit_after {
            Some(n) if self.served >= n => "exit status 255".into(),
            _ => std::future::pending().await,
        }
    }
}
