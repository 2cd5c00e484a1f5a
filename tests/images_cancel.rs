//! Ctrl-C during `valkey-release images` stops mmdebstrap and removes the temporary rootfs.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_valkey-release");

/// Processes whose command line mentions `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(needle) {
                out.push(format!("{}: {c}", e.file_name().to_string_lossy()));
            }
        }
    }
    out
}

#[test]
fn interrupt_stops_mmdebstrap_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("targets.toml")).unwrap();
    let head = &repo[..repo.find("# ------").unwrap()];
    // A definition of its own (unique package list), so no image with its tag exists.
    let n = format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let text = format!(
        "{head}[builders.cancelme]\nmethod = \"mmdebstrap\"\nsuite = \"bookworm\"\nglibc = \"2.36\"\narchitectures = [\"amd64\"]\n\
         packages = [\"make\"]\ncomponents = [\"main\", \"main\"] # {n}\n\n[[target]]\ndistro = \"cancelme\"\narch = \"x86_64\"\nbuilder = \"cancelme\"\n"
    );
    std::fs::write(dir.path().join("targets.toml"), text).unwrap();
    let logs = dir.path().join("logs");
    let mut child = Command::new(BIN)
        .args([
            "--targets",
            dir.path().join("targets.toml").to_str().unwrap(),
            "images",
            "--target",
            "cancelme-x86_64",
        ])
        .args(["--log-dir", logs.to_str().unwrap()])
        .env("VALKEY_RELEASE_PLAIN", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until mmdebstrap runs (its command line is the first log line).
    let log = logs.join("images-cancelme.log");
    let start = Instant::now();
    let rootfs_dir = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().next().filter(|l| l.starts_with("$ mmdebstrap")) {
            let tar = line.split_whitespace().find(|w| w.ends_with("cancelme.tar")).unwrap().to_string();
            break Path::new(&tar).parent().unwrap().to_path_buf();
        }
        assert!(start.elapsed() < Duration::from_secs(120), "mmdebstrap did not start");
        std::thread::sleep(Duration::from_millis(200));
    };
    // Order, not time: interrupt only once mmdebstrap is seen running on that directory.
    let start = Instant::now();
    while processes_with(rootfs_dir.to_str().unwrap()).is_empty() {
        let done = child.try_wait().unwrap();
        assert!(done.is_none(), "images ended before mmdebstrap was seen running: {done:?}");
        assert!(start.elapsed() < Duration::from_secs(120), "mmdebstrap never seen running");
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    // mmdebstrap gets SIGTERM and cleans up after itself; give it a moment.
    let start = Instant::now();
    loop {
        let left = processes_with(rootfs_dir.to_str().unwrap());
        if left.is_empty() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "still running after Ctrl-C: {left:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        !rootfs_dir.exists(),
        "temporary rootfs directory {} left behind",
        rootfs_dir.display()
    );
}
