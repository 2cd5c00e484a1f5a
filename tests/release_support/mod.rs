//! Helpers for the release tests: partial dist directories shaped like `build --target T` output.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use valkey_release::manifest::{checksum_line, Artifact, Manifest, SourceInfo};

pub const SDE: i64 = 1_700_000_000;
pub const SOURCE_SHA256: &str = "7d7232acd1b8a49b4e05d07a00b3ca8c801ae06ab633ca6a3423bc5f385ab7ee";

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_valkey-release"))
}

/// A `Command` for the binary with a clean environment for the release's choices
/// (no bucket variables, no token, not inside GitHub Actions).
pub fn cmd(cwd: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(bin());
    c.current_dir(cwd);
    for k in ["AWS_S3_BUCKET", "AWS_TEST_BUCKET", "GITHUB_TOKEN", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "AWS_ENDPOINT_URL", "VALKEY_RELEASE_TARGETS"] {
        c.env_remove(k);
    }
    c.env("VALKEY_RELEASE_PLAIN", "1");
    c.env("VALKEY_RELEASE_TARGETS", Path::new(env!("CARGO_MANIFEST_DIR")).join("targets.toml"));
    c
}

/// Write one target's artifact (arbitrary bytes standing in for the tarball) and a manifest
/// holding it into `dir`, as `build --target T --out dir` would. Returns the artifact entry.
pub fn make_partial(dir: &Path, version: &str, target: &str, content: &[u8]) -> Artifact {
    std::fs::create_dir_all(dir).unwrap();
    let (distro, arch) = target.split_once('-').unwrap();
    let file = format!("valkey-{version}-{distro}-{arch}.tar.gz");
    std::fs::write(dir.join(&file), content).unwrap();
    let sha = valkey_release::fsutil::sha256_file(&dir.join(&file)).unwrap().0;
    std::fs::write(dir.join(format!("{file}.sha256")), checksum_line(&sha, &file)).unwrap();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("logs").join(format!("{target}.log")), format!("building {target}\nok\n")).unwrap();
    let a = Artifact {
        target: target.to_string(),
        distro: distro.to_string(),
        arch: arch.to_string(),
        file: file.clone(),
        size: content.len() as u64,
        sha256: sha,
        checksum_file: format!("{file}.sha256"),
        files: vec![],
        build: None,
    };
    let mut m = Manifest::load_if_present(dir).unwrap().unwrap_or_else(|| {
        Manifest::new(
            version,
            SDE,
            SourceInfo {
                name: format!("{version}.tar.gz"),
                kind: "url".into(),
                url: Some(format!("https://github.com/valkey-io/valkey/archive/refs/tags/{version}.tar.gz")),
                sha256: Some(SOURCE_SHA256.into()),
                git_commit: None,
                source_sha: None,
            },
        )
    });
    m.upsert(a.clone());
    m.save(dir).unwrap();
    a
}

/// Run and return (exit code, stdout, stderr).
pub fn run(c: &mut std::process::Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}
