//! GitHub over octocrab: idempotent release PRs, merge or auto-merge with a head-sha
//! guard, and the calls deploy/promote need. Every request is counted.
//!
//! Where to look: pull requests, merges and auto-merge in `pulls`; compare,
//! permissions, teams, deployments and dispatches in `repo`; commits and branches
//! through GraphQL (`commit-via: api`) in `commits`; whose token it is in `viewer`; the answer types in
//! `models`; the PR title and body in `body`. The GitHub client knows nothing of git.

mod body;
mod commits;
pub(crate) mod compare;
mod models;
mod pulls;
mod repo;
mod source;
mod viewer;

/// The merge policy is the config's: one enum from `.github/gitops.yaml` to the API.
pub use crate::config::MergePolicy;
pub use body::{
    ChangeCommit, Changelog, MAX_LISTED, PrBody, SourceRepo, TrainBody, pr_title, train_title,
};
pub(crate) use commits::ReadShape;
pub use commits::{
    Branches, FileAt, HISTORY_PAGE, History, HistoryCommit, HistoryFrom, Leased, NewPr, PrField,
    RefUpdate, Tip, ZERO_OID,
};
pub use models::*;
pub use repo::Dispatched;
pub use viewer::{ACTIONS_BOT, TokenKind};

use crate::error::{Failure, UserError};
use crate::retry::{Backoff, retry_after};
use anyhow::Context as _;
use http::{Method, StatusCode};
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Stands for the GraphQL endpoint in [`GitHub::send`].
pub(crate) const GRAPHQL: &str = "graphql:";

/// An octocrab client rooted at `base`, with our headers and the token.
pub(crate) fn client(base: http::Uri, opts: &GitHubOptions) -> anyhow::Result<Octocrab> {
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
#[derive(Clone)]
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

impl std::fmt::Debug for GitHubOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubOptions")
            .field("api_url", &self.api_url)
            .field("graphql_url", &self.graphql_url)
            .field("server_url", &self.server_url)
            .field("token", &crate::secrets::hidden(&self.token))
            .field("repository", &self.repository)
            .field("max_attempts", &self.max_attempts)
            .field("max_wait", &self.max_wait)
            .finish()
    }
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
    pub(crate) octo: Octocrab,
    pub(crate) gql: Octocrab,
    pub(crate) api: http::Uri,
    pub(crate) graphql: http::Uri,
    pub(crate) server_url: String,
    pub(crate) owner: String,
    pub(crate) repo: String,
    pub(crate) token: Option<String>,
    pub(crate) max_attempts: u32,
    pub(crate) max_wait: Duration,
    pub(crate) calls: AtomicU32,
    /// `viewer.login` once a GraphQL answer named it (see `viewer.rs`).
    pub(crate) viewer: std::sync::OnceLock<String>,
    /// Merged release branches whose delete waits for the next commit document
    /// of the run (an inline chain's next PR), to ride in it: repository id and
    /// the leased delete.
    pub(crate) deferred: std::sync::Mutex<Vec<(String, commits::RefUpdate)>>,
    /// What to read in the payload of this run's merge (an inline chain's next
    /// environment), and what was read there.
    pub(crate) read_after_merge: std::sync::Mutex<Option<commits::ReadShape>>,
    pub(crate) after_merge: std::sync::Mutex<Option<commits::Branches>>,
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
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: String,
    /// Sent again after a lost answer (a 5xx or a dropped connection): an earlier
    /// copy may have done the work this answer refuses.
    pub(crate) resent: bool,
}

impl Answer {
    pub(crate) fn json<T: DeserializeOwned>(&self, what: &str) -> anyhow::Result<T> {
        serde_json::from_str(&self.body)
            .with_context(|| format!("GitHub answered {what} with an unexpected body"))
    }

    pub(crate) fn message(&self) -> String {
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
            crate::output::register_secret(t);
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
            viewer: std::sync::OnceLock::new(),
            deferred: std::sync::Mutex::new(Vec::new()),
            read_after_merge: std::sync::Mutex::new(None),
            after_merge: std::sync::Mutex::new(None),
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
    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }

    pub fn web_url(&self) -> String {
        format!("{}/{}/{}", self.server_url, self.owner, self.repo)
    }

    pub(crate) fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{}/{}{rest}", self.owner, self.repo)
    }

    /// Send one request; see [`GitHub::send_as`]. A POST creates, so it is never
    /// resent after a lost answer; every other method is safe to resend.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let resend = Resend::of(&method);
        self.send_as(method, path, body, resend).await
    }

    /// Send one request. Rate limits are waited out as GitHub documents and the
    /// request sent again (a rate-limited request was refused, not done). A 5xx or a
    /// dropped connection is retried with backoff when `resend` is [`Resend::Safe`];
    /// for [`Resend::Never`] it becomes an [`Unclear`] error, for the caller to find
    /// out whether the request happened. Any other status is returned.
    pub(crate) async fn send_as(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        resend: Resend,
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
        let what = if path == GRAPHQL {
            format!("POST {}", self.graphql)
        } else {
            format!("{method} {path}")
        };
        let mut attempt = 0;
        let mut resent = false;
        loop {
            attempt += 1;
            self.calls.fetch_add(1, Ordering::Relaxed);
            let req = http::Request::builder()
                .method(method.clone())
                .uri(uri.clone());
            let req = octo
                .build_request(req, body)
                .map_err(|e| Failure::new(format!("cannot build a request for `{path}`: {e}")))?;
            // A connection dropped before the answer, or in the middle of its body,
            // is the same thing: the request may have been done.
            let sent = match octo.execute(req).await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    match octo.body_to_string(resp).await {
                        Ok(text) => Ok((status, headers, text)),
                        Err(e) => Err(e.to_string()),
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            let (status, headers, body_text) = match sent {
                Ok(answer) => answer,
                Err(e) => {
                    let cause = self.scrub(&e);
                    if resend == Resend::Never {
                        return Err(Unclear { what, cause }.into());
                    }
                    if attempt < self.max_attempts {
                        eprintln!("github: no answer to {what} ({cause}); sending it again");
                        resent = true;
                        tokio::time::sleep(Backoff::GITHUB.delay(attempt)).await;
                        continue;
                    }
                    return Err(Failure::new(format!(
                        "cannot reach GitHub at `{}` ({what}): {cause}",
                        self.api,
                    ))
                    .hint("check `GITHUB_API_URL` and the network")
                    .into());
                }
            };
            if status.is_server_error() && resend == Resend::Never {
                return Err(Unclear {
                    what,
                    cause: format!("GitHub answered {status}"),
                }
                .into());
            }
            let wait = retry_wait(status, &headers, &body_text);
            if let Some(wait) = wait
                && attempt < self.max_attempts
                && wait <= self.max_wait
            {
                if status.is_server_error() {
                    eprintln!("github: {what} answered {status}; sending it again");
                    resent = true;
                } else {
                    eprintln!(
                        "github: rate limited ({}); waiting {}s before sending {what} again",
                        status.as_u16(),
                        wait.as_secs_f32().ceil()
                    );
                }
                tokio::time::sleep(wait.max(Backoff::GITHUB.delay(attempt))).await;
                continue;
            }
            return Ok(Answer {
                status,
                body: body_text,
                resent,
            });
        }
    }

    pub(crate) fn scrub(&self, text: &str) -> String {
        crate::secrets::scrub(text, self.token.as_deref())
    }

    /// Send and require 2xx; other answers become errors with hints.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> anyhow::Result<Answer> {
        let resend = Resend::of(&method);
        self.call_as(method, path, body, what, resend).await
    }

    /// [`GitHub::call`] with the resend class given.
    pub(crate) async fn call_as(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
        resend: Resend,
    ) -> anyhow::Result<Answer> {
        let a = self
            .send_as(method, path, body, resend)
            .await
            .map_err(|e| {
                if is_unclear(&e) {
                    e.context(format!("cannot tell whether we could {what}"))
                } else {
                    e
                }
            })?;
        if a.status.is_success() {
            Ok(a)
        } else {
            Err(self.error(what, &a))
        }
    }

    /// An error for a non-2xx answer: message scrubbed, hint for the known causes.
    pub(crate) fn error(&self, what: &str, a: &Answer) -> anyhow::Error {
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
}

/// The message GitHub put in an error body, with the first detail if any.
pub(crate) fn error_message(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return body.chars().take(200).collect();
    };
    let mut msg = v["message"].as_str().unwrap_or_default().to_string();
    if let Some(errors) = v["errors"].as_array() {
        let details: Vec<String> = errors
            .iter()
            .filter_map(|e| {
                // Some answers list plain strings (requested_reviewers' 422).
                e.as_str()
                    .or(e["message"].as_str())
                    .map(String::from)
                    .or_else(|| {
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
pub(crate) fn retry_wait(
    status: StatusCode,
    headers: &http::HeaderMap,
    body: &str,
) -> Option<Duration> {
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
    if status.is_server_error() {
        // Without a Retry-After the caller's backoff decides.
        return Some(retry_after(header("retry-after")).unwrap_or(Duration::ZERO));
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

/// Whether a request may be sent again when its answer is lost (a 5xx, a dropped
/// connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resend {
    /// Reads, and writes that land once however often they are sent: a PUT or PATCH
    /// of a value, a merge guarded by its head sha, a DELETE, adding labels.
    Safe,
    /// A POST that creates (a PR, a deployment, a status, a dispatch, a comment):
    /// sent again, it would be done twice.
    Never,
}

impl Resend {
    pub(crate) fn of(method: &Method) -> Self {
        if method == Method::POST {
            Resend::Never
        } else {
            Resend::Safe
        }
    }
}

/// A request that creates got no answer (a 5xx, a dropped connection): it may or
/// may not have been done. Callers find out before deciding to send it again.
#[derive(Debug)]
pub struct Unclear {
    /// `METHOD path`.
    pub what: String,
    pub cause: String,
}

impl std::fmt::Display for Unclear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no answer to `{}` ({}); it may or may not have been done",
            self.what, self.cause
        )
    }
}

impl std::error::Error for Unclear {}

/// The failure after the last unanswered try: what was looked for, the last cause,
/// and what to do. Nothing was done twice, so running the step again is safe.
/// What a creating request is, for [`GitHub::exactly_once`]'s messages.
pub(crate) struct Creating<'a> {
    /// "a pull request from `release/x`": what a search finds or not.
    pub(crate) thing: &'a str,
    /// "opening it": what is done again.
    pub(crate) again: &'a str,
}

impl GitHub {
    /// Send a request that creates something exactly once: after a lost answer
    /// ([`Unclear`]), `find` looks for what the request would have made before it
    /// is sent again, a bounded number of times with backoff.
    pub(crate) async fn exactly_once<T>(
        &self,
        what: Creating<'_>,
        mut send: impl AsyncFnMut() -> anyhow::Result<T>,
        mut find: impl AsyncFnMut() -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<T> {
        let mut tries = 0;
        loop {
            tries += 1;
            let e = match send().await {
                Err(e) if is_unclear(&e) => e,
                done => return done,
            };
            if let Some(found) = find().await.map_err(|f| f.context(format!("{e:#}")))? {
                eprintln!("github: {e:#}; {} is there: it was done", what.thing);
                return Ok(found);
            }
            if tries >= self.max_attempts {
                return Err(gave_up(
                    &e,
                    format!("{} did not appear after {tries} attempts", what.thing),
                ));
            }
            eprintln!(
                "github: {e:#}; {} is not there: {} again",
                what.thing, what.again
            );
            tokio::time::sleep(Backoff::GITHUB.delay(tries)).await;
        }
    }
}

pub(crate) fn gave_up(e: &anyhow::Error, what: String) -> anyhow::Error {
    Failure::new(format!("{what}: {e:#}"))
        .hint("GitHub kept failing to answer; run the step again: it looks for what was done before doing it")
        .into()
}

/// Whether `e` is (or wraps) an [`Unclear`].
pub fn is_unclear(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<Unclear>().is_some())
}

/// Percent-encode a query value.
pub(crate) fn enc(s: &str) -> String {
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
pub(crate) fn enc_path(s: &str) -> String {
    s.split('/').map(enc).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::pulls::*;
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
            Some(Duration::ZERO)
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
    fn only_posts_are_never_resent_blindly() {
        assert_eq!(Resend::of(&Method::POST), Resend::Never);
        for m in [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            assert_eq!(Resend::of(&m), Resend::Safe, "{m}");
        }
        let e: anyhow::Error = Unclear {
            what: "POST /repos/a/b/deployments".into(),
            cause: "GitHub answered 502 Bad Gateway".into(),
        }
        .into();
        assert!(is_unclear(
            &e.context("cannot tell whether we could create a deployment")
        ));
        assert!(!is_unclear(&anyhow::anyhow!("no")));
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
            changelog: Changelog::Listed {
                repo: SourceRepo {
                    full_name: "acme/app".into(),
                    web_url: "https://github.com/acme/app".into(),
                },
                base: "a".repeat(40),
                head: "b".repeat(40),
                found_by: "the running tag's commit".into(),
                commits: vec![ChangeCommit {
                    sha: "0123456789abcdef".into(),
                    html_url: "https://github.com/acme/app/commit/0123456".into(),
                    message: "Fix the thing\n\nlong text".into(),
                    author: Some("rosa".into()),
                }],
                total: 1,
                compare_url: "https://github.com/acme/app/compare/a...b".into(),
            },
            links: vec![],
        }
        .render();
        assert!(body.contains("| tag | `dev-1` | `dev-2` |"), "{body}");
        assert!(body.contains("| digest | — | `sha256:abc` |"), "{body}");
        assert!(
            body.contains(
                "- [0123456](https://github.com/acme/app/commit/0123456) `Fix the thing` — `rosa`"
            ),
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
