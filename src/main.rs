//! The `ferric` binary: parse, set up logging, run the library, map the outcome to an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use ferric::config::{env, Cli};

fn init_logging() {
    let level = std::env::var(env::LOG)
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferric: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // The app runs as a spawned task rather than as block_on's own future: waking a task is a
    // push onto the local run queue, while waking block_on's future from another task goes
    // through the driver's eventfd (two extra syscalls per wake-up; measured in BENCHMARKS.md).
    let outcome = runtime
        .block_on(async { tokio::spawn(ferric::app::run(cli)).await })
        .unwrap_or_else(|e| Err(anyhow::anyhow!("ferric's main task failed: {e}")));
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ferric: {e:#}");
            ExitCode::from(1)
        }
    }
}
