//! Connecting to the Docker engine (bollard).
//!
//! The engine is the per-target `engine` URL from targets.toml when given, else
//! `DOCKER_HOST`, else the local socket. Transports: unix socket, tcp:// with TLS client
//! certificates (DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, as the docker CLI), ssh://, and plain
//! tcp:// only to this machine unless explicitly allowed. The client speaks API 1.41 (Docker 20.10)
//! and negotiates down if the daemon is older; everything this tool uses exists in 1.41.

use crate::error::{Error, Result};
use bollard::{ClientVersion, Docker};

/// The API version the client starts from (Docker 20.10). Newer daemons accept it.
pub const API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// Request timeout for ordinary calls (seconds). Long calls (image import/build) raise it.
const TIMEOUT_SECS: u64 = 120;

/// Where [`connect`] would connect: `engine`, else `$DOCKER_HOST`, else the local socket.
pub fn engine_address(engine: Option<&str>) -> String {
    if let Some(e) = engine.filter(|e| !e.trim().is_empty()) {
        return e.trim().to_string();
    }
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.trim().is_empty() => h.trim().to_string(),
        _ => "unix:///var/run/docker.sock".to_string(),
    }
}

fn unreachable(addr: &str, e: &(dyn std::error::Error + 'static)) -> Error {
    let why = error_chain(e);
    let hint = if addr.starts_with("ssh://") {
        "ssh://: the system ssh client (its config, keys and agent) logs in and runs `docker system dial-stdio` \
         there: does `ssh <user@host> docker system dial-stdio` work from this shell?"
    } else if why.contains("certificate") || why.contains("alert") {
        "TLS failed: does ca.pem in DOCKER_CERT_PATH hold the CA that signed the engine's certificate, \
         and is cert.pem a client certificate the engine accepts?"
    } else {
        "is the daemon running? is DOCKER_HOST or the target's `engine` in targets.toml right?"
    };
    Error::external(format!("cannot reach the Docker engine at {addr}: {why} ({hint})"))
}

/// An error with its sources (`client error (Connect): invalid peer certificate: UnknownIssuer`):
/// the cause of a TLS failure is only in the chain.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !msg.contains(&t) {
            msg.push_str(": ");
            msg.push_str(&t);
        }
        cur = s.source();
    }
    msg
}

/// Connect to the engine and check it answers; negotiates the API version. Plain `tcp://` to
/// another host is refused (see [`connect_checked`]).
pub async fn connect(engine: Option<&str>) -> Result<Docker> {
    connect_checked(engine, false).await
}

/// Is `host` (from `tcp://host:port`) this machine?
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The port of `ssh://[user@]host:port` (`[v6]:port` too), if one is given.
fn ssh_port(addr: &str) -> Option<&str> {
    let rest = addr.strip_prefix("ssh://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let hostport = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let (host, port) = hostport.rsplit_once(':')?;
    let bracketed = host.starts_with('[') && host.ends_with(']');
    (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && (bracketed || !host.contains(':'))).then_some(port)
}

/// The host part of `tcp://host:port/...`.
fn tcp_host(addr: &str) -> &str {
    let rest = addr.split_once("://").map(|(_, r)| r).unwrap_or(addr);
    let hostport = rest.split('/').next().unwrap_or(rest);
    if let Some(end) = hostport.strip_prefix('[').and_then(|h| h.find(']')) {
        return &hostport[..end + 2];
    }
    hostport.rsplit_once(':').map(|(h, _)| h).unwrap_or(hostport)
}

/// How to reach the engine at an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Unix(String),
    /// `tcp://` without TLS (loopback, or allowed explicitly).
    Plain(String),
    /// `tcp://` or `https://` with TLS client certificates from this directory (`DOCKER_CERT_PATH`).
    Tls {
        addr: String,
        cert_dir: std::path::PathBuf,
    },
    /// `ssh://[user@]host`: the engine's socket through ssh (the ssh client's config and agent; no port:
    /// bollard 0.21 cannot pass one, see [`transport`]).
    Ssh(String),
}

/// Choose the transport as the docker CLI does: `DOCKER_TLS_VERIFY` (non-empty) turns TLS on for
/// tcp:// with the certificates in `DOCKER_CERT_PATH` (default `~/.docker`): `ca.pem`, `cert.pem`,
/// `key.pem`. Plain tcp:// to a host that is not this machine is refused unless `allow_insecure`.
pub fn transport(addr: &str, allow_insecure: bool) -> Result<Transport> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if addr.starts_with("unix://") || addr.starts_with('/') {
        return Ok(Transport::Unix(addr.to_string()));
    }
    if addr.starts_with("ssh://") {
        if let Some(port) = ssh_port(addr) {
            let host = tcp_host(addr);
            let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
            return Err(Error::input(format!(
                "Docker engine {addr}: the port {port} cannot be given in an ssh:// address (bollard 0.21 hands \
                 `user@host:port` to ssh as the host name, which fails as \"Could not resolve hostname\"); give it in \
                 the ssh client's config instead (`Host NAME`, `HostName {host}`, `Port {port}` in ~/.ssh/config) \
                 and use ssh://user@NAME"
            )));
        }
        return Ok(Transport::Ssh(addr.to_string()));
    }
    let tls_wanted = addr.starts_with("https://") || (addr.starts_with("tcp://") && env("DOCKER_TLS_VERIFY").is_some());
    if tls_wanted {
        let cert_dir = match env("DOCKER_CERT_PATH") {
            Some(p) => std::path::PathBuf::from(p),
            None => std::path::PathBuf::from(env("HOME").unwrap_or_default()).join(".docker"),
        };
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            if !cert_dir.join(f).is_file() {
                return Err(Error::input(format!(
                    "Docker engine {addr}: TLS is on (DOCKER_TLS_VERIFY or https://) but {} is missing; \
                     set DOCKER_CERT_PATH to the directory holding ca.pem, cert.pem and key.pem",
                    cert_dir.join(f).display()
                )));
            }
        }
        return Ok(Transport::Tls {
            addr: addr.replacen("https://", "tcp://", 1),
            cert_dir,
        });
    }
    if addr.starts_with("tcp://") || addr.starts_with("http://") {
        let host = tcp_host(addr);
        if !is_loopback(host) && !allow_insecure {
            return Err(Error::input(format!(
                "Docker engine {addr}: plain tcp:// to {host} is neither encrypted nor authenticated (anyone who \
                 reaches the port controls the engine); use TLS (DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH, as the \
                 docker CLI) or ssh://user@{host}, or allow it explicitly with `insecure_engine = true` on the \
                 target in targets.toml (or `build --insecure-engine`)"
            )));
        }
        return Ok(Transport::Plain(addr.to_string()));
    }
    Err(Error::input(format!(
        "Docker engine address {addr:?} is not supported; use unix:///path/to/docker.sock, tcp://host:port \
         (TLS with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH) or ssh://user@host"
    )))
}

/// [`connect`], allowing plain tcp:// to another host when `allow_insecure`.
pub async fn connect_checked(engine: Option<&str>, allow_insecure: bool) -> Result<Docker> {
    let addr = engine_address(engine);
    let docker = match transport(&addr, allow_insecure)? {
        Transport::Unix(a) => Docker::connect_with_unix(&a, TIMEOUT_SECS, &API_VERSION),
        Transport::Plain(a) => Docker::connect_with_http(&a, TIMEOUT_SECS, &API_VERSION),
        Transport::Tls { addr: a, cert_dir } => {
            install_crypto_provider();
            Docker::connect_with_ssl(
                &a,
                &cert_dir.join("key.pem"),
                &cert_dir.join("cert.pem"),
                &cert_dir.join("ca.pem"),
                TIMEOUT_SECS,
                &API_VERSION,
            )
        }
        Transport::Ssh(a) => Docker::connect_with_ssh(&a, TIMEOUT_SECS, &API_VERSION, None),
    }
    .map_err(|e| unreachable(&addr, &e))?;
    let docker = docker.negotiate_version().await.map_err(|e| unreachable(&addr, &e))?;
    docker.ping().await.map_err(|e| unreachable(&addr, &e))?;
    Ok(docker)
}

/// rustls needs one process-wide crypto provider when more than one is compiled in.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_engine_wins() {
        assert_eq!(engine_address(Some("tcp://h:2375")), "tcp://h:2375");
    }

    #[tokio::test]
    async fn unreachable_socket_is_external_with_hint() {
        let e = connect(Some("unix:///nonexistent/docker.sock")).await.unwrap_err();
        assert_eq!(e.exit_code(), 3);
        let m = e.to_string();
        assert!(m.contains("/nonexistent/docker.sock") && m.contains("is the daemon running"), "{m}");
    }

    #[test]
    fn plain_tcp_to_another_host_is_refused_unless_allowed() {
        for ok in [
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2375",
            "tcp://[::1]:2375",
            "http://127.0.0.2:1",
        ] {
            assert!(matches!(transport(ok, false), Ok(Transport::Plain(_))), "{ok}");
        }
        let e = transport("tcp://10.1.2.3:2375", false).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string().contains("10.1.2.3") && e.to_string().contains("insecure_engine"),
            "{e}"
        );
        assert!(matches!(transport("tcp://10.1.2.3:2375", true), Ok(Transport::Plain(_))));
        assert!(matches!(transport("ssh://me@h", false), Ok(Transport::Ssh(_))));
        assert!(matches!(transport("ssh://me@[::1]", false), Ok(Transport::Ssh(_))));
        for with_port in ["ssh://me@127.0.0.1:2222", "ssh://h:22", "ssh://me@[::1]:2222/"] {
            let e = transport(with_port, false).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{with_port}");
            assert!(e.to_string().contains("Port ") && e.to_string().contains("HostName "), "{e}");
        }
        assert_eq!(tcp_host("tcp://[fe80::1]:2375"), "[fe80::1]");
    }

    #[tokio::test]
    async fn bad_scheme_is_input() {
        let e = connect(Some("ftp://x")).await.unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }
}
