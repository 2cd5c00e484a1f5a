//! `verify --provenance`: check a downloaded release against its `valkey-<V>.intoto.jsonl`.
//!
//! - the envelope is a DSSE envelope of an in-toto Statement v1 with a SLSA Provenance v1
//!   predicate;
//! - with a public key, a signature of the envelope verifies with it (an unsigned envelope fails);
//! - every file of the release directory is a subject with the same sha256, and every subject
//!   is present;
//! - with a valkey-hashes file, the source digest recorded in the provenance equals the line of
//!   `valkey-<V>.tar.gz` there.
//!
//! A published release (a store URL or an HTTP(S) prefix) is downloaded first
//! ([`super::published`]) and checked the same way.
//!
//! Exit codes as for `verify`: 0 all good, 1 a check failed, 2 unusable input, 3 the store or
//! the network failed.

use crate::error::{Error, Result};
use crate::provenance::{self, dsse};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to check.
#[derive(Debug, Clone)]
pub struct ProvenanceOptions {
    /// The release directory (artifacts and the provenance file).
    pub dir: PathBuf,
    /// The provenance file (default: the one `*.intoto.jsonl` in `dir`).
    pub provenance: Option<PathBuf>,
    /// Armored OpenPGP public key the envelope must be signed with.
    pub public_key: Option<PathBuf>,
    /// A valkey-hashes README: the source digest must equal its line for the version.
    pub hashes: Option<PathBuf>,
}

/// One check and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `signature`, `subject`, `source`, `statement`.
    pub check: String,
    /// The file or item it is about.
    pub item: String,
    pub ok: bool,
    pub detail: String,
}

/// The result of `verify --provenance`.
#[derive(Debug, Clone, Serialize)]
pub struct ProvenanceReport {
    pub provenance: PathBuf,
    pub version: String,
    pub checks: Vec<Check>,
}

impl ProvenanceReport {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
    /// Exit 1 naming each failed check.
    pub fn into_result(&self) -> Result<()> {
        let failed: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{} {}: {}", c.check, c.item, c.detail))
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::check(format!("provenance check failed:\n  {}", failed.join("\n  "))))
        }
    }
}

fn find_provenance(dir: &Path) -> Result<PathBuf> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "read release directory", e))?;
    let mut found: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .map(|n| provenance::is_provenance(&n.to_string_lossy()))
                .unwrap_or(false)
        })
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::check(format!(
            "{}: no provenance (*.intoto.jsonl) in the release directory",
            dir.display()
        ))),
        _ => Err(Error::input(format!(
            "{}: several provenance files ({}); name one with --provenance-file",
            dir.display(),
            found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Parse and check the statement's shape; returns it.
fn parse_statement(name: &str, env: &dsse::Envelope) -> Result<Value> {
    if env.payload_type != dsse::IN_TOTO_PAYLOAD_TYPE {
        return Err(Error::check(format!(
            "{name}: payloadType is {:?}, expected {:?}",
            env.payload_type,
            dsse::IN_TOTO_PAYLOAD_TYPE
        )));
    }
    let st: Value =
        serde_json::from_slice(&env.payload_bytes()?).map_err(|e| Error::check(format!("{name}: the payload is not JSON: {e}")))?;
    if st["_type"] != provenance::STATEMENT_TYPE || st["predicateType"] != provenance::PREDICATE_TYPE {
        return Err(Error::check(format!(
            "{name}: not an in-toto Statement v1 with a SLSA Provenance v1 predicate (_type {}, predicateType {})",
            st["_type"], st["predicateType"]
        )));
    }
    Ok(st)
}

/// The source archive's sha256 as the provenance records it (first resolved dependency).
pub fn source_sha256(st: &Value) -> Option<String> {
    st["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"]["sha256"]
        .as_str()
        .map(str::to_string)
}

fn push(checks: &mut Vec<Check>, check: &str, item: &str, ok: bool, detail: String) {
    checks.push(Check {
        check: check.into(),
        item: item.into(),
        ok,
        detail,
    })
}

/// Parse the envelope, check its signature (with a key) and its statement; `None` when the
/// statement is unusable (the failure is in `checks`).
fn check_envelope(name: &str, text: &str, public_key: Option<&Path>, checks: &mut Vec<Check>) -> Result<Option<Value>> {
    let env = match dsse::Envelope::from_jsonl(name, text) {
        Ok(e) => e,
        Err(e) => {
            push(checks, "statement", name, false, e.to_string());
            return Ok(None);
        }
    };
    // Signature first: a tampered payload fails here, whatever it claims.
    match public_key {
        Some(k) => {
            let armored = std::fs::read_to_string(k).map_err(|e| Error::io(k, "read public key", e))?;
            let verifier = provenance::pgp::PgpVerifier::from_armored(&armored).map_err(|e| e.context(k.display()))?;
            match env.verify(&verifier) {
                Ok(()) => push(checks, "signature", name, true, format!("signed by {}", verifier.fingerprint)),
                Err(e) => push(checks, "signature", name, false, e.to_string()),
            }
        }
        None => push(checks, "signature", name, true, "not checked (no --public-key given)".into()),
    }
    match parse_statement(name, &env) {
        Ok(s) => Ok(Some(s)),
        Err(e) => {
            push(checks, "statement", name, false, e.to_string());
            Ok(None)
        }
    }
}

/// The statement's subjects: name -> sha256.
fn subject_map(st: &Value) -> BTreeMap<String, String> {
    st["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["name"].as_str()?.to_string(), s["digest"]["sha256"].as_str()?.to_string())))
        .collect()
}

fn version_of(st: &Value) -> String {
    st["predicate"]["buildDefinition"]["externalParameters"]["version"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The recorded source digest against valkey-hashes' line for the version.
fn check_source(st: &Value, hashes: &Path, checks: &mut Vec<Check>) -> Result<()> {
    let text = std::fs::read_to_string(hashes).map_err(|e| Error::io(hashes, "read hashes file", e))?;
    let lines = crate::verify::parse::hashes_text(hashes, &text)?;
    let want = format!("valkey-{}.tar.gz", version_of(st));
    let theirs: Vec<&str> = lines.iter().filter(|l| l.file == want).map(|l| l.sha256.as_str()).collect();
    let (ok, detail) = match source_sha256(st) {
        _ if theirs.is_empty() => (false, format!("{} has no line for {want}", hashes.display())),
        None => (false, "the provenance records no source sha256".to_string()),
        Some(o) if theirs.iter().any(|t| t.eq_ignore_ascii_case(&o)) => (true, format!("sha256 {o} matches {}", hashes.display())),
        Some(o) => (
            false,
            format!(
                "the provenance records sha256 {o}, {} lists {}",
                hashes.display(),
                theirs.join(", ")
            ),
        ),
    };
    push(checks, "source", &want, ok, detail);
    Ok(())
}

/// Compare the files found (name -> sha256, `None` when absent) with the subjects.
fn check_subjects(subjects: &BTreeMap<String, String>, files: &BTreeMap<String, Option<String>>, place: &str, checks: &mut Vec<Check>) {
    for (f, h) in files {
        match (subjects.get(f), h) {
            (Some(s), Some(h)) if s.eq_ignore_ascii_case(h) => push(checks, "subject", f, true, "sha256 matches".into()),
            (Some(s), Some(h)) => push(checks, "subject", f, false, format!("sha256 {h}, the provenance says {s}")),
            (Some(_), None) => push(checks, "subject", f, false, format!("missing from {place}")),
            (None, _) => push(checks, "subject", f, false, "is not a subject of the provenance".into()),
        }
    }
}

/// Check a release directory against its provenance.
pub fn verify_provenance(opts: &ProvenanceOptions) -> Result<ProvenanceReport> {
    let path = match &opts.provenance {
        Some(p) => p.clone(),
        None => find_provenance(&opts.dir)?,
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, "read provenance", e))?;
    let mut checks = Vec::new();
    let Some(st) = check_envelope(&name, &text, opts.public_key.as_deref(), &mut checks)? else {
        return Ok(ProvenanceReport {
            provenance: path,
            version: String::new(),
            checks,
        });
    };
    let subjects = subject_map(&st);
    let mut files: BTreeMap<String, Option<String>> = provenance::subjects(&opts.dir)?.into_iter().map(|(n, h)| (n, Some(h))).collect();
    for s in subjects.keys() {
        files.entry(s.clone()).or_insert(None);
    }
    check_subjects(&subjects, &files, &opts.dir.display().to_string(), &mut checks);
    if let Some(h) = &opts.hashes {
        check_source(&st, h, &mut checks)?;
    }
    Ok(ProvenanceReport {
        provenance: path,
        version: version_of(&st),
        checks,
    })
}

/// Check a published release (`s3://BUCKET/PREFIX/`, `file://DIR`, `https://HOST/PREFIX/`)
/// against its provenance: the release is downloaded into a temporary directory
/// ([`super::published`]) and checked there like a local one; the report names the URL.
pub async fn verify_published(
    url: &str,
    version: Option<&str>,
    provenance: Option<&str>,
    public_key: Option<&Path>,
    hashes: Option<&Path>,
) -> Result<ProvenanceReport> {
    let tmp = tempfile::Builder::new()
        .prefix("valkey-release-verify.")
        .tempdir()
        .map_err(|e| Error::io(&std::env::temp_dir(), "create temporary directory", e))?;
    let want = super::published::Wanted {
        version: version.map(str::to_string),
        targets: vec![],
        provenance: provenance.map(str::to_string),
        subjects: true,
    };
    let got = super::published::download(url, &want, tmp.path()).await?;
    let base = if url.ends_with('/') { url.to_string() } else { format!("{url}/") };
    let name = got.provenance.clone().ok_or_else(|| {
        Error::check(format!(
            "{base}{}: no such provenance file",
            want.provenance
                .clone()
                .unwrap_or_else(|| crate::provenance::file_name(&got.manifest.version))
        ))
    })?;
    let mut report = verify_provenance(&ProvenanceOptions {
        dir: tmp.path().to_path_buf(),
        provenance: Some(tmp.path().join(&name)),
        public_key: public_key.map(Path::to_path_buf),
        hashes: hashes.map(Path::to_path_buf),
    })?;
    // Name what was checked as published, not the temporary copy.
    let local = tmp.path().display().to_string();
    report.provenance = format!("{base}{name}").into();
    for c in &mut report.checks {
        c.item = c.item.replace(&format!("{local}/"), &base);
        c.detail = c.detail.replace(&local, base.trim_end_matches('/'));
    }
    Ok(report)
}

/// The version a provenance file name `valkey-<V>.intoto.jsonl` is of.
fn version_of_name(name: &str) -> Option<&str> {
    name.strip_prefix("valkey-")?.strip_suffix(".intoto.jsonl")
}

/// `verify --provenance [DIR]`: print one line per check (or JSON) and return the exit status.
pub fn run_cli(
    json: bool,
    paths: Vec<PathBuf>,
    version: Option<String>,
    hashes: Option<PathBuf>,
    public_key: Option<PathBuf>,
    provenance: Option<PathBuf>,
) -> Result<()> {
    if paths.len() > 1 {
        return Err(Error::input("verify --provenance takes one release directory or store URL"));
    }
    let dir = paths.into_iter().next().unwrap_or_else(|| PathBuf::from("."));
    let as_text = dir.to_string_lossy().into_owned();
    if as_text.contains("://") {
        let name = provenance.as_ref().map(|p| p.to_string_lossy().into_owned());
        let version = version.or_else(|| name.as_deref().and_then(version_of_name).map(str::to_string));
        let report = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(verify_published(
                &as_text,
                version.as_deref(),
                name.as_deref(),
                public_key.as_deref(),
                hashes.as_deref(),
            ))
        })?;
        return print_report(json, &report);
    }
    if version.is_some() {
        return Err(Error::input(
            "--version goes with a published release (verify --provenance s3://BUCKET/PREFIX/ --version V)",
        ));
    }
    if !dir.is_dir() {
        return Err(Error::input(format!(
            "{}: not a directory (verify --provenance checks a release directory or a store URL)",
            dir.display()
        )));
    }
    let report = verify_provenance(&ProvenanceOptions {
        dir,
        provenance,
        public_key,
        hashes,
    })?;
    print_report(json, &report)
}

fn print_report(json: bool, report: &ProvenanceReport) -> Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).map_err(|e| Error::external(e.to_string()))?
        );
    } else {
        for c in &report.checks {
            println!("{} {}: {} ({})", c.check, c.item, if c.ok { "OK" } else { "FAILED" }, c.detail);
        }
    }
    report.into_result()
}
