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
//!
//! Signatures are deterministic: their creation time is max(SOURCE_DATE_EPOCH, the key's creation
//! time) ([`SigningKey::at`] sets the release's SOURCE_DATE_EPOCH; without it the environment's
//! `SOURCE_DATE_EPOCH`, else now), and Ed25519 and RSA (PKCS#1 v1.5) signatures carry no
//! randomness, so the same data signed again with the same key gives the same bytes: a release
//! re-made from a fresh dist publishes the very objects it published before.

use crate::error::{Error, Result};
use pgp::composed::{ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, KeyVersion, Password, Timestamp};
use sha2::Digest;
use std::path::Path;

/// The environment variable holding the armored secret key.
pub const KEY_ENV: &str = "VALKEY_RELEASE_SIGNING_KEY";

/// File name of the published public key, at the top of `packaging/` and beside a release.
pub const PUBLIC_KEY_FILE: &str = "GPG-KEY-valkey.asc";

/// The release signing key (secret). Its `Debug` output names the fingerprint only.
#[derive(Clone)]
pub struct SigningKey {
    secret: SignedSecretKey,
    /// The SOURCE_DATE_EPOCH signatures are made at ([`SigningKey::at`]).
    sde: Option<i64>,
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
        let key = SigningKey { secret, sde: None };
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

    /// The same key, signing at `source_date_epoch` (see [`SigningKey::signature_time`]).
    pub fn at(&self, source_date_epoch: i64) -> SigningKey {
        SigningKey {
            secret: self.secret.clone(),
            sde: Some(source_date_epoch),
        }
    }

    /// The key's creation time (Unix seconds).
    pub fn created(&self) -> i64 {
        i64::from(self.secret.primary_key.created_at().as_secs())
    }

    /// The creation time of this key's signatures: max(SOURCE_DATE_EPOCH, the key's creation
    /// time), so a signature never predates its key. SOURCE_DATE_EPOCH is the one given to
    /// [`SigningKey::at`], else the environment's, else now.
    pub fn signature_time(&self) -> u32 {
        let sde = self.sde.unwrap_or_else(|| {
            std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .unwrap_or_else(|| chrono::Utc::now().timestamp())
        });
        u32::try_from(sde.max(self.created())).unwrap_or(u32::MAX)
    }

    /// A signature configuration with no randomness: creation time [`Self::signature_time`],
    /// the issuer fingerprint (hashed) and, for v4 keys, the issuer key id (unhashed). A v6 key's
    /// salt is derived from the signed data and the time.
    fn config(&self, typ: SignatureType, data: &[u8]) -> Result<SignatureConfig> {
        let key = &self.secret.primary_key;
        let at = self.signature_time();
        let err = |e: pgp::errors::Error| Error::external(format!("OpenPGP signature setup failed: {e}"));
        let hash = HashAlgorithm::Sha256;
        let mut config = match key.version() {
            KeyVersion::V6 => {
                let mut h = sha2::Sha256::new();
                h.update(at.to_be_bytes());
                h.update(data);
                let salt = h.finalize()[..hash.salt_len().unwrap_or(16)].to_vec();
                SignatureConfig::v6_with_salt(typ, key.algorithm(), hash, salt)
            }
            _ => SignatureConfig::v4(typ, key.algorithm(), hash),
        };
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::from_secs(at))).map_err(err)?,
            Subpacket::regular(SubpacketData::IssuerFingerprint(key.fingerprint())).map_err(err)?,
        ];
        if key.version() <= KeyVersion::V4 {
            config.unhashed_subpackets = vec![Subpacket::regular(SubpacketData::IssuerKeyId(key.legacy_key_id())).map_err(err)?];
        }
        Ok(config)
    }

    fn detached(&self, data: &[u8]) -> Result<DetachedSignature> {
        let sig = self
            .config(SignatureType::Binary, data)?
            .sign(&self.secret.primary_key, &Password::empty(), data)
            .map_err(|e| Error::external(format!("OpenPGP signing failed: {e}")))?;
        Ok(DetachedSignature::new(sig))
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
        let config = self.config(SignatureType::Text, body.as_bytes())?;
        let msg = CleartextSignedMessage::new(body, config, &self.secret.primary_key, &Password::empty())
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
