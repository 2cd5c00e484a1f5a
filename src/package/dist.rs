//! The release-level files of a dist directory: `manifest.json` and `SHA256SUMS`.

use crate::error::{Error, Result};
use crate::fsutil;
use crate::manifest::{Artifact, Manifest, SourceInfo, MANIFEST, SHA256SUMS};
use crate::version::Version;
use std::path::Path;

/// Result of [`add_to_dist`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct AddReport {
    /// The manifest as written.
    pub manifest: Manifest,
    /// True when an artifact of the same target was replaced.
    pub replaced: bool,
}

/// Merge `artifact` into the dist directory `out_dir`: create or update
/// `manifest.json` (the artifact of the same target is replaced, artifacts stay
/// sorted by file name) and rewrite `SHA256SUMS` from it, each atomically.
///
/// An existing manifest of another release (different version, SOURCE_DATE_EPOCH,
/// source sha256 or git commit) is an input error (exit 2) naming both values.
/// Source fields the existing manifest lacks are filled in from `source`.
pub fn add_to_dist(
    out_dir: &Path,
    version: &Version,
    source_date_epoch: i64,
    source: &SourceInfo,
    artifact: Artifact,
) -> Result<AddReport> {
    let mut m = match check_dist(out_dir, version, source_date_epoch, source)? {
        Some(existing) => existing,
        None => Manifest::new(version.as_str(), source_date_epoch, source.clone()),
    };
    fill_source(&mut m.source, source);
    m.tool = Default::default();
    let replaced = m.replaces(&artifact);
    m.upsert(artifact);
    m.save(out_dir)?;
    Ok(AddReport { manifest: m, replaced })
}

/// Check that `out_dir` can take an artifact of this release, without writing anything:
/// returns its manifest if there is one. Errors (exit 2): a manifest of another release
/// (both values named), an unreadable manifest, or a `SHA256SUMS` without a manifest.
pub fn check_dist(out_dir: &Path, version: &Version, source_date_epoch: i64, source: &SourceInfo) -> Result<Option<Manifest>> {
    match Manifest::load_if_present(out_dir)? {
        Some(existing) => {
            let fresh = Manifest::new(version.as_str(), source_date_epoch, source.clone());
            merge_check(&existing, &fresh, &out_dir.join(MANIFEST))?;
            Ok(Some(existing))
        }
        None => {
            let sums = out_dir.join(SHA256SUMS);
            if sums.exists() {
                return Err(Error::input(format!(
                    "{}: exists without {MANIFEST} beside it; move it away or use an empty --out directory",
                    sums.display()
                )));
            }
            Ok(None)
        }
    }
}

/// Merge every artifact of `other` into `into` (same release required).
/// The caller copies the files; this only merges the records.
pub fn merge_manifest(into: &mut Manifest, other: &Manifest, other_path: &Path) -> Result<()> {
    merge_check(into, other, other_path)?;
    fill_source(&mut into.source, &other.source);
    for a in &other.artifacts {
        into.upsert(a.clone());
    }
    Ok(())
}

fn merge_check(existing: &Manifest, new: &Manifest, path: &Path) -> Result<()> {
    existing.compatible(new).map_err(|m| {
        Error::input(format!(
            "{}: belongs to another release: {} there is {}, here {}; use another --out directory",
            path.display(),
            m.field,
            m.ours,
            m.theirs
        ))
    })
}

/// Fill the source facts `into` lacks from `from` (a partial manifest may lack some).
pub fn fill_source(into: &mut SourceInfo, from: &SourceInfo) {
    let weak = |k: &str| k.is_empty() || k == "unknown";
    if weak(&into.kind) && !weak(&from.kind) {
        into.kind = from.kind.clone();
        into.name = from.name.clone();
    }
    if into.name.is_empty() {
        into.name = from.name.clone();
    }
    if into.url.is_none() {
        into.url = from.url.clone();
    }
    if into.sha256.is_none() {
        into.sha256 = from.sha256.clone();
    }
    if into.git_commit.is_none() {
        into.git_commit = from.git_commit.clone();
    }
    if into.source_sha.is_none() {
        into.source_sha = from.source_sha.clone();
    }
}

/// Merge the dist directory `from` (e.g. one runner's output) into `into`: each artifact
/// listed in `from/manifest.json` is checked (size and sha256, streaming), copied with its
/// `.sha256` (atomically), and recorded in `into`'s manifest.json and SHA256SUMS.
/// A mismatching artifact is a check failure (exit 1); another release is refused (exit 2).
pub fn merge_dist(from: &Path, into: &Path) -> Result<Manifest> {
    let other = Manifest::load(from)?;
    let version = Version::parse(&other.version)?;
    check_dist(into, &version, other.source_date_epoch, &other.source)?;
    for a in &other.artifacts {
        copy_artifact(from, a, into)?;
    }
    let mut m = match Manifest::load_if_present(into)? {
        Some(m) => m,
        None => Manifest::new(&other.version, other.source_date_epoch, other.source.clone()),
    };
    merge_manifest(&mut m, &other, &Manifest::path(from))?;
    m.tool = Default::default();
    m.save(into)?;
    Ok(m)
}

/// An artifact's `file` (in the manifest of the dist directory `dir`) must be a plain file name:
/// nothing outside the dist directory is read or written (exit 2 naming the manifest otherwise).
/// [`Manifest::load`] already refuses such a manifest; this guards artifacts made in memory.
pub fn check_file_name(dir: &Path, a: &Artifact) -> Result<()> {
    let what = format!("{}: artifact {:?}: field \"file\"", Manifest::path(dir).display(), a.target);
    fsutil::check_plain_name(&a.file, &what)?;
    fsutil::check_plain_name(&a.target, &what)
}

/// Add a produced file of any artifact kind (a package, an SBOM, a signature) to the dist
/// directory `dist` of a release whose manifest is already there: the file and its `.sha256`
/// are written atomically, and the artifact is recorded in manifest.json and SHA256SUMS
/// (replacing one of the same file name, or the same kind and target for a kind with one per
/// target). `describes` names the `file` of the artifact a derived file is about.
/// Errors (exit 2, nothing written): no manifest, an unknown kind, a name that is not plain,
/// a file the kind refuses, `describes` naming no artifact of the manifest.
pub fn add_artifact(
    dist: &Path,
    target: &crate::targets::Target,
    kind: &str,
    file_name: &str,
    bytes: &[u8],
    describes: Option<&str>,
) -> Result<Artifact> {
    let owner = (target.name.as_str(), target.distro.as_str(), target.arch.as_str());
    add_owned(dist, owner, kind, file_name, bytes, describes)
}

/// [`add_artifact`] for a file derived from artifact `of` (an SBOM, a signature): same target,
/// distro and arch as `of`, `describes` = `of.file`.
pub fn add_derived(dist: &Path, of: &Artifact, kind: &str, file_name: &str, bytes: &[u8]) -> Result<Artifact> {
    let owner = (of.target.as_str(), of.distro.as_str(), of.arch.as_str());
    add_owned(dist, owner, kind, file_name, bytes, Some(&of.file))
}

/// Replace the bytes of artifact `a` of a dist directory (same owner, kind and `describes`):
/// its file, `.sha256`, manifest entry and SHA256SUMS line. For a step that changes an artifact
/// in place before it is published (signing an .rpm adds a header signature).
pub fn replace_artifact_bytes(dist: &Path, a: &Artifact, bytes: &[u8]) -> Result<Artifact> {
    let owner = (a.target.as_str(), a.distro.as_str(), a.arch.as_str());
    add_owned(dist, owner, &a.kind, &a.file, bytes, a.describes.as_deref())
}

fn add_owned(
    dist: &Path,
    (target, distro, arch): (&str, &str, &str),
    kind: &str,
    file_name: &str,
    bytes: &[u8],
    describes: Option<&str>,
) -> Result<Artifact> {
    let mut m = Manifest::load_if_present(dist)?.ok_or_else(|| {
        Error::input(format!(
            "{}: no {MANIFEST}: package or build the target first, then add files of kind {kind:?}",
            dist.display()
        ))
    })?;
    if let Some(d) = describes {
        if m.artifacts.iter().all(|a| a.file != d) {
            return Err(Error::input(format!(
                "{}: {file_name}: describes {d:?}, which is not an artifact of this release",
                Manifest::path(dist).display()
            )));
        }
    }
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
    let a = Artifact {
        target: target.to_string(),
        kind: kind.to_string(),
        describes: describes.map(str::to_string),
        distro: distro.to_string(),
        arch: arch.to_string(),
        file: file_name.to_string(),
        size: bytes.len() as u64,
        checksum_file: format!("{file_name}.sha256"),
        sha256,
        files: Vec::new(),
        build: None,
    };
    m.upsert(a.clone());
    m.validate(&Manifest::path(dist).display().to_string())?;
    fsutil::write_atomic(&dist.join(&a.file), bytes)?;
    fsutil::write_atomic(
        &dist.join(&a.checksum_file),
        crate::manifest::checksum_line(&a.sha256, &a.file).as_bytes(),
    )?;
    m.tool = Default::default();
    m.save(dist)?;
    Ok(a)
}

/// Copy one artifact of the dist directory `from` into `into`: the tarball (streamed, atomic,
/// checked against the manifest's size and sha256: exit 1 naming the file otherwise), its
/// `.sha256` file written from the manifest, and its build log and SBOM facts when there are. A tarball
/// already in `into` with the right sha256 is not copied again. Returns whether it was copied.
pub fn copy_artifact(from: &Path, a: &Artifact, into: &Path) -> Result<bool> {
    check_file_name(from, a)?;
    let (src, dest) = (from.join(&a.file), into.join(&a.file));
    let same = src.canonicalize().ok().is_some_and(|s| dest.canonicalize().ok() == Some(s));
    let present =
        same || (dest.is_file() && fsutil::sha256_file(&dest).is_ok_and(|(s, n)| n == a.size && s.eq_ignore_ascii_case(&a.sha256)));
    if !present {
        copy_checked(&src, &dest, Some((a.size, &a.sha256)))?;
    }
    if !same {
        let log = from.join("logs").join(format!("{}.log", a.target));
        if log.is_file() {
            copy_checked(&log, &into.join("logs").join(format!("{}.log", a.target)), None)?;
        }
        // The SBOM facts of the target (the release's sbom step reads them).
        let facts = crate::sbom::facts_path(from, &a.target);
        if facts.is_file() {
            copy_checked(&facts, &crate::sbom::facts_path(into, &a.target), None)?;
        }
    }
    let ck = format!("{}.sha256", a.file);
    // A `.sha256` beside the tarball must agree with the manifest.
    let theirs = from.join(&ck);
    if let Ok(text) = std::fs::read_to_string(&theirs) {
        if !text.starts_with(&a.sha256) {
            return Err(Error::check(format!(
                "{}: does not hold the manifest's sha256 {} of {}",
                theirs.display(),
                a.sha256,
                a.file
            )));
        }
    }
    fsutil::write_atomic(&into.join(ck), crate::manifest::checksum_line(&a.sha256, &a.file).as_bytes())?;
    Ok(!present)
}

/// Copy `src` to `dest` atomically, streaming, checking size and sha256 when given.
fn copy_checked(src: &Path, dest: &Path, want: Option<(u64, &str)>) -> Result<()> {
    use std::io::Write;
    let f = std::fs::File::open(src).map_err(|e| Error::io(src, "open", e))?;
    let mut out = fsutil::AtomicFile::create(dest)?;
    let mut hw = fsutil::HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, &mut out));
    std::io::copy(&mut std::io::BufReader::with_capacity(1 << 20, f), &mut hw).map_err(|e| Error::io(src, "copy", e))?;
    let (mut bw, hex, n) = hw.finish();
    bw.flush().map_err(|e| Error::io(dest, "write", e))?;
    drop(bw);
    if let Some((size, sha)) = want {
        if n != size || !hex.eq_ignore_ascii_case(sha) {
            return Err(Error::check(format!(
                "{}: size {n} sha256 {hex}, but its manifest says size {size} sha256 {sha}",
                src.display()
            )));
        }
    }
    out.commit()?;
    Ok(())
}
