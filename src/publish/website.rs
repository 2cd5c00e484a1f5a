//! valkey.io download page: `content/download/releases/v<V dashed>.md`, rendered from the
//! site's own `templates/valkey-website-template.md` (Python `str.format` fields `{version}`,
//! `{date}`, `{tags}`), with the artifacts list generated from what was built.
//!
//! `content/download/releases/_index.md` is the section file (`sort_by = "title"`); it lists no
//! pages, so adding a release needs no edit there.

use super::edit::{Edit, FileChange, RepoId, Target};
use super::handoff::Handoff;
use super::source::Source;
use super::Options;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::version::Version;
use futures_util::future::BoxFuture;
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

/// The valkey.io hand-off: on branch `update-website-V`, "Updates downloads section for version
/// V"; PR "Update website for version V". Release candidates get a page too.
pub struct Website;

impl Handoff for Website {
    fn name(&self) -> &'static str {
        "website"
    }
    fn about(&self) -> &'static str {
        "the download page in valkey-io/valkey-io.github.io"
    }
    fn default_repo(&self) -> RepoId {
        RepoId::new("valkey-io", "valkey-io.github.io", "main")
    }
    fn applies(&self, v: &Version) -> std::result::Result<(), String> {
        if v.is_unstable() {
            return Err("unstable has no download page".into());
        }
        Ok(())
    }
    fn shape(&self, opts: &Options) -> Edit {
        let v = opts.version.as_str();
        let mut e = Edit::new(
            opts.repo_for(self),
            Target::Pr {
                branch: format!("update-website-{v}"),
                title: format!("Update website for version {v}"),
            },
        );
        e.commit(format!("Updates downloads section for version {v}"), vec![]);
        e
    }
    fn compute<'a>(&'a self, opts: &'a Options, src: &'a Source) -> BoxFuture<'a, Result<Edit>> {
        Box::pin(async move {
            let mut edit = self.shape(opts);
            let tpl = src.read_required(TEMPLATE).await?;
            let path = page_path(opts.version.as_str());
            let existing = src.read(&path).await?;
            let manifest = Manifest::load(&opts.dist).map_err(|e| e.context("website: the artifacts list comes from manifest.json"))?;
            manifest.check_release(opts.version.as_str(), Manifest::path(&opts.dist).display())?;
            let artifacts: Vec<(String, String)> = manifest.artifacts.iter().map(|a| (a.distro.clone(), a.arch.clone())).collect();
            let (suite, alpine) = resolve_suites(opts).await?;
            let date = match (&opts.date, existing.as_ref().and_then(|p| page_date(&p.text))) {
                (Some(d), _) => d.clone(),
                (None, Some(d)) => d,
                (None, None) => opts.date_or_today(),
            };
            let tags = tags(&opts.version, &suite, &alpine)?;
            let page = render_page(&tpl.text, &opts.version, &date, &tags, &artifacts)?;
            if existing.as_ref().map(|f| f.text.as_str()) != Some(page.as_str()) {
                edit.notes.push(format!(
                    "{path}: {} page dated {date}, tags {}, artifacts {}",
                    if existing.is_some() { "updated" } else { "new" },
                    tags.join(" "),
                    artifacts.iter().map(|(d, a)| format!("{d}-{a}")).collect::<Vec<_>>().join(" ")
                ));
                edit.commits[0].changes.push(FileChange {
                    path,
                    old: existing.map(|f| f.text),
                    new: page,
                    mode: "100644".into(),
                });
            }
            Ok(edit)
        })
    }
}

/// Debian suite and Alpine version for the website tags: the flags, else valkey-container's
/// versions.json (the `--container-checkout` working tree, else GitHub): the version's `M.m`
/// entry, else the newest entry (what the container step gives a new `M.m`).
pub async fn resolve_suites(opts: &Options) -> Result<(String, String)> {
    use super::container;
    if let (Some(d), Some(a)) = (&opts.debian_suite, &opts.alpine_version) {
        return Ok((d.clone(), a.clone()));
    }
    let mm = opts.version.major_minor().unwrap_or_default();
    let text = match &opts.container_checkout {
        Some(dir) => {
            let p = dir.join(container::VERSIONS_JSON);
            std::fs::read_to_string(&p).map_err(|e| Error::io(&p, "read", e))?
        }
        None => {
            let repo = opts.container_repo.clone().unwrap_or_else(|| container::Container.default_repo());
            let client = super::github_api::Client::new(&opts.github)?;
            let src = Source::github(client, repo.clone(), None).await?;
            src.read_required(container::VERSIONS_JSON)
                .await
                .map_err(|e| {
                    e.context(format!(
                        "reading {} (or give --debian-suite and --alpine-version, or --container-checkout DIR)",
                        repo.full()
                    ))
                })?
                .text
        }
    };
    let (d, a) = container::suites_for(&text, &mm)?;
    Ok((opts.debian_suite.clone().unwrap_or(d), opts.alpine_version.clone().unwrap_or(a)))
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
