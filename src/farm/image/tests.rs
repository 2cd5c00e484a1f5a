use super::command::cannot_run_here;
use super::engine::split_image_ref;
use super::*;
use crate::progress::Progress;
use crate::targets::Matrix;
use std::path::Path;

fn matrix() -> Matrix {
    Matrix::parse(crate::targets::EMBEDDED, Path::new("<embedded>"), None).unwrap()
}

#[test]
fn tag_is_stable_and_depends_on_definition() {
    let m = matrix();
    let a = Definition::load(&m, "bookworm").unwrap();
    let b = Definition::load(&m, "bookworm").unwrap();
    assert_eq!(a.tag(), b.tag());
    assert!(a.tag().starts_with("valkey-release-builder/bookworm:"));
    assert_eq!(a.tag_suffix().len(), 16);
    let mut m2 = m.clone();
    m2.builders.get_mut("bookworm").unwrap().packages.push("vim".into());
    assert_ne!(Definition::load(&m2, "bookworm").unwrap().tag(), a.tag());
    let mut m3 = m.clone();
    m3.builders.get_mut("bookworm").unwrap().snapshot = Some("20250520T000000Z".into());
    let d3 = Definition::load(&m3, "bookworm").unwrap();
    assert_ne!(d3.tag(), a.tag());
    assert_eq!(
        d3.mirror,
        Some(MirrorChoice::Snapshot(
            "http://snapshot.debian.org/archive/debian/20250520T000000Z".into()
        ))
    );
}

#[test]
fn embedded_dockerfiles_are_found() {
    let m = matrix();
    let d = Definition::load(&m, "jammy").unwrap();
    assert_eq!(d.base_images(), vec!["ubuntu:jammy".to_string()]);
    assert_eq!(
        Definition::load(&m, "noble").unwrap().base_images(),
        vec!["ubuntu:noble".to_string()]
    );
}

#[test]
fn unknown_builder_is_input_error() {
    let e = Definition::load(&matrix(), "nope").unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("bookworm"));
}

#[test]
fn from_lines() {
    let df = "# x\nFROM --platform=linux/amd64 debian:bookworm AS base\nRUN true\nFROM base\nFROM scratch\nfrom ubuntu:noble\n";
    assert_eq!(from_images(df), vec!["debian:bookworm".to_string(), "ubuntu:noble".to_string()]);
}

#[test]
fn image_refs() {
    assert_eq!(split_image_ref("ubuntu:jammy"), ("ubuntu".into(), "jammy".into()));
    assert_eq!(split_image_ref("reg:5000/a/b"), ("reg:5000/a/b".into(), "latest".into()));
    assert_eq!(split_image_ref("reg:5000/a/b:1"), ("reg:5000/a/b".into(), "1".into()));
}

#[test]
fn apt_deb822_and_list() {
    let deb822 = "Types: deb\n# comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
                  Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n";
    assert_eq!(
        debian_mirror_from_apt(&[("debian.sources".into(), deb822.into())], None).as_deref(),
        Some("http://mirror.example/debian")
    );
    let disabled = "Types: deb\nURIs: http://a.example/debian\nSuites: bookworm\nEnabled: no\n";
    assert_eq!(debian_mirror_from_apt(&[("x.sources".into(), disabled.into())], None), None);
    let list = "# x\ndeb [arch=amd64 signed-by=/k.gpg] http://b.example/debian/ bookworm main\ndeb http://security.example/debian-security bookworm-security main\n";
    assert_eq!(debian_mirror_from_apt(&[], Some(list)).as_deref(), Some("http://b.example/debian"));
    assert_eq!(
        debian_mirror_from_apt(&[], Some("deb http://archive.ubuntu.com/ubuntu jammy main\n")),
        None
    );
}

#[test]
fn mmdebstrap_command_line() {
    let m = matrix();
    let d = Definition::load(&m, "bookworm").unwrap();
    let a = mmdebstrap_args(&d, "http://m.example/debian", Path::new("/tmp/x.tar"));
    assert!(a.contains(&"--variant=apt".to_string()));
    assert!(a.contains(&"--architectures=amd64,arm64".to_string()));
    assert!(a.iter().any(|x| x.starts_with("--include=") && x.contains("libssl-dev:arm64")));
    assert_eq!(
        &a[a.len() - 3..],
        &[
            "bookworm".to_string(),
            "/tmp/x.tar".to_string(),
            "http://m.example/debian".to_string()
        ]
    );
    assert!(!a.iter().any(|x| x.contains("Check-Valid-Until")));
}

/// A fake engine: records builds, serves image IDs.
#[derive(Default)]
struct Fake {
    images: std::sync::Mutex<BTreeMap<String, String>>,
    builds: std::sync::Mutex<Vec<String>>,
}
impl ImageEngine for Fake {
    async fn image_id(&self, r: &str) -> Result<Option<String>> {
        Ok(self.images.lock().unwrap().get(r).cloned())
    }
    async fn load_rootfs(&self, _: &Path, img: &RootfsImage) -> Result<()> {
        self.images.lock().unwrap().insert(img.reference.clone(), "sha256:imported".into());
        Ok(())
    }
    async fn pull(&self, image: &str) -> Result<()> {
        Err(Error::external(format!("no registry for {image}")))
    }
    async fn build(
        &self,
        ctx: Vec<u8>,
        tag: &str,
        _: &str,
        _: BTreeMap<String, String>,
        _: bool,
        log: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<()> {
        assert!(!ctx.is_empty());
        log("Step 1/2");
        self.builds.lock().unwrap().push(tag.to_string());
        self.images.lock().unwrap().insert(tag.to_string(), "sha256:built".into());
        Ok(())
    }
}

#[tokio::test]
async fn present_image_is_reused_without_building() {
    let m = matrix();
    let fake = Fake::default();
    let tag = Definition::load(&m, "bookworm").unwrap().tag();
    fake.images.lock().unwrap().insert(tag.clone(), "sha256:abc".into());
    let p = Progress::plain().spinner("t");
    let i = ensure_image(&fake, &m, "bookworm", &ImageOptions::default(), &p).await.unwrap();
    assert_eq!(
        i,
        ImageInfo {
            builder: "bookworm".into(),
            tag,
            id: "sha256:abc".into(),
            method: "mmdebstrap".into(),
            reused: true
        }
    );
}

#[tokio::test]
async fn dockerfile_with_missing_base_names_it() {
    let m = matrix();
    let fake = Fake::default();
    let p = Progress::plain().spinner("t");
    let e = ensure_image(&fake, &m, "jammy", &ImageOptions::default(), &p).await.unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.exit_code(), 3);
    assert!(
        msg.contains("ubuntu:jammy") && msg.contains("cannot be pulled") && msg.contains("no registry"),
        "{msg}"
    );
    assert!(cannot_run_here(&m, "jammy", &e));
}

#[tokio::test]
async fn dockerfile_builds_when_base_present_then_reuses() {
    let m = matrix();
    let fake = Fake::default();
    fake.images.lock().unwrap().insert("ubuntu:noble".into(), "sha256:base".into());
    let p = Progress::plain().spinner("t");
    let i = ensure_image(&fake, &m, "noble", &ImageOptions::default(), &p).await.unwrap();
    assert!(!i.reused);
    assert_eq!(i.id, "sha256:built");
    let j = ensure_image(&fake, &m, "noble", &ImageOptions::default(), &p).await.unwrap();
    assert!(j.reused);
    assert_eq!(fake.builds.lock().unwrap().len(), 1);
    let k = ensure_image(
        &fake,
        &m,
        "noble",
        &ImageOptions {
            force: true,
            log_dir: None,
        },
        &p,
    )
    .await
    .unwrap();
    assert!(!k.reused);
    assert_eq!(fake.builds.lock().unwrap().len(), 2);
}
