//! The journeys, each a scenario on the workflow runner
//! (`gitops_testkit::workflow`): this repository's `.github/workflows/*.yaml` executed the
//! way GitHub runs them, against the GitHub stand-in, a registry with token auth and,
//! for builds, podman. A scenario is what a person does (click Run workflow, approve,
//! merge, push); every run after that follows GitHub's event rules, and the asserts
//! are what the person sees: runs and their annotations, step summaries, PRs with
//! reviewers and labels, deployments, the overlays on `main`, registry tags and
//! digests, and the API calls of each run.

mod journeys;
mod layouts;
mod monorepo;
mod round2;
mod round2b;
mod round2c;
mod round2d;
mod two_repos;

use std::path::PathBuf;

use gitops_testkit::github::{GitHubStandIn, PullInfo, TokenGrants};
use gitops_testkit::podman::PodmanService;
use gitops_testkit::registry::{TestRegistry, digest_of};
use gitops_testkit::seed::{as_refs, example_repository};
use gitops_testkit::workflow::{ActionMode, Person, RunRecord, Runner};

pub const BIN: &str = env!("CARGO_BIN_EXE_gitops-action");
pub const REPO: &str = "acme/app";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Seed 000's chain with user reviewers (team rules have their own scenario);
/// `IMAGE` becomes the local registry's repository.
pub const CONFIG_000: &str = r#"overlays: overlays
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
    branches: ["test/uat"]
    tag: "tst-{sha7}-{timestamp}"
    reviewers: ["alice"]
    labels: ["uat"]
    merge: never
  - name: prod
    tags: ["v*"]
    tag: "prd-{version}"
    reviewers: ["bob"]
    merge: never
"#;

/// The repository a team would have: the bundled example's overlays pointed at the
/// local registry, a buildable app, the config, and this repository's shipped
/// workflows, copied as users copy them.
pub struct Rig {
    pub gh: GitHubStandIn,
    pub reg: TestRegistry,
    pub image: String,
    pub podman: Option<PodmanService>,
    pub alice: Person,
    pub bob: Person,
}

impl Rig {
    pub fn new(config: &str) -> Rig {
        Rig::with(config, &[])
    }

    /// With extra overlays (`staging`, `beta`: copies of uat).
    pub fn with(config: &str, extra_envs: &[&str]) -> Rig {
        // GHCR's rules; the package is acme/app's, whose CI builds and publishes it
        // (the publishing repository gets admin on its package).
        let reg = TestRegistry::start_ghcr().unwrap();
        reg.grant_actions_access("acme/hello", REPO, true);
        let image = format!("{}/acme/hello", reg.host());
        let gh = GitHubStandIn::start_blocking().unwrap();
        let root = repo_root();
        let mut files = example_repository(&root, &image, config, extra_envs);
        for e in std::fs::read_dir(root.join(".github/workflows")).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            // The `.yaml` files are the ones users copy; `.yml` are this project's CI.
            if name.ends_with(".yaml") {
                files.push((
                    format!(".github/workflows/{name}"),
                    std::fs::read_to_string(&p).unwrap(),
                ));
            }
        }
        gh.create_repo(REPO, "main", &as_refs(&files)).unwrap();
        let alice = Person {
            login: "alice".into(),
            token: "ghp_aliceReleaseEngineer0123456789abcdef".into(),
        };
        let bob = Person {
            login: "bob".into(),
            token: "ghp_bobReleaseManager0123456789abcdefgh".into(),
        };
        gh.add_token(&alice.token, TokenGrants::user("alice"));
        gh.add_token(&bob.token, TokenGrants::user("bob"));
        gh.add_collaborator(REPO, "alice", "maintain").unwrap();
        gh.add_collaborator(REPO, "bob", "maintain").unwrap();
        Rig {
            gh,
            reg,
            image,
            podman: None,
            alice,
            bob,
        }
    }

    pub fn with_podman(mut self) -> Rig {
        self.podman = Some(PodmanService::start(&[self.reg.host()]).unwrap());
        self
    }

    /// The runner with our action as the binary, the registry taking job tokens as
    /// GHCR does (the action logs in with its own defaults: `GITHUB_ACTOR` and the
    /// `token` input) and podman for builds.
    pub fn runner(&self) -> Runner<'_> {
        self.runner_with(ActionMode::Binary(PathBuf::from(BIN)))
    }

    /// [`Rig::runner`] with the action run another way (the real image).
    pub fn runner_with(&self, mode: ActionMode) -> Runner<'_> {
        let mut r = Runner::new(&self.gh, REPO, &repo_root().join("action.yml"), mode).unwrap();
        r.registry = Some(&self.reg);
        r.docker_host = self.podman.as_ref().map(|p| p.docker_host());
        r
    }

    /// The build CI made of a commit: `sha-<sha>` in the registry.
    pub fn push_build(&self, sha: &str) -> String {
        self.reg
            .client()
            .push_image("acme/hello", &format!("sha-{sha}"), 2, 2048, 7)
            .unwrap()
            .digest
    }

    /// The digest of `tag`, if the registry has it.
    pub fn digest(&self, tag: &str) -> Option<String> {
        self.reg
            .client()
            .get_manifest("acme/hello", tag)
            .unwrap()
            .map(|(_, bytes)| digest_of(&bytes))
    }

    pub fn overlay(&self, env: &str) -> String {
        self.gh
            .file_at(REPO, "main", &format!("overlays/{env}/kustomization.yaml"))
            .unwrap()
            .unwrap()
    }

    /// `newTag:` of the overlay on main.
    pub fn tag_on_main(&self, env: &str) -> String {
        entry(&self.overlay(env), "newTag:")
    }

    pub fn pr(&self, head: &str) -> PullInfo {
        self.gh
            .pulls(REPO)
            .unwrap()
            .into_iter()
            .rev()
            .find(|p| p.head == head)
            .unwrap_or_else(|| panic!("no PR from {head}: {:#?}", self.gh.pulls(REPO)))
    }

    pub fn open_pr(&self, head: &str) -> Option<PullInfo> {
        self.gh
            .pulls(REPO)
            .unwrap()
            .into_iter()
            .find(|p| p.head == head && p.state == "open")
    }
}

/// The action's image, built once per test process.
pub fn image() -> &'static str {
    static IMAGE: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    match IMAGE.get_or_init(|| {
        gitops_testkit::podman::build_action_image(&repo_root()).map_err(|e| format!("{e:#}"))
    }) {
        Ok(name) => name,
        Err(e) => panic!("cannot build the action's image: {e}"),
    }
}

pub fn entry(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .map(|v| v.trim().trim_matches('"').to_string())
        .unwrap_or_default()
}

/// Each run in one line, then the details of any that did not end as expected.
pub fn expect_runs(runs: &[RunRecord], want: &[(&str, &str, &str)]) {
    let got: Vec<(String, String, String)> = runs
        .iter()
        .map(|r| (r.workflow.clone(), r.event.clone(), r.conclusion.clone()))
        .collect();
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    let detail: String = runs.iter().map(RunRecord::describe).collect();
    assert_eq!(got, want, "runs:\n{detail}");
}

/// The figures the report asks for: API calls and tool time of each run.
pub fn print_figures(label: &str, runs: &[RunRecord]) {
    for r in runs {
        eprintln!(
            "[figures] {label}: {} ({}): {} API calls, {} git requests, tool time {:.2}s",
            r.workflow,
            r.event,
            r.api_calls().len(),
            r.requests
                .iter()
                .filter(|q| q.kind == gitops_testkit::github::RequestKind::Git)
                .count(),
            r.tool_time.as_secs_f64()
        );
        for c in r.api_calls() {
            eprintln!("[figures]     {c}");
        }
    }
}
