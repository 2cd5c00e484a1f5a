//! Local mode: apply a hand-off to a git checkout with the git CLI. Commits are signed off
//! (`git commit -s`); the author is git's configured identity, else `valkey-release
//! <noreply@valkey.io>`. `push` pushes the branch to the checkout's remote.

use super::source::Source;
use super::{compute, outcome, Edit, FileChange, Kind, Options, State};
use crate::error::{Error, Result};
use std::path::Path;
use std::process::Command;

fn run(dir: &Path, args: &[&str], trim: bool) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| Error::external(format!("cannot run git (is it installed?): {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::external(format!(
            "git {} in {}: {}",
            args.join(" "),
            dir.display(),
            err.trim()
        )));
    }
    let s = String::from_utf8(out.stdout).map_err(|_| Error::external(format!("git {}: output is not UTF-8", args.join(" "))))?;
    Ok(if trim { s.trim_end().to_string() } else { s })
}

/// Run git in `dir`; stdout with trailing whitespace trimmed.
pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    run(dir, args, true)
}

/// Run git in `dir`; stdout exactly.
pub fn git_raw(dir: &Path, args: &[&str]) -> Result<String> {
    run(dir, args, false)
}

fn git_ok(dir: &Path, args: &[&str]) -> bool {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `-c user.name=... -c user.email=...` when the checkout has no identity configured.
fn identity_args(dir: &Path) -> Vec<String> {
    let has_name = git(dir, &["config", "user.name"]).map(|s| !s.is_empty()).unwrap_or(false);
    let has_email = git(dir, &["config", "user.email"]).map(|s| !s.is_empty()).unwrap_or(false);
    let id = super::Identity::default();
    let mut v = Vec::new();
    if !has_name {
        v.push("-c".to_string());
        v.push(format!("user.name={}", id.name));
    }
    if !has_email {
        v.push("-c".to_string());
        v.push(format!("user.email={}", id.email));
    }
    v
}

fn write_changes(dir: &Path, changes: &[FileChange]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for c in changes {
        let p = dir.join(super::safe_rel_path(&c.path)?);
        crate::fsutil::write_atomic(&p, c.new.as_bytes())?;
        if c.mode == "100755" {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).map_err(|e| Error::io(&p, "set permissions", e))?;
        }
    }
    Ok(())
}

/// Apply `kind` to the checkout `dir` (see the module doc).
pub async fn apply(kind: Kind, opts: &Options, dir: &Path, push: bool) -> Result<super::Outcome> {
    let v = opts.version.as_str();
    if !git_ok(dir, &["rev-parse", "--show-toplevel"]) {
        return Err(Error::input(format!(
            "--checkout {}: not a git checkout (clone the {} repository there)",
            dir.display(),
            opts.repo_for(kind).full()
        )));
    }
    let status = git(dir, &["status", "--porcelain"])?;
    if !status.is_empty() && !opts.dry_run {
        return Err(Error::refused(format!(
            "--checkout {}: has uncommitted changes; commit or stash them first:\n{status}",
            dir.display()
        )));
    }
    let current = git(dir, &["symbolic-ref", "--quiet", "--short", "HEAD"]).ok();
    let direct = kind == Kind::Hashes && !opts.via_pr;
    let branch = if direct {
        current.clone().ok_or_else(|| {
            Error::input(format!(
                "--checkout {}: HEAD is detached; check out the branch to commit on",
                dir.display()
            ))
        })?
    } else {
        kind.branch(v)
    };
    let branch_ref = format!("refs/heads/{branch}");
    let branch_exists = git_ok(dir, &["rev-parse", "--verify", "--quiet", &branch_ref]);
    let on_branch = current.as_deref() == Some(branch.as_str());
    let src = if branch_exists && !on_branch {
        Source::GitRev {
            dir: dir.to_path_buf(),
            rev: branch.clone(),
        }
    } else {
        Source::dir(dir)
    };
    let mut edit = compute(kind, opts, &src).await?;
    let repo_desc = dir.display().to_string();
    let remote = current
        .as_deref()
        .and_then(|c| git(dir, &["config", &format!("branch.{c}.remote")]).ok())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "origin".to_string());

    if edit.changes.is_empty() {
        let mut o = outcome(kind, opts, repo_desc, "checkout", &edit, State::Unchanged);
        if branch_exists || direct {
            o.branch = Some(branch.clone());
            o.commit = git(dir, &["rev-parse", &branch_ref]).ok();
            if push && !opts.dry_run {
                git(dir, &["push", "--quiet", &remote, &format!("{branch_ref}:{branch_ref}")])?;
                o.notes
                    .push(format!("branch {branch} pushed to {remote} (already up to date locally)"));
            }
        }
        return Ok(o);
    }
    if opts.dry_run {
        let mut o = outcome(kind, opts, repo_desc, "checkout", &edit, State::WouldChange);
        o.branch = Some(branch);
        if opts.apply_templates {
            o.notes
                .push("the Dockerfiles would be regenerated by ./apply-templates.sh (not run in a dry run)".into());
        }
        return Ok(o);
    }
    if !direct {
        if branch_exists {
            if !on_branch {
                git(dir, &["checkout", "--quiet", &branch])?;
            }
        } else {
            git(dir, &["checkout", "--quiet", "-b", &branch])?;
        }
    }
    write_changes(dir, &edit.changes)?;
    if opts.apply_templates {
        let mm = opts.version.major_minor().unwrap_or_default();
        let out = Command::new("./apply-templates.sh")
            .arg(&mm)
            .current_dir(dir)
            .output()
            .map_err(|e| Error::external(format!("{}: cannot run ./apply-templates.sh {mm}: {e}", dir.display())))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(Error::external(format!(
                "{}: ./apply-templates.sh {mm} failed ({}):\n{}",
                dir.display(),
                out.status,
                tail.join("\n")
            )));
        }
        edit = changes_from_worktree(dir, edit)?;
        edit.notes.push(format!("{mm}/: regenerated by ./apply-templates.sh {mm}"));
        if edit.changes.is_empty() {
            return Ok(outcome(kind, opts, repo_desc, "checkout", &edit, State::Unchanged));
        }
    }
    let mut add = vec!["add", "--"];
    let paths: Vec<String> = edit.changes.iter().map(|c| c.path.clone()).collect();
    add.extend(paths.iter().map(String::as_str));
    git(dir, &add)?;
    let title = kind.title(v);
    let body = edit.notes.iter().map(|n| format!("- {n}")).collect::<Vec<_>>().join("\n");
    let ids = identity_args(dir);
    let mut args: Vec<&str> = ids.iter().map(String::as_str).collect();
    args.extend(["commit", "--quiet", "-s", "-m", &title]);
    if !body.is_empty() {
        args.extend(["-m", &body]);
    }
    git(dir, &args)?;
    let sha = git(dir, &["rev-parse", "HEAD"])?;
    let mut state = State::Committed;
    if push {
        git(dir, &["push", "--quiet", &remote, &format!("{branch_ref}:{branch_ref}")])?;
        state = State::Pushed;
    }
    let mut o = outcome(kind, opts, repo_desc, "checkout", &edit, state);
    o.branch = Some(branch.clone());
    o.commit = Some(sha);
    o.needs_merge = !direct || !push;
    if !direct {
        o.notes.push(if push {
            format!("branch {branch} pushed to {remote}: open a PR from it; a person must merge it")
        } else {
            format!("committed on branch {branch}: review, push and open a PR")
        });
    }
    Ok(o)
}

/// After a regeneration script: every changed or new file in the working tree, with its old
/// content from HEAD.
fn changes_from_worktree(dir: &Path, mut edit: Edit) -> Result<Edit> {
    let status = git_raw(dir, &["status", "--porcelain", "-z", "--untracked-files=all"])?;
    let mut changes = Vec::new();
    for entry in status.split('\0').filter(|s| s.len() > 3) {
        let path = entry[3..].to_string();
        let p = dir.join(super::safe_rel_path(&path)?);
        if !p.is_file() {
            continue;
        }
        let new = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, "read", e))?;
        let old = git_raw(dir, &["show", &format!("HEAD:{path}")]).ok();
        use std::os::unix::fs::PermissionsExt;
        let exec = std::fs::metadata(&p).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false);
        changes.push(FileChange {
            path,
            old,
            new,
            mode: if exec { "100755" } else { "100644" }.into(),
        });
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    edit.changes = changes;
    Ok(edit)
}
