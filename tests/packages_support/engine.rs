//! Builds through the real farm (which runs the post-build hooks in each target's builder
//! container), and fresh distro containers (network none) for install tests.

use std::path::{Path, PathBuf};
use valkey_release::farm::container;
use valkey_release::targets::Matrix;

pub fn targets_toml() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("targets.toml")
}

/// A fresh copy of tests/fixtures/packages/fakevalkey (a fake valkey answering PING) with
/// `version` in its version.h, all mtimes fixed.
pub fn fixture(version: &str) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let dst = d.path().join("fakevalkey");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/packages/fakevalkey"))
        .arg(&dst)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(dst.join("src/version.h"), format!("#define VALKEY_VERSION \"{version}\"\n")).unwrap();
    let st = std::process::Command::new("find")
        .arg(&dst)
        .args(["-exec", "touch", "-h", "-d", "@1700000000", "{}", "+"])
        .status()
        .unwrap();
    assert!(st.success());
    (d, dst)
}

/// Prepare the builder image of `builder` (shared by tag, under the tests' image lock).
pub fn ensure_builder(target: &str) {
    let lock = std::env::temp_dir().join("valkey-release-test-images.lock");
    let st = std::process::Command::new("flock")
        .arg(&lock)
        .arg(env!("CARGO_BIN_EXE_valkey-release"))
        .arg("--targets")
        .arg(targets_toml())
        .args(["images", "--target", target])
        .status()
        .expect("run valkey-release images");
    assert!(st.success(), "valkey-release images --target {target} failed");
}

fn tar_dir(dir: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap()
}

async fn run(docker: &bollard::Docker, id: &str, cmd: &[String]) -> (i64, String) {
    let mut out = Vec::new();
    let opts = container::ExecOptions { env: vec![], user: None };
    let code = container::exec(docker, id, cmd, &opts, &mut |b: &[u8]| out.extend_from_slice(b))
        .await
        .unwrap();
    (code, String::from_utf8_lossy(&out).to_string())
}

/// Build `src` for `target` with the real farm (`valkey-release build`, which runs the
/// post-build hooks in the target's builder container) and return the files the hooks made
/// (its manifest artifacts other than the tarball), sorted by name, with the dist directory.
pub fn farm_build(target: &str, version: &str, src: &Path) -> (tempfile::TempDir, Vec<(String, Vec<u8>)>) {
    farm_build_with(&targets_toml(), target, version, src)
}

/// The repository's targets.toml with `packages = ["deb", "rpm"]` for the bookworm targets
/// (the Debian-built targets the rpm path is tested on here: no RPM distro image can be had),
/// written into `dir`.
pub fn rpm_targets_toml(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(targets_toml()).unwrap();
    let from = "builder = \"bookworm\"\npackages = [\"deb\"]";
    assert_eq!(
        text.matches(from).count(),
        2,
        "targets.toml: the bookworm targets no longer say {from:?}"
    );
    let p = dir.join("targets.toml");
    std::fs::write(&p, text.replace(from, "builder = \"bookworm\"\npackages = [\"deb\", \"rpm\"]")).unwrap();
    p
}

/// [`farm_build`] with another targets.toml.
pub fn farm_build_with(toml: &Path, target: &str, version: &str, src: &Path) -> (tempfile::TempDir, Vec<(String, Vec<u8>)>) {
    ensure_builder(target);
    let out = tempfile::tempdir().unwrap();
    let dist = out.path().join("dist");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_valkey-release"))
        .arg("--targets")
        .arg(toml)
        .args(["build", "--version", version, "--target", target, "--source"])
        .arg(src)
        .arg("--out")
        .arg(&dist)
        .output()
        .unwrap();
    let log = std::fs::read_to_string(dist.join(format!("logs/{target}.log"))).unwrap_or_default();
    assert!(o.status.success(), "build failed: {}\n{log}", String::from_utf8_lossy(&o.stderr));
    // The hooks' artifacts are in the manifest with their kind, their files beside it.
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(dist.join("manifest.json")).unwrap()).unwrap();
    let mut files: Vec<(String, Vec<u8>)> = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["target"] == target && a["kind"] != "tarball")
        .map(|a| {
            let f = a["file"].as_str().unwrap().to_string();
            let bytes = std::fs::read(dist.join(&f)).unwrap_or_else(|e| panic!("{f}: {e}\n{log}"));
            (f, bytes)
        })
        .collect();
    files.sort();
    (out, files)
}

/// The .debs of a farm build.
pub fn farm_debs(target: &str, version: &str, src: &Path) -> Vec<(String, Vec<u8>)> {
    let (_out, files) = farm_build(target, version, src);
    files.into_iter().filter(|(n, _)| n.ends_with(".deb")).collect()
}

fn rand_suffix() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{n:x}")
}

/// A minimal image of `suite` (mmdebstrap --variant=apt plus adduser: what a fresh install of
/// the distro has), made and loaded like the builder images, cached by tag. Returns its tag.
pub fn ensure_install_image(suite: &str, glibc: &str) -> String {
    ensure_install_image_for(suite, glibc, "amd64")
}

/// [`ensure_install_image`] for a Debian architecture (`arm64`: an arm64 image, made and run
/// through the host's qemu binfmt entry).
pub fn ensure_install_image_for(suite: &str, glibc: &str, deb_arch: &str) -> String {
    let (name, arch) = match deb_arch {
        "amd64" => (format!("pkgtest-{suite}"), "x86_64"),
        other => (format!("pkgtest-{suite}-{other}"), "arm64"),
    };
    let repo_toml = std::fs::read_to_string(targets_toml()).unwrap();
    let head = repo_toml
        .split("# ---------------------------------------------------------------- builders")
        .next()
        .unwrap();
    let text = format!(
        "{head}\n[builders.{name}]\nmethod = \"mmdebstrap\"\nsuite = \"{suite}\"\nglibc = \"{glibc}\"\n\
         architectures = [\"{deb_arch}\"]\npackages = [\"adduser\"]\n\n[[target]]\ndistro = \"pkgtest{suite}\"\narch = \"{arch}\"\n\
         builder = \"{name}\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("targets.toml");
    std::fs::write(&toml, &text).unwrap();
    let lock = std::env::temp_dir().join("valkey-release-test-images.lock");
    let st = std::process::Command::new("flock")
        .arg(&lock)
        .arg(env!("CARGO_BIN_EXE_valkey-release"))
        .arg("--targets")
        .arg(&toml)
        .args(["images", "--target", &format!("pkgtest{suite}-{arch}")])
        .current_dir(dir.path())
        .status()
        .expect("run valkey-release images");
    assert!(st.success(), "making the minimal {suite} image failed");
    let matrix = Matrix::load_file(&toml).unwrap();
    valkey_release::farm::image::Definition::load(&matrix, &name).unwrap().tag()
}

/// A running container of `image` (network none), removed on drop of the returned guard's
/// owner via [`Box::remove`].
pub struct Box {
    pub docker: bollard::Docker,
    pub id: String,
}

impl Box {
    /// A container as a fresh install has it: root with the default capabilities (apt and dpkg
    /// need them), network none, an init process.
    pub async fn start(image: &str, name: &str) -> Box {
        Box::start_on(image, name, "linux/amd64").await
    }

    /// [`Box::start`] for a platform (`linux/arm64`: emulated through the host's qemu binfmt).
    pub async fn start_on(image: &str, name: &str, platform: &str) -> Box {
        use bollard::models::{ContainerCreateBody, HostConfig};
        let docker = valkey_release::farm::engine::connect(None).await.unwrap();
        let mut labels = std::collections::HashMap::new();
        labels.insert("io.valkey.release.test".to_string(), "packages".to_string());
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(vec!["sleep".into(), "infinity".into()]),
            labels: Some(labels),
            // container::exec runs commands in /build.
            working_dir: Some(container::BUILD_DIR.into()),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                network_mode: Some("none".into()),
                init: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = bollard::query_parameters::CreateContainerOptionsBuilder::default()
            .name(&format!("valkey-release-pkgtest-{name}-{}", rand_suffix()))
            .platform(platform)
            .build();
        let id = docker.create_container(Some(opts), body).await.unwrap().id;
        container::start(&docker, &id).await.unwrap();
        Box { docker, id }
    }

    /// `sh -c script`: (exit code, combined output).
    pub async fn sh(&self, script: &str) -> (i64, String) {
        run(&self.docker, &self.id, &["sh".into(), "-c".into(), script.into()]).await
    }

    /// `sh -c script`, which must succeed; its output.
    pub async fn sh_ok(&self, script: &str) -> String {
        let (code, out) = self.sh(script).await;
        assert_eq!(code, 0, "{script}\nexit {code}:\n{out}");
        out
    }

    /// Copy a host directory into `path` of the container.
    pub async fn put_dir(&self, dir: &Path, path: &str) {
        self.sh_ok(&format!("mkdir -p {path}")).await;
        container::upload_bytes(&self.docker, &self.id, tar_dir(dir), path).await.unwrap();
    }

    /// `apt-get update`, which must print no warning (no `W:`, `E:` or `N:` line) and use the
    /// signed `InRelease` (no `Ign:`). Returns its output.
    pub async fn apt_update_clean(&self) -> String {
        let update = self.sh_ok("apt-get update 2>&1").await;
        assert!(
            !update
                .lines()
                .any(|l| l.starts_with("W:") || l.starts_with("E:") || l.starts_with("N:")),
            "apt-get update warned:\n{update}"
        );
        assert!(
            update.contains("./ InRelease") && !update.contains("Ign:"),
            "apt did not use the signed InRelease:\n{update}"
        );
        update
    }

    pub async fn remove(self) {
        container::remove(&self.docker, &self.id).await.unwrap();
    }
}
