//! `rollback`: put an earlier version back, named by tag or counted in steps.

use crate::action::Outputs;
use crate::context::Context;
use crate::error::{Failure, UserError};
use crate::session::*;

pub async fn rollback(cx: &Context) -> anyhow::Result<Outputs> {
    let service = cx
        .config
        .service(cx.required(&cx.inputs.service, "service")?)?;
    let env = cx.config.environment(cx.required(&cx.inputs.env, "env")?)?;
    let session = Session::new(cx)?;
    let to_tag = cx.inputs.tag.as_deref().or(cx.inputs.to.as_deref());
    let (tag, digest) = match (to_tag, cx.inputs.steps.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(
                UserError::new("`rollback` takes `--to` or `--steps`, not both")
                    .hint("`--to TAG` names the version; `--steps N` goes N versions back")
                    .into(),
            );
        }
        (Some(t), None) => {
            let d = session
                .registry
                .digest_of(&service.image, t)
                .await?
                .ok_or_else(|| {
                    Failure::new(format!("there is no image `{}:{t}` to roll back to", service.image))
                        .hint("pick a tag that exists (`status` shows each environment's; the overlay's git history has the rest)")
                })?;
            (t.to_string(), d)
        }
        (None, Some(s)) => {
            let steps: usize = s.trim().parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                UserError::new(format!("input `steps` is `{s}`, not a whole number ≥ 1"))
                    .hint("`--steps 1` goes back to the version before the current one")
            })?;
            session.previous_version(cx, env, &service, steps).await?
        }
        (None, None) => {
            return Err(UserError::new("`rollback` needs `--to TAG` or `--steps N`")
                .hint("e.g. `gitops-action rollback --service hello --env prod --steps 1`")
                .into());
        }
    };
    if !cx.dry_run && !session.registry.exists(&service.image, &digest).await? {
        return Err(Failure::new(format!(
            "`{}@{digest}` is no longer in the registry",
            service.image
        ))
        .hint("the image was deleted; roll back to a version that still exists with `--to`")
        .into());
    }
    session.check_access(cx, env).await?;
    let mut out = Outputs::default();
    out.set("env", &env.name);
    out.set("image", &service.image);
    out.set("tag", &tag);
    out.set("digest", &digest);
    out.set("built", false);
    let change = Change {
        service: &service,
        env,
        tag,
        digest,
        labels: vec!["rollback".into()],
        kind: "rollback",
        source_sha: None,
    };
    let published = session.publish(cx, &change, &mut out).await?;
    session
        .continue_chain(cx, &change, published.as_ref(), &mut out)
        .await?;
    session.finish(&mut out);
    Ok(out)
}
