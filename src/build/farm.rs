//! The build farm: one builder container per target, run in parallel under a bound, each
//! target built, checked and packaged; logs per target; everything a run created removed
//! at its end (success, failure, Ctrl-C), strays of earlier runs removed at its start.

use super::container::{self, ContainerSpec, BUILD_DIR};
use super::source::{self, PreparedSource, SourceSpec};
use crate::error::{Error, Result};
use crate::manifest::{Artifact, BuildInfo, Manifest, SourceInfo};
use crate::progress::{Item, Progress};
use crate::targets::{Arch, Matrix, Target};
use crate::version::Version;
use bollard::Docker;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// How many log lines a failure summary shows.
pub const LOG_TAIL_LINES: usize = 20;

/// Everything `build` needs; the `release` command fills one of these.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub version: Version,
    /// Directory, .tar.gz/.tar.xz archive or http(s) URL; `None`: the version's GitHub archive.
    pub source: Option<String>,
    /// Target names (`bookworm-arm64`); empty: every target of the matrix.
    pub targets: Vec<String>,
    /// Containers at once; `None`: as many as targets, at most the machine's cores.
    pub jobs: Option<usize>,
    /// Output directory (tarballs, .sha256, SHA256SUMS, manifest.json, logs/).
    pub out: PathBuf,
    pub fail_fast: bool,
    pub allow_dirty: bool,
    /// Build every target twice in fresh containers and compare.
    pub check_reproducible: bool,
    /// The commit the release must be built from: a git checkout's HEAD must equal it
    /// (exit 4 otherwise); for other sources it is recorded in manifest.source.source_sha.
    pub source_sha: Option<String>,
    /// Use this image for every target instead of the targets' builder images.
    pub builder_image: Option<String>,
    /// Cancelled on Ctrl-C: the run removes its containers and partial files, then returns
    /// `Error::Interrupted` (exit 130).
    pub cancel: CancellationToken,
}

impl BuildOptions {
    /// Options with defaults: all targets, default source, `dist/`.
    pub fn new(version: Version) -> BuildOptions {
        BuildOptions {
            version,
            source: None,
            targets: Vec::new(),
            jobs: None,
            out: PathBuf::from("dist"),
            fail_fast: false,
            allow_dirty: false,
            check_reproducible: false,
            source_sha: None,
            builder_image: None,
            cancel: CancellationToken::new(),
        }
    }
}

/// Outcome of one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub target: String,
    /// `ok`, `failed`, `skipped` (stopped by --fail-fast).
    pub status: String,
    /// Tarball file name in the output directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub seconds: f64,
    /// The full log of this target.
    pub log: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Last lines of the log (failures only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// With --check-reproducible: did the second build give the same tarball?
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reproducible: Option<bool>,
    /// With --check-reproducible: the files that differed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differing_files: Vec<String>,
}

/// The result of a build run.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub run_id: String,
    pub version: String,
    pub source: SourceInfo,
    pub source_date_epoch: i64,
    pub out: PathBuf,
    /// Containers at once and make -j per container.
    pub jobs: usize,
    pub make_jobs: usize,
    /// Containers of earlier runs removed at the start.
    pub strays_removed: usize,
    pub targets: Vec<TargetReport>,
    pub seconds: f64,
}

impl BuildReport {
    pub fn ok(&self) -> bool {
        self.targets.iter().all(|t| t.status == "ok")
    }
    pub fn failed(&self) -> Vec<&TargetReport> {
        self.targets.iter().filter(|t| t.status != "ok").collect()
    }
    /// The error (exit 1) that summarises failed targets, naming each with its log tail.
    pub fn error(&self) -> Option<Error> {
        let failed = self.failed();
        if failed.is_empty() {
            return None;
        }
        let mut msg = format!("{} of {} targets failed:", failed.len(), self.targets.len());
        for t in failed {
            msg.push_str(&format!(
                "\n  {}: {} (log: {})",
                t.target,
                t.error.as_deref().unwrap_or(&t.status),
                t.log.display()
            ));
            for l in &t.log_tail {
                msg.push_str(&format!("\n    | {l}"));
            }
        }
        Some(Error::check(msg))
    }
}

/// make -j for each container so that all concurrent containers together use `cores`.
pub fn make_jobs(cores: usize, concurrent: usize) -> usize {
    (cores / concurrent.max(1)).max(1)
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

/// A target's log: the file plus the last lines kept in memory.
struct Log {
    file: std::fs::File,
    tail: VecDeque<String>,
    partial: Vec<u8>,
}

impl Log {
    fn create(path: &Path) -> Result<Log> {
        if let Some(d) = path.parent() {
            crate::fsutil::create_dir_all(d)?;
        }
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, "create log", e))?;
        Ok(Log {
            file,
            tail: VecDeque::new(),
            partial: Vec::new(),
        })
    }
    fn write(&mut self, bytes: &[u8]) {
        let _ = self.file.write_all(bytes);
        for &b in bytes {
            if b == b'\n' {
                let line = String::from_utf8_lossy(&self.partial).trim_end_matches('\r').to_string();
                self.partial.clear();
                self.tail.push_back(line);
                if self.tail.len() > LOG_TAIL_LINES {
                    self.tail.pop_front();
                }
            } else {
                self.partial.push(b);
            }
        }
    }
    fn note(&mut self, msg: &str) {
        self.write(format!("==> {msg}\n").as_bytes());
    }
    fn tail(&self) -> Vec<String> {
        let mut t: Vec<String> = self.tail.iter().cloned().collect();
        if !self.partial.is_empty() {
            t.push(String::from_utf8_lossy(&self.partial).to_string());
        }
        t
    }
}

/// State shared by the target tasks.
struct Shared {
    matrix: Matrix,
    version: Version,
    source: PreparedSource,
    out: PathBuf,
    work: PathBuf,
    run_id: String,
    make_jobs: usize,
    builder_image: Option<String>,
    check_reproducible: bool,
    /// Engines used by this run (key: engine address or "" for the default).
    engines: Mutex<BTreeMap<String, Engine>>,
    /// Files this run wrote in `out` (deleted again when interrupted).
    written: Mutex<Vec<PathBuf>>,
}

/// A connected engine and the architecture it reported (`x86_64`, `aarch64`), asked once.
#[derive(Clone)]
struct Engine {
    docker: Docker,
    arch: String,
}

impl Engine {
    async fn connect(address: Option<&str>) -> Result<Engine> {
        let docker = super::engine::connect(address).await?;
        let arch = container::engine_arch(&docker).await?;
        Ok(Engine { docker, arch })
    }
}

impl Shared {
    async fn engine(&self, address: Option<&str>) -> Result<Engine> {
        let key = address.unwrap_or("").to_string();
        if let Some(e) = self.engines.lock().unwrap().get(&key) {
            return Ok(e.clone());
        }
        let e = Engine::connect(address).await?;
        self.engines.lock().unwrap().insert(key, e.clone());
        Ok(e)
    }
}

/// A target's failure: message plus the log tail.
struct Failure {
    msg: String,
    tail: Vec<String>,
}

/// Build, check and package the chosen targets. Target failures are in the report
/// (see [`BuildReport::error`]); `Err` is for failures of the whole run (bad input, no engine,
/// interrupted).
pub async fn run_build(matrix: &Matrix, opts: &BuildOptions, progress: &Progress) -> Result<BuildReport> {
    let started = Instant::now();
    let targets: Vec<Target> = matrix.select(&opts.targets)?.into_iter().cloned().collect();
    if let Some(sha) = &opts.source_sha {
        if !(sha.len() >= 7 && sha.len() <= 40 && sha.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(Error::input(format!("source_sha {sha:?} is not a git commit id (40 hex digits)")));
        }
    }
    crate::fsutil::create_dir_all(&opts.out)?;
    let existing = Manifest::load_if_present(&opts.out)?;
    if let Some(m) = &existing {
        if m.version != opts.version.as_str() {
            return Err(Error::input(format!(
                "{}: holds release {}, not {}; use another --out directory",
                Manifest::path(&opts.out).display(),
                m.version,
                opts.version
            )));
        }
    }

    let run_id = new_run_id();
    let work = opts.out.join(format!(".work-{run_id}"));
    let result = run_inner(matrix, opts, progress, targets, run_id.clone(), work.clone(), started).await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

#[allow(clippy::too_many_arguments)]
async fn run_inner(
    matrix: &Matrix,
    opts: &BuildOptions,
    progress: &Progress,
    targets: Vec<Target>,
    run_id: String,
    work: PathBuf,
    started: Instant,
) -> Result<BuildReport> {
    // Engines: connect to each one the targets use, and clear strays there first.
    let mut strays = 0;
    let mut engine_names: Vec<Option<String>> = targets.iter().map(|t| t.engine.clone()).collect();
    engine_names.sort();
    engine_names.dedup();
    let mut engines = BTreeMap::new();
    for e in &engine_names {
        let d = tokio::select! {
            d = Engine::connect(e.as_deref()) => d?,
            _ = opts.cancel.cancelled() => return Err(Error::Interrupted),
        };
        strays += container::remove_strays(&d.docker).await?;
        engines.insert(e.clone().unwrap_or_default(), d);
    }
    if strays > 0 {
        progress.println(&format!("removed {strays} stray container(s) of earlier runs"));
    }

    // Source: once, shared by every container.
    let spec = match &opts.source {
        Some(s) => SourceSpec::parse(s),
        None => SourceSpec::Url(matrix.source_url(&opts.version)),
    };
    let src_item = progress.spinner("source");
    src_item.set("preparing");
    let prepared = tokio::select! {
        p = source::prepare(&spec, &work, opts.allow_dirty, opts.source_sha.as_deref()) => p?,
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

    let jobs = opts.jobs.unwrap_or_else(|| default_jobs(cores(), targets.len())).max(1);
    let concurrent = jobs.min(targets.len()).max(1);
    let mj = make_jobs(cores(), concurrent);
    let shared = Arc::new(Shared {
        matrix: matrix.clone(),
        version: opts.version.clone(),
        source: prepared,
        out: opts.out.clone(),
        work: work.clone(),
        run_id: run_id.clone(),
        make_jobs: mj,
        builder_image: opts.builder_image.clone(),
        check_reproducible: opts.check_reproducible,
        engines: Mutex::new(engines),
        written: Mutex::new(Vec::new()),
    });

    let sem = Arc::new(tokio::sync::Semaphore::new(jobs));
    let stop = opts.cancel.child_token();
    let mut set = tokio::task::JoinSet::new();
    for (idx, t) in targets.iter().enumerate() {
        let shared = shared.clone();
        let sem = sem.clone();
        let stop = stop.clone();
        let t = t.clone();
        let item = progress.spinner(&t.name);
        item.set("waiting");
        let fail_fast = opts.fail_fast;
        set.spawn(async move {
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
    }
    let mut results: Vec<Option<TargetReport>> = vec![None; targets.len()];
    let mut artifacts: Vec<Artifact> = Vec::new();
    while let Some(j) = set.join_next().await {
        let (idx, t, item, r) = j.map_err(|e| Error::external(format!("build task failed: {e}")))?;
        let log = opts.out.join("logs").join(format!("{}.log", t.name));
        let rep = match r {
            Some(Ok((art, repro))) => {
                item.finish(&format!("ok {}", art.file));
                let rep = TargetReport {
                    target: t.name.clone(),
                    status: if repro.as_ref().map(|r| !r.is_empty()).unwrap_or(false) {
                        "failed".into()
                    } else {
                        "ok".into()
                    },
                    artifact: Some(art.file.clone()),
                    sha256: Some(art.sha256.clone()),
                    seconds: item.elapsed(),
                    log,
                    error: repro
                        .as_ref()
                        .filter(|d| !d.is_empty())
                        .map(|d| format!("not reproducible: {} differ between two builds", d.join(", "))),
                    log_tail: vec![],
                    reproducible: repro.as_ref().map(|d| d.is_empty()),
                    differing_files: repro.unwrap_or_default(),
                };
                artifacts.push(art);
                rep
            }
            Some(Err(f)) => {
                item.finish(&format!("FAILED: {}", f.msg));
                TargetReport {
                    target: t.name.clone(),
                    status: "failed".into(),
                    artifact: None,
                    sha256: None,
                    seconds: item.elapsed(),
                    log,
                    error: Some(f.msg),
                    log_tail: f.tail,
                    reproducible: None,
                    differing_files: vec![],
                }
            }
            None => {
                item.finish(if opts.cancel.is_cancelled() {
                    "interrupted"
                } else {
                    "skipped (--fail-fast)"
                });
                TargetReport {
                    target: t.name.clone(),
                    status: "skipped".into(),
                    artifact: None,
                    sha256: None,
                    seconds: item.elapsed(),
                    log,
                    error: Some("stopped after another target failed (--fail-fast)".into()),
                    log_tail: vec![],
                    reproducible: None,
                    differing_files: vec![],
                }
            }
        };
        results[idx] = Some(rep);
    }

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

    Ok(BuildReport {
        run_id,
        version: opts.version.to_string(),
        source: shared.source.info.clone(),
        source_date_epoch: shared.source.source_date_epoch,
        out: opts.out.clone(),
        jobs,
        make_jobs: mj,
        strays_removed: strays,
        targets: results.into_iter().flatten().collect(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What one build in one container produced.
struct Built {
    tree: PathBuf,
    image_id: String,
    image_tag: String,
    make_command: Vec<String>,
    reported_version: String,
    seconds: f64,
    /// What the engine reported as its architecture.
    engine_arch: String,
    /// The image's arch differs from the engine's: it ran under qemu binfmt.
    emulated: bool,
}

async fn build_target(sh: &Shared, t: &Target, item: &Item) -> std::result::Result<(Artifact, Option<Vec<String>>), Failure> {
    let log_path = sh.out.join("logs").join(format!("{}.log", t.name));
    let mut log = Log::create(&log_path).map_err(|e| Failure {
        msg: e.to_string(),
        tail: vec![],
    })?;
    let r = build_target_logged(sh, t, item, &mut log).await;
    r.map_err(|e| Failure {
        msg: e.to_string(),
        tail: log.tail(),
    })
}

async fn build_target_logged(sh: &Shared, t: &Target, item: &Item, log: &mut Log) -> Result<(Artifact, Option<Vec<String>>)> {
    let engine = sh.engine(t.engine.as_deref()).await?;
    let tree = sh.work.join(&t.name).join("a");
    let built = build_once(sh, &engine, t, item, log, &tree, "").await?;

    item.set("checking");
    log.note("checking binaries");
    let build_info = check(sh, t, &built).map_err(|e| {
        log.note(&format!("check failed: {e}"));
        e
    })?;

    item.set("packaging");
    // Files that were not there before this run are deleted again if the run is interrupted.
    let tarball = sh.out.join(sh.matrix.tarball_name(&sh.version, t));
    let new_files = !tarball.exists();
    let art = package(sh, t, &built.tree, &sh.out, build_info)?;
    if new_files {
        let mut w = sh.written.lock().unwrap();
        w.push(sh.out.join(&art.file));
        w.push(sh.out.join(&art.checksum_file));
    }
    log.note(&format!("packaged {} sha256 {}", art.file, art.sha256));

    let repro = if sh.check_reproducible {
        item.set("second build (reproducibility)");
        log.note("second build in a fresh container (--check-reproducible)");
        let tree_b = sh.work.join(&t.name).join("b");
        let built_b = build_once(sh, &engine, t, item, log, &tree_b, " (2nd)").await?;
        let out_b = sh.work.join(&t.name).join("repro-out");
        let info_b = check(sh, t, &built_b)?;
        let art_b = package(sh, t, &built_b.tree, &out_b, info_b)?;
        let diffs = if art_b.sha256 == art.sha256 {
            vec![]
        } else {
            diff_trees(&built.tree, &built_b.tree)?
        };
        let diffs = if art_b.sha256 != art.sha256 && diffs.is_empty() {
            vec![art.file.clone()]
        } else {
            diffs
        };
        if diffs.is_empty() {
            log.note("reproducible: both builds gave the same tarball");
        } else {
            log.note(&format!("NOT reproducible: {} differ", diffs.join(", ")));
        }
        Some(diffs)
    } else {
        None
    };
    Ok((art, repro))
}

fn phase(item: &Item, log: &mut Log, msg: &str) {
    item.set(msg);
    log.note(msg);
}

/// One build in a fresh container: create, upload the source, make, download the results
/// into `tree`, run `valkey-server --version`, remove the container.
async fn build_once(sh: &Shared, engine: &Engine, t: &Target, item: &Item, log: &mut Log, tree: &Path, tag: &str) -> Result<Built> {
    let docker = &engine.docker;
    let started = Instant::now();
    phase(item, log, "builder image");
    let (image_id, image_tag) = resolve_image(sh, docker, t, item).await?;
    let engine_arch = engine.arch.clone();
    let emulated = Arch::from_engine(&engine_arch).is_some_and(|a| a != t.image_arch);
    if emulated {
        phase(
            item,
            log,
            &format!(
                "creating {} container from {image_tag}{tag}, emulated on this {engine_arch} engine (qemu binfmt)",
                t.image_arch.platform()
            ),
        );
    } else {
        phase(item, log, &format!("creating container from {image_tag}{tag}"));
    }
    let env = container::build_env(sh.source.source_date_epoch);
    let id = container::create(
        docker,
        &ContainerSpec {
            image: &image_id,
            run_id: &sh.run_id,
            target: &t.name,
            env,
            platform: t.image_arch.platform(),
        },
    )
    .await?;
    let r = async {
        container::start(docker, &id).await?;
        phase(item, log, &format!("uploading source ({} MB){tag}", sh.source.tar_size / 1_000_000));
        container::upload_tar(docker, &id, &sh.source.tar, BUILD_DIR).await?;
        let cmd = sh.matrix.make_command(&sh.version, t, sh.make_jobs);
        phase(item, log, &format!("make{tag}: {}", cmd.join(" ")));
        let code = container::exec(docker, &id, &cmd, |b| log.write(b)).await?;
        if code != 0 {
            return Err(Error::check(format!("make exited with code {code}")));
        }
        phase(item, log, &format!("downloading binaries{tag}"));
        crate::fsutil::create_dir_all(&tree.join("src"))?;
        for b in &sh.matrix.artifact.binaries {
            let p = format!("{BUILD_DIR}/src/{b}");
            if !container::download_file(docker, &id, &p, &tree.join("src").join(b)).await? {
                return Err(Error::check(format!("make succeeded but {p} is missing")));
            }
        }
        let lic = &sh.matrix.artifact.license;
        let p = format!("{BUILD_DIR}/{lic}");
        if !container::download_file(docker, &id, &p, &tree.join(lic)).await? {
            return Err(Error::check(format!("the source has no license file {p}")));
        }
        phase(item, log, &format!("running valkey-server --version{tag}"));
        let mut vcmd: Vec<String> = t.cross.as_ref().map(|c| c.runner.clone()).unwrap_or_default();
        vcmd.push(format!("{BUILD_DIR}/src/{}", server_binary(&sh.matrix)));
        vcmd.push("--version".into());
        let mut out = Vec::new();
        let code = container::exec(docker, &id, &vcmd, |b| out.extend_from_slice(b)).await?;
        let text = String::from_utf8_lossy(&out).trim().to_string();
        log.write(format!("{}\n", text).as_bytes());
        if code != 0 {
            return Err(Error::check(format!("`{}` failed with code {code}: {text}", vcmd.join(" "))));
        }
        Ok((cmd, text))
    }
    .await;
    let rm = container::remove(docker, &id).await;
    let (make_command, reported_version) = r?;
    rm?;
    Ok(Built {
        tree: tree.to_path_buf(),
        image_id,
        image_tag,
        make_command,
        reported_version,
        seconds: started.elapsed().as_secs_f64(),
        engine_arch,
        emulated,
    })
}

fn server_binary(m: &Matrix) -> String {
    m.artifact
        .binaries
        .iter()
        .find(|b| b.as_str() == "valkey-server")
        .cloned()
        .unwrap_or_else(|| m.artifact.binaries[0].clone())
}

/// The builder image of a target: (image id, tag).
async fn resolve_image(sh: &Shared, docker: &Docker, t: &Target, item: &Item) -> Result<(String, String)> {
    let name = match &sh.builder_image {
        Some(n) => n.clone(),
        None => return super::glue::builder_image(docker, &sh.matrix, t, &sh.out.join("logs"), item).await,
    };
    let img = docker.inspect_image(&name).await.map_err(|e| match e {
        bollard::errors::Error::DockerResponseServerError { status_code: 404, .. } => Error::external(format!(
            "docker: builder image {name} is not on the engine; prepare it with `valkey-release images --target {}`",
            t.name
        )),
        e => Error::external(format!("docker: inspect image {name}: {e}")),
    })?;
    Ok((img.id.unwrap_or_else(|| name.clone()), name))
}

/// Run the artifact checks on a downloaded tree; fill the manifest's build facts.
fn check(sh: &Shared, t: &Target, b: &Built) -> Result<BuildInfo> {
    let mut info = BuildInfo {
        builder_image: b.image_id.clone(),
        builder_tag: b.image_tag.clone(),
        mode: if b.emulated { "emulated".into() } else { t.mode().into() },
        engine_arch: b.engine_arch.clone(),
        glibc_limit: t.glibc.clone(),
        reported_version: b.reported_version.clone(),
        make_command: b.make_command.clone(),
        seconds: (b.seconds * 10.0).round() / 10.0,
        ..Default::default()
    };
    super::glue::check_tree(&sh.matrix, t, &sh.version, &b.tree, &b.reported_version, &mut info)?;
    Ok(info)
}

fn package(sh: &Shared, t: &Target, tree: &Path, out: &Path, info: BuildInfo) -> Result<Artifact> {
    let input = crate::package::PackageInput {
        matrix: &sh.matrix,
        version: &sh.version,
        target: t,
        tree,
        source_date_epoch: sh.source.source_date_epoch,
    };
    let mut art = crate::package::package_tree(&input, out)?;
    art.build = Some(info);
    Ok(art)
}

/// Files (relative paths) whose content differs between two trees, or exist in only one.
pub fn diff_trees(a: &Path, b: &Path) -> Result<Vec<String>> {
    fn files(root: &Path, rel: &Path, out: &mut BTreeMap<String, String>) -> Result<()> {
        let dir = root.join(rel);
        let rd = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, "read directory", e))?;
        for e in rd {
            let e = e.map_err(|e| Error::io(&dir, "read directory", e))?;
            let r = rel.join(e.file_name());
            if e.path().is_dir() {
                files(root, &r, out)?;
            } else {
                out.insert(r.to_string_lossy().into_owned(), crate::fsutil::sha256_file(&e.path())?.0);
            }
        }
        Ok(())
    }
    let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
    files(a, Path::new(""), &mut fa)?;
    files(b, Path::new(""), &mut fb)?;
    let mut names: Vec<&String> = fa.keys().chain(fb.keys()).collect();
    names.sort();
    names.dedup();
    Ok(names.into_iter().filter(|n| fa.get(*n) != fb.get(*n)).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_split_cores() {
        assert_eq!(make_jobs(2, 2), 1);
        assert_eq!(make_jobs(2, 1), 2);
        assert_eq!(make_jobs(8, 3), 2);
        assert_eq!(make_jobs(1, 4), 1);
        assert_eq!(default_jobs(2, 8), 2);
        assert_eq!(default_jobs(16, 2), 2);
    }

    #[test]
    fn log_keeps_tail() {
        let d = tempfile::tempdir().unwrap();
        let mut l = Log::create(&d.path().join("x.log")).unwrap();
        for i in 0..50 {
            l.write(format!("line {i}\n").as_bytes());
        }
        l.write(b"partial");
        let t = l.tail();
        assert_eq!(t.len(), LOG_TAIL_LINES + 1);
        assert_eq!(t.last().unwrap(), "partial");
        assert_eq!(t[0], "line 30");
    }

    #[test]
    fn diff_names_files() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        for r in [&a, &b] {
            std::fs::create_dir_all(r.join("src")).unwrap();
            std::fs::write(r.join("COPYING"), "x").unwrap();
        }
        std::fs::write(a.join("src/valkey-server"), "1").unwrap();
        std::fs::write(b.join("src/valkey-server"), "2").unwrap();
        assert_eq!(diff_trees(&a, &b).unwrap(), vec!["src/valkey-server".to_string()]);
    }

    #[test]
    fn report_error_names_targets_and_tail() {
        let r = BuildReport {
            run_id: "r".into(),
            version: "8.1.1".into(),
            source: SourceInfo::default(),
            source_date_epoch: 0,
            out: "dist".into(),
            jobs: 2,
            make_jobs: 1,
            strays_removed: 0,
            seconds: 1.0,
            targets: vec![TargetReport {
                target: "bookworm-arm64".into(),
                status: "failed".into(),
                artifact: None,
                sha256: None,
                seconds: 1.0,
                log: "dist/logs/bookworm-arm64.log".into(),
                error: Some("make exited with code 2".into()),
                log_tail: vec!["cc: error".into()],
                reproducible: None,
                differing_files: vec![],
            }],
        };
        let e = r.error().unwrap();
        assert_eq!(e.exit_code(), 1);
        let m = e.to_string();
        assert!(m.contains("bookworm-arm64") && m.contains("cc: error"), "{m}");
    }
}
