//! Benchmark: package a valkey-sized build tree vs today's `tar czf` + `sha256sum`.
//!
//! Tree: $VALKEY_BENCH_TREE (a real valkey build tree: src/valkey-* and COPYING) when set,
//! else a generated one: an 18 MB valkey-server with its three byte copies, a 7 MB valkey-cli
//! and a 6 MB valkey-benchmark, with compressibility like real binaries.
//! Prints our time and size, the baseline's, and the ratios (goal: time <= 0.5x, size <= 0.4x).
//! Run: cargo bench --bench package

#[allow(dead_code)]
#[path = "../tests/core_support/gen.rs"]
mod gen;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use valkey_release::package::{package_tree, PackageInput};
use valkey_release::targets::Matrix;
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
    let target = matrix.target("jammy-x86_64").unwrap();
    let name = matrix.artifact_name(&version, target);
    let input_bytes: u64 = matrix
        .artifact
        .binaries
        .iter()
        .map(|b| std::fs::metadata(tree.join("src").join(b)).map(|m| m.len()).unwrap_or(0))
        .sum();

    // Baseline: today's process, a staged layout directory then `tar czf` + `sha256sum`.
    let stage = work.path().join("stage");
    let top = stage.join(&name);
    std::fs::create_dir_all(top.join("bin")).unwrap();
    std::fs::create_dir_all(top.join("share")).unwrap();
    for b in &matrix.artifact.binaries {
        std::fs::copy(tree.join("src").join(b), top.join("bin").join(b)).unwrap();
    }
    std::fs::copy(tree.join("COPYING"), top.join("share/LICENSE")).unwrap();
    let base_tgz = work.path().join("baseline.tar.gz");
    warm(&tree);
    warm(&stage);
    let c0 = cpu_ticks();
    let t0 = Instant::now();
    let st = Command::new("tar")
        .arg("czf")
        .arg(&base_tgz)
        .arg("-C")
        .arg(&stage)
        .arg(&name)
        .status()
        .expect("tar");
    assert!(st.success());
    let out = Command::new("sha256sum").arg(&base_tgz).output().expect("sha256sum");
    assert!(out.status.success());
    let base_secs = t0.elapsed().as_secs_f64();
    let base_cpu = (cpu_ticks().1 - c0.1) as f64 / 100.0;
    let base_size = std::fs::metadata(&base_tgz).unwrap().len();

    // The baseline on unique content: the same layout with byte-identical files kept once (the
    // three copies of valkey-server dropped), so the size ratio shows what the compression alone
    // gives; ours stores identical files once (hard links) anyway.
    let ustage = work.path().join("unique");
    let utop = ustage.join(&name);
    std::fs::create_dir_all(utop.join("bin")).unwrap();
    std::fs::create_dir_all(utop.join("share")).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for b in &matrix.artifact.binaries {
        let f = tree.join("src").join(b);
        if seen.insert(valkey_release::fsutil::sha256_file(&f).unwrap().0) {
            std::fs::copy(&f, utop.join("bin").join(b)).unwrap();
        }
    }
    std::fs::copy(tree.join("COPYING"), utop.join("share/LICENSE")).unwrap();
    let unique_tgz = work.path().join("unique.tar.gz");
    let st = Command::new("tar")
        .arg("czf")
        .arg(&unique_tgz)
        .arg("-C")
        .arg(&ustage)
        .arg(&name)
        .status()
        .expect("tar");
    assert!(st.success());
    let unique_size = std::fs::metadata(&unique_tgz).unwrap().len();

    // Ours.
    let out_dir = work.path().join("dist");
    // Reset the peak-RSS counter so it measures packaging only (Linux).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = peak_rss_kb();
    let c0 = cpu_ticks();
    let t0 = Instant::now();
    let a = package_tree(
        &PackageInput {
            matrix: &matrix,
            version: &version,
            target,
            tree: &tree,
            source_date_epoch: 1_700_000_000,
        },
        &out_dir,
    )
    .expect("package_tree");
    let our_secs = t0.elapsed().as_secs_f64();
    let our_cpu = (cpu_ticks().0 - c0.0) as f64 / 100.0;
    let rss_after = peak_rss_kb();

    println!(
        "package benchmark: {} ({:.1} MB of binaries{})",
        a.file,
        input_bytes as f64 / 1e6,
        if std::env::var_os("VALKEY_BENCH_TREE").is_some() {
            ", real build tree"
        } else {
            ", generated tree"
        }
    );
    println!(
        "  time  ours {:>8.2} s     baseline (tar czf + sha256sum) {:>8.2} s     ratio {:.2}x  (goal <= 0.50x)",
        our_secs,
        base_secs,
        our_secs / base_secs
    );
    println!(
        "  cpu   ours {:>8.2} s     baseline                       {:>8.2} s     ratio {:.2}x  (user+sys, all threads)",
        our_cpu,
        base_cpu,
        our_cpu / base_cpu
    );
    println!(
        "  size  ours {:>8.2} MB    baseline                       {:>8.2} MB    ratio {:.2}x  (goal <= 0.40x)",
        a.size as f64 / 1e6,
        base_size as f64 / 1e6,
        a.size as f64 / base_size as f64
    );
    println!(
        "  size  ours {:>8.2} MB    baseline on unique content     {:>8.2} MB    ratio {:.2}x  (identical binaries kept once on both sides: the compression alone)",
        a.size as f64 / 1e6,
        unique_size as f64 / 1e6,
        a.size as f64 / unique_size as f64
    );
    if let (Some(b), Some(a)) = (rss_before, rss_after) {
        println!(
            "  peak RSS while packaging {:.1} MB (before: {:.1} MB; streaming, no whole-file buffers)",
            a as f64 / 1e3,
            b as f64 / 1e3
        );
    }
    println!(
        "  (compression level {}, gzip of the baseline keeps {:.0}% of the input)",
        valkey_release::package::GZIP_LEVEL,
        100.0 * base_size as f64 / input_bytes as f64
    );
}

/// Read every file once so both sides start with a warm page cache.
fn warm(dir: &Path) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("find '{}' -type f -exec cat {{}} + > /dev/null", dir.display()))
        .status();
}

/// VmHWM of this process in kB (Linux).
fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

/// (own utime+stime, waited-for children's utime+stime) in clock ticks (Linux, 100 Hz).
fn cpu_ticks() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    // After the command name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    (
        f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0),
        f.get(13).copied().unwrap_or(0) + f.get(14).copied().unwrap_or(0),
    )
}
