//! Connecting to the Docker engine (bollard).
//!
//! The engine is the per-target `engine` URL from targets.toml when given, else
//! `DOCKER_HOST`, else the local socket. The client speaks API 1.41 (Docker 20.10)
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

fn unreachable(addr: &str, e: impl std::fmt::Display) -> Error {
    Error::external(format!(
        "cannot reach the Docker engine at {addr}: {e} (is the daemon running? is DOCKER_HOST or the target's `engine` in targets.toml right?)"
    ))
}

/// Connect to the engine and check it answers; negotiates the API version.
///
/// `engine`: a URL such as `unix:///var/run/docker.sock`, `tcp://host:2375`,
/// `http://host:2375`, or a plain socket path. `None`: `DOCKER_HOST`, else the local socket.
pub async fn connect(engine: Option<&str>) -> Result<Docker> {
    let addr = engine_address(engine);
    let docker = if addr.starts_with("unix://") || addr.starts_with('/') {
        Docker::connect_with_unix(&addr, TIMEOUT_SECS, &API_VERSION)
    } else if addr.starts_with("tcp://") || addr.starts_with("http://") {
        Docker::connect_with_http(&addr, TIMEOUT_SECS, &API_VERSION)
    } else {
        return Err(Error::input(format!(
            "Docker engine address {addr:?} is not supported; use unix:///path/to/docker.sock or tcp://host:port \
             (for TLS or ssh engines, forward the engine to a local socket or port first, e.g. `ssh -L`)"
        )));
    }
    .map_err(|e| unreachable(&addr, e))?;
    let docker = docker.negotiate_version().await.map_err(|e| unreachable(&addr, e))?;
    docker.ping().await.map_err(|e| unreachable(&addr, e))?;
    Ok(docker)
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

    #[tokio::test]
    async fn bad_scheme_is_input() {
        let e = connect(Some("ftp://x")).await.unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }
}
