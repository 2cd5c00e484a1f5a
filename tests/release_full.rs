//! Whole releases through the binary: prod through GitHub (a stateful emulation of its REST API)
//! with the upload to the local S3 server; a split build of two targets merged into one release;
//! and the embedded default run from a fresh clone of this repository with nothing configured.

mod release_support;

use release_support::gh::GitHub;
use release_support::{
    all_files, bin, builder_image, cmd, copy_tree, make_partial, publish_repos, report, run, step_states, Moto, SOURCE_SHA256,
};
use std::path::Path;

const TOKEN: &str = "ghp_RELEASETESTTOKEN0123456789SECRETxyz";
/// Recognisable credentials (moto accepts any): none may appear in any output or file.
const AWS_KEY_ID: &str = "AKIAVALKEYLEAKCHECK7Q";
const AWS_SECRET: &str = "valkeyLeakCheckSecretAccessKey0123456789xyz";
const AWS_SESSION: &str = "valkeyLeakCheckSessionToken/0123456789+abcdefSESSION";

/// An armored OpenPGP secret key made by gpg for this test, and the lines of its armor that only
/// the secret key holds (not in the public key's armor): none of those may appear anywhere.
fn signing_key() -> (String, Vec<String>) {
    let home = tempfile::tempdir().unwrap();
    let gpg = |args: &[&str]| {
        let o = std::process::Command::new("gpg")
            .arg("--homedir")
            .arg(home.path())
            .args(["--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .expect("gpg is not installed: apt-get install gnupg (see .ci/setup --tests)");
        assert!(o.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    gpg(&["--quick-gen-key", "Leak Check <leak@valkey.invalid>", "ed25519", "sign", "1d"]);
    let secret = gpg(&["--armor", "--export-secret-keys"]);
    let public = gpg(&["--armor", "--export"]);
    let only_secret = secret
        .lines()
        .filter(|l| l.len() >= 40 && !l.contains(' ') && !public.contains(*l))
        .map(str::to_string)
        .collect::<Vec<_>>();
    assert!(!only_secret.is_empty(), "{secret}");
    (secret, only_secret)
}

/// Every file under `dir` with its bytes, to compare before and after a run.
fn files_and_bytes(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    all_files(dir)
        .into_iter()
        .map(|f| {
            let b = std::fs::read(&f).unwrap();
            (f, b)
        })
        .collect()
}

/// The step lines of the text report: (step, label).
fn step_lines(out: &str) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let mut on = false;
    for l in out.lines() {
        if l == "Steps:" {
            on = true;
            continue;
        }
        if on {
            if !l.starts_with("  ") {
                break;
            }
            let t = l.trim_start();
            let (step, rest) = t.split_once(' ').unwrap_or((t, ""));
            let rest = rest.trim_start();
            let label = [
                "skipped (already done)",
                "skipped (not for this release)",
                "skipped (not configured)",
                "done",
                "failed",
                "not reached",
            ]
            .iter()
            .find(|x| rest.starts_with(*x))
            .map(|x| x.to_string())
            .unwrap_or_else(|| rest.to_string());
            rows.push((step.to_string(), label));
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prod_release_through_github_opens_each_pr_once_and_the_rerun_writes_nothing() {
    let moto = Moto::start();
    moto.create_bucket("relbucket-prod");
    let d = tempfile::tempdir().unwrap();
    make_partial(&d.path().join("p1"), "9.1.2", "jammy-x86_64", b"jammy x86_64 9.1.2");
    make_partial(&d.path().join("p2"), "9.1.2", "noble-arm64", b"noble arm64 9.1.2");
    let gh = GitHub::start_with_publish_repos().await;
    let hashes_base = gh.branch("valkey-hashes", "main").unwrap();
    let (key, key_lines) = signing_key();
    let go = |json: bool| {
        let mut c = cmd(d.path());
        moto.env(&mut c);
        c.env("AWS_S3_BUCKET", "relbucket-prod")
            .env("AWS_TEST_BUCKET", "relbucket-dev")
            .env("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
            .env("AWS_SESSION_TOKEN", AWS_SESSION)
            .env("VALKEY_RELEASE_SIGNING_KEY", &key)
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_API_URL", gh.uri())
            .env("RUST_LOG", "debug");
        if json {
            c.arg("--json");
        }
        c.args(["release", "--version", "9.1.2", "--environment", "prod"])
            .args(["--merge", "p1", "p2", "--date", "2026-11-25"]);
        run(&mut c)
    };

    // Run 1: every step runs; through GitHub, not patch files.
    let (code, out1, err1) = go(true);
    assert_eq!(code, 0, "{out1}\n{err1}");
    let v = report(&out1);
    // Every hand-off but valkey-doc (9.1.2 is not an M.m.0).
    let mut want_states = vec!["done"; 8];
    want_states.push("skipped_not_for_environment");
    assert_eq!(step_states(&v), want_states, "{out1}");
    assert!(!d.path().join("dist/handoff").exists(), "GitHub mode writes no patch files");
    let keys = moto.keys("relbucket-prod", "releases/");
    // 2 tarballs, 2 SBOMs, their .sha256, SHA256SUMS, its .asc, the public key, the provenance, the manifest.
    assert_eq!(keys.len(), 13, "{keys:?}");

    // The exact writes: hashes committed straight to main; one commit + branch + PR per PR repository.
    let reqs1 = gh.requests().await;
    assert!(!reqs1.is_empty());
    for (m, p, _, auth) in &reqs1 {
        assert_eq!(auth, &format!("Bearer {TOKEN}"), "{m} {p} not authenticated");
    }
    let writes: Vec<(String, String)> = reqs1
        .iter()
        .filter(|(m, ..)| m != "GET")
        .map(|(m, p, ..)| (m.clone(), p.clone()))
        .collect();
    let want: Vec<(String, String)> = [
        ("POST", "/repos/valkey-io/valkey-hashes/git/trees"),
        ("POST", "/repos/valkey-io/valkey-hashes/git/commits"),
        ("PATCH", "/repos/valkey-io/valkey-hashes/git/refs/heads/main"),
        ("POST", "/repos/valkey-io/valkey-container/git/trees"),
        ("POST", "/repos/valkey-io/valkey-container/git/commits"),
        ("POST", "/repos/valkey-io/valkey-container/git/refs"),
        ("POST", "/repos/valkey-io/valkey-container/pulls"),
        ("POST", "/repos/valkey-io/valkey-bundle/dispatches"),
        ("POST", "/repos/valkey-io/valkey-io.github.io/git/trees"),
        ("POST", "/repos/valkey-io/valkey-io.github.io/git/commits"),
        ("POST", "/repos/valkey-io/valkey-io.github.io/git/refs"),
        ("POST", "/repos/valkey-io/valkey-io.github.io/pulls"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(writes, want);
    let body = |path: &str| reqs1.iter().find(|(m, p, ..)| m != "GET" && p == path).unwrap().2.clone();
    // The hash commit sits on main's previous head (fast-forward, no force).
    assert_eq!(
        body("/repos/valkey-io/valkey-hashes/git/commits")["parents"],
        serde_json::json!([hashes_base])
    );
    assert_eq!(body("/repos/valkey-io/valkey-hashes/git/refs/heads/main")["force"], false);
    assert_eq!(body("/repos/valkey-io/valkey-container/git/refs")["ref"], "refs/heads/update-9.1.2");
    assert_eq!(body("/repos/valkey-io/valkey-container/pulls")["base"], "mainline");
    assert_eq!(body("/repos/valkey-io/valkey-io.github.io/pulls")["head"], "update-website-9.1.2");
    assert_eq!(
        body("/repos/valkey-io/valkey-bundle/dispatches"),
        serde_json::json!({"event_type": "valkey-release", "client_payload": {"version": "9.1.2", "component": "valkey"}})
    );

    // What GitHub holds now.
    let line =
        format!("hash valkey-9.1.2.tar.gz sha256 {SOURCE_SHA256} https://github.com/valkey-io/valkey/archive/refs/tags/9.1.2.tar.gz");
    let readme = gh.files("valkey-hashes", "main")["README"].0.clone();
    assert_eq!(readme.lines().filter(|l| l.contains("valkey-9.1.2.tar.gz")).count(), 1, "{readme}");
    assert!(readme.lines().any(|l| l == line), "{readme}");
    let hlog = gh.log("valkey-hashes", "main");
    assert_eq!(hlog.len(), 2, "{hlog:?}");
    assert!(hlog[0].starts_with("Update hash for 9.1.2"), "{hlog:?}");
    let cprs = gh.prs("valkey-container");
    assert_eq!(cprs.len(), 1);
    assert!(
        cprs[0].open && cprs[0].head == "update-9.1.2" && cprs[0].title == "Update to version 9.1.2",
        "{cprs:?}"
    );
    assert!(gh.files("valkey-container", "update-9.1.2")["versions.json"]
        .0
        .contains("\"version\": \"9.1.2\""));
    assert!(
        !gh.files("valkey-container", "mainline")["versions.json"].0.contains("9.1.2"),
        "the PR is not merged by the tool"
    );
    let wprs = gh.prs("valkey-io.github.io");
    assert_eq!(wprs.len(), 1);
    assert!(wprs[0].open && wprs[0].base == "main", "{wprs:?}");
    let page = gh.files("valkey-io.github.io", "update-website-9.1.2");
    let page = &page
        .get("content/download/releases/v9-1-2.md")
        .expect("the download page on the PR branch")
        .0;
    assert!(page.contains("9.1.2") && page.contains("jammy") && page.contains("noble"), "{page}");
    // The report: PR links, and that a person must merge them.
    let to_merge: Vec<String> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["to_merge"].as_array().cloned().unwrap_or_default())
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        to_merge,
        [
            "https://github.com/valkey-io/valkey-container/pull/1",
            "https://github.com/valkey-io/valkey-io.github.io/pull/1"
        ]
    );

    // Run 2 (text report): the publish steps find their work in place; GitHub is only read.
    let n1 = reqs1.len();
    let (code, out2, err2) = go(false);
    assert_eq!(code, 0, "{out2}\n{err2}");
    let rows = step_lines(&out2);
    for (step, label) in &rows[2..12] {
        if step == "repositories" {
            assert_eq!(label, "skipped (not configured)", "{step}: {out2}"); // no packages
            continue;
        }
        assert_eq!(label, "skipped (already done)", "{step}: {out2}");
    }
    assert_eq!(rows.len(), 13, "{out2}");
    assert_eq!(
        rows[12],
        ("docs".to_string(), "skipped (not for this release)".to_string()),
        "{out2}"
    );
    assert!(
        out2.contains("A person must review and merge this pull request: https://github.com/valkey-io/valkey-container/pull/1"),
        "{out2}"
    );
    assert!(out2.contains("https://github.com/valkey-io/valkey-io.github.io/pull/1"), "{out2}");
    let reqs2 = gh.requests().await;
    let new_writes: Vec<_> = reqs2[n1..]
        .iter()
        .filter(|(m, ..)| m != "GET")
        .map(|(m, p, ..)| format!("{m} {p}"))
        .collect();
    assert!(new_writes.is_empty(), "the re-run wrote to GitHub: {new_writes:?}");
    assert!(reqs2.len() > n1, "the re-run checks GitHub");
    assert_eq!(gh.log("valkey-hashes", "main").len(), 2);
    assert_eq!(gh.prs("valkey-container").len(), 1);
    assert_eq!(gh.prs("valkey-io.github.io").len(), 1);
    assert_eq!(
        gh.dispatches().len(),
        1,
        "the dispatch is recorded in the release state and not sent again"
    );
    assert_eq!(moto.keys("relbucket-prod", "releases/").len(), 13);

    // No secret appears anywhere: stdout, stderr (debug log lines included), and every file the
    // runs wrote (manifest, report, logs, release state, hand-off files).
    let mut secrets: Vec<&str> = vec![TOKEN, AWS_KEY_ID, AWS_SECRET, AWS_SESSION, key.as_str()];
    secrets.extend(key_lines.iter().map(String::as_str));
    for (what, text) in [("stdout 1", &out1), ("stderr 1", &err1), ("stdout 2", &out2), ("stderr 2", &err2)] {
        for s in &secrets {
            let line = text.lines().find(|l| l.contains(s));
            assert!(line.is_none(), "the secret {s:?} is printed on {what}: {line:?}");
        }
    }
    let files = all_files(d.path());
    assert!(files.iter().any(|f| f.ends_with("release-state.json")), "{files:?}");
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        for s in &secrets {
            assert!(!text.contains(s), "the secret {s:?} is written into {}", f.display());
        }
    }
}

#[test]
fn split_build_of_two_targets_then_merge_releases_both() {
    let image = builder_image();
    let d = tempfile::tempdir().unwrap();
    copy_tree(&release_support::fakevalkey(), &d.path().join("fakevalkey"));
    // Two runners, one target each, each into its own directory.
    for (t, out) in [("bookworm-x86_64", "A"), ("bookworm-arm64", "B")] {
        let (code, o, e) = run(cmd(d.path())
            .args(["build", "--version", "8.1.1", "--target", t, "--source", "fakevalkey"])
            .args(["--out", out, "--builder-image", &image]));
        assert_eq!(code, 0, "build {t}: {o}\n{e}");
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.path().join(out).join("manifest.json")).unwrap()).unwrap();
        let tarballs = m["artifacts"].as_array().unwrap().iter().filter(|a| a["kind"] == "tarball").count();
        assert_eq!(tarballs, 1, "{m}");
    }
    let go = || {
        run(cmd(d.path())
            .args(["--json", "release", "--version", "8.1.1", "--environment", "dev"])
            .args(["--merge", "A", "B", "--store", "file://store"]))
    };
    let (code, out, err) = go();
    assert_eq!(code, 0, "{out}\n{err}");
    let v = report(&out);
    assert_eq!(&step_states(&v)[..4], ["done", "done", "done", "done"], "{out}");

    let dist = d.path().join("dist");
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dist.join("manifest.json")).unwrap()).unwrap();
    let mut targets: Vec<&str> = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "tarball")
        .map(|a| a["target"].as_str().unwrap())
        .collect();
    targets.sort();
    assert_eq!(targets, ["bookworm-arm64", "bookworm-x86_64"], "{m}");
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    // Every artifact (tarballs, .debs, SBOMs) has its line.
    assert_eq!(sums.lines().count(), m["artifacts"].as_array().unwrap().len(), "{sums}");
    for a in m["artifacts"].as_array().unwrap() {
        let file = a["file"].as_str().unwrap();
        let sha = valkey_release::fsutil::sha256_file(&dist.join(file)).unwrap().0;
        assert_eq!(a["sha256"].as_str().unwrap(), sha);
        assert!(
            sums.lines().any(|l| l == format!("{sha}  {file}")),
            "{file} not in SHA256SUMS: {sums}"
        );
        // The object in the store is the artifact, with its checksum file beside it.
        let sub = if a["kind"] == "deb" { "releases/deb" } else { "releases" };
        let obj = d.path().join("store").join(sub).join(file);
        assert_eq!(valkey_release::fsutil::sha256_file(&obj).unwrap().0, sha, "{}", obj.display());
        assert!(d.path().join("store").join(sub).join(format!("{file}.sha256")).is_file());
    }
    for k in [
        "valkey-8.1.1.SHA256SUMS",
        "valkey-8.1.1.SHA256SUMS.asc",
        "GPG-KEY-valkey.asc",
        "valkey-8.1.1.intoto.jsonl",
        "valkey-8.1.1.manifest.json",
    ] {
        assert!(d.path().join("store/releases").join(k).is_file(), "{k} not in the store");
    }
    let n = m["artifacts"].as_array().unwrap().len();
    assert_eq!(all_files(&d.path().join("store/releases")).len(), 2 * n + 5);
    // Both architectures' apt repositories, merged by the repositories step.
    for arch in ["amd64", "arm64"] {
        let dir = d.path().join(format!("store/packaging/valkey-8.1/deb/debian12/{arch}"));
        assert!(dir.join("InRelease").is_file(), "{}", dir.display());
    }
    // Merged again: nothing is uploaded twice.
    let (code, out, err) = go();
    assert_eq!(code, 0, "{out}\n{err}");
    let v = report(&out);
    assert_eq!(v["steps"][5]["state"], "skipped_already_done", "{out}");
    assert_eq!(v["steps"][6]["state"], "skipped_already_done", "{out}");
}

#[test]
fn embedded_default_from_a_fresh_clone_with_nothing_configured() {
    let image = builder_image();
    let d = tempfile::tempdir().unwrap();
    let clone = d.path().join("valkey-release");
    let st = std::process::Command::new("git")
        .args(["clone", "-q", env!("CARGO_MANIFEST_DIR")])
        .arg(&clone)
        .status()
        .expect("git clone");
    assert!(st.success(), "git clone of {}", env!("CARGO_MANIFEST_DIR"));
    assert!(clone.join("targets.toml").is_file());
    // The source as GitHub's tag archive is named; its digest goes into the hash line.
    let archive = d.path().join("valkey-9.1.2.tar.gz");
    release_support::fakevalkey_targz(d.path(), &archive, "valkey-9.1.2", "9.1.2");
    let archive_sha = valkey_release::fsutil::sha256_file(&archive).unwrap().0;
    copy_tree(&publish_repos(), &d.path().join("repos"));
    let home = d.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    let go = || {
        let mut c = std::process::Command::new(bin());
        c.current_dir(&clone)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home);
        if let Some(h) = std::env::var_os("DOCKER_HOST") {
            c.env("DOCKER_HOST", h);
        }
        c.args(["release", "--version", "9.1.2", "--environment", "prod"])
            .args(["--source", "../valkey-9.1.2.tar.gz", "--target", "bookworm-x86_64"])
            .args(["--repos", "../repos", "--date", "2025-01-01", "--allow-local-store"])
            // A prod release is signed: the key is the one thing given (a file, no variable).
            .arg("--signing-key")
            .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/release/test-signing-key.asc"));
        // Only when the tests are told to use a given image; else the clone's targets.toml
        // names the bookworm builder, made (or reused) above.
        if std::env::var("VALKEY_RELEASE_TEST_IMAGE").is_ok_and(|i| !i.is_empty()) {
            c.args(["--builder-image", &image]);
        }
        run(&mut c)
    };
    let (code, out, err) = go();
    assert_eq!(code, 0, "{out}\n{err}");
    let rows = step_lines(&out);
    let mut want = vec!["done"; 12];
    want.push("skipped (not for this release)");
    assert_eq!(rows.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(), want, "{out}");
    assert!(
        clone
            .join("dist/bucket/packaging/valkey-9.1/deb/debian12/amd64/InRelease")
            .is_file(),
        "{out}"
    );
    let bucket = clone.join("dist/bucket/releases");
    for k in [
        "valkey-9.1.2-bookworm-x86_64.tar.gz",
        "valkey-9.1.2-bookworm-x86_64.tar.gz.sha256",
        "valkey-9.1.2.SHA256SUMS",
        "valkey-9.1.2.manifest.json",
    ] {
        assert!(bucket.join(k).is_file(), "{k} not in dist/bucket: {out}");
    }
    assert!(out.contains("file://"), "{out}");
    let handoff = clone.join("dist/handoff");
    for (repo, patch) in [
        ("valkey-hashes", "0001-Update-hash-for-9.1.2.patch"),
        (
            "valkey-container",
            "0001-Update-versions.json-and-Dockerfiles-for-version-9.1.2.patch",
        ),
        ("valkey-io.github.io", "0001-Updates-downloads-section-for-version-9.1.2.patch"),
        ("valkey-bundle", "dispatch.json"),
    ] {
        let p = handoff.join(repo).join(patch);
        assert!(p.is_file(), "{} missing: {:?}", p.display(), all_files(&handoff));
        assert!(
            out.contains(&p.display().to_string()) || out.contains(&format!("dist/handoff/{repo}/{patch}")),
            "{patch} not in the report: {out}"
        );
    }
    assert!(out.contains("For review (nothing was pushed"), "{out}");
    let hp = std::fs::read_to_string(handoff.join("valkey-hashes/0001-Update-hash-for-9.1.2.patch")).unwrap();
    assert!(hp.contains(&format!("+hash valkey-9.1.2.tar.gz sha256 {archive_sha} ")), "{hp}");
    // Nothing outside the clone's dist/ was written; the checkout itself is unchanged.
    let status = release_support::git(&clone, &["status", "--porcelain", "--ignored"]);
    assert!(status.lines().all(|l| l.ends_with("dist/")), "{status}");

    // Again: every step is already done; the patch files are not rewritten.
    let before = files_and_bytes(&handoff);
    let (code, out, err) = go();
    assert_eq!(code, 0, "{out}\n{err}");
    let rows = step_lines(&out);
    assert_eq!(rows.len(), 13, "{out}");
    for (step, label) in &rows[..12] {
        assert_eq!(label, "skipped (already done)", "{step}: {out}");
    }
    assert!(out.contains("patch already written for review"), "{out}");
    let after = files_and_bytes(&handoff);
    assert_eq!(before, after, "the re-run changed the hand-off files");
}
