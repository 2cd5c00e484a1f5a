//! Golden tests of the pure edits on the real files (copied into tests/fixtures/publish):
//! a GA patch release, an rc, a new minor, a new major, a re-tag and a re-run.

mod publish_support;
use publish_support::*;
use std::collections::BTreeMap;
use valkey_release::publish::container::{edit_container, ContainerInput, RepoFile};
use valkey_release::publish::hashes::{edit_hashes, HashesAction};
use valkey_release::publish::website;
use valkey_release::publish::FileChange;
use valkey_release::version::Version;

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn hashes_readme() -> String {
    read(&repo_fixture("valkey-hashes").join("README"))
}

// ---------------------------------------------------------------- hashes

#[test]
fn hashes_ga_patch_appends_exactly_one_line() {
    let old = hashes_readme();
    let e = edit_hashes(&old, &v("9.1.2"), SHA_A, false).unwrap();
    assert_eq!(e.action, HashesAction::Appended);
    let expected =
        format!("{old}hash valkey-9.1.2.tar.gz sha256 {SHA_A} https://github.com/valkey-io/valkey/archive/refs/tags/9.1.2.tar.gz\n");
    assert_eq!(e.text, expected);
    // The existing 8.0.4 duplicate is reported, not crashed on.
    assert!(
        e.warnings.iter().any(|w| w.contains("valkey-8.0.4.tar.gz has 2 lines")),
        "{:?}",
        e.warnings
    );
}

#[test]
fn hashes_rc_is_appended_like_a_release() {
    let old = hashes_readme();
    let e = edit_hashes(&old, &v("9.2.0-rc1"), &SHA_A.to_uppercase(), false).unwrap();
    assert!(e.text.ends_with(&format!(
        "hash valkey-9.2.0-rc1.tar.gz sha256 {SHA_A} https://github.com/valkey-io/valkey/archive/refs/tags/9.2.0-rc1.tar.gz\n"
    )));
    assert_eq!(&e.text[..old.len()], old);
}

#[test]
fn hashes_rerun_is_a_noop() {
    let old = hashes_readme();
    let e = edit_hashes(&old, &v("9.1.1"), SHA_911, false).unwrap();
    assert_eq!(e.action, HashesAction::AlreadyPresent);
    assert_eq!(e.text, old);
    // And after our own append.
    let once = edit_hashes(&old, &v("9.1.2"), SHA_A, false).unwrap().text;
    let twice = edit_hashes(&once, &v("9.1.2"), SHA_A, false).unwrap();
    assert_eq!(twice.action, HashesAction::AlreadyPresent);
    assert_eq!(twice.text, once);
}

#[test]
fn hashes_retag_is_refused_then_replaced_in_place() {
    let old = hashes_readme();
    let err = edit_hashes(&old, &v("9.1.1"), SHA_B, false).unwrap_err();
    assert_eq!(err.exit_code(), 4);
    assert!(err.to_string().contains("--replace"), "{err}");
    let e = edit_hashes(&old, &v("9.1.1"), SHA_B, true).unwrap();
    assert!(matches!(e.action, HashesAction::Replaced { ref old_sha256 } if old_sha256 == SHA_911));
    let (a, b): (Vec<&str>, Vec<&str>) = (old.split('\n').collect(), e.text.split('\n').collect());
    assert_eq!(a.len(), b.len());
    let diffs: Vec<usize> = (0..a.len()).filter(|i| a[*i] != b[*i]).collect();
    assert_eq!(diffs.len(), 1);
    assert_eq!(
        b[diffs[0]],
        format!("hash valkey-9.1.1.tar.gz sha256 {SHA_B} https://github.com/valkey-io/valkey/archive/refs/tags/9.1.1.tar.gz")
    );
}

#[test]
fn hashes_existing_duplicates_and_unstable() {
    let old = hashes_readme();
    // The second 8.0.4 digest is present: a no-op, with the duplicate reported.
    let e = edit_hashes(
        &old,
        &v("8.0.4"),
        "55c12a25f67ef19b615c76b6cb0c92d12753d76eb8d38b31d30e299c3490cdf2",
        false,
    )
    .unwrap();
    assert_eq!(e.action, HashesAction::AlreadyPresent);
    assert_eq!(e.text, old);
    assert_eq!(e.warnings.len(), 1);
    // --replace on it keeps one line for 8.0.4, in place of the first.
    let r = edit_hashes(&old, &v("8.0.4"), SHA_A, true).unwrap();
    assert_eq!(r.text.matches("valkey-8.0.4.tar.gz").count(), 1);
    assert!(r.text.contains(&format!("valkey-8.0.4.tar.gz sha256 {SHA_A}")));
    assert!(r.text.contains("hash valkey-unstable.tar.gz sha256 0000000000000000000000000000000000000000000000000000000000000000 https://github.com/valkey-io/valkey/archive/unstable.tar.gz\n"));
    let u = edit_hashes(&old, &v("unstable"), SHA_A, true).unwrap_err();
    assert_eq!(u.exit_code(), 2);
}

// ---------------------------------------------------------------- container

struct Repo {
    files: BTreeMap<String, RepoFile>,
}

impl Repo {
    fn fixture() -> Repo {
        let files = tree(&repo_fixture("valkey-container"))
            .into_iter()
            .map(|(p, (text, mode))| (p, RepoFile { text, mode }))
            .collect();
        Repo { files }
    }
    fn text(&self, p: &str) -> &str {
        &self.files[p].text
    }
    fn edit(&self, version: &str, sha: &str) -> valkey_release::Result<valkey_release::publish::container::ContainerEdit> {
        let ver = v(version);
        let url = format!("https://github.com/valkey-io/valkey/archive/refs/tags/{version}.tar.gz");
        edit_container(&ContainerInput {
            versions_json: self.text("versions.json"),
            stackbrew: Some(self.text("generate-stackbrew-library.sh")),
            files: &self.files,
            version: &ver,
            url: &url,
            sha256: sha,
            regenerate: false,
            debian_suite: None,
            alpine_version: None,
        })
    }
    fn apply(&mut self, changes: &[FileChange]) {
        for c in changes {
            self.files.insert(
                c.path.clone(),
                RepoFile {
                    text: c.new.clone(),
                    mode: c.mode.clone(),
                },
            );
        }
    }
}

fn change<'a>(changes: &'a [FileChange], p: &str) -> Option<&'a FileChange> {
    changes.iter().find(|c| c.path == p)
}

const OLD_91: &str = "    \"version\": \"9.1.0\",\n    \"url\": \"https://github.com/valkey-io/valkey/archive/refs/tags/9.1.0.tar.gz\",\n    \"sha256\": \"7789fe1df257774457bafb4c1d56c9f7020c3879a7f5b4234af9030b2bd82dfd\",";

#[test]
fn container_ga_patch_updates_the_entry_in_place() {
    let repo = Repo::fixture();
    let e = repo.edit("9.1.1", SHA_911).unwrap();
    let old = repo.text("versions.json");
    let expected = old.replace(
        OLD_91,
        &format!("    \"version\": \"9.1.1\",\n    \"url\": \"https://github.com/valkey-io/valkey/archive/refs/tags/9.1.1.tar.gz\",\n    \"sha256\": \"{SHA_911}\","),
    );
    assert_ne!(expected, old);
    assert_eq!(change(&e.changes, "versions.json").unwrap().new, expected);
    assert!(e.warnings.is_empty(), "{:?}", e.warnings);
    // Existing M.m: aliases untouched.
    assert!(change(&e.changes, "generate-stackbrew-library.sh").is_none());
    // Every Dockerfile under 9.1/ carries the new version, url and digest in every place.
    for d in ["9.1/debian/Dockerfile", "9.1/alpine/Dockerfile"] {
        let c = change(&e.changes, d).unwrap_or_else(|| panic!("{d} not changed"));
        let expected = repo
            .text(d)
            .replace(
                "https://github.com/valkey-io/valkey/archive/refs/tags/9.1.0.tar.gz",
                "https://github.com/valkey-io/valkey/archive/refs/tags/9.1.1.tar.gz",
            )
            .replace("7789fe1df257774457bafb4c1d56c9f7020c3879a7f5b4234af9030b2bd82dfd", SHA_911)
            .replace("9.1.0", "9.1.1");
        assert_eq!(c.new, expected);
        for needle in [
            format!("ENV VALKEY_DOWNLOAD_SHA {SHA_911}"),
            "ADD \"https://github.com/valkey-io/valkey/archive/refs/tags/9.1.1.tar.gz\" /valkey.tar.gz".to_string(),
            "ENV VALKEY_VERSION 9.1.1".to_string(),
            "echo \"Version 9.1.1 is 8.1 or higher - enabling USE_FAST_FLOAT\"".to_string(),
            "\"versionInfo\":\"9.1.1\"".to_string(),
            "pkg:generic/valkey-server@9.1.1?".to_string(),
        ] {
            assert!(c.new.contains(&needle), "{d}: {needle}");
        }
        assert!(!c.new.contains("9.1.0"));
    }
    // Nothing outside 9.1/ and versions.json.
    assert_eq!(e.changes.len(), 3, "{:?}", e.changes.iter().map(|c| &c.path).collect::<Vec<_>>());
}

#[test]
fn container_rerun_changes_nothing() {
    let mut repo = Repo::fixture();
    let e = repo.edit("9.1.1", SHA_911).unwrap();
    repo.apply(&e.changes);
    let again = repo.edit("9.1.1", SHA_911).unwrap();
    assert!(
        again.changes.is_empty(),
        "{:?}",
        again.changes.iter().map(|c| &c.path).collect::<Vec<_>>()
    );
    // New minor too.
    let mut repo = Repo::fixture();
    let e = repo.edit("9.2.0", SHA_A).unwrap();
    repo.apply(&e.changes);
    assert!(repo.edit("9.2.0", SHA_A).unwrap().changes.is_empty());
}

#[test]
fn container_retag_replaces_the_digest() {
    let mut repo = Repo::fixture();
    let e = repo.edit("9.1.1", SHA_911).unwrap();
    repo.apply(&e.changes);
    let r = repo.edit("9.1.1", SHA_B).unwrap();
    let vj = &change(&r.changes, "versions.json").unwrap().new;
    assert!(vj.contains(SHA_B) && !vj.contains(SHA_911));
    assert!(change(&r.changes, "9.1/debian/Dockerfile")
        .unwrap()
        .new
        .contains(&format!("ENV VALKEY_DOWNLOAD_SHA {SHA_B}")));
}

const NEW_ENTRY_TAIL: &str = "  },\n  \"9.2\": {\n    \"version\": \"9.2.0-rc1\",\n    \"url\": \"https://github.com/valkey-io/valkey/archive/refs/tags/9.2.0-rc1.tar.gz\",\n    \"sha256\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\n    \"debian\": {\n      \"version\": \"trixie\"\n    },\n    \"alpine\": {\n      \"version\": \"3.23\"\n    }\n  }\n}\n";

#[test]
fn container_rc_of_a_new_minor_adds_the_entry_and_leaves_aliases() {
    let repo = Repo::fixture();
    let e = repo.edit("9.2.0-rc1", SHA_A).unwrap();
    let old = repo.text("versions.json");
    let expected = format!("{}{NEW_ENTRY_TAIL}", old.strip_suffix("  }\n}\n").unwrap());
    assert_eq!(change(&e.changes, "versions.json").unwrap().new, expected);
    assert!(
        change(&e.changes, "generate-stackbrew-library.sh").is_none(),
        "rc: aliases unchanged"
    );
    // 9.2/ is a copy of 9.1/, substituted.
    let d = change(&e.changes, "9.2/debian/Dockerfile").unwrap();
    assert!(d.old.is_none());
    let expected = repo
        .text("9.1/debian/Dockerfile")
        .replace(
            "https://github.com/valkey-io/valkey/archive/refs/tags/9.1.0.tar.gz",
            "https://github.com/valkey-io/valkey/archive/refs/tags/9.2.0-rc1.tar.gz",
        )
        .replace("7789fe1df257774457bafb4c1d56c9f7020c3879a7f5b4234af9030b2bd82dfd", SHA_A)
        .replace("9.1.0", "9.2.0-rc1");
    assert_eq!(d.new, expected);
    assert!(change(&e.changes, "9.2/alpine/Dockerfile").is_some());
    // An rc older than what the entry holds is refused.
    let err = repo.edit("9.1.0-rc2", SHA_A).unwrap_err();
    assert_eq!(err.exit_code(), 4);
}

fn aliases(text: &str) -> String {
    let start = text.find("declare -A aliases=(").unwrap();
    let end = start + text[start..].find("\n)\n").unwrap() + 3;
    text[start..end].to_string()
}

#[test]
fn container_new_minor_moves_the_aliases() {
    let repo = Repo::fixture();
    let e = repo.edit("9.2.0", SHA_A).unwrap();
    let sb = &change(&e.changes, "generate-stackbrew-library.sh").unwrap().new;
    assert_eq!(
        aliases(sb),
        "declare -A aliases=(\n\t[7.2]='7'\n\t[8.1]='8'\n\t[9.2]='9 latest'\n)\n"
    );
    // Everything else of the script byte-for-byte.
    assert_eq!(
        sb.replace("[9.2]='9 latest'", "[9.1]='9 latest'"),
        repo.text("generate-stackbrew-library.sh")
    );
    // After an rc created the 9.2 entry, the GA still moves the aliases.
    let mut repo = Repo::fixture();
    let rc = repo.edit("9.2.0-rc1", SHA_B).unwrap();
    repo.apply(&rc.changes);
    let ga = repo.edit("9.2.0", SHA_A).unwrap();
    assert_eq!(
        aliases(&change(&ga.changes, "generate-stackbrew-library.sh").unwrap().new),
        aliases(sb)
    );
    assert_eq!(
        change(&ga.changes, "9.2/debian/Dockerfile").unwrap().new,
        change(&e.changes, "9.2/debian/Dockerfile").unwrap().new
    );
}

#[test]
fn container_new_major_takes_latest() {
    let repo = Repo::fixture();
    let e = repo.edit("10.0.0", SHA_A).unwrap();
    let sb = &change(&e.changes, "generate-stackbrew-library.sh").unwrap().new;
    assert_eq!(
        aliases(sb),
        "declare -A aliases=(\n\t[7.2]='7'\n\t[8.1]='8'\n\t[9.1]='9'\n\t[10.0]='10 latest'\n)\n"
    );
    let vj = &change(&e.changes, "versions.json").unwrap().new;
    assert!(vj.ends_with("  \"10.0\": {\n    \"version\": \"10.0.0\",\n    \"url\": \"https://github.com/valkey-io/valkey/archive/refs/tags/10.0.0.tar.gz\",\n    \"sha256\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\n    \"debian\": {\n      \"version\": \"trixie\"\n    },\n    \"alpine\": {\n      \"version\": \"3.23\"\n    }\n  }\n}\n"));
    let d = &change(&e.changes, "10.0/alpine/Dockerfile").unwrap().new;
    assert!(d.contains("ENV VALKEY_VERSION 10.0.0") && !d.contains("9.1.0"));
    // An older line's patch (8.1.10) touches neither aliases nor other M.m.
    let p = repo.edit("8.1.10", SHA_A).unwrap();
    assert!(p.changes.iter().all(|c| c.path == "versions.json" || c.path.starts_with("8.1/")));
}

// ---------------------------------------------------------------- website

fn template() -> String {
    read(&repo_fixture("valkey-io.github.io").join("templates/valkey-website-template.md"))
}

fn pairs(t: &[(&str, &str)]) -> Vec<(String, String)> {
    t.iter().map(|(d, a)| (d.to_string(), a.to_string())).collect()
}

#[test]
fn website_ga_page_equals_the_real_page() {
    let ver = v("9.1.1");
    let tags = website::tags(&ver, "trixie", "3.24").unwrap();
    // Manifest order (sorted by file name) differs from the page's: grouping and sorting fix it.
    let page = website::render_page(&template(), &ver, "2026-07-21", &tags, &pairs(OFFICIAL)).unwrap();
    assert_eq!(page, page_fixture("v9-1-1.md"));
    assert_eq!(website::page_path("9.1.1"), "content/download/releases/v9-1-1.md");
}

fn page_fixture(n: &str) -> String {
    page(n)
}

#[test]
fn website_rc_page_equals_the_real_page() {
    let ver = v("9.1.0-rc2");
    let tags = website::tags(&ver, "trixie", "3.23").unwrap();
    let page = website::render_page(&template(), &ver, "2026-04-28", &tags, &pairs(OFFICIAL)).unwrap();
    assert_eq!(page, page_fixture("v9-1-0-rc2.md"));
    assert_eq!(website::page_path("9.1.0-rc2"), "content/download/releases/v9-1-0-rc2.md");
}

#[test]
fn website_lists_only_what_was_built() {
    let ver = v("9.2.0");
    let tags = website::tags(&ver, "trixie", "3.23").unwrap();
    let page = website::render_page(
        &template(),
        &ver,
        "2026-09-01",
        &tags,
        &pairs(&[("noble", "x86_64"), ("bookworm", "arm64"), ("noble", "arm64")]),
    )
    .unwrap();
    let expected_block = "    artifacts:\n        -   distro: bookworm\n            arch:\n                -   arm64\n        -   distro: noble\n            arch:\n                -   arm64\n                -   x86_64\n---\n";
    assert!(page.contains(expected_block), "{page}");
    assert!(!page.contains("jammy"));
    assert!(page.starts_with("---\ntitle: \"9.2.0\"\ndate: 2026-09-01\n"));
    assert!(website::render_page(&template(), &ver, "2026-09-01", &tags, &[]).is_err());
}
