//! The summary (printed at the end and at the top of SOAK.md) and what makes the run fail.

use std::fmt::Write as _;

use crate::long::Series;
use crate::options::Opts;
use crate::page::Results;
use crate::report::{self, thousands};
use crate::spawn::Runtime;
use crate::{outcomes, sigterm};

/// RSS growth start → end of each process of a series, as text.
fn growth_text(s: &Series) -> String {
    let (Some(a), Some(b)) = (s.samples.first(), s.samples.last()) else {
        return format!("{}: no samples", s.runtime.key());
    };
    let g = |x: u64, y: u64| report::growth(y as i64 - x as i64);
    let mut parts = vec![format!(
        "{} {} (fds {} → {})",
        match s.runtime {
            Runtime::Ferric => "ferric",
            Runtime::Awslambdaric => "awslambdaric",
        },
        g(a.main.rss_kib, b.main.rss_kib),
        a.main.fds,
        b.main.fds
    )];
    for (w0, w1) in a.workers.iter().zip(&b.workers) {
        parts.push(format!(
            "worker {} (fds {} → {})",
            g(w0.rss_kib, w1.rss_kib),
            w0.fds,
            w1.fds
        ));
    }
    parts.join(", ")
}

/// The median over runs of each process's RSS growth (and fd change), as text.
fn median_growth_text(runs: &[Vec<Series>]) -> String {
    let width = runs.iter().map(Vec::len).max().unwrap_or(0);
    let mut parts = Vec::new();
    for c in 0..width {
        let series: Vec<&Series> = runs.iter().filter_map(|r| r.get(c)).collect();
        let Some(first) = series.first() else {
            continue;
        };
        let ends = |s: &Series| Some((s.samples.first()?.clone(), s.samples.last()?.clone()));
        let pairs: Vec<_> = series.iter().filter_map(|s| ends(s)).collect();
        let med = |mut v: Vec<i64>| {
            v.sort_unstable();
            v.get(v.len() / 2).copied().unwrap_or(0)
        };
        let main_g = med(pairs
            .iter()
            .map(|(a, b)| b.main.rss_kib as i64 - a.main.rss_kib as i64)
            .collect());
        let main_f = med(pairs
            .iter()
            .map(|(a, b)| b.main.fds as i64 - a.main.fds as i64)
            .collect());
        parts.push(format!(
            "{} {} (fds {main_f:+})",
            first.runtime.key(),
            report::growth(main_g)
        ));
        let workers = pairs.first().map_or(0, |(a, _)| a.workers.len());
        for i in 0..workers {
            let w = |x: &crate::sample::Sample| x.workers.get(i).copied().unwrap_or_default();
            let g = med(pairs
                .iter()
                .map(|(a, b)| w(b).rss_kib as i64 - w(a).rss_kib as i64)
                .collect());
            let f = med(pairs
                .iter()
                .map(|(a, b)| w(b).fds as i64 - w(a).fds as i64)
                .collect());
            parts.push(format!("worker {} (fds {f:+})", report::growth(g)));
        }
    }
    parts.join(", ")
}

/// The short summary: one line per part (printed, and at the top of SOAK.md).
pub fn summary(opts: &Opts, r: &Results) -> String {
    let mut out = String::new();
    let flat = |v: Option<bool>| match v {
        Some(true) => "✅ ferric flat",
        Some(false) => "❌ ferric grows",
        None => "ferric not measured",
    };
    if let Some(p) = &r.long {
        let lines: Vec<String> = p.value.iter().map(growth_text).collect();
        let _ = writeln!(
            out,
            "* **{} invocations** (Runtime API), RSS growth start → end: {}. {} ({:.0} min)",
            thousands(opts.long.invocations),
            lines.join("; "),
            flat(report::ferric_flat(&p.value)),
            p.took.as_secs_f64() / 60.0
        );
    }
    if let Some(p) = &r.medium {
        let all: Vec<Series> = p.value.iter().flatten().cloned().collect();
        let lines = median_growth_text(&p.value);
        let _ = writeln!(
            out,
            "* **{} invocations × {} runs**, median RSS growth start → end: {}. {} ({:.0} min)",
            thousands(opts.medium.invocations),
            p.value.len(),
            lines,
            flat(report::ferric_flat(&all)),
            p.took.as_secs_f64() / 60.0
        );
    }
    if let Some(p) = &r.emulator {
        let _ = writeln!(
            out,
            "* **{} invocations through the emulator**: {}. {} ({:.0} min)",
            thousands(opts.emulator.invocations),
            growth_text(&p.value),
            flat(report::ferric_flat(std::slice::from_ref(&p.value))),
            p.took.as_secs_f64() / 60.0
        );
    }
    if let Some(p) = &r.faults {
        let (echo, crash, hang) = opts.faults.expected();
        let runs: Vec<String> = p
            .value
            .iter()
            .map(|x| {
                format!(
                    "{}/{}/{} lost {} twice {} refused {} in {:.1} s",
                    x.responses,
                    x.exit_errors,
                    x.timeouts,
                    x.lost,
                    x.twice,
                    x.refused,
                    x.wall.as_secs_f64()
                )
            })
            .collect();
        let ok = p.value.iter().all(outcomes::fault_ok);
        let _ = writeln!(
            out,
            "* **Faults, {} lanes × {}** (responses/ExitError/Timeout, expected {echo}/{crash}/{hang}): {}. {} ({:.0} min)",
            opts.faults.lanes,
            opts.faults.per_lane,
            runs.join("; "),
            if ok { "✅ none lost, none twice" } else { "❌" },
            p.took.as_secs_f64() / 60.0
        );
    }
    if let Some(p) = &r.sigterm {
        let ferric: Vec<&sigterm::Run> = p
            .value
            .iter()
            .filter(|x| x.runtime == Runtime::Ferric)
            .collect();
        let ok = !ferric.is_empty() && ferric.iter().all(|x| x.ok());
        let worst = ferric
            .iter()
            .filter_map(|x| x.last_answer_to_exit)
            .max()
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "* **SIGTERM** with {:?} in flight, {} runs each: {} (slowest exit {:.0} ms after the last answer). ({:.0} min)",
            opts.sigterm_in_flight,
            opts.sigterm_runs,
            if ok { "✅ ferric answered every in-flight invocation once and exited 0 within its grace" } else { "❌ see the table" },
            worst.as_secs_f64() * 1e3,
            p.took.as_secs_f64() / 60.0
        );
    }
    out
}

/// What makes the run fail: ferric answering wrong, losing or doubling an invocation.
pub fn problems(r: &Results) -> Vec<String> {
    let mut out = Vec::new();
    let mut series: Vec<&Series> = Vec::new();
    if let Some(p) = &r.long {
        series.extend(&p.value);
    }
    if let Some(p) = &r.medium {
        series.extend(p.value.iter().flatten());
    }
    if let Some(p) = &r.emulator {
        series.push(&p.value);
    }
    for s in series.iter().filter(|s| s.runtime == Runtime::Ferric) {
        if let Some(f) = &s.failure {
            out.push(format!("ferric: {}", f.lines().next().unwrap_or("")));
        }
    }
    if let Some(p) = &r.faults {
        for (i, x) in p
            .value
            .iter()
            .enumerate()
            .filter(|(_, x)| !outcomes::fault_ok(x))
        {
            out.push(format!(
                "faults run {}: {} wrong, {} lost, {} twice, {} refused{}",
                i + 1,
                x.wrong.len(),
                x.lost,
                x.twice,
                x.refused,
                x.failure
                    .as_deref()
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default()
            ));
        }
    }
    if let Some(p) = &r.sigterm {
        for x in p
            .value
            .iter()
            .filter(|x| x.runtime == Runtime::Ferric && !x.correct())
        {
            out.push(format!("SIGTERM with {} in flight: {x:?}", x.in_flight));
        }
    }
    out
}
