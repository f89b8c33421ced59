//! `ferric conform`: runs a worker through every rule of `docs/PROTOCOL.md` and prints one line
//! per rule (`PASS rule`, `FAIL rule: reason`, `SKIP rule: reason`).
//!
//! The kit plays ferric's side with the real worker code ([`crate::worker::Channel`] and its
//! codec over pipes from [`crate::worker::process::spawn`]) and makes the worker act through
//! the conformance handler contract (PROTOCOL.md, "Checking a worker: ferric conform"): events
//! that ask it to echo, fail, log or stream ([`events`]). For ferric's own shims it writes a
//! conformance handler in the shim's language ([`HANDLERS`]) into a temporary task root.
//!
//! | file | rules |
//! |---|---|
//! | `lifecycle.rs` | handshake, hooks, shutdown, eof, the invalid-frame rules, init-error |
//! | `exchange.rs` | invoke, ids, the payload rules, unknown-fields, largest-header, unknown-frames |
//! | `answers.rs` | error, logs, stream, stream-error |

mod answers;
pub mod events;
mod exchange;
mod kit;
mod lifecycle;
pub mod report;
mod session;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::config::{Config, WorkerChoice};
use crate::handler::Language;
use crate::shims::{Launcher, WorkerKind};
pub use report::{Report, Rule, Verdict};

/// The handler the kit asks every worker to run (`_HANDLER`).
pub const HANDLER: &str = "conform.handler";
/// The handler that must fail to load (the init-error rule): `conform` has no `init_error`.
pub const INIT_ERROR_HANDLER: &str = "conform.init_error";

/// The conformance handlers for ferric's shims: (language, file name, source).
pub const HANDLERS: [(Language, &str, &str); 3] = [
    (
        Language::Python,
        "conform.py",
        include_str!("handlers/conform.py"),
    ),
    (
        Language::Node,
        "conform.cjs",
        include_str!("handlers/conform.js"),
    ),
    (
        Language::Ruby,
        "conform.rb",
        include_str!("handlers/conform.rb"),
    ),
];

/// How long each wait lasts when `--timeout` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A task root in the temporary directory holding one conformance handler; removed on drop.
struct TaskRoot(PathBuf);

impl TaskRoot {
    fn with_handler(language: Language) -> anyhow::Result<TaskRoot> {
        let (_, name, source) = HANDLERS
            .iter()
            .find(|(l, _, _)| *l == language)
            .context("no conformance handler for this language")?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("ferric-conform-{}-{nanos:08x}", std::process::id()));
        std::fs::create_dir(&dir)
            .with_context(|| format!("creating the task root {}", dir.display()))?;
        let root = TaskRoot(dir);
        std::fs::write(root.0.join(name), source)
            .with_context(|| format!("writing {name} into {}", root.0.display()))?;
        Ok(root)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TaskRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run every rule against the worker the configuration names (`--runtime` or `-- CMD`) and
/// print the report on stdout; exit 1 when a rule failed.
pub async fn run(config: &Config, timeout: Duration) -> anyhow::Result<ExitCode> {
    let (kind, interpreter, root) = match &config.worker {
        WorkerChoice::Raw { argv } => {
            (WorkerKind::Raw(argv.clone()), PathBuf::from(&argv[0]), None)
        }
        WorkerChoice::Shim { forced } => {
            let language = forced.context("ferric conform needs --runtime or -- CMD")?;
            let interpreter = match language {
                Language::Python => config.python.clone(),
                Language::Node => config.node.clone(),
                Language::Ruby => config.ruby.clone(),
            };
            let root = TaskRoot::with_handler(language)?;
            (WorkerKind::Shim(language), interpreter, Some(root))
        }
    };
    let launcher = Launcher {
        kind,
        interpreter,
        handler: HANDLER.to_owned(),
        task_root: root
            .as_ref()
            .map_or_else(|| config.task_root.clone(), |r| r.path().to_owned()),
        cache_dir: config.cache_dir.clone(),
        max_frame_bytes: config.limits.max_frame_bytes,
        env: crate::emulator::rie_environment(&|k| std::env::var(k).ok()),
        wrapper: None,
        telemetry: false,
        debug: None,
    };
    let limits = kit::Limits {
        timeout,
        grace: config.limits.kill_grace,
        max_payload: config.limits.max_frame_bytes,
    };
    let mut report = Report::new(std::io::stdout());
    kit::Kit::new(launcher, limits).run(&mut report).await;
    drop(root);
    Ok(if report.failed() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
