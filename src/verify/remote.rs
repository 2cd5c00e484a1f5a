//! Verification of a published release (`verify --remote`): S3 or HTTPS. (Issue 4 fills this in.)

use crate::error::{Error, Result};
use crate::version::Version;

/// Stream every published artifact of `version` under `remote` (`s3://bucket/prefix/` or
/// `https://host/prefix/`) and check it against its published `.sha256` and the published manifest.
/// Prints per-file OK/FAILED lines (or JSON); Err(Check) on any mismatch.
pub async fn verify_remote(_remote: &str, _version: &Version, _json: bool) -> Result<()> {
    Err(Error::input("verify --remote: not implemented yet"))
}
