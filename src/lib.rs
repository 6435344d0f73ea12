//! gitops-action: move a service through environments the GitOps way.

/// GitHub Actions I/O: `INPUT_*`, `GITHUB_OUTPUT`, step summary, annotations, masks, events.
pub mod action;
/// Docker Engine API builds (Docker or podman), labelled, tagged and pushed.
pub mod build;
/// The clap command line; fills the same typed inputs as the Action.
pub mod cli;
/// Command dispatch and the read-only commands (status, resolve, set-image,
/// codeowners), with the context every command starts from.
pub mod commands;
/// `.github/gitops.yaml`: raw types, validated into a `Config` with every diagnostic at once.
pub mod config;
/// Git ref -> environment: branch globs, SemVer tags, channels.
pub mod environment;
/// User errors (exit 2) and failures (exit 1), with hints.
pub mod error;
/// Git on libgit2: open the workspace or clone, release commits without a worktree, leased pushes.
pub mod git;
/// GitHub over octocrab: idempotent release PRs, merge or auto-merge, deployments, dispatches.
pub mod github;
/// Lossless reads and edits of `kustomization.yaml` image entries.
pub mod overlay;
/// Container registries: find the build of a commit, retag, copy across repositories.
pub mod registry;
/// The commands that move a service: release, promote, deploy, rollback, retag.
pub mod release;
/// Tag templates: format, parse back, sort; the OCI tag grammar.
pub mod tag;
