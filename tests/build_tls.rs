//! A remote engine over TLS, end to end (issue 11): a TLS front that requires a client
//! certificate (stunnel, certificates made by openssl here) before the local engine's socket, driven
//! through DOCKER_HOST=tcp://127.0.0.1:PORT, DOCKER_TLS_VERIFY=1, DOCKER_CERT_PATH=DIR as the docker
//! CLI is. The right certificates build a target there; a client that trusts another CA, or has
//! no certificate the front accepts, fails clearly (exit 3 naming the certificate problem).

mod build_support;
use build_support::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Fail (not skip) when a tool is missing, saying what to install.
fn require(tool: &str, package: &str) {
    let ok = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output();
    assert!(
        ok.is_ok_and(|o| o.status.success()),
        "{tool} is not installed: apt-get install {package} (bash .ci/setup --tests installs it)"
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A CA (`<name>-ca.pem`, `<name>-ca-key.pem`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-keyout",
            &format!("{name}-ca-key.pem"),
            "-out",
            &format!("{name}-ca.pem"),
        ],
    );
}

/// A certificate `<out>.pem` / `<out>-key.pem` signed by CA `ca`, with the given extensions.
fn make_cert(dir: &Path, ca: &str, out: &str, cn: &str, ext: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            &format!("{out}-key.pem"),
            "-out",
            &format!("{out}.csr"),
        ],
    );
    std::fs::write(dir.join(format!("{out}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{out}.csr"),
            "-CA",
            &format!("{ca}-ca.pem"),
            "-CAkey",
            &format!("{ca}-ca-key.pem"),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &format!("{out}.pem"),
            "-extfile",
            &format!("{out}.ext"),
        ],
    );
}

/// A DOCKER_CERT_PATH directory: ca.pem (the CA the client trusts), cert.pem and key.pem.
fn cert_dir(dir: &Path, name: &str, trusted_ca: &str, client: &str) -> std::path::PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(dir.join(format!("{trusted_ca}-ca.pem")), d.join("ca.pem")).unwrap();
    std::fs::copy(dir.join(format!("{client}.pem")), d.join("cert.pem")).unwrap();
    std::fs::copy(dir.join(format!("{client}-key.pem")), d.join("key.pem")).unwrap();
    d
}

/// stunnel: TLS on 127.0.0.1:PORT, a client certificate signed by the engine CA required
/// (`verifyChain`, `requireCert`), each connection relayed to the local engine's socket. Killed on
/// drop. (socat's `openssl-listen` cannot be the front: its forked children share one OpenSSL
/// context without a session id context, so the second connection of a client that resumes
/// sessions, as rustls does, fails with "session id context uninitialized".)
struct TlsFront {
    child: Child,
    port: u16,
}

impl TlsFront {
    fn start(dir: &Path) -> TlsFront {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let conf = dir.join("stunnel.conf");
        let d = dir.display();
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\n[engine]\naccept = 127.0.0.1:{port}\nconnect = /var/run/docker.sock\n\
                 cert = {d}/server.pem\nkey = {d}/server-key.pem\nCAfile = {d}/engine-ca.pem\nverifyChain = yes\nrequireCert = yes\n"
            ),
        )
        .unwrap();
        let mut child = Command::new("stunnel")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stunnel");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return TlsFront { child, port };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("stunnel did not listen on {port}");
    }
    fn host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn via(front: &TlsFront, certs: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--targets")
        .arg(targets_toml())
        .env("VALKEY_RELEASE_PLAIN", "1")
        .env("DOCKER_HOST", front.host())
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", certs);
    c
}

#[test]
fn a_target_builds_on_an_engine_behind_tls_and_a_wrong_ca_is_named() {
    require("stunnel", "stunnel4");
    require("openssl", "openssl");
    image_args(); // the bookworm builder exists on the engine behind the front
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    make_ca(p, "engine");
    make_ca(p, "other");
    make_cert(
        p,
        "engine",
        "server",
        "127.0.0.1",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    make_cert(p, "engine", "client", "client", "extendedKeyUsage=clientAuth\n");
    make_cert(p, "other", "stranger", "stranger", "extendedKeyUsage=clientAuth\n");
    let front = TlsFront::start(p);

    // The right certificates: a real build on the engine behind the front.
    let good = cert_dir(p, "good", "engine", "client");
    let (_f, src) = fixture(&[]);
    let dist = p.join("dist");
    let mut c = via(&front, &good);
    c.args(["build", "--version", "8.1.1", "--target", "bookworm-x86_64", "--json", "--source"])
        .arg(&src)
        .arg("--out")
        .arg(&dist);
    let o = run(c);
    assert_eq!(o.status.code(), Some(0));
    let m = manifest(&dist);
    assert!(m["artifacts"][0]["build"]["reported_version"].as_str().unwrap().contains("v=8.1.1"));

    // The client trusts another CA: the engine's server certificate is refused, by name.
    let wrong_ca = cert_dir(p, "wrong-ca", "other", "client");
    let o = run({
        let mut c = via(&front, &wrong_ca);
        c.args(["images", "--target", "bookworm-x86_64"]);
        c
    });
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&front.host()), "{err}");
    assert!(err.contains("certificate"), "the certificate problem is not named: {err}");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.contains("DOCKER_CERT_PATH"), "no hint where the certificates come from: {err}");
    assert!(!err.contains("panicked"), "{err}");

    // A client certificate the front does not accept (signed by another CA): refused by the engine side.
    let stranger = cert_dir(p, "stranger", "engine", "stranger");
    let o = run({
        let mut c = via(&front, &stranger);
        c.args(["images", "--target", "bookworm-x86_64"]);
        c
    });
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&front.host()) && !err.contains("panicked"), "{err}");
    assert!(err.contains("UnknownCA"), "the engine side's refusal is not named: {err}");

    // Plain tcp:// to the TLS front (DOCKER_TLS_VERIFY unset) is not an engine either: exit 3.
    let o = run({
        let mut c = via(&front, &good);
        c.env_remove("DOCKER_TLS_VERIFY").args(["images", "--target", "bookworm-x86_64"]);
        c
    });
    assert_eq!(o.status.code(), Some(3));
}
