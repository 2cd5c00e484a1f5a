//! valkey-hashes: the `README` file at the repository root.
//!
//! One line per release: `hash valkey-<V>.tar.gz sha256 <hex> <tag archive url>`. The edit is a
//! pure function of the old text; every line it does not add or replace stays byte-for-byte.

use super::edit::{Edit, FileChange, RepoId, Target};
use super::handoff::Handoff;
use super::source::Source;
use super::Options;
use crate::error::{Error, Result};
use crate::version::Version;
use futures_util::future::BoxFuture;

/// The file the hashes live in.
pub const HASHES_FILE: &str = "README";

/// GitHub's source archive for a tag: what the digest is of.
pub fn tag_archive_url(version: &str) -> String {
    format!("https://github.com/valkey-io/valkey/archive/refs/tags/{version}.tar.gz")
}

/// The file name a hash line names: `valkey-<V>.tar.gz`.
pub fn archive_name(version: &str) -> String {
    format!("valkey-{version}.tar.gz")
}

/// The exact line (without newline) for `version` with digest `hex`.
pub fn hash_line(version: &str, hex: &str) -> String {
    format!(
        "hash {} sha256 {} {}",
        archive_name(version),
        hex.to_ascii_lowercase(),
        tag_archive_url(version)
    )
}

/// What [`edit_hashes`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashesAction {
    /// The line was appended.
    Appended,
    /// The same digest was already there: nothing to do.
    AlreadyPresent,
    /// A line with another digest was replaced in place (`--replace`).
    Replaced { old_sha256: String },
}

/// The result of the pure edit.
#[derive(Debug, Clone)]
pub struct HashesEdit {
    /// New file text (equal to the old one for [`HashesAction::AlreadyPresent`]).
    pub text: String,
    pub action: HashesAction,
    /// Things a person should know (duplicate lines already in the file, lines removed by --replace).
    pub warnings: Vec<String>,
}

/// One parsed `hash` line.
#[derive(Debug, Clone)]
struct HashLine<'a> {
    index: usize,
    file: &'a str,
    digest: &'a str,
}

fn parse_line(index: usize, line: &str) -> Option<HashLine<'_>> {
    let body = line.strip_suffix('\r').unwrap_or(line);
    let mut f = body.split_whitespace();
    if f.next()? != "hash" {
        return None;
    }
    let file = f.next()?;
    let _algo = f.next()?;
    let digest = f.next()?;
    Some(HashLine { index, file, digest })
}

/// Report every file name that has more than one line (8.0.4 has two in the real file).
pub fn duplicate_warnings(text: &str) -> Vec<String> {
    let mut seen: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if let Some(h) = parse_line(i, line) {
            match seen.iter_mut().find(|(f, _)| *f == h.file) {
                Some((_, v)) => v.push(i + 1),
                None => seen.push((h.file, vec![i + 1])),
            }
        }
    }
    seen.into_iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(f, v)| {
            format!(
                "{HASHES_FILE}: {f} has {} lines (lines {}); consumers disagree on which one wins",
                v.len(),
                v.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
            )
        })
        .collect()
}

/// Add the line for `version` with digest `hex` to the hashes file `old`.
///
/// - Deduplicated by file name: a line for `valkey-<V>.tar.gz` with the same digest -> no change.
/// - A different digest (a re-tag) -> exit 4, unless `replace`: then the first line for that file
///   is replaced in place and any further lines for the same file are removed (reported).
/// - `unstable` is refused (its line is never changed); release candidates are published like
///   any release (the real file has rc lines).
pub fn edit_hashes(old: &str, version: &Version, hex: &str, replace: bool) -> Result<HashesEdit> {
    if version.is_unstable() {
        return Err(Error::input(
            "valkey-hashes: the 'unstable' line (all-zero digest) is never changed; give a release version (M.m.p or M.m.p-rcN)",
        ));
    }
    if !crate::fsutil::is_sha256_hex(hex) {
        return Err(Error::input(format!("source sha256 {hex:?} is not 64 hex digits")));
    }
    let hex = hex.to_ascii_lowercase();
    let name = archive_name(version.as_str());
    let mut warnings = duplicate_warnings(old);
    let lines: Vec<&str> = old.split('\n').collect();
    let existing: Vec<HashLine> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| parse_line(i, l))
        .filter(|h| h.file == name)
        .collect();

    if existing.iter().any(|h| h.digest.eq_ignore_ascii_case(&hex)) {
        return Ok(HashesEdit {
            text: old.to_string(),
            action: HashesAction::AlreadyPresent,
            warnings,
        });
    }
    if let Some(first) = existing.first() {
        if !replace {
            return Err(Error::refused(format!(
                "valkey-hashes: {name} is already listed with sha256 {} (line {}), not {hex}: the tag was re-created? \
                 Check the tag, then re-run with --replace to replace that line",
                first.digest,
                first.index + 1
            )));
        }
        let old_digest = first.digest.to_string();
        let first_index = first.index;
        let drop: Vec<usize> = existing.iter().skip(1).map(|h| h.index).collect();
        for d in &drop {
            warnings.push(format!(
                "{HASHES_FILE}: removed the duplicate line {} for {name} (--replace)",
                d + 1
            ));
        }
        let mut out: Vec<String> = Vec::with_capacity(lines.len());
        for (i, l) in lines.iter().enumerate() {
            if i == first_index {
                let cr = if l.ends_with('\r') { "\r" } else { "" };
                out.push(format!("{}{cr}", hash_line(version.as_str(), &hex)));
            } else if !drop.contains(&i) {
                out.push(l.to_string());
            }
        }
        return Ok(HashesEdit {
            text: out.join("\n"),
            action: HashesAction::Replaced { old_sha256: old_digest },
            warnings,
        });
    }
    let mut text = old.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&hash_line(version.as_str(), &hex));
    text.push('\n');
    Ok(HashesEdit {
        text,
        action: HashesAction::Appended,
        warnings,
    })
}

/// Is the line for `version` with digest `hex` present (by file name and digest)?
pub fn is_present(text: &str, version: &str, hex: &str) -> bool {
    let name = archive_name(version);
    text.split('\n')
        .enumerate()
        .filter_map(|(i, l)| parse_line(i, l))
        .any(|h| h.file == name && h.digest.eq_ignore_ascii_case(hex))
}

/// The valkey-hashes hand-off: `Update hash for V`, pushed straight to `main` (or a PR from
/// `update-hash-V` with `--via-pr`).
pub struct Hashes;

impl Handoff for Hashes {
    fn name(&self) -> &'static str {
        "hashes"
    }
    fn about(&self) -> &'static str {
        "the line in valkey-io/valkey-hashes' README"
    }
    fn default_repo(&self) -> RepoId {
        RepoId::new("valkey-io", "valkey-hashes", "main")
    }
    fn applies(&self, v: &Version) -> std::result::Result<(), String> {
        if v.is_unstable() {
            return Err("unstable has a fixed hash line".into());
        }
        Ok(())
    }
    fn shape(&self, opts: &Options) -> Edit {
        let v = opts.version.as_str();
        let title = format!("Update hash for {v}");
        let target = if opts.via_pr {
            Target::Pr {
                branch: format!("update-hash-{v}"),
                title: title.clone(),
            }
        } else {
            Target::Base
        };
        let mut e = Edit::new(opts.repo_for(self), target);
        e.commit(title, vec![]);
        e
    }
    fn compute<'a>(&'a self, opts: &'a Options, src: &'a Source) -> BoxFuture<'a, Result<Edit>> {
        Box::pin(async move {
            let mut edit = self.shape(opts);
            let old = src.read_required(HASHES_FILE).await?;
            let (hex, origin) = super::digest::resolve_source_sha256(opts).await?;
            let e = edit_hashes(&old.text, &opts.version, &hex, opts.replace)?;
            edit.warnings = e.warnings;
            let name = archive_name(opts.version.as_str());
            match &e.action {
                HashesAction::Appended => edit.notes.push(format!("README: added {name} (sha256 from {origin})")),
                HashesAction::Replaced { old_sha256 } => edit.notes.push(format!(
                    "README: replaced the line for {name} (sha256 {old_sha256} -> {hex}, --replace)"
                )),
                HashesAction::AlreadyPresent => {}
            }
            if e.text != old.text {
                edit.commits[0].changes = vec![FileChange::modify(HASHES_FILE, &old.text, e.text, Some(&old.mode))];
            }
            Ok(edit)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const FILE: &str = "# header\n\nhash valkey-unstable.tar.gz sha256 0000000000000000000000000000000000000000000000000000000000000000 https://github.com/valkey-io/valkey/archive/unstable.tar.gz\nhash valkey-8.0.4.tar.gz sha256 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa https://github.com/valkey-io/valkey/archive/refs/tags/8.0.4.tar.gz\nhash valkey-8.0.4.tar.gz sha256 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb https://github.com/valkey-io/valkey/archive/refs/tags/8.0.4.tar.gz\n";
    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }
    #[test]
    fn append_and_noop() {
        let hex = "c".repeat(64);
        let e = edit_hashes(FILE, &v("9.1.2"), &hex, false).unwrap();
        assert_eq!(e.action, HashesAction::Appended);
        assert!(e.text.starts_with(FILE));
        assert_eq!(e.warnings.len(), 1, "{:?}", e.warnings);
        let again = edit_hashes(&e.text, &v("9.1.2"), &hex, false).unwrap();
        assert_eq!(again.action, HashesAction::AlreadyPresent);
        assert_eq!(again.text, e.text);
    }
    #[test]
    fn duplicates_and_replace() {
        let e = edit_hashes(FILE, &v("8.0.4"), &"b".repeat(64), false).unwrap();
        assert_eq!(e.action, HashesAction::AlreadyPresent);
        let err = edit_hashes(FILE, &v("8.0.4"), &"d".repeat(64), false).unwrap_err();
        assert_eq!(err.exit_code(), 4);
        let r = edit_hashes(FILE, &v("8.0.4"), &"d".repeat(64), true).unwrap();
        assert_eq!(r.text.matches("valkey-8.0.4.tar.gz").count(), 1);
        assert!(r.text.contains(&"d".repeat(64)));
        assert!(edit_hashes(FILE, &v("unstable"), &"0".repeat(64), true).is_err());
    }
}
