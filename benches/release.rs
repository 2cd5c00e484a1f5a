//! Whole-release benchmark (issue 13.7, every core busy to the end): a dev release of the real
//! Valkey 8.1.1 source (../shared/valkey) for 2 and for 4 targets, each run timed as a whole
//! (`valkey-release release`: build, checks, packages, tarballs, upload to a local store, verify),
//! printed beside its CPU floor: the CPU seconds of all the builds (each container's cgroup, logged
//! as `==> cpu: N s` after make) divided by the cores. A second line gives the floor of all the
//! work (each container's CPU in all, `==> cpu in all: N s`, with hooks and checks, plus the tool's
//! own CPU on the host), and the machine's busy CPU during the release (/proc/stat): the part
//! outside the containers and the tool (the engine's storage driver, e.g. fuse-overlayfs, is in
//! no container's cgroup) and the share of core-time that sat idle. The farm gives every container `make
//! -j<cores>` and lets the kernel share the cores, so no core idles while a target is still
//! compiling. Goal: wall <= 1.05x the floor. Needs the Docker engine; each target builds in its
//! own builder image (bookworm, trixie), made by `valkey-release images` before any timing.
//! The releases are signed with the repository's throwaway test key
//! (tests/fixtures/release/test-signing-key.asc), so the sign and repositories steps run as in a
//! real release and the dist's store (`<dist>/bucket`) holds the signed apt repositories.
//!
//! For the same targets it also runs a tarball-only release (`release --no-packages`: no .debs,
//! no package repositories) and prints both walls, and how many compiles each ran (the `==> make`
//! lines of the targets' logs: the packages come from the same compile, so both should show one
//! per target). About 8 minutes per release of 2 targets and 16 of 4 on 2 cores (~48 in all).
//!
//!     cargo bench --bench release
//!     VALKEY_RELEASE_BENCH_TARGETS=2 cargo bench --bench release     # only the 2-target runs
//!     VALKEY_RELEASE_BENCH_ONLY=tarball-only cargo bench --bench release   # or `full`
//!     VALKEY_RELEASE_BENCH_KEEP=/tmp/rb cargo bench --bench release   # keep the dists there
//!
//! A kept full release's packages can then be install-checked: `bash .ci/acceptance-debs
//! /tmp/rb/dist4-full/bucket`.
use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[path = "common/mod.rs"]
mod common;
use common::{root, sh, BIN, TARGETS};

/// A `valkey-release` command with the repository's targets.toml and nothing of the caller's
/// release configuration (no bucket, no token).
fn tool() -> Command {
    let mut c = Command::new(BIN);
    c.arg("--targets").arg(root().join("targets.toml"));
    for k in [
        "AWS_S3_BUCKET",
        "AWS_TEST_BUCKET",
        "GITHUB_TOKEN",
        "GITHUB_ACTIONS",
        "AWS_ENDPOINT_URL",
    ] {
        c.env_remove(k);
    }
    c.env("VALKEY_RELEASE_PLAIN", "1");
    c
}

/// The targets' builder images: prepared (or reused) through `valkey-release images`.
fn images(targets: &[&str]) {
    let mut c = tool();
    c.arg("images");
    for t in targets {
        c.args(["--target", t]);
    }
    sh(&mut c);
}

/// The CPU seconds on the last `==> <note>N s` line of one target's log.
fn log_cpu(dist: &Path, target: &str, note: &str) -> Option<f64> {
    let log = dist.join("logs").join(format!("{target}.log"));
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    text.lines()
        .filter_map(|l| l.strip_prefix("==> ")?.strip_prefix(note))
        .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .next_back()
}

/// CPU seconds of one target's make, from the `==> cpu: N s` line of its log.
fn build_cpu(dist: &Path, target: &str) -> f64 {
    log_cpu(dist, target, "cpu: ")
        .unwrap_or_else(|| panic!("{target}: no `==> cpu:` line in its log (the engine shows no cgroup CPU time)"))
}

/// CPU seconds of all the work in one target's build container (make, `--version`, the hooks),
/// from the `==> cpu in all: N s` line of its log (0 when the log has none: a resumed build).
fn container_cpu(dist: &Path, target: &str) -> f64 {
    log_cpu(dist, target, "cpu in all: ").unwrap_or(0.0)
}

/// User+system CPU seconds of this process's finished children (the tool's own work on the host).
fn children_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    s(ru.ru_utime) + s(ru.ru_stime)
}

/// The machine's (total, idle) jiffies from the first line of /proc/stat.
fn machine_jiffies() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (v.iter().sum(), idle)
}

/// What one release measured.
struct Measured {
    wall: f64,
    /// CPU seconds of make in every target's container.
    make_cpu: f64,
    /// CPU seconds of all the work in the containers, and of the tool itself on the host.
    container_cpu: f64,
    driver_cpu: f64,
    /// Share of the machine's core-time that was idle during the release.
    idle: f64,
    /// CPU seconds the whole machine spent during the release (all its cores' busy time).
    machine_cpu: f64,
}

/// How many compiles ran for a release in `dist`: the `==> make` lines (`make: ...`, `make (2nd): ...`)
/// of all the targets' logs.
fn compiles(dist: &Path) -> usize {
    let logs = dist.join("logs");
    let entries = std::fs::read_dir(&logs).unwrap_or_else(|e| panic!("{}: {e}", logs.display()));
    entries
        .map(|e| e.expect("log dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            text.lines().filter(|l| l.starts_with("==> make")).count()
        })
        .sum()
}

/// One whole dev release of `targets` (with `extra` arguments, e.g. `--no-packages`).
fn release(archive: &Path, targets: &[&str], dist: &Path, extra: &[&str]) -> Measured {
    let _ = std::fs::remove_dir_all(dist);
    let mut c = tool();
    c.args(["release", "--version", "8.1.1", "--environment", "dev", "--source"])
        .arg(archive)
        .arg("--signing-key")
        .arg(root().join("tests/fixtures/release/test-signing-key.asc"))
        .arg("--dist")
        .arg(dist)
        .args(extra);
    for t in targets {
        c.args(["--target", t]);
    }
    let (cpu0, (tot0, idle0)) = (children_cpu(), machine_jiffies());
    let t0 = Instant::now();
    sh(&mut c);
    let wall = t0.elapsed().as_secs_f64();
    let (tot1, idle1) = machine_jiffies();
    Measured {
        wall,
        make_cpu: targets.iter().map(|t| build_cpu(dist, t)).sum(),
        container_cpu: targets.iter().map(|t| container_cpu(dist, t)).sum(),
        driver_cpu: children_cpu() - cpu0,
        idle: (idle1 - idle0) as f64 / (tot1 - tot0).max(1) as f64,
        // SAFETY: sysconf reads a constant.
        machine_cpu: ((tot1 - tot0) - (idle1 - idle0)) as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64,
    }
}

fn main() {
    let archive = root().join("../shared/valkey/valkey_8.1.1+dfsg1.orig.tar.xz");
    assert!(archive.is_file(), "{} missing: the real Valkey 8.1.1 source", archive.display());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let only: Option<usize> = std::env::var("VALKEY_RELEASE_BENCH_TARGETS").ok().and_then(|v| v.parse().ok());
    let kinds: Vec<(&str, &[&str])> = match std::env::var("VALKEY_RELEASE_BENCH_ONLY").as_deref() {
        Ok("full") => vec![("full", &[])],
        Ok("tarball-only") => vec![("tarball-only", &["--no-packages"])],
        Ok(other) if !other.is_empty() => panic!("VALKEY_RELEASE_BENCH_ONLY={other:?}: expected full or tarball-only"),
        _ => vec![("full", &[]), ("tarball-only", &["--no-packages"])],
    };
    images(&TARGETS);
    let tmp = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("VALKEY_RELEASE_BENCH_KEEP").map(std::path::PathBuf::from);
    let base = keep.as_deref().unwrap_or(tmp.path());
    println!("release benchmark: real Valkey 8.1.1, dev release, {cores} cores, make -j{cores} per container");
    for n in [2usize, 4] {
        if only.is_some_and(|o| o != n) {
            continue;
        }
        for (kind, extra) in &kinds {
            let dist = base.join(format!("dist{n}-{kind}"));
            let m = release(&archive, &TARGETS[..n], &dist, extra);
            let floor = m.make_cpu / cores as f64;
            println!(
                "  {n} targets, {kind:<12}: wall {:7.1} s   compiles {}   CPU floor {floor:7.1} s ({:.1} CPU s of make / {cores} cores)   ratio {:.3}x  (goal <= 1.05x)",
                m.wall,
                compiles(&dist),
                m.make_cpu,
                m.wall / floor
            );
            let all = m.container_cpu + m.driver_cpu;
            println!(
                "    all the work: {all:.1} CPU s (containers {:.1}: make, checks, hooks; the tool on the host {:.1}) / {cores} cores = {:.1} s, ratio {:.3}x",
                m.container_cpu,
                m.driver_cpu,
                all / cores as f64,
                m.wall * cores as f64 / all
            );
            println!(
                "    the machine: {:.1} CPU s busy, of which {:.1} outside the containers and the tool (the engine: its storage driver, dockerd); cores idle {:.1}% of the wall, ratio {:.3}x",
                m.machine_cpu,
                m.machine_cpu - all,
                m.idle * 100.0,
                m.wall * cores as f64 / m.machine_cpu
            );
            let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap_or_default();
            let debs = sums.lines().filter(|l| l.ends_with(".deb")).count();
            println!("    {debs} .deb(s) in SHA256SUMS");
            for l in sums.lines().filter(|l| l.contains(".tar.gz")) {
                println!("    {l}");
            }
        }
    }
}
