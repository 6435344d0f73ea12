//! The failures of a first real run, each driven the way GitHub
//! runs our Docker action, not the way our own code would like it:
//!
//! - the container's environment is built like the runner's (actions/runner
//!   src/Runner.Worker/Handlers/ContainerActionHandler.cs `RunAsync`): the allowlisted
//!   `GITHUB_*` variables (GitHubContext.cs `_contextEnvAllowlist`, which has no
//!   `token`, so there is no `GITHUB_TOKEN` variable), `INPUT_<NAME>` with hyphens
//!   kept for every input of action.yml, defaults evaluated (`${{ github.token }}`),
//!   `""` for inputs without one (Handler.cs `AddInputsToEnvironment`,
//!   ActionRunner.cs `RunAsync`), and nothing else from the host;
//! - the checkout is what actions/checkout makes by default: depth 1, `--no-tags`
//!   (src/git-command-manager.ts `fetch`), and for a `ref:` input the ref's tip on a
//!   local branch of that name (src/ref-helper.ts `getCheckoutInfo`), owned by the
//!   runner user while the action runs as root;
//! - `workflow_dispatch` has `GITHUB_REF`/`GITHUB_SHA` of the branch chosen in "Use
//!   workflow from", not of the `ref` input (docs "Events that trigger workflows",
//!   workflow_dispatch);
//! - the token is an installation token: the stand-in answers team reads with 404 and
//!   team reviewers with 422, as GitHub does (see its handlers for the threads).
//!
//! `GITOPS_ACTION_BIN` runs another build of the binary (to see a test fail on the
//! code before a fix).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_testkit::github::{GitHubStandIn, TokenGrants};
use gitops_testkit::registry::{Auth, PASSWORD, TestRegistry, USER};

use crate::util::{BIN, Run, checkout_depth1, chown_runner, git, parse_outputs, repo_root};

const REPO: &str = "acme/app";
/// The job's `GITHUB_TOKEN`, an installation token.
const TOKEN: &str = "ghs_firstRunJobToken0123456789abcdefghij";
/// A GitHub App installation token that may read the organization's teams.
const APP: &str = "ghs_firstRunAppToken0123456789abcdefghij";

const CONFIG: &str = r#"overlays: overlays
services:
  hello:
    image: IMAGE
environments:
  - name: dev
    branches: ["**", "!test/**"]
    tag: "dev-{branch}-{sha7}-{timestamp}"
    merge: auto
  - name: uat
    branches: ["test/uat"]
    tag: "tst-{sha7}-{timestamp}"
    reviewers: ["alice", "acme/qa"]
    merge: never
  - name: prod
    tags: ["v*"]
    tag: "prd-{version}"
    reviewers: ["alice"]
    merge: never
    allowed:
      users: ["alice"]
      teams: ["acme/release-managers"]
"#;

fn overlay(image: &str, tag: &str, digest: Option<&str>) -> String {
    let digest = digest
        .map(|d| format!("    digest: {d}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\nimages:\n  - name: {image}\n    newTag: {tag}\n{digest}"
    )
}

struct Rig {
    gh: GitHubStandIn,
    reg: TestRegistry,
    image: String,
    scratch: tempfile::TempDir,
}

impl Rig {
    fn new() -> Rig {
        let reg = TestRegistry::start(Auth::Token).unwrap();
        let image = format!("{}/acme/hello", reg.host());
        let gh = GitHubStandIn::start_blocking().unwrap();
        let config = CONFIG.replace("IMAGE", &image);
        let dev = overlay(&image, "dev-main-0000000-1", None);
        let uat = overlay(&image, "tst-0000000-1", None);
        let prod = overlay(&image, "prd-0.0.1", None);
        gh.create_repo(
            REPO,
            "main",
            &[
                (".github/gitops.yaml", config.as_str()),
                ("overlays/dev/kustomization.yaml", dev.as_str()),
                ("overlays/uat/kustomization.yaml", uat.as_str()),
                ("overlays/prod/kustomization.yaml", prod.as_str()),
                ("app/hello.txt", "hello\n"),
            ],
        )
        .unwrap();
        gh.add_token(TOKEN, TokenGrants::github_token());
        gh.add_token(APP, TokenGrants::user("release-app[bot]"));
        gh.add_collaborator(REPO, "alice", "maintain").unwrap();
        gh.add_team_member("acme/qa", "alice", "member");
        gh.add_team_member("acme/release-managers", "rosa", "member");
        Rig {
            gh,
            reg,
            image,
            scratch: tempfile::tempdir().unwrap(),
        }
    }

    fn tip(&self, branch: &str) -> String {
        self.gh.branch_sha(REPO, branch).unwrap().unwrap()
    }

    /// actions/checkout with its defaults: `ref`'s tip at depth 1 on a local branch of
    /// that name, no tags, no credentials left, owned by the runner user (uid 1001).
    fn checkout(&self, name: &str, branch: &str) -> PathBuf {
        let dir = self.scratch.path().join(name);
        checkout_depth1(
            &dir,
            branch,
            &self.gh.git_url_with_token("acme", "app", TOKEN),
            &self.gh.git_url("acme", "app"),
            &["--no-tags"],
        );
        chown_runner(&dir);
        dir
    }

    /// The build CI made of a commit: `sha-<sha>` in the registry.
    fn push_build(&self, sha: &str) -> String {
        self.reg
            .client()
            .push_image("acme/hello", &format!("sha-{sha}"), 1, 512, 3)
            .unwrap()
            .digest
    }

    /// Our action as a step of a job: the container's environment and nothing else.
    fn step(&self, job: &Job, ws: &Path, with: &[(&str, &str)]) -> Step {
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path();
        std::fs::create_dir_all(files.join("home")).unwrap();
        let event_path = files.join("event.json");
        std::fs::write(&event_path, job.payload.to_string()).unwrap();
        let bin = std::env::var("GITOPS_ACTION_BIN").unwrap_or_else(|_| BIN.to_string());
        let mut c = Command::new(bin);
        c.env_clear().current_dir(ws);
        let (ref_name, ref_type) = match job.github_ref.strip_prefix("refs/tags/") {
            Some(t) => (t.to_string(), "tag"),
            None => (
                job.github_ref.trim_start_matches("refs/heads/").to_string(),
                "branch",
            ),
        };
        let vars: Vec<(&str, String)> = vec![
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("HOME", files.join("home").display().to_string()),
            ("CI", "true".into()),
            ("NO_COLOR", "1".into()),
            ("GITHUB_ACTIONS", "true".into()),
            ("GITHUB_ACTOR", job.actor.into()),
            ("GITHUB_TRIGGERING_ACTOR", job.actor.into()),
            ("GITHUB_API_URL", self.gh.api_url()),
            ("GITHUB_GRAPHQL_URL", self.gh.graphql_url()),
            ("GITHUB_SERVER_URL", self.gh.server_url()),
            ("GITHUB_EVENT_NAME", job.event.into()),
            ("GITHUB_EVENT_PATH", event_path.display().to_string()),
            ("GITHUB_OUTPUT", files.join("output").display().to_string()),
            (
                "GITHUB_STEP_SUMMARY",
                files.join("summary").display().to_string(),
            ),
            ("GITHUB_ENV", files.join("env").display().to_string()),
            ("GITHUB_PATH", files.join("path").display().to_string()),
            ("GITHUB_STATE", files.join("state").display().to_string()),
            ("GITHUB_REF", job.github_ref.clone()),
            ("GITHUB_REF_NAME", ref_name),
            ("GITHUB_REF_TYPE", ref_type.into()),
            ("GITHUB_REF_PROTECTED", "false".into()),
            ("GITHUB_SHA", job.github_sha.clone()),
            ("GITHUB_REPOSITORY", REPO.into()),
            ("GITHUB_REPOSITORY_OWNER", "acme".into()),
            ("GITHUB_RUN_ID", "1313".into()),
            ("GITHUB_RUN_NUMBER", "1".into()),
            ("GITHUB_RUN_ATTEMPT", "1".into()),
            ("GITHUB_WORKFLOW", "first-run".into()),
            ("GITHUB_JOB", "step".into()),
            ("GITHUB_WORKSPACE", ws.display().to_string()),
            ("RUNNER_OS", "Linux".into()),
            ("RUNNER_TEMP", files.display().to_string()),
        ];
        for (k, v) in vars {
            c.env(k, v);
        }
        for (name, value) in action_inputs(with, job.token) {
            c.env(format!("INPUT_{}", name.to_uppercase()), value);
        }
        let run = Run::from(c.output().unwrap());
        assert!(!run.stderr.contains("panicked"), "{}", run.transcript());
        Step {
            outputs: parse_outputs(
                &std::fs::read_to_string(files.join("output")).unwrap_or_default(),
            ),
            summary: std::fs::read_to_string(files.join("summary")).unwrap_or_default(),
            run,
        }
    }
}

/// The context of a job: its event and the token the job was given.
struct Job {
    event: &'static str,
    payload: serde_json::Value,
    github_ref: String,
    github_sha: String,
    actor: &'static str,
    token: &'static str,
}

impl Job {
    /// "Run workflow" from the Actions tab on `main`, with workflow inputs.
    fn dispatch(rig: &Rig, inputs: serde_json::Value) -> Job {
        Job {
            event: "workflow_dispatch",
            payload: serde_json::json!({"inputs": inputs, "ref": "refs/heads/main"}),
            github_ref: "refs/heads/main".into(),
            github_sha: rig.tip("main"),
            actor: "alice",
            token: TOKEN,
        }
    }

    /// A person merged `release/hello/<env>` (pull_request closed: GITHUB_SHA is the
    /// merge commit, GITHUB_REF the base branch).
    fn merged(number: u64, env: &str, merge_sha: &str) -> Job {
        Job {
            event: "pull_request",
            payload: serde_json::json!({
                "action": "closed",
                "number": number,
                "pull_request": {
                    "number": number,
                    "merged": true,
                    "merge_commit_sha": merge_sha,
                    // The head's repository is the one the deploy checks against
                    // a fork's (GitHub's pull_request webhook payload carries it;
                    // null for a deleted fork).
                    "head": {
                        "ref": format!("release/hello/{env}"),
                        "repo": {"full_name": REPO},
                    },
                    "base": {"ref": "main", "repo": {"full_name": REPO}},
                }
            }),
            // docs "Events that trigger workflows", pull_request: `GITHUB_REF` is
            // `refs/pull/<number>/merge`.
            github_ref: format!("refs/pull/{number}/merge"),
            github_sha: merge_sha.into(),
            actor: "alice",
            token: TOKEN,
        }
    }
}

struct Step {
    run: Run,
    outputs: BTreeMap<String, String>,
    summary: String,
}

impl Step {
    fn code(self, code: i32) -> Step {
        assert_eq!(self.run.code, code, "{}", self.run.transcript());
        self
    }
    fn out(&self, k: &str) -> &str {
        self.outputs
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no output `{k}`\n{}", self.run.transcript()))
    }
}

/// Every input of action.yml as the runner passes it: the step's `with:` value, else
/// the evaluated default, else `""`.
fn action_inputs(with: &[(&str, &str)], token: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join("action.yml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let inputs = doc["inputs"].as_mapping().unwrap();
    let mut out = Vec::new();
    for (name, spec) in inputs {
        let name = name.as_str().unwrap();
        let default = match spec["default"].as_str() {
            Some("${{ github.token }}") => token.to_string(),
            Some(d) => {
                assert!(
                    !d.contains("${{"),
                    "an input default this test can't evaluate: {d}"
                );
                d.to_string()
            }
            None => String::new(),
        };
        let value = with
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_string())
            .unwrap_or(default);
        out.push((name.to_string(), value));
    }
    for (k, _) in with {
        assert!(
            out.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)),
            "`{k}` is not an input of action.yml"
        );
    }
    out
}

/// The local registry's credentials, as a workflow would pass them for a registry
/// other than ghcr.io.
const LOGIN: [(&str, &str); 2] = [("registry-username", USER), ("registry-password", PASSWORD)];

fn with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    LOGIN.iter().copied().chain(extra.iter().copied()).collect()
}

/// Failure 1: service-release is dispatched from `main` with `ref: feature/x`. The
/// checkout is feature/x at depth 1, `GITHUB_SHA` is main's tip. The release is of
/// feature/x's commit (its CI build retagged), not of `GITHUB_SHA`; before the fix it
/// exited 2 ("commit … is not in the workspace repository").
#[test]
fn a_dispatched_release_is_of_the_ref_input_not_github_sha() {
    let rig = Rig::new();
    let feature = rig
        .gh
        .push_commit(REPO, "feature/x", &[("app/hello.txt", "hello from x\n")])
        .unwrap();
    let digest = rig.push_build(&feature);
    assert_ne!(rig.tip("main"), feature);
    let job = Job::dispatch(
        &rig,
        serde_json::json!({"service": "hello", "ref": "feature/x"}),
    );

    // The `resolve` job of service-release: its checkout is `ref: feature/x`.
    let ws = rig.checkout("resolve", "feature/x");
    let s = rig
        .step(
            &job,
            &ws,
            &[
                ("command", "resolve"),
                ("service", "hello"),
                ("ref", "feature/x"),
            ],
        )
        .code(0);
    assert_eq!(s.out("sha"), feature);
    assert_eq!(s.out("env"), "dev");

    // overlay-update's job: the same checkout, `release` with `env` and `ref`.
    let ws = rig.checkout("update", "feature/x");
    let s = rig
        .step(
            &job,
            &ws,
            &with(&[
                ("command", "release"),
                ("service", "hello"),
                ("env", "dev"),
                ("ref", "feature/x"),
            ]),
        )
        .code(0);
    assert_eq!(s.out("sha"), feature);
    eprintln!(
        "release of feature/x to dev: {} API calls, {} git requests in all so far",
        s.out("api-calls"),
        rig.gh.git_requests()
    );
    assert_eq!(s.out("built"), "false", "CI's build is retagged");
    assert_eq!(s.out("digest"), digest);
    let tag = s.out("tag");
    assert!(
        tag.starts_with(&format!("dev-feature-x-{}-", &feature[..7])),
        "{tag}"
    );
    let dev = rig
        .gh
        .file_at(REPO, "main", "overlays/dev/kustomization.yaml")
        .unwrap()
        .unwrap();
    assert!(dev.contains(&format!("newTag: {tag}")), "{dev}");

    // A checkout that is not at the ref (here: main): the ref's tip on the remote,
    // fetched privately; the checkout gets no object and no ref from it.
    let ws = rig.checkout("elsewhere", "main");
    let refs_before = git(&ws, &["for-each-ref"]);
    let s = rig
        .step(
            &job,
            &ws,
            &[
                ("command", "resolve"),
                ("service", "hello"),
                ("ref", "feature/x"),
            ],
        )
        .code(0);
    assert_eq!(s.out("sha"), feature);
    assert_eq!(git(&ws, &["for-each-ref"]), refs_before);
    let has = Command::new("git")
        .args(["-c", "safe.directory=*", "cat-file", "-e", &feature])
        .current_dir(&ws)
        .status()
        .unwrap();
    assert!(!has.success(), "the commit was fetched into the checkout");

    // A `sha` the checkout lacks is fetched by sha, as GitHub serves any reachable
    // commit (actions/checkout does the same: src/ref-helper.ts `getRefSpec`).
    let s = rig
        .step(
            &job,
            &ws,
            &[
                ("command", "resolve"),
                ("service", "hello"),
                ("ref", "feature/x"),
                ("sha", &feature),
            ],
        )
        .code(0);
    assert_eq!(s.out("sha"), feature);
    assert_eq!(git(&ws, &["for-each-ref"]), refs_before);
}

/// Failure 6: a release that stops at the registry leaves a full clone full: five
/// commits, no `.git/shallow`, the same refs. Before the fix the depth-1 fetch went
/// into the checkout and left one commit and a `.git/shallow`.
#[test]
fn a_failed_release_leaves_a_full_clone_full() {
    let rig = Rig::new();
    for i in 2..=5 {
        rig.gh
            .push_commit(REPO, "main", &[("app/hello.txt", &format!("hello {i}\n"))])
            .unwrap();
    }
    let ws = rig.scratch.path().join("full");
    git(
        rig.scratch.path(),
        &[
            "clone",
            "-q",
            &rig.gh.git_url_with_token("acme", "app", TOKEN),
            ws.to_str().unwrap(),
        ],
    );
    git(
        &ws,
        &[
            "remote",
            "set-url",
            "origin",
            &rig.gh.git_url("acme", "app"),
        ],
    );
    chown_runner(&ws);
    assert_eq!(git(&ws, &["rev-list", "--count", "HEAD"]), "5");
    let refs_before = git(&ws, &["for-each-ref"]);
    let job = Job::dispatch(&rig, serde_json::json!({"service": "hello", "ref": "main"}));
    // No `sha-<sha>` build, building off, and the registry refuses the password.
    let s = rig
        .step(
            &job,
            &ws,
            &[
                ("command", "release"),
                ("service", "hello"),
                ("env", "dev"),
                ("ref", "main"),
                ("registry-username", USER),
                ("registry-password", "not-the-password"),
            ],
        )
        .code(1);
    assert!(s.run.stderr.contains("error: "), "{}", s.run.transcript());
    assert!(
        !ws.join(".git/shallow").exists(),
        "the checkout was made shallow"
    );
    assert_eq!(git(&ws, &["rev-list", "--count", "HEAD"]), "5");
    assert_eq!(git(&ws, &["for-each-ref"]), refs_before);
    assert!(rig.gh.pulls(REPO).unwrap().is_empty());
}

/// The uat overlay on main after a person merged its PR, with the image in the
/// registry; returns (source commit, merge commit, digest).
fn uat_merged(rig: &Rig) -> (String, String, String) {
    let source = rig
        .gh
        .push_commit(REPO, "main", &[("app/hello.txt", "hello 1.2.0\n")])
        .unwrap();
    let tag = format!("tst-{}-1763200000", &source[..7]);
    let digest = rig
        .reg
        .client()
        .push_image("acme/hello", &tag, 1, 512, 5)
        .unwrap()
        .digest;
    let merge = rig
        .gh
        .push_commit(
            REPO,
            "main",
            &[(
                "overlays/uat/kustomization.yaml",
                &overlay(&rig.image, &tag, Some(&digest)),
            )],
        )
        .unwrap();
    (source, merge, digest)
}

/// Failure 3: the uat deploy opens the prod PR with `prd-{version}` from the tag
/// `v1.2.0`, which exists on the remote but not in the depth-1, tagless checkout (one
/// ls-remote). Before the fix it recorded uat and then exited 2.
#[test]
fn the_uat_deploy_finds_the_version_tag_on_the_remote() {
    let rig = Rig::new();
    let (source, merge, digest) = uat_merged(&rig);
    rig.gh
        .git(
            REPO,
            &[
                "-c",
                "user.name=Rel",
                "-c",
                "user.email=rel@example.com",
                "tag",
                "-a",
                "v1.2.0",
                "-m",
                "v1.2.0",
                &source,
            ],
        )
        .unwrap();
    let ws = rig.checkout("deploy", "main");
    assert_eq!(git(&ws, &["tag"]), "", "actions/checkout fetches no tags");
    let s = rig
        .step(
            &Job::merged(7, "uat", &merge),
            &ws,
            &with(&[("command", "deploy")]),
        )
        .code(0);
    assert_eq!(s.out("deployed"), "true");
    eprintln!("uat deploy and prod PR: {} API calls", s.out("api-calls"));
    assert_eq!(s.out("next-env"), "prod");
    assert_eq!(s.out("next-tag"), "prd-1.2.0");
    let prod = rig
        .gh
        .pulls(REPO)
        .unwrap()
        .into_iter()
        .find(|p| p.head == "release/hello/prod")
        .expect("the prod PR");
    assert!(prod.title.ends_with("→ prd-1.2.0"), "{}", prod.title);
    let (_, bytes) = rig
        .reg
        .client()
        .get_manifest("acme/hello", "prd-1.2.0")
        .unwrap()
        .expect("prd-1.2.0 in the registry");
    assert_eq!(gitops_testkit::registry::digest_of(&bytes), digest);
}

/// Failure 3, second half: a commit with no SemVer tag yet is no failed deploy. The
/// deployment is recorded, exit 0, and a warning and the step summary say how to
/// promote it.
#[test]
fn a_deploy_whose_commit_has_no_version_succeeds_and_says_how_to_promote() {
    let rig = Rig::new();
    let (source, merge, _) = uat_merged(&rig);
    let ws = rig.checkout("deploy", "main");
    let s = rig
        .step(
            &Job::merged(7, "uat", &merge),
            &ws,
            &with(&[("command", "deploy")]),
        )
        .code(0);
    assert_eq!(s.out("deployed"), "true");
    assert_eq!(s.out("next-skipped"), "no-version");
    let short = &source[..7];
    assert!(
        s.run.stdout.contains(&format!(
            "::warning::not promoting hello to `prod`: its tag `prd-{{version}}` needs a version, and commit {short} has no SemVer tag"
        )),
        "{}",
        s.run.transcript()
    );
    assert!(
        s.summary.contains(&format!(
            "Not promoted to `prod`: commit `{short}` has no SemVer tag"
        )) && s.summary.contains("promote --service hello --to prod"),
        "{}",
        s.summary
    );
    let deployments = rig.gh.deployments(REPO).unwrap();
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0].environment, "uat");
    let states: Vec<&str> = deployments[0]
        .statuses
        .iter()
        .map(|s| s.state.as_str())
        .collect();
    assert_eq!(states, ["success"], "no health gate: no `in_progress`");
    assert!(rig.gh.pulls(REPO).unwrap().is_empty(), "no prod PR");
}

/// Failure 4: a team rule under `GITHUB_TOKEN`. GitHub answers the membership check
/// with 404 to an installation token without organization `members: read`, even for
/// a member (srvaroa/labeler#160). Before the fix that read as "not a member": rosa,
/// who is in the team, got a false denial (exit 2) without the App-token hint.
#[test]
fn a_team_rule_under_github_token_names_the_tokens_limit() {
    let rig = Rig::new();
    let source = rig.tip("main");
    rig.push_build(&source);
    rig.gh.git(REPO, &["tag", "v1.2.0", &source]).unwrap();
    let ws = rig.checkout("release", "main");
    let tag_push = |actor: &'static str, token: &'static str| Job {
        event: "push",
        payload: serde_json::json!({"ref": "refs/tags/v1.2.0", "after": source, "before": "0".repeat(40)}),
        github_ref: "refs/tags/v1.2.0".into(),
        github_sha: source.clone(),
        actor,
        token,
    };
    let s = rig
        .step(
            &tag_push("rosa", TOKEN),
            &ws,
            &with(&[("command", "release")]),
        )
        .code(1);
    assert!(
        s.run
            .stderr
            .contains("this token can't read team `acme/release-managers`"),
        "{}",
        s.run.transcript()
    );
    assert!(
        s.run.stderr.contains(
            "hint: `GITHUB_TOKEN` cannot read organization teams: pass a GitHub App token"
        ),
        "{}",
        s.run.transcript()
    );
    assert!(
        !s.run.stderr.contains("may not release"),
        "{}",
        s.run.stderr
    );
    assert!(rig.gh.pulls(REPO).unwrap().is_empty());

    // With a token that can read teams, a non-member is refused plainly (exit 2)...
    let s = rig
        .step(
            &tag_push("mallory", APP),
            &ws,
            &with(&[("command", "release")]),
        )
        .code(2);
    assert!(
        s.run
            .stderr
            .contains("error: `mallory` may not release to environment `prod`"),
        "{}",
        s.run.transcript()
    );
    // ...and the member goes through.
    let s = rig
        .step(
            &tag_push("rosa", APP),
            &ws,
            &with(&[("command", "release")]),
        )
        .code(0);
    assert_eq!(s.out("tag"), "prd-1.2.0");
}

/// Failure 4, reviewers: with `GITHUB_TOKEN` a team reviewer gets 422 "Could not
/// resolve to a node…" for the whole call (PyGithub/PyGithub#1499). Users and teams
/// go in separate calls, so alice is still asked and the release succeeds with a
/// warning naming the token's limit; before the fix one call carried both, and its
/// 422 dropped alice along with the team.
#[test]
fn team_reviewers_refused_to_github_token_keep_the_user_reviewers() {
    let rig = Rig::new();
    let source = rig.tip("main");
    rig.push_build(&source);
    // Dispatched from `test/uat`, the branch uat's map takes.
    rig.gh
        .git(REPO, &["update-ref", "refs/heads/test/uat", &source])
        .unwrap();
    let ws = rig.checkout("release", "test/uat");
    let mut job = Job::dispatch(&rig, serde_json::json!({"service": "hello"}));
    job.payload["ref"] = "refs/heads/test/uat".into();
    job.github_ref = "refs/heads/test/uat".into();
    let s = rig
        .step(
            &job,
            &ws,
            &with(&[("command", "release"), ("service", "hello"), ("env", "uat")]),
        )
        .code(0);
    // The token is the workflow's (`viewer` said so in the first query): the team
    // request GitHub always refuses it is not even sent.
    assert!(
        s.run.stdout.contains("::warning::could not request the team reviewers acme/qa on PR #1: GitHub refuses team reviewers to a `GITHUB_TOKEN`"),
        "{}",
        s.run.transcript()
    );
    // The user is asked by id in one GraphQL document (the id read in the PR's
    // creation); no team request, REST or GraphQL.
    let log = rig.gh.request_log();
    let rest_asks = log
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/pulls/1/requested_reviewers"))
        .count();
    let gql_asks = log
        .iter()
        .filter(|r| r.op.contains("requestReviews"))
        .count();
    assert_eq!((rest_asks, gql_asks), (0, 1), "the users' request only");
    assert!(
        s.run.stdout.contains("GitHub App token"),
        "{}",
        s.run.stdout
    );
    let pr = rig.gh.pull(REPO, 1).unwrap();
    assert_eq!(pr.head, "release/hello/uat");
    assert_eq!(pr.requested_reviewers, ["alice"]);
    assert!(pr.requested_teams.is_empty());
}

/// Failure 7: `release.yml` makes no tag for an image consumers can't pull. The
/// runner pulls `docker://ghcr.io/…:<version>` in "Set up job" with no login, and a
/// new GHCR package is private. Its check step, run as the runner runs a `run:` step
/// (`bash --noprofile --norc -eo pipefail`), passes for a registry that serves the
/// manifest anonymously and stops, saying what to do, for one that wants a login.
#[test]
fn release_yml_makes_no_tag_for_an_image_that_needs_a_login() {
    let text = std::fs::read_to_string(repo_root().join(".github/workflows/release.yml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let steps = doc["jobs"]["publish"]["steps"].as_sequence().unwrap();
    let check = steps
        .iter()
        .position(|s| s["name"].as_str() == Some("the image is pullable without a login"))
        .expect("the check step");
    let tagging = steps
        .iter()
        .position(|s| s["name"].as_str() == Some("release commit, tags"))
        .unwrap();
    assert!(check < tagging, "the check runs before any tag is made");
    let script = steps[check]["run"].as_str().unwrap();
    let run = |reg: &TestRegistry| {
        reg.client()
            .push_image("acme/gitops-action", "1.2.3", 1, 256, 9)
            .unwrap();
        let o = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("IMAGE", format!("{}/acme/gitops-action", reg.host()))
            .env("VERSION", "1.2.3")
            .output()
            .unwrap();
        Run::from(o)
    };
    let public = TestRegistry::start(Auth::None).unwrap();
    let r = run(&public);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stdout.contains("is pullable anonymously"),
        "{}",
        r.transcript()
    );
    let private = TestRegistry::start(Auth::Token).unwrap();
    let r = run(&private);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout
            .contains("cannot be pulled without a login (HTTP 401)")
            && r.stdout
                .contains("Package settings → Change visibility → Public"),
        "{}",
        r.transcript()
    );
}

/// Required checks on `main` and a PR opened with `GITHUB_TOKEN`: GitHub starts no
/// workflow for that token's events (docs "GITHUB_TOKEN", When GITHUB_TOKEN triggers
/// workflow runs), so the checks never report and auto-merge would wait forever. The
/// user is told so, in a warning and the step summary, with the fix (an App token).
/// A PR opened with an App token gets its checks, and no such warning.
#[test]
fn required_checks_under_github_token_are_named_as_never_running() {
    let rig = Rig::new();
    rig.gh
        .protect_branch(
            REPO,
            "main",
            gitops_testkit::github::Protection::checks(&["ci"]),
        )
        .unwrap();
    let source = rig.tip("main");
    rig.push_build(&source);
    let ws = rig.checkout("release", "main");
    let job = Job::dispatch(&rig, serde_json::json!({"service": "hello", "ref": "main"}));
    let s = rig
        .step(
            &job,
            &ws,
            &with(&[
                ("command", "release"),
                ("service", "hello"),
                ("env", "dev"),
                ("ref", "main"),
            ]),
        )
        .code(0);
    assert_eq!(s.out("merged"), "false");
    let note = "the required status checks (ci) of `main` will not run on PR #1: it was opened with `GITHUB_TOKEN`";
    assert!(
        s.run.stdout.contains(&format!("::warning::{note}"))
            && s.run.stdout.contains("Pass a GitHub App token as `token`"),
        "{}",
        s.run.transcript()
    );
    assert!(s.summary.contains(note), "{}", s.summary);

    // The same release in a repository like it, with an App token.
    let rig = Rig::new();
    rig.gh
        .protect_branch(
            REPO,
            "main",
            gitops_testkit::github::Protection::checks(&["ci"]),
        )
        .unwrap();
    rig.push_build(&rig.tip("main"));
    let ws = rig.checkout("release", "main");
    let app = Job {
        token: APP,
        ..Job::dispatch(&rig, serde_json::json!({"service": "hello", "ref": "main"}))
    };
    let s = rig
        .step(
            &app,
            &ws,
            &with(&[
                ("command", "release"),
                ("service", "hello"),
                ("env", "dev"),
                ("ref", "main"),
            ]),
        )
        .code(0);
    assert_eq!(s.out("merged"), "false");
    assert_eq!(rig.gh.pull(REPO, 1).unwrap().user, "release-app[bot]");
    assert!(
        !s.run.stdout.contains("will not run"),
        "{}",
        s.run.transcript()
    );
}

/// The shipped workflows grant each job what its calls need and no more (README,
/// Tokens and permissions: the call → permission table and its sources). A job that
/// merges needs `contents: write` (`PUT /pulls/{n}/merge` is a contents endpoint),
/// labels and reviewers `pull-requests: write`, GHCR `packages: write`, the dispatch
/// after a merge the tool made `actions: write`, deployments `deployments: write`.
#[test]
fn the_shipped_workflows_grant_what_their_calls_need_and_no_more() {
    let read = |f: &str| -> serde_norway::Value {
        let text = std::fs::read_to_string(repo_root().join(".github/workflows").join(f)).unwrap();
        serde_norway::from_str(&text).unwrap()
    };
    let perms = |job: &serde_norway::Value| -> BTreeMap<String, String> {
        job["permissions"]
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().unwrap().to_string(),
                    v.as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let want = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let moving = [
        ("contents", "write"),
        ("pull-requests", "write"),
        ("packages", "write"),
        ("actions", "write"),
    ];
    for f in [
        "service-release.yaml",
        "overlay-update.yaml",
        "overlay-deploy.yaml",
    ] {
        let doc = read(f);
        assert!(
            doc["permissions"]
                .as_mapping()
                .is_some_and(|m| m.is_empty()),
            "{f}: workflow-level `permissions: {{}}`, each job says its own"
        );
    }
    let sr = read("service-release.yaml");
    assert_eq!(perms(&sr["jobs"]["resolve"]), want(&[("contents", "read")]));
    assert_eq!(perms(&sr["jobs"]["release"]), want(&moving));
    let ou = read("overlay-update.yaml");
    let step = |job: &serde_norway::Value| -> serde_norway::Value {
        job["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("gitops-action/"))
            })
            .unwrap()["with"]
            .clone()
    };
    let update = &ou["jobs"]["update"];
    assert_eq!(perms(update), want(&moving));
    // `actions: write` is for the dispatch of `deploy-workflow`, which it sets.
    assert_eq!(
        step(update)["deploy-workflow"].as_str(),
        Some("overlay-deploy.yaml")
    );
    let od = read("overlay-deploy.yaml");
    let deploy = &od["jobs"]["deploy"];
    let mut with_deployments = moving.to_vec();
    with_deployments.push(("deployments", "write"));
    assert_eq!(perms(deploy), want(&with_deployments));
    assert_eq!(step(deploy)["command"].as_str(), Some("deploy"));
    assert_eq!(
        step(deploy)["deploy-workflow"].as_str(),
        Some("overlay-deploy.yaml")
    );
}

/// A step of `release.yml` by job and name, as the runner would run its `run:`.
fn release_yml_step(job: &str, name: &str) -> String {
    let text = std::fs::read_to_string(repo_root().join(".github/workflows/release.yml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    doc["jobs"][job]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no step `{name}` in job `{job}`"))["run"]
        .as_str()
        .unwrap()
        .to_string()
}

fn run_step(script: &str, dir: &Path, env: &[(&str, &str)]) -> Run {
    let mut c = Command::new("bash");
    c.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    Run::from(c.output().unwrap())
}

/// The release commit's `action.yml` names the image by the digest just built, not
/// by the version tag (which can move), so a consumer pinning that commit's SHA runs
/// exactly that image. The step runs as the runner runs it, against a real remote.
#[test]
fn release_yml_pins_the_action_image_by_digest() {
    let script = release_yml_step("publish", "release commit, tags");
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("origin.git");
    let work = dir.path().join("work");
    git(
        dir.path(),
        &["init", "-q", "--bare", origin.to_str().unwrap()],
    );
    git(
        dir.path(),
        &["init", "-q", "-b", "main", work.to_str().unwrap()],
    );
    std::fs::copy(repo_root().join("action.yml"), work.join("action.yml")).unwrap();
    git(&work, &["add", "action.yml"]);
    git(
        &work,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "main",
        ],
    );
    git(
        &work,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    let digest = format!("sha256:{}", "ab".repeat(32));
    let r = run_step(
        &script,
        &work,
        &[
            ("VERSION", "1.2.3"),
            ("IMAGE", "ghcr.io/acme/gitops-action"),
            ("DIGEST", &digest),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.transcript());
    let released = git(&origin, &["show", "v1.2.3:action.yml"]);
    let doc: serde_norway::Value = serde_norway::from_str(&released).unwrap();
    assert_eq!(
        doc["runs"]["image"].as_str(),
        Some(format!("docker://ghcr.io/acme/gitops-action@{digest}").as_str())
    );
    assert!(
        released
            .lines()
            .any(|l| l == format!("  image: docker://ghcr.io/acme/gitops-action@{digest} # 1.2.3")),
        "{released}"
    );
    assert_eq!(
        git(&origin, &["rev-parse", "v1^{commit}"]),
        git(&origin, &["rev-parse", "v1.2.3^{commit}"])
    );
    // No digest from the build: no release commit.
    let r = run_step(
        &script,
        &work,
        &[
            ("VERSION", "1.2.4"),
            ("IMAGE", "ghcr.io/acme/gitops-action"),
            ("DIGEST", ""),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout.contains("::error::no image digest from the build"),
        "{}",
        r.transcript()
    );
}

/// Dispatched from a branch other than the default one, `release.yml` stops in its
/// first step, before any build, tag or move of `v1`.
#[test]
fn release_yml_runs_only_from_the_default_branch() {
    let script = release_yml_step("image", "check the branch and the version");
    let dir = tempfile::tempdir().unwrap();
    let r = run_step(
        &script,
        dir.path(),
        &[
            ("GITHUB_REF", "refs/heads/feature/x"),
            ("DEFAULT_BRANCH", "main"),
            ("VERSION", "1.2.3"),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stdout
            .contains("::error::run this workflow from main, not refs/heads/feature/x"),
        "{}",
        r.transcript()
    );
    // From main it goes on to the version check (a bad version is its refusal).
    let r = run_step(
        &script,
        dir.path(),
        &[
            ("GITHUB_REF", "refs/heads/main"),
            ("DEFAULT_BRANCH", "main"),
            ("VERSION", "v1"),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stdout.contains("::error::version `v1` is not X.Y.Z"),
        "{}",
        r.transcript()
    );
}
