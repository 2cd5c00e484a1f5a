//! The [`Store`] trait and the types it exchanges. Implementations: S3
//! ([`super::s3::S3Store`]) and a local directory ([`super::file::FileStore`]).
//!
//! Keys are full object keys (`releases/valkey-8.1.1-jammy-x86_64.tar.gz`).

use crate::error::Result;
use crate::progress::Item;
use futures_util::future::BoxFuture;
use std::path::{Path, PathBuf};

/// What the store says about an object that exists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteObject {
    pub size: u64,
    /// Lowercase hex SHA-256 of the whole object, when the store itself computed it
    /// (S3: the server's single-part `ChecksumSHA256`, never metadata a writer set;
    /// directory store: hashed on the spot). `None`: only a download can tell.
    pub sha256: Option<String>,
    /// The raw stored checksum (S3 `ChecksumSHA256`, base64, `-N` suffix for multipart).
    pub checksum: Option<String>,
}

/// The bytes of an object to store.
#[derive(Debug, Clone)]
pub enum Body {
    /// A file on disk, read (and hashed again) while sending.
    File(PathBuf),
    /// Small content held in memory (SHA256SUMS, manifest.json).
    Bytes(bytes::Bytes),
}

/// One object to write.
#[derive(Debug, Clone)]
pub struct PutRequest {
    pub key: String,
    pub body: Body,
    pub size: u64,
    /// Lowercase hex SHA-256 the bytes must have; the store refuses to finish the write otherwise.
    pub sha256: String,
    /// Only create: fail with [`PutOutcome::Exists`] if the key exists (S3: `If-None-Match: *`).
    pub create_only: bool,
}

/// Result of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// Written.
    Written,
    /// `create_only` and the key appeared meanwhile (HTTP 412): nothing written.
    Exists,
}

/// A place release objects are written to and read from.
pub trait Store: Send + Sync {
    /// `s3://bucket` or `file:///abs/dir`.
    fn describe(&self) -> String;
    /// The URI of one key (`s3://bucket/key`, `file:///dir/key`).
    fn uri(&self, key: &str) -> String;
    /// Check the bucket/directory is there and reachable with these credentials.
    fn check_access(&self) -> BoxFuture<'_, Result<()>>;
    /// Metadata of a key, `None` when absent.
    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<RemoteObject>>>;
    /// Write an object; the bytes are hashed while read and the write is abandoned
    /// (multipart aborted, temp file removed) unless they match `req.sha256`.
    fn put<'a>(&'a self, req: &'a PutRequest, progress: &'a Item) -> BoxFuture<'a, Result<PutOutcome>>;
    /// Stream an object and return (sha256 hex, size); `progress` advances by bytes read.
    fn hash_object<'a>(&'a self, key: &'a str, progress: Option<&'a Item>) -> BoxFuture<'a, Result<Option<(String, u64)>>>;
    /// Read a small object whole (manifest, `.sha256`); `None` when absent. Refuses over `limit` bytes.
    fn get_small<'a>(&'a self, key: &'a str, limit: u64) -> BoxFuture<'a, Result<Option<Vec<u8>>>>;
    /// Download an object into the file `dest` (written under a temporary name and renamed
    /// into place only when whole); returns its (sha256 hex, size), `None` when absent.
    /// The default reads it whole through [`Store::get_small`]; stores stream it.
    fn download<'a>(&'a self, key: &'a str, dest: &'a Path) -> BoxFuture<'a, Result<Option<(String, u64)>>> {
        Box::pin(async move {
            let Some(b) = self.get_small(key, u64::MAX).await? else {
                return Ok(None);
            };
            crate::fsutil::write_atomic(dest, &b)?;
            Ok(Some((hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&b)), b.len() as u64)))
        })
    }
    /// Prove that create-only writes are honoured (prod relies on them), writing only the
    /// empty object `probe_key`: a refused error (exit 4) when the store ignores them or lacks
    /// them. Stores whose create-only write cannot be ignored (a directory) need not probe.
    fn check_conditional_writes<'a>(&'a self, probe_key: &'a str) -> BoxFuture<'a, Result<()>> {
        let _ = probe_key;
        Box::pin(async { Ok(()) })
    }
    /// Abort every write still in progress (multipart uploads): used on Ctrl-C.
    fn abort_in_flight(&self) -> BoxFuture<'_, ()>;
}
