//! `valkey-release upload` (arguments; the logic is in crate::upload).

use super::Global;
use crate::error::{Error, Result};
use crate::upload::{run_upload, Environment, UploadOptions};
use std::path::PathBuf;

const AFTER: &str = "\
Uploads every artifact of dist/manifest.json, its .sha256, SHA256SUMS and manifest.json to
<store>/releases/ (keys: releases/<tarball>, releases/<tarball>.sha256,
releases/valkey-<V>.SHA256SUMS, releases/valkey-<V>.manifest.json), then checks every object.

Bucket: prod -> $AWS_S3_BUCKET, dev -> $AWS_TEST_BUCKET (never the other one), or --bucket, or
--store (s3://BUCKET, file:///abs/dir, file://relative/dir: a local directory store with the same
keys and checks). Credentials and region: the AWS default chain (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE); region defaults
to us-west-2. The credentials need s3:ListBucket, s3:GetObject and s3:PutObject on the bucket.

Every file is hashed again first and must match manifest.json. Objects already there with the same
sha256 are skipped. In prod, an object with different content is never overwritten unless
--force-overwrite. A run that fails part-way lists the missing keys; run it again to complete them.

Examples:
  valkey-release upload --environment dev
  valkey-release upload --environment prod --dry-run
  valkey-release upload --store file://dist/bucket
  valkey-release upload --bucket test-bucket --endpoint-url http://127.0.0.1:5000

Exit codes:
  0    every object is in place (uploaded or already there)
  1    a dist/ file differs from manifest.json (nothing uploaded)
  2    bad input: environment, missing bucket variable, bad --store, the bucket does not exist
  3    S3 failed: unreachable after the retries, credentials rejected, objects missing after the run
  4    refused: prod object with different content (use --force-overwrite only if sure)
  130  interrupted: multipart uploads in progress were aborted";

/// `upload` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER)]
pub struct Args {
    /// dev or prod (empty means dev). Chooses the bucket variable and whether overwrites are allowed.
    #[arg(long, default_value = "dev", value_name = "ENV")]
    pub environment: String,
    /// The dist directory holding manifest.json.
    #[arg(long, default_value = "dist", value_name = "DIR")]
    pub dist: PathBuf,
    /// Bucket name, instead of $AWS_S3_BUCKET / $AWS_TEST_BUCKET.
    #[arg(long, value_name = "BUCKET", conflicts_with = "store")]
    pub bucket: Option<String>,
    /// Store URL: s3://BUCKET, file:///abs/dir or file://relative/dir.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// S3-compatible endpoint (path-style addressing); default $AWS_ENDPOINT_URL, else AWS.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Show what would be uploaded, skipped or overwritten; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// prod: replace objects whose content differs (each replacement is logged).
    #[arg(long)]
    pub force_overwrite: bool,
    /// Requests carrying bytes in flight at once (objects and multipart parts).
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Attempts per S3 request, retries included (exponential backoff).
    #[arg(long, default_value_t = crate::upload::s3::DEFAULT_MAX_ATTEMPTS, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,
    /// Multipart part size in MiB (files at least this big go multipart; minimum 5).
    #[arg(long, default_value_t = 16, value_name = "MIB", value_parser = clap::value_parser!(u64).range(5..=5120))]
    pub part_size_mib: u64,
}

/// Print a line on stdout; a closed pipe (`| head`) is not an error.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

pub async fn run(g: &Global, a: Args) -> Result<()> {
    let env = Environment::parse(&a.environment)?;
    let matrix = g.matrix()?;
    let mut opts = UploadOptions::new(env, a.dist);
    opts.bucket = a.bucket;
    opts.store = a.store;
    opts.endpoint_url = a.endpoint_url.filter(|s| !s.is_empty());
    opts.prefix = matrix.artifact.s3_prefix.clone();
    opts.dry_run = a.dry_run;
    opts.force_overwrite = a.force_overwrite;
    opts.concurrency = a.concurrency as usize;
    opts.max_attempts = a.max_attempts;
    opts.part_size = a.part_size_mib * 1024 * 1024;
    opts.multipart_threshold = opts.part_size;
    if opts.force_overwrite {
        crate::progress::line("upload", "--force-overwrite given: objects with different content will be replaced");
    }
    let progress = crate::progress::Progress::new();
    let report = run_upload(&opts, &progress).await?;
    if g.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Error::external(format!("serializing report: {e}")))?
        );
    } else {
        outln!("{}", report.table().trim_end());
        let n = |s: crate::upload::ObjectState| report.objects.iter().filter(|o| o.state == s).count();
        use crate::upload::ObjectState as S;
        if report.dry_run {
            outln!(
                "dry run: {} to upload, {} to overwrite, {} already there, into {}",
                n(S::WouldUpload),
                n(S::WouldOverwrite),
                n(S::Skipped),
                report.store
            );
        } else {
            outln!(
                "{}: {} uploaded, {} overwritten, {} skipped (already there), {} failed, {} refused; {} bytes in {:.1}s",
                report.store,
                n(S::Uploaded),
                n(S::Overwritten),
                n(S::Skipped),
                n(S::Failed),
                n(S::Refused),
                report.bytes_uploaded,
                report.seconds
            );
        }
    }
    report.result()
}
