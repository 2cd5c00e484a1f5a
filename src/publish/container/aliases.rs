//! The aliases block of valkey-container's `generate-stackbrew-library.sh`: which `M.m` is
//! `latest`, `M`, and so on.

use super::{parse_mm, STACKBREW};
use crate::version::Version;

/// One `[M.m]='words'` line of the aliases block.
#[derive(Debug, Clone)]
struct Alias {
    line: usize,
    indent: String,
    key: String,
    words: String,
}

fn parse_aliases(text: &str) -> Option<(usize, usize, Vec<Alias>)> {
    let lines: Vec<&str> = text.split('\n').collect();
    let start = lines.iter().position(|l| l.trim_start().starts_with("declare -A aliases=("))?;
    let end = start + 1 + lines[start + 1..].iter().position(|l| l.trim() == ")")?;
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate().take(end).skip(start + 1) {
        let t = l.trim_start();
        let indent = l[..l.len() - t.len()].to_string();
        let Some(rest) = t.strip_prefix('[') else { continue };
        let Some((key, val)) = rest.split_once("]=") else { continue };
        let words = val.trim_end().trim_matches('\'').trim_matches('"').to_string();
        out.push(Alias {
            line: i,
            indent,
            key: key.to_string(),
            words,
        });
    }
    Some((start, end, out))
}

/// Apply the aliases rule (see SPEC.md and README.md, "container") to `generate-stackbrew-library.sh`.
///
/// `existing_ga`: the `M.m` key already exists with a GA version. `others`: the other `M.m` keys.
pub(super) fn edit_aliases(
    text: &str,
    version: &Version,
    mm: &str,
    existing_ga: bool,
    others: &[(u64, u64)],
    notes: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> String {
    if version.is_rc() {
        return text.to_string();
    }
    if existing_ga {
        return text.to_string();
    }
    let Some(n) = parse_mm(mm) else { return text.to_string() };
    let Some((start, end, aliases)) = parse_aliases(text) else {
        warnings.push(format!("{STACKBREW}: no `declare -A aliases=(` block found; aliases not changed"));
        return text.to_string();
    };
    let _ = start;
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    if aliases.iter().any(|a| a.key == mm) {
        return text.to_string();
    }
    let newest = others.iter().copied().filter(|o| *o != n).max();
    let indent = aliases.first().map(|a| a.indent.clone()).unwrap_or_else(|| "\t".to_string());
    match newest {
        Some(nw) if n.0 > nw.0 => {
            // New major: `latest` leaves the old entry, the new M.m gets `M latest`.
            for a in &aliases {
                let words: Vec<&str> = a.words.split_whitespace().collect();
                if words.contains(&"latest") {
                    let kept: Vec<&str> = words.into_iter().filter(|w| *w != "latest").collect();
                    lines[a.line] = format!("{}[{}]='{}'", a.indent, a.key, kept.join(" "));
                    notes.push(format!("{STACKBREW}: `latest` removed from [{}]", a.key));
                }
            }
            let at = aliases.last().map(|a| a.line + 1).unwrap_or(end);
            lines.insert(at, format!("{indent}[{mm}]='{} latest'", n.0));
            notes.push(format!("{STACKBREW}: added [{mm}]='{} latest' (new major)", n.0));
        }
        Some(nw) if n.0 == nw.0 && n > nw => {
            // New minor of the newest major: the alias words move from the previous newest minor.
            let prev = aliases
                .iter()
                .filter_map(|a| parse_mm(&a.key).map(|k| (k, a)))
                .filter(|(k, _)| k.0 == n.0 && *k < n)
                .max_by_key(|(k, _)| *k)
                .map(|(_, a)| a.clone());
            match prev {
                Some(a) => {
                    lines[a.line] = format!("{}[{mm}]='{}'", a.indent, a.words);
                    notes.push(format!("{STACKBREW}: aliases '{}' moved from [{}] to [{mm}]", a.words, a.key));
                }
                None => warnings.push(format!(
                    "{STACKBREW}: no alias entry for major {} to move to [{mm}]; aliases not changed",
                    n.0
                )),
            }
        }
        None => {
            let at = aliases.last().map(|a| a.line + 1).unwrap_or(end);
            lines.insert(at, format!("{indent}[{mm}]='{} latest'", n.0));
            notes.push(format!("{STACKBREW}: added [{mm}]='{} latest' (first entry)", n.0));
        }
        Some(_) => {
            notes.push(format!(
                "{STACKBREW}: {mm} is not the newest minor of the newest major; aliases not changed"
            ));
        }
    }
    lines.join("\n")
}
