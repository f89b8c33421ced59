//! Builds the shim bundles (src/shims/README.md): every file under `src/shims/<lang>/worker/`,
//! sorted by name, behind an index, and each bundle's FNV-1a key.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const MAX_INDEX: usize = 4096;

fn files(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "__pycache__" || name.ends_with(".pyc") {
            continue;
        }
        if path.is_dir() {
            files(&path, base, out);
        } else {
            let rel = path
                .strip_prefix(base)
                .expect("under base")
                .to_str()
                .expect("UTF-8 file name")
                .replace('\\', "/");
            assert!(
                !rel.contains([' ', '\n']),
                "bundle file names have no spaces: {rel}"
            );
            out.push((rel, path));
        }
    }
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The bundle of `dir`: index, then contents.
fn bundle(dir: &Path) -> Vec<u8> {
    let mut list = Vec::new();
    files(dir, dir, &mut list);
    list.sort();
    let contents: Vec<Vec<u8>> = list
        .iter()
        .map(|(_, p)| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect();
    // Offsets depend on the index's length, which depends on the offsets' digits: iterate.
    let mut index_len = 0;
    loop {
        let mut index = String::from("ferric-bundle 1\n");
        let mut offset = index_len;
        for ((name, _), data) in list.iter().zip(&contents) {
            writeln!(index, "{offset} {} {name}", data.len()).expect("write to String");
            offset += data.len();
        }
        index.push('\n');
        if index.len() == index_len {
            assert!(
                index.len() <= MAX_INDEX,
                "bundle index over {MAX_INDEX} bytes"
            );
            let mut out = index.into_bytes();
            for data in contents {
                out.extend_from_slice(&data);
            }
            return out;
        }
        index_len = index.len();
    }
}

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let mut consts = String::new();
    for lang in ["python", "node", "ruby"] {
        let dir = Path::new("src/shims").join(lang).join("worker");
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut list = Vec::new();
        files(&dir, &dir, &mut list);
        for (_, path) in &list {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        let bytes = bundle(&dir);
        let file = out.join(format!("{lang}.bundle"));
        std::fs::write(&file, &bytes).expect("write bundle");
        let upper = lang.to_uppercase();
        writeln!(
            consts,
            "/// The {lang} shim's bundle (src/shims/README.md).\n\
             pub const {upper}_BUNDLE: &[u8] = include_bytes!({file:?});\n\
             /// FNV-1a 64 of [`{upper}_BUNDLE`].\n\
             pub const {upper}_KEY: &str = \"{:016x}\";",
            fnv1a64(&bytes)
        )
        .expect("write to String");
    }
    std::fs::write(out.join("bundles.rs"), consts).expect("write bundles.rs");
}
