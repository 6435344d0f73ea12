//! `deploy`: record the deployment of a merged overlay change, run the health
//! gate, and open the promotion to the next environment. A deploy of a version
//! the environment no longer runs at the base tip (a stale re-run) records nothing.

use crate::action::Outputs;
use crate::context::{self, Context};
use crate::inputs::Deploy;
use crate::session::*;

pub async fn deploy(cx: &Context, inputs: Deploy) -> anyhow::Result<Outputs> {
    let service = cx.config.service(&inputs.service)?;
    let env = cx.config.environment(&inputs.env)?;
    let session = Session::new(cx, &service, inputs.session)?;
    let entry = deployed_entry(cx, env, &service)?;
    let sha = context::commit_of(&cx.root, inputs.sha.as_deref())?.sha;
    let mut out = Outputs::default();
    if let Some(m) = session.moved_on(cx, env, &service, &entry).await? {
        let this = entry.new_tag.as_deref().unwrap_or("(a digest)");
        let now = match &m.now {
            Some(n) => format!(
                "`{}`",
                n.new_tag
                    .as_deref()
                    .or(n.digest.as_deref())
                    .unwrap_or_default()
            ),
            None => "no entry for it".into(),
        };
        let msg = format!(
            "not recording a deployment: `{}` has moved on. Commit {} deploys {} `{this}`, but `{}` at {} gives {} {now}; the environment runs that, and its own deploy recorded it",
            env.name,
            short(Some(&sha)),
            service.name,
            m.base,
            short(Some(&m.tip)),
            service.name,
        );
        crate::output::notice(&msg);
        println!("{msg}");
        out.summary.push_str(&format!(
            "Nothing recorded: `{}` runs **{}** {now} at `{}` ({}), not `{this}` of {}.\n",
            env.name,
            service.name,
            m.base,
            short(Some(&m.tip)),
            short(Some(&sha)),
        ));
        out.set("env", &env.name);
        out.set("image", &service.image);
        out.set("deployed", false);
        out.set(
            "moved-on",
            m.now
                .as_ref()
                .and_then(|n| n.new_tag.clone().or(n.digest.clone()))
                .unwrap_or_default(),
        );
        session.finish(&mut out);
        return Ok(out);
    }
    session
        .deploy_entry(cx, &service, env, &entry, &sha, &mut out)
        .await?;
    session.finish(&mut out);
    Ok(out)
}
