//! A release published by `release` itself (its sbom, sign, provenance and upload steps; issue
//! 14): `verify --provenance <store>` passes on what it published, to a real S3 server (moto)
//! and to a `file://` store, and fails (exit 1) when one byte of any object in the store
//! changes: the tarball, a .deb under `deb/`, an SBOM, `valkey-<V>.SHA256SUMS` and its `.asc`,
//! the public key and the provenance. The provenance's subjects carry the dist's names; the
//! store's keys differ (`releases/valkey-<V>.SHA256SUMS`, `releases/deb/...`).

mod packages_support;
mod release_support;

use packages_support::engine::{ensure_builder, fixture};
use release_support::{cmd, dev_release, run, run_report, step, test_public_key, Moto};
use std::path::Path;

const BUCKET: &str = "trust-published";
const TARGET: &str = "bookworm-x86_64";
const V: &str = "8.1.1";

/// `release --environment dev` of `src` into `dist` (against moto unless `store` is given).
fn release(w: &Path, moto: &Moto, src: &Path, dist: &str, store: Option<&str>) {
    let mut c = dev_release(w, moto, BUCKET, V, TARGET, dist);
    c.arg("--source").arg(src);
    if let Some(s) = store {
        c.args(["--store", s]);
    }
    let (code, v, out) = run_report(&mut c);
    assert_eq!(code, 0, "release: {out}");
    for s in ["sbom", "sign", "provenance", "upload", "verify"] {
        assert_eq!(step(&v, s)["state"], "done", "{s}: {out}");
    }
}

/// `verify --provenance URL --version V --public-key <the release key>`: (exit code, stdout).
fn verify(w: &Path, moto: &Moto, url: &str) -> (i32, String) {
    let mut c = cmd(w);
    moto.env(&mut c);
    c.args(["verify", "--provenance", url, "--version", V, "--public-key"])
        .arg(test_public_key());
    let (code, out, err) = run(&mut c);
    (code, format!("{out}\n{err}"))
}

/// The object keys under `releases/` every check changes one byte of.
fn objects(dist: &Path) -> Vec<String> {
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(dist.join("manifest.json")).unwrap()).unwrap();
    let deb = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "deb" && a["file"].as_str().unwrap().starts_with("valkey-server_"))
        .map(|a| a["file"].as_str().unwrap().to_string())
        .expect("a valkey-server .deb");
    vec![
        format!("releases/valkey-{V}-{TARGET}.tar.gz"),
        format!("releases/deb/{deb}"),
        format!("releases/valkey-{V}-{TARGET}.tar.gz.spdx.json"),
        format!("releases/valkey-{V}.SHA256SUMS"),
        format!("releases/valkey-{V}.SHA256SUMS.asc"),
        "releases/GPG-KEY-valkey.asc".into(),
        format!("releases/valkey-{V}.intoto.jsonl"),
    ]
}

/// Change one byte of each object (through `get`/`put`), check that verify fails with exit 1,
/// put it back, and check that it passes again.
fn each_changed_byte_fails(w: &Path, moto: &Moto, url: &str, keys: &[String], get: &dyn Fn(&str) -> Vec<u8>, put: &dyn Fn(&str, &[u8])) {
    for key in keys {
        let good = get(key);
        assert!(!good.is_empty(), "{key} is published");
        let mut bad = good.clone();
        let at = bad.len() / 2;
        bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
        put(key, &bad);
        let (code, out) = verify(w, moto, url);
        put(key, &good);
        assert_eq!(code, 1, "one changed byte of {key} must fail:\n{out}");
        assert!(out.contains("FAILED"), "{key}:\n{out}");
    }
    let (code, out) = verify(w, moto, url);
    assert_eq!(code, 0, "after restoring:\n{out}");
}

#[test]
fn verify_provenance_of_what_release_published_to_s3_and_to_a_file_store() {
    ensure_builder(TARGET);
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (_f, src) = fixture(V);

    release(w, &moto, &src, "dist-s3", None);
    let keys = objects(&w.join("dist-s3"));
    let listed = moto.keys(BUCKET, "releases/");
    for k in &keys {
        assert!(listed.contains(k), "{k} not published: {listed:#?}");
    }
    let url = format!("s3://{BUCKET}/releases/");
    let (code, out) = verify(w, &moto, &url);
    assert_eq!(code, 0, "{out}");
    for s in ["SHA256SUMS", "SHA256SUMS.asc", "GPG-KEY-valkey.asc", "manifest.json"] {
        assert!(out.contains(&format!("subject {s}: OK")), "{s}:\n{out}");
    }
    let aws = |args: &[&str]| {
        let mut c = std::process::Command::new("aws");
        moto.env(&mut c);
        c.args(args).args(["--endpoint-url", &moto.endpoint(), "--quiet"]);
        let st = c.status().expect("the AWS CLI (pip install awscli; .ci/setup installs it)");
        assert!(st.success(), "aws {args:?}");
    };
    let tmp = w.join("object");
    let get = |key: &str| {
        aws(&["s3", "cp", &format!("s3://{BUCKET}/{key}"), tmp.to_str().unwrap()]);
        std::fs::read(&tmp).unwrap()
    };
    let put = |key: &str, bytes: &[u8]| {
        std::fs::write(&tmp, bytes).unwrap();
        aws(&["s3", "cp", tmp.to_str().unwrap(), &format!("s3://{BUCKET}/{key}")]);
    };
    each_changed_byte_fails(w, &moto, &url, &keys, &get, &put);

    // The same through a file:// store.
    let store = w.join("store");
    release(w, &moto, &src, "dist-file", Some(&format!("file://{}", store.display())));
    let url = format!("file://{}/releases/", store.display());
    let (code, out) = verify(w, &moto, &url);
    assert_eq!(code, 0, "{out}");
    let keys = objects(&w.join("dist-file"));
    let get = |key: &str| std::fs::read(store.join(key)).unwrap();
    let put = |key: &str, bytes: &[u8]| std::fs::write(store.join(key), bytes).unwrap();
    each_changed_byte_fails(w, &moto, &url, &keys, &get, &put);
}
