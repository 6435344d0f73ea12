//! The commit a release is of, and its SemVer version, when the checkout is the one
//! `actions/checkout` makes by default: depth 1, no tags, and for a `ref:` input the
//! ref's tip rather than `GITHUB_SHA`.
//!
//! Sources: actions/checkout src/input-helper.ts `getInputs` and src/ref-helper.ts
//! `getRefSpec`/`getCheckoutInfo` (a `ref:` that is a branch or tag name is fetched
//! and checked out at its current tip; a 40-hex `ref:` is fetched by sha); docs
//! "Events that trigger workflows", workflow_dispatch (`GITHUB_SHA` is the tip of the
//! branch chosen in "Use workflow from", not of the `ref` input).

use super::inputs::git_options;
use crate::context::{self, Commit, Context, version_of_commit};
use crate::error::UserError;
use crate::git::{Workspace, open_foreign_owned};
use crate::inputs::RefInputs;
use crate::tag;

/// The commit of a release: the `sha` input; else the commit of the `ref` input (the
/// checkout's when it is checked out at that ref, else the ref's tip on the remote,
/// fetched into a private repository); `GITHUB_SHA` (then HEAD) only when no ref is
/// given. A commit the checkout lacks is fetched by sha, privately.
pub(crate) fn release_commit(cx: &Context, refs: &RefInputs) -> anyhow::Result<Commit> {
    if let Some(sha) = refs.sha.as_deref().filter(|s| !s.is_empty()) {
        return commit_by_sha(cx, Some(sha));
    }
    let Some(input) = refs.git_ref.as_deref().filter(|r| !r.is_empty()) else {
        return commit_by_sha(cx, None);
    };
    if is_full_sha(input) {
        return commit_by_sha(cx, Some(input));
    }
    // Like actions/checkout: a bare name is a branch, else a tag (getCheckoutInfo).
    let candidates: Vec<String> = if input.starts_with("refs/") {
        vec![input.to_string()]
    } else {
        vec![format!("refs/heads/{input}"), format!("refs/tags/{input}")]
    };
    if let Ok(repo) = open_foreign_owned(&cx.root)
        && let Some(head) = checked_out_at(&repo, &candidates)
    {
        return context::commit_of(&cx.root, Some(&head));
    }
    let Some(ws) = remote(cx)? else {
        // No checkout and no remote known (a local run outside Actions).
        return context::commit_of(&cx.root, None);
    };
    for c in &candidates {
        if let Some((sha, time)) = ws.fetch_commit(c)? {
            println!(
                "`{input}` is not checked out here; releasing its tip on the remote, {}",
                &sha[..7]
            );
            return with_epoch(sha, time);
        }
    }
    Err(UserError::new(format!(
        "ref `{input}` is neither checked out here nor on `{}`",
        ws.remote_display()
    ))
    .hint("push the branch or tag first, or give a ref that exists (`ref` input)")
    .into())
}

/// `sha` (default `GITHUB_SHA`, then HEAD) from the checkout, else fetched by sha
/// into a private repository: GitHub serves any reachable commit by sha.
fn commit_by_sha(cx: &Context, sha: Option<&str>) -> anyhow::Result<Commit> {
    let sha = sha
        .map(str::to_string)
        .or_else(|| super::env_var("GITHUB_SHA"));
    let local = open_foreign_owned(&cx.root).ok().is_some_and(|r| {
        sha.as_deref().is_none_or(|s| {
            r.revparse_single(s)
                .and_then(|o| o.peel_to_commit())
                .is_ok()
        })
    });
    let epoch_given = super::env_var("SOURCE_DATE_EPOCH").is_some();
    match sha {
        Some(s) if !local && !epoch_given && is_full_sha(&s) => match remote(cx)? {
            Some(ws) => {
                let (sha, time) = ws.fetch_commit(&s.to_ascii_lowercase())?.ok_or_else(|| {
                    UserError::new(format!("commit `{s}` is not on `{}`", ws.remote_display()))
                        .hint("push the commit, or pass the sha of one the remote has")
                })?;
                with_epoch(sha, time)
            }
            None => context::commit_of(&cx.root, Some(&s)),
        },
        s => context::commit_of(&cx.root, s.as_deref()),
    }
}

/// The highest SemVer tag on `sha`: the checkout's tags, else the remote's (one
/// `ls-remote`), since a default checkout has none.
pub(crate) fn version_of(cx: &Context, sha: &str) -> anyhow::Result<Option<String>> {
    if let Some(v) = version_of_commit(&cx.root, sha) {
        return Ok(Some(v));
    }
    let Some(ws) = remote_if_known(cx)? else {
        return Ok(None);
    };
    Ok(ws
        .tags_at(sha)?
        .iter()
        .filter_map(|t| tag::parse_semver_tag(t))
        .max()
        .map(|v| v.to_string()))
}

/// The remote, for fetching into a private repository; `None` when the workspace is
/// no git checkout and no remote is known from the environment.
fn remote(cx: &Context) -> anyhow::Result<Option<Workspace>> {
    match Workspace::open(&git_options(cx)?) {
        Ok(ws) => Ok(Some(ws)),
        Err(_) if open_foreign_owned(&cx.root).is_err() => Ok(None),
        Err(e) => Err(e),
    }
}

/// [`remote`], and `None` too for a checkout without a known remote: for a lookup
/// that may find nothing (a version tag), not for the commit itself.
fn remote_if_known(cx: &Context) -> anyhow::Result<Option<Workspace>> {
    match remote(cx) {
        Err(e) if e.downcast_ref::<UserError>().is_some() => Ok(None),
        r => r,
    }
}

/// HEAD, when the checkout is at one of `refs`: on that local branch, at the remote
/// branch's fetched tip, or at the tag.
fn checked_out_at(repo: &git2::Repository, refs: &[String]) -> Option<String> {
    let head = repo.head().ok()?;
    let at = head.peel_to_commit().ok()?.id();
    let peeled = |name: &str| {
        repo.find_reference(name)
            .and_then(|r| r.peel_to_commit())
            .map(|c| c.id())
            .ok()
    };
    refs.iter()
        .any(|r| {
            if head.name().ok() == Some(r.as_str()) {
                return true;
            }
            if let Some(b) = r.strip_prefix("refs/heads/") {
                return peeled(&format!("refs/remotes/origin/{b}")) == Some(at);
            }
            peeled(r) == Some(at)
        })
        .then(|| at.to_string())
}

fn with_epoch(sha: String, time: i64) -> anyhow::Result<Commit> {
    let timestamp = match super::env_var("SOURCE_DATE_EPOCH") {
        Some(v) => v.parse::<i64>().map_err(|_| {
            UserError::new(format!(
                "`SOURCE_DATE_EPOCH` is `{v}`, not a number of seconds"
            ))
            .hint("set it to a Unix timestamp, e.g. `$(git log -1 --format=%ct)`, or unset it")
        })?,
        None => time,
    };
    Ok(Commit { sha, timestamp })
}

fn is_full_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
