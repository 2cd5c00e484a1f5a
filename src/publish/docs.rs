//! valkey-doc, for a GA `M.m.0` only (every other version: not applicable). On branch
//! `update-docs-V`, one commit and PR "Update documentation for Valkey V":
//! - `topics/releases.md`: `| M.m | DATE | DATE+3y | SEC |` right after the `| -- | -- | -- | -- |`
//!   line (SEC = DATE+3y when the minor is 0, else DATE+5y);
//! - `Makefile`: `VERSION ?= V` and `DATE ?= DATE`;
//! - `topics/valkey.conf.md`: the `valkey.conf for Valkey M.m` line before the first such line;
//! - `topics/modules-api-ref.md`: the output of the source's `utils/generate-module-api-doc.rb`,
//!   given as [`Options::modules_api_ref`].
//!
//! Idempotent: a row or line already there is not added again.

use super::edit::{Edit, FileChange, RepoId, Target};
use super::handoff::Handoff;
use super::source::Source;
use super::Options;
use crate::error::{Error, Result};
use crate::version::Version;
use futures_util::future::BoxFuture;

pub const RELEASES_MD: &str = "topics/releases.md";
pub const MAKEFILE: &str = "Makefile";
pub const CONF_MD: &str = "topics/valkey.conf.md";
pub const MODULES_API_REF: &str = "topics/modules-api-ref.md";
const TABLE_RULE: &str = "| -- | -- | -- | -- |";
const CONF_MARK: &str = "The self documented [valkey.conf for Valkey";

pub struct Docs;

/// `DATE` plus `years` (Feb 29 -> Feb 28).
fn plus_years(date: &str, years: i32) -> Result<String> {
    use chrono::Datelike;
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map_err(|_| Error::input(format!("invalid date {date:?}: expected YYYY-MM-DD")))?;
    let y = d.year() + years;
    let out = d
        .with_year(y)
        .or_else(|| chrono::NaiveDate::from_ymd_opt(y, d.month(), 28))
        .ok_or_else(|| Error::input(format!("date {date} + {years} years is out of range")))?;
    Ok(out.format("%Y-%m-%d").to_string())
}

/// The releases.md row for `M.m` released on `date`.
pub fn releases_row(mm: &str, minor: u64, date: &str) -> Result<String> {
    let maint = plus_years(date, 3)?;
    let sec = if minor == 0 { maint.clone() } else { plus_years(date, 5)? };
    Ok(format!("| {mm} | {date} | {maint} | {sec} |"))
}

/// Insert the row after the table rule unless a row for `M.m` is there.
pub fn edit_releases(text: &str, mm: &str, row: &str) -> Result<String> {
    if text.lines().any(|l| l.starts_with(&format!("| {mm} |"))) {
        return Ok(text.to_string());
    }
    let at = text
        .find(&format!("{TABLE_RULE}\n"))
        .ok_or_else(|| Error::input(format!("{RELEASES_MD}: no `{TABLE_RULE}` line to add the {mm} row after")))?;
    let end = at + TABLE_RULE.len() + 1;
    Ok(format!("{}{row}\n{}", &text[..end], &text[end..]))
}

/// Set `VERSION ?= V` and `DATE ?= DATE`.
pub fn edit_makefile(text: &str, v: &str, date: &str) -> Result<String> {
    let mut seen = (false, false);
    let out: Vec<String> = text
        .split('\n')
        .map(|l| {
            if l.starts_with("VERSION ?=") {
                seen.0 = true;
                format!("VERSION ?= {v}")
            } else if l.starts_with("DATE ?=") {
                seen.1 = true;
                format!("DATE ?= {date}")
            } else {
                l.to_string()
            }
        })
        .collect();
    if seen != (true, true) {
        return Err(Error::input(format!("{MAKEFILE}: no `VERSION ?=` and `DATE ?=` lines to set")));
    }
    Ok(out.join("\n"))
}

/// Insert the `valkey.conf for Valkey M.m` line before the first such line.
pub fn edit_conf(text: &str, mm: &str) -> Result<String> {
    let line = format!("* {CONF_MARK} {mm}](https://raw.githubusercontent.com/valkey-io/valkey/{mm}/valkey.conf).");
    if text.split('\n').any(|l| l == line) {
        return Ok(text.to_string());
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let at = lines
        .iter()
        .position(|l| l.contains(CONF_MARK))
        .ok_or_else(|| Error::input(format!("{CONF_MD}: no line with `{CONF_MARK}` to insert before")))?;
    let mut out: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    out.insert(at, line);
    Ok(out.join("\n"))
}

impl Handoff for Docs {
    fn name(&self) -> &'static str {
        "docs"
    }
    fn about(&self) -> &'static str {
        "releases table, Makefile, valkey.conf link and module API reference in valkey-io/valkey-doc"
    }
    fn default_repo(&self) -> RepoId {
        RepoId::new("valkey-io", "valkey-doc", "main")
    }
    fn applies(&self, v: &Version) -> std::result::Result<(), String> {
        match v.numbers() {
            Some((_, _, 0)) if !v.is_rc() => Ok(()),
            _ => Err(format!("valkey-doc is updated for a GA M.m.0 only, not {v}")),
        }
    }
    fn shape(&self, opts: &Options) -> Edit {
        let v = opts.version.as_str();
        let title = format!("Update documentation for Valkey {v}");
        let mut e = Edit::new(
            opts.repo_for(self),
            Target::Pr {
                branch: format!("update-docs-{v}"),
                title: title.clone(),
            },
        );
        e.commit(title, vec![]);
        e
    }
    fn compute<'a>(&'a self, opts: &'a Options, src: &'a Source) -> BoxFuture<'a, Result<Edit>> {
        Box::pin(async move {
            let mut edit = self.shape(opts);
            let v = opts.version.as_str();
            let (_, minor, _) = opts.version.numbers().unwrap_or_default();
            let mm = opts.version.major_minor().unwrap_or_default();
            let date = opts.date_or_today();
            let mut changes = Vec::new();
            let rel = src.read_required(RELEASES_MD).await?;
            let t = edit_releases(&rel.text, &mm, &releases_row(&mm, minor, &date)?)?;
            if t != rel.text {
                edit.notes.push(format!("{RELEASES_MD}: row for {mm} released {date}"));
                changes.push(FileChange::modify(RELEASES_MD, &rel.text, t, Some(&rel.mode)));
            }
            let mk = src.read_required(MAKEFILE).await?;
            let t = edit_makefile(&mk.text, v, &date)?;
            if t != mk.text {
                edit.notes.push(format!("{MAKEFILE}: VERSION {v}, DATE {date}"));
                changes.push(FileChange::modify(MAKEFILE, &mk.text, t, Some(&mk.mode)));
            }
            let conf = src.read_required(CONF_MD).await?;
            let t = edit_conf(&conf.text, &mm)?;
            if t != conf.text {
                edit.notes.push(format!("{CONF_MD}: valkey.conf link for {mm}"));
                changes.push(FileChange::modify(CONF_MD, &conf.text, t, Some(&conf.mode)));
            }
            match &opts.modules_api_ref {
                Some(gen) => {
                    let old = src.read(MODULES_API_REF).await?;
                    if old.as_ref().map(|f| f.text.as_str()) != Some(gen.as_str()) {
                        edit.notes.push(format!("{MODULES_API_REF}: regenerated from the {v} source"));
                        changes.push(FileChange {
                            path: MODULES_API_REF.into(),
                            mode: old.as_ref().map(|f| f.mode.clone()).unwrap_or_else(|| "100644".into()),
                            old: old.map(|f| f.text),
                            new: gen.clone(),
                        });
                    }
                }
                None => edit.warnings.push(format!(
                    "{MODULES_API_REF}: not regenerated (no output of utils/generate-module-api-doc.rb was given)"
                )),
            }
            edit.commits[0].changes = changes;
            Ok(edit)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn rows_and_dates() {
        assert_eq!(
            releases_row("9.0", 0, "2025-10-21").unwrap(),
            "| 9.0 | 2025-10-21 | 2028-10-21 | 2028-10-21 |"
        );
        assert_eq!(
            releases_row("8.1", 1, "2025-03-31").unwrap(),
            "| 8.1 | 2025-03-31 | 2028-03-31 | 2030-03-31 |"
        );
        assert_eq!(plus_years("2024-02-29", 3).unwrap(), "2027-02-28");
    }
}
