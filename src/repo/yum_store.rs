//! The yum format of [`super::store`]: a yum repository per platform and architecture
//! (`packaging/valkey-<M.m>/rpm/<platform>/<arch>/`, see [`super::yum`]) updated in any store
//! through the same code as apt.
//!
//! The merge needs what the store holds: `repodata/repomd.xml`, the metadata it names, and
//! every package the old primary data lists (read like index files, through
//! [`super::Repository::wanted`]). They are laid out in a scratch directory with this release's
//! packages, and the real `createrepo_c --update` ([`super::yum::update_yum`]) makes the merged
//! metadata there: every published patch of `M.m` stays listed. A listed package missing from
//! the store stops the merge (exit 1); one of this release's packages listed with other bytes
//! is refused (exit 4), before anything is written. The index written back is the new
//! checksum-named metadata, then `repodata/repomd.xml`, then `repodata/repomd.xml.asc`.

use super::yum::{self, YumUpdate};
use super::{Have, Merged};
use crate::error::{Error, Result};
use crate::sign::SigningKey;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;

const REPOMD: &str = "repodata/repomd.xml";
const REPOMD_ASC: &str = "repodata/repomd.xml.asc";

/// The yum format: one repository per rpm platform and architecture.
pub struct Yum;

/// A [`YumUpdate`] with the index date of its release (the metadata's revision).
pub struct YumRepo {
    up: YumUpdate,
    revision: i64,
}

impl super::Format for Yum {
    fn name(&self) -> &'static str {
        "yum"
    }
    fn package_kind(&self) -> &'static str {
        "rpm"
    }
    fn plan(&self, packages: &[PathBuf], date: &str) -> Result<Vec<Box<dyn super::Repository>>> {
        let revision = chrono::NaiveDateTime::parse_from_str(date.trim_end_matches(" UTC"), "%a, %d %b %Y %H:%M:%S")
            .map_err(|e| Error::input(format!("index date {date:?}: {e}")))?
            .and_utc()
            .timestamp();
        Ok(yum::plan_yum(packages)?
            .into_iter()
            .map(|up| Box::new(YumRepo { up, revision }) as Box<dyn super::Repository>)
            .collect())
    }
}

fn text(have: &Have, name: &str) -> Option<String> {
    have.get(name)
        .and_then(|b| b.as_ref())
        .map(|b| String::from_utf8_lossy(b).to_string())
}

/// The old primary data's packages, once repomd.xml and the primary file are read.
fn old_listed(have: &Have) -> Result<Option<Vec<(String, String)>>> {
    let Some(repomd) = text(have, REPOMD) else { return Ok(None) };
    let Some((_, href, _)) = yum::repomd_entries(&repomd).into_iter().find(|(t, _, _)| t == "primary") else {
        return Err(Error::check(format!("{REPOMD}: no primary data")));
    };
    match have.get(&href).and_then(|b| b.as_ref()) {
        Some(raw) => yum::primary_packages(&href, raw).map(Some),
        None => Ok(None),
    }
}

impl YumRepo {
    fn new_names(&self) -> Vec<String> {
        self.up
            .rpms
            .iter()
            .map(|p| p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string())
            .collect()
    }

    /// Lay out the published repository (metadata and the listed packages not in this release)
    /// under `dir`, checking each listed package's bytes.
    fn lay_out_old(&self, have: &Have, dir: &std::path::Path, listed: &[(String, String)]) -> Result<()> {
        let repomd = text(have, REPOMD).unwrap_or_default();
        std::fs::create_dir_all(dir.join("repodata")).map_err(|e| Error::io(dir, "create", e))?;
        let mut files = vec![REPOMD.to_string()];
        files.extend(yum::repomd_entries(&repomd).into_iter().map(|(_, h, _)| h));
        for f in files {
            let b = have
                .get(&f)
                .and_then(|b| b.as_ref())
                .ok_or_else(|| Error::check(format!("{}/{f}: named by repomd.xml but missing from the store", self.up.key)))?;
            crate::fsutil::write_atomic(&dir.join(&f), b)?;
        }
        let new = self.new_names();
        for (href, sha) in listed.iter().filter(|(h, _)| !new.contains(h)) {
            match have.get(href).and_then(|b| b.as_ref()) {
                Some(b) if hex::encode(Sha256::digest(b)) == *sha => crate::fsutil::write_atomic(&dir.join(href), b)?,
                got => {
                    return Err(Error::check(format!(
                        "{}/{href}: listed in the published metadata (sha256 {sha}) but {} in the store; every \
                         published package must stay in the repository (nothing is dropped from the index)",
                        self.up.key,
                        if got.is_some() { "different" } else { "missing" }
                    )))
                }
            }
        }
        Ok(())
    }
}

impl super::Repository for YumRepo {
    fn key(&self) -> &str {
        &self.up.key
    }
    fn packages(&self) -> &[PathBuf] {
        &self.up.rpms
    }
    fn wanted(&self, have: &Have, all: bool) -> Vec<String> {
        let Some(repomd) = have.get(REPOMD) else {
            return vec![REPOMD.to_string()];
        };
        let Some(repomd) = repomd.as_ref().map(|b| String::from_utf8_lossy(b).to_string()) else {
            return Vec::new(); // nothing published yet
        };
        let mut want: Vec<String> = yum::repomd_entries(&repomd).into_iter().map(|(_, h, _)| h).collect();
        if all {
            want.push(REPOMD_ASC.to_string());
        } else if let Ok(Some(listed)) = old_listed(have) {
            let new = self.new_names();
            want.extend(listed.into_iter().map(|(h, _)| h).filter(|h| !new.contains(h)));
        }
        want.retain(|n| !have.contains_key(n));
        want
    }
    fn merge(&self, have: &Have, packages: &[(String, Vec<u8>)], key: &SigningKey) -> Result<Merged> {
        let listed = old_listed(have)?.unwrap_or_default();
        // This release's packages against the published index: same bytes or refused.
        for (name, bytes) in packages {
            if let Some((_, sha)) = listed.iter().find(|(h, _)| h == name) {
                if hex::encode(Sha256::digest(bytes)) != *sha {
                    return Err(Error::refused(format!(
                        "{}/{name}: already published with other bytes (sha256 {sha}); a published package is \
                         never replaced: raise the package release instead",
                        self.up.key
                    )));
                }
            }
        }
        let tmp = tempfile::tempdir().map_err(|e| Error::io(&std::env::temp_dir(), "create a scratch directory in", e))?;
        let dir = tmp.path().join("repo").join(&self.up.key);
        if text(have, REPOMD).is_some() {
            self.lay_out_old(have, &dir, &listed)?;
            // Listed with the same bytes (checked above): in place, so they count as already there.
            for (name, bytes) in packages.iter().filter(|(n, _)| listed.iter().any(|(h, _)| h == n)) {
                crate::fsutil::write_atomic(&dir.join(name), bytes)?;
            }
        }
        let incoming = tmp.path().join("incoming");
        crate::fsutil::create_dir_all(&incoming)?;
        let mut up = self.up.clone();
        up.rpms = Vec::new();
        for (name, bytes) in packages {
            let p = incoming.join(name);
            crate::fsutil::write_atomic(&p, bytes)?;
            up.rpms.push(p);
        }
        let report = yum::update_yum(&tmp.path().join("repo"), &up, key, self.revision)?;
        let repomd = std::fs::read(dir.join(REPOMD)).map_err(|e| Error::io(&dir.join(REPOMD), "read", e))?;
        let mut index = Vec::new();
        for (_, href, _) in yum::repomd_entries(&String::from_utf8_lossy(&repomd)) {
            let b = std::fs::read(dir.join(&href)).map_err(|e| Error::io(&dir.join(&href), "read", e))?;
            index.push((href, b));
        }
        index.push((REPOMD.to_string(), repomd));
        let asc = std::fs::read(dir.join(REPOMD_ASC)).map_err(|e| Error::io(&dir.join(REPOMD_ASC), "read", e))?;
        index.push((REPOMD_ASC.to_string(), asc));
        Ok(Merged {
            added: report.added,
            already: report.already,
            index,
            indexed: report.indexed,
        })
    }
    fn verify(&self, files: &BTreeMap<String, Vec<u8>>, public_armored: &str) -> Result<Vec<(String, String)>> {
        let get = |n: &str| {
            files
                .get(n)
                .ok_or_else(|| Error::check(format!("{}/{n}: missing from the repository", self.up.key)))
        };
        let repomd = get(REPOMD)?;
        crate::sign::verify_detached(public_armored, repomd, get(REPOMD_ASC)?)
            .map_err(|e| e.context(format!("{}/{REPOMD_ASC}", self.up.key)))?;
        let mut listed = None;
        for (t, href, sha) in yum::repomd_entries(&String::from_utf8_lossy(repomd)) {
            let b = get(&href)?;
            if hex::encode(Sha256::digest(b)) != sha {
                return Err(Error::check(format!(
                    "{}/{href} ({t}) does not match its sha256 in repomd.xml",
                    self.up.key
                )));
            }
            if t == "primary" {
                listed = Some(yum::primary_packages(&href, b)?);
            }
        }
        listed.ok_or_else(|| Error::check(format!("{}/{REPOMD}: no primary data", self.up.key)))
    }
}
