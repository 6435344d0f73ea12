//! GitHub over octocrab: idempotent release PRs, merge or auto-merge with a head-sha
//! guard, and the calls deploy/promote need. Every request is counted.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use http::{Method, StatusCode};
use octocrab::Octocrab;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{Failure, UserError};
use crate::git::{Publish, Published, Target, Workspace};

/// Stands for the GraphQL endpoint in [`GitHub::send`].
const GRAPHQL: &str = "graphql:";

/// An octocrab client rooted at `base`, with our headers and the token.
fn client(base: http::Uri, opts: &GitHubOptions) -> anyhow::Result<Octocrab> {
    let mut builder = Octocrab::builder()
        .base_uri(base)
        .map_err(|e| Failure::new(format!("cannot use `{}`: {e}", opts.api_url)))?
        .set_connect_timeout(Some(Duration::from_secs(10)))
        .set_read_timeout(Some(Duration::from_secs(60)))
        .add_header(http::header::ACCEPT, "application/vnd.github+json".into())
        .add_header(
            http::HeaderName::from_static("x-github-api-version"),
            "2022-11-28".into(),
        );
    if let Some(t) = &opts.token {
        builder = builder.personal_token(t.clone());
    }
    Ok(builder
        .build()
        .map_err(|e| Failure::new(format!("cannot build the GitHub client: {e}")))?)
}

/// Where GitHub is: github.com or a GitHub Enterprise Server.
#[derive(Debug, Clone)]
pub struct GitHubOptions {
    /// REST base, `GITHUB_API_URL` (`https://api.github.com`, `https://HOST/api/v3`).
    pub api_url: String,
    /// `GITHUB_GRAPHQL_URL` (`https://api.github.com/graphql`, `https://HOST/api/graphql`).
    pub graphql_url: String,
    /// `GITHUB_SERVER_URL`, for links.
    pub server_url: String,
    pub token: Option<String>,
    /// `owner/name`.
    pub repository: String,
    /// Attempts per request for 5xx and secondary rate limits.
    pub max_attempts: u32,
    /// Longest wait a `Retry-After` may ask for before we give up instead.
    pub max_wait: Duration,
}

impl GitHubOptions {
    /// From the Actions environment; `repository` falls back to `GITHUB_REPOSITORY`.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let api_url = var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
        let graphql_url = var("GITHUB_GRAPHQL_URL").unwrap_or_else(|| {
            // GHES serves GraphQL at /api/graphql next to /api/v3.
            match api_url.strip_suffix("/api/v3") {
                Some(host) => format!("{host}/api/graphql"),
                None => format!("{}/graphql", api_url.trim_end_matches('/')),
            }
        });
        GitHubOptions {
            api_url,
            graphql_url,
            server_url: var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()),
            token: var("INPUT_TOKEN").or_else(|| var("GITHUB_TOKEN")),
            repository: var("GITHUB_REPOSITORY").unwrap_or_default(),
            max_attempts: 4,
            max_wait: Duration::from_secs(60),
        }
    }
}

/// A client bound to one repository.
pub struct GitHub {
    octo: Octocrab,
    gql: Octocrab,
    api: http::Uri,
    graphql: http::Uri,
    server_url: String,
    owner: String,
    repo: String,
    token: Option<String>,
    max_attempts: u32,
    max_wait: Duration,
    calls: AtomicU32,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("api", &self.api)
            .field("repository", &format!("{}/{}", self.owner, self.repo))
            .finish_non_exhaustive()
    }
}

/// One answer, read whole.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: String,
}

impl Answer {
    fn json<T: DeserializeOwned>(&self, what: &str) -> anyhow::Result<T> {
        serde_json::from_str(&self.body)
            .with_context(|| format!("GitHub answered {what} with an unexpected body"))
    }

    fn message(&self) -> String {
        error_message(&self.body)
    }
}

impl GitHub {
    /// Needs a Tokio runtime (octocrab spawns its connection pool on it).
    pub fn new(opts: &GitHubOptions) -> anyhow::Result<Self> {
        let (owner, repo) = opts
            .repository
            .split_once('/')
            .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
            .ok_or_else(|| {
                UserError::new(format!("`{}` is not a repository name", opts.repository)).hint(
                    "write it as `owner/name`, or run in Actions where `GITHUB_REPOSITORY` is set",
                )
            })?;
        let api: http::Uri = opts
            .api_url
            .trim_end_matches('/')
            .parse()
            .map_err(|_| UserError::new(format!("`{}` is not a URL", opts.api_url)))?;
        let graphql: http::Uri = opts
            .graphql_url
            .parse()
            .map_err(|_| UserError::new(format!("`{}` is not a URL", opts.graphql_url)))?;
        if let Some(t) = &opts.token {
            crate::action::register_secret(t);
        }
        let octo = client(api.clone(), opts)?;
        // octocrab joins every path onto the base URI's path, so GraphQL (`/api/graphql`
        // next to GHES's `/api/v3`) gets a client rooted at its host.
        let root = http::Uri::builder()
            .scheme(graphql.scheme_str().unwrap_or("https"))
            .authority(graphql.authority().map(|a| a.as_str()).unwrap_or_default())
            .path_and_query("/")
            .build()
            .map_err(|_| UserError::new(format!("`{}` is not a URL", opts.graphql_url)))?;
        let gql = client(root, opts)?;
        Ok(GitHub {
            octo,
            gql,
            api,
            graphql,
            server_url: opts.server_url.trim_end_matches('/').to_string(),
            owner: owner.to_string(),
            repo: repo.to_string(),
            token: opts.token.clone(),
            max_attempts: opts.max_attempts.max(1),
            max_wait: opts.max_wait,
            calls: AtomicU32::new(0),
        })
    }

    /// Requests sent so far (retries included).
    pub fn api_calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }

    /// `api calls: N` on stderr, for the log.
    pub fn log_calls(&self) {
        eprintln!("api calls: {}", self.api_calls());
    }

    /// `owner/name`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }

    /// The repository's web address.
    pub fn web_url(&self) -> String {
        format!("{}/{}/{}", self.server_url, self.owner, self.repo)
    }

    fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{}/{}{rest}", self.owner, self.repo)
    }

    /// Send one request, retrying 5xx and rate limits; any other status is returned.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let (octo, uri): (&Octocrab, http::Uri) = if path == GRAPHQL {
            let p = self
                .graphql
                .path_and_query()
                .map_or("/graphql", |p| p.as_str());
            (&self.gql, p.parse().context("bad GraphQL path")?)
        } else {
            (&self.octo, path.parse().context("bad path")?)
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.calls.fetch_add(1, Ordering::Relaxed);
            let req = http::Request::builder()
                .method(method.clone())
                .uri(uri.clone());
            let req = octo
                .build_request(req, body)
                .map_err(|e| Failure::new(format!("cannot build a request for `{path}`: {e}")))?;
            let sent = octo.execute(req).await;
            let (status, headers, body_text) = match sent {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let text = octo.body_to_string(resp).await.unwrap_or_default();
                    (status, headers, text)
                }
                Err(e) => {
                    if attempt < self.max_attempts {
                        tokio::time::sleep(retry_delay(attempt)).await;
                        continue;
                    }
                    return Err(Failure::new(format!(
                        "cannot reach GitHub at `{}`: {}",
                        self.api,
                        self.scrub(&e.to_string())
                    ))
                    .hint("check `GITHUB_API_URL` and the network")
                    .into());
                }
            };
            let wait = retry_wait(status, &headers, &body_text);
            if let Some(wait) = wait
                && attempt < self.max_attempts
                && wait <= self.max_wait
            {
                tokio::time::sleep(wait.max(retry_delay(attempt) / 4)).await;
                continue;
            }
            return Ok(Answer {
                status,
                body: body_text,
            });
        }
    }

    fn scrub(&self, text: &str) -> String {
        let text = crate::action::redact(text);
        match &self.token {
            Some(t) if !t.is_empty() => text.replace(t.as_str(), "***"),
            _ => text,
        }
    }

    /// Send and require 2xx; other answers become errors with hints.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> anyhow::Result<Answer> {
        let a = self.send(method, path, body).await?;
        if a.status.is_success() {
            Ok(a)
        } else {
            Err(self.error(what, &a))
        }
    }

    /// An error for a non-2xx answer: message scrubbed, hint for the known causes.
    fn error(&self, what: &str, a: &Answer) -> anyhow::Error {
        let msg = self.scrub(&a.message());
        let text = format!("cannot {what}: GitHub answered {} {msg}", a.status.as_u16());
        let lower = msg.to_lowercase();
        let f = Failure::new(text);
        let f = match a.status.as_u16() {
            401 => f.hint(if self.token.is_some() {
                "GitHub refused the token: pass a valid one in the `token` input"
            } else {
                "set the `token` input (e.g. `${{ github.token }}`)"
            }),
            403 if lower.contains("not permitted to create or approve pull requests") => f.hint(
                "allow it in Settings → Actions → General → Workflow permissions: \"Allow GitHub Actions to create and approve pull requests\" (for an organization, its setting too), or use a GitHub App token",
            ),
            403 if lower.contains("resource not accessible") => f.hint(
                "give the workflow `permissions: {contents: write, pull-requests: write}` (and `deployments: write`, `actions: write` for deploy)",
            ),
            403 | 404 if lower.contains("workflow") && lower.contains("permission") => f.hint(
                "changes to `.github/workflows` need a token with the `workflows` permission, which `GITHUB_TOKEN` never has",
            ),
            404 => f.hint(format!(
                "check that `{}` exists and the token can see it",
                self.repository()
            )),
            405 | 422 if lower.contains("protect") || lower.contains("required") => {
                f.hint(format!("a branch protection rule refused it: {msg}"))
            }
            _ => f,
        };
        f.into()
    }

    // -- pull requests ------------------------------------------------------

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
        let (pr, operation) = match self.find_open_pr(head, base).await? {
            None => {
                let pr = match self.create_pr(head, base, c).await {
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
                if let Err(e) = self.decorate(pr.number, c).await {
                    let msg = format!(
                        "pull request #{} is open, but {e:#}; check `reviewers` and `labels` of the environment",
                        pr.number
                    );
                    crate::action::warning(&msg);
                    eprintln!("warning: {msg}");
                }
                (pr, PrOperation::Created)
            }
            Some(pr) => return self.refresh(pr, c).await,
        };
        Ok(PrState::from_pr(pr, operation))
    }

    async fn refresh(&self, pr: PullRequest, c: &PrContent) -> anyhow::Result<PrState> {
        // Labels an earlier run could not add (they are in the list answer already,
        // so a complete PR costs no call). Reviewers are not topped up: GitHub drops
        // a reviewer from the requested list once they review.
        let missing: Vec<&String> = c
            .labels
            .iter()
            .filter(|l| !pr.labels.iter().any(|have| &have.name == *l))
            .collect();
        if !missing.is_empty() {
            self.call(
                Method::POST,
                &self.repo_path(&format!("/issues/{}/labels", pr.number)),
                Some(&json!({"labels": missing})),
                "label the pull request",
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

    /// Labels and reviewers of a new PR.
    async fn decorate(&self, number: u64, c: &PrContent) -> anyhow::Result<()> {
        if !c.labels.is_empty() {
            self.call(
                Method::POST,
                &self.repo_path(&format!("/issues/{number}/labels")),
                Some(&json!({"labels": c.labels})),
                "label the pull request",
            )
            .await?;
        }
        let (users, teams) = split_reviewers(&c.reviewers);
        if !users.is_empty() || !teams.is_empty() {
            self.call(
                Method::POST,
                &self.repo_path(&format!("/pulls/{number}/requested_reviewers")),
                Some(&json!({"reviewers": users, "team_reviewers": teams})),
                "request reviewers",
            )
            .await?;
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
            self.call(
                Method::POST,
                &self.repo_path(&format!("/issues/{}/comments", pr.number)),
                Some(&json!({"body": text})),
                "comment on the pull request",
            )
            .await?;
        }
        let closed = self
            .update_pr(pr.number, &json!({"state": "closed"}))
            .await?;
        Ok(Some(PrState::from_pr(closed, PrOperation::Closed)))
    }

    // -- merging ------------------------------------------------------------

    /// `PUT …/pulls/{n}/merge`, only if the head is still `sha`.
    pub async fn merge_now(
        &self,
        number: u64,
        sha: &str,
        method: MergeMethod,
    ) -> anyhow::Result<MergeTry> {
        let body = json!({"sha": sha, "merge_method": method.as_str()});
        let a = self
            .send(
                Method::PUT,
                &self.repo_path(&format!("/pulls/{number}/merge")),
                Some(&body),
            )
            .await?;
        match a.status.as_u16() {
            200 => {
                #[derive(Deserialize)]
                struct Merged {
                    sha: Option<String>,
                    merged: Option<bool>,
                }
                let m: Merged = a.json("the merge")?;
                if m.merged == Some(false) {
                    return Ok(MergeTry::Refused(a.message()));
                }
                Ok(MergeTry::Merged(m.sha.unwrap_or_default()))
            }
            405 => Ok(MergeTry::Refused(self.scrub(&a.message()))),
            409 => Ok(MergeTry::HeadModified(self.scrub(&a.message()))),
            _ => Err(self.error(&format!("merge pull request #{number}"), &a)),
        }
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
        let a = self.send(Method::POST, GRAPHQL, Some(&body)).await?;
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
            MergePolicy::Immediate => {
                match self.merge_now(pr.number, &pr.head_sha, method).await? {
                    MergeTry::Merged(sha) => Ok(MergeOutcome::Merged(sha)),
                    MergeTry::HeadModified(m) => Ok(MergeOutcome::HeadModified(m)),
                    MergeTry::Refused(m) if is_conflict(&m) => Ok(MergeOutcome::Conflict(m)),
                    MergeTry::Refused(m) => match self
                        .enable_auto_merge(&pr.node_id, &pr.head_sha, method)
                        .await?
                    {
                        AutoMerge::Enabled => Ok(MergeOutcome::AutoMerge),
                        AutoMerge::AlreadyMerged => Ok(MergeOutcome::Merged(String::new())),
                        AutoMerge::Clean | AutoMerge::Refused(_) => Ok(MergeOutcome::Blocked(m)),
                    },
                }
            }
            MergePolicy::Auto => {
                if pr.auto_merge {
                    // Still enabled from an earlier run; a leased push keeps it.
                    return Ok(MergeOutcome::AutoMerge);
                }
                // Right after a create or a push GitHub reports `mergeable: null`
                // (computed in the background), so asking first would cost a call and
                // often still say nothing. Trying the guarded merge answers "mergeable
                // now?" and merges in one call; 405 means checks or reviews are pending.
                match self.merge_now(pr.number, &pr.head_sha, method).await? {
                    MergeTry::Merged(sha) => Ok(MergeOutcome::Merged(sha)),
                    MergeTry::HeadModified(m) => Ok(MergeOutcome::HeadModified(m)),
                    MergeTry::Refused(m) if is_conflict(&m) => Ok(MergeOutcome::Conflict(m)),
                    MergeTry::Refused(m) => {
                        match self
                            .enable_auto_merge(&pr.node_id, &pr.head_sha, method)
                            .await?
                        {
                            AutoMerge::Enabled => Ok(MergeOutcome::AutoMerge),
                            AutoMerge::AlreadyMerged => Ok(MergeOutcome::Merged(String::new())),
                            // The checks finished between the two calls: merge now.
                            AutoMerge::Clean => {
                                match self.merge_now(pr.number, &pr.head_sha, method).await? {
                                    MergeTry::Merged(sha) => Ok(MergeOutcome::Merged(sha)),
                                    MergeTry::HeadModified(m) => Ok(MergeOutcome::HeadModified(m)),
                                    MergeTry::Refused(m2) => Ok(MergeOutcome::Blocked(m2)),
                                }
                            }
                            AutoMerge::Refused(a) => {
                                Ok(MergeOutcome::Blocked(format!("{m}; auto-merge: {a}")))
                            }
                        }
                    }
                }
            }
        }
    }

    /// `DELETE /git/refs/heads/{branch}`.
    pub async fn delete_branch(&self, branch: &str) -> anyhow::Result<()> {
        let a = self
            .send(
                Method::DELETE,
                &self.repo_path(&format!("/git/refs/heads/{}", enc_path(branch))),
                None,
            )
            .await?;
        if a.status.is_success() || a.status == StatusCode::UNPROCESSABLE_ENTITY {
            return Ok(()); // 422: already gone
        }
        Err(self.error(&format!("delete branch `{branch}`"), &a))
    }

    // -- reading ------------------------------------------------------------

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
        // `role_name` tells maintain/triage apart; `permission` folds them into write/read.
        Ok(v["role_name"]
            .as_str()
            .or(v["permission"].as_str())
            .unwrap_or("none")
            .to_string())
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

    // -- deployments and dispatches ----------------------------------------

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

// -- models: only the fields we read ----------------------------------------

#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    #[serde(default)]
    pub node_id: String,
    #[serde(default)]
    pub html_url: String,
    pub state: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub head: BranchRef,
    pub base: BranchRef,
    #[serde(default)]
    pub mergeable: Option<bool>,
    #[serde(default)]
    pub mergeable_state: Option<String>,
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub auto_merge: Option<Value>,
    #[serde(default)]
    pub draft: Option<bool>,
    #[serde(default)]
    pub labels: Vec<Label>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BranchRef {
    #[serde(rename = "ref")]
    pub ref_field: String,
    pub sha: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Comparison {
    #[serde(default)]
    pub html_url: String,
    #[serde(default)]
    pub ahead_by: u64,
    #[serde(default)]
    pub behind_by: u64,
    #[serde(default)]
    pub commits: Vec<CommitRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommitRef {
    pub sha: String,
    #[serde(default)]
    pub html_url: String,
    pub commit: CommitDetail,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommitDetail {
    pub message: String,
    #[serde(default)]
    pub author: Option<GitActor>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GitActor {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub date: Option<String>,
}

// -- outcomes ------------------------------------------------------------

/// What the PR step did, for the `pr-operation` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrOperation {
    Created,
    Updated,
    Unchanged,
    Closed,
}

impl PrOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            PrOperation::Created => "created",
            PrOperation::Updated => "updated",
            PrOperation::Unchanged => "unchanged",
            PrOperation::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrState {
    pub number: u64,
    pub url: String,
    pub node_id: String,
    pub head_sha: String,
    pub operation: PrOperation,
    /// Auto-merge already enabled on this PR.
    pub auto_merge: bool,
}

impl PrState {
    fn from_pr(pr: PullRequest, operation: PrOperation) -> Self {
        PrState {
            number: pr.number,
            url: pr.html_url,
            node_id: pr.node_id,
            head_sha: pr.head.sha,
            operation,
            auto_merge: pr.auto_merge.is_some_and(|v| !v.is_null()),
        }
    }
}

/// What to put in the PR; built by the caller (see [`pr_title`], [`PrBody`]).
#[derive(Debug, Clone, Default)]
pub struct PrContent {
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    /// Users, and teams as `org/team`.
    pub reviewers: Vec<String>,
    pub draft: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergePolicy {
    /// Merge now; fall back to auto-merge when checks or reviews are pending.
    Immediate,
    /// Merge when mergeable, else let GitHub merge once checks pass.
    #[default]
    Auto,
    /// Leave it for reviewers.
    Never,
}

impl std::str::FromStr for MergePolicy {
    type Err = UserError;
    fn from_str(s: &str) -> Result<Self, UserError> {
        match s {
            "immediate" => Ok(MergePolicy::Immediate),
            "auto" => Ok(MergePolicy::Auto),
            "never" => Ok(MergePolicy::Never),
            _ => Err(UserError::new(format!("`{s}` is not a merge policy"))
                .hint("use `auto`, `immediate`, `never` or `direct`")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeMethod {
    #[default]
    Squash,
    Merge,
    Rebase,
}

impl MergeMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMethod::Squash => "squash",
            MergeMethod::Merge => "merge",
            MergeMethod::Rebase => "rebase",
        }
    }

    fn graphql(self) -> &'static str {
        match self {
            MergeMethod::Squash => "SQUASH",
            MergeMethod::Merge => "MERGE",
            MergeMethod::Rebase => "REBASE",
        }
    }
}

impl std::str::FromStr for MergeMethod {
    type Err = UserError;
    fn from_str(s: &str) -> Result<Self, UserError> {
        match s {
            "squash" => Ok(MergeMethod::Squash),
            "merge" => Ok(MergeMethod::Merge),
            "rebase" => Ok(MergeMethod::Rebase),
            _ => Err(UserError::new(format!("input `merge-method` is `{s}`"))
                .hint("use `squash`, `merge` or `rebase`")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeTry {
    Merged(String),
    /// 405: not mergeable now (checks, reviews, conflicts), with GitHub's reason.
    Refused(String),
    /// 409: the head is no longer the sha we pushed.
    HeadModified(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoMerge {
    Enabled,
    /// "Pull request is in clean status": mergeable right now.
    Clean,
    AlreadyMerged,
    Refused(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    Merged(String),
    AutoMerge,
    Left,
    /// Conflicts with the base: re-apply the edit on the new base.
    Conflict(String),
    /// Someone pushed to our branch after us.
    HeadModified(String),
    /// Not mergeable and auto-merge not possible; GitHub's reason.
    Blocked(String),
}

fn is_conflict(msg: &str) -> bool {
    let m = msg.to_lowercase();
    m.contains("conflict") || m.contains("not mergeable") || m.contains("base branch was modified")
}

// -- PR content ----------------------------------------------------------

/// `<service>: <env> <old-tag> → <new-tag>`.
pub fn pr_title(service: &str, env: &str, old_tag: Option<&str>, new_tag: &str) -> String {
    format!(
        "{service}: {env} {} → {new_tag}",
        old_tag.unwrap_or("(none)")
    )
}

/// The parts of a release PR's body.
#[derive(Debug, Clone, Default)]
pub struct PrBody {
    pub service: String,
    pub env: String,
    pub image: String,
    pub old_tag: Option<String>,
    pub new_tag: String,
    pub old_digest: Option<String>,
    pub new_digest: Option<String>,
    /// Commits between the old and new source commit (from [`GitHub::compare`]).
    pub commits: Vec<CommitRef>,
    pub compare_url: Option<String>,
    /// Extra `(text, url)` links: the run, the image, the previous PR.
    pub links: Vec<(String, String)>,
}

impl PrBody {
    pub fn render(&self) -> String {
        let cell = |v: Option<&str>| v.map_or("—".to_string(), |v| format!("`{v}`"));
        let mut s = format!("Release of **{}** to **{}**.\n\n", self.service, self.env);
        s.push_str("| | old | new |\n|---|---|---|\n");
        s.push_str(&format!(
            "| image | `{}` | `{}` |\n",
            self.image, self.image
        ));
        s.push_str(&format!(
            "| tag | {} | {} |\n",
            cell(self.old_tag.as_deref()),
            cell(Some(&self.new_tag))
        ));
        s.push_str(&format!(
            "| digest | {} | {} |\n",
            cell(self.old_digest.as_deref()),
            cell(self.new_digest.as_deref())
        ));
        if !self.commits.is_empty() {
            s.push_str(&format!("\n### Commits ({})\n\n", self.commits.len()));
            // Long lists would drown the table; GitHub truncates bodies at 65536 chars.
            for c in self.commits.iter().rev().take(50) {
                let subject = c.commit.message.lines().next().unwrap_or_default();
                let short = &c.sha[..c.sha.len().min(7)];
                if c.html_url.is_empty() {
                    s.push_str(&format!("- {short} {subject}\n"));
                } else {
                    s.push_str(&format!("- [{short}]({}) {subject}\n", c.html_url));
                }
            }
            if self.commits.len() > 50 {
                s.push_str(&format!("- … and {} more\n", self.commits.len() - 50));
            }
        }
        if self.compare_url.is_some() || !self.links.is_empty() {
            s.push_str("\n### Links\n\n");
            if let Some(u) = &self.compare_url {
                s.push_str(&format!("- [Compare]({u})\n"));
            }
            for (t, u) in &self.links {
                s.push_str(&format!("- [{t}]({u})\n"));
            }
        }
        s.push_str("\n<!-- gitops-action -->\n");
        s
    }
}

// -- the whole release step -------------------------------------------------

/// Publish an overlay change and carry it to the base: PR + merge policy, or a
/// direct push.
#[derive(Debug, Clone)]
pub struct Release {
    pub publish: Publish,
    pub content: PrContent,
    pub policy: MergePolicy,
    pub method: MergeMethod,
    /// Times a conflict or a moved head may send us back to re-apply the edit.
    pub max_rounds: u32,
    /// Comment left on a stale PR we close.
    pub close_comment: Option<String>,
}

/// What [`release`] did: the `pr-*`, `merged`, `merge-sha` and `changed` outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseOutcome {
    pub published: Published,
    pub pr: Option<PrState>,
    pub merged: bool,
    pub merge_sha: Option<String>,
    pub auto_merge: bool,
    /// Git retries plus rounds re-applied after conflicts.
    pub retries: u32,
    pub api_calls: u32,
}

impl ReleaseOutcome {
    /// `(name, value)` pairs for `GITHUB_OUTPUT`.
    pub fn outputs(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("changed", self.published.changed.to_string()),
            ("merged", self.merged.to_string()),
            ("merge-sha", self.merge_sha.clone().unwrap_or_default()),
            ("commit", self.published.commit.clone().unwrap_or_default()),
        ];
        if let Some(pr) = &self.pr {
            out.push(("pr-number", pr.number.to_string()));
            out.push(("pr-url", pr.url.clone()));
            out.push(("pr-operation", pr.operation.as_str().to_string()));
        }
        out
    }
}

/// Publish the edit and apply the merge policy, re-applying the edit on the new base
/// when the PR conflicts or our head moved. `Target::Direct` pushes to the base.
pub async fn release(
    ws: &Workspace,
    gh: &GitHub,
    req: &Release,
    edit: &mut dyn FnMut(&str) -> anyhow::Result<Option<String>>,
) -> anyhow::Result<ReleaseOutcome> {
    let calls_before = gh.api_calls();
    let mut retries = 0;
    let mut round = 0;
    loop {
        // libgit2 is blocking; a release does a handful of fetches and one push.
        let published = ws.publish(&req.publish, edit)?;
        retries += published.retries;
        let head = match &req.publish.target {
            Target::Direct => {
                return Ok(ReleaseOutcome {
                    merged: published.pushed,
                    merge_sha: published.commit.clone().filter(|_| published.pushed),
                    pr: None,
                    auto_merge: false,
                    retries,
                    api_calls: gh.api_calls() - calls_before,
                    published,
                });
            }
            Target::Release(b) => b.clone(),
        };
        if !published.changed {
            let pr = gh
                .close_stale(&head, &req.publish.base, req.close_comment.as_deref())
                .await?;
            return Ok(ReleaseOutcome {
                published,
                pr,
                merged: false,
                merge_sha: None,
                auto_merge: false,
                retries,
                api_calls: gh.api_calls() - calls_before,
            });
        }
        let mut pr = gh.ensure_pr(&head, &req.publish.base, &req.content).await?;
        let ours = published.commit.clone().unwrap_or_default();
        if pr.head_sha != ours {
            // GitHub reports the head it has indexed; our leased push is the truth.
            pr.head_sha = ours;
        }
        let outcome = gh.apply_policy(&pr, req.policy, req.method).await?;
        let (merged, merge_sha, auto_merge) = match outcome {
            MergeOutcome::Merged(sha) => (true, Some(sha).filter(|s| !s.is_empty()), false),
            MergeOutcome::AutoMerge => (false, None, true),
            MergeOutcome::Left => (false, None, false),
            MergeOutcome::Conflict(why) | MergeOutcome::HeadModified(why) => {
                round += 1;
                retries += 1;
                if round > req.max_rounds {
                    return Err(Failure::new(format!(
                        "pull request #{} could not be merged after {round} attempts: {why}",
                        pr.number
                    ))
                    .hint("the base keeps changing under the release; run the step again")
                    .into());
                }
                eprintln!(
                    "github: #{} {why}; re-applying the change on the new base",
                    pr.number
                );
                tokio::time::sleep(retry_delay(round)).await;
                continue;
            }
            MergeOutcome::Blocked(why) => {
                if req.policy == MergePolicy::Immediate {
                    return Err(Failure::new(format!("pull request #{} cannot be merged now: {why}", pr.number))
                        .hint("allow auto-merge in the repository settings, use `merge: auto`, or satisfy the branch protection")
                        .into());
                }
                eprintln!("github: #{} left open: {why}", pr.number);
                (false, None, false)
            }
        };
        if merged {
            // After our own merge the branch is ours to delete; a push with a lease
            // on the merged sha costs no API call and cannot delete a newer push.
            if let Err(e) = ws.delete_branch(&head, &pr.head_sha) {
                eprintln!("git: could not delete `{head}`: {e:#}");
            }
        }
        return Ok(ReleaseOutcome {
            published,
            pr: Some(pr),
            merged,
            merge_sha,
            auto_merge,
            retries,
            api_calls: gh.api_calls() - calls_before,
        });
    }
}

// -- helpers -----------------------------------------------------------------

fn split_reviewers(reviewers: &[String]) -> (Vec<&str>, Vec<&str>) {
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

/// The message GitHub put in an error body, with the first detail if any.
fn error_message(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return body.chars().take(200).collect();
    };
    let mut msg = v["message"].as_str().unwrap_or_default().to_string();
    if let Some(errors) = v["errors"].as_array() {
        let details: Vec<String> = errors
            .iter()
            .filter_map(|e| {
                e["message"].as_str().map(String::from).or_else(|| {
                    let field = e["field"].as_str()?;
                    Some(format!(
                        "{field} {}",
                        e["code"].as_str().unwrap_or("invalid")
                    ))
                })
            })
            .collect();
        if !details.is_empty() {
            msg = format!("{msg} ({})", details.join("; "));
        }
    }
    if msg.is_empty() {
        body.chars().take(200).collect()
    } else {
        msg
    }
}

/// How long to wait before retrying this answer, `None` when it is final.
fn retry_wait(status: StatusCode, headers: &http::HeaderMap, body: &str) -> Option<Duration> {
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
    if status.is_server_error() {
        return Some(retry_after(header("retry-after")).unwrap_or(Duration::from_millis(500)));
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::FORBIDDEN {
        if let Some(d) = retry_after(header("retry-after")) {
            return Some(d);
        }
        if header("x-ratelimit-remaining") == Some("0") {
            let reset: u64 = header("x-ratelimit-reset")?.parse().ok()?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs();
            return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
        }
        let b = body.to_lowercase();
        if b.contains("secondary rate limit") {
            // GitHub's advice without a header: wait at least a minute.
            return Some(Duration::from_secs(60));
        }
    }
    None
}

fn retry_after(v: Option<&str>) -> Option<Duration> {
    v?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn retry_delay(attempt: u32) -> Duration {
    use rand::Rng as _;
    let base = 200u64.saturating_mul(1 << attempt.min(4));
    Duration::from_millis(base / 2 + rand::rng().random_range(0..=base / 2))
}

/// Percent-encode a query value.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encode a path value, keeping `/` (branch names in ref paths).
fn enc_path(s: &str) -> String {
    s.split('/').map(enc).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_follow_the_pattern() {
        assert_eq!(
            pr_title("hello", "dev", Some("dev-1"), "dev-2"),
            "hello: dev dev-1 → dev-2"
        );
        assert_eq!(
            pr_title("hello", "dev", None, "dev-2"),
            "hello: dev (none) → dev-2"
        );
    }

    #[test]
    fn reviewers_split_into_users_and_teams() {
        let r = vec!["alice".to_string(), "@bob".into(), "acme/platform".into()];
        assert_eq!(
            split_reviewers(&r),
            (vec!["alice", "bob"], vec!["platform"])
        );
    }

    #[test]
    fn error_bodies_give_message_and_details() {
        let body = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for o:release/a/dev."}],"documentation_url":"x"}"#;
        assert_eq!(
            error_message(body),
            "Validation Failed (A pull request already exists for o:release/a/dev.)"
        );
        let body = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","field":"base","code":"invalid"}]}"#;
        assert_eq!(error_message(body), "Validation Failed (base invalid)");
        assert_eq!(error_message("<html>oops"), "<html>oops");
    }

    #[test]
    fn rate_limits_and_server_errors_wait_others_do_not() {
        let mut h = http::HeaderMap::new();
        assert_eq!(
            retry_wait(StatusCode::BAD_GATEWAY, &h, ""),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            retry_wait(
                StatusCode::FORBIDDEN,
                &h,
                r#"{"message":"Resource not accessible by integration"}"#
            ),
            None
        );
        assert_eq!(retry_wait(StatusCode::NOT_FOUND, &h, ""), None);
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(
            retry_wait(StatusCode::FORBIDDEN, &h, ""),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_wait(StatusCode::TOO_MANY_REQUESTS, &h, ""),
            Some(Duration::from_secs(3))
        );
        let mut h = http::HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        let soon = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 5;
        h.insert("x-ratelimit-reset", soon.to_string().parse().unwrap());
        let d = retry_wait(StatusCode::FORBIDDEN, &h, "").unwrap();
        assert!(
            d >= Duration::from_secs(4) && d <= Duration::from_secs(7),
            "{d:?}"
        );
    }

    #[test]
    fn encoding_keeps_what_it_must() {
        assert_eq!(
            enc("acme:release/hello/dev"),
            "acme%3Arelease%2Fhello%2Fdev"
        );
        assert_eq!(enc_path("release/hello/dev"), "release/hello/dev");
    }

    #[test]
    fn body_has_table_commits_and_links() {
        let body = PrBody {
            service: "hello".into(),
            env: "dev".into(),
            image: "ghcr.io/acme/hello".into(),
            old_tag: Some("dev-1".into()),
            new_tag: "dev-2".into(),
            old_digest: None,
            new_digest: Some("sha256:abc".into()),
            commits: vec![CommitRef {
                sha: "0123456789abcdef".into(),
                html_url: "https://github.com/acme/app/commit/0123456".into(),
                commit: CommitDetail {
                    message: "Fix the thing\n\nlong text".into(),
                    author: None,
                },
            }],
            compare_url: Some("https://github.com/acme/app/compare/a...b".into()),
            links: vec![],
        }
        .render();
        assert!(body.contains("| tag | `dev-1` | `dev-2` |"), "{body}");
        assert!(body.contains("| digest | — | `sha256:abc` |"), "{body}");
        assert!(
            body.contains("- [0123456](https://github.com/acme/app/commit/0123456) Fix the thing"),
            "{body}"
        );
        assert!(
            body.contains("[Compare](https://github.com/acme/app/compare/a...b)"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn repository_must_be_owner_slash_name() {
        let mut o = GitHubOptions::from_env();
        for bad in ["", "acme", "acme/", "/app", "a/b/c"] {
            o.repository = bad.into();
            assert!(GitHub::new(&o).is_err(), "{bad}");
        }
        o.repository = "acme/app".into();
        o.api_url = "http://127.0.0.1:1/api/v3".into();
        let gh = GitHub::new(&o).unwrap();
        assert_eq!(gh.repo_path("/pulls"), "/repos/acme/app/pulls");
    }
}
