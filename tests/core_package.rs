//! `package`: reproducibility, layout, GNU tar / sha256sum compatibility, hard links,
//! manifest.json + SHA256SUMS merging, and refusals (exit 2, nothing written).

mod core_support;

use core_support::*;
use std::path::Path;
use std::process::Command;

const NAME: &str = "valkey-8.1.1-jammy-x86_64";

fn tarball(out: &Path) -> std::path::PathBuf {
    out.join(format!("{NAME}.tar.gz"))
}

#[test]
fn reproducible_across_mtimes_umask_modes_and_creation_order() {
    let t = tempfile::tempdir().unwrap();
    // Copy A: file order as listed, 0755, old mtimes, packaged under umask 022.
    let a = t.path().join("a/valkey");
    copy_tree(&a, false, 0o755, 1_000_000_000);
    // Copy B: created in reverse order, mode 0700, recent mtimes, packaged under umask 077
    // from another working directory with a relative --from.
    let b = t.path().join("elsewhere/b");
    copy_tree(&b, true, 0o700, 1_750_000_000);

    let oa = t.path().join("out-a");
    assert_code(&package(&a, &oa, "8.1.1", "jammy-x86_64"), 0);

    let ob = t.path().join("out-b");
    let o = run(Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 077 && cd {} && SOURCE_DATE_EPOCH={SDE} VALKEY_RELEASE_PLAIN=1 exec {} package --version 8.1.1 --target jammy-x86_64 --from b --out {}",
            t.path().join("elsewhere").display(),
            bin().display(),
            ob.display()
        )));
    assert_code(&o, 0);

    let ba = std::fs::read(tarball(&oa)).unwrap();
    let bb = std::fs::read(tarball(&ob)).unwrap();
    assert!(ba == bb, "tarballs differ between copies of one tree");
    assert_eq!(
        std::fs::read(oa.join(format!("{NAME}.tar.gz.sha256"))).unwrap(),
        std::fs::read(ob.join(format!("{NAME}.tar.gz.sha256"))).unwrap()
    );
    // The manifests differ only in the source name (the trees' directory names).
    let ma: serde_json::Value = serde_json::from_slice(&std::fs::read(oa.join("manifest.json")).unwrap()).unwrap();
    let mb: serde_json::Value = serde_json::from_slice(&std::fs::read(ob.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(ma["artifacts"], mb["artifacts"]);

    // A different SOURCE_DATE_EPOCH gives different bytes (the timestamp is really used).
    let oc = t.path().join("out-c");
    let o = run(cmd()
        .args([
            "package",
            "--version",
            "8.1.1",
            "--target",
            "jammy-x86_64",
            "--source-date-epoch",
            "1600000000",
            "--from",
        ])
        .arg(&a)
        .arg("--out")
        .arg(&oc));
    assert_code(&o, 0);
    assert_ne!(std::fs::read(tarball(&oc)).unwrap(), ba);
}

#[test]
fn exact_layout_as_gnu_tar_lists_it() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("dist");
    assert_code(&package(&fixture_tree(), &out, "8.1.1", "jammy-x86_64"), 0);
    let o = Command::new("tar")
        .env("TZ", "UTC")
        .arg("-tvzf")
        .arg(tarball(&out))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let got: Vec<String> = stdout(&o)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let d = "2023-11-14 22:13";
    let server = std::fs::metadata(fixture_tree().join("src/valkey-server")).unwrap().len();
    let cli = std::fs::metadata(fixture_tree().join("src/valkey-cli")).unwrap().len();
    let bench = std::fs::metadata(fixture_tree().join("src/valkey-benchmark")).unwrap().len();
    let lic = std::fs::metadata(fixture_tree().join("COPYING")).unwrap().len();
    let first = format!("{NAME}/bin/valkey-check-aof");
    let want = vec![
        format!("drwxr-xr-x root/root 0 {d} {NAME}/"),
        format!("drwxr-xr-x root/root 0 {d} {NAME}/bin/"),
        format!("-rwxr-xr-x root/root {bench} {d} {NAME}/bin/valkey-benchmark"),
        format!("-rwxr-xr-x root/root {server} {d} {first}"),
        format!("hrwxr-xr-x root/root 0 {d} {NAME}/bin/valkey-check-rdb link to {first}"),
        format!("-rwxr-xr-x root/root {cli} {d} {NAME}/bin/valkey-cli"),
        format!("hrwxr-xr-x root/root 0 {d} {NAME}/bin/valkey-sentinel link to {first}"),
        format!("hrwxr-xr-x root/root 0 {d} {NAME}/bin/valkey-server link to {first}"),
        format!("drwxr-xr-x root/root 0 {d} {NAME}/share/"),
        format!("-rw-r--r-- root/root {lic} {d} {NAME}/share/LICENSE"),
    ];
    assert_eq!(got, want);
    // Numeric owners are 0/0.
    let o = Command::new("tar")
        .arg("--numeric-owner")
        .arg("-tvzf")
        .arg(tarball(&out))
        .output()
        .unwrap();
    assert!(stdout(&o).lines().all(|l| l.contains(" 0/0 ")), "{}", stdout(&o));
}

#[test]
fn gzip_header_is_fixed() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("dist");
    assert_code(&package(&fixture_tree(), &out, "8.1.1", "jammy-x86_64"), 0);
    let b = std::fs::read(tarball(&out)).unwrap();
    assert_eq!(&b[0..3], &[0x1f, 0x8b, 8], "gzip magic + deflate");
    assert_eq!(b[3], 0, "no FNAME/FEXTRA/FCOMMENT flags");
    assert_eq!(&b[4..8], &[0, 0, 0, 0], "mtime 0");
    assert_eq!(b[9], 3, "OS byte = Unix");
}

#[test]
fn gnu_tar_extracts_identical_files_and_sha256sum_accepts_the_checksums() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("dist");
    assert_code(&package(&fixture_tree(), &out, "8.1.1", "jammy-x86_64"), 0);
    assert_code(&package(&fixture_tree(), &out, "8.1.1", "noble-arm64"), 0);

    let x = t.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let st = Command::new("tar")
        .arg("xzf")
        .arg(tarball(&out))
        .arg("-C")
        .arg(&x)
        .status()
        .unwrap();
    assert!(st.success());
    let top = x.join(NAME);
    let mut all: Vec<String> = Vec::new();
    for d in ["bin", "share"] {
        for f in listing(&top.join(d)) {
            all.push(format!("{d}/{f}"));
        }
    }
    assert_eq!(listing(&top), ["bin", "share"]);
    let mut want: Vec<String> = BINARIES.iter().map(|b| format!("bin/{b}")).collect();
    want.push("share/LICENSE".into());
    want.sort();
    assert_eq!(all, want, "nothing but the six binaries and the license (no .o/.c)");
    for b in BINARIES {
        assert_eq!(
            std::fs::read(top.join("bin").join(b)).unwrap(),
            std::fs::read(fixture_tree().join("src").join(b)).unwrap(),
            "{b} extracts to the input bytes"
        );
    }
    use std::os::unix::fs::MetadataExt;
    let ino = |b: &str| std::fs::metadata(top.join("bin").join(b)).unwrap().ino();
    assert_eq!(ino("valkey-server"), ino("valkey-check-aof"), "hard link extracted as a link");
    assert_eq!(ino("valkey-sentinel"), ino("valkey-check-rdb"));
    assert_ne!(ino("valkey-cli"), ino("valkey-server"));
    assert_eq!(
        std::fs::read(top.join("share/LICENSE")).unwrap(),
        std::fs::read(fixture_tree().join("COPYING")).unwrap()
    );
    let mode = |p: &str| std::fs::metadata(top.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("bin/valkey-server"), 0o755);

    // sha256sum -c accepts the .sha256 files and SHA256SUMS.
    for f in [
        format!("{NAME}.tar.gz.sha256"),
        "valkey-8.1.1-noble-arm64.tar.gz.sha256".into(),
        "SHA256SUMS".into(),
    ] {
        let o = Command::new("sha256sum").arg("-c").arg(&f).current_dir(&out).output().unwrap();
        assert!(o.status.success(), "sha256sum -c {f}: {}{}", stdout(&o), stderr(&o));
    }
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    let names: Vec<&str> = sums.lines().map(|l| l.split_once("  ").unwrap().1).collect();
    assert_eq!(names, [format!("{NAME}.tar.gz").as_str(), "valkey-8.1.1-noble-arm64.tar.gz"]);
    let one = std::fs::read_to_string(out.join(format!("{NAME}.tar.gz.sha256"))).unwrap();
    assert_eq!(one, format!("{}  {NAME}.tar.gz\n", sha256(&tarball(&out))));
}

#[test]
fn manifest_records_and_merges_artifacts() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("dist");
    assert_code(&package(&fixture_tree(), &out, "9.1.0-rc2", "noble-x86_64"), 0);
    assert_code(&package(&fixture_tree(), &out, "9.1.0-rc2", "jammy-arm64"), 0);
    // Re-packaging a target replaces its entry.
    let o = package(&fixture_tree(), &out, "9.1.0-rc2", "jammy-arm64");
    assert_code(&o, 0);
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["schema"], 1);
    assert_eq!(m["tool"]["name"], "valkey-release");
    assert_eq!(m["version"], "9.1.0-rc2");
    assert_eq!(m["source_date_epoch"], 1700000000);
    assert_eq!(m["source"]["name"], "tree");
    let arts = m["artifacts"].as_array().unwrap();
    assert_eq!(arts.len(), 2);
    assert_eq!(arts[0]["file"], "valkey-9.1.0-rc2-jammy-arm64.tar.gz");
    assert_eq!(arts[0]["target"], "jammy-arm64");
    assert_eq!(arts[0]["distro"], "jammy");
    assert_eq!(arts[0]["arch"], "arm64");
    assert_eq!(arts[0]["checksum_file"], "valkey-9.1.0-rc2-jammy-arm64.tar.gz.sha256");
    assert_eq!(arts[1]["file"], "valkey-9.1.0-rc2-noble-x86_64.tar.gz");
    for a in arts {
        let f = out.join(a["file"].as_str().unwrap());
        assert_eq!(a["size"].as_u64().unwrap(), std::fs::metadata(&f).unwrap().len());
        assert_eq!(a["sha256"].as_str().unwrap(), sha256(&f));
        let files = a["files"].as_array().unwrap();
        assert_eq!(files.len(), 7);
        let server = files
            .iter()
            .find(|x| x["path"].as_str().unwrap().ends_with("/bin/valkey-server"))
            .unwrap();
        assert_eq!(server["mode"], "0755");
        assert!(server["link_to"].as_str().unwrap().ends_with("/bin/valkey-check-aof"));
        assert_eq!(
            server["sha256"].as_str().unwrap(),
            sha256(&fixture_tree().join("src/valkey-server"))
        );
        let lic = files
            .iter()
            .find(|x| x["path"].as_str().unwrap().ends_with("/share/LICENSE"))
            .unwrap();
        assert_eq!(lic["mode"], "0644");
    }
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 2);

    // --json gives the report.
    let o = run(cmd()
        .env("SOURCE_DATE_EPOCH", SDE)
        .args(["--json", "package", "--version", "9.1.0-rc2", "--target", "trixie-arm64", "--from"])
        .arg(fixture_tree())
        .arg("--out")
        .arg(&out));
    assert_code(&o, 0);
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["artifact"]["file"], "valkey-9.1.0-rc2-trixie-arm64.tar.gz");
    assert_eq!(r["replaced"], false);

    // Another release in the same dist/ is refused, naming both values; nothing changes.
    let before = std::fs::read(out.join("manifest.json")).unwrap();
    let o = package(&fixture_tree(), &out, "9.1.0", "noble-x86_64");
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("there is 9.1.0-rc2") && stderr(&o).contains("here 9.1.0;"),
        "{}",
        stderr(&o)
    );
    assert!(!out.join("valkey-9.1.0-noble-x86_64.tar.gz").exists());
    let o = run(cmd()
        .args([
            "package",
            "--version",
            "9.1.0-rc2",
            "--target",
            "noble-x86_64",
            "--source-date-epoch",
            "1",
            "--from",
        ])
        .arg(fixture_tree())
        .arg("--out")
        .arg(&out));
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("source_date_epoch") && stderr(&o).contains("1700000000"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), before);
}

#[test]
fn version_rule_exit_2_and_nothing_written() {
    let t = tempfile::tempdir().unwrap();
    for v in ["8.1", "v8.1.1", "8.1.1-rc", "../8.1.1", "", " ", " 8.1.1", "8.1.1 ", "Unstable"] {
        let out = t.path().join("dist");
        let o = package(&fixture_tree(), &out, v, "jammy-x86_64");
        assert_code(&o, 2);
        assert!(stderr(&o).contains("version"), "{v:?}: {}", stderr(&o));
        assert!(!out.exists(), "{v:?}: nothing may be written");
        assert!(listing(t.path()).is_empty(), "{v:?}: {:?}", listing(t.path()));
    }
    for v in ["8.1.1", "9.1.0-rc2", "unstable"] {
        let out = t.path().join(format!("ok-{v}"));
        assert_code(&package(&fixture_tree(), &out, v, "jammy-x86_64"), 0);
        assert!(out.join(format!("valkey-{v}-jammy-x86_64.tar.gz")).is_file());
    }
}

#[test]
fn refusals_name_the_problem_and_write_nothing() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("dist");
    let base = || {
        let mut c = cmd();
        c.args(["package", "--version", "8.1.1", "--target", "jammy-x86_64", "--from"])
            .arg(fixture_tree())
            .arg("--out")
            .arg(&out);
        c
    };
    // No SOURCE_DATE_EPOCH.
    let o = run(&mut base());
    assert_code(&o, 2);
    assert!(stderr(&o).contains("SOURCE_DATE_EPOCH"), "{}", stderr(&o));
    // Not an integer, from the environment or the flag.
    for bad in ["yesterday", "-5", "1.5", ""] {
        let o = run(base().env("SOURCE_DATE_EPOCH", bad));
        assert_code(&o, 2);
        let o = run(base().arg(format!("--source-date-epoch={bad}")));
        assert_code(&o, 2);
        assert!(stderr(&o).contains("--source-date-epoch"), "{}", stderr(&o));
    }
    // Unknown target.
    let o = package(&fixture_tree(), &out, "8.1.1", "focal-x86_64");
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("focal-x86_64") && stderr(&o).contains("jammy-x86_64"),
        "{}",
        stderr(&o)
    );
    // Missing binary / license: the path is named.
    let tree = t.path().join("tree");
    copy_tree(&tree, false, 0o755, 1);
    std::fs::remove_file(tree.join("src/valkey-cli")).unwrap();
    let o = package(&tree, &out, "8.1.1", "jammy-x86_64");
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(&tree.join("src/valkey-cli").display().to_string()),
        "{}",
        stderr(&o)
    );
    copy_tree(&tree, false, 0o755, 1);
    std::fs::remove_file(tree.join("COPYING")).unwrap();
    let o = package(&tree, &out, "8.1.1", "jammy-x86_64");
    assert_code(&o, 2);
    assert!(stderr(&o).contains(&tree.join("COPYING").display().to_string()), "{}", stderr(&o));
    // Not a directory.
    let o = package(&tree.join("nope"), &out, "8.1.1", "jammy-x86_64");
    assert_code(&o, 2);
    assert!(!out.exists(), "nothing written: {:?}", listing(&out));
}

#[test]
fn library_package_tree_and_add_to_dist() {
    use valkey_release::manifest::SourceInfo;
    use valkey_release::package::{add_to_dist, package_tree, PackageInput};
    let t = tempfile::tempdir().unwrap();
    let m = valkey_release::targets::Matrix::parse(valkey_release::targets::EMBEDDED, Path::new("targets.toml"), None).unwrap();
    let v = valkey_release::version::Version::parse("8.1.1").unwrap();
    let target = m.target("bookworm-arm64").unwrap();
    let input = PackageInput {
        matrix: &m,
        version: &v,
        target,
        tree: &fixture_tree(),
        source_date_epoch: 1_700_000_000,
    };
    let a = package_tree(&input, t.path()).unwrap();
    assert_eq!(a.file, "valkey-8.1.1-bookworm-arm64.tar.gz");
    assert!(a.build.is_none());
    assert_eq!(
        listing(t.path()),
        ["valkey-8.1.1-bookworm-arm64.tar.gz", "valkey-8.1.1-bookworm-arm64.tar.gz.sha256"]
    );
    let src = SourceInfo {
        name: "valkey-8.1.1.tar.gz".into(),
        kind: "archive".into(),
        sha256: Some("a".repeat(64)),
        ..Default::default()
    };
    let r = add_to_dist(t.path(), &v, 1_700_000_000, &src, a.clone()).unwrap();
    assert!(!r.replaced);
    assert_eq!(r.manifest.artifacts.len(), 1);
    let r = add_to_dist(t.path(), &v, 1_700_000_000, &src, a.clone()).unwrap();
    assert!(r.replaced);
    let other = SourceInfo {
        sha256: Some("b".repeat(64)),
        ..src.clone()
    };
    let e = add_to_dist(t.path(), &v, 1_700_000_000, &other, a).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string().contains(&"a".repeat(64)) && e.to_string().contains(&"b".repeat(64)),
        "{e}"
    );
}

#[test]
fn merge_dist_from_separate_runners() {
    use valkey_release::package::merge_dist;
    let t = tempfile::tempdir().unwrap();
    let (r1, r2, all) = (t.path().join("r1"), t.path().join("r2"), t.path().join("all"));
    assert_code(&package(&fixture_tree(), &r1, "8.1.1", "jammy-x86_64"), 0);
    assert_code(&package(&fixture_tree(), &r2, "8.1.1", "noble-arm64"), 0);
    merge_dist(&r1, &all).unwrap();
    let m = merge_dist(&r2, &all).unwrap();
    assert_eq!(m.artifacts.len(), 2);
    let o = run(cmd().arg("verify").arg(&all));
    assert_code(&o, 0);
    assert_eq!(stdout(&o).lines().count(), 2);
    // A runner's dist with a corrupted tarball is refused (exit 1) and not copied.
    let r3 = t.path().join("r3");
    assert_code(&package(&fixture_tree(), &r3, "8.1.1", "trixie-x86_64"), 0);
    let f = r3.join("valkey-8.1.1-trixie-x86_64.tar.gz");
    let mut b = std::fs::read(&f).unwrap();
    b[40] ^= 1;
    std::fs::write(&f, b).unwrap();
    let e = merge_dist(&r3, &all).unwrap_err();
    assert_eq!(e.exit_code(), 1, "{e}");
    assert!(!all.join("valkey-8.1.1-trixie-x86_64.tar.gz").exists());
    // Another release is refused (exit 2).
    let r4 = t.path().join("r4");
    assert_code(&package(&fixture_tree(), &r4, "8.1.2", "trixie-x86_64"), 0);
    assert_eq!(merge_dist(&r4, &all).unwrap_err().exit_code(), 2);
}

#[test]
fn multi_chunk_tarball_is_the_same_with_any_thread_count_and_extracts() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("big");
    // About 10 MB of tar stream: several 1 MiB gzip chunks and more than one parallel batch.
    gen::write_tree(&tree, 6_000_000, 2_000_000, 2_000_000, 7).unwrap();
    let mut outs = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = t.path().join(format!("out-{threads}"));
        let o = run(cmd()
            .env("SOURCE_DATE_EPOCH", SDE)
            .env("RAYON_NUM_THREADS", threads)
            .args(["package", "--version", "8.1.1", "--target", "jammy-x86_64", "--from"])
            .arg(&tree)
            .arg("--out")
            .arg(&out));
        assert_code(&o, 0);
        outs.push(std::fs::read(tarball(&out)).unwrap());
    }
    assert!(outs[0] == outs[1] && outs[1] == outs[2], "bytes depend on the thread count");
    let out = t.path().join("out-1");
    let st = Command::new("gzip").arg("-t").arg(tarball(&out)).status().unwrap();
    assert!(st.success(), "gzip -t");
    let x = t.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let st = Command::new("tar")
        .arg("xzf")
        .arg(tarball(&out))
        .arg("-C")
        .arg(&x)
        .status()
        .unwrap();
    assert!(st.success());
    for b in BINARIES {
        assert!(
            std::fs::read(x.join(NAME).join("bin").join(b)).unwrap() == std::fs::read(tree.join("src").join(b)).unwrap(),
            "{b} differs after extraction"
        );
    }
}
