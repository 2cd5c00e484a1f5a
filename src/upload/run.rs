//! Running an upload: what is there, what to write, writing it, checking it.

use super::{plan_objects, Environment, ObjectReport, ObjectState, PlannedObject, UploadOptions, UploadReport};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::progress::{Item, Progress};
use crate::store::{self, PutOutcome, PutRequest, Store, StoreUrl};
use std::sync::Arc;

/// Open the store chosen by the options (through the one store factory).
pub async fn open_store(opts: &UploadOptions) -> Result<(StoreUrl, Arc<dyn Store>)> {
    let url = opts.location()?;
    let store = store::open(&url, &opts.store_config()).await?;
    Ok((url, store))
}

/// Does a stored object hold what should be there? Judged by the store's own SHA-256 of the
/// bytes when it has one; else the object is downloaded and hashed (never a pass unseen).
async fn same_content(store: &dyn Store, key: &str, remote: &store::RemoteObject, want: &PlannedObject) -> Result<bool> {
    if remote.size != want.size {
        return Ok(false);
    }
    if let Some(s) = &remote.sha256 {
        return Ok(s.eq_ignore_ascii_case(&want.sha256));
    }
    // No whole-object checksum from the server (multipart, or written by another tool).
    match store.hash_object(key, None).await? {
        Some((sha, n)) => Ok(n == want.size && sha == want.sha256),
        None => Ok(false),
    }
}

/// Upload dist/ as `opts` says. Returns the report (check [`UploadReport::result`] for failures of
/// single objects); Err for what stops the run before anything is written: bad input (2), a file
/// that differs from manifest.json (1), prod objects with different content (4), the store
/// unreachable or credentials rejected (3), Ctrl-C (130, multipart uploads aborted).
pub async fn run_upload(opts: &UploadOptions, progress: &Progress) -> Result<UploadReport> {
    let started = std::time::Instant::now();
    let (manifest, planned) = plan_objects(&opts.dist, &opts.prefix)?;
    let (loc, store) = open_store(opts).await?;
    // Boxed so that Ctrl-C really drops it (its requests stop) before the aborts are sent.
    let mut work = Box::pin(upload_planned(opts, &manifest, planned, store.clone(), &loc, progress));
    let mut report = tokio::select! {
        r = &mut work => r?,
        _ = tokio::signal::ctrl_c() => {
            drop(work);
            progress.println("upload: interrupted; aborting multipart uploads in progress");
            store.abort_in_flight().await;
            return Err(Error::Interrupted);
        }
    };
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

pub(super) async fn upload_planned(
    opts: &UploadOptions,
    manifest: &Manifest,
    mut planned: Vec<PlannedObject>,
    store: Arc<dyn Store>,
    loc: &StoreUrl,
    progress: &Progress,
) -> Result<UploadReport> {
    store.check_access().await?;
    if opts.environment == Environment::Prod && !opts.dry_run {
        // Prod writes are create-only; refuse a server that would not honour that.
        store
            .check_conditional_writes(&format!("{}{}", opts.prefix, store::s3::PROBE_KEY))
            .await?;
    }
    let adopted = super::adopt::adopt_published(opts, manifest, &mut planned, &*store, progress).await?;
    let decisions = decide(opts, planned, &*store, loc, progress).await?;
    let base = UploadReport {
        store: loc.url(),
        environment: opts.environment,
        version: manifest.version.clone(),
        dry_run: opts.dry_run,
        objects: Vec::new(),
        complete: false,
        missing: Vec::new(),
        bytes_uploaded: 0,
        adopted,
        seconds: 0.0,
    };
    if opts.dry_run {
        let objects = decisions
            .into_iter()
            .map(|(p, st, over)| ObjectReport {
                uri: store.uri(&p.key),
                key: p.key,
                size: p.size,
                sha256: p.sha256,
                state: st.unwrap_or(if over {
                    ObjectState::WouldOverwrite
                } else {
                    ObjectState::WouldUpload
                }),
                detail: None,
            })
            .collect();
        return Ok(UploadReport { objects, ..base }.finish());
    }
    let (mut results, sent) = write_all(opts, decisions, &*store, progress).await?;
    check_in_place(&mut results, &*store, opts.verify_download).await;
    for o in results.iter_mut().filter(|o| base.adopted.contains(&o.key) && o.detail.is_none()) {
        o.detail = Some("adopted: the published run record, downloaded into dist".into());
    }
    Ok(UploadReport {
        objects: results,
        bytes_uploaded: sent,
        ..base
    }
    .finish())
}

/// (planned object, its state if already decided, overwrite?)
type Decision = (PlannedObject, Option<ObjectState>, bool);

/// Step 1: what is there already? Prod with different content stops here (exit 4, nothing written).
async fn decide(
    opts: &UploadOptions,
    planned: Vec<PlannedObject>,
    store: &dyn Store,
    loc: &StoreUrl,
    progress: &Progress,
) -> Result<Vec<Decision>> {
    let spin = progress.spinner("upload");
    spin.set(&format!("checking {} objects in {}", planned.len(), loc.url()));
    let heads = futures_util::future::join_all(planned.iter().map(|p| store.head(&p.key))).await;
    let mut decisions = Vec::new(); // (planned, state if decided, overwrite?)
    let mut conflicts = Vec::new();
    for (p, h) in planned.into_iter().zip(heads) {
        match h? {
            None => decisions.push((p, None, false)),
            Some(remote) => {
                if same_content(store, &p.key, &remote, &p).await? {
                    decisions.push((p, Some(ObjectState::Skipped), false));
                } else {
                    let theirs = remote.sha256.clone().unwrap_or_else(|| "unknown".into());
                    if opts.environment == Environment::Prod && !opts.force_overwrite {
                        conflicts.push(format!(
                            "{} (stored: size {} sha256 {theirs}; ours: size {} sha256 {})",
                            p.key, remote.size, p.size, p.sha256
                        ));
                    }
                    decisions.push((p, None, true));
                }
            }
        }
    }
    spin.finish("checked");
    if !conflicts.is_empty() {
        return Err(Error::refused(format!(
            "prod: {} already holds different content at {}; published objects are never overwritten. Nothing was uploaded. \
             If that content is wrong and must be replaced, re-run with --force-overwrite (logged)",
            loc.url(),
            conflicts.join("; ")
        )));
    }
    Ok(decisions)
}

/// Step 2: write what is missing or differs; returns the rows and the bytes sent.
async fn write_all(
    opts: &UploadOptions,
    mut decisions: Vec<Decision>,
    store: &dyn Store,
    progress: &Progress,
) -> Result<(Vec<ObjectReport>, u64)> {
    // 2. Upload what is missing or differs. Artifacts and .sha256 first, concurrently;
    //    SHA256SUMS then manifest.json last, so a present manifest means a complete release.
    let total: u64 = decisions.iter().filter(|(_, st, _)| st.is_none()).map(|(p, _, _)| p.size).sum();
    let bar = progress.bytes("upload", total);
    let n_last = 2usize;
    let split = decisions.len().saturating_sub(n_last);
    let tail: Vec<_> = decisions.split_off(split);
    let mut results: Vec<ObjectReport> = Vec::new();
    let mut sent = 0u64;
    let first = futures_util::future::join_all(decisions.into_iter().map(|d| put_one(opts, store, d, &bar, progress))).await;
    for r in first {
        let (o, n) = r?;
        sent += n;
        results.push(o);
    }
    let all_good = results.iter().all(|o| o.state.is_good());
    for d in tail {
        if !all_good {
            // Keep the release incomplete-looking: no manifest without its artifacts.
            results.push(ObjectReport {
                uri: store.uri(&d.0.key),
                key: d.0.key,
                size: d.0.size,
                sha256: d.0.sha256,
                state: if d.1 == Some(ObjectState::Skipped) {
                    ObjectState::Skipped
                } else {
                    ObjectState::Failed
                },
                detail: if d.1 == Some(ObjectState::Skipped) {
                    None
                } else {
                    Some("not uploaded: artifacts failed".into())
                },
            });
            continue;
        }
        let (o, n) = put_one(opts, store, d, &bar, progress).await?;
        sent += n;
        results.push(o);
    }
    bar.finish(&format!("{} bytes sent", sent));

    Ok((results, sent))
}

/// Step 3: check every object that should now be there, by the store's own checksum or, with
/// `download` (or where the store has none), by downloading and hashing it.
async fn check_in_place(results: &mut [ObjectReport], store: &dyn Store, download: bool) {
    let checks = futures_util::future::join_all(results.iter().map(|o| async move {
        if !o.state.is_good() {
            return None;
        }
        Some(check_one(store, &o.key, o.size, &o.sha256, download).await)
    }))
    .await;
    for (o, c) in results.iter_mut().zip(checks) {
        if let Some(Err(why)) = c {
            o.state = ObjectState::Failed;
            o.detail = Some(why);
        }
    }
}

async fn check_one(store: &dyn Store, key: &str, size: u64, sha256: &str, download: bool) -> std::result::Result<(), String> {
    let found = if download {
        store.hash_object(key, None).await.map(|h| h.map(|(s, n)| (n, Some(s))))
    } else {
        store.head(key).await.map(|h| h.map(|r| (r.size, r.sha256)))
    };
    let (n, sha) = match found {
        Ok(Some(x)) => x,
        Ok(None) => return Err("absent after upload".into()),
        Err(e) => return Err(format!("cannot check: {e}")),
    };
    let sha = match sha {
        Some(s) => s,
        // The server keeps no whole-object SHA-256 (multipart): hash the bytes.
        None => match store.hash_object(key, None).await {
            Ok(Some((s, _))) => s,
            Ok(None) => return Err("absent after upload".into()),
            Err(e) => return Err(format!("cannot check: {e}")),
        },
    };
    if n == size && sha.eq_ignore_ascii_case(sha256) {
        Ok(())
    } else {
        let how = if download { "downloaded" } else { "the store holds" };
        Err(format!("after upload {how} size {n} sha256 {sha}"))
    }
}

/// Upload one object per its decision; errors of this object become a `failed` row, except
/// changed local bytes (exit 1), which stop the run.
async fn put_one(
    opts: &UploadOptions,
    store: &dyn Store,
    (p, decided, overwrite): Decision,
    bar: &Item,
    progress: &Progress,
) -> Result<(ObjectReport, u64)> {
    let mut row = ObjectReport {
        uri: store.uri(&p.key),
        key: p.key.clone(),
        size: p.size,
        sha256: p.sha256.clone(),
        state: ObjectState::Failed,
        detail: None,
    };
    if let Some(st) = decided {
        row.state = st;
        return Ok((row, 0));
    }
    if overwrite {
        let why = if opts.environment == Environment::Prod {
            "prod, --force-overwrite"
        } else {
            "dev"
        };
        let msg = format!("upload: overwriting {} with different content ({why})", store.uri(&p.key));
        tracing::info!("{msg}");
        progress.println(&msg);
    }
    let req = PutRequest {
        key: p.key.clone(),
        body: p.body.clone(),
        size: p.size,
        sha256: p.sha256.clone(),
        create_only: opts.environment == Environment::Prod && !overwrite,
    };
    match store.put(&req, bar).await {
        Ok(PutOutcome::Written) => {
            row.state = if overwrite {
                ObjectState::Overwritten
            } else {
                ObjectState::Uploaded
            };
            if !crate::progress::fancy() {
                progress.println(&format!("upload: {} {} ({} bytes)", row.state.as_str(), row.uri, p.size));
            }
            Ok((row, p.size))
        }
        Ok(PutOutcome::Exists) => {
            // Someone wrote the key since we looked: same bytes are fine, different are refused.
            match store.head(&p.key).await {
                Ok(Some(r)) if same_content(store, &p.key, &r, &p).await.unwrap_or(false) => row.state = ObjectState::Skipped,
                _ => {
                    row.state = ObjectState::Refused;
                    row.detail = Some("appeared with different content during this run (If-None-Match)".into());
                }
            }
            Ok((row, 0))
        }
        Err(e @ Error::Check(_)) => Err(e),
        Err(Error::Interrupted) => Err(Error::Interrupted),
        Err(e) => {
            row.detail = Some(e.to_string());
            progress.println(&format!("upload: {} failed: {e}", p.key));
            Ok((row, 0))
        }
    }
}

/// Is the release of `dist` already in the store, every object with matching size and sha256?
/// Writes nothing. `release` uses it to decide the upload step is done; the report lists each
/// object as skipped (present and equal), missing or different.
pub async fn check_uploaded(opts: &UploadOptions) -> Result<UploadReport> {
    let started = std::time::Instant::now();
    let (manifest, planned) = plan_objects(&opts.dist, &opts.prefix)?;
    let (loc, store) = open_store(opts).await?;
    store.check_access().await?;
    let heads = futures_util::future::join_all(planned.iter().map(|p| store.head(&p.key))).await;
    let mut objects = Vec::new();
    for (p, h) in planned.into_iter().zip(heads) {
        let state = match h? {
            None => ObjectState::Missing,
            Some(r) if same_content(&*store, &p.key, &r, &p).await? => ObjectState::Skipped,
            Some(_) => ObjectState::Different,
        };
        objects.push(ObjectReport {
            uri: store.uri(&p.key),
            key: p.key,
            size: p.size,
            sha256: p.sha256,
            state,
            detail: None,
        });
    }
    Ok(UploadReport {
        store: loc.url(),
        environment: opts.environment,
        version: manifest.version,
        dry_run: false,
        objects,
        complete: false,
        missing: Vec::new(),
        bytes_uploaded: 0,
        adopted: Vec::new(),
        seconds: started.elapsed().as_secs_f64(),
    }
    .finish())
}
