//! `valkey-release build` and `valkey-release images` (arguments; the logic is in crate::build).

use super::Global;
use crate::error::{Error, Result};
use crate::version::Version;
use std::path::PathBuf;

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
  valkey-release build --version 8.1.1 --check-reproducible --target jammy-x86_64";

/// Build targets in Docker builder containers, check and package them.
#[derive(Debug, clap::Args)]
#[command(after_help = BUILD_AFTER, disable_version_flag = true)]
pub struct Args {
    /// The release version (M.m.p, M.m.p-rcN or unstable).
    #[arg(long, value_parser = super::parse_version)]
    pub version: Version,
    /// The source: a directory (git checkout or unpacked tree), a .tar.gz/.tar.xz archive, or an
    /// http(s) URL. Default: GitHub's tag archive of the version (the file valkey-hashes lists).
    #[arg(long, value_name = "DIR|ARCHIVE|URL")]
    pub source: Option<String>,
    /// Target to build, as <distro>-<arch> (repeatable). Default: every target of targets.toml.
    #[arg(long = "target", id = "target", value_name = "TARGET")]
    pub target: Vec<String>,
    /// Containers running at once (default: one per target, at most the number of cores).
    /// make's -j is set so all containers together use the machine's cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Output directory: tarballs, .sha256 files, SHA256SUMS, manifest.json, logs/.
    #[arg(long, default_value = "dist", value_name = "DIR")]
    pub out: PathBuf,
    /// Stop the other targets as soon as one fails.
    #[arg(long)]
    pub fail_fast: bool,
    /// Build a git checkout that has local changes (refused otherwise).
    #[arg(long)]
    pub allow_dirty: bool,
    /// Build every target twice in fresh containers and compare; name the files that differ.
    #[arg(long)]
    pub check_reproducible: bool,
    /// The commit the release must be built from (a dispatch's source_sha): a git checkout's HEAD
    /// must be it (exit 4 otherwise); for an archive or URL it is recorded in the manifest.
    #[arg(long, value_name = "COMMIT")]
    pub source_sha: Option<String>,
    /// Use this Docker image for every target instead of the targets' builder images.
    #[arg(long, value_name = "IMAGE")]
    pub builder_image: Option<String>,
    /// Allow a plain (unencrypted, unauthenticated) tcp:// engine on another host, for every
    /// target (per target: `insecure_engine = true` in targets.toml). Refused otherwise (exit 2).
    #[arg(long)]
    pub insecure_engine: bool,
}

pub async fn run(g: &Global, a: Args) -> Result<()> {
    crate::fsutil::check_dir_arg(
        &a.out,
        "--out",
        "the dist directory tarballs, manifest.json and logs/ are written into",
    )?;
    let matrix = g.matrix()?;
    let mut opts = crate::farm::BuildOptions::new(a.version);
    opts.source = a.source;
    opts.targets = a.target;
    opts.jobs = a.jobs.map(usize::from);
    opts.out = a.out;
    opts.fail_fast = a.fail_fast;
    opts.allow_dirty = a.allow_dirty;
    opts.check_reproducible = a.check_reproducible;
    opts.source_sha = a.source_sha;
    opts.builder_image = a.builder_image;
    opts.insecure_engine = a.insecure_engine;
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
    crate::fsutil::check_dir_arg(&a.log_dir, "--log-dir", "where the image build logs are written")?;
    let matrix = g.matrix()?;
    let opts = crate::farm::image::ImagesOptions {
        targets: a.targets,
        force: a.force,
        log_dir: Some(a.log_dir),
    };
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
