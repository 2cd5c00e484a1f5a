//! `valkey-release release` and `valkey-release plan` (arguments; the logic is in crate::release).

use super::Global;
use crate::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {}

pub async fn run(_g: &Global, _a: Args) -> Result<()> {
    Err(Error::input("not implemented yet"))
}

pub async fn run_plan(_g: &Global, _a: PlanArgs) -> Result<()> {
    Err(Error::input("not implemented yet"))
}
