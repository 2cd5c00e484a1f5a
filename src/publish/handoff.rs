//! Hand-off mode: no token, no checkout to commit in. The change is written for review under
//! `DIR/<repository name>/`:
//!
//! - `files/<path>`: the new content of every changed file;
//! - `<repository name>.diff`: a unified diff (`git apply` applies it at the repository root);
//! - `0001-<subject>.patch`: the same as a signed-off mail patch (`git am` applies it);
//! - `PR.md`: the branch, title and body the PR should have.

use super::{outcome, pr_body, unified_diff, Edit, Kind, Options, RepoId, State};
use crate::error::{Error, Result};
use crate::fsutil;
use std::path::{Path, PathBuf};

/// `Update to version 9.1.1` -> `Update-to-version-9.1.1`.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// The `git format-patch` style mail for `edit`.
pub fn format_patch(kind: Kind, opts: &Options, edit: &Edit, date: &str) -> String {
    let id = &opts.identity;
    let title = kind.title(opts.version.as_str());
    let mut p = String::new();
    p.push_str("From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n");
    p.push_str(&format!("From: {} <{}>\n", id.name, id.email));
    p.push_str(&format!("Date: {date}\n"));
    p.push_str(&format!("Subject: [PATCH] {title}\n\n"));
    for n in &edit.notes {
        p.push_str(&format!("- {n}\n"));
    }
    if !edit.notes.is_empty() {
        p.push('\n');
    }
    p.push_str(&format!("Signed-off-by: {} <{}>\n---\n", id.name, id.email));
    for c in &edit.changes {
        p.push_str(&format!(" {}{}\n", c.path, if c.old.is_none() { " (new)" } else { "" }));
    }
    p.push('\n');
    p.push_str(&unified_diff(&edit.changes));
    p.push_str("-- \nvalkey-release\n\n");
    p
}

/// Write the hand-off files (or, with `dir` None, only report what would change).
pub async fn apply(kind: Kind, opts: &Options, repo: &RepoId, edit: Edit, dir: Option<&Path>) -> Result<super::Outcome> {
    let desc = match (dir, &opts.base) {
        (Some(d), _) => d.join(&repo.name).display().to_string(),
        (None, Some(b)) => b.display().to_string(),
        (None, None) => repo.full(),
    };
    if edit.changes.is_empty() {
        return Ok(outcome(kind, opts, desc, "handoff", &edit, State::Unchanged));
    }
    let Some(dir) = dir else {
        let mut o = outcome(kind, opts, desc, "handoff", &edit, State::WouldChange);
        if kind != Kind::Hashes || opts.via_pr {
            o.branch = Some(kind.branch(opts.version.as_str()));
        }
        return Ok(o);
    };
    let root = dir.join(&repo.name);
    let files_dir = root.join("files");
    if files_dir.exists() {
        std::fs::remove_dir_all(&files_dir).map_err(|e| Error::io(&files_dir, "remove old hand-off files", e))?;
    }
    let mut written: Vec<PathBuf> = Vec::new();
    let patch_name = format!("0001-{}.patch", slug(&kind.title(opts.version.as_str())));
    let date = chrono::Utc::now().to_rfc2822();
    let patch = root.join(&patch_name);
    fsutil::write_atomic(&patch, format_patch(kind, opts, &edit, &date).as_bytes())?;
    written.push(patch);
    let diff = root.join(format!("{}.diff", repo.name));
    fsutil::write_atomic(&diff, unified_diff(&edit.changes).as_bytes())?;
    written.push(diff);
    for c in &edit.changes {
        let p = files_dir.join(super::safe_rel_path(&c.path)?);
        fsutil::write_atomic(&p, c.new.as_bytes())?;
        written.push(p);
    }
    let direct = kind == Kind::Hashes && !opts.via_pr;
    let pr = root.join("PR.md");
    let head = if direct {
        format!(
            "Commit straight to `{}` of {} (message: {}).\n\n",
            repo.branch,
            repo.full(),
            kind.title(opts.version.as_str())
        )
    } else {
        format!(
            "Repository: {}\nBase: {}\nBranch: {}\nTitle: {}\n\n",
            repo.full(),
            repo.branch,
            kind.branch(opts.version.as_str()),
            kind.title(opts.version.as_str())
        )
    };
    fsutil::write_atomic(&pr, format!("{head}{}", pr_body(kind, opts, &edit)).as_bytes())?;
    written.push(pr);
    let mut o = outcome(kind, opts, root.display().to_string(), "handoff", &edit, State::HandoffWritten);
    if !direct {
        o.branch = Some(kind.branch(opts.version.as_str()));
    }
    o.handoff_files = written;
    Ok(o)
}
