//! File history for `rollback`: the versions of one file, newest first, deepening a
//! shallow fetch until enough are found.

use git2::{Oid, Repository};

use super::{FileVersion, Workspace, blob_id, open_foreign_owned, read_in_tree};
use crate::error::Failure;

impl Workspace {
    /// The last `n` versions of `path` reachable from `rev` (newest first), each the
    /// commit that changed it. Deepens a shallow history when it runs out.
    pub fn file_history(
        &self,
        rev: &str,
        path: &str,
        n: usize,
    ) -> anyhow::Result<Vec<FileVersion>> {
        let branch = rev.strip_prefix("origin/").unwrap_or(rev).to_string();
        let mut depth = 50;
        // An open repository keeps the grafts and parsed commits of the shallow past
        // it was opened with; only a new handle sees a history deepened since.
        let mut repo = open_foreign_owned(self.repo.path())?;
        loop {
            let (versions, truncated) = walk_history(&repo, rev, path, n)?;
            if versions.len() >= n || !truncated || depth == 0 {
                return Ok(versions);
            }
            // Shallow history ended before we found enough versions: fetch deeper.
            let mut remote = self.repo.remote_anonymous(&self.url)?;
            let auth = self.auth();
            let mut fo = self.fetch_options(&auth, depth);
            let spec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
            remote
                .fetch(&[spec.as_str()], Some(&mut fo), None)
                .map_err(|e| self.transport_error("fetch history from", e, &auth))?;
            repo = open_foreign_owned(self.repo.path())?;
            depth = match depth {
                i32::MAX => 0,
                d if d >= 800 => i32::MAX,
                d => d * 4,
            };
        }
    }
}

/// Versions of `path` from `rev` back (newest first), and whether the walk stopped
/// at a shallow boundary before finding `n`.
fn walk_history(
    repo: &Repository,
    rev: &str,
    path: &str,
    n: usize,
) -> anyhow::Result<(Vec<FileVersion>, bool)> {
    let shallow = shallow_roots(repo);
    let start = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| Failure::new(format!("cannot resolve `{rev}`: {}", e.message())))?;
    let mut walk = repo.revwalk()?;
    walk.push(start.id())?;
    walk.simplify_first_parent()?;
    let mut out = Vec::new();
    for id in walk {
        let id = id?;
        let commit = repo.find_commit(id)?;
        let here = blob_id(&commit.tree()?, path);
        if shallow.contains(&id) {
            // Whether this commit changed the file is unknown: its parent is not here.
            return Ok((out, true));
        }
        let parent = match commit.parent(0) {
            Ok(p) => blob_id(&p.tree()?, path),
            Err(_) => None,
        };
        if here != parent {
            out.push(version(repo, &commit, path)?);
            if out.len() >= n {
                return Ok((out, false));
            }
        }
    }
    Ok((out, false))
}

fn version(
    repo: &Repository,
    commit: &git2::Commit<'_>,
    path: &str,
) -> anyhow::Result<FileVersion> {
    Ok(FileVersion {
        commit: commit.id().to_string(),
        time: commit.time().seconds(),
        summary: commit
            .summary()
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_string(),
        text: read_in_tree(repo, &commit.tree()?, path)?,
    })
}

/// The parents a commit object names. libgit2's `parent_ids` hides them on a shallow
/// boundary, and a release commit fetched at depth 1 is always one.
pub(super) fn raw_parents(repo: &Repository, id: Oid) -> Vec<Oid> {
    let Ok(odb) = repo.odb() else {
        return Vec::new();
    };
    let Ok(obj) = odb.read(id) else {
        return Vec::new();
    };
    let data = String::from_utf8_lossy(obj.data()).into_owned();
    data.lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.strip_prefix("parent "))
        .filter_map(|h| Oid::from_str(h.trim()).ok())
        .collect()
}

fn shallow_roots(repo: &Repository) -> Vec<Oid> {
    std::fs::read_to_string(repo.path().join("shallow"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| Oid::from_str(l.trim()).ok())
        .collect()
}
