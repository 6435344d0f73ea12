//! Who may release to an environment: its `allowed` rule against the actor.

use super::*;
use crate::config::Environment;
use crate::context::Context;
use crate::error::{Failure, UserError};

impl Session {
    /// Seed 002's "who can deploy to which environment": the environment's
    /// `allowed` rule, before anything changes, against `GITHUB_ACTOR` and, on a
    /// re-run by someone else, `GITHUB_TRIGGERING_ACTOR` too. GitHub keeps
    /// `github.actor` as the original user on a re-run ("If the workflow run is a
    /// re-run, this value may differ from github.actor": docs "Contexts",
    /// `github.triggering_actor`), so checking only the actor would let anyone who
    /// can re-run a job replay an admitted person's release.
    pub(crate) async fn check_access(&self, cx: &Context, env: &Environment) -> anyhow::Result<()> {
        // An input must not bypass the environment's pull request (and its
        // reviews) when the config says so.
        if self.change.merge == Some(crate::config::MergePolicy::Direct)
            && env.merge != crate::config::MergePolicy::Direct
            && !env.allow_direct
        {
            return Err(UserError::new(format!(
                "environment `{}` does not allow `merge: direct` from the input",
                env.name
            ))
            .hint(format!(
                "drop the `merge` input (the environment's own is `{}`), or set `allow-direct: true` on `{}` in the config on the base branch",
                env.merge.as_str(),
                env.name
            ))
            .into());
        }
        let Some(rule) = &env.allowed else {
            return Ok(());
        };
        let actor = env_var("GITHUB_ACTOR").ok_or_else(|| {
            UserError::new(format!(
                "environment `{}` limits who may release, but `GITHUB_ACTOR` is not set",
                env.name
            ))
            .hint("run in GitHub Actions (the runner sets `GITHUB_ACTOR`), or set it to your login")
        })?;
        let mut actors = vec![actor];
        if let Some(t) = env_var("GITHUB_TRIGGERING_ACTOR")
            && !t.eq_ignore_ascii_case(&actors[0])
        {
            actors.push(t);
        }
        for (i, actor) in actors.iter().enumerate() {
            if !self.admits(cx, env, rule, actor).await? {
                return Err(refusal(env, rule, actor, i > 0).into());
            }
        }
        Ok(())
    }

    /// Whether `rule` admits `actor`. Users are matched here; only teams and a
    /// permission need GitHub, so a users-only rule is decided offline too.
    async fn admits(
        &self,
        cx: &Context,
        env: &Environment,
        rule: &crate::config::Access,
        actor: &str,
    ) -> anyhow::Result<bool> {
        if rule.users.iter().any(|u| u.eq_ignore_ascii_case(actor)) {
            return Ok(true);
        }
        if rule.teams.is_empty() && rule.permission.is_none() {
            return Ok(false);
        }
        if cx.dry_run && self.github.is_none() {
            println!(
                "dry run: would check that `{actor}` may release to `{}` (teams {:?}, permission {:?})",
                env.name, rule.teams, rule.permission
            );
            return Ok(true);
        }
        let gh = self.github()?;
        if let Some(needed) = &rule.permission {
            let has = gh.permission(actor).await?;
            if permission_rank(&has) >= permission_rank(needed) {
                return Ok(true);
            }
        }
        for team in &rule.teams {
            let member = gh.is_team_member(team, actor).await.map_err(|e| {
                Failure::new(format!(
                    "cannot check whether `{actor}` is in team `{team}` (the `allowed` rule of `{}`): {e:#}",
                    env.name
                ))
                .hint("`GITHUB_TOKEN` cannot read organization teams: pass a GitHub App token with `members: read` (or a token with `read:org`) as `token`, or list `users` / a `permission` instead")
            })?;
            if member {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn refusal(env: &Environment, rule: &crate::config::Access, actor: &str, rerun: bool) -> UserError {
    let mut parts = Vec::new();
    if !rule.users.is_empty() {
        parts.push(format!("users {}", rule.users.join(", ")));
    }
    if !rule.teams.is_empty() {
        parts.push(format!("teams {}", rule.teams.join(", ")));
    }
    if let Some(p) = &rule.permission {
        parts.push(format!("`{p}` permission or higher"));
    }
    let who = if rerun {
        format!("`{actor}` (who re-ran this workflow: `GITHUB_TRIGGERING_ACTOR`)")
    } else {
        format!("`{actor}`")
    };
    UserError::new(format!(
        "{who} may not release to environment `{}`: its `allowed` rule admits {}",
        env.name,
        if parts.is_empty() {
            "nobody".to_string()
        } else {
            parts.join("; ")
        }
    ))
    .hint(format!(
        "ask someone the rule admits to run it, or add `{actor}` to `allowed` of `{}` in .github/gitops.yaml on the base branch",
        env.name
    ))
}

pub(crate) fn permission_rank(p: &str) -> u8 {
    match p {
        "admin" => 5,
        "maintain" => 4,
        "write" | "push" => 3,
        "triage" => 2,
        "read" | "pull" => 1,
        _ => 0,
    }
}
