//! The `sbom-facts` post-build hook: run in the target's builder container after its build,
//! it copies out the files that carry the bundled components' versions, finds which distro
//! package provided each shared library the binaries link (`dpkg -S`, `dpkg-query`), and lists
//! the builder's packages. `collect` turns that into one [`Facts`] file (kind `facts`).

use super::facts::{self, Facts};
use crate::error::{Error, Result};
use crate::farm::hooks::{HookContext, InputFile, Job, PostBuild, Produced};
use crate::targets::Arch;

const DIR: &str = "/hooks/sbom-facts";
const OUT: &str = "/hooks/sbom-facts/out";

/// The script run in the container. Environment: BUILD_DIR, TRIPLET, NEEDED (sonames),
/// TREE_FILES (paths relative to BUILD_DIR).
const SCRIPT: &str = r#"set -eu
out=/hooks/sbom-facts/out
mkdir -p "$out/tree"
cd "$BUILD_DIR"
for f in $TREE_FILES; do
  if [ -f "$f" ]; then mkdir -p "$out/tree/$(dirname "$f")"; cp "$f" "$out/tree/$f";
  elif [ -d "$f" ]; then mkdir -p "$out/tree/$f"; : > "$out/tree/$f/.present"; fi
done
cp /etc/os-release "$out/os-release" 2>/dev/null || : > "$out/os-release"
# Debian/Ubuntu builders answer with dpkg; RPM builders (Oracle Linux, Rocky, ...) with rpm.
if command -v dpkg-query >/dev/null 2>&1; then pm=deb; else pm=rpm; fi
rpmver='%|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE}'
if [ "$pm" = deb ]; then
  dpkg-query -W -f '${Package}:${Architecture}\t${Version}\n' | LC_ALL=C sort > "$out/packages.tsv"
else
  rpm -qa --qf "%{NAME}:%{ARCH}\t$rpmver\n" | LC_ALL=C sort > "$out/packages.tsv"
fi
: > "$out/libs.tsv"
for so in $NEEDED; do
  path=""; pkg=""; ver=""; mnt=""
  for d in /lib/$TRIPLET /usr/lib/$TRIPLET /lib /usr/lib /lib64 /usr/lib64; do
    [ -e "$d/$so" ] || continue
    path="$d/$so"
    real=$(readlink -f "$path")
    for q in "$path" "$real" "/usr$path" "${path#/usr}" "/usr$real" "${real#/usr}"; do
      if [ "$pm" = deb ]; then
        pkg=$(dpkg -S "$q" 2>/dev/null | head -n 1 | sed 's/: .*//; s/, .*//') || pkg=""
      else
        pkg=$(rpm -qf --qf '%{NAME}:%{ARCH}\n' "$q" 2>/dev/null | head -n 1) || pkg=""
      fi
      [ -n "$pkg" ] && break
    done
    break
  done
  if [ -n "$pkg" ] && [ "$pm" = deb ]; then
    ver=$(dpkg-query -W -f '${Version}' "$pkg")
    mnt=$(dpkg-query -W -f '${Maintainer}' "$pkg")
    case "$pkg" in *:*) ;; *) pkg="$pkg:$(dpkg-query -W -f '${Architecture}' "$pkg")";; esac
  elif [ -n "$pkg" ]; then
    ver=$(rpm -q --qf "$rpmver\n" "${pkg%%:*}.${pkg#*:}" | head -n 1)
    mnt=$(rpm -q --qf '%{VENDOR}\n' "${pkg%%:*}.${pkg#*:}" | head -n 1)
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$so" "$path" "$pkg" "$ver" "$mnt" >> "$out/libs.tsv"
done
"#;

/// The GNU triplet of an architecture's library directory.
pub fn triplet(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64-linux-gnu",
        Arch::Arm64 => "aarch64-linux-gnu",
    }
}

/// Sorted, unique DT_NEEDED entries of the binaries.
pub fn needed(binaries: &[(String, Vec<u8>)]) -> Result<Vec<String>> {
    let mut all = Vec::new();
    for (name, data) in binaries {
        all.extend(crate::farm::checks::inspect_elf(name, data)?.needed_libs);
    }
    all.sort();
    all.dedup();
    Ok(all)
}

/// The `sbom-facts` hook.
pub struct SbomFacts;

impl PostBuild for SbomFacts {
    fn name(&self) -> &'static str {
        "sbom-facts"
    }

    fn job(&self, ctx: &HookContext<'_>) -> Result<Option<Job>> {
        let needed = needed(ctx.binaries)?;
        Ok(Some(Job {
            name: "sbom-facts".into(),
            inputs: vec![InputFile {
                path: format!("{DIR}/facts.sh"),
                bytes: SCRIPT.as_bytes().to_vec(),
                mode: 0o644,
            }],
            cmd: vec!["sh".into(), "-eu".into(), format!("{DIR}/facts.sh")],
            env: vec![
                format!("BUILD_DIR={}", ctx.build_dir),
                format!("TRIPLET={}", triplet(ctx.target.arch)),
                format!("NEEDED={}", needed.join(" ")),
                format!("TREE_FILES={}", facts::tree_files().join(" ")),
            ],
            output_dir: OUT.into(),
        }))
    }

    fn collect(&self, ctx: &HookContext<'_>, outputs: Vec<(String, Vec<u8>)>) -> Result<Vec<Produced>> {
        let facts = facts_from_outputs(&ctx.target.name, &outputs)?;
        Ok(vec![Produced {
            file_name: facts::FACTS_FILE.into(),
            bytes: facts.to_json(),
            kind: "facts".into(),
        }])
    }
}

/// Build [`Facts`] from the files the script wrote (names relative to its output directory).
pub fn facts_from_outputs(target: &str, outputs: &[(String, Vec<u8>)]) -> Result<Facts> {
    let text = |name: &str| {
        outputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
    };
    let libs = text("libs.tsv").ok_or_else(|| Error::check("sbom-facts hook: libs.tsv was not written"))?;
    let packages = text("packages.tsv").ok_or_else(|| Error::check("sbom-facts hook: packages.tsv was not written"))?;
    let (distro_id, distro_version) = facts::parse_os_release(&text("os-release").unwrap_or_default());
    let components = facts::components(
        |d| outputs.iter().any(|(n, _)| n.starts_with(&format!("tree/{d}/"))),
        |f| text(&format!("tree/{f}")),
    );
    let libraries = facts::parse_libs(&libs)?;
    let (packages, packages_sha256) = facts::parse_packages(&packages);
    Ok(Facts {
        target: target.to_string(),
        distro_id,
        distro_version,
        components,
        libraries,
        packages_sha256,
        packages,
    })
}

#[cfg(test)]
mod tests {
    /// On an RPM builder (no dpkg) the script asks rpm instead and still writes every file:
    /// run here with a PATH holding rpm (Debian's rpm package; .ci/setup --tests) but no dpkg.
    #[test]
    fn the_facts_script_works_without_dpkg() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for tool in ["sh", "rpm", "sort", "sed", "head", "readlink", "cp", "mkdir", "dirname"] {
            let p = ["/usr/bin", "/bin"]
                .iter()
                .map(|d| std::path::Path::new(d).join(tool))
                .find(|p| p.exists())
                .unwrap_or_else(|| panic!("{tool} is not installed (rpm: apt-get install rpm; or .ci/setup --tests)"));
            std::os::unix::fs::symlink(p, bin.join(tool)).unwrap();
        }
        let out = d.path().join("out");
        let script = super::SCRIPT.replace("out=/hooks/sbom-facts/out", &format!("out={}", out.display()));
        let o = std::process::Command::new(bin.join("sh"))
            .args(["-c", &script])
            .env_clear()
            .env("PATH", &bin)
            .env("BUILD_DIR", d.path())
            .env("TRIPLET", "x86_64-linux-gnu")
            .env("NEEDED", "libc.so.6")
            .env("TREE_FILES", "")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains("dpkg"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(out.join("packages.tsv").exists());
        let libs = std::fs::read_to_string(out.join("libs.tsv")).unwrap();
        assert!(libs.starts_with("libc.so.6\t"), "{libs}");
    }

    #[test]
    fn rpm_distros_get_rpm_purls() {
        assert_eq!(
            crate::sbom::distro_purl("ol", "9.4", "openssl-libs", "1:3.0.7-27.0.1.el9", "x86_64"),
            "pkg:rpm/ol/openssl-libs@1%3A3.0.7-27.0.1.el9?arch=x86_64&distro=ol-9.4"
        );
        assert!(crate::sbom::distro_purl("debian", "12", "libssl3", "3.0.15-1~deb12u1", "amd64").starts_with("pkg:deb/debian/libssl3@"));
    }
}
