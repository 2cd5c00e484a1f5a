//! `valkey-release plan`: what a release would do, with no credentials and no build.
//! Also the two choices `release` makes from its arguments and environment: where the upload
//! goes ([`choose_store`]) and how the repository changes are applied ([`choose_publish`]).

use super::payload::{Environment, Request};
use super::Step;
use crate::error::{Error, Result};
use crate::publish::handoff::Handoff;
use crate::targets::Matrix;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub use super::plan_run::{fill_diffs, for_release};

/// Where the upload goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreChoice {
    /// `s3` or `file`.
    pub kind: String,
    /// `s3://bucket` or `file:///abs/path` (no key prefix).
    pub url: String,
    /// The bucket name for s3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// What decided it: `--store`, `--bucket`, `AWS_S3_BUCKET`, `AWS_TEST_BUCKET`, `embedded default`.
    pub from: String,
    /// The variable this environment's bucket comes from.
    pub bucket_var: String,
}

/// Choose the store: `--store URL`, else `--bucket B`, else the environment's variable
/// (`prod` -> `AWS_S3_BUCKET`, otherwise `AWS_TEST_BUCKET`, never the other one), else — only when
/// no bucket variable is set at all and not inside GitHub Actions — the embedded default, a
/// local directory store `file://<dist>/bucket`. `var` reads the environment (injectable for tests).
pub fn choose_store(
    env: Environment,
    store: Option<&str>,
    bucket: Option<&str>,
    dist: &Path,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<StoreChoice> {
    let bucket_var = env.bucket_var().to_string();
    let set = |k: &str| var(k).filter(|v| !v.trim().is_empty());
    // One parser and one rule for every command: crate::store. The key prefix comes from
    // targets.toml; a prefix in --store is not used here.
    if let Some((url, from)) = crate::store::resolve(env, bucket, store, var)? {
        let (kind, url) = match url.bucket() {
            Some(b) => ("s3", format!("s3://{b}")),
            None => (
                url.scheme.as_str(),
                format!("{}://{}", url.scheme, absolute(Path::new(&url.location)).display()),
            ),
        };
        return Ok(StoreChoice {
            kind: kind.into(),
            bucket: (kind == "s3").then(|| url["s3://".len()..].to_string()),
            url,
            from,
            bucket_var,
        });
    }
    let other = match env {
        Environment::Prod => Environment::Dev.bucket_var(),
        Environment::Dev => Environment::Prod.bucket_var(),
    };
    let in_actions = var("GITHUB_ACTIONS").as_deref() == Some("true");
    if set(other).is_some() || in_actions {
        return Err(Error::input(format!(
            "{bucket_var} is not set: a {env} release uploads to the bucket it names{} (or pass --bucket / --store)",
            if set(other).is_some() {
                format!("; {other} is set but is never used for {env}")
            } else {
                String::new()
            }
        )));
    }
    let dir = absolute(&dist.join("bucket"));
    Ok(StoreChoice {
        kind: "file".into(),
        url: format!("file://{}", dir.display()),
        bucket: None,
        from: "embedded default".into(),
        bucket_var,
    })
}

/// For a plan or a dry run, which send nothing: the store if it can be chosen, else the
/// environment's bucket variable shown by name.
pub fn store_for_display(
    env: Environment,
    store: Option<&str>,
    bucket: Option<&str>,
    dist: &Path,
    var: &dyn Fn(&str) -> Option<String>,
) -> StoreChoice {
    choose_store(env, store, bucket, dist, var).unwrap_or_else(|_| {
        let bv = env.bucket_var();
        StoreChoice {
            kind: "s3".into(),
            url: format!("s3://${bv}"),
            bucket: None,
            from: format!("{bv} (not set here)"),
            bucket_var: bv.into(),
        }
    })
}

/// How repository changes (hashes, container, website) are applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum PublishChoice {
    /// GitHub API with GITHUB_TOKEN.
    Github,
    /// Local checkouts given on the command line (committed, pushed with --push).
    Checkout,
    /// Patch files under this directory, for review (the embedded default).
    Handoff { dir: String },
}

/// Choose: a token -> GitHub; checkouts -> local; otherwise patch files under `handoff`
/// (refused inside GitHub Actions, where a missing token is a mistake, not a choice).
pub fn choose_publish(has_token: bool, has_checkouts: bool, handoff: &Path, var: &dyn Fn(&str) -> Option<String>) -> Result<PublishChoice> {
    if has_checkouts {
        return Ok(PublishChoice::Checkout);
    }
    if has_token {
        return Ok(PublishChoice::Github);
    }
    if var("GITHUB_ACTIONS").as_deref() == Some("true") {
        return Err(Error::input(
            "GITHUB_TOKEN is not set: inside GitHub Actions the repository steps need it (secrets.PAT or github.token)",
        ));
    }
    Ok(PublishChoice::Handoff {
        dir: absolute(handoff).display().to_string(),
    })
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|c| c.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}

/// The targets of a release: those named, else the official ones of targets.toml (the
/// published matrix), else — when none is marked official — all of them.
pub fn release_targets<'m>(matrix: &'m Matrix, names: &[String]) -> Result<Vec<&'m crate::targets::Target>> {
    if !names.is_empty() {
        return matrix.select(names);
    }
    let official: Vec<_> = matrix.targets.iter().filter(|t| t.official && t.default).collect();
    if official.is_empty() {
        Ok(matrix.targets.iter().filter(|t| t.default).collect())
    } else {
        Ok(official)
    }
}

/// The object keys of one artifact file: the tarball and its `.sha256`.
pub fn artifact_keys(prefix: &str, file: &str) -> Vec<String> {
    vec![format!("{prefix}{file}"), format!("{prefix}{file}.sha256")]
}

/// The release-level keys: `releases/valkey-<V>.SHA256SUMS` and `releases/valkey-<V>.manifest.json`.
pub fn release_keys(prefix: &str, version: &str) -> Vec<String> {
    vec![
        format!("{prefix}valkey-{version}.SHA256SUMS"),
        format!("{prefix}valkey-{version}.manifest.json"),
    ]
}

/// One target in the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanTarget {
    pub name: String,
    pub distro: String,
    pub arch: String,
    pub builder: String,
    /// `native` or `cross`.
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    pub official: bool,
    pub artifact: String,
    pub file: String,
    pub keys: Vec<String>,
    pub url: String,
}

/// One step in the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanStep {
    pub step: Step,
    pub runs: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A change to another repository (or a dispatch), as the hand-off will make it.
#[derive(Debug, Clone, Serialize)]
pub struct RepoChange {
    pub step: Step,
    /// `owner/name`.
    pub repo: String,
    /// Branch the change goes to (the PR branch, or the base for a direct commit).
    pub branch: String,
    /// The PR title, or the commit subject of a direct commit.
    pub title: String,
    /// Commit subjects, in order.
    pub commits: Vec<String>,
    pub files: Vec<String>,
    pub description: String,
    /// The repository_dispatch it sends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<crate::publish::edit::Dispatch>,
    /// A unified diff, when the current files were available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// The plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub version: String,
    pub environment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_sha: Option<String>,
    pub origin: String,
    pub source: String,
    pub make_flags: Vec<String>,
    pub steps: Vec<PlanStep>,
    pub targets: Vec<PlanTarget>,
    pub release_keys: Vec<String>,
    pub store: StoreChoice,
    pub publish: Option<PublishChoice>,
    /// Date of the website page.
    pub date: String,
    pub repo_changes: Vec<RepoChange>,
}

/// What to plan.
pub struct PlanOptions<'a> {
    pub req: &'a Request,
    pub matrix: &'a Matrix,
    pub targets: &'a [String],
    pub source: Option<&'a str>,
    pub store: StoreChoice,
    pub publish: Option<PublishChoice>,
    /// sha256 of the source archive, when known without downloading (a local archive).
    pub source_sha256: Option<String>,
    pub date: String,
    /// Is a signing key given (`--signing-key` or the variable)?
    pub signing: bool,
    /// `--no-packages`: a tarball-only release.
    pub no_packages: bool,
}

/// Compute the plan (no network, no credentials, no build).
pub fn plan(o: &PlanOptions) -> Result<Plan> {
    let v = &o.req.version;
    let prefix = o.matrix.artifact.s3_prefix.clone();
    let public = o.matrix.artifact.public_url.clone();
    let targets = plan_targets(o, &prefix, &public)?;
    let table = crate::publish::handoff::table();
    let mut steps = Vec::new();
    let mut repo_changes = Vec::new();
    let tag_url = o.matrix.source_url(v);
    let digest = o
        .source_sha256
        .clone()
        .unwrap_or_else(|| "<sha256 of the source archive, known after the build>".into());
    for (s, h) in Step::CORE
        .into_iter()
        .map(|s| (s, None))
        .chain(table.iter().map(|h| (Step::Handoff(h.name()), Some(h))))
    {
        let has_packages = release_targets(o.matrix, o.targets)?.iter().any(|t| !t.packages.is_empty());
        let applies = s.applies(o.req, h.map(|h| h.as_ref())).and_then(|()| match s {
            Step::Sign if !o.signing => Err(format!(
                "no signing key (--signing-key FILE or ${}): SHA256SUMS is not signed",
                crate::sign::KEY_ENV
            )),
            Step::Repositories if o.no_packages => Err(super::steps::NO_PACKAGES.into()),
            Step::Repositories if !has_packages => Err("no target of this release makes packages".into()),
            Step::Repositories if !o.signing => Err(format!(
                "no signing key (--signing-key FILE or ${}): no repository",
                crate::sign::KEY_ENV
            )),
            _ => Ok(()),
        });
        steps.push(PlanStep {
            step: s,
            runs: applies.is_ok(),
            reason: applies.err(),
        });
        let (Some(h), true) = (h, steps.last().is_some_and(|p| p.runs)) else {
            continue;
        };
        repo_changes.push(repo_change(o, s, h.as_ref(), &targets, &tag_url, &digest));
    }
    Ok(Plan {
        version: v.to_string(),
        environment: o.req.environment.to_string(),
        source_sha: o.req.source_sha.clone(),
        origin: o.req.origin.clone(),
        source: o.source.map(str::to_string).unwrap_or(tag_url),
        make_flags: o.matrix.make_flags(v),
        steps,
        release_keys: release_keys(&prefix, v.as_str()),
        targets,
        store: o.store.clone(),
        publish: o.publish.clone(),
        date: o.date.clone(),
        repo_changes,
    })
}

/// The targets of the release with their artifact names, object keys and URLs.
fn plan_targets(o: &PlanOptions, prefix: &str, public: &str) -> Result<Vec<PlanTarget>> {
    let v = &o.req.version;
    let mut targets = Vec::new();
    for t in release_targets(o.matrix, o.targets)? {
        let file = o.matrix.tarball_name(v, t);
        targets.push(PlanTarget {
            name: t.name.clone(),
            distro: t.distro.clone(),
            arch: t.arch.as_str().to_string(),
            builder: t.builder.clone(),
            mode: t.mode().into(),
            engine: t.engine.clone(),
            official: t.official,
            artifact: o.matrix.artifact_name(v, t),
            keys: artifact_keys(prefix, &file),
            url: object_url(&o.store, public, prefix, o.req.environment, &file),
            file,
        });
    }
    Ok(targets)
}

/// What a hand-off that runs will change: its repository, branch, title, commits, files.
fn repo_change(o: &PlanOptions, s: Step, h: &dyn Handoff, targets: &[PlanTarget], tag_url: &str, digest: &str) -> RepoChange {
    let v = &o.req.version;
    let mut po = crate::publish::Options::new(v.clone());
    po.date = Some(o.date.clone());
    let shape = h.shape(&po);
    let mm = v.major_minor().unwrap_or_default();
    let (files, description): (Vec<String>, String) = match h.name() {
        "hashes" => (
            vec!["README".into()],
            format!("append (unless valkey-{v}.tar.gz already has this digest): hash valkey-{v}.tar.gz sha256 {digest} {tag_url}"),
        ),
        "container" => (
            vec![
                "versions.json".into(),
                format!("{mm}/debian/Dockerfile"),
                format!("{mm}/alpine/Dockerfile"),
                "generate-stackbrew-library.sh".into(),
            ],
            format!(
                "versions.json entry {mm} -> {v} ({tag_url}, sha256 {digest}); the Dockerfiles under {mm}/ follow; aliases per the rule"
            ),
        ),
        "website" => {
            let page = crate::publish::website::page_path(v.as_str());
            let arts: Vec<String> = targets.iter().map(|t| format!("{}-{}", t.distro, t.arch)).collect();
            (
                vec![page.clone()],
                format!(
                    "page {page} dated {}, listing only the built artifacts: {}",
                    o.date,
                    arts.join(", ")
                ),
            )
        }
        "docs" => (
            [
                "topics/releases.md",
                "Makefile",
                "topics/valkey.conf.md",
                "topics/modules-api-ref.md",
            ]
            .map(String::from)
            .to_vec(),
            format!(
                "releases table row for {mm} dated {}, Makefile VERSION/DATE, valkey.conf link, module API reference",
                o.date
            ),
        ),
        _ => (vec![], h.about().to_string()),
    };
    RepoChange {
        step: s,
        repo: shape.repo.full(),
        branch: shape.branch().map(str::to_string).unwrap_or_else(|| shape.repo.branch.clone()),
        title: shape
            .pr_title()
            .map(str::to_string)
            .or_else(|| shape.commits.first().map(|c| c.title.clone()))
            .unwrap_or_default(),
        commits: shape.commits.iter().map(|c| c.title.clone()).collect(),
        files,
        description,
        dispatch: shape.dispatch.clone(),
        diff: None,
    }
}

/// Where an uploaded file can be fetched: the public URL for the production bucket, the
/// `s3://` or `file://` URL otherwise.
pub fn object_url(store: &StoreChoice, public_url: &str, prefix: &str, env: Environment, file: &str) -> String {
    if store.kind == "s3" && env == Environment::Prod {
        format!("{public_url}{file}")
    } else {
        format!("{}/{prefix}{file}", store.url.trim_end_matches('/'))
    }
}

impl Plan {
    /// The plan for people.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        o.push_str(&format!(
            "Plan for release {} ({}) from {}\n",
            self.version, self.environment, self.origin
        ));
        if let Some(s) = &self.source_sha {
            o.push_str(&format!("  source_sha: {s}\n"));
        }
        o.push_str(&format!("  source:     {}\n", self.source));
        o.push_str(&format!("  make flags: {}\n", self.make_flags.join(" ")));
        let st = &self.store;
        o.push_str(&format!(
            "  store:      {} (from {}; this environment's bucket variable: {})\n",
            st.url, st.from, st.bucket_var
        ));
        if let Some(p) = &self.publish {
            let m = match p {
                PublishChoice::Github => "GitHub API (GITHUB_TOKEN)".to_string(),
                PublishChoice::Checkout => "local checkouts".to_string(),
                PublishChoice::Handoff { dir } => format!("patch files under {dir} for review"),
            };
            o.push_str(&format!("  repo steps: {m}\n"));
        }
        o.push_str("\nSteps:\n");
        for s in &self.steps {
            match &s.reason {
                None => o.push_str(&format!("  {:<10} runs\n", s.step.as_str())),
                Some(r) => o.push_str(&format!("  {:<10} skipped: {r}\n", s.step.as_str())),
            }
        }
        o.push_str("\nTargets:\n");
        for t in &self.targets {
            let eng = t.engine.as_deref().map(|e| format!(", engine {e}")).unwrap_or_default();
            o.push_str(&format!("  {:<16} {} builder {} ({}{eng})\n", t.name, t.file, t.builder, t.mode));
            for k in &t.keys {
                o.push_str(&format!("      {k}\n"));
            }
            o.push_str(&format!("      -> {}\n", t.url));
        }
        o.push_str("\nRelease files:\n");
        for k in &self.release_keys {
            o.push_str(&format!("  {k}\n"));
        }
        if !self.repo_changes.is_empty() {
            o.push_str("\nRepository changes:\n");
            for c in &self.repo_changes {
                match &c.dispatch {
                    Some(d) => o.push_str(&format!(
                        "  {}: repository_dispatch {} {}\n",
                        c.repo, d.event_type, d.client_payload
                    )),
                    None => {
                        o.push_str(&format!(
                            "  {} ({}): {} [{}]\n    {}\n",
                            c.repo,
                            c.branch,
                            c.title,
                            c.files.join(", "),
                            c.description
                        ));
                        for t in &c.commits {
                            o.push_str(&format!("    commit: {t}\n"));
                        }
                    }
                }
                if let Some(d) = &c.diff {
                    for l in d.lines() {
                        o.push_str(&format!("    {l}\n"));
                    }
                }
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(kv: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| m.get(k).cloned()
    }

    #[test]
    fn bucket_rule() {
        let d = Path::new("/tmp/d");
        let both = vars(&[("AWS_S3_BUCKET", "prodb"), ("AWS_TEST_BUCKET", "testb")]);
        assert_eq!(
            choose_store(Environment::Prod, None, None, d, &both).unwrap().bucket.as_deref(),
            Some("prodb")
        );
        assert_eq!(
            choose_store(Environment::Dev, None, None, d, &both).unwrap().bucket.as_deref(),
            Some("testb")
        );
        // dev with only the production bucket set: refused, never the production bucket.
        let prod_only = vars(&[("AWS_S3_BUCKET", "prodb")]);
        let e = choose_store(Environment::Dev, None, None, d, &prod_only).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("AWS_TEST_BUCKET"), "{e}");
        let test_only = vars(&[("AWS_TEST_BUCKET", "testb")]);
        assert!(choose_store(Environment::Prod, None, None, d, &test_only).is_err());
        // Nothing set, not in Actions: the local store.
        let none = vars(&[]);
        let c = choose_store(Environment::Prod, None, None, d, &none).unwrap();
        assert_eq!(
            (c.kind.as_str(), c.url.as_str(), c.from.as_str()),
            ("file", "file:///tmp/d/bucket", "embedded default")
        );
        // Nothing set inside Actions: refused.
        let gha = vars(&[("GITHUB_ACTIONS", "true")]);
        assert!(choose_store(Environment::Dev, None, None, d, &gha).is_err());
        // Explicit choices win.
        assert_eq!(
            choose_store(Environment::Dev, Some("s3://xbucket/releases/"), None, d, &both)
                .unwrap()
                .url,
            "s3://xbucket"
        );
        assert_eq!(
            choose_store(Environment::Dev, None, Some("ybucket"), d, &both).unwrap().url,
            "s3://ybucket"
        );
        assert_eq!(
            choose_store(Environment::Dev, Some("file:///srv/b"), None, d, &both).unwrap().url,
            "file:///srv/b"
        );
        assert!(choose_store(Environment::Dev, Some("ftp://x"), None, d, &both).is_err());
    }

    #[test]
    fn publish_rule() {
        let none = vars(&[]);
        assert_eq!(choose_publish(true, false, Path::new("/h"), &none).unwrap(), PublishChoice::Github);
        assert_eq!(choose_publish(true, true, Path::new("/h"), &none).unwrap(), PublishChoice::Checkout);
        assert_eq!(
            choose_publish(false, false, Path::new("/h"), &none).unwrap(),
            PublishChoice::Handoff { dir: "/h".into() }
        );
        assert!(choose_publish(false, false, Path::new("/h"), &vars(&[("GITHUB_ACTIONS", "true")])).is_err());
    }
}
