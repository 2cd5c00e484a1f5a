//! DSSE envelopes (<https://github.com/secure-systems-lab/dsse>, v1): the payload is
//! base64-encoded, each signature is over the pre-authentication encoding
//! `PAE(type, payload) = "DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload`.

use crate::error::{Error, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The payload type of an in-toto Statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The signer's key id (an OpenPGP fingerprint); may be empty.
    #[serde(default)]
    pub keyid: String,
    /// base64 of the raw signature bytes (for OpenPGP: a binary detached signature).
    pub sig: String,
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub payload_type: String,
    /// base64 of the payload.
    pub payload: String,
    pub signatures: Vec<Signature>,
}

/// Makes a detached signature over bytes (the release's OpenPGP key).
pub trait Signer {
    /// The key id recorded in the envelope (OpenPGP fingerprint).
    fn keyid(&self) -> String;
    /// Raw signature bytes over `data`.
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>>;
}

/// Checks a detached signature over bytes against a public key.
pub trait Verifier {
    /// `Ok(())` when `sig` is a good signature of `data` by the key; `Err(Check)` otherwise.
    fn verify(&self, data: &[u8], sig: &[u8]) -> Result<()>;
}

/// The pre-authentication encoding that is signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut v = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    v.extend_from_slice(payload);
    v
}

impl Envelope {
    /// Wrap `payload`, signed by `signer` when one is given.
    pub fn wrap(payload_type: &str, payload: &[u8], signer: Option<&dyn Signer>) -> Result<Envelope> {
        let mut signatures = Vec::new();
        if let Some(s) = signer {
            let sig = s.sign(&pae(payload_type, payload))?;
            signatures.push(Signature {
                keyid: s.keyid(),
                sig: B64.encode(sig),
            });
        }
        Ok(Envelope {
            payload_type: payload_type.to_string(),
            payload: B64.encode(payload),
            signatures,
        })
    }

    /// The decoded payload.
    pub fn payload_bytes(&self) -> Result<Vec<u8>> {
        B64.decode(self.payload.as_bytes())
            .map_err(|e| Error::check(format!("DSSE payload is not valid base64: {e}")))
    }

    /// Check that at least one signature verifies with `verifier`.
    pub fn verify(&self, verifier: &dyn Verifier) -> Result<()> {
        if self.signatures.is_empty() {
            return Err(Error::check("the provenance envelope carries no signature"));
        }
        let data = pae(&self.payload_type, &self.payload_bytes()?);
        let mut last = None;
        for s in &self.signatures {
            let raw = match B64.decode(s.sig.as_bytes()) {
                Ok(r) => r,
                Err(e) => {
                    last = Some(Error::check(format!("signature {} is not valid base64: {e}", s.keyid)));
                    continue;
                }
            };
            match verifier.verify(&data, &raw) {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::check("no signature verified")))
    }

    /// One JSON line (the `.intoto.jsonl` format), newline-terminated.
    pub fn to_line(&self) -> Vec<u8> {
        let mut s = serde_json::to_string(self).expect("envelope serializes");
        s.push('\n');
        s.into_bytes()
    }

    /// Parse the first non-empty line of a `.intoto.jsonl` file.
    pub fn from_jsonl(name: &str, text: &str) -> Result<Envelope> {
        let line = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .ok_or_else(|| Error::check(format!("{name}: empty provenance file")))?;
        serde_json::from_str(line).map_err(|e| Error::check(format!("{name}: not a DSSE envelope: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        // From the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    struct Xor;
    impl Signer for Xor {
        fn keyid(&self) -> String {
            "k".into()
        }
        fn sign(&self, d: &[u8]) -> Result<Vec<u8>> {
            Ok(d.iter().map(|b| b ^ 0x5a).collect())
        }
    }
    impl Verifier for Xor {
        fn verify(&self, d: &[u8], s: &[u8]) -> Result<()> {
            if self.sign(d)? == s {
                Ok(())
            } else {
                Err(Error::check("bad signature"))
            }
        }
    }

    #[test]
    fn wrap_verify_and_tamper() {
        let e = Envelope::wrap(IN_TOTO_PAYLOAD_TYPE, b"{}", Some(&Xor)).unwrap();
        e.verify(&Xor).unwrap();
        let mut t = e.clone();
        t.payload = B64.encode(b"{ }");
        assert_eq!(t.verify(&Xor).unwrap_err().exit_code(), 1);
        let line = String::from_utf8(e.to_line()).unwrap();
        assert_eq!(Envelope::from_jsonl("x", &line).unwrap(), e);
        assert!(Envelope::wrap(IN_TOTO_PAYLOAD_TYPE, b"{}", None).unwrap().verify(&Xor).is_err());
    }
}
