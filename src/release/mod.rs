//! Stage: release. (Filled in by its issue.)
