//! What `upload` trusts (issue 11): the server's own SHA-256 rather than metadata a writer set,
//! conditional writes proven on real servers (moto and s3s-fs answer 412 to `If-None-Match: *`)
//! and refused in prod when a server lacks or ignores them, and `--verify-download`.

mod upload_support;

use upload_support::*;

const BUCKET: &str = "valkey-test-bucket";
const TARBALL: &str = "releases/valkey-8.1.1-jammy-x86_64.tar.gz";

/// The release keys of `small_dist`-like dists of 8.1.1 (targets as given), sorted.
fn release_keys(targets: &[&str]) -> Vec<String> {
    let mut k = vec![
        "releases/valkey-8.1.1.SHA256SUMS".to_string(),
        "releases/valkey-8.1.1.manifest.json".to_string(),
    ];
    for t in targets {
        k.push(format!("releases/valkey-8.1.1-{t}.tar.gz"));
        k.push(format!("releases/valkey-8.1.1-{t}.tar.gz.sha256"));
    }
    k.sort();
    k
}

/// A create-only PUT of an existing key: the real server must refuse it with HTTP 412.
fn server_answers_412_to_if_none_match(s3: &S3Server) {
    block_on(s3.create_bucket(BUCKET));
    block_on(async {
        let c = s3.client().await;
        let put = |body: &'static [u8]| {
            c.put_object()
                .bucket(BUCKET)
                .key("k")
                .if_none_match("*")
                .body(aws_sdk_s3::primitives::ByteStream::from_static(body))
                .send()
        };
        put(b"first").await.expect("first create-only write");
        let e = put(b"second").await.expect_err("a second create-only write must be refused");
        let status = e.raw_response().map(|r| r.status().as_u16());
        assert_eq!(status, Some(412), "{e:?}");
    });
    assert_eq!(block_on(s3.get(BUCKET, "k")), b"first");
    // And the tool's prod upload, which proves this before writing, goes through.
    let w = Workdir::dist("8.1.1", &[("jammy-x86_64", 3000)], 21);
    let o = w.upload(
        &s3.url,
        &[("AWS_S3_BUCKET", BUCKET)],
        &["--json", "upload", "--environment", "prod"],
    );
    o.assert_clean();
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[test]
fn moto_answers_412_to_if_none_match() {
    server_answers_412_to_if_none_match(&Moto::start());
}

#[test]
fn s3s_fs_answers_412_to_if_none_match() {
    server_answers_412_to_if_none_match(&S3Server::s3s_fs());
}

#[test]
fn prod_refuses_a_server_that_ignores_if_none_match() {
    let moto = Moto::start();
    block_on(moto.create_bucket(BUCKET));
    let proxy = FaultProxy::start_drop_conditional(&moto.url);
    let w = Workdir::dist("8.1.1", &[("jammy-x86_64", 3000)], 22);
    let o = w.upload(&proxy.url, &[("AWS_S3_BUCKET", BUCKET)], &["upload", "--environment", "prod"]);
    o.assert_clean();
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.stderr.contains("ignores If-None-Match"), "{}", o.stderr);
    assert!(
        proxy.failed.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "no conditional write was tried"
    );
    // Nothing of the release was written (only the empty probe object).
    let keys = block_on(moto.keys(BUCKET));
    assert!(keys.iter().all(|k| k.ends_with("conditional-write-probe")), "{keys:?}");
    // dev does not need conditional writes.
    let o = w.upload(&proxy.url, &[("AWS_TEST_BUCKET", BUCKET)], &["upload", "--environment", "dev"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[test]
fn prod_refuses_a_server_without_conditional_writes_and_writes_nothing() {
    let moto = Moto::start();
    block_on(moto.create_bucket(BUCKET));
    let proxy = FaultProxy::start_no_conditional(&moto.url);
    let w = Workdir::dist("8.1.1", &[("jammy-x86_64", 3000), ("noble-arm64", 1000)], 14);
    let o = w.upload(&proxy.url, &[("AWS_S3_BUCKET", BUCKET)], &["upload", "--environment", "prod"]);
    o.assert_clean();
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.stderr.contains("does not support conditional writes"), "{}", o.stderr);
    assert!(block_on(moto.keys(BUCKET)).is_empty());
}

/// An object whose `sha256` metadata claims our digest but whose bytes differ (same size) is
/// not "identical": the server's own checksum decides.
#[test]
fn metadata_claiming_our_sha256_is_not_trusted() {
    let moto = Moto::start();
    block_on(moto.create_bucket(BUCKET));
    let w = Workdir::dist("8.1.1", &[("jammy-x86_64", 3000)], 23);
    let m = valkey_release::manifest::Manifest::load(&w.dist).unwrap();
    let ours = &m.artifacts[0];
    block_on(async {
        moto.client()
            .await
            .put_object()
            .bucket(BUCKET)
            .key(TARBALL)
            .metadata("sha256", &ours.sha256)
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .body(vec![0u8; ours.size as usize].into())
            .send()
            .await
            .unwrap()
    });
    let o = w.upload(&moto.url, &[("AWS_S3_BUCKET", BUCKET)], &["upload", "--environment", "prod"]);
    o.assert_clean();
    assert_eq!(o.code, 4, "prod must see different content: {}", o.stderr);
    assert!(o.stderr.contains(TARBALL), "{}", o.stderr);
    let o = w.upload(
        &moto.url,
        &[("AWS_TEST_BUCKET", BUCKET)],
        &["--json", "upload", "--environment", "dev"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v = json(&o);
    let row = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == TARBALL)
        .unwrap()
        .clone();
    assert_eq!(row["state"], "overwritten", "{row}");
    assert_eq!(block_on(moto.get(BUCKET, TARBALL)), std::fs::read(w.dist.join(&ours.file)).unwrap());
}

/// `--verify-download` downloads every object after the upload (seen at the proxy); without it
/// the server's checksum is used and no object is downloaded.
#[test]
fn verify_download_downloads_and_rehashes_every_object() {
    let moto = Moto::start();
    block_on(moto.create_bucket(BUCKET));
    let proxy = FaultProxy::start(&moto.url, 0);
    let w = Workdir::dist("8.1.1", &[("jammy-x86_64", 3000)], 24);
    let gets = |p: &FaultProxy| {
        let mut g: Vec<String> = p
            .requests()
            .into_iter()
            .filter(|(m, pq)| m == "GET" && is_object_path(pq.split('?').next().unwrap()))
            .map(|(_, pq)| pq.split('?').next().unwrap().trim_start_matches(&format!("/{BUCKET}/")).to_string())
            .collect();
        g.sort();
        g.dedup();
        g
    };
    let o = w.upload(&proxy.url, &[("AWS_TEST_BUCKET", BUCKET)], &["upload"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(gets(&proxy).is_empty(), "{:?}", gets(&proxy));
    let w2 = Workdir::dist("8.1.1", &[("jammy-x86_64", 3000)], 25);
    let o = w2.upload(&proxy.url, &[("AWS_TEST_BUCKET", BUCKET)], &["upload", "--verify-download"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(gets(&proxy), release_keys(&["jammy-x86_64"]));
}
