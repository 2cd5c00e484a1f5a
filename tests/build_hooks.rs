//! Post-build hooks through the real engine: a test-only hook runs in the target's own
//! builder container (network none) after the checks, and its files reach the dist directory;
//! a panicking target task still has its container removed.

mod build_support;
use build_support::*;
use std::sync::Arc;
use valkey_release::error::Result;
use valkey_release::farm::hooks::{HookContext, Hooks, InputFile, Job, PostBuild, Produced};
use valkey_release::farm::{run_build, BuildOptions, TargetStatus};
use valkey_release::progress::Progress;
use valkey_release::targets::Matrix;
use valkey_release::version::Version;

const SCRIPT: &str = r#"mkdir -p /hooks/t/out
cd /hooks/t/out
sha256sum /build/src/valkey-server | cut -d' ' -f1 > server.sha
ls /sys/class/net > net
echo "$SOURCE_DATE_EPOCH $HOOK_VAR" > env
mkdir -p deeper && echo nested > deeper/file
echo "hook says hello"
"#;

struct Facts {
    panic_in_collect: bool,
}

impl PostBuild for Facts {
    fn name(&self) -> &'static str {
        "test-facts"
    }
    fn job(&self, _ctx: &HookContext<'_>) -> Result<Option<Job>> {
        Ok(Some(Job {
            name: "test-facts".into(),
            inputs: vec![InputFile {
                path: "/hooks/t/run.sh".into(),
                bytes: SCRIPT.as_bytes().to_vec(),
                mode: 0o755,
            }],
            cmd: vec!["sh".into(), "-eu".into(), "/hooks/t/run.sh".into()],
            env: vec!["HOOK_VAR=from-the-hook".into()],
            output_dir: "/hooks/t/out".into(),
        }))
    }
    fn collect(&self, ctx: &HookContext<'_>, outputs: Vec<(String, Vec<u8>)>) -> Result<Vec<Produced>> {
        if self.panic_in_collect {
            panic!("test hook panics on purpose");
        }
        let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["deeper/file", "env", "net", "server.sha"]);
        let mut text = String::new();
        for (n, b) in &outputs {
            text.push_str(&format!("{n}: {}", String::from_utf8_lossy(b)));
        }
        Ok(vec![Produced {
            file_name: format!("{}.facts.txt", ctx.artifact_name),
            bytes: text.into_bytes(),
            kind: "facts".into(),
        }])
    }
}

fn options(src: &std::path::Path, dist: &std::path::Path, hook: Facts) -> (Matrix, BuildOptions) {
    let image = image_args();
    let matrix = Matrix::load_file(&targets_toml()).unwrap();
    let mut o = BuildOptions::new(Version::parse("8.1.1").unwrap());
    o.source = Some(src.to_string_lossy().into_owned());
    o.targets = vec!["bookworm-x86_64".into()];
    o.out = dist.to_path_buf();
    o.hooks = Hooks(vec![Arc::new(hook)]);
    if image.len() == 2 {
        o.builder_image = Some(image[1].clone());
    }
    (matrix, o)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hook_runs_in_the_target_container_and_its_files_reach_dist() {
    let (_d, src) = fixture(&[]);
    let out = tempfile::tempdir().unwrap();
    let dist = out.path().join("dist");
    let (matrix, opts) = options(&src, &dist, Facts { panic_in_collect: false });
    let r = run_build(&matrix, &opts, &Progress::plain()).await.unwrap();
    assert_eq!(r.targets[0].status, TargetStatus::Ok, "{:?}", r.targets[0]);
    let f = dist.join("facts/bookworm-x86_64/valkey-8.1.1-bookworm-x86_64.facts.txt");
    let text = std::fs::read_to_string(&f).unwrap();
    // The binary the hook saw is the one in the tarball.
    let m = manifest(&dist);
    let server = m["artifacts"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"].as_str().unwrap().ends_with("bin/valkey-server"))
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains(&format!("server.sha: {server}")), "{text}");
    assert!(text.contains("net: lo\n"), "the hook's container has a network: {text}");
    assert!(text.contains(&format!("env: {} from-the-hook", r.source_date_epoch)), "{text}");
    assert!(text.contains("deeper/file: nested"), "{text}");
    let log = std::fs::read_to_string(dist.join("logs/bookworm-x86_64.log")).unwrap();
    let (checked, hooked) = (log.find("checking binaries").unwrap(), log.find("hook says hello").unwrap());
    assert!(checked < hooked, "the hook ran before the checks");
    assert_eq!(r.targets[0].produced.len(), 1);
    assert!(containers_with(&format!("io.valkey.release.run={}", r.run_id)).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_target_task_fails_that_target_and_its_container_is_removed() {
    let (_d, src) = fixture(&[]);
    let out = tempfile::tempdir().unwrap();
    let dist = out.path().join("dist");
    let (matrix, opts) = options(&src, &dist, Facts { panic_in_collect: true });
    let r = run_build(&matrix, &opts, &Progress::plain()).await.unwrap();
    let t = &r.targets[0];
    assert_eq!(t.status, TargetStatus::Failed);
    assert!(t.error.as_deref().unwrap().contains("panicked"), "{t:?}");
    assert!(
        containers_with(&format!("io.valkey.release.run={}", r.run_id)).is_empty(),
        "the panicking target's container remains"
    );
}

/// valkey-doc's modules-api-ref.md for a GA M.m.0: the source's own generator, run with the
/// builder's Ruby in the target's container, lands in dist/facts/ where the docs hand-off reads it.
#[tokio::test(flavor = "multi_thread")]
async fn the_modules_api_doc_is_generated_by_the_sources_ruby_script_in_the_builder() {
    use valkey_release::publish::modules_doc::{from_dist, ModulesDoc};
    let (_d, src) = fixture(&[]);
    std::fs::write(src.join("src/version.h"), "#define VALKEY_VERSION \"9.2.0\"\n").unwrap();
    std::fs::create_dir_all(src.join("utils")).unwrap();
    // A stand-in with the real script's shape: it reads src/module.c relative to itself and
    // requires ./utils/module-api-since.rb from the tree's top directory.
    std::fs::write(src.join("utils/module-api-since.rb"), "$since = {}\n").unwrap();
    std::fs::write(
        src.join("utils/generate-module-api-doc.rb"),
        "require \"./\" ++ File.dirname(__FILE__) ++ '/module-api-since.rb'\n\
         src = File.open(File.dirname(__FILE__) ++ \"/../src/server.c\").to_a\n\
         puts \"# Modules API reference (#{RUBY_ENGINE})\"\n\
         puts \"lines: #{src.length}\"\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let dist = out.path().join("dist");
    let image = image_args();
    let matrix = Matrix::load_file(&targets_toml()).unwrap();
    let mut o = BuildOptions::new(Version::parse("9.2.0").unwrap());
    o.source = Some(src.to_string_lossy().into_owned());
    o.targets = vec!["bookworm-x86_64".into()];
    o.out = dist.clone();
    o.hooks = Hooks(vec![Arc::new(ModulesDoc)]);
    if image.len() == 2 {
        o.builder_image = Some(image[1].clone());
    }
    let r = run_build(&matrix, &o, &Progress::plain()).await.unwrap();
    assert_eq!(r.targets[0].status, TargetStatus::Ok, "{:?}", r.targets[0]);
    let page = from_dist(&dist).expect("no modules-api-ref.md under dist/facts");
    let lines = std::fs::read_to_string(src.join("src/server.c")).unwrap().lines().count();
    assert_eq!(page, format!("# Modules API reference (ruby)\nlines: {lines}\n"));
    // A patch release does not run it.
    let dist2 = out.path().join("dist2");
    std::fs::write(src.join("src/version.h"), "#define VALKEY_VERSION \"9.2.1\"\n").unwrap();
    o.version = Version::parse("9.2.1").unwrap();
    o.out = dist2.clone();
    let r = run_build(&matrix, &o, &Progress::plain()).await.unwrap();
    assert_eq!(r.targets[0].status, TargetStatus::Ok, "{:?}", r.targets[0]);
    assert_eq!(from_dist(&dist2), None);
}

/// `build --no-packages` leaves out the .deb hook and its artifacts, `build --no-hooks` every
/// hook (and the SBOM facts); the tarball is the same bytes in all three. Without either flag
/// the .debs and the facts are there.
#[test]
fn no_packages_and_no_hooks_leave_out_the_hook_runs_and_their_artifacts() {
    let (_d, src) = fixture(&[]);
    let out = tempfile::tempdir().unwrap();
    let target = "bookworm-x86_64"; // packages = ["deb"] in targets.toml
    let build = |extra: &[&str], dir: &str| {
        let dist = out.path().join(dir);
        let mut args = vec!["--source", src.to_str().unwrap(), "--target", target];
        args.extend(extra);
        let mut c = build_cmd("8.1.1", &args);
        c.arg("--out").arg(&dist);
        let o = run(c);
        assert_eq!(o.status.code(), Some(0), "build {extra:?}");
        let m = manifest(&dist);
        let kinds: Vec<String> = m["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap().to_string())
            .collect();
        let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
        assert_eq!(sums.lines().count(), kinds.len(), "{sums}");
        let log = std::fs::read_to_string(dist.join(format!("logs/{target}.log"))).unwrap();
        let tarball = sha256(&dist.join(format!("valkey-8.1.1-{target}.tar.gz")));
        (dist, kinds, log, tarball)
    };
    let debs = |k: &[String]| k.iter().filter(|k| *k == "deb").count();
    let facts = |d: &std::path::Path| d.join(format!("facts/{target}/sbom-facts.json")).is_file();

    let (all, kinds, log, tar_all) = build(&[], "all");
    assert!(debs(&kinds) > 0, "{kinds:?}");
    assert!(facts(&all));
    assert!(
        log.contains("post-build hook deb") && log.contains("post-build hook sbom-facts"),
        "{log}"
    );

    let (nop, kinds, log, tar_nop) = build(&["--no-packages"], "no-packages");
    assert_eq!(kinds, vec!["tarball"]);
    assert!(facts(&nop), "--no-packages keeps the SBOM facts");
    assert!(log.contains("post-build hook sbom-facts"), "{log}");
    assert!(!log.contains("post-build hook deb") && !log.contains("hook deb (deb)"), "{log}");
    assert!(log.contains("post-build hooks: sbom-facts, modules-doc"), "{log}");
    let files: Vec<String> = std::fs::read_dir(&nop)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!files.iter().any(|f| f.ends_with(".deb")), "{files:?}");

    let (noh, kinds, log, tar_noh) = build(&["--no-hooks"], "no-hooks");
    assert_eq!(kinds, vec!["tarball"]);
    assert!(!noh.join("facts").exists(), "--no-hooks writes no facts");
    assert!(log.contains("post-build hooks: none"), "{log}");
    assert!(!log.contains("post-build hook "), "{log}");

    assert_eq!(tar_all, tar_nop);
    assert_eq!(tar_all, tar_noh);

    // Both at once is a usage error naming the two flags.
    let mut c = build_cmd("8.1.1", &["--no-hooks", "--no-packages", "--target", target]);
    c.arg("--out").arg(out.path().join("both"));
    let o = run(c);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--no-hooks") && err.contains("--no-packages"), "{err}");
}
