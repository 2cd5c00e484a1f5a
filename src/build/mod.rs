//! Stage: build. The Docker build farm: builder containers per target, in parallel,
//! source in and results out as tar streams over the Engine API, checks, packaging.
//!
//! Entry point: [`run_build`] with [`BuildOptions`]; returns a [`BuildReport`].

pub mod container;
pub mod farm;
pub mod glue;
pub mod hooks;
pub mod source;

// images helper: builder images, engine connection, artifact checks
pub mod checks;
pub mod engine;
pub mod image;

pub use farm::{run_build, BuildOptions, BuildReport, TargetReport};
