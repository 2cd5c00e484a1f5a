//! The directory store (`--store file://DIR`) and `verify --remote` over HTTPS-style HTTP.

mod upload_support;

use upload_support::*;
use valkey_release::version::Version;

/// An endpoint where no S3 server listens: these tests never reach one.
const NO_S3: &str = "http://127.0.0.1:9";

fn list(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn file_store_same_keys_and_checks() {
    let w = Workdir::small_dist(1);
    let (aws, tmp, dist) = (&w.aws, &w.tmp, &w.dist);
    let store = tmp.path().join("bucket");
    let url = format!("file://{}", store.display());

    let o = w.upload(NO_S3, &[], &["--json", "upload", "--environment", "prod", "--store", &url]);
    o.assert_clean();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(states(&json(&o)).iter().all(|s| s == "uploaded"));
    assert_eq!(
        list(&store.join("releases")),
        vec![
            "valkey-8.1.1-jammy-x86_64.tar.gz",
            "valkey-8.1.1-jammy-x86_64.tar.gz.sha256",
            "valkey-8.1.1-noble-arm64.tar.gz",
            "valkey-8.1.1-noble-arm64.tar.gz.sha256",
            "valkey-8.1.1.SHA256SUMS",
            "valkey-8.1.1.manifest.json"
        ]
    );
    assert_eq!(
        std::fs::read(store.join("releases/valkey-8.1.1-noble-arm64.tar.gz")).unwrap(),
        std::fs::read(dist.join("valkey-8.1.1-noble-arm64.tar.gz")).unwrap()
    );

    // Re-run skips; relative file:// URL resolves against the working directory.
    let mut c = cli(aws, NO_S3);
    c.current_dir(tmp.path()).args([
        "--json",
        "upload",
        "--environment",
        "prod",
        "--store",
        "file://bucket",
        "--dist",
        "dist",
    ]);
    let o = run(c);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(states(&json(&o)).iter().all(|s| s == "skipped"), "{}", o.stdout);

    // verify --remote on the directory store.
    let ver = Version::parse("8.1.1").unwrap();
    let remote = format!("file://{}/releases/", store.display());
    let rep = block_on(valkey_release::verify::remote::check_remote(&remote, &ver)).unwrap();
    assert!(rep.ok, "{rep:?}");

    // check_uploaded says complete.
    let mut opts = valkey_release::upload::UploadOptions::new(valkey_release::upload::Environment::Prod, dist);
    opts.store = Some(url.clone());
    assert!(block_on(valkey_release::upload::check_uploaded(&opts)).unwrap().complete);

    // prod refuses different bytes; dev overwrites.
    let other = tmp.path().join("other");
    small_dist(&other, 2);
    let o = w.upload_dist(&other, NO_S3, &[], &["upload", "--environment", "prod", "--store", &url]);
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.stderr.contains("releases/valkey-8.1.1-jammy-x86_64.tar.gz"), "{}", o.stderr);
    assert!(
        !block_on(valkey_release::upload::check_uploaded(&{
            let mut x = opts.clone();
            x.dist = other.clone();
            x
        }))
        .unwrap()
        .complete
    );
    let o = w.upload_dist(&other, NO_S3, &[], &["--json", "upload", "--environment", "dev", "--store", &url]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(states(&json(&o)).iter().all(|s| s == "overwritten"));

    // Corruption in the store is caught by verify --remote.
    let f = store.join("releases/valkey-8.1.1-jammy-x86_64.tar.gz");
    let mut data = std::fs::read(&f).unwrap();
    data.truncate(data.len() - 1);
    std::fs::write(&f, data).unwrap();
    let e = block_on(valkey_release::verify::remote::verify_remote(&remote, &ver, true)).unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("valkey-8.1.1-jammy-x86_64.tar.gz"), "{e}");

    // No temporary files left behind.
    assert!(list(&store.join("releases")).iter().all(|n| !n.starts_with('.')));

    // A tampered dist file is refused before anything is written.
    let fresh = tmp.path().join("fresh");
    let t = other.join("valkey-8.1.1-noble-arm64.tar.gz");
    let mut d = std::fs::read(&t).unwrap();
    d[0] ^= 1;
    std::fs::write(&t, d).unwrap();
    let o = w.upload_dist(&other, NO_S3, &[], &["upload", "--store", &format!("file://{}", fresh.display())]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(!fresh.join("releases").exists() || list(&fresh.join("releases")).is_empty());
}

#[test]
fn bad_store_urls_exit_2() {
    let w = Workdir::small_dist(3);
    for bad in ["ftp://x", "s3://", "s3://b/sub/dir", "file://", "/abs/dir"] {
        let o = w.upload(NO_S3, &[], &["upload", "--store", bad]);
        o.assert_clean();
        assert_eq!(o.code, 2, "{bad}: {}", o.stderr);
    }
}

#[test]
fn verify_remote_over_http() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    small_dist(&dist, 4);
    block_on(async {
        let server = MockServer::start().await;
        let serve = |name: String, body: Vec<u8>| {
            Mock::given(method("GET"))
                .and(path(format!("/releases/{name}")))
                .respond_with(ResponseTemplate::new(200).set_body_bytes(body))
        };
        for f in [
            "valkey-8.1.1-jammy-x86_64.tar.gz",
            "valkey-8.1.1-jammy-x86_64.tar.gz.sha256",
            "valkey-8.1.1-noble-arm64.tar.gz.sha256",
        ] {
            serve(f.to_string(), std::fs::read(dist.join(f)).unwrap()).mount(&server).await;
        }
        serve(
            "valkey-8.1.1.manifest.json".into(),
            std::fs::read(dist.join("manifest.json")).unwrap(),
        )
        .mount(&server)
        .await;
        serve("valkey-8.1.1.SHA256SUMS".into(), std::fs::read(dist.join("SHA256SUMS")).unwrap())
            .mount(&server)
            .await;
        // The noble tarball is served corrupted (one byte changed).
        let mut bad = std::fs::read(dist.join("valkey-8.1.1-noble-arm64.tar.gz")).unwrap();
        bad[10] ^= 0x55;
        serve("valkey-8.1.1-noble-arm64.tar.gz".into(), bad).mount(&server).await;
        let ver = Version::parse("8.1.1").unwrap();
        let remote = format!("{}/releases/", server.uri());
        let rep = valkey_release::verify::remote::check_remote(&remote, &ver).await.unwrap();
        let bad: Vec<&str> = rep.files.iter().filter(|f| !f.ok).map(|f| f.file.as_str()).collect();
        assert_eq!(bad, vec!["valkey-8.1.1-noble-arm64.tar.gz"], "{rep:?}");
        let e = valkey_release::verify::remote::verify_remote(&remote, &ver, false)
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 1);
        // Unknown version: no manifest -> exit 1 naming the URL.
        let e = valkey_release::verify::remote::verify_remote(&remote, &Version::parse("7.2.9").unwrap(), false)
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("valkey-7.2.9.manifest.json"), "{e}");
        // A release of the old process (no manifest): official targets checked against their .sha256.
        let old = b"old tarball bytes".to_vec();
        let sha = valkey_release::fsutil::sha256_reader(&old[..]).unwrap().0;
        serve("valkey-8.0.4-jammy-x86_64.tar.gz".into(), old.clone()).mount(&server).await;
        serve(
            "valkey-8.0.4-jammy-x86_64.tar.gz.sha256".into(),
            format!("{sha}  valkey-8.0.4-jammy-x86_64.tar.gz\n").into_bytes(),
        )
        .mount(&server)
        .await;
        let rep = valkey_release::verify::remote::check_remote(&remote, &Version::parse("8.0.4").unwrap())
            .await
            .unwrap();
        assert!(rep.ok && rep.files.len() == 1, "{rep:?}");
        serve("valkey-8.0.4-noble-x86_64.tar.gz".into(), b"tampered".to_vec())
            .mount(&server)
            .await;
        serve(
            "valkey-8.0.4-noble-x86_64.tar.gz.sha256".into(),
            format!("{sha}  valkey-8.0.4-noble-x86_64.tar.gz\n").into_bytes(),
        )
        .mount(&server)
        .await;
        let rep = valkey_release::verify::remote::check_remote(&remote, &Version::parse("8.0.4").unwrap())
            .await
            .unwrap();
        assert!(!rep.ok && rep.files.len() == 2, "{rep:?}");
    });
}
