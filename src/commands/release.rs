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
    let movers = match &inputs.who {
        Some(who) => super::Movers::of(cx, who)?,
        None => {
            let service = the_service(cx, None)?;
            super::Movers {
                name: service.name.clone(),
                train: None,
                members: vec![service],
            }
        }
    };
    for s in &movers.members {
        check_own_service(cx, s)?;
    }
    let service = movers.members[0].clone();
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
    let off_map = off_the_map(cx, &inputs, env)?;
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
    if let Some(mapped) = &off_map {
        println!(
            "the base branch maps {mapped}, not to `{}`: releasing there needs `{}`'s `allowed:` rule",
            env.name, env.name
        );
    }
    session.check_access(cx, env).await?;
    if let Some(mapped) = &off_map {
        crate::output::notice(&format!(
            "released to `{}` outside the environment map (the base maps {mapped}): the actor passes `{}`'s `allowed:` rule",
            env.name, env.name
        ));
    }

    session.preflight(cx).await?;
    session.check_config_push(cx).await?;
    let members = movers.refs();
    session
        .read_target_first(cx, &movers.name, &members, env)
        .await?;
    let mut out = Outputs::default();
    out.set("env", &env.name);
    out.set("tag", &tag);
    out.set("sha", &commit.sha);
    let batch = if let Some(train) = &movers.train {
        // Every member's image first: one without a build writes nothing anywhere.
        let images = ensure_images(
            cx,
            &session.registry,
            inputs.build,
            &inputs.build_opts,
            &members,
            &commit,
            &tag,
            &vars,
        )
        .await?;
        movers.describe(&mut out);
        let digests: serde_json::Map<String, serde_json::Value> = members
            .iter()
            .zip(&images)
            .map(|(s, i)| (s.name.clone(), i.digest.clone().into()))
            .collect();
        out.set("digests", serde_json::Value::Object(digests).to_string());
        out.set("built", images.iter().any(|i| i.built));
        Batch {
            train: Some(train.clone()),
            changes: members
                .iter()
                .zip(images)
                .map(|(s, image)| Change {
                    service: s,
                    env,
                    tag: tag.clone(),
                    digest: image.digest,
                    labels: Vec::new(),
                    kind: "release",
                    source_sha: Some(commit.sha.clone()),
                })
                .collect(),
        }
    } else {
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
        out.set("image", &service.image);
        out.set("digest", &image.digest);
        out.set("built", image.built);
        Batch::one(Change {
            service: &service,
            env,
            tag: tag.clone(),
            digest: image.digest.clone(),
            labels: Vec::new(),
            kind: "release",
            source_sha: Some(commit.sha.clone()),
        })
    };
    session.carry(cx, &batch, &mut out).await?;
    session.finish(&mut out);
    Ok(out)
}

/// With both `env` and `ref` given, whether the base's environment map gives the ref
/// another environment: `Some("branch `x` to `dev`")` then. Such a release is allowed
/// only to an environment whose `allowed:` rule the actor passes (checked with the
/// access rules); to one without a rule it is refused here, since anyone could
/// otherwise send any ref anywhere by naming the environment.
fn off_the_map(
    cx: &Context,
    inputs: &Release,
    env: &Environment,
) -> anyhow::Result<Option<String>> {
    let (Some(_), Some(_), Some((_, r))) = (
        inputs.env.as_deref(),
        inputs.refs.git_ref.as_deref(),
        inputs.refs.selector.as_ref(),
    ) else {
        return Ok(None);
    };
    let found = context::environments_for(&cx.config, r);
    if found.iter().any(|(e, _)| e.name == env.name) {
        return Ok(None);
    }
    let names: Vec<String> = found.iter().map(|(e, _)| format!("`{}`", e.name)).collect();
    let mapped = if names.is_empty() {
        format!("{} `{}` to no environment", r.kind(), r.name())
    } else {
        format!("{} `{}` to {}", r.kind(), r.name(), names.join(", "))
    };
    if env.allowed.is_none() {
        return Err(UserError::new(format!(
            "`env` is `{}`, but the base branch's environment map gives {mapped}",
            env.name
        ))
        .hint(format!(
            "release a ref that `{}` takes (a tag as `refs/tags/<tag>`; a bare name is a branch), or give `{}` an `allowed:` rule in the config on the base branch",
            env.name, env.name
        ))
        .into());
    }
    Ok(Some(mapped))
}

/// The `service` input, or the only service of the config (a push in a service's
/// own repository releases that service).
/// What this release will read, as `cx`'s config (the checkout's, before the
/// rules are read from the base) names it: the members' target files in the
/// environment and the release branch (none for `merge: direct`). `None` where
/// the checkout's config does not tell (the rules then are read alone).
pub(crate) fn guess_reads(cx: &Context, inputs: &Release) -> Option<Guess> {
    let movers = match &inputs.who {
        Some(who) => super::Movers::of(cx, who).ok()?,
        None => {
            let service = the_service(cx, None).ok()?;
            super::Movers {
                name: service.name.clone(),
                train: None,
                members: vec![service],
            }
        }
    };
    let env = match inputs.env.as_deref() {
        Some(e) => cx.config.environment(e).ok()?,
        None => {
            let r = inputs.refs.selector.as_ref().map(|(_, r)| r)?;
            match context::environments_for(&cx.config, r).as_slice() {
                [(e, _)] => *e,
                _ => return None,
            }
        }
    };
    let targets = movers
        .members
        .iter()
        .map(|s| cx.config.target(s, env))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let policy = inputs.session.change.merge.unwrap_or(env.merge);
    // The released commit's history gives the PR's commit list, where the code is
    // in the repository read (not with a config repository).
    let history = context::commit_of(&cx.root, inputs.refs.sha.as_deref())
        .ok()
        .map(|c| c.sha)
        .filter(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .filter(|_| !cx.config_elsewhere())
        .map(crate::github::HistoryFrom::Commit);
    Some(Guess {
        paths: paths_of(&targets),
        head: (policy != crate::github::MergePolicy::Direct)
            .then(|| crate::git::release_branch(&movers.name, &env.name)),
        history,
    })
}

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
