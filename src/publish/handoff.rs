//! The hand-off seam: one [`Handoff`] per file, run in the order of [`table`].
//!
//! A hand-off computes its own [`Edit`] from plain inputs (the [`Options`] and the files a
//! [`Source`] holds); it never writes. The appliers in [`super::apply`] take the edit and know no
//! hand-off. Adding a hand-off = one file implementing [`Handoff`] + one line in [`table`]
//! (tests/publish_seam.rs shows it with a test-only hand-off).

use super::edit::{Edit, RepoId};
use super::source::Source;
use super::Options;
use crate::error::Result;
use crate::version::Version;
use futures_util::future::BoxFuture;
use std::sync::Arc;

/// One hand-off to another repository.
pub trait Handoff: Send + Sync {
    /// Short name: the release step, `publish NAME`, the state file key.
    fn name(&self) -> &'static str;
    /// One line for people (plan, docs).
    fn about(&self) -> &'static str;
    /// The repository and base branch, unless `--owner/--repo/--branch` say otherwise.
    fn default_repo(&self) -> RepoId;
    /// Does it apply to this version? `Err(reason)` when not ("not applicable", never an error).
    fn applies(&self, v: &Version) -> std::result::Result<(), String>;
    /// The edit's shape without reading anything: target (branch, PR title), commit titles and
    /// dispatch, no file contents. `plan` shows it; [`Handoff::compute`] fills it in, so the
    /// plan and the real run use the same titles.
    fn shape(&self, opts: &Options) -> Edit;
    /// Does [`Handoff::compute`] read the repository's files? (A dispatch does not.)
    fn reads_files(&self) -> bool {
        true
    }
    /// Compute the edit against the files `src` holds.
    fn compute<'a>(&'a self, opts: &'a Options, src: &'a Source) -> BoxFuture<'a, Result<Edit>>;
}

/// The hand-offs a release runs, in order.
pub type Table = Vec<Arc<dyn Handoff>>;

/// The ordered table (valkey-bundle's dispatch comes after the container PR, as upstream).
pub fn table() -> Table {
    vec![
        Arc::new(super::hashes::Hashes),
        Arc::new(super::container::Container),
        Arc::new(super::bundle::Bundle),
        Arc::new(super::website::Website),
        Arc::new(super::docs::Docs),
    ]
}

/// The hand-off named `name` in the default table.
pub fn find(name: &str) -> Option<Arc<dyn Handoff>> {
    table().into_iter().find(|h| h.name() == name)
}

/// The names of the default table, in order.
pub fn names() -> Vec<&'static str> {
    table().iter().map(|h| h.name()).collect()
}
