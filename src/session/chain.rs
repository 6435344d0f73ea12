//! What follows a merge: the deploy workflow dispatched or the deploy run inline,
//! the deployment recorded with its health gate, and the promotion to the next
//! environment.

use super::*;
use crate::action::Outputs;
use crate::config::{Environment, Service};
use crate::context::Context;
use crate::error::{Failure, UserError};
use crate::overlay::ImageEntry;
use crate::tag::{self, TagVars};
use serde_json::json;
use std::time::{Duration, Instant};

impl Session {
    /// Carry `batch` to its environment (the release PR, or a direct commit), then
    /// go on along the chain when the tool merged it itself.
    pub(crate) async fn carry(
        &self,
        cx: &Context,
        batch: &Batch<'_>,
        out: &mut Outputs,
    ) -> anyhow::Result<()> {
        let published = self.publish(cx, batch, out).await?;
        Box::pin(self.continue_chain(cx, batch, published.as_ref(), out)).await
    }

    /// After a merge the tool made itself: GitHub starts no workflow for events a
    /// `GITHUB_TOKEN` caused, so the chain goes on from here (dispatch or inline).
    pub(crate) async fn continue_chain(
        &self,
        cx: &Context,
        batch: &Batch<'_>,
        outcome: Option<&ReleaseOutcome>,
        out: &mut Outputs,
    ) -> anyhow::Result<()> {
        let Some(outcome) = outcome else {
            return Ok(());
        };
        if !outcome.merged {
            return Ok(());
        }
        let name = batch.name();
        let env = batch.env();
        // What the deploy workflow is told: a service, or a train (its inputs).
        let (noun, what) = match &batch.train {
            Some(t) => ("train", t.as_str()),
            None => ("service", name),
        };
        let chain = self.change.chain;
        let workflow = self.change.deploy_workflow.as_deref();
        match (chain, workflow) {
            // (`dispatch` without a workflow is refused by `ChangeInputs::parse`.)
            (Chain::None, _) | (Chain::Auto | Chain::Dispatch, None) => Ok(()),
            (Chain::Auto | Chain::Dispatch, Some(w)) => {
                let gh = self.github()?;
                // The base the change went to (opened once per run; no API call).
                let base = self.base_name(cx).await?;
                if chain == Chain::Auto && self.event_goes_on(gh, w, name, env, out).await {
                    return Ok(());
                }
                let dispatched = gh
                    .dispatch_workflow(w, &base, &json!({noun: what, "env": env.name}))
                    .await
                    .map_err(|e| {
                    Failure::new(format!(
                        "the merge is done, but the deploy workflow `{w}` could not be started: {e:#}"
                    ))
                    .hint(format!(
                        "`.github/workflows/{w}` must exist on `{base}` with `on: workflow_dispatch` (inputs `{noun}`, `env`), and the token needs `actions: write`; then run `deploy` for {name} in `{}`",
                        env.name
                    ))
                })?;
                if let crate::github::Dispatched::Unclear { why, link } = dispatched {
                    // Sent again, it could deploy twice; not sent, it may never
                    // deploy. Say so where people look, and leave it to them.
                    let msg = format!(
                        "the merge is done, but whether the deploy workflow `{w}` started cannot be told: {why}. Look at {link}: if no run of `{w}` on `{base}` started just now, run `deploy` for {name} in `{}`",
                        env.name
                    );
                    crate::output::warning(&msg);
                    eprintln!("warning: {msg}");
                    out.summary.push_str(&format!(
                        "> [!WARNING]\n> Whether `{w}` started cannot be told (no answer from GitHub). [Look at its runs]({link}); if none started, run `deploy` for **{name}** in `{}`.\n",
                        env.name
                    ));
                    out.set("dispatch-unclear", w);
                    return Ok(());
                }
                println!(
                    "dispatched `{w}` on `{base}` to deploy {name} to {}",
                    env.name
                );
                out.set("dispatched", w);
                out.set("chained-by", "dispatch");
                Ok(())
            }
            (Chain::Inline, _) => {
                let sha = outcome
                    .merge_sha
                    .clone()
                    .or_else(|| outcome.published.commit.clone())
                    .unwrap_or_default();
                let members: Vec<(&Service, ImageEntry)> = batch
                    .changes
                    .iter()
                    .map(|c| {
                        (
                            c.service,
                            ImageEntry {
                                name: c.service.image.clone(),
                                new_name: None,
                                new_tag: Some(c.tag.clone()),
                                digest: Some(c.digest.clone()),
                                line: 0,
                            },
                        )
                    })
                    .collect();
                // The outputs stay those of this step; the deploy adds its own facts.
                let mut sub = Outputs::default();
                let r = Box::pin(self.deploy_batch(
                    cx,
                    batch.train.as_deref(),
                    &members,
                    env,
                    &sha,
                    &mut sub,
                ))
                .await;
                for k in [
                    "deployed",
                    "deployment-id",
                    "next-env",
                    "next-tag",
                    "next-pr-number",
                    "next-pr-url",
                    "next-pr-operation",
                    "next-skipped",
                ] {
                    if let Some(v) = sub.values.get(k) {
                        out.set(k, v);
                    }
                }
                out.summary.push_str(&sub.summary);
                // The merged branch's delete, where no next commit carried it.
                if let Ok(gh) = self.github() {
                    gh.flush_deferred().await;
                }
                r
            }
        }
    }

    /// `chain: auto` after a merge: whether the merge's own `pull_request: closed`
    /// event starts the deploy workflow, so that dispatching it too would deploy
    /// twice. GitHub starts no workflow for what the workflow's `GITHUB_TOKEN`
    /// does (except dispatches), and does for an App installation token or a
    /// personal token (docs "Automatic token authentication"); which one this is,
    /// GitHub says (`viewer`, see `github/viewer.rs`). When it cannot be told, the
    /// workflow is dispatched as before: a deploy twice beats none.
    async fn event_goes_on(
        &self,
        gh: &crate::github::GitHub,
        w: &str,
        name: &str,
        env: &Environment,
        out: &mut Outputs,
    ) -> bool {
        match gh.token_kind().await {
            Ok(crate::github::TokenKind::WorkflowToken) => false,
            Ok(crate::github::TokenKind::Other(login)) => {
                let msg = format!(
                    "the merge was made as `{login}`, not with the workflow's GITHUB_TOKEN, so its `pull_request: closed` event starts `{w}` to deploy {name} to `{}`; not dispatching it as well",
                    env.name
                );
                crate::output::notice(&msg);
                println!("{msg}");
                out.summary.push_str(&format!(
                    "Merged as `{login}`: the merge's `pull_request: closed` event starts `{w}` (not dispatched).\n"
                ));
                out.set("chained-by", "event");
                true
            }
            Err(e) => {
                let msg = format!(
                    "cannot tell whose token made the merge ({e:#}); dispatching `{w}` as for GITHUB_TOKEN. If the token is an App's or a person's, the merge's own event deploys {name} to `{}` too",
                    env.name
                );
                crate::output::warning(&msg);
                eprintln!("warning: {msg}");
                false
            }
        }
    }

    /// Check the image, record the deployment, run the health gate, promote on.
    pub(crate) async fn deploy_entry(
        &self,
        cx: &Context,
        service: &Service,
        env: &Environment,
        entry: &ImageEntry,
        sha: &str,
        out: &mut Outputs,
    ) -> anyhow::Result<()> {
        self.deploy_batch(cx, None, &[(service, entry.clone())], env, sha, out)
            .await
    }

    /// Deploy every member (one deployment and health gate each, in order; the
    /// first failure stops the rest and promotes nothing), then open the next
    /// environment's PR with exactly the versions deployed together: one PR for a
    /// train (`release/<train>/<next>`), as for a service.
    pub(crate) async fn deploy_batch(
        &self,
        cx: &Context,
        train: Option<&str>,
        members: &[(&Service, ImageEntry)],
        env: &Environment,
        sha: &str,
        out: &mut Outputs,
    ) -> anyhow::Result<()> {
        let mut ids = serde_json::Map::new();
        for (service, entry) in members {
            let id = self
                .deploy_one(cx, service, env, entry, sha, train.is_none(), out)
                .await?;
            if let Some(id) = id {
                ids.insert(service.name.clone(), id.into());
            }
        }
        out.set("env", &env.name);
        if let Some(t) = train {
            out.set("train", t);
            out.set("deployment-ids", serde_json::Value::Object(ids).to_string());
        }
        let Some(next) = cx.config.next_of(&env.name) else {
            return Ok(());
        };
        out.set("next-env", &next.name);
        if cx.dry_run {
            println!("dry run: then promote to `{}`", next.name);
            return Ok(());
        }
        let mut sub = Outputs::default();
        let r = Box::pin(self.promote_batch(cx, train, members, env, next, true, &mut sub)).await;
        for k in [
            "tag",
            "tags",
            "pr-number",
            "pr-url",
            "pr-operation",
            "skipped",
        ] {
            if let Some(v) = sub.values.get(k) {
                out.set(&format!("next-{k}"), v);
            }
        }
        out.summary.push_str(&sub.summary);
        r
    }

    /// One member's deploy: the image checked, the deployment recorded, the health
    /// gate (`verify-url`, its `{service}` the member's name) run. The deployment's
    /// id (`None` in a dry run). `outputs`: set this service's image, tag, digest.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn deploy_one(
        &self,
        cx: &Context,
        service: &Service,
        env: &Environment,
        entry: &ImageEntry,
        sha: &str,
        outputs: bool,
        out: &mut Outputs,
    ) -> anyhow::Result<Option<u64>> {
        let tag = entry.new_tag.clone().unwrap_or_default();
        let digest = match &entry.digest {
            Some(d) => d.clone(),
            None => self
                .registry
                .digest_of(&service.image, &tag)
                .await?
                .ok_or_else(|| {
                    Failure::new(format!("`{}:{tag}` is not in the registry", service.image))
                        .hint("release it again; the overlay names an image that was never pushed or was deleted")
                })?,
        };
        if !self.registry.exists(&service.image, &digest).await? {
            return Err(Failure::new(format!(
                "`{}@{digest}` (tag `{tag}`) in `{}` is not in the registry",
                service.image, env.name
            ))
            .hint("release it again, or roll back; nothing was deployed")
            .into());
        }
        if outputs {
            out.set("env", &env.name);
            out.set("image", &service.image);
            out.set("tag", &tag);
            out.set("digest", &digest);
        }
        let gate_url = self.gate.as_ref().map(|g| {
            g.url
                .replace("{service}", &service.name)
                .replace("%7Bservice%7D", &service.name)
        });
        if cx.dry_run {
            println!(
                "dry run: would record a deployment of {} `{tag}` to `{}` at {}",
                service.name,
                env.name,
                short(Some(sha))
            );
            if let (Some(g), Some(url)) = (&self.gate, &gate_url) {
                println!(
                    "dry run: would wait up to {}s for {url} to answer 2xx",
                    g.timeout.as_secs(),
                );
            }
            return Ok(None);
        }
        let mut payload =
            json!({"service": service.name, "image": service.image, "tag": tag, "digest": digest});
        let (gh, id) = self
            .record_deployment(cx, service, env, &tag, sha, &mut payload, out)
            .await?;
        let log_url = super::run_url();
        // `in_progress` only while a health gate runs: without one, nothing happens
        // between the record and its outcome, and GitHub takes any state first (REST
        // "Create a deployment status": `state` one of seven, no order; its own
        // example sends `success` to a fresh deployment). One request fewer.
        if gate_url.is_some() {
            gh.deployment_status(id, "in_progress", None, log_url.as_deref(), "deploying")
                .await?;
        }
        if outputs {
            out.set("deployment-id", id);
        }
        if let (Some(gate), Some(url)) = (&self.gate, gate_url.as_deref()) {
            if let Err(why) = health_gate(url, gate.contains.as_deref(), gate.timeout).await {
                gh.deployment_status(
                    id,
                    "failure",
                    Some(url),
                    log_url.as_deref(),
                    &truncate(&why, 140),
                )
                .await?;
                out.set("deployed", false);
                return Err(Failure::new(format!(
                    "health gate for {} in `{}` failed: {why}",
                    service.name, env.name
                ))
                .hint("the deployment is marked failed and nothing was promoted; fix the service, or roll back with `rollback --steps 1`")
                .into());
            }
            println!("health gate passed: {url}");
        }
        // The first member of a train retires the environment's earlier
        // deployments, as a single service's deploy does; the rest leave their
        // siblings (deployed with them) active.
        let first = self.sibling_deployed.replace(true);
        gh.deployment_status_as(
            id,
            "success",
            gate_url.as_deref(),
            log_url.as_deref(),
            "deployed",
            !first,
        )
        .await?;
        out.set("deployed", true);
        println!(
            "deployment {id}: {} `{tag}` to `{}` recorded (success)",
            service.name, env.name
        );
        out.summary.push_str(&format!(
            "Deployed **{}** `{tag}` to `{}`\n",
            service.name, env.name
        ));
        Ok(Some(id))
    }

    /// Record the deployment, or find the one an earlier attempt of this run
    /// recorded. Where: on the repository of the service's code, against its
    /// commit, when that is not this repository (so the code's Environments page
    /// and commits show what runs where), with this repository's merge commit and
    /// pull request in the payload; else here, against `sha`. When the code's
    /// repository refuses the token (no `deployments: write` there), a warning,
    /// and it is recorded here instead. The outputs say where
    /// (`deployment-repository`).
    #[allow(clippy::too_many_arguments)]
    async fn record_deployment(
        &self,
        cx: &Context,
        service: &Service,
        env: &Environment,
        tag: &str,
        sha: &str,
        payload: &mut serde_json::Value,
        out: &mut Outputs,
    ) -> anyhow::Result<(&crate::github::GitHub, u64)> {
        let gh = self.github()?;
        let description = format!("{} {tag}", service.name);
        if self.code_elsewhere()
            && let Some(src) = self.source(cx)?
        {
            match self.code_commit(cx, env, tag).await? {
                Some(code_sha) => {
                    payload["config"] = json!({
                        "repository": gh.repository(),
                        "commit": sha,
                        "pull_request": crate::action::merged_pr_number(),
                    });
                    let found = self.earlier_attempt(src, &code_sha, env, service).await;
                    let made = match found {
                        Ok(Some(id)) => Ok(id),
                        Ok(None) => {
                            src.create_deployment(&code_sha, &env.name, payload, &description)
                                .await
                        }
                        Err(e) => Err(e),
                    };
                    match made {
                        Ok(id) => {
                            println!(
                                "deployment {id}: recorded on `{}` at {}, the commit of {} `{tag}`",
                                src.repository(),
                                short(Some(&code_sha)),
                                service.name
                            );
                            out.set("deployment-repository", src.repository());
                            return Ok((src, id));
                        }
                        Err(e) if refused(&e) => {
                            let msg = format!(
                                "cannot record the deployment on `{}` ({e:#}); recording it on `{}` instead. Give `source-token` `deployments: write` on `{}` to record it with the code",
                                src.repository(),
                                gh.repository(),
                                src.repository()
                            );
                            crate::output::warning(&msg);
                            eprintln!("warning: {msg}");
                        }
                        Err(e) => return Err(e),
                    }
                }
                None => {
                    let msg = format!(
                        "cannot find the commit of {} `{tag}` in `{}` (from the tag's `{{sha}}`, `{{sha7}}` or `{{version}}`, read with `source-token`); recording the deployment on `{}`",
                        service.name,
                        src.repository(),
                        gh.repository()
                    );
                    crate::output::warning(&msg);
                    eprintln!("warning: {msg}");
                }
            }
        }
        let id = match self.earlier_attempt(gh, sha, env, service).await? {
            Some(id) => {
                println!(
                    "deployment {id}: recorded by an earlier attempt of this run; adding a status to it"
                );
                id
            }
            None => {
                gh.create_deployment(sha, &env.name, payload, &description)
                    .await?
            }
        };
        out.set("deployment-repository", gh.repository());
        Ok((gh, id))
    }

    /// The commit of the service's code that `tag` of `env` was built from: the
    /// tag's `{sha}`, its `{sha7}` resolved, or its `{version}`'s tag (`v1.2.3`,
    /// else `1.2.3`) in the code's repository.
    async fn code_commit(
        &self,
        cx: &Context,
        env: &Environment,
        tag: &str,
    ) -> anyhow::Result<Option<String>> {
        let parsed = env.tag.parse_tag(tag).unwrap_or_default();
        if let Some(s) = parsed.sha {
            return Ok(Some(s));
        }
        if let Some(s7) = parsed.sha7.as_deref()
            && let Some(full) = self.full_sha(cx, s7).await?
        {
            return Ok(Some(full));
        }
        if let (Some(v), Some(src)) = (parsed.version, self.source(cx)?) {
            for name in [format!("v{v}"), v.to_string()] {
                if let Some(c) = src.commit_sha(&name).await? {
                    return Ok(Some(c));
                }
            }
        }
        Ok(None)
    }

    /// A re-run of a deploy run (`GITHUB_RUN_ATTEMPT` above 1, the same
    /// `GITHUB_RUN_ID`): the deployment its first attempt recorded, to add a status
    /// to rather than record the same deploy again. First attempts ask nothing.
    async fn earlier_attempt(
        &self,
        gh: &crate::github::GitHub,
        sha: &str,
        env: &Environment,
        service: &Service,
    ) -> anyhow::Result<Option<u64>> {
        let attempt = env_var("GITHUB_RUN_ATTEMPT")
            .and_then(|a| a.parse::<u64>().ok())
            .unwrap_or(1);
        match env_var("GITHUB_RUN_ID") {
            Some(run) if attempt > 1 => {
                gh.deployment_of_run(sha, &env.name, &run, &service.name)
                    .await
            }
            _ => Ok(None),
        }
    }

    /// What `env` runs at the base branch tip, when that is not `entry` (the entry
    /// of the commit this deploy checked out). A re-run keeps the original
    /// `GITHUB_SHA` (docs "Re-running workflows and jobs"), so re-running the deploy
    /// of a release that a later one replaced checks out the old merge: recording it
    /// would say the environment runs what it no longer runs. `None`: it runs
    /// `entry`, or there is nothing to compare with (a dry run, no repository).
    pub(crate) async fn moved_on(
        &self,
        cx: &Context,
        env: &Environment,
        service: &Service,
        entry: &ImageEntry,
    ) -> anyhow::Result<Option<MovedOn>> {
        if cx.dry_run || self.github.is_none() {
            return Ok(None);
        }
        let target = cx.config.target(service, env)?;
        let rel_str = target.path.to_string_lossy().replace('\\', "/");
        let (base, tip, text) = match self.via {
            CommitVia::Git => {
                let Repo { ws, base } = self.repo(cx)?;
                let tip = match self.proven_tip.get() {
                    Some(t) => t.clone(),
                    None => self.base_tip(ws, base)?,
                };
                let text = ws.read_at(&tip, &rel_str)?;
                (base.clone(), tip, text)
            }
            CommitVia::Api => {
                let base = self.api_base.get().or(cx.inputs.base.as_ref());
                // The rules' query read this file at the same tip already (when the
                // base's config names it where the checkout's does).
                let early = super::rules::early_read(std::slice::from_ref(&rel_str), None, false);
                let read = match early {
                    Some(r) => r,
                    None => {
                        self.github()?
                            .read_branches(base.map(String::as_str), None, &rel_str, None)
                            .await?
                    }
                };
                let base = self.api_base.get_or_init(|| read.base.clone()).clone();
                (base, read.base_oid, read.file.map(|f| f.text))
            }
        };
        let now = match text {
            Some(t) => target.read(&t)?.map(|v| super::entry_of(service, v)),
            None => None,
        };
        let same = now
            .as_ref()
            .is_some_and(|n| n.new_tag == entry.new_tag && n.digest == entry.digest);
        Ok((!same).then_some(MovedOn { base, tip, now }))
    }

    /// Carry the members' versions in `from` to `to` as one PR (a train's, or one
    /// service's). Every member's tag in `to` is worked out and checked before any
    /// retag; a member that can't be promoted after a deploy (no SemVer tag yet)
    /// holds the whole train back, since a train moves as one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn promote_batch(
        &self,
        cx: &Context,
        train: Option<&str>,
        members: &[(&Service, ImageEntry)],
        from: &Environment,
        to: &Environment,
        after_deploy: bool,
        out: &mut Outputs,
    ) -> anyhow::Result<()> {
        let mut planned = Vec::new();
        for (service, entry) in members {
            let mut sub = Outputs::default();
            let p = self
                .plan_promotion(cx, service, from, to, entry, after_deploy, &mut sub)
                .await?;
            out.summary.push_str(&sub.summary);
            match p {
                Some(p) => planned.push((service, p)),
                None => {
                    out.set(
                        "skipped",
                        sub.values.get("skipped").cloned().unwrap_or_default(),
                    );
                    return Ok(());
                }
            }
        }
        self.check_access(cx, to).await?;
        let mut changes = Vec::new();
        let mut tags = serde_json::Map::new();
        for (service, (target_tag, src_tag, digest, sha)) in planned {
            if target_tag != src_tag {
                self.preflight(cx).await?;
                let what = format!("{} `{src_tag}` of `{}`", service.name, from.name);
                place_tag(
                    &self.registry,
                    &service.image,
                    &digest,
                    &target_tag,
                    cx.dry_run,
                    &what,
                )
                .await?;
            }
            if train.is_none() {
                out.set("image", &service.image);
                out.set("tag", &target_tag);
                out.set("digest", &digest);
            }
            tags.insert(service.name.clone(), target_tag.clone().into());
            changes.push(Change {
                service,
                env: to,
                tag: target_tag,
                digest,
                labels: vec!["promotion".into()],
                kind: "promote",
                source_sha: sha,
            });
        }
        out.set("env", &to.name);
        out.set("built", false);
        out.set("from-env", &from.name);
        if let Some(t) = train {
            out.set("train", t);
            out.set("tags", serde_json::Value::Object(tags).to_string());
        }
        let batch = Batch {
            train: train.map(String::from),
            changes,
        };
        self.carry(cx, &batch, out).await
    }

    /// The tag `entry` gets in `to`, worked out and checked (nothing written):
    /// `(tag in to, tag in from, digest, the commit)`; `None` when it can't be
    /// promoted yet after a deploy (said in `out`).
    #[allow(clippy::too_many_arguments)]
    async fn plan_promotion(
        &self,
        cx: &Context,
        service: &Service,
        from: &Environment,
        to: &Environment,
        entry: &ImageEntry,
        after_deploy: bool,
        out: &mut Outputs,
    ) -> anyhow::Result<Option<(String, String, String, Option<String>)>> {
        let src_tag = entry.new_tag.clone().ok_or_else(|| {
            UserError::new(format!(
                "`{}` in `{}` has no tag to promote",
                service.name, from.name
            ))
            .hint(format!("release it to `{}` first", from.name))
        })?;
        let parsed = from.tag.parse_tag(&src_tag).unwrap_or_default();
        // The full commit: from the tag, or its `{sha7}` resolved in the checkout.
        let sha = match (&parsed.sha, parsed.sha7.as_deref()) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(short)) => self.full_sha(cx, short).await?,
            (None, None) => None,
        };
        let version = match &self.version {
            Some(v) => Some(v.clone()),
            // Only when the target needs it: the tags may be read from the remote,
            // by the full sha or the tag's `{sha7}`.
            None => match (&parsed.version, sha.as_deref().or(parsed.sha7.as_deref())) {
                (Some(v), _) => Some(v.to_string()),
                (None, Some(s)) if to.tag.is_versioned() => self.version_at(cx, s).await?,
                (None, _) => None,
            },
        };
        let vars = TagVars {
            env: to.name.clone(),
            branch: parsed.branch.clone(),
            sha: sha.clone().or(parsed.sha7.clone()).unwrap_or_default(),
            timestamp: parsed.timestamp.unwrap_or_default(),
            version,
        };
        let same_template = to.tag.as_str() == from.tag.as_str();
        // After a deploy, a commit with no SemVer tag yet is not a failed deploy: the
        // deployment is recorded; say how to promote once it is tagged.
        if after_deploy && !same_template && to.tag.is_versioned() && vars.version.is_none() {
            let short = short(sha.as_deref().or(parsed.sha7.as_deref()));
            let msg = format!(
                "not promoting {} to `{}`: its tag `{}` needs a version, and commit {short} has no SemVer tag",
                service.name,
                to.name,
                to.tag.as_str()
            );
            crate::output::warning(&msg);
            println!("{msg}");
            out.summary.push_str(&format!(
                "Not promoted to `{}`: commit `{short}` has no SemVer tag. To promote it, tag it (`git tag v1.2.3 {short} && git push origin v1.2.3`) and run `promote --service {} --to {}` (or release the tag).\n",
                to.name, service.name, to.name
            ));
            out.set("skipped", "no-version");
            return Ok(None);
        }
        let target_tag = if same_template {
            src_tag.clone()
        } else {
            let known = if to.tag.uses(tag::Var::Sha) {
                sha.is_some()
            } else {
                !to.tag.uses(tag::Var::Sha7) || sha.is_some() || parsed.sha7.is_some()
            };
            {
                if !known {
                    return Err(UserError::new(format!(
                        "`{}`'s tag `{src_tag}` does not say its commit, and `{}`'s template `{}` needs it",
                        from.name, to.name, to.tag.as_str()
                    ))
                    .hint("promote from an environment whose tags carry `{sha}`, or release to the target directly")
                    .into());
                }
            }
            to.tag.format(&vars).map_err(|m| {
                UserError::new(format!("promoting to `{}`: {m}", to.name)).hint(if m.0 == "version" {
                    "tag the commit with a SemVer tag (`git tag v1.2.3`) or pass `--version 1.2.3`"
                } else {
                    "check the tag templates of both environments"
                })
            })?
        };
        let digest = match &entry.digest {
            Some(d) => d.clone(),
            None => self
                .registry
                .digest_of(&service.image, &src_tag)
                .await?
                .ok_or_else(|| {
                    Failure::new(format!(
                        "`{}:{src_tag}` is not in the registry",
                        service.image
                    ))
                })?,
        };
        if !self.registry.exists(&service.image, &digest).await? {
            return Err(Failure::new(format!(
                "`{}` deploys `{}:{src_tag}@{digest}`, which is not in the registry",
                from.name, service.image
            ))
            .hint(format!(
                "release {} to `{}` again (or roll it back) before promoting it",
                service.name, from.name
            ))
            .into());
        }
        Ok(Some((target_tag, src_tag, digest, sha)))
    }
}

/// A refusal (403, 404) rather than a failure to reach GitHub.
fn refused(e: &anyhow::Error) -> bool {
    let t = format!("{e:#}");
    t.contains("answered 403") || t.contains("answered 404")
}

/// The environment's entry at the base tip differs from the checkout's.
pub(crate) struct MovedOn {
    pub(crate) base: String,
    pub(crate) tip: String,
    /// `None`: the base's target no longer holds a version of the service.
    pub(crate) now: Option<ImageEntry>,
}

/// Poll `url` until it answers 2xx (and contains `contains`), within `timeout`.
pub(crate) async fn health_gate(
    url: &str,
    contains: Option<&str>,
    timeout: Duration,
) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut last;
    let mut wait = Duration::from_millis(250);
    loop {
        match client.get(url).send().await {
            Ok(r) => {
                let status = r.status();
                let body = bounded_body(r).await;
                if status.is_success() {
                    match contains {
                        Some(c) if !body.contains(c) => {
                            last = format!("{status}, but the body does not contain `{c}`");
                        }
                        _ => return Ok(()),
                    }
                } else {
                    last = format!("{url} answered {status}");
                }
            }
            Err(e) => last = format!("{url}: {}", without_url(&e)),
        }
        let spent = start.elapsed();
        if spent >= timeout {
            return Err(format!("{last} (gave up after {}s)", timeout.as_secs()));
        }
        tokio::time::sleep(wait.min(timeout - spent)).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// The most of a health answer read: a service that streams forever,
/// or a huge page, must not eat the runner's memory. `verify-contains` looks here.
pub(crate) const HEALTH_BODY_BYTES: usize = 1 << 20;

async fn bounded_body(mut r: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = r.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= HEALTH_BODY_BYTES {
            body.truncate(HEALTH_BODY_BYTES);
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

pub(crate) fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(&format!(" ({u})"), "");
    }
    if e.is_connect() {
        "connection refused or unreachable".into()
    } else {
        s
    }
}
