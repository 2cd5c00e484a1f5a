//! The deb post-build hook: its job and collect as plain data, and the .debs it makes in the
//! real bookworm builder (through the Docker engine): reproducible, lintian without errors.

mod packages_support;

use packages_support::engine::{farm_debs, fixture, targets_toml};
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
    assert!(mk("jammy-x86_64").is_none(), "jammy has no packages = [\"deb\"] in targets.toml");
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
    let d = tempfile::tempdir().unwrap();
    for (name, bytes) in &first {
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
