//! Pull requests: find, open or update the release PR, label and request reviewers,
//! merge with the head-sha guard or enable auto-merge, close a stale one.

use super::*;
use crate::error::UserError;
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

impl GitHub {
    /// The open PR from `head` (a branch of this repository) into `base`, if any.
    pub async fn find_open_pr(
        &self,
        head: &str,
        base: &str,
    ) -> anyhow::Result<Option<PullRequest>> {
        let path = self.repo_path(&format!(
            "/pulls?state=open&head={}&base={}&per_page=10",
            enc(&format!("{}:{head}", self.owner)),
            enc(base)
        ));
        let a = self
            .call(Method::GET, &path, None, "list pull requests")
            .await?;
        let prs: Vec<PullRequest> = a.json("the pull request list")?;
        // `head` filters by owner:branch already; keep the check for servers that don't.
        Ok(prs
            .into_iter()
            .find(|p| p.head.ref_field == head && p.base.ref_field == base && p.state == "open"))
    }

    pub async fn get_pr(&self, number: u64) -> anyhow::Result<PullRequest> {
        let a = self
            .call(
                Method::GET,
                &self.repo_path(&format!("/pulls/{number}")),
                None,
                "read the pull request",
            )
            .await?;
        a.json("the pull request")
    }

    pub async fn create_pr(
        &self,
        head: &str,
        base: &str,
        c: &PrContent,
    ) -> anyhow::Result<PullRequest> {
        let body = json!({"title": c.title, "body": c.body, "head": head, "base": base, "draft": c.draft, "maintainer_can_modify": false});
        let a = self
            .send(Method::POST, &self.repo_path("/pulls"), Some(&body))
            .await?;
        if a.status == StatusCode::UNPROCESSABLE_ENTITY {
            let lower = a.body.to_lowercase();
            if lower.contains("\"base\"")
                && (lower.contains("invalid") || lower.contains("missing"))
            {
                return Err(UserError::new(format!(
                    "base branch `{base}` does not exist in `{}`",
                    self.repository()
                ))
                .hint("check the `base` input")
                .into());
            }
        }
        if !a.status.is_success() {
            return Err(self.error(
                &format!("open a pull request from `{head}` into `{base}`"),
                &a,
            ));
        }
        a.json("the new pull request")
    }

    pub async fn update_pr(&self, number: u64, fields: &Value) -> anyhow::Result<PullRequest> {
        let a = self
            .call(
                Method::PATCH,
                &self.repo_path(&format!("/pulls/{number}")),
                Some(fields),
                "update the pull request",
            )
            .await?;
        a.json("the updated pull request")
    }

    /// Open the PR for `head` → `base`, or bring the open one up to date.
    ///
    /// Calls: one list, then one create or (only when title or body differ) one
    /// update; labels and reviewers each cost one more when asked for on a new PR.
    pub async fn ensure_pr(
        &self,
        head: &str,
        base: &str,
        c: &PrContent,
    ) -> anyhow::Result<PrState> {
        self.ensure_pr_known(head, base, c, false).await
    }

    /// [`GitHub::ensure_pr`]; `none_open` when a read just before found no open PR
    /// from `head` (the list call is skipped; a PR opened meanwhile is found when the
    /// create is refused as a duplicate).
    pub async fn ensure_pr_known(
        &self,
        head: &str,
        base: &str,
        c: &PrContent,
        none_open: bool,
    ) -> anyhow::Result<PrState> {
        let found = if none_open {
            None
        } else {
            self.find_open_pr(head, base).await?
        };
        let (pr, operation) = match found {
            None => {
                let pr = match self.create_pr_once(head, base, c).await {
                    Ok(pr) => pr,
                    Err(e) if format!("{e:#}").contains("already exists") => {
                        // Another run opened it between our list and create.
                        let pr = self.find_open_pr(head, base).await?.ok_or(e)?;
                        return self.refresh(pr, c).await;
                    }
                    Err(e) => return Err(e),
                };
                // The PR exists and carries the change; labels or reviewers GitHub
                // refuses (a team that doesn't exist, a non-collaborator) are a
                // warning to fix, not a failed release. Branch protection and
                // CODEOWNERS still enforce the reviews.
                let r = self.decorate(pr.number, c).await;
                warn_undecorated(pr.number, r);
                (pr, PrOperation::Created)
            }
            Some(pr) => return self.refresh(pr, c).await,
        };
        Ok(PrState::from_pr(pr, operation))
    }

    /// The open PR from `head` that a lost answer may have opened for this run:
    /// brought up to date and, being new, labelled with its reviewers asked (as
    /// [`GitHub::create_pr_once`] treats a PR found after an unanswered create).
    pub(crate) async fn ensure_pr_ours(
        &self,
        head: &str,
        base: &str,
        c: &PrContent,
    ) -> anyhow::Result<PrState> {
        let Some(pr) = self.find_open_pr(head, base).await? else {
            return self.ensure_pr_known(head, base, c, true).await;
        };
        let number = pr.number;
        let mut state = self.refresh(pr, c).await?;
        let r = self.decorate(number, c).await;
        warn_undecorated(number, r);
        state.operation = PrOperation::Created;
        Ok(state)
    }

    /// Create the PR exactly once: after a lost answer, look for it by its head
    /// before sending the create again. A PR found there after our unanswered
    /// create is the one this run opened (`created`).
    pub(crate) async fn create_pr_once(
        &self,
        head: &str,
        base: &str,
        c: &PrContent,
    ) -> anyhow::Result<PullRequest> {
        let thing = format!("a pull request from `{head}`");
        self.exactly_once(
            Creating {
                thing: &thing,
                again: "opening it",
            },
            async || self.create_pr(head, base, c).await,
            async || self.find_open_pr(head, base).await,
        )
        .await
    }

    pub(crate) async fn refresh(&self, pr: PullRequest, c: &PrContent) -> anyhow::Result<PrState> {
        // Labels an earlier run could not add (they are in the list answer already,
        // so a complete PR costs no call). Reviewers are not topped up: GitHub drops
        // a reviewer from the requested list once they review.
        let missing: Vec<&String> = c
            .labels
            .iter()
            .filter(|l| !pr.labels.iter().any(|have| &have.name == *l))
            .collect();
        if !missing.is_empty() {
            // Adding labels that are there already changes nothing: safe to resend.
            self.call_as(
                Method::POST,
                &self.repo_path(&format!("/issues/{}/labels", pr.number)),
                Some(&json!({"labels": missing})),
                "label the pull request",
                Resend::Safe,
            )
            .await?;
        }
        let mut fields = serde_json::Map::new();
        if pr.title != c.title {
            fields.insert("title".into(), c.title.clone().into());
        }
        if pr.body.as_deref().unwrap_or("").trim_end() != c.body.trim_end() {
            fields.insert("body".into(), c.body.clone().into());
        }
        if fields.is_empty() {
            return Ok(PrState::from_pr(pr, PrOperation::Unchanged));
        }
        let updated = self.update_pr(pr.number, &Value::Object(fields)).await?;
        Ok(PrState::from_pr(updated, PrOperation::Updated))
    }

    /// A PR opened in the commit's document: labelled and its reviewers asked in
    /// one more document (`addLabelsToLabelable`, `requestReviews`) with the ids
    /// that document read; a label or user it did not find by name goes through
    /// REST as for [`GitHub::decorate`] (REST makes a missing label; GraphQL
    /// needs one that exists). A refusal is a warning, as there.
    pub(crate) async fn decorate_opened(&self, o: &OpenedPr, c: &PrContent) -> PrState {
        let number = o.pr.number;
        let r = self.decorate_with_ids(o, c).await;
        warn_undecorated(number, r);
        PrState::from_pr(o.pr.clone(), PrOperation::Created)
    }

    async fn decorate_with_ids(&self, o: &OpenedPr, c: &PrContent) -> anyhow::Result<()> {
        let found = |list: &[(String, Option<String>)]| -> Vec<String> {
            list.iter().filter_map(|(_, id)| id.clone()).collect()
        };
        let missing = |list: &[(String, Option<String>)]| -> Vec<String> {
            list.iter()
                .filter(|(_, id)| id.is_none())
                .map(|(n, _)| n.clone())
                .collect()
        };
        let (label_ids, user_ids) = (found(&o.labels), found(&o.users));
        let mut decl = Vec::new();
        let mut fields = String::new();
        let mut vars = json!({});
        if !label_ids.is_empty() {
            decl.push("$labels: AddLabelsToLabelableInput!");
            fields.push_str(" labels: addLabelsToLabelable(input: $labels) { clientMutationId }");
            vars["labels"] = json!({"labelableId": o.pr.node_id, "labelIds": label_ids});
        }
        if !user_ids.is_empty() {
            decl.push("$reviews: RequestReviewsInput!");
            fields.push_str(" reviews: requestReviews(input: $reviews) { clientMutationId }");
            vars["reviews"] =
                json!({"pullRequestId": o.pr.node_id, "userIds": user_ids, "union": true});
        }
        if !fields.is_empty() {
            let query = format!("mutation({}) {{{fields} }}", decl.join(", "));
            // Adding a label twice or asking a reviewer twice changes nothing:
            // `graphql` may send it again after a lost answer.
            let v = self
                .graphql("label the pull request and request reviewers", &query, vars)
                .await?;
            if let Some(errors) = v["errors"].as_array().filter(|e| !e.is_empty()) {
                let text: Vec<String> = errors
                    .iter()
                    .map(|e| self.scrub(e["message"].as_str().unwrap_or_default()))
                    .collect();
                return Err(anyhow::anyhow!(
                    "GitHub refused the labels or reviewers: {}",
                    text.join("; ")
                ));
            }
        }
        // What the document could not name by id, and the teams, as before.
        let mut rest = PrContent {
            labels: missing(&o.labels),
            reviewers: missing(&o.users),
            ..Default::default()
        };
        rest.reviewers
            .extend(c.reviewers.iter().filter(|r| r.contains('/')).cloned());
        self.decorate(o.pr.number, &rest).await
    }

    /// Labels and reviewers of a new PR.
    pub(crate) async fn decorate(&self, number: u64, c: &PrContent) -> anyhow::Result<()> {
        if !c.labels.is_empty() {
            self.call_as(
                Method::POST,
                &self.repo_path(&format!("/issues/{number}/labels")),
                Some(&json!({"labels": c.labels})),
                "label the pull request",
                Resend::Safe,
            )
            .await?;
        }
        // Users and teams in separate calls: GitHub answers a team it can't resolve
        // for this token (always so for `GITHUB_TOKEN`, which has no organization
        // permissions) with 422 "Could not resolve to a node with the global id of
        // …" for the whole call, dropping the users with it (PyGithub/PyGithub#1499,
        // vsoch/pull-request-action#29; actions/github-script#572: "The Actions
        // GITHUB_TOKEN won't have any organization permissions").
        let (users, teams) = split_reviewers(&c.reviewers);
        let path = self.repo_path(&format!("/pulls/{number}/requested_reviewers"));
        // Requesting a reviewer twice requests them once: safe to resend.
        if !users.is_empty() {
            self.call_as(
                Method::POST,
                &path,
                Some(&json!({"reviewers": users})),
                "request reviewers",
                Resend::Safe,
            )
            .await?;
        }
        let names = || -> Vec<String> {
            c.reviewers
                .iter()
                .filter(|r| r.contains('/'))
                .cloned()
                .collect()
        };
        // The workflow's `GITHUB_TOKEN` (told by `viewer`, read in the run's first
        // query) is always refused team reviewers: 422 "Could not resolve to a node
        // with the global id of …" (peter-evans/create-pull-request#155,
        // actions/github-script#284; it has no organization permissions). Not sent.
        if !teams.is_empty() && self.viewer.get().map(String::as_str) == Some(ACTIONS_BOT) {
            let msg = format!(
                "could not request the team reviewers {} on PR #{number}: GitHub refuses team reviewers to a `GITHUB_TOKEN`, which cannot see organization teams (it answers 422 \"Could not resolve to a node…\"), so they were not asked; pass a GitHub App token (organization `members: read`) as `token`, or list users as reviewers",
                names().join(", ")
            );
            crate::output::warning(&msg);
            println!("{msg}");
            return Ok(());
        }
        if !teams.is_empty() {
            let a = self
                .send_as(
                    Method::POST,
                    &path,
                    Some(&json!({"team_reviewers": teams})),
                    Resend::Safe,
                )
                .await?;
            if a.status == reqwest::StatusCode::UNPROCESSABLE_ENTITY {
                let names = names();
                let msg = format!(
                    "could not request the team reviewers {} on PR #{number}: GitHub answered 422 {}; a `GITHUB_TOKEN` cannot see organization teams, so pass a GitHub App token (organization `members: read`) as `token`, or list users as reviewers",
                    names.join(", "),
                    self.scrub(&a.message())
                );
                crate::output::warning(&msg);
                println!("{msg}");
            } else if !a.status.is_success() {
                return Err(self.error("request team reviewers", &a));
            }
        }
        Ok(())
    }

    /// Close our open PR for `head` → `base` (the base already has the change).
    pub async fn close_stale(
        &self,
        head: &str,
        base: &str,
        comment: Option<&str>,
    ) -> anyhow::Result<Option<PrState>> {
        let Some(pr) = self.find_open_pr(head, base).await? else {
            return Ok(None);
        };
        if let Some(text) = comment {
            // A comment is not worth a second copy: after a lost answer, go on.
            match self
                .call(
                    Method::POST,
                    &self.repo_path(&format!("/issues/{}/comments", pr.number)),
                    Some(&json!({"body": text})),
                    "comment on the pull request",
                )
                .await
            {
                Err(e) if is_unclear(&e) => eprintln!("github: {e:#}; not commenting again"),
                r => {
                    r?;
                }
            }
        }
        let closed = self
            .update_pr(pr.number, &json!({"state": "closed"}))
            .await?;
        Ok(Some(PrState::from_pr(closed, PrOperation::Closed)))
    }

    /// `PUT …/pulls/{n}/merge`, only if the head is still `sha`.
    ///
    /// The head-sha guard makes the merge safe to resend. When a resent merge is
    /// refused, or no answer comes at all, the PR is read: an earlier copy may have
    /// merged it, and a merged PR is merged.
    pub async fn merge_now(
        &self,
        number: u64,
        sha: &str,
        method: MergeMethod,
    ) -> anyhow::Result<MergeTry> {
        let body = json!({"sha": sha, "merge_method": method.as_str()});
        let a = match self
            .send(
                Method::PUT,
                &self.repo_path(&format!("/pulls/{number}/merge")),
                Some(&body),
            )
            .await
        {
            Ok(a) => a,
            Err(e) => {
                return match self.merged_at(number, sha).await {
                    Some(m) => Ok(m),
                    None => Err(e),
                };
            }
        };
        let refused = match a.status.as_u16() {
            200 => {
                #[derive(Deserialize)]
                struct Merged {
                    sha: Option<String>,
                    merged: Option<bool>,
                }
                let m: Merged = a.json("the merge")?;
                if m.merged == Some(false) {
                    MergeTry::Refused(a.message())
                } else {
                    return Ok(MergeTry::Merged(m.sha.unwrap_or_default()));
                }
            }
            405 => MergeTry::Refused(self.scrub(&a.message())),
            409 => MergeTry::HeadModified(self.scrub(&a.message())),
            _ => {
                if a.resent
                    && let Some(m) = self.merged_at(number, sha).await
                {
                    return Ok(m);
                }
                return Err(self.error(&format!("merge pull request #{number}"), &a));
            }
        };
        if a.resent
            && let Some(m) = self.merged_at(number, sha).await
        {
            return Ok(m);
        }
        Ok(refused)
    }

    /// Merge `pr` at its head: through REST, or, where the run asked to read
    /// something right after ([`GitHub::read_after`]), through GraphQL's
    /// `mergePullRequest` with that read in its payload (the base tip after the
    /// merge, its files and the next release branch: no read of its own). Both
    /// refuse with the same texts ("Head branch was modified. Review and try the
    /// merge again.", "Base branch was modified…": rocq-prover/bot#215 and
    /// ridedott/merge-me-action#458 quote GraphQL's; REST docs "Merge a pull
    /// request" for 405/409).
    pub(crate) async fn merge_pr(
        &self,
        pr: &PrState,
        method: MergeMethod,
    ) -> anyhow::Result<MergeTry> {
        let shape = self
            .read_after_merge
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(shape) = shape.filter(|_| !pr.node_id.is_empty()) else {
            return self.merge_now(pr.number, &pr.head_sha, method).await;
        };
        let query = format!(
            "mutation($merge: MergePullRequestInput!{}) {{ merge: mergePullRequest(input: $merge) {{ pullRequest {{ merged mergeCommit {{ oid }} repository {{ {} }} }} }} }}",
            shape.decl, shape.fields
        );
        let mut vars = shape.vars.clone();
        vars["merge"] = json!({
            "pullRequestId": pr.node_id,
            "expectedHeadOid": pr.head_sha,
            "mergeMethod": method.graphql(),
        });
        let number = pr.number;
        // Guarded by the head sha: safe to send again after a lost answer, and a
        // copy refused after one is checked against the PR (as for REST).
        let (v, resent) = match self
            .graphql_resent(&format!("merge pull request #{number}"), &query, vars)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                return match self.merged_at(number, &pr.head_sha).await {
                    Some(m) => Ok(m),
                    None => Err(e),
                };
            }
        };
        let node = &v["data"]["merge"]["pullRequest"];
        if node["merged"].as_bool() == Some(true) {
            let sha = node["mergeCommit"]["oid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match self.parse_read(&node["repository"], &shape) {
                Ok(read) => {
                    *self.after_merge.lock().unwrap_or_else(|p| p.into_inner()) = Some(read)
                }
                // The merge stands; the next step reads for itself.
                Err(e) => eprintln!("github: the read after the merge of #{number}: {e:#}"),
            }
            return Ok(MergeTry::Merged(sha));
        }
        let msg = self.scrub(
            &v["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["message"].as_str())
                .collect::<Vec<_>>()
                .join("; "),
        );
        if resent && let Some(m) = self.merged_at(number, &pr.head_sha).await {
            return Ok(m);
        }
        if msg.to_lowercase().contains("head branch was modified") {
            return Ok(MergeTry::HeadModified(msg));
        }
        if msg.is_empty() {
            return Err(anyhow::anyhow!(
                "GitHub answered the merge of pull request #{number} with neither a merge nor an error"
            ));
        }
        Ok(MergeTry::Refused(msg))
    }

    /// Read `shape` in the payload of this run's next merge (see
    /// [`GitHub::merge_pr`]); the read is then [`GitHub::take_after_merge`]'s.
    pub(crate) fn read_after(&self, shape: Option<commits::ReadShape>) {
        *self
            .read_after_merge
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = shape;
    }

    /// What the last merge's payload read, once.
    pub(crate) fn take_after_merge(&self) -> Option<commits::Branches> {
        self.after_merge
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// `Merged` when PR `number` is merged with head `sha` (read after an unclear
    /// merge); `None` when it is not, or cannot be read.
    async fn merged_at(&self, number: u64, sha: &str) -> Option<MergeTry> {
        let pr = self.get_pr(number).await.ok()?;
        if pr.merged == Some(true) && pr.head.sha == sha {
            eprintln!("github: #{number} is merged (an earlier, unanswered merge did it)");
            return Some(MergeTry::Merged(pr.merge_commit_sha.unwrap_or_default()));
        }
        None
    }

    /// GraphQL `enablePullRequestAutoMerge`, guarded by the head sha.
    pub async fn enable_auto_merge(
        &self,
        node_id: &str,
        sha: &str,
        method: MergeMethod,
    ) -> anyhow::Result<AutoMerge> {
        let query = "mutation($id: ID!, $method: PullRequestMergeMethod!, $oid: GitObjectID) {\n  enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: $method, expectedHeadOid: $oid}) {\n    pullRequest { number autoMergeRequest { enabledAt } }\n  }\n}";
        let body = json!({"query": query, "variables": {"id": node_id, "method": method.graphql(), "oid": sha}});
        // Enabling auto-merge that is enabled already changes nothing: safe to resend.
        let a = self
            .send_as(Method::POST, GRAPHQL, Some(&body), Resend::Safe)
            .await?;
        if !a.status.is_success() {
            return Err(self.error("enable auto-merge", &a));
        }
        let v: Value = a.json("the auto-merge mutation")?;
        let errors: Vec<String> = v["errors"]
            .as_array()
            .map(|es| {
                es.iter()
                    .filter_map(|e| e["message"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if errors.is_empty() && !v["data"]["enablePullRequestAutoMerge"].is_null() {
            return Ok(AutoMerge::Enabled);
        }
        let msg = self.scrub(&errors.join("; "));
        let lower = msg.to_lowercase();
        if lower.contains("clean status") {
            Ok(AutoMerge::Clean)
        } else if lower.contains("already merged") || lower.contains("is merged") {
            Ok(AutoMerge::AlreadyMerged)
        } else {
            Ok(AutoMerge::Refused(msg))
        }
    }

    /// Apply the merge policy to the PR we just opened or updated at `pr.head_sha`.
    pub async fn apply_policy(
        &self,
        pr: &PrState,
        policy: MergePolicy,
        method: MergeMethod,
    ) -> anyhow::Result<MergeOutcome> {
        match policy {
            MergePolicy::Never => Ok(MergeOutcome::Left),
            MergePolicy::Immediate => match self.merge_pr(pr, method).await? {
                MergeTry::Merged(sha) => Ok(MergeOutcome::Merged(sha)),
                MergeTry::HeadModified(m) => Ok(MergeOutcome::HeadModified(m)),
                MergeTry::Refused(m) if is_conflict(&m) => Ok(MergeOutcome::Conflict(m)),
                MergeTry::Refused(m) => match self
                    .enable_auto_merge(&pr.node_id, &pr.head_sha, method)
                    .await?
                {
                    AutoMerge::Enabled => Ok(MergeOutcome::AutoMerge(Some(m))),
                    AutoMerge::AlreadyMerged => Ok(MergeOutcome::Merged(String::new())),
                    AutoMerge::Clean | AutoMerge::Refused(_) => Ok(MergeOutcome::Blocked(m)),
                },
            },
            // `direct` opens no PR; given one anyway, it merges as `auto` does.
            MergePolicy::Auto | MergePolicy::Direct => {
                if pr.auto_merge {
                    // Still enabled from an earlier run; a leased push keeps it.
                    return Ok(MergeOutcome::AutoMerge(None));
                }
                // Right after a create or a push GitHub reports `mergeable: null`
                // (computed in the background), so asking first would cost a call and
                // often still say nothing. Trying the guarded merge answers "mergeable
                // now?" and merges in one call; 405 means checks or reviews are pending.
                match self.merge_pr(pr, method).await? {
                    MergeTry::Merged(sha) => Ok(MergeOutcome::Merged(sha)),
                    MergeTry::HeadModified(m) => Ok(MergeOutcome::HeadModified(m)),
                    MergeTry::Refused(m) if is_conflict(&m) => Ok(MergeOutcome::Conflict(m)),
                    MergeTry::Refused(m) => {
                        match self
                            .enable_auto_merge(&pr.node_id, &pr.head_sha, method)
                            .await?
                        {
                            AutoMerge::Enabled => Ok(MergeOutcome::AutoMerge(Some(m))),
                            AutoMerge::AlreadyMerged => Ok(MergeOutcome::Merged(String::new())),
                            // The checks finished between the two calls: merge now.
                            AutoMerge::Clean => match self.merge_pr(pr, method).await? {
                                MergeTry::Merged(sha) => Ok(MergeOutcome::Merged(sha)),
                                MergeTry::HeadModified(m) => Ok(MergeOutcome::HeadModified(m)),
                                MergeTry::Refused(m2) => Ok(MergeOutcome::Blocked(m2)),
                            },
                            AutoMerge::Refused(a) => {
                                Ok(MergeOutcome::Blocked(format!("{m}; auto-merge: {a}")))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The PR exists and carries the change; labels or reviewers GitHub refuses (a
/// team that doesn't exist, a non-collaborator) are a warning to fix, not a
/// failed release. Branch protection and CODEOWNERS still enforce the reviews.
fn warn_undecorated(number: u64, r: anyhow::Result<()>) {
    if let Err(e) = r {
        let msg = format!(
            "pull request #{number} is open, but {e:#}; check `reviewers` and `labels` of the environment"
        );
        crate::output::warning(&msg);
        eprintln!("warning: {msg}");
    }
}

pub(crate) fn is_conflict(msg: &str) -> bool {
    let m = msg.to_lowercase();
    m.contains("conflict") || m.contains("not mergeable") || m.contains("base branch was modified")
}

pub(crate) fn split_reviewers(reviewers: &[String]) -> (Vec<&str>, Vec<&str>) {
    let mut users = Vec::new();
    let mut teams = Vec::new();
    for r in reviewers {
        let r = r.trim_start_matches('@');
        match r.split_once('/') {
            Some((_, team)) => teams.push(team),
            None => users.push(r),
        }
    }
    (users, teams)
}
