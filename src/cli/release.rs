//! `valkey-release release` and `valkey-release plan` (arguments; the logic is in crate::release).

use super::Global;
use crate::error::{Error, Result};
use crate::release::payload::{self, Request};
use crate::release::{plan, report, ReleaseOptions};
use std::path::PathBuf;

const RELEASE_AFTER: &str = "\
Steps: source -> build -> sbom -> sign -> provenance -> upload -> verify -> repositories
       -> hashes -> container -> bundle -> website -> docs.
dev stops before the hand-offs; prod also runs the hand-offs that apply to the version (bundle:
>= 8.1.0; docs: a GA M.m.0 only). A prod release needs an s3:// store (or --allow-local-store)
and a signing key (--signing-key FILE or $VALKEY_RELEASE_SIGNING_KEY); without a key a dev
release skips sign and repositories (reason in the report) and writes an unsigned provenance.
Each step's result is kept in DIST/release-state.json: run the same command again after a
failure and it re-checks what is done (artifacts, objects, hash line, PRs) and continues.

Where things go:
  upload: --store, else --bucket, else $AWS_S3_BUCKET (prod) / $AWS_TEST_BUCKET (dev), never the
          other one; with neither variable set (outside GitHub Actions): file://DIST/bucket
  repos:  local checkouts when given, else GitHub with $GITHUB_TOKEN, else patch files (and the
          dispatch request) under DIST/handoff/ for review

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
    #[command(flatten)]
    pub opts: ReleaseOptions,
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
        let mut o = self.opts.clone();
        crate::fsutil::check_dir_arg(&o.dist, "--dist", "the release's dist directory")?;
        for d in &o.merge {
            crate::fsutil::check_dir_arg(d, "--merge", "a partial dist directory: the --out of `build --target T`")?;
            if !d.exists() {
                return Err(Error::input(format!("--merge {}: no such directory", d.display())));
            }
        }
        o.req = self.request()?;
        o.json = json;
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
    let p = plan::for_release(&matrix, &opts).await?;
    if g.json {
        let s = serde_json::to_string_pretty(&p).map_err(|e| Error::external(format!("serializing plan: {e}")))?;
        println!("{s}");
    } else {
        print!("{}", p.to_text());
    }
    Ok(())
}
