//! Faults under lanes: ferric with `AWS_LAMBDA_MAX_CONCURRENCY=4` against a fake allowing 4 in
//! flight, 4 invokers × `per_lane` invocations, every 7th a crash (`os._exit(1)`) and every 13th
//! (unless also a 7th) a hang past a 1 s deadline. Every answer is classified; the fake's
//! records say whether each request id got exactly one accepted post.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ferric_fake_api::{FakeApi, Invoked, Kind, Options, Outcome};
use serde_json::json;

use crate::invocations;
use crate::procs::{self, Reading};
use crate::sample;
use crate::spawn::{Client, Launcher, Runtime, Start};

/// What one scenario does.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub lanes: usize,
    pub per_lane: u64,
    pub crash_every: u64,
    pub timeout_every: u64,
    /// The deadline of a hanging invocation (the others get 30 s).
    pub timeout: Duration,
}

/// What the handler is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expect {
    Echo,
    Crash,
    Hang,
}

impl Plan {
    /// The `k`-th invocation of a lane (1-based).
    pub fn expect(&self, k: u64) -> Expect {
        if k % self.crash_every == 0 {
            Expect::Crash
        } else if k % self.timeout_every == 0 {
            Expect::Hang
        } else {
            Expect::Echo
        }
    }

    /// How many of each kind the scenario sends: (echo, crash, hang).
    pub fn expected(&self) -> (u64, u64, u64) {
        let mut counts = (0, 0, 0);
        for k in 1..=self.per_lane {
            match self.expect(k) {
                Expect::Echo => counts.0 += 1,
                Expect::Crash => counts.1 += 1,
                Expect::Hang => counts.2 += 1,
            }
        }
        let lanes = self.lanes as u64;
        (counts.0 * lanes, counts.1 * lanes, counts.2 * lanes)
    }
}

/// One scenario's outcome.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Echoes answered with the event.
    pub responses: u64,
    pub exit_errors: u64,
    pub timeouts: u64,
    /// Answers of another kind than asked for, with what they were.
    pub wrong: Vec<String>,
    /// Request ids without an accepted post / with more than one.
    pub lost: u64,
    pub twice: u64,
    /// Posts the fake refused (unknown, settled or timed-out ids).
    pub refused: u64,
    pub wall: Duration,
    /// Median time to the answer, by kind: echo, crash, hang.
    pub latency: [Duration; 3],
    /// ferric's own process after warm-up and at the end.
    pub ferric_before: Reading,
    pub ferric_after: Reading,
    /// ferric's workers at the end (one per lane expected).
    pub workers_after: usize,
    pub failure: Option<String>,
}

fn event(e: Expect, lane: usize, k: u64) -> String {
    let what = match e {
        Expect::Echo => "echo",
        Expect::Crash => "crash",
        Expect::Hang => "hang",
    };
    json!({"do": what, "lane": lane, "k": k}).to_string()
}

/// One invocation as sent and answered.
struct Sent {
    expect: Expect,
    event: String,
    answer: Invoked,
    took: Duration,
}

/// One lane's invocations, one at a time.
async fn invoker(api: FakeApi, plan: Plan, lane: usize) -> Vec<Sent> {
    let mut out = Vec::new();
    for k in 1..=plan.per_lane {
        let e = plan.expect(k);
        let timeout = match e {
            Expect::Hang => plan.timeout,
            _ => Duration::from_secs(30),
        };
        let body = event(e, lane, k);
        let invoke = invocations::with_body(body.clone(), timeout);
        let t = Instant::now();
        let answer = api.invoke(invoke).await;
        out.push(Sent {
            expect: e,
            event: body,
            answer,
            took: t.elapsed(),
        });
    }
    out
}

fn error_type(outcome: &Outcome) -> String {
    outcome
        .header("lambda-runtime-function-error-type")
        .unwrap_or("?")
        .to_string()
}

/// Sort one answer into the run's counts.
fn classify(run: &mut Run, e: Expect, answer: &Invoked, sent: &str) {
    let got = match &answer.outcome {
        Outcome::Response { body, .. }
            if invocations::check_echo(sent.as_bytes(), body).is_ok() =>
        {
            "response".to_string()
        }
        Outcome::Response { .. } => "a response that is not the echo".to_string(),
        Outcome::Error { .. } => error_type(&answer.outcome),
        other => other.kind().to_string(),
    };
    match (e, got.as_str()) {
        (Expect::Echo, "response") => run.responses += 1,
        (Expect::Crash, "Runtime.ExitError") => run.exit_errors += 1,
        (Expect::Hang, "Runtime.Timeout") => run.timeouts += 1,
        _ => run
            .wrong
            .push(format!("{e:?} {}: {got}", answer.request_id)),
    }
}

/// From the fake's records: request ids without an accepted post, with more than one.
fn exactly_once(api: &FakeApi, ids: &[String]) -> (u64, u64) {
    let mut accepted: HashMap<String, u64> = HashMap::new();
    for r in api.requests() {
        if matches!(r.kind, Kind::Response | Kind::Error) && r.status == Some(202) {
            if let Some(id) = r.request_id {
                *accepted.entry(id).or_default() += 1;
            }
        }
    }
    let lost = ids.iter().filter(|id| !accepted.contains_key(*id)).count() as u64;
    let twice = accepted.values().filter(|&&n| n > 1).count() as u64;
    (lost, twice)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Wait until `lanes` workers run under ferric (replacements start in the background).
async fn workers_settled(pid: u32, lanes: usize) -> usize {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let n = procs::children(pid).len();
        if n >= lanes || Instant::now() > until {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// ferric started with `plan.lanes` lanes and warmed up (every lane has answered).
async fn start(launcher: &Launcher, plan: &Plan, log: &str) -> Result<(FakeApi, Client), String> {
    let options = Options::default()
        .function_name("soak")
        .max_in_flight(plan.lanes);
    let api = FakeApi::start(options)
        .await
        .map_err(|e| format!("fake API: {e}"))?;
    let mut start = Start::new(Runtime::Ferric, "faulty.handler", Some(api.address()), log);
    start.concurrency = plan.lanes;
    let client = launcher.spawn(&start)?;
    let mut warm = tokio::task::JoinSet::new();
    for lane in 0..plan.lanes * 2 {
        let api = api.clone();
        let body = event(Expect::Echo, lane, 0);
        warm.spawn(async move {
            let invoke = invocations::with_body(body, Duration::from_secs(60));
            api.invoke(invoke).await
        });
    }
    while let Some(done) = warm.join_next().await {
        let answer = done.map_err(|e| e.to_string())?;
        if !matches!(answer.outcome, Outcome::Response { .. }) {
            let tail = client.log_tail(8);
            return Err(format!(
                "warm-up: {:?}; log tail:\n{tail}",
                answer.outcome.kind()
            ));
        }
    }
    Ok((api, client))
}

/// One scenario with a fresh ferric.
pub async fn run(launcher: &Launcher, plan: &Plan, log: &str) -> Run {
    let mut run = Run::default();
    if let Err(e) = run_into(launcher, plan, log, &mut run).await {
        eprintln!("soak: faults: {}", e.lines().next().unwrap_or(""));
        run.failure = Some(e);
    }
    run
}

async fn run_into(
    launcher: &Launcher,
    plan: &Plan,
    log: &str,
    run: &mut Run,
) -> Result<(), String> {
    let (api, client) = start(launcher, plan, log).await?;
    workers_settled(client.pid, plan.lanes).await;
    let gone = || "ferric is gone".to_string();
    run.ferric_before = sample::take(client.pid, 0).await.ok_or_else(gone)?.main;
    let started = Instant::now();
    let mut lanes = tokio::task::JoinSet::new();
    for lane in 0..plan.lanes {
        lanes.spawn(invoker(api.clone(), *plan, lane));
    }
    let mut answers = Vec::new();
    while let Some(done) = lanes.join_next().await {
        answers.extend(done.map_err(|e| e.to_string())?);
    }
    run.wall = started.elapsed();
    let mut latencies: [Vec<Duration>; 3] = Default::default();
    let mut ids = Vec::new();
    for sent in &answers {
        classify(run, sent.expect, &sent.answer, &sent.event);
        latencies[sent.expect as usize].push(sent.took);
        ids.push(sent.answer.request_id.clone());
    }
    run.latency = latencies.map(median);
    (run.lost, run.twice) = exactly_once(&api, &ids);
    run.refused = api.problems().len() as u64;
    run.workers_after = workers_settled(client.pid, plan.lanes).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), api.wait_idle()).await;
    run.ferric_after = sample::take(client.pid, 0).await.ok_or_else(gone)?.main;
    Ok(())
}
