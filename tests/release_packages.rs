//! The release's trust and repository steps end to end, through the binary: a dev release of
//! a tiny fixture source for bookworm-x86_64 (packages = ["deb"]) built by the real farm,
//! uploaded to a real S3 server (moto): `sbom`, `sign`, `provenance`, `upload`, `verify`,
//! `repositories`. A failure after `sign` is resumed with nothing redone; a second patch
//! release merges into the repository in the store; the store's repository, served from a
//! local directory in a clean bookworm container (network none) with the sources line of
//! docs/packages.md, updates without warning and installs the older version.

mod packages_support;
mod release_support;

use packages_support::engine::{ensure_builder, ensure_install_image, fixture, Box};
use release_support::{all_step_states, cmd, dev_release, run, run_report, step, test_public_key, Moto};
use std::path::Path;

const BUCKET: &str = "relpkg-test";
const TARGET: &str = "bookworm-x86_64";
const REPO: &str = "packaging/valkey-8.1/deb/debian12/amd64";

fn states(v: &serde_json::Value) -> Vec<(String, String)> {
    all_step_states(v).into_iter().take(8).collect()
}

fn want(s: &[(&str, &str)]) -> Vec<(String, String)> {
    s.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// `release --version V --environment dev` of `src` into `dist`, against `endpoint`.
fn release(work: &Path, moto: &Moto, endpoint: Option<&str>, v: &str, src: &Path, dist: &str) -> (i32, serde_json::Value, String) {
    let mut c = dev_release(work, moto, BUCKET, v, TARGET, dist);
    if let Some(e) = endpoint {
        c.env("AWS_ENDPOINT_URL", e).env("AWS_MAX_ATTEMPTS", "2");
    }
    c.arg("--source").arg(src);
    run_report(&mut c)
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_releases_publish_signed_repositories_in_the_store_that_apt_installs_from() {
    ensure_builder(TARGET);
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (_f1, src1) = fixture("8.1.1");

    // Run 1: the store is down: everything up to provenance is done, upload fails (exit 3).
    let dead = {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        format!("http://127.0.0.1:{port}")
    };
    let (code, v, out) = release(w, &moto, Some(&dead), "8.1.1", &src1, "dist-1");
    assert_eq!(code, 3, "{out}");
    assert_eq!(
        states(&v),
        want(&[
            ("source", "done"),
            ("build", "done"),
            ("sbom", "done"),
            ("sign", "done"),
            ("provenance", "done"),
            ("upload", "failed"),
            ("verify", "not_reached"),
            ("repositories", "not_reached"),
        ]),
        "{out}"
    );
    let dist = w.join("dist-1");
    let sig1 = std::fs::read(dist.join("SHA256SUMS.asc")).unwrap();
    let prov1 = std::fs::read(dist.join("valkey-8.1.1.intoto.jsonl")).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dist.join("manifest.json")).unwrap()).unwrap();
    let kinds: Vec<&str> = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    let debs = kinds.iter().filter(|k| **k == "deb").count();
    assert_eq!(debs, 5, "{kinds:?}");
    // One SBOM per other artifact (the tarball and each .deb).
    assert_eq!(kinds.iter().filter(|k| **k == "sbom").count(), debs + 1, "{kinds:?}");

    // Run 2 against the store that is up: nothing before upload is redone; signature and
    // provenance keep their bytes.
    let (code, v, out) = release(w, &moto, None, "8.1.1", &src1, "dist-1");
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        &states(&v)[1..],
        &want(&[
            ("build", "skipped_already_done"),
            ("sbom", "skipped_already_done"),
            ("sign", "skipped_already_done"),
            ("provenance", "skipped_already_done"),
            ("upload", "done"),
            ("verify", "done"),
            ("repositories", "done"),
        ])[..],
        "{out}"
    );
    assert_eq!(std::fs::read(dist.join("SHA256SUMS.asc")).unwrap(), sig1);
    assert_eq!(std::fs::read(dist.join("valkey-8.1.1.intoto.jsonl")).unwrap(), prov1);
    let keys = moto.keys(BUCKET, "");
    for k in [
        "releases/valkey-8.1.1.SHA256SUMS",
        "releases/valkey-8.1.1.SHA256SUMS.asc",
        "releases/GPG-KEY-valkey.asc",
        "releases/valkey-8.1.1.intoto.jsonl",
        "releases/valkey-8.1.1-bookworm-x86_64.tar.gz.spdx.json",
        "releases/deb/valkey-server_8.1.1-1.bookworm_amd64.deb",
        "packaging/GPG-KEY-valkey.asc",
        &format!("{REPO}/valkey-server_8.1.1-1.bookworm_amd64.deb"),
        &format!("{REPO}/Packages"),
        &format!("{REPO}/Packages.gz"),
        &format!("{REPO}/Release"),
        &format!("{REPO}/Release.gpg"),
        &format!("{REPO}/InRelease"),
    ] {
        assert!(keys.contains(&k.to_string()), "{k} missing: {keys:#?}");
    }
    let n_keys = keys.len();

    // Run 3: everything is done and still true; nothing is written.
    let (code, v, out) = release(w, &moto, None, "8.1.1", &src1, "dist-1");
    assert_eq!(code, 0, "{out}");
    assert!(
        states(&v)[1..].iter().all(|(_, s)| s == "skipped_already_done"),
        "{:?}\n{out}",
        states(&v)
    );
    assert_eq!(moto.keys(BUCKET, "").len(), n_keys);

    // `verify --public-key`: the signature of SHA256SUMS checks with the published key.
    let verify = |dir: &Path, key: &Path| {
        let mut c = cmd(w);
        c.arg("verify").arg("--public-key").arg(key).arg(dir);
        run(&mut c)
    };
    let (code, out, err) = verify(&dist, &test_public_key());
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("SHA256SUMS.asc: OK (good signature by "), "{out}");
    let other = packages_support::gpg_key("ed25519");
    let other_key = w.join("other.asc");
    std::fs::write(&other_key, &other.public_armored).unwrap();
    let (code, out, err) = verify(&dist, &other_key);
    assert_eq!(code, 1, "another key must not verify: {out}\n{err}");
    let unsigned = w.join("unsigned");
    std::fs::create_dir_all(&unsigned).unwrap();
    std::fs::copy(dist.join("SHA256SUMS"), unsigned.join("SHA256SUMS")).unwrap();
    let (code, _, err) = verify(&unsigned, &test_public_key());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("SHA256SUMS.asc not found"), "{err}");

    // A second patch release into the same store: the index keeps 8.1.1.
    let (_f2, src2) = fixture("8.1.2");
    let (code, v, out) = release(w, &moto, None, "8.1.2", &src2, "dist-2");
    assert_eq!(code, 0, "{out}");
    let r = step(&v, "repositories");
    assert_eq!(r["state"], "done", "{out}");
    let repo = &r["data"][0];
    assert_eq!(repo["added"].as_array().unwrap().len(), 5, "{repo}");
    assert_eq!(repo["indexed"].as_array().unwrap().len(), 10, "{repo}");

    // The store's packaging/ tree, served from a directory in a clean bookworm container.
    let served = w.join("served");
    let mut c = std::process::Command::new("aws");
    moto.env(&mut c);
    c.args([
        "s3",
        "cp",
        "--recursive",
        "--quiet",
        &format!("s3://{BUCKET}/packaging"),
        "--endpoint-url",
        &moto.endpoint(),
    ])
    .arg(served.join("packaging"));
    let st = c.status().expect("the AWS CLI (pip install awscli; .ci/setup installs it)");
    assert!(st.success(), "aws s3 cp");
    // The sources line users are given in docs/packages.md, with the site replaced by the directory.
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/packages.md")).unwrap();
    let line = doc
        .lines()
        .find_map(|l| l.split('"').find(|p| p.starts_with("deb [signed-by=")))
        .expect("docs/packages.md has a `deb [signed-by=...]` sources line");
    assert!(line.contains(&format!("https://download.valkey.io/{REPO} ./")), "{line}");
    let line = line.replace("https://download.valkey.io/", "file:/srv/repo/");

    let image = ensure_install_image("bookworm", "2.36");
    let c = Box::start(&image, "release-apt").await;
    let result = async {
        let keys = w.join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        // The key as published in the store.
        std::fs::copy(served.join("packaging/GPG-KEY-valkey.asc"), keys.join("valkey.asc")).unwrap();
        c.put_dir(&keys, "/usr/share/keyrings").await;
        c.put_dir(&served, "/srv/repo").await;
        c.sh_ok(&format!(
            "chmod -R a+rX /srv/repo /usr/share/keyrings && rm -f /etc/apt/sources.list.d/* && echo '{line}' > /etc/apt/sources.list"
        ))
        .await;
        c.apt_update_clean().await;
        let policy = c.sh_ok("apt-cache policy valkey-server").await;
        assert!(
            policy.contains("8.1.1-1.bookworm") && policy.contains("8.1.2-1.bookworm"),
            "{policy}"
        );
        c.sh_ok("DEBIAN_FRONTEND=noninteractive apt-get install -y valkey-server=8.1.1-1.bookworm valkey-tools=8.1.1-1.bookworm 2>&1")
            .await;
        let got = c.sh_ok("dpkg-query -W -f '${Version}' valkey-server").await;
        assert_eq!(got, "8.1.1-1.bookworm");
    };
    let r = tokio::time::timeout(std::time::Duration::from_secs(900), result).await;
    c.remove().await;
    r.expect("the install test finished within 15 minutes");
}

/// `release --no-packages`: a tarball-only release (no .deb in dist, the manifest or the store,
/// `repositories` skipped naming the flag), and `plan` says the same. The same release run
/// again without the flag builds the target again and adds its packages.
#[test]
fn a_tarball_only_release_makes_no_packages_and_a_later_full_run_adds_them() {
    ensure_builder(TARGET);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (_f, src) = fixture("8.1.1");
    let release = |extra: &[&str]| {
        let mut c = cmd(w);
        c.args([
            "--json",
            "release",
            "--version",
            "8.1.1",
            "--environment",
            "dev",
            "--target",
            TARGET,
        ])
        .args(["--dist", "dist", "--store", "file://store"])
        .args(extra)
        .arg("--source")
        .arg(&src);
        let (code, out, err) = run(&mut c);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("report: {e}\n{out}\n{err}"));
        (code, v, format!("{out}\n{err}"))
    };
    let kinds = || -> Vec<String> {
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(w.join("dist/manifest.json")).unwrap()).unwrap();
        m["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap().to_string())
            .collect()
    };
    let debs_in_store = || walk(&w.join("store")).iter().filter(|p| p.ends_with(".deb")).count();

    let mut c = cmd(w);
    c.args(["--json", "plan", "--version", "8.1.1", "--environment", "dev", "--target", TARGET])
        .args(["--store", "file://store", "--no-packages"]);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{out}\n{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let repos = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "repositories")
        .unwrap();
    assert_eq!(repos["runs"], false, "{repos}");
    assert!(repos["reason"].as_str().unwrap().contains("--no-packages"), "{repos}");

    let (code, v, out) = release(&["--no-packages"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(step(&v, "build")["state"], "done", "{out}");
    let r = step(&v, "repositories");
    assert_eq!(r["state"], "skipped_not_configured", "{out}");
    assert!(r["reason"].as_str().unwrap().contains("--no-packages"), "{r}");
    let k = kinds();
    assert!(!k.iter().any(|k| k == "deb"), "{k:?}");
    assert_eq!(k.iter().filter(|k| *k == "tarball").count(), 1, "{k:?}");
    assert_eq!(k.iter().filter(|k| *k == "sbom").count(), 1, "the tarball's SBOM: {k:?}");
    assert_eq!(debs_in_store(), 0);
    let log = std::fs::read_to_string(w.join(format!("dist/logs/{TARGET}.log"))).unwrap();
    assert!(!log.contains("post-build hook deb"), "{log}");

    // Without the flag: the tarball is there, its packages are not, so the target builds again.
    let (code, v, out) = release(&[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(step(&v, "build")["state"], "done", "{out}");
    assert_eq!(step(&v, "repositories")["state"], "done", "{out}");
    assert_eq!(kinds().iter().filter(|k| *k == "deb").count(), 5);
    assert!(debs_in_store() >= 5);
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.to_string_lossy().into_owned());
        }
    }
    out
}
