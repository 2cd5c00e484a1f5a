//! The host's apt configuration (the mirror mmdebstrap uses) and the mmdebstrap command line.

use super::{Definition, MirrorChoice};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

// ------------------------------------------------------------------ host apt configuration

/// The Debian archive URI of the host's apt configuration: deb822 `*.sources` files
/// (given as (name, text)) first, then one-line `sources.list` text. Security and
/// non-Debian (Ubuntu) URIs are skipped. `None` when none is found.
pub fn debian_mirror_from_apt(sources: &[(String, String)], list: Option<&str>) -> Option<String> {
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    for (_, text) in sources {
        for stanza in text.split("\n\n") {
            let mut types = String::new();
            let mut uris = String::new();
            let mut suites = String::new();
            let mut enabled = true;
            for line in stanza.lines() {
                if line.trim_start().starts_with('#') {
                    continue;
                }
                if let Some((k, v)) = line.split_once(':') {
                    match k.trim().to_ascii_lowercase().as_str() {
                        "types" => types = v.trim().to_string(),
                        "uris" => uris = v.trim().to_string(),
                        "suites" => suites = v.trim().to_string(),
                        "enabled" => enabled = !v.trim().eq_ignore_ascii_case("no"),
                        _ => {}
                    }
                }
            }
            if enabled && types.split_whitespace().any(|t| t == "deb") {
                for u in uris.split_whitespace() {
                    found.push((u.to_string(), suites.split_whitespace().map(String::from).collect()));
                }
            }
        }
    }
    if let Some(list) = list {
        for line in list.lines() {
            let line = line.trim();
            if !line.starts_with("deb ") && !line.starts_with("deb\t") {
                continue;
            }
            let mut words: Vec<&str> = line.split_whitespace().skip(1).collect();
            if words.first().map(|w| w.starts_with('[')) == Some(true) {
                while let Some(w) = words.first() {
                    let done = w.ends_with(']');
                    words.remove(0);
                    if done {
                        break;
                    }
                }
            }
            if let (Some(u), Some(s)) = (words.first(), words.get(1)) {
                found.push((u.to_string(), vec![s.to_string()]));
            }
        }
    }
    let usable = |u: &str, suites: &[String]| {
        let scheme_ok = u.starts_with("http://") || u.starts_with("https://") || u.starts_with("file:/");
        scheme_ok && !u.contains("security") && !u.contains("ubuntu") && !suites.iter().all(|s| s.ends_with("-security"))
    };
    found
        .iter()
        .find(|(u, s)| usable(u, s) && u.trim_end_matches('/').ends_with("/debian"))
        .or_else(|| found.iter().find(|(u, s)| usable(u, s)))
        .map(|(u, _)| u.trim_end_matches('/').to_string())
}

/// Read the host's apt configuration (`/etc/apt/sources.list.d/*.sources`, `/etc/apt/sources.list`
/// and `*.list`) and return its Debian archive URI.
pub fn host_debian_mirror() -> Result<String> {
    let dir = Path::new("/etc/apt/sources.list.d");
    let mut sources = Vec::new();
    let mut list = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.ends_with(".sources") {
                if let Ok(t) = std::fs::read_to_string(&p) {
                    sources.push((name, t));
                }
            } else if name.ends_with(".list") {
                if let Ok(t) = std::fs::read_to_string(&p) {
                    list.push('\n');
                    list.push_str(&t);
                }
            }
        }
    }
    debian_mirror_from_apt(&sources, Some(&list)).ok_or_else(|| {
        Error::input(
            "no Debian mirror found in the host's apt configuration (/etc/apt/sources.list.d/*.sources, /etc/apt/sources.list); \
             set `mirror = \"http://<debian mirror>/debian\"` or `snapshot` for the builder in targets.toml",
        )
    })
}

/// The mmdebstrap arguments for a definition, writing `out` from `mirror`.
pub fn mmdebstrap_args(def: &Definition, mirror: &str, out: &Path) -> Vec<String> {
    let mut a = vec![
        "--variant=apt".to_string(),
        "--format=tar".to_string(),
        format!("--architectures={}", def.architectures.join(",")),
        format!("--components={}", def.components.join(",")),
    ];
    if !def.packages.is_empty() {
        a.push(format!("--include={}", def.packages.join(",")));
    }
    if matches!(def.mirror, Some(MirrorChoice::Snapshot(_))) {
        // Snapshot Release files are past their Valid-Until date by design.
        a.push("--aptopt=Acquire::Check-Valid-Until \"false\"".to_string());
    }
    a.push(def.suite.clone());
    a.push(out.display().to_string());
    a.push(mirror.to_string());
    a
}
