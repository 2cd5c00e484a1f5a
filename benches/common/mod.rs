//! What the build and release benchmarks share: the tool's binary, the four bookworm/trixie
//! targets, the repository root and a command runner that fails loudly.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_valkey-release");
pub const TARGETS: [&str; 4] = ["bookworm-x86_64", "bookworm-arm64", "trixie-x86_64", "trixie-arm64"];

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run `cmd`; panic with its output unless it succeeds; its stdout, trimmed.
pub fn sh(cmd: &mut Command) -> String {
    let o = cmd.output().expect("spawn");
    if !o.status.success() {
        panic!(
            "{:?} failed:\n{}\n{}",
            cmd,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}
