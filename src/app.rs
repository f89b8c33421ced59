//! The modes ferric runs in: against a real Runtime API (production), as a local server behind
//! the built-in emulator (serve), for one local invocation (invoke), to fill the shim cache
//! at image build time (prepare), or to check a worker against the protocol (conform). This is where the task root is looked at: the handler's
//! language is detected here, not in the (pure) configuration.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::cli::{Cli, Command};
use crate::config::{ApiAddress, Config, HttpEvent, WorkerChoice};
use crate::emulator::{
    rie_environment, Emulator, EmulatorOptions, InvokeOutcome, InvokeRequest, INVOKE_PATH,
};
use crate::handler::{detect_language, Language};
use crate::lambda::RuntimeApi;
use crate::shims::{Launcher, WorkerKind};
use crate::supervisor::lanes::Sandbox;
use crate::supervisor::{Policy, Recycling, RunError};
use crate::worker::process;

/// The User-Agent ferric sends to the Runtime API.
pub const USER_AGENT: &str = concat!("ferric/", env!("CARGO_PKG_VERSION"));

/// What ferric was asked to do.
enum Mode {
    Production(ApiAddress),
    Serve,
    Invoke { event: Option<String> },
    Prepare,
    Conform { timeout: std::time::Duration },
}

fn mode(cli: &Cli, config: &Config) -> Mode {
    match (&cli.command, &config.platform.runtime_api) {
        (Some(Command::Prepare), _) => Mode::Prepare,
        (Some(Command::Conform { timeout, .. }), _) => Mode::Conform {
            timeout: std::time::Duration::from_secs(*timeout),
        },
        (Some(Command::Invoke { event, .. }), _) => Mode::Invoke {
            event: event.clone(),
        },
        (None, Some(address)) => Mode::Production(address.clone()),
        (None, None) => Mode::Serve,
    }
}

/// Run the mode the command line asks for.
pub async fn run(cli: Cli, config: Config) -> anyhow::Result<ExitCode> {
    let mode = mode(&cli, &config);
    match mode {
        Mode::Prepare => return prepare(&config).await,
        Mode::Conform { timeout } => return crate::conform::run(&config, timeout).await,
        _ => {}
    }
    let shutdown = shutdown_signal();
    adopt_orphans();
    let outcome = match mode {
        Mode::Production(address) => {
            let sandbox = sandbox(&config, Vec::new());
            let api = RuntimeApi::new(&address, USER_AGENT);
            Ok(exit_for(sandbox.run(&api, shutdown).await))
        }
        Mode::Serve => serve(&config, shutdown).await,
        Mode::Invoke { event } => invoke_once(&config, event.as_deref()).await,
        Mode::Prepare | Mode::Conform { .. } => unreachable!("handled above"),
    };
    // Everything the workers left behind goes with ferric.
    let ended = process::kill_orphans();
    if ended > 0 {
        info!(
            ended,
            "ended processes that had escaped the workers' process groups"
        );
    }
    outcome
}

/// Become the reaper of the workers' orphans, and reap them as they exit (ferric may be PID 1
/// of a container, where nobody else would).
fn adopt_orphans() {
    if let Err(e) = process::become_subreaper() {
        warn!("cannot become a child subreaper ({e}); processes that leave a worker's process group may outlive it");
    }
    tokio::spawn(async {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut children) = signal(SignalKind::child()) else {
            return;
        };
        while children.recv().await.is_some() {
            process::reap_orphans();
        }
    });
}

/// What runs the handler: `--runtime`, else the language the task root shows.
fn worker_kind(config: &Config) -> WorkerKind {
    match &config.worker {
        WorkerChoice::Raw { argv } => WorkerKind::Raw(argv.clone()),
        WorkerChoice::Shim { forced } => WorkerKind::Shim(
            forced.unwrap_or_else(|| detect_language(&config.task_root, &config.handler)),
        ),
    }
}

fn sandbox(config: &Config, env: Vec<(String, String)>) -> Sandbox {
    let kind = worker_kind(config);
    let interpreter = match &kind {
        WorkerKind::Shim(Language::Python) => config.python.clone(),
        WorkerKind::Shim(Language::Node) => config.node.clone(),
        WorkerKind::Shim(Language::Ruby) => config.ruby.clone(),
        WorkerKind::Raw(argv) => argv[0].clone().into(),
    };
    Sandbox {
        launcher: Launcher {
            kind,
            interpreter,
            handler: config.handler.clone(),
            task_root: config.task_root.clone(),
            cache_dir: config.cache_dir.clone(),
            max_frame_bytes: config.limits.max_frame_bytes,
            env,
            wrapper: config.platform.exec_wrapper.clone(),
            debug: None,
            telemetry: crate::worker::telemetry::Telemetry::get().is_some(),
        },
        init_timeout: config.limits.init_timeout,
        policy: Policy {
            timeout_margin: config.limits.timeout_margin,
            kill_grace: config.limits.kill_grace,
            recycling: Recycling {
                max_invocations: config.limits.max_invocations,
                max_rss_mb: config.limits.max_rss_mb,
            },
            sweep_orphans: config.limits.concurrency <= 1,
            snap_start: config.platform.snap_start,
            hook_timeout: config.limits.init_timeout,
            debug: false,
        },
        lanes: config.limits.concurrency,
        register_extension: config.limits.register_extension,
        reloads: None,
    }
}

/// Turns true on SIGTERM or SIGINT.
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

fn exit_for(result: Result<(), RunError>) -> ExitCode {
    use crate::worker::protocol::Phase;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Already logged and reported to the Runtime API.
        Err(RunError::InitFailed { .. }) => ExitCode::from(1),
        // The exit statuses awslambdaric uses for failed SnapStart hooks.
        Err(RunError::Hooks {
            phase: Phase::BeforeSnapshot,
            ..
        }) => ExitCode::from(64),
        Err(RunError::Hooks {
            phase: Phase::AfterRestore,
            ..
        }) => ExitCode::from(65),
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}

/// The local environment RIE would give the function, for what the process lacks (and the
/// SnapStart initialisation type when the snapshot is simulated).
fn local_environment(config: &Config) -> Vec<(String, String)> {
    let mut env = rie_environment(&|k| std::env::var(k).ok());
    if config.local.simulate_snapstart {
        env.push((
            crate::config::env::INITIALIZATION_TYPE.into(),
            "snap-start".into(),
        ));
    }
    env
}

/// A sandbox for local modes: RIE's environment, SnapStart when it is simulated, and the
/// debugger under `--debug`.
fn local_sandbox(config: &Config) -> Sandbox {
    let mut sandbox = sandbox(config, local_environment(config));
    sandbox.policy.snap_start |= config.local.simulate_snapstart;
    if let Some(debug) = &config.local.debug {
        let port = debug
            .port
            .unwrap_or_else(|| crate::shims::debug_port(sandbox.launcher.language()));
        let address = match debug.host.contains(':') {
            true => format!("[{}]:{port}", debug.host),
            false => format!("{}:{port}", debug.host),
        };
        if !debug.is_loopback() {
            warn!("--debug={address}: the debugger port runs any code sent to it, and is open beyond this machine");
        }
        info!("--debug: the worker waits for a debugger on {address}; deadlines do not kill it");
        sandbox.launcher.debug = Some(address);
        sandbox.policy.debug = true;
        sandbox.init_timeout = crate::supervisor::DEBUG_PATIENCE;
        sandbox.policy.hook_timeout = crate::supervisor::DEBUG_PATIENCE;
    }
    sandbox
}

fn emulator_options(config: &Config) -> EmulatorOptions {
    let mut options =
        EmulatorOptions::new(&config.local.function_name, config.limits.function_timeout);
    options.snap_start = config.local.simulate_snapstart || config.platform.snap_start;
    // Under --debug a caller waits as long as the person at the debugger takes.
    options.patience = config
        .local
        .debug
        .as_ref()
        .map(|_| crate::supervisor::DEBUG_PATIENCE);
    options
}

/// Serve the RIE invoke endpoint on `FERRIC_LISTEN` (and the HTTP front door on
/// `FERRIC_HTTP_LISTEN`) until SIGTERM/SIGINT. A runtime whose init failed is started again on
/// the next invoke, as RIE does, so a fixed handler is picked up without restarting ferric.
async fn serve(config: &Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<ExitCode> {
    let emulator = Emulator::start(([127, 0, 0, 1], 0).into(), emulator_options(config))
        .await
        .context("starting the built-in Runtime API")?;
    emulator.retry_init_on_invoke();
    let listener = tokio::net::TcpListener::bind(config.local.listen).await.with_context(|| {
        format!("cannot listen on {} (FERRIC_LISTEN): is another server using it? Set FERRIC_LISTEN to a free address", config.local.listen)
    })?;
    let address = listener.local_addr().unwrap_or(config.local.listen);
    let server = emulator.serve_invocations(listener);
    info!(
        "serving {} at http://{address}{INVOKE_PATH} (no AWS_LAMBDA_RUNTIME_API: built-in emulator)",
        config.handler
    );
    let front_door = open_front_door(config, &emulator).await;
    let stop = move || {
        server.abort();
        if let Some(door) = &front_door {
            door.abort();
        }
    };
    let mut sandbox = local_sandbox(config);
    let _watching = match config.local.watch {
        true => {
            let watching = crate::watch::start(&config.task_root).with_context(|| {
                format!("cannot watch {} (--watch)", config.task_root.display())
            })?;
            info!("watching {} for changes", config.task_root.display());
            sandbox.reloads = Some(watching.reloads.clone());
            Some(watching)
        }
        false => None,
    };
    let api = RuntimeApi::new(&emulator.runtime_api_address(), USER_AGENT);
    loop {
        let result = sandbox.run(&api, shutdown.clone()).await;
        if *shutdown.borrow() {
            stop();
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
        let mut signalled = shutdown.clone();
        tokio::select! {
            _ = emulator.wait_for_queued() => emulator.reset(),
            _ = signalled.wait_for(|s| *s) => { stop(); return Ok(ExitCode::SUCCESS); }
        }
    }
}

/// The HTTP front door on `FERRIC_HTTP_LISTEN`, unless it is `off`. It is a convenience next to
/// the invoke endpoint, so an address in use costs a warning, not the server.
async fn open_front_door(
    config: &Config,
    emulator: &Emulator,
) -> Option<tokio::task::JoinHandle<()>> {
    let wanted = config.local.http_listen?;
    let listener = match tokio::net::TcpListener::bind(wanted).await {
        Ok(listener) => listener,
        Err(e) => {
            warn!("cannot listen on {wanted} (FERRIC_HTTP_LISTEN): {e}; the HTTP front door is off. Set FERRIC_HTTP_LISTEN to a free address, or to off");
            return None;
        }
    };
    let address = listener.local_addr().unwrap_or(wanted);
    let version = match config.local.http_event {
        HttpEvent::V2 => "HTTP API payload format 2.0",
        HttpEvent::V1 => "REST API payload format 1.0",
    };
    info!("HTTP front door at http://{address}/ (FERRIC_HTTP_LISTEN): every request becomes an event in {version} (FERRIC_HTTP_EVENT)");
    Some(emulator.serve_front_door(listener, config.local.http_event))
}

/// `ferric prepare`: fill the cache directory with the Python shim's compiled code.
async fn prepare(config: &Config) -> anyhow::Result<ExitCode> {
    let mut command = crate::shims::prepare_python(&config.python, &config.cache_dir)
        .context("preparing the Python shim's bundle")?;
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

/// Write a streamed response's bytes to `out` as they arrive; what is left to print after it
/// (the error body, if it ended with one) and whether it succeeded.
async fn copy_stream(
    mut frames: crate::emulator::StreamFrames,
    out: &mut tokio::io::Stdout,
) -> anyhow::Result<(Bytes, bool)> {
    while let Some(frame) = frames.recv().await {
        match frame.into_data() {
            Ok(data) => {
                out.write_all(&data).await?;
                out.flush().await?;
            }
            Err(frame) => {
                let trailers = frame.into_trailers().unwrap_or_default();
                if let Some(error) = crate::emulator::streaming::trailer_error(&trailers) {
                    return Ok((error.body, false));
                }
            }
        }
    }
    Ok((Bytes::new(), true))
}

/// `ferric invoke`: one invocation through the emulator; the answer on stdout (a streamed
/// answer as it arrives).
async fn invoke_once(config: &Config, event: Option<&str>) -> anyhow::Result<ExitCode> {
    let body = read_event(event)?;
    let emulator = Emulator::start(([127, 0, 0, 1], 0).into(), emulator_options(config)).await?;
    let api = RuntimeApi::new(&emulator.runtime_api_address(), USER_AGENT);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sandbox = local_sandbox(config);
    sandbox.lanes = 1;
    let runtime = tokio::spawn(async move { sandbox.run(&api, stop_rx).await });
    let result = emulator
        .invoke(InvokeRequest {
            body,
            ..InvokeRequest::default()
        })
        .await;
    let mut stdout = tokio::io::stdout();
    let (out, ok) = match result.outcome {
        InvokeOutcome::Response { body, .. } => (body, true),
        InvokeOutcome::FunctionError { body }
        | InvokeOutcome::InitError { body }
        | InvokeOutcome::ResponseTooLarge { body } => (body, false),
        InvokeOutcome::TimedOut { message } => (Bytes::from(message), false),
        InvokeOutcome::Stream { .. } => match result.stream {
            Some(frames) => copy_stream(frames, &mut stdout).await?,
            None => (Bytes::new(), true),
        },
    };
    stdout.write_all(&out).await?;
    stdout.write_all(b"\n").await?;
    stdout.flush().await?;
    let _ = stop_tx.send(true);
    let _ = runtime.await;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
