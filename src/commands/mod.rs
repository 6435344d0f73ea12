//! One file per command, each a short composition of the parts below it, given its
//! typed inputs; `run` fills the raw inputs from the event, has them parsed into the
//! typed command (`crate::inputs`), and dispatches on it.
//!
//! Read-only or local: `status`, `resolve`, `set_image`, `codeowners`, `changed`. Moving a
//! service (registry, git, GitHub, through `crate::session`): `retag`, `release`,
//! `promote`, `deploy`, `rollback`.

mod changed;
mod codeowners;
mod deploy;
mod promote;
mod release;
mod resolve;
mod retag;
mod rollback;
mod set_image;
mod status;

pub use set_image::{TargetChange, edit_target};

use crate::action::{self, Outputs};
use crate::context::*;
use crate::inputs::{self, Command, Inputs};

/// What a moving command moves: one service, or a train's members (in the
/// train's order, restricted by `services`).
pub(crate) struct Movers {
    /// The service's name, or the train's: `release/<name>/<env>`.
    pub(crate) name: String,
    pub(crate) train: Option<String>,
    pub(crate) members: Vec<crate::config::Service>,
}

impl Movers {
    /// `who` as the config (the base branch's) has it. A `service` that names no
    /// service but a train is that train (a merged `release/<train>/<env>` PR's
    /// event names it so).
    pub(crate) fn of(cx: &Context, who: &inputs::Who) -> anyhow::Result<Movers> {
        let (name, only) = match who {
            inputs::Who::Service(s) => match cx.config.service(s) {
                Ok(service) => {
                    return Ok(Movers {
                        name: s.clone(),
                        train: None,
                        members: vec![service],
                    });
                }
                Err(e) if !cx.config.trains.iter().any(|t| &t.name == s) => {
                    return Err(e.into());
                }
                Err(_) => (s, None),
            },
            inputs::Who::Train { name, only } => (name, only.as_deref()),
        };
        Ok(Movers {
            name: name.clone(),
            train: Some(name.clone()),
            members: cx.config.train(name, only)?,
        })
    }

    pub(crate) fn refs(&self) -> Vec<&crate::config::Service> {
        self.members.iter().collect()
    }

    /// The outputs a train's run adds: `train` and `services` (a JSON array).
    pub(crate) fn describe(&self, out: &mut Outputs) {
        if let Some(t) = &self.train {
            out.set("train", t);
            let names: Vec<&str> = self.members.iter().map(|s| s.name.as_str()).collect();
            out.set(
                "services",
                serde_json::to_string(&names).unwrap_or_default(),
            );
        }
    }
}

/// Run the command the inputs name.
pub async fn run(mut inputs: Inputs) -> anyhow::Result<Outputs> {
    inputs.clean_secrets()?;
    Outputs::check_targets()?;
    for s in inputs.secrets() {
        crate::output::register_secret(&s);
    }
    // The triggering event fills what the inputs leave unset (a push's ref and
    // commit, a merged release PR's service and environment).
    // A `pull_request` event: number, merged, head branch.
    let mut pr_event = None;
    if let Some((name, payload)) = action::event_payload()? {
        let facts = action::EventFacts::from_payload(&name, &payload);
        if name.starts_with("pull_request") {
            let pr = &payload["pull_request"];
            pr_event = Some((
                pr["number"].as_u64().unwrap_or_default(),
                facts.merged_pr.is_some() || facts.fork.is_some(),
                pr["head"]["ref"].as_str().unwrap_or_default().to_string(),
                facts.fork.clone(),
            ));
        }
        facts.fill(&mut inputs);
        if let Some(out) = facts.deleted_ref(&inputs) {
            return Ok(out);
        }
    }
    // overlay-deploy runs on closed `release/**` PRs; one closed without a merge, or
    // not a release branch, deploys nothing (a workflow `if:` may not have said so).
    if let (Some((n, merged, head, fork)), Some("deploy"), None) =
        (&pr_event, inputs.command.as_deref(), &inputs.env)
    {
        let msg = if let Some(f) = fork {
            format!(
                "pull request #{n} (`{head}`) comes from another repository ({f}), not a release branch of this one; nothing to deploy"
            )
        } else if *merged {
            format!(
                "pull request #{n} (`{head}`) is not a `release/<service>/<env>` branch; nothing to deploy"
            )
        } else {
            format!("pull request #{n} was closed without a merge; nothing to deploy")
        };
        crate::output::notice(&msg);
        println!("{msg}");
        let mut out = Outputs::default();
        out.set("deployed", false);
        return Ok(out);
    }
    // Every input the command reads, checked and typed: a bad one stops the run here.
    let run = inputs::parse(&inputs)?;
    let mut cx = Context::load(run.workspace, run.common, run.dry_run)?;
    // From the code's repository only a release (and `resolve`, which plans one,
    // `retag`, which names its images, and `changed`, which lists the services a
    // change of the code touched) reaches into the config repository; the rest
    // read and change the config repository's files where they are checked out.
    if cx.config_elsewhere()
        && !matches!(
            run.command,
            Command::Release(_) | Command::Resolve(_) | Command::Retag(_) | Command::Changed(_)
        )
    {
        let repo = cx.config_repo().map(|r| r.to_string()).unwrap_or_default();
        return Err(crate::error::UserError::new(format!(
            "`{}` works on a checkout of the config repository, and `config-repository` says it is `{repo}`, not this one",
            run.command.name()
        ))
        .hint(format!(
            "run `{}` in `{repo}`'s own workflows (on its checkout), or drop `config-repository`",
            run.command.name()
        ))
        .into());
    }
    // Commands that write, and `resolve`, whose environment feeds a release, take
    // their rules and environment map from the base branch, never from the ref
    // being released: a branch could otherwise map itself anywhere.
    // A release's target files and branch, as the checkout names them, are read
    // in the same query (used only where the base's config names the same).
    let guess = match &run.command {
        Command::Release(r) if !cx.dry_run => release::guess_reads(&cx, r),
        Command::Deploy(d) if !cx.dry_run => deploy::guess_reads(&cx, d),
        _ => None,
    };
    if (run.command.moves() || matches!(run.command, Command::Resolve(_)))
        && let Some(base) = crate::session::rules_and_targets(&cx, guess).await?
    {
        cx.config = base;
    }
    match run.command {
        Command::Status(c) => status::status(&cx, &c),
        Command::Resolve(c) => resolve::resolve(&cx, &c),
        Command::SetImage(c) => set_image::set_image(&cx, &c),
        Command::Codeowners(c) => codeowners::codeowners(&cx, &c),
        Command::Changed(c) => changed::changed(&cx, &c).await,
        Command::Retag(c) => retag::retag(&cx, &c).await,
        Command::Release(c) => release::release(&cx, c).await,
        Command::Promote(c) => promote::promote(&cx, c).await,
        Command::Deploy(c) => deploy::deploy(&cx, c).await,
        Command::Rollback(c) => rollback::rollback(&cx, c).await,
    }
}
