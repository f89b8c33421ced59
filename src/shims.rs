//! The language shims, embedded in the binary so an image needs only one file, and the
//! command lines that start them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::{Config, WorkerKind};
use crate::worker::{FrameChannel, WorkerSpec};

/// The Python shim (standard library only), run with `python -c`.
pub const PYTHON_SHIM: &str = include_str!("shims/python/ferric_shim.py");
/// The Node.js shim, run with `node -e`.
pub const NODE_SHIM: &str = include_str!("shims/node/ferric_shim.js");

/// How to start a worker for `config`. `interpreter` overrides the configured one (respawns use
/// the real executable the first worker reported).
pub fn worker_spec(config: &Config, interpreter: Option<&Path>) -> WorkerSpec {
    let handler = OsString::from(&config.handler);
    let (program, args, channel): (PathBuf, Vec<OsString>, FrameChannel) = match &config.worker {
        WorkerKind::Python {
            interpreter: default,
        } => (
            interpreter.unwrap_or(default).to_path_buf(),
            vec!["-c".into(), PYTHON_SHIM.into(), handler],
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
    env.extend(config.worker_env.iter().map(|(k, v)| (k.into(), v.into())));
    if !config.handler.is_empty() {
        env.push(("_HANDLER".into(), handler_os(&config.handler)));
    }
    WorkerSpec {
        program,
        args,
        env,
        channel,
        max_frame_bytes: config.max_frame_bytes,
    }
}

fn handler_os(h: &str) -> OsString {
    OsString::from(h)
}
