//! `.github/gitops.yaml`: read, checked against its schema with every problem
//! reported at once (each with `file:line:col`), then validated into a [`Config`].
//!
//! Two passes, because serde can't carry source positions: a span-keeping walk over
//! the YAML tree checks the shape and remembers where each value sits (`schema`),
//! then serde_norway turns the (now known-good) text into the raw types (`raw`),
//! which `validate` turns into a [`Config`]. A new key goes in all three: its shape
//! in `schema`, its field in `raw`, its check and its typed field in `validate` and
//! here.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::environment::RefPatterns;
use crate::error::{Location, UserError};
use crate::tag::Template;
use crate::target::{Target, TargetSpec};

mod paths;
mod raw;
mod schema;
mod validate;

pub use paths::PathMatcher;

pub(crate) use validate::is_reviewer;
pub use validate::{check_image_name, check_name, check_relative_path};

pub const DEFAULT_CONFIG: &str = ".github/gitops.yaml";

/// How a release PR of an environment gets merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MergePolicy {
    /// Merge when mergeable, else enable GitHub auto-merge.
    Auto,
    /// Merge now (with the head-sha guard).
    Immediate,
    /// Leave the PR for reviewers.
    Never,
    /// No PR: push to the base branch (fast-forward only).
    Direct,
}

impl MergePolicy {
    pub fn parse(s: &str) -> Option<MergePolicy> {
        Some(match s {
            "auto" => MergePolicy::Auto,
            "immediate" => MergePolicy::Immediate,
            "never" => MergePolicy::Never,
            "direct" => MergePolicy::Direct,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MergePolicy::Auto => "auto",
            MergePolicy::Immediate => "immediate",
            MergePolicy::Never => "never",
            MergePolicy::Direct => "direct",
        }
    }
}

/// Who may release to an environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    pub users: Vec<String>,
    /// `org/team` slugs.
    pub teams: Vec<String>,
    /// Minimum repository permission: `read`, `triage`, `write`, `maintain` or `admin`.
    pub permission: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    /// Image repository without tag, e.g. `ghcr.io/acme/hello`.
    pub image: String,
    /// Build context relative to the repository root.
    pub context: PathBuf,
    pub dockerfile: String,
    /// Where its version lives, where it says so (it wins over its environment's).
    pub target: TargetSpec,
    /// The stage to build (`--target`); the last one when unset.
    pub build_target: Option<String>,
    /// `ARG` values for the build (`build-args:`); the `build-args` input adds to them.
    pub build_args: Vec<(String, String)>,
    /// The repository its code lives in (`repository:`); `None`: the config's own.
    pub repository: Option<crate::repository::RepoName>,
    /// The globs of the files that make up the service (`paths:`, checked), for
    /// `changed` [default: the context and the Dockerfile].
    pub paths: Vec<String>,
}

impl Service {
    /// A service known only by name and image (found in an overlay, or `*` for
    /// CODEOWNERS): built from the root with the defaults, its version where its
    /// environment says.
    pub(crate) fn bare(name: impl Into<String>, image: impl Into<String>) -> Service {
        Service {
            name: name.into(),
            image: image.into(),
            context: ".".into(),
            dockerfile: String::new(),
            target: Default::default(),
            build_target: None,
            build_args: Vec::new(),
            repository: None,
            paths: paths::default_paths(Path::new("."), ""),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub branches: RefPatterns,
    pub tags: RefPatterns,
    pub tag: Template,
    pub merge: MergePolicy,
    pub reviewers: Vec<String>,
    pub labels: Vec<String>,
    /// Overlay folder relative to the repository root: as written (it may hold
    /// `{service}`), or `<overlays>/<name>`; `Config::target` resolves it.
    pub overlay: PathBuf,
    /// The environment promoted to after this one, if any.
    pub next: Option<String>,
    pub allowed: Option<Access>,
    /// Whether the `merge` input may ask for `direct` (a push to the base with no
    /// pull request). Default: yes, unless the environment has an `allowed:` rule.
    pub allow_direct: bool,
    /// Where a version lives in this environment (`overlay:` as written, `file:`,
    /// `format:`, …); `overlay` above is the folder when nothing names a path.
    pub target: TargetSpec,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from; `None` for the built-in default.
    pub file: Option<PathBuf>,
    /// Repository root: overlay paths are relative to it.
    pub root: PathBuf,
    pub overlays: PathBuf,
    /// `commit-via: api|git` (checked by the schema), the default of the input.
    pub commit_via: Option<String>,
    /// Declared services, in file order. Empty means "any service name", with the
    /// default image.
    pub services: Vec<Service>,
    pub environments: Vec<Environment>,
    /// Owner for default images (`GITHUB_REPOSITORY_OWNER`), lower-cased.
    pub owner: Option<String>,
    /// `trains:`, in file order: services released together, in one PR.
    pub trains: Vec<Train>,
}

/// A release train: services that move through the environments as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Train {
    pub name: String,
    /// Service names, as written (checked: declared, none twice, at least one).
    pub members: Vec<String>,
}

impl Config {
    /// The members of train `name`, in the train's order, restricted to `only`
    /// (the `services:` input: a comma list, or `changed`'s JSON array) when given.
    /// An unknown train, an empty restriction or one naming a non-member is exit 2.
    pub fn train(&self, name: &str, only: Option<&str>) -> Result<Vec<Service>, UserError> {
        let train = self.trains.iter().find(|t| t.name == name).ok_or_else(|| {
            let hint = if self.trains.is_empty() {
                format!(
                    "{} declares no `trains:`; add e.g. `trains: {{ {name}: [api, web] }}`",
                    self.source_name()
                )
            } else {
                format!(
                    "trains in {}: {}",
                    self.source_name(),
                    self.trains
                        .iter()
                        .map(|t| format!("`{}`", t.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let what = if self.services.iter().any(|s| s.name == name) {
                format!("`{name}` is a service, not a train")
            } else {
                format!("unknown train `{name}`")
            };
            UserError::new(what).hint(hint)
        })?;
        let members_hint = || {
            format!(
                "train `{name}` has {}",
                train
                    .members
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let chosen: Vec<&str> =
            match only.map(str::trim).filter(|s| !s.is_empty()) {
                None => train.members.iter().map(String::as_str).collect(),
                Some(list) => {
                    let names =
                        parse_service_list(list).map_err(|m| {
                            UserError::new(format!(
                        "input `services` is `{}`: {m}",
                        crate::session::truncate(list, 80)
                    ))
                    .hint("give a comma list such as `api,web`, or `changed`'s `services` output")
                        })?;
                    if names.is_empty() {
                        return Err(UserError::new("input `services` lists no service").hint(
                            format!("leave it out to move the whole train; {}", members_hint()),
                        ));
                    }
                    for n in &names {
                        if !train.members.iter().any(|m| m == n) {
                            return Err(UserError::new(format!(
                            "input `services` names `{n}`, which is not a member of train `{name}`"
                        ))
                        .hint(members_hint()));
                        }
                    }
                    train
                        .members
                        .iter()
                        .map(String::as_str)
                        .filter(|m| names.iter().any(|n| n == m))
                        .collect()
                }
            };
        chosen.into_iter().map(|m| self.service(m)).collect()
    }

    pub fn environment(&self, name: &str) -> Result<&Environment, UserError> {
        self.environments
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| {
                UserError::new(format!("unknown environment `{name}`")).hint(format!(
                    "environments in {}: {}",
                    self.source_name(),
                    self.environments
                        .iter()
                        .map(|e| format!("`{}`", e.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// The declared service, or — with no `services:` — one with the default image.
    pub fn service(&self, name: &str) -> Result<Service, UserError> {
        if let Some(s) = self.services.iter().find(|s| s.name == name) {
            return Ok(s.clone());
        }
        if !self.services.is_empty() {
            return Err(
                UserError::new(format!("unknown service `{name}`")).hint(format!(
                    "services in {}: {}",
                    self.source_name(),
                    self.services
                        .iter()
                        .map(|s| format!("`{}`", s.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
        check_name(name).map_err(|m| {
            UserError::new(format!("service name `{name}` {m}"))
                .hint("service names are lower case letters, digits and `-`, starting with a letter or digit")
        })?;
        Ok(Service {
            name: name.to_string(),
            image: default_image(self.owner.as_deref(), name)?,
            context: PathBuf::from("."),
            dockerfile: "Dockerfile".into(),
            target: TargetSpec::default(),
            build_target: None,
            build_args: Vec::new(),
            repository: None,
            paths: paths::default_paths(Path::new("."), "Dockerfile"),
        })
    }

    /// Where `service`'s version lives in `env`: the service's settings over the
    /// environment's, templates filled, the path checked to stay in the repository.
    pub fn target(&self, service: &Service, env: &Environment) -> Result<Target, UserError> {
        service.target.over(&env.target).resolve(
            &self.root,
            &env.overlay,
            &service.name,
            &env.name,
            &service.image,
        )
    }

    /// The environment after `name` in the chain.
    pub fn next_of(&self, name: &str) -> Option<&Environment> {
        let i = self.environments.iter().position(|e| e.name == name)?;
        match &self.environments[i].next {
            Some(n) => self.environments.iter().find(|e| &e.name == n),
            None if self.environments[i].has_explicit_end() => None,
            None => self.environments.get(i + 1),
        }
    }

    /// The environment whose `next` is `name` (the default promotion source).
    pub fn previous_of(&self, name: &str) -> Option<&Environment> {
        self.environments
            .iter()
            .find(|e| self.next_of(&e.name).is_some_and(|n| n.name == name))
    }

    fn source_name(&self) -> String {
        match &self.file {
            Some(f) => format!("`{}`", f.display()),
            None => "the built-in default config".into(),
        }
    }
}

impl Environment {
    fn has_explicit_end(&self) -> bool {
        self.next.as_deref() == Some("")
    }
}

fn default_image(owner: Option<&str>, service: &str) -> Result<String, UserError> {
    match owner {
        Some(o) => Ok(format!("ghcr.io/{o}/{service}")),
        None => Err(UserError::new(format!("no image is known for service `{service}`")).hint(
            "set `services.<name>.image` in the config, or `GITHUB_REPOSITORY_OWNER` (set on every GitHub runner)",
        )),
    }
}

/// The owner for default images, from the runner's environment.
pub fn owner_from_env() -> Option<String> {
    let from = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    from("GITHUB_REPOSITORY_OWNER")
        .or_else(|| from("GITHUB_REPOSITORY").and_then(|r| r.split('/').next().map(str::to_string)))
        .map(|o| o.to_ascii_lowercase())
}

/// Load the config at `path` (relative to `root` unless absolute). When the file
/// is absent and `explicit` is false, the built-in default applies.
pub fn load(root: &Path, path: &Path, explicit: bool) -> anyhow::Result<Config> {
    let full = if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    };
    let owner = owner_from_env();
    match crate::fs::read_user_file(root, &full, path)? {
        Some(text) => Ok(parse(root, path, &text, owner)?),
        None if !explicit => Ok(default_config(root, owner)),
        None => Err(UserError::new(format!(
            "config file `{}` does not exist",
            path.display()
        ))
        .hint("create it, or drop `--config` to use the built-in default (dev → uat → prod under `overlays/`)")
        .into()),
    }
}

/// The built-in default: dev → uat → prod under `overlays/`, with the tag schemes
/// of the seed (`dev-<branch>-<sha7>-<ts>`, `tst-…`, `prd-<semver>`).
pub fn default_config(root: &Path, owner: Option<String>) -> Config {
    let env = |name: &str, branches: &[&str], tags: &[&str], tag: &str, merge| Environment {
        name: name.into(),
        branches: RefPatterns::new(branches).expect("built-in patterns are valid"),
        tags: RefPatterns::new(tags).expect("built-in patterns are valid"),
        tag: Template::parse(tag).expect("built-in templates are valid"),
        merge,
        reviewers: vec![],
        labels: vec![],
        overlay: PathBuf::from("overlays").join(name),
        next: None,
        allowed: None,
        allow_direct: true,
        target: TargetSpec::default(),
    };
    Config {
        file: None,
        commit_via: None,
        root: root.to_path_buf(),
        overlays: PathBuf::from("overlays"),
        services: vec![],
        trains: vec![],
        environments: vec![
            env(
                "dev",
                &["**", "!main", "!test/**"],
                &[],
                "dev-{branch}-{sha7}-{timestamp}",
                MergePolicy::Auto,
            ),
            env(
                "uat",
                &["main"],
                &[],
                "tst-{sha7}-{timestamp}",
                MergePolicy::Never,
            ),
            env("prod", &[], &["v*"], "prd-{version}", MergePolicy::Never),
        ],
        owner,
    }
}

/// Parse and validate config text. `path` is used in messages as given.
pub fn parse(
    root: &Path,
    path: &Path,
    text: &str,
    owner: Option<String>,
) -> Result<Config, UserError> {
    let hint = "fix the config, then run `gitops-action status` to check it; the README's config reference lists every key";
    let Some(tree) = schema::read_tree(path, text)? else {
        return Err(
            UserError::at(Location::new(path, 1, 1), "the config file is empty").hint(
                "add an `environments:` list, or delete the file to use the built-in default",
            ),
        );
    };
    let pos = schema::check(path, &tree).map_err(|d| UserError::many(d).hint(hint))?;
    let raw: raw::RawConfig = serde_norway::from_str(text).map_err(|e| {
        let loc = e
            .location()
            .map(|l| Location::new(path, l.line(), l.column()))
            .unwrap_or_else(|| Location::new(path, 1, 1));
        UserError::at(loc, e.to_string()).hint(hint)
    })?;
    validate::validate(root, path, raw, &pos, owner).map_err(|d| UserError::many(d).hint(hint))
}

#[cfg(test)]
mod tests;

/// `api, web` or `["api","web"]` (the `changed` output) as names.
fn parse_service_list(list: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = if list.starts_with('[') {
        serde_json::from_str::<Vec<String>>(list)
            .map_err(|e| format!("not a JSON array of names ({e})"))?
    } else {
        list.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    for n in &names {
        if let Err(m) = validate::check_name(n) {
            return Err(format!("service name `{}` {m}", n.escape_debug()));
        }
    }
    Ok(names)
}
