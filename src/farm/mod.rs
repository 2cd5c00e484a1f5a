//! Stage: build. The Docker build farm: builder containers per target, in parallel,
//! source in and results out as tar streams over the Engine API, checks, post-build hooks,
//! packaging.
//!
//! Entry point: [`run_build`] with [`BuildOptions`]; returns a [`BuildReport`].
//!
//! - [`run`]: the run (engines, source, one task per target, clean-up);
//! - [`target`]: one target's container work, against the [`container::ContainerEngine`] seam;
//! - [`container`]: builder containers through the Engine API; [`engine`]: connecting;
//! - [`hooks`]: post-build work in the target's container; [`produced`]: where its files go;
//! - [`image`]: builder images (with its own seam, [`image::ImageEngine`]); [`checks`]: binary checks.

pub mod args;
pub mod container;
pub mod glue;
pub mod hooks;
pub mod limits;
mod log;
pub mod pins;
pub mod produced;
pub mod report;
mod repro;
pub mod run;
pub mod signal;
pub mod source;
mod target;

// images helper: builder images, engine connection, artifact checks
pub mod checks;
pub mod engine;
pub mod image;

pub use log::LOG_TAIL_LINES;
pub use report::{BuildOptions, BuildReport, TargetReport, TargetStatus};
pub use run::{default_jobs, make_jobs, run_build};
#[cfg(test)]
mod fake;
#[cfg(test)]
mod target_tests;
