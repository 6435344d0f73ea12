//! The legacy builder (`POST /build`, BuilderV1): what podman's compat API and an
//! engine without BuildKit offer. No session, so no build secrets; a Dockerfile that
//! needs BuildKit fails here with a hint that says so.

use std::collections::HashMap;

use anyhow::Result;
use bollard::Docker;
use bollard::query_parameters::BuildImageOptions;
use futures_util::StreamExt;

use super::{BuildRequest, NEEDS_BUILDKIT_HINT, Network, daemon_failure, dockerfile_error};
use crate::error::Failure;

pub(super) async fn build(
    docker: &Docker,
    req: &BuildRequest,
    context: Vec<u8>,
    local: &str,
) -> Result<()> {
    let options = BuildImageOptions {
        dockerfile: req.dockerfile.clone(),
        t: Some(local.to_string()),
        target: req.target.clone().unwrap_or_default(),
        labels: Some(req.labels.clone().into_iter().collect::<HashMap<_, _>>()),
        buildargs: (!req.build_args.is_empty())
            .then(|| req.build_args.iter().cloned().collect::<HashMap<_, _>>()),
        networkmode: match req.network {
            Network::Default => None,
            Network::Host => Some("host".into()),
            Network::None => Some("none".into()),
        },
        rm: true,
        forcerm: true,
        platform: req.platform.clone().unwrap_or_default(),
        ..Default::default()
    };
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    let mut tail: Vec<String> = Vec::new();
    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(info) => info,
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                return Err(failed(req, &error, &tail));
            }
            Err(e) => return Err(daemon_failure(e, "building the image")),
        };
        if let Some(line) = info
            .stream
            .as_deref()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
        {
            let line = crate::secrets::redact(line);
            println!("{line}");
            tail.push(line);
            if tail.len() > 20 {
                tail.remove(0);
            }
        }
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            return Err(failed(req, &err, &tail));
        }
    }
    Ok(())
}

fn failed(req: &BuildRequest, err: &str, tail: &[String]) -> anyhow::Error {
    let err = crate::secrets::redact(err);
    if let Some(e) = dockerfile_error(&req.context.join(&req.dockerfile), &err) {
        return e.into();
    }
    let hint = if needs_buildkit(&err) {
        NEEDS_BUILDKIT_HINT
    } else {
        "the build output above ends where it failed; run the same build locally with `docker build`"
    };
    Failure::new(format!(
        "the image build failed: {err}\n{}",
        tail.join("\n")
    ))
    .hint(hint)
    .into()
}

/// The legacy builders' words for BuildKit syntax: dockerd's "the --mount option
/// requires BuildKit", an unknown flag (`--mount`, `--link`), heredocs.
fn needs_buildkit(err: &str) -> bool {
    let e = err.to_ascii_lowercase();
    e.contains("buildkit") || e.contains("unknown flag") || e.contains("heredoc")
}
