//! The `sign`, `verify-signature` and `repo` subcommands, with keys from gpg and checks by gpgv.

mod packages_support;

use packages_support::engine::{farm_build, fixture};
use packages_support::{gpg_key, gpgv};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_valkey-release");

#[test]
fn sign_writes_sha256sums_asc_that_gpgv_and_verify_signature_accept() {
    let k = gpg_key("ed25519");
    let d = tempfile::tempdir().unwrap();
    let keyfile = d.path().join("secret.asc");
    std::fs::write(&keyfile, &k.secret_armored).unwrap();
    let sums = d.path().join("SHA256SUMS");
    std::fs::write(&sums, "00  valkey-8.1.1-bookworm-x86_64.tar.gz\n").unwrap();
    // The key from the environment; nothing of it on stdout or stderr.
    let o = Command::new(BIN)
        .arg("sign")
        .arg(&sums)
        .env("VALKEY_RELEASE_SIGNING_KEY", &k.secret_armored)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!all.contains("PRIVATE KEY"), "{all}");
    let asc = d.path().join("SHA256SUMS.asc");
    assert!(gpgv(&k.keyring, &asc, &sums).status.success());
    let pubkey = d.path().join("GPG-KEY-valkey.asc");
    let ok = Command::new(BIN)
        .arg("verify-signature")
        .arg(&sums)
        .arg("--public-key")
        .arg(&pubkey)
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    // The key from a file gives the same key.
    let o = Command::new(BIN)
        .arg("sign")
        .arg(&sums)
        .arg("--signing-key")
        .arg(&keyfile)
        .env_remove("VALKEY_RELEASE_SIGNING_KEY")
        .output()
        .unwrap();
    assert!(o.status.success());
    // A changed SHA256SUMS fails the check (exit 1); another key too.
    std::fs::write(&sums, "01  valkey-8.1.1-bookworm-x86_64.tar.gz\n").unwrap();
    let bad = Command::new(BIN)
        .arg("verify-signature")
        .arg(&sums)
        .arg("--public-key")
        .arg(&pubkey)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1), "{}", String::from_utf8_lossy(&bad.stderr));
    // No key at all: bad input naming the variable.
    let none = Command::new(BIN)
        .arg("sign")
        .arg(&sums)
        .env_remove("VALKEY_RELEASE_SIGNING_KEY")
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("VALKEY_RELEASE_SIGNING_KEY"));
}

#[test]
fn repo_builds_the_signed_apt_tree_from_a_farm_dist_and_reruns_as_a_no_op() {
    let k = gpg_key("ed25519");
    let (_d, src) = fixture("8.1.1");
    let (out, _) = farm_build("bookworm-arm64", "8.1.1", &src);
    let dist = out.path().join("dist");
    let root = out.path().join("store");
    let repo = |json: bool| {
        let mut c = Command::new(BIN);
        if json {
            c.arg("--json");
        }
        c.args(["repo", "--dist"])
            .arg(&dist)
            .arg("--root")
            .arg(&root)
            .env("VALKEY_RELEASE_SIGNING_KEY", &k.secret_armored);
        c.output().unwrap()
    };
    let o = repo(false);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = root.join("packaging/valkey-8.1/deb/debian12/arm64");
    for f in [
        "Packages",
        "Packages.gz",
        "Release",
        "Release.gpg",
        "InRelease",
        "valkey-server_8.1.1-1.bookworm_arm64.deb",
        "valkey-dev_8.1.1-1.bookworm_all.deb",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing in {}", dir.display());
    }
    assert!(gpgv(&k.keyring, &dir.join("Release.gpg"), &dir.join("Release")).status.success());
    assert!(root.join("packaging/GPG-KEY-valkey.asc").is_file());
    let o = repo(true);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["repositories"][0]["added"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(v["repositories"][0]["indexed"].as_array().unwrap().len(), 5, "{v}");
}
