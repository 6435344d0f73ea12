//! From the typed inputs (`crate::inputs`, checked before the run starts) to the
//! options of the registry and git clients.

use crate::context::Context;
use crate::git::GitOptions;
use crate::inputs::RegistryInputs;
use crate::registry::RegistryOptions;

/// `credential_host`: the registry written to, the only one `registry-username`
/// and `registry-password` are offered to. `token` is ghcr.io's default.
pub(crate) fn registry_options(
    inputs: &RegistryInputs,
    token: Option<&str>,
    credential_host: Option<String>,
) -> RegistryOptions {
    RegistryOptions {
        username: inputs.username.clone(),
        password: inputs.password.clone(),
        insecure: inputs.insecure.clone(),
        docker_config: None,
        github_token: token.filter(|t| !t.is_empty()).map(str::to_string),
        credential_host,
        ghcr_host: inputs.ghcr_host.clone(),
    }
}

pub(crate) fn git_options(cx: &Context) -> anyhow::Result<GitOptions> {
    let mut o = GitOptions::from_env();
    o.workspace = cx.root.clone();
    if let Some(t) = &cx.inputs.token {
        o.token = Some(t.clone());
    }
    // With a config repository, git only ever reads the checkout's own remote (the
    // code's repository: a commit or tag it lacks); `source-token` is for that one.
    if cx.config_elsewhere()
        && let Some(t) = &cx.inputs.source_token
    {
        o.token = Some(t.clone());
    }
    if let Some(a) = &cx.inputs.author {
        o.author = a.clone();
        o.committer = a.clone();
    }
    if let Some(c) = &cx.inputs.committer {
        o.committer = c.clone();
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `token` input (`INPUT_TOKEN`, `--token`) reaches the registry as ghcr.io's
    /// default credential.
    #[test]
    fn the_token_input_is_the_registry_default_for_ghcr() {
        let r = RegistryInputs::default();
        assert_eq!(
            registry_options(&r, Some("ghs_fromTheInput"), None)
                .github_token
                .as_deref(),
            Some("ghs_fromTheInput")
        );
        assert_eq!(registry_options(&r, None, None).github_token, None);
    }
}
