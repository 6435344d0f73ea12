//! `promote`: carry the version an environment runs to the next one.

use crate::action::Outputs;
use crate::context::Context;
use crate::error::UserError;
use crate::inputs::Promote;
use crate::session::*;

pub async fn promote(cx: &Context, inputs: Promote) -> anyhow::Result<Outputs> {
    let service = cx.config.service(&inputs.service)?;
    let to = cx.config.environment(&inputs.to)?;
    // (`--from` naming `--to` is refused by `Promote::parse`.)
    let from = match inputs.from.as_deref() {
        Some(f) => cx.config.environment(f)?,
        None => cx.config.previous_of(&to.name).ok_or_else(|| {
            UserError::new(format!(
                "environment `{}` is the first of the chain; there is nothing to promote from",
                to.name
            ))
            .hint("pass `--from <env>`, or release to it with `release`")
        })?,
    };
    let session = Session::new(cx, &service, inputs.session)?;
    let entry = deployed_entry(cx, from, &service)?;
    let mut out = Outputs::default();
    session
        .promote_entry(cx, &service, from, to, &entry, false, &mut out)
        .await?;
    session.finish(&mut out);
    Ok(out)
}
