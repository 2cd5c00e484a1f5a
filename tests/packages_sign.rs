//! src/sign: signatures made by the crate, checked by the real gpgv / gpg (and the reverse).

mod packages_support;

use packages_support::{gpg_key, gpgv, run, run_ok};
use std::process::Command;
use valkey_release::sign::{self, SigningKey};

#[test]
fn detached_signatures_verify_with_gpgv_for_ed25519_and_rsa_keys() {
    for algo in ["ed25519", "rsa3072"] {
        let k = gpg_key(algo);
        let key = SigningKey::from_armored(&k.secret_armored).unwrap();
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("SHA256SUMS");
        std::fs::write(&data, "abc  valkey-8.1.1-bookworm-x86_64.tar.gz\n").unwrap();
        for (name, sig) in [
            (
                "SHA256SUMS.asc",
                key.detached_armored(&std::fs::read(&data).unwrap()).unwrap().into_bytes(),
            ),
            ("SHA256SUMS.sig", key.detached_binary(&std::fs::read(&data).unwrap()).unwrap()),
        ] {
            let p = d.path().join(name);
            std::fs::write(&p, &sig).unwrap();
            let out = gpgv(&k.keyring, &p, &data);
            assert!(
                out.status.success(),
                "{algo} {name}: gpgv: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            sign::verify_detached(&k.public_armored, &std::fs::read(&data).unwrap(), &sig).unwrap();
        }
        // One changed byte: gpgv and the crate both refuse it.
        std::fs::write(&data, "abd  valkey-8.1.1-bookworm-x86_64.tar.gz\n").unwrap();
        assert!(!gpgv(&k.keyring, &d.path().join("SHA256SUMS.asc"), &data).status.success());
        let sig = std::fs::read(d.path().join("SHA256SUMS.asc")).unwrap();
        let e = sign::verify_detached(&k.public_armored, &std::fs::read(&data).unwrap(), &sig).unwrap_err();
        assert_eq!(e.exit_code(), 1, "{e}");
    }
}

#[test]
fn clearsigned_text_verifies_with_gpg_and_public_key_is_the_same_key() {
    let k = gpg_key("ed25519");
    let key = SigningKey::from_armored(&k.secret_armored).unwrap();
    let text = "Origin: Valkey\nSuite: valkey-8.1-debian12\nSHA256:\n abc 12 Packages\n";
    let signed = key.clearsign(text).unwrap();
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("InRelease");
    std::fs::write(&p, &signed).unwrap();
    let out = run_ok(
        Command::new("gpgv")
            .arg("--keyring")
            .arg(&k.keyring)
            .arg("--output")
            .arg("-")
            .arg(&p),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), text);
    assert_eq!(
        sign::verify_clearsigned(&k.public_armored, &signed).unwrap().trim_end(),
        text.trim_end()
    );

    // The published public key imports into gpg with the same fingerprint.
    let pubfile = d.path().join("GPG-KEY-valkey.asc");
    std::fs::write(&pubfile, key.public_armored()).unwrap();
    let out = run_ok(Command::new("gpg").args(["--batch", "--with-colons", "--show-keys"]).arg(&pubfile));
    let fpr = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .unwrap()
        .split(':')
        .nth(9)
        .unwrap()
        .to_string();
    assert_eq!(fpr, key.fingerprint());
    // A signature by gpg itself verifies with the crate.
    let data = d.path().join("data");
    std::fs::write(&data, b"hello").unwrap();
    run_ok(
        Command::new("gpg")
            .arg("--homedir")
            .arg(k.home.path())
            .args(["--batch", "--armor", "--detach-sign", "--output"])
            .arg(d.path().join("data.asc"))
            .arg(&data),
    );
    sign::verify_detached(&k.public_armored, b"hello", &std::fs::read(d.path().join("data.asc")).unwrap()).unwrap();
}

#[test]
fn bad_keys_are_bad_input_and_never_echoed() {
    let k = gpg_key("ed25519");
    // A public key is not a secret key.
    let e = SigningKey::from_armored(&k.public_armored).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    // A passphrase-protected key cannot sign unattended.
    let home = tempfile::tempdir().unwrap();
    let mut c = Command::new("gpg");
    c.arg("--homedir").arg(home.path()).args([
        "--batch",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "pw",
        "--quick-gen-key",
        "P <p@x.invalid>",
        "ed25519",
        "sign",
        "never",
    ]);
    run_ok(&mut c);
    let out = run(Command::new("gpg").arg("--homedir").arg(home.path()).args([
        "--batch",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "pw",
        "--armor",
        "--export-secret-keys",
    ]));
    let armored = String::from_utf8(out.stdout).unwrap();
    let e = SigningKey::from_armored(&armored).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    assert!(!e.to_string().contains("PRIVATE KEY BLOCK-----\n"), "{e}");
    // Debug shows the fingerprint only.
    let key = SigningKey::from_armored(&k.secret_armored).unwrap();
    let dbg = format!("{key:?}");
    assert!(dbg.contains(&key.fingerprint()) && !dbg.contains("BEGIN"), "{dbg}");
}

/// gpgv's check of `sig` (over `data`, or clearsigned): the signature's creation time from its
/// `VALIDSIG` status line (Unix seconds); panics when gpgv does not accept it.
fn gpgv_signature_time(keyring: &std::path::Path, sig: &std::path::Path, data: Option<&std::path::Path>) -> i64 {
    let mut c = Command::new("gpgv");
    c.args(["--status-fd", "1", "--keyring"]).arg(keyring).arg(sig);
    if let Some(d) = data {
        c.arg(d);
    }
    let out = run_ok(&mut c);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("[GNUPG:] VALIDSIG "))
        .and_then(|l| l.split(' ').nth(2))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no VALIDSIG from gpgv:\n{text}"))
}

/// Signatures are deterministic: made again from the same data with the same key (Ed25519 and
/// RSA) they are the same bytes, gpgv accepts them, and their time is max(SOURCE_DATE_EPOCH,
/// the key's creation time): never before the key.
#[test]
fn signatures_made_twice_are_the_same_bytes_at_the_source_date_epoch_never_before_the_key() {
    for algo in ["ed25519", "rsa3072"] {
        let k = gpg_key(algo);
        let key = SigningKey::from_armored(&k.secret_armored).unwrap();
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("SHA256SUMS");
        std::fs::write(&data, "abc  valkey-8.1.1-bookworm-x86_64.tar.gz\n").unwrap();
        let bytes = std::fs::read(&data).unwrap();
        let text = "Origin: Valkey\nSuite: valkey-8.1-debian12\n";
        // SOURCE_DATE_EPOCH after the key's creation is the signature time; before it, the key's.
        for (sde, want) in [(key.created() + 1000, key.created() + 1000), (1_700_000_000, key.created())] {
            assert!(key.created() > 1_700_000_000, "the test key is made now");
            let (a, b) = (key.at(sde), SigningKey::from_armored(&k.secret_armored).unwrap().at(sde));
            let sig = a.detached_armored(&bytes).unwrap();
            assert_eq!(sig, b.detached_armored(&bytes).unwrap(), "{algo}: detached signature differs");
            assert_eq!(a.detached_binary(&bytes).unwrap(), b.detached_binary(&bytes).unwrap());
            let signed = a.clearsign(text).unwrap();
            assert_eq!(signed, b.clearsign(text).unwrap(), "{algo}: clearsigned text differs");
            let p = d.path().join("SHA256SUMS.asc");
            std::fs::write(&p, &sig).unwrap();
            assert_eq!(gpgv_signature_time(&k.keyring, &p, Some(&data)), want, "{algo} at {sde}");
            let inrelease = d.path().join("InRelease");
            std::fs::write(&inrelease, &signed).unwrap();
            assert_eq!(gpgv_signature_time(&k.keyring, &inrelease, None), want, "{algo} InRelease at {sde}");
        }
        // Another time: other bytes (the time is in the signature).
        let t = key.created() + 5;
        assert_ne!(
            key.at(t).detached_armored(&bytes).unwrap(),
            key.at(t + 1).detached_armored(&bytes).unwrap()
        );
    }
}
