//! SBOMs: one SPDX 2.3 JSON document per artifact (`<artifact>.spdx.json`), published beside it.
//!
//! A document describes the artifact file (its name and sha256), which CONTAINS valkey itself
//! (version, source download location and digest, license), which CONTAINS every component
//! bundled in the source tree (versions read from the tree) and has a DYNAMIC_LINK to every
//! shared library its binaries need, each with the distro package and exact version that
//! provided it in the builder image. Everything but the manifest comes from the target's
//! [`facts::Facts`], gathered in its builder container by the [`hook::SbomFacts`] post-build hook.
//!
//! Reproducible: `created` is SOURCE_DATE_EPOCH, SPDX ids derive from names, and the document
//! namespace from the artifact's public URL and digest, so the same inputs give the same bytes.

pub mod facts;
pub mod hook;

use crate::artifact::Kind as _;
use crate::error::{Error, Result};
use crate::manifest::SourceInfo;
use facts::Facts;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Suffix of an SBOM file: `<artifact>.spdx.json`.
pub const SUFFIX: &str = ".spdx.json";

/// The artifact an SBOM describes and the release it belongs to.
#[derive(Debug, Clone)]
pub struct SbomInput<'a> {
    pub version: &'a str,
    pub source: &'a SourceInfo,
    pub source_date_epoch: i64,
    /// Artifact file name and its sha256.
    pub artifact_file: &'a str,
    pub artifact_sha256: &'a str,
    /// Where the artifact is below `public_url`: its object key below the release prefix
    /// (`deb/valkey-server_8.1.1-1.bookworm_amd64.deb` for a package, the file name for a tarball).
    pub artifact_key: &'a str,
    /// Public base URL artifacts are served at (`https://download.valkey.io/releases/`).
    pub public_url: &'a str,
    pub facts: &'a Facts,
}

/// An SPDX id from a name: letters, digits, `.` and `-` only.
pub fn spdx_id(kind: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-{kind}-{clean}")
}

/// RFC 3339 UTC time of a Unix timestamp, as SPDX wants it (`2025-05-01T12:00:00Z`).
pub fn spdx_time(epoch: i64) -> Result<String> {
    chrono::DateTime::from_timestamp(epoch, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .ok_or_else(|| Error::input(format!("SOURCE_DATE_EPOCH {epoch} is not a valid time")))
}

fn purl_ref(purl: &str) -> Value {
    json!([{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}])
}

/// The purl of a Debian/Ubuntu package.
pub fn deb_purl(distro_id: &str, distro_version: &str, package: &str, version: &str, arch: &str) -> String {
    let ns = if distro_id.is_empty() { "debian" } else { distro_id };
    let v = version.replace('+', "%2B").replace(':', "%3A");
    let mut q = vec![];
    if !arch.is_empty() {
        q.push(format!("arch={arch}"));
    }
    if !distro_version.is_empty() {
        q.push(format!("distro={ns}-{distro_version}"));
    }
    format!("pkg:deb/{ns}/{package}@{v}{}{}", if q.is_empty() { "" } else { "?" }, q.join("&"))
}

/// `(package, version, arch)` of a Debian package file name `<package>_<version>_<arch>.deb`.
pub fn deb_file_parts(file: &str) -> Option<(&str, &str, &str)> {
    let stem = file.strip_suffix(".deb")?;
    let mut it = stem.splitn(3, '_');
    let (p, v, a) = (it.next()?, it.next()?, it.next()?);
    (!p.is_empty() && !v.is_empty() && !a.is_empty() && !a.contains('_')).then_some((p, v, a))
}

/// `(name, version, release, arch)` of an RPM file name `<name>-<version>-<release>.<arch>.rpm`
/// (`valkey-compat-redis-8.1.1-1.1.el9.noarch.rpm`: the name may hold `-`, version and release
/// may not).
pub fn rpm_file_parts(file: &str) -> Option<(&str, &str, &str, &str)> {
    let stem = file.strip_suffix(".rpm")?;
    let (nvr, arch) = stem.rsplit_once('.')?;
    let (nv, release) = nvr.rsplit_once('-')?;
    let (name, version) = nv.rsplit_once('-')?;
    [name, version, release, arch]
        .iter()
        .all(|p| !p.is_empty())
        .then_some((name, version, release, arch))
}

/// The purl of an RPM package (purl spec, type `rpm`): `pkg:rpm/<vendor>/<name>@<version>-<release>`
/// with `arch=` and, when known, `distro=<vendor>-<version>`; the vendor is the builder's
/// `/etc/os-release` ID (`ol`, `rocky`, `opensuse-leap`), as `debian` is for a .deb.
pub fn rpm_purl(vendor: &str, distro_version: &str, name: &str, version: &str, release: &str, arch: &str) -> String {
    let enc = |s: &str| s.replace('%', "%25").replace('+', "%2B").replace(':', "%3A");
    let mut q = vec![];
    if !arch.is_empty() {
        q.push(format!("arch={arch}"));
    }
    if !distro_version.is_empty() {
        q.push(format!("distro={vendor}-{distro_version}"));
    }
    format!(
        "pkg:rpm/{vendor}/{name}@{}-{}{}{}",
        enc(version),
        enc(release),
        if q.is_empty() { "" } else { "?" },
        q.join("&")
    )
}

/// The purl of a distro package that provided a library: `pkg:deb/...` on Debian and Ubuntu,
/// `pkg:rpm/<distro>/...` on the RPM distros (Oracle Linux, Rocky, ...).
pub fn distro_purl(distro_id: &str, distro_version: &str, package: &str, version: &str, arch: &str) -> String {
    if matches!(distro_id, "" | "debian" | "ubuntu") {
        return deb_purl(distro_id, distro_version, package, version, arch);
    }
    let v = version.replace('+', "%2B").replace(':', "%3A");
    let mut q = vec![];
    if !arch.is_empty() {
        q.push(format!("arch={arch}"));
    }
    if !distro_version.is_empty() {
        q.push(format!("distro={distro_id}-{distro_version}"));
    }
    format!(
        "pkg:rpm/{distro_id}/{package}@{v}{}{}",
        if q.is_empty() { "" } else { "?" },
        q.join("&")
    )
}

/// The `valkey` package of an SBOM: version, source download location, digest and commit.
fn valkey_package(i: &SbomInput<'_>, valkey_id: &str) -> Value {
    let download = i.source.url.clone().unwrap_or_else(|| "NOASSERTION".into());
    let mut source_info = format!("built from {}", i.source.name);
    if let Some(s) = &i.source.sha256 {
        source_info.push_str(&format!(" sha256 {s}"));
    }
    if let Some(c) = i.source.git_commit.as_ref().or(i.source.source_sha.as_ref()) {
        source_info.push_str(&format!(" commit {c}"));
    }
    let mut valkey_purl = format!("pkg:generic/valkey@{}", i.version);
    if let Some(u) = &i.source.url {
        valkey_purl.push_str(&format!("?download_url={}", u.replace(':', "%3A")));
    }
    let mut valkey = json!({
        "SPDXID": valkey_id, "name": "valkey", "versionInfo": i.version,
        "supplier": "Organization: Valkey (https://valkey.io)",
        "downloadLocation": download, "homepage": "https://valkey.io/",
        "licenseConcluded": "BSD-3-Clause", "licenseDeclared": "BSD-3-Clause",
        "copyrightText": "NOASSERTION", "filesAnalyzed": false, "sourceInfo": source_info,
        "primaryPackagePurpose": "APPLICATION",
        "externalRefs": purl_ref(&valkey_purl),
    });
    if let (Some(s), Some(_)) = (&i.source.sha256, &i.source.url) {
        valkey["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": s}]);
    }
    valkey
}

/// Name, version, purpose and purl of the artifact a document describes: a .deb or .rpm is a
/// package of its own (`<package>_<debversion>_<arch>.deb`, `<name>-<version>-<release>.<arch>.rpm`):
/// its purl and version are the package's; a tarball is valkey's generic download.
fn artifact_identity(i: &SbomInput<'_>, download_url: &str) -> (String, String, &'static str, String) {
    let f = i.facts;
    if let Some((pkg, debversion, arch)) = deb_file_parts(i.artifact_file) {
        let purl = deb_purl(&f.distro_id, &f.distro_version, pkg, debversion, arch);
        return (pkg.to_string(), debversion.to_string(), "INSTALL", purl);
    }
    if let Some((name, version, release, arch)) = rpm_file_parts(i.artifact_file) {
        let vendor = if f.distro_id.is_empty() { "valkey" } else { f.distro_id.as_str() };
        let purl = rpm_purl(vendor, &f.distro_version, name, version, release, arch);
        return (name.to_string(), format!("{version}-{release}"), "INSTALL", purl);
    }
    (
        i.artifact_file.to_string(),
        i.version.to_string(),
        "ARCHIVE",
        format!("pkg:generic/valkey@{}?download_url={}", i.version, download_url.replace(':', "%3A")),
    )
}

/// The SPDX document of one artifact.
pub fn document(i: &SbomInput<'_>) -> Result<Value> {
    let f = i.facts;
    let artifact_id = "SPDXRef-Artifact".to_string();
    let valkey_id = "SPDXRef-Package-valkey".to_string();
    let valkey = valkey_package(i, &valkey_id);
    let download_url = format!("{}{}", i.public_url, i.artifact_key);
    let (name, version, purpose, purl) = artifact_identity(i, &download_url);
    let artifact = json!({
        "SPDXID": artifact_id, "name": name, "versionInfo": version,
        "packageFileName": i.artifact_file,
        "supplier": "Organization: Valkey (https://valkey.io)",
        "downloadLocation": download_url,
        "checksums": [{"algorithm": "SHA256", "checksumValue": i.artifact_sha256}],
        "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION", "filesAnalyzed": false,
        "primaryPackagePurpose": purpose,
        "externalRefs": purl_ref(&purl),
    });
    let mut packages = vec![artifact, valkey];
    let mut rels = vec![
        json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": artifact_id}),
        json!({"spdxElementId": artifact_id, "relationshipType": "CONTAINS", "relatedSpdxElement": valkey_id}),
    ];
    for c in &f.components {
        let id = spdx_id("Bundled", &c.name);
        packages.push(json!({
            "SPDXID": id, "name": c.name, "versionInfo": c.version, "supplier": c.supplier,
            "downloadLocation": "NOASSERTION", "homepage": c.homepage,
            "licenseConcluded": c.license, "licenseDeclared": c.license,
            "copyrightText": "NOASSERTION", "filesAnalyzed": false, "primaryPackagePurpose": "LIBRARY",
            "sourceInfo": format!("bundled in the valkey source tree at {}{}", c.path,
                if c.version_file.is_empty() { String::new() } else { format!("; version read from {}", c.version_file) }),
            "externalRefs": purl_ref(&c.purl),
        }));
        rels.push(json!({"spdxElementId": valkey_id, "relationshipType": "CONTAINS", "relatedSpdxElement": id}));
    }
    for l in &f.libraries {
        let id = spdx_id("Library", &l.soname);
        let mut p = json!({
            "SPDXID": id, "name": if l.package.is_empty() { l.soname.clone() } else { l.package.clone() },
            "versionInfo": if l.version.is_empty() { "NOASSERTION".to_string() } else { l.version.clone() },
            "supplier": if l.maintainer.is_empty() { "NOASSERTION".to_string() } else { format!("Organization: {}", l.maintainer) },
            "downloadLocation": "NOASSERTION", "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION", "filesAnalyzed": false, "primaryPackagePurpose": "LIBRARY",
            "sourceInfo": if l.path.is_empty() { format!("{} was not found in the builder image", l.soname) }
                else { format!("{} at {} in the builder image ({} {})", l.soname, l.path, f.distro_id, f.distro_version) },
        });
        if !l.package.is_empty() {
            p["externalRefs"] = purl_ref(&distro_purl(&f.distro_id, &f.distro_version, &l.package, &l.version, &l.arch));
        }
        packages.push(p);
        rels.push(json!({"spdxElementId": valkey_id, "relationshipType": "DYNAMIC_LINK", "relatedSpdxElement": id}));
    }
    Ok(json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}{SUFFIX}", i.artifact_file),
        "documentNamespace": format!("{}spdx/{}/{}", i.public_url, i.artifact_file, i.artifact_sha256),
        "creationInfo": {
            "created": spdx_time(i.source_date_epoch)?,
            "creators": [format!("Tool: valkey-release-{}", env!("CARGO_PKG_VERSION")), "Organization: Valkey (https://valkey.io)"],
        },
        "documentDescribes": [artifact_id],
        "packages": packages,
        "relationships": rels,
    }))
}

/// The document as the bytes of `<artifact>.spdx.json` (pretty, trailing newline).
pub fn render(i: &SbomInput<'_>) -> Result<Vec<u8>> {
    let mut s = serde_json::to_string_pretty(&document(i)?).map_err(|e| Error::external(format!("serializing SBOM: {e}")))?;
    s.push('\n');
    Ok(s.into_bytes())
}

/// Where the facts of a target are kept in a dist directory.
pub fn facts_path(dist: &Path, target: &str) -> PathBuf {
    dist.join("facts").join(target).join(facts::FACTS_FILE)
}

/// Write `<artifact>.spdx.json` for every artifact of `dist` that is not itself an SBOM (the
/// tarballs and the packages), each recorded in the manifest as an artifact of kind `sbom`
/// that `describes` it (so it is uploaded and verified like any artifact). Returns the SBOM
/// files written (names in `dist`), sorted. An artifact whose target has no facts (packaged
/// from a given tree, or built before the hook existed) is named in the error (exit 2).
pub fn write_for_dist(dist: &Path, public_url: &str) -> Result<Vec<String>> {
    let m = crate::manifest::Manifest::load(dist)?;
    let mut written = Vec::new();
    let sbom_kind = crate::artifact::sbom::Sbom.name();
    for a in m.artifacts.iter().filter(|a| a.kind != sbom_kind) {
        let name = format!("{}{SUFFIX}", a.file);
        crate::package::add_derived(dist, a, sbom_kind, &name, &render_for(dist, &m, a, public_url)?)?;
        written.push(name);
    }
    written.sort();
    Ok(written)
}

/// The bytes of the SBOM of artifact `a` of manifest `m` in `dist` (from its target's facts;
/// exit 2 naming the facts file when it is missing).
pub fn render_for(dist: &Path, m: &crate::manifest::Manifest, a: &crate::manifest::Artifact, public_url: &str) -> Result<Vec<u8>> {
    let fp = facts_path(dist, &a.target);
    if !fp.exists() {
        return Err(Error::input(format!(
            "{}: no SBOM facts for target {} ({} is missing; it is written by the build's sbom-facts hook, which `build --no-hooks` leaves out)",
            dist.display(),
            a.target,
            fp.display()
        )));
    }
    let facts = Facts::load(&fp)?;
    let input = SbomInput {
        version: &m.version,
        source: &m.source,
        source_date_epoch: m.source_date_epoch,
        artifact_file: &a.file,
        artifact_sha256: &a.sha256,
        artifact_key: &crate::artifact::key_name(a, &a.file),
        public_url,
        facts: &facts,
    };
    render(&input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            target: "el9-x86_64".into(),
            distro_id: "ol".into(),
            distro_version: "9.4".into(),
            components: vec![],
            libraries: vec![],
            packages_sha256: String::new(),
            packages: Default::default(),
        }
    }

    #[test]
    fn rpm_file_names_split_into_name_version_release_arch() {
        assert_eq!(
            rpm_file_parts("valkey-compat-redis-8.1.1-1.1.el9.noarch.rpm"),
            Some(("valkey-compat-redis", "8.1.1", "1.1.el9", "noarch"))
        );
        assert_eq!(
            rpm_file_parts("valkey-8.1.0~rc1-1.1.el9.rocky.x86_64.rpm"),
            Some(("valkey", "8.1.0~rc1", "1.1.el9.rocky", "x86_64"))
        );
        assert_eq!(rpm_file_parts("valkey-8.1.1.rpm"), None);
        assert_eq!(rpm_file_parts("valkey-8.1.1-bookworm-x86_64.tar.gz"), None);
    }

    #[test]
    fn an_rpm_sbom_describes_the_package_with_an_rpm_purl() {
        let source = SourceInfo {
            name: "valkey-8.1.1.tar.gz".into(),
            kind: "archive".into(),
            url: None,
            sha256: None,
            git_commit: None,
            source_sha: None,
        };
        let f = facts();
        let rpm = "valkey-8.1.1-1.1.el9.x86_64.rpm";
        let input = SbomInput {
            version: "8.1.1",
            source: &source,
            source_date_epoch: 1_746_000_000,
            artifact_file: rpm,
            artifact_sha256: &"ef".repeat(32),
            artifact_key: &format!("rpm/{rpm}"),
            public_url: "https://download.valkey.io/releases/",
            facts: &f,
        };
        let doc = document(&input).unwrap();
        let art = &doc["packages"][0];
        assert_eq!(art["SPDXID"], "SPDXRef-Artifact");
        assert_eq!(art["name"], "valkey");
        assert_eq!(art["versionInfo"], "8.1.1-1.1.el9");
        assert_eq!(art["primaryPackagePurpose"], "INSTALL");
        assert_eq!(
            art["externalRefs"][0]["referenceLocator"],
            "pkg:rpm/ol/valkey@8.1.1-1.1.el9?arch=x86_64&distro=ol-9.4"
        );
        assert_eq!(art["downloadLocation"], format!("https://download.valkey.io/releases/rpm/{rpm}"));
        let noarch = SbomInput {
            artifact_file: "valkey-compat-redis-8.1.1-1.1.el9.noarch.rpm",
            ..input
        };
        assert_eq!(
            document(&noarch).unwrap()["packages"][0]["externalRefs"][0]["referenceLocator"],
            "pkg:rpm/ol/valkey-compat-redis@8.1.1-1.1.el9?arch=noarch&distro=ol-9.4"
        );
    }
}
