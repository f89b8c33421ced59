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
    let mut cmd = Command::new(ferric_bin());
    cmd.arg(format!("--debug=127.0.0.1:{port}"))
        .arg(handler)
        .current_dir(root.path())
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("LAMBDA_TASK_ROOT", root.path())
        .env("FERRIC_PYTHON", python())
        .env("FERRIC_NODE", node())
        .env("FERRIC_LISTEN", format!("127.0.0.1:{}", free_port()))
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
