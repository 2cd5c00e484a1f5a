//! The package recipes under `packaging/`, embedded in the binary (so a release from any
//! directory uses the recipes of the tool's own version). They are data: templates, scripts and
//! config files that the build scripts fill in inside the builder container.

/// One recipe file: path relative to `packaging/`, contents, Unix mode.
#[derive(Debug, Clone, Copy)]
pub struct RecipeFile {
    pub path: &'static str,
    pub bytes: &'static [u8],
    pub mode: u32,
}

macro_rules! recipe {
    ($path:literal, $mode:literal) => {
        RecipeFile {
            path: $path,
            bytes: include_bytes!(concat!("../../packaging/", $path)),
            mode: $mode,
        }
    };
}

/// Files shared by every format.
pub const COMMON: &[RecipeFile] = &[
    recipe!("common/valkey.conf", 0o644),
    recipe!("common/sentinel.conf", 0o644),
    recipe!("common/valkey-server.service", 0o644),
    recipe!("common/valkey-sentinel.service", 0o644),
    recipe!("common/valkey.logrotate", 0o644),
    recipe!("common/valkey.sysusers", 0o644),
];

/// The .deb recipe.
pub const DEB: &[RecipeFile] = &[
    recipe!("deb/build.sh", 0o755),
    recipe!("deb/changelog.in", 0o644),
    recipe!("deb/copyright.in", 0o644),
    recipe!("deb/control/valkey-tools", 0o644),
    recipe!("deb/control/valkey-server", 0o644),
    recipe!("deb/control/valkey-sentinel", 0o644),
    recipe!("deb/control/valkey-dev", 0o644),
    recipe!("deb/control/valkey-compat-redis", 0o644),
    recipe!("deb/scripts/valkey-server.postinst", 0o755),
    recipe!("deb/scripts/valkey-server.prerm", 0o755),
    recipe!("deb/scripts/valkey-server.postrm", 0o755),
    recipe!("deb/scripts/valkey-sentinel.postinst", 0o755),
    recipe!("deb/scripts/valkey-sentinel.prerm", 0o755),
    recipe!("deb/scripts/valkey-sentinel.postrm", 0o755),
];

/// The .rpm recipe.
pub const RPM: &[RecipeFile] = &[recipe!("rpm/build.sh", 0o755), recipe!("rpm/valkey.spec.in", 0o644)];

/// `packaging/deb/platforms`: codename -> (platform id, systemd unit directory).
const DEB_PLATFORMS: &str = include_str!("../../packaging/deb/platforms");

/// A Debian-family platform of the package repositories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebPlatform {
    pub codename: String,
    /// The repository path component (`debian12`).
    pub id: String,
    pub unit_dir: String,
}

/// Every Debian-family platform known to the recipes.
pub fn deb_platforms() -> Vec<DebPlatform> {
    DEB_PLATFORMS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3).then(|| DebPlatform {
                codename: f[0].into(),
                id: f[1].into(),
                unit_dir: f[2].into(),
            })
        })
        .collect()
}

/// The platform of a codename (`bookworm` -> `debian12`).
pub fn deb_platform(codename: &str) -> Option<DebPlatform> {
    deb_platforms().into_iter().find(|p| p.codename == codename)
}

/// `packaging/rpm/platforms`: distro -> (platform id, dist tag, systemd unit directory).
const RPM_PLATFORMS: &str = include_str!("../../packaging/rpm/platforms");

/// An RPM platform of the package repositories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmPlatform {
    /// The targets.toml distro (`rocky9`, `opensuse15.6`, `bookworm`).
    pub distro: String,
    /// The repository path component (`rocky9`, `opensuse-15.6`).
    pub id: String,
    /// The end of the Release (`.el9`).
    pub dist: String,
    pub unit_dir: String,
}

/// Every RPM platform known to the recipes.
pub fn rpm_platforms() -> Vec<RpmPlatform> {
    RPM_PLATFORMS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4).then(|| RpmPlatform {
                distro: f[0].into(),
                id: f[1].into(),
                dist: f[2].into(),
                unit_dir: f[3].into(),
            })
        })
        .collect()
}

/// The RPM platform of a targets.toml distro (`rocky9` -> `rocky9`, `.el9`).
pub fn rpm_platform(distro: &str) -> Option<RpmPlatform> {
    rpm_platforms().into_iter().find(|p| p.distro == distro)
}

/// The RPM platform of a repository path component (`opensuse-15.6`).
pub fn rpm_platform_of_id(id: &str) -> Option<RpmPlatform> {
    rpm_platforms().into_iter().find(|p| p.id == id)
}

/// Where the recipe, binaries and outputs live inside the builder container.
pub const PKG_ROOT: &str = "/pkg";

/// What every package hook puts into the container: the shared files (`/pkg/common`), the
/// format's recipe (`/pkg/<format>/...`), the checked binaries (`/pkg/bin/<name>`) and the
/// license (`/pkg/COPYING`).
pub fn hook_inputs(ctx: &crate::farm::hooks::HookContext<'_>, recipe: &[RecipeFile]) -> Vec<crate::farm::hooks::InputFile> {
    use crate::farm::hooks::InputFile;
    let mut inputs: Vec<InputFile> = COMMON
        .iter()
        .chain(recipe)
        .map(|f| InputFile {
            path: format!("{PKG_ROOT}/{}", f.path),
            bytes: f.bytes.to_vec(),
            mode: f.mode,
        })
        .collect();
    for (name, bytes) in ctx.binaries {
        inputs.push(InputFile {
            path: format!("{PKG_ROOT}/bin/{name}"),
            bytes: bytes.clone(),
            mode: 0o755,
        });
    }
    inputs.push(InputFile {
        path: format!("{PKG_ROOT}/COPYING"),
        bytes: ctx.license.to_vec(),
        mode: 0o644,
    });
    inputs
}

/// The strip command for a target's binaries (`aarch64-linux-gnu-strip` for a cross target).
pub fn strip_command(t: &crate::targets::Target) -> String {
    match &t.cross {
        Some(c) => format!("{}-strip", c.triple),
        None => "strip".to_string(),
    }
}
