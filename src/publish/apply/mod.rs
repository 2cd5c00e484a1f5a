//! Appliers: take an [`Edit`] and apply it — to a local git checkout ([`local`]), to GitHub
//! ([`github`]), or as files for review ([`patch`]). They know no hand-off.

pub mod github;
pub mod local;
pub mod patch;

use super::edit::{Edit, Identity, RepoId};
use super::github_api::Client;
use super::outcome::Outcome;
use super::source::Source;
use super::Options;
use crate::error::{Error, Result};
use std::path::PathBuf;

/// Where the change goes (what the caller asked for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Apply {
    /// GitHub when a token is set, else an error asking for --checkout or --handoff
    /// (with `dry_run`, GitHub is read anonymously, or `--base` when given).
    Auto,
    /// A local git checkout of the repository; `push` pushes to its remote.
    Checkout { dir: PathBuf, push: bool },
    /// Files for review under `dir`; the base files come from [`Options::base`], else GitHub.
    Handoff { dir: PathBuf },
    /// GitHub (needs the token).
    GitHub,
}

/// What an applier needs besides the edit.
pub struct Ctx<'a> {
    /// The hand-off's name (for messages only).
    pub name: &'a str,
    pub dry_run: bool,
    /// Author, committer and DCO sign-off of commits made through GitHub and in patches.
    pub identity: &'a Identity,
    /// The PR body.
    pub body: String,
}

/// A resolved applier.
pub enum Applier {
    Local(local::Local),
    GitHub(github::GitHub),
    Patch(patch::Patch),
}

/// Choose the applier for `opts.apply` (see [`Apply`]).
pub fn resolve(name: &str, opts: &Options) -> Result<Applier> {
    let client = || Client::new(&opts.github);
    Ok(match &opts.apply {
        Apply::Checkout { dir, push } => Applier::Local(local::Local {
            dir: dir.clone(),
            push: *push,
        }),
        Apply::Handoff { dir } => Applier::Patch(patch::Patch {
            dir: (!opts.dry_run).then(|| dir.clone()),
            base: opts.base.clone(),
            client: client()?,
        }),
        Apply::GitHub => {
            if opts.github.token.is_none() && !opts.dry_run {
                return Err(Error::input("GitHub mode needs GITHUB_TOKEN (or use --checkout / --handoff)"));
            }
            Applier::GitHub(github::GitHub::new(client()?))
        }
        Apply::Auto if opts.github.token.is_some() => Applier::GitHub(github::GitHub::new(client()?)),
        Apply::Auto if opts.dry_run => match &opts.base {
            Some(b) => Applier::Patch(patch::Patch {
                dir: None,
                base: Some(b.clone()),
                client: client()?,
            }),
            None => Applier::GitHub(github::GitHub::new(client()?)),
        },
        Apply::Auto => {
            return Err(Error::input(format!(
                "publish {name}: nowhere to apply the change: give --checkout DIR (a local clone), --handoff DIR (files \
                 for review), or set GITHUB_TOKEN for GitHub mode (--dry-run only shows the diff)"
            )))
        }
    })
}

impl Applier {
    /// Where the hand-off reads the repository's current files (the PR branch when it exists
    /// locally, else the base branch).
    pub async fn source(&self, repo: &RepoId, shape: &Edit) -> Result<Source> {
        match self {
            Applier::Local(l) => l.source(repo, shape),
            Applier::GitHub(g) => g.source(repo).await,
            Applier::Patch(p) => match &p.base {
                Some(b) => Ok(Source::dir(b)),
                None => Source::github(p.client.clone(), repo.clone(), None).await,
            },
        }
    }

    /// Apply the edit.
    pub async fn apply(&self, edit: Edit, ctx: &Ctx<'_>) -> Result<Outcome> {
        match self {
            Applier::Local(l) => l.apply(edit, ctx),
            Applier::GitHub(g) => g.apply(edit, ctx).await,
            Applier::Patch(p) => p.apply(edit, ctx),
        }
    }
}
