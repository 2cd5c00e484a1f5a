//! `rebuild`: rebuild a published release from its recorded inputs on this machine and
//! compare byte for byte.
//!
//! Inputs come from the published dist directory: `manifest.json` (version, source name, URL
//! and sha256, SOURCE_DATE_EPOCH, per target the builder image and its definition digest and
//! the make command) and, when present, the provenance `valkey-<V>.intoto.jsonl` (targets.toml
//! digest) and the SBOM facts (the builder's package list). The farm rebuilds the chosen targets
//! into a fresh directory; then per target:
//! - `identical`: every artifact the rebuild makes again (the tarball, the .debs and .rpms of
//!   the target; not the SBOMs, which the release's `sbom` step derives) has the same sha256;
//! - `different`: per artifact, the members that differ (content, mode, mtime, ...; a
//!   package's `ar` members and the files inside, see [`packages`]), for an ELF member the
//!   sections, and where diffoscope is installed its report under `<out>/logs/`;
//! - `builder-differs`: the builder image could not be recreated identically (its package list
//!   differs from the recorded one): the packages that differ are listed, and the byte
//!   comparison is reported but not blamed on the build.
//!
//! A source whose digest differs from the recorded one is refused before comparing (exit 1).

pub mod compare;
pub mod packages;

use crate::error::{Error, Result};
use crate::farm::{run_build, BuildOptions};
use crate::manifest::Manifest;
use crate::progress::Progress;
use crate::targets::Matrix;
use crate::version::Version;
use compare::MemberDiff;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to rebuild.
#[derive(Debug, Clone)]
pub struct RebuildOptions {
    /// The published release: a dist directory with manifest.json and the artifacts, or a
    /// store/HTTP URL of one (downloaded into `<out>/published/`).
    pub published: PathBuf,
    /// The release's version, naming its manifest in a store (`valkey-<V>.manifest.json`).
    pub version: Option<String>,
    /// Targets to rebuild (empty: every target of the published manifest).
    pub targets: Vec<String>,
    /// Where to get the source (default: the recorded URL); its sha256 must equal the recorded one.
    pub source: Option<String>,
    /// Output directory of the rebuild (tarballs, logs/, diffoscope reports).
    pub out: PathBuf,
    pub builder_image: Option<String>,
    pub cancel: tokio_util::sync::CancellationToken,
}

/// The result for one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetResult {
    pub target: String,
    /// `identical`, `different`, `builder-differs`, `failed` (the rebuild itself failed).
    pub status: String,
    pub published_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuilt_sha256: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberDiff>,
    /// Every artifact of the target compared (the tarball first): file, status, both sha256.
    pub artifacts: Vec<ArtifactResult>,
    /// Recorded inputs that came out different in the rebuild (make command, epoch, image).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// What the rebuild varied on purpose (hostname, CPUs, make -j, umask, build user).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub varied: Vec<String>,
    /// Builder packages that differ from the recorded list: `pkg:arch recorded -> rebuilt`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub builder_packages: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diffoscope: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One artifact of a target compared with its rebuilt copy.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactResult {
    pub file: String,
    pub kind: String,
    /// `identical`, `different`, `only in published`, `only in rebuilt`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuilt_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diffoscope: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The result of a rebuild.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    pub version: String,
    pub out: PathBuf,
    /// Notes about the whole release (targets.toml differs from the recorded one, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub targets: Vec<TargetResult>,
}

impl RebuildReport {
    pub fn all_identical(&self) -> bool {
        self.targets.iter().all(|t| t.status == "identical")
    }
    /// Exit 1 naming each target that is not identical.
    pub fn into_result(&self) -> Result<()> {
        let bad: Vec<String> = self
            .targets
            .iter()
            .filter(|t| t.status != "identical")
            .map(|t| format!("{}: {}", t.target, t.status))
            .collect();
        if bad.is_empty() {
            Ok(())
        } else {
            Err(Error::check(format!(
                "rebuild: {} of {} targets not identical ({})",
                bad.len(),
                self.targets.len(),
                bad.join(", ")
            )))
        }
    }
}

/// `pkg:arch recorded -> rebuilt` for every package whose version differs or exists in one list only.
pub fn package_differences(recorded: &BTreeMap<String, String>, rebuilt: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (p, v) in recorded {
        match rebuilt.get(p) {
            None => out.push(format!("{p} {v} -> (absent)")),
            Some(w) if w != v => out.push(format!("{p} {v} -> {w}")),
            _ => {}
        }
    }
    out.extend(
        rebuilt
            .iter()
            .filter(|(p, _)| !recorded.contains_key(*p))
            .map(|(p, w)| format!("{p} (absent) -> {w}")),
    );
    out
}

/// The resolved dependency `name` of the provenance in `published`, if any.
fn recorded_dependency(published: &Path, version: &str, name: &str) -> Option<serde_json::Value> {
    let p = published.join(crate::provenance::file_name(version));
    let text = std::fs::read_to_string(p).ok()?;
    let env = crate::provenance::dsse::Envelope::from_jsonl("provenance", &text).ok()?;
    let st: serde_json::Value = serde_json::from_slice(&env.payload_bytes().ok()?).ok()?;
    st["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()?
        .iter()
        .find(|d| d["name"] == name)
        .cloned()
}

/// The targets.toml sha256 a provenance records, if any.
fn recorded_targets_digest(published: &Path, version: &str) -> Option<String> {
    recorded_dependency(published, version, "targets.toml")?["digest"]["sha256"]
        .as_str()
        .map(str::to_string)
}

/// Run diffoscope on two files when it is installed; its text report goes to `report`.
fn diffoscope(a: &Path, b: &Path, report: &Path) -> Option<PathBuf> {
    let ok = std::process::Command::new("diffoscope")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        return None;
    }
    let st = std::process::Command::new("diffoscope")
        .arg("--text")
        .arg(report)
        .arg("--max-report-size")
        .arg("2000000")
        .arg(a)
        .arg(b)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    // diffoscope exits 1 when the files differ (the normal case here).
    (st.code() == Some(1) && report.exists()).then(|| report.to_path_buf())
}

/// Download a published release (a store URL `s3://BUCKET/PREFIX/`, `file://DIR`, or
/// `https://HOST/PREFIX/`) into `into`: its manifest.json, its provenance, and the artifacts
/// of `targets` (all when empty). Exit 1 when one of those artifacts is not published.
pub async fn download(url: &str, version: Option<&str>, targets: &[String], into: &Path) -> Result<()> {
    let want = crate::verify::published::Wanted {
        version: version.map(str::to_string),
        targets: targets.to_vec(),
        provenance: None,
        subjects: false,
    };
    let got = crate::verify::published::download(url, &want, into).await?;
    let artifacts: Vec<&String> = got
        .missing
        .iter()
        .filter(|m| got.manifest.artifacts.iter().any(|a| &&a.file == m))
        .collect();
    if !artifacts.is_empty() {
        return Err(Error::check(format!(
            "{url}: the manifest lists {} but {} not published",
            artifacts.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
            if artifacts.len() == 1 { "it is" } else { "they are" }
        )));
    }
    Ok(())
}

/// Rebuild and compare. `opts.published` may be a URL (`s3://`, `file://`, `https://`): the
/// release is downloaded into `<out>/published/` first.
pub async fn rebuild(matrix: &Matrix, opts: &RebuildOptions, progress: &Progress) -> Result<RebuildReport> {
    let from = opts.published.to_string_lossy().into_owned();
    let mut opts = opts.clone();
    if from.contains("://") {
        let into = opts.out.join("published");
        download(&from, opts.version.as_deref(), &opts.targets, &into).await?;
        opts.published = into;
    }
    let opts = &opts;
    let published = Manifest::load(&opts.published)?;
    let version = Version::parse(&published.version)?;
    let targets = chosen_targets(opts, &published)?;
    let source = opts.source.clone().or_else(|| published.source.url.clone()).ok_or_else(|| {
        Error::input(format!(
            "{}: the release's source {} has no recorded URL; give it with --source",
            opts.published.display(),
            published.source.name
        ))
    })?;
    let mut notes: Vec<String> = targets_toml_note(matrix, opts, &published).into_iter().collect();
    let mut bo = BuildOptions::new(version.clone());
    bo.source = Some(source);
    bo.targets = targets.clone();
    bo.out = opts.out.clone();
    bo.builder_image = opts.builder_image.clone();
    bo.source_sha = published.source.git_commit.clone().or_else(|| published.source.source_sha.clone());
    bo.cancel = opts.cancel.clone();
    // Vary what a host could change (hostname, CPUs, make -j, umask, build user), so a build
    // that depends on its host is reported, not matched by chance on a similar machine.
    bo.vary = true;
    let report = run_build(matrix, &bo, progress).await?;
    let rebuilt = Manifest::load_if_present(&opts.out)?;
    if let (Some(r), Some(p)) = (
        rebuilt.as_ref().and_then(|m| m.source.sha256.clone()),
        published.source.sha256.as_ref(),
    ) {
        if !r.eq_ignore_ascii_case(p) {
            return Err(Error::check(format!(
                "the source used for the rebuild has sha256 {r}, the release was built from {p} ({}); give the recorded source with --source",
                published.source.name
            )));
        }
    }
    let mut results = Vec::new();
    for t in &targets {
        results.push(compare_target(opts, &published, rebuilt.as_ref(), &report, t, &mut notes)?);
    }
    Ok(RebuildReport {
        version: published.version.clone(),
        out: opts.out.clone(),
        notes,
        targets: results,
    })
}

/// The targets to rebuild: the ones asked for (each in the release), else one per tarball.
fn chosen_targets(opts: &RebuildOptions, published: &Manifest) -> Result<Vec<String>> {
    Ok(if opts.targets.is_empty() {
        // One per target: its tarball (SBOMs and packages of the target are derived from it).
        published
            .artifacts
            .iter()
            .filter(|a| a.kind == crate::artifact::DEFAULT_KIND)
            .map(|a| a.target.clone())
            .collect()
    } else {
        for t in &opts.targets {
            if published.artifact(t).is_none() {
                return Err(Error::input(format!(
                    "--target {t}: not in the published release {} (it has: {})",
                    opts.published.display(),
                    published.artifacts.iter().map(|a| a.target.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
        }
        opts.targets.clone()
    })
}

/// A note when targets.toml is not the one the provenance recorded.
fn targets_toml_note(matrix: &Matrix, opts: &RebuildOptions, published: &Manifest) -> Option<String> {
    let rec = recorded_targets_digest(&opts.published, &published.version)?;
    let ours = {
        use sha2::Digest;
        let b = std::fs::read(&matrix.path).unwrap_or_else(|_| crate::targets::EMBEDDED.as_bytes().to_vec());
        hex::encode(sha2::Sha256::digest(&b))
    };
    (rec != ours).then(|| {
        format!(
            "targets.toml {} (sha256 {ours}) is not the one recorded in the provenance (sha256 {rec})",
            matrix.path.display()
        )
    })
}

/// What differs in the builder's installed packages: from the facts of both builds, or (a
/// downloaded release has no facts/) from the list or its digest in the provenance.
fn builder_packages(opts: &RebuildOptions, published: &Manifest, t: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let (fp, fr) = (crate::sbom::facts_path(&opts.published, t), crate::sbom::facts_path(&opts.out, t));
    if fp.exists() && fr.exists() {
        let (a, b) = (crate::sbom::facts::Facts::load(&fp)?, crate::sbom::facts::Facts::load(&fr)?);
        out = package_differences(&a.packages, &b.packages);
    } else if fr.exists() {
        // A downloaded release has no facts/: the provenance records the list's digest.
        let dep = recorded_dependency(&opts.published, &published.version, &format!("builder-image/{t}"));
        let recorded = dep
            .as_ref()
            .and_then(|d| d["annotations"]["packagesSha256"].as_str().map(str::to_string));
        let list: Option<BTreeMap<String, String>> = dep
            .as_ref()
            .and_then(|d| serde_json::from_value(d["annotations"]["packages"].clone()).ok());
        let facts = crate::sbom::facts::Facts::load(&fr)?;
        let ours = facts.packages_sha256.clone();
        if let Some(list) = list {
            // The provenance records the list: name each package that differs.
            out = package_differences(&list, &facts.packages);
        } else if let Some(r) = recorded.filter(|r| *r != ours) {
            out.push(format!(
                "the builder's package list differs from the recorded one (sha256 {r}, rebuilt {ours}; the rebuilt list is in {})",
                fr.display()
            ));
        }
    }
    Ok(out)
}

/// Compare one target's rebuilt artifact with the published one.
fn compare_target(
    opts: &RebuildOptions,
    published: &Manifest,
    rebuilt: Option<&Manifest>,
    report: &crate::farm::BuildReport,
    t: &str,
    notes: &mut Vec<String>,
) -> Result<TargetResult> {
    let pa = published.artifact(t).expect("checked above");
    let built = report.targets.iter().find(|r| r.target == t);
    let ra = rebuilt.and_then(|m| m.artifact(t));
    let mut res = TargetResult {
        target: t.to_string(),
        status: "identical".into(),
        published_sha256: pa.sha256.clone(),
        rebuilt_sha256: ra.map(|a| a.sha256.clone()),
        members: vec![],
        artifacts: vec![],
        inputs: vec![],
        varied: built.map(|b| b.varied.clone()).unwrap_or_default(),
        builder_packages: vec![],
        diffoscope: None,
        error: None,
    };
    let Some(ra) = ra.filter(|_| built.map(|b| b.status == crate::farm::TargetStatus::Ok).unwrap_or(false)) else {
        res.status = "failed".into();
        res.error = Some(
            built
                .and_then(|b| b.error.clone())
                .unwrap_or_else(|| "the rebuild produced no artifact".into()),
        );
        return Ok(res);
    };
    let rm = rebuilt.expect("has artifact");
    compare_inputs(published, rm, pa, ra, &mut res.inputs);
    res.builder_packages = builder_packages(opts, published, t)?;
    let logs = opts.out.join("logs");
    crate::fsutil::create_dir_all(&logs)?;
    for (p, r) in artifact_pairs(published, rm, t) {
        let ar = compare_artifact(opts, p, r, &logs, &mut res.members)?;
        if ar.status != "identical" {
            res.status = if res.builder_packages.is_empty() {
                "different"
            } else {
                "builder-differs"
            }
            .into();
            if res.diffoscope.is_none() {
                res.diffoscope = ar.diffoscope.clone();
            }
        }
        res.artifacts.push(ar);
    }
    if res.status == "identical" && !res.builder_packages.is_empty() {
        notes.push(format!(
            "{t}: identical although the builder's packages differ ({})",
            res.builder_packages.join(", ")
        ));
    }
    Ok(res)
}

/// The artifacts of target `t` a rebuild makes again, paired by file name (the tarball first):
/// every kind the rebuilt manifest has for `t`, published or rebuilt.
fn artifact_pairs<'a>(
    published: &'a Manifest,
    rebuilt: &'a Manifest,
    t: &str,
) -> Vec<(Option<&'a crate::manifest::Artifact>, Option<&'a crate::manifest::Artifact>)> {
    let remade: Vec<&crate::manifest::Artifact> = rebuilt.artifacts.iter().filter(|a| a.target == t).collect();
    let kinds: std::collections::BTreeSet<&str> = remade.iter().map(|a| a.kind.as_str()).collect();
    let mut pairs: Vec<_> = published
        .artifacts
        .iter()
        .filter(|a| a.target == t && kinds.contains(a.kind.as_str()))
        .map(|p| (Some(p), remade.iter().copied().find(|r| r.file == p.file)))
        .collect();
    pairs.extend(
        remade
            .iter()
            .filter(|r| !published.artifacts.iter().any(|p| p.target == t && p.file == r.file))
            .map(|r| (None, Some(*r))),
    );
    pairs.sort_by_key(|(p, r)| {
        let a = p.or(*r).expect("one of both");
        (a.kind != crate::artifact::DEFAULT_KIND, a.file.clone())
    });
    pairs
}

/// Compare one published artifact with its rebuilt copy; the members that differ go to
/// `members` (a package's named with its file, see [`packages`]).
fn compare_artifact(
    opts: &RebuildOptions,
    p: Option<&crate::manifest::Artifact>,
    r: Option<&crate::manifest::Artifact>,
    logs: &Path,
    members: &mut Vec<MemberDiff>,
) -> Result<ArtifactResult> {
    let a = p.or(r).expect("one of both");
    let mut res = ArtifactResult {
        file: a.file.clone(),
        kind: a.kind.clone(),
        status: "identical".into(),
        published_sha256: p.map(|p| p.sha256.clone()),
        rebuilt_sha256: r.map(|r| r.sha256.clone()),
        diffoscope: None,
        note: None,
    };
    let (Some(p), Some(r)) = (p, r) else {
        res.status = if r.is_none() { "only in published" } else { "only in rebuilt" }.into();
        members.push(MemberDiff {
            member: a.file.clone(),
            what: vec![res.status.clone()],
            sections: vec![],
        });
        return Ok(res);
    };
    if r.sha256.eq_ignore_ascii_case(&p.sha256) {
        return Ok(res);
    }
    let (pa, ra) = (opts.published.join(&p.file), opts.out.join(&r.file));
    if p.file.ends_with(".rpm") && packages::rpm_without_signatures(&pa)? == packages::rpm_without_signatures(&ra)? {
        res.note = Some("identical but for the signatures (the release signs its .rpms)".into());
        return Ok(res);
    }
    res.status = "different".into();
    let mut diffs = compare::diff_artifacts(&pa, &ra)?;
    if diffs.is_empty() {
        diffs.push(MemberDiff {
            member: if p.kind == crate::artifact::DEFAULT_KIND {
                "(archive)".into()
            } else {
                format!("{}: (archive)", p.file)
            },
            what: vec!["every member is equal; the archive's layout or compression differs".into()],
            sections: vec![],
        });
    }
    members.extend(diffs);
    let report = if p.kind == crate::artifact::DEFAULT_KIND {
        format!("diffoscope-{}.txt", p.target)
    } else {
        format!("diffoscope-{}.txt", p.file)
    };
    res.diffoscope = diffoscope(&pa, &ra, &logs.join(report));
    Ok(res)
}

/// `-jN` (make's parallelism).
fn is_jobs_flag(w: &str) -> bool {
    w.strip_prefix("-j")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Recorded inputs of one target that differ in the rebuild.
fn compare_inputs(pm: &Manifest, rm: &Manifest, pa: &crate::manifest::Artifact, ra: &crate::manifest::Artifact, out: &mut Vec<String>) {
    if pm.source_date_epoch != rm.source_date_epoch {
        out.push(format!(
            "SOURCE_DATE_EPOCH: recorded {}, rebuilt {}",
            pm.source_date_epoch, rm.source_date_epoch
        ));
    }
    if let (Some(a), Some(b)) = (&pa.build, &ra.build) {
        // make -jN is varied on purpose (and depends on the machine's cores): not an input.
        let no_jobs = |c: &[String]| -> Vec<String> { c.iter().filter(|w| !is_jobs_flag(w)).cloned().collect() };
        if no_jobs(&a.make_command) != no_jobs(&b.make_command) {
            out.push(format!(
                "make command: recorded {:?}, rebuilt {:?}",
                a.make_command.join(" "),
                b.make_command.join(" ")
            ));
        }
        if !a.builder_tag.is_empty() && a.builder_tag != b.builder_tag {
            out.push(format!(
                "builder image definition: recorded {}, rebuilt {}",
                a.builder_tag, b.builder_tag
            ));
        }
        if a.builder_image != b.builder_image {
            out.push(format!(
                "builder image id: recorded {}, rebuilt {}",
                a.builder_image, b.builder_image
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_differences_name_each_package() {
        let rec: BTreeMap<String, String> = [("libssl3:amd64", "3.0.15-1"), ("gcc-12:amd64", "12.2.0-14"), ("old:amd64", "1")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let mut now = rec.clone();
        now.insert("libssl3:amd64".into(), "3.0.16-1".into());
        now.remove("old:amd64");
        now.insert("new:amd64".into(), "2".into());
        assert_eq!(
            package_differences(&rec, &now),
            vec![
                "libssl3:amd64 3.0.15-1 -> 3.0.16-1",
                "old:amd64 1 -> (absent)",
                "new:amd64 (absent) -> 2"
            ]
        );
        assert!(package_differences(&rec, &rec).is_empty());
    }
}
