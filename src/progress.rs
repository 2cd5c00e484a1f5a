//! Progress on stderr: indicatif bars on a terminal, plain prefixed lines otherwise.
//! Results go to stdout; nothing here writes to stdout.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Is stderr a terminal (and progress bars wanted)?
pub fn fancy() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("VALKEY_RELEASE_PLAIN").is_none()
}

/// Print one plain status line to stderr: `[prefix] message`.
pub fn line(prefix: &str, msg: &str) {
    if prefix.is_empty() {
        eprintln!("{msg}");
    } else {
        eprintln!("[{prefix}] {msg}");
    }
}

/// A set of per-item progress lines (one per target, file, ...).
#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

/// One item's progress line.
#[derive(Clone)]
pub struct Item {
    bar: Option<ProgressBar>,
    prefix: String,
    started: Instant,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// Bars on a terminal, plain lines otherwise.
    pub fn new() -> Progress {
        if fancy() {
            Progress {
                multi: Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            }
        } else {
            Progress { multi: None }
        }
    }

    /// Always plain lines.
    pub fn plain() -> Progress {
        Progress { multi: None }
    }

    /// A spinner line with elapsed time, for work of unknown length.
    pub fn spinner(&self, prefix: &str) -> Item {
        let bar = self.multi.as_ref().map(|m| {
            let b = m.add(ProgressBar::new_spinner());
            b.set_style(ProgressStyle::with_template("{spinner} {prefix:.bold} [{elapsed_precise}] {wide_msg}").unwrap());
            b.set_prefix(prefix.to_string());
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Item {
            bar,
            prefix: prefix.to_string(),
            started: Instant::now(),
        }
    }

    /// A byte-count bar of `total` bytes.
    pub fn bytes(&self, prefix: &str, total: u64) -> Item {
        let bar = self.multi.as_ref().map(|m| {
            let b = m.add(ProgressBar::new(total));
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {wide_msg}",
                )
                .unwrap(),
            );
            b.set_prefix(prefix.to_string());
            b
        });
        Item {
            bar,
            prefix: prefix.to_string(),
            started: Instant::now(),
        }
    }

    /// Print a line above the bars (or plainly).
    pub fn println(&self, msg: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg);
            }
            None => eprintln!("{msg}"),
        }
    }
}

impl Item {
    /// Set the phase/message. Plain mode prints a line per change.
    pub fn set(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.set_message(msg.to_string()),
            None => line(&self.prefix, msg),
        }
    }
    /// Advance a byte bar.
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n)
        }
    }
    /// Finish with a final message (printed in plain mode too), with elapsed seconds.
    pub fn finish(&self, msg: &str) {
        let secs = self.started.elapsed().as_secs_f64();
        match &self.bar {
            Some(b) => b.finish_with_message(format!("{msg} ({secs:.1}s)")),
            None => line(&self.prefix, &format!("{msg} ({secs:.1}s)")),
        }
    }
    /// Seconds since the item started.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}
