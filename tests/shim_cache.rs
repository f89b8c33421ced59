//! The Python shim's code cache through the built binary: the first worker compiles the shim and
//! writes `FERRIC_CACHE_DIR/shim-KEY-...`, later workers load it (the file is not rewritten), the
//! default directory is `$TMPDIR/ferric-VERSION`, and `ferric prepare` fills a directory at image
//! build time. The Python unit tests (src/shims/python) cover invalid files, untrusted
//! directories and what user code sees.

mod support;

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

// The one library item used: the bundle key that names the cache files (src/shims/README.md).
use ferric::shims::PYTHON_KEY;
use support::*;

const EXIT_LIMIT: Duration = Duration::from_secs(20);

const APP: &str = "import sys\n\ndef handler(event, context):\n    return sys.argv\n";

/// Run ferric once with `env` on a task root holding APP, answer one invocation, stop.
async fn serve_once(env: &[(&str, &OsStr)]) -> String {
    let root = TaskRoot::new();
    root.write("app.py", APP);
    let api = fake().await;
    let mut cmd = ferric_command(&api, root.path(), &["app.handler"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut running = Running::spawn(cmd);
    let r = invoke_json(&api, "{}").await;
    let body = match &r.outcome {
        Outcome::Response { body, .. } => String::from_utf8_lossy(body).into_owned(),
        other => panic!("expected a response, got {other:?}\n{}", running.stderr()),
    };
    running.terminate();
    let status = running.wait(EXIT_LIMIT).await;
    assert_eq!(status.code(), Some(0), "{}", running.stderr());
    body
}

/// The one cache file in `dir`, for this shim.
fn cache_file(dir: &Path) -> PathBuf {
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with(&format!("shim-{PYTHON_KEY}-")),
        "{names:?}"
    );
    dir.join(&names[0])
}

fn identity(path: &Path) -> (u64, i64, i64) {
    let m = std::fs::metadata(path).unwrap();
    (m.ino(), m.mtime(), m.mtime_nsec())
}

#[tokio::test]
async fn first_worker_writes_the_cache_and_the_next_loads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let env = [("FERRIC_CACHE_DIR", cache.as_os_str())];
    // User code sees none of the bootstrap's arguments.
    assert_eq!(serve_once(&env).await, r#"["-c", "app.handler"]"#);
    let file = cache_file(&cache);
    let written = identity(&file);
    assert_eq!(serve_once(&env).await, r#"["-c", "app.handler"]"#);
    assert_eq!(identity(&file), written, "the cache was rewritten");
    assert_eq!(cache_file(&cache), file);
}

#[tokio::test]
async fn default_cache_is_a_versioned_directory_in_tmpdir() {
    let tmp = tempfile::tempdir().unwrap();
    serve_once(&[("TMPDIR", tmp.path().as_os_str())]).await;
    cache_file(
        &tmp.path()
            .join(concat!("ferric-", env!("CARGO_PKG_VERSION"))),
    );
}

#[tokio::test]
async fn unusable_cache_directory_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, "").unwrap();
    let dir = file.join("cache"); // under a file: cannot be made
    let env = [("FERRIC_CACHE_DIR", dir.as_os_str())];
    assert_eq!(serve_once(&env).await, r#"["-c", "app.handler"]"#);
}

/// `ferric prepare` with `vars` as its whole environment (plus PATH).
fn prepare(vars: &[(&str, OsString)]) -> std::process::Output {
    std::process::Command::new(ferric_bin())
        .arg("prepare")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("ferric prepare runs")
}

#[tokio::test]
async fn prepared_cache_is_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("image/ferric-cache");
    let vars: Vec<(&str, OsString)> = vec![
        ("FERRIC_PYTHON", python().into()),
        ("FERRIC_CACHE_DIR", cache.clone().into()),
    ];
    let out = prepare(&vars);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = cache_file(&cache);
    assert_eq!(
        stdout,
        format!("ferric: compiled the Python shim into {}\n", file.display())
    );
    let prepared = identity(&file);
    // A worker of a ferric that inherited the variable still serves (only `ferric prepare` sets it).
    let env = [
        ("FERRIC_CACHE_DIR", cache.as_os_str()),
        ("FERRIC_SHIM_PREPARE", OsStr::new("1")),
    ];
    assert_eq!(serve_once(&env).await, r#"["-c", "app.handler"]"#);
    assert_eq!(identity(&file), prepared, "the prepared cache was not used");
}

#[test]
fn prepare_says_why_it_cannot_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, "").unwrap();
    let vars: Vec<(&str, OsString)> = vec![
        ("FERRIC_PYTHON", python().into()),
        ("FERRIC_CACHE_DIR", file.join("cache").into()),
    ];
    let out = prepare(&vars);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("ferric: cannot cache the Python shim in ")
            && stderr.contains("Not a directory"),
        "{stderr}"
    );
}
