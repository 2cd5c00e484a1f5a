//! Distro packages (.deb, .rpm) made from a target's checked binaries, in its builder
//! container, by post-build hooks ([`crate::farm::hooks`]). The recipes are data under
//! `packaging/` ([`recipes`]).

pub mod deb;
pub mod debfile;
pub mod recipes;
pub mod rpm;
pub mod rpmsign;
