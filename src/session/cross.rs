//! Two repositories: the code's (where a service's commits, tags and builds come
//! from) and the config's (its rules, the files that hold the versions, the release
//! PRs). They are the same repository unless `config-repository` names another
//! (a run in the code's repository releasing into a GitOps repository), or a
//! service's `repository:` names another (the config repository's own workflows
//! deploying and promoting what the code's repository released).

use super::*;
use crate::error::{Failure, UserError};
use crate::repository::RepoName;

impl Session {
    /// The client of the repository `service`'s code lives in, with `source-token`
    /// (else `token`): the config's own client when that is the same repository.
    /// `None` without GitHub (a dry run without a repository).
    pub(crate) fn source(&self, cx: &Context) -> anyhow::Result<Option<&GitHub>> {
        let Some(gh) = self.github.as_ref() else {
            return Ok(None);
        };
        let Some(repo) = &self.source_repo else {
            return Ok(Some(gh));
        };
        if cx.config_repo().as_ref() == Some(repo) {
            return Ok(Some(gh));
        }
        if let Some(s) = self.source.get() {
            return Ok(Some(s));
        }
        let token = cx.inputs.source_token.as_deref();
        let client = gh.for_repository(repo, token)?;
        Ok(Some(self.source.get_or_init(|| client)))
    }

    /// Whether the checkout is not of `service`'s code: the config repository's
    /// workflows, deploying what another repository released. Its tags and commits
    /// are then read through the API ([`Session::source`]), not from the checkout.
    pub(crate) fn code_elsewhere(&self) -> bool {
        match (&self.source_repo, RepoName::of_run()) {
            (Some(code), Some(run)) => *code != run,
            _ => false,
        }
    }

    /// The highest SemVer tag on `sha` (full or short) of the service's code: from
    /// the checkout and its remote when it is the code's, else from the code's
    /// repository through the API.
    pub(crate) async fn version_at(
        &self,
        cx: &Context,
        sha: &str,
    ) -> anyhow::Result<Option<String>> {
        if !self.code_elsewhere() {
            return super::version_of(cx, sha);
        }
        let Some(src) = self.source(cx)? else {
            return Ok(None);
        };
        Ok(src
            .tags_at(sha)
            .await?
            .iter()
            .filter_map(|t| crate::tag::parse_semver_tag(t))
            .max()
            .map(|v| v.to_string()))
    }

    /// The full sha of the service's commit `short`: from the checkout when it is
    /// the code's, else asked of the code's repository.
    pub(crate) async fn full_sha(
        &self,
        cx: &Context,
        short: &str,
    ) -> anyhow::Result<Option<String>> {
        if !self.code_elsewhere() {
            let repo = crate::git::open_foreign_owned(&cx.root).ok();
            return Ok(repo.and_then(|r| {
                let c = r.revparse_single(short).ok()?.peel_to_commit().ok()?;
                Some(c.id().to_string())
            }));
        }
        match self.source(cx)? {
            Some(src) => src.commit_sha(short).await,
            None => Ok(None),
        }
    }

    /// Before the first write of a release into another repository: one request
    /// proving `token` may write there (see [`GitHub::check_push`]).
    pub(crate) async fn check_config_push(&self, cx: &Context) -> anyhow::Result<()> {
        if cx.dry_run || !cx.config_elsewhere() {
            return Ok(());
        }
        self.github()?.check_push().await
    }
}

/// A run releases only the services whose code is its repository's: in `acme/other`
/// a service whose `repository` is `acme/hello` is refused, before anything is read
/// from a registry or written anywhere. (A service without `repository:` lives in
/// the config's repository.)
pub(crate) fn check_own_service(cx: &Context, service: &Service) -> Result<(), UserError> {
    let Some(run) = RepoName::of_run() else {
        return Ok(());
    };
    let Some(code) = cx.source_repo(service) else {
        return Ok(());
    };
    if code == run {
        return Ok(());
    }
    let said = if service.repository.is_some() {
        format!("its `repository` is `{code}`")
    } else {
        format!("it has no `repository:`, so its code is the config repository's, `{code}`")
    };
    Err(UserError::new(format!(
        "`{run}` may not release service `{}`: {said}",
        service.name
    ))
    .hint(format!(
        "release {} from `{code}`'s own workflows, or, if its code lives in `{run}`, set `services.{}.repository: {run}` in the config on the config repository's default branch",
        service.name, service.name
    )))
}

/// A failed read of the config repository, said with what to fix.
pub(crate) fn cannot_reach(repo: &RepoName, e: anyhow::Error) -> anyhow::Error {
    if e.downcast_ref::<UserError>().is_some() {
        return e;
    }
    let text = format!("{e:#}");
    if text.contains("Could not resolve to a Repository") || text.contains("404") {
        return Failure::new(format!(
            "cannot read the config repository `{repo}`: the token cannot see it"
        ))
        .hint(format!(
            "pass as `token` a GitHub App installation token of an App installed on `{repo}`, or a fine-grained token for it (`contents: write`, `pull-requests: write`); the workflow's GITHUB_TOKEN sees only its own repository"
        ))
        .into();
    }
    e
}
