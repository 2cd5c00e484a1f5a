//! `plan` as the CLI runs it: the plan for a release's options ([`for_release`]), with the
//! repository changes as diffs against local copies ([`fill_diffs`]).

use super::payload::{Environment, Request};
use super::plan::{choose_publish, plan, store_for_display, Plan, PlanOptions, PublishChoice};
use super::Step;
use crate::error::{Error, Result};
use crate::targets::Matrix;
use std::path::Path;

/// The plan of a release as `release` would run it with these options (no network, no
/// credentials, no build; with `--repos`, the diffs against local copies of the repositories).
pub async fn for_release(matrix: &Matrix, opts: &super::ReleaseOptions) -> Result<Plan> {
    let var = |k: &str| std::env::var(k).ok();
    // The plan runs without credentials (e.g. in a CI job that has none): a bucket variable
    // that is not set here is shown by name instead of failing.
    let store = store_for_display(
        opts.req.environment,
        opts.store.as_deref(),
        opts.bucket.as_deref(),
        &opts.dist,
        &var,
    );
    let publish = if opts.req.environment == Environment::Prod {
        let has_token = var("GITHUB_TOKEN").map(|t| !t.is_empty()).unwrap_or(false);
        Some(choose_publish(has_token, opts.has_checkouts(), &opts.handoff_dir(), &var).unwrap_or(PublishChoice::Github))
    } else {
        None
    };
    // The source archive's digest, when it is known without downloading anything: a local
    // archive, or a manifest already in the dist directory or in the partial dists.
    let mut source_sha256 = match opts.source.as_deref() {
        Some(s) if !s.contains("://") && Path::new(s).is_file() => Some(crate::fsutil::sha256_file(Path::new(s))?.0),
        _ => None,
    };
    for d in std::iter::once(&opts.dist).chain(opts.merge.iter()) {
        if source_sha256.is_none() {
            if let Ok(Some(m)) = crate::manifest::Manifest::load_if_present(d) {
                if m.is_release(opts.req.version.as_str()) {
                    source_sha256 = m.source.sha256.clone();
                }
            }
        }
    }
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
    let mut p = plan(&PlanOptions {
        req: &opts.req,
        matrix,
        targets: &targets,
        source: opts.source.as_deref(),
        store,
        publish,
        source_sha256: source_sha256.clone(),
        date: opts.date(),
        // Only whether there is a key: plan never reads the secret.
        signing: opts.signing_key.is_some() || std::env::var(crate::sign::KEY_ENV).is_ok_and(|v| !v.trim().is_empty()),
        no_packages: opts.no_packages,
    })?;
    if let Some(repos) = &opts.repos {
        let tag_url = matrix.source_url(&opts.req.version);
        fill_diffs(&mut p, &opts.req, &tag_url, repos, source_sha256).await?;
    }
    Ok(p)
}

/// Fill in the repository changes of `plan` as unified diffs, computed by the publish stage's
/// pure edits against local copies of the repositories (`repos/valkey-hashes`, ...), with a
/// manifest made from the plan's targets. The hashes and container diffs need the source
/// archive's sha256 (`source_sha256`); without it they keep their description.
pub async fn fill_diffs(p: &mut Plan, req: &Request, tag_url: &str, repos: &Path, source_sha256: Option<String>) -> Result<()> {
    use crate::manifest::{Artifact, Manifest, SourceInfo};
    use crate::publish::{Apply, Options};
    let tmp = tempfile::tempdir().map_err(|e| Error::external(format!("temporary directory: {e}")))?;
    let mut m = Manifest::new(
        req.version.as_str(),
        0,
        SourceInfo {
            name: format!("{}.tar.gz", req.version),
            kind: "url".into(),
            url: Some(tag_url.to_string()),
            sha256: source_sha256.clone(),
            git_commit: None,
            source_sha: req.source_sha.clone(),
        },
    );
    for t in &p.targets {
        m.upsert(Artifact {
            target: t.name.clone(),
            kind: crate::artifact::DEFAULT_KIND.into(),
            describes: None,
            distro: t.distro.clone(),
            arch: t.arch.clone(),
            file: t.file.clone(),
            size: 0,
            sha256: "0".repeat(64),
            checksum_file: format!("{}.sha256", t.file),
            files: vec![],
            build: None,
        });
    }
    m.save(tmp.path())?;
    let date = p.date.clone();
    for c in p.repo_changes.iter_mut() {
        let Step::Handoff(name) = c.step else { continue };
        let h = crate::publish::by_name(name)?;
        if c.dispatch.is_some() {
            continue;
        }
        if source_sha256.is_none() && matches!(name, "hashes" | "container") {
            c.description
                .push_str(" (diff: needs the source archive's sha256: give --source ARCHIVE, or plan after the build)");
            continue;
        }
        let mut po = Options::new(req.version.clone());
        po.dist = tmp.path().to_path_buf();
        po.date = Some(date.clone());
        po.dry_run = true;
        po.apply = Apply::Handoff {
            dir: tmp.path().join("handoff"),
        };
        po.base = Some(repos.join(h.default_repo().name));
        po.container_checkout = Some(repos.join(crate::publish::Handoff::default_repo(&crate::publish::container::Container).name));
        po.source_sha256 = source_sha256.clone();
        match crate::publish::check(h.as_ref(), &po).await {
            Ok(o) if o.diff.is_empty() => c.diff = Some("(no change: already up to date)\n".into()),
            Ok(o) => c.diff = Some(o.diff),
            Err(e) => c.description.push_str(&format!(" (diff unavailable: {e})")),
        }
    }
    Ok(())
}
