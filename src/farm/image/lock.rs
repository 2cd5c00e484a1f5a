//! The per-image build lock, the image build log, and the mmdebstrap process guard.

use super::ImageOptions;
use crate::error::{Error, Result};
use crate::progress::Item;
use std::io::Write;
use std::path::PathBuf;

// ------------------------------------------------------------------ locking

/// An exclusive lock on a file in the temp directory, held while alive.
pub(super) struct BuildLock {
    _file: std::fs::File,
}

pub(super) async fn lock_image(tag: &str, progress: &Item) -> Result<BuildLock> {
    use std::os::unix::io::AsRawFd;
    let safe: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    let path = std::env::temp_dir().join(format!("valkey-release-image-{safe}.lock"));
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
