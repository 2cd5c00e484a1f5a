//! The S3 client (credentials, region, retries, timeouts) and the one-line descriptions of its
//! errors.

use super::DEFAULT_REGION;
use crate::error::{Error, Result};
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use base64::Engine;
use std::time::Duration;

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
pub(super) fn status<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// Did the server refuse a conditional write as unsupported (501 / NotImplemented)?
pub(super) fn not_implemented<E: ProvideErrorMetadata>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool {
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

pub(super) fn b64(digest: &[u8]) -> String {
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
