//! Stage: verify. Check files against checksum files.
//!
//! Accepted inputs ([`verify_local`]):
//! - checksum files: GNU `sha256sum` lines (`<hex>  <file>` or `<hex> *<file>`), BSD tagged
//!   lines (`SHA256 (<file>) = <hex>`), a `.sha256` holding only a digest (for the file of the
//!   same name without `.sha256`);
//! - a file with a `.sha256` beside it (`verify x.tar.gz` reads `x.tar.gz.sha256`);
//! - a dist directory: its `SHA256SUMS` and/or `manifest.json` (size and sha256 of each
//!   artifact; the artifacts' `.sha256` files must exist and agree); a manifest file itself;
//! - valkey-hashes' README (`hash <file> sha256 <hex> <url>`), files resolved against a
//!   directory; the all-zero `unstable` line is skipped.
//!
//! Names in a checksum file resolve against the checksum file's directory. Files are hashed
//! in parallel (one worker per core), streaming.

pub mod args;
pub mod parse;
pub mod provenance;
pub mod published;
pub mod remote;
pub mod signature;

use crate::error::{Error, Result};
use crate::manifest::{Manifest, MANIFEST, SHA256SUMS};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Options of a local verification.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Checksum files, files with a `.sha256` beside them, dist directories, manifest files.
    pub paths: Vec<PathBuf>,
    /// valkey-hashes README to check.
    pub hashes: Option<PathBuf>,
    /// Where the files named in `hashes` are (default: the README's directory).
    pub hashes_dir: Option<PathBuf>,
    /// Skip (rather than fail) files that do not exist, like `sha256sum --ignore-missing`.
    pub ignore_missing: bool,
    /// Show a progress bar on a terminal (stderr).
    pub progress: bool,
}

/// Outcome for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Digest (and size, when known) match.
    Ok,
    /// Digest or size differ.
    Failed,
    /// The file could not be opened or read.
    Missing,
}

/// One checked file.
#[derive(Debug, Clone, Serialize)]
pub struct FileResult {
    /// The file as named by its checksum file, joined to that file's directory.
    pub file: String,
    pub status: Status,
    pub expected_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_size: Option<u64>,
    /// Where the expectation came from: `<checksum file>:<line>` or `<manifest>`.
    pub sources: Vec<String>,
    /// Why it failed, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl FileResult {
    /// The line `sha256sum -c` would print.
    /// A name holding `\\`, a newline or a carriage return is escaped as `sha256sum` does
    /// (the line starts with `\\`), so a file name cannot forge another output line.
    pub fn line(&self) -> String {
        let (prefix, name) = escape_name(&self.file);
        match self.status {
            Status::Ok => format!("{prefix}{name}: OK"),
            Status::Failed => format!("{prefix}{name}: FAILED"),
            Status::Missing => format!("{prefix}{name}: FAILED open or read"),
        }
    }
}

/// Result of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Every file matched.
    pub ok: bool,
    pub checked: usize,
    pub passed: usize,
    pub failed: usize,
    pub missing: usize,
    /// Files skipped because they do not exist (`ignore_missing`).
    pub skipped: usize,
    pub files: Vec<FileResult>,
}

impl VerifyReport {
    /// `Err(Check)` (exit 1) naming the counts when anything failed.
    pub fn into_result(&self) -> Result<()> {
        if self.ok {
            return Ok(());
        }
        if self.checked == 0 {
            return Err(Error::check("no file was verified (every listed file is missing)"));
        }
        let mut parts = Vec::new();
        if self.failed > 0 {
            parts.push(format!(
                "{} computed checksum{} did NOT match",
                self.failed,
                if self.failed == 1 { "" } else { "s" }
            ));
        }
        if self.missing > 0 {
            parts.push(format!(
                "{} listed file{} could not be read",
                self.missing,
                if self.missing == 1 { "" } else { "s" }
            ));
        }
        Err(Error::check(format!(
            "{} of {} files failed: {}",
            self.failed + self.missing,
            self.checked,
            parts.join(", ")
        )))
    }
}

/// One expectation, before hashing.
#[derive(Debug, Clone)]
struct Check {
    display: String,
    path: PathBuf,
    sha256: String,
    size: Option<u64>,
    sources: Vec<String>,
}

fn display_join(dir: &Path, name: &str) -> (String, PathBuf) {
    let p = if dir.as_os_str().is_empty() || Path::new(name).is_absolute() {
        PathBuf::from(name)
    } else {
        dir.join(name)
    };
    let s = p.display().to_string();
    let s = s.strip_prefix("./").map(str::to_string).unwrap_or(s);
    (s, p)
}

/// `sha256sum`'s escaping of a file name: `("\\", escaped)` when it holds `\\`, `\n` or `\r`.
pub fn escape_name(name: &str) -> (&'static str, std::borrow::Cow<'_, str>) {
    if !name.contains(['\\', '\n', '\r']) {
        return ("", std::borrow::Cow::Borrowed(name));
    }
    let escaped = name.replace('\\', "\\\\").replace('\n', "\\n").replace('\r', "\\r");
    ("\\", std::borrow::Cow::Owned(escaped))
}

/// Only regular files are hashed: a name in a checksum file pointing at a device (`/dev/zero`),
/// a FIFO or a directory is unusable input (exit 2), not something to read forever.
fn refuse_special_files(checks: &[Check]) -> Result<()> {
    for c in checks {
        if let Ok(md) = std::fs::metadata(&c.path) {
            if !md.is_file() {
                return Err(Error::input(format!(
                    "{}: not a regular file (named in {}); only regular files are verified",
                    c.path.display(),
                    c.sources.join(", ")
                )));
            }
        }
    }
    Ok(())
}

fn parent_of(p: &Path) -> PathBuf {
    p.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Read a small text file (checksum file, manifest); binary or huge input is refused (exit 2).
fn read_text(p: &Path) -> Result<String> {
    const MAX: u64 = 64 << 20;
    let md = std::fs::metadata(p).map_err(|e| Error::io(p, "open", e))?;
    if !md.is_file() {
        return Err(Error::input(format!("{}: not a regular file", p.display())));
    }
    let f = std::fs::File::open(p).map_err(|e| Error::io(p, "open", e))?;
    let mut buf = Vec::new();
    f.take(MAX + 1).read_to_end(&mut buf).map_err(|e| Error::io(p, "read", e))?;
    if buf.len() as u64 > MAX {
        return Err(Error::input(format!(
            "{}: too large for a checksum file (over 64 MiB)",
            p.display()
        )));
    }
    String::from_utf8(buf).map_err(|_| {
        Error::input(format!(
            "{}: not a checksum file (binary data) and no {}.sha256 beside it",
            p.display(),
            p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        ))
    })
}

fn checks_from_checksum_file(p: &Path, lone_target: Option<&str>, out: &mut Vec<Check>) -> Result<()> {
    let text = read_text(p)?;
    let lines = parse::checksum_text(p, &text, lone_target)?;
    let dir = parent_of(p);
    for l in lines {
        let (display, path) = display_join(&dir, &l.name);
        out.push(Check {
            display,
            path,
            sha256: l.sha256,
            size: None,
            sources: vec![format!("{}:{}", p.display(), l.line)],
        });
    }
    Ok(())
}

fn checks_from_manifest(p: &Path, out: &mut Vec<Check>, extra: &mut Vec<FileResult>, ignore_missing: bool) -> Result<()> {
    let m = Manifest::load_file(p)?;
    let dir = parent_of(p);
    for a in &m.artifacts {
        if !crate::fsutil::is_sha256_hex(&a.sha256) {
            return Err(Error::input(format!(
                "{}: artifact {}: sha256 {:?} is not 64 hex digits",
                p.display(),
                a.file,
                a.sha256
            )));
        }
        let (display, path) = display_join(&dir, &a.file);
        out.push(Check {
            display,
            path,
            sha256: a.sha256.to_ascii_lowercase(),
            size: Some(a.size),
            sources: vec![p.display().to_string()],
        });
        if !a.checksum_file.is_empty() {
            let (cdisp, cpath) = display_join(&dir, &a.checksum_file);
            match std::fs::metadata(&cpath) {
                Ok(_) => {
                    let target = a.file.rsplit('/').next().unwrap_or(&a.file).to_string();
                    checks_from_checksum_file(&cpath, Some(&target), out)?;
                }
                Err(e) if ignore_missing && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => extra.push(FileResult {
                    file: cdisp,
                    status: Status::Missing,
                    expected_sha256: a.sha256.clone(),
                    actual_sha256: None,
                    expected_size: None,
                    actual_size: None,
                    sources: vec![p.display().to_string()],
                    reason: Some(format!("checksum file listed in the manifest: {e}")),
                }),
            }
        }
    }
    Ok(())
}

fn checks_from_path(p: &Path, out: &mut Vec<Check>, extra: &mut Vec<FileResult>, ignore_missing: bool) -> Result<()> {
    let md = std::fs::metadata(p).map_err(|e| Error::io(p, "read", e))?;
    if md.is_dir() {
        let sums = p.join(SHA256SUMS);
        let man = p.join(MANIFEST);
        let (has_sums, has_man) = (sums.is_file(), man.is_file());
        if !has_sums && !has_man {
            return Err(Error::input(format!(
                "{}: a directory without {SHA256SUMS} or {MANIFEST}: nothing to verify",
                p.display()
            )));
        }
        if has_sums {
            checks_from_checksum_file(&sums, None, out)?;
        }
        if has_man {
            checks_from_manifest(&man, out, extra, ignore_missing)?;
        }
        return Ok(());
    }
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name == MANIFEST || name.ends_with(".manifest.json") {
        return checks_from_manifest(p, out, extra, ignore_missing);
    }
    if !name.ends_with(".sha256") && name != SHA256SUMS {
        let beside = p.with_file_name(format!("{name}.sha256"));
        if beside.is_file() {
            return checks_from_checksum_file(&beside, Some(&name), out);
        }
    }
    let lone = name.strip_suffix(".sha256").filter(|s| !s.is_empty());
    checks_from_checksum_file(p, lone, out)
}

fn checks_from_hashes(readme: &Path, dir: Option<&Path>, out: &mut Vec<Check>) -> Result<()> {
    let text = read_text(readme)?;
    let lines = parse::hashes_text(readme, &text)?;
    let dir = dir.map(Path::to_path_buf).unwrap_or_else(|| parent_of(readme));
    for l in lines {
        if l.sha256 == parse::ZERO {
            continue;
        }
        let (display, path) = display_join(&dir, &l.file);
        out.push(Check {
            display,
            path,
            sha256: l.sha256,
            size: None,
            sources: vec![format!("{}:{}", readme.display(), l.line)],
        });
    }
    Ok(())
}

/// Merge expectations on the same file with the same digest (SHA256SUMS + manifest + .sha256).
fn dedup(checks: Vec<Check>) -> Vec<Check> {
    let mut out: Vec<Check> = Vec::new();
    let mut index: BTreeMap<(PathBuf, String), usize> = BTreeMap::new();
    for c in checks {
        match index.get(&(c.path.clone(), c.sha256.clone())) {
            Some(&i) => {
                let e = &mut out[i];
                e.sources.extend(c.sources);
                if e.size.is_none() {
                    e.size = c.size;
                }
            }
            None => {
                index.insert((c.path.clone(), c.sha256.clone()), out.len());
                out.push(c);
            }
        }
    }
    out
}

/// Hash one file, streaming, reporting bytes to `tick`.
fn hash_file(p: &Path, tick: &(dyn Fn(u64) + Sync)) -> std::io::Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(p)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..k]);
        n += k as u64;
        tick(k as u64);
    }
    Ok((hex::encode(h.finalize()), n))
}

/// Hash every distinct path in parallel (one worker per core).
pub fn hash_files(paths: &[PathBuf], tick: &(dyn Fn(u64) + Sync)) -> Vec<std::io::Result<(String, u64)>> {
    use rayon::prelude::*;
    paths.par_iter().map(|p| hash_file(p, tick)).collect()
}

/// Check local files against checksum files. `Err` only for unusable input (exit 2);
/// mismatches and missing files are in the report (see [`VerifyReport::into_result`]).
pub fn verify_local(opts: &VerifyOptions) -> Result<VerifyReport> {
    if opts.paths.is_empty() && opts.hashes.is_none() {
        return Err(Error::input(
            "nothing to verify: give checksum files, files, dist directories, or --hashes README",
        ));
    }
    let mut checks = Vec::new();
    let mut results: Vec<FileResult> = Vec::new();
    for p in &opts.paths {
        checks_from_path(p, &mut checks, &mut results, opts.ignore_missing)?;
    }
    if let Some(r) = &opts.hashes {
        checks_from_hashes(r, opts.hashes_dir.as_deref(), &mut checks)?;
    }
    let checks = dedup(checks);
    refuse_special_files(&checks)?;

    let mut unique: Vec<PathBuf> = Vec::new();
    let mut slot: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for c in &checks {
        if !slot.contains_key(&c.path) {
            slot.insert(c.path.clone(), unique.len());
            unique.push(c.path.clone());
        }
    }
    let total: u64 = unique.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let bar = if opts.progress && crate::progress::fancy() {
        Some(crate::progress::Progress::new().bytes("verify", total))
    } else {
        None
    };
    let tick = |n: u64| {
        if let Some(b) = &bar {
            b.inc(n)
        }
    };
    let hashed = hash_files(&unique, &tick);
    if let Some(b) = &bar {
        b.finish(&format!("{} file(s)", unique.len()));
    }

    let mut skipped = 0;
    let mut file_results: Vec<FileResult> = Vec::new();
    for c in checks {
        let r = &hashed[slot[&c.path]];
        let mut fr = FileResult {
            file: c.display.clone(),
            status: Status::Ok,
            expected_sha256: c.sha256.clone(),
            actual_sha256: None,
            expected_size: c.size,
            actual_size: None,
            sources: c.sources.clone(),
            reason: None,
        };
        match r {
            Ok((hex, size)) => {
                fr.actual_sha256 = Some(hex.clone());
                fr.actual_size = Some(*size);
                if let Some(want) = c.size {
                    if want != *size {
                        fr.status = Status::Failed;
                        fr.reason = Some(format!("size {size}, expected {want}"));
                    }
                }
                if *hex != c.sha256 {
                    fr.status = Status::Failed;
                    let why = format!("sha256 {hex}, expected {}", c.sha256);
                    fr.reason = Some(match fr.reason.take() {
                        Some(s) => format!("{s}; {why}"),
                        None => why,
                    });
                }
            }
            Err(e) => {
                if opts.ignore_missing && e.kind() == std::io::ErrorKind::NotFound {
                    skipped += 1;
                    continue;
                }
                fr.status = Status::Missing;
                fr.reason = Some(e.to_string());
            }
        }
        file_results.push(fr);
    }
    results.extend(file_results);
    // Missing .sha256 files of a manifest come first in `results`; keep input order otherwise.
    let failed = results.iter().filter(|r| r.status == Status::Failed).count();
    let missing = results.iter().filter(|r| r.status == Status::Missing).count();
    let checked = results.len();
    Ok(VerifyReport {
        ok: failed == 0 && missing == 0 && checked > 0,
        checked,
        passed: checked - failed - missing,
        failed,
        missing,
        skipped,
        files: results,
    })
}
