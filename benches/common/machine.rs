//! What the benches report about the machine and the software: a file's text, the first line a
//! command prints, the CPU model.

// Each bench includes this file and uses what it needs of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// A file's text, trimmed; "" when it cannot be read.
pub fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The first line a command prints (stdout, else stderr), run in `cwd`; "" when it cannot run.
pub fn first_line(program: &str, args: &[&str], cwd: &Path) -> String {
    Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

/// The CPU's model name from /proc/cpuinfo ("" when unknown).
pub fn cpu_model() -> String {
    read_trimmed("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default()
}
