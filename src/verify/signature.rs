//! `verify --public-key KEY.asc`: the OpenPGP signature of a release's `SHA256SUMS`
//! (`SHA256SUMS.asc` beside it, written by the release's sign step) checked with a given key.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// One signature checked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignatureCheck {
    /// The signed file.
    pub file: PathBuf,
    pub signature: PathBuf,
    pub ok: bool,
    pub detail: String,
}

/// The signed checksum file a PATH stands for: a directory's `SHA256SUMS`, else the file itself.
fn signed_file(p: &Path) -> PathBuf {
    if p.is_dir() {
        p.join(crate::manifest::SHA256SUMS)
    } else {
        p.to_path_buf()
    }
}

fn with_asc(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".asc");
    PathBuf::from(s)
}

/// Check `<file>.asc` for each PATH that has one, with the armored public key `key`. No PATH
/// with a signature: exit 2 naming what was looked for (a key was given, so a signature is
/// expected). A signature that does not verify is reported (`ok: false`); the caller exits 1.
pub fn check(paths: &[PathBuf], key: &Path) -> Result<Vec<SignatureCheck>> {
    let public = std::fs::read_to_string(key).map_err(|e| Error::io(key, "read the public key", e))?;
    let fpr = {
        use pgp::types::KeyDetails;
        let k = crate::sign::parse_public(&public).map_err(|e| e.context(key.display()))?;
        hex::encode_upper(k.primary_key.fingerprint().as_bytes())
    };
    let paths: Vec<PathBuf> = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut out = Vec::new();
    let mut looked = Vec::new();
    for p in &paths {
        let file = signed_file(p);
        let sig = with_asc(&file);
        if !sig.is_file() {
            looked.push(sig.display().to_string());
            continue;
        }
        let data = std::fs::read(&file).map_err(|e| Error::io(&file, "read", e))?;
        let sigb = std::fs::read(&sig).map_err(|e| Error::io(&sig, "read", e))?;
        let (ok, detail) = match crate::sign::verify_detached(&public, &data, &sigb) {
            Ok(()) => (true, format!("good signature by {fpr}")),
            Err(e) if e.exit_code() == 1 => (false, e.to_string()),
            Err(e) => return Err(e.context(sig.display())),
        };
        out.push(SignatureCheck {
            file,
            signature: sig,
            ok,
            detail,
        });
    }
    if out.is_empty() {
        return Err(Error::input(format!(
            "--public-key {} given, but there is no signature to check: {} not found",
            key.display(),
            looked.join(", ")
        )));
    }
    Ok(out)
}
