//! Timeouts, sizes, lanes and recycling, with their defaults and bounds.

use std::time::Duration;

use super::settings::Settings;
use super::{env, ConfigError};

pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(130);
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
pub const DEFAULT_FUNCTION_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_TIMEOUT_MARGIN: Duration = Duration::from_millis(50);
/// Fits Lambda's shutdown budget (300-500 ms for the runtime after SIGTERM).
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_millis(300);
/// The most lanes `AWS_LAMBDA_MAX_CONCURRENCY` may ask for.
pub const MAX_LANES: usize = 64;
pub(super) const MAX_SECONDS: f64 = 86_400.0;
pub(super) const MAX_MILLIS: u64 = 600_000;
const MIN_FRAME_BYTES: usize = 1024;
const MAX_FRAME_BYTES: usize = 1 << 30;

/// Timeouts, sizes, lanes and recycling.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `FERRIC_INIT_TIMEOUT`: how long a worker may take to say ready.
    pub init_timeout: Duration,
    /// `AWS_LAMBDA_FUNCTION_TIMEOUT` (local modes).
    pub function_timeout: Duration,
    pub timeout_margin: Duration,
    pub kill_grace: Duration,
    pub max_frame_bytes: usize,
    /// `AWS_LAMBDA_MAX_CONCURRENCY`: lanes.
    pub concurrency: usize,
    /// Register a no-op internal extension so Lambda sends SIGTERM before shutdown.
    pub register_extension: bool,
    /// Replace a worker after this many invocations (0 = never).
    pub max_invocations: u64,
    /// Replace a worker whose resident memory exceeds this many MiB after an invocation (0 = never).
    pub max_rss_mb: u64,
}

impl Limits {
    pub(super) fn read(s: &Settings) -> Result<Limits, ConfigError> {
        Ok(Limits {
            init_timeout: s.seconds(env::INIT_TIMEOUT, DEFAULT_INIT_TIMEOUT)?,
            function_timeout: s.seconds(env::FUNCTION_TIMEOUT, DEFAULT_FUNCTION_TIMEOUT)?,
            timeout_margin: s.millis(env::TIMEOUT_MARGIN_MS, DEFAULT_TIMEOUT_MARGIN)?,
            kill_grace: s.millis(env::KILL_GRACE_MS, DEFAULT_KILL_GRACE)?,
            max_frame_bytes: s
                .check(
                    env::MAX_FRAME_BYTES,
                    "a number of bytes from 1024 to 1073741824, e.g. 16777216",
                    |v| {
                        v.parse::<usize>()
                            .ok()
                            .filter(|n| (MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(n))
                    },
                )?
                .unwrap_or(DEFAULT_MAX_FRAME_BYTES),
            concurrency: s
                .check(
                    env::MAX_CONCURRENCY,
                    "a whole number from 1 to 64, e.g. 4",
                    |v| {
                        v.parse::<usize>()
                            .ok()
                            .filter(|n| (1..=MAX_LANES).contains(n))
                    },
                )?
                .unwrap_or(1),
            register_extension: s.switch(env::REGISTER_EXTENSION, true)?,
            max_invocations: s.whole(env::MAX_INVOCATIONS, "a whole number, e.g. 1000")?,
            max_rss_mb: s.whole(env::MAX_RSS_MB, "a whole number of MiB, e.g. 512")?,
        })
    }
}
