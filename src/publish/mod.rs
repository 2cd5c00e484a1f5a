//! Stage: publish — the hand-offs after a production upload.
//!
//! Each hand-off is one file implementing [`handoff::Handoff`], run in the order of
//! [`handoff::table`]:
//! - [`hashes`]: the line in valkey-hashes' `README` (committed straight to `main`, or a PR);
//! - [`container`]: valkey-container's `versions.json`, Dockerfiles and aliases (PR `update-<V>`);
//! - [`bundle`]: the `repository_dispatch` to valkey-bundle (>= 8.1.0);
//! - [`website`]: the valkey.io download page (PR `update-website-<V>`, release candidates too);
//! - [`docs`]: valkey-doc for a GA `M.m.0` (PR `update-docs-<V>`).
//!
//! A hand-off computes an [`edit::Edit`] (commits with their titles, the branch, the PR, or a
//! dispatch) from plain inputs; an applier in [`apply`] takes it — a local git checkout, GitHub
//! through octocrab, or patch files for review — and knows no hand-off. `dry_run` computes and
//! shows the diff. Re-runs are idempotent: nothing to change means no commit and no PR.
//!
//! Modules depend one way: `edit`, `outcome` <- `gitcli`, `github_api` <- `source` <- `apply`,
//! hand-offs <- this file.

pub mod apply;
pub mod args;
pub mod bundle;
pub mod container;
pub mod digest;
pub mod docs;
pub mod edit;
pub mod gitcli;
pub mod github_api;
pub mod handoff;
pub mod hashes;
pub mod modules_doc;
pub mod outcome;
pub mod source;
pub mod website;

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::version::Version;
pub use apply::Apply;
pub use edit::{Edit, FileChange, Identity, RepoId};
pub use github_api::{GitHubOptions, Secret};
pub use handoff::Handoff;
pub use outcome::{Mode, Outcome, State};
use std::path::PathBuf;

/// Everything a hand-off needs. Build with [`Options::new`] and set what differs.
#[derive(Debug, Clone)]
pub struct Options {
    pub version: Version,
    /// dist/ with manifest.json (artifacts for the website, source digest for hashes/container).
    pub dist: PathBuf,
    /// Page date and valkey-doc DATE (YYYY-MM-DD); default: the existing page's date, else
    /// today (UTC).
    pub date: Option<String>,
    pub dry_run: bool,
    pub apply: Apply,
    /// Read the repository's files from this directory (a checkout or a plain copy) in handoff
    /// and dry-run modes instead of GitHub.
    pub base: Option<PathBuf>,
    pub github: GitHubOptions,
    /// Repository override (owner, name, base branch); None -> [`Handoff::default_repo`].
    pub repo: Option<RepoId>,
    /// valkey-container repository, for the website's tags when read through GitHub.
    pub container_repo: Option<RepoId>,
    /// sha256 of GitHub's tag archive; else manifest.json's when the build used it, else downloaded.
    pub source_sha256: Option<String>,
    /// Archive to download and hash when the digest is not known (default: the tag archive URL).
    pub source_url: Option<String>,
    /// hashes: replace a different digest for the same file (re-tag).
    pub replace: bool,
    /// hashes: open a PR instead of committing straight to the base branch.
    pub via_pr: bool,
    /// container: run `./apply-templates.sh M.m` in the checkout instead of substituting.
    pub apply_templates: bool,
    /// website: valkey-container checkout to read versions.json from.
    pub container_checkout: Option<PathBuf>,
    pub debian_suite: Option<String>,
    pub alpine_version: Option<String>,
    /// valkey-doc: `topics/modules-api-ref.md` as generated from the release's source by its
    /// `utils/generate-module-api-doc.rb` (None: the file is left as it is, with a warning).
    pub modules_api_ref: Option<String>,
    /// Author and sign-off of GitHub commits and handoff patches.
    pub identity: Identity,
}

impl Options {
    pub fn new(version: Version) -> Options {
        Options {
            version,
            dist: PathBuf::from("dist"),
            date: None,
            dry_run: false,
            apply: Apply::Auto,
            base: None,
            github: GitHubOptions::default(),
            repo: None,
            container_repo: None,
            source_sha256: None,
            source_url: None,
            replace: false,
            via_pr: false,
            apply_templates: false,
            container_checkout: None,
            debian_suite: None,
            alpine_version: None,
            modules_api_ref: None,
            identity: Identity::default(),
        }
    }
    pub fn repo_for(&self, h: &dyn Handoff) -> RepoId {
        self.repo.clone().unwrap_or_else(|| h.default_repo())
    }
    /// The date for pages and valkey-doc: `--date`, else today (UTC).
    pub fn date_or_today(&self) -> String {
        self.date
            .clone()
            .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%d").to_string())
    }
}

/// Is the hand-off already done? Runs it as a dry run (reads only, writes nothing): the
/// outcome's state is `unchanged` (line present / change merged), `pr-open` (GitHub: the PR
/// branch holds the change and a PR is open) or `would-change`; see [`Outcome::done`].
pub async fn check(h: &dyn Handoff, opts: &Options) -> Result<Outcome> {
    let mut o = opts.clone();
    o.dry_run = true;
    publish(h, &o).await
}

/// The hand-off named `name` (exit 2 naming the known ones otherwise).
pub fn by_name(name: &str) -> Result<std::sync::Arc<dyn Handoff>> {
    handoff::find(name).ok_or_else(|| {
        Error::input(format!(
            "unknown hand-off {name:?}: expected one of {}",
            handoff::names().join(", ")
        ))
    })
}

/// Compute the edit of `h` and apply it as `opts.apply` says.
pub async fn publish(h: &dyn Handoff, opts: &Options) -> Result<Outcome> {
    if let Some(d) = &opts.date {
        website::check_date(d)?;
    }
    let repo = opts.repo_for(h);
    edit::check_repo_name("--owner", &repo.owner)?;
    edit::check_repo_name("--repo", &repo.name)?;
    if let Err(reason) = h.applies(&opts.version) {
        if opts.version.is_unstable() && !opts.dry_run && matches!(h.name(), "hashes" | "container" | "website") {
            return Err(Error::input(format!(
                "publish {}: 'unstable' is never published ({reason})",
                h.name()
            )));
        }
        let mut e = h.shape(opts);
        e.notes.push(format!("not applicable: {reason}"));
        e.commits.clear();
        e.dispatch = None;
        let mut o = Outcome::of(&e, repo.full(), Mode::Handoff, opts.dry_run, State::NotApplicable);
        o.kind = h.name();
        o.version = opts.version.to_string();
        return Ok(o);
    }
    if opts.apply_templates && !matches!(opts.apply, Apply::Checkout { .. }) {
        return Err(Error::input(
            "--apply-templates runs the repository's script and needs --checkout DIR",
        ));
    }
    let applier = apply::resolve(h.name(), opts)?;
    let shape = h.shape(opts);
    let src = if h.reads_files() {
        applier.source(&repo, &shape).await?
    } else {
        source::Source::Empty
    };
    let edit = h.compute(opts, &src).await?;
    let ctx = apply::Ctx {
        name: h.name(),
        dry_run: opts.dry_run,
        identity: &opts.identity,
        body: pr_body(opts, &edit),
    };
    let mut o = applier.apply(edit, &ctx).await?;
    o.kind = h.name();
    o.version = opts.version.to_string();
    Ok(o)
}

/// The PR body / commit body: what changed, links to the artifacts, warnings.
pub fn pr_body(opts: &Options, edit: &Edit) -> String {
    let mut b = String::new();
    let title = edit
        .pr_title()
        .map(str::to_string)
        .or_else(|| edit.titles().first().cloned())
        .unwrap_or_default();
    b.push_str(&format!("{title}.\n\nChanges:\n"));
    for n in &edit.notes {
        b.push_str(&format!("- {n}\n"));
    }
    b.push_str("\nFiles:\n");
    for c in edit.final_changes() {
        b.push_str(&format!("- `{}`{}\n", c.path, if c.old.is_none() { " (new)" } else { "" }));
    }
    if !edit.body_extra.is_empty() {
        b.push('\n');
        b.push_str(&edit.body_extra);
    }
    let v = opts.version.as_str();
    b.push_str(&format!("\nSource: {}\n", hashes::tag_archive_url(v)));
    if let Ok(Some(m)) = Manifest::load_if_present(&opts.dist) {
        if m.is_release(v) && !m.artifacts.is_empty() {
            b.push_str("\nArtifacts:\n");
            for a in &m.artifacts {
                b.push_str(&format!(
                    "- https://download.valkey.io/releases/{} (sha256 `{}`)\n",
                    a.file, a.sha256
                ));
            }
        }
    }
    if !edit.warnings.is_empty() {
        b.push_str("\nWarnings:\n");
        for w in &edit.warnings {
            b.push_str(&format!("- {w}\n"));
        }
    }
    b.push_str("\nGenerated by valkey-release; a maintainer reviews and merges it.\n");
    b
}
