//! One run in one mode: every phase of every client, interleaved, then the floors.
//!
//! All clients of the main (and then of the concurrency) session are alive at once; each phase
//! visits them in turn, in an order rotated by one client per run; the warm phase is cut into
//! chunks visited in turn. The harness calls this once per mode per run (the modes' order
//! alternating from run to run), with a spawner that pins or not.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::clients::Client;
use crate::events::{self, Payload};
use crate::floors::{self, Floor};
use crate::report::{self, ClientReport, Mode, LARGE};
use crate::session::{Live, SessionError, Spawner};

/// What one run does (the same for every client).
pub struct Plans {
    /// Cold starts per run besides the one that opens the main session.
    pub cold_extra: usize,
    pub warmup: usize,
    /// Measured warm invocations, in `chunks` chunks interleaved across the clients.
    pub warm: usize,
    pub chunks: usize,
    pub large: Vec<(Arc<Payload>, usize)>,
    pub conc_warmup: usize,
    pub conc_warm: usize,
    /// Starts per run of each start-up floor (bare interpreters).
    pub floor_starts: usize,
}

pub fn plans(smoke: bool, invocations: usize) -> Plans {
    let reps = |full: usize| if smoke { 1 } else { full };
    let mut large = Vec::new();
    for (i, (label, bytes)) in LARGE.iter().enumerate() {
        for pretty in [false, true] {
            let n = reps([20, 10, 5][i]);
            large.push((Arc::new(events::sized(label, *bytes, pretty)), n));
        }
    }
    Plans {
        cold_extra: if smoke { 0 } else { 2 },
        warmup: if smoke { 50 } else { 300 },
        warm: invocations,
        chunks: if smoke { 1 } else { 10 },
        large,
        conc_warmup: if smoke { 20 } else { 200 },
        conc_warm: if smoke { 100 } else { 2000 },
        floor_starts: reps(5),
    }
}

/// A client being measured.
pub struct Entry {
    pub client: Option<Client>,
    pub report: ClientReport,
}

/// A floor being measured.
pub struct FloorEntry {
    pub floor: Option<Floor>,
    pub report: ClientReport,
}

/// One client's state during a run.
#[derive(Default)]
struct RunState {
    metrics: BTreeMap<String, f64>,
    colds: Vec<(Duration, Duration)>,
    failed: bool,
}

/// Record a failed session: a wrong answer disqualifies the client for good.
fn fail(entry: &mut Entry, state: &mut RunState, e: SessionError) {
    eprintln!(
        "bench: {}: {}",
        entry.report.key,
        e.to_string().lines().next().unwrap_or("")
    );
    if matches!(e, SessionError::Wrong(_)) {
        entry.report.wrong = true;
        entry.report.status = Some(e.to_string());
        entry.client = None;
    }
    entry.report.errors.push(e.to_string());
    state.failed = true;
}

/// The clients and their per-run state, visited in `order`.
struct Round<'a> {
    entries: &'a mut [Entry],
    states: Vec<RunState>,
    lives: Vec<Option<Live>>,
    order: Vec<usize>,
    spawner: &'a Spawner,
}

/// One run in one mode (the spawner pins or not), the floors included.
pub async fn one_run(
    run: usize,
    mode: Mode,
    entries: &mut [Entry],
    floor_entries: &mut [FloorEntry],
    spawner: &Spawner,
    plans: &Plans,
) {
    let n = entries.len();
    let order: Vec<usize> = (0..n)
        .map(|i| (i + run) % n)
        .filter(|&i| entries[i].client.is_some())
        .collect();
    let mut r = Round {
        entries,
        states: (0..n).map(|_| RunState::default()).collect(),
        lives: (0..n).map(|_| None).collect(),
        order,
        spawner,
    };
    r.extra_colds(plans.cold_extra).await;
    r.start_all(1, plans.warmup, true).await;
    r.warm_phase(plans.warm, plans.chunks, "").await;
    r.idle_memory().await;
    r.large_events(&plans.large).await;
    r.lives.iter_mut().for_each(|l| *l = None);
    // The concurrency session: AWS_LAMBDA_MAX_CONCURRENCY=2, two invocations in flight.
    r.start_all(2, plans.conc_warmup, false).await;
    r.warm_phase(plans.conc_warm, plans.chunks, "conc_").await;
    for &i in &r.order {
        if let Some(live) = r.lives[i].take() {
            let report = &mut r.entries[i].report;
            report.conc_in_flight = report.conc_in_flight.max(live.max_in_flight());
        }
    }
    r.finish(mode);
    measure_floors(run, mode, floor_entries, spawner.pin, plans.floor_starts).await;
}

/// Each floor once, in an order rotated from run to run.
async fn measure_floors(
    run: usize,
    mode: Mode,
    floors: &mut [FloorEntry],
    pin: Option<usize>,
    starts: usize,
) {
    let n = floors.len();
    for i in (0..n).map(|i| (i + run) % n) {
        let entry = &mut floors[i];
        let Some(floor) = &entry.floor else {
            continue;
        };
        match floors::measure(floor, pin, starts).await {
            Ok(m) => entry.report.push(mode, Some(m)),
            Err(e) => {
                eprintln!("bench: floor {}: {e}", floor.spec.key);
                entry.report.errors.push(e);
                entry.report.push(mode, None);
            }
        }
    }
}

impl Round<'_> {
    /// Cold starts besides the main session's.
    async fn extra_colds(&mut self, count: usize) {
        for _ in 0..count {
            for &i in &self.order {
                let Some(client) = self.entries[i].client.clone() else {
                    continue;
                };
                match self.spawner.start(&client, 1).await {
                    Ok(live) => self.states[i]
                        .colds
                        .push((live.cold_next, live.cold_response)),
                    Err(e) => fail(&mut self.entries[i], &mut self.states[i], e),
                }
            }
        }
    }

    /// Start every client (`concurrency` lanes) and warm it up; the main session's start is
    /// also a cold start.
    async fn start_all(&mut self, concurrency: usize, warmup: usize, cold: bool) {
        for &i in &self.order {
            let Some(client) = self.entries[i].client.clone() else {
                continue;
            };
            let started = match self.spawner.start(&client, concurrency).await {
                Ok(mut live) => {
                    if cold {
                        self.states[i]
                            .colds
                            .push((live.cold_next, live.cold_response));
                    }
                    live.warmup(warmup).await.map(|()| live)
                }
                Err(e) => Err(e),
            };
            match started {
                Ok(live) => self.lives[i] = Some(live),
                Err(e) => fail(&mut self.entries[i], &mut self.states[i], e),
            }
        }
    }

    async fn idle_memory(&mut self) {
        for &i in &self.order {
            if let Some(live) = self.lives[i].as_mut() {
                let (rss, pss) = live.idle_memory_kib().await;
                let m = &mut self.states[i].metrics;
                m.insert("rss".into(), rss as f64 / 1024.0);
                m.insert("pss".into(), pss as f64 / 1024.0);
            }
        }
    }

    async fn large_events(&mut self, large: &[(Arc<Payload>, usize)]) {
        for (payload, reps) in large {
            for &i in &self.order {
                let wanted = self.entries[i]
                    .client
                    .as_ref()
                    .is_some_and(|c| c.large_events);
                let Some(live) = self.lives[i].as_mut().filter(|_| wanted) else {
                    continue;
                };
                match live.large(payload, *reps).await {
                    Ok(r) => {
                        let key = format!("echo {}", payload.name);
                        self.states[i].metrics.insert(key, millis(r.median));
                        let report = &mut self.entries[i].report;
                        report.largest_response = report.largest_response.max(r.largest_response);
                    }
                    Err(e) => {
                        self.lives[i] = None;
                        fail(&mut self.entries[i], &mut self.states[i], e);
                    }
                }
            }
        }
    }

    /// Measured 100-byte invocations, in chunks visited in turn; the figures go under
    /// `prefix` + p50, p99, throughput (and, for the main session, cpu and cpu_self).
    async fn warm_phase(&mut self, total: usize, chunks: usize, prefix: &str) {
        let chunks = chunks.clamp(1, total.max(1));
        for k in 0..chunks {
            let size = total / chunks + usize::from(k < total % chunks);
            for &i in &self.order {
                let Some(live) = self.lives[i].as_mut() else {
                    continue;
                };
                if let Err(e) = live.warm_chunk(size).await {
                    self.lives[i] = None;
                    fail(&mut self.entries[i], &mut self.states[i], e);
                }
            }
        }
        for &i in &self.order {
            let Some(w) = self.lives[i].as_ref().and_then(Live::warm_result) else {
                continue;
            };
            let ferric = self.entries[i].client.as_ref().is_some_and(|c| c.ferric);
            let m = &mut self.states[i].metrics;
            m.insert(format!("{prefix}p50"), micros(w.p50));
            m.insert(format!("{prefix}p99"), micros(w.p99));
            m.insert(format!("{prefix}throughput"), w.throughput);
            if prefix.is_empty() {
                m.insert("cpu".into(), w.cpu_us_per_invocation);
                m.insert("cpu_ticks".into(), w.cpu_us_per_invocation_ticks);
                if ferric {
                    m.insert("cpu_self".into(), w.cpu_self_us_per_invocation);
                }
            }
        }
    }

    /// File the run's figures under `mode`.
    fn finish(mut self, mode: Mode) {
        for (i, entry) in self.entries.iter_mut().enumerate() {
            if !self.order.contains(&i) {
                // Clients skipped from the start (or disqualified earlier) get an empty slot,
                // so the run indices of all clients line up for the per-run ratios.
                entry.report.push(mode, None);
                continue;
            }
            let mut state = std::mem::take(&mut self.states[i]);
            let colds = &state.colds;
            if let Some(v) = report::median(colds.iter().map(|c| millis(c.0)).collect()) {
                state.metrics.insert("cold_next".into(), v);
            }
            if let Some(v) = report::median(colds.iter().map(|c| millis(c.1)).collect()) {
                state.metrics.insert("cold_response".into(), v);
            }
            let keep = !state.metrics.is_empty() && !entry.report.wrong;
            entry.report.push(mode, keep.then_some(state.metrics));
        }
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
