//! Repository calls the chain needs: compare, file history, the default branch,
//! access checks, deployments and workflow dispatches.

use super::*;
use crate::error::{Failure, UserError};
use http::{Method, StatusCode};
use serde_json::{Value, json};

impl GitHub {
    /// Commits in `head` not in `base` (`GET /compare/base...head`), oldest first.
    pub async fn compare(&self, base: &str, head: &str) -> anyhow::Result<Comparison> {
        let path = self.repo_path(&format!(
            "/compare/{}...{}?per_page=100",
            enc_path(base),
            enc_path(head)
        ));
        let a = self
            .call(
                Method::GET,
                &path,
                None,
                &format!("compare `{base}` with `{head}`"),
            )
            .await?;
        a.json("the comparison")
    }

    /// Commits that touched `path` from `sha` back, newest first (for rollback).
    pub async fn file_commits(
        &self,
        sha: &str,
        path: &str,
        n: u32,
    ) -> anyhow::Result<Vec<CommitRef>> {
        let p = self.repo_path(&format!(
            "/commits?sha={}&path={}&per_page={}",
            enc(sha),
            enc(path),
            n.clamp(1, 100)
        ));
        let a = self
            .call(
                Method::GET,
                &p,
                None,
                &format!("list the history of `{path}`"),
            )
            .await?;
        a.json("the commit list")
    }

    /// The repository's default branch.
    pub async fn default_branch(&self) -> anyhow::Result<String> {
        let a = self
            .call(
                Method::GET,
                &self.repo_path(""),
                None,
                "read the repository",
            )
            .await?;
        let v: Value = a.json("the repository")?;
        v["default_branch"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| Failure::new("the repository has no default branch").into())
    }

    /// The actor's permission on the repository: `admin`, `maintain`, `write`,
    /// `triage`, `read` or `none`.
    pub async fn permission(&self, user: &str) -> anyhow::Result<String> {
        let a = self
            .send(
                Method::GET,
                &self.repo_path(&format!("/collaborators/{}/permission", enc_path(user))),
                None,
            )
            .await?;
        if a.status == StatusCode::NOT_FOUND {
            return Ok("none".into());
        }
        if !a.status.is_success() {
            return Err(self.error(&format!("read the permission of `{user}`"), &a));
        }
        let v: Value = a.json("the permission")?;
        Ok(effective_permission(&v))
    }

    /// Whether `user` is an active member of `org/team`.
    pub async fn is_team_member(&self, team: &str, user: &str) -> anyhow::Result<bool> {
        let (org, slug) = team.split_once('/').ok_or_else(|| {
            UserError::new(format!("`{team}` is not a team")).hint("write teams as `org/team-slug`")
        })?;
        let a = self
            .send(
                Method::GET,
                &format!(
                    "/orgs/{}/teams/{}/memberships/{}",
                    enc_path(org),
                    enc_path(slug),
                    enc_path(user)
                ),
                None,
            )
            .await?;
        if a.status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if !a.status.is_success() {
            return Err(self.error(&format!("read the membership of `{user}` in `{team}`"), &a));
        }
        let v: Value = a.json("the membership")?;
        Ok(v["state"].as_str() == Some("active"))
    }

    /// Record a deployment of `git_ref` to `environment`; returns its id.
    pub async fn create_deployment(
        &self,
        git_ref: &str,
        environment: &str,
        payload: &Value,
        description: &str,
    ) -> anyhow::Result<u64> {
        let body = json!({
            "ref": git_ref,
            "environment": environment,
            "payload": payload,
            "description": description,
            // The release PR was the review; required contexts ran on it already.
            "auto_merge": false,
            "required_contexts": [],
            "transient_environment": false,
        });
        let a = self
            .call(
                Method::POST,
                &self.repo_path("/deployments"),
                Some(&body),
                "create a deployment",
            )
            .await?;
        let v: Value = a.json("the deployment")?;
        v["id"]
            .as_u64()
            .ok_or_else(|| Failure::new("the deployment has no id").into())
    }

    /// Set a deployment's state (`in_progress`, `success`, `failure`, …).
    pub async fn deployment_status(
        &self,
        id: u64,
        state: &str,
        environment_url: Option<&str>,
        log_url: Option<&str>,
        description: &str,
    ) -> anyhow::Result<()> {
        let mut body = json!({"state": state, "description": description, "auto_inactive": true});
        if let Some(u) = environment_url {
            body["environment_url"] = u.into();
        }
        if let Some(u) = log_url {
            body["log_url"] = u.into();
        }
        self.call(
            Method::POST,
            &self.repo_path(&format!("/deployments/{id}/statuses")),
            Some(&body),
            "set the deployment status",
        )
        .await?;
        Ok(())
    }

    /// `workflow_dispatch` of `workflow` (file name or id) on `git_ref`.
    pub async fn dispatch_workflow(
        &self,
        workflow: &str,
        git_ref: &str,
        inputs: &Value,
    ) -> anyhow::Result<()> {
        let body = json!({"ref": git_ref, "inputs": inputs});
        self.call(
            Method::POST,
            &self.repo_path(&format!(
                "/actions/workflows/{}/dispatches",
                enc_path(workflow)
            )),
            Some(&body),
            &format!("dispatch workflow `{workflow}`"),
        )
        .await?;
        Ok(())
    }
}

/// The level of a "get repository permissions for a user" answer. `role_name`
/// tells maintain/triage apart; `permission` folds them into write/read. A custom
/// repository role has its own `role_name` (issue 14): its base level is then the
/// `permission` field (docs "Collaborators" > "Get repository permissions for a
/// user": `permission` is the legacy base role, `role_name` may be a custom role).
pub(crate) fn effective_permission(v: &Value) -> String {
    let levels = ["admin", "maintain", "write", "triage", "read"];
    v["role_name"]
        .as_str()
        .filter(|r| levels.contains(r))
        .or(v["permission"].as_str())
        .unwrap_or("none")
        .to_string()
}

#[cfg(test)]
mod permission_tests {
    use super::*;

    #[test]
    fn a_custom_role_falls_back_to_its_base_permission() {
        let p = |v: Value| effective_permission(&v);
        assert_eq!(
            p(serde_json::json!({"permission": "write", "role_name": "maintain"})),
            "maintain"
        );
        assert_eq!(
            p(serde_json::json!({"permission": "read", "role_name": "triage"})),
            "triage"
        );
        assert_eq!(
            p(serde_json::json!({"permission": "write", "role_name": "release-manager"})),
            "write"
        );
        assert_eq!(
            p(serde_json::json!({"permission": "read", "role_name": "auditor"})),
            "read"
        );
        assert_eq!(p(serde_json::json!({})), "none");
    }
}
