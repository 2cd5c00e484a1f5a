//! The source step: what the release is built from, and whether it is the commit asked for.
//!
//! With a `source_sha` (from the dispatch payload or `--source-sha`):
//! - a git checkout: HEAD must be that commit (else exit 4, refused);
//! - an archive made by `git archive` (GitHub's tag archives are): the commit id it carries in
//!   its pax global header must be that commit (else exit 4); an archive without one is recorded;
//! - a URL (the default tag archive): recorded; the manifest carries it.

use crate::error::{Error, Result};
use serde::Serialize;
use std::io::Read;
use std::path::Path;

/// What the source step found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SourceCheck {
    /// The source as given (path or URL).
    pub source: String,
    /// `git`, `directory`, `archive`, `url`.
    pub kind: String,
    /// The commit the source is, when it can be told (git HEAD, archive commit id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_sha: Option<String>,
    /// `true`: checked equal; `false` never (that is an error); absent: could not be checked here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    pub note: String,
}

/// Resolve `source` (None: `default_url`) and check it against `source_sha`.
pub fn check(source: Option<&str>, default_url: &str, source_sha: Option<&str>) -> Result<SourceCheck> {
    let spec = source.unwrap_or(default_url).to_string();
    let is_url = spec.starts_with("http://") || spec.starts_with("https://");
    let mut c = SourceCheck {
        source: spec.clone(),
        kind: String::new(),
        commit: None,
        source_sha: source_sha.map(str::to_string),
        verified: None,
        note: String::new(),
    };
    if is_url {
        c.kind = "url".into();
        c.note = match source_sha {
            Some(_) => "downloaded by the build; source_sha recorded in the manifest".into(),
            None => "downloaded by the build".into(),
        };
        return Ok(c);
    }
    let p = Path::new(&spec);
    let meta = std::fs::metadata(p).map_err(|e| Error::io(p, "read source", e).context("--source"))?;
    if meta.is_dir() {
        if p.join(".git").exists() {
            c.kind = "git".into();
            let head = git_head(p)?;
            c.commit = Some(head.clone());
            if let Some(want) = source_sha {
                if head != want {
                    return Err(Error::refused(format!(
                        "{}: HEAD is {head}, but source_sha asks for {want}; check out that commit (git -C {} checkout {want})",
                        p.display(),
                        p.display()
                    )));
                }
                c.verified = Some(true);
                c.note = "git checkout; HEAD is source_sha".into();
            } else {
                c.note = format!("git checkout at {head}");
            }
        } else {
            c.kind = "directory".into();
            c.note = match source_sha {
                Some(_) => "directory without git: source_sha recorded, cannot be checked".into(),
                None => "directory".into(),
            };
        }
        return Ok(c);
    }
    c.kind = "archive".into();
    let commit = archive_commit_id(p)?;
    c.commit = commit.clone();
    match (commit, source_sha) {
        (Some(have), Some(want)) if have != want => {
            return Err(Error::refused(format!(
                "{}: the archive was made from commit {have}, but source_sha asks for {want}",
                p.display()
            )))
        }
        (Some(_), Some(_)) => {
            c.verified = Some(true);
            c.note = "archive's commit id is source_sha".into();
        }
        (Some(h), None) => c.note = format!("archive of commit {h}"),
        (None, Some(_)) => c.note = "archive carries no commit id: source_sha recorded, cannot be checked".into(),
        (None, None) => c.note = "archive".into(),
    }
    Ok(c)
}

/// `git rev-parse HEAD` of a checkout.
pub fn git_head(dir: &Path) -> Result<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--verify", "HEAD^{commit}"])
        .output()
        .map_err(|e| Error::external(format!("running git in {}: {e}", dir.display())))?;
    if !out.status.success() {
        return Err(Error::input(format!(
            "{}: not a usable git checkout: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_ascii_lowercase())
}

/// The commit id `git archive` writes into a tarball's pax global header
/// (what `git get-tar-commit-id` prints), for `.tar`, `.tar.gz`/`.tgz` and `.tar.xz`.
pub fn archive_commit_id(path: &Path) -> Result<Option<String>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, "open source archive", e))?;
    let name = path.to_string_lossy();
    let mut r: Box<dyn Read> = if name.ends_with(".gz") || name.ends_with(".tgz") {
        Box::new(flate2::read::GzDecoder::new(f))
    } else if name.ends_with(".xz") {
        Box::new(xz2::read::XzDecoder::new(f))
    } else {
        Box::new(f)
    };
    let mut hdr = [0u8; 512];
    if r.read_exact(&mut hdr).is_err() {
        return Err(Error::input(format!("{}: not a tar archive (too short)", path.display())));
    }
    if hdr[156] != b'g' {
        return Ok(None);
    }
    let size_field = String::from_utf8_lossy(&hdr[124..136])
        .trim_matches(|c: char| c == '\0' || c == ' ')
        .to_string();
    let size = u64::from_str_radix(&size_field, 8).unwrap_or(0).min(64 * 1024);
    let mut body = vec![0u8; size as usize];
    if r.read_exact(&mut body).is_err() {
        return Ok(None);
    }
    // Records: "<len> <key>=<value>\n"
    let text = String::from_utf8_lossy(&body);
    for rec in text.split('\n') {
        if let Some((_, kv)) = rec.split_once(' ') {
            if let Some(v) = kv.strip_prefix("comment=") {
                let v = v.trim();
                if v.len() == 40 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Ok(Some(v.to_ascii_lowercase()));
                }
            }
        }
    }
    Ok(None)
}
