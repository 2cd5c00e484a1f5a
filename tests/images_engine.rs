//! Builder images against the real Docker engine: mmdebstrap (bookworm, cached by tag on the
//! machine), reuse, the cross toolchain inside, the Dockerfile method with a local FROM, the
//! lock against concurrent builds, and the `images` command.

mod images_support;

use images_support::{bookworm_image, docker, repo_matrix};
use std::path::Path;
use std::process::Command;
use valkey_release::farm::image::{ensure_image, ImageOptions, LABEL_BUILDER};
use valkey_release::progress::Progress;
use valkey_release::targets::Matrix;

const BIN: &str = env!("CARGO_BIN_EXE_valkey-release");

fn docker_run(image: &str, script: &str) -> (bool, String) {
    let o = Command::new("docker")
        .args(["run", "--rm", "--network", "none", image, "sh", "-c", script])
        .output()
        .expect("docker CLI");
    (
        o.status.success(),
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
    )
}

fn nonce() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// A targets.toml in `dir` with the repository's bookworm builder and a `local` Dockerfile
/// builder whose Dockerfile is `dockerfile`.
fn write_matrix(dir: &Path, dockerfile: &str) -> Matrix {
    let repo = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("targets.toml")).unwrap();
    let head = &repo[..repo.find("# ------").unwrap()];
    let start = repo.find("[builders.bookworm]").unwrap();
    let end = repo.find("[builders.trixie]").unwrap();
    let text = format!(
        "{head}{bookworm}\n[builders.local]\nmethod = \"dockerfile\"\nsuite = \"bookworm\"\nglibc = \"2.36\"\n\
         architectures = [\"amd64\"]\ndockerfile = \"builders/local/Dockerfile\"\n\n\
         [[target]]\ndistro = \"bookworm\"\narch = \"x86_64\"\nbuilder = \"bookworm\"\n\n\
         [[target]]\ndistro = \"local\"\narch = \"x86_64\"\nbuilder = \"local\"\n",
        bookworm = &repo[start..end]
    );
    std::fs::create_dir_all(dir.join("builders/local")).unwrap();
    std::fs::write(dir.join("builders/local/Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.join("targets.toml"), text).unwrap();
    Matrix::load_file(&dir.join("targets.toml")).unwrap()
}

fn rmi(tag: &str) {
    let _ = Command::new("docker").args(["rmi", "-f", tag]).output();
}

#[tokio::test]
async fn bookworm_builder_is_reused_and_has_the_cross_toolchain() {
    let first = bookworm_image().await;
    assert!(first.tag.starts_with("valkey-release-builder/bookworm:"), "{}", first.tag);
    assert!(first.id.starts_with("sha256:"));
    assert_eq!(first.method, "mmdebstrap");
    // Second call: found by tag, not rebuilt.
    let second = bookworm_image().await;
    assert!(second.reused);
    assert_eq!(first.id, second.id);
    // The same definition in another file gives the same tag.
    let dir = tempfile::tempdir().unwrap();
    let m = write_matrix(dir.path(), "FROM scratch\n");
    let p = Progress::plain().spinner("t");
    let third = ensure_image(&docker().await, &m, "bookworm", &ImageOptions::default(), &p)
        .await
        .unwrap();
    assert!(third.reused);
    assert_eq!(third.tag, first.tag);

    let (ok, out) = docker_run(
        &first.tag,
        "aarch64-linux-gnu-gcc --version && aarch64-linux-gnu-g++ --version && gcc --version && g++ --version \
         && qemu-aarch64 --version && aarch64-linux-gnu-pkg-config --libs openssl && pkg-config --libs libsystemd \
         && dpkg --print-foreign-architectures && make --version && echo PATH=$PATH",
    );
    assert!(ok, "{out}");
    assert!(out.contains("aarch64-linux-gnu-gcc"), "{out}");
    assert!(out.contains("qemu-aarch64 version"), "{out}");
    assert!(out.contains("-lssl") && out.contains("-lsystemd"), "{out}");
    assert!(out.lines().any(|l| l == "arm64"), "{out}");
    assert!(out.contains("PATH=/usr/local/sbin:"), "{out}");
}

#[tokio::test]
async fn dockerfile_method_with_local_base_builds_once_under_concurrency() {
    let base = bookworm_image().await;
    let dir = tempfile::tempdir().unwrap();
    let n = nonce();
    let m = write_matrix(
        dir.path(),
        &format!("FROM {}\n# test {n}\nRUN echo {n} > /etc/valkey-release-marker\n", base.tag),
    );
    let d = docker().await;
    let p = Progress::plain().spinner("image local");
    let opts = ImageOptions::default();
    // Two callers at once: one builds, the other waits on the lock and reuses.
    let (a, b) = tokio::join!(ensure_image(&d, &m, "local", &opts, &p), ensure_image(&d, &m, "local", &opts, &p));
    let (a, b) = (a.unwrap(), b.unwrap());
    let tag = a.tag.clone();
    assert_eq!(a.id, b.id);
    assert_eq!(
        [a.reused, b.reused].iter().filter(|r| !**r).count(),
        1,
        "exactly one built: {a:?} {b:?}"
    );
    assert_eq!(a.method, "dockerfile");
    let c = ensure_image(&d, &m, "local", &opts, &p).await.unwrap();
    assert!(c.reused);

    let (ok, out) = docker_run(&tag, "cat /etc/valkey-release-marker");
    assert!(ok && out.contains(&n), "{out}");
    let label = Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            &format!("{{{{index .Config.Labels \"{LABEL_BUILDER}\"}}}}"),
            &tag,
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&label.stdout).trim(), "local");

    // The command line: reused, as JSON.
    let o = Command::new(BIN)
        .args([
            "--targets",
            dir.path().join("targets.toml").to_str().unwrap(),
            "--json",
            "images",
            "--target",
            "local-x86_64",
        ])
        .env("VALKEY_RELEASE_PLAIN", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["images"][0]["tag"], tag.as_str());
    assert_eq!(v["images"][0]["reused"], true);
    rmi(&tag);
}

#[tokio::test]
async fn dockerfile_with_unavailable_base_fails_clearly_or_is_skipped_by_default() {
    let _ = bookworm_image().await;
    let dir = tempfile::tempdir().unwrap();
    let n = nonce();
    let m = write_matrix(dir.path(), &format!("FROM valkey-release-test/absent:{n}\nRUN true\n"));
    let targets = dir.path().join("targets.toml");
    let logs = dir.path().join("logs");

    // Named target: exit 3, the message names the base image and why.
    let o = Command::new(BIN)
        .args([
            "--targets",
            targets.to_str().unwrap(),
            "images",
            "--target",
            "local-x86_64",
            "--log-dir",
            logs.to_str().unwrap(),
        ])
        .env("VALKEY_RELEASE_PLAIN", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("valkey-release-test/absent:{n}")) && err.contains("cannot be pulled"),
        "{err}"
    );

    // No target named: the bookworm builder is prepared (reused), the local one is skipped with the reason.
    let o = Command::new(BIN)
        .args([
            "--targets",
            targets.to_str().unwrap(),
            "--json",
            "images",
            "--log-dir",
            logs.to_str().unwrap(),
        ])
        .env("VALKEY_RELEASE_PLAIN", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["images"][0]["builder"], "bookworm");
    assert_eq!(v["skipped"][0]["builder"], "local");
    assert!(v["skipped"][0]["reason"].as_str().unwrap().contains("absent"));
    drop(m);
}

#[tokio::test]
async fn unreachable_engine_is_exit_3_with_hint() {
    let o = Command::new(BIN)
        .args(["images", "--target", "bookworm-x86_64"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("VALKEY_RELEASE_TARGETS", Path::new(env!("CARGO_MANIFEST_DIR")).join("targets.toml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot reach the Docker engine at unix:///nonexistent/docker.sock"),
        "{err}"
    );
    let _ = repo_matrix();
}
