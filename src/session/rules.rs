//! The rules that decide who may release and how (`allowed`,
//! `merge`, `allow-direct`, `reviewers`, `image`, the environment map) are read
//! from the base branch tip, not from the checkout of the ref being released.
//! Anyone who can push a branch writes that checkout; a branch whose own config
//! dropped prod's `allowed:`, mapped itself to prod and asked `merge: immediate`
//! would otherwise release to prod for someone the rule refuses. The ref supplies
//! only what is built from it (its code, its commit); overlays are edited at the
//! base tip already.

use crate::config::{self, Config};
use crate::context::Context;
use crate::error::UserError;
use crate::git::Workspace;
use std::path::Path;

use super::CommitVia;
use super::inputs::git_options;
use super::{Repo, env_var};
use crate::github::{GitHub, History, HistoryFrom};

/// The workspace and base opened here, with the tip just fetched, handed to the
/// session so the run opens and proves the remote once, as before (no extra
/// round trips for reading the rules).
pub(crate) static OPENED: std::sync::Mutex<Option<(Repo, String)>> = std::sync::Mutex::new(None);

/// `commit-via: api`: the client that read the rules (its calls count toward the
/// run's), and the base branch the API named, handed to the session likewise.
pub(crate) static API_CLIENT: std::sync::Mutex<Option<GitHub>> = std::sync::Mutex::new(None);
pub(crate) static API_BASE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// The files a command will edit and its release branch, as the checkout's config
/// names them: read in the rules' own query, so a release makes one read, not two.
/// Only a guess of what to read: the rules still come from the base, and the read
/// is used only where the base's config names the very same files and branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Guess {
    pub paths: Vec<String>,
    pub head: Option<String>,
    /// The history to read for the PR's commit list (kept in [`HISTORY`]).
    pub history: Option<HistoryFrom>,
}

/// The newest commits of the history the rules' read asked for, and the
/// repository they are of: the release PR's commit list is cut from them where
/// they tell it exactly, instead of a compare request ([`History::between`]).
pub(crate) static HISTORY: std::sync::Mutex<Option<(String, History)>> =
    std::sync::Mutex::new(None);

/// The commits of `old..new` in `repo` from the rules' read, where it can tell.
pub(crate) fn history_between(
    repo: &str,
    old: &str,
    new: &str,
) -> Option<Vec<crate::github::HistoryCommit>> {
    let slot = HISTORY.lock().unwrap_or_else(|p| p.into_inner());
    let (of, h) = slot.as_ref()?;
    if !of.eq_ignore_ascii_case(repo) {
        return None;
    }
    h.between(old, new)
}

/// The rules' read with the guessed files and branch, for
/// [`super::Session::read_target_first`].
pub(crate) static EARLY: std::sync::Mutex<Option<(Guess, crate::github::Branches)>> =
    std::sync::Mutex::new(None);

/// The config at the base branch tip, for a command that writes (not `--dry-run`,
/// which plans from the checkout, and not without a repository to publish to).
/// `None` when the checkout's config is to be used.
pub(crate) async fn rules_from_base(cx: &Context) -> anyhow::Result<Option<Config>> {
    rules_and_targets(cx, None).await
}

/// [`rules_from_base`], reading `guess`'s files and branch in the same query
/// (`commit-via: api`).
pub(crate) async fn rules_and_targets(
    cx: &Context,
    guess: Option<Guess>,
) -> anyhow::Result<Option<Config>> {
    if cx.config_elsewhere() {
        return rules_from_config_repo(cx, guess).await.map(Some);
    }
    if cx.dry_run || env_var("GITHUB_REPOSITORY").is_none() {
        return Ok(None);
    }
    let (path, explicit) = match cx.inputs.config.as_deref() {
        Some(c) => (Path::new(c).to_path_buf(), true),
        None => (Path::new(config::DEFAULT_CONFIG).to_path_buf(), false),
    };
    // An absolute `config` is the operator's own file, outside the repository.
    if path.is_absolute() {
        return Ok(None);
    }
    let rel = path.to_string_lossy().replace('\\', "/");
    let rel = rel.trim_start_matches("./").to_string();
    if CommitVia::of(cx)? == CommitVia::Api {
        // Through the API: one query, no fetch and no git credentials.
        // (`GITHUB_REPOSITORY` is set: checked above.)
        let Some(gh) = super::github_client(cx)? else {
            return Ok(None);
        };
        let read = read_rules(&gh, cx, &rel, guess).await?;
        let tip = read.base_oid.clone();
        let config = parse_at(
            cx,
            &path,
            explicit,
            &read.base,
            &tip,
            read.config.clone().map(|f| f.text),
        )?;
        *API_BASE.lock().unwrap_or_else(|p| p.into_inner()) = Some(read.base);
        *API_CLIENT.lock().unwrap_or_else(|p| p.into_inner()) = Some(gh);
        return Ok(Some(config));
    }
    let ws = Workspace::open(&git_options(cx)?)?;
    let base = ws.base_branch(cx.inputs.base.as_deref())?;
    let tip = ws.fetch_branch(&base)?.ok_or_else(|| {
        UserError::new(format!(
            "base branch `{base}` does not exist on {}",
            ws.remote_display()
        ))
        .hint("set the `base` input to an existing branch")
    })?;
    let text = ws.read_at(&tip, &rel)?;
    let config = parse_at(cx, &path, explicit, &base, &tip, text)?;
    *OPENED.lock().unwrap_or_else(|p| p.into_inner()) = Some((Repo { ws, base }, tip));
    Ok(Some(config))
}

/// With `config-repository`: the config of that repository's default branch (or
/// `base`), read through the API with `token`, and never the checkout's. A dry run
/// reads it too (it plans from the real rules); there is no default config here, as
/// a config repository without one is a mistake to name.
async fn rules_from_config_repo(cx: &Context, guess: Option<Guess>) -> anyhow::Result<Config> {
    let repo = cx
        .config_repo()
        .expect("config elsewhere names the repository");
    if CommitVia::of(cx)? == CommitVia::Git {
        return Err(UserError::new(format!(
            "`commit-via: git` can't release into the config repository `{repo}`: the checkout is the code's, and the config repository is written through the API"
        ))
        .hint("drop `commit-via`, `author` and `committer`: commits to a config repository are made by GitHub through the API (and signed)")
        .into());
    }
    let path = match cx.inputs.config.as_deref() {
        Some(c) if c.is_absolute() => {
            return Err(UserError::new(format!(
                "`config` is `{}`, a file outside any repository, but the rules of a release into `{repo}` come from that repository",
                c.display()
            ))
            .hint("drop `config`, or give a path inside the config repository")
            .into());
        }
        Some(c) => c.to_path_buf(),
        None => Path::new(config::DEFAULT_CONFIG).to_path_buf(),
    };
    let rel = path.to_string_lossy().replace('\\', "/");
    let rel = rel.trim_start_matches("./").to_string();
    let gh = super::github_client(cx)?.ok_or_else(|| {
        UserError::new(format!(
            "no GitHub client for the config repository `{repo}`"
        ))
        .hint("run inside GitHub Actions, or set `GITHUB_API_URL` and a token")
    })?;
    let read = read_rules(&gh, cx, &rel, guess)
        .await
        .map_err(|e| super::cross::cannot_reach(&repo, e))?;
    let Some(file) = read.config.as_ref().map(|f| f.text.clone()) else {
        return Err(UserError::new(format!(
            "the config repository `{repo}` has no `{rel}` on `{}`",
            read.base
        ))
        .hint(format!(
            "commit the config (services, environments, where each version lives) to `{rel}` on `{}` of `{repo}`, or fix `config-repository`",
            read.base
        ))
        .into());
    };
    let config = config::parse(&cx.root, &path, &file, config::owner_from_env()).map_err(|e| {
        e.hint(format!(
            "the rules are read from `{repo}` at `{}` ({}); fix the config there",
            read.base,
            &read.base_oid[..read.base_oid.len().min(7)]
        ))
    })?;
    println!(
        "rules and targets: `{repo}` at `{}` ({})",
        read.base,
        &read.base_oid[..read.base_oid.len().min(7)]
    );
    *API_BASE.lock().unwrap_or_else(|p| p.into_inner()) = Some(read.base);
    *API_CLIENT.lock().unwrap_or_else(|p| p.into_inner()) = Some(gh);
    Ok(config)
}

/// One query: the base tip with the config at `rel`, and `guess`'s files and
/// release branch when there is a guess (kept in [`EARLY`] for the release).
async fn read_rules(
    gh: &GitHub,
    cx: &Context,
    rel: &str,
    guess: Option<Guess>,
) -> anyhow::Result<crate::github::Branches> {
    let base = cx.inputs.base.as_deref();
    let plain = async || {
        let mut r = gh.read_branches(base, None, rel, None).await?;
        r.config = r.file.clone();
        anyhow::Ok(r)
    };
    let Some(g) = guess.filter(|g| !g.paths.is_empty() && !g.paths.iter().any(|p| p == rel)) else {
        return plain().await;
    };
    let paths: Vec<&str> = g.paths.iter().map(String::as_str).collect();
    match gh
        .read_branches_with(
            base,
            g.head.as_deref(),
            &paths,
            Some(rel),
            g.history.as_ref(),
        )
        .await
    {
        Ok(read) => {
            if let Some(h) = &read.history {
                *HISTORY.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((gh.repository(), h.clone()));
            }
            *EARLY.lock().unwrap_or_else(|p| p.into_inner()) = Some((g, read.clone()));
            Ok(read)
        }
        // A guessed file the base holds as a link or too large: the checkout's
        // guess must not decide the rules' read; read them alone (the release
        // then meets the file, or not, as the base's config says).
        Err(e) if e.downcast_ref::<UserError>().is_some() => plain().await,
        Err(e) => Err(e),
    }
}

/// The rules' read narrowed to `paths` (see [`crate::github::Branches::only`]),
/// where it read them all; with `head` (`Some`): only where it read that release
/// branch too. `take`: the read is used up (a commit's first round takes it).
pub(crate) fn early_read(
    paths: &[String],
    head: Option<Option<&str>>,
    take: bool,
) -> Option<crate::github::Branches> {
    let mut slot = EARLY.lock().unwrap_or_else(|p| p.into_inner());
    let (g, read) = slot.as_ref()?;
    if head.is_some_and(|h| h != g.head.as_deref()) {
        return None;
    }
    let narrowed = read.only(&g.paths, paths)?;
    if take {
        *slot = None;
    }
    Some(narrowed)
}

/// The config read at the base tip `tip` of `base` (`None`: no such file there).
pub(crate) fn parse_at(
    cx: &Context,
    path: &Path,
    explicit: bool,
    base: &str,
    tip: &str,
    text: Option<String>,
) -> anyhow::Result<Config> {
    let owner = config::owner_from_env();
    Ok(match text {
        Some(text) => config::parse(&cx.root, path, &text, owner).map_err(|e| {
            let hint = format!(
                "the rules are read from `{base}` ({}); fix the config there",
                &tip[..tip.len().min(7)]
            );
            e.hint(hint)
        })?,
        None if !explicit => config::default_config(&cx.root, owner),
        None => {
            return Err(UserError::new(format!(
                "config file `{}` does not exist on the base branch `{base}`",
                path.display()
            ))
            .hint("the rules of a release are read from the base branch: merge the config there first")
            .into());
        }
    })
}
