//! `--check-reproducible`: compare the two builds of a target.

use crate::error::{Error, Result};
use crate::manifest::Artifact;
use std::collections::BTreeMap;
use std::path::Path;

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
