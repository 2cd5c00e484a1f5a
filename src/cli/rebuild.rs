//! `valkey-release rebuild` (arguments; the logic is in crate::rebuild). See docs/trust.md.

use super::Global;
use crate::error::{Error, Result};
use std::path::PathBuf;

const AFTER: &str = "\
Examples:
  valkey-release rebuild --from downloads/ --out rebuilt/
  valkey-release rebuild --from dist/ --target bookworm-arm64 --source valkey-8.1.1.tar.gz
  valkey-release rebuild --from https://download.valkey.io/releases/ --version 8.1.1 --target bookworm-x86_64
  valkey-release rebuild --from s3://my-bucket/releases/ --version 8.1.1 --out rebuilt/

Every artifact the target made that a rebuild makes again is compared: the tarball, the .debs
and the .rpms. Per target: identical; different (the members that differ: the tarball's, a
.deb's ar members and the files of its control/data tarball, a .rpm's files; for a binary, the
ELF sections; a diffoscope report in <out>/logs/ when diffoscope is installed); builder-differs
(the builder image could not be recreated with the recorded packages: the packages are listed);
failed (the rebuild itself failed).

Exit codes:
  0  every target identical
  1  a target differs or failed, or the source is not the recorded one
  2  unusable input (no manifest, unknown target)
  3  Docker, the network or the disk failed
  130 interrupted";

/// Rebuild a published release from its recorded inputs on this machine and compare byte for byte.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER, disable_version_flag = true)]
pub struct Args {
    /// The published release: a directory with its manifest.json, artifacts and provenance, or
    /// its store URL (s3://BUCKET/PREFIX/, file://DIR) or https://HOST/PREFIX/, downloaded into
    /// <out>/published/ first.
    #[arg(long, value_name = "DIR|URL")]
    pub from: PathBuf,
    /// The release's version: names its manifest in a store (valkey-<V>.manifest.json). Needed
    /// with a URL unless a manifest.json is published there.
    #[arg(long, value_parser = super::parse_version, value_name = "V")]
    pub version: Option<crate::version::Version>,
    /// Target to rebuild (repeatable). Default: every target of the release.
    #[arg(long = "target", id = "target", value_name = "TARGET")]
    pub target: Vec<String>,
    /// The source (directory, archive or URL). Default: the recorded URL. Its sha256 must be the
    /// recorded one.
    #[arg(long, value_name = "DIR|ARCHIVE|URL")]
    pub source: Option<String>,
    /// Where the rebuilt artifacts, logs and diffoscope reports go (must not hold another release).
    #[arg(long, default_value = "rebuild", value_name = "DIR")]
    pub out: PathBuf,
    /// Use this Docker image for every target instead of the targets' builder images.
    #[arg(long, value_name = "IMAGE")]
    pub builder_image: Option<String>,
}

pub async fn run(g: &Global, a: Args) -> Result<()> {
    let matrix = g.matrix()?;
    let opts = crate::rebuild::RebuildOptions {
        published: a.from,
        version: a.version.map(|v| v.to_string()),
        targets: a.target,
        source: a.source,
        out: a.out,
        builder_image: a.builder_image,
        cancel: tokio_util::sync::CancellationToken::new(),
    };
    let ctrl_c = crate::farm::signal::cancel_on_interrupt(opts.cancel.clone());
    let progress = crate::progress::Progress::new();
    let result = crate::rebuild::rebuild(&matrix, &opts, &progress).await;
    ctrl_c.abort();
    let report = result?;
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Error::external(e.to_string()))?
        );
    } else {
        for n in &report.notes {
            println!("note: {n}");
        }
        for t in &report.targets {
            println!("{:<18} {}", t.target, t.status);
            if !t.varied.is_empty() {
                println!("    varied: {}", t.varied.join(", "));
            }
            for i in &t.inputs {
                println!("    input differs: {i}");
            }
            for p in &t.builder_packages {
                println!("    builder package differs: {p}");
            }
            for m in &t.members {
                let s = if m.sections.is_empty() {
                    String::new()
                } else {
                    format!(" (sections: {})", m.sections.join(", "))
                };
                println!("    {}: {}{s}", m.member, m.what.join(", "));
            }
            if let Some(d) = &t.diffoscope {
                println!("    diffoscope report: {}", d.display());
            }
            if let Some(e) = &t.error {
                println!("    {e}");
            }
        }
    }
    report.into_result()
}
