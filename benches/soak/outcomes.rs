//! Tables of the fault and SIGTERM scenarios: answers by kind, lost or doubled posts, exits.

use std::fmt::Write as _;
use std::time::Duration;

use crate::faults::{self, Plan};
use crate::report::{growth, median_f, mib};
use crate::sigterm::{self, GRACE};
use crate::spawn::Runtime;

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

/// Whether a fault run kept every promise: each invocation answered as asked, once.
pub fn fault_ok(r: &faults::Run) -> bool {
    r.failure.is_none() && r.wrong.is_empty() && r.lost == 0 && r.twice == 0 && r.refused == 0
}

pub fn faults_table(out: &mut String, plan: &Plan, runs: &[faults::Run]) {
    let (echo, crash, hang) = plan.expected();
    out.push_str("| run | responses (echo) | `Runtime.ExitError` | `Runtime.Timeout` | other / wrong kind | lost (no accepted post) | twice (> 1 accepted post) | refused posts | wall time | ferric RSS before → after | ferric fds before → after | workers at the end | |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    let _ = writeln!(
        out,
        "| expected | {echo} | {crash} | {hang} | 0 | 0 | 0 | 0 | | | | {} | |",
        plan.lanes
    );
    for (i, r) in runs.iter().enumerate() {
        if let Some(f) = &r.failure {
            let first = f.lines().next().unwrap_or("");
            let _ = writeln!(out, "| {} | FAILED: {first} ||||||||||||", i + 1);
            continue;
        }
        let rss = r.ferric_after.rss_kib as i64 - r.ferric_before.rss_kib as i64;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s | {} → {} MiB ({}) | {} → {} | {} | {} |",
            i + 1,
            r.responses,
            r.exit_errors,
            r.timeouts,
            r.wrong.len(),
            r.lost,
            r.twice,
            r.refused,
            r.wall.as_secs_f64(),
            mib(r.ferric_before.rss_kib),
            mib(r.ferric_after.rss_kib),
            growth(rss),
            r.ferric_before.fds,
            r.ferric_after.fds,
            r.workers_after,
            if fault_ok(r) { "✅" } else { "❌" },
        );
    }
    let ok: Vec<&faults::Run> = runs.iter().filter(|r| r.failure.is_none()).collect();
    if ok.is_empty() {
        return;
    }
    let kind = |k: usize| median_f(ok.iter().map(|r| r.latency[k].as_secs_f64()).collect());
    let wall = median_f(ok.iter().map(|r| r.wall.as_secs_f64()).collect());
    let _ = writeln!(
        out,
        "\nMedian over runs: wall time **{wall:.1} s** for {} invocations; time to the answer by kind: \
         echo {:.1} ms, crash (`Runtime.ExitError`) {:.1} ms, hang (`Runtime.Timeout`, deadline {}) {:.0} ms.",
        plan.lanes as u64 * plan.per_lane,
        kind(0) * 1e3,
        kind(1) * 1e3,
        ms(plan.timeout),
        kind(2) * 1e3,
    );
    for r in &ok {
        for w in r.wrong.iter().take(5) {
            let _ = writeln!(out, "* wrong: {w}");
        }
    }
}

/// The exit of a run, as text.
fn exit_text(r: &sigterm::Run) -> String {
    use std::os::unix::process::ExitStatusExt;
    match r.exit {
        None => "did not exit".into(),
        Some(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(15)) => "killed by SIGTERM".into(),
            (None, Some(sig)) => format!("signal {sig}"),
            _ => s.to_string(),
        },
    }
}

fn median_ms(v: Vec<Option<Duration>>) -> String {
    let v: Vec<f64> = v.into_iter().flatten().map(|d| d.as_secs_f64()).collect();
    if v.is_empty() {
        return "–".into();
    }
    format!("{:.0} ms", median_f(v) * 1e3)
}

pub fn sigterm_table(out: &mut String, runs: &[sigterm::Run], sleep: Duration) {
    out.push_str("| client | in flight at SIGTERM | runs | answered (echo) | exactly one post | exit | SIGTERM → last answer (median) | SIGTERM → exit (median) | last answer → exit: median (max) | `/next` after SIGTERM | processes left running | |\n");
    out.push_str("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|\n");
    let mut groups: Vec<(Runtime, usize)> = runs.iter().map(|r| (r.runtime, r.in_flight)).collect();
    groups.dedup();
    for (runtime, n) in groups {
        let these: Vec<&sigterm::Run> = runs
            .iter()
            .filter(|r| r.runtime == runtime && r.in_flight == n)
            .collect();
        let mut exits: Vec<String> = these.iter().map(|r| exit_text(r)).collect();
        exits.sort();
        exits.dedup();
        let max = these
            .iter()
            .filter_map(|r| r.last_answer_to_exit)
            .max()
            .map_or("–".into(), ms);
        let after: usize = these.iter().map(|r| r.answered_after_exit).sum();
        let after = match after {
            0 => String::new(),
            n => format!(", {n} answer(s) after the exit"),
        };
        let verdict = match runtime {
            Runtime::Ferric if these.iter().all(|r| r.ok()) => "✅",
            Runtime::Ferric => "❌",
            Runtime::Awslambdaric => "(context)",
        };
        let failures: Vec<&str> = these
            .iter()
            .filter_map(|r| r.failure.as_deref())
            .map(|f| f.lines().next().unwrap_or(""))
            .collect();
        let _ = writeln!(
            out,
            "| {}{} | {n} | {} | {}/{} | {}/{} | {} | {} | {} | {} ({max}){after} | {} | {} | {verdict} |",
            runtime.key(),
            if failures.is_empty() { String::new() } else { format!(" (FAILED: {})", failures.join("; ")) },
            these.len(),
            these.iter().map(|r| r.answered).sum::<usize>(),
            these.len() * n,
            these.iter().map(|r| r.posted_once).sum::<usize>(),
            these.len() * n,
            exits.join(", "),
            median_ms(these.iter().map(|r| r.term_to_last_answer).collect()),
            median_ms(these.iter().map(|r| r.term_to_exit).collect()),
            median_ms(these.iter().map(|r| r.last_answer_to_exit).collect()),
            these.iter().map(|r| r.polls_after).sum::<u64>(),
            these.iter().map(|r| r.left_running).sum::<usize>(),
        );
    }
    let _ = writeln!(
        out,
        "\nEach handler sleeps {:.1} s; SIGTERM is sent about 100 ms after the last of the N invocations \
         was handed out. ✅ means, in every run: all N answered with their echo, one accepted post each, no \
         `/next` after SIGTERM, exit 0 at most {} (`FERRIC_KILL_GRACE_MS`, default) after the last answer, \
         no process left.",
        sleep.as_secs_f64(),
        ms(GRACE)
    );
}
