//! Errors and the exit codes they map to.
//!
//! Every error a user can cause is one of these kinds, and every kind has one
//! documented exit code, so scripts can rely on them:
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success |
//! | 1    | a check failed: checksum mismatch or missing file, a target failed to build, a reproducibility difference, objects left missing |
//! | 2    | unusable input: bad arguments, bad version, bad targets.toml / manifest / payload / checksum line, missing variable |
//! | 3    | an outside system failed: Docker, S3, GitHub, git, network, disk |
//! | 4    | refused for safety: would overwrite published content, re-tag without `--replace`, dirty checkout, wrong commit |
//! | 130  | interrupted (Ctrl-C); everything this run created was cleaned up |

use std::path::Path;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error type of every stage. The message is what the user sees: it names
/// the file, field or value at fault and says what would be right.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Exit 1: a check failed (verification, build, reproducibility).
    #[error("{0}")]
    Check(String),
    /// Exit 2: the input is unusable (arguments, files, payloads).
    #[error("{0}")]
    Input(String),
    /// Exit 3: an outside system (Docker, S3, GitHub, git, network, disk) failed.
    #[error("{0}")]
    External(String),
    /// Exit 4: refused because it would lose or corrupt something published.
    #[error("{0}")]
    Refused(String),
    /// Exit 130: interrupted by the user.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Check(_) => 1,
            Error::Input(_) => 2,
            Error::External(_) => 3,
            Error::Refused(_) => 4,
            Error::Interrupted => 130,
        }
    }

    /// Shorthand constructors.
    pub fn input(msg: impl Into<String>) -> Self {
        Error::Input(msg.into())
    }
    pub fn check(msg: impl Into<String>) -> Self {
        Error::Check(msg.into())
    }
    pub fn external(msg: impl Into<String>) -> Self {
        Error::External(msg.into())
    }
    pub fn refused(msg: impl Into<String>) -> Self {
        Error::Refused(msg.into())
    }

    /// An I/O error on `path`, with the path named.
    pub fn io(path: &Path, action: &str, e: std::io::Error) -> Self {
        use std::io::ErrorKind;
        let p = path.display();
        match e.kind() {
            ErrorKind::NotFound => Error::Input(format!("{p}: cannot {action}: no such file or directory")),
            // A path given where the other kind is expected is unusable input, not a disk failure.
            ErrorKind::NotADirectory => Error::Input(format!(
                "{p}: cannot {action}: a component of the path is a file where a directory is expected"
            )),
            ErrorKind::IsADirectory => Error::Input(format!("{p}: cannot {action}: is a directory, expected a file")),
            _ => Error::External(format!("{p}: cannot {action}: {e}")),
        }
    }

    /// Prefix the message with more context, keeping the kind.
    pub fn context(self, ctx: impl std::fmt::Display) -> Self {
        match self {
            Error::Check(m) => Error::Check(format!("{ctx}: {m}")),
            Error::Input(m) => Error::Input(format!("{ctx}: {m}")),
            Error::External(m) => Error::External(format!("{ctx}: {m}")),
            Error::Refused(m) => Error::Refused(format!("{ctx}: {m}")),
            Error::Interrupted => Error::Interrupted,
        }
    }
}

/// The exit codes as text, for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    a check failed (checksum mismatch or missing file, a target failed, not reproducible)
  2    unusable input (arguments, version, targets.toml, manifest, payload, checksum line)
  3    an outside system failed (Docker, S3, GitHub, git, network, disk)
  4    refused for safety (would overwrite published content, re-tag, dirty checkout, wrong commit)
  130  interrupted (Ctrl-C); containers and partial files are cleaned up";
