//! What applying an edit did: [`Outcome`], with its [`State`] and [`Mode`] as enums.

use super::edit::{unified_diff, Edit};
use serde::Serialize;
use std::path::PathBuf;

/// How the change was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// GitHub's REST API (GITHUB_TOKEN).
    GitHub,
    /// A local git checkout.
    Checkout,
    /// Files written for review (patches, the dispatch request).
    Handoff,
}

/// The state a hand-off ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Nothing to change: the target already holds this release (line present, PR merged).
    Unchanged,
    /// `--dry-run`: this would change (see the diff).
    WouldChange,
    /// Committed locally (checkout) or straight to the base branch (GitHub, hashes).
    Committed,
    /// Committed and pushed (checkout with --push).
    Pushed,
    /// A new PR was opened.
    PrOpened,
    /// An existing PR from the same branch was found and its branch/title/body updated.
    PrUpdated,
    /// The PR branch already holds the change and a PR is open: nothing was written.
    PrOpen,
    /// Patch files (or the dispatch request) were written for review (--handoff).
    HandoffWritten,
    /// The repository_dispatch event was sent (HTTP 204).
    Dispatched,
    /// This hand-off does not apply to this version (e.g. valkey-doc for a patch release).
    NotApplicable,
}

/// What a hand-off did; `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The hand-off's name (`hashes`, `container`, ...).
    pub kind: &'static str,
    pub version: String,
    /// `owner/name` (GitHub), or the checkout / handoff directory.
    pub repo: String,
    pub mode: Mode,
    pub dry_run: bool,
    pub state: State,
    /// Whether this run changed (or, dry-run, would change) anything.
    pub changed: bool,
    pub files: Vec<String>,
    /// Commit subjects, in order (what was or would be committed).
    pub commits: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_number: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<super::edit::Dispatch>,
    /// Unified diff of the change (empty when nothing changes).
    pub diff: String,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    /// Files written by --handoff.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handoff_files: Vec<PathBuf>,
    /// A person still has to review and merge (an open PR, or a local commit not yet pushed).
    pub needs_merge: bool,
}

impl Outcome {
    /// The outcome of `edit` in `state` (mode-specific fields filled by the applier).
    pub fn of(edit: &Edit, repo: String, mode: Mode, dry_run: bool, state: State) -> Outcome {
        let finals = edit.final_changes();
        Outcome {
            kind: "",
            version: String::new(),
            repo,
            mode,
            dry_run,
            state,
            changed: !edit.is_empty() && !matches!(state, State::Unchanged | State::PrOpen | State::NotApplicable),
            files: finals.iter().map(|c| c.path.clone()).collect(),
            commits: edit.titles(),
            pr_title: edit.pr_title().map(str::to_string),
            branch: edit.branch().map(str::to_string),
            commit: None,
            pr_url: None,
            pr_number: None,
            dispatch: edit.dispatch.clone(),
            diff: unified_diff(&finals),
            notes: edit.notes.clone(),
            warnings: edit.warnings.clone(),
            handoff_files: Vec::new(),
            needs_merge: matches!(
                state,
                State::PrOpened | State::PrUpdated | State::PrOpen | State::Committed | State::HandoffWritten
            ),
        }
    }

    /// Is the step done (nothing left for this tool to do)? True for everything but a dry run
    /// that would change something.
    pub fn done(&self) -> bool {
        !matches!(self.state, State::WouldChange)
    }

    /// One line for a person.
    pub fn summary(&self) -> String {
        let what = match self.state {
            State::Unchanged => "nothing to change: already up to date".to_string(),
            State::NotApplicable => "not applicable to this version".to_string(),
            State::WouldChange => match &self.dispatch {
                Some(d) => format!("would send repository_dispatch {} (dry run)", d.event_type),
                None => format!("would change {} file(s) (dry run; nothing written)", self.files.len()),
            },
            State::Committed => format!("committed {}", self.commit.as_deref().unwrap_or("")),
            State::Pushed => format!("committed and pushed {}", self.commit.as_deref().unwrap_or("")),
            State::PrOpened => format!(
                "opened {}: a person must review and merge it",
                self.pr_url.as_deref().unwrap_or("a PR")
            ),
            State::PrUpdated => format!(
                "updated {}: a person must review and merge it",
                self.pr_url.as_deref().unwrap_or("the PR")
            ),
            State::PrOpen => format!(
                "already open, nothing written: {} (a person must merge it)",
                self.pr_url.as_deref().unwrap_or("PR")
            ),
            State::HandoffWritten => format!(
                "written for review: {}",
                self.handoff_files.first().map(|p| p.display().to_string()).unwrap_or_default()
            ),
            State::Dispatched => format!(
                "sent repository_dispatch {}",
                self.dispatch.as_ref().map(|d| d.event_type.as_str()).unwrap_or("")
            ),
        };
        let titles = match (&self.pr_title, self.commits.first()) {
            (Some(t), _) => format!(" \"{t}\""),
            (None, Some(c)) => format!(" \"{c}\""),
            _ => String::new(),
        };
        format!("{} {} ({}){titles}: {what}", self.kind, self.version, self.repo)
    }
}
