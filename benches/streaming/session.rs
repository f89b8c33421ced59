//! One client process against its own fake Runtime API, through a few streamed invocations.
//!
//! The fake records requests (so a streamed post's body frames are kept with their arrival
//! times). A fault script that never injects anything notes the instant each post's head
//! arrives; the frames' times count from there. So, for one invocation:
//!
//! * time to first byte = post head + first frame − the instant the fake handed out `/next`
//!   ([`Answer::served`]);
//! * time to last byte = post head + last frame − the same instant;
//! * throughput = bytes / time to last byte.
//!
//! Every invocation is checked: one `/response` post, `Lambda-Runtime-Function-Response-Mode:
//! streaming`, no error trailer, `Content-Type: application/octet-stream`, and the body exactly
//! what the handler was asked for ([`Spec::check`]). Anything else is an error.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferric_fake_api::{headers as h, Answer, FakeApi, Invoke, Kind, Options, Outcome, Recorded};

use crate::body::Spec;
use crate::clients::{self, Client, Running};
use crate::rss::{self, Peaks, Sampler};

/// How long a client may take to ask for its first invocation, or to answer one.
const PATIENCE: Duration = Duration::from_secs(120);

/// One measured invocation.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub bytes: usize,
    pub ttfb: Duration,
    pub last_byte: Duration,
    pub frames: usize,
    pub peaks: Peaks,
}

impl Measured {
    /// MiB per second, to the last byte.
    pub fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.last_byte.as_secs_f64()
    }
}

type Heads = Arc<Mutex<HashMap<String, Instant>>>;

/// A client process and its fake.
pub struct Session {
    api: FakeApi,
    heads: Heads,
    proc: Running,
    key: &'static str,
    count: usize,
}

impl Session {
    /// Start the fake and the client; wait for its first `/next`.
    pub async fn start(client: &Client, task_root: &Path, log: &Path) -> Result<Session, String> {
        let options = Options::default()
            .function_name("streaming")
            .function_timeout(PATIENCE);
        let api = FakeApi::start(options)
            .await
            .map_err(|e| format!("cannot start the fake Runtime API: {e}"))?;
        let heads: Heads = Arc::default();
        let seen = heads.clone();
        api.script(move |req| {
            if req.kind == Kind::Response {
                let id = request_id(req.path).to_owned();
                seen.lock().expect("heads lock").insert(id, Instant::now());
            }
            None
        });
        let proc = clients::spawn(client, task_root, &api.address(), log.to_path_buf())?;
        let mut session = Session {
            api,
            heads,
            proc,
            key: client.key,
            count: 0,
        };
        session.idle("the first invocation").await?;
        Ok(session)
    }

    /// Wait until the client has asked for the next invocation (or fail if it died).
    async fn idle(&mut self, what: &str) -> Result<(), String> {
        let api = self.api.clone();
        tokio::select! {
            r = tokio::time::timeout(PATIENCE, api.wait_idle()) => {
                if r.is_err() {
                    let e = format!("did not ask for {what} in {PATIENCE:?}");
                    return Err(self.failure(&e));
                }
            }
            status = self.proc.child.wait() => {
                return Err(self.failure(&format!("exited ({status:?}) before {what}")));
            }
        }
        match self.api.problems().first() {
            Some(p) => Err(self.failure(&format!("protocol problem: {p}"))),
            None => Ok(()),
        }
    }

    fn failure(&self, what: &str) -> String {
        format!(
            "{} {what}; last lines of {}:\n{}",
            self.key,
            self.proc.log.display(),
            self.proc.log_tail(12)
        )
    }

    /// One streamed invocation of `spec`, measured and checked.
    pub async fn invoke(&mut self, spec: Spec) -> Result<Measured, String> {
        self.count += 1;
        let id = format!("stream-{}-{:08x}", self.count, spec.nonce);
        let sampler = Sampler::start(self.proc.pid, rss::children(self.proc.pid));
        self.api.enqueue([Invoke {
            request_id: Some(id.clone()),
            ..Invoke::new(spec.event())
        }]);
        let api = self.api.clone();
        let waited = tokio::select! {
            r = tokio::time::timeout(PATIENCE, api.wait_answers(1)) => r.is_ok(),
            status = self.proc.child.wait() => {
                return Err(self.failure(&format!("exited ({status:?}) during invocation {id}")));
            }
        };
        // Until the client is back on /next: the end of the stream is inside the sample.
        self.idle(&format!("the invocation after {id}")).await?;
        let peaks = sampler.finish();
        if !waited {
            return Err(self.failure(&format!("did not answer {id} in {PATIENCE:?}")));
        }
        let answer = self
            .api
            .take_answers()
            .pop()
            .ok_or_else(|| self.failure(&format!("left {id} unanswered")))?;
        let posts = self.api.posts_for(&id);
        let head = self.heads.lock().expect("heads lock").remove(&id);
        self.check(&spec, &id, &answer, &posts, head, peaks)
            .map_err(|e| self.failure(&e))
    }

    fn check(
        &self,
        spec: &Spec,
        id: &str,
        answer: &Answer,
        posts: &[Recorded],
        head: Option<Instant>,
        peaks: Peaks,
    ) -> Result<Measured, String> {
        let [post] = posts else {
            return Err(format!("posted {} times for {id}", posts.len()));
        };
        let Outcome::Response { body, trailers, .. } = &answer.outcome else {
            return Err(format!(
                "{id}: {} instead of a response",
                answer.outcome.kind()
            ));
        };
        if post.header(h::RESPONSE_MODE) != Some("streaming") {
            return Err(format!("{id}: the response was not streamed"));
        }
        if let Some(t) = trailers.as_ref().and_then(|t| t.get(h::ERROR_TYPE)) {
            return Err(format!("{id}: error trailer {t:?}"));
        }
        let ct = post.header("content-type");
        if ct != Some("application/octet-stream") {
            return Err(format!("{id}: content type {ct:?}"));
        }
        spec.check(body).map_err(|e| format!("{id}: {e}"))?;
        let head = head.ok_or_else(|| format!("{id}: the post's head was not seen"))?;
        let (first, last) = match (post.frames.first(), post.frames.last()) {
            (Some(f), Some(l)) => (f.at, l.at),
            _ => return Err(format!("{id}: no body frames recorded")),
        };
        Ok(Measured {
            bytes: body.len(),
            ttfb: (head + first).saturating_duration_since(answer.served),
            last_byte: (head + last).saturating_duration_since(answer.served),
            frames: post.frames.len(),
            peaks,
        })
    }
}

/// `{id}` of `/2018-06-01/runtime/invocation/{id}/response`.
fn request_id(path: &str) -> &str {
    path.trim_end_matches("/response")
        .rsplit('/')
        .next()
        .unwrap_or("")
}
