//! valkey-bundle: after the container step, a `repository_dispatch` to valkey-io/valkey-bundle
//! with event type `valkey-release` and client payload `{"version": V, "component": "valkey"}`,
//! for versions >= 8.1.0 (release candidates included, never `unstable`). GitHub answers 204.
//! Through GitHub it is sent once (a dispatch cannot be looked up; the release state records
//! it so a re-run does not send it again); in hand-off mode the request is written to
//! `DIR/valkey-bundle/dispatch.json`.

use super::edit::{Dispatch, Edit, RepoId, Target};
use super::handoff::Handoff;
use super::source::Source;
use super::Options;
use crate::error::Result;
use crate::version::Version;
use futures_util::future::BoxFuture;

/// The event type valkey-bundle's workflow listens for.
pub const EVENT_TYPE: &str = "valkey-release";

pub struct Bundle;

impl Handoff for Bundle {
    fn name(&self) -> &'static str {
        "bundle"
    }
    fn about(&self) -> &'static str {
        "repository_dispatch valkey-release to valkey-io/valkey-bundle"
    }
    fn default_repo(&self) -> RepoId {
        RepoId::new("valkey-io", "valkey-bundle", "main")
    }
    fn applies(&self, v: &Version) -> std::result::Result<(), String> {
        match v.numbers() {
            None => Err("unstable is never dispatched to valkey-bundle".into()),
            Some((a, b, _)) if (a, b) < (8, 1) => Err(format!("valkey-bundle starts at 8.1.0 ({v} is older)")),
            Some(_) => Ok(()),
        }
    }
    fn shape(&self, opts: &Options) -> Edit {
        let mut e = Edit::new(opts.repo_for(self), Target::Base);
        e.dispatch = Some(Dispatch {
            event_type: EVENT_TYPE.into(),
            client_payload: serde_json::json!({"version": opts.version.as_str(), "component": "valkey"}),
        });
        e.notes.push(format!(
            "repository_dispatch {EVENT_TYPE} {{\"version\": \"{}\", \"component\": \"valkey\"}}",
            opts.version
        ));
        e
    }
    fn reads_files(&self) -> bool {
        false
    }
    fn compute<'a>(&'a self, opts: &'a Options, _src: &'a Source) -> BoxFuture<'a, Result<Edit>> {
        Box::pin(async move { Ok(self.shape(opts)) })
    }
}
