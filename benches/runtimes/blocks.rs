//! The parts of BENCHMARKS.md that other benches write (the soak and streaming blocks), which
//! this harness carries over when it rewrites the file.

/// The blocks other benchmarks write into BENCHMARKS.md and this harness keeps.
pub const KEPT_BLOCKS: [&str; 2] = ["soak", "streaming"];

/// The `<!-- NAME:begin -->…<!-- NAME:end -->` block of a previous report, if it has one.
pub fn block<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(&format!("<!-- {name}:begin"))?;
    let end_tag = format!("<!-- {name}:end -->");
    let end = start + text[start..].find(&end_tag)? + end_tag.len();
    Some(&text[start..end])
}

/// The kept blocks ([`KEPT_BLOCKS`]) of a previous report, in that order.
pub fn kept_blocks(text: &str) -> Vec<&str> {
    KEPT_BLOCKS.iter().filter_map(|n| block(text, n)).collect()
}
