//! Shared helpers for the publish tests: fixtures (copies of the real files), manifests, git
//! repositories in temp dirs, and a GitHub REST emulation on wiremock.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use valkey_release::manifest::{Artifact, Manifest, SourceInfo};

pub const SHA_911: &str = "7d7232acd1b8a49b4e05d07a00b3ca8c801ae06ab633ca6a3423bc5f385ab7ee";
pub const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/publish")
}
pub fn repo_fixture(name: &str) -> PathBuf {
    fixtures().join("repos").join(name)
}
pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
pub fn page(name: &str) -> String {
    read(&fixtures().join("pages").join(name))
}

/// Every file under `dir` (relative path -> (text, mode)).
pub fn tree(dir: &Path) -> BTreeMap<String, (String, String)> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, (String, String)>) {
        use std::os::unix::fs::PermissionsExt;
        let mut entries: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            if e.file_name() == ".git" {
                continue;
            }
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                let exec = std::fs::metadata(&p).unwrap().permissions().mode() & 0o111 != 0;
                out.insert(rel, (read(&p), if exec { "100755" } else { "100644" }.to_string()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

pub fn copy_tree(src: &Path, dst: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for (rel, (text, mode)) in tree(src) {
        let p = dst.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        if mode == "100755" {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

/// A dist/ with a manifest for `version` listing `targets` (distro, arch).
pub fn write_manifest(dist: &Path, version: &str, targets: &[(&str, &str)], source: Option<SourceInfo>) {
    let src = source.unwrap_or(SourceInfo {
        name: format!("valkey-{version}.tar.gz"),
        kind: "archive".into(),
        ..Default::default()
    });
    let mut m = Manifest::new(version, 1_700_000_000, src);
    for (d, a) in targets {
        let file = format!("valkey-{version}-{d}-{a}.tar.gz");
        m.upsert(Artifact {
            target: format!("{d}-{a}"),
            kind: "tarball".into(),
            describes: None,
            distro: d.to_string(),
            arch: a.to_string(),
            checksum_file: format!("{file}.sha256"),
            file,
            size: 1,
            sha256: "c".repeat(64),
            files: vec![],
            build: None,
        });
    }
    std::fs::create_dir_all(dist).unwrap();
    m.save(dist).unwrap();
}

pub const OFFICIAL: &[(&str, &str)] = &[("jammy", "x86_64"), ("jammy", "arm64"), ("noble", "x86_64"), ("noble", "arm64")];

/// Run git with a clean, identity-less environment (HOME is `home`).
pub fn git(home: &Path, dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", home.join(".gitconfig"))
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A bare remote `remote.git` whose branch `branch` holds a copy of `fixture`, and a clone of it
/// at `clone`. Returns (remote, clone).
pub fn remote_and_clone(tmp: &Path, fixture: &Path, branch: &str) -> (PathBuf, PathBuf) {
    let home = tmp;
    let remote = tmp.join("remote.git");
    let seed = tmp.join("seed");
    let clone = tmp.join("clone");
    git(home, tmp, &["init", "--quiet", "--bare", "-b", branch, remote.to_str().unwrap()]);
    git(home, tmp, &["init", "--quiet", "-b", branch, seed.to_str().unwrap()]);
    copy_tree(fixture, &seed);
    git(home, &seed, &["add", "-A"]);
    git(
        home,
        &seed,
        &[
            "-c",
            "user.name=Seed",
            "-c",
            "user.email=seed@example.com",
            "commit",
            "--quiet",
            "-m",
            "initial",
        ],
    );
    git(
        home,
        &seed,
        &["push", "--quiet", remote.to_str().unwrap(), &format!("{branch}:{branch}")],
    );
    git(home, tmp, &["clone", "--quiet", remote.to_str().unwrap(), clone.to_str().unwrap()]);
    (remote, clone)
}

/// The binary under test with a clean environment: no token, no git identity.
pub fn bin(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_valkey-release"));
    c.env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", home.join(".gitconfig"))
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_API_URL")
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .env("VALKEY_RELEASE_PLAIN", "1");
    c
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(mut c: Command) -> Run {
    let o = c.output().unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    }
}

pub mod gh {
    //! A GitHub REST emulation on wiremock: the paths publish uses.
    use base64::Engine;
    use serde_json::{json, Value};
    use std::path::Path;
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    pub const OWNER: &str = "valkey-io";

    pub fn base(repo: &str) -> String {
        format!("/repos/{OWNER}/{repo}")
    }

    /// Branch `branch` points at `sha`.
    pub async fn mount_ref(s: &MockServer, repo: &str, branch: &str, sha: &str) {
        Mock::given(method("GET"))
            .and(path(format!("{}/git/ref/heads/{branch}", base(repo))))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"ref": format!("refs/heads/{branch}"), "object": {"sha": sha, "type": "commit"}})),
            )
            .mount(s)
            .await;
    }

    /// Branch `branch` does not exist.
    pub async fn mount_no_ref(s: &MockServer, repo: &str, branch: &str) {
        Mock::given(method("GET"))
            .and(path(format!("{}/git/ref/heads/{branch}", base(repo))))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
            .mount(s)
            .await;
    }

    /// Commit `sha` holds the files of `dir`: its recursive tree and the contents API.
    pub async fn mount_files(s: &MockServer, repo: &str, sha: &str, dir: &Path) {
        let files = super::tree(dir);
        let entries: Vec<Value> = files
            .iter()
            .map(|(p, (_, m))| json!({"path": p, "mode": m, "type": "blob", "sha": "0"}))
            .collect();
        Mock::given(method("GET"))
            .and(path(format!("{}/git/trees/{sha}", base(repo))))
            .and(query_param("recursive", "1"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"sha": format!("tree-of-{sha}"), "tree": entries, "truncated": false})),
            )
            .mount(s)
            .await;
        for (p, (text, _)) in files {
            mount_content(s, repo, sha, &p, &text).await;
        }
    }

    pub async fn mount_content(s: &MockServer, repo: &str, sha: &str, file: &str, text: &str) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        // GitHub wraps the base64 at 60 columns.
        let wrapped: String = b64
            .as_bytes()
            .chunks(60)
            .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
            .collect();
        Mock::given(method("GET"))
            .and(path(format!("{}/contents/{file}", base(repo))))
            .and(query_param("ref", sha))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"type": "file", "path": file, "encoding": "base64", "content": wrapped})),
            )
            .mount(s)
            .await;
    }

    /// Everything else answers 404 (GitHub's answer for a missing file).
    pub async fn mount_fallback_404(s: &MockServer) {
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
            .with_priority(u8::MAX)
            .mount(s)
            .await;
    }

    /// The requests received with the given method, as (path?query, JSON body).
    pub async fn requests(s: &MockServer, m: &str) -> Vec<(String, Value)> {
        s.received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.method.as_str() == m)
            .map(|r| {
                let q = r.url.query().map(|q| format!("?{q}")).unwrap_or_default();
                (
                    format!("{}{q}", r.url.path()),
                    serde_json::from_slice(&r.body).unwrap_or(Value::Null),
                )
            })
            .collect()
    }

    /// Decode the contents of a POST git/trees body: path -> content.
    pub fn tree_contents(body: &Value) -> std::collections::BTreeMap<String, String> {
        body["tree"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["path"].as_str().unwrap().to_string(), e["content"].as_str().unwrap().to_string()))
            .collect()
    }
}
