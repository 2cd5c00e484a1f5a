//! Parsers for checksum files: GNU `sha256sum` lines, BSD tagged lines, lone digests,
//! valkey-hashes lines. Every error names the file and line number.

use crate::error::{Error, Result};
use crate::fsutil::is_sha256_hex;
use std::path::Path;

/// One expectation read from a checksum file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// File name as written (relative names resolve against the checksum file's directory).
    pub name: String,
    /// Lowercase hex digest.
    pub sha256: String,
    /// 1-based line number.
    pub line: usize,
}

fn bad(path: &Path, line: usize, msg: impl std::fmt::Display) -> Error {
    Error::input(format!("{}:{line}: {msg}", path.display()))
}

/// Undo GNU's escaping of names (lines starting with `\`): `\\` -> `\`, `\n` -> newline, `\r` -> CR.
fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next()? {
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Parse one GNU or BSD line. `Ok(None)`: not recognisable.
fn parse_line(raw: &str) -> std::result::Result<Option<(String, String)>, String> {
    let (escaped, l) = match raw.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    // BSD / tagged: `SHA256 (name) = hex`
    if let Some(rest) = l.strip_prefix("SHA256 (") {
        let Some(close) = rest.rfind(") = ") else {
            return Err("tagged line without \") = \"".to_string());
        };
        let name = &rest[..close];
        let hex = &rest[close + 4..];
        if !is_sha256_hex(hex) {
            return Err(format!("{hex:?} is not a sha256 digest (64 hex digits)"));
        }
        let name = if escaped {
            unescape(name).ok_or("bad escape in file name")?
        } else {
            name.to_string()
        };
        return Ok(Some((name, hex.to_ascii_lowercase())));
    }
    if let Some((alg, _)) = l.split_once(" (") {
        if !alg.is_empty() && alg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && l.contains(") = ") {
            return Err(format!("{alg} digests are not supported (only SHA256)"));
        }
    }
    // GNU: `hex  name` (text) or `hex *name` (binary)
    if l.len() >= 66 && l.is_char_boundary(64) {
        let (hex, rest) = l.split_at(64);
        if is_sha256_hex(hex) {
            let name = rest.strip_prefix("  ").or_else(|| rest.strip_prefix(" *"));
            return match name {
                Some(n) if !n.is_empty() => {
                    let n = if escaped {
                        unescape(n).ok_or("bad escape in file name")?
                    } else {
                        n.to_string()
                    };
                    Ok(Some((n, hex.to_ascii_lowercase())))
                }
                _ => Err("expected two spaces or \" *\" between the digest and the file name".to_string()),
            };
        }
    }
    let first = l.split_whitespace().next().unwrap_or("");
    if first.len() != 64 && first.bytes().all(|b| b.is_ascii_hexdigit()) && first.len() > 8 {
        return Err(format!("digest of {} hex digits; sha256 has 64", first.len()));
    }
    Ok(None)
}

/// Parse a GNU/BSD checksum file's text. Blank lines and `#` comments are skipped.
/// A file holding only a digest (no name) is returned with `lone_target` as the name when given.
pub fn checksum_text(path: &Path, text: &str, lone_target: Option<&str>) -> Result<Vec<Line>> {
    let mut out = Vec::new();
    let mut lines = text.split('\n').collect::<Vec<_>>();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    for (i, raw) in lines.iter().enumerate() {
        let n = i + 1;
        let l = raw.strip_suffix('\r').unwrap_or(raw);
        if l.trim().is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some(t) = lone_target {
            let bare = l.trim();
            if is_sha256_hex(bare) {
                out.push(Line {
                    name: t.to_string(),
                    sha256: bare.to_ascii_lowercase(),
                    line: n,
                });
                continue;
            }
        }
        match parse_line(l) {
            Ok(Some((name, sha256))) => out.push(Line { name, sha256, line: n }),
            Ok(None) => return Err(bad(
                path,
                n,
                "not a checksum line: expected \"<sha256>  <file>\" (sha256sum), \"<sha256> *<file>\" or \"SHA256 (<file>) = <sha256>\"",
            )),
            Err(m) => return Err(bad(path, n, m)),
        }
    }
    if out.is_empty() {
        return Err(Error::input(format!("{}: no checksum lines found", path.display())));
    }
    Ok(out)
}

/// One line of valkey-hashes' README.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashLine {
    pub file: String,
    pub sha256: String,
    pub url: String,
    pub line: usize,
}

/// The all-zero digest of the `unstable` line, which is never checked.
pub const ZERO: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Parse valkey-hashes lines: `hash <file> sha256 <hex> <url>`; `#` comments and blank lines skipped.
pub fn hashes_text(path: &Path, text: &str) -> Result<Vec<HashLine>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() != 5 || f[0] != "hash" {
            return Err(bad(path, n, "expected \"hash <file> sha256 <hex> <url>\""));
        }
        if f[2] != "sha256" {
            return Err(bad(path, n, format!("digest type {:?} is not supported (only sha256)", f[2])));
        }
        if !is_sha256_hex(f[3]) {
            return Err(bad(path, n, format!("{:?} is not a sha256 digest (64 hex digits)", f[3])));
        }
        if f[1].contains('/') || f[1] == ".." || f[1] == "." {
            return Err(bad(path, n, format!("file name {:?} must be a plain name", f[1])));
        }
        out.push(HashLine {
            file: f[1].to_string(),
            sha256: f[3].to_ascii_lowercase(),
            url: f[4].to_string(),
            line: n,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    const H: &str = "9b5838bb79763d74bb4b1b1d3acc38a6211cf346b110cde4d6deef10631550c6";

    #[test]
    fn gnu_bsd_lone() {
        let p = Path::new("x");
        let t = format!("{H}  a.tar.gz\n{H} *b c\r\nSHA256 (d (1)) = {}\n\n", H.to_uppercase());
        let v = checksum_text(p, &t, None).unwrap();
        assert_eq!(v.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["a.tar.gz", "b c", "d (1)"]);
        assert!(v.iter().all(|l| l.sha256 == H));
        assert_eq!(checksum_text(p, &format!("{H}\n"), Some("f")).unwrap()[0].name, "f");
        let e = checksum_text(p, &format!("{H}  ok\n{H} onespace\n"), None).unwrap_err().to_string();
        assert!(e.starts_with("x:2:"), "{e}");
        assert!(checksum_text(p, "MD5 (f) = 0123\n", None).unwrap_err().to_string().contains("MD5"));
        assert!(checksum_text(p, "garbage\n", None).unwrap_err().to_string().starts_with("x:1:"));
        assert_eq!(checksum_text(p, &format!("\\{H}  a\\nb\n"), None).unwrap()[0].name, "a\nb");
    }

    #[test]
    fn hashes() {
        let p = Path::new("README");
        let t = format!("# c\nhash valkey-8.1.1.tar.gz sha256 {H} https://x/8.1.1.tar.gz\nhash valkey-unstable.tar.gz sha256 {ZERO} u\n");
        let v = hashes_text(p, &t).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].line, 2);
        let e = hashes_text(p, "hash a sha1 00 u\n").unwrap_err().to_string();
        assert!(e.starts_with("README:1:"), "{e}");
    }
}
