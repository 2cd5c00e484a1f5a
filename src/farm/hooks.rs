//! Post-build work inside a target's builder container.
//!
//! After a target's binaries are built and checked, the farm runs each registered
//! [`PostBuild`] hook in the *same* container (network none, same image, same build tree), so
//! that every artifact made from a target (the tarball, a .deb or .rpm, the facts an SBOM needs)
//! comes from one compile and from the same checked binaries.
//!
//! A hook is plain data in and out, so it is tested without Docker:
//! 1. [`PostBuild::job`] says what to put into the container, what to run and where the
//!    outputs will be (or `None` when the hook does not apply to this target);
//! 2. the farm copies the inputs in, runs the command (its output goes to the target's log),
//!    and reads every regular file under [`Job::output_dir`] back;
//! 3. [`PostBuild::collect`] turns those files into [`Produced`] artifacts (or facts) that the
//!    farm adds to the dist directory and the manifest.
//!
//! Adding a hook = one file implementing [`PostBuild`] + one line in [`registry`].

use crate::error::Result;
use crate::targets::Target;
use crate::version::Version;

/// What a hook knows about the target it runs for.
#[derive(Debug, Clone)]
pub struct HookContext<'a> {
    pub target: &'a Target,
    pub version: &'a Version,
    pub source_date_epoch: i64,
    /// The artifact base name (`valkey-8.1.1-bookworm-x86_64`).
    pub artifact_name: &'a str,
    /// Absolute path of the unpacked source / build tree inside the container (e.g. `/build`);
    /// the built binaries are under `<build_dir>/src/`.
    pub build_dir: &'a str,
    /// The checked binaries, by file name (`valkey-server`, ...), as they go into the tarball.
    pub binaries: &'a [(String, Vec<u8>)],
    /// The source tree's license file (`COPYING`) contents.
    pub license: &'a [u8],
}

/// A file to place in the container before the command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// Absolute path inside the container.
    pub path: String,
    pub bytes: Vec<u8>,
    /// Unix mode (0o644, 0o755).
    pub mode: u32,
}

/// One command run inside the target's container after its build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Short name for logs and progress (`deb`, `rpm`, `sbom-facts`).
    pub name: String,
    pub inputs: Vec<InputFile>,
    /// argv of the command (e.g. `["sh", "-eu", "/hooks/deb/build.sh"]`).
    pub cmd: Vec<String>,
    /// Extra `KEY=VALUE` environment (SOURCE_DATE_EPOCH is always set by the farm).
    pub env: Vec<String>,
    /// Directory inside the container whose regular files are returned to `collect`.
    pub output_dir: String,
}

/// A file a hook produced, to be written to the dist directory and listed in the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Produced {
    /// Plain file name in the dist directory (no `/`).
    pub file_name: String,
    pub bytes: Vec<u8>,
    /// The artifact kind's registered name (`deb`, `rpm`, `sbom`, ...). A kind of `facts` is
    /// not an artifact: it is kept under `dist/facts/<target>/` for later stages (SBOM).
    pub kind: String,
}

/// Work done in a target's builder container after its binaries are built and checked.
pub trait PostBuild: Send + Sync {
    /// Name used in logs and `--json` (`deb`, `rpm`, `sbom-facts`).
    fn name(&self) -> &'static str;
    /// The job to run for this target, or `None` when the hook does not apply to it.
    fn job(&self, ctx: &HookContext<'_>) -> Result<Option<Job>>;
    /// Turn the files read back from [`Job::output_dir`] (`(file name relative to it, bytes)`,
    /// sorted by name) into produced files. Errors fail the target like a failed check.
    fn collect(&self, ctx: &HookContext<'_>, outputs: Vec<(String, Vec<u8>)>) -> Result<Vec<Produced>>;
    /// Does this hook make installable packages (.deb, .rpm)? Those are left out by
    /// `build --no-packages` and `release --no-packages`.
    fn makes_packages(&self) -> bool {
        false
    }
}

/// Every post-build hook, in the order they run.
pub fn registry() -> Vec<Box<dyn PostBuild>> {
    vec![
        Box::new(crate::sbom::hook::SbomFacts),
        Box::new(crate::pkg::deb::DebHook),                // .debs (packages = ["deb"])
        Box::new(crate::pkg::rpm::RpmHook),                // .rpms (packages = ["rpm"])
        Box::new(crate::publish::modules_doc::ModulesDoc), // valkey-doc modules-api-ref.md (GA M.m.0)
    ]
}

/// The hooks a build runs (by default [`registry`]; tests give their own).
#[derive(Clone)]
pub struct Hooks(pub Vec<std::sync::Arc<dyn PostBuild>>);

impl Hooks {
    /// The registered hooks.
    pub fn registered() -> Hooks {
        Hooks(registry().into_iter().map(std::sync::Arc::from).collect())
    }
    /// No hooks at all (`build --no-hooks`): the tarball and its checksum only.
    pub fn none() -> Hooks {
        Hooks(vec![])
    }
    /// These hooks without the ones that make packages (`--no-packages`).
    pub fn without_packages(self) -> Hooks {
        Hooks(self.0.into_iter().filter(|h| !h.makes_packages()).collect())
    }
    /// The hooks' names, in the order they run.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|h| h.name()).collect()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = &std::sync::Arc<dyn PostBuild>> {
        self.0.iter()
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|h| h.name())).finish()
    }
}

/// Run one hook in the target's container `id`: put its inputs in, run its command (output
/// to the target's log), read the output directory's regular files back, `collect`.
pub(super) async fn run_one<E: super::container::ContainerEngine>(
    engine: &E,
    id: &str,
    hook: &dyn PostBuild,
    ctx: &HookContext<'_>,
    log: &mut super::log::Log,
) -> Result<Vec<Produced>> {
    use super::container::{tar_files, tar_of, ExecOptions, TarInput};
    use crate::error::Error;
    let name = hook.name();
    let Some(job) = hook.job(ctx)? else {
        log.note(&format!("hook {name}: does not apply to {}", ctx.target.name));
        return Ok(vec![]);
    };
    if !job.inputs.is_empty() {
        let files: Vec<(String, u32, Vec<u8>)> = job.inputs.iter().map(|f| (f.path.clone(), f.mode, f.bytes.clone())).collect();
        engine.upload(id, TarInput::Bytes(tar_of(&files)?), "/").await?;
    }
    let mut env = vec![format!("SOURCE_DATE_EPOCH={}", ctx.source_date_epoch)];
    env.extend(job.env.iter().cloned());
    log.note(&format!("hook {name} ({}): {}", job.name, job.cmd.join(" ")));
    // As root (with no capabilities): the hook's inputs and outputs are root's; the build tree
    // (the build user's) is readable.
    let opts = ExecOptions {
        env,
        user: Some("0:0".into()),
    };
    let code = engine.exec(id, &job.cmd, &opts, &mut |b| log.write(b)).await?;
    if code != 0 {
        return Err(Error::check(format!(
            "post-build hook {name}: `{}` exited with code {code}",
            job.cmd.join(" ")
        )));
    }
    let mut outputs: Vec<(String, Vec<u8>)> = match engine.download(id, &job.output_dir).await? {
        None => vec![],
        Some(tar) => tar_files(&tar)?
            .into_iter()
            .filter_map(|(path, _, bytes)| {
                // The archive's top entry is the output directory itself.
                let rel = path.split_once('/').map(|(_, r)| r.to_string())?;
                (!rel.is_empty()).then_some((rel, bytes))
            })
            .collect(),
    };
    outputs.sort_by(|a, b| a.0.cmp(&b.0));
    let produced = hook.collect(ctx, outputs)?;
    for p in &produced {
        let f = &p.file_name;
        if f.is_empty() || f == "." || f == ".." || f.contains('/') || f.contains('\0') {
            return Err(Error::check(format!(
                "post-build hook {name}: produced file name {f:?} is not a plain file name"
            )));
        }
        log.note(&format!(
            "hook {name}: produced {} ({}, {} bytes)",
            p.file_name,
            p.kind,
            p.bytes.len()
        ));
    }
    Ok(produced)
}
