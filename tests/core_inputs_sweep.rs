//! The wrong kind of path everywhere (issue 11): every command given a file where it expects a
//! directory, a directory where it expects a file, and garbage bytes where it reads a file. Each
//! must end with exit 2 (unusable input, not 3: nothing outside failed) and a message naming the
//! path, without a panic and without writing anything.
//!
//! `SWEEP` lists every case; `docs/inputs.md` counts them by exit class.

mod packages_support;

/// (armored secret key, armored public key) of a throwaway key: so the commands that need a key
/// get past it to the path under test.
fn test_key() -> (String, String) {
    let k = packages_support::gpg_key("ed25519");
    (k.secret_armored.clone(), k.public_armored.clone())
}
mod core_support;

use core_support::*;
use std::path::Path;

/// What a case gives in place of the expected kind of path.
#[derive(Clone, Copy, Debug)]
enum Bad {
    /// An existing regular file where a directory is expected.
    File,
    /// An existing directory where a file is expected.
    Dir,
    /// A file of garbage bytes where a text file is read.
    Garbage,
}

/// (command line with `{}` for the bad path, what is given, words the message must hold besides the path).
const SWEEP: &[(&str, Bad, &[&str])] = &[
    // a file where a directory is expected
    (
        "package --version 8.1.1 --target jammy-x86_64 --from TREE --out {}",
        Bad::File,
        &["--out", "expected a directory"],
    ),
    (
        "package --version 8.1.1 --target jammy-x86_64 --from {} --out OUT",
        Bad::File,
        &["directory"],
    ),
    (
        "release --version 8.1.1 --dry-run --dist OUT --merge {}",
        Bad::File,
        &["--merge", "expected a directory"],
    ),
    (
        "release --version 8.1.1 --dry-run --merge PART --dist {}",
        Bad::File,
        &["--dist", "expected a directory"],
    ),
    (
        "build --version 8.1.1 --target jammy-x86_64 --source TREE --out {}",
        Bad::File,
        &["--out", "expected a directory"],
    ),
    ("upload --store file://OUT/bucket --dist {}", Bad::File, &["directory"]),
    ("verify --remote file://{} --version 8.1.1", Bad::File, &["directory"]),
    ("verify --hashes HASHES --dir {}", Bad::File, &["directory"]),
    ("publish hashes --version 8.1.1 --dist {} --handoff OUT", Bad::File, &["directory"]),
    ("publish hashes --version 8.1.1 --dist PART --handoff {}", Bad::File, &["directory"]),
    ("sbom --dist {}", Bad::File, &["directory"]),
    ("provenance --dist {}", Bad::File, &["directory"]),
    ("rebuild --from {} --out OUT/rebuild", Bad::File, &["directory"]),
    ("repo --dist {} --root OUT/repo", Bad::File, &["directory"]),
    ("repo --dist PART --root {}", Bad::File, &["directory"]),
    ("images --target bookworm-x86_64 --log-dir {}", Bad::File, &["directory"]),
    // a directory where a file is expected
    ("--targets {} targets", Bad::Dir, &["a directory"]),
    ("release --dry-run --payload {}", Bad::Dir, &["a directory"]),
    ("verify {}", Bad::Dir, &["nothing to verify"]),
    ("verify --hashes {} --dir OUT", Bad::Dir, &["not a regular file"]),
    ("sign {}", Bad::Dir, &["directory"]),
    ("sign --signing-key {} SUMS", Bad::Dir, &["directory"]),
    ("provenance --dist PART --signing-key {}", Bad::Dir, &["directory"]),
    ("verify-signature --public-key {} SUMS", Bad::Dir, &["directory"]),
    ("verify-signature --public-key KEY --signature {} SUMS", Bad::Dir, &["directory"]),
    // garbage bytes where a file is read
    ("--targets {} targets", Bad::Garbage, &["targets"]),
    ("release --dry-run --payload {}", Bad::Garbage, &["payload"]),
    ("verify {}", Bad::Garbage, &[]),
    ("verify --hashes {} --dir OUT", Bad::Garbage, &[]),
    ("sign --signing-key {} SUMS", Bad::Garbage, &["key"]),
    ("provenance --dist PART --signing-key {}", Bad::Garbage, &["key"]),
    ("verify-signature --public-key {} SUMS", Bad::Garbage, &["key"]),
    (
        "verify-signature --public-key KEY --signature {} SUMS",
        Bad::Garbage,
        &["signature"],
    ),
];

/// The number of bad inputs this file tries (docs/inputs.md counts it).
pub const SWEEP_CASES: usize = 33;

fn words(line: &str, bad: &Path, d: &Path) -> Vec<String> {
    line.split(' ')
        .map(|w| {
            w.replace("{}", &bad.display().to_string())
                .replace("TREE", &fixture_tree().display().to_string())
                .replace("OUT", &d.join("out").display().to_string())
                .replace("PART", &d.join("part").display().to_string())
                .replace("HASHES", &d.join("hashes").display().to_string())
                .replace("SUMS", &d.join("SHA256SUMS").display().to_string())
                .replace("KEY", &d.join("key.asc").display().to_string())
        })
        .collect()
}

#[test]
fn the_wrong_kind_of_path_is_exit_2_naming_it_for_every_command() {
    assert_eq!(SWEEP.len(), SWEEP_CASES);
    let (secret, public) = test_key();
    let mut wrong = Vec::new();
    for (i, (line, bad, want)) in SWEEP.iter().enumerate() {
        let d = tempfile::tempdir().unwrap();
        // Good inputs for the other arguments: a partial dist, a checksum file, a key file name.
        std::fs::create_dir_all(d.path().join("part")).unwrap();
        std::fs::write(d.path().join("SHA256SUMS"), "x\n").unwrap();
        std::fs::write(d.path().join("hashes"), "# none\n").unwrap();
        std::fs::write(d.path().join("key.asc"), &public).unwrap();
        let p = d.path().join(format!("bad{i}"));
        match bad {
            Bad::File => std::fs::write(&p, b"a regular file\n").unwrap(),
            Bad::Dir => std::fs::create_dir_all(p.join("inside")).unwrap(),
            Bad::Garbage => std::fs::write(&p, [0xffu8, 0xfe, 0x00, 0x9c, 0x42, b'\n', 0x80]).unwrap(),
        }
        let before = listing(d.path());
        let o = run(cmd()
            .current_dir(d.path())
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env("VALKEY_RELEASE_SIGNING_KEY", &secret)
            .env("GITHUB_API_URL", "http://127.0.0.1:9")
            .args(words(line, &p, d.path())));
        let err = stderr(&o);
        let named = err.contains(&p.display().to_string());
        let says = want.iter().all(|w| err.contains(w));
        if o.status.code() != Some(2) || !named || !says || err.contains("panicked") {
            wrong.push(format!("{line} [{bad:?}]: exit {:?}, stderr: {}", o.status.code(), err.trim()));
        }
        // Nothing written beside the inputs (a refused run leaves no out/ behind).
        let after = listing(d.path());
        if after != before {
            wrong.push(format!("{line} [{bad:?}]: wrote {after:?} (before {before:?})"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        SWEEP.len(),
        wrong.join("\n")
    );
}
