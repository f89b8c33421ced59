//! What the report says about the machine and the method.

use std::path::Path;
use std::time::Duration;

use crate::clients;
use crate::machine::{cpu_model, first_line, read_trimmed};
use crate::report::Mode;
use crate::runs::Plans;

pub fn machine(root: &Path, load_before: &str, elapsed: Duration) -> Vec<(String, String)> {
    let model = cpu_model();
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
    let commit = first_line("git", &["rev-parse", "--short", "HEAD"], root);
    let dirty = !first_line(
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
            first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"], root),
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
        ("rustc".into(), first_line("rustc", &["-V"], root)),
        (
            "Python (venv, shared by ferric and awslambdaric)".into(),
            first_line(&python.display().to_string(), &["-V"], root),
        ),
        ("Node".into(), first_line("node", &["--version"], root)),
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

pub fn method(runs: usize, modes: &[Mode], plans: &Plans) -> Vec<String> {
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
            runs
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
    ]
    .into_iter()
    .chain(method_setup(modes, plans))
    .collect()
}

/// The method's lines on the environment, the modes, the floors and ferric's own CPU.
fn method_setup(modes: &[Mode], plans: &Plans) -> Vec<String> {
    vec![
        format!(
            "Every client gets the same Lambda-like environment (function name, version, memory, log group and \
             stream, region, `_HANDLER`, `LAMBDA_TASK_ROOT`) and its stdout and stderr go to a file \
             (target/bench/logs/). {}",
            modes_text(modes)
        ),
        "The Rust peer (benches/peers/rust-echo) is the floor of a whole client: lambda_runtime with a \
         current-thread tokio runtime, deserialising the event into a `serde_json::Value` and serialising it \
         back. ferric + native echo worker (`ferric -- target/peers/release/native-worker`, \
         benches/peers/rust-echo/src/bin/native-worker.rs) is the floor of ferric's own design: the worker \
         echoes the event's bytes, with one read and one write per frame."
            .into(),
        format!(
            "Floors: each bare interpreter is started {} time(s) per run and mode (time from spawn to exit, \
             median), and each sleeping one once (RSS and PSS 400 ms after spawn), after the clients.",
            plans.floor_starts
        ),
        "ferric's own CPU per invocation: the same schedstat reading as the tree's, of ferric's process \
         alone (all its threads, not its worker): what ferric adds, whatever the language."
            .into(),
    ]
}

fn modes_text(modes: &[Mode]) -> String {
    let pinned =
        "pinned: the harness runs on CPU 0, each client's whole process tree on CPU 1 (as on a \
                  Lambda function of up to 1,769 MB, which has at most one vCPU)";
    let unpinned =
        "unpinned: nothing is pinned to a CPU (as on a function of more than 1,769 MB, 2+ vCPUs)";
    match modes {
        [Mode::Pinned] => format!("One mode, {pinned} (`--pin`)."),
        [Mode::Unpinned] => format!("One mode, {unpinned}."),
        _ => format!(
            "Both modes in every run, one after the other, the first alternating from run to run: \
             {unpinned}; {pinned}. Between the modes the harness sets its own affinity (CPU 0, or all \
             CPUs back)."
        ),
    }
}
