//! `commit-via: api`: a release's commit made by GitHub through
//! GraphQL instead of pushed with git. GitHub signs it (so rulesets that require
//! verified signatures pass), `expectedHeadOid` and `updateRefs`' `beforeOid` are
//! the leases, and nothing is fetched: one query reads the base tip, the overlay
//! there and our release branch.
//!
//! An open PR's head is never reset to the base on the way: GitHub closes (or marks
//! merged) a PR whose head has no commits beyond its base (grafana/mimir-prometheus
//! PR #933 relies on it to close PRs; wei/pull#354, #365). So an existing release
//! branch gets its new commit built on a scratch branch at the base tip, then moved
//! there in one atomic `updateRefs` that also deletes the scratch branch.

use crate::context::Context;
use crate::error::{Failure, UserError};
use crate::git::{Publish, Published, Target};
use crate::github::{Branches, GitHub, Leased, NewPr, PrField, RefUpdate, ZERO_OID};
pub(crate) use crate::inputs::CommitVia;
use crate::retry::Backoff;

impl CommitVia {
    /// The `commit-via` input (or flag), else the config's `commit-via`, else
    /// `api`; `author` and `committer` can't be set through the API, so with
    /// either of them set, unset means `git`. (The rules are read from the base
    /// branch the way the checkout's config says; the run then follows the base's.)
    pub(crate) fn of(cx: &Context) -> Result<CommitVia, UserError> {
        let custom = cx.inputs.author.is_some() || cx.inputs.committer.is_some();
        let from_config = match cx.config.commit_via.as_deref() {
            Some("git") => Some(CommitVia::Git),
            Some(_) => Some(CommitVia::Api),
            None => None,
        };
        match cx.inputs.commit_via.or(from_config) {
            None if custom => Ok(CommitVia::Git),
            None => Ok(CommitVia::Api),
            Some(CommitVia::Api) if custom => Err(Self::custom_identity()),
            Some(v) => Ok(v),
        }
    }
}

/// Rounds a lost lease may cost before we give up.
const MAX_ROUNDS: u32 = 8;

/// Commit the edit of `req.paths` on the base tip through the API, as
/// [`crate::git::Workspace::publish`] does with git: `edit` gets each file's
/// text at a fresh base tip each round and returns the new text (`None`: already
/// there); all files go in one commit. `first` is a read made just before, used
/// for the first round. Returns the last read too (the repository's id, whether
/// a PR is open). With `pr`, a release branch made here gets its PR opened in
/// the commit's own document; the third value says how that went (`Exists {
/// maybe_ours }` when a lost answer may have opened it).
pub(crate) async fn publish(
    gh: &GitHub,
    req: &Publish,
    mut first: Option<Branches>,
    edit: &mut crate::git::Edit<'_>,
    pr: Option<NewPr<'_>>,
) -> anyhow::Result<(Published, Branches, PrField)> {
    let head = match &req.target {
        Target::Release(b) => Some(b.as_str()),
        Target::Direct => None,
    };
    let paths: Vec<&str> = req.paths.iter().map(String::as_str).collect();
    let mut retries = 0;
    // A direct commit refused as stale: the base it was leased on and the blobs it
    // wrote. A copy of it sent again after a lost answer is refused too although
    // the first one landed; the next read tells (the base's tip is that commit).
    let mut sent: Option<(String, Vec<Option<String>>, u64)> = None;
    // A round's document opened a PR, or may have: the PR found open later is
    // this run's (labelled and reviewers asked, as a new one).
    let mut maybe_ours = false;
    let later = |maybe_ours: bool| {
        if maybe_ours {
            PrField::Exists { maybe_ours }
        } else {
            PrField::NotAsked
        }
    };
    loop {
        let st = match first.take() {
            Some(s) if s.files.len() == paths.len() => s,
            _ => {
                // Direct: the base is read as the "head" too, for its parents.
                let tip = head.or(sent.as_ref().map(|_| req.base.as_str()));
                gh.read_branches_files(Some(&req.base), tip, &paths, None)
                    .await?
            }
        };
        if head.is_none()
            && let (Some((base, blobs, n)), Some(t)) = (&sent, &st.head)
            && t.parents == [base.clone()]
            && holds(t, blobs)
            && t.changed_files.is_none_or(|c| c == *n)
        {
            eprintln!("github: the commit to `{}` landed after all", req.base);
            let landed = Published {
                commit: Some(t.oid.clone()),
                base_sha: base.clone(),
                branch: req.base.clone(),
                changed: true,
                pushed: true,
                retries,
                before: None,
            };
            return Ok((landed, st, PrField::NotAsked));
        }
        let before = st.file.as_ref().map(|f| f.text.clone());
        let done = |commit: Option<String>, changed: bool, pushed: bool| Published {
            commit,
            base_sha: st.base_oid.clone(),
            branch: head.unwrap_or(&req.base).to_string(),
            changed,
            pushed,
            retries,
            before: before.clone(),
        };
        // Each file's new text, where the edit changes it; and every file's blob
        // id after the commit (the changed ones' new blobs, the rest as they are).
        let mut changes: Vec<(&str, String)> = Vec::new();
        let mut blobs: Vec<Option<String>> = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            let was = st.files.get(i).cloned().flatten();
            let text = was.as_ref().map(|f| f.text.as_str());
            match edit(path, text.unwrap_or(""))? {
                Some(after) if text != Some(after.as_str()) => {
                    blobs.push(
                        git2::Oid::hash_object(git2::ObjectType::Blob, after.as_bytes())
                            .map(|o| o.to_string())
                            .ok(),
                    );
                    changes.push((path, after));
                }
                _ => blobs.push(was.map(|f| f.oid)),
            }
        }
        if changes.is_empty() {
            return Ok((done(None, false, false), st, later(maybe_ours)));
        }
        let files: Vec<(&str, &str)> = changes.iter().map(|(p, a)| (*p, a.as_str())).collect();
        let outcome = match head {
            None => {
                let r = gh
                    .commit_files_on_branch(&req.base, &st.base_oid, &files, &req.message)
                    .await?;
                if matches!(r, Leased::Stale(_)) {
                    sent = Some((st.base_oid.clone(), blobs, files.len() as u64));
                }
                r
            }
            Some(branch) => {
                // The same change on the same base is there already: keep it, so
                // the PR gets no new commit.
                if let Some(t) = &st.head
                    && t.parents == [st.base_oid.clone()]
                    && holds(t, &blobs)
                    && t.changed_files.is_none_or(|n| n == files.len() as u64)
                {
                    return Ok((
                        done(Some(t.oid.clone()), true, false),
                        st,
                        later(maybe_ours),
                    ));
                }
                let (leased, field) =
                    leased_release(gh, &st, branch, &paths, &files, &req.message, pr).await?;
                match leased {
                    Leased::Done(commit) => {
                        let field = match field {
                            PrField::NotAsked => later(maybe_ours),
                            PrField::Exists { maybe_ours: m } => PrField::Exists {
                                maybe_ours: m || maybe_ours,
                            },
                            f => f,
                        };
                        return Ok((done(Some(commit), true, true), st, field));
                    }
                    Leased::Stale(why) => {
                        if matches!(
                            field,
                            PrField::Opened(_) | PrField::Exists { maybe_ours: true }
                        ) {
                            maybe_ours = true;
                        }
                        Leased::Stale(why)
                    }
                }
            }
        };
        match outcome {
            Leased::Done(commit) => {
                return Ok((done(Some(commit), true, true), st, PrField::NotAsked));
            }
            Leased::Stale(why) => {
                if retries >= MAX_ROUNDS {
                    return Err(Failure::new(format!(
                        "gave up committing to `{}` after {} attempts: {why}",
                        head.unwrap_or(&req.base),
                        retries + 1
                    ))
                    .hint("others kept changing the same branch; run the step again")
                    .into());
                }
                retries += 1;
                eprintln!("github: {why}; reading the branch again ({retries}/{MAX_ROUNDS})");
                tokio::time::sleep(Backoff::GIT.delay(retries)).await;
            }
        }
    }
}

/// `tip` holds exactly these blobs at the files asked for (none missing).
fn holds(tip: &crate::github::Tip, blobs: &[Option<String>]) -> bool {
    tip.file_oids.len() == blobs.len()
        && tip
            .file_oids
            .iter()
            .zip(blobs)
            .all(|(have, want)| have.is_some() && have == want)
}

/// Put `files` on `branch` as one commit on the base tip, leased on what `st`
/// saw of the branch.
async fn leased_release(
    gh: &GitHub,
    st: &Branches,
    branch: &str,
    paths: &[&str],
    files: &[(&str, &str)],
    message: &str,
    pr: Option<NewPr<'_>>,
) -> anyhow::Result<(Leased, PrField)> {
    match &st.head {
        // No branch, so no open PR: create it at the base, commit on it and open
        // the PR, in one request.
        None => {
            gh.branch_commit_pr(
                &st.repo_id,
                branch,
                ZERO_OID,
                &st.base_oid,
                files,
                message,
                pr,
            )
            .await
        }
        Some(t) => Ok((
            via_scratch(gh, st, branch, &t.oid, paths, files, message).await?,
            PrField::NotAsked,
        )),
    }
}

/// An open PR's branch: the commit is made on a scratch branch at the base, then
/// the release branch is moved there, so the PR's head never sits on the base
/// (which would close the PR).
async fn via_scratch(
    gh: &GitHub,
    st: &Branches,
    branch: &str,
    old: &str,
    paths: &[&str],
    files: &[(&str, &str)],
    message: &str,
) -> anyhow::Result<Leased> {
    // A scratch branch at the base carries the commit, so the PR's head never
    // sits on the base (which would close the PR).
    let scratch = format!("{branch}.next-{:08x}", rand::random::<u32>());
    let create = RefUpdate {
        branch: scratch.clone(),
        after: Some(st.base_oid.clone()),
        before: Some(ZERO_OID.to_string()),
        force: false,
    };
    if let Leased::Stale(why) = gh.update_refs(&st.repo_id, &[create]).await? {
        return Err(Failure::new(format!("cannot create the scratch branch `{scratch}`: {why}"))
            .hint("the token needs `contents: write`; a ruleset that restricts creating `release/**` branches must allow this actor")
            .into());
    }
    let commit = match gh
        .commit_files_on_branch(&scratch, &st.base_oid, files, message)
        .await
    {
        Ok(Leased::Done(c)) => c,
        other => {
            drop_scratch(gh, st, &scratch).await;
            return other;
        }
    };
    let moves = [
        RefUpdate {
            branch: branch.to_string(),
            after: Some(commit.clone()),
            before: Some(old.to_string()),
            force: true,
        },
        RefUpdate {
            branch: scratch.clone(),
            after: None,
            before: Some(commit.clone()),
            force: true,
        },
    ];
    match gh.update_refs(&st.repo_id, &moves).await? {
        Leased::Done(_) => Ok(Leased::Done(commit)),
        Leased::Stale(why) => {
            drop_scratch(gh, st, &scratch).await;
            // Refused although the branch is where we saw it: not a race.
            let now = gh
                .read_branches_files(Some(&st.base), Some(branch), paths, None)
                .await?;
            if now.head.as_ref().map(|t| t.oid.as_str()) == Some(old) {
                return Err(Failure::new(format!("GitHub refused to move `{branch}`: {why}"))
                    .hint("check the rulesets that cover `release/**` branches (they must allow this actor to update and force-push them)")
                    .into());
            }
            Ok(Leased::Stale(format!("`{branch}` moved meanwhile")))
        }
    }
}

async fn drop_scratch(gh: &GitHub, st: &Branches, scratch: &str) {
    // Ours alone (a random name): deleted whatever it points at.
    let del = RefUpdate {
        branch: scratch.to_string(),
        after: None,
        before: None,
        force: true,
    };
    if let Err(e) = gh.update_refs(&st.repo_id, &[del]).await {
        eprintln!("github: could not delete the scratch branch `{scratch}`: {e:#}");
    }
}

/// Delete our `branch` only while it still points at `expected` (after our merge).
pub(crate) async fn delete_branch(
    gh: &GitHub,
    repo_id: &str,
    branch: &str,
    expected: &str,
) -> anyhow::Result<bool> {
    let del = RefUpdate {
        branch: branch.to_string(),
        after: None,
        before: Some(expected.to_string()),
        force: true,
    };
    Ok(matches!(
        gh.update_refs(repo_id, &[del]).await?,
        Leased::Done(_)
    ))
}
