//! Artifact checks on real ELF binaries compiled here (host gcc, and aarch64-linux-gnu-gcc).

mod images_support;

use images_support::compile;
use valkey_release::farm::checks::{check_binaries, check_binary_files, check_target_binaries, inspect_elf};
use valkey_release::targets::Arch;

const CROSS: &str = "aarch64-linux-gnu-gcc";

#[test]
fn host_binary_facts_and_glibc_requirement() {
    let dir = tempfile::tempdir().unwrap();
    let bin = compile("gcc", "pidfd.c", dir.path(), &["-lm"]).expect("host gcc");
    let c = check_binary_files(&[bin.as_path()], Arch::X86_64, "2.36").unwrap();
    assert_eq!(c.elf_machine, "x86_64");
    // pidfd_open is versioned GLIBC_2.36, the newest symbol this program uses.
    assert_eq!(c.glibc_required, "2.36");
    assert_eq!(c.glibc_limit, "2.36");
    assert_eq!(c.needed_libs, vec!["libc.so.6".to_string(), "libm.so.6".to_string()]);
    let mut info = valkey_release::manifest::BuildInfo::default();
    c.apply_to(&mut info);
    assert_eq!(info.glibc_required, "2.36");
    assert_eq!(info.needed_libs.len(), 2);
}

#[test]
fn too_new_glibc_is_rejected_naming_binary_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let bin = compile("gcc", "pidfd.c", dir.path(), &["-lm"]).expect("host gcc");
    let data = std::fs::read(&bin).unwrap();
    // jammy's glibc is 2.35: the 8.1.0 "jammy" tarball that needed 2.38 is this failure.
    let e = check_binaries(&[("valkey-server".into(), data.clone())], Arch::X86_64, "2.35").unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let m = e.to_string();
    assert!(m.contains("valkey-server") && m.contains("GLIBC_2.36") && m.contains("2.35"), "{m}");
    // numeric comparison: 2.36 <= 2.100
    assert!(check_binaries(&[("valkey-server".into(), data)], Arch::X86_64, "2.100").is_ok());
}

#[test]
fn target_limit_comes_from_targets_toml() {
    let dir = tempfile::tempdir().unwrap();
    let bin = compile("gcc", "pidfd.c", dir.path(), &["-lm"]).expect("host gcc");
    let data = std::fs::read(&bin).unwrap();
    let m = images_support::repo_matrix();
    let bookworm = m.target("bookworm-x86_64").unwrap();
    assert!(check_target_binaries(bookworm, &[("valkey-server".into(), data.clone())]).is_ok());
    let jammy = m.target("jammy-x86_64").unwrap();
    let e = check_target_binaries(jammy, &[("valkey-server".into(), data)]).unwrap_err();
    assert!(e.to_string().contains("jammy-x86_64"), "{e}");
}

#[test]
fn wrong_arch_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let bin = compile("gcc", "hello.c", dir.path(), &[]).expect("host gcc");
    let e = check_binary_files(&[bin.as_path()], Arch::Arm64, "2.36").unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let m = e.to_string();
    assert!(m.contains("x86_64") && m.contains("aarch64") && m.contains("arm64"), "{m}");
}

#[test]
fn cross_compiled_aarch64_binary() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bin) = compile(CROSS, "hello.c", dir.path(), &[]) else {
        panic!("{CROSS} is not installed: apt-get install gcc-aarch64-linux-gnu (listed in .ci/setup)");
    };
    let data = std::fs::read(&bin).unwrap();
    let f = inspect_elf("valkey-cli", &data).unwrap();
    assert_eq!(f.elf_machine, "aarch64");
    assert_eq!(f.needed_libs, vec!["libc.so.6".to_string()]);
    let c = check_binaries(&[("valkey-cli".into(), data.clone())], Arch::Arm64, "2.36").unwrap();
    assert_eq!(c.elf_machine, "aarch64");
    let e = check_binaries(&[("valkey-cli".into(), data)], Arch::X86_64, "2.36").unwrap_err();
    assert!(e.to_string().contains("aarch64"), "{e}");
}

#[test]
fn non_elf_and_empty_are_rejected() {
    let e = check_binaries(&[("valkey-server".into(), b"\x7fELF".to_vec())], Arch::X86_64, "2.36").unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("valkey-server"));
    assert!(check_binaries(&[], Arch::X86_64, "2.36").is_err());
}
