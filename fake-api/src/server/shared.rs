//! What the connections share: queueing invocations, handing them to `/next`, settling them,
//! and what the control API reads and waits for.

use super::*;

impl Shared {
    pub fn new(options: Options) -> Arc<Shared> {
        let arn = HeaderValue::from_str(&options.function_arn)
            .unwrap_or_else(|_| HeaderValue::from_static("arn:invalid"));
        let mut builder = http1::Builder::new();
        // Trailers (a streamed response's error body) may be up to 1 MiB; request heads are
        // bounded by the read buffer (RAPID, a Go server, allows 1 MB of headers).
        builder.max_buf_size(2 * 1024 * 1024);
        builder.max_header_size(1024 * 1024);
        Arc::new(Shared {
            options,
            arn,
            state: Mutex::default(),
            faults: Mutex::default(),
            faults_armed: AtomicBool::new(false),
            posts: AtomicU64::new(0),
            changed: Notify::new(),
            stop: watch::channel(false).0,
            started: Instant::now(),
            builder,
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state worse than serving on.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn faults(&self, f: impl FnOnce(&mut Faults)) {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut faults);
        self.faults_armed
            .store(!faults.is_empty(), Ordering::Release);
    }

    pub(super) fn decide(&self, seen: &Seen<'_>) -> Option<Fault> {
        if !self.faults_armed.load(Ordering::Acquire) {
            return None;
        }
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let fault = faults.decide(seen);
        self.faults_armed
            .store(!faults.is_empty(), Ordering::Release);
        fault.filter(|f| *f != Fault::Pass)
    }

    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Wait until `pred` holds (re-checked on every change).
    pub async fn wait_for(&self, pred: impl Fn(&State) -> bool) {
        loop {
            let mut notified = pin!(self.changed.notified());
            notified.as_mut().enable();
            if pred(&self.lock()) {
                return;
            }
            notified.await;
        }
    }

    /// The `/next` headers of an invocation.
    pub(super) fn render_head(&self, id: &str, job_invoke: &Invoke, deadline_ms: u64) -> HeaderMap {
        let mut m = HeaderMap::with_capacity(8 + job_invoke.headers.len());
        let mut set = |name: &'static str, value: Option<&str>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                match HeaderValue::from_str(v) {
                    Ok(v) => {
                        m.insert(name, v);
                    }
                    Err(_) => panic!("{name}: {v:?} cannot be sent as a header value"),
                }
            }
        };
        let i = job_invoke;
        set(h::REQUEST_ID, Some(id));
        set(h::DEADLINE_MS, Some(&deadline_ms.to_string()));
        set(h::TRACE_ID, i.trace_id.as_deref());
        set(h::CLIENT_CONTEXT, i.client_context.as_deref());
        set(h::COGNITO_IDENTITY, i.cognito_identity.as_deref());
        set(h::TENANT_ID, i.tenant_id.as_deref());
        set(h::INVOCATION_ID, i.invocation_id.as_deref());
        set(
            "content-type",
            Some(i.content_type.as_deref().unwrap_or("application/json")),
        );
        if !self.arn.is_empty() {
            m.insert(h::FUNCTION_ARN, self.arn.clone());
        }
        for (name, value) in &i.headers {
            match value {
                Some(v) => {
                    m.insert(name.clone(), v.clone());
                }
                None => {
                    m.remove(name);
                }
            }
        }
        m
    }

    pub(super) fn job(
        &self,
        mut invoke: Invoke,
        reply: impl FnOnce(Option<Tag>) -> Reply,
    ) -> (String, Job) {
        let id = invoke
            .request_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let timeout = invoke.timeout.unwrap_or(self.options.function_timeout);
        let deadline_ms = invoke
            .deadline_ms
            .unwrap_or_else(|| epoch_ms() + timeout.as_millis() as u64);
        let head = self.render_head(&id, &invoke, deadline_ms);
        let tag = invoke.tag.take();
        (
            id,
            Job {
                invoke,
                deadline_ms,
                head: Some(head),
                reply: reply(tag),
            },
        )
    }

    /// Queue a job, or settle it at once after an init error.
    pub(super) fn queue(&self, s: &mut State, id: String, job: Job) {
        match &s.init_error {
            Some(e) => {
                let outcome = Outcome::InitError {
                    headers: e.headers.clone(),
                    body: e.body.clone(),
                };
                let now = Instant::now();
                let f = InFlight { job, served: now };
                s.settle(id, f, now, outcome);
            }
            None => s.queue.push_back((id, job)),
        }
    }

    pub async fn invoke(&self, invoke: Invoke) -> Invoked {
        let timeout = invoke.timeout.unwrap_or(self.options.function_timeout);
        let (tx, rx) = oneshot::channel();
        let (id, job) = self.job(invoke, |_| Reply::Waiter(tx));
        let request_id = id.clone();
        self.queue(&mut self.lock(), id, job);
        self.changed.notify_waiters();
        let outcome = match tokio::time::timeout(timeout + self.options.timeout_slack, rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) | Err(_) => {
                let mut s = self.lock();
                s.queue.retain(|(id, _)| *id != request_id);
                if s.in_flight.remove(&request_id).is_some() {
                    s.remember(&request_id, Ended::TimedOut);
                }
                drop(s);
                self.changed.notify_waiters();
                Outcome::TimedOut
            }
        };
        Invoked {
            request_id,
            outcome,
        }
    }

    pub fn enqueue(&self, invokes: impl IntoIterator<Item = Invoke>) {
        let jobs: Vec<(String, Job)> = invokes
            .into_iter()
            .map(|i| self.job(i, Reply::Answer))
            .collect();
        {
            let mut s = self.lock();
            for (id, job) in jobs {
                self.queue(&mut s, id, job);
            }
        }
        self.changed.notify_waiters();
    }

    pub fn reset(&self) {
        {
            let mut s = self.lock();
            let base = s.records_base + s.records.len();
            *s = State {
                records_base: base,
                ..State::default()
            };
            self.posts.store(0, Ordering::Relaxed);
        }
        self.changed.notify_waiters();
    }

    pub(super) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}
