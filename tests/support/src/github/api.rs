//! The REST and GraphQL endpoints, shaped after GitHub's OpenAPI description
//! (github/rest-api-description): the same fields, statuses and error bodies
//! (`{"message", "documentation_url", "errors", "status"}`).

use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::git::{Bare, Person};
use super::{
    AutoMergeRequest, Deployment, DeploymentInfo, DeploymentStatusInfo, DispatchInfo, Merged, Pull,
    PullInfo, Repo, Request, RequestKind, Review, Shared, State, Status, TokenGrants,
    approvals_message, default_branch, now,
};

const DOCS: &str = "https://docs.github.com/rest";

/// A non-2xx answer in GitHub's error shape.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub errors: Option<Value>,
}

fn err(status: u16, message: &str) -> ApiError {
    ApiError {
        status,
        message: message.to_string(),
        errors: None,
    }
}

fn not_found() -> ApiError {
    err(404, "Not Found")
}

fn forbidden() -> ApiError {
    err(403, "Resource not accessible by integration")
}

/// 422 `Validation Failed` with GitHub's error items.
fn invalid(errors: Value) -> ApiError {
    ApiError {
        status: 422,
        message: "Validation Failed".into(),
        errors: Some(errors),
    }
}

fn custom(resource: &str, message: &str) -> ApiError {
    invalid(json!([{"resource": resource, "code": "custom", "message": message}]))
}

fn internal(e: anyhow::Error) -> ApiError {
    err(500, &format!("stand-in failure: {e:#}"))
}

/// A refusal REST and GraphQL share (one rule, two answers): REST's error, and the
/// GraphQL error `type` and `message` the same refusal gets (docs/github-facts/graphql-pulls.md).
#[derive(Debug)]
pub(crate) struct Refused {
    pub rest: ApiError,
    pub kind: &'static str,
    pub message: String,
}

fn refused(rest: ApiError, kind: &'static str, message: impl Into<String>) -> Refused {
    Refused {
        rest,
        kind,
        message: message.into(),
    }
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> ApiError {
        r.rest
    }
}

/// A REST refusal whose GraphQL message is the same text: the merge refusals
/// ("Head branch was modified. Review and try the merge again.", "Pull Request is
/// still a draft", "Base branch was modified. …", "This branch can't be rebased" are
/// quoted from GraphQL answers by `gh` users; see graphql-pulls.md).
fn same_text(e: ApiError) -> Refused {
    let kind = match e.status {
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        500 => "INTERNAL",
        _ => "UNPROCESSABLE",
    };
    let message = e.message.clone();
    refused(e, kind, message)
}

fn forbidden_both() -> Refused {
    refused(
        forbidden(),
        "FORBIDDEN",
        "Resource not accessible by integration",
    )
}

fn internal_both(e: anyhow::Error) -> Refused {
    same_text(internal(e))
}

struct Reply {
    status: u16,
    body: Option<Value>,
}

fn ok(v: Value) -> Result<Reply, ApiError> {
    Ok(Reply {
        status: 200,
        body: Some(v),
    })
}

fn created(v: Value) -> Result<Reply, ApiError> {
    Ok(Reply {
        status: 201,
        body: Some(v),
    })
}

fn no_content() -> Result<Reply, ApiError> {
    Ok(Reply {
        status: 204,
        body: None,
    })
}

struct Call {
    method: String,
    segs: Vec<String>,
    query: HashMap<String, String>,
    body: Value,
    grants: TokenGrants,
}

impl Call {
    fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
    fn s(&self, k: &str) -> Option<String> {
        self.body.get(k).and_then(Value::as_str).map(String::from)
    }
}

fn token_of(headers: &axum::http::HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" | "token" => Some(rest.trim().to_string()),
        "basic" => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            let text = String::from_utf8(raw).ok()?;
            let (user, pass) = text.split_once(':')?;
            Some(if pass.is_empty() { user } else { pass }.to_string())
        }
        _ => None,
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect()
}

pub async fn handle(state: Shared, req: axum::extract::Request) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let token = token_of(req.headers());
    let bytes = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let graphql = path == "/api/graphql" || path == "/graphql";
    let result = tokio::task::spawn_blocking(move || {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        let rest = path.strip_prefix("/api/v3").unwrap_or(&path).to_string();
        let logged = if raw_query.is_empty() {
            rest.clone()
        } else {
            format!("{rest}?{raw_query}")
        };
        let (status, body, retry) =
            answer(&mut st, &method, &rest, &raw_query, &bytes, token, graphql);
        st.log.push(Request {
            kind: if graphql {
                RequestKind::GraphQl
            } else {
                RequestKind::Rest
            },
            method,
            path: logged,
            status,
            op: if graphql {
                super::schema::summary_of_body(&bytes)
            } else {
                String::new()
            },
        });
        (status, body, retry)
    })
    .await;
    let (status, body, retry) = match result {
        Ok(r) => r,
        Err(e) => (
            500,
            Some(json!({"message": format!("stand-in panic: {e}")})),
            None,
        ),
    };
    let mut resp = match body {
        Some(v) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(v),
        )
            .into_response(),
        None => StatusCode::from_u16(status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
    };
    let h = resp.headers_mut();
    if status != 204 {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    h.insert(
        "x-github-media-type",
        HeaderValue::from_static("github.v3; format=json"),
    );
    h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("4999"));
    h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    if let Some(secs) = retry {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
    }
    resp
}

type Answer = (u16, Option<Value>, Option<u64>);

fn answer(
    st: &mut State,
    method: &str,
    path: &str,
    query: &str,
    bytes: &[u8],
    token: Option<String>,
    graphql: bool,
) -> Answer {
    let doc = if graphql {
        "https://docs.github.com/graphql"
    } else {
        DOCS
    };
    let error_body = |e: &ApiError| {
        let mut v =
            json!({"message": e.message, "documentation_url": doc, "status": e.status.to_string()});
        if let Some(errors) = &e.errors {
            v["errors"] = errors.clone();
        }
        v
    };
    if !st.faults.is_empty() {
        let (status, retry) = st.faults.remove(0);
        let message = match status {
            403 | 429 => {
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            }
            502 => "Server Error",
            _ => "Injected failure",
        };
        return (status, Some(error_body(&err(status, message))), retry);
    }
    let grants = match token {
        None => {
            return (
                401,
                Some(error_body(&err(401, "Requires authentication"))),
                None,
            );
        }
        Some(t) => match st.tokens.get(&t) {
            Some(g) => g.clone(),
            None => return (401, Some(error_body(&err(401, "Bad credentials"))), None),
        },
    };
    let body: Value = if bytes.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(_) => {
                return (
                    400,
                    Some(error_body(&err(400, "Problems parsing JSON"))),
                    None,
                );
            }
        }
    };
    if graphql {
        return match graphql_answer(st, &grants, &body) {
            Ok(v) => (200, Some(v), None),
            Err(e) => (e.status, Some(error_body(&e)), None),
        };
    }
    let call = Call {
        method: method.to_string(),
        segs: path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(decode)
            .collect(),
        query: parse_query(query),
        body,
        grants,
    };
    match rest(st, &call) {
        Ok(r) => (r.status, r.body, None),
        Err(e) => (e.status, Some(error_body(&e)), None),
    }
}

fn rest(st: &mut State, c: &Call) -> Result<Reply, ApiError> {
    let segs: Vec<&str> = c.segs.iter().map(String::as_str).collect();
    let m = c.method.as_str();
    match (m, segs.as_slice()) {
        ("GET", ["user"]) => {
            if c.grants.actions {
                return Err(forbidden());
            }
            ok(private_user_json(st, &c.grants.user_login))
        }
        ("GET", ["rate_limit"]) => {
            let r = json!({"limit": 5000, "used": 1, "remaining": 4999, "reset": 4102444800u64});
            let search = json!({"limit": 30, "used": 0, "remaining": 30, "reset": 4102444800u64});
            ok(json!({"resources": {"core": r, "graphql": r, "search": search}, "rate": r}))
        }
        ("GET", ["orgs", org, "teams", slug]) => {
            // Like the membership below: a token without organization `members: read`
            // gets 404 (as GitHub hides what a token may not see).
            let team = format!("{org}/{slug}");
            if !c.grants.members_read || !st.teams.contains_key(&team) {
                return Err(not_found());
            }
            ok(json!({"name": slug, "slug": slug, "organization": {"login": org}}))
        }
        ("GET", ["orgs", org, "teams", slug, "memberships", user]) => {
            // GitHub answers 404 to an installation token without organization
            // `members: read` (so to every `GITHUB_TOKEN`), even for a member:
            // srvaroa/labeler#160 (log: `GET …/teams/{TEAM}/memberships/<user>: 404
            // Not Found`), actions/github-script#518 (404 body), pozil/auto-assign-issue#91.
            if !c.grants.members_read {
                return Err(not_found());
            }
            let team = format!("{org}/{slug}");
            let role = st
                .teams
                .get(&team)
                .and_then(|ms| ms.iter().find(|(l, _)| l == user))
                .map(|(_, r)| r.clone())
                .ok_or_else(not_found)?;
            ok(json!({
                "url": format!("{}/api/v3/orgs/{org}/teams/{slug}/memberships/{user}", st.base_url),
                "role": role,
                "state": "active",
            }))
        }
        (_, ["repos", owner, name, rest @ ..]) => {
            let full = format!("{owner}/{name}");
            if !st.repos.contains_key(&full) || !c.grants.sees(&full) {
                return Err(not_found());
            }
            repo_route(st, c, &full, m, rest)
        }
        _ => Err(not_found()),
    }
}

fn need(ok: bool) -> Result<(), ApiError> {
    if ok { Ok(()) } else { Err(forbidden()) }
}

fn number(s: &str) -> Result<u64, ApiError> {
    s.parse().map_err(|_| not_found())
}

fn repo_route(
    st: &mut State,
    c: &Call,
    full: &str,
    m: &str,
    rest: &[&str],
) -> Result<Reply, ApiError> {
    let g = &c.grants;
    // The code's reads (the *Contents* section of GitHub's permission table: contents,
    // commits, compare, trees, refs, branches) need `contents: read`; on a private
    // repository a token without it gets 404 "Not Found", as git does
    // (permissions.md, Reads). Commit statuses are *Statuses*, not checked here.
    let code_read = matches!(
        rest,
        ["contents", ..]
            | ["compare", ..]
            | ["git", ..]
            | ["branches", ..]
            | ["commits"]
            | ["commits", _]
    );
    if m == "GET"
        && code_read
        && !g.contents_read
        && st.repo(full).is_ok_and(|r| r.settings.private)
    {
        return Err(not_found());
    }
    match (m, rest) {
        ("GET", []) => {
            let repo = st.repo(full).map_err(internal)?;
            ok(repo_json(&st.base_url, repo, Some(g)))
        }
        // The other reads, 403 "Resource not accessible by integration" without the
        // permission, whether the repository is public or private (crs-k/stale-branches#1429:
        // `issues: write, contents: write` → list pull requests refused;
        // mikepenz/release-changelog-builder-action#1244; permissions.md, Reads).
        ("GET", ["pulls"]) => {
            need(g.pull_requests_read)?;
            list_pulls(st, c, full)
        }
        ("POST", ["pulls"]) => {
            need(g.pull_requests_write)?;
            create_pull(st, c, full)
        }
        ("GET", ["pulls", n]) => {
            // Listed under both *Contents* and *Pull requests* (read) in GitHub's table.
            need(g.pull_requests_read || g.contents_read)?;
            ok(pull_json_detail(st, full, number(n)?).map_err(|_| not_found())?)
        }
        ("PATCH", ["pulls", n]) => {
            need(g.pull_requests_write)?;
            update_pull(st, c, full, number(n)?)
        }
        ("GET", ["pulls", n, "merge"]) => {
            need(g.pull_requests_read)?;
            let repo = st.repo(full).map_err(internal)?;
            let p = repo.pulls.get(&number(n)?).ok_or_else(not_found)?;
            if p.merged.is_some() {
                no_content()
            } else {
                Err(not_found())
            }
        }
        ("PUT", ["pulls", n, "merge"]) => {
            need(g.contents_write)?;
            let n = number(n)?;
            let method = c.s("merge_method").unwrap_or_else(|| "merge".into());
            let sha = merge_pull(
                st,
                g,
                full,
                n,
                &method,
                c.s("sha").as_deref(),
                c.s("commit_title"),
                c.s("commit_message"),
            )?;
            ok(json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}))
        }
        ("GET", ["pulls", n, "reviews"]) => {
            need(g.pull_requests_read)?;
            let base = st.base_url.clone();
            let repo = st.repo(full).map_err(internal)?;
            let p = repo.pulls.get(&number(n)?).ok_or_else(not_found)?;
            ok(Value::Array(
                p.reviews
                    .iter()
                    .map(|r| review_json(&base, repo, p.number, r))
                    .collect(),
            ))
        }
        ("POST", ["pulls", n, "reviews"]) => {
            need(g.pull_requests_write)?;
            let event = c.s("event").unwrap_or_default();
            if event == "APPROVE" && g.actions && !st.actions_can_create_prs {
                return Err(ApiError {
                    status: 422,
                    message: "Unprocessable Entity".into(),
                    errors: Some(json!([
                        "GitHub Actions is not permitted to approve pull requests."
                    ])),
                });
            }
            let n = number(n)?;
            let review = add_review(
                st,
                full,
                n,
                &g.user_login,
                &event,
                &c.s("body").unwrap_or_default(),
            )?;
            settle(st).map_err(internal)?;
            let base = st.base_url.clone();
            let repo = st.repo(full).map_err(internal)?;
            ok(review_json(&base, repo, n, &review))
        }
        ("GET", ["pulls", n, "requested_reviewers"]) => {
            need(g.pull_requests_read)?;
            let base = st.base_url.clone();
            let repo = st.repo(full).map_err(internal)?;
            let p = repo.pulls.get(&number(n)?).ok_or_else(not_found)?;
            ok(json!({
                "users": p.requested_reviewers.iter().map(|u| user_json(&base, u)).collect::<Vec<_>>(),
                "teams": p.requested_teams.iter().map(|t| team_json(&base, &repo.owner, t)).collect::<Vec<_>>(),
            }))
        }
        ("POST", ["pulls", n, "requested_reviewers"]) => {
            need(g.pull_requests_write)?;
            request_reviewers(st, c, full, number(n)?)
        }
        ("DELETE", ["pulls", n, "requested_reviewers"]) => {
            need(g.pull_requests_write)?;
            let n = number(n)?;
            let users = strings(&c.body["reviewers"]);
            let teams = strings(&c.body["team_reviewers"]);
            let repo = st.repo_mut(full).map_err(internal)?;
            let p = repo.pulls.get_mut(&n).ok_or_else(not_found)?;
            p.requested_reviewers.retain(|u| !users.contains(u));
            p.requested_teams.retain(|t| !teams.contains(t));
            ok(pull_json_detail(st, full, n).map_err(internal)?)
        }
        ("GET", ["issues", n, "labels"]) => {
            need(g.issues_read || g.pull_requests_read)?;
            let base = st.base_url.clone();
            let repo = st.repo(full).map_err(internal)?;
            let p = repo.pulls.get(&number(n)?).ok_or_else(not_found)?;
            ok(labels_json(&base, repo, &p.labels))
        }
        ("POST" | "PUT", ["issues", n, "labels"]) => {
            // Every issue here is a pull request, and labelling a pull request takes
            // `pull-requests: write`: the docs' table lists either permission for the
            // endpoint, but GitHub refuses a token with `issues: write` alone on a PR
            // number with 403 "Resource not accessible by integration" (public runs:
            // mavlink/qgroundcontrol#14252, adamgell/cmtraceopen#398,
            // microsoft/testfx#11270; docs/github-facts/permissions.md, Labels).
            need(g.pull_requests_write)?;
            let n = number(n)?;
            let names = if c.body.is_array() {
                strings(&c.body)
            } else {
                strings(&c.body["labels"])
            };
            if names.is_empty() && m == "POST" {
                return Err(invalid(
                    json!([{"resource": "Label", "field": "name", "code": "missing_field"}]),
                ));
            }
            let labels = label_pull(st, g, full, n, names, true, m == "PUT")?;
            let base = st.base_url.clone();
            let repo = st.repo(full).map_err(internal)?;
            ok(labels_json(&base, repo, &labels))
        }
        ("POST", ["issues", n, "comments"]) => {
            need(g.issues_write || g.pull_requests_write)?;
            let n = number(n)?;
            let text = c.s("body").ok_or_else(|| {
                invalid(
                    json!([{"resource": "IssueComment", "field": "body", "code": "missing_field"}]),
                )
            })?;
            let id = st.id();
            let base = st.base_url.clone();
            let repo = st.repo_mut(full).map_err(internal)?;
            let p = repo.pulls.get_mut(&n).ok_or_else(not_found)?;
            let at = now();
            p.comments
                .push((id, g.user_login.clone(), text.clone(), at.clone()));
            let api = format!("{base}/api/v3/repos/{full}");
            created(json!({
                "id": id, "node_id": format!("IC_{id}"),
                "url": format!("{api}/issues/comments/{id}"),
                "html_url": format!("{base}/{full}/pull/{n}#issuecomment-{id}"),
                "issue_url": format!("{api}/issues/{n}"),
                "body": text, "user": user_json(&base, &g.user_login),
                "created_at": at, "updated_at": at, "author_association": "CONTRIBUTOR",
            }))
        }
        ("GET", ["compare", spec @ ..]) => compare(st, c, full, &spec.join("/")),
        ("GET", ["git", "trees", spec @ ..]) => tree(st, c, full, &spec.join("/")),
        ("GET", ["commits"]) => list_commits(st, c, full),
        ("GET", ["commits", r, "status"]) => combined_status(st, full, r),
        ("GET", ["commits", r, "statuses"]) => {
            let base = st.base_url.clone();
            let repo = st.repo(full).map_err(internal)?;
            let sha = repo.git.resolve(r).ok_or_else(not_found)?;
            let list: Vec<Value> = repo
                .statuses
                .get(&sha)
                .map(|m| {
                    m.iter()
                        .map(|(ctx, s)| status_json(&base, full, &sha, ctx, s))
                        .collect()
                })
                .unwrap_or_default();
            ok(Value::Array(list))
        }
        ("GET", ["commits", r]) => {
            let base = st.base_url.clone();
            let repo = st.repo(full).map_err(internal)?;
            let sha = repo
                .git
                .resolve(r)
                .ok_or_else(|| err(422, &format!("No commit found for SHA: {r}")))?;
            ok(commit_json(&base, full, &repo.git, &sha).map_err(internal)?)
        }
        ("POST", ["statuses", sha]) => {
            need(g.statuses_write)?;
            let state = c.s("state").unwrap_or_default();
            if !["error", "failure", "pending", "success"].contains(&state.as_str()) {
                return Err(invalid(
                    json!([{"resource": "Status", "field": "state", "code": "custom", "message": "state is not included in the list"}]),
                ));
            }
            let context = c.s("context").unwrap_or_else(|| "default".into());
            let id = st.id();
            let base = st.base_url.clone();
            let repo = st.repo_mut(full).map_err(internal)?;
            let sha = repo
                .git
                .resolve(sha)
                .ok_or_else(|| err(422, &format!("No commit found for SHA: {sha}")))?;
            let s = Status {
                id,
                creator: g.user_login.clone(),
                state,
                description: c.s("description"),
                target_url: c.s("target_url"),
                created_at: now(),
            };
            repo.statuses
                .entry(sha.clone())
                .or_default()
                .insert(context.clone(), s.clone());
            settle(st).map_err(internal)?;
            created(status_json(&base, full, &sha, &context, &s))
        }
        ("GET", ["contents", path @ ..]) => contents(st, c, full, &path.join("/")),
        ("GET", ["branches", b @ ..]) if !b.is_empty() => {
            let base = st.base_url.clone();
            let branch = b.join("/");
            let repo = st.repo(full).map_err(internal)?;
            let sha = repo
                .git
                .branch(&branch)
                .ok_or_else(|| err(404, "Branch not found"))?;
            let commit = commit_json(&base, full, &repo.git, &sha).map_err(internal)?;
            let prot = repo.protection.get(&branch);
            let contexts: Vec<&String> = prot
                .map(|p| p.required_checks.iter().collect())
                .unwrap_or_default();
            let protection = json!({
                "enabled": prot.is_some(),
                "required_status_checks": {
                    "enforcement_level": if contexts.is_empty() { "off" } else { "non_admins" },
                    "contexts": contexts,
                    "checks": contexts.iter().map(|c| json!({"context": c, "app_id": null})).collect::<Vec<_>>(),
                },
            });
            ok(json!({
                "name": branch, "commit": commit,
                "protected": prot.is_some(),
                "protection": protection,
                "_links": {"self": format!("{base}/api/v3/repos/{full}/branches/{branch}"), "html": format!("{base}/{full}/tree/{branch}")},
                "protection_url": format!("{base}/api/v3/repos/{full}/branches/{branch}/protection"),
            }))
        }
        ("GET", ["git", "ref", r @ ..]) | ("GET", ["git", "refs", r @ ..])
            if r.first() == Some(&"heads") =>
        {
            let base = st.base_url.clone();
            let branch = r[1..].join("/");
            let repo = st.repo(full).map_err(internal)?;
            let sha = repo.git.branch(&branch).ok_or_else(not_found)?;
            ok(ref_json(&base, full, &branch, &sha))
        }
        ("POST", ["git", "blobs"]) => {
            // REST "Create a blob": Contents write; `content` with `encoding`
            // `utf-8` (the default) or `base64`; 201 with `sha` and `url`.
            need(g.contents_write)?;
            let content = c.s("content").ok_or_else(|| {
                invalid(json!([{"resource": "Blob", "field": "content", "code": "missing_field"}]))
            })?;
            let bytes = match c.s("encoding").as_deref() {
                None | Some("utf-8") | Some("utf8") => content.into_bytes(),
                Some("base64") => base64::engine::general_purpose::STANDARD
                    .decode(content.trim())
                    .map_err(|_| err(422, "Invalid base64 content"))?,
                Some(_) => {
                    return Err(invalid(
                        json!([{"resource": "Blob", "field": "encoding", "code": "invalid"}]),
                    ));
                }
            };
            let repo = st.repo(full).map_err(internal)?;
            let sha = repo
                .git
                .run_env(&["hash-object", "-w", "--stdin"], &[], Some(&bytes))
                .map_err(internal)?;
            let url = format!("{}/api/v3/repos/{full}/git/blobs/{sha}", st.base_url);
            Ok(Reply {
                status: 201,
                body: Some(json!({"sha": sha, "url": url})),
            })
        }
        ("DELETE", ["git", "refs", "heads", b @ ..]) => {
            need(g.contents_write)?;
            let branch = b.join("/");
            let repo = st.repo(full).map_err(internal)?;
            if repo.git.branch(&branch).is_none() {
                return Err(err(422, "Reference does not exist"));
            }
            if repo.protection.contains_key(&branch) {
                return Err(err(422, "Cannot delete a protected branch"));
            }
            if default_branch(&repo.git).ok().as_deref() == Some(branch.as_str()) {
                return Err(err(422, "Cannot delete the default branch"));
            }
            repo.git.delete_branch(&branch).map_err(internal)?;
            settle(st).map_err(internal)?;
            no_content()
        }
        ("POST", ["deployments"]) => {
            need(g.deployments_write)?;
            create_deployment(st, c, full)
        }
        ("GET", ["deployments"]) => {
            need(g.deployments_read)?;
            let base = st.base_url.clone();
            let repo = st.repo(full).map_err(internal)?;
            let list: Vec<Value> = repo
                .deployments
                .iter()
                .rev()
                .filter(|d| c.q("environment").is_none_or(|e| d.info.environment == e))
                .filter(|d| c.q("ref").is_none_or(|r| d.info.git_ref == r))
                .filter(|d| c.q("sha").is_none_or(|s| d.info.sha == s))
                .filter(|d| c.q("task").is_none_or(|t| d.task == t))
                .map(|d| deployment_json(&base, full, d))
                .collect();
            ok(Value::Array(list))
        }
        ("GET", ["deployments", id]) => {
            need(g.deployments_read)?;
            let id = number(id)?;
            let base = st.base_url.clone();
            let repo = st.repo(full).map_err(internal)?;
            let d = repo
                .deployments
                .iter()
                .find(|d| d.info.id == id)
                .ok_or_else(not_found)?;
            ok(deployment_json(&base, full, d))
        }
        ("POST", ["deployments", id, "statuses"]) => {
            need(g.deployments_write)?;
            deployment_status(st, c, full, number(id)?)
        }
        ("GET", ["deployments", id, "statuses"]) => {
            need(g.deployments_read)?;
            let id = number(id)?;
            let base = st.base_url.clone();
            let repo = st.repo(full).map_err(internal)?;
            let d = repo
                .deployments
                .iter()
                .find(|d| d.info.id == id)
                .ok_or_else(not_found)?;
            let list: Vec<Value> = (0..d.info.statuses.len())
                .rev()
                .map(|i| deployment_status_json(&base, full, d, i))
                .collect();
            ok(Value::Array(list))
        }
        ("POST", ["actions", "workflows", wf, "dispatches"]) => {
            need(g.actions_write)?;
            dispatch(st, c, full, wf)
        }
        ("GET", ["actions", "workflows", wf, "runs"]) => {
            // *Actions: read*; octokit/app-permissions lists *Contents: read* as the
            // alternative (permissions.md).
            need(g.actions_read || g.contents_read)?;
            workflow_runs(st, c, full, wf)
        }
        ("GET", ["collaborators", user, "permission"]) => {
            let base = st.base_url.clone();
            let repo = st.repo(full).map_err(internal)?;
            let role = st.role(repo, user).unwrap_or_else(|| "none".into());
            let permission = match role.as_str() {
                "admin" => "admin",
                "maintain" | "write" => "write",
                "triage" | "read" => "read",
                _ => "none",
            };
            let mut u = user_json(&base, user);
            u["role_name"] = role.clone().into();
            let at_least = |r: &[&str]| r.contains(&role.as_str());
            u["permissions"] = json!({
                "admin": at_least(&["admin"]),
                "maintain": at_least(&["admin", "maintain"]),
                "push": at_least(&["admin", "maintain", "write"]),
                "triage": at_least(&["admin", "maintain", "write", "triage"]),
                "pull": at_least(&["admin", "maintain", "write", "triage", "read"]),
            });
            ok(json!({"permission": permission, "role_name": role, "user": u}))
        }
        _ => Err(not_found()),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

// -- JSON shapes ---------------------------------------------------------------

pub(crate) fn stable_id(s: &str) -> u64 {
    // FNV-1a: the same login always gets the same id.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h % 100_000_000 + 1
}

pub(crate) fn user_json(base: &str, login: &str) -> Value {
    let api = format!("{base}/api/v3/users/{login}");
    let bot = login.ends_with("[bot]");
    json!({
        "login": login,
        "id": stable_id(login),
        "node_id": format!("U_{}", stable_id(login)),
        "avatar_url": format!("{base}/avatars/{login}"),
        "gravatar_id": "",
        "url": api,
        "html_url": format!("{base}/{login}"),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": if bot { "Bot" } else { "User" },
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// `GET /user` for a token that may read its user: GitHub's private user response
/// (`user_view_type` "private"), the profile and the account's counters besides the
/// simple user's fields.
fn private_user_json(st: &State, login: &str) -> Value {
    let owned = st.repos.values().filter(|r| r.owner == login);
    let private = owned.clone().filter(|r| r.settings.private).count();
    let public = owned.count() - private;
    let mut u = user_json(&st.base_url, login);
    let profile = json!({
        "user_view_type": "private",
        "name": null, "company": null, "blog": "", "location": null, "email": null,
        "notification_email": null, "hireable": null, "bio": null, "twitter_username": null,
        "public_repos": public, "public_gists": 0, "followers": 0, "following": 0,
        "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z",
        "private_gists": 0, "total_private_repos": private, "owned_private_repos": private,
        "disk_usage": 0, "collaborators": 0, "two_factor_authentication": true,
        "plan": {"name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000},
    });
    for (k, v) in profile.as_object().into_iter().flatten() {
        u[k] = v.clone();
    }
    u
}

fn team_json(base: &str, org: &str, team: &str) -> Value {
    let slug = team.rsplit('/').next().unwrap_or(team);
    let id = stable_id(team);
    json!({
        "id": id, "node_id": format!("T_{id}"),
        "url": format!("{base}/api/v3/organizations/1/team/{id}"),
        "html_url": format!("{base}/orgs/{org}/teams/{slug}"),
        "name": slug, "slug": slug, "description": null,
        "privacy": "closed", "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": format!("{base}/api/v3/organizations/1/team/{id}/members{{/member}}"),
        "repositories_url": format!("{base}/api/v3/organizations/1/team/{id}/repos"),
        "parent": null,
        // The ownership type, required in team and team-simple: every team here belongs
        // to an organization.
        "type": "organization",
    })
}

pub(crate) fn repo_json(base: &str, repo: &Repo, grants: Option<&TokenGrants>) -> Value {
    let full = repo.full_name();
    let api = format!("{base}/api/v3/repos/{full}");
    let html = format!("{base}/{full}");
    let s = &repo.settings;
    let push = grants.is_none_or(|g| g.contents_write);
    let mut v = json!({
        "id": repo.id,
        "node_id": format!("R_{}", repo.id),
        "name": repo.name,
        "full_name": full,
        "private": s.private,
        "owner": user_json(base, &repo.owner),
        "html_url": html,
        "description": null,
        "fork": false,
        "url": api,
        "archive_url": format!("{api}/{{archive_format}}{{/ref}}"),
        "branches_url": format!("{api}/branches{{/branch}}"),
        "collaborators_url": format!("{api}/collaborators{{/collaborator}}"),
        "assignees_url": format!("{api}/assignees{{/user}}"),
        "blobs_url": format!("{api}/git/blobs{{/sha}}"),
        "contributors_url": format!("{api}/contributors"),
        "downloads_url": format!("{api}/downloads"),
        "events_url": format!("{api}/events"),
        "forks_url": format!("{api}/forks"),
        "git_commits_url": format!("{api}/git/commits{{/sha}}"),
        "git_tags_url": format!("{api}/git/tags{{/sha}}"),
        "hooks_url": format!("{api}/hooks"),
        "issue_comment_url": format!("{api}/issues/comments{{/number}}"),
        "issue_events_url": format!("{api}/issues/events{{/number}}"),
        "keys_url": format!("{api}/keys{{/key_id}}"),
        "languages_url": format!("{api}/languages"),
        "merges_url": format!("{api}/merges"),
        "milestones_url": format!("{api}/milestones{{/number}}"),
        "notifications_url": format!("{api}/notifications{{?since,all,participating}}"),
        "releases_url": format!("{api}/releases{{/id}}"),
        "stargazers_url": format!("{api}/stargazers"),
        "subscribers_url": format!("{api}/subscribers"),
        "subscription_url": format!("{api}/subscription"),
        "tags_url": format!("{api}/tags"),
        "teams_url": format!("{api}/teams"),
        "trees_url": format!("{api}/git/trees{{/sha}}"),
        "svn_url": format!("{base}/{full}"),
        "mirror_url": null,
        "comments_url": format!("{api}/comments{{/number}}"),
        "commits_url": format!("{api}/commits{{/sha}}"),
        "compare_url": format!("{api}/compare/{{base}}...{{head}}"),
        "contents_url": format!("{api}/contents/{{+path}}"),
        "deployments_url": format!("{api}/deployments"),
        "git_refs_url": format!("{api}/git/refs{{/sha}}"),
        "issues_url": format!("{api}/issues{{/number}}"),
        "labels_url": format!("{api}/labels{{/name}}"),
        "pulls_url": format!("{api}/pulls{{/number}}"),
        "statuses_url": format!("{api}/statuses/{{sha}}"),
        "git_url": format!("{}/{full}.git", base.replacen("http", "git", 1)),
        "ssh_url": format!("git@{}:{full}.git", base.trim_start_matches("http://")),
        "clone_url": format!("{html}.git"),
        "homepage": null,
        "size": 1,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": null,
        "has_issues": true,
        "has_projects": false,
        "has_downloads": true,
        "has_wiki": false,
        "has_pages": false,
        "has_discussions": false,
        "forks_count": 0,
        "archived": false,
        "disabled": false,
        "open_issues_count": repo.pulls.values().filter(|p| p.open).count(),
        "license": null,
        "allow_forking": true,
        "is_template": false,
        "topics": [],
        "visibility": if s.private { "private" } else { "public" },
        "forks": 0,
        "open_issues": repo.pulls.values().filter(|p| p.open).count(),
        "watchers": 0,
        "default_branch": default_branch(&repo.git).unwrap_or_else(|_| "main".into()),
        "created_at": repo.created_at,
        "updated_at": repo.created_at,
        "pushed_at": repo.created_at,
    });
    if let Some(g) = grants {
        v["permissions"] =
            json!({"admin": false, "maintain": false, "push": push, "triage": push, "pull": true});
        let o = v.as_object_mut().expect("object");
        for (k, val) in [
            ("allow_auto_merge", s.allow_auto_merge),
            ("delete_branch_on_merge", s.delete_branch_on_merge),
            ("allow_merge_commit", s.allow_merge_commit),
            ("allow_squash_merge", s.allow_squash_merge),
            ("allow_rebase_merge", s.allow_rebase_merge),
            ("allow_update_branch", false),
            ("use_squash_pr_title_as_default", false),
            ("web_commit_signoff_required", false),
        ] {
            o.insert(k.into(), val.into());
        }
        let _ = g;
        o.insert(
            "squash_merge_commit_title".into(),
            "COMMIT_OR_PR_TITLE".into(),
        );
        o.insert(
            "squash_merge_commit_message".into(),
            "COMMIT_MESSAGES".into(),
        );
        o.insert("merge_commit_title".into(), "MERGE_MESSAGE".into());
        o.insert("merge_commit_message".into(), "PR_TITLE".into());
        o.insert("network_count".into(), 0.into());
        o.insert("subscribers_count".into(), 0.into());
    }
    v
}

fn labels_json(base: &str, repo: &Repo, names: &[String]) -> Value {
    let full = repo.full_name();
    Value::Array(
        names
            .iter()
            .map(|n| {
                let id = repo.labels.get(n).copied().unwrap_or(0);
                json!({
                    "id": id, "node_id": format!("LA_{id}"),
                    "url": format!("{base}/api/v3/repos/{full}/labels/{}", n.replace(' ', "%20")),
                    "name": n, "color": "ededed", "default": false, "description": null,
                })
            })
            .collect(),
    )
}

pub(crate) fn node_id(repo: &Repo, number: u64) -> String {
    format!("PR_kwDOst{}n{number}", repo.id)
}

fn branch_json(base: &str, repo: &Repo, branch: &str, sha: &str) -> Value {
    json!({
        "label": format!("{}:{branch}", repo.owner),
        "ref": branch,
        "sha": sha,
        "user": user_json(base, &repo.owner),
        "repo": repo_json(base, repo, None),
    })
}

/// What GitHub computes for an open PR: mergeable, `mergeable_state` and the 405
/// messages that keep it from merging.
struct Computed {
    mergeable: bool,
    state: &'static str,
    blockers: Vec<String>,
    head: String,
    base: String,
}

fn approvals(st: &State, repo: &Repo, p: &Pull) -> Vec<String> {
    let mut latest: Vec<(String, String)> = Vec::new();
    for r in &p.reviews {
        if r.state == "COMMENTED" || r.state == "PENDING" {
            continue;
        }
        latest.retain(|(u, _)| u != &r.user);
        latest.push((r.user.clone(), r.state.clone()));
    }
    latest
        .into_iter()
        .filter(|(u, s)| {
            s == "APPROVED"
                && st
                    .role(repo, u)
                    .is_some_and(|r| ["admin", "maintain", "write"].contains(&r.as_str()))
        })
        .map(|(u, _)| u)
        .collect()
}

fn compute(st: &State, repo: &Repo, p: &Pull) -> anyhow::Result<Computed> {
    let head = repo.pull_head(p);
    let Some(base) = repo.git.branch(&p.base) else {
        return Ok(Computed {
            mergeable: false,
            state: "unknown",
            blockers: vec!["Base branch was deleted".into()],
            head,
            base: String::new(),
        });
    };
    let tree = repo.git.merge_tree(&base, &head, None)?;
    let mut blockers = Vec::new();
    let mut state = "clean";
    let mut blocked = false;
    let mut behind = false;
    if let Some(prot) = repo.protection.get(&p.base) {
        let n = approvals(st, repo, p).len() as u32;
        let changes_requested = p
            .reviews
            .iter()
            .rev()
            .find(|r| r.state == "CHANGES_REQUESTED")
            .is_some_and(|r| {
                !p.reviews
                    .iter()
                    .any(|x| x.user == r.user && x.id > r.id && x.state == "APPROVED")
            });
        if prot.required_approvals > 0 && changes_requested {
            blockers.push(
                "Changes must be made through a pull request. Changes were requested.".into(),
            );
            blocked = true;
        }
        if n < prot.required_approvals {
            blockers.push(approvals_message(prot.required_approvals));
            blocked = true;
        }
        let checks = repo.statuses.get(&head);
        for ctx in &prot.required_checks {
            match checks.and_then(|c| c.get(ctx)).map(|s| s.state.as_str()) {
                Some("success") => {}
                Some("failure") | Some("error") => {
                    blockers.push(format!("Required status check \"{ctx}\" is failing."));
                    blocked = true;
                }
                _ => {
                    blockers.push(format!("Required status check \"{ctx}\" is expected."));
                    blocked = true;
                }
            }
        }
        if prot.strict && !repo.git.is_ancestor(&base, &head) {
            blockers.push("Head branch is not up to date with the base branch.".into());
            behind = true;
        }
    }
    let unstable = repo
        .statuses
        .get(&head)
        .is_some_and(|m| m.values().any(|s| s.state != "success"));
    if tree.is_none() {
        state = "dirty";
        blockers.insert(0, "Pull Request is not mergeable".into());
    } else if p.draft {
        state = "draft";
        blockers.insert(0, "Pull Request is still a draft".into());
    } else if blocked {
        state = "blocked";
    } else if behind {
        state = "behind";
    } else if unstable {
        state = "unstable";
    }
    Ok(Computed {
        mergeable: tree.is_some(),
        state,
        blockers,
        head,
        base,
    })
}

fn pull_json(st: &State, repo: &Repo, p: &Pull, detail: Option<&Computed>) -> Value {
    let base = &st.base_url;
    let full = repo.full_name();
    let api = format!("{base}/api/v3/repos/{full}");
    let html = format!("{base}/{full}/pull/{}", p.number);
    let n = p.number;
    let head_sha = repo.pull_head(p);
    let base_sha = if p.open {
        repo.git
            .branch(&p.base)
            .unwrap_or_else(|| p.base_sha.clone())
    } else {
        p.base_sha.clone()
    };
    let auto_merge = p.auto_merge.as_ref().map(|a| {
        json!({
            "enabled_by": user_json(base, &a.enabled_by),
            "merge_method": a.method,
            "commit_title": a.commit_title.clone().unwrap_or_default(),
            "commit_message": a.commit_message.clone().unwrap_or_default(),
        })
    });
    let mut v = json!({
        "url": format!("{api}/pulls/{n}"),
        "id": p.id,
        "node_id": node_id(repo, n),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "issue_url": format!("{api}/issues/{n}"),
        "commits_url": format!("{api}/pulls/{n}/commits"),
        "review_comments_url": format!("{api}/pulls/{n}/comments"),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
        "comments_url": format!("{api}/issues/{n}/comments"),
        "statuses_url": format!("{api}/statuses/{head_sha}"),
        "number": n,
        "state": if p.open { "open" } else { "closed" },
        "locked": false,
        "title": p.title,
        "user": user_json(base, &p.user),
        "body": p.body,
        "labels": labels_json(base, repo, &p.labels),
        "milestone": null,
        "active_lock_reason": null,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "closed_at": p.closed_at,
        "merged_at": p.merged.as_ref().map(|m| m.at.clone()),
        "merge_commit_sha": p.merged.as_ref().map(|m| m.sha.clone()),
        "assignee": null,
        "assignees": [],
        "requested_reviewers": p.requested_reviewers.iter().map(|u| user_json(base, u)).collect::<Vec<_>>(),
        "requested_teams": p.requested_teams.iter().map(|t| team_json(base, &repo.owner, t)).collect::<Vec<_>>(),
        "head": branch_json(base, repo, &p.head, &head_sha),
        "base": branch_json(base, repo, &p.base, &base_sha),
        "_links": {
            "self": {"href": format!("{api}/pulls/{n}")},
            "html": {"href": html},
            "issue": {"href": format!("{api}/issues/{n}")},
            "comments": {"href": format!("{api}/issues/{n}/comments")},
            "review_comments": {"href": format!("{api}/pulls/{n}/comments")},
            "review_comment": {"href": format!("{api}/pulls/comments{{/number}}")},
            "commits": {"href": format!("{api}/pulls/{n}/commits")},
            "statuses": {"href": format!("{api}/statuses/{head_sha}")},
        },
        "author_association": if p.user == repo.owner { "OWNER" } else { "CONTRIBUTOR" },
        "auto_merge": auto_merge,
        "draft": p.draft,
    });
    if let Some(c) = detail {
        let o = v.as_object_mut().expect("object");
        let open = p.open;
        o.insert("merged".into(), p.merged.is_some().into());
        o.insert(
            "mergeable".into(),
            if open {
                c.mergeable.into()
            } else {
                Value::Null
            },
        );
        o.insert(
            "rebaseable".into(),
            if open {
                c.mergeable.into()
            } else {
                Value::Null
            },
        );
        o.insert(
            "mergeable_state".into(),
            (if open { c.state } else { "unknown" }).into(),
        );
        o.insert(
            "merged_by".into(),
            p.merged
                .as_ref()
                .map(|m| user_json(base, &m.by))
                .unwrap_or(Value::Null),
        );
        o.insert("comments".into(), p.comments.len().into());
        o.insert("review_comments".into(), 0.into());
        o.insert(
            "maintainer_can_modify".into(),
            p.maintainer_can_modify.into(),
        );
        let commits = if c.base.is_empty() {
            0
        } else {
            repo.git.count(&c.base, &c.head).unwrap_or(0)
        };
        o.insert("commits".into(), commits.into());
        o.insert("additions".into(), 0.into());
        o.insert("deletions".into(), 0.into());
        o.insert("changed_files".into(), 0.into());
    }
    v
}

/// The full JSON of `GET /pulls/{n}`, with mergeability computed now.
pub(crate) fn pull_json_detail(st: &mut State, full: &str, n: u64) -> anyhow::Result<Value> {
    let repo = st.repo(full)?;
    let p = repo
        .pulls
        .get(&n)
        .ok_or_else(|| anyhow::anyhow!("no pull request #{n}"))?;
    let c = compute(st, repo, p)?;
    Ok(pull_json(st, repo, p, Some(&c)))
}

pub(crate) fn pull_info(repo: &Repo, p: &Pull) -> PullInfo {
    PullInfo {
        number: p.number,
        node_id: node_id(repo, p.number),
        title: p.title.clone(),
        body: p.body.clone().unwrap_or_default(),
        head: p.head.clone(),
        base: p.base.clone(),
        head_sha: repo.pull_head(p),
        state: if p.open { "open" } else { "closed" }.into(),
        merged: p.merged.is_some(),
        merge_commit_sha: p.merged.as_ref().map(|m| m.sha.clone()),
        merged_by: p.merged.as_ref().map(|m| m.by.clone()),
        user: p.user.clone(),
        draft: p.draft,
        labels: p.labels.clone(),
        requested_reviewers: p.requested_reviewers.clone(),
        requested_teams: p.requested_teams.clone(),
        approvals: p
            .reviews
            .iter()
            .filter(|r| r.state == "APPROVED")
            .map(|r| r.user.clone())
            .collect(),
        auto_merge: p.auto_merge.as_ref().map(|a| a.method.clone()),
        comments: p.comments.iter().map(|c| c.2.clone()).collect(),
    }
}

fn review_json(base: &str, repo: &Repo, n: u64, r: &Review) -> Value {
    let full = repo.full_name();
    let html = format!("{base}/{full}/pull/{n}#pullrequestreview-{}", r.id);
    let pr = format!("{base}/api/v3/repos/{full}/pulls/{n}");
    json!({
        "id": r.id, "node_id": format!("PRR_{}", r.id),
        "user": user_json(base, &r.user), "body": r.body, "state": r.state,
        "html_url": html, "pull_request_url": pr,
        "_links": {"html": {"href": html}, "pull_request": {"href": pr}},
        "submitted_at": r.submitted_at, "commit_id": r.commit_id,
        "author_association": "COLLABORATOR",
    })
}

fn ref_json(base: &str, full: &str, branch: &str, sha: &str) -> Value {
    json!({
        "ref": format!("refs/heads/{branch}"),
        "node_id": format!("REF_{}", stable_id(branch)),
        "url": format!("{base}/api/v3/repos/{full}/git/refs/heads/{branch}"),
        "object": {"sha": sha, "type": "commit", "url": format!("{base}/api/v3/repos/{full}/git/commits/{sha}")},
    })
}

fn status_json(base: &str, full: &str, sha: &str, ctx: &str, s: &Status) -> Value {
    json!({
        "url": format!("{base}/api/v3/repos/{full}/statuses/{sha}"),
        "avatar_url": null, "id": s.id, "node_id": format!("SC_{}", s.id),
        "state": s.state, "description": s.description, "target_url": s.target_url,
        "context": ctx, "created_at": s.created_at, "updated_at": s.created_at,
        "creator": user_json(base, &s.creator),
    })
}

fn commit_json(base: &str, full: &str, g: &Bare, sha: &str) -> anyhow::Result<Value> {
    let c = g.commit_info(sha)?;
    let api = format!("{base}/api/v3/repos/{full}");
    let person = |p: &(String, String, String)| json!({"name": p.0, "email": p.1, "date": p.2});
    Ok(json!({
        "url": format!("{api}/commits/{}", c.sha),
        "sha": c.sha,
        "node_id": format!("C_{}", &c.sha[..12]),
        "html_url": format!("{base}/{full}/commit/{}", c.sha),
        "comments_url": format!("{api}/commits/{}/comments", c.sha),
        "commit": {
            "url": format!("{api}/git/commits/{}", c.sha),
            "author": person(&c.author),
            "committer": person(&c.committer),
            "message": c.message,
            "comment_count": 0,
            "tree": {"sha": c.tree, "url": format!("{api}/git/trees/{}", c.tree)},
            "verification": if g.is_web_signed(&c.sha) {
                json!({"verified": true, "reason": "valid", "signature": "-----BEGIN PGP SIGNATURE-----\n\nstand-in web-flow signature\n-----END PGP SIGNATURE-----\n", "payload": g.run(&["cat-file", "commit", &c.sha]).unwrap_or_default(), "verified_at": c.committer.2})
            } else {
                json!({"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null})
            },
        },
        "author": null,
        "committer": null,
        "parents": c.parents.iter().map(|p| json!({
            "sha": p, "url": format!("{api}/commits/{p}"), "html_url": format!("{base}/{full}/commit/{p}"),
        })).collect::<Vec<_>>(),
    }))
}

// -- pulls -----------------------------------------------------------------------

fn list_pulls(st: &mut State, c: &Call, full: &str) -> Result<Reply, ApiError> {
    let repo = st.repo(full).map_err(internal)?;
    let state = c.q("state").unwrap_or("open");
    let head = c.q("head").map(|h| match h.split_once(':') {
        Some((owner, branch)) => (Some(owner.to_string()), branch.to_string()),
        None => (None, h.to_string()),
    });
    let per_page: usize = c
        .q("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = c.q("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let list: Vec<Value> = repo
        .pulls
        .values()
        .rev()
        .filter(|p| match state {
            "open" => p.open,
            "closed" => !p.open,
            _ => true,
        })
        .filter(|p| match &head {
            // GitHub matches `owner:branch`; a head of another owner (a fork) never matches.
            Some((Some(o), b)) => o.eq_ignore_ascii_case(&repo.owner) && &p.head == b,
            Some((None, _)) => true,
            None => true,
        })
        .filter(|p| c.q("base").is_none_or(|b| p.base == b))
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|p| pull_json(st, repo, p, None))
        .collect();
    ok(Value::Array(list))
}

/// What opening a pull request asks for, from REST's body or GraphQL's input.
pub(crate) struct NewPull {
    pub title: Option<String>,
    pub head: Option<String>,
    pub base: Option<String>,
    pub body: Option<String>,
    pub draft: bool,
    pub maintainer_can_modify: bool,
}

/// Open a pull request by `g`'s rules, REST's `POST /pulls` and GraphQL's
/// `createPullRequest` alike; the number of the new PR.
pub(crate) fn open_pull(
    st: &mut State,
    g: &TokenGrants,
    full: &str,
    np: NewPull,
) -> Result<u64, Refused> {
    // `gh` quoting GitHub's GraphQL answers: "Resource not accessible by integration
    // (createPullRequest)" without `pull-requests: write`, and "GitHub Actions is not
    // permitted to create or approve pull requests (createPullRequest)" with the
    // setting off (graphql-pulls.md).
    if !g.pull_requests_write {
        return Err(forbidden_both());
    }
    if g.actions && !st.actions_can_create_prs {
        return Err(refused(
            err(
                403,
                "GitHub Actions is not permitted to create or approve pull requests.",
            ),
            "FORBIDDEN",
            "GitHub Actions is not permitted to create or approve pull requests",
        ));
    }
    let mut missing = Vec::new();
    let mut blank = Vec::new();
    for (f, v, what) in [
        ("title", &np.title, "Title"),
        ("head", &np.head, "Head ref"),
        ("base", &np.base, "Base ref"),
    ] {
        if v.as_ref().is_none_or(|v| v.is_empty()) {
            missing.push(json!({"resource": "PullRequest", "field": f, "code": "missing_field"}));
            blank.push(format!("{what} can't be blank"));
        }
    }
    if !missing.is_empty() {
        // NOT PINNED: the GraphQL wording (Rails' "can't be blank", as in the
        // quoted "Head sha can't be blank, Base sha can't be blank, …").
        return Err(refused(
            invalid(Value::Array(missing)),
            "UNPROCESSABLE",
            blank.join(", "),
        ));
    }
    let title = np.title.unwrap_or_default();
    let head_raw = np.head.unwrap_or_default();
    let base = np.base.unwrap_or_default();
    let id = st.id();
    let repo = st.repo(full).map_err(internal_both)?;
    let head_invalid = |head: &str| {
        // The GraphQL text for a head branch that doesn't exist, as `gh` quoted it:
        // "No commits between main and feat/SPEC-0002, Head ref must be a branch".
        refused(
            invalid(json!([{"resource": "PullRequest", "field": "head", "code": "invalid"}])),
            "UNPROCESSABLE",
            format!("No commits between {base} and {head}, Head ref must be a branch"),
        )
    };
    let head = match head_raw.split_once(':') {
        Some((o, b)) if o.eq_ignore_ascii_case(&repo.owner) => b.to_string(),
        Some(_) => return Err(head_invalid(&head_raw)),
        None => head_raw.clone(),
    };
    let Some(base_sha) = repo.git.branch(&base) else {
        // NOT PINNED: the GraphQL text, by analogy with the head's.
        return Err(refused(
            invalid(json!([{"resource": "PullRequest", "field": "base", "code": "invalid"}])),
            "UNPROCESSABLE",
            "Base ref must be a branch",
        ));
    };
    let Some(head_sha) = repo.git.branch(&head) else {
        return Err(head_invalid(&head));
    };
    if repo
        .pulls
        .values()
        .any(|p| p.open && p.head == head && p.base == base)
    {
        let m = format!("A pull request already exists for {}:{head}.", repo.owner);
        return Err(refused(custom("PullRequest", &m), "UNPROCESSABLE", m));
    }
    if head == base
        || repo
            .git
            .count(&base_sha, &head_sha)
            .map_err(internal_both)?
            == 0
    {
        // GraphQL: "No commits between main and release/v1.0.206 (createPullRequest)".
        let m = format!("No commits between {base} and {head}");
        return Err(refused(custom("PullRequest", &m), "UNPROCESSABLE", m));
    }
    let at = now();
    let number = repo.next_number;
    let p = Pull {
        number,
        id,
        title,
        body: np.body,
        head,
        base,
        user: g.user_login.clone(),
        open: true,
        draft: np.draft,
        maintainer_can_modify: np.maintainer_can_modify,
        head_sha,
        base_sha,
        merged: None,
        labels: Vec::new(),
        requested_reviewers: Vec::new(),
        requested_teams: Vec::new(),
        reviews: Vec::new(),
        auto_merge: None,
        comments: Vec::new(),
        created_at: at.clone(),
        updated_at: at,
        closed_at: None,
    };
    let repo = st.repo_mut(full).map_err(internal_both)?;
    repo.next_number += 1;
    repo.pulls.insert(number, p);
    Ok(number)
}

fn create_pull(st: &mut State, c: &Call, full: &str) -> Result<Reply, ApiError> {
    let np = NewPull {
        title: c.s("title"),
        head: c.s("head"),
        base: c.s("base"),
        body: c.s("body"),
        draft: c.body["draft"].as_bool().unwrap_or(false),
        maintainer_can_modify: c.body["maintainer_can_modify"].as_bool().unwrap_or(false),
    };
    let number = open_pull(st, &c.grants, full, np)?;
    let repo = st.repo(full).map_err(internal)?;
    let p = &repo.pulls[&number];
    // A new PR's mergeability is computed in the background on GitHub: not known yet.
    let mut v = pull_json(st, repo, p, None);
    let o = v.as_object_mut().expect("object");
    for (k, val) in [
        ("merged", json!(false)),
        ("mergeable", Value::Null),
        ("rebaseable", Value::Null),
        ("mergeable_state", json!("unknown")),
        ("merged_by", Value::Null),
        ("comments", json!(0)),
        ("review_comments", json!(0)),
        ("maintainer_can_modify", json!(p.maintainer_can_modify)),
        (
            "commits",
            json!(repo.git.count(&p.base_sha, &p.head_sha).unwrap_or(0)),
        ),
        ("additions", json!(0)),
        ("deletions", json!(0)),
        ("changed_files", json!(0)),
    ] {
        o.insert(k.into(), val);
    }
    created(v)
}

fn update_pull(st: &mut State, c: &Call, full: &str, n: u64) -> Result<Reply, ApiError> {
    let repo = st.repo(full).map_err(internal)?;
    let p = repo.pulls.get(&n).ok_or_else(not_found)?;
    if let Some(b) = c.s("base")
        && repo.git.branch(&b).is_none()
    {
        return Err(invalid(
            json!([{"resource": "PullRequest", "field": "base", "code": "invalid"}]),
        ));
    }
    let reopen = c.s("state").as_deref() == Some("open") && !p.open;
    if reopen {
        if p.merged.is_some() {
            return Err(custom(
                "PullRequest",
                "state cannot be changed. The pull request cannot be reopened because it has been merged.",
            ));
        }
        if repo.git.branch(&p.head).is_none() {
            return Err(custom(
                "PullRequest",
                "state cannot be changed. The head branch was deleted.",
            ));
        }
        if repo
            .pulls
            .values()
            .any(|o| o.open && o.head == p.head && o.base == p.base)
        {
            return Err(custom(
                "PullRequest",
                &format!(
                    "A pull request already exists for {}:{}.",
                    repo.owner, p.head
                ),
            ));
        }
    }
    let live_head = repo.pull_head(p);
    let live_base = repo.git.branch(&p.base);
    let repo = st.repo_mut(full).map_err(internal)?;
    let p = repo.pulls.get_mut(&n).ok_or_else(not_found)?;
    if let Some(t) = c.s("title") {
        p.title = t;
    }
    if c.body.get("body").is_some() {
        p.body = c.s("body");
    }
    if let Some(b) = c.s("base") {
        p.base = b;
    }
    if let Some(m) = c.body["maintainer_can_modify"].as_bool() {
        p.maintainer_can_modify = m;
    }
    match c.s("state").as_deref() {
        Some("closed") if p.open => {
            p.open = false;
            p.head_sha = live_head;
            if let Some(b) = live_base {
                p.base_sha = b;
            }
            p.closed_at = Some(now());
            p.auto_merge = None;
        }
        Some("open") if reopen => {
            p.open = true;
            p.closed_at = None;
        }
        Some("open") | Some("closed") | None => {}
        Some(_) => {
            return Err(invalid(
                json!([{"resource": "PullRequest", "field": "state", "code": "invalid"}]),
            ));
        }
    }
    p.updated_at = now();
    ok(pull_json_detail(st, full, n).map_err(internal)?)
}

fn request_reviewers(st: &mut State, c: &Call, full: &str, n: u64) -> Result<Reply, ApiError> {
    let users = strings(&c.body["reviewers"]);
    let teams: Vec<String> = strings(&c.body["team_reviewers"]);
    ask_reviews(st, &c.grants, full, n, users, teams, true)?;
    created(pull_json_detail(st, full, n).map_err(internal)?)
}

/// Ask `users` and `teams` (slugs, or `org/slug`) to review PR `n`: REST's
/// `POST …/requested_reviewers` (always `union`) and GraphQL's `requestReviews`
/// (`union: false` replaces the requested set: SCHEMA, `RequestReviewsInput.union`
/// "Add users to the set rather than replace").
pub(crate) fn ask_reviews(
    st: &mut State,
    g: &TokenGrants,
    full: &str,
    n: u64,
    users: Vec<String>,
    teams: Vec<String>,
    union: bool,
) -> Result<(), Refused> {
    if !g.pull_requests_write {
        return Err(forbidden_both());
    }
    let repo = st.repo(full).map_err(internal_both)?;
    let p = repo.pulls.get(&n).ok_or_else(|| same_text(not_found()))?;
    if users.iter().any(|u| u == &p.user) {
        // GraphQL, as `gh` shows it: "Review cannot be requested from pull request
        // author. (requestReviews)".
        let m = "Review cannot be requested from pull request author.";
        return Err(refused(custom("PullRequest", m), "UNPROCESSABLE", m));
    }
    let org = repo.owner.clone();
    let teams: Vec<String> = teams
        .into_iter()
        .map(|t| {
            if t.contains('/') {
                t
            } else {
                format!("{org}/{t}")
            }
        })
        .collect();
    // A token that can't read the organization's teams (every `GITHUB_TOKEN`) gets
    // 422 for the whole call, users included, with `errors` a list of strings:
    // PyGithub/PyGithub#1499 and vsoch/pull-request-action#29 (full bodies),
    // actions/github-script#284 and #572, Azure/azure-rest-api-specs#45985. In
    // GraphQL the team is a node the token cannot resolve: the same text, NOT_FOUND.
    if !teams.is_empty() && !g.members_read {
        let t = &teams[0];
        let node = format!(
            "T_kwDO{}",
            t.bytes().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let m = format!("Could not resolve to a node with the global id of '{node}'.");
        return Err(refused(invalid(json!([m.clone()])), "NOT_FOUND", m));
    }
    let outsider = users.iter().any(|u| st.role(repo, u).is_none())
        || teams
            .iter()
            .any(|t| !st.teams.contains_key(t) || !t.starts_with(&format!("{org}/")));
    if outsider {
        // NOT PINNED for GraphQL: REST's text, which GitHub's validation gives both.
        let m = format!(
            "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {full} repository."
        );
        return Err(refused(custom("PullRequest", &m), "UNPROCESSABLE", m));
    }
    let repo = st.repo_mut(full).map_err(internal_both)?;
    let p = repo
        .pulls
        .get_mut(&n)
        .ok_or_else(|| same_text(not_found()))?;
    if !union {
        p.requested_reviewers.clear();
        p.requested_teams.clear();
    }
    for u in users {
        if !p.requested_reviewers.contains(&u) {
            p.requested_reviewers.push(u);
        }
    }
    for t in teams {
        if !p.requested_teams.contains(&t) {
            p.requested_teams.push(t);
        }
    }
    p.updated_at = now();
    Ok(())
}

/// Put labels `names` on PR `n` (`replace`: instead of its labels): REST's
/// `POST`/`PUT …/issues/{n}/labels`, which makes a missing label (`create`), and
/// GraphQL's `addLabelsToLabelable`, whose labels are ids that must exist (the
/// caller resolves them). Labelling a PR takes `pull-requests: write` (below).
pub(crate) fn label_pull(
    st: &mut State,
    g: &TokenGrants,
    full: &str,
    n: u64,
    names: Vec<String>,
    create: bool,
    replace: bool,
) -> Result<Vec<String>, Refused> {
    if !g.pull_requests_write {
        return Err(forbidden_both());
    }
    let mut ids = Vec::new();
    if create {
        for _ in &names {
            ids.push(st.id());
        }
    }
    let repo = st.repo_mut(full).map_err(internal_both)?;
    for (name, id) in names.iter().zip(ids) {
        repo.labels.entry(name.clone()).or_insert(id);
    }
    let p = repo
        .pulls
        .get_mut(&n)
        .ok_or_else(|| same_text(not_found()))?;
    if replace {
        p.labels.clear();
    }
    for name in names {
        if !p.labels.contains(&name) {
            p.labels.push(name);
        }
    }
    p.updated_at = now();
    Ok(p.labels.clone())
}

/// Submit a review (`APPROVE`, `REQUEST_CHANGES`, `COMMENT`, or pending without an event).
pub(crate) fn add_review(
    st: &mut State,
    full: &str,
    n: u64,
    login: &str,
    event: &str,
    body: &str,
) -> Result<Review, ApiError> {
    let id = st.id();
    let repo = st.repo_mut(full).map_err(internal)?;
    let head = {
        let p = repo.pulls.get(&n).ok_or_else(not_found)?;
        repo.pull_head(p)
    };
    let p = repo.pulls.get_mut(&n).ok_or_else(not_found)?;
    let state = match event {
        "APPROVE" => "APPROVED",
        "REQUEST_CHANGES" => "CHANGES_REQUESTED",
        "COMMENT" => "COMMENTED",
        "" => "PENDING",
        _ => {
            return Err(invalid(
                json!([{"resource": "PullRequestReview", "field": "event", "code": "invalid"}]),
            ));
        }
    };
    if p.user == login && (state == "APPROVED" || state == "CHANGES_REQUESTED") {
        let what = if state == "APPROVED" {
            "approve"
        } else {
            "request changes on"
        };
        return Err(ApiError {
            status: 422,
            message: "Unprocessable Entity".into(),
            errors: Some(json!([format!("Can not {what} your own pull request")])),
        });
    }
    if !p.open && state != "COMMENTED" {
        return Err(ApiError {
            status: 422,
            message: "Unprocessable Entity".into(),
            errors: Some(json!(["Pull request is closed"])),
        });
    }
    let r = Review {
        id,
        user: login.into(),
        state: state.into(),
        body: body.into(),
        commit_id: head,
        submitted_at: now(),
    };
    p.requested_reviewers.retain(|u| u != login);
    p.reviews.push(r.clone());
    Ok(r)
}

/// Merge PR `n` as `g`'s user: REST's `PUT …/merge` and GraphQL's
/// `mergePullRequest` (its `mergeMethod` lowercased), then settle what follows
/// (auto-merges, branches). The merge commit's sha.
#[allow(clippy::too_many_arguments)]
pub(crate) fn merge_pull(
    st: &mut State,
    g: &TokenGrants,
    full: &str,
    n: u64,
    method: &str,
    expected: Option<&str>,
    title: Option<String>,
    message: Option<String>,
) -> Result<String, Refused> {
    if !g.contents_write {
        return Err(forbidden_both());
    }
    if !["merge", "squash", "rebase"].contains(&method) {
        return Err(refused(
            invalid(
                json!([{"resource": "PullRequest", "field": "merge_method", "code": "invalid"}]),
            ),
            "INVALID",
            format!("Invalid merge method `{method}`"),
        ));
    }
    let sha =
        merge(st, full, n, method, expected, &g.user_login, title, message).map_err(same_text)?;
    settle(st).map_err(internal_both)?;
    Ok(sha)
}

/// Merge PR `n` as `by`, the way `PUT …/merge` does, or say why not.
#[allow(clippy::too_many_arguments)]
fn merge(
    st: &mut State,
    full: &str,
    n: u64,
    method: &str,
    expected: Option<&str>,
    by: &str,
    title: Option<String>,
    message: Option<String>,
) -> Result<String, ApiError> {
    let repo = st.repo(full).map_err(internal)?;
    let p = repo.pulls.get(&n).ok_or_else(not_found)?;
    if !p.open {
        return Err(err(405, "Pull Request is not mergeable"));
    }
    let allowed = match method {
        "merge" => repo.settings.allow_merge_commit,
        "squash" => repo.settings.allow_squash_merge,
        _ => repo.settings.allow_rebase_merge,
    };
    if !allowed {
        let what = match method {
            "merge" => "Merge commits are",
            "squash" => "Squash merges are",
            _ => "Rebase merges are",
        };
        return Err(err(405, &format!("{what} not allowed on this repository.")));
    }
    let comp = compute(st, repo, p).map_err(internal)?;
    if let Some(sha) = expected
        && sha != comp.head
    {
        return Err(err(
            409,
            "Head branch was modified. Review and try the merge again.",
        ));
    }
    if let Some(first) = comp.blockers.first() {
        return Err(err(405, first));
    }
    let g = &repo.git;
    let merger = Person::of_login(by);
    let author = Person::of_login(&p.user);
    let new = match method {
        "merge" => {
            let tree = g
                .merge_tree(&comp.base, &comp.head, None)
                .map_err(internal)?
                .ok_or_else(|| err(405, "Pull Request is not mergeable"))?;
            let msg = format!(
                "{}\n\n{}",
                title.unwrap_or_else(|| format!(
                    "Merge pull request #{n} from {}/{}",
                    repo.owner, p.head
                )),
                message.unwrap_or_else(|| p.title.clone())
            );
            g.commit_signed(
                &tree,
                &[&comp.base, &comp.head],
                &msg,
                &merger,
                &Person::github(),
            )
            .map_err(internal)?
        }
        "squash" => {
            let tree = g
                .merge_tree(&comp.base, &comp.head, None)
                .map_err(internal)?
                .ok_or_else(|| err(405, "Pull Request is not mergeable"))?;
            let body = message.unwrap_or_else(|| {
                let shas = g
                    .rev_list(&["--reverse", &comp.head, "--not", &comp.base])
                    .unwrap_or_default();
                shas.iter()
                    .filter_map(|s| g.commit_info(s).ok())
                    .map(|c| format!("* {}", c.message))
                    .collect::<Vec<_>>()
                    .join("\n\n")
            });
            let msg = format!(
                "{} (#{n})\n\n{body}",
                title.unwrap_or_else(|| p.title.clone())
            );
            g.commit_signed(
                &tree,
                &[&comp.base],
                msg.trim_end(),
                &author,
                &Person::github(),
            )
            .map_err(internal)?
        }
        _ => {
            let shas = g
                .rev_list(&["--reverse", "--no-merges", &comp.head, "--not", &comp.base])
                .map_err(internal)?;
            let mut tip = comp.base.clone();
            for s in &shas {
                let info = g.commit_info(s).map_err(internal)?;
                let parent = info.parents.first().cloned();
                let tree = g
                    .merge_tree(&tip, s, parent.as_deref())
                    .map_err(internal)?
                    .ok_or_else(|| err(405, "This branch can't be rebased"))?;
                let a = Person {
                    name: info.author.0.clone(),
                    email: info.author.1.clone(),
                    date: Some(info.author.2.clone()),
                };
                tip = g
                    .commit_signed(&tree, &[&tip], &info.message, &a, &Person::github())
                    .map_err(internal)?;
            }
            tip
        }
    };
    if !g
        .cas_branch(&p.base, &new, Some(&comp.base))
        .map_err(internal)?
    {
        return Err(err(
            409,
            "Base branch was modified. Review and try the merge again.",
        ));
    }
    let delete = repo.settings.delete_branch_on_merge;
    let head_branch = p.head.clone();
    let at = now();
    let repo = st.repo_mut(full).map_err(internal)?;
    let p = repo.pulls.get_mut(&n).ok_or_else(not_found)?;
    p.open = false;
    p.head_sha = comp.head;
    p.base_sha = comp.base;
    p.closed_at = Some(at.clone());
    p.updated_at = at.clone();
    p.auto_merge = None;
    p.merged = Some(Merged {
        sha: new.clone(),
        by: by.into(),
        at,
    });
    let is_default = default_branch(&repo.git).ok().as_deref() == Some(head_branch.as_str());
    let still_base = repo.pulls.values().any(|o| o.open && o.base == head_branch);
    if delete && !is_default && !still_base && !repo.protection.contains_key(&head_branch) {
        repo.git.delete_branch(&head_branch).map_err(internal)?;
    }
    Ok(new)
}

/// Bring PRs up to date with what happened in git: close those whose branches are gone,
/// mark those whose head reached the base as merged, and run pending auto-merges.
pub(crate) fn settle(st: &mut State) -> anyhow::Result<()> {
    for _ in 0..100 {
        let mut todo: Option<(String, u64, AutoMergeRequest)> = None;
        let names: Vec<String> = st.repos.keys().cloned().collect();
        for full in &names {
            let mut closes = Vec::new();
            let mut pushed = Vec::new();
            {
                let repo = st.repo(full)?;
                for p in repo.pulls.values().filter(|p| p.open) {
                    let head = repo.git.branch(&p.head);
                    let base = repo.git.branch(&p.base);
                    match (head, base) {
                        (Some(h), Some(b)) => {
                            if repo.git.is_ancestor(&h, &b) && h != p.base_sha {
                                pushed.push((p.number, h, b));
                            } else if let Some(a) = &p.auto_merge
                                && todo.is_none()
                            {
                                let c = compute(st, repo, p)?;
                                if c.blockers.is_empty() {
                                    todo = Some((full.clone(), p.number, a.clone()));
                                }
                            }
                        }
                        (h, b) => closes.push((p.number, h, b)),
                    }
                }
            }
            let owner = st.repo(full)?.owner.clone();
            let repo = st.repo_mut(full)?;
            for (n, h, b) in closes {
                let p = repo.pulls.get_mut(&n).expect("listed");
                p.open = false;
                if let Some(h) = h {
                    p.head_sha = h;
                }
                if let Some(b) = b {
                    p.base_sha = b;
                }
                p.closed_at = Some(now());
                p.auto_merge = None;
            }
            for (n, h, b) in pushed {
                // Its commits reached the base by a push: GitHub marks it merged.
                let p = repo.pulls.get_mut(&n).expect("listed");
                let at = now();
                p.open = false;
                p.head_sha = h.clone();
                p.base_sha = b;
                p.closed_at = Some(at.clone());
                p.auto_merge = None;
                p.merged = Some(Merged {
                    sha: h,
                    by: owner.clone(),
                    at,
                });
            }
        }
        let Some((full, n, a)) = todo else {
            return Ok(());
        };
        if merge(
            st,
            &full,
            n,
            &a.method,
            None,
            &a.enabled_by,
            a.commit_title.clone(),
            a.commit_message.clone(),
        )
        .is_err()
        {
            // It became unmergeable between the check and the merge; keep it pending.
            return Ok(());
        }
    }
    Ok(())
}

// -- git reads ------------------------------------------------------------------

/// The compare answer lists at most this many files (REST docs "Compare two commits").
const COMPARE_FILES: usize = 300;
/// A recursive tree answer holds at most this many entries, else it is `truncated`
/// (REST docs "Get a tree": "100,000 entries with a maximum size of 7 MB").
const TREE_ENTRIES: usize = 100_000;

/// `GET /git/trees/{tree_sha}`: a tree by its sha or a ref (branch or tag) name
/// (REST docs "Get a tree"); `recursive` set to any value lists the subtrees' entries
/// too, with their full paths, up to [`TREE_ENTRIES`].
fn tree(st: &State, c: &Call, full: &str, spec: &str) -> Result<Reply, ApiError> {
    let repo = st.repo(full).map_err(internal)?;
    let g = &repo.git;
    let sha = g
        .run(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{spec}^{{tree}}"),
        ])
        .map_err(|_| err(404, "Not Found"))?;
    let sha = sha.trim().to_string();
    if sha.is_empty() {
        return Err(err(404, "Not Found"));
    }
    let mut args = vec!["ls-tree", "-z", "-l", "--full-tree"];
    if c.q("recursive").is_some() {
        args.extend(["-r", "-t"]);
    }
    args.push(&sha);
    let listing = g.run(&args).map_err(internal)?;
    let base = &st.base_url;
    let mut tree = Vec::new();
    let mut truncated = false;
    for line in listing.split('\0').filter(|l| !l.is_empty()) {
        if tree.len() == TREE_ENTRIES {
            truncated = true;
            break;
        }
        let Some((meta, path)) = line.split_once('\t') else {
            continue;
        };
        let mut m = meta.split_whitespace();
        let (mode, kind, oid, size) = (
            m.next().unwrap_or_default(),
            m.next().unwrap_or_default(),
            m.next().unwrap_or_default(),
            m.next().unwrap_or("-"),
        );
        let mut e = json!({
            "path": path, "mode": mode, "type": kind, "sha": oid,
            "url": format!("{base}/api/v3/repos/{full}/git/{}s/{oid}", if kind == "tree" { "tree" } else { "blob" }),
        });
        if let Ok(n) = size.parse::<u64>() {
            e["size"] = json!(n);
        }
        tree.push(e);
    }
    ok(json!({
        "sha": sha,
        "url": format!("{base}/api/v3/repos/{full}/git/trees/{sha}"),
        "tree": tree,
        "truncated": truncated,
    }))
}

fn compare(st: &State, c: &Call, full: &str, spec: &str) -> Result<Reply, ApiError> {
    let (b, h) = spec.split_once("...").ok_or_else(not_found)?;
    let repo = st.repo(full).map_err(internal)?;
    let g = &repo.git;
    let base_sha = g.resolve(b).ok_or_else(not_found)?;
    let head_sha = g.resolve(h).ok_or_else(not_found)?;
    let mb = g
        .merge_base(&base_sha, &head_sha)
        .ok_or_else(|| err(404, &format!("No common ancestor between {b} and {h}.")))?;
    let ahead = g.count(&base_sha, &head_sha).map_err(internal)?;
    let behind = g.count(&head_sha, &base_sha).map_err(internal)?;
    let status = match (ahead, behind) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    };
    let base = &st.base_url;
    // Commits oldest first: 250 at most without pagination, else the page asked
    // for, `per_page` 30 by default and 100 at most (REST docs "Compare two
    // commits": "use a query parameter (per_page or page) to paginate"; results
    // "in chronological order"; `total_commits` counts them all).
    let all = g
        .rev_list(&["--reverse", &head_sha, "--not", &base_sha])
        .map_err(internal)?;
    let shas: Vec<String> = if c.q("per_page").is_none() && c.q("page").is_none() {
        all.into_iter().take(250).collect()
    } else {
        let per: usize = c
            .q("per_page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page: usize = c.q("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
        all.into_iter().skip((page - 1) * per).take(per).collect()
    };
    let commits = shas
        .iter()
        .map(|s| commit_json(base, full, g, s))
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(internal)?;
    // The files of the whole comparison, at most 300 of them, with renames found
    // (`renamed` and `previous_filename`), and nothing in the answer saying some
    // were left out (REST docs "Compare two commits": "it includes up to 300
    // changed files for the entire comparison"; jitterbit/get-changed-files#49).
    let mut files = Vec::new();
    let numstat = g
        .run(&["diff", "--numstat", "-z", "-M", &mb, &head_sha])
        .map_err(internal)?;
    let mut fields = numstat.split('\0').filter(|f| !f.is_empty());
    while let Some(head) = fields.next() {
        if files.len() == COMPARE_FILES {
            break;
        }
        let mut n = head.splitn(3, '\t');
        let add: u64 = n.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        let del: u64 = n.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        // `-z`: a rename's two names follow as fields of their own.
        let (previous, path) = match n.next().filter(|p| !p.is_empty()) {
            Some(p) => (None, p.to_string()),
            None => {
                let old = fields.next().unwrap_or_default().to_string();
                (Some(old), fields.next().unwrap_or_default().to_string())
            }
        };
        let in_head = g
            .run(&["cat-file", "-e", &format!("{head_sha}:{path}")])
            .is_ok();
        let in_base = g.run(&["cat-file", "-e", &format!("{mb}:{path}")]).is_ok();
        let status = match (&previous, in_base, in_head) {
            (Some(_), _, _) => "renamed",
            (None, false, true) => "added",
            (None, true, false) => "removed",
            _ => "modified",
        };
        let blob = g
            .run(&["rev-parse", &format!("{head_sha}:{path}")])
            .unwrap_or_default();
        let mut f = json!({
            "sha": blob, "filename": path, "status": status,
            "additions": add, "deletions": del, "changes": add + del,
            "blob_url": format!("{base}/{full}/blob/{head_sha}/{path}"),
            "raw_url": format!("{base}/{full}/raw/{head_sha}/{path}"),
            "contents_url": format!("{base}/api/v3/repos/{full}/contents/{path}?ref={head_sha}"),
        });
        if let Some(p) = previous {
            f["previous_filename"] = Value::String(p);
        }
        files.push(f);
    }
    let html = format!("{base}/{full}/compare/{b}...{h}");
    ok(json!({
        "url": format!("{base}/api/v3/repos/{full}/compare/{b}...{h}"),
        "html_url": html,
        "permalink_url": format!("{base}/{full}/compare/{}:{base_sha}...{}:{head_sha}", repo.owner, repo.owner),
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "base_commit": commit_json(base, full, g, &base_sha).map_err(internal)?,
        "merge_base_commit": commit_json(base, full, g, &mb).map_err(internal)?,
        "status": status,
        "ahead_by": ahead,
        "behind_by": behind,
        "total_commits": ahead,
        "commits": commits,
        "files": files,
    }))
}

fn list_commits(st: &State, c: &Call, full: &str) -> Result<Reply, ApiError> {
    let repo = st.repo(full).map_err(internal)?;
    let g = &repo.git;
    let start = match c.q("sha") {
        Some(s) => g.resolve(s).ok_or_else(|| err(404, "Not Found"))?,
        None => g
            .branch(&default_branch(g).map_err(internal)?)
            .ok_or_else(|| err(409, "Git Repository is empty."))?,
    };
    let per_page: usize = c
        .q("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = c.q("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let skip = format!("--skip={}", (page - 1) * per_page);
    let max = format!("--max-count={per_page}");
    let mut args = vec![skip.as_str(), max.as_str(), start.as_str()];
    if let Some(p) = c.q("path") {
        args.push("--");
        args.push(p.trim_start_matches('/'));
    }
    let shas = g.rev_list(&args).map_err(internal)?;
    let list = shas
        .iter()
        .map(|s| commit_json(&st.base_url, full, g, s))
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(internal)?;
    ok(Value::Array(list))
}

fn combined_status(st: &State, full: &str, r: &str) -> Result<Reply, ApiError> {
    let base = &st.base_url;
    let repo = st.repo(full).map_err(internal)?;
    let sha = repo.git.resolve(r).ok_or_else(not_found)?;
    let m = repo.statuses.get(&sha);
    let list: Vec<Value> = m
        .map(|m| {
            m.iter()
                .map(|(ctx, s)| status_json(base, full, &sha, ctx, s))
                .collect()
        })
        .unwrap_or_default();
    let states: Vec<&str> = m
        .map(|m| m.values().map(|s| s.state.as_str()).collect())
        .unwrap_or_default();
    let state = if states.iter().any(|s| *s == "failure" || *s == "error") {
        "failure"
    } else if states.is_empty() || states.contains(&"pending") {
        "pending"
    } else {
        "success"
    };
    ok(json!({
        "state": state, "statuses": list, "sha": sha, "total_count": states.len(),
        "repository": repo_json(base, repo, None),
        "commit_url": format!("{base}/api/v3/repos/{full}/commits/{sha}"),
        "url": format!("{base}/api/v3/repos/{full}/commits/{sha}/status"),
    }))
}

fn contents(st: &State, c: &Call, full: &str, path: &str) -> Result<Reply, ApiError> {
    let base = &st.base_url;
    let repo = st.repo(full).map_err(internal)?;
    let g = &repo.git;
    let r = match c.q("ref") {
        Some(r) => r.to_string(),
        None => default_branch(g).map_err(internal)?,
    };
    let sha = g
        .resolve(&r)
        .ok_or_else(|| err(404, &format!("No commit found for the ref {r}")))?;
    let entry = |p: &str, kind: &str, blob: &str, size: usize| {
        let url = format!("{base}/api/v3/repos/{full}/contents/{p}?ref={r}");
        let html = format!("{base}/{full}/blob/{r}/{p}");
        let git = format!("{base}/api/v3/repos/{full}/git/blobs/{blob}");
        json!({
            "type": kind, "size": size,
            "name": p.rsplit('/').next().unwrap_or(p), "path": p, "sha": blob,
            "url": url, "git_url": git, "html_url": html,
            "download_url": if kind == "file" { json!(format!("{base}/{full}/raw/{r}/{p}")) } else { Value::Null },
            "_links": {"self": url, "git": git, "html": html},
        })
    };
    if let Some((bytes, blob)) = g.file(&sha, path) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        // GitHub wraps the base64 at 60 characters.
        let wrapped: Vec<String> = b64
            .as_bytes()
            .chunks(60)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let mut v = entry(path, "file", &blob, bytes.len());
        v["encoding"] = "base64".into();
        v["content"] = (wrapped.join("\n") + "\n").into();
        return ok(v);
    }
    let spec = format!("{sha}:{}", path.trim_end_matches('/'));
    let listing = g.run(&["ls-tree", "-l", &spec]).map_err(|_| not_found())?;
    let items: Vec<Value> = listing
        .lines()
        .filter_map(|l| {
            let (meta, name) = l.split_once('\t')?;
            let f: Vec<&str> = meta.split_whitespace().collect();
            let kind = if f.get(1) == Some(&"tree") {
                "dir"
            } else {
                "file"
            };
            let size = f.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
            let p = if path.is_empty() {
                name.to_string()
            } else {
                format!("{}/{name}", path.trim_end_matches('/'))
            };
            Some(entry(&p, kind, f.get(2).copied().unwrap_or(""), size))
        })
        .collect();
    ok(Value::Array(items))
}

// -- deployments and dispatches ----------------------------------------------------

fn deployment_json(base: &str, full: &str, d: &Deployment) -> Value {
    let api = format!("{base}/api/v3/repos/{full}");
    let i = &d.info;
    json!({
        "url": format!("{api}/deployments/{}", i.id),
        "id": i.id, "node_id": format!("DE_{}", i.id),
        "sha": i.sha, "ref": i.git_ref, "task": d.task, "payload": i.payload,
        "original_environment": i.environment, "environment": i.environment,
        "description": i.description, "creator": user_json(base, &i.creator),
        "created_at": d.created_at, "updated_at": d.status_times.last().unwrap_or(&d.created_at),
        "statuses_url": format!("{api}/deployments/{}/statuses", i.id),
        "repository_url": api,
        "transient_environment": d.transient_environment,
        "production_environment": d.production_environment,
        "performed_via_github_app": null,
    })
}

fn deployment_status_json(base: &str, full: &str, d: &Deployment, idx: usize) -> Value {
    let api = format!("{base}/api/v3/repos/{full}");
    let s = &d.info.statuses[idx];
    json!({
        "url": format!("{api}/deployments/{}/statuses/{}", d.info.id, s.id),
        "id": s.id, "node_id": format!("DES_{}", s.id), "state": s.state,
        "creator": user_json(base, &d.info.creator),
        "description": s.description, "environment": d.info.environment,
        "target_url": s.log_url.clone().unwrap_or_default(),
        "log_url": s.log_url.clone().unwrap_or_default(),
        "environment_url": s.environment_url.clone().unwrap_or_default(),
        "created_at": d.status_times[idx], "updated_at": d.status_times[idx],
        "deployment_url": format!("{api}/deployments/{}", d.info.id),
        "repository_url": api,
        "performed_via_github_app": null,
    })
}

fn create_deployment(st: &mut State, c: &Call, full: &str) -> Result<Reply, ApiError> {
    let r = c.s("ref").ok_or_else(|| {
        invalid(json!([{"resource": "Deployment", "field": "ref", "code": "missing_field"}]))
    })?;
    let id = st.id();
    let base = st.base_url.clone();
    let repo = st.repo(full).map_err(internal)?;
    let sha = repo
        .git
        .resolve(&r)
        .ok_or_else(|| err(422, &format!("No ref found for: {r}")))?;
    // Without `required_contexts`, every status on the commit must be green.
    let statuses = repo.statuses.get(&sha);
    let required: Vec<String> = match c.body.get("required_contexts") {
        Some(v) if v.is_array() => strings(v),
        _ => statuses
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
    };
    let failed: Vec<&String> = required
        .iter()
        .filter(|ctx| {
            statuses
                .and_then(|m| m.get(*ctx))
                .is_none_or(|s| s.state != "success")
        })
        .collect();
    if !failed.is_empty() {
        return Err(err(
            409,
            &format!("Conflict: Commit status checks failed for {r}."),
        ));
    }
    // The description's `payload` is an object or a string, in the request and in the
    // answer: a string holding a JSON object is answered as that object, any other string
    // as it was sent; an array, number or boolean is refused.
    let payload = match c.body.get("payload") {
        None | Some(Value::Null) => json!({}),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v) if v.is_object() => v,
            _ => Value::String(s.clone()),
        },
        Some(v) if v.is_object() => v.clone(),
        Some(_) => {
            return Err(invalid(json!([
                {"resource": "Deployment", "field": "payload", "code": "invalid"}
            ])));
        }
    };
    let environment = c.s("environment").unwrap_or_else(|| "production".into());
    let d = Deployment {
        info: DeploymentInfo {
            id,
            git_ref: r,
            sha,
            environment: environment.clone(),
            payload,
            description: c.s("description"),
            creator: c.grants.user_login.clone(),
            statuses: Vec::new(),
        },
        task: c.s("task").unwrap_or_else(|| "deploy".into()),
        created_at: now(),
        production_environment: c.body["production_environment"]
            .as_bool()
            .unwrap_or(environment == "production"),
        transient_environment: c.body["transient_environment"].as_bool().unwrap_or(false),
        status_times: Vec::new(),
    };
    let v = deployment_json(&base, full, &d);
    st.repo_mut(full).map_err(internal)?.deployments.push(d);
    created(v)
}

fn deployment_status(st: &mut State, c: &Call, full: &str, id: u64) -> Result<Reply, ApiError> {
    let state = c.s("state").unwrap_or_default();
    let states = [
        "error",
        "failure",
        "inactive",
        "in_progress",
        "queued",
        "pending",
        "success",
    ];
    if !states.contains(&state.as_str()) {
        return Err(invalid(
            json!([{"resource": "DeploymentStatus", "field": "state", "code": "invalid"}]),
        ));
    }
    let sid = st.id();
    let base = st.base_url.clone();
    let repo = st.repo_mut(full).map_err(internal)?;
    let idx = repo
        .deployments
        .iter()
        .position(|d| d.info.id == id)
        .ok_or_else(not_found)?;
    let at = now();
    let auto_inactive = c.body["auto_inactive"].as_bool().unwrap_or(true);
    let env = repo.deployments[idx].info.environment.clone();
    if state == "success" && auto_inactive {
        // GitHub marks the earlier successful deployments of the environment inactive.
        for (i, d) in repo.deployments.iter_mut().enumerate() {
            let last_success = d.info.statuses.last().is_some_and(|s| s.state == "success");
            if i != idx && d.info.environment == env && last_success && !d.transient_environment {
                let s = DeploymentStatusInfo {
                    id: sid * 1000 + i as u64,
                    state: "inactive".into(),
                    description: String::new(),
                    environment_url: None,
                    log_url: None,
                };
                d.info.statuses.push(s);
                d.status_times.push(at.clone());
            }
        }
    }
    let d = &mut repo.deployments[idx];
    d.info.statuses.push(DeploymentStatusInfo {
        id: sid,
        state,
        description: c.s("description").unwrap_or_default(),
        environment_url: c.s("environment_url"),
        log_url: c.s("log_url").or_else(|| c.s("target_url")),
    });
    d.status_times.push(at);
    let last = d.info.statuses.len() - 1;
    created(deployment_status_json(&base, full, d, last))
}

fn dispatch(st: &mut State, c: &Call, full: &str, wf: &str) -> Result<Reply, ApiError> {
    let Some(r) = c.s("ref") else {
        return Err(err(422, "Invalid request.\n\n\"ref\" wasn't supplied."));
    };
    let repo = st.repo_mut(full).map_err(internal)?;
    let sha = repo
        .git
        .resolve(&r)
        .ok_or_else(|| err(422, &format!("No ref found for: {r}")))?;
    let path = format!(".github/workflows/{wf}");
    let (text, _) = repo.git.file(&sha, &path).ok_or_else(not_found)?;
    if !String::from_utf8_lossy(&text).contains("workflow_dispatch") {
        return Err(err(
            422,
            "Workflow does not have 'workflow_dispatch' trigger",
        ));
    }
    let inputs = match c.body.get("inputs") {
        Some(v) if v.is_object() => v.clone(),
        _ => json!({}),
    };
    // Inputs the workflow doesn't declare are refused: 422 `Unexpected inputs
    // provided: ["foo"]` (body in convictional/trigger-workflow-and-wait#4; also
    // benc-uk/workflow-dispatch#80, peter-evans/slash-command-dispatch#115).
    let declared: Value = serde_norway::from_slice(&text).unwrap_or(Value::Null);
    let declared = &declared["on"]["workflow_dispatch"]["inputs"];
    let unexpected: Vec<&String> = inputs
        .as_object()
        .map(|m| {
            m.keys()
                .filter(|k| declared.get(k.as_str()).is_none())
                .collect()
        })
        .unwrap_or_default();
    if !unexpected.is_empty() {
        return Err(err(
            422,
            &format!(
                "Unexpected inputs provided: {}",
                serde_json::to_string(&unexpected).unwrap_or_default()
            ),
        ));
    }
    let run_id = st.id();
    let repo = st.repo_mut(full).map_err(internal)?;
    repo.dispatches.push(DispatchInfo {
        workflow: wf.to_string(),
        git_ref: r,
        inputs,
        actor: c.grants.user_login.clone(),
        sha,
        run_id,
        created_at: now(),
    });
    no_content()
}

/// `GET …/actions/workflows/{wf}/runs`: the runs dispatches started, newest first,
/// filtered by `event`, `branch`, `actor` and `created` (`>=TIME` only), as in the
/// REST reference "List workflow runs for a workflow". Only `workflow_dispatch`
/// runs exist here.
fn workflow_runs(st: &State, c: &Call, full: &str, wf: &str) -> Result<Reply, ApiError> {
    let base = st.base_url.clone();
    let repo = st.repo(full).map_err(internal)?;
    let since = c
        .q("created")
        .map(|v| v.trim_start_matches(">=").to_string());
    let runs: Vec<Value> = repo
        .dispatches
        .iter()
        .rev()
        .filter(|d| d.workflow == wf)
        .filter(|_| c.q("event").is_none_or(|e| e == "workflow_dispatch"))
        .filter(|d| c.q("branch").is_none_or(|b| d.git_ref == b))
        .filter(|d| c.q("actor").is_none_or(|a| d.actor == a))
        .filter(|d| since.as_deref().is_none_or(|t| d.created_at.as_str() >= t))
        .map(|d| {
            json!({
                "id": d.run_id,
                "path": format!(".github/workflows/{}", d.workflow),
                "event": "workflow_dispatch",
                "head_branch": d.git_ref,
                "status": "queued",
                "created_at": d.created_at,
                "actor": {"login": d.actor},
                "html_url": format!("{base}/{full}/actions/runs/{}", d.run_id),
            })
        })
        .collect();
    ok(json!({"total_count": runs.len(), "workflow_runs": runs}))
}

// -- GraphQL ---------------------------------------------------------------------

/// The value of argument `name` after `op` in the query: a `$variable` or a literal.
fn gql_arg(query: &str, vars: &Value, op: &str, name: &str) -> Option<Value> {
    let start = query.find(op)?;
    let tail = &query[start..];
    let mut pos = 0;
    let at = loop {
        let i = tail[pos..].find(name)? + pos;
        let before = tail[..i].chars().last();
        let after = tail[i + name.len()..].trim_start();
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
            && after.starts_with(':')
        {
            break i + name.len();
        }
        pos = i + name.len();
    };
    let v = tail[at..].trim_start().trim_start_matches(':').trim_start();
    if let Some(var) = v.strip_prefix('$') {
        let end = var
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(var.len());
        return vars.get(&var[..end]).cloned();
    }
    if let Some(s) = v.strip_prefix('"') {
        let end = s.find('"')?;
        return Some(Value::String(s[..end].to_string()));
    }
    let end = v
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(v.len());
    let lit = &v[..end];
    Some(
        lit.parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(lit.to_string())),
    )
}

fn gql_error(field: &str, kind: &str, message: &str) -> Value {
    json!({
        "data": {field: null},
        "errors": [{"type": kind, "path": [field], "locations": [{"line": 2, "column": 3}], "message": message}],
    })
}

pub(crate) fn find_node(st: &State, id: &str) -> Option<(String, u64)> {
    st.repos.iter().find_map(|(full, r)| {
        r.pulls
            .keys()
            .find(|n| node_id(r, **n) == id)
            .map(|n| (full.clone(), *n))
    })
}

pub(crate) fn gql_pr(st: &State, repo: &Repo, p: &Pull) -> anyhow::Result<Value> {
    let c = compute(st, repo, p)?;
    Ok(json!({
        "id": node_id(repo, p.number),
        "number": p.number,
        "title": p.title,
        "url": format!("{}/{}/pull/{}", st.base_url, repo.full_name(), p.number),
        "state": if p.merged.is_some() { "MERGED" } else if p.open { "OPEN" } else { "CLOSED" },
        "merged": p.merged.is_some(),
        "isDraft": p.draft,
        "headRefName": p.head, "baseRefName": p.base,
        "headRepository": {"nameWithOwner": repo.full_name()},
        "baseRepository": {"nameWithOwner": repo.full_name()},
        "headRefOid": c.head,
        "mergeable": if !p.open { "UNKNOWN" } else if c.mergeable { "MERGEABLE" } else { "CONFLICTING" },
        "mergeStateStatus": c.state.to_uppercase(),
        "autoMergeRequest": p.auto_merge.as_ref().map(|a| json!({
            "enabledAt": a.enabled_at,
            "mergeMethod": a.method.to_uppercase(),
            "enabledBy": {"login": a.enabled_by},
        })),
    }))
}

/// What `enablePullRequestAutoMerge` asks: the method (lowercased), the expected
/// head, the commit's headline and body.
pub(crate) struct AutoMergeAsk {
    pub method: String,
    pub expected: Option<String>,
    pub commit_title: Option<String>,
    pub commit_message: Option<String>,
}

/// `enablePullRequestAutoMerge` (`enable`: the method, lowercased, and the
/// expected head, title and body) or `disablePullRequestAutoMerge` on the PR whose
/// node id is `id`: the PR's repository and number, or the GraphQL error `type` and
/// message. The refusals' texts are GitHub's ("Pull request Pull request is in clean
/// status": daneden/enable-automerge-action#120).
pub(crate) fn auto_merge(
    st: &mut State,
    g: &TokenGrants,
    id: &str,
    enable: Option<AutoMergeAsk>,
) -> Result<(String, u64), (&'static str, String)> {
    if !g.pull_requests_write || !g.contents_write {
        return Err(("FORBIDDEN", "Resource not accessible by integration".into()));
    }
    let Some((full, n)) = find_node(st, id).filter(|(f, _)| g.sees(f)) else {
        return Err((
            "NOT_FOUND",
            format!("Could not resolve to a node with the global id of '{id}'"),
        ));
    };
    let internal = |e: anyhow::Error| ("INTERNAL", e.to_string());
    let Some(AutoMergeAsk {
        method,
        expected,
        commit_title,
        commit_message,
    }) = enable
    else {
        let repo = st.repo_mut(&full).map_err(internal)?;
        if let Some(p) = repo.pulls.get_mut(&n) {
            p.auto_merge = None;
        }
        return Ok((full, n));
    };
    let repo = st.repo(&full).map_err(internal)?;
    let p = &repo.pulls[&n];
    let refuse = |m: &str| Err(("UNPROCESSABLE", format!("Pull request {m}")));
    if p.merged.is_some() {
        return refuse("Pull request is already merged");
    }
    if !p.open {
        return refuse("Pull request is closed");
    }
    if !repo.settings.allow_auto_merge {
        return refuse("Auto merge is not allowed for this repository");
    }
    let c = compute(st, repo, p).map_err(internal)?;
    if let Some(e) = expected
        && e != c.head
    {
        return refuse("Head sha didn't match expected head sha");
    }
    if matches!(c.state, "clean" | "unstable" | "dirty" | "draft") {
        return refuse(&format!("Pull request is in {} status", c.state));
    }
    let req = AutoMergeRequest {
        method,
        enabled_by: g.user_login.clone(),
        enabled_at: now(),
        commit_title,
        commit_message,
    };
    let repo = st.repo_mut(&full).map_err(internal)?;
    if let Some(p) = repo.pulls.get_mut(&n) {
        p.auto_merge = Some(req);
    }
    Ok((full, n))
}

fn graphql_answer(st: &mut State, g: &TokenGrants, body: &Value) -> Result<Value, ApiError> {
    let query = body["query"].as_str().unwrap_or_default().to_string();
    let vars = body.get("variables").cloned().unwrap_or(Value::Null);
    if query.trim().is_empty() {
        return Ok(
            json!({"errors": [{"message": "A query attribute must be specified and must be a string."}]}),
        );
    }
    // Every document is parsed and checked against GitHub's schema first.
    let doc = match super::schema::parse(&query) {
        Ok(d) => d,
        Err(answer) => return Ok(answer),
    };
    let Some((op, set)) = super::schema::operation(&doc, body["operationName"].as_str()) else {
        return Ok(json!({"errors": [{"message": "No operation named in the document"}]}));
    };
    let mut errors = Vec::new();
    super::schema::validate(op, set, &mut vec![op.to_lowercase()], &mut errors);
    if !errors.is_empty() {
        return Ok(json!({ "errors": errors }));
    }
    if super::gql::handles(op, set) {
        return super::gql::answer(st, g, op, set, &vars);
    }
    if query.contains("pullRequest(") || query.contains("pullRequest (") {
        let owner = gql_arg(&query, &vars, "repository", "owner")
            .and_then(|v| v.as_str().map(String::from));
        let name =
            gql_arg(&query, &vars, "repository", "name").and_then(|v| v.as_str().map(String::from));
        let number = gql_arg(&query, &vars, "pullRequest", "number").and_then(|v| v.as_u64());
        let (Some(owner), Some(name), Some(number)) = (owner, name, number) else {
            return Ok(
                json!({"errors": [{"message": "stand-in: repository(owner:, name:) { pullRequest(number:) } expected"}]}),
            );
        };
        let full = format!("{owner}/{name}");
        if !g.pull_requests_read && !g.contents_read {
            return Ok(gql_error(
                "repository",
                "FORBIDDEN",
                "Resource not accessible by integration",
            ));
        }
        let Ok(repo) = st.repo(&full) else {
            return Ok(gql_error(
                "repository",
                "NOT_FOUND",
                &format!("Could not resolve to a Repository with the name '{full}'."),
            ));
        };
        let Some(p) = repo.pulls.get(&number) else {
            return Ok(json!({
                "data": {"repository": {"pullRequest": null}},
                "errors": [{"type": "NOT_FOUND", "path": ["repository", "pullRequest"], "message": format!("Could not resolve to a PullRequest with the number of {number}.")}],
            }));
        };
        let v = gql_pr(st, repo, p).map_err(internal)?;
        return Ok(json!({"data": {"repository": {"pullRequest": v}}}));
    }
    Ok(json!({"errors": [{"message": "stand-in: this query is not implemented"}]}))
}
