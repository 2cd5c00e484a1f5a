//! The flags of `package` (flattened into the CLI's arguments) and the options they ask for.

use super::PackageOptions;
use crate::error::{Error, Result};
use crate::version::Version;
use std::path::PathBuf;

/// The flags of `package`.
#[derive(Debug, Clone, clap::Args)]
pub struct PackageArgs {
    /// Release version: M.m.p, M.m.p-rcN or unstable.
    #[arg(long, value_parser = crate::cli::parse_version, value_name = "V")]
    pub version: Version,
    /// Target as <distro>-<arch> (see `valkey-release targets`).
    #[arg(long, value_name = "T")]
    pub target: String,
    /// The build tree: valkey's source tree after make (src/valkey-* and COPYING).
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Output (dist) directory.
    #[arg(long, value_name = "DIR", default_value = "dist")]
    pub out: PathBuf,
    /// Timestamp of every entry (seconds since 1970). Default: $SOURCE_DATE_EPOCH; one of them is required.
    #[arg(long, value_name = "SECONDS")]
    pub source_date_epoch: Option<String>,
    /// Source name recorded in the manifest (e.g. valkey-8.1.1.tar.gz). Default: the tree's directory name.
    #[arg(long, value_name = "NAME")]
    pub source_name: Option<String>,
    /// sha256 of the source archive, recorded in the manifest (and checked against an existing one).
    #[arg(long, value_name = "HEX")]
    pub source_sha256: Option<String>,
    /// URL the source archive came from, recorded in the manifest.
    #[arg(long, value_name = "URL")]
    pub source_url: Option<String>,
}

impl PackageArgs {
    /// The options these flags ask for: SOURCE_DATE_EPOCH from the flag or the environment, the
    /// source facts recorded in the manifest.
    pub fn into_options(self) -> Result<PackageOptions> {
        let sde = crate::package::source_date_epoch(self.source_date_epoch.as_deref())?;
        let mut source = crate::package::default_source(&self.from);
        if let Some(n) = self.source_name {
            source.name = n;
            source.kind = "archive".to_string();
        }
        if let Some(h) = self.source_sha256 {
            if !crate::fsutil::is_sha256_hex(&h) {
                return Err(Error::input(format!("--source-sha256: {h:?} is not 64 hex digits")));
            }
            source.sha256 = Some(h.to_ascii_lowercase());
        }
        if let Some(u) = self.source_url {
            source.url = Some(u);
            if source.kind == "unknown" {
                source.kind = "url".to_string();
            }
        }
        Ok(PackageOptions {
            version: self.version,
            target: self.target,
            from: self.from,
            out: self.out,
            source_date_epoch: sde,
            source: Some(source),
        })
    }
}
