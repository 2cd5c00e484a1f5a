//! The one-layer image an mmdebstrap rootfs is loaded as.

use crate::error::{Error, Result};
use crate::targets::Arch;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Environment baked into mmdebstrap images.
const IMAGE_ENV: &[&str] = &["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"];

/// A one-layer image made from a rootfs tarball (mmdebstrap), loaded as a docker-archive
/// (`docker save` layout: `manifest.json`, an image config, one layer tar).
///
/// Loading rather than importing (`POST /images/create?fromSrc=-`) lets the config carry the
/// image's real architecture: Docker 20.10 imports everything as the engine's own arch, so an
/// arm64 rootfs imported on an amd64 engine would claim to be amd64. The config has a fixed
/// creation time, so the image ID depends only on the rootfs bytes and this definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsImage {
    /// `repo:tag`.
    pub reference: String,
    pub arch: Arch,
    pub labels: BTreeMap<String, String>,
    /// What made it (the history entry).
    pub created_by: String,
}

impl RootfsImage {
    /// The image config (JSON) for a layer whose uncompressed tar has sha256 `layer_sha`.
    pub fn config_json(&self, layer_sha: &str) -> Vec<u8> {
        let cfg = serde_json::json!({
            "architecture": self.arch.debian(),
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {
                "Env": IMAGE_ENV,
                "Cmd": ["/bin/bash"],
                "WorkingDir": "/",
                "Labels": self.labels,
            },
            "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_sha}")] },
            "history": [{ "created": "1970-01-01T00:00:00Z", "created_by": self.created_by }],
        });
        serde_json::to_vec(&cfg).unwrap_or_default()
    }

    /// The docker-archive around the layer: (tar header of `layer.tar`, everything after the
    /// layer's bytes: padding, config, `manifest.json`, end of archive).
    pub fn archive_parts(&self, layer_sha: &str, layer_size: u64) -> Result<(Vec<u8>, Vec<u8>)> {
        let bad = |e: std::io::Error| Error::external(format!("writing the image archive of {}: {e}", self.reference));
        let mut h = tar::Header::new_ustar();
        h.set_path("layer/layer.tar").map_err(bad)?;
        h.set_size(layer_size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let head = h.as_bytes().to_vec();

        let config = self.config_json(layer_sha);
        let config_name = format!("{}.json", hex::encode(Sha256::digest(&config)));
        let manifest = serde_json::to_vec(&serde_json::json!([{
            "Config": config_name,
            "RepoTags": [self.reference],
            "Layers": ["layer/layer.tar"],
        }]))
        .unwrap_or_default();
        let pad = (512 - (layer_size % 512) as usize) % 512;
        let mut b = tar::Builder::new(vec![0u8; pad]);
        for (name, data) in [(config_name.as_str(), &config), ("manifest.json", &manifest)] {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, data.as_slice()).map_err(bad)?;
        }
        let tail = b.into_inner().map_err(bad)?;
        Ok((head, tail))
    }
}
