//! The seams between the farm and the builder images / artifact checks (`image`, `checks`,
//! written alongside). The farm calls only these two functions.

use crate::error::{Error, Result};
use crate::targets::{Matrix, Target};
use crate::version::Version;
use bollard::Docker;
use std::path::Path;

/// Facts the checks found in a build tree.
#[derive(Debug, Clone, Default)]
pub struct CheckFacts {
    pub elf_machine: String,
    pub glibc_required: String,
    pub needed_libs: Vec<String>,
}

/// The builder image (name or id) of a target, prepared if needed.
pub async fn builder_image(_docker: &Docker, _matrix: &Matrix, t: &Target) -> Result<String> {
    Err(Error::input(format!(
        "no builder image for {}: pass --builder-image (builder images are not wired in yet)",
        t.name
    )))
}

/// Check the binaries of a build tree (src/<binaries>) and what `valkey-server --version` printed.
pub fn check_tree(_matrix: &Matrix, _t: &Target, version: &Version, _tree: &Path, reported: &str) -> Result<CheckFacts> {
    check_reported_version(version, reported)?;
    Ok(CheckFacts::default())
}

/// `valkey-server --version` must print `v=<version>` (any version for `unstable`).
pub fn check_reported_version(version: &Version, reported: &str) -> Result<()> {
    let v = reported.split_whitespace().find_map(|w| w.strip_prefix("v=")).ok_or_else(|| {
        Error::check(format!("valkey-server --version printed {reported:?}, expected \"Valkey server v={version} ...\""))
    })?;
    if !version.is_unstable() && v != version.as_str() {
        return Err(Error::check(format!("valkey-server reports version {v}, but the release is {version}")));
    }
    Ok(())
}
