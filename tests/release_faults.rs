//! A prod release that survives failures of the outside systems after the upload: the local S3
//! server (moto, behind a proxy whose object GETs can be made to fail) at verify, the GitHub REST
//! emulation at hashes (a write refused, then a write that landed but whose answer was lost) and
//! at container (the PR cannot be opened after its branch was created). Each failure is followed
//! by a re-run of the same command on the same dist directory; the last run completes and a
//! further one finds everything done. The build is a real one: the fakevalkey fixture in the
//! Docker builder image, for bookworm-x86_64.

mod release_support;
mod upload_support;

use release_support::gh::GitHub;
use release_support::{all_files, builder_image, cmd, fakevalkey_targz, run, step_states, Moto};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use upload_support::FaultProxy;

const TOKEN: &str = "ghp_FAULTSTESTTOKEN0123456789SECRETabc";
const BUCKET: &str = "relbucket-faults";
const V: &str = "9.1.2";
const HASHES_MAIN: &str = "/repos/valkey-io/valkey-hashes/git/refs/heads/main";
const CONTAINER_PULLS: &str = "/repos/valkey-io/valkey-container/pulls";
/// Attempts the tool makes per GitHub request (first try included) on 5xx: README, "GitHub requests".
const GITHUB_ATTEMPTS: u32 = 5;
/// Attempts at opening a PR (a non-idempotent POST: sent once, then the open PRs are listed
/// before it is sent again).
const PR_ATTEMPTS: u32 = 3;

/// The states of the steps are `want`. The source step's is returned as a mismatch instead (the
/// test checks it last, after everything else): an archive source found unchanged is
/// `skipped_already_done` on every re-run.
fn check_states(run: &str, v: &Value, want: &[&str], out: &str, err: &str) -> Option<String> {
    let got = step_states(v);
    assert_eq!(got.len(), want.len(), "run {run}: {out}\n{err}");
    assert_eq!(&got[1..], &want[1..], "run {run}: steps after source\n{out}\n{err}");
    (got[0] != want[0]).then(|| {
        format!(
            "run {run}: source is {}, expected {} (summary {})",
            got[0],
            want[0],
            step(v, "source")["summary"]
        )
    })
}

/// The states of a re-run: its first `done` steps are found already done, the rest are `then`.
fn already_done_then(done: usize, then: &[&'static str]) -> Vec<&'static str> {
    let mut states = vec!["skipped_already_done"; done];
    states.extend(then);
    states
}

fn step<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["steps"].as_array().unwrap().iter().find(|s| s["step"] == name).unwrap()
}

/// GitHub write requests (anything but GET) among `reqs`, as `METHOD path`.
fn writes(reqs: &[(String, String, Value, String)]) -> Vec<String> {
    reqs.iter()
        .filter(|(m, ..)| m != "GET")
        .map(|(m, p, ..)| format!("{m} {p}"))
        .collect()
}

fn w(m: &str, repo: &str, rest: &str) -> String {
    format!("{m} /repos/valkey-io/{repo}/{rest}")
}

fn times(s: &str, n: u32) -> Vec<String> {
    (0..n).map(|_| s.to_string()).collect()
}

/// The GitHub writes of a step that commits to `repo` (POSTs to `paths`, e.g. `git/trees`) and
/// then meets an injected failure of `failing` (`METHOD path`) at each of its GITHUB_ATTEMPTS.
fn commit_then_failing(repo: &str, paths: &[&str], failing: &str) -> Vec<String> {
    let mut writes: Vec<String> = paths.iter().map(|p| w("POST", repo, p)).collect();
    writes.extend(times(failing, GITHUB_ATTEMPTS));
    writes
}

/// The GitHub requests received after the first `seen`; `seen` becomes the count received.
async fn new_requests(gh: &GitHub, seen: &mut usize) -> Vec<(String, String, Value, String)> {
    let mut reqs = gh.requests().await;
    let new = reqs.split_off(*seen);
    *seen = reqs.len() + new.len();
    new
}

/// S3 requests among `reqs` that write (PUT, POST, DELETE), as `METHOD path?query`.
fn s3_writes(reqs: &[(String, String)]) -> Vec<String> {
    reqs.iter()
        .filter(|(m, _)| m != "GET" && m != "HEAD")
        .map(|(m, p)| format!("{m} {p}"))
        .collect()
}

/// A JSON file of the dist/ directory under `dir`.
fn dist_json(dir: &Path, file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("dist").join(file)).unwrap()).unwrap()
}

/// S3 writes per path (no query): how many times each object was written.
fn put_counts(reqs: &[(String, String)]) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for w in s3_writes(reqs) {
        let (_, p) = w.split_once(' ').unwrap();
        // A prod upload first checks that the server honours If-None-Match with an empty probe
        // object of its own, which it removes again: not a release object.
        if p.contains(valkey_release::store::s3::PROBE_KEY) {
            continue;
        }
        *n.entry(p.split('?').next().unwrap().to_string()).or_default() += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prod_release_survives_verify_hashes_and_container_failures_without_duplicates() {
    let image = builder_image();
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let proxy = FaultProxy::start(&moto.endpoint(), 0);
    let d = tempfile::tempdir().unwrap();
    // The source as GitHub's tag archive is named: its digest is the hash line's.
    let archive = d.path().join(format!("valkey-{V}.tar.gz"));
    fakevalkey_targz(d.path(), &archive, &format!("valkey-{V}"), V);
    let archive_sha = valkey_release::fsutil::sha256_file(&archive).unwrap().0;
    let gh = GitHub::start_with_publish_repos().await;
    let hashes_base = gh.branch("valkey-hashes", "main").unwrap();
    let container_base = gh.branch("valkey-container", "mainline").unwrap();
    let mut source_mismatches: Vec<String> = Vec::new();
    // Run the release (run `run_name`, for the messages): it exits with `code_want` and its steps
    // end in the states `want` (a source step mismatch is collected in `source_mismatches`, see
    // `check_states`). Returns (the JSON report, stdout).
    let mut go = |run_name: &str, code_want: i32, want: &[&str]| {
        let mut c = cmd(d.path());
        moto.env(&mut c);
        c.env("AWS_ENDPOINT_URL", &proxy.url)
            .env("AWS_S3_BUCKET", BUCKET)
            .env("AWS_TEST_BUCKET", "relbucket-faults-dev")
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_API_URL", gh.uri())
            .env("VALKEY_RELEASE_GITHUB_RETRY_MS", "5")
            .env("RUST_LOG", "debug");
        c.args(["--json", "release", "--version", V, "--environment", "prod"])
            .args(["--source", &format!("valkey-{V}.tar.gz"), "--target", "bookworm-x86_64"])
            .args(["--builder-image", &image, "--date", "2026-11-25"]);
        let t = std::time::Instant::now();
        let (code, out, err) = run(&mut c);
        eprintln!("run took {:.1}s, exit {code}", t.elapsed().as_secs_f64());
        // The token appears in no output and no file; no panic.
        assert!(!out.contains(TOKEN) && !err.contains(TOKEN), "the token is printed:\n{out}\n{err}");
        assert!(!err.contains("panicked"), "{err}");
        for f in all_files(d.path()) {
            let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
            assert!(!text.contains(TOKEN), "the token is written into {}", f.display());
        }
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("--json output: {e}\n{out}\n{err}"));
        assert_eq!(code, code_want, "{out}\n{err}");
        source_mismatches.extend(check_states(run_name, &v, want, &out, &err));
        (v, out)
    };
    let mut gh_seen = 0;

    // Run 1: object GETs fail at the S3 server. Build and upload are done; verify fails (exit 3,
    // an outside system failed); nothing after it runs.
    proxy.set_fail_object_gets(true);
    let (v, out) = go(
        "1",
        3,
        &[
            "done",
            "done",
            "done",
            "failed",
            "not_reached",
            "not_reached",
            "not_reached",
            "not_reached",
            "not_reached",
        ],
    );
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["step"], "verify", "{out}");
    assert_eq!(v["error"]["exit_code"], 3, "{out}");
    let verr = step(&v, "verify")["error"].as_str().unwrap();
    assert!(verr.contains("500"), "the verify error names the server's answer: {verr}");
    assert!(proxy.failed_gets.load(std::sync::atomic::Ordering::SeqCst) > 0);
    assert!(
        step(&v, "build")["summary"].as_str().unwrap().starts_with("built 1 target"),
        "{out}"
    );
    // Sorted, as `keys` are.
    // The release's objects: every manifest artifact (tarball, .debs under deb/, SBOMs) and its
    // .sha256, SHA256SUMS, its signature, the public key, the provenance, the manifest.
    let want_keys = {
        let m = dist_json(d.path(), "manifest.json");
        let mut k = vec![
            format!("releases/valkey-{V}.SHA256SUMS"),
            format!("releases/valkey-{V}.SHA256SUMS.asc"),
            "releases/GPG-KEY-valkey.asc".to_string(),
            format!("releases/valkey-{V}.intoto.jsonl"),
            format!("releases/valkey-{V}.manifest.json"),
        ];
        for a in m["artifacts"].as_array().unwrap() {
            let sub = if a["kind"] == "deb" { "deb/" } else { "" };
            k.push(format!("releases/{sub}{}", a["file"].as_str().unwrap()));
            k.push(format!("releases/{sub}{}", a["checksum_file"].as_str().unwrap()));
        }
        k.sort();
        k
    };
    assert!(want_keys.contains(&format!("releases/valkey-{V}-bookworm-x86_64.tar.gz")));
    let each_written_once: BTreeMap<String, usize> = want_keys.iter().map(|k| (format!("/{BUCKET}/{k}"), 1)).collect();
    let mut keys = moto.keys(BUCKET, "");
    keys.sort();
    assert_eq!(keys, want_keys, "after run 1");
    let reqs = gh.requests().await;
    assert!(reqs.is_empty(), "GitHub is not reached before verify: {:?}", writes(&reqs));
    // Each object was written once.
    let s3 = proxy.requests();
    assert_eq!(put_counts(&s3), each_written_once);
    let mut s3_seen = s3.len();

    // Run 2: S3 answers again. GitHub refuses the move of valkey-hashes' main (HTTP 500; the
    // write does not happen). The tool retries 5xx answers (GITHUB_ATTEMPTS in all), so a single
    // failure would be absorbed: every attempt fails. Build and upload are already done, verify runs.
    proxy.set_fail_object_gets(false);
    gh.fail("PATCH", HASHES_MAIN, 500, GITHUB_ATTEMPTS);
    let (v, out) = go(
        "2",
        3,
        &already_done_then(3, &["done", "failed", "not_reached", "not_reached", "not_reached", "not_reached"]),
    );
    assert_eq!(v["error"]["step"], "hashes", "{out}");
    assert_eq!(gh.faults_pending(), 0, "every attempt met the injected failure");
    assert_eq!(gh.branch("valkey-hashes", "main").unwrap(), hashes_base, "main did not move");
    let hashes_commit_failing = commit_then_failing("valkey-hashes", &["git/trees", "git/commits"], &format!("PATCH {HASHES_MAIN}"));
    assert_eq!(writes(&new_requests(&gh, &mut gh_seen).await), hashes_commit_failing);
    let s3 = proxy.requests();
    // Nothing of the release uploaded again (the package repositories are written once, by
    // the repositories step after verify: checked at the end).
    let again: Vec<String> = s3_writes(&s3[s3_seen..])
        .into_iter()
        .filter(|w| !w.contains(&format!("/{BUCKET}/packaging/")))
        .collect();
    assert!(again.is_empty(), "nothing uploaded again: {again:?}");
    let gets: Vec<&String> = s3[s3_seen..].iter().filter(|(m, _)| m == "GET").map(|(_, p)| p).collect();
    for k in &want_keys {
        assert!(
            gets.iter().any(|p| p.starts_with(&format!("/{BUCKET}/{k}"))),
            "verify read {k}: {gets:?}"
        );
    }
    s3_seen = s3.len();

    // Run 2b: the move of main lands, but GitHub's answer is lost (HTTP 502 after the write, for
    // every attempt). The step fails, but the hash line is on main now.
    gh.fail_after_write("PATCH", HASHES_MAIN, 502, GITHUB_ATTEMPTS);
    let (v, out) = go(
        "2b",
        3,
        &already_done_then(4, &["failed", "not_reached", "not_reached", "not_reached", "not_reached"]),
    );
    assert_eq!(v["error"]["step"], "hashes", "{out}");
    assert_eq!(gh.faults_pending(), 0);
    assert_ne!(gh.branch("valkey-hashes", "main").unwrap(), hashes_base, "the write landed");
    assert_eq!(writes(&new_requests(&gh, &mut gh_seen).await), hashes_commit_failing);

    // Run 3: GitHub cannot open the container PR (HTTP 500 for every attempt), after the branch
    // was created. The hash line is found in place. Opening a PR is not retried blindly: after
    // each failed POST the open PRs are listed first.
    gh.fail("POST", CONTAINER_PULLS, 500, PR_ATTEMPTS);
    let (v, out) = go(
        "3",
        3,
        &already_done_then(5, &["failed", "not_reached", "not_reached", "not_reached"]),
    );
    assert_eq!(v["error"]["step"], "container", "{out}");
    assert_eq!(gh.faults_pending(), 0);
    assert!(gh.branch("valkey-container", "update-9.1.2").is_some(), "the branch was created");
    assert!(gh.prs("valkey-container").is_empty());
    let reqs = new_requests(&gh, &mut gh_seen).await;
    let mut want: Vec<String> = ["git/trees", "git/commits", "git/refs"]
        .iter()
        .map(|p| w("POST", "valkey-container", p))
        .collect();
    want.extend(times(&format!("POST {CONTAINER_PULLS}"), PR_ATTEMPTS));
    assert_eq!(writes(&reqs), want);
    // Between two POSTs the PR list was read (look before sending again).
    let seq: Vec<String> = reqs
        .iter()
        .filter(|(_, p, ..)| p.starts_with(CONTAINER_PULLS))
        .map(|(m, ..)| m.clone())
        .collect();
    assert_eq!(seq, ["POST", "GET", "POST", "GET", "POST", "GET"], "{reqs:?}");

    // Run 4: nothing injected. The container PR is opened from the branch as it is (no second
    // commit); the bundle dispatch is sent; the website PR is opened. The release is complete.
    let (v, _) = go(
        "4",
        0,
        &already_done_then(5, &["done", "done", "done", "skipped_not_for_environment"]),
    );
    assert_eq!(v["ok"], true);
    assert_eq!(
        writes(&new_requests(&gh, &mut gh_seen).await),
        [
            format!("POST {CONTAINER_PULLS}"),
            w("POST", "valkey-bundle", "dispatches"),
            w("POST", "valkey-io.github.io", "git/trees"),
            w("POST", "valkey-io.github.io", "git/commits"),
            w("POST", "valkey-io.github.io", "git/refs"),
            w("POST", "valkey-io.github.io", "pulls"),
        ]
    );

    // Run 5: every step is already done; GitHub is only read, S3 is not written.
    let (v, _) = go("5", 0, &already_done_then(8, &["skipped_not_for_environment"]));
    let new = new_requests(&gh, &mut gh_seen).await;
    assert!(!new.is_empty(), "the re-run checks GitHub");
    assert!(writes(&new).is_empty(), "the re-run wrote to GitHub: {:?}", writes(&new));
    let s3 = proxy.requests();
    assert!(s3_writes(&s3[s3_seen..]).is_empty(), "{:?}", s3_writes(&s3[s3_seen..]));
    let to_merge: Vec<&str> = v["to_merge"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    assert_eq!(
        to_merge,
        [
            "https://github.com/valkey-io/valkey-container/pull/1",
            "https://github.com/valkey-io/valkey-io.github.io/pull/1"
        ],
        "{v}"
    );

    // What is left: the release's objects and the package repository, each written once.
    let keys = moto.keys(BUCKET, "");
    let mut release_keys: Vec<String> = keys.iter().filter(|k| k.starts_with("releases/")).cloned().collect();
    release_keys.sort();
    assert_eq!(release_keys, want_keys, "objects in the bucket at the end");
    assert!(
        keys.contains(&"packaging/valkey-9.1/deb/debian12/amd64/InRelease".to_string())
            && keys.contains(&"packaging/GPG-KEY-valkey.asc".to_string()),
        "{keys:?}"
    );
    let all_once: BTreeMap<String, usize> = keys.iter().map(|k| (format!("/{BUCKET}/{k}"), 1)).collect();
    assert_eq!(put_counts(&proxy.requests()), all_once, "each object written once over all runs");
    // The stored artifact is the one built.
    let m = dist_json(d.path(), "manifest.json");
    assert_eq!(
        m["artifacts"].as_array().unwrap().iter().filter(|a| a["kind"] == "tarball").count(),
        1,
        "{m}"
    );
    assert_eq!(m["source"]["sha256"], archive_sha.as_str(), "{m}");

    // One hash line on main, one commit on top of the seed.
    let line = format!("hash valkey-{V}.tar.gz sha256 {archive_sha} https://github.com/valkey-io/valkey/archive/refs/tags/{V}.tar.gz");
    let readme = gh.files("valkey-hashes", "main")["README"].0.clone();
    assert_eq!(
        readme.lines().filter(|l| l.contains(&format!("valkey-{V}.tar.gz"))).count(),
        1,
        "{readme}"
    );
    assert!(readme.lines().any(|l| l == line), "{readme}");
    let hlog = gh.log("valkey-hashes", "main");
    assert_eq!(hlog.len(), 2, "{hlog:?}");
    assert!(hlog[0].starts_with(&format!("Update hash for {V}")), "{hlog:?}");
    assert_eq!(gh.parents("valkey-hashes", "main"), [hashes_base]);
    // One container PR, from a branch with exactly one commit on top of mainline.
    let cprs = gh.prs("valkey-container");
    assert_eq!(cprs.len(), 1, "{cprs:?}");
    assert!(
        cprs[0].open && cprs[0].head == "update-9.1.2" && cprs[0].base == "mainline",
        "{cprs:?}"
    );
    assert_eq!(
        gh.parents("valkey-container", "update-9.1.2"),
        std::slice::from_ref(&container_base)
    );
    assert_eq!(gh.log("valkey-container", "update-9.1.2").len(), 2);
    assert_eq!(
        gh.branch("valkey-container", "mainline").unwrap(),
        container_base,
        "the PR is not merged by the tool"
    );
    assert!(gh.files("valkey-container", "update-9.1.2")["versions.json"]
        .0
        .contains(&format!("\"version\": \"{V}\"")));
    // One website PR.
    let wprs = gh.prs("valkey-io.github.io");
    assert_eq!(wprs.len(), 1, "{wprs:?}");
    assert!(wprs[0].open && wprs[0].head == "update-website-9.1.2", "{wprs:?}");
    assert_eq!(gh.log("valkey-io.github.io", "update-website-9.1.2").len(), 2);
    let page = gh.files("valkey-io.github.io", "update-website-9.1.2");
    let page = &page.get("content/download/releases/v9-1-2.md").expect("the download page").0;
    assert!(page.contains("bookworm") && page.contains("2026-11-25"), "{page}");
    // The injected failures were all met, none more.
    let injected = gh.injected();
    assert_eq!(injected.len() as u32, 2 * GITHUB_ATTEMPTS + PR_ATTEMPTS, "{injected:?}");
    assert_eq!(gh.dispatches().len(), 1);

    // The build ran in run 1 only (state file: one attempt).
    let st = dist_json(d.path(), "release-state.json");
    assert_eq!(st["runs"], 6, "{st}");
    assert_eq!(st["steps"]["build"]["attempts"], 1, "{st}");

    // Every GitHub request was authenticated.
    for (m, p, _, auth) in gh.requests().await {
        assert_eq!(auth, format!("Bearer {TOKEN}"), "{m} {p} not authenticated");
    }

    // Last: the source step, the same archive in every run, is found already done on re-runs.
    assert!(
        source_mismatches.is_empty(),
        "the source step is not skipped on a re-run of the same archive:\n{}",
        source_mismatches.join("\n")
    );
}
