//! A test-only artifact kind (`test-note`, `*.note.txt`): adding a kind is this file plus one
//! line in [`super::KINDS`]. The test below carries one through every stage that handles
//! artifacts (add to dist, manifest, upload, verify, merge, website list) without any of
//! them naming it.

use super::Kind;

pub struct TestKind;

impl Kind for TestKind {
    fn name(&self) -> &'static str {
        "test-note"
    }
    fn extension(&self) -> &'static str {
        ".note.txt"
    }
    fn content_type(&self) -> &'static str {
        "text/x-test-note"
    }
    fn key_prefix(&self) -> &'static str {
        "notes/"
    }
}

#[cfg(test)]
mod tests {
    use crate::manifest::{Artifact, Manifest};
    use crate::targets::{Matrix, EMBEDDED};
    use std::path::Path;

    fn dist_with_tarball(d: &Path) -> Artifact {
        let data = b"tarball".to_vec();
        let file = "valkey-8.1.1-jammy-x86_64.tar.gz".to_string();
        std::fs::write(d.join(&file), &data).unwrap();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
        std::fs::write(d.join(format!("{file}.sha256")), crate::manifest::checksum_line(&sha, &file)).unwrap();
        let a = Artifact {
            target: "jammy-x86_64".into(),
            kind: "tarball".into(),
            describes: None,
            distro: "jammy".into(),
            arch: "x86_64".into(),
            checksum_file: format!("{file}.sha256"),
            file,
            size: data.len() as u64,
            sha256: sha,
            files: vec![],
            build: None,
        };
        let v = crate::version::Version::parse("8.1.1").unwrap();
        crate::package::add_to_dist(d, &v, 0, &Default::default(), a.clone()).unwrap();
        a
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_test_only_kind_goes_through_every_stage() {
        let m = Matrix::parse(EMBEDDED, Path::new("targets.toml"), None).unwrap();
        let t = m.target("jammy-x86_64").unwrap();
        let dist = tempfile::tempdir().unwrap();
        let tarball = dist_with_tarball(dist.path());
        let note = "valkey-8.1.1-jammy-x86_64.note.txt";
        crate::package::add_artifact(dist.path(), t, "test-note", note, b"hello\n", Some(&tarball.file)).unwrap();

        // Manifest: loads and validates, kind and describes recorded; SHA256SUMS has the line.
        let man = Manifest::load(dist.path()).unwrap();
        let a = man.artifacts.iter().find(|a| a.file == note).unwrap();
        assert_eq!(
            (a.kind.as_str(), a.describes.as_deref()),
            ("test-note", Some(tarball.file.as_str()))
        );
        assert!(std::fs::read_to_string(dist.path().join("SHA256SUMS")).unwrap().contains(note));
        assert!(dist.path().join(format!("{note}.sha256")).is_file());
        // A file name the kind refuses is refused.
        let e = crate::package::add_artifact(dist.path(), t, "test-note", "x.bin", b"", None).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        // Website: tarballs only.
        assert_eq!(super::super::website_artifacts(&man).len(), 1);
        assert_eq!(super::super::content_type_of_key("releases/notes/a.note.txt"), "text/x-test-note");

        // Verify (local): the dist directory checks out, the note included.
        let opts = crate::verify::VerifyOptions {
            paths: vec![dist.path().to_path_buf()],
            hashes: None,
            hashes_dir: None,
            ignore_missing: false,
            progress: false,
        };
        let rep = crate::verify::verify_local(&opts).unwrap();
        assert!(rep.ok && rep.files.iter().any(|f| f.file.ends_with(note)), "{rep:?}");

        // Upload to a directory store: under the kind's key prefix; then verify --remote.
        let bucket = tempfile::tempdir().unwrap();
        let mut uo = crate::upload::UploadOptions::new(crate::store::Environment::Prod, dist.path());
        uo.store = Some(format!("file://{}", bucket.path().display()));
        let up = crate::upload::run_upload(&uo, &crate::progress::Progress::plain()).await.unwrap();
        assert!(up.complete, "{:?}", up.missing);
        assert!(bucket.path().join("releases/notes").join(note).is_file());
        let remote = format!("file://{}/releases/", bucket.path().display());
        let v = crate::version::Version::parse("8.1.1").unwrap();
        crate::verify::remote::verify_remote(&remote, &v, true).await.unwrap();

        // Merge into another dist directory: copied with its .sha256.
        let other = tempfile::tempdir().unwrap();
        let merged = crate::package::merge_dist(dist.path(), other.path()).unwrap();
        assert_eq!(merged.artifacts.len(), 2);
        assert!(other.path().join(note).is_file() && other.path().join(format!("{note}.sha256")).is_file());
    }
}
