//! The command line. Every flag lands in the same [`Inputs`] the Action reads from
//! `INPUT_*`, so both paths run the same code.

use clap::{Args, Parser, Subcommand};

use crate::action::Inputs;

#[derive(Debug, Parser)]
#[command(
    name = "gitops-action",
    version,
    about = "Move a service through environments the GitOps way",
    long_about = "Finds or builds the image of a commit, edits the Kustomize overlay of an environment without \
                  losing a byte of formatting, and opens, updates or merges the release pull request.\n\n\
                  As a GitHub Action (GITHUB_ACTIONS=true and no arguments) it reads its inputs from INPUT_*.",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Config file, relative to the workspace [default: .github/gitops.yaml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<String>,
    /// Repository root [default: $GITHUB_WORKSPACE or the current directory]
    #[arg(long, short = 'C', global = true, value_name = "DIR")]
    pub workspace: Option<String>,
    /// Output format: `text` (default), `json`, or for status also `table`, `markdown`
    #[arg(long, global = true, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Walk the same path, change nothing, print what would be done
    #[arg(long, global = true)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the version deployed in every environment, and the drift between them
    Status,
    /// Tell which environments a git ref maps to, and the tag each service gets
    Resolve {
        /// Git ref: `refs/heads/…`, `refs/tags/…`, or a branch name [default: $GITHUB_REF]
        #[arg(long = "ref", value_name = "REF")]
        git_ref: Option<String>,
        /// Commit [default: $GITHUB_SHA, or HEAD]
        #[arg(long)]
        sha: Option<String>,
        /// Only this service
        #[arg(long)]
        service: Option<String>,
    },
    /// Set the image of a service in an environment's overlay
    SetImage {
        #[arg(long)]
        env: String,
        #[arg(long)]
        service: String,
        /// New tag; without --digest a stale digest is removed
        #[arg(long)]
        tag: Option<String>,
        /// Digest to pin, `sha256:…`
        #[arg(long)]
        digest: Option<String>,
    },
    /// Print the CODEOWNERS lines that make each environment's reviewers own its overlay
    Codeowners {
        /// Fail when .github/CODEOWNERS disagrees
        #[arg(long)]
        check: bool,
    },
}

impl Cli {
    /// The same typed inputs the Action gets.
    pub fn into_inputs(self) -> Inputs {
        let mut i = Inputs {
            config: self.global.config,
            workspace: self.global.workspace,
            format: self.global.format,
            dry_run: self.global.dry_run.then(|| "true".into()),
            ..Inputs::default()
        };
        let name = match self.command {
            Command::Status => "status",
            Command::Resolve {
                git_ref,
                sha,
                service,
            } => {
                (i.git_ref, i.sha, i.service) = (git_ref, sha, service);
                "resolve"
            }
            Command::SetImage {
                env,
                service,
                tag,
                digest,
            } => {
                (i.env, i.service, i.tag, i.digest) = (Some(env), Some(service), tag, digest);
                "set-image"
            }
            Command::Codeowners { check } => {
                i.check = check.then(|| "true".into());
                "codeowners"
            }
        };
        i.command = Some(name.into());
        i
    }
}

/// The inputs of this run: from `INPUT_*` when running as an Action step with no
/// arguments, else from the command line (clap prints help and exits on its own).
pub fn inputs() -> Result<Inputs, crate::error::UserError> {
    if crate::action::in_actions() && std::env::args_os().len() <= 1 {
        let mut inputs = Inputs::from_env()?;
        if inputs.command.is_none() {
            inputs.command = Some("status".into());
        }
        return Ok(inputs);
    }
    Ok(Cli::parse().into_inputs())
}
