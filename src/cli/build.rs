//! `valkey-release build` and `valkey-release images` (arguments; the logic is in crate::build).

use super::Global;
use crate::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Debug, clap::Args)]
pub struct ImagesArgs {}

pub async fn run(_g: &Global, _a: Args) -> Result<()> {
    Err(Error::input("not implemented yet"))
}

pub async fn run_images(_g: &Global, _a: ImagesArgs) -> Result<()> {
    Err(Error::input("not implemented yet"))
}
