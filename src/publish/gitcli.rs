//! The git CLI, run in a checkout (local applier and the git-revision source).

use crate::error::{Error, Result};
use std::path::Path;
use std::process::Command;

fn run(dir: &Path, args: &[&str], trim: bool) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| Error::external(format!("cannot run git (is it installed?): {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::external(format!(
            "git {} in {}: {}",
            args.join(" "),
            dir.display(),
            err.trim()
        )));
    }
    let s = String::from_utf8(out.stdout).map_err(|_| Error::external(format!("git {}: output is not UTF-8", args.join(" "))))?;
    Ok(if trim { s.trim_end().to_string() } else { s })
}

/// Run git in `dir`; stdout with trailing whitespace trimmed.
pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    run(dir, args, true)
}

/// Run git in `dir`; stdout exactly.
pub fn git_raw(dir: &Path, args: &[&str]) -> Result<String> {
    run(dir, args, false)
}

pub fn git_ok(dir: &Path, args: &[&str]) -> bool {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
