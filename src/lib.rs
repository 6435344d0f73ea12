//! gitops-action: move a service through environments the GitOps way.
//!
//! Data flows one way: inputs (`cli`, `action` → `inputs`) → `config` → `environment` → `tag`
//! → `registry` → `target` (`overlay` for Kustomize) → `git` / `github` → outputs. `commands` holds one file
//! per command; `session` is what the commands that move a service share.
//!
//! Where to look:
//! - where is a release PR opened? `session/pull_request.rs`
//! - where does a version live? `target/mod.rs` (`Target`: file, format, fields; one
//!   module per format, one writer in `target/write.rs`; the config's side in
//!   `target/spec.rs`)
//! - where is the overlay edited? `overlay/edit.rs` (the tree it splices into: `yaml.rs`,
//!   read with the kustomization's rules in `overlay/tree.rs`)
//! - where does a command start? `commands/mod.rs` (`run`), then `commands/<command>.rs`
//! - who may release? `session/access.rs`
//! - retag or build? `session/image.rs`, on `registry/transfer.rs` and `build.rs`
//! - what happens after a merge (dispatch, deploy, health gate, promotion)? `session/chain.rs`
//! - how are inputs read and checked? `inputs/`: raw strings (`raw.rs`: `INPUT_*`; flags
//!   from `cli.rs`) parsed once into the typed `Command` (`command.rs`, `shared.rs`)
//! - where does a new input go? `inputs/mod.rs` says (one line to declare, one parse)
//! - how does the event fill the inputs, and where do outputs go? `action.rs`
//! - how is a warning printed, or a secret kept out of the log? `output.rs`, `secrets.rs`
//! - how is `.github/gitops.yaml` read? `config/mod.rs` (`parse`), then `config/schema.rs`,
//!   `config/validate.rs`; a new key goes in `schema`, `raw` and `validate`
//! - how is a repository file read or written? `fs.rs`
//! - how does a release commit reach the remote? `git/publish.rs` (fetches: `git/mod.rs`)
//! - which commit, which version, which tag variables? `context.rs`
//! - what does a failure print and exit with? `error.rs`

/// GitHub Actions I/O: events, `GITHUB_OUTPUT`, step summary, annotations, masks.
pub mod action;
/// Docker Engine API builds (Docker or podman), labelled, tagged and pushed.
pub mod build;
/// The clap command line; fills the same raw inputs as the Action's `INPUT_*`.
pub mod cli;
/// One file per command, and `run`, which dispatches to them.
pub mod commands;
/// `.github/gitops.yaml`: raw types, validated into a `Config` with every diagnostic at once.
pub mod config;
/// The context every command starts from: workspace, config, the commit and its tag variables.
pub(crate) mod context;
/// Civil dates (RFC 3339 from Unix seconds).
pub(crate) mod date;
/// Git ref -> environment: branch globs, SemVer tags, channels.
pub(crate) mod environment;
/// User errors (exit 2) and failures (exit 1), with hints.
pub mod error;
/// Repository files: read as untrusted text, written atomically.
pub(crate) mod fs;
#[cfg(test)]
mod fuzz;
/// Git on libgit2: open the workspace or clone, release commits without a worktree, leased pushes.
pub mod git;
/// GitHub over octocrab: idempotent release PRs, merge or auto-merge, deployments, dispatches.
pub mod github;
/// The OCI grammars of tags, digests and repository names, cited from the specs.
pub(crate) mod grammar;
/// Inputs: raw strings (`INPUT_*`, flags) parsed once into the typed command and its inputs.
pub(crate) mod inputs;
/// Action-mode output: only the workflow commands we mean reach the runner; notices,
/// warnings, groups.
pub mod output;
/// Lossless reads and edits of `kustomization.yaml` image entries.
pub mod overlay;
/// Container registries: find the build of a commit, retag, copy across repositories.
pub mod registry;
/// `owner/name` of a GitHub repository: the code's and the config's, kept apart.
pub mod repository;
/// One backoff (bounded exponential, jitter, `Retry-After`) for git, GitHub and registries.
pub(crate) mod retry;
/// Secrets: masked, redacted from everything printed, hidden from `{:?}`.
pub mod secrets;
/// What the commands that move a service share: access, image, pull request, chain.
pub mod session;
/// Tag templates: format, parse back, sort.
pub(crate) mod tag;
/// Where a service's version lives in an environment: file, format (kustomize,
/// helm, yaml, flux), fields; read and spliced losslessly.
pub mod target;
/// One positional YAML tree (saphyr-parser events, byte spans), shared by config and overlay.
pub(crate) mod yaml;
