//! The files a change touched, asked of GitHub when the checkout lacks the commits
//! (`actions/checkout`'s default depth of 1), for `changed`.
//!
//! One `GET /compare/{base}...{head}` is enough for most changes: three dots
//! compare from the merge base, and the answer names the merge base and, without
//! a paging parameter, its commits end with the head (REST docs "Compare two
//! commits": "the returned list is limited to 250 commits, and the last commit in
//! the list is the most recent of the entire comparison"). Its `files` list stops
//! at 300 for the whole comparison, with nothing in the answer saying more exist
//! (same page, "Working with large comparisons"; changelog 2021-03-22; users meet
//! the cut silently, jitterbit/get-changed-files#49). So a list of 300 is taken as
//! cut, and the two trees are read instead and compared here: two more requests
//! (`GET /git/trees/{sha}?recursive=1`, REST docs "Get a tree"), whatever the size
//! of the change. Fetching the commits over git would need the git credentials and
//! a shallow fetch by sha; paging through the commits and each commit's files
//! costs a request per commit. A tree bigger than GitHub lists in one answer
//! (`truncated`: 100,000 entries or 7 MB, same page) is refused with a hint to
//! check out the history, where no request is needed at all.

use super::*;
use crate::error::{Failure, UserError};
use http::{Method, StatusCode};
use std::collections::BTreeMap;

/// The compare answer lists no more files than this (REST docs "Compare two commits").
pub const COMPARE_FILE_LIMIT: usize = 300;

/// What changed from the merge base of two commits to the second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedFiles {
    pub merge_base: String,
    pub head: String,
    /// Every path added, modified or removed (both names of a rename), sorted.
    pub files: Vec<String>,
    /// `compare`, or `compare + trees` when the compare answer was cut.
    pub via: &'static str,
}

impl GitHub {
    /// The files changed from the merge base of `base` and `head` to `head`.
    pub async fn changed_files(&self, base: &str, head: &str) -> anyhow::Result<ChangedFiles> {
        let path = self.repo_path(&format!("/compare/{}...{}", enc_path(base), enc_path(head)));
        let a = self.send(Method::GET, &path, None).await?;
        if a.status == StatusCode::NOT_FOUND {
            return Err(UserError::new(format!(
                "GitHub knows no comparison of `{base}` with `{head}` in {}: {}",
                self.repository(),
                self.scrub(&a.message())
            ))
            .hint("the commits must be in this repository (an event of another repository, or a force-push that dropped them); pass existing commits as `from` and `to`")
            .into());
        }
        if !a.status.is_success() {
            return Err(self.error(&format!("compare `{base}` with `{head}`"), &a));
        }
        let v: Value = a.json("the comparison")?;
        let text = |v: &Value, what: &str| {
            v.as_str().map(str::to_string).ok_or_else(|| {
                Failure::new(format!(
                    "GitHub's comparison of `{base}` with `{head}` has no {what}"
                ))
            })
        };
        let mb = &v["merge_base_commit"];
        let merge_base = text(&mb["sha"], "merge base")?;
        let mut files: Vec<String> = Vec::new();
        let commits = v["commits"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let Some(last) = commits.last() else {
            // Nothing in `head` that `base` lacks: nothing changed.
            return Ok(ChangedFiles {
                head: merge_base.clone(),
                merge_base,
                files,
                via: "compare",
            });
        };
        let head_sha = text(&last["sha"], "head commit")?;
        let listed = v["files"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if listed.len() < COMPARE_FILE_LIMIT {
            for f in listed {
                files.push(text(&f["filename"], "file name")?);
                if let Some(p) = f["previous_filename"].as_str() {
                    files.push(p.to_string());
                }
            }
            files.sort();
            files.dedup();
            return Ok(ChangedFiles {
                merge_base,
                head: head_sha,
                files,
                via: "compare",
            });
        }
        let old = self
            .tree(&text(&mb["commit"]["tree"]["sha"], "merge base tree")?)
            .await?;
        let new = self
            .tree(&text(&last["commit"]["tree"]["sha"], "head tree")?)
            .await?;
        Ok(ChangedFiles {
            merge_base,
            head: head_sha,
            files: diff_listings(&old, &new),
            via: "compare + trees",
        })
    }

    /// Path → (mode, sha) of every entry but the trees, read recursively.
    async fn tree(&self, sha: &str) -> anyhow::Result<BTreeMap<String, (String, String)>> {
        let path = self.repo_path(&format!("/git/trees/{}?recursive=1", enc(sha)));
        let a = self
            .call(Method::GET, &path, None, &format!("read tree `{sha}`"))
            .await?;
        let v: Value = a.json("the tree")?;
        if v["truncated"].as_bool() == Some(true) {
            return Err(Failure::new(format!(
                "the change touches more than {COMPARE_FILE_LIMIT} files and tree `{sha}` is larger than GitHub lists in one answer"
            ))
            .hint("check out the history (`actions/checkout` with `fetch-depth: 0`): with both commits in the checkout no request is needed")
            .into());
        }
        let mut out = BTreeMap::new();
        for e in v["tree"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            if e["type"] == "tree" {
                continue;
            }
            if let (Some(p), Some(m), Some(s)) =
                (e["path"].as_str(), e["mode"].as_str(), e["sha"].as_str())
            {
                out.insert(p.to_string(), (m.to_string(), s.to_string()));
            }
        }
        Ok(out)
    }
}

/// The paths whose entry differs between two listings, or is in one only.
fn diff_listings(
    old: &BTreeMap<String, (String, String)>,
    new: &BTreeMap<String, (String, String)>,
) -> Vec<String> {
    let mut out: Vec<String> = old
        .iter()
        .filter(|(p, e)| new.get(*p) != Some(e))
        .map(|(p, _)| p.clone())
        .collect();
    out.extend(new.keys().filter(|p| !old.contains_key(*p)).cloned());
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_differ_by_content_mode_and_presence() {
        let e = |m: &str, s: &str| (m.to_string(), s.to_string());
        let old = BTreeMap::from([
            ("a".to_string(), e("100644", "1")),
            ("b".to_string(), e("100644", "2")),
            ("c".to_string(), e("100644", "3")),
        ]);
        let new = BTreeMap::from([
            ("a".to_string(), e("100644", "1")),
            ("b".to_string(), e("100755", "2")),
            ("d".to_string(), e("100644", "4")),
        ]);
        assert_eq!(diff_listings(&old, &new), ["b", "c", "d"]);
    }
}
