//! The client's process tree, read from /proc: CPU time and resident memory, summed over the
//! client process and every process whose ancestor it is (ferric's worker, awslambdaric's
//! forked workers...).
//!
//! CPU time comes from `/proc/<pid>/task/<tid>/schedstat` (nanoseconds on a CPU, per thread),
//! because `utime`+`stime` in `/proc/<pid>/stat` count 10 ms ticks, too coarse for a phase of a
//! second or two; the tick count is kept as a cross-check.

use std::collections::HashMap;
use std::fs;

/// One reading of a process tree.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Time on a CPU, all threads of all processes of the tree, nanoseconds.
    pub cpu_ns: u64,
    /// `utime + stime` of all processes of the tree, clock ticks.
    pub cpu_ticks: u64,
    /// Sum of `VmRSS` over the tree, KiB.
    pub rss_kib: u64,
    /// Sum of `Pss` over the tree, KiB (shared pages split between their users, so libc
    /// shared by ferric and its worker counts once).
    pub pss_kib: u64,
    pub processes: usize,
}

/// `(pid, ppid, utime + stime)` from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything: split after the last ')'.
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // after ')': state(0) ppid(1) ... utime(11) stime(12)
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// `root` and all its descendants.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some((ppid, _)) = stat(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(kids) = children.get(&out[i]) {
            out.extend(kids);
        }
        i += 1;
    }
    out
}

/// Time on a CPU of one process (all its threads, none of its children), nanoseconds.
pub fn process_cpu_ns(pid: u32) -> u64 {
    schedstat_ns(pid)
}

fn schedstat_ns(pid: u32) -> u64 {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn rss_kib(pid: u32) -> u64 {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn pss_kib(pid: u32) -> u64 {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
        return 0;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Read the tree rooted at `root` now.
pub fn usage(root: u32) -> Usage {
    let mut u = Usage::default();
    for pid in tree(root) {
        let Some((_, ticks)) = stat(pid) else {
            continue;
        };
        u.processes += 1;
        u.cpu_ticks += ticks;
        u.cpu_ns += schedstat_ns(pid);
        u.rss_kib += rss_kib(pid);
        u.pss_kib += pss_kib(pid);
    }
    u
}

/// CPU nanoseconds per process of the tree: `(pid, command name, ns)`.
pub fn per_process(root: u32) -> Vec<(u32, String, u64)> {
    tree(root)
        .into_iter()
        .map(|pid| {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            (pid, comm.trim().to_string(), schedstat_ns(pid))
        })
        .collect()
}

/// `VmRSS` (KiB) per process of the tree: `(pid, command name, KiB)`.
pub fn rss_per_process(root: u32) -> Vec<(u32, String, u64)> {
    tree(root)
        .into_iter()
        .map(|pid| {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            (pid, comm.trim().to_string(), rss_kib(pid))
        })
        .collect()
}

/// SIGKILL every process of the tree. Everything is stopped first, so a supervisor cannot
/// replace a worker between the listing and the kill.
pub fn kill_tree(root: u32) {
    let signal_all = |pids: &[u32], sig: libc::c_int| {
        for &pid in pids {
            // SAFETY: kill(2) has no memory-safety preconditions; a stale pid is at worst ESRCH.
            unsafe {
                libc::kill(pid as libc::pid_t, sig);
            }
        }
    };
    let first = tree(root);
    signal_all(&first, libc::SIGSTOP);
    let mut all = tree(root);
    all.extend(first);
    signal_all(&all, libc::SIGKILL);
}

/// Clock ticks per second (for the stat cross-check).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}
