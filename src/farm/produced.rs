//! Where the files the post-build hooks produced are written.
//!
//! INTERIM (until the `seams` helper's artifact-kind API lands in `src/artifact/`): the files
//! are kept in each [`TargetReport`] and written here, outside the manifest:
//! - kind `facts`: `<out>/facts/<target>/<file>` (inputs of later stages, e.g. the SBOM);
//! - any other kind: `<out>/produced/<target>/<file>`.
//!
//! When the artifact API lands, the non-facts files go to `<out>/<file>` and into the manifest
//! with their kind instead; this file is the one place to change.

use super::report::{TargetReport, TargetStatus};
use crate::error::Result;
use std::path::{Path, PathBuf};

/// Where a produced file of `kind` for `target` goes.
pub fn produced_path(out: &Path, target: &str, kind: &str, file_name: &str) -> PathBuf {
    let dir = if kind == "facts" { "facts" } else { "produced" };
    out.join(dir).join(target).join(file_name)
}

/// Write every produced file of the successful targets.
pub(super) fn write_produced(out: &Path, reports: &[TargetReport]) -> Result<()> {
    for r in reports.iter().filter(|r| r.status == TargetStatus::Ok) {
        for p in &r.produced {
            let path = produced_path(out, &r.target, &p.kind, &p.file_name);
            if let Some(d) = path.parent() {
                crate::fsutil::create_dir_all(d)?;
            }
            crate::fsutil::write_atomic(&path, &p.bytes)?;
        }
    }
    Ok(())
}
