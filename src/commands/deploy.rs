//! `deploy`: record the deployment of a merged overlay change, run the health
//! gate, and open the promotion to the next environment. A deploy of a version
//! the environment no longer runs at the base tip (a stale re-run) records nothing.

use crate::action::Outputs;
use crate::context::{self, Context};
use crate::inputs::Deploy;
use crate::session::*;

/// What this deploy will read, as `cx`'s config (the checkout's, before the rules
/// are read from the base) names it: the members' target files in the environment
/// (to see whether it moved on) and in the next one, and the next environment's
/// release branch. Only a guess of what to read, as for `release`.
pub(crate) fn guess_reads(cx: &Context, inputs: &Deploy) -> Option<Guess> {
    let movers = super::Movers::of(cx, &inputs.who).ok()?;
    let env = cx.config.environment(&inputs.env).ok()?;
    let targets_in = |e: &crate::config::Environment| {
        movers
            .members
            .iter()
            .map(|s| cx.config.target(s, e))
            .collect::<Result<Vec<_>, _>>()
            .ok()
    };
    let mut paths = paths_of(&targets_in(env)?);
    let mut head = None;
    if let Some(next) = cx.config.next_of(&env.name) {
        for p in paths_of(&targets_in(next)?) {
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
        let policy = inputs.session.change.merge.unwrap_or(next.merge);
        head = (policy != crate::github::MergePolicy::Direct)
            .then(|| crate::git::release_branch(&movers.name, &next.name));
    }
    // A promotion's commit list: the version it moves was merged on the base, so
    // the base tip's history holds it (not so with a config repository).
    let history = (!cx.config_elsewhere()).then_some(crate::github::HistoryFrom::BaseTip);
    Some(Guess {
        paths,
        head,
        history,
    })
}

pub async fn deploy(cx: &Context, inputs: Deploy) -> anyhow::Result<Outputs> {
    let movers = super::Movers::of(cx, &inputs.who)?;
    if movers.train.is_some() {
        return deploy_train(cx, movers, inputs).await;
    }
    let service = movers.members[0].clone();
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

/// A merged train: one deployment and health gate per member, then one PR to the
/// next environment with exactly these versions. A member whose entry at the
/// base tip has moved on (a later release of it alone merged since) is not
/// recorded, and the train is not promoted: the combination deployed together
/// no longer runs together.
async fn deploy_train(
    cx: &Context,
    movers: super::Movers,
    inputs: Deploy,
) -> anyhow::Result<Outputs> {
    let env = cx.config.environment(&inputs.env)?;
    let session = Session::new(cx, &movers.members[0], inputs.session)?;
    let sha = context::commit_of(&cx.root, inputs.sha.as_deref())?.sha;
    let mut out = Outputs::default();
    movers.describe(&mut out);
    let mut entries = Vec::new();
    let mut moved = Vec::new();
    for s in &movers.members {
        let entry = deployed_entry(cx, env, s)?;
        match session.moved_on(cx, env, s, &entry).await? {
            None => entries.push((s, entry)),
            Some(m) => {
                let now = m
                    .now
                    .as_ref()
                    .and_then(|n| n.new_tag.clone().or(n.digest.clone()))
                    .unwrap_or_else(|| "no entry".into());
                moved.push(format!("{} (now `{now}`)", s.name));
            }
        }
    }
    if !moved.is_empty() {
        let msg = format!(
            "train {}: in `{}` at the base tip, {} moved on since commit {}; recording the rest, and not promoting the train: what was deployed together no longer runs together",
            movers.name,
            env.name,
            moved.join(", "),
            short(Some(&sha))
        );
        crate::output::notice(&msg);
        println!("{msg}");
        out.summary.push_str(&format!("{msg}.\n"));
        out.set("moved-on", moved.join(", "));
        let mut ids = serde_json::Map::new();
        for (s, e) in &entries {
            if let Some(id) = session
                .deploy_one(cx, s, env, e, &sha, false, &mut out)
                .await?
            {
                ids.insert(s.name.clone(), id.into());
            }
        }
        out.set("env", &env.name);
        out.set("deployment-ids", serde_json::Value::Object(ids).to_string());
        out.set("deployed", !entries.is_empty());
        session.finish(&mut out);
        return Ok(out);
    }
    session
        .deploy_batch(cx, movers.train.as_deref(), &entries, env, &sha, &mut out)
        .await?;
    session.finish(&mut out);
    Ok(out)
}
