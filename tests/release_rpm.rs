//! The release's rpm path end to end through the binary, on a Debian-built target with Debian's
//! rpm tools (no RPM distro image here): two dev releases (8.1.1, 8.1.2) of the fixture for
//! bookworm-x86_64 with `packages = ["deb", "rpm"]`, built by the real farm, uploaded to a real
//! S3 server (moto). The .rpms are signed before the SBOMs (the SBOM, the provenance and the
//! published object name the same sha256; `rpmkeys --checksig` accepts the published file), and
//! the yum repository in the store is merged: repodata (read by parsing createrepo_c's primary
//! data, as dnf is not available here) lists both patch releases, `repomd.xml.asc` passes gpgv.

mod packages_support;
mod release_support;

use packages_support::engine::{ensure_builder, fixture, rpm_targets_toml};
use packages_support::{require_tool, run_ok};
use release_support::{dev_release, run_report, step, test_public_key, Moto};
use sha2::Digest;
use std::path::Path;
use std::process::Command;

const BUCKET: &str = "relrpm-test";
const TARGET: &str = "bookworm-x86_64";
const REPO: &str = "packaging/valkey-8.1/rpm/debian12/x86_64";

fn release(work: &Path, moto: &Moto, toml: &Path, v: &str, src: &Path, dist: &str) -> (i32, serde_json::Value, String) {
    let mut c = dev_release(work, moto, BUCKET, v, TARGET, dist);
    c.arg("--targets").arg(toml).arg("--source").arg(src);
    run_report(&mut c)
}

fn sha(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

#[test]
fn dev_releases_sign_rpms_before_sboms_and_merge_the_yum_repository_in_the_store() {
    require_tool("rpmkeys", "rpm");
    require_tool("createrepo_c", "createrepo-c");
    ensure_builder(TARGET);
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let toml = rpm_targets_toml(w);
    for (v, dist) in [("8.1.1", "dist-1"), ("8.1.2", "dist-2")] {
        let (_f, src) = fixture(v);
        let (code, rep, out) = release(w, &moto, &toml, v, &src, dist);
        assert_eq!(code, 0, "{out}");
        let r = step(&rep, "repositories");
        assert_eq!(r["state"], "done", "{out}");
        let yum: Vec<&serde_json::Value> = r["data"].as_array().unwrap().iter().filter(|x| x["format"] == "yum").collect();
        assert_eq!(yum.len(), 1, "{r}");
        assert_eq!(yum[0]["key"], REPO);
        assert_eq!(yum[0]["added"].as_array().unwrap().len(), 4, "{r}");
        assert_eq!(yum[0]["indexed"].as_array().unwrap().len(), if v == "8.1.1" { 4 } else { 8 }, "{r}");
        assert!(
            step(&rep, "sbom")["summary"].as_str().unwrap().contains("4 .rpm(s) signed first"),
            "{out}"
        );
    }

    // The store's tree, downloaded as a user's mirror would be.
    let served = w.join("served");
    let mut c = Command::new("aws");
    moto.env(&mut c);
    c.args([
        "s3",
        "cp",
        "--recursive",
        "--quiet",
        &format!("s3://{BUCKET}/"),
        "--endpoint-url",
        &moto.endpoint(),
    ])
    .arg(&served);
    assert!(c.status().expect("the AWS CLI (.ci/setup installs it)").success(), "aws s3 cp");
    let repo = served.join(REPO);
    let names: Vec<String> = valkey_release::repo::yum::listed_packages(&repo)
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    assert_eq!(names.len(), 8, "{names:?}");
    for v in ["8.1.1", "8.1.2"] {
        for p in ["valkey", "valkey-devel", "valkey-compat-redis", "valkey-compat-redis-devel"] {
            let arch = if p == "valkey" { "x86_64" } else { "noarch" };
            let f = format!("{p}-{v}-1.1.debian12.{arch}.rpm");
            assert!(names.contains(&f), "{f} not listed: {names:?}");
        }
    }
    valkey_release::repo::yum::verify_yum_dir(&repo, &std::fs::read_to_string(test_public_key()).unwrap()).unwrap();
    let keyring = w.join("keyring.gpg");
    run_ok(
        Command::new("gpg")
            .args(["--batch", "--yes", "--no-default-keyring", "--keyring"])
            .arg(&keyring)
            .arg("--import")
            .arg(test_public_key())
            .env("GNUPGHOME", w),
    );
    let o = packages_support::gpgv(&keyring, &repo.join("repodata/repomd.xml.asc"), &repo.join("repodata/repomd.xml"));
    assert!(o.status.success(), "gpgv: {}", String::from_utf8_lossy(&o.stderr));

    // The published .rpm: its sha256 is the provenance subject's and the SBOM's checksum, and
    // rpmkeys --checksig accepts it with the published key.
    let main = "valkey-8.1.1-1.1.debian12.x86_64.rpm";
    let published = std::fs::read(repo.join(main)).unwrap();
    assert_eq!(published, std::fs::read(served.join("releases/rpm").join(main)).unwrap());
    let want = sha(&published);
    let dist = w.join("dist-1");
    let env: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(dist.join("valkey-8.1.1.intoto.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    use base64::Engine;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().unwrap())
        .unwrap();
    let st: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    let subject = st["subject"].as_array().unwrap().iter().find(|s| s["name"] == main).unwrap();
    assert_eq!(subject["digest"]["sha256"], want.as_str());
    let sbom: serde_json::Value = serde_json::from_slice(&std::fs::read(dist.join(format!("{main}.spdx.json"))).unwrap()).unwrap();
    let art = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["SPDXID"] == "SPDXRef-Artifact")
        .unwrap();
    let sums: Vec<&str> = art["checksums"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["algorithm"] == "SHA256")
        .map(|c| c["checksumValue"].as_str().unwrap())
        .collect();
    assert_eq!(sums, [want.as_str()], "{art}");
    // The .rpm's SBOM names it by its rpm purl and passes the real validators (issue 14.1).
    let purls: Vec<&str> = art["externalRefs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["referenceType"] == "purl")
        .map(|r| r["referenceLocator"].as_str().unwrap())
        .collect();
    assert!(
        purls.len() == 1 && purls[0].starts_with("pkg:rpm/debian/valkey@8.1.1-1.1.debian12?arch=x86_64"),
        "{purls:?}"
    );
    let sbom_file = dist.join(format!("{main}.spdx.json"));
    let o = run_ok(Command::new("pyspdxtools").arg("-i").arg(&sbom_file));
    eprintln!("pyspdxtools: {}", String::from_utf8_lossy(&o.stdout));
    let o = run_ok(Command::new("ntia-checker").arg(&sbom_file));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(report.contains("Conformant: True"), "ntia-checker: {report}");
    let db = w.join("rpmdb");
    std::fs::create_dir_all(&db).unwrap();
    run_ok(
        Command::new("rpmkeys")
            .arg("--dbpath")
            .arg(&db)
            .arg("--import")
            .arg(served.join("packaging/GPG-KEY-valkey.asc")),
    );
    for n in &names {
        let o = run_ok(
            Command::new("rpmkeys")
                .arg("--dbpath")
                .arg(&db)
                .arg("--checksig")
                .arg("-v")
                .arg(repo.join(n)),
        );
        let t = String::from_utf8_lossy(&o.stdout);
        assert!(t.contains("Signature, key ID") && t.contains(": OK"), "{n}: {t}");
    }
}
