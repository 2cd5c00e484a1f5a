//! Stage: upload. Puts the release (every artifact of dist/manifest.json, its `.sha256`, the
//! release's SHA256SUMS and manifest.json) into the release bucket, safely and idempotently,
//! then checks every object that is there.
//!
//! Keys (prefix from targets.toml `artifact.s3_prefix`, `releases/`):
//! `releases/<tarball>`, `releases/<tarball>.sha256`, `releases/valkey-<V>.SHA256SUMS`,
//! `releases/valkey-<V>.manifest.json` (written last: its presence means the release is complete).
//!
//! Safety rules:
//! - every file is hashed again before anything is sent and must match manifest.json (exit 1
//!   naming the file otherwise); the bytes actually sent are hashed again while read and the write
//!   is abandoned if they differ;
//! - an object already present with the same sha256 is skipped;
//! - prod never overwrites different content: the run stops before uploading anything, naming the
//!   keys (exit 4), unless `--force-overwrite`; new objects are written with `If-None-Match: *`
//!   so a concurrent writer cannot be overwritten either; dev overwrites;
//! - after the run every object is checked again (size and sha256) and the report says which keys
//!   are missing; a re-run completes them.

pub mod file;
pub mod s3;
pub mod store;

use crate::error::{Error, Result};
use crate::manifest::{Manifest, MANIFEST, SHA256SUMS};
use crate::progress::{Item, Progress};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use store::{Body, PutOutcome, PutRequest, Store};

/// The release environment: decides the bucket and whether overwrites are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Dev,
    Prod,
}

impl Environment {
    /// `dev`, `prod`, or empty (= dev, as the dispatch payload allows). Anything else: exit 2.
    pub fn parse(s: &str) -> Result<Environment> {
        match s.trim() {
            "" | "dev" => Ok(Environment::Dev),
            "prod" => Ok(Environment::Prod),
            other => Err(Error::input(format!(
                "invalid environment {other:?}: expected \"dev\" or \"prod\" (empty means dev)"
            ))),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Dev => "dev",
            Environment::Prod => "prod",
        }
    }
    /// The variable naming this environment's bucket: prod -> AWS_S3_BUCKET, dev -> AWS_TEST_BUCKET.
    pub fn bucket_variable(self) -> &'static str {
        match self {
            Environment::Dev => "AWS_TEST_BUCKET",
            Environment::Prod => "AWS_S3_BUCKET",
        }
    }
}

impl std::fmt::Display for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where objects go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StoreLocation {
    S3 { bucket: String },
    File { dir: PathBuf },
}

impl StoreLocation {
    /// Parse `s3://bucket`, `file:///abs/dir` or `file://relative/dir`.
    pub fn parse(url: &str) -> Result<StoreLocation> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let bucket = rest.trim_end_matches('/');
            if bucket.is_empty() || bucket.contains('/') {
                return Err(Error::input(format!(
                    "--store {url:?}: expected s3://BUCKET (the key prefix comes from targets.toml artifact.s3_prefix)"
                )));
            }
            check_bucket_name(bucket)?;
            return Ok(StoreLocation::S3 {
                bucket: bucket.to_string(),
            });
        }
        if let Some(rest) = url.strip_prefix("file://") {
            if rest.is_empty() {
                return Err(Error::input(format!(
                    "--store {url:?}: expected file:///abs/dir or file://relative/dir"
                )));
            }
            return Ok(StoreLocation::File { dir: PathBuf::from(rest) });
        }
        Err(Error::input(format!(
            "--store {url:?}: expected s3://BUCKET, file:///abs/dir or file://relative/dir"
        )))
    }

    /// Choose the store: `--store`, else `--bucket`, else the environment's variable
    /// (prod: AWS_S3_BUCKET, dev: AWS_TEST_BUCKET; never the other one). `lookup` reads a variable.
    pub fn resolve(
        env: Environment,
        bucket: Option<&str>,
        store: Option<&str>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<StoreLocation> {
        match (bucket, store) {
            (Some(_), Some(_)) => Err(Error::input("give either --bucket or --store, not both")),
            (_, Some(s)) => StoreLocation::parse(s),
            (Some(b), None) => {
                let b = b.trim();
                check_bucket_name(b)?;
                Ok(StoreLocation::S3 { bucket: b.to_string() })
            }
            (None, None) => {
                let var = env.bucket_variable();
                match lookup(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
                    Some(b) => {
                        check_bucket_name(&b).map_err(|e| e.context(format!("variable {var}")))?;
                        Ok(StoreLocation::S3 { bucket: b })
                    }
                    None => Err(Error::input(format!(
                        "{var} is not set: the {env} environment uploads to the bucket it names (or pass --bucket B, or --store file://DIR)"
                    ))),
                }
            }
        }
    }

    /// `s3://bucket` / `file:///dir`.
    pub fn url(&self) -> String {
        match self {
            StoreLocation::S3 { bucket } => format!("s3://{bucket}"),
            StoreLocation::File { dir } => format!("file://{}", dir.display()),
        }
    }
}

fn check_bucket_name(b: &str) -> Result<()> {
    let ok = (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::input(format!(
            "bucket name {b:?} is not valid: 3-63 characters of a-z, 0-9, '-' and '.'"
        )))
    }
}

/// Options of an upload (the CLI fills them from flags; `release` builds them directly).
#[derive(Debug, Clone)]
pub struct UploadOptions {
    pub environment: Environment,
    /// The dist directory holding manifest.json, SHA256SUMS, the tarballs and .sha256 files.
    pub dist: PathBuf,
    /// `--bucket`.
    pub bucket: Option<String>,
    /// `--store s3://B | file://DIR`.
    pub store: Option<String>,
    /// `--endpoint-url` (else AWS_ENDPOINT_URL).
    pub endpoint_url: Option<String>,
    /// Key prefix, from targets.toml `artifact.s3_prefix` (`releases/`).
    pub prefix: String,
    /// Show what would be done, write nothing.
    pub dry_run: bool,
    /// prod: overwrite objects whose content differs (logged).
    pub force_overwrite: bool,
    /// Requests carrying bytes in flight at once (whole objects and parts).
    pub concurrency: usize,
    /// Objects at least this big go multipart.
    pub multipart_threshold: u64,
    /// Part size.
    pub part_size: u64,
    /// Attempts per request, retries included.
    pub max_attempts: u32,
    /// Initial retry backoff.
    pub initial_backoff: std::time::Duration,
}

impl UploadOptions {
    /// Defaults: prefix `releases/`, concurrency 4, 16 MiB parts above 16 MiB, 6 attempts.
    pub fn new(environment: Environment, dist: impl Into<PathBuf>) -> UploadOptions {
        UploadOptions {
            environment,
            dist: dist.into(),
            bucket: None,
            store: None,
            endpoint_url: None,
            prefix: "releases/".to_string(),
            dry_run: false,
            force_overwrite: false,
            concurrency: 4,
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 16 * 1024 * 1024,
            max_attempts: s3::DEFAULT_MAX_ATTEMPTS,
            initial_backoff: std::time::Duration::from_millis(500),
        }
    }

    /// The chosen store, reading bucket variables from the process environment.
    pub fn location(&self) -> Result<StoreLocation> {
        StoreLocation::resolve(self.environment, self.bucket.as_deref(), self.store.as_deref(), |k| {
            std::env::var(k).ok()
        })
    }
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectState {
    /// Written by this run and checked.
    Uploaded,
    /// Written over different content (dev, or prod with --force-overwrite).
    Overwritten,
    /// Already there with the same sha256.
    Skipped,
    /// Not there, or not right, after this run.
    Failed,
    /// prod: present with different content; not overwritten.
    Refused,
    /// Dry run: would be uploaded.
    WouldUpload,
    /// Dry run: would overwrite (dev, or --force-overwrite).
    WouldOverwrite,
    /// Check only: absent.
    Missing,
    /// Check only: present with different content.
    Different,
}

impl ObjectState {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectState::Uploaded => "uploaded",
            ObjectState::Overwritten => "overwritten",
            ObjectState::Skipped => "skipped",
            ObjectState::Failed => "failed",
            ObjectState::Refused => "refused",
            ObjectState::WouldUpload => "would-upload",
            ObjectState::WouldOverwrite => "would-overwrite",
            ObjectState::Missing => "missing",
            ObjectState::Different => "different",
        }
    }
    /// Is the object in place with the right content?
    pub fn is_good(self) -> bool {
        matches!(self, ObjectState::Uploaded | ObjectState::Overwritten | ObjectState::Skipped)
    }
}

/// One object of the report.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectReport {
    pub key: String,
    /// `s3://bucket/key` or `file:///dir/key`.
    pub uri: String,
    pub size: u64,
    pub sha256: String,
    pub state: ObjectState,
    /// Why it failed or was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The result of [`run_upload`] or [`check_uploaded`].
#[derive(Debug, Clone, Serialize)]
pub struct UploadReport {
    /// `s3://bucket` or `file:///dir`.
    pub store: String,
    pub environment: Environment,
    pub version: String,
    pub dry_run: bool,
    pub objects: Vec<ObjectReport>,
    /// Every object is present with the right content.
    pub complete: bool,
    /// Keys not in place (failed, refused, missing, different).
    pub missing: Vec<String>,
    /// Bytes sent by this run.
    pub bytes_uploaded: u64,
    pub seconds: f64,
}

impl UploadReport {
    fn finish(mut self) -> UploadReport {
        self.missing = self
            .objects
            .iter()
            .filter(|o| !o.state.is_good() && !matches!(o.state, ObjectState::WouldUpload | ObjectState::WouldOverwrite))
            .map(|o| o.key.clone())
            .collect();
        self.complete = !self.dry_run && self.missing.is_empty();
        self
    }

    /// Ok when every object is in place; else the error a failed run exits with:
    /// exit 4 when something was refused (prod, different content), exit 3 otherwise.
    /// Dry runs are Ok.
    pub fn result(&self) -> Result<()> {
        if self.dry_run || self.missing.is_empty() {
            return Ok(());
        }
        let refused: Vec<&ObjectReport> = self.objects.iter().filter(|o| o.state == ObjectState::Refused).collect();
        if !refused.is_empty() {
            let keys: Vec<&str> = refused.iter().map(|o| o.key.as_str()).collect();
            return Err(Error::refused(format!(
                "{} holds different content at {}; prod never overwrites published objects (use --force-overwrite only if you are sure)",
                self.store,
                keys.join(", ")
            )));
        }
        Err(Error::external(format!(
            "{} of {} objects are not in {} after this run: {}. Re-run the same command to complete them",
            self.missing.len(),
            self.objects.len(),
            self.store,
            self.missing.join(", ")
        )))
    }

    /// A fixed-width table: key, size, sha256, state.
    pub fn table(&self) -> String {
        let w = self.objects.iter().map(|o| o.key.len()).max().unwrap_or(3).max(3);
        let mut s = format!("{:<w$}  {:>10}  {:<64}  STATE\n", "KEY", "SIZE", "SHA256");
        for o in &self.objects {
            s.push_str(&format!("{:<w$}  {:>10}  {:<64}  {}", o.key, o.size, o.sha256, o.state.as_str()));
            if let Some(d) = &o.detail {
                s.push_str(&format!("  ({d})"));
            }
            s.push('\n');
        }
        s
    }
}

/// One object the release consists of, read and checked from dist/.
#[derive(Debug, Clone)]
pub struct PlannedObject {
    pub key: String,
    pub body: Body,
    pub size: u64,
    pub sha256: String,
}

/// The objects of a release, in upload order (artifacts, their .sha256, SHA256SUMS, manifest last).
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
            key: format!("{prefix}{}", a.file),
            body: Body::File(path),
            size: a.size,
            sha256: a.sha256.to_ascii_lowercase(),
        });
        let csha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&text));
        objs.push(PlannedObject {
            key: format!("{prefix}{}", a.checksum_file),
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
    for (name, data) in [
        (format!("valkey-{v}.SHA256SUMS"), sums),
        (format!("valkey-{v}.manifest.json"), mbytes),
    ] {
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
        objs.push(PlannedObject {
            key: format!("{prefix}{name}"),
            size: data.len() as u64,
            sha256: sha,
            body: Body::Bytes(bytes::Bytes::from(data)),
        });
    }
    let _ = MANIFEST;
    Ok((manifest, objs))
}

/// Open the store chosen by the options.
pub async fn open_store(opts: &UploadOptions) -> Result<(StoreLocation, Arc<dyn Store>)> {
    let loc = opts.location()?;
    let store: Arc<dyn Store> = match &loc {
        StoreLocation::S3 { bucket } => {
            let cfg = s3::S3Config {
                endpoint_url: opts.endpoint_url.clone(),
                max_attempts: opts.max_attempts,
                initial_backoff: opts.initial_backoff,
            };
            let mut s = s3::S3Store::new(bucket, &cfg, opts.concurrency).await?;
            s.multipart_threshold = opts.multipart_threshold;
            s.part_size = opts.part_size;
            Arc::new(s)
        }
        StoreLocation::File { dir } => Arc::new(file::FileStore::new(dir)?),
    };
    Ok((loc, store))
}

/// Compare a stored object with what should be there. `Some(true)`: same; `Some(false)`: differs;
/// the store's sha256 is used when known, else the object is downloaded and hashed.
async fn same_content(store: &dyn Store, key: &str, remote: &store::RemoteObject, want: &PlannedObject) -> Result<bool> {
    if remote.size != want.size {
        return Ok(false);
    }
    if let Some(s) = &remote.sha256 {
        return Ok(s.eq_ignore_ascii_case(&want.sha256));
    }
    // Uploaded by something else (aws s3 sync): no checksum stored; hash the bytes.
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

async fn upload_planned(
    opts: &UploadOptions,
    manifest: &Manifest,
    planned: Vec<PlannedObject>,
    store: Arc<dyn Store>,
    loc: &StoreLocation,
    progress: &Progress,
) -> Result<UploadReport> {
    store.check_access().await?;
    // 1. What is there already?
    let spin = progress.spinner("upload");
    spin.set(&format!("checking {} objects in {}", planned.len(), loc.url()));
    let heads = futures_util::future::join_all(planned.iter().map(|p| store.head(&p.key))).await;
    let mut decisions = Vec::new(); // (planned, state if decided, overwrite?)
    let mut conflicts = Vec::new();
    for (p, h) in planned.into_iter().zip(heads) {
        match h? {
            None => decisions.push((p, None, false)),
            Some(remote) => {
                if same_content(store.as_ref(), &p.key, &remote, &p).await? {
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
    let base = UploadReport {
        store: loc.url(),
        environment: opts.environment,
        version: manifest.version.clone(),
        dry_run: opts.dry_run,
        objects: Vec::new(),
        complete: false,
        missing: Vec::new(),
        bytes_uploaded: 0,
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

    // 2. Upload what is missing or differs. Artifacts and .sha256 first, concurrently;
    //    SHA256SUMS then manifest.json last, so a present manifest means a complete release.
    let total: u64 = decisions.iter().filter(|(_, st, _)| st.is_none()).map(|(p, _, _)| p.size).sum();
    let bar = progress.bytes("upload", total);
    let n_last = 2usize;
    let split = decisions.len().saturating_sub(n_last);
    let tail: Vec<_> = decisions.split_off(split);
    let mut results: Vec<ObjectReport> = Vec::new();
    let mut sent = 0u64;
    let first = futures_util::future::join_all(decisions.into_iter().map(|d| put_one(opts, store.as_ref(), d, &bar, progress))).await;
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
        let (o, n) = put_one(opts, store.as_ref(), d, &bar, progress).await?;
        sent += n;
        results.push(o);
    }
    bar.finish(&format!("{} bytes sent", sent));

    // 3. Check every object that should now be there.
    let checks = futures_util::future::join_all(results.iter().map(|o| store.head(&o.key))).await;
    for (o, h) in results.iter_mut().zip(checks) {
        if !o.state.is_good() {
            continue;
        }
        match h {
            Ok(Some(r)) if r.size == o.size && r.sha256.as_deref().map(|s| s.eq_ignore_ascii_case(&o.sha256)).unwrap_or(true) => {}
            Ok(Some(r)) => {
                o.state = ObjectState::Failed;
                o.detail = Some(format!(
                    "after upload the store holds size {} sha256 {}",
                    r.size,
                    r.sha256.unwrap_or_else(|| "unknown".into())
                ));
            }
            Ok(None) => {
                o.state = ObjectState::Failed;
                o.detail = Some("absent after upload".into());
            }
            Err(e) => {
                o.state = ObjectState::Failed;
                o.detail = Some(format!("cannot check: {e}"));
            }
        }
    }
    Ok(UploadReport {
        objects: results,
        bytes_uploaded: sent,
        ..base
    }
    .finish())
}

/// Upload one object per its decision; errors of this object become a `failed` row, except
/// changed local bytes (exit 1), which stop the run.
async fn put_one(
    opts: &UploadOptions,
    store: &dyn Store,
    (p, decided, overwrite): (PlannedObject, Option<ObjectState>, bool),
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
            Some(r) if same_content(store.as_ref(), &p.key, &r, &p).await? => ObjectState::Skipped,
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
        seconds: started.elapsed().as_secs_f64(),
    }
    .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_rule() {
        assert_eq!(Environment::parse("").unwrap(), Environment::Dev);
        assert_eq!(Environment::parse("dev").unwrap(), Environment::Dev);
        assert_eq!(Environment::parse("prod").unwrap(), Environment::Prod);
        for bad in ["Prod", "production", "test", "dev "] {
            if bad.trim() == "dev" {
                continue;
            }
            assert_eq!(Environment::parse(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn bucket_never_falls_back() {
        let only_test = |k: &str| (k == "AWS_TEST_BUCKET").then(|| "test-bucket".to_string());
        let e = StoreLocation::resolve(Environment::Prod, None, None, only_test).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("AWS_S3_BUCKET"), "{e}");
        assert_eq!(
            StoreLocation::resolve(Environment::Dev, None, None, only_test).unwrap(),
            StoreLocation::S3 {
                bucket: "test-bucket".into()
            }
        );
        let only_prod = |k: &str| (k == "AWS_S3_BUCKET").then(|| "prod-bucket".to_string());
        let e = StoreLocation::resolve(Environment::Dev, None, None, only_prod).unwrap_err();
        assert!(e.to_string().contains("AWS_TEST_BUCKET"), "{e}");
        assert_eq!(
            StoreLocation::resolve(Environment::Dev, Some("other-b"), None, only_prod).unwrap(),
            StoreLocation::S3 { bucket: "other-b".into() }
        );
    }

    #[test]
    fn store_urls() {
        assert_eq!(
            StoreLocation::parse("s3://my-bucket").unwrap(),
            StoreLocation::S3 {
                bucket: "my-bucket".into()
            }
        );
        assert_eq!(
            StoreLocation::parse("s3://my-bucket/").unwrap(),
            StoreLocation::S3 {
                bucket: "my-bucket".into()
            }
        );
        assert_eq!(
            StoreLocation::parse("file:///abs/dir").unwrap(),
            StoreLocation::File { dir: "/abs/dir".into() }
        );
        assert_eq!(
            StoreLocation::parse("file://dist/bucket").unwrap(),
            StoreLocation::File { dir: "dist/bucket".into() }
        );
        for bad in ["s3://", "s3://b/x", "http://x", "file://", "dist/bucket", "s3://UPPER"] {
            assert_eq!(StoreLocation::parse(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
        assert!(StoreLocation::resolve(Environment::Dev, Some("abc"), Some("s3://abc"), |_| None).is_err());
    }

    #[test]
    fn checksum_hex() {
        let d = <sha2::Sha256 as sha2::Digest>::digest(b"abc");
        use base64::Engine;
        let b = base64::engine::general_purpose::STANDARD.encode(d);
        assert_eq!(s3::checksum_to_hex(&b).unwrap(), hex::encode(d));
        assert!(s3::checksum_to_hex(&format!("{b}-3")).is_none());
    }

    /// An in-memory store; `race` keys get written by "someone else" between our HEAD and our PUT.
    struct MemStore {
        objects: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
        race: Vec<String>,
        fail: Vec<String>,
    }

    impl Store for MemStore {
        fn describe(&self) -> String {
            "mem://".into()
        }
        fn uri(&self, key: &str) -> String {
            format!("mem://{key}")
        }
        fn check_access(&self) -> futures_util::future::BoxFuture<'_, Result<()>> {
            Box::pin(async { Ok(()) })
        }
        fn head<'a>(&'a self, key: &'a str) -> futures_util::future::BoxFuture<'a, Result<Option<store::RemoteObject>>> {
            Box::pin(async move {
                Ok(self.objects.lock().unwrap().get(key).map(|d| store::RemoteObject {
                    size: d.len() as u64,
                    sha256: Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(d))),
                    checksum: None,
                }))
            })
        }
        fn put<'a>(&'a self, req: &'a PutRequest, _p: &'a Item) -> futures_util::future::BoxFuture<'a, Result<PutOutcome>> {
            Box::pin(async move {
                if self.fail.contains(&req.key) {
                    return Err(Error::external(format!("{}: HTTP 503 after 6 attempts", req.key)));
                }
                let mut m = self.objects.lock().unwrap();
                if self.race.contains(&req.key) {
                    m.insert(req.key.clone(), b"someone else".to_vec());
                }
                if req.create_only && m.contains_key(&req.key) {
                    return Ok(PutOutcome::Exists);
                }
                let data = match &req.body {
                    Body::Bytes(b) => b.to_vec(),
                    Body::File(p) => std::fs::read(p).unwrap(),
                };
                m.insert(req.key.clone(), data);
                Ok(PutOutcome::Written)
            })
        }
        fn hash_object<'a>(
            &'a self,
            key: &'a str,
            _p: Option<&'a Item>,
        ) -> futures_util::future::BoxFuture<'a, Result<Option<(String, u64)>>> {
            Box::pin(async move { Ok(self.head(key).await?.map(|r| (r.sha256.unwrap(), r.size))) })
        }
        fn get_small<'a>(&'a self, key: &'a str, _l: u64) -> futures_util::future::BoxFuture<'a, Result<Option<Vec<u8>>>> {
            Box::pin(async move { Ok(self.objects.lock().unwrap().get(key).cloned()) })
        }
        fn abort_in_flight(&self) -> futures_util::future::BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    fn dist_with_one() -> (tempfile::TempDir, Manifest, Vec<PlannedObject>) {
        let d = tempfile::tempdir().unwrap();
        let data = b"tarball".to_vec();
        let file = "valkey-8.1.1-jammy-x86_64.tar.gz".to_string();
        std::fs::write(d.path().join(&file), &data).unwrap();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
        std::fs::write(d.path().join(format!("{file}.sha256")), crate::manifest::checksum_line(&sha, &file)).unwrap();
        let mut m = Manifest::new("8.1.1", 0, Default::default());
        m.upsert(crate::manifest::Artifact {
            target: "jammy-x86_64".into(),
            distro: "jammy".into(),
            arch: "x86_64".into(),
            checksum_file: format!("{file}.sha256"),
            file,
            size: data.len() as u64,
            sha256: sha,
            files: vec![],
            build: None,
        });
        m.save(d.path()).unwrap();
        let (m, planned) = plan_objects(d.path(), "releases/").unwrap();
        (d, m, planned)
    }

    #[test]
    fn prod_key_written_by_someone_else_meanwhile_is_refused_and_manifest_held_back() {
        let (d, m, planned) = dist_with_one();
        let key = "releases/valkey-8.1.1-jammy-x86_64.tar.gz".to_string();
        let store = Arc::new(MemStore {
            objects: Default::default(),
            race: vec![key.clone()],
            fail: vec![],
        });
        let opts = UploadOptions::new(Environment::Prod, d.path());
        let loc = StoreLocation::File { dir: "/mem".into() };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let rep = rt
            .block_on(upload_planned(&opts, &m, planned, store.clone(), &loc, &Progress::plain()))
            .unwrap();
        let row = rep.objects.iter().find(|o| o.key == key).unwrap();
        assert_eq!(row.state, ObjectState::Refused);
        assert_eq!(store.objects.lock().unwrap().get(&key).unwrap(), b"someone else");
        assert!(!store.objects.lock().unwrap().contains_key("releases/valkey-8.1.1.manifest.json"));
        assert_eq!(rep.result().unwrap_err().exit_code(), 4);
    }

    #[test]
    fn failed_object_is_listed_missing_and_exit_3() {
        let (d, m, planned) = dist_with_one();
        let key = "releases/valkey-8.1.1-jammy-x86_64.tar.gz".to_string();
        let store = Arc::new(MemStore {
            objects: Default::default(),
            race: vec![],
            fail: vec![key.clone()],
        });
        let opts = UploadOptions::new(Environment::Dev, d.path());
        let loc = StoreLocation::File { dir: "/mem".into() };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let rep = rt
            .block_on(upload_planned(&opts, &m, planned.clone(), store.clone(), &loc, &Progress::plain()))
            .unwrap();
        assert!(!rep.complete);
        assert!(rep.missing.contains(&key));
        assert!(rep.missing.contains(&"releases/valkey-8.1.1.manifest.json".to_string()));
        let e = rep.result().unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains(&key), "{e}");
        // Next run with a healthy store completes; the .sha256 already there is skipped.
        let healthy = Arc::new(MemStore {
            objects: std::sync::Mutex::new(store.objects.lock().unwrap().clone()),
            race: vec![],
            fail: vec![],
        });
        let rep = rt
            .block_on(upload_planned(&opts, &m, planned, healthy, &loc, &Progress::plain()))
            .unwrap();
        assert!(rep.complete, "{:?}", rep.missing);
        assert_eq!(rep.objects.iter().filter(|o| o.state == ObjectState::Skipped).count(), 1);
    }
}
