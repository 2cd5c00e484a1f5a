//! A fake [`ContainerEngine`] for unit tests: containers are in-memory file systems, every
//! call is recorded, and `exec` runs a scripted function.

use super::container::{tar_files, tar_of, ContainerEngine, ContainerSpec, ExecOptions, TarInput};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A container's files: absolute path -> (mode, bytes).
pub type Files = BTreeMap<String, (u32, Vec<u8>)>;

/// What the scripted `exec` returns: (exit code, output).
pub type Script = dyn Fn(&[String], &ExecOptions, &mut Files) -> (i64, Vec<u8>) + Send + Sync;

pub struct FakeEngine {
    pub arch: String,
    pub calls: Mutex<Vec<String>>,
    pub containers: Mutex<BTreeMap<String, Files>>,
    /// Every container ever created, with its spec's essentials (image, target, limits).
    pub created: Mutex<Vec<String>>,
    pub script: Box<Script>,
}

impl FakeEngine {
    pub fn new(script: impl Fn(&[String], &ExecOptions, &mut Files) -> (i64, Vec<u8>) + Send + Sync + 'static) -> FakeEngine {
        FakeEngine {
            arch: "x86_64".into(),
            calls: Mutex::new(vec![]),
            containers: Mutex::new(BTreeMap::new()),
            created: Mutex::new(vec![]),
            script: Box::new(script),
        }
    }
    fn call(&self, c: String) {
        self.calls.lock().unwrap().push(c);
    }
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    /// Containers not removed yet.
    pub fn live(&self) -> usize {
        self.containers.lock().unwrap().len()
    }
}

fn gone(id: &str) -> Error {
    Error::external(format!("fake engine: no container {id}"))
}

impl ContainerEngine for FakeEngine {
    async fn arch(&self) -> Result<String> {
        Ok(self.arch.clone())
    }
    async fn create(&self, spec: &ContainerSpec<'_>) -> Result<String> {
        let mut c = self.containers.lock().unwrap();
        let id = format!("c{}", self.created.lock().unwrap().len());
        c.insert(id.clone(), Files::new());
        self.created
            .lock()
            .unwrap()
            .push(format!("{} {} {}", spec.image, spec.target, spec.platform));
        self.call(format!("create {id}"));
        Ok(id)
    }
    async fn start(&self, id: &str) -> Result<()> {
        self.call(format!("start {id}"));
        Ok(())
    }
    async fn upload(&self, id: &str, tar: TarInput<'_>, path: &str) -> Result<()> {
        let bytes = match tar {
            TarInput::File(f) => std::fs::read(f).map_err(|e| Error::io(f, "read", e))?,
            TarInput::Bytes(b) => b,
        };
        let files = tar_files(&bytes)?;
        self.call(format!("upload {id} {path} ({} files)", files.len()));
        let mut c = self.containers.lock().unwrap();
        let fs = c.get_mut(id).ok_or_else(|| gone(id))?;
        for (p, mode, data) in files {
            fs.insert(
                format!("{}/{}", path.trim_end_matches('/'), p.trim_start_matches("./")),
                (mode, data),
            );
        }
        Ok(())
    }
    async fn download(&self, id: &str, path: &str) -> Result<Option<Vec<u8>>> {
        self.call(format!("download {id} {path}"));
        let c = self.containers.lock().unwrap();
        let fs = c.get(id).ok_or_else(|| gone(id))?;
        let base = path.rsplit('/').next().unwrap_or(path);
        let mut found = Vec::new();
        if let Some((m, d)) = fs.get(path) {
            found.push((base.to_string(), *m, d.clone()));
        } else {
            let prefix = format!("{}/", path.trim_end_matches('/'));
            for (p, (m, d)) in fs.range(prefix.clone()..) {
                let Some(rel) = p.strip_prefix(&prefix) else { break };
                found.push((format!("{base}/{rel}"), *m, d.clone()));
            }
        }
        if found.is_empty() {
            return Ok(None);
        }
        Ok(Some(tar_of(&found)?))
    }
    async fn exec(&self, id: &str, cmd: &[String], opts: &ExecOptions, sink: &mut (dyn FnMut(&[u8]) + Send)) -> Result<i64> {
        self.call(format!("exec {id} {}", cmd.join(" ")));
        let (code, out) = {
            let mut c = self.containers.lock().unwrap();
            let fs = c.get_mut(id).ok_or_else(|| gone(id))?;
            (self.script)(cmd, opts, fs)
        };
        sink(&out);
        Ok(code)
    }
    async fn remove(&self, id: &str) -> Result<()> {
        self.call(format!("remove {id}"));
        self.containers.lock().unwrap().remove(id);
        Ok(())
    }
}
