//! Artifact checks (filled in below).
