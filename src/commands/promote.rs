//! `promote`: carry the version an environment runs to the next one.

use crate::action::Outputs;
use crate::context::Context;
use crate::error::UserError;
use crate::inputs::Promote;
use crate::session::*;

pub async fn promote(cx: &Context, inputs: Promote) -> anyhow::Result<Outputs> {
    let movers = super::Movers::of(cx, &inputs.who)?;
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
    let session = Session::new(cx, &movers.members[0], inputs.session)?;
    // Every member's version in `from` first: one without any promotes nothing.
    let mut entries = Vec::new();
    for s in &movers.members {
        entries.push((s, deployed_entry(cx, from, s)?));
    }
    let mut out = Outputs::default();
    movers.describe(&mut out);
    session
        .promote_batch(
            cx,
            movers.train.as_deref(),
            &entries,
            from,
            to,
            false,
            &mut out,
        )
        .await?;
    session.finish(&mut out);
    Ok(out)
}
