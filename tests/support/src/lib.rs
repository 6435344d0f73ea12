//! Real parts for gitops-action's tests: servers started on 127.0.0.1 and killed on drop.
#![recursion_limit = "256"]

/// Debian's Docker Engine (dockerd with BuildKit) on a private socket, and a busybox base image.
pub mod docker;
/// Faults on the nth matching request: statuses, lost answers, dropped connections, rate limits.
pub mod fault;
/// A local GitHub: REST, GraphQL auto-merge and git smart HTTP over real bare repositories.
pub mod github;
/// Children die with their parent; the servers end on SIGTERM, SIGINT and SIGHUP.
pub mod lifetime;
/// `podman system service`: the Docker Engine API on a unix socket.
pub mod podman;
/// Debian's `docker-registry` with token, htpasswd or no auth; images pushed over its API.
pub mod registry;
/// The seeded repository: the bundled example pointed at a test registry, an app, a config.
pub mod seed;
/// A workflow runner: this repository's `.github/workflows/*.yaml` run the way GitHub
/// runs them, against the stand-in.
pub mod workflow;
