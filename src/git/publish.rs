//! Publishing a change: commit the edit on the fresh base tip without a worktree,
//! push it as a lease, and redo it on a lost race.

use std::cell::RefCell;

use git2::{ErrorCode, ObjectType, Oid, PushOptions, Repository, Signature, Tree};

use super::auth::{Auth, is_transient};
use super::history::raw_parents;
use super::{Publish, Published, Target, Workspace, read_in_tree, scrub};
use crate::error::{Failure, UserError};
use crate::retry::Backoff;

impl Workspace {
    /// Commit the edit of `req.paths` on the base tip and push it, retrying lost races.
    ///
    /// `edit` gets each file's path and current text at the fresh base tip (`""`
    /// when it is missing) and returns the new text, or `None` when it already
    /// holds the change. All files go in one commit.
    /// It is called again on every retry: the change is re-applied to the new text,
    /// never rebased as a patch.
    pub fn publish(&self, req: &Publish, edit: &mut Edit<'_>) -> anyhow::Result<Published> {
        if req.paths.is_empty() {
            return Err(UserError::new("nothing to publish: no file to edit").into());
        }
        for p in &req.paths {
            check_path(p)?;
        }
        let branch = match &req.target {
            Target::Release(b) => b.clone(),
            Target::Direct => req.base.clone(),
        };
        let mut retries = 0;
        loop {
            match self.attempt(req, &branch, edit)? {
                Attempt::Done(mut p) => {
                    p.retries = retries;
                    return Ok(p);
                }
                Attempt::Raced(why) => {
                    if retries >= self.max_retries {
                        return Err(Failure::new(format!(
                            "gave up pushing `{branch}` after {} attempts: {why}",
                            retries + 1
                        ))
                        .hint("others kept changing the same branch; run the step again")
                        .into());
                    }
                    retries += 1;
                    eprintln!("git: {why}; retrying ({retries}/{})", self.max_retries);
                    std::thread::sleep(Backoff::GIT.delay(retries));
                }
            }
        }
    }

    fn attempt(&self, req: &Publish, branch: &str, edit: &mut Edit<'_>) -> anyhow::Result<Attempt> {
        let wanted: Vec<&str> = match &req.target {
            Target::Release(b) => vec![req.base.as_str(), b.as_str()],
            Target::Direct => vec![req.base.as_str()],
        };
        let tips = self.fetch(&wanted)?;
        let Some(base_tip) = tips[0] else {
            return Err(UserError::new(format!(
                "base branch `{}` does not exist in `{}`",
                req.base,
                self.remote_display()
            ))
            .hint("check the `base` input, or push the branch first")
            .into());
        };
        // The lease: the release branch must still be where this fetch saw it.
        let lease = match &req.target {
            Target::Release(_) => tips[1],
            Target::Direct => Some(base_tip),
        };
        let base_commit = self.repo.find_commit(base_tip)?;
        let base_tree = base_commit.tree()?;
        let mut before = None;
        let mut tree_id = base_tree.id();
        for (i, path) in req.paths.iter().enumerate() {
            let was = read_in_tree(&self.repo, &base_tree, path)?;
            // No edit, or one that gives the same text: the base has this part.
            let after = match edit(path, was.as_deref().unwrap_or(""))? {
                Some(after) if was.as_deref() != Some(after.as_str()) => Some(after),
                _ => None,
            };
            if let Some(after) = after {
                let blob = self.repo.blob(after.as_bytes())?;
                let parts: Vec<&str> = path.split('/').collect();
                let current = self.repo.find_tree(tree_id)?;
                tree_id = replace_blob(&self.repo, Some(&current), &parts, blob)?;
            }
            if i == 0 {
                before = was;
            }
        }
        if tree_id == base_tree.id() {
            return Ok(Attempt::Done(Published {
                commit: None,
                base_sha: base_tip.to_string(),
                branch: branch.to_string(),
                changed: false,
                pushed: false,
                retries: 0,
                before,
            }));
        }

        // Re-running with the same change on the same base pushes nothing: the
        // branch keeps its commit, so the PR sees no new (empty) commit.
        if let (Target::Release(_), Some(current)) = (&req.target, lease)
            && let Ok(c) = self.repo.find_commit(current)
            && c.tree_id() == tree_id
            && raw_parents(&self.repo, current) == [base_tip]
        {
            return Ok(Attempt::Done(Published {
                commit: Some(current.to_string()),
                base_sha: base_tip.to_string(),
                branch: branch.to_string(),
                changed: true,
                pushed: false,
                retries: 0,
                before,
            }));
        }

        let tree = self.repo.find_tree(tree_id)?;
        let author = Signature::now(&self.author.name, &self.author.email)?;
        let committer = Signature::now(&self.committer.name, &self.committer.email)?;
        let commit = self.repo.commit(
            None,
            &author,
            &committer,
            &req.message,
            &tree,
            &[&base_commit],
        )?;

        // What a push that landed did (answered, or found on the remote after).
        let landed = |before| Published {
            commit: Some(commit.to_string()),
            base_sha: base_tip.to_string(),
            branch: branch.to_string(),
            changed: true,
            pushed: true,
            retries: 0,
            before,
        };
        let force = matches!(req.target, Target::Release(_));
        match self.push(Some(commit), branch, lease, force)? {
            PushResult::Ok => {
                // Keep the tracking ref true, so a later lease starts from our push.
                let _ = self.repo.reference(
                    &format!("refs/remotes/origin/{branch}"),
                    commit,
                    true,
                    "gitops-action: push",
                );
                Ok(Attempt::Done(landed(before)))
            }
            PushResult::Raced(why) => Ok(Attempt::Raced(why)),
            PushResult::Unclear(why) => {
                // Read the ref to learn whether the push landed.
                let now = self.remote_tip(branch)?;
                if now == Some(commit) {
                    eprintln!("git: push of `{branch}` got no answer ({why}), but it landed");
                    let _ = self.repo.reference(
                        &format!("refs/remotes/origin/{branch}"),
                        commit,
                        true,
                        "gitops-action: push",
                    );
                    return Ok(Attempt::Done(landed(before)));
                }
                Ok(Attempt::Raced(format!(
                    "push of `{branch}` got no answer ({why}) and did not land"
                )))
            }
        }
    }

    /// Push `commit` to `branch`.
    ///
    /// libgit2 has no `--force-with-lease`, so the lease is checked in the
    /// push-negotiation callback: it sees the ref's value as the server advertised it
    /// for this very push, and we cancel unless that is still `lease`. The receive-pack
    /// command then carries that value as the expected old id, and the server updates
    /// the ref only if it still holds it (a compare-and-swap under the ref lock), so
    /// the gap between advertisement and update is closed by the server too. Should a
    /// server not honour it, the PR merge is guarded by the head sha we pushed, so a
    /// commit we did not see can never be merged in our name.
    fn push(
        &self,
        commit: Option<Oid>,
        branch: &str,
        lease: Option<Oid>,
        force: bool,
    ) -> anyhow::Result<PushResult> {
        let mut remote = self.repo.remote_anonymous(&self.url)?;
        let auth = self.auth();
        let dst = format!("refs/heads/{branch}");
        let moved: RefCell<Option<String>> = RefCell::new(None);
        let rejected: RefCell<Option<String>> = RefCell::new(None);
        let remote_text: RefCell<String> = RefCell::new(String::new());
        let mut cbs = auth.callbacks();
        cbs.push_negotiation(|updates| {
            for u in updates {
                if u.dst_refname() == Ok(dst.as_str()) {
                    let seen = (!u.src().is_zero()).then(|| u.src());
                    if seen != lease {
                        *moved.borrow_mut() = Some(format!(
                            "`{branch}` moved on the remote (now {}, expected {})",
                            short(seen),
                            short(lease)
                        ));
                        return Err(git2::Error::from_str("lease broken"));
                    }
                }
            }
            Ok(())
        });
        cbs.push_update_reference(|name, status| {
            if let Some(msg) = status {
                *rejected.borrow_mut() = Some(format!("{name}: {msg}"));
            }
            Ok(())
        });
        cbs.sideband_progress(|data| {
            remote_text
                .borrow_mut()
                .push_str(&String::from_utf8_lossy(data));
            true
        });
        let mut po = PushOptions::new();
        po.remote_callbacks(cbs);
        let spec = match commit {
            Some(c) => format!("{}{c}:{dst}", if force { "+" } else { "" }),
            None => format!(":{dst}"),
        };
        let result = remote.push(&[spec.as_str()], Some(&mut po));
        drop(po);
        if let Some(why) = moved.into_inner() {
            return Ok(PushResult::Raced(why));
        }
        let remote_text = remote_text.into_inner();
        if let Err(e) = result {
            // Non-fast-forward on the base (direct) is a lost race; the rest is not.
            if e.code() == ErrorCode::NotFastForward {
                return Ok(PushResult::Raced(format!("`{branch}` moved on the remote")));
            }
            // A 5xx, a dropped connection, or a server that stopped answering after
            // the pack went out: the ref may or may not have moved.
            if is_transient(&e, &auth) || auth.timed_out.get() {
                return Ok(PushResult::Unclear(scrub(
                    e.message(),
                    self.token.as_deref(),
                )));
            }
            return Err(self.push_error(branch, &format!("{}\n{remote_text}", e.message()), &auth));
        }
        if let Some(msg) = rejected.into_inner() {
            let text = format!("{msg}\n{remote_text}");
            if is_lost_race(&text) {
                return Ok(PushResult::Raced(format!(
                    "push of `{branch}` rejected: {msg}"
                )));
            }
            return Err(self.push_error(branch, &text, &auth));
        }
        Ok(PushResult::Ok)
    }

    /// Delete our `branch` on the remote, only while it still points at `expected`
    /// (after a merge we made: a newer push by another run survives).
    pub fn delete_branch(&self, branch: &str, expected: &str) -> anyhow::Result<bool> {
        let expected = Oid::from_str(expected)
            .map_err(|_| Failure::new(format!("`{expected}` is not a commit id")))?;
        match self.push(None, branch, Some(expected), true)? {
            PushResult::Ok => {
                if let Ok(mut r) = self
                    .repo
                    .find_reference(&format!("refs/remotes/origin/{branch}"))
                {
                    let _ = r.delete();
                }
                Ok(true)
            }
            PushResult::Raced(_) => Ok(false),
            PushResult::Unclear(_) => Ok(self.remote_tip(branch)?.is_none()),
        }
    }

    fn push_error(&self, branch: &str, text: &str, auth: &Auth) -> anyhow::Error {
        let text = scrub(text, self.token.as_deref());
        let first = text
            .lines()
            .map(|l| l.trim().trim_start_matches("remote:").trim())
            .find(|l| !l.is_empty())
            .unwrap_or("rejected")
            .to_string();
        let lower = text.to_lowercase();
        let f = Failure::new(format!(
            "push of `{branch}` to `{}` refused: {first}",
            self.remote_display()
        ));
        let rules: Vec<&str> = text
            .lines()
            .map(|l| l.trim().trim_start_matches("remote:").trim())
            .filter(|l| l.starts_with("- "))
            .collect();
        let f = if lower.contains("gh013") && lower.contains("verified signatures") {
            // A ruleset "Require signed commits" (GH013): a push from CI has no
            // signature; commits GitHub makes through its API are signed.
            Failure::new(format!(
                "push of `{branch}` to `{}` refused: GH013: repository rule violations: {}",
                self.remote_display(),
                rules.join(" ").trim_start_matches("- ")
            ))
            .hint("a ruleset requires verified signatures, and a push from CI carries none: use `commit-via: api` (GitHub makes and signs the commits; `author` and `committer` can't be set there)")
        } else if lower.contains("workflow") && lower.contains("permission") {
            f.hint("the change touches `.github/workflows`; pushing it needs a token with the `workflows` permission (a GitHub App or PAT), which `GITHUB_TOKEN` never has")
        } else if lower.contains("protected branch")
            || lower.contains("gh006")
            || lower.contains("protect")
        {
            let rule = text
                .lines()
                .map(|l| l.trim().trim_start_matches("remote:").trim())
                .find(|l| {
                    let l = l.to_lowercase();
                    l.contains("required") || l.contains("protect")
                })
                .unwrap_or("branch protection")
                .to_string();
            f.hint(format!("`{branch}` is protected ({rule}); use a release PR (`merge: auto` or `immediate`) instead of `merge: direct`, or allow this actor in the branch rules"))
        } else if auth.failed.get()
            || lower.contains("401")
            || lower.contains("403")
            || lower.contains("permission")
            || lower.contains("denied")
        {
            f.hint(
                "give the workflow `permissions: contents: write`, or pass a token that may push",
            )
        } else {
            f
        };
        f.into()
    }
}

/// The edit of a publish: a file's path and its text at the base tip (`""`:
/// missing) to its new text, `None` when it already holds the change.
pub type Edit<'a> = dyn FnMut(&str, &str) -> anyhow::Result<Option<String>> + 'a;

enum Attempt {
    Done(Published),
    Raced(String),
}

enum PushResult {
    Ok,
    Raced(String),
    /// No answer (a 5xx, a dropped connection, a timeout): read the ref to know.
    Unclear(String),
}

fn short(oid: Option<Oid>) -> String {
    match oid {
        Some(o) => o.to_string()[..7].to_string(),
        None => "absent".into(),
    }
}

/// Rejections that mean someone else updated the ref first.
fn is_lost_race(text: &str) -> bool {
    let t = text.to_lowercase();
    [
        "fetch first",
        "non-fast-forward",
        "stale info",
        "cannot lock ref",
        "failed to update ref",
        "failed to lock",
        "but expected",
        "is at ",
    ]
    .iter()
    .any(|s| t.contains(s))
        && !t.contains("protected")
}

fn check_path(path: &str) -> anyhow::Result<()> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c == ".git");
    if bad {
        return Err(UserError::new(format!("`{path}` is not a path inside the repository")).into());
    }
    Ok(())
}
/// A new tree equal to `tree` but with `path` (split in components) set to `blob`,
/// creating directories as needed and keeping an existing file's mode.
fn replace_blob(
    repo: &Repository,
    tree: Option<&Tree<'_>>,
    path: &[&str],
    blob: Oid,
) -> anyhow::Result<Oid> {
    let mut builder = repo.treebuilder(tree)?;
    let (name, rest) = path.split_first().expect("check_path rejects empty paths");
    if rest.is_empty() {
        let mode = match builder.get(name)? {
            Some(e) if e.kind() == Some(ObjectType::Blob) => e.filemode(),
            _ => 0o100644,
        };
        builder.insert(name, blob, mode)?;
    } else {
        let sub = match builder.get(name)? {
            Some(e) if e.kind() == Some(ObjectType::Tree) => Some(repo.find_tree(e.id())?),
            _ => None,
        };
        let id = replace_blob(repo, sub.as_ref(), rest, blob)?;
        builder.insert(name, id, 0o040000)?;
    }
    Ok(builder.write()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_inside_the_repository() {
        for bad in ["", "/etc/passwd", "a/../b", "./a", "a//b", ".git/config"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        check_path("overlays/dev/kustomization.yaml").unwrap();
    }

    #[test]
    fn lost_races_are_told_from_refusals() {
        assert!(is_lost_race("refs/heads/main: failed to update ref"));
        assert!(is_lost_race(
            "cannot lock ref 'refs/heads/x': is at 1234 but expected 5678"
        ));
        assert!(!is_lost_race(
            "refs/heads/main: protected branch hook declined"
        ));
        assert!(!is_lost_race(
            "refusing to allow a GitHub App to create or update workflow"
        ));
    }

    #[test]
    fn nested_paths_are_replaced_and_created() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let a = repo.blob(b"a").unwrap();
        let b = repo.blob(b"b").unwrap();
        let t1 = replace_blob(&repo, None, &["overlays", "dev", "k.yaml"], a).unwrap();
        let t1 = repo.find_tree(t1).unwrap();
        let t2 = replace_blob(&repo, Some(&t1), &["overlays", "prd", "k.yaml"], b).unwrap();
        let t2 = repo.find_tree(t2).unwrap();
        assert_eq!(
            read_in_tree(&repo, &t2, "overlays/dev/k.yaml")
                .unwrap()
                .as_deref(),
            Some("a")
        );
        assert_eq!(
            read_in_tree(&repo, &t2, "overlays/prd/k.yaml")
                .unwrap()
                .as_deref(),
            Some("b")
        );
        assert_eq!(
            read_in_tree(&repo, &t2, "overlays/uat/k.yaml").unwrap(),
            None
        );
    }
}
