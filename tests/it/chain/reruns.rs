//! The chain after re-runs and with tokens other than the workflow's own, the way
//! GitHub has them:
//! - a re-run keeps the original run's `GITHUB_SHA`, `GITHUB_REF` and workflow
//!   file, keeps `GITHUB_RUN_ID` and raises `GITHUB_RUN_ATTEMPT` (docs "Re-running
//!   workflows and jobs"; docs "Variables", `GITHUB_RUN_ATTEMPT`). So re-running an
//!   old deploy checks out an old merge commit;
//! - what the workflow's `GITHUB_TOKEN` does starts no workflow except dispatches;
//!   a merge made with an App installation token or a personal token fires
//!   `pull_request: closed` (docs "Automatic token authentication"; docs
//!   "Triggering a workflow from a workflow"), and GraphQL `viewer { login }` says
//!   which token is which (joshjohanning/bulk-github-repo-settings-sync-action#194).

use super::*;

/// An App's installation token (`actions/create-github-app-token`): `ghs_` like
/// the workflow's own, acting as `deployer[bot]`.
const APP: &str = "ghs_appInstallationTokenOfDeployer0123456";

/// A deploy step of run `run`, attempt `attempt`, in a checkout of `ws`.
fn deploy_attempt(rig: &Rig, ws: &Path, run: &str, attempt: &str, via: &str) -> Step {
    rig.step_env(
        ws,
        "workflow_dispatch",
        serde_json::json!({"inputs": {"service": "hello", "env": "dev"}, "ref": "refs/heads/main"}),
        &[
            ("command", "deploy"),
            ("service", "hello"),
            ("env", "dev"),
            ("commit-via", via),
        ],
        &[("GITHUB_RUN_ID", run), ("GITHUB_RUN_ATTEMPT", attempt)],
    )
}

/// The checkout actions/checkout makes of a re-run: the original `GITHUB_SHA`.
fn checkout_at(rig: &Rig, name: &str, sha: &str) -> PathBuf {
    rig.gh.git(REPO, &["tag", name, sha]).unwrap();
    rig.checkout(name, name)
}

/// Release A reaches dev and is deployed (run 5001); the deploy is re-run (the
/// same deployment gets a status, no second one); release B reaches dev; A's
/// deploy is re-run again and records nothing, naming B's tag. Both commit paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_rerun_records_nothing_and_a_rerun_reuses_its_deployment() {
    for via in ["api", "git"] {
        let (rig, ws, _) = Rig::ready(CONFIG);
        let a = rig
            .dispatch_main(
                &ws,
                &[
                    ("command", "release"),
                    ("chain", "none"),
                    ("commit-via", via),
                ],
            )
            .ok();
        assert_eq!(a.out("merged"), "true", "{via}");
        let tag_a = a.out("tag").to_string();
        let ws_a = checkout_at(&rig, &format!("run-a-{via}"), a.out("merge-sha"));

        let first = deploy_attempt(&rig, &ws_a, "5001", "1", via).ok();
        assert_eq!(first.out("deployed"), "true", "{via}");
        let id = first.out("deployment-id").to_string();
        let again = deploy_attempt(&rig, &ws_a, "5001", "2", via).ok();
        assert_eq!(again.out("deployed"), "true", "{via}");
        assert_eq!(again.out("deployment-id"), id, "{via}: the first attempt's");
        assert!(
            again
                .run
                .stdout
                .contains("recorded by an earlier attempt of this run"),
            "{}",
            again.run.transcript()
        );
        let ds = rig.gh.deployments(REPO).unwrap();
        assert_eq!(
            ds.len(),
            1,
            "{via}: one deployment for one deploy run: {ds:#?}"
        );
        let states: Vec<&str> = ds[0].statuses.iter().map(|s| s.state.as_str()).collect();
        assert_eq!(states, ["success", "success"], "{via}");

        // Release B: a new commit on main, built by CI, released to dev.
        rig.gh
            .push_commit(REPO, "main", &[("app/NEWS", "b\n")])
            .unwrap();
        let ws_b = rig.checkout(&format!("b-{via}"), "main");
        let sha_b = git(&ws_b, &["rev-parse", "HEAD"]);
        rig.push_build(&sha_b);
        let b = rig
            .dispatch_main(
                &ws_b,
                &[
                    ("command", "release"),
                    ("chain", "none"),
                    ("commit-via", via),
                ],
            )
            .ok();
        let tag_b = b.out("tag").to_string();
        assert_ne!(tag_a, tag_b);

        // Someone re-runs A's deploy: it checks out A's merge, and dev runs B.
        let pulls_before = rig.gh.pulls(REPO).unwrap();
        let stale = deploy_attempt(&rig, &ws_a, "5001", "3", via).ok();
        assert_eq!(stale.out("deployed"), "false", "{via}");
        assert_eq!(stale.out("moved-on"), tag_b, "{via}");
        assert!(
            stale.run.stdout.contains(&format!(
                "not recording a deployment: `dev` has moved on. Commit {} deploys hello `{tag_a}`",
                &a.out("merge-sha")[..7]
            )) && stale.run.stdout.contains(&format!("hello `{tag_b}`")),
            "{}",
            stale.run.transcript()
        );
        let ds = rig.gh.deployments(REPO).unwrap();
        assert_eq!(ds.len(), 1, "{via}: nothing recorded: {ds:#?}");
        assert_eq!(ds[0].statuses.len(), 2, "{via}: no status added");
        assert_eq!(
            rig.gh.pulls(REPO).unwrap(),
            pulls_before,
            "{via}: nothing promoted"
        );
    }
}

/// A merge the tool made with an App token fires `pull_request: closed` itself:
/// `chain: auto` does not dispatch the deploy workflow too (before: dispatched, so
/// two deploy runs per merge). With the workflow's token it still dispatches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_made_with_an_app_token_is_chained_by_its_event_not_a_dispatch() {
    for via in ["api", "git"] {
        let (rig, ws, _) = Rig::ready(CONFIG);
        rig.gh.add_token(APP, TokenGrants::app("deployer"));
        let s = rig
            .step_env(
                &ws,
                "workflow_dispatch",
                dispatch("hello", "refs/heads/main"),
                &[
                    ("command", "release"),
                    ("deploy-workflow", "overlay-deploy.yaml"),
                    ("commit-via", via),
                ],
                &[("INPUT_TOKEN", APP)],
            )
            .ok();
        assert_eq!(s.out("merged"), "true", "{via}");
        assert_eq!(s.out("chained-by"), "event", "{via}");
        assert!(!s.outputs.contains_key("dispatched"), "{:?}", s.outputs);
        assert!(
            s.run.stdout.contains(
                "the merge was made as `deployer[bot]`, not with the workflow's GITHUB_TOKEN, so its `pull_request: closed` event starts `overlay-deploy.yaml`"
            ),
            "{}",
            s.run.transcript()
        );
        assert!(
            rig.gh.dispatches(REPO).unwrap().is_empty(),
            "{via}: the merge's event deploys; a dispatch would deploy twice"
        );
        let merged_by = rig.gh.pulls(REPO).unwrap()[0].merged_by.clone();
        assert_eq!(merged_by.as_deref(), Some("deployer[bot]"));
        // `viewer` rides in the release's own query through the API; with git it is
        // one query of its own.
        let viewer_queries = rig
            .gh
            .request_log()
            .iter()
            .filter(|r| r.kind == gitops_testkit::github::RequestKind::GraphQl)
            .count();
        assert!(viewer_queries > 0, "{via}");

        // The workflow's own token: dispatched, as before.
        rig.gh
            .push_commit(REPO, "main", &[("app/NEWS", "b\n")])
            .unwrap();
        let ws = rig.checkout(&format!("b-{via}"), "main");
        rig.push_build(&git(&ws, &["rev-parse", "HEAD"]));
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
        assert_eq!(s.out("chained-by"), "dispatch", "{via}");
        assert_eq!(s.out("dispatched"), "overlay-deploy.yaml", "{via}");
        assert_eq!(rig.gh.dispatches(REPO).unwrap().len(), 1, "{via}");
    }
}
