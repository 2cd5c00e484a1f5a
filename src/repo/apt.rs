//! A flat apt repository per platform and architecture:
//! `packaging/valkey-<M.m>/deb/<platform>/<arch>/` holding the .debs, `Packages`, `Packages.gz`,
//! `Release`, `Release.gpg` and `InRelease` (the keys Valkey's packages use today).
//!
//! Users' sources line (docs/packages.md):
//! `deb [signed-by=/usr/share/keyrings/valkey.asc] https://download.valkey.io/packaging/valkey-8.1/deb/debian12/amd64 ./`
//!
//! The index is *merged*: the entries already published (read from the store's `Packages`) stay,
//! so every patch version of `M.m` remains installable and pinnable; a .deb whose
//! (package, version, architecture) is already indexed with other bytes is refused.

use crate::error::{Error, Result};
use crate::pkg::debfile;
use crate::sign::SigningKey;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;

/// What identifies a repository (for the Release file).
#[derive(Debug, Clone)]
pub struct AptMeta {
    /// `8.1`
    pub minor: String,
    /// `debian12`
    pub platform: String,
    /// `bookworm`
    pub codename: String,
    /// Debian architecture of the repository (`amd64`, `arm64`); `all` packages are indexed too.
    pub arch: String,
    /// RFC 2822 date of the index (from SOURCE_DATE_EPOCH or now).
    pub date: String,
}

/// The `Packages` index: one paragraph per (package, version, architecture).
#[derive(Debug, Clone, Default)]
pub struct AptIndex {
    entries: BTreeMap<(String, String, String), String>,
}

/// Split a `Packages` file into paragraphs.
fn paragraphs(text: &str) -> impl Iterator<Item = &str> {
    text.split("\n\n").map(|p| p.trim_matches('\n')).filter(|p| !p.is_empty())
}

fn key_of(paragraph: &str, what: &str) -> Result<(String, String, String)> {
    let get = |f: &str| {
        debfile::field(paragraph, f)
            .map(str::to_string)
            .ok_or_else(|| Error::input(format!("{what}: a paragraph has no {f} field")))
    };
    Ok((get("Package")?, get("Version")?, get("Architecture")?))
}

impl AptIndex {
    /// Parse a published `Packages` file (`what` names it for errors).
    pub fn parse(text: &str, what: &str) -> Result<AptIndex> {
        let mut idx = AptIndex::default();
        for p in paragraphs(text) {
            let key = key_of(p, what)?;
            idx.entries.insert(key, p.to_string());
        }
        Ok(idx)
    }

    /// Number of packages indexed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Is the index empty?
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `(package, version, architecture)` of every entry, sorted.
    pub fn keys(&self) -> Vec<(String, String, String)> {
        self.entries.keys().cloned().collect()
    }

    /// The `Filename` of every entry.
    pub fn file_names(&self) -> Vec<String> {
        self.entries
            .values()
            .filter_map(|p| debfile::field(p, "Filename").map(|f| f.trim_start_matches("./").to_string()))
            .collect()
    }

    /// Add a .deb (its file name in the repository directory). Adding the same bytes again is a
    /// no-op; other bytes under an indexed (package, version, arch) are refused (exit 4).
    /// Returns whether the entry is new.
    pub fn add_deb(&mut self, file_name: &str, bytes: &[u8]) -> Result<bool> {
        let control = debfile::control(bytes).map_err(|e| e.context(file_name))?;
        let control = control.trim_end_matches('\n');
        let key = key_of(control, file_name)?;
        let sha = hex::encode(Sha256::digest(bytes));
        if let Some(old) = self.entries.get(&key) {
            if debfile::field(old, "SHA256") == Some(sha.as_str()) {
                return Ok(false);
            }
            return Err(Error::refused(format!(
                "{file_name}: {} {} ({}) is already published with other bytes (SHA256 {}); a published \
                 package is never replaced: raise the package revision instead",
                key.0,
                key.1,
                key.2,
                debfile::field(old, "SHA256").unwrap_or("?")
            )));
        }
        let md5 = hex::encode(md5_digest(bytes));
        let entry = format!(
            "{control}\nFilename: ./{file_name}\nSize: {}\nMD5sum: {md5}\nSHA256: {sha}",
            bytes.len()
        );
        self.entries.insert(key, entry);
        Ok(true)
    }

    /// The `Packages` file: paragraphs sorted by (package, version, arch), blank-line separated.
    pub fn packages_text(&self) -> String {
        let mut s = String::new();
        for p in self.entries.values() {
            s.push_str(p);
            s.push_str("\n\n");
        }
        s
    }
}

/// MD5 for the `MD5sum`/`MD5Sum` fields apt still reads (not for trust: SHA256 is checked).
fn md5_digest(bytes: &[u8]) -> [u8; 16] {
    use md5::Digest as _;
    md5::Md5::digest(bytes).into()
}

/// `Packages.gz`: gzip with no name and mtime 0 (same index -> same bytes).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).expect("gzip to memory");
    e.finish().expect("gzip to memory")
}

/// The `Release` file of a flat repository. `Suite` and `Codename` both name the repository
/// (`valkey-8.1-debian12`), so apt has nothing to call a "Conflicting distribution"; the sources
/// line names the directory with `./`.
pub fn release_text(meta: &AptMeta, files: &[(&str, &[u8])]) -> String {
    let name = format!("valkey-{}-{}", meta.minor, meta.platform);
    let mut s = format!(
        "Origin: Valkey\nLabel: Valkey\nSuite: {name}\nCodename: {name}\nVersion: {}\nDate: {}\n\
         Architectures: {} all\nDescription: Valkey {} packages for {} ({}) {}\n",
        meta.minor, meta.date, meta.arch, meta.minor, meta.platform, meta.codename, meta.arch
    );
    s.push_str("MD5Sum:\n");
    for (n, b) in files {
        s.push_str(&format!(" {} {:>16} {n}\n", hex::encode(md5_digest(b)), b.len()));
    }
    s.push_str("SHA256:\n");
    for (n, b) in files {
        s.push_str(&format!(" {} {:>16} {n}\n", hex::encode(Sha256::digest(b)), b.len()));
    }
    s
}

/// The index files of an apt repository, in the order they are written (after the packages).
#[derive(Debug, Clone)]
pub struct AptIndexFiles {
    pub files: Vec<(String, Vec<u8>)>,
}

/// Make `Packages`, `Packages.gz`, `Release`, `Release.gpg`, `InRelease` for an index.
pub fn index_files(index: &AptIndex, meta: &AptMeta, key: &SigningKey) -> Result<AptIndexFiles> {
    let packages = index.packages_text().into_bytes();
    let packages_gz = gzip(&packages);
    let release = release_text(meta, &[("Packages", &packages), ("Packages.gz", &packages_gz)]);
    let release_gpg = key.detached_armored(release.as_bytes())?;
    let inrelease = key.clearsign(&release)?;
    Ok(AptIndexFiles {
        files: vec![
            ("Packages".into(), packages),
            ("Packages.gz".into(), packages_gz),
            ("Release".into(), release.into_bytes()),
            ("Release.gpg".into(), release_gpg.into_bytes()),
            ("InRelease".into(), inrelease.into_bytes()),
        ],
    })
}

/// The index files of an apt repository, in write order.
pub const INDEX_FILES: [&str; 5] = ["Packages", "Packages.gz", "Release", "Release.gpg", "InRelease"];

/// Check an apt repository's index files (`get` reads one by name): `Release.gpg` and
/// `InRelease` verify with the key and agree with `Release`; `Packages`/`Packages.gz` match
/// the Release hashes. Returns every package `Packages` lists: (file name, SHA256).
pub fn verify_index(get: &dyn Fn(&str) -> Result<Vec<u8>>, public_armored: &str, what: &str) -> Result<Vec<(String, String)>> {
    let release = get("Release")?;
    crate::sign::verify_detached(public_armored, &release, &get("Release.gpg")?).map_err(|e| e.context(format!("{what}/Release.gpg")))?;
    let inrelease = String::from_utf8_lossy(&get("InRelease")?).to_string();
    let signed = crate::sign::verify_clearsigned(public_armored, &inrelease).map_err(|e| e.context(format!("{what}/InRelease")))?;
    if signed.trim_end() != String::from_utf8_lossy(&release).trim_end() {
        return Err(Error::check(format!("{what}: InRelease does not carry the same text as Release")));
    }
    let release = String::from_utf8_lossy(&release).to_string();
    let mut in_sha = false;
    for line in release.lines() {
        if !line.starts_with(' ') {
            in_sha = line == "SHA256:";
            continue;
        }
        if in_sha {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() == 3 && hex::encode(Sha256::digest(get(f[2])?)) != f[0] {
                return Err(Error::check(format!("{what}: {} does not match its SHA256 in Release", f[2])));
            }
        }
    }
    let packages = String::from_utf8_lossy(&get("Packages")?).to_string();
    let mut out = Vec::new();
    for p in paragraphs(&packages) {
        let file = debfile::field(p, "Filename").unwrap_or_default().trim_start_matches("./");
        let sha = debfile::field(p, "SHA256").unwrap_or_default();
        if file.is_empty() || sha.is_empty() {
            return Err(Error::check(format!("{what}/Packages: an entry has no Filename or SHA256")));
        }
        out.push((file.to_string(), sha.to_string()));
    }
    Ok(out)
}

/// The apt format: flat repositories per platform and architecture.
pub struct Apt;

impl super::Format for Apt {
    fn name(&self) -> &'static str {
        "apt"
    }
    fn package_kind(&self) -> &'static str {
        crate::artifact::Kind::name(&crate::artifact::deb::Deb)
    }
    fn plan(&self, packages: &[std::path::PathBuf], date: &str) -> Result<Vec<Box<dyn super::Repository>>> {
        Ok(super::dir::plan_apt(packages, date)?
            .into_iter()
            .map(|u| Box::new(u) as Box<dyn super::Repository>)
            .collect())
    }
}

impl super::Repository for super::dir::AptUpdate {
    fn key(&self) -> &str {
        &self.key
    }
    fn packages(&self) -> &[std::path::PathBuf] {
        &self.debs
    }
    fn wanted(&self, have: &super::Have, all: bool) -> Vec<String> {
        let names: &[&str] = if all { &INDEX_FILES } else { &INDEX_FILES[..1] };
        names.iter().filter(|n| !have.contains_key(**n)).map(|n| n.to_string()).collect()
    }
    fn merge(&self, have: &super::Have, packages: &[(String, Vec<u8>)], key: &SigningKey) -> Result<super::Merged> {
        let mut index = match have.get("Packages").and_then(|b| b.as_ref()) {
            Some(b) => AptIndex::parse(&String::from_utf8_lossy(b), &format!("{}/Packages", self.key))?,
            None => AptIndex::default(),
        };
        let mut m = super::Merged::default();
        for (name, bytes) in packages {
            if index.add_deb(name, bytes)? {
                m.added.push(name.clone());
            } else {
                m.already.push(name.clone());
            }
        }
        m.index = index_files(&index, &self.meta, key)?.files;
        m.indexed = index.keys().into_iter().map(|(p, v, a)| format!("{p} {v} {a}")).collect();
        Ok(m)
    }
    fn verify(&self, files: &std::collections::BTreeMap<String, Vec<u8>>, public_armored: &str) -> Result<Vec<(String, String)>> {
        let get = |n: &str| {
            files
                .get(n)
                .cloned()
                .ok_or_else(|| Error::check(format!("{}/{n}: missing from the repository", self.key)))
        };
        verify_index(&get, public_armored, &self.key)
    }
}
