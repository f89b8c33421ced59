//! CPU affinity: the pinned mode puts the harness on CPU 0 and each client's whole process tree
//! on CPU 1; the unpinned mode gives the harness back the CPUs it started with.

use tokio::process::Command;

use crate::report::Mode;

/// A CPU set holding only `cpu`.
pub fn cpu_set(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET only writes inside the set (cpu is below CPU_SETSIZE for any real machine).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set
}

/// Start `cmd`'s process (and so its whole tree) pinned to `cpu`.
pub fn pin_command(cmd: &mut Command, cpu: usize) {
    let set = cpu_set(cpu);
    // SAFETY: sched_setaffinity is async-signal-safe; the set is built before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The CPUs the harness may run on now.
pub fn own_affinity() -> std::io::Result<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: a valid, writable cpu_set_t of the size given.
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } == 0 {
        Ok(set)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Set the affinity of every thread of the harness (the runtime's thread and any blocking-pool
/// threads) to `set`: CPU 0 for the pinned mode, what it started with for the unpinned one.
pub fn set_own_affinity(set: &libc::cpu_set_t) -> std::io::Result<()> {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    let mut tids: Vec<libc::pid_t> = std::fs::read_dir("/proc/self/task")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    if tids.is_empty() {
        tids.push(0); // the calling thread
    }
    for tid in tids {
        // SAFETY: a valid cpu_set_t of the size given; a thread gone since is at worst ESRCH.
        if unsafe { libc::sched_setaffinity(tid, size, set) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The harness's own CPU affinity per mode: CPU 0 when pinned, what it started with when not.
pub struct Affinity {
    original: libc::cpu_set_t,
}

impl Affinity {
    /// The affinity the harness started with; `Err` if it cannot be read.
    pub fn new() -> Result<Affinity, String> {
        let original = own_affinity().map_err(|e| format!("cannot read the CPU affinity: {e}"))?;
        Ok(Affinity { original })
    }

    /// Whether the pinned mode is possible: the harness may run on CPUs 0 and 1.
    pub fn can_pin(&self) -> bool {
        // SAFETY: CPU_ISSET only reads inside the set.
        let has = |cpu| unsafe { libc::CPU_ISSET(cpu, &self.original) };
        has(0) && has(1)
    }

    pub fn enter(&self, mode: Mode) -> std::io::Result<()> {
        match mode {
            Mode::Pinned => set_own_affinity(&cpu_set(0)),
            Mode::Unpinned => set_own_affinity(&self.original),
        }
    }
}
