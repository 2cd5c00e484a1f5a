//! Where two packages differ, member by member.
//!
//! A .deb is an `ar` archive (`debian-binary`, `control.tar.*`, `data.tar.*`): each `ar` member
//! is compared (bytes, mtime, mode, owner) and, for a control or data tarball whose bytes
//! differ, each file inside it, named `<ar member>: <path>`. A .rpm's files are compared from
//! its header (digest, mode, mtime, owner, link target), without unpacking the payload; when
//! every file is equal, what differs is the header itself (its build time, when that differs).
//! A published .rpm signed by the release key and an unsigned rebuilt one of the same build are
//! the same package ([`rpm_without_signatures`]).
//! Every name is prefixed with the package's file name.

use super::compare::{diff_members, Member, MemberDiff};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

fn read(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).map_err(|e| Error::io(p, "read package", e))
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The members of an `ar` archive with their header fields.
fn ar_members(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, Member>> {
    const MAGIC: &[u8] = b"!<arch>\n";
    let bad = |what: &str| Error::check(format!("{}: not a .deb ({what})", path.display()));
    if !bytes.starts_with(MAGIC) {
        return Err(bad("no '!<arch>' ar header"));
    }
    let field = |h: &[u8], r: std::ops::Range<usize>| String::from_utf8_lossy(&h[r]).trim().to_string();
    let mut out = BTreeMap::new();
    let mut at = MAGIC.len();
    while at + 60 <= bytes.len() {
        let h = &bytes[at..at + 60];
        let name = field(h, 0..16).trim_end_matches('/').to_string();
        let size: usize = field(h, 48..58).parse().map_err(|_| bad("bad ar member size"))?;
        let start = at + 60;
        let end = start
            .checked_add(size)
            .filter(|e| *e <= bytes.len())
            .ok_or_else(|| bad("an ar member runs past the end"))?;
        out.insert(
            name,
            Member {
                kind: "ar member".into(),
                mode: u32::from_str_radix(&field(h, 40..48), 8).unwrap_or(0),
                mtime: field(h, 16..28).parse().unwrap_or(0),
                owner: format!("{}:{}", field(h, 28..34), field(h, 34..40)),
                link: String::new(),
                data: bytes[start..end].to_vec(),
            },
        );
        at = end + (size % 2);
    }
    Ok(out)
}

/// Every member of two .debs that differs: `ar` members, and the files of a control or data
/// tarball whose bytes differ (`<deb>: data.tar.xz: ./usr/bin/valkey-server`).
pub fn diff_debs(published: &Path, rebuilt: &Path) -> Result<Vec<MemberDiff>> {
    let deb = file_name(published);
    let (ba, bb) = (read(published)?, read(rebuilt)?);
    let (a, b) = (ar_members(published, &ba)?, ar_members(rebuilt, &bb)?);
    let mut out = Vec::new();
    for d in diff_members(&a, &b, "") {
        let name = d.member.clone();
        let inner = match (a.get(&name), b.get(&name)) {
            (Some(ma), Some(mb)) if name.contains(".tar") && ma.data != mb.data => {
                let what = |p: &Path| format!("{}: {name} is not a readable tarball", p.display());
                let ta = crate::pkg::debfile::decompress(&name, &ma.data).map_err(|e| Error::check(format!("{}: {e}", what(published))))?;
                let tb = crate::pkg::debfile::decompress(&name, &mb.data).map_err(|e| Error::check(format!("{}: {e}", what(rebuilt))))?;
                let (fa, fb) = (
                    super::compare::tar_members(&ta[..], &what(published))?,
                    super::compare::tar_members(&tb[..], &what(rebuilt))?,
                );
                diff_members(&fa, &fb, &format!("{deb}: {name}: "))
            }
            _ => vec![],
        };
        // The ar member itself (its header fields; its bytes when no file inside says why).
        let mut what: Vec<String> = d.what.into_iter().filter(|w| w != "content" || inner.is_empty()).collect();
        if what.is_empty() && inner.is_empty() {
            what.push("content (every file inside is equal: compression or layout)".into());
        }
        if !what.is_empty() {
            out.push(MemberDiff {
                member: format!("{deb}: {name}"),
                what,
                sections: d.sections,
            });
        }
        out.extend(inner);
    }
    Ok(out)
}

/// The bytes of a .rpm without its signatures. The release signs its .rpms with the release
/// key after the build (`sign`); a rebuild's are unsigned: the two are the same build when
/// these bytes are equal (header, payload and the digests of both).
pub fn rpm_without_signatures(path: &Path) -> Result<Vec<u8>> {
    let bad = |e: rpm::Error| Error::check(format!("{}: not a readable .rpm: {e}", path.display()));
    let mut pkg = rpm::Package::open(path).map_err(bad)?;
    pkg.clear_signatures().map_err(bad)?;
    let mut out = Vec::new();
    pkg.write(&mut out).map_err(bad)?;
    Ok(out)
}

/// The files of a .rpm from its header (digest in place of the bytes), and its build time.
fn rpm_files(path: &Path) -> Result<(BTreeMap<String, Member>, u64)> {
    let bad = |e: rpm::Error| Error::check(format!("{}: not a readable .rpm: {e}", path.display()));
    let mut r = std::io::BufReader::new(std::fs::File::open(path).map_err(|e| Error::io(path, "open package", e))?);
    let meta = rpm::PackageMetadata::parse(&mut r).map_err(bad)?;
    let mut out = BTreeMap::new();
    for f in meta.get_file_entries().map_err(bad)? {
        out.insert(
            f.path().to_string_lossy().into_owned(),
            Member {
                kind: format!("{:?}", f.file_type()),
                mode: u32::from(f.permissions()),
                mtime: u64::from(u32::from(f.modified_at())),
                owner: format!("{}:{}", f.user(), f.group()),
                link: f.linkto().unwrap_or_default().to_string(),
                data: f.digest().map(|d| d.to_string().into_bytes()).unwrap_or_default(),
            },
        );
    }
    Ok((out, meta.get_build_time().unwrap_or(0)))
}

/// Every file of two .rpms that differs (`<rpm>: /usr/bin/valkey-server`), or, when they all
/// are equal, the header (`<rpm>: (header)`, with the build times when they differ).
pub fn diff_rpms(published: &Path, rebuilt: &Path) -> Result<Vec<MemberDiff>> {
    let rpm = file_name(published);
    let ((a, ta), (b, tb)) = (rpm_files(published)?, rpm_files(rebuilt)?);
    let mut out = diff_members(&a, &b, &format!("{rpm}: "));
    if out.is_empty() {
        let mut what = vec!["header or payload (every file's digest, mode, mtime and owner are equal)".to_string()];
        if ta != tb {
            what.insert(0, format!("build time {ta} -> {tb}"));
        }
        out.push(MemberDiff {
            member: format!("{rpm}: (header)"),
            what,
            sections: vec![],
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A .deb-like ar archive: `debian-binary`, and a `data.tar.gz` of `files` (mtime `mtime`).
    fn deb(path: &Path, mtime: u64, files: &[(&str, &[u8])]) {
        let mut tb = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            h.set_mtime(mtime);
            h.set_cksum();
            tb.append_data(&mut h, name, *data).unwrap();
        }
        let data = tb.into_inner().unwrap().finish().unwrap();
        let mut out = b"!<arch>\n".to_vec();
        for (name, bytes) in [("debian-binary", b"2.0\n".to_vec()), ("data.tar.gz", data)] {
            out.extend(format!("{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", name, mtime, 0, 0, "100644", bytes.len()).as_bytes());
            out.extend(&bytes);
            if bytes.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        std::fs::write(path, out).unwrap();
    }

    #[test]
    fn deb_differences_name_the_ar_member_and_the_file_inside() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("p/v_1_amd64.deb"), d.path().join("r/v_1_amd64.deb"));
        std::fs::create_dir_all(a.parent().unwrap()).unwrap();
        std::fs::create_dir_all(b.parent().unwrap()).unwrap();
        deb(&a, 100, &[("./usr/bin/x", b"one"), ("./usr/share/doc", b"d")]);
        deb(&b, 100, &[("./usr/bin/x", b"two"), ("./usr/share/doc", b"d")]);
        let got: Vec<(String, Vec<String>)> = diff_debs(&a, &b).unwrap().into_iter().map(|m| (m.member, m.what)).collect();
        assert_eq!(
            got,
            vec![("v_1_amd64.deb: data.tar.gz: usr/bin/x".to_string(), vec!["content".to_string()])]
        );

        // Another epoch: the ar members' and every file's mtime, with both times.
        deb(&b, 200, &[("./usr/bin/x", b"one"), ("./usr/share/doc", b"d")]);
        let got: Vec<(String, Vec<String>)> = diff_debs(&a, &b).unwrap().into_iter().map(|m| (m.member, m.what)).collect();
        assert_eq!(
            got,
            vec![
                ("v_1_amd64.deb: data.tar.gz".to_string(), vec!["mtime 100 -> 200".to_string()]),
                (
                    "v_1_amd64.deb: data.tar.gz: usr/bin/x".to_string(),
                    vec!["mtime 100 -> 200".to_string()]
                ),
                (
                    "v_1_amd64.deb: data.tar.gz: usr/share/doc".to_string(),
                    vec!["mtime 100 -> 200".to_string()]
                ),
                ("v_1_amd64.deb: debian-binary".to_string(), vec!["mtime 100 -> 200".to_string()]),
            ]
        );
        assert!(diff_debs(&a, &a).unwrap().is_empty());
    }

    /// A .rpm of `files` (each with mtime 100) built at `built`.
    fn rpm(path: &Path, built: u32, files: &[(&str, &[u8])]) {
        let mut b = rpm::PackageBuilder::new("v", "1", "BSD-3-Clause", "x86_64", "fixture");
        b.using_config(
            rpm::BuildConfig::default()
                .source_date(built)
                .compression(rpm::CompressionType::None),
        );
        for (name, data) in files {
            b.with_file_contents(data.to_vec(), rpm::FileOptions::new(*name).modified_at(100.into()))
                .unwrap();
        }
        let mut out = Vec::new();
        b.build().unwrap().write(&mut out).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, out).unwrap();
    }

    #[test]
    fn rpm_differences_name_the_file_or_else_the_header_and_its_build_time() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("p/v-1.x86_64.rpm"), d.path().join("r/v-1.x86_64.rpm"));
        let what = |a: &Path, b: &Path| -> Vec<(String, Vec<String>)> {
            diff_rpms(a, b).unwrap().into_iter().map(|m| (m.member, m.what)).collect()
        };
        rpm(&a, 1000, &[("/usr/bin/x", b"one"), ("/etc/v.conf", b"c")]);
        // A file's bytes differ: that file, by its digest.
        rpm(&b, 1000, &[("/usr/bin/x", b"two"), ("/etc/v.conf", b"c")]);
        assert_eq!(
            what(&a, &b),
            vec![("v-1.x86_64.rpm: /usr/bin/x".to_string(), vec!["content".to_string()])]
        );
        // A file only in the rebuilt package.
        rpm(&b, 1000, &[("/usr/bin/x", b"one"), ("/etc/v.conf", b"c"), ("/usr/bin/y", b"y")]);
        assert_eq!(
            what(&a, &b),
            vec![("v-1.x86_64.rpm: /usr/bin/y".to_string(), vec!["only in rebuilt".to_string()])]
        );
        // The same files, another build time: the header, with both times.
        rpm(&b, 2000, &[("/usr/bin/x", b"one"), ("/etc/v.conf", b"c")]);
        let got = what(&a, &b);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, "v-1.x86_64.rpm: (header)");
        assert_eq!(got[0].1[0], "build time 1000 -> 2000", "{got:?}");
        // Not a package: a clear error naming the file.
        std::fs::write(&b, b"not an rpm").unwrap();
        let e = diff_rpms(&a, &b).unwrap_err().to_string();
        assert!(e.contains(&b.display().to_string()) && e.contains("not a readable .rpm"), "{e}");
    }
}
