//! What a build run is asked to do ([`BuildOptions`]) and what it reports ([`BuildReport`]).

use super::hooks::{Hooks, Produced};
use crate::error::{Error, Result};
use crate::manifest::SourceInfo;
use crate::version::Version;
use serde::Serialize;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// Everything `build` needs; the `release` command fills one of these.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub version: Version,
    /// Directory, .tar.gz/.tar.xz archive or http(s) URL; `None`: the version's GitHub archive.
    pub source: Option<String>,
    /// Target names (`bookworm-arm64`); empty: every target of the matrix.
    pub targets: Vec<String>,
    /// Containers at once; `None`: as many as targets, at most the machine's cores.
    pub jobs: Option<usize>,
    /// Output directory (tarballs, .sha256, SHA256SUMS, manifest.json, logs/).
    pub out: PathBuf,
    pub fail_fast: bool,
    pub allow_dirty: bool,
    /// Build every target twice in fresh containers and compare.
    pub check_reproducible: bool,
    /// Build in a varied environment (another hostname, one CPU, another make -j, umask and
    /// build user; see [`super::repro::Variation`]): what `rebuild` does, so a build that
    /// depends on the host differs from the published one instead of matching by chance.
    pub vary: bool,
    /// The commit the release must be built from: a git checkout's HEAD must equal it
    /// (exit 4 otherwise); for other sources it is recorded in manifest.source.source_sha.
    pub source_sha: Option<String>,
    /// Use this image for every target instead of the targets' builder images.
    pub builder_image: Option<String>,
    /// Cancelled on Ctrl-C: the run removes its containers and partial files, then returns
    /// `Error::Interrupted` (exit 130).
    pub cancel: CancellationToken,
    /// Allow plain tcp:// engines on other hosts for every target (`--insecure-engine`).
    pub insecure_engine: bool,
    /// The post-build hooks to run in each target's container (default: the registered ones).
    pub hooks: Hooks,
}

impl BuildOptions {
    /// Options with defaults: all targets, default source, `dist/`.
    pub fn new(version: Version) -> BuildOptions {
        BuildOptions {
            version,
            source: None,
            targets: Vec::new(),
            jobs: None,
            out: PathBuf::from("dist"),
            fail_fast: false,
            allow_dirty: false,
            check_reproducible: false,
            vary: false,
            source_sha: None,
            builder_image: None,
            cancel: CancellationToken::new(),
            insecure_engine: false,
            hooks: Hooks::registered(),
        }
    }
}

/// How a target ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetStatus {
    /// Built, checked and packaged (and reproducible, with --check-reproducible).
    Ok,
    /// Its build, a check, a hook or the reproducibility check failed.
    Failed,
    /// Not built: stopped by --fail-fast (or interrupted).
    Skipped,
}

impl TargetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetStatus::Ok => "ok",
            TargetStatus::Failed => "failed",
            TargetStatus::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for TargetStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Outcome of one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub target: String,
    pub status: TargetStatus,
    /// Tarball file name in the output directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub seconds: f64,
    /// The full log of this target.
    pub log: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Last lines of the log (failures only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// With --check-reproducible: did the second build give the same tarball?
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reproducible: Option<bool>,
    /// With --check-reproducible: the files that differed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differing_files: Vec<String>,
    /// With --check-reproducible: what the second build changed (hostname, CPUs, make -j, ...);
    /// with [`BuildOptions::vary`]: what the build changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub varied: Vec<String>,
    /// Files the post-build hooks made from this target's binaries (see [`super::hooks`]).
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "produced_names")]
    pub produced: Vec<Produced>,
}

fn produced_names<S: serde::Serializer>(p: &[Produced], s: S) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(p.len()))?;
    for f in p {
        seq.serialize_element(&serde_json::json!({"file": f.file_name, "kind": f.kind}))?;
    }
    seq.end()
}

impl TargetReport {
    /// A report with no artifact (failed or skipped).
    pub fn without_artifact(target: &str, status: TargetStatus, seconds: f64, log: PathBuf, error: String, tail: Vec<String>) -> Self {
        TargetReport {
            target: target.to_string(),
            status,
            artifact: None,
            sha256: None,
            seconds,
            log,
            error: Some(error),
            log_tail: tail,
            reproducible: None,
            differing_files: vec![],
            varied: vec![],
            produced: vec![],
        }
    }
}

/// The result of a build run.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub run_id: String,
    pub version: String,
    pub source: SourceInfo,
    pub source_date_epoch: i64,
    pub out: PathBuf,
    /// Containers at once and make -j per container.
    pub jobs: usize,
    pub make_jobs: usize,
    /// Containers of earlier runs removed at the start.
    pub strays_removed: usize,
    pub targets: Vec<TargetReport>,
    pub seconds: f64,
}

impl BuildReport {
    pub fn ok(&self) -> bool {
        self.targets.iter().all(|t| t.status == TargetStatus::Ok)
    }
    pub fn failed(&self) -> Vec<&TargetReport> {
        self.targets.iter().filter(|t| t.status != TargetStatus::Ok).collect()
    }
    /// The error (exit 1) that summarises failed targets, naming each with its log tail.
    pub fn error(&self) -> Option<Error> {
        let failed = self.failed();
        if failed.is_empty() {
            return None;
        }
        let mut msg = format!("{} of {} targets failed:", failed.len(), self.targets.len());
        for t in failed {
            let status = t.status.to_string();
            msg.push_str(&format!(
                "\n  {}: {} (log: {})",
                t.target,
                t.error.as_deref().unwrap_or(&status),
                t.log.display()
            ));
            for l in &t.log_tail {
                msg.push_str(&format!("\n    | {l}"));
            }
        }
        Some(Error::check(msg))
    }
}

/// Check the options that do not need the engine.
pub(super) fn validate(opts: &BuildOptions) -> Result<()> {
    if let Some(sha) = &opts.source_sha {
        if !(sha.len() >= 7 && sha.len() <= 40 && sha.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(Error::input(format!("source_sha {sha:?} is not a git commit id (40 hex digits)")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_error_names_targets_and_tail() {
        let r = BuildReport {
            run_id: "r".into(),
            version: "8.1.1".into(),
            source: SourceInfo::default(),
            source_date_epoch: 0,
            out: "dist".into(),
            jobs: 2,
            make_jobs: 1,
            strays_removed: 0,
            seconds: 1.0,
            targets: vec![TargetReport::without_artifact(
                "bookworm-arm64",
                TargetStatus::Failed,
                1.0,
                "dist/logs/bookworm-arm64.log".into(),
                "make exited with code 2".into(),
                vec!["cc: error".into()],
            )],
        };
        let e = r.error().unwrap();
        assert_eq!(e.exit_code(), 1);
        let m = e.to_string();
        assert!(m.contains("bookworm-arm64") && m.contains("cc: error"), "{m}");
        assert_eq!(serde_json::to_value(&r.targets[0]).unwrap()["status"], "failed");
    }
}
