//! `ferric --watch` (local mode): watch the task root and ask the lanes to replace their
//! workers when a source file changes, between invocations. Bursts of events (an editor's save,
//! a `git checkout`) are gathered for [`DEBOUNCE`] into one reload, named after the first file.
//! Byte-code caches, `node_modules/.cache`, version-control directories and editor swap files
//! never trigger one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

/// How long a burst of file events is gathered before the reload.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// One reload request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reload {
    /// The first file of the burst that triggered it, relative to the task root.
    pub path: PathBuf,
    /// How many file events the burst had.
    pub events: usize,
    /// When the burst began.
    pub at: Instant,
}

/// Whether a changed path must not trigger a reload.
pub fn ignored(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let swap = name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".swo")
        || name.ends_with('~')
        || name.starts_with(".#")
        || name == "4913"
        || name.ends_with(".pyc")
        || name == ".DS_Store";
    let in_ignored_dir = path.components().any(|c| {
        matches!(
            c.as_os_str().to_str(),
            Some("__pycache__" | ".git" | ".hg" | ".svn" | ".mypy_cache" | ".pytest_cache")
        )
    });
    let node_cache = path
        .to_str()
        .is_some_and(|p| p.contains("node_modules/.cache"));
    swap || in_ignored_dir || node_cache
}

/// A running watch; dropping it stops watching.
pub struct Watching {
    _watcher: notify::RecommendedWatcher,
    /// The latest reload request (`None` until the first change).
    pub reloads: watch::Receiver<Option<Reload>>,
}

/// Watch `root` recursively.
pub fn start(root: &Path) -> notify::Result<Watching> {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    let root = root.as_path();
    let (raw_tx, raw_rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        for path in event.paths {
            let _ = raw_tx.send(path);
        }
    })?;
    watcher.watch(root, RecursiveMode::Recursive)?;
    let (tx, reloads) = watch::channel(None);
    tokio::spawn(debounce(root.to_owned(), raw_rx, tx));
    Ok(Watching {
        _watcher: watcher,
        reloads,
    })
}

/// Turn bursts of raw paths into reload requests.
async fn debounce(
    root: PathBuf,
    mut raw: mpsc::UnboundedReceiver<PathBuf>,
    tx: watch::Sender<Option<Reload>>,
) {
    while let Some(path) = raw.recv().await {
        let relative = path.strip_prefix(&root).unwrap_or(&path).to_owned();
        if ignored(&relative) {
            continue;
        }
        let at = Instant::now();
        let mut events = 1;
        let quiet = tokio::time::sleep(DEBOUNCE);
        tokio::pin!(quiet);
        loop {
            tokio::select! {
                _ = &mut quiet => break,
                more = raw.recv() => match more {
                    Some(p) if !ignored(p.strip_prefix(&root).unwrap_or(&p)) => events += 1,
                    Some(_) => {}
                    None => break,
                },
            }
        }
        let reload = Reload {
            path: relative,
            events,
            at,
        };
        if tx.send(Some(reload)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_swap_files_and_vcs_never_trigger_a_reload() {
        for path in [
            "__pycache__/app.cpython-311.pyc",
            "pkg/__pycache__/x.pyc",
            "node_modules/.cache/babel/x.json",
            ".app.py.swp",
            "app.py~",
            ".#app.py",
            "4913",
            ".git/index",
        ] {
            assert!(ignored(Path::new(path)), "{path}");
        }
        for path in [
            "app.py",
            "pkg/mod.py",
            "index.mjs",
            "node_modules/lib/index.js",
            "data.json",
        ] {
            assert!(!ignored(Path::new(path)), "{path}");
        }
    }

    #[tokio::test]
    async fn a_burst_of_saves_is_one_reload_named_after_its_first_file() {
        let root = tempfile::tempdir().unwrap();
        let root_path = std::fs::canonicalize(root.path()).unwrap();
        let mut watching = start(&root_path).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        std::fs::write(root_path.join(".app.py.swp"), "x").unwrap();
        std::fs::write(root_path.join("app.py"), "one").unwrap();
        std::fs::write(root_path.join("app.py"), "two").unwrap();
        std::fs::write(root_path.join("lib.py"), "three").unwrap();
        tokio::time::timeout(Duration::from_secs(5), watching.reloads.changed())
            .await
            .unwrap()
            .unwrap();
        let reload = watching.reloads.borrow_and_update().clone().unwrap();
        assert_eq!(reload.path, PathBuf::from("app.py"));
        assert!(reload.events >= 3, "{reload:?}");
        // Nothing more happened: no second reload.
        let more =
            tokio::time::timeout(Duration::from_millis(400), watching.reloads.changed()).await;
        assert!(more.is_err(), "one burst, one reload");
    }
}
