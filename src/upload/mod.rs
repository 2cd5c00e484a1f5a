//! Stage: upload. Puts the release (every artifact of dist/manifest.json, its `.sha256`, the
//! release's SHA256SUMS and manifest.json) into the release bucket, safely and idempotently,
//! then checks every object that is there.
//!
//! Keys (prefix from targets.toml `artifact.s3_prefix`, `releases/`):
//! `releases/<tarball>`, `releases/<tarball>.sha256`, `releases/valkey-<V>.SHA256SUMS`,
//! `releases/valkey-<V>.manifest.json` (written last: its presence means the release is complete).
//!
//! Safety rules:
//! - every file is hashed again before anything is sent and must match manifest.json (exit 1
//!   naming the file otherwise); the bytes actually sent are hashed again while read and the write
//!   is abandoned if they differ;
//! - an object already present with the same sha256 is skipped;
//! - prod, re-run into a fresh dist: when the store holds the same SHA256SUMS, the published
//!   run records (manifest.json, provenance) are adopted into dist instead of refused ([`adopt`]);
//! - prod never overwrites different content: the run stops before uploading anything, naming the
//!   keys (exit 4), unless `--force-overwrite`; new objects are written with `If-None-Match: *`
//!   so a concurrent writer cannot be overwritten either; dev overwrites;
//! - "already there" and "in place after the run" are judged by the store's own SHA-256 of the
//!   bytes (S3: its `ChecksumSHA256`); where it has none, the object is downloaded and hashed;
//! - after the run every object is checked again (size and sha256) and the report says which keys
//!   are missing; a re-run completes them. `--verify-download` also downloads every object and
//!   hashes it again.
//!
//! Files: [`options`] (what to do), [`plan`] (what dist/ holds), [`run`] (doing it), this file
//! (the report).

pub mod adopt;
pub mod options;
pub mod plan;
pub mod run;
#[cfg(test)]
mod tests;

pub use crate::store::Environment;
pub use options::{UploadArgs, UploadOptions};
pub use plan::{plan_objects, PlannedObject};
pub use run::{check_uploaded, open_store, run_upload};

use crate::error::{Error, Result};
use serde::Serialize;

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectState {
    /// Written by this run and checked.
    Uploaded,
    /// Written over different content (dev, or prod with --force-overwrite).
    Overwritten,
    /// Already there with the same sha256.
    Skipped,
    /// Not there, or not right, after this run.
    Failed,
    /// prod: present with different content; not overwritten.
    Refused,
    /// Dry run: would be uploaded.
    WouldUpload,
    /// Dry run: would overwrite (dev, or --force-overwrite).
    WouldOverwrite,
    /// Check only: absent.
    Missing,
    /// Check only: present with different content.
    Different,
}

impl ObjectState {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectState::Uploaded => "uploaded",
            ObjectState::Overwritten => "overwritten",
            ObjectState::Skipped => "skipped",
            ObjectState::Failed => "failed",
            ObjectState::Refused => "refused",
            ObjectState::WouldUpload => "would-upload",
            ObjectState::WouldOverwrite => "would-overwrite",
            ObjectState::Missing => "missing",
            ObjectState::Different => "different",
        }
    }
    /// Is the object in place with the right content?
    pub fn is_good(self) -> bool {
        matches!(self, ObjectState::Uploaded | ObjectState::Overwritten | ObjectState::Skipped)
    }
}

/// One object of the report.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectReport {
    pub key: String,
    /// `s3://bucket/key` or `file:///dir/key`.
    pub uri: String,
    pub size: u64,
    pub sha256: String,
    pub state: ObjectState,
    /// Why it failed or was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The result of [`run_upload`] or [`check_uploaded`].
#[derive(Debug, Clone, Serialize)]
pub struct UploadReport {
    /// `s3://bucket` or `file:///dir`.
    pub store: String,
    pub environment: Environment,
    pub version: String,
    pub dry_run: bool,
    pub objects: Vec<ObjectReport>,
    /// Every object is present with the right content.
    pub complete: bool,
    /// Keys not in place (failed, refused, missing, different).
    pub missing: Vec<String>,
    /// Bytes sent by this run.
    pub bytes_uploaded: u64,
    /// prod, the store holding this very release (same SHA256SUMS): the published run records
    /// (manifest.json, provenance) downloaded into dist in place of this run's, see [`adopt`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adopted: Vec<String>,
    pub seconds: f64,
}

impl UploadReport {
    fn finish(mut self) -> UploadReport {
        self.missing = self
            .objects
            .iter()
            .filter(|o| !o.state.is_good() && !matches!(o.state, ObjectState::WouldUpload | ObjectState::WouldOverwrite))
            .map(|o| o.key.clone())
            .collect();
        self.complete = !self.dry_run && self.missing.is_empty();
        self
    }

    /// Ok when every object is in place; else the error a failed run exits with:
    /// exit 4 when something was refused (prod, different content), exit 3 otherwise.
    /// Dry runs are Ok.
    pub fn result(&self) -> Result<()> {
        if self.dry_run || self.missing.is_empty() {
            return Ok(());
        }
        let refused: Vec<&ObjectReport> = self.objects.iter().filter(|o| o.state == ObjectState::Refused).collect();
        if !refused.is_empty() {
            let keys: Vec<&str> = refused.iter().map(|o| o.key.as_str()).collect();
            return Err(Error::refused(format!(
                "{} holds different content at {}; prod never overwrites published objects (use --force-overwrite only if you are sure)",
                self.store,
                keys.join(", ")
            )));
        }
        Err(Error::external(format!(
            "{} of {} objects are not in {} after this run: {}. Re-run the same command to complete them",
            self.missing.len(),
            self.objects.len(),
            self.store,
            self.missing.join(", ")
        )))
    }

    /// A fixed-width table: key, size, sha256, state.
    pub fn table(&self) -> String {
        let w = self.objects.iter().map(|o| o.key.len()).max().unwrap_or(3).max(3);
        let mut s = format!("{:<w$}  {:>10}  {:<64}  STATE\n", "KEY", "SIZE", "SHA256");
        for o in &self.objects {
            s.push_str(&format!("{:<w$}  {:>10}  {:<64}  {}", o.key, o.size, o.sha256, o.state.as_str()));
            if let Some(d) = &o.detail {
                s.push_str(&format!("  ({d})"));
            }
            s.push('\n');
        }
        s
    }
}
