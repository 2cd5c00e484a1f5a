//! Unit tests of the upload run, on the in-memory store.

use super::run::upload_planned;
use super::*;
use crate::manifest::Manifest;
use crate::progress::Progress;
use crate::store::testmem::MemStore;
use crate::store::StoreUrl;
use std::sync::Arc;

#[test]
fn checksum_hex() {
    let d = <sha2::Sha256 as sha2::Digest>::digest(b"abc");
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(d);
    assert_eq!(crate::store::s3::checksum_to_hex(&b).unwrap(), hex::encode(d));
    assert!(crate::store::s3::checksum_to_hex(&format!("{b}-3")).is_none());
}

fn dist_with_one() -> (tempfile::TempDir, Manifest, Vec<PlannedObject>) {
    let d = tempfile::tempdir().unwrap();
    let data = b"tarball".to_vec();
    let file = "valkey-8.1.1-jammy-x86_64.tar.gz".to_string();
    std::fs::write(d.path().join(&file), &data).unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
    std::fs::write(d.path().join(format!("{file}.sha256")), crate::manifest::checksum_line(&sha, &file)).unwrap();
    let mut m = Manifest::new("8.1.1", 0, Default::default());
    m.upsert(crate::manifest::Artifact {
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
    });
    m.save(d.path()).unwrap();
    let (m, planned) = plan_objects(d.path(), "releases/").unwrap();
    (d, m, planned)
}

#[test]
fn prod_key_written_by_someone_else_meanwhile_is_refused_and_manifest_held_back() {
    let (d, m, planned) = dist_with_one();
    let key = "releases/valkey-8.1.1-jammy-x86_64.tar.gz".to_string();
    let store = Arc::new(MemStore {
        race: vec![key.clone()],
        ..Default::default()
    });
    let opts = UploadOptions::new(Environment::Prod, d.path());
    let loc = StoreUrl::parse("mem://m").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let rep = rt
        .block_on(upload_planned(&opts, &m, planned, store.clone(), &loc, &Progress::plain()))
        .unwrap();
    let row = rep.objects.iter().find(|o| o.key == key).unwrap();
    assert_eq!(row.state, ObjectState::Refused);
    assert_eq!(store.objects.lock().unwrap().get(&key).unwrap(), b"someone else");
    assert!(!store.objects.lock().unwrap().contains_key("releases/valkey-8.1.1.manifest.json"));
    assert_eq!(rep.result().unwrap_err().exit_code(), 4);
}

#[test]
fn failed_object_is_listed_missing_and_exit_3() {
    let (d, m, planned) = dist_with_one();
    let key = "releases/valkey-8.1.1-jammy-x86_64.tar.gz".to_string();
    let store = Arc::new(MemStore {
        fail: vec![key.clone()],
        ..Default::default()
    });
    let opts = UploadOptions::new(Environment::Dev, d.path());
    let loc = StoreUrl::parse("mem://m").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let rep = rt
        .block_on(upload_planned(&opts, &m, planned.clone(), store.clone(), &loc, &Progress::plain()))
        .unwrap();
    assert!(!rep.complete);
    assert!(rep.missing.contains(&key));
    assert!(rep.missing.contains(&"releases/valkey-8.1.1.manifest.json".to_string()));
    let e = rep.result().unwrap_err();
    assert_eq!(e.exit_code(), 3);
    assert!(e.to_string().contains(&key), "{e}");
    // Next run with a healthy store completes; the .sha256 already there is skipped.
    let healthy = Arc::new(MemStore {
        objects: std::sync::Mutex::new(store.objects.lock().unwrap().clone()),
        ..Default::default()
    });
    let rep = rt
        .block_on(upload_planned(&opts, &m, planned, healthy, &loc, &Progress::plain()))
        .unwrap();
    assert!(rep.complete, "{:?}", rep.missing);
    assert_eq!(rep.objects.iter().filter(|o| o.state == ObjectState::Skipped).count(), 1);
}
