//! The sha256 of GitHub's source archive for the tag: given, from manifest.json, or downloaded.

use super::hashes;
use super::Options;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use std::time::Duration;

/// The sha256 of GitHub's tag archive and where it came from: `--source-sha256`, else
/// manifest.json when the build used the tag archive, else downloaded and hashed.
pub async fn resolve_source_sha256(opts: &Options) -> Result<(String, String)> {
    let v = opts.version.as_str();
    if let Some(h) = &opts.source_sha256 {
        if !crate::fsutil::is_sha256_hex(h) {
            return Err(Error::input(format!("--source-sha256 {h:?} is not 64 hex digits")));
        }
        return Ok((h.to_ascii_lowercase(), "--source-sha256".into()));
    }
    if let Some(m) = Manifest::load_if_present(&opts.dist)? {
        let s = &m.source;
        let tag_url = hashes::tag_archive_url(v);
        let is_tag_archive = (s.kind == "archive" || s.kind == "url")
            && (s.name == hashes::archive_name(v) || s.name == format!("{v}.tar.gz") || s.url.as_deref() == Some(tag_url.as_str()));
        if m.is_release(v) && is_tag_archive {
            if let Some(h) = s.sha256.as_deref().filter(|h| crate::fsutil::is_sha256_hex(h)) {
                return Ok((
                    h.to_ascii_lowercase(),
                    format!("{} (source {})", Manifest::path(&opts.dist).display(), s.name),
                ));
            }
        }
    }
    let url = opts.source_url.clone().unwrap_or_else(|| hashes::tag_archive_url(v));
    let hex = download_sha256(&url).await?;
    Ok((hex, format!("downloaded {url}")))
}

/// Download `url` and hash it (streaming), with a few retries on 5xx and transport errors.
pub async fn download_sha256(url: &str) -> Result<String> {
    use futures_util::StreamExt;
    use sha2::Digest;
    let client = reqwest::Client::builder()
        .user_agent(concat!("valkey-release/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::external(format!("HTTP client: {e}")))?;
    let mut last = String::new();
    for attempt in 0..4u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
        }
        let resp = match client.get(url).send().await {
            Ok(r) => r,
            Err(e) => {
                last = format!("{e}");
                continue;
            }
        };
        let st = resp.status();
        if st.is_server_error() {
            last = format!("HTTP {st}");
            continue;
        }
        if !st.is_success() {
            return Err(Error::external(format!(
                "downloading {url} to hash it: HTTP {st} (give --source-sha256 HEX instead)"
            )));
        }
        let mut h = sha2::Sha256::new();
        let mut stream = resp.bytes_stream();
        let mut failed = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => h.update(&b),
                Err(e) => {
                    failed = Some(format!("{e}"));
                    break;
                }
            }
        }
        match failed {
            None => return Ok(hex::encode(h.finalize())),
            Some(e) => last = e,
        }
    }
    Err(Error::external(format!(
        "downloading {url} to hash it failed after retries: {last} (give --source-sha256 HEX instead)"
    )))
}
