//! `valkey-release sbom` and `valkey-release provenance` (arguments; the logic is in
//! crate::sbom and crate::provenance). See docs/trust.md.

use super::Global;
use crate::error::Result;
use std::path::PathBuf;

/// Write `<artifact>.spdx.json` (SPDX 2.3) for every artifact of a dist directory, from the
/// facts its build's sbom-facts hook gathered under dist/facts/<target>/.
#[derive(Debug, clap::Args)]
pub struct SbomArgs {
    /// The dist directory (manifest.json, artifacts, facts/).
    #[arg(long, default_value = "dist", value_name = "DIR")]
    pub dist: PathBuf,
}

/// Write the release's provenance `valkey-<V>.intoto.jsonl`: an in-toto Statement v1 with a SLSA
/// Provenance v1 predicate over every file of the dist directory, in a DSSE envelope signed with
/// the release key when one is given.
#[derive(Debug, clap::Args)]
pub struct ProvenanceArgs {
    /// The dist directory (write SBOMs first: they are subjects too).
    #[arg(long, default_value = "dist", value_name = "DIR")]
    pub dist: PathBuf,
    /// Recorded as the `environment` external parameter (dev, prod; local outside a release).
    #[arg(long, default_value = "local", value_name = "ENV")]
    pub environment: String,
    /// Armored OpenPGP secret key file to sign with (else $VALKEY_RELEASE_SIGNING_KEY; else unsigned).
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// Unix time the release run started (recorded as startedOn; default: now).
    #[arg(long, value_name = "SECONDS")]
    pub started: Option<i64>,
}

pub async fn run_sbom(g: &Global, a: SbomArgs) -> Result<()> {
    let matrix = g.matrix()?;
    let written = crate::sbom::write_for_dist(&a.dist, &matrix.artifact.public_url)?;
    if g.json {
        println!("{}", serde_json::json!({ "sboms": written }));
    } else {
        for w in written {
            println!("{}", a.dist.join(w).display());
        }
    }
    Ok(())
}

pub async fn run_provenance(g: &Global, a: ProvenanceArgs) -> Result<()> {
    let matrix = g.matrix()?;
    let now = chrono::Utc::now().timestamp();
    let run = crate::provenance::RunInfo {
        environment: a.environment,
        started: a.started.unwrap_or(now),
        finished: now,
    };
    let signer = crate::sign::SigningKey::load(a.signing_key.as_deref())?;
    let name = crate::provenance::write_for_dist(
        &a.dist,
        &matrix,
        &run,
        signer.as_ref().map(|s| s as &dyn crate::provenance::dsse::Signer),
    )?;
    if g.json {
        println!("{}", serde_json::json!({ "provenance": name, "signed": signer.is_some() }));
    } else {
        println!(
            "{}{}",
            a.dist.join(&name).display(),
            if signer.is_some() { " (signed)" } else { " (unsigned)" }
        );
    }
    Ok(())
}
