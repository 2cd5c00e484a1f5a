//! Updating a package repository in a store (`file://`, `s3://`) through the store code the
//! tarballs use, for any [`Format`](super::Format):
//!
//! 1. read the index the store holds for the repository's key and merge this release's
//!    packages into it (a package already indexed with other bytes stops here, exit 4,
//!    nothing written);
//! 2. write the packages (an object already there with the same sha256 is kept; with other
//!    bytes it is never overwritten in prod: create-only writes, exit 4);
//! 3. write the index files, signatures last;
//! 4. read the index back, check its signatures and hashes, and check every package it lists
//!    is in the store with its sha256.

use super::{Have, Repository};
use crate::error::{Error, Result};
use crate::fsutil::sha256_hex;
use crate::sign::SigningKey;
use crate::store::{Body, PutOutcome, PutRequest, Store};
use serde::Serialize;
use std::collections::BTreeMap;

/// Index files are small; anything bigger is not an index.
const INDEX_LIMIT: u64 = 256 * 1024 * 1024;

/// What became of one repository.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RepoReport {
    pub format: String,
    /// The repository's key in the store.
    pub key: String,
    /// Where it is (`s3://bucket/packaging/...`).
    pub uri: String,
    pub added: Vec<String>,
    pub already: Vec<String>,
    /// Every entry the index holds.
    pub indexed: Vec<String>,
}

fn join(key: &str, name: &str) -> String {
    format!("{}/{name}", key.trim_end_matches('/'))
}

/// Read the index files `repo` wants (all of them with `all`).
async fn read_index(store: &dyn Store, repo: &dyn Repository, all: bool) -> Result<Have> {
    let mut have = Have::new();
    loop {
        let wanted = repo.wanted(&have, all);
        if wanted.is_empty() {
            return Ok(have);
        }
        for n in wanted {
            let b = store.get_small(&join(repo.key(), &n), INDEX_LIMIT).await?;
            have.insert(n, b);
        }
    }
}

/// Put `bytes` at `key` unless the same bytes are there. Other bytes: refused when
/// `never_replace` (exit 4), else replaced. Returns whether it wrote.
pub async fn put_bytes(store: &dyn Store, key: &str, bytes: &[u8], never_replace: bool) -> Result<bool> {
    let sha = sha256_hex(bytes);
    if let Some(r) = store.head(key).await? {
        let same = match &r.sha256 {
            Some(s) => r.size == bytes.len() as u64 && s.eq_ignore_ascii_case(&sha),
            None => store
                .hash_object(key, None)
                .await?
                .is_some_and(|(s, n)| s == sha && n == bytes.len() as u64),
        };
        if same {
            return Ok(false);
        }
        if never_replace {
            return Err(Error::refused(format!(
                "{}: already published with other bytes; a published file is never overwritten",
                store.uri(key)
            )));
        }
    }
    let req = PutRequest {
        key: key.to_string(),
        body: Body::Bytes(bytes::Bytes::copy_from_slice(bytes)),
        size: bytes.len() as u64,
        sha256: sha,
        create_only: never_replace,
    };
    let item = crate::progress::Progress::plain().bytes("repositories", bytes.len() as u64);
    match store.put(&req, &item).await? {
        PutOutcome::Written => Ok(true),
        PutOutcome::Exists => Err(Error::refused(format!(
            "{}: appeared while it was being written; a published file is never overwritten",
            store.uri(key)
        ))),
    }
}

/// Read the index back and check it: signatures, hashes, and every listed package in the
/// store with its sha256.
async fn check_in_store(store: &dyn Store, repo: &dyn Repository, public_armored: &str) -> Result<Vec<(String, String)>> {
    let have = read_index(store, repo, true).await?;
    let mut files = BTreeMap::new();
    for (n, b) in have {
        match b {
            Some(b) => {
                files.insert(n, b);
            }
            None => return Err(Error::check(format!("{}: missing", store.uri(&join(repo.key(), &n))))),
        }
    }
    let listed = repo.verify(&files, public_armored)?;
    for (name, want) in &listed {
        let key = join(repo.key(), name);
        let got = match store.head(&key).await? {
            None => None,
            Some(r) => match r.sha256 {
                Some(s) => Some(s.to_ascii_lowercase()),
                None => store.hash_object(&key, None).await?.map(|(s, _)| s),
            },
        };
        match got {
            Some(s) if s == *want => {}
            Some(s) => return Err(Error::check(format!("{}: sha256 {s}, but the index says {want}", store.uri(&key)))),
            None => return Err(Error::check(format!("{}: listed in the index but missing", store.uri(&key)))),
        }
    }
    Ok(listed)
}

/// The package files of `repo` as (name, bytes).
fn read_packages(repo: &dyn Repository) -> Result<Vec<(String, Vec<u8>)>> {
    repo.packages()
        .iter()
        .map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            std::fs::read(p).map(|b| (name, b)).map_err(|e| Error::io(p, "read", e))
        })
        .collect()
}

/// Update one repository in the store (see the module doc). `never_replace`: prod (a package
/// file already there with other bytes is refused, never overwritten).
pub async fn publish(store: &dyn Store, format: &str, repo: &dyn Repository, key: &SigningKey, never_replace: bool) -> Result<RepoReport> {
    let have = read_index(store, repo, false).await?;
    let packages = read_packages(repo)?;
    let merged = repo.merge(&have, &packages, key)?;
    // 1. the packages (all of this release's: one lost from the store is put back)
    for (name, bytes) in &packages {
        put_bytes(store, &join(repo.key(), name), bytes, never_replace).await?;
    }
    // 2. the index, signatures last (they change with every release: always replaced)
    for (name, bytes) in &merged.index {
        put_bytes(store, &join(repo.key(), name), bytes, false).await?;
    }
    // 3. read back and check
    check_in_store(store, repo, &key.public_armored()).await?;
    Ok(RepoReport {
        format: format.to_string(),
        key: repo.key().to_string(),
        uri: store.uri(repo.key()),
        added: merged.added,
        already: merged.already,
        indexed: merged.indexed,
    })
}

/// Is `repo` already published in the store as it should be: the index verifies with the key,
/// lists each of this release's packages with its sha256, and every listed package is there?
/// `Some(report)` when so; `None` when it must be (re)published.
pub async fn check(store: &dyn Store, format: &str, repo: &dyn Repository, public_armored: &str) -> Result<Option<RepoReport>> {
    let have = read_index(store, repo, true).await?;
    if have.values().any(|b| b.is_none()) {
        return Ok(None);
    }
    let listed = match check_in_store(store, repo, public_armored).await {
        Ok(l) => l,
        Err(e) if e.exit_code() == 1 => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut already = Vec::new();
    for (name, bytes) in read_packages(repo)? {
        let sha = sha256_hex(&bytes);
        if !listed.iter().any(|(n, s)| *n == name && *s == sha) {
            return Ok(None);
        }
        already.push(name);
    }
    Ok(Some(RepoReport {
        format: format.to_string(),
        key: repo.key().to_string(),
        uri: store.uri(repo.key()),
        added: Vec::new(),
        already,
        indexed: listed.into_iter().map(|(n, _)| n).collect(),
    }))
}

/// The key of the published public key (`packaging/GPG-KEY-valkey.asc`).
pub fn public_key_key() -> String {
    format!("packaging/{}", crate::sign::PUBLIC_KEY_FILE)
}

/// The repositories a dist directory's packages go to, per format: the manifest's artifacts of
/// each format's package kind. Formats with no package in the release are left out. The index
/// date is the release's SOURCE_DATE_EPOCH (same release, same index bytes).
pub fn plan_dist(dist: &std::path::Path) -> Result<Vec<(&'static str, Box<dyn Repository>)>> {
    let m = crate::manifest::Manifest::load(dist)?;
    let date = super::index_date_at(m.source_date_epoch);
    let date = date.as_str();
    let mut out = Vec::new();
    for f in super::formats() {
        let mut files: Vec<std::path::PathBuf> = m
            .artifacts
            .iter()
            .filter(|a| a.kind == f.package_kind())
            .map(|a| dist.join(&a.file))
            .collect();
        if files.is_empty() {
            continue;
        }
        files.sort();
        for r in f.plan(&files, date)? {
            out.push((f.name(), r));
        }
    }
    Ok(out)
}

/// Publish every repository of `plan`, then the public key at [`public_key_key`].
pub async fn publish_all(
    store: &dyn Store,
    plan: &[(&'static str, Box<dyn Repository>)],
    key: &SigningKey,
    never_replace: bool,
) -> Result<Vec<RepoReport>> {
    let mut out = Vec::new();
    for (format, repo) in plan {
        out.push(publish(store, format, repo.as_ref(), key, never_replace).await?);
    }
    put_bytes(store, &public_key_key(), key.public_armored().as_bytes(), never_replace).await?;
    Ok(out)
}

/// Is every repository of `plan` already published (see [`check`]) and the public key in
/// place? `Some(reports)` when so.
pub async fn check_all(
    store: &dyn Store,
    plan: &[(&'static str, Box<dyn Repository>)],
    key: &SigningKey,
) -> Result<Option<Vec<RepoReport>>> {
    let public = key.public_armored();
    match store.get_small(&public_key_key(), INDEX_LIMIT).await? {
        Some(b) if b == public.as_bytes() => {}
        _ => return Ok(None),
    }
    let mut out = Vec::new();
    for (format, repo) in plan {
        match check(store, format, repo.as_ref(), &public).await? {
            Some(r) => out.push(r),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}
