//! `release --merge DIR...`: bring partial dist directories (each from `build --target T` on its
//! own runner, with its own manifest.json) together into one dist/.
//!
//! Checks, before anything is written: every manifest is of the same release (version, source,
//! SOURCE_DATE_EPOCH: [`Manifest::compatible`]); every artifact's file is there with the size and
//! sha256 its manifest says (exit 1 naming the file otherwise); a target present in two
//! directories with different sha256 is a conflict (exit 2 naming both directories). Then the
//! tarballs, their `.sha256` files and build logs are copied (atomically) and upserted into
//! `<out>/manifest.json` and `<out>/SHA256SUMS`.

use crate::error::{Error, Result};
use crate::fsutil;
use crate::manifest::{self, Artifact, Manifest};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to merge.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// Partial dist directories, each with a manifest.json.
    pub dirs: Vec<PathBuf>,
    /// The dist directory to merge into (created if needed; an existing manifest there must be
    /// of the same release).
    pub out: PathBuf,
    /// Refuse partial dists of another version (checked before anything is written).
    pub expect_version: Option<String>,
}

/// One merged artifact.
#[derive(Debug, Clone, Serialize)]
pub struct MergedArtifact {
    pub target: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    /// The directory it came from.
    pub from: String,
    /// False when it was already in `out` with the same sha256.
    pub copied: bool,
}

/// The result of a merge.
#[derive(Debug, Clone, Serialize)]
pub struct MergeReport {
    pub out: String,
    pub version: String,
    pub dirs: Vec<String>,
    pub artifacts: Vec<MergedArtifact>,
}

/// Merge `opts.dirs` into `opts.out`.
pub fn merge(opts: &MergeOptions) -> Result<MergeReport> {
    let manifests = load_partials(opts)?;
    let (first_dir, first) = &manifests[0];
    let existing = Manifest::load_if_present(&opts.out)?;
    if let Some(ex) = &existing {
        ex.compatible(first).map_err(|why| {
            Error::input(format!(
                "--merge: {} is of another release than {}: {why}; merge into an empty --dist",
                Manifest::path(&opts.out).display(),
                Manifest::path(first_dir).display()
            ))
        })?;
    }

    let chosen = choose(&manifests, existing.as_ref(), &opts.out)?;
    check_bytes(&chosen)?;

    fsutil::create_dir_all(&opts.out)?;
    let mut out_m = match existing {
        Some(m) => m,
        None => {
            let mut m = first.clone();
            m.artifacts.clear();
            m
        }
    };
    // Fill in source facts a partial manifest may lack.
    for (_, m) in &manifests {
        crate::package::fill_source(&mut out_m.source, &m.source);
    }

    let mut merged = Vec::new();
    for (d, a) in chosen.values() {
        let copied = crate::package::copy_artifact(d, a, &opts.out)?;
        let mut art = a.clone();
        art.checksum_file = format!("{}.sha256", a.file);
        out_m.upsert(art);
        merged.push(MergedArtifact {
            target: a.target.clone(),
            file: a.file.clone(),
            size: a.size,
            sha256: a.sha256.clone(),
            from: d.display().to_string(),
            copied,
        });
    }
    out_m.save(&opts.out)?;
    Ok(MergeReport {
        out: opts.out.display().to_string(),
        version: out_m.version.clone(),
        dirs: opts.dirs.iter().map(|d| d.display().to_string()).collect(),
        artifacts: merged,
    })
}

/// The manifests of the partial dists, each of the same release (and of `expect_version`).
fn load_partials(opts: &MergeOptions) -> Result<Vec<(PathBuf, Manifest)>> {
    if opts.dirs.is_empty() {
        return Err(Error::input("--merge: name at least one partial dist directory"));
    }
    let mut manifests: Vec<(PathBuf, Manifest)> = Vec::new();
    for d in &opts.dirs {
        if !d.is_dir() {
            return Err(Error::input(format!("--merge: {}: not a directory", d.display())));
        }
        let m = Manifest::load(d).map_err(|e| e.context(format!("--merge {}", d.display())))?;
        manifests.push((d.clone(), m));
    }
    let (first_dir, first) = &manifests[0];
    for (d, m) in &manifests[1..] {
        first.compatible(m).map_err(|why| {
            Error::input(format!(
                "--merge: {} and {} are not of the same release: {why}",
                first_dir.join(manifest::MANIFEST).display(),
                d.join(manifest::MANIFEST).display()
            ))
        })?;
    }
    if let Some(v) = &opts.expect_version {
        first.check_release(v, format!("--merge: {}", Manifest::path(first_dir).display()))?;
    }
    Ok(manifests)
}

/// file -> (dir, artifact): any kind, one file per name; the same file with other bytes in
/// two partial dists, or in `out` already, is a conflict.
fn choose(manifests: &[(PathBuf, Manifest)], existing: Option<&Manifest>, out: &Path) -> Result<BTreeMap<String, (PathBuf, Artifact)>> {
    let mut chosen: BTreeMap<String, (PathBuf, Artifact)> = BTreeMap::new();
    for (d, m) in manifests {
        for a in &m.artifacts {
            if let Some((d0, a0)) = chosen.get(&a.file) {
                if a0.sha256 != a.sha256 {
                    return Err(Error::input(format!(
                        "--merge: conflict for target {}: {} has {} (sha256 {}), {} has {} (sha256 {}); \
                         a target must be built once per release",
                        a.target,
                        d0.display(),
                        a0.file,
                        a0.sha256,
                        d.display(),
                        a.file,
                        a.sha256
                    )));
                }
                continue;
            }
            crate::package::check_file_name(d, a)?;
            chosen.insert(a.file.clone(), (d.clone(), a.clone()));
        }
    }
    if let Some(ex) = existing {
        for a in &ex.artifacts {
            if let Some((d, b)) = chosen.get(&a.file) {
                if a.sha256 != b.sha256 {
                    return Err(Error::input(format!(
                        "--merge: conflict for target {}: {} already holds sha256 {}, {} has sha256 {}",
                        a.target,
                        out.display(),
                        a.sha256,
                        d.display(),
                        b.sha256
                    )));
                }
            }
        }
    }
    Ok(chosen)
}

/// Every file must match its manifest before anything is copied.
fn check_bytes(chosen: &BTreeMap<String, (PathBuf, Artifact)>) -> Result<()> {
    for (d, a) in chosen.values() {
        let p = d.join(&a.file);
        let (sha, size) = fsutil::sha256_file(&p).map_err(|e| match e {
            Error::Input(m) => Error::check(m),
            other => other,
        })?;
        if sha != a.sha256 || size != a.size {
            return Err(Error::check(format!(
                "{}: sha256 {sha} ({size} bytes) does not match {} ({} bytes, sha256 {})",
                p.display(),
                Manifest::path(d).display(),
                a.size,
                a.sha256
            )));
        }
    }
    Ok(())
}
