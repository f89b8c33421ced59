//! The test crate's own support: `ferric` in serve mode on ephemeral ports, `curl` and
//! headless Chromium as clients.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const INVOKE: &str = "/2015-03-31/functions/function/invocations";
/// Lambda's payload limit as the emulator enforces it (6 MiB + 100 bytes).
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024 + 100;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> String {
    repo()
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// The test venv's interpreter when `scripts/setup-peers.sh` made one, else `python3`.
pub fn python() -> String {
    let venv = repo().join(".cache/py-venv/bin/python");
    if venv.exists() {
        venv.display().to_string()
    } else {
        "python3".into()
    }
}

/// What runs the function.
pub enum Worker<'a> {
    /// The web app, through the Python shim, from this task root.
    App(&'a str),
    /// `door_worker.py`, a raw worker.
    Raw,
}

/// `ferric` in serve mode; killed on drop.
pub struct Ferric {
    child: Child,
    log: Arc<Mutex<String>>,
    pub invoke: String,
    pub door: Option<String>,
}

impl Ferric {
    /// Start serving on ephemeral ports (`env` may override the defaults) and wait for the
    /// invoke endpoint and, unless it is off, the front door.
    pub fn start(worker: Worker, env: &[(&str, &str)]) -> Ferric {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferric"));
        match worker {
            Worker::App(root) => cmd.arg("app.handler").env("LAMBDA_TASK_ROOT", root),
            Worker::Raw => cmd.args(["--", &python(), &fixture("door_worker.py")]),
        };
        cmd.env_remove("AWS_LAMBDA_RUNTIME_API")
            .env("FERRIC_PYTHON", python())
            .env("FERRIC_LISTEN", "127.0.0.1:0")
            .env("FERRIC_HTTP_LISTEN", "127.0.0.1:0")
            .env("FERRIC_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, log) = spawn_logged(&mut cmd);
        let mut ferric = Ferric {
            child,
            log,
            invoke: String::new(),
            door: None,
        };
        let serving = ferric.wait_line("INFO serving ");
        ferric.invoke = base_url(&serving);
        let off = env
            .iter()
            .any(|(k, v)| *k == "FERRIC_HTTP_LISTEN" && v.eq_ignore_ascii_case("off"));
        if !off {
            let line = ferric.wait_line("front door");
            ferric.door = line.contains("front door at").then(|| base_url(&line));
        }
        ferric
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn door(&self) -> &str {
        self.door.as_deref().expect("the front door is open")
    }

    /// The first log line containing `needle` (waits up to 30 s).
    pub fn wait_line(&mut self, needle: &str) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Some(line) = self.log().lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "ferric exited ({status}) before {needle:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no {needle:?} in ferric's log:\n{}", self.log())
    }

    /// Wait up to 5 s for `needle` to appear in the log.
    pub fn logged(&self, needle: &str) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Ferric {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawn `cmd` with its stderr collected as it comes.
pub fn spawn_logged(cmd: &mut Command) -> (Child, Arc<Mutex<String>>) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning ferric");
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    let stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    (child, log)
}

/// `http://host:port` from a log line saying `... at http://host:port/...`.
pub fn base_url(line: &str) -> String {
    let at = line.find("at http://").expect("an address") + "at ".len();
    let rest = &line[at + "http://".len()..];
    let end = rest.find('/').unwrap_or(rest.len());
    line[at..at + "http://".len() + end].to_owned()
}

/// An HTTP answer as curl saw it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.all(name).first().copied()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Run `curl ARGS` and read its answer (the last header block, after any `100 Continue`).
pub fn curl(args: &[&str]) -> Reply {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    let out = Command::new("curl")
        .args(["-sS", "--noproxy", "*", "--max-time", "60", "-D", "-", "-o"])
        .arg(&body)
        .args(args)
        .output()
        .expect("curl is installed");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let heads = String::from_utf8_lossy(&out.stdout).into_owned();
    let head = heads
        .split("\r\n\r\n")
        .filter(|block| block.starts_with("HTTP/"))
        .last()
        .unwrap_or_else(|| panic!("no status line in {heads:?}"));
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status: status.parse().unwrap(),
        headers,
        body: std::fs::read(&body).unwrap_or_default(),
    }
}

pub fn app_root() -> String {
    fixture("front_door_app")
}

pub fn app() -> Ferric {
    Ferric::start(Worker::App(&app_root()), &[])
}

pub fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// POST `body` to the invoke endpoint.
pub fn invoke(f: &Ferric, body: &str, extra: &[&str]) -> Reply {
    let url = format!("{}{INVOKE}", f.invoke);
    let mut args = vec!["-d", body];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args)
}

/// When each chunk of a streamed answer reached the client, after the response head.
pub fn stream_through_curl_n(url: &str) -> (String, Vec<(Instant, String)>) {
    let mut child = Command::new("curl")
        .args(["-sS", "-N", "-i", "--noproxy", "*", "--max-time", "30", url])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = out.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
        seen.push((Instant::now(), all.len()));
    }
    assert!(child.wait().unwrap().success());
    let text = String::from_utf8_lossy(&all).into_owned();
    let (head, _) = text.split_once("\r\n\r\n").expect("a response head");
    let body_start = head.len() + 4;
    let arrivals = seen
        .iter()
        .filter(|(_, len)| *len > body_start)
        .map(|(at, len)| (*at, text[body_start..*len].to_owned()))
        .collect();
    (head.to_owned(), arrivals)
}

/// `/usr/bin/chromium`, installed with apt-get if it is missing.
pub fn chromium() -> PathBuf {
    let path = PathBuf::from("/usr/bin/chromium");
    if !path.exists() {
        let status = Command::new("apt-get")
            .args(["install", "-y", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("apt-get (Debian) to install chromium");
        assert!(
            status.success() && path.exists(),
            "apt-get install -y chromium failed"
        );
    }
    path
}

/// Run headless Chromium on `url` with `extra` arguments (a fresh profile each time).
pub fn run_chromium(url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=800,600",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("running chromium");
    assert!(
        out.status.success(),
        "chromium {extra:?} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
