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

/// Make sure `image:tag` is the build of `commit`: retag the existing build
/// (`sha-<sha>`), or build and push one, as the `build` input (`mode`) says.
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
    let source = match (env_var("GITHUB_SERVER_URL"), env_var("GITHUB_REPOSITORY")) {
        (Some(s), Some(r)) => format!("{s}/{r}"),
        _ => String::new(),
    };
    let version = vars.version.clone().unwrap_or_else(|| tag.to_string());
    let req = BuildRequest {
        context: cx.root.join(&service.context),
        dockerfile: service.dockerfile.clone(),
        image: service.image.clone(),
        target: service.target.clone(),
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
