//! `valkey-release release` and `valkey-release plan` (arguments; the logic is in crate::release).

use super::Global;
use crate::error::{Error, Result};
use crate::release::payload::{self, Request};
use crate::release::{plan, report, ReleaseOptions};
use std::path::PathBuf;

const RELEASE_AFTER: &str = "\
Steps: source -> build -> upload -> verify -> hashes -> container -> website.
dev stops after verify; prod also publishes (release candidates get no website page).
Each step's result is kept in DIST/release-state.json: run the same command again after a
failure and it re-checks what is done (artifacts, objects, hash line, PRs) and continues.

Where things go:
  upload: --store, else --bucket, else $AWS_S3_BUCKET (prod) / $AWS_TEST_BUCKET (dev), never the
          other one; with neither variable set (outside GitHub Actions): file://DIST/bucket
  repos:  local checkouts when given, else GitHub with $GITHUB_TOKEN, else patch files under
          DIST/handoff/ for review

Examples:
  valkey-release release --version 8.1.1 --environment dev
  valkey-release release --payload \"$GITHUB_EVENT_PATH\"
  valkey-release release --version 8.1.1 --environment prod --merge part-a/ part-b/
  valkey-release plan --version 9.1.0-rc2 --environment prod";

/// Arguments of `release` (and of `plan`, which takes the same).
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = RELEASE_AFTER, disable_version_flag = true)]
pub struct Args {
    /// Release version: M.m.p, M.m.p-rcN or unstable.
    #[arg(long, value_name = "V", required_unless_present = "payload", conflicts_with = "payload")]
    pub version: Option<String>,
    /// dev (test bucket, binaries only) or prod (release bucket, hashes, container, website). Empty means dev.
    #[arg(long, value_name = "dev|prod", conflicts_with = "payload")]
    pub environment: Option<String>,
    /// A GitHub event file ($GITHUB_EVENT_PATH): repository_dispatch `client_payload`
    /// {version, environment, source_sha?}, or workflow_dispatch `inputs`.
    #[arg(long, value_name = "FILE")]
    pub payload: Option<PathBuf>,
    /// The commit the release must be built from (40 hex); a git --source must be at it.
    #[arg(long, value_name = "SHA", conflicts_with = "payload")]
    pub source_sha: Option<String>,
    /// Source: a directory (git checkout or tree), a .tar.gz/.tar.xz archive, or a URL.
    /// Default: GitHub's tag archive of the version.
    #[arg(long, value_name = "S")]
    pub source: Option<String>,
    /// Limit the release to these targets (repeatable), e.g. --target jammy-x86_64.
    #[arg(id = "release_targets", long = "target", value_name = "T")]
    pub targets: Vec<String>,
    /// The dist directory: artifacts, manifest.json, release-state.json.
    #[arg(long, value_name = "DIR", default_value = "dist")]
    pub dist: PathBuf,
    /// How many targets build at once.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Upload store: s3://BUCKET or file://DIR (a local directory with the same keys).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The bucket (overrides the environment's variable).
    #[arg(long, value_name = "B")]
    pub bucket: Option<String>,
    /// S3-compatible endpoint.
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Build and check, but upload and publish nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Merge these partial dist directories (each from `build --target T`) instead of building.
    #[arg(long, value_name = "DIR", num_args = 1..)]
    pub merge: Vec<PathBuf>,
    /// Date of the website page (YYYY-MM-DD), default today (UTC).
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
    /// Stop the build at the first failing target.
    #[arg(long)]
    pub fail_fast: bool,
    /// Accept a git checkout with local changes.
    #[arg(long)]
    pub allow_dirty: bool,
    /// prod: overwrite an object that exists with different content (logged).
    #[arg(long)]
    pub force_overwrite: bool,
    /// A local checkout of valkey-hashes to commit the hash line in.
    #[arg(long, value_name = "DIR")]
    pub hashes_checkout: Option<PathBuf>,
    /// A local checkout of valkey-container.
    #[arg(long, value_name = "DIR")]
    pub container_checkout: Option<PathBuf>,
    /// A local checkout of valkey-io.github.io.
    #[arg(long, value_name = "DIR")]
    pub website_checkout: Option<PathBuf>,
    /// Push the commits made in local checkouts.
    #[arg(long)]
    pub push: bool,
    /// Where patch files go when no token and no checkouts are given (default DIST/handoff).
    #[arg(long, value_name = "DIR")]
    pub handoff: Option<PathBuf>,
    /// Local copies of the repositories to read instead of GitHub (patch files, plan diffs):
    /// DIR/valkey-hashes, DIR/valkey-container, DIR/valkey-io.github.io.
    #[arg(long, value_name = "DIR")]
    pub repos: Option<PathBuf>,
    /// Use this Docker image for every target instead of the targets' builder images.
    #[arg(long, value_name = "IMAGE")]
    pub builder_image: Option<String>,
}

/// Arguments of `plan`: the same as `release`.
#[derive(Debug, Clone, clap::Args)]
#[command(disable_version_flag = true)]
pub struct PlanArgs {
    #[command(flatten)]
    pub release: Args,
}

impl Args {
    /// The validated request (exit 2 naming the field on a bad payload or argument).
    pub fn request(&self) -> Result<Request> {
        match &self.payload {
            Some(p) => payload::load(p),
            None => {
                let v = self
                    .version
                    .as_deref()
                    .ok_or_else(|| Error::input("--version or --payload is required"))?;
                payload::from_args(v, self.environment.as_deref(), self.source_sha.as_deref())
            }
        }
    }

    pub fn options(&self, json: bool) -> Result<ReleaseOptions> {
        let mut o = ReleaseOptions::new(self.request()?);
        o.targets = self.targets.clone();
        o.source = self.source.clone();
        o.dist = self.dist.clone();
        o.jobs = self.jobs;
        o.store = self.store.clone();
        o.bucket = self.bucket.clone();
        o.endpoint_url = self.endpoint_url.clone();
        o.dry_run = self.dry_run;
        o.merge = self.merge.clone();
        o.date = self.date.clone();
        o.fail_fast = self.fail_fast;
        o.allow_dirty = self.allow_dirty;
        o.force_overwrite = self.force_overwrite;
        o.hashes_checkout = self.hashes_checkout.clone();
        o.container_checkout = self.container_checkout.clone();
        o.website_checkout = self.website_checkout.clone();
        o.push = self.push;
        o.handoff = self.handoff.clone();
        o.repos = self.repos.clone();
        o.builder_image = self.builder_image.clone();
        o.json = json;
        if let Some(d) = &o.date {
            if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
                return Err(Error::input(format!("--date {d:?}: expected YYYY-MM-DD")));
            }
        }
        Ok(o)
    }
}

pub async fn run(g: &Global, a: Args) -> Result<()> {
    let matrix = g.matrix()?;
    let opts = a.options(g.json)?;
    let dist = opts.dist.clone();
    let finished = crate::release::release(&matrix, opts).await?;
    let rep = &finished.report;
    let targets: Vec<String> = rep.artifacts.iter().map(|a| a.target.clone()).collect();
    report::print_log_groups(&dist, &targets);
    if g.json {
        let s = serde_json::to_string_pretty(rep).map_err(|e| Error::external(format!("serializing report: {e}")))?;
        println!("{s}");
    } else {
        print!("{}", rep.to_text());
    }
    if let Err(e) = rep.write_step_summary() {
        eprintln!("warning: {e}");
    }
    match finished.error {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

pub async fn run_plan(g: &Global, a: PlanArgs) -> Result<()> {
    let matrix = g.matrix()?;
    let opts = a.release.options(g.json)?;
    let var = |k: &str| std::env::var(k).ok();
    // The plan runs without credentials (e.g. in a CI job that has none): a bucket variable
    // that is not set here is shown by name instead of failing.
    let store = plan::store_for_display(
        opts.req.environment,
        opts.store.as_deref(),
        opts.bucket.as_deref(),
        &opts.dist,
        &var,
    );
    let publish = if opts.req.environment == payload::Environment::Prod {
        let has_token = var("GITHUB_TOKEN").map(|t| !t.is_empty()).unwrap_or(false);
        Some(plan::choose_publish(has_token, opts.has_checkouts(), &opts.handoff_dir(), &var).unwrap_or(plan::PublishChoice::Github))
    } else {
        None
    };
    // The source archive's digest, when it is known without downloading anything: a local
    // archive, or a manifest already in the dist directory or in the partial dists.
    let mut source_sha256 = match opts.source.as_deref() {
        Some(s) if !s.contains("://") && std::path::Path::new(s).is_file() => Some(crate::fsutil::sha256_file(std::path::Path::new(s))?.0),
        _ => None,
    };
    for d in std::iter::once(&opts.dist).chain(opts.merge.iter()) {
        if source_sha256.is_none() {
            if let Ok(Some(m)) = crate::manifest::Manifest::load_if_present(d) {
                if m.version == opts.req.version.as_str() {
                    source_sha256 = m.source.sha256.clone();
                }
            }
        }
    }
    let date = opts.date();
    // With --merge, the release covers the targets of the partial dists.
    let mut targets = opts.targets.clone();
    if targets.is_empty() && !opts.merge.is_empty() {
        for d in &opts.merge {
            let m = crate::manifest::Manifest::load(d).map_err(|e| e.context(format!("--merge {}", d.display())))?;
            targets.extend(m.artifacts.iter().map(|a| a.target.clone()));
        }
        targets.sort();
        targets.dedup();
    }
    let p = plan::plan(&plan::PlanOptions {
        req: &opts.req,
        matrix: &matrix,
        targets: &targets,
        source: opts.source.as_deref(),
        store,
        publish,
        source_sha256: source_sha256.clone(),
        date,
    })?;
    let mut p = p;
    if let Some(repos) = &opts.repos {
        let tag_url = matrix.source_url(&opts.req.version);
        plan::fill_diffs(&mut p, &opts.req, &tag_url, repos, source_sha256.clone()).await?;
    }
    if g.json {
        let s = serde_json::to_string_pretty(&p).map_err(|e| Error::external(format!("serializing plan: {e}")))?;
        println!("{s}");
    } else {
        print!("{}", p.to_text());
    }
    Ok(())
}
