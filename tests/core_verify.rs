//! `verify` on each accepted format, and on corrupted, truncated, missing and malformed input.

mod core_support;

use core_support::*;
use std::path::{Path, PathBuf};

const H_EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A dist directory with two artifacts, packaged from the fixture.
fn dist(t: &Path) -> PathBuf {
    let out = t.join("dist");
    assert_code(&package(&fixture_tree(), &out, "8.1.1", "jammy-x86_64"), 0);
    assert_code(&package(&fixture_tree(), &out, "8.1.1", "noble-arm64"), 0);
    out
}

fn verify(args: &[&str], cwd: &Path) -> std::process::Output {
    run(cmd().arg("verify").args(args).current_dir(cwd))
}

const J: &str = "valkey-8.1.1-jammy-x86_64.tar.gz";
const N: &str = "valkey-8.1.1-noble-arm64.tar.gz";

#[test]
fn dist_directory_ok_then_corrupted_truncated_missing() {
    let t = tempfile::tempdir().unwrap();
    let d = dist(t.path());
    let o = verify(&["dist"], t.path());
    assert_code(&o, 0);
    assert_eq!(stdout(&o), format!("dist/{J}: OK\ndist/{N}: OK\n"));

    // JSON.
    let o = run(cmd().args(["--json", "verify", "dist"]).current_dir(t.path()));
    assert_code(&o, 0);
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["ok"], true);
    assert_eq!(r["checked"], 2);
    assert_eq!(r["files"][0]["status"], "ok");
    assert_eq!(r["files"][0]["expected_size"], std::fs::metadata(d.join(J)).unwrap().len());

    // Corrupt one byte (same size).
    let mut b = std::fs::read(d.join(J)).unwrap();
    let keep = b.clone();
    let mid = b.len() / 2;
    b[mid] ^= 0xff;
    std::fs::write(d.join(J), &b).unwrap();
    let o = verify(&["dist"], t.path());
    assert_code(&o, 1);
    assert_eq!(stdout(&o), format!("dist/{J}: FAILED\ndist/{N}: OK\n"));
    let o = run(cmd().args(["--json", "verify", "dist"]).current_dir(t.path()));
    assert_code(&o, 1);
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["ok"], false);
    assert_eq!(r["failed"], 1);
    assert_eq!(r["files"][0]["status"], "failed");

    // Truncated: size and digest differ.
    std::fs::write(d.join(J), &keep[..keep.len() - 10]).unwrap();
    let o = run(cmd().args(["--json", "verify", "dist"]).current_dir(t.path()));
    assert_code(&o, 1);
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(r["files"][0]["reason"].as_str().unwrap().contains("size"), "{r}");

    // Missing.
    std::fs::remove_file(d.join(J)).unwrap();
    let o = verify(&["dist"], t.path());
    assert_code(&o, 1);
    assert_eq!(stdout(&o), format!("dist/{J}: FAILED open or read\ndist/{N}: OK\n"));
    // --ignore-missing skips it.
    let o = verify(&["--ignore-missing", "dist"], t.path());
    assert_code(&o, 0);
    assert_eq!(stdout(&o), format!("dist/{N}: OK\n"));
    std::fs::write(d.join(J), &keep).unwrap();
    assert_code(&verify(&["dist"], t.path()), 0);

    // A .sha256 that disagrees with the manifest is caught too.
    let bad = format!("{}  {J}\n", "0".repeat(63) + "1");
    std::fs::write(d.join(format!("{J}.sha256")), bad).unwrap();
    let o = verify(&["dist"], t.path());
    assert_code(&o, 1);
    assert!(stdout(&o).contains(&format!("dist/{J}: FAILED")), "{}", stdout(&o));
}

#[test]
fn manifest_only_and_sha256sums_only() {
    let t = tempfile::tempdir().unwrap();
    let d = dist(t.path());
    std::fs::remove_file(d.join("SHA256SUMS")).unwrap();
    assert_code(&verify(&["dist"], t.path()), 0);
    assert_code(&verify(&["dist/manifest.json"], t.path()), 0);
    // Manifest size wrong -> FAILED even though the digest matches.
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("manifest.json")).unwrap()).unwrap();
    m["artifacts"][0]["size"] = serde_json::json!(1);
    std::fs::write(d.join("manifest.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let o = verify(&["dist"], t.path());
    assert_code(&o, 1);
    assert!(stdout(&o).starts_with(&format!("dist/{J}: FAILED\n")), "{}", stdout(&o));

    let t = tempfile::tempdir().unwrap();
    let d = dist(t.path());
    std::fs::remove_file(d.join("manifest.json")).unwrap();
    let o = verify(&["dist"], t.path());
    assert_code(&o, 0);
    // An empty directory is unusable input.
    std::fs::create_dir(t.path().join("empty")).unwrap();
    let o = verify(&["empty"], t.path());
    assert_code(&o, 2);
    assert!(stderr(&o).contains("SHA256SUMS"), "{}", stderr(&o));
}

#[test]
fn gnu_bsd_and_lone_sha256_formats_resolve_against_the_checksum_file() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("files");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("a b.bin"), b"hello\n").unwrap();
    std::fs::write(d.join("sub/empty"), b"").unwrap();
    let h_hello = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
    std::fs::write(d.join("gnu.txt"), format!("{h_hello}  a b.bin\n{H_EMPTY} *sub/empty\n")).unwrap();
    std::fs::write(
        d.join("bsd.txt"),
        format!("SHA256 (a b.bin) = {h_hello}\r\nSHA256 (sub/empty) = {}\n", H_EMPTY.to_uppercase()),
    )
    .unwrap();
    std::fs::write(d.join("a b.bin.sha256"), format!("{h_hello}\n")).unwrap();

    // Run from another directory: names resolve against the checksum file's directory.
    let o = verify(&["files/gnu.txt", "files/bsd.txt"], t.path());
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "files/a b.bin: OK\nfiles/sub/empty: OK\n");
    // Digest-only .sha256, given directly or found beside its file.
    let o = verify(&["files/a b.bin.sha256"], t.path());
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "files/a b.bin: OK\n");
    let o = verify(&["a b.bin"], &d);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "a b.bin: OK\n");

    // The packaged .sha256 (sha256sum format) beside its tarball.
    let dd = dist(t.path());
    let o = verify(&[J], &dd);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), format!("{J}: OK\n"));

    // Corrupted content with GNU and BSD lines.
    std::fs::write(d.join("a b.bin"), b"hellO\n").unwrap();
    let o = verify(&["files/gnu.txt", "files/bsd.txt"], t.path());
    assert_code(&o, 1);
    assert_eq!(stdout(&o), "files/a b.bin: FAILED\nfiles/sub/empty: OK\n");
    // Missing file named by a checksum line.
    std::fs::remove_file(d.join("sub/empty")).unwrap();
    let o = verify(&["files/bsd.txt"], t.path());
    assert_code(&o, 1);
    assert!(stdout(&o).contains("files/sub/empty: FAILED open or read"), "{}", stdout(&o));
}

#[test]
fn malformed_input_is_exit_2_with_file_and_line() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path();
    let cases: &[(&str, String, &str)] = &[
        ("one-space.txt", format!("{H_EMPTY}  ok\n{H_EMPTY} x\n"), "one-space.txt:2:"),
        ("short.txt", format!("\n{}  x\n", &H_EMPTY[..60]), "short.txt:2:"),
        ("md5.txt", "MD5 (x) = d41d8cd98f00b204e9800998ecf8427e\n".to_string(), "md5.txt:1:"),
        ("junk.txt", "this is not a checksum\n".to_string(), "junk.txt:1:"),
        ("bsd.txt", format!("SHA256 (x) = {}\n", &H_EMPTY[..10]), "bsd.txt:1:"),
    ];
    for (name, text, want) in cases {
        std::fs::write(p.join(name), text).unwrap();
        let o = verify(&[name], p);
        assert_code(&o, 2);
        assert!(stderr(&o).contains(want), "{name}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{name}: nothing checked when the input is unusable");
    }
    // A binary file with no .sha256 beside it, a nonexistent path, an empty file, nothing at all.
    std::fs::write(p.join("blob"), [0xffu8, 0xfe, 0, 1]).unwrap();
    assert_code(&verify(&["blob"], p), 2);
    assert_code(&verify(&["no-such-file"], p), 2);
    std::fs::write(p.join("empty.sha256"), "").unwrap();
    assert_code(&verify(&["empty.sha256"], p), 2);
    assert_code(&verify(&[], p), 2);
    // A malformed manifest names the file.
    std::fs::create_dir(p.join("d")).unwrap();
    std::fs::write(p.join("d/manifest.json"), "{\"schema\": 1,\n \"version\": 5}").unwrap();
    let o = verify(&["d"], p);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("manifest.json:"), "{}", stderr(&o));
}

#[test]
fn valkey_hashes_lines() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path();
    std::fs::create_dir(p.join("downloads")).unwrap();
    std::fs::write(p.join("downloads/valkey-8.1.1.tar.gz"), b"").unwrap();
    let readme = format!(
        "# Valkey hashes file.\n#\n\nhash valkey-unstable.tar.gz sha256 {} https://github.com/valkey-io/valkey/archive/unstable.tar.gz\nhash valkey-8.1.1.tar.gz sha256 {H_EMPTY} https://github.com/valkey-io/valkey/archive/refs/tags/8.1.1.tar.gz\n",
        "0".repeat(64)
    );
    std::fs::write(p.join("README"), &readme).unwrap();
    // --dir: files resolve there; the unstable line is skipped.
    let o = verify(&["--hashes", "README", "--dir", "downloads"], p);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "downloads/valkey-8.1.1.tar.gz: OK\n");
    // Default dir: the README's, where the file is missing.
    let o = verify(&["--hashes", "README"], p);
    assert_code(&o, 1);
    assert_eq!(stdout(&o), "valkey-8.1.1.tar.gz: FAILED open or read\n");
    // Wrong content.
    std::fs::write(p.join("downloads/valkey-8.1.1.tar.gz"), b"x").unwrap();
    assert_code(&verify(&["--hashes", "README", "--dir", "downloads"], p), 1);
    // Malformed line: file and line number.
    std::fs::write(p.join("README"), format!("{readme}hash valkey-9.0.0.tar.gz sha256 abc https://x\n")).unwrap();
    let o = verify(&["--hashes", "README", "--dir", "downloads"], p);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("README:6:"), "{}", stderr(&o));

    // The real valkey-hashes README parses (its files are not here: exit 1, not 2).
    let o = run(cmd()
        .args(["verify", "--ignore-missing", "--hashes"])
        .arg(fixture("valkey-hashes-README"))
        .arg("--dir")
        .arg(p.join("nothing-here")));
    assert_code(&o, 1);
    assert!(stderr(&o).contains("no file was verified"), "{}", stderr(&o));
}

#[test]
fn many_files_hashed_in_parallel_match_sha256sum() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path();
    let mut sums = String::new();
    for i in 0..24 {
        let name = format!("f{i:02}");
        let data = gen::binary_like(50_000 + i * 1000, i as u64);
        std::fs::write(p.join(&name), &data).unwrap();
        sums.push_str(&format!("{}  {name}\n", sha256(&p.join(&name))));
    }
    std::fs::write(p.join("SHA256SUMS"), &sums).unwrap();
    let ours = verify(&["SHA256SUMS"], p);
    assert_code(&ours, 0);
    let theirs = std::process::Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(p)
        .output()
        .unwrap();
    assert!(theirs.status.success());
    assert_eq!(stdout(&ours), stdout(&theirs), "same lines, same order as sha256sum -c");
}
