//! `--check-reproducible`: compare the two builds of a target.

use crate::error::{Error, Result};
use crate::manifest::Artifact;
use std::collections::BTreeMap;
use std::path::Path;

/// What the second build of `--check-reproducible` changes, so that a build depending on the
/// host (its name, CPUs, parallelism, umask, user) is caught. The build path, SOURCE_DATE_EPOCH,
/// TZ, locale and image stay: the farm pins those for every build, so no rebuild differs in them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variation {
    pub hostname: Option<String>,
    pub cpuset: Option<String>,
    pub make_jobs: Option<usize>,
    pub umask: Option<&'static str>,
    /// Another build user (uid:gid), unless the builder builds as root.
    pub user: Option<String>,
}

/// Varied builds taken so far: each gets the next CPU of its engine, so varied builds running at
/// once do not all share CPU 0.
static NEXT_CPU: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Variation {
    /// The variation of a second build after a first with `make_jobs` and `user`, on an engine
    /// with `engine_cpus` CPUs: one CPU (the next one, round robin), so `nproc` says 1.
    pub fn second(make_jobs: usize, user: Option<&str>, engine_cpus: i64) -> Variation {
        let n = NEXT_CPU.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cpu = n % usize::try_from(engine_cpus).unwrap_or(1).max(1);
        Variation {
            hostname: Some(format!("rebuild-{}", &super::signal::random_token()[..8])),
            cpuset: Some(cpu.to_string()),
            make_jobs: Some(if make_jobs > 1 { 1 } else { 2 }),
            umask: Some("0002"),
            user: user.map(|_| "1001:1001".to_string()),
        }
    }

    /// What was varied, for the log and the report.
    pub fn describe(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(h) = &self.hostname {
            v.push(format!("hostname {h}"));
        }
        if let Some(c) = &self.cpuset {
            v.push(format!("cpuset {c}"));
        }
        if let Some(j) = self.make_jobs {
            v.push(format!("make -j{j}"));
        }
        if let Some(u) = self.umask {
            v.push(format!("umask {u}"));
        }
        if let Some(u) = &self.user {
            v.push(format!("user {u}"));
        }
        v
    }
}

/// What differs between two builds: nothing when the tarballs are identical, else the files
/// of the trees that differ (or the tarball itself when the trees agree).
pub(super) fn compare(a: &Artifact, b: &Artifact, tree_a: &Path, tree_b: &Path) -> Result<Vec<String>> {
    if a.sha256 == b.sha256 {
        return Ok(vec![]);
    }
    let diffs = diff_trees(tree_a, tree_b)?;
    Ok(if diffs.is_empty() { vec![a.file.clone()] } else { diffs })
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
}
