//! The flags of `build` and `images` (flattened into the CLI's arguments) and the options they
//! ask for.

use super::BuildOptions;
use crate::version::Version;
use std::path::PathBuf;

/// The flags of `build`.
#[derive(Debug, Clone, clap::Args)]
pub struct BuildArgs {
    /// The release version (M.m.p, M.m.p-rcN or unstable).
    #[arg(long, value_parser = crate::cli::parse_version)]
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
    /// Make no packages: skip the post-build hooks that build .deb and .rpm files (the tarball,
    /// its checksum and the SBOM facts are made as usual).
    #[arg(long, conflicts_with = "no_hooks")]
    pub no_packages: bool,
    /// Run no post-build hooks: only the tarball and its checksum (no .deb/.rpm, no SBOM facts,
    /// no modules API doc), e.g. to time the build alone. Such a dist cannot get SBOMs later.
    #[arg(long)]
    pub no_hooks: bool,
}

impl BuildArgs {
    /// The options these flags ask for (hooks: the registered ones, less what `--no-packages` or
    /// `--no-hooks` leave out).
    pub fn into_options(self) -> BuildOptions {
        let mut opts = BuildOptions::new(self.version);
        opts.source = self.source;
        opts.targets = self.target;
        opts.jobs = self.jobs.map(usize::from);
        opts.out = self.out;
        opts.fail_fast = self.fail_fast;
        opts.allow_dirty = self.allow_dirty;
        opts.check_reproducible = self.check_reproducible;
        opts.source_sha = self.source_sha;
        opts.builder_image = self.builder_image;
        opts.insecure_engine = self.insecure_engine;
        if self.no_hooks {
            opts.hooks = super::hooks::Hooks::none();
        } else if self.no_packages {
            opts.hooks = opts.hooks.without_packages();
        }
        opts
    }
}

/// The flags of `images`.
#[derive(Debug, Clone, clap::Args)]
pub struct PrepareImagesArgs {
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

impl PrepareImagesArgs {
    /// The options these flags ask for.
    pub fn into_options(self) -> crate::farm::image::ImagesOptions {
        crate::farm::image::ImagesOptions {
            targets: self.targets,
            force: self.force,
            log_dir: Some(self.log_dir),
        }
    }
}
