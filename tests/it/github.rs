//! The git and GitHub modules together against the GitHub stand-in (real bare repos
//! behind `git http-backend` with token auth, GitHub-shaped REST and GraphQL).
//!

use gitops_action::git::{Target, Workspace};
use gitops_action::github::{MergeMethod, MergeOutcome, MergePolicy, MergeTry, PrOperation};
use gitops_action::session::pull_request::{Via, release};
use gitops_testkit::fault::{Fault, FaultKind};
use gitops_testkit::github::Protection;

use crate::release_rig::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_pr_is_opened_and_merged_within_three_calls() {
    let gh = standin().await;
    let ws = Workspace::open(&git_opts(&gh, TOKEN)).unwrap();
    let client = api(&gh, TOKEN);
    let out = release_hello(Via::Git(&ws), &client, "dev-1", "dev-2", MergePolicy::Auto)
        .await
        .unwrap();
    let pr = out.pr.clone().unwrap();
    assert_eq!(pr.operation, PrOperation::Created);
    assert!(out.merged, "{out:?}");
    assert!(out.merge_sha.is_some());
    assert!(out.api_calls <= 3, "{} calls", out.api_calls);
    assert!(main_overlay(&gh).contains("newTag: dev-2"));
    // The tool deleted the head branch after its own merge.
    assert_eq!(ws.fetch_branch("release/hello/dev").unwrap(), None);
    let outputs = out.outputs();
    assert!(outputs.contains(&("pr-operation", "created".into())));
    assert!(outputs.contains(&("merged", "true".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_updates_then_leaves_the_pr_unchanged() {
    let gh = standin().await;
    let ws = Workspace::open(&git_opts(&gh, TOKEN)).unwrap();
    let client = api(&gh, TOKEN);
    let first = release_hello(Via::Git(&ws), &client, "dev-1", "dev-2", MergePolicy::Never)
        .await
        .unwrap();
    assert_eq!(first.pr.as_ref().unwrap().operation, PrOperation::Created);

    let second = release_hello(Via::Git(&ws), &client, "dev-1", "dev-3", MergePolicy::Never)
        .await
        .unwrap();
    let pr2 = second.pr.clone().unwrap();
    assert_eq!(pr2.operation, PrOperation::Updated);
    assert_eq!(pr2.number, first.pr.as_ref().unwrap().number);
    assert!(second.api_calls <= 3, "{} calls", second.api_calls);

    let third = release_hello(Via::Git(&ws), &client, "dev-1", "dev-3", MergePolicy::Never)
        .await
        .unwrap();
    assert_eq!(third.pr.as_ref().unwrap().operation, PrOperation::Unchanged);
    assert!(!third.published.pushed, "no empty commit on a re-run");
    assert_eq!(third.published.commit, second.published.commit);
    let open: Vec<_> = gh
        .pulls(REPO)
        .unwrap()
        .into_iter()
        .filter(|p| p.state == "open")
        .collect();
    assert_eq!(open.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_with_the_change_closes_our_stale_pr() {
    let gh = standin().await;
    let ws = Workspace::open(&git_opts(&gh, TOKEN)).unwrap();
    let client = api(&gh, TOKEN);
    release_hello(Via::Git(&ws), &client, "dev-1", "dev-2", MergePolicy::Never)
        .await
        .unwrap();
    // Someone sets dev-2 on main by hand.
    gh.push_commit(REPO, "main", &[(OVERLAY, &START.replace("dev-1", "dev-2"))])
        .unwrap();
    let out = release_hello(Via::Git(&ws), &client, "dev-1", "dev-2", MergePolicy::Auto)
        .await
        .unwrap();
    assert!(!out.published.changed);
    assert_eq!(out.pr.as_ref().unwrap().operation, PrOperation::Closed);
    assert!(out.outputs().contains(&("changed", "false".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_checks_enable_auto_merge_which_merges_when_green() {
    let gh = standin().await;
    gh.protect_branch(
        REPO,
        "main",
        Protection {
            required_checks: vec!["ci".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let ws = Workspace::open(&git_opts(&gh, TOKEN)).unwrap();
    let client = api(&gh, TOKEN);
    let out = release_hello(Via::Git(&ws), &client, "dev-1", "dev-2", MergePolicy::Auto)
        .await
        .unwrap();
    assert!(!out.merged && out.auto_merge, "{out:?}");
    let head = out.published.commit.clone().unwrap();
    assert!(main_overlay(&gh).contains("dev-1"));
    gh.set_check(REPO, &head, "ci", "success").unwrap();
    assert!(main_overlay(&gh).contains("newTag: dev-2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_with_a_required_review_falls_back_to_auto_merge() {
    let gh = standin().await;
    gh.protect_branch(
        REPO,
        "main",
        Protection {
            required_approvals: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let ws = Workspace::open(&git_opts(&gh, TOKEN)).unwrap();
    let client = api(&gh, TOKEN);
    let out = release_hello(
        Via::Git(&ws),
        &client,
        "dev-1",
        "dev-2",
        MergePolicy::Immediate,
    )
    .await
    .unwrap();
    assert!(!out.merged && out.auto_merge, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_guard_refuses_a_head_we_did_not_push() {
    let gh = standin().await;
    let ws = Workspace::open(&git_opts(&gh, TOKEN)).unwrap();
    let client = api(&gh, TOKEN);
    let out = release_hello(Via::Git(&ws), &client, "dev-1", "dev-2", MergePolicy::Never)
        .await
        .unwrap();
    let pr = out.pr.unwrap();
    gh.push_commit(
        REPO,
        "release/hello/dev",
        &[("README.md", "someone else\n")],
    )
    .unwrap();
    let tried = client
        .merge_now(pr.number, &pr.head_sha, MergeMethod::Squash)
        .await
        .unwrap();
    assert!(matches!(tried, MergeTry::HeadModified(_)), "{tried:?}");
    // release() re-reads: a leased push replaces the foreign head, then merges.
    let again = release_hello(
        Via::Git(&ws),
        &client,
        "dev-1",
        "dev-2",
        MergePolicy::Immediate,
    )
    .await
    .unwrap();
    assert!(again.merged, "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_create_is_refused_and_ensure_finds_the_open_pr() {
    let gh = standin().await;
    let ws = Workspace::open(&git_opts(&gh, TOKEN)).unwrap();
    let client = api(&gh, TOKEN);
    ws.publish(
        &request("hello", "dev-1", "dev-2", MergePolicy::Never).publish,
        &mut set_tag("ghcr.io/acme/hello", "dev-2"),
    )
    .unwrap();
    let content = request("hello", "dev-1", "dev-2", MergePolicy::Never).content;
    let created = client
        .ensure_pr("release/hello/dev", "main", &content)
        .await
        .unwrap();
    let err = client
        .create_pr("release/hello/dev", "main", &content)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("already exists"), "{err:#}");
    let again = client
        .ensure_pr("release/hello/dev", "main", &content)
        .await
        .unwrap();
    assert_eq!(again.number, created.number);
    assert_eq!(again.operation, PrOperation::Unchanged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_pr_is_redone_on_the_new_base() {
    let gh = standin().await;
    let ws = Workspace::open(&git_opts(&gh, TOKEN)).unwrap();
    let client = api(&gh, TOKEN);
    // Two new services: both append to the end of `images:`, a real textual conflict.
    let a = release(
        Via::Git(&ws),
        &client,
        &request("alpha", "-", "a-1", MergePolicy::Never),
        &mut set_tag("ghcr.io/acme/alpha", "a-1"),
    )
    .await
    .unwrap();
    release(
        Via::Git(&ws),
        &client,
        &request("beta", "-", "b-1", MergePolicy::Auto),
        &mut set_tag("ghcr.io/acme/beta", "b-1"),
    )
    .await
    .unwrap();
    let outcome = client
        .apply_policy(
            a.pr.as_ref().unwrap(),
            MergePolicy::Auto,
            MergeMethod::Squash,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, MergeOutcome::Conflict(_)), "{outcome:?}");
    let redone = release(
        Via::Git(&ws),
        &client,
        &request("alpha", "-", "a-1", MergePolicy::Auto),
        &mut set_tag("ghcr.io/acme/alpha", "a-1"),
    )
    .await
    .unwrap();
    assert!(redone.merged, "{redone:?}");
    let text = gh.file_at(REPO, "main", OVERLAY).unwrap().unwrap();
    assert!(
        text.contains("ghcr.io/acme/alpha") && text.contains("ghcr.io/acme/beta"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_fails_with_a_hint_and_pushes_nothing() {
    let gh = standin().await;
    let ws = Workspace::open(&git_opts(&gh, "ghs_not_a_token_at_all_0000000000000")).unwrap();
    let err = ws
        .publish(
            &request("hello", "dev-1", "dev-2", MergePolicy::Auto).publish,
            &mut set_tag("ghcr.io/acme/hello", "dev-2"),
        )
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(!text.contains("ghs_not_a_token"), "{text}");
    assert_eq!(gitops_action::error::exit_code(&err), 1);
    assert!(
        gitops_action::error::hint_of(&err)
            .unwrap()
            .contains("token")
    );
    let client = api(&gh, "ghs_not_a_token_at_all_0000000000000");
    let err = client
        .find_open_pr("release/hello/dev", "main")
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("401"), "{err:#}");
    assert!(gh.pulls(REPO).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_base_is_a_user_error() {
    let gh = standin().await;
    let ws = Workspace::open(&git_opts(&gh, TOKEN)).unwrap();
    let mut req = request("hello", "dev-1", "dev-2", MergePolicy::Auto);
    req.publish.base = "production".into();
    let err = release(
        Via::Git(&ws),
        &api(&gh, TOKEN),
        &req,
        &mut set_tag("ghcr.io/acme/hello", "dev-2"),
    )
    .await
    .unwrap_err();
    assert_eq!(gitops_action::error::exit_code(&err), 2);
    assert!(format!("{err:#}").contains("base branch `production` does not exist"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_push_to_a_protected_base_is_refused_with_the_rule() {
    let gh = standin().await;
    gh.protect_branch(
        REPO,
        "main",
        Protection {
            required_checks: vec!["ci".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let ws = Workspace::open(&git_opts(&gh, TOKEN)).unwrap();
    let mut req = request("hello", "dev-1", "dev-2", MergePolicy::Auto);
    req.publish.target = Target::Direct;
    let err = ws
        .publish(&req.publish, &mut set_tag("ghcr.io/acme/hello", "dev-2"))
        .unwrap_err();
    let hint = gitops_action::error::hint_of(&err).unwrap().to_string();
    assert!(hint.contains("protected"), "{err:#}\n{hint}");
    assert!(main_overlay(&gh).contains("dev-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_may_not_open_prs_says_which_setting() {
    let gh = standin().await;
    gh.set_setting_actions_can_create_prs(false);
    let ws = Workspace::open(&git_opts(&gh, TOKEN)).unwrap();
    let err = release(
        Via::Git(&ws),
        &api(&gh, TOKEN),
        &request("hello", "dev-1", "dev-2", MergePolicy::Auto),
        &mut set_tag("ghcr.io/acme/hello", "dev-2"),
    )
    .await
    .unwrap_err();
    let hint = gitops_action::error::hint_of(&err).unwrap();
    assert!(
        hint.contains("Allow GitHub Actions to create and approve pull requests"),
        "{hint}"
    );
}

/// 20 services released to the same overlay at once, each with `merge: auto`.
/// A merge refused round after round on a base that stands still (no other release
/// is landing) ends after `max_rounds` re-applies, with exit 1 and a hint: only
/// rounds lost to a moving base may go beyond it (twenty racing releases, below).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_refused_on_a_still_base_gives_up_after_max_rounds() {
    let gh = standin().await;
    // GitHub's answer to a PR it can't merge: 405 "Pull Request is not mergeable"
    // (rest-api-description, `PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge`).
    for nth in 1..=40 {
        gh.inject(Fault::new("PUT", "/merge", nth, FaultKind::Status(405)));
    }
    let ws = Workspace::open(&git_opts(&gh, TOKEN)).unwrap();
    let client = api(&gh, TOKEN);
    let mut req = request("hello", "dev-1", "dev-2", MergePolicy::Immediate);
    req.max_rounds = 3;
    let err = release_req(Via::Git(&ws), &client, &req, "dev-2")
        .await
        .unwrap_err();
    assert_eq!(gitops_action::error::exit_code(&err), 1);
    assert!(
        err.to_string()
            .contains("could not be merged after 4 attempts"),
        "{err:#}"
    );
    assert!(
        gitops_action::error::hint_of(&err)
            .unwrap()
            .contains("run the step again")
    );
    assert_eq!(gh.faults_fired(), 4, "one merge per round, then it stops");
    assert!(main_overlay(&gh).contains("newTag: dev-1"));
}

#[test]
fn twenty_concurrent_releases_all_merge_and_nothing_is_lost() {
    let retries = twenty_concurrent_releases(true);
    eprintln!("20 concurrent releases: {retries} retries in all");
}

/// `scripts/bench-github`: API calls and wall time of one PR opened and auto-merged,
/// and of a re-run that updates one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by scripts/bench-github"]
async fn bench_release_pr() {
    let gh = standin().await;
    let client = api(&gh, TOKEN);
    let ws = Workspace::open(&git_opts(&gh, TOKEN)).unwrap();
    let t = std::time::Instant::now();
    let out = release_hello(Via::Git(&ws), &client, "dev-1", "dev-2", MergePolicy::Auto)
        .await
        .unwrap();
    assert!(out.merged);
    println!(
        "BENCH open+merge api-calls={} ms={}",
        out.api_calls,
        t.elapsed().as_millis()
    );
    release_hello(Via::Git(&ws), &client, "dev-2", "dev-3", MergePolicy::Never)
        .await
        .unwrap();
    let t = std::time::Instant::now();
    let out = release_hello(Via::Git(&ws), &client, "dev-2", "dev-4", MergePolicy::Auto)
        .await
        .unwrap();
    assert_eq!(out.pr.as_ref().unwrap().operation, PrOperation::Updated);
    println!(
        "BENCH update+merge api-calls={} ms={}",
        out.api_calls,
        t.elapsed().as_millis()
    );
}

/// A PR an earlier run opened but could not label (it stopped in between) gets its
/// labels on the next run; a complete one costs no extra call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_labels_are_added_on_the_next_run() {
    let gh = standin().await;
    let ws = Workspace::open(&git_opts(&gh, TOKEN)).unwrap();
    let client = api(&gh, TOKEN);
    let mut req = request("hello", "dev-1", "dev-2", MergePolicy::Never);
    release_req(Via::Git(&ws), &client, &req, "dev-2")
        .await
        .unwrap();
    assert!(gh.pulls(REPO).unwrap()[0].labels.is_empty());

    req.content.labels = vec!["release".into(), "dev".into()];
    let out = release_req(Via::Git(&ws), &client, &req, "dev-2")
        .await
        .unwrap();
    assert_eq!(out.pr.unwrap().operation, PrOperation::Unchanged);
    assert_eq!(gh.pulls(REPO).unwrap()[0].labels, ["release", "dev"]);
    assert_eq!(out.api_calls, 2, "list, then the labels");

    let out = release_req(Via::Git(&ws), &client, &req, "dev-2")
        .await
        .unwrap();
    assert_eq!(out.api_calls, 1, "complete: the list only");
}
