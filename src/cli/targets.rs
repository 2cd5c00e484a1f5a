//! `valkey-release targets`

use super::Global;
use crate::error::Result;

/// List the release matrix.
#[derive(Debug, clap::Args)]
#[command(after_help = "Each target is named <distro>-<arch>; use that name with --target in build, package and release.")]
pub struct Args {
    /// Only the official targets (the ones published today: jammy and noble).
    #[arg(long)]
    pub official: bool,
}

pub async fn run(g: &Global, a: Args) -> Result<()> {
    let m = g.matrix()?;
    let targets: Vec<&crate::targets::Target> = m.targets.iter().filter(|t| !a.official || t.official).collect();
    if g.json {
        let v = serde_json::json!({
            "file": m.path.display().to_string(),
            "artifact": m.artifact.name.get_ref(),
            "s3_prefix": m.artifact.s3_prefix,
            "targets": targets.iter().map(|t| serde_json::json!({
                "name": t.name, "distro": t.distro, "arch": t.arch.as_str(), "builder": t.builder,
                "method": m.builders[&t.builder].method, "mode": if t.is_cross() { "cross" } else { "native" },
                "triple": t.cross.as_ref().map(|c| c.triple.clone()), "glibc": t.glibc, "official": t.official,
                "engine": t.engine,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    println!("# {}", m.path.display());
    println!("{:<18} {:<9} {:<7} {:<10} {:<11} {:<6} {:<8}", "TARGET", "DISTRO", "ARCH", "BUILDER", "MODE", "GLIBC", "OFFICIAL");
    for t in targets {
        let mode = match &t.cross {
            Some(c) => format!("cross:{}", c.triple.split('-').next().unwrap_or("")),
            None => "native".to_string(),
        };
        println!(
            "{:<18} {:<9} {:<7} {:<10} {:<11} {:<6} {:<8}",
            t.name,
            t.distro,
            t.arch.as_str(),
            t.builder,
            mode,
            t.glibc,
            if t.official { "yes" } else { "no" }
        );
    }
    Ok(())
}
