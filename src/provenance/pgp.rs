//! OpenPGP signing and verification for the provenance envelope through GnuPG, each in a
//! throwaway GNUPGHOME (removed when the value is dropped; the user's keyring is never used).
//!
//! Interim: the release key API of `src/sign/` (rpgp) replaces this once it lands; the
//! envelope code only sees the [`Signer`] / [`Verifier`] traits.

use super::dsse::{Signer, Verifier};
use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn gpg(home: &Path, args: &[&str], stdin: Option<&[u8]>) -> Result<std::process::Output> {
    let mut c = Command::new("gpg");
    c.arg("--homedir").arg(home).args(["--batch", "--no-tty", "--quiet"]).args(args);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .map_err(|e| Error::external(format!("cannot run gpg ({e}); install GnuPG (apt-get install gnupg)")))?;
    if let Some(mut w) = child.stdin.take() {
        if let Some(data) = stdin {
            w.write_all(data).map_err(|e| Error::external(format!("writing to gpg: {e}")))?;
        }
    }
    child.wait_with_output().map_err(|e| Error::external(format!("gpg: {e}")))
}

fn home() -> Result<tempfile::TempDir> {
    let d = tempfile::Builder::new()
        .prefix("valkey-release-gpg-")
        .tempdir()
        .map_err(|e| Error::external(format!("temp dir for gpg: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700));
    }
    Ok(d)
}

fn import(home: &Path, armored: &str, what: &str) -> Result<String> {
    let out = gpg(home, &["--import"], Some(armored.as_bytes()))?;
    if !out.status.success() {
        return Err(Error::input(format!(
            "the {what} is not a usable OpenPGP key (gpg --import: {})",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let list = gpg(home, &["--with-colons", "--fingerprint", "--list-keys"], None)?;
    String::from_utf8_lossy(&list.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("fpr:").map(|r| r.trim_matches(':').to_string()))
        .ok_or_else(|| Error::input(format!("the {what} holds no key")))
}

/// Signs with an armored OpenPGP secret key (never printed, never sent into a container).
pub struct PgpSigner {
    home: tempfile::TempDir,
    fingerprint: String,
}

impl PgpSigner {
    pub fn from_armored(secret: &str) -> Result<PgpSigner> {
        let home = home()?;
        let fingerprint = import(home.path(), secret, "signing key")?;
        Ok(PgpSigner { home, fingerprint })
    }
}

impl Signer for PgpSigner {
    fn keyid(&self) -> String {
        self.fingerprint.clone()
    }
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        let out = gpg(
            self.home.path(),
            &[
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--local-user",
                &self.fingerprint,
                "--detach-sign",
                "--output",
                "-",
            ],
            Some(data),
        )?;
        if !out.status.success() || out.stdout.is_empty() {
            return Err(Error::external(format!(
                "gpg could not sign: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(out.stdout)
    }
}

/// Verifies against an armored OpenPGP public key.
pub struct PgpVerifier {
    home: tempfile::TempDir,
    pub fingerprint: String,
}

impl PgpVerifier {
    pub fn from_armored(public: &str) -> Result<PgpVerifier> {
        let home = home()?;
        let fingerprint = import(home.path(), public, "public key")?;
        Ok(PgpVerifier { home, fingerprint })
    }
}

impl Verifier for PgpVerifier {
    fn verify(&self, data: &[u8], sig: &[u8]) -> Result<()> {
        let sig_path = self.home.path().join("sig");
        let data_path = self.home.path().join("data");
        std::fs::write(&sig_path, sig).map_err(|e| Error::io(&sig_path, "write", e))?;
        std::fs::write(&data_path, data).map_err(|e| Error::io(&data_path, "write", e))?;
        let (s, d) = (sig_path.to_string_lossy().into_owned(), data_path.to_string_lossy().into_owned());
        let out = gpg(self.home.path(), &["--status-fd", "1", "--verify", &s, &d], None)?;
        let status = String::from_utf8_lossy(&out.stdout);
        let good = status
            .lines()
            .any(|l| l.starts_with("[GNUPG:] VALIDSIG ") && l.contains(&self.fingerprint));
        if out.status.success() && good {
            Ok(())
        } else {
            Err(Error::check(format!("the signature does not verify with key {}", self.fingerprint)))
        }
    }
}
