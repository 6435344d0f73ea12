//! The workflow runner, round 2 (issue 27): re-runs, token kinds and called
//! workflows' permissions as GitHub has them, each scenario failing if the runner
//! went back to its old rule (sources in docs/github-facts/events.md and
//! permissions.md; the rules beside the code in `gitops_testkit::workflow`).

use gitops_testkit::github::TokenGrants;
use gitops_testkit::workflow::{RunRecord, Runner};

use crate::*;

/// `feature/<name>` one commit ahead of main, built by CI; returns its sha.
fn built_branch(rig: &Rig, name: &str) -> String {
    let sha = rig
        .gh
        .push_commit(
            REPO,
            &format!("feature/{name}"),
            &[("app/hello.txt", &format!("hello from {name}\n"))],
        )
        .unwrap();
    rig.push_build(&sha);
    sha
}

/// service-release from the Actions tab for `feature/<name>`.
fn release(rig: &Rig, r: &mut Runner, name: &str) -> Vec<RunRecord> {
    r.click_run_workflow(
        &rig.alice,
        "service-release.yaml",
        "main",
        &[("service", "hello"), ("ref", &format!("feature/{name}"))],
    )
    .unwrap()
}

/// A repository's copy of a shipped workflow, edited (a user's choice), on main.
fn edit_workflow(rig: &Rig, file: &str, from: &str, to: &str) {
    let path = format!(".github/workflows/{file}");
    let text = rig.gh.file_at(REPO, "main", &path).unwrap().unwrap();
    let edited = text.replacen(from, to, 1);
    assert_ne!(edited, text, "{file} has no `{from}`");
    rig.gh
        .push_commit(REPO, "main", &[(&path, &edited)])
        .unwrap();
}

/// Release A reaches dev and is deployed; release B reaches dev and is deployed.
/// Someone re-runs A's deploy run: GitHub runs it on A's `GITHUB_SHA`, not main's
/// tip, as the original actor, with `GITHUB_TRIGGERING_ACTOR` the person who
/// clicked. The deploy sees dev has moved on and records nothing. Re-running B's
/// deploy (the current one) adds a status to its deployment. Before: the runner
/// re-ran a dispatch on the branch's tip (so the stale re-run looked current),
/// and the action recorded a deployment per attempt.
#[test]
fn a_rerun_of_a_superseded_deploy_records_nothing() {
    let rig = Rig::new(CONFIG_000);
    let mut r = rig.runner();
    built_branch(&rig, "a");
    let a = release(&rig, &mut r, "a");
    expect_runs(
        &a,
        &[
            ("service-release.yaml", "workflow_dispatch", "success"),
            ("overlay-deploy.yaml", "workflow_dispatch", "success"),
        ],
    );
    let tag_a = rig.tag_on_main("dev");
    built_branch(&rig, "b");
    let b = release(&rig, &mut r, "b");
    expect_runs(
        &b,
        &[
            ("service-release.yaml", "workflow_dispatch", "success"),
            ("overlay-deploy.yaml", "workflow_dispatch", "success"),
        ],
    );
    let tag_b = rig.tag_on_main("dev");
    assert_ne!(tag_a, tag_b);
    let recorded = rig.gh.deployments(REPO).unwrap();
    assert_eq!(recorded.len(), 2, "{recorded:#?}");

    let again = r.rerun_as(&a[1], "bob").unwrap();
    print_figures("stale re-run", &again);
    expect_runs(
        &again,
        &[("overlay-deploy.yaml", "workflow_dispatch", "success")],
    );
    let rerun = &again[0];
    assert_eq!((rerun.id, rerun.attempt), (a[1].id, 2));
    assert_eq!(rerun.sha, a[1].sha, "the original GITHUB_SHA");
    assert_ne!(
        Some(rerun.sha.clone()),
        rig.gh.branch_sha(REPO, "main").unwrap(),
        "not main's tip"
    );
    let step = rerun.action_steps()[0];
    assert_eq!(step.env["GITHUB_SHA"], a[1].sha);
    assert_eq!(step.env["GITHUB_ACTOR"], "github-actions[bot]");
    assert_eq!(step.env["GITHUB_TRIGGERING_ACTOR"], "bob");
    assert_eq!(step.env["GITHUB_RUN_ATTEMPT"], "2");
    assert_eq!(step.outputs["deployed"], "false", "{}", rerun.describe());
    assert_eq!(step.outputs["moved-on"], tag_b);
    assert!(
        step.annotations
            .iter()
            .any(|n| n.level == "notice" && n.message.contains("`dev` has moved on")),
        "{:?}",
        step.annotations
    );
    assert_eq!(
        rig.gh.deployments(REPO).unwrap(),
        recorded,
        "nothing recorded"
    );

    let again = r.rerun(&b[1]).unwrap();
    expect_runs(
        &again,
        &[("overlay-deploy.yaml", "workflow_dispatch", "success")],
    );
    let now = rig.gh.deployments(REPO).unwrap();
    assert_eq!(now.len(), 2, "the first attempt's deployment: {now:#?}");
    let b_deployment = now
        .iter()
        .find(|d| d.payload["tag"] == tag_b.as_str())
        .unwrap();
    let states: Vec<&str> = b_deployment
        .statuses
        .iter()
        .map(|s| s.state.as_str())
        .collect();
    // No health gate in the shipped workflow: `success` at once, per attempt.
    assert_eq!(states, ["success", "success"]);
}

/// The README's advice: a token other than `GITHUB_TOKEN` as the action's `token`
/// (here a repository secret in the user's copy of overlay-update.yaml). Its
/// merge of the dev PR fires `pull_request: closed` (and the push to main), so
/// overlay-deploy runs once from that event; the action, told by GitHub that the
/// token is not `github-actions[bot]`, dispatches nothing. Before: the runner
/// started nothing for any merge made by a run, and the action dispatched, so
/// with a real GitHub each merge was deployed twice.
#[test]
fn an_app_token_or_a_pat_deploys_each_merge_once() {
    for (login, token, grants) in [
        (
            "gitops-deployer[bot]",
            "ghs_appTokenOfGitopsDeployer0123456789ab",
            TokenGrants::app("gitops-deployer"),
        ),
        (
            "release-bot",
            "ghp_patOfTheReleaseBot0123456789abcdefgh",
            TokenGrants::user("release-bot"),
        ),
    ] {
        let rig = Rig::new(CONFIG_000);
        rig.gh.add_token(token, grants);
        edit_workflow(
            &rig,
            "overlay-update.yaml",
            "        with:\n          command: ${{ inputs.version",
            // GHCR takes the job's own token for its package, not an App's
            // (README, "A GitHub App token"), so the copy passes it as the
            // registry password.
            "        with:\n          token: ${{ secrets.GITOPS_TOKEN }}\n          registry-username: ${{ github.actor }}\n          registry-password: ${{ github.token }}\n          command: ${{ inputs.version",
        );
        // A called workflow sees only the secrets its caller passes on (docs
        // "Reusing workflows": `secrets: inherit` or named secrets), so the user's
        // copy of service-release.yaml passes them too.
        edit_workflow(
            &rig,
            "service-release.yaml",
            "      version: ${{ inputs.ref }}\n",
            "      version: ${{ inputs.ref }}\n    secrets: inherit\n",
        );
        built_branch(&rig, "x");
        let mut r = rig.runner();
        r.secrets.insert("GITOPS_TOKEN".into(), token.into());
        let runs = release(&rig, &mut r, "x");
        print_figures(&format!("merge as {login}"), &runs);
        expect_runs(
            &runs,
            &[
                ("service-release.yaml", "workflow_dispatch", "success"),
                ("overlay-deploy.yaml", "pull_request", "success"),
            ],
        );
        let step = runs[0].action_steps()[1];
        assert_eq!(step.outputs["merged"], "true");
        assert_eq!(step.outputs["chained-by"], "event", "{login}");
        assert!(!step.outputs.contains_key("dispatched"), "{login}");
        let dev = rig.pr("release/hello/dev");
        assert_eq!(dev.user, login);
        assert_eq!(dev.merged_by.as_deref(), Some(login));
        assert_eq!(runs[1].actor, login, "the merge's event is the token's");
        let ds = rig.gh.dispatches(REPO).unwrap();
        assert!(
            ds.iter().all(|d| d.workflow != "overlay-deploy.yaml"),
            "only the person's click: {ds:?}"
        );
        let d = rig.gh.deployments(REPO).unwrap();
        assert_eq!(d.len(), 1, "{login}: one deployment per merge: {d:#?}");
        assert_eq!(d[0].environment, "dev");
    }
}

/// A user's copy where the calling job grants less than the called workflow's job
/// asks (`packages: write` dropped from service-release's `release` job): GitHub
/// refuses the whole workflow when it reads it, before any job, `resolve`
/// included, and also when the calling job's `if:` would be false. Before: the
/// runner narrowed the called job's permissions and ran everything.
#[test]
fn a_called_workflow_asking_more_than_its_caller_grants_is_invalid() {
    let rig = Rig::new(CONFIG_000);
    edit_workflow(
        &rig,
        "service-release.yaml",
        "      packages: write\n      actions: write\n    uses: ./.github/workflows/overlay-update.yaml",
        "      actions: write\n    uses: ./.github/workflows/overlay-update.yaml",
    );
    built_branch(&rig, "x");
    let mut r = rig.runner();
    // `feature/x` maps to dev; `main` maps to no environment (the `if:` is false).
    for reference in ["feature/x", "main"] {
        let runs = r
            .click_run_workflow(
                &rig.alice,
                "service-release.yaml",
                "main",
                &[("service", "hello"), ("ref", reference)],
            )
            .unwrap();
        expect_runs(
            &runs,
            &[(
                "service-release.yaml",
                "workflow_dispatch",
                "startup_failure",
            )],
        );
        assert!(runs[0].jobs.is_empty(), "{}", runs[0].describe());
        let why = runs[0].invalid.as_deref().unwrap_or_default();
        assert!(
            why.starts_with("The workflow is not valid. service-release.yaml (Line: ")
                && why.contains(
                    "The nested job 'update' is requesting 'packages: write', but is only allowed 'packages: none'."
                ),
            "{why}"
        );
    }
    assert!(rig.gh.pulls(REPO).unwrap().is_empty(), "nothing ran");
}
