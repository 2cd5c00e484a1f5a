//! The release version rule: `^([0-9]+\.[0-9]+\.[0-9]+(-rc[0-9]+)?|unstable)$`, exactly.

use crate::error::{Error, Result};
use std::fmt;

/// A validated release version: `M.m.p`, `M.m.p-rcN`, or `unstable`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(into = "String")]
pub struct Version {
    text: String,
    /// `(major, minor, patch)`; `None` for `unstable`.
    numbers: Option<(u64, u64, u64)>,
    rc: Option<u64>,
}

impl From<Version> for String {
    fn from(v: Version) -> String {
        v.text
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Version::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A decimal number without leading zeros (`08` would name the same release as `8` under
/// another key and concurrency group).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

impl Version {
    /// Parse and validate; the error names the value and the accepted forms (exit 2).
    pub fn parse(s: &str) -> Result<Version> {
        let bad = || {
            Error::input(format!(
                "invalid version {s:?}: expected M.m.p (e.g. 8.1.1), M.m.p-rcN (e.g. 9.1.0-rc2) or 'unstable', numbers without leading zeros"
            ))
        };
        if s == "unstable" {
            return Ok(Version {
                text: s.to_string(),
                numbers: None,
                rc: None,
            });
        }
        let (base, rc) = match s.split_once("-rc") {
            Some((b, n)) => (b, Some(digits(n).ok_or_else(bad)?)),
            None => (s, None),
        };
        let parts: Vec<&str> = base.split('.').collect();
        if parts.len() != 3 {
            return Err(bad());
        }
        let n: Vec<u64> = parts.iter().map(|p| digits(p)).collect::<Option<_>>().ok_or_else(bad)?;
        Ok(Version {
            text: s.to_string(),
            numbers: Some((n[0], n[1], n[2])),
            rc,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn is_unstable(&self) -> bool {
        self.numbers.is_none()
    }
    pub fn is_rc(&self) -> bool {
        self.rc.is_some()
    }
    /// `(major, minor, patch)`, `None` for unstable.
    pub fn numbers(&self) -> Option<(u64, u64, u64)> {
        self.numbers
    }
    pub fn rc(&self) -> Option<u64> {
        self.rc
    }
    /// `"M.m"`, `None` for unstable.
    pub fn major_minor(&self) -> Option<String> {
        self.numbers.map(|(a, b, _)| format!("{a}.{b}"))
    }
    /// True when this version is at least `major.minor` (unstable counts as newest).
    pub fn at_least(&self, major: u64, minor: u64) -> bool {
        match self.numbers {
            None => true,
            Some((a, b, _)) => (a, b) >= (major, minor),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Version {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Version::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn accepts() {
        for v in ["8.1.1", "9.1.0-rc2", "unstable", "10.0.0", "0.0.0-rc0"] {
            assert!(Version::parse(v).is_ok(), "{v}");
        }
    }
    #[test]
    fn refuses() {
        for v in [
            "8.1",
            "v8.1.1",
            "8.1.1-rc",
            "../8.1.1",
            "",
            " ",
            " 8.1.1",
            "8.1.1 ",
            "8.1.1-rc1x",
            "8..1",
            "8.1.1.1",
            "Unstable",
            "8.1.-1",
            "+8.1.1",
            "8.1.1\n",
            "08.01.1",
            "8.01.1",
            "8.1.01",
            "8.1.1-rc01",
        ] {
            let e = Version::parse(v).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{v}");
        }
    }
    #[test]
    fn parts() {
        let v = Version::parse("9.1.0-rc2").unwrap();
        assert_eq!(v.major_minor().as_deref(), Some("9.1"));
        assert!(v.is_rc());
        assert!(v.at_least(8, 1));
        assert!(!Version::parse("8.0.4").unwrap().at_least(8, 1));
    }
}
