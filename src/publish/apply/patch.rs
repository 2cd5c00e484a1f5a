//! Hand-off mode: no token, no checkout to commit in. The change is written for review under
//! `DIR/<repository name>/` (the name is checked to be one plain path component):
//!
//! - `files/<path>`: the new content of every changed file;
//! - `<repository name>.diff`: one unified diff of all commits (`git apply` at the repository root);
//! - `0001-<subject>.patch`, `0002-...`: one signed-off mail patch per commit (`git am` applies them);
//! - `PR.md`: the branch, title and body the PR should have;
//! - `dispatch.json`: for a dispatch, the request that would be sent.
//!
//! Nothing outside `DIR/<repository name>/` is written or removed.

use super::Ctx;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::publish::edit::{check_repo_name, safe_rel_path, unified_diff, Commit, Edit, Identity};
use crate::publish::github_api::Client;
use crate::publish::outcome::{Mode, Outcome, State};
use std::path::PathBuf;

/// The patch-file applier. `dir` None: report only (dry run).
pub struct Patch {
    pub dir: Option<PathBuf>,
    /// Read the repository's files from here instead of GitHub.
    pub base: Option<PathBuf>,
    pub client: Client,
}

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

/// The `git format-patch` style mail for one commit (`n` of `total`).
pub fn format_patch(c: &Commit, id: &Identity, date: &str, n: usize, total: usize) -> String {
    let mut p = String::new();
    p.push_str("From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n");
    p.push_str(&format!("From: {} <{}>\n", id.name, id.email));
    p.push_str(&format!("Date: {date}\n"));
    let tag = if total > 1 {
        format!("[PATCH {n}/{total}]")
    } else {
        "[PATCH]".into()
    };
    p.push_str(&format!("Subject: {tag} {}\n\n", c.title));
    p.push_str(&format!("{}\n---\n", id.signoff()));
    for x in &c.changes {
        p.push_str(&format!(" {}{}\n", x.path, if x.old.is_none() { " (new)" } else { "" }));
    }
    p.push('\n');
    p.push_str(&unified_diff(&c.changes));
    p.push_str("-- \nvalkey-release\n\n");
    p
}

impl Patch {
    pub fn apply(&self, edit: Edit, ctx: &Ctx<'_>) -> Result<Outcome> {
        let repo = edit.repo.clone();
        check_repo_name("repository name", &repo.name)?;
        let desc = match (&self.dir, &self.base) {
            (Some(d), _) => d.join(&repo.name).display().to_string(),
            (None, Some(b)) => b.display().to_string(),
            (None, None) => repo.full(),
        };
        if edit.is_empty() {
            return Ok(Outcome::of(&edit, desc, Mode::Handoff, ctx.dry_run, State::Unchanged));
        }
        let Some(dir) = &self.dir else {
            return Ok(Outcome::of(&edit, desc, Mode::Handoff, true, State::WouldChange));
        };
        let root = dir.join(&repo.name);
        let mut written: Vec<PathBuf> = Vec::new();
        if let Some(d) = &edit.dispatch {
            let req = serde_json::json!({
                "method": "POST",
                "url": format!("https://api.github.com/repos/{}/dispatches", repo.full()),
                "body": {"event_type": d.event_type, "client_payload": d.client_payload},
                "expect": 204,
            });
            let p = root.join("dispatch.json");
            let mut text = serde_json::to_string_pretty(&req).map_err(|e| Error::external(format!("JSON: {e}")))?;
            text.push('\n');
            fsutil::write_atomic(&p, text.as_bytes())?;
            written.push(p);
        }
        let commits = edit.commits_with_changes();
        if !commits.is_empty() {
            // Only our own outputs inside root are replaced.
            let files_dir = root.join("files");
            if files_dir.exists() {
                std::fs::remove_dir_all(&files_dir).map_err(|e| Error::io(&files_dir, "remove old hand-off files", e))?;
            }
            if let Ok(rd) = std::fs::read_dir(&root) {
                for e in rd.flatten() {
                    let p = e.path();
                    if p.extension().is_some_and(|x| x == "patch") && p.is_file() {
                        std::fs::remove_file(&p).map_err(|er| Error::io(&p, "remove old patch", er))?;
                    }
                }
            }
            let date = chrono::Utc::now().to_rfc2822();
            for (i, c) in commits.iter().enumerate() {
                let p = root.join(format!("{:04}-{}.patch", i + 1, slug(&c.title)));
                fsutil::write_atomic(&p, format_patch(c, ctx.identity, &date, i + 1, commits.len()).as_bytes())?;
                written.push(p);
            }
            let finals = edit.final_changes();
            let diff = root.join(format!("{}.diff", repo.name));
            fsutil::write_atomic(&diff, unified_diff(&finals).as_bytes())?;
            written.push(diff);
            for c in &finals {
                let p = files_dir.join(safe_rel_path(&c.path)?);
                fsutil::write_atomic(&p, c.new.as_bytes())?;
                written.push(p);
            }
            let pr = root.join("PR.md");
            let head = match (edit.branch(), edit.pr_title()) {
                (Some(b), Some(t)) => format!(
                    "Repository: {}\nBase: {}\nBranch: {b}\nTitle: {t}\nCommits:\n{}\n\n",
                    repo.full(),
                    repo.branch,
                    commits.iter().map(|c| format!("- {}", c.title)).collect::<Vec<_>>().join("\n")
                ),
                _ => format!(
                    "Commit straight to `{}` of {} (message: {}).\n\n",
                    repo.branch,
                    repo.full(),
                    commits.first().map(|c| c.title.as_str()).unwrap_or("")
                ),
            };
            fsutil::write_atomic(&pr, format!("{head}{}", ctx.body).as_bytes())?;
            written.push(pr);
        }
        let mut o = Outcome::of(&edit, root.display().to_string(), Mode::Handoff, false, State::HandoffWritten);
        o.handoff_files = written;
        Ok(o)
    }
}
