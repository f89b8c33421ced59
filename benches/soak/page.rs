//! SOAK.md: the machine, each part's tables and method, the hand-written notes
//! (benches/soak/notes.md).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::long::Series;
use crate::machine::{cpu_model, first_line, read_trimmed};
use crate::options::Opts;
use crate::report::{self, thousands};
use crate::summary::summary;
use crate::{clients, faults, outcomes, sigterm};

/// A part's results and how long it took.
pub struct Part<T> {
    pub took: Duration,
    pub value: T,
}

impl<T> Part<T> {
    pub fn new(started: Instant, value: T) -> Part<T> {
        Part {
            took: started.elapsed(),
            value,
        }
    }
}

#[derive(Default)]
pub struct Results {
    pub long: Option<Part<Vec<Series>>>,
    pub medium: Option<Part<Vec<Vec<Series>>>>,
    pub emulator: Option<Part<Series>>,
    pub faults: Option<Part<Vec<faults::Run>>>,
    pub sigterm: Option<Part<Vec<sigterm::Run>>>,
}

/// The first line a command prints, run in the checkout.
fn output(program: &str, args: &[&str]) -> String {
    first_line(program, args, Path::new(env!("CARGO_MANIFEST_DIR")))
}

/// The machine and the software, as rows.
pub fn context(opts: &Opts, load_before: &str, elapsed: Duration) -> Vec<(String, String)> {
    let model = cpu_model();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let commit = output("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = !output("git", &["status", "--porcelain", "--", "src", "Cargo.toml"]).is_empty();
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/py-venv/bin/python");
    vec![
        (
            "date".into(),
            output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        ),
        ("CPU".into(), format!("{model}, {cpus} logical CPUs")),
        ("kernel".into(), read_trimmed("/proc/sys/kernel/osrelease")),
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
        (
            "Python (venv, both runtimes)".into(),
            output(&python.display().to_string(), &["-V"]),
        ),
        ("awslambdaric".into(), clients::AWSLAMBDARIC_VERSION.into()),
        (
            "command".into(),
            if opts.smoke {
                "cargo bench --bench soak -- --smoke".into()
            } else {
                "scripts/soak.sh".into()
            },
        ),
        (
            "harness wall time".into(),
            format!("{:.0} s", elapsed.as_secs_f64()),
        ),
    ]
}

fn took(out: &mut String, d: Duration) {
    let _ = writeln!(
        out,
        "\nThis part took {:.0} s ({:.1} min).\n",
        d.as_secs_f64(),
        d.as_secs_f64() / 60.0
    );
}

fn long_section(out: &mut String, part: &Part<Vec<Series>>, opts: &Opts) {
    let p = &opts.long;
    let _ = writeln!(
        out,
        "## 1. Long run: {} invocations through the Runtime API\n",
        thousands(p.invocations)
    );
    let _ = writeln!(
        out,
        "Each client: {} unmeasured invocations, a sample (**start**), then {} invocations fed in chunks of \
         up to {} alternating between the clients, sampled every {} (**middle** is the sample at the half, \
         **end** the last).\n",
        thousands(p.warmup),
        thousands(p.invocations),
        thousands(p.chunk),
        thousands(p.invocations / p.checkpoints.max(1)),
    );
    report::memory_table(out, &part.value);
    out.push('\n');
    report::throughput_lines(out, &part.value);
    out.push_str("\nEvery checkpoint:\n\n");
    report::curve_table(out, &part.value);
    took(out, part.took);
}

fn medium_section(out: &mut String, part: &Part<Vec<Vec<Series>>>, opts: &Opts) {
    let _ = writeln!(
        out,
        "## 2. {} invocations, {} runs with fresh processes\n",
        thousands(opts.medium.invocations),
        opts.medium_runs
    );
    let _ = writeln!(
        out,
        "Start is after {} unmeasured invocations, end after {} more; medians over the runs.\n",
        thousands(opts.medium.warmup),
        thousands(opts.medium.invocations)
    );
    report::runs_table(out, &part.value);
    took(out, part.took);
}

fn emulator_section(out: &mut String, part: &Part<Series>, opts: &Opts) {
    let p = &opts.emulator;
    let _ = writeln!(
        out,
        "## 3. {} invocations through ferric's emulator (RIE invoke endpoint)\n",
        thousands(p.invocations)
    );
    let _ = writeln!(
        out,
        "`ferric echo.handler` without `AWS_LAMBDA_RUNTIME_API`, `FERRIC_LISTEN` on a free port, \
         `FERRIC_HTTP_LISTEN=off`; `POST /2015-03-31/functions/function/invocations` over one kept-alive \
         connection, one call at a time, each with its own event and `X-Amzn-Trace-Id` (one in 16 with an \
         `X-Amz-Client-Context`). {} unmeasured calls, then samples every {}. awslambdaric has no emulator \
         of its own (AWS's is the separate RIE binary), so there is nothing to put beside it.\n",
        thousands(p.warmup),
        thousands(p.invocations / p.checkpoints.max(1)),
    );
    let series = std::slice::from_ref(&part.value);
    report::memory_table(out, series);
    out.push('\n');
    report::throughput_lines(out, series);
    out.push_str("\nEvery checkpoint:\n\n");
    report::curve_table(out, series);
    took(out, part.took);
}

fn faults_section(out: &mut String, part: &Part<Vec<faults::Run>>, opts: &Opts) {
    let p = &opts.faults;
    let _ = writeln!(
        out,
        "## 4. Faults under lanes: {} lanes × {} invocations, a crash every {}th, a timeout every {}th\n",
        p.lanes, p.per_lane, p.crash_every, p.timeout_every
    );
    let _ = writeln!(
        out,
        "ferric with `AWS_LAMBDA_MAX_CONCURRENCY={}` (one Python worker per lane) against a fake allowing {} \
         in flight; {} invokers, each sending its {} invocations one after another, so {} are in flight at \
         once. Invocation k of an invoker: k divisible by {} → the handler calls `os._exit(1)`; else \
         divisible by {} → it sleeps past a {} s deadline; else an echo (30 s deadline). Counts come from the \
         answers; *lost* and *twice* from the fake's records (every request id must have exactly one \
         accepted `/response` or `/error`); *refused* are posts the fake answered 400/403/410. Fresh ferric \
         per run. awslambdaric is not run here: it leaves crashes and timeouts to the platform (Lambda resets \
         the sandbox), which the fake does not imitate.\n",
        p.lanes, p.lanes, p.lanes, p.per_lane, p.lanes, p.crash_every, p.timeout_every,
        p.timeout.as_secs_f64()
    );
    outcomes::faults_table(out, p, &part.value);
    took(out, part.took);
}

fn sigterm_section(out: &mut String, part: &Part<Vec<sigterm::Run>>, opts: &Opts) {
    out.push_str("## 5. SIGTERM with invocations in flight\n\n");
    out.push_str(
        "A fresh client with N lanes (`AWS_LAMBDA_MAX_CONCURRENCY=N`; awslambdaric forks N processes) and a \
         fake allowing N in flight; 2N echoes to warm every lane; then N invocations whose handler sleeps; \
         SIGTERM to the client once all N are in their handlers. awslambdaric is there for context: it \
         installs no SIGTERM handler, so Python's default applies.\n\n",
    );
    outcomes::sigterm_table(out, &part.value, opts.sigterm_sleep);
    took(out, part.took);
}

const METHOD: &str = "\
## Method

* Runtimes: ferric (`target/release/ferric echo.handler`, the Python shim on `FERRIC_PYTHON`) and \
  `python -m awslambdaric echo.handler`, both on the venv's interpreter (`.cache/py-venv/bin/python`), \
  with the same Lambda-like environment, task root `target/soak/task` (benches/handlers/echo.py, \
  benches/soak/faulty.py), logs in `target/soak/logs/`.
* Runtime API: the shared fake (`ferric-fake-api`, in the harness process), one per client, recording off \
  for the long runs; each answer is checked to be the echo of its event (the same bytes, or the same JSON \
  value for awslambdaric, which re-serialises).
* Every invocation is unique: request id, `Lambda-Runtime-Trace-Id` (fresh `Root` and `Parent`, \
  `Sampled` alternating), and the event (an SQS-like record of about 300 B carrying its own id and \
  number); one in 16 also carries `Lambda-Runtime-Client-Context` and `Lambda-Runtime-Cognito-Identity`. \
  A runtime that keeps anything per request or per trace id grows with the count.
* A sample is taken with the client idle on `/next` (100 ms after the fake saw it waiting): for each \
  process, three readings 50 ms apart and field by field the median of `VmRSS` (`/proc/PID/status`), \
  `Pss` (`/proc/PID/smaps_rollup`) and the entries of `/proc/PID/fd`. ferric's worker is its child \
  process. PSS splits shared pages between every process mapping them, the other client's Python \
  included, so it moves when the other client does; RSS is the figure to judge by. **Flat** means RSS end − start under 1 MiB and no more open fds at the end than at the start.
* The two clients of a run are alive at once and fed in turn, chunk by chunk, so a noisy minute on this \
  shared 2-core machine hurts both alike; throughput is given as context, not as a benchmark \
  (BENCHMARKS.md has those).
";

/// The whole page.
pub fn render(ctx: &[(String, String)], opts: &Opts, r: &Results) -> String {
    let mut out = String::new();
    out.push_str(
        "# Soak: memory, descriptors and answers over long runs, ferric beside awslambdaric\n\n",
    );
    out.push_str(
        "Generated by `scripts/soak.sh` (the harness is `benches/soak.rs`, run with `cargo bench --bench soak`). \
         Do not edit by hand: the text under *Notes* comes from `benches/soak/notes.md`.\n\n",
    );
    out.push_str("| | |\n|---|---|\n");
    for (k, v) in ctx {
        let _ = writeln!(out, "| {k} | {v} |");
    }
    out.push_str("\n## Summary\n\n");
    out.push_str(&summary(opts, r));
    out.push('\n');
    if let Some(p) = &r.long {
        long_section(&mut out, p, opts);
    }
    if let Some(p) = &r.medium {
        medium_section(&mut out, p, opts);
    }
    if let Some(p) = &r.emulator {
        emulator_section(&mut out, p, opts);
    }
    if let Some(p) = &r.faults {
        faults_section(&mut out, p, opts);
    }
    if let Some(p) = &r.sigterm {
        sigterm_section(&mut out, p, opts);
    }
    out.push_str(METHOD);
    let notes = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/soak/notes.md");
    if let Ok(text) = std::fs::read_to_string(notes) {
        out.push_str("\n## Notes\n\n");
        out.push_str(&text);
    }
    out
}
