//! What every command starts from: the workspace and its config, and the inputs
//! every part reads; the commit being released, its version, and the tag variables.

use crate::config::{self, Config, Environment, Service};
use crate::environment::{GitRef, RefMatch, branch_selects, tag_selects};
use crate::error::UserError;
use crate::inputs::Common;
use crate::repository::RepoName;
use crate::tag::{self, TagVars};
use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// Everything a command needs to start: the repository root and the config, and
/// the typed inputs every part under the commands may read (the command's own are
/// in its struct, `crate::inputs::Command`).
pub struct Context {
    pub inputs: Common,
    pub root: PathBuf,
    pub config: Config,
    pub dry_run: bool,
}

impl Context {
    pub fn load(
        workspace: Option<PathBuf>,
        inputs: Common,
        dry_run: bool,
    ) -> anyhow::Result<Context> {
        let root = match workspace {
            Some(w) => w,
            None => match std::env::var_os("GITHUB_WORKSPACE").filter(|w| !w.is_empty()) {
                Some(w) => PathBuf::from(w),
                None => std::env::current_dir().context("reading the current directory")?,
            },
        };
        if !root.is_dir() {
            return Err(UserError::new(format!(
                "workspace `{}` is not a directory",
                root.display()
            ))
            .hint("pass the repository root with `--workspace`, or run from inside it")
            .into());
        }
        let (config_path, explicit) = match &inputs.config {
            Some(c) => (c.clone(), true),
            None => (PathBuf::from(config::DEFAULT_CONFIG), false),
        };
        // With a config repository, the checkout is the code's: its own
        // `.github/gitops.yaml` (if any) is not read at all. The rules come from the
        // config repository's default branch (`session::rules_from_base`).
        let config = if config_elsewhere(&inputs) {
            config::default_config(&root, config::owner_from_env())
        } else {
            config::load(&root, &config_path, explicit)?
        };
        Ok(Context {
            inputs,
            root,
            config,
            dry_run,
        })
    }

    /// The repository of the config and manifests: `config-repository`, else the
    /// run's own (`GITHUB_REPOSITORY`).
    pub(crate) fn config_repo(&self) -> Option<RepoName> {
        self.inputs
            .config_repository
            .clone()
            .or_else(RepoName::of_run)
    }

    /// Whether the config lives in another repository than the run's: the run is
    /// in a code repository releasing into a config repository.
    pub(crate) fn config_elsewhere(&self) -> bool {
        config_elsewhere(&self.inputs)
    }

    /// The repository `service`'s code lives in: its `repository:`, else the
    /// config's own.
    pub(crate) fn source_repo(&self, service: &Service) -> Option<RepoName> {
        service.repository.clone().or_else(|| self.config_repo())
    }

    /// The repo-relative path as users see it in messages.
    pub(crate) fn rel(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// `config-repository` names another repository than the run's.
fn config_elsewhere(inputs: &Common) -> bool {
    match (&inputs.config_repository, RepoName::of_run()) {
        (Some(c), Some(run)) => *c != run,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// The commit a command works on, and its committer time.
#[derive(Debug, Clone)]
pub struct Commit {
    pub sha: String,
    pub timestamp: i64,
}

/// Resolve `sha` (default `GITHUB_SHA`, then HEAD) in the workspace repository.
/// `SOURCE_DATE_EPOCH` overrides the timestamp, and lets a commit that isn't in
/// the local clone be used.
pub fn commit_of(root: &Path, sha: Option<&str>) -> anyhow::Result<Commit> {
    let sha = sha
        .map(str::to_string)
        .or_else(|| std::env::var("GITHUB_SHA").ok().filter(|s| !s.is_empty()));
    let epoch = match std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .filter(|s| !s.is_empty())
    {
        Some(v) => Some(v.parse::<i64>().map_err(|_| {
            UserError::new(format!(
                "`SOURCE_DATE_EPOCH` is `{v}`, not a number of seconds"
            ))
            .hint("set it to a Unix timestamp, e.g. `$(git log -1 --format=%ct)`, or unset it")
        })?),
        None => None,
    };
    let repo = crate::git::open_foreign_owned(root).ok();
    let found = repo.as_ref().and_then(|r| {
        let obj = r.revparse_single(sha.as_deref().unwrap_or("HEAD")).ok()?;
        obj.peel_to_commit().ok()
    });
    match (found, sha, epoch) {
        (Some(c), _, epoch) => Ok(Commit { sha: c.id().to_string(), timestamp: epoch.unwrap_or(c.committer().when().seconds()) }),
        (None, Some(sha), Some(epoch)) if is_full_sha(&sha) => Ok(Commit { sha: sha.to_ascii_lowercase(), timestamp: epoch }),
        (None, Some(sha), _) if !is_full_sha(&sha) && repo.is_none() => Err(UserError::new(format!("`{sha}` is not a full 40-character commit sha"))
            .hint("pass the full sha (`git rev-parse HEAD`)")
            .into()),
        (None, Some(sha), _) => Err(UserError::new(format!("commit `{sha}` is not in the workspace repository"))
            .hint("check out the commit (actions/checkout), or set `SOURCE_DATE_EPOCH` to its committer time and pass the full sha")
            .into()),
        (None, None, _) => Err(UserError::new("no commit given and the workspace is not a git repository")
            .hint("pass `--sha` (and `SOURCE_DATE_EPOCH`), or run inside a checkout")
            .into()),
    }
}

fn is_full_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Which environments a ref selects, with the deciding pattern.
pub fn environments_for<'c>(config: &'c Config, r: &GitRef) -> Vec<(&'c Environment, String)> {
    config
        .environments
        .iter()
        .filter_map(|e| {
            let m = match r {
                GitRef::Branch(b) => branch_selects(&e.branches, b),
                GitRef::Tag(t) => tag_selects(&e.tags, t),
                GitRef::Other(_) => RefMatch::NotSelected,
            };
            match m {
                RefMatch::Selected(p) => Some((e, p)),
                RefMatch::NotSelected => None,
            }
        })
        .collect()
}

/// The tag variables for a commit released to `env` from `r`; `version` is the
/// `version` input, SemVer already (`crate::inputs`).
pub fn tag_vars(
    env: &Environment,
    r: Option<&GitRef>,
    commit: &Commit,
    version: Option<&str>,
) -> TagVars {
    let version = match version {
        Some(v) => Some(v.to_string()),
        None => match r {
            Some(GitRef::Tag(t)) => tag::parse_semver_tag(t).map(|v| v.to_string()),
            _ => None,
        },
    };
    let branch = match r {
        Some(GitRef::Branch(b)) => Some(b.clone()),
        _ => None,
    };
    TagVars {
        env: env.name.clone(),
        branch,
        sha: commit.sha.clone(),
        timestamp: commit.timestamp,
        version,
    }
}

/// The highest SemVer tag pointing at `sha` in the workspace repository.
pub(crate) fn version_of_commit(root: &Path, sha: &str) -> Option<String> {
    let repo = crate::git::open_foreign_owned(root).ok()?;
    let oid = git2::Oid::from_str(sha).ok()?;
    let mut best: Option<semver::Version> = None;
    repo.tag_foreach(|id, name| {
        let name = String::from_utf8_lossy(name);
        let name = name.trim_start_matches("refs/tags/");
        let target = repo
            .find_object(id, None)
            .and_then(|o| o.peel_to_commit())
            .map(|c| c.id());
        if target.ok() == Some(oid)
            && let Some(v) = tag::parse_semver_tag(name)
            && best.as_ref().is_none_or(|b| v > *b)
        {
            best = Some(v);
        }
        true
    })
    .ok()?;
    best.map(|v| v.to_string())
}
