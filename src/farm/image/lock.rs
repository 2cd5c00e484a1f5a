//! The per-image build lock, the image build log, and the mmdebstrap process guard.

use super::ImageOptions;
use crate::error::{Error, Result};
use crate::progress::Item;
use std::io::Write;
use std::path::PathBuf;

// ------------------------------------------------------------------ locking

/// The directory of the image locks: private to this user (mode 0700, owned by us, not a
/// symlink), so no other user can pre-create or hold a lock: `$XDG_RUNTIME_DIR/valkey-release`,
/// else `$HOME/.cache/valkey-release/locks`.
pub fn lock_dir() -> Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let dir = match (env("XDG_RUNTIME_DIR"), env("HOME")) {
        (Some(r), _) => r.join("valkey-release"),
        (None, Some(h)) => h.join(".cache").join("valkey-release").join("locks"),
        (None, None) => {
            return Err(Error::input(
                "neither XDG_RUNTIME_DIR nor HOME is set: no private directory for the image locks",
            ))
        }
    };
    if let Some(parent) = dir.parent() {
        crate::fsutil::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(&dir, "create lock directory", e)),
    }
    let md = std::fs::symlink_metadata(&dir).map_err(|e| Error::io(&dir, "inspect lock directory", e))?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !md.is_dir() || md.uid() != me {
        return Err(Error::refused(format!(
            "{}: the image lock directory is not a directory owned by this user (uid {me}); remove it",
            dir.display()
        )));
    }
    if md.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(&dir, "make lock directory private", e))?;
    }
    Ok(dir)
}

/// An exclusive lock on a file in the private [`lock_dir`], held while alive.
pub(super) struct BuildLock {
    _file: std::fs::File,
}

pub(super) async fn lock_image(tag: &str, progress: &Item) -> Result<BuildLock> {
    use std::os::unix::io::AsRawFd;
    let safe: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    let path = lock_dir()?.join(format!("image-{safe}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, "open image lock", e))?;
    // SAFETY: flock on a file descriptor we own; the lock is released when the file is closed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(BuildLock { _file: file });
    }
    progress.set("waiting for another process that is making this image");
    tokio::task::spawn_blocking(move || loop {
        // SAFETY: as above; blocking wait.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(BuildLock { _file: file });
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::io(&path, "lock", err));
        }
    })
    .await
    .map_err(|e| Error::external(format!("image lock task failed: {e}")))?
}

// ------------------------------------------------------------------ logs

/// A build log file (under `log_dir`, or temporary).
pub(super) struct BuildLog {
    pub(super) path: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl BuildLog {
    pub(super) fn open(opts: &ImageOptions, builder: &str) -> Result<BuildLog> {
        let (dir, tmp) = match &opts.log_dir {
            Some(d) => {
                crate::fsutil::create_dir_all(d)?;
                (d.clone(), None)
            }
            None => {
                let t = tempfile::tempdir().map_err(|e| Error::external(format!("creating a temporary directory: {e}")))?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let path = dir.join(format!("images-{builder}.log"));
        std::fs::write(&path, b"").map_err(|e| Error::io(&path, "create log", e))?;
        Ok(BuildLog { path, _tmp: tmp })
    }

    pub(super) fn append(&self, line: &str) {
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&self.path) {
            let _ = writeln!(f, "{line}");
        }
    }

    /// The last `n` lines, for error messages.
    pub(super) fn tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Where the log is, for messages ("" when temporary).
    pub(super) fn shown(&self) -> String {
        if self._tmp.is_some() {
            String::new()
        } else {
            format!(" (log: {})", self.path.display())
        }
    }
}

/// Terminates the process group of a child if dropped before it finished (Ctrl-C).
/// SIGTERM only: mmdebstrap then unmounts and removes its own chroot before exiting.
pub(super) struct KillGroup(pub(super) Option<i32>);
impl Drop for KillGroup {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            // SAFETY: signals our own child's process group.
            unsafe {
                libc::kill(-pid, libc::SIGTERM);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_lock_directory_is_private() {
        let d = lock_dir().unwrap();
        let md = std::fs::symlink_metadata(&d).unwrap();
        assert!(md.is_dir());
        assert_eq!(md.permissions().mode() & 0o777, 0o700, "{}", d.display());
        assert!(!d.starts_with(std::env::temp_dir()) || std::env::var_os("XDG_RUNTIME_DIR").is_some());
    }
}
