//! What an upload does: [`UploadOptions`], filled by `release` directly or by the CLI from
//! [`UploadArgs`] (flattened into `upload`'s arguments, so the flags are declared once).

use super::Environment;
use crate::error::{Error, Result};
use crate::store::{StoreConfig, StoreUrl};
use std::path::PathBuf;

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
    /// After the run, download every object and hash it again (`--verify-download`).
    pub verify_download: bool,
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
            max_attempts: crate::store::s3::DEFAULT_MAX_ATTEMPTS,
            initial_backoff: std::time::Duration::from_millis(500),
            verify_download: false,
        }
    }

    /// The chosen store, reading bucket variables from the process environment. Upload needs
    /// one (exit 2 naming the variable otherwise); its key prefix comes from targets.toml.
    pub fn location(&self) -> Result<StoreUrl> {
        let env = self.environment;
        let lookup = |k: &str| std::env::var(k).ok();
        let (url, _) = crate::store::resolve(env, self.bucket.as_deref(), self.store.as_deref(), &lookup)?.ok_or_else(|| {
            Error::input(format!(
                "{} is not set: the {env} environment uploads to the bucket it names (or pass --bucket B, or --store file://DIR)",
                env.bucket_var()
            ))
        })?;
        if !url.prefix.is_empty() {
            return Err(Error::input(format!(
                "--store {url}: give the bucket only (s3://BUCKET); the key prefix comes from targets.toml artifact.s3_prefix"
            )));
        }
        Ok(url)
    }

    /// How to reach the store.
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            endpoint_url: self.endpoint_url.clone(),
            max_attempts: self.max_attempts,
            initial_backoff: self.initial_backoff,
            concurrency: self.concurrency,
            multipart_threshold: self.multipart_threshold,
            part_size: self.part_size,
        }
    }
}

/// The flags of `upload` (flattened into the CLI's arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct UploadArgs {
    /// dev or prod (empty means dev). Chooses the bucket variable and whether overwrites are allowed.
    #[arg(long, default_value = "dev", value_name = "ENV")]
    pub environment: String,
    /// The dist directory holding manifest.json.
    #[arg(long, default_value = "dist", value_name = "DIR")]
    pub dist: PathBuf,
    #[command(flatten)]
    pub store: crate::store::StoreArgs,
    /// Show what would be uploaded, skipped or overwritten; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// prod: replace objects whose content differs (each replacement is logged).
    #[arg(long)]
    pub force_overwrite: bool,
    /// After the upload, download every object and check its sha256 again.
    #[arg(long)]
    pub verify_download: bool,
    /// Requests carrying bytes in flight at once (objects and multipart parts).
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Attempts per S3 request, retries included (exponential backoff).
    #[arg(long, default_value_t = crate::store::s3::DEFAULT_MAX_ATTEMPTS, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,
    /// Multipart part size in MiB (files at least this big go multipart; minimum 5).
    #[arg(long, default_value_t = 16, value_name = "MIB", value_parser = clap::value_parser!(u64).range(5..=5120))]
    pub part_size_mib: u64,
}

impl UploadArgs {
    /// The options these flags ask for; `prefix` is targets.toml's `artifact.s3_prefix`.
    pub fn into_options(self, prefix: &str) -> Result<UploadOptions> {
        let env = Environment::parse(self.environment.trim())?;
        let mut o = UploadOptions::new(env, self.dist);
        o.bucket = self.store.bucket;
        o.store = self.store.store;
        o.endpoint_url = self.store.endpoint_url.filter(|s| !s.is_empty());
        o.prefix = prefix.to_string();
        o.dry_run = self.dry_run;
        o.force_overwrite = self.force_overwrite;
        o.verify_download = self.verify_download;
        o.concurrency = self.concurrency as usize;
        o.max_attempts = self.max_attempts;
        o.part_size = self.part_size_mib * 1024 * 1024;
        o.multipart_threshold = o.part_size;
        Ok(o)
    }
}
