//! .rpm signatures by the release key (the `rpm` crate on rpgp), checked by the real
//! `rpmkeys --checksig` with GPG-KEY-valkey.asc imported into a scratch rpm database. The
//! package is made by the real `rpmbuild` from Debian's rpm package on this host (there is no
//! RPM distro image here).

mod packages_support;

use packages_support::{gpg_key, require_tool, run, run_ok};
use std::process::Command;
use valkey_release::pkg::rpmsign::sign_rpm;
use valkey_release::sign::SigningKey;

fn build_rpm(top: &std::path::Path) -> std::path::PathBuf {
    require_tool("rpmbuild", "rpm");
    let spec = top.join("valkey-fixture.spec");
    std::fs::write(
        &spec,
        "Name: valkey-fixture\nVersion: 8.1.1\nRelease: 1\nSummary: fixture\nLicense: BSD-3-Clause\nBuildArch: noarch\n\
         %description\nfixture\n%install\nmkdir -p %{buildroot}/etc/valkey\necho 'port 6379' > %{buildroot}/etc/valkey/valkey.conf\n\
         %files\n%config(noreplace) /etc/valkey/valkey.conf\n",
    )
    .unwrap();
    run_ok(
        Command::new("rpmbuild")
            .arg("-bb")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .arg("--define")
            .arg("_binary_payload w9.gzdio")
            .arg(&spec)
            .env("SOURCE_DATE_EPOCH", "1700000000"),
    );
    top.join("RPMS/noarch/valkey-fixture-8.1.1-1.noarch.rpm")
}

#[test]
fn rpm_signed_by_the_release_key_passes_rpmkeys_checksig() {
    require_tool("rpmkeys", "rpm");
    let d = tempfile::tempdir().unwrap();
    let rpm = build_rpm(d.path());
    let k = gpg_key("rsa3072");
    let key = SigningKey::from_armored(&k.secret_armored).unwrap();
    let signed = sign_rpm(&key, &std::fs::read(&rpm).unwrap(), 1700000000, "fixture").unwrap();
    let signed_path = d.path().join("signed.rpm");
    std::fs::write(&signed_path, &signed).unwrap();
    let db = d.path().join("rpmdb");
    std::fs::create_dir_all(&db).unwrap();
    let pubkey = d.path().join("GPG-KEY-valkey.asc");
    std::fs::write(&pubkey, key.public_armored()).unwrap();
    let checksig = |p: &std::path::Path| run(Command::new("rpmkeys").arg("--dbpath").arg(&db).arg("--checksig").arg("-v").arg(p));
    // Before the key is imported the signature cannot be checked.
    assert!(!checksig(&signed_path).status.success());
    run_ok(Command::new("rpmkeys").arg("--dbpath").arg(&db).arg("--import").arg(&pubkey));
    let o = checksig(&signed_path);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "rpmkeys --checksig: {text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let short = &key.fingerprint()[32..].to_lowercase();
    assert!(
        text.contains("Signature, key ID") && text.contains(short.as_str()) && text.contains(": OK"),
        "{text}"
    );
    // The unsigned package has no signature by the key; a flipped payload byte fails the check.
    let mut bad = signed.clone();
    let n = bad.len() - 10;
    bad[n] ^= 0xff;
    let bad_path = d.path().join("bad.rpm");
    std::fs::write(&bad_path, &bad).unwrap();
    assert!(!checksig(&bad_path).status.success());
    // Requires/Provides of the signed package still read by rpm.
    let q = run_ok(
        Command::new("rpm")
            .arg("--dbpath")
            .arg(&db)
            .args(["-qp", "--provides"])
            .arg(&signed_path),
    );
    assert!(String::from_utf8_lossy(&q.stdout).contains("valkey-fixture = 8.1.1-1"));
}
