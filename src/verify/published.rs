//! A published release downloaded into a local directory, with the names it has in a dist
//! directory, so `verify --provenance` and `rebuild` check a store exactly as a local release.
//!
//! Where from: any store URL of the one store factory (`s3://BUCKET/PREFIX/`, `file://DIR`) or
//! an HTTP(S) prefix (`https://download.valkey.io/releases/`). What: the manifest
//! (`valkey-<V>.manifest.json`, as `upload` names it; `manifest.json` where a dist directory
//! itself is served), the artifacts it lists with their `.sha256` (under their kind's key
//! prefix, e.g. `deb/`), `valkey-<V>.SHA256SUMS` (as `SHA256SUMS`), the provenance
//! `valkey-<V>.intoto.jsonl`, and, for `verify --provenance`, every other subject the
//! provenance names (`X` or `valkey-<V>.X`). Objects the manifest and the provenance do not name
//! cannot be listed over HTTP and are not looked for.

use super::remote::Remote;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, MANIFEST, SHA256SUMS};
use std::path::Path;

/// What to download.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    /// The release's version (names the manifest in a store); `None`: only `manifest.json`.
    pub version: Option<String>,
    /// Targets whose artifacts to download (empty: all).
    pub targets: Vec<String>,
    /// The provenance's name (default `valkey-<V>.intoto.jsonl`).
    pub provenance: Option<String>,
    /// Also every subject of the provenance (for `verify --provenance`).
    pub subjects: bool,
}

/// What was downloaded.
#[derive(Debug, Clone)]
pub struct Downloaded {
    pub manifest: Manifest,
    /// The provenance's file name in the directory, when it is published.
    pub provenance: Option<String>,
    /// Names looked for but not published (artifacts, checksum files, subjects).
    pub missing: Vec<String>,
}

/// Download the release at `url` into `into` (created). Exit 1 when no manifest is published,
/// 2 when `url` is not a store or HTTP URL, 3 when the store or the network fails.
pub async fn download(url: &str, want: &Wanted, into: &Path) -> Result<Downloaded> {
    let remote = Remote::open(url).await?;
    crate::fsutil::create_dir_all(into)?;
    let mut names: Vec<String> = want.version.iter().map(|v| format!("valkey-{v}.manifest.json")).collect();
    names.push(MANIFEST.to_string());
    if !first_of(&remote, &names, &into.join(MANIFEST)).await? {
        return Err(match &want.version {
            Some(v) => Error::check(format!(
                "{}: not published (no manifest of valkey {v} there)",
                remote.url(&names[0])
            )),
            None => Error::input(format!(
                "{}: not found; give the release's version (--version V) to read valkey-<V>.manifest.json",
                remote.url(MANIFEST)
            )),
        });
    }
    let manifest = Manifest::load(into).map_err(|e| Error::check(format!("{url}: the published manifest is unusable: {e}")))?;
    if let Some(v) = want.version.as_ref().filter(|v| **v != manifest.version) {
        return Err(Error::check(format!(
            "{}: the published manifest is of version {}, not {v}",
            remote.url(&names[0]),
            manifest.version
        )));
    }
    let v = manifest.version.clone();
    let mut missing = Vec::new();
    for a in manifest
        .artifacts
        .iter()
        .filter(|a| want.targets.is_empty() || want.targets.contains(&a.target))
    {
        for name in [&a.file, &a.checksum_file] {
            let mut keys = vec![crate::artifact::key_name(a, name)];
            if keys[0] != *name {
                keys.push(name.clone());
            }
            if !first_of(&remote, &keys, &into.join(name)).await? {
                missing.push(name.clone());
            }
        }
    }
    first_of(
        &remote,
        &[format!("valkey-{v}.{SHA256SUMS}"), SHA256SUMS.to_string()],
        &into.join(SHA256SUMS),
    )
    .await?;
    let prov = want.provenance.clone().unwrap_or_else(|| crate::provenance::file_name(&v));
    crate::fsutil::check_plain_name(&prov, "the provenance file name")?;
    let provenance = first_of(&remote, std::slice::from_ref(&prov), &into.join(&prov))
        .await?
        .then_some(prov);
    if want.subjects {
        if let Some(p) = &provenance {
            for s in subject_names(&into.join(p)) {
                if crate::fsutil::is_plain_name(&s)
                    && !into.join(&s).exists()
                    && !first_of(&remote, &[s.clone(), format!("valkey-{v}.{s}")], &into.join(&s)).await?
                {
                    missing.push(s);
                }
            }
        }
    }
    Ok(Downloaded {
        manifest,
        provenance,
        missing,
    })
}

/// Download the first of `names` that is published into `dest`; false when none is.
async fn first_of(remote: &Remote, names: &[String], dest: &Path) -> Result<bool> {
    for n in names {
        if remote.download(n, dest).await?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The subject names of a provenance file (none when it is unreadable: its check says why).
fn subject_names(p: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(p) else {
        return vec![];
    };
    let Ok(env) = crate::provenance::dsse::Envelope::from_jsonl("provenance", &text) else {
        return vec![];
    };
    let Some(st) = env
        .payload_bytes()
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return vec![];
    };
    st["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect()
}
