//! `verify --provenance` of a release published in a store (issue 14): a real moto S3 server
//! and a `file://` store, through the one store factory. The release is downloaded (manifest,
//! artifacts under their kind's key prefix, SHA256SUMS, provenance, every other subject) and
//! checked like a local directory; one changed byte of an artifact or of the provenance in the
//! store fails with exit 1 naming it.

mod packages_support;
mod upload_support;

use std::path::Path;
use upload_support::*;
use valkey_release::manifest::{checksum_line, Artifact, Manifest};

const BUCKET: &str = "valkey-trust-bucket";
const V: &str = "8.1.1";
const DEB: &str = "valkey-server_8.1.1-1.bookworm_amd64.deb";

/// A dist of two tarballs and one .deb (key prefix `deb/` in the store), with a signed provenance.
fn signed_dist(w: &Workdir) -> std::path::PathBuf {
    let dist = &w.dist;
    let data = random_bytes(30_000, 77);
    std::fs::write(dist.join(DEB), &data).unwrap();
    let (sha, size) = valkey_release::fsutil::sha256_file(&dist.join(DEB)).unwrap();
    std::fs::write(dist.join(format!("{DEB}.sha256")), checksum_line(&sha, DEB)).unwrap();
    let mut m = Manifest::load(dist).unwrap();
    m.upsert(Artifact {
        target: "bookworm-x86_64".into(),
        kind: "deb".into(),
        describes: None,
        distro: "bookworm".into(),
        arch: "x86_64".into(),
        file: DEB.into(),
        size,
        sha256: sha,
        checksum_file: format!("{DEB}.sha256"),
        files: vec![],
        build: None,
    });
    m.save(dist).unwrap();
    std::fs::write(dist.join("SHA256SUMS"), m.sha256sums()).unwrap();
    let key = packages_support::gpg_key("ed25519");
    let (sk, pk) = (w.tmp.path().join("secret.asc"), w.tmp.path().join("public.asc"));
    std::fs::write(&sk, &key.secret_armored).unwrap();
    std::fs::write(&pk, &key.public_armored).unwrap();
    let mut c = cli(&w.aws, "http://127.0.0.1:9");
    c.args(["provenance", "--environment", "dev", "--dist"])
        .arg(dist)
        .arg("--signing-key")
        .arg(&sk);
    let o = run(c);
    assert_eq!(o.code, 0, "provenance: {}", o.stderr);
    pk
}

fn verify(w: &Workdir, endpoint: &str, url: &str, pk: &Path) -> Out {
    let mut c = cli(&w.aws, endpoint);
    c.args(["verify", "--provenance", url, "--version", V, "--public-key"]).arg(pk);
    let o = run(c);
    o.assert_clean();
    o
}

fn flip(mut b: Vec<u8>, at: usize) -> Vec<u8> {
    b[at] ^= 1;
    b
}

#[test]
fn verify_provenance_of_a_release_in_s3_and_in_a_file_store() {
    let s3 = Moto::start();
    block_on(s3.create_bucket(BUCKET));
    let w = Workdir::dist(V, &[("bookworm-x86_64", 60_000), ("bookworm-arm64", 50_000)], 5);
    let pk = signed_dist(&w);
    let prov_name = format!("valkey-{V}.intoto.jsonl");
    let prov = std::fs::read(w.dist.join(&prov_name)).unwrap();

    let o = w.upload(
        &s3.url,
        &[],
        &["upload", "--environment", "dev", "--store", &format!("s3://{BUCKET}")],
    );
    assert_eq!(o.code, 0, "upload: {}", o.stderr);
    let keys = block_on(s3.keys(BUCKET));
    assert!(keys.contains(&format!("releases/deb/{DEB}")), "{keys:?}");
    // The upload publishes the provenance beside the release.
    let prov_key = format!("releases/{prov_name}");
    assert!(keys.contains(&prov_key), "{keys:?}");

    let url = format!("s3://{BUCKET}/releases/");
    let o = verify(&w, &s3.url, &url, &pk);
    assert_eq!(o.code, 0, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    for f in [
        "valkey-8.1.1-bookworm-x86_64.tar.gz",
        "valkey-8.1.1-bookworm-arm64.tar.gz.sha256",
        DEB,
        "SHA256SUMS",
        "manifest.json",
    ] {
        assert!(o.stdout.contains(&format!("subject {f}: OK")), "{f}:\n{}", o.stdout);
    }
    assert!(
        o.stdout
            .contains("signature s3://valkey-trust-bucket/releases/valkey-8.1.1.intoto.jsonl: OK"),
        "{}",
        o.stdout
    );

    // One byte of a published artifact: exit 1 naming it.
    let key = "releases/valkey-8.1.1-bookworm-arm64.tar.gz";
    let good = block_on(s3.get(BUCKET, key));
    block_on(s3.put_raw(BUCKET, key, flip(good.clone(), 1000)));
    let o = verify(&w, &s3.url, &url, &pk);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(
        o.stdout.contains("subject valkey-8.1.1-bookworm-arm64.tar.gz: FAILED"),
        "{}",
        o.stdout
    );
    block_on(s3.put_raw(BUCKET, key, good));

    // The .deb under its kind's prefix too.
    let key = format!("releases/deb/{DEB}");
    let good = block_on(s3.get(BUCKET, &key));
    block_on(s3.put_raw(BUCKET, &key, flip(good.clone(), 10)));
    let o = verify(&w, &s3.url, &url, &pk);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stdout.contains(&format!("subject {DEB}: FAILED")), "{}", o.stdout);
    block_on(s3.put_raw(BUCKET, &key, good));
    assert_eq!(verify(&w, &s3.url, &url, &pk).code, 0);

    // One byte of the provenance's payload: the signature fails.
    let text = String::from_utf8(prov.clone()).unwrap();
    let at = text.find("\"payload\":\"").unwrap() + 30;
    let mut bad = prov.clone();
    bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
    block_on(s3.put_raw(BUCKET, &prov_key, bad));
    let o = verify(&w, &s3.url, &url, &pk);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stdout.contains("signature") && o.stdout.contains("FAILED"), "{}", o.stdout);
    block_on(s3.put_raw(BUCKET, &prov_key, prov.clone()));

    // Another version than the one published: exit 1, nothing to check.
    let mut c = cli(&w.aws, &s3.url);
    c.args(["verify", "--provenance", &url, "--version", "8.1.2", "--public-key"])
        .arg(&pk);
    let o = run(c);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("valkey-8.1.2.manifest.json"), "{}", o.stderr);

    // The same release in a file:// store, through the same factory.
    let bucket = w.tmp.path().join("bucket");
    let o = w.upload(
        &s3.url,
        &[],
        &["upload", "--environment", "dev", "--store", &format!("file://{}", bucket.display())],
    );
    assert_eq!(o.code, 0, "upload: {}", o.stderr);
    let rel = bucket.join("releases");
    assert_eq!(std::fs::read(rel.join(&prov_name)).unwrap(), prov);
    let furl = format!("file://{}/", rel.display());
    let o = verify(&w, &s3.url, &furl, &pk);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let tb = rel.join("valkey-8.1.1-bookworm-x86_64.tar.gz");
    let good = std::fs::read(&tb).unwrap();
    std::fs::write(&tb, flip(good, 5)).unwrap();
    let o = verify(&w, &s3.url, &furl, &pk);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(
        o.stdout.contains("subject valkey-8.1.1-bookworm-x86_64.tar.gz: FAILED"),
        "{}",
        o.stdout
    );
    // A subject the store lacks: missing, exit 1.
    std::fs::remove_file(rel.join(format!("valkey-{V}.SHA256SUMS"))).unwrap();
    let o = verify(&w, &s3.url, &furl, &pk);
    assert_eq!(o.code, 1);
    assert!(
        o.stdout.contains("subject SHA256SUMS: FAILED (missing from file://"),
        "{}",
        o.stdout
    );
}
