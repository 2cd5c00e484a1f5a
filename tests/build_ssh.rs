//! A remote engine over ssh://, end to end (issue 11): a real OpenSSH server (`sshd -D` on
//! 127.0.0.1 and a free port, a throwaway host key, root may log in with a throwaway client key
//! only) in front of this machine's engine, driven through DOCKER_HOST=ssh://root@ALIAS as a user
//! would. bollard's ssh transport runs the system `ssh` client (crate `openssh`: a control master,
//! then `docker system dial-stdio` on the host). The client's config is given with `ssh -F` by an
//! `ssh` wrapper first in PATH (the only way to give ssh a config that bollard leaves open), so the
//! real ~/.ssh is neither read nor written: the alias, the port, the identity and the known host
//! key come from that file. A client key the server does not accept fails with exit 3 naming the
//! engine and ssh's reason; a port in the ssh:// address is refused with exit 2 saying what to do.

mod build_support;
use build_support::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const ALIAS: &str = "valkey-release-test-engine";

/// Fail (not skip) when a tool is missing, saying what to install.
fn require(tool: &str, package: &str) {
    let ok = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output();
    assert!(
        ok.is_ok_and(|o| o.status.success()),
        "{tool} is not installed: apt-get install {package} (bash .ci/setup --tests installs it)"
    );
}

fn keygen(dir: &Path, name: &str) {
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(dir.join(name))
        .output()
        .expect("ssh-keygen");
    assert!(o.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&o.stderr));
}

/// sshd on 127.0.0.1:port, killed on drop.
struct Sshd {
    child: Child,
    log: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    fn start(dir: &Path, port: u16) -> Sshd {
        let d = dir.display();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
                 LogLevel VERBOSE\n"
            ),
        )
        .unwrap();
        // sshd's privilege separation directory (what the ssh service creates at boot).
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd (run the tests as root)");
        let log = dir.join("sshd.log");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.join("sshd.stderr")).unwrap().try_clone().unwrap())
            .spawn()
            .expect("start sshd");
        let s = Sshd { child, log };
        // Ready when it accepts connections (no time assert: it must start, however long that takes).
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("sshd did not listen on 127.0.0.1:{port}: {}", s.logs());
    }

    fn logs(&self) -> String {
        let err = std::fs::read_to_string(self.log.with_file_name("sshd.stderr")).unwrap_or_default();
        format!("{}{err}", std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

/// An `ssh` first in PATH that runs the real one with `-F config`; returns that PATH.
fn ssh_wrapper(dir: &Path, name: &str, config: &Path) -> String {
    let bin = dir.join(name);
    std::fs::create_dir_all(&bin).unwrap();
    let real = Command::new("sh").args(["-c", "command -v ssh"]).output().unwrap();
    let real = String::from_utf8_lossy(&real.stdout).trim().to_string();
    std::fs::write(bin.join("ssh"), format!("#!/bin/sh\nexec {real} -F {} \"$@\"\n", config.display())).unwrap();
    let st = Command::new("chmod").arg("755").arg(bin.join("ssh")).status().unwrap();
    assert!(st.success());
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

/// The ssh client config: ALIAS is 127.0.0.1:port, with this identity and only these known hosts.
fn client_config(dir: &Path, file: &str, port: u16, key: &str) -> PathBuf {
    let d = dir.display();
    let p = dir.join(file);
    std::fs::write(
        &p,
        format!(
            "Host {ALIAS}\n  HostName 127.0.0.1\n  Port {port}\nHost *\n  IdentityFile {d}/{key}\n  IdentitiesOnly yes\n  \
             UserKnownHostsFile {d}/known_hosts\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n"
        ),
    )
    .unwrap();
    p
}

/// The real ~/.ssh as it is (file names and contents), to show the test leaves it alone.
fn real_dot_ssh() -> Vec<(String, Vec<u8>)> {
    let home = std::env::var("HOME").unwrap_or_default();
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(Path::new(&home).join(".ssh"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_target_builds_on_an_engine_reached_over_ssh() {
    require("sshd", "openssh-server");
    require("ssh", "openssh-client");
    require("ssh-keygen", "openssh-client");
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "this test starts sshd and logs in as root (the engine's socket is root's): run it as root"
    );
    let before = real_dot_ssh();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    keygen(dir, "host_key");
    keygen(dir, "client_key");
    keygen(dir, "other_key");
    std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
    std::fs::write(dir.join("known_hosts"), format!("[127.0.0.1]:{port} {host_pub}")).unwrap();
    let sshd = Sshd::start(dir, port);
    let good = ssh_wrapper(dir, "bin-good", &client_config(dir, "ssh_config", port, "client_key"));
    let (_d, src) = fixture(&[]);
    let engine = format!("ssh://root@{ALIAS}");

    let build = |path: &str, engine: &str, out: &str| {
        let mut c = build_cmd(
            "8.1.1",
            &["--source", src.to_str().unwrap(), "--target", "bookworm-x86_64", "--json"],
        );
        c.arg("--out")
            .arg(dir.join(out))
            .env("PATH", path)
            // openssh keeps its control sockets under $XDG_STATE_HOME: here, not in ~/.local/state.
            .env("XDG_STATE_HOME", dir.join("state"))
            .env("DOCKER_HOST", engine)
            .env_remove("SSH_AUTH_SOCK");
        run(c)
    };

    let o = build(&good, &engine, "dist");
    assert_eq!(o.status.code(), Some(0), "build over ssh: {}", sshd.logs());
    let dist = dir.join("dist");
    let m = manifest(&dist);
    let art = m["artifacts"].as_array().unwrap().iter().find(|a| a["kind"] == "tarball").unwrap();
    assert_eq!(sha256(&dist.join(art["file"].as_str().unwrap())), art["sha256"].as_str().unwrap());
    assert!(art["build"]["reported_version"].as_str().unwrap().contains("v=8.1.1"));
    // The engine was reached through this sshd, with the throwaway key.
    let logs = sshd.logs();
    let logins = logs.matches("Accepted publickey for root from 127.0.0.1").count();
    assert!(logins >= 1, "no ssh login seen by sshd:\n{logs}");
    let rid: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rid = rid["run_id"].as_str().unwrap();
    assert!(containers_with(&format!("io.valkey.release.run={rid}")).is_empty());

    // A key the server does not accept: exit 3 naming the engine and ssh's reason.
    let other = ssh_wrapper(dir, "bin-other", &client_config(dir, "ssh_config_other", port, "other_key"));
    let o = build(&other, &engine, "dist-other");
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("cannot reach the Docker engine at {engine}")) && err.contains("Permission denied (publickey)"),
        "{err}"
    );

    // A port in the address: bollard would pass `host:port` to ssh as the host name; refused first.
    let o = build(&good, &format!("ssh://root@127.0.0.1:{port}"), "dist-port");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("the port {port} cannot be given")) && err.contains("HostName 127.0.0.1"),
        "{err}"
    );

    assert_eq!(real_dot_ssh(), before, "the real ~/.ssh changed");
}
