//! `dist/manifest.json`: the contract between the stages.
//!
//! `package` and `build` write it; `upload`, `verify`, `publish` and `release`
//! read it. Adding one target's artifact to an existing dist/ replaces that
//! target's entry and rewrites `SHA256SUMS`, so targets built on different
//! machines can be merged. Field reference: README.md, "manifest.json".

use crate::error::{Error, Result};
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name of the manifest inside a dist directory.
pub const MANIFEST: &str = "manifest.json";
/// File name of the release checksum list inside a dist directory.
pub const SHA256SUMS: &str = "SHA256SUMS";
/// Current schema number.
pub const SCHEMA: u32 = 1;

/// The tool that wrote a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

impl Default for ToolInfo {
    fn default() -> Self {
        ToolInfo {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// Where the release's source came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SourceInfo {
    /// File or directory name (`valkey-8.1.1.tar.gz`, `valkey`).
    pub name: String,
    /// `archive`, `git`, `directory`, `url`, or `unknown` when `package` was given a build tree.
    pub kind: String,
    /// URL it was downloaded from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// sha256 of the archive (for GitHub's tag archive: the digest valkey-hashes publishes);
    /// for a directory, a digest of its sorted file list and contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Commit of a git checkout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// The `source_sha` a dispatch asked for, recorded as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_sha: Option<String>,
}

/// One file inside an artifact tarball.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path inside the tarball, e.g. `valkey-8.1.1-jammy-x86_64/bin/valkey-server`.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// Octal mode string (`0755`, `0644`).
    pub mode: String,
    /// For a file stored as a hard link: the path it links to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_to: Option<String>,
}

/// Facts about how an artifact was built, checked before packaging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BuildInfo {
    /// Image ID of the builder image.
    pub builder_image: String,
    /// Builder image tag (digest of its definition).
    #[serde(default)]
    pub builder_tag: String,
    /// `cross` (cross toolchain on a builder of another arch), `native` (image of the target's
    /// arch on an engine of that arch) or `emulated` (image of the target's arch run through
    /// qemu binfmt on an engine of another arch).
    pub mode: String,
    /// The architecture the engine reported (`x86_64`, `aarch64`); empty in older manifests.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub engine_arch: String,
    /// ELF machine of the binaries (`x86_64`, `aarch64`).
    pub elf_machine: String,
    /// The newest GLIBC_x.y version the binaries need, e.g. `2.34`.
    pub glibc_required: String,
    /// The target distro's glibc (limit), from targets.toml.
    pub glibc_limit: String,
    /// Shared libraries the binaries need (DT_NEEDED), sorted.
    pub needed_libs: Vec<String>,
    /// What `valkey-server --version` printed.
    pub reported_version: String,
    /// The make command line that was run.
    #[serde(default)]
    pub make_command: Vec<String>,
    /// Seconds the build took.
    #[serde(default)]
    pub seconds: f64,
    /// What the farm pinned so the build does not depend on the build host (e.g.
    /// `JEMALLOC_CONFIGURE_OPTS=--with-lg-vaddr=48`, the source commit for `src/mkreleasehdr.sh`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pinned: Vec<String>,
    /// The commit the source is (a git checkout's HEAD, the `source_sha` given, or the commit id
    /// GitHub's tag archives carry in their pax global header); the binaries report its first 8
    /// hex digits (`valkey-server --version`: `sha=<8 hex>:0`), which the build checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
}

/// One release artifact: a tarball, or a file of another kind (see [`crate::artifact`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// `<distro>-<arch>`.
    pub target: String,
    /// The artifact kind (`tarball`; absent in older manifests, which means `tarball`).
    #[serde(default = "default_kind")]
    pub kind: String,
    /// For a file derived from another artifact (an SBOM, a signature): that artifact's `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub describes: Option<String>,
    pub distro: String,
    pub arch: String,
    /// File name, relative to the dist directory (a plain name).
    pub file: String,
    pub size: u64,
    pub sha256: String,
    /// The `.sha256` file beside it: always `file` + `.sha256`.
    #[serde(default)]
    pub checksum_file: String,
    /// Files inside the tarball, in archive order (empty for kinds that are not archives).
    #[serde(default)]
    pub files: Vec<FileEntry>,
    /// Present when the artifact came from `build` (absent for `package` of a given tree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildInfo>,
}

fn default_kind() -> String {
    crate::artifact::DEFAULT_KIND.to_string()
}

/// The release manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    pub tool: ToolInfo,
    /// Release version (validated).
    pub version: String,
    pub source_date_epoch: i64,
    pub source: SourceInfo,
    /// Sorted by file name.
    pub artifacts: Vec<Artifact>,
}

/// Why two manifests are not of the same release: the first field that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub field: &'static str,
    /// The value in the manifest `compatible` was called on.
    pub ours: String,
    /// The value in the other one.
    pub theirs: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} vs {}", self.field, self.ours, self.theirs)
    }
}

impl Manifest {
    /// A new, empty manifest.
    pub fn new(version: &str, source_date_epoch: i64, source: SourceInfo) -> Manifest {
        Manifest {
            schema: SCHEMA,
            tool: ToolInfo::default(),
            version: version.to_string(),
            source_date_epoch,
            source,
            artifacts: Vec::new(),
        }
    }

    /// Path of the manifest in `dist`.
    pub fn path(dist: &Path) -> PathBuf {
        dist.join(MANIFEST)
    }

    /// Read `dist/manifest.json`; errors name the file and the field.
    pub fn load(dist: &Path) -> Result<Manifest> {
        let p = Manifest::path(dist);
        Manifest::load_file(&p)
    }

    /// Read a manifest file and validate all of it ([`Manifest::validate`]). A missing file,
    /// a directory, unreadable or malformed bytes are input errors (exit 2) naming the file.
    pub fn load_file(p: &Path) -> Result<Manifest> {
        let text = fsutil::read_input_text(p, "manifest")?;
        Manifest::parse(&text, &p.display().to_string())
    }

    /// Parse and validate manifest text; `name` (the file) is named in errors.
    pub fn parse(text: &str, name: &str) -> Result<Manifest> {
        let mut m: Manifest =
            serde_json::from_str(text).map_err(|e| Error::input(format!("{name}:{}:{}: invalid manifest: {e}", e.line(), e.column())))?;
        for a in &mut m.artifacts {
            if a.checksum_file.is_empty() {
                a.checksum_file = format!("{}.sha256", a.file);
            }
        }
        m.validate(name)?;
        Ok(m)
    }

    /// Check everything a stage relies on (exit 2 naming the manifest, artifact and field):
    /// the schema, the version, every name plain (`target`, `distro`, `arch`, `file`,
    /// `checksum_file`, `describes`: no `/`, no `..`, not absolute), `checksum_file` equal to
    /// `file` + `.sha256`, `sha256` 64 hex digits, the kind known and its own checks passed,
    /// no file listed twice.
    pub fn validate(&self, name: &str) -> Result<()> {
        if self.schema != SCHEMA {
            return Err(Error::input(format!(
                "{name}: schema {} is not supported (this tool reads schema {SCHEMA})",
                self.schema
            )));
        }
        crate::version::Version::parse(&self.version).map_err(|e| e.context(format!("{name}: field \"version\"")))?;
        let mut files = std::collections::BTreeSet::new();
        for (i, a) in self.artifacts.iter().enumerate() {
            let at = |field: &str| format!("{name}: artifacts[{i}] field \"{field}\"");
            fsutil::check_plain_name(&a.target, at("target"))?;
            fsutil::check_plain_name(&a.distro, at("distro"))?;
            fsutil::check_plain_name(&a.arch, at("arch"))?;
            fsutil::check_plain_name(&a.file, at("file"))?;
            fsutil::check_plain_name(&a.checksum_file, at("checksum_file"))?;
            if a.checksum_file != format!("{}.sha256", a.file) {
                return Err(Error::input(format!(
                    "{}: {:?} must be the file name plus \".sha256\": {:?}",
                    at("checksum_file"),
                    a.checksum_file,
                    format!("{}.sha256", a.file)
                )));
            }
            if let Some(d) = &a.describes {
                fsutil::check_plain_name(d, at("describes"))?;
            }
            if !fsutil::is_sha256_hex(&a.sha256) {
                return Err(Error::input(format!("{}: {:?} is not 64 hex digits", at("sha256"), a.sha256)));
            }
            let kind = crate::artifact::kind(&a.kind).ok_or_else(|| {
                Error::input(format!(
                    "{}: unknown kind {:?}; known kinds: {}",
                    at("kind"),
                    a.kind,
                    crate::artifact::kind_names().join(", ")
                ))
            })?;
            kind.check(a).map_err(|why| Error::input(format!("{}: {why}", at("file"))))?;
            if !files.insert(a.file.as_str()) {
                return Err(Error::input(format!("{}: {:?} is listed twice", at("file"), a.file)));
            }
        }
        Ok(())
    }

    /// With the release matrix at hand: every artifact's `target` must be one of its targets.
    pub fn check_targets(&self, matrix: &crate::targets::Matrix, name: &str) -> Result<()> {
        for (i, a) in self.artifacts.iter().enumerate() {
            if matrix.targets.iter().all(|t| t.name != a.target) {
                let names: Vec<&str> = matrix.targets.iter().map(|t| t.name.as_str()).collect();
                return Err(Error::input(format!(
                    "{name}: artifacts[{i}] field \"target\": {:?} is not a target of {} ({})",
                    a.target,
                    matrix.path.display(),
                    names.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Is this the manifest of release `version`? (Where another release is no error, only
    /// not used: [`Manifest::check_release`] is the error.)
    pub fn is_release(&self, version: &str) -> bool {
        self.version == version
    }

    /// Is this the manifest of release `version`? The one check (and wording) of every stage
    /// that reads a manifest for a given release: exit 2 naming `name` and both versions.
    pub fn check_release(&self, version: &str, name: impl std::fmt::Display) -> Result<()> {
        if self.is_release(version) {
            Ok(())
        } else {
            Err(Error::input(format!(
                "{name}: is the manifest of release {}, not of {version}",
                self.version
            )))
        }
    }

    /// Read `dist/manifest.json` if present.
    pub fn load_if_present(dist: &Path) -> Result<Option<Manifest>> {
        if Manifest::path(dist).exists() {
            Manifest::load(dist).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Is `other` a manifest of the same release (version, source, SOURCE_DATE_EPOCH)?
    /// Returns a message naming the first field that differs.
    pub fn compatible(&self, other: &Manifest) -> std::result::Result<(), Mismatch> {
        let differ = |field: &'static str, a: &str, b: &str| Mismatch {
            field,
            ours: a.to_string(),
            theirs: b.to_string(),
        };
        if self.version != other.version {
            return Err(differ("version", &self.version, &other.version));
        }
        if self.source_date_epoch != other.source_date_epoch {
            return Err(differ(
                "source_date_epoch",
                &self.source_date_epoch.to_string(),
                &other.source_date_epoch.to_string(),
            ));
        }
        let known = [
            ("source sha256", &self.source.sha256, &other.source.sha256, true),
            ("source git_commit", &self.source.git_commit, &other.source.git_commit, false),
            ("source source_sha", &self.source.source_sha, &other.source.source_sha, false),
        ];
        for (field, a, b, any_case) in known {
            if let (Some(a), Some(b)) = (a, b) {
                if if any_case { !a.eq_ignore_ascii_case(b) } else { a != b } {
                    return Err(differ(field, a, b));
                }
            }
        }
        Ok(())
    }

    /// Add an artifact, replacing one of the same file name and, for a kind with one artifact
    /// per target, the one of the same kind, target and `describes`; artifacts stay sorted by
    /// file name.
    pub fn upsert(&mut self, a: Artifact) {
        let per_target = crate::artifact::kind(&a.kind).is_none_or(|k| k.one_per_target());
        self.artifacts
            .retain(|x| x.file != a.file && !(per_target && x.kind == a.kind && x.target == a.target && x.describes == a.describes));
        self.artifacts.push(a);
        self.artifacts.sort_by(|x, y| x.file.cmp(&y.file));
    }

    /// The `SHA256SUMS` text: `<hex>  <file>\n` per artifact, sorted by name.
    pub fn sha256sums(&self) -> String {
        let mut lines: Vec<(&str, &str)> = self.artifacts.iter().map(|a| (a.file.as_str(), a.sha256.as_str())).collect();
        lines.sort();
        lines.iter().map(|(f, h)| format!("{h}  {f}\n")).collect()
    }

    /// Write `manifest.json` and `SHA256SUMS` into `dist`, each atomically.
    pub fn save(&self, dist: &Path) -> Result<()> {
        let mut json = serde_json::to_string_pretty(self).map_err(|e| Error::external(format!("serializing manifest: {e}")))?;
        json.push('\n');
        fsutil::write_atomic(&dist.join(SHA256SUMS), self.sha256sums().as_bytes())?;
        fsutil::write_atomic(&Manifest::path(dist), json.as_bytes())?;
        Ok(())
    }

    /// Find the tarball of a target.
    pub fn artifact(&self, target: &str) -> Option<&Artifact> {
        self.artifacts
            .iter()
            .find(|a| a.target == target && a.kind == crate::artifact::DEFAULT_KIND)
    }

    /// Would [`Manifest::upsert`] of `a` replace an artifact?
    pub fn replaces(&self, a: &Artifact) -> bool {
        let per_target = crate::artifact::kind(&a.kind).is_none_or(|k| k.one_per_target());
        self.artifacts
            .iter()
            .any(|x| x.file == a.file || (per_target && x.kind == a.kind && x.target == a.target && x.describes == a.describes))
    }
}

/// The `.sha256` file text for a file, as `sha256sum` prints it.
pub fn checksum_line(hex: &str, file_name: &str) -> String {
    format!("{hex}  {file_name}\n")
}
