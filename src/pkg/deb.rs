//! The `deb` post-build hook: Valkey's .debs from a target's checked binaries, made in the
//! target's builder container by `packaging/deb/build.sh` (the distro's `dpkg-shlibdeps`
//! computes `Depends`, `dpkg-deb` builds).
//!
//! Packages (SPEC.md, "Distro packages"): `valkey-server`, `valkey-sentinel`, `valkey-tools`,
//! `valkey-dev` (arch all), `valkey-compat-redis` (arch all), version `<V>-1.<codename>`.

use super::recipes;
use crate::error::{Error, Result};
use crate::farm::hooks::{HookContext, Job, PostBuild, Produced};
use crate::version::Version;

/// Where the recipe, binaries and outputs live inside the container.
pub const PKG_ROOT: &str = recipes::PKG_ROOT;

/// The `deb` hook (applies to targets whose `packages` include `deb`).
pub struct DebHook;

/// The Debian version of a release: `8.1.1` -> `8.1.1-1.bookworm`; an rc sorts before its GA
/// (`8.1.0-rc1` -> `8.1.0~rc1-1.bookworm`).
pub fn deb_version(version: &Version, codename: &str) -> Result<String> {
    if version.is_unstable() {
        return Err(Error::input("no distro packages for 'unstable': packages need a release version"));
    }
    Ok(format!("{}-1.{codename}", version.as_str().replace('-', "~")))
}

/// The file name of one .deb (`valkey-server_8.1.1-1.bookworm_amd64.deb`).
pub fn deb_file_name(package: &str, deb_version: &str, arch: &str) -> String {
    format!("{package}_{deb_version}_{arch}.deb")
}

impl PostBuild for DebHook {
    fn name(&self) -> &'static str {
        "deb"
    }

    fn makes_packages(&self) -> bool {
        true
    }

    fn job(&self, ctx: &HookContext<'_>) -> Result<Option<Job>> {
        let t = ctx.target;
        if !t.packages.iter().any(|p| p == "deb") {
            return Ok(None);
        }
        let platform = recipes::deb_platform(&t.distro).ok_or_else(|| {
            let known: Vec<String> = recipes::deb_platforms().into_iter().map(|p| p.codename).collect();
            Error::input(format!(
                "target {}: packages = [\"deb\"], but {:?} is not a Debian codename of packaging/deb/platforms; known: {known:?}",
                t.name, t.distro
            ))
        })?;
        let debversion = deb_version(ctx.version, &t.distro)?;
        let minor = ctx.version.major_minor().unwrap_or_default();
        let inputs = recipes::hook_inputs(ctx, recipes::DEB);
        let strip = recipes::strip_command(t);
        let env = vec![
            format!("VERSION={}", ctx.version.as_str()),
            format!("DEBVERSION={debversion}"),
            format!("DEB_ARCH={}", t.arch.debian()),
            format!("CODENAME={}", t.distro),
            format!("MINOR={minor}"),
            format!("UNITDIR={}", platform.unit_dir),
            format!("STRIP={strip}"),
            format!("BUILD_DIR={}", ctx.build_dir),
        ];
        Ok(Some(Job {
            name: "deb".into(),
            inputs,
            cmd: vec!["sh".into(), "-eu".into(), format!("{PKG_ROOT}/deb/build.sh")],
            env,
            output_dir: format!("{PKG_ROOT}/out"),
        }))
    }

    fn collect(&self, ctx: &HookContext<'_>, outputs: Vec<(String, Vec<u8>)>) -> Result<Vec<Produced>> {
        let debversion = deb_version(ctx.version, &ctx.target.distro)?;
        let mut produced = Vec::new();
        for (name, bytes) in outputs {
            if !name.ends_with(".deb") {
                continue;
            }
            if name.contains('/') || !name.contains(&format!("_{debversion}_")) {
                return Err(Error::check(format!(
                    "deb hook of {}: unexpected output {name:?} (expected <package>_{debversion}_<arch>.deb)",
                    ctx.target.name
                )));
            }
            if !bytes.starts_with(b"!<arch>\ndebian-binary") {
                return Err(Error::check(format!(
                    "deb hook of {}: {name} is not a .deb (ar archive)",
                    ctx.target.name
                )));
            }
            produced.push(Produced {
                file_name: name,
                bytes,
                kind: "deb".into(),
            });
        }
        for p in PACKAGES {
            if !produced.iter().any(|f| f.file_name.starts_with(&format!("{p}_"))) {
                return Err(Error::check(format!("deb hook of {}: no {p} package was made", ctx.target.name)));
            }
        }
        Ok(produced)
    }
}

/// The binary packages every deb target makes.
pub const PACKAGES: &[&str] = &[
    "valkey-server",
    "valkey-sentinel",
    "valkey-tools",
    "valkey-dev",
    "valkey-compat-redis",
];
