//! The real [`Stages`]: each step calls the stage's library function.

use super::merge::{self, MergeOptions};
pub use super::options::ReleaseOptions;
use super::payload::Request;
use super::plan::{self, PublishChoice, StoreChoice};
use super::{source, Ctx, Finished, Link, Outcome, RunOptions, Stages, Step};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::manifest::Manifest;
use crate::targets::Matrix;
use std::path::{Path, PathBuf};

fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// The real stages.
pub struct RealStages<'m> {
    pub opts: ReleaseOptions,
    pub matrix: &'m Matrix,
    pub store: StoreChoice,
    pub publish: PublishChoice,
    /// valkey-doc's modules-api-ref.md, generated from the release's source when known.
    pub modules_api_ref: Option<String>,
    /// The release signing key (`--signing-key` or $VALKEY_RELEASE_SIGNING_KEY); never printed.
    pub key: Option<crate::sign::SigningKey>,
    /// When this run started (the provenance's startedOn).
    pub started: i64,
}

impl<'m> RealStages<'m> {
    /// Decide the store and the publish mode (errors: exit 2, before anything runs).
    pub fn new(opts: ReleaseOptions, matrix: &'m Matrix) -> Result<RealStages<'m>> {
        let has_token = env_var("GITHUB_TOKEN").map(|t| !t.is_empty()).unwrap_or(false);
        // A dry run sends nothing: it needs neither a bucket nor a token.
        let (store, publish) = if opts.dry_run {
            (
                plan::store_for_display(
                    opts.req.environment,
                    opts.store.as_deref(),
                    opts.bucket.as_deref(),
                    &opts.dist,
                    &env_var,
                ),
                plan::choose_publish(has_token, opts.has_checkouts(), &opts.handoff_dir(), &env_var).unwrap_or(PublishChoice::Github),
            )
        } else {
            (
                plan::choose_store(
                    opts.req.environment,
                    opts.store.as_deref(),
                    opts.bucket.as_deref(),
                    &opts.dist,
                    &env_var,
                )?,
                if opts.req.environment == super::payload::Environment::Prod {
                    plan::choose_publish(has_token, opts.has_checkouts(), &opts.handoff_dir(), &env_var)?
                } else {
                    PublishChoice::Github // dev publishes nothing
                },
            )
        };
        // Prod publishes to download.valkey.io: a local store would leave the hand-offs pointing
        // at files nobody can download.
        if opts.req.environment == super::payload::Environment::Prod && store.kind != "s3" && !opts.allow_local_store && !opts.dry_run {
            return Err(Error::input(format!(
                "a prod release uploads to an s3:// store, but the store is {} (from {}): set {} or pass --bucket / \
                 --store s3://BUCKET, or --allow-local-store to publish from a local store on purpose",
                store.url, store.from, store.bucket_var
            )));
        }
        let key = crate::sign::SigningKey::load(opts.signing_key.as_deref())?;
        // Prod publishes signed: SHA256SUMS.asc, a signed provenance, signed repositories.
        if opts.req.environment == super::payload::Environment::Prod && key.is_none() && !opts.dry_run {
            return Err(Error::input(format!(
                "a prod release is signed: set {} to the armored OpenPGP secret key or pass --signing-key FILE",
                crate::sign::KEY_ENV
            )));
        }
        Ok(RealStages {
            opts,
            matrix,
            store,
            publish,
            modules_api_ref: None,
            key,
            started: chrono::Utc::now().timestamp(),
        })
    }

    /// The package kinds (`deb`, `rpm`) a target of this release makes: none with --no-packages.
    fn packages_of(&self, target: &str) -> Vec<String> {
        if self.opts.no_packages {
            return vec![];
        }
        self.matrix.target(target).map(|t| t.packages.clone()).unwrap_or_default()
    }

    /// The targets this release covers.
    fn target_names(&self) -> Result<Vec<String>> {
        if !self.opts.merge.is_empty() && self.opts.targets.is_empty() {
            let mut names = Vec::new();
            for d in &self.opts.merge {
                let m = Manifest::load(d).map_err(|e| e.context(format!("--merge {}", d.display())))?;
                names.extend(m.artifacts.iter().map(|a| a.target.clone()));
            }
            names.sort();
            names.dedup();
            return Ok(names);
        }
        Ok(plan::release_targets(self.matrix, &self.opts.targets)?
            .into_iter()
            .map(|t| t.name.clone())
            .collect())
    }
}

/// Which of `targets` are not yet in `dist` as they should be: a manifest of this release (and
/// of this source_sha when one is asked for) listing the target, its file present with the
/// manifest's size and sha256, and an artifact of each package kind `packages(target)` names
/// (so a release run with packages after a `--no-packages` one builds them). A manifest of
/// another version is an error (exit 2).
pub fn missing_targets(dist: &Path, req: &Request, targets: &[String], packages: &dyn Fn(&str) -> Vec<String>) -> Result<Vec<String>> {
    let Some(m) = Manifest::load_if_present(dist)? else {
        return Ok(targets.to_vec());
    };
    m.check_release(req.version.as_str(), Manifest::path(dist).display())
        .map_err(|e| e.context("--dist"))?;
    if let (Some(want), Some(have)) = (
        req.source_sha.as_deref(),
        m.source.source_sha.as_deref().or(m.source.git_commit.as_deref()),
    ) {
        if want != have {
            return Ok(targets.to_vec());
        }
    }
    let mut missing = Vec::new();
    for t in targets {
        let ok = match m.artifact(t) {
            None => false,
            Some(a) => {
                let p = dist.join(&a.file);
                p.is_file()
                    && fsutil::sha256_file(&p)
                        .map(|(sha, size)| sha == a.sha256 && size == a.size)
                        .unwrap_or(false)
            }
        };
        let ok = ok
            && packages(t)
                .iter()
                .all(|k| m.artifacts.iter().any(|a| &a.target == t && &a.kind == k));
        if !ok {
            missing.push(t.clone());
        }
    }
    Ok(missing)
}

/// A cancellation token cancelled by Ctrl-C while it is alive.
struct CtrlC {
    token: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl CtrlC {
    fn new() -> CtrlC {
        let token = tokio_util::sync::CancellationToken::new();
        let t = token.clone();
        let task = tokio::spawn(async move {
            crate::farm::signal::interrupted().await;
            crate::progress::line("release", "interrupted: stopping and cleaning up");
            t.cancel();
        });
        CtrlC { token, task }
    }
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Added to the summary of a source step found unchanged by a later run.
const RECHECKED: &str = " (re-checked)";

impl Stages for RealStages<'_> {
    async fn probe(&mut self, step: Step, ctx: &Ctx<'_>) -> Result<Option<Outcome>> {
        match step {
            Step::Source => {
                // Re-checked (cheap: no download): already done when an earlier run found the
                // same source; a changed source (other commit, other archive) runs the step.
                let Some(prior) = ctx.prior.filter(|r| r.state.is_done()) else {
                    return Ok(None);
                };
                let now = self.source(ctx).await?;
                let before = prior.outcome.clone().unwrap_or_default();
                // A skipped step stores its summary with the suffix added below: compare without it.
                let plain = |s: &str| s.trim_end_matches(RECHECKED).to_string();
                Ok((plain(&before.summary) == plain(&now.summary) && before.data == now.data).then(|| {
                    let mut o = now;
                    o.summary = format!("{}{RECHECKED}", o.summary);
                    o
                }))
            }
            Step::Build => {
                if !self.opts.merge.is_empty() {
                    return Ok(None); // merging is cheap and idempotent
                }
                let names = self.target_names()?;
                let missing = missing_targets(ctx.dist, ctx.req, &names, &|t| self.packages_of(t))?;
                Ok(missing
                    .is_empty()
                    .then(|| Outcome::new(format!("{} artifact(s) present, checksums match", names.len()))))
            }
            Step::Upload => {
                let rep = crate::upload::check_uploaded(&self.upload_options(ctx)).await?;
                Ok(rep.complete.then(|| {
                    Outcome::new(format!(
                        "all {} objects in {} with matching checksums",
                        rep.objects.len(),
                        rep.store
                    ))
                    .with_data(&rep)
                }))
            }
            Step::Sbom => super::steps::sbom_probe(ctx.dist, &self.matrix.artifact.public_url, self.key.as_ref()),
            Step::Sign => match &self.key {
                Some(k) => super::steps::sign_probe(ctx.dist, k),
                None => Ok(None),
            },
            Step::Provenance => super::steps::provenance_probe(ctx.dist, ctx.req.environment.as_str(), self.key.as_ref()),
            Step::Repositories => self.repositories_probe(ctx).await,
            Step::Verify => Ok(ctx.prior.filter(|r| r.state.is_done()).map(|r| {
                let mut o = r.outcome.clone().unwrap_or_default();
                o.summary = format!("verified by an earlier run ({}), nothing uploaded since", r.at);
                o
            })),
            Step::Handoff(name) => {
                let h = crate::publish::by_name(name)?;
                self.publish_probe(h.as_ref(), ctx).await
            }
        }
    }

    async fn source(&mut self, ctx: &Ctx<'_>) -> Result<Outcome> {
        if !self.opts.merge.is_empty() {
            let want = ctx.req.source_sha.as_deref();
            for d in &self.opts.merge {
                let m = Manifest::load(d).map_err(|e| e.context(format!("--merge {}", d.display())))?;
                let have = m.source.git_commit.as_deref().or(m.source.source_sha.as_deref());
                if let (Some(w), Some(h)) = (want, have) {
                    if w != h {
                        return Err(Error::refused(format!(
                            "{}: built from commit {h}, but source_sha asks for {w}",
                            Manifest::path(d).display()
                        )));
                    }
                }
            }
            return Ok(Outcome::new(format!(
                "from the manifests of {} partial dist(s)",
                self.opts.merge.len()
            )));
        }
        let default_url = self.matrix.source_url(&ctx.req.version);
        let c = source::check(self.opts.source.as_deref(), &default_url, ctx.req.source_sha.as_deref())?;
        Ok(Outcome::new(format!("{} ({})", c.source, c.note)).with_data(&c))
    }

    async fn build(&mut self, ctx: &Ctx<'_>) -> Result<Outcome> {
        if !self.opts.merge.is_empty() {
            let r = merge::merge(&MergeOptions {
                dirs: self.opts.merge.clone(),
                out: ctx.dist.to_path_buf(),
                expect_version: Some(ctx.req.version.to_string()),
            })?;
            self.record_source_sha(ctx)?;
            let copied = r.artifacts.iter().filter(|a| a.copied).count();
            return Ok(Outcome::new(format!(
                "merged {} artifact(s) from {} dir(s) ({copied} copied)",
                r.artifacts.len(),
                r.dirs.len()
            ))
            .with_data(&r));
        }
        let names = self.target_names()?;
        let missing = missing_targets(ctx.dist, ctx.req, &names, &|t| self.packages_of(t))?;
        let mut bo = crate::farm::BuildOptions::new(ctx.req.version.clone());
        bo.source = self.opts.source.clone();
        bo.targets = missing.clone();
        bo.jobs = self.opts.jobs;
        bo.out = ctx.dist.to_path_buf();
        bo.fail_fast = self.opts.fail_fast;
        bo.allow_dirty = self.opts.allow_dirty;
        bo.source_sha = ctx.req.source_sha.clone();
        bo.builder_image = self.opts.builder_image.clone();
        if self.opts.no_packages {
            bo.hooks = bo.hooks.without_packages();
        }
        let ctrl = CtrlC::new();
        bo.cancel = ctrl.token.clone();
        let rep = crate::farm::run_build(self.matrix, &bo, &crate::progress::Progress::new()).await?;
        drop(ctrl);
        super::report::print_log_groups(ctx.dist, &missing);
        if let Some(e) = rep.error() {
            return Err(e);
        }
        self.record_source_sha(ctx)?;
        let kept = names.len() - missing.len();
        let mut summary = format!("built {} target(s) in {:.0}s", rep.targets.len(), rep.seconds);
        if kept > 0 {
            summary.push_str(&format!(" ({kept} already built were kept)"));
        }
        Ok(Outcome::new(summary).with_data(&rep))
    }

    async fn upload(&mut self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let uo = self.upload_options(ctx);
        let rep = crate::upload::run_upload(&uo, &crate::progress::Progress::new()).await?;
        rep.result()?;
        let count = |st: crate::upload::ObjectState| rep.objects.iter().filter(|o| o.state == st).count();
        let mut o = Outcome::new(format!(
            "{} uploaded, {} already there, {} overwritten, to {}",
            count(crate::upload::ObjectState::Uploaded),
            count(crate::upload::ObjectState::Skipped),
            count(crate::upload::ObjectState::Overwritten),
            rep.store
        ));
        for obj in &rep.objects {
            if crate::artifact::is_listed_key(&obj.key) {
                let file = obj.key.rsplit('/').next().unwrap_or(&obj.key);
                o.links.push(Link::new(
                    "object",
                    file,
                    self.artifact_url(file).unwrap_or_else(|| obj.uri.clone()),
                ));
            }
        }
        Ok(o.with_data(&rep))
    }

    async fn verify(&mut self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let uo = self.upload_options(ctx);
        let (_, planned) = crate::upload::plan_objects(ctx.dist, &uo.prefix)?;
        let (loc, store) = crate::upload::open_store(&uo).await?;
        let mut bad = Vec::new();
        let mut checked = Vec::new();
        for p in &planned {
            match store.hash_object(&p.key, None).await? {
                None => bad.push(format!("{}: missing", store.uri(&p.key))),
                Some((sha, n)) if sha != p.sha256 || n != p.size => bad.push(format!(
                    "{}: sha256 {sha} ({n} bytes), expected {} ({} bytes)",
                    store.uri(&p.key),
                    p.sha256,
                    p.size
                )),
                Some(_) => checked.push(p.key.clone()),
            }
        }
        if !bad.is_empty() {
            return Err(Error::check(format!(
                "verify: {} object(s) in {} are not what was built:\n  {}",
                bad.len(),
                loc.url(),
                bad.join("\n  ")
            )));
        }
        Ok(Outcome::new(format!(
            "downloaded and checked {} objects in {} against manifest.json",
            checked.len(),
            loc.url()
        ))
        .with_data(&serde_json::json!({ "store": loc.url(), "verified": checked })))
    }

    async fn sbom(&mut self, ctx: &Ctx<'_>) -> Result<Outcome> {
        super::steps::sbom_run(ctx.dist, &self.matrix.artifact.public_url, self.key.as_ref())
    }

    async fn sign(&mut self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let key = self.key.as_ref().ok_or_else(|| Error::input("sign: no signing key"))?;
        super::steps::sign_run(ctx.dist, key)
    }

    async fn provenance(&mut self, ctx: &Ctx<'_>) -> Result<Outcome> {
        super::steps::provenance_run(ctx.dist, self.matrix, ctx.req.environment.as_str(), self.started, self.key.as_ref())
    }

    async fn repositories(&mut self, ctx: &Ctx<'_>) -> Result<Outcome> {
        self.repositories_run(ctx).await
    }

    fn not_configured(&self, step: Step, ctx: &Ctx<'_>) -> Option<String> {
        super::steps::not_configured(self, step, ctx)
    }

    async fn handoff(&mut self, h: &dyn crate::publish::Handoff, ctx: &Ctx<'_>) -> Result<Outcome> {
        let o = crate::publish::publish(h, &self.publish_options(h, ctx)).await?;
        Ok(publish_outcome(&o))
    }

    fn artifact_url(&self, file: &str) -> Option<String> {
        if self.opts.dry_run {
            return None; // nothing is uploaded: the key is shown instead
        }
        Some(plan::object_url(
            &self.store,
            &self.matrix.artifact.public_url,
            &self.matrix.artifact.s3_prefix,
            self.opts.req.environment,
            file,
        ))
    }

    fn artifact_key(&self, file: &str) -> Option<String> {
        Some(format!("{}{file}", self.matrix.artifact.s3_prefix))
    }
}

impl RealStages<'_> {
    /// The publish stage's options for one hand-off: a local checkout when given for that
    /// repository, else GitHub with GITHUB_TOKEN, else files for review under the handoff directory.
    fn publish_options(&self, h: &dyn crate::publish::Handoff, ctx: &Ctx<'_>) -> crate::publish::Options {
        use crate::publish::{Apply, Options, Secret};
        let mut po = Options::new(ctx.req.version.clone());
        po.dist = ctx.dist.to_path_buf();
        po.date = self.opts.date.clone();
        po.github.token = env_var("GITHUB_TOKEN")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(Secret);
        if let Some(u) = env_var("GITHUB_API_URL").filter(|u| !u.is_empty()) {
            po.github.api_url = u;
        }
        let checkout = match h.name() {
            "hashes" => self.opts.hashes_checkout.clone(),
            "container" => self.opts.container_checkout.clone(),
            "website" => self.opts.website_checkout.clone(),
            "docs" => self.opts.docs_checkout.clone(),
            _ => None,
        };
        po.apply = match checkout {
            Some(dir) => Apply::Checkout { dir, push: self.opts.push },
            None if po.github.token.is_some() => Apply::GitHub,
            None => Apply::Handoff {
                dir: self.opts.handoff_dir(),
            },
        };
        if let Some(r) = &self.opts.repos {
            po.base = Some(r.join(h.default_repo().name));
        }
        let container = crate::publish::Handoff::default_repo(&crate::publish::container::Container).name;
        po.container_checkout = self
            .opts
            .container_checkout
            .clone()
            .or_else(|| self.opts.repos.as_ref().map(|r| r.join(&container)));
        po.modules_api_ref = self
            .modules_api_ref
            .clone()
            // Built here, or by the split build jobs whose partial dists were merged.
            .or_else(|| {
                std::iter::once(ctx.dist)
                    .chain(self.opts.merge.iter().map(|d| d.as_path()))
                    .find_map(crate::publish::modules_doc::from_dist)
            });
        po
    }

    /// Is a hand-off already done (line present, PR open or merged, dispatch sent by an
    /// earlier run)? A dry run that reads only.
    async fn publish_probe(&self, h: &dyn crate::publish::Handoff, ctx: &Ctx<'_>) -> Result<Option<Outcome>> {
        use crate::publish::State;
        let po = self.publish_options(h, ctx);
        // A dispatch cannot be looked up afterwards: the release state is the record.
        if h.shape(&po).dispatch.is_some() {
            return Ok(ctx.prior.filter(|r| r.state.is_done()).map(|r| {
                let mut o = r.outcome.clone().unwrap_or_default();
                o.summary = format!("{} (sent by an earlier run, {}; not sent again)", o.summary, r.at);
                o
            }));
        }
        let mut o = crate::publish::check(h, &po).await?;
        if o.done() {
            return Ok(Some(publish_outcome(&o)));
        }
        // Hand-off mode: nothing is applied to the repository, so the change stays pending;
        // the step is done when the files for review already hold this very change.
        if let crate::publish::Apply::Handoff { dir } = &po.apply {
            let name = po.repo_for(h).name;
            let root = dir.join(&name);
            let diff = root.join(format!("{name}.diff"));
            let patch = std::fs::read_dir(&root)
                .ok()
                .and_then(|rd| rd.flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "patch")));
            if let (Some(patch), Ok(text)) = (patch, std::fs::read_to_string(&diff)) {
                if o.state == State::WouldChange && !o.diff.is_empty() && text == o.diff {
                    o.handoff_files = vec![patch.clone(), diff];
                    let mut out = publish_outcome(&o);
                    out.summary = format!(
                        "{} {} ({}): patch already written for review, same change: {}",
                        h.name(),
                        o.version,
                        root.display(),
                        patch.display()
                    );
                    return Ok(Some(out));
                }
            }
        }
        Ok(None)
    }

    /// The upload stage's options for this release.
    pub(super) fn upload_options(&self, ctx: &Ctx<'_>) -> crate::upload::UploadOptions {
        let mut uo = crate::upload::UploadOptions::new(ctx.req.environment, ctx.dist);
        uo.store = Some(self.store.url.clone());
        uo.endpoint_url = self.opts.endpoint_url.clone();
        uo.prefix = self.matrix.artifact.s3_prefix.clone();
        uo.force_overwrite = self.opts.force_overwrite;
        uo
    }

    /// Put the request's source_sha into the manifest (the build records what it can see).
    fn record_source_sha(&self, ctx: &Ctx<'_>) -> Result<()> {
        if let Some(sha) = &ctx.req.source_sha {
            let mut m = Manifest::load(ctx.dist)?;
            if m.source.source_sha.as_deref() != Some(sha) {
                m.source.source_sha = Some(sha.clone());
                m.save(ctx.dist)?;
            }
        }
        Ok(())
    }

    #[allow(dead_code)]
    fn object_link(&self, file: &str) -> Link {
        Link::new("object", file, self.artifact_url(file).unwrap_or_default())
    }
}

/// A hand-off's outcome as a release step's: PR and commit links, the PRs a person must merge,
/// the patch files written for review.
fn publish_outcome(o: &crate::publish::Outcome) -> Outcome {
    let mut out = Outcome::new(o.summary()).with_data(o);
    let what = o.kind;
    if let Some(u) = &o.pr_url {
        out.links.push(Link::new("pr", format!("{what} PR"), u.clone()));
        if o.needs_merge {
            out.to_merge.push(u.clone());
        }
    }
    if let Some(c) = &o.commit {
        let url = if o.mode == crate::publish::Mode::GitHub {
            format!("https://github.com/{}/commit/{c}", o.repo)
        } else {
            format!("{} {c}", o.repo)
        };
        out.links.push(Link::new("commit", format!("{what} commit"), url));
        if o.needs_merge && o.pr_url.is_none() && o.mode == crate::publish::Mode::Checkout {
            out.handoff.push(format!("{what}: commit {c} in {} (review, then push)", o.repo));
        }
    }
    // The patch (git am) is what a person applies; the other files (diff, PR text, full files)
    // sit beside it.
    let patches: Vec<&PathBuf> = o
        .handoff_files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "patch"))
        .collect();
    for f in if patches.is_empty() {
        o.handoff_files.iter().take(1).collect()
    } else {
        patches
    } {
        out.links.push(Link::new("file", format!("{what} patch"), f.display().to_string()));
        out.handoff.push(f.display().to_string());
    }
    out
}

/// Run the whole release with the real stages.
pub async fn release(matrix: &Matrix, opts: ReleaseOptions) -> Result<Finished> {
    let run = RunOptions {
        dist: opts.dist.clone(),
        dry_run: opts.dry_run,
    };
    let req = opts.req.clone();
    let mut stages = RealStages::new(opts, matrix)?;
    super::execute(&mut stages, &req, &run).await
}
