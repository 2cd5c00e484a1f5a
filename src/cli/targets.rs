//! `valkey-release targets`

use super::Global;
use crate::error::Result;

const TARGETS_HELP: &str = "Each target is named <distro>-<arch>; use that name with --target in build, package and release.

MODE says how a target builds: cross:aarch64 (the GNU cross toolchain on the amd64 builder of its distro) or native (in a builder image of the target's own architecture: an arm64 builder runs natively on an arm64 engine, or emulated through qemu binfmt on an amd64 one). A target with a `cross` table is cross-built; one without it needs a builder whose first architecture is its own (README: targets.toml reference).";

/// List the release matrix.
#[derive(Debug, clap::Args)]
#[command(after_help = TARGETS_HELP)]
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
                "method": m.builders[&t.builder].method, "mode": t.mode(), "image_arch": t.image_arch,
                "triple": t.cross.as_ref().map(|c| c.triple.clone()), "glibc": t.glibc, "official": t.official, "default": t.default,
                "engine": t.engine,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    println!("# {}", m.path.display());
    let header = ["TARGET", "DISTRO", "ARCH", "BUILDER", "MODE", "GLIBC", "OFFICIAL"];
    let rows: Vec<[String; 7]> = targets
        .iter()
        .map(|t| {
            [
                t.name.clone(),
                t.distro.clone(),
                t.arch.as_str().to_string(),
                t.builder.clone(),
                t.mode_label(),
                t.glibc.clone(),
                if t.official { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    print!("{}", table(&header, &rows));
    Ok(())
}

/// Left-aligned columns, each as wide as its widest cell, separated by two spaces.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut w = [0usize; N];
    for (i, h) in header.iter().enumerate() {
        w[i] = h.chars().count();
    }
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}
