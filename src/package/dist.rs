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
    let replaced = m.artifact(&artifact.target).is_some();
    m.upsert(artifact);
    save(&m, out_dir)?;
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
    let both = |field: &str, a: &str, b: &str| {
        Error::input(format!(
            "{}: belongs to another release: {field} there is {a}, here {b}; use another --out directory",
            path.display()
        ))
    };
    if existing.version != new.version {
        return Err(both("version", &existing.version, &new.version));
    }
    if existing.source_date_epoch != new.source_date_epoch {
        return Err(both(
            "source_date_epoch",
            &existing.source_date_epoch.to_string(),
            &new.source_date_epoch.to_string(),
        ));
    }
    if let (Some(a), Some(b)) = (&existing.source.sha256, &new.source.sha256) {
        if !a.eq_ignore_ascii_case(b) {
            return Err(both("source sha256", a, b));
        }
    }
    if let (Some(a), Some(b)) = (&existing.source.git_commit, &new.source.git_commit) {
        if a != b {
            return Err(both("source git_commit", a, b));
        }
    }
    if let (Some(a), Some(b)) = (&existing.source.source_sha, &new.source.source_sha) {
        if a != b {
            return Err(both("source source_sha", a, b));
        }
    }
    Ok(())
}

fn fill_source(into: &mut SourceInfo, from: &SourceInfo) {
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

/// Write `manifest.json` then `SHA256SUMS` (derived from it), each atomically.
pub fn save(m: &Manifest, out_dir: &Path) -> Result<()> {
    let mut json = serde_json::to_string_pretty(m).map_err(|e| Error::external(format!("serializing manifest: {e}")))?;
    json.push('\n');
    fsutil::write_atomic(&Manifest::path(out_dir), json.as_bytes())?;
    fsutil::write_atomic(&out_dir.join(SHA256SUMS), m.sha256sums().as_bytes())?;
    Ok(())
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
        let src = from.join(&a.file);
        if src.canonicalize().ok() == into.join(&a.file).canonicalize().ok() {
            continue;
        }
        copy_checked(&src, &into.join(&a.file), Some((a.size, &a.sha256)))?;
        if !a.checksum_file.is_empty() {
            let c = from.join(&a.checksum_file);
            let text = std::fs::read_to_string(&c).map_err(|e| Error::io(&c, "read", e))?;
            if !text.starts_with(&a.sha256) {
                return Err(Error::check(format!(
                    "{}: does not hold the manifest's sha256 {} of {}",
                    c.display(),
                    a.sha256,
                    a.file
                )));
            }
            fsutil::write_atomic(&into.join(&a.checksum_file), text.as_bytes())?;
        }
    }
    let mut m = match Manifest::load_if_present(into)? {
        Some(m) => m,
        None => Manifest::new(&other.version, other.source_date_epoch, other.source.clone()),
    };
    merge_manifest(&mut m, &other, &Manifest::path(from))?;
    m.tool = Default::default();
    save(&m, into)?;
    Ok(m)
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
