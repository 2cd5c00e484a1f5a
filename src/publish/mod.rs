//! Stage: publish. (Filled in by its issue.)
