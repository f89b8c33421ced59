//! Resident memory during a stream, from /proc: a thread reads `VmRSS` of the client's process
//! and of its children (ferric's worker) every millisecond until it is stopped, and keeps the
//! peaks; `VmHWM` (the kernel's own high-water mark of the process, since it started) is read
//! at the end as a cross-check that no peak fell between two samples.

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const EVERY: Duration = Duration::from_millis(1);

/// The peaks seen, KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peaks {
    /// The client's own process (ferric's supervisor, or aws-lambda-ric's node).
    pub main_kib: u64,
    /// The process and its children, summed at each sample.
    pub tree_kib: u64,
    /// `VmHWM` of the client's process at the end.
    pub hwm_kib: u64,
    pub samples: u64,
}

fn field(pid: u32, name: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `VmRSS` of `pid`, KiB.
pub fn rss(pid: u32) -> Option<u64> {
    field(pid, "VmRSS:")
}

/// The children of `pid` (ferric's workers), from /proc.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parent = |p: u32| -> Option<u32> {
        let text = fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        // The command name is in parentheses and may hold anything: split after the last ')'.
        let after = &text[text.rfind(')')? + 1..];
        after.split_whitespace().nth(1)?.parse().ok()
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| parent(p) == Some(pid))
        .collect()
}

/// A running sampler.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Peaks>,
    pid: u32,
}

impl Sampler {
    /// Sample `pid` and `children` until [`Sampler::finish`].
    pub fn start(pid: u32, children: Vec<u32>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peaks = Peaks::default();
            loop {
                // One last sample after the stop, so that the end of the stream is seen.
                let last = flag.load(Ordering::Acquire);
                if let Some(main) = rss(pid) {
                    let kids: u64 = children.iter().filter_map(|&c| rss(c)).sum();
                    peaks.main_kib = peaks.main_kib.max(main);
                    peaks.tree_kib = peaks.tree_kib.max(main + kids);
                    peaks.samples += 1;
                }
                if last {
                    return peaks;
                }
                std::thread::sleep(EVERY);
            }
        });
        Sampler { stop, thread, pid }
    }

    /// Stop sampling; the peaks.
    pub fn finish(self) -> Peaks {
        self.stop.store(true, Ordering::Release);
        let mut peaks = self.thread.join().unwrap_or_default();
        peaks.hwm_kib = field(self.pid, "VmHWM:").unwrap_or(0);
        peaks
    }
}
