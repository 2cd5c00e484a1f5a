//! `valkey-release publish` (arguments; the logic is in crate::publish).

use super::Global;
use crate::error::{Error, Result};
use crate::publish;

const AFTER: &str = "\
Where the change goes (one of):
  --checkout DIR [--push]   a local clone: commit (signed off) on the branch, push with --push
  --handoff DIR             patch files for review under DIR/<repo>/ (base files from --base DIR, else GitHub)
  GITHUB_TOKEN set          GitHub: one commit, then a PR (hashes: straight to main unless --via-pr)
  --dry-run                 only print the diff (reads --checkout/--base, else GitHub)

Re-running is safe: nothing to change means no commit and no PR; an open PR is found and updated.

Examples:
  valkey-release publish hashes --version 9.1.2 --checkout ~/src/valkey-hashes --push
  valkey-release publish container --version 9.1.2 --handoff dist/handoff --base ~/src/valkey-container
  GITHUB_TOKEN=... valkey-release publish website --version 9.1.2 --date 2026-08-01";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER, disable_version_flag = true)]
pub struct Args {
    #[command(flatten)]
    pub publish: crate::publish::args::PublishArgs,
}

pub async fn run(g: &Global, a: Args) -> Result<()> {
    let opts = a.publish.options()?;
    let h = publish::by_name(&a.publish.kind)?;
    let out = publish::publish(h.as_ref(), &opts).await?;
    for w in &out.warnings {
        crate::progress::line("publish", &format!("warning: {w}"));
    }
    // Results on stdout; a closed pipe (`| head`) is not an error worth a panic.
    use std::io::Write;
    let mut text = String::new();
    if g.json {
        text = serde_json::to_string_pretty(&out).map_err(|e| Error::external(format!("JSON: {e}")))?;
        text.push('\n');
    } else {
        if opts.dry_run && !out.diff.is_empty() {
            text.push_str(&out.diff);
        }
        text.push_str(&format!("{}\n", out.summary()));
        for n in &out.notes {
            text.push_str(&format!("  - {n}\n"));
        }
        for f in &out.handoff_files {
            text.push_str(&format!("  wrote {}\n", f.display()));
        }
    }
    let mut so = std::io::stdout().lock();
    let _ = so.write_all(text.as_bytes()).and_then(|_| so.flush());
    Ok(())
}
