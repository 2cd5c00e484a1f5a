//! Build-farm benchmarks (printed figures, not timed tests). Needs the Docker engine and the
//! bookworm builder image (made on first use, as `build` does).
//!
//! (a) Driver overhead: the fakevalkey fixture for 4 targets (bookworm and trixie, x86_64 and
//!     arm64, all on the bookworm builder image) with `valkey-release build --jobs 2 --no-hooks`
//!     (no post-build hooks: no .debs, no SBOM facts, as the script makes none), against a
//!     shell script doing the same with the docker CLI (docker create/cp/start of the same image
//!     and make command, docker cp of the results, tar czf, sha256sum) at the same parallelism
//!     (xargs -P 2). Goal: ratio <= 1.0.
//!
//!     cargo bench --bench build
//!
//! (b) Real Valkey 8.1.1 (../shared/valkey/valkey_8.1.1+dfsg1.orig.tar.xz), bookworm x86_64 +
//!     arm64 built together vs the sum of each built alone. ~8 min on 2 cores:
//!
//!     VALKEY_RELEASE_BENCH_REAL=1 cargo bench --bench build
use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[path = "common/mod.rs"]
mod common;
use common::{root, sh, BIN, TARGETS};

/// The bookworm builder image: prepared (or reused) through `valkey-release images`.
fn image() -> String {
    let out =
        sh(Command::new(BIN)
            .arg("--targets")
            .arg(root().join("targets.toml"))
            .args(["--json", "images", "--target", "bookworm-x86_64"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("images --json");
    v["images"][0]["id"].as_str().expect("image id").to_string()
}

fn driver(image: &str, source: &Path, targets: &[&str], jobs: usize, out: &Path, version: &str) -> f64 {
    let _ = std::fs::remove_dir_all(out);
    let mut c = Command::new(BIN);
    c.arg("--targets")
        .arg(root().join("targets.toml"))
        .args(["build", "--version", version, "--source"])
        .arg(source);
    for t in targets {
        c.args(["--target", t]);
    }
    // The same work as the baseline: build, check, tarball, checksum; no post-build hooks.
    c.args(["--jobs", &jobs.to_string(), "--builder-image", image, "--no-hooks"])
        .arg("--out")
        .arg(out)
        .env("VALKEY_RELEASE_PLAIN", "1");
    let t0 = Instant::now();
    sh(&mut c);
    t0.elapsed().as_secs_f64()
}

/// The same work with the docker CLI, as a shell script, `jobs` targets at a time: one tar
/// stream into the container (the source) and one out (the binaries and the license).
fn baseline(image: &str, source: &Path, targets: &[&str], jobs: usize, out: &Path, version: &str) -> f64 {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mj = (cores / jobs.min(targets.len()).max(1)).max(1);
    let script = format!(
        r#"set -euo pipefail
t=$1; img={image}; src={src}; out={out}; v={version}
case $t in *-arm64) cross="CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar RANLIB=aarch64-linux-gnu-ranlib PKG_CONFIG=aarch64-linux-gnu-pkg-config DEB_HOST_GNU_TYPE=aarch64-linux-gnu";; *) cross="";; esac
name=valkey-$v-$t
bins="valkey-server valkey-cli valkey-benchmark valkey-sentinel valkey-check-aof valkey-check-rdb"
cid=$(docker create --network none -w /build -e SOURCE_DATE_EPOCH=1700000000 -e TZ=UTC -e LC_ALL=C "$img" sh -c "make -j{mj} -C src all BUILD_TLS=yes USE_SYSTEMD=yes USE_FAST_FLOAT=yes $cross && mkdir -p /out/$name/bin /out/$name/share && cd src && cp $bins /out/$name/bin/ && cp ../COPYING /out/$name/share/LICENSE")
trap 'docker rm -f $cid >/dev/null' EXIT
# One tar stream in, one tar stream out.
tar -C "$src" -cf - . | docker cp - "$cid:/build"
docker start -a "$cid" > "$out/$t.log" 2>&1
mkdir -p "$out/$t"
docker cp "$cid:/out/$name" - | tar -xf - -C "$out/$t"
tar czf "$out/$name.tar.gz" -C "$out/$t" "$name"
(cd "$out" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
"#,
        src = source.display(),
        out = out.display()
    );
    let sp = out.join("one.sh");
    std::fs::write(&sp, script).unwrap();
    let t0 = Instant::now();
    sh(Command::new("bash").arg("-c").arg(format!(
        "printf '%s\\n' {} | xargs -P {jobs} -n 1 bash {}",
        targets.join(" "),
        sp.display()
    )));
    t0.elapsed().as_secs_f64()
}

fn report(what: &str, ours: f64, base: f64) {
    println!("{what}: ours {ours:.1}s, baseline {base:.1}s, ratio {:.2}", ours / base);
}

fn main() {
    let img = image();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();

    // (a) driver overhead on the fixture, 4 targets, 2 at a time; best of 2 rounds each.
    let src = root().join("tests/fixtures/build/fakevalkey");
    let (mut ours, mut base) = (f64::MAX, f64::MAX);
    for _ in 0..2 {
        ours = ours.min(driver(&img, &src, &TARGETS, 2, &out.join("ours"), "8.1.1"));
        base = base.min(baseline(&img, &src, &TARGETS, 2, &out.join("base"), "8.1.1"));
    }
    report("driver overhead (fixture, 4 targets, --jobs 2 --no-hooks, best of 2)", ours, base);

    // (b) real Valkey: both together vs the sum of each alone.
    if std::env::var_os("VALKEY_RELEASE_BENCH_REAL").is_none() {
        println!("real valkey: skipped (set VALKEY_RELEASE_BENCH_REAL=1; ~8 min on 2 cores)");
        return;
    }
    let archive = root().join("../shared/valkey/valkey_8.1.1+dfsg1.orig.tar.xz");
    assert!(archive.is_file(), "{} missing", archive.display());
    let x = driver(&img, &archive, &["bookworm-x86_64"], 1, &out.join("rx"), "8.1.1");
    println!("real valkey bookworm-x86_64 alone: {x:.1}s");
    let a = driver(&img, &archive, &["bookworm-arm64"], 1, &out.join("ra"), "8.1.1");
    println!("real valkey bookworm-arm64 alone: {a:.1}s");
    let both = driver(&img, &archive, &["bookworm-x86_64", "bookworm-arm64"], 2, &out.join("rb"), "8.1.1");
    report("real valkey x86_64 + arm64 in parallel vs the sum alone", both, x + a);
}
