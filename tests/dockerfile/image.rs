//! `docker build` without an engine: the final stage's filesystem rebuilt under a temporary
//! root, image paths mapped under it (`/usr/local/bin/ferric` → `$ROOT/usr/local/bin/ferric`).
//!
//! Reproduced: `ARG`, `ENV`, `WORKDIR`, `USER`, `ENTRYPOINT`/`CMD` (exec form), `COPY` from the
//! context (honouring `.dockerignore`) and `COPY --from=<earlier stage>` of the one binary a
//! build stage makes. `RUN` is not run, except `pip install --target DIR -r FILE` when FILE lists
//! packages; an `npm install` for a package.json with dependencies is refused rather than faked.
//! The base image is stood in for by the host's interpreter in `/usr/local/bin`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{expand_word, expand_words, split_words, DockerIgnore, Vars};
use super::{parse, parse_env, resolve, under, Dockerfile, Form, Instruction};

/// The PATH of the official python and node images.
pub const BASE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What `docker build` would get from outside the Dockerfile.
pub struct Inputs {
    /// The build context directory.
    pub context: PathBuf,
    pub ignore: DockerIgnore,
    /// What `COPY --from=<build stage>` copies: the binary the build stage makes.
    pub binary: PathBuf,
    /// The base image's interpreter: its name in `/usr/local/bin` and the host program standing
    /// in for it (`python3` also runs an emulated `pip install`).
    pub interpreter: (&'static str, PathBuf),
}

/// A final image rebuilt under a temporary root.
pub struct Layout {
    pub root: tempfile::TempDir,
    /// The image's environment in the order set, with image paths (not mapped).
    pub env: Vec<(String, String)>,
    pub workdir: String,
    pub user: Option<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

impl Layout {
    /// Where an image path is under the root.
    pub fn path(&self, image_path: &str) -> PathBuf {
        under(self.root.path(), image_path).expect("image path stays under the root")
    }

    pub fn env(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn io(e: std::io::Error) -> String {
    e.to_string()
}

/// Copy `src` (file or directory, context-relative `rel`) to `dest`, leaving out what
/// `.dockerignore` excludes, keeping permissions as COPY does.
pub fn copy_tree(
    src: &Path,
    rel: &Path,
    dest: &Path,
    ignore: &DockerIgnore,
) -> std::io::Result<()> {
    if ignore.excludes(rel) {
        return Ok(());
    }
    if !src.is_dir() {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        return std::fs::copy(src, dest).map(|_| ());
    }
    std::fs::create_dir_all(dest)?;
    std::fs::set_permissions(dest, std::fs::metadata(src)?.permissions())?;
    let mut entries: Vec<_> = std::fs::read_dir(src)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        copy_tree(&e.path(), &rel.join(&name), &dest.join(&name), ignore)?;
    }
    Ok(())
}

/// `COPY --from=stage src... dest`: the stage must make `src` (it appears in one of its RUNs);
/// the image gets `inputs.binary` there.
fn copy_from_stage(
    df: &Dockerfile,
    i: &Instruction,
    from: &str,
    sources: &[String],
    dest: &str,
    layout: &Layout,
    inputs: &Inputs,
) -> Result<(), String> {
    let into_dir = dest.ends_with('/') || sources.len() > 1;
    let stage = df
        .stage(from)
        .filter(|s| s.index < df.final_stage().index)
        .ok_or_else(|| format!("line {}: COPY --from={from}: no earlier stage", i.line))?;
    for src in sources {
        if !stage
            .all("RUN")
            .any(|r| r.rest.split_whitespace().any(|w| w == src))
        {
            return Err(format!("line {}: stage {from} never makes {src}", i.line));
        }
        let name = Path::new(src)
            .file_name()
            .ok_or("COPY source has no name")?;
        let target = match into_dir {
            true => layout.path(dest).join(name),
            false => layout.path(dest),
        };
        std::fs::create_dir_all(target.parent().expect("under the root")).map_err(io)?;
        std::os::unix::fs::symlink(&inputs.binary, &target).map_err(io)?;
    }
    Ok(())
}

/// `COPY [--from=stage] src... dest` into the layout.
fn apply_copy(
    df: &Dockerfile,
    i: &Instruction,
    vars: &Vars,
    layout: &Layout,
    inputs: &Inputs,
) -> Result<(), String> {
    let words = match i.form() {
        Form::Exec(v) => v,
        Form::Shell(_) => expand_words(&i.rest, vars)?,
    };
    let Some((dest, sources)) = words.split_last().filter(|(_, s)| !s.is_empty()) else {
        return Err(format!(
            "line {}: COPY needs a source and a destination",
            i.line
        ));
    };
    let dest = resolve(&layout.workdir, dest);
    let into_dir = dest.ends_with('/') || sources.len() > 1;
    if let Some(from) = i.flag("from") {
        return copy_from_stage(df, i, from, sources, &dest, layout, inputs);
    }
    for src in sources {
        if src.contains(['*', '?', '[']) {
            return Err(format!(
                "line {}: wildcards in COPY are not supported here",
                i.line
            ));
        }
        let rel = PathBuf::from(src.trim_start_matches("./").trim_end_matches('/'));
        let from = inputs.context.join(&rel);
        if !from.exists() || inputs.ignore.excludes(&rel) {
            return Err(format!(
                "line {}: COPY {src}: not in the build context",
                i.line
            ));
        }
        // A directory's contents go into dest; a file goes to dest (or into it, if a dir).
        let target = if from.is_file() && (into_dir || layout.path(&dest).is_dir()) {
            layout
                .path(&dest)
                .join(rel.file_name().expect("a file has a name"))
        } else {
            layout.path(&dest)
        };
        copy_tree(&from, &rel, &target, &inputs.ignore).map_err(|e| format!("COPY {src}: {e}"))?;
    }
    Ok(())
}

/// `pip install ... --target DIR -r FILE`, run with the stand-in Python if FILE lists packages.
fn emulate_pip(words: &[String], layout: &Layout, inputs: &Inputs) -> Result<(), String> {
    let after = |flag: &str| {
        let p = words.iter().position(|w| w == flag)?;
        words.get(p + 1)
    };
    let requirements = after("-r").ok_or("pip install without -r")?;
    let file = layout.path(&resolve(&layout.workdir, requirements));
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let wanted = text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    if !wanted {
        return Ok(());
    }
    let target = layout.path(after("--target").ok_or("pip install without --target")?);
    let status = std::process::Command::new(&inputs.interpreter.1)
        .args(["-m", "pip", "install", "--quiet", "--target"])
        .arg(target)
        .arg("-r")
        .arg(&file)
        .status()
        .map_err(io)?;
    match status.success() {
        true => Ok(()),
        false => Err("pip install failed".into()),
    }
}

/// `npm install`/`npm ci`: nothing to do for a package.json without dependencies.
fn check_npm(layout: &Layout) -> Result<(), String> {
    let manifest = layout.path(&resolve(&layout.workdir, "package.json"));
    let text = std::fs::read_to_string(manifest).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    match json["dependencies"].as_object().map_or(0, |d| d.len()) {
        0 => Ok(()),
        _ => Err("the app has npm dependencies; installing them is not reproduced here".into()),
    }
}

fn apply_run(i: &Instruction, vars: &Vars, layout: &Layout, inputs: &Inputs) -> Result<(), String> {
    let words = expand_words(&i.rest, vars).unwrap_or_default();
    let has = |w: &str| words.iter().any(|x| x == w);
    let result = if has("pip") && has("install") && inputs.interpreter.0 == "python3" {
        emulate_pip(&words, layout, inputs)
    } else if has("npm") && inputs.interpreter.0 == "node" {
        check_npm(layout)
    } else {
        Ok(())
    };
    result.map_err(|e| format!("line {}: {e}", i.line))
}

fn apply_arg(i: &Instruction, vars: &Vars, globals: &Vars, args: &mut Vars) -> Result<(), String> {
    for word in split_words(&i.rest) {
        let (name, default) = word.split_once('=').unwrap_or((&word, ""));
        let value = match globals.get(name) {
            Some(v) if default.is_empty() => v.clone(),
            _ => expand_word(default, vars)?,
        };
        args.insert(name.to_owned(), value);
    }
    Ok(())
}

/// A fresh root holding the base image's stand-in interpreter.
fn base_layout(inputs: &Inputs) -> Result<Layout, String> {
    let root = tempfile::tempdir().map_err(io)?;
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    let layout = Layout {
        root,
        env: vec![
            ("PATH".into(), BASE_PATH.into()),
            ("LANG".into(), "C.UTF-8".into()),
        ],
        workdir: "/".into(),
        user: None,
        entrypoint: Vec::new(),
        cmd: Vec::new(),
    };
    let bin = layout.path("/usr/local/bin");
    std::fs::create_dir_all(&bin).map_err(io)?;
    let (name, program) = &inputs.interpreter;
    std::os::unix::fs::symlink(program, bin.join(name)).map_err(io)?;
    Ok(layout)
}

/// Rebuild the final stage of the Dockerfile `text` under a temporary root.
pub fn build(text: &str, inputs: &Inputs) -> Result<Layout, String> {
    let df = parse(text).map_err(|p| p.to_string())?;
    let globals = df.global_vars(&Vars::new()).map_err(|p| p.to_string())?;
    let mut layout = base_layout(inputs)?;
    let mut args = Vars::new();
    for i in &df.final_stage().instructions {
        let mut vars = args.clone();
        vars.extend(layout.env.iter().cloned());
        let at = |e: String| format!("line {}: {e}", i.line);
        match i.keyword.as_str() {
            "ARG" => apply_arg(i, &vars, &globals, &mut args).map_err(at)?,
            "ENV" => layout
                .env
                .extend(parse_env(i, &vars).map_err(|p| p.to_string())?),
            "WORKDIR" => {
                let dir = expand_word(i.rest.trim(), &vars).map_err(at)?;
                layout.workdir = resolve(&layout.workdir, &dir);
                std::fs::create_dir_all(layout.path(&layout.workdir)).map_err(|e| at(io(e)))?;
            }
            "COPY" => apply_copy(&df, i, &vars, &layout, inputs)?,
            "RUN" => apply_run(i, &vars, &layout, inputs)?,
            "USER" => layout.user = Some(expand_word(i.rest.trim(), &vars).map_err(at)?),
            "ENTRYPOINT" | "CMD" => {
                let Form::Exec(argv) = i.form() else {
                    return Err(at(format!("{} is not in exec form", i.keyword)));
                };
                match i.keyword.as_str() {
                    "ENTRYPOINT" => layout.entrypoint = argv,
                    _ => layout.cmd = argv,
                }
            }
            "EXPOSE" | "LABEL" | "STOPSIGNAL" | "HEALTHCHECK" | "SHELL" | "VOLUME" => {}
            other => return Err(at(format!("{other} is not reproduced here"))),
        }
    }
    Ok(layout)
}

/// What Lambda's default user needs (it does not own the files): under each of `image_paths`,
/// every file readable and every directory searchable by "other", `executables` executable.
pub fn unreadable_by_others(
    layout: &Layout,
    image_paths: &[&str],
    executables: &[&str],
) -> Vec<String> {
    let executables: Vec<PathBuf> = executables.iter().map(|p| layout.path(p)).collect();
    let mut bad = Vec::new();
    let mut stack: Vec<PathBuf> = image_paths.iter().map(|p| layout.path(p)).collect();
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&p) else {
            bad.push(format!("{} is missing", p.display()));
            continue;
        };
        let mode = meta.permissions().mode();
        let needed = match meta.is_dir() || executables.contains(&p) {
            true => 0o005,
            false => 0o004,
        };
        if mode & needed != needed {
            bad.push(format!("{} has mode {:o}", p.display(), mode & 0o777));
        }
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&p) {
                stack.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
            }
        }
    }
    bad
}
