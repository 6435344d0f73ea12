//! The command to run, with its own typed inputs: one struct per command, parsed
//! from the raw [`Inputs`] once, before anything is read or written.

use super::raw::Inputs;
use super::shared::{RegistryInputs, SessionInputs};
use super::value::{self, BuildMode, Format, required};
use crate::environment::GitRef;
use crate::error::UserError;
use crate::registry::Reference;

/// The command, each with the inputs it reads. Nothing else is read by it.
pub enum Command {
    Status(Status),
    Resolve(Resolve),
    SetImage(SetImage),
    Codeowners(Codeowners),
    Changed(Changed),
    Retag(Retag),
    Release(Release),
    Promote(Promote),
    Deploy(Deploy),
    Rollback(Rollback),
}

/// The `command` input's values, in the order the help lists them.
pub const COMMANDS: [&str; 10] = [
    "status",
    "resolve",
    "set-image",
    "codeowners",
    "changed",
    "retag",
    "release",
    "promote",
    "deploy",
    "rollback",
];

impl Command {
    /// The command `i.command` names (`status` when unset), with its inputs checked.
    pub(super) fn parse(i: &Inputs) -> Result<Command, UserError> {
        let name = i.command.as_deref().unwrap_or("status");
        Ok(match name {
            "status" => Command::Status(Status {
                format: Format::parse(
                    i.format.as_deref(),
                    &[Format::Text, Format::Table, Format::Json, Format::Markdown],
                )?,
            }),
            "resolve" => Command::Resolve(Resolve::parse(i)?),
            "set-image" => Command::SetImage(SetImage::parse(i)?),
            "codeowners" => Command::Codeowners(Codeowners {
                check: value::flag(&i.check, "check")?,
            }),
            "changed" => Command::Changed(Changed {
                from: i.from.clone(),
                to: i.to.clone(),
                format: Format::parse(i.format.as_deref(), &[Format::Text, Format::Json])?,
            }),
            "retag" => Command::Retag(Retag::parse(i)?),
            "release" => Command::Release(Release::parse(i)?),
            "promote" => Command::Promote(Promote::parse(i)?),
            "deploy" => Command::Deploy(Deploy::parse(i)?),
            "rollback" => Command::Rollback(Rollback::parse(i)?),
            other => {
                return Err(
                    UserError::new(format!("unknown command `{other}`")).hint(format!(
                        "the `command` input is one of {}",
                        COMMANDS.map(|k| format!("`{k}`")).join(", ")
                    )),
                );
            }
        })
    }

    /// The command's name, as `command:` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Status(_) => "status",
            Command::Resolve(_) => "resolve",
            Command::SetImage(_) => "set-image",
            Command::Codeowners(_) => "codeowners",
            Command::Retag(_) => "retag",
            Command::Release(_) => "release",
            Command::Promote(_) => "promote",
            Command::Deploy(_) => "deploy",
            Command::Rollback(_) => "rollback",
            Command::Changed(_) => "changed",
        }
    }

    /// Does it move a service (registry, git, GitHub)? Its rules come from the base.
    pub fn moves(&self) -> bool {
        matches!(
            self,
            Command::Release(_) | Command::Promote(_) | Command::Deploy(_) | Command::Rollback(_)
        )
    }
}

/// `ref` and `sha`: the commit to work on, and the ref that selects environments.
pub struct RefInputs {
    /// The `ref` input (a branch, a tag, or a sha), checked: whose commit it is.
    pub git_ref: Option<String>,
    pub sha: Option<String>,
    /// The `ref` input, else `GITHUB_REF`, as given and parsed: what selects the
    /// environment.
    pub selector: Option<(String, GitRef)>,
}

impl RefInputs {
    fn parse(i: &Inputs) -> Result<RefInputs, UserError> {
        let name = i
            .git_ref
            .clone()
            .or_else(|| std::env::var("GITHUB_REF").ok().filter(|s| !s.is_empty()));
        let selector = match name {
            Some(n) => {
                let parsed = GitRef::parse_input(&n)?;
                Some((n, parsed))
            }
            None => None,
        };
        Ok(RefInputs {
            git_ref: i.git_ref.clone(),
            sha: i.sha.clone(),
            selector,
        })
    }
}

/// `status`: the deployed versions and their drift.
pub struct Status {
    pub format: Format,
}

/// `resolve`: the environments a ref selects, and the tags.
pub struct Resolve {
    pub format: Format,
    pub refs: RefInputs,
    /// The ref to resolve (`ref`, else `GITHUB_REF`).
    pub ref_name: String,
    pub git_ref: GitRef,
    /// Only this service.
    pub service: Option<String>,
    pub version: Option<String>,
}

impl Resolve {
    fn parse(i: &Inputs) -> Result<Resolve, UserError> {
        let format = Format::parse(i.format.as_deref(), &[Format::Text, Format::Json])?;
        let refs = RefInputs::parse(i)?;
        let (ref_name, git_ref) = refs.selector.clone().ok_or_else(|| {
            UserError::new("no ref to resolve")
                .hint("pass `--ref refs/heads/<branch>` or `--ref refs/tags/<tag>`")
        })?;
        Ok(Resolve {
            format,
            refs,
            ref_name,
            git_ref,
            service: i.service.clone(),
            version: value::version(&i.version)?,
        })
    }
}

/// `set-image`: one overlay entry, in the workspace.
pub struct SetImage {
    pub env: String,
    pub service: String,
    /// At least one of the two.
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl SetImage {
    fn parse(i: &Inputs) -> Result<SetImage, UserError> {
        let env = required(&i.env, "env", "set-image")?;
        let service = required(&i.service, "service", "set-image")?;
        if i.tag.is_none() && i.digest.is_none() {
            return Err(
                UserError::new("`set-image` needs `--tag`, `--digest` or both")
                    .hint("e.g. `--tag v1.2.3 --digest sha256:…`"),
            );
        }
        Ok(SetImage {
            env,
            service,
            tag: i.tag.clone(),
            digest: i.digest.clone(),
        })
    }
}

/// `changed`: the services a change touched.
pub struct Changed {
    /// The commit (or branch) the change starts from [default: from the event].
    pub from: Option<String>,
    /// Where it ends [default: from the event, else `GITHUB_SHA`, else HEAD].
    pub to: Option<String>,
    pub format: Format,
}

/// `codeowners`: print the lines, or check them.
pub struct Codeowners {
    pub check: bool,
}

/// `retag SRC DST`: both valid references, the target with a tag.
pub struct Retag {
    /// As given, for messages; and parsed.
    pub source: (String, Reference),
    pub target: (String, Reference),
    /// The target's tag.
    pub tag: String,
    pub registry: RegistryInputs,
}

impl Retag {
    fn parse(i: &Inputs) -> Result<Retag, UserError> {
        let src = required(&i.source, "source", "retag")?;
        let dst = required(&i.target, "target", "retag")?;
        let (source, target) = (Reference::parse(&src)?, Reference::parse(&dst)?);
        let tag = target.tag.clone().ok_or_else(|| {
            UserError::new(format!("`{dst}` has no tag to set"))
                .hint("name the destination with a tag, e.g. `ghcr.io/acme/hello:uat`")
        })?;
        Ok(Retag {
            source: (src, source),
            target: (dst, target),
            tag,
            registry: RegistryInputs::parse(i)?,
        })
    }
}

/// Who a moving command moves: a service, or a release train.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// The `service` input. It may name a train too: a merged
    /// `release/<train>/<env>` PR's event fills `service` with the train's name,
    /// and trains share the services' namespace.
    Service(String),
    /// The `train` input, with `services` (a comma list, or `changed`'s JSON
    /// array) restricting it to some members.
    Train { name: String, only: Option<String> },
}

impl Who {
    /// `service` or `train` (not both); `services` only with `train`. `None`
    /// when neither is given.
    pub fn parse(i: &Inputs) -> Result<Option<Who>, UserError> {
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        match (nonempty(&i.service), nonempty(&i.train), nonempty(&i.services)) {
            (Some(s), Some(t), _) => Err(UserError::new(format!(
                "both `service` (`{s}`) and `train` (`{t}`) are set"
            ))
            .hint("a run moves one service or one train: drop one of them (`services` picks members of a train)")),
            (_, None, Some(_)) => Err(UserError::new("`services` is set without `train`")
                .hint("`services` restricts a train to some of its members: pass `train` too, or run one job per service (`service`)")),
            (Some(s), None, None) => Ok(Some(Who::Service(s))),
            (None, Some(name), only) => Ok(Some(Who::Train { name, only })),
            (None, None, _) => Ok(None),
        }
    }

    fn required(i: &Inputs, command: &str) -> Result<Who, UserError> {
        Who::parse(i)?.ok_or_else(|| {
            UserError::new(format!(
                "`service` (or `train`) is required for `{command}`"
            ))
            .hint(
                "pass `--service …` or `--train …` (or the `service`/`train` input of the action)",
            )
        })
    }
}

/// `release`: the commit's image, set in its environment, through the PR.
pub struct Release {
    /// [default: the config's only service]
    pub who: Option<Who>,
    /// [default: the one the ref selects]
    pub env: Option<String>,
    pub refs: RefInputs,
    pub build: BuildMode,
    pub build_opts: BuildInputs,
    pub session: SessionInputs,
}

/// What a build takes besides the config: `build-args`, `build-secrets`,
/// `build-network`.
#[derive(Debug, Clone, Default)]
pub struct BuildInputs {
    pub args: Vec<(String, String)>,
    pub secrets: crate::build::BuildSecrets,
    pub network: crate::build::Network,
}

impl BuildInputs {
    fn parse(i: &Inputs) -> Result<BuildInputs, UserError> {
        let args = value::key_values(i.build_args.as_deref(), "build-args", false)?;
        let secrets = value::key_values(i.build_secrets.as_deref(), "build-secrets", true)?;
        let network = match i.build_network.as_deref().map(str::trim) {
            None => crate::build::Network::Default,
            Some(v) => crate::build::Network::parse(v).ok_or_else(|| {
                UserError::new(format!("input `build-network` is `{v}`")).hint(
                    "use `default`, `host` or `none`, as docker/build-push-action's `network`",
                )
            })?,
        };
        Ok(BuildInputs {
            args,
            secrets: crate::build::BuildSecrets(secrets),
            network,
        })
    }
}

impl Release {
    fn parse(i: &Inputs) -> Result<Release, UserError> {
        Ok(Release {
            who: Who::parse(i)?,
            env: i.env.clone(),
            refs: RefInputs::parse(i)?,
            build: BuildMode::parse(i.build.as_deref())?,
            build_opts: BuildInputs::parse(i)?,
            session: SessionInputs::parse(i)?,
        })
    }
}

/// `promote`: the version one environment runs, to the next.
pub struct Promote {
    pub who: Who,
    /// `to`, else `env`.
    pub to: String,
    /// [default: the previous environment of the chain]
    pub from: Option<String>,
    pub session: SessionInputs,
}

impl Promote {
    fn parse(i: &Inputs) -> Result<Promote, UserError> {
        let who = Who::required(i, "promote")?;
        let to = i.to.clone().or_else(|| i.env.clone()).ok_or_else(|| {
            UserError::new("`promote` needs the target environment")
                .hint("pass `--to uat` (or the `to` input)")
        })?;
        if i.from.as_deref() == Some(to.as_str()) {
            return Err(UserError::new(format!("`promote` from `{to}` to itself changes nothing"))
                .hint("name another source with `--from`, or leave it out to take the previous environment of the chain"));
        }
        Ok(Promote {
            who,
            to,
            from: i.from.clone(),
            session: SessionInputs::parse(i)?,
        })
    }
}

/// `deploy`: record a merged change, run the health gate, promote on.
pub struct Deploy {
    pub who: Who,
    pub env: String,
    /// The merge commit [default: `GITHUB_SHA`, or HEAD].
    pub sha: Option<String>,
    pub session: SessionInputs,
}

impl Deploy {
    fn parse(i: &Inputs) -> Result<Deploy, UserError> {
        Ok(Deploy {
            who: Who::required(i, "deploy")?,
            env: required(&i.env, "env", "deploy")?,
            sha: i.sha.clone(),
            session: SessionInputs::parse(i)?,
        })
    }
}

/// The version a rollback goes back to.
pub enum RollbackTo {
    /// `to` (or `tag`): this tag.
    Tag(String),
    /// `steps`: this many versions back in the overlay's history (≥ 1).
    Steps(usize),
}

/// `rollback`: an earlier version, through a PR labelled `rollback`.
pub struct Rollback {
    pub who: Who,
    pub env: String,
    pub to: RollbackTo,
    pub session: SessionInputs,
}

impl Rollback {
    fn parse(i: &Inputs) -> Result<Rollback, UserError> {
        let who = Who::required(i, "rollback")?;
        let env = required(&i.env, "env", "rollback")?;
        let to = match (i.tag.as_ref().or(i.to.as_ref()), i.steps.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(
                    UserError::new("`rollback` takes `--to` or `--steps`, not both")
                        .hint("`--to TAG` names the version; `--steps N` goes N versions back"),
                );
            }
            (Some(t), None) if !crate::grammar::is_tag(t) => {
                return Err(UserError::new(format!(
                    "`{t}` is not a valid tag: tags are `[A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}`"
                ))
                .hint("use a tag the environment's template made (see `gitops-action status`), e.g. `dev-main-0123abc-1700000000`"));
            }
            (Some(t), None) => RollbackTo::Tag(t.clone()),
            (None, Some(s)) => {
                RollbackTo::Steps(s.trim().parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    UserError::new(format!("input `steps` is `{s}`, not a whole number ≥ 1"))
                        .hint("`--steps 1` goes back to the version before the current one")
                })?)
            }
            (None, None) => {
                return Err(UserError::new("`rollback` needs `--to TAG` or `--steps N`")
                    .hint("e.g. `gitops-action rollback --service hello --env prod --steps 1`"));
            }
        };
        Ok(Rollback {
            who,
            env,
            to,
            session: SessionInputs::parse(i)?,
        })
    }
}
