//! `valkey-release build` and `valkey-release images` (arguments; the logic is in crate::build).

use super::Global;
use crate::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_g: &Global, _a: Args) -> Result<()> {
    Err(Error::input("not implemented yet"))
}

// ==================================================================== `images` (images helper)

/// Prepare the builder images of targets ahead of a build.
///
/// Each distro has one builder image, defined by `[builders.<name>]` in targets.toml and tagged
/// `valkey-release-builder/<name>:<digest of the definition>`. An image already on the engine is
/// reused; otherwise it is made with mmdebstrap (offline, from the host's apt mirror) or from
/// `builders/<name>/Dockerfile`. Prints one line per builder: name, tag, image ID, built/reused.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  valkey-release images                          # every builder that can be made here\n  \
valkey-release images --target bookworm-arm64  # the bookworm builder (arm64 cross-compiles on it)\n  \
valkey-release images --target jammy-x86_64 --force --json")]
pub struct ImagesArgs {
    /// Prepare the builders of these targets (`<distro>-<arch>`, repeatable). Default: every
    /// builder whose method can run here; the others are listed as skipped, with the reason.
    #[arg(id = "image_targets", long = "target", short = 't', value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Rebuild the images even when present.
    #[arg(long)]
    pub force: bool,
    /// Where the mmdebstrap / docker build output goes (`images-<builder>.log`).
    #[arg(long, value_name = "DIR", default_value = "dist/logs")]
    pub log_dir: std::path::PathBuf,
}

pub async fn run_images(g: &Global, a: ImagesArgs) -> Result<()> {
    let matrix = g.matrix()?;
    let opts = crate::build::image::ImagesOptions { targets: a.targets, force: a.force, log_dir: Some(a.log_dir) };
    let progress = crate::progress::Progress::new();
    // Ctrl-C drops the preparation: a running mmdebstrap is terminated and its temporary rootfs removed.
    let report = tokio::select! {
        r = crate::build::image::prepare_images(&matrix, &opts, &progress) => r?,
        _ = tokio::signal::ctrl_c() => return Err(Error::Interrupted),
    };
    if g.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| Error::external(format!("serializing the report: {e}")))?;
        println!("{text}");
    } else {
        for i in &report.images {
            println!("{:<10} {:<48} {} ({})", i.builder, i.tag, i.id, if i.reused { "reused" } else { "built" });
        }
        for s in &report.skipped {
            println!("{:<10} skipped: {}", s.builder, s.reason);
        }
    }
    Ok(())
}
// ==================================================================== end of `images`
