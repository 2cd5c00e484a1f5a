//! The `rpm` post-build hook: Valkey's .rpms from a target's checked binaries, made in the
//! target's builder container by `packaging/rpm/build.sh` with the distro's own `rpmbuild`
//! (whose ELF dependency generator writes `Requires` such as `libssl.so.3()(64bit)`) from the
//! spec template `packaging/rpm/valkey.spec.in`.
//!
//! Packages (SPEC.md, "Distro packages"): source package `valkey`, `Release: 1.1%{?dist}`;
//! `valkey` (the server, sentinel, tools, config, units, the valkey user), and the noarch
//! `valkey-devel`, `valkey-compat-redis` (`Provides: redis`, `Obsoletes: redis < 7.4`) and
//! `valkey-compat-redis-devel`. Signing with the release key happens on the host, later
//! ([`sign_rpms`]), never in the container.

use super::recipes;
use crate::error::{Error, Result};
use crate::farm::hooks::{HookContext, Job, PostBuild, Produced};
use crate::sign::SigningKey;
use crate::targets::Arch;
use crate::version::Version;
use std::path::{Path, PathBuf};

/// Where the recipe, binaries and outputs live inside the container (as for the .debs).
pub const PKG_ROOT: &str = recipes::PKG_ROOT;

/// The package release before the dist tag (`Release: 1.1%{?dist}`).
pub const RELEASE: &str = "1.1";

/// The `rpm` hook (applies to targets whose `packages` include `rpm`).
pub struct RpmHook;

/// The binary packages every rpm target makes, with their architecture (`None`: the target's).
pub const PACKAGES: &[(&str, Option<&str>)] = &[
    ("valkey", None),
    ("valkey-devel", Some("noarch")),
    ("valkey-compat-redis", Some("noarch")),
    ("valkey-compat-redis-devel", Some("noarch")),
];

/// The rpm architecture of a target (`x86_64`, `aarch64`).
pub fn rpm_arch(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64",
        Arch::Arm64 => "aarch64",
    }
}

/// The rpm Version of a release: `8.1.1`; an rc sorts before its GA (`8.1.0-rc1` -> `8.1.0~rc1`).
pub fn rpm_version(version: &Version) -> Result<String> {
    if version.is_unstable() {
        return Err(Error::input("no distro packages for 'unstable': packages need a release version"));
    }
    Ok(version.as_str().replace('-', "~"))
}

/// The file name of one .rpm (`valkey-8.1.1-1.1.el9.x86_64.rpm`).
pub fn rpm_file_name(package: &str, version: &str, dist: &str, arch: &str) -> String {
    format!("{package}-{version}-{RELEASE}{dist}.{arch}.rpm")
}

fn platform_of(target: &crate::targets::Target) -> Result<recipes::RpmPlatform> {
    recipes::rpm_platform(&target.distro).ok_or_else(|| {
        let known: Vec<String> = recipes::rpm_platforms().into_iter().map(|p| p.distro).collect();
        Error::input(format!(
            "target {}: packages = [\"rpm\"], but {:?} is not a distro of packaging/rpm/platforms; known: {known:?}",
            target.name, target.distro
        ))
    })
}

/// The .rpm file names a target makes, sorted.
pub fn expected_files(target: &crate::targets::Target, version: &Version) -> Result<Vec<String>> {
    let p = platform_of(target)?;
    let v = rpm_version(version)?;
    let mut names: Vec<String> = PACKAGES
        .iter()
        .map(|(n, a)| rpm_file_name(n, &v, &p.dist, a.unwrap_or(rpm_arch(target.arch))))
        .collect();
    names.sort();
    Ok(names)
}

impl PostBuild for RpmHook {
    fn name(&self) -> &'static str {
        "rpm"
    }

    fn makes_packages(&self) -> bool {
        true
    }

    fn job(&self, ctx: &HookContext<'_>) -> Result<Option<Job>> {
        let t = ctx.target;
        if !t.packages.iter().any(|p| p == "rpm") {
            return Ok(None);
        }
        let platform = platform_of(t)?;
        let version = rpm_version(ctx.version)?;
        let inputs = recipes::hook_inputs(ctx, recipes::RPM);
        let strip = recipes::strip_command(t);
        let env = vec![
            format!("RPMVERSION={version}"),
            format!("RPMRELEASE={RELEASE}"),
            format!("DIST={}", platform.dist),
            format!("RPM_ARCH={}", rpm_arch(t.arch)),
            format!("UNITDIR={}", platform.unit_dir),
            format!("STRIP={strip}"),
            format!("BUILD_DIR={}", ctx.build_dir),
        ];
        Ok(Some(Job {
            name: "rpm".into(),
            inputs,
            cmd: vec!["sh".into(), "-eu".into(), format!("{PKG_ROOT}/rpm/build.sh")],
            env,
            output_dir: format!("{PKG_ROOT}/out"),
        }))
    }

    fn collect(&self, ctx: &HookContext<'_>, outputs: Vec<(String, Vec<u8>)>) -> Result<Vec<Produced>> {
        let want = expected_files(ctx.target, ctx.version)?;
        let mut produced = Vec::new();
        for (name, bytes) in outputs {
            if !name.ends_with(".rpm") {
                continue;
            }
            if !want.contains(&name) {
                return Err(Error::check(format!(
                    "rpm hook of {}: unexpected output {name:?} (expected one of {want:?})",
                    ctx.target.name
                )));
            }
            // The rpm lead: magic ed ab ee db, major version 3.
            if !bytes.starts_with(&[0xed, 0xab, 0xee, 0xdb, 3]) {
                return Err(Error::check(format!(
                    "rpm hook of {}: {name} is not an rpm package (no rpm lead)",
                    ctx.target.name
                )));
            }
            produced.push(Produced {
                file_name: name,
                bytes,
                kind: "rpm".into(),
            });
        }
        for w in &want {
            if !produced.iter().any(|p| &p.file_name == w) {
                return Err(Error::check(format!("rpm hook of {}: {w} was not made", ctx.target.name)));
            }
        }
        Ok(produced)
    }
}

/// Sign .rpm files in place with the release key (an OpenPGP header signature that
/// `rpmkeys --checksig` accepts once `GPG-KEY-valkey.asc` is imported). `timestamp` is the
/// signature time (the release's SOURCE_DATE_EPOCH). A file already signed by this key is left
/// as it is (a resumed release signs once). Returns the files whose bytes changed.
///
/// The release's packages step calls it on the manifest's `rpm` artifacts *before* the
/// checksums are final: the signed bytes are the published ones (see [`sign_dist_rpms`]).
pub fn sign_rpms(key: &SigningKey, files: &[PathBuf], timestamp: u32) -> Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).map_err(|e| Error::io(f, "read", e))?;
        let what = f.display().to_string();
        if is_signed_by(&bytes, key, &what)? {
            continue;
        }
        let signed = super::rpmsign::sign_rpm(key, &bytes, timestamp, &what)?;
        crate::fsutil::write_atomic(f, &signed)?;
        changed.push(f.clone());
    }
    Ok(changed)
}

/// Does an rpm carry a header signature by `key`?
pub fn is_signed_by(rpm_bytes: &[u8], key: &SigningKey, what: &str) -> Result<bool> {
    let pkg = rpm::Package::parse(&mut &rpm_bytes[..]).map_err(|e| Error::input(format!("{what}: not an rpm package: {e}")))?;
    let verifier = rpm::signature::pgp::Verifier::from_asc(&key.public_armored())
        .map_err(|e| Error::input(format!("the release key cannot verify rpm signatures: {e}")))?;
    Ok(pkg.verify_signature(verifier).is_ok())
}

/// Sign every `rpm` artifact of a dist directory with the release key and bring its manifest
/// entry, `.sha256` file and SHA256SUMS line up to date (through [`crate::package::add_artifact`]'s
/// path: the artifact is re-added with the signed bytes). Idempotent. Returns the signed files.
/// Must run before the SBOMs and provenance are made (they name each file's sha256): an
/// unsigned .rpm that another artifact already describes is an input error (exit 2).
pub fn sign_dist_rpms(dist: &Path, key: &SigningKey, timestamp: u32) -> Result<Vec<String>> {
    sign_each(dist, key, timestamp, true)
}

/// The release's `sbom` step, before it (re)writes every SBOM: sign every `rpm` artifact of
/// `dist` not yet signed by `key`, at the manifest's SOURCE_DATE_EPOCH, so the SBOMs and the
/// provenance made next describe the bytes that are published. Returns the signed files.
pub fn sign_dist_rpms_before_sboms(dist: &Path, key: &SigningKey) -> Result<Vec<String>> {
    let sde = crate::manifest::Manifest::load(dist)?.source_date_epoch;
    let ts = u32::try_from(sde).map_err(|_| Error::input(format!("SOURCE_DATE_EPOCH {sde} does not fit an rpm signature time")))?;
    sign_each(dist, key, ts, false)
}

/// Is every `rpm` artifact of `dist` signed by `key`?
pub fn dist_rpms_signed(dist: &Path, key: &SigningKey) -> Result<bool> {
    let m = crate::manifest::Manifest::load(dist)?;
    for a in m.artifacts.iter().filter(|a| a.kind == "rpm") {
        let path = dist.join(&a.file);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, "read", e))?;
        if !is_signed_by(&bytes, key, &a.file)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Sign the unsigned `rpm` artifacts; with `refuse_described`, one that an SBOM or signature
/// already describes is refused (exit 2) rather than changed under it.
fn sign_each(dist: &Path, key: &SigningKey, timestamp: u32, refuse_described: bool) -> Result<Vec<String>> {
    let m = crate::manifest::Manifest::load(dist)?;
    let mut done = Vec::new();
    for a in m.artifacts.iter().filter(|a| a.kind == "rpm") {
        let path = dist.join(&a.file);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, "read", e))?;
        if is_signed_by(&bytes, key, &a.file)? {
            continue;
        }
        // An SBOM or signature made from the unsigned bytes would no longer describe the file.
        let described = m.artifacts.iter().find(|d| d.describes.as_deref() == Some(a.file.as_str()));
        if let Some(d) = described.filter(|_| refuse_described) {
            return Err(Error::input(format!(
                "{}: {} describes the unsigned {}; sign the .rpms before SBOMs and provenance are made",
                dist.display(),
                d.file,
                a.file
            )));
        }
        sign_rpms(key, std::slice::from_ref(&path), timestamp)?;
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, "read", e))?;
        crate::package::replace_artifact_bytes(dist, a, &bytes)?;
        done.push(a.file.clone());
    }
    Ok(done)
}
