//! Builder containers are boxed in: each test tries to exceed one limit set in targets.toml
//! (`[builders.bookworm.limits]`) with the fakevalkey fixture, on the real engine, and prints
//! what it measured (run with `--no-capture` to see the figures).

mod build_support;
use build_support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const V: &str = "8.1.1";

/// The repository's targets.toml with `[builders.bookworm.limits]` set to `limits`.
fn with_limits(dir: &Path, limits: &str) -> PathBuf {
    let text = std::fs::read_to_string(targets_toml()).unwrap();
    let p = dir.join("targets.toml");
    std::fs::write(&p, format!("{text}\n[builders.bookworm.limits]\n{limits}\n")).unwrap();
    p
}

/// Build the fixture (with `markers`) for bookworm-x86_64 under `limits`: (exit code, report, log).
fn build_under(markers: &[&str], limits: &str) -> (Option<i32>, serde_json::Value, String) {
    image_args();
    let (d, src) = fixture(markers);
    let targets = with_limits(d.path(), limits);
    let dist = d.path().join("dist");
    let mut c = Command::new(BIN);
    c.arg("--targets").arg(&targets).env("VALKEY_RELEASE_PLAIN", "1");
    c.args(["build", "--version", V, "--json", "--target", "bookworm-x86_64", "--source"])
        .arg(&src)
        .arg("--out")
        .arg(&dist);
    let o = run(c);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let log = std::fs::read_to_string(dist.join("logs/bookworm-x86_64.log")).unwrap_or_default();
    if let Some(rid) = report["run_id"].as_str() {
        assert!(
            containers_with(&format!("io.valkey.release.run={rid}")).is_empty(),
            "containers remain"
        );
        let o = Command::new("docker")
            .args(["volume", "ls", "-q", "--filter", &format!("label=io.valkey.release.run={rid}")])
            .output()
            .unwrap();
        assert!(o.status.success() && o.stdout.is_empty(), "build volumes remain: {o:?}");
    }
    (o.status.code(), report, log)
}

/// The last `limits: ...` line of the log starting with `prefix`.
fn last(log: &str, prefix: &str) -> Option<String> {
    log.lines().rev().find(|l| l.starts_with(prefix)).map(str::to_string)
}

#[test]
fn a_fork_bomb_stops_at_the_pids_limit() {
    let (code, _, log) = build_under(&["FORKBOMB"], "pids = 64");
    let line = last(&log, "limits: fork").unwrap_or_default();
    eprintln!("measured: {line}");
    assert_eq!(code, Some(1), "{log}");
    let got: usize = line
        .strip_prefix("limits: fork failed after ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the fork bomb was not stopped: {line:?}"));
    assert!(got < 64, "{got} processes under pids = 64");
}

#[test]
fn an_allocation_past_the_memory_limit_is_killed() {
    let (code, _, log) = build_under(&["ALLOC"], "memory = \"128m\"");
    let line = last(&log, "limits: allocated").unwrap_or_default();
    eprintln!("measured: {line}");
    assert_eq!(code, Some(1), "{log}");
    assert!(!line.contains("allocated all"), "the allocation was not stopped: {line}");
    let mib: i64 = line
        .trim_start_matches("limits: allocated ")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(mib <= 128, "allocated {mib} MiB under memory = 128m");
    assert!(log.contains("Killed") || log.contains("Error 137"), "{log}");
}

#[test]
fn a_build_past_its_time_limit_is_killed_and_fails_clearly() {
    let (code, report, log) = build_under(&["SLOW"], "time_limit = \"3s\"");
    assert_eq!(code, Some(1), "{log}");
    let err = report["targets"][0]["error"].as_str().unwrap_or_default().to_string();
    eprintln!("measured: {err}");
    assert!(
        err.contains("exceeded its time limit of 3 s") && err.contains("[builders.bookworm.limits]"),
        "{err}"
    );
    assert!(log.contains("fixture: sleeping"), "{log}");
}

#[test]
fn the_build_runs_unprivileged_as_a_non_root_user() {
    let (code, _, log) = build_under(&["SHOWLIMITS"], "pids = 512\nmemory = \"3g\"");
    assert_eq!(code, Some(0), "{log}");
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with("limits:")).collect();
    eprintln!("measured:\n{}", lines.join("\n"));
    assert!(log.contains("limits: uid=1000 gid=1000"), "{log}");
    assert!(
        log.contains("CapEff:\t0000000000000000") && log.contains("CapBnd:\t0000000000000000"),
        "{log}"
    );
    assert!(log.contains("NoNewPrivs:\t1"), "{log}");
    assert!(log.contains("pids.max: 512"), "{log}");
    assert!(log.contains(&format!("{}", 3u64 << 30)), "{log}");
    assert!(log.contains("==> limits: memory 3072 MiB, pids 512"), "{log}");
    // The build tree is a volume of its own and /tmp a tmpfs: neither goes through the
    // container's layered root filesystem.
    assert!(log.contains("limits: mount /tmp tmpfs"), "{log}");
    let build = last(&log, "limits: mount /build ").unwrap_or_else(|| panic!("/build is not a mount of its own:\n{log}"));
    assert!(!build.contains("overlay"), "{build}");
}

#[test]
fn bad_limits_in_targets_toml_are_refused_naming_the_field() {
    let d = tempfile::tempdir().unwrap();
    let targets = with_limits(d.path(), "memory = \"lots\"");
    let o = run({
        let mut c = Command::new(BIN);
        c.arg("--targets").arg(&targets).arg("targets");
        c
    });
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("[builders.bookworm.limits] memory = \"lots\""), "{err}");
}
