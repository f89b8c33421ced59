//! The three ways ferric runs: against a real Runtime API, as a local server behind the
//! built-in emulator, or for one local invocation.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::{Cli, Command, Config, RunArgs};
use crate::emulator::{Emulator, EmulatorOptions, InvokeOutcome, InvokeRequest, INVOKE_PATH};
use crate::runtime_api::RuntimeApi;
use crate::supervisor::{run_lanes, RunError, Supervisor};

/// The User-Agent ferric sends to the Runtime API.
pub const USER_AGENT: &str = concat!("ferric/", env!("CARGO_PKG_VERSION"));

/// Exit status for configuration mistakes.
const EXIT_CONFIG: u8 = 2;

fn config(args: &RunArgs) -> Result<Config, ExitCode> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    Config::from_parts(args, &|k| std::env::var(k).ok(), cwd).map_err(|e| {
        eprintln!("ferric: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

/// Dispatch on the command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let (args, event) = match &cli.command {
        Some(Command::Invoke { event, run }) => (run, Some(event.clone())),
        Some(Command::Prepare) => return prepare().await,
        None => (&cli.run, None),
    };
    let config = match config(args) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let shutdown = shutdown_signal();
    let mut config = config;
    if config.runtime_api.is_none() || event.is_some() {
        config.worker_env = crate::emulator::rie_environment(&|k| std::env::var(k).ok());
    }
    match (event, config.runtime_api.clone()) {
        (Some(event), _) => invoke_once(config, event.as_deref()).await,
        (None, Some(address)) => run_production(config, &address, shutdown).await,
        (None, None) => serve(config, shutdown).await,
    }
}

/// Resolves on SIGTERM or SIGINT.
fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            warn!("cannot install signal handlers; SIGTERM will not be graceful");
            return;
        };
        tokio::select! {
            _ = term.recv() => info!("SIGTERM: finishing the in-flight invocation, then stopping"),
            _ = int.recv() => info!("SIGINT: stopping"),
        }
        let _ = tx.send(true);
    });
    rx
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

fn exit_for(result: Result<(), RunError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(RunError::InitFailed { .. }) => ExitCode::from(1),
        Err(e) => {
            error!("{e}");
            ExitCode::from(1)
        }
    }
}

async fn run_production(
    config: Config,
    address: &str,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<ExitCode> {
    let api = RuntimeApi::new(address, USER_AGENT).context("AWS_LAMBDA_RUNTIME_API")?;
    Ok(exit_for(run_lanes(&config, &api, shutdown).await))
}

/// Serve the RIE invoke endpoint on `FERRIC_LISTEN` until SIGTERM/SIGINT. A runtime whose init
/// failed is started again on the next invoke, as RIE does, so a fixed handler is picked up
/// without restarting ferric.
async fn serve(config: Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<ExitCode> {
    let options = EmulatorOptions::new(&config.function_name, config.function_timeout);
    let emulator = Emulator::start(([127, 0, 0, 1], 0).into(), options)
        .await
        .context("starting the built-in Runtime API")?;
    let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| {
        format!("cannot listen on {} (FERRIC_LISTEN): is another server using it? Set FERRIC_LISTEN to a free address", config.listen)
    })?;
    let server = emulator.serve_invocations(listener);
    info!(
        "serving {} at http://{}{INVOKE_PATH} (no AWS_LAMBDA_RUNTIME_API: built-in emulator)",
        config.handler, config.listen
    );
    loop {
        let api = RuntimeApi::new(&emulator.runtime_api_address(), USER_AGENT)?;
        let result = run_lanes(&config, &api, shutdown.clone()).await;
        if *shutdown.borrow() {
            server.abort();
            // Stopping a local server on request is a clean exit, whatever the runtime did.
            return Ok(ExitCode::SUCCESS);
        }
        match &result {
            Err(RunError::InitFailed { error_type }) => {
                warn!("init failed ({error_type}); will retry init on the next invoke")
            }
            Err(e) => warn!("runtime stopped: {e}; will restart on the next invoke"),
            Ok(()) => {}
        }
        let mut stop = shutdown.clone();
        tokio::select! {
            _ = emulator.wait_for_queued() => emulator.reset(),
            _ = stop.wait_for(|s| *s) => { server.abort(); return Ok(ExitCode::SUCCESS); }
        }
    }
}

/// `ferric prepare`: fill FERRIC_CACHE_DIR with the Python shim's compiled code.
async fn prepare() -> anyhow::Result<ExitCode> {
    let mut command =
        tokio::process::Command::from(crate::shims::prepare_python(&|k| std::env::var_os(k)));
    let status = command
        .status()
        .await
        .context("starting the Python interpreter (set FERRIC_PYTHON to its path)")?;
    Ok(ExitCode::from(
        status.code().map_or(1, |c| c.clamp(0, 255) as u8),
    ))
}

fn read_event(source: Option<&str>) -> anyhow::Result<Bytes> {
    match source {
        None => Ok(Bytes::from_static(b"{}")),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading the event from stdin")?;
            Ok(buf.into())
        }
        Some(path) => std::fs::read(path)
            .map(Bytes::from)
            .with_context(|| format!("reading the event file {path}")),
    }
}

/// `ferric invoke`: one invocation through the emulator; the answer on stdout.
async fn invoke_once(config: Config, event: Option<&str>) -> anyhow::Result<ExitCode> {
    let body = read_event(event)?;
    let options = EmulatorOptions::new(&config.function_name, config.function_timeout);
    let emulator = Emulator::start(([127, 0, 0, 1], 0).into(), options).await?;
    let api = RuntimeApi::new(&emulator.runtime_api_address(), USER_AGENT)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let runtime = tokio::spawn(Supervisor::new(config, api).run(stopped(stop_rx)));
    let result = emulator
        .invoke(InvokeRequest {
            body,
            ..InvokeRequest::default()
        })
        .await;
    let _ = stop_tx.send(true);
    let _ = runtime.await;
    let (out, ok) = match result.outcome {
        InvokeOutcome::Response { body, .. } => (body, true),
        InvokeOutcome::FunctionError { body }
        | InvokeOutcome::InitError { body }
        | InvokeOutcome::ResponseTooLarge { body } => (body, false),
        InvokeOutcome::TimedOut { message } => (Bytes::from(message), false),
    };
    let mut stdout = tokio::io::stdout();
    stdout.write_all(&out).await?;
    stdout.write_all(b"\n").await?;
    stdout.flush().await?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
