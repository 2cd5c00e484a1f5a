//! The S3 implementation of [`Store`]: aws-sdk-s3 with aws-config's default chain.
//!
//! What an object holds is judged by the server's own SHA-256 (`ChecksumSHA256`, asked for
//! with checksum mode), never by the `sha256` metadata a writer sets. Prod writes are
//! create-only (`If-None-Match: *`); a server without conditional writes is refused, never
//! worked around with a check before the write (that races).

mod client;
mod put;

pub(crate) use client::describe;
pub use client::{checksum_to_hex, client, S3Config, DEFAULT_MAX_ATTEMPTS};
use client::{not_implemented, status};

use super::object::{Body, PutOutcome, PutRequest, RemoteObject, Store};
use crate::error::{Error, Result};
use crate::progress::Item;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumMode;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Region used when neither the environment nor a profile names one.
pub const DEFAULT_REGION: &str = "us-west-2";
/// Metadata key holding the hex SHA-256 of the whole object (informative only: never trusted).
pub const META_SHA256: &str = "sha256";
/// Key (under the release prefix) of the empty object prod writes twice, create-only, to
/// prove the server honours `If-None-Match: *` before anything of the release is written.
pub const PROBE_KEY: &str = ".valkey-release-conditional-write-probe";

/// `s3://BUCKET[/PREFIX/]`.
pub struct S3Backend;

impl super::Backend for S3Backend {
    fn parse(&self, rest: &str) -> std::result::Result<(String, String), String> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err("no bucket name (expected s3://BUCKET or s3://BUCKET/PREFIX/)".into());
        }
        super::check_bucket_name(bucket)?;
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            return Ok((bucket.to_string(), String::new()));
        }
        if !super::is_plain_key(prefix) {
            return Err(format!(
                "key prefix {prefix:?} must be a relative path without '.' or '..' components"
            ));
        }
        Ok((bucket.to_string(), format!("{prefix}/")))
    }

    fn open<'a>(&'a self, url: &'a super::StoreUrl, cfg: &'a super::StoreConfig) -> BoxFuture<'a, Result<Arc<dyn Store>>> {
        async move {
            let s3cfg = S3Config {
                endpoint_url: cfg.endpoint_url.clone(),
                max_attempts: cfg.max_attempts,
                initial_backoff: cfg.initial_backoff,
            };
            let mut s = S3Store::new(&url.location, &s3cfg, cfg.concurrency).await?;
            s.multipart_threshold = cfg.multipart_threshold;
            s.part_size = cfg.part_size;
            Ok(Arc::new(s) as Arc<dyn Store>)
        }
        .boxed()
    }
}

/// The error for a prod write to a server without conditional writes.
fn no_conditional_writes(uri: &str, how: &str) -> Error {
    Error::refused(format!(
        "{uri}: the S3 server {how} conditional writes (If-None-Match: *); prod refuses to write \
         without them, since a concurrent writer could be overwritten. Use a server that supports \
         them (AWS S3, MinIO, moto, s3s-fs), or the dev environment"
    ))
}
/// An S3 bucket as a [`Store`].
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    attempts: u32,
    /// Objects at least this big go multipart.
    pub multipart_threshold: u64,
    /// Multipart part size (>= 5 MiB).
    pub part_size: u64,
    /// Bounds the requests carrying bytes (puts and parts) in flight at once.
    transfers: Arc<Semaphore>,
    in_flight: Arc<Mutex<Vec<(String, String)>>>,
}

impl S3Store {
    /// A store on `bucket` with a client made by [`client`].
    pub async fn new(bucket: &str, cfg: &S3Config, concurrency: usize) -> Result<S3Store> {
        Ok(S3Store {
            client: client(cfg).await?,
            bucket: bucket.to_string(),
            attempts: cfg.max_attempts,
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 16 * 1024 * 1024,
            transfers: Arc::new(Semaphore::new(concurrency.max(1))),
            in_flight: Arc::new(Mutex::new(Vec::new())),
        })
    }

    fn what(&self, op: &str, key: &str) -> String {
        format!("{op} s3://{}/{key}", self.bucket)
    }
}

/// The error for bytes that do not match what the manifest says.
pub(crate) fn refused_changed(body: &Body, key: &str, want: &str, got: &str) -> Error {
    let name = match body {
        Body::File(p) => p.display().to_string(),
        Body::Bytes(_) => key.to_string(),
    };
    Error::check(format!(
        "{name}: content changed since manifest.json was written (sha256 {got}, manifest says {want}); not uploaded. Re-run package/build to regenerate dist/"
    ))
}

impl Store for S3Store {
    fn describe(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn check_access(&self) -> BoxFuture<'_, Result<()>> {
        async move {
            match self.client.head_bucket().bucket(&self.bucket).send().await {
                Ok(_) => Ok(()),
                Err(e) if status(&e) == Some(404) || e.code() == Some("NoSuchBucket") || e.code() == Some("NotFound") => {
                    Err(Error::input(format!(
                        "bucket {:?} does not exist (HTTP 404). Check the bucket name (--bucket, AWS_S3_BUCKET for prod, AWS_TEST_BUCKET for dev) and the endpoint",
                        self.bucket
                    )))
                }
                Err(e) => Err(describe(&e, &format!("check bucket {:?}", self.bucket), self.attempts)),
            }
        }
        .boxed()
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<RemoteObject>>> {
        async move {
            let r = self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await;
            match r {
                Ok(o) => {
                    // The server's own checksum only: metadata is whatever a writer claimed.
                    // A multipart object's checksum is a checksum of part checksums (marked by
                    // `-N` on it, its type, or its ETag, depending on the server): not the SHA-256
                    // of the bytes.
                    let checksum = o.checksum_sha256().map(str::to_string);
                    let composite = o.checksum_type() == Some(&aws_sdk_s3::types::ChecksumType::Composite)
                        || o.e_tag().is_some_and(|t| t.trim_matches('"').contains('-'));
                    let sha256 = checksum.as_deref().filter(|_| !composite).and_then(checksum_to_hex);
                    Ok(Some(RemoteObject {
                        size: o.content_length().unwrap_or(0).max(0) as u64,
                        sha256,
                        checksum,
                    }))
                }
                Err(e) if status(&e) == Some(404) => Ok(None),
                Err(e) => Err(describe(&e, &self.what("check", key), self.attempts)),
            }
        }
        .boxed()
    }

    fn put<'a>(&'a self, req: &'a PutRequest, progress: &'a Item) -> BoxFuture<'a, Result<PutOutcome>> {
        async move {
            if req.size >= self.multipart_threshold && matches!(req.body, Body::File(_)) {
                self.put_multipart(req, progress).await
            } else {
                self.put_single(req, progress).await
            }
        }
        .boxed()
    }

    fn hash_object<'a>(&'a self, key: &'a str, progress: Option<&'a Item>) -> BoxFuture<'a, Result<Option<(String, u64)>>> {
        async move {
            let r = self.client.get_object().bucket(&self.bucket).key(key).send().await;
            let mut body = match r {
                Ok(o) => o.body,
                Err(e) if status(&e) == Some(404) => return Ok(None),
                Err(e) => return Err(describe(&e, &self.what("download", key), self.attempts)),
            };
            let mut h = Sha256::new();
            let mut n = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| Error::external(format!("{}: {}", self.what("download", key), DisplayErrorContext(&e))))?;
                h.update(&chunk);
                n += chunk.len() as u64;
                if let Some(p) = progress {
                    p.inc(chunk.len() as u64);
                }
            }
            Ok(Some((hex::encode(h.finalize()), n)))
        }
        .boxed()
    }

    fn get_small<'a>(&'a self, key: &'a str, limit: u64) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        async move {
            let r = self.client.get_object().bucket(&self.bucket).key(key).send().await;
            let mut body = match r {
                Ok(o) => o.body,
                Err(e) if status(&e) == Some(404) || e.code() == Some("NoSuchKey") => return Ok(None),
                Err(e) => return Err(describe(&e, &self.what("download", key), self.attempts)),
            };
            let mut out = Vec::new();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| Error::external(format!("{}: {}", self.what("download", key), DisplayErrorContext(&e))))?;
                out.extend_from_slice(&chunk);
                if out.len() as u64 > limit {
                    return Err(Error::check(format!("{}: larger than {limit} bytes", self.uri(key))));
                }
            }
            Ok(Some(out))
        }
        .boxed()
    }

    fn download<'a>(&'a self, key: &'a str, dest: &'a std::path::Path) -> BoxFuture<'a, Result<Option<(String, u64)>>> {
        async move {
            use std::io::Write;
            let r = self.client.get_object().bucket(&self.bucket).key(key).send().await;
            let mut body = match r {
                Ok(o) => o.body,
                Err(e) if status(&e) == Some(404) || e.code() == Some("NoSuchKey") => return Ok(None),
                Err(e) => return Err(describe(&e, &self.what("download", key), self.attempts)),
            };
            let mut out = crate::fsutil::AtomicFile::create(dest)?;
            let mut h = Sha256::new();
            let mut n = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| Error::external(format!("{}: {}", self.what("download", key), DisplayErrorContext(&e))))?;
                h.update(&chunk);
                n += chunk.len() as u64;
                out.write_all(&chunk).map_err(|e| Error::io(dest, "write", e))?;
            }
            out.commit()?;
            Ok(Some((hex::encode(h.finalize()), n)))
        }
        .boxed()
    }

    fn check_conditional_writes<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            // Two create-only writes of the same empty object: the second (at the latest) must
            // be refused with 412. A server that accepts it ignores If-None-Match.
            let verdict = self.probe_conditional_writes(key).await;
            // The probe leaves nothing in the release prefix (best effort: credentials that may
            // not delete leave one empty object, which no stage lists).
            if let Err(e) = self.client.delete_object().bucket(&self.bucket).key(key).send().await {
                tracing::warn!("could not remove the probe object {}: {}", self.uri(key), DisplayErrorContext(&e));
            }
            verdict
        }
        .boxed()
    }

    fn abort_in_flight(&self) -> BoxFuture<'_, ()> {
        async move {
            let list: Vec<(String, String)> = std::mem::take(&mut *self.in_flight.lock().unwrap_or_else(|e| e.into_inner()));
            for (key, id) in list {
                self.abort(&key, &id).await;
            }
        }
        .boxed()
    }
}

impl S3Store {
    /// The two create-only writes of `check_conditional_writes`.
    async fn probe_conditional_writes(&self, key: &str) -> Result<()> {
        for attempt in 0..2 {
            let r = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_length(0)
                .if_none_match("*")
                .body(ByteStream::from_static(b""))
                .send()
                .await;
            match r {
                Err(e) if status(&e) == Some(412) || e.code() == Some("PreconditionFailed") => return Ok(()),
                Err(e) if not_implemented(&e) => return Err(no_conditional_writes(&self.uri(key), "does not support")),
                Err(e) => return Err(describe(&e, &self.what("probe conditional writes with", key), self.attempts)),
                Ok(_) if attempt == 1 => {
                    return Err(no_conditional_writes(
                        &self.uri(key),
                        "ignores If-None-Match: * (it let a create-only write replace an existing object), so it lacks",
                    ))
                }
                Ok(_) => {}
            }
        }
        Ok(())
    }
}
