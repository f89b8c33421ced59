//! Benchmark harness: ferric against awslambdaric, aws-lambda-ric and a native Rust function,
//! side by side, in the same run, against a fake Runtime API built for measurement; also ferric
//! with Ruby (no peer: RubyGems is unreachable here) and with a native echo worker, and the
//! floors (bare interpreters' start-up and idle memory).
//!
//! ```text
//! cargo bench --bench runtimes                 # full run, both modes, writes BENCHMARKS.md (scripts/bench.sh)
//! cargo bench --bench runtimes -- --pin        # the pinned mode only (--modes unpinned: the other)
//! cargo bench --bench runtimes -- --smoke      # a few hundred invocations per client, < 1 min
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
//! Two modes: *unpinned* (nothing pinned: a Lambda function over 1,769 MB, 2+ vCPUs) and
//! *pinned* (the harness on CPU 0, each client's whole process tree on CPU 1: a function of
//! 128–1,769 MB, at most one vCPU). Each run measures every client in each mode, the modes in an
//! order alternating from run to run and the clients in an order rotated from run to run
//! (interleaved, so a noisy minute hurts every client alike); the report gives, per mode,
//! medians over runs and, for ferric, the median of its per-run ratios to the baseline measured
//! in the same run and mode. A client that cannot start is skipped with its reason; a client
//! that answers anything but the echo is FAILED and makes the harness exit non-zero.
//!
//! Modules: `events` (payloads, echo check), `procfs` (CPU and RSS of the client's process
//! tree), `clients` (the catalogue, command lines), `install` (installing and building them),
//! `session` (one client process through the phases, CPU pinning), `runs` (one run in one
//! mode), `floors` (bare interpreters), `report` (metrics, modes, ratios, targets), `render`
//! (BENCHMARKS.md, keeping its soak block), `context` (machine, method). The Runtime API is the
//! shared fake, `ferric-fake-api` (fake-api/), with recording off: it timestamps each
//! invocation from the moment its `/next` answer is handed to hyper until its post's body is
//! received in full, and stores the answers for the session to check after the phase.

#[path = "runtimes/affinity.rs"]
mod affinity;
#[path = "runtimes/blocks.rs"]
mod blocks;
#[path = "runtimes/clients.rs"]
mod clients;
#[path = "runtimes/context.rs"]
mod context;
#[path = "runtimes/events.rs"]
mod events;
#[path = "runtimes/floors.rs"]
mod floors;
#[path = "common/lambda_env.rs"]
mod lambda_env;
#[path = "common/machine.rs"]
mod machine;
#[path = "runtimes/platform.rs"]
mod platform;
#[path = "runtimes/procfs.rs"]
mod procfs;
#[path = "runtimes/render.rs"]
mod render;
#[path = "runtimes/report.rs"]
mod report;
#[path = "runtimes/runs.rs"]
mod runs;
#[path = "runtimes/session.rs"]
mod session;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use affinity::Affinity;
use clients::{Setup, CATALOGUE, DEFAULT_CLIENTS};
use events::Payload;
use render::Context;
use report::{ClientReport, Mode};
use runs::{Entry, FloorEntry};
use session::{SessionError, Spawner};

const USAGE: &str = "\
usage: cargo bench --bench runtimes -- [OPTIONS]

  --smoke             a few hundred invocations per client, 1 run; writes target/bench/smoke.md
  --runs N            interleaved runs (default 7; smoke 1); each measures every mode
  --invocations N     measured warm invocations per run and mode (default 5000; smoke 200)
  --modes A,B         unpinned, pinned or both (default: unpinned,pinned, in every run)
  --pin               the pinned mode only (same as --modes pinned): the harness on CPU 0,
                      each client (its whole process tree) on CPU 1
  --clients A,B,...   clients to measure (default: ferric-python,awslambdaric,ferric-node,
                      aws-lambda-ric,ferric-ruby,ferric-native,rust; also known: ferric-raw,
                      ferric-python-alt, ferric-node-alt)
  --require A,B,...   exit non-zero if one of these cannot be measured (default: none)
  --out PATH          where to write the report (default BENCHMARKS.md; smoke: target/bench/smoke.md)
  --no-install        do not install missing peers (pip, npm): skip them
  --no-build          do not run cargo build (use the binaries already in target/)
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
    /// The modes each run measures, in the order of even runs.
    modes: Vec<Mode>,
    /// `--modes` or `--pin` was given (else both modes, or the unpinned one where pinning is
    /// impossible).
    modes_given: bool,
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
        let mut o = Options {
            smoke: false,
            runs: 0,
            invocations: 0,
            clients: DEFAULT_CLIENTS.iter().map(|s| s.to_string()).collect(),
            require: Vec::new(),
            out: None,
            install: true,
            build: true,
            modes: Mode::ALL.to_vec(),
            modes_given: false,
        };
        let list = |v: String| -> Vec<String> {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--bench" => {} // added by `cargo bench`
                "--smoke" => o.smoke = true,
                "--runs" => o.runs = number(&value("--runs")?)?,
                "--invocations" => o.invocations = number(&value("--invocations")?)?,
                "--modes" => {
                    o.modes = modes(list(value("--modes")?))?;
                    o.modes_given = true;
                }
                "--pin" => {
                    o.modes = vec![Mode::Pinned];
                    o.modes_given = true;
                }
                "--clients" => o.clients = list(value("--clients")?),
                "--require" => o.require = list(value("--require")?),
                "--out" => o.out = Some(PathBuf::from(value("--out")?)),
                "--no-install" => o.install = false,
                "--no-build" => o.build = false,
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
            o.invocations = if o.smoke { 200 } else { 5000 };
        }
        Ok(o)
    }
}

/// `unpinned,pinned` → the modes, each once, in that order.
fn modes(names: Vec<String>) -> Result<Vec<Mode>, String> {
    let mut out = Vec::new();
    for n in names {
        let m = Mode::parse(&n).ok_or(format!("unknown mode {n:?} (unpinned, pinned)"))?;
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err("--modes needs unpinned, pinned or both".into());
    }
    Ok(out)
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

async fn run(mut opts: Options) -> ExitCode {
    let started = Instant::now();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut setup = Setup::new(root.clone(), opts.install, opts.build);
    let log_dir = setup.bench_dir().join("logs");
    if let Err(e) = std::fs::create_dir_all(&log_dir).and_then(|()| setup.prepare_task_root()) {
        eprintln!("bench: cannot prepare target/bench: {e}");
        return ExitCode::from(2);
    }
    let affinity = match Affinity::new() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    if opts.modes.contains(&Mode::Pinned) && !affinity.can_pin() {
        if opts.modes_given {
            eprintln!("bench: the pinned mode needs CPUs 0 and 1 (try --modes unpinned)");
            return ExitCode::from(2);
        }
        eprintln!("bench: CPUs 0 and 1 are not both available: measuring the unpinned mode only");
        opts.modes = vec![Mode::Unpinned];
    }
    let load_before = machine::read_trimmed("/proc/loadavg");
    let plans = runs::plans(opts.smoke, opts.invocations);
    dump_events(&plans);
    let spawner = |pin: Option<usize>| Spawner {
        pin,
        task_root: setup.task_root(),
        log_dir: log_dir.clone(),
        small: Arc::new(events::small()),
    };
    let spawners = [spawner(None), spawner(Some(1))];
    let mut entries = prepare_clients(&opts, &mut setup, &spawners[0]).await;
    let mut floors: Vec<FloorEntry> = floors::prepare(&root)
        .into_iter()
        .map(|(floor, report)| FloorEntry { floor, report })
        .collect();
    let measured = measure(
        &opts,
        &affinity,
        &mut entries,
        &mut floors,
        &spawners,
        &plans,
    );
    if let Err(e) = measured.await {
        eprintln!("bench: cannot set the harness's CPU affinity: {e}");
        return ExitCode::from(2);
    }

    let reports: Vec<ClientReport> = entries.into_iter().map(|e| e.report).collect();
    let floor_reports: Vec<ClientReport> = floors.into_iter().map(|f| f.report).collect();
    let ctx = Context {
        machine: context::machine(&root, &load_before, started.elapsed()),
        method: context::method(opts.runs, &opts.modes, &plans),
        command: if opts.smoke {
            "cargo bench --bench runtimes -- --smoke".into()
        } else {
            "scripts/bench.sh".into()
        },
        findings: std::fs::read_to_string(root.join("benches/runtimes/findings.md")).ok(),
        modes: opts.modes.clone(),
    };
    if let Err(e) = write_report(&opts, &setup, &ctx, &reports, &floor_reports) {
        eprintln!("bench: {e}");
        return ExitCode::from(2);
    }
    eprintln!("bench: done in {:.0} s", started.elapsed().as_secs_f64());
    summary(&reports, &opts)
}

/// Every run, each in every mode (`spawners`: unpinned, pinned), the modes' order alternating
/// from run to run.
async fn measure(
    opts: &Options,
    affinity: &Affinity,
    entries: &mut [Entry],
    floors: &mut [FloorEntry],
    spawners: &[Spawner; 2],
    plans: &runs::Plans,
) -> std::io::Result<()> {
    for run in 0..opts.runs {
        let t = Instant::now();
        let mut modes = opts.modes.clone();
        if run % 2 == 1 {
            modes.reverse();
        }
        for mode in modes {
            affinity.enter(mode)?;
            let spawner = &spawners[usize::from(mode == Mode::Pinned)];
            runs::one_run(run, mode, entries, floors, spawner, plans).await;
        }
        eprintln!(
            "bench: run {}/{} in {:.1} s",
            run + 1,
            opts.runs,
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Write the report where `--out` says (default BENCHMARKS.md; smoke: target/bench/smoke.md),
/// carrying over the soak block of the file replaced (else of BENCHMARKS.md).
fn write_report(
    opts: &Options,
    setup: &Setup,
    ctx: &Context,
    reports: &[ClientReport],
    floor_reports: &[ClientReport],
) -> Result<(), String> {
    let benchmarks = setup.root.join("BENCHMARKS.md");
    let out = opts.out.clone().unwrap_or_else(|| {
        if opts.smoke {
            setup.bench_dir().join("smoke.md")
        } else {
            benchmarks.clone()
        }
    });
    let previous = [&out, &benchmarks]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find(|t| !blocks::kept_blocks(t).is_empty());
    let text = render::render(ctx, reports, floor_reports, previous.as_deref());
    std::fs::write(&out, &text).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    eprintln!("bench: wrote {}", out.display());
    Ok(())
}

/// BENCH_DUMP_EVENTS=dir: write the large events out (for profiling a shim by hand).
fn dump_events(plans: &runs::Plans) {
    let Some(dir) = std::env::var_os("BENCH_DUMP_EVENTS") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let _ = std::fs::create_dir_all(&dir);
    for (p, _) in &plans.large {
        let name = format!("{}.json", p.name.replace(' ', "_"));
        let _ = std::fs::write(dir.join(name), &p.bytes);
    }
}

/// Prepare every client and check it answers correctly before measuring anything.
async fn prepare_clients(opts: &Options, setup: &mut Setup, spawner: &Spawner) -> Vec<Entry> {
    let probes: Vec<Arc<Payload>> = events::probes().into_iter().map(Arc::new).collect();
    let mut entries = Vec::new();
    for key in &opts.clients {
        let (key, label, family) = *CATALOGUE
            .iter()
            .find(|(k, _, _)| k == key)
            .expect("checked by Options::parse");
        let mut report = ClientReport::new(key, label, family);
        let client = match setup.prepare(key) {
            Ok(client) => {
                report.command = client.command_line(&setup.root);
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
    entries
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
