//! The deb post-build hook: its job and collect as plain data, and the .debs it makes in the
//! real bookworm builder (through the Docker engine): reproducible, lintian without errors.

mod packages_support;

use packages_support::engine::{farm_build, farm_debs, fixture, targets_toml, Box};
use packages_support::{require_tool, run};
use std::process::Command;
use valkey_release::farm::hooks::{HookContext, PostBuild};
use valkey_release::pkg::deb::{deb_version, DebHook, PACKAGES};
use valkey_release::targets::Matrix;
use valkey_release::version::Version;

fn ctx_parts() -> (Matrix, Version, Vec<(String, Vec<u8>)>) {
    let m = Matrix::load_file(&targets_toml()).unwrap();
    let v = Version::parse("8.1.1").unwrap();
    let bins = m.artifact.binaries.iter().map(|b| (b.clone(), b.as_bytes().to_vec())).collect();
    (m, v, bins)
}

#[test]
fn deb_job_is_plain_data_for_deb_targets_only() {
    let (m, v, bins) = ctx_parts();
    let mk = |name: &str| {
        let t = m.target(name).unwrap().clone();
        let ctx = HookContext {
            target: &t,
            version: &v,
            source_date_epoch: 1700000000,
            artifact_name: "x",
            build_dir: "/build",
            binaries: &bins,
            license: b"L",
        };
        DebHook.job(&ctx).unwrap()
    };
    assert!(mk("rocky9-x86_64").is_none(), "rocky9 asks for rpm only in targets.toml");
    // jammy and noble (Dockerfile builders) make .debs too.
    assert!(mk("jammy-arm64").unwrap().env.iter().any(|e| e == "DEBVERSION=8.1.1-1.jammy"));
    let job = mk("bookworm-arm64").unwrap();
    assert_eq!(job.cmd, ["sh", "-eu", "/pkg/deb/build.sh"]);
    assert_eq!(job.output_dir, "/pkg/out");
    for e in [
        "DEBVERSION=8.1.1-1.bookworm",
        "DEB_ARCH=arm64",
        "STRIP=aarch64-linux-gnu-strip",
        "UNITDIR=/lib/systemd/system",
        "MINOR=8.1",
    ] {
        assert!(job.env.iter().any(|x| x == e), "{e} missing from {:?}", job.env);
    }
    let paths: Vec<&str> = job.inputs.iter().map(|i| i.path.as_str()).collect();
    for p in [
        "/pkg/deb/build.sh",
        "/pkg/common/valkey.conf",
        "/pkg/bin/valkey-server",
        "/pkg/COPYING",
        "/pkg/deb/control/valkey-server",
    ] {
        assert!(paths.contains(&p), "{p} not in {paths:?}");
    }
    let job = mk("trixie-x86_64").unwrap();
    assert!(job.env.iter().any(|x| x == "UNITDIR=/usr/lib/systemd/system"));
    assert_eq!(
        deb_version(&Version::parse("8.1.0-rc1").unwrap(), "trixie").unwrap(),
        "8.1.0~rc1-1.trixie"
    );
    assert_eq!(
        deb_version(&Version::parse("unstable").unwrap(), "trixie").unwrap_err().exit_code(),
        2
    );
}

#[test]
fn deb_collect_refuses_missing_or_foreign_outputs() {
    let (m, v, bins) = ctx_parts();
    let t = m.target("bookworm-x86_64").unwrap().clone();
    let ctx = HookContext {
        target: &t,
        version: &v,
        source_date_epoch: 0,
        artifact_name: "x",
        build_dir: "/build",
        binaries: &bins,
        license: b"",
    };
    let deb = |p: &str| (format!("{p}_8.1.1-1.bookworm_amd64.deb"), b"!<arch>\ndebian-binary   ".to_vec());
    let all: Vec<_> = PACKAGES.iter().map(|p| deb(p)).collect();
    assert_eq!(DebHook.collect(&ctx, all.clone()).unwrap().len(), PACKAGES.len());
    let e = DebHook.collect(&ctx, all[1..].to_vec()).unwrap_err();
    assert!(e.to_string().contains("no valkey-server package"), "{e}");
    let mut wrong = all.clone();
    wrong.push((
        "valkey-server_9.9.9-1.bookworm_amd64.deb".into(),
        b"!<arch>\ndebian-binary".to_vec(),
    ));
    assert_eq!(DebHook.collect(&ctx, wrong).unwrap_err().exit_code(), 1);
    let mut notdeb = all;
    notdeb[0].1 = b"garbage".to_vec();
    assert_eq!(DebHook.collect(&ctx, notdeb).unwrap_err().exit_code(), 1);
}

#[test]
fn debs_from_the_builder_are_reproducible_and_lintian_clean() {
    require_tool("lintian", "lintian");
    let (_d, src) = fixture("8.1.1");
    let first = farm_debs("bookworm-x86_64", "8.1.1", &src);
    let second = farm_debs("bookworm-x86_64", "8.1.1", &src);
    let names: Vec<&str> = first.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "valkey-compat-redis_8.1.1-1.bookworm_all.deb",
            "valkey-dev_8.1.1-1.bookworm_all.deb",
            "valkey-sentinel_8.1.1-1.bookworm_amd64.deb",
            "valkey-server_8.1.1-1.bookworm_amd64.deb",
            "valkey-tools_8.1.1-1.bookworm_amd64.deb",
        ]
    );
    assert_eq!(first, second, "two builds of the same inputs gave different .debs");
    let d = lintian_clean(&first);
    // dpkg-shlibdeps gave valkey-tools its libc dependency; the server links to the tools.
    let info = run(Command::new("dpkg-deb")
        .arg("-f")
        .arg(d.path().join("valkey-tools_8.1.1-1.bookworm_amd64.deb"))
        .arg("Depends"));
    assert!(
        String::from_utf8_lossy(&info.stdout).contains("libc6 (>= "),
        "{}",
        String::from_utf8_lossy(&info.stdout)
    );
    let list = run(Command::new("dpkg-deb")
        .arg("-c")
        .arg(d.path().join("valkey-server_8.1.1-1.bookworm_amd64.deb")));
    let list = String::from_utf8_lossy(&list.stdout);
    for want in [
        "./etc/valkey/valkey.conf",
        "./lib/systemd/system/valkey-server.service",
        "./usr/bin/valkey-server -> valkey-check-rdb",
        "root/root",
    ] {
        assert!(list.contains(want), "{want} not in valkey-server:\n{list}");
    }
}

/// `systemd-analyze verify` of unit files in a scratch root holding the host's system units and
/// stand-in executables: (exit code, everything it printed).
fn analyze(units: &[(&str, String)]) -> (Option<i32>, String) {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("usr/bin")).unwrap();
    std::fs::create_dir_all(r.join("etc/systemd/system")).unwrap();
    std::fs::create_dir_all(r.join("usr/lib/systemd")).unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg("/usr/lib/systemd/system")
        .arg(r.join("usr/lib/systemd/"))
        .status()
        .unwrap();
    assert!(st.success());
    for b in ["valkey-server", "valkey-sentinel"] {
        std::fs::write(r.join("usr/bin").join(b), "#!/bin/sh\n").unwrap();
        Command::new("chmod").arg("755").arg(r.join("usr/bin").join(b)).status().unwrap();
    }
    let mut cmd = Command::new("systemd-analyze");
    cmd.args(["verify", "--man=no"]).arg(format!("--root={}", r.display()));
    for (name, text) in units {
        std::fs::write(r.join("etc/systemd/system").join(name), text).unwrap();
        cmd.arg(format!("/etc/systemd/system/{name}"));
    }
    let o = run(&mut cmd);
    (
        o.status.code(),
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
    )
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    require_tool("systemd-analyze", "systemd");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/common");
    let units: Vec<(&str, String)> = ["valkey-server.service", "valkey-sentinel.service"]
        .into_iter()
        .map(|n| (n, std::fs::read_to_string(dir.join(n)).unwrap()))
        .collect();
    let (code, out) = analyze(&units);
    assert!(code == Some(0) && out.trim().is_empty(), "systemd-analyze verify: {code:?}\n{out}");
    // The check sees a broken unit (an unknown key is only a warning to systemd: any output fails).
    let broken = units[0].1.replace("User=valkey", "User=valkey\nUsr=valkey");
    let (_, out) = analyze(&[("valkey-server.service", broken)]);
    assert!(out.contains("Unknown key 'Usr'"), "{out}");
}

/// Write the .debs to a temp dir and run lintian on each: no error tags.
fn lintian_clean(debs: &[(String, Vec<u8>)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, bytes) in debs {
        let f = d.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        let out = run(Command::new("lintian")
            .args(["--fail-on", "error", "--tag-display-limit", "0"])
            .arg(&f));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && !text.lines().any(|l| l.starts_with("E:")),
            "lintian {name}:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    d
}

#[test]
fn trixie_debs_are_lintian_clean_with_units_under_usr_lib() {
    require_tool("lintian", "lintian");
    let (_d, src) = fixture("8.1.1");
    let debs = farm_debs("trixie-x86_64", "8.1.1", &src);
    assert_eq!(debs.len(), 5);
    let d = lintian_clean(&debs);
    let list = run(Command::new("dpkg-deb")
        .arg("-c")
        .arg(d.path().join("valkey-server_8.1.1-1.trixie_amd64.deb")));
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains("./usr/lib/systemd/system/valkey-server.service"), "{list}");
}

/// bullseye-arm64, cross-built on the bullseye builder. bullseye's pkg-config is Multi-Arch:
/// foreign, so targets.toml installs no pkg-config:arm64 (it would conflict) and the amd64 one
/// provides the cross `aarch64-linux-gnu-pkg-config` (its dpkg hook; asked directly here: the
/// fixture ignores PKG_CONFIG). The farm's checks passed (ELF aarch64, glibc within 2.31) and the
/// arm64 .debs have no lintian errors, with Depends from dpkg-shlibdeps for arm64.
#[tokio::test(flavor = "multi_thread")]
async fn bullseye_arm64_is_cross_built_and_its_debs_are_lintian_clean() {
    require_tool("lintian", "lintian");
    let (_d, src) = fixture("8.1.1");
    let (out, files) = tokio::task::spawn_blocking(move || farm_build("bullseye-arm64", "8.1.1", &src))
        .await
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("dist/manifest.json")).unwrap()).unwrap();
    let build = &m["artifacts"].as_array().unwrap().iter().find(|a| a["kind"] == "tarball").unwrap()["build"];
    assert_eq!(
        (build["mode"].as_str(), build["elf_machine"].as_str()),
        (Some("cross"), Some("aarch64")),
        "{build}"
    );
    let ver = |k: &str| -> Vec<u32> { build[k].as_str().unwrap().split('.').map(|n| n.parse().unwrap()).collect() };
    assert!(
        build["glibc_limit"] == "2.31" && ver("glibc_required") <= ver("glibc_limit"),
        "{build}"
    );
    let debs: Vec<(String, Vec<u8>)> = files.into_iter().filter(|(n, _)| n.ends_with(".deb")).collect();
    let names: Vec<&str> = debs.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "valkey-compat-redis_8.1.1-1.bullseye_all.deb",
            "valkey-dev_8.1.1-1.bullseye_all.deb",
            "valkey-sentinel_8.1.1-1.bullseye_arm64.deb",
            "valkey-server_8.1.1-1.bullseye_arm64.deb",
            "valkey-tools_8.1.1-1.bullseye_arm64.deb",
        ]
    );
    let d = lintian_clean(&debs);
    let info = run(Command::new("dpkg-deb")
        .arg("-f")
        .arg(d.path().join("valkey-tools_8.1.1-1.bullseye_arm64.deb"))
        .arg("Depends"));
    assert!(String::from_utf8_lossy(&info.stdout).contains("libc6 (>= "), "{info:?}");
    // The builder's cross pkg-config finds the arm64 OpenSSL and systemd (real Valkey asks it).
    let m = Matrix::load_file(&targets_toml()).unwrap();
    let tag = valkey_release::farm::image::Definition::load(&m, "bullseye").unwrap().tag();
    let c = Box::start(&tag, "bullseye-pkgconfig").await;
    let (code, libs) = c.sh("aarch64-linux-gnu-pkg-config --libs openssl libsystemd").await;
    c.remove().await;
    assert!(
        code == 0 && libs.contains("-L/usr/lib/aarch64-linux-gnu") && libs.contains("-lssl"),
        "{code}: {libs}"
    );
}
