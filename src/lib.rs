//! gitops-action: move a service through environments the GitOps way.

/// GitHub Actions I/O: `INPUT_*`, `GITHUB_OUTPUT`, step summary, annotations, masks, events.
pub mod action;
/// Docker Engine API builds with OCI labels.
pub mod build;
/// The clap command line; fills the same typed inputs as the Action.
pub mod cli;
/// `.github/gitops.yaml`: raw types, validated into a `Config` with every diagnostic at once.
pub mod config;
/// Git ref -> environment: branch globs, SemVer tags, channels.
pub mod environment;
/// User errors (exit 2) and failures (exit 1), with hints.
pub mod error;
/// Git workspace, release branches, commits and leased pushes.
pub mod git;
/// GitHub REST and GraphQL: pull requests, merges, deployments, dispatches.
pub mod github;
/// Lossless reads and edits of `kustomization.yaml` image entries.
pub mod overlay;
/// The commands users run: status, resolve, set-image, release, promote, deploy, rollback.
pub mod promote;
/// OCI registry: auth, find the build of a commit, retag, copy.
pub mod registry;
/// Tag templates: format, parse back, sort; the OCI tag grammar.
pub mod tag;
