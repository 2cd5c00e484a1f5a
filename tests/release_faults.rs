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
use release_support::{all_files, builder_image, cmd, fakevalkey_targz, run, Moto};
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

fn states(v: &Value) -> Vec<String> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_string())
        .collect()
}

/// The states of the steps are `want`. The source step's is returned as a mismatch instead (the
/// test checks it last, after everything else): an archive source found unchanged is
/// `skipped_already_done` on every re-run.
fn check_states(run: &str, v: &Value, want: &[&str], out: &str, err: &str) -> Option<String> {
    let got = states(v);
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

/// S3 requests among `reqs` that write (PUT, POST, DELETE), as `METHOD path?query`.
fn s3_writes(reqs: &[(String, String)]) -> Vec<String> {
    reqs.iter()
        .filter(|(m, _)| m != "GET" && m != "HEAD")
        .map(|(m, p)| format!("{m} {p}"))
        .collect()
}

/// S3 writes per path (no query): how many times each object was written.
fn put_counts(reqs: &[(String, String)]) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for w in s3_writes(reqs) {
        let (_, p) = w.split_once(' ').unwrap();
        *n.entry(p.split('?').next().unwrap().to_string()).or_default() += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prod_release_survives_verify_hashes_and_container_failures_without_duplicates() {
    let Some(image) = builder_image() else { return };
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket(BUCKET);
    let proxy = FaultProxy::start(&moto.endpoint(), 0);
    let d = tempfile::tempdir().unwrap();
    // The source as GitHub's tag archive is named: its digest is the hash line's.
    let archive = d.path().join(format!("valkey-{V}.tar.gz"));
    fakevalkey_targz(d.path(), &archive, &format!("valkey-{V}"), V);
    let archive_sha = valkey_release::fsutil::sha256_file(&archive).unwrap().0;
    let repos = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/publish/repos");
    let gh = GitHub::start(&[
        ("valkey-hashes", "main", &repos.join("valkey-hashes")),
        ("valkey-container", "mainline", &repos.join("valkey-container")),
        ("valkey-io.github.io", "main", &repos.join("valkey-io.github.io")),
    ])
    .await;
    let hashes_base = gh.branch("valkey-hashes", "main").unwrap();
    let container_base = gh.branch("valkey-container", "mainline").unwrap();
    let go = || {
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
        (code, v, out, err)
    };
    let mut source_mismatches: Vec<String> = Vec::new();
    let mut gh_seen = 0;

    // Run 1: object GETs fail at the S3 server. Build and upload are done; verify fails (exit 3,
    // an outside system failed); nothing after it runs.
    proxy.set_fail_object_gets(true);
    let (code, v, out, err) = go();
    assert_eq!(code, 3, "{out}\n{err}");
    source_mismatches.extend(check_states(
        "1",
        &v,
        &["done", "done", "done", "failed", "not_reached", "not_reached", "not_reached"],
        &out,
        &err,
    ));
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
    let want_keys = vec![
        format!("releases/valkey-{V}-bookworm-x86_64.tar.gz"),
        format!("releases/valkey-{V}-bookworm-x86_64.tar.gz.sha256"),
        format!("releases/valkey-{V}.SHA256SUMS"),
        format!("releases/valkey-{V}.manifest.json"),
    ];
    let mut keys = moto.keys(BUCKET, "");
    keys.sort();
    assert_eq!(keys, want_keys, "after run 1");
    let reqs = gh.requests().await;
    assert!(reqs.is_empty(), "GitHub is not reached before verify: {:?}", writes(&reqs));
    // Each object was written once.
    let s3 = proxy.requests();
    assert_eq!(
        put_counts(&s3),
        want_keys.iter().map(|k| (format!("/{BUCKET}/{k}"), 1)).collect::<BTreeMap<_, _>>()
    );
    let mut s3_seen = s3.len();

    // Run 2: S3 answers again. GitHub refuses the move of valkey-hashes' main (HTTP 500; the
    // write does not happen). The tool retries 5xx answers (GITHUB_ATTEMPTS in all), so a single
    // failure would be absorbed: every attempt fails. Build and upload are already done, verify runs.
    proxy.set_fail_object_gets(false);
    gh.fail("PATCH", HASHES_MAIN, 500, GITHUB_ATTEMPTS);
    let (code, v, out, err) = go();
    assert_eq!(code, 3, "{out}\n{err}");
    source_mismatches.extend(check_states(
        "2",
        &v,
        &[
            "skipped_already_done",
            "skipped_already_done",
            "skipped_already_done",
            "done",
            "failed",
            "not_reached",
            "not_reached",
        ],
        &out,
        &err,
    ));
    assert_eq!(v["error"]["step"], "hashes", "{out}");
    assert_eq!(gh.faults_pending(), 0, "every attempt met the injected failure");
    assert_eq!(gh.branch("valkey-hashes", "main").unwrap(), hashes_base, "main did not move");
    let reqs = gh.requests().await;
    assert_eq!(
        writes(&reqs[gh_seen..]),
        [
            vec![w("POST", "valkey-hashes", "git/trees"), w("POST", "valkey-hashes", "git/commits")],
            times(&format!("PATCH {HASHES_MAIN}"), GITHUB_ATTEMPTS)
        ]
        .concat()
    );
    gh_seen = reqs.len();
    let s3 = proxy.requests();
    assert!(
        s3_writes(&s3[s3_seen..]).is_empty(),
        "nothing uploaded again: {:?}",
        s3_writes(&s3[s3_seen..])
    );
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
    let (code, v, out, err) = go();
    assert_eq!(code, 3, "{out}\n{err}");
    source_mismatches.extend(check_states(
        "2b",
        &v,
        &[
            "skipped_already_done",
            "skipped_already_done",
            "skipped_already_done",
            "skipped_already_done",
            "failed",
            "not_reached",
            "not_reached",
        ],
        &out,
        &err,
    ));
    assert_eq!(v["error"]["step"], "hashes", "{out}");
    assert_eq!(gh.faults_pending(), 0);
    assert_ne!(gh.branch("valkey-hashes", "main").unwrap(), hashes_base, "the write landed");
    let reqs = gh.requests().await;
    assert_eq!(
        writes(&reqs[gh_seen..]),
        [
            vec![w("POST", "valkey-hashes", "git/trees"), w("POST", "valkey-hashes", "git/commits")],
            times(&format!("PATCH {HASHES_MAIN}"), GITHUB_ATTEMPTS)
        ]
        .concat()
    );
    gh_seen = reqs.len();

    // Run 3: GitHub cannot open the container PR (HTTP 500 for every attempt), after the branch
    // was created. The hash line is found in place.
    gh.fail("POST", CONTAINER_PULLS, 500, GITHUB_ATTEMPTS);
    let (code, v, out, err) = go();
    assert_eq!(code, 3, "{out}\n{err}");
    source_mismatches.extend(check_states(
        "3",
        &v,
        &[
            "skipped_already_done",
            "skipped_already_done",
            "skipped_already_done",
            "skipped_already_done",
            "skipped_already_done",
            "failed",
            "not_reached",
        ],
        &out,
        &err,
    ));
    assert_eq!(v["error"]["step"], "container", "{out}");
    assert_eq!(gh.faults_pending(), 0);
    assert!(gh.branch("valkey-container", "update-9.1.2").is_some(), "the branch was created");
    assert!(gh.prs("valkey-container").is_empty());
    let reqs = gh.requests().await;
    assert_eq!(
        writes(&reqs[gh_seen..]),
        [
            vec![
                w("POST", "valkey-container", "git/trees"),
                w("POST", "valkey-container", "git/commits"),
                w("POST", "valkey-container", "git/refs"),
            ],
            times(&format!("POST {CONTAINER_PULLS}"), GITHUB_ATTEMPTS)
        ]
        .concat()
    );
    gh_seen = reqs.len();

    // Run 4: nothing injected. The container PR is opened from the branch as it is (no second
    // commit); the website PR is opened. The release is complete.
    let (code, v, out, err) = go();
    assert_eq!(code, 0, "{out}\n{err}");
    source_mismatches.extend(check_states(
        "4",
        &v,
        &[
            "skipped_already_done",
            "skipped_already_done",
            "skipped_already_done",
            "skipped_already_done",
            "skipped_already_done",
            "done",
            "done",
        ],
        &out,
        &err,
    ));
    assert_eq!(v["ok"], true);
    let reqs = gh.requests().await;
    assert_eq!(
        writes(&reqs[gh_seen..]),
        [
            format!("POST {CONTAINER_PULLS}"),
            w("POST", "valkey-io.github.io", "git/trees"),
            w("POST", "valkey-io.github.io", "git/commits"),
            w("POST", "valkey-io.github.io", "git/refs"),
            w("POST", "valkey-io.github.io", "pulls"),
        ]
    );
    gh_seen = reqs.len();

    // Run 5: every step is already done; GitHub is only read, S3 is not written.
    let (code, v, out, err) = go();
    assert_eq!(code, 0, "{out}\n{err}");
    source_mismatches.extend(check_states("5", &v, &["skipped_already_done"; 7], &out, &err));
    let reqs = gh.requests().await;
    assert!(reqs.len() > gh_seen, "the re-run checks GitHub");
    assert!(
        writes(&reqs[gh_seen..]).is_empty(),
        "the re-run wrote to GitHub: {:?}",
        writes(&reqs[gh_seen..])
    );
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

    // What is left: the four objects, each written once.
    let mut keys = moto.keys(BUCKET, "");
    keys.sort();
    assert_eq!(keys, want_keys, "objects in the bucket at the end");
    assert_eq!(
        put_counts(&proxy.requests()),
        want_keys.iter().map(|k| (format!("/{BUCKET}/{k}"), 1)).collect::<BTreeMap<_, _>>(),
        "each object written once over all runs"
    );
    // The stored artifact is the one built.
    let m: Value = serde_json::from_str(&std::fs::read_to_string(d.path().join("dist/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["artifacts"].as_array().unwrap().len(), 1, "{m}");
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
    assert_eq!(gh.parents("valkey-container", "update-9.1.2"), [container_base.clone()]);
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
    assert_eq!(injected.len() as u32, 3 * GITHUB_ATTEMPTS, "{injected:?}");

    // The build ran in run 1 only (state file: one attempt).
    let st: Value = serde_json::from_str(&std::fs::read_to_string(d.path().join("dist/release-state.json")).unwrap()).unwrap();
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
