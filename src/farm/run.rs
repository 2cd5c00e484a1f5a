//! A build run: engines connected (strays of earlier runs removed), the source prepared once,
//! one task per target under a bound, every container of the run removed at its end (success,
//! failure, a panicking task, Ctrl-C/SIGTERM), the manifest updated.

use super::container;
use super::hooks::Hooks;
use super::report::{validate, BuildOptions, BuildReport, TargetReport, TargetStatus};
use super::source::{self, PreparedSource, SourceSpec};
use super::target::{build_target, Failure, Outcome};
use crate::error::{Error, Result};
use crate::manifest::{Artifact, Manifest};
use crate::progress::{Item, Progress};
use crate::targets::{Matrix, Target};
use crate::version::Version;
use bollard::Docker;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// make -j for each container: every core, whatever the number of containers running at once.
/// The kernel shares the cores between the containers' jobs, so while several targets build the
/// cores are shared, and when one finishes the others take its cores at once instead of running
/// on their share until the end (issue 13.7; measured in `cargo bench --bench release`). `-j`
/// does not change a byte of the output (`--check-reproducible` varies it).
pub fn make_jobs(cores: usize) -> usize {
    cores.max(1)
}

/// Default bound on concurrent containers.
pub fn default_jobs(cores: usize, targets: usize) -> usize {
    targets.min(cores).max(1)
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn new_run_id() -> String {
    let now = chrono::Utc::now();
    format!("{}-{}", now.format("%Y%m%dT%H%M%S"), std::process::id())
}

/// State shared by the target tasks.
pub(super) struct Shared {
    pub matrix: Matrix,
    pub version: Version,
    pub source: PreparedSource,
    pub out: PathBuf,
    pub work: PathBuf,
    pub run_id: String,
    pub make_jobs: usize,
    /// `--insecure-engine`.
    pub insecure_engine: bool,
    /// Containers at once (limits are sized by it).
    pub concurrent: usize,
    pub builder_image: Option<String>,
    pub check_reproducible: bool,
    /// Vary the (first) build's environment ([`super::report::BuildOptions::vary`]).
    pub vary: bool,
    pub hooks: Hooks,
    /// Engines used by this run (key: engine address or "" for the default).
    pub engines: Mutex<BTreeMap<String, Engine>>,
    /// Files this run wrote in `out` (deleted again when interrupted).
    pub written: Mutex<Vec<PathBuf>>,
    /// Serialises making the per-owner copies of the source tar.
    pub retar: tokio::sync::Mutex<()>,
}

/// A connected engine and the architecture it reported (`x86_64`, `aarch64`), asked once.
#[derive(Clone)]
pub(super) struct Engine {
    pub docker: Docker,
    pub arch: String,
    pub resources: super::limits::EngineResources,
}

impl Engine {
    async fn connect(address: Option<&str>, allow_insecure: bool) -> Result<Engine> {
        let docker = super::engine::connect_checked(address, allow_insecure).await?;
        let (arch, resources) = container::engine_info(&docker).await?;
        Ok(Engine { docker, arch, resources })
    }
}

impl Shared {
    /// The source tar with its entries owned by `uid:gid` (made once per owner).
    pub async fn source_tar(&self, uid: u64, gid: u64) -> Result<PathBuf> {
        if (uid, gid) == (0, 0) {
            return Ok(self.source.tar.clone());
        }
        let _one_at_a_time = self.retar.lock().await;
        let dst = self.work.join(format!("source-{uid}-{gid}.tar"));
        if !dst.exists() {
            let (src, d) = (self.source.tar.clone(), dst.clone());
            tokio::task::spawn_blocking(move || source::owned_copy(&src, &d, uid, gid))
                .await
                .map_err(|e| Error::external(format!("source tar task: {e}")))??;
        }
        Ok(dst)
    }

    pub async fn engine(&self, t: &Target) -> Result<Engine> {
        let address = t.engine.as_deref();
        let key = address.unwrap_or("").to_string();
        if let Some(e) = self.engines.lock().unwrap().get(&key) {
            return Ok(e.clone());
        }
        let e = Engine::connect(address, t.insecure_engine || self.insecure_engine).await?;
        self.engines.lock().unwrap().insert(key, e.clone());
        Ok(e)
    }
}

/// Build, check and package the chosen targets. Target failures are in the report
/// (see [`BuildReport::error`]); `Err` is for failures of the whole run (bad input, no engine,
/// interrupted).
pub async fn run_build(matrix: &Matrix, opts: &BuildOptions, progress: &Progress) -> Result<BuildReport> {
    let started = Instant::now();
    let targets: Vec<Target> = matrix.select(&opts.targets)?.into_iter().cloned().collect();
    validate(opts)?;
    crate::fsutil::create_dir_all(&opts.out)?;
    if let Some(m) = Manifest::load_if_present(&opts.out)? {
        m.check_release(opts.version.as_str(), Manifest::path(&opts.out).display())
            .map_err(|e| e.context("--out"))?;
    }
    let run_id = new_run_id();
    let work = opts.out.join(format!(".work-{run_id}"));
    let result = run_inner(matrix, opts, progress, targets, run_id, work.clone()).await;
    let _ = std::fs::remove_dir_all(&work);
    result.map(|mut r| {
        r.seconds = started.elapsed().as_secs_f64();
        r
    })
}

/// Connect to each engine the targets use, and clear strays there first.
async fn connect_engines(targets: &[Target], opts: &BuildOptions, progress: &Progress) -> Result<(BTreeMap<String, Engine>, usize)> {
    let mut strays = 0;
    let mut names: Vec<(Option<String>, bool)> = targets.iter().map(|t| (t.engine.clone(), t.insecure_engine)).collect();
    names.sort();
    names.dedup_by(|a, b| a.0 == b.0);
    let names: Vec<(Option<String>, bool)> = names.into_iter().map(|(e, i)| (e, i || opts.insecure_engine)).collect();
    let mut engines = BTreeMap::new();
    for (e, insecure) in &names {
        let d = tokio::select! {
            d = Engine::connect(e.as_deref(), *insecure) => d?,
            _ = opts.cancel.cancelled() => return Err(Error::Interrupted),
        };
        strays += container::remove_strays(&d.docker).await?;
        engines.insert(e.clone().unwrap_or_default(), d);
    }
    if strays > 0 {
        progress.println(&format!("removed {strays} stray container(s) of earlier runs"));
    }
    Ok((engines, strays))
}

/// The source, once, shared by every container.
async fn prepare_source(matrix: &Matrix, opts: &BuildOptions, progress: &Progress, work: &std::path::Path) -> Result<PreparedSource> {
    let spec = match &opts.source {
        Some(s) => SourceSpec::parse(s),
        None => SourceSpec::Url(matrix.source_url(&opts.version)),
    };
    let src_item = progress.spinner("source");
    src_item.set("preparing");
    let prepared = tokio::select! {
        p = source::prepare(&spec, work, opts.allow_dirty, opts.source_sha.as_deref()) => p?,
        _ = opts.cancel.cancelled() => return Err(Error::Interrupted),
    };
    src_item.finish(&format!(
        "{} ({}), SOURCE_DATE_EPOCH={}{}",
        prepared.info.name,
        prepared.info.kind,
        prepared.source_date_epoch,
        prepared.info.sha256.as_deref().map(|s| format!(", sha256 {s}")).unwrap_or_default()
    ));
    // The output directory must be empty of other releases (checked before building).
    crate::package::check_dist(&opts.out, &opts.version, prepared.source_date_epoch, &prepared.info)?;
    Ok(prepared)
}

type TaskResult = (usize, Target, Item, Option<std::result::Result<Outcome, Failure>>);

async fn run_inner(
    matrix: &Matrix,
    opts: &BuildOptions,
    progress: &Progress,
    targets: Vec<Target>,
    run_id: String,
    work: PathBuf,
) -> Result<BuildReport> {
    let (engines, strays) = connect_engines(&targets, opts, progress).await?;
    let prepared = prepare_source(matrix, opts, progress, &work).await?;
    let jobs = opts.jobs.unwrap_or_else(|| default_jobs(cores(), targets.len())).max(1);
    let concurrent = jobs.min(targets.len()).max(1);
    let mj = make_jobs(cores());
    let shared = Arc::new(Shared {
        matrix: matrix.clone(),
        version: opts.version.clone(),
        source: prepared,
        out: opts.out.clone(),
        work: work.clone(),
        run_id: run_id.clone(),
        make_jobs: mj,
        concurrent,
        insecure_engine: opts.insecure_engine,
        builder_image: opts.builder_image.clone(),
        check_reproducible: opts.check_reproducible,
        vary: opts.vary,
        hooks: opts.hooks.clone(),
        engines: Mutex::new(engines),
        written: Mutex::new(Vec::new()),
        retar: tokio::sync::Mutex::new(()),
    });

    let (results, artifacts) = run_targets(&shared, &targets, opts, progress).await;

    // Whatever happened: remove every container of this run on every engine it used.
    let engines: Vec<Docker> = shared.engines.lock().unwrap().values().map(|e| e.docker.clone()).collect();
    for d in &engines {
        if let Err(e) = container::remove_run(d, &run_id).await {
            progress.println(&format!("warning: {e}"));
        }
    }
    if opts.cancel.is_cancelled() {
        for f in shared.written.lock().unwrap().iter() {
            let _ = std::fs::remove_file(f);
        }
        return Err(Error::Interrupted);
    }
    // Manifest and SHA256SUMS: upsert this run's artifacts.
    for a in artifacts {
        crate::package::add_to_dist(&opts.out, &opts.version, shared.source.source_date_epoch, &shared.source.info, a)?;
    }
    super::produced::write_produced(&opts.out, &targets, &results)?;
    Ok(BuildReport {
        run_id,
        version: opts.version.to_string(),
        source: shared.source.info.clone(),
        source_date_epoch: shared.source.source_date_epoch,
        out: opts.out.clone(),
        jobs,
        make_jobs: mj,
        strays_removed: strays,
        targets: results,
        seconds: 0.0,
    })
}

/// One task per target, at most `jobs` at once; a task that panics is a failed target (its
/// container is removed with the run's).
async fn run_targets(
    shared: &Arc<Shared>,
    targets: &[Target],
    opts: &BuildOptions,
    progress: &Progress,
) -> (Vec<TargetReport>, Vec<Artifact>) {
    let jobs = opts.jobs.unwrap_or_else(|| default_jobs(cores(), targets.len())).max(1);
    let sem = Arc::new(tokio::sync::Semaphore::new(jobs));
    let stop = opts.cancel.child_token();
    let mut set = tokio::task::JoinSet::new();
    let mut names = BTreeMap::new();
    for (idx, t) in targets.iter().enumerate() {
        let (shared, sem, stop, t) = (shared.clone(), sem.clone(), stop.clone(), t.clone());
        let item = progress.spinner(&t.name);
        item.set("waiting");
        let fail_fast = opts.fail_fast;
        let handle = set.spawn(async move {
            let r = tokio::select! {
                r = async {
                    let _permit = sem.acquire().await.map_err(|_| Failure { msg: "internal: semaphore closed".into(), tail: vec![] })?;
                    build_target(&shared, &t, &item).await
                } => Some(r),
                _ = stop.cancelled() => None,
            };
            if fail_fast && matches!(r, Some(Err(_))) {
                stop.cancel();
            }
            (idx, t, item, r)
        });
        names.insert(handle.id(), idx);
    }
    let mut results: Vec<Option<TargetReport>> = vec![None; targets.len()];
    let mut artifacts = Vec::new();
    while let Some(j) = set.join_next_with_id().await {
        match j {
            Ok((_, r)) => {
                let idx = r.0;
                let (rep, art) = report_of(shared, opts, r);
                artifacts.extend(art);
                results[idx] = Some(rep);
            }
            Err(e) => {
                // A panicking task: the target failed; the run goes on (and removes its container).
                let idx = names.get(&e.id()).copied().unwrap_or(0);
                if opts.fail_fast {
                    stop.cancel();
                }
                let t = &targets[idx];
                let log = shared.out.join("logs").join(format!("{}.log", t.name));
                let msg = format!(
                    "internal error: the task building {} {}",
                    t.name,
                    if e.is_panic() { "panicked" } else { "was cancelled" }
                );
                progress.println(&format!("{}: FAILED: {msg}", t.name));
                results[idx] = Some(TargetReport::without_artifact(&t.name, TargetStatus::Failed, 0.0, log, msg, vec![]));
            }
        }
    }
    (results.into_iter().flatten().collect(), artifacts)
}

/// The report of a finished task, and its artifact when it made one.
fn report_of(shared: &Shared, opts: &BuildOptions, (_, t, item, r): TaskResult) -> (TargetReport, Option<Artifact>) {
    let log = shared.out.join("logs").join(format!("{}.log", t.name));
    match r {
        Some(Ok(o)) => {
            item.finish(&format!("ok {}", o.artifact.file));
            let differs = o.repro.as_ref().is_some_and(|d| !d.is_empty());
            let rep = TargetReport {
                target: t.name.clone(),
                status: if differs { TargetStatus::Failed } else { TargetStatus::Ok },
                artifact: Some(o.artifact.file.clone()),
                sha256: Some(o.artifact.sha256.clone()),
                seconds: item.elapsed(),
                log,
                error: differs.then(|| {
                    format!(
                        "not reproducible: {} differ between two builds",
                        o.repro.as_deref().unwrap_or_default().join(", ")
                    )
                }),
                log_tail: vec![],
                reproducible: o.repro.as_ref().map(|d| d.is_empty()),
                differing_files: o.repro.unwrap_or_default(),
                varied: o.varied,
                produced: o.produced,
            };
            (rep, Some(o.artifact))
        }
        Some(Err(f)) => {
            item.finish(&format!("FAILED: {}", f.msg));
            (
                TargetReport::without_artifact(&t.name, TargetStatus::Failed, item.elapsed(), log, f.msg, f.tail),
                None,
            )
        }
        None => {
            item.finish(if opts.cancel.is_cancelled() {
                "interrupted"
            } else {
                "skipped (--fail-fast)"
            });
            let msg = "stopped after another target failed (--fail-fast)".to_string();
            (
                TargetReport::without_artifact(&t.name, TargetStatus::Skipped, item.elapsed(), log, msg, vec![]),
                None,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_split_cores() {
        // Every container gets every core: none is left on a share when the others finish.
        assert_eq!(make_jobs(2), 2);
        assert_eq!(make_jobs(8), 8);
        assert_eq!(make_jobs(0), 1);
        assert_eq!(default_jobs(2, 8), 2);
        assert_eq!(default_jobs(16, 2), 2);
    }
}
