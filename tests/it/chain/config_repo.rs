//! The config-repository layout: the code's repository (`acme/hello`) releases into
//! a separate GitOps repository (`acme/gitops`) that holds the rules and the
//! overlays, and the chain (deploy, promotion) runs there. Two repositories on the
//! GitHub stand-in, a workflow token scoped to its own repository (as GitHub's is)
//! and a GitHub App installation token on both.

use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_testkit::github::{GitHubStandIn, TokenGrants};
use gitops_testkit::registry::{Auth, PASSWORD, TestRegistry, USER};
use gitops_testkit::seed::{as_refs, example_repository};

use super::{CONFIG, Step, clean_env, entry_line};
use crate::util::{BIN, Run, checkout_depth1, git, parse_outputs, repo_root};

const APP: &str = "acme/hello";
const CFG: &str = "acme/gitops";
/// The code repository's workflow token: it sees `acme/hello` only.
const JOB: &str = "ghs_jobTokenOfTheHelloRepository0123456789";
/// A GitHub App installed on both repositories (actions/create-github-app-token).
const APP_TOKEN: &str = "ghs_appTokenOnHelloAndGitops0123456789ab";
/// The same App's token without `contents: write` on the config repository.
const READ_ONLY_APP: &str = "ghs_appTokenThatMayOnlyRead0123456789abcd";
/// A token for the config repository only (fine-grained): it cannot read the code's.
const CFG_ONLY: &str = "github_pat_onlyTheGitopsRepository0123456";
/// The App's token without `deployments: write`.
const NO_DEPLOY: &str = "ghs_appTokenWithoutDeployments0123456789a";
/// Sees every repository (the tests' own checkouts).
const ADMIN: &str = "ghp_adminOfTheOrganization0123456789abcde";

struct Two {
    gh: GitHubStandIn,
    reg: TestRegistry,
    image: String,
    _scratch: tempfile::TempDir,
    scratch: PathBuf,
}

/// The config of the GitOps repository: seed 000's chain, `hello`'s code in `APP`.
fn config() -> String {
    CONFIG.replace(
        "    image: IMAGE\n",
        &format!("    image: IMAGE\n    repository: {APP}\n"),
    )
}

impl Two {
    fn new() -> Two {
        let reg = TestRegistry::start(Auth::Token).unwrap();
        let image = format!("{}/acme/hello", reg.host());
        let gh = GitHubStandIn::start_blocking().unwrap();
        let files = example_repository(&repo_root(), &image, &config(), &[]);
        // The config repository: the rules and the overlays, and its deploy workflow.
        let mut cfg: Vec<(String, String)> = files
            .iter()
            .filter(|(p, _)| p.starts_with("overlays/") || p == ".github/gitops.yaml")
            .cloned()
            .collect();
        cfg.push((
            ".github/workflows/overlay-deploy.yaml".into(),
            "on:\n  workflow_dispatch:\n    inputs: {service: {}, env: {}}\n  pull_request:\n    types: [closed]\njobs: {}\n".into(),
        ));
        gh.create_repo(CFG, "main", &as_refs(&cfg)).unwrap();
        // The code repository: the app, and a config of its own that must never be
        // read (it would send everything to prod, merged at once, by anyone).
        let mut app: Vec<(String, String)> = files
            .iter()
            .filter(|(p, _)| p.starts_with("app/"))
            .cloned()
            .collect();
        app.push((
            ".github/gitops.yaml".into(),
            "environments:\n  - name: prod\n    branches: [\"**\"]\n    tag: \"{sha}\"\n    merge: immediate\n    overlay: evil\n".into(),
        ));
        gh.create_repo(APP, "main", &as_refs(&app)).unwrap();
        gh.add_token(JOB, TokenGrants::github_token().only(&[APP]));
        gh.add_token(
            APP_TOKEN,
            TokenGrants::app("gitops-release").only(&[APP, CFG]),
        );
        let mut ro = TokenGrants::app("gitops-release").only(&[APP, CFG]);
        ro.contents_write = false;
        ro.pull_requests_write = false;
        gh.add_token(READ_ONLY_APP, ro);
        gh.add_token(CFG_ONLY, TokenGrants::user("alice").only(&[CFG]));
        let mut nd = TokenGrants::app("gitops-release").only(&[APP, CFG]);
        nd.deployments_write = false;
        gh.add_token(NO_DEPLOY, nd);
        gh.add_token(ADMIN, TokenGrants::user("admin"));
        gh.add_collaborator(CFG, "alice", "maintain").unwrap();
        gh.add_collaborator(APP, "alice", "maintain").unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let path = scratch.path().to_path_buf();
        Two {
            gh,
            reg,
            image,
            _scratch: scratch,
            scratch: path,
        }
    }

    /// A depth-1 checkout of `full`'s `main`, its origin without credentials.
    fn checkout(&self, full: &str, name: &str) -> PathBuf {
        let (o, n) = full.split_once('/').unwrap();
        let dir = self.scratch.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        checkout_depth1(
            &dir,
            "main",
            &self.gh.git_url_with_token(o, n, ADMIN),
            &self.gh.git_url(o, n),
            &[],
        );
        dir
    }

    fn push_build(&self, sha: &str) -> String {
        self.reg
            .client()
            .push_image("acme/hello", &format!("sha-{sha}"), 2, 2048, 7)
            .unwrap()
            .digest
    }

    /// Writes the registry answered so far (manifest and blob uploads).
    fn tags(&self) -> usize {
        self.reg
            .requests()
            .iter()
            .filter(|r| matches!(r.method.as_str(), "PUT" | "POST" | "PATCH"))
            .count()
    }

    /// The binary as a step of a job in `repo` with `token`, on `event`.
    fn step(
        &self,
        repo: &str,
        ws: &Path,
        event: (&str, serde_json::Value),
        inputs: &[(&str, &str)],
    ) -> Step {
        let dir = tempfile::tempdir().unwrap();
        let event_path = dir.path().join("event.json");
        std::fs::write(&event_path, event.1.to_string()).unwrap();
        let output = dir.path().join("output");
        let summary = dir.path().join("summary");
        let mut c = Command::new(BIN);
        clean_env(&mut c);
        c.current_dir(ws)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", ws)
            .env("GITHUB_EVENT_NAME", event.0)
            .env("GITHUB_EVENT_PATH", &event_path)
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_REPOSITORY", repo)
            .env("GITHUB_REPOSITORY_OWNER", "acme")
            .env("GITHUB_API_URL", self.gh.api_url())
            .env("GITHUB_GRAPHQL_URL", self.gh.graphql_url())
            .env("GITHUB_SERVER_URL", self.gh.server_url())
            .env("GITHUB_RUN_ID", "5151")
            .env("GITHUB_ACTOR", "alice")
            .env("GITHUB_SHA", git(ws, &["rev-parse", "HEAD"]))
            .env("GITHUB_TOKEN", JOB)
            .env("INPUT_REGISTRY-USERNAME", USER)
            .env("INPUT_REGISTRY-PASSWORD", PASSWORD);
        for (k, v) in inputs {
            c.env(format!("INPUT_{}", k.to_uppercase()), v);
        }
        let run = Run::from(c.output().unwrap());
        Step {
            run,
            outputs: parse_outputs(&std::fs::read_to_string(&output).unwrap_or_default()),
            summary: std::fs::read_to_string(&summary).unwrap_or_default(),
            elapsed: std::time::Duration::ZERO,
        }
    }

    /// A push to the code repository's `main`, released into the config repository.
    fn release(&self, ws: &Path, token: &str, extra: &[(&str, &str)]) -> Step {
        let sha = git(ws, &["rev-parse", "HEAD"]);
        let push =
            serde_json::json!({"ref": "refs/heads/main", "after": sha, "before": "0".repeat(40)});
        let mut inputs = vec![
            ("command", "release"),
            ("config-repository", CFG),
            ("token", token),
        ];
        inputs.extend_from_slice(extra);
        self.step(APP, ws, ("push", push), &inputs)
    }

    fn overlay(&self, env: &str) -> String {
        self.gh
            .file_at(CFG, "main", &format!("overlays/{env}/kustomization.yaml"))
            .unwrap()
            .unwrap()
    }
}

fn merged(number: u64, head: &str, merge_sha: &str) -> (&'static str, serde_json::Value) {
    (
        "pull_request",
        serde_json::json!({
            "action": "closed",
            "number": number,
            "repository": {"full_name": CFG},
            "pull_request": {
                "number": number, "merged": true, "merge_commit_sha": merge_sha,
                "head": {"ref": head, "repo": {"full_name": CFG}},
                "base": {"ref": "main", "repo": {"full_name": CFG}},
            }
        }),
    )
}

/// A push to the code's `main` opens and merges `release/hello/dev` in the config
/// repository (its map: `main` → dev; its rules, not the code repository's), made
/// with the App token, so the merge's own event goes on to the deploy. The deploy
/// there records the deployment on the code's repository against the code's
/// commit, and opens the uat promotion in the config repository.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_in_the_code_repository_releases_into_the_config_repository() {
    let t = Two::new();
    let ws = t.checkout(APP, "app");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    let digest = t.push_build(&sha);
    let s = t
        .release(
            &ws,
            APP_TOKEN,
            &[("deploy-workflow", "overlay-deploy.yaml")],
        )
        .ok();
    assert_eq!(s.out("env"), "dev");
    assert_eq!(s.out("merged"), "true", "{}", s.run.transcript());
    assert_eq!(s.out("chained-by"), "event");
    assert_eq!(s.out("digest"), digest);
    assert!(
        s.run
            .stdout
            .contains(&format!("rules and targets: `{CFG}` at `main`")),
        "{}",
        s.run.stdout
    );
    let dev = t.overlay("dev");
    let tag = s.out("tag").to_string();
    assert_eq!(entry_line(&dev, "newTag:"), format!("newTag: {tag}"));
    let pulls = t.gh.pulls(CFG).unwrap();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    assert_eq!(pulls[0].head, "release/hello/dev");
    assert!(pulls[0].merged);
    // The run's link is to the code repository's run, where it ran.
    assert!(
        pulls[0]
            .body
            .contains(&format!("{}/actions/runs/5151", APP)),
        "{}",
        pulls[0].body
    );
    // Nothing was written to the code repository: no PR, no branch, and its own
    // config (prod, `merge: immediate`) was never read.
    assert!(t.gh.pulls(APP).unwrap().is_empty());
    assert_eq!(t.gh.branches(APP).unwrap(), ["main"]);
    assert!(
        t.gh.file_at(CFG, "main", "evil/kustomization.yaml")
            .unwrap()
            .is_none()
    );

    // The config repository's overlay-deploy on the merged PR.
    let cws = t.checkout(CFG, "cfg");
    let merge_sha = pulls[0].merge_commit_sha.clone().unwrap();
    let d = t
        .step(
            CFG,
            &cws,
            merged(pulls[0].number, "release/hello/dev", &merge_sha),
            &[("command", "deploy"), ("token", APP_TOKEN)],
        )
        .ok();
    assert_eq!(d.out("deployed"), "true");
    assert_eq!(d.out("deployment-repository"), APP);
    let recorded = t.gh.deployments(APP).unwrap();
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    assert_eq!(recorded[0].sha, sha, "against the code's commit");
    assert_eq!(recorded[0].environment, "dev");
    assert_eq!(recorded[0].payload["config"]["repository"], CFG);
    assert_eq!(recorded[0].payload["config"]["commit"], merge_sha.as_str());
    assert_eq!(
        recorded[0].payload["config"]["pull_request"],
        pulls[0].number
    );
    assert!(t.gh.deployments(CFG).unwrap().is_empty());
    // The promotion to uat opens in the config repository.
    let uat =
        t.gh.pulls(CFG)
            .unwrap()
            .into_iter()
            .find(|p| p.head == "release/hello/uat")
            .expect("the uat promotion");
    assert!(!uat.merged);
    assert_eq!(d.out("next-pr-number"), uat.number.to_string());
}

/// prod's `prd-{version}` takes the version from the code repository's SemVer tag
/// on the released commit, read through the API from the config repository's side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_tag_of_the_code_repository_names_the_prod_release() {
    let t = Two::new();
    let ws = t.checkout(APP, "app");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    t.push_build(&sha);
    t.gh.git(
        APP,
        &[
            "-c",
            "user.name=Rosa",
            "-c",
            "user.email=rosa@example.com",
            "tag",
            "-a",
            "v2.4.0",
            "-m",
            "2.4.0",
            &sha,
        ],
    )
    .unwrap();
    let s = t.release(&ws, APP_TOKEN, &[("chain", "none")]).ok();
    let uat_tag = {
        // dev → uat by the config repository's promote, then uat → prod.
        let cws = t.checkout(CFG, "cfg");
        let p = t
            .step(
                CFG,
                &cws,
                ("workflow_dispatch", serde_json::json!({})),
                &[
                    ("command", "promote"),
                    ("service", "hello"),
                    ("from", "dev"),
                    ("to", "prod"),
                    ("token", APP_TOKEN),
                ],
            )
            .ok();
        p.out("tag").to_string()
    };
    assert_eq!(uat_tag, "prd-2.4.0", "{}", s.run.stdout);
}

/// The workflow's GITHUB_TOKEN cannot write another repository: refused with exit 1
/// and a hint naming the repository and the permissions, before any registry write.
#[test]
fn a_token_that_cannot_write_the_config_repository_is_refused_before_any_write() {
    let t = Two::new();
    let ws = t.checkout(APP, "app");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    t.push_build(&sha);
    let before = t.tags();
    for (token, says) in [
        (
            JOB,
            "cannot read the config repository `acme/gitops`: the token cannot see it",
        ),
        (
            READ_ONLY_APP,
            "the token may not write the config repository `acme/gitops`: GitHub answered 403",
        ),
    ] {
        let s = t.release(&ws, token, &[]);
        assert_eq!(s.run.code, 1, "{}", s.run.transcript());
        assert!(s.run.stderr.contains(says), "{}", s.run.stderr);
        assert!(s.run.stderr.contains("hint:"), "{}", s.run.stderr);
        assert!(
            s.run.stderr.contains("acme/gitops"),
            "the hint names the repository: {}",
            s.run.stderr
        );
        let shown = s
            .run
            .stdout
            .lines()
            .chain(s.run.stderr.lines())
            .filter(|l| !l.starts_with("::add-mask::"))
            .any(|l| l.contains(token));
        assert!(!shown, "the token is masked, never shown");
        assert_eq!(t.tags(), before, "nothing pushed to the registry");
        assert!(t.gh.pulls(CFG).unwrap().is_empty());
        assert_eq!(t.gh.branches(CFG).unwrap(), ["main"]);
    }
    let s = t.release(&ws, READ_ONLY_APP, &[]);
    assert!(
        s.run
            .stderr
            .contains("`contents: write` and `pull-requests: write`"),
        "{}",
        s.run.stderr
    );
}

/// Bad input: exit 2, nothing written anywhere.
#[test]
fn bad_config_repositories_and_foreign_services_are_refused_with_exit_2() {
    let t = Two::new();
    let ws = t.checkout(APP, "app");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    t.push_build(&sha);
    let before = t.tags();
    // Not `owner/name`.
    let s = t.step(
        APP,
        &ws,
        (
            "push",
            serde_json::json!({"ref": "refs/heads/main", "after": sha}),
        ),
        &[
            ("command", "release"),
            ("config-repository", "gitops"),
            ("token", APP_TOKEN),
        ],
    );
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run
            .stderr
            .contains("input `config-repository` is `gitops`: it is not `owner/name`"),
        "{}",
        s.run.stderr
    );
    // A config repository without `.github/gitops.yaml`: named with its branch.
    t.gh.create_repo("acme/empty", "trunk", &[("README.md", "x\n")])
        .unwrap();
    t.gh.add_token(
        "ghs_emptyToo0123456789abcdefghijklmnopq",
        TokenGrants::app("x"),
    );
    let s = t.step(
        APP,
        &ws,
        (
            "push",
            serde_json::json!({"ref": "refs/heads/main", "after": sha}),
        ),
        &[
            ("command", "release"),
            ("config-repository", "acme/empty"),
            ("token", "ghs_emptyToo0123456789abcdefghijklmnopq"),
        ],
    );
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run
            .stderr
            .contains("the config repository `acme/empty` has no `.github/gitops.yaml` on `trunk`"),
        "{}",
        s.run.stderr
    );
    // A repository releasing a service whose code is another's.
    t.gh.create_repo("acme/other", "main", &[("README.md", "x\n")])
        .unwrap();
    let ows = t.checkout("acme/other", "other");
    let s = t.step(
        "acme/other",
        &ows,
        ("push", serde_json::json!({"ref": "refs/heads/main"})),
        &[
            ("command", "release"),
            ("service", "hello"),
            ("config-repository", CFG),
            ("token", APP_TOKEN),
        ],
    );
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run.stderr.contains(
            "`acme/other` may not release service `hello`: its `repository` is `acme/hello`"
        ),
        "{}",
        s.run.stderr
    );
    // The config repository's own commands need its checkout.
    let s = t.step(
        APP,
        &ws,
        ("workflow_dispatch", serde_json::json!({})),
        &[
            ("command", "deploy"),
            ("service", "hello"),
            ("env", "dev"),
            ("config-repository", CFG),
            ("token", APP_TOKEN),
        ],
    );
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run
            .stderr
            .contains("hint: run `deploy` in `acme/gitops`'s own workflows"),
        "{}",
        s.run.stderr
    );
    assert_eq!(t.tags(), before);
    assert!(t.gh.pulls(CFG).unwrap().is_empty());
}

/// A `source-token` that cannot write deployments on the code's repository: a
/// warning, and the deployment is recorded in the config repository instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_token_without_deployments_records_in_the_config_repository() {
    let t = Two::new();
    let ws = t.checkout(APP, "app");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    t.push_build(&sha);
    t.release(&ws, APP_TOKEN, &[("chain", "none")]).ok();
    let pr = t.gh.pulls(CFG).unwrap().remove(0);
    let merge_sha = pr.merge_commit_sha.clone().unwrap();
    let cws = t.checkout(CFG, "cfg");
    let d = t
        .step(
            CFG,
            &cws,
            merged(pr.number, "release/hello/dev", &merge_sha),
            &[
                ("command", "deploy"),
                ("token", APP_TOKEN),
                ("source-token", NO_DEPLOY),
                ("chain", "none"),
            ],
        )
        .ok();
    assert_eq!(d.out("deployment-repository"), CFG);
    assert!(
        d.run
            .stdout
            .contains("::warning::cannot record the deployment on `acme/hello`"),
        "{}",
        d.run.stdout
    );
    let here = t.gh.deployments(CFG).unwrap();
    assert_eq!(here.len(), 1);
    assert_eq!(here[0].sha, merge_sha);
    assert!(t.gh.deployments(APP).unwrap().is_empty());

    // A token that cannot read the code's repository at all cannot find the
    // commit: a warning that says so, and the record stays with the config.
    let d = t
        .step(
            CFG,
            &cws,
            merged(pr.number, "release/hello/dev", &merge_sha),
            &[
                ("command", "deploy"),
                ("token", CFG_ONLY),
                ("chain", "none"),
            ],
        )
        .ok();
    assert_eq!(d.out("deployment-repository"), CFG);
    assert!(
        d.run
            .stdout
            .contains("::warning::cannot find the commit of hello `dev-main-"),
        "{}",
        d.run.stdout
    );
    let _ = &t.image;
}

/// A release into the config repository beside the same release in one repository
/// (the code, the config and the overlays together), on one stand-in: GitHub
/// requests of each, by kind. The two-repository one may cost at most two more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by scripts/bench-chain"]
async fn bench_requests_two_repositories_beside_one() {
    use gitops_testkit::github::RequestKind::{Git, GraphQl, Rest};
    let t = Two::new();
    // The one-repository layout: the same files and config, `hello` its own.
    let files = example_repository(&repo_root(), &t.image, CONFIG, &[]);
    let mut mono: Vec<(String, String)> = files;
    mono.push((
        ".github/workflows/overlay-deploy.yaml".into(),
        "on:\n  workflow_dispatch:\n    inputs: {service: {}, env: {}}\n  pull_request:\n    types: [closed]\njobs: {}\n".into(),
    ));
    t.gh.create_repo("acme/mono", "main", &as_refs(&mono))
        .unwrap();
    let count = |k| t.gh.request_log().iter().filter(|r| r.kind == k).count();
    let compares = || {
        t.gh.request_log()
            .iter()
            .filter(|r| r.path.contains("/compare/"))
            .count()
    };
    // [layout][first release, second release with a changelog]
    let mut rows = Vec::new();
    for layout in ["one repository", "config repository"] {
        let mut row = Vec::new();
        for round in ["first release", "next release, changelog of 2 commits"] {
            let (repo, name) = if layout == "one repository" {
                ("acme/mono", "mono")
            } else {
                (APP, "app")
            };
            if round != "first release" {
                for i in 0..2 {
                    t.gh.push_change(
                        repo,
                        "main",
                        &[(&format!("app/next{i}.txt"), Some("x\n"))],
                        &format!("Next change {i}"),
                    )
                    .unwrap();
                }
            }
            let ws = t.checkout(repo, &format!("{name}-{}", row.len()));
            let sha = git(&ws, &["rev-parse", "HEAD"]);
            t.push_labelled_build(&sha, 10 + row.len() as u64);
            let before = (count(Rest), count(GraphQl), count(Git), compares());
            let from = t.gh.request_log().len();
            let push = serde_json::json!({"ref": "refs/heads/main", "after": sha});
            let mut inputs = vec![
                ("command", "release"),
                ("token", APP_TOKEN),
                ("deploy-workflow", "overlay-deploy.yaml"),
            ];
            if repo == APP {
                inputs.push(("config-repository", CFG));
            } else {
                inputs[1] = ("token", ADMIN);
            }
            let s = t.step(repo, &ws, ("push", push), &inputs).ok();
            assert_eq!(s.out("merged"), "true");
            let (rest, gql, g, cmp) = (
                count(Rest) - before.0,
                count(GraphQl) - before.1,
                count(Git) - before.2,
                compares() - before.3,
            );
            assert!(cmp <= 1, "the changelog costs one compare at most: {cmp}");
            row.push(rest + gql + g);
            let (_, lines) = super::github_requests(&t.gh.request_log()[from..]);
            println!(
                "BENCH requests per release, {layout}, {round}: {} in all = {rest} REST + {gql} GraphQL + {g} git, of which compare (the changelog) {cmp}\n{lines}",
                rest + gql + g
            );
        }
        rows.push(row);
    }
    // At most two requests more, and one more still for the changelog: one
    // repository's read carries the released commit's history (no compare), the
    // config repository's read cannot (the code's commits are in the other one).
    for round in 0..2 {
        assert!(
            rows[1][round] <= rows[0][round] + 3,
            "a two-repository release costs at most three requests more: {rows:?}"
        );
    }
}

/// The shipped example of this layout holds together: its config parses and its
/// targets read (`status` on the GitOps half), and every input its workflows give
/// the action is one `action.yml` declares (GitHub warns and ignores others).
#[test]
fn the_config_repository_example_is_complete() {
    let root = repo_root().join("examples/config-repo");
    let st = Command::new(BIN)
        .args(["-C"])
        .arg(root.join("gitops"))
        .arg("status")
        .env_remove("GITHUB_REPOSITORY")
        .output()
        .unwrap();
    let st = Run::from(st);
    assert_eq!(st.code, 0, "{}", st.transcript());
    assert!(st.stdout.contains("hello"), "{}", st.stdout);
    let action: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(repo_root().join("action.yml")).unwrap())
            .unwrap();
    let declared: Vec<String> = action["inputs"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str().map(String::from))
        .collect();
    let mut used = 0;
    for half in ["app", "gitops"] {
        let dir = root.join(half).join(".github/workflows");
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let wf: serde_norway::Value =
                serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for (_, job) in wf["jobs"].as_mapping().unwrap() {
                for step in job["steps"].as_sequence().into_iter().flatten() {
                    let uses = step["uses"].as_str().unwrap_or_default();
                    if !uses.starts_with("gitops-action/gitops-action@") {
                        continue;
                    }
                    used += 1;
                    for (k, _) in step["with"].as_mapping().unwrap() {
                        let k = k.as_str().unwrap();
                        assert!(
                            declared.iter().any(|d| d == k),
                            "{}: `{k}` is no input of action.yml",
                            path.display()
                        );
                    }
                    assert!(
                        step["with"]["token"].as_str().is_some(),
                        "{}: the App's token, not GITHUB_TOKEN",
                        path.display()
                    );
                }
            }
        }
    }
    assert_eq!(used, 4, "release, deploy, update and rollback");
}

/// Lost answers and dropped connections on the requests this layout adds (the push
/// check on the config repository, the code commit's lookup and the deployment on
/// the code's repository): each run either finishes or fails cleanly, and a re-run
/// converges with one PR in the config repository and one deployment of the code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_the_cross_repository_requests_converge_on_a_rerun() {
    use gitops_testkit::github::{Fault, FaultKind};
    let cases = [
        ("POST", "/repos/acme/gitops/git/blobs"),
        ("GET", "/repos/acme/hello/commits/"),
        ("POST", "/repos/acme/hello/deployments"),
    ];
    for (method, path) in cases {
        for kind in [
            FaultKind::LostAnswer,
            FaultKind::DropAfter,
            FaultKind::Status(502),
        ] {
            let t = Two::new();
            let ws = t.checkout(APP, "app");
            let sha = git(&ws, &["rev-parse", "HEAD"]);
            t.push_build(&sha);
            t.gh.inject(Fault::new(method, path, 1, kind));
            let case = format!("{method} {path} {kind:?}");
            let mut release = t.release(&ws, APP_TOKEN, &[("chain", "none")]);
            if release.run.code != 0 {
                assert_eq!(release.run.code, 1, "{case}: {}", release.run.transcript());
                assert!(release.run.stderr.contains("error:"), "{case}");
                release = t.release(&ws, APP_TOKEN, &[("chain", "none")]);
            }
            let release = release.ok();
            assert_eq!(release.out("merged"), "true", "{case}");
            let pulls = t.gh.pulls(CFG).unwrap();
            assert_eq!(pulls.len(), 1, "{case}: one PR: {pulls:#?}");
            let pr = &pulls[0];
            let cws = t.checkout(CFG, "cfg");
            let merge_sha = pr.merge_commit_sha.clone().unwrap();
            let event = || merged(pr.number, "release/hello/dev", &merge_sha);
            let inputs = [
                ("command", "deploy"),
                ("token", APP_TOKEN),
                ("source-token", APP_TOKEN),
            ];
            let d = t.step(CFG, &cws, event(), &inputs);
            if d.run.code != 0 {
                assert_eq!(d.run.code, 1, "{case}: {}", d.run.transcript());
                t.step(CFG, &cws, event(), &inputs).ok();
            }
            let deployments = t.gh.deployments(APP).unwrap();
            assert!(
                !deployments.is_empty() && deployments.iter().all(|d| d.sha == sha),
                "{case}: {deployments:#?}"
            );
            let successes = deployments
                .iter()
                .filter(|d| d.statuses.iter().any(|s| s.state == "success"))
                .count();
            assert_eq!(
                successes, 1,
                "{case}: one deployment succeeded: {deployments:#?}"
            );
            assert_eq!(
                deployments.len(),
                1,
                "{case}: no duplicate: {deployments:#?}"
            );
            assert_eq!(t.gh.faults_fired(), 1, "{case}: the fault fired");
        }
    }
}

impl Two {
    /// The build of `sha` as our builds make it: its revision label names the commit.
    fn push_labelled_build(&self, sha: &str, seed: u64) -> String {
        self.reg
            .client()
            .push_image_labelled(
                "acme/hello",
                &format!("sha-{sha}"),
                1,
                1024,
                seed,
                ("linux", "amd64"),
                &[("org.opencontainers.image.revision", sha)],
            )
            .unwrap()
            .digest
    }

    /// The body of the newest `release/hello/dev` PR of the config repository.
    fn newest_dev_body(&self) -> String {
        self.gh
            .pulls(CFG)
            .unwrap()
            .into_iter()
            .filter(|p| p.head == "release/hello/dev")
            .max_by_key(|p| p.number)
            .expect("a dev PR")
            .body
    }

    /// Compare requests since `from` in the request log, with their paths.
    fn compares_since(&self, from: usize) -> Vec<String> {
        self.gh.request_log()[from..]
            .iter()
            .filter(|r| r.path.contains("/compare/"))
            .map(|r| r.path.clone())
            .collect()
    }
}

/// The release PR in the config repository lists the code repository's commits
/// since the running version (found from the running tag's `{sha7}`):
/// linked short shas, inert subjects, authors, `#N` pointing at the code's
/// repository (not the config repository, where the PR lives), no closing keyword
/// left, and one compare request on the code's repository.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_pr_lists_the_code_commits_since_the_running_version() {
    let t = Two::new();
    let ws = t.checkout(APP, "app");
    let first = git(&ws, &["rev-parse", "HEAD"]);
    t.push_labelled_build(&first, 1);
    t.release(&ws, APP_TOKEN, &[("chain", "none")]).ok();
    for (i, msg) in [
        "Fix the login redirect (#12)",
        "fixes #3: @rosa please look",
        "![x](https://evil.example/p.png) <b>hi</b>",
    ]
    .into_iter()
    .enumerate()
    {
        t.gh.push_change(
            APP,
            "main",
            &[(&format!("app/change{i}.txt"), Some("x\n"))],
            msg,
        )
        .unwrap();
    }
    let ws = t.checkout(APP, "app2");
    let second = git(&ws, &["rev-parse", "HEAD"]);
    t.push_labelled_build(&second, 2);
    let from = t.gh.request_log().len();
    let s = t.release(&ws, APP_TOKEN, &[("chain", "none")]).ok();
    assert_eq!(s.out("merged"), "true", "{}", s.run.transcript());
    let body = t.newest_dev_body();
    let web = format!("{}/{APP}", t.gh.server_url());
    assert!(body.contains("### Commits (3)\n"), "{body}");
    assert!(
        body.contains(&format!(
            "In `{APP}`, oldest first, from `{}` (the running tag's commit) to `{}`:",
            &first[..7],
            &second[..7]
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!("[{APP}#12]({web}/pull/12)")),
        "#12 points at the code's repository: {body}"
    );
    assert!(body.contains(&format!("[{APP}#3]({web}/pull/3)")), "{body}");
    assert!(body.contains("f\u{200B}ixes"), "{body}");
    assert!(!body.contains(&format!("{CFG}#")), "{body}");
    assert!(body.contains("— `Someone Else`"), "the author: {body}");
    assert!(
        body.contains(&format!(
            "[Compare]({web}/compare/{}...{second})",
            &first[..7]
        )),
        "{body}"
    );
    for line in body.lines().filter(|l| l.contains("evil.example")) {
        assert!(line.contains('`'), "inert: {line}");
    }
    let compares = t.compares_since(from);
    assert_eq!(compares.len(), 1, "{compares:?}");
    assert!(
        compares[0].starts_with(&format!("/repos/{APP}/compare/{}...{second}", &first[..7])),
        "{compares:?}"
    );
}

/// Without a revision label the running tag's `{sha7}` is the old commit; more than
/// 50 commits list the oldest 50 and count the rest; one compare request still.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_change_lists_fifty_and_the_tags_commit_starts_it() {
    let t = Two::new();
    let ws = t.checkout(APP, "app");
    let first = git(&ws, &["rev-parse", "HEAD"]);
    t.push_build(&first);
    t.release(&ws, APP_TOKEN, &[("chain", "none")]).ok();
    for i in 0..61 {
        t.gh.push_change(
            APP,
            "main",
            &[("app/counter.txt", Some(&format!("{i}\n")))],
            &format!("Step {i}"),
        )
        .unwrap();
    }
    let ws = t.checkout(APP, "app2");
    let second = git(&ws, &["rev-parse", "HEAD"]);
    t.push_build(&second);
    let from = t.gh.request_log().len();
    t.release(&ws, APP_TOKEN, &[("chain", "none")]).ok();
    let body = t.newest_dev_body();
    assert!(body.contains("### Commits (61)\n"), "{body}");
    assert!(
        body.contains(&format!(
            "from `{}` (the running tag's commit) to `{}`",
            &first[..7],
            &second[..7]
        )),
        "{body}"
    );
    assert!(
        body.contains("`Step 0`") && body.contains("`Step 49`"),
        "{body}"
    );
    assert!(!body.contains("`Step 50`"), "{body}");
    assert!(
        body.contains("- … and 11 more, newer ([compare]("),
        "{body}"
    );
    assert_eq!(t.compares_since(from).len(), 1);
}

/// A running version whose commit GitHub does not know (the example's overlay
/// names a commit of another history): the body says so and the release goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_old_commit_is_said_and_the_release_goes_on() {
    let t = Two::new();
    let ws = t.checkout(APP, "app");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    t.push_build(&sha);
    let s = t.release(&ws, APP_TOKEN, &[("chain", "none")]).ok();
    assert_eq!(s.out("merged"), "true");
    let body = t.newest_dev_body();
    assert!(
        body.contains(&format!(
            "No commit list: GitHub did not compare `9fceb02` with `{}` in `{APP}`.",
            &sha[..7]
        )),
        "{body}"
    );
}

/// The config repository's files are untrusted as the checkout's are: a target
/// file that is a symbolic link there, or one too large to edit, is exit 2 naming
/// the file, with nothing pushed to the registry or written to either repository.
#[test]
fn a_linked_or_oversized_target_in_the_config_repository_is_refused() {
    let t = Two::new();
    let ws = t.checkout(APP, "app");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    t.push_build(&sha);
    let overlay = "overlays/dev/kustomization.yaml";
    t.gh.push_link(CFG, "main", overlay, "../../../etc/passwd")
        .unwrap();
    let tip = t.gh.branch_sha(CFG, "main").unwrap();
    let before = t.tags();
    let s = t.release(&ws, APP_TOKEN, &[]);
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run
            .stderr
            .contains(&format!("`{overlay}` is a symbolic link in the repository")),
        "{}",
        s.run.stderr
    );
    assert!(s.run.stderr.contains("hint:"), "{}", s.run.stderr);
    assert_eq!(t.tags(), before, "nothing pushed to the registry");
    assert_eq!(t.gh.branch_sha(CFG, "main").unwrap(), tip);
    assert!(t.gh.pulls(CFG).unwrap().is_empty());

    // Too large: a file of 5 MiB in place of the overlay (more than the 4 MiB we edit).
    let big = format!("images: []\n#{}\n", "x".repeat(5 << 20));
    t.gh.push_commit(CFG, "main", &[(overlay, &big)]).unwrap();
    let tip = t.gh.branch_sha(CFG, "main").unwrap();
    let s = t.release(&ws, APP_TOKEN, &[]);
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(s.run.stderr.contains(overlay), "{}", s.run.stderr);
    assert!(
        s.run
            .stderr
            .contains("more than the 4194304 this action reads"),
        "{}",
        s.run.stderr
    );
    assert_eq!(t.tags(), before);
    assert_eq!(t.gh.branch_sha(CFG, "main").unwrap(), tip);
    assert!(t.gh.pulls(CFG).unwrap().is_empty());
}

/// `changed` from the code's repository with `config-repository`: the services and
/// their `paths:` are the config repository's (its own code's config is never
/// read), only the services whose code is this repository's are listed, and the
/// commits are compared in this repository (one request on a depth-1 checkout).
#[test]
fn changed_in_the_code_repository_takes_the_config_repositorys_services() {
    let t = Two::new();
    let first = t.gh.branch_sha(APP, "main").unwrap().unwrap();
    t.gh.push_change(
        APP,
        "main",
        &[("app/new.txt", Some("x\n"))],
        "Touch the app",
    )
    .unwrap();
    let ws = t.checkout(APP, "app");
    let second = git(&ws, &["rev-parse", "HEAD"]);
    let push = |before: &str, after: &str| {
        (
            "push",
            serde_json::json!({"ref": "refs/heads/main", "before": before, "after": after,
                "head_commit": {"id": after}}),
        )
    };
    let inputs = [
        ("command", "changed"),
        ("config-repository", CFG),
        ("token", APP_TOKEN),
    ];
    let from = t.gh.request_log().len();
    let s = t.step(APP, &ws, push(&first, &second), &inputs).ok();
    assert_eq!(s.out("services"), r#"["hello"]"#, "{}", s.run.transcript());
    let compares = t.compares_since(from);
    assert_eq!(compares.len(), 1, "{compares:?}");
    assert!(
        compares[0].starts_with(&format!("/repos/{APP}/compare/")),
        "{compares:?}"
    );
    // A change outside the service's paths: none.
    let third =
        t.gh.push_change(APP, "main", &[("README.md", Some("docs\n"))], "Docs")
            .unwrap();
    let ws = t.checkout(APP, "app3");
    let s = t.step(APP, &ws, push(&second, &third), &inputs).ok();
    assert_eq!(s.out("services"), "[]", "{}", s.run.transcript());
    // A repository none of whose services the config repository holds: exit 2.
    t.gh.create_repo("acme/other", "main", &[("README.md", "x\n")])
        .unwrap();
    let base = t.gh.branch_sha("acme/other", "main").unwrap().unwrap();
    let tip =
        t.gh.push_change("acme/other", "main", &[("app/x.txt", Some("x\n"))], "Other")
            .unwrap();
    let ows = t.checkout("acme/other", "other");
    let s = t.step("acme/other", &ows, push(&base, &tip), &inputs);
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run
            .stderr
            .contains("has no service whose `repository` is `acme/other`"),
        "{}",
        s.run.stderr
    );
    assert!(s.run.stderr.contains("hint:"), "{}", s.run.stderr);
}
