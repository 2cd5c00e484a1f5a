//! The `images` command: prepare the builder images of the chosen targets.

use super::{ensure_image, ImageInfo, ImageOptions};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::targets::{BuilderMethod, Matrix};
use bollard::Docker;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

// ------------------------------------------------------------------ the `images` command

/// Options of [`prepare_images`] (the `images` command).
#[derive(Debug, Clone, Default)]
pub struct ImagesOptions {
    /// Targets whose builders to prepare; empty = all targets.
    pub targets: Vec<String>,
    /// Rebuild even when present.
    pub force: bool,
    /// Directory for `images-<builder>.log`.
    pub log_dir: Option<PathBuf>,
}

/// A builder that was not prepared because its method cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedImage {
    pub builder: String,
    pub reason: String,
}

/// Result of [`prepare_images`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImagesReport {
    pub images: Vec<ImageInfo>,
    /// Only when no targets were named: builders whose method cannot run here, with why.
    pub skipped: Vec<SkippedImage>,
}

/// Prepare the builder images of the chosen targets, each on its target's engine.
///
/// With named targets every failure is an error. With none (all targets), builders that
/// cannot be made here (no mmdebstrap; a Dockerfile base image neither present nor
/// pullable) are reported in `skipped` and the others are still prepared.
pub async fn prepare_images(matrix: &Matrix, opts: &ImagesOptions, progress: &Progress) -> Result<ImagesReport> {
    let targets = if opts.targets.is_empty() {
        matrix.targets.iter().filter(|t| t.default).collect::<Vec<_>>()
    } else {
        opts.targets.iter().map(|t| matrix.target(t)).collect::<Result<Vec<_>>>()?
    };
    // (builder, engine) pairs, in target order, without duplicates.
    let mut wanted: Vec<(String, Option<String>)> = Vec::new();
    for t in targets {
        let key = (t.builder.clone(), t.engine.clone());
        if !wanted.contains(&key) {
            wanted.push(key);
        }
    }
    let explicit = !opts.targets.is_empty();
    let mut report = ImagesReport::default();
    let mut engines: BTreeMap<Option<String>, Docker> = BTreeMap::new();
    let iopts = ImageOptions {
        force: opts.force,
        log_dir: opts.log_dir.clone(),
    };
    for (builder, engine) in wanted {
        let docker = match engines.get(&engine) {
            Some(d) => d.clone(),
            None => {
                let d = crate::farm::engine::connect(engine.as_deref()).await?;
                engines.insert(engine.clone(), d.clone());
                d
            }
        };
        let item = progress.spinner(&format!("image {builder}"));
        item.set("checking");
        match ensure_image(&docker, matrix, &builder, &iopts, &item).await {
            Ok(info) => {
                item.finish(&format!(
                    "{} {} {}",
                    if info.reused { "reused" } else { "built" },
                    info.tag,
                    info.id
                ));
                report.images.push(info);
            }
            Err(e) if !explicit && matches!(e, Error::External(_)) && cannot_run_here(matrix, &builder, &e) => {
                item.finish(&format!("skipped: {e}"));
                report.skipped.push(SkippedImage {
                    builder,
                    reason: e.to_string(),
                });
            }
            Err(e) => {
                item.finish("failed");
                return Err(e);
            }
        }
    }
    Ok(report)
}

/// Is this failure "the method cannot run on this host" (rather than a real build failure)?
pub(super) fn cannot_run_here(matrix: &Matrix, builder: &str, e: &Error) -> bool {
    let m = e.to_string();
    match matrix.builders.get(builder).map(|b| b.method) {
        Some(BuilderMethod::Dockerfile) => m.contains("cannot be pulled"),
        Some(BuilderMethod::Mmdebstrap) => m.contains("mmdebstrap is not installed"),
        None => false,
    }
}
