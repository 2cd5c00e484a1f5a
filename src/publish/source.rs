//! Where a repository's current files are read from: a directory (checkout working tree or a
//! plain copy), a git revision of a local checkout, or GitHub at a commit.

use super::edit::{safe_rel_path, RepoFile, RepoId};
use super::github_api::{Client, TreeEntry};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

#[allow(clippy::large_enum_variant)]
pub enum Source {
    /// Nothing: for a hand-off that reads no files (a dispatch).
    Empty,
    /// Files of a directory (`.git` ignored).
    Dir(PathBuf),
    /// `git show REV:path` in a local checkout.
    GitRev { dir: PathBuf, rev: String },
    /// GitHub, at commit `sha` of `repo` (its tree listed once).
    GitHub {
        client: Client,
        repo: RepoId,
        sha: String,
        tree_sha: String,
        tree: Vec<TreeEntry>,
        truncated: bool,
    },
}

impl Source {
    pub fn dir(p: &Path) -> Source {
        Source::Dir(p.to_path_buf())
    }

    /// GitHub at `rev` (a commit sha), or at the head of the repository's base branch.
    pub async fn github(client: Client, repo: RepoId, rev: Option<String>) -> Result<Source> {
        let sha = match rev {
            Some(s) => s,
            None => client.get_ref(&repo, &repo.branch).await?.ok_or_else(|| {
                Error::input(format!(
                    "GitHub: {} has no branch {:?} (check the owner/repo/branch settings)",
                    repo.full(),
                    repo.branch
                ))
            })?,
        };
        let (tree_sha, tree, truncated) = client.get_tree(&repo, &sha).await?;
        Ok(Source::GitHub {
            client,
            repo,
            sha,
            tree_sha,
            tree,
            truncated,
        })
    }

    /// The commit a GitHub source is at.
    pub fn github_sha(&self) -> Option<(&str, &str)> {
        match self {
            Source::GitHub { sha, tree_sha, .. } => Some((sha, tree_sha)),
            _ => None,
        }
    }

    /// Mode of a path in the listing (`100644` when unknown).
    pub fn mode_of(&self, path: &str) -> Option<String> {
        match self {
            Source::GitHub { tree, .. } => tree.iter().find(|e| e.path == path).map(|e| e.mode.clone()),
            _ => None,
        }
    }

    /// Read a file; `None` when absent.
    pub async fn read(&self, path: &str) -> Result<Option<RepoFile>> {
        let rel = safe_rel_path(path)?;
        match self {
            Source::Empty => Ok(None),
            Source::Dir(d) => {
                let p = d.join(rel);
                match std::fs::read(&p) {
                    Ok(b) => {
                        use std::os::unix::fs::PermissionsExt;
                        let exec = std::fs::metadata(&p).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false);
                        let text = String::from_utf8(b).map_err(|_| Error::input(format!("{}: not UTF-8 text", p.display())))?;
                        Ok(Some(RepoFile {
                            text,
                            mode: if exec { "100755" } else { "100644" }.into(),
                        }))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io(&p, "read", e)),
                }
            }
            Source::GitRev { dir, rev } => {
                let ls = super::gitcli::git(dir, &["ls-tree", rev, "--", path])?;
                let Some(line) = ls.lines().next() else { return Ok(None) };
                let mode = line.split_whitespace().next().unwrap_or("100644").to_string();
                let text = super::gitcli::git_raw(dir, &["show", &format!("{rev}:{path}")])?;
                Ok(Some(RepoFile { text, mode }))
            }
            Source::GitHub {
                client,
                repo,
                sha,
                tree,
                truncated,
                ..
            } => {
                // A truncated listing (huge repositories) cannot prove absence: ask the contents API.
                if !*truncated && !tree.iter().any(|e| e.path == path && e.kind == "blob") {
                    return Ok(None);
                }
                let text = client.get_contents(repo, path, sha).await?;
                Ok(text.map(|t| RepoFile {
                    text: t,
                    mode: self.mode_of(path).unwrap_or_else(|| "100644".into()),
                }))
            }
        }
    }

    /// Read a file that must exist; the error names it and the repository.
    pub async fn read_required(&self, path: &str) -> Result<RepoFile> {
        self.read(path)
            .await?
            .ok_or_else(|| Error::input(format!("{path} not found in {} (is this the right repository?)", self.describe())))
    }

    /// Files (not directories) under `prefix` (ending in `/`), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        match self {
            Source::Empty => {}
            Source::Dir(d) => {
                let root = d.join(safe_rel_path(prefix.trim_end_matches('/'))?);
                if root.is_dir() {
                    walk(&root, prefix.trim_end_matches('/'), &mut out)?;
                }
            }
            Source::GitRev { dir, rev } => {
                let ls = super::gitcli::git(dir, &["ls-tree", "-r", "--name-only", rev, "--", prefix])?;
                out.extend(ls.lines().map(str::to_string));
            }
            Source::GitHub { tree, .. } => {
                out.extend(
                    tree.iter()
                        .filter(|e| e.kind == "blob" && e.path.starts_with(prefix))
                        .map(|e| e.path.clone()),
                );
            }
        }
        out.sort();
        Ok(out)
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Empty => "(no files)".to_string(),
            Source::Dir(d) => d.display().to_string(),
            Source::GitRev { dir, rev } => format!("{} at {rev}", dir.display()),
            Source::GitHub { repo, sha, .. } => format!("{} at {sha}", repo.full()),
        }
    }
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))?;
    for e in rd {
        let e = e.map_err(|e| Error::io(dir, "list", e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name == ".git" {
            continue;
        }
        let p = e.path();
        let r = format!("{rel}/{name}");
        let ft = e.file_type().map_err(|er| Error::io(&p, "stat", er))?;
        if ft.is_dir() {
            walk(&p, &r, out)?;
        } else if ft.is_file() {
            out.push(r);
        }
    }
    Ok(())
}
