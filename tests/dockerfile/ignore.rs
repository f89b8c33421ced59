//! `.dockerignore`: which context paths a build never sees.

use std::path::Path;

/// last matching pattern winning, `!` re-including, as BuildKit's pattern matcher does.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<(bool, Vec<String>)>,
}

impl DockerIgnore {
    pub fn parse(text: &str) -> DockerIgnore {
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (negate, pattern) = match l.strip_prefix('!') {
                    Some(p) => (true, p.trim()),
                    None => (false, l),
                };
                let parts = clean(pattern).into_iter().collect();
                (negate, parts)
            })
            .filter(|(_, parts): &(bool, Vec<String>)| !parts.is_empty())
            .collect();
        DockerIgnore { patterns }
    }

    /// Whether `path` (relative to the context root) is left out of the build context.
    pub fn excludes(&self, path: &Path) -> bool {
        let parts: Vec<String> = clean(&path.to_string_lossy());
        let mut excluded = false;
        for (negate, pattern) in &self.patterns {
            let hit = (1..=parts.len()).any(|n| glob_parts(pattern, &parts[..n]));
            if hit {
                excluded = !negate;
            }
        }
        excluded
    }
}

/// Path components with `.`/empty parts dropped and leading `/` ignored.
fn clean(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(str::to_owned)
        .collect()
}

/// Match path components against pattern components; `**` matches any number of components.
fn glob_parts(pattern: &[String], path: &[String]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| glob_parts(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, path_rest)) => {
                glob_one(first.as_bytes(), p.as_bytes()) && glob_parts(rest, path_rest)
            }
            None => false,
        },
    }
}

/// `*`, `?` and literal characters within one path component.
fn glob_one(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.split_first(), name.split_first()) {
        (None, None) => true,
        (Some((b'*', p)), _) => (0..=name.len()).any(|skip| glob_one(p, &name[skip..])),
        (Some((b'?', p)), Some((_, n))) => glob_one(p, n),
        (Some((b'\\', p)), _) if !p.is_empty() => match name.split_first() {
            Some((c, n)) if *c == p[0] => glob_one(&p[1..], n),
            _ => false,
        },
        (Some((a, p)), Some((b, n))) if a == b => glob_one(p, n),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_semantics() {
        let ig = DockerIgnore::parse("*\n!src/\n!examples\n**/__pycache__\nexamples/**/*.pyc\n");
        assert!(ig.excludes(Path::new("target/release/ferric")));
        assert!(!ig.excludes(Path::new("src/main.rs")));
        assert!(!ig.excludes(Path::new("examples/python/app/handler.py")));
        assert!(ig.excludes(Path::new(
            "examples/python/app/__pycache__/handler.cpython-312.pyc"
        )));
        assert!(ig.excludes(Path::new("examples/python/app/x.pyc")));
        assert!(!DockerIgnore::parse("").excludes(Path::new("anything")));
    }
}
