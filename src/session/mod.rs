//! What every command that moves a service shares: the clients of one run
//! (registry, GitHub, the workspace), the typed inputs that shape a change
//! (`crate::inputs::SessionInputs`, checked before the run), and the change itself.
//!
//! Where to look: who may release is in `access`, the image of a commit in `image`,
//! the release pull request in `pull_request`, what follows a merge in `chain`, the
//! versions an overlay had (rollback) in `history`.

mod access;
mod chain;
mod changelog;
mod commit;
mod cross;
mod history;
mod image;
mod inputs;
pub mod pull_request;
mod rules;
mod via_api;

use crate::action::Outputs;
use crate::config::{Environment, Service};
use crate::context::Context;
use crate::error::UserError;
use crate::git::Workspace;
use crate::github::{GitHub, GitHubOptions};
use crate::overlay::ImageEntry;
use crate::registry::Registry;

use crate::inputs::{Chain, ChangeInputs, Gate, SessionInputs};
pub(crate) use commit::{release_commit, version_of};
pub(crate) use cross::check_own_service;
use image::place_tag;
pub(crate) use image::{ensure_image, ensure_images};
use inputs::git_options;
pub(crate) use inputs::registry_options;
use pull_request::ReleaseOutcome;
pub(crate) use pull_request::paths_of;
pub(crate) use rules::{Guess, parse_at, rules_and_targets, rules_from_base};
pub(crate) use via_api::CommitVia;

/// One overlay change to carry to an environment.
pub(crate) struct Change<'a> {
    pub(crate) service: &'a Service,
    pub(crate) env: &'a Environment,
    pub(crate) tag: String,
    pub(crate) digest: String,
    pub(crate) labels: Vec<String>,
    /// `release`, `promote` or `rollback`: the PR's wording.
    pub(crate) kind: &'static str,
    /// The commit the image was built from, for the PR's commit list.
    pub(crate) source_sha: Option<String>,
}

/// What one PR carries: one service's change, or every member's of a train, on
/// `release/<service or train>/<env>`, in one commit.
pub(crate) struct Batch<'a> {
    /// `Some(name)`: a train's, moved as one.
    pub(crate) train: Option<String>,
    /// At least one; all to the same environment.
    pub(crate) changes: Vec<Change<'a>>,
}

impl<'a> Batch<'a> {
    pub(crate) fn one(change: Change<'a>) -> Batch<'a> {
        Batch {
            train: None,
            changes: vec![change],
        }
    }

    /// The name in the branch: the train's, or the service's.
    pub(crate) fn name(&self) -> &str {
        self.train
            .as_deref()
            .unwrap_or(&self.changes[0].service.name)
    }

    pub(crate) fn env(&self) -> &'a Environment {
        self.changes[0].env
    }
}

/// The checkout changes are published from, and the branch they go to.
pub(crate) struct Repo {
    pub(crate) ws: Workspace,
    pub(crate) base: String,
}

/// The image of a commit, found or made.
pub(crate) struct Image {
    pub(crate) digest: String,
    pub(crate) built: bool,
}

/// The clients of one run: registry always, GitHub and git when something is written.
pub(crate) struct Session {
    pub(crate) registry: Registry,
    pub(crate) github: Option<GitHub>,
    /// The repository and base branch, opened (and the token tried) on first use.
    pub(crate) repo: std::cell::OnceCell<Repo>,
    /// The base tip fetched when the rules were read, which proved the remote,
    /// the token and the base already: the preflight needs no second fetch.
    pub(crate) proven_tip: std::cell::OnceCell<String>,
    /// How commits are made (`commit-via`).
    pub(crate) via: CommitVia,
    /// `commit-via: api`: the base branch as the API named it (the default
    /// branch when no `base` was given), once read.
    pub(crate) api_base: std::cell::OnceCell<String>,
    /// `commit-via: api`: the release's one read of the base and its target file,
    /// made before the first registry write ([`Session::read_target_first`]) and
    /// taken by the commit's first round.
    /// Kept with the targets' paths: only the publish of those files takes it.
    pub(crate) first_read: std::cell::RefCell<Option<(Vec<String>, crate::github::Branches)>>,
    /// The health gate of a deploy (`deploy`, or a chain's inline deploy).
    pub(crate) gate: Option<Gate>,
    pub(crate) change: ChangeInputs,
    /// The `version` input (SemVer), for `{version}` templates.
    pub(crate) version: Option<String>,
    /// The repository the service's code lives in (`None`: unknown, no GitHub).
    pub(crate) source_repo: Option<crate::repository::RepoName>,
    /// Its client, when that is not the config's repository (made on first use).
    pub(crate) source: std::cell::OnceCell<GitHub>,
    /// A deployment of this run already succeeded (a train's earlier member): the
    /// next ones keep it active (`auto_inactive: false`).
    pub(crate) sibling_deployed: std::cell::Cell<bool>,
    /// Compares made for PR bodies, by `(old, new)`: asked once per run.
    pub(crate) compares: std::cell::RefCell<CompareCache>,
}

/// [`Session::compares`]: a compare's answer, or why it failed (for the log).
pub(crate) type CompareCache =
    std::collections::HashMap<(String, String), Result<crate::github::Comparison, String>>;

impl Session {
    /// The clients for moving `service`, with the command's typed inputs.
    pub(crate) fn new(
        cx: &Context,
        service: &Service,
        inputs: SessionInputs,
    ) -> anyhow::Result<Session> {
        // The service's image is what a run writes to: its host gets the explicit
        // registry credentials, no other.
        let host = crate::registry::Reference::parse(&service.image)
            .ok()
            .map(|r| r.host);
        let registry = Registry::new(registry_options(
            &inputs.registry,
            cx.inputs.token.as_deref(),
            host,
        ));
        let from_rules = rules::API_CLIENT
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let github = match from_rules {
            _ if cx.dry_run => None,
            Some(gh) => Some(gh),
            None => github_client(cx)?,
        };
        Ok(Session {
            registry,
            github,
            repo: std::cell::OnceCell::new(),
            proven_tip: std::cell::OnceCell::new(),
            via: CommitVia::of(cx)?,
            api_base: {
                let c = std::cell::OnceCell::new();
                if let Some(b) = rules::API_BASE
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
                {
                    let _ = c.set(b);
                }
                c
            },
            first_read: std::cell::RefCell::new(None),
            gate: inputs.gate,
            change: inputs.change,
            version: inputs.version,
            source_repo: cx.source_repo(service),
            source: std::cell::OnceCell::new(),
            sibling_deployed: std::cell::Cell::new(false),
            compares: std::cell::RefCell::new(Default::default()),
        })
    }

    /// Open the workspace (or clone) and settle the base branch; once per run.
    pub(crate) fn repo(&self, cx: &Context) -> anyhow::Result<&Repo> {
        if let Some(r) = self.repo.get() {
            return Ok(r);
        }
        // Opened (and its base fetched) when the rules were read from the base.
        let opened = rules::OPENED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((repo, tip)) = opened {
            let _ = self.proven_tip.set(tip);
            return Ok(self.repo.get_or_init(|| repo));
        }
        let ws = Workspace::open(&git_options(cx)?)?;
        let base = match cx.inputs.base.as_deref() {
            Some(b) => b.to_string(),
            None => ws.base_branch(None)?,
        };
        Ok(self.repo.get_or_init(|| Repo { ws, base }))
    }

    /// Fetch the base's tip: proves the remote, the token and the branch before any
    /// write, and gives the text the PR compares against.
    pub(crate) fn base_tip(&self, ws: &Workspace, base: &str) -> anyhow::Result<String> {
        ws.fetch_branch(base)?.ok_or_else(|| {
            UserError::new(format!(
                "base branch `{base}` does not exist on {}",
                ws.remote_display()
            ))
            .hint("set the `base` input to an existing branch")
            .into()
        })
    }

    /// Before the first write anywhere (registry retag or build): the repository is
    /// reachable with the token and the base exists, so a release cannot stop after
    /// pushing an image for an overlay change it can't make.
    pub(crate) async fn preflight(&self, cx: &Context) -> anyhow::Result<()> {
        if cx.dry_run {
            return Ok(());
        }
        self.github()?;
        if self.via == CommitVia::Api {
            // One read through the API proves the token and the base.
            return self.base_name(cx).await.map(drop);
        }
        let Repo { ws, base } = self.repo(cx)?;
        if self.proven_tip.get().is_some() {
            return Ok(());
        }
        self.base_tip(ws, base).map(drop)
    }

    /// The base branch a change goes to: the `base` input, else the repository's
    /// default branch (asked of the API, or of the git remote with `commit-via: git`).
    pub(crate) async fn base_name(&self, cx: &Context) -> anyhow::Result<String> {
        if self.via == CommitVia::Git {
            return Ok(self.repo(cx)?.base.clone());
        }
        if let Some(b) = self.api_base.get() {
            return Ok(b.clone());
        }
        let b = self
            .github()?
            .read_branches(
                cx.inputs.base.as_deref(),
                None,
                crate::config::DEFAULT_CONFIG.trim_start_matches("./"),
                None,
            )
            .await?;
        Ok(self.api_base.get_or_init(|| b.base).clone())
    }

    pub(crate) fn github(&self) -> anyhow::Result<&GitHub> {
        self.github.as_ref().ok_or_else(|| {
            UserError::new("`GITHUB_REPOSITORY` is not set, so there is no repository to open the pull request in")
                .hint("run inside GitHub Actions, or set `GITHUB_REPOSITORY=owner/name` (and `GITHUB_API_URL` for GitHub Enterprise Server); `--dry-run` needs neither")
                .into()
        })
    }

    pub(crate) fn finish(&self, out: &mut Outputs) {
        if let Some(gh) = &self.github {
            gh.log_calls();
            out.set("api-calls", gh.api_calls());
        }
        eprintln!("registry: {} requests", self.registry.request_count());
    }
}

/// The GitHub client of a run: `GITHUB_API_URL`/`GITHUB_GRAPHQL_URL` and the
/// token; `None` without a repository (`GITHUB_REPOSITORY`).
pub(crate) fn github_client(cx: &Context) -> anyhow::Result<Option<GitHub>> {
    let mut o = GitHubOptions::from_env();
    if let Some(t) = &cx.inputs.token {
        o.token = Some(t.clone());
    }
    // The config's repository is where changes go: `config-repository` when set.
    if let Some(r) = &cx.inputs.config_repository {
        o.repository = r.to_string();
    }
    if o.repository.is_empty() {
        return Ok(None);
    }
    Ok(Some(GitHub::new(&o)?))
}

/// The version of `service` in `env`'s target in the workspace, as the chain
/// carries it (an image entry: the service's image, its tag and digest).
pub(crate) fn deployed_entry(
    cx: &Context,
    env: &Environment,
    service: &Service,
) -> anyhow::Result<ImageEntry> {
    let target = cx.config.target(service, env)?;
    let rel = &target.path;
    let text = crate::fs::read_user_file(&cx.root, &cx.root.join(rel), rel)?.ok_or_else(|| {
        UserError::new(format!("`{}` does not exist", rel.display())).hint(format!(
            "check out the repository (actions/checkout), and check where `{}` keeps {}'s version (`overlay:` or `file:`)",
            env.name, service.name
        ))
    })?;
    let version = target.read(&text)?.ok_or_else(|| {
        UserError::new(format!(
            "`{}` holds no version of {} (`{}`)",
            rel.display(),
            service.name,
            service.image
        ))
        .hint(format!("release {} to `{}` first", service.name, env.name))
    })?;
    if version.tag.is_none() && version.digest.is_none() {
        return Err(UserError::new(format!(
            "{}:{}: the version of `{}` has neither a tag nor a digest",
            rel.display(),
            version.line,
            service.image
        ))
        .hint(format!("release {} to `{}` first", service.name, env.name))
        .into());
    }
    Ok(entry_of(service, version))
}

/// The chain's view of a target's version: the service's image at that tag and digest.
pub(crate) fn entry_of(service: &Service, version: crate::target::Version) -> ImageEntry {
    ImageEntry {
        name: service.image.clone(),
        new_name: None,
        new_tag: version.tag,
        digest: version.digest,
        line: version.line,
    }
}

/// Keep the first of each, in order.
pub(crate) fn unique(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// This workflow run's page: in the run's repository, which need not be the one
/// the change goes to (a release into a config repository).
pub(crate) fn run_url() -> Option<String> {
    Some(format!(
        "{}/{}/actions/runs/{}",
        env_var("GITHUB_SERVER_URL")?.trim_end_matches('/'),
        env_var("GITHUB_REPOSITORY")?,
        env_var("GITHUB_RUN_ID")?
    ))
}

pub(crate) fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

pub(crate) fn short(sha: Option<&str>) -> String {
    sha.map(|s| s.chars().take(7).collect()).unwrap_or_default()
}

pub(crate) fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::access::*;
    use super::*;

    #[test]
    fn permissions_rank_like_github() {
        assert!(permission_rank("admin") > permission_rank("maintain"));
        assert!(permission_rank("maintain") > permission_rank("write"));
        assert!(permission_rank("write") > permission_rank("triage"));
        assert!(permission_rank("triage") > permission_rank("read"));
        assert_eq!(permission_rank("push"), permission_rank("write"));
        assert_eq!(permission_rank("none"), 0);
    }

    #[test]
    fn truncates_on_chars() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("αβγδε", 3), "αβ…");
    }
}
