//! The release PR's commit list: the code's commits between the version an
//! environment runs and the one it gets, from the code's repository (the config's
//! own, or the one `repository:` names), in one compare request.
//!
//! Where the old commit comes from, in order: the `{sha}` or `{sha7}` of its tag
//! (no request), the running image's `org.opencontainers.image.revision` label
//! (our builds set it, and so does docker/metadata-action), the SemVer tag
//! `v{version}` of its `{version}`. The new one is the released commit, else the new
//! image's label (a rollback). When one end is unknown, or GitHub does not answer,
//! the body says so and the release goes on.

use super::*;
use crate::github::{ChangeCommit, Changelog, MAX_LISTED, SourceRepo};

/// What the changelog starts and ends at, as the PR knows them.
pub(crate) struct Ends<'a> {
    pub(crate) old_tag: Option<&'a str>,
    pub(crate) old_digest: Option<&'a str>,
    pub(crate) new_digest: &'a str,
    pub(crate) new_sha: Option<&'a str>,
}

/// A changelog's two commits, found (the registry's part, no GitHub request).
pub(crate) struct Range {
    old: String,
    new: String,
    found_by: &'static str,
}

impl Session {
    /// The commits a changelog spans, from the registry's labels and the tags;
    /// `Err` is the changelog to show when they cannot be found.
    pub(crate) async fn changelog_range(
        &self,
        cx: &Context,
        service: &Service,
        env: &Environment,
        ends: Ends<'_>,
    ) -> Result<Range, Changelog> {
        let Ok(Some(_)) = self.source(cx) else {
            return Err(Changelog::Omitted);
        };
        let Some(old_tag) = ends.old_tag else {
            return Err(Changelog::Missing {
                reason: format!("`{}` runs no version of `{}` yet", env.name, service.name),
                compare_url: None,
            });
        };
        // The running tag is the file's text: only a valid tag is looked up or said.
        if !crate::grammar::is_tag(old_tag) {
            return Err(Changelog::Missing {
                reason: format!("the running version of `{}` is no valid tag", service.name),
                compare_url: None,
            });
        }
        let new = match ends.new_sha {
            Some(s) => Some((s.to_string(), "the released commit")),
            None => self
                .revision(service, ends.new_digest)
                .await
                .map(|s| (s, "the image's revision label")),
        };
        let Some((new, _)) = new else {
            return Err(Changelog::Missing {
                reason: format!(
                    "the new image `{}` names no commit (no `org.opencontainers.image.revision` label)",
                    short_digest(ends.new_digest)
                ),
                compare_url: None,
            });
        };
        let Some((old, found_by)) = self
            .old_commit(service, env, old_tag, ends.old_digest)
            .await
        else {
            return Err(Changelog::Missing {
                reason: format!(
                    "the running `{old_tag}` names no commit (no revision label, and its tag holds no sha or version)"
                ),
                compare_url: None,
            });
        };
        if same_commit(&old, &new) {
            return Err(Changelog::Omitted);
        }
        Ok(Range { old, new, found_by })
    }

    /// The commits of `range`: one compare request, made once per range in a run
    /// (a train's members released together before share theirs).
    pub(crate) async fn changelog_list(&self, cx: &Context, range: &Range) -> Changelog {
        let Ok(Some(src)) = self.source(cx) else {
            return Changelog::Omitted;
        };
        let repo = SourceRepo {
            full_name: src.full_name(),
            web_url: src.web_url(),
        };
        let Range { old, new, found_by } = range;
        let (old, new) = (old.clone(), new.clone());
        let compare_url = format!("{}/compare/{old}...{new}", repo.web_url);
        let key = (old.clone(), new.clone());
        let cached = self.compares.borrow().get(&key).cloned();
        // The first read's history tells the list exactly where the way from `old`
        // to `new` is linear and within it: no compare request.
        let from_history = || {
            let list = super::rules::history_between(&repo.full_name, &old, &new)?;
            Some(crate::github::Comparison {
                total_commits: list.len(),
                status: "ahead".into(),
                commits: list
                    .into_iter()
                    .take(MAX_LISTED)
                    .map(|c| crate::github::CommitRef {
                        sha: c.oid,
                        html_url: c.url,
                        commit: crate::github::CommitDetail {
                            message: c.message,
                            author: c
                                .author
                                .clone()
                                .map(|name| crate::github::GitPerson { name }),
                        },
                        author: None,
                    })
                    .collect(),
            })
        };
        let answer = match cached {
            Some(a) => a,
            None if let Some(c) = from_history() => Ok(c),
            None => {
                let a = src
                    .compare(&old, &new, MAX_LISTED)
                    .await
                    .map_err(|e| format!("{e:#}"));
                self.compares.borrow_mut().insert(key, a.clone());
                a
            }
        };
        match answer {
            Ok(c) => {
                let commits: Vec<ChangeCommit> = c
                    .commits
                    .into_iter()
                    .map(|c| ChangeCommit {
                        author: c
                            .author
                            .map(|a| a.login)
                            .filter(|l| !l.is_empty())
                            .or_else(|| c.commit.author.map(|a| a.name)),
                        sha: c.sha,
                        html_url: c.html_url,
                        message: c.commit.message,
                    })
                    .collect();
                Changelog::Listed {
                    repo,
                    total: c.total_commits.max(commits.len()),
                    base: old,
                    head: new,
                    found_by: (*found_by).to_string(),
                    commits,
                    compare_url,
                }
            }
            Err(e) => {
                // The error's text stays in the log; the body says only what failed.
                eprintln!("github: no commit list for the PR body: {e}");
                Changelog::Missing {
                    reason: format!(
                        "GitHub did not compare `{}` with `{}` in `{}`",
                        short(&old),
                        short(&new),
                        repo.full_name
                    ),
                    compare_url: Some(compare_url),
                }
            }
        }
    }

    /// The commit the running version was built from, and how it was found.
    async fn old_commit(
        &self,
        service: &Service,
        env: &Environment,
        old_tag: &str,
        old_digest: Option<&str>,
    ) -> Option<(String, &'static str)> {
        // A tag whose template holds the commit (`{sha}`, `{sha7}`: compare takes a
        // short sha) says it with no registry request; a train of 50 would make 50,
        // or 100 with the config blob. A `{version}` is only a hint: the image's
        // label comes first.
        let parsed = env.tag.parse_tag(old_tag);
        if let Some(sha) = parsed
            .as_ref()
            .and_then(|p| p.sha.clone().or(p.sha7.clone()))
        {
            return Some((sha, "the running tag's commit"));
        }
        let reference = old_digest.unwrap_or(old_tag);
        if let Some(sha) = self.revision(service, reference).await {
            return Some((sha, "the running image's revision label"));
        }
        parsed?
            .version
            .map(|v| (format!("v{v}"), "the running tag's version"))
    }

    /// The revision label of `service`'s image at `reference`; `None`, with a
    /// note in the log, when the registry cannot tell.
    async fn revision(&self, service: &Service, reference: &str) -> Option<String> {
        match self.registry.revision_of(&service.image, reference).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!(
                    "registry: no revision label of `{}` at `{}`: {e:#}",
                    service.image,
                    short_digest(reference)
                );
                None
            }
        }
    }
}

/// Full or abbreviated shas of one commit.
fn same_commit(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    let hex = |s: &str| s.len() >= 7 && s.bytes().all(|c| c.is_ascii_hexdigit());
    a == b || (hex(&a) && hex(&b) && (a.starts_with(&b) || b.starts_with(&a)))
}

fn short(s: &str) -> &str {
    if s.len() == 40 { &s[..7] } else { s }
}

fn short_digest(d: &str) -> &str {
    d.strip_prefix("sha256:")
        .map_or(d, |h| &d[..("sha256:".len() + h.len().min(12))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_full_shas_of_one_commit_match() {
        let full = "0123456789abcdef0123456789abcdef01234567";
        assert!(same_commit(full, "0123456"));
        assert!(same_commit("0123456", full));
        assert!(!same_commit(full, "0123457"));
        assert!(!same_commit("v1.2.3", full));
        assert!(same_commit("v1.2.3", "v1.2.3"));
    }
}
