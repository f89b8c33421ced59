//! SIGTERM with invocations in flight: a client with `N` lanes (`AWS_LAMBDA_MAX_CONCURRENCY`)
//! gets `N` invocations whose handler sleeps `sleep`; once all `N` have been handed out (and the
//! handlers are asleep), SIGTERM. ferric should answer all `N`, poll no more, and exit 0 within
//! its kill grace of the last answer. awslambdaric is run the same way, for context.

use std::collections::HashMap;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use ferric_fake_api::{FakeApi, Kind, Options, Outcome};
use serde_json::json;

use crate::invocations;
use crate::procs;
use crate::spawn::{Launcher, Runtime, Start};

/// ferric's default `FERRIC_KILL_GRACE_MS`.
pub const GRACE: Duration = Duration::from_millis(300);

/// One SIGTERM run's outcome.
#[derive(Debug, Clone)]
pub struct Run {
    pub runtime: Runtime,
    pub in_flight: usize,
    /// In-flight invocations answered with their echo / with exactly one accepted post.
    pub answered: usize,
    pub posted_once: usize,
    pub exit: Option<ExitStatus>,
    pub term_to_last_answer: Option<Duration>,
    /// From the last answer to the exit; `None` when nothing was answered, or when an answer
    /// came after the exit (awslambdaric's forked processes outlive their parent).
    pub last_answer_to_exit: Option<Duration>,
    /// Answers that arrived after the client's process had exited.
    pub answered_after_exit: usize,
    pub term_to_exit: Option<Duration>,
    /// `/next` requests that arrived after SIGTERM.
    pub polls_after: u64,
    /// Processes of the client still running after it exited (ended by the harness).
    pub left_running: usize,
    pub failure: Option<String>,
}

impl Run {
    fn new(runtime: Runtime, in_flight: usize) -> Run {
        Run {
            runtime,
            in_flight,
            answered: 0,
            posted_once: 0,
            exit: None,
            term_to_last_answer: None,
            last_answer_to_exit: None,
            answered_after_exit: 0,
            term_to_exit: None,
            polls_after: 0,
            left_running: 0,
            failure: None,
        }
    }

    /// No work lost: everything answered once, no polling after SIGTERM, exit 0, nothing left.
    pub fn correct(&self) -> bool {
        self.failure.is_none()
            && self.answered == self.in_flight
            && self.posted_once == self.in_flight
            && self.exit.and_then(|s| s.code()) == Some(0)
            && self.polls_after == 0
            && self.left_running == 0
    }

    /// The verdict for ferric: [`Run::correct`], and the exit within the kill grace of the last
    /// answer (a timing, so it is reported, never a reason to fail the run).
    pub fn ok(&self) -> bool {
        self.correct() && self.last_answer_to_exit.is_some_and(|d| d <= GRACE)
    }
}

/// How many of `ids` the fake has handed out.
fn handed_out(api: &FakeApi, ids: &[String]) -> usize {
    api.requests()
        .iter()
        .filter(|r| r.kind == Kind::Next)
        .filter(|r| r.request_id.as_ref().is_some_and(|id| ids.contains(id)))
        .count()
}

/// Request id → accepted posts, from the fake's records.
fn accepted_posts(api: &FakeApi) -> HashMap<String, usize> {
    let mut out: HashMap<String, usize> = HashMap::new();
    for r in api.requests() {
        if matches!(r.kind, Kind::Response | Kind::Error) && r.status == Some(202) {
            if let Some(id) = r.request_id {
                *out.entry(id).or_default() += 1;
            }
        }
    }
    out
}

/// One run with a fresh client.
pub async fn run(
    launcher: &Launcher,
    runtime: Runtime,
    n: usize,
    sleep: Duration,
    log: &str,
) -> Run {
    let mut run = Run::new(runtime, n);
    if let Err(e) = run_into(launcher, n, sleep, log, &mut run).await {
        eprintln!("soak: sigterm: {}", e.lines().next().unwrap_or(""));
        run.failure = Some(e);
    }
    run
}

async fn run_into(
    launcher: &Launcher,
    n: usize,
    sleep: Duration,
    log: &str,
    run: &mut Run,
) -> Result<(), String> {
    let options = Options::default()
        .function_name("soak")
        .max_in_flight(n)
        .timeout_slack(Duration::from_millis(500));
    let api = FakeApi::start(options)
        .await
        .map_err(|e| format!("fake API: {e}"))?;
    let mut start = Start::new(run.runtime, "faulty.handler", Some(api.address()), log);
    start.concurrency = n;
    let mut client = launcher.spawn(&start)?;
    // Warm up every lane: 2N echoes, N at a time.
    let mut warm = tokio::task::JoinSet::new();
    for _ in 0..2 * n {
        let api = api.clone();
        let body = json!({"do": "echo"}).to_string();
        warm.spawn(async move {
            api.invoke(invocations::with_body(body, Duration::from_secs(60)))
                .await
        });
    }
    while let Some(done) = warm.join_next().await {
        let answer = done.map_err(|e| e.to_string())?;
        if !matches!(answer.outcome, Outcome::Response { .. }) {
            let tail = client.log_tail(8);
            return Err(format!(
                "warm-up: {}; log tail:\n{tail}",
                answer.outcome.kind()
            ));
        }
    }
    // N sleeping invocations; SIGTERM once all N are in the handlers.
    let deadline = sleep + Duration::from_secs(5);
    let body = json!({"do": "sleep", "seconds": sleep.as_secs_f64()}).to_string();
    let mut sleeping = tokio::task::JoinSet::new();
    let mut ids = Vec::new();
    for _ in 0..n {
        let invoke = invocations::with_body(body.clone(), deadline);
        ids.push(invoke.request_id.clone().unwrap_or_default());
        let api = api.clone();
        sleeping.spawn(async move {
            let answer = api.invoke(invoke).await;
            (answer, Instant::now())
        });
    }
    let until = Instant::now() + Duration::from_secs(10);
    while handed_out(&api, &ids) < n {
        if Instant::now() > until {
            return Err(format!(
                "only {} of {n} invocations were taken",
                handed_out(&api, &ids)
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let descendants = procs::children(client.pid);
    let polls_before = api.next_calls();
    let term = Instant::now();
    procs::signal(client.pid, libc::SIGTERM);
    let waited = tokio::join!(
        async {
            let mut answers = Vec::new();
            while let Some(done) = sleeping.join_next().await {
                answers.extend(done.ok());
            }
            answers
        },
        async {
            let status = client.wait_exit(sleep + Duration::from_secs(10)).await;
            (status, Instant::now())
        }
    );
    let (answers, (status, exited)) = waited;
    run.exit = status;
    run.polls_after = api.next_calls().saturating_sub(polls_before);
    let echoed = |o: &Outcome| matches!(o, Outcome::Response { body: b, .. } if invocations::check_echo(body.as_bytes(), b).is_ok());
    run.answered = answers.iter().filter(|(a, _)| echoed(&a.outcome)).count();
    let posts = accepted_posts(&api);
    run.posted_once = ids.iter().filter(|id| posts.get(*id) == Some(&1)).count();
    let last = answers
        .iter()
        .filter(|(a, _)| echoed(&a.outcome))
        .map(|(_, at)| *at)
        .max();
    if status.is_some() {
        run.term_to_exit = Some(exited - term);
        run.last_answer_to_exit = last.filter(|&l| l <= exited).map(|l| exited - l);
        run.answered_after_exit = answers
            .iter()
            .filter(|(a, at)| echoed(&a.outcome) && *at > exited)
            .count();
    }
    run.term_to_last_answer = last.map(|at| at - term);
    run.left_running =
        descendants.iter().filter(|&&p| procs::alive(p)).count() + usize::from(status.is_none());
    for p in descendants {
        procs::signal(p, libc::SIGKILL);
    }
    Ok(())
}
