//! A local directory as a [`Store`] (`file://DIR`): the same keys and checks as S3, for a
//! release on one machine with no bucket configured. Objects are files `DIR/<key>`.

use super::object::{Body, PutOutcome, PutRequest, RemoteObject, Store};
use crate::error::{Error, Result};
use crate::progress::Item;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// `file://DIR`: the whole rest is the directory; keys are relative to it.
pub struct FileBackend;

impl super::Backend for FileBackend {
    fn parse(&self, rest: &str) -> std::result::Result<(String, String), String> {
        if rest.is_empty() || rest.chars().any(char::is_control) {
            return Err("expected file:///abs/dir or file://relative/dir".into());
        }
        Ok((rest.to_string(), String::new()))
    }

    fn open<'a>(&'a self, url: &'a super::StoreUrl, _cfg: &'a super::StoreConfig) -> BoxFuture<'a, Result<std::sync::Arc<dyn Store>>> {
        async move { Ok(std::sync::Arc::new(FileStore::new(Path::new(&url.location))?) as std::sync::Arc<dyn Store>) }.boxed()
    }
}

/// A directory store.
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    /// `root` is created on the first write if missing. Relative paths are made absolute.
    pub fn new(root: &Path) -> Result<FileStore> {
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io(Path::new("."), "read current directory", e))?
                .join(root)
        };
        crate::fsutil::check_dir_arg(&root, "store file://", "the store's directory")?;
        Ok(FileStore { root })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        if !super::is_plain_key(key) {
            return Err(Error::input(format!("object key {key:?} is not a plain relative path")));
        }
        Ok(self.root.join(key))
    }
}

fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> BoxFuture<'static, Result<T>> {
    async move {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::external(format!("file task failed: {e}")))?
    }
    .boxed()
}

impl Store for FileStore {
    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn uri(&self, key: &str) -> String {
        format!("file://{}/{key}", self.root.display())
    }

    fn check_access(&self) -> BoxFuture<'_, Result<()>> {
        let root = self.root.clone();
        blocking(move || {
            crate::fsutil::create_dir_all(&root)?;
            let meta = std::fs::metadata(&root).map_err(|e| Error::io(&root, "read", e))?;
            if meta.permissions().readonly() {
                return Err(Error::external(format!("{}: store directory is read-only", root.display())));
            }
            Ok(())
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<RemoteObject>>> {
        let p = match self.path(key) {
            Ok(p) => p,
            Err(e) => return async move { Err(e) }.boxed(),
        };
        blocking(move || {
            if !p.is_file() {
                return Ok(None);
            }
            let (sha, size) = crate::fsutil::sha256_file(&p)?;
            Ok(Some(RemoteObject {
                size,
                sha256: Some(sha),
                checksum: None,
            }))
        })
    }

    fn put<'a>(&'a self, req: &'a PutRequest, progress: &'a Item) -> BoxFuture<'a, Result<PutOutcome>> {
        let dest = match self.path(&req.key) {
            Ok(p) => p,
            Err(e) => return async move { Err(e) }.boxed(),
        };
        let req = req.clone();
        let progress = progress.clone();
        blocking(move || {
            let dir = dest.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
            crate::fsutil::create_dir_all(&dir)?;
            let mut out = tempfile::Builder::new()
                .prefix(".upload.")
                .suffix(".tmp")
                .tempfile_in(&dir)
                .map_err(|e| Error::io(&dir, "create temporary file", e))?;
            let mut h = Sha256::new();
            let mut n = 0u64;
            match &req.body {
                Body::Bytes(b) => {
                    h.update(b);
                    out.write_all(b).map_err(|e| Error::io(&dest, "write", e))?;
                    n = b.len() as u64;
                }
                Body::File(src) => {
                    let mut f = std::fs::File::open(src).map_err(|e| Error::io(src, "open", e))?;
                    let mut buf = vec![0u8; 1024 * 1024];
                    loop {
                        let k = f.read(&mut buf).map_err(|e| Error::io(src, "read", e))?;
                        if k == 0 {
                            break;
                        }
                        h.update(&buf[..k]);
                        out.write_all(&buf[..k]).map_err(|e| Error::io(&dest, "write", e))?;
                        n += k as u64;
                        progress.inc(k as u64);
                    }
                }
            }
            let got = hex::encode(h.finalize());
            if got != req.sha256 || n != req.size {
                return Err(super::s3::refused_changed(&req.body, &req.key, &req.sha256, &got));
            }
            {
                use std::os::unix::fs::PermissionsExt;
                let f = out.as_file();
                f.sync_all().map_err(|e| Error::io(&dest, "write", e))?;
                f.set_permissions(std::fs::Permissions::from_mode(0o644))
                    .map_err(|e| Error::io(&dest, "set permissions", e))?;
            }
            if req.create_only {
                // Linked into place only if the key is still absent (no overwrite, atomic).
                return match out.persist_noclobber(&dest) {
                    Ok(_) => Ok(PutOutcome::Written),
                    Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(PutOutcome::Exists),
                    Err(e) => Err(Error::io(&dest, "create", e.error)),
                };
            }
            out.persist(&dest).map_err(|e| Error::io(&dest, "rename into place", e.error))?;
            Ok(PutOutcome::Written)
        })
    }

    fn hash_object<'a>(&'a self, key: &'a str, progress: Option<&'a Item>) -> BoxFuture<'a, Result<Option<(String, u64)>>> {
        let p = match self.path(key) {
            Ok(p) => p,
            Err(e) => return async move { Err(e) }.boxed(),
        };
        let progress = progress.cloned();
        blocking(move || {
            if !p.is_file() {
                return Ok(None);
            }
            let f = std::fs::File::open(&p).map_err(|e| Error::io(&p, "open", e))?;
            let mut r = ProgressReader { inner: f, item: progress };
            let (sha, n) = crate::fsutil::sha256_reader(&mut r).map_err(|e| Error::io(&p, "read", e))?;
            Ok(Some((sha, n)))
        })
    }

    fn get_small<'a>(&'a self, key: &'a str, limit: u64) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        let p = match self.path(key) {
            Ok(p) => p,
            Err(e) => return async move { Err(e) }.boxed(),
        };
        blocking(move || {
            if !p.is_file() {
                return Ok(None);
            }
            let len = std::fs::metadata(&p).map_err(|e| Error::io(&p, "read", e))?.len();
            if len > limit {
                return Err(Error::check(format!("{}: larger than {limit} bytes", p.display())));
            }
            std::fs::read(&p).map(Some).map_err(|e| Error::io(&p, "read", e))
        })
    }

    fn download<'a>(&'a self, key: &'a str, dest: &'a Path) -> BoxFuture<'a, Result<Option<(String, u64)>>> {
        let p = match self.path(key) {
            Ok(p) => p,
            Err(e) => return async move { Err(e) }.boxed(),
        };
        let dest = dest.to_path_buf();
        blocking(move || {
            if !p.is_file() {
                return Ok(None);
            }
            let f = std::fs::File::open(&p).map_err(|e| Error::io(&p, "open", e))?;
            let mut out = crate::fsutil::AtomicFile::create(&dest)?;
            let mut w = crate::fsutil::HashingWriter::new(out.file());
            std::io::copy(&mut std::io::BufReader::new(f), &mut w).map_err(|e| Error::io(&p, "copy", e))?;
            let (_, sha, n) = w.finish();
            out.commit()?;
            Ok(Some((sha, n)))
        })
    }

    fn abort_in_flight(&self) -> BoxFuture<'_, ()> {
        // Temporary files are removed when their writer is dropped.
        async {}.boxed()
    }
}

struct ProgressReader<R: Read> {
    inner: R,
    item: Option<Item>,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(i) = &self.item {
            i.inc(n as u64);
        }
        Ok(n)
    }
}
