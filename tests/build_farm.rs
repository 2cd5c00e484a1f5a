//! The build farm against the real Docker engine, with the fakevalkey fixture and the
//! bookworm builder image (x86_64 native, arm64 cross-compiled on the amd64 builder).

mod build_support;
use build_support::*;
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const V: &str = "8.1.1";

/// The build of release V these tests run: `build_cmd(V, --source <source> --target <t>...
/// <extra>) --out <out>`.
fn build(source: impl AsRef<OsStr>, targets: &[&str], extra: &[&str], out: &Path) -> Command {
    let mut args = vec!["--source", source.as_ref().to_str().unwrap()];
    for t in targets {
        args.extend(["--target", *t]);
    }
    args.extend(extra);
    let mut c = build_cmd(V, &args);
    c.arg("--out").arg(out);
    c
}

fn run_id(stdout: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(stdout).expect("json report");
    v["run_id"].as_str().unwrap().to_string()
}

#[test]
fn builds_x86_64_and_arm64_in_parallel() {
    let (_d, src) = fixture(&[]);
    let out = tempfile::tempdir().unwrap();
    let dist = out.path().join("dist");
    let o = run(build(
        &src,
        &["bookworm-x86_64", "bookworm-arm64"],
        &["--jobs", "2", "--json"],
        &dist,
    ));
    assert_eq!(o.status.code(), Some(0));
    let rid = run_id(&o.stdout);
    assert!(
        containers_with(&format!("io.valkey.release.run={rid}")).is_empty(),
        "containers of the run remain"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("[bookworm-x86_64]") && err.contains("[bookworm-arm64]"),
        "plain progress lines per target"
    );

    let m = manifest(&dist);
    assert_eq!(m["version"], V);
    assert_eq!(m["source"]["kind"], "directory");
    // The tarballs; the targets' .debs (packages = ["deb"]) are artifacts of kind deb beside them.
    let arts: Vec<&serde_json::Value> = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "tarball")
        .collect();
    assert_eq!(arts.len(), 2);
    assert!(m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["kind"] == "tarball" || a["kind"] == "deb"));
    for (a, machine, mode) in [(&arts[0], "aarch64", "cross"), (&arts[1], "x86_64", "native")] {
        let file = a["file"].as_str().unwrap();
        assert!(dist.join(file).is_file());
        assert_eq!(sha256(&dist.join(file)), a["sha256"].as_str().unwrap());
        let b = &a["build"];
        assert_eq!(b["mode"], mode, "{file}");
        assert!(b["reported_version"].as_str().unwrap().contains("v=8.1.1"));
        assert!(b["builder_image"].as_str().unwrap().starts_with("sha256:"));
        assert!(b["make_command"].as_array().unwrap().iter().any(|x| x == "BUILD_TLS=yes"));
        if !b["elf_machine"].as_str().unwrap_or("").is_empty() {
            assert_eq!(b["elf_machine"], machine, "{file}");
        }
    }
    assert!(arts[0]["file"].as_str().unwrap().ends_with("bookworm-arm64.tar.gz"));
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    // One line per artifact of the manifest (tarballs and .debs).
    assert_eq!(sums.lines().count(), m["artifacts"].as_array().unwrap().len());
    assert!(sums.contains("valkey-8.1.1-bookworm-x86_64.tar.gz\n") && sums.contains("valkey-8.1.1-bookworm-arm64.tar.gz\n"));
    for t in ["bookworm-x86_64", "bookworm-arm64"] {
        let log = std::fs::read_to_string(dist.join("logs").join(format!("{t}.log"))).unwrap();
        assert!(log.contains("make -j"), "{t} log");
    }
    // The tarball has the official layout.
    let list = Command::new("tar")
        .arg("-tzf")
        .arg(dist.join("valkey-8.1.1-bookworm-x86_64.tar.gz"))
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for f in [
        "bin/valkey-server",
        "bin/valkey-cli",
        "bin/valkey-benchmark",
        "bin/valkey-sentinel",
        "bin/valkey-check-aof",
        "bin/valkey-check-rdb",
        "share/LICENSE",
    ] {
        assert!(
            list.contains(&format!("valkey-8.1.1-bookworm-x86_64/{f}")),
            "{f} missing in\n{list}"
        );
    }
}

#[test]
fn one_target_fails_the_other_is_packaged() {
    let (_d, src) = fixture(&["FAIL_CROSS"]);
    let out = tempfile::tempdir().unwrap();
    let dist = out.path().join("dist");
    let o = run(build(&src, &["bookworm-x86_64", "bookworm-arm64"], &[], &dist));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1 of 2 targets failed"), "{err}");
    assert!(err.contains("bookworm-arm64: make exited with code"), "{err}");
    assert!(err.contains("failing on purpose"), "the summary shows the log tail: {err}");
    assert!(dist.join("valkey-8.1.1-bookworm-x86_64.tar.gz").is_file());
    assert!(!dist.join("valkey-8.1.1-bookworm-arm64.tar.gz").exists());
    let m = manifest(&dist);
    // Only the good target's artifacts (its tarball and its .debs), nothing of the failed one.
    let arts = m["artifacts"].as_array().unwrap();
    assert_eq!(arts.iter().filter(|a| a["kind"] == "tarball").count(), 1);
    assert!(arts.iter().all(|a| a["target"] == "bookworm-x86_64"), "{arts:?}");
    assert!(std::fs::read_to_string(dist.join("logs/bookworm-arm64.log"))
        .unwrap()
        .contains("failing on purpose"));
}

#[test]
fn fail_fast_stops_the_others() {
    // arm64 fails at once; x86_64 sleeps in make until fail-fast stops it.
    let (_d, src) = fixture(&["FAIL_CROSS", "SLOW_NATIVE"]);
    let out = tempfile::tempdir().unwrap();
    let o = run(build(
        &src,
        &["bookworm-x86_64", "bookworm-arm64"],
        &["--jobs", "2", "--fail-fast", "--json"],
        out.path(),
    ));
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let st: Vec<(&str, &str)> = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["target"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(st, vec![("bookworm-x86_64", "skipped"), ("bookworm-arm64", "failed")]);
    let rid = v["run_id"].as_str().unwrap();
    assert!(containers_with(&format!("io.valkey.release.run={rid}")).is_empty());
}

/// Interrupt a build of two targets with `signal` while both containers are up and make is
/// sleeping: exit 130, the run's containers removed, no partial outputs.
fn interrupt_cleans_up(signal: &str) {
    let (_d, src) = fixture(&["SLOW"]);
    let out = tempfile::tempdir().unwrap();
    let mut c = build(&src, &["bookworm-x86_64", "bookworm-arm64"], &[], out.path());
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let label = format!("io.valkey.release.pid={}", child.id());
    let t0 = Instant::now();
    // Wait until both containers are up and make is sleeping (a guard against waiting forever,
    // not a measurement: the fixture sleeps 120 s).
    loop {
        assert!(t0.elapsed() < Duration::from_secs(300), "no containers appeared");
        if containers_with(&label).len() == 2
            && std::fs::read_to_string(out.path().join("logs/bookworm-arm64.log"))
                .unwrap_or_default()
                .contains("SLOW")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let st = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    eprintln!("{err}");
    // 130, not 0: the build was stopped before make finished its 120 s sleep.
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted: removing this run's containers"), "{err}");
    assert!(containers_with(&label).is_empty(), "containers of the interrupted run remain");
    let left: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "logs")
        .collect();
    assert!(left.is_empty(), "partial outputs left: {left:?}");
}

#[test]
fn ctrl_c_removes_containers_and_exits_130() {
    interrupt_cleans_up("INT");
}

#[test]
fn sigterm_cleans_up_like_ctrl_c() {
    interrupt_cleans_up("TERM");
}

#[test]
fn two_builds_are_byte_identical_and_check_reproducible_passes() {
    let (_d, src) = fixture(&[]);
    let out = tempfile::tempdir().unwrap();
    let (d1, d2) = (out.path().join("one"), out.path().join("two"));
    assert_eq!(run(build(&src, &["bookworm-arm64"], &[], &d1)).status.code(), Some(0));
    let o = run(build(&src, &["bookworm-arm64"], &["--check-reproducible", "--json"], &d2));
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["targets"][0]["reproducible"], true);
    // The second build varied what a host could change.
    let varied: Vec<&str> = v["targets"][0]["varied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for what in ["hostname rebuild-", "cpuset ", "make -j", "umask 0002", "user 1001:1001"] {
        assert!(varied.iter().any(|x| x.starts_with(what)), "{what} not varied: {varied:?}");
    }
    let f = "valkey-8.1.1-bookworm-arm64.tar.gz";
    assert_eq!(sha256(&d1.join(f)), sha256(&d2.join(f)));
}

#[test]
fn check_reproducible_catches_a_build_that_depends_on_the_host() {
    let (_d, src) = fixture(&["HOSTDEP"]);
    let out = tempfile::tempdir().unwrap();
    let o = run(build(&src, &["bookworm-x86_64"], &["--check-reproducible", "--json"], out.path()));
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &v["targets"][0];
    assert_eq!(t["reproducible"], false);
    let diff: Vec<&str> = t["differing_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(diff.contains(&"src/valkey-server") && !diff.contains(&"src/valkey-cli"), "{diff:?}");
    assert!(t["error"].as_str().unwrap().contains("not reproducible"), "{t}");
}

#[test]
fn wrong_version_is_rejected() {
    let (_d, src) = fixture(&[]);
    std::fs::write(src.join("src/version.h"), "#define VALKEY_VERSION \"8.0.9\"\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = run(build(&src, &["bookworm-x86_64"], &[], out.path()));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("8.0.9") && err.contains("8.1.1"), "{err}");
    assert!(!out.path().join("valkey-8.1.1-bookworm-x86_64.tar.gz").exists());
}

#[test]
fn wrong_arch_is_rejected() {
    let (_d, src) = fixture(&["WRONG_ARCH"]);
    let out = tempfile::tempdir().unwrap();
    let o = run(build(&src, &["bookworm-arm64"], &[], out.path()));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    // The qemu `--version` run passes (the fixture builds a valkey-server that runs under qemu
    // too), so the failure is the ELF architecture gate's.
    assert!(err.contains("running valkey-server --version"), "{err}");
    assert!(
        err.contains("valkey-cli: ELF machine is x86_64, but target arch") && err.contains("needs aarch64"),
        "{err}"
    );
    assert!(!out.path().join("valkey-8.1.1-bookworm-arm64.tar.gz").exists());
}

#[test]
fn archive_and_url_sources_record_sha256_and_epoch() {
    let (d, src) = fixture(&[]);
    touch_all(&src, "2025-05-20 12:00:00 UTC");
    let archive = d.path().join("valkey-8.1.1.tar.gz");
    fixture_targz(&src, &archive, "valkey-8.1.1");
    let digest = sha256(&archive);
    let bytes = std::fs::read(&archive).unwrap();

    // A local HTTP server serving the archive like GitHub's tag archive.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(async {
        let s = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::path("/archive/refs/tags/8.1.1.tar.gz"))
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_bytes(bytes))
            .mount(&s)
            .await;
        s
    });
    let url = format!("{}/archive/refs/tags/8.1.1.tar.gz", server.uri());
    let out = tempfile::tempdir().unwrap();
    let (da, du) = (out.path().join("a"), out.path().join("u"));
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let c = build(&archive, &["bookworm-x86_64"], &["--source-sha", sha], &da);
    assert_eq!(run(c).status.code(), Some(0));
    // The same commit (the binaries carry it): the same tarball below.
    assert_eq!(
        run(build(&url, &["bookworm-x86_64"], &["--source-sha", sha], &du)).status.code(),
        Some(0)
    );
    let (ma, mu) = (manifest(&da), manifest(&du));
    assert_eq!(ma["source"]["kind"], "archive");
    assert_eq!(ma["source"]["sha256"], digest.as_str());
    assert_eq!(ma["source"]["source_sha"], sha);
    assert_eq!(ma["source_date_epoch"], 1747742400);
    assert_eq!(ma["artifacts"][0]["build"]["source_commit"], sha);
    assert!(ma["artifacts"][0]["build"]["reported_version"]
        .as_str()
        .unwrap()
        .contains("sha=01234567:0"));
    assert_eq!(mu["source"]["kind"], "url");
    assert_eq!(mu["source"]["url"], url.as_str());
    assert_eq!(mu["source"]["sha256"], digest.as_str());
    assert_eq!(mu["source_date_epoch"], 1747742400);
    // Same source bytes, same tarball.
    assert_eq!(ma["artifacts"][0]["sha256"], mu["artifacts"][0]["sha256"]);
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_DATE", "1700000000 +0000")
        .env("GIT_AUTHOR_DATE", "1700000000 +0000")
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn git_checkout_pins_commit_and_refuses_dirty() {
    let (_d, src) = fixture(&[]);
    git(&src, &["init", "-q"]);
    git(&src, &["add", "."]);
    git(&src, &["commit", "-qm", "fixture"]);
    let head = git(&src, &["rev-parse", "HEAD"]);
    let out = tempfile::tempdir().unwrap();

    // Wrong commit: refused (exit 4), nothing built.
    let wrong = "1111111111111111111111111111111111111111";
    let o = run(build(&src, &["bookworm-x86_64"], &["--source-sha", wrong], &out.path().join("w")));
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&head));

    // Dirty: refused (exit 4) unless --allow-dirty.
    std::fs::write(src.join("COPYING"), "changed\n").unwrap();
    let o = run(build(&src, &["bookworm-x86_64"], &[], &out.path().join("d")));
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--allow-dirty"));
    git(&src, &["checkout", "-q", "COPYING"]);

    // Clean, right commit: SOURCE_DATE_EPOCH is the commit time.
    let c = build(&src, &["bookworm-x86_64"], &["--source-sha", &head], &out.path().join("ok"));
    assert_eq!(run(c).status.code(), Some(0));
    let m = manifest(&out.path().join("ok"));
    assert_eq!(m["source"]["kind"], "git");
    assert_eq!(m["source"]["git_commit"], head.as_str());
    assert_eq!(m["source_date_epoch"], 1700000000);
    // The binaries say which commit they are, as upstream's do (the tree sent has no .git).
    let b = &m["artifacts"][0]["build"];
    assert_eq!(b["source_commit"], head.as_str());
    let reported = b["reported_version"].as_str().unwrap();
    assert!(reported.contains(&format!("sha={}:0", &head[..8])), "{reported}");
    assert!(b["pinned"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "JEMALLOC_CONFIGURE_OPTS=--with-lg-vaddr=48"));

    // GitHub's tag archives carry the commit in their pax global header (`git archive`).
    let tgz = out.path().join("valkey-8.1.1.tar.gz");
    git(
        &src,
        &[
            "archive",
            "--format=tar.gz",
            "--prefix=valkey-8.1.1/",
            "-o",
            tgz.to_str().unwrap(),
            "HEAD",
        ],
    );
    let c = build(&tgz, &["bookworm-x86_64"], &[], &out.path().join("tag"));
    assert_eq!(run(c).status.code(), Some(0));
    let m = manifest(&out.path().join("tag"));
    let b = &m["artifacts"][0]["build"];
    assert_eq!(b["source_commit"], head.as_str());
    assert!(b["reported_version"].as_str().unwrap().contains(&format!("sha={}:0", &head[..8])));
    // ... and a payload's source_sha that is another commit is refused (exit 4).
    let o = run(build(
        &tgz,
        &["bookworm-x86_64"],
        &["--source-sha", wrong],
        &out.path().join("tag2"),
    ));
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("pax header"));
}

#[test]
fn a_later_run_removes_strays() {
    let (_d, src) = fixture(&[]);
    let out = tempfile::tempdir().unwrap();
    let build = |dir: &str| {
        let c = build(&src, &["bookworm-x86_64"], &[], &out.path().join(dir));
        assert_eq!(run(c).status.code(), Some(0));
        manifest(&out.path().join(dir))["artifacts"][0]["build"]["builder_image"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let img = build("first");
    // A container labelled by a run whose driver (a pid that does not exist, on this host) is gone.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let o = Command::new("docker")
        .args([
            "create",
            "--network",
            "none",
            "--label",
            "io.valkey.release.run=stray-test",
            "--label",
            "io.valkey.release.target=bookworm-x86_64",
            "--label",
            "io.valkey.release.pid=999999999",
            "--label",
        ])
        .arg(format!("io.valkey.release.host={host}"))
        .args([&img, "true"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(containers_with("io.valkey.release.run=stray-test").len(), 1);
    build("second");
    assert!(containers_with("io.valkey.release.run=stray-test").is_empty(), "stray not removed");
}
