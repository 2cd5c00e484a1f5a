//! GitHub mode through octocrab: read at the base branch (git refs, trees and contents APIs),
//! one commit with every changed file (git trees/commits/refs APIs), then the PR (pulls API).
//!
//! Every request goes through [`Client::request`]: retried on transport errors and 5xx with
//! doubling delays, and on 403/429 that carry `Retry-After` (or an exhausted rate limit with
//! `x-ratelimit-reset`) after the wait GitHub asks for. The token lives only inside octocrab
//! (marked sensitive) and is scrubbed from any message this module builds.

use super::source::Source;
use super::{compute, outcome, pr_body, Kind, Options, RepoId, State};
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
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    /// GitHub's `message` (and first `errors[].message`), for error text.
    fn message(&self) -> String {
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
    pub fn new(opts: &super::GitHubOptions) -> Result<Client> {
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
            let last = attempt >= self.max_attempts;
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
            if status >= 500 {
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

    fn fail(&self, what: &str, r: &Resp) -> Error {
        let hint = match r.status {
            401 => " (bad credentials: check GITHUB_TOKEN)",
            403 => " (forbidden: the token lacks permission for this repository)",
            404 => " (not found: check owner/repo/branch, or the token cannot see the repository)",
            _ => "",
        };
        Error::external(self.scrub(format!("GitHub: {what}: HTTP {}{hint}: {}", r.status, r.message())))
    }

    fn expect(&self, what: &str, r: Resp, ok: &[u16]) -> Result<Value> {
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

/// Apply `kind` through GitHub (see the module doc). With `opts.dry_run` only reads.
pub async fn apply(kind: Kind, opts: &Options) -> Result<super::Outcome> {
    let repo = opts.repo_for(kind);
    let client = Client::new(&opts.github)?;
    let src = Source::github(client.clone(), repo.clone(), None).await?;
    let (base_sha, base_tree) = src.github_sha().map(|(a, b)| (a.to_string(), b.to_string())).unwrap_or_default();
    let mut edit = compute(kind, opts, &src).await?;
    let v = opts.version.as_str();
    let title = kind.title(v);
    let direct = kind == Kind::Hashes && !opts.via_pr;
    let full = repo.full();
    // New files copy the mode of the file they were copied from; existing ones keep theirs.
    for c in &mut edit.changes {
        if let Some(m) = src.mode_of(&c.path) {
            c.mode = m;
        }
    }
    if edit.changes.is_empty() {
        let mut o = outcome(kind, opts, full, "github", &edit, State::Unchanged);
        o.commit = Some(base_sha);
        o.branch = Some(repo.branch.clone());
        return Ok(o);
    }
    let body = pr_body(kind, opts, &edit);
    let message = format!(
        "{title}\n\n{}\nSigned-off-by: {} <{}>\n",
        notes_text(&edit),
        opts.identity.name,
        opts.identity.email
    );

    if direct {
        if opts.dry_run {
            let mut o = outcome(kind, opts, full, "github", &edit, State::WouldChange);
            o.branch = Some(repo.branch.clone());
            return Ok(o);
        }
        let commit = commit_files(&client, opts, &repo, &edit, &base_tree, &base_sha, &message).await?;
        let path = format!("/repos/{}/{}/git/refs/heads/{}", repo.owner, repo.name, repo.branch);
        let r = client
            .request(Method::PATCH, &path, Some(&json!({"sha": commit, "force": false})))
            .await?;
        if r.status == 422 {
            return Err(Error::external(format!(
                "GitHub: {} moved while committing ({}); nothing was changed there: re-run to recompute",
                repo.branch,
                r.message()
            )));
        }
        client.expect(&format!("updating {} of {full}", repo.branch), r, &[200])?;
        let mut o = outcome(kind, opts, full, "github", &edit, State::Committed);
        o.branch = Some(repo.branch.clone());
        o.commit = Some(commit);
        o.needs_merge = false;
        return Ok(o);
    }

    // PR flow.
    let branch = kind.branch(v);
    let branch_sha = client.get_ref(&repo, &branch).await?;
    let mut branch_ok = false;
    if let Some(bs) = &branch_sha {
        branch_ok = true;
        for c in &edit.changes {
            if client.get_contents(&repo, &c.path, bs).await?.as_deref() != Some(c.new.as_str()) {
                branch_ok = false;
                break;
            }
        }
    }
    if opts.dry_run {
        let existing = if branch_ok { client.find_pr(&repo, &branch).await? } else { None };
        let state = if existing.is_some() { State::PrOpen } else { State::WouldChange };
        let mut o = outcome(kind, opts, full, "github", &edit, state);
        o.branch = Some(branch);
        if let Some((n, url)) = existing {
            o.pr_number = Some(n);
            o.pr_url = Some(url);
        }
        return Ok(o);
    }
    let mut commit = branch_sha.clone();
    if !branch_ok {
        let c = commit_files(&client, opts, &repo, &edit, &base_tree, &base_sha, &message).await?;
        if branch_sha.is_some() {
            let path = format!("/repos/{}/{}/git/refs/heads/{branch}", repo.owner, repo.name);
            let r = client
                .request(Method::PATCH, &path, Some(&json!({"sha": c, "force": true})))
                .await?;
            client.expect(&format!("updating branch {branch} of {full}"), r, &[200])?;
        } else {
            let path = format!("/repos/{}/{}/git/refs", repo.owner, repo.name);
            let r = client
                .request(Method::POST, &path, Some(&json!({"ref": format!("refs/heads/{branch}"), "sha": c})))
                .await?;
            client.expect(&format!("creating branch {branch} of {full}"), r, &[201])?;
        }
        commit = Some(c);
    }
    if branch_ok {
        if let Some((n, url)) = client.find_pr(&repo, &branch).await? {
            let mut o = outcome(kind, opts, full, "github", &edit, State::PrOpen);
            o.branch = Some(branch);
            o.commit = commit;
            o.pr_number = Some(n);
            o.pr_url = Some(url);
            return Ok(o);
        }
    }
    let path = format!("/repos/{}/{}/pulls", repo.owner, repo.name);
    let r = client
        .request(
            Method::POST,
            &path,
            Some(&json!({"title": title, "head": branch, "base": repo.branch, "body": body})),
        )
        .await?;
    let (state, number, url) = if r.status == 201 {
        let j = r.json();
        (
            State::PrOpened,
            j.get("number").and_then(|x| x.as_u64()),
            j.get("html_url").and_then(|x| x.as_str()).map(str::to_string),
        )
    } else if r.status == 422 && r.body.contains("already exists") {
        let (n, url) = client.find_pr(&repo, &branch).await?.ok_or_else(|| {
            Error::external(format!(
                "GitHub: {full} says a PR from {branch} already exists, but none is open from {}:{branch}",
                repo.owner
            ))
        })?;
        let p = format!("/repos/{}/{}/pulls/{n}", repo.owner, repo.name);
        let r = client
            .request(Method::PATCH, &p, Some(&json!({"title": title, "body": body})))
            .await?;
        client.expect(&format!("updating PR #{n} of {full}"), r, &[200])?;
        (State::PrUpdated, Some(n), Some(url))
    } else {
        return Err(client.fail(&format!("opening the PR from {branch} on {full}"), &r));
    };
    let mut o = outcome(kind, opts, full, "github", &edit, state);
    o.branch = Some(branch);
    o.commit = commit;
    o.pr_number = number;
    o.pr_url = url;
    Ok(o)
}

fn notes_text(edit: &super::Edit) -> String {
    let mut s = String::new();
    for n in &edit.notes {
        s.push_str(&format!("- {n}\n"));
    }
    s
}

/// One commit on top of `parent` holding every changed file: POST git/trees, POST git/commits.
async fn commit_files(
    client: &Client,
    opts: &Options,
    repo: &RepoId,
    edit: &super::Edit,
    base_tree: &str,
    parent: &str,
    message: &str,
) -> Result<String> {
    let entries: Vec<Value> = edit
        .changes
        .iter()
        .map(|c| json!({"path": c.path, "mode": c.mode, "type": "blob", "content": c.new}))
        .collect();
    let path = format!("/repos/{}/{}/git/trees", repo.owner, repo.name);
    let r = client
        .request(Method::POST, &path, Some(&json!({"base_tree": base_tree, "tree": entries})))
        .await?;
    let j = client.expect(&format!("creating a tree in {}", repo.full()), r, &[201])?;
    let tree = j
        .get("sha")
        .and_then(|x| x.as_str())
        .ok_or_else(|| Error::external("GitHub: tree response without sha"))?
        .to_string();
    let id = &opts.identity;
    let path = format!("/repos/{}/{}/git/commits", repo.owner, repo.name);
    let r = client
        .request(
            Method::POST,
            &path,
            Some(&json!({"message": message, "tree": tree, "parents": [parent], "author": {"name": id.name, "email": id.email}})),
        )
        .await?;
    let j = client.expect(&format!("creating a commit in {}", repo.full()), r, &[201])?;
    j.get("sha")
        .and_then(|x| x.as_str())
        .map(str::to_string)
        .ok_or_else(|| Error::external("GitHub: commit response without sha"))
}
