//! `valkey-release upload` (arguments; the logic is in crate::upload).

use super::Global;
use crate::error::{Error, Result};
use crate::upload::run_upload;

const AFTER: &str = "\
Uploads every artifact of dist/manifest.json, its .sha256, SHA256SUMS and manifest.json to
<store>/releases/ (keys: releases/<tarball>, releases/<tarball>.sha256,
releases/valkey-<V>.SHA256SUMS, releases/valkey-<V>.manifest.json), then checks every object (by the store's own SHA-256; --verify-download downloads each object and hashes it).

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
  4    refused: prod object with different content (use --force-overwrite only if sure), or a
       prod store without conditional writes (If-None-Match: *)
  130  interrupted: multipart uploads in progress were aborted";

/// `upload` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER)]
pub struct Args {
    #[command(flatten)]
    pub upload: crate::upload::UploadArgs,
}

/// Print a line on stdout; a closed pipe (`| head`) is not an error.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

pub async fn run(g: &Global, a: Args) -> Result<()> {
    let matrix = g.matrix()?;
    let opts = a.upload.into_options(&matrix.artifact.s3_prefix)?;
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
