//! Property tests (issue 11) for every parser of outside input: release versions, checksum lines
//! in every format, valkey-hashes lines, targets.toml, manifest.json, the release payload, store
//! URLs and the object keys made from them. For each: arbitrary input never panics (an `Err` is
//! fine), and every accepted value round-trips: parse(render(x)) == x.

use proptest::prelude::*;
use std::path::Path;
use valkey_release::manifest::{Artifact, Manifest, SourceInfo};
use valkey_release::release::payload;
use valkey_release::store::{self, StoreUrl};
use valkey_release::targets::Matrix;
use valkey_release::verify::{escape_name, parse};
use valkey_release::version::Version;

fn config() -> ProptestConfig {
    // Enough cases to find edge cases, few enough for a 2-core machine; PROPTEST_CASES raises it.
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text close to the real thing: ASCII with the characters parsers split on, plus any char.
fn texty() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        "[0-9a-fA-F .*()=\\\\#\\-rcunstable\n\r\t/]{0,120}",
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn hex64() -> impl Strategy<Value = String> {
    "[0-9a-f]{64}"
}

/// A release version as text: M.m.p, M.m.p-rcN, unstable.
fn version_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("unstable".to_string()),
        (0u64..1000, 0u64..1000, 0u64..1000).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
        (0u64..1000, 0u64..1000, 0u64..1000, 0u64..100).prop_map(|(a, b, c, r)| format!("{a}.{b}.{c}-rc{r}")),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
    ]
}

/// A file name as sha256sum may print it: any characters but NUL, not empty.
fn file_name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9._+-]{1,40}", "[a-z (){}*=\\\\\n\r#\t]{1,30}", "[^\u{0}]{1,30}",]
}

/// A plain name as the manifest accepts it.
fn plain() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._+-]{0,20}".prop_filter("plain", |s| valkey_release::fsutil::is_plain_name(s))
}

#[derive(Debug, Clone, Copy)]
enum Format {
    Text,
    Binary,
    Bsd,
}

/// The line `sha256sum` (text or binary mode) or `sha256sum --tag` writes for `name`.
fn render_line(f: Format, hex: &str, name: &str) -> String {
    let (esc, n) = escape_name(name);
    match f {
        Format::Text => format!("{esc}{hex}  {n}"),
        Format::Binary => format!("{esc}{hex} *{n}"),
        Format::Bsd => format!("{esc}SHA256 ({n}) = {hex}"),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn version_never_panics(s in texty()) {
        let _ = Version::parse(&s);
    }

    #[test]
    fn version_round_trips(s in version_text()) {
        match Version::parse(&s) {
            Ok(v) => {
                prop_assert_eq!(v.as_str(), s.as_str());
                prop_assert_eq!(Version::parse(&v.to_string()).unwrap(), v.clone());
                // The numbers it holds render to the same text.
                if let Some((a, b, c)) = v.numbers() {
                    let rc = v.rc().map(|r| format!("-rc{r}")).unwrap_or_default();
                    prop_assert_eq!(format!("{a}.{b}.{c}{rc}"), s);
                }
            }
            // Only numbers past u64 are refused among these.
            Err(e) => prop_assert!(s.split(['.', '-']).any(|p| p.trim_start_matches("rc").parse::<u64>().is_err()), "{e}"),
        }
    }

    #[test]
    fn versions_with_leading_zeros_are_refused(a in 0u64..100, b in 0u64..100, c in 0u64..100, which in 0usize..3) {
        let mut parts = [a.to_string(), b.to_string(), c.to_string()];
        parts[which] = format!("0{}", parts[which]);
        let e = Version::parse(&parts.join(".")).unwrap_err();
        prop_assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn checksum_text_never_panics(s in texty(), lone in proptest::option::of("[a-z.]{1,10}")) {
        let _ = parse::checksum_text(Path::new("x.sha256"), &s, lone.as_deref());
        let _ = parse::hashes_text(Path::new("README"), &s);
    }

    #[test]
    fn checksum_lines_round_trip_in_every_format(
        entries in proptest::collection::vec((hex64(), file_name(), 0usize..3), 1..6),
        crlf in any::<bool>(),
        upper in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = String::new();
        for (hex, name, f) in &entries {
            let f = [Format::Text, Format::Binary, Format::Bsd][*f];
            let hex = if upper { hex.to_uppercase() } else { hex.clone() };
            text.push_str(&render_line(f, &hex, name));
            text.push_str(eol);
        }
        let lines = parse::checksum_text(Path::new("SUMS"), &text, None)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text:?}")))?;
        let got: Vec<(String, String)> = lines.into_iter().map(|l| (l.sha256, l.name)).collect();
        let want: Vec<(String, String)> = entries.into_iter().map(|(h, n, _)| (h, n)).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn lone_digest_files_round_trip(hex in hex64(), target in plain()) {
        let lines = parse::checksum_text(Path::new("f.sha256"), &format!("{hex}\n"), Some(&target)).unwrap();
        prop_assert_eq!(lines.len(), 1);
        prop_assert_eq!(&lines[0].name, &target);
        prop_assert_eq!(&lines[0].sha256, &hex);
    }

    #[test]
    fn hashes_lines_round_trip(entries in proptest::collection::vec((plain(), hex64(), "https://[a-z.]{1,20}/[a-zA-Z0-9._/-]{0,30}"), 1..5)) {
        let text: String = entries.iter().map(|(f, h, u)| format!("hash {f} sha256 {h} {u}\n")).collect();
        let lines = parse::hashes_text(Path::new("README"), &text).unwrap();
        let got: Vec<(String, String, String)> = lines.into_iter().map(|l| (l.file, l.sha256, l.url)).collect();
        prop_assert_eq!(got, entries);
    }

    #[test]
    fn manifest_never_panics(s in texty()) {
        let _ = Manifest::parse(&s, "manifest.json");
    }

    #[test]
    fn manifest_round_trips(m in manifest()) {
        let text = serde_json::to_string_pretty(&m).unwrap();
        let back = Manifest::parse(&text, "manifest.json").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back, m);
    }

    #[test]
    fn manifest_with_a_name_reaching_outside_is_refused(m in manifest(), bad in prop_oneof![
        Just("../x".to_string()), Just("/etc/passwd".to_string()), Just("a/b".to_string()), Just("..".to_string()),
        Just("a\\b".to_string()), Just("a\nb".to_string()), Just(String::new()),
    ], field in 0usize..4) {
        let key = ["target", "distro", "file", "checksum_file"][field];
        // An empty checksum_file means file + ".sha256" (older manifests).
        prop_assume!(!(key == "checksum_file" && bad.is_empty()));
        let mut v = serde_json::to_value(&m).unwrap();
        v["artifacts"][0][key] = bad.clone().into();
        let e = Manifest::parse(&v.to_string(), "manifest.json").unwrap_err();
        prop_assert_eq!(e.exit_code(), 2);
        prop_assert!(e.to_string().contains(key), "{}", e);
    }

    #[test]
    fn payload_never_panics(s in texty()) {
        let _ = payload::parse(&s, "event.json");
    }

    #[test]
    fn payload_round_trips(
        version in version_text(),
        env in prop_oneof![Just("dev"), Just("prod"), Just("")],
        sha in proptest::option::of("[0-9a-fA-F]{40}"),
        shape in 0usize..3,
    ) {
        let Ok(v) = Version::parse(&version) else { return Ok(()) };
        let mut body = serde_json::json!({"version": version, "environment": env});
        if let Some(s) = &sha {
            body["source_sha"] = s.clone().into();
        }
        let event = match shape {
            0 => serde_json::json!({"action": "build-release", "client_payload": body}),
            1 => serde_json::json!({"inputs": body}),
            _ => body,
        };
        let r = payload::parse(&event.to_string(), "event.json").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(r.version, v);
        prop_assert_eq!(r.environment.as_str(), if env.is_empty() { "dev" } else { env });
        prop_assert_eq!(r.source_sha, sha.map(|s| s.to_lowercase()));
    }

    #[test]
    fn targets_toml_never_panics(s in texty()) {
        let _ = Matrix::parse(&s, Path::new("targets.toml"), None);
    }

    #[test]
    fn targets_toml_with_bytes_changed_never_panics(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<char>()), 1..4)) {
        let mut chars: Vec<char> = embedded().chars().collect();
        for (i, c) in edits {
            let at = i.index(chars.len());
            chars[at] = c;
        }
        let text: String = chars.into_iter().collect();
        let _ = Matrix::parse(&text, Path::new("targets.toml"), None);
    }

    #[test]
    fn targets_toml_round_trips(spec in matrix_spec()) {
        let text = render_targets(&spec);
        let m = Matrix::parse(&text, Path::new("targets.toml"), None).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&m.artifact.binaries, &spec.binaries);
        prop_assert_eq!(&m.artifact.s3_prefix, &spec.prefix);
        let got: Vec<(String, String, bool)> = m.targets.iter().map(|t| (t.distro.clone(), t.arch.to_string(), t.official)).collect();
        prop_assert_eq!(got, spec.targets.clone());
        // Rendering what was read gives the same matrix again.
        let again = render_targets(&MatrixSpec {
            binaries: m.artifact.binaries.clone(),
            prefix: m.artifact.s3_prefix.clone(),
            targets: m.targets.iter().map(|t| (t.distro.clone(), t.arch.to_string(), t.official)).collect(),
        });
        prop_assert_eq!(again, text);
    }

    #[test]
    fn targets_toml_with_a_name_reaching_outside_is_refused(spec in matrix_spec(), bad in prop_oneof![
        Just("../x"), Just("a/b"), Just(".."), Just("a\\\\b"),
    ], field in 0usize..2) {
        let mut spec = spec;
        match field {
            0 => spec.binaries[0] = bad.replace("\\\\", "\\"),
            _ => spec.targets[0].0 = bad.replace("\\\\", "\\"),
        }
        let text = render_targets(&spec);
        let e = Matrix::parse(&text, Path::new("targets.toml"), None).unwrap_err();
        prop_assert_eq!(e.exit_code(), 2);
        prop_assert!(e.to_string().starts_with("targets.toml"), "{}", e);
    }

    #[test]
    fn store_urls_never_panic(s in texty()) {
        let _ = StoreUrl::parse(&s);
        let _ = StoreUrl::parse(&format!("s3://{s}"));
        let _ = StoreUrl::parse(&format!("file://{s}"));
        let _ = store::is_plain_key(&s);
    }

    #[test]
    fn store_urls_round_trip(
        bucket in "[a-z0-9][a-z0-9.-]{2,30}",
        prefix in proptest::option::of("[a-zA-Z0-9_-]{1,10}(/[a-zA-Z0-9_.-]{1,10}){0,3}/?"),
        dir in "/?[a-zA-Z0-9_ .:-]{1,20}(/[a-zA-Z0-9_.-]{1,10}){0,3}",
    ) {
        let s3 = match &prefix {
            Some(p) => format!("s3://{bucket}/{p}"),
            None => format!("s3://{bucket}"),
        };
        if let Ok(u) = StoreUrl::parse(&s3) {
            prop_assert_eq!(StoreUrl::parse(&u.url()).unwrap(), u.clone());
            prop_assert_eq!(u.bucket(), Some(bucket.as_str()));
            prop_assert!(u.prefix.is_empty() || (u.prefix.ends_with('/') && store::is_plain_key(u.prefix.trim_end_matches('/'))));
        } else {
            // Only a prefix with a `.`/`..` component is refused among these.
            let p = prefix.unwrap_or_default();
            prop_assert!(p.split('/').any(|c| c == "." || c == ".."), "{} refused", s3);
        }
        let f = StoreUrl::parse(&format!("file://{dir}")).unwrap();
        prop_assert_eq!(StoreUrl::parse(&f.url()).unwrap(), f.clone());
        prop_assert_eq!(f.location, dir);
    }

    #[test]
    fn object_keys_stay_under_the_prefix(m in manifest(), prefix in proptest::option::of("[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}")) {
        let u = StoreUrl::parse(&format!("s3://bucket/{}", prefix.unwrap_or_default())).unwrap();
        for a in &m.artifacts {
            for name in [&a.file, &a.checksum_file] {
                let key = valkey_release::upload::plan::artifact_key(&u.prefix, a, name);
                prop_assert!(key.starts_with(&u.prefix) && key.ends_with(name.as_str()), "{}", key);
                prop_assert!(store::is_plain_key(&key), "{} is not a plain key", key);
                // As a path below a root it stays below it.
                let p = Path::new("/root").join(&key);
                prop_assert!(p.starts_with("/root") && !p.components().any(|c| c == std::path::Component::ParentDir));
            }
        }
    }

    #[test]
    fn plain_keys_never_leave_their_root(s in texty()) {
        if store::is_plain_key(&s) {
            let p = Path::new("/root").join(&s);
            prop_assert!(p.starts_with("/root/") || p == Path::new("/root"));
            prop_assert!(!p.components().any(|c| matches!(c, std::path::Component::ParentDir | std::path::Component::CurDir)));
        }
    }
}

fn embedded() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("targets.toml")).unwrap())
}

fn artifact() -> impl Strategy<Value = Artifact> {
    (plain(), prop_oneof![Just("x86_64"), Just("arm64")], plain(), hex64(), any::<u64>())
        .prop_map(|(distro, arch, stem, sha256, size)| {
            let file = format!("{stem}.tar.gz");
            Artifact {
                target: format!("{distro}-{arch}"),
                kind: "tarball".into(),
                describes: None,
                distro,
                arch: arch.into(),
                checksum_file: format!("{file}.sha256"),
                file,
                size,
                sha256,
                files: vec![],
                build: None,
            }
        })
        .prop_filter("plain file names", |a| valkey_release::fsutil::is_plain_name(&a.file))
}

fn manifest() -> impl Strategy<Value = Manifest> {
    (
        version_text(),
        0i64..4_000_000_000,
        proptest::collection::vec(artifact(), 1..4),
        proptest::option::of(hex64()),
        proptest::option::of("[0-9a-f]{40}"),
    )
        .prop_filter_map("a valid version and distinct files", |(v, sde, arts, sha, commit)| {
            Version::parse(&v).ok()?;
            let mut m = Manifest::new(
                &v,
                sde,
                SourceInfo {
                    name: format!("valkey-{v}.tar.gz"),
                    kind: "archive".into(),
                    url: None,
                    sha256: sha,
                    git_commit: commit,
                    source_sha: None,
                },
            );
            let mut seen = std::collections::BTreeSet::new();
            for a in arts {
                if !seen.insert(a.file.clone()) {
                    return None;
                }
                m.artifacts.push(a);
            }
            Some(m)
        })
}

#[derive(Debug, Clone)]
struct MatrixSpec {
    binaries: Vec<String>,
    prefix: String,
    /// (distro, arch, official)
    targets: Vec<(String, String, bool)>,
}

fn matrix_spec() -> impl Strategy<Value = MatrixSpec> {
    (
        proptest::collection::vec("[a-z][a-z0-9_-]{0,15}", 1..5),
        prop_oneof![Just(String::new()), "[a-z]{1,8}(/[a-z0-9]{1,8}){0,2}/"],
        proptest::collection::btree_map(
            (
                "[a-z][a-z0-9._]{0,10}".prop_filter("no ..", |d| !d.contains("..")),
                prop_oneof![Just("x86_64"), Just("arm64")],
            ),
            any::<bool>(),
            1..5,
        ),
    )
        .prop_map(|(binaries, prefix, targets)| MatrixSpec {
            binaries,
            prefix,
            targets: targets.into_iter().map(|((d, a), o)| (d, a.to_string(), o)).collect(),
        })
}

/// A targets.toml holding `spec`: a native builder per architecture.
fn render_targets(spec: &MatrixSpec) -> String {
    let list = |v: &[String]| v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
    let mut t = format!(
        "[artifact]\nname = \"valkey-{{version}}-{{distro}}-{{arch}}\"\nbinaries = [{}]\nlicense = \"COPYING\"\ns3_prefix = {:?}\n\n\
         [source]\ntag_url = \"https://example.invalid/{{version}}.tar.gz\"\nunstable_url = \"https://example.invalid/u.tar.gz\"\n\n\
         [make]\nargs = [\"-C\", \"src\", \"all\"]\nflags = []\n\n\
         [builders.b64]\nmethod = \"mmdebstrap\"\nsuite = \"bookworm\"\nglibc = \"2.36\"\narchitectures = [\"amd64\"]\n\n\
         [builders.barm]\nmethod = \"mmdebstrap\"\nsuite = \"bookworm\"\nglibc = \"2.36\"\narchitectures = [\"arm64\"]\n",
        list(&spec.binaries),
        spec.prefix
    );
    for (distro, arch, official) in &spec.targets {
        let b = if arch == "x86_64" { "b64" } else { "barm" };
        t.push_str(&format!(
            "\n[[target]]\ndistro = {distro:?}\narch = {arch:?}\nbuilder = \"{b}\"\nofficial = {official}\n"
        ));
    }
    t
}
