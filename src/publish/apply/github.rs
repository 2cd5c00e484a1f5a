//! GitHub mode: the edit's commits on top of the base branch (git trees/commits/refs APIs),
//! then the PR (pulls API); or the edit's `repository_dispatch`. Every commit message carries
//! the DCO trailer of the identity. Non-idempotent POSTs are sent once; when the answer is
//! lost the object is looked for before anything is sent again. A PR branch holding commits
//! that are not ours is never force-pushed over.

use super::Ctx;
use crate::error::{Error, Result};
use crate::publish::edit::{commit_message, Edit, RepoId};
use crate::publish::github_api::Client;
use crate::publish::outcome::{Mode, Outcome, State};
use http::Method;
use serde_json::{json, Value};

/// The GitHub applier.
pub struct GitHub {
    pub client: Client,
    /// (commit, tree) of the base branch as the source read it.
    pub base: std::sync::Mutex<Option<(String, String)>>,
}

impl GitHub {
    pub fn new(client: Client) -> GitHub {
        GitHub {
            client,
            base: std::sync::Mutex::new(None),
        }
    }

    /// The base branch's files, remembered for the commits made on top of them.
    pub async fn source(&self, repo: &RepoId) -> Result<crate::publish::source::Source> {
        let src = crate::publish::source::Source::github(self.client.clone(), repo.clone(), None).await?;
        if let Some((c, t)) = src.github_sha() {
            *self.base.lock().unwrap_or_else(|e| e.into_inner()) = Some((c.to_string(), t.to_string()));
        }
        Ok(src)
    }

    fn remembered(&self) -> Option<(String, String)> {
        self.base.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub async fn apply(&self, edit: Edit, ctx: &Ctx<'_>) -> Result<Outcome> {
        let client = &self.client;
        let repo = edit.repo.clone();
        let full = repo.full();
        if let Some(d) = &edit.dispatch {
            if ctx.dry_run {
                return Ok(Outcome::of(&edit, full, Mode::GitHub, true, State::WouldChange));
            }
            client.dispatch(&repo, &d.event_type, &d.client_payload).await?;
            return Ok(Outcome::of(&edit, full, Mode::GitHub, false, State::Dispatched));
        }
        let base_sha = match self.remembered() {
            Some((c, _)) => c,
            None => client
                .get_ref(&repo, &repo.branch)
                .await?
                .ok_or_else(|| Error::input(format!("GitHub: {full} has no branch {:?}", repo.branch)))?,
        };
        if edit.is_empty() {
            let mut o = Outcome::of(&edit, full, Mode::GitHub, ctx.dry_run, State::Unchanged);
            o.commit = Some(base_sha);
            o.branch = Some(repo.branch.clone());
            return Ok(o);
        }
        let Some(branch) = edit.branch().map(str::to_string) else {
            return self.commit_to_base(edit, ctx, &base_sha).await;
        };
        // PR flow: does the branch already hold the final content of every file?
        let branch_sha = client.get_ref(&repo, &branch).await?;
        let mut branch_ok = false;
        if let Some(bs) = &branch_sha {
            branch_ok = true;
            for c in edit.final_changes() {
                if client.get_contents(&repo, &c.path, bs).await?.as_deref() != Some(c.new.as_str()) {
                    branch_ok = false;
                    break;
                }
            }
        }
        if ctx.dry_run {
            let existing = if branch_ok { client.find_pr(&repo, &branch).await? } else { None };
            let state = if existing.is_some() { State::PrOpen } else { State::WouldChange };
            let mut o = Outcome::of(&edit, full, Mode::GitHub, true, state);
            if let Some((n, url)) = existing {
                o.pr_number = Some(n);
                o.pr_url = Some(url);
            }
            return Ok(o);
        }
        let mut commit = branch_sha.clone();
        if !branch_ok {
            if let Some(bs) = &branch_sha {
                self.refuse_foreign_commits(&repo, &branch, bs, &base_sha, &edit).await?;
            }
            let c = self.commit_chain(&edit, ctx, &base_sha).await?;
            match &branch_sha {
                Some(_) => {
                    // Only our own commits are on it (checked above): move it to the new chain.
                    let path = format!("/repos/{}/{}/git/refs/heads/{branch}", repo.owner, repo.name);
                    let r = client
                        .request(Method::PATCH, &path, Some(&json!({"sha": c, "force": true})))
                        .await?;
                    client.expect(&format!("updating branch {branch} of {full}"), r, &[200])?;
                }
                None => self.create_branch(&repo, &branch, &c).await?,
            }
            commit = Some(c);
        }
        if branch_ok {
            if let Some((n, url)) = client.find_pr(&repo, &branch).await? {
                let mut o = Outcome::of(&edit, full, Mode::GitHub, false, State::PrOpen);
                o.commit = commit;
                o.pr_number = Some(n);
                o.pr_url = Some(url);
                return Ok(o);
            }
        }
        let (state, number, url) = self.open_pr(&repo, &branch, &edit, ctx).await?;
        let mut o = Outcome::of(&edit, full, Mode::GitHub, false, state);
        o.commit = commit;
        o.pr_number = number;
        o.pr_url = url;
        Ok(o)
    }

    /// Commit straight onto the base branch (fast-forward only).
    async fn commit_to_base(&self, edit: Edit, ctx: &Ctx<'_>, base_sha: &str) -> Result<Outcome> {
        let client = &self.client;
        let repo = &edit.repo;
        let full = repo.full();
        if ctx.dry_run {
            let mut o = Outcome::of(&edit, full, Mode::GitHub, true, State::WouldChange);
            o.branch = Some(repo.branch.clone());
            return Ok(o);
        }
        let commit = self.commit_chain(&edit, ctx, base_sha).await?;
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
        let mut o = Outcome::of(&edit, full, Mode::GitHub, false, State::Committed);
        o.branch = Some(repo.branch.clone());
        o.commit = Some(commit);
        o.needs_merge = false;
        Ok(o)
    }

    /// The edit's commits, one after the other on top of `base`: POST git/trees and
    /// git/commits for each (content-addressed, so a retry makes the same objects).
    async fn commit_chain(&self, edit: &Edit, ctx: &Ctx<'_>, base: &str) -> Result<String> {
        let client = &self.client;
        let repo = &edit.repo;
        let base_tree = match self.remembered() {
            Some((c, t)) if c == base => t,
            _ => commit_tree(client, repo, base).await?.1,
        };
        let mut parent = base.to_string();
        let mut tree = base_tree;
        let id = ctx.identity;
        for c in edit.commits_with_changes() {
            let entries: Vec<Value> = c
                .changes
                .iter()
                .map(|x| json!({"path": x.path, "mode": x.mode, "type": "blob", "content": x.new}))
                .collect();
            let path = format!("/repos/{}/{}/git/trees", repo.owner, repo.name);
            let r = client
                .request(Method::POST, &path, Some(&json!({"base_tree": tree, "tree": entries})))
                .await?;
            let j = client.expect(&format!("creating a tree in {}", repo.full()), r, &[201])?;
            tree = sha_of(&j, "tree")?;
            let who = json!({"name": id.name, "email": id.email});
            let body = json!({
                "message": commit_message(&c.title, &[], id),
                "tree": tree,
                "parents": [parent],
                "author": who,
                "committer": who,
            });
            let path = format!("/repos/{}/{}/git/commits", repo.owner, repo.name);
            let r = client.request(Method::POST, &path, Some(&body)).await?;
            let j = client.expect(&format!("creating a commit in {}", repo.full()), r, &[201])?;
            parent = sha_of(&j, "commit")?;
        }
        Ok(parent)
    }

    /// Refuse (exit 4) when the PR branch holds a commit whose subject is none of ours.
    async fn refuse_foreign_commits(&self, repo: &RepoId, branch: &str, head: &str, base: &str, edit: &Edit) -> Result<()> {
        let path = format!("/repos/{}/{}/compare/{base}...{head}", repo.owner, repo.name);
        let r = self.client.request(Method::GET, &path, None).await?;
        let j = self
            .client
            .expect(&format!("comparing {branch} with {} of {}", repo.branch, repo.full()), r, &[200])?;
        let ours = edit.titles();
        for c in j.get("commits").and_then(|c| c.as_array()).cloned().unwrap_or_default() {
            let msg = c.pointer("/commit/message").and_then(|m| m.as_str()).unwrap_or("");
            let subject = msg.lines().next().unwrap_or("");
            if !ours.iter().any(|t| t == subject) {
                let sha = c.get("sha").and_then(|s| s.as_str()).unwrap_or("?");
                return Err(Error::refused(format!(
                    "GitHub: branch {branch} of {} holds commit {sha} \"{subject}\" that valkey-release did not make; \
                     refusing to force-push over it (merge or delete the branch, then re-run)",
                    repo.full()
                )));
            }
        }
        Ok(())
    }

    /// POST git/refs once; on a lost answer, look for the branch before trying again.
    async fn create_branch(&self, repo: &RepoId, branch: &str, sha: &str) -> Result<()> {
        let client = &self.client;
        let path = format!("/repos/{}/{}/git/refs", repo.owner, repo.name);
        let body = json!({"ref": format!("refs/heads/{branch}"), "sha": sha});
        for attempt in 0..3 {
            let r = client.request_once(Method::POST, &path, Some(&body)).await;
            match r {
                Ok(r) if r.status == 201 => return Ok(()),
                Ok(r) if r.status < 500 => {
                    return Err(client.fail(&format!("creating branch {branch} of {}", repo.full()), &r));
                }
                _ => {}
            }
            match client.get_ref(repo, branch).await? {
                Some(s) if s == sha => return Ok(()),
                Some(s) => {
                    return Err(Error::external(format!(
                        "GitHub: branch {branch} of {} appeared at {s}, not {sha}, while creating it; re-run",
                        repo.full()
                    )))
                }
                None if attempt < 2 => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
                None => {}
            }
        }
        Err(Error::external(format!(
            "GitHub: creating branch {branch} of {} failed after 3 attempts (none landed)",
            repo.full()
        )))
    }

    /// POST pulls once; on a lost answer or "already exists", find the open PR (and update
    /// its title and body) instead of opening a second.
    async fn open_pr(&self, repo: &RepoId, branch: &str, edit: &Edit, ctx: &Ctx<'_>) -> Result<(State, Option<u64>, Option<String>)> {
        let client = &self.client;
        let full = repo.full();
        let title = edit.pr_title().unwrap_or_default();
        let body = json!({"title": title, "head": branch, "base": repo.branch, "body": ctx.body});
        let path = format!("/repos/{}/{}/pulls", repo.owner, repo.name);
        let mut exists = false;
        for _ in 0..3 {
            let r = client.request_once(Method::POST, &path, Some(&body)).await;
            match r {
                Ok(r) if r.status == 201 => {
                    let j = r.json();
                    return Ok((
                        State::PrOpened,
                        j.get("number").and_then(|x| x.as_u64()),
                        j.get("html_url").and_then(|x| x.as_str()).map(str::to_string),
                    ));
                }
                Ok(r) if r.status == 422 && r.body.contains("already exists") => {
                    exists = true;
                    break;
                }
                Ok(r) if r.status < 500 => return Err(client.fail(&format!("opening the PR from {branch} on {full}"), &r)),
                _ => {}
            }
            // The answer was lost: did the PR open anyway?
            if let Some((n, url)) = client.find_pr(repo, branch).await? {
                return Ok((State::PrOpened, Some(n), Some(url)));
            }
        }
        if !exists {
            return Err(Error::external(format!(
                "GitHub: could not open a PR from {branch} on {full} after 3 attempts (after each, no PR was open from {}:{branch}); re-run",
                repo.owner
            )));
        }
        let (n, url) = client.find_pr(repo, branch).await?.ok_or_else(|| {
            Error::external(format!(
                "GitHub: {full} says a PR from {branch} already exists, but none is open from {}:{branch}",
                repo.owner
            ))
        })?;
        let p = format!("/repos/{}/{}/pulls/{n}", repo.owner, repo.name);
        let r = client
            .request(Method::PATCH, &p, Some(&json!({"title": title, "body": ctx.body})))
            .await?;
        client.expect(&format!("updating PR #{n} of {full}"), r, &[200])?;
        Ok((State::PrUpdated, Some(n), Some(url)))
    }
}

fn sha_of(j: &Value, what: &str) -> Result<String> {
    j.get("sha")
        .and_then(|x| x.as_str())
        .map(str::to_string)
        .ok_or_else(|| Error::external(format!("GitHub: {what} response without sha")))
}

/// (commit sha, tree sha) of a commit, via the tree listing (non-recursive).
async fn commit_tree(client: &Client, repo: &RepoId, sha: &str) -> Result<(String, String)> {
    let path = format!("/repos/{}/{}/git/trees/{sha}", repo.owner, repo.name);
    let r = client.request(Method::GET, &path, None).await?;
    let j = client.expect(&format!("reading the tree of {} at {sha}", repo.full()), r, &[200])?;
    Ok((sha.to_string(), sha_of(&j, "tree")?))
}
