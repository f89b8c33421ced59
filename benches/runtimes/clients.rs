//! The clients under test, how each is installed or built, and how each is started.
//!
//! Every client runs an echo handler (benches/handlers/, copied to target/bench/task) against
//! the fake Runtime API, with the same Lambda-like environment. Peers are installed by the
//! harness itself when missing:
//! * awslambdaric 4.2.2 into the venv `.cache/py-venv` (also ferric's Python, for fairness);
//! * aws-lambda-ric 4.0.2 into `.cache/node-ric-bench`, or the tests' copy in `.cache/node-ric4`
//!   (npm compiles its native client; it declares Node >= 22 but runs on Node 20; started as
//!   `node <pkg>/index.mjs`, not `npx`, with `_HANDLER` and `LAMBDA_TASK_ROOT` set, as the AWS
//!   base images do);
//! * the lambda_runtime echo in benches/peers/rust-echo, built into target/peers, and the
//!   native ferric worker beside it (`ferric-native`: the floor of ferric's own overhead).
//!
//! Ruby has no peer: the `aws_lambda_ric` gem cannot be installed here (RubyGems is not
//! reachable), so `ferric-ruby` is measured alone. How things are installed: `install`.

use std::fs;
use std::path::{Path, PathBuf};

use install::existing;

// Installing and building: `impl Setup` continued (a child module, so the soak bench, which
// includes this file alone, gets it too).
#[path = "install.rs"]
mod install;

pub const AWSLAMBDARIC_VERSION: &str = "4.2.2";
pub const AWS_LAMBDA_RIC_VERSION: &str = "4.0.2";

/// The language family, which decides the baseline a client is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Python,
    Node,
    Ruby,
    Rust,
    Raw,
}

/// A client ready to start.
#[derive(Debug, Clone)]
pub struct Client {
    pub key: &'static str,
    pub family: Family,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Send the 100 KB..5.5 MB events (the bash raw worker reads byte by byte: too slow).
    pub large_events: bool,
    /// The client's own process is ferric (its own CPU is then a metric: `cpu_self`).
    pub ferric: bool,
}

impl Client {
    /// The command line, as written in the report.
    pub fn command_line(&self, root: &Path) -> String {
        let rel = |p: &Path| {
            p.strip_prefix(root)
                .map(|r| r.display().to_string())
                .unwrap_or_else(|_| p.display().to_string())
        };
        let mut parts = vec![rel(&self.program)];
        parts.extend(self.args.iter().map(|a| rel(Path::new(a))));
        let env: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", rel(Path::new(v))))
            .collect();
        if env.is_empty() {
            parts.join(" ")
        } else {
            format!("{} {}", env.join(" "), parts.join(" "))
        }
    }
}

/// A client's program, arguments and own environment variables.
type Command = (PathBuf, Vec<String>, Vec<(String, String)>);

/// Every client the harness knows, in report order: key, label, family.
pub const CATALOGUE: &[(&str, &str, Family)] = &[
    ("ferric-python", "ferric + Python shim", Family::Python),
    ("awslambdaric", "awslambdaric 4.2.2", Family::Python),
    ("ferric-node", "ferric + Node shim", Family::Node),
    ("aws-lambda-ric", "aws-lambda-ric 4.0.2", Family::Node),
    ("ferric-ruby", "ferric + Ruby shim", Family::Ruby),
    ("ferric-native", "ferric + native echo worker", Family::Raw),
    ("rust", "Rust lambda_runtime 1.5", Family::Rust),
    ("ferric-raw", "ferric + bash raw worker", Family::Raw),
    // A/B: another ferric binary (BENCH_FERRIC_ALT=path) measured in the same runs.
    (
        "ferric-python-alt",
        "ferric (alt build) + Python shim",
        Family::Python,
    ),
    (
        "ferric-node-alt",
        "ferric (alt build) + Node shim",
        Family::Node,
    ),
];

/// The clients measured when none are named.
pub const DEFAULT_CLIENTS: &[&str] = &[
    "ferric-python",
    "awslambdaric",
    "ferric-node",
    "aws-lambda-ric",
    "ferric-ruby",
    "ferric-native",
    "rust",
];

/// Where things are, and what may be installed or built.
pub struct Setup {
    pub root: PathBuf,
    pub install: bool,
    pub build: bool,
    ferric: Option<Result<PathBuf, String>>,
    venv: Option<Result<PathBuf, String>>,
    node_ric: Option<Result<PathBuf, String>>,
    /// benches/peers/rust-echo was built in this harness run.
    peers_built: bool,
}

impl Setup {
    pub fn new(root: PathBuf, install: bool, build: bool) -> Setup {
        Setup {
            root,
            install,
            build,
            ferric: None,
            venv: None,
            node_ric: None,
            peers_built: false,
        }
    }

    pub fn bench_dir(&self) -> PathBuf {
        self.root.join("target/bench")
    }

    /// The task root: a copy of benches/handlers.
    pub fn task_root(&self) -> PathBuf {
        self.bench_dir().join("task")
    }

    fn log(&self) -> PathBuf {
        self.bench_dir().join("install.log")
    }

    /// Copy the handlers into the task root.
    pub fn prepare_task_root(&self) -> std::io::Result<()> {
        let task = self.task_root();
        fs::create_dir_all(&task)?;
        for name in ["echo.py", "index.mjs", "echo.rb"] {
            fs::copy(
                self.root.join("benches/handlers").join(name),
                task.join(name),
            )?;
        }
        Ok(())
    }

    /// Make `key` ready to start, or say why it cannot be.
    pub fn prepare(&mut self, key: &str) -> Result<Client, String> {
        let (key, _, family) = CATALOGUE
            .iter()
            .copied()
            .find(|(k, _, _)| *k == key)
            .ok_or_else(|| format!("unknown client {key:?}"))?;
        if let Some(base) = key.strip_suffix("-alt") {
            let ferric = std::env::var_os("BENCH_FERRIC_ALT")
                .map(|p| std::path::absolute(PathBuf::from(p)).unwrap_or_default())
                .ok_or("set BENCH_FERRIC_ALT to the ferric binary to compare")
                .and_then(|p| existing(p).map_err(|_| "BENCH_FERRIC_ALT does not exist"))?;
            let mut c = self.prepare(base)?;
            c.key = key;
            c.program = ferric;
            return Ok(c);
        }
        let (program, args, env) = self.command(key)?;
        Ok(Client {
            key,
            family,
            program,
            args,
            env,
            large_events: key != "ferric-raw",
            ferric: key.starts_with("ferric"),
        })
    }

    /// The program, arguments and own environment variables of client `key`.
    fn command(&mut self, key: &str) -> Result<Command, String> {
        let s = |x: &str| x.to_string();
        let client =
            |program: PathBuf, args: Vec<String>, env: Vec<(String, String)>| (program, args, env);
        match key {
            "ferric-python" => {
                let ferric = self.ferric()?;
                let python = self.venv()?;
                let env = vec![(s("FERRIC_PYTHON"), python.display().to_string())];
                Ok(client(ferric, vec![s("echo.handler")], env))
            }
            "awslambdaric" => {
                let python = self.venv()?;
                let args = vec![s("-m"), s("awslambdaric"), s("echo.handler")];
                Ok(client(python, args, vec![]))
            }
            "ferric-node" => {
                let ferric = self.ferric()?;
                let node = find_on_path("node").ok_or("node is not on PATH")?;
                let env = vec![(s("FERRIC_NODE"), node.display().to_string())];
                let args = vec![s("--runtime"), s("node"), s("index.handler")];
                Ok(client(ferric, args, env))
            }
            "aws-lambda-ric" => {
                let node = find_on_path("node").ok_or("node is not on PATH")?;
                let index = self.node_ric()?;
                let args = vec![index.display().to_string()];
                Ok(client(node, args, vec![]))
            }
            "rust" => {
                let exe = self.native_peer("rust-echo")?;
                Ok(client(exe, vec![], vec![]))
            }
            "ferric-ruby" => {
                let ferric = self.ferric()?;
                let ruby = find_on_path("ruby").ok_or("ruby is not on PATH")?;
                let env = vec![(s("FERRIC_RUBY"), ruby.display().to_string())];
                // --runtime: echo.py beside echo.rb would make `echo.handler` a Python handler.
                let args = vec![s("--runtime"), s("ruby"), s("echo.handler")];
                Ok(client(ferric, args, env))
            }
            "ferric-native" => {
                let ferric = self.ferric()?;
                let worker = self.native_peer("native-worker")?;
                let args = vec![s("--"), worker.display().to_string()];
                Ok(client(ferric, args, vec![]))
            }
            "ferric-raw" => {
                let ferric = self.ferric()?;
                let script = self.root.join("examples/raw/echo_worker.sh");
                let args = vec![s("--"), s("bash"), script.display().to_string()];
                Ok(client(ferric, args, vec![]))
            }
            _ => Err(format!("unknown client {key:?}")),
        }
    }
}

pub fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
