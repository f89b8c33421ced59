//! Turning the runs into BENCHMARKS.md: medians over runs, ratios to the baseline measured in
//! the same run, the targets, machine information.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::clients::Family;

/// How a metric reads.
pub struct Metric {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub higher_is_better: bool,
}

const fn m(key: &'static str, label: &'static str, unit: &'static str) -> Metric {
    Metric {
        key,
        label,
        unit,
        higher_is_better: false,
    }
}

/// The large events (label, bytes); each is sent compact and pretty-printed.
pub const LARGE: &[(&str, usize)] = &[
    ("100 KiB", 100 * 1024),
    ("1 MiB", 1024 * 1024),
    ("5.5 MB", 5_500_000),
];

pub const METRICS: &[Metric] = &[
    m("cold_next", "cold start: spawn → first /next", "ms"),
    m("cold_response", "cold start: spawn → first response", "ms"),
    m("p50", "warm latency p50, 100 B event", "µs"),
    m("p99", "warm latency p99, 100 B event", "µs"),
    Metric {
        key: "throughput",
        label: "warm throughput, sequential",
        unit: "inv/s",
        higher_is_better: true,
    },
    m("cpu", "CPU per invocation (schedstat)", "µs"),
    m(
        "cpu_ticks",
        "CPU per invocation (stat ticks, cross-check)",
        "µs",
    ),
    m("rss", "idle RSS after warm-up (process tree)", "MiB"),
    m("pss", "idle PSS after warm-up (process tree)", "MiB"),
    m("echo 100 KiB compact", "echo 100 KiB, compact", "ms"),
    m("echo 100 KiB pretty", "echo 100 KiB, pretty-printed", "ms"),
    m("echo 1 MiB compact", "echo 1 MiB, compact", "ms"),
    m("echo 1 MiB pretty", "echo 1 MiB, pretty-printed", "ms"),
    m("echo 5.5 MB compact", "echo 5.5 MB, compact", "ms"),
    m("echo 5.5 MB pretty", "echo 5.5 MB, pretty-printed", "ms"),
    Metric {
        key: "conc_throughput",
        label: "MAX_CONCURRENCY=2: throughput",
        unit: "inv/s",
        higher_is_better: true,
    },
    m("conc_p50", "MAX_CONCURRENCY=2: latency p50", "µs"),
];

/// A target from the issue: `metric` of `family`'s ferric against its baseline.
pub struct Target {
    pub family: Family,
    pub key: &'static str,
    pub limit: f64,
}

const fn t(family: Family, key: &'static str, limit: f64) -> Target {
    Target { family, key, limit }
}

pub const TARGETS: &[Target] = &[
    t(Family::Python, "cold_response", 0.6),
    t(Family::Python, "p50", 1.0),
    t(Family::Python, "throughput", 1.0),
    t(Family::Python, "cpu", 1.0),
    t(Family::Python, "rss", 1.0),
    t(Family::Python, "echo 1 MiB compact", 0.8),
    t(Family::Python, "echo 1 MiB pretty", 0.8),
    t(Family::Python, "echo 5.5 MB compact", 0.8),
    t(Family::Python, "echo 5.5 MB pretty", 0.8),
    t(Family::Node, "cold_response", 0.8),
    t(Family::Node, "rss", 0.8),
    t(Family::Node, "p50", 1.0),
];

fn metric(key: &str) -> &'static Metric {
    METRICS
        .iter()
        .find(|m| m.key == key)
        .expect("targets name known metrics")
}

/// One client's outcome over all runs.
pub struct ClientReport {
    pub key: &'static str,
    pub label: &'static str,
    pub family: Family,
    pub command: String,
    /// Why the client has no numbers (skipped or failed), if it has none.
    pub status: Option<String>,
    /// A wrong answer (fails the run).
    pub wrong: bool,
    /// Per run index: the metrics measured in that run (absent when the run failed).
    pub runs: Vec<Option<BTreeMap<String, f64>>>,
    pub errors: Vec<String>,
    /// Largest response body seen (bytes).
    pub largest_response: usize,
    /// Most invocations in flight at once in the MAX_CONCURRENCY=2 sessions.
    pub conc_in_flight: usize,
}

impl ClientReport {
    fn values(&self, key: &str) -> Vec<f64> {
        self.runs
            .iter()
            .flatten()
            .filter_map(|r| r.get(key).copied())
            .collect()
    }

    pub fn median(&self, key: &str) -> Option<f64> {
        median(self.values(key))
    }

    pub fn ok_runs(&self) -> usize {
        self.runs.iter().flatten().count()
    }
}

pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Per-run ratios of `a` to `b` for `key` (only runs where both were measured):
/// (median, min, max, count).
pub fn ratio(a: &ClientReport, b: &ClientReport, key: &str) -> Option<(f64, f64, f64, usize)> {
    let ratios: Vec<f64> = a
        .runs
        .iter()
        .zip(&b.runs)
        .filter_map(|(x, y)| {
            let (x, y) = (x.as_ref()?.get(key)?, y.as_ref()?.get(key)?);
            (*y > 0.0).then(|| x / y)
        })
        .collect();
    let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let max = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let n = ratios.len();
    median(ratios).map(|m| (m, min, max, n))
}

fn fmt_value(v: f64, unit: &str) -> String {
    let digits = match unit {
        "ms" if v < 10.0 => 2,
        "ms" | "MiB" => 1,
        _ => 0,
    };
    format!("{v:.digits$} {unit}")
}

/// Everything the report says besides the clients.
pub struct Context {
    pub machine: Vec<(String, String)>,
    pub method: Vec<String>,
    pub command: String,
    pub findings: Option<String>,
}

fn cell(c: &ClientReport, key: &str) -> String {
    if c.status.is_some() {
        return if c.wrong { "FAILED" } else { "skipped" }.into();
    }
    match c.median(key) {
        Some(v) => {
            let mut s = fmt_value(v, metric(key).unit);
            if key.starts_with("conc") && c.conc_in_flight < 2 {
                s.push_str(" ¹");
            }
            s
        }
        None => "–".into(),
    }
}

fn ratio_cell(a: &ClientReport, b: &ClientReport, key: &str) -> String {
    match ratio(a, b, key) {
        Some((m, lo, hi, n)) if n > 1 => format!("**{m:.2}×** ({lo:.2}–{hi:.2})"),
        Some((m, _, _, _)) => format!("**{m:.2}×**"),
        None => "–".into(),
    }
}

/// Whether `ferric` meets the target for `key`, as text.
fn verdict(ferric: &ClientReport, base: &ClientReport, target: &Target) -> String {
    let metric = metric(target.key);
    match ratio(ferric, base, target.key) {
        None => "not measured".into(),
        Some((r, _, _, _)) => {
            let met = if metric.higher_is_better {
                r >= target.limit
            } else {
                r <= target.limit
            };
            if met {
                "✅ met".into()
            } else {
                "❌ missed".into()
            }
        }
    }
}

fn target_text(metric: &Metric, limit: f64) -> String {
    if metric.higher_is_better {
        format!("≥ {limit:.1}×")
    } else {
        format!("≤ {limit:.1}×")
    }
}

/// The side-by-side table of one family: ferric, its baseline, the ratio and the targets.
fn family_table(
    out: &mut String,
    ferric: &ClientReport,
    base: &ClientReport,
    floor: Option<&ClientReport>,
) {
    let family = ferric.family;
    let _ = write!(
        out,
        "| metric | {} | {} | ratio (median of per-run ratios, range) | target | |",
        ferric.label, base.label
    );
    if let Some(f) = floor {
        let _ = write!(out, " {} (floor) |", f.label);
    }
    out.push('\n');
    out.push_str("|---|---:|---:|---|---|---|");
    if floor.is_some() {
        out.push_str("---:|");
    }
    out.push('\n');
    for metric in METRICS {
        if metric.key == "cpu_ticks" {
            continue;
        }
        let target = TARGETS
            .iter()
            .find(|t| t.family == family && t.key == metric.key);
        let (target_s, verdict_s) = match target {
            Some(t) => (target_text(metric, t.limit), verdict(ferric, base, t)),
            None => (String::new(), String::new()),
        };
        let _ = write!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            metric.label,
            cell(ferric, metric.key),
            cell(base, metric.key),
            ratio_cell(ferric, base, metric.key),
            target_s,
            verdict_s
        );
        if let Some(f) = floor {
            let _ = write!(out, " {} |", cell(f, metric.key));
        }
        out.push('\n');
    }
}

/// The whole document.
pub fn render(ctx: &Context, clients: &[ClientReport]) -> String {
    let mut out = String::new();
    out.push_str("# Benchmarks: ferric against awslambdaric, aws-lambda-ric and native Rust\n\n");
    let _ = writeln!(
        out,
        "Generated by `{}` (the harness is `benches/runtimes.rs`, run with `cargo bench --bench runtimes`). \
         Do not edit by hand: the text under *Findings* comes from `benches/runtimes/findings.md`.\n",
        ctx.command
    );
    out.push_str("This machine has 2 noisy cores shared with other work, so **the ratios measured in the same run are \
                  the figures that count**; absolute numbers are context. Each ratio is the median over runs of \
                  (ferric ÷ baseline) within one run, with the range over runs.\n\n");

    let by_key = |k: &str| clients.iter().find(|c| c.key == k);
    let floor = by_key("rust").filter(|c| c.status.is_none());
    let sections = [
        (
            "Python: ferric + Python shim vs awslambdaric",
            "ferric-python",
            "awslambdaric",
        ),
        (
            "Node: ferric + Node shim vs aws-lambda-ric",
            "ferric-node",
            "aws-lambda-ric",
        ),
    ];
    for (title, fk, bk) in sections {
        let (Some(f), Some(b)) = (by_key(fk), by_key(bk)) else {
            continue;
        };
        let _ = writeln!(out, "## {title}\n");
        for c in [f, b] {
            if let Some(s) = &c.status {
                let _ = writeln!(
                    out,
                    "* **{}: {}**: {}\n",
                    c.label,
                    if c.wrong { "FAILED" } else { "skipped" },
                    one_line(s)
                );
            }
        }
        family_table(&mut out, f, b, floor);
        out.push('\n');
    }
    if clients.iter().any(|c| c.conc_in_flight == 1) {
        out.push_str(
            "¹ never had two invocations in flight: this client serves one at a time even with \
                      `AWS_LAMBDA_MAX_CONCURRENCY=2`.\n\n",
        );
    }

    for (base, alt) in [
        ("ferric-python", "ferric-python-alt"),
        ("ferric-node", "ferric-node-alt"),
    ] {
        if let (Some(b), Some(a)) = (by_key(base), by_key(alt)) {
            ab_table(&mut out, b, a);
        }
    }
    targets_section(&mut out, clients);
    all_clients(&mut out, clients);
    notes(&mut out, clients);

    out.push_str("## Machine\n\n| | |\n|---|---|\n");
    for (k, v) in &ctx.machine {
        let _ = writeln!(out, "| {k} | {v} |");
    }
    out.push_str("\n## Method\n\n");
    for line in &ctx.method {
        let _ = writeln!(out, "* {line}");
    }
    out.push_str(
        "\n### Commands\n\nEach client runs in `target/bench/task` (a copy of `benches/handlers`: `echo.py`, \
         `index.mjs`) with the environment described above (`_HANDLER`, `LAMBDA_TASK_ROOT`, the \
         `AWS_LAMBDA_FUNCTION_*` and log variables, `AWS_LAMBDA_RUNTIME_API`). aws-lambda-ric 4.0.2 \
         declares Node >= 22 but runs on Node 20; it refuses to start without `_HANDLER`, \
         `LAMBDA_TASK_ROOT` and those variables, and is started as `node <package>/index.mjs` directly \
         (through `npx` its cold start is ~300 ms longer).\n\n",
    );
    for c in clients {
        let _ = writeln!(out, "* {}: `{}`", c.label, c.command);
    }
    if let Some(f) = &ctx.findings {
        out.push_str("\n## Findings\n\n");
        out.push_str(f.trim());
        out.push('\n');
    }
    out
}

fn one_line(s: &str) -> String {
    let s = s.replace('|', "\\|");
    let mut lines = s.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or("").to_string();
    let rest: Vec<&str> = lines.collect();
    if rest.is_empty() {
        first
    } else {
        format!("{first} (… {})", rest.join(" ⏎ "))
    }
}

/// A/B of two ferric builds (BENCH_FERRIC_ALT), measured in the same runs.
fn ab_table(out: &mut String, base: &ClientReport, alt: &ClientReport) {
    let _ = writeln!(
        out,
        "## A/B: {} vs {}\n\n| metric | {} | {} | ratio alt ÷ base |\n|---|---:|---:|---|",
        alt.label, base.label, base.label, alt.label
    );
    for metric in METRICS {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            metric.label,
            cell(base, metric.key),
            cell(alt, metric.key),
            ratio_cell(alt, base, metric.key)
        );
    }
    out.push('\n');
}

fn targets_section(out: &mut String, clients: &[ClientReport]) {
    out.push_str("## Targets\n\n| client | metric | target | ratio | |\n|---|---|---|---|---|\n");
    let by_key = |k: &str| clients.iter().find(|c| c.key == k);
    for target in TARGETS {
        let (fk, bk) = match target.family {
            Family::Python => ("ferric-python", "awslambdaric"),
            _ => ("ferric-node", "aws-lambda-ric"),
        };
        let (Some(f), Some(b)) = (by_key(fk), by_key(bk)) else {
            continue;
        };
        let metric = metric(target.key);
        let _ = writeln!(
            out,
            "| {} vs {} | {} | {} | {} | {} |",
            f.label,
            b.label,
            metric.label,
            target_text(metric, target.limit),
            ratio_cell(f, b, target.key),
            verdict(f, b, target)
        );
    }
    out.push('\n');
}

fn all_clients(out: &mut String, clients: &[ClientReport]) {
    out.push_str("## All clients (medians over runs)\n\n| metric |");
    for c in clients {
        let _ = write!(out, " {} |", c.label);
    }
    out.push_str("\n|---|");
    for _ in clients {
        out.push_str("---:|");
    }
    out.push_str("\n| runs measured |");
    for c in clients {
        match &c.status {
            Some(s) => {
                let _ = write!(
                    out,
                    " {}: {} |",
                    if c.wrong { "FAILED" } else { "skipped" },
                    one_line(s).chars().take(160).collect::<String>()
                );
            }
            None => {
                let _ = write!(out, " {} of {} |", c.ok_runs(), c.runs.len());
            }
        }
    }
    out.push('\n');
    for metric in METRICS {
        let _ = write!(out, "| {} |", metric.label);
        for c in clients {
            let _ = write!(out, " {} |", cell(c, metric.key));
        }
        out.push('\n');
    }
    out.push('\n');
}

fn notes(out: &mut String, clients: &[ClientReport]) {
    let mut lines = Vec::new();
    for c in clients {
        if c.largest_response > 6 * 1024 * 1024 {
            lines.push(format!(
                "{}'s largest response was {:.2} MiB: over Lambda's 6 MiB limit (Lambda would refuse it); \
                 the fake API accepts it so the echo can still be timed.",
                c.label,
                c.largest_response as f64 / 1048576.0
            ));
        }
        for e in &c.errors {
            lines.push(format!("{}: a run failed: {}", c.label, one_line(e)));
        }
    }
    if !lines.is_empty() {
        out.push_str("## Notes from this run\n\n");
        for l in lines {
            let _ = writeln!(out, "* {l}");
        }
        out.push('\n');
    }
}
