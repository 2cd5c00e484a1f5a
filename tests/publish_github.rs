//! GitHub mode against a local emulation of the REST API paths used (wiremock), asserting the
//! exact requests: one commit, one PR, nothing on the re-run, 422 handled, 5xx and
//! 403-with-Retry-After retried; and the token never printed.

mod publish_support;
use publish_support::gh::*;
use publish_support::*;
use serde_json::json;
use std::time::Duration;
use valkey_release::publish::container::Container;
use valkey_release::publish::hashes::Hashes;
use valkey_release::publish::website::Website;
use valkey_release::publish::{self, Apply, Options, Secret, State};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const TOKEN: &str = "ghp_TESTTOKEN0123456789abcdefSECRET";

fn opts(server: &MockServer, version: &str, dist: &std::path::Path) -> Options {
    let mut o = Options::new(valkey_release::version::Version::parse(version).unwrap());
    o.dist = dist.to_path_buf();
    o.apply = Apply::GitHub;
    o.github.api_url = server.uri();
    o.github.token = Some(Secret(TOKEN.into()));
    o.github.retry_base = Duration::from_millis(10);
    o
}

/// `opts` for the hash line of 9.1.2 with the source digest SHA_A.
fn hashes_912_opts(server: &MockServer, dist: &std::path::Path) -> Options {
    let mut o = opts(server, "9.1.2", dist);
    o.source_sha256 = Some(SHA_A.into());
    o
}

/// A temp dir holding `dist/` with a manifest of `version` for the official targets.
fn official_dist(version: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    write_manifest(&dist, version, OFFICIAL, None);
    (tmp, dist)
}

/// Matches `m` requests to the path `sub` of `repo`'s API, e.g. `on("POST", repo, "/git/trees")`.
fn on(m: &str, repo: &str, sub: &str) -> MockBuilder {
    Mock::given(method(m)).and(path(format!("{}{sub}", base(repo))))
}

/// An answer with HTTP `status` and the JSON `body`.
fn answer(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// `mock` answers `response` to its first request only, ahead of the other mocks (priority 1):
/// a failure that a retry gets past.
async fn mount_once(s: &MockServer, mock: MockBuilder, response: ResponseTemplate) {
    mock.respond_with(response).up_to_n_times(1).with_priority(1).mount(s).await;
}

/// `mock` must not be called: it answers 500 and expects no request.
async fn mount_never(s: &MockServer, mock: MockBuilder) {
    mock.respond_with(ResponseTemplate::new(500)).expect(0).mount(s).await;
}

/// Branch `branch` of `repo` is commit `sha`, which holds the fixture copy of `repo`.
async fn mount_repo(s: &MockServer, repo: &str, branch: &str, sha: &str) {
    mount_ref(s, repo, branch, sha).await;
    mount_files(s, repo, sha, &repo_fixture(repo)).await;
}

async fn pr_list(s: &MockServer, repo: &str, branch: &str, prs: serde_json::Value) {
    on("GET", repo, "/pulls")
        .and(query_param("head", format!("{OWNER}:{branch}")))
        .and(query_param("state", "open"))
        .respond_with(answer(200, prs))
        .mount(s)
        .await;
}

/// A POST to the path `sub` of `repo` answers 201 with `body`; `calls` of them are expected.
async fn mount_created(s: &MockServer, repo: &str, sub: &str, body: serde_json::Value, calls: u64) {
    on("POST", repo, sub).respond_with(answer(201, body)).expect(calls).mount(s).await;
}

/// POST mocks of the write paths with the number of calls expected.
async fn writes(s: &MockServer, repo: &str, trees: u64, commits: u64, refs: u64, pulls: u64) {
    mount_created(s, repo, "/git/trees", json!({"sha": "newtree"}), trees).await;
    mount_created(s, repo, "/git/commits", json!({"sha": "newcommit"}), commits).await;
    mount_created(s, repo, "/git/refs", json!({"ref": "x", "object": {"sha": "newcommit"}}), refs).await;
    let pr = json!({"number": 42, "html_url": "https://github.com/valkey-io/x/pull/42"});
    mount_created(s, repo, "/pulls", pr, pulls).await;
}

#[tokio::test]
async fn container_one_commit_one_pr_then_nothing_on_rerun() {
    let (_tmp, dist) = official_dist("9.1.1");
    let repo = "valkey-container";
    let s = MockServer::start().await;
    mount_repo(&s, repo, "mainline", "base1").await;
    mount_no_ref(&s, repo, "update-9.1.1").await;
    writes(&s, repo, 1, 1, 1, 1).await;
    mount_fallback_404(&s).await;

    let mut o = opts(&s, "9.1.1", &dist);
    o.source_sha256 = Some(SHA_911.into());
    let out = publish::publish(&Container, &o).await.unwrap();
    assert_eq!(out.state, State::PrOpened);
    assert_eq!(out.pr_url.as_deref(), Some("https://github.com/valkey-io/x/pull/42"));
    assert!(out.needs_merge && out.changed);

    // Exactly: one tree with the three files, one commit on mainline's head, one ref, one PR.
    let posts = requests(&s, "POST").await;
    let paths: Vec<&str> = posts.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "/repos/valkey-io/valkey-container/git/trees",
            "/repos/valkey-io/valkey-container/git/commits",
            "/repos/valkey-io/valkey-container/git/refs",
            "/repos/valkey-io/valkey-container/pulls",
        ]
    );
    let tree = &posts[0].1;
    assert_eq!(tree["base_tree"], "tree-of-base1");
    let files = tree_contents(tree);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        vec!["9.1/alpine/Dockerfile", "9.1/debian/Dockerfile", "versions.json"]
    );
    assert!(files["versions.json"].contains("\"version\": \"9.1.1\""));
    let commit = &posts[1].1;
    assert_eq!(commit["tree"], "newtree");
    assert_eq!(commit["parents"], json!(["base1"]));
    // Upstream's subject (a GA patch of an existing minor moves no alias: one commit) and the
    // DCO trailer of the committer, exactly.
    assert_eq!(
        commit["message"],
        "Update versions.json and Dockerfiles for version 9.1.1\n\nSigned-off-by: valkey-release <noreply@valkey.io>\n"
    );
    assert_eq!(commit["committer"], json!({"name": "valkey-release", "email": "noreply@valkey.io"}));
    assert_eq!(posts[2].1, json!({"ref": "refs/heads/update-9.1.1", "sha": "newcommit"}));
    let pr = &posts[3].1;
    assert_eq!(pr["title"], "Update to version 9.1.1");
    assert_eq!(pr["head"], "update-9.1.1");
    assert_eq!(pr["base"], "mainline");
    let body = pr["body"].as_str().unwrap();
    assert!(
        body.contains("versions.json") && body.contains("https://download.valkey.io/releases/valkey-9.1.1-jammy-x86_64.tar.gz"),
        "{body}"
    );
    // Authenticated.
    let reqs = s.received_requests().await.unwrap();
    assert!(reqs.iter().all(|r| r
        .headers
        .get("authorization")
        .map(|v| v.to_str().unwrap() == format!("Bearer {TOKEN}"))
        .unwrap_or(false)));
    drop(s);

    // Re-run: the branch holds the change and the PR is open: only reads.
    let s = MockServer::start().await;
    mount_repo(&s, repo, "mainline", "base1").await;
    mount_ref(&s, repo, "update-9.1.1", "newcommit").await;
    for c in &out.files {
        mount_content(&s, repo, "newcommit", c, &files[c]).await;
    }
    pr_list(
        &s,
        repo,
        "update-9.1.1",
        json!([{"number": 42, "html_url": "https://github.com/valkey-io/x/pull/42"}]),
    )
    .await;
    writes(&s, repo, 0, 0, 0, 0).await;
    mount_fallback_404(&s).await;
    let again = publish::publish(&Container, &o).await.unwrap();
    assert_eq!(again.state, State::PrOpen);
    assert!(!again.changed);
    assert_eq!(again.pr_number, Some(42));
    assert!(requests(&s, "POST").await.is_empty());
    assert!(requests(&s, "PATCH").await.is_empty());
}

#[tokio::test]
async fn existing_pr_422_is_found_and_updated() {
    let (_tmp, dist) = official_dist("9.1.1");
    let repo = "valkey-io.github.io";
    let s = MockServer::start().await;
    mount_repo(&s, repo, "main", "base1").await;
    // The branch exists with stale content: it is moved (force) to a fresh commit on base.
    mount_ref(&s, repo, "update-website-9.1.1", "old").await;
    mount_content(&s, repo, "old", "content/download/releases/v9-1-1.md", "stale").await;
    // Only our own commit is on it: it may be moved.
    on("GET", repo, "/compare/base1...old")
        .respond_with(answer(
            200,
            json!({"commits": [{"sha": "old", "commit": {"message": "Updates downloads section for version 9.1.1\n\nSigned-off-by: x <x@y>\n"}}]}),
        ))
        .expect(1)
        .mount(&s)
        .await;
    mount_created(&s, repo, "/git/trees", json!({"sha": "newtree"}), 1).await;
    mount_created(&s, repo, "/git/commits", json!({"sha": "newcommit"}), 1).await;
    on("PATCH", repo, "/git/refs/heads/update-website-9.1.1")
        .and(body_partial_json(json!({"sha": "newcommit", "force": true})))
        .respond_with(answer(200, json!({"object": {"sha": "newcommit"}})))
        .expect(1)
        .mount(&s)
        .await;
    on("POST", repo, "/pulls")
        .respond_with(answer(
            422,
            json!({
                "message": "Validation Failed",
                "errors": [{"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for valkey-io:update-website-9.1.1."}]
            }),
        ))
        .expect(1)
        .mount(&s)
        .await;
    pr_list(
        &s,
        repo,
        "update-website-9.1.1",
        json!([{"number": 7, "html_url": "https://github.com/valkey-io/valkey-io.github.io/pull/7"}]),
    )
    .await;
    on("PATCH", repo, "/pulls/7")
        .and(body_partial_json(json!({"title": "Update website for version 9.1.1"})))
        .respond_with(answer(200, json!({"number": 7})))
        .expect(1)
        .mount(&s)
        .await;
    mount_fallback_404(&s).await;

    let mut o = opts(&s, "9.1.1", &dist);
    o.date = Some("2026-07-21".into());
    o.debian_suite = Some("trixie".into());
    o.alpine_version = Some("3.24".into());
    let out = publish::publish(&Website, &o).await.unwrap();
    assert_eq!(out.state, State::PrUpdated);
    assert_eq!(out.pr_number, Some(7));
    let posts = requests(&s, "POST").await;
    let tree = tree_contents(&posts[0].1);
    assert_eq!(tree["content/download/releases/v9-1-1.md"], page("v9-1-1.md"));
    // No second PR.
    assert_eq!(posts.iter().filter(|(p, _)| p.ends_with("/pulls")).count(), 1);
}

#[tokio::test]
async fn hashes_commit_straight_to_main_with_retries() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    let repo = "valkey-hashes";
    let s = MockServer::start().await;
    // The first read of main fails with 502: retried.
    let bad_gateway = ResponseTemplate::new(502).set_body_string("bad gateway");
    mount_once(&s, on("GET", repo, "/git/ref/heads/main"), bad_gateway).await;
    mount_repo(&s, repo, "main", "base1").await;
    // Creating the tree is rate limited once (403 + Retry-After): retried after the wait.
    let rate_limited = answer(403, json!({"message": "You have exceeded a secondary rate limit"})).insert_header("retry-after", "1");
    mount_once(&s, on("POST", repo, "/git/trees"), rate_limited).await;
    on("POST", repo, "/git/trees")
        .respond_with(answer(201, json!({"sha": "newtree"})))
        .mount(&s)
        .await;
    on("POST", repo, "/git/commits")
        .and(body_partial_json(json!({"parents": ["base1"], "tree": "newtree"})))
        .respond_with(answer(201, json!({"sha": "newcommit"})))
        .expect(1)
        .mount(&s)
        .await;
    // The commit itself: 503 once, then accepted.
    mount_once(&s, on("PATCH", repo, "/git/refs/heads/main"), ResponseTemplate::new(503)).await;
    on("PATCH", repo, "/git/refs/heads/main")
        .and(body_partial_json(json!({"sha": "newcommit", "force": false})))
        .respond_with(answer(200, json!({"object": {"sha": "newcommit"}})))
        .expect(1)
        .mount(&s)
        .await;
    mount_never(&s, on("POST", repo, "/pulls")).await;
    mount_fallback_404(&s).await;

    let o = hashes_912_opts(&s, &dist);
    let out = publish::publish(&Hashes, &o).await.unwrap();
    assert_eq!(out.state, State::Committed);
    assert_eq!(out.commit.as_deref(), Some("newcommit"));
    assert!(!out.needs_merge);
    let posts = requests(&s, "POST").await;
    let trees: Vec<_> = posts.iter().filter(|(p, _)| p.ends_with("/git/trees")).collect();
    assert_eq!(trees.len(), 2, "403 then retried");
    let readme = &tree_contents(&trees[1].1)["README"];
    assert!(readme.ends_with(&format!(
        "hash valkey-9.1.2.tar.gz sha256 {SHA_A} https://github.com/valkey-io/valkey/archive/refs/tags/9.1.2.tar.gz\n"
    )));
    assert_eq!(requests(&s, "PATCH").await.len(), 2, "503 then retried");
    let gets = requests(&s, "GET").await;
    assert_eq!(
        gets.iter().filter(|(p, _)| p.ends_with("/git/ref/heads/main")).count(),
        2,
        "502 then retried"
    );

    // Re-run against a main that already has the line: no writes at all.
    drop(s);
    let s = MockServer::start().await;
    let dir = tmp.path().join("hashes-after");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("README"), readme).unwrap();
    mount_ref(&s, repo, "main", "newcommit").await;
    mount_files(&s, repo, "newcommit", &dir).await;
    mount_fallback_404(&s).await;
    let o = hashes_912_opts(&s, &dist);
    let again = publish::publish(&Hashes, &o).await.unwrap();
    assert_eq!(again.state, State::Unchanged);
    assert!(again.done() && !again.changed);
    assert!(requests(&s, "POST").await.is_empty() && requests(&s, "PATCH").await.is_empty());
}

#[tokio::test]
async fn hashes_digest_from_manifest_or_download() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = "valkey-hashes";
    let s = MockServer::start().await;
    mount_repo(&s, repo, "main", "base1").await;
    Mock::given(method("GET"))
        .and(path("/archive/9.1.2.tar.gz"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"hello".to_vec()))
        .expect(1)
        .mount(&s)
        .await;
    mount_fallback_404(&s).await;
    // manifest.json whose source is the tag archive: its digest is used.
    let dist = tmp.path().join("dist");
    write_manifest(
        &dist,
        "9.1.2",
        OFFICIAL,
        Some(valkey_release::manifest::SourceInfo {
            name: "valkey-9.1.2.tar.gz".into(),
            kind: "archive".into(),
            sha256: Some(SHA_B.into()),
            ..Default::default()
        }),
    );
    let mut o = opts(&s, "9.1.2", &dist);
    o.dry_run = true;
    let out = publish::publish(&Hashes, &o).await.unwrap();
    assert_eq!(out.state, State::WouldChange);
    assert!(
        out.diff.contains(&format!("+hash valkey-9.1.2.tar.gz sha256 {SHA_B} ")),
        "{}",
        out.diff
    );
    // A build from a directory: the archive is downloaded and hashed.
    write_manifest(
        &dist,
        "9.1.2",
        OFFICIAL,
        Some(valkey_release::manifest::SourceInfo {
            name: "valkey".into(),
            kind: "directory".into(),
            sha256: Some(SHA_B.into()),
            ..Default::default()
        }),
    );
    o.source_url = Some(format!("{}/archive/9.1.2.tar.gz", s.uri()));
    let out = publish::publish(&Hashes, &o).await.unwrap();
    // sha256("hello")
    assert!(
        out.diff
            .contains("+hash valkey-9.1.2.tar.gz sha256 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 "),
        "{}",
        out.diff
    );
    assert!(requests(&s, "POST").await.is_empty());
}

#[test]
fn the_token_never_appears_in_output() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(async {
        let s = MockServer::start().await;
        let repo = "valkey-container";
        // Reads work; every write is refused with a body that echoes the token (a hostile server).
        mount_repo(&s, repo, "mainline", "base1").await;
        mount_no_ref(&s, repo, "update-9.1.1").await;
        Mock::given(method("POST"))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .respond_with(answer(401, json!({"message": format!("Bad credentials {TOKEN}")})))
            .mount(&s)
            .await;
        mount_fallback_404(&s).await;
        s
    });
    let dist = home.join("dist");
    write_manifest(&dist, "9.1.1", OFFICIAL, None);
    let mut all = String::new();
    for extra in [vec!["--dry-run"], vec![], vec!["--json"]] {
        let mut c = bin(home);
        c.args(["publish", "container", "--version", "9.1.1", "--source-sha256", SHA_911])
            .args(&extra)
            .arg("--dist")
            .arg(&dist)
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_API_URL", s.uri())
            .env("VALKEY_RELEASE_GITHUB_RETRY_MS", "5")
            .env("RUST_LOG", "trace");
        let r = run(c);
        if extra.is_empty() {
            assert_eq!(r.code, 3, "{}", r.stderr);
            assert!(r.stderr.contains("HTTP 401") && r.stderr.contains("***"), "{}", r.stderr);
        }
        all.push_str(&r.stdout);
        all.push_str(&r.stderr);
    }
    assert!(all.len() > 100);
    assert!(!all.contains(TOKEN), "the token leaked:\n{all}");
    assert!(!all.contains("TESTTOKEN"));
}

#[test]
fn handoff_without_token_reads_github_anonymously() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(async {
        let s = MockServer::start().await;
        mount_repo(&s, "valkey-io.github.io", "main", "web1").await;
        mount_repo(&s, "valkey-container", "mainline", "cont1").await;
        mount_fallback_404(&s).await;
        s
    });
    let dist = home.join("dist");
    write_manifest(&dist, "9.1.0-rc2", OFFICIAL, None);
    let out = home.join("handoff");
    let mut c = bin(home);
    c.args(["publish", "website", "--version", "9.1.0-rc2", "--date", "2026-04-28", "--json"])
        .arg("--dist")
        .arg(&dist)
        .arg("--handoff")
        .arg(&out)
        .env("GITHUB_API_URL", s.uri());
    let r = run(c);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["state"], "handoff-written");
    assert_eq!(j["branch"], "update-website-9.1.0-rc2");
    // Tags from valkey-container's versions.json 9.1 entry (trixie, 3.23): the real rc page.
    assert_eq!(
        read(&out.join("valkey-io.github.io/files/content/download/releases/v9-1-0-rc2.md")),
        page("v9-1-0-rc2.md")
    );
    let reqs = rt.block_on(s.received_requests()).unwrap();
    assert!(!reqs.is_empty());
    assert!(reqs
        .iter()
        .all(|r| r.method.as_str() == "GET" && r.headers.get("authorization").is_none()));
}

#[tokio::test]
async fn hashes_via_pr_and_persistent_5xx() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    let repo = "valkey-hashes";
    let s = MockServer::start().await;
    mount_repo(&s, repo, "main", "base1").await;
    mount_no_ref(&s, repo, "update-hash-9.1.2").await;
    writes(&s, repo, 1, 1, 1, 1).await;
    mount_never(&s, Mock::given(method("PATCH"))).await;
    mount_fallback_404(&s).await;
    let mut o = hashes_912_opts(&s, &dist);
    o.via_pr = true;
    let out = publish::publish(&Hashes, &o).await.unwrap();
    assert_eq!(out.state, State::PrOpened);
    assert_eq!(out.branch.as_deref(), Some("update-hash-9.1.2"));
    let posts = requests(&s, "POST").await;
    assert_eq!(posts[2].1, json!({"ref": "refs/heads/update-hash-9.1.2", "sha": "newcommit"}));
    assert_eq!(posts[3].1["title"], "Update hash for 9.1.2");
    assert_eq!(posts[3].1["base"], "main");
    drop(s);

    // A server that keeps failing: a clear error (exit 3) after the attempts, nothing written.
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(answer(503, json!({"message": "Service Unavailable"})))
        .expect(3)
        .mount(&s)
        .await;
    let mut o = hashes_912_opts(&s, &dist);
    o.github.max_attempts = 3;
    let err = publish::publish(&Hashes, &o).await.unwrap_err();
    assert_eq!(err.exit_code(), 3);
    let msg = err.to_string();
    assert!(
        msg.contains("HTTP 503") && msg.contains("3 attempts") && msg.contains("/git/ref/heads/main"),
        "{msg}"
    );
    assert!(!msg.contains(TOKEN));
}
