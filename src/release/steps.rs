//! The release's trust and packaging steps with the real stages: `sbom`, `sign`, `provenance`
//! (in the dist directory, after build) and `repositories` (in the store, after verify).
//! Each has a run and a probe ("done and still true?") that looks at content, not at the
//! state file: a changed SHA256SUMS makes `sign` run again, a changed file makes `provenance`
//! run again, a package missing from an index makes `repositories` run again.

use super::real::RealStages;
use super::{Ctx, Link, Outcome};
use crate::error::{Error, Result};
use crate::manifest::{Manifest, SHA256SUMS};
use crate::sign::{self, SigningKey, PUBLIC_KEY_FILE};
use std::path::Path;

/// The signature file of SHA256SUMS in a dist directory.
pub const SUMS_SIGNATURE: &str = "SHA256SUMS.asc";

/// Why the key is needed, for the skip reasons.
fn no_key(what: &str) -> String {
    format!("no signing key (--signing-key FILE or ${}): {what}", sign::KEY_ENV)
}

/// Why `repositories` does not run in a tarball-only release.
pub const NO_PACKAGES: &str = "--no-packages: a tarball-only release (no .deb/.rpm, no package repositories)";

/// `sign` and `repositories` need the key; `repositories` also needs packages.
pub fn not_configured(stages: &RealStages<'_>, step: super::Step, ctx: &Ctx<'_>) -> Option<String> {
    match step {
        super::Step::Sign if stages.key.is_none() => Some(no_key("SHA256SUMS is not signed")),
        super::Step::Repositories if stages.opts.no_packages => Some(NO_PACKAGES.into()),
        super::Step::Repositories => {
            let has_packages = Manifest::load(ctx.dist)
                .map(|m| {
                    crate::repo::formats()
                        .iter()
                        .any(|f| m.artifacts.iter().any(|a| a.kind == f.package_kind()))
                })
                .unwrap_or(false);
            if !has_packages {
                Some("this release has no packages (no target with packages = [\"deb\"] or [\"rpm\"])".into())
            } else if stages.key.is_none() {
                Some(no_key("apt and dnf refuse an unsigned repository"))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The SBOM bytes every non-sbom artifact should have, compared with what dist holds; with a
/// key, every .rpm must also be signed by it (else the step signs them and rewrites the SBOMs).
pub fn sbom_probe(dist: &Path, public_url: &str, key: Option<&SigningKey>) -> Result<Option<Outcome>> {
    if let Some(k) = key {
        if !crate::pkg::rpm::dist_rpms_signed(dist, k)? {
            return Ok(None);
        }
    }
    let m = Manifest::load(dist)?;
    let kind = crate::artifact::Kind::name(&crate::artifact::sbom::Sbom);
    let mut n = 0;
    for a in m.artifacts.iter().filter(|a| a.kind != kind) {
        let name = format!("{}{}", a.file, crate::artifact::sbom::EXTENSION);
        let Some(entry) = m.artifacts.iter().find(|s| s.kind == kind && s.file == name) else {
            return Ok(None);
        };
        let Ok(on_disk) = std::fs::read(dist.join(&name)) else {
            return Ok(None);
        };
        if hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&on_disk)) != entry.sha256
            || crate::sbom::render_for(dist, &m, a, public_url)? != on_disk
        {
            return Ok(None);
        }
        n += 1;
    }
    Ok(Some(Outcome::new(format!("{n} SBOM(s) present and current"))))
}

/// With a key, first sign the .rpms (the SBOMs, SHA256SUMS and provenance then name the signed
/// bytes: the ones published); then write every SBOM.
pub fn sbom_run(dist: &Path, public_url: &str, key: Option<&SigningKey>) -> Result<Outcome> {
    let signed = match key {
        Some(k) => crate::pkg::rpm::sign_dist_rpms_before_sboms(dist, k)?,
        None => Vec::new(),
    };
    let written = crate::sbom::write_for_dist(dist, public_url)?;
    let mut summary = format!("{} SBOM(s) written (SPDX 2.3)", written.len());
    if !signed.is_empty() {
        summary.push_str(&format!(", {} .rpm(s) signed first", signed.len()));
    }
    Ok(Outcome::new(summary).with_data(&serde_json::json!({ "sboms": written, "rpms_signed": signed })))
}

/// `SHA256SUMS.asc` verifies with the key against the current SHA256SUMS, and
/// `GPG-KEY-valkey.asc` is the key's public half.
pub fn sign_probe(dist: &Path, key: &SigningKey) -> Result<Option<Outcome>> {
    let (Ok(sums), Ok(sig), Ok(public)) = (
        std::fs::read(dist.join(SHA256SUMS)),
        std::fs::read(dist.join(SUMS_SIGNATURE)),
        std::fs::read_to_string(dist.join(PUBLIC_KEY_FILE)),
    ) else {
        return Ok(None);
    };
    let armored = key.public_armored();
    if public != armored || sign::verify_detached(&armored, &sums, &sig).is_err() {
        return Ok(None);
    }
    Ok(Some(sign_outcome(key, "signature present and good")))
}

fn sign_outcome(key: &SigningKey, what: &str) -> Outcome {
    Outcome::new(format!("{SUMS_SIGNATURE} ({what}), {PUBLIC_KEY_FILE}: key {}", key.fingerprint()))
        .with_data(&serde_json::json!({"signature": SUMS_SIGNATURE, "public_key": PUBLIC_KEY_FILE, "fingerprint": key.fingerprint()}))
}

pub fn sign_run(dist: &Path, key: &SigningKey) -> Result<Outcome> {
    let key = &key.at(Manifest::load(dist)?.source_date_epoch);
    let sums = std::fs::read(dist.join(SHA256SUMS)).map_err(|e| Error::io(&dist.join(SHA256SUMS), "read", e))?;
    let sig = key.detached_armored(&sums)?;
    sign::verify_detached(&key.public_armored(), &sums, sig.as_bytes())?;
    crate::fsutil::write_atomic(&dist.join(PUBLIC_KEY_FILE), key.public_armored().as_bytes())?;
    crate::fsutil::write_atomic(&dist.join(SUMS_SIGNATURE), sig.as_bytes())?;
    Ok(sign_outcome(key, "signed now"))
}

/// The provenance is there, its subjects are exactly the dist's files now, its environment is
/// this release's, and it is signed with the key (or unsigned without one).
pub fn provenance_probe(dist: &Path, env: &str, key: Option<&SigningKey>) -> Result<Option<Outcome>> {
    let Ok(m) = Manifest::load(dist) else { return Ok(None) };
    let name = crate::provenance::file_name(&m.version);
    let Ok(text) = std::fs::read_to_string(dist.join(&name)) else {
        return Ok(None);
    };
    let Ok(envelope) = crate::provenance::dsse::Envelope::from_jsonl(&name, &text) else {
        return Ok(None);
    };
    match key {
        Some(k) => {
            let v = crate::provenance::pgp::PgpVerifier::from_armored(&k.public_armored())?;
            if envelope.verify(&v).is_err() {
                return Ok(None);
            }
        }
        None if !envelope.signatures.is_empty() => return Ok(None),
        None => {}
    }
    let Ok(st) = envelope
        .payload_bytes()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| Error::check(e.to_string())))
    else {
        return Ok(None);
    };
    let recorded: Vec<(String, String)> = st["subject"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap_or_default().to_string(),
                        s["digest"]["sha256"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let now = crate::provenance::subjects(dist)?;
    if recorded != now || st["predicate"]["buildDefinition"]["externalParameters"]["environment"] != env {
        return Ok(None);
    }
    Ok(Some(provenance_outcome(&name, now.len(), key.is_some())))
}

fn provenance_outcome(name: &str, subjects: usize, signed: bool) -> Outcome {
    Outcome::new(format!(
        "{name}: {subjects} subject(s), {}",
        if signed { "signed" } else { "unsigned (no signing key)" }
    ))
    .with_data(&serde_json::json!({"provenance": name, "subjects": subjects, "signed": signed}))
}

pub fn provenance_run(dist: &Path, matrix: &crate::targets::Matrix, env: &str, started: i64, key: Option<&SigningKey>) -> Result<Outcome> {
    let run = crate::provenance::RunInfo {
        environment: env.to_string(),
        started,
        finished: chrono::Utc::now().timestamp(),
    };
    let key = match key {
        Some(k) => Some(k.at(Manifest::load(dist)?.source_date_epoch)),
        None => None,
    };
    let name = crate::provenance::write_for_dist(dist, matrix, &run, key.as_ref().map(|k| k as &dyn crate::provenance::dsse::Signer))?;
    Ok(provenance_outcome(&name, crate::provenance::subjects(dist)?.len(), key.is_some()))
}

fn repositories_outcome(reports: &[crate::repo::store::RepoReport], what: &str) -> Outcome {
    let added: usize = reports.iter().map(|r| r.added.len()).sum();
    let mut o = Outcome::new(format!(
        "{} repositor{} {what}: {added} package(s) added, {} indexed in all",
        reports.len(),
        if reports.len() == 1 { "y" } else { "ies" },
        reports.iter().map(|r| r.indexed.len()).sum::<usize>()
    ))
    .with_data(&reports);
    for r in reports {
        o.links
            .push(Link::new("repository", format!("{} {}", r.format, r.key), r.uri.clone()));
    }
    o
}

impl RealStages<'_> {
    fn key_or_err(&self) -> Result<&SigningKey> {
        self.key.as_ref().ok_or_else(|| Error::input(no_key("needed by this step")))
    }

    pub(super) async fn repositories_probe(&self, ctx: &Ctx<'_>) -> Result<Option<Outcome>> {
        let key = self.key_or_err()?;
        let plan = crate::repo::store::plan_dist(ctx.dist)?;
        let (_, store) = crate::upload::open_store(&self.upload_options(ctx)).await?;
        Ok(crate::repo::store::check_all(&*store, &plan, key)
            .await?
            .map(|r| repositories_outcome(&r, "already published and verified")))
    }

    pub(super) async fn repositories_run(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let key = self.key_or_err()?;
        let plan = crate::repo::store::plan_dist(ctx.dist)?;
        let key = key.at(Manifest::load(ctx.dist)?.source_date_epoch);
        let (_, store) = crate::upload::open_store(&self.upload_options(ctx)).await?;
        let prod = ctx.req.environment == super::payload::Environment::Prod && !self.opts.force_overwrite;
        let reports = crate::repo::store::publish_all(&*store, &plan, &key, prod).await?;
        Ok(repositories_outcome(&reports, "updated and verified"))
    }
}
