//! Verification of a published release (`verify --remote`): S3, HTTPS or a directory store.
//!
//! What a downstream packager runs: fetch `valkey-<V>.manifest.json` from the release prefix,
//! then for every artifact its published `.sha256`, and stream the artifact itself; the bytes
//! must match both (sha256 and size). The published `valkey-<V>.SHA256SUMS` must match too.

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::store::{Store, StoreUrl};
use crate::version::Version;
use futures_util::StreamExt;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Largest manifest / checksum file accepted.
const SMALL_LIMIT: u64 = 16 * 1024 * 1024;

/// Where a release is published.
pub(crate) enum Remote {
    Store { store: Arc<dyn Store>, prefix: String },
    Http { client: reqwest::Client, base: String },
}

impl Remote {
    pub(crate) async fn open(remote: &str) -> Result<Remote> {
        if !(remote.starts_with("https://") || remote.starts_with("http://")) {
            let url = StoreUrl::parse(remote).map_err(|e| e.context("--remote"))?;
            let store = crate::store::open(&url, &crate::store::StoreConfig::default()).await?;
            return Ok(Remote::Store { store, prefix: url.prefix });
        }
        if remote.starts_with("https://") || remote.starts_with("http://") {
            let mut base = remote.to_string();
            if !base.ends_with('/') {
                base.push('/');
            }
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(15))
                .read_timeout(Duration::from_secs(120))
                .user_agent(concat!("valkey-release/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| Error::external(format!("cannot set up the HTTP client: {e}")))?;
            return Ok(Remote::Http { client, base });
        }
        Err(Error::input(format!(
            "--remote {remote:?}: expected s3://BUCKET/PREFIX/, https://HOST/PREFIX/ or file:///DIR/ (e.g. https://download.valkey.io/releases/)"
        )))
    }

    pub(crate) fn url(&self, name: &str) -> String {
        match self {
            Remote::Store { store, prefix } => store.uri(&format!("{prefix}{name}")),
            Remote::Http { base, .. } => format!("{base}{name}"),
        }
    }

    /// GET with a few retries on connection errors and 5xx; None on 404.
    async fn http_get(client: &reqwest::Client, url: &str) -> Result<Option<reqwest::Response>> {
        let mut delay = Duration::from_millis(500);
        let attempts = 4;
        for attempt in 1..=attempts {
            let last = attempt == attempts;
            match client.get(url).send().await {
                Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => return Ok(None),
                Ok(r) if r.status().is_success() => return Ok(Some(r)),
                Ok(r) if r.status().is_server_error() && !last => {}
                Ok(r) => return Err(Error::external(format!("{url}: HTTP {}", r.status()))),
                Err(e) if !last && (e.is_connect() || e.is_timeout() || e.is_request()) => {}
                Err(e) => return Err(Error::external(format!("{url}: cannot download after {attempt} attempts: {e}"))),
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        unreachable!("the last attempt returns")
    }

    async fn get_small(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Remote::Store { store, prefix } => store.get_small(&format!("{prefix}{name}"), SMALL_LIMIT).await,
            Remote::Http { client, base } => {
                let url = format!("{base}{name}");
                let Some(mut r) = Self::http_get(client, &url).await? else {
                    return Ok(None);
                };
                let mut out = Vec::new();
                while let Some(c) = r
                    .chunk()
                    .await
                    .map_err(|e| Error::external(format!("{url}: download failed: {e}")))?
                {
                    out.extend_from_slice(&c);
                    if out.len() as u64 > SMALL_LIMIT {
                        return Err(Error::check(format!("{url}: larger than {SMALL_LIMIT} bytes")));
                    }
                }
                Ok(Some(out))
            }
        }
    }

    /// Download `name` into the file `dest` (renamed into place only when whole); its
    /// (sha256, size), `None` when it is not published.
    pub(crate) async fn download(&self, name: &str, dest: &std::path::Path) -> Result<Option<(String, u64)>> {
        match self {
            Remote::Store { store, prefix } => store.download(&format!("{prefix}{name}"), dest).await,
            Remote::Http { client, base } => {
                use std::io::Write;
                let url = format!("{base}{name}");
                let Some(r) = Self::http_get(client, &url).await? else {
                    return Ok(None);
                };
                let mut out = crate::fsutil::AtomicFile::create(dest)?;
                let mut w = crate::fsutil::HashingWriter::new(out.file());
                let mut s = r.bytes_stream();
                while let Some(c) = s.next().await {
                    let c = c.map_err(|e| Error::external(format!("{url}: download failed: {e}")))?;
                    w.write_all(&c).map_err(|e| Error::io(dest, "write", e))?;
                }
                let (_, sha, n) = w.finish();
                out.commit()?;
                Ok(Some((sha, n)))
            }
        }
    }

    async fn hash(&self, name: &str, item: &crate::progress::Item) -> Result<Option<(String, u64)>> {
        match self {
            Remote::Store { store, prefix } => store.hash_object(&format!("{prefix}{name}"), Some(item)).await,
            Remote::Http { client, base } => {
                use sha2::Digest;
                let url = format!("{base}{name}");
                let Some(r) = Self::http_get(client, &url).await? else {
                    return Ok(None);
                };
                let mut h = sha2::Sha256::new();
                let mut n = 0u64;
                let mut s = r.bytes_stream();
                while let Some(c) = s.next().await {
                    let c = c.map_err(|e| Error::external(format!("{url}: download failed: {e}")))?;
                    h.update(&c);
                    n += c.len() as u64;
                    item.inc(c.len() as u64);
                }
                Ok(Some((hex::encode(h.finalize()), n)))
            }
        }
    }
}

/// One checked file.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteFileResult {
    pub file: String,
    pub url: String,
    /// Expected (manifest) size and sha256.
    pub size: u64,
    pub sha256: String,
    /// What was downloaded, when it could be.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_sha256: Option<String>,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The result of [`check_remote`].
#[derive(Debug, Clone, Serialize)]
pub struct RemoteReport {
    pub remote: String,
    pub version: String,
    pub ok: bool,
    pub files: Vec<RemoteFileResult>,
}

/// Parse a `.sha256` line: `<64 hex>  <name>`.
fn parse_checksum_line(text: &[u8]) -> Option<(String, String)> {
    let s = std::str::from_utf8(text).ok()?;
    let line = s.strip_suffix('\n').unwrap_or(s);
    if line.contains('\n') {
        return None;
    }
    let (h, name) = line.split_once("  ").or_else(|| line.split_once(" *"))?;
    crate::fsutil::is_sha256_hex(h).then(|| (h.to_ascii_lowercase(), name.to_string()))
}

async fn check_artifact(r: &Remote, a: &crate::manifest::Artifact, item: &crate::progress::Item) -> RemoteFileResult {
    let mut res = RemoteFileResult {
        file: a.file.clone(),
        url: r.url(&crate::artifact::key_name(a, &a.file)),
        size: a.size,
        sha256: a.sha256.to_ascii_lowercase(),
        actual_size: None,
        actual_sha256: None,
        ok: false,
        detail: None,
    };
    let mut problems = Vec::new();
    match r.get_small(&crate::artifact::key_name(a, &a.checksum_file)).await {
        Ok(Some(text)) => match parse_checksum_line(&text) {
            Some((h, name)) => {
                if name != a.file {
                    problems.push(format!("{} names {name:?}, not {}", a.checksum_file, a.file));
                }
                if h != res.sha256 {
                    problems.push(format!("{} says {h}, manifest says {}", a.checksum_file, res.sha256));
                }
            }
            None => problems.push(format!("{} is not a sha256sum line", a.checksum_file)),
        },
        Ok(None) => problems.push(format!("{} is missing", a.checksum_file)),
        Err(e) => problems.push(e.to_string()),
    }
    match r.hash(&crate::artifact::key_name(a, &a.file), item).await {
        Ok(Some((sha, n))) => {
            if sha != res.sha256 {
                problems.push(format!("sha256 is {sha}, expected {}", res.sha256));
            }
            if n != a.size {
                problems.push(format!("size is {n}, expected {}", a.size));
            }
            res.actual_sha256 = Some(sha);
            res.actual_size = Some(n);
        }
        Ok(None) => problems.push("missing".to_string()),
        Err(e) => problems.push(e.to_string()),
    }
    res.ok = problems.is_empty();
    if !problems.is_empty() {
        res.detail = Some(problems.join("; "));
    }
    res
}

/// Check a published release and return the per-file results (no printing of results).
/// Err for an unusable remote (2), an unreachable one (3), or a missing/invalid manifest (1).
pub async fn check_remote(remote: &str, version: &Version) -> Result<RemoteReport> {
    let r = Remote::open(remote).await?;
    let v = version.as_str();
    let mname = format!("valkey-{v}.manifest.json");
    let Some(mbytes) = r.get_small(&mname).await? else {
        return check_without_manifest(&r, remote, version).await;
    };
    // What is published is checked, not trusted: a bad manifest there is a failed check (1).
    let as_check = |e: Error| match e {
        Error::Input(m) => Error::check(m),
        other => other,
    };
    let text = String::from_utf8(mbytes).map_err(|_| Error::check(format!("{}: invalid manifest: not UTF-8", r.url(&mname))))?;
    let manifest = Manifest::parse(&text, &r.url(&mname)).map_err(as_check)?;
    manifest.check_release(v, r.url(&mname)).map_err(as_check)?;
    if manifest.artifacts.is_empty() {
        return Err(Error::check(format!(
            "{}: lists no artifacts: nothing of release {v} is verified",
            r.url(&mname)
        )));
    }
    let total: u64 = manifest.artifacts.iter().map(|a| a.size).sum();
    let progress = crate::progress::Progress::new();
    let item = progress.bytes("verify", total);
    let mut files: Vec<RemoteFileResult> = futures_util::stream::iter(manifest.artifacts.iter())
        .map(|a| check_artifact(&r, a, &item))
        .buffered(4)
        .collect()
        .await;
    item.finish("downloaded");
    let sname = format!("valkey-{v}.SHA256SUMS");
    let expected = manifest.sha256sums();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(expected.as_bytes()));
    let mut sums = RemoteFileResult {
        file: sname.clone(),
        url: r.url(&sname),
        size: expected.len() as u64,
        sha256: sha,
        actual_size: None,
        actual_sha256: None,
        ok: false,
        detail: None,
    };
    match r.get_small(&sname).await {
        Ok(Some(b)) => {
            sums.actual_size = Some(b.len() as u64);
            sums.actual_sha256 = Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&b)));
            sums.ok = b == expected.as_bytes();
            if !sums.ok {
                sums.detail = Some("does not match the manifest's artifacts".into());
            }
        }
        Ok(None) => sums.detail = Some("missing".into()),
        Err(e) => sums.detail = Some(e.to_string()),
    }
    files.push(sums);
    let ok = files.iter().all(|f| f.ok);
    Ok(RemoteReport {
        remote: remote.to_string(),
        version: v.to_string(),
        ok,
        files,
    })
}

/// A release published before manifests existed (the old process): check the official targets
/// of the matrix whose `.sha256` is published, against that `.sha256` only (no size known).
async fn check_without_manifest(r: &Remote, remote: &str, version: &Version) -> Result<RemoteReport> {
    let v = version.as_str();
    let matrix = crate::targets::Matrix::load(None)?;
    let mut files = Vec::new();
    let progress = crate::progress::Progress::new();
    let item = progress.spinner("verify");
    for t in matrix.targets.iter().filter(|t| t.official) {
        let file = matrix.tarball_name(version, t);
        let cfile = format!("{file}.sha256");
        let Some(text) = r.get_small(&cfile).await? else { continue };
        let mut res = RemoteFileResult {
            file: file.clone(),
            url: r.url(&file),
            size: 0,
            sha256: String::new(),
            actual_size: None,
            actual_sha256: None,
            ok: false,
            detail: None,
        };
        match parse_checksum_line(&text) {
            None => res.detail = Some(format!("{cfile} is not a sha256sum line")),
            Some((h, name)) => {
                res.sha256 = h.clone();
                item.set(&format!("downloading {file}"));
                match r.hash(&file, &item).await? {
                    None => res.detail = Some("missing (its .sha256 is published)".into()),
                    Some((sha, n)) => {
                        res.size = n;
                        res.actual_size = Some(n);
                        res.actual_sha256 = Some(sha.clone());
                        res.ok = sha == h && name == file;
                        if sha != h {
                            res.detail = Some(format!("sha256 is {sha}, {cfile} says {h}"));
                        } else if name != file {
                            res.detail = Some(format!("{cfile} names {name:?}"));
                        }
                    }
                }
            }
        }
        files.push(res);
    }
    item.finish("done");
    if files.is_empty() {
        return Err(Error::check(format!(
            "{}: not found, and no .sha256 of an official target either; is the version or the prefix wrong?",
            r.url(&format!("valkey-{v}.manifest.json"))
        )));
    }
    crate::progress::line(
        "verify",
        &format!("no valkey-{v}.manifest.json at {remote}: checked the official targets against their .sha256 files only"),
    );
    let ok = files.iter().all(|f| f.ok);
    Ok(RemoteReport {
        remote: remote.to_string(),
        version: v.to_string(),
        ok,
        files,
    })
}

/// Stream every published artifact of `version` under `remote` (`s3://bucket/prefix/`,
/// `https://host/prefix/` or `file:///dir/`) and check it against its published `.sha256` and the
/// published manifest. Prints per-file OK/FAILED lines (or JSON); Err(Check) (exit 1) on any mismatch.
/// For s3:// the client is configured from the environment (AWS_ENDPOINT_URL, credentials, region).
pub async fn verify_remote(remote: &str, version: &Version, json: bool) -> Result<()> {
    use std::io::Write;
    let report = check_remote(remote, version).await?;
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| Error::external(format!("serializing report: {e}")))?;
        let _ = writeln!(out, "{text}");
    } else {
        for f in &report.files {
            if f.ok {
                let _ = writeln!(out, "{}: OK ({} bytes, sha256 {})", f.file, f.size, f.sha256);
            } else {
                let _ = writeln!(out, "{}: FAILED ({})", f.file, f.detail.as_deref().unwrap_or("mismatch"));
            }
        }
    }
    let bad: Vec<&str> = report.files.iter().filter(|f| !f.ok).map(|f| f.file.as_str()).collect();
    if bad.is_empty() {
        if !json {
            let _ = writeln!(
                out,
                "valkey {}: all {} files at {} verified",
                report.version,
                report.files.len(),
                remote
            );
        }
        Ok(())
    } else {
        Err(Error::check(format!(
            "{} of {} published files of valkey {} FAILED verification at {remote}: {}",
            bad.len(),
            report.files.len(),
            report.version,
            bad.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn checksum_lines() {
        let h = "a".repeat(64);
        assert_eq!(
            parse_checksum_line(format!("{h}  x.tar.gz\n").as_bytes()),
            Some((h.clone(), "x.tar.gz".into()))
        );
        assert_eq!(
            parse_checksum_line(format!("{h} *x.tar.gz\n").as_bytes()),
            Some((h.clone(), "x.tar.gz".into()))
        );
        assert_eq!(parse_checksum_line(b"abc  x\n"), None);
        assert_eq!(parse_checksum_line(format!("{h}  x\n{h}  y\n").as_bytes()), None);
    }
}
