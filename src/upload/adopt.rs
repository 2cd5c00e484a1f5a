//! A prod release re-run into a fresh dist (a CI job re-run on a new runner after its upload
//! finished) makes the same artifacts, SHA256SUMS and signature, but new run records:
//! manifest.json (the build's seconds) and the provenance (its start and finish times).
//! Prod writes are create-only, so those would be refused. When the store already holds this
//! very release (its SHA256SUMS has the same bytes as ours), the published run records are
//! adopted instead: checked to describe exactly our files, downloaded into dist in place of
//! ours, and then skipped by the upload as identical. Nothing published changes.

use super::{PlannedObject, UploadOptions};
use crate::error::Result;
use crate::fsutil::sha256_hex as sha;
use crate::manifest::Manifest;
use crate::progress::Progress;
use crate::store::{Body, Store};
use std::path::PathBuf;

/// A run record is at most this big (manifest.json lists every file of every tarball).
const LIMIT: u64 = 64 << 20;

/// The run records of release `v` (object name, dist file): manifest.json and the provenance.
fn run_records(v: &str) -> [(String, &'static str); 2] {
    [
        (format!("valkey-{v}.manifest.json"), "manifest"),
        (crate::provenance::file_name(v), "provenance"),
    ]
}

/// Prod without --force-overwrite: adopt the published run records where they differ from
/// ours and the store holds the same SHA256SUMS. Updates `planned` (and, unless a dry run, the
/// files in dist). Returns the adopted keys; empty when nothing is adopted (the upload then
/// refuses differing objects as before, naming them).
pub async fn adopt_published(
    opts: &UploadOptions,
    manifest: &Manifest,
    planned: &mut [PlannedObject],
    store: &dyn Store,
    progress: &Progress,
) -> Result<Vec<String>> {
    if opts.environment != super::Environment::Prod || opts.force_overwrite {
        return Ok(Vec::new());
    }
    let v = &manifest.version;
    let sums_key = format!("{}valkey-{v}.SHA256SUMS", opts.prefix);
    let ours = manifest.sha256sums();
    // A HEAD first: a release not published yet (the common case) costs no download.
    if store.head(&sums_key).await?.is_none() {
        return Ok(Vec::new());
    }
    match store.get_small(&sums_key, LIMIT).await? {
        Some(theirs) if theirs == ours.as_bytes() => {}
        _ => return Ok(Vec::new()), // not this release, or not published yet
    }
    // The published records that differ from ours: (index in planned, stored bytes, dist file).
    let mut found: Vec<(usize, Vec<u8>, PathBuf)> = Vec::new();
    for (name, what) in run_records(v) {
        let key = format!("{}{name}", opts.prefix);
        let Some(i) = planned.iter().position(|p| p.key == key) else {
            continue;
        };
        let Some(bytes) = store.get_small(&key, LIMIT).await? else {
            continue;
        };
        if sha(&bytes) == planned[i].sha256 {
            continue;
        }
        let file = if what == "manifest" {
            Manifest::path(&opts.dist)
        } else {
            opts.dist.join(&name)
        };
        found.push((i, bytes, file));
    }
    if found.is_empty() {
        return Ok(Vec::new());
    }
    if let Err(why) = check_records(opts, manifest, &found) {
        progress.println(&format!("upload: not adopting the published run records: {why}"));
        return Ok(Vec::new());
    }
    let mut adopted = Vec::new();
    for (i, bytes, file) in found {
        if !opts.dry_run {
            crate::fsutil::write_atomic(&file, &bytes)?;
        }
        let p = &mut planned[i];
        p.sha256 = sha(&bytes);
        p.size = bytes.len() as u64;
        p.body = Body::Bytes(bytes::Bytes::from(bytes));
        progress.println(&format!(
            "upload: adopted the published {} into {} (same SHA256SUMS: the same release)",
            store.uri(&p.key),
            file.display()
        ));
        adopted.push(p.key.clone());
    }
    Ok(adopted)
}

/// The published records describe exactly our files: the manifest lists the same artifacts
/// (file, kind, size, sha256, checksum file); the provenance's subjects are our dist's files
/// (with the adopted manifest) and, when dist holds the public key, its signature verifies.
fn check_records(opts: &UploadOptions, ours: &Manifest, found: &[(usize, Vec<u8>, PathBuf)]) -> std::result::Result<(), String> {
    let manifest_path = Manifest::path(&opts.dist);
    let mut subjects = crate::provenance::subjects(&opts.dist).map_err(|e| e.to_string())?;
    let mut prov_ok = true;
    for (_, bytes, file) in found {
        if *file == manifest_path {
            let text = std::str::from_utf8(bytes).map_err(|e| format!("manifest.json: {e}"))?;
            let theirs = Manifest::parse(text, "the published manifest.json").map_err(|e| e.to_string())?;
            let core = |m: &Manifest| {
                let mut a: Vec<_> = m
                    .artifacts
                    .iter()
                    .map(|a| {
                        (
                            a.file.clone(),
                            a.kind.clone(),
                            a.size,
                            a.sha256.to_ascii_lowercase(),
                            a.checksum_file.clone(),
                        )
                    })
                    .collect();
                a.sort();
                (m.version.clone(), a)
            };
            if core(&theirs) != core(ours) {
                return Err("the published manifest.json lists other artifacts than dist's".into());
            }
            let name = crate::manifest::MANIFEST;
            for s in subjects.iter_mut().filter(|s| s.0 == name) {
                s.1 = sha(bytes);
            }
        } else {
            prov_ok = false;
        }
    }
    if prov_ok {
        return Ok(());
    }
    let (_, bytes, file) = found.iter().find(|(_, _, f)| *f != manifest_path).ok_or("no provenance")?;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let text = std::str::from_utf8(bytes).map_err(|e| format!("{name}: {e}"))?;
    let env = crate::provenance::dsse::Envelope::from_jsonl(&name, text).map_err(|e| e.to_string())?;
    if let Ok(public) = std::fs::read_to_string(opts.dist.join(crate::sign::PUBLIC_KEY_FILE)) {
        let v = crate::provenance::pgp::PgpVerifier::from_armored(&public).map_err(|e| e.to_string())?;
        env.verify(&v)
            .map_err(|e| format!("the published {name} is not signed by dist's key: {e}"))?;
    }
    let st: serde_json::Value = env
        .payload_bytes()
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| format!("the published {name}: unreadable statement"))?;
    let recorded: Vec<(String, String)> = st["subject"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    let f = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
                    (f(&s["name"]), f(&s["digest"]["sha256"]))
                })
                .collect()
        })
        .unwrap_or_default();
    if recorded != subjects {
        return Err(format!("the published {name} names other files than dist's"));
    }
    Ok(())
}
