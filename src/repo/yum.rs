//! A yum/dnf repository per platform and architecture:
//! `packaging/valkey-<M.m>/rpm/<platform>/<arch>/` holding the .rpms and `repodata/`
//! (`repomd.xml`, its detached signature `repomd.xml.asc`, and the checksum-named
//! `*-primary.xml.gz`, `*-filelists.xml.gz`, `*-other.xml.gz`), the keys Valkey's packages use.
//!
//! The metadata is made by the real `createrepo_c` on the host (the signing key never leaves
//! the host, and the repository tree is the host's copy of the store): `--update` reuses the
//! entries of the packages already indexed, and the directory holds every published .rpm of
//! `M.m`, so every patch version stays listed. Before it runs, the packages the old metadata
//! lists are read from it; a listed package whose file is missing stops the update (exit 1):
//! createrepo_c would silently drop it. In a store, [`super::yum_store`] runs this on a scratch
//! copy of the store's repository. Users' repo file (docs/packages.md):
//!
//! ```text
//! [valkey]
//! baseurl=https://download.valkey.io/packaging/valkey-8.1/rpm/el9/$basearch
//! gpgcheck=1
//! repo_gpgcheck=1
//! gpgkey=https://download.valkey.io/packaging/GPG-KEY-valkey.asc
//! ```

use crate::error::{Error, Result};
use crate::pkg::recipes;
use crate::sign::{self, SigningKey};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

/// One yum repository to update: its directory and the .rpms to add.
#[derive(Debug, Clone)]
pub struct YumUpdate {
    /// Relative key of the repository directory (`packaging/valkey-8.1/rpm/el9/x86_64`).
    pub key: String,
    /// `8.1`
    pub minor: String,
    /// `el9`
    pub platform: String,
    /// `x86_64`, `aarch64`
    pub arch: String,
    pub rpms: Vec<PathBuf>,
}

/// The outcome for one repository.
#[derive(Debug, Clone, serde::Serialize)]
pub struct YumReport {
    pub key: String,
    pub added: Vec<String>,
    pub already: Vec<String>,
    /// Every package file the metadata now lists, sorted.
    pub indexed: Vec<String>,
}

/// The parts of `<name>-<version>-<release>.<arch>.rpm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmName {
    pub name: String,
    pub version: String,
    pub release: String,
    pub arch: String,
}

/// Parse an .rpm file name (`valkey-devel-8.1.1-1.1.el9.noarch.rpm`).
pub fn parse_rpm_name(file: &str) -> Option<RpmName> {
    let stem = file.strip_suffix(".rpm")?;
    let (nvr, arch) = stem.rsplit_once('.')?;
    let (nv, release) = nvr.rsplit_once('-')?;
    let (name, version) = nv.rsplit_once('-')?;
    (!name.is_empty() && !version.is_empty() && !release.is_empty() && !arch.is_empty()).then(|| RpmName {
        name: name.into(),
        version: version.into(),
        release: release.into(),
        arch: arch.into(),
    })
}

/// Group .rpm files into repositories: the platform from the release's dist tag
/// (`1.1.el9.rocky` -> rocky9, see packaging/rpm/platforms), `M.m` from the version; noarch
/// packages go into every architecture of their platform.
pub fn plan_yum(rpms: &[PathBuf]) -> Result<Vec<YumUpdate>> {
    let mut platforms = recipes::rpm_platforms();
    // The longest dist tag first: `.el9.rocky` before `.el9`.
    platforms.sort_by_key(|p| std::cmp::Reverse(p.dist.len()));
    let mut by_platform: BTreeMap<String, (String, Vec<(String, PathBuf)>)> = BTreeMap::new();
    for f in rpms {
        let file = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let n = parse_rpm_name(file)
            .ok_or_else(|| Error::input(format!("{}: not a <name>-<version>-<release>.<arch>.rpm name", f.display())))?;
        let p = platforms.iter().find(|p| n.release.ends_with(&p.dist)).ok_or_else(|| {
            Error::input(format!(
                "{file}: release {:?} ends with no dist tag of packaging/rpm/platforms",
                n.release
            ))
        })?;
        let mut nums = n.version.split(['.', '~']);
        let minor = match (nums.next(), nums.next()) {
            (Some(a), Some(b)) if a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok() => format!("{a}.{b}"),
            _ => return Err(Error::input(format!("{file}: version {:?} has no M.m", n.version))),
        };
        let e = by_platform.entry(p.id.clone()).or_insert_with(|| (minor.clone(), Vec::new()));
        if e.0 != minor {
            return Err(Error::input(format!("{file}: mixes Valkey {minor} with {} in one run", e.0)));
        }
        e.1.push((n.arch, f.clone()));
    }
    let mut out = Vec::new();
    for (platform, (minor, files)) in by_platform {
        let arches: BTreeSet<&String> = files.iter().map(|(a, _)| a).filter(|a| *a != "noarch").collect();
        if arches.is_empty() {
            return Err(Error::input(format!(
                "{platform}: only noarch .rpms; no architecture to publish for"
            )));
        }
        for arch in arches {
            let mut rpms: Vec<PathBuf> = files
                .iter()
                .filter(|(a, _)| a == arch || a == "noarch")
                .map(|(_, p)| p.clone())
                .collect();
            rpms.sort();
            rpms.dedup_by(|a, b| a.file_name() == b.file_name());
            out.push(YumUpdate {
                key: format!("packaging/valkey-{minor}/rpm/{platform}/{arch}"),
                minor: minor.clone(),
                platform: platform.clone(),
                arch: arch.clone(),
                rpms,
            });
        }
    }
    Ok(out)
}

fn read(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).map_err(|e| Error::io(p, "read", e))
}

/// One `<data type=...>` entry of repomd.xml: (type, location href, sha256 of the file).
pub fn repomd_entries(repomd: &str) -> Vec<(String, String, String)> {
    let data = regex::Regex::new(r#"(?s)<data type="([^"]+)">(.*?)</data>"#).expect("regex");
    let loc = regex::Regex::new(r#"<location href="([^"]+)""#).expect("regex");
    let sum = regex::Regex::new(r#"<checksum type="sha256">([0-9a-f]{64})</checksum>"#).expect("regex");
    data.captures_iter(repomd)
        .filter_map(|c| {
            let body = c.get(2)?.as_str();
            Some((
                c[1].to_string(),
                loc.captures(body)?[1].to_string(),
                sum.captures(body)?[1].to_string(),
            ))
        })
        .collect()
}

/// The packages a repository's metadata lists: (location href, sha256), from the primary data
/// that `repodata/repomd.xml` names. `None` when there is no repomd.xml yet.
pub fn listed_packages(dir: &Path) -> Result<Option<Vec<(String, String)>>> {
    let repomd_path = dir.join("repodata/repomd.xml");
    let repomd = match std::fs::read_to_string(&repomd_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&repomd_path, "read", e)),
    };
    let (_, href, _) = repomd_entries(&repomd)
        .into_iter()
        .find(|(t, _, _)| t == "primary")
        .ok_or_else(|| Error::check(format!("{}: no primary data", repomd_path.display())))?;
    primary_packages(&href, &read(&dir.join(&href))?).map(Some)
}

/// The packages (location href, sha256) of a primary data file `href` (gz or xz), sorted.
pub fn primary_packages(href: &str, raw: &[u8]) -> Result<Vec<(String, String)>> {
    let mut xml = String::new();
    if href.ends_with(".gz") {
        flate2::read::GzDecoder::new(raw)
            .read_to_string(&mut xml)
            .map_err(|e| Error::check(format!("{href}: {e}")))?;
    } else if href.ends_with(".xz") {
        xz2::read::XzDecoder::new(raw)
            .read_to_string(&mut xml)
            .map_err(|e| Error::check(format!("{href}: {e}")))?;
    } else {
        return Err(Error::check(format!(
            "repomd.xml: primary data {href} uses a compression this tool does not read (gz, xz)"
        )));
    }
    let pkg = regex::Regex::new(r#"(?s)<package type="rpm">(.*?)</package>"#).expect("regex");
    let sum = regex::Regex::new(r#"<checksum type="sha256" pkgid="YES">([0-9a-f]{64})</checksum>"#).expect("regex");
    let loc = regex::Regex::new(r#"<location href="([^"]+)""#).expect("regex");
    let mut out = Vec::new();
    for c in pkg.captures_iter(&xml) {
        let body = &c[1];
        let (Some(s), Some(l)) = (sum.captures(body), loc.captures(body)) else {
            return Err(Error::check(format!("{href}: a package entry without sha256 checksum or location")));
        };
        out.push((l[1].to_string(), s[1].to_string()));
    }
    out.sort();
    Ok(out)
}

/// Run `createrepo_c` (the real one, on the host) on a repository directory.
fn createrepo(dir: &Path, revision: i64) -> Result<()> {
    let mut cmd = std::process::Command::new("createrepo_c");
    cmd.args(["--update", "--skip-stat", "--no-database", "--workers", "1", "--checksum", "sha256"])
        .args(["--general-compress-type", "gz", "--retain-old-md", "0"])
        .arg("--revision")
        .arg(revision.to_string())
        .arg("--set-timestamp-to-revision")
        .arg(dir);
    let out = cmd.output().map_err(|e| {
        Error::external(format!(
            "cannot run createrepo_c ({e}): install it (Debian: apt-get install createrepo-c; .ci/setup does)"
        ))
    })?;
    if !out.status.success() {
        return Err(Error::external(format!(
            "createrepo_c {} failed ({}): {}{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// Update one yum repository under `root`: the signed .rpms first (a published file is never
/// replaced with other bytes: exit 4), then the metadata by `createrepo_c --update`, then
/// `repomd.xml.asc`; then verify. `revision` (SOURCE_DATE_EPOCH) is the metadata's revision
/// and timestamp, so the same packages give the same repodata. Every .rpm must already carry a
/// signature by `key` ([`crate::pkg::rpm::sign_dist_rpms`]).
pub fn update_yum(root: &Path, up: &YumUpdate, key: &SigningKey, revision: i64) -> Result<YumReport> {
    let dir = root.join(&up.key);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create", e))?;
    // What is published already must stay listed: every file it lists is there with its bytes.
    let before = listed_packages(&dir)?.unwrap_or_default();
    for (href, sha) in &before {
        let p = dir.join(href);
        let got = std::fs::read(&p).map(|b| hex::encode(Sha256::digest(b)));
        if got.as_deref().ok() != Some(sha.as_str()) {
            return Err(Error::check(format!(
                "{}: the published metadata lists {href} (sha256 {sha}), but the file is {}; the \
                 repository tree must hold every published package (nothing is dropped from the index)",
                dir.display(),
                if got.is_ok() { "different" } else { "missing" }
            )));
        }
    }
    let (mut added, mut already, mut to_write) = (Vec::new(), Vec::new(), Vec::new());
    for f in &up.rpms {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let bytes = read(f)?;
        if !crate::pkg::rpm::is_signed_by(&bytes, key, &name)? {
            return Err(Error::check(format!(
                "{}: not signed by the release key {}: sign the release's .rpms first",
                f.display(),
                key.fingerprint()
            )));
        }
        let p = dir.join(&name);
        match std::fs::read(&p) {
            Ok(old) if old == bytes => already.push(name),
            Ok(_) => {
                return Err(Error::refused(format!(
                    "{}: a different file of that name is already in the repository; a published \
                     package is never replaced: raise the package release instead",
                    p.display()
                )))
            }
            Err(_) => {
                to_write.push((p, bytes));
                added.push(name);
            }
        }
    }
    // 1. the packages (their mtime, which the primary data records, is the revision)
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(revision).unwrap_or(0));
    for (p, bytes) in &to_write {
        crate::fsutil::write_atomic(p, bytes)?;
        std::fs::File::options()
            .write(true)
            .open(p)
            .and_then(|f| f.set_modified(mtime))
            .map_err(|e| Error::io(p, "set the mtime of", e))?;
    }
    // 2. the metadata (createrepo_c builds it in .repodata/ and swaps it in), 3. its signature
    createrepo(&dir, revision)?;
    let repomd_path = dir.join("repodata/repomd.xml");
    let repomd = read(&repomd_path)?;
    crate::fsutil::write_atomic(&dir.join("repodata/repomd.xml.asc"), key.detached_armored(&repomd)?.as_bytes())?;
    verify_yum_dir(&dir, &key.public_armored())?;
    let indexed: Vec<String> = listed_packages(&dir)?.unwrap_or_default().into_iter().map(|(h, _)| h).collect();
    for (href, _) in &before {
        if !indexed.contains(href) {
            return Err(Error::check(format!(
                "{}: {href} was listed before the update and is not now",
                dir.display()
            )));
        }
    }
    Ok(YumReport {
        key: up.key.clone(),
        added,
        already,
        indexed,
    })
}

/// Check a yum repository directory: `repomd.xml.asc` verifies with the key; every metadata
/// file repomd.xml names matches its sha256; every listed package is present with its sha256,
/// and every .rpm in the directory is listed.
pub fn verify_yum_dir(dir: &Path, public_armored: &str) -> Result<()> {
    let repomd_path = dir.join("repodata/repomd.xml");
    let repomd = read(&repomd_path)?;
    sign::verify_detached(public_armored, &repomd, &read(&dir.join("repodata/repomd.xml.asc"))?)
        .map_err(|e| e.context("repomd.xml.asc"))?;
    for (t, href, sha) in repomd_entries(&String::from_utf8_lossy(&repomd)) {
        if hex::encode(Sha256::digest(read(&dir.join(&href))?)) != sha {
            return Err(Error::check(format!(
                "{}: {href} ({t}) does not match its sha256 in repomd.xml",
                dir.display()
            )));
        }
    }
    let listed = listed_packages(dir)?.unwrap_or_default();
    for (href, sha) in &listed {
        if hex::encode(Sha256::digest(read(&dir.join(href))?)) != *sha {
            return Err(Error::check(format!(
                "{}: {href} does not match its sha256 in the primary data",
                dir.display()
            )));
        }
    }
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))?;
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if n.ends_with(".rpm") && !listed.iter().any(|(h, _)| *h == n) {
            return Err(Error::check(format!("{}: {n} is in the directory but not listed", dir.display())));
        }
    }
    Ok(())
}
