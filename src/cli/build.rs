//! `valkey-release build` and `valkey-release images` (arguments; the logic is in crate::build).

use super::Global;
use crate::error::{Error, Result};

const BUILD_AFTER: &str = "\
Each target is built in a fresh builder container (no network, not privileged, labelled
io.valkey.release.run=<run id>): the source goes in and the binaries come out over the Docker
Engine API (DOCKER_HOST or the target's `engine` in targets.toml), make runs at /build with
SOURCE_DATE_EPOCH, TZ=UTC and LC_ALL=C, the binaries are checked (ELF arch, glibc, libraries,
`valkey-server --version`) and packaged. Logs: <out>/logs/<target>.log. Ctrl-C or SIGTERM removes the
run's containers and partial files (exit 130); a run removes stray containers of dead runs.

Examples:
  valkey-release build --version 8.1.1 --target bookworm-x86_64 --target bookworm-arm64 \\
      --source ../valkey_8.1.1+dfsg1.orig.tar.xz
  valkey-release build --version 8.1.1 --source ~/src/valkey --source-sha 0123abc...   # git checkout
  valkey-release build --version 8.1.1 --check-reproducible --target jammy-x86_64
  valkey-release build --version 8.1.1 --no-packages   # tarballs (and SBOM facts), no .deb/.rpm
  valkey-release build --version 8.1.1 --no-hooks      # tarballs and checksums only";

/// Build targets in Docker builder containers, check and package them.
#[derive(Debug, clap::Args)]
#[command(after_help = BUILD_AFTER, disable_version_flag = true)]
pub struct Args {
    #[command(flatten)]
    pub build: crate::farm::args::BuildArgs,
}

pub async fn run(g: &Global, a: Args) -> Result<()> {
    crate::fsutil::check_dir_arg(
        &a.build.out,
        "--out",
        "the dist directory tarballs, manifest.json and logs/ are written into",
    )?;
    let matrix = g.matrix()?;
    let opts = a.build.into_options();
    let ctrl_c = crate::farm::signal::cancel_on_interrupt(opts.cancel.clone());
    let progress = crate::progress::Progress::new();
    let result = crate::farm::run_build(&matrix, &opts, &progress).await;
    ctrl_c.abort();
    let report = result?;
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Error::external(e.to_string()))?
        );
    } else {
        for t in &report.targets {
            match (&t.artifact, &t.sha256) {
                (Some(f), Some(h)) if t.status == crate::farm::TargetStatus::Ok => {
                    println!("{:<18} ok      {f}  sha256 {h}  ({:.0}s)", t.target, t.seconds)
                }
                _ => println!("{:<18} {:<7} {}", t.target, t.status, t.error.as_deref().unwrap_or("")),
            }
        }
        if report.targets.iter().any(|t| t.status == crate::farm::TargetStatus::Ok) {
            println!("manifest: {}", crate::manifest::Manifest::path(&report.out).display());
        }
    }
    match report.error() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

// ==================================================================== `images` (images helper)

/// Prepare the builder images of targets ahead of a build.
///
/// Each distro has one builder image, defined by `[builders.<name>]` in targets.toml and tagged
/// `valkey-release-builder/<name>:<digest of the definition>`. An image already on the engine is
/// reused; otherwise it is made with mmdebstrap (offline, from the host's apt mirror) or from
/// `builders/<name>/Dockerfile`. Prints one line per builder: name, tag, image ID, built/reused.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  valkey-release images                          # every builder that can be made here\n  \
valkey-release images --target bookworm-arm64  # the bookworm builder (arm64 cross-compiles on it)\n  \
valkey-release images --target jammy-x86_64 --force --json"
)]
pub struct ImagesArgs {
    #[command(flatten)]
    pub images: crate::farm::args::PrepareImagesArgs,
}

pub async fn run_images(g: &Global, a: ImagesArgs) -> Result<()> {
    crate::fsutil::check_dir_arg(&a.images.log_dir, "--log-dir", "where the image build logs are written")?;
    let matrix = g.matrix()?;
    let opts = a.images.into_options();
    let progress = crate::progress::Progress::new();
    // Ctrl-C drops the preparation: a running mmdebstrap is terminated and its temporary rootfs removed.
    let report = tokio::select! {
        r = crate::farm::image::prepare_images(&matrix, &opts, &progress) => r?,
        _ = crate::farm::signal::interrupted() => return Err(Error::Interrupted),
    };
    if g.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| Error::external(format!("serializing the report: {e}")))?;
        println!("{text}");
    } else {
        for i in &report.images {
            println!(
                "{:<10} {:<48} {} ({})",
                i.builder,
                i.tag,
                i.id,
                if i.reused { "reused" } else { "built" }
            );
        }
        for s in &report.skipped {
            println!("{:<10} skipped: {}", s.builder, s.reason);
        }
    }
    Ok(())
}
// ==================================================================== end of `images`
