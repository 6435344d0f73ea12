//! A workflow runner: executes a repository's `.github/workflows/*.yaml` (the files
//! users copy) against the GitHub stand-in the way GitHub's runner does, so a test is
//! "a person clicks Run workflow" or "a person merges a PR" and everything after
//! follows as it would on GitHub.
//!
//! Sources for each rule are beside the code; docs/github-facts/ summarised:
//! - Events: `workflow_dispatch` (`GITHUB_REF` = the branch of "Use workflow from",
//!   `GITHUB_SHA` its tip; inputs are strings) — docs "Events that trigger workflows",
//!   workflow_dispatch table. `pull_request` `closed` and merged: `GITHUB_REF` is the base
//!   branch, `GITHUB_SHA` the merge commit, `github.head_ref` the head branch — same page,
//!   pull_request notes. `push` of branches and tags, filtered by `branches`/`tags` globs
//!   (docs "Workflow syntax", `on.push.<branches|tags>`, "Filter pattern cheat sheet").
//! - `workflow_call`: the github context is the caller's; `with:` fills `inputs`,
//!   `secrets: inherit` passes every secret; outputs map `jobs.<job>.outputs` — github/docs
//!   reusable-workflows.md ("github context", "Using outputs from a reusable workflow").
//! - Whatever `GITHUB_TOKEN` causes starts no workflow, except `workflow_dispatch` and
//!   `repository_dispatch` — docs "GITHUB_TOKEN" ("When GITHUB_TOKEN triggers workflow
//!   runs"). Since 2026, PRs opened or updated with it get `pull_request` runs that wait
//!   for approval (docs "Events that trigger workflows", pull_request notes; github/docs
//!   PR #44419); none of our workflows listens to those types, so the runner records
//!   such runs as `action_required` and never starts them.
//! - Writes made with any other token (an App installation token, a PAT) start
//!   workflows as a person's do: a PR they open or merge fires `pull_request`, a merge
//!   pushes the base (docs "Triggering a workflow from a workflow"); see
//!   `collect_caused` and docs/github-facts/events.md, "Token kinds".
//! - Re-runs keep the run's `GITHUB_SHA`, `GITHUB_REF`, workflow file and actor; the
//!   attempt grows and `triggering_actor` is who clicked (docs "Re-running workflows
//!   and jobs").
//! - A called workflow whose `permissions:` ask for more than the calling job grants
//!   makes the whole workflow invalid before any job runs, `if:` or not
//!   (`startup_failure`; actions/runner `PermissionsHelper.cs`, actions/runner#4151).
//! - Concurrency groups, workflow- and job-level, evaluated in the run's contexts:
//!   one running and at most one pending per group, a newer arrival cancelling the
//!   pending one (`cancelled`, "Canceling since a higher priority waiting request
//!   for '<group>' exists"), `cancel-in-progress: true` the running one too; names
//!   compare case-insensitively (docs "Control the concurrency of workflows and
//!   jobs"; docs/github-facts/events.md, concurrency).
//! - Each job gets its own installation token (`ghs_…`) with the job's `permissions:`,
//!   revoked when the job ends — docs "Automatic token authentication" ("The token
//!   expires when the job finishes").
//! - Several repositories ([`Runner::watch`]): an event starts the workflows of the
//!   repository it happened in, from its files, with job tokens scoped to it; a PR
//!   an App token merges in another repository starts that repository's runs
//!   (docs/github-facts/events.md, "Two repositories").
//! - `actions/create-github-app-token` ([`app_token`]): an installation token for
//!   the repositories and permissions asked, masked, revoked at the job's end.
//! - Masking: the job's token and `::add-mask::` values print as `***` (docs
//!   "Workflow commands", "Masking a value in a log").
//! - `strategy.matrix` ([`matrix`]): one job per combination, `include`/`exclude`,
//!   `fromJSON` of a job's output, at most 256; the job's `if:` before the strategy
//!   (so `if:` false skips a job whose matrix would be empty), `fail-fast`,
//!   `max-parallel`, `needs` waiting for every combination, outputs merged (last
//!   writer wins); docs/github-facts/matrix.md.
//!
//! The deviations from GitHub, each one forced by running on one machine:
//! - the repository's image registry is a local one behind GHCR's rules
//!   ([`Runner::registry`], `TestRegistry::start_ghcr`), on `127.0.0.1:<port>`
//!   instead of `ghcr.io`; the runner names it to our action in `GITOPS_GHCR_HOST`
//!   (the action's documented way to take one more host as GitHub's registry),
//!   where on GitHub the variable is unset and the host is `ghcr.io`. Either way
//!   the action logs in with its own defaults, `GITHUB_ACTOR` and the `token`
//!   input; nothing is planted in its `$HOME/.docker/config.json`;
//! - in [`ActionMode::Binary`] the paths (`GITHUB_WORKSPACE`, `HOME`, file commands) are
//!   the host's, since the binary is not in a container, and `DOCKER_HOST` points at
//!   podman's socket instead of a mounted `/var/run/docker.sock`;
//! - time is rounds, not clocks ([`Runner::fly`]): what is queued when a person's
//!   action settles arrived together, each run of it starts one job per round, and
//!   a round's jobs run one after the other (in arrival order) though GitHub would
//!   run them side by side; what a batch causes (dispatches, merges' events) starts
//!   when every run of the batch has ended, with the `GITHUB_SHA` of when it was
//!   caused. A run or job cancelled by its group is cancelled before it starts
//!   (never halfway), and a called workflow's own `concurrency:` queues each of its
//!   jobs (ours have one job each); a matrix's combinations start together in one
//!   round (up to `max-parallel`), and fail-fast cancels those of them not yet run
//!   (GitHub would also stop the ones running beside the failure);
//! - of the reads, `contents`, `pull-requests`, `issues` (labels), `deployments`
//!   and `actions` are enforced by the stand-in, `packages` by the GHCR front;
//!   commit statuses' reads (`statuses: read`) are open to every known token;
//! - [`Runner::secrets`] are the same in every repository watched.

pub mod app_token;
pub mod expr;
pub mod matrix;
pub mod permissions;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value, json};

use crate::github::{GitHubStandIn, Request, RequestKind, TokenGrants};
use expr::Contexts;
use permissions::Perms;

/// The runner's user on GitHub-hosted Linux runners (`runner`, uid 1001); the
/// workspace belongs to it while a Docker action runs as root.
pub const RUNNER_UID: u32 = 1001;

/// How our action's step runs.
#[derive(Debug, Clone)]
pub enum ActionMode {
    /// The binary, with exactly the environment the runner builds for the container.
    Binary(PathBuf),
    /// The real image under podman (`podman run`, the runner's mounts and `-e`s).
    Image {
        image: String,
        /// `podman system service` socket mounted as `/var/run/docker.sock`.
        docker_socket: Option<PathBuf>,
    },
}

/// Something that happened on GitHub.
#[derive(Debug, Clone)]
pub enum Event {
    Dispatch {
        workflow: String,
        git_ref: String,
        inputs: Value,
        actor: String,
        /// The ref's tip when the dispatch was made.
        sha: String,
    },
    /// A person merged (or closed) a PR.
    PullRequestClosed { number: u64, actor: String },
    /// A PR was opened by someone whose events start workflows.
    PullRequestOpened { number: u64, actor: String },
    Push {
        git_ref: String,
        before: String,
        after: String,
        actor: String,
    },
}

/// A workflow command the step printed (`::error …::msg`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub level: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct StepRecord {
    pub id: Option<String>,
    pub uses: String,
    /// `success`, `failure` or `skipped`.
    pub outcome: String,
    pub exit_code: Option<i32>,
    pub annotations: Vec<Annotation>,
    pub summary: String,
    pub outputs: BTreeMap<String, String>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// The environment the action saw (our action only).
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct JobRecord {
    /// `release / update` for a job of a called workflow.
    pub name: String,
    /// `success`, `failure` or `skipped`.
    pub result: String,
    pub permissions: Perms,
    pub concurrency: Option<String>,
    pub steps: Vec<StepRecord>,
    pub outputs: BTreeMap<String, String>,
    /// Why GitHub failed or cancelled the job before its steps (its annotation):
    /// a strategy it could not expand, a matrix's fail-fast.
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: u64,
    /// 1, then 2… for re-runs of the same run.
    pub attempt: usize,
    pub workflow: String,
    pub name: String,
    pub event: String,
    pub actor: String,
    pub git_ref: String,
    pub sha: String,
    pub concurrency: Option<String>,
    /// `success`, `failure`, `skipped` (every job skipped), `action_required`, or
    /// `startup_failure` (an invalid workflow: no job ran, see `invalid`).
    pub conclusion: String,
    /// Why GitHub refused the workflow before any job ran (its annotation).
    pub invalid: Option<String>,
    /// Why the run (or one of its jobs) was cancelled: a newer run or job in its
    /// concurrency group.
    pub cancelled: Option<String>,
    pub jobs: Vec<JobRecord>,
    /// Every request the stand-in answered while this run ran.
    pub requests: Vec<Request>,
    /// Time spent in our action's steps.
    pub tool_time: Duration,
}

impl RunRecord {
    /// REST and GraphQL calls of this run (git traffic excluded).
    pub fn api_calls(&self) -> Vec<String> {
        self.requests
            .iter()
            .filter(|r| matches!(r.kind, RequestKind::Rest | RequestKind::GraphQl))
            .map(|r| format!("{} {} {}", r.method, r.path, r.status))
            .collect()
    }

    pub fn steps(&self) -> impl Iterator<Item = &StepRecord> {
        self.jobs.iter().flat_map(|j| j.steps.iter())
    }

    /// Our action's steps.
    pub fn action_steps(&self) -> Vec<&StepRecord> {
        self.steps().filter(|s| is_our_action(&s.uses)).collect()
    }

    pub fn annotations(&self) -> Vec<Annotation> {
        self.steps().flat_map(|s| s.annotations.clone()).collect()
    }

    pub fn summary(&self) -> String {
        self.steps().map(|s| s.summary.as_str()).collect()
    }

    pub fn job(&self, name: &str) -> &JobRecord {
        self.jobs
            .iter()
            .find(|j| j.name == name)
            .unwrap_or_else(|| panic!("no job `{name}` in run {}", self.describe()))
    }

    /// One line per job and step, with annotations and the action's output: what the
    /// Actions tab shows, for assertion messages.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "run #{} {} ({} by {} on {} {}): {}\n",
            self.id,
            self.workflow,
            self.event,
            self.actor,
            self.git_ref,
            &self.sha[..self.sha.len().min(7)],
            self.conclusion
        );
        if let Some(why) = &self.invalid {
            s.push_str(&format!("  invalid workflow: {why}\n"));
        }
        if let Some(why) = &self.cancelled {
            s.push_str(&format!("  cancelled: {why}\n"));
        }
        for j in &self.jobs {
            s.push_str(&format!("  job {}: {}\n", j.name, j.result));
            if let Some(e) = &j.error {
                s.push_str(&format!("    error: {e}\n"));
            }
            for st in &j.steps {
                s.push_str(&format!(
                    "    step {} ({}): {}\n",
                    st.id.as_deref().unwrap_or("-"),
                    st.uses,
                    st.outcome
                ));
                for l in st.stdout.lines().chain(st.stderr.lines()) {
                    s.push_str(&format!("      | {l}\n"));
                }
            }
        }
        s
    }
}

/// The login `GITHUB_TOKEN`'s writes appear as (docs "Automatic token
/// authentication"); its events start no workflow but dispatches.
fn is_workflow_token(login: &str) -> bool {
    login == "github-actions[bot]"
}

fn is_our_action(uses: &str) -> bool {
    uses.starts_with("gitops-action/gitops-action@") || uses == "./"
}

/// A person's token, with what they may do.
pub struct Person {
    pub login: String,
    pub token: String,
}

/// The runner: the stand-in, the repository, our action and the queue of events.
pub struct Runner<'a> {
    pub gh: &'a GitHubStandIn,
    pub repo: String,
    pub mode: ActionMode,
    /// `action.yml` of our action.
    action: Value,
    /// Repository secrets (`secrets.*`, inherited by called workflows).
    pub secrets: BTreeMap<String, String>,
    /// `DOCKER_HOST` for [`ActionMode::Binary`] (podman's socket).
    pub docker_host: Option<String>,
    /// Job folders (runner temp, workspace), removed with the runner.
    scratch: tempfile::TempDir,
    /// Events to run, each with the repository it happened in.
    queue: VecDeque<(String, Event)>,
    /// What was already seen (dispatches, pulls) of each repository watched.
    seen: BTreeMap<String, Seen>,
    /// GitHub Apps whose installation tokens `actions/create-github-app-token` makes.
    pub apps: Vec<App>,
    /// The registry that takes job tokens as GHCR does (`TestRegistry::start_ghcr`:
    /// every login, then `packages:` and the package's Actions access judged per
    /// request), named to our action in `GITOPS_GHCR_HOST`.
    pub registry: Option<&'a crate::registry::TestRegistry>,
    pub runs: Vec<RunRecord>,
    /// Events GitHub would not turn into runs, with why.
    pub suppressed: Vec<String>,
    next_run: u64,
    next_token: u64,
    /// The event of each run (and its repository), for re-runs.
    events: BTreeMap<u64, (String, Event)>,
}

/// A repository's dispatches and pulls already turned into events.
struct Seen {
    dispatches: usize,
    /// Pull number → merged.
    pulls: BTreeMap<u64, bool>,
}

impl Seen {
    fn now(gh: &GitHubStandIn, repo: &str) -> Result<Seen> {
        Ok(Seen {
            dispatches: gh.dispatches(repo)?.len(),
            pulls: gh
                .pulls(repo)?
                .into_iter()
                .map(|p| (p.number, p.merged))
                .collect(),
        })
    }
}

/// A GitHub App registered on the stand-in's server and installed on some of an
/// owner's repositories, with the permissions its installation was granted.
#[derive(Debug, Clone)]
pub struct App {
    pub id: String,
    pub slug: String,
    pub private_key: String,
    pub installation_id: u64,
    /// The installation's account (`acme`).
    pub owner: String,
    /// Repository names (no owner) the installation covers.
    pub repositories: Vec<String>,
    /// The installation's permissions (`contents` → 2, …), the most a token gets.
    pub permissions: Perms,
}

impl<'a> Runner<'a> {
    /// `action_yml` is our `action.yml` (its inputs and defaults).
    pub fn new(
        gh: &'a GitHubStandIn,
        repo: &str,
        action_yml: &Path,
        mode: ActionMode,
    ) -> Result<Self> {
        let text = std::fs::read_to_string(action_yml)
            .with_context(|| format!("reading {}", action_yml.display()))?;
        let action: Value = serde_norway::from_str(&text).context("parsing action.yml")?;
        let seen = BTreeMap::from([(repo.to_string(), Seen::now(gh, repo)?)]);
        Ok(Runner {
            gh,
            repo: repo.to_string(),
            mode,
            action,
            secrets: BTreeMap::new(),
            docker_host: None,
            scratch: tempfile::tempdir()?,
            queue: VecDeque::new(),
            seen,
            apps: Vec::new(),
            registry: None,
            runs: Vec::new(),
            suppressed: Vec::new(),
            next_run: 9000,
            next_token: 0,
            events: BTreeMap::new(),
        })
    }

    fn api(&self, person: &Person, method: &str, path: &str, body: Value) -> Result<Value> {
        let url = format!("{}/repos/{}/{path}", self.gh.api_url(), self.repo);
        let c = reqwest::blocking::Client::new();
        let r = c
            .request(method.parse()?, &url)
            .bearer_auth(&person.token)
            .header("user-agent", "workflow-runner")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()?;
        let status = r.status();
        let text = r.text()?;
        if !status.is_success() {
            bail!("{method} {path} as {}: {status} {text}", person.login);
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// An event in the current repository.
    fn enqueue(&mut self, ev: Event) {
        self.queue.push_back((self.repo.clone(), ev));
    }

    fn seen_mut(&mut self) -> &mut Seen {
        self.seen
            .get_mut(&self.repo)
            .expect("the current repository is watched")
    }

    /// Watch `repo` too: its dispatches, PRs and merges (whoever made them, a run in
    /// another repository with an App's token included) start its own workflows,
    /// from its own files, with job tokens scoped to it (docs "Events that trigger
    /// workflows": an event starts the workflows of the repository it happened in).
    pub fn watch(&mut self, repo: &str) -> Result<()> {
        if !self.seen.contains_key(repo) {
            let seen = Seen::now(self.gh, repo)?;
            self.seen.insert(repo.to_string(), seen);
        }
        Ok(())
    }

    /// What people do next happens in `repo` (one [`Runner::watch`]ed).
    pub fn switch_to(&mut self, repo: &str) -> Result<()> {
        if !self.seen.contains_key(repo) {
            bail!("{repo} is not watched (Runner::watch)");
        }
        self.repo = repo.to_string();
        Ok(())
    }

    /// `f` with `repo` as the current repository, restored afterwards.
    fn in_repo<T>(&mut self, repo: &str, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let was = std::mem::replace(&mut self.repo, repo.to_string());
        let r = f(self);
        self.repo = was;
        r
    }

    // -- what people do -----------------------------------------------------------

    /// Actions tab → `workflow` → Run workflow, "Use workflow from" `branch`. The
    /// dispatch goes through the REST API with the person's token.
    pub fn click_run_workflow(
        &mut self,
        person: &Person,
        workflow: &str,
        branch: &str,
        inputs: &[(&str, &str)],
    ) -> Result<Vec<RunRecord>> {
        let inputs: Map<String, Value> = inputs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        self.api(
            person,
            "POST",
            &format!("actions/workflows/{workflow}/dispatches"),
            json!({"ref": branch, "inputs": inputs}),
        )?;
        self.settle()
    }

    /// A person approves a PR (their own review).
    pub fn approve(&mut self, person: &Person, number: u64) -> Result<()> {
        self.api(
            person,
            "POST",
            &format!("pulls/{number}/reviews"),
            json!({"event": "APPROVE"}),
        )?;
        Ok(())
    }

    /// A person merges a PR with their token: `pull_request` `closed`, and the push to
    /// the base branch, start workflows.
    pub fn merge(&mut self, person: &Person, number: u64, method: &str) -> Result<Vec<RunRecord>> {
        let before = self.gh.pull(&self.repo, number)?;
        let base_before = self
            .gh
            .branch_sha(&self.repo, &before.base)?
            .unwrap_or_default();
        let v = self.api(
            person,
            "PUT",
            &format!("pulls/{number}/merge"),
            json!({"merge_method": method}),
        )?;
        let after = v["sha"].as_str().unwrap_or_default().to_string();
        self.seen_mut().pulls.insert(number, true);
        self.enqueue(Event::PullRequestClosed {
            number,
            actor: person.login.clone(),
        });
        self.enqueue(Event::Push {
            git_ref: format!("refs/heads/{}", before.base),
            before: base_before,
            after,
            actor: person.login.clone(),
        });
        self.settle()
    }

    /// A person pushes a commit changing `files` to `branch` (created from the default
    /// branch when missing).
    pub fn push(
        &mut self,
        person: &Person,
        branch: &str,
        files: &[(&str, &str)],
    ) -> Result<(String, Vec<RunRecord>)> {
        let sha = self.queue_push(person, branch, files)?;
        Ok((sha, self.settle()?))
    }

    /// [`Runner::push`] without waiting: the push's runs start at the next
    /// [`Runner::settle`], together with whatever else was queued by then (quick
    /// pushes, each made before the last one's runs ended).
    pub fn queue_push(
        &mut self,
        person: &Person,
        branch: &str,
        files: &[(&str, &str)],
    ) -> Result<String> {
        let before = self
            .gh
            .branch_sha(&self.repo, branch)?
            .unwrap_or_else(|| "0".repeat(40));
        let sha = self.gh.push_commit(&self.repo, branch, files)?;
        self.enqueue(Event::Push {
            git_ref: format!("refs/heads/{branch}"),
            before,
            after: sha.clone(),
            actor: person.login.clone(),
        });
        Ok(sha)
    }

    /// A person pushes `branch` to an existing commit (a fast-forward or a new branch).
    pub fn push_ref(&mut self, person: &Person, branch: &str, sha: &str) -> Result<Vec<RunRecord>> {
        let before = self
            .gh
            .branch_sha(&self.repo, branch)?
            .unwrap_or_else(|| "0".repeat(40));
        self.gh.git(
            &self.repo,
            &["update-ref", &format!("refs/heads/{branch}"), sha],
        )?;
        self.enqueue(Event::Push {
            git_ref: format!("refs/heads/{branch}"),
            before,
            after: sha.to_string(),
            actor: person.login.clone(),
        });
        self.settle()
    }

    /// A person pushes the lightweight tag `tag` at `sha`.
    pub fn push_tag(&mut self, person: &Person, tag: &str, sha: &str) -> Result<Vec<RunRecord>> {
        self.gh.git(&self.repo, &["tag", tag, sha])?;
        self.enqueue(Event::Push {
            git_ref: format!("refs/tags/{tag}"),
            before: "0".repeat(40),
            after: sha.to_string(),
            actor: person.login.clone(),
        });
        self.settle()
    }

    /// A person pushes the annotated tag `tag` at `sha` (`git tag -a`): the push
    /// event's `after` is the tag object, `head_commit` and `GITHUB_SHA` the commit
    /// (docs "Events that trigger workflows", push: `GITHUB_SHA` "Tip commit pushed
    /// to the ref"; MishaKav/pytest-coverage-comment#227 and
    /// openSUSE/open-build-service#13500 on `after`).
    pub fn push_annotated_tag(
        &mut self,
        person: &Person,
        tag: &str,
        sha: &str,
        message: &str,
    ) -> Result<Vec<RunRecord>> {
        self.gh.git(
            &self.repo,
            &[
                "-c",
                &format!("user.name={}", person.login),
                "-c",
                &format!("user.email={}@users.noreply.github.com", person.login),
                "tag",
                "-a",
                tag,
                sha,
                "-m",
                message,
            ],
        )?;
        let object = self
            .gh
            .git(&self.repo, &["rev-parse", &format!("refs/tags/{tag}")])?;
        self.enqueue(Event::Push {
            git_ref: format!("refs/tags/{tag}"),
            before: "0".repeat(40),
            after: object,
            actor: person.login.clone(),
        });
        self.settle()
    }

    /// A person deletes a branch or tag (`git push origin :<ref>`, or the UI): a
    /// `push` with `deleted: true` and `after` all zeros, which starts the workflows
    /// whose `push` filters match the ref, with `GITHUB_SHA` the default branch's tip
    /// and the workflow files from there (docs "Events that trigger workflows", push:
    /// "When you delete a branch, the SHA in the workflow run (and its associated
    /// refs) reverts to the default branch of the repository"; `GITHUB_REF` "Updated
    /// ref"). That a deleted tag starts a `tags:`-filtered workflow: the
    /// milvus-io/milvus-sdk-cpp#489 review ("GitHub sends a `push` event with
    /// `deleted: true` for tag deletions"); openSUSE/open-build-service#13852.
    pub fn delete_ref(&mut self, person: &Person, git_ref: &str) -> Result<Vec<RunRecord>> {
        let before = self.gh.git(&self.repo, &["rev-parse", git_ref])?;
        self.gh.git(&self.repo, &["update-ref", "-d", git_ref])?;
        self.enqueue(Event::Push {
            git_ref: git_ref.to_string(),
            before,
            after: "0".repeat(40),
            actor: person.login.clone(),
        });
        self.settle()
    }

    /// Re-run a run: same event, `GITHUB_SHA` and `GITHUB_REF` (the branch may have
    /// moved on since: the original commit, not its tip), the workflow file of that
    /// commit, the original actor, and a new attempt of the same run id (docs
    /// "Re-running workflows and jobs": "Re-running a workflow uses the same
    /// GITHUB_SHA (commit SHA) and GITHUB_REF (Git ref) of the original event that
    /// triggered the workflow run"; docs "Variables", `GITHUB_RUN_ATTEMPT`).
    pub fn rerun(&mut self, run: &RunRecord) -> Result<Vec<RunRecord>> {
        let actor = run.actor.clone();
        self.rerun_as(run, &actor)
    }

    /// [`Runner::rerun`] clicked by `login`: `github.actor` stays the original run's,
    /// `github.triggering_actor` is who re-ran it (docs "Contexts",
    /// `github.triggering_actor`; GitHub changelog 2022-07-19).
    pub fn rerun_as(&mut self, run: &RunRecord, login: &str) -> Result<Vec<RunRecord>> {
        let (repo, ev) = self
            .events
            .get(&run.id)
            .cloned()
            .ok_or_else(|| anyhow!("run #{} has no recorded event", run.id))?;
        let first = self.runs.len();
        let again = Rerun {
            file: run.workflow.clone(),
            id: run.id,
            git_ref: run.git_ref.clone(),
            sha: run.sha.clone(),
            triggering_actor: login.to_string(),
        };
        let flights = self.in_repo(&repo, |r| r.start(ev, Some(&again)))?;
        self.fly(flights)?;
        self.drain()?;
        Ok(self.runs[first..].to_vec())
    }

    /// Run every queued event and whatever it causes, until nothing is left.
    pub fn settle(&mut self) -> Result<Vec<RunRecord>> {
        let first = self.runs.len();
        self.drain()?;
        Ok(self.runs[first..].to_vec())
    }

    /// Everything queued arrived together (before any of it ran: a person's quick
    /// pushes, a merge's `closed` and push) and runs as one batch ([`Runner::fly`]);
    /// what the batch caused is the next batch.
    fn drain(&mut self) -> Result<()> {
        self.collect_caused()?;
        while !self.queue.is_empty() {
            let batch: Vec<(String, Event)> = self.queue.drain(..).collect();
            let mut flights = Vec::new();
            for (repo, ev) in batch {
                flights.extend(self.in_repo(&repo, |r| r.start(ev, None))?);
            }
            self.fly(flights)?;
            self.collect_caused()?;
        }
        Ok(())
    }

    /// What the last run (or a person) caused on GitHub: dispatches start runs, whoever
    /// made them; merges and PRs made with `GITHUB_TOKEN` start none; those made with
    /// any other token (an App's installation token, a PAT) start `pull_request`
    /// runs as a person's would, and a merge pushes the base branch too (docs
    /// "Triggering a workflow from a workflow": "If you do want to trigger a workflow
    /// from within a workflow run, you can use a GitHub App installation access token
    /// or a personal access token instead of GITHUB_TOKEN"). A token's writes appear
    /// as its login: `github-actions[bot]` for `GITHUB_TOKEN`, `<app>[bot]`, the user.
    fn collect_caused(&mut self) -> Result<()> {
        let repos: Vec<String> = self.seen.keys().cloned().collect();
        for repo in repos {
            self.in_repo(&repo, Self::collect_caused_here)?;
        }
        Ok(())
    }

    /// [`Runner::collect_caused`] in the current repository.
    fn collect_caused_here(&mut self) -> Result<()> {
        let ds = self.gh.dispatches(&self.repo)?;
        let from = self.seen_mut().dispatches;
        for d in &ds[from..] {
            self.enqueue(Event::Dispatch {
                workflow: d.workflow.clone(),
                git_ref: d.git_ref.clone(),
                inputs: d.inputs.clone(),
                actor: d.actor.clone(),
                sha: d.sha.clone(),
            });
        }
        self.seen_mut().dispatches = ds.len();
        for p in self.gh.pulls(&self.repo)? {
            let seen = self.seen_mut().pulls.get(&p.number).copied();
            if seen.is_none() && is_workflow_token(&p.user) {
                // Since 2026 a PR opened with GITHUB_TOKEN gets its `pull_request` runs
                // in a state that waits for a person's approval; they run no job (docs
                // "Events that trigger workflows", pull_request notes; github/docs PR
                // #44419). So its required checks never report until someone approves.
                self.suppressed.push(format!(
                    "pull_request opened #{} by {}: runs await approval (GITHUB_TOKEN)",
                    p.number, p.user
                ));
                self.awaiting_approval(&p)?;
            }
            if seen.is_none() && !is_workflow_token(&p.user) {
                self.enqueue(Event::PullRequestOpened {
                    number: p.number,
                    actor: p.user.clone(),
                });
            }
            let merged_by = p.merged_by.clone().unwrap_or_default();
            if p.merged && seen != Some(true) && is_workflow_token(&merged_by) {
                self.suppressed.push(format!(
                    "pull_request closed #{} merged by {merged_by}: no run (GITHUB_TOKEN)",
                    p.number,
                ));
            } else if p.merged && seen != Some(true) {
                // Merged with another token: the same events as a person's merge.
                let after = p.merge_commit_sha.clone().unwrap_or_default();
                let before = self
                    .gh
                    .git(&self.repo, &["rev-parse", &format!("{after}^1")])?;
                self.enqueue(Event::PullRequestClosed {
                    number: p.number,
                    actor: merged_by.clone(),
                });
                self.enqueue(Event::Push {
                    git_ref: format!("refs/heads/{}", p.base),
                    before,
                    after,
                    actor: merged_by,
                });
            }
            self.seen_mut().pulls.insert(p.number, p.merged);
        }
        Ok(())
    }

    /// `action_required` records for the workflows a GITHUB_TOKEN PR would start.
    fn awaiting_approval(&mut self, p: &crate::github::PullInfo) -> Result<()> {
        let payload = json!({
            "action": "opened", "number": p.number,
            "pull_request": self.gh.pull_json(&self.repo, p.number)?,
        });
        let git_ref = format!("refs/pull/{}/merge", p.number);
        for file in self.workflow_files(&p.head_sha)? {
            let wf = self.workflow_file(&p.head_sha, &file)?;
            if !triggers(&wf, "pull_request", &git_ref, &payload)? {
                continue;
            }
            self.runs.push(RunRecord {
                id: self.next_run,
                attempt: 1,
                workflow: file,
                name: wf["name"].as_str().unwrap_or_default().to_string(),
                event: "pull_request".into(),
                actor: p.user.clone(),
                git_ref: git_ref.clone(),
                sha: p.head_sha.clone(),
                concurrency: None,
                conclusion: "action_required".into(),
                invalid: None,
                cancelled: None,
                jobs: Vec::new(),
                requests: Vec::new(),
                tool_time: Duration::ZERO,
            });
            self.next_run += 1;
        }
        Ok(())
    }

    // -- runs ---------------------------------------------------------------------

    fn workflow_file(&self, sha: &str, file: &str) -> Result<Value> {
        let path = format!(".github/workflows/{file}");
        let text = self
            .gh
            .file_at(&self.repo, sha, &path)?
            .ok_or_else(|| anyhow!("no {path} at {sha}"))?;
        serde_norway::from_str(&text).with_context(|| format!("parsing {path}"))
    }

    fn workflow_files(&self, sha: &str) -> Result<Vec<String>> {
        let out = self.gh.git(
            &self.repo,
            &["ls-tree", "--name-only", sha, ".github/workflows/"],
        )?;
        Ok(out
            .lines()
            .filter_map(|l| l.strip_prefix(".github/workflows/"))
            .filter(|f| f.ends_with(".yaml") || f.ends_with(".yml"))
            .map(String::from)
            .collect())
    }

    /// The runs an event starts, ready to fly; `rerun` is a run to re-run (same id,
    /// next attempt, its commit and ref).
    fn start(&mut self, ev: Event, rerun: Option<&Rerun>) -> Result<Vec<Flight>> {
        let mut flights = Vec::new();
        let (event_name, git_ref, sha, actor, payload, inputs, files) = match &ev {
            Event::Dispatch {
                workflow,
                git_ref,
                inputs,
                actor,
                sha: at_dispatch,
            } => {
                let full = if git_ref.starts_with("refs/") {
                    git_ref.clone()
                } else if self
                    .gh
                    .git(
                        &self.repo,
                        &[
                            "rev-parse",
                            "--verify",
                            "-q",
                            &format!("refs/heads/{git_ref}"),
                        ],
                    )
                    .is_ok()
                {
                    format!("refs/heads/{git_ref}")
                } else {
                    format!("refs/tags/{git_ref}")
                };
                let (full, sha) = match rerun {
                    Some(r) => (r.git_ref.clone(), r.sha.clone()),
                    None => (full, at_dispatch.clone()),
                };
                let payload = json!({
                    "inputs": inputs, "ref": full,
                    "workflow": format!(".github/workflows/{workflow}"),
                    "repository": {"full_name": self.repo}, "sender": {"login": actor},
                });
                (
                    "workflow_dispatch",
                    full,
                    sha,
                    actor.clone(),
                    payload,
                    Some(inputs.clone()),
                    vec![workflow.clone()],
                )
            }
            Event::PullRequestClosed { number, actor } => {
                let p = self.gh.pull(&self.repo, *number)?;
                let pr = self.gh.pull_json(&self.repo, *number)?;
                // Merged: the base branch and the merge commit; closed unmerged: the
                // PR's merge ref (docs "Events that trigger workflows", pull_request).
                let (git_ref, sha) = match &p.merge_commit_sha {
                    Some(m) if p.merged => (format!("refs/heads/{}", p.base), m.clone()),
                    _ => (format!("refs/pull/{number}/merge"), p.head_sha.clone()),
                };
                let payload = json!({
                    "action": "closed", "number": number, "pull_request": pr,
                    "repository": {"full_name": self.repo}, "sender": {"login": actor},
                });
                let files = self.workflow_files(&sha)?;
                (
                    "pull_request",
                    git_ref,
                    sha,
                    actor.clone(),
                    payload,
                    None,
                    files,
                )
            }
            Event::PullRequestOpened { number, actor } => {
                let p = self.gh.pull(&self.repo, *number)?;
                let pr = self.gh.pull_json(&self.repo, *number)?;
                let payload = json!({
                    "action": "opened", "number": number, "pull_request": pr,
                    "repository": {"full_name": self.repo}, "sender": {"login": actor},
                });
                let files = self.workflow_files(&p.head_sha)?;
                (
                    "pull_request",
                    format!("refs/pull/{number}/merge"),
                    p.head_sha.clone(),
                    actor.clone(),
                    payload,
                    None,
                    files,
                )
            }
            Event::Push {
                git_ref,
                before,
                after,
                actor,
            } => {
                let zero = |s: &str| s.chars().all(|c| c == '0');
                let deleted = zero(after);
                // The commit: an annotated tag's `after` is the tag object. A deletion
                // has none: the run is on the default branch's tip.
                let sha = match rerun {
                    Some(r) => r.sha.clone(),
                    None if deleted => self.gh.git(&self.repo, &["rev-parse", "HEAD"])?,
                    None => self
                        .gh
                        .git(&self.repo, &["rev-parse", &format!("{after}^{{commit}}")])?,
                };
                let payload = json!({
                    "ref": git_ref, "before": before, "after": after,
                    "created": zero(before), "deleted": deleted, "forced": false,
                    "head_commit": if deleted { Value::Null } else { json!({"id": sha}) },
                    "repository": {"full_name": self.repo}, "pusher": {"name": actor},
                    "sender": {"login": actor},
                });
                let files = self.workflow_files(&sha)?;
                (
                    "push",
                    git_ref.clone(),
                    sha,
                    actor.clone(),
                    payload,
                    None,
                    files,
                )
            }
        };
        for file in files {
            if rerun.is_some_and(|r| r.file != file) {
                continue;
            }
            let wf = self.workflow_file(&sha, &file)?;
            if !triggers(&wf, event_name, &git_ref, &payload)? {
                continue;
            }
            known_keys(&file, "the workflow", &wf, WORKFLOW_KEYS)?;
            let (run_id, attempt) = match rerun {
                Some(r) => (r.id, self.runs.iter().filter(|x| x.id == r.id).count() + 1),
                None => {
                    self.next_run += 1;
                    (self.next_run - 1, 1)
                }
            };
            let ctx = RunCtx {
                file: file.clone(),
                name: wf["name"].as_str().unwrap_or(&file).to_string(),
                event_name: event_name.to_string(),
                git_ref: git_ref.clone(),
                sha: sha.clone(),
                actor: actor.clone(),
                triggering_actor: rerun
                    .map(|r| r.triggering_actor.clone())
                    .unwrap_or_else(|| actor.clone()),
                payload: payload.clone(),
                run_id,
                attempt,
            };
            let inputs = match &inputs {
                Some(given) => dispatch_inputs(&wf, given)?,
                None => Value::Object(Map::new()),
            };
            let mut record = RunRecord {
                id: ctx.run_id,
                attempt: ctx.attempt,
                workflow: file.clone(),
                name: ctx.name.clone(),
                event: event_name.to_string(),
                actor: actor.clone(),
                git_ref: git_ref.clone(),
                sha: sha.clone(),
                concurrency: None,
                conclusion: String::new(),
                invalid: None,
                cancelled: None,
                jobs: Vec::new(),
                requests: Vec::new(),
                tool_time: Duration::ZERO,
            };
            if let Some(why) = self.invalid_calls(&file, &sha, &wf, None)? {
                // Refused when the workflow is read: no job runs, not even those
                // that call nothing, whatever their `if:` says.
                record.conclusion = "startup_failure".into();
                record.invalid = Some(why);
                self.events
                    .insert(record.id, (self.repo.clone(), ev.clone()));
                self.runs.push(record);
                continue;
            }
            let github = self.github_ctx(&ctx, "");
            let mut c = Contexts::new();
            c.insert("github".into(), github);
            c.insert("inputs".into(), inputs.clone());
            let group = concurrency(&wf, &c)?;
            record.concurrency = group.as_ref().map(|g| g.name.clone());
            flights.push(Flight {
                frames: vec![Frame {
                    pending: job_ids(&wf),
                    wf,
                    inputs,
                    secrets: self.secrets.clone(),
                    caller: None,
                    prefix: String::new(),
                    done: BTreeMap::new(),
                    group: None,
                    call: None,
                    matrices: BTreeMap::new(),
                }],
                repo: self.repo.clone(),
                ctx,
                event: ev.clone(),
                record,
                group,
            });
        }
        Ok(flights)
    }

    /// GitHub's check of called workflows when it reads `wf`: a called workflow, or
    /// a job of it, whose `permissions:` ask for more than the calling job has makes
    /// the whole workflow invalid, before any job runs and whatever the calling
    /// job's `if:` (actions/runner `src/Sdk/WorkflowParser/Conversion/PermissionsHelper.cs`,
    /// which the workflow parser calls while it loads the called workflow; the `if:`
    /// is not consulted: actions/runner#4151). The text is GitHub's, as quoted in
    /// public runs (actions/runner#4151, canonical/authd#1528,
    /// confidential-containers/trustee#894). Which keys it lists: NOT pinned down;
    /// every quoted case lists only keys above the allowance, as we do.
    fn invalid_calls(
        &self,
        file: &str,
        sha: &str,
        wf: &Value,
        caller: Option<&Perms>,
    ) -> Result<Option<String>> {
        let Some(jobs) = wf["jobs"].as_object() else {
            return Ok(None);
        };
        let text = self
            .gh
            .file_at(&self.repo, sha, &format!(".github/workflows/{file}"))?
            .unwrap_or_default();
        let mut errors = Vec::new();
        for (id, job) in jobs {
            let Some(callee_file) = job["uses"]
                .as_str()
                .and_then(|u| u.strip_prefix("./.github/workflows/"))
            else {
                continue;
            };
            let granted = job_permissions(job, wf, caller)?;
            let callee = self.workflow_file(sha, callee_file)?;
            let line = text
                .lines()
                .position(|l| l == format!("  {id}:"))
                .map_or(0, |n| n + 1);
            let at = format!(
                "{file} (Line: {line}, Col: 3): Error calling workflow '{}/.github/workflows/{callee_file}@{sha}'.",
                self.repo
            );
            let mut asked = Vec::new();
            if !callee["permissions"].is_null() {
                asked.push((
                    "The workflow".to_string(),
                    permissions::parse(&callee["permissions"])?,
                ));
            }
            for (cid, cjob) in callee["jobs"].as_object().into_iter().flatten() {
                if !cjob["permissions"].is_null() {
                    asked.push((
                        format!("The nested job '{cid}'"),
                        permissions::parse(&cjob["permissions"])?,
                    ));
                }
            }
            for (who, p) in asked {
                let over: Vec<&String> = p
                    .iter()
                    .filter(|(k, l)| **l > granted.get(*k).copied().unwrap_or(0))
                    .map(|(k, _)| k)
                    .collect();
                if over.is_empty() {
                    continue;
                }
                let level = |l: u8| ["none", "read", "write"][l.min(2) as usize];
                let list = |of: &Perms| {
                    over.iter()
                        .map(|k| format!("{k}: {}", level(of.get(*k).copied().unwrap_or(0))))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                errors.push(format!(
                    "{at} {who} is requesting '{}', but is only allowed '{}'.",
                    list(&p),
                    list(&granted)
                ));
            }
            if let Some(deeper) = self.invalid_calls(callee_file, sha, &callee, Some(&granted))? {
                errors.push(
                    deeper
                        .trim_start_matches("The workflow is not valid. ")
                        .to_string(),
                );
            }
        }
        Ok(
            (!errors.is_empty())
                .then(|| format!("The workflow is not valid. {}", errors.join(" "))),
        )
    }

    /// The `github` context of a job (`token` is the job's).
    fn github_ctx(&self, ctx: &RunCtx, token: &str) -> Value {
        let (ref_type, ref_name) = if let Some(t) = ctx.git_ref.strip_prefix("refs/tags/") {
            ("tag", t.to_string())
        } else if let Some(b) = ctx.git_ref.strip_prefix("refs/heads/") {
            ("branch", b.to_string())
        } else {
            // refs/pull/N/merge
            (
                "branch",
                ctx.git_ref.trim_start_matches("refs/pull/").to_string(),
            )
        };
        let pr = &ctx.payload["pull_request"];
        let (head_ref, base_ref) = if ctx.event_name == "pull_request" {
            (
                pr["head"]["ref"].as_str().unwrap_or_default().to_string(),
                pr["base"]["ref"].as_str().unwrap_or_default().to_string(),
            )
        } else {
            (String::new(), String::new())
        };
        let owner = self.repo.split('/').next().unwrap_or_default();
        json!({
            "token": token,
            "event_name": ctx.event_name,
            "event": ctx.payload,
            "ref": ctx.git_ref,
            "ref_name": ref_name,
            "ref_type": ref_type,
            "ref_protected": false,
            "sha": ctx.sha,
            "head_ref": head_ref,
            "base_ref": base_ref,
            "repository": self.repo,
            "repository_id": "4200",
            "repository_owner": owner,
            "repository_owner_id": "4100",
            "actor": ctx.actor,
            "actor_id": "4300",
            "triggering_actor": ctx.triggering_actor,
            "server_url": self.gh.server_url(),
            "api_url": self.gh.api_url(),
            "graphql_url": self.gh.graphql_url(),
            "run_id": ctx.run_id.to_string(),
            "run_number": (ctx.run_id - 8999).to_string(),
            "run_attempt": ctx.attempt.to_string(),
            "retention_days": "90",
            "workflow": ctx.name,
            "workflow_ref": format!("{}/.github/workflows/{}@{}", self.repo, ctx.file, ctx.git_ref),
            "workflow_sha": ctx.sha,
        })
    }

    /// The next job of `f` to run, in `needs` order, entering called workflows as
    /// their calling jobs come up and leaving them (their outputs, their result) when
    /// their last job is done; skipped jobs are recorded on the way. `None`: the run
    /// has no job left.
    fn next_job(&self, f: &mut Flight) -> Result<Option<Vec<Ready>>> {
        loop {
            let Some(top) = f.frames.last_mut() else {
                return Ok(None);
            };
            // A matrix under way starts its next combinations (max-parallel).
            if let Some(p) = top.matrices.values_mut().find(|p| !p.queued.is_empty()) {
                let batch = p.start();
                if !batch.is_empty() {
                    return Ok(Some(batch));
                }
            }
            if !top.matrices.is_empty() && top.pending.is_empty() {
                // Its combinations are running or pending in their groups.
                return Ok(Some(Vec::new()));
            }
            if top.pending.is_empty() {
                let fr = f.frames.pop().expect("a frame");
                if let Some((id, decl)) = fr.call {
                    let result = conclusion_of(fr.done.values().map(|d| &d["result"]));
                    let mut jc = Contexts::new();
                    jc.insert("jobs".into(), Value::Object(fr.done.into_iter().collect()));
                    let mut outputs = Map::new();
                    if let Some(o) = decl["outputs"].as_object() {
                        for (k, d) in o {
                            let v =
                                expr::interpolate(d["value"].as_str().unwrap_or_default(), &jc)?;
                            outputs.insert(k.clone(), Value::String(v));
                        }
                    }
                    let parent = f.frames.last_mut().expect("a calling frame");
                    parent
                        .done
                        .insert(id, json!({"result": result, "outputs": outputs}));
                }
                continue;
            }
            let jobs = top.wf["jobs"]
                .as_object()
                .ok_or_else(|| anyhow!("{}: no `jobs`", f.ctx.file))?;
            let ready = top
                .pending
                .iter()
                .position(|id| needs_of(&jobs[id]).iter().all(|n| top.done.contains_key(n)));
            let Some(i) = ready else {
                if !top.matrices.is_empty() {
                    // What is left needs a matrix still running.
                    return Ok(Some(Vec::new()));
                }
                bail!(
                    "{}: `needs` cycle or unknown job among {:?}",
                    f.ctx.file,
                    top.pending
                );
            };
            let id = top.pending.remove(i);
            let job = jobs[&id].clone();
            known_keys(&f.ctx.file, &format!("jobs.{id}"), &job, JOB_KEYS)?;
            let name = format!("{}{id}", top.prefix);
            let needs_ctx: Map<String, Value> = needs_of(&job)
                .iter()
                .map(|n| (n.clone(), top.done[n].clone()))
                .collect();
            let mut c = Contexts::new();
            c.insert("github".into(), self.github_ctx(&f.ctx, ""));
            c.insert("inputs".into(), top.inputs.clone());
            c.insert("needs".into(), Value::Object(needs_ctx.clone()));
            // A job runs only when its needs succeeded (the implicit `success()`), then
            // if its `if:` holds (docs "Workflow syntax", jobs.<job_id>.if). Both come
            // before its strategy, which `if:` cannot read (no `matrix` there: docs
            // "Contexts reference", context availability; actions/runner#1985), so a
            // job whose `if:` is false is skipped even where its matrix would be
            // empty (continuous-actions/dynamic-monorepo's README: "skipped, or
            // failed with \"Matrix vector 'project' does not contain any values\"").
            let needs_ok = needs_ctx.values().all(|n| n["result"] == "success");
            let cond = match &job["if"] {
                Value::Null => true,
                Value::Bool(b) => *b,
                v => expr::condition(&expr::to_string(v), &c)
                    .with_context(|| format!("{}: jobs.{id}.if", f.ctx.file))?,
            };
            let perms = job_permissions(&job, &top.wf, top.caller.as_ref())?;
            if !needs_ok || !cond {
                f.record.jobs.push(JobRecord {
                    name,
                    result: "skipped".into(),
                    permissions: perms,
                    concurrency: None,
                    steps: Vec::new(),
                    outputs: BTreeMap::new(),
                    error: None,
                });
                top.done
                    .insert(id, json!({"result": "skipped", "outputs": {}}));
                continue;
            }
            if let Some(uses) = job["uses"].as_str() {
                if !job["strategy"].is_null() {
                    bail!(
                        "{}: jobs.{id}: a matrix of a called workflow is outside what the workflow runner models",
                        f.ctx.file
                    );
                }
                let frame = self.callee(&f.ctx, &id, &job, uses, &c, &top.secrets, perms, &name)?;
                f.frames.push(frame);
                continue;
            }
            // A matrix job: one job per combination, each with its own `matrix`,
            // `strategy` and `concurrency:` ([`matrix`]).
            if !job["strategy"].is_null() {
                let order = if top.prefix.is_empty() {
                    let text = self
                        .gh
                        .file_at(
                            &self.repo,
                            &f.ctx.sha,
                            &format!(".github/workflows/{}", f.ctx.file),
                        )?
                        .unwrap_or_default();
                    matrix::key_order(&text, &id)
                } else {
                    Vec::new()
                };
                let s = match matrix::expand(&id, &job["strategy"], &c, &order)
                    .with_context(|| format!("{}: jobs.{id}.strategy", f.ctx.file))?
                {
                    Ok(s) => s,
                    Err(matrix::Refused(why)) => {
                        f.record.jobs.push(JobRecord {
                            name,
                            result: "failure".into(),
                            permissions: perms,
                            concurrency: None,
                            steps: Vec::new(),
                            outputs: BTreeMap::new(),
                            error: Some(format!(
                                "Error when evaluating 'strategy' for job '{id}'. .github/workflows/{}: {why}",
                                f.ctx.file
                            )),
                        });
                        top.done
                            .insert(id, json!({"result": "failure", "outputs": {}}));
                        continue;
                    }
                };
                if s.combos.is_empty() {
                    bail!(
                        "{}: jobs.{id}: a matrix whose `exclude` removes every combination is outside what the workflow runner models",
                        f.ctx.file
                    );
                }
                let mut jobs = Vec::new();
                for n in 0..s.combos.len() {
                    let (m, st) = matrix::contexts(&s, n);
                    let mut cc = c.clone();
                    cc.insert("matrix".into(), m);
                    cc.insert("strategy".into(), st);
                    // Concurrency per combination: `matrix` is available there
                    // (docs "Contexts reference", jobs.<job_id>.concurrency).
                    let group = match &job["concurrency"] {
                        Value::Null => top.group.clone(),
                        v => concurrency(&json!({"concurrency": v}), &cc)?,
                    };
                    jobs.push(Ready {
                        id: id.clone(),
                        job: job.clone(),
                        name: matrix::job_name(&name, &s.combos[n], &order),
                        c: cc,
                        secrets: top.secrets.clone(),
                        perms: perms.clone(),
                        group,
                        combo: true,
                        seq: 0,
                    });
                }
                let mut p = matrix::Progress::new(jobs, &s);
                let batch = p.start();
                top.matrices.insert(id, p);
                return Ok(Some(batch));
            }
            // Outside a matrix `matrix` is empty and `strategy` a job of one.
            c.insert("matrix".into(), Value::Null);
            c.insert(
                "strategy".into(),
                json!({"fail-fast": true, "job-index": 0, "job-total": 1, "max-parallel": 1}),
            );
            // A job's own `concurrency:` (evaluated with github, inputs, needs: docs
            // "Control the concurrency of workflows and jobs"), else the called
            // workflow's.
            let group = match &job["concurrency"] {
                Value::Null => top.group.clone(),
                v => concurrency(&json!({"concurrency": v}), &c)?,
            };
            return Ok(Some(vec![Ready {
                id,
                job,
                c,
                secrets: top.secrets.clone(),
                perms,
                name,
                group,
                combo: false,
                seq: 0,
            }]));
        }
    }

    /// The frame of a called workflow (`jobs.<id>.uses`): its inputs from `with:`,
    /// the secrets passed, the calling job's permissions, its own `concurrency:`.
    #[allow(clippy::too_many_arguments)]
    fn callee(
        &self,
        ctx: &RunCtx,
        id: &str,
        job: &Value,
        uses: &str,
        c: &Contexts,
        secrets: &BTreeMap<String, String>,
        perms: Perms,
        name: &str,
    ) -> Result<Frame> {
        let Some(file) = uses.strip_prefix("./.github/workflows/") else {
            bail!(
                "{}: jobs.{id}.uses `{uses}`: only local reusable workflows are supported",
                ctx.file
            );
        };
        // A local reusable workflow comes from the caller's commit (docs "Reusing
        // workflows": "./.github/workflows/… in the same commit as the caller").
        let callee = self.workflow_file(&ctx.sha, file)?;
        let decl = callee["on"]["workflow_call"].clone();
        if decl.is_null() {
            bail!("{file} has no `on.workflow_call`");
        }
        let mut inputs = Map::new();
        let with = job["with"].as_object().cloned().unwrap_or_default();
        for k in with.keys() {
            if decl["inputs"].get(k).is_none() {
                bail!(
                    "{}: jobs.{id}.with.{k}: {file} declares no input `{k}`",
                    ctx.file
                );
            }
        }
        if let Some(decl_inputs) = decl["inputs"].as_object() {
            for (k, d) in decl_inputs {
                let v = match with.get(k) {
                    Some(v) => Value::String(expr::interpolate(&expr::to_string(v), c)?),
                    None => match &d["default"] {
                        Value::Null if d["required"] == true => {
                            bail!("{}: jobs.{id}: input `{k}` of {file} is required", ctx.file)
                        }
                        Value::Null => Value::String(String::new()),
                        v => Value::String(expr::to_string(v)),
                    },
                };
                inputs.insert(k.clone(), v);
            }
        }
        // `secrets: inherit` passes all; otherwise only the mapped ones (docs "Workflow
        // syntax", jobs.<job_id>.secrets.inherit).
        let passed = match &job["secrets"] {
            Value::String(s) if s == "inherit" => secrets.clone(),
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| Ok((k.clone(), expr::interpolate(&expr::to_string(v), c)?)))
                .collect::<Result<_>>()?,
            _ => BTreeMap::new(),
        };
        let inputs = Value::Object(inputs);
        let mut cc = Contexts::new();
        cc.insert("github".into(), self.github_ctx(ctx, ""));
        cc.insert("inputs".into(), inputs.clone());
        let group = concurrency(&callee, &cc)?;
        Ok(Frame {
            pending: job_ids(&callee),
            wf: callee,
            inputs,
            secrets: passed,
            caller: Some(perms),
            prefix: format!("{name} / "),
            done: BTreeMap::new(),
            group,
            call: Some((id.to_string(), decl)),
            matrices: BTreeMap::new(),
        })
    }

    /// Run the runs that arrived together, as GitHub's concurrency groups let them
    /// (docs "Control the concurrency of workflows and jobs"): "at most one running
    /// and one pending job [or workflow] in a concurrency group at any time"; a newer
    /// one queued in the group cancels the pending one and takes its place, and with
    /// `cancel-in-progress: true` cancels the running one too. Group names compare
    /// case-insensitively (same page).
    ///
    /// Time is modelled in rounds: every run of the batch arrived before any job ran
    /// (quick pushes); in each round each run that may go on starts its next job, all
    /// of a round's jobs run "at once" (one after the other here, none seeing a
    /// later one's writes before it ends), and a job holds its group until its round
    /// ends. A run holds its workflow-level group from its start until its last job
    /// ends. So of three runs queued at once in one group the first runs, the second
    /// is cancelled by the third, and the third runs when the first is done.
    fn fly(&mut self, mut flights: Vec<Flight>) -> Result<()> {
        let n = flights.len();
        // Workflow-level groups, decided at arrival.
        let mut groups: BTreeMap<String, Slot> = BTreeMap::new();
        let mut state: Vec<State> = Vec::with_capacity(n);
        for i in 0..n {
            let Some(g) = flights[i].group.clone() else {
                state.push(State::Active);
                continue;
            };
            state.push(State::Waiting);
            let slot = groups.entry(g.name.to_lowercase()).or_default();
            for loser in slot.arrive(i, g.cancel) {
                cancel_run(&mut flights[loser], &g.name);
                state[loser] = State::Done;
            }
            if slot.running == Some(i) {
                state[i] = State::Active;
            }
        }
        // Job-level groups: the pending job of each, with the run it belongs to.
        let mut pending_jobs: BTreeMap<String, (usize, Ready)> = BTreeMap::new();
        // Arrival order, so a round's jobs run in the order they arrived (a
        // matrix's in its combinations' order), whatever their groups' names.
        let mut seq = 0usize;
        while state.iter().any(|s| *s != State::Done) {
            let mut arriving: Vec<(usize, Ready)> = Vec::new();
            let mut moved = false;
            for i in 0..n {
                // A run whose next job is pending in its group waits for it.
                if state[i] != State::Active || pending_jobs.values().any(|(p, _)| *p == i) {
                    continue;
                }
                let repo = flights[i].repo.clone();
                match self.in_repo(&repo, |r| r.next_job(&mut flights[i]))? {
                    // A matrix's combinations arrive together.
                    Some(rs) => {
                        for mut r in rs {
                            seq += 1;
                            r.seq = seq;
                            arriving.push((i, r));
                        }
                    }
                    None => {
                        moved = true;
                        state[i] = State::Done;
                        if let Some(g) = &flights[i].group {
                            let slot = groups.get_mut(&g.name.to_lowercase()).expect("its group");
                            if let Some(next) = slot.release(i) {
                                state[next] = State::Active;
                            }
                        }
                    }
                }
            }
            // Free at the round's start (their holders ended last round): the
            // pending jobs come first, then this round's arrivals in run order.
            let mut contenders: BTreeMap<String, Vec<(usize, Ready)>> = BTreeMap::new();
            for (k, p) in std::mem::take(&mut pending_jobs) {
                contenders.entry(k).or_default().push(p);
            }
            let mut now: Vec<(usize, Ready)> = Vec::new();
            for (i, r) in arriving {
                match &r.group {
                    None => now.push((i, r)),
                    Some(g) => contenders
                        .entry(g.name.to_lowercase())
                        .or_default()
                        .push((i, r)),
                }
            }
            for (key, list) in contenders {
                // Slots hold arrivals by their place in `list`: two combinations of
                // one run's matrix may contend for one group.
                let mut slot = Slot::default();
                let mut ready: BTreeMap<usize, (usize, Ready)> = BTreeMap::new();
                for (j, (i, r)) in list.into_iter().enumerate() {
                    let cancel = r.group.as_ref().is_some_and(|g| g.cancel);
                    let name = r.group.as_ref().map(|g| g.name.clone()).unwrap_or_default();
                    for loser in slot.arrive(j, cancel) {
                        let (li, lost) = ready.remove(&loser).expect("a contender");
                        self.cancel_job(&mut flights[li], lost, &name);
                        moved = true;
                    }
                    ready.insert(j, (i, r));
                }
                if let Some(p) = slot.pending {
                    let pr = ready.remove(&p).expect("the pending job");
                    pending_jobs.insert(key, pr);
                }
                if let Some(run) = slot.running {
                    now.push(ready.remove(&run).expect("the running job"));
                }
            }
            now.sort_by_key(|(i, r)| (*i, r.seq));
            for (i, r) in now {
                moved = true;
                let repo = flights[i].repo.clone();
                self.in_repo(&repo, |me| me.run_ready(&mut flights[i], r))?;
            }
            if !moved && pending_jobs.is_empty() {
                bail!("the runs of this batch are stuck: {state:?}");
            }
        }
        for f in flights {
            let mut record = f.record;
            record.tool_time = record
                .steps()
                .filter(|s| is_our_action(&s.uses))
                .map(|s| s.elapsed)
                .sum();
            if record.conclusion.is_empty() {
                record.conclusion = {
                    let results: Vec<Value> = record
                        .jobs
                        .iter()
                        .map(|j| Value::String(j.result.clone()))
                        .collect();
                    conclusion_of(results.iter()).into()
                };
                if record.conclusion == "success"
                    && record.jobs.iter().all(|j| j.result == "skipped")
                {
                    record.conclusion = "skipped".into();
                }
            }
            self.events.insert(record.id, (f.repo, f.event));
            self.runs.push(record);
        }
        Ok(())
    }

    /// Run a job `next_job` gave, and record it (its requests are the run's).
    fn run_ready(&mut self, f: &mut Flight, r: Ready) -> Result<()> {
        if r.combo {
            let top = f.frames.last_mut().expect("the job's frame");
            let p = top.matrices.get(&r.id).expect("the combination's matrix");
            if let Some(failed) = p.failed_fast.clone() {
                // The runner's wording: GitHub's annotation text is not pinned down.
                let why = format!("cancelled by fail-fast: `{failed}` failed");
                let id = r.id.clone();
                matrix_cancelled(f, r, Some(why), true);
                matrix_settle(f, &id);
                return Ok(());
            }
        }
        let before = self.gh.request_log().len();
        let group = r.group.as_ref().map(|g| g.name.clone());
        let record = self.run_steps(
            &f.ctx, &r.id, &r.job, &r.c, &r.secrets, r.perms, &r.name, group,
        )?;
        f.record
            .requests
            .extend_from_slice(&self.gh.request_log()[before..]);
        let outputs: Map<String, Value> = record
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let top = f.frames.last_mut().expect("the job's frame");
        if r.combo {
            let p = top
                .matrices
                .get_mut(&r.id)
                .expect("the combination's matrix");
            p.finish(&record.name, &record.result, &outputs);
            f.record.jobs.push(record);
            // "cancel all in-progress and queued jobs in the matrix": the queued
            // ones now; those of this round as they come up (above).
            let queued: Vec<Ready> = match &p.failed_fast {
                Some(_) => p.queued.drain(..).collect(),
                None => Vec::new(),
            };
            let failed = p.failed_fast.clone().unwrap_or_default();
            for q in queued {
                let why = format!("cancelled by fail-fast: `{failed}` failed");
                matrix_cancelled(f, q, Some(why), false);
            }
            matrix_settle(f, &r.id);
            return Ok(());
        }
        top.done
            .insert(r.id, json!({"result": record.result, "outputs": outputs}));
        f.record.jobs.push(record);
        Ok(())
    }

    /// A job cancelled by a newer one in its group, before it started: the jobs that
    /// need it are skipped and the run ends `cancelled`.
    fn cancel_job(&self, f: &mut Flight, r: Ready, group: &str) {
        f.record
            .cancelled
            .get_or_insert_with(|| cancel_message(group));
        let top = f.frames.last_mut().expect("the job's frame");
        if r.combo {
            let id = r.id.clone();
            matrix_cancelled(f, r, Some(cancel_message(group)), true);
            matrix_settle(f, &id);
            return;
        }
        top.done
            .insert(r.id, json!({"result": "cancelled", "outputs": {}}));
        f.record.jobs.push(JobRecord {
            name: r.name,
            result: "cancelled".into(),
            permissions: r.perms,
            concurrency: r.group.map(|g| g.name),
            steps: Vec::new(),
            outputs: BTreeMap::new(),
            error: None,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn run_steps(
        &mut self,
        ctx: &RunCtx,
        id: &str,
        job: &Value,
        c: &Contexts,
        secrets: &BTreeMap<String, String>,
        perms: Perms,
        name: &str,
        group: Option<String>,
    ) -> Result<JobRecord> {
        // The job's own installation token, revoked when the job ends.
        self.next_token += 1;
        let token = format!(
            "ghs_{:04}{}",
            self.next_token,
            hex16(ctx.run_id.wrapping_mul(7919) ^ self.next_token)
        );
        let mut grants: TokenGrants = permissions::grants(&perms);
        grants.user_login = "github-actions[bot]".into();
        // "The token's permissions are limited to the repository that contains your
        // workflow" (docs "Automatic token authentication").
        grants.repositories = Some(vec![self.repo.clone()]);
        self.gh.add_token(&token, grants);
        // GHCR takes the job's token at login whatever its `packages:`, and judges
        // each pull (`read`) and push (`write`) (`TestRegistry::accept_token`).
        let packages = perms.get("packages").copied().unwrap_or(0);
        if let Some(reg) = self.registry {
            reg.accept_token(&token, packages, &self.repo);
        }
        let mut c = c.clone();
        c.insert("github".into(), {
            let mut g = self.github_ctx(ctx, &token);
            g["job"] = Value::String(id.to_string());
            g
        });
        let mut sec: Map<String, Value> = secrets
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        sec.insert("GITHUB_TOKEN".into(), Value::String(token.clone()));
        c.insert("secrets".into(), Value::Object(sec));
        let temp = self
            .scratch
            .path()
            .join(format!("job-{}-{}", ctx.run_id, self.next_token));
        let workspace = temp.join("work");
        for d in [
            "_temp",
            "_github_home",
            "_github_workflow",
            "_runner_file_commands",
        ] {
            std::fs::create_dir_all(temp.join(d))?;
        }
        std::fs::create_dir_all(&workspace)?;
        std::fs::write(
            temp.join("_github_workflow/event.json"),
            serde_json::to_vec_pretty(&ctx.payload)?,
        )?;
        let mut steps_ctx = Map::new();
        let mut steps = Vec::new();
        let mut failed = false;
        // Secrets the runner masks in logs (`***`): the job's token, and what steps
        // registered (`core.setSecret`, `::add-mask::`; docs "Workflow commands",
        // masking a value).
        let mut masks: Vec<String> = vec![token.clone()];
        // Tokens revoked when the job ends (actions' post steps).
        let mut revoke: Vec<String> = Vec::new();
        let list = job["steps"].as_array().cloned().unwrap_or_default();
        let result = (|| -> Result<()> {
            for (n, step) in list.iter().enumerate() {
                known_keys(&ctx.file, &format!("jobs.{id}.steps[{n}]"), step, STEP_KEYS)?;
                let sid = step["id"].as_str().map(String::from);
                let uses = match (step["uses"].as_str(), step["run"].as_str()) {
                    (Some(u), _) => u.to_string(),
                    (None, Some(_)) => bail!(
                        "{}: jobs.{id}.steps[{n}]: `run:` steps are outside what the workflow runner executes",
                        ctx.file
                    ),
                    _ => bail!("{}: jobs.{id}.steps[{n}]: neither uses nor run", ctx.file),
                };
                c.insert("steps".into(), Value::Object(steps_ctx.clone()));
                let cond = match &step["if"] {
                    Value::Null => !failed,
                    v => !failed && expr::condition(&expr::to_string(v), &c)?,
                };
                if !cond {
                    steps.push(StepRecord::skipped(sid, &uses));
                    continue;
                }
                let with: BTreeMap<String, String> = step["with"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| {
                                Ok((k.clone(), expr::interpolate(&expr::to_string(v), &c)?))
                            })
                            .collect::<Result<_>>()
                    })
                    .transpose()?
                    .unwrap_or_default();
                let mut rec = if uses.starts_with("actions/checkout@") {
                    self.checkout(ctx, &token, &workspace, &with, sid.clone(), &uses)?
                } else if uses.starts_with("actions/create-github-app-token@") {
                    let m = self.create_app_token(ctx, &with, sid.clone(), &uses)?;
                    if let Some(t) = m.token {
                        masks.push(t.clone());
                        if m.revoke {
                            revoke.push(t);
                        }
                    }
                    m.record
                } else if is_our_action(&uses) {
                    let github = c["github"].clone();
                    self.our_action(
                        ctx,
                        &github,
                        &temp,
                        &workspace,
                        &with,
                        step,
                        &c,
                        sid.clone(),
                        &uses,
                    )?
                } else {
                    bail!(
                        "{}: jobs.{id}: action `{uses}` is outside what the workflow runner executes",
                        ctx.file
                    );
                };
                // `::add-mask::<value>` masks the value from then on (docs "Workflow
                // commands", "Masking a value in a log"); the command line itself
                // shows the value masked.
                for line in rec.stdout.lines().chain(rec.stderr.lines()) {
                    if let Some(v) = line.trim().strip_prefix("::add-mask::")
                        && !v.is_empty()
                        && !masks.iter().any(|m| m == v)
                    {
                        masks.push(v.to_string());
                    }
                }
                for m in &masks {
                    for text in [&mut rec.stdout, &mut rec.stderr, &mut rec.summary] {
                        *text = text.replace(m.as_str(), "***");
                    }
                    for a in &mut rec.annotations {
                        a.message = a.message.replace(m.as_str(), "***");
                    }
                }
                if rec.outcome == "failure" {
                    failed = true;
                }
                if let Some(s) = &sid {
                    let outs: Map<String, Value> = rec
                        .outputs
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect();
                    steps_ctx.insert(
                        s.clone(),
                        json!({"outputs": outs, "outcome": rec.outcome, "conclusion": rec.outcome}),
                    );
                }
                steps.push(rec);
            }
            Ok(())
        })();
        // The token dies with the job, whatever happened, and so do the App tokens
        // whose post step revokes them.
        self.gh.remove_token(&token);
        if let Some(reg) = self.registry {
            reg.forget_token(&token);
        }
        for t in &revoke {
            self.gh.remove_token(t);
        }
        result?;
        c.insert("steps".into(), Value::Object(steps_ctx));
        let mut outputs = BTreeMap::new();
        if let Some(o) = job["outputs"].as_object() {
            for (k, v) in o {
                outputs.insert(k.clone(), expr::interpolate(&expr::to_string(v), &c)?);
            }
        }
        Ok(JobRecord {
            name: name.to_string(),
            result: if failed { "failure" } else { "success" }.into(),
            permissions: perms,
            concurrency: group,
            steps,
            outputs,
            error: None,
        })
    }

    /// `actions/checkout`, as its source does it (docs/github-facts/checkout.md): `git fetch --no-tags
    /// --depth=1` of `with.ref`'s current tip (a branch, else a tag), of exactly that
    /// commit for a 40-hex ref, or of `GITHUB_SHA` onto `GITHUB_REF`'s branch without a
    /// ref; tags only with `fetch-depth: 0` or `fetch-tags: true`; with
    /// `persist-credentials` (default true) the token stays in `.git/config` as
    /// `http.<server>/.extraheader` (v4's form; v6+ moved it to an includeIf file).
    fn checkout(
        &self,
        ctx: &RunCtx,
        token: &str,
        ws: &Path,
        with: &BTreeMap<String, String>,
        id: Option<String>,
        uses: &str,
    ) -> Result<StepRecord> {
        let started = Instant::now();
        for k in with.keys() {
            if ![
                "ref",
                "persist-credentials",
                "fetch-depth",
                "fetch-tags",
                "token",
            ]
            .contains(&k.as_str())
            {
                bail!("actions/checkout input `{k}` is outside what the workflow runner emulates");
            }
        }
        let depth: i64 = with
            .get("fetch-depth")
            .map_or(Ok(1), |d| d.parse())
            .unwrap_or(1);
        let tags = with
            .get("fetch-tags")
            .is_some_and(|t| t.eq_ignore_ascii_case("true"));
        let persist = with
            .get("persist-credentials")
            .is_none_or(|p| !p.eq_ignore_ascii_case("false"));
        let token = with
            .get("token")
            .filter(|t| !t.is_empty())
            .map_or(token, |t| t.as_str());
        let owner_name: Vec<&str> = self.repo.splitn(2, '/').collect();
        let url = self.gh.git_url(owner_name[0], owner_name[1]);
        let server = self.gh.server_url();
        let header = format!(
            "AUTHORIZATION: basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("x-access-token:{token}")
            )
        );
        let _ = std::fs::remove_dir_all(ws);
        std::fs::create_dir_all(ws)?;
        let g = |args: &[&str]| -> Result<String> {
            let o = Command::new("git")
                .current_dir(ws)
                .args([
                    "-c",
                    "safe.directory=*",
                    "-c",
                    &format!("http.{server}/.extraheader={header}"),
                ])
                .args(args)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_TERMINAL_PROMPT", "0")
                .output()?;
            if !o.status.success() {
                bail!("git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
            }
            Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let fail = |msg: String| StepRecord {
            outcome: "failure".into(),
            annotations: vec![Annotation {
                level: "error".into(),
                message: msg,
            }],
            ..StepRecord::skipped(id.clone(), uses)
        };
        g(&["init", "-q"])?;
        g(&["remote", "add", "origin", &url])?;
        let want = with.get("ref").filter(|r| !r.is_empty());
        let depth_arg = format!("--depth={depth}");
        let mut fetch: Vec<String> = vec![
            "-c".into(),
            "protocol.version=2".into(),
            "fetch".into(),
            "--no-tags".into(),
            "--prune".into(),
            "--no-recurse-submodules".into(),
        ];
        if depth > 0 {
            fetch.push(depth_arg);
        }
        fetch.push("origin".into());
        let all_tags = depth <= 0 || tags;
        if all_tags {
            fetch.push("+refs/tags/*:refs/tags/*".into());
        }
        let sha_re = |s: &str| s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit());
        let checkout_args: Vec<String>;
        match want {
            Some(r) if sha_re(r) => {
                fetch.push(r.clone());
                checkout_args = vec!["checkout".into(), "-q".into(), "--detach".into(), r.clone()];
            }
            Some(r) => {
                // ref-helper.ts getCheckoutInfo: `refs/heads/x` is the branch only,
                // `refs/tags/x` the tag only, and a bare name the branch first, then
                // the tag.
                let (r, branch_ok, tag_ok) = if let Some(b) = r.strip_prefix("refs/heads/") {
                    (b, true, false)
                } else if let Some(t) = r.strip_prefix("refs/tags/") {
                    (t, false, true)
                } else {
                    (r.as_str(), true, true)
                };
                if branch_ok
                    && self
                        .gh
                        .git(
                            &self.repo,
                            &["rev-parse", "--verify", "-q", &format!("refs/heads/{r}")],
                        )
                        .is_ok()
                {
                    fetch.push(format!("+refs/heads/{r}:refs/remotes/origin/{r}"));
                    checkout_args = vec![
                        "checkout".into(),
                        "-q".into(),
                        "-B".into(),
                        r.to_string(),
                        format!("refs/remotes/origin/{r}"),
                    ];
                } else if tag_ok
                    && self
                        .gh
                        .git(
                            &self.repo,
                            &["rev-parse", "--verify", "-q", &format!("refs/tags/{r}")],
                        )
                        .is_ok()
                {
                    if !all_tags {
                        fetch.push(format!("+refs/tags/{r}:refs/tags/{r}"));
                    }
                    checkout_args = vec![
                        "checkout".into(),
                        "-q".into(),
                        "--detach".into(),
                        format!("refs/tags/{r}"),
                    ];
                } else {
                    return Ok(fail(format!(
                        "A branch or tag with the name '{r}' could not be found"
                    )));
                }
            }
            None => {
                let sha = &ctx.sha;
                if let Some(b) = ctx.git_ref.strip_prefix("refs/heads/") {
                    fetch.push(format!("+{sha}:refs/remotes/origin/{b}"));
                    checkout_args = vec![
                        "checkout".into(),
                        "-q".into(),
                        "-B".into(),
                        b.to_string(),
                        format!("refs/remotes/origin/{b}"),
                    ];
                } else if let Some(p) = ctx.git_ref.strip_prefix("refs/pull/") {
                    fetch.push(format!("+{sha}:refs/remotes/pull/{p}"));
                    checkout_args = vec![
                        "checkout".into(),
                        "-q".into(),
                        "--detach".into(),
                        format!("refs/remotes/pull/{p}"),
                    ];
                } else {
                    // A tag: fetched by name (docs/github-facts/checkout.md).
                    let t = ctx.git_ref.trim_start_matches("refs/tags/");
                    if !all_tags {
                        fetch.push(format!("+refs/tags/{t}:refs/tags/{t}"));
                    }
                    checkout_args = vec![
                        "checkout".into(),
                        "-q".into(),
                        "--detach".into(),
                        format!("refs/tags/{t}"),
                    ];
                }
            }
        }
        if depth <= 0 {
            fetch.push("+refs/heads/*:refs/remotes/origin/*".into());
        }
        let fetch_refs: Vec<&str> = fetch.iter().map(String::as_str).collect();
        if let Err(e) = g(&fetch_refs) {
            return Ok(fail(format!("{e:#}")));
        }
        let co: Vec<&str> = checkout_args.iter().map(String::as_str).collect();
        g(&co)?;
        if persist {
            g(&[
                "config",
                "--local",
                &format!("http.{server}/.extraheader"),
                &header,
            ])?;
        }
        chown(ws)?;
        let head = g(&["rev-parse", "HEAD"])?;
        let mut outputs = BTreeMap::new();
        outputs.insert("commit".into(), head);
        Ok(StepRecord {
            outcome: "success".into(),
            outputs,
            elapsed: started.elapsed(),
            ..StepRecord::skipped(id, uses)
        })
    }

    /// Our Docker action, with the environment the runner builds for a container action
    /// (docs/github-facts/runner.md: ContainerActionHandler.RunAsync).
    #[allow(clippy::too_many_arguments)]
    fn our_action(
        &self,
        ctx: &RunCtx,
        github: &Value,
        temp: &Path,
        ws: &Path,
        with: &BTreeMap<String, String>,
        step: &Value,
        c: &Contexts,
        id: Option<String>,
        uses: &str,
    ) -> Result<StepRecord> {
        let container = matches!(self.mode, ActionMode::Image { .. });
        let declared = self.action["inputs"]
            .as_object()
            .ok_or_else(|| anyhow!("action.yml has no inputs"))?;
        for k in with.keys() {
            if !declared.keys().any(|d| d.eq_ignore_ascii_case(k)) {
                bail!(
                    "{}: our action has no input `{k}` (the runner would warn \"Unexpected input(s)\")",
                    ctx.file
                );
            }
        }
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        // 1. workflow/job/step `env:`.
        for v in [&step["env"]] {
            if let Some(m) = v.as_object() {
                for (k, v) in m {
                    env.insert(k.clone(), expr::interpolate(&expr::to_string(v), c)?);
                }
            }
        }
        // 2. INPUT_<NAME>: every declared input, the `with:` value (case-insensitive key,
        // even empty), else the default evaluated in the `github` context, else ""
        // (Handler.cs AddInputsToEnvironment; ActionManifestManager.cs ConvertInputs).
        let mut dc = Contexts::new();
        dc.insert("github".into(), github.clone());
        for (name, decl) in declared {
            let given = with
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone());
            let v = match given {
                Some(v) => v,
                None => match &decl["default"] {
                    Value::Null => String::new(),
                    d => expr::interpolate(&expr::to_string(d), &dc)?,
                },
            };
            env.insert(
                format!("INPUT_{}", name.replace(' ', "_").to_uppercase()),
                v,
            );
        }
        // 3. HOME, then the allowlisted GITHUB_* and RUNNER_* (GitHubContext.cs
        // _contextEnvAllowlist; RunnerContext.cs). No GITHUB_TOKEN: `token` is not in it.
        let guid = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            ctx.run_id,
            env.len() as u64 + self.next_token
        );
        let fc = |prefix: &str| -> (PathBuf, String) {
            let f = format!("{prefix}_{guid}");
            (
                temp.join("_runner_file_commands").join(&f),
                format!("/github/file_commands/{f}"),
            )
        };
        let (output_host, output_c) = fc("set_output");
        let (summary_host, summary_c) = fc("step_summary");
        let (env_host, env_c) = fc("set_env");
        let (path_host, path_c) = fc("add_path");
        let (state_host, state_c) = fc("save_state");
        for p in [
            &output_host,
            &summary_host,
            &env_host,
            &path_host,
            &state_host,
        ] {
            std::fs::write(p, "")?;
        }
        let pick = |host: &Path, guest: &str| -> String {
            if container {
                guest.to_string()
            } else {
                host.display().to_string()
            }
        };
        env.insert(
            "HOME".into(),
            pick(&temp.join("_github_home"), "/github/home"),
        );
        let g = github.as_object().cloned().unwrap_or_default();
        for key in [
            "action_ref",
            "action_repository",
            "action",
            "actor",
            "actor_id",
            "api_url",
            "base_ref",
            "event_name",
            "graphql_url",
            "head_ref",
            "job",
            "ref_name",
            "ref_protected",
            "ref_type",
            "ref",
            "repository",
            "repository_id",
            "repository_owner",
            "repository_owner_id",
            "retention_days",
            "run_attempt",
            "run_id",
            "run_number",
            "server_url",
            "sha",
            "triggering_actor",
            "workflow",
            "workflow_ref",
            "workflow_sha",
        ] {
            if let Some(v) = g.get(key) {
                env.insert(format!("GITHUB_{}", key.to_uppercase()), expr::to_string(v));
            }
        }
        env.insert(
            "GITHUB_ACTION".into(),
            id.clone()
                .unwrap_or_else(|| "__gitops-action_gitops-action".into()),
        );
        let (repo, aref) = uses.split_once('@').unwrap_or((uses, ""));
        env.insert("GITHUB_ACTION_REPOSITORY".into(), repo.into());
        env.insert("GITHUB_ACTION_REF".into(), aref.into());
        env.insert("GITHUB_WORKSPACE".into(), pick(ws, "/github/workspace"));
        env.insert(
            "GITHUB_EVENT_PATH".into(),
            pick(
                &temp.join("_github_workflow/event.json"),
                "/github/workflow/event.json",
            ),
        );
        env.insert("GITHUB_OUTPUT".into(), pick(&output_host, &output_c));
        env.insert(
            "GITHUB_STEP_SUMMARY".into(),
            pick(&summary_host, &summary_c),
        );
        env.insert("GITHUB_ENV".into(), pick(&env_host, &env_c));
        env.insert("GITHUB_PATH".into(), pick(&path_host, &path_c));
        env.insert("GITHUB_STATE".into(), pick(&state_host, &state_c));
        env.insert("RUNNER_OS".into(), "Linux".into());
        env.insert("RUNNER_ARCH".into(), "X64".into());
        env.insert("RUNNER_NAME".into(), "GitHub Actions 1".into());
        env.insert("RUNNER_ENVIRONMENT".into(), "github-hosted".into());
        env.insert("RUNNER_TOOL_CACHE".into(), "/opt/hostedtoolcache".into());
        env.insert(
            "RUNNER_TEMP".into(),
            pick(&temp.join("_temp"), "/github/runner_temp"),
        );
        env.insert("RUNNER_WORKSPACE".into(), "/home/runner/work/app".into());
        // DockerCommandManager.DockerRun: `-e GITHUB_ACTIONS=true`, CI unless set.
        env.insert("GITHUB_ACTIONS".into(), "true".into());
        env.entry("CI".into()).or_insert_with(|| "true".into());
        // GitHub's Container registry is `ghcr.io` on GitHub; here it is the local
        // registry's GHCR front, which the runner names to the action the one way
        // the action takes another host as GitHub's registry (its documented
        // `GITOPS_GHCR_HOST`), so the action's own default credentials for it
        // (`GITHUB_ACTOR` and the `token` input) are what logs in. Nothing is put
        // in the action's `$HOME/.docker/config.json`, as on GitHub.
        // A workflow's own `env:` wins, as over any variable of the runner's machine.
        if let Some(reg) = self.registry {
            env.entry("GITOPS_GHCR_HOST".into())
                .or_insert_with(|| reg.host());
        }
        chown(temp)?;
        let started = Instant::now();
        let out = match &self.mode {
            ActionMode::Binary(bin) => {
                let mut cmd = Command::new(bin);
                cmd.env_clear().envs(&env).current_dir(ws);
                if let Some(h) = &self.docker_host {
                    cmd.env("DOCKER_HOST", h);
                }
                cmd.output()
                    .with_context(|| format!("running {}", bin.display()))?
            }
            ActionMode::Image {
                image,
                docker_socket,
            } => {
                let mut cmd = Command::new("podman");
                cmd.args([
                    "--runtime",
                    "runc",
                    "run",
                    "--rm",
                    "--network",
                    "host",
                    "--pull=never",
                ])
                .args(["--workdir", "/github/workspace"]);
                for (host, guest) in [
                    (ws.to_path_buf(), "/github/workspace"),
                    (temp.join("_github_workflow"), "/github/workflow"),
                    (temp.join("_runner_file_commands"), "/github/file_commands"),
                    (temp.join("_github_home"), "/github/home"),
                    (temp.join("_temp"), "/github/runner_temp"),
                ] {
                    cmd.arg("-v").arg(format!("{}:{guest}", host.display()));
                }
                if let Some(s) = docker_socket {
                    cmd.arg("-v")
                        .arg(format!("{}:/var/run/docker.sock", s.display()));
                }
                // `-e NAME` with the value in podman's environment, as the runner does.
                for (k, v) in &env {
                    cmd.arg("-e").arg(k).env(k, v);
                }
                cmd.arg(image);
                cmd.output().context("podman run")?
            }
        };
        let elapsed = started.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        // Workflow commands are read from stdout and stderr (OutputManager.cs).
        let annotations = stdout
            .lines()
            .chain(stderr.lines())
            .filter_map(parse_annotation)
            .collect();
        let outputs = parse_outputs(&std::fs::read_to_string(&output_host).unwrap_or_default())?;
        let summary = std::fs::read_to_string(&summary_host).unwrap_or_default();
        Ok(StepRecord {
            id,
            uses: uses.to_string(),
            outcome: if out.status.success() {
                "success"
            } else {
                "failure"
            }
            .into(),
            exit_code: out.status.code(),
            annotations,
            summary,
            outputs,
            stdout,
            stderr,
            elapsed,
            env,
        })
    }
}

impl StepRecord {
    fn skipped(id: Option<String>, uses: &str) -> StepRecord {
        StepRecord {
            id,
            uses: uses.to_string(),
            outcome: "skipped".into(),
            exit_code: None,
            annotations: Vec::new(),
            summary: String::new(),
            outputs: BTreeMap::new(),
            stdout: String::new(),
            stderr: String::new(),
            elapsed: Duration::ZERO,
            env: BTreeMap::new(),
        }
    }
}

struct RunCtx {
    file: String,
    name: String,
    event_name: String,
    git_ref: String,
    sha: String,
    actor: String,
    /// Who started this attempt (another person on a re-run).
    triggering_actor: String,
    payload: Value,
    run_id: u64,
    attempt: usize,
}

/// The run a re-run repeats.
struct Rerun {
    file: String,
    id: u64,
    git_ref: String,
    sha: String,
    triggering_actor: String,
}

/// A run in flight: its record so far and where it is in its jobs.
struct Flight {
    /// The repository the run belongs to.
    repo: String,
    ctx: RunCtx,
    event: Event,
    record: RunRecord,
    /// The workflow, then each called workflow being run (innermost last).
    frames: Vec<Frame>,
    /// The workflow-level `concurrency:`.
    group: Option<Group>,
}

/// A workflow (or a called one) being run: the jobs left and those done.
struct Frame {
    wf: Value,
    inputs: Value,
    secrets: BTreeMap<String, String>,
    /// The calling job's permissions (a called workflow).
    caller: Option<Perms>,
    /// `release / ` for the jobs of a called workflow.
    prefix: String,
    done: BTreeMap<String, Value>,
    pending: Vec<String>,
    /// A called workflow's own `concurrency:`, which its jobs queue in.
    group: Option<Group>,
    /// The calling job's id and the callee's `on.workflow_call` (its outputs).
    call: Option<(String, Value)>,
    /// Matrix jobs under way, by job id: done when their last combination is.
    matrices: BTreeMap<String, matrix::Progress<Ready>>,
}

/// A job ready to start.
struct Ready {
    id: String,
    job: Value,
    c: Contexts,
    secrets: BTreeMap<String, String>,
    perms: Perms,
    name: String,
    group: Option<Group>,
    /// One combination of a matrix job (`id`'s entry in its frame's `matrices`).
    combo: bool,
    /// When it arrived ([`Runner::fly`]).
    seq: usize,
}

#[derive(Debug, Clone)]
struct Group {
    name: String,
    cancel: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    /// Pending in its workflow-level group.
    Waiting,
    Done,
}

/// A concurrency group's running and pending member (runs or jobs, by index).
#[derive(Default)]
struct Slot {
    running: Option<usize>,
    pending: Option<usize>,
}

impl Slot {
    /// `i` arrives: it runs if the group is free; otherwise it takes the pending
    /// place, or with `cancel-in-progress` the running one. Returns who is cancelled.
    fn arrive(&mut self, i: usize, cancel_in_progress: bool) -> Vec<usize> {
        let mut lost: Vec<usize> = self.pending.take().into_iter().collect();
        if self.running.is_none() {
            self.running = Some(i);
        } else if cancel_in_progress {
            lost.extend(self.running.replace(i));
        } else {
            self.pending = Some(i);
        }
        lost
    }

    /// `i` ended: the pending one, if any, runs now.
    fn release(&mut self, i: usize) -> Option<usize> {
        if self.running == Some(i) {
            self.running = self.pending.take();
            return self.running;
        }
        None
    }
}

/// What GitHub shows on a run or job a newer one in its group cancelled — the
/// check-spelling wiki "Feature: Concurrency" (observed text).
fn cancel_message(group: &str) -> String {
    format!("Canceling since a higher priority waiting request for '{group}' exists")
}

/// A run cancelled in its workflow-level group before any job of it ran.
fn cancel_run(f: &mut Flight, group: &str) {
    f.record.conclusion = "cancelled".into();
    f.record.cancelled = Some(cancel_message(group));
    f.frames.clear();
}

/// A matrix combination that did not run: recorded `cancelled` with why.
fn matrix_cancelled(f: &mut Flight, r: Ready, why: Option<String>, was_running: bool) {
    let top = f.frames.last_mut().expect("the job's frame");
    if let Some(p) = top.matrices.get_mut(&r.id) {
        p.cancelled(was_running);
    }
    f.record.jobs.push(JobRecord {
        name: r.name,
        result: "cancelled".into(),
        permissions: r.perms,
        concurrency: r.group.map(|g| g.name),
        steps: Vec::new(),
        outputs: BTreeMap::new(),
        error: why,
    });
}

/// A matrix whose last combination ended is done: `needs` sees its result and
/// its merged outputs ([`matrix::Progress::summary`]).
fn matrix_settle(f: &mut Flight, id: &str) {
    let top = f.frames.last_mut().expect("the job's frame");
    if top.matrices.get(id).is_some_and(|p| p.is_done()) {
        let p = top.matrices.remove(id).expect("the matrix");
        top.done.insert(id.to_string(), p.summary());
    }
}

/// A run's (or a called workflow's) result from its jobs'.
fn conclusion_of<'v>(results: impl Iterator<Item = &'v Value>) -> &'static str {
    let mut out = "success";
    for r in results {
        match r.as_str() {
            Some("failure") => return "failure",
            Some("cancelled") => out = "cancelled",
            _ => {}
        }
    }
    out
}

fn job_ids(wf: &Value) -> Vec<String> {
    wf["jobs"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn hex16(x: u64) -> String {
    format!(
        "{:016x}{:016x}",
        x.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        x ^ 0x5bd1_e995
    )
}

/// The keys the runner models; any other fails the test, so a workflow that grows
/// (job `env:`, `strategy:`, `continue-on-error:` …) makes the runner grow with it.
const WORKFLOW_KEYS: &[&str] = &["name", "on", "permissions", "concurrency", "jobs"];
const JOB_KEYS: &[&str] = &[
    "name",
    "strategy",
    "runs-on",
    "permissions",
    "needs",
    "if",
    "outputs",
    "steps",
    "uses",
    "with",
    "secrets",
    "concurrency",
];
const STEP_KEYS: &[&str] = &["name", "id", "if", "uses", "with", "run", "env"];

fn known_keys(file: &str, what: &str, v: &Value, keys: &[&str]) -> Result<()> {
    if let Some(m) = v.as_object() {
        for k in m.keys() {
            if !keys.contains(&k.as_str()) {
                bail!("{file}: {what}: `{k}` is outside what the workflow runner models");
            }
        }
    }
    Ok(())
}

/// A job's token permissions: its own `permissions:`, else the workflow's, else
/// (a called workflow's job) the calling job's, else the repository default. A
/// called job asks at most what the caller has, or the workflow is invalid
/// ([`Runner::invalid_calls`]); so the intersection is what it asked for.
fn job_permissions(job: &Value, wf: &Value, caller: Option<&Perms>) -> Result<Perms> {
    let own = match (&job["permissions"], &wf["permissions"]) {
        (Value::Null, Value::Null) => None,
        (Value::Null, w) => Some(permissions::parse(w)?),
        (j, _) => Some(permissions::parse(j)?),
    };
    Ok(match (own, caller) {
        (Some(p), Some(cp)) => permissions::intersect(&p, cp),
        (Some(p), None) => p,
        (None, Some(cp)) => cp.clone(),
        (None, None) => permissions::default_restricted(),
    })
}

fn needs_of(job: &Value) -> Vec<String> {
    match &job["needs"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// A `concurrency:` value (a group name, or `group` and `cancel-in-progress`), its
/// group evaluated in the given contexts.
fn concurrency(wf: &Value, c: &Contexts) -> Result<Option<Group>> {
    match &wf["concurrency"] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(Group {
            name: expr::interpolate(s, c)?,
            cancel: false,
        })),
        v => {
            if !v["queue"].is_null() {
                bail!("`concurrency.queue` is outside what the workflow runner models");
            }
            let cancel = match &v["cancel-in-progress"] {
                Value::Null => false,
                Value::Bool(b) => *b,
                e => expr::condition(&expr::to_string(e), c)?,
            };
            Ok(Some(Group {
                name: expr::interpolate(v["group"].as_str().unwrap_or_default(), c)?,
                cancel,
            }))
        }
    }
}

/// `workflow_dispatch` inputs: strings, defaults filled in; unknown or missing
/// required ones refused the way the dispatch API does (422 "Unexpected inputs
/// provided", "Required input '…' not provided" — REST "Create a workflow dispatch event").
fn dispatch_inputs(wf: &Value, given: &Value) -> Result<Value> {
    let decl = wf["on"]["workflow_dispatch"]["inputs"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let given = given.as_object().cloned().unwrap_or_default();
    let unexpected: Vec<&String> = given.keys().filter(|k| !decl.contains_key(*k)).collect();
    if !unexpected.is_empty() {
        bail!("Unexpected inputs provided: {unexpected:?}");
    }
    let mut out = Map::new();
    for (k, d) in &decl {
        let v = match given.get(k) {
            Some(v) => expr::to_string(v),
            None => match &d["default"] {
                Value::Null if d["required"] == true => bail!("Required input '{k}' not provided"),
                Value::Null => String::new(),
                v => expr::to_string(v),
            },
        };
        out.insert(k.clone(), Value::String(v));
    }
    Ok(Value::Object(out))
}

/// Does `wf` run for this event? `on.push.branches|tags` are globs with `!`
/// negations, later patterns winning; a push filtered by branches only ignores tags
/// and the other way round (docs "Workflow syntax", on.push.<branches|tags>).
fn triggers(wf: &Value, event: &str, git_ref: &str, payload: &Value) -> Result<bool> {
    let on = &wf["on"];
    let spec = match on {
        Value::String(s) => return Ok(s == event),
        Value::Array(a) => return Ok(a.iter().any(|v| v == event)),
        Value::Object(m) => match m.get(event) {
            None => return Ok(false),
            Some(s) => s.clone(),
        },
        _ => return Ok(false),
    };
    match event {
        "pull_request" => {
            let types = spec["types"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| vec![json!("opened"), json!("synchronize"), json!("reopened")]);
            if !types.iter().any(|t| t == &payload["action"]) {
                return Ok(false);
            }
            if let Some(b) = spec["branches"].as_array() {
                let base = payload["pull_request"]["base"]["ref"]
                    .as_str()
                    .unwrap_or_default();
                return Ok(filter(b, base));
            }
            Ok(true)
        }
        "push" => {
            let (kind, name) = match git_ref.strip_prefix("refs/tags/") {
                Some(t) => ("tags", t),
                None => ("branches", git_ref.trim_start_matches("refs/heads/")),
            };
            let other = if kind == "tags" { "branches" } else { "tags" };
            if spec["branches-ignore"].is_array()
                || spec["tags-ignore"].is_array()
                || spec["paths"].is_array()
            {
                bail!(
                    "push filters other than `branches`/`tags` are outside what the workflow runner models"
                );
            }
            match (spec[kind].as_array(), spec[other].is_array()) {
                (Some(p), _) => Ok(filter(p, name)),
                (None, true) => Ok(false),
                (None, false) => Ok(true),
            }
        }
        _ => Ok(true),
    }
}

fn filter(patterns: &[Value], name: &str) -> bool {
    let mut hit = false;
    for p in patterns.iter().filter_map(Value::as_str) {
        match p.strip_prefix('!') {
            Some(neg) if glob(neg, name) => hit = false,
            None if glob(p, name) => hit = true,
            _ => {}
        }
    }
    hit
}

/// `*` matches anything but `/`, `**` anything (filter pattern cheat sheet).
fn glob(p: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => (0..=s.len()).any(|i| go(&p[2..], &s[i..])),
            Some(b'*') => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != b'/')
                .any(|i| go(&p[1..], &s[i..])),
            Some(c) => s.first() == Some(c) && go(&p[1..], &s[1..]),
        }
    }
    go(p.as_bytes(), s.as_bytes())
}

/// `::error file=…::message` (also warning, notice), data unescaped.
fn parse_annotation(line: &str) -> Option<Annotation> {
    let l = line.trim_start().strip_prefix("::")?;
    let (head, msg) = l.split_once("::")?;
    let level = head.split(' ').next()?;
    if !["error", "warning", "notice"].contains(&level) {
        return None;
    }
    let msg = msg
        .replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%");
    Some(Annotation {
        level: level.to_string(),
        message: msg,
    })
}

/// `GITHUB_OUTPUT`: `name<<DELIM` heredocs or `name=value` lines.
fn parse_outputs(text: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if let Some((name, delim)) = l.split_once("<<") {
            let mut value = Vec::new();
            let mut closed = false;
            for v in lines.by_ref() {
                if v == delim {
                    closed = true;
                    break;
                }
                value.push(v);
            }
            if !closed {
                bail!("unterminated output `{name}` in GITHUB_OUTPUT");
            }
            out.insert(name.to_string(), value.join("\n"));
        } else if let Some((k, v)) = l.split_once('=') {
            out.insert(k.to_string(), v.to_string());
        } else if !l.is_empty() {
            bail!("GITHUB_OUTPUT line {l:?} is neither name=value nor a heredoc");
        }
    }
    Ok(out)
}

fn chown(path: &Path) -> Result<()> {
    let o = Command::new("chown")
        .args(["-R", &format!("{RUNNER_UID}:{RUNNER_UID}")])
        .arg(path)
        .output()?;
    if !o.status.success() {
        bail!("chown: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_and_tag_filters() {
        let wf: Value = serde_norway::from_str(
            "on:\n  push:\n    branches: ['**', '!main', '!release/**']\n    tags: ['v*']\n",
        )
        .unwrap();
        let t = |r: &str| triggers(&wf, "push", r, &Value::Null).unwrap();
        assert!(t("refs/heads/feature/x"));
        assert!(t("refs/heads/test/uat"));
        assert!(!t("refs/heads/main"));
        assert!(!t("refs/heads/release/hello/dev"));
        assert!(t("refs/tags/v1.3.0"));
        assert!(!t("refs/tags/x1"));
        let only_tags: Value = serde_norway::from_str("on:\n  push:\n    tags: ['v*']\n").unwrap();
        assert!(!triggers(&only_tags, "push", "refs/heads/main", &Value::Null).unwrap());
    }

    /// Docs "Control the concurrency of workflows and jobs": one running, one
    /// pending, a newer one replacing the pending; `cancel-in-progress` also the
    /// running one.
    #[test]
    fn a_group_keeps_one_running_and_one_pending() {
        let mut g = Slot::default();
        assert!(g.arrive(0, false).is_empty());
        assert!(g.arrive(1, false).is_empty());
        assert_eq!(g.arrive(2, false), [1], "the pending one is replaced");
        assert_eq!((g.running, g.pending), (Some(0), Some(2)));
        assert_eq!(g.release(2), None, "only the running one releases");
        assert_eq!(g.release(0), Some(2));
        assert_eq!(
            g.arrive(3, true),
            [2],
            "cancel-in-progress: the running one"
        );
        assert_eq!(g.arrive(4, false), Vec::<usize>::new());
        assert_eq!(g.arrive(5, true), [4, 3], "and the pending one");
        assert_eq!((g.running, g.pending), (Some(5), None));
    }

    #[test]
    fn cancel_in_progress_may_be_an_expression() {
        let mut c = Contexts::new();
        c.insert("github".into(), json!({"ref": "refs/heads/main"}));
        let wf: Value = serde_norway::from_str(
            "concurrency:\n  group: ci-${{ github.ref }}\n  cancel-in-progress: ${{ github.ref != 'refs/heads/main' }}\n",
        )
        .unwrap();
        let g = concurrency(&wf, &c).unwrap().unwrap();
        assert_eq!((g.name.as_str(), g.cancel), ("ci-refs/heads/main", false));
    }

    #[test]
    fn keys_outside_the_model_are_refused() {
        let job: Value = serde_norway::from_str("runs-on: x\nenv: {A: b}\nsteps: []\n").unwrap();
        let e = known_keys("w.yaml", "jobs.j", &job, JOB_KEYS).unwrap_err();
        assert!(e.to_string().contains("`env` is outside"), "{e}");
        let ok: Value = serde_norway::from_str("runs-on: x\nsteps: []\n").unwrap();
        assert!(known_keys("w.yaml", "jobs.j", &ok, JOB_KEYS).is_ok());
    }

    #[test]
    fn dispatch_inputs_are_checked_like_the_api() {
        let wf: Value = serde_norway::from_str(
            "on:\n  workflow_dispatch:\n    inputs:\n      service: {required: true}\n      ref: {default: main}\n",
        )
        .unwrap();
        assert_eq!(
            dispatch_inputs(&wf, &json!({"service": "hello"})).unwrap(),
            json!({"service": "hello", "ref": "main"})
        );
        assert!(dispatch_inputs(&wf, &json!({})).is_err());
        assert!(dispatch_inputs(&wf, &json!({"service": "a", "other": "b"})).is_err());
    }
}
