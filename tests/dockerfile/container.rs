//! `docker run` without an engine: a [`Layout`]'s `ENTRYPOINT` + `CMD` run exactly as written,
//! in its `WORKDIR`, with its environment (image paths mapped under the root, `FERRIC_LISTEN`
//! moved to a free loopback port) and nothing from the host's; then HTTP requests to the invoke
//! endpoint, as `curl` against `docker run -p` would make them.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use super::image::{Layout, BASE_PATH};
use super::resolve;

pub const INVOKE_PATH: &str = "/2015-03-31/functions/function/invocations";

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("bound").port()
}

fn capture(mut pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf: Arc<Mutex<Vec<u8>>> = Arc::default();
    let keep = buf.clone();
    tokio::spawn(async move {
        let mut chunk = vec![0u8; 16 * 1024];
        while let Ok(n) = pipe.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            keep.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    buf
}

/// A running "container".
pub struct Container {
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// `http://127.0.0.1:<port>`, where the image's FERRIC_LISTEN was moved.
    pub base: String,
}

/// The answer to one request to the invoke endpoint.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub function_error: bool,
    pub body: String,
}

/// The program `ENTRYPOINT` names, under the root: an absolute or relative path as is, a bare
/// name looked up on the image's `PATH`.
fn entrypoint_program(layout: &Layout, program: &str) -> Result<PathBuf, String> {
    let found = if program.contains('/') {
        Some(layout.path(&resolve(&layout.workdir, program)))
    } else {
        let path = layout.env("PATH").unwrap_or(BASE_PATH);
        path.split(':')
            .map(|d| layout.path(d).join(program))
            .find(|p| p.is_file())
    };
    found
        .filter(|p| p.is_file())
        .ok_or_else(|| format!("ENTRYPOINT {program:?} does not exist in the image"))
}

/// The process environment: the image's, image paths mapped, FERRIC_LISTEN on `port`.
pub fn environment(layout: &Layout, port: u16) -> Vec<(String, String)> {
    let map = |v: &str| layout.path(v).display().to_string();
    let mut env = vec![("HOME".to_owned(), map("/"))];
    for (name, value) in &layout.env {
        let value = match name.as_str() {
            "FERRIC_LISTEN" => format!("127.0.0.1:{port}"),
            "PATH" => value.split(':').map(map).collect::<Vec<_>>().join(":"),
            _ if value.starts_with('/') => map(value),
            _ => value.clone(),
        };
        env.push((name.clone(), value));
    }
    env
}

impl Container {
    /// Start the image and wait until its invoke endpoint accepts connections.
    pub async fn run(layout: &Layout) -> Result<Container, String> {
        let program = layout
            .entrypoint
            .first()
            .ok_or("the image has no ENTRYPOINT")?;
        let executable = entrypoint_program(layout, program)?;
        if layout.env("FERRIC_LISTEN").is_none() {
            return Err(
                "the image does not set FERRIC_LISTEN: docker run -p reaches nothing".into(),
            );
        }
        let port = free_port();
        let mut child = Command::new(&executable)
            .args(&layout.entrypoint[1..])
            .args(&layout.cmd)
            .current_dir(layout.path(&layout.workdir))
            .env_clear()
            .envs(environment(layout, port))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("ENTRYPOINT {program:?}: {e}"))?;
        let stderr = capture(child.stderr.take().expect("piped"));
        let _stdout = capture(child.stdout.take().expect("piped"));
        let mut container = Container {
            child,
            stderr,
            base: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..500 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(container);
            }
            if let Ok(Some(status)) = container.child.try_wait() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let log = container.stderr();
                return Err(format!("ferric exited {status} before listening:\n{log}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let log = container.stderr();
        Err(format!(
            "ferric did not listen on {port} within 10 s:\n{log}"
        ))
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// POST `event` to the invoke endpoint with `headers`.
    pub async fn invoke(&self, event: &str, headers: &[(&str, &str)]) -> Result<Answer, String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        let mut request = client
            .post(format!("{}{INVOKE_PATH}", self.base))
            .body(event.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = tokio::time::timeout(Duration::from_secs(60), request.send())
            .await
            .map_err(|_| format!("no answer within 60 s:\n{}", self.stderr()))?
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let function_error = response.headers().contains_key("x-amz-function-error");
        let body = response.text().await.map_err(|e| e.to_string())?;
        Ok(Answer {
            status,
            function_error,
            body,
        })
    }

    /// SIGTERM, as `docker stop` sends; the exit status and everything ferric wrote to stderr.
    pub async fn stop(mut self) -> Result<(ExitStatus, String), String> {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .map_err(|_| format!("ferric ignored SIGTERM for 10 s:\n{}", self.stderr()))?
            .map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_millis(50)).await; // let the pipes drain
        Ok((status, self.stderr()))
    }
}
