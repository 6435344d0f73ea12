//! The promotion chain end to end, the way a workflow drives it: the real binary as
//! an Action step (`INPUT_*`, `GITHUB_*`, an event file, `GITHUB_OUTPUT`) against the
//! GitHub stand-in (real bare repos behind `git http-backend`), a real registry with
//! GHCR-style token auth, and podman's Docker API for builds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_testkit::docker::DockerEngine;
use gitops_testkit::github::{GitHubStandIn, TokenGrants};
use gitops_testkit::podman::PodmanService;
use gitops_testkit::registry::{Auth, PASSWORD, TestRegistry, USER};
use gitops_testkit::seed::{as_refs, example_repository};

use crate::util::{BIN, Run, checkout_depth1, git, parse_outputs, repo_root};

/// Releases into each format of target (`chain/targets.rs`).
mod targets;

/// The code's repository releasing into a separate config repository.
mod config_repo;

/// Release trains: several services through one PR, one merge.
mod trains;

const REPO: &str = "acme/app";
/// The workflow's `GITHUB_TOKEN`.
const TOKEN: &str = "ghs_chainTokenOfTheWorkflow0123456789abc";
/// A reviewer's personal token.
const ALICE: &str = "ghp_aliceReviewerToken0123456789abcdefgh";

/// Seed 000's chain on the seed 002 tag scheme; `IMAGE` is the local registry's.
const CONFIG: &str = r#"overlays: overlays
services:
  hello:
    image: IMAGE
    context: app
environments:
  - name: dev
    branches: ["**", "!test/**"]
    tag: "dev-{branch}-{sha7}-{timestamp}"
    merge: auto
  - name: uat
    branches: ["test/uat"]
    tag: "tst-{sha7}-{timestamp}"
    reviewers: ["alice", "acme/qa"]
    labels: ["uat"]
    merge: never
  - name: prod
    tags: ["v*"]
    tag: "prd-{version}"
    reviewers: ["alice"]
    merge: never
    allowed:
      users: ["alice", "github-actions[bot]"]
      teams: ["acme/release-managers"]
"#;

struct Rig {
    gh: GitHubStandIn,
    reg: TestRegistry,
    image: String,
    podman: Option<PodmanService>,
    engine: Option<DockerEngine>,
    _scratch: tempfile::TempDir,
    scratch: PathBuf,
}

impl Rig {
    fn new(config: &str) -> Rig {
        Rig::with_registry(config, TestRegistry::start(Auth::Token).unwrap())
    }

    fn with_registry(config: &str, reg: TestRegistry) -> Rig {
        let host = reg.host();
        Rig::with_registry_at(config, reg, &host)
    }

    /// [`Rig::with_registry`] with images named by `host` (a proxy in front of `reg`).
    fn with_registry_at(config: &str, reg: TestRegistry, host: &str) -> Rig {
        Rig::with_files(config, reg, host, &[])
    }

    /// [`Rig::with_registry_at`] with some of the seeded files replaced.
    fn with_files(config: &str, reg: TestRegistry, host: &str, own: &[(&str, &str)]) -> Rig {
        let image = format!("{host}/acme/hello");
        let gh = GitHubStandIn::start_blocking().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        // The bundled example's overlays, pointed at the local registry; seed 002's
        // extra environments start as copies of uat.
        let mut files = example_repository(&repo_root(), &image, config, &["staging", "beta"]);
        files.retain(|(p, _)| !own.iter().any(|(o, _)| o == p));
        files.extend(own.iter().map(|(p, t)| (p.to_string(), t.to_string())));
        files.push((
            ".github/workflows/overlay-deploy.yaml".into(),
            "on:\n  workflow_dispatch:\n    inputs: {service: {}, train: {}, env: {}}\n  pull_request:\n    types: [closed]\njobs: {}\n".into(),
        ));
        gh.create_repo(REPO, "main", &as_refs(&files)).unwrap();
        gh.add_token(TOKEN, TokenGrants::github_token());
        gh.add_token(ALICE, TokenGrants::user("alice"));
        gh.add_collaborator(REPO, "alice", "maintain").unwrap();
        gh.add_team_member("acme/qa", "alice", "member");
        gh.add_team_member("acme/release-managers", "rosa", "member");
        let path = scratch.path().to_path_buf();
        Rig {
            gh,
            reg,
            image,
            podman: None,
            engine: None,
            _scratch: scratch,
            scratch: path,
        }
    }

    /// `actions/checkout`: a depth-1 clone of `rev` whose origin has no credentials.
    /// The usual start: a rig on `config`, a checkout of `main` named `ws`, and the
    /// CI build of its head in the registry. Returns the checkout and its head.
    fn ready(config: &str) -> (Rig, PathBuf, String) {
        let rig = Rig::new(config);
        let ws = rig.checkout("ws", "main");
        let sha = git(&ws, &["rev-parse", "HEAD"]);
        rig.push_build(&sha);
        (rig, ws, sha)
    }

    /// The release workflow dispatched on `main` for `hello` (as a person runs it
    /// from the Actions tab), with these inputs.
    fn dispatch_main(&self, ws: &Path, inputs: &[(&str, &str)]) -> Step {
        self.step(
            ws,
            "workflow_dispatch",
            dispatch("hello", "refs/heads/main"),
            inputs,
        )
    }

    fn checkout(&self, name: &str, branch: &str) -> PathBuf {
        let dir = self.scratch.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        checkout_depth1(
            &dir,
            branch,
            &self.gh.git_url_with_token("acme", "app", TOKEN),
            &self.gh.git_url("acme", "app"),
            &[],
        );
        dir
    }

    /// [`Rig::push_build`] labelled with its commit
    /// (`org.opencontainers.image.revision`), as our builds and
    /// docker/metadata-action label theirs.
    fn push_labelled_build(&self, sha: &str) -> String {
        self.reg
            .client()
            .push_image_labelled(
                "acme/hello",
                &format!("sha-{sha}"),
                2,
                2048,
                7,
                ("linux", "amd64"),
                &[("org.opencontainers.image.revision", sha)],
            )
            .unwrap()
            .digest
    }

    /// The build CI made of a commit: `sha-<sha>` in the registry.
    fn push_build(&self, sha: &str) -> String {
        self.reg
            .client()
            .push_image("acme/hello", &format!("sha-{sha}"), 2, 2048, 7)
            .unwrap()
            .digest
    }

    /// The binary as an Action step of a job, with an event and inputs.
    fn step(
        &self,
        ws: &Path,
        event: &str,
        payload: serde_json::Value,
        inputs: &[(&str, &str)],
    ) -> Step {
        self.step_env(ws, event, payload, inputs, &[])
    }

    /// [`Rig::step`] with runner variables changed (`GITHUB_ACTOR`, …).
    fn step_env(
        &self,
        ws: &Path,
        event: &str,
        payload: serde_json::Value,
        inputs: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> Step {
        let dir = tempfile::tempdir().unwrap();
        let event_path = dir.path().join("event.json");
        std::fs::write(&event_path, payload.to_string()).unwrap();
        let output = dir.path().join("output");
        let summary = dir.path().join("summary");
        // `GITOPS_ACTION_BIN` runs another build (the faults table's "before" column).
        let mut c = Command::new(std::env::var("GITOPS_ACTION_BIN").unwrap_or(BIN.into()));
        clean_env(&mut c);
        c.current_dir(ws)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", ws)
            .env("GITHUB_EVENT_NAME", event)
            .env("GITHUB_EVENT_PATH", &event_path)
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_REPOSITORY", REPO)
            .env("GITHUB_API_URL", self.gh.api_url())
            .env("GITHUB_GRAPHQL_URL", self.gh.graphql_url())
            .env("GITHUB_SERVER_URL", self.gh.server_url())
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_ACTOR", "alice")
            .env("GITHUB_TOKEN", TOKEN)
            .env("INPUT_TOKEN", TOKEN)
            .env("INPUT_REGISTRY-USERNAME", USER)
            .env("INPUT_REGISTRY-PASSWORD", PASSWORD);
        let head = git(ws, &["rev-parse", "HEAD"]);
        c.env("GITHUB_SHA", &head);
        if let Some(p) = &self.podman {
            c.env("DOCKER_HOST", p.docker_host());
        }
        if let Some(e) = &self.engine {
            c.env("DOCKER_HOST", e.docker_host());
        }
        for (k, v) in inputs {
            c.env(format!("INPUT_{}", k.to_uppercase()), v);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        let started = std::time::Instant::now();
        let run = Run::from(c.output().unwrap());
        let elapsed = started.elapsed();
        let outputs = parse_outputs(&std::fs::read_to_string(&output).unwrap_or_default());
        let summary = std::fs::read_to_string(&summary).unwrap_or_default();
        Step {
            run,
            outputs,
            summary,
            elapsed,
        }
    }

    /// `release <args>` as a CLI process on `ws` (not an Action step), started
    /// and left running: for races of many at once.
    fn spawn_release(&self, ws: &Path, args: &[&str]) -> std::process::Child {
        let mut c = Command::new(BIN);
        clean_env(&mut c);
        c.current_dir(ws)
            .arg("release")
            .args(args)
            .env("GITHUB_REPOSITORY", REPO)
            .env("GITHUB_API_URL", self.gh.api_url())
            .env("GITHUB_GRAPHQL_URL", self.gh.graphql_url())
            .env("GITHUB_SERVER_URL", self.gh.server_url())
            .env("GITHUB_TOKEN", TOKEN)
            .env("REGISTRY_USERNAME", USER)
            .env("REGISTRY_PASSWORD", PASSWORD)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    }

    fn reference(&self, tag: &str) -> String {
        format!("{}:{tag}", self.image)
    }

    /// A human merges the PR with their own token (this does start workflows).
    async fn merge_as_alice(&self, number: u64) -> String {
        let r = reqwest::Client::new()
            .put(format!(
                "{}/repos/{REPO}/pulls/{number}/merge",
                self.gh.api_url()
            ))
            .bearer_auth(ALICE)
            .header("user-agent", "chain-test")
            .header("content-type", "application/json")
            .body(serde_json::json!({"merge_method": "squash"}).to_string())
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(status, 200, "{v}");
        v["sha"].as_str().unwrap().to_string()
    }

    fn overlay(&self, env: &str) -> String {
        self.gh
            .file_at(REPO, "main", &format!("overlays/{env}/kustomization.yaml"))
            .unwrap()
            .unwrap()
    }
}

struct Step {
    run: Run,
    outputs: BTreeMap<String, String>,
    summary: String,
    /// Wall time of the process (benchmarks only).
    elapsed: std::time::Duration,
}

impl Step {
    fn ok(self) -> Step {
        assert_eq!(self.run.code, 0, "{}", self.run.transcript());
        self
    }
    fn out(&self, k: &str) -> &str {
        self.outputs.get(k).map(String::as_str).unwrap_or_else(|| {
            panic!(
                "no output `{k}` in {:?}\n{}",
                self.outputs,
                self.run.transcript()
            )
        })
    }
}

fn clean_env(c: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("GITHUB_")
            || k.starts_with("INPUT_")
            || k.starts_with("RUNNER_")
            || k == "DOCKER_HOST"
        {
            c.env_remove(k);
        }
    }
    c.env("NO_COLOR", "1");
}

/// The GitHub requests of `log` (REST, GraphQL and git alike), one line each with
/// what it did (a GraphQL request's operation and root fields), and their count:
/// the benchmarks print them so a change in the budget shows where it went.
/// What a repository that has released before holds: each environment runs a
/// build of an earlier commit `A` of `main` (dev and uat by their tags' `{sha7}`,
/// prod's `prd-1.4.2` by its image's revision label), and `main` has moved on by a
/// code change since. The benches release that head, so their PR bodies list the
/// real commits between (with the bundled example's tags, which name no commit of
/// this repository, there is nothing to list and every list is a failed compare).
/// And the labels the earlier releases' PRs got exist.
fn released_before(rig: &Rig) {
    for label in ["uat", "promotion"] {
        rig.gh.create_label(REPO, label).unwrap();
    }
    let a = rig
        .gh
        .push_commit(REPO, "main", &[("app/CHANGES", "greeting v1\n")])
        .unwrap();
    let prod = rig
        .reg
        .client()
        .push_image_labelled(
            "acme/hello",
            "prd-1.4.2",
            1,
            512,
            9,
            ("linux", "amd64"),
            &[("org.opencontainers.image.revision", &a)],
        )
        .unwrap()
        .digest;
    let mut files = Vec::new();
    for env in ["dev", "uat", "prod"] {
        let path = format!("overlays/{env}/kustomization.yaml");
        let text = rig.gh.file_at(REPO, "main", &path).unwrap().unwrap();
        let mut out = String::new();
        for line in text.lines() {
            let indent = &line[..line.len() - line.trim_start().len()];
            let line = match line.trim_start() {
                l if l.starts_with("newTag:") => match env {
                    "dev" => format!("{indent}newTag: dev-main-{}-1763200000", &a[..7]),
                    "uat" => format!("{indent}newTag: tst-{}-1763100000", &a[..7]),
                    _ => line.to_string(),
                },
                l if l.starts_with("digest:") && env == "prod" => {
                    format!("{indent}digest: {prod}")
                }
                // dev and uat name their commit by tag: no pinned digest.
                l if l.starts_with("digest:") => continue,
                _ => line.to_string(),
            };
            out.push_str(&line);
            out.push('\n');
        }
        files.push((path, out));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    rig.gh.push_commit(REPO, "main", &files).unwrap();
    rig.gh
        .push_commit(REPO, "main", &[("app/CHANGES", "greeting v2\n")])
        .unwrap();
}

/// A rig that [`released_before`], its checkout of `main` and the labelled CI
/// build of its head.
fn released_rig() -> (Rig, PathBuf, String) {
    let rig = Rig::new(CONFIG);
    released_before(&rig);
    let ws = rig.checkout("ws", "main");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    rig.push_labelled_build(&sha);
    (rig, ws, sha)
}

fn github_requests(log: &[gitops_testkit::github::Request]) -> (usize, String) {
    use gitops_testkit::github::RequestKind::{Git, GraphQl, Other, Rest};
    let mut lines = String::new();
    let mut n = 0;
    for r in log {
        let what = match r.kind {
            Rest => format!(
                "REST {} {}",
                r.method,
                r.path.split('?').next().unwrap_or("")
            ),
            GraphQl => format!("GraphQL {}", r.op),
            Git => format!(
                "git {} {}",
                r.method,
                r.path.split('?').next().unwrap_or("")
            ),
            Other => continue,
        };
        n += 1;
        lines.push_str(&format!("    {n}. {what} → {}\n", r.status));
    }
    (n, lines)
}

fn entry_line(text: &str, key: &str) -> String {
    text.lines()
        .find(|l| l.trim_start().starts_with(key))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn dispatch(service: &str, r: &str) -> serde_json::Value {
    serde_json::json!({"inputs": {"service": service, "ref": r}, "ref": "refs/heads/main"})
}

fn merged_pr_event(number: u64, head: &str, merge_sha: &str) -> serde_json::Value {
    serde_json::json!({
        "action": "closed",
        "number": number,
        "repository": {"full_name": REPO},
        "pull_request": {
            "number": number,
            "merged": true,
            "merge_commit_sha": merge_sha,
            "head": {"ref": head, "repo": {"full_name": REPO}},
            "base": {"ref": "main", "repo": {"full_name": REPO}},
        }
    })
}

/// Seed 000: dev (auto-merged, deployed inline, promoted), uat (reviewed, merged by a
/// human, deployed, promoted), prod (reviewed, merged, deployed); then every step
/// again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_chain_dev_uat_prod() {
    let rig = Rig::new(CONFIG);
    let ws = rig.checkout("release", "main");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    let digest = rig.push_build(&sha);
    // The release manager's SemVer tag on the commit names the prod version.
    git(&ws, &["tag", "v1.2.3"]);

    // 1. service-release: workflow_dispatch {service, ref}. Dev merges at once; the
    // merge was made with GITHUB_TOKEN, so the tool deploys and promotes inline.
    let s = rig
        .dispatch_main(&ws, &[("command", "release"), ("chain", "inline")])
        .ok();
    let short = &sha[..7];
    let dev_tag = s.out("tag").to_string();
    assert!(
        dev_tag.starts_with(&format!("dev-main-{short}-")),
        "{dev_tag}"
    );
    assert_eq!(s.out("env"), "dev");
    assert_eq!(s.out("merged"), "true");
    assert_eq!(s.out("deployed"), "true");
    assert_eq!(s.out("built"), "false");
    assert_eq!(s.out("digest"), digest);
    assert_eq!(s.out("next-env"), "uat");
    assert_eq!(s.out("pr-operation"), "created");
    let dev = rig.overlay("dev");
    assert_eq!(entry_line(&dev, "newTag:"), format!("newTag: {dev_tag}"));
    assert_eq!(entry_line(&dev, "digest:"), format!("digest: {digest}"));
    assert!(
        dev.contains("# Managed by gitops-action"),
        "comments kept:\n{dev}"
    );

    let pulls = rig.gh.pulls(REPO).unwrap();
    assert_eq!(pulls.len(), 2, "{pulls:#?}");
    let dev_pr = &pulls[0];
    assert_eq!(dev_pr.head, "release/hello/dev");
    assert!(dev_pr.merged, "{dev_pr:#?}");
    assert!(
        dev_pr
            .title
            .starts_with("hello: dev dev-feature-greeting-9fceb02-1763200000 → dev-main-"),
        "{}",
        dev_pr.title
    );
    assert!(dev_pr.body.contains(&digest), "{}", dev_pr.body);
    let uat_pr = &pulls[1];
    assert_eq!(uat_pr.head, "release/hello/uat");
    assert!(!uat_pr.merged);
    assert_eq!(uat_pr.requested_reviewers, ["alice"]);
    // `GITHUB_TOKEN` can't resolve teams (422, PyGithub/PyGithub#1499): the team is
    // left out with a warning, the users are still asked.
    assert!(uat_pr.requested_teams.is_empty());
    assert!(
        s.run
            .stdout
            .contains("::warning::could not request the team reviewers acme/qa"),
        "{}",
        s.run.stdout
    );
    assert!(
        uat_pr.labels.contains(&"uat".to_string())
            && uat_pr.labels.contains(&"promotion".to_string()),
        "{:?}",
        uat_pr.labels
    );
    let uat_tag = s.out("next-tag").to_string();
    assert_eq!(s.out("next-pr-number"), uat_pr.number.to_string());
    assert!(uat_tag.starts_with(&format!("tst-{short}-")), "{uat_tag}");
    // The same digest, retagged for uat: nothing rebuilt.
    let (_, bytes) = rig
        .reg
        .client()
        .get_manifest("acme/hello", &uat_tag)
        .unwrap()
        .expect("the uat tag exists");
    assert_eq!(gitops_testkit::registry::digest_of(&bytes), digest);
    let deployments = rig.gh.deployments(REPO).unwrap();
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0].environment, "dev");
    assert_eq!(deployments[0].payload["tag"], dev_tag.as_str());
    assert_eq!(deployments[0].payload["digest"], digest.as_str());
    let states: Vec<&str> = deployments[0]
        .statuses
        .iter()
        .map(|s| s.state.as_str())
        .collect();
    // No health gate: `success` straight away, no `in_progress` before it.
    assert_eq!(states, ["success"]);
    assert!(s.summary.contains("hello"), "{}", s.summary);

    // 2. QA approves, a human merges; overlay-deploy runs on the merged PR.
    rig.gh.approve_pr(REPO, uat_pr.number, "alice").unwrap();
    let merge_sha = rig.merge_as_alice(uat_pr.number).await;
    let ws2 = rig.checkout("deploy-uat", "main");
    let from = rig.gh.request_log().len();
    let s = rig
        .step(
            &ws2,
            "pull_request",
            merged_pr_event(uat_pr.number, "release/hello/uat", &merge_sha),
            &[("command", "deploy"), ("version", "1.2.3")],
        )
        .ok();
    // One read: the rules, uat's overlay (has it moved on?), prod's overlay and
    // `release/hello/prod` in the rules' query; then the deployment, its
    // `success` (no gate), the prod PR's branch, commit and PR in one document,
    // and its label and reviewer in one more.
    let ops: Vec<String> = rig.gh.request_log()[from..]
        .iter()
        .filter(|r| r.kind == gitops_testkit::github::RequestKind::GraphQl)
        .map(|r| r.op.clone())
        .collect();
    assert_eq!(
        ops,
        [
            "query viewer+repository",
            "mutation updateRefs+createCommitOnBranch+createPullRequest",
            "mutation addLabelsToLabelable+requestReviews"
        ]
    );
    assert_eq!(s.out("env"), "uat");
    assert_eq!(s.out("tag"), uat_tag);
    assert_eq!(s.out("next-env"), "prod");
    assert_eq!(s.out("next-tag"), "prd-1.2.3");
    assert_eq!(s.out("digest"), digest);
    let pulls = rig.gh.pulls(REPO).unwrap();
    let prod_pr = pulls
        .iter()
        .find(|p| p.head == "release/hello/prod")
        .unwrap();
    assert_eq!(prod_pr.requested_reviewers, ["alice"]);
    assert!(prod_pr.title.ends_with("→ prd-1.2.3"), "{}", prod_pr.title);
    let deployments = rig.gh.deployments(REPO).unwrap();
    assert_eq!(deployments.len(), 2);
    assert_eq!(deployments[1].environment, "uat");
    assert_eq!(deployments[1].sha, merge_sha);

    // 3. prod: approved, merged, deployed; the chain ends.
    rig.gh.approve_pr(REPO, prod_pr.number, "alice").unwrap();
    let merge_sha = rig.merge_as_alice(prod_pr.number).await;
    let ws3 = rig.checkout("deploy-prod", "main");
    let s = rig
        .step(
            &ws3,
            "pull_request",
            merged_pr_event(prod_pr.number, "release/hello/prod", &merge_sha),
            &[("command", "deploy")],
        )
        .ok();
    assert!(!s.outputs.contains_key("next-env"));
    assert_eq!(s.out("env"), "prod");
    let prod = rig.overlay("prod");
    assert_eq!(entry_line(&prod, "newTag:"), "newTag: prd-1.2.3");
    assert_eq!(entry_line(&prod, "digest:"), format!("digest: {digest}"));
    let deployments = rig.gh.deployments(REPO).unwrap();
    assert_eq!(deployments.len(), 3);
    assert_eq!(deployments[2].environment, "prod");

    // 6. Re-running the first job (same GITHUB_SHA, same checkout) changes nothing
    // and opens nothing new.
    let before = rig.gh.pulls(REPO).unwrap().len();
    let s = rig
        .dispatch_main(&ws, &[("command", "release"), ("chain", "inline")])
        .ok();
    assert_eq!(s.out("changed"), "false", "{}", s.run.transcript());
    assert_eq!(rig.gh.pulls(REPO).unwrap().len(), before);
}

/// Seed 002's refs-to-environments config: branches, test branches, main, SemVer
/// tags and a beta channel, each with its sortable tag.
const SEED_002: &str = r#"overlays: overlays
services:
  hello:
    image: IMAGE
    context: app
environments:
  - name: dev
    branches: ["**", "!main", "!test/**"]
    tag: "dev-{branch}-{sha7}-{timestamp}"
    merge: auto
  - name: uat
    branches: ["test/*"]
    tag: "tst-{sha7}-{timestamp}"
    merge: auto
  - name: staging
    branches: ["main"]
    tag: "stg-{sha7}-{timestamp}"
    merge: auto
  - name: prod
    tags: ["v*"]
    tag: "prd-{version}"
    merge: auto
  - name: beta
    tags: ["v*-beta*"]
    tag: "prd-{version}"
    merge: auto
"#;

/// A push as GitHub sends it: a new tag's payload names its commit in
/// `head_commit` (its `after` is the tag object when the tag is annotated).
fn push_event(r: &str, sha: &str) -> serde_json::Value {
    serde_json::json!({"ref": r, "after": sha, "before": "0000000000000000000000000000000000000000",
        "created": true, "deleted": false, "head_commit": {"id": sha}})
}

/// Seed 002: each ref lands in its environment with its tag; the commit is built
/// once (podman's Docker API), then every other environment retags that build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_002_refs_pick_environments_and_the_commit_is_built_once() {
    let mut rig = Rig::new(SEED_002);
    rig.podman = Some(PodmanService::start(&[rig.reg.host()]).unwrap());
    let ws = rig.checkout("ws", "main");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    let short = &sha[..7];
    let time = git(&ws, &["log", "-1", "--format=%ct"]);
    let cases = [
        (
            "refs/heads/feature/x",
            "dev",
            format!("dev-feature-x-{short}-{time}"),
        ),
        ("refs/heads/test/uat", "uat", format!("tst-{short}-{time}")),
        ("refs/heads/main", "staging", format!("stg-{short}-{time}")),
        ("refs/tags/v1.2.3", "prod", "prd-1.2.3".to_string()),
        (
            "refs/tags/v1.3.0-beta1",
            "beta",
            "prd-1.3.0-beta1".to_string(),
        ),
    ];
    let mut builds = 0;
    let mut digest = String::new();
    for (r, env, tag) in &cases {
        let s = rig
            .step(&ws, "push", push_event(r, &sha), &[("command", "release")])
            .ok();
        assert_eq!(s.out("env"), *env, "{r}");
        assert_eq!(s.out("tag"), tag.as_str(), "{r}");
        assert_eq!(s.out("merged"), "true", "{r}");
        if s.out("built") == "true" {
            builds += 1;
            digest = s.out("digest").to_string();
        } else {
            assert_eq!(s.out("digest"), digest, "{r}: the retag keeps the digest");
        }
        let overlay = rig.overlay(env);
        assert_eq!(entry_line(&overlay, "newTag:"), format!("newTag: {tag}"));
        assert_eq!(entry_line(&overlay, "digest:"), format!("digest: {digest}"));
        // The registry holds the environment's tag at that digest.
        let (_, bytes) = rig
            .reg
            .client()
            .get_manifest("acme/hello", tag)
            .unwrap()
            .unwrap_or_else(|| panic!("no {}", rig.reference(tag)));
        assert_eq!(gitops_testkit::registry::digest_of(&bytes), digest);
    }
    assert_eq!(builds, 1, "built once, retagged four times");
    // A ref no environment takes: a notice, nothing done.
    let s = rig
        .step(
            &ws,
            "push",
            push_event("refs/tags/not-a-version", &sha),
            &[("command", "release")],
        )
        .ok();
    assert_eq!(s.out("changed"), "false");
    assert!(s.run.stdout.contains("::notice"), "{}", s.run.stdout);
}

/// A tiny HTTP server answering every request with `status` and `body`.
fn serve(status: u16, body: &'static str) -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.1 {status} X\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// A failing health gate marks the deployment failed and promotes nothing; a
/// passing one promotes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_gate_decides_whether_the_chain_goes_on() {
    let (rig, ws, _) = Rig::ready(CONFIG);
    let down = serve(503, "starting");
    let s = rig.dispatch_main(
        &ws,
        &[
            ("command", "release"),
            ("chain", "inline"),
            ("verify-url", &down),
            ("verify-timeout", "2s"),
        ],
    );
    assert_eq!(s.run.code, 1, "{}", s.run.transcript());
    assert!(
        s.run
            .stderr
            .contains("health gate for hello in `dev` failed"),
        "{}",
        s.run.stderr
    );
    assert!(s.run.stderr.contains("503"), "{}", s.run.stderr);
    assert!(s.run.stderr.contains("hint: "), "{}", s.run.stderr);
    let d = rig.gh.deployments(REPO).unwrap();
    assert_eq!(d.len(), 1);
    let states: Vec<&str> = d[0].statuses.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, ["in_progress", "failure"]);
    let pulls = rig.gh.pulls(REPO).unwrap();
    assert!(
        pulls.iter().all(|p| p.head != "release/hello/uat"),
        "nothing promoted: {pulls:#?}"
    );

    // The service answers now: deploying again (as overlay-deploy would on a
    // re-run) passes the gate and opens the uat PR.
    let up = serve(200, "<h1>Hello, World!</h1>");
    let ws2 = rig.checkout("ws2", "main");
    let s = rig
        .step(
            &ws2,
            "workflow_dispatch",
            serde_json::json!({"inputs": {"service": "hello", "env": "dev"}}),
            &[
                ("command", "deploy"),
                ("verify-url", &up),
                ("verify-contains", "Hello, World!"),
            ],
        )
        .ok();
    assert_eq!(s.out("deployed"), "true");
    assert_eq!(s.out("next-env"), "uat");
    assert!(
        rig.gh
            .pulls(REPO)
            .unwrap()
            .iter()
            .any(|p| p.head == "release/hello/uat")
    );
    let d = rig.gh.deployments(REPO).unwrap();
    let states: Vec<&str> = d[1].statuses.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, ["in_progress", "success"]);
}

/// Regression: inputs that shape the change were read only when they were needed: a
/// bad `verify-timeout` after the deployment was recorded (which stayed
/// `in_progress` for ever), a bad `chain` after the PR was merged, a bad
/// `merge-method` after the image was tagged. All are now checked before anything
/// is written: exit 2, no registry write, no PR, no deployment, main untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_refused_before_anything_is_written() {
    let (rig, ws, _) = Rig::ready(CONFIG);
    let main_before = rig.gh.git(REPO, &["rev-parse", "main"]).unwrap();
    rig.reg.reset_log();
    for (input, value, said) in [
        ("verify-timeout", "5x", "input `verify-timeout` is `5x`"),
        ("verify-url", "localhost:8080/healthz", "not an http(s) URL"),
        ("chain", "sideways", "input `chain` is `sideways`"),
        ("merge-method", "fast", "input `merge-method` is `fast`"),
        ("commit-via", "ssh", "input `commit-via` is \"ssh\""),
        // GitHub makes the token's owner the author of an API commit.
        (
            "author",
            "Rel Bot <rel@example.com>",
            "`commit-via: api` can't set",
        ),
        ("version", "one", "input `version` is `one`, not SemVer"),
    ] {
        let mut inputs = vec![("command", "release")];
        if input == "author" {
            inputs.push(("commit-via", "api"));
        }
        if input != "chain" {
            inputs.push(("chain", "inline"));
        }
        if input == "verify-timeout" {
            inputs.push(("verify-url", "http://127.0.0.1:9/"));
        }
        inputs.push((input, value));
        let s = rig.dispatch_main(&ws, &inputs);
        assert_eq!(s.run.code, 2, "{}", s.run.transcript());
        assert!(s.run.stderr.contains(said), "{}", s.run.stderr);
        assert!(s.run.stderr.contains("hint: "), "{}", s.run.stderr);
    }
    assert!(rig.gh.deployments(REPO).unwrap().is_empty());
    assert!(rig.gh.pulls(REPO).unwrap().is_empty());
    assert_eq!(
        rig.gh.git(REPO, &["rev-parse", "main"]).unwrap(),
        main_before
    );
    assert!(
        rig.reg
            .requests()
            .iter()
            .all(|r| r.method != "PUT" && r.method != "POST"),
        "{:?}",
        rig.reg.requests()
    );
}

/// `rollback --steps 1` sets the environment back to the previous tag and digest,
/// from the overlay's history in a depth-1 checkout, through a PR labelled rollback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_one_step_restores_the_previous_tag_and_digest() {
    let rig = Rig::new(CONFIG);
    let ws = rig.checkout("a", "main");
    let a = git(&ws, &["rev-parse", "HEAD"]);
    let digest_a = rig.push_build(&a);
    let s = rig.dispatch_main(&ws, &[("command", "release")]).ok();
    let tag_a = s.out("tag").to_string();

    rig.gh
        .push_commit(REPO, "main", &[("app/hello.txt", "hello again\n")])
        .unwrap();
    let ws = rig.checkout("b", "main");
    let b = git(&ws, &["rev-parse", "HEAD"]);
    let digest_b = rig
        .reg
        .client()
        .push_image("acme/hello", &format!("sha-{b}"), 2, 2048, 8)
        .unwrap()
        .digest;
    assert_ne!(digest_a, digest_b);
    let s = rig.dispatch_main(&ws, &[("command", "release")]).ok();
    let tag_b = s.out("tag").to_string();
    assert_eq!(
        entry_line(&rig.overlay("dev"), "newTag:"),
        format!("newTag: {tag_b}")
    );

    let ws = rig.checkout("c", "main");
    let s = rig
        .step(
            &ws,
            "workflow_dispatch",
            serde_json::json!({"inputs": {}}),
            &[
                ("command", "rollback"),
                ("service", "hello"),
                ("env", "dev"),
                ("steps", "1"),
            ],
        )
        .ok();
    assert_eq!(s.out("tag"), tag_a);
    assert_eq!(s.out("digest"), digest_a);
    let dev = rig.overlay("dev");
    assert_eq!(entry_line(&dev, "newTag:"), format!("newTag: {tag_a}"));
    assert_eq!(entry_line(&dev, "digest:"), format!("digest: {digest_a}"));
    let pulls = rig.gh.pulls(REPO).unwrap();
    let pr = pulls.last().unwrap();
    assert!(
        pr.labels.contains(&"rollback".to_string()),
        "{:?}",
        pr.labels
    );
    assert!(
        pr.title.ends_with(&format!("{tag_b} → {tag_a} (rollback)")),
        "{}",
        pr.title
    );
}

/// An actor outside prod's `allowed` rule is refused before anything changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_is_refused_for_an_actor_outside_allowed() {
    let (rig, ws, sha) = Rig::ready(CONFIG);
    let before = rig.gh.branch_sha(REPO, "main").unwrap();
    // Team rules need a token that can read teams (an App token); alice's stands in.
    let s = rig.step_env(
        &ws,
        "push",
        push_event("refs/tags/v1.2.3", &sha),
        &[("command", "release"), ("token", ALICE)],
        &[("GITHUB_ACTOR", "mallory")],
    );
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run.stderr.contains("error: `mallory` may not release to environment `prod`: its `allowed` rule admits users alice, github-actions[bot]; teams acme/release-managers"),
        "{}",
        s.run.stderr
    );
    assert!(s.run.stderr.contains("hint: "), "{}", s.run.stderr);
    assert!(s.run.stdout.contains("::error"), "{}", s.run.stdout);
    assert!(rig.gh.pulls(REPO).unwrap().is_empty());
    assert_eq!(rig.gh.branch_sha(REPO, "main").unwrap(), before);
    assert_eq!(rig.gh.branch_sha(REPO, "release/hello/prod").unwrap(), None);
    assert!(
        rig.reg
            .client()
            .get_manifest("acme/hello", "prd-1.2.3")
            .unwrap()
            .is_none(),
        "nothing retagged"
    );

    // With `GITHUB_TOKEN`, which cannot read teams, the refusal says so.
    let s = rig.step_env(
        &ws,
        "push",
        push_event("refs/tags/v1.2.3", &sha),
        &[("command", "release")],
        &[("GITHUB_ACTOR", "mallory")],
    );
    assert_eq!(s.run.code, 1, "{}", s.run.transcript());
    assert!(s.run.stderr.contains("members: read"), "{}", s.run.stderr);
    // alice is listed: allowed.
    let s = rig
        .step(
            &ws,
            "push",
            push_event("refs/tags/v1.2.3", &sha),
            &[("command", "release")],
        )
        .ok();
    assert_eq!(s.out("tag"), "prd-1.2.3");
}

/// On a re-run GitHub keeps `GITHUB_ACTOR` as the original
/// user and puts who clicked "re-run" in `GITHUB_TRIGGERING_ACTOR` (docs
/// "Contexts", `github.triggering_actor`: "If the workflow run is a re-run, this
/// value may differ from github.actor"). Both must be admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_by_someone_outside_allowed_is_refused() {
    let (rig, ws, sha) = Rig::ready(CONFIG);
    let before = rig.gh.branch_sha(REPO, "main").unwrap();
    let s = rig.step_env(
        &ws,
        "push",
        push_event("refs/tags/v1.2.3", &sha),
        &[("command", "release"), ("token", ALICE)],
        &[
            ("GITHUB_ACTOR", "alice"),
            ("GITHUB_TRIGGERING_ACTOR", "mallory"),
        ],
    );
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run.stderr.contains("error: `mallory` (who re-ran this workflow: `GITHUB_TRIGGERING_ACTOR`) may not release to environment `prod`"),
        "{}",
        s.run.stderr
    );
    assert!(rig.gh.pulls(REPO).unwrap().is_empty());
    assert_eq!(rig.gh.branch_sha(REPO, "main").unwrap(), before);
    assert!(
        rig.reg
            .client()
            .get_manifest("acme/hello", "prd-1.2.3")
            .unwrap()
            .is_none(),
        "nothing retagged"
    );
    // The same person re-running (or an unset variable) is the ordinary case.
    let s = rig
        .step_env(
            &ws,
            "push",
            push_event("refs/tags/v1.2.3", &sha),
            &[("command", "release")],
            &[("GITHUB_TRIGGERING_ACTOR", "Alice")],
        )
        .ok();
    assert_eq!(s.out("tag"), "prd-1.2.3");
}

/// The rules come from the base branch. A branch whose own
/// config drops prod's `allowed:`, maps itself to prod and asks
/// `merge: immediate` releases nothing to prod for someone the base's rule
/// refuses; and an input can't pick `merge: direct` where the config forbids it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_come_from_the_base_branch_not_the_released_ref() {
    let rig = Rig::new(CONFIG);
    let ws = rig.checkout("ws", "main");
    git(&ws, &["checkout", "-q", "-b", "feature/x"]);
    let ours = std::fs::read_to_string(ws.join(".github/gitops.yaml")).unwrap();
    let hostile = ours
        .replace(
            "    allowed:\n      users: [\"alice\", \"github-actions[bot]\"]\n      teams: [\"acme/release-managers\"]\n",
            "",
        )
        .replace("    tags: [\"v*\"]\n    tag: \"prd-{version}\"\n    reviewers: [\"alice\"]\n    merge: never", "    branches: [\"feature/**\"]\n    tags: [\"v*\"]\n    tag: \"prd-{version}\"\n    merge: immediate");
    assert!(!hostile.contains("allowed:") && hostile.contains("merge: immediate"));
    std::fs::write(ws.join(".github/gitops.yaml"), &hostile).unwrap();
    git(&ws, &["commit", "-qam", "own rules"]);
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    rig.push_build(&sha);
    let before = rig.gh.branch_sha(REPO, "main").unwrap();
    let s = rig.step_env(
        &ws,
        "workflow_dispatch",
        dispatch("hello", "refs/heads/feature/x"),
        // Team rules need a token that can read teams; alice's stands in.
        &[
            ("command", "release"),
            ("env", "prod"),
            ("version", "1.2.3"),
            ("token", ALICE),
        ],
        &[("GITHUB_ACTOR", "mallory")],
    );
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run
            .stderr
            .contains("error: `mallory` may not release to environment `prod`"),
        "{}",
        s.run.stderr
    );
    assert_eq!(rig.gh.branch_sha(REPO, "main").unwrap(), before);
    assert_eq!(rig.gh.branch_sha(REPO, "release/hello/prod").unwrap(), None);
    assert!(rig.gh.pulls(REPO).unwrap().is_empty());
    assert!(
        rig.reg
            .client()
            .get_manifest("acme/hello", "prd-1.2.3")
            .unwrap()
            .is_none(),
        "nothing retagged"
    );

    // prod has an `allowed:` rule, so `merge: direct` from the input is refused
    // even for someone it admits (`allow-direct` defaults to false there).
    let s = rig.step_env(
        &ws,
        "workflow_dispatch",
        dispatch("hello", "refs/heads/feature/x"),
        &[
            ("command", "release"),
            ("env", "prod"),
            ("version", "1.2.3"),
            ("merge", "direct"),
        ],
        &[("GITHUB_ACTOR", "alice")],
    );
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run
            .stderr
            .contains("error: environment `prod` does not allow `merge: direct` from the input"),
        "{}",
        s.run.stderr
    );
    assert_eq!(rig.gh.branch_sha(REPO, "main").unwrap(), before);
}

/// The rules' query also reads the files and branch the checkout's config names,
/// and the release takes that read only where the base's config names the same:
/// a checkout whose config points elsewhere costs a second read, and the release
/// edits the base's file, never the decoy. With the same config, one read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_read_takes_the_targets_only_where_the_base_names_them() {
    let reads = |rig: &Rig, from: usize| {
        rig.gh.request_log()[from..]
            .iter()
            .filter(|r| r.op.starts_with("query"))
            .count()
    };
    let (rig, ws, _) = Rig::ready(CONFIG);
    let from = rig.gh.request_log().len();
    let s = rig.dispatch_main(&ws, &[("command", "release")]).ok();
    assert_eq!(s.out("merged"), "true");
    assert_eq!(reads(&rig, from), 1, "{:#?}", rig.gh.request_log());

    let rig = Rig::new(CONFIG);
    let ws = rig.checkout("ws", "main");
    let ours = std::fs::read_to_string(ws.join(".github/gitops.yaml")).unwrap();
    let decoy = ours.replace("overlays: overlays", "overlays: decoy");
    assert_ne!(decoy, ours);
    std::fs::write(ws.join(".github/gitops.yaml"), &decoy).unwrap();
    git(&ws, &["commit", "-qam", "own overlays"]);
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    rig.push_build(&sha);
    let from = rig.gh.request_log().len();
    let s = rig
        .step(
            &ws,
            "workflow_dispatch",
            dispatch("hello", "refs/heads/main"),
            &[("command", "release")],
        )
        .ok();
    assert_eq!(s.out("merged"), "true");
    assert_eq!(reads(&rig, from), 2, "{:#?}", rig.gh.request_log());
    let main = rig.gh.branch_sha(REPO, "main").unwrap().unwrap();
    let overlay = rig
        .gh
        .file_at(REPO, &main, "overlays/dev/kustomization.yaml")
        .unwrap()
        .unwrap();
    assert!(overlay.contains(&sha[..7]), "{overlay}");
    assert_eq!(
        rig.gh
            .file_at(REPO, &main, "decoy/dev/kustomization.yaml")
            .unwrap(),
        None
    );
}

/// `--dry-run` reads for real and writes nothing: no retag, no branch, no PR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_release_prints_the_plan_and_writes_nothing() {
    let (rig, ws, _) = Rig::ready(CONFIG);
    rig.reg.reset_log();
    let s = rig
        .dispatch_main(&ws, &[("command", "release"), ("dry-run", "true")])
        .ok();
    assert!(
        s.run.stdout.contains("dry run: would retag the build of"),
        "{}",
        s.run.stdout
    );
    assert!(
        s.run.stdout.contains("+    newTag: dev-main-"),
        "{}",
        s.run.stdout
    );
    assert!(
        s.run
            .stdout
            .contains("dry run: would push `release/hello/dev`"),
        "{}",
        s.run.stdout
    );
    assert_eq!(s.out("changed"), "true");
    assert!(rig.gh.pulls(REPO).unwrap().is_empty());
    assert_eq!(rig.gh.branch_sha(REPO, "release/hello/dev").unwrap(), None);
    assert!(
        !rig.reg
            .requests()
            .iter()
            .any(|r| r.method == "PUT" || r.method == "POST")
    );
}

/// The race: 20 services released to the same `overlays/dev` at once, as 20
/// processes of the real binary, each with `merge: auto`. Every PR merges, the
/// overlay ends with all 20 tags (entries added, none lost or doubled), one PR each.
#[test]
fn twenty_processes_release_to_one_overlay_and_nothing_is_lost() {
    let n = 20;
    let mut config = String::from("overlays: overlays\nservices:\n");
    for i in 0..n {
        config.push_str(&format!(
            "  svc{i:02}:\n    image: REGISTRY/acme/svc{i:02}\n"
        ));
    }
    config.push_str(
        "environments:\n  - name: dev\n    branches: [\"**\"]\n    tag: \"dev-{sha7}-{timestamp}\"\n    merge: auto\n",
    );
    let reg = TestRegistry::start(Auth::Token).unwrap();
    let config = config.replace("REGISTRY", &reg.host());
    let rig = Rig::with_registry(&config, reg);
    let ws = rig.checkout("ws", "main");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    for i in 0..n {
        rig.reg
            .client()
            .push_image(
                &format!("acme/svc{i:02}"),
                &format!("sha-{sha}"),
                1,
                512,
                i as u64,
            )
            .unwrap();
    }
    let children: Vec<_> = (0..n)
        .map(|i| rig.spawn_release(&ws, &["--service", &format!("svc{i:02}"), "--env", "dev"]))
        .collect();
    let mut retries = 0;
    for (i, child) in children.into_iter().enumerate() {
        let run = Run::from(child.wait_with_output().unwrap()).expect(0);
        assert!(
            run.stdout.contains("(merged)"),
            "svc{i:02}: {}",
            run.transcript()
        );
        for l in run.stderr.lines() {
            if let Some(r) = l.strip_prefix("git: ").and_then(|r| r.split_once(' ')) {
                retries += r.0.parse::<u32>().unwrap_or(0);
            }
        }
    }
    eprintln!("20 concurrent release processes: {retries} retries in all");
    let text = rig.overlay("dev");
    let short = &sha[..7];
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for i in 0..n {
        let name = format!("- name: {}/acme/svc{i:02}", rig.reg.host());
        let at: Vec<usize> = (0..lines.len()).filter(|&k| lines[k] == name).collect();
        assert_eq!(at.len(), 1, "svc{i:02} once:\n{text}");
        assert!(
            lines[at[0] + 1].starts_with(&format!("newTag: dev-{short}-")),
            "{text}"
        );
        assert!(lines[at[0] + 2].starts_with("digest: sha256:"), "{text}");
    }
    // The bundled entry of the original image is still there, untouched.
    assert!(text.contains("# Managed by gitops-action"), "{text}");
    let pulls = rig.gh.pulls(REPO).unwrap();
    assert_eq!(pulls.len(), n, "one PR per service");
    for i in 0..n {
        let head = format!("release/svc{i:02}/dev");
        let prs: Vec<_> = pulls.iter().filter(|p| p.head == head).collect();
        assert_eq!(prs.len(), 1, "{head}");
        assert!(prs[0].merged, "{head}");
    }
}

/// `scripts/bench-chain`: the whole seed-000 chain on local servers, each step's
/// The request budget (issue 24), counted in the requests GitHub received (REST,
/// GraphQL and git alike), in a repository that has released before: one release
/// auto-merged with its deploy dispatched in at most 5, and the whole dev → uat →
/// prod chain with its three deploys in at most 15. The savings must not cost
/// what they replace: the PR lists the real commits (from the first read's
/// history, no compare), the uat PR has its label and reviewer, the merged
/// release branch is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_and_the_chain_fit_the_request_budget() {
    let compares = |rig: &Rig, from: usize| {
        rig.gh.request_log()[from..]
            .iter()
            .filter(|r| r.path.contains("/compare/"))
            .count()
    };
    let (rig, ws, sha) = released_rig();
    let from = rig.gh.request_log().len();
    let s = rig
        .dispatch_main(
            &ws,
            &[
                ("command", "release"),
                ("deploy-workflow", "overlay-deploy.yaml"),
            ],
        )
        .ok();
    let (n, lines) = github_requests(&rig.gh.request_log()[from..]);
    assert!(n <= 5, "{n} requests for one release:\n{lines}");
    assert_eq!(compares(&rig, from), 0, "{lines}");
    let pr = rig.gh.pull(REPO, 1).unwrap();
    assert!(pr.body.contains("### Commits (2)"), "{}", pr.body);
    assert!(pr.body.contains(&sha[..7]), "{}", pr.body);
    assert_eq!(rig.gh.branches(REPO).unwrap(), ["main"]);
    assert_eq!(s.out("dispatched"), "overlay-deploy.yaml");

    let (rig, ws, _) = released_rig();
    let mut total = 0;
    let mut all = String::new();
    let mut count = |from: usize| {
        let (n, lines) = github_requests(&rig.gh.request_log()[from..]);
        total += n;
        all.push_str(&lines);
    };
    let from = rig.gh.request_log().len();
    let s = rig
        .dispatch_main(&ws, &[("command", "release"), ("chain", "inline")])
        .ok();
    count(from);
    let uat: u64 = s.out("next-pr-number").parse().unwrap();
    let pr = rig.gh.pull(REPO, uat).unwrap();
    assert_eq!(pr.labels, ["uat", "promotion"], "{pr:?}");
    assert_eq!(pr.requested_reviewers, ["alice"], "{pr:?}");
    assert!(pr.body.contains("### Commits (2)"), "{}", pr.body);
    // The dev branch's delete rode in the uat PR's document.
    assert_eq!(
        rig.gh.branches(REPO).unwrap(),
        ["main", "release/hello/uat"]
    );
    rig.gh.approve_pr(REPO, uat, "alice").unwrap();
    let merge = rig.merge_as_alice(uat).await;
    let ws = rig.checkout("uat", "main");
    let from = rig.gh.request_log().len();
    let s = rig
        .step(
            &ws,
            "pull_request",
            merged_pr_event(uat, "release/hello/uat", &merge),
            &[("command", "deploy"), ("version", "1.2.3")],
        )
        .ok();
    count(from);
    let prod: u64 = s.out("next-pr-number").parse().unwrap();
    let pr = rig.gh.pull(REPO, prod).unwrap();
    assert_eq!(pr.requested_reviewers, ["alice"], "{pr:?}");
    // prod's running `prd-1.4.2` names its commit by its image's label.
    assert!(pr.body.contains("### Commits (2)"), "{}", pr.body);
    rig.gh.approve_pr(REPO, prod, "alice").unwrap();
    let merge = rig.merge_as_alice(prod).await;
    let ws = rig.checkout("prod", "main");
    let from = rig.gh.request_log().len();
    rig.step(
        &ws,
        "pull_request",
        merged_pr_event(prod, "release/hello/prod", &merge),
        &[("command", "deploy")],
    )
    .ok();
    count(from);
    assert!(total <= 15, "{total} requests for the chain:\n{all}");
    assert_eq!(rig.gh.deployments(REPO).unwrap().len(), 3);
}

/// A lost answer to the document that commits the uat PR's change and opens the
/// PR (an inline chain's next step): the re-sent copy is refused (the branch and
/// the PR exist), the re-read finds the PR, and it is treated as this run's new
/// one: labelled and its reviewer asked, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_the_commit_and_pr_document_still_labels_and_asks() {
    use gitops_testkit::github::{Fault, FaultKind};
    let (rig, ws, _) = released_rig();
    rig.gh.inject(Fault::new(
        "POST",
        "createPullRequest",
        2,
        FaultKind::LostAnswer,
    ));
    let s = rig
        .dispatch_main(&ws, &[("command", "release"), ("chain", "inline")])
        .ok();
    assert_eq!(rig.gh.faults_fired(), 1);
    assert_eq!(
        s.out("next-pr-operation"),
        "created",
        "{}",
        s.run.transcript()
    );
    let open: Vec<_> = rig
        .gh
        .pulls(REPO)
        .unwrap()
        .into_iter()
        .filter(|p| p.head == "release/hello/uat")
        .collect();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].labels, ["uat", "promotion"], "{:?}", open[0]);
    assert_eq!(open[0].requested_reviewers, ["alice"], "{:?}", open[0]);
}

/// wall time (the tool's process, start to exit) and API calls. Approvals and the
/// human merges are the test's, outside the tool's time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by scripts/bench-chain"]
async fn bench_seed_000_chain() {
    let rig = Rig::new(CONFIG);
    released_before(&rig);
    let ws = rig.checkout("release", "main");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    rig.push_labelled_build(&sha);
    let mut total = std::time::Duration::ZERO;
    let mut requests = 0;
    // Each step's own requests: from just before it (the test's approvals and
    // merges, made as a person, are not the tool's).
    let mut report = |name: &str, s: &Step, from: usize| {
        total += s.elapsed;
        let (n, lines) = github_requests(&rig.gh.request_log()[from..]);
        requests += n;
        println!(
            "BENCH {name}: {} ms, {} API calls, {n} GitHub requests:\n{lines}",
            s.elapsed.as_millis(),
            s.outputs.get("api-calls").map_or("?", String::as_str)
        );
    };
    let from = rig.gh.request_log().len();
    let s = rig
        .dispatch_main(&ws, &[("command", "release"), ("chain", "inline")])
        .ok();
    report(
        "release dev (PR opened, merged, deployed, uat PR opened)",
        &s,
        from,
    );
    let uat: u64 = s.out("next-pr-number").parse().unwrap();
    rig.gh.approve_pr(REPO, uat, "alice").unwrap();
    let merge = rig.merge_as_alice(uat).await;
    let ws = rig.checkout("uat", "main");
    let from = rig.gh.request_log().len();
    let s = rig
        .step(
            &ws,
            "pull_request",
            merged_pr_event(uat, "release/hello/uat", &merge),
            &[("command", "deploy"), ("version", "1.2.3")],
        )
        .ok();
    report("deploy uat (deployment recorded, prod PR opened)", &s, from);
    let prod: u64 = s.out("next-pr-number").parse().unwrap();
    rig.gh.approve_pr(REPO, prod, "alice").unwrap();
    let merge = rig.merge_as_alice(prod).await;
    let ws = rig.checkout("prod", "main");
    let from = rig.gh.request_log().len();
    let s = rig
        .step(
            &ws,
            "pull_request",
            merged_pr_event(prod, "release/hello/prod", &merge),
            &[("command", "deploy")],
        )
        .ok();
    report("deploy prod (deployment recorded)", &s, from);
    println!(
        "BENCH whole chain, the tool's own time: {} ms, {requests} GitHub requests (REST, GraphQL and git alike)",
        total.as_millis()
    );
}

/// Bad input through the binary: a bad token, a base that doesn't exist,
/// a protected base with `merge: direct`. Each is a clear error and nothing is
/// pushed half-done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_missing_base_and_protected_base_push_nothing() {
    let (rig, ws, _) = Rig::ready(CONFIG);
    rig.reg.reset_log();
    let main_before = rig.gh.branch_sha(REPO, "main").unwrap();
    let release = |inputs: &[(&str, &str)]| {
        let mut all = vec![("command", "release"), ("service", "hello"), ("env", "dev")];
        all.extend_from_slice(inputs);
        rig.dispatch_main(&ws, &all)
    };

    let s = release(&[("token", "ghs_notATokenTheServerKnows000000000000")]);
    assert_eq!(s.run.code, 1, "{}", s.run.transcript());
    // `commit-via: api`: the first request is the GraphQL read of the base.
    assert!(
        s.run
            .stderr
            .contains("hint: GitHub refused the token: pass a valid one in the `token` input"),
        "{}",
        s.run.stderr
    );
    assert!(
        !s.run.stderr.contains("ghs_notAToken"),
        "the token is never printed: {}",
        s.run.stderr
    );

    let s = release(&[("base", "no-such-branch")]);
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run
            .stderr
            .contains("base branch `no-such-branch` does not exist"),
        "{}",
        s.run.stderr
    );
    assert!(
        s.run.stderr.contains("hint: set the `base` input"),
        "{}",
        s.run.stderr
    );

    rig.gh
        .protect_branch(
            REPO,
            "main",
            gitops_testkit::github::Protection::approvals(1),
        )
        .unwrap();
    let s = release(&[("merge", "direct")]);
    assert_eq!(s.run.code, 1, "{}", s.run.transcript());
    assert!(s.run.stderr.contains("hint: "), "{}", s.run.stderr);
    eprintln!("{}", s.run.stderr);

    assert_eq!(rig.gh.branch_sha(REPO, "main").unwrap(), main_before);
    assert!(rig.gh.pulls(REPO).unwrap().is_empty());
    assert_eq!(rig.gh.branch_sha(REPO, "release/hello/dev").unwrap(), None);
    // The bad token and the missing base were caught before the registry was
    // written; only the direct push (refused by the server itself) got that far.
    let puts = rig
        .reg
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert_eq!(puts, 1, "{:?}", rig.reg.requests());
}

/// A repository whose ruleset requires verified signatures on every
/// branch (GH013). The release step with the default `commit-via: api` lands (GitHub
/// makes and signs the commits, Verified in REST); the same step with
/// `commit-via: git` is refused by the push, and the error says what to use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_commits_ruleset_takes_api_releases_and_refuses_pushes_with_a_hint() {
    let (rig, ws, _) = Rig::ready(CONFIG);
    rig.gh.require_signed_commits(REPO, &["*"]).unwrap();
    let main_before = rig.gh.branch_sha(REPO, "main").unwrap();
    let s = rig.dispatch_main(&ws, &[("command", "release"), ("commit-via", "git")]);
    assert_eq!(s.run.code, 1, "{}", s.run.transcript());
    assert!(
        s.run
            .stderr
            .contains("Commits must have verified signatures"),
        "{}",
        s.run.stderr
    );
    assert!(
        s.run
            .stderr
            .contains("hint: a ruleset requires verified signatures")
            && s.run.stderr.contains("`commit-via: api`"),
        "{}",
        s.run.stderr
    );
    assert_eq!(rig.gh.branch_sha(REPO, "main").unwrap(), main_before);

    let s = rig.dispatch_main(&ws, &[("command", "release")]).ok();
    assert_eq!(s.out("merged"), "true");
    let tip = rig.gh.branch_sha(REPO, "main").unwrap().unwrap();
    assert!(
        rig.gh.is_verified(REPO, &tip).unwrap(),
        "the merge is GitHub's"
    );
    let head = s.out("commit");
    assert!(
        rig.gh.is_verified(REPO, head).unwrap(),
        "the release commit {head}"
    );
}

/// `scripts/bench-chain`: requests to GitHub for one release (dev, auto-merged,
/// deploy dispatched), by `commit-via`: API calls and git round trips side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by scripts/bench-chain"]
async fn bench_requests_per_release() {
    for via in ["git", "api"] {
        let rig = Rig::new(CONFIG);
        released_before(&rig);
        let ws = rig.checkout("ws", "main");
        let sha = git(&ws, &["rev-parse", "HEAD"]);
        rig.push_labelled_build(&sha);
        let count = |k: gitops_testkit::github::RequestKind| {
            rig.gh.request_log().iter().filter(|r| r.kind == k).count()
        };
        use gitops_testkit::github::RequestKind::{Git, GraphQl, Rest};
        let before = (count(Rest), count(GraphQl), count(Git));
        let from = rig.gh.request_log().len();
        let s = rig
            .dispatch_main(
                &ws,
                &[
                    ("command", "release"),
                    ("deploy-workflow", "overlay-deploy.yaml"),
                    ("commit-via", via),
                ],
            )
            .ok();
        assert_eq!(s.out("merged"), "true");
        let (rest, gql, git_rt) = (
            count(Rest) - before.0,
            count(GraphQl) - before.1,
            count(Git) - before.2,
        );
        let (_, lines) = github_requests(&rig.gh.request_log()[from..]);
        println!(
            "BENCH requests per release, commit-via {via}: {} in all = {rest} REST + {gql} GraphQL + {git_rt} git round trips, {} ms\n{lines}",
            rest + gql + git_rt,
            s.elapsed.as_millis()
        );
    }
}

/// The dispatch way on from a merge made with `GITHUB_TOKEN`: the deploy workflow
/// is started through `workflow_dispatch` with the service and environment, on the
/// base branch; a PR left for review dispatches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_the_tool_made_dispatches_the_deploy_workflow() {
    let (rig, ws, _) = Rig::ready(CONFIG);
    let git_requests = || {
        rig.gh
            .request_log()
            .iter()
            .filter(|r| r.kind == gitops_testkit::github::RequestKind::Git)
            .count()
    };
    let git_before = git_requests();
    let s = rig
        .dispatch_main(
            &ws,
            &[
                ("command", "release"),
                ("deploy-workflow", "overlay-deploy.yaml"),
            ],
        )
        .ok();
    assert_eq!(s.out("merged"), "true");
    assert_eq!(s.out("dispatched"), "overlay-deploy.yaml");
    // `commit-via: api`, and no git request at all: one read of the rules, the
    // base's overlay and the release branch (GraphQL; it also says no PR is open,
    // so none is listed), the branch created and the commit made in one
    // document with the PR's creation (`updateRefs`, `createCommitOnBranch`,
    // `createPullRequest`), merge, the branch deleted with its lease
    // (`updateRefs`), dispatch. With git it was 4 API calls plus the git round
    // trips of three fetches and two pushes. And the PR's commit list: the
    // bundled example's running tag names a commit this repository lacks, so the
    // first read's history cannot cut it and one compare asks GitHub.
    assert_eq!(s.out("api-calls"), "6");
    assert_eq!(git_requests(), git_before, "no git request during the step");
    let d = rig.gh.dispatches(REPO).unwrap();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].workflow, "overlay-deploy.yaml");
    assert_eq!(d[0].git_ref, "main");
    assert_eq!(
        d[0].inputs,
        serde_json::json!({"service": "hello", "env": "dev"})
    );
    assert!(
        rig.gh.deployments(REPO).unwrap().is_empty(),
        "the dispatched workflow deploys, not this step"
    );

    // A promotion from a checkout whose dev overlay names an image the registry
    // doesn't have (the bundled placeholder digest) is refused with a hint.
    let s = rig.step(
        &ws,
        "workflow_dispatch",
        serde_json::json!({"inputs": {}}),
        &[("command", "promote"), ("service", "hello"), ("to", "uat")],
    );
    assert_eq!(s.run.code, 1, "{}", s.run.transcript());
    assert!(
        s.run.stderr.contains("which is not in the registry"),
        "{}",
        s.run.stderr
    );
    assert!(
        s.run.stderr.contains("hint: release hello to `dev` again"),
        "{}",
        s.run.stderr
    );

    let ws = rig.checkout("ws2", "main");
    // uat's PR waits for review: nothing to dispatch.
    let s = rig
        .step(
            &ws,
            "workflow_dispatch",
            serde_json::json!({"inputs": {"service": "hello"}}),
            &[
                ("command", "promote"),
                ("to", "uat"),
                ("deploy-workflow", "overlay-deploy.yaml"),
            ],
        )
        .ok();
    assert_eq!(s.out("merged"), "false");
    assert_eq!(s.out("pr-operation"), "created");
    assert_eq!(rig.gh.dispatches(REPO).unwrap().len(), 1);
}

/// Where the repository deletes merged head branches itself (Settings → "Automatically
/// delete head branches"; GraphQL `Repository.deleteBranchOnMerge`, read in the
/// query the release makes anyway), the release sends no delete of its own: one
/// request fewer, and the branch is gone all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_branch_delete_is_sent_where_github_deletes_merged_heads() {
    let mut calls = Vec::new();
    for auto_delete in [false, true] {
        let (rig, ws, _) = Rig::ready(CONFIG);
        rig.gh
            .configure_repo(REPO, |s| s.delete_branch_on_merge = auto_delete)
            .unwrap();
        let from = rig.gh.request_log().len();
        let s = rig
            .dispatch_main(
                &ws,
                &[
                    ("command", "release"),
                    ("deploy-workflow", "overlay-deploy.yaml"),
                ],
            )
            .ok();
        assert_eq!(s.out("merged"), "true");
        assert_eq!(rig.gh.branches(REPO).unwrap(), ["main"], "{}", s.run.stderr);
        let log = rig.gh.request_log();
        let gql = log[from..]
            .iter()
            .filter(|r| r.kind == gitops_testkit::github::RequestKind::GraphQl)
            .count();
        calls.push((s.out("api-calls").to_string(), gql));
    }
    // Read, compare (the bundled tag's commit is not in the history), commit with
    // the PR, merge, delete, dispatch.
    assert_eq!(calls[0].0, "6", "{calls:?}");
    assert_eq!(calls[1].0, "5", "the delete is not sent: {calls:?}");
    assert_eq!(
        calls[1].1 + 1,
        calls[0].1,
        "one GraphQL request fewer: {calls:?}"
    );
}

/// Reviewers GitHub refuses (not a collaborator, no such team) leave the PR open
/// with a warning: the release is done, the config needs a fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_reviewers_are_a_warning_not_a_failed_release() {
    let config = CONFIG.replace(
        "    merge: auto\n  - name: uat",
        "    merge: never\n    reviewers: [\"nobody-here\", \"acme/no-such-team\"]\n  - name: uat",
    );
    let rig = Rig::new(&config);
    let ws = rig.checkout("ws", "main");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    rig.push_build(&sha);
    let s = rig.dispatch_main(&ws, &[("command", "release")]).ok();
    assert_eq!(s.out("pr-operation"), "created");
    assert!(s.run.stdout.contains("::warning"), "{}", s.run.transcript());
    assert!(
        s.run.stderr.contains("not a collaborator"),
        "{}",
        s.run.stderr
    );
    let pulls = rig.gh.pulls(REPO).unwrap();
    assert_eq!(pulls.len(), 1);
    assert!(!pulls[0].merged);
}

/// A released tag is never moved: `prd-1.2.3` naming another image stops a release
/// of another commit as 1.2.3, before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_version_tag_is_never_moved() {
    let (rig, ws, sha) = Rig::ready(CONFIG);
    let other = rig
        .reg
        .client()
        .push_image("acme/hello", "prd-1.2.3", 1, 1024, 99)
        .unwrap()
        .digest;
    let s = rig.step(
        &ws,
        "push",
        push_event("refs/tags/v1.2.3", &sha),
        &[("command", "release")],
    );
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run
            .stderr
            .contains(&format!("prd-1.2.3` already names another image ({other})")),
        "{}",
        s.run.stderr
    );
    assert!(
        s.run.stderr.contains("hint: a released tag is never moved"),
        "{}",
        s.run.stderr
    );
    let (_, bytes) = rig
        .reg
        .client()
        .get_manifest("acme/hello", "prd-1.2.3")
        .unwrap()
        .unwrap();
    assert_eq!(
        gitops_testkit::registry::digest_of(&bytes),
        other,
        "untouched"
    );
    assert!(rig.gh.pulls(REPO).unwrap().is_empty());
}

/// Releases under injected faults (lost answers, resets, 5xx, rate limits).
mod faults;
/// Re-runs of a deploy, and merges made with an App token.
mod reruns;

/// A branch's own config maps `**` to uat. `resolve` reads the environment map from
/// the base branch tip, so the branch resolves to dev, as the base says, and the
/// shipped workflows then feed `dev` to `release`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_takes_the_environment_map_from_the_base_branch() {
    let rig = Rig::new(CONFIG);
    let ws = rig.checkout("ws", "main");
    git(&ws, &["checkout", "-q", "-b", "feature/x"]);
    let ours = std::fs::read_to_string(ws.join(".github/gitops.yaml")).unwrap();
    let hostile = ours.replace("    branches: [\"test/uat\"]\n", "    branches: [\"**\"]\n");
    assert_ne!(hostile, ours);
    std::fs::write(ws.join(".github/gitops.yaml"), &hostile).unwrap();
    git(&ws, &["commit", "-qam", "map everything to uat"]);
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    let s = rig
        .step(
            &ws,
            "push",
            push_event("refs/heads/feature/x", &sha),
            &[("command", "resolve"), ("service", "hello")],
        )
        .ok();
    assert_eq!(s.out("env"), "dev", "{}", s.run.transcript());
    assert_eq!(s.out("environments"), "dev");
}

/// `release` with an explicit `env` that the base's map does not give to the released
/// ref is refused where the environment has no `allowed:` rule (anyone could send any
/// ref there by naming it), before anything is written; where it has one, the actor
/// must pass it, and the run says it went outside the map.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_refuses_an_environment_the_base_map_does_not_give_the_ref() {
    let rig = Rig::new(CONFIG);
    let ws = rig.checkout("ws", "main");
    git(&ws, &["checkout", "-q", "-b", "feature/x"]);
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    rig.push_build(&sha);
    let before = rig.gh.branch_sha(REPO, "main").unwrap();
    let s = rig.step(
        &ws,
        "workflow_dispatch",
        dispatch("hello", "feature/x"),
        &[("command", "release"), ("env", "uat"), ("ref", "feature/x")],
    );
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run.stderr.contains(
            "error: `env` is `uat`, but the base branch's environment map gives branch `feature/x` to `dev`"
        ) && s.run.stderr.contains("hint: release a ref that `uat` takes"),
        "{}",
        s.run.stderr
    );
    assert_eq!(rig.gh.branch_sha(REPO, "main").unwrap(), before);
    assert_eq!(rig.gh.branch_sha(REPO, "release/hello/uat").unwrap(), None);
    assert!(rig.gh.pulls(REPO).unwrap().is_empty());

    // prod has an `allowed:` rule: mallory fails it, alice passes it.
    let s = rig.step_env(
        &ws,
        "workflow_dispatch",
        dispatch("hello", "feature/x"),
        &[
            ("command", "release"),
            ("env", "prod"),
            ("ref", "feature/x"),
            ("version", "1.2.3"),
            ("token", ALICE),
        ],
        &[("GITHUB_ACTOR", "mallory")],
    );
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run.stdout.contains(
            "the base branch maps branch `feature/x` to `dev`, not to `prod`: releasing there needs `prod`'s `allowed:` rule"
        ) && s.run.stderr.contains("`mallory` may not release to environment `prod`"),
        "{}",
        s.run.transcript()
    );
    let s = rig
        .step(
            &ws,
            "workflow_dispatch",
            dispatch("hello", "feature/x"),
            &[
                ("command", "release"),
                ("env", "prod"),
                ("ref", "feature/x"),
                ("version", "1.2.3"),
            ],
        )
        .ok();
    assert_eq!(s.out("tag"), "prd-1.2.3");
    assert!(
        s.run
            .stdout
            .contains("::notice::released to `prod` outside the environment map"),
        "{}",
        s.run.stdout
    );
}

/// A branch named like a release tag: actions/checkout given the bare name `v1.2.4`
/// checks out the branch (it prefers branches), while the tag's commit comes from the
/// event. The action never builds that workspace as the tag's commit: exit 1, both
/// commits named, nothing pushed or opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_named_like_the_tag_is_never_built_as_the_tag() {
    let rig = Rig::new(CONFIG);
    let ws = rig.checkout("ws", "main");
    let tagged = git(&ws, &["rev-parse", "HEAD"]);
    git(&ws, &["checkout", "-q", "-b", "v1.2.4"]);
    std::fs::write(ws.join("app/evil.txt"), "the attacker's files\n").unwrap();
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-qm", "not the release"]);
    let head = git(&ws, &["rev-parse", "HEAD"]);
    let s = rig.step_env(
        &ws,
        "push",
        push_event("refs/tags/v1.2.4", &tagged),
        &[("command", "release"), ("sha", &tagged), ("build", "auto")],
        &[("GITHUB_SHA", &tagged)],
    );
    assert_eq!(s.run.code, 1, "{}", s.run.transcript());
    assert!(
        s.run.stderr.contains(&format!(
            "the workspace holds commit {head}, not {tagged}, the commit being released"
        )),
        "{}",
        s.run.stderr
    );
    let client = rig.reg.client();
    assert!(
        client
            .get_manifest("acme/hello", &format!("sha-{tagged}"))
            .unwrap()
            .is_none()
    );
    assert!(
        client
            .get_manifest("acme/hello", "prd-1.2.4")
            .unwrap()
            .is_none()
    );
    assert!(rig.gh.pulls(REPO).unwrap().is_empty());
}

/// `build: auto` end to end on a real Docker Engine: the commit has no build, so
/// BuildKit builds it (a cache mount, a secret, `target`, a build arg from the
/// config and one from the input), the log shows each step once and never the
/// secret, and the release carries the pushed digest into the overlay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_auto_builds_with_buildkit_and_releases_the_digest() {
    const SECRET: &str = "s3cr3t-of-the-build-0123456789abcdef";
    let config = CONFIG.replace(
        "    context: app\n",
        "    context: app\n    target: app\n    build-args:\n      FROM_CONFIG: config-value\n",
    );
    let dockerfile = "FROM localhost/busybox AS app\nARG FROM_CONFIG\nARG FROM_INPUT\nRUN --mount=type=cache,target=/cache sh -c 'echo run >> /cache/runs'\nRUN --mount=type=secret,id=token sh -c 'wc -c < /run/secrets/token > /secret-length'\nRUN echo \"$FROM_CONFIG $FROM_INPUT\" > /args\nCOPY hello.txt /hello.txt\n\nFROM scratch AS unused\nCOPY missing.txt /\n";
    let reg = TestRegistry::start(Auth::Token).unwrap();
    let host = reg.host();
    let mut rig = Rig::with_files(&config, reg, &host, &[("app/Dockerfile", dockerfile)]);
    let engine = DockerEngine::start().unwrap();
    engine.import_busybox("localhost/busybox").unwrap();
    rig.engine = Some(engine);
    let ws = rig.checkout("ws", "main");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    let s = rig
        .step(
            &ws,
            "push",
            push_event("refs/heads/feature/kit", &sha),
            &[
                ("command", "release"),
                ("build-args", "FROM_INPUT=input-value"),
                ("build-secrets", &format!("token={SECRET}")),
                ("build-network", "none"),
            ],
        )
        .ok();
    let log = s.run.transcript();
    assert_eq!(s.out("built"), "true", "{log}");
    assert!(log.contains("building with BuildKit"), "{log}");
    // The runner is told to mask it, and it appears nowhere else.
    let mask = format!("::add-mask::{SECRET}");
    assert!(log.contains(&mask), "{log}");
    assert!(!log.replace(&mask, "").contains(SECRET), "{log}");
    let steps: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("[app 2/5] RUN --mount=type=cache"))
        .collect();
    assert_eq!(steps.len(), 1, "one line for the step:\n{log}");
    assert!(steps[0].contains(": DONE "), "{log}");
    assert!(!log.contains("\"vertexes\""), "no JSON in the log:\n{log}");
    let digest = s.out("digest").to_string();
    assert_eq!(
        rig.reg
            .client()
            .get_manifest("acme/hello", &format!("sha-{sha}"))
            .unwrap()
            .map(|(_, b)| gitops_testkit::registry::digest_of(&b)),
        Some(digest.clone())
    );
    let overlay = rig.overlay("dev");
    assert_eq!(entry_line(&overlay, "digest:"), format!("digest: {digest}"));
    let local = format!("{}:sha-{sha}", rig.image);
    let engine = rig.engine.as_ref().unwrap();
    let out = engine
        .cli(&[
            "run",
            "--rm",
            "--network",
            "none",
            &local,
            "sh",
            "-c",
            "cat /args /secret-length",
        ])
        .unwrap();
    assert_eq!(out, format!("config-value input-value\n{}\n", SECRET.len()));
}
