//! A builder's definition (targets.toml + build context) and the image tag it names.

use super::{DEFINITION_SCHEMA, REPOSITORY_PREFIX};
use crate::error::{Error, Result};
use crate::targets::{Arch, BuilderMethod, BuilderSpec, Matrix};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The Dockerfiles shipped in the repository, used when the built-in targets.toml is in use
/// and no `builders/` directory is in the current directory.
const EMBEDDED_CONTEXTS: &[(&str, &str)] = &[
    ("builders/jammy/Dockerfile", include_str!("../../../builders/jammy/Dockerfile")),
    ("builders/noble/Dockerfile", include_str!("../../../builders/noble/Dockerfile")),
    ("builders/el8/Dockerfile", include_str!("../../../builders/el8/Dockerfile")),
    ("builders/el9/Dockerfile", include_str!("../../../builders/el9/Dockerfile")),
    ("builders/el10/Dockerfile", include_str!("../../../builders/el10/Dockerfile")),
    ("builders/rocky8/Dockerfile", include_str!("../../../builders/rocky8/Dockerfile")),
    ("builders/rocky9/Dockerfile", include_str!("../../../builders/rocky9/Dockerfile")),
    ("builders/rocky10/Dockerfile", include_str!("../../../builders/rocky10/Dockerfile")),
    ("builders/alma8/Dockerfile", include_str!("../../../builders/alma8/Dockerfile")),
    ("builders/alma9/Dockerfile", include_str!("../../../builders/alma9/Dockerfile")),
    ("builders/alma10/Dockerfile", include_str!("../../../builders/alma10/Dockerfile")),
    (
        "builders/amzn2023/Dockerfile",
        include_str!("../../../builders/amzn2023/Dockerfile"),
    ),
    (
        "builders/fedora39/Dockerfile",
        include_str!("../../../builders/fedora39/Dockerfile"),
    ),
    (
        "builders/fedora40/Dockerfile",
        include_str!("../../../builders/fedora40/Dockerfile"),
    ),
    (
        "builders/fedora41/Dockerfile",
        include_str!("../../../builders/fedora41/Dockerfile"),
    ),
    (
        "builders/opensuse15.5/Dockerfile",
        include_str!("../../../builders/opensuse15.5/Dockerfile"),
    ),
    (
        "builders/opensuse15.6/Dockerfile",
        include_str!("../../../builders/opensuse15.6/Dockerfile"),
    ),
];

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
    pub(super) context: Vec<(String, Vec<u8>)>,
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
pub(super) fn context_tar(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
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
