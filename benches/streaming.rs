//! The streaming benchmark (issue 11, item 6): streamed responses of 10 MiB (and one of
//! 100 MiB per run) through ferric + Node, aws-lambda-ric 4.0.2 and ferric + Python, against
//! the shared fake Runtime API; time to first byte, time to last byte, throughput and the RSS
//! peak of the client's process during the stream. Writes its block of BENCHMARKS.md.
//!
//! ```text
//! scripts/streaming-bench.sh                     # the full run; writes BENCHMARKS.md's block
//! cargo bench --bench streaming -- --smoke       # 1 run, 1 MiB streams, seconds
//! cargo bench --bench streaming -- --help
//! ```
//!
//! Without arguments (as `cargo test --benches` or `--all-targets` runs it) it does the smoke
//! run with what is installed and writes only target/streaming/smoke.md.
//!
//! Each run starts every client afresh (its own process and its own fake), in an order rotated
//! from run to run, so that a noisy moment of the shared machine hurts every client alike. Each
//! session streams a 1 MiB warm-up (checked, not measured), then the measured streams. Every
//! body is checked byte for byte; a wrong, short or unstreamed body fails the run (exit 1) and
//! nothing is written.
//!
//! Modules: `body` (what the handlers stream, the check), `clients` (programs, environment,
//! process groups), `rss` (the /proc sampler), `session` (one client through its streams,
//! timings from the fake's records), `report` (medians, ratios, the BENCHMARKS.md block),
//! `options`.

#[path = "streaming/body.rs"]
mod body;
#[path = "streaming/clients.rs"]
mod clients;
#[path = "common/lambda_env.rs"]
mod lambda_env;
#[path = "common/machine.rs"]
mod machine;
#[path = "streaming/options.rs"]
mod options;
#[path = "streaming/report.rs"]
mod report;
#[path = "streaming/rss.rs"]
mod rss;
#[path = "streaming/session.rs"]
mod session;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use body::Spec;
use clients::Client;
use machine::first_line;
use options::{Opts, USAGE};
use report::Row;
use session::{Measured, Session};

/// The RSS bound README.md states for ferric's process under a 100 MB stream.
const BOUND_MIB: f64 = 32.0;

fn main() -> ExitCode {
    let opts = match Opts::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) if e == "help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("streaming: {e}");
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can be built");
    match rt.block_on(run(&opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, e)) => {
            eprintln!("streaming: FAILED: {e}");
            ExitCode::from(code)
        }
    }
}

type Failure = (u8, String);

/// The task root and log directory, under target/streaming.
fn prepare(root: &Path) -> Result<(PathBuf, PathBuf), String> {
    let dir = root.join("target/streaming");
    let (task, logs) = (dir.join("task"), dir.join("logs"));
    for d in [&task, &logs] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    for name in ["stream.mjs", "stream.py"] {
        let from = root.join("benches/streaming/handlers").join(name);
        std::fs::copy(&from, task.join(name)).map_err(|e| format!("{}: {e}", from.display()))?;
    }
    Ok((task, logs))
}

/// The clients to measure; in a smoke run the missing ones are skipped (and named).
fn clients(root: &Path, opts: &Opts) -> Result<(Vec<Client>, Vec<String>), Failure> {
    let (mut found, mut skipped) = (Vec::new(), Vec::new());
    for key in &opts.clients {
        match clients::locate(root, key) {
            Ok(c) => found.push(c),
            Err(e) if opts.smoke => {
                eprintln!("streaming: skipping {key}: {e}");
                skipped.push(format!("{key}: {e}"));
            }
            Err(e) => return Err((2, format!("{key}: {e}"))),
        }
    }
    if found.is_empty() {
        return Err((2, "no client can be measured".into()));
    }
    Ok((found, skipped))
}

async fn run(opts: &Opts) -> Result<(), Failure> {
    let started = Instant::now();
    body::self_test().map_err(|e| (1, e))?;
    report::splice_self_test().map_err(|e| (1, e))?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (task, logs) = prepare(&root).map_err(|e| (2, e))?;
    let (clients, skipped) = clients(&root, opts)?;
    let load_before = loadavg();
    let mut sizes = vec![(opts.bytes, opts.invocations)];
    if opts.large_bytes > 0 {
        sizes.push((opts.large_bytes, 1));
    }
    let mut rows = empty_rows(&clients, &sizes);
    let mut nonce = seed();
    for run in 0..opts.runs {
        let mut order = clients.clone();
        order.rotate_left(run % clients.len());
        for &(bytes, count) in &sizes {
            for client in &order {
                let log = logs.join(format!(
                    "{}-{}mib-run{}.log",
                    client.key,
                    bytes >> 20,
                    run + 1
                ));
                let spec = |nonce: u32| Spec {
                    bytes,
                    chunk: opts.chunk,
                    nonce,
                };
                let measured = session(client, &task, &log, spec, count, &mut nonce, opts.chunk)
                    .await
                    .map_err(|e| (1, e))?;
                print_run(client, run, bytes, &measured);
                let row = rows
                    .iter_mut()
                    .find(|r| r.key == client.key && r.bytes == bytes);
                row.expect("a row per client and size").runs.push(measured);
            }
        }
    }
    let block = render(
        &root,
        opts,
        &clients,
        &rows,
        &skipped,
        &load_before,
        started,
    );
    print!("{block}\n\n");
    let out = root.join(&opts.out);
    report::write_block(&out, &block)
        .map_err(|e| (2, format!("cannot write {}: {e}", opts.out.display())))?;
    eprintln!("streaming: wrote the block into {}", out.display());
    Ok(())
}

/// A row per size and client, in report order.
fn empty_rows(clients: &[Client], sizes: &[(usize, usize)]) -> Vec<Row> {
    let mut rows = Vec::new();
    for &(bytes, _) in sizes {
        rows.extend(clients.iter().map(|c| Row {
            key: c.key,
            label: c.label,
            ferric: c.ferric,
            bytes,
            runs: Vec::new(),
        }));
    }
    rows
}

/// One client process: a 1 MiB warm-up stream, then `count` measured streams.
async fn session(
    client: &Client,
    task: &Path,
    log: &Path,
    spec: impl Fn(u32) -> Spec,
    count: usize,
    nonce: &mut u32,
    chunk: usize,
) -> Result<Vec<Measured>, String> {
    let mut s = Session::start(client, task, log).await?;
    let mut next = || {
        *nonce = nonce.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *nonce
    };
    let warm = Spec {
        bytes: 1 << 20,
        chunk,
        nonce: next(),
    };
    s.invoke(warm).await?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(s.invoke(spec(next())).await?);
    }
    Ok(out)
}

fn print_run(client: &Client, run: usize, bytes: usize, measured: &[Measured]) {
    for m in measured {
        eprintln!(
            "streaming: run {} {} {} MiB: first byte {:.1} ms, last byte {:.1} ms, {:.0} MiB/s, {} frames, RSS peak {:.1} MiB (tree {:.1}, VmHWM {:.1}), {} samples",
            run + 1,
            client.key,
            bytes >> 20,
            m.ttfb.as_secs_f64() * 1e3,
            m.last_byte.as_secs_f64() * 1e3,
            m.mib_per_s(),
            m.frames,
            m.peaks.main_kib as f64 / 1024.0,
            m.peaks.tree_kib as f64 / 1024.0,
            m.peaks.hwm_kib as f64 / 1024.0,
            m.peaks.samples,
        );
    }
}

fn seed() -> u32 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    t ^ std::process::id()
}

fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first line a command prints, or `?`.
fn output(program: &str, args: &[&str]) -> String {
    let line = first_line(program, args, Path::new("."));
    if line.is_empty() {
        "?".into()
    } else {
        line
    }
}

/// The BENCHMARKS.md block.
fn render(
    root: &Path,
    opts: &Opts,
    clients: &[Client],
    rows: &[Row],
    skipped: &[String],
    load_before: &str,
    started: Instant,
) -> String {
    let mut b = format!("{} — written by benches/streaming.rs (scripts/streaming-bench.sh); the other harnesses keep this block -->\n", report::BEGIN);
    b += "## Response streaming: time to first byte, throughput, memory\n\n";
    b += &method(root, opts, clients, load_before, started);
    b += &report::table(rows);
    b += "\n";
    let ratios = report::ratios(rows, "ferric-node", "aws-lambda-ric");
    if !ratios.is_empty() {
        b += &ratios;
        b += "\n";
    }
    b += &large_note(rows, opts.large_bytes);
    for s in skipped {
        b += &format!("Skipped: {s}.\n");
    }
    b += "\nCommand lines (in target/streaming/task):\n\n";
    for c in clients {
        b += &format!("* {}: `{}`\n", c.label, c.command_line(root));
    }
    b + report::END
}

/// The method paragraph.
fn method(
    root: &Path,
    opts: &Opts,
    clients: &[Client],
    load_before: &str,
    started: Instant,
) -> String {
    let large = match opts.large_bytes >> 20 {
        0 => String::new(),
        n => format!(" and, for each client, one of {n} MiB"),
    };
    format!(
        "Measured {} on this machine ({} CPUs, shared with other work; load {load_before} before, {} after): {} interleaved runs, {:.0} s in all. \
         Each run starts every client afresh, in an order rotated from run to run, against its own fake Runtime API (`ferric-fake-api`, recording on), \
         streams a 1 MiB warm-up (checked, not measured), then {} × {} MiB{large}. The handlers (benches/streaming/handlers/) write {} KiB chunks: \
         Node's `awslambda.streamifyResponse` handler waits for `drain` whenever `write` returns false; Python's `@ferric_lambda.stream` generator yields bytes. \
         Time to first byte: from the fake handing out `/next` to the first body byte of the `/response` post arriving (the post head's instant plus the \
         fake's frame time); time to last byte: likewise to the last body byte; MiB/s = size / time to last byte. RSS: `VmRSS` of the client's own process \
         (ferric's supervisor; aws-lambda-ric's node, which is its whole runtime) and of its process tree (ferric + its worker), sampled from /proc about \
         every millisecond during the stream; VmHWM: the kernel's peak for the process since it started (a cross-check on the sampling). Cells: median \
         (min–max) over every measured stream; ratios: the median (min–max) over runs of ferric's run median / the peer's run median. \
         Every body was checked byte for byte (length, each chunk's header and filler), with the streaming response mode, the content type and no error trailer; \
         a failure stops the run and writes nothing. No Python runtime interface client streams responses, so ferric + Python has no peer. \
         ferric: `{}`; harness (and the fake) built in {}; Node {}; Python {}.\n\n",
        output("date", &["-u", "+%Y-%m-%d"]),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        opts.runs,
        started.elapsed().as_secs_f64(),
        opts.invocations,
        opts.bytes >> 20,
        opts.chunk >> 10,
        clients::ferric().map_or("?".into(), |p| p.strip_prefix(root).unwrap_or(&p).display().to_string()),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        output("node", &["--version"]),
        output(&python(clients), &["--version"]).trim_start_matches("Python "),
    )
}

fn python(clients: &[Client]) -> String {
    clients
        .iter()
        .flat_map(|c| &c.env)
        .find(|(k, _)| k == "FERRIC_PYTHON")
        .map_or("python3".into(), |(_, v)| v.clone())
}

/// What the large stream showed about ferric's memory.
fn large_note(rows: &[Row], large: usize) -> String {
    let peaks: Vec<String> = rows
        .iter()
        .filter(|r| r.ferric && r.bytes == large && large > 0 && r.invocations() > 0)
        .map(|r| {
            let max = r.max_main_mib();
            let verdict = if max < BOUND_MIB {
                "under"
            } else {
                "NOT under"
            };
            format!("{} {max:.1} MiB ({verdict} {BOUND_MIB:.0} MiB)", r.label)
        })
        .collect();
    if peaks.is_empty() {
        return String::new();
    }
    format!(
        "Largest RSS of ferric's own process over every {} MiB stream (sampled or VmHWM): {}.\n",
        large >> 20,
        peaks.join("; ")
    )
}
