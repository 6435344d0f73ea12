//! `deploy`: record the deployment of a merged overlay change, run the health
//! gate, and open the promotion to the next environment.

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
    session
        .deploy_entry(cx, &service, env, &entry, &sha, &mut out)
        .await?;
    session.finish(&mut out);
    Ok(out)
}
