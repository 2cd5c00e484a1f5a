//! OpenPGP signing with one release key (rpgp, the `pgp` crate).
//!
//! One key signs everything a release publishes: the apt `Release` file (`Release.gpg`, detached,
//! and `InRelease`, clearsigned), the .rpm packages, `repomd.xml.asc`, and the release's
//! `SHA256SUMS` (`SHA256SUMS.asc`). Its public half is published as `GPG-KEY-valkey.asc`.
//!
//! The secret key is an armored OpenPGP secret key (no passphrase, as a CI secret), read from the
//! environment variable [`KEY_ENV`] or from a file (`--signing-key FILE`). It is never printed,
//! logged (its `Debug` shows only the fingerprint) or sent into a build container: signing happens
//! on the host, after the packages came out of their containers.
//!
//! Signatures are checked by the real tools in the tests: `gpgv`, apt (`signed-by=`) and
//! `rpmkeys --checksig`.

use crate::error::{Error, Result};
use pgp::composed::{ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, Password};
use std::path::Path;

/// The environment variable holding the armored secret key.
pub const KEY_ENV: &str = "VALKEY_RELEASE_SIGNING_KEY";

/// File name of the published public key, at the top of `packaging/` and beside a release.
pub const PUBLIC_KEY_FILE: &str = "GPG-KEY-valkey.asc";

/// The release signing key (secret). Its `Debug` output names the fingerprint only.
pub struct SigningKey {
    secret: SignedSecretKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.fingerprint())
    }
}

impl SigningKey {
    /// Parse an armored OpenPGP secret key (`-----BEGIN PGP PRIVATE KEY BLOCK-----`).
    /// `what` names where it came from, for errors (the key itself is never quoted).
    pub fn from_armored_named(armored: &str, what: &str) -> Result<SigningKey> {
        if !armored.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----") {
            return Err(Error::input(format!(
                "{what}: not an armored OpenPGP secret key (expected a '-----BEGIN PGP PRIVATE KEY BLOCK-----' \
                 block, e.g. from 'gpg --armor --export-secret-keys KEYID')"
            )));
        }
        let (secret, _) =
            SignedSecretKey::from_string(armored).map_err(|e| Error::input(format!("{what}: cannot read the OpenPGP secret key: {e}")))?;
        secret
            .verify_bindings()
            .map_err(|e| Error::input(format!("{what}: the OpenPGP secret key's self-signatures do not verify: {e}")))?;
        let key = SigningKey { secret };
        // A passphrase-protected key cannot be used unattended: say so now, not at the first signature.
        key.detached_binary(b"probe").map_err(|e| {
            Error::input(format!(
                "{what}: the key cannot sign (passphrase-protected or not a signing key?): {e}"
            ))
        })?;
        Ok(key)
    }

    /// Parse an armored OpenPGP secret key.
    pub fn from_armored(armored: &str) -> Result<SigningKey> {
        Self::from_armored_named(armored, "signing key")
    }

    /// Read the key from a file.
    pub fn from_file(path: &Path) -> Result<SigningKey> {
        let text = crate::fsutil::read_input_text(path, "the signing key")?;
        Self::from_armored_named(&text, &path.display().to_string())
    }

    /// The key from `file` when given, else from the environment variable [`KEY_ENV`];
    /// `None` when neither is set.
    pub fn load(file: Option<&Path>) -> Result<Option<SigningKey>> {
        if let Some(f) = file {
            return Self::from_file(f).map(Some);
        }
        match std::env::var(KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => Self::from_armored_named(&v, &format!("${KEY_ENV}")).map(Some),
            _ => Ok(None),
        }
    }

    /// The key from `file` or the environment, or a bad-input error saying how to give one.
    pub fn require(file: Option<&Path>) -> Result<SigningKey> {
        Self::load(file)?.ok_or_else(|| {
            Error::input(format!(
                "no signing key: set {KEY_ENV} to an armored OpenPGP secret key or pass --signing-key FILE"
            ))
        })
    }

    /// The secret key as rpgp holds it (for the `rpm` crate's signer, which takes armored text).
    pub(crate) fn secret_armored(&self) -> Result<String> {
        self.secret
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| Error::external(format!("cannot serialise the signing key: {e}")))
    }

    /// The public key, armored (the contents of `GPG-KEY-valkey.asc`).
    pub fn public_armored(&self) -> String {
        let public: SignedPublicKey = self.secret.to_public_key();
        public
            .to_armored_string(ArmorOptions::default())
            .expect("serialising a public key held in memory cannot fail")
    }

    /// The primary key's fingerprint, upper-case hex (as `gpg --fingerprint` shows it, no spaces).
    pub fn fingerprint(&self) -> String {
        hex::encode_upper(self.secret.primary_key.fingerprint().as_bytes())
    }

    fn detached(&self, data: &[u8]) -> Result<DetachedSignature> {
        DetachedSignature::sign_binary_data(
            rand::thread_rng(),
            &self.secret.primary_key,
            &Password::empty(),
            HashAlgorithm::Sha256,
            data,
        )
        .map_err(|e| Error::external(format!("OpenPGP signing failed: {e}")))
    }

    /// A detached signature, armored (`Release.gpg`, `SHA256SUMS.asc`, `repomd.xml.asc`).
    pub fn detached_armored(&self, data: &[u8]) -> Result<String> {
        self.detached(data)?
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| Error::external(format!("OpenPGP armor failed: {e}")))
    }

    /// A detached signature, binary OpenPGP packets.
    pub fn detached_binary(&self, data: &[u8]) -> Result<Vec<u8>> {
        self.detached(data)?
            .to_bytes()
            .map_err(|e| Error::external(format!("OpenPGP serialisation failed: {e}")))
    }

    /// A clearsigned message (`InRelease`). As with `gpg --clearsign`, the line ending of the
    /// text's last line is the one before the signature block (`gpgv --output` gives `text` back).
    pub fn clearsign(&self, text: &str) -> Result<String> {
        let body = text.strip_suffix('\n').unwrap_or(text);
        let msg = CleartextSignedMessage::sign(rand::thread_rng(), body, &self.secret.primary_key, &Password::empty())
            .map_err(|e| Error::external(format!("OpenPGP clearsign failed: {e}")))?;
        msg.to_armored_string(ArmorOptions::default())
            .map_err(|e| Error::external(format!("OpenPGP armor failed: {e}")))
    }
}

/// Parse an armored public key (`GPG-KEY-valkey.asc`).
pub fn parse_public(public_armored: &str) -> Result<SignedPublicKey> {
    let (key, _) =
        SignedPublicKey::from_string(public_armored).map_err(|e| Error::input(format!("cannot read the OpenPGP public key: {e}")))?;
    Ok(key)
}

/// Check a detached signature (armored or binary) of `data` against an armored public key
/// (its primary key or any of its subkeys). A bad signature is a check failure (exit 1).
pub fn verify_detached(public_armored: &str, data: &[u8], sig: &[u8]) -> Result<()> {
    let key = parse_public(public_armored)?;
    let sig = if sig.starts_with(b"-----BEGIN PGP SIGNATURE-----") {
        DetachedSignature::from_armor_single(sig).map(|(s, _)| s)
    } else {
        DetachedSignature::from_bytes(sig)
    }
    .map_err(|e| Error::input(format!("cannot read the OpenPGP signature: {e}")))?;
    if sig.verify(&key, data).is_ok() {
        return Ok(());
    }
    for sub in &key.public_subkeys {
        if sig.verify(sub, data).is_ok() {
            return Ok(());
        }
    }
    Err(Error::check(format!(
        "the OpenPGP signature does not verify with key {}",
        hex::encode_upper(key.primary_key.fingerprint().as_bytes())
    )))
}

/// Check a clearsigned message and return its signed text (LF line endings, no final newline).
pub fn verify_clearsigned(public_armored: &str, armored: &str) -> Result<String> {
    let key = parse_public(public_armored)?;
    let (msg, _) =
        CleartextSignedMessage::from_string(armored).map_err(|e| Error::input(format!("cannot read the clearsigned message: {e}")))?;
    msg.verify(&key)
        .map_err(|e| Error::check(format!("the clearsigned message does not verify: {e}")))?;
    // The signed text in canonical form has CRLF line endings; give it back as LF text.
    Ok(msg.signed_text().replace("\r\n", "\n"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn missing_armor_is_bad_input_without_echoing_the_input() {
        let e = super::SigningKey::from_armored("s3cr3t-not-a-key").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
    }
}
