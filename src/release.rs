//! The commands that move a service: `release`, `promote`, `deploy`, `rollback`
//! and `retag`. Each composes the registry (make sure the image exists), the overlay
//! editor (set tag and digest), git (one leased commit on `release/<service>/<env>`)
//! and GitHub (the PR, its merge policy, deployments), and checks access first.
//!
//! `--dry-run` walks the same path with every read done for real (registry HEADs,
//! the overlay at hand) and prints each write instead of doing it.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;

use crate::action::{self, Inputs, Outputs};
use crate::build::{self, BuildRequest};
use crate::commands::{self, Commit, Context};
use crate::config::{Environment, MergePolicy as ConfigPolicy, Service};
use crate::environment::GitRef;
use crate::error::{Failure, UserError};
use crate::git::{self, GitOptions, Identity, Publish, Target, Workspace};
use crate::github::{
    self, GitHub, GitHubOptions, MergeMethod, MergePolicy, PrBody, PrContent, Release,
    ReleaseOutcome,
};
use crate::overlay::{self, ImageEntry, SetImage};
use crate::registry::{self, Registry, RegistryOptions};
use crate::tag::{self, TagVars};

/// Default commit message (and the template's placeholders).
const MESSAGE: &str = "{service}: {env} {old} → {new}";

// ---------------------------------------------------------------------------
// retag

pub async fn retag(cx: &Context) -> anyhow::Result<Outputs> {
    let src = cx.required(&cx.inputs.source, "source")?;
    let dst = cx.required(&cx.inputs.target, "target")?;
    let reg = Registry::new(registry_options(&cx.inputs));
    let mut out = Outputs::default();
    if cx.dry_run {
        let s = registry::Reference::parse(src)?;
        let d = registry::Reference::parse(dst)?;
        let tag = d.tag.clone().ok_or_else(|| {
            UserError::new(format!("`{dst}` has no tag to set"))
                .hint("name the destination with a tag, e.g. `ghcr.io/acme/hello:uat`")
        })?;
        let want = match &s.digest {
            Some(dg) => Some(dg.clone()),
            None => {
                reg.digest_of(&s.name(), s.tag.as_deref().unwrap_or("latest"))
                    .await?
            }
        };
        let want = want.ok_or_else(|| Failure::new(format!("there is no image `{src}`")))?;
        let have = reg.digest_of(&d.name(), &tag).await?;
        if have.as_deref() == Some(want.as_str()) {
            println!("`{dst}` is already `{want}`; nothing to write");
        } else {
            println!("dry run: would retag `{src}` as `{dst}` ({want})");
        }
        out.set("digest", &want);
        return Ok(out);
    }
    let r = reg.retag(src, dst).await?;
    if r.written {
        println!("retagged `{src}` as `{dst}` ({})", r.digest);
    } else {
        println!("`{dst}` is already `{}`; nothing written", r.digest);
    }
    eprintln!("registry: {} requests", reg.request_count());
    out.set("digest", &r.digest);
    out.set("changed", r.written);
    Ok(out)
}

// ---------------------------------------------------------------------------
// release

pub async fn release(cx: &Context) -> anyhow::Result<Outputs> {
    let service = the_service(cx)?;
    build_mode(cx)?;
    let git_ref = cx
        .inputs
        .git_ref
        .clone()
        .or_else(|| env_var("GITHUB_REF"))
        .map(|r| GitRef::parse_input(&r))
        .transpose()?;
    let env = match cx.inputs.env.as_deref() {
        Some(e) => cx.config.environment(e)?,
        None => {
            let r = git_ref.as_ref().ok_or_else(|| {
                UserError::new("`release` needs `env` or a git `ref` to resolve it from")
                    .hint("pass `--env dev`, or `--ref refs/heads/main` (in Actions the push sets `GITHUB_REF`)")
            })?;
            let found = commands::environments_for(&cx.config, r);
            match found.as_slice() {
                [] => {
                    let msg = format!(
                        "{} `{}` deploys to no environment; nothing to release",
                        r.kind(),
                        r.name()
                    );
                    action::notice(&msg);
                    println!("{msg}");
                    let mut out = Outputs::default();
                    out.set("changed", false);
                    return Ok(out);
                }
                [(e, _)] => *e,
                many => {
                    let names: Vec<String> = many
                        .iter()
                        .map(|(e, p)| format!("`{}` ({p})", e.name))
                        .collect();
                    return Err(UserError::new(format!(
                        "{} `{}` selects several environments: {}",
                        r.kind(),
                        r.name(),
                        names.join(", ")
                    ))
                    .hint("pass `--env` to choose one, or make the `branches`/`tags` patterns disjoint")
                    .into());
                }
            }
        }
    };
    let commit = commands::commit_of(&cx.root, cx.inputs.sha.as_deref())?;
    let vars = commands::tag_vars(env, git_ref.as_ref(), &commit, cx.inputs.version.as_deref())?;
    let vars = with_version(cx, env, vars, &commit.sha)?;
    let vars = with_branch(cx, env, vars)?;
    let tag = env.tag.format(&vars).map_err(|m| {
        UserError::new(format!("environment `{}`: {m}", env.name)).hint(match m.0 {
            "version" => "release from a SemVer tag (`v1.2.3`), or pass `--version`",
            "branch" => "release from a branch push, or pass `--ref refs/heads/<branch>`",
            _ => "check the environment's `tag:` template",
        })
    })?;

    let session = Session::new(cx)?;
    session.check_access(cx, env).await?;

    session.preflight(cx)?;
    let image = ensure_image(cx, &session.registry, &service, &commit, &tag, &vars).await?;
    let mut out = Outputs::default();
    out.set("env", &env.name);
    out.set("image", &service.image);
    out.set("tag", &tag);
    out.set("digest", &image.digest);
    out.set("built", image.built);
    out.set("sha", &commit.sha);
    let change = Change {
        service: &service,
        env,
        tag: tag.clone(),
        digest: image.digest.clone(),
        labels: Vec::new(),
        kind: "release",
        source_sha: Some(commit.sha.clone()),
    };
    let published = session.publish(cx, &change, &mut out).await?;
    session
        .continue_chain(cx, &change, published.as_ref(), &mut out)
        .await?;
    session.finish(&mut out);
    Ok(out)
}

/// The `service` input, or the only service of the config (a push in a service's
/// own repository releases that service).
fn the_service(cx: &Context) -> anyhow::Result<Service> {
    match (&cx.inputs.service, cx.config.services.as_slice()) {
        (Some(name), _) => Ok(cx.config.service(name)?),
        (None, [only]) => Ok(only.clone()),
        (None, _) => Err(cx
            .required(&cx.inputs.service, "service")
            .unwrap_err()
            .into()),
    }
}

/// `{version}` from the SemVer tag on the commit when neither input nor ref gave one.
fn with_version(
    cx: &Context,
    env: &Environment,
    mut vars: TagVars,
    sha: &str,
) -> anyhow::Result<TagVars> {
    if vars.version.is_none() && env.tag.is_versioned() {
        vars.version = version_of_commit(&cx.root, sha);
    }
    Ok(vars)
}

/// `{branch}` from the checkout's branch when no ref gave one (`--env` runs).
fn with_branch(cx: &Context, env: &Environment, mut vars: TagVars) -> anyhow::Result<TagVars> {
    if vars.branch.is_none() && env.tag.uses(tag::Var::Branch) {
        vars.branch = env_var("GITHUB_HEAD_REF")
            .or_else(|| {
                env_var("GITHUB_REF_NAME")
                    .filter(|_| env_var("GITHUB_REF_TYPE").as_deref() != Some("tag"))
            })
            .or_else(|| {
                let repo = crate::git::open_foreign_owned(&cx.root).ok()?;
                let head = repo.head().ok()?;
                head.is_branch()
                    .then(|| head.shorthand().ok().map(str::to_string))
                    .flatten()
            });
    }
    Ok(vars)
}

/// The highest SemVer tag pointing at `sha` in the workspace repository.
fn version_of_commit(root: &Path, sha: &str) -> Option<String> {
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

// ---------------------------------------------------------------------------
// promote

pub async fn promote(cx: &Context) -> anyhow::Result<Outputs> {
    let service = cx
        .config
        .service(cx.required(&cx.inputs.service, "service")?)?;
    let to_name = cx
        .inputs
        .to
        .as_deref()
        .or(cx.inputs.env.as_deref())
        .ok_or_else(|| {
            UserError::new("`promote` needs the target environment")
                .hint("pass `--to uat` (or the `to` input)")
        })?;
    let to = cx.config.environment(to_name)?;
    let from = match cx.inputs.from.as_deref() {
        Some(f) => cx.config.environment(f)?,
        None => cx.config.previous_of(&to.name).ok_or_else(|| {
            UserError::new(format!(
                "environment `{}` is the first of the chain; there is nothing to promote from",
                to.name
            ))
            .hint("pass `--from <env>`, or release to it with `release`")
        })?,
    };
    if from.name == to.name {
        return Err(UserError::new(format!(
            "`promote` from `{}` to itself changes nothing",
            to.name
        ))
        .hint("name another source with `--from`, or leave it out to take the previous environment of the chain")
        .into());
    }
    let session = Session::new(cx)?;
    let entry = deployed_entry(cx, from, &service)?;
    let mut out = Outputs::default();
    session
        .promote_entry(cx, &service, from, to, &entry, &mut out)
        .await?;
    session.finish(&mut out);
    Ok(out)
}

// ---------------------------------------------------------------------------
// deploy

pub async fn deploy(cx: &Context) -> anyhow::Result<Outputs> {
    let service = cx
        .config
        .service(cx.required(&cx.inputs.service, "service")?)?;
    let env = cx.config.environment(cx.required(&cx.inputs.env, "env")?)?;
    let session = Session::new(cx)?;
    let entry = deployed_entry(cx, env, &service)?;
    let sha = commands::commit_of(&cx.root, cx.inputs.sha.as_deref())?.sha;
    let mut out = Outputs::default();
    session
        .deploy_entry(cx, &service, env, &entry, &sha, &mut out)
        .await?;
    session.finish(&mut out);
    Ok(out)
}

// ---------------------------------------------------------------------------
// rollback

pub async fn rollback(cx: &Context) -> anyhow::Result<Outputs> {
    let service = cx
        .config
        .service(cx.required(&cx.inputs.service, "service")?)?;
    let env = cx.config.environment(cx.required(&cx.inputs.env, "env")?)?;
    let session = Session::new(cx)?;
    let to_tag = cx.inputs.tag.as_deref().or(cx.inputs.to.as_deref());
    let (tag, digest) = match (to_tag, cx.inputs.steps.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(
                UserError::new("`rollback` takes `--to` or `--steps`, not both")
                    .hint("`--to TAG` names the version; `--steps N` goes N versions back")
                    .into(),
            );
        }
        (Some(t), None) => {
            let d = session
                .registry
                .digest_of(&service.image, t)
                .await?
                .ok_or_else(|| {
                    Failure::new(format!("there is no image `{}:{t}` to roll back to", service.image))
                        .hint("pick a tag that exists (`status` shows each environment's; the overlay's git history has the rest)")
                })?;
            (t.to_string(), d)
        }
        (None, Some(s)) => {
            let steps: usize = s.trim().parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                UserError::new(format!("input `steps` is `{s}`, not a whole number ≥ 1"))
                    .hint("`--steps 1` goes back to the version before the current one")
            })?;
            session.previous_version(cx, env, &service, steps).await?
        }
        (None, None) => {
            return Err(UserError::new("`rollback` needs `--to TAG` or `--steps N`")
                .hint("e.g. `gitops-action rollback --service hello --env prod --steps 1`")
                .into());
        }
    };
    if !cx.dry_run && !session.registry.exists(&service.image, &digest).await? {
        return Err(Failure::new(format!(
            "`{}@{digest}` is no longer in the registry",
            service.image
        ))
        .hint("the image was deleted; roll back to a version that still exists with `--to`")
        .into());
    }
    session.check_access(cx, env).await?;
    let mut out = Outputs::default();
    out.set("env", &env.name);
    out.set("image", &service.image);
    out.set("tag", &tag);
    out.set("digest", &digest);
    out.set("built", false);
    let change = Change {
        service: &service,
        env,
        tag,
        digest,
        labels: vec!["rollback".into()],
        kind: "rollback",
        source_sha: None,
    };
    let published = session.publish(cx, &change, &mut out).await?;
    session
        .continue_chain(cx, &change, published.as_ref(), &mut out)
        .await?;
    session.finish(&mut out);
    Ok(out)
}

// ---------------------------------------------------------------------------
// the parts the commands share

/// One overlay change to carry to an environment.
struct Change<'a> {
    service: &'a Service,
    env: &'a Environment,
    tag: String,
    digest: String,
    labels: Vec<String>,
    /// `release`, `promote` or `rollback`: the PR's wording.
    kind: &'static str,
    /// The commit the image was built from, for the PR's commit list.
    source_sha: Option<String>,
}

/// The checkout changes are published from, and the branch they go to.
struct Repo {
    ws: Workspace,
    base: String,
}

/// How the merge continues the chain (`chain` input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chain {
    /// Dispatch `deploy-workflow` when it is set, else nothing.
    Auto,
    Dispatch,
    Inline,
    None,
}

/// The inputs that shape a change (merge, PR, chain, commit identity), read and
/// checked when the session starts: one found bad after the image was placed or the
/// PR merged would stop the run half-done.
struct ChangeInputs {
    merge: Option<ConfigPolicy>,
    method: MergeMethod,
    chain: Chain,
    deploy_workflow: Option<String>,
    draft: bool,
    reviewers: Vec<String>,
    labels: Vec<String>,
}

impl ChangeInputs {
    fn from_inputs(i: &Inputs) -> Result<ChangeInputs, UserError> {
        let merge = match i.merge.as_deref() {
            Some(m) => Some(ConfigPolicy::parse(m).ok_or_else(|| {
                UserError::new(format!("input `merge` is `{m}`"))
                    .hint("use `auto`, `immediate`, `never` or `direct`")
            })?),
            None => None,
        };
        let method: MergeMethod = i.merge_method.as_deref().unwrap_or("squash").parse()?;
        let deploy_workflow = i.deploy_workflow.clone().filter(|w| !w.trim().is_empty());
        if let Some(w) = &deploy_workflow {
            let file = (w.ends_with(".yml") || w.ends_with(".yaml"))
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            let id = w.bytes().all(|b| b.is_ascii_digit());
            if !(file || id) {
                return Err(UserError::new(format!("input `deploy-workflow` is `{w}`, not a workflow file name"))
                    .hint("name the workflow file under .github/workflows, e.g. `overlay-deploy.yaml` (no folder), or give its numeric id"));
            }
        }
        let chain = match i.chain.as_deref().unwrap_or("auto") {
            "auto" => Chain::Auto,
            "dispatch" => Chain::Dispatch,
            "inline" => Chain::Inline,
            "none" => Chain::None,
            other => {
                return Err(UserError::new(format!("input `chain` is `{other}`"))
                    .hint("use `auto` (dispatch when `deploy-workflow` is set), `dispatch`, `inline` or `none`"));
            }
        };
        if chain == Chain::Dispatch && deploy_workflow.is_none() {
            return Err(UserError::new("`chain: dispatch` needs `deploy-workflow`").hint(
                "set `deploy-workflow: overlay-deploy.yaml` (the file name under .github/workflows)",
            ));
        }
        let reviewers = Inputs::list(&i.reviewers);
        if let Some(r) = reviewers.iter().find(|r| !crate::config::is_reviewer(r)) {
            return Err(UserError::new(format!(
                "input `reviewers` names `{r}`, which is neither a user login nor `org/team`"
            ))
            .hint("list logins (`alice`) or teams (`acme/platform`), separated by commas or new lines"));
        }
        let labels = Inputs::list(&i.labels);
        if let Some(l) = labels.iter().find(|l| l.chars().count() > 50) {
            return Err(UserError::new(format!(
                "input `labels` names `{l}`, {} characters long",
                l.chars().count()
            ))
            .hint("GitHub label names are at most 50 characters"));
        }
        if let Some(b) = i.base.as_deref()
            && !git2::Reference::is_valid_name(&format!("refs/heads/{b}"))
        {
            return Err(
                UserError::new(format!("input `base` is `{b}`, not a branch name"))
                    .hint("give the branch the release PRs go to, e.g. `main`"),
            );
        }
        for (name, v) in [("author", &i.author), ("committer", &i.committer)] {
            if let Some(v) = v {
                Identity::parse(v).map_err(|e| {
                    UserError::new(format!("input `{name}` is `{v}`: {e}"))
                        .hint("write it as `Name <email@example.com>`")
                })?;
            }
        }
        Ok(ChangeInputs {
            merge,
            method,
            chain,
            deploy_workflow,
            draft: Inputs::flag(&i.draft, "draft")?,
            reviewers,
            labels,
        })
    }
}

/// The image of a commit, found or made.
struct Image {
    digest: String,
    built: bool,
}

/// The clients of one run: registry always, GitHub and git when something is written.
struct Session {
    registry: Registry,
    github: Option<GitHub>,
    /// The repository and base branch, opened (and the token tried) on first use.
    repo: std::cell::OnceCell<Repo>,
    /// The health gate of `deploy`, read before anything is written.
    gate: Option<Gate>,
    change: ChangeInputs,
}

/// `verify-url`, `verify-contains` and `verify-timeout`, checked up front: a bad one
/// found after the deployment was recorded would leave it `in_progress`.
struct Gate {
    url: String,
    contains: Option<String>,
    timeout: Duration,
}

impl Gate {
    fn from_inputs(inputs: &Inputs) -> Result<Option<Gate>, UserError> {
        let timeout = parse_duration(inputs.verify_timeout.as_deref().unwrap_or("300"))?;
        let Some(raw) = inputs
            .verify_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        else {
            return Ok(None);
        };
        let url = reqwest::Url::parse(raw.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                UserError::new(format!("input `verify-url` is `{raw}`, not an http(s) URL"))
                    .hint("give the address the health gate polls, e.g. `https://dev.example.com/healthz`")
            })?;
        Ok(Some(Gate {
            url: url.to_string(),
            contains: inputs.verify_contains.clone().filter(|c| !c.is_empty()),
            timeout,
        }))
    }
}

impl Session {
    fn new(cx: &Context) -> anyhow::Result<Session> {
        let registry = Registry::new(registry_options(&cx.inputs));
        let github = if cx.dry_run {
            None
        } else {
            let mut o = GitHubOptions::from_env();
            if let Some(t) = &cx.inputs.token {
                o.token = Some(t.clone());
            }
            if o.repository.is_empty() {
                None
            } else {
                Some(GitHub::new(&o)?)
            }
        };
        Ok(Session {
            registry,
            github,
            repo: std::cell::OnceCell::new(),
            gate: Gate::from_inputs(&cx.inputs)?,
            change: ChangeInputs::from_inputs(&cx.inputs)?,
        })
    }

    /// Open the workspace (or clone) and settle the base branch; once per run.
    fn repo(&self, cx: &Context) -> anyhow::Result<&Repo> {
        if let Some(r) = self.repo.get() {
            return Ok(r);
        }
        let ws = Workspace::open(&git_options(cx)?)?;
        let base = match cx.inputs.base.as_deref() {
            Some(b) => b.to_string(),
            None => ws.base_branch(None)?,
        };
        Ok(self.repo.get_or_init(|| Repo { ws, base }))
    }

    /// Fetch the base's tip: proves the remote, the token and the branch before any
    /// write, and gives the text the PR compares against.
    fn base_tip(&self, ws: &Workspace, base: &str) -> anyhow::Result<String> {
        ws.fetch_branch(base)?.ok_or_else(|| {
            UserError::new(format!(
                "base branch `{base}` does not exist on {}",
                ws.remote_display()
            ))
            .hint("set the `base` input to an existing branch")
            .into()
        })
    }

    /// Before the first write anywhere (registry retag or build): the repository is
    /// reachable with the token and the base exists, so a release cannot stop after
    /// pushing an image for an overlay change it can't make.
    fn preflight(&self, cx: &Context) -> anyhow::Result<()> {
        if cx.dry_run {
            return Ok(());
        }
        self.github()?;
        let Repo { ws, base } = self.repo(cx)?;
        self.base_tip(ws, base).map(drop)
    }

    fn github(&self) -> anyhow::Result<&GitHub> {
        self.github.as_ref().ok_or_else(|| {
            UserError::new("`GITHUB_REPOSITORY` is not set, so there is no repository to open the pull request in")
                .hint("run inside GitHub Actions, or set `GITHUB_REPOSITORY=owner/name` (and `GITHUB_API_URL` for GitHub Enterprise Server); `--dry-run` needs neither")
                .into()
        })
    }

    /// Seed 002's "who can deploy to which environment": the environment's
    /// `allowed` rule against `GITHUB_ACTOR`, before anything changes.
    async fn check_access(&self, cx: &Context, env: &Environment) -> anyhow::Result<()> {
        let Some(rule) = &env.allowed else {
            return Ok(());
        };
        let actor = env_var("GITHUB_ACTOR").ok_or_else(|| {
            UserError::new(format!(
                "environment `{}` limits who may release, but `GITHUB_ACTOR` is not set",
                env.name
            ))
            .hint("run in GitHub Actions (the runner sets `GITHUB_ACTOR`), or set it to your login")
        })?;
        if rule.users.iter().any(|u| u.eq_ignore_ascii_case(&actor)) {
            return Ok(());
        }
        if cx.dry_run
            && self.github.is_none()
            && (rule.teams.len() + usize::from(rule.permission.is_some())) > 0
        {
            println!(
                "dry run: would check that `{actor}` may release to `{}` (teams {:?}, permission {:?})",
                env.name, rule.teams, rule.permission
            );
            return Ok(());
        }
        let gh = self.github()?;
        if let Some(needed) = &rule.permission {
            let has = gh.permission(&actor).await?;
            if permission_rank(&has) >= permission_rank(needed) {
                return Ok(());
            }
        }
        for team in &rule.teams {
            let member = gh.is_team_member(team, &actor).await.map_err(|e| {
                Failure::new(format!(
                    "cannot check whether `{actor}` is in team `{team}` (the `allowed` rule of `{}`): {e:#}",
                    env.name
                ))
                .hint("`GITHUB_TOKEN` cannot read organization teams: pass a GitHub App token with `members: read` (or a token with `read:org`) as `token`, or list `users` / a `permission` instead")
            })?;
            if member {
                return Ok(());
            }
        }
        let mut parts = Vec::new();
        if !rule.users.is_empty() {
            parts.push(format!("users {}", rule.users.join(", ")));
        }
        if !rule.teams.is_empty() {
            parts.push(format!("teams {}", rule.teams.join(", ")));
        }
        if let Some(p) = &rule.permission {
            parts.push(format!("`{p}` permission or higher"));
        }
        Err(UserError::new(format!(
            "`{actor}` may not release to environment `{}`: its `allowed` rule admits {}",
            env.name,
            if parts.is_empty() { "nobody".to_string() } else { parts.join("; ") }
        ))
        .hint(format!(
            "ask someone the rule admits to run it, or add `{actor}` to `allowed` of `{}` in .github/gitops.yaml",
            env.name
        ))
        .into())
    }

    /// Edit the overlay on a fresh base tip and carry it through the PR (or a
    /// direct push). `None` in a dry run.
    async fn publish(
        &self,
        cx: &Context,
        change: &Change<'_>,
        out: &mut Outputs,
    ) -> anyhow::Result<Option<ReleaseOutcome>> {
        let env = change.env;
        let service = change.service;
        let path = env.kustomization(&cx.root);
        let rel = cx.rel(&path);
        let rel_str = rel.to_string_lossy().replace('\\', "/");
        let set = SetImage {
            image: &service.image,
            tag: Some(&change.tag),
            digest: Some(&change.digest),
        };
        let branch = git::release_branch(&service.name, &env.name);
        let policy = self.change.merge.unwrap_or(env.merge);
        let method = self.change.method;

        if cx.dry_run {
            // A missing overlay is made by the release, as on the real path.
            let text = crate::error::read_user_file(&path, &rel)?.unwrap_or_default();
            let before = overlay::find_image(&rel, &text, &service.image)?;
            let old = before.as_ref().and_then(|b| b.new_tag.clone());
            match overlay::set_image(&rel, &text, &set)? {
                overlay::Edit::Unchanged => {
                    println!(
                        "{}: unchanged ({} already at `{}`)",
                        rel.display(),
                        service.name,
                        change.tag
                    );
                    out.set("changed", false);
                }
                overlay::Edit::Changed { text: after, .. } => {
                    print!("{}", overlay::unified_diff(&rel_str, &text, &after));
                    let title =
                        github::pr_title(&service.name, &env.name, old.as_deref(), &change.tag);
                    match policy {
                        ConfigPolicy::Direct => {
                            println!("dry run: would push this change to the base branch")
                        }
                        _ => println!(
                            "dry run: would push `{branch}` and open or update the pull request \"{title}\" (merge: {})",
                            policy.as_str()
                        ),
                    }
                    out.set("changed", true);
                }
            }
            return Ok(None);
        }

        let gh = self.github()?;
        let Repo { ws, base } = self.repo(cx)?;
        let base = base.clone();
        // What the base holds now: the PR's "old" column and its commit list.
        let base_tip = self.base_tip(ws, &base)?;
        let before_text = ws.read_at(&base_tip, &rel_str)?.unwrap_or_default();
        let before = overlay::find_image(&rel, &before_text, &service.image)
            .ok()
            .flatten();
        let old_tag = before.as_ref().and_then(|b| b.new_tag.clone());
        let old_digest = before.as_ref().and_then(|b| b.digest.clone());

        let mut body = PrBody {
            service: service.name.clone(),
            env: env.name.clone(),
            image: service.image.clone(),
            old_tag: old_tag.clone(),
            new_tag: change.tag.clone(),
            old_digest,
            new_digest: Some(change.digest.clone()),
            ..Default::default()
        };
        let old_sha = old_tag
            .as_deref()
            .and_then(|t| env.tag.parse_tag(t))
            .and_then(|p| p.sha);
        if let (Some(old), Some(new)) = (&old_sha, &change.source_sha)
            && old != new
        {
            body.compare_url = Some(format!("{}/compare/{old}...{new}", gh.web_url()));
            match gh.compare(old, new).await {
                Ok(c) => body.commits = c.commits,
                Err(e) => eprintln!("github: no commit list for the PR body: {e:#}"),
            }
        }
        if let (Some(server), Some(run)) = (env_var("GITHUB_SERVER_URL"), env_var("GITHUB_RUN_ID"))
        {
            body.links.push((
                "Workflow run".into(),
                format!("{server}/{}/actions/runs/{run}", gh.repository()),
            ));
        }
        let mut labels = env.labels.clone();
        labels.extend(self.change.labels.iter().cloned());
        labels.extend(change.labels.iter().cloned());
        let labels = unique(labels);
        let mut reviewers = env.reviewers.clone();
        reviewers.extend(self.change.reviewers.iter().cloned());
        let reviewers = unique(reviewers);
        let mut title = github::pr_title(&service.name, &env.name, old_tag.as_deref(), &change.tag);
        if change.kind == "rollback" {
            title.push_str(" (rollback)");
        }
        let message = git::render_message(
            cx.inputs.message.as_deref().unwrap_or(MESSAGE),
            &[
                ("service", &service.name),
                ("env", &env.name),
                ("old", old_tag.as_deref().unwrap_or("(none)")),
                ("new", &change.tag),
                ("digest", &change.digest),
                ("kind", change.kind),
            ],
        );
        let req = Release {
            publish: Publish {
                base: base.clone(),
                target: if policy == ConfigPolicy::Direct {
                    Target::Direct
                } else {
                    Target::Release(branch.clone())
                },
                path: rel_str.clone(),
                message,
            },
            content: PrContent {
                title,
                body: body.render(),
                labels,
                reviewers,
                draft: self.change.draft,
            },
            policy: match policy {
                ConfigPolicy::Auto | ConfigPolicy::Direct => MergePolicy::Auto,
                ConfigPolicy::Immediate => MergePolicy::Immediate,
                ConfigPolicy::Never => MergePolicy::Never,
            },
            method,
            max_rounds: 10,
            close_comment: Some(format!(
                "`{base}` already has `{}` at `{}`; closing.",
                service.name, change.tag
            )),
        };
        let mut edit = overlay::edit_fn(&rel, set);
        let outcome = github::release(ws, gh, &req, &mut edit).await?;
        for (k, v) in outcome.outputs() {
            out.set(k, v);
        }
        let old = old_tag.as_deref().unwrap_or("(none)");
        match (&outcome.pr, outcome.published.changed) {
            (_, false) => println!(
                "{}: `{base}` already has {} at `{}`; nothing to do",
                rel.display(),
                service.name,
                change.tag
            ),
            (None, true) => println!(
                "pushed {} to `{base}`: {} `{old}` → `{}`",
                short(outcome.published.commit.as_deref()),
                service.name,
                change.tag
            ),
            (Some(pr), true) => {
                let state = if outcome.merged {
                    "merged"
                } else if outcome.auto_merge {
                    "auto-merge enabled"
                } else {
                    "open for review"
                };
                println!(
                    "pull request #{} {} ({state}): {} {} `{old}` → `{}`\n  {}",
                    pr.number,
                    pr.operation.as_str(),
                    service.name,
                    env.name,
                    change.tag,
                    pr.url
                );
            }
        }
        if outcome.retries > 0 {
            eprintln!("git: {} retries after lost races", outcome.retries);
        }
        out.summary.push_str(&format!(
            "**{}** → `{}`: `{old}` → `{}`{}\n",
            service.name,
            env.name,
            change.tag,
            outcome
                .pr
                .as_ref()
                .map(|p| format!(" ([#{}]({}) {})", p.number, p.url, p.operation.as_str()))
                .unwrap_or_default()
        ));
        Ok(Some(outcome))
    }

    /// After a merge the tool made itself: GitHub starts no workflow for events a
    /// `GITHUB_TOKEN` caused, so the chain goes on from here (dispatch or inline).
    async fn continue_chain(
        &self,
        cx: &Context,
        change: &Change<'_>,
        outcome: Option<&ReleaseOutcome>,
        out: &mut Outputs,
    ) -> anyhow::Result<()> {
        let Some(outcome) = outcome else {
            return Ok(());
        };
        if !outcome.merged {
            return Ok(());
        }
        let chain = self.change.chain;
        let workflow = self.change.deploy_workflow.as_deref();
        match (chain, workflow) {
            // (`dispatch` without a workflow is refused by ChangeInputs.)
            (Chain::None, _) | (Chain::Auto | Chain::Dispatch, None) => Ok(()),
            (Chain::Auto | Chain::Dispatch, Some(w)) => {
                let gh = self.github()?;
                // The base the change went to (opened once per run; no API call).
                let base = self.repo(cx)?.base.clone();
                gh.dispatch_workflow(
                    w,
                    &base,
                    &json!({"service": change.service.name, "env": change.env.name}),
                )
                .await
                .map_err(|e| {
                    Failure::new(format!(
                        "the merge is done, but the deploy workflow `{w}` could not be started: {e:#}"
                    ))
                    .hint(format!(
                        "`.github/workflows/{w}` must exist on `{base}` with `on: workflow_dispatch` (inputs `service`, `env`), and the token needs `actions: write`; then run `deploy` for {} in `{}`",
                        change.service.name, change.env.name
                    ))
                })?;
                println!(
                    "dispatched `{w}` on `{base}` to deploy {} to {}",
                    change.service.name, change.env.name
                );
                out.set("dispatched", w);
                Ok(())
            }
            (Chain::Inline, _) => {
                let sha = outcome
                    .merge_sha
                    .clone()
                    .or_else(|| outcome.published.commit.clone())
                    .unwrap_or_default();
                let entry = ImageEntry {
                    name: change.service.image.clone(),
                    new_name: None,
                    new_tag: Some(change.tag.clone()),
                    digest: Some(change.digest.clone()),
                    line: 0,
                };
                // The outputs stay those of this step; the deploy adds its own facts.
                let mut sub = Outputs::default();
                let r = Box::pin(self.deploy_entry(
                    cx,
                    change.service,
                    change.env,
                    &entry,
                    &sha,
                    &mut sub,
                ))
                .await;
                for k in [
                    "deployed",
                    "deployment-id",
                    "next-env",
                    "next-tag",
                    "next-pr-number",
                    "next-pr-url",
                    "next-pr-operation",
                ] {
                    if let Some(v) = sub.values.get(k) {
                        out.set(k, v);
                    }
                }
                out.summary.push_str(&sub.summary);
                r
            }
        }
    }

    /// Check the image, record the deployment, run the health gate, promote on.
    async fn deploy_entry(
        &self,
        cx: &Context,
        service: &Service,
        env: &Environment,
        entry: &ImageEntry,
        sha: &str,
        out: &mut Outputs,
    ) -> anyhow::Result<()> {
        let tag = entry.new_tag.clone().unwrap_or_default();
        let digest = match &entry.digest {
            Some(d) => d.clone(),
            None => self
                .registry
                .digest_of(&service.image, &tag)
                .await?
                .ok_or_else(|| {
                    Failure::new(format!("`{}:{tag}` is not in the registry", service.image))
                        .hint("release it again; the overlay names an image that was never pushed or was deleted")
                })?,
        };
        if !self.registry.exists(&service.image, &digest).await? {
            return Err(Failure::new(format!(
                "`{}@{digest}` (tag `{tag}`) in `{}` is not in the registry",
                service.image, env.name
            ))
            .hint("release it again, or roll back; nothing was deployed")
            .into());
        }
        out.set("env", &env.name);
        out.set("image", &service.image);
        out.set("tag", &tag);
        out.set("digest", &digest);
        let next = cx.config.next_of(&env.name);
        if cx.dry_run {
            println!(
                "dry run: would record a deployment of {} `{tag}` to `{}` at {}",
                service.name,
                env.name,
                short(Some(sha))
            );
            if let Some(g) = &self.gate {
                println!(
                    "dry run: would wait up to {}s for {} to answer 2xx",
                    g.timeout.as_secs(),
                    g.url
                );
            }
            if let Some(n) = next {
                println!("dry run: then promote to `{}`", n.name);
                out.set("next-env", &n.name);
            }
            return Ok(());
        }
        let gh = self.github()?;
        let payload =
            json!({"service": service.name, "image": service.image, "tag": tag, "digest": digest});
        let id = gh
            .create_deployment(sha, &env.name, &payload, &format!("{} {tag}", service.name))
            .await?;
        let log_url = match (env_var("GITHUB_SERVER_URL"), env_var("GITHUB_RUN_ID")) {
            (Some(s), Some(r)) => Some(format!("{s}/{}/actions/runs/{r}", gh.repository())),
            _ => None,
        };
        gh.deployment_status(id, "in_progress", None, log_url.as_deref(), "deploying")
            .await?;
        out.set("deployment-id", id);
        let verify = self.gate.as_ref().map(|g| g.url.as_str());
        if let Some(gate) = &self.gate {
            let url = gate.url.as_str();
            if let Err(why) = health_gate(url, gate.contains.as_deref(), gate.timeout).await {
                gh.deployment_status(
                    id,
                    "failure",
                    Some(url),
                    log_url.as_deref(),
                    &truncate(&why, 140),
                )
                .await?;
                out.set("deployed", false);
                return Err(Failure::new(format!(
                    "health gate for {} in `{}` failed: {why}",
                    service.name, env.name
                ))
                .hint("the deployment is marked failed and nothing was promoted; fix the service, or roll back with `rollback --steps 1`")
                .into());
            }
            println!("health gate passed: {url}");
        }
        gh.deployment_status(id, "success", verify, log_url.as_deref(), "deployed")
            .await?;
        out.set("deployed", true);
        println!(
            "deployment {id}: {} `{tag}` to `{}` recorded (success)",
            service.name, env.name
        );
        out.summary.push_str(&format!(
            "Deployed **{}** `{tag}` to `{}`\n",
            service.name, env.name
        ));
        if let Some(next) = next {
            out.set("next-env", &next.name);
            let mut sub = Outputs::default();
            let r = Box::pin(self.promote_entry(cx, service, env, next, entry, &mut sub)).await;
            for k in ["tag", "pr-number", "pr-url", "pr-operation"] {
                if let Some(v) = sub.values.get(k) {
                    out.set(&format!("next-{k}"), v);
                }
            }
            out.summary.push_str(&sub.summary);
            r?;
        }
        Ok(())
    }

    /// Carry `entry` (the version deployed in `from`) to `to`, retagging the same
    /// digest when `to`'s tag template differs.
    async fn promote_entry(
        &self,
        cx: &Context,
        service: &Service,
        from: &Environment,
        to: &Environment,
        entry: &ImageEntry,
        out: &mut Outputs,
    ) -> anyhow::Result<()> {
        let src_tag = entry.new_tag.clone().ok_or_else(|| {
            UserError::new(format!(
                "`{}` in `{}` has no tag to promote",
                service.name, from.name
            ))
            .hint(format!("release it to `{}` first", from.name))
        })?;
        let parsed = from.tag.parse_tag(&src_tag).unwrap_or_default();
        // The full commit: from the tag, or its `{sha7}` resolved in the checkout.
        let sha = parsed.sha.clone().or_else(|| {
            let short = parsed.sha7.as_deref()?;
            let repo = crate::git::open_foreign_owned(&cx.root).ok()?;
            let c = repo.revparse_single(short).ok()?.peel_to_commit().ok()?;
            Some(c.id().to_string())
        });
        let version = match cx.inputs.version.as_deref() {
            Some(v) => Some(
                tag::parse_semver_tag(v)
                    .ok_or_else(|| {
                        UserError::new(format!("version `{v}` is not SemVer"))
                            .hint("give a version such as `1.2.3`")
                    })?
                    .to_string(),
            ),
            None => parsed
                .version
                .as_ref()
                .map(|v| v.to_string())
                .or_else(|| sha.as_deref().and_then(|s| version_of_commit(&cx.root, s))),
        };
        let vars = TagVars {
            env: to.name.clone(),
            branch: parsed.branch.clone(),
            sha: sha.clone().or(parsed.sha7.clone()).unwrap_or_default(),
            timestamp: parsed.timestamp.unwrap_or_default(),
            version,
        };
        let same_template = to.tag.as_str() == from.tag.as_str();
        let target_tag = if same_template {
            src_tag.clone()
        } else {
            let known = if to.tag.uses(tag::Var::Sha) {
                sha.is_some()
            } else {
                !to.tag.uses(tag::Var::Sha7) || sha.is_some() || parsed.sha7.is_some()
            };
            {
                if !known {
                    return Err(UserError::new(format!(
                        "`{}`'s tag `{src_tag}` does not say its commit, and `{}`'s template `{}` needs it",
                        from.name, to.name, to.tag.as_str()
                    ))
                    .hint("promote from an environment whose tags carry `{sha}`, or release to the target directly")
                    .into());
                }
            }
            to.tag.format(&vars).map_err(|m| {
                UserError::new(format!("promoting to `{}`: {m}", to.name)).hint(if m.0 == "version" {
                    "tag the commit with a SemVer tag (`git tag v1.2.3`) or pass `--version 1.2.3`"
                } else {
                    "check the tag templates of both environments"
                })
            })?
        };
        self.check_access(cx, to).await?;
        let digest = match &entry.digest {
            Some(d) => d.clone(),
            None => self
                .registry
                .digest_of(&service.image, &src_tag)
                .await?
                .ok_or_else(|| {
                    Failure::new(format!(
                        "`{}:{src_tag}` is not in the registry",
                        service.image
                    ))
                })?,
        };
        if !self.registry.exists(&service.image, &digest).await? {
            return Err(Failure::new(format!(
                "`{}` deploys `{}:{src_tag}@{digest}`, which is not in the registry",
                from.name, service.image
            ))
            .hint(format!(
                "release {} to `{}` again (or roll it back) before promoting it",
                service.name, from.name
            ))
            .into());
        }
        if target_tag != src_tag {
            self.preflight(cx)?;
            let what = format!("{} `{src_tag}` of `{}`", service.name, from.name);
            place_tag(
                &self.registry,
                &service.image,
                &digest,
                &target_tag,
                cx.dry_run,
                &what,
            )
            .await?;
        }
        out.set("env", &to.name);
        out.set("image", &service.image);
        out.set("tag", &target_tag);
        out.set("digest", &digest);
        out.set("built", false);
        out.set("from-env", &from.name);
        let change = Change {
            service,
            env: to,
            tag: target_tag,
            digest,
            labels: vec!["promotion".into()],
            kind: "promote",
            source_sha: sha,
        };
        let published = self.publish(cx, &change, out).await?;
        Box::pin(self.continue_chain(cx, &change, published.as_ref(), out)).await
    }

    /// The `steps`-th earlier distinct version of the service in `env`'s overlay,
    /// from the file's git history (deepened when the checkout is shallow).
    async fn previous_version(
        &self,
        cx: &Context,
        env: &Environment,
        service: &Service,
        steps: usize,
    ) -> anyhow::Result<(String, String)> {
        let path = env.kustomization(&cx.root);
        let rel = cx.rel(&path);
        let rel_str = rel.to_string_lossy().replace('\\', "/");
        let Repo { ws, base } = self.repo(cx)?;
        self.base_tip(ws, base)?;
        // Versions of the file, fetched deeper only as far as needed: other services'
        // changes to the same overlay don't count as steps.
        let mut n = steps + 2;
        let seen = loop {
            let history = ws.file_history(&format!("origin/{base}"), &rel_str, n)?;
            let mut seen: Vec<(String, Option<String>)> = Vec::new();
            for v in &history {
                let Some(text) = &v.text else { continue };
                let Ok(Some(e)) = overlay::find_image(&rel, text, &service.image) else {
                    continue;
                };
                let Some(t) = e.new_tag.clone() else { continue };
                let key = (t, e.digest.clone());
                if seen.last() != Some(&key) {
                    seen.push(key);
                }
            }
            if seen.len() > steps || history.len() < n || n >= 5000 {
                break seen;
            }
            n *= 4;
        };
        let Some((t, d)) = seen.get(steps).cloned() else {
            return Err(UserError::new(format!(
                "`{}` has {} version(s) of {} in its history; cannot go back {steps}",
                rel.display(),
                seen.len(),
                service.name
            ))
            .hint("use `--to TAG` to name the version")
            .into());
        };
        let d = match d {
            Some(d) => d,
            None => {
                // Older entries may carry a tag only; resolve it now.
                self.registry
                    .digest_of(&service.image, &t)
                    .await?
                    .ok_or_else(|| {
                        Failure::new(format!(
                            "`{}:{t}` is no longer in the registry",
                            service.image
                        ))
                    })?
            }
        };
        println!(
            "rolling {} in `{}` back {steps} version(s), to `{t}`",
            service.name, env.name
        );
        Ok((t, d))
    }

    fn finish(&self, out: &mut Outputs) {
        if let Some(gh) = &self.github {
            gh.log_calls();
            out.set("api-calls", gh.api_calls());
        }
        eprintln!("registry: {} requests", self.registry.request_count());
    }
}

/// The `build` input: `auto` (default), `always` or `never`.
fn build_mode(cx: &Context) -> Result<&str, UserError> {
    let mode = cx.inputs.build.as_deref().unwrap_or("auto");
    if !matches!(mode, "auto" | "always" | "never") {
        return Err(UserError::new(format!("input `build` is `{mode}`"))
            .hint("use `auto` (retag an existing build, else build), `always` or `never`"));
    }
    Ok(mode)
}

/// Make sure `image:tag` is the build of `commit`: retag the existing build
/// (`sha-<sha>`), or build and push one, as the `build` input says.
async fn ensure_image(
    cx: &Context,
    reg: &Registry,
    service: &Service,
    commit: &Commit,
    tag: &str,
    vars: &TagVars,
) -> anyhow::Result<Image> {
    let mode = build_mode(cx)?;
    let existing = if mode == "always" {
        None
    } else {
        reg.find_commit_build(&service.image, &commit.sha).await?
    };
    if let Some(d) = existing {
        let what = format!("the build of {}", short(Some(&commit.sha)));
        place_tag(reg, &service.image, &d, tag, cx.dry_run, &what).await?;
        return Ok(Image {
            digest: d,
            built: false,
        });
    }
    if mode == "never" {
        return Err(registry::no_build_error(&service.image, &commit.sha).into());
    }
    let sha_tag = format!("sha-{}", commit.sha);
    if cx.dry_run {
        println!(
            "dry run: would build `{}` from `{}` and push it as `{sha_tag}` and `{tag}`",
            service.image,
            service.context.display()
        );
        return Ok(Image {
            digest: String::new(),
            built: true,
        });
    }
    let source = match (env_var("GITHUB_SERVER_URL"), env_var("GITHUB_REPOSITORY")) {
        (Some(s), Some(r)) => format!("{s}/{r}"),
        _ => String::new(),
    };
    let version = vars.version.clone().unwrap_or_else(|| tag.to_string());
    let req = BuildRequest {
        context: cx.root.join(&service.context),
        dockerfile: service.dockerfile.clone(),
        image: service.image.clone(),
        tags: vec![sha_tag.clone(), tag.to_string()],
        labels: build::oci_labels(&commit.sha, &source, commit.timestamp, &version),
        platform: None,
    };
    let _g = action::group(&format!("build {}", service.image));
    let digest = build::build_and_push(&req, reg).await.with_context(|| {
        format!(
            "building `{}` for {}",
            service.image,
            short(Some(&commit.sha))
        )
    })?;
    drop(_g);
    println!("built and pushed `{}:{tag}` ({digest})", service.image);
    Ok(Image {
        digest,
        built: true,
    })
}

/// Point `image:tag` at `digest`: nothing when it already does, a retag when the tag
/// is free, and a refusal when it names another image: a release's tag is never
/// moved silently (`prd-1.2.3` stays the image that was approved as 1.2.3).
async fn place_tag(
    reg: &Registry,
    image: &str,
    digest: &str,
    tag: &str,
    dry_run: bool,
    what: &str,
) -> anyhow::Result<bool> {
    let dst = format!("{image}:{tag}");
    match reg.digest_of(image, tag).await? {
        Some(have) if have == digest => {
            println!("`{dst}` is already {what} ({digest})");
            Ok(false)
        }
        Some(have) => Err(UserError::new(format!(
            "`{dst}` already names another image ({have}), not {what} ({digest})"
        ))
        .hint("a released tag is never moved: release a new version (a new SemVer tag), or delete the tag in the registry if it was pushed by mistake")
        .into()),
        None if dry_run => {
            println!("dry run: would retag {what} ({digest}) as `{dst}`");
            Ok(false)
        }
        None => {
            reg.retag(&format!("{image}@{digest}"), &dst).await?;
            println!("retagged {what} as `{dst}` ({digest})");
            Ok(true)
        }
    }
}

/// The entry of `service` in `env`'s overlay in the workspace.
fn deployed_entry(
    cx: &Context,
    env: &Environment,
    service: &Service,
) -> anyhow::Result<ImageEntry> {
    let path = env.kustomization(&cx.root);
    let rel = cx.rel(&path);
    let text = crate::error::read_user_file(&path, &rel)?.ok_or_else(|| {
        UserError::new(format!("overlay `{}` does not exist", rel.display())).hint(format!(
            "check out the repository (actions/checkout) and the `overlay` of `{}`",
            env.name
        ))
    })?;
    let entry = overlay::find_image(&rel, &text, &service.image)?.ok_or_else(|| {
        UserError::new(format!(
            "`{}` has no image entry for {} (`{}`)",
            rel.display(),
            service.name,
            service.image
        ))
        .hint(format!("release {} to `{}` first", service.name, env.name))
    })?;
    if entry.new_tag.is_none() && entry.digest.is_none() {
        return Err(UserError::new(format!(
            "{}:{}: the entry for `{}` sets neither `newTag` nor `digest`",
            rel.display(),
            entry.line,
            service.image
        ))
        .hint(format!("release {} to `{}` first", service.name, env.name))
        .into());
    }
    Ok(entry)
}

/// Poll `url` until it answers 2xx (and contains `contains`), within `timeout`.
async fn health_gate(url: &str, contains: Option<&str>, timeout: Duration) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut last;
    let mut wait = Duration::from_millis(250);
    loop {
        match client.get(url).send().await {
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                if status.is_success() {
                    match contains {
                        Some(c) if !body.contains(c) => {
                            last = format!("{status}, but the body does not contain `{c}`");
                        }
                        _ => return Ok(()),
                    }
                } else {
                    last = format!("{url} answered {status}");
                }
            }
            Err(e) => last = format!("{url}: {}", without_url(&e)),
        }
        let spent = start.elapsed();
        if spent >= timeout {
            return Err(format!("{last} (gave up after {}s)", timeout.as_secs()));
        }
        tokio::time::sleep(wait.min(timeout - spent)).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(&format!(" ({u})"), "");
    }
    if e.is_connect() {
        "connection refused or unreachable".into()
    } else {
        s
    }
}

/// `300`, `300s`, `5m`, `1h`.
fn parse_duration(s: &str) -> Result<Duration, UserError> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 'h')) => (&t[..i], 3600),
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(|n| Duration::from_secs(n * mult))
        .ok_or_else(|| {
            UserError::new(format!("input `verify-timeout` is `{s}`"))
                .hint("give seconds (`300`) or a unit: `90s`, `5m`, `1h`")
        })
}

fn permission_rank(p: &str) -> u8 {
    match p {
        "admin" => 5,
        "maintain" => 4,
        "write" | "push" => 3,
        "triage" => 2,
        "read" | "pull" => 1,
        _ => 0,
    }
}

fn registry_options(inputs: &Inputs) -> RegistryOptions {
    RegistryOptions {
        username: inputs.registry_username.clone(),
        password: inputs.registry_password.clone(),
        insecure: Inputs::list(&inputs.insecure_registries),
        docker_config: None,
    }
}

fn git_options(cx: &Context) -> anyhow::Result<GitOptions> {
    let mut o = GitOptions::from_env();
    o.workspace = cx.root.clone();
    if let Some(t) = &cx.inputs.token {
        o.token = Some(t.clone());
    }
    if let Some(a) = &cx.inputs.author {
        o.author = Identity::parse(a)?;
        o.committer = o.author.clone();
    }
    if let Some(c) = &cx.inputs.committer {
        o.committer = Identity::parse(c)?;
    }
    Ok(o)
}

/// Keep the first of each, in order.
fn unique(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

fn short(sha: Option<&str>) -> String {
    sha.map(|s| s[..s.len().min(7)].to_string())
        .unwrap_or_default()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration(" 1h ").unwrap(), Duration::from_secs(3600));
        for bad in ["", "0", "-1", "5x", "m", "1.5m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn permissions_rank_like_github() {
        assert!(permission_rank("admin") > permission_rank("maintain"));
        assert!(permission_rank("maintain") > permission_rank("write"));
        assert!(permission_rank("write") > permission_rank("triage"));
        assert!(permission_rank("triage") > permission_rank("read"));
        assert_eq!(permission_rank("push"), permission_rank("write"));
        assert_eq!(permission_rank("none"), 0);
    }

    #[test]
    fn truncates_on_chars() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("αβγδε", 3), "αβ…");
    }
}
