//! Where the files the post-build hooks produced go.
//!
//! - kind `facts`: `<out>/facts/<target>/<file>`, inputs of later stages (the SBOM facts, the
//!   valkey-doc modules page), not release artifacts;
//! - any registered artifact kind (`deb`, ...): `<out>/<file>`, recorded in manifest.json and
//!   SHA256SUMS with its `.sha256` through [`crate::package::add_artifact`], so upload, verify,
//!   merge, SBOMs and provenance see it like any artifact.
//!
//! A hook producing a kind that is not registered in [`crate::artifact`] fails the build
//! (exit 2) naming the hook's file and kind.

use super::report::{TargetReport, TargetStatus};
use crate::error::{Error, Result};
use crate::targets::Target;
use std::path::{Path, PathBuf};

/// The kind of hook output that is not an artifact.
pub const FACTS: &str = "facts";

/// Where a `facts` file for `target` goes.
pub fn facts_path(out: &Path, target: &str, file_name: &str) -> PathBuf {
    out.join(FACTS).join(target).join(file_name)
}

/// Write every produced file of the successful targets: facts under `facts/<target>/`,
/// artifacts into the dist directory and its manifest (after the targets' tarballs).
pub(super) fn write_produced(out: &Path, targets: &[Target], reports: &[TargetReport]) -> Result<()> {
    for r in reports.iter().filter(|r| r.status == TargetStatus::Ok) {
        for p in &r.produced {
            if p.kind == FACTS {
                let path = facts_path(out, &r.target, &p.file_name);
                if let Some(d) = path.parent() {
                    crate::fsutil::create_dir_all(d)?;
                }
                crate::fsutil::write_atomic(&path, &p.bytes)?;
                continue;
            }
            if crate::artifact::kind(&p.kind).is_none() {
                return Err(Error::input(format!(
                    "target {}: a post-build hook produced {} of kind {:?}, which is not a registered artifact kind ({}, or {FACTS})",
                    r.target,
                    p.file_name,
                    p.kind,
                    crate::artifact::kind_names().join(", ")
                )));
            }
            let t = targets
                .iter()
                .find(|t| t.name == r.target)
                .ok_or_else(|| Error::external(format!("target {} reported but not built", r.target)))?;
            crate::package::add_artifact(out, t, &p.kind, &p.file_name, &p.bytes, None)?;
        }
    }
    Ok(())
}
