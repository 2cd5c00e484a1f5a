//! `dist/release-state.json`: what each step of a release did, so a re-run can resume.
//!
//! The file is a record, not the truth: a re-run asks each step's probe whether the step is
//! "already done and still true" (artifacts present with matching checksums, objects present
//! with matching checksums, the hash line present, the PR open or merged). The record keeps what
//! the probes cannot see again cheaply (PR URLs, when each step ran, how many attempts).

use super::payload::Environment;
use super::{Outcome, Step, StepState};
use crate::error::{Error, Result};
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File name of the state file inside the dist directory.
pub const STATE_FILE: &str = "release-state.json";
/// Schema number of the state file.
pub const STATE_SCHEMA: u32 = 1;

/// One step's last recorded result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub state: StepState,
    /// RFC 3339 time of the last change.
    pub at: String,
    /// How many times this step was run (not counting skips).
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub schema: u32,
    pub version: String,
    pub environment: Environment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_sha: Option<String>,
    /// Number of `release` runs on this dist/.
    #[serde(default)]
    pub runs: u32,
    #[serde(default)]
    pub steps: BTreeMap<Step, StepRecord>,
}

impl State {
    pub fn new(version: &str, environment: Environment, source_sha: Option<String>) -> State {
        State {
            schema: STATE_SCHEMA,
            version: version.to_string(),
            environment,
            source_sha,
            runs: 0,
            steps: BTreeMap::new(),
        }
    }

    pub fn path(dist: &Path) -> PathBuf {
        dist.join(STATE_FILE)
    }

    /// Read the state of `dist`, if any.
    pub fn load(dist: &Path) -> Result<Option<State>> {
        let p = State::path(dist);
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&p, "read release state", e)),
        };
        let s: State = serde_json::from_str(&text).map_err(|e| {
            Error::input(format!(
                "{}:{}:{}: invalid release state: {e} (remove the file to start the release over; every step re-checks what is already done)",
                p.display(),
                e.line(),
                e.column()
            ))
        })?;
        if s.schema != STATE_SCHEMA {
            return Err(Error::input(format!(
                "{}: schema {} is not supported (expected {STATE_SCHEMA})",
                p.display(),
                s.schema
            )));
        }
        Ok(Some(s))
    }

    /// Load the state for this release, or start a new one.
    ///
    /// A state of another version is refused (exit 2): that dist/ belongs to another release.
    /// A state of the other environment keeps the source and build records and forgets the
    /// rest (a dev release then a prod release of the same build is a normal sequence).
    pub fn for_release(dist: &Path, version: &str, environment: Environment, source_sha: Option<&str>) -> Result<State> {
        let Some(mut s) = State::load(dist)? else {
            return Ok(State::new(version, environment, source_sha.map(str::to_string)));
        };
        if s.version != version {
            return Err(Error::input(format!(
                "{}: this dist directory holds release {} (not {version}); use another --dist or remove it",
                State::path(dist).display(),
                s.version
            )));
        }
        if let (Some(old), Some(new)) = (s.source_sha.as_deref(), source_sha) {
            if old != new {
                return Err(Error::refused(format!(
                    "{}: release {version} was started from source_sha {old}, this run asks for {new}; \
                     a re-tag needs a fresh dist directory",
                    State::path(dist).display()
                )));
            }
        }
        if s.source_sha.is_none() {
            s.source_sha = source_sha.map(str::to_string);
        }
        if s.environment != environment {
            s.steps.retain(|k, _| matches!(k, Step::Source | Step::Build));
            s.environment = environment;
        }
        Ok(s)
    }

    /// Write atomically into `dist`.
    pub fn save(&self, dist: &Path) -> Result<()> {
        let mut json = serde_json::to_string_pretty(self).map_err(|e| Error::external(format!("serializing release state: {e}")))?;
        json.push('\n');
        fsutil::write_atomic(&State::path(dist), json.as_bytes())
    }

    /// Record a step's result.
    pub fn record(&mut self, step: Step, state: StepState, outcome: Option<Outcome>, error: Option<String>, ran: bool) {
        let attempts = self.steps.get(&step).map(|r| r.attempts).unwrap_or(0) + u32::from(ran);
        // Keep the outcome of an earlier run when a skip brings none.
        let outcome = outcome.or_else(|| self.steps.get(&step).and_then(|r| r.outcome.clone()));
        self.steps.insert(
            step,
            StepRecord {
                state,
                at: now(),
                attempts,
                outcome,
                error,
            },
        );
    }
}

/// Now, RFC 3339 UTC.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The lock file of a dist directory.
pub const LOCK_FILE: &str = ".release.lock";

/// Held while a release runs on a dist directory (released on drop, or when the process ends).
pub struct DistLock {
    _file: std::fs::File,
}

/// Take `DIST/.release.lock` (flock, exclusive). When another release holds it, say so on
/// stderr and wait for it.
pub async fn lock(dist: &Path) -> Result<DistLock> {
    use std::os::unix::io::AsRawFd;
    let p = dist.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| Error::io(&p, "open the release lock", e))?;
    // SAFETY: flock on a file descriptor this function owns; no memory is shared.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(DistLock { _file: file });
    }
    crate::progress::line(
        "release",
        &format!(
            "waiting for another release on {} to finish (lock {} is held)",
            dist.display(),
            p.display()
        ),
    );
    let file = tokio::task::spawn_blocking(move || {
        // SAFETY: as above; blocks this worker thread until the lock is free.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if r == 0 {
            Ok(file)
        } else {
            Err(Error::io(&p, "lock", std::io::Error::last_os_error()))
        }
    })
    .await
    .map_err(|e| Error::external(format!("waiting for the release lock: {e}")))??;
    Ok(DistLock { _file: file })
}
