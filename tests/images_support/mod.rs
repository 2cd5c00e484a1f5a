//! Shared helpers for tests that need builder images or small ELF binaries.
//!
//! `bookworm_image()` gives the bookworm builder image of the repository's targets.toml,
//! built once per machine (cached by its tag on the engine; a file lock stops parallel
//! tests from building it twice). Other areas' tests may use it through `#[path]`:
//! `#[path = "images_support/mod.rs"] mod images_support;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use valkey_release::farm::image::{ensure_image, ImageInfo, ImageOptions};
use valkey_release::targets::Matrix;

/// The repository's targets.toml.
pub fn repo_matrix() -> Matrix {
    Matrix::load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("targets.toml")).expect("targets.toml loads")
}

/// The Docker engine (DOCKER_HOST or the local socket).
pub async fn docker() -> bollard::Docker {
    valkey_release::farm::engine::connect(None).await.expect("Docker engine reachable")
}

/// The bookworm builder image (built with mmdebstrap the first time on a machine, then reused).
pub async fn bookworm_image() -> ImageInfo {
    let d = docker().await;
    let p = valkey_release::progress::Progress::plain().spinner("image bookworm");
    ensure_image(&d, &repo_matrix(), "bookworm", &ImageOptions::default(), &p)
        .await
        .expect("bookworm builder image")
}

/// Compile `fixture` (a file in tests/fixtures/images) with `cc` into `out_dir`;
/// `None` when that compiler is not installed.
pub fn compile(cc: &str, fixture: &str, out_dir: &Path, extra: &[&str]) -> Option<PathBuf> {
    if Command::new(cc)
        .arg("--version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        return None;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images").join(fixture);
    let out = out_dir.join(format!("{}-{}", cc, fixture.trim_end_matches(".c")));
    let st = Command::new(cc)
        .arg("-O1")
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .args(extra)
        .status()
        .expect("run compiler");
    assert!(st.success(), "{cc} {fixture} failed");
    Some(out)
}
