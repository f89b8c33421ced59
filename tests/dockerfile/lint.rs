//! The checks that matter for a ferric image, whether or not hadolint is installed: what would
//! make the image fail on Lambda or under `docker run`, and what the project promises (no
//! reference runtime interface client, no compiler in the final image).

use std::collections::BTreeMap;
use std::path::Path;

use super::{expand_word, expand_words, parse, parse_env, DockerIgnore, Vars};
use super::{Dockerfile, Form, Instruction, Problem, Stage};

/// What one image must be.
pub struct Rules<'a> {
    /// The final stage's base with the default build arguments (`python:3.12-slim`).
    pub base: &'a str,
    /// The build argument that selects the language version.
    pub version_arg: &'a str,
    /// The context directory the final stage must copy (the function).
    pub app: &'a str,
    pub entrypoint: &'a str,
    pub task_root: &'a str,
    /// `FERRIC_LISTEN` in the image.
    pub listen: &'a str,
    pub context: &'a Path,
    pub ignore: &'a DockerIgnore,
}

const INSTALLERS: [&str; 5] = [
    "apt-get install",
    "apt install",
    "apk add",
    "yum install",
    "dnf install",
];
const COMPILERS: [&str; 7] = [
    "gcc",
    "g++",
    "clang",
    "build-essential",
    "cmake",
    "node-gyp",
    "rustc",
];

#[derive(Default)]
struct Findings(Vec<Problem>);

impl Findings {
    fn fail(&mut self, line: usize, message: impl Into<String>) {
        self.0.push(Problem {
            line,
            message: message.into(),
        });
    }

    /// The exec-form arguments of `i`, or a finding.
    fn exec_form(&mut self, i: Option<&Instruction>, what: &str) -> Vec<String> {
        match i.map(|i| (i.line, i.form())) {
            Some((_, Form::Exec(v))) => v,
            Some((line, Form::Shell(s))) => {
                let why = "or ferric runs under /bin/sh -c and never sees SIGTERM";
                self.fail(
                    line,
                    format!("{what} must use the exec (JSON) form, {why}: {s:?}"),
                );
                Vec::new()
            }
            None => {
                self.fail(0, format!("the final stage has no {what}"));
                Vec::new()
            }
        }
    }
}

/// Lint a Dockerfile against `rules`.
pub fn lint(text: &str, rules: &Rules) -> Vec<Problem> {
    let df = match parse(text) {
        Ok(df) => df,
        Err(p) => return vec![p],
    };
    let mut f = Findings::default();
    stages(&df, rules, &mut f);
    forbidden(&df, &mut f);
    let env = final_env(df.final_stage(), &mut f);
    runtime(df.final_stage(), rules, &env, &mut f);
    copies(&df, rules, &env, &mut f);
    f.0
}

/// FROM: the final base versioned by a build argument; a `build` stage that runs cargo.
fn stages(df: &Dockerfile, rules: &Rules, f: &mut Findings) {
    let last = df.final_stage();
    match df.base_image(last, &Vars::new()) {
        Ok(base) if base == rules.base => {}
        Ok(base) => f.fail(
            last.line,
            format!("final base is {base}, expected {}", rules.base),
        ),
        Err(p) => f.fail(p.line, p.message),
    }
    if !last.base.contains(rules.version_arg) {
        let message = format!(
            "the base's version must come from ARG {}",
            rules.version_arg
        );
        f.fail(last.line, message);
    }
    let Some(build) = df.stage("build").filter(|s| s.index < last.index) else {
        return f.fail(0, "no build stage named `build` before the final stage");
    };
    match build.all("RUN").find(|r| r.rest.contains("cargo build")) {
        Some(r) if r.rest.contains("--release") && r.rest.contains("--locked") => {}
        Some(r) => f.fail(
            r.line,
            "the build stage must run `cargo build --release --locked`",
        ),
        None => f.fail(build.line, "the build stage never runs cargo build"),
    }
}

/// No reference RIC anywhere, no ADD, pinned tags, no packages or compilers in the final stage.
fn forbidden(df: &Dockerfile, f: &mut Findings) {
    for stage in &df.stages {
        if stage.base.ends_with(":latest") || !stage.base.contains(':') {
            f.fail(
                stage.line,
                format!("pin the base image's tag: {}", stage.base),
            );
        }
        for i in &stage.instructions {
            let lower = i.rest.to_ascii_lowercase();
            for ric in ["awslambdaric", "aws-lambda-ric"] {
                if lower.contains(ric) {
                    f.fail(i.line, format!("{ric} has no place in a ferric image"));
                }
            }
            if i.keyword == "ADD" {
                f.fail(i.line, "use COPY, not ADD");
            }
        }
    }
    for i in df.final_stage().all("RUN") {
        if INSTALLERS.iter().any(|p| i.rest.contains(p)) {
            f.fail(
                i.line,
                "the final stage installs system packages; it should need none",
            );
        }
        for tool in COMPILERS {
            if i.rest.split_whitespace().any(|w| w == tool) {
                f.fail(
                    i.line,
                    format!("the final stage must not need a compiler ({tool})"),
                );
            }
        }
    }
}

/// The final stage's ENV, as the image will have it.
fn final_env(stage: &Stage, f: &mut Findings) -> Vars {
    let mut env = BTreeMap::new();
    for i in stage.all("ENV") {
        match parse_env(i, &env) {
            Ok(pairs) => env.extend(pairs),
            Err(p) => f.fail(p.line, p.message),
        }
    }
    env
}

/// ENTRYPOINT, CMD, ENV, WORKDIR, USER, EXPOSE and the binary's COPY.
fn runtime(stage: &Stage, rules: &Rules, env: &Vars, f: &mut Findings) {
    let entrypoint = f.exec_form(stage.last("ENTRYPOINT"), "ENTRYPOINT");
    if entrypoint != [rules.entrypoint] {
        let message = format!(
            "ENTRYPOINT should be [\"{}\"], not {entrypoint:?}",
            rules.entrypoint
        );
        f.fail(0, message);
    }
    let cmd = f.exec_form(stage.last("CMD"), "CMD");
    if cmd.len() != 1 {
        f.fail(0, format!("CMD should be one handler string, not {cmd:?}"));
    }
    for (name, want) in [
        ("LAMBDA_TASK_ROOT", rules.task_root),
        ("FERRIC_LISTEN", rules.listen),
    ] {
        if env.get(name).map(String::as_str) != Some(want) {
            f.fail(
                0,
                format!("ENV {name} should be {want}, not {:?}", env.get(name)),
            );
        }
    }
    let workdir = stage
        .last("WORKDIR")
        .map(|w| expand_word(w.rest.trim(), env));
    if workdir.as_ref().and_then(|w| w.as_deref().ok()) != Some(rules.task_root) {
        let message = format!(
            "WORKDIR should be the task root {}, not {workdir:?}",
            rules.task_root
        );
        f.fail(0, message);
    }
    match stage.last("USER").map(|u| u.rest.trim().to_owned()) {
        None => f.fail(0, "no USER: run as an unprivileged user, as Lambda does"),
        Some(u) if ["root", "0"].contains(&u.split(':').next().unwrap_or("")) => {
            f.fail(0, format!("USER {u} is root"))
        }
        Some(_) => {}
    }
    let port = rules.listen.rsplit(':').next().unwrap_or_default();
    let exposed = stage.all("EXPOSE").any(|e| {
        e.rest
            .split_whitespace()
            .any(|p| p.trim_end_matches("/tcp") == port)
    });
    if !exposed {
        f.fail(
            0,
            format!("EXPOSE {port} (the FERRIC_LISTEN port) is missing"),
        );
    }
    let binary = stage.all("COPY").find(|c| c.flag("from") == Some("build"));
    match binary.map(|c| expand_words(&c.rest, env)) {
        Some(Ok(words)) if words.last().map(String::as_str) == Some(rules.entrypoint) => {}
        other => f.fail(
            0,
            format!(
                "COPY --from=build must put ferric at {}: {other:?}",
                rules.entrypoint
            ),
        ),
    }
}

/// Every COPY from the context names something that is there and not `.dockerignore`d, and the
/// final stage copies the app.
fn copies(df: &Dockerfile, rules: &Rules, env: &Vars, f: &mut Findings) {
    let sources = |c: &Instruction| {
        let mut words = expand_words(&c.rest, env).unwrap_or_default();
        words.pop(); // the destination
        words
    };
    let copies_app = df
        .final_stage()
        .all("COPY")
        .filter(|c| c.flag("from").is_none())
        .any(|c| {
            sources(c)
                .iter()
                .any(|s| s.trim_end_matches('/') == rules.app)
        });
    if !copies_app {
        f.fail(
            0,
            format!(
                "the final stage never copies the app directory {}/",
                rules.app
            ),
        );
    }
    for stage in &df.stages {
        for c in stage.all("COPY").filter(|c| c.flag("from").is_none()) {
            for src in sources(c) {
                let rel = src.trim_start_matches("./").trim_end_matches('/');
                if !rules.context.join(rel).exists() {
                    f.fail(
                        c.line,
                        format!("COPY source {src} is not in the build context"),
                    );
                } else if rules.ignore.excludes(Path::new(rel)) {
                    f.fail(
                        c.line,
                        format!("COPY source {src} is excluded by .dockerignore"),
                    );
                }
            }
        }
    }
}
