//! valkey-doc's `topics/modules-api-ref.md`, regenerated from the release's own source.
//!
//! A post-build hook ([`ModulesDoc`]): for a GA `M.m.0` (the only versions the valkey-doc
//! hand-off applies to) it runs the source's `utils/generate-module-api-doc.rb` with Ruby inside
//! the target's builder container (network none, the farm runs it like any build), from the
//! build tree's top directory as upstream does. Its output is kept as a `facts` file,
//! `dist/facts/<target>/modules-api-ref.md`, which the release's docs hand-off reads
//! ([`from_dist`]). A builder without Ruby, or a source without the script, produces nothing and
//! the hand-off says the file was not regenerated.

use crate::error::{Error, Result};
use crate::farm::hooks::{HookContext, InputFile, Job, PostBuild, Produced};
use crate::version::Version;
use std::path::Path;

/// The file name of the generated page under `dist/facts/<target>/`.
pub const FILE: &str = "modules-api-ref.md";
const DIR: &str = "/hooks/modules-doc";
const OUT: &str = "/hooks/modules-doc/out";

/// Run from the top of the build tree (the script requires `./utils/module-api-since.rb`).
const SCRIPT: &str = r#"set -eu
mkdir -p /hooks/modules-doc/out
cd "$BUILD_DIR"
if [ ! -f utils/generate-module-api-doc.rb ]; then
  echo "modules-doc: the source has no utils/generate-module-api-doc.rb: nothing generated"; exit 0
fi
if ! command -v ruby >/dev/null 2>&1; then
  echo "modules-doc: this builder has no ruby: nothing generated"; exit 0
fi
ruby utils/generate-module-api-doc.rb > /hooks/modules-doc/out/modules-api-ref.md
echo "modules-doc: generated $(wc -l < /hooks/modules-doc/out/modules-api-ref.md) lines"
"#;

/// Does the valkey-doc page get regenerated for this version (a GA `M.m.0`)?
pub fn applies(v: &Version) -> bool {
    matches!(v.numbers(), Some((_, _, 0))) && !v.is_rc()
}

/// The `modules-doc` hook.
pub struct ModulesDoc;

impl PostBuild for ModulesDoc {
    fn name(&self) -> &'static str {
        "modules-doc"
    }

    fn job(&self, ctx: &HookContext<'_>) -> Result<Option<Job>> {
        if !applies(ctx.version) {
            return Ok(None);
        }
        Ok(Some(Job {
            name: "modules-doc".into(),
            inputs: vec![InputFile {
                path: format!("{DIR}/run.sh"),
                bytes: SCRIPT.as_bytes().to_vec(),
                mode: 0o644,
            }],
            cmd: vec!["sh".into(), "-eu".into(), format!("{DIR}/run.sh")],
            env: vec![format!("BUILD_DIR={}", ctx.build_dir)],
            output_dir: OUT.into(),
        }))
    }

    fn collect(&self, _ctx: &HookContext<'_>, outputs: Vec<(String, Vec<u8>)>) -> Result<Vec<Produced>> {
        let Some((_, bytes)) = outputs.into_iter().find(|(n, _)| n == FILE) else {
            return Ok(vec![]);
        };
        if bytes.is_empty() || std::str::from_utf8(&bytes).is_err() {
            return Err(Error::check(
                "modules-doc: utils/generate-module-api-doc.rb wrote an empty or non-UTF-8 page",
            ));
        }
        Ok(vec![Produced {
            file_name: FILE.into(),
            bytes,
            kind: "facts".into(),
        }])
    }
}

/// The page a build of this dist generated, if any (`dist/facts/*/modules-api-ref.md`, the
/// first target in name order: every target generates it from the same source).
pub fn from_dist(dist: &Path) -> Option<String> {
    let mut dirs: Vec<_> = std::fs::read_dir(dist.join("facts")).ok()?.flatten().map(|e| e.path()).collect();
    dirs.sort();
    dirs.into_iter().find_map(|d| std::fs::read_to_string(d.join(FILE)).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_to_ga_minor_zero_only() {
        for (v, want) in [
            ("9.2.0", true),
            ("8.0.0", true),
            ("9.2.1", false),
            ("9.2.0-rc1", false),
            ("unstable", false),
        ] {
            assert_eq!(applies(&Version::parse(v).unwrap()), want, "{v}");
        }
    }

    #[test]
    fn from_dist_reads_the_first_target_page() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(from_dist(d.path()), None);
        for (t, text) in [("bookworm-x86_64", "x"), ("bookworm-arm64", "a")] {
            std::fs::create_dir_all(d.path().join("facts").join(t)).unwrap();
            std::fs::write(d.path().join("facts").join(t).join(FILE), text).unwrap();
        }
        assert_eq!(from_dist(d.path()).as_deref(), Some("a"));
    }
}
