//! Shared helpers for the build-farm tests: the builder image (made once, reused by tag),
//! a copy of the fakevalkey fixture, running the CLI, and looking at containers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_valkey-release");

/// The repository's targets.toml (so tests do not depend on the current directory).
pub fn targets_toml() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("targets.toml")
}

/// The builder image to use: `VALKEY_RELEASE_TEST_IMAGE` if set (passed as --builder-image),
/// else the bookworm builder prepared once with `valkey-release images` (under a lock, so
/// parallel tests build it once; later runs reuse it by its tag) and resolved by `build` itself.
pub fn image_args() -> Vec<String> {
    if let Ok(img) = std::env::var("VALKEY_RELEASE_TEST_IMAGE") {
        if !img.is_empty() {
            return vec!["--builder-image".into(), img];
        }
    }
    let lock = std::env::temp_dir().join("valkey-release-test-images.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&lock)
        .expect("lock file");
    let st = Command::new("flock")
        .arg(lock.as_os_str())
        .args([BIN, "--targets"])
        .arg(targets_toml())
        .args(["images", "--target", "bookworm-x86_64", "--target", "bookworm-arm64"])
        .status()
        .expect("run valkey-release images");
    drop(f);
    assert!(st.success(), "valkey-release images failed");
    vec![]
}

/// A fresh copy of the fakevalkey fixture in a temp dir; `markers` are created at its top
/// (FAIL_CROSS, WRONG_ARCH, SLOW: see its src/Makefile).
pub fn fixture(markers: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let dst = d.path().join("fakevalkey");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/build/fakevalkey"), &dst);
    for m in markers {
        std::fs::write(dst.join(m), "").unwrap();
    }
    (d, dst)
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// Set every file's mtime to a fixed time, so two copies give the same SOURCE_DATE_EPOCH.
pub fn touch_all(dir: &Path, epoch: &str) {
    let st = Command::new("find")
        .arg(dir)
        .args(["-exec", "touch", "-h", "-d", epoch, "{}", "+"])
        .status()
        .unwrap();
    assert!(st.success());
}

/// `valkey-release --targets <repo>/targets.toml build --version V <args> <image args>`.
pub fn build_cmd(version: &str, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--targets")
        .arg(targets_toml())
        .args(["build", "--version", version])
        .args(args)
        .args(image_args());
    c.env("VALKEY_RELEASE_PLAIN", "1");
    c
}

pub fn run(mut c: Command) -> Output {
    let out = c.output().expect("run valkey-release");
    eprintln!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Container ids carrying `label` (e.g. `io.valkey.release.run=<id>`), any state.
pub fn containers_with(label: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("label={label}"))
        .output()
        .expect("run `docker ps` (is the docker CLI installed?)");
    assert!(
        out.status.success(),
        "docker ps --filter label={label} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

pub fn sha256(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

pub fn manifest(dist: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dist.join("manifest.json")).unwrap()).unwrap()
}

/// Build the fixture into a tar.gz (top dir `fakevalkey-<v>/`), for archive and URL sources.
pub fn fixture_targz(src: &Path, dest: &Path, top: &str) {
    let st = Command::new("tar")
        .arg("-czf")
        .arg(dest)
        .arg("-C")
        .arg(src.parent().unwrap())
        .arg(format!("--transform=s,^{},{top},", src.file_name().unwrap().to_string_lossy()))
        .arg(src.file_name().unwrap())
        .status()
        .unwrap();
    assert!(st.success());
}
