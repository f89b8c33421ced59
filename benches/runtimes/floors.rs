//! The floors (issue 16): what the design cannot go below, measured in the same runs as the
//! clients. A bare interpreter's start-up to exit (`python3 -S -c pass`, `python3 -c pass`,
//! `node -e 0`, `ruby -e 0`) bounds a shim's cold start; a bare interpreter sleeping bounds a
//! shim's idle memory; ferric with a native echo worker (the `ferric-native` client) bounds
//! ferric's own overhead.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;

use crate::clients::{find_on_path, Family};
use crate::render::fmt_value;
use crate::report::{median, ClientReport, Metrics, Mode};
use crate::{affinity, procfs};

/// What is measured of a floor process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Time from spawn to exit ("startup", ms).
    Startup,
    /// RSS and PSS of the process once started and idle ("rss", "pss", MiB).
    Idle,
}

/// One floor: a process to start, and the client figure it bounds.
pub struct Spec {
    pub key: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    /// `python` (the venv's, shared by ferric and awslambdaric), `node` or `ruby`.
    pub interpreter: &'static str,
    pub args: &'static [&'static str],
    /// The client whose figure this floor bounds.
    pub against: &'static str,
}

const fn spec(
    key: &'static str,
    label: &'static str,
    kind: Kind,
    interpreter: &'static str,
    args: &'static [&'static str],
    against: &'static str,
) -> Spec {
    Spec {
        key,
        label,
        kind,
        interpreter,
        args,
        against,
    }
}

const FLOORS: &[Spec] = &[
    spec(
        "python -S",
        "`python3 -S -c pass` (the venv's): start-up to exit",
        Kind::Startup,
        "python",
        &["-S", "-c", "pass"],
        "ferric-python",
    ),
    spec(
        "python",
        "`python3 -c pass` (the venv's): start-up to exit",
        Kind::Startup,
        "python",
        &["-c", "pass"],
        "awslambdaric",
    ),
    spec(
        "node",
        "`node -e 0`: start-up to exit",
        Kind::Startup,
        "node",
        &["-e", "0"],
        "ferric-node",
    ),
    spec(
        "ruby",
        "`ruby -e 0`: start-up to exit",
        Kind::Startup,
        "ruby",
        &["-e", "0"],
        "ferric-ruby",
    ),
    spec(
        "python idle",
        "bare Python sleeping (`python3 -c 'import time; time.sleep(3600)'`)",
        Kind::Idle,
        "python",
        &["-c", "import time; time.sleep(3600)"],
        "ferric-python",
    ),
    spec(
        "node idle",
        "bare Node (`node -e 'setInterval(()=>{},1000)'`)",
        Kind::Idle,
        "node",
        &["-e", "setInterval(()=>{},1000)"],
        "ferric-node",
    ),
    spec(
        "ruby idle",
        "bare Ruby sleeping (`ruby -e sleep`)",
        Kind::Idle,
        "ruby",
        &["-e", "sleep"],
        "ferric-ruby",
    ),
];

/// A floor ready to measure.
pub struct Floor {
    pub spec: &'static Spec,
    pub program: PathBuf,
}

/// The floors, each with its report (a floor whose interpreter is missing is skipped).
pub fn prepare(root: &Path) -> Vec<(Option<Floor>, ClientReport)> {
    let python = root.join(".cache/py-venv/bin/python3");
    FLOORS
        .iter()
        .map(|spec| {
            let mut report = ClientReport::new(spec.key, spec.label, Family::Raw);
            let program = match spec.interpreter {
                "python" => Some(python.clone()).filter(|p| p.exists()),
                other => find_on_path(other),
            };
            let Some(program) = program else {
                report.status = Some(format!("{} is not installed", spec.interpreter));
                return (None, report);
            };
            let shown = program.strip_prefix(root).unwrap_or(&program).display();
            let quote = |a: &&str| match a.contains([' ', ';', '(', '{']) {
                true => format!("'{a}'"),
                false => a.to_string(),
            };
            let args: Vec<String> = spec.args.iter().map(quote).collect();
            report.command = format!("{shown} {}", args.join(" "));
            (Some(Floor { spec, program }), report)
        })
        .collect()
}

fn command(floor: &Floor, pin: Option<usize>) -> Command {
    let mut cmd = Command::new(&floor.program);
    cmd.args(floor.spec.args)
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| k == "PATH" || k == "HOME"))
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(cpu) = pin {
        affinity::pin_command(&mut cmd, cpu);
    }
    cmd
}

/// Measure `floor` once per `reps` (start-up: the median of `reps` starts).
pub async fn measure(floor: &Floor, pin: Option<usize>, reps: usize) -> Result<Metrics, String> {
    let mut metrics = Metrics::new();
    match floor.spec.kind {
        Kind::Startup => {
            let mut times = Vec::new();
            for _ in 0..reps.max(1) {
                let started = Instant::now();
                let status = command(floor, pin).status().await;
                let status = status.map_err(|e| format!("cannot start: {e}"))?;
                if !status.success() {
                    return Err(format!("exited with {status}"));
                }
                times.push(started.elapsed().as_secs_f64() * 1e3);
            }
            metrics.insert("startup".into(), median(times).unwrap_or_default());
        }
        Kind::Idle => {
            let mut child = command(floor, pin)
                .spawn()
                .map_err(|e| format!("cannot start: {e}"))?;
            tokio::time::sleep(Duration::from_millis(400)).await;
            let pid = child.id().ok_or("exited before it could be measured")?;
            let u = procfs::usage(pid);
            let _ = child.start_kill();
            let _ = child.wait().await;
            metrics.insert("rss".into(), u.rss_kib as f64 / 1024.0);
            metrics.insert("pss".into(), u.pss_kib as f64 / 1024.0);
        }
    }
    Ok(metrics)
}

/// One row of the floors table: a floor's figure beside the client figure it bounds.
fn row(
    out: &mut String,
    label: &str,
    floor: (&ClientReport, &str, &str),
    against: Option<(&ClientReport, &str, &str)>,
    modes: &[Mode],
) {
    let value = |c: &ClientReport, key: &str, unit: &str, mode: Mode| {
        if let Some(s) = &c.status {
            return format!("skipped ({s})");
        }
        c.median(key, mode)
            .map_or("–".into(), |v| fmt_value(v, unit))
    };
    let _ = write!(out, "| {label} |");
    for &m in modes {
        let _ = write!(out, " {} |", value(floor.0, floor.1, floor.2, m));
    }
    match against {
        Some((c, key, unit)) => {
            let _ = write!(out, " {} |", c.label);
            for &m in modes {
                let _ = write!(out, " {} |", value(c, key, unit, m));
            }
        }
        None => out.push_str(&" |".repeat(modes.len() + 1)),
    }
    out.push('\n');
}

/// The "Floors" section.
pub fn section(
    out: &mut String,
    floors: &[ClientReport],
    clients: &[ClientReport],
    modes: &[Mode],
) {
    if floors.is_empty() && !clients.iter().any(|c| c.key == "ferric-native") {
        return;
    }
    out.push_str(
        "## Floors\n\nWhat the design cannot go below, measured in the same runs: a bare interpreter's \
         start-up (a shim's cold start also imports its own code and the handler), a bare interpreter's \
         idle memory (a shim's worker is one such process, plus ferric), and ferric with a native echo \
         worker (benches/peers/rust-echo/src/bin/native-worker.rs: no interpreter, so what remains is \
         ferric's own cost and the pipe round trip to a worker process). A floor process runs after the \
         clients have exited, while a client's PSS (shared pages split between the processes mapping them) \
         shares libraries with the other clients alive beside it; both depend on what else maps the same \
         files at that moment: compare RSS with RSS.\n\n",
    );
    table_head(out, modes);
    let by_key = |k: &str| clients.iter().find(|c| c.key == k);
    for f in floors {
        let Some(spec) = FLOORS.iter().find(|s| s.key == f.key) else {
            continue;
        };
        let client = by_key(spec.against);
        match spec.kind {
            Kind::Startup => {
                let a = client.map(|c| (c, "cold_response", "ms"));
                row(out, f.label, (f, "startup", "ms"), a, modes);
            }
            Kind::Idle => {
                for (key, what) in [("rss", "RSS"), ("pss", "PSS")] {
                    let label = format!("{}: {what}", f.label);
                    let a = client.map(|c| (c, key, "MiB"));
                    row(out, &label, (f, key, "MiB"), a, modes);
                }
            }
        }
    }
    if let Some(native) = by_key("ferric-native") {
        native_rows(out, native, by_key("ferric-python"), modes);
    }
    out.push('\n');
}

fn table_head(out: &mut String, modes: &[Mode]) {
    out.push_str("| floor |");
    for m in modes {
        let _ = write!(out, " {} |", m.name());
    }
    out.push_str(" compared with |");
    for m in modes {
        let _ = write!(out, " {} |", m.name());
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(modes.len()));
    out.push_str("---|");
    out.push_str(&"---:|".repeat(modes.len()));
    out.push('\n');
}

/// ferric with the native worker, beside ferric with the Python shim.
fn native_rows(
    out: &mut String,
    native: &ClientReport,
    python: Option<&ClientReport>,
    modes: &[Mode],
) {
    for (key, unit, what) in [
        ("cold_response", "ms", "cold start to first response"),
        ("p50", "µs", "warm p50, 100 B"),
        ("cpu", "µs", "CPU per invocation, ferric + worker"),
        ("cpu_self", "µs", "ferric's own CPU per invocation"),
        ("rss", "MiB", "idle RSS, ferric + worker"),
    ] {
        let label = format!("{}: {what}", native.label);
        row(
            out,
            &label,
            (native, key, unit),
            python.map(|c| (c, key, unit)),
            modes,
        );
    }
}
