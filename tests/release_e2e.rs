//! End to end through the binary with the real stages: the local S3 server (moto), the
//! directory store of the embedded default, and re-runs after failures.

mod release_support;

use release_support::{builder_image, cmd, make_partial, publish_repos, report, run, step_states, Moto};

#[test]
fn dev_release_to_s3_resumes_after_a_lost_object_without_duplicates() {
    let moto = Moto::start();
    moto.create_bucket("relbucket-test");
    let d = tempfile::tempdir().unwrap();
    make_partial(&d.path().join("p1"), "8.1.1", "jammy-x86_64", b"jammy x86_64 bytes");
    make_partial(&d.path().join("p2"), "8.1.1", "noble-arm64", b"noble arm64 bytes");
    let ev = d.path().join("event.json");
    std::fs::write(&ev, r#"{"inputs":{"version":"8.1.1","environment":"dev"}}"#).unwrap();
    let go = || {
        let mut c = cmd(d.path());
        moto.env(&mut c);
        // The production bucket is set too and must not be touched by a dev release.
        c.env("AWS_TEST_BUCKET", "relbucket-test").env("AWS_S3_BUCKET", "relbucket-prod");
        c.args(["--json", "release", "--payload"]).arg(&ev).args(["--merge", "p1", "p2"]);
        run(&mut c)
    };
    let (code, out, err) = go();
    assert_eq!(code, 0, "{out}\n{err}");
    let v = report(&out);
    assert_eq!(
        step_states(&v),
        [
            "done",
            "done",
            "done",
            "done",
            "skipped_not_for_environment",
            "skipped_not_for_environment",
            "skipped_not_for_environment",
            "skipped_not_for_environment",
            "skipped_not_for_environment"
        ]
    );
    let keys = moto.keys("relbucket-test", "releases/");
    // 2 tarballs, 2 SBOMs, their .sha256, SHA256SUMS, its .asc, the public key, the provenance, the manifest.
    assert_eq!(keys.len(), 13, "{keys:?}");
    for k in [
        "releases/valkey-8.1.1-jammy-x86_64.tar.gz",
        "releases/valkey-8.1.1-noble-arm64.tar.gz.sha256",
        "releases/valkey-8.1.1.SHA256SUMS",
        "releases/valkey-8.1.1.manifest.json",
    ] {
        assert!(keys.contains(&k.to_string()), "{k} missing: {keys:?}");
    }
    assert_eq!(
        v["artifacts"][0]["url"],
        "s3://relbucket-test/releases/valkey-8.1.1-jammy-x86_64.tar.gz"
    );

    // Re-run: upload and verify are already done.
    let (code, out, err) = go();
    assert_eq!(code, 0, "{err}");
    let v = report(&out);
    assert_eq!(v["steps"][5]["state"], "skipped_already_done");
    assert_eq!(v["steps"][6]["state"], "skipped_already_done");

    // An object lost from the bucket: the next run puts back that one object and verifies again.
    moto.delete("relbucket-test", "releases/valkey-8.1.1-noble-arm64.tar.gz");
    assert_eq!(moto.keys("relbucket-test", "releases/").len(), 12);
    let (code, out, err) = go();
    assert_eq!(code, 0, "{err}");
    let v = report(&out);
    assert_eq!(v["steps"][5]["state"], "done");
    assert!(
        v["steps"][5]["summary"]
            .as_str()
            .unwrap()
            .starts_with("1 uploaded, 12 already there"),
        "{}",
        v["steps"][5]["summary"]
    );
    assert_eq!(v["steps"][6]["state"], "done");
    assert_eq!(moto.keys("relbucket-test", "releases/").len(), 13);
    // The production bucket was never created nor written.
    let (st, _) = moto.http("GET", "/relbucket-prod?list-type=2");
    assert_eq!(st, 404);
}

#[test]
fn store_down_fails_upload_then_rerun_completes() {
    let d = tempfile::tempdir().unwrap();
    make_partial(&d.path().join("p1"), "8.1.1", "jammy-x86_64", b"jammy bytes");
    // Nothing listens on this port: upload fails (exit 3), later steps not reached.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut c = cmd(d.path());
    c.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-west-2")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_MAX_ATTEMPTS", "2")
        .env("AWS_TEST_BUCKET", "relbucket-down")
        .args(["release", "--version", "8.1.1", "--environment", "dev", "--merge", "p1"]);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.contains("upload       failed"), "{out}");
    assert!(out.contains("verify       not reached"), "{out}");
    assert!(out.contains("Release NOT complete: step upload failed"), "{out}");

    // The same command against a server that is up completes; the build is not redone.
    let moto = Moto::start();
    moto.create_bucket("relbucket-down");
    let mut c = cmd(d.path());
    moto.env(&mut c);
    c.env("AWS_TEST_BUCKET", "relbucket-down")
        .args(["--json", "release", "--version", "8.1.1", "--environment", "dev", "--merge", "p1"]);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{err}");
    let v = report(&out);
    assert_eq!(v["steps"][5]["state"], "done");
    assert_eq!(moto.keys("relbucket-down", "releases/").len(), 9);
    let st: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.path().join("dist/release-state.json")).unwrap()).unwrap();
    assert!(st["steps"]["upload"]["attempts"].as_u64().unwrap() >= 1);
    assert_eq!(st["steps"]["upload"]["state"], "done");
}

#[test]
fn embedded_default_uploads_to_the_local_store_and_verify_catches_corruption() {
    let d = tempfile::tempdir().unwrap();
    make_partial(&d.path().join("p1"), "9.1.0-rc2", "noble-x86_64", b"noble bytes");
    let go = || run(cmd(d.path()).args(["release", "--version", "9.1.0-rc2", "--environment", "dev", "--merge", "p1"]));
    let (code, out, err) = go();
    assert_eq!(code, 0, "{out}\n{err}");
    let obj = d.path().join("dist/bucket/releases/valkey-9.1.0-rc2-noble-x86_64.tar.gz");
    assert_eq!(std::fs::read(&obj).unwrap(), b"noble bytes");
    assert!(out.contains("file://"), "{out}");
    // Someone corrupts the stored object: a dev re-run overwrites it (dev may) and verifies again.
    std::fs::write(&obj, b"corrupted").unwrap();
    let (code, out, err) = go();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("1 overwritten"), "{out}");
    assert_eq!(std::fs::read(&obj).unwrap(), b"noble bytes");
}

#[test]
fn prod_release_with_local_checkouts_resumes_after_a_publish_failure_without_duplicates() {
    use release_support::{git, repo_with_remote};
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    make_partial(&root.join("p1"), "9.1.2", "jammy-x86_64", b"jammy x86_64 9.1.2");
    make_partial(&root.join("p2"), "9.1.2", "noble-arm64", b"noble arm64 9.1.2");
    let hashes = repo_with_remote(root, "valkey-hashes", "main");
    let container = repo_with_remote(root, "valkey-container", "mainline");
    let website = root.join("checkouts/valkey-io.github.io");
    let go = || {
        let mut c = cmd(root);
        c.args(["--json", "release", "--version", "9.1.2", "--environment", "prod"]).args([
            "--store",
            "file://store",
            "--merge",
            "p1",
            "p2",
            "--date",
            "2026-11-25",
            "--push",
            "--allow-local-store",
        ]);
        c.arg("--hashes-checkout")
            .arg(&hashes)
            .arg("--container-checkout")
            .arg(&container)
            .arg("--website-checkout")
            .arg(&website);
        run(&mut c)
    };
    // Run 1: the website checkout does not exist yet: hashes and container are done, website fails.
    let (code, out, err) = go();
    assert_ne!(code, 0, "{out}\n{err}");
    let v = report(&out);
    assert_eq!(
        step_states(&v),
        ["done", "done", "done", "done", "done", "done", "done", "failed", "not_reached"],
        "{out}\n{err}"
    );
    assert_eq!(v["error"]["step"], "website");

    // Run 2, with the checkout in place: only the website step runs; nothing is duplicated.
    repo_with_remote(root, "valkey-io.github.io", "main");
    let (code, out, err) = go();
    assert_eq!(code, 0, "{out}\n{err}");
    let v = report(&out);
    assert_eq!(
        step_states(&v),
        // source: re-checked, same partial dists; build: merging is always redone (cheap, idempotent).
        [
            "skipped_already_done",
            "done",
            "skipped_already_done",
            "skipped_already_done",
            "skipped_already_done",
            "skipped_already_done",
            "skipped_already_done",
            "done",
            "skipped_not_for_environment"
        ],
        "{out}"
    );
    // Run 3: everything already done.
    let (code, out, _) = go();
    assert_eq!(code, 0);
    let v = report(&out);
    assert!(
        v["steps"].as_array().unwrap()[2..12]
            .iter()
            .filter(|s| s["step"] != "repositories") // no packages: not configured
            .all(|s| s["state"] == "skipped_already_done"),
        "{out}"
    );

    // One hash line, pushed once; one branch per PR repository; the page exists on its branch.
    let readme = git(&root.join("remotes/valkey-hashes.git"), &["show", "main:README"]);
    assert_eq!(readme.lines().filter(|l| l.contains("valkey-9.1.2.tar.gz")).count(), 1, "{readme}");
    let log = git(&root.join("remotes/valkey-hashes.git"), &["log", "--oneline", "main"]);
    assert_eq!(log.lines().filter(|l| l.contains("Update hash for 9.1.2")).count(), 1, "{log}");
    let clog = git(&root.join("remotes/valkey-container.git"), &["log", "--oneline", "update-9.1.2"]);
    assert_eq!(
        clog.lines()
            .filter(|l| l.contains("Update versions.json and Dockerfiles for version 9.1.2"))
            .count(),
        1,
        "{clog}"
    );
    // The bundle dispatch (no checkout for it, no token) is written as the request it would send.
    let dispatch = std::fs::read_to_string(root.join("dist/handoff/valkey-bundle/dispatch.json")).unwrap();
    assert!(dispatch.contains("\"event_type\": \"valkey-release\""), "{dispatch}");
    let page = git(
        &root.join("remotes/valkey-io.github.io.git"),
        &["show", "update-website-9.1.2:content/download/releases/v9-1-2.md"],
    );
    assert!(page.contains("9.1.2") && page.contains("jammy") && page.contains("noble"), "{page}");
    assert!(!page.contains("bookworm"), "only built artifacts are listed");
    // The objects went to the local store once.
    assert!(root.join("store/releases/valkey-9.1.2.SHA256SUMS").is_file());
}

#[test]
fn dev_release_builds_in_docker_uploads_and_resumes() {
    let image = builder_image();
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("fakevalkey");
    release_support::copy_tree(&release_support::fakevalkey(), &src);
    let go = || {
        run(cmd(d.path())
            .args(["--json", "release", "--version", "8.1.1", "--environment", "dev"])
            .args(["--target", "bookworm-x86_64", "--source", "fakevalkey", "--store", "file://store"])
            .args(["--builder-image", &image]))
    };
    let (code, out, err) = go();
    assert_eq!(code, 0, "{out}\n{err}");
    let v = report(&out);
    assert_eq!(&step_states(&v)[..4], ["done", "done", "done", "done"], "{out}");
    assert!(d.path().join("store/releases/valkey-8.1.1-bookworm-x86_64.tar.gz").is_file());
    assert!(d.path().join("dist/logs/bookworm-x86_64.log").is_file());
    // Re-run: the artifact is present with its checksum: no second build, no upload.
    let (code, out, err) = go();
    assert_eq!(code, 0, "{out}\n{err}");
    let v = report(&out);
    assert_eq!(v["steps"][1]["state"], "skipped_already_done", "{out}");
    assert_eq!(v["steps"][5]["state"], "skipped_already_done", "{out}");
}

#[test]
fn prod_rerun_refuses_to_overwrite_a_published_object_that_differs() {
    let d = tempfile::tempdir().unwrap();
    make_partial(&d.path().join("p1"), "9.1.2", "jammy-x86_64", b"jammy 9.1.2");
    let repos = publish_repos();
    let go = || {
        run(cmd(d.path())
            .args(["release", "--version", "9.1.2", "--environment", "prod"])
            .args([
                "--store",
                "file://store",
                "--allow-local-store",
                "--merge",
                "p1",
                "--date",
                "2026-11-25",
                "--repos",
            ])
            .arg(&repos))
    };
    let (code, out, err) = go();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("For review (nothing was pushed"), "{out}");
    assert!(d
        .path()
        .join("dist/handoff/valkey-hashes/0001-Update-hash-for-9.1.2.patch")
        .is_file());
    // Someone changes a published object: prod never overwrites it; the run stops at upload (exit 4).
    let obj = d.path().join("store/releases/valkey-9.1.2-jammy-x86_64.tar.gz");
    std::fs::write(&obj, b"tampered").unwrap();
    let (code, out, err) = go();
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(
        out.contains("upload       failed") && out.contains("verify       not reached"),
        "{out}"
    );
    assert_eq!(std::fs::read(&obj).unwrap(), b"tampered", "prod must not overwrite");
}
