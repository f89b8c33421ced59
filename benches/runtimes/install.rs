//! Installing and building what the clients need: ferric itself (`cargo build --release`),
//! the native peers in benches/peers/rust-echo (the lambda_runtime echo and the native ferric
//! worker, built into target/peers), awslambdaric in the venv `.cache/py-venv`, and
//! aws-lambda-ric in `.cache/node-ric-bench` (unless scripts/setup-peers.sh put the same version
//! in `.cache/node-ric4`). Each install logs to target/bench/install.log.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{tail, Setup, AWSLAMBDARIC_VERSION, AWS_LAMBDA_RIC_VERSION};

impl Setup {
    /// Run `cmd`, appending its output to target/bench/install.log.
    pub(super) fn run(&self, what: &str, cmd: &mut Command) -> Result<(), String> {
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

    pub(super) fn ferric(&mut self) -> Result<PathBuf, String> {
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

    /// A binary of benches/peers/rust-echo: `rust-echo` (lambda_runtime) or `native-worker`
    /// (a ferric worker). Both are built by one cargo build, run at most once.
    pub(super) fn native_peer(&mut self, name: &str) -> Result<PathBuf, String> {
        let exe = self.root.join("target/peers/release").join(name);
        if (self.build && !self.peers_built) || !exe.exists() {
            self.peers_built = true;
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
    pub(super) fn venv(&mut self) -> Result<PathBuf, String> {
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
    pub(super) fn node_ric(&mut self) -> Result<PathBuf, String> {
        if self.node_ric.is_none() {
            let r = self.install_node_ric();
            self.node_ric = Some(r);
        }
        self.node_ric.clone().expect("set above")
    }

    fn install_node_ric(&self) -> Result<PathBuf, String> {
        let ready = |pkg: &std::path::Path| {
            let version = fs::read_to_string(pkg.join("package.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v["version"].as_str().map(str::to_owned));
            version.as_deref() == Some(AWS_LAMBDA_RIC_VERSION)
                && pkg.join("rapid-client.node").exists()
                && pkg.join("index.mjs").exists()
        };
        // The same version that scripts/setup-peers.sh installs for the tests, if it is there:
        // one native build instead of two.
        let tests_copy = self
            .root
            .join(".cache/node-ric4/node_modules/aws-lambda-ric");
        if ready(&tests_copy) {
            return Ok(tests_copy.join("index.mjs"));
        }
        let dir = self.root.join(".cache/node-ric-bench");
        let pkg = dir.join("node_modules/aws-lambda-ric");
        if ready(&pkg) {
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
        if ready(&pkg) {
            Ok(pkg.join("index.mjs"))
        } else {
            Err("aws-lambda-ric installed but its native client (rapid-client.node) is missing; it needs cmake autoconf automake libtool g++ (scripts/bench.sh installs them)".into())
        }
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

pub(super) fn existing(p: PathBuf) -> Result<PathBuf, String> {
    if p.exists() {
        Ok(p)
    } else {
        Err(format!("{} does not exist", p.display()))
    }
}
