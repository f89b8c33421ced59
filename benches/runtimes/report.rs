//! What the runs produce and how it is judged: the metrics, the modes (unpinned and pinned),
//! every client's per-run figures in each mode, medians over runs, ratios to the baseline
//! measured in the same run, and the targets. `render` turns this into BENCHMARKS.md.

use std::collections::BTreeMap;

use crate::clients::Family;

/// How the client's process tree shares the machine's CPUs with the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// Nothing pinned: the client may use every CPU (a Lambda function over 1,769 MB has 2+
    /// vCPUs).
    Unpinned,
    /// The harness on CPU 0, the client's whole process tree on CPU 1 (a function of 128 to
    /// 1,769 MB has at most one vCPU's worth).
    Pinned,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Unpinned, Mode::Pinned];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Unpinned => "unpinned",
            Mode::Pinned => "pinned",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == s)
    }

    /// The section heading: the mode and the Lambda memory sizes it stands for.
    pub fn title(self) -> &'static str {
        match self {
            Mode::Unpinned => "Unpinned: the client may use both CPUs (as a Lambda function of more than 1,769 MB, 2+ vCPUs)",
            Mode::Pinned => "Pinned: the client's process tree on one CPU (as a Lambda function of 128–1,769 MB, at most one vCPU)",
        }
    }
}

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
    m("cpu", "CPU per invocation, process tree (schedstat)", "µs"),
    m(
        "cpu_self",
        "ferric's own CPU per invocation (ferric process alone, schedstat)",
        "µs",
    ),
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

pub fn metric(key: &str) -> &'static Metric {
    METRICS
        .iter()
        .find(|m| m.key == key)
        .expect("targets name known metrics")
}

/// What a target asks of ferric.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// The median of the per-run ratios ferric ÷ baseline: at most (or, for a metric where
    /// higher is better, at least) this.
    Ratio(f64),
    /// ferric's median, in the metric's unit: at most this.
    AtMost(f64),
}

/// A target from the issue: `metric` of `family`'s ferric client, in every mode measured.
pub struct Target {
    pub family: Family,
    pub key: &'static str,
    pub goal: Goal,
}

const fn t(family: Family, key: &'static str, goal: Goal) -> Target {
    Target { family, key, goal }
}

/// Issue 16's targets: Python against awslambdaric 4.2.2, Node against aws-lambda-ric 4.0.2;
/// ferric's own CPU per invocation is absolute (lambda_runtime's whole client: ~33 µs), and
/// applies to the Ruby client too, which has no peer here.
pub const TARGETS: &[Target] = &[
    t(Family::Python, "cold_response", Goal::Ratio(0.45)),
    t(Family::Python, "p50", Goal::Ratio(0.9)),
    t(Family::Python, "p99", Goal::Ratio(1.0)),
    t(Family::Python, "throughput", Goal::Ratio(1.2)),
    t(Family::Python, "cpu_self", Goal::AtMost(25.0)),
    t(Family::Python, "rss", Goal::Ratio(0.9)),
    t(Family::Python, "pss", Goal::Ratio(0.9)),
    t(Family::Python, "echo 1 MiB compact", Goal::Ratio(0.9)),
    t(Family::Python, "echo 1 MiB pretty", Goal::Ratio(0.9)),
    t(Family::Python, "echo 5.5 MB compact", Goal::Ratio(0.9)),
    t(Family::Python, "echo 5.5 MB pretty", Goal::Ratio(0.9)),
    t(Family::Node, "cold_response", Goal::Ratio(0.9)),
    t(Family::Node, "p50", Goal::Ratio(0.85)),
    t(Family::Node, "p99", Goal::Ratio(1.0)),
    t(Family::Node, "throughput", Goal::Ratio(1.5)),
    t(Family::Node, "cpu_self", Goal::AtMost(25.0)),
    t(Family::Node, "rss", Goal::Ratio(1.0)),
    t(Family::Node, "pss", Goal::Ratio(1.0)),
    t(Family::Node, "echo 1 MiB compact", Goal::Ratio(0.8)),
    t(Family::Node, "echo 1 MiB pretty", Goal::Ratio(0.8)),
    t(Family::Node, "echo 5.5 MB compact", Goal::Ratio(0.8)),
    t(Family::Node, "echo 5.5 MB pretty", Goal::Ratio(0.8)),
    t(Family::Ruby, "cpu_self", Goal::AtMost(25.0)),
];

/// The figures of one run in one mode (absent when that run failed).
pub type Metrics = BTreeMap<String, f64>;

/// One client's (or one floor's) outcome over all runs.
pub struct ClientReport {
    pub key: &'static str,
    pub label: &'static str,
    pub family: Family,
    pub command: String,
    /// Why the client has no numbers (skipped or failed), if it has none.
    pub status: Option<String>,
    /// A wrong answer (fails the run).
    pub wrong: bool,
    /// Per mode, per run index: the metrics measured in that run.
    pub runs: BTreeMap<Mode, Vec<Option<Metrics>>>,
    pub errors: Vec<String>,
    /// Largest response body seen (bytes).
    pub largest_response: usize,
    /// Most invocations in flight at once in the MAX_CONCURRENCY=2 sessions.
    pub conc_in_flight: usize,
}

impl ClientReport {
    pub fn new(key: &'static str, label: &'static str, family: Family) -> ClientReport {
        ClientReport {
            key,
            label,
            family,
            command: String::new(),
            status: None,
            wrong: false,
            runs: BTreeMap::new(),
            errors: Vec::new(),
            largest_response: 0,
            conc_in_flight: 0,
        }
    }

    fn mode_runs(&self, mode: Mode) -> &[Option<Metrics>] {
        self.runs.get(&mode).map_or(&[], Vec::as_slice)
    }

    fn values(&self, key: &str, mode: Mode) -> Vec<f64> {
        self.mode_runs(mode)
            .iter()
            .flatten()
            .filter_map(|r| r.get(key).copied())
            .collect()
    }

    pub fn median(&self, key: &str, mode: Mode) -> Option<f64> {
        median(self.values(key, mode))
    }

    /// Runs with figures, over all modes.
    pub fn ok_runs(&self) -> usize {
        self.runs.values().flatten().flatten().count()
    }

    /// Add one run's figures in `mode`.
    pub fn push(&mut self, mode: Mode, metrics: Option<Metrics>) {
        self.runs.entry(mode).or_default().push(metrics);
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

/// Per-run ratios of `a` to `b` for `key` in `mode` (only runs where both were measured):
/// (median, min, max, count).
pub fn ratio(
    a: &ClientReport,
    b: &ClientReport,
    key: &str,
    mode: Mode,
) -> Option<(f64, f64, f64, usize)> {
    let ratios: Vec<f64> = a
        .mode_runs(mode)
        .iter()
        .zip(b.mode_runs(mode))
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

/// Whether `ferric` meets `target` in `mode` (against `base` for a ratio), or None when it
/// was not measured.
pub fn met(
    ferric: &ClientReport,
    base: Option<&ClientReport>,
    target: &Target,
    mode: Mode,
) -> Option<bool> {
    match target.goal {
        Goal::AtMost(limit) => ferric.median(target.key, mode).map(|v| v <= limit),
        Goal::Ratio(limit) => {
            let (r, ..) = ratio(ferric, base?, target.key, mode)?;
            Some(if metric(target.key).higher_is_better {
                r >= limit
            } else {
                r <= limit
            })
        }
    }
}

/// The target as text: `≤ 0.45×`, `≥ 1.2×`, `≤ 25 µs`.
pub fn target_text(target: &Target) -> String {
    let metric = metric(target.key);
    let number = |x: f64| {
        if (x * 10.0).fract().abs() < 1e-9 {
            format!("{x:.1}")
        } else {
            format!("{x:.2}")
        }
    };
    match target.goal {
        Goal::AtMost(limit) => format!("≤ {limit:.0} {}", metric.unit),
        Goal::Ratio(limit) if metric.higher_is_better => format!("≥ {}×", number(limit)),
        Goal::Ratio(limit) => format!("≤ {}×", number(limit)),
    }
}
