//! The inputs that shape a change (merge, PR, chain, commit identity, health gate),
//! read and checked when the session starts, before anything is written.

use crate::action::Inputs;
use crate::config::MergePolicy;
use crate::context::Context;
use crate::error::UserError;
use crate::git::{GitOptions, Identity};
use crate::github::MergeMethod;
use crate::registry::RegistryOptions;
use std::time::Duration;

/// How the merge continues the chain (`chain` input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chain {
    /// Dispatch `deploy-workflow` when it is set, else nothing.
    Auto,
    Dispatch,
    Inline,
    None,
}

/// The inputs that shape a change (merge, PR, chain, commit identity), read and
/// checked when the session starts: one found bad after the image was placed or the
/// PR merged would stop the run half-done.
pub(crate) struct ChangeInputs {
    pub(crate) merge: Option<MergePolicy>,
    pub(crate) method: MergeMethod,
    pub(crate) chain: Chain,
    pub(crate) deploy_workflow: Option<String>,
    pub(crate) draft: bool,
    pub(crate) reviewers: Vec<String>,
    pub(crate) labels: Vec<String>,
}

impl ChangeInputs {
    pub(crate) fn from_inputs(i: &Inputs) -> Result<ChangeInputs, UserError> {
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
        let chain = match i.chain.as_deref().unwrap_or("auto") {
            "auto" => Chain::Auto,
            "dispatch" => Chain::Dispatch,
            "inline" => Chain::Inline,
            "none" => Chain::None,
            other => {
                return Err(UserError::new(format!("input `chain` is `{other}`"))
                    .hint("use `auto` (dispatch when `deploy-workflow` is set), `dispatch`, `inline` or `none`"));
            }
        };
        if chain == Chain::Dispatch && deploy_workflow.is_none() {
            return Err(UserError::new("`chain: dispatch` needs `deploy-workflow`").hint(
                "set `deploy-workflow: overlay-deploy.yaml` (the file name under .github/workflows)",
            ));
        }
        let reviewers = Inputs::list(&i.reviewers);
        if let Some(r) = reviewers.iter().find(|r| !crate::config::is_reviewer(r)) {
            return Err(UserError::new(format!(
                "input `reviewers` names `{r}`, which is neither a user login nor `org/team`"
            ))
            .hint("list logins (`alice`) or teams (`acme/platform`), separated by commas or new lines"));
        }
        let labels = Inputs::list(&i.labels);
        if let Some(l) = labels.iter().find(|l| l.chars().count() > 50) {
            return Err(UserError::new(format!(
                "input `labels` names `{l}`, {} characters long",
                l.chars().count()
            ))
            .hint("GitHub label names are at most 50 characters"));
        }
        if let Some(b) = i.base.as_deref()
            && !git2::Reference::is_valid_name(&format!("refs/heads/{b}"))
        {
            return Err(
                UserError::new(format!("input `base` is `{b}`, not a branch name"))
                    .hint("give the branch the release PRs go to, e.g. `main`"),
            );
        }
        for (name, v) in [("author", &i.author), ("committer", &i.committer)] {
            if let Some(v) = v {
                Identity::parse(v).map_err(|e| {
                    UserError::new(format!("input `{name}` is `{v}`: {e}"))
                        .hint("write it as `Name <email@example.com>`")
                })?;
            }
        }
        Ok(ChangeInputs {
            merge,
            method,
            chain,
            deploy_workflow,
            draft: Inputs::flag(&i.draft, "draft")?,
            reviewers,
            labels,
        })
    }
}

/// `verify-url`, `verify-contains` and `verify-timeout`, checked up front: a bad one
/// found after the deployment was recorded would leave it `in_progress`.
pub(crate) struct Gate {
    pub(crate) url: String,
    pub(crate) contains: Option<String>,
    pub(crate) timeout: Duration,
}

impl Gate {
    pub(crate) fn from_inputs(inputs: &Inputs) -> Result<Option<Gate>, UserError> {
        let timeout = parse_duration(inputs.verify_timeout.as_deref().unwrap_or("300"))?;
        let Some(raw) = inputs
            .verify_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        else {
            return Ok(None);
        };
        let parsed = reqwest::Url::parse(raw.trim()).ok();
        // Issue 14: the URL is printed and posted as the deployment's
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

/// The `build` input: `auto` (default), `always` or `never`.
pub(crate) fn build_mode(cx: &Context) -> Result<&str, UserError> {
    let mode = cx.inputs.build.as_deref().unwrap_or("auto");
    if !matches!(mode, "auto" | "always" | "never") {
        return Err(UserError::new(format!("input `build` is `{mode}`"))
            .hint("use `auto` (retag an existing build, else build), `always` or `never`"));
    }
    Ok(mode)
}

/// The longest `verify-timeout`: one day (a job on GitHub-hosted runners lasts
/// at most 6 hours: docs "Usage limits, billing, and administration").
pub(crate) const MAX_VERIFY_SECS: u64 = 24 * 3600;

/// `300`, `300s`, `5m`, `1h`, up to a day.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, UserError> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 'h')) => (&t[..i], 3600),
        _ => (t, 1),
    };
    // Issue 14: `n * mult` overflowed silently; a job lasts hours at most, so
    // anything over a day is a mistake.
    num.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(mult))
        .filter(|secs| *secs <= MAX_VERIFY_SECS)
        .map(Duration::from_secs)
        .ok_or_else(|| {
            UserError::new(format!("input `verify-timeout` is `{s}`"))
                .hint("give seconds (`300`) or a unit: `90s`, `5m`, `1h` (at most a day, `24h`)")
        })
}

/// `credential_host`: the registry written to, the only one `registry-username`
/// and `registry-password` are offered to (issue 14).
pub(crate) fn registry_options(
    inputs: &Inputs,
    credential_host: Option<String>,
) -> RegistryOptions {
    RegistryOptions {
        username: inputs.registry_username.clone(),
        password: inputs.registry_password.clone(),
        insecure: Inputs::list(&inputs.insecure_registries),
        docker_config: None,
        github_token: inputs.token.clone().filter(|t| !t.is_empty()),
        credential_host,
    }
}

pub(crate) fn git_options(cx: &Context) -> anyhow::Result<GitOptions> {
    let mut o = GitOptions::from_env();
    o.workspace = cx.root.clone();
    if let Some(t) = &cx.inputs.token {
        o.token = Some(t.clone());
    }
    if let Some(a) = &cx.inputs.author {
        o.author = Identity::parse(a)?;
        o.committer = o.author.clone();
    }
    if let Some(c) = &cx.inputs.committer {
        o.committer = Identity::parse(c)?;
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `token` input (`INPUT_TOKEN`, `--token`) reaches the registry as ghcr.io's
    /// default credential (issue 13, failure 2).
    #[test]
    fn the_token_input_is_the_registry_default_for_ghcr() {
        let i = Inputs {
            token: Some("ghs_fromTheInput".into()),
            ..Inputs::default()
        };
        assert_eq!(
            registry_options(&i, None).github_token.as_deref(),
            Some("ghs_fromTheInput")
        );
        assert_eq!(
            registry_options(&Inputs::default(), None).github_token,
            None
        );
    }
}
