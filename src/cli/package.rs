//! `valkey-release package` (arguments; the logic is in crate::package).

use super::Global;
use crate::error::{Error, Result};

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
    #[command(flatten)]
    pub package: crate::package::args::PackageArgs,
}

pub async fn run(g: &Global, a: Args) -> Result<()> {
    crate::fsutil::check_dir_arg(
        &a.package.out,
        "--out",
        "the dist directory the tarball, its .sha256, manifest.json and SHA256SUMS are written into",
    )?;
    crate::fsutil::check_dir_arg(&a.package.from, "--from", "the build tree: valkey's source tree after make")?;
    let matrix = g.matrix()?;
    let opts = a.package.into_options()?;
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
