//! The worker's operating-system side, and all of ferric's unsafe code: pipes, the in-memory
//! file a shim bundle travels in, spawning (process group, parent-death signal, descriptors
//! placed at fixed numbers), signals, and reading `/proc`.
//!
//! Every `unsafe` block calls one libc function on descriptors or buffers it owns, or only
//! async-signal-safe functions between fork and exec.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncRead;
use tokio::process::{Child, ChildStdin, Command};

/// Capacity of the frame pipes (Linux's default is 64 KiB; 1 MiB is the unprivileged maximum),
/// so large events and results cross in a few writes.
const PIPE_BYTES: libc::c_int = 1 << 20;

/// Where the worker writes frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameChannel {
    /// The worker's stdout (the Python shim protects it with `dup2`).
    Stdout,
    /// An extra pipe on fd 3; stdout and stderr both go to the log pipe.
    Fd3,
}

/// How to start a worker.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub channel: FrameChannel,
    /// Descriptors the worker inherits at fixed numbers (e.g. a shim bundle on fd 4).
    pub inherit: Vec<(RawFd, Arc<OwnedFd>)>,
    /// Give the worker a telemetry pipe at this descriptor number (its frames are forwarded to
    /// ferric's telemetry descriptor).
    pub telemetry_fd: Option<RawFd>,
    pub max_frame_bytes: usize,
}

/// A started worker process and its ends of the pipes.
pub struct Spawned {
    pub child: Child,
    pub pid: i32,
    pub stdin: ChildStdin,
    pub frames: Box<dyn AsyncRead + Unpin + Send + Sync>,
    /// The read end of the pipe its stdout/stderr logs arrive on.
    pub logs: OwnedFd,
    /// The read end of its telemetry pipe, when it has one.
    pub telemetry: Option<OwnedFd>,
}

/// A pipe whose ends are close-on-exec.
pub fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid two-element array; pipe2 fills it on success.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn grow_pipe(fd: RawFd) {
    // SAFETY: fcntl on a pipe descriptor we own; failure (EPERM, EBUSY) keeps the default size.
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_BYTES);
    }
}

/// One non-blocking `read(2)`. Unlike tokio's `try_read`, this does not consult tokio's cached
/// readiness, so it sees bytes written since the reactor last looked.
pub fn read_now(fd: &impl AsRawFd, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: the descriptor is open for the borrow's lifetime; `buf` is a valid, writable
    // buffer of `buf.len()` bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A read-only, sealed in-memory file holding `bytes` (a shim bundle), close-on-exec in ferric.
/// Workers get it at a fixed descriptor and read it with `pread`. Falls back to an unlinked
/// temporary file where `memfd_create` is not allowed.
pub fn sealed_file(name: &str, bytes: &[u8]) -> std::io::Result<OwnedFd> {
    let cname = std::ffi::CString::new(name).map_err(std::io::Error::other)?;
    // SAFETY: memfd_create with a valid NUL-terminated name; the result is a new descriptor.
    let fd =
        unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    let (file, sealable) = if fd >= 0 {
        // SAFETY: fd was just created and is owned by nobody else.
        (
            std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }),
            true,
        )
    } else {
        (anonymous_tmpfile()?, false)
    };
    use std::io::Write;
    (&file).write_all(bytes)?;
    if sealable {
        let seals =
            libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on the memfd we own.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(OwnedFd::from(file))
}

/// An unnamed file in the temporary directory (`O_TMPFILE`): gone when its last descriptor is.
fn anonymous_tmpfile() -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .open(std::env::temp_dir())
}

/// A command for `spec`'s program, arguments and environment, with `spec.inherit` (and
/// `extra`) placed at their descriptor numbers and SIGKILL delivered when ferric dies.
pub fn command(spec: &WorkerSpec, extra: &[(RawFd, RawFd)]) -> Command {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)));
    let mut placed: Vec<(RawFd, RawFd)> = spec
        .inherit
        .iter()
        .map(|(target, fd)| (*target, fd.as_raw_fd()))
        .collect();
    placed.extend_from_slice(extra);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure only calls async-signal-safe functions (prctl, getppid, fcntl, dup2)
    // on descriptors that stay open in the parent until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                // ferric died between fork and prctl: nobody would supervise this process.
                return Err(std::io::Error::from(ErrorKind::BrokenPipe));
            }
            place_descriptors(&placed)
        });
    }
    cmd
}

/// Start a worker: its own process group, SIGKILL when ferric dies, stdin and the frame channel
/// piped, stdout/stderr on the log pipe (stdout is the frame channel for [`FrameChannel::Stdout`]
/// workers), and `spec.inherit` at their descriptor numbers.
pub fn spawn(spec: &WorkerSpec) -> std::io::Result<Spawned> {
    let (log_read, log_write) = pipe()?;
    let fd3 = match spec.channel {
        FrameChannel::Stdout => None,
        FrameChannel::Fd3 => Some(pipe()?),
    };
    let telemetry = match spec.telemetry_fd {
        Some(target) => Some((target, pipe()?)),
        None => None,
    };
    let mut extra: Vec<(RawFd, RawFd)> = fd3.iter().map(|(_, w)| (3, w.as_raw_fd())).collect();
    extra.extend(
        telemetry
            .iter()
            .map(|(target, (_, w))| (*target, w.as_raw_fd())),
    );
    let mut cmd = command(spec, &extra);
    cmd.stdin(Stdio::piped())
        .stderr(Stdio::from(log_write.try_clone()?))
        .kill_on_drop(true)
        .process_group(0);
    match spec.channel {
        FrameChannel::Stdout => cmd.stdout(Stdio::piped()),
        FrameChannel::Fd3 => cmd.stdout(Stdio::from(log_write.try_clone()?)),
    };
    let mut child = cmd.spawn()?;
    drop(cmd);
    drop(log_write);
    let pid = child.id().map_or(0, |p| p as i32);
    worker_pids().insert(pid);
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no stdin pipe"))?;
    grow_pipe(stdin.as_raw_fd());
    let frames: Box<dyn AsyncRead + Unpin + Send + Sync> = match fd3 {
        None => {
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| std::io::Error::other("no stdout pipe"))?;
            grow_pipe(stdout.as_raw_fd());
            Box::new(stdout)
        }
        Some((read, write)) => {
            grow_pipe(read.as_raw_fd());
            drop(write);
            Box::new(tokio::net::unix::pipe::Receiver::from_owned_fd(read)?)
        }
    };
    Ok(Spawned {
        child,
        pid,
        stdin,
        frames,
        logs: log_read,
        telemetry: telemetry.map(|(_, (read, _write))| read),
    })
}

/// In the child: put each `(target, source)` descriptor at `target`. Sources are first copied
/// above every target, so one placement cannot clobber another's source.
///
/// # Safety
/// Runs between fork and exec: only async-signal-safe calls, no allocation.
unsafe fn place_descriptors(placed: &[(RawFd, RawFd)]) -> std::io::Result<()> {
    const HIGH: RawFd = 64;
    let mut copies = [(-1, -1); 8];
    if placed.len() > copies.len() {
        return Err(std::io::Error::from(ErrorKind::InvalidInput));
    }
    for (slot, (target, source)) in copies.iter_mut().zip(placed) {
        // SAFETY: fcntl on a descriptor inherited from the parent; the copy is close-on-exec.
        let copy = unsafe { libc::fcntl(*source, libc::F_DUPFD_CLOEXEC, HIGH) };
        if copy < 0 {
            return Err(std::io::Error::last_os_error());
        }
        *slot = (*target, copy);
    }
    for (target, copy) in copies.iter().take(placed.len()) {
        // SAFETY: dup2 onto a fixed number; the new descriptor is inheritable (no CLOEXEC).
        if unsafe { libc::dup2(*copy, *target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A close-on-exec copy of descriptor `fd`, which is marked close-on-exec too, so that no
/// child inherits it (fails when `fd` is not open).
pub fn adopt_descriptor(fd: RawFd) -> std::io::Result<OwnedFd> {
    // SAFETY: fcntl on a descriptor number; F_DUPFD_CLOEXEC fails with EBADF if it is not
    // open, and otherwise gives a new descriptor owned by nobody else.
    let own = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
    if own < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fcntl on the still-open original; it stays open but is no longer inherited.
    unsafe {
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    // SAFETY: `own` was just created by fcntl and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(own) })
}

/// Send `sig` to one process.
pub fn signal(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: plain kill(2) on a pid we spawned; errors (already gone) are ignored.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Send `sig` to a worker's process group.
pub fn kill_group(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: the worker leads its own process group (process_group(0)), so -pid names
        // exactly the worker's tree (less what left the group).
        unsafe {
            libc::kill(-pid, sig);
        }
    }
}

/// Worker pids whose exit tokio reaps (through their `Child`); [`reap_orphans`] leaves them alone.
static WORKER_PIDS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn worker_pids() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    WORKER_PIDS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Forget a worker whose exit status tokio has collected.
pub fn forget_worker(pid: i32) {
    worker_pids().remove(&pid);
}

/// Make ferric the reaper of its descendants' orphans (`PR_SET_CHILD_SUBREAPER`): a process that
/// leaves a worker's group (`setsid`, a daemonising library) and outlives the worker is adopted
/// by ferric, not by init, so ferric can find and end it.
pub fn become_subreaper() -> std::io::Result<()> {
    // SAFETY: prctl with an integer argument; no memory is passed.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `(pid, parent pid, state)` of every process, from `/proc/<pid>/stat`.
fn processes() -> Vec<(i32, i32, char)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may contain spaces and parentheses: fields resume after the last ')'.
        let mut rest = stat.rsplit_once(')')?.1.split_whitespace();
        let state = rest.next()?.chars().next()?;
        let ppid = rest.next()?.parse().ok()?;
        Some((pid, ppid, state))
    })
    .collect()
}

/// `root`'s descendants (not `root` itself), parents before children.
fn descendants_in(all: &[(i32, i32, char)], root: i32) -> Vec<i32> {
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(all.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    found.remove(0);
    found
}

/// Processes ferric adopted or started that are not workers (what escaped a worker's group
/// and outlived it), with their descendants.
fn orphans(all: &[(i32, i32, char)]) -> Vec<i32> {
    let me = std::process::id() as i32;
    let workers = worker_pids().clone();
    let mut out = Vec::new();
    for (pid, _, _) in all.iter().filter(|p| p.1 == me && !workers.contains(&p.0)) {
        out.push(*pid);
        out.extend(descendants_in(all, *pid));
    }
    out
}

/// The live processes descended from `root`.
pub fn descendants(root: i32) -> Vec<i32> {
    descendants_in(&processes(), root)
}

/// SIGKILL each of `pids` (ignoring those already gone), then reap what ferric must reap.
pub fn kill_all(pids: &[i32]) {
    for pid in pids {
        signal(*pid, libc::SIGKILL);
    }
    reap_orphans();
}

/// SIGKILL every orphan ferric adopted (see [`become_subreaper`]) and its descendants; returns
/// how many there were. Live workers and their own trees are left alone.
pub fn kill_orphans() -> usize {
    let found = orphans(&processes());
    kill_all(&found);
    found.len()
}

/// Collect the exit status of every exited child of ferric that is not a worker (adopted
/// orphans), so none stays a zombie; returns how many.
pub fn reap_orphans() -> usize {
    let me = std::process::id() as i32;
    let workers = worker_pids().clone();
    let mut reaped = 0;
    for (pid, _, _) in processes()
        .into_iter()
        .filter(|p| p.1 == me && p.2 == 'Z' && !workers.contains(&p.0))
    {
        let mut status = 0;
        // SAFETY: waitpid on one exited child that tokio does not own; WNOHANG never blocks.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            reaped += 1;
        }
    }
    reaped
}

/// Resident memory of a process in MiB, from `/proc/<pid>/status`.
pub fn rss_mib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn reads_own_rss() {
        let rss = rss_mib(std::process::id() as i32).unwrap();
        assert!(rss < 10_000);
        assert_eq!(rss_mib(-1), None);
    }

    #[test]
    fn sealed_file_is_readable_at_offsets_and_not_writable() {
        let fd = sealed_file("ferric-test", b"hello bundle").unwrap();
        let file = std::fs::File::from(fd);
        let mut buf = [0u8; 6];
        file.read_exact_at(&mut buf, 6).unwrap();
        assert_eq!(&buf, b"bundle");
        assert!(file.write_at(b"x", 0).is_err(), "sealed against writes");
    }

    #[tokio::test]
    async fn inherited_descriptors_land_at_their_numbers() {
        let bundle = Arc::new(sealed_file("ferric-test", b"on fd four").unwrap());
        let spec = WorkerSpec {
            program: "/bin/sh".into(),
            // A fresh open of the descriptor reads from offset 0, as pread does.
            args: vec![
                "-c".into(),
                "head -c 10 /proc/self/fd/4 >&2; echo >&2; ls /proc/self/fd >&2".into(),
            ],
            env: vec![],
            channel: FrameChannel::Fd3,
            inherit: vec![(4, bundle)],
            telemetry_fd: None,
            max_frame_bytes: 1024,
        };
        let mut spawned = spawn(&spec).unwrap();
        let status = spawned.child.wait().await.unwrap();
        assert!(status.success());
        let mut logs = std::fs::File::from(spawned.logs);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut logs, &mut text).unwrap();
        assert!(text.starts_with("on fd four\n"), "{text}");
        let fds: Vec<i32> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.parse().ok())
            .collect();
        assert!(fds.contains(&3) && fds.contains(&4), "{fds:?}");
        // The temporary copies made while placing descriptors are close-on-exec.
        assert!(!fds.iter().any(|fd| (64..72).contains(fd)), "{fds:?}");
    }
}
