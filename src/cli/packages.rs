//! `valkey-release repo`, `sign` and `verify-signature`: the apt repositories of a release's
//! .debs, the release's `SHA256SUMS.asc`, and checking an OpenPGP signature with a public key.

use super::Global;
use crate::error::{Error, Result};
use crate::sign::{self, SigningKey, PUBLIC_KEY_FILE};
use std::path::{Path, PathBuf};

/// Build or update the signed apt repositories from a dist directory's .debs.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The .debs are DIST's manifest artifacts of kind deb (what the build's deb hook made). Each goes to ROOT/packaging/valkey-<M.m>/deb/<platform>/<arch>/ (arch all into every arch of its \
platform); the index there is merged with the one already in ROOT, so earlier patch versions stay installable. \
Packages are written first, then Packages, Packages.gz, Release, Release.gpg, InRelease, then all is verified. \
The .rpms (kind rpm) are signed in DIST with the key first, then go to ROOT/packaging/valkey-<M.m>/rpm/<platform>/<arch>/ \
with repodata/ by createrepo_c --update (on this host) and repomd.xml.asc. \
ROOT/packaging/GPG-KEY-valkey.asc gets the public key. Users' sources line (docs/packages.md):\n  \
deb [signed-by=/usr/share/keyrings/valkey.asc] https://download.valkey.io/packaging/valkey-8.1/deb/debian12/amd64 ./"
)]
pub struct RepoArgs {
    /// The dist directory of a build.
    #[arg(long, value_name = "DIST", default_value = "dist")]
    pub dist: PathBuf,
    /// The repository tree to update (a local copy of the store, or a file:// store's directory).
    #[arg(long, value_name = "ROOT")]
    pub root: PathBuf,
    /// Armored OpenPGP secret key file (default: $VALKEY_RELEASE_SIGNING_KEY).
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
}

/// Sign a SHA256SUMS file: writes SHA256SUMS.asc and GPG-KEY-valkey.asc beside it.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The file to sign (usually dist/SHA256SUMS).
    #[arg(value_name = "FILE", default_value = "dist/SHA256SUMS")]
    pub file: PathBuf,
    /// Armored OpenPGP secret key file (default: $VALKEY_RELEASE_SIGNING_KEY).
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
}

/// Check a detached OpenPGP signature (e.g. SHA256SUMS.asc) with a public key.
#[derive(Debug, clap::Args)]
pub struct VerifySignatureArgs {
    /// The signed file (e.g. SHA256SUMS).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The signature (default: FILE.asc).
    #[arg(long, value_name = "SIG")]
    pub signature: Option<PathBuf>,
    /// The armored public key (GPG-KEY-valkey.asc).
    #[arg(long, value_name = "KEY")]
    pub public_key: PathBuf,
}

fn read(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).map_err(|e| Error::io(p, "read", e))
}

pub async fn run_repo(g: &Global, a: RepoArgs) -> Result<()> {
    crate::fsutil::check_dir_arg(&a.dist, "--dist", "the dist directory of a build")?;
    crate::fsutil::check_dir_arg(&a.root, "--root", "the repository tree to update")?;
    let key = SigningKey::require(a.signing_key.as_deref())?;
    let key = key.at(crate::manifest::Manifest::load(&a.dist)?.source_date_epoch);
    // The .rpms are signed in DIST first (a no-op when they are): the repository holds signed ones.
    let sde = crate::manifest::Manifest::load(&a.dist)?.source_date_epoch;
    crate::pkg::rpm::sign_dist_rpms(&a.dist, &key, u32::try_from(sde).unwrap_or(0))?;
    let plan = crate::repo::store::plan_dist(&a.dist)?;
    if plan.is_empty() {
        return Err(Error::input(format!(
            "{}: its manifest lists no artifact of kind deb or rpm: build targets with packages = [\"deb\"] or [\"rpm\"] first",
            a.dist.display()
        )));
    }
    // apt and yum: the same store code as the release's repositories step, on a directory store.
    crate::fsutil::create_dir_all(&a.root)?;
    let store = crate::store::file::FileStore::new(&a.root)?;
    let reports = crate::repo::store::publish_all(&store, &plan, &key, true).await?;
    let yum: Vec<&crate::repo::store::RepoReport> = reports.iter().filter(|r| r.format == "yum").collect();
    let pubfile = a.root.join(crate::repo::store::public_key_key());
    if g.json {
        let v = serde_json::json!({"fingerprint": key.fingerprint(), "public_key": pubfile, "repositories": reports, "yum": yum});
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        for r in &reports {
            println!(
                "{}: {} added, {} already there, {} indexed",
                r.key,
                r.added.len(),
                r.already.len(),
                r.indexed.len()
            );
        }
        println!("signed by {}; public key: {}", key.fingerprint(), pubfile.display());
    }
    Ok(())
}

pub async fn run_sign(g: &Global, a: SignArgs) -> Result<()> {
    let data = read(&a.file)?;
    let key = SigningKey::require(a.signing_key.as_deref())?;
    let sig = key.detached_armored(&data)?;
    let mut out = a.file.clone().into_os_string();
    out.push(".asc");
    let out = PathBuf::from(out);
    std::fs::write(&out, &sig).map_err(|e| Error::io(&out, "write", e))?;
    let pubfile = a.file.parent().unwrap_or(Path::new(".")).join(PUBLIC_KEY_FILE);
    std::fs::write(&pubfile, key.public_armored()).map_err(|e| Error::io(&pubfile, "write", e))?;
    sign::verify_detached(&key.public_armored(), &data, sig.as_bytes())?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({"signature": out, "public_key": pubfile, "fingerprint": key.fingerprint()})
        );
    } else {
        println!("{} (key {}), {}", out.display(), key.fingerprint(), pubfile.display());
    }
    Ok(())
}

pub async fn run_verify_signature(g: &Global, a: VerifySignatureArgs) -> Result<()> {
    let sig_path = a.signature.clone().unwrap_or_else(|| {
        let mut s = a.file.clone().into_os_string();
        s.push(".asc");
        PathBuf::from(s)
    });
    let public = String::from_utf8_lossy(&read(&a.public_key)?).to_string();
    let fpr = sign::parse_public(&public).map_err(|e| e.context(a.public_key.display()))?;
    let fingerprint = {
        use pgp::types::KeyDetails;
        hex::encode_upper(fpr.primary_key.fingerprint().as_bytes())
    };
    sign::verify_detached(&public, &read(&a.file)?, &read(&sig_path)?)
        .map_err(|e| e.context(format!("{} with {}", sig_path.display(), a.public_key.display())))?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({"file": a.file, "signature": sig_path, "fingerprint": fingerprint, "ok": true})
        );
    } else {
        println!("ok  {}: good signature by {fingerprint}", a.file.display());
    }
    Ok(())
}
