//! `valkey-release verify` (arguments; the logic is in crate::verify).

use super::Global;
use crate::error::{Error, Result};

/// Check files against checksum files, like `sha256sum -c`, or a published release (--remote).
///
/// Each PATH is one of: a checksum file (GNU `<hex>  <file>` / `<hex> *<file>` lines, BSD
/// `SHA256 (<file>) = <hex>` lines, or a `.sha256` holding only a digest); a file with a
/// `<file>.sha256` beside it; a dist directory (its SHA256SUMS and/or manifest.json: size and
/// sha256 of every artifact, and each artifact's .sha256); a manifest.json. File names in a
/// checksum file are relative to the checksum file's directory.
///
/// Prints `<file>: OK`, `<file>: FAILED` or `<file>: FAILED open or read` per file on stdout.
/// Exit 0 when every file matches, 1 on any mismatch or missing file, 2 on unusable input
/// (a malformed line is named by file and line number).
#[derive(Debug, clap::Args)]
#[command(
    disable_version_flag = true,
    after_help = "Examples:\n  valkey-release verify dist/\n  valkey-release verify --public-key GPG-KEY-valkey.asc dist/   # and SHA256SUMS.asc\n  valkey-release verify valkey-8.1.1-jammy-x86_64.tar.gz      # reads the .sha256 beside it\n  valkey-release verify SHA256SUMS other.sha256\n  valkey-release verify --hashes valkey-hashes/README --dir downloads/\n  valkey-release verify --remote https://download.valkey.io/releases/ --version 8.1.1\n\nInputs: GNU lines (`<hex>  <file>`, `<hex> *<file>`), BSD lines (`SHA256 (<file>) = <hex>`),\na .sha256 holding only a digest, a file with <file>.sha256 beside it, a dist directory\n(SHA256SUMS and/or manifest.json: size and sha256 of each artifact), a manifest.json.\nNames resolve against the checksum file's directory. Output per file on stdout:\n`<file>: OK`, `<file>: FAILED`, `<file>: FAILED open or read`.\n\nExit codes:\n  0  every file matches\n  1  a mismatch or a missing file\n  2  unusable input (malformed line, named as file:line; unreadable checksum file or manifest;\n     --public-key with no SHA256SUMS.asc to check)\n  3  remote: the server or the network failed"
)]
pub struct Args {
    #[command(flatten)]
    pub verify: crate::verify::args::VerifyArgs,
}

pub async fn run(g: &Global, a: Args) -> Result<()> {
    let a = a.verify;
    if let Some(d) = &a.dir {
        crate::fsutil::check_dir_arg(d, "--dir", "the directory holding the files valkey-hashes lists")?;
    }
    if a.provenance {
        let version = a.version.as_ref().map(|v| v.to_string());
        return crate::verify::provenance::run_cli(g.json, a.paths, version, a.hashes, a.public_key, a.provenance_file);
    }
    if a.version.is_some() && a.remote.is_none() {
        return Err(Error::input("--version goes with --remote URL or --provenance URL"));
    }
    if let Some(remote) = &a.remote {
        let version = a.version.as_ref().ok_or_else(|| Error::input("--remote needs --version V"))?;
        return crate::verify::remote::verify_remote(remote, version, g.json).await;
    }
    let signatures = match &a.public_key {
        Some(k) => crate::verify::signature::check(&a.paths, k)?,
        None => Vec::new(),
    };
    if !g.json {
        for c in &signatures {
            println!("{}: {} ({})", c.signature.display(), if c.ok { "OK" } else { "FAILED" }, c.detail);
        }
    }
    let bad_sig: Vec<String> = signatures
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.signature.display(), c.detail))
        .collect();
    let with_key = a.public_key.is_some();
    let opts = a.into_local_options();
    let report = tokio::task::block_in_place(|| crate::verify::verify_local(&opts))?;
    if g.json {
        let mut v = serde_json::to_value(&report).map_err(|e| Error::external(e.to_string()))?;
        if with_key {
            v["signatures"] = serde_json::to_value(&signatures).map_err(|e| Error::external(e.to_string()))?;
        }
        println!("{}", serde_json::to_string_pretty(&v).map_err(|e| Error::external(e.to_string()))?);
    } else {
        for f in &report.files {
            println!("{}", f.line());
            if f.status != crate::verify::Status::Ok {
                if let Some(r) = &f.reason {
                    eprintln!("valkey-release: {}: {r}", crate::verify::escape_name(&f.file).1);
                }
            }
        }
    }
    report.into_result()?;
    if !bad_sig.is_empty() {
        return Err(Error::check(format!("signature check failed:\n  {}", bad_sig.join("\n  "))));
    }
    Ok(())
}
