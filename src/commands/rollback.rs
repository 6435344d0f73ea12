//! `rollback`: put an earlier version back, named by tag or counted in steps.

use crate::action::Outputs;
use crate::context::Context;
use crate::error::Failure;
use crate::inputs::{Rollback, RollbackTo};
use crate::session::*;

pub async fn rollback(cx: &Context, inputs: Rollback) -> anyhow::Result<Outputs> {
    let service = cx.config.service(&inputs.service)?;
    let env = cx.config.environment(&inputs.env)?;
    let session = Session::new(cx, &service, inputs.session)?;
    let (tag, digest) = match &inputs.to {
        RollbackTo::Tag(t) => {
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
        RollbackTo::Steps(steps) => session.previous_version(cx, env, &service, *steps).await?,
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
    session.carry(cx, &change, &mut out).await?;
    session.finish(&mut out);
    Ok(out)
}
