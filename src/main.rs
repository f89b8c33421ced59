//! The `ferric` binary: parse, validate the configuration, set up logging, run the app, map the
//! outcome to an exit code (0 after SIGTERM, 1 for init and runtime failures, 2 for
//! configuration mistakes).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use ferric::cli::Cli;
use ferric::config::Config;

/// Exit status for configuration mistakes.
const EXIT_CONFIG: u8 = 2;

fn init_logging(level: tracing::Level) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let needs_handler = cli.needs_handler();
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let config = match Config::from_parts(
        &cli.run_args(),
        needs_handler,
        &|k| std::env::var(k).ok(),
        cwd,
    ) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ferric: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    init_logging(config.log_level);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferric: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // The app runs as a spawned task rather than as block_on's own future: waking a task is a
    // push onto the local run queue, while waking block_on's future from another task goes
    // through the driver's eventfd (two extra syscalls per wake-up; measured in BENCHMARKS.md).
    let outcome = runtime
        .block_on(async { tokio::spawn(ferric::app::run(cli, config)).await })
        .unwrap_or_else(|e| Err(anyhow::anyhow!("ferric's main task failed: {e}")));
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ferric: {e:#}");
            ExitCode::from(1)
        }
    }
}
