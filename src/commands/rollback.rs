//! `rollback`: put an earlier version back, named by tag or counted in steps; for
//! a train, every member's, in one PR.

use crate::action::Outputs;
use crate::context::Context;
use crate::error::Failure;
use crate::inputs::{Rollback, RollbackTo};
use crate::session::*;

pub async fn rollback(cx: &Context, inputs: Rollback) -> anyhow::Result<Outputs> {
    let movers = super::Movers::of(cx, &inputs.who)?;
    let env = cx.config.environment(&inputs.env)?;
    let session = Session::new(cx, &movers.members[0], inputs.session)?;
    // Every member's version to go back to, checked in the registry, before any
    // write: a train goes back as one or not at all.
    let mut versions = Vec::new();
    for service in &movers.members {
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
            RollbackTo::Steps(steps) => session.previous_version(cx, env, service, *steps).await?,
        };
        if !cx.dry_run && !session.registry.exists(&service.image, &digest).await? {
            return Err(Failure::new(format!(
                "`{}@{digest}` is no longer in the registry",
                service.image
            ))
            .hint("the image was deleted; roll back to a version that still exists with `--to`")
            .into());
        }
        versions.push((service, tag, digest));
    }
    session.check_access(cx, env).await?;
    let mut out = Outputs::default();
    out.set("env", &env.name);
    out.set("built", false);
    movers.describe(&mut out);
    if movers.train.is_none() {
        let (service, tag, digest) = &versions[0];
        out.set("image", &service.image);
        out.set("tag", tag);
        out.set("digest", digest);
    } else {
        let tags: serde_json::Map<String, serde_json::Value> = versions
            .iter()
            .map(|(s, t, _)| (s.name.clone(), t.clone().into()))
            .collect();
        out.set("tags", serde_json::Value::Object(tags).to_string());
    }
    let batch = Batch {
        train: movers.train.clone(),
        changes: versions
            .into_iter()
            .map(|(service, tag, digest)| Change {
                service,
                env,
                tag,
                digest,
                labels: vec!["rollback".into()],
                kind: "rollback",
                source_sha: None,
            })
            .collect(),
    };
    session.carry(cx, &batch, &mut out).await?;
    session.finish(&mut out);
    Ok(out)
}
