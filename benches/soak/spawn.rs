//! Starting the clients: ferric with its Python shim, or `python -m awslambdaric`, on the same
//! venv interpreter, in the same Lambda-like environment, each the leader of its own process
//! group (so that whatever it leaves behind is found and ended).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::lambda_env::lambda_env;
use crate::procs;

/// The two runtimes compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Ferric,
    Awslambdaric,
}

impl Runtime {
    pub fn key(self) -> &'static str {
        match self {
            Runtime::Ferric => "ferric",
            Runtime::Awslambdaric => "awslambdaric",
        }
    }
}

/// Where the programs and the task root are.
#[derive(Debug, Clone)]
pub struct Launcher {
    pub ferric: PathBuf,
    pub python: PathBuf,
    pub task_root: PathBuf,
    pub log_dir: PathBuf,
}

/// One client to start.
pub struct Start<'a> {
    pub runtime: Runtime,
    pub handler: &'a str,
    /// `AWS_LAMBDA_RUNTIME_API`; `None` for ferric's built-in emulator.
    pub api: Option<String>,
    /// `AWS_LAMBDA_MAX_CONCURRENCY` when above 1.
    pub concurrency: usize,
    pub env: Vec<(String, String)>,
    /// The log file's name (stdout and stderr), in the log directory.
    pub log: &'a str,
}

impl<'a> Start<'a> {
    pub fn new(runtime: Runtime, handler: &'a str, api: Option<String>, log: &'a str) -> Self {
        Start {
            runtime,
            handler,
            api,
            concurrency: 1,
            env: Vec::new(),
            log,
        }
    }
}

/// The environment Lambda gives a function (as the peer benchmark gives it).
fn environment(task_root: &Path, start: &Start<'_>) -> Vec<(String, String)> {
    let api = start.api.as_deref();
    let mut env = lambda_env("soak", start.handler, task_root, api, start.concurrency);
    env.extend(start.env.iter().cloned());
    env
}

impl Launcher {
    /// Spawn the client; it is killed (its whole process group) when the [`Client`] drops.
    pub fn spawn(&self, start: &Start<'_>) -> Result<Client, String> {
        let log = self.log_dir.join(start.log);
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = match start.runtime {
            Runtime::Ferric => {
                let mut c = Command::new(&self.ferric);
                c.arg(start.handler);
                c
            }
            Runtime::Awslambdaric => {
                let mut c = Command::new(&self.python);
                c.args(["-m", "awslambdaric", start.handler]);
                c
            }
        };
        cmd.current_dir(&self.task_root)
            .env_clear()
            .envs(environment(&self.task_root, start));
        if start.runtime == Runtime::Ferric {
            cmd.env("FERRIC_PYTHON", &self.python);
        }
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", start.runtime.key()))?;
        let pid = child.id().ok_or("the client has no pid")?;
        Ok(Client { child, pid, log })
    }
}

/// A running client.
pub struct Client {
    pub child: Child,
    pub pid: u32,
    pub log: PathBuf,
}

impl Drop for Client {
    fn drop(&mut self) {
        procs::kill_group(self.pid);
    }
}

impl Client {
    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Resolves when the client exits, with a message for a failure report.
    pub async fn exited(&mut self) -> String {
        match self.child.wait().await {
            Ok(s) => format!("the client exited ({s})"),
            Err(e) => format!("waiting for the client: {e}"),
        }
    }

    /// Wait up to `limit` for the client to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }
}
