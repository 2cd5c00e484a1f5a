//! Building the package repositories as files in a directory (a store's tree: `packaging/...`).
//!
//! Order, so a reader never sees a half-updated repository: the new packages first (a
//! published file is never overwritten with other bytes), then `Packages`/`Packages.gz`, then
//! `Release`, `Release.gpg`, `InRelease` (each written to a temporary name and renamed), and
//! last a verification of what is on disk: signatures against the public key, the index's
//! hashes, and every indexed package present with its SHA256.

use super::apt::{self, AptIndex, AptMeta};
use crate::error::{Error, Result};
use crate::pkg::recipes;
use crate::sign::SigningKey;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One apt repository to update: its directory and the .debs to add.
#[derive(Debug, Clone)]
pub struct AptUpdate {
    pub meta: AptMeta,
    /// Relative key of the repository directory (`packaging/valkey-8.1/deb/debian12/amd64`).
    pub key: String,
    pub debs: Vec<PathBuf>,
}

/// The outcome for one repository.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AptReport {
    pub key: String,
    pub added: Vec<String>,
    pub already: Vec<String>,
    /// Every (package version arch) the index now holds.
    pub indexed: Vec<String>,
}

/// Parse `<package>_<debversion>_<arch>.deb` into its parts.
pub fn parse_deb_name(name: &str) -> Option<(String, String, String)> {
    let stem = name.strip_suffix(".deb")?;
    let mut it = stem.splitn(3, '_');
    let (p, v, a) = (it.next()?, it.next()?, it.next()?);
    Some((p.to_string(), v.to_string(), a.to_string()))
}

/// Group the .debs of a dist directory into repositories: `(codename, arch)` from the file
/// names (`8.1.1-1.bookworm`); `all` packages go into every architecture of their codename.
pub fn plan_apt(debs: &[PathBuf], date: &str) -> Result<Vec<AptUpdate>> {
    let mut by_codename: BTreeMap<String, (String, Vec<(String, PathBuf)>)> = BTreeMap::new();
    for d in debs {
        let name = d.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let (_, version, arch) =
            parse_deb_name(name).ok_or_else(|| Error::input(format!("{}: not a <package>_<version>_<arch>.deb name", d.display())))?;
        let (upstream, codename) = version
            .rsplit_once("-1.")
            .ok_or_else(|| Error::input(format!("{name}: version {version:?} is not <V>-1.<codename>")))?;
        let mut nums = upstream.split(['.', '~']);
        let minor = match (nums.next(), nums.next()) {
            (Some(a), Some(b)) => format!("{a}.{b}"),
            _ => return Err(Error::input(format!("{name}: version {version:?} has no M.m"))),
        };
        let e = by_codename
            .entry(codename.to_string())
            .or_insert_with(|| (minor.clone(), Vec::new()));
        if e.0 != minor {
            return Err(Error::input(format!("{name}: mixes Valkey {minor} with {} in one run", e.0)));
        }
        e.1.push((arch, d.clone()));
    }
    let mut out = Vec::new();
    for (codename, (minor, files)) in by_codename {
        let platform = recipes::deb_platform(&codename)
            .ok_or_else(|| Error::input(format!("no platform id for codename {codename:?} in packaging/deb/platforms")))?;
        let mut arches: Vec<String> = files.iter().map(|(a, _)| a.clone()).filter(|a| a != "all").collect();
        arches.sort();
        arches.dedup();
        if arches.is_empty() {
            return Err(Error::input(format!(
                "{codename}: only architecture-independent .debs; no architecture to publish for"
            )));
        }
        for arch in arches {
            let mut debs: Vec<PathBuf> = files
                .iter()
                .filter(|(a, _)| *a == arch || a == "all")
                .map(|(_, p)| p.clone())
                .collect();
            debs.sort();
            debs.dedup_by(|a, b| a.file_name() == b.file_name());
            out.push(AptUpdate {
                key: format!("packaging/valkey-{minor}/deb/{}/{arch}", platform.id),
                meta: AptMeta {
                    minor: minor.clone(),
                    platform: platform.id.clone(),
                    codename: codename.clone(),
                    arch,
                    date: date.to_string(),
                },
                debs,
            });
        }
    }
    Ok(out)
}

/// Write `bytes` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp-valkey-release");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, "write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, "rename into place", e))
}

/// Update one apt repository under `root` (packages, then index, then signatures; then verify).
pub fn update_apt(root: &Path, up: &AptUpdate, key: &SigningKey) -> Result<AptReport> {
    let dir = root.join(&up.key);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create", e))?;
    let packages_path = dir.join("Packages");
    let mut index = match std::fs::read_to_string(&packages_path) {
        Ok(t) => AptIndex::parse(&t, &packages_path.display().to_string())?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => AptIndex::default(),
        Err(e) => return Err(Error::io(&packages_path, "read", e)),
    };
    let (mut added, mut already) = (Vec::new(), Vec::new());
    // 1. the packages (checked against the index before anything is written)
    let mut to_write = Vec::new();
    for deb in &up.debs {
        let name = deb.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let bytes = std::fs::read(deb).map_err(|e| Error::io(deb, "read", e))?;
        if index.add_deb(&name, &bytes)? {
            to_write.push((name.clone(), bytes));
            added.push(name);
        } else {
            already.push(name);
        }
    }
    for (name, bytes) in &to_write {
        let p = dir.join(name);
        match std::fs::read(&p) {
            Ok(old) if old == *bytes => continue,
            Ok(_) => {
                return Err(Error::refused(format!(
                    "{}: a different file of that name is already in the repository; it is never overwritten",
                    p.display()
                )))
            }
            Err(_) => write_atomic(&p, bytes)?,
        }
    }
    // 2. the index and 3. its signatures, last
    let files = apt::index_files(&index, &up.meta, key)?;
    for (name, bytes) in &files.files {
        write_atomic(&dir.join(name), bytes)?;
    }
    verify_apt_dir(&dir, &key.public_armored())?;
    let indexed = index.keys().into_iter().map(|(p, v, a)| format!("{p} {v} {a}")).collect();
    Ok(AptReport {
        key: up.key.clone(),
        added,
        already,
        indexed,
    })
}

/// Check an apt repository directory: `Release.gpg` and `InRelease` verify with the key and
/// agree with `Release`; `Packages`/`Packages.gz` match the Release hashes; every indexed .deb
/// is present with its SHA256.
pub fn verify_apt_dir(dir: &Path, public_armored: &str) -> Result<()> {
    let read = |n: &str| std::fs::read(dir.join(n)).map_err(|e| Error::io(&dir.join(n), "read", e));
    for (file, want) in apt::verify_index(&read, public_armored, &dir.display().to_string())? {
        let got = hex::encode(Sha256::digest(read(&file)?));
        if got != want {
            return Err(Error::check(format!(
                "{}: {file} does not match its SHA256 in Packages",
                dir.display()
            )));
        }
    }
    Ok(())
}
