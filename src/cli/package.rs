//! `valkey-release package` (arguments; the logic is in crate::package).

use super::Global;
use crate::error::{Error, Result};
use crate::version::Version;
use std::path::PathBuf;

/// Package one target's build tree into a reproducible tarball with checksums.
///
/// Writes <out>/valkey-<V>-<distro>-<arch>.tar.gz and its .sha256, and adds the artifact to
/// <out>/manifest.json and <out>/SHA256SUMS (an existing dist/ of the same release is merged into;
/// one of another release is refused). The tarball's bytes depend only on the input files'
/// bytes, the version, the target and SOURCE_DATE_EPOCH.
#[derive(Debug, clap::Args)]
#[command(
    disable_version_flag = true,
    after_help = "Example:\n  SOURCE_DATE_EPOCH=$(git -C valkey log -1 --format=%ct) \\\n    valkey-release package --version 8.1.1 --target jammy-x86_64 --from valkey/ --out dist/\n\nExit codes:\n  0  written\n  1  an input file changed while it was being packaged\n  2  unusable input, nothing written: bad version, unknown target, missing binary or license,\n     missing or malformed SOURCE_DATE_EPOCH, --out holding another release\n  3  disk error"
)]
pub struct Args {
    /// Release version: M.m.p, M.m.p-rcN or unstable.
    #[arg(long, value_parser = super::parse_version, value_name = "V")]
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

pub async fn run(g: &Global, a: Args) -> Result<()> {
    crate::fsutil::check_dir_arg(
        &a.out,
        "--out",
        "the dist directory the tarball, its .sha256, manifest.json and SHA256SUMS are written into",
    )?;
    crate::fsutil::check_dir_arg(&a.from, "--from", "the build tree: valkey's source tree after make")?;
    let matrix = g.matrix()?;
    let sde = crate::package::source_date_epoch(a.source_date_epoch.as_deref())?;
    let mut source = crate::package::default_source(&a.from);
    if let Some(n) = a.source_name {
        source.name = n;
        source.kind = "archive".to_string();
    }
    if let Some(h) = a.source_sha256 {
        if !crate::fsutil::is_sha256_hex(&h) {
            return Err(Error::input(format!("--source-sha256: {h:?} is not 64 hex digits")));
        }
        source.sha256 = Some(h.to_ascii_lowercase());
    }
    if let Some(u) = a.source_url {
        source.url = Some(u);
        if source.kind == "unknown" {
            source.kind = "url".to_string();
        }
    }
    let opts = crate::package::PackageOptions {
        version: a.version,
        target: a.target,
        from: a.from,
        out: a.out,
        source_date_epoch: sde,
        source: Some(source),
    };
    let progress = crate::progress::Progress::new();
    let item = progress.spinner(&opts.target);
    item.set(&format!("packaging {}", opts.from.display()));
    let report = tokio::task::block_in_place(|| crate::package::package(&matrix, &opts));
    let report = match report {
        Ok(r) => {
            item.finish(&format!("wrote {} ({} bytes)", r.tarball.display(), r.artifact.size));
            r
        }
        Err(e) => {
            item.finish("failed");
            return Err(e);
        }
    };
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Error::external(e.to_string()))?
        );
    } else {
        println!("{}  {}", report.artifact.sha256, report.tarball.display());
        println!("{}", report.checksum_file.display());
        println!(
            "{}{}",
            report.manifest.display(),
            if report.replaced {
                " (replaced the previous artifact of this target)"
            } else {
                ""
            }
        );
        println!("{}", report.sha256sums.display());
    }
    Ok(())
}
