//! Build an image through the Docker Engine API (Docker's socket, which the runner
//! mounts into Docker actions, or podman's compatible service), label it, tag it and
//! push every tag; the pushed digest is read back from the registry.
//!
//! Two builders, picked from what the daemon says it offers (`engine.rs`): BuildKit
//! (`buildkit.rs`), where the daemon runs it, as `docker build` and
//! docker/build-push-action use it; the legacy builder (`legacy.rs`) elsewhere
//! (podman, an engine without BuildKit), said so in the log.

mod buildkit;
mod context;
mod engine;
mod legacy;
mod progress;

use crate::date::rfc3339;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{PushImageOptions, TagImageOptions};
use futures_util::StreamExt;

pub use engine::Builder;

use crate::error::{Failure, UserError, loc};
use crate::registry::{PERMISSION_HINT, Reference, Registry};

/// What to build and where to push it.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The build context folder.
    pub context: PathBuf,
    /// The Dockerfile, relative to the context.
    pub dockerfile: String,
    /// The stage to build (`--target`); the last one when unset.
    pub target: Option<String>,
    /// `host/owner/name`, without tag.
    pub image: String,
    /// Tags to push; the first names the build (by convention `sha-<40 hex>`).
    pub tags: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// `ARG` values, in order (a later one of the same name wins).
    pub build_args: Vec<(String, String)>,
    /// For `RUN --mount=type=secret,id=…`: BuildKit only.
    pub secrets: BuildSecrets,
    /// The network of `RUN` steps.
    pub network: Network,
    /// The commit time: BuildKit's `SOURCE_DATE_EPOCH` build argument.
    pub source_date_epoch: i64,
    /// `linux/amd64` and the like; the daemon's own platform when unset.
    pub platform: Option<String>,
}

/// The network of `RUN` steps, as docker/build-push-action's `network` input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Network {
    /// The daemon's default (a bridge on Docker Engine).
    #[default]
    Default,
    Host,
    None,
}

impl Network {
    pub fn parse(v: &str) -> Option<Network> {
        match v {
            "default" => Some(Network::Default),
            "host" => Some(Network::Host),
            "none" => Some(Network::None),
            _ => None,
        }
    }
}

/// Build secrets by id; a `{:?}` shows the ids only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BuildSecrets(pub Vec<(String, String)>);

impl BuildSecrets {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &(String, String)> {
        self.0.iter()
    }
}

impl std::fmt::Debug for BuildSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(id, _)| (id, "***")))
            .finish()
    }
}

/// The OCI labels every build carries; `created` is the commit time, so the same
/// commit always gets the same labels.
pub fn oci_labels(
    revision: &str,
    source: &str,
    commit_time_unix: i64,
    version: &str,
) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert("org.opencontainers.image.revision".into(), revision.into());
    l.insert("org.opencontainers.image.source".into(), source.into());
    l.insert(
        "org.opencontainers.image.created".into(),
        rfc3339(commit_time_unix),
    );
    l.insert("org.opencontainers.image.version".into(), version.into());
    l
}

/// Build `req` on the daemon at `DOCKER_HOST` (default: the runner's socket), push
/// every tag, and return the digest the registry holds for them.
pub async fn build_and_push(req: &BuildRequest, registry: &Registry) -> Result<String> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| DEFAULT_HOST.into());
    build_and_push_on(&host, req, registry).await
}

const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// The hint of a build that needs what only BuildKit gives.
pub const NEEDS_BUILDKIT_HINT: &str = "this Dockerfile needs BuildKit (`RUN --mount`, heredocs, `COPY --link`, build secrets), which this daemon doesn't offer: build and push `sha-<sha>` with docker/build-push-action in an earlier step and set `build: never`";

/// [`build_and_push`] on the daemon at `docker_host` (`unix://…`, `tcp://…`).
pub async fn build_and_push_on(
    docker_host: &str,
    req: &BuildRequest,
    registry: &Registry,
) -> Result<String> {
    let refs = req
        .tags
        .iter()
        .map(|t| Reference::with_tag(&req.image, t))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = refs.first() else {
        return Err(UserError::new(format!("no tag to push `{}` under", req.image)).into());
    };
    let dockerfile = req.context.join(&req.dockerfile);
    if !dockerfile.is_file() {
        return Err(UserError::new(format!(
            "there is no Dockerfile at `{}`",
            dockerfile.display()
        ))
        .hint("set the service's `context` and `dockerfile` in .github/gitops.yaml")
        .into());
    }
    let context = context::tar_context(&req.context, &req.dockerfile)
        .with_context(|| format!("packing the build context `{}`", req.context.display()))?;

    let docker = connect(docker_host)?;
    let builder = engine::builder(docker_host)
        .await
        .map_err(|e| unreachable_daemon(docker_host, &e))?;
    let local = format!("{}/{}:{}", first.host, first.repository, req.tags[0]);
    match builder {
        Builder::BuildKit => {
            println!("building with BuildKit");
            buildkit::build(docker_host, &docker, req, context, &local).await?;
        }
        Builder::Legacy => {
            println!(
                "building with the legacy builder: the daemon at `{docker_host}` offers no BuildKit (podman, or an engine without it)"
            );
            if !req.secrets.is_empty() {
                return Err(Failure::new(
                    "build secrets (`build-secrets`) need BuildKit, and this daemon builds without it",
                )
                .hint(NEEDS_BUILDKIT_HINT)
                .into());
            }
            legacy::build(&docker, req, context, &local).await?;
        }
    }
    push(&docker, req, registry, &refs, &local).await
}

async fn push(
    docker: &Docker,
    req: &BuildRequest,
    registry: &Registry,
    refs: &[Reference],
    local: &str,
) -> Result<String> {
    let first = &refs[0];
    let creds = registry
        .credentials_for(&first.host)
        .map(|(u, p)| DockerCredentials {
            username: Some(u),
            password: Some(p),
            serveraddress: Some(first.host.clone()),
            ..Default::default()
        });
    for r in refs {
        let tag = r.tag.clone().unwrap_or_default();
        let name = format!("{}/{}", r.host, r.repository);
        if r != first {
            docker
                .tag_image(
                    local,
                    Some(TagImageOptions {
                        repo: Some(name.clone()),
                        tag: Some(tag.clone()),
                    }),
                )
                .await
                .map_err(|e| daemon_failure(e, "tagging the image"))?;
        }
        let mut push = docker.push_image(
            &name,
            Some(PushImageOptions {
                tag: Some(tag.clone()),
                ..Default::default()
            }),
            creds.clone(),
        );
        while let Some(item) = push.next().await {
            let info = item.map_err(|e| daemon_failure(e, &format!("pushing `{r}`")))?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                let mut f = Failure::new(format!("pushing `{r}` failed: {err}"));
                let lower = err.to_ascii_lowercase();
                if ["denied", "unauthorized", "forbidden", "401", "403"]
                    .iter()
                    .any(|w| lower.contains(w))
                {
                    f = f.hint(PERMISSION_HINT);
                }
                return Err(f.into());
            }
        }
    }

    // The daemon's push report differs between Docker and podman; the registry is
    // the authority on what was stored under each tag.
    let mut digest: Option<String> = None;
    for r in refs {
        let tag = r.tag.as_deref().unwrap_or_default();
        let got = registry.digest_of(&req.image, tag).await?.ok_or_else(|| {
            Failure::new(format!(
                "`{r}` is missing from the registry right after its push"
            ))
        })?;
        match &digest {
            Some(d) if *d != got => {
                return Err(Failure::new(format!(
                    "`{r}` is `{got}` after the push, but `{}` is `{d}`",
                    refs[0]
                ))
                .into());
            }
            _ => digest = Some(got),
        }
    }
    Ok(digest.unwrap_or_default())
}

const DAEMON_HINT: &str = "mount the Docker socket (`/var/run/docker.sock`) or set `DOCKER_HOST`; or set `build: never` and push images yourself";

fn connect(host: &str) -> Result<Docker> {
    Docker::connect_with_host(host).map_err(|e| {
        Failure::new(format!("cannot reach the Docker daemon at `{host}`: {e}"))
            .hint(DAEMON_HINT)
            .into()
    })
}

fn unreachable_daemon(host: &str, e: &anyhow::Error) -> anyhow::Error {
    Failure::new(format!("cannot reach the Docker daemon at `{host}`: {e:#}"))
        .hint(DAEMON_HINT)
        .into()
}

fn daemon_failure(e: bollard::errors::Error, what: &str) -> anyhow::Error {
    Failure::new(format!("{what}: the Docker daemon failed: {e}"))
        .hint("check that the daemon runs and this step can use its socket")
        .into()
}

/// A Dockerfile the frontend could not parse is the user's to fix (exit 2), at its
/// line: BuildKit and dockerd's legacy builder say `Dockerfile parse error line N:`
/// (`on line N` since BuildKit 0.11), buildah `…: line N: …`.
fn dockerfile_error(dockerfile: &Path, message: &str) -> Option<UserError> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("parse error")?;
    let rest = &message[at..];
    let line_at = rest.find("line ")? + "line ".len();
    let digits: String = rest[line_at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let line: usize = digits.parse().ok()?;
    let what = rest[line_at + digits.len()..]
        .trim_start_matches(':')
        .trim()
        .to_string();
    let what = if what.is_empty() {
        message.trim().to_string()
    } else {
        what
    };
    Some(
        UserError::at(
            loc(dockerfile, line, 1),
            format!("the Dockerfile does not parse: {what}"),
        )
        .hint("fix the Dockerfile at that line; `docker build` shows the same error"),
    )
}

/// Syntax the daemon's built-in frontend predates (heredocs, newer flags): its
/// errors, as BuildKit's older frontends word them.
fn needs_newer_frontend(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("unknown flag") || m.contains("heredoc") || m.contains("<<")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn labels() {
        let l = oci_labels("abc", "https://github.com/acme/hello", 0, "1.2.3");
        assert_eq!(
            l["org.opencontainers.image.created"],
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(l.len(), 4);
    }

    #[test]
    fn a_parse_error_names_the_dockerfile_line() {
        let df = Path::new("app/Dockerfile");
        for message in [
            "failed to solve with frontend dockerfile.v0: failed to create LLB definition: Dockerfile parse error line 3: unknown instruction: RUNN",
            "dockerfile parse error on line 3: unknown instruction: RUNN",
        ] {
            let e = dockerfile_error(df, message).unwrap();
            assert_eq!(
                e.diagnostics[0].to_string(),
                "app/Dockerfile:3:1: the Dockerfile does not parse: unknown instruction: RUNN",
                "{message}"
            );
        }
        assert!(
            dockerfile_error(
                df,
                "process \"/bin/sh -c false\" did not complete successfully: exit code: 1"
            )
            .is_none()
        );
    }

    #[test]
    fn secrets_show_their_ids_only() {
        let s = BuildSecrets(vec![("npm".into(), "hunter2-value".into())]);
        assert_eq!(format!("{s:?}"), r#"{"npm": "***"}"#);
    }
}
