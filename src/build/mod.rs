//! Stage: build. (Filled in by its issue.)
