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
//! machine builds each definition once. A file lock in the temp directory makes two processes
//! (or two tasks) asking for the same image at once build it only once.

use crate::error::{Error, Result};
use crate::progress::{Item, Progress};
use crate::targets::{Arch, BuilderMethod, BuilderSpec, Matrix};
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use bollard::Docker;
use futures_util::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bumped whenever the way an image is made changes (so old tags are not reused).
pub const DEFINITION_SCHEMA: u32 = 2;
/// Repository part of every builder image tag.
pub const REPOSITORY_PREFIX: &str = "valkey-release-builder";
/// Label naming the builder on every builder image.
pub const LABEL_BUILDER: &str = "io.valkey.release.builder";
/// Label holding the definition digest.
pub const LABEL_DEFINITION: &str = "io.valkey.release.definition";

/// The Dockerfiles shipped in the repository, used when the built-in targets.toml is in use
/// and no `builders/` directory is in the current directory.
const EMBEDDED_CONTEXTS: &[(&str, &str)] = &[
    ("builders/jammy/Dockerfile", include_str!("../../builders/jammy/Dockerfile")),
    ("builders/noble/Dockerfile", include_str!("../../builders/noble/Dockerfile")),
];

/// Environment baked into mmdebstrap images.
const IMAGE_ENV: &[&str] = &["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"];

/// A one-layer image made from a rootfs tarball (mmdebstrap), loaded as a docker-archive
/// (`docker save` layout: `manifest.json`, an image config, one layer tar).
///
/// Loading rather than importing (`POST /images/create?fromSrc=-`) lets the config carry the
/// image's real architecture: Docker 20.10 imports everything as the engine's own arch, so an
/// arm64 rootfs imported on an amd64 engine would claim to be amd64. The config has a fixed
/// creation time, so the image ID depends only on the rootfs bytes and this definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsImage {
    /// `repo:tag`.
    pub reference: String,
    pub arch: Arch,
    pub labels: BTreeMap<String, String>,
    /// What made it (the history entry).
    pub created_by: String,
}

impl RootfsImage {
    /// The image config (JSON) for a layer whose uncompressed tar has sha256 `layer_sha`.
    pub fn config_json(&self, layer_sha: &str) -> Vec<u8> {
        let cfg = serde_json::json!({
            "architecture": self.arch.debian(),
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {
                "Env": IMAGE_ENV,
                "Cmd": ["/bin/bash"],
                "WorkingDir": "/",
                "Labels": self.labels,
            },
            "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_sha}")] },
            "history": [{ "created": "1970-01-01T00:00:00Z", "created_by": self.created_by }],
        });
        serde_json::to_vec(&cfg).unwrap_or_default()
    }

    /// The docker-archive around the layer: (tar header of `layer.tar`, everything after the
    /// layer's bytes: padding, config, `manifest.json`, end of archive).
    pub fn archive_parts(&self, layer_sha: &str, layer_size: u64) -> Result<(Vec<u8>, Vec<u8>)> {
        let bad = |e: std::io::Error| Error::external(format!("writing the image archive of {}: {e}", self.reference));
        let mut h = tar::Header::new_ustar();
        h.set_path("layer/layer.tar").map_err(bad)?;
        h.set_size(layer_size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let head = h.as_bytes().to_vec();

        let config = self.config_json(layer_sha);
        let config_name = format!("{}.json", hex::encode(Sha256::digest(&config)));
        let manifest = serde_json::to_vec(&serde_json::json!([{
            "Config": config_name,
            "RepoTags": [self.reference],
            "Layers": ["layer/layer.tar"],
        }]))
        .unwrap_or_default();
        let pad = (512 - (layer_size % 512) as usize) % 512;
        let mut b = tar::Builder::new(vec![0u8; pad]);
        for (name, data) in [(config_name.as_str(), &config), ("manifest.json", &manifest)] {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, data.as_slice()).map_err(bad)?;
        }
        let tail = b.into_inner().map_err(bad)?;
        Ok((head, tail))
    }
}

/// A prepared builder image.
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

// ------------------------------------------------------------------ engine seam

/// What image preparation needs from a Docker engine. Implemented for [`bollard::Docker`];
/// tests can use a fake.
pub trait ImageEngine: Sync {
    /// The image ID of `reference` if present on the engine.
    fn image_id(&self, reference: &str) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Load a rootfs tarball as the one-layer image `img` (`POST /images/load`).
    fn load_rootfs(&self, tarball: &Path, img: &RootfsImage) -> impl Future<Output = Result<()>> + Send;
    /// Pull `image` from its registry.
    fn pull(&self, image: &str) -> impl Future<Output = Result<()>> + Send;
    /// Build a tar build context holding `Dockerfile` as `tag` for `platform`; output lines go to `log`.
    fn build(
        &self,
        context: Vec<u8>,
        tag: &str,
        platform: &str,
        labels: BTreeMap<String, String>,
        no_cache: bool,
        log: &(dyn Fn(&str) + Send + Sync),
    ) -> impl Future<Output = Result<()>> + Send;
}

fn engine_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::external(format!("Docker engine: {what}: {e}"))
}

impl ImageEngine for Docker {
    async fn image_id(&self, reference: &str) -> Result<Option<String>> {
        match self.inspect_image(reference).await {
            Ok(i) => Ok(i.id),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(engine_err(&format!("inspect image {reference}"), e)),
        }
    }

    async fn load_rootfs(&self, tarball: &Path, img: &RootfsImage) -> Result<()> {
        let (layer_sha, layer_size) = {
            let t = tarball.to_path_buf();
            tokio::task::spawn_blocking(move || crate::fsutil::sha256_file(&t))
                .await
                .map_err(|e| Error::external(format!("hashing {}: {e}", tarball.display())))??
        };
        let (head, tail) = img.archive_parts(&layer_sha, layer_size)?;
        let file = tokio::fs::File::open(tarball)
            .await
            .map_err(|e| Error::io(tarball, "open rootfs tarball", e))?;
        let layer = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
        let body = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes::Bytes::from(head)) })
            .chain(layer)
            .chain(futures_util::stream::once(async move { Ok(bytes::Bytes::from(tail)) }));
        // Loading a large rootfs takes longer than the default request timeout.
        let docker = self.clone().with_timeout(std::time::Duration::from_secs(3600));
        let opts = bollard::query_parameters::ImportImageOptionsBuilder::default().quiet(true).build();
        let mut stream = docker.import_image_stream(opts, body, None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| engine_err(&format!("load {}", img.reference), e))?;
        }
        Ok(())
    }

    async fn pull(&self, image: &str) -> Result<()> {
        let (name, tag) = split_image_ref(image);
        let opts = CreateImageOptionsBuilder::default().from_image(&name).tag(&tag).build();
        let mut stream = self.create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| Error::external(e.to_string()))?;
        }
        Ok(())
    }

    async fn build(
        &self,
        context: Vec<u8>,
        tag: &str,
        platform: &str,
        labels: BTreeMap<String, String>,
        no_cache: bool,
        log: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<()> {
        let labels: std::collections::HashMap<String, String> = labels.into_iter().collect();
        let opts = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .platform(platform)
            .rm(true)
            .forcerm(true)
            .nocache(no_cache)
            .labels(&labels)
            .build();
        let docker = self.clone().with_timeout(std::time::Duration::from_secs(3600));
        let mut stream = docker.build_image(opts, None, Some(bollard::body_full(bytes::Bytes::from(context))));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| Error::external(e.to_string()))?;
            if let Some(s) = info.stream.as_deref() {
                for l in s.lines() {
                    log(l);
                }
            }
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                return Err(Error::external(err));
            }
        }
        Ok(())
    }
}

/// `ubuntu:jammy` -> (`ubuntu`, `jammy`); `reg:5000/x` -> (`reg:5000/x`, `latest`).
fn split_image_ref(image: &str) -> (String, String) {
    let image = image.split('@').next().unwrap_or(image);
    let last_slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[last_slash..].rfind(':') {
        Some(i) => (image[..last_slash + i].to_string(), image[last_slash + i + 1..].to_string()),
        None => (image.to_string(), "latest".to_string()),
    }
}

// ------------------------------------------------------------------ definitions

/// Where an mmdebstrap builder gets its packages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "url", rename_all = "lowercase")]
pub enum MirrorChoice {
    /// `snapshot = "<ts>"`: `http://snapshot.debian.org/archive/debian/<ts>` (reproducible).
    Snapshot(String),
    /// `mirror = "<url>"` in targets.toml.
    Configured(String),
    /// The host's apt configuration (resolved when the image is built).
    Host,
}

/// A builder's full definition; its digest names the image.
#[derive(Debug, Clone, Serialize)]
pub struct Definition {
    pub schema: u32,
    pub builder: String,
    pub method: BuilderMethod,
    pub suite: String,
    pub architectures: Vec<String>,
    pub packages: Vec<String>,
    pub components: Vec<String>,
    pub mirror: Option<MirrorChoice>,
    /// Dockerfile path as written in targets.toml.
    pub dockerfile: Option<String>,
    /// Build context files (relative name, sha256), for the dockerfile method.
    pub context_files: Vec<(String, String)>,
    #[serde(skip)]
    context: Vec<(String, Vec<u8>)>,
}

impl Definition {
    /// Read the definition of builder `name` (and, for a Dockerfile, its build context).
    pub fn load(matrix: &Matrix, name: &str) -> Result<Definition> {
        let spec = matrix.builders.get(name).ok_or_else(|| {
            let known: Vec<&String> = matrix.builders.keys().collect();
            Error::input(format!(
                "unknown builder {name:?} in {}; defined builders: {known:?}",
                matrix.path.display()
            ))
        })?;
        let mirror = match spec.method {
            BuilderMethod::Mmdebstrap => Some(mirror_choice(spec)),
            BuilderMethod::Dockerfile => None,
        };
        let context = match (&spec.method, &spec.dockerfile) {
            (BuilderMethod::Dockerfile, Some(df)) => load_context(matrix, name, df)?,
            (BuilderMethod::Dockerfile, None) => {
                return Err(Error::input(format!(
                    "{}: builders.{name}: method \"dockerfile\" needs `dockerfile = \"builders/{name}/Dockerfile\"`",
                    matrix.path.display()
                )))
            }
            _ => Vec::new(),
        };
        let context_files = context.iter().map(|(n, b)| (n.clone(), hex::encode(Sha256::digest(b)))).collect();
        Ok(Definition {
            schema: DEFINITION_SCHEMA,
            builder: name.to_string(),
            method: spec.method,
            suite: spec.suite.clone(),
            architectures: spec.architectures.clone(),
            packages: spec.packages.clone(),
            components: if spec.components.is_empty() {
                vec!["main".to_string()]
            } else {
                spec.components.clone()
            },
            mirror,
            dockerfile: spec.dockerfile.clone(),
            context_files,
            context,
        })
    }

    /// Hex sha256 of the definition (canonical JSON).
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&json))
    }

    /// The image's own architecture: the first of `architectures` (validated by targets.rs).
    pub fn image_arch(&self) -> Arch {
        self.architectures
            .first()
            .and_then(|a| Arch::from_debian(a))
            .unwrap_or(Arch::X86_64)
    }

    /// The Docker platform of the image, `linux/amd64` or `linux/arm64`.
    pub fn platform(&self) -> String {
        self.image_arch().platform()
    }

    /// `valkey-release-builder/<name>`.
    pub fn repository(&self) -> String {
        format!("{REPOSITORY_PREFIX}/{}", self.builder)
    }

    /// The tag part: the first 16 hex digits of the digest.
    pub fn tag_suffix(&self) -> String {
        self.digest()[..16].to_string()
    }

    /// `valkey-release-builder/<name>:<16 hex>`.
    pub fn tag(&self) -> String {
        format!("{}:{}", self.repository(), self.tag_suffix())
    }

    /// The `FROM` images of the Dockerfile (not stage names, not `scratch`).
    pub fn base_images(&self) -> Vec<String> {
        let Some((_, df)) = self.context.iter().find(|(n, _)| n == "Dockerfile") else {
            return Vec::new();
        };
        from_images(&String::from_utf8_lossy(df))
    }
}

fn mirror_choice(spec: &BuilderSpec) -> MirrorChoice {
    if let Some(ts) = spec.snapshot.as_deref().filter(|s| !s.trim().is_empty()) {
        MirrorChoice::Snapshot(format!("http://snapshot.debian.org/archive/debian/{}", ts.trim()))
    } else if let Some(m) = spec.mirror.as_deref().filter(|s| !s.trim().is_empty()) {
        MirrorChoice::Configured(m.trim().to_string())
    } else {
        MirrorChoice::Host
    }
}

/// The files of a Dockerfile's directory, as (name in the context, bytes), sorted.
fn load_context(matrix: &Matrix, name: &str, dockerfile: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let candidates: Vec<PathBuf> = match &matrix.base_dir {
        Some(b) => vec![b.join(dockerfile)],
        None => vec![PathBuf::from(dockerfile)],
    };
    for path in &candidates {
        if path.is_file() {
            let dir = path.parent().unwrap_or(Path::new("."));
            let mut files = Vec::new();
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, "read Dockerfile", e))?;
            files.push(("Dockerfile".to_string(), bytes));
            let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, "list build context", e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p != path)
                .collect();
            entries.sort();
            for p in entries {
                let n = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if n == "Dockerfile" || n.starts_with('.') {
                    continue;
                }
                let b = std::fs::read(&p).map_err(|e| Error::io(&p, "read build context file", e))?;
                files.push((n, b));
            }
            return Ok(files);
        }
    }
    if matrix.base_dir.is_none() {
        if let Some((_, text)) = EMBEDDED_CONTEXTS.iter().find(|(p, _)| *p == dockerfile) {
            return Ok(vec![("Dockerfile".to_string(), text.as_bytes().to_vec())]);
        }
    }
    Err(Error::input(format!(
        "builders.{name}.dockerfile: {} not found (paths are relative to the directory of {})",
        candidates.first().map(|p| p.display().to_string()).unwrap_or_default(),
        matrix.path.display()
    )))
}

/// Image names in `FROM` lines, skipping `scratch` and names of earlier stages.
pub fn from_images(dockerfile: &str) -> Vec<String> {
    let mut stages: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in dockerfile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first().map(|w| w.eq_ignore_ascii_case("FROM")) != Some(true) {
            continue;
        }
        let args: Vec<&str> = words[1..].iter().copied().filter(|w| !w.starts_with("--")).collect();
        let Some(image) = args.first() else { continue };
        if !image.eq_ignore_ascii_case("scratch")
            && !stages.iter().any(|s| s.eq_ignore_ascii_case(image))
            && !out.contains(&image.to_string())
        {
            out.push(image.to_string());
        }
        if args.len() >= 3 && args[1].eq_ignore_ascii_case("AS") {
            stages.push(args[2].to_string());
        }
    }
    out
}

/// A tar archive holding the build context files.
fn context_tar(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, bytes.as_slice())
            .map_err(|e| Error::external(format!("writing build context: {e}")))?;
    }
    b.into_inner().map_err(|e| Error::external(format!("writing build context: {e}")))
}

// ------------------------------------------------------------------ host apt configuration

/// The Debian archive URI of the host's apt configuration: deb822 `*.sources` files
/// (given as (name, text)) first, then one-line `sources.list` text. Security and
/// non-Debian (Ubuntu) URIs are skipped. `None` when none is found.
pub fn debian_mirror_from_apt(sources: &[(String, String)], list: Option<&str>) -> Option<String> {
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    for (_, text) in sources {
        for stanza in text.split("\n\n") {
            let mut types = String::new();
            let mut uris = String::new();
            let mut suites = String::new();
            let mut enabled = true;
            for line in stanza.lines() {
                if line.trim_start().starts_with('#') {
                    continue;
                }
                if let Some((k, v)) = line.split_once(':') {
                    match k.trim().to_ascii_lowercase().as_str() {
                        "types" => types = v.trim().to_string(),
                        "uris" => uris = v.trim().to_string(),
                        "suites" => suites = v.trim().to_string(),
                        "enabled" => enabled = !v.trim().eq_ignore_ascii_case("no"),
                        _ => {}
                    }
                }
            }
            if enabled && types.split_whitespace().any(|t| t == "deb") {
                for u in uris.split_whitespace() {
                    found.push((u.to_string(), suites.split_whitespace().map(String::from).collect()));
                }
            }
        }
    }
    if let Some(list) = list {
        for line in list.lines() {
            let line = line.trim();
            if !line.starts_with("deb ") && !line.starts_with("deb\t") {
                continue;
            }
            let mut words: Vec<&str> = line.split_whitespace().skip(1).collect();
            if words.first().map(|w| w.starts_with('[')) == Some(true) {
                while let Some(w) = words.first() {
                    let done = w.ends_with(']');
                    words.remove(0);
                    if done {
                        break;
                    }
                }
            }
            if let (Some(u), Some(s)) = (words.first(), words.get(1)) {
                found.push((u.to_string(), vec![s.to_string()]));
            }
        }
    }
    let usable = |u: &str, suites: &[String]| {
        let scheme_ok = u.starts_with("http://") || u.starts_with("https://") || u.starts_with("file:/");
        scheme_ok && !u.contains("security") && !u.contains("ubuntu") && !suites.iter().all(|s| s.ends_with("-security"))
    };
    found
        .iter()
        .find(|(u, s)| usable(u, s) && u.trim_end_matches('/').ends_with("/debian"))
        .or_else(|| found.iter().find(|(u, s)| usable(u, s)))
        .map(|(u, _)| u.trim_end_matches('/').to_string())
}

/// Read the host's apt configuration (`/etc/apt/sources.list.d/*.sources`, `/etc/apt/sources.list`
/// and `*.list`) and return its Debian archive URI.
pub fn host_debian_mirror() -> Result<String> {
    let dir = Path::new("/etc/apt/sources.list.d");
    let mut sources = Vec::new();
    let mut list = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.ends_with(".sources") {
                if let Ok(t) = std::fs::read_to_string(&p) {
                    sources.push((name, t));
                }
            } else if name.ends_with(".list") {
                if let Ok(t) = std::fs::read_to_string(&p) {
                    list.push('\n');
                    list.push_str(&t);
                }
            }
        }
    }
    debian_mirror_from_apt(&sources, Some(&list)).ok_or_else(|| {
        Error::input(
            "no Debian mirror found in the host's apt configuration (/etc/apt/sources.list.d/*.sources, /etc/apt/sources.list); \
             set `mirror = \"http://<debian mirror>/debian\"` or `snapshot` for the builder in targets.toml",
        )
    })
}

/// The mmdebstrap arguments for a definition, writing `out` from `mirror`.
pub fn mmdebstrap_args(def: &Definition, mirror: &str, out: &Path) -> Vec<String> {
    let mut a = vec![
        "--variant=apt".to_string(),
        "--format=tar".to_string(),
        format!("--architectures={}", def.architectures.join(",")),
        format!("--components={}", def.components.join(",")),
    ];
    if !def.packages.is_empty() {
        a.push(format!("--include={}", def.packages.join(",")));
    }
    if matches!(def.mirror, Some(MirrorChoice::Snapshot(_))) {
        // Snapshot Release files are past their Valid-Until date by design.
        a.push("--aptopt=Acquire::Check-Valid-Until \"false\"".to_string());
    }
    a.push(def.suite.clone());
    a.push(out.display().to_string());
    a.push(mirror.to_string());
    a
}

// ------------------------------------------------------------------ locking

/// An exclusive lock on a file in the temp directory, held while alive.
struct BuildLock {
    _file: std::fs::File,
}

async fn lock_image(tag: &str, progress: &Item) -> Result<BuildLock> {
    use std::os::unix::io::AsRawFd;
    let safe: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    let path = std::env::temp_dir().join(format!("valkey-release-image-{safe}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, "open image lock", e))?;
    // SAFETY: flock on a file descriptor we own; the lock is released when the file is closed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(BuildLock { _file: file });
    }
    progress.set("waiting for another process that is making this image");
    tokio::task::spawn_blocking(move || loop {
        // SAFETY: as above; blocking wait.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(BuildLock { _file: file });
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::io(&path, "lock", err));
        }
    })
    .await
    .map_err(|e| Error::external(format!("image lock task failed: {e}")))?
}

// ------------------------------------------------------------------ logs

/// A build log file (under `log_dir`, or temporary).
struct BuildLog {
    path: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl BuildLog {
    fn open(opts: &ImageOptions, builder: &str) -> Result<BuildLog> {
        let (dir, tmp) = match &opts.log_dir {
            Some(d) => {
                crate::fsutil::create_dir_all(d)?;
                (d.clone(), None)
            }
            None => {
                let t = tempfile::tempdir().map_err(|e| Error::external(format!("creating a temporary directory: {e}")))?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let path = dir.join(format!("images-{builder}.log"));
        std::fs::write(&path, b"").map_err(|e| Error::io(&path, "create log", e))?;
        Ok(BuildLog { path, _tmp: tmp })
    }

    fn append(&self, line: &str) {
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&self.path) {
            let _ = writeln!(f, "{line}");
        }
    }

    /// The last `n` lines, for error messages.
    fn tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Where the log is, for messages ("" when temporary).
    fn shown(&self) -> String {
        if self._tmp.is_some() {
            String::new()
        } else {
            format!(" (log: {})", self.path.display())
        }
    }
}

/// Terminates the process group of a child if dropped before it finished (Ctrl-C).
/// SIGTERM only: mmdebstrap then unmounts and removes its own chroot before exiting.
struct KillGroup(Option<i32>);
impl Drop for KillGroup {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            // SAFETY: signals our own child's process group.
            unsafe {
                libc::kill(-pid, libc::SIGTERM);
            }
        }
    }
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

// ------------------------------------------------------------------ the `images` command

/// Options of [`prepare_images`] (the `images` command).
#[derive(Debug, Clone, Default)]
pub struct ImagesOptions {
    /// Targets whose builders to prepare; empty = all targets.
    pub targets: Vec<String>,
    /// Rebuild even when present.
    pub force: bool,
    /// Directory for `images-<builder>.log`.
    pub log_dir: Option<PathBuf>,
}

/// A builder that was not prepared because its method cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedImage {
    pub builder: String,
    pub reason: String,
}

/// Result of [`prepare_images`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImagesReport {
    pub images: Vec<ImageInfo>,
    /// Only when no targets were named: builders whose method cannot run here, with why.
    pub skipped: Vec<SkippedImage>,
}

/// Prepare the builder images of the chosen targets, each on its target's engine.
///
/// With named targets every failure is an error. With none (all targets), builders that
/// cannot be made here (no mmdebstrap; a Dockerfile base image neither present nor
/// pullable) are reported in `skipped` and the others are still prepared.
pub async fn prepare_images(matrix: &Matrix, opts: &ImagesOptions, progress: &Progress) -> Result<ImagesReport> {
    let targets = if opts.targets.is_empty() {
        matrix.targets.iter().collect::<Vec<_>>()
    } else {
        opts.targets.iter().map(|t| matrix.target(t)).collect::<Result<Vec<_>>>()?
    };
    // (builder, engine) pairs, in target order, without duplicates.
    let mut wanted: Vec<(String, Option<String>)> = Vec::new();
    for t in targets {
        let key = (t.builder.clone(), t.engine.clone());
        if !wanted.contains(&key) {
            wanted.push(key);
        }
    }
    let explicit = !opts.targets.is_empty();
    let mut report = ImagesReport::default();
    let mut engines: BTreeMap<Option<String>, Docker> = BTreeMap::new();
    let iopts = ImageOptions {
        force: opts.force,
        log_dir: opts.log_dir.clone(),
    };
    for (builder, engine) in wanted {
        let docker = match engines.get(&engine) {
            Some(d) => d.clone(),
            None => {
                let d = super::engine::connect(engine.as_deref()).await?;
                engines.insert(engine.clone(), d.clone());
                d
            }
        };
        let item = progress.spinner(&format!("image {builder}"));
        item.set("checking");
        match ensure_image(&docker, matrix, &builder, &iopts, &item).await {
            Ok(info) => {
                item.finish(&format!(
                    "{} {} {}",
                    if info.reused { "reused" } else { "built" },
                    info.tag,
                    info.id
                ));
                report.images.push(info);
            }
            Err(e) if !explicit && matches!(e, Error::External(_)) && cannot_run_here(matrix, &builder, &e) => {
                item.finish(&format!("skipped: {e}"));
                report.skipped.push(SkippedImage {
                    builder,
                    reason: e.to_string(),
                });
            }
            Err(e) => {
                item.finish("failed");
                return Err(e);
            }
        }
    }
    Ok(report)
}

/// Is this failure "the method cannot run on this host" (rather than a real build failure)?
fn cannot_run_here(matrix: &Matrix, builder: &str, e: &Error) -> bool {
    let m = e.to_string();
    match matrix.builders.get(builder).map(|b| b.method) {
        Some(BuilderMethod::Dockerfile) => m.contains("cannot be pulled"),
        Some(BuilderMethod::Mmdebstrap) => m.contains("mmdebstrap is not installed"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix() -> Matrix {
        Matrix::parse(crate::targets::EMBEDDED, Path::new("<embedded>"), None).unwrap()
    }

    #[test]
    fn tag_is_stable_and_depends_on_definition() {
        let m = matrix();
        let a = Definition::load(&m, "bookworm").unwrap();
        let b = Definition::load(&m, "bookworm").unwrap();
        assert_eq!(a.tag(), b.tag());
        assert!(a.tag().starts_with("valkey-release-builder/bookworm:"));
        assert_eq!(a.tag_suffix().len(), 16);
        let mut m2 = m.clone();
        m2.builders.get_mut("bookworm").unwrap().packages.push("vim".into());
        assert_ne!(Definition::load(&m2, "bookworm").unwrap().tag(), a.tag());
        let mut m3 = m.clone();
        m3.builders.get_mut("bookworm").unwrap().snapshot = Some("20250520T000000Z".into());
        let d3 = Definition::load(&m3, "bookworm").unwrap();
        assert_ne!(d3.tag(), a.tag());
        assert_eq!(
            d3.mirror,
            Some(MirrorChoice::Snapshot(
                "http://snapshot.debian.org/archive/debian/20250520T000000Z".into()
            ))
        );
    }

    #[test]
    fn embedded_dockerfiles_are_found() {
        let m = matrix();
        let d = Definition::load(&m, "jammy").unwrap();
        assert_eq!(d.base_images(), vec!["ubuntu:jammy".to_string()]);
        assert_eq!(
            Definition::load(&m, "noble").unwrap().base_images(),
            vec!["ubuntu:noble".to_string()]
        );
    }

    #[test]
    fn unknown_builder_is_input_error() {
        let e = Definition::load(&matrix(), "nope").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("bookworm"));
    }

    #[test]
    fn from_lines() {
        let df = "# x\nFROM --platform=linux/amd64 debian:bookworm AS base\nRUN true\nFROM base\nFROM scratch\nfrom ubuntu:noble\n";
        assert_eq!(from_images(df), vec!["debian:bookworm".to_string(), "ubuntu:noble".to_string()]);
    }

    #[test]
    fn image_refs() {
        assert_eq!(split_image_ref("ubuntu:jammy"), ("ubuntu".into(), "jammy".into()));
        assert_eq!(split_image_ref("reg:5000/a/b"), ("reg:5000/a/b".into(), "latest".into()));
        assert_eq!(split_image_ref("reg:5000/a/b:1"), ("reg:5000/a/b".into(), "1".into()));
    }

    #[test]
    fn apt_deb822_and_list() {
        let deb822 = "Types: deb\n# comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
                      Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n";
        assert_eq!(
            debian_mirror_from_apt(&[("debian.sources".into(), deb822.into())], None).as_deref(),
            Some("http://mirror.example/debian")
        );
        let disabled = "Types: deb\nURIs: http://a.example/debian\nSuites: bookworm\nEnabled: no\n";
        assert_eq!(debian_mirror_from_apt(&[("x.sources".into(), disabled.into())], None), None);
        let list = "# x\ndeb [arch=amd64 signed-by=/k.gpg] http://b.example/debian/ bookworm main\ndeb http://security.example/debian-security bookworm-security main\n";
        assert_eq!(debian_mirror_from_apt(&[], Some(list)).as_deref(), Some("http://b.example/debian"));
        assert_eq!(
            debian_mirror_from_apt(&[], Some("deb http://archive.ubuntu.com/ubuntu jammy main\n")),
            None
        );
    }

    #[test]
    fn mmdebstrap_command_line() {
        let m = matrix();
        let d = Definition::load(&m, "bookworm").unwrap();
        let a = mmdebstrap_args(&d, "http://m.example/debian", Path::new("/tmp/x.tar"));
        assert!(a.contains(&"--variant=apt".to_string()));
        assert!(a.contains(&"--architectures=amd64,arm64".to_string()));
        assert!(a.iter().any(|x| x.starts_with("--include=") && x.contains("libssl-dev:arm64")));
        assert_eq!(
            &a[a.len() - 3..],
            &[
                "bookworm".to_string(),
                "/tmp/x.tar".to_string(),
                "http://m.example/debian".to_string()
            ]
        );
        assert!(!a.iter().any(|x| x.contains("Check-Valid-Until")));
    }

    /// A fake engine: records builds, serves image IDs.
    #[derive(Default)]
    struct Fake {
        images: std::sync::Mutex<BTreeMap<String, String>>,
        builds: std::sync::Mutex<Vec<String>>,
    }
    impl ImageEngine for Fake {
        async fn image_id(&self, r: &str) -> Result<Option<String>> {
            Ok(self.images.lock().unwrap().get(r).cloned())
        }
        async fn load_rootfs(&self, _: &Path, img: &RootfsImage) -> Result<()> {
            self.images.lock().unwrap().insert(img.reference.clone(), "sha256:imported".into());
            Ok(())
        }
        async fn pull(&self, image: &str) -> Result<()> {
            Err(Error::external(format!("no registry for {image}")))
        }
        async fn build(
            &self,
            ctx: Vec<u8>,
            tag: &str,
            _: &str,
            _: BTreeMap<String, String>,
            _: bool,
            log: &(dyn Fn(&str) + Send + Sync),
        ) -> Result<()> {
            assert!(!ctx.is_empty());
            log("Step 1/2");
            self.builds.lock().unwrap().push(tag.to_string());
            self.images.lock().unwrap().insert(tag.to_string(), "sha256:built".into());
            Ok(())
        }
    }

    #[tokio::test]
    async fn present_image_is_reused_without_building() {
        let m = matrix();
        let fake = Fake::default();
        let tag = Definition::load(&m, "bookworm").unwrap().tag();
        fake.images.lock().unwrap().insert(tag.clone(), "sha256:abc".into());
        let p = Progress::plain().spinner("t");
        let i = ensure_image(&fake, &m, "bookworm", &ImageOptions::default(), &p).await.unwrap();
        assert_eq!(
            i,
            ImageInfo {
                builder: "bookworm".into(),
                tag,
                id: "sha256:abc".into(),
                method: "mmdebstrap".into(),
                reused: true
            }
        );
    }

    #[tokio::test]
    async fn dockerfile_with_missing_base_names_it() {
        let m = matrix();
        let fake = Fake::default();
        let p = Progress::plain().spinner("t");
        let e = ensure_image(&fake, &m, "jammy", &ImageOptions::default(), &p).await.unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.exit_code(), 3);
        assert!(
            msg.contains("ubuntu:jammy") && msg.contains("cannot be pulled") && msg.contains("no registry"),
            "{msg}"
        );
        assert!(cannot_run_here(&m, "jammy", &e));
    }

    #[tokio::test]
    async fn dockerfile_builds_when_base_present_then_reuses() {
        let m = matrix();
        let fake = Fake::default();
        fake.images.lock().unwrap().insert("ubuntu:noble".into(), "sha256:base".into());
        let p = Progress::plain().spinner("t");
        let i = ensure_image(&fake, &m, "noble", &ImageOptions::default(), &p).await.unwrap();
        assert!(!i.reused);
        assert_eq!(i.id, "sha256:built");
        let j = ensure_image(&fake, &m, "noble", &ImageOptions::default(), &p).await.unwrap();
        assert!(j.reused);
        assert_eq!(fake.builds.lock().unwrap().len(), 1);
        let k = ensure_image(
            &fake,
            &m,
            "noble",
            &ImageOptions {
                force: true,
                log_dir: None,
            },
            &p,
        )
        .await
        .unwrap();
        assert!(!k.reused);
        assert_eq!(fake.builds.lock().unwrap().len(), 2);
    }
}
