//! Kind `deb`: the Debian packages a target's `deb` post-build hook makes
//! (`valkey-server_8.1.1-1.bookworm_amd64.deb`, ...; see [`crate::pkg::deb`]). Several per
//! target; an arch-`all` package made by two targets of one distro is byte-identical, so
//! the manifest keeps one entry per file name.

use super::Kind;

/// A Debian binary package.
pub struct Deb;

impl Kind for Deb {
    fn name(&self) -> &'static str {
        "deb"
    }
    fn extension(&self) -> &'static str {
        ".deb"
    }
    fn content_type(&self) -> &'static str {
        "application/vnd.debian.binary-package"
    }
    fn key_prefix(&self) -> &'static str {
        "deb/"
    }
    fn one_per_target(&self) -> bool {
        false
    }
}
