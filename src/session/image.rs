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
const PARALLEL: usize = 8;

/// [`ensure_image`] for every member of a train, as one: every member's build is
/// looked up first (concurrently, bounded), and when `build: never` leaves any
/// without one, nothing is written anywhere and the error names them all. Then
/// each found build is retagged (concurrently) and each missing one built.
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
    let found: Vec<Option<String>> = if mode == BuildMode::Always {
        vec![None; services.len()]
    } else {
        futures_util::stream::iter(
            services
                .iter()
                .map(|s| reg.find_commit_build(&s.image, &commit.sha)),
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
        return Err(UserError::new(format!(
            "no build of {} for {} of the train: nothing was written",
            short(Some(&commit.sha)),
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .hint(format!(
            "push each image as `sha-{}` first (the build job of every member), or use `build: auto` to build the missing ones",
            commit.sha
        ))
        .into());
    }
    let what = format!("the build of {}", short(Some(&commit.sha)));
    let placed: Vec<Option<Image>> =
        futures_util::stream::iter(services.iter().zip(&found).map(|(s, f)| {
            let what = &what;
            async move {
                match f {
                    Some(d) => {
                        place_tag(reg, &s.image, d, tag, cx.dry_run, what).await?;
                        Ok::<_, anyhow::Error>(Some(Image {
                            digest: d.clone(),
                            built: false,
                        }))
                    }
                    None => Ok(None),
                }
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
    let existing = if mode == BuildMode::Always {
        None
    } else {
        reg.find_commit_build(&service.image, &commit.sha).await?
    };
    if let Some(d) = existing {
        let what = format!("the build of {}", short(Some(&commit.sha)));
        place_tag(reg, &service.image, &d, tag, cx.dry_run, &what).await?;
        return Ok(Image {
            digest: d,
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
    match reg.digest_of(image, tag).await? {
        Some(have) if have == digest => {
            println!("`{dst}` is already {what} ({digest})");
            Ok(false)
        }
        Some(have) => Err(UserError::new(format!(
            "`{dst}` already names another image ({have}), not {what} ({digest})"
        ))
        .hint("a released tag is never moved: release a new version (a new SemVer tag), or delete the tag in the registry if it was pushed by mistake")
        .into()),
        None if dry_run => {
            println!("dry run: would retag {what} ({digest}) as `{dst}`");
            Ok(false)
        }
        None => {
            reg.retag(&format!("{image}@{digest}"), &dst).await?;
            println!("retagged {what} as `{dst}` ({digest})");
            Ok(true)
        }
    }
}
