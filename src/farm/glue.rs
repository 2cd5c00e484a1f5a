//! The seams between the farm and the builder images ([`super::image`]) and the artifact
//! checks ([`super::checks`]). The farm calls only these functions.

use crate::error::Result;
use crate::progress::Item;
use crate::targets::{Matrix, Target};
use crate::version::Version;
use bollard::Docker;
use std::path::Path;

/// The builder image of a target, made if not on the engine yet: (image id, tag).
pub async fn builder_image(docker: &Docker, matrix: &Matrix, t: &Target, log_dir: &Path, item: &Item) -> Result<(String, String)> {
    let opts = super::image::ImageOptions {
        force: false,
        log_dir: Some(log_dir.to_path_buf()),
    };
    let info = super::image::ensure_image(docker, matrix, &t.builder, &opts, item).await?;
    Ok((info.id, info.tag))
}

/// Check the binaries of a build tree (`src/<binary>` for each binary of the matrix) for the
/// target's architecture, glibc limit and libraries, and what `valkey-server --version`
/// printed against the release version. Fills the check facts of `info`.
pub fn check_tree(
    matrix: &Matrix,
    t: &Target,
    version: &Version,
    tree: &Path,
    reported: &str,
    info: &mut crate::manifest::BuildInfo,
) -> Result<()> {
    let mut bins = Vec::new();
    for b in &matrix.artifact.binaries {
        let p = tree.join("src").join(b);
        let data = std::fs::read(&p).map_err(|e| crate::error::Error::io(&p, "read binary", e))?;
        bins.push((b.clone(), data));
    }
    let checks = super::checks::check_target_binaries(t, &bins)?;
    checks.apply_to(info);
    super::checks::check_reported_version(reported, version)?;
    Ok(())
}
