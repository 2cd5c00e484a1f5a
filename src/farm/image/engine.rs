//! The seam between image preparation and a Docker engine.

use super::RootfsImage;
use crate::error::{Error, Result};
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;

// ------------------------------------------------------------------ engine seam

/// What image preparation needs from a Docker engine. Implemented for [`bollard::Docker`];
/// tests can use a fake.
pub trait ImageEngine: Sync {
    /// The image ID of `reference` if present on the engine.
    fn image_id(&self, reference: &str) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Load a rootfs tarball as the one-layer image `img` (`POST /images/load`).
    fn load_rootfs(&self, tarball: &Path, img: &RootfsImage) -> impl Future<Output = Result<()>> + Send;
    /// Pull `image` from its registry.
    fn pull(&self, image: &str) -> impl Future<Output = Result<()>> + Send;
    /// Build a tar build context holding `Dockerfile` as `tag` for `platform`; output lines go to `log`.
    fn build(
        &self,
        context: Vec<u8>,
        tag: &str,
        platform: &str,
        labels: BTreeMap<String, String>,
        no_cache: bool,
        log: &(dyn Fn(&str) + Send + Sync),
    ) -> impl Future<Output = Result<()>> + Send;
}

fn engine_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::external(format!("Docker engine: {what}: {e}"))
}

impl ImageEngine for Docker {
    async fn image_id(&self, reference: &str) -> Result<Option<String>> {
        match self.inspect_image(reference).await {
            Ok(i) => Ok(i.id),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(engine_err(&format!("inspect image {reference}"), e)),
        }
    }

    async fn load_rootfs(&self, tarball: &Path, img: &RootfsImage) -> Result<()> {
        let (layer_sha, layer_size) = {
            let t = tarball.to_path_buf();
            tokio::task::spawn_blocking(move || crate::fsutil::sha256_file(&t))
                .await
                .map_err(|e| Error::external(format!("hashing {}: {e}", tarball.display())))??
        };
        let (head, tail) = img.archive_parts(&layer_sha, layer_size)?;
        let file = tokio::fs::File::open(tarball)
            .await
            .map_err(|e| Error::io(tarball, "open rootfs tarball", e))?;
        let layer = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
        let body = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes::Bytes::from(head)) })
            .chain(layer)
            .chain(futures_util::stream::once(async move { Ok(bytes::Bytes::from(tail)) }));
        // Loading a large rootfs takes longer than the default request timeout.
        let docker = self.clone().with_timeout(std::time::Duration::from_secs(3600));
        let opts = bollard::query_parameters::ImportImageOptionsBuilder::default().quiet(true).build();
        let mut stream = docker.import_image_stream(opts, body, None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| engine_err(&format!("load {}", img.reference), e))?;
        }
        Ok(())
    }

    async fn pull(&self, image: &str) -> Result<()> {
        let (name, tag) = split_image_ref(image);
        let opts = CreateImageOptionsBuilder::default().from_image(&name).tag(&tag).build();
        let mut stream = self.create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| Error::external(e.to_string()))?;
        }
        Ok(())
    }

    async fn build(
        &self,
        context: Vec<u8>,
        tag: &str,
        platform: &str,
        labels: BTreeMap<String, String>,
        no_cache: bool,
        log: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<()> {
        let labels: std::collections::HashMap<String, String> = labels.into_iter().collect();
        let opts = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .platform(platform)
            .rm(true)
            .forcerm(true)
            .nocache(no_cache)
            .labels(&labels)
            .build();
        let docker = self.clone().with_timeout(std::time::Duration::from_secs(3600));
        let mut stream = docker.build_image(opts, None, Some(bollard::body_full(bytes::Bytes::from(context))));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| Error::external(e.to_string()))?;
            if let Some(s) = info.stream.as_deref() {
                for l in s.lines() {
                    log(l);
                }
            }
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                return Err(Error::external(err));
            }
        }
        Ok(())
    }
}

/// `ubuntu:jammy` -> (`ubuntu`, `jammy`); `reg:5000/x` -> (`reg:5000/x`, `latest`).
pub(super) fn split_image_ref(image: &str) -> (String, String) {
    let image = image.split('@').next().unwrap_or(image);
    let last_slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[last_slash..].rfind(':') {
        Some(i) => (image[..last_slash + i].to_string(), image[last_slash + i + 1..].to_string()),
        None => (image.to_string(), "latest".to_string()),
    }
}
