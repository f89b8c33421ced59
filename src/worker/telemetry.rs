//! Lambda's telemetry log descriptor (`_LAMBDA_TELEMETRY_LOG_FD`): when the platform gives
//! ferric one, every log record goes to it as one frame (so a multi-line record or traceback is
//! one CloudWatch event), in the format the runtime interface clients write:
//!
//! ```text
//! type: u32 BE | length: u32 BE | timestamp: i64 BE (Unix microseconds) | message
//! ```
//!
//! with `type = 0xA55A0000 | level << 2 | format` (format `0b11` text, `0b10` JSON).
//!
//! ferric owns the descriptor: a worker gets a pipe of its own in its place, and ferric
//! forwards each of the worker's frames whole, under the same lock as its own records, so two
//! writers never interleave parts of frames.

use std::io::Write;
use std::os::fd::RawFd;
use std::sync::{Mutex, OnceLock};

use super::process::adopt_descriptor;

/// The marker in the top half of every frame type.
const MAGIC: u32 = 0xA55A_0000;
/// Length of a frame's header.
pub const HEADER: usize = 16;
/// A frame longer than this is taken for corruption rather than read whole.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// The log format of the function (`AWS_LAMBDA_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// A record's level, as the frame type encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace = 1,
    Debug = 2,
    Info = 3,
    Warn = 4,
    Error = 5,
    Fatal = 6,
}

impl From<&tracing::Level> for Level {
    fn from(level: &tracing::Level) -> Level {
        match *level {
            tracing::Level::TRACE => Level::Trace,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::INFO => Level::Info,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::ERROR => Level::Error,
        }
    }
}

/// The frame type for a record of `level` in `format`.
pub fn frame_type(format: Format, level: Level) -> u32 {
    let format_bits = match format {
        Format::Text => 0b11,
        Format::Json => 0b10,
    };
    MAGIC | ((level as u32) << 2) | format_bits
}

/// One frame: header, then the message.
pub fn encode(kind: u32, timestamp_us: i64, message: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(HEADER + message.len());
    frame.extend_from_slice(&kind.to_be_bytes());
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&timestamp_us.to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

/// What the start of a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Less than a header.
    Partial,
    /// A frame of this many bytes (header included), which may not all be there yet.
    Frame(usize),
    /// Bytes that cannot be a frame: the stream is out of sync.
    Invalid,
}

/// What the start of `buf` holds.
pub fn frame_len(buf: &[u8]) -> Start {
    if buf.len() < HEADER {
        return Start::Partial;
    }
    let kind = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    if kind & 0xFFFF_0000 != MAGIC || len > MAX_FRAME {
        return Start::Invalid;
    }
    Start::Frame(HEADER + len)
}

/// Now, in Unix microseconds.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The telemetry descriptor, shared by ferric's logger and the workers' frame pumps.
pub struct Telemetry {
    out: Mutex<std::fs::File>,
    pub format: Format,
    /// The descriptor number the platform named, for the log.
    pub fd: RawFd,
}

static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();

impl Telemetry {
    /// Take over descriptor `fd` (close-on-exec from now on, so workers never inherit it).
    /// Fails when `fd` is not open.
    pub fn adopt(fd: RawFd, format: Format) -> std::io::Result<&'static Telemetry> {
        let file = std::fs::File::from(adopt_descriptor(fd)?);
        let telemetry = Telemetry {
            out: Mutex::new(file),
            format,
            fd,
        };
        Ok(TELEMETRY.get_or_init(|| telemetry))
    }

    /// The descriptor, once adopted.
    pub fn get() -> Option<&'static Telemetry> {
        TELEMETRY.get()
    }

    /// Write one whole frame (or several, back to back) with one write, under the lock.
    pub fn write(&self, frames: &[u8]) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // Logging must never take ferric down: a broken descriptor loses the record.
        let _ = out.write_all(frames);
    }

    /// One of ferric's own records: `message` as formatted by the logger (no time, no level),
    /// rendered in the function's log format and marked as ferric's.
    pub fn record(&self, level: Level, message: &[u8]) {
        let now = now_us();
        let text = String::from_utf8_lossy(message);
        let rendered = render(self.format, level, now, text.trim_end());
        self.write(&encode(
            frame_type(self.format, level),
            now,
            rendered.as_bytes(),
        ));
    }
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }
}

/// One of ferric's records as a line of the function's log format: text
/// `2026-12-02T09:16:13.623Z INFO ferric: message`, or JSON
/// `{"timestamp":...,"level":"INFO","logger":"ferric","message":...}`, newline-terminated.
pub fn render(format: Format, level: Level, timestamp_us: i64, message: &str) -> String {
    let ts = rfc3339_ms(timestamp_us);
    match format {
        Format::Text => format!("{ts} {} ferric: {message}\n", level.name()),
        Format::Json => {
            let record = serde_json::json!({
                "timestamp": ts,
                "level": level.name(),
                "logger": "ferric",
                "message": message,
            });
            format!("{record}\n")
        }
    }
}

/// Unix microseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub fn rfc3339_ms(timestamp_us: i64) -> String {
    let ms = timestamp_us.div_euclid(1000);
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60
    )
}

/// A `tracing` writer that turns each formatted event into one telemetry frame.
pub struct EventWriter {
    level: Level,
    buf: Vec<u8>,
}

impl Write for EventWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if let (Some(t), false) = (Telemetry::get(), self.buf.is_empty()) {
            t.record(self.level, &self.buf);
        }
    }
}

/// `tracing_subscriber`'s writer factory for the telemetry descriptor.
pub struct MakeEventWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MakeEventWriter {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter {
            level: Level::Info,
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> EventWriter {
        EventWriter {
            level: meta.level().into(),
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_types_match_the_runtime_interface_clients() {
        assert_eq!(frame_type(Format::Text, Level::Info), 0xA55A_000F);
        assert_eq!(frame_type(Format::Json, Level::Info), 0xA55A_000E);
        assert_eq!(frame_type(Format::Text, Level::Error), 0xA55A_0017);
        assert_eq!(frame_type(Format::Json, Level::Fatal), 0xA55A_001A);
        assert_eq!(frame_type(Format::Text, Level::Trace), 0xA55A_0007);
    }

    #[test]
    fn ferric_s_records_are_marked_in_both_formats() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_ms(1_796_202_973_623_292),
            "2026-12-02T09:16:13.623Z"
        );
        assert_eq!(rfc3339_ms(951_782_400_000_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            render(Format::Text, Level::Warn, 0, "worker ready pid=3"),
            "1970-01-01T00:00:00.000Z WARN ferric: worker ready pid=3\n"
        );
        let json = render(Format::Json, Level::Info, 0, "a \"quote\"");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["logger"], "ferric");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["message"], "a \"quote\"");
    }

    #[test]
    fn frames_encode_and_measure() {
        let f = encode(0xA55A_000F, 1_700_000_000_000_000, b"hello\n");
        assert_eq!(&f[..4], &[0xA5, 0x5A, 0x00, 0x0F]);
        assert_eq!(&f[4..8], &6u32.to_be_bytes());
        assert_eq!(&f[8..16], &1_700_000_000_000_000i64.to_be_bytes());
        assert_eq!(&f[16..], b"hello\n");
        assert_eq!(frame_len(&f), Start::Frame(22));
        assert_eq!(frame_len(&f[..10]), Start::Partial);
        assert_eq!(
            frame_len(b"0123456789abcdefgh"),
            Start::Invalid,
            "no marker"
        );
        let mut huge = encode(0xA55A_000F, 0, b"");
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(frame_len(&huge), Start::Invalid, "absurd length");
    }
}
