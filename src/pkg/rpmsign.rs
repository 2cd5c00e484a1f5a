//! Signing .rpm packages with the release key (the `rpm` crate, on rpgp): an OpenPGP header
//! signature that `rpmkeys --checksig` accepts once `GPG-KEY-valkey.asc` is imported.

use crate::error::{Error, Result};
use crate::sign::SigningKey;

/// Sign an .rpm (its bytes) and return the signed package. The signature time is
/// max(`timestamp`, the key's creation time) (`timestamp`: SOURCE_DATE_EPOCH), so a re-sign of
/// the same package with the same Ed25519 or RSA key gives the same bytes.
pub fn sign_rpm(key: &SigningKey, rpm_bytes: &[u8], timestamp: u32, what: &str) -> Result<Vec<u8>> {
    let mut pkg = rpm::Package::parse(&mut &rpm_bytes[..]).map_err(|e| Error::input(format!("{what}: not an rpm package: {e}")))?;
    let armored = key.secret_armored()?;
    let signer = rpm::signature::pgp::Signer::from_asc(&armored)
        .map_err(|e| Error::input(format!("the signing key cannot sign rpm packages: {e}")))?;
    pkg.sign_with_timestamp(signer, key.at(i64::from(timestamp)).signature_time())
        .map_err(|e| Error::external(format!("{what}: rpm signing failed: {e}")))?;
    let mut out = Vec::new();
    pkg.write(&mut out)
        .map_err(|e| Error::external(format!("{what}: writing the signed rpm failed: {e}")))?;
    Ok(out)
}
