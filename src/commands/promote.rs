//! `promote`: carry the version an environment runs to the next one.

use crate::action::Outputs;
use crate::context::Context;
use crate::error::UserError;
use crate::session::*;

pub async fn promote(cx: &Context) -> anyhow::Result<Outputs> {
    let service = cx
        .config
        .service(cx.required(&cx.inputs.service, "service")?)?;
    let to_name = cx
        .inputs
        .to
        .as_deref()
        .or(cx.inputs.env.as_deref())
        .ok_or_else(|| {
            UserError::new("`promote` needs the target environment")
                .hint("pass `--to uat` (or the `to` input)")
        })?;
    let to = cx.config.environment(to_name)?;
    let from = match cx.inputs.from.as_deref() {
        Some(f) => cx.config.environment(f)?,
        None => cx.config.previous_of(&to.name).ok_or_else(|| {
            UserError::new(format!(
                "environment `{}` is the first of the chain; there is nothing to promote from",
                to.name
            ))
            .hint("pass `--from <env>`, or release to it with `release`")
        })?,
    };
    if from.name == to.name {
        return Err(UserError::new(format!(
            "`promote` from `{}` to itself changes nothing",
            to.name
        ))
        .hint("name another source with `--from`, or leave it out to take the previous environment of the chain")
        .into());
    }
    let session = Session::new(cx)?;
    let entry = deployed_entry(cx, from, &service)?;
    let mut out = Outputs::default();
    session
        .promote_entry(cx, &service, from, to, &entry, false, &mut out)
        .await?;
    session.finish(&mut out);
    Ok(out)
}
