//! The release pull request: the overlay edited on a fresh base tip, committed to
//! `release/<service>/<env>`, the PR opened or updated, the merge policy applied;
//! the edit re-applied when the base moved or the PR conflicts.

use super::*;
use crate::action::Outputs;
use crate::context::Context;
use crate::error::Failure;
use crate::git::{self, Publish, Target, Workspace};
use crate::github::Branches;
use crate::github::{self, GitHub, MergeMethod, MergePolicy, PrBody, PrContent};
use crate::overlay;
use crate::target::{self, SetVersion};

use crate::git::Published;
use crate::github::{MergeOutcome, PrState};

/// Default commit message (and the template's placeholders).
pub(crate) const MESSAGE: &str = "{service}: {env} {old} → {new}";

impl Session {
    /// Before the first registry write: read the base tip and `service`'s target
    /// file in `env` there (`commit-via: api`; the same one query the commit's
    /// first round would make, so it costs nothing), and refuse a file that is a
    /// link, too large or does not parse, so bad input in the repository writes
    /// nothing anywhere.
    pub(crate) async fn read_target_first(
        &self,
        cx: &Context,
        service: &Service,
        env: &Environment,
    ) -> anyhow::Result<()> {
        if cx.dry_run || self.via != CommitVia::Api {
            return Ok(());
        }
        let target = cx.config.target(service, env)?;
        let branch = git::release_branch(&service.name, &env.name);
        let policy = self.change.merge.unwrap_or(env.merge);
        let gh = self.github()?;
        let base = self.api_base.get().or(cx.inputs.base.as_ref());
        let head = (policy != MergePolicy::Direct).then_some(branch.as_str());
        let path = target.path_str();
        let read = gh
            .read_branches(base.map(String::as_str), head, &path, None)
            .await?;
        if let Some(f) = &read.file {
            target.read(&f.text)?;
        }
        self.api_base.get_or_init(|| read.base.clone());
        *self.first_read.borrow_mut() = Some((path, read));
        Ok(())
    }

    /// Edit the overlay on a fresh base tip and carry it through the PR (or a
    /// direct push). `None` in a dry run.
    pub(crate) async fn publish(
        &self,
        cx: &Context,
        change: &Change<'_>,
        out: &mut Outputs,
    ) -> anyhow::Result<Option<ReleaseOutcome>> {
        let env = change.env;
        let service = change.service;
        let target = cx.config.target(service, env)?;
        let rel = target.path.clone();
        let path = cx.root.join(&rel);
        let rel_str = target.path_str();
        let set = SetVersion {
            tag: Some(&change.tag),
            digest: Some(&change.digest),
        };
        let branch = git::release_branch(&service.name, &env.name);
        let policy = self.change.merge.unwrap_or(env.merge);
        let method = self.change.method;

        if cx.dry_run {
            // A missing overlay is made by the release, as on the real path.
            let text = crate::fs::read_user_file(&cx.root, &path, &rel)?.unwrap_or_default();
            let before = target.read(&text)?;
            let old = before.as_ref().and_then(|b| b.tag.clone());
            match target.edit(&text, set)? {
                target::Edit::Unchanged => {
                    println!(
                        "{}: unchanged ({} already at `{}`)",
                        rel.display(),
                        service.name,
                        change.tag
                    );
                    out.set("changed", false);
                }
                target::Edit::Changed { text: after, .. } => {
                    print!("{}", overlay::unified_diff(&rel_str, &text, &after));
                    let title =
                        github::pr_title(&service.name, &env.name, old.as_deref(), &change.tag);
                    match policy {
                        MergePolicy::Direct => {
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
        // What the base holds now: the PR's "old" column and its commit list.
        let (via, base, before_text) = match self.via {
            CommitVia::Git => {
                let Repo { ws, base } = self.repo(cx)?;
                let base_tip = self.base_tip(ws, base)?;
                let text = ws.read_at(&base_tip, &rel_str)?.unwrap_or_default();
                (Via::Git(ws), base.clone(), text)
            }
            CommitVia::Api => {
                // One query: base tip, the overlay there, our release branch. The
                // first round of the commit uses it; no fetch at all.
                let base = self.api_base.get().or(cx.inputs.base.as_ref());
                let head = (policy != MergePolicy::Direct).then_some(branch.as_str());
                let early = self.first_read.borrow_mut().take();
                let read = match early {
                    Some((path, r)) if path == rel_str => r,
                    _ => {
                        gh.read_branches(base.map(String::as_str), head, &rel_str, None)
                            .await?
                    }
                };
                let base = self.api_base.get_or_init(|| read.base.clone()).clone();
                let text = read
                    .file
                    .as_ref()
                    .map(|f| f.text.clone())
                    .unwrap_or_default();
                (Via::Api(Some(Box::new(read))), base, text)
            }
        };
        let before = target.read(&before_text).ok().flatten();
        let old_tag = before.as_ref().and_then(|b| b.tag.clone());
        let old_digest = before.as_ref().and_then(|b| b.digest.clone());

        let changelog = self
            .changelog(
                cx,
                service,
                env,
                &super::changelog::Ends {
                    old_tag: old_tag.as_deref(),
                    old_digest: old_digest.as_deref(),
                    new_digest: &change.digest,
                    new_sha: change.source_sha.as_deref(),
                },
            )
            .await;
        let mut body = PrBody {
            service: service.name.clone(),
            env: env.name.clone(),
            image: service.image.clone(),
            old_tag: old_tag.clone(),
            new_tag: change.tag.clone(),
            old_digest,
            new_digest: Some(change.digest.clone()),
            changelog,
            ..Default::default()
        };
        if let Some(url) = super::run_url() {
            body.links.push(("Workflow run".into(), url));
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
                target: if policy == MergePolicy::Direct {
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
            policy,
            method,
            max_rounds: 10,
            close_comment: Some(format!(
                "`{base}` already has `{}` at `{}`; closing.",
                service.name, change.tag
            )),
        };
        let mut edit = target.edit_fn(set);
        let outcome = release(via, gh, &req, &mut edit).await?;
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
        if let Some(note) = &outcome.checks_note {
            crate::output::warning(note);
            println!("{note}");
            out.summary
                .push_str(&format!("**Checks will not run:** {note}.\n"));
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
}

/// Publish an overlay change and carry it to the base: PR + merge policy, or a
/// direct push.
#[derive(Debug, Clone)]
pub struct Release {
    pub publish: Publish,
    pub content: PrContent,
    pub policy: MergePolicy,
    pub method: MergeMethod,
    /// Times a conflict or a moved head may send us back to re-apply the edit
    /// while the base stands still. A round lost because the base moved (another
    /// release merged first: the others are making progress) counts only toward
    /// four times this, so twenty racing releases all land without an endless loop.
    pub max_rounds: u32,
    /// Comment left on a stale PR we close.
    pub close_comment: Option<String>,
}

/// What [`release`] did: the `pr-*`, `merged`, `merge-sha` and `changed` outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseOutcome {
    pub published: Published,
    pub pr: Option<PrState>,
    pub merged: bool,
    pub merge_sha: Option<String>,
    pub auto_merge: bool,
    /// Git retries plus rounds re-applied after conflicts.
    pub retries: u32,
    pub api_calls: u32,
    /// Required checks that will never run on this PR (opened with `GITHUB_TOKEN`).
    pub checks_note: Option<String>,
}

impl ReleaseOutcome {
    /// `(name, value)` pairs for `GITHUB_OUTPUT`.
    pub fn outputs(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("changed", self.published.changed.to_string()),
            ("merged", self.merged.to_string()),
            ("merge-sha", self.merge_sha.clone().unwrap_or_default()),
            ("commit", self.published.commit.clone().unwrap_or_default()),
        ];
        if let Some(pr) = &self.pr {
            out.push(("pr-number", pr.number.to_string()));
            out.push(("pr-url", pr.url.clone()));
            out.push(("pr-operation", pr.operation.as_str().to_string()));
        }
        out
    }
}

/// How a release's commits are made: pushed from a workspace, or made by GitHub
/// through its API (with the read the caller made just before, if any).
pub enum Via<'a> {
    Git(&'a Workspace),
    Api(Option<Box<Branches>>),
}

/// Publish the edit and apply the merge policy, re-applying the edit on the new base
/// when the PR conflicts or our head moved. `Target::Direct` pushes to the base.
pub async fn release(
    mut via: Via<'_>,
    gh: &GitHub,
    req: &Release,
    edit: &mut dyn FnMut(&str) -> anyhow::Result<Option<String>>,
) -> anyhow::Result<ReleaseOutcome> {
    let calls_before = gh.api_calls();
    let mut retries = 0;
    let mut round = 0;
    let mut stalled = 0;
    // The base of the round a conflict sent us back from.
    let mut lost_on: Option<String> = None;
    loop {
        let (published, read) = match &mut via {
            // libgit2 is blocking; a release does a handful of fetches and one push.
            Via::Git(ws) => (ws.publish(&req.publish, edit)?, None),
            Via::Api(first) => {
                let (p, read) =
                    super::via_api::publish(gh, &req.publish, first.take().map(|b| *b), edit)
                        .await?;
                (p, Some(read))
            }
        };
        let repo_id = read.as_ref().map(|r| r.repo_id.clone());
        let github_deletes = read.as_ref().is_some_and(|r| r.delete_branch_on_merge);
        // The read saw no open PR from our branch: no list call before the create.
        let none_open = read.as_ref().is_some_and(|r| r.open_pr.is_none());
        retries += published.retries;
        let head = match &req.publish.target {
            Target::Direct => {
                return Ok(ReleaseOutcome {
                    merged: published.pushed,
                    merge_sha: published.commit.clone().filter(|_| published.pushed),
                    pr: None,
                    auto_merge: false,
                    retries,
                    api_calls: gh.api_calls() - calls_before,
                    checks_note: None,
                    published,
                });
            }
            Target::Release(b) => b.clone(),
        };
        if !published.changed {
            let pr = gh
                .close_stale(&head, &req.publish.base, req.close_comment.as_deref())
                .await?;
            return Ok(ReleaseOutcome {
                published,
                pr,
                merged: false,
                merge_sha: None,
                auto_merge: false,
                retries,
                api_calls: gh.api_calls() - calls_before,
                checks_note: None,
            });
        }
        let mut pr = gh
            .ensure_pr_known(&head, &req.publish.base, &req.content, none_open)
            .await?;
        let ours = published.commit.clone().unwrap_or_default();
        if pr.head_sha != ours {
            // GitHub reports the head it has indexed; our leased push is the truth.
            pr.head_sha = ours;
        }
        let outcome = gh.apply_policy(&pr, req.policy, req.method).await?;
        let checks_note = match &outcome {
            MergeOutcome::AutoMerge(Some(why)) | MergeOutcome::Blocked(why) => {
                checks_wont_run(&pr, &req.publish.base, why)
            }
            _ => None,
        };
        let (merged, merge_sha, auto_merge) = match outcome {
            MergeOutcome::Merged(sha) => (true, Some(sha).filter(|s| !s.is_empty()), false),
            MergeOutcome::AutoMerge(_) => (false, None, true),
            MergeOutcome::Left => (false, None, false),
            MergeOutcome::Conflict(why) | MergeOutcome::HeadModified(why) => {
                round += 1;
                retries += 1;
                if lost_on.as_deref() == Some(published.base_sha.as_str()) || lost_on.is_none() {
                    stalled += 1;
                }
                lost_on = Some(published.base_sha.clone());
                if stalled > req.max_rounds || round > req.max_rounds.saturating_mul(4) {
                    return Err(Failure::new(format!(
                        "pull request #{} could not be merged after {round} attempts: {why}",
                        pr.number
                    ))
                    .hint("the base keeps changing under the release; run the step again")
                    .into());
                }
                eprintln!(
                    "github: #{} {why}; re-applying the change on the new base",
                    pr.number
                );
                tokio::time::sleep(crate::retry::Backoff::GITHUB.delay(round)).await;
                continue;
            }
            MergeOutcome::Blocked(why) => {
                if req.policy == MergePolicy::Immediate {
                    return Err(Failure::new(format!("pull request #{} cannot be merged now: {why}", pr.number))
                        .hint("allow auto-merge in the repository settings, use `merge: auto`, or satisfy the branch protection")
                        .into());
                }
                eprintln!("github: #{} left open: {why}", pr.number);
                (false, None, false)
            }
        };
        if merged {
            // After our own merge the branch is ours to delete; a push with a lease
            // on the merged sha costs no API call and cannot delete a newer push.
            let deleted = match (&via, &repo_id) {
                // GitHub deletes the merged head itself ("Managing the automatic
                // deletion of branches"): no request for it.
                (Via::Api(_), _) if github_deletes => Ok(true),
                (Via::Git(ws), _) => ws.delete_branch(&head, &pr.head_sha),
                (Via::Api(_), Some(id)) => {
                    super::via_api::delete_branch(gh, id, &head, &pr.head_sha).await
                }
                (Via::Api(_), None) => Ok(false),
            };
            if let Err(e) = deleted {
                eprintln!("could not delete `{head}`: {e:#}");
            }
        }
        return Ok(ReleaseOutcome {
            published,
            pr: Some(pr),
            merged,
            merge_sha,
            auto_merge,
            retries,
            api_calls: gh.api_calls() - calls_before,
            checks_note,
        });
    }
}

/// When GitHub holds the merge for required status checks on a PR that
/// `GITHUB_TOKEN` opened: those checks never run on it, so auto-merge would wait
/// forever. Docs "GITHUB_TOKEN" (When GITHUB_TOKEN triggers workflow runs): "events
/// triggered by the GITHUB_TOKEN, with the exception of workflow_dispatch and
/// repository_dispatch, will not create a new workflow run"; since 2026 a
/// `pull_request` run it causes waits for someone with write access to approve it
/// (docs "Events that trigger workflows", pull_request notes; github/docs#44419).
fn checks_wont_run(pr: &PrState, base: &str, why: &str) -> Option<String> {
    if pr.author != "github-actions[bot]" || !why.to_lowercase().contains("required status check") {
        return None;
    }
    let names: Vec<&str> = why
        .split("Required status check \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    let names = if names.is_empty() {
        String::new()
    } else {
        format!(" ({})", names.join(", "))
    };
    Some(format!(
        "the required status checks{names} of `{base}` will not run on PR #{}: it was opened with `GITHUB_TOKEN`, and GitHub starts no workflow for what that token does (at most a run that waits for someone to approve it), so the merge would wait forever. Pass a GitHub App token as `token` so the checks run, or approve the workflow runs on the PR",
        pr.number
    ))
}
