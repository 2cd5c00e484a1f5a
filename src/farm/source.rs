//! The release's source: a directory (git checkout or plain tree), a `.tar.gz`/`.tar.xz`
//! archive, or a URL (downloaded, then treated as an archive).
//!
//! Whatever the kind, it is turned once into an uncompressed tar stream rooted at the
//! source's top directory (`src/`, `deps/`, `COPYING`, ... at the tar's root), which is
//! uploaded into every builder container at `/build`. Its sha256, SOURCE_DATE_EPOCH and
//! (for git) commit are recorded for the manifest.

use crate::error::{Error, Result};
use crate::manifest::SourceInfo;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the user named as the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    Directory(PathBuf),
    Archive(PathBuf),
    Url(String),
}

impl SourceSpec {
    /// Classify a `--source` argument: `http(s)://` is a URL, an existing directory a directory,
    /// anything else an archive path.
    pub fn parse(s: &str) -> SourceSpec {
        if s.starts_with("http://") || s.starts_with("https://") {
            SourceSpec::Url(s.to_string())
        } else if Path::new(s).is_dir() {
            SourceSpec::Directory(PathBuf::from(s))
        } else {
            SourceSpec::Archive(PathBuf::from(s))
        }
    }
}

/// A source ready to be uploaded into containers.
#[derive(Debug)]
pub struct PreparedSource {
    /// For the manifest.
    pub info: SourceInfo,
    pub source_date_epoch: i64,
    /// Uncompressed tar, entries relative to the source's top directory.
    pub tar: PathBuf,
    /// Size of `tar` in bytes.
    pub tar_size: u64,
    /// The commit the source is: a git checkout's HEAD, the `source_sha` given, or the commit id
    /// in a GitHub tag archive's pax global header. `None` when unknown.
    pub commit: Option<String>,
}

/// Prepare `spec` into `work` (a scratch directory owned by the run).
/// `expected_commit`: for a git checkout HEAD must equal it (exit 4 otherwise); for other
/// kinds it is recorded as `source.source_sha`.
pub async fn prepare(spec: &SourceSpec, work: &Path, allow_dirty: bool, expected_commit: Option<&str>) -> Result<PreparedSource> {
    crate::fsutil::create_dir_all(work)?;
    let mut prepared = match spec {
        SourceSpec::Url(url) => {
            let file = download(url, work).await?;
            let mut p = blocking({
                let file = file.clone();
                let work = work.to_path_buf();
                move || from_archive(&file, &work)
            })
            .await?;
            p.info.kind = "url".into();
            p.info.url = Some(url.clone());
            p.info.name = url.rsplit('/').next().unwrap_or(url).to_string();
            let _ = std::fs::remove_file(&file);
            p
        }
        SourceSpec::Archive(path) => {
            let (path, work) = (path.clone(), work.to_path_buf());
            blocking(move || from_archive(&path, &work)).await?
        }
        SourceSpec::Directory(dir) => {
            let (dir, work) = (dir.clone(), work.to_path_buf());
            let expected = expected_commit.map(str::to_string);
            blocking(move || from_directory(&dir, &work, allow_dirty, expected.as_deref())).await?
        }
    };
    if let Some(sha) = expected_commit {
        if prepared.info.kind != "git" {
            prepared.info.source_sha = Some(sha.to_string());
        }
    }
    if let (Some(archive), Some(want)) = (&prepared.commit, expected_commit) {
        if !archive.starts_with(&want.to_ascii_lowercase()) {
            return Err(Error::refused(format!(
                "{}: the archive is commit {archive} (its pax header), but the release must be built from source_sha {want}",
                prepared.info.name
            )));
        }
    }
    prepared.commit = prepared
        .commit
        .clone()
        .or_else(|| prepared.info.git_commit.clone())
        .or_else(|| expected_commit.map(|s| s.to_ascii_lowercase()));
    Ok(prepared)
}

/// The commit id in a pax global header's `comment` record (`52 comment=<40 hex>\n`).
pub fn pax_comment_commit(records: &str) -> Option<String> {
    records.lines().find_map(|l| {
        let (_, kv) = l.split_once(' ')?;
        let v = kv.strip_prefix("comment=")?.trim();
        (v.len() == 40 && v.bytes().all(|b| b.is_ascii_hexdigit())).then(|| v.to_ascii_lowercase())
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::external(format!("source preparation task failed: {e}")))?
}

/// Download `url` into `work`, streaming. Errors name the URL.
async fn download(url: &str, work: &Path) -> Result<PathBuf> {
    use futures_util::StreamExt;
    let client = reqwest::Client::builder()
        .user_agent(concat!("valkey-release/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::external(format!("HTTP client: {e}")))?;
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| Error::external(format!("downloading source {url}: {e}")))?;
    if !resp.status().is_success() {
        let st = resp.status();
        return Err(if st == reqwest::StatusCode::NOT_FOUND {
            Error::input(format!("downloading source {url}: HTTP 404 Not Found (is the version tagged?)"))
        } else {
            Error::external(format!("downloading source {url}: HTTP {st}"))
        });
    }
    let dest = work.join("source-download");
    let mut f = std::fs::File::create(&dest).map_err(|e| Error::io(&dest, "create", e))?;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::external(format!("downloading source {url}: {e}")))?;
        f.write_all(&chunk).map_err(|e| Error::io(&dest, "write", e))?;
    }
    f.sync_all().map_err(|e| Error::io(&dest, "write", e))?;
    Ok(dest)
}

/// Open an archive, detecting gzip or xz by its first bytes.
fn open_archive(path: &Path) -> Result<Box<dyn Read>> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, "open source archive", e))?;
    let mut magic = [0u8; 6];
    let n = f.read(&mut magic).map_err(|e| Error::io(path, "read", e))?;
    drop(f);
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, "open source archive", e))?;
    let r = std::io::BufReader::new(f);
    if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::GzDecoder::new(r)))
    } else if n == 6 && magic == [0xfd, b'7', b'z', b'X', b'Z', 0] {
        Ok(Box::new(xz2::read::XzDecoder::new(r)))
    } else {
        Err(Error::input(format!(
            "{}: not a .tar.gz or .tar.xz archive (give a directory, a .tar.gz/.tar.xz file or an http(s) URL)",
            path.display()
        )))
    }
}

/// Strip the single top directory shared by every entry (`valkey-8.1.1/`), if there is one.
fn top_dir(path: &Path) -> Result<Option<String>> {
    let mut ar = tar::Archive::new(open_archive(path)?);
    let mut top: Option<String> = None;
    let bad = |e: std::io::Error| Error::input(format!("{}: corrupt archive: {e}", path.display()));
    for entry in ar.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let t = entry.header().entry_type();
        if t.is_pax_global_extensions() || t.is_pax_local_extensions() || t.is_gnu_longname() || t.is_gnu_longlink() {
            continue;
        }
        let p = entry.path().map_err(bad)?.into_owned();
        let first = match p.components().next() {
            Some(std::path::Component::Normal(c)) => c.to_string_lossy().into_owned(),
            _ => return Ok(None),
        };
        if p.components().count() == 1 && !t.is_dir() {
            return Ok(None);
        }
        match &top {
            None => top = Some(first),
            Some(t) if *t != first => return Ok(None),
            _ => {}
        }
    }
    Ok(top)
}

fn from_archive(path: &Path, work: &Path) -> Result<PreparedSource> {
    let (sha, _) = crate::fsutil::sha256_file(path)?;
    let top = top_dir(path)?;
    let bad = |e: std::io::Error| Error::input(format!("{}: corrupt archive: {e}", path.display()));
    let tar_path = work.join("source.tar");
    let out = std::fs::File::create(&tar_path).map_err(|e| Error::io(&tar_path, "create", e))?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(out));
    let mut newest: u64 = 0;
    let mut commit = None;
    let mut ar = tar::Archive::new(open_archive(path)?);
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let t = entry.header().entry_type();
        if t.is_pax_global_extensions() {
            // `git archive` (GitHub's tag archives) writes `comment=<commit id>` here.
            let mut text = String::new();
            let _ = entry.read_to_string(&mut text);
            commit = commit.or_else(|| pax_comment_commit(&text));
            continue;
        }
        if !(t.is_file() || t.is_dir() || t.is_symlink() || t.is_hard_link()) {
            continue;
        }
        let p = entry.path().map_err(bad)?.into_owned();
        let rel: PathBuf = match &top {
            Some(_) => p.components().skip(1).collect(),
            None => p.clone(),
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        if rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
            return Err(Error::input(format!(
                "{}: entry {} escapes the source tree",
                path.display(),
                p.display()
            )));
        }
        let mtime = entry.header().mtime().unwrap_or(0);
        newest = newest.max(mtime);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(t);
        h.set_mode(entry.header().mode().unwrap_or(0o644));
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        let werr = |e: std::io::Error| Error::io(&tar_path, "write", e);
        if t.is_symlink() || t.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(bad)?
                .ok_or_else(|| Error::input(format!("{}: link {} without target", path.display(), p.display())))?
                .into_owned();
            let target: PathBuf = if t.is_hard_link() && top.is_some() {
                target.components().skip(1).collect()
            } else {
                target
            };
            h.set_size(0);
            builder.append_link(&mut h, &rel, &target).map_err(werr)?;
        } else if t.is_dir() {
            h.set_size(0);
            builder.append_data(&mut h, &rel, std::io::empty()).map_err(werr)?;
        } else {
            h.set_size(entry.header().size().unwrap_or(0));
            builder.append_data(&mut h, &rel, &mut entry).map_err(werr)?;
        }
    }
    let w = builder.into_inner().map_err(|e| Error::io(&tar_path, "write", e))?;
    w.into_inner()
        .map_err(|e| Error::io(&tar_path, "write", e.into_error()))?
        .sync_all()
        .map_err(|e| Error::io(&tar_path, "write", e))?;
    if newest == 0 {
        return Err(Error::input(format!(
            "{}: the archive holds no files with a modification time",
            path.display()
        )));
    }
    let tar_size = std::fs::metadata(&tar_path).map(|m| m.len()).unwrap_or(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(PreparedSource {
        info: SourceInfo {
            name,
            kind: "archive".into(),
            sha256: Some(sha),
            ..Default::default()
        },
        commit,
        source_date_epoch: newest as i64,
        tar: tar_path,
        tar_size,
    })
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| Error::external(format!("running git in {}: {e} (is git installed?)", dir.display())))?;
    if !out.status.success() {
        return Err(Error::external(format!(
            "git {} in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// Is `dir` the top of a git work tree?
fn is_git_top(dir: &Path) -> bool {
    dir.join(".git").exists()
}

fn from_directory(dir: &Path, work: &Path, allow_dirty: bool, expected_commit: Option<&str>) -> Result<PreparedSource> {
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    let mut info = SourceInfo {
        name,
        kind: "directory".into(),
        ..Default::default()
    };
    let mut sde: Option<i64> = None;
    let mut files: Option<Vec<PathBuf>> = None;
    if is_git_top(dir) {
        let head = git(dir, &["rev-parse", "HEAD"])?;
        if let Some(want) = expected_commit {
            if !head.eq_ignore_ascii_case(want) {
                return Err(Error::refused(format!(
                    "{}: HEAD is {head}, but the release must be built from source_sha {want}; check out that commit",
                    dir.display()
                )));
            }
        }
        let status = git(dir, &["status", "--porcelain", "--untracked-files=normal"])?;
        if !status.is_empty() && !allow_dirty {
            let first: Vec<&str> = status.lines().take(5).collect();
            return Err(Error::refused(format!(
                "{}: the git checkout has local changes ({}); commit or stash them, or pass --allow-dirty",
                dir.display(),
                first.join("; ")
            )));
        }
        let ct = git(dir, &["log", "-1", "--format=%ct", "HEAD"])?;
        sde = Some(
            ct.trim()
                .parse()
                .map_err(|_| Error::external(format!("git log: unexpected commit time {ct:?}")))?,
        );
        info.kind = "git".into();
        info.git_commit = Some(head);
        if !status.is_empty() {
            info.kind = "git-dirty".into();
        } else {
            // Exactly the committed files (no ignored build leftovers).
            let ls = git(dir, &["ls-files", "-z", "--recurse-submodules"])?;
            files = Some(ls.split('\0').filter(|s| !s.is_empty()).map(PathBuf::from).collect());
        }
    }
    let files = match files {
        Some(f) => f,
        None => walk(dir)?,
    };
    let tar_path = work.join("source.tar");
    let (digest, newest) = write_dir_tar(dir, &files, &tar_path)?;
    info.sha256 = Some(digest);
    let sde = match sde {
        Some(s) => s,
        None => newest.ok_or_else(|| Error::input(format!("{}: the source directory holds no files", dir.display())))?,
    };
    let tar_size = std::fs::metadata(&tar_path).map(|m| m.len()).unwrap_or(0);
    Ok(PreparedSource {
        info,
        source_date_epoch: sde,
        tar: tar_path,
        tar_size,
        commit: None,
    })
}

/// Every file, symlink and directory under `dir` (relative, sorted), skipping `.git`.
fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let rd = std::fs::read_dir(&abs).map_err(|e| Error::io(&abs, "read directory", e))?;
        for e in rd {
            let e = e.map_err(|e| Error::io(&abs, "read directory", e))?;
            if e.file_name() == ".git" {
                continue;
            }
            let r = rel.join(e.file_name());
            let ft = e.file_type().map_err(|er| Error::io(&e.path(), "stat", er))?;
            if ft.is_dir() {
                stack.push(r.clone());
            }
            out.push(r);
        }
    }
    out.sort();
    Ok(out)
}

/// Write the files of `dir` into an uncompressed tar (uid/gid 0, modes and mtimes kept);
/// return a digest of the sorted list of (path, type, content sha256) and the newest mtime.
fn write_dir_tar(dir: &Path, files: &[PathBuf], tar_path: &Path) -> Result<(String, Option<i64>)> {
    use std::os::unix::fs::MetadataExt;
    let out = std::fs::File::create(tar_path).map_err(|e| Error::io(tar_path, "create", e))?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(out));
    let mut digest = Sha256::new();
    let mut newest: Option<i64> = None;
    let werr = |e: std::io::Error| Error::io(tar_path, "write", e);
    let mut sorted = files.to_vec();
    sorted.sort();
    sorted.dedup();
    for rel in &sorted {
        let abs = dir.join(rel);
        let md = match std::fs::symlink_metadata(&abs) {
            Ok(m) => m,
            // git ls-files may list a file deleted in the work tree
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&abs, "stat", e)),
        };
        let mut h = tar::Header::new_gnu();
        h.set_mode(md.mode() & 0o7777);
        h.set_mtime(md.mtime().max(0) as u64);
        h.set_uid(0);
        h.set_gid(0);
        let relname = rel.to_string_lossy();
        if md.file_type().is_symlink() {
            let target = std::fs::read_link(&abs).map_err(|e| Error::io(&abs, "read link", e))?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            builder.append_link(&mut h, rel, &target).map_err(werr)?;
            digest.update(format!("l {relname} {}\n", target.display()));
        } else if md.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            builder.append_data(&mut h, rel, std::io::empty()).map_err(werr)?;
        } else if md.is_file() {
            newest = Some(newest.unwrap_or(i64::MIN).max(md.mtime()));
            let (fsha, _) = crate::fsutil::sha256_file(&abs)?;
            digest.update(format!("f {relname} {fsha} {:o}\n", md.mode() & 0o111));
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(md.len());
            let f = std::fs::File::open(&abs).map_err(|e| Error::io(&abs, "open", e))?;
            builder.append_data(&mut h, rel, f).map_err(werr)?;
        }
    }
    let w = builder.into_inner().map_err(werr)?;
    w.into_inner()
        .map_err(|e| Error::io(tar_path, "write", e.into_error()))?
        .sync_all()
        .map_err(werr)?;
    Ok((hex::encode(digest.finalize()), newest))
}

/// A copy of the uncompressed source tar `src` at `dst` with every entry owned by `uid:gid`
/// (the build user of a container, which then owns the build tree it writes into).
pub fn owned_copy(src: &Path, dst: &Path, uid: u64, gid: u64) -> Result<()> {
    let bad = |e: std::io::Error| Error::external(format!("re-owning the source tar {}: {e}", src.display()));
    let f = std::fs::File::open(src).map_err(|e| Error::io(src, "open", e))?;
    let mut ar = tar::Archive::new(std::io::BufReader::new(f));
    let mut out = crate::fsutil::AtomicFile::create(dst)?;
    {
        let mut b = tar::Builder::new(std::io::BufWriter::new(out.file()));
        let mut dirs = std::collections::HashSet::new();
        for entry in ar.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let mut h = entry.header().clone();
            h.set_uid(uid);
            h.set_gid(gid);
            let path = entry.path().map_err(bad)?.into_owned();
            // Every directory needs an entry of its own, or the engine creates it as root.
            let mut parents: Vec<&Path> = path.ancestors().skip(1).filter(|p| !p.as_os_str().is_empty()).collect();
            if entry.header().entry_type().is_dir() {
                dirs.insert(path.clone());
            }
            parents.reverse();
            for d in parents {
                if dirs.insert(d.to_path_buf()) {
                    let mut dh = tar::Header::new_gnu();
                    dh.set_entry_type(tar::EntryType::Directory);
                    dh.set_mode(0o755);
                    dh.set_uid(uid);
                    dh.set_gid(gid);
                    dh.set_mtime(h.mtime().unwrap_or(0));
                    dh.set_size(0);
                    b.append_data(&mut dh, d, std::io::empty()).map_err(bad)?;
                }
            }
            match entry.header().entry_type() {
                t if t.is_symlink() || t.is_hard_link() => {
                    let target = entry.link_name().map_err(bad)?.unwrap_or_default().into_owned();
                    b.append_link(&mut h, &path, &target).map_err(bad)?
                }
                _ => b.append_data(&mut h, &path, &mut entry).map_err(bad)?,
            }
        }
        b.into_inner().map_err(bad)?;
    }
    out.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_targz(dir: &Path, top: &str) -> PathBuf {
        let p = dir.join("src.tar.gz");
        let f = std::fs::File::create(&p).unwrap();
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (name, mtime, body) in [("COPYING", 1000u64, "license"), ("src/Makefile", 2000, "all:\n")] {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_mtime(mtime);
            h.set_size(body.len() as u64);
            b.append_data(&mut h, format!("{top}/{name}"), body.as_bytes()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
        p
    }

    #[test]
    fn classify() {
        assert_eq!(
            SourceSpec::parse("https://x/y.tar.gz"),
            SourceSpec::Url("https://x/y.tar.gz".into())
        );
        assert_eq!(
            SourceSpec::parse("/nonexistent.tar.xz"),
            SourceSpec::Archive("/nonexistent.tar.xz".into())
        );
        assert_eq!(SourceSpec::parse("/"), SourceSpec::Directory("/".into()));
    }

    #[test]
    fn archive_strips_top_dir_and_takes_newest_mtime() {
        let d = tempfile::tempdir().unwrap();
        let a = make_targz(d.path(), "valkey-1.2.3");
        let p = from_archive(&a, d.path()).unwrap();
        assert_eq!(p.source_date_epoch, 2000);
        assert_eq!(p.info.sha256.as_deref(), Some(crate::fsutil::sha256_file(&a).unwrap().0.as_str()));
        let mut ar = tar::Archive::new(std::fs::File::open(&p.tar).unwrap());
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["COPYING", "src/Makefile"]);
    }

    #[test]
    fn not_an_archive_is_input_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.tar.gz");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(from_archive(&p, d.path()).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn plain_directory() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("tree");
        std::fs::create_dir_all(src.join("src")).unwrap();
        std::fs::write(src.join("COPYING"), "l").unwrap();
        std::fs::write(src.join("src/Makefile"), "all:").unwrap();
        let work = d.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let p1 = from_directory(&src, &work, false, None).unwrap();
        assert_eq!(p1.info.kind, "directory");
        let p2 = from_directory(&src, &work, false, None).unwrap();
        assert_eq!(p1.info.sha256, p2.info.sha256);
        std::fs::write(src.join("COPYING"), "changed").unwrap();
        let p3 = from_directory(&src, &work, false, None).unwrap();
        assert_ne!(p1.info.sha256, p3.info.sha256);
    }
}
