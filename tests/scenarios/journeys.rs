//! The journeys: a newcomer's path through the shipped workflows, end to end.

use gitops_testkit::workflow::{ActionMode, RunRecord, Runner};

use crate::*;

/// Journey 1's world: `feature/x` one commit ahead of main, built by CI.
struct Journey1 {
    rig: Rig,
    sha_x: String,
    build: String,
}

fn journey1_setup() -> Journey1 {
    let rig = Rig::new(CONFIG_000);
    // Pushed and built before this story starts: no runs here.
    let sha_x = rig
        .gh
        .push_commit(REPO, "feature/x", &[("app/hello.txt", "hello from x\n")])
        .unwrap();
    let build = rig.push_build(&sha_x);
    Journey1 { rig, sha_x, build }
}

/// A person runs service-release from the Actions tab: on `main`, `ref: feature/x`.
fn journey1_click(j: &Journey1, r: &mut Runner) -> Vec<RunRecord> {
    r.click_run_workflow(
        &j.rig.alice,
        "service-release.yaml",
        "main",
        &[("service", "hello"), ("ref", "feature/x")],
    )
    .unwrap()
}

/// Journey 1: feature/x's commit is retagged (CI built it), the dev PR is merged, the
/// deploy run follows through a dispatch (a `GITHUB_TOKEN` merge starts nothing), the
/// dev deployment is recorded and the uat PR opens with its reviewers.
#[test]
fn journey1_service_release_from_the_actions_tab() {
    let j = journey1_setup();
    let rig = &j.rig;
    let main_before = rig.gh.branch_sha(REPO, "main").unwrap().unwrap();
    let mut r = rig.runner();
    let runs = journey1_click(&j, &mut r);
    print_figures("journey 1", &runs);
    expect_runs(
        &runs,
        &[
            ("service-release.yaml", "workflow_dispatch", "success"),
            ("overlay-deploy.yaml", "workflow_dispatch", "success"),
        ],
    );
    let sr = &runs[0];
    // The run is the Actions tab's: main and its tip, the inputs as strings.
    assert_eq!(sr.git_ref, "refs/heads/main");
    assert_eq!(sr.sha, main_before);
    assert_eq!(sr.actor, "alice");
    assert_eq!(sr.job("resolve").outputs["env"], "dev");
    let update = sr.job("release / update");
    assert_eq!(update.result, "success", "{}", sr.describe());
    // A called job never gets more than its caller asked for.
    assert_eq!(
        gitops_testkit::workflow::permissions::describe(&update.permissions),
        "actions: write, contents: write, packages: write, pull-requests: write"
    );
    assert_eq!(update.concurrency.as_deref(), Some("gitops-hello-dev"));
    let step = &sr.action_steps()[1];
    let tag = step.outputs["tag"].clone();
    assert!(
        tag.starts_with(&format!("dev-feature-x-{}-", &j.sha_x[..7])),
        "the release is feature/x's commit: {tag}"
    );
    assert_eq!(step.outputs["built"], "false", "CI built it: no rebuild");
    assert_eq!(step.outputs["merged"], "true");
    assert_eq!(step.outputs["dispatched"], "overlay-deploy.yaml");
    // The registry: the new tag is CI's build, byte for byte.
    assert_eq!(rig.digest(&tag).as_deref(), Some(j.build.as_str()));
    // The dev PR was merged with GITHUB_TOKEN, which started no pull_request run.
    let dev = rig.pr("release/hello/dev");
    assert!(dev.merged);
    assert_eq!(dev.merged_by.as_deref(), Some("github-actions[bot]"));
    assert!(
        r.suppressed
            .iter()
            .any(|s| s.starts_with(&format!("pull_request closed #{}", dev.number))),
        "{:?}",
        r.suppressed
    );
    assert_eq!(rig.tag_on_main("dev"), tag);
    // The deploy run came from the dispatch, as github-actions[bot], on main.
    let deploy = &runs[1];
    assert_eq!(deploy.actor, "github-actions[bot]");
    assert_eq!(
        deploy.concurrency.as_deref(),
        Some("gitops-release/hello/dev")
    );
    let deployments = rig.gh.deployments(REPO).unwrap();
    assert_eq!(deployments.len(), 1, "{deployments:#?}");
    assert_eq!(deployments[0].environment, "dev");
    // The deployment is of the overlay commit on main, carrying the image it put there.
    assert_eq!(
        Some(deployments[0].sha.clone()),
        rig.gh.branch_sha(REPO, "main").unwrap()
    );
    assert_eq!(deployments[0].payload["tag"], tag.as_str());
    assert_eq!(deployments[0].payload["digest"], j.build.as_str());
    assert_eq!(
        deployments[0].statuses.last().map(|s| s.state.as_str()),
        Some("success")
    );
    // The uat PR: open, its reviewers and labels, the tag of the same build.
    let uat = rig
        .open_pr("release/hello/uat")
        .expect("the uat PR is open");
    assert_eq!(uat.requested_reviewers, ["alice"]);
    assert_eq!(uat.labels, ["uat", "promotion"]);
    let uat_tag = entry(
        &rig.gh
            .file_at(REPO, "release/hello/uat", "overlays/uat/kustomization.yaml")
            .unwrap()
            .unwrap(),
        "newTag:",
    );
    assert!(
        uat_tag.starts_with(&format!("tst-{}-", &j.sha_x[..7])),
        "{uat_tag}"
    );
    assert_eq!(rig.digest(&uat_tag).as_deref(), Some(j.build.as_str()));
    assert!(
        deploy.summary().contains("uat"),
        "the step summary names the next environment:\n{}",
        deploy.summary()
    );
    // Every job token died with its job.
    let token = &step.env["INPUT_TOKEN"];
    assert!(token.starts_with("ghs_"));
    let status = reqwest::blocking::Client::new()
        .get(format!("{}/repos/{REPO}", rig.gh.api_url()))
        .bearer_auth(token)
        .header("user-agent", "scenario")
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 401, "a finished job's token is revoked");
}

/// The container environment our action gets, checked on the first step of journey 1
/// (the resolve step): no `GITHUB_TOKEN`, every
/// declared input as `INPUT_<NAME>` with hyphens kept and `${{ github.token }}`
/// evaluated, the allowlisted `GITHUB_*`, and `GITHUB_SHA` the dispatch branch's tip
/// even though the job checked out `feature/x`.
#[test]
fn the_action_gets_the_environment_the_runner_builds() {
    let j = journey1_setup();
    let rig = &j.rig;
    let main_tip = rig.gh.branch_sha(REPO, "main").unwrap().unwrap();
    let mut r = rig.runner();
    let runs = journey1_click(&j, &mut r);
    let sr = &runs[0];
    // Whether the step succeeds is journey 1's business.
    let resolve = sr.job("resolve");
    let checkout = &resolve.steps[0];
    assert_eq!(
        checkout.outputs["commit"], j.sha_x,
        "checkout fetched the ref's tip"
    );
    let env = &resolve.steps[1].env;
    assert!(!env.contains_key("GITHUB_TOKEN"), "{env:#?}");
    assert!(env["INPUT_TOKEN"].starts_with("ghs_"));
    assert_eq!(env["INPUT_COMMAND"], "resolve");
    assert_eq!(env["INPUT_REF"], "feature/x");
    assert_eq!(env["INPUT_DRY-RUN"], "false");
    assert_eq!(env["INPUT_MERGE-METHOD"], "squash");
    assert_eq!(env["INPUT_REGISTRY-PASSWORD"], "");
    assert_eq!(env["GITHUB_SHA"], main_tip);
    assert_eq!(env["GITHUB_REF"], "refs/heads/main");
    assert_eq!(env["GITHUB_EVENT_NAME"], "workflow_dispatch");
    assert_eq!(env["GITHUB_JOB"], "resolve");
    assert_eq!(
        env["GITHUB_ACTION_REPOSITORY"],
        "gitops-action/gitops-action"
    );
    assert_eq!(env["GITHUB_HEAD_REF"], "");
    assert_eq!(env["CI"], "true");
    let inputs = env.keys().filter(|k| k.starts_with("INPUT_")).count();
    let declared = serde_norway::from_str::<serde_json::Value>(
        &std::fs::read_to_string(repo_root().join("action.yml")).unwrap(),
    )
    .unwrap()["inputs"]
        .as_object()
        .unwrap()
        .len();
    assert_eq!(inputs, declared, "every input of action.yml, nothing else");
    for k in env.keys() {
        assert!(
            k.starts_with("INPUT_")
                || k.starts_with("GITHUB_")
                || k.starts_with("RUNNER_")
                || ["HOME", "CI"].contains(&k.as_str())
                // The runner's one deviation: the local registry named as GitHub's
                // (on GitHub the host is ghcr.io and this is unset).
                || k == "GITOPS_GHCR_HOST",
            "`{k}` is not in the runner's container environment"
        );
    }
    assert_eq!(env["GITOPS_GHCR_HOST"], j.rig.reg.host());
    // persist-credentials: false leaves no token in the checkout.
    let ws_config =
        std::fs::read_to_string(std::path::Path::new(&env["GITHUB_WORKSPACE"]).join(".git/config"))
            .unwrap();
    assert!(!ws_config.contains("extraheader"), "{ws_config}");
    assert!(!ws_config.contains("ghs_"), "{ws_config}");
}

/// Journey 2: a person approves and merges the uat PR; overlay-deploy runs on
/// `pull_request` `closed`, records the uat deployment and opens the prod PR with
/// `prd-1.2.0`, from the tag `v1.2.0` that is on the remote but not in the depth-1
/// checkout.
#[test]
fn journey2_a_person_merges_the_uat_pr() {
    let j = journey1_setup();
    let rig = &j.rig;
    let mut r = rig.runner();
    let runs = journey1_click(&j, &mut r);
    assert!(
        runs.iter().all(|r| r.conclusion == "success"),
        "{}",
        runs.iter().map(RunRecord::describe).collect::<String>()
    );
    rig.gh.git(REPO, &["tag", "v1.2.0", &j.sha_x]).unwrap();
    let uat = rig.open_pr("release/hello/uat").unwrap();
    r.approve(&rig.alice, uat.number).unwrap();
    let runs = r.merge(&rig.alice, uat.number, "squash").unwrap();
    print_figures("journey 2", &runs);
    // The push to main from the merge starts nothing (overlay-push leaves main out).
    expect_runs(&runs, &[("overlay-deploy.yaml", "pull_request", "success")]);
    let run = &runs[0];
    assert_eq!(run.concurrency.as_deref(), Some("gitops-release/hello/uat"));
    let merged = rig.pr("release/hello/uat");
    assert_eq!(run.git_ref, "refs/heads/main");
    assert_eq!(Some(run.sha.clone()), merged.merge_commit_sha);
    let deploy_env = &run.action_steps()[0].env;
    assert_eq!(deploy_env["GITHUB_HEAD_REF"], "release/hello/uat");
    assert_eq!(deploy_env["GITHUB_BASE_REF"], "main");
    let d = rig.gh.deployments(REPO).unwrap();
    let uat_d = d
        .iter()
        .find(|d| d.environment == "uat")
        .expect("uat deployment");
    assert_eq!(Some(uat_d.sha.clone()), merged.merge_commit_sha);
    assert_eq!(uat_d.payload["digest"], j.build.as_str());
    assert_eq!(
        uat_d.statuses.last().map(|s| s.state.as_str()),
        Some("success")
    );
    let prod = rig
        .open_pr("release/hello/prod")
        .expect("the prod PR is open");
    assert_eq!(prod.requested_reviewers, ["bob"]);
    let prod_tag = entry(
        &rig.gh
            .file_at(
                REPO,
                "release/hello/prod",
                "overlays/prod/kustomization.yaml",
            )
            .unwrap()
            .unwrap(),
        "newTag:",
    );
    assert_eq!(prod_tag, "prd-1.2.0");
    assert_eq!(rig.digest("prd-1.2.0").as_deref(), Some(j.build.as_str()));
}

/// Journey 3: a person approves and merges prod; the prod deployment is recorded and
/// the chain ends. Re-running any run changes nothing.
#[test]
fn journey3_a_person_merges_prod_and_reruns_change_nothing() {
    let j = journey1_setup();
    let rig = &j.rig;
    let mut r = rig.runner();
    let mut all = journey1_click(&j, &mut r);
    rig.gh.git(REPO, &["tag", "v1.2.0", &j.sha_x]).unwrap();
    let uat = rig.open_pr("release/hello/uat").unwrap();
    r.approve(&rig.alice, uat.number).unwrap();
    all.extend(r.merge(&rig.alice, uat.number, "squash").unwrap());
    let prod = rig.open_pr("release/hello/prod").expect("the prod PR");
    r.approve(&rig.bob, prod.number).unwrap();
    let runs = r.merge(&rig.bob, prod.number, "squash").unwrap();
    print_figures("journey 3", &runs);
    expect_runs(&runs, &[("overlay-deploy.yaml", "pull_request", "success")]);
    all.extend(runs);
    let d = rig.gh.deployments(REPO).unwrap();
    assert!(
        d.iter()
            .any(|d| d.environment == "prod" && d.payload["tag"] == "prd-1.2.0"),
        "{d:#?}"
    );
    assert_eq!(rig.tag_on_main("prod"), "prd-1.2.0");
    // The chain ends: no PR is open.
    let open: Vec<_> = rig
        .gh
        .pulls(REPO)
        .unwrap()
        .into_iter()
        .filter(|p| p.state == "open")
        .collect();
    assert!(open.is_empty(), "{open:#?}");
    // Re-run every run: nothing changes on main, in PRs, in what each environment
    // runs, in the registry, or in how many deployments there are (a re-run deploy
    // adds a status to its first attempt's deployment).
    let state = |rig: &Rig| {
        let mut latest = std::collections::BTreeMap::new();
        for d in rig.gh.deployments(REPO).unwrap() {
            latest.insert(
                d.environment.clone(),
                (
                    d.payload["tag"].clone(),
                    d.payload["digest"].clone(),
                    d.statuses.last().map(|s| s.state.clone()),
                ),
            );
        }
        (
            rig.gh.branch_sha(REPO, "main").unwrap(),
            rig.gh.pulls(REPO).unwrap(),
            rig.gh.deployments(REPO).unwrap().len(),
            latest,
            rig.digest("prd-1.2.0"),
        )
    };
    let before = state(rig);
    for run in &all {
        let again = r.rerun(run).unwrap();
        print_figures("journey 3, re-run", &again);
        assert_eq!(
            (again[0].id, again[0].attempt),
            (run.id, 2),
            "a re-run is the same run"
        );
        for a in &again {
            assert_eq!(a.conclusion, "success", "{}", a.describe());
        }
    }
    assert_eq!(before, state(rig));
}

/// Seed 002's environments: every push reaches its environment, nothing promotes.
pub(crate) const CONFIG_002: &str = r#"overlays: overlays
services:
  hello:
    image: IMAGE
    context: app
environments:
  - name: dev
    branches: ["**", "!main", "!test/**"]
    tag: "dev-{branch}-{sha7}-{timestamp}"
    merge: auto
    next: null
  - name: uat
    branches: ["test/uat"]
    tag: "tst-{sha7}-{timestamp}"
    merge: auto
    next: null
  - name: beta
    tags: ["v*-beta*"]
    tag: "beta-{version}"
    merge: auto
    next: null
  - name: prod
    tags: ["v*", "!v*-*"]
    tag: "prd-{version}"
    merge: auto
    next: null
"#;

/// Journey 4: seed 002's flow through the push workflow. A push to a feature branch,
/// then to `test/uat`, then the tags `v1.3.0-beta1` and `v1.3.0`: each reaches its
/// environment (merged PR, deployment), only the first push builds.
#[test]
fn journey4_seed_002_pushes_reach_their_environments() {
    let rig = Rig::with(CONFIG_002, &["beta"]).with_podman();
    let mut r = rig.runner();
    let alice = &rig.alice;
    let (sha, runs) = r
        .push(alice, "feature/y", &[("app/hello.txt", "hello from y\n")])
        .unwrap();
    print_figures("journey 4, feature/y", &runs);
    expect_runs(
        &runs,
        &[
            ("overlay-push.yaml", "push", "success"),
            ("overlay-deploy.yaml", "workflow_dispatch", "success"),
        ],
    );
    let first = &runs[0].action_steps()[1];
    assert_eq!(first.outputs["built"], "true", "{}", runs[0].describe());
    let built = rig.digest(&format!("sha-{sha}"));
    let mut steps = vec![("dev", first.outputs["tag"].clone())];
    for (what, env) in [
        ("test/uat", "uat"),
        ("v1.3.0-beta1", "beta"),
        ("v1.3.0", "prod"),
    ] {
        let runs = if what.starts_with('v') {
            r.push_tag(alice, what, &sha).unwrap()
        } else {
            r.push_ref(alice, what, &sha).unwrap()
        };
        print_figures(&format!("journey 4, {what}"), &runs);
        expect_runs(
            &runs,
            &[
                ("overlay-push.yaml", "push", "success"),
                ("overlay-deploy.yaml", "workflow_dispatch", "success"),
            ],
        );
        let step = &runs[0].action_steps()[1];
        assert_eq!(step.outputs["env"], env);
        assert_eq!(step.outputs["built"], "false", "only the first push builds");
        steps.push((env, step.outputs["tag"].clone()));
    }
    let deployments = rig.gh.deployments(REPO).unwrap();
    for (env, tag) in &steps {
        assert_eq!(&rig.tag_on_main(env), tag, "{env}");
        assert_eq!(rig.digest(tag), built, "{env}: {tag} is the first build");
        assert!(
            deployments.iter().any(|d| &d.environment == env
                && d.payload["tag"] == tag.as_str()
                && d.statuses.last().is_some_and(|s| s.state == "success")),
            "{env}: {deployments:#?}"
        );
    }
    assert_eq!(steps[2].1, "beta-1.3.0-beta1");
    assert_eq!(steps[3].1, "prd-1.3.0");
}

/// Journey 5: rollback from the Actions tab. Two pushes to a feature branch put two
/// versions on dev; overlay-rollback with `steps: 1` puts the first back through a
/// merged `rollback` PR, and the deploy run records it.
#[test]
fn journey5_rollback_from_the_actions_tab() {
    let rig = Rig::new(CONFIG_002);
    journey5(&rig, &mut rig.runner());
}

/// Journey 5 with our action as the real image under podman: the runner's mounts
/// (`/github/workspace`, `/github/home`, `/github/workflow`, `/github/file_commands`,
/// `/github/runner_temp`), `-e NAME` for each variable, the workspace owned by uid 1001
/// and the action running as root.
#[test]
fn journey5_in_the_real_image() {
    let rig = Rig::new(CONFIG_002);
    let mut r = rig.runner_with(ActionMode::Image {
        image: image().to_string(),
        docker_socket: None,
    });
    journey5(&rig, &mut r);
    let step = r.runs[0].action_steps()[0].clone();
    assert_eq!(step.env["GITHUB_WORKSPACE"], "/github/workspace");
    assert_eq!(step.env["HOME"], "/github/home");
    assert!(step.env["GITHUB_OUTPUT"].starts_with("/github/file_commands/set_output_"));
}

fn journey5(rig: &Rig, r: &mut Runner) {
    let alice = &rig.alice;
    let mut tags = Vec::new();
    for text in ["one\n", "two\n"] {
        let sha = rig
            .gh
            .push_commit(REPO, "side", &[("app/hello.txt", text)])
            .unwrap();
        rig.push_build(&sha);
        let runs = r.push_ref(alice, "feature/z", &sha).unwrap();
        expect_runs(
            &runs,
            &[
                ("overlay-push.yaml", "push", "success"),
                ("overlay-deploy.yaml", "workflow_dispatch", "success"),
            ],
        );
        tags.push(rig.tag_on_main("dev"));
    }
    assert_ne!(tags[0], tags[1]);
    let runs = r
        .click_run_workflow(
            alice,
            "overlay-rollback.yaml",
            "main",
            &[("service", "hello"), ("env", "dev"), ("steps", "1")],
        )
        .unwrap();
    print_figures("journey 5", &runs);
    expect_runs(
        &runs,
        &[
            ("overlay-rollback.yaml", "workflow_dispatch", "success"),
            ("overlay-deploy.yaml", "workflow_dispatch", "success"),
        ],
    );
    assert_eq!(runs[0].concurrency.as_deref(), Some("gitops-hello-dev"));
    assert_eq!(rig.tag_on_main("dev"), tags[0]);
    let pr = rig.pr("release/hello/dev");
    assert!(pr.merged);
    assert!(pr.labels.contains(&"rollback".to_string()), "{pr:#?}");
    let d = rig.gh.deployments(REPO).unwrap();
    assert_eq!(d.len(), 3, "{d:#?}");
    assert_eq!(d.last().unwrap().environment, "dev");
}

/// Journey 6: required checks on `main`, PRs made with `GITHUB_TOKEN`. No check run
/// starts for such a PR (GitHub creates at most a run awaiting approval), so an
/// auto-merge would wait forever: the user is told so, with the fix (an App token).
#[test]
fn journey6_required_checks_with_github_token_prs() {
    let rig = Rig::new(CONFIG_002);
    rig.gh
        .protect_branch(
            REPO,
            "main",
            gitops_testkit::github::Protection::checks(&["ci"]),
        )
        .unwrap();
    // The team's CI, which reports the `ci` check on every PR.
    rig.gh
        .push_commit(
            REPO,
            "main",
            &[(
                ".github/workflows/checks.yaml",
                "name: ci\non: pull_request\npermissions:\n  contents: read\njobs:\n  ci:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make test\n",
            )],
        )
        .unwrap();
    let mut r = rig.runner();
    let sha = rig
        .gh
        .push_commit(REPO, "side", &[("app/hello.txt", "checked\n")])
        .unwrap();
    rig.push_build(&sha);
    let runs = r.push_ref(&rig.alice, "feature/c", &sha).unwrap();
    print_figures("journey 6", &runs);
    // The release run, then the check's run on the PR, waiting for a person.
    expect_runs(
        &runs,
        &[
            ("overlay-push.yaml", "push", "success"),
            ("checks.yaml", "pull_request", "action_required"),
        ],
    );
    let pr = rig.pr("release/hello/dev");
    assert_eq!(pr.state, "open");
    assert!(
        r.suppressed
            .iter()
            .any(|s| s.starts_with(&format!("pull_request opened #{}", pr.number))),
        "{:?}",
        r.suppressed
    );
    let notes: Vec<String> = runs[0]
        .annotations()
        .into_iter()
        .filter(|a| a.level == "warning")
        .map(|a| a.message)
        .collect();
    assert!(
        notes
            .iter()
            .any(|m| m.contains("ci") && m.contains("GITHUB_TOKEN") && m.contains("App")),
        "a warning names the check that will not run and the App-token fix: {notes:#?}\n{}",
        runs[0].describe()
    );
    assert!(
        runs[0].summary().contains("GITHUB_TOKEN"),
        "{}",
        runs[0].summary()
    );
}

/// Journey 7a: a workflow missing a permission. overlay-deploy without
/// `deployments: write`: GitHub answers 403 "Resource not accessible by integration",
/// and the error names the permission to add.
#[test]
fn journey7_a_missing_permission_is_named() {
    let rig = Rig::new(CONFIG_002);
    let deploy =
        std::fs::read_to_string(repo_root().join(".github/workflows/overlay-deploy.yaml")).unwrap();
    let without: String = deploy
        .lines()
        .filter(|l| !l.trim_start().starts_with("deployments: write"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without, deploy);
    rig.gh
        .push_commit(
            REPO,
            "main",
            &[(".github/workflows/overlay-deploy.yaml", &without)],
        )
        .unwrap();
    let mut r = rig.runner();
    let sha = rig
        .gh
        .push_commit(REPO, "side", &[("app/hello.txt", "perm\n")])
        .unwrap();
    rig.push_build(&sha);
    let runs = r.push_ref(&rig.alice, "feature/p", &sha).unwrap();
    expect_runs(
        &runs,
        &[
            ("overlay-push.yaml", "push", "success"),
            ("overlay-deploy.yaml", "workflow_dispatch", "failure"),
        ],
    );
    let deploy = &runs[1];
    assert!(
        deploy
            .api_calls()
            .iter()
            .any(|c| c.starts_with("POST /repos/acme/app/deployments ") && c.ends_with(" 403")),
        "{:#?}",
        deploy.api_calls()
    );
    let step = &deploy.action_steps()[0];
    assert_eq!(step.exit_code, Some(1), "{}", deploy.describe());
    let text = format!("{}{}", step.stdout, step.stderr);
    assert!(
        text.contains("deployments: write"),
        "the error names the permission:\n{text}"
    );
    assert!(rig.gh.deployments(REPO).unwrap().is_empty());
}

/// Journey 7b: a team rule under `GITHUB_TOKEN`. The token cannot read organization
/// teams (GitHub answers the membership check 404 to it, the stand-in 403 until 13a's
/// change); the error says it is the token's limit and how to fix it, not "not a member".
#[test]
fn journey7_a_team_rule_under_github_token_names_the_token_limit() {
    let config = CONFIG_002.replace(
        "    tag: \"prd-{version}\"\n",
        "    tag: \"prd-{version}\"\n    allowed:\n      teams: [\"acme/release-managers\"]\n",
    );
    let rig = Rig::new(&config);
    rig.gh
        .add_team_member("acme/release-managers", "alice", "member");
    let mut r = rig.runner();
    let sha = rig
        .gh
        .push_commit(REPO, "side", &[("app/hello.txt", "teams\n")])
        .unwrap();
    rig.push_build(&sha);
    let runs = r.push_tag(&rig.alice, "v2.0.0", &sha).unwrap();
    expect_runs(&runs, &[("overlay-push.yaml", "push", "failure")]);
    let step = &runs[0].action_steps()[1];
    let errors: Vec<String> = step
        .annotations
        .iter()
        .filter(|a| a.level == "error")
        .map(|a| a.message.clone())
        .collect();
    let text = format!("{errors:?}{}{}", step.stdout, step.stderr);
    assert!(
        text.contains("cannot read organization teams") && text.contains("App token"),
        "{}",
        runs[0].describe()
    );
    assert!(!text.contains("not a member"), "{text}");
    assert!(rig.open_pr("release/hello/prod").is_none());
}
