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

/// `feature/<name>` one commit ahead of main, built by CI, pushed before the
/// runner watched; returns its sha.
fn built_commit(rig: &Rig, name: &str) -> String {
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

/// An annotated tag (`git tag -a v1.3.0`) pushed: the event's `after` is the tag
/// object, `GITHUB_SHA` the commit. Prod gets the commit's build as `prd-1.3.0`.
/// Before: the runner gave every tag push its commit as `after`, and the action took
/// `after` as the commit to release.
#[test]
fn an_annotated_tag_releases_its_commit() {
    let rig = Rig::new(CONFIG_002);
    let sha = built_commit(&rig, "t");
    let mut r = rig.runner();
    let runs = r
        .push_annotated_tag(&rig.alice, "v1.3.0", &sha, "Release 1.3.0")
        .unwrap();
    print_figures("annotated tag", &runs);
    expect_runs(
        &runs,
        &[
            ("overlay-push.yaml", "push", "success"),
            ("overlay-deploy.yaml", "workflow_dispatch", "success"),
        ],
    );
    let object = rig
        .gh
        .git(REPO, &["rev-parse", "refs/tags/v1.3.0"])
        .unwrap();
    assert_ne!(object, sha, "an annotated tag is an object of its own");
    let update = runs[0].action_steps()[1];
    assert_eq!(update.env["GITHUB_SHA"], sha);
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&update.env["GITHUB_EVENT_PATH"]).unwrap())
            .unwrap();
    assert_eq!(event["after"], object.as_str());
    assert_eq!(event["head_commit"]["id"], sha.as_str());
    assert_eq!(update.outputs["tag"], "prd-1.3.0", "{}", runs[0].describe());
    assert_eq!(
        update.outputs["built"], "false",
        "the commit's build is retagged"
    );
    assert_eq!(rig.tag_on_main("prod"), "prd-1.3.0");
    assert_eq!(rig.digest("prd-1.3.0"), rig.digest(&format!("sha-{sha}")));
}

/// Deleting a `v*` tag, then a dev branch: each is a `push` with `deleted: true`
/// that starts overlay-push (its filters match the deleted ref) on main's tip. The
/// checkout is skipped, `resolve` says there is nothing to release (a notice, exit
/// 0), the release job is skipped, and nothing is written. Before: the runner
/// started nothing for a deletion; with it, the shipped overlay-push failed its
/// checkout of the deleted tag, and a deleted branch was resolved to dev.
#[test]
fn deleting_a_tag_or_a_branch_releases_nothing() {
    let rig = Rig::new(CONFIG_002);
    let sha = built_commit(&rig, "d");
    rig.gh.git(REPO, &["tag", "v2.0.0", &sha]).unwrap();
    let main = rig.gh.branch_sha(REPO, "main").unwrap().unwrap();
    let pulls = rig.gh.pulls(REPO).unwrap().len();
    let mut r = rig.runner();
    for gone in ["refs/tags/v2.0.0", "refs/heads/feature/d"] {
        let runs = r.delete_ref(&rig.alice, gone).unwrap();
        expect_runs(&runs, &[("overlay-push.yaml", "push", "success")]);
        let run = &runs[0];
        assert_eq!(
            (run.git_ref.as_str(), run.sha.as_str()),
            (gone, main.as_str())
        );
        assert_eq!(run.job("release").result, "skipped", "{}", run.describe());
        let resolve = run.job("resolve");
        assert_eq!(resolve.steps[0].outcome, "skipped", "the checkout");
        let step = &resolve.steps[1];
        assert_eq!(step.outcome, "success", "{}", run.describe());
        assert_eq!(step.outputs["env"], "");
        assert!(
            step.annotations.iter().any(|a| a.level == "notice"
                && a.message.contains(&format!("the push deleted `{gone}`"))),
            "{:?}",
            step.annotations
        );
        let writes: Vec<String> = run
            .api_calls()
            .into_iter()
            .filter(|c| !c.starts_with("GET ") && !c.starts_with("POST /api/graphql"))
            .collect();
        assert!(writes.is_empty(), "{writes:?}");
    }
    assert_eq!(rig.gh.branch_sha(REPO, "main").unwrap().unwrap(), main);
    assert_eq!(rig.gh.pulls(REPO).unwrap().len(), pulls);
    assert!(rig.gh.deployments(REPO).unwrap().is_empty());
    assert_eq!(rig.digest("prd-2.0.0"), None);
}
