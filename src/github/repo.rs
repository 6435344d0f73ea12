//! Repository calls the chain needs: compare, file history, the default branch,
//! access checks, deployments and workflow dispatches.

use super::*;
use crate::error::{Failure, UserError};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

impl GitHub {
    /// Commits in `head` not in `base` (`GET /compare/base...head`), oldest first.
    /// The first page of `base...head`: `per_page` commits at most, oldest first,
    /// with `total_commits` for the rest (REST docs "Compare two commits": paginated
    /// answers list commits in chronological order).
    pub async fn compare(
        &self,
        base: &str,
        head: &str,
        per_page: usize,
    ) -> anyhow::Result<Comparison> {
        let path = self.repo_path(&format!(
            "/compare/{}...{}?per_page={per_page}",
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
            // 404 is both "not a member" and "this token can't read teams": GitHub
            // answers it to `GITHUB_TOKEN` even for members (srvaroa/labeler#160,
            // actions/github-script#518). Only a token that sees the team itself
            // makes the 404 a "no".
            let t = self
                .send(
                    Method::GET,
                    &format!("/orgs/{}/teams/{}", enc_path(org), enc_path(slug)),
                    None,
                )
                .await?;
            if t.status.is_success() {
                return Ok(false);
            }
            return Err(Failure::new(format!(
                "this token can't read team `{team}`: GitHub answered 404 to both its membership of `{user}` and the team (a `GITHUB_TOKEN` has no organization permissions, or the team does not exist)"
            ))
            .into());
        }
        if !a.status.is_success() {
            return Err(self.error(&format!("read the membership of `{user}` in `{team}`"), &a));
        }
        let v: Value = a.json("the membership")?;
        Ok(v["state"].as_str() == Some("active"))
    }

    /// Record a deployment of `git_ref` to `environment`; returns its id.
    ///
    /// Exactly once: the payload carries a marker unique to this call, and after a
    /// lost answer the deployments of this sha and environment are searched for it
    /// (`GET /deployments?sha=&environment=`, filters as in GitHub's REST reference
    /// "List deployments") before the create is sent again.
    pub async fn create_deployment(
        &self,
        git_ref: &str,
        environment: &str,
        payload: &Value,
        description: &str,
    ) -> anyhow::Result<u64> {
        let marker = marker();
        let mut payload = payload.clone();
        if let Some(p) = payload.as_object_mut() {
            p.insert("gitops-action-marker".into(), marker.clone().into());
        }
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
        let thing = format!("a deployment to `{environment}` with our marker");
        self.exactly_once(
            Creating {
                thing: &thing,
                again: "creating it",
            },
            async || {
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
            },
            async || self.find_deployment(git_ref, environment, &marker).await,
        )
        .await
    }

    /// The deployment an earlier attempt of workflow run `run` recorded of
    /// `service` at `git_ref` in `environment`: its marker starts with the run's id
    /// (see [`marker`]). A re-run keeps `GITHUB_RUN_ID` and raises
    /// `GITHUB_RUN_ATTEMPT` (docs "Variables", `GITHUB_RUN_ATTEMPT`), so this is the
    /// same deploy run again, which adds a status instead of a second deployment.
    pub async fn deployment_of_run(
        &self,
        git_ref: &str,
        environment: &str,
        run: &str,
        service: &str,
    ) -> anyhow::Result<Option<u64>> {
        let prefix = format!("{run}-");
        Ok(self
            .deployments_of(git_ref, environment)
            .await?
            .iter()
            .find(|d| {
                d["payload"]["service"].as_str() == Some(service)
                    && d["payload"]["gitops-action-marker"]
                        .as_str()
                        .is_some_and(|m| m.starts_with(&prefix))
            })
            .and_then(|d| d["id"].as_u64()))
    }

    /// The deployment of `git_ref` to `environment` whose payload carries `marker`.
    async fn find_deployment(
        &self,
        git_ref: &str,
        environment: &str,
        marker: &str,
    ) -> anyhow::Result<Option<u64>> {
        Ok(self
            .deployments_of(git_ref, environment)
            .await?
            .iter()
            .find(|d| d["payload"]["gitops-action-marker"].as_str() == Some(marker))
            .and_then(|d| d["id"].as_u64()))
    }

    /// The newest 100 deployments of `git_ref` to `environment`, newest first.
    async fn deployments_of(&self, git_ref: &str, environment: &str) -> anyhow::Result<Vec<Value>> {
        // `sha` matches the commit recorded at creation; `ref` the ref string given.
        let filter = if git_ref.len() == 40 && git_ref.bytes().all(|b| b.is_ascii_hexdigit()) {
            "sha"
        } else {
            "ref"
        };
        let a = self
            .call(
                Method::GET,
                &self.repo_path(&format!(
                    "/deployments?{filter}={}&environment={}&per_page=100",
                    enc(git_ref),
                    enc(environment)
                )),
                None,
                "list deployments",
            )
            .await?;
        a.json("the deployment list")
    }

    /// Set a deployment's state (`in_progress`, `success`, `failure`, …).
    ///
    /// Exactly once: after a lost answer the deployment's statuses are read, and the
    /// status is sent again only when the newest is not this one.
    pub async fn deployment_status(
        &self,
        id: u64,
        state: &str,
        environment_url: Option<&str>,
        log_url: Option<&str>,
        description: &str,
    ) -> anyhow::Result<()> {
        self.deployment_status_as(id, state, environment_url, log_url, description, true)
            .await
    }

    /// [`GitHub::deployment_status`] with `auto_inactive` chosen: GitHub's default
    /// (`true`) marks every earlier deployment to the same environment inactive on
    /// a success (REST "Create a deployment status"), so the second member of a
    /// train deployed to `dev` would mark the first, which still runs, inactive.
    pub async fn deployment_status_as(
        &self,
        id: u64,
        state: &str,
        environment_url: Option<&str>,
        log_url: Option<&str>,
        description: &str,
        auto_inactive: bool,
    ) -> anyhow::Result<()> {
        let mut body =
            json!({"state": state, "description": description, "auto_inactive": auto_inactive});
        if let Some(u) = environment_url {
            body["environment_url"] = u.into();
        }
        if let Some(u) = log_url {
            body["log_url"] = u.into();
        }
        let path = self.repo_path(&format!("/deployments/{id}/statuses"));
        let thing = format!("deployment {id}'s newest status `{state}`");
        self.exactly_once(
            Creating {
                thing: &thing,
                again: "setting it",
            },
            async || {
                self.call(
                    Method::POST,
                    &path,
                    Some(&body),
                    "set the deployment status",
                )
                .await
                .map(drop)
            },
            async || {
                // Newest first.
                let a = self
                    .call(Method::GET, &path, None, "list deployment statuses")
                    .await?;
                let list: Vec<Value> = a.json("the deployment statuses")?;
                Ok(list
                    .first()
                    .filter(|n| {
                        n["state"].as_str() == Some(state)
                            && n["description"].as_str() == Some(description)
                    })
                    .map(drop))
            },
        )
        .await
    }

    /// `workflow_dispatch` of `workflow` (file name or id) on `git_ref`.
    ///
    /// Never sent twice. After a lost answer the workflow's runs started by
    /// `workflow_dispatch` on `git_ref` since just before the call are listed
    /// (REST "List workflow runs for a workflow", `event`, `branch`, `created`); a
    /// run there is ours. GitHub starts the run asynchronously and cannot tie it to a
    /// dispatch, so when none shows up within a few seconds we cannot tell:
    /// [`Dispatched::Unclear`], with the page to look at.
    pub async fn dispatch_workflow(
        &self,
        workflow: &str,
        git_ref: &str,
        inputs: &Value,
    ) -> anyhow::Result<Dispatched> {
        let body = json!({"ref": git_ref, "inputs": inputs});
        // A few seconds of slack for a clock that runs ahead of GitHub's.
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs().saturating_sub(5))
            .unwrap_or_default();
        let e = match self
            .call(
                Method::POST,
                &self.repo_path(&format!(
                    "/actions/workflows/{}/dispatches",
                    enc_path(workflow)
                )),
                Some(&body),
                &format!("dispatch workflow `{workflow}`"),
            )
            .await
        {
            Ok(_) => return Ok(Dispatched::Started),
            Err(e) if is_unclear(&e) => e,
            Err(e) => return Err(e),
        };
        let path = self.repo_path(&format!(
            "/actions/workflows/{}/runs?event=workflow_dispatch&branch={}&created={}&per_page=10",
            enc_path(workflow),
            enc(git_ref),
            enc(&format!(">={}", iso8601(since)))
        ));
        for look in 0..self.max_attempts.max(2) {
            if look > 0 {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            let a = self
                .call(Method::GET, &path, None, "list workflow runs")
                .await
                .map_err(|f| f.context(format!("{e:#}")))?;
            let v: Value = a.json("the workflow runs")?;
            if let Some(run) = v["workflow_runs"].as_array().and_then(|r| r.first()) {
                eprintln!(
                    "github: {e:#}; run {} of `{workflow}` started: the dispatch was done",
                    run["id"]
                );
                return Ok(Dispatched::Started);
            }
        }
        Ok(Dispatched::Unclear {
            why: format!("{e:#}"),
            link: format!(
                "{}/actions/workflows/{}",
                self.web_url(),
                enc_path(workflow)
            ),
        })
    }
}

/// What [`GitHub::dispatch_workflow`] knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dispatched {
    Started,
    /// No answer, and no run to be seen: it may or may not have started.
    Unclear {
        why: String,
        link: String,
    },
}

/// A value unique to one call, to find what it created after a lost answer.
fn marker() -> String {
    use rand::Rng as _;
    let run = std::env::var("GITHUB_RUN_ID").unwrap_or_default();
    format!("{run}-{:016x}", rand::rng().random::<u64>())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (UTC): the build labels' format.
pub(crate) fn iso8601(secs: u64) -> String {
    crate::date::rfc3339(i64::try_from(secs).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_798_761_599), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn markers_differ() {
        assert_ne!(marker(), marker());
    }
}

/// The level of a "get repository permissions for a user" answer. `role_name`
/// tells maintain/triage apart; `permission` folds them into write/read. A custom
/// repository role has its own `role_name`: its base level is then the
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
