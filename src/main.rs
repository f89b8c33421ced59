//! The `ferric` binary: parse, validate the configuration, set up logging, run the app, map the
//! outcome to an exit code (0 after SIGTERM, 1 for init and runtime failures, 2 for
//! configuration mistakes).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use ferric::cli::Cli;
use ferric::config::{Config, Facts};

/// Exit status for configuration mistakes.
const EXIT_CONFIG: u8 = 2;

/// ferric's own log: one telemetry frame per record when the platform gave a telemetry
/// descriptor (JSON records when the function logs JSON), else lines on stderr. Says which.
fn init_logging(config: &Config, say_mode: bool) {
    use ferric::worker::telemetry::{Format, MakeEventWriter, Telemetry};
    let level = config.log_level;
    let format = if config.platform.json_logs {
        Format::Json
    } else {
        Format::Text
    };
    let telemetry = config
        .platform
        .telemetry_fd
        .map(|fd| (fd, Telemetry::adopt(fd, format)));
    match &telemetry {
        Some((_, Ok(_))) => tracing_subscriber::fmt()
            .with_writer(MakeEventWriter)
            .with_max_level(level)
            .with_target(false)
            .with_ansi(false)
            .without_time()
            .with_level(false)
            .init(),
        _ => tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(level)
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
    }
    // Whether Lambda gives an image's entrypoint this descriptor is not documented: say it.
    if !say_mode {
        return;
    }
    match telemetry {
        Some((fd, Ok(_))) => {
            tracing::info!("logs: one telemetry frame per record on _LAMBDA_TELEMETRY_LOG_FD={fd}")
        }
        Some((fd, Err(e))) => tracing::warn!(
            "logs: lines on stderr; _LAMBDA_TELEMETRY_LOG_FD={fd} is not usable ({e})"
        ),
        None => tracing::info!("logs: lines on stderr (no _LAMBDA_TELEMETRY_LOG_FD)"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let needs_handler = cli.needs_handler();
    let facts = Facts {
        cwd: std::env::current_dir().unwrap_or_else(|_| ".".into()),
        in_container: std::path::Path::new("/.dockerenv").exists()
            || std::path::Path::new("/run/.containerenv").exists()
            || std::process::id() == 1,
    };
    let config = match Config::from_parts(
        &cli.run_args(),
        needs_handler,
        &|k| std::env::var(k).ok(),
        facts,
    ) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ferric: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // `prepare` runs at image build time: its output is the build's, nothing to say there.
    init_logging(&config, needs_handler);
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
