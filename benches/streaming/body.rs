//! The streamed body: what the handlers (benches/streaming/handlers/) write and how a received
//! body is checked against it, byte for byte.
//!
//! Chunk `i` is the 16-byte ASCII header `NNNNNNNN:IIIIII\n` (the invocation's nonce in hex,
//! `i` in decimal) followed by filler byte `j = (j * 7 + 3) % 251`, cut to the chunk size; the
//! last chunk is cut to what is left. A lost, repeated, reordered or corrupted chunk, or a body
//! from another invocation, fails the check.

/// The header's length.
pub const HEADER: usize = 16;

/// What one invocation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub bytes: usize,
    pub chunk: usize,
    pub nonce: u32,
}

impl Spec {
    /// The event the handlers read.
    pub fn event(&self) -> String {
        format!(
            "{{\"bytes\":{},\"chunk\":{},\"nonce\":{}}}",
            self.bytes, self.chunk, self.nonce
        )
    }

    fn header(&self, i: usize) -> String {
        format!("{:08x}:{:06}\n", self.nonce, i)
    }

    /// Check `body`; the error says where the first difference is.
    pub fn check(&self, body: &[u8]) -> Result<(), String> {
        if body.len() != self.bytes {
            return Err(format!(
                "body is {} bytes, expected {}",
                body.len(),
                self.bytes
            ));
        }
        let filler: Vec<u8> = (0..self.chunk.saturating_sub(HEADER))
            .map(|j| ((j * 7 + 3) % 251) as u8)
            .collect();
        for (i, piece) in body.chunks(self.chunk).enumerate() {
            let header = self.header(i);
            let head_len = piece.len().min(HEADER);
            if piece[..head_len] != header.as_bytes()[..head_len] {
                let got = String::from_utf8_lossy(&piece[..head_len]);
                return Err(format!(
                    "chunk {i} (offset {}) starts {got:?}, expected {:?}",
                    i * self.chunk,
                    &header[..head_len]
                ));
            }
            let rest = &piece[head_len..];
            if let Some(j) = rest.iter().zip(&filler).position(|(a, b)| a != b) {
                return Err(format!(
                    "byte {} (chunk {i}) is {}, expected {}",
                    i * self.chunk + HEADER + j,
                    rest[j],
                    filler[j]
                ));
            }
        }
        Ok(())
    }
}

/// One spec's body, built the way the handlers build it.
fn build(spec: &Spec) -> Vec<u8> {
    let mut out = Vec::with_capacity(spec.bytes);
    let mut i = 0;
    while out.len() < spec.bytes {
        let mut piece = spec.header(i).into_bytes();
        piece.extend((0..spec.chunk - HEADER).map(|j| ((j * 7 + 3) % 251) as u8));
        piece.truncate(spec.chunk.min(spec.bytes - out.len()));
        out.extend_from_slice(&piece);
        i += 1;
    }
    out
}

/// The check itself is checked before every run (a harness=false bench has no unit tests): a
/// built body passes; a flipped byte, two swapped chunks, a short body and another nonce fail.
pub fn self_test() -> Result<(), String> {
    let spec = Spec {
        bytes: 3 * 1000 + 10,
        chunk: 1000,
        nonce: 0xabc,
    };
    let good = build(&spec);
    spec.check(&good)
        .map_err(|e| format!("body self-test: a good body fails: {e}"))?;
    let mut flipped = good.clone();
    flipped[2500] ^= 1;
    let mut swapped = good.clone();
    swapped[..1000].copy_from_slice(&good[1000..2000]);
    let other = Spec {
        nonce: 0xabd,
        ..spec
    };
    let bad = [
        spec.check(&flipped),
        spec.check(&swapped),
        spec.check(&good[..3000]),
        other.check(&good),
    ];
    match bad.iter().position(Result::is_ok) {
        Some(n) => Err(format!("body self-test: damaged body {n} passes")),
        None => Ok(()),
    }
}
