//! Stage: publish — the hand-offs after a production upload.
//!
//! - [`hashes`]: the line in valkey-hashes' `README` (committed straight to `main`, or a PR).
//! - [`container`]: valkey-container's `versions.json`, aliases and Dockerfiles (PR `update-<V>`).
//! - [`website`]: the valkey.io download page (PR `update-website-<V>`).
//!
//! Each is computed as a pure edit of the target repository's files ([`compute`]) and then
//! applied in one of three ways: a local git checkout ([`git`]), GitHub through octocrab
//! ([`github`]), or patch files for review ([`handoff`]). `dry_run` computes and shows the diff.
//! Re-runs are idempotent: nothing to change means no commit and no PR.
//!
//! The `release` command calls [`publish`] with a plain [`Options`] and gets an [`Outcome`];
//! [`Outcome::done`] says whether the step is already done (line present, PR open or merged).

pub mod container;
pub mod git;
pub mod github;
pub mod handoff;
pub mod hashes;
pub mod source;
pub mod website;

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::version::Version;
use serde::Serialize;
use source::Source;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which hand-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The line in valkey-io/valkey-hashes' README.
    Hashes,
    /// versions.json, aliases and Dockerfiles in valkey-io/valkey-container.
    Container,
    /// The download page in valkey-io/valkey-io.github.io.
    Website,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Hashes => "hashes",
            Kind::Container => "container",
            Kind::Website => "website",
        }
    }
    /// The repository and base branch used unless configured otherwise.
    pub fn default_repo(self) -> RepoId {
        let (name, branch) = match self {
            Kind::Hashes => ("valkey-hashes", "main"),
            Kind::Container => ("valkey-container", "mainline"),
            Kind::Website => ("valkey-io.github.io", "main"),
        };
        RepoId {
            owner: "valkey-io".into(),
            name: name.into(),
            branch: branch.into(),
        }
    }
    /// The branch the change is committed on (for hashes only with `--via-pr`).
    pub fn branch(self, v: &str) -> String {
        match self {
            Kind::Hashes => format!("update-hash-{v}"),
            Kind::Container => format!("update-{v}"),
            Kind::Website => format!("update-website-{v}"),
        }
    }
    /// Commit message subject and PR title.
    pub fn title(self, v: &str) -> String {
        match self {
            Kind::Hashes => format!("Update hash for {v}"),
            Kind::Container => format!("Update to version {v}"),
            Kind::Website => format!("Add download page for Valkey {v}"),
        }
    }
}

/// A GitHub repository and its base branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoId {
    pub owner: String,
    pub name: String,
    pub branch: String,
}

impl RepoId {
    pub fn full(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
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

/// The computed edit of one repository.
#[derive(Debug, Clone, Default)]
pub struct Edit {
    pub changes: Vec<FileChange>,
    pub warnings: Vec<String>,
    /// One line per change, for the commit/PR body and the report.
    pub notes: Vec<String>,
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
    /// Patch files were written for review (--handoff).
    HandoffWritten,
}

/// What a hand-off did; `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub kind: Kind,
    pub version: String,
    /// `owner/name` (GitHub), or the checkout / handoff directory.
    pub repo: String,
    /// `github`, `checkout`, `handoff`.
    pub mode: String,
    pub dry_run: bool,
    pub state: State,
    /// Whether this run changed (or, dry-run, would change) anything.
    pub changed: bool,
    pub files: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_number: Option<u64>,
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
    /// Is the step done (nothing left for this tool to do)? True for unchanged, committed,
    /// pushed and any open PR; false for a dry-run that would change something.
    pub fn done(&self) -> bool {
        !matches!(self.state, State::WouldChange)
    }
    /// One line for a person.
    pub fn summary(&self) -> String {
        let what = match self.state {
            State::Unchanged => "nothing to change: already up to date".to_string(),
            State::WouldChange => format!("would change {} file(s) (dry run; nothing written)", self.files.len()),
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
            State::HandoffWritten => {
                format!(
                    "patch written for review: {}",
                    self.handoff_files.first().map(|p| p.display().to_string()).unwrap_or_default()
                )
            }
        };
        format!("{} {} ({}): {what}", self.kind.name(), self.version, self.repo)
    }
}

/// A token that never prints.
#[derive(Clone, Default)]
pub struct Secret(pub String);
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How to reach GitHub.
#[derive(Debug, Clone)]
pub struct GitHubOptions {
    /// API base URL (`https://api.github.com`; tests point it at a local server).
    pub api_url: String,
    /// GITHUB_TOKEN; without it GitHub is read anonymously (public repositories) and never written.
    pub token: Option<Secret>,
    /// First retry delay for 5xx and transport errors (doubles each time). Default 1 s, or
    /// `VALKEY_RELEASE_GITHUB_RETRY_MS` (milliseconds; tests shorten it).
    pub retry_base: Duration,
    /// Attempts per request, including the first.
    pub max_attempts: u32,
    /// Longest wait honoured for a Retry-After / rate-limit reset.
    pub max_wait: Duration,
}

impl Default for GitHubOptions {
    fn default() -> Self {
        GitHubOptions {
            api_url: "https://api.github.com".into(),
            token: None,
            retry_base: Duration::from_millis(
                std::env::var("VALKEY_RELEASE_GITHUB_RETRY_MS")
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .unwrap_or(1000),
            ),
            max_attempts: 5,
            max_wait: Duration::from_secs(300),
        }
    }
}

/// Where the change goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Apply {
    /// GitHub when a token is set, else an error asking for --checkout or --handoff
    /// (with `dry_run`, GitHub is read anonymously).
    Auto,
    /// A local git checkout of the repository; `push` pushes to its remote.
    Checkout { dir: PathBuf, push: bool },
    /// Patch files under `dir` for review; the base files come from [`Options::base`], else GitHub.
    Handoff { dir: PathBuf },
    /// GitHub (needs the token).
    GitHub,
}

/// Commit identity for GitHub commits and handoff patches (local mode uses git config).
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

/// Everything a hand-off needs. Build with [`Options::new`] and set what differs.
#[derive(Debug, Clone)]
pub struct Options {
    pub version: Version,
    /// dist/ with manifest.json (artifacts for the website, source digest for hashes/container).
    pub dist: PathBuf,
    /// Page date (YYYY-MM-DD); default: the existing page's date, else today (UTC).
    pub date: Option<String>,
    pub dry_run: bool,
    pub apply: Apply,
    /// Read the repository's files from this directory (a checkout or a plain copy) in handoff
    /// and dry-run modes instead of GitHub.
    pub base: Option<PathBuf>,
    pub github: GitHubOptions,
    /// Repository override (owner, name, base branch); None -> [`Kind::default_repo`].
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
            identity: Identity::default(),
        }
    }
    pub fn repo_for(&self, kind: Kind) -> RepoId {
        self.repo.clone().unwrap_or_else(|| kind.default_repo())
    }
}

/// valkey-hashes hand-off.
pub async fn publish_hashes(opts: &Options) -> Result<Outcome> {
    publish(Kind::Hashes, opts).await
}
/// valkey-container hand-off.
pub async fn publish_container(opts: &Options) -> Result<Outcome> {
    publish(Kind::Container, opts).await
}
/// valkey.io download page hand-off.
pub async fn publish_website(opts: &Options) -> Result<Outcome> {
    publish(Kind::Website, opts).await
}

/// Is the hand-off already done? Runs it as a dry run (reads only, writes nothing): the
/// outcome's state is `unchanged` (line present / change merged), `pr-open` (GitHub: the PR
/// branch holds the change and a PR is open) or `would-change`; see [`Outcome::done`].
pub async fn check(kind: Kind, opts: &Options) -> Result<Outcome> {
    let mut o = opts.clone();
    o.dry_run = true;
    publish(kind, &o).await
}

/// Compute the edit for `kind` and apply it as `opts.apply` says.
pub async fn publish(kind: Kind, opts: &Options) -> Result<Outcome> {
    if opts.version.is_unstable() {
        return Err(Error::input(format!(
            "publish {}: 'unstable' is never published (its valkey-hashes line is fixed)",
            kind.name()
        )));
    }
    if let Some(d) = &opts.date {
        website::check_date(d)?;
    }
    if opts.apply_templates && !matches!(opts.apply, Apply::Checkout { .. }) {
        return Err(Error::input(
            "--apply-templates runs the repository's script and needs --checkout DIR",
        ));
    }
    let apply = match &opts.apply {
        Apply::Auto => {
            if opts.github.token.is_some() {
                Apply::GitHub
            } else if opts.dry_run {
                if let Some(b) = &opts.base {
                    Apply::Handoff { dir: b.clone() }
                } else {
                    Apply::GitHub
                }
            } else {
                return Err(Error::input(format!(
                    "publish {}: nowhere to apply the change: give --checkout DIR (a local clone), --handoff DIR (patch files \
                     for review), or set GITHUB_TOKEN for GitHub mode (--dry-run only shows the diff)",
                    kind.name()
                )));
            }
        }
        a => a.clone(),
    };
    match apply {
        Apply::Checkout { dir, push } => git::apply(kind, opts, &dir, push).await,
        Apply::GitHub => {
            if opts.github.token.is_none() && !opts.dry_run {
                return Err(Error::input("GitHub mode needs GITHUB_TOKEN (or use --checkout / --handoff)"));
            }
            github::apply(kind, opts).await
        }
        Apply::Handoff { dir } => {
            let repo = opts.repo_for(kind);
            let src = match &opts.base {
                Some(b) => Source::dir(b),
                None => Source::github(github::Client::new(&opts.github)?, repo.clone(), None).await?,
            };
            let edit = compute(kind, opts, &src).await?;
            let dir = if opts.dry_run { None } else { Some(dir) };
            handoff::apply(kind, opts, &repo, edit, dir.as_deref()).await
        }
        Apply::Auto => unreachable!("resolved above"),
    }
}

/// Compute the edit of `kind` against the files `src` holds.
pub async fn compute(kind: Kind, opts: &Options, src: &Source) -> Result<Edit> {
    match kind {
        Kind::Hashes => {
            let old = src.read_required(hashes::HASHES_FILE).await?;
            let (hex, origin) = resolve_source_sha256(opts).await?;
            let e = hashes::edit_hashes(&old.text, &opts.version, &hex, opts.replace)?;
            let mut edit = Edit {
                warnings: e.warnings,
                ..Default::default()
            };
            match &e.action {
                hashes::HashesAction::Appended => edit.notes.push(format!(
                    "README: added {} (sha256 from {origin})",
                    hashes::archive_name(opts.version.as_str())
                )),
                hashes::HashesAction::Replaced { old_sha256 } => edit.notes.push(format!(
                    "README: replaced the line for {} (sha256 {old_sha256} -> {hex}, --replace)",
                    hashes::archive_name(opts.version.as_str())
                )),
                hashes::HashesAction::AlreadyPresent => {}
            }
            if e.text != old.text {
                edit.changes
                    .push(FileChange::modify(hashes::HASHES_FILE, &old.text, e.text, Some(&old.mode)));
            }
            Ok(edit)
        }
        Kind::Container => {
            let vj = src.read_required(container::VERSIONS_JSON).await?;
            let sb = src.read(container::STACKBREW).await?;
            let mut files = BTreeMap::new();
            for d in container::needed_dirs(&vj.text, &opts.version)? {
                for p in src.list(&format!("{d}/")).await? {
                    if let Some(f) = src.read(&p).await? {
                        files.insert(p, f);
                    }
                }
            }
            let (hex, _origin) = resolve_source_sha256(opts).await?;
            let url = hashes::tag_archive_url(opts.version.as_str());
            let e = container::edit_container(&container::ContainerInput {
                versions_json: &vj.text,
                stackbrew: sb.as_ref().map(|f| f.text.as_str()),
                files: &files,
                version: &opts.version,
                url: &url,
                sha256: &hex,
                regenerate: opts.apply_templates,
            })?;
            Ok(Edit {
                changes: e.changes,
                warnings: e.warnings,
                notes: e.notes,
            })
        }
        Kind::Website => {
            let tpl = src.read_required(website::TEMPLATE).await?;
            let path = website::page_path(opts.version.as_str());
            let existing = src.read(&path).await?;
            let manifest = Manifest::load(&opts.dist).map_err(|e| e.context("website: the artifacts list comes from manifest.json"))?;
            if manifest.version != opts.version.as_str() {
                return Err(Error::input(format!(
                    "{}: version {} does not match --version {}",
                    Manifest::path(&opts.dist).display(),
                    manifest.version,
                    opts.version
                )));
            }
            let artifacts: Vec<(String, String)> = manifest.artifacts.iter().map(|a| (a.distro.clone(), a.arch.clone())).collect();
            let (suite, alpine) = resolve_suites(opts).await?;
            let date = match (&opts.date, existing.as_ref().and_then(|p| website::page_date(&p.text))) {
                (Some(d), _) => d.clone(),
                (None, Some(d)) => d,
                (None, None) => chrono::Utc::now().format("%Y-%m-%d").to_string(),
            };
            let tags = website::tags(&opts.version, &suite, &alpine)?;
            let page = website::render_page(&tpl.text, &opts.version, &date, &tags, &artifacts)?;
            let mut edit = Edit::default();
            if existing.as_ref().map(|f| f.text.as_str()) != Some(page.as_str()) {
                edit.notes.push(format!(
                    "{path}: {} page dated {date}, tags {}, artifacts {}",
                    if existing.is_some() { "updated" } else { "new" },
                    tags.join(" "),
                    artifacts.iter().map(|(d, a)| format!("{d}-{a}")).collect::<Vec<_>>().join(" ")
                ));
                edit.changes.push(FileChange {
                    path,
                    old: existing.map(|f| f.text),
                    new: page,
                    mode: "100644".into(),
                });
            }
            Ok(edit)
        }
    }
}

/// The sha256 of GitHub's tag archive and where it came from: `--source-sha256`, else
/// manifest.json when the build used the tag archive, else downloaded and hashed.
pub async fn resolve_source_sha256(opts: &Options) -> Result<(String, String)> {
    let v = opts.version.as_str();
    if let Some(h) = &opts.source_sha256 {
        if !crate::fsutil::is_sha256_hex(h) {
            return Err(Error::input(format!("--source-sha256 {h:?} is not 64 hex digits")));
        }
        return Ok((h.to_ascii_lowercase(), "--source-sha256".into()));
    }
    if let Some(m) = Manifest::load_if_present(&opts.dist)? {
        let s = &m.source;
        let tag_url = hashes::tag_archive_url(v);
        let is_tag_archive = (s.kind == "archive" || s.kind == "url")
            && (s.name == hashes::archive_name(v) || s.name == format!("{v}.tar.gz") || s.url.as_deref() == Some(tag_url.as_str()));
        if m.version == v && is_tag_archive {
            if let Some(h) = s.sha256.as_deref().filter(|h| crate::fsutil::is_sha256_hex(h)) {
                return Ok((
                    h.to_ascii_lowercase(),
                    format!("{} (source {})", Manifest::path(&opts.dist).display(), s.name),
                ));
            }
        }
    }
    let url = opts.source_url.clone().unwrap_or_else(|| hashes::tag_archive_url(v));
    let hex = download_sha256(&url).await?;
    Ok((hex, format!("downloaded {url}")))
}

/// Download `url` and hash it (streaming), with a few retries on 5xx and transport errors.
pub async fn download_sha256(url: &str) -> Result<String> {
    use futures_util::StreamExt;
    use sha2::Digest;
    let client = reqwest::Client::builder()
        .user_agent(concat!("valkey-release/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::external(format!("HTTP client: {e}")))?;
    let mut last = String::new();
    for attempt in 0..4u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
        }
        let resp = match client.get(url).send().await {
            Ok(r) => r,
            Err(e) => {
                last = format!("{e}");
                continue;
            }
        };
        let st = resp.status();
        if st.is_server_error() {
            last = format!("HTTP {st}");
            continue;
        }
        if !st.is_success() {
            return Err(Error::external(format!(
                "downloading {url} to hash it: HTTP {st} (give --source-sha256 HEX instead)"
            )));
        }
        let mut h = sha2::Sha256::new();
        let mut stream = resp.bytes_stream();
        let mut failed = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => h.update(&b),
                Err(e) => {
                    failed = Some(format!("{e}"));
                    break;
                }
            }
        }
        match failed {
            None => return Ok(hex::encode(h.finalize())),
            Some(e) => last = e,
        }
    }
    Err(Error::external(format!(
        "downloading {url} to hash it failed after retries: {last} (give --source-sha256 HEX instead)"
    )))
}

/// Debian suite and Alpine version for the website tags: the flags, else valkey-container's
/// versions.json (the `--container-checkout` working tree, else GitHub).
pub async fn resolve_suites(opts: &Options) -> Result<(String, String)> {
    if let (Some(d), Some(a)) = (&opts.debian_suite, &opts.alpine_version) {
        return Ok((d.clone(), a.clone()));
    }
    let mm = opts.version.major_minor().unwrap_or_default();
    let text = match &opts.container_checkout {
        Some(dir) => {
            let p = dir.join(container::VERSIONS_JSON);
            std::fs::read_to_string(&p).map_err(|e| Error::io(&p, "read", e))?
        }
        None => {
            let repo = opts.container_repo.clone().unwrap_or_else(|| Kind::Container.default_repo());
            let client = github::Client::new(&opts.github)?;
            let src = Source::github(client, repo.clone(), None).await?;
            src.read_required(container::VERSIONS_JSON)
                .await
                .map_err(|e| {
                    e.context(format!(
                        "reading {} (or give --debian-suite and --alpine-version, or --container-checkout DIR)",
                        repo.full()
                    ))
                })?
                .text
        }
    };
    let (d, a) = container::suites_for(&text, &mm)?;
    Ok((opts.debian_suite.clone().unwrap_or(d), opts.alpine_version.clone().unwrap_or(a)))
}

/// Unified diff of all changes, git style (`diff --git a/p b/p`), applicable with `git apply`.
pub fn unified_diff(changes: &[FileChange]) -> String {
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

/// The PR body / commit body: what changed, links to the artifacts, warnings.
pub fn pr_body(kind: Kind, opts: &Options, edit: &Edit) -> String {
    let mut b = String::new();
    b.push_str(&format!("{}.\n\nChanges:\n", kind.title(opts.version.as_str())));
    for n in &edit.notes {
        b.push_str(&format!("- {n}\n"));
    }
    b.push_str("\nFiles:\n");
    for c in &edit.changes {
        b.push_str(&format!("- `{}`{}\n", c.path, if c.old.is_none() { " (new)" } else { "" }));
    }
    let v = opts.version.as_str();
    b.push_str(&format!("\nSource: {}\n", hashes::tag_archive_url(v)));
    if let Ok(Some(m)) = Manifest::load_if_present(&opts.dist) {
        if m.version == v && !m.artifacts.is_empty() {
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

/// Build the outcome of a computed edit (mode-specific fields filled by the caller).
pub(crate) fn outcome(kind: Kind, opts: &Options, repo: String, mode: &str, edit: &Edit, state: State) -> Outcome {
    Outcome {
        kind,
        version: opts.version.to_string(),
        repo,
        mode: mode.to_string(),
        dry_run: opts.dry_run,
        state,
        changed: !edit.changes.is_empty() && !matches!(state, State::Unchanged | State::PrOpen),
        files: edit.changes.iter().map(|c| c.path.clone()).collect(),
        branch: None,
        commit: None,
        pr_url: None,
        pr_number: None,
        diff: unified_diff(&edit.changes),
        notes: edit.notes.clone(),
        warnings: edit.warnings.clone(),
        handoff_files: Vec::new(),
        needs_merge: matches!(
            state,
            State::PrOpened | State::PrUpdated | State::PrOpen | State::Committed | State::HandoffWritten
        ),
    }
}

/// Reject a repository path that could escape a directory (`..`, absolute).
pub(crate) fn safe_rel_path(p: &str) -> Result<&Path> {
    let path = Path::new(p);
    if p.is_empty() || path.is_absolute() || path.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
        return Err(Error::input(format!("refusing repository path {p:?}")));
    }
    Ok(path)
}
