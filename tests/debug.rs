//! `ferric --debug` through the built binary: the worker starts under its language's debugger
//! before the first request, and the debugger's endpoint accepts a client.

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::*;
use tokio::process::Command;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve_debug(root: &TaskRoot, handler: &str, port: u16) -> Running {
    serve_debug_at(root, handler, port, free_port())
}

fn serve_debug_at(root: &TaskRoot, handler: &str, port: u16, listen: u16) -> Running {
    let mut cmd = Command::new(ferric_bin());
    cmd.arg(format!("--debug=127.0.0.1:{port}"))
        .arg(handler)
        .current_dir(root.path())
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("LAMBDA_TASK_ROOT", root.path())
        .env("FERRIC_PYTHON", python())
        .env("FERRIC_NODE", node())
        .env("FERRIC_LISTEN", format!("127.0.0.1:{listen}"))
        .env("FERRIC_HTTP_LISTEN", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    Running::spawn(cmd)
}

#[tokio::test]
async fn node_waits_under_its_inspector_which_lists_the_worker() {
    let root = TaskRoot::new();
    root.write("index.js", "exports.handler = async () => 'debugged';\n");
    let port = free_port();
    let running = serve_debug(&root, "index.handler", port);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut listed = None;
    for _ in 0..250 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/json/list"))
            .send()
            .await
        {
            listed = Some(r.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let listed = listed.unwrap_or_else(|| panic!("no inspector on {port}\n{}", running.stderr()));
    let targets: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(targets[0]["type"], "node", "{listed}");
    assert!(targets[0]["webSocketDebuggerUrl"]
        .as_str()
        .unwrap()
        .contains(&port.to_string()));
    let log = running.stderr();
    assert!(log.contains("waits for a debugger"), "{log}");
    assert!(
        !log.contains("worker ready"),
        "it waits at the first line for the debugger: {log}"
    );
}

/// One Debug Adapter Protocol client over TCP: Content-Length framed JSON messages.
struct Dap {
    stream: tokio::net::TcpStream,
    buffered: Vec<u8>,
    seq: u64,
}

impl Dap {
    async fn connect(port: u16, running: &Running) -> Dap {
        for _ in 0..500 {
            if let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                return Dap {
                    stream,
                    buffered: Vec::new(),
                    seq: 0,
                };
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("debugpy never listened on {port}\n{}", running.stderr());
    }

    async fn request(&mut self, command: &str, arguments: serde_json::Value) {
        use tokio::io::AsyncWriteExt;
        self.seq += 1;
        let body = serde_json::json!({"seq": self.seq, "type": "request", "command": command, "arguments": arguments}).to_string();
        let message = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.stream.write_all(message.as_bytes()).await.unwrap();
    }

    /// The next message that `wanted` accepts (events and other answers before it are passed).
    async fn until(&mut self, wanted: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        use tokio::io::AsyncReadExt;
        loop {
            if let Some(end) = self.buffered.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffered[..end]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
                if self.buffered.len() >= end + 4 + len {
                    let body: Vec<u8> =
                        self.buffered.drain(..end + 4 + len).skip(end + 4).collect();
                    let message: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    if wanted(&message) {
                        return message;
                    }
                    continue;
                }
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(20), self.stream.read(&mut chunk))
                .await
                .expect("debugpy answered within 20 s")
                .unwrap();
            assert!(n > 0, "debugpy closed the connection");
            self.buffered.extend_from_slice(&chunk[..n]);
        }
    }
}

fn answer_to(command: &'static str) -> impl Fn(&serde_json::Value) -> bool {
    move |m| m["type"] == "response" && m["command"] == command
}

async fn invoke_local(listen: u16, event: &str) -> String {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://127.0.0.1:{listen}/2015-03-31/functions/function/invocations");
    for _ in 0..250 {
        if let Ok(r) = client.post(&url).body(event.to_owned()).send().await {
            return r.text().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the emulator never answered on {listen}");
}

#[tokio::test]
async fn python_waits_for_debugpy_then_runs_the_handler_once_attached() {
    let root = TaskRoot::new();
    root.write(
        "app.py",
        "import sys\nSEEN = 'debugpy' in sys.modules\n\ndef handler(event, context):\n    return {'debugpy_before_import': SEEN, 'event': event}\n",
    );
    let (port, listen) = (free_port(), free_port());
    let running = serve_debug_at(&root, "app.handler", port, listen);
    let mut dap = Dap::connect(port, &running).await;
    dap.request(
        "initialize",
        serde_json::json!({"clientID": "ferric-test", "adapterID": "debugpy", "linesStartAt1": true, "pathFormat": "path"}),
    )
    .await;
    let initialized = dap.until(answer_to("initialize")).await;
    assert_eq!(initialized["success"], true, "{initialized}");
    assert!(
        !running.stderr().contains("worker ready"),
        "the handler's module waits for the debugger: {}",
        running.stderr()
    );
    dap.request("attach", serde_json::json!({"justMyCode": false}))
        .await;
    dap.until(|m| m["type"] == "event" && m["event"] == "initialized")
        .await;
    // A breakpoint on the handler's return line stops the invocation until the client continues.
    let source = root.path().join("app.py");
    dap.request(
        "setBreakpoints",
        serde_json::json!({"source": {"path": source}, "breakpoints": [{"line": 5}]}),
    )
    .await;
    let set = dap.until(answer_to("setBreakpoints")).await;
    assert_eq!(set["success"], true, "{set}");
    dap.request("configurationDone", serde_json::json!({}))
        .await;
    dap.until(answer_to("configurationDone")).await;
    let invoked = tokio::spawn(invoke_local(listen, r#"{"n": 1}"#));
    let stopped = dap
        .until(|m| m["type"] == "event" && m["event"] == "stopped")
        .await;
    assert_eq!(stopped["body"]["reason"], "breakpoint", "{stopped}");
    assert!(
        !invoked.is_finished(),
        "the invocation waits at the breakpoint"
    );
    let thread = stopped["body"]["threadId"].clone();
    dap.request("continue", serde_json::json!({"threadId": thread}))
        .await;
    let answer = invoked.await.unwrap();
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"debugpy_before_import": true, "event": {"n": 1}}),
        "{}",
        running.stderr()
    );
    let log = running.stderr();
    assert!(log.contains("debugpy listens on 127.0.0.1:"), "{log}");
}

#[tokio::test]
async fn python_without_debugpy_fails_its_init_naming_the_fix() {
    let root = TaskRoot::new();
    root.write("app.py", "def handler(event, context):\n    return 1\n");
    // The task root comes first on sys.path: this stands for a Python without debugpy.
    root.write(
        "debugpy.py",
        "raise ImportError(\"No module named 'debugpy'\")\n",
    );
    let listen = free_port();
    let running = serve_debug_at(&root, "app.handler", free_port(), listen);
    let answer: serde_json::Value =
        serde_json::from_str(&invoke_local(listen, "{}").await).unwrap();
    assert_eq!(
        answer["errorType"],
        "Runtime.DebuggerUnavailable",
        "{answer}\n{}",
        running.stderr()
    );
    let message = answer["errorMessage"].as_str().unwrap();
    assert!(message.contains("pip install debugpy"), "{message}");
    assert!(message.contains("No module named 'debugpy'"), "{message}");
}

#[test]
fn debug_is_refused_in_production_and_a_bad_address_is_named() {
    for (args, needle) in [
        (vec!["--debug", "app.handler"], "--debug is for local mode"),
        (
            vec!["--debug=nowhere", "app.handler"],
            "--debug=\"nowhere\"",
        ),
    ] {
        let mut cmd = std::process::Command::new(ferric_bin());
        cmd.args(&args).env_remove("AWS_LAMBDA_RUNTIME_API");
        if needle.contains("local mode") {
            cmd.env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{stderr}");
    }
}
