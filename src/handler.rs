//! Handler strings: which language a handler names, and suggestions when it cannot import.
//!
//! Python splits `dir/pkg.mod.func` at the last dot (`/` becomes `.`); Node splits the basename
//! at the first dot. Detection only looks at files; it never runs anything. The app layer calls
//! it (configuration stays pure).

use std::path::{Path, PathBuf};

/// Languages ferric has a shim for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    Python,
    Node,
    Ruby,
}

const NODE_EXTENSIONS: [&str; 3] = ["js", "mjs", "cjs"];

/// The Python module path of a handler (`a/b.c.f` → `a/b/c`), if it has a dot.
fn python_module_path(handler: &str) -> Option<PathBuf> {
    let (module, _) = handler.rsplit_once('.')?;
    (!module.is_empty()).then(|| PathBuf::from(module.replace('.', "/")))
}

/// The Node module path of a handler (`dir/index.a.b` → `dir/index`).
fn node_module_path(handler: &str) -> Option<PathBuf> {
    let (dir, base) = match handler.rsplit_once('/') {
        Some((d, b)) => (d, b),
        None => ("", handler),
    };
    let (module, _) = base.split_once('.')?;
    (!module.is_empty()).then(|| Path::new(dir).join(module))
}

/// The Ruby file of a handler (`lib/app.Module::Class.method` → `lib/app.rb`), as
/// aws_lambda_ric reads it: the text before the first dot.
fn ruby_file(handler: &str) -> Option<PathBuf> {
    let (file, _) = handler.split_once('.')?;
    (!file.is_empty()).then(|| PathBuf::from(format!("{file}.rb")))
}

/// Pick the language from what is in the task root. Python wins ties and is the default, so a
/// typo gets awslambdaric's own init error.
pub fn detect_language(task_root: &Path, handler: &str) -> Language {
    if let Some(m) = python_module_path(handler) {
        let base = task_root.join(&m);
        if base.with_extension("py").is_file() || base.is_dir() {
            return Language::Python;
        }
    }
    if let Some(m) = node_module_path(handler) {
        let base = task_root.join(m);
        if NODE_EXTENSIONS
            .iter()
            .any(|ext| base.with_extension(ext).is_file())
        {
            return Language::Node;
        }
    }
    if ruby_file(handler).is_some_and(|f| task_root.join(f).is_file()) {
        return Language::Ruby;
    }
    Language::Python
}

/// Handler strings that would import, for a Python handler whose module was not found.
///
/// Looks for `*.py` files (top level and one directory down) defining the function, e.g. the
/// workshop's `COPY app/ /var/task/` + `app.handler` gets `handler.handler`.
pub fn suggest_python(task_root: &Path, handler: &str) -> Vec<String> {
    let Some((_, function)) = handler.rsplit_once('.') else {
        return Vec::new();
    };
    let needle_def = format!("def {function}(");
    let needle_async = format!("async def {function}(");
    let mut found = Vec::new();
    let mut visit = |dir: &Path, prefix: &str| {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        for path in names {
            if path.extension().and_then(|e| e.to_str()) != Some("py") {
                continue;
            }
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let defines = std::fs::read_to_string(&path)
                .map(|src| {
                    src.lines().any(|l| {
                        let l = l.trim_start();
                        l.starts_with(&needle_def) || l.starts_with(&needle_async)
                    })
                })
                .unwrap_or(false);
            if defines && stem != "__init__" {
                found.push(format!("{prefix}{stem}.{function}"));
            }
        }
    };
    visit(task_root, "");
    if let Ok(entries) = std::fs::read_dir(task_root) {
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for dir in dirs.iter().take(50) {
            if let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
                if !name.starts_with('.') && !name.contains('-') {
                    visit(dir, &format!("{name}/"));
                }
            }
        }
    }
    found.retain(|s| s != handler);
    found.truncate(5);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths() {
        assert_eq!(python_module_path("a/b.c.f"), Some("a/b/c".into()));
        assert_eq!(python_module_path("nodot"), None);
        assert_eq!(python_module_path(".f"), None);
        assert_eq!(node_module_path("dir/index.a.b"), Some("dir/index".into()));
        assert_eq!(node_module_path("index.handler"), Some("index".into()));
        assert_eq!(node_module_path("nodot"), None);
    }

    #[test]
    fn detects_by_files_and_defaults_to_python() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("index.mjs"), "").unwrap();
        std::fs::write(d.path().join("app.py"), "").unwrap();
        std::fs::create_dir(d.path().join("pkg")).unwrap();
        assert_eq!(detect_language(d.path(), "index.handler"), Language::Node);
        assert_eq!(detect_language(d.path(), "app.handler"), Language::Python);
        assert_eq!(
            detect_language(d.path(), "pkg.mod.handler"),
            Language::Python
        );
        assert_eq!(
            detect_language(d.path(), "missing.handler"),
            Language::Python
        );
        assert_eq!(detect_language(d.path(), "garbage"), Language::Python);
        std::fs::write(d.path().join("lambda.rb"), "").unwrap();
        assert_eq!(detect_language(d.path(), "lambda.handler"), Language::Ruby);
        assert_eq!(
            detect_language(d.path(), "lambda.Module::Klass.process"),
            Language::Ruby
        );
    }

    #[test]
    fn suggests_the_workshop_fix() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("handler.py"),
            "import json\n\ndef handler(event, context):\n    return 1\n",
        )
        .unwrap();
        std::fs::write(d.path().join("other.py"), "def other(e, c): pass\n").unwrap();
        std::fs::create_dir(d.path().join("src")).unwrap();
        std::fs::write(
            d.path().join("src/main.py"),
            "async def handler(e, c): pass\n",
        )
        .unwrap();
        assert_eq!(
            suggest_python(d.path(), "app.handler"),
            vec![
                "handler.handler".to_string(),
                "src/main.handler".to_string()
            ]
        );
        assert!(suggest_python(d.path(), "nodot").is_empty());
    }
}
