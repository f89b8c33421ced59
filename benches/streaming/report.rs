//! The results: medians, ratios to the peer measured in the same runs, and the block of
//! BENCHMARKS.md between `<!-- streaming:begin` and `<!-- streaming:end -->` (replaced if it is
//! there, appended if not; the rest of the file is kept byte for byte).

use std::fmt::Write as _;
use std::path::Path;

use crate::session::Measured;

pub const BEGIN: &str = "<!-- streaming:begin";
pub const END: &str = "<!-- streaming:end -->";
const MIB: f64 = 1024.0 * 1024.0;

/// One client at one stream size: its invocations, run by run.
#[derive(Debug, Clone)]
pub struct Row {
    pub key: &'static str,
    pub label: &'static str,
    pub ferric: bool,
    pub bytes: usize,
    pub runs: Vec<Vec<Measured>>,
}

/// A named reading of one invocation.
type Metric = (&'static str, fn(&Measured) -> f64);

const TTFB: Metric = ("time to first byte", |m| m.ttfb.as_secs_f64() * 1e3);
const LAST: Metric = ("time to last byte", |m| m.last_byte.as_secs_f64() * 1e3);
const SPEED: Metric = ("throughput", Measured::mib_per_s);
const MAIN: Metric = ("process RSS peak", |m| m.peaks.main_kib as f64 / 1024.0);
const TREE: Metric = ("process tree RSS peak", |m| {
    m.peaks.tree_kib as f64 / 1024.0
});
const HWM: Metric = ("process VmHWM", |m| m.peaks.hwm_kib as f64 / 1024.0);

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

impl Row {
    fn all(&self, metric: Metric) -> Vec<f64> {
        self.runs.iter().flatten().map(metric.1).collect()
    }

    fn run_median(&self, run: usize, metric: Metric) -> Option<f64> {
        let v: Vec<f64> = self.runs.get(run)?.iter().map(metric.1).collect();
        (!v.is_empty()).then(|| median(v))
    }

    /// `median (min–max)` over every invocation.
    fn cell(&self, metric: Metric, digits: usize) -> String {
        let v = self.all(metric);
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{:.d$} ({:.d$}–{:.d$})", median(v), lo, hi, d = digits)
    }

    pub fn invocations(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }

    /// The largest sampled RSS of ferric's own process (or the client's), MiB.
    pub fn max_main_mib(&self) -> f64 {
        let hwm = self.all(HWM).into_iter().fold(0.0, f64::max);
        self.all(MAIN).into_iter().fold(hwm, f64::max)
    }
}

/// Per-run ratios `a / b` of run medians: `median (min–max)`.
fn ratio(a: &Row, b: &Row, metric: Metric) -> Option<String> {
    let r: Vec<f64> = (0..a.runs.len().min(b.runs.len()))
        .filter_map(|i| Some(a.run_median(i, metric)? / b.run_median(i, metric)?))
        .collect();
    if r.is_empty() {
        return None;
    }
    let lo = r.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(format!("{:.2} ({lo:.2}–{hi:.2})", median(r)))
}

fn size(bytes: usize) -> String {
    format!("{} MiB", bytes as f64 / MIB)
}

/// The results table.
pub fn table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| client | stream | invocations | time to first byte, ms | time to last byte, ms | MiB/s | process RSS peak, MiB | tree RSS peak, MiB | process VmHWM, MiB |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            size(r.bytes),
            r.invocations(),
            r.cell(TTFB, 1),
            r.cell(LAST, 1),
            r.cell(SPEED, 0),
            r.cell(MAIN, 1),
            r.cell(TREE, 1),
            r.cell(HWM, 1),
        );
    }
    t
}

/// ferric's rows against the peer row of the same size (ferric + Node against aws-lambda-ric).
pub fn ratios(rows: &[Row], ferric: &str, peer: &str) -> String {
    let mut t = String::new();
    for a in rows.iter().filter(|r| r.key == ferric) {
        let Some(b) = rows.iter().find(|r| r.key == peer && r.bytes == a.bytes) else {
            continue;
        };
        if t.is_empty() {
            let _ = writeln!(
                t,
                "| {} / {}, per-run ratios | stream | time to first byte | time to last byte | MiB/s | tree RSS peak |\n|---|---|---|---|---|---|",
                a.label, b.label
            );
        }
        let cells: Vec<String> = [TTFB, LAST, SPEED, TREE]
            .into_iter()
            .map(|m| ratio(a, b, m).unwrap_or_else(|| "–".into()))
            .collect();
        let _ = writeln!(
            t,
            "| {} runs | {} | {} |",
            a.runs.len().min(b.runs.len()),
            size(a.bytes),
            cells.join(" | ")
        );
    }
    t
}

/// Put `block` (which starts with [`BEGIN`] and ends with [`END`]) into `text`.
pub fn splice(text: &str, block: &str) -> String {
    if let Some(start) = text.find(BEGIN) {
        if let Some(end) = text[start..].find(END) {
            let end = start + end + END.len();
            return format!("{}{}{}", &text[..start], block, &text[end..]);
        }
    }
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(block);
    out.push('\n');
    out
}

/// Write `block` into the file at `path` (created if missing).
pub fn write_block(path: &Path, block: &str) -> std::io::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    std::fs::write(path, splice(&text, block))
}

/// A self-check of [`splice`]: the text around the block is kept byte for byte.
pub fn splice_self_test() -> Result<(), String> {
    let block = format!("{BEGIN} -->\nnew\n{END}");
    let around = format!("a\n\n{BEGIN} x -->\nold\n{END}\nb \n");
    let replaced = splice(&around, &block);
    let appended = splice("a\nb", &block);
    if replaced != format!("a\n\n{block}\nb \n") || appended != format!("a\nb\n\n{block}\n") {
        return Err(format!(
            "splice self-test failed: {replaced:?} / {appended:?}"
        ));
    }
    Ok(())
}
