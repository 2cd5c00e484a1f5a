//! Builder containers through the Docker Engine API (bollard): create one per target with
//! no network and no privileges, put the source in and take results out as tar streams
//! (no bind mounts, so a remote engine works; the build tree is on an anonymous volume of its
//! own), run commands with exec, and remove every container a run made, with its volume — also
//! the strays of earlier runs.

use crate::error::{Error, Result};
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, MountVolumeOptions};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;

/// Label naming the run id on every container a run creates.
pub const LABEL_RUN: &str = "io.valkey.release.run";
/// Label naming the target (`bookworm-arm64`).
pub const LABEL_TARGET: &str = "io.valkey.release.target";
/// Label with the pid of the driver process, to find containers of dead runs.
pub const LABEL_PID: &str = "io.valkey.release.pid";
/// Label with the host name of the driver process.
pub const LABEL_HOST: &str = "io.valkey.release.host";
/// The fixed build path inside every container (part of reproducibility).
pub const BUILD_DIR: &str = "/build";

fn derr(what: &str, e: bollard::errors::Error) -> Error {
    Error::external(format!("docker: {what}: {e}"))
}

/// The host name used in the pid label.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// What to create.
pub struct ContainerSpec<'a> {
    pub image: &'a str,
    pub run_id: &'a str,
    pub target: &'a str,
    pub env: Vec<String>,
    /// Docker platform of the image (`linux/arm64`): an image of another arch than the engine's
    /// runs emulated through the engine host's qemu binfmt entry.
    pub platform: String,
    /// Memory, processes, CPUs and the user it runs as.
    pub limits: &'a super::limits::Limits,
    /// Host name inside the container (`None`: the engine's default, the container id).
    pub hostname: Option<String>,
    /// Restrict the container to these CPUs (`"0"`); `None`: all.
    pub cpuset: Option<String>,
}

/// The environment of every build: only these, nothing from the host (no credentials).
/// HOME is the build tree, which the build user owns (it may have no home in the image).
pub fn build_env(source_date_epoch: i64) -> Vec<String> {
    vec![
        format!("SOURCE_DATE_EPOCH={source_date_epoch}"),
        "TZ=UTC".into(),
        "LC_ALL=C".into(),
        "LANG=C".into(),
        format!("HOME={BUILD_DIR}"),
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
    ]
}

/// The build tree's mount: an anonymous volume of its own at [`BUILD_DIR`], empty, labelled like
/// the container and removed with it. The build's many small writes then go straight to the
/// engine host's filesystem instead of through the container's layered root filesystem: with
/// the fuse-overlayfs storage driver (rootless or nested engines, this machine's) a fifth of the
/// build's CPU went to that user-space filesystem, outside the container (issue 13.7). The source
/// still arrives as a tar stream (no bind mount), so a remote engine works the same.
fn build_volume(labels: &HashMap<String, String>) -> Mount {
    Mount {
        target: Some(BUILD_DIR.to_string()),
        typ: Some(MountType::VOLUME),
        volume_options: Some(MountVolumeOptions {
            no_copy: Some(true),
            labels: Some(labels.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Create (not start) a builder container; returns its id. It idles (`sleep infinity`),
/// work runs in it with [`exec`].
pub async fn create(docker: &Docker, spec: &ContainerSpec<'_>) -> Result<String> {
    let mut labels = HashMap::new();
    labels.insert(LABEL_RUN.to_string(), spec.run_id.to_string());
    labels.insert(LABEL_TARGET.to_string(), spec.target.to_string());
    labels.insert(LABEL_PID.to_string(), std::process::id().to_string());
    labels.insert(LABEL_HOST.to_string(), host_name());
    let volume = build_volume(&labels);
    let body = ContainerCreateBody {
        image: Some(spec.image.to_string()),
        cmd: Some(vec!["sleep".into(), "infinity".into()]),
        env: Some(spec.env.clone()),
        labels: Some(labels),
        // No working_dir: the engine would create /build owned by root; the farm uploads it
        // owned by the build user instead (see `target::make_in`).
        user: spec.limits.user.clone(),
        hostname: spec.hostname.clone(),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            privileged: Some(false),
            init: Some(true),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            memory: Some(spec.limits.memory_bytes),
            memory_swap: Some(spec.limits.memory_bytes),
            pids_limit: Some(spec.limits.pids),
            nano_cpus: Some(spec.limits.nano_cpus),
            cpuset_cpus: spec.cpuset.clone(),
            mounts: Some(vec![volume]),
            // Compilers' temporary files in memory, not in the layered root filesystem.
            tmpfs: Some(HashMap::from([("/tmp".to_string(), "rw,exec,nosuid,nodev,mode=1777".to_string())])),
            ..Default::default()
        }),
        ..Default::default()
    };
    let name = format!("valkey-release-{}-{}", spec.run_id, spec.target);
    let opts = CreateContainerOptionsBuilder::default()
        .name(&name)
        .platform(&spec.platform)
        .build();
    let r = docker.create_container(Some(opts), body).await.map_err(|e| match e {
        bollard::errors::Error::DockerResponseServerError { status_code: 404, .. } => Error::external(format!(
            "docker: builder image {} not found on the engine (prepare it with `valkey-release images`)",
            spec.image
        )),
        e => derr(&format!("create container {name}"), e),
    })?;
    Ok(r.id)
}

pub async fn start(docker: &Docker, id: &str) -> Result<()> {
    docker.start_container(id, None).await.map_err(|e| {
        let m = e.to_string();
        if m.contains("exec format error") {
            Error::external(format!(
                "docker: start container: {m}: the image's architecture differs from the engine's and the engine host \
                 cannot emulate it; install qemu-user-static and binfmt-support on the engine host, or set this \
                 target's `engine` in targets.toml to a host of the target's architecture"
            ))
        } else {
            derr("start container", e)
        }
    })
}

/// The architecture the engine runs on (`x86_64`, `aarch64`), as `GET /info` reports it.
pub async fn engine_arch(docker: &Docker) -> Result<String> {
    Ok(engine_info(docker).await?.0)
}

/// The engine's architecture and resources (memory, CPUs), as `GET /info` reports them.
pub async fn engine_info(docker: &Docker) -> Result<(String, super::limits::EngineResources)> {
    let info = docker.info().await.map_err(|e| derr("info", e))?;
    let res = super::limits::EngineResources {
        memory_bytes: info.mem_total.unwrap_or(0),
        cpus: info.ncpu.unwrap_or(1),
    };
    Ok((info.architecture.unwrap_or_default(), res))
}

/// Upload an uncompressed tar file into `path` of the container, streaming.
pub async fn upload_tar(docker: &Docker, id: &str, tar: &Path, path: &str) -> Result<()> {
    let f = tokio::fs::File::open(tar).await.map_err(|e| Error::io(tar, "open", e))?;
    let stream = tokio_util::io::ReaderStream::new(f);
    let opts = UploadToContainerOptionsBuilder::default().path(path).build();
    docker
        .upload_to_container(id, Some(opts), bollard::body_try_stream(stream))
        .await
        .map_err(|e| derr(&format!("upload into {path}"), e))
}

/// Upload in-memory tar bytes into `path` of the container.
pub async fn upload_bytes(docker: &Docker, id: &str, tar: Vec<u8>, path: &str) -> Result<()> {
    let opts = UploadToContainerOptionsBuilder::default().path(path).build();
    docker
        .upload_to_container(id, Some(opts), bollard::body_full(tar.into()))
        .await
        .map_err(|e| derr(&format!("upload into {path}"), e))
}

/// Download `path` from the container as a tar stream; `None` when it does not exist.
pub async fn download_tar(docker: &Docker, id: &str, path: &str) -> Result<Option<Vec<u8>>> {
    let opts = DownloadFromContainerOptionsBuilder::default().path(path).build();
    let mut stream = docker.download_from_container(id, Some(opts));
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => out.extend_from_slice(&b),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => return Ok(None),
            Err(e) => return Err(derr(&format!("download {path}"), e)),
        }
    }
    Ok(Some(out))
}

/// Run `cmd` in the container (working dir /build), sending each chunk of its combined output
/// to `sink`; returns the exit code.
pub async fn exec(docker: &Docker, id: &str, cmd: &[String], opts: &ExecOptions, sink: &mut (dyn FnMut(&[u8]) + Send)) -> Result<i64> {
    use bollard::exec::{CreateExecOptions, StartExecResults};
    let ex = docker
        .create_exec(
            id,
            CreateExecOptions::<String> {
                cmd: Some(cmd.to_vec()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                working_dir: Some(BUILD_DIR.into()),
                env: (!opts.env.is_empty()).then(|| opts.env.clone()),
                user: opts.user.clone(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| derr("create exec", e))?;
    match docker.start_exec(&ex.id, None).await.map_err(|e| derr("start exec", e))? {
        StartExecResults::Attached { mut output, .. } => {
            while let Some(item) = output.next().await {
                match item {
                    Ok(o) => sink(o.as_ref()),
                    Err(e) => return Err(derr("reading command output", e)),
                }
            }
        }
        StartExecResults::Detached => {}
    }
    let info = docker.inspect_exec(&ex.id).await.map_err(|e| derr("inspect exec", e))?;
    Ok(info.exit_code.unwrap_or(-1))
}

/// Remove a container (forced: a running one is killed). A container already gone is fine.
pub async fn remove(docker: &Docker, id: &str) -> Result<()> {
    let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    match docker.remove_container(id, Some(opts)).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, message }) if message.contains("already in progress") => {
            Ok(())
        }
        Err(e) => Err(derr(&format!("remove container {id}"), e)),
    }
}

/// A container found by its labels.
#[derive(Debug, Clone)]
pub struct Labeled {
    pub id: String,
    pub run: String,
    pub target: String,
    pub running: bool,
    pub pid: Option<i32>,
    pub host: Option<String>,
    /// Creation time (unix seconds).
    pub created: i64,
}

/// Every container carrying the run label (of any run, or of `run_id`).
pub async fn list_labeled(docker: &Docker, run_id: Option<&str>) -> Result<Vec<Labeled>> {
    let mut filters = HashMap::new();
    let label = match run_id {
        Some(r) => format!("{LABEL_RUN}={r}"),
        None => LABEL_RUN.to_string(),
    };
    filters.insert("label".to_string(), vec![label]);
    let opts = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    let list = docker.list_containers(Some(opts)).await.map_err(|e| derr("list containers", e))?;
    Ok(list
        .into_iter()
        .filter_map(|c| {
            let labels = c.labels.unwrap_or_default();
            Some(Labeled {
                id: c.id?,
                run: labels.get(LABEL_RUN).cloned().unwrap_or_default(),
                target: labels.get(LABEL_TARGET).cloned().unwrap_or_default(),
                running: matches!(
                    c.state,
                    Some(bollard::models::ContainerSummaryStateEnum::RUNNING)
                        | Some(bollard::models::ContainerSummaryStateEnum::RESTARTING)
                        | Some(bollard::models::ContainerSummaryStateEnum::PAUSED)
                ),
                pid: labels.get(LABEL_PID).and_then(|p| p.parse().ok()),
                host: labels.get(LABEL_HOST).cloned(),
                created: c.created.unwrap_or(0),
            })
        })
        .collect())
}

/// Is this container a stray of an earlier run? On this host: its driver process is gone.
/// Made elsewhere (a shared remote engine): it is not running and older than an hour (a
/// younger stopped one may be a live run's container between create and start).
pub fn is_stray(c: &Labeled, this_host: &str, now: i64) -> bool {
    match (c.pid, c.host.as_deref()) {
        (Some(pid), Some(h)) if h == this_host => pid != std::process::id() as i32 && !pid_alive(pid),
        _ => !c.running && now - c.created > 3600,
    }
}

/// Remove strays left by earlier runs; returns how many were removed.
pub async fn remove_strays(docker: &Docker) -> Result<usize> {
    let host = host_name();
    let now = chrono::Utc::now().timestamp();
    let mut n = 0;
    for c in list_labeled(docker, None).await? {
        if is_stray(&c, &host, now) {
            tracing::info!("removing stray container {} (run {}, target {})", c.id, c.run, c.target);
            remove(docker, &c.id).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// Remove every container of a run (used at the end and after Ctrl-C).
pub async fn remove_run(docker: &Docker, run_id: &str) -> Result<usize> {
    let list = list_labeled(docker, Some(run_id)).await?;
    let n = list.len();
    for c in list {
        remove(docker, &c.id).await?;
    }
    Ok(n)
}

// ------------------------------------------------------------------ engine seam

/// A tar stream to put into a container.
pub enum TarInput<'a> {
    /// An uncompressed tar file, streamed.
    File(&'a Path),
    /// Tar bytes in memory.
    Bytes(Vec<u8>),
}

/// How to run one command in a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOptions {
    /// Extra `KEY=VALUE` environment on top of the container's.
    pub env: Vec<String>,
    /// `uid:gid` (or name) to run as; `None`: the container's user.
    pub user: Option<String>,
}

/// What the farm needs from a Docker engine to run one target's container. Implemented for
/// [`bollard::Docker`]; tests use a fake engine as well, so the per-target run logic is
/// tested both ways. (Image preparation has its own seam, [`super::image::ImageEngine`].)
pub trait ContainerEngine: Sync {
    /// The architecture the engine runs on (`x86_64`, `aarch64`).
    fn arch(&self) -> impl Future<Output = Result<String>> + Send;
    /// Create (not start) a builder container; returns its id.
    fn create(&self, spec: &ContainerSpec<'_>) -> impl Future<Output = Result<String>> + Send;
    fn start(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Unpack a tar stream into `path` of the container.
    fn upload(&self, id: &str, tar: TarInput<'_>, path: &str) -> impl Future<Output = Result<()>> + Send;
    /// `path` of the container as a tar stream (in memory); `None` when it does not exist.
    fn download(&self, id: &str, path: &str) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;
    /// Run `cmd` (working dir /build), its combined output to `sink`; returns the exit code.
    fn exec(
        &self,
        id: &str,
        cmd: &[String],
        opts: &ExecOptions,
        sink: &mut (dyn FnMut(&[u8]) + Send),
    ) -> impl Future<Output = Result<i64>> + Send;
    /// Remove the container (killing it if running); gone already is fine.
    fn remove(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
}

impl ContainerEngine for Docker {
    async fn arch(&self) -> Result<String> {
        engine_arch(self).await
    }
    async fn create(&self, spec: &ContainerSpec<'_>) -> Result<String> {
        create(self, spec).await
    }
    async fn start(&self, id: &str) -> Result<()> {
        start(self, id).await
    }
    async fn upload(&self, id: &str, tar: TarInput<'_>, path: &str) -> Result<()> {
        match tar {
            TarInput::File(f) => upload_tar(self, id, f, path).await,
            TarInput::Bytes(b) => upload_bytes(self, id, b, path).await,
        }
    }
    async fn download(&self, id: &str, path: &str) -> Result<Option<Vec<u8>>> {
        download_tar(self, id, path).await
    }
    async fn exec(&self, id: &str, cmd: &[String], opts: &ExecOptions, sink: &mut (dyn FnMut(&[u8]) + Send)) -> Result<i64> {
        exec(self, id, cmd, opts, sink).await
    }
    async fn remove(&self, id: &str) -> Result<()> {
        remove(self, id).await
    }
}

/// The regular files of a tar stream: (path as in the archive, mode, bytes), in archive order.
pub fn tar_files(tar: &[u8]) -> Result<Vec<(String, u32, Vec<u8>)>> {
    use std::io::Read;
    let bad = |e: std::io::Error| Error::external(format!("docker: a download from a container: bad tar stream: {e}"));
    let mut ar = tar::Archive::new(tar);
    let mut out = Vec::new();
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let mode = entry.header().mode().unwrap_or(0o644);
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(bad)?;
        out.push((name, mode, data));
    }
    Ok(out)
}

/// Download `path` (a regular file) from the container into `dest`, keeping its mode.
/// Returns false when the path does not exist or is not a regular file.
pub async fn download_file<E: ContainerEngine>(engine: &E, id: &str, path: &str, dest: &Path) -> Result<bool> {
    let Some(tar) = engine.download(id, path).await? else {
        return Ok(false);
    };
    let Some((_, mode, data)) = tar_files(&tar)?.into_iter().next() else {
        return Ok(false);
    };
    std::fs::write(dest, &data).map_err(|e| Error::io(dest, "write", e))?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode & 0o777));
    Ok(true)
}

/// A tar of in-memory files (absolute container paths allowed: the leading `/` is dropped,
/// so the tar is uploaded into `/`).
pub fn tar_of(files: &[(String, u32, Vec<u8>)]) -> Result<Vec<u8>> {
    tar_of_owned(files, 0, 0)
}

/// [`tar_of`] with every entry owned by `uid:gid`; a path ending in `/` is a directory.
pub fn tar_of_owned(files: &[(String, u32, Vec<u8>)], uid: u64, gid: u64) -> Result<Vec<u8>> {
    let bad = |e: std::io::Error| Error::external(format!("writing a tar stream: {e}"));
    let mut b = tar::Builder::new(Vec::new());
    for (path, mode, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_mtime(0);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_entry_type(if path.ends_with('/') {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        b.append_data(&mut h, path.trim_start_matches('/'), data.as_slice()).map_err(bad)?;
    }
    b.into_inner().map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    fn lab(running: bool, pid: Option<i32>, host: Option<&str>) -> Labeled {
        Labeled {
            id: "x".into(),
            run: "r".into(),
            target: "t".into(),
            running,
            pid,
            host: host.map(str::to_string),
            created: 1000,
        }
    }
    #[test]
    fn strays() {
        // made elsewhere: only stopped and old
        assert!(is_stray(&lab(false, None, None), "h", 10_000));
        assert!(!is_stray(&lab(false, None, None), "h", 2000));
        assert!(!is_stray(&lab(true, None, None), "h", 10_000));
        assert!(!is_stray(&lab(true, Some(i32::MAX - 7), Some("other")), "h", 10_000));
        // this host: by the driver's pid
        assert!(!is_stray(&lab(true, Some(std::process::id() as i32), Some("h")), "h", 10_000));
        assert!(!is_stray(&lab(false, Some(1), Some("h")), "h", 10_000));
        assert!(is_stray(&lab(true, Some(i32::MAX - 7), Some("h")), "h", 0));
        assert!(is_stray(&lab(false, Some(i32::MAX - 7), Some("h")), "h", 0));
    }
    #[test]
    fn env_has_no_host_secrets() {
        let e = build_env(5);
        assert!(e.contains(&"SOURCE_DATE_EPOCH=5".to_string()));
        assert!(e.iter().all(|v| !v.starts_with("AWS_") && !v.starts_with("GITHUB_")));
    }
}
