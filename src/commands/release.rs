//! `release`: the image of a commit (found and retagged, or built), set in the
//! environment the ref or `--env` selects, carried by its pull request.

use crate::action::Outputs;
use crate::config::{Environment, Service};
use crate::context::{self, Context};
use crate::error::UserError;
use crate::inputs::Release;
use crate::session::*;
use crate::tag::{self, TagVars};

pub async fn release(cx: &Context, inputs: Release) -> anyhow::Result<Outputs> {
    let service = the_service(cx, inputs.service.as_deref())?;
    let git_ref = inputs.refs.selector.as_ref().map(|(_, r)| r);
    let env = match inputs.env.as_deref() {
        Some(e) => cx.config.environment(e)?,
        None => {
            let r = git_ref.ok_or_else(|| {
                UserError::new("`release` needs `env` or a git `ref` to resolve it from")
                    .hint("pass `--env dev`, or `--ref refs/heads/main` (in Actions the push sets `GITHUB_REF`)")
            })?;
            let found = context::environments_for(&cx.config, r);
            match found.as_slice() {
                [] => {
                    let msg = format!(
                        "{} `{}` deploys to no environment; nothing to release",
                        r.kind(),
                        r.name()
                    );
                    crate::output::notice(&msg);
                    println!("{msg}");
                    let mut out = Outputs::default();
                    out.set("changed", false);
                    return Ok(out);
                }
                [(e, _)] => *e,
                many => {
                    let names: Vec<String> = many
                        .iter()
                        .map(|(e, p)| format!("`{}` ({p})", e.name))
                        .collect();
                    return Err(UserError::new(format!(
                        "{} `{}` selects several environments: {}",
                        r.kind(),
                        r.name(),
                        names.join(", ")
                    ))
                    .hint("pass `--env` to choose one, or make the `branches`/`tags` patterns disjoint")
                    .into());
                }
            }
        }
    };
    let commit = release_commit(cx, &inputs.refs)?;
    let vars = context::tag_vars(env, git_ref, &commit, inputs.session.version.as_deref());
    let vars = with_version(cx, env, vars, &commit.sha)?;
    let vars = with_branch(cx, env, vars)?;
    let tag = env.tag.format(&vars).map_err(|m| {
        UserError::new(format!("environment `{}`: {m}", env.name)).hint(match m.0 {
            "version" => "release from a SemVer tag (`v1.2.3`), or pass `--version`",
            "branch" => "release from a branch push, or pass `--ref refs/heads/<branch>`",
            _ => "check the environment's `tag:` template",
        })
    })?;

    let session = Session::new(cx, &service, inputs.session)?;
    session.check_access(cx, env).await?;

    session.preflight(cx).await?;
    let image = ensure_image(
        cx,
        &session.registry,
        inputs.build,
        &inputs.build_opts,
        &service,
        &commit,
        &tag,
        &vars,
    )
    .await?;
    let mut out = Outputs::default();
    out.set("env", &env.name);
    out.set("image", &service.image);
    out.set("tag", &tag);
    out.set("digest", &image.digest);
    out.set("built", image.built);
    out.set("sha", &commit.sha);
    let change = Change {
        service: &service,
        env,
        tag: tag.clone(),
        digest: image.digest.clone(),
        labels: Vec::new(),
        kind: "release",
        source_sha: Some(commit.sha.clone()),
    };
    session.carry(cx, &change, &mut out).await?;
    session.finish(&mut out);
    Ok(out)
}

/// The `service` input, or the only service of the config (a push in a service's
/// own repository releases that service).
pub(crate) fn the_service(cx: &Context, name: Option<&str>) -> anyhow::Result<Service> {
    match (name, cx.config.services.as_slice()) {
        (Some(name), _) => Ok(cx.config.service(name)?),
        (None, [only]) => Ok(only.clone()),
        (None, _) => Err(crate::inputs::missing("service", "release").into()),
    }
}

/// `{version}` from the SemVer tag on the commit when neither input nor ref gave one.
pub(crate) fn with_version(
    cx: &Context,
    env: &Environment,
    mut vars: TagVars,
    sha: &str,
) -> anyhow::Result<TagVars> {
    if vars.version.is_none() && env.tag.is_versioned() {
        vars.version = version_of(cx, sha)?;
    }
    Ok(vars)
}

/// `{branch}` from the checkout's branch when no ref gave one (`--env` runs).
pub(crate) fn with_branch(
    cx: &Context,
    env: &Environment,
    mut vars: TagVars,
) -> anyhow::Result<TagVars> {
    if vars.branch.is_none() && env.tag.uses(tag::Var::Branch) {
        vars.branch = env_var("GITHUB_HEAD_REF")
            .or_else(|| {
                env_var("GITHUB_REF_NAME")
                    .filter(|_| env_var("GITHUB_REF_TYPE").as_deref() != Some("tag"))
            })
            .or_else(|| {
                let repo = crate::git::open_foreign_owned(&cx.root).ok()?;
                let head = repo.head().ok()?;
                head.is_branch()
                    .then(|| head.shorthand().ok().map(str::to_string))
                    .flatten()
            });
    }
    Ok(vars)
}
