//! The release's OpenPGP key (`crate::sign`) as the DSSE [`Signer`], and an armored public key
//! as the [`Verifier`]: `sig` is a binary detached OpenPGP signature over the PAE.

use super::dsse::{Signer, Verifier};
use crate::error::Result;
use crate::sign::SigningKey;

impl Signer for SigningKey {
    fn keyid(&self) -> String {
        self.fingerprint()
    }
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        self.detached_binary(data)
    }
}

/// Verifies against an armored OpenPGP public key (`GPG-KEY-valkey.asc`).
pub struct PgpVerifier {
    armored: String,
    pub fingerprint: String,
}

impl PgpVerifier {
    pub fn from_armored(public: &str) -> Result<PgpVerifier> {
        use pgp::types::KeyDetails;
        let key = crate::sign::parse_public(public)?;
        Ok(PgpVerifier {
            armored: public.to_string(),
            fingerprint: hex::encode_upper(key.primary_key.fingerprint().as_bytes()),
        })
    }
}

impl Verifier for PgpVerifier {
    fn verify(&self, data: &[u8], sig: &[u8]) -> Result<()> {
        crate::sign::verify_detached(&self.armored, data, sig)
    }
}
