//! Words and variables as BuildKit's shell lexer sees them: splitting on unquoted whitespace,
//! quote removal, escapes, and `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`.

use std::collections::BTreeMap;

/// Split on unquoted, unescaped whitespace, keeping quotes and escapes for [`expand_word`].
pub fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                word.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                word.push(c);
            }
            (q, '\\') if q != Some('\'') => {
                word.push('\\');
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            (_, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Variables visible to an instruction.
pub type Vars = BTreeMap<String, String>;

/// Remove quotes and expand `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}` in one word.
pub fn expand_word(word: &str, vars: &Vars) -> Result<String, String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut in_double = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' if !in_double => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '\'')
                    .ok_or_else(|| format!("unterminated single quote in {word:?}"))?;
                out.extend(&chars[i + 1..i + 1 + end]);
                i += end + 2;
            }
            '"' => {
                in_double = !in_double;
                i += 1;
            }
            '\\' => {
                match chars.get(i + 1) {
                    // Inside double quotes only \ " $ are escapes; elsewhere any char.
                    Some(&n) if !in_double || matches!(n, '"' | '$' | '\\') => out.push(n),
                    Some(&n) => {
                        out.push('\\');
                        out.push(n);
                    }
                    None => out.push('\\'),
                }
                i += 2;
            }
            '$' => {
                let (value, used) = expand_variable(&chars[i + 1..], vars, word)?;
                out.push_str(&value);
                i += 1 + used;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    if in_double {
        return Err(format!("unterminated double quote in {word:?}"));
    }
    Ok(out)
}

/// Expand the variable reference after a `$`; returns the value and the characters consumed.
fn expand_variable(chars: &[char], vars: &Vars, word: &str) -> Result<(String, usize), String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if chars.first() == Some(&'{') {
        let end = chars
            .iter()
            .position(|&c| c == '}')
            .ok_or_else(|| format!("unterminated ${{ in {word:?}"))?;
        let inner: String = chars[1..end].iter().collect();
        let name_len = inner.chars().take_while(|&c| is_name(c)).count();
        let (name, modifier) = inner.split_at(name_len);
        if name.is_empty() {
            return Err(format!("bad substitution in {word:?}"));
        }
        let value = vars.get(name).filter(|v| !v.is_empty());
        let expanded = match modifier {
            "" => value.cloned().unwrap_or_default(),
            m if m.starts_with(":-") => match value {
                Some(v) => v.clone(),
                None => expand_word(&m[2..], vars)?,
            },
            m if m.starts_with(":+") => match value {
                Some(_) => expand_word(&m[2..], vars)?,
                None => String::new(),
            },
            m => {
                return Err(format!(
                    "unsupported substitution ${{{name}{m}}} in {word:?}"
                ))
            }
        };
        return Ok((expanded, end + 1));
    }
    let name_len = chars.iter().take_while(|&&c| is_name(c)).count();
    if name_len == 0 {
        return Ok(("$".into(), 0));
    }
    let name: String = chars[..name_len].iter().collect();
    Ok((vars.get(&name).cloned().unwrap_or_default(), name_len))
}

/// Expand every word of a shell-form argument list.
pub fn expand_words(s: &str, vars: &Vars) -> Result<Vec<String>, String> {
    split_words(s)
        .iter()
        .map(|w| expand_word(w, vars))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitutions() {
        let v = vars(&[("A", "x"), ("E", "")]);
        assert_eq!(
            expand_word("${A:-d}/${E:-d}/${B:+y}/${A:+y}/$A.", &v).unwrap(),
            "x/d//y/x."
        );
        assert_eq!(expand_word("'$A'\"$A\"\\$A", &v).unwrap(), "$Ax$A");
        assert!(expand_word("${A", &v).is_err());
    }
}
