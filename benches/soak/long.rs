//! Long runs through the fake Runtime API: ferric (Python shim) and awslambdaric with the echo
//! handler, alive together, fed in turn chunk by chunk (so a noisy minute hurts both alike),
//! sampled at checkpoints while idle on `/next`.

use std::time::{Duration, Instant};

use ferric_fake_api::{FakeApi, Options};

use crate::invocations;
use crate::sample::{self, Sample};
use crate::spawn::{Client, Launcher, Runtime, Start};

/// How long one run is.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Measured invocations per client.
    pub invocations: u64,
    /// Unmeasured invocations before the first sample.
    pub warmup: u64,
    /// Samples after the first (evenly spaced; the last one at the end).
    pub checkpoints: u64,
    /// Invocations fed to one client before the other gets its turn.
    pub chunk: u64,
}

/// One client's run.
#[derive(Debug, Clone)]
pub struct Series {
    pub runtime: Runtime,
    /// The sample after warm-up, then one per checkpoint.
    pub samples: Vec<Sample>,
    /// Invocations per second of each chunk (first `/next` answered to last post received).
    pub rates: Vec<f64>,
    /// Time spent feeding this client (its chunks, checks included), warm-up excluded.
    pub wall: Duration,
    pub answered: u64,
    /// Why the run stopped early, if it did.
    pub failure: Option<String>,
}

impl Series {
    pub fn new(runtime: Runtime) -> Series {
        Series {
            runtime,
            samples: Vec::new(),
            rates: Vec::new(),
            wall: Duration::ZERO,
            answered: 0,
            failure: None,
        }
    }
}

/// The platform of a long run: one invocation in flight, nothing recorded.
fn platform() -> Options {
    Options::default()
        .function_name("soak")
        .function_timeout(Duration::from_secs(900))
        .record(false)
}

/// Split `total` into `parts` nearly equal whole numbers.
pub fn segments(total: u64, parts: u64) -> Vec<u64> {
    let parts = parts.clamp(1, total.max(1));
    (0..parts)
        .map(|k| total / parts + u64::from(k < total % parts))
        .collect()
}

/// A client and its own fake Runtime API.
struct Running {
    api: FakeApi,
    client: Client,
}

impl Running {
    async fn start(launcher: &Launcher, runtime: Runtime, log: &str) -> Result<Running, String> {
        let api = FakeApi::start(platform())
            .await
            .map_err(|e| format!("fake API: {e}"))?;
        let start = Start::new(runtime, "echo.handler", Some(api.address()), log);
        let client = launcher.spawn(&start)?;
        Ok(Running { api, client })
    }

    async fn idle(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.api.wait_idle()).await;
    }

    /// Send `n` invocations and check every answer; returns their rate.
    async fn feed(&mut self, n: u64) -> Result<f64, String> {
        self.idle().await;
        self.api.enqueue(invocations::batch(n));
        let limit = Duration::from_secs(120 + n / 100);
        let stopped = tokio::select! {
            _ = self.api.wait_answers(n as usize) => None,
            message = self.client.exited() => Some(message),
            _ = tokio::time::sleep(limit) => Some(format!(
                "timed out after {} s ({} of {n} answered)", limit.as_secs(), self.api.answer_count()
            )),
        };
        if let Some(init) = self.api.init_error() {
            let body = ferric_fake_api::preview(&init.body);
            return Err(format!("init error: {body}"));
        }
        let problems = self.api.problems();
        if !problems.is_empty() {
            return Err(format!("refused posts: {}", problems.join("; ")));
        }
        if let Some(message) = stopped {
            return Err(format!("{message}; log tail:\n{}", self.client.log_tail(8)));
        }
        let answers = self.api.take_answers();
        for a in &answers {
            invocations::check_answer(a)?;
        }
        let first = answers.iter().map(|a| a.served).min();
        let last = answers.iter().map(|a| a.answered).max();
        let busy = match (first, last) {
            (Some(f), Some(l)) => l.saturating_duration_since(f),
            _ => Duration::ZERO,
        };
        Ok(n as f64 / busy.as_secs_f64().max(1e-9))
    }

    async fn sample(&self, done: u64) -> Result<Sample, String> {
        self.idle().await;
        sample::take(self.client.pid, done)
            .await
            .ok_or_else(|| "the client is gone".to_string())
    }
}

/// A client in a run: running until it fails.
struct Live {
    running: Option<Running>,
    series: Series,
}

impl Live {
    fn fail(&mut self, e: String) {
        let first = e.lines().next().unwrap_or("").to_string();
        eprintln!("soak: {}: {first}", self.series.runtime.key());
        self.series.failure = Some(e);
        self.running = None;
    }

    /// Start, warm up, take the first sample.
    async fn start(launcher: &Launcher, runtime: Runtime, plan: &Plan, tag: &str) -> Live {
        let mut live = Live {
            running: None,
            series: Series::new(runtime),
        };
        let log = format!("{tag}-{}.log", runtime.key());
        let started = async {
            let mut r = Running::start(launcher, runtime, &log).await?;
            r.feed(plan.warmup.max(1)).await?;
            let first = r.sample(0).await?;
            Ok::<_, String>((r, first))
        };
        match started.await {
            Ok((r, first)) => {
                live.running = Some(r);
                live.series.samples.push(first);
            }
            Err(e) => live.fail(e),
        }
        live
    }

    async fn chunk(&mut self, n: u64) {
        let Some(r) = self.running.as_mut() else {
            return;
        };
        let t = Instant::now();
        let fed = r.feed(n).await;
        self.series.wall += t.elapsed();
        match fed {
            Ok(rate) => {
                self.series.rates.push(rate);
                self.series.answered += n;
            }
            Err(e) => self.fail(e),
        }
    }

    async fn checkpoint(&mut self) {
        let Some(r) = self.running.as_ref() else {
            return;
        };
        match r.sample(self.series.answered).await {
            Ok(s) => self.series.samples.push(s),
            Err(e) => self.fail(e),
        }
    }
}

/// One run of every client in `runtimes`, interleaved; `tag` names the logs.
pub async fn run(launcher: &Launcher, runtimes: &[Runtime], plan: &Plan, tag: &str) -> Vec<Series> {
    let mut lives = Vec::new();
    for &runtime in runtimes {
        lives.push(Live::start(launcher, runtime, plan, tag).await);
    }
    let started = Instant::now();
    for (k, segment) in segments(plan.invocations, plan.checkpoints)
        .into_iter()
        .enumerate()
    {
        for chunk in segments(segment, segment.div_ceil(plan.chunk.max(1))) {
            // The order of the clients rotates from chunk to chunk.
            let n = lives.len();
            for i in 0..n {
                lives[(i + k) % n].chunk(chunk).await;
            }
        }
        for live in &mut lives {
            live.checkpoint().await;
        }
        progress(tag, &lives, started.elapsed());
    }
    lives.into_iter().map(|l| l.series).collect()
}

/// One line on stderr per checkpoint.
fn progress(tag: &str, lives: &[Live], elapsed: Duration) {
    let parts: Vec<String> = lives
        .iter()
        .map(|l| {
            let s = &l.series;
            let last = s.samples.last();
            let mib = |kib: u64| kib as f64 / 1024.0;
            match last {
                Some(x) => format!(
                    "{} {} done, RSS {:.2}{} MiB, fds {}{}",
                    s.runtime.key(),
                    s.answered,
                    mib(x.main.rss_kib),
                    x.workers
                        .iter()
                        .map(|w| format!(" + {:.2}", mib(w.rss_kib)))
                        .collect::<String>(),
                    x.main.fds,
                    x.workers
                        .iter()
                        .map(|w| format!(" + {}", w.fds))
                        .collect::<String>(),
                ),
                None => format!("{} failed", s.runtime.key()),
            }
        })
        .collect();
    eprintln!(
        "soak: {tag}: {:.0} s: {}",
        elapsed.as_secs_f64(),
        parts.join("; ")
    );
}
