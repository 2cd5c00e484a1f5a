//! Where two artifacts differ: which members (content, mode, mtime, owner, link, or present in
//! only one), and for an ELF member which sections. Tarballs here; .debs and .rpms in
//! [`super::packages`].

use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// One member of a tarball.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) kind: String,
    pub(crate) mode: u32,
    pub(crate) mtime: u64,
    pub(crate) owner: String,
    pub(crate) link: String,
    /// The bytes (for a .rpm's file: its digest, the payload is not unpacked).
    pub(crate) data: Vec<u8>,
}

/// A member that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberDiff {
    /// Path inside the tarball; in a package, `<package file>: <ar member>[: <path>]`
    /// (`valkey-server_8.1.1-1.bookworm_amd64.deb: data.tar.xz: ./usr/bin/valkey-server`).
    pub member: String,
    /// What differs: `content`, `mode A -> B`, `mtime A -> B`, `owner A -> B`, `type`, `link`,
    /// `only in published`, `only in rebuilt`.
    pub what: Vec<String>,
    /// For an ELF member whose content differs: the sections that differ (`.text`, ...), with
    /// `(only in published)` / `(only in rebuilt)` marks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<String>,
}

fn read_members(path: &Path) -> Result<BTreeMap<String, Member>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, "open tarball", e))?;
    tar_members(
        flate2::read::GzDecoder::new(f),
        &format!("{}: not a readable tar.gz", path.display()),
    )
}

/// The members of a tar stream by path; `what` names it in errors.
pub(crate) fn tar_members(r: impl Read, what: &str) -> Result<BTreeMap<String, Member>> {
    let mut ar = tar::Archive::new(r);
    let mut out = BTreeMap::new();
    let bad = |e: std::io::Error| Error::check(format!("{what}: {e}"));
    for e in ar.entries().map_err(bad)? {
        let mut e = e.map_err(bad)?;
        let h = e.header().clone();
        let name = e.path().map_err(bad)?.to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).map_err(bad)?;
        let link = e
            .link_name()
            .map_err(bad)?
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.insert(
            name,
            Member {
                kind: format!("{:?}", h.entry_type()),
                mode: h.mode().unwrap_or(0),
                mtime: h.mtime().unwrap_or(0),
                owner: format!(
                    "{}:{} {}:{}",
                    h.uid().unwrap_or(0),
                    h.gid().unwrap_or(0),
                    h.username().ok().flatten().unwrap_or(""),
                    h.groupname().ok().flatten().unwrap_or("")
                ),
                link,
                data,
            },
        );
    }
    // A hard link carries no bytes of its own: compare the bytes of the file it links to.
    let links: Vec<(String, String)> = out
        .iter()
        .filter(|(_, m)| m.kind == "Link")
        .map(|(n, m)| (n.clone(), m.link.clone()))
        .collect();
    for (n, target) in links {
        if let Some(data) = out.get(&target).map(|t| t.data.clone()) {
            out.get_mut(&n).expect("listed").data = data;
        }
    }
    Ok(out)
}

/// The sections of two ELF files that differ (by name), or `None` if either is not ELF.
pub fn elf_sections_differ(a: &[u8], b: &[u8]) -> Option<Vec<String>> {
    use object::{Object, ObjectSection};
    let fa = object::File::parse(a).ok()?;
    let fb = object::File::parse(b).ok()?;
    let map = |f: &object::File| -> BTreeMap<String, Vec<u8>> {
        f.sections()
            .filter_map(|s| {
                let name = s.name().ok()?.to_string();
                let data = s.data().map(|d| d.to_vec()).unwrap_or_default();
                Some((name, data))
            })
            .collect()
    };
    let (sa, sb) = (map(&fa), map(&fb));
    let mut out = Vec::new();
    for (n, d) in &sa {
        match sb.get(n) {
            None => out.push(format!("{n} (only in published)")),
            Some(e) if e != d => out.push(n.clone()),
            _ => {}
        }
    }
    out.extend(sb.keys().filter(|n| !sa.contains_key(*n)).map(|n| format!("{n} (only in rebuilt)")));
    if out.is_empty() {
        out.push("(headers only: every section's bytes are equal)".into());
    }
    Some(out)
}

/// Every member that differs between the published and the rebuilt tarball.
pub fn diff_tarballs(published: &Path, rebuilt: &Path) -> Result<Vec<MemberDiff>> {
    Ok(diff_members(&read_members(published)?, &read_members(rebuilt)?, ""))
}

/// Where two artifacts differ, member by member: a tarball's members, a .deb's `ar` members
/// and the files of its control and data tarballs, a .rpm's files (see [`super::packages`]).
pub fn diff_artifacts(published: &Path, rebuilt: &Path) -> Result<Vec<MemberDiff>> {
    let name = published.to_string_lossy();
    if name.ends_with(".deb") {
        super::packages::diff_debs(published, rebuilt)
    } else if name.ends_with(".rpm") {
        super::packages::diff_rpms(published, rebuilt)
    } else {
        diff_tarballs(published, rebuilt)
    }
}

/// The members of `a` (published) and `b` (rebuilt) that differ, each named `<prefix><path>`.
/// A differing mtime says both times (`mtime 1735689600 -> 1735776000`): with the epoch
/// changed, that is the epoch each build stamped.
pub(crate) fn diff_members(a: &BTreeMap<String, Member>, b: &BTreeMap<String, Member>, prefix: &str) -> Vec<MemberDiff> {
    let mut out = Vec::new();
    for (name, ma) in a {
        let Some(mb) = b.get(name) else {
            out.push(MemberDiff {
                member: format!("{prefix}{name}"),
                what: vec!["only in published".into()],
                sections: vec![],
            });
            continue;
        };
        let mut what = Vec::new();
        let mut sections = Vec::new();
        if ma.kind != mb.kind {
            what.push("type".into());
        }
        if ma.data != mb.data {
            what.push("content".into());
            sections = elf_sections_differ(&ma.data, &mb.data).unwrap_or_default();
        }
        if ma.mode != mb.mode {
            what.push(format!("mode {:o} -> {:o}", ma.mode, mb.mode));
        }
        if ma.mtime != mb.mtime {
            what.push(format!("mtime {} -> {}", ma.mtime, mb.mtime));
        }
        if ma.owner != mb.owner {
            what.push(format!("owner {} -> {}", ma.owner, mb.owner));
        }
        if ma.link != mb.link {
            what.push("link".into());
        }
        if !what.is_empty() {
            out.push(MemberDiff {
                member: format!("{prefix}{name}"),
                what,
                sections,
            });
        }
    }
    for name in b.keys().filter(|n| !a.contains_key(*n)) {
        out.push(MemberDiff {
            member: format!("{prefix}{name}"),
            what: vec!["only in rebuilt".into()],
            sections: vec![],
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(path: &Path, files: &[(&str, &[u8], u32, u64)]) {
        let f = std::fs::File::create(path).unwrap();
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(f, flate2::Compression::default()));
        for (name, data, mode, mtime) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(*mode);
            h.set_mtime(*mtime);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }

    #[test]
    fn names_members_by_what_differs() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a.tar.gz"), d.path().join("b.tar.gz"));
        tarball(
            &a,
            &[
                ("v/bin/x", b"one", 0o755, 5),
                ("v/share/LICENSE", b"L", 0o644, 5),
                ("v/gone", b"g", 0o644, 5),
            ],
        );
        tarball(
            &b,
            &[
                ("v/bin/x", b"two", 0o755, 5),
                ("v/share/LICENSE", b"L", 0o644, 6),
                ("v/new", b"n", 0o644, 5),
            ],
        );
        let diffs = diff_tarballs(&a, &b).unwrap();
        let got: Vec<(String, Vec<String>)> = diffs.into_iter().map(|m| (m.member, m.what)).collect();
        assert_eq!(
            got,
            vec![
                ("v/bin/x".to_string(), vec!["content".to_string()]),
                ("v/gone".to_string(), vec!["only in published".to_string()]),
                ("v/share/LICENSE".to_string(), vec!["mtime 5 -> 6".to_string()]),
                ("v/new".to_string(), vec!["only in rebuilt".to_string()]),
            ]
        );
        assert!(diff_tarballs(&a, &a).unwrap().is_empty());
        assert_eq!(elf_sections_differ(b"not elf", b"not elf"), None);
    }
}
