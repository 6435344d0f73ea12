//! One file per command, each a short composition of the parts below it; `run`
//! turns the event and the inputs into the command to run.
//!
//! Read-only or local: `status`, `resolve`, `set_image`, `codeowners`. Moving a
//! service (registry, git, GitHub, through `crate::session`): `retag`, `release`,
//! `promote`, `deploy`, `rollback`.

mod codeowners;
mod deploy;
mod promote;
mod release;
mod resolve;
mod retag;
mod rollback;
mod set_image;
mod status;

pub use set_image::{OverlayChange, edit_overlay};

use crate::action::{self, Inputs, Outputs};
use crate::context::*;
use crate::error::UserError;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Table,
    Markdown,
}

impl Format {
    pub(crate) fn parse(v: Option<&str>, allowed: &[Format]) -> Result<Format, UserError> {
        let hint = || {
            let names: Vec<String> = allowed.iter().map(|f| format!("`{}`", f.name())).collect();
            format!("use one of {}", names.join(", "))
        };
        let f = match v.unwrap_or("text") {
            "text" => Format::Text,
            "json" => Format::Json,
            "table" => Format::Table,
            "markdown" | "md" => Format::Markdown,
            other => return Err(UserError::new(format!("unknown format `{other}`")).hint(hint())),
        };
        if !allowed.contains(&f) {
            return Err(
                UserError::new(format!("this command has no `{}` format", f.name())).hint(hint()),
            );
        }
        Ok(f)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Table => "table",
            Format::Markdown => "markdown",
        }
    }
}

/// Run the command the inputs name.
pub async fn run(mut inputs: Inputs) -> anyhow::Result<Outputs> {
    inputs.clean_secrets()?;
    Outputs::check_targets()?;
    for s in inputs.secrets() {
        action::register_secret(&s);
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
    }
    let command = inputs.command.clone().unwrap_or_else(|| "status".into());
    // overlay-deploy runs on closed `release/**` PRs; one closed without a merge, or
    // not a release branch, deploys nothing (a workflow `if:` may not have said so).
    if let (Some((n, merged, head, fork)), "deploy", None) =
        (&pr_event, command.as_str(), &inputs.env)
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
        action::notice(&msg);
        println!("{msg}");
        let mut out = Outputs::default();
        out.set("deployed", false);
        return Ok(out);
    }
    let known = [
        "status",
        "resolve",
        "set-image",
        "codeowners",
        "retag",
        "release",
        "promote",
        "deploy",
        "rollback",
    ];
    if !known.contains(&command.as_str()) {
        return Err(UserError::new(format!("unknown command `{command}`"))
            .hint(format!(
                "the `command` input is one of {}",
                known.map(|k| format!("`{k}`")).join(", ")
            ))
            .into());
    }
    let mut cx = Context::load(inputs)?;
    // Commands that write take their rules from the base branch (issue 14).
    if matches!(
        command.as_str(),
        "release" | "promote" | "deploy" | "rollback"
    ) && let Some(base) = crate::session::rules_from_base(&cx).await?
    {
        cx.config = base;
    }
    match command.as_str() {
        "status" => status::status(&cx),
        "resolve" => resolve::resolve(&cx),
        "set-image" => set_image::set_image(&cx),
        "retag" => retag::retag(&cx).await,
        "release" => release::release(&cx).await,
        "promote" => promote::promote(&cx).await,
        "deploy" => deploy::deploy(&cx).await,
        "rollback" => rollback::rollback(&cx).await,
        _ => codeowners::codeowners(&cx),
    }
}
