//! Stage: package. Reproducible tarballs, `.sha256` files, SHA256SUMS and manifest.json.
//! (Issue 2 fills this in; the signature below is the contract `build` calls.)

use crate::error::{Error, Result};
use crate::manifest::Artifact;
use crate::targets::{Matrix, Target};
use crate::version::Version;
use std::path::Path;

/// What to package: one target's build tree.
pub struct PackageInput<'a> {
    pub matrix: &'a Matrix,
    pub version: &'a Version,
    pub target: &'a Target,
    /// A build tree: `src/<binary>` for every binary in targets.toml, and the license file at the top.
    pub tree: &'a Path,
    pub source_date_epoch: i64,
}

/// Write `<artifact>.tar.gz` and `<artifact>.tar.gz.sha256` into `out_dir` (atomically) and
/// return the manifest entry (with `build: None`). Does not touch manifest.json.
pub fn package_tree(_input: &PackageInput, _out_dir: &Path) -> Result<Artifact> {
    Err(Error::input("package: not implemented yet"))
}
