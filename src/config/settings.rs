//! Reading one environment variable at a time, each checked, each mistake a [`ConfigError`].

use std::path::PathBuf;
use std::time::Duration;

use super::limits::{MAX_MILLIS, MAX_SECONDS};
use super::ConfigError;

pub(super) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Reads and checks one variable at a time.
pub(super) struct Settings<'a> {
    pub(super) get: Lookup<'a>,
}

impl Settings<'_> {
    /// The variable's trimmed value, when set and not blank.
    pub(super) fn raw(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn check<T>(
        &self,
        name: &'static str,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(value) = self.raw(name) else {
            return Ok(None);
        };
        parse(&value).map(Some).ok_or(ConfigError::BadValue {
            name,
            value,
            expected,
        })
    }

    pub(super) fn seconds(
        &self,
        name: &'static str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let parse = |v: &str| {
            let s = v.parse::<f64>().ok()?;
            (s.is_finite() && s > 0.0 && s <= MAX_SECONDS).then(|| Duration::from_secs_f64(s))
        };
        let expected = "a number of seconds above 0 and at most 86400, e.g. 3 or 0.5";
        Ok(self.check(name, expected, parse)?.unwrap_or(default))
    }

    pub(super) fn millis(
        &self,
        name: &'static str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let parse = |v: &str| {
            let ms = v.parse::<u64>().ok()?;
            (ms <= MAX_MILLIS).then(|| Duration::from_millis(ms))
        };
        let expected = "a whole number of milliseconds up to 600000, e.g. 300";
        Ok(self.check(name, expected, parse)?.unwrap_or(default))
    }

    pub(super) fn whole(
        &self,
        name: &'static str,
        expected: &'static str,
    ) -> Result<u64, ConfigError> {
        Ok(self.check(name, expected, |v| v.parse().ok())?.unwrap_or(0))
    }

    pub(super) fn switch(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        let parse = |v: &str| match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "on" | "yes" => Some(true),
            "0" | "false" | "off" | "no" => Some(false),
            _ => None,
        };
        Ok(self
            .check(name, "1/0, true/false, on/off or yes/no", parse)?
            .unwrap_or(default))
    }

    pub(super) fn path(&self, name: &str, default: &str) -> PathBuf {
        self.raw(name).unwrap_or_else(|| default.to_owned()).into()
    }
}
