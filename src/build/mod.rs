//! Stage: build. (Filled in by its issue.)

// images helper: builder images, engine connection, artifact checks
pub mod checks;
pub mod engine;
pub mod image;
