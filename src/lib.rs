//! valkey-release: cut a Valkey release.
//!
//! The release is a pipeline of stages, each a module that reads and writes
//! plain data, with `dist/manifest.json` ([`manifest`]) as the contract:
//!
//! ```text
//! plan -> build -> package -> upload -> publish (hashes / container / website)
//! ```
//!
//! - [`targets`]: the release matrix (`targets.toml`).
//! - [`package`]: reproducible tarballs, `.sha256` files, `SHA256SUMS`, manifest.
//! - [`verify`]: check files against checksum files (local and remote).
//! - [`build`]: the Docker build farm (builder images, containers, checks).
//! - [`upload`]: the S3 release bucket.
//! - [`publish`]: valkey-hashes, valkey-container and website edits.
//! - [`release`]: the whole release, resumable.
//!
//! The [`cli`] layer only parses arguments and calls the stages.

pub mod artifact;
pub mod cli;
pub mod error;
pub mod farm;
pub mod fsutil;
pub mod manifest;
pub mod package;
pub mod pkg;
pub mod progress;
pub mod provenance;
pub mod publish;
pub mod rebuild;
pub mod redact;
pub mod release;
pub mod repo;
pub mod sbom;
pub mod sign;
pub mod store;
pub mod targets;
pub mod upload;
pub mod verify;
pub mod version;

pub use error::{Error, Result};
