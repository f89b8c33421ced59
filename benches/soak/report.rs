//! Memory and descriptor tables: start, middle and end of a run for each process, ferric's and
//! awslambdaric's side by side; the growth verdict.

use std::fmt::Write as _;

use crate::long::Series;
use crate::procs::Reading;
use crate::sample::Sample;
use crate::spawn::Runtime;

/// A process's growth over a run counts as flat below this (KiB).
pub const FLAT_KIB: i64 = 1024;

pub fn mib(kib: u64) -> String {
    format!("{:.2}", kib as f64 / 1024.0)
}

/// A signed difference of KiB: in KiB below 1 MiB, else in MiB.
pub fn growth(kib: i64) -> String {
    if kib.abs() < 1024 {
        format!("{kib:+} KiB")
    } else {
        format!("{:+.2} MiB", kib as f64 / 1024.0)
    }
}

/// A row's readings at start, middle and end.
struct Row {
    label: String,
    start: Reading,
    middle: Reading,
    end: Reading,
}

impl Row {
    fn rss_growth(&self) -> i64 {
        self.end.rss_kib as i64 - self.start.rss_kib as i64
    }

    fn flat(&self) -> bool {
        self.rss_growth() < FLAT_KIB && self.end.fds <= self.start.fds
    }
}

fn sum(readings: &[Reading]) -> Reading {
    readings.iter().fold(Reading::default(), |a, r| Reading {
        pid: 0,
        rss_kib: a.rss_kib + r.rss_kib,
        pss_kib: a.pss_kib + r.pss_kib,
        fds: a.fds + r.fds,
        threads: a.threads + r.threads,
    })
}

/// The rows of one client's series: its process, each worker, and for ferric the sum.
fn rows(series: &Series) -> Vec<Row> {
    let s = &series.samples;
    let (Some(first), Some(last)) = (s.first(), s.last()) else {
        return Vec::new();
    };
    let middle = &s[s.len() / 2];
    let name = match series.runtime {
        Runtime::Ferric => "ferric (Rust supervisor)",
        Runtime::Awslambdaric => "awslambdaric (one Python process)",
    };
    let mut out = vec![Row {
        label: name.into(),
        start: first.main,
        middle: middle.main,
        end: last.main,
    }];
    let worker = |x: &Sample, i: usize| x.workers.get(i).copied().unwrap_or_default();
    for i in 0..first.workers.len() {
        out.push(Row {
            label: "ferric's Python worker".into(),
            start: worker(first, i),
            middle: worker(middle, i),
            end: worker(last, i),
        });
    }
    if series.runtime == Runtime::Ferric {
        out.push(Row {
            label: "ferric + worker".into(),
            start: sum(&[first.main, sum(&first.workers)]),
            middle: sum(&[middle.main, sum(&middle.workers)]),
            end: sum(&[last.main, sum(&last.workers)]),
        });
    }
    out
}

/// Start / middle / end of every process of every series, with the growth verdict.
pub fn memory_table(out: &mut String, series: &[Series]) {
    out.push_str("| process | RSS start | RSS middle | RSS end | RSS growth | PSS start → end | open fds start / middle / end | flat? |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---|\n");
    for s in series {
        if let Some(f) = &s.failure {
            let first = f.lines().next().unwrap_or("");
            let _ = writeln!(out, "| {} | FAILED: {first} |||||||", s.runtime.key());
        }
        for r in rows(s) {
            let verdict = if r.flat() { "✅ flat" } else { "❌ grows" };
            let _ = writeln!(
                out,
                "| {} | {} MiB | {} MiB | {} MiB | **{}** | {} → {} MiB | {} / {} / {} | {verdict} |",
                r.label,
                mib(r.start.rss_kib),
                mib(r.middle.rss_kib),
                mib(r.end.rss_kib),
                growth(r.rss_growth()),
                mib(r.start.pss_kib),
                mib(r.end.pss_kib),
                r.start.fds,
                r.middle.fds,
                r.end.fds,
            );
        }
    }
}

/// Median of floats (empty: 0).
pub fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// One line per series: invocations checked, throughput, time.
pub fn throughput_lines(out: &mut String, series: &[Series]) {
    for s in series {
        let rates = &s.rates;
        let _ = writeln!(
            out,
            "* {}: {} invocations answered and checked (the echo of each unique event) in {:.0} s of feeding; \
             throughput per chunk: median {:.0} inv/s (range {:.0}–{:.0}).",
            s.runtime.key(),
            thousands(s.answered),
            s.wall.as_secs_f64(),
            median_f(rates.clone()),
            rates.iter().copied().fold(f64::INFINITY, f64::min).min(f64::MAX),
            rates.iter().copied().fold(0.0, f64::max),
        );
    }
}

/// RSS (MiB) and fds of each process at every checkpoint: the curve behind start/middle/end.
pub fn curve_table(out: &mut String, series: &[Series]) {
    let Some(longest) = series.iter().max_by_key(|s| s.samples.len()) else {
        return;
    };
    let header: Vec<String> = longest.samples.iter().map(|x| thousands(x.done)).collect();
    let _ = writeln!(out, "| process \\ invocations | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(header.len()));
    for s in series {
        let mut lines: Vec<(String, Vec<Reading>)> = vec![(
            s.runtime.key().to_string(),
            s.samples.iter().map(|x| x.main).collect(),
        )];
        let workers = s.samples.first().map_or(0, |x| x.workers.len());
        for i in 0..workers {
            let readings = s
                .samples
                .iter()
                .map(|x| x.workers.get(i).copied().unwrap_or_default())
                .collect();
            lines.push(("ferric's worker".to_string(), readings));
        }
        for (label, readings) in lines {
            let rss: Vec<String> = readings.iter().map(|r| mib(r.rss_kib)).collect();
            let fds: Vec<String> = readings.iter().map(|r| r.fds.to_string()).collect();
            let _ = writeln!(out, "| {label}: RSS MiB | {} |", rss.join(" | "));
            let _ = writeln!(out, "| {label}: fds | {} |", fds.join(" | "));
        }
    }
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Several runs of the same length: per process, median start, end and growth (range).
pub fn runs_table(out: &mut String, runs: &[Vec<Series>]) {
    out.push_str("| process | runs | RSS start (median) | RSS end (median) | RSS growth: median (range) | open fds start → end (median) | flat in every run? |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---|\n");
    let width = runs.iter().map(Vec::len).max().unwrap_or(0);
    for client in 0..width {
        let per_run: Vec<Vec<Row>> = runs
            .iter()
            .filter_map(|r| r.get(client))
            .filter(|s| s.failure.is_none())
            .map(rows)
            .collect();
        let failed = runs
            .iter()
            .filter_map(|r| r.get(client))
            .filter(|s| s.failure.is_some())
            .count();
        let Some(first) = per_run.first() else {
            continue;
        };
        for (i, label) in first.iter().map(|r| r.label.clone()).enumerate() {
            let these: Vec<&Row> = per_run.iter().filter_map(|r| r.get(i)).collect();
            let pick = |f: fn(&Row) -> i64| {
                let mut v: Vec<i64> = these.iter().map(|r| f(r)).collect();
                v.sort_unstable();
                v
            };
            let start = pick(|r| r.start.rss_kib as i64);
            let end = pick(|r| r.end.rss_kib as i64);
            let grow = pick(Row::rss_growth);
            let fds0 = pick(|r| r.start.fds as i64);
            let fds1 = pick(|r| r.end.fds as i64);
            let med = |v: &[i64]| v[v.len() / 2];
            let flat = these.iter().all(|r| r.flat());
            let _ = writeln!(
                out,
                "| {label} | {}{} | {} MiB | {} MiB | **{}** ({} … {}) | {} → {} | {} |",
                these.len(),
                if failed > 0 {
                    format!(" ({failed} failed)")
                } else {
                    String::new()
                },
                mib(med(&start) as u64),
                mib(med(&end) as u64),
                growth(med(&grow)),
                growth(grow[0]),
                growth(grow[grow.len() - 1]),
                med(&fds0),
                med(&fds1),
                if flat { "✅ flat" } else { "❌ grows" },
            );
        }
    }
}

/// Whether ferric's processes stayed flat in these series (for the summary).
pub fn ferric_flat(series: &[Series]) -> Option<bool> {
    let f: Vec<&Series> = series
        .iter()
        .filter(|s| s.runtime == Runtime::Ferric)
        .collect();
    if f.is_empty() {
        return None;
    }
    Some(f.iter().all(|s| {
        s.failure.is_none()
            && rows(s)
                .iter()
                .filter(|r| r.label != "ferric + worker")
                .all(Row::flat)
    }))
}
