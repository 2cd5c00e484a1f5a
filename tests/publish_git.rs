//! Local mode against real git repositories in a temp dir (a bare remote and a clone), and
//! hand-off mode (patch files that `git am` applies).

mod publish_support;
use publish_support::*;
use std::path::Path;

fn count_commits(home: &Path, repo: &Path, rev: &str) -> usize {
    git(home, repo, &["rev-list", "--count", rev]).trim().parse().unwrap()
}

/// `publish <what> --version <version> --source-sha256 SHA_A --push --checkout <clone>`, with a
/// dist/ that does not exist (the digest is given): commit in the checkout and push.
fn publish_and_push(home: &Path, what: &str, version: &str, clone: &Path) -> Run {
    let mut c = bin(home);
    c.args([
        "publish",
        what,
        "--version",
        version,
        "--source-sha256",
        SHA_A,
        "--push",
        "--checkout",
    ])
    .arg(clone)
    .arg("--dist")
    .arg(home.join("nodist"));
    run(c)
}

/// `publish hashes --version 9.1.2 --source-sha256 <sha> --checkout <clone>`: commit the hash line
/// in the checkout, no push.
fn publish_hashes(home: &Path, sha: &str, clone: &Path) -> Run {
    let mut c = bin(home);
    c.args(["publish", "hashes", "--version", "9.1.2", "--source-sha256", sha, "--checkout"])
        .arg(clone);
    run(c)
}

#[test]
fn hashes_commit_signed_off_pushed_and_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let (remote, clone) = remote_and_clone(home, &repo_fixture("valkey-hashes"), "main");

    let r = publish_and_push(home, "hashes", "9.1.2", &clone);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("committed and pushed"), "{}", r.stdout);
    assert!(r.stderr.contains("valkey-8.0.4.tar.gz has 2 lines"), "{}", r.stderr);

    // The remote's main has exactly one new commit, signed off, by the default identity.
    assert_eq!(count_commits(home, &remote, "main"), 2);
    let log = git(home, &remote, &["log", "-1", "--format=%an <%ae>%n%s%n%b", "main"]);
    assert!(
        log.starts_with("valkey-release <noreply@valkey.io>\nUpdate hash for 9.1.2\n"),
        "{log}"
    );
    assert!(log.contains("Signed-off-by: valkey-release <noreply@valkey.io>"), "{log}");
    let readme = git(home, &remote, &["show", "main:README"]);
    let old = read(&repo_fixture("valkey-hashes").join("README"));
    assert_eq!(
        readme,
        format!("{old}hash valkey-9.1.2.tar.gz sha256 {SHA_A} https://github.com/valkey-io/valkey/archive/refs/tags/9.1.2.tar.gz\n")
    );

    // Re-run: nothing to change, no commit.
    let r = publish_and_push(home, "hashes", "9.1.2", &clone);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("nothing to change"), "{}", r.stdout);
    assert_eq!(count_commits(home, &remote, "main"), 2);

    // Re-tag without --replace: exit 4, nothing written.
    let r = publish_hashes(home, SHA_B, &clone);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("--replace"));
    assert!(git(home, &clone, &["status", "--porcelain"]).is_empty());
}

#[test]
fn hashes_uses_the_configured_identity_and_refuses_a_dirty_checkout() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let (_remote, clone) = remote_and_clone(home, &repo_fixture("valkey-hashes"), "main");
    git(home, &clone, &["config", "user.name", "Release Person"]);
    git(home, &clone, &["config", "user.email", "rp@example.com"]);
    std::fs::write(clone.join("stray.txt"), "x").unwrap();
    let r = publish_hashes(home, SHA_A, &clone);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("uncommitted changes"), "{}", r.stderr);
    std::fs::remove_file(clone.join("stray.txt")).unwrap();
    let r = publish_hashes(home, SHA_A, &clone);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = git(home, &clone, &["log", "-1", "--format=%an <%ae>%n%b"]);
    assert!(log.starts_with("Release Person <rp@example.com>\n"), "{log}");
    assert!(log.contains("Signed-off-by: Release Person <rp@example.com>"), "{log}");
}

#[test]
fn container_branch_commit_push_and_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let (remote, clone) = remote_and_clone(home, &repo_fixture("valkey-container"), "mainline");
    let r = publish_and_push(home, "container", "9.2.0", &clone);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);

    // Branch update-9.2.0 on the remote: upstream's two commits on top of mainline, each
    // with the DCO trailer of the committer; mainline untouched.
    assert_eq!(count_commits(home, &remote, "mainline"), 1);
    assert_eq!(count_commits(home, &remote, "update-9.2.0"), 3);
    let log = git(home, &remote, &["log", "--format=%B%x00", "mainline..update-9.2.0"]);
    assert_eq!(
        log,
        "Update container aliases for version 9.2.0\n\nSigned-off-by: valkey-release <noreply@valkey.io>\n\0\n\
         Update versions.json and Dockerfiles for version 9.2.0\n\nSigned-off-by: valkey-release <noreply@valkey.io>\n\0\n"
    );
    let first = git(home, &remote, &["diff", "--name-only", "mainline", "update-9.2.0~1"]);
    assert_eq!(first, "9.2/alpine/Dockerfile\n9.2/debian/Dockerfile\nversions.json\n");
    let files = git(home, &remote, &["diff", "--name-status", "mainline", "update-9.2.0"]);
    assert_eq!(
        files,
        "A\t9.2/alpine/Dockerfile\nA\t9.2/debian/Dockerfile\nM\tgenerate-stackbrew-library.sh\nM\tversions.json\n"
    );
    // The script keeps its executable mode.
    let mode = git(home, &remote, &["ls-tree", "update-9.2.0", "generate-stackbrew-library.sh"]);
    assert!(mode.starts_with("100755"), "{mode}");

    // Re-run (the clone is now on the branch): nothing new.
    let r = publish_and_push(home, "container", "9.2.0", &clone);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("nothing to change"), "{}", r.stdout);
    assert_eq!(count_commits(home, &remote, "update-9.2.0"), 3);

    // Re-run from mainline (branch exists locally): still nothing new.
    git(home, &clone, &["checkout", "--quiet", "mainline"]);
    let r = publish_and_push(home, "container", "9.2.0", &clone);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("nothing to change"), "{}", r.stdout);
    assert_eq!(count_commits(home, &clone, "update-9.2.0"), 3);
}

#[test]
fn container_apply_templates_runs_the_repositorys_script() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let fixture = home.join("fixture");
    copy_tree(&repo_fixture("valkey-container"), &fixture);
    // A stand-in for the repository's apply-templates.sh: writes M.m/debian/Dockerfile from versions.json.
    let script = "#!/bin/sh\nset -e\nv=$(python3 -c 'import json,sys; print(json.load(open(\"versions.json\"))[sys.argv[1]][\"version\"])' \"$1\")\nmkdir -p \"$1/debian\"\necho \"ENV VALKEY_VERSION $v\" > \"$1/debian/Dockerfile\"\n";
    std::fs::write(fixture.join("apply-templates.sh"), script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(fixture.join("apply-templates.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (_remote, clone) = remote_and_clone(home, &fixture, "mainline");
    let apply_templates_911 = [
        "publish",
        "container",
        "--version",
        "9.1.1",
        "--source-sha256",
        SHA_911,
        "--apply-templates",
    ];
    let mut c = bin(home);
    c.args(apply_templates_911).arg("--checkout").arg(&clone);
    let r = run(c);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(read(&clone.join("9.1/debian/Dockerfile")), "ENV VALKEY_VERSION 9.1.1\n");
    let files = git(home, &clone, &["diff", "--name-only", "mainline", "update-9.1.1"]);
    assert_eq!(files, "9.1/debian/Dockerfile\nversions.json\n");
    // Without --checkout it is refused.
    let mut c = bin(home);
    c.args(apply_templates_911).arg("--handoff").arg(home.join("h"));
    assert_eq!(run(c).code, 2);
}

#[test]
fn website_handoff_patch_applies_with_git_am() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let dist = home.join("dist");
    write_manifest(&dist, "9.1.1", OFFICIAL, None);
    let out = home.join("handoff");
    let base = repo_fixture("valkey-io.github.io");
    // `publish website` of 9.1.1 (trixie, Alpine 3.24; `date`: a `--date` option or none) for the
    // tree `base`, as a hand-off into `out`.
    let website_handoff = |date: &[&str], base: &Path, out: &Path| {
        let mut c = bin(home);
        c.args(["publish", "website", "--version", "9.1.1"])
            .args(date)
            .args(["--debian-suite", "trixie", "--alpine-version", "3.24"])
            .arg("--dist")
            .arg(&dist)
            .arg("--base")
            .arg(base)
            .arg("--handoff")
            .arg(out);
        run(c)
    };
    let r = website_handoff(&["--date", "2026-07-21"], &base, &out);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let root = out.join("valkey-io.github.io");
    let page = read(&root.join("files/content/download/releases/v9-1-1.md"));
    assert_eq!(page, publish_support::page("v9-1-1.md"));
    let pr = read(&root.join("PR.md"));
    assert!(pr.contains("Branch: update-website-9.1.1"), "{pr}");
    assert!(
        pr.contains("https://download.valkey.io/releases/valkey-9.1.1-noble-arm64.tar.gz"),
        "{pr}"
    );
    assert!(root.join("valkey-io.github.io.diff").is_file());

    // The patch applies to a clone with `git am`, giving the real page byte for byte.
    let (_remote, clone) = remote_and_clone(home, &base, "main");
    let patch = root.join("0001-Updates-downloads-section-for-version-9.1.1.patch");
    git(
        home,
        &clone,
        &[
            "-c",
            "user.name=R",
            "-c",
            "user.email=r@example.com",
            "am",
            "--quiet",
            patch.to_str().unwrap(),
        ],
    );
    assert_eq!(
        read(&clone.join("content/download/releases/v9-1-1.md")),
        publish_support::page("v9-1-1.md")
    );
    let log = git(home, &clone, &["log", "-1", "--format=%an%n%s%n%b"]);
    assert!(
        log.starts_with("valkey-release\nUpdates downloads section for version 9.1.1\n"),
        "{log}"
    );
    assert!(log.contains("Signed-off-by: valkey-release <noreply@valkey.io>"));

    // Against the updated tree (the clone), nothing to change and nothing written.
    let out2 = home.join("handoff2");
    let r = website_handoff(&[], &clone, &out2);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("nothing to change"), "{}", r.stdout);
    assert!(!out2.exists());
}

#[test]
fn website_dry_run_prints_the_diff_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let dist = home.join("dist");
    write_manifest(&dist, "9.1.0-rc2", OFFICIAL, None);
    let container = repo_fixture("valkey-container");
    let (_remote, clone) = remote_and_clone(home, &repo_fixture("valkey-io.github.io"), "main");
    let mut c = bin(home);
    c.args(["publish", "website", "--version", "9.1.0-rc2", "--date", "2026-04-28", "--dry-run"])
        .arg("--dist")
        .arg(&dist)
        .arg("--container-checkout")
        .arg(&container)
        .arg("--checkout")
        .arg(&clone);
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("+++ b/content/download/releases/v9-1-0-rc2.md"), "{}", r.stdout);
    assert!(r.stdout.contains("+                - \"9.1-alpine3.23\""), "{}", r.stdout);
    assert!(r.stdout.contains("would change 1 file"), "{}", r.stdout);
    assert!(git(home, &clone, &["status", "--porcelain"]).is_empty());
    assert_eq!(git(home, &clone, &["branch", "--format=%(refname:short)"]), "main\n");
}

#[test]
fn nowhere_to_apply_and_bad_input_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let mut c = bin(home);
    c.args(["publish", "hashes", "--version", "9.1.2", "--source-sha256", SHA_A]);
    let r = run(c);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--checkout") && r.stderr.contains("--handoff"), "{}", r.stderr);
    for bad in [
        vec!["--version", "unstable"],
        vec!["--version", "9.1"],
        vec!["--version", "9.1.2", "--date", "21-07-2026"],
        vec!["--version", "9.1.2", "--source-sha256", "xyz"],
    ] {
        let mut c = bin(home);
        c.args(["publish", "hashes", "--handoff"])
            .arg(home.join("h"))
            .arg("--base")
            .arg(repo_fixture("valkey-hashes"))
            .args(&bad);
        let r = run(c);
        assert_eq!(r.code, 2, "{bad:?}: {}", r.stderr);
    }
}

#[test]
fn a_repo_name_that_escapes_the_handoff_directory_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let out = home.join("a/b/handoff");
    // A directory the old code would have emptied (remove_dir_all of <handoff>/../../x/files).
    let victim = home.join("a/x/files");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("keep"), "keep").unwrap();
    for bad in ["../../x", "..", "a/b", ""] {
        let mut c = bin(home);
        c.args(["publish", "hashes", "--version", "9.1.2", "--source-sha256", SHA_A, "--repo", bad])
            .arg("--base")
            .arg(repo_fixture("valkey-hashes"))
            .arg("--handoff")
            .arg(&out);
        let r = run(c);
        assert_eq!(r.code, 2, "--repo {bad:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("--repo") && r.stderr.contains("not a GitHub name"),
            "{}",
            r.stderr
        );
    }
    let mut c = bin(home);
    c.args([
        "publish",
        "hashes",
        "--version",
        "9.1.2",
        "--source-sha256",
        SHA_A,
        "--owner",
        "../o",
    ])
    .arg("--base")
    .arg(repo_fixture("valkey-hashes"))
    .arg("--handoff")
    .arg(&out);
    assert_eq!(run(c).code, 2);
    assert!(!out.exists(), "nothing written under --handoff");
    assert!(!home.join("a/x/files/0001-Update-hash-for-9.1.2.patch").exists());
    assert_eq!(
        std::fs::read_to_string(victim.join("keep")).unwrap(),
        "keep",
        "nothing removed outside --handoff"
    );
}
