//! The S3 implementation of [`Store`]: aws-sdk-s3 with aws-config's default chain.
//!
//! What an object holds is judged by the server's own SHA-256 (`ChecksumSHA256`, asked for
//! with checksum mode), never by the `sha256` metadata a writer sets. Prod writes are
//! create-only (`If-None-Match: *`); a server without conditional writes is refused, never
//! worked around with a check before the write (that races).

use super::object::{Body, PutOutcome, PutRequest, RemoteObject, Store};
use crate::error::{Error, Result};
use crate::progress::Item;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Region used when neither the environment nor a profile names one.
pub const DEFAULT_REGION: &str = "us-west-2";
/// Metadata key holding the hex SHA-256 of the whole object (informative only: never trusted).
pub const META_SHA256: &str = "sha256";
/// Key (under the release prefix) of the empty object prod writes twice, create-only, to
/// prove the server honours `If-None-Match: *` before anything of the release is written.
pub const PROBE_KEY: &str = ".valkey-release-conditional-write-probe";

/// `s3://BUCKET[/PREFIX/]`.
pub struct S3Backend;

impl super::Backend for S3Backend {
    fn parse(&self, rest: &str) -> std::result::Result<(String, String), String> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err("no bucket name (expected s3://BUCKET or s3://BUCKET/PREFIX/)".into());
        }
        super::check_bucket_name(bucket)?;
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            return Ok((bucket.to_string(), String::new()));
        }
        if !super::is_plain_key(prefix) {
            return Err(format!(
                "key prefix {prefix:?} must be a relative path without '.' or '..' components"
            ));
        }
        Ok((bucket.to_string(), format!("{prefix}/")))
    }

    fn open<'a>(&'a self, url: &'a super::StoreUrl, cfg: &'a super::StoreConfig) -> BoxFuture<'a, Result<Arc<dyn Store>>> {
        async move {
            let s3cfg = S3Config {
                endpoint_url: cfg.endpoint_url.clone(),
                max_attempts: cfg.max_attempts,
                initial_backoff: cfg.initial_backoff,
            };
            let mut s = S3Store::new(&url.location, &s3cfg, cfg.concurrency).await?;
            s.multipart_threshold = cfg.multipart_threshold;
            s.part_size = cfg.part_size;
            Ok(Arc::new(s) as Arc<dyn Store>)
        }
        .boxed()
    }
}

/// The error for a prod write to a server without conditional writes.
fn no_conditional_writes(uri: &str, how: &str) -> Error {
    Error::refused(format!(
        "{uri}: the S3 server {how} conditional writes (If-None-Match: *); prod refuses to write \
         without them, since a concurrent writer could be overwritten. Use a server that supports \
         them (AWS S3, MinIO, moto, s3s-fs), or the dev environment"
    ))
}
/// Default number of attempts per request (first try + retries).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;

/// How to reach S3.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `--endpoint-url` (else AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3, read by aws-config).
    pub endpoint_url: Option<String>,
    /// Attempts per request, retries included (standard retry mode, exponential backoff with jitter).
    pub max_attempts: u32,
    /// Initial retry backoff.
    pub initial_backoff: Duration,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint_url: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            initial_backoff: Duration::from_millis(500),
        }
    }
}

fn env_endpoint() -> Option<String> {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.trim().is_empty())
}

/// Build an S3 client: default credential chain (env keys, profiles, web identity
/// AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, ...), region default us-west-2, standard retries
/// with backoff, timeouts, checksums only when required (explicit SHA-256 values are still sent),
/// path-style addressing when an endpoint URL is configured.
pub async fn client(cfg: &S3Config) -> Result<aws_sdk_s3::Client> {
    if let Some(u) = &cfg.endpoint_url {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(Error::input(format!("--endpoint-url {u:?}: expected an http:// or https:// URL")));
        }
    }
    let region = RegionProviderChain::default_provider().or_else(Region::new(DEFAULT_REGION));
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(cfg.max_attempts.max(1))
        .with_initial_backoff(cfg.initial_backoff)
        .with_max_backoff(Duration::from_secs(20));
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(120))
        .operation_attempt_timeout(Duration::from_secs(600))
        .build();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(region)
        .retry_config(retry)
        .timeout_config(timeouts)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(u) = &cfg.endpoint_url {
        loader = loader.endpoint_url(u.clone());
    }
    let sdk = loader.load().await;
    let path_style = cfg.endpoint_url.is_some() || env_endpoint().is_some();
    let conf = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(path_style).build();
    Ok(aws_sdk_s3::Client::from_conf(conf))
}

/// HTTP status of a failed call, if the server answered.
fn status<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// Did the server refuse a conditional write as unsupported (501 / NotImplemented)?
fn not_implemented<E: ProvideErrorMetadata>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool {
    status(e) == Some(501) || e.code() == Some("NotImplemented")
}

/// Turn an SDK error into a one-line message for a person: what failed, on which key, and what to check.
/// Never includes credentials.
pub(crate) fn describe<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>, what: &str, attempts: u32) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = e.code().unwrap_or("");
    let msg = e.message().unwrap_or("");
    let st = status(e);
    let detail = if code.is_empty() && msg.is_empty() {
        String::new()
    } else {
        format!(": {code} {msg}").trim_end().to_string()
    };
    match e {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => match (st, code) {
            (_, "InvalidAccessKeyId") | (_, "SignatureDoesNotMatch") | (_, "ExpiredToken") | (_, "InvalidToken") | (_, "InvalidClientTokenId") => {
                Error::external(format!(
                    "{what}: S3 rejected the credentials{detail}. Check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the role (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE)"
                ))
            }
            (Some(403), _) | (_, "AccessDenied") => Error::external(format!(
                "{what}: access denied (HTTP 403){detail}. The credentials are wrong, or lack s3:ListBucket/s3:GetObject/s3:PutObject on this bucket"
            )),
            (_, "NoSuchBucket") => Error::input(format!("{what}: the bucket does not exist{detail}. Check the bucket name (--bucket, AWS_S3_BUCKET, AWS_TEST_BUCKET)")),
            (Some(s), _) if s >= 500 => Error::external(format!("{what}: the S3 server kept failing (HTTP {s}{detail}) after {attempts} attempt{}; re-run later to complete the upload", plural(attempts))),
            (Some(s), _) if s >= 300 || !detail.is_empty() => Error::external(format!("{what}: S3 answered HTTP {s}{detail}")),
            (Some(s), _) => Error::external(format!("{what}: unexpected answer (HTTP {s}): {}", cause_chain(e))),
            (None, _) => Error::external(format!("{what}: {}", cause_chain(e))),
        },
        SdkError::TimeoutError(_) => Error::external(format!("{what}: timed out after {attempts} attempt{}; is the S3 endpoint reachable?", plural(attempts))),
        SdkError::DispatchFailure(d) => {
            let text = cause_chain(e);
            if text.contains("credentials") || text.contains("identity") {
                Error::external(format!(
                    "{what}: no usable AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE"
                ))
            } else if d.is_io() || d.is_timeout() {
                Error::external(format!("{what}: cannot reach the S3 endpoint after {attempts} attempt{} ({})", plural(attempts), short_cause(&text)))
            } else {
                Error::external(format!("{what}: request failed after {attempts} attempt{} ({})", plural(attempts), short_cause(&text)))
            }
        }
        _ => {
            let text = cause_chain(e);
            if text.contains("credentials") || text.contains("identity") {
                Error::external(format!(
                    "{what}: no usable AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE ({})",
                    short_cause(&text)
                ))
            } else {
                Error::external(format!("{what}: {}", short_cause(&text)))
            }
        }
    }
}

/// The causes of an error as one short line (Display of each source, no debug dumps).
fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        let t = x.to_string();
        if !t.is_empty() && !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = x.source();
    }
    let s = parts.join(": ");
    s.chars().take(300).collect()
}

/// The short cause of an SDK error.
fn short_cause(text: &str) -> String {
    text.chars().take(300).collect()
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn b64(digest: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Hex of a base64 SHA-256 checksum (single-part objects only; composite `-N` values give None).
pub fn checksum_to_hex(c: &str) -> Option<String> {
    if c.contains('-') {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(c).ok()?;
    (raw.len() == 32).then(|| hex::encode(raw))
}

/// An S3 bucket as a [`Store`].
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    attempts: u32,
    /// Objects at least this big go multipart.
    pub multipart_threshold: u64,
    /// Multipart part size (>= 5 MiB).
    pub part_size: u64,
    /// Bounds the requests carrying bytes (puts and parts) in flight at once.
    transfers: Arc<Semaphore>,
    in_flight: Arc<Mutex<Vec<(String, String)>>>,
}

impl S3Store {
    /// A store on `bucket` with a client made by [`client`].
    pub async fn new(bucket: &str, cfg: &S3Config, concurrency: usize) -> Result<S3Store> {
        Ok(S3Store {
            client: client(cfg).await?,
            bucket: bucket.to_string(),
            attempts: cfg.max_attempts,
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 16 * 1024 * 1024,
            transfers: Arc::new(Semaphore::new(concurrency.max(1))),
            in_flight: Arc::new(Mutex::new(Vec::new())),
        })
    }

    fn what(&self, op: &str, key: &str) -> String {
        format!("{op} s3://{}/{key}", self.bucket)
    }

    async fn put_single(&self, req: &PutRequest, progress: &Item) -> Result<PutOutcome> {
        let _permit = self.transfers.acquire().await.map_err(|_| Error::Interrupted)?;
        let data = match &req.body {
            Body::Bytes(b) => b.clone(),
            Body::File(p) => {
                let p2 = p.clone();
                let v = tokio::task::spawn_blocking(move || std::fs::read(&p2))
                    .await
                    .map_err(|e| Error::external(format!("read task failed: {e}")))?
                    .map_err(|e| Error::io(p, "read", e))?;
                bytes::Bytes::from(v)
            }
        };
        let digest = Sha256::digest(&data);
        let hexd = hex::encode(digest);
        if hexd != req.sha256 || data.len() as u64 != req.size {
            return Err(refused_changed(&req.body, &req.key, &req.sha256, &hexd));
        }
        let n = data.len() as u64;
        let content_type = crate::artifact::content_type_of_key(&req.key);
        let checksum = b64(&digest);
        let build = |conditional: bool| {
            let op = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&req.key)
                .content_length(n as i64)
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(checksum.clone())
                .metadata(META_SHA256, &hexd)
                .content_type(content_type)
                .body(ByteStream::from(data.clone()));
            if conditional {
                op.if_none_match("*")
            } else {
                op
            }
        };
        match build(req.create_only).send().await {
            Ok(_) => {
                progress.inc(n);
                Ok(PutOutcome::Written)
            }
            Err(e) if status(&e) == Some(412) || e.code() == Some("PreconditionFailed") => Ok(PutOutcome::Exists),
            Err(e) if req.create_only && not_implemented(&e) => Err(no_conditional_writes(&self.uri(&req.key), "does not support")),
            Err(e) => Err(describe(&e, &self.what("upload", &req.key), self.attempts)),
        }
    }

    async fn put_multipart(&self, req: &PutRequest, progress: &Item) -> Result<PutOutcome> {
        let Body::File(path) = &req.body else {
            return self.put_single(req, progress).await;
        };
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&req.key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .metadata(META_SHA256, &req.sha256)
            .content_type(crate::artifact::content_type_of_key(&req.key))
            .send()
            .await
            .map_err(|e| describe(&e, &self.what("start multipart upload of", &req.key), self.attempts))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| {
                Error::external(format!(
                    "{}: the server returned no UploadId",
                    self.what("start multipart upload of", &req.key)
                ))
            })?
            .to_string();
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((req.key.clone(), upload_id.clone()));
        let result = self.multipart_body(req, path, &upload_id, progress).await;
        if result.is_err() {
            self.abort(&req.key, &upload_id).await;
        }
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, id)| id != &upload_id);
        result
    }

    async fn multipart_body(&self, req: &PutRequest, path: &std::path::Path, upload_id: &str, progress: &Item) -> Result<PutOutcome> {
        let part_size = self.part_size.max(5 * 1024 * 1024);
        let nparts = req.size.div_ceil(part_size).max(1);
        let mut tasks: tokio::task::JoinSet<Result<(i32, CompletedPart, u64)>> = tokio::task::JoinSet::new();
        let mut hasher = Some(Sha256::new());
        let file = Arc::new(std::fs::File::open(path).map_err(|e| Error::io(path, "open", e))?);
        let mut parts = Vec::new();
        for i in 0..nparts {
            let permit = self.transfers.clone().acquire_owned().await.map_err(|_| Error::Interrupted)?;
            let offset = i * part_size;
            let len = part_size.min(req.size - offset);
            let f = file.clone();
            let mut h = hasher.take().expect("hasher");
            let p = path.to_path_buf();
            let (data, part_digest, h) = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, Vec<u8>, Sha256)> {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0u8; len as usize];
                f.read_exact_at(&mut buf, offset).map_err(|e| Error::io(&p, "read", e))?;
                h.update(&buf);
                let d = Sha256::digest(&buf).to_vec();
                Ok((buf, d, h))
            })
            .await
            .map_err(|e| Error::external(format!("read task failed: {e}")))??;
            hasher = Some(h);
            let client = self.client.clone();
            let (bucket, key, id) = (self.bucket.clone(), req.key.clone(), upload_id.to_string());
            let what = self.what(&format!("upload part {} of", i + 1), &req.key);
            let attempts = self.attempts;
            tasks.spawn(async move {
                let _permit = permit;
                let cs = b64(&part_digest);
                let n = data.len() as u64;
                let out = client
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(id)
                    .part_number((i + 1) as i32)
                    .content_length(n as i64)
                    .checksum_sha256(cs.clone())
                    .body(ByteStream::from(data))
                    .send()
                    .await
                    .map_err(|e| describe(&e, &what, attempts))?;
                let part = CompletedPart::builder()
                    .part_number((i + 1) as i32)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .checksum_sha256(out.checksum_sha256().map(str::to_string).unwrap_or(cs))
                    .build();
                Ok(((i + 1) as i32, part, n))
            });
            while let Some(done) = tasks.try_join_next() {
                let (no, part, n) = done.map_err(|e| Error::external(format!("upload task failed: {e}")))??;
                progress.inc(n);
                parts.push((no, part));
            }
        }
        while let Some(done) = tasks.join_next().await {
            let (no, part, n) = done.map_err(|e| Error::external(format!("upload task failed: {e}")))??;
            progress.inc(n);
            parts.push((no, part));
        }
        let got = hex::encode(hasher.take().expect("hasher").finalize());
        if got != req.sha256 {
            return Err(refused_changed(&req.body, &req.key, &req.sha256, &got));
        }
        parts.sort_by_key(|(no, _)| *no);
        let done = CompletedMultipartUpload::builder()
            .set_parts(Some(parts.into_iter().map(|(_, p)| p).collect()))
            .build();
        let mut op = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&req.key)
            .upload_id(upload_id)
            .multipart_upload(done);
        if req.create_only {
            op = op.if_none_match("*");
        }
        match op.send().await {
            Ok(_) => Ok(PutOutcome::Written),
            Err(e) if status(&e) == Some(412) || e.code() == Some("PreconditionFailed") => {
                self.abort(&req.key, upload_id).await;
                Ok(PutOutcome::Exists)
            }
            Err(e) if req.create_only && not_implemented(&e) => {
                self.abort(&req.key, upload_id).await;
                Err(no_conditional_writes(&self.uri(&req.key), "does not support"))
            }
            Err(e) if status(&e) == Some(200) => {
                // HTTP 200 with a body the SDK cannot parse (some S3-compatible servers, e.g. moto,
                // name the XML root differently). The object is checked instead: it counts as
                // written only if it holds exactly our size and sha256.
                tracing::debug!("complete multipart: unparsed 200 answer: {}", DisplayErrorContext(&e));
                match self.head(&req.key).await? {
                    // Size only here: the upload checks every object's bytes right after.
                    Some(r) if r.size == req.size => Ok(PutOutcome::Written),
                    _ => Err(describe(&e, &self.what("complete multipart upload of", &req.key), self.attempts)),
                }
            }
            Err(e) => Err(describe(&e, &self.what("complete multipart upload of", &req.key), self.attempts)),
        }
    }

    async fn abort(&self, key: &str, upload_id: &str) {
        let r = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await;
        match r {
            Ok(_) => tracing::info!("aborted multipart upload of {key}"),
            Err(e) => {
                let msg = describe(&e, &self.what("abort multipart upload of", key), self.attempts);
                crate::progress::line(
                    "upload",
                    &format!("warning: {msg} (upload id {upload_id}; a bucket lifecycle rule for incomplete uploads cleans it)"),
                );
            }
        }
    }
}

/// The error for bytes that do not match what the manifest says.
pub(crate) fn refused_changed(body: &Body, key: &str, want: &str, got: &str) -> Error {
    let name = match body {
        Body::File(p) => p.display().to_string(),
        Body::Bytes(_) => key.to_string(),
    };
    Error::check(format!(
        "{name}: content changed since manifest.json was written (sha256 {got}, manifest says {want}); not uploaded. Re-run package/build to regenerate dist/"
    ))
}

impl Store for S3Store {
    fn describe(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn check_access(&self) -> BoxFuture<'_, Result<()>> {
        async move {
            match self.client.head_bucket().bucket(&self.bucket).send().await {
                Ok(_) => Ok(()),
                Err(e) if status(&e) == Some(404) || e.code() == Some("NoSuchBucket") || e.code() == Some("NotFound") => {
                    Err(Error::input(format!(
                        "bucket {:?} does not exist (HTTP 404). Check the bucket name (--bucket, AWS_S3_BUCKET for prod, AWS_TEST_BUCKET for dev) and the endpoint",
                        self.bucket
                    )))
                }
                Err(e) => Err(describe(&e, &format!("check bucket {:?}", self.bucket), self.attempts)),
            }
        }
        .boxed()
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<RemoteObject>>> {
        async move {
            let r = self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await;
            match r {
                Ok(o) => {
                    // The server's own checksum only: metadata is whatever a writer claimed.
                    // A multipart object's checksum is a checksum of part checksums (marked by
                    // `-N` on it, its type, or its ETag, depending on the server): not the SHA-256
                    // of the bytes.
                    let checksum = o.checksum_sha256().map(str::to_string);
                    let composite = o.checksum_type() == Some(&aws_sdk_s3::types::ChecksumType::Composite)
                        || o.e_tag().is_some_and(|t| t.trim_matches('"').contains('-'));
                    let sha256 = checksum.as_deref().filter(|_| !composite).and_then(checksum_to_hex);
                    Ok(Some(RemoteObject {
                        size: o.content_length().unwrap_or(0).max(0) as u64,
                        sha256,
                        checksum,
                    }))
                }
                Err(e) if status(&e) == Some(404) => Ok(None),
                Err(e) => Err(describe(&e, &self.what("check", key), self.attempts)),
            }
        }
        .boxed()
    }

    fn put<'a>(&'a self, req: &'a PutRequest, progress: &'a Item) -> BoxFuture<'a, Result<PutOutcome>> {
        async move {
            if req.size >= self.multipart_threshold && matches!(req.body, Body::File(_)) {
                self.put_multipart(req, progress).await
            } else {
                self.put_single(req, progress).await
            }
        }
        .boxed()
    }

    fn hash_object<'a>(&'a self, key: &'a str, progress: Option<&'a Item>) -> BoxFuture<'a, Result<Option<(String, u64)>>> {
        async move {
            let r = self.client.get_object().bucket(&self.bucket).key(key).send().await;
            let mut body = match r {
                Ok(o) => o.body,
                Err(e) if status(&e) == Some(404) => return Ok(None),
                Err(e) => return Err(describe(&e, &self.what("download", key), self.attempts)),
            };
            let mut h = Sha256::new();
            let mut n = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| Error::external(format!("{}: {}", self.what("download", key), DisplayErrorContext(&e))))?;
                h.update(&chunk);
                n += chunk.len() as u64;
                if let Some(p) = progress {
                    p.inc(chunk.len() as u64);
                }
            }
            Ok(Some((hex::encode(h.finalize()), n)))
        }
        .boxed()
    }

    fn get_small<'a>(&'a self, key: &'a str, limit: u64) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        async move {
            let r = self.client.get_object().bucket(&self.bucket).key(key).send().await;
            let mut body = match r {
                Ok(o) => o.body,
                Err(e) if status(&e) == Some(404) || e.code() == Some("NoSuchKey") => return Ok(None),
                Err(e) => return Err(describe(&e, &self.what("download", key), self.attempts)),
            };
            let mut out = Vec::new();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| Error::external(format!("{}: {}", self.what("download", key), DisplayErrorContext(&e))))?;
                out.extend_from_slice(&chunk);
                if out.len() as u64 > limit {
                    return Err(Error::check(format!("{}: larger than {limit} bytes", self.uri(key))));
                }
            }
            Ok(Some(out))
        }
        .boxed()
    }

    fn download<'a>(&'a self, key: &'a str, dest: &'a std::path::Path) -> BoxFuture<'a, Result<Option<(String, u64)>>> {
        async move {
            use std::io::Write;
            let r = self.client.get_object().bucket(&self.bucket).key(key).send().await;
            let mut body = match r {
                Ok(o) => o.body,
                Err(e) if status(&e) == Some(404) || e.code() == Some("NoSuchKey") => return Ok(None),
                Err(e) => return Err(describe(&e, &self.what("download", key), self.attempts)),
            };
            let mut out = crate::fsutil::AtomicFile::create(dest)?;
            let mut h = Sha256::new();
            let mut n = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| Error::external(format!("{}: {}", self.what("download", key), DisplayErrorContext(&e))))?;
                h.update(&chunk);
                n += chunk.len() as u64;
                out.write_all(&chunk).map_err(|e| Error::io(dest, "write", e))?;
            }
            out.commit()?;
            Ok(Some((hex::encode(h.finalize()), n)))
        }
        .boxed()
    }

    fn check_conditional_writes<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            // Two create-only writes of the same empty object: the second (at the latest) must
            // be refused with 412. A server that accepts it ignores If-None-Match.
            let verdict = self.probe_conditional_writes(key).await;
            // The probe leaves nothing in the release prefix (best effort: credentials that may
            // not delete leave one empty object, which no stage lists).
            if let Err(e) = self.client.delete_object().bucket(&self.bucket).key(key).send().await {
                tracing::warn!("could not remove the probe object {}: {}", self.uri(key), DisplayErrorContext(&e));
            }
            verdict
        }
        .boxed()
    }

    fn abort_in_flight(&self) -> BoxFuture<'_, ()> {
        async move {
            let list: Vec<(String, String)> = std::mem::take(&mut *self.in_flight.lock().unwrap_or_else(|e| e.into_inner()));
            for (key, id) in list {
                self.abort(&key, &id).await;
            }
        }
        .boxed()
    }
}

impl S3Store {
    /// The two create-only writes of `check_conditional_writes`.
    async fn probe_conditional_writes(&self, key: &str) -> Result<()> {
        for attempt in 0..2 {
            let r = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_length(0)
                .if_none_match("*")
                .body(ByteStream::from_static(b""))
                .send()
                .await;
            match r {
                Err(e) if status(&e) == Some(412) || e.code() == Some("PreconditionFailed") => return Ok(()),
                Err(e) if not_implemented(&e) => return Err(no_conditional_writes(&self.uri(key), "does not support")),
                Err(e) => return Err(describe(&e, &self.what("probe conditional writes with", key), self.attempts)),
                Ok(_) if attempt == 1 => {
                    return Err(no_conditional_writes(
                        &self.uri(key),
                        "ignores If-None-Match: * (it let a create-only write replace an existing object), so it lacks",
                    ))
                }
                Ok(_) => {}
            }
        }
        Ok(())
    }
}
