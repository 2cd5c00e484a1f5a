//! The flags of `publish` (flattened into the CLI's arguments) and the options they ask for.

use super::{Apply, Identity, Options, RepoId, Secret};
use crate::error::{Error, Result};
use crate::publish;
use crate::version::Version;
use std::path::PathBuf;

/// The flags of `publish`.
#[derive(Debug, Clone, clap::Args)]
pub struct PublishArgs {
    /// Which hand-off: hashes (valkey-hashes README line), container (valkey-container PR),
    /// bundle (valkey-bundle dispatch), website (valkey.io download page PR), docs (valkey-doc PR).
    #[arg(value_parser = parse_handoff, value_name = "HANDOFF")]
    pub kind: String,
    /// Release version (M.m.p or M.m.p-rcN).
    #[arg(long, value_parser = crate::cli::parse_version)]
    pub version: Version,
    /// dist directory with manifest.json (artifacts, source digest).
    #[arg(long, default_value = "dist", value_name = "DIR")]
    pub dist: PathBuf,
    /// Page date, YYYY-MM-DD (website; default: the existing page's date, else today in UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<String>,
    /// Compute and print the diff; write, commit and push nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// A local git checkout of the target repository to commit in.
    #[arg(long, value_name = "DIR", conflicts_with = "handoff")]
    pub checkout: Option<PathBuf>,
    /// Push the commit to the checkout's remote (with --checkout).
    #[arg(long, requires = "checkout")]
    pub push: bool,
    /// Write patch files for review under DIR/<repository>/ instead of committing.
    #[arg(long, value_name = "DIR")]
    pub handoff: Option<PathBuf>,
    /// Read the repository's current files from DIR (a clone or a plain copy) for --handoff
    /// and --dry-run, instead of GitHub.
    #[arg(long, value_name = "DIR", conflicts_with = "checkout")]
    pub base: Option<PathBuf>,
    /// sha256 of GitHub's source archive for the tag (default: manifest.json's, else downloaded).
    #[arg(long, value_name = "HEX")]
    pub source_sha256: Option<String>,
    /// Archive to download and hash when the digest is not known (default: the tag archive).
    #[arg(long, value_name = "URL")]
    pub source_url: Option<String>,
    /// hashes: replace the line of a re-tagged release (a different digest) in place.
    #[arg(long)]
    pub replace: bool,
    /// hashes: open a PR (branch update-hash-<V>) instead of committing straight to main.
    #[arg(long)]
    pub via_pr: bool,
    /// container: run the repository's `./apply-templates.sh M.m` (needs --checkout) instead of
    /// substituting the Dockerfiles.
    #[arg(long)]
    pub apply_templates: bool,
    /// website: valkey-container checkout to read the debian suite / alpine version from.
    #[arg(long, value_name = "DIR")]
    pub container_checkout: Option<PathBuf>,
    /// website: Debian suite of the images (e.g. trixie).
    #[arg(long, value_name = "SUITE")]
    pub debian_suite: Option<String>,
    /// website: Alpine version of the images (e.g. 3.23).
    #[arg(long, value_name = "X.Y")]
    pub alpine_version: Option<String>,
    /// GitHub owner of the target repository.
    #[arg(long, default_value = "valkey-io")]
    pub owner: String,
    /// Target repository name (default: valkey-hashes, valkey-container, valkey-io.github.io).
    #[arg(long)]
    pub repo: Option<String>,
    /// Base branch (default: main, mainline, main).
    #[arg(long)]
    pub branch: Option<String>,
    /// valkey-container as owner/name[@branch], for the website's tags through GitHub.
    #[arg(long, value_name = "OWNER/NAME[@BRANCH]")]
    pub container_repo: Option<String>,
    /// GitHub API base URL.
    #[arg(long, env = "GITHUB_API_URL", default_value = "https://api.github.com", value_name = "URL")]
    pub github_api: String,
    /// Author and sign-off of GitHub commits and patches, as "Name <email>".
    #[arg(long, value_name = "NAME <EMAIL>")]
    pub author: Option<String>,
}

fn parse_handoff(s: &str) -> std::result::Result<String, String> {
    publish::by_name(s).map(|h| h.name().to_string()).map_err(|e| e.to_string())
}

fn parse_repo(s: &str) -> Result<RepoId> {
    let (repo, branch) = s.split_once('@').unwrap_or((s, "mainline"));
    let (owner, name) = repo
        .split_once('/')
        .ok_or_else(|| Error::input(format!("--container-repo {s:?}: expected owner/name[@branch]")))?;
    Ok(RepoId {
        owner: owner.into(),
        name: name.into(),
        branch: branch.into(),
    })
}

impl PublishArgs {
    /// The library options from these flags and the environment (GITHUB_TOKEN).
    pub fn options(&self) -> Result<Options> {
        crate::fsutil::check_dir_arg(&self.dist, "--dist", "the dist directory with manifest.json")?;
        for (opt, d, what) in [
            ("--checkout", &self.checkout, "a git checkout of the repository"),
            ("--handoff", &self.handoff, "where the patch files for review are written"),
            ("--base", &self.base, "a copy of the repository to read"),
            ("--container-checkout", &self.container_checkout, "a valkey-container checkout"),
        ] {
            if let Some(d) = d {
                crate::fsutil::check_dir_arg(d, opt, what)?;
            }
        }
        let mut o = Options::new(self.version.clone());
        o.dist = self.dist.clone();
        o.date = self.date.clone();
        o.dry_run = self.dry_run;
        o.apply = match (&self.checkout, &self.handoff) {
            (Some(d), _) => Apply::Checkout {
                dir: d.clone(),
                push: self.push,
            },
            (None, Some(h)) => Apply::Handoff { dir: h.clone() },
            (None, None) => Apply::Auto,
        };
        o.base = self.base.clone();
        o.github.api_url = self.github_api.clone();
        o.github.token = std::env::var("GITHUB_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(|t| Secret(t.trim().to_string()));
        let def = publish::by_name(&self.kind)?.default_repo();
        o.repo = Some(RepoId {
            owner: self.owner.clone(),
            name: self.repo.clone().unwrap_or(def.name),
            branch: self.branch.clone().unwrap_or(def.branch),
        });
        if let Some(c) = &self.container_repo {
            o.container_repo = Some(parse_repo(c)?);
        }
        o.source_sha256 = self.source_sha256.clone();
        o.source_url = self.source_url.clone();
        o.replace = self.replace;
        o.via_pr = self.via_pr;
        o.apply_templates = self.apply_templates;
        o.container_checkout = self.container_checkout.clone();
        o.debian_suite = self.debian_suite.clone();
        o.alpine_version = self.alpine_version.clone();
        if let Some(s) = &self.author {
            o.identity = Identity::parse(s)?;
        }
        Ok(o)
    }
}
