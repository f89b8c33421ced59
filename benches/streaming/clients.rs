//! The clients under test, where their programs are, and how each is started: in the same
//! Lambda-like environment, in the task root target/streaming/task (a copy of
//! benches/streaming/handlers/), as the leader of its own process group (ended as a group).
//!
//! * `ferric-node`: ferric (`BENCH_FERRIC`, else the `ferric` binary cargo built for this bench:
//!   target/release/ferric under `cargo bench`) with its Node shim, `stream.handler`
//!   (stream.mjs), Node from PATH;
//! * `aws-lambda-ric`: 4.0.2, `node <pkg>/index.mjs` with `_HANDLER=stream.handler`, from
//!   .cache/node-ric4 (scripts/setup-peers.sh) or .cache/node-ric-bench (scripts/bench.sh);
//! * `ferric-python`: ferric with its Python shim, `stream.handler` (stream.py), the venv's
//!   Python (.cache/py-venv) if there is one, else python3 from PATH. No Python runtime
//!   interface client streams, so it has no peer.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

use crate::lambda_env::lambda_env;

pub const AWS_LAMBDA_RIC_VERSION: &str = "4.0.2";
/// Every client, in report order.
pub const ALL: &[&str] = &["ferric-node", "aws-lambda-ric", "ferric-python"];

/// A client ready to start.
#[derive(Debug, Clone)]
pub struct Client {
    pub key: &'static str,
    pub label: &'static str,
    /// ferric (its own process is the supervisor; the worker is its child).
    pub ferric: bool,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Client {
    /// The command line for the report, paths relative to `root`.
    pub fn command_line(&self, root: &Path) -> String {
        let rel = |s: &str| {
            Path::new(s)
                .strip_prefix(root)
                .map_or_else(|_| s.to_string(), |p| p.display().to_string())
        };
        let mut parts: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", rel(v)))
            .collect();
        parts.push(rel(&self.program.display().to_string()));
        parts.extend(self.args.iter().map(|a| rel(a)));
        parts.join(" ")
    }
}

/// The ferric binary measured.
pub fn ferric() -> Result<PathBuf, String> {
    let exe = match std::env::var_os("BENCH_FERRIC") {
        Some(p) => std::path::absolute(PathBuf::from(p)).map_err(|e| e.to_string())?,
        None => PathBuf::from(env!("CARGO_BIN_EXE_ferric")),
    };
    existing(exe)
}

/// Make `key` ready to start, or say why it cannot be.
pub fn locate(root: &Path, key: &str) -> Result<Client, String> {
    let s = |x: &str| x.to_string();
    match key {
        "ferric-node" => {
            let node = on_path("node").ok_or("node is not on PATH")?;
            Ok(Client {
                key: "ferric-node",
                label: "ferric + Node shim",
                ferric: true,
                program: ferric()?,
                args: vec![s("--runtime"), s("node"), s("stream.handler")],
                env: vec![(s("FERRIC_NODE"), node.display().to_string())],
            })
        }
        "ferric-python" => {
            let venv = root.join(".cache/py-venv/bin/python3");
            let python = if venv.exists() {
                venv
            } else {
                on_path("python3").ok_or("python3 is not on PATH")?
            };
            Ok(Client {
                key: "ferric-python",
                label: "ferric + Python shim",
                ferric: true,
                program: ferric()?,
                args: vec![s("--runtime"), s("python"), s("stream.handler")],
                env: vec![(s("FERRIC_PYTHON"), python.display().to_string())],
            })
        }
        "aws-lambda-ric" => {
            let node = on_path("node").ok_or("node is not on PATH")?;
            Ok(Client {
                key: "aws-lambda-ric",
                label: "aws-lambda-ric 4.0.2",
                ferric: false,
                program: node,
                args: vec![node_ric(root)?.display().to_string()],
                env: Vec::new(),
            })
        }
        _ => Err(format!(
            "unknown client {key:?} (known: {})",
            ALL.join(", ")
        )),
    }
}

/// aws-lambda-ric 4.0.2's entry point, with its native client built.
fn node_ric(root: &Path) -> Result<PathBuf, String> {
    for dir in [".cache/node-ric4", ".cache/node-ric-bench"] {
        let pkg = root.join(dir).join("node_modules/aws-lambda-ric");
        let version = fs::read_to_string(pkg.join("package.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["version"].as_str().map(str::to_owned));
        if version.as_deref() != Some(AWS_LAMBDA_RIC_VERSION) {
            continue;
        }
        let native = ["rapid-client.node", "dist/rapid-client.node"];
        if !native.iter().any(|n| pkg.join(n).exists()) {
            continue;
        }
        if let Some(entry) = ["index.mjs", "dist/index.mjs"]
            .iter()
            .map(|e| pkg.join(e))
            .find(|p| p.exists())
        {
            return Ok(entry);
        }
    }
    Err(format!(
        "aws-lambda-ric {AWS_LAMBDA_RIC_VERSION} (with its native client) is in neither .cache/node-ric4 nor .cache/node-ric-bench (scripts/setup-peers.sh)"
    ))
}

/// The environment Lambda gives a function, plus the client's own variables.
fn environment(task_root: &Path, api: &str, client: &Client) -> Vec<(String, String)> {
    let mut env = lambda_env("streaming", "stream.handler", task_root, Some(api), 1);
    env.extend(client.env.iter().cloned());
    env
}

/// A running client; its process group is killed when it drops.
pub struct Running {
    pub child: Child,
    pub pid: u32,
    pub log: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names the
        // client's own process group (it was started as its leader).
        unsafe {
            libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL);
        }
    }
}

impl Running {
    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = fs::read(&self.log).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Start `client` against the Runtime API at `api`, its output to `log`.
pub fn spawn(
    client: &Client,
    task_root: &Path,
    api: &str,
    log: PathBuf,
) -> Result<Running, String> {
    let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(&client.program)
        .args(&client.args)
        .current_dir(task_root)
        .env_clear()
        .envs(environment(task_root, api, client))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", client.key))?;
    let pid = child.id().ok_or("the client has no pid")?;
    Ok(Running { child, pid, log })
}

fn existing(p: PathBuf) -> Result<PathBuf, String> {
    if p.exists() {
        Ok(p)
    } else {
        Err(format!("{} does not exist", p.display()))
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}
