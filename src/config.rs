//! Typed configuration from the command line and the environment. Parsing is pure: it takes
//! the environment as a lookup function so tests never touch the process environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Environment variables ferric reads (its own are all `FERRIC_*`).
pub mod env {
    pub const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
    pub const HANDLER: &str = "_HANDLER";
    pub const TASK_ROOT: &str = "LAMBDA_TASK_ROOT";
    pub const FUNCTION_TIMEOUT: &str = "AWS_LAMBDA_FUNCTION_TIMEOUT";
    pub const FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
    pub const MAX_CONCURRENCY: &str = "AWS_LAMBDA_MAX_CONCURRENCY";
    pub const LISTEN: &str = "FERRIC_LISTEN";
    pub const PYTHON: &str = "FERRIC_PYTHON";
    pub const NODE: &str = "FERRIC_NODE";
    pub const INIT_TIMEOUT: &str = "FERRIC_INIT_TIMEOUT";
    pub const MAX_FRAME_BYTES: &str = "FERRIC_MAX_FRAME_BYTES";
    pub const TIMEOUT_MARGIN_MS: &str = "FERRIC_TIMEOUT_MARGIN_MS";
    pub const KILL_GRACE_MS: &str = "FERRIC_KILL_GRACE_MS";
    pub const LOG: &str = "FERRIC_LOG";
    pub const CACHE_DIR: &str = "FERRIC_CACHE_DIR";
    pub const REGISTER_EXTENSION: &str = "FERRIC_REGISTER_EXTENSION";
    pub const MAX_INVOCATIONS: &str = "FERRIC_MAX_INVOCATIONS";
    pub const MAX_RSS_MB: &str = "FERRIC_MAX_RSS_MB";
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(130);
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
pub const DEFAULT_FUNCTION_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_TIMEOUT_MARGIN: Duration = Duration::from_millis(50);
/// Fits Lambda's shutdown budget (300-500 ms for the runtime after SIGTERM).
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_millis(300);

/// Languages ferric has a shim for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Language {
    Python,
    Node,
}

/// `ferric [OPTIONS] [HANDLER]`, `ferric [OPTIONS] -- CMD [ARGS...]`, `ferric invoke ...`.
#[derive(Debug, Parser)]
#[command(
    name = "ferric",
    version,
    about = "AWS Lambda runtime interface client for container images: runs Python, Node or any handler behind one Rust binary",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile the Python shim into FERRIC_CACHE_DIR and exit. Run it at image build time (as
    /// root, with the function's Python) so cold starts load the shim instead of compiling it.
    Prepare,
    /// Run one invocation locally and print the result on stdout (exit 1 on a function error).
    Invoke {
        /// The event: a file path, or `-` for stdin. Default: `{}`.
        #[arg(long, short)]
        event: Option<String>,
        #[command(flatten)]
        run: RunArgs,
    },
}

#[derive(Debug, clap::Args, Default)]
pub struct RunArgs {
    /// Force the language instead of detecting it from the task root.
    #[arg(long, value_enum)]
    pub runtime: Option<Language>,
    /// The handler, as for awslambdaric (`module.function`). Defaults to `_HANDLER`.
    pub handler: Option<String>,
    /// Raw mode: run this program as the worker (it must speak docs/PROTOCOL.md).
    #[arg(last = true)]
    pub raw: Vec<String>,
}

/// What the worker is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerKind {
    Python { interpreter: PathBuf },
    Node { interpreter: PathBuf },
    Raw { argv: Vec<String> },
}

/// Everything the supervisor needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub handler: String,
    pub task_root: PathBuf,
    pub worker: WorkerKind,
    pub runtime_api: Option<String>,
    pub listen: SocketAddr,
    pub init_timeout: Duration,
    pub max_frame_bytes: usize,
    pub function_timeout: Duration,
    pub timeout_margin: Duration,
    pub kill_grace: Duration,
    pub concurrency: usize,
    pub function_name: String,
    /// Register a no-op internal extension so Lambda sends SIGTERM before shutdown.
    pub register_extension: bool,
    /// Replace a worker after this many invocations (0 = never).
    pub max_invocations: u64,
    /// Replace a worker whose resident memory exceeds this many MiB after an invocation (0 = never).
    pub max_rss_mb: u64,
    /// Extra environment for workers (the emulator's RIE defaults).
    pub worker_env: Vec<(String, String)>,
    /// Where the Python shim's compiled code is cached (`FERRIC_CACHE_DIR`, else under TMPDIR).
    pub python_cache_dir: PathBuf,
}

/// A configuration mistake the user can fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("no handler: pass it as the argument (ferric app.handler) or set _HANDLER")]
    NoHandler,
    #[error("{name}={value:?} is not valid: {expected}")]
    BadValue {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// A boolean setting: 1/0, true/false, on/off, yes/no.
struct Switch(bool);

impl std::str::FromStr for Switch {
    type Err = ();
    fn from_str(s: &str) -> Result<Switch, ()> {
        match s.to_ascii_lowercase().as_str() {
            "1" | "true" | "on" | "yes" => Ok(Switch(true)),
            "0" | "false" | "off" | "no" => Ok(Switch(false)),
            _ => Err(()),
        }
    }
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn parsed<T: std::str::FromStr>(
    get: Lookup,
    name: &'static str,
    expected: &'static str,
) -> Result<Option<T>, ConfigError> {
    match get(name).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(value) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::BadValue {
                name,
                value,
                expected,
            }),
    }
}

impl Config {
    /// Build the configuration from parsed arguments, an environment lookup and the cwd.
    pub fn from_parts(args: &RunArgs, get: Lookup, cwd: PathBuf) -> Result<Config, ConfigError> {
        let task_root = get(env::TASK_ROOT)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or(cwd);
        let handler = args
            .handler
            .clone()
            .or_else(|| get(env::HANDLER))
            .filter(|h| !h.is_empty());
        let worker = if !args.raw.is_empty() {
            WorkerKind::Raw {
                argv: args.raw.clone(),
            }
        } else {
            let handler = handler.as_deref().ok_or(ConfigError::NoHandler)?;
            let language = args
                .runtime
                .unwrap_or_else(|| crate::handler::detect_language(&task_root, handler));
            match language {
                Language::Python => WorkerKind::Python {
                    interpreter: get(env::PYTHON).unwrap_or_else(|| "python3".into()).into(),
                },
                Language::Node => WorkerKind::Node {
                    interpreter: get(env::NODE).unwrap_or_else(|| "node".into()).into(),
                },
            }
        };
        let listen = parsed(get, env::LISTEN, "an address like 127.0.0.1:8080")?
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("default address parses"));
        let secs = |name, default: Duration| -> Result<Duration, ConfigError> {
            Ok(parsed::<f64>(get, name, "a number of seconds")?
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
                .unwrap_or(default))
        };
        let millis = |name, default: Duration| -> Result<Duration, ConfigError> {
            Ok(parsed::<u64>(get, name, "a whole number of milliseconds")?
                .map(Duration::from_millis)
                .unwrap_or(default))
        };
        Ok(Config {
            handler: handler.unwrap_or_default(),
            task_root,
            worker,
            runtime_api: get(env::RUNTIME_API).filter(|v| !v.is_empty()),
            listen,
            init_timeout: secs(env::INIT_TIMEOUT, DEFAULT_INIT_TIMEOUT)?,
            max_frame_bytes: parsed(get, env::MAX_FRAME_BYTES, "a number of bytes")?
                .unwrap_or(DEFAULT_MAX_FRAME_BYTES),
            function_timeout: secs(env::FUNCTION_TIMEOUT, DEFAULT_FUNCTION_TIMEOUT)?,
            timeout_margin: millis(env::TIMEOUT_MARGIN_MS, DEFAULT_TIMEOUT_MARGIN)?,
            kill_grace: millis(env::KILL_GRACE_MS, DEFAULT_KILL_GRACE)?,
            concurrency: parsed::<usize>(get, env::MAX_CONCURRENCY, "a positive whole number")?
                .unwrap_or(1)
                .clamp(1, 64),
            function_name: get(env::FUNCTION_NAME).unwrap_or_else(|| "test_function".into()),
            register_extension: parsed::<Switch>(
                get,
                env::REGISTER_EXTENSION,
                "1/0, true/false or on/off",
            )?
            .is_none_or(|s| s.0),
            max_invocations: parsed(get, env::MAX_INVOCATIONS, "a whole number")?.unwrap_or(0),
            max_rss_mb: parsed(get, env::MAX_RSS_MB, "a whole number of MiB")?.unwrap_or(0),
            worker_env: Vec::new(),
            python_cache_dir: crate::shims::python_cache_dir(&|k| get(k).map(Into::into)),
        })
    }

    /// The language whose error flavour ferric imitates for errors it generates itself.
    pub fn language(&self) -> Option<Language> {
        match self.worker {
            WorkerKind::Python { .. } => Some(Language::Python),
            WorkerKind::Node { .. } => Some(Language::Node),
            WorkerKind::Raw { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(args: &[&str], vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let cli =
            Cli::try_parse_from(std::iter::once("ferric").chain(args.iter().copied())).unwrap();
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_parts(
            &cli.run,
            &|k| vars.get(k).cloned(),
            PathBuf::from("/nonexistent-cwd"),
        )
    }

    #[test]
    fn handler_from_argument_then_env() {
        assert_eq!(
            cfg(&["a.b"], &[("_HANDLER", "c.d")]).unwrap().handler,
            "a.b"
        );
        assert_eq!(cfg(&[], &[("_HANDLER", "c.d")]).unwrap().handler, "c.d");
        assert_eq!(cfg(&[], &[]).unwrap_err(), ConfigError::NoHandler);
    }

    #[test]
    fn defaults() {
        let c = cfg(&["app.handler"], &[]).unwrap();
        assert_eq!(c.task_root, PathBuf::from("/nonexistent-cwd"));
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.init_timeout, DEFAULT_INIT_TIMEOUT);
        assert_eq!(c.function_timeout, DEFAULT_FUNCTION_TIMEOUT);
        assert_eq!(c.concurrency, 1);
        assert_eq!(c.runtime_api, None);
        assert!(c.register_extension);
        assert_eq!((c.max_invocations, c.max_rss_mb), (0, 0));
        // Nothing matches in the task root: Python, so the user gets awslambdaric's error.
        assert!(matches!(c.worker, WorkerKind::Python { .. }));
    }

    #[test]
    fn overrides_and_raw_mode() {
        let c = cfg(
            &["--runtime", "node", "x.y"],
            &[
                ("LAMBDA_TASK_ROOT", "/var/task"),
                ("FERRIC_NODE", "/opt/node"),
                ("FERRIC_LISTEN", "0.0.0.0:9000"),
                ("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"),
                ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.worker,
            WorkerKind::Node {
                interpreter: "/opt/node".into()
            }
        );
        assert_eq!(c.task_root, PathBuf::from("/var/task"));
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.function_timeout, Duration::from_secs(3));
        assert_eq!(c.runtime_api.as_deref(), Some("127.0.0.1:9001"));
        let c = cfg(
            &["a.b"],
            &[
                ("FERRIC_REGISTER_EXTENSION", "off"),
                ("FERRIC_MAX_INVOCATIONS", "100"),
            ],
        )
        .unwrap();
        assert!(!c.register_extension);
        assert_eq!(c.max_invocations, 100);
        let raw = cfg(&["--", "./worker", "--flag"], &[]).unwrap();
        assert_eq!(
            raw.worker,
            WorkerKind::Raw {
                argv: vec!["./worker".into(), "--flag".into()]
            }
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            ("FERRIC_LISTEN", "localhost"),
            ("FERRIC_INIT_TIMEOUT", "soon"),
            ("FERRIC_MAX_FRAME_BYTES", "-1"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "many"),
            ("FERRIC_REGISTER_EXTENSION", "maybe"),
            ("FERRIC_MAX_RSS_MB", "lots"),
        ] {
            match cfg(&["a.b"], &[(k, v)]) {
                Err(ConfigError::BadValue { name, .. }) => assert_eq!(name, k),
                other => panic!("{k}: {other:?}"),
            }
        }
    }

    #[test]
    fn invoke_subcommand_parses() {
        let cli = Cli::try_parse_from(["ferric", "invoke", "--event", "-", "app.handler"]).unwrap();
        match cli.command {
            Some(Command::Invoke { event, run }) => {
                assert_eq!(event.as_deref(), Some("-"));
                assert_eq!(run.handler.as_deref(), Some("app.handler"));
            }
            other => panic!("{other:?}"),
        }
    }
}
