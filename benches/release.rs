//! Whole-release benchmark (issue 13.7, every core busy to the end): a dev release of the real
//! Valkey 8.1.1 source (../shared/valkey) for 2 and for 4 targets, each run timed as a whole
//! (`valkey-release release`: build, checks, packages, tarballs, upload to a local store, verify),
//! printed beside its CPU floor: the CPU seconds of all the builds (each container's cgroup, logged
//! as `==> cpu: N s` after make) divided by the cores. The farm gives every container `make
//! -j<cores>` and lets the kernel share the cores, so no core idles while a target is still
//! compiling. Goal: wall <= 1.05x the floor. Needs the Docker engine and the bookworm builder
//! image (made on first use); all targets build on that image (as `cargo bench --bench build`).
//! About 8 minutes for 2 targets and 16 for 4 on 2 cores.
//!
//!     cargo bench --bench release
//!     VALKEY_RELEASE_BENCH_TARGETS=2 cargo bench --bench release     # only the 2-target run
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

/// The bookworm builder image: prepared (or reused) through `valkey-release images`.
fn image() -> String {
    let out = sh(tool().args(["--json", "images", "--target", "bookworm-x86_64"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("images --json");
    v["images"][0]["id"].as_str().expect("image id").to_string()
}

/// CPU seconds of one target's build, from the `==> cpu: N s` line of its log.
fn build_cpu(dist: &Path, target: &str) -> f64 {
    let log = dist.join("logs").join(format!("{target}.log"));
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    text.lines()
        .filter_map(|l| l.strip_prefix("==> cpu: "))
        .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .next_back()
        .unwrap_or_else(|| panic!("{}: no `==> cpu:` line (the engine shows no cgroup CPU time)", log.display()))
}

/// One whole dev release of `targets`; returns (wall seconds, CPU seconds of the builds).
fn release(image: &str, archive: &Path, targets: &[&str], dist: &Path) -> (f64, f64) {
    let _ = std::fs::remove_dir_all(dist);
    let mut c = tool();
    c.args(["release", "--version", "8.1.1", "--environment", "dev", "--source"])
        .arg(archive)
        .args(["--builder-image", image, "--dist"])
        .arg(dist);
    for t in targets {
        c.args(["--target", t]);
    }
    let t0 = Instant::now();
    sh(&mut c);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = targets.iter().map(|t| build_cpu(dist, t)).sum();
    (wall, cpu)
}

fn main() {
    let archive = root().join("../shared/valkey/valkey_8.1.1+dfsg1.orig.tar.xz");
    assert!(archive.is_file(), "{} missing: the real Valkey 8.1.1 source", archive.display());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let only: Option<usize> = std::env::var("VALKEY_RELEASE_BENCH_TARGETS").ok().and_then(|v| v.parse().ok());
    let img = image();
    let tmp = tempfile::tempdir().unwrap();
    println!("release benchmark: real Valkey 8.1.1, dev release, {cores} cores, make -j{cores} per container");
    for n in [2usize, 4] {
        if only.is_some_and(|o| o != n) {
            continue;
        }
        let dist = tmp.path().join(format!("dist{n}"));
        let (wall, cpu) = release(&img, &archive, &TARGETS[..n], &dist);
        let floor = cpu / cores as f64;
        println!(
            "  {n} targets: wall {wall:7.1} s   CPU floor {floor:7.1} s ({cpu:.1} CPU s of builds / {cores} cores)   ratio {:.3}x  (goal <= 1.05x)",
            wall / floor
        );
        let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap_or_default();
        for l in sums.lines().filter(|l| l.contains(".tar.gz")) {
            println!("    {l}");
        }
    }
}
