//! Package repositories: apt ([`apt`]) and yum/dnf ([`yum`]) indexes, merged with what the
//! store already holds, signed with the release key, written packages first and index last.

pub mod apt;
pub mod dir;
pub mod yum;
