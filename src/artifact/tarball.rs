//! Kind `tarball`: `valkey-<V>-<distro>-<arch>.tar.gz`, made by [`crate::package::package_tree`].

use super::Kind;

/// The manifest name of this kind.
pub const NAME: &str = "tarball";
/// Its file name ending.
pub const EXTENSION: &str = ".tar.gz";

/// A reproducible binary tarball of one target.
pub struct Tarball;

impl Kind for Tarball {
    fn name(&self) -> &'static str {
        NAME
    }
    fn extension(&self) -> &'static str {
        EXTENSION
    }
    fn content_type(&self) -> &'static str {
        "application/gzip"
    }
    fn listed_on_website(&self) -> bool {
        true
    }
}

/// The tarball file name of an artifact base name: `valkey-8.1.1-jammy-x86_64.tar.gz`.
pub fn file_name(base: &str) -> String {
    format!("{base}{EXTENSION}")
}
