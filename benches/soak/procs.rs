//! Readings of one process from /proc: resident memory (`VmRSS`, `Pss`), open file
//! descriptors, threads; a client's children; and signals to a client's process group.

use std::fs;

/// One process at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    pub pid: u32,
    /// `VmRSS` of `/proc/<pid>/status`, KiB.
    pub rss_kib: u64,
    /// `Pss` of `/proc/<pid>/smaps_rollup`, KiB (shared pages split between their users).
    pub pss_kib: u64,
    /// Entries of `/proc/<pid>/fd`.
    pub fds: u64,
    /// `Threads` of `/proc/<pid>/status`.
    pub threads: u64,
}

fn status_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Read `pid` now; `None` when it is gone (or a zombie).
pub fn read(pid: u32) -> Option<Reading> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    if status
        .lines()
        .any(|l| l.starts_with("State:") && l.contains('Z'))
    {
        return None;
    }
    let pss_kib = fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|t| status_field(&t, "Pss:"))
        .unwrap_or(0);
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Reading {
        pid,
        rss_kib: status_field(&status, "VmRSS:")?,
        pss_kib,
        fds,
        threads: status_field(&status, "Threads:").unwrap_or(0),
    })
}

/// The parent of `pid`, from `/proc/<pid>/stat`.
fn parent(pid: u32) -> Option<u32> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything: split after the last ')'.
    let after = &text[text.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The live children of `pid`, in pid order (ferric's workers).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut kids: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| parent(p) == Some(pid) && read(p).is_some())
        .collect();
    kids.sort_unstable();
    kids
}

/// Whether `pid` runs (a zombie does not).
pub fn alive(pid: u32) -> bool {
    read(pid).is_some()
}

/// Send `signal` to one process.
pub fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions; a stale pid is at worst ESRCH.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// SIGKILL the process group `pgid` (every client is started as a group leader, so this
/// reaches its workers, and awslambdaric's forked processes even after their parent died).
pub fn kill_group(pgid: u32) {
    // SAFETY: as above; a negative pid names a process group.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), libc::SIGKILL);
    }
}
