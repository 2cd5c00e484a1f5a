//! `upload` and `verify --remote` against a real S3-compatible server on loopback: moto, and for
//! the main cases (`*_s3s_fs`) s3s-fs too, a second, independent implementation.

mod upload_support;

use upload_support::*;
use valkey_release::version::Version;

const BUCKET: &str = "valkey-test-bucket";

fn small_dist(dir: &std::path::Path, seed: u64) {
    make_dist(dir, "8.1.1", &[("jammy-x86_64", 300_000), ("noble-arm64", 200_000)], seed);
}

fn expected_keys(v: &str, targets: &[&str]) -> Vec<String> {
    let mut k = vec![
        format!("releases/valkey-{v}.SHA256SUMS"),
        format!("releases/valkey-{v}.manifest.json"),
    ];
    for t in targets {
        k.push(format!("releases/valkey-{v}-{t}.tar.gz"));
        k.push(format!("releases/valkey-{v}-{t}.tar.gz.sha256"));
    }
    k.sort();
    k
}

fn json(o: &Out) -> serde_json::Value {
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", o.stdout, o.stderr))
}

fn states(v: &serde_json::Value) -> Vec<String> {
    v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["state"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn dev_upload_then_rerun_skips_everything_and_verify_remote_passes() {
    dev_upload_then_rerun_skips_everything_and_verify_remote_passes_on(&Moto::start());
}

#[test]
fn dev_upload_then_rerun_skips_everything_and_verify_remote_passes_s3s_fs() {
    dev_upload_then_rerun_skips_everything_and_verify_remote_passes_on(&S3Server::s3s_fs());
}

fn dev_upload_then_rerun_skips_everything_and_verify_remote_passes_on(moto: &S3Server) {
    block_on(moto.create_bucket(BUCKET));
    let aws = AwsEnv::new();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    small_dist(&dist, 1);

    let mut c = cli(&aws, &moto.url);
    c.env("AWS_TEST_BUCKET", BUCKET)
        .args(["--json", "upload", "--environment", "dev", "--dist"])
        .arg(&dist);
    let o = run(c);
    o.assert_clean();
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v = json(&o);
    assert_eq!(v["store"], format!("s3://{BUCKET}"));
    assert_eq!(v["complete"], true);
    assert!(states(&v).iter().all(|s| s == "uploaded"), "{v}");
    assert_eq!(
        block_on(moto.keys(BUCKET)),
        expected_keys("8.1.1", &["jammy-x86_64", "noble-arm64"])
    );
    // The bytes that landed are the files of dist/.
    let got = block_on(moto.get(BUCKET, "releases/valkey-8.1.1-jammy-x86_64.tar.gz"));
    assert_eq!(got, std::fs::read(dist.join("valkey-8.1.1-jammy-x86_64.tar.gz")).unwrap());
    let got = block_on(moto.get(BUCKET, "releases/valkey-8.1.1.manifest.json"));
    assert_eq!(got, std::fs::read(dist.join("manifest.json")).unwrap());

    // Re-run: everything skipped, nothing sent.
    let mut c = cli(&aws, &moto.url);
    c.env("AWS_TEST_BUCKET", BUCKET).args(["--json", "upload", "--dist"]).arg(&dist);
    let o = run(c);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v = json(&o);
    assert!(states(&v).iter().all(|s| s == "skipped"), "{v}");
    assert_eq!(v["bytes_uploaded"], 0);

    // Human table.
    let mut c = cli(&aws, &moto.url);
    c.args(["upload", "--bucket", BUCKET, "--dist"]).arg(&dist);
    let o = run(c);
    assert_eq!(o.code, 0);
    assert!(
        o.stdout.contains("KEY") && o.stdout.contains("SHA256") && o.stdout.contains("STATE"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("releases/valkey-8.1.1-noble-arm64.tar.gz"), "{}", o.stdout);

    // check_uploaded agrees; verify --remote passes.
    set_process_env(&aws, &moto.url);
    let mut opts = valkey_release::upload::UploadOptions::new(valkey_release::upload::Environment::Dev, &dist);
    opts.bucket = Some(BUCKET.into());
    let r = block_on(valkey_release::upload::check_uploaded(&opts)).unwrap();
    assert!(r.complete, "{:?}", r.missing);
    let ver = Version::parse("8.1.1").unwrap();
    let rep = block_on(valkey_release::verify::remote::check_remote(
        &format!("s3://{BUCKET}/releases/"),
        &ver,
    ))
    .unwrap();
    assert!(rep.ok, "{rep:?}");
    assert_eq!(rep.files.len(), 3);
    block_on(valkey_release::verify::remote::verify_remote(
        &format!("s3://{BUCKET}/releases/"),
        &ver,
        false,
    ))
    .unwrap();
}

#[test]
fn prod_refuses_different_bytes_dev_overwrites_force_overwrite_logged() {
    prod_refuses_different_bytes_dev_overwrites_force_overwrite_logged_on(&Moto::start());
}

#[test]
fn prod_refuses_different_bytes_dev_overwrites_force_overwrite_logged_s3s_fs() {
    prod_refuses_different_bytes_dev_overwrites_force_overwrite_logged_on(&S3Server::s3s_fs());
}

fn prod_refuses_different_bytes_dev_overwrites_force_overwrite_logged_on(moto: &S3Server) {
    block_on(moto.create_bucket(BUCKET));
    let aws = AwsEnv::new();
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    small_dist(&a, 1);
    small_dist(&b, 2); // same names, different bytes

    let mut c = cli(&aws, &moto.url);
    c.env("AWS_S3_BUCKET", BUCKET)
        .args(["upload", "--environment", "prod", "--dist"])
        .arg(&a);
    let o = run(c);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let before = block_on(moto.get(BUCKET, "releases/valkey-8.1.1-jammy-x86_64.tar.gz"));

    // prod, different content: exit 4, keys named, nothing changed.
    let mut c = cli(&aws, &moto.url);
    c.env("AWS_S3_BUCKET", BUCKET)
        .args(["upload", "--environment", "prod", "--dist"])
        .arg(&b);
    let o = run(c);
    o.assert_clean();
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.stderr.contains("releases/valkey-8.1.1-jammy-x86_64.tar.gz"), "{}", o.stderr);
    assert!(o.stderr.contains("--force-overwrite"), "{}", o.stderr);
    assert_eq!(block_on(moto.get(BUCKET, "releases/valkey-8.1.1-jammy-x86_64.tar.gz")), before);

    // dry run in dev shows would-overwrite and writes nothing.
    let mut c = cli(&aws, &moto.url);
    c.args([
        "--json",
        "upload",
        "--environment",
        "dev",
        "--dry-run",
        "--bucket",
        BUCKET,
        "--dist",
    ])
    .arg(&b);
    let o = run(c);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(states(&json(&o)).iter().all(|s| s == "would-overwrite"));
    assert_eq!(block_on(moto.get(BUCKET, "releases/valkey-8.1.1-jammy-x86_64.tar.gz")), before);

    // dev overwrites.
    let mut c = cli(&aws, &moto.url);
    c.args(["--json", "upload", "--environment", "dev", "--bucket", BUCKET, "--dist"])
        .arg(&b);
    let o = run(c);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(states(&json(&o)).iter().all(|s| s == "overwritten"), "{}", o.stdout);
    assert!(o.stderr.contains("overwriting"), "{}", o.stderr);
    assert_eq!(
        block_on(moto.get(BUCKET, "releases/valkey-8.1.1-jammy-x86_64.tar.gz")),
        std::fs::read(b.join("valkey-8.1.1-jammy-x86_64.tar.gz")).unwrap()
    );

    // prod with --force-overwrite puts a back, and says so.
    let mut c = cli(&aws, &moto.url);
    c.env("AWS_S3_BUCKET", BUCKET)
        .args(["upload", "--environment", "prod", "--force-overwrite", "--dist"])
        .arg(&a);
    let o = run(c);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("force-overwrite"), "{}", o.stderr);
    assert_eq!(block_on(moto.get(BUCKET, "releases/valkey-8.1.1-jammy-x86_64.tar.gz")), before);
}

#[test]
fn tampered_file_is_refused_before_anything_is_sent() {
    let moto = Moto::start();
    block_on(moto.create_bucket(BUCKET));
    let aws = AwsEnv::new();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    small_dist(&dist, 3);
    let f = dist.join("valkey-8.1.1-noble-arm64.tar.gz");
    let mut data = std::fs::read(&f).unwrap();
    data[1000] ^= 0xff;
    std::fs::write(&f, data).unwrap();
    let mut c = cli(&aws, &moto.url);
    c.args(["upload", "--bucket", BUCKET, "--dist"]).arg(&dist);
    let o = run(c);
    o.assert_clean();
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("valkey-8.1.1-noble-arm64.tar.gz"), "{}", o.stderr);
    assert!(o.stderr.contains("manifest.json"), "{}", o.stderr);
    assert!(block_on(moto.keys(BUCKET)).is_empty());
}

#[test]
fn multipart_above_16_mib_with_parallel_parts() {
    multipart_above_16_mib_with_parallel_parts_on(&Moto::start());
}

#[test]
fn multipart_above_16_mib_with_parallel_parts_s3s_fs() {
    multipart_above_16_mib_with_parallel_parts_on(&S3Server::s3s_fs());
}

fn multipart_above_16_mib_with_parallel_parts_on(moto: &S3Server) {
    block_on(moto.create_bucket(BUCKET));
    let aws = AwsEnv::new();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    make_dist(
        &dist,
        "9.1.0-rc2",
        &[("jammy-x86_64", 17 * 1024 * 1024 + 12345), ("noble-x86_64", 1000)],
        4,
    );
    let mut c = cli(&aws, &moto.url);
    c.args(["--json", "upload", "--bucket", BUCKET, "--concurrency", "3", "--dist"])
        .arg(&dist);
    let o = run(c);
    o.assert_clean();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(states(&json(&o)).iter().all(|s| s == "uploaded"));
    let key = "releases/valkey-9.1.0-rc2-jammy-x86_64.tar.gz";
    let head = block_on(async { moto.client().await.head_object().bucket(BUCKET).key(key).send().await.unwrap() });
    if moto.kind == "moto" {
        // moto gives multipart objects the S3 ETag form `<md5 of part md5s>-<parts>`.
        assert!(head.e_tag().unwrap().contains("-2"), "not multipart: {:?}", head.e_tag());
    }
    assert_eq!(
        block_on(moto.get(BUCKET, key)),
        std::fs::read(dist.join("valkey-9.1.0-rc2-jammy-x86_64.tar.gz")).unwrap()
    );
    if moto.kind == "moto" {
        assert_eq!(block_on(moto.multipart_uploads(BUCKET)), 0);
    }
    // Re-run skips the multipart object too.
    let mut c = cli(&aws, &moto.url);
    c.args(["--json", "upload", "--bucket", BUCKET, "--dist"]).arg(&dist);
    let o = run(c);
    assert_eq!(o.code, 0);
    assert!(states(&json(&o)).iter().all(|s| s == "skipped"));
}

#[test]
fn missing_bucket_variable_never_falls_back_and_bad_environment() {
    let aws = AwsEnv::new();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    small_dist(&dist, 5);
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    // prod with only the test bucket set: exit 2 naming AWS_S3_BUCKET.
    let mut c = cli(&aws, &endpoint);
    c.env("AWS_TEST_BUCKET", BUCKET)
        .args(["upload", "--environment", "prod", "--dist"])
        .arg(&dist);
    let o = run(c);
    o.assert_clean();
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("AWS_S3_BUCKET"), "{}", o.stderr);
    // dev with only the prod bucket set: exit 2 naming AWS_TEST_BUCKET.
    let mut c = cli(&aws, &endpoint);
    c.env("AWS_S3_BUCKET", BUCKET)
        .args(["upload", "--environment", "", "--dist"])
        .arg(&dist);
    let o = run(c);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("AWS_TEST_BUCKET"), "{}", o.stderr);
    // Unknown environment.
    let mut c = cli(&aws, &endpoint);
    c.args(["upload", "--environment", "production", "--bucket", BUCKET, "--dist"])
        .arg(&dist);
    let o = run(c);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("production"), "{}", o.stderr);
    // --bucket and --store together.
    let mut c = cli(&aws, &endpoint);
    c.args(["upload", "--bucket", BUCKET, "--store", "file://x", "--dist"]).arg(&dist);
    assert_eq!(run(c).code, 2);
}

#[test]
fn bucket_that_does_not_exist() {
    let moto = Moto::start();
    let aws = AwsEnv::new();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    small_dist(&dist, 6);
    let mut c = cli(&aws, &moto.url);
    c.args(["upload", "--bucket", "no-such-bucket", "--dist"]).arg(&dist);
    let o = run(c);
    o.assert_clean();
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("no-such-bucket") && o.stderr.contains("does not exist"),
        "{}",
        o.stderr
    );
}

#[test]
fn wrong_credentials_give_a_clear_message() {
    // moto checks access keys when INITIAL_NO_AUTH_ACTION_COUNT=0; ours are unknown to it.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let aws = AwsEnv::new();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    small_dist(&dist, 7);
    let mut c = cli(&aws, &moto.url);
    c.args(["upload", "--bucket", BUCKET, "--dist"]).arg(&dist);
    let o = run(c);
    o.assert_clean();
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("credentials"), "{}", o.stderr);
    assert_eq!(
        o.stderr.trim().lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{}",
        o.stderr
    );
}

#[test]
fn server_down_gives_a_clear_message_after_retries() {
    let aws = AwsEnv::new();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    small_dist(&dist, 8);
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let mut c = cli(&aws, &endpoint);
    c.args(["upload", "--bucket", BUCKET, "--max-attempts", "3", "--dist"]).arg(&dist);
    let o = run(c);
    o.assert_clean();
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(
        o.stderr.contains("cannot reach") && o.stderr.contains("after 3 attempts"),
        "{}",
        o.stderr
    );
}

#[test]
fn faulty_server_500_503_everything_ends_correct() {
    let moto = Moto::start();
    block_on(moto.create_bucket(BUCKET));
    let proxy = FaultProxy::start(&moto.url, 3);
    let aws = AwsEnv::new();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    make_dist(
        &dist,
        "8.1.1",
        &[
            ("jammy-x86_64", 17 * 1024 * 1024),
            ("noble-arm64", 100_000),
            ("noble-x86_64", 50_000),
        ],
        9,
    );
    let mut c = cli(&aws, &proxy.url);
    c.args(["--json", "upload", "--bucket", BUCKET, "--max-attempts", "8", "--dist"])
        .arg(&dist);
    let o = run(c);
    o.assert_clean();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        proxy.failed.load(std::sync::atomic::Ordering::SeqCst) >= 3,
        "the proxy injected too few faults"
    );
    assert!(states(&json(&o)).iter().all(|s| s == "uploaded"), "{}", o.stdout);
    // Every object correct, checked directly on the server.
    set_process_env(&aws, &moto.url);
    let ver = Version::parse("8.1.1").unwrap();
    let rep = block_on(valkey_release::verify::remote::check_remote(
        &format!("s3://{BUCKET}/releases/"),
        &ver,
    ))
    .unwrap();
    assert!(rep.ok, "{rep:?}");
    assert_eq!(block_on(moto.multipart_uploads(BUCKET)), 0);
    // verify --remote through the faulty proxy also ends correct (it retries too).
    std::env::set_var("AWS_ENDPOINT_URL", &proxy.url);
    let rep = block_on(valkey_release::verify::remote::check_remote(
        &format!("s3://{BUCKET}/releases/"),
        &ver,
    ))
    .unwrap();
    assert!(rep.ok, "{rep:?}");
}

#[test]
fn failed_run_lists_missing_keys_and_next_run_completes_them() {
    let moto = Moto::start();
    block_on(moto.create_bucket(BUCKET));
    // Every write fails: the run cannot finish.
    let proxy = FaultProxy::start_with(&moto.url, 1, true);
    let aws = AwsEnv::new();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    small_dist(&dist, 10);
    let mut c = cli(&aws, &proxy.url);
    c.args(["--json", "upload", "--bucket", BUCKET, "--max-attempts", "2", "--dist"])
        .arg(&dist);
    let o = run(c);
    o.assert_clean();
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("kept failing"), "{}", o.stderr);
    let v = json(&o);
    assert_eq!(v["complete"], false);
    assert!(states(&v).iter().all(|s| s == "failed"), "{v}");
    for k in expected_keys("8.1.1", &["jammy-x86_64", "noble-arm64"]) {
        assert!(o.stderr.contains(&k), "{k} not named as missing:\n{}", o.stderr);
    }
    assert!(block_on(moto.keys(BUCKET)).is_empty());
    drop(proxy);
    // Half-failing server, no retries: some objects make it.
    let proxy = FaultProxy::start_with(&moto.url, 2, true);
    let mut c = cli(&aws, &proxy.url);
    c.args(["--json", "upload", "--bucket", BUCKET, "--max-attempts", "1", "--dist"])
        .arg(&dist);
    let o = run(c);
    o.assert_clean();
    if o.code != 0 {
        assert_eq!(o.code, 3, "{}", o.stderr);
        let v = json(&o);
        let missing: Vec<String> = v["missing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        assert!(!missing.is_empty());
        for k in &missing {
            assert!(o.stderr.contains(k.as_str()), "{k} not named:\n{}", o.stderr);
        }
        // The manifest is written last: never present while artifacts are missing.
        let keys = block_on(moto.keys(BUCKET));
        assert!(
            !keys.contains(&"releases/valkey-8.1.1.manifest.json".to_string()) || missing.iter().all(|k| k.ends_with("manifest.json")),
            "{keys:?}"
        );
    }
    drop(proxy);
    // Next run against the healthy server completes, skipping what is there.
    let mut c = cli(&aws, &moto.url);
    c.args(["--json", "upload", "--bucket", BUCKET, "--dist"]).arg(&dist);
    let o = run(c);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(json(&o)["complete"], true);
    assert_eq!(
        block_on(moto.keys(BUCKET)),
        expected_keys("8.1.1", &["jammy-x86_64", "noble-arm64"])
    );
}

#[test]
fn verify_remote_catches_an_object_corrupted_on_the_server() {
    verify_remote_catches_an_object_corrupted_on_the_server_on(&Moto::start());
}

#[test]
fn verify_remote_catches_an_object_corrupted_on_the_server_s3s_fs() {
    verify_remote_catches_an_object_corrupted_on_the_server_on(&S3Server::s3s_fs());
}

fn verify_remote_catches_an_object_corrupted_on_the_server_on(moto: &S3Server) {
    block_on(moto.create_bucket(BUCKET));
    let aws = AwsEnv::new();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    small_dist(&dist, 11);
    let mut c = cli(&aws, &moto.url);
    c.args(["upload", "--bucket", BUCKET, "--dist"]).arg(&dist);
    assert_eq!(run(c).code, 0);
    // Flip one byte of one artifact on the server (same size).
    let key = "releases/valkey-8.1.1-noble-arm64.tar.gz";
    let mut data = block_on(moto.get(BUCKET, key));
    data[7] ^= 1;
    block_on(moto.put_raw(BUCKET, key, data));
    set_process_env(&aws, &moto.url);
    let ver = Version::parse("8.1.1").unwrap();
    let remote = format!("s3://{BUCKET}/releases/");
    let rep = block_on(valkey_release::verify::remote::check_remote(&remote, &ver)).unwrap();
    assert!(!rep.ok);
    let bad: Vec<&str> = rep.files.iter().filter(|f| !f.ok).map(|f| f.file.as_str()).collect();
    assert_eq!(bad, vec!["valkey-8.1.1-noble-arm64.tar.gz"]);
    let e = block_on(valkey_release::verify::remote::verify_remote(&remote, &ver, false)).unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("valkey-8.1.1-noble-arm64.tar.gz"), "{e}");
    // A re-upload in prod refuses to repair it silently (different content): exit 4.
    let mut c = cli(&aws, &moto.url);
    c.env("AWS_S3_BUCKET", BUCKET)
        .args(["upload", "--environment", "prod", "--dist"])
        .arg(&dist);
    let o = run(c);
    assert_eq!(o.code, 4, "{}", o.stderr);
    // A wrong published .sha256 is caught too.
    block_on(moto.put_raw(
        BUCKET,
        "releases/valkey-8.1.1-jammy-x86_64.tar.gz.sha256",
        format!("{}  valkey-8.1.1-jammy-x86_64.tar.gz\n", "0".repeat(64)).into_bytes(),
    ));
    let rep = block_on(valkey_release::verify::remote::check_remote(&remote, &ver)).unwrap();
    assert_eq!(rep.files.iter().filter(|f| !f.ok).count(), 2, "{rep:?}");
    // A version that was never published.
    let e = block_on(valkey_release::verify::remote::verify_remote(
        &remote,
        &Version::parse("9.9.9").unwrap(),
        false,
    ))
    .unwrap_err();
    assert_eq!(e.exit_code(), 1);
}

#[test]
fn interrupted_multipart_upload_is_aborted() {
    let moto = Moto::start();
    block_on(moto.create_bucket(BUCKET));
    let proxy = FaultProxy::start_slow(&moto.url, std::time::Duration::from_millis(1500));
    let aws = AwsEnv::new();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    make_dist(&dist, "8.1.1", &[("jammy-x86_64", 40 * 1024 * 1024)], 12);
    let mut c = cli(&aws, &proxy.url);
    c.args(["upload", "--bucket", BUCKET, "--concurrency", "1", "--part-size-mib", "5", "--dist"])
        .arg(&dist);
    c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    // Wait until a multipart upload is open on the server, then Ctrl-C.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while block_on(moto.multipart_uploads(BUCKET)) == 0 {
        assert!(std::time::Instant::now() < deadline, "no multipart upload started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let st = std::process::Command::new("sh")
        .args(["-c", &format!("kill -INT {}", child.id())])
        .status()
        .unwrap();
    assert!(st.success());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(block_on(moto.multipart_uploads(BUCKET)), 0, "multipart upload left open:\n{stderr}");
    // The tarball is not there (only its small .sha256 may have been sent), nor the manifest.
    let keys = block_on(moto.keys(BUCKET));
    assert!(keys.iter().all(|k| k.ends_with(".sha256")), "{keys:?}");
}

#[test]
fn web_identity_role_credentials_work() {
    // No keys at all: only AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (a GitHub OIDC role's shape).
    // aws-config calls STS AssumeRoleWithWebIdentity (moto's, through AWS_ENDPOINT_URL) for keys.
    let moto = Moto::start();
    block_on(moto.create_bucket(BUCKET));
    let aws = AwsEnv::new();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    small_dist(&dist, 13);
    let token = tmp.path().join("token");
    std::fs::write(
        &token,
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyZXBvOnZhbGtleS1pby92YWxrZXkifQ.c2lnbmF0dXJl",
    )
    .unwrap();
    let mut c = cli(&aws, &moto.url);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/valkey-release")
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
        .args(["--json", "upload", "--bucket", BUCKET, "--dist"])
        .arg(&dist);
    let o = run(c);
    o.assert_clean();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(json(&o)["complete"], true);
    // Without any credentials: a clear message naming the ways to provide them.
    let mut c = cli(&aws, &moto.url);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["upload", "--bucket", BUCKET, "--dist"])
        .arg(&dist);
    let o = run(c);
    o.assert_clean();
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("AWS_WEB_IDENTITY_TOKEN_FILE"), "{}", o.stderr);
}

#[test]
fn prod_on_a_server_without_conditional_writes_falls_back_to_head_checks() {
    let moto = Moto::start();
    block_on(moto.create_bucket(BUCKET));
    let proxy = FaultProxy::start_no_conditional(&moto.url);
    let aws = AwsEnv::new();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    make_dist(&dist, "8.1.1", &[("jammy-x86_64", 17 * 1024 * 1024), ("noble-arm64", 1000)], 14);
    let mut c = cli(&aws, &proxy.url);
    c.env("AWS_S3_BUCKET", BUCKET)
        .args(["--json", "upload", "--environment", "prod", "--dist"])
        .arg(&dist);
    let o = run(c);
    o.assert_clean();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(states(&json(&o)).iter().all(|s| s == "uploaded"), "{}", o.stdout);
    assert!(
        proxy.failed.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "no conditional write was attempted"
    );
    assert_eq!(
        block_on(moto.keys(BUCKET)),
        expected_keys("8.1.1", &["jammy-x86_64", "noble-arm64"])
    );
    assert_eq!(block_on(moto.multipart_uploads(BUCKET)), 0);
}
