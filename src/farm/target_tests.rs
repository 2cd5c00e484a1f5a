//! The per-target run logic on the fake engine (the real engine: tests/build_*.rs).

use super::container::ExecOptions;
use super::fake::{FakeEngine, Files};
use super::hooks::{HookContext, Hooks, InputFile, Job, PostBuild, Produced};
use super::log::Log;
use super::run::Shared;
use super::source::PreparedSource;
use super::target::{build_target_on, Place};
use crate::error::Result;
use crate::manifest::SourceInfo;
use crate::progress::Progress;
use crate::targets::Matrix;
use crate::version::Version;
use std::path::Path;
use std::sync::{Arc, Mutex};

const VERSION_LINE: &str = "Valkey server v=8.1.1 sha=1234abcd:0 malloc=libc bits=64 build=0";

fn shared(dir: &Path, hooks: Hooks) -> Shared {
    let matrix = Matrix::parse(crate::targets::EMBEDDED, Path::new("<embedded>"), None).unwrap();
    let tar = dir.join("source.tar");
    let src = super::container::tar_of(&[
        ("COPYING".into(), 0o644, b"license".to_vec()),
        ("src/Makefile".into(), 0o644, b"all:".to_vec()),
    ])
    .unwrap();
    std::fs::write(&tar, &src).unwrap();
    Shared {
        matrix,
        version: Version::parse("8.1.1").unwrap(),
        source: PreparedSource {
            info: SourceInfo::default(),
            source_date_epoch: 1_700_000_000,
            tar,
            tar_size: src.len() as u64,
            commit: Some("1234abcd00000000000000000000000000000000".into()),
        },
        out: dir.join("out"),
        work: dir.join("work"),
        run_id: "test".into(),
        make_jobs: 2,
        concurrent: 1,
        insecure_engine: false,
        builder_image: None,
        check_reproducible: false,
        vary: false,
        hooks,
        engines: Mutex::new(Default::default()),
        written: Mutex::new(vec![]),
        retar: tokio::sync::Mutex::new(()),
    }
}

/// `make` puts a real host ELF (x86_64, glibc of this host) at every binary's place.
fn builds(make_code: i64) -> impl Fn(&[String], &ExecOptions, &mut Files) -> (i64, Vec<u8>) + Send + Sync + 'static {
    move |cmd, opts, fs| {
        if cmd[0] == "make" {
            // host-independent: jemalloc's probe pinned; the commit answered by the git stand-in
            assert!(
                opts.env.contains(&"JEMALLOC_CONFIGURE_OPTS=--with-lg-vaddr=48".to_string()),
                "{opts:?}"
            );
            assert!(opts.env.iter().any(|e| e.starts_with("PATH=/opt/valkey-release/bin:")), "{opts:?}");
            let git = String::from_utf8(fs["/opt/valkey-release/bin/git"].1.clone()).unwrap();
            assert!(git.contains("show-ref) echo 1234abcd ;;"), "{git}");
            if make_code == 0 {
                let elf = std::fs::read("/usr/bin/true").expect("/usr/bin/true");
                for b in [
                    "valkey-server",
                    "valkey-cli",
                    "valkey-benchmark",
                    "valkey-sentinel",
                    "valkey-check-aof",
                    "valkey-check-rdb",
                ] {
                    fs.insert(format!("/build/src/{b}"), (0o755, elf.clone()));
                }
            }
            (make_code, b"cc -o valkey-server\n".to_vec())
        } else if cmd.last().map(String::as_str) == Some("--version") {
            (0, VERSION_LINE.as_bytes().to_vec())
        } else if cmd[0] == "sh" && cmd[1] == "/hooks/t/run.sh" {
            // The hook's input is there, in the same container as the build.
            assert!(fs.contains_key("/hooks/t/run.sh") && fs.contains_key("/build/src/valkey-server"));
            fs.insert("/hooks/t/out/facts.txt".into(), (0o644, b"facts".to_vec()));
            fs.insert("/hooks/t/out/sub/b.txt".into(), (0o644, b"b".to_vec()));
            (0, b"hook ran\n".to_vec())
        } else {
            (127, format!("unexpected {cmd:?}").into_bytes())
        }
    }
}

struct TestHook {
    seen: Arc<Mutex<Vec<String>>>,
}
impl PostBuild for TestHook {
    fn name(&self) -> &'static str {
        "test"
    }
    fn job(&self, ctx: &HookContext<'_>) -> Result<Option<Job>> {
        assert_eq!(ctx.binaries.len(), 6);
        Ok(Some(Job {
            name: "test".into(),
            inputs: vec![InputFile {
                path: "/hooks/t/run.sh".into(),
                bytes: b"echo hi".to_vec(),
                mode: 0o755,
            }],
            cmd: vec!["sh".into(), "/hooks/t/run.sh".into()],
            env: vec!["A=1".into()],
            output_dir: "/hooks/t/out".into(),
        }))
    }
    fn collect(&self, ctx: &HookContext<'_>, outputs: Vec<(String, Vec<u8>)>) -> Result<Vec<Produced>> {
        self.seen.lock().unwrap().extend(outputs.iter().map(|(n, _)| n.clone()));
        Ok(vec![Produced {
            file_name: format!("{}.facts", ctx.artifact_name),
            bytes: outputs[0].1.clone(),
            kind: "facts".into(),
        }])
    }
}

async fn run(fake: &FakeEngine, sh: &Shared, dir: &Path) -> Result<super::target::Outcome> {
    let t = sh.matrix.target("bookworm-x86_64").unwrap().clone();
    let mut log = Log::create(&dir.join("t.log")).unwrap();
    let place = Place {
        engine: fake,
        engine_arch: "x86_64",
        image: ("sha256:img".into(), "tag".into()),
        limits: crate::farm::limits::LimitsSpec::default().resolve(
            crate::farm::limits::EngineResources {
                memory_bytes: 4 << 30,
                cpus: 2,
            },
            1,
        ),
        cpus: 2,
    };
    let item = Progress::plain().spinner("t");
    build_target_on(sh, &place, &t, &item, &mut log).await
}

#[tokio::test]
async fn fake_engine_build_checks_packages_and_removes_its_container() {
    let d = tempfile::tempdir().unwrap();
    let sh = shared(d.path(), Hooks(vec![]));
    let fake = FakeEngine::new(builds(0));
    let o = run(&fake, &sh, d.path()).await.unwrap();
    assert_eq!(o.artifact.file, "valkey-8.1.1-bookworm-x86_64.tar.gz");
    assert_eq!(o.artifact.build.as_ref().unwrap().reported_version, VERSION_LINE);
    let calls = fake.calls();
    assert_eq!(calls[0], "create c0");
    assert_eq!(calls[1], "start c0");
    assert_eq!(calls[2], "upload c0 / (0 files)");
    assert_eq!(calls[3], "upload c0 /build (2 files)");
    assert_eq!(calls[4], "upload c0 / (1 files)"); // the git stand-in for mkreleasehdr.sh
    assert!(calls[5].starts_with("exec c0 make -j2 -C src all"), "{calls:?}");
    assert!(calls.iter().any(|c| c == "download c0 /build/src/valkey-server"));
    assert!(calls[calls.len() - 3].ends_with("/build/src/valkey-server --version"), "{calls:?}");
    // The container's CPU in all, read just before it is removed.
    assert!(calls[calls.len() - 2].contains("cpuacct.usage"), "{calls:?}");
    assert_eq!(calls.last().unwrap(), "remove c0");
    assert_eq!(fake.live(), 0);
}

#[tokio::test]
async fn fake_engine_failed_make_still_removes_its_container() {
    let d = tempfile::tempdir().unwrap();
    let sh = shared(d.path(), Hooks(vec![]));
    let fake = FakeEngine::new(builds(2));
    let e = run(&fake, &sh, d.path()).await.err().unwrap();
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("make exited with code 2"), "{e}");
    assert_eq!(fake.calls().last().unwrap(), "remove c0");
    assert_eq!(fake.live(), 0);
}

#[tokio::test]
async fn fake_engine_hooks_run_in_the_build_container_after_the_checks() {
    let d = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(vec![]));
    let sh = shared(d.path(), Hooks(vec![Arc::new(TestHook { seen: seen.clone() })]));
    let fake = FakeEngine::new(builds(0));
    let o = run(&fake, &sh, d.path()).await.unwrap();
    assert_eq!(
        o.produced,
        vec![Produced {
            file_name: "valkey-8.1.1-bookworm-x86_64.facts".into(),
            bytes: b"facts".to_vec(),
            kind: "facts".into()
        }]
    );
    assert_eq!(*seen.lock().unwrap(), vec!["facts.txt".to_string(), "sub/b.txt".to_string()]);
    let calls = fake.calls();
    let pos = |p: &str| {
        calls
            .iter()
            .position(|c| c.starts_with(p))
            .unwrap_or_else(|| panic!("{p} not in {calls:?}"))
    };
    // one container; the hook after --version (the checks) and before the removal
    assert_eq!(fake.created.lock().unwrap().len(), 1);
    let hook_upload = calls.iter().rposition(|c| c == "upload c0 / (1 files)").unwrap();
    assert!(pos("exec c0 /build/src/valkey-server --version") < hook_upload);
    assert!(pos("exec c0 sh /hooks/t/run.sh") < pos("download c0 /hooks/t/out"));
    assert!(pos("download c0 /hooks/t/out") < pos("remove c0"));
    let log = std::fs::read_to_string(d.path().join("t.log")).unwrap();
    assert!(
        log.contains("hook ran") && log.contains("produced valkey-8.1.1-bookworm-x86_64.facts"),
        "{log}"
    );
}

#[test]
fn cpu_time_is_read_from_either_cgroup_version() {
    use super::target::parse_cpu_usage;
    assert_eq!(parse_cpu_usage("usage_usec 2500000\nuser_usec 2000000\n"), Some(2.5));
    assert_eq!(parse_cpu_usage("1500000000\n"), Some(1.5));
    assert_eq!(parse_cpu_usage("garbage"), None);
}
