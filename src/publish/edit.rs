//! What a hand-off computes and an applier applies: plain data, no I/O.
//!
//! An [`Edit`] is the whole change to one repository: the commits (each a title and its file
//! changes, in order), the branch they go on (or the base branch, committed straight), the PR
//! title and body, and — for a hand-off that sends an event instead of changing files — a
//! [`Dispatch`]. Appliers (local checkout, GitHub, patch files) take an `Edit` and know no
//! hand-off.

use crate::error::{Error, Result};
use serde::Serialize;
use std::path::Path;

/// A GitHub repository and its base branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoId {
    pub owner: String,
    pub name: String,
    pub branch: String,
}

impl RepoId {
    pub fn new(owner: &str, name: &str, branch: &str) -> RepoId {
        RepoId {
            owner: owner.into(),
            name: name.into(),
            branch: branch.into(),
        }
    }
    pub fn full(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// A file of a repository as read: text and git mode (`100644`, `100755`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    pub text: String,
    pub mode: String,
}

/// One changed file: its old content (None when new), new content and git mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: String,
    #[serde(skip)]
    pub old: Option<String>,
    #[serde(skip)]
    pub new: String,
    pub mode: String,
}

impl FileChange {
    pub fn modify(path: &str, old: &str, new: String, mode: Option<&str>) -> FileChange {
        FileChange {
            path: path.to_string(),
            old: Some(old.to_string()),
            new,
            mode: mode.unwrap_or("100644").to_string(),
        }
    }
}

/// One commit of an edit: its subject and the files it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Commit {
    pub title: String,
    pub changes: Vec<FileChange>,
    /// A command the local applier runs in the checkout after writing the files and before
    /// committing (e.g. a generator script); what it changes joins the commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<Vec<String>>,
}

/// A `repository_dispatch` event to send instead of (or besides) file changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dispatch {
    pub event_type: String,
    pub client_payload: serde_json::Value,
}

/// Where an edit's commits go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "to", content = "branch")]
pub enum Target {
    /// Straight onto the repository's base branch (valkey-hashes).
    Base,
    /// A branch, then a PR with this title.
    Pr { branch: String, title: String },
}

/// The computed change of one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edit {
    pub repo: RepoId,
    pub target: Target,
    /// In order; commits without changes are dropped by [`Edit::commits_with_changes`].
    pub commits: Vec<Commit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<Dispatch>,
    /// One line per change, for the commit/PR body and the report.
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    /// Extra PR body text (e.g. the files a new minor created).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub body_extra: String,
}

impl Edit {
    /// An empty edit of `repo` going to `target`.
    pub fn new(repo: RepoId, target: Target) -> Edit {
        Edit {
            repo,
            target,
            commits: Vec::new(),
            dispatch: None,
            notes: Vec::new(),
            warnings: Vec::new(),
            body_extra: String::new(),
        }
    }
    /// Add a commit (dropped later when it has no changes and runs nothing).
    pub fn commit(&mut self, title: impl Into<String>, changes: Vec<FileChange>) {
        self.commits.push(Commit {
            title: title.into(),
            changes,
            run: None,
        });
    }
    /// The commits that change something.
    pub fn commits_with_changes(&self) -> Vec<&Commit> {
        self.commits.iter().filter(|c| !c.changes.is_empty() || c.run.is_some()).collect()
    }
    /// Every file change, in commit order (a file changed twice appears twice).
    pub fn changes(&self) -> Vec<&FileChange> {
        self.commits.iter().flat_map(|c| c.changes.iter()).collect()
    }
    /// The final content of every changed file (last write wins), in first-change order.
    pub fn final_changes(&self) -> Vec<FileChange> {
        let mut out: Vec<FileChange> = Vec::new();
        for c in self.changes() {
            match out.iter_mut().find(|x| x.path == c.path) {
                Some(x) => {
                    x.new = c.new.clone();
                    x.mode = c.mode.clone();
                }
                None => out.push(c.clone()),
            }
        }
        out
    }
    /// Does applying this edit change anything?
    pub fn is_empty(&self) -> bool {
        self.commits_with_changes().is_empty() && self.dispatch.is_none()
    }
    /// The branch the commits go on (`None`: the base branch).
    pub fn branch(&self) -> Option<&str> {
        match &self.target {
            Target::Base => None,
            Target::Pr { branch, .. } => Some(branch),
        }
    }
    /// The PR title (`None`: committed straight).
    pub fn pr_title(&self) -> Option<&str> {
        match &self.target {
            Target::Base => None,
            Target::Pr { title, .. } => Some(title),
        }
    }
    /// The files changed (final paths, in order).
    pub fn files(&self) -> Vec<String> {
        self.final_changes().into_iter().map(|c| c.path).collect()
    }
    /// The commit titles, in order (those that change something).
    pub fn titles(&self) -> Vec<String> {
        self.commits_with_changes().iter().map(|c| c.title.clone()).collect()
    }
}

/// Commit author/committer and the DCO sign-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            name: "valkey-release".into(),
            email: "noreply@valkey.io".into(),
        }
    }
}

impl Identity {
    /// `Name <email>`.
    pub fn parse(s: &str) -> Result<Identity> {
        let bad = || Error::input(format!("--author {s:?}: expected \"Name <email>\""));
        let (name, rest) = s.split_once('<').ok_or_else(bad)?;
        let email = rest.trim().strip_suffix('>').ok_or_else(bad)?;
        if name.trim().is_empty() || email.trim().is_empty() || email.contains(['<', '>', '\n']) || name.contains('\n') {
            return Err(bad());
        }
        Ok(Identity {
            name: name.trim().to_string(),
            email: email.trim().to_string(),
        })
    }
    /// The DCO trailer line.
    pub fn signoff(&self) -> String {
        format!("Signed-off-by: {} <{}>", self.name, self.email)
    }
}

/// A commit message: subject, body lines, and the DCO trailer (`Signed-off-by:`), ending in a newline.
pub fn commit_message(title: &str, notes: &[String], id: &Identity) -> String {
    let mut m = format!("{title}\n\n");
    for n in notes {
        m.push_str(&format!("- {n}\n"));
    }
    if !notes.is_empty() {
        m.push('\n');
    }
    m.push_str(&id.signoff());
    m.push('\n');
    m
}

/// Unified diff of `changes`, git style (`diff --git a/p b/p`), applicable with `git apply`.
pub fn unified_diff<'a>(changes: impl IntoIterator<Item = &'a FileChange>) -> String {
    let mut out = String::new();
    for c in changes {
        let old = c.old.as_deref().unwrap_or("");
        out.push_str(&format!("diff --git a/{0} b/{0}\n", c.path));
        if c.old.is_none() {
            out.push_str(&format!("new file mode {}\n", c.mode));
        }
        let a = if c.old.is_none() {
            "/dev/null".to_string()
        } else {
            format!("a/{}", c.path)
        };
        let b = format!("b/{}", c.path);
        let d = similar::TextDiff::from_lines(old, c.new.as_str());
        let text = d.unified_diff().context_radius(3).header(&a, &b).to_string();
        out.push_str(&text);
        if !text.is_empty() && !text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Reject a repository path that could escape a directory (`..`, absolute, empty).
pub fn safe_rel_path(p: &str) -> Result<&Path> {
    let path = Path::new(p);
    if p.is_empty() || path.is_absolute() || path.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
        return Err(Error::input(format!("refusing repository path {p:?}")));
    }
    Ok(path)
}

/// Reject a repository or owner name that is not one plain path component
/// (`--repo ../../x` must not write outside the hand-off directory).
pub fn check_repo_name(what: &str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 100
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::input(format!(
            "{what} {s:?}: not a GitHub name (letters, digits, '-', '_', '.'; no '/' or '..')"
        )))
    }
}
