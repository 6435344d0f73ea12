//! The typed inputs several commands share: [`Common`] (every command: the config,
//! the token; for a moving one the base and the commit identity), and
//! [`SessionInputs`] (every command that moves a service: how the change is merged
//! and continued, the health gate, registry logins, the version).

use std::path::PathBuf;
use std::time::Duration;

use super::raw::Inputs;
use super::value::{self, Chain};
use crate::config::MergePolicy;
use crate::error::UserError;
use crate::git::Identity;
use crate::github::MergeMethod;

/// How commits are made (`commit-via`; which one a run uses is decided with the
/// config in `session/via_api.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitVia {
    /// GraphQL `createCommitOnBranch` and `updateRefs`: GitHub signs the commits.
    Api,
    /// libgit2: fetch, commit locally, push with a lease.
    Git,
}

impl CommitVia {
    /// `author` or `committer` asked for with `commit-via: api`.
    pub(crate) fn custom_identity() -> UserError {
        UserError::new(
            "`commit-via: api` can't set the commit's `author` or `committer`: GitHub makes the token's owner the author (github-actions[bot] for GITHUB_TOKEN, the App's bot for an App token)",
        )
        .hint("drop `author` and `committer`, or use `commit-via: git` (its commits are not signed by GitHub)")
    }
}

/// What the parts under any command read, whatever the command: where the rules
/// are and the token; for a command that moves a service also the base branch and
/// how its commits read. Kept on the `Context`.
#[derive(Default)]
pub struct Common {
    /// `config`: the config file, relative to the workspace (or absolute).
    pub config: Option<PathBuf>,
    /// `token`, else `GITHUB_TOKEN` (trimmed): GitHub, git pushes, ghcr.io's default.
    pub token: Option<String>,
    /// `config-repository`: the repository of the config and manifests, when it is
    /// not the run's own (`GITHUB_REPOSITORY`).
    pub config_repository: Option<crate::repository::RepoName>,
    /// `source-token`: reads a service's code repository from the config's side.
    pub source_token: Option<String>,
    /// `base`: a valid branch name, without `refs/heads/`.
    pub base: Option<String>,
    /// `commit-via`: `api` or `git`; unset, the config's or `api`.
    pub(crate) commit_via: Option<CommitVia>,
    pub author: Option<Identity>,
    pub committer: Option<Identity>,
    /// `message`: the commit message template.
    pub message: Option<String>,
}

impl Common {
    /// `config` and `token`: what a command that only reads, or only retags, uses.
    pub(super) fn local(i: &Inputs) -> Result<Common, UserError> {
        let config_repository = i
            .config_repository
            .as_deref()
            .map(|r| {
                crate::repository::RepoName::parse(r).map_err(|m| {
                    UserError::new(format!("input `config-repository` is `{r}`: it {m}"))
                        .hint("name the config repository as `owner/name`, e.g. `acme/gitops`")
                })
            })
            .transpose()?;
        Ok(Common {
            config: i.config.as_deref().map(PathBuf::from),
            token: i.token.clone(),
            config_repository,
            source_token: i.source_token.clone(),
            ..Common::default()
        })
    }

    /// [`Common::local`], plus the base and the commit identity of a moving command.
    pub(super) fn moving(i: &Inputs) -> Result<Common, UserError> {
        // `main` or `refs/heads/main`: kept as the branch name, once, here.
        let base = i
            .base
            .as_deref()
            .map(|b| b.strip_prefix("refs/heads/").unwrap_or(b).to_string());
        if let Some(b) = base.as_deref()
            && !git2::Reference::is_valid_name(&format!("refs/heads/{b}"))
        {
            return Err(
                UserError::new(format!("input `base` is `{b}`, not a branch name"))
                    .hint("give the branch the release PRs go to, e.g. `main`"),
            );
        }
        let identity = |name: &str, v: &Option<String>| {
            v.as_deref()
                .map(|v| {
                    Identity::parse(v).map_err(|e| {
                        UserError::new(format!("input `{name}` is `{v}`: {e}"))
                            .hint("write it as `Name <email@example.com>`")
                    })
                })
                .transpose()
        };
        let commit_via = match i.commit_via.as_deref().map(str::trim) {
            None => None,
            Some("api") => Some(CommitVia::Api),
            Some("git") => Some(CommitVia::Git),
            Some(other) => {
                return Err(UserError::new(format!(
                    "input `commit-via` is {other:?}, not `api` or `git`"
                ))
                .hint("`api` (GitHub makes and signs the commit) or `git` (a push)"));
            }
        };
        if commit_via == Some(CommitVia::Api) && (i.author.is_some() || i.committer.is_some()) {
            return Err(CommitVia::custom_identity());
        }
        Ok(Common {
            base,
            commit_via,
            author: identity("author", &i.author)?,
            committer: identity("committer", &i.committer)?,
            message: i.message.clone(),
            ..Common::local(i)?
        })
    }
}

/// What every command that moves a service (`release`, `promote`, `deploy`,
/// `rollback`) shares, through its `Session`: a chain may deploy inline, and a
/// deploy promotes on, so each of them may need all of it.
pub struct SessionInputs {
    pub change: ChangeInputs,
    /// `verify-url`, `verify-contains`, `verify-timeout`.
    pub gate: Option<Gate>,
    pub registry: RegistryInputs,
    /// `version`, as SemVer: for `{version}` templates (the release's, a promotion's).
    pub version: Option<String>,
}

impl SessionInputs {
    pub(super) fn parse(i: &Inputs) -> Result<SessionInputs, UserError> {
        Ok(SessionInputs {
            change: ChangeInputs::parse(i)?,
            gate: Gate::parse(i)?,
            registry: RegistryInputs::parse(i)?,
            version: value::version(&i.version)?,
        })
    }
}

/// The inputs that shape a change: the merge, the PR, what follows the merge.
pub struct ChangeInputs {
    /// `merge` [default: the environment's].
    pub merge: Option<MergePolicy>,
    /// `merge-method` [default: squash].
    pub method: MergeMethod,
    pub chain: Chain,
    /// `deploy-workflow`: a file name under `.github/workflows`, or a numeric id.
    pub deploy_workflow: Option<String>,
    pub draft: bool,
    /// `reviewers`: logins and `org/team`s.
    pub reviewers: Vec<String>,
    pub labels: Vec<String>,
}

impl ChangeInputs {
    pub(super) fn parse(i: &Inputs) -> Result<ChangeInputs, UserError> {
        let merge = match i.merge.as_deref() {
            Some(m) => Some(MergePolicy::parse(m).ok_or_else(|| {
                UserError::new(format!("input `merge` is `{m}`"))
                    .hint("use `auto`, `immediate`, `never` or `direct`")
            })?),
            None => None,
        };
        let method: MergeMethod = i.merge_method.as_deref().unwrap_or("squash").parse()?;
        let deploy_workflow = i.deploy_workflow.clone().filter(|w| !w.trim().is_empty());
        if let Some(w) = &deploy_workflow {
            let file = (w.ends_with(".yml") || w.ends_with(".yaml"))
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            let id = w.bytes().all(|b| b.is_ascii_digit());
            if !(file || id) {
                return Err(UserError::new(format!("input `deploy-workflow` is `{w}`, not a workflow file name"))
                    .hint("name the workflow file under .github/workflows, e.g. `overlay-deploy.yaml` (no folder), or give its numeric id"));
            }
        }
        let chain = Chain::parse(i.chain.as_deref())?;
        if chain == Chain::Dispatch && deploy_workflow.is_none() {
            return Err(UserError::new("`chain: dispatch` needs `deploy-workflow`").hint(
                "set `deploy-workflow: overlay-deploy.yaml` (the file name under .github/workflows)",
            ));
        }
        let reviewers = value::list(&i.reviewers);
        if let Some(r) = reviewers.iter().find(|r| !crate::config::is_reviewer(r)) {
            return Err(UserError::new(format!(
                "input `reviewers` names `{r}`, which is neither a user login nor `org/team`"
            ))
            .hint("list logins (`alice`) or teams (`acme/platform`), separated by commas or new lines"));
        }
        let labels = value::list(&i.labels);
        if let Some(l) = labels.iter().find(|l| l.chars().count() > 50) {
            return Err(UserError::new(format!(
                "input `labels` names `{l}`, {} characters long",
                l.chars().count()
            ))
            .hint("GitHub label names are at most 50 characters"));
        }
        Ok(ChangeInputs {
            merge,
            method,
            chain,
            deploy_workflow,
            draft: value::flag(&i.draft, "draft")?,
            reviewers,
            labels,
        })
    }
}

/// The health gate of a deploy: poll `url` until it answers 2xx (and its body
/// holds `contains`), for at most `timeout`.
pub struct Gate {
    /// An http(s) URL without credentials.
    pub url: String,
    pub contains: Option<String>,
    pub timeout: Duration,
}

impl Gate {
    pub(super) fn parse(inputs: &Inputs) -> Result<Option<Gate>, UserError> {
        let timeout = value::duration(inputs.verify_timeout.as_deref().unwrap_or("300"))?;
        let Some(raw) = inputs
            .verify_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        else {
            return Ok(None);
        };
        let parsed = reqwest::Url::parse(raw.trim()).ok();
        // The URL is printed and posted as the deployment's
        // `environment_url`, which anyone who can read the repository sees.
        if parsed
            .as_ref()
            .is_some_and(|u| !u.username().is_empty() || u.password().is_some())
        {
            return Err(UserError::new(
                "input `verify-url` carries credentials (`user:…@`); its value is not shown",
            )
            .hint("the URL is printed and posted as the deployment's environment URL: give one that needs no credentials (a health endpoint open to the runner)"));
        }
        let url = parsed
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                UserError::new(format!("input `verify-url` is `{raw}`, not an http(s) URL"))
                    .hint("give the address the health gate polls, e.g. `https://dev.example.com/healthz`")
            })?;
        Ok(Some(Gate {
            url: url.to_string(),
            contains: inputs.verify_contains.clone().filter(|c| !c.is_empty()),
            timeout,
        }))
    }
}

/// How to log in to registries (`registry-username`, `registry-password`,
/// `insecure-registries`); the token is in [`Common`].
#[derive(Default)]
pub struct RegistryInputs {
    pub username: Option<String>,
    pub password: Option<String>,
    /// Hosts besides loopback spoken to over plain HTTP.
    pub insecure: Vec<String>,
    /// `GITOPS_GHCR_HOST`: one more host that is GitHub's Container registry for
    /// this run (GHES's `containers.<host>`, a mirror the runner's network names),
    /// given ghcr.io's default credentials; `None` when unset or empty.
    pub ghcr_host: Option<String>,
}

/// The variable naming another host as GitHub's Container registry.
pub const GHCR_HOST_VAR: &str = "GITOPS_GHCR_HOST";

impl RegistryInputs {
    pub(super) fn parse(i: &Inputs) -> Result<RegistryInputs, UserError> {
        Ok(RegistryInputs {
            username: i.registry_username.clone(),
            password: i.registry_password.clone(),
            insecure: value::list(&i.insecure_registries),
            ghcr_host: ghcr_host(std::env::var(GHCR_HOST_VAR).ok().as_deref())?,
        })
    }
}

/// `GITOPS_GHCR_HOST`'s value: exactly one registry host (`host` or `host:port`, as
/// an image reference names it), never a URL, a path or a list, so the job's token
/// can only go to the one host named.
pub(crate) fn ghcr_host(v: Option<&str>) -> Result<Option<String>, UserError> {
    let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if !crate::grammar::is_registry_host(v) {
        return Err(UserError::new(format!(
            "{GHCR_HOST_VAR} `{}` is not a registry host",
            crate::output::defuse(v)
        ))
        .hint("give one host as image names start with it, e.g. `containers.ghes.example.com` or `registry.internal:5000`, no scheme or path"));
    }
    Ok(Some(v.to_ascii_lowercase()))
}

// No `{:?}` shows a secret.
impl std::fmt::Debug for RegistryInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryInputs")
            .field("username", &self.username)
            .field("password", &crate::secrets::hidden(&self.password))
            .field("insecure", &self.insecure)
            .field("ghcr_host", &self.ghcr_host)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ghcr_host_variable_is_one_registry_host() {
        assert_eq!(ghcr_host(None).unwrap(), None);
        assert_eq!(ghcr_host(Some("  ")).unwrap(), None);
        assert_eq!(
            ghcr_host(Some("Containers.GHES.example"))
                .unwrap()
                .as_deref(),
            Some("containers.ghes.example")
        );
        assert_eq!(
            ghcr_host(Some("127.0.0.1:5000")).unwrap().as_deref(),
            Some("127.0.0.1:5000")
        );
        for bad in [
            "https://containers.ghes.example",
            "containers.ghes.example/acme",
            "a.example,b.example",
            "user@host.example",
            "host.example:port",
        ] {
            let e = ghcr_host(Some(bad)).unwrap_err();
            assert!(e.to_string().contains("GITOPS_GHCR_HOST"), "{bad}: {e}");
            assert!(e.hint.is_some(), "{bad}");
        }
    }
}
