//! A prod release re-run into a fresh dist (a CI job re-run on a new runner after its upload
//! finished), through the binary, with the real farm (fixture source, bookworm-x86_64, .debs and
//! .rpms, so both the apt and the yum repository are published create-only),
//! a real S3 server (moto, create-only writes) and a throwaway signing key. The re-run makes the
//! same artifacts but a new manifest.json (build seconds) and provenance (start/finish times):
//! it adopts the published ones (its dist then holds the store's bytes), writes nothing to the
//! store and exits 0. Published records that do not describe its files are not adopted (exit 4). A re-run whose artifact differs (one byte more in the source) is refused
//! (exit 4, naming the object) and changes nothing.

mod packages_support;
mod release_support;

use packages_support::engine::{ensure_builder, fixture, rpm_targets_toml};
use release_support::{cmd, copy_tree, publish_repos, run, Moto};
use std::path::Path;

const BUCKET: &str = "relrerun-test";
const TARGET: &str = "bookworm-x86_64";
const V: &str = "9.1.2"; // not yet in the fixture copy of valkey-hashes

fn release(work: &Path, moto: &Moto, src: &Path, dist: &str) -> (i32, serde_json::Value, String) {
    let mut c = cmd(work);
    moto.env(&mut c);
    c.arg("--targets").arg(work.join("targets.toml"));
    c.args(["--json", "release", "--version", V, "--environment", "prod", "--target", TARGET])
        .args(["--bucket", BUCKET, "--date", "2026-12-07", "--dist", dist])
        .arg("--repos")
        .arg(work.join("repos"))
        .arg("--source")
        .arg(src);
    let (code, out, err) = run(&mut c);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("report: {e}\n{out}\n{err}"));
    (code, v, format!("{out}\n{err}"))
}

/// The fixture as Valkey's tag archive (`valkey-V.tar.gz`, top `valkey-V/`), reproducibly:
/// the hashes hand-off takes the archive's sha256 from manifest.json (no network here).
fn archive(src: &Path, out: &Path) {
    let tar = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -C \"$1\" --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner \
             --transform 's,^fakevalkey,valkey-{V},' -cf - fakevalkey | gzip -n > \"$2\""
        ))
        .arg("sh")
        .arg(src.parent().unwrap())
        .arg(out)
        .status()
        .unwrap();
    assert!(tar.success(), "tar of the fixture");
}

fn step<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["steps"].as_array().unwrap().iter().find(|s| s["step"] == name).unwrap()
}

/// Every key of the bucket with its ETag (a write changes the listing or an ETag).
fn listing(moto: &Moto) -> Vec<(String, String)> {
    let (st, body) = moto.http("GET", &format!("/{BUCKET}?list-type=2&max-keys=1000"));
    assert_eq!(st, 200, "{body}");
    assert!(!body.contains("<IsTruncated>true"), "{body}");
    body.split("<Contents>")
        .skip(1)
        .map(|c| {
            let f = |t: &str| {
                c.split(&format!("<{t}>"))
                    .nth(1)
                    .and_then(|s| s.split(&format!("</{t}>")).next())
                    .unwrap()
                    .to_string()
            };
            (f("Key"), f("ETag"))
        })
        .collect()
}

/// A stored object's bytes (with the AWS CLI: moto refuses unsigned reads).
fn object(moto: &Moto, key: &str) -> Vec<u8> {
    let mut c = std::process::Command::new("aws");
    moto.env(&mut c);
    let o = c
        .args(["s3", "cp", &format!("s3://{BUCKET}/{key}"), "-", "--endpoint-url", &moto.endpoint()])
        .output()
        .expect("the AWS CLI (.ci/setup installs it)");
    assert!(o.status.success(), "aws s3 cp {key}: {}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

#[test]
fn a_prod_rerun_into_a_fresh_dist_adopts_the_published_run_records_and_writes_nothing() {
    ensure_builder(TARGET);
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    copy_tree(&publish_repos(), &w.join("repos"));
    rpm_targets_toml(w);
    let (_f, tree) = fixture(V);
    let src = w.join(format!("valkey-{V}.tar.gz"));
    archive(&tree, &src);

    // Run 1 publishes.
    let (code, _, out) = release(w, &moto, &src, "dist-1");
    assert_eq!(code, 0, "{out}");
    let before = listing(&moto);
    let records = [
        format!("releases/valkey-{V}.manifest.json"),
        format!("releases/valkey-{V}.intoto.jsonl"),
    ];
    for r in &records {
        assert!(before.iter().any(|(k, _)| k == r), "{r} not published: {before:?}");
    }
    // Both package repositories, signed, with the packages they list.
    for k in [
        "packaging/valkey-9.1/deb/debian12/amd64/InRelease",
        "packaging/valkey-9.1/rpm/debian12/x86_64/repodata/repomd.xml.asc",
        &format!("packaging/valkey-9.1/rpm/debian12/x86_64/valkey-{V}-1.1.debian12.x86_64.rpm"),
        &format!("releases/rpm/valkey-{V}-1.1.debian12.x86_64.rpm"),
    ] {
        assert!(before.iter().any(|(key, _)| key == k), "{k} not published: {before:?}");
    }

    // Run 2: a fresh dist, the same source: same artifacts, new run records. Adopted.
    std::thread::sleep(std::time::Duration::from_millis(1100)); // another second: other startedOn
    let (code, v, out) = release(w, &moto, &src, "dist-2");
    assert_eq!(code, 0, "{out}");
    let up = step(&v, "upload");
    assert_eq!(up["state"], "done", "{out}");
    let adopted: Vec<&str> = up["data"]["adopted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(adopted, records.iter().map(String::as_str).collect::<Vec<_>>(), "{out}");
    assert!(up["summary"].as_str().unwrap().contains("adopted the published"), "{up}");
    assert_eq!(up["data"]["bytes_uploaded"], 0, "{up}");
    assert_eq!(step(&v, "verify")["state"], "done", "{out}");
    let dist = w.join("dist-2");
    assert_eq!(std::fs::read(dist.join("manifest.json")).unwrap(), object(&moto, &records[0]));
    assert_eq!(
        std::fs::read(dist.join(format!("valkey-{V}.intoto.jsonl"))).unwrap(),
        object(&moto, &records[1])
    );
    assert_eq!(listing(&moto), before, "run 2 wrote to the store");

    // Run 2b: the same source again, but the published manifest.json no longer describes the
    // release's files (a tarball's size altered in the store, outside the tool). SHA256SUMS still
    // matches, yet the records are not adopted: the upload refuses (exit 4), naming the object,
    // and writes nothing.
    let mut m: serde_json::Value = serde_json::from_slice(&object(&moto, &records[0])).unwrap();
    let size = m["artifacts"][0]["size"].as_u64().unwrap();
    m["artifacts"][0]["size"] = (size + 1).into();
    let altered = w.join("altered-manifest.json");
    std::fs::write(&altered, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let mut c = std::process::Command::new("aws");
    moto.env(&mut c);
    let o = c
        .args(["s3", "cp"])
        .arg(&altered)
        .args([&format!("s3://{BUCKET}/{}", records[0]), "--endpoint-url", &moto.endpoint()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = listing(&moto);
    let (code, v, out) = release(w, &moto, &src, "dist-2b");
    assert_eq!(code, 4, "{out}");
    let up = step(&v, "upload");
    assert_eq!(up["state"], "failed", "{out}");
    assert!(out.contains("not adopting the published run records"), "{out}");
    assert!(out.contains(&format!("releases/valkey-{V}.manifest.json (stored:")), "{out}");
    assert_eq!(listing(&moto), before, "run 2b wrote to the store");

    // Run 3: one more byte in the source: other artifacts. Refused, nothing written.
    std::fs::write(tree.join("src/version.h"), format!("#define VALKEY_VERSION \"{V}\"\n\n")).unwrap();
    let src = w.join("other").join(format!("valkey-{V}.tar.gz"));
    std::fs::create_dir_all(src.parent().unwrap()).unwrap();
    archive(&tree, &src);
    let (code, v, out) = release(w, &moto, &src, "dist-3");
    assert_eq!(code, 4, "{out}");
    let up = step(&v, "upload");
    assert_eq!(up["state"], "failed", "{out}");
    assert!(out.contains(&format!("releases/valkey-{V}.SHA256SUMS (stored:")), "{out}");
    assert!(out.contains("never overwritten"), "{out}");
    assert_eq!(listing(&moto), before, "run 3 wrote to the store");
}
