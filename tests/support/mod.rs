//! Shared helpers for the black-box tests: the built `ferric` binary, the fake Runtime API
//! (`ferric-fake-api`: records every request, injects faults), task roots in temporary
//! directories, and interpreters.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[allow(unused_imports)] // each test binary uses a different subset
pub use ferric_fake_api::{
    FakeApi, Fault, Invoke, Invoked, Kind, Match, Options, Outcome, Recorded, Rule,
};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

/// The binary under test: this build's, or `FERRIC_TEST_BIN` (to check that a test fails on
/// another build, e.g. an older commit's).
pub fn ferric_bin() -> PathBuf {
    std::env::var_os("FERRIC_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ferric")))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python for workers: `FERRIC_TEST_PYTHON`, else the project venv, else `python3`.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("FERRIC_TEST_PYTHON") {
        return p.into();
    }
    let venv = repo().join(".cache/py-venv/bin/python");
    if venv.exists() {
        return venv;
    }
    "python3".into()
}

/// The venv with awslambdaric installed (made by `.ci/run` / `scripts/setup-peers.sh`).
pub fn awslambdaric_python() -> Option<PathBuf> {
    let venv = repo().join(".cache/py-venv/bin/python");
    venv.exists().then_some(venv)
}

pub fn node() -> PathBuf {
    std::env::var("FERRIC_TEST_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| "node".into())
}

/// A task root in a temporary directory.
pub struct TaskRoot {
    pub dir: tempfile::TempDir,
}

impl TaskRoot {
    pub fn new() -> TaskRoot {
        TaskRoot {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `contents` to `name` (parent directories created).
    pub fn write(&self, name: &str, contents: &str) -> &Self {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
        self
    }
}

/// A fake Runtime API with a generous function timeout (one invocation in flight, as Lambda).
pub async fn fake() -> FakeApi {
    fake_with_timeout(Duration::from_secs(30)).await
}

pub async fn fake_with_timeout(timeout: Duration) -> FakeApi {
    fake_with(Options::default().function_timeout(timeout)).await
}

pub async fn fake_with(options: Options) -> FakeApi {
    FakeApi::start(options)
        .await
        .expect("fake Runtime API starts")
}

/// A `ferric` command pointed at `api`, running in `root`, with a clean, Lambda-like env.
pub fn ferric_command(api: &FakeApi, root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(ferric_bin());
    cmd.args(args)
        .current_dir(root)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("LAMBDA_TASK_ROOT", root)
        .env("AWS_LAMBDA_FUNCTION_NAME", "test_function")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/test_function")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/27/[$LATEST]abc")
        .env("FERRIC_PYTHON", python())
        .env("FERRIC_NODE", node())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// A running ferric with its output captured.
pub struct Running {
    pub child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

fn capture(mut pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf: Arc<Mutex<Vec<u8>>> = Arc::default();
    let keep = buf.clone();
    tokio::spawn(async move {
        let mut chunk = vec![0u8; 64 * 1024];
        while let Ok(n) = pipe.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            keep.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    buf
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Running {
        let mut child = cmd.spawn().expect("ferric starts");
        let stdout = capture(child.stdout.take().expect("stdout piped"));
        let stderr = capture(child.stderr.take().expect("stderr piped"));
        Running {
            child,
            stdout,
            stderr,
        }
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// Wait for exit; panics (with stderr) if it takes longer than `limit`.
    pub async fn wait(&mut self, limit: Duration) -> ExitStatus {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => {
                // Let the capture tasks drain.
                tokio::time::sleep(Duration::from_millis(50)).await;
                status.expect("wait")
            }
            Err(_) => panic!(
                "ferric did not exit within {limit:?}; stderr:\n{}",
                self.stderr()
            ),
        }
    }

    /// Send SIGTERM.
    pub fn terminate(&self) {
        if let Some(pid) = self.child.id() {
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id().map(|p| p as i32).unwrap_or(0)
    }
}

/// Invoke with a JSON event and a bound on the wait.
pub async fn invoke_json(api: &FakeApi, event: &str) -> Invoked {
    invoke(api, Invoke::new(event.to_owned())).await
}

pub async fn invoke(api: &FakeApi, request: Invoke) -> Invoked {
    tokio::time::timeout(Duration::from_secs(60), api.invoke(request))
        .await
        .expect("invoke answered within 60 s")
}

/// Posts to `/runtime/invocation/{id}/...` for one request id.
pub fn posts_for(api: &FakeApi, request_id: &str) -> Vec<Recorded> {
    api.posts_for(request_id)
}

pub fn header(post: &Recorded, name: &str) -> Option<String> {
    post.header(name).map(str::to_owned)
}

/// Every request the fake received, as `METHOD PATH`.
pub fn request_lines(api: &FakeApi) -> Vec<String> {
    api.requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Start ferric for `handler` in `root` against a fresh fake Runtime API.
pub async fn start(root: &TaskRoot, args: &[&str]) -> (FakeApi, Running) {
    let api = fake().await;
    let running = Running::spawn(ferric_command(&api, root.path(), args));
    (api, running)
}

/// Wait until the fake has received an init error (or panic after `limit`).
pub async fn wait_for_init_error(api: &FakeApi, running: &Running, limit: Duration) -> Recorded {
    let end = tokio::time::Instant::now() + limit;
    loop {
        if let Some(p) = api
            .posts()
            .into_iter()
            .find(|p| p.path.ends_with("/runtime/init/error"))
        {
            return p;
        }
        if tokio::time::Instant::now() > end {
            panic!(
                "no init error posted within {limit:?}; stderr:\n{}",
                running.stderr()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Running {
    /// Wait (up to 5 s) until ferric's stderr contains `needle`; logs are forwarded
    /// asynchronously, so they can trail the invocation's answer by a moment.
    pub async fn stderr_contains(&self, needle: &str) -> bool {
        for _ in 0..250 {
            if self.stderr().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}
