//! `upload` and `verify --remote` against a real S3-compatible server on loopback: moto, and for
//! the main cases (`*_s3s_fs`) s3s-fs too, a second, independent implementation.

mod upload_support;

use upload_support::*;
use valkey_release::version::Version;

const BUCKET: &str = "valkey-test-bucket";

/// Two `#[test]`s named `$moto` and `$s3s_fs` that run the scenario `$scenario(&S3Server)`
/// against moto and against s3s-fs.
macro_rules! on_moto_and_s3s_fs {
    ($moto:ident, $s3s_fs:ident, $scenario:ident) => {
        #[test]
        fn $moto() {
            $scenario(&Moto::start());
        }

        #[test]
        fn $s3s_fs() {
            $scenario(&S3Server::s3s_fs());
        }
    };
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

/// moto, started, with the bucket BUCKET.
fn moto_with_bucket() -> Moto {
    let moto = Moto::start();
    block_on(moto.create_bucket(BUCKET));
    moto
}

/// `check_remote` of `version` under `s3://BUCKET/releases/`, with this process's environment
/// (see `set_process_env`).
fn check_bucket(version: &Version) -> valkey_release::verify::remote::RemoteReport {
    block_on(valkey_release::verify::remote::check_remote(
        &format!("s3://{BUCKET}/releases/"),
        version,
    ))
    .unwrap()
}

on_moto_and_s3s_fs!(
    dev_upload_then_rerun_skips_everything_and_verify_remote_passes,
    dev_upload_then_rerun_skips_everything_and_verify_remote_passes_s3s_fs,
    dev_upload_then_rerun_skips_everything_and_verify_remote_passes_on
);

fn dev_upload_then_rerun_skips_everything_and_verify_remote_passes_on(moto: &S3Server) {
    block_on(moto.create_bucket(BUCKET));
    let w = Workdir::small_dist(1);
    let dist = &w.dist;

    let o = w.upload(
        &moto.url,
        &[("AWS_TEST_BUCKET", BUCKET)],
        &["--json", "upload", "--environment", "dev"],
    );
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
    let o = w.upload(&moto.url, &[("AWS_TEST_BUCKET", BUCKET)], &["--json", "upload"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v = json(&o);
    assert!(states(&v).iter().all(|s| s == "skipped"), "{v}");
    assert_eq!(v["bytes_uploaded"], 0);

    // Human table.
    let o = w.upload(&moto.url, &[], &["upload", "--bucket", BUCKET]);
    assert_eq!(o.code, 0);
    assert!(
        o.stdout.contains("KEY") && o.stdout.contains("SHA256") && o.stdout.contains("STATE"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("releases/valkey-8.1.1-noble-arm64.tar.gz"), "{}", o.stdout);

    // check_uploaded agrees; verify --remote passes.
    set_process_env(&w.aws, &moto.url);
    let mut opts = valkey_release::upload::UploadOptions::new(valkey_release::upload::Environment::Dev, dist);
    opts.bucket = Some(BUCKET.into());
    let r = block_on(valkey_release::upload::check_uploaded(&opts)).unwrap();
    assert!(r.complete, "{:?}", r.missing);
    let ver = Version::parse("8.1.1").unwrap();
    let rep = check_bucket(&ver);
    assert!(rep.ok, "{rep:?}");
    assert_eq!(rep.files.len(), 3);
    block_on(valkey_release::verify::remote::verify_remote(
        &format!("s3://{BUCKET}/releases/"),
        &ver,
        false,
    ))
    .unwrap();
}

on_moto_and_s3s_fs!(
    prod_refuses_different_bytes_dev_overwrites_force_overwrite_logged,
    prod_refuses_different_bytes_dev_overwrites_force_overwrite_logged_s3s_fs,
    prod_refuses_different_bytes_dev_overwrites_force_overwrite_logged_on
);

fn prod_refuses_different_bytes_dev_overwrites_force_overwrite_logged_on(moto: &S3Server) {
    block_on(moto.create_bucket(BUCKET));
    let w = Workdir::small_dist(1);
    let a = &w.dist;
    let b = w.tmp.path().join("b");
    small_dist(&b, 2); // same names, different bytes

    let o = w.upload_dist(a, &moto.url, &[("AWS_S3_BUCKET", BUCKET)], &["upload", "--environment", "prod"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let before = block_on(moto.get(BUCKET, "releases/valkey-8.1.1-jammy-x86_64.tar.gz"));

    // prod, different content: exit 4, keys named, nothing changed.
    let o = w.upload_dist(&b, &moto.url, &[("AWS_S3_BUCKET", BUCKET)], &["upload", "--environment", "prod"]);
    o.assert_clean();
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.stderr.contains("releases/valkey-8.1.1-jammy-x86_64.tar.gz"), "{}", o.stderr);
    assert!(o.stderr.contains("--force-overwrite"), "{}", o.stderr);
    assert_eq!(block_on(moto.get(BUCKET, "releases/valkey-8.1.1-jammy-x86_64.tar.gz")), before);

    // dry run in dev shows would-overwrite and writes nothing.
    let o = w.upload_dist(
        &b,
        &moto.url,
        &[],
        &["--json", "upload", "--environment", "dev", "--dry-run", "--bucket", BUCKET],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(states(&json(&o)).iter().all(|s| s == "would-overwrite"));
    assert_eq!(block_on(moto.get(BUCKET, "releases/valkey-8.1.1-jammy-x86_64.tar.gz")), before);

    // dev overwrites.
    let o = w.upload_dist(
        &b,
        &moto.url,
        &[],
        &["--json", "upload", "--environment", "dev", "--bucket", BUCKET],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(states(&json(&o)).iter().all(|s| s == "overwritten"), "{}", o.stdout);
    assert!(o.stderr.contains("overwriting"), "{}", o.stderr);
    assert_eq!(
        block_on(moto.get(BUCKET, "releases/valkey-8.1.1-jammy-x86_64.tar.gz")),
        std::fs::read(b.join("valkey-8.1.1-jammy-x86_64.tar.gz")).unwrap()
    );

    // prod with --force-overwrite puts a back, and says so.
    let o = w.upload_dist(
        a,
        &moto.url,
        &[("AWS_S3_BUCKET", BUCKET)],
        &["upload", "--environment", "prod", "--force-overwrite"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("force-overwrite"), "{}", o.stderr);
    assert_eq!(block_on(moto.get(BUCKET, "releases/valkey-8.1.1-jammy-x86_64.tar.gz")), before);
}

#[test]
fn tampered_file_is_refused_before_anything_is_sent() {
    let moto = moto_with_bucket();
    let w = Workdir::small_dist(3);
    let f = w.dist.join("valkey-8.1.1-noble-arm64.tar.gz");
    let mut data = std::fs::read(&f).unwrap();
    data[1000] ^= 0xff;
    std::fs::write(&f, data).unwrap();
    let o = w.upload(&moto.url, &[], &["upload", "--bucket", BUCKET]);
    o.assert_clean();
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("valkey-8.1.1-noble-arm64.tar.gz"), "{}", o.stderr);
    assert!(o.stderr.contains("manifest.json"), "{}", o.stderr);
    assert!(block_on(moto.keys(BUCKET)).is_empty());
}

on_moto_and_s3s_fs!(
    multipart_above_16_mib_with_parallel_parts,
    multipart_above_16_mib_with_parallel_parts_s3s_fs,
    multipart_above_16_mib_with_parallel_parts_on
);

fn multipart_above_16_mib_with_parallel_parts_on(moto: &S3Server) {
    block_on(moto.create_bucket(BUCKET));
    let w = Workdir::dist(
        "9.1.0-rc2",
        &[("jammy-x86_64", 17 * 1024 * 1024 + 12345), ("noble-x86_64", 1000)],
        4,
    );
    let o = w.upload(&moto.url, &[], &["--json", "upload", "--bucket", BUCKET, "--concurrency", "3"]);
    o.assert_clean();
    assert_eq!(o.code, 0, "{}\n{}", o.stderr, o.stdout);
    assert!(states(&json(&o)).iter().all(|s| s == "uploaded"));
    let key = "releases/valkey-9.1.0-rc2-jammy-x86_64.tar.gz";
    let head = block_on(async { moto.client().await.head_object().bucket(BUCKET).key(key).send().await.unwrap() });
    if moto.kind == "moto" {
        // moto gives multipart objects the S3 ETag form `<md5 of part md5s>-<parts>`.
        assert!(head.e_tag().unwrap().contains("-2"), "not multipart: {:?}", head.e_tag());
    }
    assert_eq!(
        block_on(moto.get(BUCKET, key)),
        std::fs::read(w.dist.join("valkey-9.1.0-rc2-jammy-x86_64.tar.gz")).unwrap()
    );
    if moto.kind == "moto" {
        assert_eq!(block_on(moto.multipart_uploads(BUCKET)), 0);
    }
    // Re-run skips the multipart object too.
    let o = w.upload(&moto.url, &[], &["--json", "upload", "--bucket", BUCKET]);
    assert_eq!(o.code, 0);
    assert!(states(&json(&o)).iter().all(|s| s == "skipped"));
}

#[test]
fn missing_bucket_variable_never_falls_back_and_bad_environment() {
    let w = Workdir::small_dist(5);
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    // prod with only the test bucket set: exit 2 naming AWS_S3_BUCKET.
    let o = w.upload(&endpoint, &[("AWS_TEST_BUCKET", BUCKET)], &["upload", "--environment", "prod"]);
    o.assert_clean();
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("AWS_S3_BUCKET"), "{}", o.stderr);
    // dev with only the prod bucket set: exit 2 naming AWS_TEST_BUCKET.
    let o = w.upload(&endpoint, &[("AWS_S3_BUCKET", BUCKET)], &["upload", "--environment", ""]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("AWS_TEST_BUCKET"), "{}", o.stderr);
    // Unknown environment.
    let o = w.upload(&endpoint, &[], &["upload", "--environment", "production", "--bucket", BUCKET]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("production"), "{}", o.stderr);
    // --bucket and --store together.
    assert_eq!(
        w.upload(&endpoint, &[], &["upload", "--bucket", BUCKET, "--store", "file://x"])
            .code,
        2
    );
}

#[test]
fn bucket_that_does_not_exist() {
    let moto = Moto::start();
    let w = Workdir::small_dist(6);
    let o = w.upload(&moto.url, &[], &["upload", "--bucket", "no-such-bucket"]);
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
    let w = Workdir::small_dist(7);
    let o = w.upload(&moto.url, &[], &["upload", "--bucket", BUCKET]);
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
    let w = Workdir::small_dist(8);
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let o = w.upload(&endpoint, &[], &["upload", "--bucket", BUCKET, "--max-attempts", "3"]);
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
    let moto = moto_with_bucket();
    let proxy = FaultProxy::start(&moto.url, 3);
    let w = Workdir::dist(
        "8.1.1",
        &[
            ("jammy-x86_64", 17 * 1024 * 1024),
            ("noble-arm64", 100_000),
            ("noble-x86_64", 50_000),
        ],
        9,
    );
    let o = w.upload(&proxy.url, &[], &["--json", "upload", "--bucket", BUCKET, "--max-attempts", "8"]);
    o.assert_clean();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        proxy.failed.load(std::sync::atomic::Ordering::SeqCst) >= 3,
        "the proxy injected too few faults"
    );
    assert!(states(&json(&o)).iter().all(|s| s == "uploaded"), "{}", o.stdout);
    // Every object correct, checked directly on the server.
    set_process_env(&w.aws, &moto.url);
    let ver = Version::parse("8.1.1").unwrap();
    let rep = check_bucket(&ver);
    assert!(rep.ok, "{rep:?}");
    assert_eq!(block_on(moto.multipart_uploads(BUCKET)), 0);
    // verify --remote through the faulty proxy also ends correct (it retries too).
    std::env::set_var("AWS_ENDPOINT_URL", &proxy.url);
    let rep = check_bucket(&ver);
    assert!(rep.ok, "{rep:?}");
}

#[test]
fn failed_run_lists_missing_keys_and_next_run_completes_them() {
    let moto = moto_with_bucket();
    // Every write fails: the run cannot finish.
    let proxy = FaultProxy::start_with(&moto.url, 1, true);
    let w = Workdir::small_dist(10);
    let o = w.upload(&proxy.url, &[], &["--json", "upload", "--bucket", BUCKET, "--max-attempts", "2"]);
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
    let o = w.upload(&proxy.url, &[], &["--json", "upload", "--bucket", BUCKET, "--max-attempts", "1"]);
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
    let o = w.upload(&moto.url, &[], &["--json", "upload", "--bucket", BUCKET]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(json(&o)["complete"], true);
    assert_eq!(
        block_on(moto.keys(BUCKET)),
        expected_keys("8.1.1", &["jammy-x86_64", "noble-arm64"])
    );
}

on_moto_and_s3s_fs!(
    verify_remote_catches_an_object_corrupted_on_the_server,
    verify_remote_catches_an_object_corrupted_on_the_server_s3s_fs,
    verify_remote_catches_an_object_corrupted_on_the_server_on
);

fn verify_remote_catches_an_object_corrupted_on_the_server_on(moto: &S3Server) {
    block_on(moto.create_bucket(BUCKET));
    let w = Workdir::small_dist(11);
    assert_eq!(w.upload(&moto.url, &[], &["upload", "--bucket", BUCKET]).code, 0);
    // Flip one byte of one artifact on the server (same size).
    let key = "releases/valkey-8.1.1-noble-arm64.tar.gz";
    let mut data = block_on(moto.get(BUCKET, key));
    data[7] ^= 1;
    block_on(moto.put_raw(BUCKET, key, data));
    set_process_env(&w.aws, &moto.url);
    let ver = Version::parse("8.1.1").unwrap();
    let remote = format!("s3://{BUCKET}/releases/");
    let rep = check_bucket(&ver);
    assert!(!rep.ok);
    let bad: Vec<&str> = rep.files.iter().filter(|f| !f.ok).map(|f| f.file.as_str()).collect();
    assert_eq!(bad, vec!["valkey-8.1.1-noble-arm64.tar.gz"]);
    let e = block_on(valkey_release::verify::remote::verify_remote(&remote, &ver, false)).unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("valkey-8.1.1-noble-arm64.tar.gz"), "{e}");
    // A re-upload in prod refuses to repair it silently (different content): exit 4.
    let o = w.upload(&moto.url, &[("AWS_S3_BUCKET", BUCKET)], &["upload", "--environment", "prod"]);
    assert_eq!(o.code, 4, "{}", o.stderr);
    // A wrong published .sha256 is caught too.
    block_on(moto.put_raw(
        BUCKET,
        "releases/valkey-8.1.1-jammy-x86_64.tar.gz.sha256",
        format!("{}  valkey-8.1.1-jammy-x86_64.tar.gz\n", "0".repeat(64)).into_bytes(),
    ));
    let rep = check_bucket(&ver);
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
    let moto = moto_with_bucket();
    let proxy = FaultProxy::start_slow(&moto.url, std::time::Duration::from_millis(1500));
    let w = Workdir::dist("8.1.1", &[("jammy-x86_64", 40 * 1024 * 1024)], 12);
    let mut c = cli(&w.aws, &proxy.url);
    c.args(["upload", "--bucket", BUCKET, "--concurrency", "1", "--part-size-mib", "5", "--dist"])
        .arg(&w.dist);
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
    let moto = moto_with_bucket();
    let w = Workdir::small_dist(13);
    let token = w.tmp.path().join("token");
    std::fs::write(
        &token,
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyZXBvOnZhbGtleS1pby92YWxrZXkifQ.c2lnbmF0dXJl",
    )
    .unwrap();
    let mut c = cli(&w.aws, &moto.url);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/valkey-release")
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
        .args(["--json", "upload", "--bucket", BUCKET, "--dist"])
        .arg(&w.dist);
    let o = run(c);
    o.assert_clean();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(json(&o)["complete"], true);
    // Without any credentials: a clear message naming the ways to provide them.
    let mut c = cli(&w.aws, &moto.url);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["upload", "--bucket", BUCKET, "--dist"])
        .arg(&w.dist);
    let o = run(c);
    o.assert_clean();
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("AWS_WEB_IDENTITY_TOKEN_FILE"), "{}", o.stderr);
}

// A prod upload to a server without conditional writes is refused: tests/upload_trust.rs.
