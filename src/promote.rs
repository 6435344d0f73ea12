//! The commands users run (being wired up).

use crate::action::{Inputs, Outputs};

pub async fn run(_inputs: Inputs) -> anyhow::Result<Outputs> {
    Err(crate::error::Failure::new("not wired yet").into())
}
