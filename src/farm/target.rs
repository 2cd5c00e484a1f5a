//! One target: its builder container, the build, the checks, the post-build hooks and the
//! tarball; with `--check-reproducible` a second build in a fresh container, compared.
//!
//! The container work is written against [`ContainerEngine`], so it runs on the real engine
//! and on the fake engine of the unit tests alike.

use super::container::{ContainerEngine, ContainerSpec, ExecOptions, TarInput, BUILD_DIR};
use super::hooks::{self, HookContext, Produced};
use super::log::Log;
use super::repro::Variation;
use super::run::Shared;
use crate::error::{Error, Result};
use crate::manifest::{Artifact, BuildInfo};
use crate::progress::Item;
use crate::targets::{Arch, Matrix, Target};
use bollard::Docker;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A target's failure: message plus the log tail.
pub(super) struct Failure {
    pub msg: String,
    pub tail: Vec<String>,
}

/// What a target produced.
pub(super) struct Outcome {
    pub artifact: Artifact,
    /// With --check-reproducible: the files that differ between the two builds.
    pub repro: Option<Vec<String>>,
    /// With --check-reproducible: what the second build varied.
    pub varied: Vec<String>,
    pub produced: Vec<Produced>,
}

/// What one build in one container produced.
pub(super) struct Built {
    pub tree: PathBuf,
    pub image_id: String,
    pub image_tag: String,
    pub make_command: Vec<String>,
    pub reported_version: String,
    pub seconds: f64,
    /// What the engine reported as its architecture.
    pub engine_arch: String,
    /// The image's arch differs from the engine's: it ran under qemu binfmt.
    pub emulated: bool,
}

/// The engine a target runs on, and its builder image.
pub(super) struct Place<'a, E> {
    pub engine: &'a E,
    pub engine_arch: &'a str,
    /// (image id, tag)
    pub image: (String, String),
    pub limits: super::limits::Limits,
    /// CPUs of the engine (a varied build is pinned to one of them).
    pub cpus: i64,
}

pub(super) async fn build_target(sh: &Shared, t: &Target, item: &Item) -> std::result::Result<Outcome, Failure> {
    let log_path = sh.out.join("logs").join(format!("{}.log", t.name));
    let mut log = Log::create(&log_path).map_err(|e| Failure {
        msg: e.to_string(),
        tail: vec![],
    })?;
    let r = async {
        let engine = sh.engine(t).await?;
        phase(item, &mut log, "builder image");
        let image = resolve_image(sh, &engine.docker, t, item).await?;
        let place = Place {
            engine: &engine.docker,
            engine_arch: &engine.arch,
            image,
            limits: t.limits.resolve(engine.resources, sh.concurrent),
            cpus: engine.resources.cpus,
        };
        build_target_on(sh, &place, t, item, &mut log).await
    }
    .await;
    r.map_err(|e| Failure {
        msg: e.to_string(),
        tail: log.tail(),
    })
}

/// Build, check, run the hooks and package one target on `place`.
pub(super) async fn build_target_on<E: ContainerEngine>(
    sh: &Shared,
    place: &Place<'_, E>,
    t: &Target,
    item: &Item,
    log: &mut Log,
) -> Result<Outcome> {
    let tree = sh.work.join(&t.name).join("a");
    let mut varied = Vec::new();
    let var1 = sh
        .vary
        .then(|| Variation::second(sh.make_jobs, place.limits.user.as_deref(), place.cpus));
    if let Some(v) = &var1 {
        varied = v.describe();
        log.note(&format!("varied build (rebuild): {}", varied.join(", ")));
    }
    let (built, build_info, produced) = build_once(sh, place, t, item, log, &tree, "", var1.as_ref()).await?;

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
        let var = Variation::second(sh.make_jobs, place.limits.user.as_deref(), place.cpus);
        varied = var.describe();
        log.note(&format!(
            "second build in a fresh container (--check-reproducible), varied: {}",
            var.describe().join(", ")
        ));
        let tree_b = sh.work.join(&t.name).join("b");
        let (built_b, info_b, _) = build_once(sh, place, t, item, log, &tree_b, SECOND, Some(&var)).await?;
        let out_b = sh.work.join(&t.name).join("repro-out");
        let art_b = package(sh, t, &built_b.tree, &out_b, info_b)?;
        let diffs = super::repro::compare(&art, &art_b, &built.tree, &built_b.tree)?;
        if diffs.is_empty() {
            log.note("reproducible: both builds gave the same tarball");
        } else {
            log.note(&format!("NOT reproducible: {} differ", diffs.join(", ")));
        }
        Some(diffs)
    } else {
        None
    };
    Ok(Outcome {
        artifact: art,
        repro,
        varied,
        produced,
    })
}

pub(super) fn phase(item: &Item, log: &mut Log, msg: &str) {
    item.set(msg);
    log.note(msg);
}

/// The log tag of the second build of --check-reproducible (which runs no hooks).
const SECOND: &str = " (2nd)";

/// One build in a fresh container: create, upload the source, make, download the results
/// into `tree`, run `valkey-server --version`, check the binaries, run the post-build hooks
/// (not in the varied second build of --check-reproducible), and remove the container whatever
/// happened.
#[allow(clippy::too_many_arguments)]
async fn build_once<E: ContainerEngine>(
    sh: &Shared,
    place: &Place<'_, E>,
    t: &Target,
    item: &Item,
    log: &mut Log,
    tree: &Path,
    tag: &str,
    var: Option<&Variation>,
) -> Result<(Built, BuildInfo, Vec<Produced>)> {
    let engine = place.engine;
    let started = Instant::now();
    let (image_id, image_tag) = place.image.clone();
    let engine_arch = place.engine_arch.to_string();
    let emulated = Arch::from_engine(&engine_arch).is_some_and(|a| a != t.image_arch);
    let how = if emulated {
        format!(", emulated on this {engine_arch} engine (qemu binfmt)")
    } else {
        String::new()
    };
    phase(
        item,
        log,
        &format!("creating {} container from {image_tag}{tag}{how}", t.image_arch.platform()),
    );
    let mut limits = place.limits.clone();
    if let Some(u) = var.and_then(|v| v.user.clone()) {
        limits.user = Some(u);
    }
    let spec = ContainerSpec {
        image: &image_id,
        run_id: &sh.run_id,
        target: &t.name,
        env: super::container::build_env(sh.source.source_date_epoch),
        platform: t.image_arch.platform(),
        limits: &limits,
        hostname: var.and_then(|v| v.hostname.clone()),
        cpuset: var.and_then(|v| v.cpuset.clone()),
    };
    log.note(&limits.describe());
    let id = engine.create(&spec).await?;
    let limit = place.limits.time_limit;
    let r = async {
        engine.start(&id).await?;
        let made = tokio::time::timeout(limit, make_in(sh, engine, &id, t, &limits, var, item, log, tree, tag)).await;
        let (make_command, reported_version) = match made {
            Ok(r) => r?,
            Err(_) => {
                let e = Error::check(format!(
                    "{} exceeded its time limit of {} s (time_limit in [builders.{}.limits] of targets.toml); its container was killed",
                    t.name,
                    limit.as_secs(),
                    t.builder
                ));
                log.note(&e.to_string());
                return Err(e);
            }
        };
        let built = Built {
            tree: tree.to_path_buf(),
            image_id,
            image_tag,
            make_command,
            reported_version,
            seconds: started.elapsed().as_secs_f64(),
            engine_arch,
            emulated,
        };
        item.set("checking");
        log.note("checking binaries");
        let info = check(sh, t, &built).inspect_err(|e| log.note(&format!("check failed: {e}")))?;
        let produced = if tag != SECOND {
            run_hooks(sh, engine, &id, t, item, log, tree).await?
        } else {
            vec![]
        };
        if let Some(cpu) = cpu_seconds(engine, &id).await {
            log.note(&format!(
                "{CPU_ALL_NOTE}{cpu:.1} s (user+sys in the container: make, checks and hooks)"
            ));
        }
        Ok((built, info, produced))
    }
    .await;
    let rm = engine.remove(&id).await;
    let r = r?;
    rm?;
    Ok(r)
}

/// Upload the source, make, download the binaries and the license, run `--version`.
#[allow(clippy::too_many_arguments)]
async fn make_in<E: ContainerEngine>(
    sh: &Shared,
    engine: &E,
    id: &str,
    t: &Target,
    limits: &super::limits::Limits,
    var: Option<&Variation>,
    item: &Item,
    log: &mut Log,
    tree: &Path,
    tag: &str,
) -> Result<(Vec<String>, String)> {
    phase(item, log, &format!("uploading source ({} MB){tag}", sh.source.tar_size / 1_000_000));
    let (uid, gid) = limits.uid_gid();
    let top = super::container::tar_of_owned(&[(format!("{BUILD_DIR}/"), 0o755, vec![])], uid, gid)?;
    engine.upload(id, TarInput::Bytes(top), "/").await?;
    let tar = sh.source_tar(uid, gid).await?;
    engine.upload(id, TarInput::File(&tar), BUILD_DIR).await?;
    let commit = sh.source.commit.as_deref();
    if let Some(c) = commit {
        let stub = super::pins::git_stub(c).into_bytes();
        let tools = super::container::tar_of(&[(format!("{}/git", super::pins::TOOLS_DIR), 0o755, stub)])?;
        engine.upload(id, TarInput::Bytes(tools), "/").await?;
    }
    let mut cmd = sh
        .matrix
        .make_command(&sh.version, t, var.and_then(|v| v.make_jobs).unwrap_or(sh.make_jobs));
    let recorded = cmd.clone();
    if let Some(u) = var.and_then(|v| v.umask) {
        let mut wrapped: Vec<String> = ["sh", "-c", &format!("umask {u} && exec \"$@\""), "sh"].map(String::from).to_vec();
        wrapped.append(&mut cmd);
        cmd = wrapped;
    }
    let env = super::pins::make_env(commit);
    phase(item, log, &format!("make{tag}: {} (environment: {})", cmd.join(" "), env.join(" ")));
    let opts = ExecOptions { env, user: None };
    let code = engine.exec(id, &cmd, &opts, &mut |b| log.write(b)).await?;
    if code != 0 {
        return Err(Error::check(format!("make exited with code {code}")));
    }
    if let Some(cpu) = cpu_seconds(engine, id).await {
        log.note(&format!("{CPU_NOTE}{cpu:.1} s (user+sys in the container so far, from its cgroup)"));
    }
    phase(item, log, &format!("downloading binaries{tag}"));
    crate::fsutil::create_dir_all(&tree.join("src"))?;
    for b in &sh.matrix.artifact.binaries {
        let p = format!("{BUILD_DIR}/src/{b}");
        if !super::container::download_file(engine, id, &p, &tree.join("src").join(b)).await? {
            return Err(Error::check(format!("make succeeded but {p} is missing")));
        }
    }
    let lic = &sh.matrix.artifact.license;
    let p = format!("{BUILD_DIR}/{lic}");
    if !super::container::download_file(engine, id, &p, &tree.join(lic)).await? {
        return Err(Error::check(format!("the source has no license file {p}")));
    }
    phase(item, log, &format!("running valkey-server --version{tag}"));
    let mut vcmd: Vec<String> = t.cross.as_ref().map(|c| c.runner.clone()).unwrap_or_default();
    vcmd.push(format!("{BUILD_DIR}/src/{}", server_binary(&sh.matrix)));
    vcmd.push("--version".into());
    let mut out = Vec::new();
    let code = engine
        .exec(id, &vcmd, &ExecOptions::default(), &mut |b| out.extend_from_slice(b))
        .await?;
    let text = String::from_utf8_lossy(&out).trim().to_string();
    log.write(format!("{text}\n").as_bytes());
    if code != 0 {
        return Err(Error::check(format!("`{}` failed with code {code}: {text}", vcmd.join(" "))));
    }
    Ok((recorded, text))
}

/// The start of the log line giving the CPU time a build used (read by `cargo bench --bench release`).
pub const CPU_NOTE: &str = "cpu: ";
/// The start of the log line giving the CPU time of all the work in a build's container (make,
/// `--version`, the hooks), read just before the container is removed.
pub const CPU_ALL_NOTE: &str = "cpu in all: ";

/// CPU seconds used in container `id` so far, from its cgroup (v2 `cpu.stat`, v1 `cpuacct.usage`);
/// `None` when the engine does not show it.
async fn cpu_seconds<E: ContainerEngine>(engine: &E, id: &str) -> Option<f64> {
    let read = "cat /sys/fs/cgroup/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpuacct/cpuacct.usage 2>/dev/null \
                || cat /sys/fs/cgroup/cpu,cpuacct/cpuacct.usage";
    let cmd = ["sh", "-c", read].map(String::from);
    let mut out = Vec::new();
    let code = engine
        .exec(id, &cmd, &ExecOptions::default(), &mut |b| out.extend_from_slice(b))
        .await
        .ok()?;
    (code == 0).then_some(())?;
    parse_cpu_usage(&String::from_utf8_lossy(&out))
}

/// Seconds from cgroup v2 `cpu.stat` (`usage_usec N`) or v1 `cpuacct.usage` (nanoseconds).
pub(super) fn parse_cpu_usage(text: &str) -> Option<f64> {
    if let Some(l) = text.lines().find_map(|l| l.strip_prefix("usage_usec ")) {
        return l.trim().parse::<u64>().ok().map(|us| us as f64 / 1e6);
    }
    text.trim().parse::<u64>().ok().map(|ns| ns as f64 / 1e9)
}

/// Run every post-build hook's job in the target's container (see [`super::hooks`]).
#[allow(clippy::too_many_arguments)]
async fn run_hooks<E: ContainerEngine>(
    sh: &Shared,
    engine: &E,
    id: &str,
    t: &Target,
    item: &Item,
    log: &mut Log,
    tree: &Path,
) -> Result<Vec<Produced>> {
    let names = sh.hooks.names();
    log.note(&format!(
        "post-build hooks: {}",
        if names.is_empty() { "none".to_string() } else { names.join(", ") }
    ));
    if sh.hooks.is_empty() {
        return Ok(vec![]);
    }
    let mut binaries = Vec::new();
    for b in &sh.matrix.artifact.binaries {
        let p = tree.join("src").join(b);
        binaries.push((b.clone(), std::fs::read(&p).map_err(|e| Error::io(&p, "read binary", e))?));
    }
    let lic = tree.join(&sh.matrix.artifact.license);
    let license = std::fs::read(&lic).map_err(|e| Error::io(&lic, "read license", e))?;
    let artifact_name = sh.matrix.artifact_name(&sh.version, t);
    let ctx = HookContext {
        target: t,
        version: &sh.version,
        source_date_epoch: sh.source.source_date_epoch,
        artifact_name: &artifact_name,
        build_dir: BUILD_DIR,
        binaries: &binaries,
        license: &license,
    };
    let mut produced = Vec::new();
    for h in sh.hooks.iter() {
        phase(item, log, &format!("post-build hook {}", h.name()));
        produced.extend(hooks::run_one(engine, id, h.as_ref(), &ctx, log).await?);
    }
    Ok(produced)
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
        pinned: super::pins::recorded(sh.source.commit.as_deref()),
        source_commit: sh.source.commit.clone(),
        ..Default::default()
    };
    super::glue::check_tree(&sh.matrix, t, &sh.version, &b.tree, &b.reported_version, &mut info)?;
    super::pins::check_reported_commit(&b.reported_version, sh.source.commit.as_deref())?;
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
