//! Shared helpers for the packages tests: throwaway OpenPGP keys made by the real gpg, and
//! running the real tools (gpgv, lintian, rpm) with a clear message when one is missing.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A throwaway key in its own GNUPGHOME.
pub struct TestKey {
    pub home: tempfile::TempDir,
    pub secret_armored: String,
    pub public_armored: String,
    /// `gpg --dearmor`ed public key, the keyring file `gpgv --keyring` and apt `signed-by` take.
    pub keyring: PathBuf,
}

/// Require a command on PATH, or fail naming the package to install (.ci/setup installs it).
pub fn require_tool(tool: &str, package: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success());
    assert!(
        ok.unwrap_or(false),
        "{tool} is not installed: apt-get install {package} (see .ci/setup)"
    );
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Make a key with `gpg --quick-gen-key` (`algo`: `ed25519`, `rsa3072`), no passphrase.
pub fn gpg_key(algo: &str) -> TestKey {
    require_tool("gpg", "gnupg");
    let home = tempfile::tempdir().unwrap();
    let gpg = |args: &[&str]| {
        let mut c = Command::new("gpg");
        c.arg("--homedir")
            .arg(home.path())
            .args(["--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args);
        run_ok(&mut c).stdout
    };
    gpg(&[
        "--quick-gen-key",
        "Valkey Test Signing <test@valkey.invalid>",
        algo,
        "sign",
        "never",
    ]);
    let secret_armored = String::from_utf8(gpg(&["--armor", "--export-secret-keys"])).unwrap();
    let public_armored = String::from_utf8(gpg(&["--armor", "--export"])).unwrap();
    let keyring = home.path().join("keyring.gpg");
    std::fs::write(&keyring, gpg(&["--export"])).unwrap();
    TestKey {
        home,
        secret_armored,
        public_armored,
        keyring,
    }
}

/// `gpgv --keyring K sig data`.
pub fn gpgv(keyring: &Path, sig: &Path, data: &Path) -> Output {
    require_tool("gpgv", "gpgv");
    run(Command::new("gpgv").arg("--keyring").arg(keyring).arg(sig).arg(data))
}

pub mod engine;
