//! The embedded language shims and the command lines that start workers.
//!
//! A shim is a boot program, passed on the interpreter's command line, and a bundle of modules,
//! handed to every worker on [`BUNDLE_FD`] from one sealed in-memory file per language (see
//! `src/shims/README.md`; `build.rs` makes the bundles). Raw workers (`ferric -- CMD`) get
//! neither: their command line is the user's.

use std::ffi::OsString;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::handler::Language;
use crate::worker::process::{sealed_file, FrameChannel, WorkerSpec};
use crate::worker::protocol::FEATURES;

include!(concat!(env!("OUT_DIR"), "/bundles.rs"));

/// The Python shim's `-c` program.
pub const PYTHON_BOOT: &str = include_str!("python/boot.py");
/// The Node shim's `-e` program.
pub const NODE_BOOT: &str = include_str!("node/boot.js");
/// The Ruby shim's `-e` program.
pub const RUBY_BOOT: &str = include_str!("ruby/boot.rb");
/// The descriptor a shim worker finds its bundle on.
pub const BUNDLE_FD: RawFd = 4;
/// The descriptor a worker finds its telemetry pipe on (named in `_LAMBDA_TELEMETRY_LOG_FD`).
pub const TELEMETRY_FD: RawFd = 5;

/// Variables ferric gives workers.
pub mod vars {
    pub const PROTOCOL_FD: &str = "FERRIC_PROTOCOL_FD";
    pub const PROTOCOL_FEATURES: &str = "FERRIC_PROTOCOL_FEATURES";
    pub const SHIM_FD: &str = "FERRIC_SHIM_FD";
    pub const SHIM_KEY: &str = "FERRIC_SHIM_KEY";
    pub const SHIM_CACHE: &str = "FERRIC_SHIM_CACHE";
    pub const SHIM_PREPARE: &str = "FERRIC_SHIM_PREPARE";
    pub const TASK_ROOT: &str = "LAMBDA_TASK_ROOT";
    pub const HANDLER: &str = "_HANDLER";
    pub const TELEMETRY_LOG_FD: &str = "_LAMBDA_TELEMETRY_LOG_FD";
    /// `--debug`: where the worker's debugger listens (HOST:PORT).
    pub const DEBUG_LISTEN: &str = "FERRIC_DEBUG_LISTEN";
}

/// The port a language's debugger usually listens on.
pub fn debug_port(language: Option<Language>) -> u16 {
    match language {
        Some(Language::Node) => 9229,
        // debugpy's (Python) and everything else.
        _ => 5678,
    }
}

/// What runs the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerKind {
    Shim(Language),
    Raw(Vec<String>),
}

/// Everything needed to start workers of one kind, again and again.
#[derive(Debug, Clone)]
pub struct Launcher {
    pub kind: WorkerKind,
    /// The shim's interpreter: the configured one until a worker reports its real executable.
    pub interpreter: PathBuf,
    pub handler: String,
    pub task_root: PathBuf,
    pub cache_dir: PathBuf,
    pub max_frame_bytes: usize,
    /// Extra environment (the emulator's RIE defaults).
    pub env: Vec<(String, String)>,
    /// `AWS_LAMBDA_EXEC_WRAPPER`: every worker starts as `WRAPPER <its command line>`.
    pub wrapper: Option<PathBuf>,
    /// ferric has a telemetry descriptor: each worker gets a telemetry pipe of its own.
    pub telemetry: bool,
    /// `--debug`: the worker starts under its debugger, listening here (`HOST:PORT`), and waits
    /// for it before loading the handler (Node: `--inspect-brk`; Python and raw workers:
    /// `FERRIC_DEBUG_LISTEN`, which the Python shim hands to debugpy).
    pub debug: Option<String>,
}

/// Why `AWS_LAMBDA_EXEC_WRAPPER` cannot run: what is wrong and the exit status Lambda's
/// runtimes give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrapperProblem {
    pub problem: &'static str,
    pub code: i32,
}

/// One sealed bundle file per language, made when the first worker of that language starts.
static BUNDLES: Mutex<[Option<Arc<OwnedFd>>; 3]> = Mutex::new([None, None, None]);

fn bundle_fd(language: Language) -> std::io::Result<Arc<OwnedFd>> {
    let (slot, name, bytes) = match language {
        Language::Python => (0, "ferric-python-shim", PYTHON_BUNDLE),
        Language::Node => (1, "ferric-node-shim", NODE_BUNDLE),
        Language::Ruby => (2, "ferric-ruby-shim", RUBY_BUNDLE),
    };
    let mut bundles = BUNDLES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(fd) = &bundles[slot] {
        return Ok(fd.clone());
    }
    let fd = Arc::new(sealed_file(name, bytes)?);
    bundles[slot] = Some(fd.clone());
    Ok(fd)
}

/// The bundle key of a language's shim.
pub fn key(language: Language) -> &'static str {
    match language {
        Language::Python => PYTHON_KEY,
        Language::Node => NODE_KEY,
        Language::Ruby => RUBY_KEY,
    }
}

impl Launcher {
    /// The language whose flavour ferric's own error bodies take (raw workers: none).
    pub fn language(&self) -> Option<Language> {
        match self.kind {
            WorkerKind::Shim(language) => Some(language),
            WorkerKind::Raw(_) => None,
        }
    }

    /// The variable a user sets to point ferric at the program, for messages.
    pub fn program_setting(&self) -> &'static str {
        match self.kind {
            WorkerKind::Shim(Language::Python) => "FERRIC_PYTHON",
            WorkerKind::Shim(Language::Node) => "FERRIC_NODE",
            WorkerKind::Shim(Language::Ruby) => "FERRIC_RUBY",
            WorkerKind::Raw(_) => "the command after --",
        }
    }

    /// Whether the exec wrapper, if any, can be run (a file with an execute bit).
    pub fn check_wrapper(&self) -> Result<(), WrapperProblem> {
        use std::os::unix::fs::PermissionsExt;
        let Some(wrapper) = &self.wrapper else {
            return Ok(());
        };
        match std::fs::metadata(wrapper) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(()),
            Ok(m) if m.is_file() => Err(WrapperProblem {
                problem: "is not executable",
                code: 126,
            }),
            _ => Err(WrapperProblem {
                problem: "does not exist",
                code: 127,
            }),
        }
    }

    /// How to start one worker.
    pub fn spec(&self) -> std::io::Result<WorkerSpec> {
        let handler = OsString::from(&self.handler);
        let mut env: Vec<(OsString, OsString)> = Vec::with_capacity(12);
        let mut inherit = Vec::new();
        let (program, args, channel) = match &self.kind {
            WorkerKind::Raw(argv) => (
                PathBuf::from(&argv[0]),
                argv[1..].iter().map(OsString::from).collect(),
                FrameChannel::Stdout,
            ),
            WorkerKind::Shim(language) => {
                inherit.push((BUNDLE_FD, bundle_fd(*language)?));
                env.extend(self.shim_env(*language));
                let (mut args, channel) = shim_command(*language, handler);
                if let (Language::Node, Some(address)) = (language, &self.debug) {
                    args.insert(0, format!("--inspect-brk={address}").into());
                }
                (self.interpreter.clone(), args, channel)
            }
        };
        env.extend(self.common_env(channel));
        let (program, args) = match &self.wrapper {
            None => (program, args),
            Some(wrapper) => {
                let mut wrapped = Vec::with_capacity(args.len() + 1);
                wrapped.push(program.into_os_string());
                wrapped.extend(args);
                (wrapper.clone(), wrapped)
            }
        };
        Ok(WorkerSpec {
            program,
            args,
            env,
            channel,
            inherit,
            telemetry_fd: self.telemetry.then_some(TELEMETRY_FD),
            max_frame_bytes: self.max_frame_bytes,
        })
    }

    /// What every worker gets: its frame channel, the protocol's features, the task root, the
    /// handler, the telemetry pipe's number, and the extra environment.
    fn common_env(&self, channel: FrameChannel) -> Vec<(OsString, OsString)> {
        let fd = match channel {
            FrameChannel::Stdout => "1",
            FrameChannel::Fd3 => "3",
        };
        let mut env: Vec<(OsString, OsString)> = vec![
            (vars::PROTOCOL_FD.into(), fd.into()),
            (vars::PROTOCOL_FEATURES.into(), FEATURES.into()),
            (vars::TASK_ROOT.into(), self.task_root.clone().into()),
        ];
        env.extend(self.env.iter().map(|(k, v)| (k.into(), v.into())));
        if !self.handler.is_empty() {
            env.push((vars::HANDLER.into(), self.handler.clone().into()));
        }
        if self.telemetry {
            let fd = TELEMETRY_FD.to_string();
            env.push((vars::TELEMETRY_LOG_FD.into(), fd.into()));
        }
        if let Some(address) = &self.debug {
            env.push((vars::DEBUG_LISTEN.into(), address.into()));
        }
        env
    }

    fn shim_env(&self, language: Language) -> Vec<(OsString, OsString)> {
        vec![
            (vars::SHIM_FD.into(), BUNDLE_FD.to_string().into()),
            (vars::SHIM_KEY.into(), key(language).into()),
            (vars::SHIM_CACHE.into(), self.cache_dir.clone().into()),
            // Only `ferric prepare` may ask the shim to cache itself and exit.
            (vars::SHIM_PREPARE.into(), "".into()),
        ]
    }
}

/// A shim's arguments after the interpreter, and where its frames come back.
fn shim_command(language: Language, handler: OsString) -> (Vec<OsString>, FrameChannel) {
    match language {
        Language::Python => (
            vec!["-c".into(), PYTHON_BOOT.into(), handler],
            FrameChannel::Stdout,
        ),
        Language::Node => (
            vec![
                "--input-type=commonjs".into(),
                "-e".into(),
                NODE_BOOT.into(),
                "--".into(),
                handler,
            ],
            FrameChannel::Fd3,
        ),
        Language::Ruby => (
            vec!["-e".into(), RUBY_BOOT.into(), handler],
            FrameChannel::Fd3,
        ),
    }
}

/// The command that fills the Python shim's cache, loading no handler: for image builds
/// (`ferric prepare`), so that cold starts load the shim instead of compiling it. It runs the
/// interpreter workers would run on the directory they would use. The child prints where it
/// wrote the cache on stdout and exits 0, or says why it could not on stderr and exits 1.
pub fn prepare_python(python: &Path, cache_dir: &Path) -> std::io::Result<tokio::process::Command> {
    let launcher = Launcher {
        kind: WorkerKind::Shim(Language::Python),
        interpreter: python.to_owned(),
        handler: String::new(),
        task_root: std::env::temp_dir(),
        cache_dir: cache_dir.to_owned(),
        max_frame_bytes: 1024,
        env: Vec::new(),
        wrapper: None,
        telemetry: false,
        debug: None,
    };
    let mut spec = launcher.spec()?;
    spec.args.truncate(2); // `-c BOOT`: no handler
    spec.env.retain(|(k, _)| k != vars::SHIM_PREPARE);
    spec.env.push((vars::SHIM_PREPARE.into(), "1".into()));
    let mut cmd = crate::worker::process::command(&spec, &[]);
    cmd.stdin(std::process::Stdio::null());
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launcher(kind: WorkerKind) -> Launcher {
        Launcher {
            kind,
            interpreter: "/usr/bin/python3".into(),
            handler: "app.handler".into(),
            task_root: "/var/task".into(),
            cache_dir: "/opt/cache".into(),
            max_frame_bytes: 1 << 20,
            env: vec![("AWS_REGION".into(), "us-east-1".into())],
            wrapper: None,
            telemetry: false,
            debug: None,
        }
    }

    fn env<'a>(spec: &'a WorkerSpec, name: &str) -> Option<&'a str> {
        spec.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.to_str())
    }

    #[test]
    fn command_lines_are_short_and_read_like_what_they_are() {
        for language in [Language::Python, Language::Node, Language::Ruby] {
            let spec = launcher(WorkerKind::Shim(language)).spec().unwrap();
            let cmdline: usize = spec.args.iter().map(|a| a.len() + 1).sum();
            assert!(cmdline < 4096, "{language:?}: {cmdline} bytes");
            assert_eq!(spec.args.last().unwrap(), "app.handler");
            assert_eq!(env(&spec, vars::SHIM_FD), Some("4"));
            assert_eq!(env(&spec, vars::SHIM_KEY), Some(key(language)));
            assert_eq!(env(&spec, vars::SHIM_CACHE), Some("/opt/cache"));
            assert_eq!(env(&spec, vars::SHIM_PREPARE), Some(""));
            assert_eq!(env(&spec, vars::HANDLER), Some("app.handler"));
            assert_eq!(env(&spec, "AWS_REGION"), Some("us-east-1"));
            assert_eq!(spec.inherit[0].0, BUNDLE_FD);
        }
        let python = launcher(WorkerKind::Shim(Language::Python)).spec().unwrap();
        assert_eq!(python.args[0], "-c");
        assert_eq!(python.channel, FrameChannel::Stdout);
        assert_eq!(env(&python, vars::PROTOCOL_FD), Some("1"));
        let node = launcher(WorkerKind::Shim(Language::Node)).spec().unwrap();
        assert_eq!(node.channel, FrameChannel::Fd3);
        assert_eq!(env(&node, vars::PROTOCOL_FD), Some("3"));
    }

    #[test]
    fn raw_workers_get_their_own_command_line_and_no_bundle() {
        let spec = launcher(WorkerKind::Raw(vec!["./w".into(), "-x".into()]))
            .spec()
            .unwrap();
        assert_eq!(spec.program, PathBuf::from("./w"));
        assert_eq!(spec.args, vec![OsString::from("-x")]);
        assert!(spec.inherit.is_empty());
        assert_eq!(env(&spec, vars::SHIM_FD), None);
        assert_eq!(env(&spec, vars::PROTOCOL_FEATURES), Some("streaming"));
        assert_eq!(env(&spec, vars::PROTOCOL_FD), Some("1"));
    }

    #[test]
    fn an_exec_wrapper_runs_the_worker_s_whole_command_line() {
        let mut l = launcher(WorkerKind::Shim(Language::Python));
        let plain = l.spec().unwrap();
        l.wrapper = Some("/opt/otel-instrument".into());
        let wrapped = l.spec().unwrap();
        assert_eq!(wrapped.program, PathBuf::from("/opt/otel-instrument"));
        assert_eq!(wrapped.args[0], "/usr/bin/python3");
        assert_eq!(&wrapped.args[1..], &plain.args[..]);
        assert_eq!(
            wrapped.inherit.len(),
            1,
            "the bundle still reaches the worker"
        );
        assert_eq!(
            l.check_wrapper(),
            Err(WrapperProblem {
                problem: "does not exist",
                code: 127
            })
        );
        let plain_file = tempfile::NamedTempFile::new().unwrap();
        l.wrapper = Some(plain_file.path().into());
        assert_eq!(l.check_wrapper().unwrap_err().code, 126);
        l.wrapper = Some("/bin/sh".into());
        assert_eq!(l.check_wrapper(), Ok(()));
    }

    #[test]
    fn debug_mode_starts_node_under_its_inspector_and_tells_others_where() {
        let mut node = launcher(WorkerKind::Shim(Language::Node));
        node.debug = Some("127.0.0.1:9229".into());
        let spec = node.spec().unwrap();
        assert_eq!(spec.args[0], "--inspect-brk=127.0.0.1:9229");
        let mut python = launcher(WorkerKind::Shim(Language::Python));
        python.debug = Some("127.0.0.1:5678".into());
        let spec = python.spec().unwrap();
        assert_eq!(spec.args[0], "-c");
        assert_eq!(env(&spec, vars::DEBUG_LISTEN), Some("127.0.0.1:5678"));
        assert_eq!(debug_port(Some(Language::Python)), 5678);
        assert_eq!(debug_port(Some(Language::Node)), 9229);
    }

    #[test]
    fn bundles_follow_the_documented_format() {
        for (bundle, key) in [
            (PYTHON_BUNDLE, PYTHON_KEY),
            (NODE_BUNDLE, NODE_KEY),
            (RUBY_BUNDLE, RUBY_KEY),
        ] {
            let text = String::from_utf8_lossy(&bundle[..bundle.len().min(4096)]);
            let (index, _) = text
                .split_once("\n\n")
                .expect("index ends with an empty line");
            let mut lines = index.lines();
            assert_eq!(lines.next(), Some("ferric-bundle 1"));
            let mut end = index.len() + 2;
            for line in lines {
                let mut parts = line.splitn(3, ' ');
                let offset: usize = parts.next().unwrap().parse().unwrap();
                let len: usize = parts.next().unwrap().parse().unwrap();
                assert_eq!(offset, end, "{line}");
                end = offset + len;
            }
            assert_eq!(end, bundle.len());
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for b in bundle {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
            assert_eq!(format!("{hash:016x}"), key);
        }
        assert!(PYTHON_BOOT.len() <= 3072 && NODE_BOOT.len() <= 3072 && RUBY_BOOT.len() <= 3072);
    }
}
