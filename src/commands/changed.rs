//! `changed`: the services whose `paths:` a change touched, as a JSON array for a
//! workflow's `strategy.matrix` (`fromJSON(needs.changed.outputs.services)`).
//!
//! The change comes from the event, as GitHub's own views of it do: a `push` is
//! `before`..`after`; a new branch (`before` all zeros) is compared with the
//! default branch from their merge base; a `pull_request` is base...head from the
//! merge base (the three-dot compare of the PR's "Files changed"); otherwise the
//! `from` and `to` inputs. The payload is untrusted: a commit that is not a sha is
//! exit 2.
//!
//! The files are read where they cost nothing: when the checkout holds both
//! commits the trees are compared with libgit2 and no request is sent; on a
//! depth-1 checkout GitHub is asked (`github/compare.rs`: one request, three past
//! 300 files). The services and their `paths:` are the base branch's, as every
//! rule is (`session/rules.rs`): read from the checkout when the push is to the
//! base branch or the base tip is in it, else asked of the remote.

use std::path::Path;

use git2::{Oid, Repository};

use crate::action::{self, Outputs};
use crate::config::{self, Config, PathMatcher};
use crate::context::*;
use crate::error::UserError;
use crate::inputs::{Changed, Format};

/// The change to look at, from the inputs or the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Range {
    /// A commit, or a branch name (a new branch's default branch).
    pub(crate) from: String,
    pub(crate) to: String,
    /// `push`, `new branch`, `pull request`, `from/to`.
    pub(crate) kind: &'static str,
    /// The branch whose rules apply, when the event names it.
    pub(crate) base: Option<String>,
    /// The base branch's own tip commit, when the event says (a PR's `base.sha`).
    pub(crate) base_sha: Option<String>,
    /// The push went to the base branch: the checkout's config is the base's.
    pub(crate) to_is_base: bool,
    /// Every service changed (a repository's first push: nothing to compare with).
    pub(crate) everything: bool,
}

pub(crate) async fn changed(cx: &Context, inputs: &Changed) -> anyhow::Result<Outputs> {
    let event = action::event_payload()?;
    let Some(range) = range(inputs, event.as_ref().map(|(n, p)| (n.as_str(), p)))? else {
        // A deleted branch: nothing to build.
        println!("the branch was deleted: no service changed");
        return Ok(report(&[], &[], None, "branch deleted", inputs.format));
    };
    let config = rules(cx, &range).await?;
    if config.services.is_empty() {
        return Err(UserError::new(format!(
            "{} declares no `services:`, so `changed` has none to list",
            config
                .file
                .as_deref()
                .map(|f| format!("`{}`", f.display()))
                .unwrap_or_else(|| "the built-in default config".into())
        ))
        .hint("declare each service under `services:`, with the files that make it up in `paths:` (default: its `context` and its `dockerfile`)")
        .into());
    }
    let mut matcher = PathMatcher::new(&config.services)
        .map_err(|m| UserError::new(m).hint("fix the service's `paths:` on the base branch"))?;
    let names: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
    if range.everything {
        let all: Vec<(usize, usize, String)> =
            (0..names.len()).map(|i| (i, 0, String::new())).collect();
        return Ok(report(&names, &all, None, "first push", inputs.format));
    }
    let (diff, how) = match local_diff(&cx.root, &range.from, &range.to) {
        Some(d) => (d, "the checkout"),
        None => {
            let gh = crate::session::github_client(cx)?.ok_or_else(|| {
                UserError::new(format!(
                    "the checkout lacks `{}` or `{}`, and no repository is known to ask",
                    short(&range.from),
                    short(&range.to)
                ))
                .hint("check out the history (`actions/checkout` with `fetch-depth: 0`), or set `GITHUB_REPOSITORY` for GitHub to compare them")
            })?;
            // With `config-repository` the client is the config repository's; the
            // commits are this one's (read with `source-token`, else `token`).
            let gh = match (cx.config_elsewhere(), crate::repository::RepoName::of_run()) {
                (true, Some(run)) => gh.for_repository(&run, cx.inputs.source_token.as_deref())?,
                _ => gh,
            };
            let d = gh.changed_files(&range.from, &range.to).await?;
            gh.log_calls();
            let how = if d.via == "compare" {
                "GitHub's compare"
            } else {
                "GitHub's compare and trees"
            };
            (
                Diff {
                    merge_base: d.merge_base,
                    head: d.head,
                    files: d.files,
                },
                how,
            )
        }
    };
    // Per service: how many files, and the first.
    let mut hits: Vec<(usize, String)> = vec![(0, String::new()); names.len()];
    for f in &diff.files {
        matcher.services_of(f, |i| {
            let h = &mut hits[i];
            if h.0 == 0 {
                h.1 = f.clone();
            }
            h.0 += 1;
        });
    }
    let touched: Vec<(usize, usize, String)> = hits
        .into_iter()
        .enumerate()
        .filter(|(_, (n, _))| *n > 0)
        .map(|(i, (n, f))| (i, n, f))
        .collect();
    let label = format!(
        "{}; `{}`…`{}`, {} file{} changed, read from {how}",
        range.kind,
        short(&diff.merge_base),
        short(&diff.head),
        diff.files.len(),
        if diff.files.len() == 1 { "" } else { "s" }
    );
    Ok(report(
        &names,
        &touched,
        Some(diff.files.len()),
        &label,
        inputs.format,
    ))
}

/// The change the inputs or the event name; `None` for a deleted branch.
pub(crate) fn range(
    inputs: &Changed,
    event: Option<(&str, &serde_json::Value)>,
) -> Result<Option<Range>, UserError> {
    let plain = |from: String, to: String, kind| Range {
        from,
        to,
        kind,
        base: None,
        base_sha: None,
        to_is_base: false,
        everything: false,
    };
    let dispatched = event
        .filter(|(n, _)| *n == "workflow_dispatch")
        .map(|(_, p)| {
            let s = |k: &str| p["inputs"][k].as_str().filter(|s| !s.is_empty());
            (s("from").map(String::from), s("to").map(String::from))
        })
        .unwrap_or_default();
    let from = inputs.from.clone().or(dispatched.0);
    let to = inputs.to.clone().or(dispatched.1);
    if from.is_some() || to.is_some() {
        let from = from.ok_or_else(|| {
            UserError::new("`changed` got `to` without `from`")
                .hint("pass the commit the change starts from as `from` (a sha or a branch)")
        })?;
        let to = match to {
            Some(t) => t,
            None => crate::session::env_var("GITHUB_SHA").unwrap_or_else(|| "HEAD".into()),
        };
        for (name, v) in [("from", &from), ("to", &to)] {
            check_rev(name, v)?;
        }
        // A dispatch on the default branch runs at its tip, as a push to it does:
        // the checkout's rules are the base's.
        let on_default = event.is_some_and(|(n, p)| {
            n == "workflow_dispatch"
                && p["repository"]["default_branch"]
                    .as_str()
                    .filter(|b| valid_branch(b))
                    .is_some_and(|b| p["ref"].as_str() == Some(&format!("refs/heads/{b}")))
        });
        return Ok(Some(Range {
            to_is_base: on_default,
            ..plain(from, to, "from/to")
        }));
    }
    let Some((name, p)) = event else {
        return Err(UserError::new("`changed` needs a change to look at")
            .hint("pass `--from <commit> --to <commit>`, or run it on `push`, `pull_request` or `workflow_dispatch` (with `from` and `to` inputs)"));
    };
    let sha = |v: &serde_json::Value, what: &str| -> Result<String, UserError> {
        match v.as_str() {
            Some(s) if is_sha(s) => Ok(s.to_ascii_lowercase()),
            Some(s) => Err(UserError::new(format!(
                "the `{name}` event's `{what}` is `{}`, not a commit sha",
                crate::session::truncate(&s.escape_debug().to_string(), 60)
            ))
            .hint("the event payload must come from GitHub; outside a workflow pass `--from` and `--to`")),
            None => Err(UserError::new(format!(
                "the `{name}` event has no `{what}` commit"
            ))
            .hint("the event payload must come from GitHub; outside a workflow pass `--from` and `--to`")),
        }
    };
    let default_branch = p["repository"]["default_branch"]
        .as_str()
        .filter(|b| valid_branch(b))
        .map(String::from);
    match name {
        "push" => {
            let (before, after) = (sha(&p["before"], "before")?, sha(&p["after"], "after")?);
            if is_zero(&after) {
                return Ok(None);
            }
            let pushed = p["ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("refs/heads/"));
            let to_is_base = pushed.is_some() && pushed == default_branch.as_deref();
            if !is_zero(&before) {
                return Ok(Some(Range {
                    base: default_branch,
                    to_is_base,
                    ..plain(before, after, "push")
                }));
            }
            // A new branch: what it holds that the default branch does not.
            let base = default_branch.ok_or_else(|| {
                UserError::new("the `push` event of a new branch names no `repository.default_branch` to compare with")
                    .hint("pass `from` (e.g. `main`) and `to`")
            })?;
            Ok(Some(Range {
                base: Some(base.clone()),
                to_is_base,
                everything: to_is_base,
                ..plain(base, after, "new branch")
            }))
        }
        "pull_request" | "pull_request_target" => {
            let pr = &p["pull_request"];
            let (base, head) = (
                sha(&pr["base"]["sha"], "pull_request.base.sha")?,
                sha(&pr["head"]["sha"], "pull_request.head.sha")?,
            );
            Ok(Some(Range {
                base: pr["base"]["ref"]
                    .as_str()
                    .filter(|b| valid_branch(b))
                    .map(String::from),
                base_sha: Some(base.clone()),
                ..plain(base, head, "pull request")
            }))
        }
        "workflow_dispatch" => Err(UserError::new(
            "`changed` on `workflow_dispatch` needs the `from` and `to` inputs",
        )
        .hint(
            "declare `from` and `to` under `on.workflow_dispatch.inputs` and pass them to the step",
        )),
        other => Err(UserError::new(format!(
            "`changed` cannot tell what the `{other}` event changed"
        ))
        .hint("run it on `push`, `pull_request` or `workflow_dispatch`, or pass `from` and `to`")),
    }
}

fn is_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_zero(s: &str) -> bool {
    s.bytes().all(|b| b == b'0')
}

fn valid_branch(b: &str) -> bool {
    git2::Reference::is_valid_name(&format!("refs/heads/{b}"))
}

/// A `from`/`to` input: a sha, or a branch or tag name (never an option).
fn check_rev(name: &str, v: &str) -> Result<(), UserError> {
    let ok = is_sha(v)
        || v == "HEAD"
        || (!v.starts_with('-')
            && (git2::Reference::is_valid_name(&format!("refs/heads/{v}"))
                || git2::Reference::is_valid_name(v)));
    if ok {
        Ok(())
    } else {
        Err(UserError::new(format!(
            "input `{name}` is `{v}`, not a commit, branch or tag"
        ))
        .hint("give a full sha, or a branch or tag name such as `main`"))
    }
}

fn short(s: &str) -> String {
    if is_sha(s) {
        s[..7].to_string()
    } else {
        s.to_string()
    }
}

struct Diff {
    merge_base: String,
    head: String,
    files: Vec<String>,
}

/// The diff from the merge base of `from` and `to` to `to`, when the checkout
/// holds what it takes (a shallow one may hold both commits but not their merge
/// base); `None` sends the question to GitHub.
fn local_diff(root: &Path, from: &str, to: &str) -> Option<Diff> {
    let repo = crate::git::open_foreign_owned(root).ok()?;
    let find = |rev: &str| -> Option<Oid> {
        let candidates = [format!("refs/remotes/origin/{rev}"), rev.to_string()];
        candidates.iter().find_map(|c| {
            repo.revparse_single(c)
                .and_then(|o| o.peel_to_commit())
                .ok()
                .map(|c| c.id())
        })
    };
    let (a, b) = (find(from)?, find(to)?);
    let mb = if a == b || repo.graph_descendant_of(b, a).ok()? {
        a
    } else if repo.is_shallow() {
        return None;
    } else {
        repo.merge_base(a, b).ok()?
    };
    let files = tree_diff(&repo, mb, b).ok()?;
    Some(Diff {
        merge_base: mb.to_string(),
        head: b.to_string(),
        files,
    })
}

/// Every path added, changed or removed between two commits' trees (a rename is
/// its two paths: no rename detection), sorted.
fn tree_diff(repo: &Repository, a: Oid, b: Oid) -> Result<Vec<String>, git2::Error> {
    let (ta, tb) = (repo.find_commit(a)?.tree()?, repo.find_commit(b)?.tree()?);
    let mut opts = git2::DiffOptions::new();
    opts.include_typechange(true).ignore_submodules(false);
    let diff = repo.diff_tree_to_tree(Some(&ta), Some(&tb), Some(&mut opts))?;
    let mut files = Vec::with_capacity(diff.deltas().len());
    for d in diff.deltas() {
        for f in [d.old_file(), d.new_file()] {
            if let Some(p) = f.path_bytes() {
                files.push(String::from_utf8_lossy(p).into_owned());
            }
        }
    }
    files.sort_unstable();
    files.dedup();
    Ok(files)
}

/// The services and `paths:` of the base branch (`session/rules.rs`), read from
/// the checkout where it holds them, so a full checkout asks nothing.
async fn rules(cx: &Context, range: &Range) -> anyhow::Result<Config> {
    if cx.config_elsewhere() {
        return own_services(cx).await;
    }
    if cx.dry_run || crate::session::env_var("GITHUB_REPOSITORY").is_none() || range.to_is_base {
        return Ok(cx.config.clone());
    }
    let (path, explicit) = match cx.inputs.config.as_deref() {
        Some(c) => (c.to_path_buf(), true),
        None => (Path::new(config::DEFAULT_CONFIG).to_path_buf(), false),
    };
    if path.is_absolute() {
        return Ok(cx.config.clone());
    }
    let base = cx.inputs.base.clone().or_else(|| range.base.clone());
    if let (Some(base), Ok(repo)) = (&base, crate::git::open_foreign_owned(&cx.root)) {
        let tip = range
            .base_sha
            .as_deref()
            .and_then(|s| Oid::from_str(s).ok())
            .filter(|o| repo.find_commit(*o).is_ok())
            .or_else(|| {
                repo.revparse_single(&format!("refs/remotes/origin/{base}"))
                    .and_then(|o| o.peel_to_commit())
                    .ok()
                    .map(|c| c.id())
            });
        if let Some(tip) = tip {
            let rel = path.to_string_lossy().replace('\\', "/");
            let rel = rel.trim_start_matches("./");
            let tree = repo.find_commit(tip)?.tree()?;
            let text = crate::git::read_in_tree(&repo, &tree, rel)?;
            return crate::session::parse_at(cx, &path, explicit, base, &tip.to_string(), text);
        }
    }
    Ok(crate::session::rules_from_base(cx)
        .await?
        .unwrap_or_else(|| cx.config.clone()))
}

/// From the code's repository with `config-repository`: the config repository's
/// rules (its default branch, through the API), and of its services the ones whose
/// code is this repository's (`repository:`), as a release from here may only
/// release those.
async fn own_services(cx: &Context) -> anyhow::Result<Config> {
    let repo = cx.config_repo().map(|r| r.to_string()).unwrap_or_default();
    let mut config = crate::session::rules_from_base(cx)
        .await?
        .unwrap_or_else(|| cx.config.clone());
    let run = crate::repository::RepoName::of_run();
    config
        .services
        .retain(|s| run.is_some() && cx.source_repo(s) == run);
    if config.services.is_empty() {
        let run = run.map(|r| r.to_string()).unwrap_or_default();
        return Err(UserError::new(format!(
            "the config repository `{repo}` has no service whose `repository` is `{run}`, so `changed` has none to list"
        ))
        .hint(format!(
            "set `services.<name>.repository: {run}` for this repository's services in `{repo}`'s `.github/gitops.yaml`"
        ))
        .into());
    }
    Ok(config)
}

/// The outputs, the printed list and the step summary. `touched`: (service index,
/// files, first file).
fn report(
    names: &[&str],
    touched: &[(usize, usize, String)],
    files: Option<usize>,
    label: &str,
    format: Format,
) -> Outputs {
    let list: Vec<&str> = touched.iter().map(|(i, _, _)| names[*i]).collect();
    let json = serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
    match format {
        Format::Json => println!("{json}"),
        _ => {
            for n in &list {
                println!("{n}");
            }
            eprintln!(
                "{} of {} service{} changed ({label})",
                list.len(),
                names.len(),
                if names.len() == 1 { "" } else { "s" }
            );
        }
    }
    let mut out = Outputs::default();
    out.set("services", &json);
    out.set("count", list.len());
    let mut s = format!(
        "### Changed services: {} of {}\n\n{}\n\n",
        list.len(),
        names.len(),
        md_escape(label)
    );
    if list.is_empty() {
        s.push_str("No service changed: the matrix is empty (`[]`).\n");
    } else {
        s.push_str("| service | files | e.g. |\n|---|---:|---|\n");
        for (i, n, f) in touched {
            let eg = if f.is_empty() {
                "—".to_string()
            } else {
                code(f)
            };
            let n = if files.is_some() {
                n.to_string()
            } else {
                "all".into()
            };
            s.push_str(&format!("| `{}` | {n} | {eg} |\n", names[*i]));
        }
        let rest: Vec<String> = (0..names.len())
            .filter(|i| !touched.iter().any(|(t, _, _)| t == i))
            .map(|i| format!("`{}`", names[i]))
            .collect();
        if !rest.is_empty() {
            let shown: Vec<String> = rest.iter().take(20).cloned().collect();
            let more = if rest.len() > 20 {
                format!(" and {} more", rest.len() - 20)
            } else {
                String::new()
            };
            s.push_str(&format!("\nUnchanged: {}{more}.\n", shown.join(", ")));
        }
    }
    out.summary = s;
    out
}

/// A repository path as a table cell: a code span that no backtick or `|` in
/// the name can end, and no control character.
fn code(p: &str) -> String {
    let clean: String = p
        .chars()
        .map(|c| if c.is_control() { '�' } else { c })
        .collect::<String>()
        .replace('|', "\\|");
    let ticks = "`".repeat(longest_run(&clean, '`') + 1);
    let pad = if clean.starts_with('`') || clean.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{clean}{pad}{ticks}")
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut cur) = (0, 0);
    for ch in s.chars() {
        cur = if ch == c { cur + 1 } else { 0 };
        best = best.max(cur);
    }
    best
}

fn md_escape(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_inputs() -> Changed {
        Changed {
            from: None,
            to: None,
            format: Format::Text,
        }
    }
    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const Z: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn each_event_gives_its_range() {
        let repo = json!({"default_branch": "main"});
        let r = range(
            &no_inputs(),
            Some((
                "push",
                &json!({"ref": "refs/heads/main", "before": A, "after": B, "repository": repo}),
            )),
        )
        .unwrap()
        .unwrap();
        assert_eq!((r.from.as_str(), r.to.as_str(), r.to_is_base), (A, B, true));
        let r = range(
            &no_inputs(),
            Some((
                "push",
                &json!({"ref": "refs/heads/feature", "before": Z, "after": B, "repository": repo}),
            )),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (r.from.as_str(), r.kind, r.to_is_base, r.everything),
            ("main", "new branch", false, false)
        );
        let deleted = json!({"ref": "refs/heads/x", "before": A, "after": Z, "repository": repo});
        assert_eq!(range(&no_inputs(), Some(("push", &deleted))).unwrap(), None);
        let pr = json!({"pull_request": {"base": {"sha": A, "ref": "main"}, "head": {"sha": B}}});
        let r = range(&no_inputs(), Some(("pull_request", &pr)))
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.from.as_str(), r.base_sha.as_deref(), r.base.as_deref()),
            (A, Some(A), Some("main"))
        );
        let d = json!({"inputs": {"from": "v1.0.0", "to": B}});
        let r = range(&no_inputs(), Some(("workflow_dispatch", &d)))
            .unwrap()
            .unwrap();
        assert_eq!((r.from.as_str(), r.to.as_str()), ("v1.0.0", B));
    }

    #[test]
    fn untrusted_payloads_are_refused_with_a_hint() {
        for (name, p, says) in [
            ("push", json!({"after": B}), "no `before`"),
            (
                "push",
                json!({"before": "$(rm -rf /)", "after": B}),
                "not a commit sha",
            ),
            (
                "pull_request",
                json!({"pull_request": {"head": {"sha": B}}}),
                "pull_request.base.sha",
            ),
            (
                "workflow_dispatch",
                json!({"inputs": {}}),
                "`from` and `to`",
            ),
            ("schedule", json!({}), "cannot tell"),
        ] {
            let e = range(&no_inputs(), Some((name, &p))).unwrap_err();
            assert!(e.to_string().contains(says), "{name}: {e}");
            assert!(e.hint.is_some(), "{name}");
        }
        let bad = Changed {
            from: Some("--upload-pack=evil".into()),
            ..no_inputs()
        };
        assert!(range(&bad, None).is_err());
        let e = range(&no_inputs(), None).unwrap_err();
        assert!(e.hint.as_deref().unwrap().contains("--from"), "{e}");
    }

    #[test]
    fn paths_in_the_summary_cannot_break_the_table() {
        assert_eq!(code("a/b.rs"), "`a/b.rs`");
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(code("a\nb"), "`a�b`");
    }
}
