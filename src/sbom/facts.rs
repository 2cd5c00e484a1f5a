//! What an SBOM says about one target, gathered in its builder container after the build
//! (see [`super::hook`]): the components bundled in the source tree with the versions the tree
//! itself carries, the shared libraries the binaries link and the distro package (and exact
//! version) that provided each one, and the builder image's full package list.
//!
//! Only *where* a version is written is known to the code ([`RULES`]); the versions are read
//! from the tree, so a new jemalloc or hiredis shows up in the SBOM without a code change.

use crate::error::{Error, Result};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// File name of the facts file under `dist/facts/<target>/`.
pub const FACTS_FILE: &str = "sbom-facts.json";

/// A component bundled in the source tree (`deps/jemalloc`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    pub name: String,
    /// The version the tree carries, or `NOASSERTION` when the tree does not say.
    pub version: String,
    /// Directory in the source tree.
    pub path: String,
    /// The file the version was read from (empty when none).
    pub version_file: String,
    pub license: String,
    pub supplier: String,
    pub homepage: String,
    /// Package URL (without version when the version is unknown).
    pub purl: String,
}

/// A shared library the binaries need (ELF `DT_NEEDED`) and what provided it in the builder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Library {
    /// `libssl.so.3`.
    pub soname: String,
    /// Path it was found at in the builder (empty when not found).
    pub path: String,
    /// Distro package (`libssl3`), architecture (`amd64`), version, maintainer.
    pub package: String,
    pub arch: String,
    pub version: String,
    pub maintainer: String,
}

/// Everything the SBOM of one target's artifacts needs beyond the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub target: String,
    /// `/etc/os-release` ID and VERSION_ID of the builder (`debian`, `12`).
    pub distro_id: String,
    pub distro_version: String,
    pub components: Vec<Component>,
    pub libraries: Vec<Library>,
    /// sha256 of the builder's package list (`dpkg-query -W` lines, sorted).
    pub packages_sha256: String,
    /// `package:arch` -> version, every package installed in the builder.
    pub packages: BTreeMap<String, String>,
}

/// Where a bundled component's version is written in the tree.
pub struct Rule {
    pub name: &'static str,
    pub dir: &'static str,
    pub file: &'static str,
    /// How the version is read from `file`.
    pub read: Read,
    pub license: &'static str,
    pub supplier: &'static str,
    pub homepage: &'static str,
    /// purl without `@version`.
    pub purl: &'static str,
}

/// How a version is read from a file.
pub enum Read {
    /// The first line, with a git-describe tail (`-0-g0`) removed.
    FirstLine,
    /// The first capture group of this regex.
    Regex(&'static str),
    /// `#define <PREFIX>MAJOR n`, `MINOR`, `PATCH` joined with dots.
    MajorMinorPatch(&'static str),
}

/// Where the bundled components of a Valkey source tree carry their versions.
pub const RULES: &[Rule] = &[
    Rule {
        name: "jemalloc",
        dir: "deps/jemalloc",
        file: "deps/jemalloc/VERSION",
        read: Read::FirstLine,
        license: "BSD-2-Clause",
        supplier: "Organization: jemalloc project",
        homepage: "https://jemalloc.net/",
        purl: "pkg:github/jemalloc/jemalloc",
    },
    Rule {
        name: "lua",
        dir: "deps/lua",
        file: "deps/lua/src/lua.h",
        read: Read::Regex(r#"#define\s+LUA_RELEASE\s+"Lua ([0-9][0-9.]*)""#),
        license: "MIT",
        supplier: "Organization: Lua.org, PUC-Rio",
        homepage: "https://www.lua.org/",
        purl: "pkg:generic/lua",
    },
    Rule {
        name: "hiredis",
        dir: "deps/hiredis",
        file: "deps/hiredis/hiredis.h",
        read: Read::MajorMinorPatch("HIREDIS_"),
        license: "BSD-3-Clause",
        supplier: "Organization: Redis Ltd. (hiredis)",
        homepage: "https://github.com/redis/hiredis",
        purl: "pkg:github/redis/hiredis",
    },
    Rule {
        name: "libvalkey",
        dir: "deps/libvalkey",
        file: "deps/libvalkey/include/valkey/valkey.h",
        read: Read::MajorMinorPatch("LIBVALKEY_VERSION_"),
        license: "BSD-3-Clause",
        supplier: "Organization: Valkey",
        homepage: "https://github.com/valkey-io/libvalkey",
        purl: "pkg:github/valkey-io/libvalkey",
    },
    Rule {
        name: "fast_float",
        dir: "deps/fast_float",
        file: "deps/fast_float/fast_float.h",
        read: Read::MajorMinorPatch("FASTFLOAT_VERSION_"),
        license: "MIT",
        supplier: "Organization: fast_float authors",
        homepage: "https://github.com/fastfloat/fast_float",
        purl: "pkg:github/fastfloat/fast_float",
    },
    Rule {
        name: "hdr_histogram",
        dir: "deps/hdr_histogram",
        file: "deps/README.md",
        read: Read::Regex(r"based on master branch commit ([0-9a-f]{7,40})"),
        license: "BSD-2-Clause OR CC0-1.0",
        supplier: "Organization: HdrHistogram project",
        homepage: "https://github.com/HdrHistogram/HdrHistogram_c",
        purl: "pkg:github/hdrhistogram/hdrhistogram_c",
    },
    Rule {
        name: "linenoise",
        dir: "deps/linenoise",
        file: "deps/linenoise/linenoise.h",
        read: Read::Regex(r"linenoise\.h -- VERSION ([0-9][0-9.]*)"),
        license: "BSD-2-Clause",
        supplier: "Person: Salvatore Sanfilippo",
        homepage: "https://github.com/antirez/linenoise",
        purl: "pkg:github/antirez/linenoise",
    },
    Rule {
        name: "fpconv",
        dir: "deps/fpconv",
        file: "deps/fpconv/fpconv_dtoa.h",
        read: Read::Regex(r"VERSION ([0-9][0-9.]*)"),
        license: "BSL-1.0",
        supplier: "Organization: fpconv authors",
        homepage: "https://github.com/night-shift/fpconv",
        purl: "pkg:github/night-shift/fpconv",
    },
];

/// The files [`components`] reads (relative to the tree's top), for the hook to copy out.
pub fn tree_files() -> Vec<&'static str> {
    let mut v: Vec<&str> = RULES.iter().map(|r| r.file).collect();
    v.extend(RULES.iter().map(|r| r.dir));
    v.sort();
    v.dedup();
    v
}

fn read_version(rule: &Rule, text: &str) -> Option<String> {
    match &rule.read {
        Read::FirstLine => {
            let l = text.lines().next()?.trim();
            let l = l.strip_suffix("-0-g0").unwrap_or(l);
            (!l.is_empty()).then(|| l.to_string())
        }
        Read::Regex(re) => Regex::new(re).ok()?.captures(text).map(|c| c[1].to_string()),
        Read::MajorMinorPatch(prefix) => {
            let mut parts = Vec::new();
            for p in ["MAJOR", "MINOR", "PATCH"] {
                let re = Regex::new(&format!(r"(?m)^\s*#\s*define\s+{prefix}{p}\s+([0-9]+)")).ok()?;
                parts.push(re.captures(text)?[1].to_string());
            }
            Some(parts.join("."))
        }
    }
}

/// The bundled components of a tree. `exists(dir)` says whether a directory is in the tree;
/// `read(file)` returns a file's text when present.
pub fn components(exists: impl Fn(&str) -> bool, read: impl Fn(&str) -> Option<String>) -> Vec<Component> {
    RULES
        .iter()
        .filter(|r| exists(r.dir))
        .map(|r| {
            let version = read(r.file).and_then(|t| read_version(r, &t));
            Component {
                name: r.name.to_string(),
                version: version.clone().unwrap_or_else(|| "NOASSERTION".into()),
                path: r.dir.to_string(),
                version_file: if version.is_some() { r.file.to_string() } else { String::new() },
                license: r.license.to_string(),
                supplier: r.supplier.to_string(),
                homepage: r.homepage.to_string(),
                purl: match &version {
                    Some(v) => format!("{}@{v}", r.purl),
                    None => r.purl.to_string(),
                },
            }
        })
        .collect()
}

/// The components of a source tree on disk.
pub fn components_of_dir(tree: &std::path::Path) -> Vec<Component> {
    components(|d| tree.join(d).is_dir(), |f| std::fs::read_to_string(tree.join(f)).ok())
}

/// Parse the hook's `libs.tsv` (`soname\tpath\tpackage:arch\tversion\tmaintainer` per line;
/// empty fields when the library was not found).
pub fn parse_libs(text: &str) -> Result<Vec<Library>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 5 {
            return Err(Error::input(format!(
                "sbom facts libs.tsv line {}: expected 5 tab-separated fields, got {:?}",
                i + 1,
                line
            )));
        }
        let (package, arch) = f[2].split_once(':').unwrap_or((f[2], ""));
        out.push(Library {
            soname: f[0].into(),
            path: f[1].into(),
            package: package.into(),
            arch: arch.into(),
            version: f[3].into(),
            maintainer: f[4].into(),
        });
    }
    out.sort_by(|a, b| a.soname.cmp(&b.soname));
    Ok(out)
}

/// Parse `packages.tsv` (`package:arch\tversion` per line) into a sorted map and its digest.
pub fn parse_packages(text: &str) -> (BTreeMap<String, String>, String) {
    let map: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(p, v)| (p.trim().to_string(), v.trim().to_string()))
        .collect();
    let canonical: String = map.iter().map(|(p, v)| format!("{p}\t{v}\n")).collect();
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
    };
    (map, digest)
}

/// `ID` and `VERSION_ID` of an os-release file.
pub fn parse_os_release(text: &str) -> (String, String) {
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    (get("ID"), get("VERSION_ID"))
}

impl Facts {
    /// Read `dist/facts/<target>/sbom-facts.json`.
    pub fn load(path: &std::path::Path) -> Result<Facts> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, "read SBOM facts", e))?;
        serde_json::from_str(&text).map_err(|e| Error::input(format!("{}: invalid SBOM facts: {e}", path.display())))
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut s = serde_json::to_string_pretty(self).expect("facts serialize");
        s.push('\n');
        s.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn versions_come_from_the_tree() {
        let tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trust/tree");
        let c = components_of_dir(&tree);
        let v: BTreeMap<&str, &str> = c.iter().map(|c| (c.name.as_str(), c.version.as_str())).collect();
        assert_eq!(v["jemalloc"], "5.3.0");
        assert_eq!(v["lua"], "5.1.5");
        assert_eq!(v["hiredis"], "1.2.0");
        assert_eq!(v["linenoise"], "1.0");
        assert_eq!(v["hdr_histogram"], "e4448cf6d1cd08fff519812d3b1e58bd5a94ac42");
        assert_eq!(v["fast_float"], "NOASSERTION");
        assert!(!v.contains_key("libvalkey"), "no deps/libvalkey in this tree");
        let j = c.iter().find(|c| c.name == "jemalloc").unwrap();
        assert_eq!(j.purl, "pkg:github/jemalloc/jemalloc@5.3.0");
    }

    #[test]
    fn a_changed_version_file_changes_the_version() {
        let c = components(
            |d| d == "deps/hiredis",
            |f| {
                (f == "deps/hiredis/hiredis.h")
                    .then(|| "#define HIREDIS_MAJOR 1\n#define HIREDIS_MINOR 3\n#define HIREDIS_PATCH 7\n".into())
            },
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].version, "1.3.7");
    }

    #[test]
    fn libs_and_packages_parse() {
        let l = parse_libs("libssl.so.3\t/usr/lib/x86_64-linux-gnu/libssl.so.3\tlibssl3:amd64\t3.0.15-1~deb12u1\tDebian OpenSSL Team <x@y>\nlibfoo.so.1\t\t\t\t\n").unwrap();
        assert_eq!(l[1].package, "libssl3");
        assert_eq!(l[1].arch, "amd64");
        assert_eq!(l[0].package, "");
        assert!(parse_libs("a\tb\n").unwrap_err().to_string().contains("line 1"));
        let (m, d1) = parse_packages("b:amd64\t2\na:amd64\t1\n");
        let (_, d2) = parse_packages("a:amd64\t1\nb:amd64\t2\n");
        assert_eq!(m.len(), 2);
        assert_eq!(d1, d2, "order does not matter");
        assert_eq!(parse_os_release("ID=debian\nVERSION_ID=\"12\"\n"), ("debian".into(), "12".into()));
    }
}
