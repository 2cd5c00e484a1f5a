//! Parity with today's Valkey release (issue 12): a prod release of a release candidate and of a
//! GA `M.m.0` through the GitHub emulation makes exactly upstream's set of commits, branches, PRs
//! and dispatches (SPEC.md, "Commits and pull requests"), each commit with its DCO trailer; a
//! re-run makes none. The upload goes to the local S3 server (moto); the build is two partial
//! dists merged (no Docker needed).

mod release_support;

use release_support::gh::GitHub;
use release_support::{cmd, make_partial, report, run, step_states, Moto, SOURCE_SHA256};
use serde_json::json;

const TOKEN: &str = "ghp_PARITYTESTTOKEN0123456789SECRETxyz";
/// The page the build generated from the release's source (utils/generate-module-api-doc.rb).
const MODULES_API_REF: &str = "---\ntitle: \"Modules API reference\"\n---\n\n## Sections\n";
const DCO: &str = "\n\nSigned-off-by: valkey-release <noreply@valkey.io>\n";

/// Run `release V prod` twice against a fresh emulation; return it with the first report.
async fn release_twice(version: &str) -> (GitHub, serde_json::Value) {
    let moto = Moto::start();
    let bucket = format!("parity-{}", version.replace('.', "-"));
    moto.create_bucket(&bucket);
    let d = tempfile::tempdir().unwrap();
    make_partial(&d.path().join("p1"), version, "jammy-x86_64", b"jammy x86_64");
    // What the modules-doc hook of a split build job leaves beside its partial dist.
    let facts = d.path().join("p1/facts/jammy-x86_64");
    std::fs::create_dir_all(&facts).unwrap();
    std::fs::write(facts.join("modules-api-ref.md"), MODULES_API_REF).unwrap();
    make_partial(&d.path().join("p2"), version, "noble-arm64", b"noble arm64");
    let gh = GitHub::start_with_publish_repos().await;
    let go = || {
        let mut c = cmd(d.path());
        moto.env(&mut c);
        c.env("AWS_S3_BUCKET", &bucket)
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_API_URL", gh.uri())
            .args(["--json", "release", "--version", version, "--environment", "prod"])
            .args(["--merge", "p1", "p2", "--date", "2026-11-25"]);
        run(&mut c)
    };
    let (code, out, err) = go();
    assert_eq!(code, 0, "{out}\n{err}");
    let v = report(&out);
    let n = gh.requests().await.len();
    let (code, out2, err2) = go();
    assert_eq!(code, 0, "{out2}\n{err2}");
    let again = gh.requests().await;
    let writes: Vec<String> = again[n..]
        .iter()
        .filter(|(m, ..)| m != "GET")
        .map(|(m, p, ..)| format!("{m} {p}"))
        .collect();
    assert!(writes.is_empty(), "{version}: the re-run wrote to GitHub: {writes:?}");
    let states = step_states(&report(&out2));
    assert!(
        states[2..]
            .iter()
            .all(|s| s == "skipped_already_done" || s == "skipped_not_for_environment"),
        "{version}: {states:?}"
    );
    (gh, v)
}

/// (repo, branch, commit messages on the branch not on the base, oldest first).
type Commits = Vec<(String, String, Vec<String>)>;
/// (repo, head, base, title) of each PR.
type Prs = Vec<(String, String, String, String)>;

/// Every commit pushed and every PR opened, in all five repositories.
fn snapshot(gh: &GitHub) -> (Commits, Prs) {
    let mut commits = Vec::new();
    let mut prs = Vec::new();
    for (repo, base) in [
        ("valkey-hashes", "main"),
        ("valkey-container", "mainline"),
        ("valkey-io.github.io", "main"),
        ("valkey-bundle", "main"),
        ("valkey-doc", "main"),
    ] {
        for b in gh.branches(repo) {
            // The base branch: what was pushed to it since the seed.
            let msgs = if b == base {
                let mut l = gh.log(repo, &b);
                l.pop(); // the seed
                l.reverse();
                l
            } else {
                gh.commits_between(repo, base, &b)
            };
            if !msgs.is_empty() {
                commits.push((repo.to_string(), b.clone(), msgs));
            }
        }
        for p in gh.prs(repo) {
            assert!(p.open && p.base == base, "{p:?}");
            prs.push((repo.to_string(), p.head, p.base, p.title));
        }
    }
    (commits, prs)
}

fn s(x: &str) -> String {
    x.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_candidate_makes_upstreams_commits_prs_and_dispatch_and_a_rerun_none() {
    let v = "9.2.0-rc1";
    let (gh, rep) = release_twice(v).await;
    let (commits, prs) = snapshot(&gh);
    assert_eq!(
        commits,
        vec![
            (s("valkey-hashes"), s("main"), vec![format!("Update hash for {v}{DCO}")]),
            (
                s("valkey-container"),
                format!("update-{v}"),
                // A release candidate moves no alias: one commit.
                vec![format!("Update versions.json and Dockerfiles for version {v}{DCO}")]
            ),
            (
                s("valkey-io.github.io"),
                format!("update-website-{v}"),
                vec![format!("Updates downloads section for version {v}{DCO}")]
            ),
        ]
    );
    assert_eq!(
        prs,
        vec![
            (
                s("valkey-container"),
                format!("update-{v}"),
                s("mainline"),
                format!("Update to version {v}")
            ),
            (
                s("valkey-io.github.io"),
                format!("update-website-{v}"),
                s("main"),
                format!("Update website for version {v}")
            ),
        ]
    );
    assert_eq!(
        gh.dispatches(),
        vec![(
            s("valkey-bundle"),
            json!({"event_type": "valkey-release", "client_payload": {"version": v, "component": "valkey"}})
        )]
    );
    // The rc page, with the M.m tag forms.
    let page = gh.files("valkey-io.github.io", &format!("update-website-{v}"))["content/download/releases/v9-2-0-rc1.md"]
        .0
        .clone();
    for t in ["\"9.2\"", "\"9.2-trixie\"", "\"9.2-alpine\"", "\"9.2-alpine3.23\""] {
        assert!(page.contains(t), "{t}: {page}");
    }
    // A new minor: 9.2/ created from 9.1/, listed in the PR body.
    let body = &gh.prs("valkey-container")[0].body;
    assert!(body.contains("- `9.2/debian/Dockerfile`") && body.contains("created"), "{body}");
    let states = step_states(&rep);
    assert_eq!(
        states.last().map(String::as_str),
        Some("skipped_not_for_environment"),
        "docs: {states:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ga_of_a_new_minor_makes_upstreams_commits_prs_and_dispatch_and_a_rerun_none() {
    let v = "9.2.0";
    let (gh, rep) = release_twice(v).await;
    assert_eq!(step_states(&rep), ["done"; 9]);
    let (commits, prs) = snapshot(&gh);
    assert_eq!(
        commits,
        vec![
            (s("valkey-hashes"), s("main"), vec![format!("Update hash for {v}{DCO}")]),
            (
                s("valkey-container"),
                format!("update-{v}"),
                vec![
                    format!("Update versions.json and Dockerfiles for version {v}{DCO}"),
                    format!("Update container aliases for version {v}{DCO}"),
                ]
            ),
            (
                s("valkey-io.github.io"),
                format!("update-website-{v}"),
                vec![format!("Updates downloads section for version {v}{DCO}")]
            ),
            (
                s("valkey-doc"),
                format!("update-docs-{v}"),
                vec![format!("Update documentation for Valkey {v}{DCO}")]
            ),
        ]
    );
    assert_eq!(
        prs,
        vec![
            (
                s("valkey-container"),
                format!("update-{v}"),
                s("mainline"),
                format!("Update to version {v}")
            ),
            (
                s("valkey-io.github.io"),
                format!("update-website-{v}"),
                s("main"),
                format!("Update website for version {v}")
            ),
            (
                s("valkey-doc"),
                format!("update-docs-{v}"),
                s("main"),
                format!("Update documentation for Valkey {v}")
            ),
        ]
    );
    assert_eq!(
        gh.dispatches(),
        vec![(
            s("valkey-bundle"),
            json!({"event_type": "valkey-release", "client_payload": {"version": v, "component": "valkey"}})
        )]
    );
    // valkey-doc: the releases row (minor 2: security = DATE+5y), Makefile, conf link.
    let doc = gh.files("valkey-doc", &format!("update-docs-{v}"));
    let rel = &doc["topics/releases.md"].0;
    assert!(
        rel.contains("| -- | -- | -- | -- |\n| 9.2 | 2026-11-25 | 2029-11-25 | 2031-11-25 |\n| 9.0 |"),
        "{rel}"
    );
    assert!(doc["Makefile"].0.contains("VERSION ?= 9.2.0\nDATE ?= 2026-11-25\n"));
    assert!(doc["topics/valkey.conf.md"].0.contains(
        "* The self documented [valkey.conf for Valkey 9.2](https://raw.githubusercontent.com/valkey-io/valkey/9.2/valkey.conf).\n* The self documented [valkey.conf for Valkey 9.0]"
    ));
    // modules-api-ref.md is the page the build generated, handed from the merged partial dist.
    assert_eq!(doc["topics/modules-api-ref.md"].0, MODULES_API_REF);
    // The aliases moved to the new minor; the hash line has the source digest.
    let sb = &gh.files("valkey-container", &format!("update-{v}"))["generate-stackbrew-library.sh"].0;
    assert!(sb.contains("\t[9.2]='9 latest'\n") && !sb.contains("[9.1]="), "{sb}");
    let readme = &gh.files("valkey-hashes", "main")["README"].0;
    assert!(
        readme.contains(&format!("hash valkey-9.2.0.tar.gz sha256 {SOURCE_SHA256} ")),
        "{readme}"
    );
}
