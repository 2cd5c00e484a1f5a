//! `targets` and targets.toml validation: every error names file:line:column.

mod core_support;

use core_support::*;
use std::path::Path;

fn shipped() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("targets.toml")).unwrap()
}

/// Write `text` as a targets file and run `targets` with it; returns (code, stderr).
fn with_targets(dir: &Path, name: &str, text: &str) -> (Option<i32>, String) {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    let o = run(cmd().arg("--targets").arg(&p).arg("targets").current_dir(dir));
    (o.status.code(), stderr(&o))
}

/// 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).expect(needle)].matches('\n').count() + 1
}

#[test]
fn lists_the_matrix_as_table_and_json() {
    let o = run(cmd().arg("targets"));
    assert_code(&o, 0);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[1].starts_with("TARGET"), "{out}");
    // Columns line up: MODE starts at the same offset on every row, wide enough for cross:aarch64.
    let col = lines[1].find("MODE").unwrap();
    for l in &lines[2..] {
        let m = &l[col..];
        assert!(m.starts_with("native ") || m.starts_with("cross:aarch64 "), "{l:?}");
    }
    for t in [
        "jammy-x86_64",
        "jammy-arm64",
        "noble-x86_64",
        "noble-arm64",
        "bookworm-x86_64",
        "bookworm-arm64",
        "trixie-x86_64",
        "trixie-arm64",
        "bullseye-x86_64",
        "bullseye-arm64",
    ] {
        assert!(lines.iter().any(|l| l.starts_with(&format!("{t} "))), "{t}: {out}");
    }
    let o = run(cmd().args(["targets", "--json"]));
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["artifact"], "valkey-{version}-{distro}-{arch}");
    assert_eq!(v["s3_prefix"], "releases/");
    let ts = v["targets"].as_array().unwrap();
    // 10 Debian-family targets (bullseye, bookworm, trixie, jammy, noble; x86_64 and arm64) and the 30 RPM
    // platform targets, which need a registry and are built only when named (`default = false`).
    assert_eq!(ts.len(), 40);
    assert_eq!(ts.iter().filter(|t| t["default"] == true).count(), 10);
    let ba = ts.iter().find(|t| t["name"] == "bullseye-arm64").unwrap();
    assert_eq!((ba["builder"].as_str(), ba["mode"].as_str()), (Some("bullseye"), Some("cross")));
    let r = ts.iter().find(|t| t["name"] == "rocky9-arm64").unwrap();
    assert_eq!(
        (r["default"].as_bool(), r["method"].as_str(), r["mode"].as_str()),
        (Some(false), Some("dockerfile"), Some("native"))
    );
    let ja = ts.iter().find(|t| t["name"] == "jammy-arm64").unwrap();
    assert_eq!(ja["mode"], "cross");
    assert_eq!(ja["triple"], "aarch64-linux-gnu");
    assert_eq!(ja["official"], true);
    let o = run(cmd().args(["targets", "--official", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["targets"].as_array().unwrap().len(), 4);
}

#[test]
fn unknown_arch() {
    let t = tempfile::tempdir().unwrap();
    let text = shipped().replacen("arch = \"x86_64\"", "arch = \"amd64\"", 1);
    let (code, err) = with_targets(t.path(), "arch.toml", &text);
    assert_eq!(code, Some(2));
    let l = line_of(&text, "arch = \"amd64\"");
    assert!(err.contains(&format!("arch.toml:{l}:8:")), "{err}");
    assert!(err.contains("amd64") && err.contains("x86_64") && err.contains("arm64"), "{err}");
}

#[test]
fn duplicate_target() {
    let t = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\n[[target]]\ndistro = \"noble\"\narch = \"arm64\"\nbuilder = \"noble\"\n",
        shipped()
    );
    let (code, err) = with_targets(t.path(), "dup.toml", &text);
    assert_eq!(code, Some(2));
    let l = text.lines().count() - 3;
    assert!(err.contains(&format!("dup.toml:{l}:1: duplicate target noble-arm64")), "{err}");
    assert!(err.contains("first defined at line"), "{err}");
}

#[test]
fn unknown_template_key() {
    let t = tempfile::tempdir().unwrap();
    let text = shipped().replace("\"valkey-{version}-{distro}-{arch}\"", "\"valkey-{version}-{os}-{arch}\"");
    let (code, err) = with_targets(t.path(), "tmpl.toml", &text);
    assert_eq!(code, Some(2));
    let l = line_of(&text, "valkey-{version}-{os}");
    assert!(err.contains(&format!("tmpl.toml:{l}:8:")), "{err}");
    assert!(err.contains("{os}") && err.contains("{distro}"), "{err}");
}

#[test]
fn missing_field() {
    let t = tempfile::tempdir().unwrap();
    let block = "[[target]]\ndistro = \"noble\"\narch = \"x86_64\"\nbuilder = \"noble\"\n";
    let text = shipped().replace(block, "[[target]]\ndistro = \"noble\"\narch = \"x86_64\"\n");
    let (code, err) = with_targets(t.path(), "missing.toml", &text);
    assert_eq!(code, Some(2));
    let l = line_of(&text, "[[target]]\ndistro = \"noble\"\narch = \"x86_64\"\n");
    assert!(err.contains(&format!("missing.toml:{l}:1: missing field `builder`")), "{err}");

    let text = shipped().replace("license = \"COPYING\"\n", "");
    let (code, err) = with_targets(t.path(), "missing2.toml", &text);
    assert_eq!(code, Some(2));
    assert!(err.contains("missing2.toml:") && err.contains("missing field `license`"), "{err}");
}

#[test]
fn unknown_field_and_unknown_builder() {
    let t = tempfile::tempdir().unwrap();
    let text = shipped().replacen("official = true\n", "official = true\nofficail = true\n", 1);
    let (code, err) = with_targets(t.path(), "unk.toml", &text);
    assert_eq!(code, Some(2));
    let l = line_of(&text, "officail");
    assert!(err.contains(&format!("unk.toml:{l}:1: unknown field `officail`")), "{err}");

    let text = shipped().replacen("builder = \"jammy\"", "builder = \"focal\"", 1);
    let (code, err) = with_targets(t.path(), "b.toml", &text);
    assert_eq!(code, Some(2));
    let l = line_of(&text, "builder = \"focal\"");
    assert!(err.contains(&format!("b.toml:{l}:11:")) && err.contains("focal"), "{err}");
}

#[test]
fn native_and_cross_must_match_the_builder_arch() {
    let t = tempfile::tempdir().unwrap();
    // bookworm-arm64 without its cross table, still on the amd64 bookworm builder.
    let text = bookworm_arm64_block(&shipped(), |b| {
        b.lines().filter(|l| !l.starts_with("cross =")).map(|l| format!("{l}\n")).collect()
    });
    assert_ne!(text, shipped());
    let (code, err) = with_targets(t.path(), "native.toml", &text);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("target bookworm-arm64: has no `cross` table") && err.contains("makes an amd64 image") && err.contains("\"arm64\""),
        "{err}"
    );
    // The same target on the arm64 builder is a native build.
    let text = text.replacen(
        "arch = \"arm64\"\nbuilder = \"bookworm\"\n",
        "arch = \"arm64\"\nbuilder = \"bookworm-arm64\"\n",
        1,
    );
    let (code, err) = with_targets(t.path(), "native-ok.toml", &text);
    assert_eq!(code, Some(0), "{err}");
    // A cross table on a builder that already has the target's arch is a contradiction.
    let text = bookworm_arm64_block(&shipped(), |b| {
        b.replacen("builder = \"bookworm\"\n", "builder = \"bookworm-arm64\"\n", 1)
    });
    assert_ne!(text, shipped());
    let (code, err) = with_targets(t.path(), "cross.toml", &text);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("has a `cross` table, but builder \"bookworm-arm64\" already makes an arm64 image"),
        "{err}"
    );
    // The image's own architecture must be one Docker can run.
    let text = shipped().replacen("architectures = [\"arm64\"]", "architectures = [\"armhf\"]", 1);
    let (code, err) = with_targets(t.path(), "armhf.toml", &text);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("builders.bookworm-arm64.architectures") && err.contains("\"armhf\""),
        "{err}"
    );
}

/// `text` with the `[[target]]` block of bookworm-arm64 (its lines after `arch = "arm64"` up to the
/// next blank line) replaced by `f(block)`.
fn bookworm_arm64_block(text: &str, f: impl Fn(&str) -> String) -> String {
    let start = text
        .find("distro = \"bookworm\"\narch = \"arm64\"\n")
        .expect("bookworm-arm64 target");
    let end = text[start..].find("\n\n").map(|e| start + e + 1).unwrap_or(text.len());
    format!("{}{}{}", &text[..start], f(&text[start..end]), &text[end..])
}

/// `default = false` targets (the RPM platforms: their Dockerfile builders need a registry) are
/// left out when no target is named, by build/images (`Matrix::select`) and release; named,
/// they are chosen like any other.
#[test]
fn targets_with_default_false_are_only_chosen_when_named() {
    let m = valkey_release::targets::Matrix::load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("targets.toml")).unwrap();
    let names = |ts: Vec<&valkey_release::targets::Target>| ts.into_iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    let all = names(m.select(&[]).unwrap());
    assert_eq!(all.len(), 10, "{all:?}");
    assert!(
        all.contains(&"bullseye-arm64".to_string()) && !all.iter().any(|n| n.starts_with("rocky")),
        "{all:?}"
    );
    let rel = names(valkey_release::release::plan::release_targets(&m, &[]).unwrap());
    assert_eq!(rel, ["jammy-x86_64", "jammy-arm64", "noble-x86_64", "noble-arm64"]);
    let named = names(m.select(&["rocky9-arm64".to_string()]).unwrap());
    assert_eq!(named, ["rocky9-arm64"]);
    let t = m.target("rocky9-arm64").unwrap();
    assert_eq!(
        (t.builder.as_str(), t.packages.clone(), t.default),
        ("rocky9-arm64", vec!["rpm".to_string()], false)
    );
}
