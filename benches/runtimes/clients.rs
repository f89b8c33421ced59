//! The clients under test, how each is installed or built, and how each is started.
//!
//! Every client runs an echo handler (benches/handlers/, copied to target/bench/task) against
//! the fake Runtime API, with the same Lambda-like environment. Peers are installed by the
//! harness itself when missing:
//! * awslambdaric 4.2.2 into the venv `.cache/py-venv` (also ferric's Python, for fairness);
//! * aws-lambda-ric 4.0.2 into `.cache/node-ric-bench` (npm compiles its native client; it
//!   declares Node >= 22 but runs on Node 20; started as `node <pkg>/index.mjs`, not `npx`,
//!   with `_HANDLER` and `LAMBDA_TASK_ROOT` set, as the AWS base images do);
//! * the lambda_runtime echo in benches/peers/rust-echo, built into target/peers.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const AWSLAMBDARIC_VERSION: &str = "4.2.2";
pub const AWS_LAMBDA_RIC_VERSION: &str = "4.0.2";

/// The language family, which decides the baseline a client is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Python,
    Node,
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

/// Every client the harness knows, in report order: key, label, family.
pub const CATALOGUE: &[(&str, &str, Family)] = &[
    ("ferric-python", "ferric + Python shim", Family::Python),
    ("awslambdaric", "awslambdaric 4.2.2", Family::Python),
    ("ferric-node", "ferric + Node shim", Family::Node),
    ("aws-lambda-ric", "aws-lambda-ric 4.0.2", Family::Node),
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
        for name in ["echo.py", "index.mjs"] {
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
        let client = |program: PathBuf, args: Vec<String>, env: Vec<(String, String)>| Client {
            key,
            family,
            program,
            args,
            env,
            large_events: family != Family::Raw,
        };
        let s = |x: &str| x.to_string();
        match key {
            "ferric-python-alt" | "ferric-node-alt" => {
                let ferric = std::env::var_os("BENCH_FERRIC_ALT")
                    .map(|p| std::path::absolute(PathBuf::from(p)).unwrap_or_default())
                    .ok_or("set BENCH_FERRIC_ALT to the ferric binary to compare")
                    .and_then(|p| existing(p).map_err(|_| "BENCH_FERRIC_ALT does not exist"))?;
                let mut c = self.prepare(key.trim_end_matches("-alt"))?;
                c.key = key;
                c.program = ferric;
                Ok(c)
            }
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
                let exe = self.rust_echo()?;
                Ok(client(exe, vec![], vec![]))
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

    /// Run `cmd`, appending its output to target/bench/install.log.
    fn run(&self, what: &str, cmd: &mut Command) -> Result<(), String> {
        let log_path = self.log();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        eprintln!("bench: {what}");
        let status = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .status()
            .map_err(|e| format!("{what}: cannot run: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed ({status}); last lines of {}:\n{}",
                log_path.display(),
                tail(&log_path, 8)
            ))
        }
    }

    fn ferric(&mut self) -> Result<PathBuf, String> {
        if self.ferric.is_none() {
            // BENCH_FERRIC=path measures another ferric binary (e.g. one built with symbols
            // for perf); nothing is built then.
            if let Some(exe) = std::env::var_os("BENCH_FERRIC") {
                let exe = std::path::absolute(PathBuf::from(exe)).unwrap_or_default();
                self.ferric = Some(existing(exe));
                return self.ferric.clone().expect("set above");
            }
            let exe = self.root.join("target/release/ferric");
            let built = if self.build {
                self.run(
                    "cargo build --release --bin ferric",
                    Command::new(cargo())
                        .args(["build", "--release", "--bin", "ferric"])
                        .current_dir(&self.root),
                )
            } else {
                Ok(())
            };
            self.ferric = Some(built.and_then(|()| existing(exe)));
        }
        self.ferric.clone().expect("set above")
    }

    fn rust_echo(&mut self) -> Result<PathBuf, String> {
        let exe = self.root.join("target/peers/release/rust-echo");
        if self.build || !exe.exists() {
            self.run(
                "cargo build --release (benches/peers/rust-echo)",
                Command::new(cargo())
                    .args([
                        "build",
                        "--release",
                        "--manifest-path",
                        "benches/peers/rust-echo/Cargo.toml",
                        "--target-dir",
                        "target/peers",
                    ])
                    .current_dir(&self.root),
            )?;
        }
        existing(exe)
    }

    /// The venv's Python with awslambdaric at the pinned version.
    fn venv(&mut self) -> Result<PathBuf, String> {
        if self.venv.is_none() {
            let r = self.make_venv();
            self.venv = Some(r);
        }
        self.venv.clone().expect("set above")
    }

    fn make_venv(&self) -> Result<PathBuf, String> {
        let dir = self.root.join(".cache/py-venv");
        let python = dir.join("bin/python3");
        let has_ric = |python: &Path| {
            Command::new(python)
                .args([
                    "-c",
                    "import importlib.metadata as m; print(m.version('awslambdaric'))",
                ])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim() == AWSLAMBDARIC_VERSION)
                .unwrap_or(false)
        };
        if python.exists() && has_ric(&python) {
            return Ok(python);
        }
        if !self.install {
            return Err(format!(
                "awslambdaric {AWSLAMBDARIC_VERSION} is not installed in .cache/py-venv (run scripts/bench.sh)"
            ));
        }
        if !python.exists() {
            self.run(
                "python3 -m venv .cache/py-venv",
                Command::new("python3")
                    .args(["-m", "venv"])
                    .arg(&dir)
                    .current_dir(&self.root),
            )?;
        }
        self.run(
            "pip install awslambdaric into .cache/py-venv",
            Command::new(dir.join("bin/pip"))
                .args(["install", "--disable-pip-version-check"])
                .arg(format!("awslambdaric=={AWSLAMBDARIC_VERSION}")),
        )?;
        if has_ric(&python) {
            Ok(python)
        } else {
            Err("awslambdaric is still not importable after pip install".into())
        }
    }

    /// aws-lambda-ric's entry point (index.mjs), installed and compiled.
    fn node_ric(&mut self) -> Result<PathBuf, String> {
        if self.node_ric.is_none() {
            let r = self.install_node_ric();
            self.node_ric = Some(r);
        }
        self.node_ric.clone().expect("set above")
    }

    fn install_node_ric(&self) -> Result<PathBuf, String> {
        let dir = self.root.join(".cache/node-ric-bench");
        let pkg = dir.join("node_modules/aws-lambda-ric");
        let ready = || {
            let version = fs::read_to_string(pkg.join("package.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v["version"].as_str().map(str::to_owned));
            version.as_deref() == Some(AWS_LAMBDA_RIC_VERSION)
                && pkg.join("rapid-client.node").exists()
                && pkg.join("index.mjs").exists()
        };
        if ready() {
            return Ok(pkg.join("index.mjs"));
        }
        if !self.install {
            return Err(format!(
                "aws-lambda-ric {AWS_LAMBDA_RIC_VERSION} is not installed in .cache/node-ric-bench (run scripts/bench.sh)"
            ));
        }
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        if !dir.join("package.json").exists() {
            fs::write(dir.join("package.json"), "{\"private\": true}\n")
                .map_err(|e| e.to_string())?;
        }
        self.run(
            "npm install aws-lambda-ric (compiles curl and aws-lambda-cpp: a few minutes)",
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund"])
                .arg(format!("aws-lambda-ric@{AWS_LAMBDA_RIC_VERSION}"))
                .env("npm_config_nodedir", "/usr")
                .current_dir(&dir),
        )?;
        if ready() {
            Ok(pkg.join("index.mjs"))
        } else {
            Err("aws-lambda-ric installed but its native client (rapid-client.node) is missing; it needs cmake autoconf automake libtool g++ (scripts/bench.sh installs them)".into())
        }
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn existing(p: PathBuf) -> Result<PathBuf, String> {
    if p.exists() {
        Ok(p)
    } else {
        Err(format!("{} does not exist", p.display()))
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
