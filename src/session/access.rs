//! Who may release to an environment: its `allowed` rule against the actor.

use super::*;
use crate::config::Environment;
use crate::context::Context;
use crate::error::{Failure, UserError};

impl Session {
    /// Seed 002's "who can deploy to which environment": the environment's
    /// `allowed` rule against `GITHUB_ACTOR`, before anything changes.
    pub(crate) async fn check_access(&self, cx: &Context, env: &Environment) -> anyhow::Result<()> {
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
        if rule.users.iter().any(|u| u.eq_ignore_ascii_case(&actor)) {
            return Ok(());
        }
        if cx.dry_run
            && self.github.is_none()
            && (rule.teams.len() + usize::from(rule.permission.is_some())) > 0
        {
            println!(
                "dry run: would check that `{actor}` may release to `{}` (teams {:?}, permission {:?})",
                env.name, rule.teams, rule.permission
            );
            return Ok(());
        }
        let gh = self.github()?;
        if let Some(needed) = &rule.permission {
            let has = gh.permission(&actor).await?;
            if permission_rank(&has) >= permission_rank(needed) {
                return Ok(());
            }
        }
        for team in &rule.teams {
            let member = gh.is_team_member(team, &actor).await.map_err(|e| {
                Failure::new(format!(
                    "cannot check whether `{actor}` is in team `{team}` (the `allowed` rule of `{}`): {e:#}",
                    env.name
                ))
                .hint("`GITHUB_TOKEN` cannot read organization teams: pass a GitHub App token with `members: read` (or a token with `read:org`) as `token`, or list `users` / a `permission` instead")
            })?;
            if member {
                return Ok(());
            }
        }
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
        Err(UserError::new(format!(
            "`{actor}` may not release to environment `{}`: its `allowed` rule admits {}",
            env.name,
            if parts.is_empty() { "nobody".to_string() } else { parts.join("; ") }
        ))
        .hint(format!(
            "ask someone the rule admits to run it, or add `{actor}` to `allowed` of `{}` in .github/gitops.yaml",
            env.name
        ))
        .into())
    }
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
