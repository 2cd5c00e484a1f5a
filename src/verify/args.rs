//! The flags of `verify` (flattened into the CLI's arguments) and the options of a local
//! verification they ask for.

use super::VerifyOptions;
use crate::version::Version;
use std::path::PathBuf;

/// The flags of `verify`: local paths, a valkey-hashes README, a remote release, or a
/// provenance check.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// Checksum files, files with a .sha256 beside them, dist directories, manifest files.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// A valkey-hashes README: check each `hash <file> sha256 <hex> <url>` line (the all-zero
    /// `unstable` line is skipped).
    #[arg(long, value_name = "README")]
    pub hashes: Option<PathBuf>,
    /// Directory holding the files named in --hashes (default: the README's directory).
    #[arg(long, value_name = "DIR", requires = "hashes")]
    pub dir: Option<PathBuf>,
    /// Skip files that do not exist instead of failing (like sha256sum --ignore-missing).
    #[arg(long)]
    pub ignore_missing: bool,
    /// Verify a published release instead: s3://bucket/prefix/ or https://host/prefix/ (needs --version).
    #[arg(long, value_name = "URL", requires = "version", conflicts_with_all = ["paths", "hashes"])]
    pub remote: Option<String>,
    /// Release version to verify with --remote, or with --provenance of a store URL.
    #[arg(long, value_parser = crate::cli::parse_version, value_name = "V")]
    pub version: Option<Version>,
    /// Check the release directory PATH (default .) against its valkey-<V>.intoto.jsonl: every
    /// file is a subject with its sha256, the signature verifies with --public-key, and the
    /// source digest equals the --hashes line for V. PATH may be a published release
    /// (s3://BUCKET/PREFIX/, file://DIR, https://HOST/PREFIX/; with --version V), downloaded
    /// into a temporary directory first. See docs/trust.md.
    #[arg(long, conflicts_with = "remote")]
    pub provenance: bool,
    /// The armored OpenPGP public key (GPG-KEY-valkey.asc). Without --provenance: each PATH's
    /// SHA256SUMS (a directory's, or the file itself) must have a `.asc` signature beside it
    /// that verifies with this key (exit 1 when it does not, 2 when there is none). With
    /// --provenance: the key the provenance must be signed with.
    #[arg(long, value_name = "FILE", conflicts_with = "remote")]
    pub public_key: Option<PathBuf>,
    /// With --provenance: the provenance file (default: the one *.intoto.jsonl in PATH).
    #[arg(long, value_name = "FILE", requires = "provenance")]
    pub provenance_file: Option<PathBuf>,
}

impl VerifyArgs {
    /// The options of a local verification (paths and --hashes), with a progress bar.
    pub fn into_local_options(self) -> VerifyOptions {
        VerifyOptions {
            paths: self.paths,
            hashes: self.hashes,
            hashes_dir: self.dir,
            ignore_missing: self.ignore_missing,
            progress: true,
        }
    }
}
