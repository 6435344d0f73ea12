//! gitops-action: move a service through environments the GitOps way.
//!
//! Data flows one way: inputs (`cli`, `action`) → `config` → `environment` → `tag`
//! → `registry` → `overlay` → `git` / `github` → outputs. `commands` holds one file
//! per command; `session` is what the commands that move a service share.
//!
//! Where to look:
//! - where is a release PR opened? `session/pull_request.rs`
//! - where is the overlay edited? `overlay/edit.rs` (the tree it splices into: `overlay/tree.rs`)
//! - where does a command start? `commands/mod.rs` (`run`), then `commands/<command>.rs`
//! - who may release? `session/access.rs`
//! - retag or build? `session/image.rs`, on `registry/transfer.rs` and `build.rs`
//! - what happens after a merge (dispatch, deploy, health gate, promotion)? `session/chain.rs`
//! - how are inputs read? `cli.rs` (flags), `action.rs` (`INPUT_*`, events, outputs)
//! - how is a repository file read or written? `fs.rs`
//! - how does a release commit reach the remote? `git/publish.rs` (fetches: `git/mod.rs`)
//! - which commit, which version, which tag variables? `context.rs`
//! - what does a failure print and exit with? `error.rs`

/// GitHub Actions I/O: `INPUT_*`, `GITHUB_OUTPUT`, step summary, annotations, masks, events.
pub mod action;
/// Docker Engine API builds (Docker or podman), labelled, tagged and pushed.
pub mod build;
/// The clap command line; fills the same typed inputs as the Action.
pub mod cli;
/// One file per command, and `run`, which dispatches to them.
pub mod commands;
/// `.github/gitops.yaml`: raw types, validated into a `Config` with every diagnostic at once.
pub mod config;
/// The context every command starts from: workspace, config, the commit and its tag variables.
pub mod context;
/// Git ref -> environment: branch globs, SemVer tags, channels.
pub mod environment;
/// User errors (exit 2) and failures (exit 1), with hints.
pub mod error;
/// Repository files: read as untrusted text, written atomically.
pub mod fs;
#[cfg(test)]
mod fuzz;
/// Git on libgit2: open the workspace or clone, release commits without a worktree, leased pushes.
pub mod git;
/// GitHub over octocrab: idempotent release PRs, merge or auto-merge, deployments, dispatches.
pub mod github;
/// Action-mode output: only the workflow commands we mean reach the runner.
pub mod output;
/// Lossless reads and edits of `kustomization.yaml` image entries.
pub mod overlay;
/// Container registries: find the build of a commit, retag, copy across repositories.
pub mod registry;
/// One backoff (bounded exponential, jitter, `Retry-After`) for git, GitHub and registries.
pub mod retry;
/// What the commands that move a service share: access, image, pull request, chain.
pub mod session;
/// Tag templates: format, parse back, sort; the OCI tag grammar.
pub mod tag;
