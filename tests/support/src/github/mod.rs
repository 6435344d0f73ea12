//! A local GitHub for the tests: REST, GraphQL auto-merge and git smart HTTP over real
//! bare repositories, answering with GitHub's shapes, statuses and error bodies.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! use gitops_testkit::github::{GitHubStandIn, Protection, TokenGrants};
//! let gh = GitHubStandIn::start().await?; // stops on drop
//! gh.create_repo("acme/app", "main", &[("overlays/dev/kustomization.yaml", "images: []\n")])?;
//! gh.add_token("ghs_test", TokenGrants::github_token());
//! gh.protect_branch("acme/app", "main", Protection::checks(&["ci"]));
//! // GITHUB_API_URL = gh.api_url(), GITHUB_GRAPHQL_URL = gh.graphql_url(),
//! // GITHUB_SERVER_URL = gh.server_url(), clone from gh.git_url("acme", "app").
//! # Ok(()) }
//! ```
//!
//! Layout: `/api/v3/...` is the REST API and `/api/graphql` GraphQL (GitHub Enterprise
//! Server's layout, so `GITHUB_API_URL`'s path prefix is exercised), `/{owner}/{repo}.git/...`
//! is git over smart HTTP through `git http-backend`, with a `pre-receive` hook that
//! enforces branch protection and the `workflows` permission.

mod api;
mod git;
mod gql;
mod schema;
/// GitHub's GraphQL schema as far as the stand-in answers it, as JSON.
pub use schema::types_json as graphql_types;
mod smart;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::fault::Rules;
pub use crate::fault::{Fault, FaultKind};
use git::Bare;
pub use git::Person;

/// What a token may do, like `permissions:` of a workflow for `GITHUB_TOKEN`.
/// Every token can read the repositories.
#[derive(Debug, Clone)]
pub struct TokenGrants {
    /// Read the repository's code (git fetch, contents, commits, refs, compare). A
    /// job whose `permissions:` leave `contents` out has `none`, and on a private
    /// repository GitHub answers as if it did not exist: git "Repository not found.",
    /// REST 404 (docs/github-facts/permissions.md, "Reads").
    pub contents_read: bool,
    pub contents_write: bool,
    /// The other reads a job's `permissions:` may leave at `none`: without them
    /// GitHub answers the REST reads 403 "Resource not accessible by integration"
    /// and GraphQL a `FORBIDDEN` error on the field (crs-k/stale-branches#1429,
    /// mikepenz/release-changelog-builder-action#1244, fpicalausa/remove-stale-branches#49;
    /// docs/github-facts/permissions.md, "Reads").
    pub pull_requests_read: bool,
    pub pull_requests_write: bool,
    pub issues_read: bool,
    pub issues_write: bool,
    /// Push changes under `.github/workflows/` (never granted to `GITHUB_TOKEN`).
    pub workflows: bool,
    pub packages_write: bool,
    pub actions_read: bool,
    pub actions_write: bool,
    pub deployments_read: bool,
    pub deployments_write: bool,
    pub statuses_write: bool,
    /// Read organization team memberships (`GITHUB_TOKEN` cannot).
    pub members_read: bool,
    /// The login acting with this token.
    pub user_login: String,
    /// The repositories the token can see (`owner/name`); `None`: every one. A
    /// workflow's `GITHUB_TOKEN` is scoped to the repository of its run, and an App
    /// installation token to the repositories the App is installed on (docs
    /// "Automatic token authentication": "The token's permissions are limited to
    /// the repository that contains your workflow"). Outside them GitHub answers as
    /// for a private repository that does not exist: REST 404, GraphQL `NOT_FOUND`,
    /// git "Repository not found." (docs "Troubleshooting the REST API").
    pub repositories: Option<Vec<String>>,
    /// A GitHub Actions token (`github-actions[bot]`): subject to the repository setting
    /// "Allow GitHub Actions to create and approve pull requests".
    pub actions: bool,
}

impl TokenGrants {
    /// `GITHUB_TOKEN` with `permissions: read-all`: every read, no write.
    pub fn read_only() -> Self {
        TokenGrants {
            contents_read: true,
            contents_write: false,
            pull_requests_read: true,
            pull_requests_write: false,
            issues_read: true,
            issues_write: false,
            workflows: false,
            packages_write: false,
            actions_read: true,
            actions_write: false,
            deployments_read: true,
            deployments_write: false,
            statuses_write: false,
            members_read: false,
            user_login: "github-actions[bot]".into(),
            repositories: None,
            actions: true,
        }
    }

    /// `GITHUB_TOKEN` with `permissions: write-all` (which still excludes workflows and
    /// organization members).
    pub fn github_token() -> Self {
        TokenGrants {
            contents_write: true,
            pull_requests_write: true,
            issues_write: true,
            packages_write: true,
            actions_write: true,
            deployments_write: true,
            statuses_write: true,
            ..TokenGrants::read_only()
        }
    }

    /// Limited to `repos` (`owner/name`), as an installation token is.
    pub fn only(mut self, repos: &[&str]) -> Self {
        self.repositories = Some(repos.iter().map(|r| r.to_string()).collect());
        self
    }

    /// Whether the token can see `full` (`owner/name`, case-insensitive as GitHub's names).
    pub fn sees(&self, full: &str) -> bool {
        self.repositories
            .as_ref()
            .is_none_or(|rs| rs.iter().any(|r| r.eq_ignore_ascii_case(full)))
    }

    /// A GitHub App's installation token (`ghs_…`, like the workflow's own) that may
    /// do everything, acting as `<slug>[bot]`. Unlike `GITHUB_TOKEN`, what it does
    /// starts workflows (docs "Triggering a workflow from a workflow").
    pub fn app(slug: &str) -> Self {
        TokenGrants::user(&format!("{slug}[bot]"))
    }

    /// A personal or GitHub App token that may do everything, acting as `login`.
    pub fn user(login: &str) -> Self {
        TokenGrants {
            workflows: true,
            members_read: true,
            user_login: login.into(),
            actions: false,
            ..TokenGrants::github_token()
        }
    }
}

/// Repository settings that change how merges behave.
#[derive(Debug, Clone)]
pub struct RepoSettings {
    pub allow_auto_merge: bool,
    pub delete_branch_on_merge: bool,
    pub allow_merge_commit: bool,
    pub allow_squash_merge: bool,
    pub allow_rebase_merge: bool,
    pub private: bool,
}

impl Default for RepoSettings {
    fn default() -> Self {
        RepoSettings {
            allow_auto_merge: true,
            delete_branch_on_merge: false,
            allow_merge_commit: true,
            allow_squash_merge: true,
            allow_rebase_merge: true,
            private: true,
        }
    }
}

/// Classic branch protection.
#[derive(Debug, Clone, Default)]
pub struct Protection {
    /// Status check contexts that must be `success` on the head commit.
    pub required_checks: Vec<String>,
    /// The head must contain the base tip ("require branches to be up to date").
    pub strict: bool,
    /// Approving reviews needed, from users other than the author.
    pub required_approvals: u32,
}

impl Protection {
    pub fn checks(contexts: &[&str]) -> Self {
        Protection {
            required_checks: contexts.iter().map(|c| c.to_string()).collect(),
            ..Protection::default()
        }
    }

    pub fn approvals(n: u32) -> Self {
        Protection {
            required_approvals: n,
            ..Protection::default()
        }
    }

    /// Direct pushes are refused whenever a rule needs a PR or a check.
    pub(crate) fn blocks_pushes(&self) -> bool {
        self.required_approvals > 0 || !self.required_checks.is_empty()
    }
}

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub kind: RequestKind,
    pub method: String,
    /// Path and query, without the `/api/v3` prefix for REST.
    pub path: String,
    pub status: u16,
    /// For GraphQL: the operation and its root fields (`mutation
    /// updateRefs+createCommitOnBranch`), so a benchmark can print what each
    /// request did; empty for the rest.
    pub op: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Rest,
    GraphQl,
    /// git smart HTTP (`info/refs`, `git-upload-pack`, `git-receive-pack`).
    Git,
    /// Anything else (web pages).
    Other,
}

/// A pull request as the tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullInfo {
    pub number: u64,
    pub node_id: String,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    /// The head commit: live from the branch while open, frozen when closed.
    pub head_sha: String,
    /// `open` or `closed`.
    pub state: String,
    pub merged: bool,
    pub merge_commit_sha: Option<String>,
    pub merged_by: Option<String>,
    pub user: String,
    pub draft: bool,
    pub labels: Vec<String>,
    pub requested_reviewers: Vec<String>,
    /// `org/slug`.
    pub requested_teams: Vec<String>,
    /// Approving reviewers.
    pub approvals: Vec<String>,
    /// The merge method of a pending auto-merge.
    pub auto_merge: Option<String>,
    pub comments: Vec<String>,
}

/// A deployment with its statuses, oldest status first.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentInfo {
    pub id: u64,
    pub git_ref: String,
    pub sha: String,
    pub environment: String,
    pub payload: Value,
    pub description: Option<String>,
    pub creator: String,
    pub statuses: Vec<DeploymentStatusInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentStatusInfo {
    pub id: u64,
    pub state: String,
    pub description: String,
    pub environment_url: Option<String>,
    pub log_url: Option<String>,
}

/// One `workflow_dispatch` request.
#[derive(Debug, Clone, PartialEq)]
pub struct DispatchInfo {
    pub workflow: String,
    pub git_ref: String,
    pub inputs: Value,
    pub actor: String,
    /// The tip of `git_ref` when the dispatch was made: the run's `GITHUB_SHA`
    /// ("Last commit on the GITHUB_REF branch or tag", docs "Events that trigger
    /// workflows", workflow_dispatch), however late the run starts.
    pub sha: String,
    /// The workflow run the dispatch started (listed by `GET …/actions/workflows/{wf}/runs`).
    pub run_id: u64,
    pub created_at: String,
}

// -- state ------------------------------------------------------------------

pub(crate) struct State {
    pub root: PathBuf,
    pub base_url: String,
    pub tokens: HashMap<String, TokenGrants>,
    pub actions_can_create_prs: bool,
    pub repos: BTreeMap<String, Repo>,
    /// `org/slug` → (login, role).
    pub teams: BTreeMap<String, Vec<(String, String)>>,
    pub next_id: u64,
    pub log: Vec<Request>,
    /// Answers forced on the next API requests (status, `Retry-After` seconds).
    pub faults: Vec<(u16, Option<u64>)>,
    /// Faults on the nth request matching method and path (API and git alike).
    pub rules: Rules,
}

pub(crate) struct Repo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub git: Bare,
    pub settings: RepoSettings,
    pub protection: BTreeMap<String, Protection>,
    /// Branch patterns (shell globs; `*` is every branch) of a ruleset that
    /// requires verified signatures.
    pub signed: Vec<String>,
    pub pulls: BTreeMap<u64, Pull>,
    pub next_number: u64,
    /// sha → context → (state, id, description, target_url, created_at).
    pub statuses: HashMap<String, BTreeMap<String, Status>>,
    /// login → `admin|maintain|write|triage|read`.
    pub collaborators: BTreeMap<String, String>,
    pub labels: BTreeMap<String, u64>,
    pub deployments: Vec<Deployment>,
    pub dispatches: Vec<DispatchInfo>,
    pub created_at: String,
}

#[derive(Clone)]
pub(crate) struct Status {
    pub id: u64,
    /// Login of who posted it (`creator` in GitHub's answer).
    pub creator: String,
    pub state: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub created_at: String,
}

pub(crate) struct Deployment {
    pub info: DeploymentInfo,
    pub task: String,
    pub created_at: String,
    pub production_environment: bool,
    pub transient_environment: bool,
    pub status_times: Vec<String>,
}

pub(crate) struct Pull {
    pub number: u64,
    pub id: u64,
    pub title: String,
    pub body: Option<String>,
    pub head: String,
    pub base: String,
    pub user: String,
    pub open: bool,
    pub draft: bool,
    pub maintainer_can_modify: bool,
    /// Head sha when it was closed, or the last one seen.
    pub head_sha: String,
    pub base_sha: String,
    pub merged: Option<Merged>,
    pub labels: Vec<String>,
    pub requested_reviewers: Vec<String>,
    pub requested_teams: Vec<String>,
    pub reviews: Vec<Review>,
    pub auto_merge: Option<AutoMergeRequest>,
    pub comments: Vec<(u64, String, String, String)>,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
}

pub(crate) struct Merged {
    pub sha: String,
    pub by: String,
    pub at: String,
}

#[derive(Clone)]
pub(crate) struct Review {
    pub id: u64,
    pub user: String,
    pub state: String,
    pub body: String,
    pub commit_id: String,
    pub submitted_at: String,
}

#[derive(Clone)]
pub(crate) struct AutoMergeRequest {
    pub method: String,
    pub enabled_by: String,
    pub enabled_at: String,
    pub commit_title: Option<String>,
    pub commit_message: Option<String>,
}

pub(crate) fn now() -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc()
        .format(&f)
        .unwrap_or_default()
}

impl State {
    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn repo(&self, full: &str) -> Result<&Repo> {
        self.repos
            .get(full)
            .ok_or_else(|| anyhow!("no repository `{full}`"))
    }

    pub fn repo_mut(&mut self, full: &str) -> Result<&mut Repo> {
        self.repos
            .get_mut(full)
            .ok_or_else(|| anyhow!("no repository `{full}`"))
    }

    /// The permission role of `login` on a repository: owner logins are admins.
    pub fn role(&self, repo: &Repo, login: &str) -> Option<String> {
        if login == repo.owner {
            return Some("admin".into());
        }
        if let Some(r) = repo.collaborators.get(login) {
            return Some(r.clone());
        }
        if login == "github-actions[bot]" {
            return Some("write".into());
        }
        None
    }
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The live head sha of a PR while its branch exists.
    pub fn pull_head(&self, p: &Pull) -> String {
        if p.open {
            self.git
                .branch(&p.head)
                .unwrap_or_else(|| p.head_sha.clone())
        } else {
            p.head_sha.clone()
        }
    }

    /// Whether a "require signed commits" rule covers `branch`.
    pub fn signed_required(&self, branch: &str) -> bool {
        self.signed.iter().any(|p| glob(p, branch))
    }

    /// Write `refs/heads/*` protection rules where the `pre-receive` hook reads them.
    fn write_push_rules(&self) -> Result<()> {
        let mut text = String::new();
        for (branch, p) in &self.protection {
            let mut why = Vec::new();
            if p.required_approvals > 0 {
                why.push("Changes must be made through a pull request.".to_string());
                why.push(approvals_message(p.required_approvals));
            }
            for c in &p.required_checks {
                why.push(format!("Required status check \"{c}\" is expected."));
            }
            let mode = if p.blocks_pushes() { "all" } else { "ff" };
            text.push_str(&format!("refs/heads/{branch}\t{mode}\t{}\n", why.join("|")));
        }
        std::fs::write(self.git.dir.join("standin-protected"), text)?;
        let mut signed = String::new();
        for p in &self.signed {
            signed.push_str(p);
            signed.push('\n');
        }
        std::fs::write(self.git.dir.join("standin-signed"), signed)?;
        Ok(())
    }
}

/// A shell-style glob where `*` also matches `/` (as `case` does in the hook).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((pre, rest)) => {
            let Some(tail) = text.strip_prefix(pre) else {
                return false;
            };
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
        }
    }
}

pub(crate) fn approvals_message(n: u32) -> String {
    if n == 1 {
        "At least 1 approving review is required by reviewers with write access.".into()
    } else {
        format!("At least {n} approving reviews are required by reviewers with write access.")
    }
}

const PRE_RECEIVE: &str = r#"#!/bin/sh
# The stand-in's GitHub rules for pushes. The server sets STANDIN_WORKFLOWS for the
# token's `workflows` grant; branch protection is read from `standin-protected`
# (ref TAB mode TAB reasons separated by |), written whenever protection changes.
z=0000000000000000000000000000000000000000
tab=$(printf '\t')
refuse=0
while read -r old new ref; do
  if [ -f standin-protected ]; then
    while IFS="$tab" read -r pref mode why; do
      [ "$pref" = "$ref" ] || continue
      bad=""
      if [ "$mode" = all ]; then
        bad="$why"
      elif [ "$new" = "$z" ]; then
        bad="Cannot delete this branch"
      elif [ "$old" != "$z" ] && ! git merge-base --is-ancestor "$old" "$new"; then
        bad="Cannot force-push to this branch"
      fi
      if [ -n "$bad" ]; then
        echo "error: GH006: Protected branch update failed for $ref." >&2
        printf '%s\n' "$bad" | tr '|' '\n' | sed 's/^/error: /' >&2
        refuse=1
      fi
    done < standin-protected
  fi
  # A ruleset "Require signed commits" (GH013; the lines as GitHub prints them,
  # docs/github-facts/commits-api.md): every commit the push brings must be
  # signed; only what GitHub signs itself (web flow, the API) is, here.
  if [ -s standin-signed ] && [ "$new" != "$z" ]; then
    b=${ref#refs/heads/}
    while read -r pat; do
      case "$b" in
        $pat)
          bad=""
          for c in $(git rev-list "$new" --not --all); do
            git cat-file commit "$c" | sed '/^$/q' | grep -q 'stand-in web-flow signature' || bad="$bad $c"
          done
          if [ -n "$bad" ]; then
            n=$(echo $bad | wc -w)
            echo "error: GH013: Repository rule violations found for $ref." >&2
            echo "Review all repository rules at $STANDIN_RULES_URL?ref=refs%2Fheads%2F$b" >&2
            echo "" >&2
            echo "- Commits must have verified signatures." >&2
            echo "  Found $n violation(s):" >&2
            echo "" >&2
            for c in $bad; do echo "  $c" >&2; done
            echo "" >&2
            refuse=1
          fi
          break;;
      esac
    done < standin-signed
  fi
  if [ "$STANDIN_WORKFLOWS" != 1 ] && [ "$new" != "$z" ]; then
    for c in $(git rev-list "$new" --not --all); do
      f=$(git diff-tree -r --no-commit-id --name-only --root "$c" | grep '^\.github/workflows/' | head -n 1)
      if [ -n "$f" ]; then
        echo "refusing to allow a GitHub App to create or update workflow \`$f\` without \`workflows\` permission" >&2
        refuse=1
        break
      fi
    done
  fi
done
exit $refuse
"#;

// -- the server -------------------------------------------------------------

/// Where and how to run the server.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `127.0.0.1:0` when `None`.
    pub addr: Option<SocketAddr>,
    /// Keep repositories here instead of a temporary directory.
    pub state_dir: Option<PathBuf>,
}

/// The running stand-in. Dropping it stops the server and removes its repositories
/// (unless they live in [`Options::state_dir`]).
pub struct GitHubStandIn {
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl GitHubStandIn {
    /// Start on `127.0.0.1:0` with repositories in a temporary directory.
    pub async fn start() -> Result<Self> {
        Self::start_with(Options::default())
    }

    /// [`GitHubStandIn::start`] for tests without a runtime. The server always runs on
    /// its own thread and runtime, so a test blocking its own runtime cannot stall it.
    pub fn start_blocking() -> Result<Self> {
        Self::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Result<Self> {
        let (dir, root) = match &opts.state_dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                (None, d.canonicalize()?)
            }
            None => {
                let t = tempfile::tempdir()?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let listener = std::net::TcpListener::bind(
            opts.addr
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        )
        .context("binding the GitHub stand-in")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            root: root.clone(),
            base_url: format!("http://{addr}"),
            tokens: HashMap::new(),
            actions_can_create_prs: true,
            repos: BTreeMap::new(),
            teams: BTreeMap::new(),
            next_id: 1000,
            log: Vec::new(),
            faults: Vec::new(),
            rules: Rules::default(),
        }));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name("github-stand-in".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.into()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let app = axum::Router::new().fallback(route).with_state(st);
                    // Without TCP_NODELAY a keep-alive client (git reuses its
                    // connection after the 401) waits out Nagle and delayed ACKs:
                    // ~40 ms stalls per request, which GitHub doesn't have.
                    use axum::serve::ListenerExt as _;
                    let listener = listener.tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = stop_rx => {}
                    }
                });
                // Open connections and CGI children (kill_on_drop) go with the runtime.
                rt.shutdown_timeout(std::time::Duration::from_millis(100));
            })?;
        ready_rx
            .recv()
            .context("the GitHub stand-in thread died")??;
        Ok(GitHubStandIn {
            state,
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
            _dir: dir,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `host:port`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `GITHUB_SERVER_URL`.
    pub fn server_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `GITHUB_API_URL` (GitHub Enterprise Server layout).
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v3", self.addr)
    }

    /// `GITHUB_GRAPHQL_URL`.
    pub fn graphql_url(&self) -> String {
        format!("http://{}/api/graphql", self.addr)
    }

    /// The HTTPS-like clone URL (plain HTTP here) of a repository.
    pub fn git_url(&self, owner: &str, repo: &str) -> String {
        format!("http://{}/{owner}/{repo}.git", self.addr)
    }

    /// [`GitHubStandIn::git_url`] with `x-access-token:<token>@` in it.
    pub fn git_url_with_token(&self, owner: &str, repo: &str, token: &str) -> String {
        format!(
            "http://x-access-token:{token}@{}/{owner}/{repo}.git",
            self.addr
        )
    }

    /// The bare repository on disk.
    pub fn repo_dir(&self, full: &str) -> Result<PathBuf> {
        Ok(self.lock().repo(full)?.git.dir.clone())
    }

    /// Create `owner/name` with `default_branch` holding `files` in one first commit.
    pub fn create_repo(
        &self,
        full: &str,
        default_branch: &str,
        files: &[(&str, &str)],
    ) -> Result<String> {
        self.create_repo_with(full, default_branch, files, RepoSettings::default())
    }

    /// [`GitHubStandIn::create_repo`] with settings; returns the first commit's id.
    pub fn create_repo_with(
        &self,
        full: &str,
        default_branch: &str,
        files: &[(&str, &str)],
        settings: RepoSettings,
    ) -> Result<String> {
        let (owner, name) = full
            .split_once('/')
            .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
            .with_context(|| format!("`{full}` is not owner/name"))?;
        let mut st = self.lock();
        if st.repos.contains_key(full) {
            bail!("repository `{full}` exists");
        }
        let dir = st.root.join(owner).join(format!("{name}.git"));
        let git = Bare::init(&dir, default_branch)?;
        let hook = dir.join("hooks/pre-receive");
        std::fs::write(&hook, PRE_RECEIVE)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))?;
        }
        let files: Vec<(&str, Option<&[u8]>)> = files
            .iter()
            .map(|(p, c)| (*p, Some(c.as_bytes())))
            .collect();
        let sha = git.commit_files(
            None,
            &files,
            "Initial commit",
            &Person::new("Dev", "dev@example.com"),
        )?;
        git.cas_branch(default_branch, &sha, None)?;
        let id = st.id();
        let repo = Repo {
            id,
            owner: owner.into(),
            name: name.into(),
            git,
            settings,
            protection: BTreeMap::new(),
            signed: Vec::new(),
            pulls: BTreeMap::new(),
            next_number: 1,
            statuses: HashMap::new(),
            collaborators: BTreeMap::new(),
            labels: BTreeMap::new(),
            deployments: Vec::new(),
            dispatches: Vec::new(),
            created_at: now(),
        };
        repo.write_push_rules()?;
        st.repos.insert(full.to_string(), repo);
        Ok(sha)
    }

    /// Change a repository's settings.
    pub fn configure_repo(&self, full: &str, f: impl FnOnce(&mut RepoSettings)) -> Result<()> {
        let mut st = self.lock();
        f(&mut st.repo_mut(full)?.settings);
        Ok(())
    }

    /// Register a token; requests with any other token get 401 `Bad credentials`.
    pub fn add_token(&self, token: &str, grants: TokenGrants) {
        self.lock().tokens.insert(token.to_string(), grants);
    }

    /// Revoke a token: later requests with it get 401 `Bad credentials`, as a job's
    /// `GITHUB_TOKEN` does once the job ends.
    pub fn remove_token(&self, token: &str) {
        self.lock().tokens.remove(token);
    }

    /// The repository/organization setting "Allow GitHub Actions to create and approve
    /// pull requests"; off, Actions tokens get 403 on PR creation and approval.
    pub fn set_setting_actions_can_create_prs(&self, allowed: bool) {
        self.lock().actions_can_create_prs = allowed;
    }

    /// Protect `branch` (replacing earlier rules); pushes are checked by the hook.
    pub fn protect_branch(&self, full: &str, branch: &str, p: Protection) -> Result<()> {
        let mut st = self.lock();
        let repo = st.repo_mut(full)?;
        repo.protection.insert(branch.to_string(), p);
        repo.write_push_rules()
    }

    /// A ruleset "Require signed commits" on the branches matching `patterns`
    /// (`*`: every branch): pushes of commits GitHub did not sign are refused
    /// with GH013; commits made through `createCommitOnBranch` are signed.
    pub fn require_signed_commits(&self, full: &str, patterns: &[&str]) -> Result<()> {
        let mut st = self.lock();
        let repo = st.repo_mut(full)?;
        repo.signed = patterns.iter().map(|p| p.to_string()).collect();
        repo.write_push_rules()
    }

    /// Whether GitHub would show this commit "Verified" (REST `verification`).
    pub fn is_verified(&self, full: &str, sha: &str) -> Result<bool> {
        Ok(self.lock().repo(full)?.git.is_web_signed(sha))
    }

    pub fn unprotect_branch(&self, full: &str, branch: &str) -> Result<()> {
        let mut st = self.lock();
        let repo = st.repo_mut(full)?;
        repo.protection.remove(branch);
        repo.write_push_rules()
    }

    /// Give `login` a role (`admin`, `maintain`, `write`, `triage`, `read`).
    pub fn add_collaborator(&self, full: &str, login: &str, role: &str) -> Result<()> {
        let mut st = self.lock();
        st.repo_mut(full)?
            .collaborators
            .insert(login.into(), role.into());
        Ok(())
    }

    /// Create label `name` in `full` (as a maintainer does in the web UI); its node id
    /// is `LA_<id>`, as REST's `node_id`. Does nothing when it exists.
    pub fn create_label(&self, full: &str, name: &str) -> Result<String> {
        let mut st = self.lock();
        let id = st.id();
        let repo = st.repo_mut(full)?;
        let id = *repo.labels.entry(name.to_string()).or_insert(id);
        Ok(gql::label_id(id))
    }

    /// Make `login` an active member of `org/slug` (`member` or `maintainer`).
    pub fn add_team_member(&self, team: &str, login: &str, role: &str) {
        self.lock()
            .teams
            .entry(team.to_string())
            .or_default()
            .push((login.into(), role.into()));
    }

    /// Set commit status `context` of `sha` (`success`, `pending`, `failure`, `error`);
    /// pending auto-merges that this satisfies are merged.
    pub fn set_check(&self, full: &str, sha: &str, context: &str, state: &str) -> Result<()> {
        let mut st = self.lock();
        let id = st.id();
        let repo = st.repo_mut(full)?;
        let sha = repo
            .git
            .resolve(sha)
            .with_context(|| format!("no commit `{sha}` in `{full}`"))?;
        repo.statuses.entry(sha).or_default().insert(
            context.to_string(),
            Status {
                id,
                creator: "github-actions[bot]".into(),
                state: state.into(),
                description: None,
                target_url: None,
                created_at: now(),
            },
        );
        api::settle(&mut st)
    }

    /// Submit an approving review by `login` (who must not be the author).
    pub fn approve_pr(&self, full: &str, number: u64, login: &str) -> Result<()> {
        let mut st = self.lock();
        api::add_review(&mut st, full, number, login, "APPROVE", "")
            .map_err(|e| anyhow!("approving #{number}: {} {}", e.status, e.message))?;
        api::settle(&mut st)
    }

    /// Commit `files` on top of `branch` (creating it from the default branch when
    /// missing), as someone else pushing: no hook, no rules. Returns the new commit.
    pub fn push_commit(&self, full: &str, branch: &str, files: &[(&str, &str)]) -> Result<String> {
        let files: Vec<(&str, Option<&str>)> = files.iter().map(|(p, c)| (*p, Some(*c))).collect();
        self.push_change(full, branch, &files, "Change from elsewhere")
    }

    /// [`GitHubStandIn::push_commit`] with deletions (`None`) and a message.
    pub fn push_change(
        &self,
        full: &str,
        branch: &str,
        files: &[(&str, Option<&str>)],
        message: &str,
    ) -> Result<String> {
        let mut st = self.lock();
        let repo = st.repo(full)?;
        let tip = repo.git.branch(branch);
        let parent = match &tip {
            Some(t) => Some(t.clone()),
            None => repo.git.branch(&default_branch(&repo.git)?),
        };
        let files: Vec<(&str, Option<&[u8]>)> = files
            .iter()
            .map(|(p, c)| (*p, c.map(str::as_bytes)))
            .collect();
        let sha = repo.git.commit_files(
            parent.as_deref(),
            &files,
            message,
            &Person::new("Someone Else", "someone@example.com"),
        )?;
        if !repo.git.cas_branch(branch, &sha, tip.as_deref())? {
            bail!("`{branch}` moved while committing");
        }
        api::settle(&mut st)?;
        Ok(sha)
    }

    /// Commit a symbolic link at `path` (pointing at `target`) on top of `branch`,
    /// as someone else pushing.
    pub fn push_link(&self, full: &str, branch: &str, path: &str, target: &str) -> Result<String> {
        let mut st = self.lock();
        let repo = st.repo(full)?;
        let g = &repo.git;
        let tip = g
            .branch(branch)
            .with_context(|| format!("no branch `{branch}`"))?;
        let blob = g.run_env(
            &["hash-object", "-w", "--stdin"],
            &[],
            Some(target.as_bytes()),
        )?;
        let index = tempfile::NamedTempFile::new()?;
        let index_path = index.path().to_string_lossy().into_owned();
        std::fs::remove_file(index.path())?;
        let env = [("GIT_INDEX_FILE", index_path.as_str())];
        g.run_env(&["read-tree", &tip], &env, None)?;
        let info = format!("120000,{blob},{path}");
        g.run_env(&["update-index", "--add", "--cacheinfo", &info], &env, None)?;
        let tree = g.run_env(&["write-tree"], &env, None)?;
        let who = Person::new("Someone Else", "someone@example.com");
        let sha = g.commit_tree(&tree, &[&tip], "Link", &who, &who)?;
        if !g.cas_branch(branch, &sha, Some(&tip))? {
            bail!("`{branch}` moved while committing");
        }
        api::settle(&mut st)?;
        Ok(sha)
    }

    /// The names of all branches.
    pub fn branches(&self, full: &str) -> Result<Vec<String>> {
        let st = self.lock();
        let out = st.repo(full)?.git.run(&[
            "for-each-ref",
            "--format=%(refname:lstrip=2)",
            "refs/heads",
        ])?;
        Ok(out.lines().map(String::from).collect())
    }

    /// The tip of a branch.
    pub fn branch_sha(&self, full: &str, branch: &str) -> Result<Option<String>> {
        Ok(self.lock().repo(full)?.git.branch(branch))
    }

    /// A file's contents at a ref (branch, tag or commit); `None` when absent.
    pub fn file_at(&self, full: &str, rev: &str, path: &str) -> Result<Option<String>> {
        let st = self.lock();
        let g = &st.repo(full)?.git;
        let Some(sha) = g.resolve(rev) else {
            bail!("no ref `{rev}` in `{full}`");
        };
        Ok(g.file(&sha, path)
            .map(|(b, _)| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Run `git` in the bare repository (for assertions on history).
    pub fn git(&self, full: &str, args: &[&str]) -> Result<String> {
        let st = self.lock();
        st.repo(full)?.git.run(args)
    }

    /// Every pull request, by number.
    pub fn pulls(&self, full: &str) -> Result<Vec<PullInfo>> {
        let st = self.lock();
        let repo = st.repo(full)?;
        Ok(repo
            .pulls
            .values()
            .map(|p| api::pull_info(repo, p))
            .collect())
    }

    pub fn pull(&self, full: &str, number: u64) -> Result<PullInfo> {
        let st = self.lock();
        let repo = st.repo(full)?;
        let p = repo
            .pulls
            .get(&number)
            .with_context(|| format!("no pull request #{number}"))?;
        Ok(api::pull_info(repo, p))
    }

    /// The REST JSON of a pull request, as `GET /repos/{o}/{r}/pulls/{n}` answers.
    pub fn pull_json(&self, full: &str, number: u64) -> Result<Value> {
        let mut st = self.lock();
        api::pull_json_detail(&mut st, full, number)
    }

    pub fn deployments(&self, full: &str) -> Result<Vec<DeploymentInfo>> {
        let st = self.lock();
        Ok(st
            .repo(full)?
            .deployments
            .iter()
            .map(|d| d.info.clone())
            .collect())
    }

    pub fn dispatches(&self, full: &str) -> Result<Vec<DispatchInfo>> {
        Ok(self.lock().repo(full)?.dispatches.clone())
    }

    /// Every request so far, in order.
    pub fn request_log(&self) -> Vec<Request> {
        self.lock().log.clone()
    }

    /// REST and GraphQL requests so far (git traffic excluded).
    pub fn api_calls(&self) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| matches!(r.kind, RequestKind::Rest | RequestKind::GraphQl))
            .count()
    }

    /// git smart-HTTP requests so far.
    pub fn git_requests(&self) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| r.kind == RequestKind::Git)
            .count()
    }

    pub fn reset_log(&self) {
        self.lock().log.clear();
    }

    /// Answer the next `count` API requests with `status` (e.g. 502, or 403/429 with
    /// `retry_after` seconds as a secondary rate limit), before looking at them.
    pub fn fail_next(&self, count: usize, status: u16, retry_after: Option<u64>) {
        let mut st = self.lock();
        for _ in 0..count {
            st.faults.push((status, retry_after));
        }
    }
}

impl GitHubStandIn {
    /// Arm `fault` (REST, GraphQL and git smart HTTP all pass through it).
    pub fn inject(&self, fault: Fault) {
        self.lock().rules.arm(fault);
    }

    /// The armed faults that have hit a request.
    pub fn faults_fired(&self) -> usize {
        self.lock().rules.fired()
    }
}

impl Drop for GitHubStandIn {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// HEAD's branch of a bare repository.
pub(crate) fn default_branch(g: &Bare) -> Result<String> {
    g.run(&["symbolic-ref", "--short", "HEAD"])
}

type Shared = Arc<Mutex<State>>;

async fn route(
    axum::extract::State(state): axum::extract::State<Shared>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    // A GraphQL request is matched by its document too (`/api/graphql#<query>`), so
    // a fault can aim at one mutation: `Fault::new("POST", "createCommitOnBranch", …)`.
    let (req, matched) = if path.ends_with("graphql") {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, 16 << 20)
            .await
            .unwrap_or_default();
        let query = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["query"].as_str().map(String::from))
            .unwrap_or_default();
        (
            axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes)),
            format!("{path}#{query}"),
        )
    } else {
        (req, path.clone())
    };
    let kind = state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .rules
        .hit(&method, &matched);
    let Some(kind) = kind else {
        return serve(state, req).await;
    };
    let log = |status: u16| {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        let logged = req_kind(&path);
        st.log.push(Request {
            kind: logged,
            method: method.clone(),
            path: path.clone(),
            status,
            op: matched
                .split_once('#')
                .map(|(_, q)| schema::summary(q))
                .unwrap_or_default(),
        });
    };
    match kind {
        FaultKind::Status(code) => {
            log(code);
            // GitHub's messages for the statuses only the merge answers with
            // (rest-api-description, `PUT …/pulls/{pull_number}/merge`: 405 "Pull
            // Request is not mergeable", 409 "Head branch was modified").
            let message = match code {
                405 => "Pull Request is not mergeable",
                409 => "Head branch was modified. Review and try the merge again.",
                _ => "Server Error",
            };
            fault_answer(code, message, &[])
        }
        FaultKind::PrimaryRateLimit => {
            log(403);
            let reset = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() + 1)
                .unwrap_or_default()
                .to_string();
            fault_answer(
                403,
                "API rate limit exceeded for installation ID 1.",
                &[
                    ("x-ratelimit-limit", "1000".into()),
                    ("x-ratelimit-remaining", "0".into()),
                    ("x-ratelimit-used", "1000".into()),
                    ("x-ratelimit-reset", reset),
                    ("x-ratelimit-resource", "core".into()),
                ],
            )
        }
        FaultKind::SecondaryRateLimit => {
            log(403);
            fault_answer(
                403,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                &[
                    ("retry-after", "1".into()),
                    ("x-ratelimit-limit", "1000".into()),
                    ("x-ratelimit-remaining", "900".into()),
                ],
            )
        }
        FaultKind::DropBefore => {
            log(0);
            crate::fault::drop_connection()
        }
        FaultKind::LostAnswer | FaultKind::DropAfter => {
            // The work is done (the whole answer produced, a CGI run to its end)…
            let resp = serve(state.clone(), req).await;
            let _ = axum::body::to_bytes(resp.into_body(), usize::MAX).await;
            // …and the answer lost.
            if kind == FaultKind::DropAfter {
                log(0);
                crate::fault::drop_connection()
            } else {
                log(502);
                fault_answer(502, "Server Error", &[])
            }
        }
    }
}

fn req_kind(path: &str) -> RequestKind {
    if path == "/api/graphql" || path == "/graphql" {
        RequestKind::GraphQl
    } else if path.starts_with("/api/v3") {
        RequestKind::Rest
    } else if smart::is_git_path(path) {
        RequestKind::Git
    } else {
        RequestKind::Other
    }
}

fn fault_answer(
    status: u16,
    message: &str,
    headers: &[(&str, String)],
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let body = if status == 403 && message.contains("secondary") {
        serde_json::json!({"message": message, "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"})
    } else if status == 403 {
        serde_json::json!({"message": message, "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"})
    } else {
        serde_json::json!({"message": message})
    };
    let mut resp = (
        axum::http::StatusCode::from_u16(status)
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

async fn serve(state: Shared, req: axum::extract::Request) -> axum::response::Response {
    let path = req.uri().path().to_string();
    if path == "/api/graphql"
        || path == "/graphql"
        || path.starts_with("/api/v3/")
        || path == "/api/v3"
    {
        api::handle(state, req).await
    } else if smart::is_git_path(&path) {
        smart::handle(state, req).await
    } else {
        let method = req.method().to_string();
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.log.push(Request {
            kind: RequestKind::Other,
            method,
            path,
            status: 404,
            op: String::new(),
        });
        axum::response::IntoResponse::into_response((
            axum::http::StatusCode::NOT_FOUND,
            "Not Found",
        ))
    }
}

/// `testkit github --addr 127.0.0.1:PORT --state DIR [--token T] [--repo owner/name[=DIR]]`:
/// serve until killed, printing the URLs. `--repo` imports DIR's files (or a README).
pub fn serve_cli(args: &[String]) -> Result<()> {
    crate::lifetime::catch_stop_signals();
    let mut opts = Options::default();
    let mut tokens = Vec::new();
    let mut repos = Vec::new();
    let mut teams: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .with_context(|| format!("`{a}` needs a value"))
        };
        match a.as_str() {
            "--addr" => opts.addr = Some(val()?.parse().context("--addr")?),
            "--state" => opts.state_dir = Some(PathBuf::from(val()?)),
            "--token" => tokens.push(val()?),
            "--repo" => repos.push(val()?),
            "--team" => teams.push(val()?),
            _ => bail!(
                "usage: testkit github --addr HOST:PORT --state DIR [--token T]... [--repo owner/name[=DIR]]... [--team org/slug=login]..."
            ),
        }
    }
    let gh = GitHubStandIn::start_with(opts)?;
    for t in &tokens {
        gh.add_token(t, TokenGrants::user("admin"));
    }
    for r in &repos {
        let (full, dir) = match r.split_once('=') {
            Some((f, d)) => (f, Some(Path::new(d))),
            None => (r.as_str(), None),
        };
        let mut files = Vec::new();
        if let Some(d) = dir {
            collect_files(d, d, &mut files)?;
        } else {
            files.push(("README.md".to_string(), format!("# {full}\n")));
        }
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        gh.create_repo(full, "main", &refs)?;
    }
    // `org/slug=login`: the login joins the team and, on every repository, the
    // collaborators (so reviews can be requested from it).
    for t in &teams {
        let (team, login) = t
            .split_once('=')
            .with_context(|| format!("`--team {t}`: write org/slug=login"))?;
        gh.add_team_member(team, login, "member");
        for r in &repos {
            let full = r.split_once('=').map_or(r.as_str(), |(f, _)| f);
            gh.add_collaborator(full, login, "write")?;
        }
    }
    println!("GITHUB_SERVER_URL={}", gh.server_url());
    println!("GITHUB_API_URL={}", gh.api_url());
    println!("GITHUB_GRAPHQL_URL={}", gh.graphql_url());
    crate::lifetime::until_signalled();
    drop(gh);
    Ok(())
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            collect_files(root, &p, out)?;
        } else {
            let rel = p.strip_prefix(root)?.to_string_lossy().into_owned();
            out.push((rel, std::fs::read_to_string(&p)?));
        }
    }
    Ok(())
}
