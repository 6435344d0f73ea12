//! `changed` as a workflow step runs it: the real binary with `INPUT_*`, the
//! event file and `GITHUB_OUTPUT`/`GITHUB_STEP_SUMMARY`, against the GitHub
//! stand-in, whose request log is the count of what each case costs.
//!
//! The checkout is `actions/checkout`'s: depth 1 by default ("Only a single
//! commit is fetched by default", actions/checkout README), the full history with
//! `fetch-depth: 0`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_testkit::github::{GitHubStandIn, RequestKind, TokenGrants};

use crate::util::{BIN, Run, checkout_depth1, git, parse_outputs};

const REPO: &str = "acme/mono";
const TOKEN: &str = "ghs_changedTokenOfTheWorkflow0123456789ab";
const ZERO: &str = "0000000000000000000000000000000000000000";

/// Three services: two by their context alone (the default `paths:`), one with
/// its Dockerfile outside the context, and one with its own `paths:`.
const CONFIG: &str = r#"overlays: overlays
services:
  api:
    image: ghcr.io/acme/api
    context: services/api
  web:
    image: ghcr.io/acme/web
    context: services/web
  worker:
    image: ghcr.io/acme/worker
    context: services/worker
    dockerfile: ../../docker/worker.Dockerfile
  docs:
    image: ghcr.io/acme/docs
    paths: ["docs/**", "!docs/**/*.tmp"]
environments:
  - name: dev
    branches: ["**"]
    tag: "dev-{sha7}"
"#;

struct Rig {
    gh: GitHubStandIn,
    _scratch: tempfile::TempDir,
    scratch: PathBuf,
}

struct Step {
    run: Run,
    outputs: BTreeMap<String, String>,
    summary: String,
}

impl Rig {
    fn new(config: &str) -> (Rig, String) {
        let gh = GitHubStandIn::start_blocking().unwrap();
        let first = gh
            .create_repo(
                REPO,
                "main",
                &[
                    (".github/gitops.yaml", config),
                    ("overlays/dev/kustomization.yaml", "images: []\n"),
                    ("services/api/main.go", "package main\n"),
                    ("services/api/Dockerfile", "FROM scratch\n"),
                    ("services/web/index.html", "<p>hi</p>\n"),
                    ("services/web/Dockerfile", "FROM scratch\n"),
                    ("services/worker/run.py", "print()\n"),
                    ("docker/worker.Dockerfile", "FROM scratch\n"),
                    ("docs/index.md", "# docs\n"),
                    ("README.md", "# mono\n"),
                ],
            )
            .unwrap();
        gh.add_token(TOKEN, TokenGrants::github_token());
        let scratch = tempfile::tempdir().unwrap();
        let path = scratch.path().to_path_buf();
        (
            Rig {
                gh,
                _scratch: scratch,
                scratch: path,
            },
            first,
        )
    }

    fn push(&self, branch: &str, files: &[(&str, &str)]) -> String {
        self.gh.push_commit(REPO, branch, files).unwrap()
    }

    /// `actions/checkout` with the default `fetch-depth: 1`.
    fn shallow(&self, name: &str, branch: &str) -> PathBuf {
        let dir = self.scratch.join(name);
        checkout_depth1(
            &dir,
            branch,
            &self.gh.git_url_with_token("acme", "mono", TOKEN),
            &self.gh.git_url("acme", "mono"),
            &[],
        );
        dir
    }

    /// `actions/checkout` with `fetch-depth: 0`: every branch, all history.
    fn full(&self, name: &str, branch: &str) -> PathBuf {
        let dir = self.scratch.join(name);
        let url = self.gh.git_url_with_token("acme", "mono", TOKEN);
        git(
            &self.scratch,
            &["clone", "-q", "-b", branch, &url, dir.to_str().unwrap()],
        );
        git(
            &dir,
            &[
                "remote",
                "set-url",
                "origin",
                &self.gh.git_url("acme", "mono"),
            ],
        );
        dir
    }

    /// The binary as the `changed` step of a job; the log starts empty.
    fn step(
        &self,
        ws: &Path,
        event: &str,
        payload: serde_json::Value,
        inputs: &[(&str, &str)],
    ) -> Step {
        self.gh.reset_log();
        let dir = tempfile::tempdir().unwrap();
        let event_path = dir.path().join("event.json");
        std::fs::write(&event_path, payload.to_string()).unwrap();
        let output = dir.path().join("output");
        let summary = dir.path().join("summary");
        let mut c = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("GITHUB_") || k.starts_with("INPUT_") || k.starts_with("RUNNER_") {
                c.env_remove(k);
            }
        }
        c.current_dir(ws)
            .env("NO_COLOR", "1")
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
            .env("GITHUB_SHA", git(ws, &["rev-parse", "HEAD"]))
            .env("GITHUB_TOKEN", TOKEN)
            .env("INPUT_TOKEN", TOKEN)
            .env("INPUT_COMMAND", "changed");
        for (k, v) in inputs {
            c.env(format!("INPUT_{}", k.to_uppercase()), v);
        }
        let run = Run::from(c.output().unwrap());
        Step {
            run,
            outputs: parse_outputs(&std::fs::read_to_string(&output).unwrap_or_default()),
            summary: std::fs::read_to_string(&summary).unwrap_or_default(),
        }
    }

    /// (REST + GraphQL, git) requests since the step began, and the REST paths.
    fn cost(&self) -> (usize, usize, Vec<String>) {
        let log = self.gh.request_log();
        let paths = log
            .iter()
            .filter(|r| r.kind == RequestKind::Rest)
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        (self.gh.api_calls(), self.gh.git_requests(), paths)
    }
}

impl Step {
    fn ok(&self) -> &Step {
        assert_eq!(self.run.code, 0, "{}", self.run.transcript());
        self
    }
    fn services(&self) -> Vec<String> {
        let s = self.outputs.get("services").unwrap_or_else(|| {
            panic!("no `services` output\n{}", self.run.transcript());
        });
        serde_json::from_str(s).unwrap()
    }
}

fn push_event(branch: &str, before: &str, after: &str) -> serde_json::Value {
    serde_json::json!({
        "ref": format!("refs/heads/{branch}"),
        "before": before,
        "after": after,
        "repository": {"full_name": REPO, "default_branch": "main"},
    })
}

/// A push to `main` the full checkout holds both ends of: the trees are compared
/// locally, nothing is asked of GitHub.
#[test]
fn push_with_both_commits_in_the_checkout_asks_nothing() {
    let (rig, first) = Rig::new(CONFIG);
    let after = rig.push(
        "main",
        &[
            ("services/api/main.go", "package main // 2\n"),
            ("docker/worker.Dockerfile", "FROM scratch\nUSER 1\n"),
            ("docs/notes.tmp", "scratch\n"),
        ],
    );
    let ws = rig.full("full", "main");
    let s = rig.step(&ws, "push", push_event("main", &first, &after), &[]);
    s.ok();
    assert_eq!(s.services(), ["api", "worker"], "{}", s.run.transcript());
    assert_eq!(s.outputs["count"], "2");
    assert_eq!(rig.cost(), (0, 0, vec![]));
    let summary = s
        .summary
        .replace(&first[..7], "<before>")
        .replace(&after[..7], "<after>");
    insta::assert_snapshot!(summary);
}

/// The usual push on the default depth-1 checkout: one compare request.
#[test]
fn push_on_a_depth_1_checkout_is_one_compare_request() {
    let (rig, first) = Rig::new(CONFIG);
    let after = rig.push("main", &[("services/web/index.html", "<p>2</p>\n")]);
    let ws = rig.shallow("ws", "main");
    let s = rig.step(&ws, "push", push_event("main", &first, &after), &[]);
    s.ok();
    assert_eq!(s.services(), ["web"]);
    let (api, gitr, paths) = rig.cost();
    assert_eq!((api, gitr), (1, 0), "{paths:?}");
    assert_eq!(
        paths,
        [format!("GET /repos/{REPO}/compare/{first}...{after}")]
    );
}

/// 301 files: GitHub's compare lists 300, so the two trees are read as well.
#[test]
fn a_change_past_300_files_reads_the_two_trees() {
    let (rig, first) = Rig::new(CONFIG);
    let mut names: Vec<String> = (0..300)
        .map(|i| format!("services/web/f{i:03}.txt"))
        .collect();
    // Sorted last, so the compare's cut drops it: only the trees can tell.
    names.push("services/worker/zz.txt".into());
    let files: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "x\n")).collect();
    let after = rig.push("main", &files);
    let ws = rig.shallow("ws", "main");
    let s = rig.step(&ws, "push", push_event("main", &first, &after), &[]);
    s.ok();
    assert_eq!(s.services(), ["web", "worker"], "{}", s.run.transcript());
    let (api, gitr, paths) = rig.cost();
    assert_eq!((api, gitr), (3, 0), "{paths:?}");
    assert!(paths[0].contains("/compare/"), "{paths:?}");
    assert!(
        paths[1..].iter().all(|p| p.contains("/git/trees/")),
        "{paths:?}"
    );
    assert!(s.summary.contains("| `web` | 300 |"), "{}", s.summary);
}

/// A new branch (`before` all zeros) against the default branch from their merge
/// base: what `main` gained since the fork is not the branch's change.
#[test]
fn a_new_branch_is_compared_with_the_default_branch_from_the_merge_base() {
    let (rig, _) = Rig::new(CONFIG);
    let head = rig.push(
        "feature",
        &[("services/api/main.go", "package main // f\n")],
    );
    rig.push(
        "main",
        &[("services/web/index.html", "<p>main moved</p>\n")],
    );
    let ws = rig.shallow("ws", "feature");
    let s = rig.step(&ws, "push", push_event("feature", ZERO, &head), &[]);
    s.ok();
    assert_eq!(s.services(), ["api"], "{}", s.run.transcript());
    let (api, gitr, paths) = rig.cost();
    // The base's rules (one GraphQL read: the checkout is not the base) and the compare.
    assert_eq!((api, paths.len()), (2, 1), "{paths:?}");
    assert_eq!(gitr, 0, "{paths:?}");
    assert!(
        paths.contains(&format!("GET /repos/{REPO}/compare/main...{head}")),
        "{paths:?}"
    );
    // The same from a full checkout: the merge base is found locally.
    let full = rig.full("full", "feature");
    let s = rig.step(&full, "push", push_event("feature", ZERO, &head), &[]);
    s.ok();
    assert_eq!(s.services(), ["api"], "{}", s.run.transcript());
    assert_eq!(rig.cost().0, 0, "{:?}", rig.cost().2);
}

/// A pull request is base...head, as its "Files changed" tab: the base's later
/// commits do not count.
#[test]
fn a_pull_request_is_the_three_dot_compare() {
    let (rig, _) = Rig::new(CONFIG);
    let head = rig.push("topic", &[("docs/guide.md", "# guide\n")]);
    let base = rig.push("main", &[("services/api/main.go", "package main // m\n")]);
    let event = serde_json::json!({
        "action": "opened",
        "number": 7,
        "pull_request": {
            "number": 7,
            "base": {"ref": "main", "sha": base},
            "head": {"ref": "topic", "sha": head},
        },
        "repository": {"full_name": REPO, "default_branch": "main"},
    });
    let ws = rig.shallow("ws", "topic");
    let s = rig.step(&ws, "pull_request", event, &[]);
    s.ok();
    assert_eq!(s.services(), ["docs"], "{}", s.run.transcript());
    let (api, gitr, paths) = rig.cost();
    assert_eq!((api, paths.len()), (2, 1), "{paths:?}");
    assert_eq!(gitr, 0);
    assert!(
        paths.contains(&format!("GET /repos/{REPO}/compare/{base}...{head}")),
        "{paths:?}"
    );
}

/// `workflow_dispatch` with `from` and `to` (a branch name and a sha).
#[test]
fn workflow_dispatch_takes_from_and_to() {
    let (rig, _) = Rig::new(CONFIG);
    rig.push("release", &[]);
    let mid = rig.push("main", &[("services/worker/run.py", "print(2)\n")]);
    let ws = rig.full("full", "main");
    let event = serde_json::json!({
        "inputs": {"from": "release", "to": mid},
        "ref": "refs/heads/main",
        "repository": {"full_name": REPO, "default_branch": "main"},
    });
    let s = rig.step(
        &ws,
        "workflow_dispatch",
        event,
        &[("from", "release"), ("to", &mid)],
    );
    s.ok();
    assert_eq!(s.services(), ["worker"], "{}", s.run.transcript());
    assert_eq!(rig.cost().0, 0, "{:?}", rig.cost().2);
    // The inputs alone, from the event, do the same.
    let event = serde_json::json!({
        "inputs": {"from": "release", "to": mid},
        "ref": "refs/heads/main",
        "repository": {"full_name": REPO, "default_branch": "main"},
    });
    let s = rig.step(&ws, "workflow_dispatch", event, &[]);
    s.ok();
    assert_eq!(s.services(), ["worker"]);
    assert_eq!(rig.cost().0, 0, "{:?}", rig.cost().2);
    // Dispatched on another branch, the rules are still the default branch's:
    // asked of GitHub, as every moving command does.
    let event = serde_json::json!({
        "inputs": {"from": "release", "to": mid},
        "ref": "refs/heads/release",
        "repository": {"full_name": REPO, "default_branch": "main"},
    });
    let s = rig.step(&ws, "workflow_dispatch", event, &[]);
    s.ok();
    assert_eq!(s.services(), ["worker"]);
    assert_eq!(rig.cost().0, 1, "{:?}", rig.cost().2);
}

/// A change no service's `paths:` covers: `[]`, and the summary says so.
#[test]
fn an_empty_change_is_an_empty_array() {
    let (rig, first) = Rig::new(CONFIG);
    let after = rig.push(
        "main",
        &[("README.md", "# mono 2\n"), ("docs/draft.tmp", "x\n")],
    );
    let ws = rig.full("full", "main");
    let s = rig.step(&ws, "push", push_event("main", &first, &after), &[]);
    s.ok();
    assert_eq!(s.outputs["services"], "[]");
    assert_eq!(s.outputs["count"], "0");
    assert!(s.summary.contains("No service changed"), "{}", s.summary);
}

/// A `paths:` glob that does not parse: exit 2 naming the file, line and value,
/// with a hint; nothing asked of GitHub.
#[test]
fn a_bad_glob_is_exit_2_with_its_place() {
    let bad = CONFIG.replace(
        r#"paths: ["docs/**", "!docs/**/*.tmp"]"#,
        r#"paths: ["docs/{a", "!docs/**/*.tmp"]"#,
    );
    let (rig, first) = Rig::new(&bad);
    let after = rig.push("main", &[("docs/index.md", "# 2\n")]);
    let ws = rig.full("full", "main");
    let s = rig.step(&ws, "push", push_event("main", &first, &after), &[]);
    let t = s.run.transcript();
    assert_eq!(s.run.code, 2, "{t}");
    assert!(t.contains(".github/gitops.yaml:"), "{t}");
    let line = bad.lines().position(|l| l.contains("docs/{a")).unwrap() + 1;
    assert!(t.contains(&format!("gitops.yaml:{line}")), "{t}");
    assert!(t.contains("docs/{a"), "{t}");
    assert!(t.contains("hint:"), "{t}");
    assert!(!s.outputs.contains_key("services"), "{t}");
    assert_eq!(rig.cost().0, 0);
}

/// Event payloads without the commits: exit 2 with a hint, no request.
#[test]
fn an_event_without_its_commits_is_exit_2() {
    let (rig, first) = Rig::new(CONFIG);
    let ws = rig.full("full", "main");
    for (event, payload, says) in [
        (
            "push",
            serde_json::json!({"ref": "refs/heads/main", "after": first}),
            "no `before`",
        ),
        (
            "push",
            serde_json::json!({"ref": "refs/heads/main", "before": "HEAD~1", "after": first}),
            "not a commit sha",
        ),
        (
            "pull_request",
            serde_json::json!({"pull_request": {"base": {"ref": "main"}, "head": {"sha": first}}}),
            "pull_request.base.sha",
        ),
        (
            "workflow_dispatch",
            serde_json::json!({"inputs": {}}),
            "`from` and `to`",
        ),
    ] {
        let s = rig.step(&ws, event, payload, &[]);
        let t = s.run.transcript();
        assert_eq!(s.run.code, 2, "{event}: {t}");
        assert!(t.contains(says), "{event}: {t}");
        assert!(t.contains("hint:"), "{event}: {t}");
        assert!(!s.outputs.contains_key("services"), "{event}: {t}");
        assert_eq!(rig.cost().0, 0, "{event}");
    }
}

/// `examples/monorepo/`: its config and workflow, as a user copies them. A push
/// touching two of the three services gives exactly those two, and the workflow
/// feeds them to the matrix, one concurrency group per service.
#[test]
fn the_monorepo_example_releases_what_changed() {
    let root = crate::util::repo_root().join("examples/monorepo");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    let gh = GitHubStandIn::start_blocking().unwrap();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let first = gh.create_repo(REPO, "main", &refs).unwrap();
    gh.add_token(TOKEN, TokenGrants::github_token());
    let scratch = tempfile::tempdir().unwrap();
    let rig = Rig {
        gh,
        scratch: scratch.path().to_path_buf(),
        _scratch: scratch,
    };
    let after = rig.push(
        "main",
        &[
            ("services/api/main.go", "package main // 2\n"),
            ("shared/proto/jobs.proto", "syntax = \"proto3\"; // 2\n"),
            ("services/web/NOTES.txt", "x\n"),
        ],
    );
    // Each service is touched: api and web in their contexts, the worker through
    // its extra `paths:` (shared/proto).
    let ws = rig.shallow("ws", "main");
    let s = rig.step(&ws, "push", push_event("main", &first, &after), &[]);
    s.ok();
    assert_eq!(s.services(), ["api", "web", "worker"]);
    let after2 = rig.push(
        "main",
        &[
            ("services/api/main.go", "package main // 3\n"),
            ("services/worker/README.md", "# worker\n"),
            ("shared/proto/jobs.proto", "syntax = \"proto3\"; // 3\n"),
        ],
    );
    // Two of three: the worker's README is excluded by its `!` glob, but the
    // shared proto counts; web is untouched.
    let ws2 = rig.shallow("ws2", "main");
    let s = rig.step(&ws2, "push", push_event("main", &after, &after2), &[]);
    s.ok();
    assert_eq!(s.services(), ["api", "worker"], "{}", s.run.transcript());
    assert_eq!(rig.cost().0, 1);

    let wf: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(root.join(".github/workflows/release.yaml")).unwrap(),
    )
    .unwrap();
    let job = &wf["jobs"]["release"];
    assert_eq!(
        job["strategy"]["matrix"]["service"].as_str(),
        Some("${{ fromJSON(needs.changed.outputs.services) }}")
    );
    assert_eq!(
        job["if"].as_str(),
        Some("needs.changed.outputs.services != '[]'")
    );
    assert!(
        job["concurrency"]["group"]
            .as_str()
            .unwrap()
            .contains("${{ matrix.service }}")
    );
    assert_eq!(
        wf["jobs"]["changed"]["outputs"]["services"].as_str(),
        Some("${{ steps.changed.outputs.services }}")
    );
}
