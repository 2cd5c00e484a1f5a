//! Artifact kinds: what a file of a release is (a tarball today; deb, rpm, sbom, signature,
//! provenance later). Each kind is one file in this folder implementing [`Kind`] and one line
//! in [`KINDS`]. Upload, verify, merge, the website's list and the report work on any kind
//! through this trait, without naming one.
//!
//! In `manifest.json` every artifact has `"kind"` (absent in older manifests: `tarball`) and,
//! for a file derived from another artifact (an SBOM, a signature), `"describes"`: the `file`
//! of the artifact it is about.

pub mod deb;
pub mod rpm;
pub mod sbom;
pub mod tarball;
#[cfg(test)]
mod testkind;

use crate::manifest::Artifact;

/// The kind of an artifact when a manifest does not say.
pub const DEFAULT_KIND: &str = tarball::NAME;

/// One kind of release artifact.
pub trait Kind: Sync {
    /// The `kind` value in manifest.json (`tarball`).
    fn name(&self) -> &'static str;
    /// The file name ending that marks a file of this kind (`.tar.gz`).
    fn extension(&self) -> &'static str;
    /// The HTTP content type it is stored with (`application/gzip`).
    fn content_type(&self) -> &'static str;
    /// A sub-prefix of the release's key prefix its objects go under (empty: beside the tarballs).
    fn key_prefix(&self) -> &'static str {
        ""
    }
    /// Does a manifest hold at most one artifact of this kind per target (a rebuilt target
    /// replaces it)? Kinds with several files per target (packages) say no.
    fn one_per_target(&self) -> bool {
        true
    }
    /// Is it listed on the website's download page?
    fn listed_on_website(&self) -> bool {
        false
    }
    /// Kind-specific checks of a manifest entry; the message says what is wrong.
    fn check(&self, a: &Artifact) -> std::result::Result<(), String> {
        if !a.file.ends_with(self.extension()) {
            return Err(format!(
                "a {} file name ends with {:?}, found {:?}",
                self.name(),
                self.extension(),
                a.file
            ));
        }
        Ok(())
    }
}

/// Every known kind: one registration line each.
static KINDS: &[&dyn Kind] = &[
    &tarball::Tarball,
    &deb::Deb,
    &rpm::Rpm,
    &sbom::Sbom,
    #[cfg(test)]
    &testkind::TestKind,
];

/// The registered kinds.
pub fn kinds() -> &'static [&'static dyn Kind] {
    KINDS
}

/// Look a kind up by its manifest name.
pub fn kind(name: &str) -> Option<&'static dyn Kind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

/// The names of the known kinds, for error messages.
pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name()).collect()
}

/// The content type of an object key: the kind whose extension it ends with, JSON for
/// `.json`, else plain text (checksum files, SHA256SUMS).
pub fn content_type_of_key(key: &str) -> &'static str {
    if let Some(k) = KINDS.iter().find(|k| key.ends_with(k.extension())) {
        return k.content_type();
    }
    if key.ends_with(".json") {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    }
}

/// The name of a file of artifact `a` (its own file or its `.sha256`) below the release's key
/// prefix: the kind's key prefix and the name.
pub fn key_name(a: &Artifact, name: &str) -> String {
    let sub = kind(&a.kind).map(|k| k.key_prefix()).unwrap_or("");
    format!("{sub}{name}")
}

/// Is an object key the file of an artifact kind the website lists (a tarball)?
pub fn is_listed_key(key: &str) -> bool {
    KINDS.iter().any(|k| k.listed_on_website() && key.ends_with(k.extension()))
}

/// The artifacts of a manifest the website lists (tarballs today), in manifest order.
pub fn website_artifacts(m: &crate::manifest::Manifest) -> Vec<&Artifact> {
    m.artifacts
        .iter()
        .filter(|a| kind(&a.kind).is_some_and(|k| k.listed_on_website()))
        .collect()
}
