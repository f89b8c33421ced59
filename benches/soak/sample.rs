//! A sample of a client at a checkpoint: its own process and its children (ferric's workers),
//! each read three times 50 ms apart while the client is idle on `/next`, field by field the
//! median.

use std::time::Duration;

use crate::procs::{self, Reading};

/// A client's processes after `done` measured invocations.
#[derive(Debug, Clone)]
pub struct Sample {
    pub done: u64,
    /// The client's process: ferric, or awslambdaric's Python.
    pub main: Reading,
    /// Its children: ferric's workers (awslambdaric has none with one lane).
    pub workers: Vec<Reading>,
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Field by field the median of readings of one process.
fn median_reading(readings: &[Reading]) -> Reading {
    let field = |f: fn(&Reading) -> u64| median(readings.iter().map(f).collect());
    Reading {
        pid: readings.first().map_or(0, |r| r.pid),
        rss_kib: field(|r| r.rss_kib),
        pss_kib: field(|r| r.pss_kib),
        fds: field(|r| r.fds),
        threads: field(|r| r.threads),
    }
}

/// One reading of `pid` and its children.
fn once(pid: u32) -> Option<(Reading, Vec<Reading>)> {
    let main = procs::read(pid)?;
    let workers = procs::children(pid)
        .into_iter()
        .filter_map(procs::read)
        .collect();
    Some((main, workers))
}

/// Sample `pid` (idle) after `done` invocations; `None` when it is gone.
pub async fn take(pid: u32, done: u64) -> Option<Sample> {
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut all = Vec::new();
    for i in 0..3 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        all.push(once(pid)?);
    }
    let main = median_reading(&all.iter().map(|(m, _)| *m).collect::<Vec<_>>());
    // Workers are matched by pid: one replaced between readings is read as it was last.
    let last = &all[all.len() - 1].1;
    let workers = last
        .iter()
        .map(|w| {
            let same: Vec<Reading> = all
                .iter()
                .filter_map(|(_, ws)| ws.iter().find(|x| x.pid == w.pid).copied())
                .collect();
            median_reading(&same)
        })
        .collect();
    Some(Sample {
        done,
        main,
        workers,
    })
}
