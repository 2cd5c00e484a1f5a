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
//! Exit codes as for `verify`: 0 all good, 1 a check failed, 2 unusable input.

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

/// Check a release directory against its provenance.
pub fn verify_provenance(opts: &ProvenanceOptions) -> Result<ProvenanceReport> {
    let path = match &opts.provenance {
        Some(p) => p.clone(),
        None => find_provenance(&opts.dir)?,
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, "read provenance", e))?;
    let mut checks = Vec::new();
    let env = match dsse::Envelope::from_jsonl(&name, &text) {
        Ok(e) => e,
        Err(e) => {
            push(&mut checks, "statement", &name, false, e.to_string());
            return Ok(ProvenanceReport {
                provenance: path,
                version: String::new(),
                checks,
            });
        }
    };
    // Signature first: a tampered payload fails here, whatever it claims.
    match &opts.public_key {
        Some(k) => {
            let armored = std::fs::read_to_string(k).map_err(|e| Error::io(k, "read public key", e))?;
            let verifier = provenance::pgp::PgpVerifier::from_armored(&armored).map_err(|e| e.context(k.display()))?;
            match env.verify(&verifier) {
                Ok(()) => push(&mut checks, "signature", &name, true, format!("signed by {}", verifier.fingerprint)),
                Err(e) => push(&mut checks, "signature", &name, false, e.to_string()),
            }
        }
        None => push(&mut checks, "signature", &name, true, "not checked (no --public-key given)".into()),
    }
    let st = match parse_statement(&name, &env) {
        Ok(s) => s,
        Err(e) => {
            push(&mut checks, "statement", &name, false, e.to_string());
            return Ok(ProvenanceReport {
                provenance: path,
                version: String::new(),
                checks,
            });
        }
    };
    let version = st["predicate"]["buildDefinition"]["externalParameters"]["version"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let subjects: BTreeMap<String, String> = st["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["name"].as_str()?.to_string(), s["digest"]["sha256"].as_str()?.to_string())))
        .collect();
    let files: BTreeMap<String, String> = provenance::subjects(&opts.dir)?.into_iter().collect();
    for (f, h) in &files {
        match subjects.get(f) {
            Some(s) if s.eq_ignore_ascii_case(h) => push(&mut checks, "subject", f, true, "sha256 matches".into()),
            Some(s) => push(&mut checks, "subject", f, false, format!("sha256 {h}, the provenance says {s}")),
            None => push(&mut checks, "subject", f, false, "is not a subject of the provenance".into()),
        }
    }
    for s in subjects.keys().filter(|s| !files.contains_key(*s)) {
        push(&mut checks, "subject", s, false, format!("missing from {}", opts.dir.display()));
    }
    if let Some(h) = &opts.hashes {
        let text = std::fs::read_to_string(h).map_err(|e| Error::io(h, "read hashes file", e))?;
        let lines = crate::verify::parse::hashes_text(h, &text)?;
        let want = format!("valkey-{version}.tar.gz");
        let ours = source_sha256(&st);
        let theirs: Vec<&str> = lines.iter().filter(|l| l.file == want).map(|l| l.sha256.as_str()).collect();
        match (ours, theirs.is_empty()) {
            (_, true) => push(
                &mut checks,
                "source",
                &want,
                false,
                format!("{} has no line for {want}", h.display()),
            ),
            (None, _) => push(
                &mut checks,
                "source",
                &want,
                false,
                "the provenance records no source sha256".into(),
            ),
            (Some(o), _) if theirs.iter().any(|t| t.eq_ignore_ascii_case(&o)) => {
                push(&mut checks, "source", &want, true, format!("sha256 {o} matches {}", h.display()))
            }
            (Some(o), _) => push(
                &mut checks,
                "source",
                &want,
                false,
                format!("the provenance records sha256 {o}, {} lists {}", h.display(), theirs.join(", ")),
            ),
        }
    }
    Ok(ProvenanceReport {
        provenance: path,
        version,
        checks,
    })
}

/// `verify --provenance [DIR]`: print one line per check (or JSON) and return the exit status.
pub fn run_cli(
    json: bool,
    paths: Vec<PathBuf>,
    hashes: Option<PathBuf>,
    public_key: Option<PathBuf>,
    provenance: Option<PathBuf>,
) -> Result<()> {
    if paths.len() > 1 {
        return Err(Error::input("verify --provenance takes one release directory"));
    }
    let dir = paths.into_iter().next().unwrap_or_else(|| PathBuf::from("."));
    if !dir.is_dir() {
        return Err(Error::input(format!(
            "{}: not a directory (verify --provenance checks a release directory)",
            dir.display()
        )));
    }
    let report = verify_provenance(&ProvenanceOptions {
        dir,
        provenance,
        public_key,
        hashes,
    })?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Error::external(e.to_string()))?
        );
    } else {
        for c in &report.checks {
            println!("{} {}: {} ({})", c.check, c.item, if c.ok { "OK" } else { "FAILED" }, c.detail);
        }
    }
    report.into_result()
}
