//! Builder images: one per distro, defined by `[builders.<name>]` in targets.toml.
//!
//! Two methods:
//! - `mmdebstrap` (offline): `mmdebstrap --variant=apt --architectures=amd64,arm64 --include=...`
//!   writes a rootfs tarball from the host's apt mirror (or `mirror`, or a snapshot.debian.org
//!   timestamp), which is loaded through the Engine API as a one-layer image of its
//!   architecture (`POST /images/load`, see [`RootfsImage`]).
//! - `dockerfile`: `builders/<name>/Dockerfile` (and the files beside it) sent as a tar build
//!   context to `POST /build`. Its `FROM` image must be on the engine or pullable.
//!
//! Every image is tagged `valkey-release-builder/<name>:<digest>`, where the digest covers the
//! whole definition (method, suite, architectures, packages, components, mirror/snapshot, the
//! build-context bytes and [`DEFINITION_SCHEMA`]). An image whose tag is present is reused, so a
//! machine builds each definition once. A file lock in a private directory (`$XDG_RUNTIME_DIR` or `~/.cache`) makes two processes
//! (or two tasks) asking for the same image at once build it only once.

mod apt;
mod command;
mod definition;
mod engine;
mod lock;
mod rootfs;
#[cfg(test)]
mod tests;

pub use apt::{debian_mirror_from_apt, host_debian_mirror, mmdebstrap_args};
pub use command::{prepare_images, ImagesOptions, ImagesReport, SkippedImage};
pub use definition::{from_images, Definition, MirrorChoice};
pub use engine::ImageEngine;
pub use rootfs::RootfsImage;

use crate::error::{Error, Result};
use crate::progress::Item;
use crate::targets::{Arch, BuilderMethod, Matrix};
use definition::context_tar;
use lock::{lock_image, BuildLog, KillGroup};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Bumped whenever the way an image is made changes (so old tags are not reused).
pub const DEFINITION_SCHEMA: u32 = 2;
/// Repository part of every builder image tag.
pub const REPOSITORY_PREFIX: &str = "valkey-release-builder";
/// Label naming the builder on every builder image.
pub const LABEL_BUILDER: &str = "io.valkey.release.builder";
/// Label holding the definition digest.
pub const LABEL_DEFINITION: &str = "io.valkey.release.definition";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// The builder's name in targets.toml (`bookworm`).
    pub builder: String,
    /// `valkey-release-builder/<name>:<digest>`.
    pub tag: String,
    /// Image ID (`sha256:...`): goes into the manifest (`build.builder_image`).
    pub id: String,
    /// `mmdebstrap` or `dockerfile`.
    pub method: String,
    /// True when the image was already present and reused.
    pub reused: bool,
}

/// Options for [`ensure_image`].
#[derive(Debug, Clone, Default)]
pub struct ImageOptions {
    /// Rebuild even when an image with the tag is present.
    pub force: bool,
    /// Directory for `images-<builder>.log` (mmdebstrap / docker build output).
    /// `None`: a temporary log, whose last lines go into the error on failure.
    pub log_dir: Option<PathBuf>,
}

// ------------------------------------------------------------------ making images

/// Make sure the image of `builder` exists on `engine`, building it if needed, and return it.
///
/// Cached by tag: when present (and not `force`), the image is reused without building.
/// Concurrent callers for one image wait on a file lock; only one builds.
pub async fn ensure_image<E: ImageEngine>(
    engine: &E,
    matrix: &Matrix,
    builder: &str,
    opts: &ImageOptions,
    progress: &Item,
) -> Result<ImageInfo> {
    let def = Definition::load(matrix, builder)?;
    let tag = def.tag();
    let method = match def.method {
        BuilderMethod::Mmdebstrap => "mmdebstrap",
        BuilderMethod::Dockerfile => "dockerfile",
    }
    .to_string();
    let info = |id: String, reused: bool| ImageInfo {
        builder: builder.to_string(),
        tag: tag.clone(),
        id,
        method: method.clone(),
        reused,
    };
    if !opts.force {
        if let Some(id) = engine.image_id(&tag).await? {
            return Ok(info(id, true));
        }
    }
    let _lock = lock_image(&tag, progress).await?;
    if !opts.force {
        if let Some(id) = engine.image_id(&tag).await? {
            // Another process built it while we waited.
            return Ok(info(id, true));
        }
    }
    let log = BuildLog::open(opts, builder)?;
    let labels: BTreeMap<String, String> = [
        (LABEL_BUILDER.to_string(), builder.to_string()),
        (LABEL_DEFINITION.to_string(), def.digest()),
    ]
    .into_iter()
    .collect();
    match def.method {
        BuilderMethod::Mmdebstrap => build_mmdebstrap(engine, &def, &labels, &log, progress).await?,
        BuilderMethod::Dockerfile => build_dockerfile(engine, &def, &labels, opts.force, &log, progress).await?,
    }
    let id = engine
        .image_id(&tag)
        .await?
        .ok_or_else(|| Error::external(format!("builder {builder}: the engine does not show {tag} after building it")))?;
    Ok(info(id, false))
}

async fn build_mmdebstrap<E: ImageEngine>(
    engine: &E,
    def: &Definition,
    labels: &BTreeMap<String, String>,
    log: &BuildLog,
    progress: &Item,
) -> Result<()> {
    let name = &def.builder;
    let mirror = match def.mirror.clone().unwrap_or(MirrorChoice::Host) {
        MirrorChoice::Snapshot(u) | MirrorChoice::Configured(u) => u,
        MirrorChoice::Host => host_debian_mirror().map_err(|e| e.context(format!("builder {name}")))?,
    };
    check_can_run_foreign(def)?;
    let tmp = tempfile::Builder::new()
        .prefix("valkey-release-rootfs-")
        .tempdir()
        .map_err(|e| Error::external(format!("creating a temporary directory: {e}")))?;
    let out = tmp.path().join(format!("{name}.tar"));
    let args = mmdebstrap_args(def, &mirror, &out);
    log.append(&format!("$ mmdebstrap {}", args.join(" ")));
    progress.set(&format!("mmdebstrap {} from {mirror}{}", def.suite, log.shown()));
    let logf = std::fs::OpenOptions::new()
        .append(true)
        .open(&log.path)
        .map_err(|e| Error::io(&log.path, "open log", e))?;
    let logf2 = logf.try_clone().map_err(|e| Error::io(&log.path, "open log", e))?;
    let mut cmd = tokio::process::Command::new("mmdebstrap");
    cmd.args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(logf)
        .stderr(logf2)
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::external(format!(
                "builder {name}: mmdebstrap is not installed on this host (apt-get install mmdebstrap), or use method = \"dockerfile\""
            ))
        } else {
            Error::external(format!("builder {name}: cannot start mmdebstrap: {e}"))
        }
    })?;
    let mut guard = KillGroup(child.id().map(|p| p as i32));
    let status = child
        .wait()
        .await
        .map_err(|e| Error::external(format!("builder {name}: waiting for mmdebstrap: {e}")))?;
    guard.0 = None;
    if !status.success() {
        return Err(Error::external(format!(
            "builder {name}: mmdebstrap {} from {mirror} failed ({status}){}; last lines:\n{}",
            def.suite,
            log.shown(),
            log.tail(15)
        )));
    }
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    progress.set(&format!("loading rootfs ({} MB) as a {} image", size / 1_000_000, def.platform()));
    let img = RootfsImage {
        reference: def.tag(),
        arch: def.image_arch(),
        labels: labels.clone(),
        created_by: format!("valkey-release: mmdebstrap {} ({})", def.suite, def.architectures.join(",")),
    };
    engine
        .load_rootfs(&out, &img)
        .await
        .map_err(|e| e.context(format!("builder {name}")))?;
    log.append(&format!("loaded {} ({})", def.tag(), def.platform()));
    drop(tmp);
    Ok(())
}

/// The binfmt_misc entry through which this host runs binaries of `arch`, if it has one.
fn binfmt_entry(arch: Arch) -> &'static str {
    match arch {
        Arch::Arm64 => "/proc/sys/fs/binfmt_misc/qemu-aarch64",
        Arch::X86_64 => "/proc/sys/fs/binfmt_misc/qemu-x86_64",
    }
}

/// Can this host run binaries of `arch` (natively, or through an enabled qemu binfmt entry)?
pub fn host_can_run(arch: Arch) -> bool {
    Arch::host() == Some(arch)
        || std::fs::read_to_string(binfmt_entry(arch))
            .map(|s| s.lines().next() == Some("enabled"))
            .unwrap_or(false)
}

/// mmdebstrap of a foreign-architecture image runs the packages' scripts under qemu: say
/// plainly what is missing instead of letting it fail deep inside.
fn check_can_run_foreign(def: &Definition) -> Result<()> {
    let arch = def.image_arch();
    if host_can_run(arch) {
        return Ok(());
    }
    Err(Error::external(format!(
        "builder {}: its image is {} but this host is {} and has no enabled qemu binfmt entry ({}); \
         install qemu-user-static and binfmt-support (`.ci/setup` does), or prepare this image on an {} host",
        def.builder,
        arch.debian(),
        Arch::host().map(|a| a.debian()).unwrap_or("another architecture"),
        binfmt_entry(arch),
        arch.debian()
    )))
}

async fn build_dockerfile<E: ImageEngine>(
    engine: &E,
    def: &Definition,
    labels: &BTreeMap<String, String>,
    no_cache: bool,
    log: &BuildLog,
    progress: &Item,
) -> Result<()> {
    let name = &def.builder;
    let df = def.dockerfile.clone().unwrap_or_default();
    for base in def.base_images() {
        if engine.image_id(&base).await?.is_some() {
            continue;
        }
        progress.set(&format!("pulling base image {base}"));
        if let Err(e) = engine.pull(&base).await {
            return Err(Error::external(format!(
                "builder {name}: base image {base} (FROM in {df}) is not on the Docker engine and cannot be pulled: {e}. \
                 Load it with `docker load`, use a host that reaches the registry, or build this distro with method = \"mmdebstrap\""
            )));
        }
    }
    progress.set(&format!("docker build {df}{}", log.shown()));
    let context = context_tar(&def.context)?;
    let log_line = |l: &str| log.append(l);
    engine
        .build(context, &def.tag(), &def.platform(), labels.clone(), no_cache, &log_line)
        .await
        .map_err(|e| {
            Error::external(format!(
                "builder {name}: building {df} failed: {e}{}; last lines:\n{}",
                log.shown(),
                log.tail(15)
            ))
        })?;
    Ok(())
}
