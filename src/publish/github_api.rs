//! The GitHub REST client used by the GitHub applier and the GitHub source: octocrab with
//! retries on transport errors and 5xx (doubling delays) and on 403/429 that carry `Retry-After`
//! (or an exhausted rate limit with `x-ratelimit-reset`). Non-idempotent POSTs (opening a PR,
//! creating a branch, sending a dispatch) go through [`Client::request_once`]: never retried
//! blindly; the caller looks for the object first. The token lives only inside octocrab
//! (marked sensitive) and is scrubbed from any message this module builds.

use super::edit::RepoId;
use crate::error::{Error, Result};
use base64::Engine;
use http::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// One entry of a recursive tree listing.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TreeEntry {
    pub path: String,
    pub mode: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A response: status and body text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    /// GitHub's `message` (and first `errors[].message`), for error text.
    pub fn message(&self) -> String {
        let j = self.json();
        let mut m = j.get("message").and_then(|x| x.as_str()).unwrap_or("").to_string();
        if let Some(e) = j.get("errors").and_then(|e| e.as_array()).and_then(|a| a.first()) {
            if let Some(s) = e.get("message").and_then(|x| x.as_str()) {
                m = format!("{m}: {s}");
            }
        }
        if m.is_empty() {
            m = self.body.chars().take(200).collect();
        }
        m
    }
}

/// The GitHub REST client with retries.
#[derive(Clone)]
pub struct Client {
    oc: octocrab::Octocrab,
    token: Option<String>,
    retry_base: Duration,
    max_attempts: u32,
    max_wait: Duration,
    api: String,
}

impl Client {
    /// A client for `opts.api_url`, authenticated when a token is set.
    pub fn new(opts: &GitHubOptions) -> Result<Client> {
        let mut b = octocrab::Octocrab::builder()
            .base_uri(opts.api_url.as_str())
            .map_err(|e| Error::input(format!("GitHub API URL {:?} is not a valid URL: {e}", opts.api_url)))?
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None);
        if let Some(t) = &opts.token {
            b = b.personal_token(t.0.clone());
        }
        let oc = b.build().map_err(|e| Error::external(format!("GitHub client: {e}")))?;
        Ok(Client {
            oc,
            token: opts.token.as_ref().map(|t| t.0.clone()).filter(|t| !t.is_empty()),
            retry_base: opts.retry_base,
            max_attempts: opts.max_attempts.max(1),
            max_wait: opts.max_wait,
            api: opts.api_url.clone(),
        })
    }

    fn scrub(&self, s: String) -> String {
        match &self.token {
            Some(t) if s.contains(t.as_str()) => s.replace(t.as_str(), "***"),
            _ => s,
        }
    }

    /// Send one request (path relative to the API base), retrying as described in the module doc.
    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Resp> {
        self.send(method, path, body, self.max_attempts).await
    }

    /// Send a non-idempotent request once: a 5xx or a lost answer is returned to the caller
    /// (as `Ok` with the status, or a transport error), which must look for the object before
    /// sending again.
    pub async fn request_once(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Resp> {
        self.send(method, path, body, 1).await
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>, max_attempts: u32) -> Result<Resp> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let sent = match method {
                Method::GET => self.oc._get(path).await,
                Method::POST => self.oc._post(path, body).await,
                Method::PATCH => self.oc._patch(path, body).await,
                Method::PUT => self.oc._put(path, body).await,
                _ => return Err(Error::external(format!("GitHub: unsupported method {method}"))),
            };
            let last = attempt >= max_attempts;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    let msg = self.scrub(format!("{e}"));
                    if last {
                        return Err(Error::external(format!(
                            "GitHub API {} {method} {path}: {msg} (after {attempt} attempts)",
                            self.api
                        )));
                    }
                    tracing::warn!("GitHub {method} {path}: {msg}; retrying");
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let text = self.oc.body_to_string(resp).await.unwrap_or_default();
            let r = Resp { status, body: text };
            if status >= 500 && !last {
                tracing::warn!("GitHub {method} {path}: HTTP {status}; retrying");
                crate::progress::line("publish", &format!("GitHub {method} {path}: HTTP {status}, retrying"));
                tokio::time::sleep(self.backoff(attempt)).await;
                continue;
            }
            if (status == 403 || status == 429) && !last {
                if let Some(wait) = rate_limit_wait(&headers) {
                    let wait = wait.min(self.max_wait);
                    crate::progress::line(
                        "publish",
                        &format!(
                            "GitHub {method} {path}: HTTP {status} (rate limited), retrying in {}s",
                            wait.as_secs()
                        ),
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            if status >= 500 && max_attempts > 1 {
                return Err(Error::external(format!(
                    "GitHub API {method} {path}: HTTP {status} after {attempt} attempts: {}",
                    self.scrub(r.message())
                )));
            }
            return Ok(r);
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.retry_base.saturating_mul(1u32 << (attempt - 1).min(6))
    }

    pub fn fail(&self, what: &str, r: &Resp) -> Error {
        let hint = match r.status {
            401 => " (bad credentials: check GITHUB_TOKEN)",
            403 => " (forbidden: the token lacks permission for this repository)",
            404 => " (not found: check owner/repo/branch, or the token cannot see the repository)",
            _ => "",
        };
        Error::external(self.scrub(format!("GitHub: {what}: HTTP {}{hint}: {}", r.status, r.message())))
    }

    pub fn expect(&self, what: &str, r: Resp, ok: &[u16]) -> Result<Value> {
        if ok.contains(&r.status) {
            Ok(r.json())
        } else {
            Err(self.fail(what, &r))
        }
    }

    /// The commit sha a branch points at; None when the branch does not exist.
    pub async fn get_ref(&self, repo: &RepoId, branch: &str) -> Result<Option<String>> {
        let path = format!("/repos/{}/{}/git/ref/heads/{branch}", repo.owner, repo.name);
        let r = self.request(Method::GET, &path, None).await?;
        if r.status == 404 {
            return Ok(None);
        }
        let j = self.expect(&format!("reading branch {branch} of {}", repo.full()), r, &[200])?;
        j.pointer("/object/sha")
            .and_then(|x| x.as_str())
            .map(|s| Some(s.to_string()))
            .ok_or_else(|| Error::external("GitHub: ref without object.sha"))
    }

    /// Recursive listing of a commit's tree: (tree sha, entries, truncated).
    pub async fn get_tree(&self, repo: &RepoId, sha: &str) -> Result<(String, Vec<TreeEntry>, bool)> {
        let path = format!("/repos/{}/{}/git/trees/{sha}?recursive=1", repo.owner, repo.name);
        let r = self.request(Method::GET, &path, None).await?;
        let j = self.expect(&format!("listing {} at {sha}", repo.full()), r, &[200])?;
        let tree_sha = j.get("sha").and_then(|x| x.as_str()).unwrap_or_default().to_string();
        let entries: Vec<TreeEntry> = serde_json::from_value(j.get("tree").cloned().unwrap_or(Value::Array(vec![])))
            .map_err(|e| Error::external(format!("GitHub: tree listing of {}: {e}", repo.full())))?;
        let truncated = j.get("truncated").and_then(|x| x.as_bool()).unwrap_or(false);
        if truncated {
            tracing::warn!(
                "GitHub: the tree listing of {} at {sha} is truncated; reading files one by one",
                repo.full()
            );
        }
        Ok((tree_sha, entries, truncated))
    }

    /// A file's text at `rev` (contents API); None when absent.
    pub async fn get_contents(&self, repo: &RepoId, file: &str, rev: &str) -> Result<Option<String>> {
        let path = format!("/repos/{}/{}/contents/{file}?ref={rev}", repo.owner, repo.name);
        let r = self.request(Method::GET, &path, None).await?;
        if r.status == 404 {
            return Ok(None);
        }
        let j = self.expect(&format!("reading {file} of {}", repo.full()), r, &[200])?;
        let b64: String = j
            .get("content")
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| Error::external(format!("GitHub: {file} of {}: bad base64 content: {e}", repo.full())))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| Error::input(format!("{file} of {} is not UTF-8 text", repo.full())))
    }

    /// The open PR from `branch`, if any: (number, html_url).
    pub async fn find_pr(&self, repo: &RepoId, branch: &str) -> Result<Option<(u64, String)>> {
        let path = format!("/repos/{}/{}/pulls?head={}:{branch}&state=open", repo.owner, repo.name, repo.owner);
        let r = self.request(Method::GET, &path, None).await?;
        let j = self.expect(&format!("listing PRs of {}", repo.full()), r, &[200])?;
        Ok(j.as_array().and_then(|a| a.first()).and_then(|p| {
            Some((
                p.get("number")?.as_u64()?,
                p.get("html_url").and_then(|x| x.as_str()).unwrap_or_default().to_string(),
            ))
        }))
    }
}

/// How long a 403/429 asks us to wait: `Retry-After` seconds, or until `x-ratelimit-reset`
/// when `x-ratelimit-remaining` is 0. None: not a rate limit (a real permission error).
fn rate_limit_wait(h: &http::HeaderMap) -> Option<Duration> {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(s) = get("retry-after").and_then(|s| s.parse::<u64>().ok()) {
        return Some(Duration::from_secs(s));
    }
    if get("x-ratelimit-remaining") == Some("0") {
        let reset = get("x-ratelimit-reset").and_then(|s| s.parse::<i64>().ok())?;
        let now = chrono::Utc::now().timestamp();
        return Some(Duration::from_secs((reset - now).max(1) as u64));
    }
    None
}

/// A token that never prints.
#[derive(Clone, Default)]
pub struct Secret(pub String);
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How to reach GitHub.
#[derive(Debug, Clone)]
pub struct GitHubOptions {
    /// API base URL (`https://api.github.com`; tests point it at a local server).
    pub api_url: String,
    /// GITHUB_TOKEN; without it GitHub is read anonymously (public repositories) and never written.
    pub token: Option<Secret>,
    /// First retry delay for 5xx and transport errors (doubles each time). Default 1 s, or
    /// `VALKEY_RELEASE_GITHUB_RETRY_MS` (milliseconds; tests shorten it).
    pub retry_base: Duration,
    /// Attempts per request, including the first.
    pub max_attempts: u32,
    /// Longest wait honoured for a Retry-After / rate-limit reset.
    pub max_wait: Duration,
}

impl Default for GitHubOptions {
    fn default() -> Self {
        GitHubOptions {
            api_url: "https://api.github.com".into(),
            token: None,
            retry_base: Duration::from_millis(
                std::env::var("VALKEY_RELEASE_GITHUB_RETRY_MS")
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .unwrap_or(1000),
            ),
            max_attempts: 5,
            max_wait: Duration::from_secs(300),
        }
    }
}

impl Client {
    /// A commit's message and parents (git commits API).
    pub async fn get_commit(&self, repo: &RepoId, sha: &str) -> Result<(String, Vec<String>)> {
        let path = format!("/repos/{}/{}/git/commits/{sha}", repo.owner, repo.name);
        let r = self.request(Method::GET, &path, None).await?;
        let j = self.expect(&format!("reading commit {sha} of {}", repo.full()), r, &[200])?;
        let msg = j.get("message").and_then(|x| x.as_str()).unwrap_or_default().to_string();
        let parents = j
            .get("parents")
            .and_then(|p| p.as_array())
            .map(|a| a.iter().filter_map(|p| p.get("sha")?.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        Ok((msg, parents))
    }

    /// Send a `repository_dispatch` event (once: a dispatch cannot be looked up afterwards,
    /// so it is never retried blindly). GitHub answers 204.
    pub async fn dispatch(&self, repo: &RepoId, event_type: &str, payload: &Value) -> Result<()> {
        let path = format!("/repos/{}/{}/dispatches", repo.owner, repo.name);
        let body = json!({"event_type": event_type, "client_payload": payload});
        let r = self.request_once(Method::POST, &path, Some(&body)).await?;
        if r.status == 204 {
            return Ok(());
        }
        Err(self.fail(
            &format!(
                "sending repository_dispatch {event_type} to {} (not retried: check the repository's Actions before re-running)",
                repo.full()
            ),
            &r,
        ))
    }
}
