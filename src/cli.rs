//! The command line. Every flag lands in the same raw [`Inputs`] the Action reads
//! from `INPUT_*`, so both paths are checked and typed by the same code
//! (`crate::inputs::parse`).

use clap::{Args, Parser, Subcommand};

use crate::inputs::Inputs;

#[derive(Debug, Parser)]
#[command(
    name = "gitops-action",
    version,
    about = "Move a service through environments the GitOps way",
    long_about = "Finds or builds the image of a commit, edits where its version lives in an environment (a Kustomize \
                  overlay, Helm values, a YAML field or Flux setter markers) without losing a byte of formatting, and opens, updates or merges the release pull request.\n\n\
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
    /// Set the image of a service where its version lives in an environment
    SetImage {
        #[arg(long)]
        env: String,
        #[arg(long)]
        service: String,
        /// New tag; without --digest a stale digest is removed
        #[arg(long)]
        tag: Option<String>,
        /// Digest to pin, `sha256:…`; without --tag a stale tag is removed
        #[arg(long)]
        digest: Option<String>,
    },
    /// Print the CODEOWNERS lines that make each environment's reviewers own its targets
    Codeowners {
        /// Fail when .github/CODEOWNERS disagrees
        #[arg(long)]
        check: bool,
    },
    /// List the services whose `paths:` a change touched, as a JSON array for a matrix
    Changed {
        /// Where the change starts: a sha, branch or tag [default: from the event]
        #[arg(long)]
        from: Option<String>,
        /// Where it ends [default: from the event, else $GITHUB_SHA, else HEAD]
        #[arg(long)]
        to: Option<String>,
        /// Base branch whose rules apply [default: the repository's default branch]
        #[arg(long)]
        base: Option<String>,
        /// GitHub token, to compare on a shallow checkout [default: $GITHUB_TOKEN]
        #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Give DST the manifest of SRC, byte for byte (same digest), like `crane tag`
    Retag {
        /// Source: `host/name:tag` or `host/name@sha256:…`
        source: String,
        /// Destination: `host/name:tag` (another repository or registry is fine)
        target: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Make sure the commit's image exists (retag or build), set the overlay, open and merge the PR
    Release {
        /// [default: the config's only service]
        #[arg(long)]
        service: Option<String>,
        /// Environment [default: the one the ref selects]
        #[arg(long)]
        env: Option<String>,
        /// Git ref to resolve the environment from [default: $GITHUB_REF]
        #[arg(long = "ref", value_name = "REF")]
        git_ref: Option<String>,
        /// Commit [default: $GITHUB_SHA, or HEAD]
        #[arg(long)]
        sha: Option<String>,
        /// SemVer for `{version}` templates when the ref is not a version tag
        #[arg(long)]
        version: Option<String>,
        /// `auto` (retag an existing build, else build), `always` or `never`
        #[arg(long)]
        build: Option<String>,
        /// A build argument, `KEY=value` (repeatable; after the config's `build-args`)
        #[arg(long = "build-arg", value_name = "KEY=VALUE")]
        build_args: Vec<String>,
        /// Build secrets for `RUN --mount=type=secret`, `id=value` lines; from the
        /// environment, so no value shows in the process list (BuildKit only)
        #[arg(
            long = "build-secrets",
            env = "BUILD_SECRETS",
            hide_env_values = true,
            hide = true
        )]
        build_secrets: Option<String>,
        /// The network of `RUN` steps: `default`, `host` or `none`
        #[arg(long = "build-network")]
        build_network: Option<String>,
        #[command(flatten)]
        change: ChangeArgs,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Copy the version deployed in one environment to the next one, through its PR
    Promote {
        #[arg(long, required_unless_present = "train")]
        service: Option<String>,
        /// Target environment
        #[arg(long)]
        to: String,
        /// Source environment [default: the previous one in the chain]
        #[arg(long)]
        from: Option<String>,
        /// SemVer for `{version}` templates when the commit has no version tag
        #[arg(long)]
        version: Option<String>,
        #[command(flatten)]
        change: ChangeArgs,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// After a release PR merged: check the image, record the deployment, run the health gate, promote on
    Deploy {
        /// [default: from the merged `release/<service>/<env>` PR of the event]
        #[arg(long)]
        service: Option<String>,
        #[arg(long)]
        env: Option<String>,
        /// The merge commit [default: $GITHUB_SHA, or HEAD]
        #[arg(long)]
        sha: Option<String>,
        /// Poll this URL until it answers 2xx
        #[arg(long)]
        verify_url: Option<String>,
        /// ... and until the body contains this text
        #[arg(long)]
        verify_contains: Option<String>,
        /// How long the health gate may take: `300`, `90s`, `5m` [default: 300]
        #[arg(long)]
        verify_timeout: Option<String>,
        #[command(flatten)]
        change: ChangeArgs,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Set an environment back to an earlier version, through a PR labelled `rollback`
    Rollback {
        #[arg(long, required_unless_present = "train")]
        service: Option<String>,
        #[arg(long)]
        env: String,
        /// The tag to go back to
        #[arg(long = "to", value_name = "TAG", conflicts_with = "steps")]
        tag: Option<String>,
        /// How many versions back, from the target file's git history
        #[arg(long)]
        steps: Option<String>,
        #[command(flatten)]
        change: ChangeArgs,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

/// How a change reaches the base branch. A flag here fills its raw input in
/// [`ChangeArgs::fill`]; the input is declared and parsed in `crate::inputs`.
#[derive(Args, Default)]
pub struct ChangeArgs {
    /// Move this release train (`trains:` in the config) as one, instead of a service
    #[arg(long, conflicts_with = "service")]
    pub train: Option<String>,
    /// With `--train`: only these members, a comma list or `changed`'s JSON array
    #[arg(long, requires = "train")]
    pub services: Option<String>,
    /// `auto`, `immediate`, `never` or `direct` [default: the environment's `merge`]
    #[arg(long)]
    pub merge: Option<String>,
    /// `squash` (default), `merge` or `rebase`
    #[arg(long)]
    pub merge_method: Option<String>,
    /// Base branch [default: the repository's default branch]
    #[arg(long)]
    pub base: Option<String>,
    /// Extra reviewers, comma-separated (`user`, `org/team`)
    #[arg(long)]
    pub reviewers: Option<String>,
    /// Extra labels, comma-separated
    #[arg(long)]
    pub labels: Option<String>,
    /// Open the PR as a draft
    #[arg(long)]
    pub draft: bool,
    /// Workflow file to dispatch after a merge the tool made (e.g. `overlay-deploy.yaml`)
    #[arg(long)]
    pub deploy_workflow: Option<String>,
    /// After a merge the tool made: `auto`, `dispatch`, `inline` or `none`
    #[arg(long)]
    pub chain: Option<String>,
    /// How commits are made: `api` (GitHub signs them; the default on GitHub) or
    /// `git` (a push; needed for `--author`/`--committer`)
    #[arg(long)]
    pub commit_via: Option<String>,
    /// Commit author, `Name <email>` (needs `--commit-via git`) [default: github-actions[bot]]
    #[arg(long)]
    pub author: Option<String>,
    /// Committer, `Name <email>` [default: the author]
    #[arg(long)]
    pub committer: Option<String>,
    /// Commit message template: `{service} {env} {old} {new} {digest} {kind}`
    #[arg(long)]
    pub message: Option<String>,
    /// GitHub token [default: $GITHUB_TOKEN]
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The repository holding the config and manifests, `owner/name`, when it is not
    /// this one: its default branch's `.github/gitops.yaml` is read, and the release
    /// PR opens there
    #[arg(long)]
    pub config_repository: Option<String>,
    /// Token that reads the code's repository from the config repository's side
    /// (tags, commits, deployments) [default: the token]
    #[arg(long, env = "GITOPS_SOURCE_TOKEN", hide_env_values = true)]
    pub source_token: Option<String>,
}

/// How to log in to registries.
#[derive(Args, Default)]
pub struct RegistryArgs {
    #[arg(long, env = "REGISTRY_USERNAME")]
    pub registry_username: Option<String>,
    #[arg(long, env = "REGISTRY_PASSWORD", hide_env_values = true)]
    pub registry_password: Option<String>,
    /// Hosts besides loopback spoken to over plain HTTP, comma-separated
    #[arg(long)]
    pub insecure_registries: Option<String>,
}

// No `{:?}` shows a secret.
impl std::fmt::Debug for ChangeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeArgs")
            .field("merge", &self.merge)
            .field("base", &self.base)
            .field("token", &crate::secrets::hidden(&self.token))
            .field("config_repository", &self.config_repository)
            .field("source_token", &crate::secrets::hidden(&self.source_token))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RegistryArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryArgs")
            .field("registry_username", &self.registry_username)
            .field(
                "registry_password",
                &crate::secrets::hidden(&self.registry_password),
            )
            .field("insecure_registries", &self.insecure_registries)
            .finish()
    }
}

impl ChangeArgs {
    fn fill(self, i: &mut Inputs) {
        (i.train, i.services) = (self.train, self.services);
        i.merge = self.merge;
        i.merge_method = self.merge_method;
        i.base = self.base;
        i.reviewers = self.reviewers;
        i.labels = self.labels;
        i.draft = self.draft.then(|| "true".into());
        i.deploy_workflow = self.deploy_workflow;
        i.chain = self.chain;
        i.commit_via = self.commit_via;
        i.author = self.author;
        i.committer = self.committer;
        i.message = self.message;
        i.token = self.token;
        i.config_repository = self.config_repository;
        i.source_token = self.source_token;
    }
}

impl RegistryArgs {
    fn fill(self, i: &mut Inputs) {
        i.registry_username = self.registry_username;
        i.registry_password = self.registry_password;
        i.insecure_registries = self.insecure_registries;
    }
}

impl Cli {
    /// The same raw inputs the Action gets.
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
            Command::Changed {
                from,
                to,
                base,
                token,
            } => {
                (i.from, i.to, i.base, i.token) = (from, to, base, token);
                "changed"
            }
            Command::Retag {
                source,
                target,
                registry,
            } => {
                (i.source, i.target) = (Some(source), Some(target));
                registry.fill(&mut i);
                "retag"
            }
            Command::Release {
                service,
                env,
                git_ref,
                sha,
                version,
                build,
                build_args,
                build_secrets,
                build_network,
                change,
                registry,
            } => {
                (i.service, i.env, i.git_ref, i.sha) = (service, env, git_ref, sha);
                (i.version, i.build) = (version, build);
                i.build_args = (!build_args.is_empty()).then(|| build_args.join("\n"));
                (i.build_secrets, i.build_network) = (build_secrets, build_network);
                change.fill(&mut i);
                registry.fill(&mut i);
                "release"
            }
            Command::Promote {
                service,
                to,
                from,
                version,
                change,
                registry,
            } => {
                (i.service, i.to, i.from, i.version) = (service, Some(to), from, version);
                change.fill(&mut i);
                registry.fill(&mut i);
                "promote"
            }
            Command::Deploy {
                service,
                env,
                sha,
                verify_url,
                verify_contains,
                verify_timeout,
                change,
                registry,
            } => {
                (i.service, i.env, i.sha) = (service, env, sha);
                (i.verify_url, i.verify_contains, i.verify_timeout) =
                    (verify_url, verify_contains, verify_timeout);
                change.fill(&mut i);
                registry.fill(&mut i);
                "deploy"
            }
            Command::Rollback {
                service,
                env,
                tag,
                steps,
                change,
                registry,
            } => {
                (i.service, i.env, i.tag, i.steps) = (service, Some(env), tag, steps);
                change.fill(&mut i);
                registry.fill(&mut i);
                "rollback"
            }
        };
        i.command = Some(name.into());
        i
    }
}

/// The inputs of this run: from `INPUT_*` when running as an Action step with no
/// arguments, else from the command line (clap prints help and exits on its own).
pub fn inputs() -> Result<Inputs, crate::error::UserError> {
    if crate::output::in_actions() && std::env::args_os().len() <= 1 {
        let mut inputs = Inputs::from_env()?;
        if inputs.command.is_none() {
            inputs.command = Some("status".into());
        }
        return Ok(inputs);
    }
    match Cli::try_parse() {
        Ok(cli) => Ok(cli.into_inputs()),
        // `--help`, `--version` and clap's own errors print and exit here: drain
        // the Action-mode output filter first, or what they print is lost.
        Err(e) => {
            let _ = e.print();
            crate::output::finish();
            std::process::exit(e.exit_code());
        }
    }
}
