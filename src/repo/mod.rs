//! Package repositories: apt ([`apt`]) and yum/dnf indexes, merged with what the store already
//! holds, signed with the release key, written packages first and index last.
//!
//! Each repository format is one [`Format`] (one file, e.g. [`apt::Apt`]) and one line in
//! [`FORMATS`]; [`store::publish`] drives any of them against any store (`file://`, `s3://`).

pub mod apt;
pub mod dir;
pub mod store;
pub mod yum;
pub mod yum_store;

use crate::error::Result;
use crate::sign::SigningKey;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Index files read from a store, by name relative to the repository's key (`Packages`,
/// `repodata/repomd.xml`); `None` when the store does not have it.
pub type Have = BTreeMap<String, Option<Vec<u8>>>;

/// One repository format (apt, yum).
pub trait Format: Sync {
    /// `apt`, `yum`.
    fn name(&self) -> &'static str;
    /// The manifest artifact kind of its packages (`deb`, `rpm`).
    fn package_kind(&self) -> &'static str;
    /// Group a release's package files into the repositories they go to. `date` is the index
    /// date (RFC 1123, UTC).
    fn plan(&self, packages: &[PathBuf], date: &str) -> Result<Vec<Box<dyn Repository>>>;
}

/// One repository to update: a key prefix in the store and the packages to add.
pub trait Repository: Send + Sync {
    /// The repository's key in the store, no trailing slash
    /// (`packaging/valkey-8.1/deb/debian12/amd64`).
    fn key(&self) -> &str;
    /// The package files of this release that go into it.
    fn packages(&self) -> &[PathBuf];
    /// The index files still to read, given those read so far (`have`): with `all` false, what
    /// a merge needs; with `all` true, every index file (for a check). Empty when done.
    fn wanted(&self, have: &Have, all: bool) -> Vec<String>;
    /// The merged index: `have` (what the store holds) plus `packages` (name, bytes). A package
    /// already indexed with other bytes is refused (exit 4) before anything is written.
    fn merge(&self, have: &Have, packages: &[(String, Vec<u8>)], key: &SigningKey) -> Result<Merged>;
    /// Check the index files as read back (every one of `wanted(.., true)`): signatures with
    /// `public_armored`, hashes between index files. Returns every package the index lists,
    /// (name relative to the key, sha256), for the caller to check in the store.
    fn verify(&self, files: &BTreeMap<String, Vec<u8>>, public_armored: &str) -> Result<Vec<(String, String)>>;
}

/// The result of [`Repository::merge`].
#[derive(Debug, Clone, Default)]
pub struct Merged {
    /// Packages new to the index.
    pub added: Vec<String>,
    /// Packages already indexed with the same bytes.
    pub already: Vec<String>,
    /// The index files in the order they are written (signatures last).
    pub index: Vec<(String, Vec<u8>)>,
    /// Every entry the index now holds, for people (`valkey-server 8.1.1-1.bookworm amd64`).
    pub indexed: Vec<String>,
}

/// Every repository format: one registration line each.
static FORMATS: &[&dyn Format] = &[&apt::Apt, &yum_store::Yum];

/// The registered repository formats.
pub fn formats() -> &'static [&'static dyn Format] {
    FORMATS
}

/// The date of an index (RFC 1123 in UTC, as Debian's archive writes it:
/// `Tue, 14 Nov 2023 22:13:20 UTC`): SOURCE_DATE_EPOCH when set, else now.
pub fn index_date() -> String {
    let now = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp());
    index_date_at(now)
}

/// The index date (as [`index_date`]) of a release's SOURCE_DATE_EPOCH.
pub fn index_date_at(source_date_epoch: i64) -> String {
    chrono::DateTime::from_timestamp(source_date_epoch, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S UTC")
        .to_string()
}
