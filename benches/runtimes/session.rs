//! One live client: a fake Runtime API of its own, the client process, and the phases the
//! harness drives it through. Several live clients exist at once so that the harness can
//! interleave them in small chunks (a client waiting on `/next` costs nothing), which pairs
//! their measurements in time on a noisy machine.

use std::fs::File;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferric_fake_api::{Answer, FakeApi, Invoke, Outcome, Tag};
use tokio::process::{Child, Command};

use crate::clients::{tail, Client};
use crate::events::{preview, Payload};
use crate::platform::{environment, platform};
use crate::{affinity, procfs};

/// The warm phase's figures.
#[derive(Debug, Clone)]
pub struct Warm {
    pub p50: Duration,
    pub p99: Duration,
    pub throughput: f64,
    pub cpu_us_per_invocation: f64,
    /// The client's own process alone (for ferric: ferric without its worker).
    pub cpu_self_us_per_invocation: f64,
    /// The same from `utime + stime` ticks (coarse; a cross-check).
    pub cpu_us_per_invocation_ticks: f64,
}

#[derive(Debug, Clone)]
pub struct LargeResult {
    pub median: Duration,
    pub largest_response: usize,
}

#[derive(Debug, Clone)]
pub enum SessionError {
    /// The client answered something that is not the echo (or broke the protocol).
    Wrong(String),
    /// The client could not be run to the end (init error, crash, timeout).
    Failed(String),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Wrong(m) => write!(f, "wrong answer: {m}"),
            SessionError::Failed(m) => f.write_str(m),
        }
    }
}

/// Request ids: unique in a harness run, UUID-shaped.
fn next_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}-5eed-4000-8000-{n:012x}", std::process::id())
}

/// `n` invocations of `payload`, with the headers Lambda sends (a trace id too), rendered now:
/// none of this is done while a client is being measured.
fn jobs(payload: &Arc<Payload>, n: usize) -> Vec<Invoke> {
    let tag: Tag = payload.clone();
    (0..n)
        .map(|_| {
            let id = next_id();
            let trace_id = format!(
                "Root=1-5bef4de7-{};Parent=53995c3f42cd8ad8;Sampled=0",
                &id.replace('-', "")[..24]
            );
            Invoke {
                body: payload.bytes.clone(),
                request_id: Some(id),
                trace_id: Some(trace_id),
                tag: Some(tag.clone()),
                ..Invoke::default()
            }
        })
        .collect()
}

/// The event an answer is for.
fn payload_of(answer: &Answer) -> &Payload {
    answer
        .tag_ref::<Payload>()
        .expect("every invocation is tagged with its payload")
}

/// Kills the client's process tree however the session ends.
struct TreeGuard(u32);

impl Drop for TreeGuard {
    fn drop(&mut self) {
        procfs::kill_tree(self.0);
    }
}

/// What is common to every session of a harness run.
pub struct Spawner {
    /// Pin every client (and so its whole process tree) to this CPU.
    pub pin: Option<usize>,
    pub task_root: PathBuf,
    pub log_dir: PathBuf,
    /// The 100-byte event (cold start, warm phases).
    pub small: Arc<Payload>,
}

impl Spawner {
    /// Spawn `client` with one 100-byte event queued and wait for its answer: the cold start.
    pub async fn start(&self, client: &Client, concurrency: usize) -> Result<Live, SessionError> {
        let failed = SessionError::Failed;
        let log_path = self.log_dir.join(if concurrency > 1 {
            format!("{}-concurrency-{concurrency}.log", client.key)
        } else {
            format!("{}.log", client.key)
        });
        let api = FakeApi::start(platform(concurrency))
            .await
            .map_err(|e| failed(format!("fake API: {e}")))?;
        let log = File::create(&log_path).map_err(|e| failed(e.to_string()))?;
        let log2 = log.try_clone().map_err(|e| failed(e.to_string()))?;
        let mut cmd = Command::new(&client.program);
        cmd.args(&client.args)
            .current_dir(&self.task_root)
            .env_clear()
            .envs(environment(
                client,
                &self.task_root,
                &api.address(),
                concurrency,
            ))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .kill_on_drop(true);

        if let Some(cpu) = self.pin {
            affinity::pin_command(&mut cmd, cpu);
        }
        api.enqueue(jobs(&self.small, 1));
        let spawned = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| failed(format!("cannot start {}: {e}", client.program.display())))?;
        let pid = child.id().ok_or_else(|| failed("no pid".into()))?;
        let mut live = Live {
            key: client.key,
            log_path,
            small: self.small.clone(),
            api,
            child,
            pid,
            _guard: TreeGuard(pid),
            cold_next: Duration::ZERO,
            cold_response: Duration::ZERO,
            warm: WarmTotals::default(),
        };
        let first = live.phase(1, 60, "the first invocation").await?;
        live.cold_next = live
            .api
            .first_next()
            .map(|t| t.saturating_duration_since(spawned))
            .unwrap_or_default();
        live.cold_response = first[0].answered.saturating_duration_since(spawned);
        Ok(live)
    }
}

/// The warm phase so far, summed over its chunks.
#[derive(Default)]
struct WarmTotals {
    latencies: Vec<Duration>,
    busy: Duration,
    cpu_ns: u64,
    self_ns: u64,
    ticks: u64,
    per_process: Vec<(u32, String, u64)>,
}

/// A running client.
pub struct Live {
    key: &'static str,
    log_path: PathBuf,
    small: Arc<Payload>,
    api: FakeApi,
    child: Child,
    pid: u32,
    _guard: TreeGuard,
    pub cold_next: Duration,
    pub cold_response: Duration,
    warm: WarmTotals,
}

impl Live {
    /// Send each event once; check the answers.
    pub async fn probes(&mut self, probes: &[Arc<Payload>]) -> Result<(), SessionError> {
        let all: Vec<Invoke> = probes.iter().flat_map(|p| jobs(p, 1)).collect();
        let n = all.len();
        self.api.enqueue(all);
        self.phase(n, 30, "the probe events").await.map(drop)
    }

    /// Unmeasured 100-byte invocations.
    pub async fn warmup(&mut self, n: usize) -> Result<(), SessionError> {
        if n == 0 {
            return Ok(());
        }
        self.api.enqueue(jobs(&self.small, n));
        self.phase(n, 120, "warm-up").await.map(drop)
    }

    /// `n` measured 100-byte invocations, added to the warm totals.
    pub async fn warm_chunk(&mut self, n: usize) -> Result<(), SessionError> {
        self.settle().await;
        let breakdown = std::env::var_os("BENCH_BREAKDOWN").is_some();
        let before_pp = if breakdown {
            procfs::per_process(self.pid)
        } else {
            Vec::new()
        };
        let before = procfs::usage(self.pid);
        let before_self = procfs::process_cpu_ns(self.pid);
        self.api.enqueue(jobs(&self.small, n));
        let answers = self.phase(n, 300, "the warm phase").await?;
        self.settle().await;
        let after = procfs::usage(self.pid);
        let after_self = procfs::process_cpu_ns(self.pid);
        self.warm.self_ns += after_self.saturating_sub(before_self);
        let first = answers.iter().map(|a| a.served).min();
        let last = answers.iter().map(|a| a.answered).max();
        if let (Some(first), Some(last)) = (first, last) {
            self.warm.busy += last.saturating_duration_since(first);
        }
        self.warm
            .latencies
            .extend(answers.iter().map(Answer::latency));
        self.warm.cpu_ns += after.cpu_ns.saturating_sub(before.cpu_ns);
        self.warm.ticks += after.cpu_ticks.saturating_sub(before.cpu_ticks);
        if breakdown {
            for (pid, comm, ns) in procfs::per_process(self.pid) {
                let start = before_pp.iter().find(|x| x.0 == pid).map_or(0, |x| x.2);
                let delta = ns.saturating_sub(start);
                match self.warm.per_process.iter_mut().find(|x| x.0 == pid) {
                    Some(x) => x.2 += delta,
                    None => self.warm.per_process.push((pid, comm, delta)),
                }
            }
        }
        Ok(())
    }

    /// The warm figures over all chunks so far.
    pub fn warm_result(&self) -> Option<Warm> {
        let n = self.warm.latencies.len();
        if n == 0 {
            return None;
        }
        if std::env::var_os("BENCH_BREAKDOWN").is_some() {
            // BENCH_BREAKDOWN=1: CPU per invocation of each process of the tree, on stderr.
            for (pid, comm, ns) in &self.warm.per_process {
                eprintln!(
                    "bench: {}: pid {pid} {comm}: {:.1} µs/invocation",
                    self.key,
                    *ns as f64 / 1e3 / n as f64
                );
            }
        }
        let mut lat = self.warm.latencies.clone();
        lat.sort();
        let n = n as f64;
        Some(Warm {
            p50: percentile(&lat, 0.50),
            p99: percentile(&lat, 0.99),
            throughput: n / self.warm.busy.as_secs_f64().max(1e-9),
            cpu_us_per_invocation: self.warm.cpu_ns as f64 / 1e3 / n,
            cpu_self_us_per_invocation: self.warm.self_ns as f64 / 1e3 / n,
            cpu_us_per_invocation_ticks: self.warm.ticks as f64 * 1e6
                / procfs::ticks_per_second() as f64
                / n,
        })
    }

    /// Resident memory of the process tree (RSS and PSS, KiB), after a moment of idleness.
    pub async fn idle_memory_kib(&mut self) -> (u64, u64) {
        self.settle().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if std::env::var_os("BENCH_BREAKDOWN").is_some() {
            for (pid, comm, kib) in procfs::rss_per_process(self.pid) {
                let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| {
                        ["Pss_Anon", "Pss_File", "Private_Dirty", "Shared_Clean"]
                            .iter()
                            .any(|k| l.starts_with(k))
                    })
                    .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join(", ");
                eprintln!(
                    "bench: {}: pid {pid} {comm}: idle RSS {kib} KiB ({rollup})",
                    self.key
                );
            }
        }
        let u = procfs::usage(self.pid);
        (u.rss_kib, u.pss_kib)
    }

    /// One unmeasured then `reps` measured invocations with `payload`.
    pub async fn large(
        &mut self,
        payload: &Arc<Payload>,
        reps: usize,
    ) -> Result<LargeResult, SessionError> {
        self.settle().await;
        self.api.enqueue(jobs(payload, reps + 1));
        let what = format!("the {} events", payload.name);
        let answers = self.phase(reps + 1, 300, &what).await?;
        // Answers arrive in order (one at a time): skip the unmeasured first one.
        let mut lat: Vec<Duration> = answers.iter().skip(1).map(Answer::latency).collect();
        lat.sort();
        let largest_response = answers
            .iter()
            .map(|a| a.outcome.body().map_or(0, |b| b.len()))
            .max()
            .unwrap_or(0);
        Ok(LargeResult {
            median: percentile(&lat, 0.5),
            largest_response,
        })
    }

    /// The most invocations the client had in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.api.max_in_flight()
    }

    /// Let the client get back to its `/next` (so a CPU reading covers whole invocations).
    async fn settle(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.api.wait_idle()).await;
    }

    /// Wait for `count` answers (bounded by `limit_s`, the client's exit, an init error) and
    /// check every one of them.
    async fn phase(
        &mut self,
        count: usize,
        limit_s: u64,
        what: &str,
    ) -> Result<Vec<Answer>, SessionError> {
        let api = &self.api;
        let outcome = tokio::select! {
            _ = api.wait_answers(count) => None,
            status = self.child.wait() => Some(match status {
                Ok(s) => format!("the client exited ({s}) during {what}"),
                Err(e) => format!("waiting for the client: {e}"),
            }),
            _ = tokio::time::sleep(Duration::from_secs(limit_s)) => Some(format!(
                "timed out after {limit_s} s during {what} ({} of {count} answered)", api.answer_count()
            )),
        };
        if let Some(init) = api.init_error() {
            return Err(SessionError::Failed(format!(
                "init error: {}",
                preview(&init.body)
            )));
        }
        let problems = api.problems();
        if !problems.is_empty() {
            return Err(SessionError::Wrong(problems.join("; ")));
        }
        if let Some(message) = outcome {
            let log = tail(&self.log_path, 6);
            return Err(SessionError::Failed(format!("{message}; log tail:\n{log}")));
        }
        let answers = api.take_answers();
        for a in &answers {
            let payload = payload_of(a);
            match &a.outcome {
                Outcome::Response { body, .. } => {
                    if let Err(e) = payload.check(body) {
                        return Err(SessionError::Wrong(self.save_wrong(payload, body, e)));
                    }
                }
                Outcome::Error { body, .. } => {
                    return Err(SessionError::Wrong(format!(
                        "event {:?}: posted an invocation error: {}",
                        payload.name,
                        preview(body)
                    )))
                }
                other => {
                    return Err(SessionError::Wrong(format!(
                        "event {:?}: {}: {}",
                        payload.name,
                        other.kind(),
                        preview(other.body().map_or(&[][..], |b| &b[..]))
                    )))
                }
            }
        }
        Ok(answers)
    }

    /// Keep a wrong answer and its event for inspection.
    fn save_wrong(&self, payload: &Payload, body: &[u8], message: String) -> String {
        let stem = self.log_path.with_file_name(format!("{}-wrong", self.key));
        let _ = std::fs::write(stem.with_extension("expected"), &payload.bytes);
        let _ = std::fs::write(stem.with_extension("actual"), body);
        format!(
            "{message} (both saved as {}.{{expected,actual}})",
            stem.display()
        )
    }
}

/// The `q` quantile of sorted samples (nearest rank).
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
