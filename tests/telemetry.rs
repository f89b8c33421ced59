//! The telemetry log descriptor (`_LAMBDA_TELEMETRY_LOG_FD`) through the built binary: ferric's
//! own records become frames on it, a worker gets a pipe of its own in its place, and each of
//! the worker's frames reaches the descriptor whole (even when written in parts), with ferric's
//! records never cutting into them; without the descriptor, lines stay on stderr.

mod support;

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use support::*;

/// The frames in `bytes`: (type, message).
fn frames(mut bytes: &[u8]) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    while bytes.len() >= 16 {
        let kind = u32::from_be_bytes(bytes[0..4].try_into().unwrap());
        let len = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
        assert_eq!(kind & 0xFFFF_0000, 0xA55A_0000, "frame marker");
        let message = String::from_utf8_lossy(&bytes[16..16 + len]).into_owned();
        out.push((kind, message));
        bytes = &bytes[16 + len..];
    }
    assert!(bytes.is_empty(), "a partial frame at the end");
    out
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    use std::os::fd::FromRawFd;
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

#[tokio::test]
async fn records_reach_the_telemetry_descriptor_whole_and_ferric_s_own_too() {
    let api = fake().await;
    let root = TaskRoot::new();
    let worker = repo().join("tests/fixtures/telemetry_worker.py");
    let python = python().display().to_string();
    let mut cmd = ferric_command(
        &api,
        root.path(),
        &["--", &python, &worker.display().to_string()],
    );
    let (read, write) = pipe();
    let raw = write.as_raw_fd();
    cmd.env("_LAMBDA_TELEMETRY_LOG_FD", "9");
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 9) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut running = Running::spawn(cmd);
    drop(write);
    let r = invoke_json(&api, "{\"n\": 1}").await;
    assert_eq!(r.outcome.kind(), "response", "{}", running.stderr());
    running.terminate();
    running.wait(Duration::from_secs(20)).await;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::fs::File::from(read), &mut bytes).unwrap();
    let frames = frames(&bytes);
    let messages: Vec<&str> = frames.iter().map(|(_, m)| m.as_str()).collect();
    assert!(
        frames.contains(&(0xA55A0017, "first line\nsecond line\n".into())),
        "{messages:?}"
    );
    assert!(
        frames.contains(&(0xA55A000F, "written in two parts\n".into())),
        "{messages:?}"
    );
    // ferric's own records are frames too, with their level in the type.
    let own = frames
        .iter()
        .find(|(_, m)| m.contains("logs: one telemetry frame per record"));
    assert_eq!(own.map(|(k, _)| *k), Some(0xA55A000F), "{messages:?}");
    assert!(
        messages.iter().any(|m| m.contains("worker ready")),
        "{messages:?}"
    );
    // print()-style output still goes to the log lines, as with the peers.
    assert!(running.stderr().contains("a plain stderr line"));
    assert!(
        !running.stderr().contains("first line"),
        "no record on both channels"
    );
}

#[tokio::test]
async fn without_a_descriptor_ferric_logs_lines_and_says_so() {
    let api = fake().await;
    let root = TaskRoot::new();
    root.write("app.py", "def handler(e, c):\n    return 1\n");
    let mut cmd = ferric_command(&api, root.path(), &["app.handler"]);
    cmd.env("_LAMBDA_TELEMETRY_LOG_FD", "not-a-number");
    let mut running = Running::spawn(cmd);
    assert_eq!(invoke_json(&api, "{}").await.outcome.kind(), "response");
    assert!(
        running.stderr_contains("logs: lines on stderr").await,
        "{}",
        running.stderr()
    );
    running.terminate();
    running.wait(Duration::from_secs(20)).await;
}
