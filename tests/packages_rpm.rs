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
    build_rpm_at(top, "1700000000")
}

fn build_rpm_at(top: &std::path::Path, epoch: &str) -> std::path::PathBuf {
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
            // The build time and host from the inputs, as the real recipe has them: otherwise two
            // builds in the same second are the same package whatever SOURCE_DATE_EPOCH says.
            .arg("--define")
            .arg("use_source_date_epoch_as_buildtime 1")
            .arg("--define")
            .arg("_buildhost fixture.valkey.io")
            .arg(&spec)
            .env("SOURCE_DATE_EPOCH", epoch),
    );
    top.join("RPMS/noarch/valkey-fixture-8.1.1-1.noarch.rpm")
}

/// rebuild compares a published .rpm (signed by the release key) with its unsigned rebuilt
/// copy without the signatures: the same build is the same package, another one is not.
#[test]
fn rebuild_compares_rpms_without_their_signatures() {
    use valkey_release::rebuild::packages::rpm_without_signatures;
    let d = tempfile::tempdir().unwrap();
    let rpm = build_rpm(d.path());
    let key = SigningKey::from_armored(&gpg_key("rsa3072").secret_armored).unwrap();
    let unsigned = std::fs::read(&rpm).unwrap();
    let signed = sign_rpm(&key, &unsigned, 1700000000, "fixture").unwrap();
    assert_ne!(signed, unsigned);
    let signed_path = d.path().join("signed.rpm");
    std::fs::write(&signed_path, &signed).unwrap();
    assert_eq!(rpm_without_signatures(&signed_path).unwrap(), rpm_without_signatures(&rpm).unwrap());
    // Another build (another SOURCE_DATE_EPOCH, hence build time) is another package.
    let other = tempfile::tempdir().unwrap();
    let spec_epoch = build_rpm_at(other.path(), "1700000500");
    assert_ne!(
        rpm_without_signatures(&signed_path).unwrap(),
        rpm_without_signatures(&spec_epoch).unwrap()
    );
}

#[test]
fn rpm_signed_by_the_release_key_passes_rpmkeys_checksig() {
    require_tool("rpmkeys", "rpm");
    let d = tempfile::tempdir().unwrap();
    let rpm = build_rpm(d.path());
    let k = gpg_key("rsa3072");
    let key = SigningKey::from_armored(&k.secret_armored).unwrap();
    let signed = sign_rpm(&key, &std::fs::read(&rpm).unwrap(), 1700000000, "fixture").unwrap();
    // Deterministic: signed again (the key read again) it is the same bytes, with RSA and Ed25519.
    let again = SigningKey::from_armored(&k.secret_armored).unwrap();
    assert_eq!(
        signed,
        sign_rpm(&again, &std::fs::read(&rpm).unwrap(), 1700000000, "fixture").unwrap()
    );
    let ed = SigningKey::from_armored(&gpg_key("ed25519").secret_armored).unwrap();
    let ed_signed = sign_rpm(&ed, &std::fs::read(&rpm).unwrap(), 1700000000, "fixture").unwrap();
    assert_eq!(
        ed_signed,
        sign_rpm(&ed, &std::fs::read(&rpm).unwrap(), 1700000000, "fixture").unwrap()
    );
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

// ---------------------------------------------------------------- the rpm hook

use packages_support::engine::{farm_build_with, fixture, rpm_targets_toml};
use valkey_release::farm::hooks::{HookContext, PostBuild};
use valkey_release::pkg::rpm::{expected_files, RpmHook};
use valkey_release::targets::Matrix;
use valkey_release::version::Version;

const RPMS_8_1_1: [&str; 4] = [
    "valkey-8.1.1-1.1.debian12.x86_64.rpm",
    "valkey-compat-redis-8.1.1-1.1.debian12.noarch.rpm",
    "valkey-compat-redis-devel-8.1.1-1.1.debian12.noarch.rpm",
    "valkey-devel-8.1.1-1.1.debian12.noarch.rpm",
];

#[test]
fn rpm_job_is_plain_data_for_rpm_targets_only() {
    let d = tempfile::tempdir().unwrap();
    let m = Matrix::load_file(&rpm_targets_toml(d.path())).unwrap();
    let v = Version::parse("8.1.1").unwrap();
    let bins: Vec<(String, Vec<u8>)> = m.artifact.binaries.iter().map(|b| (b.clone(), b.as_bytes().to_vec())).collect();
    let ctx = |t: &valkey_release::targets::Target| {
        let c = HookContext {
            target: t,
            version: &v,
            source_date_epoch: 1700000000,
            artifact_name: "x",
            build_dir: "/build",
            binaries: &bins,
            license: b"L",
        };
        RpmHook.job(&c).unwrap()
    };
    let trixie = m.target("trixie-x86_64").unwrap().clone();
    assert!(ctx(&trixie).is_none(), "trixie has no packages = [\"rpm\"]");
    let arm = m.target("bookworm-arm64").unwrap().clone();
    let job = ctx(&arm).unwrap();
    assert_eq!(job.cmd, ["sh", "-eu", "/pkg/rpm/build.sh"]);
    for e in [
        "RPMVERSION=8.1.1",
        "RPMRELEASE=1.1",
        "DIST=.debian12",
        "RPM_ARCH=aarch64",
        "STRIP=aarch64-linux-gnu-strip",
    ] {
        assert!(job.env.iter().any(|x| x == e), "{e} missing from {:?}", job.env);
    }
    let paths: Vec<&str> = job.inputs.iter().map(|i| i.path.as_str()).collect();
    for p in [
        "/pkg/rpm/valkey.spec.in",
        "/pkg/common/valkey.sysusers",
        "/pkg/bin/valkey-server",
        "/pkg/COPYING",
    ] {
        assert!(paths.contains(&p), "{p} not in {paths:?}");
    }
    let x86 = m.target("bookworm-x86_64").unwrap().clone();
    assert_eq!(expected_files(&x86, &v).unwrap(), RPMS_8_1_1);
    let rc = Version::parse("8.1.0-rc1").unwrap();
    assert_eq!(expected_files(&arm, &rc).unwrap()[0], "valkey-8.1.0~rc1-1.1.debian12.aarch64.rpm");
    // collect: every package, nothing foreign, real rpm leads.
    let c = HookContext {
        target: &x86,
        version: &v,
        source_date_epoch: 0,
        artifact_name: "x",
        build_dir: "/build",
        binaries: &bins,
        license: b"",
    };
    let lead = vec![0xed, 0xab, 0xee, 0xdb, 3, 0];
    let all: Vec<(String, Vec<u8>)> = RPMS_8_1_1.iter().map(|n| (n.to_string(), lead.clone())).collect();
    assert_eq!(RpmHook.collect(&c, all.clone()).unwrap().len(), 4);
    let e = RpmHook.collect(&c, all[1..].to_vec()).unwrap_err();
    assert!(e.to_string().contains("valkey-8.1.1-1.1.debian12.x86_64.rpm was not made"), "{e}");
    let mut foreign = all.clone();
    foreign.push(("valkey-9.9.9-1.1.debian12.x86_64.rpm".into(), lead.clone()));
    assert_eq!(RpmHook.collect(&c, foreign).unwrap_err().exit_code(), 1);
    let mut garbage = all;
    garbage[0].1 = b"garbage".to_vec();
    assert_eq!(RpmHook.collect(&c, garbage).unwrap_err().exit_code(), 1);
    // A distro without an rpm platform is an input error naming the known ones.
    let mut odd = x86.clone();
    odd.distro = "plan9".into();
    let c = HookContext { target: &odd, ..c };
    let e = RpmHook.job(&c).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("rocky9"), "{e}");
}

fn rpm_query(file: &std::path::Path, what: &str) -> String {
    let o = run_ok(Command::new("rpm").args(["-qp", what]).arg(file));
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn rpms_from_the_builder_are_reproducible_with_elf_requires_and_sign_for_rpmkeys() {
    require_tool("rpm", "rpm");
    require_tool("rpmkeys", "rpm");
    let d = tempfile::tempdir().unwrap();
    let toml = rpm_targets_toml(d.path());
    let (_s, src) = fixture("8.1.1");
    let rpms =
        |files: Vec<(String, Vec<u8>)>| -> Vec<(String, Vec<u8>)> { files.into_iter().filter(|(n, _)| n.ends_with(".rpm")).collect() };
    let (_o1, first) = farm_build_with(&toml, "bookworm-x86_64", "8.1.1", &src);
    let (_o2, second) = farm_build_with(&toml, "bookworm-x86_64", "8.1.1", &src);
    let (first, second) = (rpms(first), rpms(second));
    let names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, RPMS_8_1_1);
    assert_eq!(first, second, "two builds of the same inputs gave different .rpms");
    for (n, b) in &first {
        std::fs::write(d.path().join(n), b).unwrap();
    }
    let main = d.path().join(RPMS_8_1_1[0]);
    // Requires computed by rpmbuild's ELF dependency generator from the packaged binaries.
    let req = rpm_query(&main, "--requires");
    for want in [
        "libc.so.6()(64bit)",
        "libc.so.6(GLIBC_2.34)(64bit)",
        "rtld(GNU_HASH)",
        "logrotate",
        "/usr/sbin/useradd",
    ] {
        assert!(req.lines().any(|l| l == want), "{want} not in Requires:\n{req}");
    }
    let prov = rpm_query(&main, "--provides");
    for want in [
        "bundled(lua-libs) = 5.1.5",
        "bundled(linenoise)",
        "bundled(hdr_histogram)",
        "valkey = 8.1.1-1.1.debian12",
        "valkey(x86-64) = 8.1.1-1.1.debian12",
    ] {
        assert!(prov.lines().any(|l| l == want), "{want} not in Provides:\n{prov}");
    }
    let compat = d.path().join(RPMS_8_1_1[1]);
    assert!(rpm_query(&compat, "--provides").lines().any(|l| l == "redis = 8.1.1-1.1.debian12"));
    assert_eq!(rpm_query(&compat, "--obsoletes").trim(), "redis < 7.4");
    let cdev = d.path().join(RPMS_8_1_1[2]);
    assert_eq!(rpm_query(&cdev, "--obsoletes").trim(), "redis-devel < 7.4");
    let info = rpm_query(&main, "--qf=%{NAME} %{RELEASE} %{SOURCERPM} %{BUILDTIME} %{BUILDHOST}\n");
    assert_eq!(
        info.trim(),
        "valkey 1.1.debian12 valkey-8.1.1-1.1.debian12.src.rpm 1700000000 valkey-release.valkey.io"
    );
    let files = rpm_query(&main, "-lv");
    for want in [
        "/etc/valkey/valkey.conf",
        "/lib/systemd/system/valkey-server.service",
        "/usr/lib/sysusers.d/valkey.conf",
        "/usr/bin/valkey-server -> valkey-check-rdb",
        "/etc/logrotate.d/valkey",
    ] {
        assert!(files.contains(want), "{want} not in valkey:\n{files}");
    }
    assert!(
        files
            .lines()
            .any(|l| l.starts_with("drwxr-x---") && l.contains("valkey") && l.ends_with("/var/lib/valkey")),
        "{files}"
    );
    let scripts = rpm_query(&main, "--scripts");
    assert!(scripts.contains("useradd -r -g valkey"), "{scripts}");
    assert!(rpm_query(&main, "-c").lines().any(|l| l == "/etc/valkey/valkey.conf"));
    // Signed with the release key: rpmkeys --checksig passes once GPG-KEY-valkey.asc is imported.
    let k = gpg_key("rsa3072");
    let key = SigningKey::from_armored(&k.secret_armored).unwrap();
    let files: Vec<std::path::PathBuf> = RPMS_8_1_1.iter().map(|n| d.path().join(n)).collect();
    assert_eq!(valkey_release::pkg::rpm::sign_rpms(&key, &files, 1700000000).unwrap().len(), 4);
    assert!(
        valkey_release::pkg::rpm::sign_rpms(&key, &files, 1700000000).unwrap().is_empty(),
        "signing twice changed files"
    );
    let db = d.path().join("rpmdb");
    std::fs::create_dir_all(&db).unwrap();
    let pubkey = d.path().join("GPG-KEY-valkey.asc");
    std::fs::write(&pubkey, key.public_armored()).unwrap();
    run_ok(Command::new("rpmkeys").arg("--dbpath").arg(&db).arg("--import").arg(&pubkey));
    for f in &files {
        let o = run_ok(Command::new("rpmkeys").arg("--dbpath").arg(&db).arg("--checksig").arg("-v").arg(f));
        let t = String::from_utf8_lossy(&o.stdout);
        assert!(t.contains("Signature, key ID") && t.contains(": OK"), "{t}");
    }
    // rpmlint (Debian's) finds no error in the signed packages, with the documented filters.
    require_tool("rpmlint", "rpmlint");
    let rc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/rpm/valkey.rpmlintrc");
    // Its signature check reads the rpm database of $HOME/.rpmmacros: the one the key is in.
    std::fs::write(d.path().join(".rpmmacros"), format!("%_dbpath {}\n", db.display())).unwrap();
    let o = run(Command::new("rpmlint").arg("-r").arg(&rc).args(&files).env("HOME", d.path()));
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && !t.lines().any(|l| l.contains(": E: ")),
        "rpmlint:\n{t}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(t.contains("4 packages and 0 specfiles checked; 0 errors"), "{t}");
}

// ---------------------------------------------------------------- the yum repository

fn repo_cli(dist: &std::path::Path, root: &std::path::Path, key: &packages_support::TestKey) -> std::process::Output {
    run(Command::new(env!("CARGO_BIN_EXE_valkey-release"))
        .args(["--json", "repo", "--dist"])
        .arg(dist)
        .arg("--root")
        .arg(root)
        .env("VALKEY_RELEASE_SIGNING_KEY", &key.secret_armored))
}

/// The package file names createrepo_c's primary data lists (read by the real rpm tools'
/// format: `dnf`'s view is not available here, the XML is).
fn listed(dir: &std::path::Path) -> Vec<String> {
    valkey_release::repo::yum::listed_packages(dir)
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|(h, _)| h)
        .collect()
}

#[test]
fn yum_repository_merges_patch_releases_signed_and_checked_by_gpgv_and_rpmkeys() {
    require_tool("createrepo_c", "createrepo-c");
    require_tool("rpmkeys", "rpm");
    let d = tempfile::tempdir().unwrap();
    let toml = rpm_targets_toml(d.path());
    let k = gpg_key("rsa3072");
    let root = d.path().join("store");
    std::fs::create_dir_all(&root).unwrap();
    let repo = root.join("packaging/valkey-8.1/rpm/debian12/x86_64");
    let mut dists = Vec::new();
    for v in ["8.1.1", "8.1.2"] {
        let (_s, src) = fixture(v);
        let (out, _) = farm_build_with(&toml, "bookworm-x86_64", v, &src);
        let dist = out.path().join("dist");
        let o = repo_cli(&dist, &root, &k);
        assert!(o.status.success(), "repo {v}: {}", String::from_utf8_lossy(&o.stderr));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let y = &j["yum"][0];
        assert_eq!(y["key"], "packaging/valkey-8.1/rpm/debian12/x86_64", "{j}");
        assert_eq!(y["added"].as_array().unwrap().len(), 4, "{j}");
        dists.push(out);
    }
    // Both patch releases listed: 8 packages; the files there are the signed ones.
    let names = listed(&repo);
    assert_eq!(names.len(), 8, "{names:?}");
    for v in ["8.1.1", "8.1.2"] {
        for p in ["valkey", "valkey-devel", "valkey-compat-redis", "valkey-compat-redis-devel"] {
            let arch = if p == "valkey" { "x86_64" } else { "noarch" };
            let f = format!("{p}-{v}-1.1.debian12.{arch}.rpm");
            assert!(names.contains(&f), "{f} not listed: {names:?}");
        }
    }
    // The dist's .rpms were signed in place; manifest and .sha256 follow the signed bytes.
    let dist = dists[0].path().join("dist");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(dist.join("manifest.json")).unwrap()).unwrap();
    let main = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["file"] == RPMS_8_1_1[0])
        .unwrap()
        .clone();
    let bytes = std::fs::read(dist.join(RPMS_8_1_1[0])).unwrap();
    assert_eq!(
        main["sha256"].as_str().unwrap(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    );
    assert_eq!(bytes, std::fs::read(repo.join(RPMS_8_1_1[0])).unwrap());
    // repomd.xml.asc verifies with gpgv; every package with rpmkeys.
    let o = packages_support::gpgv(&k.keyring, &repo.join("repodata/repomd.xml.asc"), &repo.join("repodata/repomd.xml"));
    assert!(o.status.success(), "gpgv: {}", String::from_utf8_lossy(&o.stderr));
    let db = d.path().join("rpmdb");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(d.path().join("k.asc"), &k.public_armored).unwrap();
    run_ok(
        Command::new("rpmkeys")
            .arg("--dbpath")
            .arg(&db)
            .arg("--import")
            .arg(d.path().join("k.asc")),
    );
    for n in &names {
        run_ok(Command::new("rpmkeys").arg("--dbpath").arg(&db).arg("--checksig").arg(repo.join(n)));
    }
    // The same dist again: nothing added, the metadata the same bytes.
    let repomd = std::fs::read(repo.join("repodata/repomd.xml")).unwrap();
    let o = repo_cli(&dist, &root, &k);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["yum"][0]["added"].as_array().unwrap().len(), 0, "{j}");
    assert_eq!(j["yum"][0]["already"].as_array().unwrap().len(), 4, "{j}");
    assert_eq!(repomd, std::fs::read(repo.join("repodata/repomd.xml")).unwrap());
    // A flipped byte in the metadata fails the signature check.
    let mut bad = repomd.clone();
    let n = bad.len() / 2;
    bad[n] ^= 1;
    std::fs::write(d.path().join("repomd.xml"), &bad).unwrap();
    assert!(
        !packages_support::gpgv(&k.keyring, &repo.join("repodata/repomd.xml.asc"), &d.path().join("repomd.xml"))
            .status
            .success()
    );
    // One of this release's packages lost from the store: put back (the same bytes).
    std::fs::remove_file(repo.join(RPMS_8_1_1[1])).unwrap();
    let o = repo_cli(&dist, &root, &k);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(repo.join(RPMS_8_1_1[1]).is_file());
    // Another release's published package missing from the store: refused (exit 1), nothing
    // dropped from the index.
    std::fs::remove_file(repo.join("valkey-compat-redis-8.1.2-1.1.debian12.noarch.rpm")).unwrap();
    let o = repo_cli(&dist, &root, &k);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("missing"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(listed(&repo).len(), 8);
}

// ---------------------------------------------------------------- install

/// The .rpms installed with Debian's rpm into a fresh container of the bookworm builder image
/// (network none): `rpm -i --nodeps` (the rpm database there knows no Debian package, so the
/// dependencies are not checked; everything else is real: the %pre scriptlet creates the valkey
/// user with useradd, files get their packaged owners and modes), the server started as valkey
/// with the packaged config answers PING through valkey-cli and redis-cli, `rpm -U` to 8.1.2
/// keeps a changed config, `rpm -e` removes every packaged file and keeps the changed config as
/// .rpmsave. There is no RPM distro image here (no registry): this is as close as it gets.
#[tokio::test(flavor = "multi_thread")]
async fn rpms_install_run_upgrade_and_erase_in_a_fresh_container() {
    use packages_support::engine::{ensure_builder, targets_toml, Box};
    let d = tempfile::tempdir().unwrap();
    let toml = rpm_targets_toml(d.path());
    let pkgs = d.path().join("pkgs");
    std::fs::create_dir_all(&pkgs).unwrap();
    for v in ["8.1.1", "8.1.2"] {
        let (_s, src) = fixture(v);
        let (_o, files) = farm_build_with(&toml, "bookworm-x86_64", v, &src);
        let vd = pkgs.join(v);
        std::fs::create_dir_all(&vd).unwrap();
        for (n, b) in files.iter().filter(|(n, _)| n.ends_with(".rpm")) {
            std::fs::write(vd.join(n), b).unwrap();
        }
    }
    ensure_builder("bookworm-x86_64");
    let m = Matrix::load_file(&targets_toml()).unwrap();
    let image = valkey_release::farm::image::Definition::load(&m, "bookworm").unwrap().tag();
    let c = Box::start(&image, "rpm").await;
    let result = async {
        c.put_dir(&pkgs, "/pkgs").await;
        c.sh_ok("! getent passwd valkey").await;
        c.sh_ok("rpm -i --nodeps /pkgs/8.1.1/*.rpm 2>&1").await;
        let q = c.sh_ok("rpm -qa --qf '%{NAME} %{VERSION}-%{RELEASE}\\n' | sort").await;
        assert_eq!(
            q.trim(),
            "valkey 8.1.1-1.1.debian12\nvalkey-compat-redis 8.1.1-1.1.debian12\nvalkey-compat-redis-devel 8.1.1-1.1.debian12\nvalkey-devel 8.1.1-1.1.debian12"
        );
        let verify = c.sh("rpm -Va --nodeps 2>&1").await;
        assert_eq!(verify, (0, String::new()), "rpm -Va: the installed files differ from the packages");
        c.sh_ok("getent passwd valkey | grep -q ':/var/lib/valkey:/sbin/nologin$'").await;
        let modes = c
            .sh_ok("stat -c '%U:%G %a %n' /var/lib/valkey /var/log/valkey /etc/valkey /etc/valkey/valkey.conf")
            .await;
        assert_eq!(
            modes.trim(),
            "valkey:valkey 750 /var/lib/valkey\nvalkey:valkey 750 /var/log/valkey\nvalkey:root 750 /etc/valkey\nvalkey:root 640 /etc/valkey/valkey.conf"
        );
        ping(&c, "valkey-cli", "8.1.1").await;
        c.sh_ok("echo '# local change' >> /etc/valkey/valkey.conf").await;
        c.sh_ok("rpm -U --nodeps /pkgs/8.1.2/*.rpm 2>&1").await;
        ping(&c, "redis-cli", "8.1.2").await;
        c.sh_ok("grep -q '# local change' /etc/valkey/valkey.conf").await;
        c.sh_ok("test $(rpm -qa | wc -l) = 4").await;
        c.sh_ok("rpm -e valkey-compat-redis-devel valkey-compat-redis valkey-devel valkey 2>&1")
            .await;
        c.sh_ok("test -z \"$(rpm -qa)\" && test ! -e /usr/bin/valkey-server && test ! -e /usr/bin/redis-cli && test ! -e /usr/include/valkeymodule.h").await;
        c.sh_ok("test -f /etc/valkey/valkey.conf.rpmsave").await;
    };
    let r = tokio::time::timeout(std::time::Duration::from_secs(900), result).await;
    c.remove().await;
    r.expect("the install test finished within 15 minutes");
}

/// Start valkey-server as the valkey user with the packaged config, and PING it with `cli`.
async fn ping(c: &packages_support::engine::Box, cli: &str, version: &str) {
    let out = c
        .sh_ok(&format!(
            "setpriv --reuid=valkey --regid=valkey --init-groups valkey-server /etc/valkey/valkey.conf >/dev/null 2>&1 & pid=$!; \
             for i in $(seq 100); do {cli} PING 2>/dev/null && break; sleep 0.1; done; \
             echo uid=$(awk '/^Uid:/{{print $2}}' /proc/$pid/status) valkey=$(id -u valkey); \
             valkey-server --version; kill $pid; wait $pid 2>/dev/null; \
             tail -n1 /var/log/valkey/valkey-server.log"
        ))
        .await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "PONG", "{out}");
    let ids: Vec<&str> = lines[1].split(' ').map(|kv| kv.split('=').nth(1).unwrap_or("")).collect();
    assert!(
        ids.len() == 2 && ids[0] == ids[1] && !ids[0].is_empty(),
        "server not run as valkey: {out}"
    );
    assert!(lines[2].contains(&format!("v={version}")), "{out}");
    assert!(lines[3].contains("ready on port 6379"), "{out}");
}
