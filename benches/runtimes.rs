//! Benchmark harness: ferric against awslambdaric, aws-lambda-ric and a native Rust function,
//! side by side, in the same run, against a fake Runtime API built for measurement.
//!
//! ```text
//! cargo bench --bench runtimes                 # full run, writes BENCHMARKS.md (scripts/bench.sh)
//! cargo bench --bench runtimes -- --smoke      # a few hundred invocations per client, ~1 min
//! cargo bench --bench runtimes -- --help
//! ```
//!
//! Run without arguments (as `cargo test --benches` or `--all-targets` does; `cargo bench`
//! always passes `--bench`), it does a smoke run with the peers already installed and leaves
//! BENCHMARKS.md alone.
//!
//! For profiling: `BENCH_BREAKDOWN=1` prints CPU per invocation and idle memory of each process
//! of each client's tree; `BENCH_FERRIC=path` measures another ferric binary (one built with
//! symbols, for perf); `BENCH_FERRIC_ALT=path` with `--clients ...,ferric-python-alt` measures a
//! second ferric build in the same runs and adds an A/B table; `BENCH_DUMP_EVENTS=dir` writes
//! the large events out.
//!
//! Each run measures every client once, in an order rotated from run to run (interleaved, so
//! a noisy minute hurts every client alike); the report gives medians over runs and, for
//! ferric, the median of its per-run ratios to the baseline measured in the same run.
//! A client that cannot start is skipped with its reason; a client that answers anything but
//! the echo is FAILED and makes the harness exit non-zero.
//!
//! Modules: `events` (payloads, echo check), `procfs` (CPU and RSS of the client's process
//! tree), `clients` (install, build, command lines), `session` (one client process through the
//! phases), `report` (BENCHMARKS.md). The Runtime API is the shared fake, `ferric-fake-api`
//! (fake-api/), with recording off: it timestamps each invocation from the moment its `/next`
//! answer is handed to hyper until its post's body is received in full, and stores the answers
//! for the session to check after the phase.

#[path = "runtimes/clients.rs"]
mod clients;
#[path = "runtimes/events.rs"]
mod events;
#[path = "runtimes/procfs.rs"]
mod procfs;
#[path = "runtimes/report.rs"]
mod report;
#[path = "runtimes/session.rs"]
mod session;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clients::{Client, Setup, CATALOGUE, DEFAULT_CLIENTS};
use events::Payload;
use report::{ClientReport, Context, LARGE};
use session::{Live, SessionError, Spawner};

const USAGE: &str = "\
usage: cargo bench --bench runtimes -- [OPTIONS]

  --smoke             a few hundred invocations per client, 1 run; writes target/bench/smoke.md
  --runs N            interleaved runs (default 7; smoke 1)
  --invocations N     measured warm invocations per run (default 5000; smoke 300)
  --clients A,B,...   clients to measure (default: ferric-python,awslambdaric,ferric-node,
                      aws-lambda-ric,rust; also known: ferric-raw)
  --require A,B,...   exit non-zero if one of these cannot be measured (default: none)
  --out PATH          where to write the report (default BENCHMARKS.md; smoke: target/bench/smoke.md)
  --no-install        do not install missing peers (pip, npm): skip them
  --no-build          do not run cargo build (use the binaries already in target/)
  --pin               pin the harness to CPU 0 and each client (its whole process tree) to CPU 1
";

struct Options {
    smoke: bool,
    runs: usize,
    invocations: usize,
    clients: Vec<String>,
    require: Vec<String>,
    out: Option<PathBuf>,
    install: bool,
    build: bool,
    /// Pin the harness to CPU 0 and every client's process tree to CPU 1.
    pin: bool,
}

impl Options {
    fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
        let args: Vec<String> = args.collect();
        if args.is_empty() {
            // Not `cargo bench` (which passes --bench) but `cargo test --benches` or
            // `--all-targets`: a smoke run with what is installed, never BENCHMARKS.md.
            let mut o =
                Options::parse(["--smoke".to_string(), "--no-install".to_string()].into_iter())?;
            o.smoke = true;
            return Ok(o);
        }
        let args = args.into_iter();
        let mut o = Options {
            smoke: false,
            runs: 0,
            invocations: 0,
            clients: DEFAULT_CLIENTS.iter().map(|s| s.to_string()).collect(),
            require: Vec::new(),
            out: None,
            install: true,
            build: true,
            pin: false,
        };
        let mut args = args.peekable();
        let list = |v: String| -> Vec<String> {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--bench" => {} // added by `cargo bench`
                "--smoke" => o.smoke = true,
                "--runs" => o.runs = number(&value("--runs")?)?,
                "--invocations" => o.invocations = number(&value("--invocations")?)?,
                "--clients" => o.clients = list(value("--clients")?),
                "--require" => o.require = list(value("--require")?),
                "--out" => o.out = Some(PathBuf::from(value("--out")?)),
                "--no-install" => o.install = false,
                "--no-build" => o.build = false,
                "--pin" => o.pin = true,
                "-h" | "--help" => return Err("help".into()),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        for c in o.clients.iter().chain(&o.require) {
            if !CATALOGUE.iter().any(|(k, _, _)| k == c) {
                return Err(format!("unknown client {c:?}"));
            }
        }
        if o.runs == 0 {
            o.runs = if o.smoke { 1 } else { 7 };
        }
        if o.invocations == 0 {
            o.invocations = if o.smoke { 300 } else { 5000 };
        }
        Ok(o)
    }
}

fn number(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(format!("{s:?} is not a positive whole number"))
}

fn main() -> ExitCode {
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) if e == "help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("bench: {e}");
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can be built");
    rt.block_on(run(opts))
}

/// What one run does (the same for every client).
struct Plans {
    /// Cold starts per run besides the one that opens the main session.
    cold_extra: usize,
    warmup: usize,
    /// Measured warm invocations, in `chunks` chunks interleaved across the clients.
    warm: usize,
    chunks: usize,
    large: Vec<(Arc<Payload>, usize)>,
    conc_warmup: usize,
    conc_warm: usize,
}

fn plans(opts: &Options) -> Plans {
    let reps = |full: usize| if opts.smoke { 1 } else { full };
    let mut large = Vec::new();
    for (i, (label, bytes)) in LARGE.iter().enumerate() {
        for pretty in [false, true] {
            let n = reps([20, 10, 5][i]);
            large.push((Arc::new(events::sized(label, *bytes, pretty)), n));
        }
    }
    Plans {
        cold_extra: if opts.smoke { 0 } else { 2 },
        warmup: if opts.smoke { 50 } else { 300 },
        warm: opts.invocations,
        chunks: if opts.smoke { 1 } else { 10 },
        large,
        conc_warmup: if opts.smoke { 20 } else { 200 },
        conc_warm: if opts.smoke { 100 } else { 2000 },
    }
}

/// A client being measured.
struct Entry {
    client: Option<Client>,
    report: ClientReport,
}

async fn run(opts: Options) -> ExitCode {
    let started = Instant::now();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut setup = Setup::new(root.clone(), opts.install, opts.build);
    let log_dir = setup.bench_dir().join("logs");
    if let Err(e) = std::fs::create_dir_all(&log_dir).and_then(|()| setup.prepare_task_root()) {
        eprintln!("bench: cannot prepare target/bench: {e}");
        return ExitCode::from(2);
    }
    if opts.pin {
        if let Err(e) = session::pin_self(0) {
            eprintln!("bench: cannot pin the harness to CPU 0: {e}");
            return ExitCode::from(2);
        }
    }
    let load_before = read_trimmed("/proc/loadavg");
    let small = Arc::new(events::small());
    let probes: Vec<Arc<Payload>> = events::probes().into_iter().map(Arc::new).collect();
    let plans = plans(&opts);
    if let Some(dir) = std::env::var_os("BENCH_DUMP_EVENTS") {
        // BENCH_DUMP_EVENTS=dir: write the large events out (for profiling a shim by hand).
        let dir = PathBuf::from(dir);
        let _ = std::fs::create_dir_all(&dir);
        for (p, _) in &plans.large {
            let _ = std::fs::write(
                dir.join(format!("{}.json", p.name.replace(' ', "_"))),
                &p.bytes,
            );
        }
    }
    let task_root = setup.task_root();

    // Prepare every client and check it answers correctly before measuring anything.
    let mut entries = Vec::new();
    for key in &opts.clients {
        let (key, label, family) = *CATALOGUE
            .iter()
            .find(|(k, _, _)| k == key)
            .expect("checked by Options::parse");
        let mut report = ClientReport {
            key,
            label,
            family,
            command: String::new(),
            status: None,
            wrong: false,
            runs: Vec::new(),
            errors: Vec::new(),
            largest_response: 0,
            conc_in_flight: 0,
        };
        let client = match setup.prepare(key) {
            Ok(client) => {
                report.command = client.command_line(&root);
                let spawner = Spawner {
                    pin: opts.pin.then_some(1),
                    task_root: task_root.clone(),
                    log_dir: log_dir.clone(),
                    small: small.clone(),
                };
                let checked = match spawner.start(&client, 1).await {
                    Ok(mut live) => live.probes(&probes).await,
                    Err(e) => Err(e),
                };
                match checked {
                    Ok(()) => Some(client),
                    Err(e) => {
                        report.wrong = matches!(e, SessionError::Wrong(_));
                        report.status = Some(format!("smoke check: {e}"));
                        None
                    }
                }
            }
            Err(reason) => {
                report.status = Some(reason);
                None
            }
        };
        match &report.status {
            Some(s) => eprintln!(
                "bench: {key}: {} ({})",
                if report.wrong { "FAILED" } else { "skipped" },
                s.lines().next().unwrap_or("")
            ),
            None => eprintln!("bench: {key}: ready"),
        }
        entries.push(Entry { client, report });
    }

    let spawner = Spawner {
        pin: opts.pin.then_some(1),
        task_root: task_root.clone(),
        log_dir: log_dir.clone(),
        small: small.clone(),
    };
    for run in 0..opts.runs {
        let t = Instant::now();
        one_run(run, &mut entries, &spawner, &plans).await;
        eprintln!(
            "bench: run {}/{} in {:.1} s",
            run + 1,
            opts.runs,
            t.elapsed().as_secs_f64()
        );
    }

    let reports: Vec<ClientReport> = entries.into_iter().map(|e| e.report).collect();
    let ctx = Context {
        machine: machine(&root, &load_before, started.elapsed()),
        method: method(&opts, &plans),
        command: if opts.smoke {
            "cargo bench --bench runtimes -- --smoke".into()
        } else {
            "scripts/bench.sh".into()
        },
        findings: std::fs::read_to_string(root.join("benches/runtimes/findings.md")).ok(),
    };
    let text = report::render(&ctx, &reports);
    let out = opts.out.clone().unwrap_or_else(|| {
        if opts.smoke {
            setup.bench_dir().join("smoke.md")
        } else {
            root.join("BENCHMARKS.md")
        }
    });
    if let Err(e) = std::fs::write(&out, &text) {
        eprintln!("bench: cannot write {}: {e}", out.display());
        return ExitCode::from(2);
    }
    eprintln!(
        "bench: wrote {} in {:.0} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    summary(&reports, &opts)
}

/// Print the verdict and choose the exit code.
fn summary(reports: &[ClientReport], opts: &Options) -> ExitCode {
    let mut bad = false;
    for r in reports {
        if r.wrong {
            eprintln!(
                "bench: FAILED: {} gave a wrong answer: {}",
                r.key,
                r.status.as_deref().unwrap_or("")
            );
            bad = true;
        }
        if opts.require.iter().any(|k| k == r.key) && (r.status.is_some() || r.ok_runs() == 0) {
            eprintln!("bench: FAILED: required client {} was not measured", r.key);
            bad = true;
        }
    }
    if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
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

/// One run: every phase of every client, interleaved. All clients of the main (and then of
/// the concurrency) session are alive at once; each phase visits them in turn, in an order
/// rotated by one client per run; the warm phase is cut into chunks visited in turn.
async fn one_run(run: usize, entries: &mut [Entry], spawner: &Spawner, plans: &Plans) {
    let n = entries.len();
    let order: Vec<usize> = (0..n)
        .map(|i| (i + run) % n)
        .filter(|&i| entries[i].client.is_some())
        .collect();
    let mut states: Vec<RunState> = (0..n).map(|_| RunState::default()).collect();

    for _ in 0..plans.cold_extra {
        for &i in &order {
            let Some(client) = entries[i].client.clone() else {
                continue;
            };
            match spawner.start(&client, 1).await {
                Ok(live) => states[i].colds.push((live.cold_next, live.cold_response)),
                Err(e) => fail(&mut entries[i], &mut states[i], e),
            }
        }
    }

    // The main session: cold start, warm-up, warm chunks, idle RSS, large events.
    let mut lives: Vec<Option<Live>> = (0..n).map(|_| None).collect();
    for &i in &order {
        let Some(client) = entries[i].client.clone() else {
            continue;
        };
        let started = match spawner.start(&client, 1).await {
            Ok(mut live) => {
                states[i].colds.push((live.cold_next, live.cold_response));
                live.warmup(plans.warmup).await.map(|()| live)
            }
            Err(e) => Err(e),
        };
        match started {
            Ok(live) => lives[i] = Some(live),
            Err(e) => fail(&mut entries[i], &mut states[i], e),
        }
    }
    warm_phase(
        entries,
        &mut states,
        &mut lives,
        &order,
        plans.warm,
        plans.chunks,
        "",
    )
    .await;
    for &i in &order {
        if let Some(live) = lives[i].as_mut() {
            let (rss, pss) = live.idle_memory_kib().await;
            states[i].metrics.insert("rss".into(), rss as f64 / 1024.0);
            states[i].metrics.insert("pss".into(), pss as f64 / 1024.0);
        }
    }
    for (payload, reps) in &plans.large {
        for &i in &order {
            let large_events = entries[i].client.as_ref().is_some_and(|c| c.large_events);
            let Some(live) = lives[i].as_mut().filter(|_| large_events) else {
                continue;
            };
            match live.large(payload, *reps).await {
                Ok(r) => {
                    states[i]
                        .metrics
                        .insert(format!("echo {}", payload.name), millis(r.median));
                    let report = &mut entries[i].report;
                    report.largest_response = report.largest_response.max(r.largest_response);
                }
                Err(e) => {
                    lives[i] = None;
                    fail(&mut entries[i], &mut states[i], e);
                }
            }
        }
    }
    lives.iter_mut().for_each(|l| *l = None);

    // The concurrency session: AWS_LAMBDA_MAX_CONCURRENCY=2, two invocations in flight.
    for &i in &order {
        let Some(client) = entries[i].client.clone() else {
            continue;
        };
        let started = match spawner.start(&client, 2).await {
            Ok(mut live) => live.warmup(plans.conc_warmup).await.map(|()| live),
            Err(e) => Err(e),
        };
        match started {
            Ok(live) => lives[i] = Some(live),
            Err(e) => fail(&mut entries[i], &mut states[i], e),
        }
    }
    warm_phase(
        entries,
        &mut states,
        &mut lives,
        &order,
        plans.conc_warm,
        plans.chunks,
        "conc_",
    )
    .await;
    for &i in &order {
        if let Some(live) = lives[i].take() {
            let report = &mut entries[i].report;
            report.conc_in_flight = report.conc_in_flight.max(live.max_in_flight());
        }
    }

    for (i, entry) in entries.iter_mut().enumerate() {
        if !order.contains(&i) {
            continue;
        }
        let state = &mut states[i];
        let colds = &state.colds;
        if let Some(v) = report::median(colds.iter().map(|c| millis(c.0)).collect()) {
            state.metrics.insert("cold_next".into(), v);
        }
        if let Some(v) = report::median(colds.iter().map(|c| millis(c.1)).collect()) {
            state.metrics.insert("cold_response".into(), v);
        }
        let metrics = std::mem::take(&mut state.metrics);
        let keep = !metrics.is_empty() && !entry.report.wrong;
        entry.report.runs.push(keep.then_some(metrics));
    }
    // Clients skipped from the start (or disqualified earlier) get an empty slot, so the run
    // indices of all clients line up for the per-run ratios.
    for (i, entry) in entries.iter_mut().enumerate() {
        if !order.contains(&i) {
            entry.report.runs.push(None);
        }
    }
}

/// Measured 100-byte invocations, in chunks visited in turn; the figures go under
/// `prefix` + p50, p99, throughput, cpu.
async fn warm_phase(
    entries: &mut [Entry],
    states: &mut [RunState],
    lives: &mut [Option<Live>],
    order: &[usize],
    total: usize,
    chunks: usize,
    prefix: &str,
) {
    let chunks = chunks.clamp(1, total.max(1));
    for k in 0..chunks {
        let size = total / chunks + usize::from(k < total % chunks);
        for &i in order {
            let Some(live) = lives[i].as_mut() else {
                continue;
            };
            if let Err(e) = live.warm_chunk(size).await {
                lives[i] = None;
                fail(&mut entries[i], &mut states[i], e);
            }
        }
    }
    for &i in order {
        let Some(w) = lives[i].as_ref().and_then(Live::warm_result) else {
            continue;
        };
        let m = &mut states[i].metrics;
        m.insert(format!("{prefix}p50"), micros(w.p50));
        m.insert(format!("{prefix}p99"), micros(w.p99));
        m.insert(format!("{prefix}throughput"), w.throughput);
        if prefix.is_empty() {
            m.insert("cpu".into(), w.cpu_us_per_invocation);
            m.insert("cpu_ticks".into(), w.cpu_us_per_invocation_ticks);
        }
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The first line of a command's output (stdout, else stderr), or "".
fn output(program: &str, args: &[&str], cwd: &Path) -> String {
    Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

fn machine(root: &Path, load_before: &str, elapsed: Duration) -> Vec<(String, String)> {
    let cpuinfo = read_trimmed("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = read_trimmed("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0))
        .unwrap_or_default();
    let os = read_trimmed("/etc/os-release")
        .lines()
        .find_map(|l| {
            l.strip_prefix("PRETTY_NAME=")
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_default();
    let commit = output("git", &["rev-parse", "--short", "HEAD"], root);
    let dirty = !output(
        "git",
        &["status", "--porcelain", "--", "src", "Cargo.toml"],
        root,
    )
    .is_empty();
    let lambda_runtime = std::fs::read_to_string(root.join("benches/peers/rust-echo/Cargo.lock"))
        .ok()
        .and_then(|lock| {
            let at = lock.find("name = \"lambda_runtime\"")?;
            let rest = &lock[at..];
            let v = rest.lines().nth(1)?.trim().strip_prefix("version = ")?;
            Some(v.trim_matches('"').to_string())
        })
        .unwrap_or_default();
    let python = root.join(".cache/py-venv/bin/python3");
    vec![
        (
            "date".into(),
            output("date", &["-u", "+%Y-%m-%d %H:%M UTC"], root),
        ),
        (
            "CPU".into(),
            format!("{model}, {cpus} logical CPUs available"),
        ),
        ("memory".into(), mem),
        ("kernel".into(), read_trimmed("/proc/sys/kernel/osrelease")),
        ("OS".into(), os),
        (
            "load average (start → end)".into(),
            format!("{load_before} → {}", read_trimmed("/proc/loadavg")),
        ),
        (
            "ferric".into(),
            format!(
                "{commit}{}",
                if dirty { " + uncommitted changes" } else { "" }
            ),
        ),
        ("rustc".into(), output("rustc", &["-V"], root)),
        (
            "Python (venv, shared by ferric and awslambdaric)".into(),
            output(&python.display().to_string(), &["-V"], root),
        ),
        ("Node".into(), output("node", &["--version"], root)),
        (
            "peers".into(),
            format!(
                "awslambdaric {}, aws-lambda-ric {}, lambda_runtime {lambda_runtime}",
                clients::AWSLAMBDARIC_VERSION,
                clients::AWS_LAMBDA_RIC_VERSION
            ),
        ),
        (
            "harness wall time".into(),
            format!("{:.0} s", elapsed.as_secs_f64()),
        ),
    ]
}

fn method(opts: &Options, plans: &Plans) -> Vec<String> {
    let large: Vec<String> = plans
        .large
        .iter()
        .map(|(p, n)| format!("{} ({} B) ×{n}", p.name, p.bytes.len()))
        .collect();
    vec![
        format!(
            "{} run(s). In a run all clients are started and kept alive together (each with its own fake \
             Runtime API; a client waiting on `/next` costs nothing), and every phase visits them in turn, in an \
             order rotated by one client per run. So the clients are measured side by side in time, and \
             the ratio to the baseline is taken within each run.",
            opts.runs
        ),
        "The fake Runtime API (`ferric-fake-api`: hyper, HTTP/1.1, in the harness process) serves queued invocations \
         as fast as the client pulls them, at most `AWS_LAMBDA_MAX_CONCURRENCY` (default 1) in flight, with the headers \
         Lambda sends; it answers ferric's extension registration; it stores every answer and the harness \
         checks it against the event (same bytes, or the same JSON value when the client re-serialises)."
            .into(),
        format!(
            "Cold start: the client is spawned with one 100 B event queued; time from spawn to its first `/next` and \
             to its first response; the median of {} spawns per run.",
            plans.cold_extra + 1
        ),
        format!(
            "Warm: {} unmeasured then {} measured sequential invocations with a 100 B event, in {} chunks \
             (client A chunk 1, client B chunk 1, ..., client A chunk 2, ...). Latency is from the moment `/next` \
             is answered to the moment the response body is received; throughput is invocations over the time \
             from the first `/next` answered to the last response, summed over the chunks.",
            plans.warmup, plans.warm, plans.chunks
        ),
        "CPU per invocation: CPU time of the client's process tree (the client and all its descendants: \
         ferric's worker too) over the warm phase, from `/proc/<pid>/task/*/schedstat` (ns); the \
         `utime+stime` tick count of `/proc/<pid>/stat` is shown as a cross-check."
            .into(),
        "Idle RSS: sum of `VmRSS` over the process tree, 200 ms after the warm phase, the client waiting on \
         `/next`. A sum of RSS counts pages shared by several processes of the tree (libc, for ferric and its \
         worker) once per process; the PSS row (`Pss` of `/proc/<pid>/smaps_rollup`, shared pages split \
         between their users) does not, and is given as context."
            .into(),
        format!(
            "Large events, each echoed after one unmeasured invocation, median latency: {}. Pretty-printed events \
             are multi-line JSON of the same size on the wire.",
            large.join(", ")
        ),
        format!(
            "Concurrency: a fresh client with `AWS_LAMBDA_MAX_CONCURRENCY=2` and the fake API allowing 2 in flight; {} \
             unmeasured then {} measured 100 B invocations, chunked as above.",
            plans.conc_warmup, plans.conc_warm
        ),
        format!(
            "Every client gets the same Lambda-like environment (function name, version, memory, log group and \
             stream, region, `_HANDLER`, `LAMBDA_TASK_ROOT`) and its stdout and stderr go to a file \
             (target/bench/logs/). {}",
            if opts.pin {
                "Pinned (`--pin`): the harness runs on CPU 0, each client's whole process tree on CPU 1 (as on a \
                 Lambda function of up to 1,769 MB, which has at most one vCPU)."
            } else {
                "Nothing is pinned to a CPU."
            }
        ),
        "The Rust peer (benches/peers/rust-echo) is the floor: lambda_runtime with a current-thread tokio \
         runtime, deserialising the event into a `serde_json::Value` and serialising it back."
            .into(),
    ]
}
