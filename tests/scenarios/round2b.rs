//! The workflow runner, round 2 continued (issue 27): concurrency groups, annotated
//! tags and deleted refs, as GitHub has them; each scenario fails if the runner went
//! back to its old rule (sources in docs/github-facts/events.md; the rules beside the
//! code in `gitops_testkit::workflow`).

use gitops_testkit::workflow::RunRecord;

use crate::journeys::CONFIG_002;
use crate::*;

/// Three pushes to `feature/q`, each made before the last one's runs ended, each
/// built by CI; returns their commits.
fn three_quick_pushes(rig: &Rig, r: &mut gitops_testkit::workflow::Runner) -> Vec<String> {
    (1..=3)
        .map(|n| {
            let sha = r
                .queue_push(
                    &rig.alice,
                    "feature/q",
                    &[("app/hello.txt", &format!("push {n}\n"))],
                )
                .unwrap();
            rig.push_build(&sha);
            sha
        })
        .collect()
}

fn dev_deployments(rig: &Rig) -> Vec<String> {
    rig.gh
        .deployments(REPO)
        .unwrap()
        .into_iter()
        .filter(|d| d.environment == "dev")
        .map(|d| d.payload["tag"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Seed 002, three quick pushes to a dev branch. Each starts overlay-push; each
/// `resolve` runs, and each `release` queues in overlay-update's group
/// `gitops-hello-dev`: the first runs, the second waits, the third arrives and
/// cancels the second (GitHub keeps one pending per group), then runs when the
/// first is done. Dev ends at the third push's version, each release merged once,
/// and the stale deploy of the first records nothing. Before: the runner ran all
/// three in turn (three releases, three deploys).
#[test]
fn three_quick_pushes_to_dev_release_the_first_and_the_last() {
    let rig = Rig::new(CONFIG_002);
    let mut r = rig.runner();
    let shas = three_quick_pushes(&rig, &mut r);
    let runs = r.settle().unwrap();
    print_figures("three quick pushes", &runs);
    expect_runs(
        &runs,
        &[
            ("overlay-push.yaml", "push", "success"),
            ("overlay-push.yaml", "push", "cancelled"),
            ("overlay-push.yaml", "push", "success"),
            ("overlay-deploy.yaml", "workflow_dispatch", "success"),
            ("overlay-deploy.yaml", "workflow_dispatch", "success"),
        ],
    );
    let second = &runs[1];
    assert_eq!(second.job("resolve").result, "success");
    assert_eq!(second.job("release / update").result, "cancelled");
    assert_eq!(
        second.cancelled.as_deref(),
        Some("Canceling since a higher priority waiting request for 'gitops-hello-dev' exists")
    );
    let tag = |run: &RunRecord| run.action_steps()[1].outputs["tag"].clone();
    let (first, last) = (tag(&runs[0]), tag(&runs[2]));
    assert!(first.contains(&shas[0][..7]), "{first}");
    assert!(last.contains(&shas[2][..7]), "{last}");
    assert_eq!(rig.tag_on_main("dev"), last);
    let merged: Vec<_> = rig
        .gh
        .pulls(REPO)
        .unwrap()
        .into_iter()
        .filter(|p| p.head == "release/hello/dev")
        .map(|p| (p.merged, p.state))
        .collect();
    assert_eq!(merged, [(true, "closed".into()), (true, "closed".into())]);
    assert_eq!(
        dev_deployments(&rig),
        std::slice::from_ref(&last),
        "one deployment, the last push's"
    );
    // The first deploy was dispatched on main's tip at its merge (the dispatch's
    // `GITHUB_SHA`, however late its run starts): dev has moved on since.
    let stale = runs[3].action_steps()[0];
    assert_eq!(stale.outputs["deployed"], "false", "{}", runs[3].describe());
    assert_eq!(stale.outputs["moved-on"], last);
}

/// A user's copy of overlay-push that keeps only the newest push of a branch
/// (workflow-level `concurrency:` with `cancel-in-progress: true`): of three quick
/// pushes the third cancels the first, which was running, and the second, which
/// was pending; only the third releases.
#[test]
fn cancel_in_progress_keeps_only_the_newest_push() {
    let rig = Rig::new(CONFIG_002);
    let path = ".github/workflows/overlay-push.yaml";
    let text = rig.gh.file_at(REPO, "main", path).unwrap().unwrap();
    let edited = text.replacen(
        "permissions: {}\n",
        "permissions: {}\n\nconcurrency:\n  group: push-${{ github.ref }}\n  cancel-in-progress: true\n",
        1,
    );
    rig.gh
        .push_commit(REPO, "main", &[(path, &edited)])
        .unwrap();
    let mut r = rig.runner();
    let shas = three_quick_pushes(&rig, &mut r);
    let runs = r.settle().unwrap();
    expect_runs(
        &runs,
        &[
            ("overlay-push.yaml", "push", "cancelled"),
            ("overlay-push.yaml", "push", "cancelled"),
            ("overlay-push.yaml", "push", "success"),
            ("overlay-deploy.yaml", "workflow_dispatch", "success"),
        ],
    );
    for run in &runs[..2] {
        assert!(run.jobs.is_empty(), "{}", run.describe());
        assert_eq!(
            run.concurrency.as_deref(),
            Some("push-refs/heads/feature/q")
        );
    }
    let last = runs[2].action_steps()[1].outputs["tag"].clone();
    assert!(last.contains(&shas[2][..7]), "{last}");
    assert_eq!(rig.tag_on_main("dev"), last);
    assert_eq!(dev_deployments(&rig), [last]);
}
