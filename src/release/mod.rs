//! Stage: release. The whole release in one resumable command.
//!
//! ```text
//! source -> build -> upload -> verify -> hashes -> container -> bundle -> website -> docs
//!                                       \_____________ prod only: the hand-off table ____/
//! ```
//!
//! The orchestrator ([`execute`]) is written against the [`Stages`] trait: each step has a
//! `run` and a `probe` ("already done and still true?"). A re-run probes every step in order,
//! skips those that are done and still true, and runs from the first that is not. Each step's
//! result goes to `dist/release-state.json` ([`state`]) as soon as it is known. The real
//! implementation of [`Stages`] ([`real`]) calls the other stages' library functions; tests use
//! a fake that counts calls.

pub mod merge;
pub mod options;
pub mod payload;
pub mod plan;
pub mod plan_run;
pub mod real;
pub mod report;
pub mod source;
pub mod state;
pub mod steps;

use crate::error::{Error, Result};
use payload::{Environment, Request};
use serde::{Deserialize, Serialize};
use state::State;
use std::fmt;
use std::path::{Path, PathBuf};

pub use real::{release, ReleaseOptions};
pub use report::ReleaseReport;

/// One step of a release. The first four are the release's own; the hand-offs come from
/// [`crate::publish::handoff::table`] in its order (`Step::Handoff("hashes")`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Resolve the source; with source_sha, check that it is that commit.
    Source,
    /// Build every target, package, checksums, manifest (or merge partial dists).
    Build,
    /// `<artifact>.spdx.json` for every artifact (kind `sbom` in the manifest); with a key, the
    /// .rpms are signed first, so the SBOMs describe the published bytes.
    Sbom,
    /// `SHA256SUMS.asc` and `GPG-KEY-valkey.asc` (only with a signing key).
    Sign,
    /// `valkey-<V>.intoto.jsonl` (signed when a key is given).
    Provenance,
    /// Upload artifacts, checksums, SHA256SUMS and manifest to the environment's store.
    Upload,
    /// Download what was uploaded and check it against the manifest.
    Verify,
    /// The package repositories (apt, yum) in the store: merged index, packages first,
    /// index and signatures last, then verified.
    Repositories,
    /// A hand-off to another repository (prod only), by name.
    Handoff(&'static str),
}

impl Step {
    /// The release's own steps, in order (the hand-offs follow).
    pub const CORE: [Step; 8] = [
        Step::Source,
        Step::Build,
        Step::Sbom,
        Step::Sign,
        Step::Provenance,
        Step::Upload,
        Step::Verify,
        Step::Repositories,
    ];

    /// Every step of a release with the default hand-off table, in order.
    pub fn all() -> Vec<Step> {
        Step::with_handoffs(&crate::publish::handoff::table())
    }

    /// The core steps, then one per hand-off of `table`.
    pub fn with_handoffs(table: &crate::publish::handoff::Table) -> Vec<Step> {
        Step::CORE
            .into_iter()
            .chain(table.iter().map(|h| Step::Handoff(h.name())))
            .collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Source => "source",
            Step::Build => "build",
            Step::Upload => "upload",
            Step::Sbom => "sbom",
            Step::Sign => "sign",
            Step::Provenance => "provenance",
            Step::Verify => "verify",
            Step::Repositories => "repositories",
            Step::Handoff(n) => n,
        }
    }

    /// The step named `s` (a core step or any hand-off name).
    pub fn parse(s: &str) -> Step {
        if let Some(c) = Step::CORE.into_iter().find(|c| c.as_str() == s) {
            return c;
        }
        match crate::publish::handoff::names().into_iter().find(|n| *n == s) {
            Some(n) => Step::Handoff(n),
            // A hand-off this build does not know (a test-only one): keep its name.
            None => Step::Handoff(Box::leak(s.to_string().into_boxed_str())),
        }
    }

    /// Is this a hand-off (prod only)?
    pub fn is_handoff(self) -> bool {
        matches!(self, Step::Handoff(_))
    }

    /// Does this step run with `--dry-run`? Those that only write into the dist directory.
    pub fn runs_in_dry_run(self) -> bool {
        matches!(self, Step::Source | Step::Build | Step::Sbom | Step::Sign | Step::Provenance)
    }

    /// Steps whose having run in this run means this step's earlier result no longer counts
    /// (it is run again rather than probed): verify re-checks whatever was uploaded.
    pub fn rechecks_after(self) -> &'static [Step] {
        match self {
            Step::Verify => &[Step::Upload],
            _ => &[],
        }
    }

    /// Does this step apply to this release? `Err(reason)` when it does not. `h` is the
    /// step's hand-off (None for the core steps).
    pub fn applies(self, req: &Request, h: Option<&dyn crate::publish::Handoff>) -> std::result::Result<(), String> {
        if !self.is_handoff() {
            return Ok(());
        }
        if req.environment == Environment::Dev {
            return Err("dev releases stop before the hand-offs".into());
        }
        match h {
            Some(h) => h.applies(&req.version),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Step {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Step, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Step::parse(&s))
    }
}

/// What became of a step in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Run in this run, and it succeeded.
    Done,
    /// Done by an earlier run and still true (re-checked now).
    SkippedAlreadyDone,
    /// Not part of this release (dev, rc, unstable).
    SkippedNotForEnvironment,
    /// `--dry-run`: nothing is uploaded or published.
    SkippedDryRun,
    /// Not configured for this run (no signing key, no packages); the reason says what.
    SkippedNotConfigured,
    /// Run in this run, and it failed; later steps were not reached.
    Failed,
    /// An earlier step failed.
    NotReached,
}

impl StepState {
    pub fn label(self) -> &'static str {
        match self {
            StepState::Done => "done",
            StepState::SkippedAlreadyDone => "skipped (already done)",
            StepState::SkippedNotForEnvironment => "skipped (not for this release)",
            StepState::SkippedDryRun => "skipped (dry run)",
            StepState::SkippedNotConfigured => "skipped (not configured)",
            StepState::Failed => "failed",
            StepState::NotReached => "not reached",
        }
    }
    /// Does this state count as "the step's work is in place"?
    pub fn is_done(self) -> bool {
        matches!(self, StepState::Done | StepState::SkippedAlreadyDone)
    }
}

/// A link a step produced (an object URL, a PR, a commit, a file for review).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// `object`, `pr`, `commit`, `file`, `page`.
    pub kind: String,
    pub label: String,
    pub url: String,
}

impl Link {
    pub fn new(kind: &str, label: impl Into<String>, url: impl Into<String>) -> Link {
        Link {
            kind: kind.to_string(),
            label: label.into(),
            url: url.into(),
        }
    }
}

/// What a step did (or found already done).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// One line for people.
    pub summary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// Pull requests that are open and need a person to merge them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_merge: Vec<String>,
    /// Files written for review instead of being published (patches under dist/handoff/).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handoff: Vec<String>,
    /// The stage's own report, for `--json`.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl Outcome {
    pub fn new(summary: impl Into<String>) -> Outcome {
        Outcome {
            summary: summary.into(),
            ..Default::default()
        }
    }
    pub fn link(mut self, l: Link) -> Outcome {
        self.links.push(l);
        self
    }
    pub fn with_data<T: Serialize>(mut self, d: &T) -> Outcome {
        self.data = serde_json::to_value(d).unwrap_or(serde_json::Value::Null);
        self
    }
}

/// What a step sees when it runs or is probed.
pub struct Ctx<'a> {
    pub req: &'a Request,
    pub dist: &'a Path,
    pub dry_run: bool,
    /// This step's record from an earlier run, if any.
    pub prior: Option<&'a state::StepRecord>,
    /// Steps already run (not skipped) in this run.
    pub ran: &'a [Step],
}

/// The stages a release drives. [`execute`] calls `probe` then, unless the step is already
/// done and still true, the step's own method. Every method must be idempotent: running a step
/// whose work is partly in place completes it without duplicating anything.
#[allow(async_fn_in_trait)]
pub trait Stages {
    /// Is `step` already done and still true? `Some(outcome)` describing what is in place, or
    /// `None` when the step must run. Errors (store unreachable, ...) fail the step.
    async fn probe(&mut self, step: Step, ctx: &Ctx<'_>) -> Result<Option<Outcome>>;
    async fn source(&mut self, ctx: &Ctx<'_>) -> Result<Outcome>;
    async fn build(&mut self, ctx: &Ctx<'_>) -> Result<Outcome>;
    async fn upload(&mut self, ctx: &Ctx<'_>) -> Result<Outcome>;
    async fn verify(&mut self, ctx: &Ctx<'_>) -> Result<Outcome>;
    /// Write an SBOM for every artifact (default: nothing to do, for stages without one).
    async fn sbom(&mut self, _ctx: &Ctx<'_>) -> Result<Outcome> {
        Ok(Outcome::new("nothing to do"))
    }
    /// Sign SHA256SUMS (default: nothing to do).
    async fn sign(&mut self, _ctx: &Ctx<'_>) -> Result<Outcome> {
        Ok(Outcome::new("nothing to do"))
    }
    /// Write the provenance (default: nothing to do).
    async fn provenance(&mut self, _ctx: &Ctx<'_>) -> Result<Outcome> {
        Ok(Outcome::new("nothing to do"))
    }
    /// Update the package repositories in the store (default: nothing to do).
    async fn repositories(&mut self, _ctx: &Ctx<'_>) -> Result<Outcome> {
        Ok(Outcome::new("nothing to do"))
    }
    /// Why `step` is not configured for this run (`Some(reason)`: reported as
    /// `skipped (not configured)`, e.g. sign without a key), asked just before it would run.
    fn not_configured(&self, _step: Step, _ctx: &Ctx<'_>) -> Option<String> {
        None
    }
    /// Run one hand-off of [`Stages::handoffs`].
    async fn handoff(&mut self, h: &dyn crate::publish::Handoff, ctx: &Ctx<'_>) -> Result<Outcome>;
    /// The hand-offs, in order (default: [`crate::publish::handoff::table`]).
    fn handoffs(&self) -> crate::publish::handoff::Table {
        crate::publish::handoff::table()
    }
    /// The URL an artifact file is (or will be) served at, for the report.
    fn artifact_url(&self, _file: &str) -> Option<String> {
        None
    }
    /// The object key of an artifact file, for the report.
    fn artifact_key(&self, _file: &str) -> Option<String> {
        None
    }
}

async fn run_step<S: Stages>(s: &mut S, step: Step, h: Option<&dyn crate::publish::Handoff>, ctx: &Ctx<'_>) -> Result<Outcome> {
    match (step, h) {
        (Step::Source, _) => s.source(ctx).await,
        (Step::Build, _) => s.build(ctx).await,
        (Step::Upload, _) => s.upload(ctx).await,
        (Step::Verify, _) => s.verify(ctx).await,
        (Step::Sbom, _) => s.sbom(ctx).await,
        (Step::Sign, _) => s.sign(ctx).await,
        (Step::Provenance, _) => s.provenance(ctx).await,
        (Step::Repositories, _) => s.repositories(ctx).await,
        (Step::Handoff(_), Some(h)) => s.handoff(h, ctx).await,
        (Step::Handoff(n), None) => Err(Error::input(format!("no hand-off named {n}"))),
    }
}

/// Options of the orchestrator itself.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub dist: PathBuf,
    /// Build, but upload and publish nothing.
    pub dry_run: bool,
}

/// The result of [`execute`]: the report, and the error of the failed step (if any),
/// which decides the exit code after the report is printed.
pub struct Finished {
    pub report: ReleaseReport,
    pub error: Option<Error>,
}

/// Run the release steps in order, resuming from `dist/release-state.json`.
///
/// Errors before any step (unusable state file) are returned as `Err`; a step's failure is
/// recorded in the state and the report and returned in [`Finished::error`].
pub async fn execute<S: Stages>(stages: &mut S, req: &Request, opts: &RunOptions) -> Result<Finished> {
    crate::fsutil::create_dir_all(&opts.dist)?;
    // One release at a time per dist: a second one waits here (and says so), so the state
    // file loses no update.
    let _lock = state::lock(&opts.dist).await?;
    let mut st = State::for_release(&opts.dist, req.version.as_str(), req.environment, req.source_sha.as_deref())?;
    st.runs += 1;
    st.save(&opts.dist)?;

    let mut rows: Vec<report::StepReport> = Vec::new();
    let mut ran: Vec<Step> = Vec::new();
    let mut failure: Option<Error> = None;

    let table = stages.handoffs();
    let steps: Vec<(Step, Option<std::sync::Arc<dyn crate::publish::Handoff>>)> = Step::CORE
        .into_iter()
        .map(|s| (s, None))
        .chain(table.iter().map(|h| (Step::Handoff(h.name()), Some(h.clone()))))
        .collect();
    for (step, h) in steps {
        let h = h.as_deref();
        if failure.is_some() {
            rows.push(report::StepReport::new(step, StepState::NotReached, None));
            continue;
        }
        if let Err(reason) = step.applies(req, h) {
            let mut r = report::StepReport::new(step, StepState::SkippedNotForEnvironment, None);
            r.reason = Some(reason);
            rows.push(r);
            continue;
        }
        if opts.dry_run && !step.runs_in_dry_run() {
            let mut r = report::StepReport::new(step, StepState::SkippedDryRun, None);
            r.reason = Some("--dry-run uploads and publishes nothing".into());
            rows.push(r);
            continue;
        }
        let prior = st.steps.get(&step).cloned();
        let ran_now = ran.clone();
        let ctx = Ctx {
            req,
            dist: &opts.dist,
            dry_run: opts.dry_run,
            prior: prior.as_ref(),
            ran: &ran_now,
        };
        if let Some(reason) = stages.not_configured(step, &ctx) {
            let mut r = report::StepReport::new(step, StepState::SkippedNotConfigured, None);
            r.reason = Some(reason);
            rows.push(r);
            continue;
        }
        let started = std::time::Instant::now();
        let must_rerun = step.rechecks_after().iter().any(|s| ran.contains(s));
        let probed = if must_rerun { Ok(None) } else { stages.probe(step, &ctx).await };
        let result = match probed {
            Ok(Some(outcome)) => {
                st.record(step, StepState::SkippedAlreadyDone, Some(outcome.clone()), None, false);
                st.save(&opts.dist)?;
                rows.push(report::StepReport::new(step, StepState::SkippedAlreadyDone, Some(outcome)).timed(started));
                continue;
            }
            Ok(None) => {
                ran.push(step);
                run_step(stages, step, h, &ctx).await
            }
            Err(e) => Err(e.context(format!("{step}: checking what is already done"))),
        };
        match result {
            Ok(outcome) => {
                st.record(step, StepState::Done, Some(outcome.clone()), None, true);
                st.save(&opts.dist)?;
                rows.push(report::StepReport::new(step, StepState::Done, Some(outcome)).timed(started));
            }
            Err(e) => {
                st.record(step, StepState::Failed, None, Some(e.to_string()), ran.contains(&step));
                st.save(&opts.dist)?;
                let mut r = report::StepReport::new(step, StepState::Failed, None).timed(started);
                r.error = Some(e.to_string());
                rows.push(r);
                failure = Some(e);
            }
        }
    }

    let report = report::ReleaseReport::build(req, opts, rows, stages, failure.as_ref());
    Ok(Finished { report, error: failure })
}
