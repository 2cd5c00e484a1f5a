//! Test helpers for the upload stage: a moto S3 server on a free loopback port (killed on drop),
//! a fault-injecting HTTP proxy in front of it, a small dist/ built with `manifest::Manifest`,
//! and the environment the CLI needs.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use valkey_release::manifest::{checksum_line, Artifact, Manifest, SourceInfo};

pub const KEY_ID: &str = "AKIAUPLOADTEST";
pub const SECRET: &str = "upload-test-secret-do-not-print";

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An S3-compatible server child process on loopback: moto's server, or s3s-fs (a second,
/// independent implementation, storing objects as files under `root`).
pub struct S3Server {
    child: Child,
    pub port: u16,
    pub url: String,
    /// `moto` or `s3s-fs`.
    pub kind: &'static str,
    /// s3s-fs: the directory holding `<bucket>/<key>` files.
    pub root: Option<tempfile::TempDir>,
    _log: tempfile::NamedTempFile,
}

/// The tests were written against moto first; most still say `Moto`.
pub type Moto = S3Server;

impl S3Server {
    /// Start s3s-fs (`cargo install s3s-fs --version 0.14.1 --features binary`; .ci/setup does)
    /// on a free port with the test credentials, and wait until it answers.
    pub fn s3s_fs() -> S3Server {
        S3Server::start_on_a_free_port("s3s-fs", |port, log| {
            let root = tempfile::tempdir().unwrap();
            let child = Command::new("s3s-fs")
                .args([
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--access-key",
                    KEY_ID,
                    "--secret-key",
                    SECRET,
                ])
                .arg(root.path())
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.reopen().unwrap()))
                .stderr(Stdio::from(log.reopen().unwrap()))
                .spawn()
                .expect("s3s-fs must be installed (cargo install s3s-fs --version 0.14.1 --features binary; see .ci/setup)");
            (child, Some(root))
        })
    }

    /// Start the server `kind` with `spawn(port, log)` (which returns the child and, for s3s-fs,
    /// its directory) on a free port, and wait until it answers; up to five ports are tried.
    fn start_on_a_free_port(
        kind: &'static str,
        spawn: impl Fn(u16, &tempfile::NamedTempFile) -> (Child, Option<tempfile::TempDir>),
    ) -> S3Server {
        for _ in 0..5 {
            let port = free_port();
            let log = tempfile::NamedTempFile::new().unwrap();
            let (child, root) = spawn(port, &log);
            let mut s = S3Server {
                child,
                port,
                url: format!("http://127.0.0.1:{port}"),
                kind,
                root,
                _log: log,
            };
            if s.wait_listening() {
                return s;
            }
        }
        panic!("{kind} did not start");
    }

    fn wait_listening(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false; // port taken meanwhile: try another
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        false
    }

    /// Start moto on a free port and wait until it answers.
    pub fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// Start moto with extra environment (e.g. INITIAL_NO_AUTH_ACTION_COUNT=0 to enforce credentials).
    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        S3Server::start_on_a_free_port("moto", |port, log| {
            let mut cmd = Command::new("moto_server");
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.reopen().unwrap()))
                .stderr(Stdio::from(log.reopen().unwrap()));
            for (k, v) in env {
                cmd.env(k, v);
            }
            let child = cmd
                .spawn()
                .expect("moto_server must be installed (pip install 'moto[server]'; see .ci/setup)");
            (child, None)
        })
    }

    /// An S3 client for the test itself (setting up buckets, corrupting objects).
    pub async fn client(&self) -> aws_sdk_s3::Client {
        let creds = aws_sdk_s3::config::Credentials::new(KEY_ID, SECRET, None, None, "test");
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-west-2"))
            .credentials_provider(creds)
            .endpoint_url(&self.url)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub async fn create_bucket(&self, name: &str) {
        let c = self.client().await;
        let cfg = aws_sdk_s3::types::CreateBucketConfiguration::builder()
            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
            .build();
        c.create_bucket()
            .bucket(name)
            .create_bucket_configuration(cfg)
            .send()
            .await
            .expect("create bucket");
    }

    /// Sorted keys of a bucket.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let c = self.client().await;
        let out = c.list_objects_v2().bucket(bucket).send().await.expect("list");
        let mut k: Vec<String> = out.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect();
        k.sort();
        k
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let c = self.client().await;
        let o = c.get_object().bucket(bucket).key(key).send().await.expect("get");
        o.body.collect().await.unwrap().into_bytes().to_vec()
    }

    pub async fn put_raw(&self, bucket: &str, key: &str, data: Vec<u8>) {
        let c = self.client().await;
        c.put_object().bucket(bucket).key(key).body(data.into()).send().await.expect("put");
    }

    pub async fn multipart_uploads(&self, bucket: &str) -> usize {
        let c = self.client().await;
        let out = c.list_multipart_uploads().bucket(bucket).send().await.expect("list uploads");
        out.uploads().len()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a future to completion on a fresh runtime (tests are plain #[test]s).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A dist/ with one random "tarball" per (target, size), .sha256 files, SHA256SUMS and manifest.json.
pub fn make_dist(dir: &Path, version: &str, targets: &[(&str, usize)], seed: u64) -> Manifest {
    std::fs::create_dir_all(dir).unwrap();
    let mut m = Manifest::new(
        version,
        1_700_000_000,
        SourceInfo {
            name: format!("valkey-{version}.tar.gz"),
            kind: "archive".into(),
            ..Default::default()
        },
    );
    for (i, (target, size)) in targets.iter().enumerate() {
        let (distro, arch) = target.split_once('-').unwrap();
        let file = format!("valkey-{version}-{target}.tar.gz");
        let data = random_bytes(*size, seed.wrapping_mul(1000).wrapping_add(i as u64));
        std::fs::write(dir.join(&file), &data).unwrap();
        let (sha, n) = valkey_release::fsutil::sha256_file(&dir.join(&file)).unwrap();
        let checksum_file = format!("{file}.sha256");
        std::fs::write(dir.join(&checksum_file), checksum_line(&sha, &file)).unwrap();
        m.upsert(Artifact {
            target: target.to_string(),
            kind: "tarball".into(),
            describes: None,
            distro: distro.into(),
            arch: arch.into(),
            file,
            size: n,
            sha256: sha,
            checksum_file,
            files: vec![],
            build: None,
        });
    }
    m.save(dir).unwrap();
    m
}

/// Deterministic pseudo-random bytes (xorshift), incompressible like a tarball.
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    if x == 0 {
        x = 1;
    }
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// The dist/ most upload tests send: 8.1.1 for jammy-x86_64 (300 kB) and noble-arm64 (200 kB),
/// its bytes drawn from `seed`.
pub fn small_dist(dir: &Path, seed: u64) {
    make_dist(dir, "8.1.1", &[("jammy-x86_64", 300_000), ("noble-arm64", 200_000)], seed);
}

/// Empty AWS config files so no profile of the machine leaks into a test.
pub struct AwsEnv {
    _dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl AwsEnv {
    pub fn new() -> AwsEnv {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::File::create(&config).unwrap().write_all(b"").unwrap();
        AwsEnv { _dir: dir, config }
    }
}

/// AWS variables of this machine that must not reach a test: they would choose another bucket,
/// account, role or endpoint.
const MACHINE_AWS_VARS: [&str; 7] = [
    "AWS_S3_BUCKET",
    "AWS_TEST_BUCKET",
    "AWS_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_S3",
];

/// What a test sets instead, as (variable, value): the test credentials, us-west-2, `endpoint`,
/// the empty config files of `aws`, no instance metadata, plain progress lines.
fn test_aws_vars(aws: &AwsEnv, endpoint: &str) -> [(&'static str, std::ffi::OsString); 8] {
    [
        ("AWS_ACCESS_KEY_ID", KEY_ID.into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.into()),
        ("AWS_REGION", "us-west-2".into()),
        ("AWS_ENDPOINT_URL", endpoint.into()),
        ("AWS_CONFIG_FILE", aws.config.clone().into()),
        ("AWS_SHARED_CREDENTIALS_FILE", aws.config.clone().into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("VALKEY_RELEASE_PLAIN", "1".into()),
    ]
}

/// The CLI with test credentials, endpoint and no bucket variables.
pub fn cli(aws: &AwsEnv, endpoint: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_valkey-release"));
    for k in MACHINE_AWS_VARS
        .into_iter()
        .chain(["AWS_DEFAULT_REGION", "VALKEY_RELEASE_TARGETS", "RUST_LOG"])
    {
        c.env_remove(k);
    }
    c.envs(test_aws_vars(aws, endpoint)).stdin(Stdio::null());
    c
}

/// Set the same variables in this process (for library calls such as verify_remote).
/// Tests run one per process under nextest.
pub fn set_process_env(aws: &AwsEnv, endpoint: &str) {
    for k in MACHINE_AWS_VARS {
        std::env::remove_var(k);
    }
    for (k, v) in test_aws_vars(aws, endpoint) {
        std::env::set_var(k, v);
    }
}

/// Output of a finished command.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(mut c: Command) -> Out {
    let o = c.output().expect("run valkey-release");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    }
}

impl Out {
    /// No panic, no backtrace, no secret in what a person sees.
    pub fn assert_clean(&self) {
        for s in [&self.stdout, &self.stderr] {
            assert!(!s.contains("panicked"), "panic:\n{}", self.stderr);
            assert!(!s.contains("stack backtrace"), "backtrace:\n{}", self.stderr);
            assert!(!s.contains(SECRET), "secret printed:\n{s}");
        }
    }
}

/// The report of a `--json` run; panics with both outputs when stdout is not JSON.
pub fn json(o: &Out) -> serde_json::Value {
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", o.stdout, o.stderr))
}

/// The `state` of every object in an upload report, in order.
pub fn states(v: &serde_json::Value) -> Vec<String> {
    v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["state"].as_str().unwrap().to_string())
        .collect()
}

/// What an upload test starts from: AWS settings of its own (see `AwsEnv`) and a temp dir
/// holding `dist/`, deleted on drop.
pub struct Workdir {
    pub aws: AwsEnv,
    pub tmp: tempfile::TempDir,
    /// `<tmp>/dist`.
    pub dist: PathBuf,
}

impl Workdir {
    /// `dist/` is `small_dist(seed)`.
    pub fn small_dist(seed: u64) -> Workdir {
        Workdir::with_dist(|dist| small_dist(dist, seed))
    }

    /// `dist/` is `make_dist(version, targets, seed)`: `targets` are (target, tarball size).
    pub fn dist(version: &str, targets: &[(&str, usize)], seed: u64) -> Workdir {
        Workdir::with_dist(|dist| {
            make_dist(dist, version, targets, seed);
        })
    }

    fn with_dist(make: impl FnOnce(&Path)) -> Workdir {
        let aws = AwsEnv::new();
        let tmp = tempfile::tempdir().unwrap();
        let dist = tmp.path().join("dist");
        make(&dist);
        Workdir { aws, tmp, dist }
    }

    /// Run `valkey-release <args> --dist <dist>` (`cli`: the test credentials, `endpoint`) with the
    /// variables `env` set as well, e.g. `&[("AWS_S3_BUCKET", BUCKET)]`.
    pub fn upload(&self, endpoint: &str, env: &[(&str, &str)], args: &[&str]) -> Out {
        self.upload_dist(&self.dist, endpoint, env, args)
    }

    /// `upload`, of another dist/ directory.
    pub fn upload_dist(&self, dist: &Path, endpoint: &str, env: &[(&str, &str)], args: &[&str]) -> Out {
        let mut c = cli(&self.aws, endpoint);
        c.envs(env.iter().copied()).args(args).arg("--dist").arg(dist);
        run(c)
    }
}

/// An HTTP proxy in front of an S3 server that answers some requests itself with
/// 500 InternalError / 503 SlowDown, forwarding the rest. Every request is logged as
/// (method, path?query); a switch makes every GET of an object key fail.
pub struct FaultProxy {
    pub url: String,
    /// Requests seen / requests failed by the proxy.
    pub seen: Arc<AtomicUsize>,
    pub failed: Arc<AtomicUsize>,
    /// On: every GET of an object key (path-style `/<bucket>/<key>`) answers 500 InternalError.
    pub fail_object_gets: Arc<std::sync::atomic::AtomicBool>,
    /// Object GETs answered with that injected failure.
    pub failed_gets: Arc<AtomicUsize>,
    log: Arc<std::sync::Mutex<Vec<(String, String)>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Fail every `every`-th request (1-based count: requests every, 2*every, ... fail).
    pub fn start(upstream: &str, every: usize) -> FaultProxy {
        FaultProxy::start_with(upstream, every, false)
    }

    /// Like [`FaultProxy::start`]; with `writes_only`, only PUT/POST requests are counted and failed.
    pub fn start_with(upstream: &str, every: usize, writes_only: bool) -> FaultProxy {
        FaultProxy::start_full(upstream, every, writes_only, std::time::Duration::ZERO)
    }

    /// A proxy that fails nothing but holds every PUT/POST for `delay` (to interrupt uploads mid-way).
    pub fn start_slow(upstream: &str, delay: std::time::Duration) -> FaultProxy {
        FaultProxy::start_full(upstream, 0, true, delay)
    }

    fn start_full(upstream: &str, every: usize, writes_only: bool, delay: std::time::Duration) -> FaultProxy {
        FaultProxy::start_cfg(
            upstream,
            ProxyCfg {
                every,
                writes_only,
                delay,
                no_conditional: false,
                drop_conditional: false,
            },
        )
    }

    /// A proxy that answers 501 NotImplemented to conditional writes (If-None-Match), like
    /// S3-compatible servers without them; everything else is forwarded.
    pub fn start_no_conditional(upstream: &str) -> FaultProxy {
        FaultProxy::start_cfg(
            upstream,
            ProxyCfg {
                every: 0,
                writes_only: true,
                delay: std::time::Duration::ZERO,
                no_conditional: true,
                drop_conditional: false,
            },
        )
    }

    /// A proxy that removes `If-None-Match` from every request it forwards: it plays a server
    /// that ignores conditional writes (accepts them, overwrites anyway).
    pub fn start_drop_conditional(upstream: &str) -> FaultProxy {
        FaultProxy::start_cfg(
            upstream,
            ProxyCfg {
                every: 0,
                writes_only: true,
                delay: std::time::Duration::ZERO,
                no_conditional: false,
                drop_conditional: true,
            },
        )
    }

    fn start_cfg(upstream: &str, cfg: ProxyCfg) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let sw = Switches {
            fail_object_gets: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            failed_gets: Arc::new(AtomicUsize::new(0)),
            log: Arc::new(std::sync::Mutex::new(Vec::new())),
        };
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let upstream = upstream.trim_end_matches('/').to_string();
        let (s2, f2, sw2) = (seen.clone(), failed.clone(), sw.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let client = reqwest::Client::builder().build().unwrap();
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        acc = listener.accept() => {
                            let Ok((stream, _)) = acc else { continue };
                            let (client, upstream, seen, failed, sw) = (client.clone(), upstream.clone(), s2.clone(), f2.clone(), sw2.clone());
                            tokio::spawn(async move {
                                let svc = hyper::service::service_fn(move |req| {
                                    handle(req, client.clone(), upstream.clone(), seen.clone(), failed.clone(), cfg, sw.clone())
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        FaultProxy {
            url: format!("http://127.0.0.1:{port}"),
            seen,
            failed,
            fail_object_gets: sw.fail_object_gets,
            failed_gets: sw.failed_gets,
            log: sw.log,
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

impl FaultProxy {
    /// Turn the failure of object GETs on or off.
    pub fn set_fail_object_gets(&self, on: bool) {
        self.fail_object_gets.store(on, Ordering::SeqCst);
    }

    /// Every request received so far: (method, path?query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.log.lock().unwrap().clone()
    }
}

/// The proxy's shared switches and request log.
#[derive(Clone)]
struct Switches {
    fail_object_gets: Arc<std::sync::atomic::AtomicBool>,
    failed_gets: Arc<AtomicUsize>,
    log: Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

/// Is `path` (path-style, no query) an object's: `/<bucket>/<non-empty key>`?
pub fn is_object_path(path: &str) -> bool {
    path.trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Clone, Copy)]
struct ProxyCfg {
    every: usize,
    writes_only: bool,
    delay: std::time::Duration,
    no_conditional: bool,
    drop_conditional: bool,
}

type Resp = hyper::Response<http_body_util::Full<bytes::Bytes>>;

async fn handle(
    req: hyper::Request<hyper::body::Incoming>,
    client: reqwest::Client,
    upstream: String,
    seen: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    cfg: ProxyCfg,
    sw: Switches,
) -> Result<Resp, std::io::Error> {
    use http_body_util::BodyExt;
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    sw.log.lock().unwrap().push((req.method().to_string(), pq));
    if req.method() == hyper::Method::GET && is_object_path(req.uri().path()) && sw.fail_object_gets.load(Ordering::SeqCst) {
        sw.failed_gets.fetch_add(1, Ordering::SeqCst);
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code>\
                   <Message>We encountered an internal error. Please try again. (injected by the test proxy)</Message></Error>";
        return Ok(hyper::Response::builder()
            .status(500)
            .header("content-type", "application/xml")
            .body(http_body_util::Full::new(bytes::Bytes::from(xml)))
            .unwrap());
    }
    let ProxyCfg {
        every,
        writes_only,
        delay,
        no_conditional,
        drop_conditional,
    } = cfg;
    if no_conditional
        && req.headers().contains_key("if-none-match")
        && req.method() != hyper::Method::GET
        && req.method() != hyper::Method::HEAD
    {
        failed.fetch_add(1, Ordering::SeqCst);
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message></Error>";
        return Ok(hyper::Response::builder()
            .status(501)
            .header("content-type", "application/xml")
            .body(http_body_util::Full::new(bytes::Bytes::from(xml)))
            .unwrap());
    }
    let counted = !writes_only || req.method() == hyper::Method::PUT || req.method() == hyper::Method::POST;
    let n = if counted { seen.fetch_add(1, Ordering::SeqCst) + 1 } else { 0 };
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(std::io::Error::other)?.to_bytes();
    if counted && every > 0 && n % every == 0 {
        let k = failed.fetch_add(1, Ordering::SeqCst);
        let (status, code) = if k % 2 == 0 { (503, "SlowDown") } else { (500, "InternalError") };
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error>"
        );
        let b = if parts.method == hyper::Method::HEAD {
            bytes::Bytes::new()
        } else {
            bytes::Bytes::from(xml)
        };
        return Ok(hyper::Response::builder()
            .status(status)
            .header("content-type", "application/xml")
            .body(http_body_util::Full::new(b))
            .unwrap());
    }
    if counted && !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let pq = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap();
    let mut rb = client.request(method, format!("{upstream}{pq}"));
    for (k, v) in parts.headers.iter() {
        if k == "host" || k == "connection" || k == "transfer-encoding" || k == "expect" {
            continue;
        }
        if drop_conditional && k == "if-none-match" {
            failed.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        rb = rb.header(k.as_str(), v.as_bytes());
    }
    let up = rb.body(body).send().await.map_err(std::io::Error::other)?;
    let mut out = hyper::Response::builder().status(up.status().as_u16());
    for (k, v) in up.headers().iter() {
        if k == "connection" || k == "transfer-encoding" {
            continue;
        }
        out = out.header(k.as_str(), v.as_bytes());
    }
    let b = up.bytes().await.map_err(std::io::Error::other)?;
    Ok(out.body(http_body_util::Full::new(b)).unwrap())
}
