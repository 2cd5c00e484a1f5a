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
