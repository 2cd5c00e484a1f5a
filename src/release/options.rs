//! [`ReleaseOptions`]: everything `release` and `plan` take. The CLI flattens this struct
//! (`#[command(flatten)]`) and only adds how the request is given (arguments or a payload).

use super::payload::{self, Request};
use std::path::PathBuf;

/// A placeholder request; the CLI replaces it with the parsed one.
fn unset_request() -> Request {
    payload::from_args("unstable", Some("dev"), None).expect("a constant, valid request")
}

fn parse_date(s: &str) -> Result<String, String> {
    match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(_) if s.len() == 10 => Ok(s.to_string()),
        _ => Err(format!("{s:?}: expected YYYY-MM-DD")),
    }
}

/// Everything `valkey-release release` takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ReleaseOptions {
    #[arg(skip = unset_request())]
    pub req: Request,
    /// Limit the release to these targets (repeatable), e.g. --target jammy-x86_64.
    #[arg(id = "release_targets", long = "target", value_name = "T")]
    pub targets: Vec<String>,
    /// Source: a directory (git checkout or tree), a .tar.gz/.tar.xz archive, or a URL.
    /// Default: GitHub's tag archive of the version.
    #[arg(long, value_name = "S")]
    pub source: Option<String>,
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
    /// Date of the website page and of valkey-doc (YYYY-MM-DD), default today (UTC).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
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
    /// prod: allow a store that is not s3:// (a local directory): nothing reaches
    /// download.valkey.io, yet the hand-offs would point at it.
    #[arg(long)]
    pub allow_local_store: bool,
    /// A local checkout of valkey-hashes to commit the hash line in.
    #[arg(long, value_name = "DIR")]
    pub hashes_checkout: Option<PathBuf>,
    /// A local checkout of valkey-container.
    #[arg(long, value_name = "DIR")]
    pub container_checkout: Option<PathBuf>,
    /// A local checkout of valkey-io.github.io.
    #[arg(long, value_name = "DIR")]
    pub website_checkout: Option<PathBuf>,
    /// A local checkout of valkey-doc.
    #[arg(long, value_name = "DIR")]
    pub docs_checkout: Option<PathBuf>,
    /// Push the commits made in local checkouts.
    #[arg(long)]
    pub push: bool,
    /// Where patch files go when no token and no checkouts are given (default DIST/handoff).
    #[arg(long, value_name = "DIR")]
    pub handoff: Option<PathBuf>,
    /// Local copies of the repositories to read instead of GitHub (patch files, plan diffs):
    /// DIR/valkey-hashes, DIR/valkey-container, DIR/valkey-io.github.io, DIR/valkey-doc.
    #[arg(long, value_name = "DIR")]
    pub repos: Option<PathBuf>,
    /// Armored OpenPGP secret key that signs SHA256SUMS, the provenance and the package
    /// repositories (default: $VALKEY_RELEASE_SIGNING_KEY). Required for prod; without one a
    /// dev release skips `sign` and `repositories` and writes an unsigned provenance.
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// Use this Docker image for every target instead of the targets' builder images.
    #[arg(long, value_name = "IMAGE")]
    pub builder_image: Option<String>,
    /// A tarball-only release: build no .deb/.rpm and skip the `repositories` step; tarballs,
    /// checksums, SBOMs, signatures and provenance as usual.
    #[arg(long)]
    pub no_packages: bool,
    #[arg(skip)]
    pub json: bool,
}

impl ReleaseOptions {
    /// Options with defaults for a request.
    pub fn new(req: Request) -> ReleaseOptions {
        ReleaseOptions {
            req,
            targets: Vec::new(),
            source: None,
            dist: PathBuf::from("dist"),
            jobs: None,
            store: None,
            bucket: None,
            endpoint_url: None,
            dry_run: false,
            merge: Vec::new(),
            date: None,
            fail_fast: false,
            allow_dirty: false,
            force_overwrite: false,
            allow_local_store: false,
            hashes_checkout: None,
            container_checkout: None,
            website_checkout: None,
            docs_checkout: None,
            push: false,
            handoff: None,
            repos: None,
            builder_image: None,
            signing_key: None,
            no_packages: false,
            json: false,
        }
    }

    pub fn handoff_dir(&self) -> PathBuf {
        self.handoff.clone().unwrap_or_else(|| self.dist.join("handoff"))
    }

    pub fn has_checkouts(&self) -> bool {
        self.hashes_checkout.is_some()
            || self.container_checkout.is_some()
            || self.website_checkout.is_some()
            || self.docs_checkout.is_some()
    }

    pub fn date(&self) -> String {
        self.date
            .clone()
            .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%d").to_string())
    }
}
