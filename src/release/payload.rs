//! What to release: from `--version/--environment` or from a GitHub event file (`--payload`).
//!
//! Accepted event shapes (the file GitHub puts at `$GITHUB_EVENT_PATH`):
//! - `repository_dispatch`: `{"action": "build-release", "client_payload": {"version", "environment", "source_sha"?}}`
//! - `workflow_dispatch`: `{"inputs": {"version", "environment", "source_sha"?}}`
//! - `release` (published): `{"release": {"tag_name": "9.1.1"}}` -> environment `prod`
//! - a bare object `{"version", "environment", "source_sha"?}` (the client_payload alone)
//!
//! An empty or absent environment means `dev`; anything but `dev`/`prod` is refused (exit 2), as is
//! a missing or malformed version, or a `source_sha` that is not 40 hex digits. Errors name the field.

use crate::error::{Error, Result};
use crate::version::Version;
use serde::Serialize;
use std::path::Path;

pub use crate::store::Environment;

/// A validated release request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub version: Version,
    pub environment: Environment,
    /// The commit the tag resolves to (40 lowercase hex), when the sender gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_sha: Option<String>,
    /// Where the request came from (`arguments`, `client_payload of FILE`, ...).
    pub origin: String,
}

/// Validate a `source_sha` value: 40 hex digits (lowercased).
pub fn parse_source_sha(s: &str, field: &str) -> Result<String> {
    if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(Error::input(format!(
            "{field}: invalid source_sha {s:?}: expected a 40-hex-digit commit id"
        )))
    }
}

/// Build a request from command-line values.
pub fn from_args(version: &str, environment: Option<&str>, source_sha: Option<&str>) -> Result<Request> {
    let version = Version::parse(version).map_err(|e| e.context("--version"))?;
    let environment = Environment::parse(environment.unwrap_or("")).map_err(|m| Error::input(format!("--environment: {m}")))?;
    let source_sha = source_sha.map(|s| parse_source_sha(s, "--source-sha")).transpose()?;
    Ok(Request {
        version,
        environment,
        source_sha,
        origin: "arguments".into(),
    })
}

/// Read and validate a GitHub event file.
pub fn load(path: &Path) -> Result<Request> {
    let text = crate::fsutil::read_input_text(path, "payload")?;
    parse(&text, &path.display().to_string())
}

fn str_field<'a>(obj: &'a serde_json::Map<String, serde_json::Value>, key: &str, where_: &str) -> Result<Option<&'a str>> {
    match obj.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(Error::input(format!("{where_}.{key}: expected a string, found {other}"))),
    }
}

/// Parse event JSON `text` (`name` is used in messages: the file path).
pub fn parse(text: &str, name: &str) -> Result<Request> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::input(format!("{name}:{}:{}: payload is not valid JSON: {e}", e.line(), e.column())))?;
    let root = v.as_object().ok_or_else(|| {
        Error::input(format!(
            "{name}: payload must be a JSON object (a GitHub event), found {}",
            kind(&v)
        ))
    })?;

    // A published release: the tag is the version, environment prod.
    if let Some(rel) = root.get("release").and_then(|r| r.as_object()) {
        if !root.contains_key("client_payload") && !root.contains_key("inputs") {
            let where_ = format!("{name}: release");
            let tag = str_field(rel, "tag_name", &where_)?
                .ok_or_else(|| Error::input(format!("{where_}.tag_name: missing (the release's tag is the version)")))?;
            let version = Version::parse(tag).map_err(|e| e.context(format!("{where_}.tag_name")))?;
            return Ok(Request {
                version,
                environment: Environment::Prod,
                source_sha: None,
                origin: format!("release event of {name}"),
            });
        }
    }

    let (section, obj) = if let Some(p) = root.get("client_payload") {
        let o = p
            .as_object()
            .ok_or_else(|| Error::input(format!("{name}: client_payload: expected an object, found {}", kind(p))))?;
        ("client_payload", o)
    } else if let Some(p) = root.get("inputs") {
        let o = p
            .as_object()
            .ok_or_else(|| Error::input(format!("{name}: inputs: expected an object, found {}", kind(p))))?;
        ("inputs", o)
    } else if root.contains_key("version") {
        ("payload", root)
    } else {
        return Err(Error::input(format!(
            "{name}: client_payload: missing (expected a repository_dispatch event with client_payload {{version, environment, source_sha?}}, or a workflow_dispatch event with inputs)"
        )));
    };
    let where_ = format!("{name}: {section}");
    let version_s = str_field(obj, "version", &where_)?
        .ok_or_else(|| Error::input(format!("{where_}.version: missing (e.g. \"8.1.1\", \"9.1.0-rc2\" or \"unstable\")")))?;
    let version = Version::parse(version_s).map_err(|e| e.context(format!("{where_}.version")))?;
    let env_s = str_field(obj, "environment", &where_)?.unwrap_or("");
    let environment = Environment::parse(env_s).map_err(|m| Error::input(format!("{where_}.environment: {m}")))?;
    let source_sha = match str_field(obj, "source_sha", &where_)? {
        None | Some("") => None,
        Some(s) => Some(parse_source_sha(s, &format!("{where_}.source_sha"))?),
    };
    Ok(Request {
        version,
        environment,
        source_sha,
        origin: format!("{section} of {name}"),
    })
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(t: &str) -> Request {
        parse(t, "ev.json").unwrap()
    }
    fn err(t: &str) -> String {
        let e = parse(t, "ev.json").unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        e.to_string()
    }

    #[test]
    fn dispatch() {
        let r = ok(
            r#"{"action":"build-release","client_payload":{"version":"8.1.1","environment":"prod","source_sha":"ABCDEF0123456789abcdef0123456789abcdef01"}}"#,
        );
        assert_eq!(r.version.as_str(), "8.1.1");
        assert_eq!(r.environment, Environment::Prod);
        assert_eq!(r.source_sha.as_deref(), Some("abcdef0123456789abcdef0123456789abcdef01"));
        let r = ok(r#"{"client_payload":{"version":"9.1.0-rc2","environment":""}}"#);
        assert_eq!(r.environment, Environment::Dev);
        let r = ok(r#"{"client_payload":{"version":"unstable"}}"#);
        assert_eq!(r.environment, Environment::Dev);
    }

    #[test]
    fn workflow_dispatch_and_release() {
        let r = ok(r#"{"inputs":{"version":"8.0.4","environment":"dev"},"ref":"refs/heads/main"}"#);
        assert_eq!(r.version.as_str(), "8.0.4");
        let r = ok(r#"{"action":"published","release":{"tag_name":"9.1.1"}}"#);
        assert_eq!((r.version.as_str(), r.environment), ("9.1.1", Environment::Prod));
        let r = ok(r#"{"version":"8.1.1","environment":"dev"}"#);
        assert_eq!(r.origin, "payload of ev.json");
    }

    #[test]
    fn bad() {
        assert!(err("not json").contains("not valid JSON"));
        assert!(err("[]").contains("JSON object"));
        assert!(err(r#"{"action":"x"}"#).contains("client_payload"));
        assert!(err(r#"{"client_payload":{"environment":"dev"}}"#).contains("client_payload.version: missing"));
        assert!(err(r#"{"client_payload":{"version":"v8.1.1"}}"#).contains("client_payload.version"));
        assert!(err(r#"{"client_payload":{"version":8}}"#).contains("client_payload.version: expected a string"));
        assert!(err(r#"{"client_payload":{"version":"8.1.1","environment":"staging"}}"#).contains("client_payload.environment"));
        assert!(err(r#"{"client_payload":{"version":"8.1.1","source_sha":"abc"}}"#).contains("client_payload.source_sha"));
        assert!(err(r#"{"client_payload":"8.1.1"}"#).contains("client_payload: expected an object"));
        assert!(err(r#"{"inputs":{"version":"8.1.1","environment":"production"}}"#).contains("inputs.environment"));
    }

    #[test]
    fn buckets() {
        assert_eq!(Environment::Prod.bucket_var(), "AWS_S3_BUCKET");
        assert_eq!(Environment::Dev.bucket_var(), "AWS_TEST_BUCKET");
    }
}
