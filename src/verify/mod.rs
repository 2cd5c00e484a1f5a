//! Stage: verify. Check files against checksum files. (Issue 2 fills this in.)

pub mod remote;
