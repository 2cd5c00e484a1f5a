//! `targets.toml`: the release matrix as data.
//!
//! The file says how artifacts are named, what goes in them, how to call make
//! (with version-dependent flags), which builder image each distro uses and,
//! per target, whether it is cross-compiled and with which tools. It is loaded
//! and validated here; every error names the file, line and column.

mod check;

use check::parse_major_minor;
pub use check::{is_inner_path, line_col};

use crate::error::{Error, Result};
use crate::version::Version;
use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `targets.toml` shipped with the tool, used when no file is given and
/// none is in the current directory.
pub const EMBEDDED: &str = include_str!("../targets.toml");

/// An architecture as it appears in artifact names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Arch {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl Arch {
    /// The name used in artifact names (`x86_64`, `arm64`).
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
    /// Debian/Docker architecture name (`amd64`, `arm64`).
    pub fn debian(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
    /// Docker platform string (`linux/amd64`).
    pub fn platform(self) -> String {
        format!("linux/{}", self.debian())
    }
    /// From a Debian/Docker architecture name (`amd64`, `arm64`).
    pub fn from_debian(name: &str) -> Option<Arch> {
        match name {
            "amd64" => Some(Arch::X86_64),
            "arm64" => Some(Arch::Arm64),
            _ => None,
        }
    }
    /// From the architecture a Docker engine reports (`x86_64`, `aarch64`) or a Debian name.
    pub fn from_engine(name: &str) -> Option<Arch> {
        match name {
            "x86_64" | "amd64" => Some(Arch::X86_64),
            "aarch64" | "arm64" => Some(Arch::Arm64),
            _ => None,
        }
    }
    /// The architecture of the machine this runs on.
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a builder image is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuilderMethod {
    /// `docker build` of `builders/<name>/Dockerfile` through the Engine API (needs a registry for FROM).
    Dockerfile,
    /// Offline: mmdebstrap writes a rootfs tarball with the packages, imported through the API.
    Mmdebstrap,
}

/// `[artifact]`: naming and content of each tarball.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSpec {
    /// Name template; keys `{version}`, `{distro}`, `{arch}`.
    pub name: Spanned<String>,
    /// File names of the binaries that go into `bin/`, taken from the build's `src/`.
    pub binaries: Vec<String>,
    /// The license file at the top of the source tree, stored as `share/LICENSE`.
    pub license: String,
    /// Key prefix in the bucket, e.g. `releases/`.
    pub s3_prefix: String,
    /// Public base URL the prefix is served at.
    #[serde(default = "default_public_url")]
    pub public_url: String,
}

fn default_public_url() -> String {
    "https://download.valkey.io/releases/".to_string()
}

/// `[source]`: where a version's source comes from by default.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// GitHub's tag archive; key `{version}`.
    pub tag_url: Spanned<String>,
    /// The archive of the unstable branch.
    pub unstable_url: String,
}

/// Extra make flags for versions from `since` on (and `unstable`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionalFlags {
    pub flags: Vec<String>,
    /// `M.m`: applies to versions >= this, and to `unstable`.
    pub since: Spanned<String>,
}

/// `[make]`: the make invocation.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MakeSpec {
    /// Arguments after `make -jN`, e.g. `["-C", "src", "all"]`.
    pub args: Vec<String>,
    /// Flags always passed.
    pub flags: Vec<String>,
    #[serde(default)]
    pub conditional: Vec<ConditionalFlags>,
}

/// `[builders.<name>]`: one builder image, one per distro.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BuilderSpec {
    pub method: BuilderMethod,
    /// The distribution suite (`bookworm`, `jammy`).
    pub suite: String,
    /// glibc version of the distro: binaries must not need a newer one.
    pub glibc: Spanned<String>,
    /// Debian architectures installed in the image. The first is the image's own (`amd64` or
    /// `arm64`): an `arm64` image runs on an arm64 engine, or emulated (qemu binfmt) on amd64.
    pub architectures: Vec<String>,
    /// Packages installed in the image.
    #[serde(default)]
    pub packages: Vec<String>,
    /// For `dockerfile`: path of the Dockerfile, relative to the targets.toml directory.
    #[serde(default)]
    pub dockerfile: Option<String>,
    /// For `mmdebstrap`: the mirror; empty means the host's apt configuration.
    #[serde(default)]
    pub mirror: Option<String>,
    /// For `mmdebstrap`: components (default `main`).
    #[serde(default)]
    pub components: Vec<String>,
    /// For `mmdebstrap`: pin snapshot.debian.org to this timestamp (`20250520T000000Z`) for a reproducible builder.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// What each container of this builder may use (see `crate::farm::limits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<crate::farm::limits::LimitsSpec>,
}

/// Cross-compilation settings of a target.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CrossSpec {
    /// GNU triple, e.g. `aarch64-linux-gnu`; passed as `DEB_HOST_GNU_TYPE`.
    pub triple: String,
    /// Make variables naming the cross tools (CC, CXX, AR, RANLIB, PKG_CONFIG).
    pub tools: BTreeMap<String, String>,
    /// Command prefix that runs a target binary on the builder (qemu-user).
    #[serde(default)]
    pub runner: Vec<String>,
}

/// `[[target]]`: one artifact of the release.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    pub distro: Spanned<String>,
    pub arch: Spanned<Arch>,
    pub builder: Spanned<String>,
    /// Published by the official release process (jammy and noble today).
    #[serde(default)]
    pub official: bool,
    /// Built (and its image prepared) when no target is named; `false` for targets whose
    /// builder cannot be made on this project's machines (a Dockerfile builder whose `FROM`
    /// needs a registry: the RPM platforms). Named with `--target` they build like any other.
    #[serde(default = "yes")]
    pub default: bool,
    /// Present for a target cross-compiled on a builder of another arch.
    #[serde(default)]
    pub cross: Option<CrossSpec>,
    /// Docker engine for this target (e.g. `tcp://arm64-host:2375`); default: DOCKER_HOST / local.
    #[serde(default)]
    pub engine: Option<String>,
    /// Distro package formats made from this target's binaries after its build (`deb`, `rpm`).
    #[serde(default)]
    pub packages: Vec<Spanned<String>>,
    /// Allow `engine` to be plain (unencrypted, unauthenticated) `tcp://` to a host that is not
    /// this machine. Without it such an engine is refused: use TLS (DOCKER_TLS_VERIFY) or ssh://.
    #[serde(default)]
    pub insecure_engine: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    artifact: ArtifactSpec,
    source: SourceSpec,
    make: MakeSpec,
    builders: BTreeMap<String, Spanned<BuilderSpec>>,
    #[serde(rename = "target")]
    targets: Vec<Spanned<TargetSpec>>,
}

fn yes() -> bool {
    true
}

/// One target after validation.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// `<distro>-<arch>`, the name used on the command line.
    pub name: String,
    pub distro: String,
    pub arch: Arch,
    pub builder: String,
    pub official: bool,
    /// Chosen when no target is named (`default` of its [[target]], true unless it says false).
    pub default: bool,
    pub cross: Option<CrossSpec>,
    pub engine: Option<String>,
    /// `insecure_engine` of its [[target]]: plain tcp:// to another host allowed.
    pub insecure_engine: bool,
    /// Its builder's `[builders.<name>.limits]`.
    pub limits: crate::farm::limits::LimitsSpec,
    /// The distro's glibc (from its builder): the newest GLIBC_x.y the binaries may need.
    pub glibc: String,
    /// The architecture of the builder image (its first `architectures` entry): the platform
    /// its container runs as. Equal to `arch` for a native build, the other one for a cross build.
    pub image_arch: Arch,
    /// Distro package formats made from the target's binaries (`deb`, `rpm`); empty: tarball only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
}

/// The distro package formats a target may ask for in `packages`.
pub const PACKAGE_FORMATS: &[&str] = &["deb", "rpm"];

impl Target {
    /// Is this target cross-compiled?
    pub fn is_cross(&self) -> bool {
        self.cross.is_some()
    }

    /// How the target is built: `cross` (GNU cross toolchain on a builder of another arch) or
    /// `native` (in an image of its own arch: on an engine of that arch, or emulated).
    pub fn mode(&self) -> &'static str {
        if self.is_cross() {
            "cross"
        } else {
            "native"
        }
    }

    /// The mode as `valkey-release targets` shows it: `cross:<cpu of the triple>` or `native`.
    pub fn mode_label(&self) -> String {
        match &self.cross {
            Some(c) => format!("cross:{}", c.triple.split('-').next().unwrap_or("")),
            None => "native".to_string(),
        }
    }
}

/// The validated release matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    /// Where it was loaded from (`<embedded>` for the built-in copy).
    pub path: PathBuf,
    /// Directory that relative paths (Dockerfiles) resolve against; `None` for the embedded copy.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
    pub artifact: ArtifactSpec,
    pub source: SourceSpec,
    pub make: MakeSpec,
    pub builders: BTreeMap<String, BuilderSpec>,
    pub targets: Vec<Target>,
}

impl Matrix {
    /// Load from an explicit path, or `./targets.toml`, or the embedded copy.
    pub fn load(explicit: Option<&Path>) -> Result<Matrix> {
        if let Some(p) = explicit {
            return Matrix::load_file(p);
        }
        let local = Path::new("targets.toml");
        if local.is_file() {
            return Matrix::load_file(local);
        }
        Matrix::parse(EMBEDDED, Path::new("<embedded targets.toml>"), None)
    }

    /// Load and validate a file.
    pub fn load_file(path: &Path) -> Result<Matrix> {
        let text = crate::fsutil::read_input_text(path, "targets file")?;
        let base = path
            .parent()
            .map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p })
            .map(Path::to_path_buf);
        Matrix::parse(&text, path, base)
    }

    /// Parse and validate text; `path` is used in error messages.
    pub fn parse(text: &str, path: &Path, base_dir: Option<PathBuf>) -> Result<Matrix> {
        let raw = check::parse_raw(text, path)?;
        check::check_file(path, text, &raw)?;
        let builders = check::builders(path, text, &raw)?;
        let mut targets: Vec<Target> = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for t in &raw.targets {
            targets.push(check::target(path, text, t, &builders, &mut seen)?);
        }
        if targets.is_empty() {
            return Err(Error::input(format!("{}: no [[target]] defined", path.display())));
        }
        Ok(Matrix {
            path: path.to_path_buf(),
            base_dir,
            artifact: raw.artifact,
            source: raw.source,
            make: raw.make,
            builders,
            targets,
        })
    }

    /// Look a target up by `<distro>-<arch>`; the error lists the known names.
    pub fn target(&self, name: &str) -> Result<&Target> {
        self.targets.iter().find(|t| t.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.targets.iter().map(|t| t.name.as_str()).collect();
            Error::input(format!(
                "unknown target {name:?}; targets in {}: {}",
                self.path.display(),
                names.join(", ")
            ))
        })
    }

    /// Resolve a list of names (empty = every target with `default`), keeping file order,
    /// without duplicates.
    pub fn select(&self, names: &[String]) -> Result<Vec<&Target>> {
        if names.is_empty() {
            return Ok(self.targets.iter().filter(|t| t.default).collect());
        }
        for n in names {
            self.target(n)?;
        }
        Ok(self.targets.iter().filter(|t| names.iter().any(|n| n == &t.name)).collect())
    }

    /// The artifact base name (no extension), e.g. `valkey-8.1.1-jammy-x86_64`.
    pub fn artifact_name(&self, version: &Version, target: &Target) -> String {
        self.artifact
            .name
            .get_ref()
            .replace("{version}", version.as_str())
            .replace("{distro}", &target.distro)
            .replace("{arch}", target.arch.as_str())
    }

    /// The tarball file name, e.g. `valkey-8.1.1-jammy-x86_64.tar.gz`.
    pub fn tarball_name(&self, version: &Version, target: &Target) -> String {
        crate::artifact::tarball::file_name(&self.artifact_name(version, target))
    }

    /// The default source URL of a version (GitHub's tag archive, or the unstable branch archive).
    pub fn source_url(&self, version: &Version) -> String {
        if version.is_unstable() {
            self.source.unstable_url.clone()
        } else {
            self.source.tag_url.get_ref().replace("{version}", version.as_str())
        }
    }

    /// Make flags for a version: the fixed ones plus conditional ones that apply.
    pub fn make_flags(&self, version: &Version) -> Vec<String> {
        let mut flags = self.make.flags.clone();
        for c in &self.make.conditional {
            if let Some((a, b)) = parse_major_minor(c.since.get_ref()) {
                if version.at_least(a, b) {
                    flags.extend(c.flags.iter().cloned());
                }
            }
        }
        flags
    }

    /// The whole make command for a target: `make -jN <args> <flags> [cross tools, DEB_HOST_GNU_TYPE]`.
    pub fn make_command(&self, version: &Version, target: &Target, jobs: usize) -> Vec<String> {
        let mut cmd = vec!["make".to_string(), format!("-j{}", jobs.max(1))];
        cmd.extend(self.make.args.iter().cloned());
        cmd.extend(self.make_flags(version));
        if let Some(c) = &target.cross {
            for (k, v) in &c.tools {
                cmd.push(format!("{k}={v}"));
            }
            cmd.push(format!("DEB_HOST_GNU_TYPE={}", c.triple));
        }
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_loads() {
        let m = Matrix::parse(EMBEDDED, Path::new("targets.toml"), None).unwrap();
        let names: Vec<&str> = m.targets.iter().map(|t| t.name.as_str()).collect();
        for n in [
            "jammy-x86_64",
            "jammy-arm64",
            "noble-x86_64",
            "noble-arm64",
            "bookworm-x86_64",
            "bookworm-arm64",
            "trixie-x86_64",
            "trixie-arm64",
        ] {
            assert!(names.contains(&n), "{n} missing");
        }
        let v = Version::parse("8.1.1").unwrap();
        let t = m.target("jammy-x86_64").unwrap();
        assert_eq!(m.tarball_name(&v, t), "valkey-8.1.1-jammy-x86_64.tar.gz");
        assert!(m.make_flags(&v).contains(&"USE_FAST_FLOAT=yes".to_string()));
        assert!(!m
            .make_flags(&Version::parse("8.0.4").unwrap())
            .contains(&"USE_FAST_FLOAT=yes".to_string()));
        assert!(m
            .make_flags(&Version::parse("unstable").unwrap())
            .contains(&"USE_FAST_FLOAT=yes".to_string()));
    }

    #[test]
    fn line_col_counts() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 0), (1, 1));
    }
}
