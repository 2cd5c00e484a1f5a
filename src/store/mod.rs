//! Stores: where release objects are written and read. One URL parser ([`StoreUrl::parse`]),
//! one way to choose it from flags and variables ([`resolve`]) and one factory ([`open`]).
//!
//! URLs: `s3://BUCKET[/PREFIX/]` and `file://DIR` (`file:///abs/dir`, `file://relative/dir`).
//! Adding a store (GCS, ...) = one file implementing [`Store`] and [`Backend`], plus one arm
//! in [`backend`].

mod args;
pub mod file;
mod object;
pub mod s3;
#[cfg(test)]
pub(crate) mod testmem;

pub use args::StoreArgs;
pub use object::{Body, PutOutcome, PutRequest, RemoteObject, Store};

use crate::error::{Error, Result};
use futures_util::future::BoxFuture;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// The release environment: `dev` (test bucket, overwrites allowed, binaries only) or `prod`
/// (release bucket, never overwrites, hand-offs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Dev,
    Prod,
}

impl Environment {
    /// `dev`, `prod`, or empty (= dev, as the dispatch payload allows). Anything else: exit 2.
    pub fn parse(s: &str) -> Result<Environment> {
        match s {
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
    /// The variable naming this environment's bucket: prod -> `AWS_S3_BUCKET`, dev ->
    /// `AWS_TEST_BUCKET`. Never the other one as a fallback.
    pub fn bucket_var(self) -> &'static str {
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

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreUrl {
    /// `s3`, `file`.
    pub scheme: String,
    /// The bucket, or the directory.
    pub location: String,
    /// Key prefix inside it (`releases/`), empty or ending with `/`.
    pub prefix: String,
}

impl StoreUrl {
    /// Parse `SCHEME://...`; the scheme's [`Backend`] checks the rest. Exit 2 naming the URL.
    pub fn parse(url: &str) -> Result<StoreUrl> {
        let known = || SCHEMES.join(", ");
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| Error::input(format!("store URL {url:?}: expected one of {}", examples())))?;
        let b = backend(scheme).ok_or_else(|| {
            Error::input(format!(
                "store URL {url:?}: unknown scheme {scheme:?} (known: {}); e.g. {}",
                known(),
                examples()
            ))
        })?;
        let (location, prefix) = b.parse(rest).map_err(|why| Error::input(format!("store URL {url:?}: {why}")))?;
        Ok(StoreUrl {
            scheme: scheme.to_string(),
            location,
            prefix,
        })
    }

    /// A store URL for an S3 bucket (checked like a parsed one).
    pub fn s3(bucket: &str) -> Result<StoreUrl> {
        StoreUrl::parse(&format!("s3://{}", bucket.trim()))
    }

    /// `s3://bucket`, `s3://bucket/prefix/`, `file://dir`.
    pub fn url(&self) -> String {
        let sep = if self.prefix.is_empty() { "" } else { "/" };
        format!("{}://{}{sep}{}", self.scheme, self.location, self.prefix)
    }

    /// The bucket, for S3.
    pub fn bucket(&self) -> Option<&str> {
        (self.scheme == "s3").then_some(self.location.as_str())
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

/// How to reach a store and how hard to push it.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// S3-compatible endpoint (else AWS_ENDPOINT_URL, read by aws-config).
    pub endpoint_url: Option<String>,
    /// Attempts per request, retries included.
    pub max_attempts: u32,
    /// Initial retry backoff.
    pub initial_backoff: Duration,
    /// Requests carrying bytes in flight at once.
    pub concurrency: usize,
    /// Objects at least this big go multipart.
    pub multipart_threshold: u64,
    /// Multipart part size.
    pub part_size: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            endpoint_url: None,
            max_attempts: s3::DEFAULT_MAX_ATTEMPTS,
            initial_backoff: Duration::from_millis(500),
            concurrency: 4,
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 16 * 1024 * 1024,
        }
    }
}

/// One kind of store: how its URLs look and how to open one.
pub trait Backend: Sync {
    /// Check the part after `SCHEME://`; returns (location, key prefix) or why it is wrong.
    fn parse(&self, rest: &str) -> std::result::Result<(String, String), String>;
    /// Open the store a URL names.
    fn open<'a>(&'a self, url: &'a StoreUrl, cfg: &'a StoreConfig) -> BoxFuture<'a, Result<Arc<dyn Store>>>;
}

/// The URL schemes [`backend`] knows, for messages.
const SCHEMES: &[&str] = &["s3", "file"];

fn examples() -> &'static str {
    "s3://BUCKET, s3://BUCKET/PREFIX/, file:///abs/dir or file://relative/dir"
}

/// The backend of a URL scheme: one arm per store.
pub fn backend(scheme: &str) -> Option<&'static dyn Backend> {
    match scheme {
        "s3" => Some(&s3::S3Backend),
        "file" => Some(&file::FileBackend),
        #[cfg(test)]
        "mem" => Some(&testmem::MemBackend),
        _ => None,
    }
}

/// Open the store `url` names.
pub async fn open(url: &StoreUrl, cfg: &StoreConfig) -> Result<Arc<dyn Store>> {
    let b = backend(&url.scheme).ok_or_else(|| Error::input(format!("store URL {url}: unknown scheme")))?;
    b.open(url, cfg).await
}

/// Choose the store: `--store URL`, else `--bucket B`, else the environment's variable
/// (prod: `AWS_S3_BUCKET`, dev: `AWS_TEST_BUCKET`; never the other one); `None` when none is
/// given (the caller decides: upload refuses, release may use its local default).
/// Returns the URL and what decided it. `lookup` reads a variable.
pub fn resolve(
    env: Environment,
    bucket: Option<&str>,
    store: Option<&str>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(StoreUrl, String)>> {
    match (bucket, store) {
        (Some(_), Some(_)) => Err(Error::input("give either --bucket or --store, not both")),
        (_, Some(s)) => Ok(Some((StoreUrl::parse(s).map_err(|e| e.context("--store"))?, "--store".into()))),
        (Some(b), None) => Ok(Some((StoreUrl::s3(b).map_err(|e| e.context("--bucket"))?, "--bucket".into()))),
        (None, None) => {
            let var = env.bucket_var();
            match lookup(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
                Some(b) => Ok(Some((
                    StoreUrl::s3(&b).map_err(|e| e.context(format!("variable {var}")))?,
                    var.into(),
                ))),
                None => Ok(None),
            }
        }
    }
}

/// Is `b` a valid S3 bucket name (3-63 of a-z, 0-9, `-`, `.`)?
pub fn check_bucket_name(b: &str) -> std::result::Result<(), String> {
    let ok = (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.');
    if ok {
        Ok(())
    } else {
        Err(format!("bucket name {b:?} is not valid: 3-63 characters of a-z, 0-9, '-' and '.'"))
    }
}

/// Is `key` an object key that stays inside its store (relative, no `.`/`..`/empty
/// component, no backslash or control character)? What [`file::FileStore`] and the upload
/// plan accept.
pub fn is_plain_key(key: &str) -> bool {
    crate::targets::is_inner_path(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        let u = StoreUrl::parse("s3://my-bucket").unwrap();
        assert_eq!((u.bucket(), u.prefix.as_str()), (Some("my-bucket"), ""));
        assert_eq!(StoreUrl::parse("s3://my-bucket/").unwrap().url(), "s3://my-bucket");
        let u = StoreUrl::parse("s3://my-bucket/releases").unwrap();
        assert_eq!((u.location.as_str(), u.prefix.as_str()), ("my-bucket", "releases/"));
        assert_eq!(u.url(), "s3://my-bucket/releases/");
        assert_eq!(StoreUrl::parse("file:///abs/dir").unwrap().location, "/abs/dir");
        assert_eq!(StoreUrl::parse("file://dist/bucket").unwrap().location, "dist/bucket");
        for bad in [
            "s3://",
            "http://x",
            "file://",
            "dist/bucket",
            "s3://UPPER",
            "s3://b/../x",
            "gcs://b",
        ] {
            let e = StoreUrl::parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn bucket_never_falls_back() {
        let only_test = |k: &str| (k == "AWS_TEST_BUCKET").then(|| "test-bucket".to_string());
        assert!(resolve(Environment::Prod, None, None, &only_test).unwrap().is_none());
        let (u, from) = resolve(Environment::Dev, None, None, &only_test).unwrap().unwrap();
        assert_eq!((u.url().as_str(), from.as_str()), ("s3://test-bucket", "AWS_TEST_BUCKET"));
        let (u, _) = resolve(Environment::Dev, Some("other-b"), None, &only_test).unwrap().unwrap();
        assert_eq!(u.url(), "s3://other-b");
        assert!(resolve(Environment::Dev, Some("abc"), Some("s3://abc"), &|_| None).is_err());
    }

    #[test]
    fn environment_rule() {
        assert_eq!(Environment::parse("").unwrap(), Environment::Dev);
        assert_eq!(Environment::parse("dev").unwrap(), Environment::Dev);
        assert_eq!(Environment::parse("prod").unwrap(), Environment::Prod);
        for bad in ["Prod", "production", "test", " prod"] {
            assert_eq!(Environment::parse(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
        assert_eq!(Environment::Prod.bucket_var(), "AWS_S3_BUCKET");
    }

    /// Adding a store = one file (testmem.rs) + one arm in `backend`: the upload runs on it
    /// through the same URL parser and factory as S3 and directories.
    #[tokio::test]
    async fn a_test_only_store_plugs_in_with_one_file_and_one_arm() {
        let url = StoreUrl::parse("mem://scratch/releases/").unwrap();
        assert_eq!(url.prefix, "releases/");
        let store = open(&url, &StoreConfig::default()).await.unwrap();
        assert_eq!(store.describe(), "mem://scratch");
        let req = PutRequest {
            key: "releases/a.txt".into(),
            body: Body::Bytes(bytes::Bytes::from_static(b"abc")),
            size: 3,
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"abc")),
            create_only: true,
        };
        let item = crate::progress::Progress::plain().bytes("t", 3);
        assert_eq!(store.put(&req, &item).await.unwrap(), PutOutcome::Written);
        assert_eq!(store.put(&req, &item).await.unwrap(), PutOutcome::Exists);
        let head = store.head("releases/a.txt").await.unwrap().unwrap();
        assert_eq!(head.sha256.as_deref(), Some(req.sha256.as_str()));
    }
}
