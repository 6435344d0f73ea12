//! The image of a commit: the existing build retagged, or built and pushed.

use super::*;

use crate::build::{self, BuildRequest};
use crate::config::Service;
use crate::context::{Commit, Context};
use crate::error::UserError;
use crate::inputs::{BuildInputs, BuildMode};
use crate::registry::{self, Registry};
use crate::tag::TagVars;
use anyhow::Context as _;

/// Registry lookups and retags of a train's members run at most this many at once.
const PARALLEL: usize = 16;

/// [`ensure_image`] for every member of a train, as one: every member's build is
/// read first (concurrently, bounded), and when `build: never` leaves any without
/// one, nothing is written anywhere and the error names them all. Then each build
/// is given the tag (concurrently) and each missing one built.
///
/// Per member that is three registry requests: the GET of `sha-<sha>` (its bytes
/// kept), a HEAD of the tag (a released tag is never moved), the PUT of the same
/// bytes. For the whole train, one token exchange covers every repository
/// ([`Registry::authorize_push`]).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn ensure_images(
    cx: &Context,
    reg: &Registry,
    mode: BuildMode,
    opts: &BuildInputs,
    services: &[&Service],
    commit: &Commit,
    tag: &str,
    vars: &TagVars,
) -> anyhow::Result<Vec<Image>> {
    use futures_util::{StreamExt, TryStreamExt};
    if !cx.dry_run {
        let images: Vec<&str> = services.iter().map(|s| s.image.as_str()).collect();
        reg.authorize_push(&images).await?;
    }
    let found: Vec<Option<registry::Build>> = if mode == BuildMode::Always {
        services.iter().map(|_| None).collect()
    } else {
        futures_util::stream::iter(
            services
                .iter()
                .map(|s| reg.fetch_commit_build(&s.image, &commit.sha)),
        )
        .buffered(PARALLEL)
        .try_collect()
        .await?
    };
    let missing: Vec<&str> = services
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(s, _)| s.image.as_str())
        .collect();
    if mode == BuildMode::Never && !missing.is_empty() {
        return Err(crate::error::Failure::new(format!(
            "no image for commit `{}` of {}: nothing was written",
            commit.sha,
            missing
                .iter()
                .map(|m| format!("`{m}:sha-{}`", commit.sha))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .hint("build every member's image first (`sha-<sha>`), or set `build: auto` to build the missing ones")
        .into());
    }
    let what = format!("the build of {}", short(Some(&commit.sha)));
    let placed: Vec<Option<Image>> =
        futures_util::stream::iter(services.iter().zip(&found).map(|(s, f)| {
            let what = &what;
            async move {
                let Some(b) = f else {
                    return Ok::<_, anyhow::Error>(None);
                };
                place_build(reg, &s.image, b, tag, cx.dry_run, what).await?;
                Ok(Some(Image {
                    digest: b.digest.clone(),
                    built: false,
                }))
            }
        }))
        .buffered(PARALLEL)
        .try_collect()
        .await?;
    let mut images = Vec::new();
    for (s, p) in services.iter().zip(placed) {
        images.push(match p {
            Some(i) => i,
            // Builds share the machine: one at a time.
            None => ensure_image(cx, reg, BuildMode::Always, opts, s, commit, tag, vars).await?,
        });
    }
    Ok(images)
}

/// [`place_tag`] for a build already read: the same checks, then one PUT.
async fn place_build(
    reg: &Registry,
    image: &str,
    build: &registry::Build,
    tag: &str,
    dry_run: bool,
    what: &str,
) -> anyhow::Result<bool> {
    place(reg, image, &build.digest, tag, dry_run, what, || {
        reg.tag_build(image, tag, build)
    })
    .await
}

/// Point `image:tag` at `digest` with `write`: nothing when it already does, a
/// write when the tag is free, a refusal when it names another image.
async fn place<F, W>(
    reg: &Registry,
    image: &str,
    digest: &str,
    tag: &str,
    dry_run: bool,
    what: &str,
    write: W,
) -> anyhow::Result<bool>
where
    W: FnOnce() -> F,
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let dst = format!("{image}:{tag}");
    match reg.digest_of(image, tag).await? {
        Some(have) if have == digest => {
            println!("`{dst}` is already {what} ({digest})");
            Ok(false)
        }
        Some(have) => Err(moved_tag(&dst, &have, what, digest).into()),
        None if dry_run => {
            println!("dry run: would retag {what} ({digest}) as `{dst}`");
            Ok(false)
        }
        None => {
            write().await?;
            println!("retagged {what} as `{dst}` ({digest})");
            Ok(true)
        }
    }
}

/// A released tag that names another image: never moved.
fn moved_tag(dst: &str, have: &str, what: &str, digest: &str) -> UserError {
    UserError::new(format!(
        "`{dst}` already names another image ({have}), not {what} ({digest})"
    ))
    .hint("a released tag is never moved: release a new version (a new SemVer tag), or delete the tag in the registry if it was pushed by mistake")
}

/// Make sure `image:tag` is the build of `commit`: retag the existing build
/// (`sha-<sha>`), or build and push one, as the `build` input (`mode`) says.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn ensure_image(
    cx: &Context,
    reg: &Registry,
    mode: BuildMode,
    opts: &BuildInputs,
    service: &Service,
    commit: &Commit,
    tag: &str,
    vars: &TagVars,
) -> anyhow::Result<Image> {
    if !cx.dry_run {
        reg.authorize_push(&[service.image.as_str()]).await?;
    }
    let existing = if mode == BuildMode::Always {
        None
    } else {
        reg.fetch_commit_build(&service.image, &commit.sha).await?
    };
    if let Some(b) = existing {
        let what = format!("the build of {}", short(Some(&commit.sha)));
        place_build(reg, &service.image, &b, tag, cx.dry_run, &what).await?;
        return Ok(Image {
            digest: b.digest,
            built: false,
        });
    }
    if mode == BuildMode::Never {
        return Err(registry::no_build_error(&service.image, &commit.sha).into());
    }
    let sha_tag = format!("sha-{}", commit.sha);
    if cx.dry_run {
        println!(
            "dry run: would build `{}` from `{}` and push it as `{sha_tag}` and `{tag}`",
            service.image,
            service.context.display()
        );
        return Ok(Image {
            digest: String::new(),
            built: true,
        });
    }
    workspace_holds(&cx.root, &commit.sha)?;
    let source = match (env_var("GITHUB_SERVER_URL"), env_var("GITHUB_REPOSITORY")) {
        (Some(s), Some(r)) => format!("{s}/{r}"),
        _ => String::new(),
    };
    let version = vars.version.clone().unwrap_or_else(|| tag.to_string());
    let req = BuildRequest {
        context: cx.root.join(&service.context),
        dockerfile: service.dockerfile.clone(),
        image: service.image.clone(),
        target: service.build_target.clone(),
        tags: vec![sha_tag.clone(), tag.to_string()],
        labels: build::oci_labels(&commit.sha, &source, commit.timestamp, &version),
        build_args: service
            .build_args
            .iter()
            .chain(&opts.args)
            .cloned()
            .collect(),
        secrets: opts.secrets.clone(),
        network: opts.network,
        source_date_epoch: commit.timestamp,
        platform: None,
    };
    let _g = crate::output::group(&format!("build {}", service.image));
    let digest = build::build_and_push(&req, reg).await.with_context(|| {
        format!(
            "building `{}` for {}",
            service.image,
            short(Some(&commit.sha))
        )
    })?;
    drop(_g);
    println!("built and pushed `{}:{tag}` ({digest})", service.image);
    Ok(Image {
        digest,
        built: true,
    })
}

/// Refuses to build unless the workspace's `HEAD` is the commit being released.
///
/// The build is pushed as `sha-<sha>` and labelled with that revision, so building any
/// other tree would publish it under the released commit's name. That happens when a
/// checkout and the event disagree: a branch named like a release tag (`v1.2.4`) is
/// what actions/checkout picks for the bare name `v1.2.4`, while the tag's commit comes
/// from the event.
fn workspace_holds(root: &std::path::Path, sha: &str) -> anyhow::Result<()> {
    let head = crate::git::open_foreign_owned(root).ok().and_then(|r| {
        r.head()
            .ok()?
            .peel_to_commit()
            .ok()
            .map(|c| c.id().to_string())
    });
    match head {
        Some(h) if h.eq_ignore_ascii_case(sha) => Ok(()),
        Some(h) => Err(crate::error::Failure::new(format!(
            "the workspace holds commit {h}, not {sha}, the commit being released: building it would publish another tree as `sha-{sha}`"
        ))
        .hint("check out the released commit by its full ref (`ref: refs/tags/v1.2.3` or the sha) with actions/checkout, or release an existing build with `build: never`")
        .into()),
        None => Err(crate::error::Failure::new(format!(
            "the workspace is not a git checkout, so it cannot be shown to hold {sha}, the commit being released"
        ))
        .hint("build from a checkout of the released commit (actions/checkout), or release an existing build with `build: never`")
        .into()),
    }
}

/// Point `image:tag` at `digest`: nothing when it already does, a retag when the tag
/// is free, and a refusal when it names another image: a release's tag is never
/// moved silently (`prd-1.2.3` stays the image that was approved as 1.2.3).
pub(crate) async fn place_tag(
    reg: &Registry,
    image: &str,
    digest: &str,
    tag: &str,
    dry_run: bool,
    what: &str,
) -> anyhow::Result<bool> {
    let dst = format!("{image}:{tag}");
    let src = format!("{image}@{digest}");
    place(reg, image, digest, tag, dry_run, what, || async {
        reg.retag(&src, &dst).await.map(drop)
    })
    .await
}
