//! SBOM: the sbom-facts hook's script run in the real bookworm builder container (network none)
//! over a tree with the version files of Valkey 8.1.1's deps, then the SPDX document checked by
//! the real validators `pyspdxtools` and `ntia-checker` (pip install spdx-tools
//! ntia-conformance-checker; .ci/setup installs both).

mod build_support;

use std::path::Path;
use std::process::Command;
use valkey_release::farm::hooks::{HookContext, PostBuild};
use valkey_release::manifest::SourceInfo;
use valkey_release::sbom;

fn need(tool: &str, install: &str) {
    let ok = Command::new(tool)
        .arg("--help")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "{tool} is not installed: {install} (or run .ci/setup)");
}

/// The bookworm builder image tag (made once by `valkey-release images`, reused by tag).
fn builder_tag() -> String {
    build_support::image_args();
    let out = Command::new(build_support::BIN)
        .arg("--targets")
        .arg(build_support::targets_toml())
        .args(["--json", "images", "--target", "bookworm-x86_64"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["images"][0]["tag"].as_str().unwrap().to_string()
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Run the hook's job in a container of `image` with `tree` at the build dir; return its outputs.
fn run_hook(image: &str, tree: &Path, job: &valkey_release::farm::hooks::Job, build_dir: &str) -> Vec<(String, Vec<u8>)> {
    let mut args = vec!["create".to_string(), "--network".into(), "none".into()];
    for e in &job.env {
        args.push("-e".into());
        args.push(e.clone());
    }
    args.push(image.into());
    args.extend(job.cmd.iter().cloned());
    let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = docker(&args_ref);
    let staging = tempfile::tempdir().unwrap();
    for f in &job.inputs {
        let p = staging.path().join(f.path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &f.bytes).unwrap();
    }
    docker(&["cp", &format!("{}/hooks", staging.path().display()), &format!("{id}:/hooks")]);
    docker(&["cp", &tree.display().to_string(), &format!("{id}:{build_dir}")]);
    let st = Command::new("docker").args(["start", "-a", &id]).status().unwrap();
    let back = tempfile::tempdir().unwrap();
    docker(&[
        "cp",
        &format!("{id}:{}", job.output_dir),
        &back.path().join("out").display().to_string(),
    ]);
    docker(&["rm", "-f", &id]);
    assert!(st.success(), "hook script failed");
    let mut files = Vec::new();
    collect(&back.path().join("out"), "", &mut files);
    files.sort();
    files
}

fn collect(dir: &Path, rel: &str, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = format!("{rel}{}", e.file_name().to_string_lossy());
        if e.file_type().unwrap().is_dir() {
            collect(&e.path(), &format!("{name}/"), out);
        } else {
            out.push((name, std::fs::read(e.path()).unwrap()));
        }
    }
}

#[test]
fn sbom_from_real_builder_passes_spdx_and_ntia_validators() {
    need("pyspdxtools", "pip install spdx-tools");
    need("ntia-checker", "pip install ntia-conformance-checker");
    let image = builder_tag();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tree = root.join("tests/fixtures/trust/tree");
    let matrix = valkey_release::targets::Matrix::load(Some(&build_support::targets_toml())).unwrap();
    let target = matrix.targets.iter().find(|t| t.name == "bookworm-x86_64").unwrap().clone();
    let version = valkey_release::version::Version::parse("8.1.1").unwrap();
    // The libraries a real valkey-server 8.1.1 built with BUILD_TLS/USE_SYSTEMD links.
    let needed = "libc.so.6 libm.so.6 libssl.so.3 libcrypto.so.3 libsystemd.so.0";
    let ctx = HookContext {
        target: &target,
        version: &version,
        source_date_epoch: 1_746_000_000,
        artifact_name: "valkey-8.1.1-bookworm-x86_64",
        build_dir: "/build",
        binaries: &[],
        license: b"BSD",
    };
    let hook = sbom::hook::SbomFacts;
    let mut job = hook.job(&ctx).unwrap().unwrap();
    for e in job.env.iter_mut() {
        if e.starts_with("NEEDED=") {
            *e = format!("NEEDED={needed}");
        }
    }
    let outputs = run_hook(&image, &tree, &job, "/build");
    let produced = hook.collect(&ctx, outputs).unwrap();
    assert_eq!(produced.len(), 1);
    assert_eq!(produced[0].kind, "facts");
    let facts: sbom::facts::Facts = serde_json::from_slice(&produced[0].bytes).unwrap();
    assert_eq!(facts.distro_id, "debian");
    assert_eq!(facts.distro_version, "12");
    let ssl = facts.libraries.iter().find(|l| l.soname == "libssl.so.3").unwrap();
    assert_eq!((ssl.package.as_str(), ssl.arch.as_str()), ("libssl3", "amd64"), "{facts:?}");
    assert_eq!(&ssl.version, facts.packages.get("libssl3:amd64").unwrap());
    for l in &facts.libraries {
        assert!(!l.package.is_empty(), "{} has no package: {facts:?}", l.soname);
    }
    let jem = facts.components.iter().find(|c| c.name == "jemalloc").unwrap();
    assert_eq!(jem.version, "5.3.0");

    let source = SourceInfo {
        name: "valkey-8.1.1.tar.gz".into(),
        kind: "archive".into(),
        url: Some("https://github.com/valkey-io/valkey/archive/refs/tags/8.1.1.tar.gz".into()),
        sha256: Some("3355fbd5458d853ab201d2c046ffca9f078000587ccbe9a6c585110f146ad2c5".into()),
        git_commit: None,
        source_sha: None,
    };
    let input = sbom::SbomInput {
        version: "8.1.1",
        source: &source,
        source_date_epoch: 1_746_000_000,
        artifact_file: "valkey-8.1.1-bookworm-x86_64.tar.gz",
        artifact_sha256: &"ab".repeat(32),
        artifact_key: "valkey-8.1.1-bookworm-x86_64.tar.gz",
        public_url: "https://download.valkey.io/releases/",
        facts: &facts,
    };
    let bytes = sbom::render(&input).unwrap();
    assert_eq!(bytes, sbom::render(&input).unwrap(), "same inputs, same bytes");
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("valkey-8.1.1-bookworm-x86_64.tar.gz.spdx.json");
    std::fs::write(&f, &bytes).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["creationInfo"]["created"], "2025-04-30T08:00:00Z");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("pkg:deb/debian/libssl3@"), "{text}");
    assert!(text.contains("pkg:generic/valkey@8.1.1"));
    for rel in ["DESCRIBES", "CONTAINS", "DYNAMIC_LINK"] {
        assert!(text.contains(&format!("\"{rel}\"")), "no {rel}");
    }

    let out = Command::new("pyspdxtools").arg("-i").arg(&f).output().unwrap();
    eprintln!(
        "pyspdxtools: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pyspdxtools rejected the SBOM");
    let out = Command::new("ntia-checker").arg(&f).output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("ntia-checker: {report}");
    assert!(out.status.success(), "ntia-checker failed");
    assert!(report.contains("Conformant: True"), "{report}");

    // The SBOM of a .deb of the same target: the package file itself (its name, sha256, Debian
    // purl, URL under deb/), the same bundled components and linked libraries as the tarball's.
    let deb = "valkey-server_8.1.1-1.bookworm_amd64.deb";
    let deb_input = sbom::SbomInput {
        artifact_file: deb,
        artifact_sha256: &"cd".repeat(32),
        artifact_key: &format!("deb/{deb}"),
        ..input
    };
    let deb_bytes = sbom::render(&deb_input).unwrap();
    let ddoc: serde_json::Value = serde_json::from_slice(&deb_bytes).unwrap();
    let described = ddoc["documentDescribes"][0].as_str().unwrap();
    let art = ddoc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["SPDXID"] == described)
        .unwrap();
    assert_eq!(art["packageFileName"], deb);
    assert_eq!(art["name"], "valkey-server");
    assert_eq!(art["versionInfo"], "8.1.1-1.bookworm");
    assert_eq!(art["checksums"][0]["checksumValue"], "cd".repeat(32));
    assert_eq!(art["downloadLocation"], format!("https://download.valkey.io/releases/deb/{deb}"));
    assert_eq!(
        art["externalRefs"][0]["referenceLocator"],
        "pkg:deb/debian/valkey-server@8.1.1-1.bookworm?arch=amd64&distro=debian-12"
    );
    // Everything but the described package itself is the tarball's.
    let others = |d: &serde_json::Value| -> Vec<serde_json::Value> {
        d["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["SPDXID"] != "SPDXRef-Artifact")
            .cloned()
            .collect()
    };
    assert_eq!(others(&ddoc), others(&doc), "the .deb's components and libraries are the tarball's");
    assert_eq!(ddoc["relationships"], doc["relationships"]);
    let fd = d.path().join(format!("{deb}.spdx.json"));
    std::fs::write(&fd, &deb_bytes).unwrap();
    let out = Command::new("pyspdxtools").arg("-i").arg(&fd).output().unwrap();
    assert!(
        out.status.success(),
        "pyspdxtools rejected the .deb SBOM: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("ntia-checker").arg(&fd).output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && report.contains("Conformant: True"),
        "ntia-checker (.deb): {report}"
    );
}
