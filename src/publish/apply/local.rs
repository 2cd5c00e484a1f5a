//! Local mode: apply an edit to a git checkout with the git CLI. Each commit is made with
//! `git commit -s` (the DCO `Signed-off-by:` trailer of the committer); the identity is git's
//! configured one, else `valkey-release <noreply@valkey.io>`. `push` pushes the branch.

use super::Ctx;
use crate::error::{Error, Result};
use crate::publish::edit::{safe_rel_path, Commit, Edit, FileChange, Identity, RepoId};
use crate::publish::gitcli::{git, git_ok, git_raw};
use crate::publish::outcome::{Mode, Outcome, State};
use crate::publish::source::Source;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A local checkout.
pub struct Local {
    pub dir: PathBuf,
    pub push: bool,
}

/// `-c user.name=... -c user.email=...` when the checkout has no identity configured.
fn identity_args(dir: &Path) -> Vec<String> {
    let has = |k: &str| git(dir, &["config", k]).map(|s| !s.is_empty()).unwrap_or(false);
    let id = Identity::default();
    let mut v = Vec::new();
    if !has("user.name") {
        v.extend(["-c".to_string(), format!("user.name={}", id.name)]);
    }
    if !has("user.email") {
        v.extend(["-c".to_string(), format!("user.email={}", id.email)]);
    }
    v
}

fn write_changes(dir: &Path, changes: &[FileChange]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for c in changes {
        let p = dir.join(safe_rel_path(&c.path)?);
        crate::fsutil::write_atomic(&p, c.new.as_bytes())?;
        if c.mode == "100755" {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).map_err(|e| Error::io(&p, "set permissions", e))?;
        }
    }
    Ok(())
}

impl Local {
    fn current(&self) -> Option<String> {
        git(&self.dir, &["symbolic-ref", "--quiet", "--short", "HEAD"]).ok()
    }

    /// The branch the edit is committed on.
    fn branch(&self, edit: &Edit) -> Result<String> {
        match edit.branch() {
            Some(b) => Ok(b.to_string()),
            None => self.current().ok_or_else(|| {
                Error::input(format!(
                    "--checkout {}: HEAD is detached; check out the branch to commit on",
                    self.dir.display()
                ))
            }),
        }
    }

    /// The checkout's files: the PR branch when it exists and is not checked out, else the
    /// working tree. Refuses a directory that is not a checkout.
    pub fn source(&self, repo: &RepoId, shape: &Edit) -> Result<Source> {
        let dir = &self.dir;
        if !git_ok(dir, &["rev-parse", "--show-toplevel"]) {
            return Err(Error::input(format!(
                "--checkout {}: not a git checkout (clone the {} repository there)",
                dir.display(),
                repo.full()
            )));
        }
        let branch = self.branch(shape)?;
        let exists = git_ok(dir, &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")]);
        if exists && self.current().as_deref() != Some(branch.as_str()) {
            return Ok(Source::GitRev {
                dir: dir.clone(),
                rev: branch,
            });
        }
        Ok(Source::dir(dir))
    }

    pub fn apply(&self, mut edit: Edit, ctx: &Ctx<'_>) -> Result<Outcome> {
        let dir = &self.dir;
        if edit.dispatch.is_some() {
            return Err(Error::input(format!(
                "{}: a repository_dispatch cannot be applied to a checkout; use GitHub (GITHUB_TOKEN) or --handoff DIR",
                ctx.name
            )));
        }
        let status = git(dir, &["status", "--porcelain"])?;
        if !status.is_empty() && !ctx.dry_run {
            return Err(Error::refused(format!(
                "--checkout {}: has uncommitted changes; commit or stash them first:\n{status}",
                dir.display()
            )));
        }
        let desc = dir.display().to_string();
        let current = self.current();
        let branch = self.branch(&edit)?;
        let direct = edit.branch().is_none();
        let branch_ref = format!("refs/heads/{branch}");
        let exists = git_ok(dir, &["rev-parse", "--verify", "--quiet", &branch_ref]);
        let remote = current
            .as_deref()
            .and_then(|c| git(dir, &["config", &format!("branch.{c}.remote")]).ok())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "origin".to_string());
        if edit.is_empty() {
            let mut o = Outcome::of(&edit, desc, Mode::Checkout, ctx.dry_run, State::Unchanged);
            if exists || direct {
                o.branch = Some(branch.clone());
                o.commit = git(dir, &["rev-parse", &branch_ref]).ok();
                if self.push && !ctx.dry_run {
                    git(dir, &["push", "--quiet", &remote, &format!("{branch_ref}:{branch_ref}")])?;
                    o.notes
                        .push(format!("branch {branch} pushed to {remote} (already up to date locally)"));
                }
            }
            return Ok(o);
        }
        if ctx.dry_run {
            let mut o = Outcome::of(&edit, desc, Mode::Checkout, true, State::WouldChange);
            o.branch = Some(branch);
            return Ok(o);
        }
        if !direct {
            if exists {
                if current.as_deref() != Some(branch.as_str()) {
                    git(dir, &["checkout", "--quiet", &branch])?;
                }
            } else {
                git(dir, &["checkout", "--quiet", "-b", &branch])?;
            }
        }
        let ids = identity_args(dir);
        let mut made = Vec::new();
        for c in edit.commits.iter_mut().filter(|c| !c.changes.is_empty() || c.run.is_some()) {
            write_changes(dir, &c.changes)?;
            if let Some(cmd) = &c.run {
                run_command(dir, cmd)?;
                c.changes = changes_from_worktree(dir)?;
                if c.changes.is_empty() {
                    continue;
                }
            }
            commit(dir, &ids, c)?;
            made.push(git(dir, &["rev-parse", "HEAD"])?);
        }
        let Some(sha) = made.last().cloned() else {
            return Ok(Outcome::of(&edit, desc, Mode::Checkout, false, State::Unchanged));
        };
        let mut state = State::Committed;
        if self.push {
            git(dir, &["push", "--quiet", &remote, &format!("{branch_ref}:{branch_ref}")])?;
            state = State::Pushed;
        }
        let mut o = Outcome::of(&edit, desc, Mode::Checkout, false, state);
        o.branch = Some(branch.clone());
        o.commit = Some(sha);
        o.needs_merge = !direct || !self.push;
        if !direct {
            o.notes.push(if self.push {
                format!("branch {branch} pushed to {remote}: open a PR from it; a person must merge it")
            } else {
                format!("committed on branch {branch}: review, push and open a PR")
            });
        }
        Ok(o)
    }
}

/// `git add` the commit's files and `git commit -s -m TITLE`.
fn commit(dir: &Path, ids: &[String], c: &Commit) -> Result<()> {
    let mut add = vec!["add", "--"];
    add.extend(c.changes.iter().map(|x| x.path.as_str()));
    git(dir, &add)?;
    let mut args: Vec<&str> = ids.iter().map(String::as_str).collect();
    args.extend(["commit", "--quiet", "-s", "-m", &c.title]);
    git(dir, &args)?;
    Ok(())
}

/// Run a commit's command (a generator script of the repository) in the checkout.
fn run_command(dir: &Path, cmd: &[String]) -> Result<()> {
    let (prog, args) = cmd.split_first().ok_or_else(|| Error::input("empty command"))?;
    let shown = cmd.join(" ");
    let out = Command::new(prog)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| Error::external(format!("{}: cannot run {shown}: {e}", dir.display())))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(Error::external(format!(
            "{}: {shown} failed ({}):\n{}",
            dir.display(),
            out.status,
            tail.join("\n")
        )));
    }
    Ok(())
}

/// After a generator script: every changed or new file in the working tree, with its old
/// content from HEAD.
fn changes_from_worktree(dir: &Path) -> Result<Vec<FileChange>> {
    use std::os::unix::fs::PermissionsExt;
    let status = git_raw(dir, &["status", "--porcelain", "-z", "--untracked-files=all"])?;
    let mut changes = Vec::new();
    for entry in status.split('\0').filter(|s| s.len() > 3) {
        let path = entry[3..].to_string();
        let p = dir.join(safe_rel_path(&path)?);
        if !p.is_file() {
            continue;
        }
        let new = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, "read", e))?;
        let old = git_raw(dir, &["show", &format!("HEAD:{path}")]).ok();
        let exec = std::fs::metadata(&p).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false);
        changes.push(FileChange {
            path,
            old,
            new,
            mode: if exec { "100755" } else { "100644" }.into(),
        });
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(changes)
}
