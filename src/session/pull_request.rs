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
use crate::github::{MergeOutcome, PrField, PrState};

/// Default commit message (and the template's placeholders).
pub(crate) const MESSAGE: &str = "{service}: {env} {old} → {new}";

/// A train's default commit message: `{changes}` is `api a → b, web c → d`.
pub(crate) const TRAIN_MESSAGE: &str = "{service}: {env} {changes}";

impl Session {
    /// Before the first registry write: read the base tip and the target files of
    /// `services` in `env` there (`commit-via: api`; the same one query the
    /// commit's first round would make, so it costs nothing), and refuse a file
    /// that is a link, too large or does not parse, so bad input in the repository
    /// writes nothing anywhere. `name`: the service's or the train's (the branch).
    pub(crate) async fn read_target_first(
        &self,
        cx: &Context,
        name: &str,
        services: &[&Service],
        env: &Environment,
    ) -> anyhow::Result<()> {
        if cx.dry_run || self.via != CommitVia::Api {
            return Ok(());
        }
        let targets = services
            .iter()
            .map(|s| cx.config.target(s, env))
            .collect::<Result<Vec<_>, _>>()?;
        let paths = paths_of(&targets);
        let branch = git::release_branch(name, &env.name);
        let policy = self.change.merge.unwrap_or(env.merge);
        let gh = self.github()?;
        let base = self.api_base.get().or(cx.inputs.base.as_ref());
        let head = (policy != MergePolicy::Direct).then_some(branch.as_str());
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let guessed = super::rules::EARLY
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let read = match guessed {
            // The rules' query read these very files and branch: no second read.
            Some((g, read)) if g.paths == paths && g.head.as_deref() == head => read,
            _ => {
                gh.read_branches_files(base.map(String::as_str), head, &refs, None)
                    .await?
            }
        };
        // Each target must be editable as the base has it: a file that does not
        // parse, or lacks the member's fields, or (but for an overlay, which a
        // release makes) is missing, is refused now, before any registry write.
        for (s, t) in services.iter().zip(&targets) {
            let i = paths.iter().position(|p| *p == t.path_str());
            match i.and_then(|i| read.files[i].as_ref()) {
                Some(f) => {
                    t.read(&f.text)?;
                    let probe = SetVersion {
                        tag: Some("0"),
                        digest: None,
                    };
                    t.edit(&f.text, probe)?;
                }
                None if t.format != target::Format::Kustomize => {
                    return Err(t.missing(&s.name, &env.name).into());
                }
                None => {}
            }
        }
        self.api_base.get_or_init(|| read.base.clone());
        *self.first_read.borrow_mut() = Some((paths, read));
        Ok(())
    }

    /// Edit the targets on a fresh base tip and carry them through the PR (or a
    /// direct push): one service's, or every member's of a train in one commit.
    /// `None` in a dry run.
    pub(crate) async fn publish(
        &self,
        cx: &Context,
        batch: &Batch<'_>,
        out: &mut Outputs,
    ) -> anyhow::Result<Option<ReleaseOutcome>> {
        let env = batch.env();
        let name = batch.name();
        let targets = batch
            .changes
            .iter()
            .map(|c| cx.config.target(c.service, env))
            .collect::<Result<Vec<_>, _>>()?;
        let paths = paths_of(&targets);
        let branch = git::release_branch(name, &env.name);
        let policy = self.change.merge.unwrap_or(env.merge);
        let method = self.change.method;
        // Every member whose target is `path`, applied in the train's order.
        let apply = |path: &str, text: &str| -> anyhow::Result<Option<String>> {
            let mut now = text.to_string();
            for (c, t) in batch.changes.iter().zip(&targets) {
                if t.path_str() != path {
                    continue;
                }
                let set = SetVersion {
                    tag: Some(&c.tag),
                    digest: Some(&c.digest),
                };
                if let target::Edit::Changed { text, .. } = t.edit(&now, set)? {
                    now = text;
                }
            }
            Ok((now != text).then_some(now))
        };

        if cx.dry_run {
            let mut changed = false;
            for rel_str in &paths {
                let rel = std::path::PathBuf::from(rel_str);
                // A missing overlay is made by the release, as on the real path.
                let text = crate::fs::read_user_file(&cx.root, &cx.root.join(&rel), &rel)?
                    .unwrap_or_default();
                for t in targets.iter().filter(|t| t.path_str() == *rel_str) {
                    t.read(&text)?;
                }
                match apply(rel_str, &text)? {
                    None => {
                        let names: Vec<String> = batch
                            .changes
                            .iter()
                            .zip(&targets)
                            .filter(|(_, t)| t.path_str() == *rel_str)
                            .map(|(c, _)| format!("{} already at `{}`", c.service.name, c.tag))
                            .collect();
                        println!("{}: unchanged ({})", rel.display(), names.join(", "));
                    }
                    Some(after) => {
                        print!("{}", overlay::unified_diff(rel_str, &text, &after));
                        changed = true;
                    }
                }
            }
            if changed {
                let title = match &batch.train {
                    None => {
                        let c = &batch.changes[0];
                        let text = crate::fs::read_user_file(
                            &cx.root,
                            &cx.root.join(&targets[0].path),
                            &targets[0].path,
                        )?
                        .unwrap_or_default();
                        let old = targets[0].read(&text)?.and_then(|b| b.tag);
                        github::pr_title(&c.service.name, &env.name, old.as_deref(), &c.tag)
                    }
                    Some(train) => format!("{train}: {env}", env = env.name),
                };
                match policy {
                    MergePolicy::Direct => {
                        println!("dry run: would push this change to the base branch")
                    }
                    _ => println!(
                        "dry run: would push `{branch}` and open or update the pull request \"{title}\" (merge: {})",
                        policy.as_str()
                    ),
                }
            }
            out.set("changed", changed);
            return Ok(None);
        }

        let gh = self.github()?;
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        // What the base holds now: the PR's "old" column and its commit list.
        let (via, base, befores) = match self.via {
            CommitVia::Git => {
                let Repo { ws, base } = self.repo(cx)?;
                let base_tip = self.base_tip(ws, base)?;
                let mut texts = Vec::new();
                for p in &paths {
                    texts.push(ws.read_at(&base_tip, p)?.unwrap_or_default());
                }
                (Via::Git(ws), base.clone(), texts)
            }
            CommitVia::Api => {
                // One query: base tip, the targets there, our release branch. The
                // first round of the commit uses it; no fetch at all.
                let base = self.api_base.get().or(cx.inputs.base.as_ref());
                let head = (policy != MergePolicy::Direct).then_some(branch.as_str());
                let early = self.first_read.borrow_mut().take();
                // A deploy's promotion: the rules' query read these files and the
                // branch already, at the tip the deploy checked, unless a health gate
                // has run since (minutes, maybe: read afresh then).
                let early = early.or_else(|| {
                    self.gate.is_none().then_some(())?;
                    super::rules::early_read(&paths, Some(head), true).map(|r| (paths.clone(), r))
                });
                let read = match early {
                    Some((p, r)) if p == paths => r,
                    _ => {
                        gh.read_branches_files(base.map(String::as_str), head, &refs, None)
                            .await?
                    }
                };
                let base = self.api_base.get_or_init(|| read.base.clone()).clone();
                let texts = read
                    .files
                    .iter()
                    .map(|f| f.as_ref().map(|f| f.text.clone()).unwrap_or_default())
                    .collect();
                (Via::Api(Some(Box::new(read))), base, texts)
            }
        };
        // Each member's part of the body: old → new, and its commits. The ends of
        // every member's commit list are read from the registry concurrently; the
        // compares then go one by one, each range once.
        let mut olds_of = Vec::new();
        for (c, t) in batch.changes.iter().zip(&targets) {
            let i = paths.iter().position(|p| *p == t.path_str()).unwrap_or(0);
            let before = t.read(&befores[i]).ok().flatten();
            olds_of.push((
                c,
                before.as_ref().and_then(|b| b.tag.clone()),
                before.as_ref().and_then(|b| b.digest.clone()),
            ));
        }
        let ranges: Vec<_> = {
            use futures_util::StreamExt;
            futures_util::stream::iter(olds_of.iter().map(|(c, old_tag, old_digest)| {
                self.changelog_range(
                    cx,
                    c.service,
                    env,
                    super::changelog::Ends {
                        old_tag: old_tag.as_deref(),
                        old_digest: old_digest.as_deref(),
                        new_digest: &c.digest,
                        new_sha: c.source_sha.as_deref(),
                    },
                )
            }))
            .buffered(16)
            .collect()
            .await
        };
        let mut parts: Vec<PrBody> = Vec::new();
        for ((c, old_tag, old_digest), range) in olds_of.into_iter().zip(ranges) {
            let changelog = match range {
                Ok(r) => self.changelog_list(cx, &r).await,
                Err(c) => c,
            };
            parts.push(PrBody {
                service: c.service.name.clone(),
                env: env.name.clone(),
                image: c.service.image.clone(),
                old_tag,
                new_tag: c.tag.clone(),
                old_digest,
                new_digest: Some(c.digest.clone()),
                changelog,
                ..Default::default()
            });
        }
        let mut run_links = Vec::new();
        if let Some(url) = super::run_url() {
            run_links.push(("Workflow run".to_string(), url));
        }
        let kind = batch.changes[0].kind;
        let mut labels = env.labels.clone();
        labels.extend(self.change.labels.iter().cloned());
        for c in &batch.changes {
            labels.extend(c.labels.iter().cloned());
        }
        if batch.train.is_some() {
            labels.push("train".into());
        }
        let labels = unique(labels);
        let mut reviewers = env.reviewers.clone();
        reviewers.extend(self.change.reviewers.iter().cloned());
        let reviewers = unique(reviewers);
        let olds = |p: &PrBody| p.old_tag.clone().unwrap_or_else(|| "(none)".into());
        let (mut title, body, old_text, new_text, digest_text) = match &batch.train {
            None => {
                let mut p = parts[0].clone();
                p.links = run_links;
                (
                    github::pr_title(&p.service, &env.name, p.old_tag.as_deref(), &p.new_tag),
                    p.render(),
                    olds(&p),
                    p.new_tag.clone(),
                    batch.changes[0].digest.clone(),
                )
            }
            Some(train) => {
                let rows: Vec<(&str, Option<&str>, &str)> = parts
                    .iter()
                    .map(|p| (p.service.as_str(), p.old_tag.as_deref(), p.new_tag.as_str()))
                    .collect();
                let list = |f: &dyn Fn(&PrBody) -> String| {
                    parts
                        .iter()
                        .map(|p| format!("{} {}", p.service, f(p)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                (
                    github::train_title(train, &env.name, &rows),
                    github::TrainBody {
                        train: train.clone(),
                        env: env.name.clone(),
                        members: parts.clone(),
                        links: run_links,
                    }
                    .render(),
                    list(&olds),
                    list(&|p| p.new_tag.clone()),
                    list(&|p| p.new_digest.clone().unwrap_or_default()),
                )
            }
        };
        if kind == "rollback" {
            title.push_str(" (rollback)");
        }
        let template = match (&cx.inputs.message, &batch.train) {
            (Some(m), _) => m.as_str(),
            (None, None) => MESSAGE,
            (None, Some(_)) => TRAIN_MESSAGE,
        };
        let changes_text = parts
            .iter()
            .map(|p| format!("{} {} → {}", p.service, olds(p), p.new_tag))
            .collect::<Vec<_>>()
            .join(", ");
        let message = git::render_message(
            template,
            &[
                ("service", name),
                ("env", &env.name),
                ("old", &old_text),
                ("new", &new_text),
                ("digest", &digest_text),
                ("kind", kind),
                ("changes", &changes_text),
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
                paths: paths.clone(),
                message,
            },
            content: PrContent {
                title,
                body,
                labels,
                reviewers,
                draft: self.change.draft,
            },
            policy,
            method,
            // An inline chain commits the next environment's PR right after: the
            // merged branch's delete rides in that document.
            defer_delete: self.change.chain == crate::inputs::Chain::Inline
                && cx.config.next_of(&env.name).is_some(),
            max_rounds: 10,
            close_comment: Some(format!(
                "`{base}` already has {new_text} ({name}); closing."
            )),
        };
        let mut edit = apply;
        // An inline chain opens the next environment's PR right after the merge:
        // the merge's own payload reads what that needs (no read of its own).
        let next_read = match cx.config.next_of(&env.name) {
            // Not before a health gate (minutes, maybe: the promotion reads afresh).
            Some(next) if req.defer_delete && self.gate.is_none() && matches!(via, Via::Api(_)) => {
                batch
                    .changes
                    .iter()
                    .map(|c| cx.config.target(c.service, next))
                    .collect::<Result<Vec<_>, _>>()
                    .ok()
                    .map(|t| {
                        let policy = self.change.merge.unwrap_or(next.merge);
                        let head = (policy != MergePolicy::Direct)
                            .then(|| git::release_branch(name, &next.name));
                        (paths_of(&t), head)
                    })
            }
            _ => None,
        };
        if let Some((paths, head)) = &next_read {
            let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
            gh.read_after(Some(github::ReadShape::new(
                Some(&base),
                head.as_deref(),
                &refs,
                None,
                None,
            )));
        }
        let outcome = release(via, gh, &req, &mut edit).await;
        gh.read_after(None);
        if let (Some((paths, _)), Some(read)) = (next_read, gh.take_after_merge()) {
            // The promotion's publish takes it.
            *self.first_read.borrow_mut() = Some((paths, read));
        }
        let outcome = outcome?;
        for (k, v) in outcome.outputs() {
            out.set(k, v);
        }
        let what = match &batch.train {
            None => format!("{} `{}` → `{}`", name, olds(&parts[0]), parts[0].new_tag),
            Some(_) => format!("train {name}: {changes_text}"),
        };
        let files = paths.join(", ");
        match (&outcome.pr, outcome.published.changed) {
            (_, false) => {
                println!("{files}: `{base}` already has {new_text} ({name}); nothing to do")
            }
            (None, true) => println!(
                "pushed {} to `{base}`: {what}",
                short(outcome.published.commit.as_deref()),
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
                    "pull request #{} {} ({state}): {} {what}\n  {}",
                    pr.number,
                    pr.operation.as_str(),
                    env.name,
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
        let pr_link = outcome
            .pr
            .as_ref()
            .map(|p| format!(" ([#{}]({}) {})", p.number, p.url, p.operation.as_str()))
            .unwrap_or_default();
        if let Some(train) = &batch.train {
            out.summary
                .push_str(&format!("Train **{train}** → `{}`{pr_link}:\n\n", env.name));
            for p in &parts {
                out.summary.push_str(&format!(
                    "- **{}**: `{}` → `{}`\n",
                    p.service,
                    olds(p),
                    p.new_tag
                ));
            }
        } else {
            out.summary.push_str(&format!(
                "**{}** → `{}`: `{}` → `{}`{pr_link}\n",
                name,
                env.name,
                olds(&parts[0]),
                parts[0].new_tag,
            ));
        }
        Ok(Some(outcome))
    }
}

/// The files `targets` live in, each once, in order.
pub(crate) fn paths_of(targets: &[target::Target]) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for t in targets {
        let p = t.path_str();
        if !paths.contains(&p) {
            paths.push(p);
        }
    }
    paths
}

/// Publish an overlay change and carry it to the base: PR + merge policy, or a
/// direct push.
#[derive(Debug, Clone)]
pub struct Release {
    pub publish: Publish,
    pub content: PrContent,
    pub policy: MergePolicy,
    pub method: MergeMethod,
    /// After our merge through the API, leave the branch's delete to the run's
    /// next commit document ([`GitHub::flush_deferred`] sends it otherwise).
    pub defer_delete: bool,
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
    edit: &mut crate::git::Edit<'_>,
) -> anyhow::Result<ReleaseOutcome> {
    let calls_before = gh.api_calls();
    let mut retries = 0;
    let mut round = 0;
    let mut stalled = 0;
    // The base of the round a conflict sent us back from.
    let mut lost_on: Option<String> = None;
    loop {
        let (published, read, field) = match &mut via {
            // libgit2 is blocking; a release does a handful of fetches and one push.
            Via::Git(ws) => (ws.publish(&req.publish, edit)?, None, PrField::NotAsked),
            Via::Api(first) => {
                // A release branch made now gets its PR in the commit's document.
                let pr = match &req.publish.target {
                    Target::Release(_) => Some(github::NewPr {
                        base: &req.publish.base,
                        content: &req.content,
                    }),
                    Target::Direct => None,
                };
                let (p, read, field) =
                    super::via_api::publish(gh, &req.publish, first.take().map(|b| *b), edit, pr)
                        .await?;
                (p, Some(read), field)
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
        let mut pr = match field {
            PrField::Opened(o) => gh.decorate_opened(&o, &req.content).await,
            // Opened by a copy of our document whose answer was lost: ours.
            PrField::Exists { maybe_ours: true } => {
                gh.ensure_pr_ours(&head, &req.publish.base, &req.content)
                    .await?
            }
            // Someone else's run opened it meanwhile.
            PrField::Exists { maybe_ours: false } => {
                gh.ensure_pr_known(&head, &req.publish.base, &req.content, false)
                    .await?
            }
            // Not asked, or refused: REST opens it, or says why it can't.
            PrField::NotAsked | PrField::Refused => {
                gh.ensure_pr_known(&head, &req.publish.base, &req.content, none_open)
                    .await?
            }
        };
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
                (Via::Api(_), Some(id)) if req.defer_delete => {
                    gh.defer_delete(
                        id,
                        crate::github::RefUpdate {
                            branch: head.clone(),
                            after: None,
                            before: Some(pr.head_sha.clone()),
                            force: true,
                        },
                    );
                    Ok(true)
                }
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
