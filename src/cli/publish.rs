//! `valkey-release publish` (arguments; the logic is in crate::publish).

use super::Global;
use crate::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_g: &Global, _a: Args) -> Result<()> {
    Err(Error::input("not implemented yet"))
}
