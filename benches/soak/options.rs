//! The command line: which parts run, with how many invocations.

use std::path::PathBuf;
use std::time::Duration;

use crate::{faults, long};

pub const USAGE: &str = "\
usage: cargo bench --bench soak -- [OPTIONS]

  --smoke                    a few thousand invocations in all, seconds; writes target/soak/smoke.md
  --parts A,B,...            parts to run (default all): long, medium, emulator, faults, sigterm
  --invocations N            long run: invocations per client (default 1000000; smoke 2000)
  --medium-invocations N     medium runs: invocations per client (default 50000; smoke 1000)
  --medium-runs N            medium runs, fresh processes each (default 3; smoke 1)
  --emulator-invocations N   through ferric's invoke endpoint (default 100000; smoke 1000)
  --lane-invocations N       faults: invocations per lane, 4 lanes (default 500; smoke 40)
  --fault-runs N             faults: runs, fresh ferric each (default 3; smoke 1)
  --sigterm-runs N           SIGTERM: runs per configuration (default 5; smoke 1)
  --warmup N                 unmeasured invocations before the first sample of the long,
                             medium and emulator runs (default 2000, 1000, 1000; smoke 200, 100, 100)
  --no-awslambdaric          measure ferric alone
  --out PATH                 the report (default benches/SOAK.md when every part runs at full
                             counts; otherwise target/soak/smoke.md or target/soak/partial.md)
  --no-install               do not install awslambdaric into .cache/py-venv when it is missing
  --no-build                 do not run cargo build --release (use target/release/ferric)
";

/// The parts of the soak, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Long,
    Medium,
    Emulator,
    Faults,
    Sigterm,
}

pub const ALL: &[Part] = &[
    Part::Long,
    Part::Medium,
    Part::Emulator,
    Part::Faults,
    Part::Sigterm,
];

impl Part {
    fn parse(s: &str) -> Result<Part, String> {
        Ok(match s {
            "long" => Part::Long,
            "medium" => Part::Medium,
            "emulator" => Part::Emulator,
            "faults" => Part::Faults,
            "sigterm" => Part::Sigterm,
            _ => return Err(format!("unknown part {s:?}")),
        })
    }

    pub fn title(self) -> &'static str {
        match self {
            Part::Long => "long run (Runtime API)",
            Part::Medium => "medium runs (Runtime API)",
            Part::Emulator => "long run (emulator invoke endpoint)",
            Part::Faults => "faults under lanes",
            Part::Sigterm => "SIGTERM with invocations in flight",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Opts {
    pub smoke: bool,
    pub parts: Vec<Part>,
    pub long: long::Plan,
    pub medium: long::Plan,
    pub medium_runs: usize,
    pub emulator: long::Plan,
    pub faults: faults::Plan,
    pub fault_runs: usize,
    pub sigterm_runs: usize,
    pub sigterm_in_flight: Vec<usize>,
    pub sigterm_sleep: Duration,
    pub awslambdaric: bool,
    pub out: Option<PathBuf>,
    pub install: bool,
    pub build: bool,
    /// Every part at its full default count (so the run may write benches/SOAK.md).
    pub full: bool,
}

fn number(s: &str) -> Result<u64, String> {
    s.replace(['_', ','], "")
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(format!("{s:?} is not a positive whole number"))
}

/// A long-run plan: `n` invocations, chunks of at most 10,000, `checkpoints` samples.
fn plan(n: u64, warmup: u64, checkpoints: u64) -> long::Plan {
    long::Plan {
        invocations: n,
        warmup,
        checkpoints,
        chunk: 10_000,
    }
}

impl Opts {
    pub fn parse(args: impl Iterator<Item = String>) -> Result<Opts, String> {
        let args: Vec<String> = args.collect();
        if args.is_empty() {
            // `cargo test --benches` / `--all-targets` (cargo bench passes --bench): a smoke run
            // with what is installed.
            return Opts::parse(["--smoke", "--no-install"].map(String::from).into_iter());
        }
        let mut smoke = false;
        let mut parts = ALL.to_vec();
        let mut counts: [Option<u64>; 8] = [None; 8];
        let (mut awslambdaric, mut out, mut install, mut build) = (true, None, true, true);
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
            let slot = match arg.as_str() {
                "--invocations" => 0,
                "--medium-invocations" => 1,
                "--medium-runs" => 2,
                "--emulator-invocations" => 3,
                "--lane-invocations" => 4,
                "--fault-runs" => 5,
                "--sigterm-runs" => 6,
                "--warmup" => 7,
                _ => usize::MAX,
            };
            if slot != usize::MAX {
                counts[slot] = Some(number(&value(&arg)?)?);
                continue;
            }
            match arg.as_str() {
                "--bench" => {} // added by `cargo bench`
                "--smoke" => smoke = true,
                "--parts" => {
                    parts = value("--parts")?
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(Part::parse)
                        .collect::<Result<_, _>>()?;
                    parts.sort_by_key(|p| ALL.iter().position(|q| q == p));
                    parts.dedup();
                }
                "--no-awslambdaric" => awslambdaric = false,
                "--out" => out = Some(PathBuf::from(value("--out")?)),
                "--no-install" => install = false,
                "--no-build" => build = false,
                "-h" | "--help" => return Err("help".into()),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        let full = !smoke && parts == ALL && counts.iter().all(Option::is_none) && awslambdaric;
        let pick =
            |i: usize, full: u64, small: u64| counts[i].unwrap_or(if smoke { small } else { full });
        let checkpoints = if smoke { 2 } else { 10 };
        Ok(Opts {
            smoke,
            parts,
            long: plan(pick(0, 1_000_000, 2_000), pick(7, 2_000, 200), checkpoints),
            medium: plan(pick(1, 50_000, 1_000), pick(7, 1_000, 100), 1),
            medium_runs: pick(2, 3, 1) as usize,
            emulator: plan(pick(3, 100_000, 1_000), pick(7, 1_000, 100), checkpoints),
            faults: faults::Plan {
                lanes: 4,
                per_lane: pick(4, 500, 40),
                crash_every: 7,
                timeout_every: 13,
                timeout: Duration::from_secs(1),
            },
            fault_runs: pick(5, 3, 1) as usize,
            sigterm_runs: pick(6, 5, 1) as usize,
            sigterm_in_flight: if smoke { vec![4] } else { vec![1, 4] },
            sigterm_sleep: Duration::from_secs(1),
            awslambdaric,
            out,
            install,
            build,
            full,
        })
    }

    /// Where the report goes.
    pub fn out_path(&self) -> PathBuf {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        if let Some(p) = &self.out {
            return p.clone();
        }
        match (self.full, self.smoke) {
            (true, _) => root.join("benches/SOAK.md"),
            (false, true) => root.join("target/soak/smoke.md"),
            (false, false) => root.join("target/soak/partial.md"),
        }
    }
}
