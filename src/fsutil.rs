//! File-system helpers: every write goes to a temporary name in the same
//! directory and is renamed into place only when whole.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Create `dir` and its parents.
pub fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| match std::fs::metadata(dir) {
        Ok(md) if !md.is_dir() => Error::input(format!(
            "{}: cannot create directory: it exists and is {}, expected a directory",
            dir.display(),
            kind_of(&md)
        )),
        _ => Error::io(dir, "create directory", e),
    })
}

/// "a file", "a symlink", "a FIFO or device" ... for messages.
pub fn kind_of(md: &std::fs::Metadata) -> &'static str {
    if md.is_dir() {
        "a directory"
    } else if md.is_file() {
        "a file"
    } else {
        "not a regular file (a FIFO, socket or device)"
    }
}

/// A directory argument (`--out`, `--dist`, `--merge`): when `dir` exists it must be a
/// directory; exit 2 naming the option, the path, what it is and what is expected.
pub fn check_dir_arg(dir: &Path, option: &str, expected: &str) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(md) if !md.is_dir() => Err(Error::input(format!(
            "{option} {}: is {}; expected a directory ({expected})",
            dir.display(),
            kind_of(&md)
        ))),
        _ => Ok(()),
    }
}

/// A file being written under a temporary name next to its final path.
/// Dropped without [`AtomicFile::commit`], the temporary file is removed.
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    /// Start writing `dest` (its directory is created if needed).
    pub fn create(dest: &Path) -> Result<AtomicFile> {
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        create_dir_all(&dir)?;
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dir, "create temporary file", e))?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// The open file, for writing.
    pub fn file(&mut self) -> &mut std::fs::File {
        self.tmp.as_file_mut()
    }

    /// Flush, set mode 0644 and rename into place.
    pub fn commit(self) -> Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let f = self.tmp.as_file();
        f.sync_all().map_err(|e| Error::io(&self.dest, "write", e))?;
        f.set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io(&self.dest, "set permissions", e))?;
        let dest = self.dest.clone();
        self.tmp
            .persist(&dest)
            .map_err(|e| Error::io(&dest, "rename into place", e.error))?;
        Ok(dest)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tmp.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.tmp.flush()
    }
}

/// Write `bytes` to `dest` atomically.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.write_all(bytes).map_err(|e| Error::io(dest, "write", e))?;
    f.commit()?;
    Ok(())
}

/// SHA-256 of bytes in memory, lowercase hex.
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Streaming SHA-256 of a reader; returns (lowercase hex, bytes read).
pub fn sha256_reader<R: Read>(mut r: R) -> std::io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

/// Streaming SHA-256 of a file; returns (lowercase hex, size).
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, "open", e))?;
    sha256_reader(f).map_err(|e| Error::io(path, "read", e))
}

/// A writer adapter that hashes what passes through and counts bytes.
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
    /// (inner writer, hex digest, bytes written)
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Is `s` 64 lowercase-or-uppercase hex digits?
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Is `s` a plain name: not empty, not `.` or `..`, no `/`, `\`, NUL or other control character?
/// Every name read from a file (manifest, targets.toml) that becomes part of a path must be one,
/// so nothing outside the intended directory is read or written.
pub fn is_plain_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains("..") && !s.chars().any(|c| c == '/' || c == '\\' || c.is_control())
}

/// [`is_plain_name`] as an input error (exit 2) naming `what` and the value.
pub fn check_plain_name(s: &str, what: impl std::fmt::Display) -> Result<()> {
    if is_plain_name(s) {
        Ok(())
    } else {
        Err(Error::input(format!(
            "{what}: {s:?} must be a plain name (not empty, no '/', '\\', '..' or control characters, not absolute)"
        )))
    }
}

/// Largest input text file read whole (targets.toml, manifest.json, payloads, checksum files).
pub const INPUT_LIMIT: u64 = 64 * 1024 * 1024;

/// Read an input file the user named (`what`: "manifest", "targets file", ...) as UTF-8 text.
/// Everything that makes it unusable is an input error (exit 2) naming the file: missing, a
/// directory or anything but a regular file (a FIFO, `/dev/zero`), larger than
/// [`INPUT_LIMIT`], not UTF-8. Only a failing disk is exit 3.
pub fn read_input_text(p: &Path, what: &str) -> Result<String> {
    let md = std::fs::metadata(p).map_err(|e| Error::io(p, &format!("read {what}"), e))?;
    if !md.is_file() {
        let is = if md.is_dir() { "a directory" } else { "not a regular file" };
        return Err(Error::input(format!("{}: cannot read {what}: {is}", p.display())));
    }
    let f = std::fs::File::open(p).map_err(|e| Error::io(p, &format!("read {what}"), e))?;
    let mut bytes = Vec::new();
    f.take(INPUT_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(p, &format!("read {what}"), e))?;
    if bytes.len() as u64 > INPUT_LIMIT {
        return Err(Error::input(format!(
            "{}: cannot read {what}: larger than {INPUT_LIMIT} bytes",
            p.display()
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        Error::input(format!(
            "{}: cannot read {what}: not UTF-8 text (invalid byte at offset {})",
            p.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}
