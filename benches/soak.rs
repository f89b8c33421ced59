//! The long-run check (issue 10): memory and descriptors of ferric and its worker over a
//! million invocations, side by side with awslambdaric; faults under lanes; SIGTERM with
//! invocations in flight. Measurements, not timed tests: it reports, and fails only on a wrong
//! or lost answer, a doubled post, or a SIGTERM that loses work.
//!
//! ```text
//! scripts/soak.sh                            # everything, full counts; writes benches/SOAK.md
//! cargo bench --bench soak -- --smoke        # a few thousand invocations, seconds
//! cargo bench --bench soak -- --parts long --invocations 100000
//! cargo bench --bench soak -- --help
//! ```
//!
//! Without arguments (as `cargo test --benches` runs it) it does the smoke run with what is
//! installed and writes nothing but target/soak/.
//!
//! Modules: `invocations` (unique events, request and trace ids, Lambda's headers, the echo
//! check), `spawn` (the clients, their environment and process groups), `procs` + `sample`
//! (RSS, PSS, fds from /proc), `long` (runs through the fake Runtime API, interleaved),
//! `emulator` (ferric's RIE invoke endpoint), `faults` (lanes with crashes and timeouts),
//! `sigterm`, `report` + `outcomes` + `page` + `summary` (SOAK.md). Reused from the peer benchmark:
//! `runtimes/clients.rs` (builds ferric, installs awslambdaric into .cache/py-venv).

#[allow(dead_code)] // the peer benchmark's catalogue: only ferric and the venv are used here
#[path = "runtimes/clients.rs"]
mod clients;
#[path = "soak/emulator.rs"]
mod emulator;
#[path = "soak/faults.rs"]
mod faults;
#[path = "soak/invocations.rs"]
mod invocations;
#[path = "common/lambda_env.rs"]
mod lambda_env;
#[path = "soak/long.rs"]
mod long;
#[path = "common/machine.rs"]
mod machine;
#[path = "soak/options.rs"]
mod options;
#[path = "soak/outcomes.rs"]
mod outcomes;
#[path = "soak/page.rs"]
mod page;
#[path = "soak/procs.rs"]
mod procs;
#[path = "soak/report.rs"]
mod report;
#[path = "soak/sample.rs"]
mod sample;
#[path = "soak/sigterm.rs"]
mod sigterm;
#[path = "soak/spawn.rs"]
mod spawn;
#[path = "soak/summary.rs"]
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use options::{Opts, Part, USAGE};
use page::{Part as Done, Results};
use spawn::{Launcher, Runtime};

fn main() -> ExitCode {
    let opts = match Opts::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) if e == "help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("soak: {e}");
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

/// Build ferric, find the venv, fill target/soak/task.
fn prepare(opts: &Opts) -> Result<Launcher, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut setup = clients::Setup::new(root.clone(), opts.install, opts.build);
    // The peer benchmark's Setup logs builds and installs to target/bench/install.log.
    std::fs::create_dir_all(setup.bench_dir()).map_err(|e| e.to_string())?;
    let ferric = setup.prepare("ferric-python")?.program;
    let python = setup.prepare("awslambdaric")?.program;
    let dir = root.join("target/soak");
    let task_root = dir.join("task");
    let log_dir = dir.join("logs");
    let copy = |from: &str, to: &str| {
        std::fs::copy(root.join(from), task_root.join(to))
            .map(drop)
            .map_err(|e| format!("{from}: {e}"))
    };
    std::fs::create_dir_all(&task_root).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&log_dir).map_err(|e| e.to_string())?;
    copy("benches/handlers/echo.py", "echo.py")?;
    copy("benches/soak/faulty.py", "faulty.py")?;
    Ok(Launcher {
        ferric,
        python,
        task_root,
        log_dir,
    })
}

async fn run(opts: Opts) -> ExitCode {
    let started = Instant::now();
    let launcher = match prepare(&opts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::from(2);
        }
    };
    let load_before = machine::read_trimmed("/proc/loadavg");
    let mut results = Results::default();
    let peers: Vec<Runtime> = if opts.awslambdaric {
        vec![Runtime::Ferric, Runtime::Awslambdaric]
    } else {
        vec![Runtime::Ferric]
    };
    for part in &opts.parts {
        let t = Instant::now();
        eprintln!("soak: == {}", part.title());
        match part {
            Part::Long => {
                let v = long::run(&launcher, &peers, &opts.long, "long").await;
                results.long = Some(Done::new(t, v));
            }
            Part::Medium => {
                let mut all = Vec::new();
                for i in 0..opts.medium_runs {
                    let tag = format!("medium-{}", i + 1);
                    all.push(long::run(&launcher, &peers, &opts.medium, &tag).await);
                }
                results.medium = Some(Done::new(t, all));
            }
            Part::Emulator => {
                let v = emulator::run(&launcher, &opts.emulator).await;
                results.emulator = Some(Done::new(t, v));
            }
            Part::Faults => {
                let mut all = Vec::new();
                for i in 0..opts.fault_runs {
                    let log = format!("faults-{}.log", i + 1);
                    let r = faults::run(&launcher, &opts.faults, &log).await;
                    eprintln!(
                        "soak: faults run {}: {} responses, {} ExitError, {} Timeout, {} wrong, {} lost, {} twice, {:.1} s",
                        i + 1, r.responses, r.exit_errors, r.timeouts, r.wrong.len(), r.lost, r.twice, r.wall.as_secs_f64()
                    );
                    all.push(r);
                }
                results.faults = Some(Done::new(t, all));
            }
            Part::Sigterm => {
                let v = sigterm_runs(&launcher, &opts, &peers).await;
                results.sigterm = Some(Done::new(t, v));
            }
        }
        eprintln!(
            "soak: {} took {:.0} s",
            part.title(),
            t.elapsed().as_secs_f64()
        );
    }
    let ctx = page::context(&opts, &load_before, started.elapsed());
    let text = page::render(&ctx, &opts, &results);
    print!("{}", summary::summary(&opts, &results));
    let out = opts.out_path();
    if let Err(e) = std::fs::write(&out, &text) {
        eprintln!("soak: cannot write {}: {e}", out.display());
        return ExitCode::from(2);
    }
    eprintln!(
        "soak: wrote {} in {:.0} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    let problems = summary::problems(&results);
    for p in &problems {
        eprintln!("soak: FAILED: {p}");
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Every SIGTERM configuration, `opts.sigterm_runs` times, configurations interleaved.
async fn sigterm_runs(launcher: &Launcher, opts: &Opts, peers: &[Runtime]) -> Vec<sigterm::Run> {
    let sleep = opts.sigterm_sleep;
    let mut configs = Vec::new();
    for &runtime in peers {
        for &n in &opts.sigterm_in_flight {
            configs.push((runtime, n));
        }
    }
    let mut runs = Vec::new();
    for i in 0..opts.sigterm_runs {
        for &(runtime, n) in &configs {
            let log = format!("sigterm-{}-{n}-{}.log", runtime.key(), i + 1);
            let r = sigterm::run(launcher, runtime, n, sleep, &log).await;
            eprintln!(
                "soak: sigterm {} N={n} run {}: answered {}/{n}, exit {:?}, last answer → exit {:?}",
                runtime.key(),
                i + 1,
                r.answered,
                r.exit,
                r.last_answer_to_exit.map(|d| Duration::from_millis(d.as_millis() as u64))
            );
            runs.push(r);
        }
    }
    // Grouped by configuration for the table.
    runs.sort_by_key(|r| (r.runtime != Runtime::Ferric, r.in_flight));
    runs
}
