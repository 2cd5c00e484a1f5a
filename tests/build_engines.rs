//! Where targets build: natively in an arm64 image (emulated through the host's qemu binfmt
//! entry, as an amd64 engine runs it) and on an engine named per target in targets.toml, reached
//! over TCP (a relay in front of the local engine's socket, counting what passes through it).

mod build_support;
use build_support::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const V: &str = "8.1.1";

/// The repository's targets.toml with the `[[target]]` block of `target` (e.g. `bookworm-arm64`)
/// changed by `edit` (given the block's lines, returns the new lines). Written into `dir`.
fn derived_targets(dir: &Path, target: &str, edit: impl Fn(Vec<String>) -> Vec<String>) -> PathBuf {
    let (distro, arch) = target.split_once('-').unwrap();
    let text = std::fs::read_to_string(targets_toml()).unwrap();
    let mut out: Vec<String> = Vec::new();
    let blocks: Vec<&str> = text.split("\n[[target]]\n").collect();
    out.push(blocks[0].to_string());
    let mut found = false;
    for b in &blocks[1..] {
        let lines: Vec<String> = b.lines().map(str::to_string).collect();
        let is_it =
            lines.iter().any(|l| l == &format!("distro = \"{distro}\"")) && lines.iter().any(|l| l == &format!("arch = \"{arch}\""));
        let lines = if is_it {
            found = true;
            edit(lines)
        } else {
            lines
        };
        out.push(lines.join("\n"));
    }
    assert!(found, "no [[target]] {target} in targets.toml");
    let p = dir.join("targets.toml");
    std::fs::write(&p, out.join("\n[[target]]\n") + "\n").unwrap();
    p
}

fn cli(targets: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--targets").arg(targets).env("VALKEY_RELEASE_PLAIN", "1");
    c
}

/// `valkey-release --targets <targets> build --version V --json --source <src> --out <dist>` of
/// the fixture for `names`; asserts success and returns the manifest written.
fn build_ok(targets: &Path, src: &Path, dist: &Path, names: &[&str]) -> serde_json::Value {
    let mut c = cli(targets);
    c.args(["build", "--version", V, "--json", "--source"])
        .arg(src)
        .arg("--out")
        .arg(dist);
    for n in names {
        c.args(["--target", n]);
    }
    let o = run(c);
    assert_eq!(o.status.code(), Some(0));
    manifest(dist)
}

#[test]
fn native_arm64_builds_in_an_arm64_image_emulated_on_this_engine() {
    assert!(
        std::fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64").is_ok_and(|s| s.starts_with("enabled")),
        "this test needs the host's qemu-aarch64 binfmt entry (apt-get install qemu-user-static binfmt-support; .ci/setup does)"
    );
    let d = tempfile::tempdir().unwrap();
    // bookworm-arm64 without its cross table, in the shipped arm64 bookworm builder.
    let targets = derived_targets(d.path(), "bookworm-arm64", |lines| {
        lines
            .into_iter()
            .filter(|l| !l.starts_with("cross ="))
            .map(|l| {
                if l.starts_with("builder =") {
                    "builder = \"bookworm-arm64\"".to_string()
                } else {
                    l
                }
            })
            .collect()
    });
    let o = run({
        let mut c = cli(&targets);
        c.args(["targets", "--json"]);
        c
    });
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "bookworm-arm64")
        .unwrap()
        .clone();
    assert_eq!(t["mode"], "native", "{t}");
    assert_eq!(t["image_arch"], "arm64", "{t}");

    // The arm64 builder image: mmdebstrap of an arm64 rootfs (its scripts under qemu), loaded
    // with its real architecture. Made once per machine (under the test images lock).
    let lock = std::env::temp_dir().join("valkey-release-test-images.lock");
    let st = Command::new("flock")
        .arg(&lock)
        .arg(BIN)
        .arg("--targets")
        .arg(&targets)
        .args(["images", "--target", "bookworm-arm64"])
        .status()
        .unwrap();
    assert!(st.success(), "valkey-release images --target bookworm-arm64 (native) failed");

    let (_f, src) = fixture(&[]);
    let dist = d.path().join("dist");
    let m = build_ok(&targets, &src, &dist, &["bookworm-arm64"]);
    let b = &m["artifacts"][0]["build"];
    assert_eq!(b["mode"], "emulated", "an arm64 image on this x86_64 engine runs under qemu: {b}");
    assert_eq!(b["engine_arch"], "x86_64");
    assert_eq!(b["elf_machine"], "aarch64");
    assert!(b["reported_version"].as_str().unwrap().contains("v=8.1.1"), "{b}");
    // No cross toolchain: the plain make command.
    let mc: Vec<&str> = b["make_command"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
    assert!(
        !mc.iter().any(|x| x.starts_with("CC=") || x.starts_with("DEB_HOST_GNU_TYPE")),
        "{mc:?}"
    );
    // The image is an arm64 image (the config says so), and it is the one recorded.
    let img = b["builder_image"].as_str().unwrap();
    let arch = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Architecture}}", img])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&arch.stdout).trim(), "arm64");
    let log = std::fs::read_to_string(dist.join("logs/bookworm-arm64.log")).unwrap();
    assert!(log.contains("emulated on this x86_64 engine"), "{log}");
}

/// A TCP relay to the local engine's unix socket: a Docker engine reached at tcp://127.0.0.1:PORT.
/// Counts the connections it served.
struct Relay {
    port: u16,
    connections: Arc<AtomicUsize>,
}

fn relay_to_docker_socket() -> Relay {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let n = connections.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { continue };
            n.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let Ok(u) = UnixStream::connect("/var/run/docker.sock") else {
                    return;
                };
                let (mut c2, mut u2) = (c.try_clone().unwrap(), u.try_clone().unwrap());
                let t = std::thread::spawn(move || copy_then_close(&mut c2, &mut u2, |s| s.shutdown(std::net::Shutdown::Write)));
                let (mut u3, mut c3) = (u, c);
                copy_then_close(&mut u3, &mut c3, |s: &mut TcpStream| s.shutdown(std::net::Shutdown::Write));
                let _ = t.join();
            });
        }
    });
    Relay { port, connections }
}

fn copy_then_close<R: Read, W: Write>(r: &mut R, w: &mut W, close: impl Fn(&mut W) -> std::io::Result<()>) {
    let _ = std::io::copy(r, w);
    let _ = close(w);
}

#[test]
fn a_target_builds_on_the_engine_targets_toml_names_over_tcp() {
    image_args(); // the bookworm builder exists (the relay leads to the same engine)
    let relay = relay_to_docker_socket();
    let d = tempfile::tempdir().unwrap();
    let engine = format!("tcp://127.0.0.1:{}", relay.port);
    let targets = derived_targets(d.path(), "bookworm-x86_64", |mut lines| {
        lines.push(format!("engine = \"{engine}\""));
        lines
    });
    let (_f, src) = fixture(&[]);
    let dist = d.path().join("dist");
    let mut c = cli(&targets);
    c.args([
        "build",
        "--version",
        V,
        "--target",
        "bookworm-x86_64",
        "--target",
        "bookworm-arm64",
        "--source",
    ])
    .arg(&src)
    .arg("--out")
    .arg(&dist)
    .arg("--json");
    // The default engine of the other target is not the relay.
    c.env_remove("DOCKER_HOST");
    let o = run(c);
    assert_eq!(o.status.code(), Some(0));
    let rid = {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["run_id"].as_str().unwrap().to_string()
    };
    assert!(relay.connections.load(Ordering::SeqCst) > 0, "nothing went to the target's engine");
    assert!(
        containers_with(&format!("io.valkey.release.run={rid}")).is_empty(),
        "containers remain"
    );
    let m = manifest(&dist);
    let tarballs: Vec<&serde_json::Value> = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "tarball")
        .collect();
    assert_eq!(tarballs.len(), 2);
    for a in tarballs {
        assert!(a["build"]["reported_version"].as_str().unwrap().contains("v=8.1.1"));
        assert_eq!(sha256(&dist.join(a["file"].as_str().unwrap())), a["sha256"].as_str().unwrap());
    }

    // DOCKER_HOST reaches the same relay for targets without an `engine`.
    let before = relay.connections.load(Ordering::SeqCst);
    let dist2 = d.path().join("dist2");
    let mut c = cli(&targets_toml());
    c.args(["build", "--version", V, "--target", "bookworm-arm64", "--source"])
        .arg(&src)
        .arg("--out")
        .arg(&dist2)
        .env("DOCKER_HOST", &engine);
    assert_eq!(run(c).status.code(), Some(0));
    assert!(relay.connections.load(Ordering::SeqCst) > before, "DOCKER_HOST was not used");
    // Same source, same image: the same bytes whichever way the engine was reached.
    let a1 = manifest(&dist)["artifacts"][0]["sha256"].clone();
    assert_eq!(manifest(&dist2)["artifacts"][0]["sha256"], a1);
}

#[test]
fn an_engine_that_cannot_be_reached_is_named() {
    let d = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let engine = format!("tcp://127.0.0.1:{port}");
    let targets = derived_targets(d.path(), "bookworm-x86_64", |mut lines| {
        lines.push(format!("engine = \"{engine}\""));
        lines
    });
    let (_f, src) = fixture(&[]);
    let mut c = cli(&targets);
    c.args(["build", "--version", V, "--target", "bookworm-x86_64", "--source"])
        .arg(&src)
        .arg("--out")
        .arg(d.path().join("dist"));
    let o = run(c);
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&engine) && err.contains("cannot reach the Docker engine"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A second, independent Docker daemon (its own containerd, image store and data root, vfs storage),
/// listening only on tcp://127.0.0.1:PORT: a remote engine with none of the local engine's images.
/// It gets a bridge of its own: `--bridge=none` would make dockerd delete the host's `docker0`,
/// which the local engine uses. Stopped, and its bridge removed, on drop.
struct SecondEngine {
    child: std::process::Child,
    address: String,
    bridge: String,
    _dir: tempfile::TempDir,
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().expect("ip (iproute2)");
    assert!(o.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr));
}

impl SecondEngine {
    fn start() -> SecondEngine {
        let dir = tempfile::Builder::new().prefix("vr-d2-").tempdir_in("/tmp").unwrap();
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("daemon.json"), "{}").unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::fs::File::create(p("dockerd.log")).unwrap();
        let n = std::process::id() % 250 + 1;
        let bridge = format!("vrtest{n}");
        let _ = Command::new("ip").args(["link", "del", &bridge]).output(); // left by a killed run
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("10.231.{n}.1/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(p("daemon.json"))
            .arg("--data-root")
            .arg(p("data"))
            .arg("--exec-root")
            .arg(p("exec"))
            .arg("--pidfile")
            .arg(p("docker.pid"))
            .args(["-H", &format!("tcp://127.0.0.1:{port}")])
            .arg(format!("--bridge={bridge}"))
            .args(["--iptables=false", "--ip-masq=false", "--storage-driver=vfs"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd (the Docker daemon binary) must be installed to start a second engine");
        let e = SecondEngine {
            child,
            address: format!("tcp://127.0.0.1:{port}"),
            bridge,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if e.docker(&["version", "--format", "{{.Server.Version}}"]).status.success() {
                return e;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        let log = std::fs::read_to_string(e._dir.path().join("dockerd.log")).unwrap_or_default();
        panic!("the second dockerd did not answer within 60 s:\n{log}");
    }

    /// The docker CLI against this engine.
    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .env("DOCKER_HOST", &self.address)
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        // SIGTERM: dockerd stops its containerd and its containers, then exits.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let mut stopped = false;
        for _ in 0..60 {
            if let Ok(Some(_)) = self.child.try_wait() {
                stopped = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        if !stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).output();
    }
}

/// Does the host have the local engine's default bridge?
fn has_docker0() -> bool {
    Command::new("ip")
        .args(["link", "show", "docker0"])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn a_target_builds_on_a_second_engine_that_has_none_of_the_local_images() {
    let engine = SecondEngine::start();
    let docker0_before = has_docker0();
    let out = |o: std::process::Output| String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(out(engine.docker(&["images", "-q"])), "", "a fresh engine has no images");
    let d = tempfile::tempdir().unwrap();
    let address = engine.address.clone();
    let targets = derived_targets(d.path(), "bookworm-x86_64", |mut lines| {
        lines.push(format!("engine = \"{address}\""));
        lines
    });
    let (_f, src) = fixture(&[]);
    let dist = d.path().join("dist");
    let m = build_ok(&targets, &src, &dist, &["bookworm-x86_64"]);
    // The builder image was made on that engine (the local one is not used for this target)...
    let b = &m["artifacts"][0]["build"];
    let tag = b["builder_tag"].as_str().unwrap();
    let id = out(engine.docker(&["image", "inspect", "--format", "{{.Id}}", tag]));
    assert_eq!(
        b["builder_image"].as_str().unwrap(),
        id,
        "the manifest names the image on the target's engine"
    );
    assert!(b["reported_version"].as_str().unwrap().contains("v=8.1.1"), "{b}");
    // ... the build ran there and left no container behind.
    assert_eq!(out(engine.docker(&["ps", "-aq"])), "", "containers remain on the second engine");
    let log = std::fs::read_to_string(dist.join("logs/bookworm-x86_64.log")).unwrap();
    assert!(log.contains("make -j"), "{log}");
    assert_eq!(
        sha256(&dist.join(m["artifacts"][0]["file"].as_str().unwrap())),
        m["artifacts"][0]["sha256"].as_str().unwrap()
    );
    // The local engine's bridge is untouched.
    drop(engine);
    let docker0_after = has_docker0();
    assert_eq!(docker0_before, docker0_after, "the second engine changed the host's docker0");
}
