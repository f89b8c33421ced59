//! The language shims, embedded in the binary so an image needs only one file, and the
//! command lines that start them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::{Config, WorkerKind};
use crate::worker::{FrameChannel, WorkerSpec};

/// The Python shim (standard library only), run by [`PYTHON_BOOT`].
pub const PYTHON_SHIM: &str = include_str!("shims/python/ferric_shim.py");
/// The Node.js shim, run with `node -e`.
pub const NODE_SHIM: &str = include_str!("shims/node/ferric_shim.js");

/// The Python worker's `-c` program. Its arguments are the shim's source, the cache directory
/// and [`PYTHON_SHIM_KEY`] in hex, then the handler (the shim removes the first three, so user
/// code sees `sys.argv == ["-c", HANDLER]`). It runs the shim's code object from the file
/// `CACHE_DIR/shim-KEY-TAG-MAGIC-HEXVERSION-O<optimize>` when that is valid and the directory is
/// trusted (owned by root or by this user, not writable by group or others). Otherwise it runs
/// the source (compiled by exec(): ~5 ms, against ~0.15 ms to load) and sets
/// `_ferric_cache_miss` to the file's name, for the shim to write the file with its own code
/// object (see src/shims/python/README.md, "Code cache").
///
/// Keep it small: it is compiled on every start. Both ways, the shim's code runs at this
/// program's module level through one exec(), a depth the shim counts on to match awslambdaric's.
pub const PYTHON_BOOT: &str = r#"def _ferric():
    import sys, os, marshal
    g = globals()
    code = type(g.pop("_ferric").__code__)
    s, d, k = sys.argv[1:4]
    n = None
    try:
        n = "shim-%s-%s-%s-%x-O%d" % (
            k, sys.implementation.cache_tag,
            sys.modules["_frozen_importlib_external"].MAGIC_NUMBER[:2].hex(),
            sys.hexversion, sys.flags.optimize)
        st = os.stat(d)
        if (st.st_uid in (0, os.getuid()) and not st.st_mode & 0o22
                and os.environ.get("FERRIC_SHIM_PREPARE") != "1"):
            with open(os.path.join(d, n), "rb") as f:
                b = f.read()
            h = len(n) + 1
            if b[:h] == (n + "\n").encode():
                c = marshal.loads(memoryview(b)[h:])
                if type(c) is code and c.co_filename == "<string>":
                    return c
    except Exception:
        pass
    g["_ferric_cache_miss"] = n
    return s
exec(_ferric())
"#;

/// Names the shim's compiled code in the cache: FNV-1a (64-bit) of its source.
pub const PYTHON_SHIM_KEY: u64 = fnv1a64(PYTHON_SHIM.as_bytes());

/// Where the Python shim's code is cached: this variable, else `ferric-VERSION` in `TMPDIR` or
/// `/tmp`. Point it at a directory of the image and fill that at build time ([`prepare_python`])
/// so that Lambda cold starts, which begin with an empty /tmp, find the cache too.
pub const CACHE_DIR_VAR: &str = crate::config::env::CACHE_DIR;

/// Set to 1 by [`prepare_python`] (and emptied for workers): cache the shim, then exit.
const PREPARE_VAR: &str = "FERRIC_SHIM_PREPARE";

const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The Python shim's cache directory, `get` being an environment lookup ([`CACHE_DIR_VAR`]).
pub fn python_cache_dir(get: &dyn Fn(&str) -> Option<OsString>) -> PathBuf {
    if let Some(dir) = get(CACHE_DIR_VAR).filter(|d| !d.is_empty()) {
        return dir.into();
    }
    get("TMPDIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
        .join(concat!("ferric-", env!("CARGO_PKG_VERSION")))
}

/// The Python interpreter's arguments before the handler: `-c` [`PYTHON_BOOT`] and its three.
pub fn python_args(cache_dir: &Path) -> Vec<OsString> {
    vec![
        "-c".into(),
        PYTHON_BOOT.into(),
        PYTHON_SHIM.into(),
        cache_dir.into(),
        format!("{PYTHON_SHIM_KEY:016x}").into(),
    ]
}

/// The command that fills the Python shim's cache, loading no handler: for image builds
/// (`ferric prepare`), so that cold starts load the shim instead of compiling it. It runs the
/// interpreter workers would run (`FERRIC_PYTHON`, else `python3`) on the directory they would
/// use ([`python_cache_dir`]), `get` being the environment lookup. The child prints where it
/// wrote the cache on stdout and exits 0, or says why it could not on stderr and exits 1.
pub fn prepare_python(get: &dyn Fn(&str) -> Option<OsString>) -> std::process::Command {
    let python = get(crate::config::env::PYTHON)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into());
    let mut cmd = std::process::Command::new(python);
    cmd.args(python_args(&python_cache_dir(get)))
        .env(PREPARE_VAR, "1")
        .stdin(std::process::Stdio::null());
    cmd
}

/// How to start a worker for `config`. `interpreter` overrides the configured one (respawns use
/// the real executable the first worker reported).
pub fn worker_spec(config: &Config, interpreter: Option<&Path>) -> WorkerSpec {
    let handler = OsString::from(&config.handler);
    let (program, args, channel): (PathBuf, Vec<OsString>, FrameChannel) = match &config.worker {
        WorkerKind::Python {
            interpreter: default,
        } => (
            interpreter.unwrap_or(default).to_path_buf(),
            {
                let mut args = python_args(&config.python_cache_dir);
                args.push(handler);
                args
            },
            FrameChannel::Stdout,
        ),
        WorkerKind::Node {
            interpreter: default,
        } => (
            interpreter.unwrap_or(default).to_path_buf(),
            vec![
                "--input-type=commonjs".into(),
                "-e".into(),
                NODE_SHIM.into(),
                "--".into(),
                handler,
            ],
            FrameChannel::Fd3,
        ),
        WorkerKind::Raw { argv } => (
            PathBuf::from(&argv[0]),
            argv[1..].iter().map(OsString::from).collect(),
            FrameChannel::Stdout,
        ),
    };
    let fd = match channel {
        FrameChannel::Stdout => "1",
        FrameChannel::Fd3 => "3",
    };
    let mut env: Vec<(OsString, OsString)> = vec![
        ("FERRIC_PROTOCOL_FD".into(), fd.into()),
        ("LAMBDA_TASK_ROOT".into(), config.task_root.clone().into()),
    ];
    if let WorkerKind::Python { .. } = config.worker {
        // Only prepare_python() may ask the shim to cache itself and exit.
        env.push((PREPARE_VAR.into(), "".into()));
    }
    env.extend(config.worker_env.iter().map(|(k, v)| (k.into(), v.into())));
    if !config.handler.is_empty() {
        env.push(("_HANDLER".into(), config.handler.clone().into()));
    }
    WorkerSpec {
        program,
        args,
        env,
        channel,
        max_frame_bytes: config.max_frame_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.into())
    }

    #[test]
    fn shim_key_is_fnv1a_64() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(PYTHON_SHIM_KEY, fnv1a64(PYTHON_SHIM.as_bytes()));
    }

    #[test]
    fn cache_dir_from_the_environment() {
        let versioned = concat!("ferric-", env!("CARGO_PKG_VERSION"));
        assert_eq!(
            python_cache_dir(&lookup(&[])),
            Path::new("/tmp").join(versioned)
        );
        assert_eq!(
            python_cache_dir(&lookup(&[("TMPDIR", "/scratch"), ("FERRIC_CACHE_DIR", "")])),
            Path::new("/scratch").join(versioned)
        );
        assert_eq!(
            python_cache_dir(&lookup(&[
                ("TMPDIR", "/scratch"),
                ("FERRIC_CACHE_DIR", "/opt/c")
            ])),
            Path::new("/opt/c")
        );
    }

    #[test]
    fn python_command_line() {
        let args = python_args(Path::new("/opt/c"));
        assert_eq!(args.len(), 5);
        assert_eq!(args[0], "-c");
        assert_eq!(args[1], PYTHON_BOOT);
        assert_eq!(args[2], PYTHON_SHIM);
        assert_eq!(args[3], "/opt/c");
        assert_eq!(args[4], OsString::from(format!("{PYTHON_SHIM_KEY:016x}")));
        // Linux's limit for one argument (MAX_ARG_STRLEN).
        assert!(PYTHON_SHIM.len() < 120 * 1024 && PYTHON_BOOT.len() < 4096);
    }
}
