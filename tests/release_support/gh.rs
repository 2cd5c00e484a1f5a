//! A stateful emulation of the GitHub REST paths publish uses, on wiremock: branches, commits,
//! trees, contents and pull requests are kept in memory, so a second run sees what the first
//! one wrote (branch moved, PR open) as it would on GitHub.
#![allow(dead_code)]

use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const OWNER: &str = "valkey-io";

/// path -> (content, mode)
pub type Files = BTreeMap<String, (String, String)>;

#[derive(Default, Clone, Debug)]
pub struct Pr {
    pub number: u64,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
    pub open: bool,
}

#[derive(Default)]
pub struct Repo {
    pub branches: BTreeMap<String, String>,
    /// commit sha -> (tree sha, parents, message)
    pub commits: BTreeMap<String, (String, Vec<String>, String)>,
    pub trees: BTreeMap<String, Files>,
    pub prs: Vec<Pr>,
}

#[derive(Default)]
pub struct World {
    pub repos: BTreeMap<String, Repo>,
    next: u64,
    /// Failures to inject, consumed in order of registration.
    pub faults: Vec<Fault>,
    /// Requests answered with an injected failure: (method, path, status).
    pub injected: Vec<(String, String, u16)>,
    /// repository_dispatch events received: (repo, body).
    pub dispatches: Vec<(String, Value)>,
}

/// A failure the emulation answers instead of GitHub: the next `times` requests matching
/// `method` and `path` (the URL path, no query) get `status`.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub times: u32,
    /// The request is carried out first (the write lands) and only the answer is lost, as when
    /// GitHub's front end times out after the backend committed the change.
    pub after_write: bool,
}

impl World {
    /// A fresh 40-hex id (commits and trees share the counter).
    fn id(&mut self, _kind: &str) -> String {
        self.next += 1;
        format!("{:040x}", 0x00c0_ffee_0000_u64 + self.next)
    }
}

/// The emulated GitHub: `uri()` is the API base URL (GITHUB_API_URL).
pub struct GitHub {
    pub server: MockServer,
    pub world: Arc<Mutex<World>>,
}

fn read_tree(dir: &Path, rel: &str, out: &mut Files) {
    use std::os::unix::fs::PermissionsExt;
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let p = e.path();
        let r = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        if p.is_dir() {
            read_tree(&p, &r, out);
        } else {
            let exec = std::fs::metadata(&p).unwrap().permissions().mode() & 0o111 != 0;
            out.insert(
                r,
                (std::fs::read_to_string(&p).unwrap(), if exec { "100755" } else { "100644" }.into()),
            );
        }
    }
}

impl GitHub {
    /// Start with `repos`: (name, base branch, directory whose files the branch holds).
    pub async fn start(repos: &[(&str, &str, &Path)]) -> GitHub {
        let world = Arc::new(Mutex::new(World::default()));
        {
            let mut w = world.lock().unwrap();
            for (name, branch, dir) in repos {
                let mut files = Files::new();
                read_tree(dir, "", &mut files);
                let tree = w.id("tree");
                let commit = w.id("seed");
                let r = w.repos.entry(name.to_string()).or_default();
                r.trees.insert(tree.clone(), files);
                r.commits.insert(commit.clone(), (tree, vec![], "seed".into()));
                r.branches.insert(branch.to_string(), commit);
            }
        }
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(Emu(world.clone()))
            .mount(&server)
            .await;
        GitHub { server, world }
    }

    /// Start with the repositories a release publishes to, each on its base branch holding its
    /// fixture copy: valkey-hashes (main), valkey-container (mainline), valkey-io.github.io (main).
    pub async fn start_with_publish_repos() -> GitHub {
        let r = super::publish_repos();
        GitHub::start(&[
            ("valkey-hashes", "main", &r.join("valkey-hashes")),
            ("valkey-container", "mainline", &r.join("valkey-container")),
            ("valkey-io.github.io", "main", &r.join("valkey-io.github.io")),
            ("valkey-bundle", "main", &r.join("valkey-bundle")),
            ("valkey-doc", "main", &r.join("valkey-doc")),
        ])
        .await
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The files branch `branch` of `repo` holds.
    pub fn files(&self, repo: &str, branch: &str) -> Files {
        let w = self.world.lock().unwrap();
        let r = &w.repos[repo];
        let c = &r.branches[branch];
        r.trees[&r.commits[c].0].clone()
    }

    pub fn branch(&self, repo: &str, branch: &str) -> Option<String> {
        self.world.lock().unwrap().repos[repo].branches.get(branch).cloned()
    }

    /// Commit messages from `branch` back to the seed, newest first.
    pub fn log(&self, repo: &str, branch: &str) -> Vec<String> {
        let w = self.world.lock().unwrap();
        let r = &w.repos[repo];
        let mut out = Vec::new();
        let mut c = r.branches.get(branch).cloned();
        while let Some(sha) = c {
            let (_, parents, msg) = &r.commits[&sha];
            out.push(msg.clone());
            c = parents.first().cloned();
        }
        out
    }

    /// repository_dispatch events received so far: (repo, body).
    pub fn dispatches(&self) -> Vec<(String, Value)> {
        self.world.lock().unwrap().dispatches.clone()
    }

    /// Every branch of `repo`.
    pub fn branches(&self, repo: &str) -> Vec<String> {
        self.world.lock().unwrap().repos[repo].branches.keys().cloned().collect()
    }

    /// Full commit messages on `branch` that are not on `base`, oldest first.
    pub fn commits_between(&self, repo: &str, base: &str, branch: &str) -> Vec<String> {
        let w = self.world.lock().unwrap();
        let r = &w.repos[repo];
        let stop: std::collections::BTreeSet<String> = ancestors(r, &r.branches[base]).into_iter().collect();
        let mut out: Vec<String> = ancestors(r, &r.branches[branch])
            .into_iter()
            .filter(|c| !stop.contains(c))
            .map(|c| r.commits[&c].2.clone())
            .collect();
        out.reverse();
        out
    }

    pub fn prs(&self, repo: &str) -> Vec<Pr> {
        self.world.lock().unwrap().repos[repo].prs.clone()
    }

    /// Answer the next `times` requests `method path` (e.g. `PATCH`,
    /// `/repos/valkey-io/valkey-hashes/git/refs/heads/main`) with `status` (500, 502, ...) without
    /// carrying them out. `times` 1 fails one request once; the tool retries 5xx, so failing a step
    /// takes as many as its attempts.
    pub fn fail(&self, method: &str, path: &str, status: u16, times: u32) {
        self.push_fault(method, path, status, times, false);
    }

    /// Like [`GitHub::fail`], but each matching request is carried out first and only its answer
    /// is replaced by `status` (the write landed, the client never learns it).
    pub fn fail_after_write(&self, method: &str, path: &str, status: u16, times: u32) {
        self.push_fault(method, path, status, times, true);
    }

    fn push_fault(&self, method: &str, path: &str, status: u16, times: u32, after_write: bool) {
        self.world.lock().unwrap().faults.push(Fault {
            method: method.to_string(),
            path: path.to_string(),
            status,
            times,
            after_write,
        });
    }

    /// Injected failures not used up yet (sum of the remaining `times`).
    pub fn faults_pending(&self) -> u32 {
        self.world.lock().unwrap().faults.iter().map(|f| f.times).sum()
    }

    /// Requests answered with an injected failure so far: (method, path, status).
    pub fn injected(&self) -> Vec<(String, String, u16)> {
        self.world.lock().unwrap().injected.clone()
    }

    /// The parents of the commit branch `branch` of `repo` points at.
    pub fn parents(&self, repo: &str, branch: &str) -> Vec<String> {
        let w = self.world.lock().unwrap();
        let r = &w.repos[repo];
        r.commits[&r.branches[branch]].1.clone()
    }

    /// Every request received: (method, path?query, body, authorization header).
    pub async fn requests(&self) -> Vec<(String, String, Value, String)> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let q = r.url.query().map(|q| format!("?{q}")).unwrap_or_default();
                let auth = r
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                (
                    r.method.to_string(),
                    format!("{}{q}", r.url.path()),
                    serde_json::from_slice(&r.body).unwrap_or(Value::Null),
                    auth,
                )
            })
            .collect()
    }
}

/// The first-parent chain of `sha`, newest first.
fn ancestors(r: &Repo, sha: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = Some(sha.to_string());
    while let Some(x) = c {
        c = r.commits.get(&x).and_then(|(_, p, _)| p.first().cloned());
        out.push(x);
    }
    out
}

struct Emu(Arc<Mutex<World>>);

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}))
}

fn unprocessable(msg: &str) -> ResponseTemplate {
    ResponseTemplate::new(422).set_body_json(json!({"message": "Validation Failed", "errors": [{"message": msg}]}))
}

fn injected_failure(status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"message": format!("Server Error (HTTP {status} injected by the test)")}))
}

/// The emulation with its injected failures ([`GitHub::fail`]) in front of the API proper ([`Api`]).
impl Respond for Emu {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let method = req.method.as_str().to_string();
        let path = req.url.path().to_string();
        let hit = {
            let mut w = self.0.lock().unwrap();
            let hit = w
                .faults
                .iter_mut()
                .find(|f| f.times > 0 && f.method == method && f.path == path)
                .map(|f| {
                    f.times -= 1;
                    (f.status, f.after_write)
                });
            w.faults.retain(|f| f.times > 0);
            hit
        };
        let Some((status, after_write)) = hit else {
            return Api(self.0.clone()).respond(req);
        };
        if after_write {
            let _ = Api(self.0.clone()).respond(req);
        }
        self.0.lock().unwrap().injected.push((method, path, status));
        injected_failure(status)
    }
}

/// The emulated REST API proper.
struct Api(Arc<Mutex<World>>);

impl Respond for Api {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut w = self.0.lock().unwrap();
        let path = req.url.path().to_string();
        let q: BTreeMap<String, String> = req.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let m = req.method.as_str();
        let Some(rest) = path.strip_prefix(&format!("/repos/{OWNER}/")) else {
            return not_found();
        };
        let Some((repo, rest)) = rest.split_once('/') else {
            return not_found();
        };
        let repo = repo.to_string();
        let rest = rest.to_string();
        if !w.repos.contains_key(&repo) {
            return not_found();
        }
        // Resolve a commit sha or branch name to a commit sha.
        let resolve = |w: &World, rev: &str| -> Option<String> {
            let r = &w.repos[&repo];
            if r.commits.contains_key(rev) {
                Some(rev.to_string())
            } else {
                r.branches.get(rev).cloned()
            }
        };
        match (m, rest.as_str()) {
            ("GET", p) if p.starts_with("git/ref/heads/") => {
                let b = &p["git/ref/heads/".len()..];
                match w.repos[&repo].branches.get(b) {
                    Some(sha) => ResponseTemplate::new(200)
                        .set_body_json(json!({"ref": format!("refs/heads/{b}"), "object": {"sha": sha, "type": "commit"}})),
                    None => not_found(),
                }
            }
            ("GET", p) if p.starts_with("git/trees/") => {
                let rev = &p["git/trees/".len()..];
                let r = &w.repos[&repo];
                let tree_sha = match r.commits.get(rev) {
                    Some((t, _, _)) => t.clone(),
                    None if r.trees.contains_key(rev) => rev.to_string(),
                    None => return not_found(),
                };
                let files = &r.trees[&tree_sha];
                let mut dirs = std::collections::BTreeSet::new();
                let mut entries = Vec::new();
                for (p, (_, mode)) in files {
                    let mut d = p.as_str();
                    while let Some((parent, _)) = d.rsplit_once('/') {
                        dirs.insert(parent.to_string());
                        d = parent;
                    }
                    entries.push(json!({"path": p, "mode": mode, "type": "blob", "sha": "0"}));
                }
                for d in dirs {
                    entries.push(json!({"path": d, "mode": "040000", "type": "tree", "sha": "0"}));
                }
                ResponseTemplate::new(200).set_body_json(json!({"sha": tree_sha, "tree": entries, "truncated": false}))
            }
            ("GET", p) if p.starts_with("contents/") => {
                let file = &p["contents/".len()..];
                let rev = q.get("ref").cloned().unwrap_or_default();
                let Some(c) = resolve(&w, &rev) else {
                    return not_found();
                };
                let r = &w.repos[&repo];
                let Some((text, _)) = r.trees[&r.commits[&c].0].get(file) else {
                    return not_found();
                };
                let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
                let wrapped: String = b64
                    .as_bytes()
                    .chunks(60)
                    .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({"type": "file", "path": file, "encoding": "base64", "content": wrapped}))
            }
            ("POST", "git/trees") => {
                let base = body["base_tree"].as_str().unwrap_or("").to_string();
                let mut files = w.repos[&repo].trees.get(&base).cloned().unwrap_or_default();
                for e in body["tree"].as_array().cloned().unwrap_or_default() {
                    let p = e["path"].as_str().unwrap().to_string();
                    match e["content"].as_str() {
                        Some(c) => {
                            files.insert(p, (c.to_string(), e["mode"].as_str().unwrap_or("100644").to_string()));
                        }
                        None => {
                            files.remove(&p);
                        }
                    }
                }
                let sha = w.id("tree");
                w.repos.get_mut(&repo).unwrap().trees.insert(sha.clone(), files);
                ResponseTemplate::new(201).set_body_json(json!({"sha": sha}))
            }
            ("POST", "git/commits") => {
                let tree = body["tree"].as_str().unwrap_or("").to_string();
                if !w.repos[&repo].trees.contains_key(&tree) {
                    return unprocessable("tree not found");
                }
                let parents: Vec<String> = body["parents"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect();
                let sha = w.id("commit");
                let msg = body["message"].as_str().unwrap_or("").to_string();
                w.repos.get_mut(&repo).unwrap().commits.insert(sha.clone(), (tree, parents, msg));
                ResponseTemplate::new(201).set_body_json(json!({"sha": sha}))
            }
            ("POST", "git/refs") => {
                let name = body["ref"].as_str().unwrap_or("").trim_start_matches("refs/heads/").to_string();
                let sha = body["sha"].as_str().unwrap_or("").to_string();
                let r = w.repos.get_mut(&repo).unwrap();
                if r.branches.contains_key(&name) {
                    return unprocessable("Reference already exists");
                }
                if !r.commits.contains_key(&sha) {
                    return unprocessable("Object does not exist");
                }
                r.branches.insert(name.clone(), sha.clone());
                ResponseTemplate::new(201).set_body_json(json!({"ref": format!("refs/heads/{name}"), "object": {"sha": sha}}))
            }
            ("PATCH", p) if p.starts_with("git/refs/heads/") => {
                let b = p["git/refs/heads/".len()..].to_string();
                let sha = body["sha"].as_str().unwrap_or("").to_string();
                let force = body["force"].as_bool().unwrap_or(false);
                let r = w.repos.get_mut(&repo).unwrap();
                let Some(cur) = r.branches.get(&b).cloned() else {
                    return unprocessable("Reference does not exist");
                };
                if !r.commits.contains_key(&sha) {
                    return unprocessable("Object does not exist");
                }
                if !force {
                    // Fast-forward only: the current head must be an ancestor of the new commit.
                    let mut c = Some(sha.clone());
                    let mut ok = false;
                    while let Some(x) = c {
                        if x == cur {
                            ok = true;
                            break;
                        }
                        c = r.commits[&x].1.first().cloned();
                    }
                    if !ok {
                        return unprocessable("Update is not a fast forward");
                    }
                }
                r.branches.insert(b.clone(), sha.clone());
                ResponseTemplate::new(200).set_body_json(json!({"ref": format!("refs/heads/{b}"), "object": {"sha": sha}}))
            }
            ("POST", "dispatches") => {
                if body["event_type"].as_str().unwrap_or("").is_empty() {
                    return unprocessable("event_type is required");
                }
                w.dispatches.push((repo.clone(), body));
                ResponseTemplate::new(204)
            }
            ("GET", p) if p.starts_with("compare/") => {
                let Some((base, head)) = p["compare/".len()..].split_once("...") else {
                    return not_found();
                };
                let (Some(b), Some(h)) = (resolve(&w, base), resolve(&w, head)) else {
                    return not_found();
                };
                let r = &w.repos[&repo];
                let stop: std::collections::BTreeSet<String> = ancestors(r, &b).into_iter().collect();
                let mut commits: Vec<Value> = ancestors(r, &h)
                    .into_iter()
                    .filter(|c| !stop.contains(c))
                    .map(|c| json!({"sha": c, "commit": {"message": r.commits[&c].2}}))
                    .collect();
                commits.reverse();
                ResponseTemplate::new(200).set_body_json(json!({"ahead_by": commits.len(), "commits": commits}))
            }
            ("GET", "pulls") => {
                let head = q.get("head").cloned().unwrap_or_default();
                let branch = head.split_once(':').map(|(_, b)| b.to_string()).unwrap_or(head);
                let open_only = q.get("state").map(|s| s == "open").unwrap_or(true);
                let list: Vec<Value> = w.repos[&repo]
                    .prs
                    .iter()
                    .filter(|p| p.head == branch && (p.open || !open_only))
                    .map(|p| json!({"number": p.number, "html_url": format!("https://github.com/{OWNER}/{repo}/pull/{}", p.number), "state": if p.open {"open"} else {"closed"}}))
                    .collect();
                ResponseTemplate::new(200).set_body_json(Value::Array(list))
            }
            ("POST", "pulls") => {
                let head = body["head"].as_str().unwrap_or("").to_string();
                let r = w.repos.get_mut(&repo).unwrap();
                if !r.branches.contains_key(&head) {
                    return unprocessable("head: invalid");
                }
                if r.prs.iter().any(|p| p.open && p.head == head) {
                    return unprocessable(&format!("A pull request already exists for {OWNER}:{head}."));
                }
                let number = r.prs.len() as u64 + 1;
                r.prs.push(Pr {
                    number,
                    head,
                    base: body["base"].as_str().unwrap_or("").into(),
                    title: body["title"].as_str().unwrap_or("").into(),
                    body: body["body"].as_str().unwrap_or("").into(),
                    open: true,
                });
                ResponseTemplate::new(201)
                    .set_body_json(json!({"number": number, "html_url": format!("https://github.com/{OWNER}/{repo}/pull/{number}")}))
            }
            ("PATCH", p) if p.starts_with("pulls/") => {
                let n: u64 = p["pulls/".len()..].parse().unwrap_or(0);
                let r = w.repos.get_mut(&repo).unwrap();
                let Some(pr) = r.prs.iter_mut().find(|x| x.number == n) else {
                    return not_found();
                };
                if let Some(t) = body["title"].as_str() {
                    pr.title = t.into();
                }
                if let Some(b) = body["body"].as_str() {
                    pr.body = b.into();
                }
                ResponseTemplate::new(200).set_body_json(json!({"number": n}))
            }
            _ => not_found(),
        }
    }
}
