//! A target's log: the file under `<out>/logs/` plus its last lines kept in memory. Each of the
//! tool's own lines (`==> ...`) ends with the seconds since the log was opened (`[+12.3s]`), so
//! a log shows where a target's time went (container, source upload, make, checks, hooks).

use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// How many log lines a failure summary shows.
pub const LOG_TAIL_LINES: usize = 20;

/// A target's log: the file plus the last lines kept in memory.
pub(super) struct Log {
    file: std::fs::File,
    tail: VecDeque<String>,
    partial: Vec<u8>,
    opened: Instant,
}

impl Log {
    pub(super) fn create(path: &Path) -> Result<Log> {
        if let Some(d) = path.parent() {
            crate::fsutil::create_dir_all(d)?;
        }
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, "create log", e))?;
        Ok(Log {
            file,
            tail: VecDeque::new(),
            partial: Vec::new(),
            opened: Instant::now(),
        })
    }
    pub(super) fn write(&mut self, bytes: &[u8]) {
        let _ = self.file.write_all(bytes);
        for &b in bytes {
            if b == b'\n' {
                let line = String::from_utf8_lossy(&self.partial).trim_end_matches('\r').to_string();
                self.partial.clear();
                self.tail.push_back(line);
                if self.tail.len() > LOG_TAIL_LINES {
                    self.tail.pop_front();
                }
            } else {
                self.partial.push(b);
            }
        }
    }
    pub(super) fn note(&mut self, msg: &str) {
        let t = self.opened.elapsed().as_secs_f64();
        self.write(format!("==> {msg} [+{t:.1}s]\n").as_bytes());
    }
    pub(super) fn tail(&self) -> Vec<String> {
        let mut t: Vec<String> = self.tail.iter().cloned().collect();
        if !self.partial.is_empty() {
            t.push(String::from_utf8_lossy(&self.partial).to_string());
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keeps_tail() {
        let d = tempfile::tempdir().unwrap();
        let mut l = Log::create(&d.path().join("x.log")).unwrap();
        for i in 0..50 {
            l.write(format!("line {i}\n").as_bytes());
        }
        l.write(b"partial");
        let t = l.tail();
        assert_eq!(t.len(), LOG_TAIL_LINES + 1);
        assert_eq!(t.last().unwrap(), "partial");
        assert_eq!(t[0], "line 30");
    }

    #[test]
    fn notes_end_with_the_time_since_the_log_was_opened() {
        let d = tempfile::tempdir().unwrap();
        let mut l = Log::create(&d.path().join("x.log")).unwrap();
        l.note("make: make -j2");
        let line = l.tail().pop().unwrap();
        let (msg, t) = line.rsplit_once(" [+").unwrap();
        assert_eq!(msg, "==> make: make -j2");
        let secs: f64 = t.strip_suffix("s]").unwrap().parse().unwrap();
        assert!(secs >= 0.0, "{line}");
    }
}
