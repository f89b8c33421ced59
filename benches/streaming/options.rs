//! The command line.

use std::path::PathBuf;

use crate::clients;

pub const USAGE: &str = "\
usage: cargo bench --bench streaming -- [OPTIONS]

  --smoke             1 run, one 1 MiB stream per client, no large stream; seconds;
                      writes target/streaming/smoke.md, never BENCHMARKS.md
  --runs N            interleaved runs, a fresh process per client per run (default 10)
  --invocations N     measured streams per client per run (default 5)
  --mib N             the stream's size in MiB (default 10)
  --large-mib N       the large stream, one per run, ferric's clients and the peer (default
                      100; 0: none)
  --chunk-kib N       the handlers' write size in KiB (default 64)
  --clients A,B,...   default ferric-node,aws-lambda-ric,ferric-python
  --out PATH          the file whose streaming block is written (default BENCHMARKS.md;
                      smoke: target/streaming/smoke.md)

A client that cannot be found fails the run, except in a smoke run (skipped, with the reason).
Without arguments (as `cargo test --benches` runs it): a smoke run with what is installed.
ferric: BENCH_FERRIC=path, else the binary cargo built for this bench (target/release/ferric
under `cargo bench`).
";

#[derive(Debug, Clone)]
pub struct Opts {
    pub smoke: bool,
    pub runs: usize,
    pub invocations: usize,
    pub bytes: usize,
    pub large_bytes: usize,
    pub chunk: usize,
    pub clients: Vec<String>,
    pub out: PathBuf,
}

fn number(name: &str, v: Option<String>) -> Result<usize, String> {
    let v = v.ok_or(format!("{name} needs a value"))?;
    v.parse()
        .map_err(|_| format!("{name}: not a number: {v:?}"))
}

impl Opts {
    pub fn parse(args: impl Iterator<Item = String>) -> Result<Opts, String> {
        let args: Vec<String> = args.collect();
        // `cargo bench` always passes --bench; no arguments at all is `cargo test --benches`.
        let args = if args.is_empty() {
            vec!["--smoke".to_string()]
        } else {
            args
        };
        let mut o = Opts {
            smoke: false,
            runs: 10,
            invocations: 5,
            bytes: 10 << 20,
            large_bytes: 100 << 20,
            chunk: 64 << 10,
            clients: clients::ALL.iter().map(|s| s.to_string()).collect(),
            out: PathBuf::from("BENCHMARKS.md"),
        };
        let mut out = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--bench" => {}
                "--smoke" => o.smoke = true,
                "--runs" => o.runs = number(&arg, args.next())?,
                "--invocations" => o.invocations = number(&arg, args.next())?,
                "--mib" => o.bytes = number(&arg, args.next())? << 20,
                "--large-mib" => o.large_bytes = number(&arg, args.next())? << 20,
                "--chunk-kib" => o.chunk = number(&arg, args.next())? << 10,
                "--clients" => {
                    let v = args.next().ok_or("--clients needs a value")?;
                    o.clients = v.split(',').map(str::trim).map(String::from).collect();
                }
                "--out" => out = Some(PathBuf::from(args.next().ok_or("--out needs a value")?)),
                "--help" | "-h" => return Err("help".into()),
                _ => return Err(format!("unknown argument {arg:?}")),
            }
        }
        if o.smoke {
            o.runs = 1;
            o.invocations = 1;
            o.bytes = 1 << 20;
            o.large_bytes = 0;
            o.out = PathBuf::from("target/streaming/smoke.md");
        }
        if let Some(p) = out {
            o.out = p;
        }
        if o.runs == 0 || o.invocations == 0 || o.bytes == 0 {
            return Err("--runs, --invocations and --mib must be at least 1".into());
        }
        if o.chunk < crate::body::HEADER {
            return Err("--chunk-kib must be at least 1".into());
        }
        if let Some(c) = o
            .clients
            .iter()
            .find(|c| !clients::ALL.contains(&c.as_str()))
        {
            return Err(format!("unknown client {c:?}"));
        }
        Ok(o)
    }
}
