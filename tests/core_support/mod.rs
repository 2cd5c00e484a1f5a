//! Helpers for the core tests (package, verify, targets).
#![allow(dead_code)]

pub mod gen;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const SDE: &str = "1700000000";

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_valkey-release"))
}

/// The fixture build tree (valkey tree after make).
pub fn fixture_tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/core/tree")
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/core").join(name)
}

/// A command for the binary with a clean environment for our variables.
pub fn cmd() -> Command {
    let mut c = Command::new(bin());
    c.env_remove("SOURCE_DATE_EPOCH")
        .env_remove("VALKEY_RELEASE_TARGETS")
        .env("VALKEY_RELEASE_PLAIN", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// Run and return output.
pub fn run(c: &mut Command) -> Output {
    c.output().expect("run valkey-release")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit code, with the output shown when it is not `want`.
#[track_caller]
pub fn assert_code(o: &Output, want: i32) {
    assert_eq!(
        o.status.code(),
        Some(want),
        "exit code\nstdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// `package` a tree into `out` with SOURCE_DATE_EPOCH set.
pub fn package(tree: &Path, out: &Path, version: &str, target: &str) -> Output {
    run(cmd()
        .env("SOURCE_DATE_EPOCH", SDE)
        .args(["package", "--version", version, "--target", target, "--from"])
        .arg(tree)
        .arg("--out")
        .arg(out))
}

/// The six binaries of the fixture, in targets.toml order, plus the license.
pub const BINARIES: [&str; 6] = [
    "valkey-server",
    "valkey-cli",
    "valkey-benchmark",
    "valkey-sentinel",
    "valkey-check-aof",
    "valkey-check-rdb",
];

/// Copy the fixture tree into `dest` file by file in the given order, with the given mode
/// and mtime (`touch -d @<secs>`), so copies differ in everything but content.
pub fn copy_tree(dest: &Path, reverse: bool, mode: u32, mtime: i64) {
    use std::os::unix::fs::PermissionsExt;
    let src = fixture_tree();
    let mut files: Vec<String> = BINARIES.iter().map(|b| format!("src/{b}")).collect();
    files.push("src/server.o".into());
    files.push("COPYING".into());
    if reverse {
        files.reverse();
    }
    std::fs::create_dir_all(dest.join("src")).unwrap();
    for f in &files {
        let to = dest.join(f);
        std::fs::write(&to, std::fs::read(src.join(f)).unwrap()).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).unwrap();
        let st = Command::new("touch").arg("-d").arg(format!("@{mtime}")).arg(&to).status().unwrap();
        assert!(st.success());
    }
}

/// Files in a directory (names), sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// sha256 of a file, hex.
pub fn sha256(p: &Path) -> String {
    valkey_release::fsutil::sha256_file(p).unwrap().0
}
