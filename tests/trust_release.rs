//! Provenance, `verify --provenance` and `rebuild` on a real build of the fakevalkey fixture
//! (real Docker engine, the shared bookworm builder image). The DSSE envelope is read by the
//! real securesystemslib (pip install in-toto; .ci/setup) and its signature checked by GnuPG.

mod build_support;
mod packages_support;

use build_support::{fixture, fixture_targz, image_args, run, targets_toml, BIN};
use std::path::{Path, PathBuf};
use std::process::Command;

const V: &str = "8.1.1";

/// Build the fixture (as a .tar.gz source) for `targets` into `out`; returns the source archive.
fn build_release(work: &Path, targets: &[&str], out: &Path) -> PathBuf {
    build_release_with(work, &[], targets, out)
}

/// [`build_release`] of the fixture with `markers` (see its Makefile).
fn build_release_with(work: &Path, markers: &[&str], targets: &[&str], out: &Path) -> PathBuf {
    let (_d, src) = fixture(markers);
    build_support::touch_all(&src, "2025-01-01T00:00:00Z");
    let archive = work.join("valkey-8.1.1.tar.gz");
    fixture_targz(&src, &archive, "valkey-8.1.1");
    let mut args = vec![
        "--source".to_string(),
        archive.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    for t in targets {
        args.push("--target".into());
        args.push(t.to_string());
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(build_support::build_cmd(V, &a));
    assert_eq!(o.status.code(), Some(0), "build failed");
    archive
}

fn cli(args: &[&str]) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.arg("--targets")
        .arg(targets_toml())
        .args(args)
        .env_remove("VALKEY_RELEASE_SIGNING_KEY");
    run(c)
}

fn flip_byte(p: &Path, at: usize) {
    let mut b = std::fs::read(p).unwrap();
    b[at] ^= 1;
    std::fs::write(p, b).unwrap();
}

#[test]
fn signed_provenance_verifies_and_any_changed_byte_fails() {
    let w = tempfile::tempdir().unwrap();
    let dist = w.path().join("dist");
    let archive = build_release(w.path(), &["bookworm-x86_64"], &dist);
    // The build's sbom-facts hook left its facts; the SBOM is written from them and validated.
    let o = cli(&["sbom", "--dist", dist.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let sbom = dist.join("valkey-8.1.1-bookworm-x86_64.tar.gz.spdx.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&sbom).unwrap()).unwrap();
    assert!(doc.to_string().contains("pkg:deb/debian/libc6@"), "libc6 from the builder: {doc}");
    let v = Command::new("pyspdxtools")
        .arg("-i")
        .arg(&sbom)
        .output()
        .expect("pyspdxtools (pip install spdx-tools)");
    assert!(v.status.success(), "pyspdxtools: {}", String::from_utf8_lossy(&v.stderr));
    let key = packages_support::gpg_key("ed25519");
    let (secret, public) = (key.secret_armored.clone(), key.public_armored.clone());
    let (sk, pk) = (w.path().join("secret.asc"), w.path().join("public.asc"));
    std::fs::write(&sk, &secret).unwrap();
    std::fs::write(&pk, &public).unwrap();
    let o = cli(&[
        "provenance",
        "--dist",
        dist.to_str().unwrap(),
        "--environment",
        "dev",
        "--signing-key",
        sk.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("PRIVATE KEY"),
        "never print the secret"
    );
    let prov = dist.join("valkey-8.1.1.intoto.jsonl");

    // The real securesystemslib reads the envelope and computes the PAE; GnuPG checks the signature.
    let py = r#"
import json, sys, base64
from securesystemslib.dsse import Envelope
e = Envelope.from_dict(json.loads(open(sys.argv[1]).readline()))
st = json.loads(e.payload)
assert e.payload_type == "application/vnd.in-toto+json", e.payload_type
assert st["_type"] == "https://in-toto.io/Statement/v1"
assert st["predicateType"] == "https://slsa.dev/provenance/v1"
bd = st["predicate"]["buildDefinition"]
assert bd["externalParameters"] == {"version": "8.1.1", "targets": ["bookworm-x86_64"], "environment": "dev"}, bd
names = sorted(s["name"] for s in st["subject"])
print(json.dumps(names))
assert "valkey-8.1.1-bookworm-x86_64.tar.gz" in names and "SHA256SUMS" in names, names
assert "valkey-8.1.1-bookworm-x86_64.tar.gz.spdx.json" in names, names
deps = {d["name"]: d for d in bd["resolvedDependencies"]}
assert "packagesSha256" in deps["builder-image/bookworm-x86_64"]["annotations"], deps
assert len(e.signatures) == 1
open(sys.argv[2], "wb").write(e.pae())
open(sys.argv[3], "wb").write(bytes.fromhex(list(e.signatures.values())[0].signature))
"#;
    let (pae, sig) = (w.path().join("pae"), w.path().join("sig"));
    let o = Command::new("python3")
        .args(["-c", py])
        .arg(&prov)
        .arg(&pae)
        .arg(&sig)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "securesystemslib check failed (pip install in-toto): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let home = w.path().join("verify-gnupg");
    std::fs::create_dir_all(&home).unwrap();
    let g = |args: &[&str]| {
        Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .arg("--batch")
            .args(args)
            .output()
            .unwrap()
    };
    assert!(g(&["--import", pk.to_str().unwrap()]).status.success());
    assert!(
        g(&["--verify", sig.to_str().unwrap(), pae.to_str().unwrap()]).status.success(),
        "gpg rejects the DSSE signature"
    );

    // verify --provenance: passes, with the source digest matching a valkey-hashes line.
    let src_sha = build_support::sha256(&archive);
    let hashes = w.path().join("README");
    std::fs::write(
        &hashes,
        format!("# hashes\nhash valkey-8.1.1.tar.gz sha256 {src_sha} https://github.com/valkey-io/valkey/archive/refs/tags/8.1.1.tar.gz\n"),
    )
    .unwrap();
    let verify = |extra: &[&str]| {
        let mut a = vec![
            "verify",
            "--provenance",
            dist.to_str().unwrap(),
            "--public-key",
            pk.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        cli(&a)
    };
    assert_eq!(verify(&["--hashes", hashes.to_str().unwrap()]).status.code(), Some(0));

    // The same release published: a file:// store and an HTTP server (python3 -m http.server).
    let file_url = format!("file://{}/", dist.display());
    let remote = |url: &str| {
        cli(&[
            "verify",
            "--provenance",
            url,
            "--provenance-file",
            "valkey-8.1.1.intoto.jsonl",
            "--public-key",
            pk.to_str().unwrap(),
        ])
    };
    assert_eq!(remote(&file_url).status.code(), Some(0));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"])
        .arg(&dist)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let http_url = format!("http://127.0.0.1:{port}/");
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(up, "python3 -m http.server did not start");
    let o = remote(&http_url);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("subject valkey-8.1.1-bookworm-x86_64.tar.gz: OK"));

    // One byte of an artifact: exit 1 naming it.
    let tarball = dist.join("valkey-8.1.1-bookworm-x86_64.tar.gz");
    flip_byte(&tarball, 100);
    let o = verify(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("subject valkey-8.1.1-bookworm-x86_64.tar.gz: FAILED"));
    assert_eq!(remote(&file_url).status.code(), Some(1), "the published copy too");
    flip_byte(&tarball, 100);
    assert_eq!(verify(&[]).status.code(), Some(0));

    // A file that is not a subject: exit 1.
    std::fs::write(dist.join("extra.txt"), "x").unwrap();
    assert_eq!(verify(&[]).status.code(), Some(1));
    std::fs::remove_file(dist.join("extra.txt")).unwrap();

    // One byte of the provenance's payload: the signature fails.
    let text = std::fs::read_to_string(&prov).unwrap();
    let i = text.find("\"payload\":\"").unwrap() + 20;
    let mut b = text.into_bytes();
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    std::fs::write(&prov, &b).unwrap();
    let o = verify(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("signature"), "names the signature");

    // A source digest that is not valkey-hashes' line: exit 1.
    let o = cli(&[
        "provenance",
        "--dist",
        dist.to_str().unwrap(),
        "--signing-key",
        sk.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    std::fs::write(
        &hashes,
        format!("hash valkey-8.1.1.tar.gz sha256 {} https://x/8.1.1.tar.gz\n", "0".repeat(63) + "1"),
    )
    .unwrap();
    let o = verify(&["--hashes", hashes.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("source valkey-8.1.1.tar.gz: FAILED"));
}

#[test]
fn rebuild_is_identical_and_names_the_member_and_section_an_altered_flag_changes() {
    let w = tempfile::tempdir().unwrap();
    let dist = w.path().join("dist");
    let archive = build_release(w.path(), &["bookworm-arm64"], &dist);
    // The provenance records the builder's package list; here it says libc6:amd64 had another
    // version, which a rebuild from the store (no facts/ there) must name.
    let facts = dist.join("facts/bookworm-arm64/sbom-facts.json");
    let original = std::fs::read(&facts).unwrap();
    let mut f: serde_json::Value = serde_json::from_slice(&original).unwrap();
    let real = f["packages"]["libc6:amd64"]
        .as_str()
        .expect("libc6:amd64 in the builder's package list")
        .to_string();
    f["packages"]["libc6:amd64"] = "0.0-recorded".into();
    std::fs::write(&facts, serde_json::to_vec(&f).unwrap()).unwrap();
    let o = cli(&["provenance", "--dist", dist.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    std::fs::write(&facts, &original).unwrap();
    let rebuild_from = |from: &std::ffi::OsStr, targets: &Path, out: &Path| {
        let mut c = Command::new(BIN);
        c.arg("--targets")
            .arg(targets)
            .args(["--json", "rebuild", "--from"])
            .arg(from)
            .arg("--source")
            .arg(&archive)
            .arg("--out")
            .arg(out)
            .args(image_args());
        c.env("VALKEY_RELEASE_PLAIN", "1");
        run(c)
    };
    let rebuild = |targets: &Path, out: &Path| rebuild_from(dist.as_os_str(), targets, out);
    // The recorded builder package list says libc6 had another version: the rebuilt builder's
    // list is compared with it and the package named (the bytes still decide identity).
    std::fs::write(&facts, serde_json::to_vec(&f).unwrap()).unwrap();
    let o = rebuild(&targets_toml(), &w.path().join("again"));
    assert_eq!(o.status.code(), Some(0), "a rebuild from the same inputs is identical");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["targets"][0]["status"], "identical");
    assert!(
        v["notes"].to_string().contains(&format!("libc6:amd64 0.0-recorded -> {real}")),
        "{v}"
    );
    std::fs::write(&facts, original).unwrap();

    // One input altered: a compiler flag.
    let altered = w.path().join("targets.toml");
    let text = std::fs::read_to_string(targets_toml()).unwrap();
    let orig = r#"flags = ["BUILD_TLS=yes", "USE_SYSTEMD=yes"]"#;
    assert!(text.contains(orig));
    std::fs::write(
        &altered,
        text.replace(orig, r#"flags = ["BUILD_TLS=yes", "USE_SYSTEMD=yes", "CFLAGS=-O0 -g"]"#),
    )
    .unwrap();
    let out = w.path().join("altered");
    let o = rebuild(&altered, &out);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &v["targets"][0];
    assert_eq!(t["status"], "different");
    let members = t["members"].as_array().unwrap();
    let server = members
        .iter()
        .find(|m| m["member"] == "valkey-8.1.1-bookworm-arm64/bin/valkey-server")
        .unwrap_or_else(|| panic!("valkey-server not named: {members:?}"));
    assert_eq!(server["what"], serde_json::json!(["content"]));
    assert!(server["sections"].as_array().unwrap().iter().any(|s| s == ".text"), "{server}");
    assert!(
        !members.iter().any(|m| m["member"].as_str().unwrap().ends_with("share/LICENSE")),
        "LICENSE is unchanged"
    );
    assert!(
        t["inputs"].to_string().contains("CFLAGS=-O0 -g"),
        "the make command difference is named: {t}"
    );
    assert!(v["notes"].to_string().contains("not the one recorded in the provenance"), "{v}");
    let has_diffoscope = Command::new("diffoscope")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        has_diffoscope,
        "diffoscope is not installed: apt-get install diffoscope-minimal (or run .ci/setup --tests)"
    );
    let report = out.join("logs/diffoscope-bookworm-arm64.txt");
    assert!(report.exists(), "diffoscope report under logs/");
    assert_eq!(t["diffoscope"], report.display().to_string());
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.contains("valkey-server"), "the report names the binary: {text:.400}");

    // The published copy (a file:// store: manifest, provenance and tarball downloaded first).
    let url = format!("file://{}/", dist.display());
    let o = rebuild_from(std::ffi::OsStr::new(&url), &targets_toml(), &w.path().join("from-store"));
    assert_eq!(o.status.code(), Some(0), "a rebuild of the published copy is identical");
    assert!(w.path().join("from-store/published/valkey-8.1.1-bookworm-arm64.tar.gz").exists());
    assert!(!w.path().join("from-store/published/facts").exists());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["targets"][0]["status"], "identical");
    assert!(
        v["notes"].to_string().contains(&format!("libc6:amd64 0.0-recorded -> {real}")),
        "the package the provenance recorded otherwise is named: {v}"
    );
}

/// rebuild varies what a host could change (issue 14): a build that depends on its umask
/// matches itself when rebuilt the same way, but the varied rebuild names the member.
#[test]
fn rebuild_varies_the_build_environment_and_catches_a_host_dependency() {
    let w = tempfile::tempdir().unwrap();
    let dist = w.path().join("dist");
    let archive = build_release_with(w.path(), &["UMASKDEP"], &["bookworm-x86_64"], &dist);
    let mut c = Command::new(BIN);
    c.arg("--targets")
        .arg(targets_toml())
        .args(["--json", "rebuild", "--from"])
        .arg(&dist)
        .arg("--source")
        .arg(&archive)
        .arg("--out")
        .arg(w.path().join("rebuilt"))
        .args(image_args())
        .env("VALKEY_RELEASE_PLAIN", "1");
    let o = run(c);
    assert_eq!(o.status.code(), Some(1), "the umask-dependent build must differ");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &v["targets"][0];
    assert_eq!(t["status"], "different", "{t}");
    let varied = t["varied"].to_string();
    for what in ["hostname rebuild-", "cpuset ", "make -j", "umask 0002"] {
        assert!(varied.contains(what), "{what} not varied: {varied}");
    }
    let members = t["members"].as_array().unwrap();
    assert!(
        members
            .iter()
            .any(|m| m["member"] == "valkey-8.1.1-bookworm-x86_64/bin/valkey-server"),
        "{members:?}"
    );
    // make -jN is varied on purpose: not reported as a changed input.
    assert!(!t["inputs"].to_string().contains("make command"), "{t}");
}

/// Another SOURCE_DATE_EPOCH (issue 14): the same source tree (a directory: its digest is
/// its files' content, its epoch their newest mtime) touched a day later rebuilds with
/// another epoch. The report names the epoch among the inputs and, per artifact (the tarball
/// and each .deb, `ar` member and file inside), the members whose mtime is the other epoch.
#[test]
fn rebuild_with_another_epoch_names_the_epoch_and_each_member_of_the_tarball_and_debs() {
    let w = tempfile::tempdir().unwrap();
    let dist = w.path().join("dist");
    let (_d, src) = fixture(&[]);
    build_support::touch_all(&src, "2025-01-01T00:00:00Z");
    let s = src.display().to_string();
    let o = run(build_support::build_cmd(
        V,
        &["--source", &s, "--out", dist.to_str().unwrap(), "--target", "bookworm-x86_64"],
    ));
    assert_eq!(o.status.code(), Some(0), "build failed");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(dist.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["source_date_epoch"], 1_735_689_600);
    let debs: Vec<String> = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "deb")
        .map(|a| a["file"].as_str().unwrap().to_string())
        .collect();
    assert!(!debs.is_empty(), "bookworm-x86_64 makes .debs: {m}");

    build_support::touch_all(&src, "2025-01-02T00:00:00Z");
    let mut c = Command::new(BIN);
    c.arg("--targets")
        .arg(targets_toml())
        .args(["--json", "rebuild", "--from"])
        .arg(&dist)
        .arg("--source")
        .arg(&src)
        .arg("--out")
        .arg(w.path().join("rebuilt"))
        .args(image_args())
        .env("VALKEY_RELEASE_PLAIN", "1");
    let o = run(c);
    assert_eq!(o.status.code(), Some(1), "another epoch must differ");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &v["targets"][0];
    assert_eq!(t["status"], "different", "{t}");
    assert!(
        t["inputs"]
            .to_string()
            .contains("SOURCE_DATE_EPOCH: recorded 1735689600, rebuilt 1735776000"),
        "{t}"
    );
    let epoch = "mtime 1735689600 -> 1735776000";
    let members = t["members"].as_array().unwrap();
    let member = |name: &str| members.iter().find(|m| m["member"] == name);
    let server = member("valkey-8.1.1-bookworm-x86_64/bin/valkey-server").unwrap_or_else(|| panic!("{members:#?}"));
    assert!(server["what"].as_array().unwrap().iter().any(|w| w == epoch), "{server}");
    // Every .deb is compared too, down to the files of its data tarball.
    let artifacts = t["artifacts"].as_array().unwrap();
    for deb in &debs {
        let a = artifacts
            .iter()
            .find(|a| a["file"] == deb.as_str())
            .unwrap_or_else(|| panic!("{deb} not compared: {t}"));
        assert_eq!(a["status"], "different", "{a}");
        let inside = members.iter().find(|m| {
            m["member"].as_str().unwrap().starts_with(&format!("{deb}: data.tar"))
                && m["member"].as_str().unwrap().matches(": ").count() == 2
                && m["what"].as_array().unwrap().iter().any(|w| w == epoch)
        });
        assert!(inside.is_some(), "no file of {deb}'s data tarball names the epoch: {members:#?}");
    }
    let server_deb = debs.iter().find(|d| d.starts_with("valkey-server_")).expect("a valkey-server .deb");
    assert!(
        member(&format!("{server_deb}: data.tar.xz: ./usr/bin/valkey-server")).is_some()
            || member(&format!("{server_deb}: data.tar.gz: ./usr/bin/valkey-server")).is_some()
            || members
                .iter()
                .any(|m| m["member"].as_str().unwrap().ends_with("usr/bin/valkey-server")
                    && m["member"].as_str().unwrap().starts_with(server_deb.as_str())),
        "{members:#?}"
    );
}
