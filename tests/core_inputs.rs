//! Bad inputs (issue 11): names that would reach outside their directory, files that are not
//! regular files, unusable files given where a file is read, and output that could be spoofed.
//! Every refusal is exit 2 (1 for a failed check) and names the bad input.

mod core_support;

use core_support::*;
use std::path::Path;

/// A partial dist directory whose manifest holds one artifact, with `edit` applied to it.
fn partial_dist(dir: &Path, edit: impl Fn(&mut serde_json::Value)) {
    std::fs::create_dir_all(dir).unwrap();
    let file = "valkey-8.1.1-jammy-x86_64.tar.gz";
    std::fs::write(dir.join(file), b"tarball").unwrap();
    let sha = sha256(&dir.join(file));
    std::fs::write(dir.join(format!("{file}.sha256")), format!("{sha}  {file}\n")).unwrap();
    let mut a = serde_json::json!({
        "target": "jammy-x86_64", "distro": "jammy", "arch": "x86_64", "file": file, "size": 7,
        "sha256": sha, "checksum_file": format!("{file}.sha256"), "files": []
    });
    edit(&mut a);
    let m = serde_json::json!({
        "schema": 1, "tool": {"name": "valkey-release", "version": "0"}, "version": "8.1.1",
        "source_date_epoch": 1700000000, "source": {"name": "valkey", "kind": "unknown"}, "artifacts": [a]
    });
    std::fs::write(dir.join("manifest.json"), serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

#[track_caller]
fn refused(o: &std::process::Output, code: i32, names: &[&str]) {
    assert_code(o, code);
    let err = stderr(o);
    for n in names {
        assert!(err.contains(n), "stderr does not name {n:?}: {err}");
    }
}

#[test]
fn merge_of_a_manifest_naming_paths_outside_is_refused_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let part = d.path().join("a/b/part");
    partial_dist(&part, |a| {
        a["target"] = "../../X/evil".into();
        a["checksum_file"] = "../../Y/pwned.sha256".into();
    });
    let o = run(cmd().current_dir(d.path()).args([
        "release",
        "--version",
        "8.1.1",
        "--dry-run",
        "--dist",
        "dist",
        "--merge",
        "a/b/part",
    ]));
    refused(&o, 2, &["../../X/evil", "target"]);
    assert!(!d.path().join("dist/manifest.json").exists());
    assert!(!d.path().join("a/X").exists() && !d.path().join("a/Y").exists() && !d.path().join("X").exists());
    // The library merge refuses it the same way.
    let e = valkey_release::package::merge_dist(&part, &d.path().join("dist2")).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    // checksum_file alone.
    let part2 = d.path().join("p2");
    partial_dist(&part2, |a| a["checksum_file"] = "../../Y/pwned.sha256".into());
    let o = run(cmd()
        .current_dir(d.path())
        .args(["release", "--version", "8.1.1", "--dry-run", "--dist", "dist", "--merge", "p2"]));
    refused(&o, 2, &["checksum_file", "../../Y/pwned.sha256"]);
    // Unknown kind.
    let part3 = d.path().join("p3");
    partial_dist(&part3, |a| a["kind"] = "mystery".into());
    let o = run(cmd()
        .current_dir(d.path())
        .args(["release", "--version", "8.1.1", "--dry-run", "--dist", "dist", "--merge", "p3"]));
    refused(&o, 2, &["kind", "mystery", "tarball"]);
}

#[test]
fn upload_of_a_manifest_with_an_absolute_file_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let dist = d.path().join("dist");
    partial_dist(&dist, |a| a["file"] = "/etc/passwd".into());
    let store = d.path().join("bucket");
    let o = run(cmd()
        .args(["upload", "--store"])
        .arg(format!("file://{}", store.display()))
        .arg("--dist")
        .arg(&dist));
    refused(&o, 2, &["/etc/passwd", "file"]);
    assert!(!store.exists());
}

#[test]
fn package_refuses_a_symlink_out_of_the_tree() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("tree");
    copy_tree(&tree, false, 0o755, 1_700_000_000);
    let outside = d.path().join("host-secret");
    std::fs::write(&outside, b"not valkey").unwrap();
    std::fs::remove_file(tree.join("src/valkey-server")).unwrap();
    std::os::unix::fs::symlink(&outside, tree.join("src/valkey-server")).unwrap();
    let out = d.path().join("out");
    let o = package(&tree, &out, "8.1.1", "jammy-x86_64");
    refused(&o, 2, &["valkey-server", "outside the build tree"]);
    assert!(!out.exists() || listing(&out).is_empty());
    // A symlink inside the tree is fine.
    std::fs::remove_file(tree.join("src/valkey-server")).unwrap();
    std::os::unix::fs::symlink("valkey-cli", tree.join("src/valkey-server")).unwrap();
    assert_code(&package(&tree, &out, "8.1.1", "jammy-x86_64"), 0);
}

#[test]
fn targets_file_with_names_outside_is_refused_when_loaded() {
    let d = tempfile::tempdir().unwrap();
    let base = valkey_release::targets::EMBEDDED;
    let cases = [
        ("binary", base.replacen("\"valkey-server\"", "\"../../evil\"", 1), "../../evil"),
        (
            "artifact",
            base.replacen("name = \"valkey-{version}", "name = \"../valkey-{version}", 1),
            "../valkey-{version}",
        ),
        (
            "distro",
            base.replacen("distro = \"jammy\"", "distro = \"../jammy\"", 1),
            "../jammy",
        ),
    ];
    for (what, text, bad) in cases {
        assert_ne!(text, base, "{what}: the fixture edit did not apply");
        let f = d.path().join(format!("{what}.toml"));
        std::fs::write(&f, text).unwrap();
        let o = run(cmd().arg("--targets").arg(&f).arg("targets"));
        refused(&o, 2, &[bad]);
    }
}

#[test]
fn verify_refuses_devices_and_fifos() {
    let d = tempfile::tempdir().unwrap();
    let z = "0".repeat(64);
    let sums = d.path().join("SUMS");
    std::fs::write(&sums, format!("{z}  /dev/zero\n")).unwrap();
    let o = run(cmd().arg("verify").arg(&sums));
    refused(&o, 2, &["/dev/zero", "not a regular file"]);
    let fifo = d.path().join("pipe");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::fs::write(&sums, format!("{z}  pipe\n")).unwrap();
    let o = run(cmd().arg("verify").arg(&sums));
    refused(&o, 2, &["pipe", "not a regular file"]);
    // The FIFO given as the checksum file itself.
    let o = run(cmd().arg("verify").arg(&fifo));
    refused(&o, 2, &["pipe"]);
}

#[test]
fn verify_remote_of_a_manifest_with_no_artifacts_fails() {
    let d = tempfile::tempdir().unwrap();
    let rel = d.path().join("releases");
    std::fs::create_dir_all(&rel).unwrap();
    let m = serde_json::json!({
        "schema": 1, "tool": {"name": "valkey-release", "version": "0"}, "version": "8.1.1",
        "source_date_epoch": 1, "source": {"name": "v", "kind": "unknown"}, "artifacts": []
    });
    std::fs::write(rel.join("valkey-8.1.1.manifest.json"), m.to_string()).unwrap();
    std::fs::write(rel.join("valkey-8.1.1.SHA256SUMS"), "").unwrap();
    let o = run(cmd()
        .args(["verify", "--version", "8.1.1", "--remote"])
        .arg(format!("file://{}/", rel.display())));
    refused(&o, 1, &["no artifacts"]);
}

#[test]
fn version_with_leading_zeros_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let o = package(&fixture_tree(), &d.path().join("out"), "08.01.1", "jammy-x86_64");
    refused(&o, 2, &["08.01.1", "leading zeros"]);
}

#[test]
fn unusable_input_files_are_exit_2_not_3() {
    let d = tempfile::tempdir().unwrap();
    let garbage = d.path().join("garbage");
    std::fs::write(&garbage, [0xffu8, 0xfe, 0x00, 0x9c, 0x42]).unwrap();
    let dir = d.path().join("adir");
    std::fs::create_dir_all(&dir).unwrap();
    for f in [&garbage, &dir] {
        let name = f.display().to_string();
        let o = run(cmd().arg("--targets").arg(f).arg("targets"));
        refused(&o, 2, &[&name]);
        let o = run(cmd().args(["release", "--dry-run", "--payload"]).arg(f));
        refused(&o, 2, &[&name]);
    }
    // manifest.json that is garbage, or a directory.
    for (i, make) in [0, 1].into_iter().enumerate() {
        let dist = d.path().join(format!("dist{i}"));
        std::fs::create_dir_all(&dist).unwrap();
        if make == 0 {
            std::fs::write(dist.join("manifest.json"), [0xffu8, 0x00]).unwrap();
        } else {
            std::fs::create_dir_all(dist.join("manifest.json")).unwrap();
        }
        let o = run(cmd().args(["upload", "--store", "file://x", "--dist"]).arg(&dist));
        refused(&o, 2, &["manifest.json"]);
    }
    // A file where the dist directory is expected: `package --out FILE`, `release --merge FILE`.
    let out = garbage.display().to_string();
    let o = package(&fixture_tree(), &garbage, "8.1.1", "jammy-x86_64");
    refused(&o, 2, &[&format!("--out {out}: is a file; expected a directory")]);
    let o = run(cmd()
        .current_dir(d.path())
        .args(["release", "--version", "8.1.1", "--dry-run", "--dist", "dist2", "--merge"])
        .arg(&garbage));
    refused(&o, 2, &[&format!("--merge {out}: is a file; expected a directory")]);
    assert!(!d.path().join("dist2").exists(), "a refused release created its --dist");
    // (every command with the wrong kind of path: tests/core_inputs_sweep.rs)
}

#[test]
fn verify_escapes_names_like_sha256sum() {
    let d = tempfile::tempdir().unwrap();
    let name = "a\nb: OK\\c";
    let f = d.path().join(name);
    std::fs::write(&f, b"data").unwrap();
    std::fs::write(d.path().join(format!("{name}.sha256")), sha256(&f)).unwrap();
    let o = run(cmd().current_dir(d.path()).arg("verify").arg(name));
    assert_code(&o, 0);
    let out = stdout(&o);
    assert_eq!(out, "\\a\\nb: OK\\\\c: OK\n", "{out:?}");
    // What GNU sha256sum prints for the same file name.
    let gnu = std::process::Command::new("sha256sum")
        .arg(name)
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&gnu.stdout).starts_with("\\"), "{gnu:?}");
}

/// Every stage that writes into a dist directory for release V refuses one holding another
/// release, with the one wording of `Manifest::check_release`: exit 2 naming the option, the
/// manifest and both versions, before any container or source is touched.
#[test]
fn a_dist_of_another_release_is_refused_the_same_way_by_build_and_release() {
    let d = tempfile::tempdir().unwrap();
    partial_dist(&d.path().join("dist"), |_| {});
    std::fs::create_dir_all(d.path().join("tree")).unwrap();
    let said = "dist/manifest.json: is the manifest of release 8.1.1, not of 8.1.2";
    let o = run(cmd().current_dir(d.path()).args([
        "build",
        "--version",
        "8.1.2",
        "--out",
        "dist",
        "--target",
        "jammy-x86_64",
        "--source",
        "tree",
    ]));
    refused(&o, 2, &[&format!("--out: {said}")]);
    let o = run(cmd().current_dir(d.path()).args([
        "release",
        "--version",
        "8.1.2",
        "--dry-run",
        "--dist",
        "dist",
        "--target",
        "jammy-x86_64",
        "--source",
        "tree",
    ]));
    refused(&o, 2, &[&format!("--dist: {said}")]);
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(d.path().join("dist/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["version"], "8.1.1", "the other release's manifest is left as it was");
}
