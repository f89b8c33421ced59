//! Typed configuration from the command line and the environment. Pure: the environment comes
//! in as a lookup function and nothing here touches the file system, so every setting is
//! validated here, in one place, and a mistake is one [`ConfigError`] naming the variable and a
//! valid example (ferric exits 2). What the task root contains (the handler's language) is the
//! app layer's business.

use std::path::PathBuf;

use crate::cli::RunArgs;
use crate::handler::Language;

mod limits;
mod local;
mod settings;

pub use limits::*;
use local::local_defaults;
pub use local::{Debug, HttpEvent, Local, DEFAULT_HTTP_LISTEN, DEFAULT_LISTEN};
use settings::{Lookup, Settings};

/// Environment variables ferric reads (its own are all `FERRIC_*`).
pub mod env {
    pub const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
    pub const HANDLER: &str = "_HANDLER";
    pub const TASK_ROOT: &str = "LAMBDA_TASK_ROOT";
    pub const FUNCTION_TIMEOUT: &str = "AWS_LAMBDA_FUNCTION_TIMEOUT";
    pub const FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
    pub const MAX_CONCURRENCY: &str = "AWS_LAMBDA_MAX_CONCURRENCY";
    pub const LISTEN: &str = "FERRIC_LISTEN";
    pub const HTTP_LISTEN: &str = "FERRIC_HTTP_LISTEN";
    pub const HTTP_EVENT: &str = "FERRIC_HTTP_EVENT";
    pub const PYTHON: &str = "FERRIC_PYTHON";
    pub const NODE: &str = "FERRIC_NODE";
    pub const RUBY: &str = "FERRIC_RUBY";
    pub const NODE_COMPAT: &str = "FERRIC_NODE_COMPAT";
    pub const INIT_TIMEOUT: &str = "FERRIC_INIT_TIMEOUT";
    pub const MAX_FRAME_BYTES: &str = "FERRIC_MAX_FRAME_BYTES";
    pub const TIMEOUT_MARGIN_MS: &str = "FERRIC_TIMEOUT_MARGIN_MS";
    pub const KILL_GRACE_MS: &str = "FERRIC_KILL_GRACE_MS";
    pub const LOG: &str = "FERRIC_LOG";
    pub const CACHE_DIR: &str = "FERRIC_CACHE_DIR";
    pub const REGISTER_EXTENSION: &str = "FERRIC_REGISTER_EXTENSION";
    pub const MAX_INVOCATIONS: &str = "FERRIC_MAX_INVOCATIONS";
    pub const MAX_RSS_MB: &str = "FERRIC_MAX_RSS_MB";
    pub const TMPDIR: &str = "TMPDIR";
    pub const EXEC_WRAPPER: &str = "AWS_LAMBDA_EXEC_WRAPPER";
    pub const INITIALIZATION_TYPE: &str = "AWS_LAMBDA_INITIALIZATION_TYPE";
    pub const SNAPSTART: &str = "FERRIC_SNAPSTART";
    pub const TELEMETRY_LOG_FD: &str = "_LAMBDA_TELEMETRY_LOG_FD";
    pub const LOG_FORMAT: &str = "AWS_LAMBDA_LOG_FORMAT";
}

/// What the configuration depends on besides the arguments and the environment.
#[derive(Debug, Clone)]
pub struct Facts {
    pub cwd: PathBuf,
    /// ferric runs inside a container (`/.dockerenv` or `/run/.containerenv`, or it is PID 1).
    pub in_container: bool,
}

impl Facts {
    /// For tests: a working directory, outside any container.
    pub fn at(cwd: impl Into<PathBuf>) -> Facts {
        Facts {
            cwd: cwd.into(),
            in_container: false,
        }
    }
}
/// What runs the handler: one of ferric's shims, or a program given after `--`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerChoice {
    /// A shim; `forced` is `--runtime`, otherwise the app layer detects the language.
    Shim {
        forced: Option<Language>,
    },
    Raw {
        argv: Vec<String>,
    },
}

impl WorkerChoice {
    /// Raw mode when a command follows `--`; otherwise a shim, which needs a handler.
    fn from_args(args: &RunArgs, has_handler: bool) -> Result<WorkerChoice, ConfigError> {
        if !args.raw.is_empty() {
            return Ok(WorkerChoice::Raw {
                argv: args.raw.clone(),
            });
        }
        if !has_handler {
            return Err(ConfigError::NoHandler);
        }
        Ok(WorkerChoice::Shim {
            forced: args.runtime,
        })
    }
}

/// A validated `host:port` for the Runtime API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAddress(String);

impl ApiAddress {
    pub fn parse(value: &str) -> Option<ApiAddress> {
        let (host, port) = value.rsplit_once(':')?;
        let valid = !host.is_empty()
            && port.parse::<u16>().is_ok_and(|p| p > 0)
            && !value.contains(['/', '?', '#', '@', ' ']);
        valid.then(|| ApiAddress(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Everything ferric's modes need.
#[derive(Debug, Clone)]
pub struct Config {
    /// The handler string (empty in raw mode when none was given, and for `prepare`).
    pub handler: String,
    pub task_root: PathBuf,
    pub worker: WorkerChoice,
    pub python: PathBuf,
    pub node: PathBuf,
    pub ruby: PathBuf,
    /// Timeouts, sizes, lanes and recycling.
    pub limits: Limits,
    /// What the platform tells the runtime.
    pub platform: Platform,
    /// The local modes (the built-in emulator).
    pub local: Local,
    /// Where the shims' compiled code is cached (`FERRIC_CACHE_DIR`, else under TMPDIR).
    pub cache_dir: PathBuf,
    pub log_level: tracing::Level,
}

/// What the platform tells the runtime through the environment.
#[derive(Debug, Clone)]
pub struct Platform {
    /// `AWS_LAMBDA_RUNTIME_API`: set in production, unset for the built-in emulator.
    pub runtime_api: Option<ApiAddress>,
    /// `AWS_LAMBDA_EXEC_WRAPPER`: a program every worker is started through.
    pub exec_wrapper: Option<PathBuf>,
    /// `AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`: this sandbox is being snapshotted.
    pub snap_start: bool,
    /// `_LAMBDA_TELEMETRY_LOG_FD`: the platform's telemetry log descriptor, if it gave one.
    pub telemetry_fd: Option<i32>,
    /// `AWS_LAMBDA_LOG_FORMAT` is `JSON` (case-insensitive), else text.
    pub json_logs: bool,
}

/// A configuration mistake the user can fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("no handler: pass it as the argument (ferric app.handler) or set _HANDLER")]
    NoHandler,
    #[error("{0} is for local mode, but AWS_LAMBDA_RUNTIME_API is set: unset it to serve locally")]
    LocalOnly(&'static str),
    #[error("{name}={value:?} is not valid: expected {expected}")]
    BadValue {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// The default cache directory: `ferric-VERSION` under `TMPDIR`, else `/tmp`.
fn default_cache_dir(s: &Settings) -> PathBuf {
    s.path(env::TMPDIR, "/tmp")
        .join(concat!("ferric-", env!("CARGO_PKG_VERSION")))
}

impl Config {
    /// Build the configuration from the run arguments, an environment lookup and the cwd.
    /// `needs_handler` is false for modes that load no handler (`prepare`).
    pub fn from_parts(
        args: &RunArgs,
        needs_handler: bool,
        get: Lookup,
        facts: Facts,
    ) -> Result<Config, ConfigError> {
        let cwd = facts.cwd;
        let s = Settings { get };
        let handler = args
            .handler
            .clone()
            .or_else(|| s.raw(env::HANDLER))
            .filter(|h| !h.is_empty());
        let worker = WorkerChoice::from_args(args, handler.is_some() || !needs_handler)?;
        s.check(env::NODE_COMPAT, "v3 or v4", |v| {
            matches!(v, "v3" | "v4").then_some(())
        })?;
        let platform = Platform::read(&s)?;
        let mut local = Local::read(&s, local_defaults(facts.in_container))?;
        local.watch = args.watch;
        if args.watch && platform.runtime_api.is_some() {
            return Err(ConfigError::LocalOnly("--watch"));
        }
        if let Some(value) = &args.debug {
            if platform.runtime_api.is_some() {
                return Err(ConfigError::LocalOnly("--debug"));
            }
            local.debug = Some(Debug::parse(value).ok_or_else(|| ConfigError::BadValue {
                name: "--debug",
                value: value.clone(),
                expected: "HOST:PORT or PORT, e.g. 127.0.0.1:5678",
            })?);
        }
        Ok(Config {
            handler: handler.unwrap_or_default(),
            task_root: s.raw(env::TASK_ROOT).map_or(cwd, PathBuf::from),
            worker,
            python: s.path(env::PYTHON, "python3"),
            node: s.path(env::NODE, "node"),
            ruby: s.path(env::RUBY, "ruby"),
            limits: Limits::read(&s)?,
            platform,
            local,
            cache_dir: s
                .raw(env::CACHE_DIR)
                .map_or_else(|| default_cache_dir(&s), PathBuf::from),
            log_level: s
                .check(env::LOG, "error, warn, info, debug or trace", |v| {
                    v.parse().ok()
                })?
                .unwrap_or(tracing::Level::INFO),
        })
    }
}

impl Platform {
    fn read(s: &Settings) -> Result<Platform, ConfigError> {
        Ok(Platform {
            runtime_api: s.check(
                env::RUNTIME_API,
                "host:port, e.g. 127.0.0.1:9001",
                ApiAddress::parse,
            )?,
            exec_wrapper: s.raw(env::EXEC_WRAPPER).map(PathBuf::from),
            snap_start: s.raw(env::INITIALIZATION_TYPE).as_deref() == Some("snap-start"),
            // Set by the platform, not the user: a value that is no descriptor is ignored
            // (ferric logs lines then), never a configuration error.
            telemetry_fd: s
                .raw(env::TELEMETRY_LOG_FD)
                .and_then(|v| v.parse().ok())
                .filter(|fd| *fd >= 0),
            json_logs: s
                .raw(env::LOG_FORMAT)
                .is_some_and(|v| v.eq_ignore_ascii_case("json")),
        })
    }
}

#[cfg(test)]
mod tests;
