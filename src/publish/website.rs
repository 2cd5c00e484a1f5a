//! valkey.io download page: `content/download/releases/v<V dashed>.md`, rendered from the
//! site's own `templates/valkey-website-template.md` (Python `str.format` fields `{version}`,
//! `{date}`, `{tags}`), with the artifacts list generated from what was built.
//!
//! `content/download/releases/_index.md` is the section file (`sort_by = "title"`); it lists no
//! pages, so adding a release needs no edit there.

use crate::error::{Error, Result};
use crate::version::Version;
use std::collections::BTreeMap;

pub const TEMPLATE: &str = "templates/valkey-website-template.md";
pub const RELEASES_DIR: &str = "content/download/releases";

/// `content/download/releases/v9-1-1.md` for 9.1.1.
pub fn page_path(version: &str) -> String {
    format!("{RELEASES_DIR}/v{}.md", version.replace('.', "-"))
}

/// Docker Hub tags the page lists. GA: `V`, `V-<suite>`, `V-alpine`, `V-alpine<alpine>`;
/// release candidate: the same forms of `M.m`, as today's pages show.
pub fn tags(version: &Version, debian_suite: &str, alpine_version: &str) -> Result<Vec<String>> {
    let base = if version.is_rc() {
        version.major_minor().ok_or_else(|| Error::input("unstable has no download page"))?
    } else if version.is_unstable() {
        return Err(Error::input("valkey.io: 'unstable' has no download page"));
    } else {
        version.to_string()
    };
    Ok(vec![
        base.clone(),
        format!("{base}-{debian_suite}"),
        format!("{base}-alpine"),
        format!("{base}-alpine{alpine_version}"),
    ])
}

/// The `{tags}` value: one `                - "tag"` line per tag, joined by newlines.
pub fn tags_field(tags: &[String]) -> String {
    tags.iter()
        .map(|t| format!("                - \"{t}\""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Python `str.format` with named fields only: `{name}` is replaced, `{{` and `}}` are literal
/// braces; an unknown field or a lone brace is an error naming the template.
pub fn format_template(template: &str, fields: &[(&str, &str)], name: &str) -> Result<String> {
    let mut out = String::with_capacity(template.len() + 256);
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' => {
                if matches!(chars.peek(), Some((_, '{'))) {
                    chars.next();
                    out.push('{');
                    continue;
                }
                let rest = &template[i + 1..];
                let close = rest
                    .find('}')
                    .ok_or_else(|| Error::input(format!("{name}: unmatched '{{' at byte {i}")))?;
                let field = &rest[..close];
                let value = fields.iter().find(|(k, _)| *k == field).map(|(_, v)| *v).ok_or_else(|| {
                    Error::input(format!(
                        "{name}: unknown field {{{field}}}; the template may use {}",
                        fields.iter().map(|(k, _)| format!("{{{k}}}")).collect::<Vec<_>>().join(", ")
                    ))
                })?;
                out.push_str(value);
                for _ in 0..close + 1 {
                    chars.next();
                }
            }
            '}' => {
                if matches!(chars.peek(), Some((_, '}'))) {
                    chars.next();
                    out.push('}');
                } else {
                    return Err(Error::input(format!(
                        "{name}: single '}}' at byte {i} (write '}}}}' for a literal brace)"
                    )));
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// Replace the template's hard-coded `artifacts:` list with the built `(distro, arch)` pairs:
/// grouped by distro (sorted), arches sorted, in the template's own layout.
pub fn replace_artifacts(template: &str, artifacts: &[(String, String)], name: &str) -> Result<String> {
    let lines: Vec<&str> = template.split('\n').collect();
    let Some(start) = lines
        .iter()
        .position(|l| l.trim_end().ends_with("artifacts:") && l.trim_start().starts_with("artifacts:"))
    else {
        return Err(Error::input(format!("{name}: no `artifacts:` list found to fill in")));
    };
    let indent_of = |l: &str| l.len() - l.trim_start().len();
    let base_indent = indent_of(lines[start]);
    let mut end = start + 1;
    while end < lines.len() {
        let l = lines[end];
        if l.trim().is_empty() || indent_of(l) <= base_indent || l.trim_start().starts_with("---") {
            break;
        }
        end += 1;
    }
    // The template's layout, with the real template's as the fallback.
    let block = &lines[start + 1..end];
    let distro_prefix = block
        .iter()
        .find_map(|l| l.find("distro:").map(|p| l[..p].to_string()))
        .unwrap_or_else(|| format!("{}-   ", " ".repeat(base_indent + 4)));
    let arch_key = block
        .iter()
        .find(|l| l.trim_start() == "arch:")
        .map(|l| l.to_string())
        .unwrap_or_else(|| format!("{}arch:", " ".repeat(distro_prefix.len())));
    let arch_item = block
        .iter()
        .skip_while(|l| l.trim_start() != "arch:")
        .nth(1)
        .and_then(|l| l.find(|c: char| c != ' ' && c != '-').map(|p| l[..p].to_string()))
        .unwrap_or_else(|| format!("{}-   ", " ".repeat(arch_key.len() - "arch:".len() + 4)));

    let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (d, a) in artifacts {
        let v = grouped.entry(d.as_str()).or_default();
        if !v.contains(&a.as_str()) {
            v.push(a.as_str());
        }
    }
    let mut new_block = Vec::new();
    for (d, mut arches) in grouped {
        arches.sort();
        new_block.push(format!("{distro_prefix}distro: {d}"));
        new_block.push(arch_key.clone());
        for a in arches {
            new_block.push(format!("{arch_item}{a}"));
        }
    }
    let mut out: Vec<String> = lines[..=start].iter().map(|s| s.to_string()).collect();
    out.extend(new_block);
    out.extend(lines[end..].iter().map(|s| s.to_string()));
    Ok(out.join("\n"))
}

/// Render the download page for `version`.
pub fn render_page(template: &str, version: &Version, date: &str, tags: &[String], artifacts: &[(String, String)]) -> Result<String> {
    if artifacts.is_empty() {
        return Err(Error::input(
            "valkey.io: no artifacts to list (manifest.json has none); build and upload first",
        ));
    }
    let with_artifacts = replace_artifacts(template, artifacts, TEMPLATE)?;
    let tags = tags_field(tags);
    format_template(
        &with_artifacts,
        &[("version", version.as_str()), ("date", date), ("tags", &tags)],
        TEMPLATE,
    )
}

/// The `date:` of an existing page (kept on re-runs unless `--date` is given).
pub fn page_date(page: &str) -> Option<String> {
    page.lines()
        .take_while(|l| !l.starts_with("extra:"))
        .find_map(|l| l.strip_prefix("date:").map(|d| d.trim().to_string()))
}

/// Check a `YYYY-MM-DD` date.
pub fn check_date(s: &str) -> Result<()> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|_| ())
        .map_err(|_| Error::input(format!("invalid date {s:?}: expected YYYY-MM-DD")))?;
    if s.len() != 10 {
        return Err(Error::input(format!("invalid date {s:?}: expected YYYY-MM-DD")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn format_rules() {
        assert_eq!(format_template("a{{b}}{x}", &[("x", "1")], "t").unwrap(), "a{b}1");
        assert!(format_template("{y}", &[("x", "1")], "t").is_err());
        assert!(format_template("}", &[], "t").is_err());
    }
}
