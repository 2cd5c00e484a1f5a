//! Kind `sbom`: the SPDX 2.3 JSON document of one artifact (`<artifact>.spdx.json`, written by
//! [`crate::sbom::write_for_dist`]); `describes` names the artifact it is about.

use super::Kind;
use crate::manifest::Artifact;

/// The file name ending of an SBOM.
pub const EXTENSION: &str = ".spdx.json";

/// An SPDX 2.3 software bill of materials.
pub struct Sbom;

impl Kind for Sbom {
    fn name(&self) -> &'static str {
        "sbom"
    }
    fn extension(&self) -> &'static str {
        EXTENSION
    }
    fn content_type(&self) -> &'static str {
        "application/spdx+json"
    }
    fn one_per_target(&self) -> bool {
        // One per described artifact: `upsert` replaces by (kind, target, describes).
        true
    }
    fn check(&self, a: &Artifact) -> std::result::Result<(), String> {
        match &a.describes {
            Some(d) if a.file == format!("{d}{EXTENSION}") => Ok(()),
            Some(d) => Err(format!("an sbom of {d:?} is named {d}{EXTENSION}, found {:?}", a.file)),
            None => Err(format!(
                "an sbom names the artifact it describes (\"describes\"); {:?} does not",
                a.file
            )),
        }
    }
}
