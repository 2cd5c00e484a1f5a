//! Benchmark: upload four ~35 MB random tarballs (a release's worth) to a local S3 server,
//! ours (`valkey-release upload`) vs the baseline `aws s3 cp --recursive` of the same directory to
//! the same server. Prints both wall times and the ratio (ours / baseline; goal <= 1.0), for moto
//! and, when installed, for s3s-fs (a Rust server, so the server is less of the bottleneck).
//! Each tool writes into a fresh bucket per round so nothing is skipped; best of the rounds.
//!
//! Run: `cargo bench --bench upload` (needs moto_server and aws on PATH; s3s-fs optional; see .ci/setup).

#[path = "../tests/upload_support/mod.rs"]
mod upload_support;

use std::process::Command;
use std::time::Instant;
use upload_support::*;

const ROUNDS: usize = 2;

fn main() {
    if Command::new("aws").arg("--version").output().is_err() || Command::new("moto_server").arg("-h").output().is_err() {
        eprintln!("bench upload: needs `aws` and `moto_server` (pip install awscli 'moto[server]'); skipped");
        return;
    }
    let aws_env = AwsEnv::new();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    let size = 35 * 1000 * 1000;
    let m = make_dist(
        &dist,
        "8.1.1",
        &[
            ("jammy-x86_64", size),
            ("jammy-arm64", size),
            ("noble-x86_64", size),
            ("noble-arm64", size),
        ],
        42,
    );
    let total: u64 = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    eprintln!(
        "bench upload: {} artifacts, {:.1} MB in dist/",
        m.artifacts.len(),
        total as f64 / 1e6
    );
    bench_on(&Moto::start(), &aws_env, &dist, total);
    if Command::new("s3s-fs").arg("--help").output().is_ok() {
        bench_on(&S3Server::s3s_fs(), &aws_env, &dist, total);
    } else {
        eprintln!("bench upload: s3s-fs not installed; only moto measured");
    }
}

fn bench_on(moto: &S3Server, aws_env: &AwsEnv, dist: &std::path::Path, total: u64) {
    eprintln!("bench upload: {} at {}", moto.kind, moto.url);

    let mut ours = f64::MAX;
    let mut base = f64::MAX;
    for round in 0..ROUNDS {
        let b1 = format!("bench-ours-{round}");
        let b2 = format!("bench-aws-{round}");
        block_on(moto.create_bucket(&b1));
        block_on(moto.create_bucket(&b2));

        let mut c = cli(aws_env, &moto.url);
        c.args(["upload", "--bucket", &b1, "--dist"])
            .arg(dist)
            .stdout(std::process::Stdio::null());
        let t = Instant::now();
        let o = c.output().unwrap();
        let dt = t.elapsed().as_secs_f64();
        assert!(
            o.status.success(),
            "valkey-release upload failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        ours = ours.min(dt);

        let mut a = Command::new("aws");
        a.args(["s3", "cp", "--recursive", "--only-show-errors", "--endpoint-url", &moto.url])
            .arg(dist)
            .arg(format!("s3://{b2}/releases/"))
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_REGION", "us-west-2")
            .env("AWS_CONFIG_FILE", &aws_env.config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &aws_env.config)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL");
        let t = Instant::now();
        let o = a.output().unwrap();
        let dt2 = t.elapsed().as_secs_f64();
        assert!(o.status.success(), "aws s3 cp failed: {}", String::from_utf8_lossy(&o.stderr));
        base = base.min(dt2);
        eprintln!("round {}: ours {dt:.2}s, aws s3 cp {dt2:.2}s", round + 1);
    }
    println!(
        "upload of {:.0} MB (4 x 35 MB tarballs + checksums + manifest) to local {}, best of {ROUNDS}:",
        total as f64 / 1e6,
        moto.kind
    );
    println!(
        "  ours (valkey-release upload, hash check + HEAD + upload + HEAD check): {ours:.2} s ({:.1} MB/s)",
        total as f64 / 1e6 / ours
    );
    println!(
        "  baseline (aws s3 cp --recursive):                                      {base:.2} s ({:.1} MB/s)",
        total as f64 / 1e6 / base
    );
    println!("  ratio ours/baseline: {:.2}", ours / base);
}
