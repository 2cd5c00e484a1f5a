//! Stage: upload. (Filled in by its issue.)
