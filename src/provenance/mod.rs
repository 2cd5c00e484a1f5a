//! Provenance of a release: one in-toto Statement v1 with a SLSA Provenance v1 predicate,
//! wrapped in a DSSE envelope (signed with the release's OpenPGP key when one is given) and
//! written as `valkey-<V>.intoto.jsonl` into the dist directory.
//!
//! - subjects: every file of the dist directory (artifacts, checksum files, SBOMs, SHA256SUMS,
//!   manifest.json), by name and sha256;
//! - buildDefinition: [`BUILD_TYPE`], external parameters (version, targets, environment),
//!   internal parameters (SOURCE_DATE_EPOCH, the make command of each target), resolved
//!   dependencies (the source archive's digest and commit, each target's builder image digest
//!   and the digest of its package list, targets.toml's digest, this tool's version and commit);
//! - runDetails: the builder id (the GitHub Actions run URL, else `host://<name>`) and the
//!   start and finish times.

pub mod dsse;
pub mod pgp;

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::targets::Matrix;
use serde_json::{json, Value};
use std::path::Path;

/// The build type of a release made by this tool.
pub const BUILD_TYPE: &str = "https://github.com/valkey-io/valkey-release/buildtypes/release/v1";
/// in-toto Statement and SLSA predicate types.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";

/// File name of a release's provenance.
pub fn file_name(version: &str) -> String {
    format!("valkey-{version}.intoto.jsonl")
}

/// Is this dist file a provenance (never its own subject)?
pub fn is_provenance(name: &str) -> bool {
    name.ends_with(".intoto.jsonl")
}

/// Every top-level regular file of `dist` but provenance files, hidden files and the release's
/// own bookkeeping (`release-state.json`, rewritten after every step), sorted,
/// with its sha256.
pub fn subjects(dist: &Path) -> Result<Vec<(String, String)>> {
    let rd = std::fs::read_dir(dist).map_err(|e| Error::io(dist, "read directory", e))?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io(dist, "read directory", e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type().map(|t| t.is_file()).unwrap_or(false)
            || name.starts_with('.')
            || is_provenance(&name)
            || name == crate::release::state::STATE_FILE
        {
            continue;
        }
        out.push((name, crate::fsutil::sha256_file(&e.path())?.0));
    }
    out.sort();
    Ok(out)
}

/// Where and when the release was made.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// `dev`, `prod`, or `local` for a build outside the release workflow.
    pub environment: String,
    /// Unix seconds.
    pub started: i64,
    pub finished: i64,
}

/// The builder id: the GitHub Actions run URL when running there, else `host://<hostname>`.
pub fn builder_id(env: &dyn Fn(&str) -> Option<String>) -> String {
    match (env("GITHUB_SERVER_URL"), env("GITHUB_REPOSITORY"), env("GITHUB_RUN_ID")) {
        (Some(s), Some(r), Some(id)) if !s.is_empty() && !r.is_empty() && !id.is_empty() => {
            let mut u = format!("{s}/{r}/actions/runs/{id}");
            if let Some(a) = env("GITHUB_RUN_ATTEMPT").filter(|a| !a.is_empty()) {
                u.push_str(&format!("/attempts/{a}"));
            }
            u
        }
        _ => format!("host://{}", crate::farm::container::host_name()),
    }
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// The bytes of the targets.toml in use (the built-in copy when it was not loaded from a file).
fn matrix_bytes(matrix: &Matrix) -> Vec<u8> {
    std::fs::read(&matrix.path).unwrap_or_else(|_| crate::targets::EMBEDDED.as_bytes().to_vec())
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// The resolved dependencies of a release.
pub fn resolved_dependencies(dist: &Path, m: &Manifest, matrix: &Matrix, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Value>> {
    let mut deps = Vec::new();
    let mut digest = serde_json::Map::new();
    if let Some(s) = &m.source.sha256 {
        digest.insert("sha256".into(), json!(s));
    }
    if let Some(c) = m.source.git_commit.as_ref().or(m.source.source_sha.as_ref()) {
        digest.insert("gitCommit".into(), json!(c));
    }
    deps.push(json!({
        "name": m.source.name,
        "uri": m.source.url.clone().unwrap_or_else(|| format!("file:{}", m.source.name)),
        "digest": digest,
        "annotations": {"kind": m.source.kind},
    }));
    for a in m.artifacts.iter().filter(|a| a.kind == crate::artifact::DEFAULT_KIND) {
        let Some(b) = &a.build else { continue };
        let facts = crate::sbom::facts_path(dist, &a.target);
        let mut ann = serde_json::Map::new();
        ann.insert("target".into(), json!(a.target));
        ann.insert("mode".into(), json!(b.mode));
        if facts.exists() {
            let f = crate::sbom::facts::Facts::load(&facts)?;
            ann.insert("packagesSha256".into(), json!(f.packages_sha256));
            ann.insert("packagesCount".into(), json!(f.packages.len()));
            // The list itself (`package:arch` -> version), so a rebuild from a store (which
            // has no facts/) names each package that moved.
            ann.insert("packages".into(), json!(f.packages));
        }
        deps.push(json!({
            "name": format!("builder-image/{}", a.target),
            "uri": format!("docker-image:{}", b.builder_tag),
            "digest": {"sha256": b.builder_image.trim_start_matches("sha256:")},
            "annotations": ann,
        }));
    }
    deps.push(json!({
        "name": "targets.toml",
        "uri": format!("file:{}", matrix.path.display()),
        "digest": {"sha256": sha256(&matrix_bytes(matrix))},
    }));
    let mut tool = json!({
        "name": env!("CARGO_PKG_NAME"),
        "uri": "git+https://github.com/valkey-io/valkey-release",
        "digest": {},
        "annotations": {"version": env!("CARGO_PKG_VERSION")},
    });
    if let Some(c) = env("VALKEY_RELEASE_COMMIT").or_else(|| env("GITHUB_SHA")).filter(|c| !c.is_empty()) {
        tool["digest"]["gitCommit"] = json!(c);
    }
    deps.push(tool);
    Ok(deps)
}

/// The in-toto Statement of the release in `dist`.
pub fn statement(dist: &Path, matrix: &Matrix, run: &RunInfo, env: &dyn Fn(&str) -> Option<String>) -> Result<Value> {
    let m = Manifest::load(dist)?;
    let subjects: Vec<Value> = subjects(dist)?
        .into_iter()
        .map(|(n, h)| json!({"name": n, "digest": {"sha256": h}}))
        .collect();
    // One entry per built target (a target also owns its packages and SBOMs).
    let targets: std::collections::BTreeSet<&str> = m.artifacts.iter().map(|a| a.target.as_str()).collect();
    let make: serde_json::Map<String, Value> = m
        .artifacts
        .iter()
        .filter(|a| a.kind == crate::artifact::DEFAULT_KIND)
        .filter_map(|a| a.build.as_ref().map(|b| (a.target.clone(), json!(b.make_command))))
        .collect();
    let id = builder_id(env);
    Ok(json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"version": m.version, "targets": targets, "environment": run.environment},
                "internalParameters": {"sourceDateEpoch": m.source_date_epoch, "make": make},
                "resolvedDependencies": resolved_dependencies(dist, &m, matrix, env)?,
            },
            "runDetails": {
                "builder": {"id": id},
                "metadata": {"invocationId": id, "startedOn": rfc3339(run.started), "finishedOn": rfc3339(run.finished)},
            },
        },
    }))
}

/// Write `dist/valkey-<V>.intoto.jsonl` (signed when `signer` is given); returns its name.
pub fn write_for_dist(dist: &Path, matrix: &Matrix, run: &RunInfo, signer: Option<&dyn dsse::Signer>) -> Result<String> {
    let env = |k: &str| std::env::var(k).ok();
    let st = statement(dist, matrix, run, &env)?;
    let payload = serde_json::to_vec(&st).map_err(|e| Error::external(format!("serializing provenance: {e}")))?;
    let env = dsse::Envelope::wrap(dsse::IN_TOTO_PAYLOAD_TYPE, &payload, signer)?;
    let version = st["predicate"]["buildDefinition"]["externalParameters"]["version"]
        .as_str()
        .unwrap_or_default();
    let name = file_name(version);
    crate::fsutil::write_atomic(&dist.join(&name), &env.to_line())?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_id_is_the_actions_run_or_the_host() {
        let gh = |k: &str| {
            match k {
                "GITHUB_SERVER_URL" => Some("https://github.com"),
                "GITHUB_REPOSITORY" => Some("valkey-io/valkey-release"),
                "GITHUB_RUN_ID" => Some("42"),
                "GITHUB_RUN_ATTEMPT" => Some("2"),
                _ => None,
            }
            .map(str::to_string)
        };
        assert_eq!(
            builder_id(&gh),
            "https://github.com/valkey-io/valkey-release/actions/runs/42/attempts/2"
        );
        assert!(builder_id(&|_| None).starts_with("host://"));
    }
}
