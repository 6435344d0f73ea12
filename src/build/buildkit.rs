//! A BuildKit build through dockerd, as buildx's `docker` driver makes it: a session
//! (`/session`) that serves the context and the secrets, a solve of the Dockerfile
//! frontend over `/grpc` exported to the daemon's image store under the local name,
//! and the solve's status stream printed as it goes.

use std::path::Path;

use anyhow::Result;
use bollard::Docker;
use bollard::grpc::BuildRef;
use bollard::grpc::build::{
    ImageBuildFrontendOptions, ImageBuildLoadInput, ImageBuildNetworkMode, SecretSource,
};
use bollard::grpc::driver::Build as _;
use bollard::grpc::driver::moby::Moby;
use bollard::moby::buildkit::v1::StatusRequest;
use bollard::moby::buildkit::v1::control_client::ControlClient;
use futures_util::StreamExt as _;

use super::progress::Progress;
use super::{BuildRequest, Network, dockerfile_error, needs_newer_frontend};
use crate::error::Failure;

/// Build `req` with BuildKit on the daemon at `host`, named `local` in its store.
pub(super) async fn build(
    host: &str,
    docker: &Docker,
    req: &BuildRequest,
    context: Vec<u8>,
    local: &str,
) -> Result<()> {
    let mut opts = ImageBuildFrontendOptions::builder()
        .dockerfile(Path::new(&req.dockerfile))
        .force_network_mode(&match req.network {
            Network::Default => ImageBuildNetworkMode::Bridge,
            Network::Host => ImageBuildNetworkMode::Host,
            Network::None => ImageBuildNetworkMode::None,
        });
    if let Some(t) = &req.target {
        opts = opts.target(t);
    }
    for (k, v) in &req.labels {
        opts = opts.label(k, v);
    }
    // BuildKit 0.11 and later (Docker Engine 23+) take the commit time from this
    // argument for the image's `created` and its history, so a rebuild of one
    // commit gives the same config; older ones ignore it. The user's own wins.
    if !req.build_args.iter().any(|(k, _)| k == "SOURCE_DATE_EPOCH") {
        opts = opts.buildarg("SOURCE_DATE_EPOCH", &req.source_date_epoch.to_string());
    }
    for (k, v) in &req.build_args {
        opts = opts.buildarg(k, v);
    }
    // The session serves a secret from a file or our environment only; a private
    // folder of 0600 files, removed when the build ends, keeps it out of both the
    // environment of every child and the context.
    let secret_dir = tempfile::Builder::new()
        .prefix("gitops-build-secrets")
        .tempdir()?;
    for (i, (id, value)) in req.secrets.iter().enumerate() {
        let path = secret_dir.path().join(i.to_string());
        write_private(&path, value.as_bytes())?;
        opts = opts.set_secret(id, &SecretSource::File(path));
    }

    let build_ref = BuildRef::random();
    let status_ref = build_ref.as_ref().to_string();
    let solve = Moby::new(docker).docker_build(
        local,
        opts.build(),
        ImageBuildLoadInput::Upload(context.into()),
        None,
        Some(build_ref),
    );
    let status = watch(host, status_ref);
    let (solved, progress) = tokio::join!(solve, status);
    drop(secret_dir);
    match solved {
        Ok(()) => Ok(()),
        Err(e) => {
            let message = crate::secrets::redact(&grpc_message(&e));
            if let Some(err) = dockerfile_error(&req.context.join(&req.dockerfile), &message) {
                return Err(err.into());
            }
            let mut text = format!("the image build failed: {message}");
            if let Some((step, error, tail)) = progress.and_then(|p| p.failed) {
                text = format!("the image build failed at `{step}`: {error}");
                for line in tail {
                    text.push('\n');
                    text.push_str(&crate::secrets::redact(&line));
                }
            }
            let hint = if needs_newer_frontend(&message) {
                "this engine's built-in Dockerfile frontend is older than that syntax (heredocs need Docker Engine 23 or later, or `# syntax=docker/dockerfile:1.4`); build with docker/build-push-action and set `build: never`"
            } else {
                "the build output above ends where it failed; run the same build locally with `docker build`"
            };
            Err(Failure::new(text).hint(hint).into())
        }
    }
}

/// The message of a solve's gRPC error: tonic's status message, without the wrapping.
fn grpc_message(e: &bollard::grpc::error::GrpcError) -> String {
    match e {
        bollard::grpc::error::GrpcError::TonicStatus { err } => err.message().to_string(),
        other => other.to_string(),
    }
}

/// Print the build's status as it goes; the progress is returned for the error of
/// a failed build. A status stream that can't be opened only costs the display.
async fn watch(host: &str, build_ref: String) -> Option<Progress> {
    let channel = match super::engine::grpc_channel(host).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot show the build's progress: {e:#}");
            return None;
        }
    };
    let mut client = ControlClient::new(channel).max_decoding_message_size(16 << 20);
    let mut stream = match client
        .status(StatusRequest {
            r#ref: build_ref.clone(),
        })
        .await
    {
        Ok(s) => s.into_inner(),
        Err(e) => {
            eprintln!("cannot show the build's progress: {}", e.message());
            return None;
        }
    };
    let mut progress = Progress::default();
    while let Some(item) = stream.next().await {
        match item {
            Ok(status) => {
                for line in progress.update(&status) {
                    println!("{line}");
                }
            }
            Err(_) => break,
        }
    }
    Some(progress)
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)
}
