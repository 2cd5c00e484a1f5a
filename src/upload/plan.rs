//! The objects a release consists of, read from dist/ and checked against manifest.json.

use crate::error::{Error, Result};
use crate::manifest::{Manifest, SHA256SUMS};
use crate::store::Body;
use std::path::Path;

/// One object the release consists of, read and checked from dist/.
#[derive(Debug, Clone)]
pub struct PlannedObject {
    pub key: String,
    pub body: Body,
    pub size: u64,
    pub sha256: String,
}

/// The object key of a file of artifact `a` (its own file or its `.sha256`): the release prefix,
/// the kind's key prefix, the name.
pub fn artifact_key(prefix: &str, a: &crate::manifest::Artifact, name: &str) -> String {
    format!("{prefix}{}", crate::artifact::key_name(a, name))
}

/// The objects of a release, in upload order (artifacts, their .sha256, SHA256SUMS, its
/// signature, the public key, the provenance when present, manifest last).
/// Every file is hashed again and must match manifest.json: exit 1 naming the file otherwise.
pub fn plan_objects(dist: &Path, prefix: &str) -> Result<(Manifest, Vec<PlannedObject>)> {
    let manifest = Manifest::load(dist)?;
    if manifest.artifacts.is_empty() {
        return Err(Error::input(format!(
            "{}: lists no artifacts; nothing to upload",
            Manifest::path(dist).display()
        )));
    }
    let mut objs = Vec::new();
    let mut bad = Vec::new();
    let hashed: Vec<Result<(String, u64)>> = {
        use rayon::prelude::*;
        manifest
            .artifacts
            .par_iter()
            .map(|a| crate::fsutil::sha256_file(&dist.join(&a.file)))
            .collect()
    };
    for (a, h) in manifest.artifacts.iter().zip(hashed) {
        let path = dist.join(&a.file);
        let (sha, size) = h?;
        if sha != a.sha256.to_ascii_lowercase() || size != a.size {
            bad.push(format!(
                "{}: sha256 {sha} size {size}, but manifest.json says sha256 {} size {}",
                path.display(),
                a.sha256,
                a.size
            ));
            continue;
        }
        let cpath = dist.join(&a.checksum_file);
        let text = std::fs::read(&cpath).map_err(|e| Error::io(&cpath, "read", e))?;
        let expected = crate::manifest::checksum_line(&a.sha256, &a.file);
        if text != expected.as_bytes() {
            bad.push(format!(
                "{}: does not hold \"{}\" (the line for {})",
                cpath.display(),
                expected.trim_end(),
                a.file
            ));
            continue;
        }
        objs.push(PlannedObject {
            key: artifact_key(prefix, a, &a.file),
            body: Body::File(path),
            size: a.size,
            sha256: a.sha256.to_ascii_lowercase(),
        });
        let csha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&text));
        objs.push(PlannedObject {
            key: artifact_key(prefix, a, &a.checksum_file),
            size: text.len() as u64,
            sha256: csha,
            body: Body::Bytes(bytes::Bytes::from(text)),
        });
    }
    if !bad.is_empty() {
        return Err(Error::check(format!(
            "refusing to upload: {}. Nothing was uploaded",
            bad.join("; ")
        )));
    }
    let sums_path = dist.join(SHA256SUMS);
    let sums = std::fs::read(&sums_path).map_err(|e| Error::io(&sums_path, "read", e))?;
    if sums != manifest.sha256sums().as_bytes() {
        return Err(Error::check(format!(
            "refusing to upload: {} does not match manifest.json (re-run package to rewrite it). Nothing was uploaded",
            sums_path.display()
        )));
    }
    let mpath = Manifest::path(dist);
    let mbytes = std::fs::read(&mpath).map_err(|e| Error::io(&mpath, "read", e))?;
    let v = &manifest.version;
    let mut rest = vec![(format!("valkey-{v}.SHA256SUMS"), sums)];
    // Written by the release's sign and provenance steps when they ran: the signature of
    // SHA256SUMS, the public key that checks it, the provenance.
    for (file, name) in [
        ("SHA256SUMS.asc".to_string(), format!("valkey-{v}.SHA256SUMS.asc")),
        (crate::sign::PUBLIC_KEY_FILE.to_string(), crate::sign::PUBLIC_KEY_FILE.to_string()),
        (crate::provenance::file_name(v), crate::provenance::file_name(v)),
    ] {
        let p = dist.join(&file);
        if p.is_file() {
            rest.push((name, std::fs::read(&p).map_err(|e| Error::io(&p, "read", e))?));
        }
    }
    rest.push((format!("valkey-{v}.manifest.json"), mbytes));
    for (name, data) in rest {
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
        objs.push(PlannedObject {
            key: format!("{prefix}{name}"),
            size: data.len() as u64,
            sha256: sha,
            body: Body::Bytes(bytes::Bytes::from(data)),
        });
    }
    Ok((manifest, objs))
}
