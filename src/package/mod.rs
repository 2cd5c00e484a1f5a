//! Stage: package. Reproducible tarballs, `.sha256` files, SHA256SUMS and manifest.json.
//!
//! [`package_tree`] turns one target's build tree into
//! `valkey-<V>-<distro>-<arch>.tar.gz` (+ `.sha256`); [`add_to_dist`] records the
//! artifact in the dist directory's `manifest.json` and `SHA256SUMS`.
//!
//! The tarball is a pure function of the input bytes, the version, the target,
//! SOURCE_DATE_EPOCH and this tool's version:
//! - one top directory named like the tarball, holding `bin/` (the binaries of
//!   targets.toml, from the tree's `src/`) and `share/LICENSE` (the license file);
//! - directory entries included; entries sorted by path;
//! - every mtime = SOURCE_DATE_EPOCH; uid/gid 0, user/group `root`; modes 0755 for
//!   directories and binaries, 0644 for the license; GNU tar headers;
//! - byte-identical files stored once: later identical files (in sorted order) are
//!   hard-link entries pointing at the first;
//! - gzip: header mtime 0, no file name, OS byte 3 (Unix), level [`GZIP_LEVEL`], compressed
//!   in parallel in independent 1 MiB chunks ([`pgz`]): the same bytes on any machine.
//!
//! Everything is streamed: input files are read in blocks, the compressed output is
//! hashed while it is written to a temporary file that is renamed when whole.

pub mod args;
pub mod dist;
pub mod pgz;

pub use dist::{
    add_artifact, add_derived, add_to_dist, check_dist, check_file_name, copy_artifact, fill_source, merge_dist, merge_manifest,
    replace_artifact_bytes, AddReport,
};

use crate::error::{Error, Result};
use crate::fsutil::{self, AtomicFile, HashingWriter};
use crate::manifest::{self, Artifact, FileEntry, SourceInfo};
use crate::targets::{Matrix, Target};
use crate::version::Version;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The pinned gzip compression level (0-9). Changing it changes every tarball's bytes.
pub const GZIP_LEVEL: u32 = 5;
/// The gzip header OS byte (3 = Unix, what `gzip -n` writes on Linux).
pub const GZIP_OS: u8 = 3;
/// Owner and group name of every entry.
pub const OWNER: &str = "root";

/// What to package: one target's build tree.
pub struct PackageInput<'a> {
    pub matrix: &'a Matrix,
    pub version: &'a Version,
    pub target: &'a Target,
    /// A build tree: `src/<binary>` for every binary in targets.toml, and the license file at the top.
    pub tree: &'a Path,
    pub source_date_epoch: i64,
}

/// One entry of the tarball, planned before anything is written.
#[derive(Debug, Clone)]
struct Planned {
    /// Path inside the archive; directories end with `/`.
    path: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Dir,
    File {
        src: PathBuf,
        size: u64,
        sha256: String,
        mode: u32,
    },
    Link {
        target: String,
        size: u64,
        sha256: String,
        mode: u32,
    },
}

/// Read SOURCE_DATE_EPOCH: the explicit value if given, else the environment variable.
/// Missing or not a non-negative integer: exit 2.
pub fn source_date_epoch(explicit: Option<&str>) -> Result<i64> {
    let (text, from) = match explicit {
        Some(s) => (s.to_string(), "--source-date-epoch"),
        None => match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(s) => (s, "SOURCE_DATE_EPOCH"),
            Err(_) => {
                return Err(Error::input(
                    "SOURCE_DATE_EPOCH is not set: set the environment variable or pass --source-date-epoch \
                     (seconds since 1970, e.g. the source's commit time: git log -1 --format=%ct)",
                ))
            }
        },
    };
    parse_epoch(&text).ok_or_else(|| {
        Error::input(format!(
            "{from}: {text:?} is not a timestamp: expected a non-negative integer number of seconds since 1970"
        ))
    })
}

fn parse_epoch(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// The tarball name of an input, e.g. `valkey-8.1.1-jammy-x86_64.tar.gz`.
pub fn tarball_name(input: &PackageInput) -> String {
    input.matrix.tarball_name(input.version, input.target)
}

/// Check the tree has every file, hash them, and plan the entries (sorted, links resolved).
fn plan(input: &PackageInput) -> Result<(String, Vec<Planned>)> {
    let m = input.matrix;
    let top = m.artifact_name(input.version, input.target);
    if !crate::fsutil::is_plain_name(&top) {
        return Err(Error::input(format!(
            "artifact name {top:?} (from {}) must be a plain file name",
            m.path.display()
        )));
    }
    if input.source_date_epoch < 0 {
        return Err(Error::input(format!("SOURCE_DATE_EPOCH {} is negative", input.source_date_epoch)));
    }
    let files = input_files(input, &top)?;

    // Hash every input in parallel (first pass: finds identical files).
    use rayon::prelude::*;
    let hashed: Vec<Result<(String, u64)>> = files.par_iter().map(|(_, src, _)| fsutil::sha256_file(src)).collect();

    let mut files: Vec<(String, PathBuf, u32, String, u64)> = files
        .into_iter()
        .zip(hashed)
        .map(|((p, src, mode), h)| h.map(|(sha, size)| (p, src, mode, sha, size)))
        .collect::<Result<_>>()?;
    files.sort_by(|a, b| a.0.cmp(&b.0));

    let entries = layout(&top, files);
    Ok((top, entries))
}

/// The files of the artifact, `(archive path, source path, mode)`: every one present, a regular
/// file, inside the tree, before anything is written.
fn input_files(input: &PackageInput, top: &str) -> Result<Vec<(String, PathBuf, u32)>> {
    let m = input.matrix;
    let tree = input.tree;
    match std::fs::metadata(tree) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => {
            return Err(Error::input(format!(
                "{}: not a directory (expected a valkey build tree)",
                tree.display()
            )))
        }
        Err(e) => return Err(Error::io(tree, "read build tree", e)),
    }
    let license = &m.artifact.license;
    if license.is_empty() || Path::new(license).is_absolute() || license.split('/').any(|c| c == "..") {
        return Err(Error::input(format!(
            "{}: artifact.license {license:?} must be a path inside the tree",
            m.path.display()
        )));
    }

    // (archive path, source path, mode)
    let mut files: Vec<(String, PathBuf, u32)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for b in &m.artifact.binaries {
        if !crate::fsutil::is_plain_name(b) {
            return Err(Error::input(format!(
                "{}: artifact.binaries: {b:?} must be a plain file name",
                m.path.display()
            )));
        }
        if !seen.insert(b.clone()) {
            return Err(Error::input(format!("{}: artifact.binaries lists {b:?} twice", m.path.display())));
        }
        files.push((format!("{top}/bin/{b}"), tree.join("src").join(b), 0o755));
    }
    files.push((format!("{top}/share/LICENSE"), tree.join(license), 0o644));

    // Every input must be there, inside the tree, before anything is written.
    let real_tree = std::fs::canonicalize(tree).map_err(|e| Error::io(tree, "read build tree", e))?;
    let mut missing = Vec::new();
    for (_, src, _) in &files {
        match std::fs::metadata(src) {
            Ok(md) if md.is_file() => inside_tree(src, tree, &real_tree)?,
            Ok(_) => return Err(Error::input(format!("{}: not a regular file", src.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(src.display().to_string()),
            Err(e) => return Err(Error::io(src, "read", e)),
        }
    }
    if !missing.is_empty() {
        return Err(Error::input(format!(
            "{}: missing from the build tree: {} (expected valkey's tree after make: src/<binaries> and {license})",
            tree.display(),
            missing.join(", ")
        )));
    }
    Ok(files)
}

/// The entries of the tarball, sorted: its directories, then each file, or a link to the first
/// file of identical content and mode.
fn layout(top: &str, files: Vec<(String, PathBuf, u32, String, u64)>) -> Vec<Planned> {
    let mut entries: Vec<Planned> = Vec::new();
    let mut dirs = std::collections::BTreeSet::new();
    dirs.insert(format!("{top}/"));
    for (p, ..) in &files {
        let parts: Vec<&str> = p.split('/').collect();
        let mut cur = String::new();
        for part in &parts[..parts.len() - 1] {
            cur.push_str(part);
            cur.push('/');
            dirs.insert(cur.clone());
        }
    }
    for d in dirs {
        entries.push(Planned { path: d, kind: Kind::Dir });
    }
    let mut by_hash: BTreeMap<(String, u64, u32), String> = BTreeMap::new();
    for (path, src, mode, sha, size) in files {
        // Identical content with the same mode links to the first such file (in sorted order).
        let key = (sha.clone(), size, mode);
        let kind = match by_hash.get(&key) {
            Some(first) => Kind::Link {
                target: first.clone(),
                size,
                sha256: sha,
                mode,
            },
            None => {
                by_hash.insert(key, path.clone());
                Kind::File {
                    src,
                    size,
                    sha256: sha,
                    mode,
                }
            }
        };
        entries.push(Planned { path, kind });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries
}

/// A symlink in the tree may point within it only: the host's files are never packaged.
fn inside_tree(src: &Path, tree: &Path, real_tree: &Path) -> Result<()> {
    let real = std::fs::canonicalize(src).map_err(|e| Error::io(src, "read", e))?;
    if real.starts_with(real_tree) {
        return Ok(());
    }
    Err(Error::input(format!(
        "{}: resolves to {}, outside the build tree {}; symlinks may point inside the tree only",
        src.display(),
        real.display(),
        tree.display()
    )))
}

fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> Result<tar::Header> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h.set_username(OWNER).map_err(|e| Error::external(format!("tar header: {e}")))?;
    h.set_groupname(OWNER).map_err(|e| Error::external(format!("tar header: {e}")))?;
    Ok(h)
}

/// A reader that yields exactly `size` bytes of `inner`, hashing them.
struct ExactHashingReader<R: Read> {
    inner: R,
    left: u64,
    hasher: Sha256,
}

impl<R: Read> Read for ExactHashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shrank while it was being packaged",
            ));
        }
        self.hasher.update(&buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}

/// Write the tar stream of `entries` into `w`.
fn write_tar<W: Write>(w: W, entries: &[Planned], mtime: u64) -> Result<W> {
    let mut b = tar::Builder::new(w);
    let tar_err = |p: &str, e: std::io::Error| Error::external(format!("writing tar entry {p}: {e}"));
    for e in entries {
        match &e.kind {
            Kind::Dir => {
                let mut h = header(tar::EntryType::Directory, 0o755, 0, mtime)?;
                append_named(&mut b, &mut h, &e.path, std::io::empty()).map_err(|x| tar_err(&e.path, x))?;
            }
            Kind::File { src, size, sha256, mode } => {
                let f = std::fs::File::open(src).map_err(|x| Error::io(src, "open", x))?;
                let mut r = ExactHashingReader {
                    inner: f,
                    left: *size,
                    hasher: Sha256::new(),
                };
                let mut h = header(tar::EntryType::Regular, *mode, *size, mtime)?;
                append_named(&mut b, &mut h, &e.path, &mut r).map_err(|x| match x.kind() {
                    std::io::ErrorKind::UnexpectedEof => Error::check(format!("{}: {x}", src.display())),
                    _ => tar_err(&e.path, x),
                })?;
                let got = hex::encode(r.hasher.finalize());
                if &got != sha256 {
                    return Err(Error::check(format!(
                        "{}: changed while it was being packaged (sha256 {sha256} before, {got} while writing)",
                        src.display()
                    )));
                }
            }
            Kind::Link { target, mode, .. } => {
                let mut h = header(tar::EntryType::Link, *mode, 0, mtime)?;
                b.append_link(&mut h, &e.path, target).map_err(|x| tar_err(&e.path, x))?;
            }
        }
    }
    b.into_inner().map_err(|e| Error::external(format!("finishing tar stream: {e}")))
}

/// Append with the exact name bytes (keeping a directory's trailing `/`, as GNU tar does);
/// names of 100 bytes or more go through the GNU long-name extension.
fn append_named<W: Write, R: Read>(b: &mut tar::Builder<W>, h: &mut tar::Header, path: &str, data: R) -> std::io::Result<()> {
    let bytes = path.as_bytes();
    let name = &mut h.as_old_mut().name;
    if bytes.len() < name.len() {
        name[..bytes.len()].copy_from_slice(bytes);
        h.set_cksum();
        b.append(h, data)
    } else {
        b.append_data(h, path, data)
    }
}

/// Write `<artifact>.tar.gz` and `<artifact>.tar.gz.sha256` into `out_dir` (atomically) and
/// return the manifest entry (with `build: None`). Does not touch manifest.json.
pub fn package_tree(input: &PackageInput, out_dir: &Path) -> Result<Artifact> {
    let (top, entries) = plan(input)?;
    let file = crate::artifact::tarball::file_name(&top);
    let dest = out_dir.join(&file);
    let mtime = input.source_date_epoch as u64;

    let out = AtomicFile::create(&dest)?;
    let buffered = BufWriter::with_capacity(256 * 1024, out);
    let hashing = HashingWriter::new(buffered);
    let gz = pgz::ParGzWriter::new(hashing, GZIP_LEVEL, GZIP_OS);
    let gz = write_tar(gz, &entries, mtime)?;
    let hashing = gz.finish().map_err(|e| Error::io(&dest, "write", e))?;
    let (buffered, sha256, size) = hashing.finish();
    let out = buffered.into_inner().map_err(|e| Error::io(&dest, "write", e.into_error()))?;
    out.commit()?;

    let checksum_file = format!("{file}.sha256");
    fsutil::write_atomic(&out_dir.join(&checksum_file), manifest::checksum_line(&sha256, &file).as_bytes())?;

    let files = entries
        .iter()
        .filter_map(|e| match &e.kind {
            Kind::Dir => None,
            Kind::File { size, sha256, mode, .. } => Some(FileEntry {
                path: e.path.clone(),
                size: *size,
                sha256: sha256.clone(),
                mode: format!("{mode:04o}"),
                link_to: None,
            }),
            Kind::Link {
                target,
                size,
                sha256,
                mode,
            } => Some(FileEntry {
                path: e.path.clone(),
                size: *size,
                sha256: sha256.clone(),
                mode: format!("{mode:04o}"),
                link_to: Some(target.clone()),
            }),
        })
        .collect();
    Ok(Artifact {
        target: input.target.name.clone(),
        kind: crate::artifact::DEFAULT_KIND.into(),
        describes: None,
        distro: input.target.distro.clone(),
        arch: input.target.arch.as_str().to_string(),
        file,
        size,
        sha256,
        checksum_file,
        files,
        build: None,
    })
}

/// Options of the `package` command (see [`package`]).
#[derive(Debug, Clone)]
pub struct PackageOptions {
    pub version: Version,
    /// `<distro>-<arch>`.
    pub target: String,
    /// The build tree.
    pub from: PathBuf,
    /// The dist directory (created if needed).
    pub out: PathBuf,
    pub source_date_epoch: i64,
    /// Recorded in the manifest; default: the tree's name, kind `unknown`.
    pub source: Option<SourceInfo>,
}

/// What `package` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PackageReport {
    pub version: String,
    pub target: String,
    pub tarball: PathBuf,
    pub checksum_file: PathBuf,
    pub manifest: PathBuf,
    pub sha256sums: PathBuf,
    /// An artifact of the same target was already in the manifest and was replaced.
    pub replaced: bool,
    pub artifact: Artifact,
}

/// Package one target's build tree into `opts.out` and record it in manifest.json and SHA256SUMS.
/// Nothing is written when the input is unusable.
pub fn package(matrix: &Matrix, opts: &PackageOptions) -> Result<PackageReport> {
    let target = matrix.target(&opts.target)?;
    let source = opts.source.clone().unwrap_or_else(|| default_source(&opts.from));
    // Refuse a dist/ of another release before writing anything.
    dist::check_dist(&opts.out, &opts.version, opts.source_date_epoch, &source)?;
    let input = PackageInput {
        matrix,
        version: &opts.version,
        target,
        tree: &opts.from,
        source_date_epoch: opts.source_date_epoch,
    };
    let artifact = package_tree(&input, &opts.out)?;
    let added = add_to_dist(&opts.out, &opts.version, opts.source_date_epoch, &source, artifact.clone())?;
    Ok(PackageReport {
        version: opts.version.to_string(),
        target: target.name.clone(),
        tarball: opts.out.join(&artifact.file),
        checksum_file: opts.out.join(&artifact.checksum_file),
        manifest: crate::manifest::Manifest::path(&opts.out),
        sha256sums: opts.out.join(crate::manifest::SHA256SUMS),
        replaced: added.replaced,
        artifact,
    })
}

/// The source record for a build tree given to `package`: its directory name, kind `unknown`.
pub fn default_source(tree: &Path) -> SourceInfo {
    let name = std::fs::canonicalize(tree)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| tree.display().to_string());
    SourceInfo {
        name,
        kind: "unknown".to_string(),
        ..Default::default()
    }
}
