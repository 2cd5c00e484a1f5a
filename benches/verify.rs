//! Benchmark: `verify` of 8 valkey-sized tarballs (a dist/ with SHA256SUMS) vs `sha256sum -c`.
//!
//! The tarballs are packaged from $VALKEY_BENCH_TREE (a real valkey build tree) when set,
//! else from a generated valkey-sized tree, once per target of targets.toml (8 targets).
//! Both sides read from a warm page cache. Prints ours, the baseline, and the ratio (goal <= 0.7x).
//! Run: cargo bench --bench verify

#[allow(dead_code)]
#[path = "../tests/core_support/gen.rs"]
mod gen;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use valkey_release::package::{add_to_dist, package_tree, PackageInput};
use valkey_release::targets::Matrix;
use valkey_release::verify::{verify_local, VerifyOptions};
use valkey_release::version::Version;

fn main() {
    let work = tempfile::tempdir().expect("tempdir");
    let tree: PathBuf = match std::env::var_os("VALKEY_BENCH_TREE") {
        Some(p) => PathBuf::from(p),
        None => {
            let t = work.path().join("tree");
            gen::write_tree(&t, 18 * gen::MB, 7 * gen::MB, 6 * gen::MB, 1).expect("generate tree");
            t
        }
    };
    let matrix = Matrix::parse(valkey_release::targets::EMBEDDED, Path::new("targets.toml"), None).expect("targets");
    let version = Version::parse("8.1.1").unwrap();
    let dist = work.path().join("dist");
    let source = valkey_release::package::default_source(&tree);
    for target in matrix.targets.iter().take(8) {
        let a = package_tree(
            &PackageInput {
                matrix: &matrix,
                version: &version,
                target,
                tree: &tree,
                source_date_epoch: 1_700_000_000,
            },
            &dist,
        )
        .expect("package_tree");
        add_to_dist(&dist, &version, 1_700_000_000, &source, a).expect("add_to_dist");
    }
    let total: u64 = std::fs::read_dir(&dist)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tar.gz"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("cat '{}'/*.tar.gz > /dev/null", dist.display()))
        .status();

    let t0 = Instant::now();
    let o = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&dist)
        .output()
        .expect("sha256sum");
    let base = t0.elapsed().as_secs_f64();
    assert!(o.status.success(), "sha256sum -c failed");

    let t0 = Instant::now();
    let r = verify_local(&VerifyOptions {
        paths: vec![dist.join("SHA256SUMS")],
        ..Default::default()
    })
    .expect("verify");
    let ours = t0.elapsed().as_secs_f64();
    assert!(r.ok && r.checked == 8, "verify failed");

    println!(
        "verify benchmark: 8 tarballs, {:.1} MB, {} cores",
        total as f64 / 1e6,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!(
        "  time  ours {:>7.3} s    baseline (sha256sum -c SHA256SUMS) {:>7.3} s    ratio {:.2}x  (goal <= 0.70x)",
        ours,
        base,
        ours / base
    );
}
