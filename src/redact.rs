//! Log lines never carry a secret. Debug logging (`RUST_LOG=debug`) lets libraries print what
//! they hold: the AWS SDK prints the credentials' access key id, for one. Every log line goes
//! through [`Redacting`], which replaces the values of the secret variables with `***` (as
//! GitHub Actions masks secrets), whatever printed them.

use std::borrow::Cow;
use std::io::Write;
use std::sync::Arc;

/// The variables whose values are secret.
pub const SECRET_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GITHUB_TOKEN",
    "VALKEY_RELEASE_SIGNING_KEY",
];

/// A writer maker for the log: stderr with every secret replaced by `***`.
#[derive(Clone, Default)]
pub struct Redacting {
    secrets: Arc<Vec<String>>,
}

impl Redacting {
    /// The secrets of this process's environment: each variable's value, and for a multi-line
    /// value (an armored key) each of its lines long enough to be key material.
    pub fn from_env() -> Redacting {
        Redacting::new(SECRET_VARS.iter().filter_map(|v| std::env::var(v).ok()))
    }

    /// Redact these values (empty and very short ones are ignored: they would mask ordinary text).
    pub fn new(values: impl IntoIterator<Item = String>) -> Redacting {
        let mut secrets = Vec::new();
        for v in values {
            let v = v.trim();
            if v.len() >= 8 {
                secrets.push(v.to_string());
            }
            if v.contains('\n') {
                secrets.extend(
                    v.lines()
                        .map(str::trim)
                        .filter(|l| l.len() >= 16 && !l.contains(' '))
                        .map(str::to_string),
                );
            }
        }
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redacting {
            secrets: Arc::new(secrets),
        }
    }

    /// `text` with every secret replaced by `***`.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for s in self.secrets.iter() {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), "***"));
            }
        }
        out
    }
}

/// One log write (a whole formatted event) to stderr, redacted.
pub struct RedactingWriter {
    secrets: Redacting,
}

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(self.secrets.redact(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Redacting {
    type Writer = RedactingWriter;
    fn make_writer(&'a self) -> RedactingWriter {
        RedactingWriter { secrets: self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_key_lines_are_masked() {
        let key = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlFgEZ0123456789abcdefABCDEF+/xyz\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----\n";
        let r = Redacting::new(["AKIAEXAMPLE123".to_string(), key.to_string(), "short".to_string()]);
        let line = "Credentials { access_key_id: \"AKIAEXAMPLE123\" } key line lFgEZ0123456789abcdefABCDEF+/xyz short";
        assert_eq!(r.redact(line), "Credentials { access_key_id: \"***\" } key line *** short");
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    }
}
