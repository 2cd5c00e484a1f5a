//! Helpers for the release tests: partial dist directories shaped like `build --target T` output.
#![allow(dead_code)]

pub mod gh;

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
    for k in [
        "AWS_S3_BUCKET",
        "AWS_TEST_BUCKET",
        "GITHUB_TOKEN",
        "GITHUB_ACTIONS",
        "GITHUB_STEP_SUMMARY",
        "AWS_ENDPOINT_URL",
        "VALKEY_RELEASE_TARGETS",
    ] {
        c.env_remove(k);
    }
    c.env("VALKEY_RELEASE_PLAIN", "1");
    // Releases are signed (prod requires it): a throwaway key made for the tests only.
    c.env("VALKEY_RELEASE_SIGNING_KEY", test_signing_key());
    c.env("VALKEY_RELEASE_TARGETS", Path::new(env!("CARGO_MANIFEST_DIR")).join("targets.toml"));
    c
}

/// The armored secret key of tests/fixtures/release (a throwaway key for the tests only).
pub fn test_signing_key() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/release/test-signing-key.asc")).unwrap()
}

/// Its public half.
pub fn test_public_key() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/release/test-signing-key.pub.asc")
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
    // What the build's sbom-facts hook would have gathered (the release's sbom step reads it).
    let facts = dir.join("facts").join(target);
    std::fs::create_dir_all(&facts).unwrap();
    let f = serde_json::json!({
        "target": target, "distro_id": "ubuntu", "distro_version": "24.04", "components": [], "libraries": [],
        "packages_sha256": "0".repeat(64), "packages": {},
    });
    std::fs::write(facts.join("sbom-facts.json"), serde_json::to_vec_pretty(&f).unwrap()).unwrap();
    let a = Artifact {
        target: target.to_string(),
        kind: "tarball".into(),
        describes: None,
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
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The report of a `release --json` run (its stdout).
pub fn report(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap()
}

/// The steps between build and upload and after verify (SBOM, signing, provenance, package
/// repositories): checked by tests/release_packages.rs; [`step_states`] leaves them out.
pub const TRUST_STEPS: [&str; 4] = ["sbom", "sign", "provenance", "repositories"];

/// The state of each step of a release report but [`TRUST_STEPS`], in order (source, build,
/// upload, verify, hashes, container, website).
pub fn step_states(v: &serde_json::Value) -> Vec<String> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !TRUST_STEPS.contains(&s["step"].as_str().unwrap_or_default()))
        .map(|s| s["state"].as_str().unwrap().to_string())
        .collect()
}

/// The state of every step of a release report, by step name, in order.
pub fn all_step_states(v: &serde_json::Value) -> Vec<(String, String)> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_string(), s["state"].as_str().unwrap().to_string()))
        .collect()
}

/// A moto S3 server on a free loopback port, killed on drop.
pub struct Moto {
    child: std::process::Child,
    pub port: u16,
}

impl Moto {
    /// Start `moto_server`. Missing, the test fails with what to install (never a silent skip).
    pub fn start() -> Moto {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = match std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => panic!(
                "this test needs moto_server (the local S3 server): {e}; install it with `pip install 'moto[server]'` \
                 (.ci/setup does)"
            ),
        };
        let m = Moto { child, port };
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return m;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("moto_server did not listen on port {port}");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One plain HTTP request (moto does not check signatures); returns (status, body).
    pub fn http(&self, method: &str, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    pub fn create_bucket(&self, b: &str) {
        let (st, body) = self.http("PUT", &format!("/{b}"));
        assert!(st == 200, "create bucket {b}: {st} {body}");
    }

    /// Delete an object (with the AWS CLI: moto refuses unsigned deletes).
    pub fn delete(&self, b: &str, key: &str) {
        let mut c = std::process::Command::new("aws");
        self.env(&mut c);
        let st = c
            .args([
                "s3api",
                "delete-object",
                "--bucket",
                b,
                "--key",
                key,
                "--endpoint-url",
                &self.endpoint(),
            ])
            .status()
            .expect("aws cli");
        assert!(st.success(), "aws s3api delete-object {b} {key}");
    }

    /// Keys under `prefix` in bucket `b`.
    pub fn keys(&self, b: &str, prefix: &str) -> Vec<String> {
        let (_, body) = self.http("GET", &format!("/{b}?list-type=2&prefix={prefix}"));
        body.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }

    /// Environment for the binary: this server, fixed keys, no profile files, us-west-2.
    pub fn env(&self, c: &mut std::process::Command) {
        c.env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-west-2")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run git in `dir` with a fixed identity; panics on failure; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Release Test",
            "-c",
            "user.email=release@test.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The fakevalkey fixture: a source tree whose build makes stand-ins of Valkey's binaries.
pub fn fakevalkey() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/build/fakevalkey")
}

/// The fixture copies of the repositories a release publishes to (tests/fixtures/publish/repos).
pub fn publish_repos() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/publish/repos")
}

/// Copy a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_tree(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// A bare remote `<root>/remotes/<name>.git` holding the fixture copy of repository `name` on
/// `branch`, and a clone of it at `<root>/checkouts/<name>`. Returns the clone's path.
pub fn repo_with_remote(root: &Path, name: &str, branch: &str) -> PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/publish/repos")
        .join(name);
    let seed = root.join("seed").join(name);
    copy_tree(&fixture, &seed);
    git(&seed, &["init", "-q", "-b", branch]);
    git(&seed, &["add", "-A"]);
    git(&seed, &["commit", "-qm", "seed"]);
    let bare = root.join("remotes").join(format!("{name}.git"));
    std::fs::create_dir_all(bare.parent().unwrap()).unwrap();
    git(root, &["clone", "-q", "--bare", seed.to_str().unwrap(), bare.to_str().unwrap()]);
    let co = root.join("checkouts").join(name);
    std::fs::create_dir_all(co.parent().unwrap()).unwrap();
    git(root, &["clone", "-q", bare.to_str().unwrap(), co.to_str().unwrap()]);
    git(&co, &["config", "user.name", "Release Test"]);
    git(&co, &["config", "user.email", "release@test.invalid"]);
    co
}

/// The builder image for the Docker tests: VALKEY_RELEASE_TEST_IMAGE, else the bookworm builder
/// prepared (or reused by its tag) with `valkey-release images`, under the same lock the build
/// tests use so parallel tests make it once. Without a Docker engine the test fails with what to
/// install (never a silent skip).
pub fn builder_image() -> String {
    if let Ok(i) = std::env::var("VALKEY_RELEASE_TEST_IMAGE") {
        if !i.is_empty() {
            return i;
        }
    }
    if std::process::Command::new("docker")
        .arg("info")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        panic!(
            "this test needs a Docker engine (`docker info` failed): install Docker (e.g. `apt-get install docker.io`) \
             and start it, or point DOCKER_HOST at one"
        );
    }
    let lock = std::env::temp_dir().join("valkey-release-test-images.lock");
    let out = std::process::Command::new("flock")
        .arg(&lock)
        .arg(bin())
        .arg("--targets")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("targets.toml"))
        .args(["--json", "images", "--target", "bookworm-x86_64"])
        .output()
        .expect("valkey-release images");
    assert!(out.status.success(), "images: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["images"][0]["tag"].as_str().unwrap().to_string()
}

/// The fakevalkey fixture (tests/fixtures/build) of release `version` as a tar.gz at `dest`
/// with top directory `top`.
pub fn fakevalkey_targz(work: &Path, dest: &Path, top: &str, version: &str) {
    let src = work.join(top);
    copy_tree(&fakevalkey(), &src);
    std::fs::write(src.join("src/version.h"), format!("#define VALKEY_VERSION \"{version}\"\n")).unwrap();
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(dest)
        .arg("-C")
        .arg(work)
        .arg(top)
        .status()
        .unwrap();
    assert!(st.success(), "tar");
    std::fs::remove_dir_all(&src).unwrap();
}

/// Every regular file under `dir` (recursively).
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(all_files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `--json release --version V --environment dev --target T --dist D` against moto (its
/// environment, `AWS_TEST_BUCKET=bucket`); the caller adds `--source` and any other flag.
pub fn dev_release(cwd: &Path, moto: &Moto, bucket: &str, version: &str, target: &str, dist: &str) -> std::process::Command {
    let mut c = cmd(cwd);
    moto.env(&mut c);
    c.env("AWS_TEST_BUCKET", bucket).args([
        "--json",
        "release",
        "--version",
        version,
        "--environment",
        "dev",
        "--target",
        target,
        "--dist",
        dist,
    ]);
    c
}

/// Run a `--json` command: (exit code, its report, stdout and stderr for messages).
pub fn run_report(c: &mut std::process::Command) -> (i32, serde_json::Value, String) {
    let (code, out, err) = run(c);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("report: {e}\n{out}\n{err}"));
    (code, v, format!("{out}\n{err}"))
}

/// The entry of step `name` in a release report.
pub fn step<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["steps"].as_array().unwrap().iter().find(|s| s["step"] == name).unwrap()
}
