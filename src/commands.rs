//! Command dispatch, the context every command starts from, and the commands that
//! read or edit locally: `status`, `resolve`, `set-image`, `codeowners`. The
//! commands that move a service (registry, git, GitHub) are in `release`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::action::{self, Inputs, Outputs};
use crate::config::{self, Config, Environment};
use crate::environment::{GitRef, RefMatch, branch_selects, tag_selects};
use crate::error::UserError;
use crate::overlay;
use crate::release;
use crate::tag::{self, TagVars};

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Table,
    Markdown,
}

impl Format {
    fn parse(v: Option<&str>, allowed: &[Format]) -> Result<Format, UserError> {
        let hint = || {
            let names: Vec<String> = allowed.iter().map(|f| format!("`{}`", f.name())).collect();
            format!("use one of {}", names.join(", "))
        };
        let f = match v.unwrap_or("text") {
            "text" => Format::Text,
            "json" => Format::Json,
            "table" => Format::Table,
            "markdown" | "md" => Format::Markdown,
            other => return Err(UserError::new(format!("unknown format `{other}`")).hint(hint())),
        };
        if !allowed.contains(&f) {
            return Err(
                UserError::new(format!("this command has no `{}` format", f.name())).hint(hint()),
            );
        }
        Ok(f)
    }

    fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Table => "table",
            Format::Markdown => "markdown",
        }
    }
}

/// Everything a command needs to start: the inputs, the repository root and the config.
pub struct Context {
    pub inputs: Inputs,
    pub root: PathBuf,
    pub config: Config,
    pub dry_run: bool,
}

impl Context {
    pub fn load(inputs: Inputs) -> anyhow::Result<Context> {
        let root = match inputs.workspace.as_deref() {
            Some(w) => PathBuf::from(w),
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
        let (config_path, explicit) = match inputs.config.as_deref() {
            Some(c) => (PathBuf::from(c), true),
            None => (PathBuf::from(config::DEFAULT_CONFIG), false),
        };
        let config = config::load(&root, &config_path, explicit)?;
        let dry_run = Inputs::flag(&inputs.dry_run, "dry-run")?;
        Ok(Context {
            inputs,
            root,
            config,
            dry_run,
        })
    }

    pub(crate) fn required<'a>(
        &self,
        value: &'a Option<String>,
        name: &str,
    ) -> Result<&'a str, UserError> {
        value.as_deref().ok_or_else(|| {
            UserError::new(format!("`{name}` is required for `{}`", self.command())).hint(format!(
                "pass `--{name} …` (or the `{name}` input of the action)"
            ))
        })
    }

    fn command(&self) -> &str {
        self.inputs.command.as_deref().unwrap_or("status")
    }

    /// The repo-relative path as users see it in messages.
    pub(crate) fn rel(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// Run the command the inputs name.
pub async fn run(mut inputs: Inputs) -> anyhow::Result<Outputs> {
    for s in inputs.secrets() {
        action::register_secret(&s);
    }
    // The triggering event fills what the inputs leave unset (a push's ref and
    // commit, a merged release PR's service and environment).
    // A `pull_request` event: number, merged, head branch.
    let mut pr_event = None;
    if let Some((name, payload)) = action::event_payload()? {
        let facts = action::EventFacts::from_payload(&name, &payload);
        if name.starts_with("pull_request") {
            let pr = &payload["pull_request"];
            pr_event = Some((
                pr["number"].as_u64().unwrap_or_default(),
                facts.merged_pr.is_some(),
                pr["head"]["ref"].as_str().unwrap_or_default().to_string(),
            ));
        }
        facts.fill(&mut inputs);
    }
    let command = inputs.command.clone().unwrap_or_else(|| "status".into());
    // overlay-deploy runs on closed `release/**` PRs; one closed without a merge, or
    // not a release branch, deploys nothing (a workflow `if:` may not have said so).
    if let (Some((n, merged, head)), "deploy", None) = (&pr_event, command.as_str(), &inputs.env) {
        let msg = if *merged {
            format!(
                "pull request #{n} (`{head}`) is not a `release/<service>/<env>` branch; nothing to deploy"
            )
        } else {
            format!("pull request #{n} was closed without a merge; nothing to deploy")
        };
        action::notice(&msg);
        println!("{msg}");
        let mut out = Outputs::default();
        out.set("deployed", false);
        return Ok(out);
    }
    let known = [
        "status",
        "resolve",
        "set-image",
        "codeowners",
        "retag",
        "release",
        "promote",
        "deploy",
        "rollback",
    ];
    if !known.contains(&command.as_str()) {
        return Err(UserError::new(format!("unknown command `{command}`"))
            .hint(format!(
                "the `command` input is one of {}",
                known.map(|k| format!("`{k}`")).join(", ")
            ))
            .into());
    }
    let cx = Context::load(inputs)?;
    match command.as_str() {
        "status" => status(&cx),
        "resolve" => resolve(&cx),
        "set-image" => set_image(&cx),
        "retag" => release::retag(&cx).await,
        "release" => release::release(&cx).await,
        "promote" => release::promote(&cx).await,
        "deploy" => release::deploy(&cx).await,
        "rollback" => release::rollback(&cx).await,
        _ => codeowners(&cx),
    }
}

// ---------------------------------------------------------------------------
// status

#[derive(Debug, Serialize)]
struct StatusReport {
    environments: Vec<String>,
    services: Vec<ServiceStatus>,
}

#[derive(Debug, Serialize)]
struct ServiceStatus {
    name: String,
    image: String,
    deployed: BTreeMap<String, Option<Deployed>>,
    drift: Vec<Drift>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
struct Deployed {
    tag: Option<String>,
    digest: Option<String>,
    /// The commit the tag was made from, when the tag template says.
    #[serde(skip_serializing_if = "Option::is_none")]
    sha: Option<String>,
    file: String,
    line: usize,
}

#[derive(Debug, Serialize)]
struct Drift {
    from: String,
    to: String,
    /// `in-sync`, `ahead`, `missing` or `differs`.
    state: &'static str,
    /// Commits by which `from` is ahead of `to`, when both commits are known locally.
    #[serde(skip_serializing_if = "Option::is_none")]
    ahead: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compare_url: Option<String>,
}

fn status(cx: &Context) -> anyhow::Result<Outputs> {
    let format = Format::parse(
        cx.inputs.format.as_deref(),
        &[Format::Text, Format::Table, Format::Json, Format::Markdown],
    )?;
    let envs = &cx.config.environments;
    // One parse per overlay, then lookups: status stays linear in services × envs.
    let mut by_env: Vec<BTreeMap<String, Deployed>> = Vec::new();
    let mut discovered: Vec<String> = Vec::new();
    for env in envs {
        let path = env.kustomization(&cx.root);
        let rel = cx.rel(&path);
        let mut map = BTreeMap::new();
        if let Some(text) = crate::error::read_user_file(&path, &rel)? {
            for entry in overlay::read_images(&rel, &text)? {
                let image = entry.image().to_string();
                if !discovered.contains(&image) {
                    discovered.push(image.clone());
                }
                let sha = entry
                    .new_tag
                    .as_deref()
                    .and_then(|t| env.tag.parse_tag(t))
                    .and_then(|p| p.sha.or(p.sha7));
                map.insert(
                    image,
                    Deployed {
                        tag: entry.new_tag.clone(),
                        digest: entry.digest.clone(),
                        sha,
                        file: rel.display().to_string(),
                        line: entry.line,
                    },
                );
            }
        }
        by_env.push(map);
    }
    let services: Vec<(String, String)> = if cx.config.services.is_empty() {
        discovered
            .iter()
            .map(|i| (i.rsplit('/').next().unwrap_or(i).to_string(), i.clone()))
            .collect()
    } else {
        cx.config
            .services
            .iter()
            .map(|s| (s.name.clone(), s.image.clone()))
            .collect()
    };
    let repo = crate::git::open_foreign_owned(&cx.root).ok();
    let web = compare_base();
    let mut report = StatusReport {
        environments: envs.iter().map(|e| e.name.clone()).collect(),
        services: vec![],
    };
    for (name, image) in services {
        let mut deployed = BTreeMap::new();
        for (env, map) in envs.iter().zip(&by_env) {
            deployed.insert(env.name.clone(), map.get(&image).cloned());
        }
        let mut drift = Vec::new();
        for env in envs {
            let Some(next) = cx.config.next_of(&env.name) else {
                continue;
            };
            let (a, b) = (deployed[&env.name].as_ref(), deployed[&next.name].as_ref());
            let (state, ahead, compare_url) = match (a, b) {
                (None, _) => continue,
                (Some(_), None) => ("missing", None, None),
                (Some(a), Some(b)) if a.digest.is_some() && a.digest == b.digest => {
                    ("in-sync", Some(0), None)
                }
                (Some(a), Some(b)) if a.digest.is_none() && a.tag == b.tag => {
                    ("in-sync", Some(0), None)
                }
                (Some(a), Some(b)) => match (&a.sha, &b.sha) {
                    (Some(sa), Some(sb)) if sa == sb => ("in-sync", Some(0), None),
                    (Some(sa), Some(sb)) => {
                        let ahead = repo.as_ref().and_then(|r| commits_ahead(r, sa, sb));
                        let url = web.as_ref().map(|w| format!("{w}/compare/{sb}...{sa}"));
                        (
                            if ahead.is_some() { "ahead" } else { "differs" },
                            ahead,
                            url,
                        )
                    }
                    _ => ("differs", None, None),
                },
            };
            drift.push(Drift {
                from: env.name.clone(),
                to: next.name.clone(),
                state,
                ahead,
                compare_url,
            });
        }
        report.services.push(ServiceStatus {
            name,
            image,
            deployed,
            drift,
        });
    }

    let mut out = Outputs {
        summary: status_markdown(&report),
        ..Outputs::default()
    };
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Markdown => print!("{}", out.summary),
        Format::Text | Format::Table => print!("{}", status_table(&report)),
    }
    out.set("status", serde_json::to_string(&report)?);
    Ok(out)
}

fn short(d: &Deployed) -> String {
    match (&d.tag, &d.digest) {
        (Some(t), Some(g)) => format!("{t}@{}", &g[..g.len().min(19)]),
        (Some(t), None) => t.clone(),
        (None, Some(g)) => format!("@{}", &g[..g.len().min(19)]),
        (None, None) => "(no tag)".into(),
    }
}

fn status_table(r: &StatusReport) -> String {
    let mut rows: Vec<Vec<String>> = vec![];
    let mut header = vec!["SERVICE".to_string()];
    header.extend(r.environments.iter().map(|e| e.to_uppercase()));
    header.push("DRIFT".into());
    rows.push(header);
    for s in &r.services {
        let mut row = vec![s.name.clone()];
        for e in &r.environments {
            row.push(
                s.deployed[e]
                    .as_ref()
                    .map(short)
                    .unwrap_or_else(|| "-".into()),
            );
        }
        row.push(drift_text(&s.drift));
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if r.services.is_empty() {
        out.push_str("(no images in any overlay)\n");
    }
    out
}

fn drift_text(drift: &[Drift]) -> String {
    let parts: Vec<String> = drift
        .iter()
        .filter(|d| d.state != "in-sync")
        .map(|d| match (d.state, d.ahead) {
            ("ahead", Some(n)) => format!("{}→{} +{n}", d.from, d.to),
            ("missing", _) => format!("{}→{} not deployed", d.from, d.to),
            _ => format!("{}→{} differs", d.from, d.to),
        })
        .collect();
    if parts.is_empty() {
        "in sync".into()
    } else {
        parts.join(", ")
    }
}

fn status_markdown(r: &StatusReport) -> String {
    let mut out = String::from("### Deployed versions\n\n| Service |");
    for e in &r.environments {
        out.push_str(&format!(" {e} |"));
    }
    out.push_str(" Drift |\n|---|");
    for _ in &r.environments {
        out.push_str("---|");
    }
    out.push_str("---|\n");
    for s in &r.services {
        out.push_str(&format!("| `{}` |", s.name));
        for e in &r.environments {
            match &s.deployed[e] {
                Some(d) => out.push_str(&format!(" `{}` |", short(d))),
                None => out.push_str(" – |"),
            }
        }
        let links: Vec<String> = s
            .drift
            .iter()
            .filter(|d| d.state != "in-sync")
            .map(|d| match &d.compare_url {
                Some(u) => format!("[{}]({u})", drift_text(std::slice::from_ref(d))),
                None => drift_text(std::slice::from_ref(d)),
            })
            .collect();
        out.push_str(&format!(
            " {} |\n",
            if links.is_empty() {
                "in sync".into()
            } else {
                links.join("<br>")
            }
        ));
    }
    out
}

/// Commits reachable from `from` but not from `to`, if both are in the local clone.
fn commits_ahead(repo: &git2::Repository, from: &str, to: &str) -> Option<usize> {
    let a = repo.revparse_single(from).ok()?.peel_to_commit().ok()?.id();
    let b = repo.revparse_single(to).ok()?.peel_to_commit().ok()?.id();
    repo.graph_ahead_behind(a, b).ok().map(|(ahead, _)| ahead)
}

/// `https://github.com/owner/repo`, when the runner tells us the repository.
fn compare_base() -> Option<String> {
    let repo = std::env::var("GITHUB_REPOSITORY")
        .ok()
        .filter(|r| !r.is_empty())?;
    let server = std::env::var("GITHUB_SERVER_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "https://github.com".into());
    Some(format!("{}/{repo}", server.trim_end_matches('/')))
}

// ---------------------------------------------------------------------------
// resolve

#[derive(Debug, Serialize)]
struct Resolved {
    #[serde(rename = "ref")]
    git_ref: String,
    kind: &'static str,
    sha: String,
    timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    environments: Vec<ResolvedEnv>,
}

#[derive(Debug, Serialize)]
struct ResolvedEnv {
    name: String,
    /// The pattern that selected the ref.
    pattern: String,
    tag_template: String,
    /// Service name -> tag.
    tags: BTreeMap<String, String>,
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

/// The tag variables for a commit released to `env` from `r`.
pub fn tag_vars(
    env: &Environment,
    r: Option<&GitRef>,
    commit: &Commit,
    version: Option<&str>,
) -> Result<TagVars, UserError> {
    let version = match version {
        Some(v) => Some(
            tag::parse_semver_tag(v)
                .ok_or_else(|| {
                    UserError::new(format!("version `{v}` is not SemVer"))
                        .hint("give a version such as `1.2.3` or `v1.3.0-beta1`")
                })?
                .to_string(),
        ),
        None => match r {
            Some(GitRef::Tag(t)) => tag::parse_semver_tag(t).map(|v| v.to_string()),
            _ => None,
        },
    };
    let branch = match r {
        Some(GitRef::Branch(b)) => Some(b.clone()),
        _ => None,
    };
    Ok(TagVars {
        env: env.name.clone(),
        branch,
        sha: commit.sha.clone(),
        timestamp: commit.timestamp,
        version,
    })
}

fn resolve(cx: &Context) -> anyhow::Result<Outputs> {
    let format = Format::parse(cx.inputs.format.as_deref(), &[Format::Text, Format::Json])?;
    let ref_name = cx
        .inputs
        .git_ref
        .clone()
        .or_else(|| std::env::var("GITHUB_REF").ok().filter(|s| !s.is_empty()))
        .ok_or_else(|| {
            UserError::new("no ref to resolve")
                .hint("pass `--ref refs/heads/<branch>` or `--ref refs/tags/<tag>`")
        })?;
    let r = GitRef::parse_input(&ref_name)?;
    let commit = commit_of(&cx.root, cx.inputs.sha.as_deref())?;
    let services: Vec<config::Service> = match &cx.inputs.service {
        Some(s) => vec![cx.config.service(s)?],
        None => cx.config.services.clone(),
    };
    let mut resolved = Resolved {
        git_ref: ref_name.clone(),
        kind: r.kind(),
        sha: commit.sha.clone(),
        timestamp: commit.timestamp,
        version: match &r {
            GitRef::Tag(t) => tag::parse_semver_tag(t).map(|v| v.to_string()),
            _ => None,
        },
        environments: vec![],
    };
    for (env, pattern) in environments_for(&cx.config, &r) {
        let vars = tag_vars(env, Some(&r), &commit, cx.inputs.version.as_deref())?;
        let tag = env.tag.format(&vars).map_err(|m| {
            UserError::new(format!("environment `{}`: {m}", env.name))
                .hint("pass `--version` for `{version}` templates")
        })?;
        let tags = services
            .iter()
            .map(|s| (s.name.clone(), tag.clone()))
            .collect();
        resolved.environments.push(ResolvedEnv {
            name: env.name.clone(),
            pattern,
            tag_template: env.tag.to_string(),
            tags: tags_or_any(tags, &tag),
        });
    }
    if resolved.environments.is_empty() {
        action::notice(&format!(
            "{} `{}` maps to no environment: nothing to release",
            r.kind(),
            r.name()
        ));
    }
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&resolved)?),
        _ => {
            for e in &resolved.environments {
                let tag = e.tags.values().next().cloned().unwrap_or_default();
                println!("{}\t{}\t(matched `{}`)", e.name, tag, e.pattern);
            }
        }
    }
    let mut out = Outputs::default();
    out.set(
        "environments",
        resolved
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(","),
    );
    if let Some(first) = resolved.environments.first() {
        out.set("env", &first.name);
        out.set(
            "tag",
            first.tags.values().next().cloned().unwrap_or_default(),
        );
    }
    out.set("sha", &resolved.sha);
    Ok(out)
}

/// With no service declared, the tag is the same for any: key it by `*`.
fn tags_or_any(tags: BTreeMap<String, String>, tag: &str) -> BTreeMap<String, String> {
    if tags.is_empty() {
        BTreeMap::from([("*".to_string(), tag.to_string())])
    } else {
        tags
    }
}

// ---------------------------------------------------------------------------
// set-image

/// The result of editing one overlay.
#[derive(Debug, Clone)]
pub struct OverlayChange {
    pub path: PathBuf,
    pub before: Option<overlay::ImageEntry>,
    pub text_before: String,
    pub text_after: Option<String>,
}

/// Read, edit and (unless dry-run) atomically write an environment's overlay.
pub fn edit_overlay(
    cx: &Context,
    env: &Environment,
    image: &str,
    tag: Option<&str>,
    digest: Option<&str>,
    write: bool,
) -> anyhow::Result<OverlayChange> {
    let path = env.kustomization(&cx.root);
    let rel = cx.rel(&path);
    let text = match crate::error::read_user_file(&path, &rel)? {
        Some(t) => t,
        None => {
            return Err(UserError::new(format!("overlay `{}` does not exist", rel.display()))
                .hint(format!(
                    "create `{}` (with `resources:` pointing at your base), or set `overlay:` for environment `{}`",
                    rel.display(),
                    env.name
                ))
                .into());
        }
    };
    let edit = overlay::set_image(&rel, &text, &overlay::SetImage { image, tag, digest })?;
    match edit {
        overlay::Edit::Unchanged => {
            let before = overlay::find_image(&rel, &text, image)?;
            Ok(OverlayChange {
                path: rel,
                before,
                text_before: text,
                text_after: None,
            })
        }
        overlay::Edit::Changed { text: new, before } => {
            if write {
                overlay::write_atomic(&path, new.as_bytes())
                    .with_context(|| format!("writing `{}`", rel.display()))?;
            }
            Ok(OverlayChange {
                path: rel,
                before,
                text_before: text,
                text_after: Some(new),
            })
        }
    }
}

fn set_image(cx: &Context) -> anyhow::Result<Outputs> {
    let env = cx.config.environment(cx.required(&cx.inputs.env, "env")?)?;
    let service = cx
        .config
        .service(cx.required(&cx.inputs.service, "service")?)?;
    let (tag, digest) = (cx.inputs.tag.as_deref(), cx.inputs.digest.as_deref());
    if tag.is_none() && digest.is_none() {
        return Err(
            UserError::new("`set-image` needs `--tag`, `--digest` or both")
                .hint("e.g. `--tag v1.2.3 --digest sha256:…`")
                .into(),
        );
    }
    let change = edit_overlay(cx, env, &service.image, tag, digest, !cx.dry_run)?;
    let mut out = Outputs::default();
    out.set("env", &env.name);
    out.set("image", &service.image);
    out.set("changed", change.text_after.is_some());
    if let Some(t) = tag {
        out.set("tag", t);
    }
    if let Some(d) = digest {
        out.set("digest", d);
    }
    let old = change
        .before
        .as_ref()
        .and_then(|b| b.new_tag.clone())
        .unwrap_or_else(|| "(none)".into());
    let new = tag
        .map(str::to_string)
        .or_else(|| change.before.as_ref().and_then(|b| b.new_tag.clone()))
        .unwrap_or_default();
    match &change.text_after {
        None => println!(
            "{}: unchanged ({} already at `{}`)",
            change.path.display(),
            service.name,
            old
        ),
        Some(after) => {
            if cx.dry_run {
                print!(
                    "{}",
                    overlay::unified_diff(
                        &change.path.display().to_string(),
                        &change.text_before,
                        after
                    )
                );
                println!(
                    "dry run: would update {}: {} `{old}` → `{new}`",
                    change.path.display(),
                    service.name
                );
            } else {
                println!(
                    "updated {}: {} `{old}` → `{new}`",
                    change.path.display(),
                    service.name
                );
            }
            out.summary = format!("`{}` in `{}`: `{old}` → `{new}`\n", service.name, env.name);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// codeowners

fn codeowners(cx: &Context) -> anyhow::Result<Outputs> {
    let mut lines = vec!["# Generated by `gitops-action codeowners`: the reviewers of each environment own its overlay.".to_string()];
    for env in &cx.config.environments {
        if env.reviewers.is_empty() {
            continue;
        }
        let owners: Vec<String> = env.reviewers.iter().map(|r| format!("@{r}")).collect();
        lines.push(format!(
            "/{}/ {}",
            env.overlay.display().to_string().trim_matches('/'),
            owners.join(" ")
        ));
    }
    let wanted = lines.join("\n") + "\n";
    let check = Inputs::flag(&cx.inputs.check, "check")?;
    let mut out = Outputs::default();
    if !check {
        print!("{wanted}");
        return Ok(out);
    }
    let candidates = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];
    let found = candidates
        .iter()
        .map(|c| cx.root.join(c))
        .find(|p| p.exists());
    let Some(path) = found else {
        return Err(UserError::new("no CODEOWNERS file")
            .hint("write the lines `gitops-action codeowners` prints to `.github/CODEOWNERS`")
            .into());
    };
    let text = crate::error::read_user_file(&path, &cx.rel(&path))?.unwrap_or_default();
    let have: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let missing: Vec<&String> = lines
        .iter()
        .skip(1)
        .filter(|l| !have.iter().any(|h| normalize(h) == normalize(l)))
        .collect();
    out.set("changed", !missing.is_empty());
    if missing.is_empty() {
        println!(
            "{}: every environment's reviewers own its overlay",
            cx.rel(&path).display()
        );
        return Ok(out);
    }
    Err(UserError::many(
        missing
            .iter()
            .map(|m| crate::error::Diagnostic {
                location: None,
                message: format!("`{}` lacks the line `{m}`", cx.rel(&path).display()),
            })
            .collect(),
    )
    .hint("run `gitops-action codeowners` and copy its lines into CODEOWNERS")
    .into())
}

fn normalize(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}
