//! Validation of `targets.toml`: every error names the file, line and column (or field) and
//! the value refused.

use super::{Arch, BuilderMethod, BuilderSpec, RawFile, Target, TargetSpec, PACKAGE_FORMATS};
use crate::error::{Error, Result};
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::path::Path;

/// Line and column (1-based) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

pub(super) fn at(path: &Path, text: &str, span: std::ops::Range<usize>, msg: impl std::fmt::Display) -> Error {
    let (l, c) = line_col(text, span.start);
    Error::input(format!("{}:{l}:{c}: {msg}", path.display()))
}

/// Check that a template uses only the allowed `{keys}`.
fn check_template(path: &Path, text: &str, t: &Spanned<String>, allowed: &[&str], field: &str) -> Result<()> {
    let s = t.get_ref();
    let mut rest = s.as_str();
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| at(path, text, t.span(), format!("{field}: unclosed '{{' in template {s:?}")))?;
        let key = &after[..close];
        if !allowed.contains(&key) {
            let keys: Vec<String> = allowed.iter().map(|k| format!("{{{k}}}")).collect();
            return Err(at(
                path,
                text,
                t.span(),
                format!(
                    "{field}: unknown template key {{{key}}} in {s:?}; allowed keys: {}",
                    keys.join(", ")
                ),
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// A relative path that stays inside its directory: not empty, not absolute, no `..` or `.`
/// component, no backslash or control character.
pub fn is_inner_path(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('/')
        && s.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && !s.chars().any(|c| c == '\\' || c.is_control())
}

/// Every name that becomes part of a path or an object key must stay inside its directory:
/// binaries, builder and distro names and the artifact name template are plain names; the
/// license, Dockerfiles and the key prefix are relative paths without `..`.
fn check_names(path: &Path, raw: &RawFile) -> Result<()> {
    let bad = |field: String, v: &str, want: &str| Error::input(format!("{}: {field}: {v:?} must be {want}", path.display()));
    let plain = "a plain name (no '/', '\\', '..' or control characters)";
    let inner = "a relative path inside the directory (no leading '/', no '..' or '.' components)";
    for b in &raw.artifact.binaries {
        if !crate::fsutil::is_plain_name(b) {
            return Err(bad("artifact.binaries".into(), b, plain));
        }
    }
    let template = raw.artifact.name.get_ref();
    let probe = template
        .replace("{version}", "1.0.0")
        .replace("{distro}", "d")
        .replace("{arch}", "a");
    if !crate::fsutil::is_plain_name(&probe) {
        return Err(bad("artifact.name".into(), template, plain));
    }
    if !is_inner_path(&raw.artifact.license) {
        return Err(bad("artifact.license".into(), &raw.artifact.license, inner));
    }
    let prefix = raw.artifact.s3_prefix.trim_end_matches('/');
    if !prefix.is_empty() && !is_inner_path(prefix) {
        return Err(bad("artifact.s3_prefix".into(), &raw.artifact.s3_prefix, inner));
    }
    for (name, b) in &raw.builders {
        if !crate::fsutil::is_plain_name(name) {
            return Err(bad("builders".into(), name, plain));
        }
        if let Some(d) = &b.get_ref().dockerfile {
            if !is_inner_path(d) {
                return Err(bad(format!("builders.{name}.dockerfile"), d, inner));
            }
        }
    }
    for t in &raw.targets {
        let d = t.get_ref().distro.get_ref();
        if !crate::fsutil::is_plain_name(d) {
            return Err(bad("target.distro".into(), d, plain));
        }
    }
    Ok(())
}

pub(super) fn parse_major_minor(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The file as written; toml's errors become `file:line:col: key: message`.
pub(super) fn parse_raw(text: &str, path: &Path) -> Result<RawFile> {
    toml::from_str(text).map_err(|e| {
        let mut msg = e.message().trim_end().to_string();
        if let Some(sp) = e.span() {
            // Name the key of a bad value (`arch: unknown variant ...`).
            let line_start = text[..sp.start.min(text.len())].rfind('\n').map(|i| i + 1).unwrap_or(0);
            let line = text[line_start..].lines().next().unwrap_or("");
            if let Some((key, _)) = line.split_once('=') {
                let key = key.trim();
                if sp.start > line_start + key.len()
                    && !key.is_empty()
                    && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    msg = format!("{key}: {msg}");
                }
            }
        }
        match e.span() {
            Some(sp) => at(path, text, sp, msg),
            None => Error::input(format!("{}: {msg}", path.display())),
        }
    })
}

/// The file-wide fields: templates, names, binaries, key prefix, conditional make flags.
pub(super) fn check_file(path: &Path, text: &str, raw: &RawFile) -> Result<()> {
    check_template(path, text, &raw.artifact.name, &["version", "distro", "arch"], "artifact.name")?;
    check_template(path, text, &raw.source.tag_url, &["version"], "source.tag_url")?;
    check_names(path, raw)?;
    if raw.artifact.binaries.is_empty() {
        return Err(Error::input(format!(
            "{}: artifact.binaries: list at least one binary",
            path.display()
        )));
    }
    if !raw.artifact.s3_prefix.is_empty() && !raw.artifact.s3_prefix.ends_with('/') {
        return Err(Error::input(format!(
            "{}: artifact.s3_prefix {:?} must end with '/' (e.g. \"releases/\")",
            path.display(),
            raw.artifact.s3_prefix
        )));
    }
    for c in &raw.make.conditional {
        if parse_major_minor(c.since.get_ref()).is_none() {
            return Err(at(
                path,
                text,
                c.since.span(),
                format!("make.conditional.since: {:?} is not M.m (e.g. \"8.1\")", c.since.get_ref()),
            ));
        }
    }
    Ok(())
}

/// `[builders.<name>]`: limits, glibc, method, architectures.
pub(super) fn builders(path: &Path, text: &str, raw: &RawFile) -> Result<BTreeMap<String, BuilderSpec>> {
    let mut builders = BTreeMap::new();
    for (name, b) in &raw.builders {
        let spec = b.get_ref();
        if let Some(l) = &spec.limits {
            l.validate(name)
                .map_err(|e| at(path, text, b.span(), e.to_string().trim_start_matches("targets.toml: ")))?;
        }
        if spec.glibc.get_ref().split('.').count() != 2 || parse_major_minor(spec.glibc.get_ref()).is_none() {
            return Err(at(
                path,
                text,
                spec.glibc.span(),
                format!(
                    "builders.{name}.glibc: {:?} is not a glibc version like \"2.36\"",
                    spec.glibc.get_ref()
                ),
            ));
        }
        if spec.method == BuilderMethod::Dockerfile && spec.dockerfile.is_none() {
            return Err(at(
                path,
                text,
                b.span(),
                format!("builders.{name}: method \"dockerfile\" needs a `dockerfile = \"builders/{name}/Dockerfile\"` field"),
            ));
        }
        if spec.architectures.is_empty() {
            return Err(at(
                path,
                text,
                b.span(),
                format!("builders.{name}.architectures: list at least one (e.g. [\"amd64\"])"),
            ));
        }
        let first = &spec.architectures[0];
        if Arch::from_debian(first).is_none() {
            return Err(at(
                path,
                text,
                b.span(),
                format!(
                    "builders.{name}.architectures: the first entry is the image's own architecture and must be \"amd64\" or \"arm64\", not {first:?}"
                ),
            ));
        }
        builders.insert(name.clone(), spec.clone());
    }
    Ok(builders)
}

/// One `[[target]]`: a plain distro, a unique name, a known builder of the right architecture
/// (or a `cross` table), known package formats. `seen` holds the names before it.
pub(super) fn target(
    path: &Path,
    text: &str,
    t: &Spanned<TargetSpec>,
    builders: &BTreeMap<String, BuilderSpec>,
    seen: &mut BTreeMap<String, usize>,
) -> Result<Target> {
    let spec = t.get_ref();
    let distro = spec.distro.get_ref().clone();
    if distro.is_empty() || !distro.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_') {
        return Err(at(
            path,
            text,
            spec.distro.span(),
            format!("target.distro: {distro:?} must be a plain name like \"jammy\""),
        ));
    }
    let arch = *spec.arch.get_ref();
    let name = format!("{distro}-{arch}");
    if let Some(first) = seen.get(&name) {
        let (l, _) = line_col(text, *first);
        return Err(at(
            path,
            text,
            t.span(),
            format!("duplicate target {name} (first defined at line {l})"),
        ));
    }
    seen.insert(name.clone(), t.span().start);
    let bname = spec.builder.get_ref();
    let builder = builders.get(bname).ok_or_else(|| {
        let known: Vec<&String> = builders.keys().collect();
        at(
            path,
            text,
            spec.builder.span(),
            format!("target {name}: unknown builder {bname:?}; defined builders: {known:?}"),
        )
    })?;
    let image_arch = Arch::from_debian(&builder.architectures[0]).unwrap_or(arch);
    check_cross(path, text, spec, &name, image_arch)?;
    for f in &spec.packages {
        if !PACKAGE_FORMATS.contains(&f.get_ref().as_str()) {
            return Err(at(
                path,
                text,
                f.span(),
                format!(
                    "target {name}: unknown package format {:?}; known: {PACKAGE_FORMATS:?}",
                    f.get_ref()
                ),
            ));
        }
    }
    Ok(Target {
        name,
        distro,
        arch,
        builder: bname.clone(),
        official: spec.official,
        default: spec.default,
        cross: spec.cross.clone(),
        engine: spec.engine.clone(),
        insecure_engine: spec.insecure_engine,
        limits: builder.limits.clone().unwrap_or_default(),
        glibc: builder.glibc.get_ref().clone(),
        image_arch,
        packages: spec.packages.iter().map(|f| f.get_ref().clone()).collect(),
    })
}

/// A native target needs a builder image of its own architecture; a cross one, of the other.
fn check_cross(path: &Path, text: &str, spec: &TargetSpec, name: &str, image_arch: Arch) -> Result<()> {
    let arch = *spec.arch.get_ref();
    let bname = spec.builder.get_ref();
    match (&spec.cross, image_arch == arch) {
        (None, false) => Err(at(
            path,
            text,
            spec.builder.span(),
            format!(
                "target {name}: has no `cross` table, so it builds natively, but builder {bname:?} makes an {} image \
                 (its first architecture); name a builder whose architectures start with \"{}\", or add \
                 cross = {{ triple = ..., tools = {{ CC = ... }} }} to cross-compile",
                image_arch.debian(),
                arch.debian()
            ),
        )),
        (Some(_), true) => Err(at(
            path,
            text,
            spec.builder.span(),
            format!(
                "target {name}: has a `cross` table, but builder {bname:?} already makes an {} image; \
                 remove `cross` to build natively, or name a builder of the other architecture",
                image_arch.debian()
            ),
        )),
        _ => Ok(()),
    }
}
