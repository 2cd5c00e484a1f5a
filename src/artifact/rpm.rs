//! Kind `rpm`: the RPM packages a target's `rpm` post-build hook makes
//! (`valkey-8.1.1-1.1.el9.x86_64.rpm`, ...; see [`crate::pkg::rpm`]). Several per target; the
//! noarch packages of the x86_64 and aarch64 targets of one platform are byte-identical (built
//! with `--target noarch`), so the manifest keeps one entry per file name.

use super::Kind;

/// An RPM binary package.
pub struct Rpm;

impl Kind for Rpm {
    fn name(&self) -> &'static str {
        "rpm"
    }
    fn extension(&self) -> &'static str {
        ".rpm"
    }
    fn content_type(&self) -> &'static str {
        "application/x-rpm"
    }
    fn key_prefix(&self) -> &'static str {
        "rpm/"
    }
    fn one_per_target(&self) -> bool {
        false
    }
}
