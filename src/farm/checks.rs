//! Checks on every built artifact before it is packaged (pure functions, no Docker).
//!
//! - each binary is a 64-bit ELF for the target's architecture (`x86_64` / `aarch64`);
//! - the newest `GLIBC_x.y` symbol version the binaries need (from the ELF version-needs
//!   section) must not exceed the target distro's glibc (targets.toml);
//! - the shared libraries they need (`DT_NEEDED`) are recorded;
//! - `valkey-server --version` must report the release version.
//!
//! ELF parsing goes through the `object` crate.

use crate::error::{Error, Result};
use crate::manifest::BuildInfo;
use crate::targets::{Arch, Target};
use crate::version::Version;
use object::read::elf::{ElfFile64, FileHeader};
use object::{elf, Endianness, FileKind};
use serde::Serialize;
use std::path::Path;

/// What one binary needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElfFacts {
    /// File name as given (e.g. `valkey-server`).
    pub name: String,
    /// `x86_64`, `aarch64`, or another ELF machine name.
    pub elf_machine: String,
    /// The newest `GLIBC_x.y[.z]` version needed, without the prefix (`2.34`); `None` if none.
    pub glibc_required: Option<String>,
    /// `DT_NEEDED` entries, sorted and deduplicated.
    pub needed_libs: Vec<String>,
}

/// The result of checking a target's binaries; maps onto [`BuildInfo`] fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BinaryChecks {
    /// ELF machine of the binaries (`x86_64`, `aarch64`).
    pub elf_machine: String,
    /// The newest GLIBC_x.y any binary needs (`none` for no glibc symbol versions).
    pub glibc_required: String,
    /// The target distro's glibc.
    pub glibc_limit: String,
    /// Union of the binaries' DT_NEEDED libraries, sorted.
    pub needed_libs: Vec<String>,
    /// Per binary.
    pub binaries: Vec<ElfFacts>,
}

impl BinaryChecks {
    /// Copy the recorded facts into a manifest [`BuildInfo`].
    pub fn apply_to(&self, b: &mut BuildInfo) {
        b.elf_machine = self.elf_machine.clone();
        b.glibc_required = self.glibc_required.clone();
        b.glibc_limit = self.glibc_limit.clone();
        b.needed_libs = self.needed_libs.clone();
    }
}

/// The ELF machine name expected for an architecture.
pub fn elf_machine_of(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64",
        Arch::Arm64 => "aarch64",
    }
}

fn machine_name(m: elf::Machine) -> String {
    let known = [
        (elf::EM_X86_64, "x86_64"),
        (elf::EM_AARCH64, "aarch64"),
        (elf::EM_386, "i386"),
        (elf::EM_ARM, "arm"),
        (elf::EM_RISCV, "riscv"),
        (elf::EM_PPC64, "ppc64"),
        (elf::EM_S390, "s390"),
    ];
    known
        .iter()
        .find(|(k, _)| *k == m)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| format!("machine {}", m.0))
}

/// Parse a version like `2.34` or `2.3.4` into numbers (for numeric comparison).
pub fn parse_glibc(v: &str) -> Option<Vec<u32>> {
    let parts: Option<Vec<u32>> = v.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| p.len() >= 2)
}

fn cmp_versions(a: &[u32], b: &[u32]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    for i in 0..n {
        let (x, y) = (a.get(i).copied().unwrap_or(0), b.get(i).copied().unwrap_or(0));
        if x != y {
            return x.cmp(&y);
        }
    }
    std::cmp::Ordering::Equal
}

/// Read the facts of one ELF binary. Errors (exit 1) name the binary when it is not
/// a 64-bit ELF file or its dynamic sections are malformed.
pub fn inspect_elf(name: &str, data: &[u8]) -> Result<ElfFacts> {
    let bad = |what: String| Error::check(format!("{name}: {what}"));
    match FileKind::parse(data) {
        Ok(FileKind::Elf64) => {}
        Ok(FileKind::Elf32) => return Err(bad("is a 32-bit ELF file; release binaries are 64-bit".into())),
        Ok(other) => return Err(bad(format!("is not an ELF binary (found {other:?})"))),
        Err(_) => return Err(bad("is not an ELF binary (unrecognised file format)".into())),
    }
    let file = ElfFile64::<Endianness>::parse(data).map_err(|e| bad(format!("invalid ELF file: {e}")))?;
    let endian = file.endian();
    let header = file.elf_header();
    let elf_machine = machine_name(header.e_machine(endian));
    let sections = file.elf_section_table();

    let mut needed_libs: Vec<String> = Vec::new();
    let table = sections
        .dynamic_table(endian, data)
        .map_err(|e| bad(format!("invalid dynamic section: {e}")))?;
    for d in table.iter() {
        if d.tag == elf::DT_NEEDED {
            let s = table.string(d).map_err(|e| bad(format!("invalid DT_NEEDED entry: {e}")))?;
            needed_libs.push(String::from_utf8_lossy(s).into_owned());
        }
    }
    needed_libs.sort();
    needed_libs.dedup();

    let mut best: Option<(Vec<u32>, String)> = None;
    if let Some((mut needs, link)) = sections
        .gnu_verneed(endian, data)
        .map_err(|e| bad(format!("invalid version-needs section: {e}")))?
    {
        let strings = sections
            .strings(endian, data, link)
            .map_err(|e| bad(format!("invalid version string table: {e}")))?;
        while let Some((_vn, mut auxs)) = needs.next().map_err(|e| bad(format!("invalid version-needs entry: {e}")))? {
            while let Some(aux) = auxs.next().map_err(|e| bad(format!("invalid version-needs entry: {e}")))? {
                let n = aux.name(endian, strings).map_err(|e| bad(format!("invalid version name: {e}")))?;
                let n = String::from_utf8_lossy(n);
                if let Some(v) = n.strip_prefix("GLIBC_") {
                    if let Some(nums) = parse_glibc(v) {
                        if best.as_ref().map(|(b, _)| cmp_versions(&nums, b).is_gt()).unwrap_or(true) {
                            best = Some((nums, v.to_string()));
                        }
                    }
                }
            }
        }
    }
    Ok(ElfFacts {
        name: name.to_string(),
        elf_machine,
        glibc_required: best.map(|(_, s)| s),
        needed_libs,
    })
}

/// Check a target's binaries given as (name, bytes): ELF machine matches `arch`, and no
/// binary needs a glibc newer than `glibc_limit`. Returns the facts to record.
///
/// Errors are [`Error::Check`] (exit 1) naming the binary and what is wrong.
pub fn check_binaries(binaries: &[(String, Vec<u8>)], arch: Arch, glibc_limit: &str) -> Result<BinaryChecks> {
    if binaries.is_empty() {
        return Err(Error::check("no binaries to check"));
    }
    let limit =
        parse_glibc(glibc_limit).ok_or_else(|| Error::input(format!("glibc limit {glibc_limit:?} is not a version like \"2.36\"")))?;
    let want = elf_machine_of(arch);
    let mut facts = Vec::new();
    for (name, data) in binaries {
        let f = inspect_elf(name, data)?;
        if f.elf_machine != want {
            return Err(Error::check(format!(
                "{name}: ELF machine is {}, but target arch {arch} needs {want} (built with the wrong compiler or on the wrong builder?)",
                f.elf_machine
            )));
        }
        if let Some(req) = &f.glibc_required {
            let nums = parse_glibc(req).unwrap_or_default();
            if cmp_versions(&nums, &limit).is_gt() {
                return Err(Error::check(format!(
                    "{name}: needs GLIBC_{req}, newer than the target distro's glibc {glibc_limit} (built on a newer distro than the target?)"
                )));
            }
        }
        facts.push(f);
    }
    let mut needed: Vec<String> = facts.iter().flat_map(|f| f.needed_libs.iter().cloned()).collect();
    needed.sort();
    needed.dedup();
    let glibc_required = facts
        .iter()
        .filter_map(|f| f.glibc_required.clone())
        .max_by(|a, b| cmp_versions(&parse_glibc(a).unwrap_or_default(), &parse_glibc(b).unwrap_or_default()))
        .unwrap_or_else(|| "none".to_string());
    Ok(BinaryChecks {
        elf_machine: want.to_string(),
        glibc_required,
        glibc_limit: glibc_limit.to_string(),
        needed_libs: needed,
        binaries: facts,
    })
}

/// [`check_binaries`] for files on disk (named by file name in messages).
pub fn check_binary_files(paths: &[&Path], arch: Arch, glibc_limit: &str) -> Result<BinaryChecks> {
    let mut v = Vec::new();
    for p in paths {
        let data = std::fs::read(p).map_err(|e| Error::io(p, "read binary", e))?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string());
        v.push((name, data));
    }
    check_binaries(&v, arch, glibc_limit)
}

/// [`check_binaries`] for a target from targets.toml (its arch and glibc).
pub fn check_target_binaries(target: &Target, binaries: &[(String, Vec<u8>)]) -> Result<BinaryChecks> {
    check_binaries(binaries, target.arch, &target.glibc).map_err(|e| e.context(format!("target {}", target.name)))
}

/// Check what `valkey-server --version` printed against the release version; returns the
/// version it reported (the `v=` field) for the manifest (`build.reported_version`).
///
/// - A release `M.m.p` must report `v=M.m.p`.
/// - A release candidate `M.m.p-rcN` may report `v=M.m.p-rcN` or `v=M.m.p` (Valkey keeps the
///   release stage in `VALKEY_RELEASE_STAGE`, not in the version string).
/// - `unstable` accepts whatever version the branch reports (e.g. `255.255.255`); it must be there.
pub fn check_reported_version(output: &str, release: &Version) -> Result<String> {
    let line = output.lines().find(|l| l.contains("v=")).unwrap_or("").trim();
    let reported = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Error::check(format!(
                "valkey-server --version printed no v=<version> field; it printed: {:?}",
                output.trim().chars().take(200).collect::<String>()
            ))
        })?
        .to_string();
    let ok = if release.is_unstable() {
        true
    } else if release.is_rc() {
        let base = release.as_str().split("-rc").next().unwrap_or("");
        reported == release.as_str() || reported == base
    } else {
        reported == release.as_str()
    };
    if !ok {
        return Err(Error::check(format!(
            "valkey-server --version reports v={reported}, but the release is {} (wrong source or a stale build?); it printed: {line:?}",
            release.as_str()
        )));
    }
    Ok(reported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_output() {
        let out = "Valkey server v=8.1.1 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=abc\n";
        assert_eq!(check_reported_version(out, &Version::parse("8.1.1").unwrap()).unwrap(), "8.1.1");
        let e = check_reported_version(out, &Version::parse("8.1.2").unwrap()).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("v=8.1.1") && e.to_string().contains("8.1.2"));
        assert_eq!(check_reported_version(out, &Version::parse("8.1.1-rc1").unwrap()).unwrap(), "8.1.1");
        assert!(check_reported_version(out, &Version::parse("8.1.0-rc1").unwrap()).is_err());
        let u = "Valkey server v=255.255.255 sha=deadbeef:1 malloc=libc bits=64 build=1\n";
        assert_eq!(
            check_reported_version(u, &Version::parse("unstable").unwrap()).unwrap(),
            "255.255.255"
        );
        assert!(check_reported_version("qemu: no such file", &Version::parse("unstable").unwrap()).is_err());
        // 8.1.10 must not pass as 8.1.1
        assert!(check_reported_version("Valkey server v=8.1.10 x", &Version::parse("8.1.1").unwrap()).is_err());
    }

    #[test]
    fn glibc_numbers() {
        assert!(cmp_versions(&parse_glibc("2.10").unwrap(), &parse_glibc("2.9").unwrap()).is_gt());
        assert!(cmp_versions(&parse_glibc("2.3.4").unwrap(), &parse_glibc("2.3").unwrap()).is_gt());
        assert!(cmp_versions(&parse_glibc("2.36").unwrap(), &parse_glibc("2.36").unwrap()).is_eq());
        assert_eq!(parse_glibc("2"), None);
        assert_eq!(parse_glibc("PRIVATE"), None);
    }

    #[test]
    fn not_elf_is_rejected() {
        let e = inspect_elf("valkey-server", b"#!/bin/sh\necho hi\n").unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("valkey-server") && e.to_string().contains("not an ELF"));
    }

    #[test]
    fn the_test_binary_itself() {
        // The running test executable is an ELF for the host.
        let me = std::env::current_exe().unwrap();
        let data = std::fs::read(&me).unwrap();
        let f = inspect_elf("self", &data).unwrap();
        assert_eq!(f.elf_machine, elf_machine_of(Arch::host().unwrap()));
        assert!(f.needed_libs.iter().any(|l| l.starts_with("libc.so")));
        assert!(f.glibc_required.is_some());
    }
}
