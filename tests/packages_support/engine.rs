//! Running a target's build and a post-build hook's job through the real Docker engine with the
//! farm's own container functions (until the farm runs hooks itself): the builder container is
//! made like the farm's (network none, SOURCE_DATE_EPOCH), the fixture is built with the
//! target's make command, and the hook's `job` runs in the same container.

use std::path::{Path, PathBuf};
use valkey_release::farm::container::{self, ContainerSpec};
use valkey_release::farm::hooks::{HookContext, PostBuild, Produced};
use valkey_release::targets::Matrix;
use valkey_release::version::Version;

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

fn tar_inputs(inputs: &[valkey_release::farm::hooks::InputFile]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for f in inputs {
        let mut h = tar::Header::new_gnu();
        h.set_size(f.bytes.len() as u64);
        h.set_mode(f.mode);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, f.path.trim_start_matches('/'), &f.bytes[..]).unwrap();
    }
    b.into_inner().unwrap()
}

async fn run(docker: &bollard::Docker, id: &str, cmd: &[String]) -> (i64, String) {
    let mut out = Vec::new();
    let opts = container::ExecOptions { env: vec![], user: None };
    let code = container::exec(docker, id, cmd, &opts, &mut |b: &[u8]| out.extend_from_slice(b)).await.unwrap();
    (code, String::from_utf8_lossy(&out).to_string())
}

/// Build `src` for `target` in its builder container and run `hook` there; returns what the
/// hook's `collect` produced. Panics (with the container's output) on failure.
pub async fn build_and_run_hook(target: &str, version: &str, src: &Path, hook: &dyn PostBuild, epoch: i64) -> Vec<Produced> {
    ensure_builder(target);
    let matrix = Matrix::load_file(&targets_toml()).unwrap();
    let t = matrix.target(target).unwrap().clone();
    let image = valkey_release::farm::image::Definition::load(&matrix, &t.builder).unwrap().tag();
    let version = Version::parse(version).unwrap();
    let docker = valkey_release::farm::engine::connect(None).await.unwrap();
    let run_id = format!("pkgtest{}", std::process::id());
    let spec = ContainerSpec {
        image: &image,
        run_id: &run_id,
        target: &format!("{target}-{}", rand_suffix()),
        env: container::build_env(epoch),
        platform: t.image_arch.platform(),
    };
    let id = container::create(&docker, &spec).await.unwrap();
    let result = async {
        container::start(&docker, &id).await.unwrap();
        container::upload_bytes(&docker, &id, tar_dir(src), container::BUILD_DIR)
            .await
            .unwrap();
        let (code, log) = run(&docker, &id, &matrix.make_command(&version, &t, 2)).await;
        assert_eq!(code, 0, "make failed:\n{log}");
        let mut binaries = Vec::new();
        for name in &matrix.artifact.binaries {
            let dest = tempfile::NamedTempFile::new().unwrap();
            assert!(container::download_file(&docker, &id, &format!("/build/src/{name}"), dest.path())
                .await
                .unwrap());
            binaries.push((name.clone(), std::fs::read(dest.path()).unwrap()));
        }
        let license = std::fs::read(src.join("COPYING")).unwrap();
        let artifact_name = matrix.artifact_name(&version, &t);
        let ctx = HookContext {
            target: &t,
            version: &version,
            source_date_epoch: epoch,
            artifact_name: &artifact_name,
            build_dir: container::BUILD_DIR,
            binaries: &binaries,
            license: &license,
        };
        let job = hook.job(&ctx).unwrap().expect("the hook applies to this target");
        container::upload_bytes(&docker, &id, tar_inputs(&job.inputs), "/").await.unwrap();
        let mut cmd = vec!["env".to_string()];
        cmd.extend(job.env.iter().cloned());
        cmd.extend(job.cmd.iter().cloned());
        let (code, log) = run(&docker, &id, &cmd).await;
        assert_eq!(code, 0, "hook {} failed:\n{log}", job.name);
        let (_, listing) = run(
            &docker,
            &id,
            &[
                "sh".into(),
                "-c".into(),
                format!("cd {} && find . -type f | sed 's|^./||' | sort", job.output_dir),
            ],
        )
        .await;
        let mut outputs = Vec::new();
        for name in listing.lines().filter(|l| !l.is_empty()) {
            let dest = tempfile::NamedTempFile::new().unwrap();
            assert!(
                container::download_file(&docker, &id, &format!("{}/{name}", job.output_dir), dest.path())
                    .await
                    .unwrap()
            );
            outputs.push((name.to_string(), std::fs::read(dest.path()).unwrap()));
        }
        hook.collect(&ctx, outputs).unwrap()
    };
    let r = tokio::time::timeout(std::time::Duration::from_secs(900), result).await;
    container::remove(&docker, &id).await.unwrap();
    r.expect("the build and hook finished within 15 minutes")
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
    let repo_toml = std::fs::read_to_string(targets_toml()).unwrap();
    let head = repo_toml
        .split("# ---------------------------------------------------------------- builders")
        .next()
        .unwrap();
    let text = format!(
        "{head}\n[builders.pkgtest-{suite}]\nmethod = \"mmdebstrap\"\nsuite = \"{suite}\"\nglibc = \"{glibc}\"\n\
         architectures = [\"amd64\"]\npackages = [\"adduser\"]\n\n[[target]]\ndistro = \"pkgtest{suite}\"\narch = \"x86_64\"\n\
         builder = \"pkgtest-{suite}\"\n"
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
        .args(["images", "--target", &format!("pkgtest{suite}-x86_64")])
        .current_dir(dir.path())
        .status()
        .expect("run valkey-release images");
    assert!(st.success(), "making the minimal {suite} image failed");
    let matrix = Matrix::load_file(&toml).unwrap();
    valkey_release::farm::image::Definition::load(&matrix, &format!("pkgtest-{suite}"))
        .unwrap()
        .tag()
}

/// A running container of `image` (network none), removed on drop of the returned guard's
/// owner via [`Box::remove`].
pub struct Box {
    pub docker: bollard::Docker,
    pub id: String,
}

impl Box {
    pub async fn start(image: &str, name: &str) -> Box {
        let docker = valkey_release::farm::engine::connect(None).await.unwrap();
        let run_id = format!("pkgtest{}", std::process::id());
        let spec = ContainerSpec {
            image,
            run_id: &run_id,
            target: &format!("{name}-{}", rand_suffix()),
            env: container::build_env(1700000000),
            platform: "linux/amd64".into(),
        };
        let id = container::create(&docker, &spec).await.unwrap();
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

    pub async fn remove(self) {
        container::remove(&self.docker, &self.id).await.unwrap();
    }
}
