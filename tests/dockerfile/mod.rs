//! A small Dockerfile reader for the container tests: enough of the Dockerfile syntax to lint the
//! instructions that matter and to rebuild a final stage's filesystem layout without a Docker
//! engine.
//!
//! Supported: parser directives (`# syntax=`, `# escape=`), comments, line continuations,
//! exec (JSON) and shell forms, instruction flags (`--from=`, `--mount=`...), `ARG`/`ENV`
//! variables with `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alt}`, quotes and escapes as
//! BuildKit's shell lexer treats them, and `.dockerignore` patterns (`*`, `?`, `**`, `!`).
//! Not supported (rejected, so a test never silently misreads a file): heredocs and `ONBUILD`.
//!
//! [`lint`] checks what matters for a ferric image; [`image`] rebuilds a final stage's
//! filesystem under a temporary root and [`container`] runs it: `docker build` + `docker run`
//! for the container tests, without a Docker engine.
#![allow(dead_code)] // containers.rs uses a subset

pub mod container;
pub mod ignore;
pub mod image;
pub mod lint;
pub mod words;

pub use ignore::DockerIgnore;
pub use words::{expand_word, expand_words, split_words, Vars};

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// A parse or lint failure, with the line it refers to (1-based; 0 = the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn problem(line: usize, message: impl Into<String>) -> Problem {
    Problem {
        line,
        message: message.into(),
    }
}

/// The arguments of an instruction: JSON exec form or shell form (the raw text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    Exec(Vec<String>),
    Shell(String),
}

/// One instruction, keyword upper-cased, `--flag=value` options split off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub line: usize,
    pub keyword: String,
    pub flags: Vec<(String, String)>,
    /// The text after the keyword and flags.
    pub rest: String,
}

impl Instruction {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Exec form if `rest` is a JSON array of strings, else shell form.
    pub fn form(&self) -> Form {
        let trimmed = self.rest.trim();
        if trimmed.starts_with('[') {
            if let Ok(v) = serde_json::from_str::<Vec<String>>(trimmed) {
                return Form::Exec(v);
            }
        }
        Form::Shell(trimmed.to_owned())
    }
}

/// A build stage: `FROM base [AS name]` and what follows.
#[derive(Debug, Clone)]
pub struct Stage {
    pub index: usize,
    pub line: usize,
    /// The image reference as written (variables not expanded).
    pub base: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub instructions: Vec<Instruction>,
}

impl Stage {
    pub fn all<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a Instruction> + 'a {
        self.instructions
            .iter()
            .filter(move |i| i.keyword == keyword)
    }

    pub fn last(&self, keyword: &str) -> Option<&Instruction> {
        self.instructions
            .iter()
            .rev()
            .find(|i| i.keyword == keyword)
    }
}

#[derive(Debug, Clone)]
pub struct Dockerfile {
    pub directives: BTreeMap<String, String>,
    /// `ARG`s before the first `FROM`: name → default.
    pub global_args: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
}

const KEYWORDS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Join continuation lines, drop comments and blank lines: `(first line number, text)`.
fn logical_lines(text: &str, escape: char) -> Result<Vec<(usize, String)>, Problem> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let trimmed = raw.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_none()) {
            continue; // comments go even inside a continuation, as in BuildKit
        }
        if trimmed.is_empty() {
            continue; // an empty continuation line (BuildKit warns, accepts)
        }
        let (body, continues) = match raw.trim_end().strip_suffix(escape) {
            Some(body) => (body, true),
            None => (raw.trim_end(), false),
        };
        let entry = current.get_or_insert_with(|| (number, String::new()));
        if !entry.1.is_empty() {
            entry.1.push(' ');
        }
        entry.1.push_str(body.trim());
        if !continues {
            out.push(current.take().expect("set above"));
        }
    }
    if let Some((line, _)) = current {
        return Err(problem(line, "the file ends inside a line continuation"));
    }
    Ok(out)
}

/// Parser directives: `# name=value` lines at the very top of the file.
fn directives(text: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for line in text.lines() {
        let Some(comment) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((name, value)) = comment.split_once('=') else {
            break;
        };
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || name.contains(char::is_whitespace) {
            break;
        }
        found.insert(name, value.trim().to_owned());
    }
    found
}

/// Split leading `--name=value` / `--name` flags off an instruction's arguments.
fn split_flags(rest: &str) -> (Vec<(String, String)>, String) {
    let mut flags = Vec::new();
    let mut rest = rest.trim_start();
    while let Some(after) = rest.strip_prefix("--") {
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let token = &after[..end];
        let (name, value) = token.split_once('=').unwrap_or((token, ""));
        flags.push((name.to_ascii_lowercase(), value.to_owned()));
        rest = after[end..].trim_start();
    }
    (flags, rest.to_owned())
}

/// Parse a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, Problem> {
    let directives = directives(text);
    let escape = match directives.get("escape").map(String::as_str) {
        None | Some("\\") => '\\',
        Some("`") => '`',
        Some(other) => return Err(problem(1, format!("invalid escape directive {other:?}"))),
    };
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for (line, text) in logical_lines(text, escape)? {
        let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((&text, ""));
        let keyword = word.to_ascii_uppercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            return Err(problem(line, format!("unknown instruction {word:?}")));
        }
        if keyword == "ONBUILD" {
            return Err(problem(line, "ONBUILD is not supported by this reader"));
        }
        if rest.contains("<<") && matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            return Err(problem(line, "heredocs are not supported by this reader"));
        }
        let (flags, rest) = split_flags(rest);
        let instruction = Instruction {
            line,
            keyword: keyword.clone(),
            flags,
            rest,
        };
        match (keyword.as_str(), stages.last_mut()) {
            ("FROM", _) => {
                let words = split_words(&instruction.rest);
                let (base, name) = match words.as_slice() {
                    [base] => (base.clone(), None),
                    [base, as_, name] if as_.eq_ignore_ascii_case("as") => {
                        (base.clone(), Some(name.to_ascii_lowercase()))
                    }
                    _ => return Err(problem(line, "FROM takes `image [AS name]`")),
                };
                stages.push(Stage {
                    index: stages.len(),
                    line,
                    base,
                    name,
                    platform: instruction.flag("platform").map(str::to_owned),
                    instructions: Vec::new(),
                });
            }
            ("ARG", None) => global_args.extend(parse_arg(&instruction)?),
            (_, None) => return Err(problem(line, format!("{keyword} before the first FROM"))),
            (_, Some(stage)) => stage.instructions.push(instruction),
        }
    }
    if stages.is_empty() {
        return Err(problem(0, "no FROM instruction"));
    }
    Ok(Dockerfile {
        directives,
        global_args,
        stages,
    })
}

fn parse_arg(i: &Instruction) -> Result<Vec<(String, Option<String>)>, Problem> {
    let words = split_words(&i.rest);
    if words.is_empty() {
        return Err(problem(i.line, "ARG needs a name"));
    }
    Ok(words
        .iter()
        .map(|w| match w.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (w.clone(), None),
        })
        .collect())
}

/// `ENV a=b c=d` or the legacy `ENV a b c` (one variable, the rest is the value).
pub fn parse_env(i: &Instruction, vars: &Vars) -> Result<Vec<(String, String)>, Problem> {
    let words = split_words(&i.rest);
    let fail = |m: String| problem(i.line, m);
    match words.first() {
        None => Err(problem(i.line, "ENV needs a name")),
        Some(first) if !first.contains('=') => {
            let rest = i.rest.trim_start()[first.len()..].trim();
            let value = expand_word(rest, vars).map_err(fail)?;
            Ok(vec![(first.clone(), value)])
        }
        Some(_) => {
            // Each assignment sees the variables as they were before this instruction.
            words
                .iter()
                .map(|w| {
                    let (name, value) = w
                        .split_once('=')
                        .ok_or_else(|| fail(format!("{w:?} is not name=value")))?;
                    Ok((name.to_owned(), expand_word(value, vars).map_err(fail)?))
                })
                .collect()
        }
    }
}

impl Dockerfile {
    pub fn final_stage(&self) -> &Stage {
        self.stages
            .last()
            .expect("parse() rejects a file without FROM")
    }

    /// A stage by `AS` name or by index, as `COPY --from=` names it.
    pub fn stage(&self, reference: &str) -> Option<&Stage> {
        let lower = reference.to_ascii_lowercase();
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                reference
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| self.stages.get(n))
            })
    }

    /// Global `ARG` defaults, with `overrides` (`--build-arg`) applied.
    pub fn global_vars(&self, overrides: &Vars) -> Result<Vars, Problem> {
        let mut vars = Vars::new();
        for (name, default) in &self.global_args {
            let value = match overrides.get(name) {
                Some(v) => v.clone(),
                None => match default {
                    Some(d) => expand_word(d, &vars).map_err(|m| problem(0, m))?,
                    None => String::new(),
                },
            };
            vars.insert(name.clone(), value);
        }
        Ok(vars)
    }

    /// The base image reference of `stage` with global ARGs expanded.
    pub fn base_image(&self, stage: &Stage, overrides: &Vars) -> Result<String, Problem> {
        let vars = self.global_vars(overrides)?;
        expand_word(&stage.base, &vars).map_err(|m| problem(stage.line, m))
    }
}

/// Join an absolute image path onto `root` (`/usr/local/bin/x` → `root/usr/local/bin/x`),
/// refusing `..` so nothing escapes the root.
pub fn under(root: &Path, image_path: &str) -> Result<PathBuf, String> {
    let mut out = root.to_path_buf();
    for c in Path::new(image_path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => out.push(p),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(format!("{image_path:?} leaves the image root"))
            }
        }
    }
    Ok(out)
}

/// Resolve `path` against the image's working directory (`WORKDIR` semantics).
pub fn resolve(workdir: &str, path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{}/{}", workdir.trim_end_matches('/'), path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn continuation_comments_and_forms() {
        let df = parse(
            "# syntax=docker/dockerfile:1\nARG V=3.12\nFROM python:${V}-slim AS final\n\
             RUN echo a \\\n  # a comment inside\n  && echo b\nCMD [\"handler.handler\"]\n\
             ENTRYPOINT /bin/sh -c x\n",
        )
        .unwrap();
        assert_eq!(df.directives["syntax"], "docker/dockerfile:1");
        let s = df.final_stage();
        assert_eq!(s.name.as_deref(), Some("final"));
        assert_eq!(df.base_image(s, &Vars::new()).unwrap(), "python:3.12-slim");
        assert_eq!(s.instructions[0].rest, "echo a && echo b");
        assert_eq!(
            s.last("CMD").unwrap().form(),
            Form::Exec(vec!["handler.handler".into()])
        );
        assert_eq!(
            s.last("ENTRYPOINT").unwrap().form(),
            Form::Shell("/bin/sh -c x".into())
        );
    }

    #[test]
    fn flags_and_env_forms() {
        let df = parse(
            "FROM a\nCOPY --from=build --chmod=755 /x /y\nENV A=1 B=\"two words\" C=${A}x\nENV D legacy value\n",
        )
        .unwrap();
        let s = df.final_stage();
        assert_eq!(s.instructions[0].flag("from"), Some("build"));
        assert_eq!(s.instructions[0].rest, "/x /y");
        let env = parse_env(&s.instructions[1], &vars(&[("A", "0")])).unwrap();
        assert_eq!(env[1], ("B".into(), "two words".into()));
        assert_eq!(
            env[2],
            ("C".into(), "0x".into()),
            "sees the values before the instruction"
        );
        assert_eq!(
            parse_env(&s.instructions[2], &Vars::new()).unwrap()[0].1,
            "legacy value"
        );
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert!(parse("RUN x\n").is_err());
        assert!(parse("FROM a\nFOO x\n").is_err());
        assert!(parse("FROM a\nRUN <<EOF\nx\nEOF\n").is_err());
        assert!(parse("FROM a\nRUN x \\\n").is_err());
    }

    #[test]
    fn paths_stay_under_the_root() {
        let root = Path::new("/tmp/r");
        assert_eq!(
            under(root, "/usr/local/bin/ferric").unwrap(),
            Path::new("/tmp/r/usr/local/bin/ferric")
        );
        assert!(under(root, "/../etc").is_err());
        assert_eq!(resolve("/var/task", "x"), "/var/task/x");
        assert_eq!(resolve("/var/task/", "/y"), "/y");
    }
}
