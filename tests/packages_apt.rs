//! The apt repository: built from the builder's .debs, merged across patch releases, signed by
//! the crate, checked by gpgv, then used by apt itself in a fresh bookworm / trixie container (network
//! none): `apt-get update` clean, install an older patch version, run valkey-server as the
//! valkey user, upgrade, remove, purge.

mod packages_support;

use packages_support::engine::{ensure_install_image_for, farm_debs, fixture, Box};
use packages_support::{gpg_key, gpgv};
use std::path::{Path, PathBuf};
use valkey_release::repo::dir::{plan_apt, update_apt, verify_apt_dir};
use valkey_release::sign::SigningKey;

const DATE: &str = "Tue, 14 Nov 2023 22:13:20 UTC";

async fn debs_for(target: &str, version: &str, into: &Path) -> Vec<PathBuf> {
    let (_d, src) = fixture(version);
    let v = version.to_string();
    let target = target.to_string();
    let produced = tokio::task::spawn_blocking(move || farm_debs(&target, &v, &src)).await.unwrap();
    std::fs::create_dir_all(into).unwrap();
    produced
        .into_iter()
        .map(|(name, bytes)| {
            let f = into.join(&name);
            std::fs::write(&f, &bytes).unwrap();
            f
        })
        .collect()
}

/// Every path on the container's root file system, but apt's and dpkg's own state and logs.
const LISTING: &str = "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /tmp -o -path /srv \
    -o -path /run -o -path /var/lib/apt -o -path /var/cache -o -path /var/lib/dpkg -o -path /var/log/apt \
    -o -path /var/log/dpkg.log -o -path /var/log/alternatives.log \\) -prune -o -print | sort";

#[tokio::test(flavor = "multi_thread")]
async fn apt_repository_merges_patch_releases_and_apt_installs_upgrades_and_purges() {
    apt_round_trip("bookworm", "debian12", "2.36").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn trixie_apt_repository_installs_upgrades_and_purges() {
    apt_round_trip("trixie", "debian13", "2.41").await;
}

/// The bookworm-arm64 .debs (cross-built) in an arm64 bookworm container, emulated through the
/// host's qemu binfmt entry (as tests/build_engines.rs runs arm64 images): the same install,
/// start, PING, upgrade, purge check as on x86_64.
#[tokio::test(flavor = "multi_thread")]
async fn arm64_debs_install_upgrade_and_purge_in_an_emulated_arm64_container() {
    require_arm64_binfmt();
    apt_round_trip_on("bookworm", "debian12", "2.36", "arm64").await;
}

/// The bullseye-arm64 .debs (cross-built on the bullseye builder) in an arm64 bullseye
/// container through qemu binfmt: the same check.
#[tokio::test(flavor = "multi_thread")]
async fn bullseye_arm64_debs_install_upgrade_and_purge_in_an_emulated_arm64_container() {
    require_arm64_binfmt();
    apt_round_trip_on("bullseye", "debian11", "2.31", "arm64").await;
}

fn require_arm64_binfmt() {
    assert!(
        std::fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64").is_ok_and(|s| s.starts_with("enabled")),
        "this test needs the host's qemu-aarch64 binfmt entry (apt-get install qemu-user-static binfmt-support; .ci/setup does)"
    );
}

/// bullseye (Debian 11) from this machine's Debian mirror: its mmdebstrap builder makes the
/// .debs, apt installs them in a fresh bullseye container.
#[tokio::test(flavor = "multi_thread")]
async fn bullseye_apt_repository_installs_upgrades_and_purges() {
    apt_round_trip("bullseye", "debian11", "2.31").await;
}

async fn apt_round_trip(codename: &str, platform: &str, glibc: &str) {
    apt_round_trip_on(codename, platform, glibc, "amd64").await;
}

async fn apt_round_trip_on(codename: &str, platform: &str, glibc: &str, deb_arch: &str) {
    let target = format!("{codename}-{}", if deb_arch == "amd64" { "x86_64" } else { "arm64" });
    let repo_key = format!("packaging/valkey-8.1/deb/{platform}/{deb_arch}");
    let k = gpg_key("ed25519");
    let key = SigningKey::from_armored(&k.secret_armored).unwrap();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");

    // 8.1.1 is published first, 8.1.2 later: the second run merges with what is there.
    for v in ["8.1.1", "8.1.2"] {
        let files = debs_for(&target, v, &work.path().join(format!("dist-{v}"))).await;
        let plan = plan_apt(&files, DATE).unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].key, repo_key);
        let rep = update_apt(&root, &plan[0], &key).unwrap();
        assert_eq!(rep.added.len(), 5, "{rep:?}");
        // Re-running the same publish adds nothing and changes no package.
        let again = update_apt(&root, &plan[0], &key).unwrap();
        assert!(again.added.is_empty() && again.already.len() == 5, "{again:?}");
    }
    let dir = root.join(&repo_key);
    let packages = std::fs::read_to_string(dir.join("Packages")).unwrap();
    for v in [format!("8.1.1-1.{codename}"), format!("8.1.2-1.{codename}")] {
        assert_eq!(packages.matches(&format!("Version: {v}\n")).count(), 5, "{v} in:\n{packages}");
    }
    verify_apt_dir(&dir, &key.public_armored()).unwrap();
    // The real gpgv accepts both signatures of the index.
    for (sig, data) in [("Release.gpg", Some("Release")), ("InRelease", None)] {
        let out = match data {
            Some(d) => gpgv(&k.keyring, &dir.join(sig), &dir.join(d)),
            None => packages_support::run(
                std::process::Command::new("gpgv")
                    .arg("--keyring")
                    .arg(&k.keyring)
                    .arg(dir.join(sig)),
            ),
        };
        assert!(out.status.success(), "gpgv {sig}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let release = std::fs::read_to_string(dir.join("Release")).unwrap();
    assert!(
        release.contains(&format!("Suite: valkey-8.1-{platform}\nCodename: valkey-8.1-{platform}\n")),
        "{release}"
    );

    // Other bytes under a published version are refused, and nothing is written.
    let before = std::fs::read(dir.join("InRelease")).unwrap();
    let mut plan = plan_apt(&debs_for(&target, "8.1.2", &work.path().join("dist-other")).await, DATE).unwrap();
    let other = work.path().join("dist-tampered");
    std::fs::create_dir_all(&other).unwrap();
    let d0 = plan[0].debs[0].clone();
    let tampered = other.join(d0.file_name().unwrap());
    // Same control file, other data: rebuild with another SOURCE_DATE_EPOCH would take a build;
    // append a byte (ar archives allow trailing padding to be read) to change the bytes.
    let mut b = std::fs::read(&d0).unwrap();
    b.extend_from_slice(b"\n");
    std::fs::write(&tampered, b).unwrap();
    plan[0].debs = vec![tampered];
    let e = update_apt(&root, &plan[0], &key).unwrap_err();
    assert_eq!(e.exit_code(), 4, "{e}");
    assert_eq!(std::fs::read(dir.join("InRelease")).unwrap(), before);

    // apt itself, in a fresh container of the distro (network none), with the sources line of docs/packages.md.
    let image = ensure_install_image_for(codename, glibc, deb_arch);
    let c = Box::start_on(&image, "apt", &format!("linux/{deb_arch}")).await;
    let result = async {
        let keys = work.path().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        std::fs::write(keys.join("valkey.asc"), key.public_armored()).unwrap();
        c.put_dir(&keys, "/usr/share/keyrings").await;
        c.put_dir(&root, "/srv/repo").await;
        c.sh_ok(&format!(
            "chmod -R a+rX /srv/repo /usr/share/keyrings && rm -f /etc/apt/sources.list.d/* && \
                 echo 'deb [signed-by=/usr/share/keyrings/valkey.asc] file:/srv/repo/{repo_key} ./' \
                 > /etc/apt/sources.list"
        ))
        .await;
        let before = c.sh_ok(LISTING).await;
        c.apt_update_clean().await;
        // The older patch version stays installable and pinnable.
        c.sh_ok(&format!(
            "DEBIAN_FRONTEND=noninteractive apt-get install -y valkey-server=8.1.1-1.{codename} valkey-tools=8.1.1-1.{codename} 2>&1"
        ))
        .await;
        let v = c.sh_ok("dpkg-query -W -f '${Version}' valkey-server").await;
        assert_eq!(v, format!("8.1.1-1.{codename}"));
        start_and_ping(&c, "valkey-cli", "8.1.1").await;
        // A local change to the packaged config survives the upgrade.
        c.sh_ok("echo '# local change' >> /etc/valkey/valkey.conf").await;
        c.sh_ok("DEBIAN_FRONTEND=noninteractive apt-get install -y valkey-server valkey-sentinel valkey-dev valkey-compat-redis 2>&1")
            .await;
        let v = c.sh_ok("dpkg-query -W -f '${Version}' valkey-server valkey-tools").await;
        assert_eq!(v, format!("8.1.2-1.{codename}8.1.2-1.{codename}"));
        c.sh_ok("grep -q '^# local change' /etc/valkey/valkey.conf && test -f /usr/include/valkeymodule.h")
            .await;
        start_and_ping(&c, "redis-cli", "8.1.2").await;
        // remove keeps config and data (policy); purge leaves nothing but the valkey user.
        c.sh_ok("DEBIAN_FRONTEND=noninteractive apt-get remove -y valkey-compat-redis valkey-dev valkey-sentinel valkey-server valkey-tools 2>&1").await;
        c.sh_ok("test -f /etc/valkey/valkey.conf && test -d /var/lib/valkey && test ! -e /usr/bin/valkey-server")
            .await;
        c.sh_ok("DEBIAN_FRONTEND=noninteractive apt-get purge -y valkey-compat-redis valkey-dev valkey-sentinel valkey-server valkey-tools 2>&1").await;
        let after = c.sh_ok(LISTING).await;
        let diff: Vec<String> = diff_lines(&before, &after);
        let allowed = regex::Regex::new(r"^[+-] /etc/(passwd|group|shadow|gshadow|subuid|subgid)-?$").unwrap();
        let left: Vec<&String> = diff.iter().filter(|l| !allowed.is_match(l)).collect();
        assert!(left.is_empty(), "purge left or removed these paths:\n{left:#?}");
        c.sh_ok("getent passwd valkey").await;
    };
    let r = tokio::time::timeout(std::time::Duration::from_secs(900), result).await;
    c.remove().await;
    r.expect("the install test finished within 15 minutes");
}

/// Start valkey-server as the valkey user with the packaged config, and PING it with `cli`.
async fn start_and_ping(c: &Box, cli: &str, version: &str) {
    let out = c
        .sh_ok(&format!(
            "setpriv --reuid=valkey --regid=valkey --init-groups valkey-server /etc/valkey/valkey.conf >/dev/null 2>&1 & pid=$!; \
             for i in $(seq 100); do {cli} PING 2>/dev/null && break; sleep 0.1; done; \
             echo uid=$(awk '/^Uid:/{{print $2}}' /proc/$pid/status) valkey=$(id -u valkey); \
             valkey-server --version; kill $pid; wait $pid 2>/dev/null; \
             tail -n1 /var/log/valkey/valkey-server.log; stat -c '%U %a' /var/lib/valkey /var/log/valkey"
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
    assert_eq!(&lines[4..], ["valkey 750", "valkey 750"], "{out}");
}

fn diff_lines(before: &str, after: &str) -> Vec<String> {
    let b: std::collections::BTreeSet<&str> = before.lines().collect();
    let a: std::collections::BTreeSet<&str> = after.lines().collect();
    let mut d: Vec<String> = b.difference(&a).map(|l| format!("- {l}")).collect();
    d.extend(a.difference(&b).map(|l| format!("+ {l}")));
    d
}
