//! Releases whose commits GitHub makes (`commit-via: api`), against the
//! stand-in's `createCommitOnBranch` and `updateRefs` (tests/support/src/github/gql.rs)
//! and its "require signed commits" ruleset (GH013). The same `release` loop as
//! `github.rs`, with `Via::Api` in place of a workspace.

use gitops_action::git::{GitOptions, Identity, Target, Workspace};
use gitops_action::github::{MergePolicy, PrOperation, pr_title};
use gitops_action::session::pull_request::{Via, release};
use gitops_testkit::github::{Protection, RequestKind};

use crate::release_rig::*;

fn git_requests(gh: &gitops_testkit::github::GitHubStandIn) -> usize {
    requests(gh, RequestKind::Git)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_through_the_api_is_verified_and_needs_no_git() {
    let gh = standin().await;
    let client = api(&gh, TOKEN);
    let mut req = request("hello", "dev-1", "dev-2", MergePolicy::Never);
    let out = release_req(Via::Api(None), &client, &req, "dev-2")
        .await
        .unwrap();
    let pr = out.pr.clone().unwrap();
    assert_eq!(pr.operation, PrOperation::Created);
    let commit = out.published.commit.clone().unwrap();
    assert!(out.published.pushed);
    // GitHub made and signed it: the REST `verification` says so.
    assert!(gh.is_verified(REPO, &commit).unwrap());
    assert_eq!(gh.pull(REPO, pr.number).unwrap().head_sha, commit);
    assert_eq!(git_requests(&gh), 0, "no git transport on the way out");
    // Read, then create the branch, commit and open the PR in one document.
    let ops: Vec<String> = gh
        .request_log()
        .iter()
        .filter(|r| r.kind == RequestKind::GraphQl)
        .map(|r| r.op.clone())
        .collect();
    assert_eq!(
        ops,
        [
            "query viewer+repository",
            "mutation updateRefs+createCommitOnBranch+createPullRequest"
        ],
        "{:#?}",
        gh.request_log()
    );

    // The same change again: nothing is committed, the PR keeps its head.
    let again = release_req(Via::Api(None), &client, &req, "dev-2")
        .await
        .unwrap();
    assert!(!again.published.pushed);
    assert_eq!(again.published.commit.as_deref(), Some(commit.as_str()));
    assert_eq!(again.pr.unwrap().operation, PrOperation::Unchanged);

    // A new tag on an open PR: built on a scratch branch and moved in one step, so
    // the PR stays open (a head reset to the base would close it).
    req.content.title = pr_title("hello", "dev", None, "dev-3");
    let third = release_req(Via::Api(None), &client, &req, "dev-3")
        .await
        .unwrap();
    let info = gh.pull(REPO, pr.number).unwrap();
    assert_eq!(info.state, "open", "{info:?}");
    assert_eq!(Some(info.head_sha.clone()), third.published.commit);
    assert!(gh.is_verified(REPO, &info.head_sha).unwrap());
    let branches = gh.branches(REPO).unwrap();
    assert!(
        !branches.iter().any(|b| b.contains(".next-")),
        "the scratch branch is gone: {branches:?}"
    );
    assert_eq!(git_requests(&gh), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_commit_rules_let_api_releases_through_and_refuse_pushes_with_a_hint() {
    let gh = standin().await;
    gh.require_signed_commits(REPO, &["*"]).unwrap();
    let client = api(&gh, TOKEN);

    // api: merged, the branch deleted after the merge with its lease.
    let out = release_hello(Via::Api(None), &client, "dev-1", "dev-2", MergePolicy::Auto)
        .await
        .unwrap();
    assert!(out.merged, "{out:?}");
    assert!(main_overlay(&gh).contains("newTag: dev-2"));
    assert!(
        !gh.branches(REPO)
            .unwrap()
            .iter()
            .any(|b| b.starts_with("release/"))
    );

    // git: the push carries an unsigned commit; GH013 refuses it, and we say why.
    let ws = Workspace::open(&GitOptions {
        workspace: std::env::temp_dir().join("gitops-action-no-such-workspace"),
        remote_url: Some(gh.git_url("acme", "app")),
        token: Some(TOKEN.into()),
        author: Identity::default(),
        committer: Identity::default(),
        max_retries: 3,
    })
    .unwrap();
    let err = release_hello(Via::Git(&ws), &client, "dev-1", "dev-3", MergePolicy::Auto)
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("Commits must have verified signatures") || text.contains("GH013"),
        "{text}"
    );
    let hint = gitops_action::error::hint_of(&err).unwrap_or_default();
    assert!(hint.contains("commit-via: api"), "{hint}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_through_the_api_is_leased_and_protected_bases_refuse_it() {
    let gh = standin().await;
    let client = api(&gh, TOKEN);
    let mut req = request("hello", "dev-1", "dev-2", MergePolicy::Direct);
    req.publish.target = Target::Direct;
    let out = release_req(Via::Api(None), &client, &req, "dev-2")
        .await
        .unwrap();
    assert!(out.merged && out.pr.is_none(), "{out:?}");
    let tip = gh.branch_sha(REPO, "main").unwrap().unwrap();
    assert_eq!(out.merge_sha.as_deref(), Some(tip.as_str()));
    assert!(gh.is_verified(REPO, &tip).unwrap());

    gh.protect_branch(REPO, "main", Protection::approvals(1))
        .unwrap();
    let err = release_req(Via::Api(None), &client, &req, "dev-3")
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("Protected branch"), "{text}");
    assert_eq!(gh.branch_sha(REPO, "main").unwrap().unwrap(), tip);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_head_is_read_again_and_the_edit_reapplied() {
    let gh = standin().await;
    let client = api(&gh, TOKEN);
    let mut req = request("hello", "dev-1", "dev-2", MergePolicy::Direct);
    req.publish.target = Target::Direct;
    // Someone else's commit lands between our read and our commit.
    let mut moved = false;
    let mut edit = set_tag("ghcr.io/acme/hello", "dev-2");
    let out = release(
        Via::Api(None),
        &client,
        &req,
        &mut |_path: &str, text: &str| {
            if !moved {
                moved = true;
                gh.push_commit(REPO, "main", &[("other.txt", "x\n")])
                    .unwrap();
            }
            edit(_path, text)
        },
    )
    .await
    .unwrap();
    assert_eq!(out.published.retries, 1, "{out:?}");
    assert!(gh.file_at(REPO, "main", "other.txt").unwrap().is_some());
    assert!(main_overlay(&gh).contains("newTag: dev-2"));
}

#[test]
fn twenty_concurrent_api_releases_all_merge_and_nothing_is_lost() {
    let retries = twenty_concurrent_releases(false);
    eprintln!("20 concurrent API releases: {retries} retries in all");
}

/// A direct commit whose answer is lost: the copy sent again is refused as stale
/// (the first one landed), and the run finds its commit on the base instead of
/// reporting "nothing to do" or committing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_commit_whose_answer_was_lost_is_found_on_the_base() {
    use gitops_testkit::fault::{Fault, FaultKind};
    let gh = standin().await;
    let client = api(&gh, TOKEN);
    let before = gh.branch_sha(REPO, "main").unwrap().unwrap();
    let mut req = request("hello", "dev-1", "dev-2", MergePolicy::Direct);
    req.publish.target = Target::Direct;
    gh.inject(Fault::new(
        "POST",
        "createCommitOnBranch",
        1,
        FaultKind::LostAnswer,
    ));
    let out = release_req(Via::Api(None), &client, &req, "dev-2")
        .await
        .unwrap();
    assert_eq!(gh.faults_fired(), 1);
    assert!(
        out.published.changed && out.published.pushed && out.merged,
        "{out:?}"
    );
    let tip = gh.branch_sha(REPO, "main").unwrap().unwrap();
    assert_eq!(out.merge_sha.as_deref(), Some(tip.as_str()));
    // Exactly one commit on top of where main was.
    let info = gh
        .git(REPO, &["rev-list", "--count", &format!("{before}..{tip}")])
        .unwrap();
    assert_eq!(info.trim(), "1");
    assert!(main_overlay(&gh).contains("newTag: dev-2"));
}

/// Through the API too, an overlay that is a symbolic link in the base tree
/// is refused (exit 2, its path named), as the git path refuses it; nothing is
/// committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_overlay_in_the_base_tree_is_refused() {
    let gh = standin().await;
    gh.push_link(REPO, "main", OVERLAY, "../../../etc/passwd")
        .unwrap();
    let before = gh.branch_sha(REPO, "main").unwrap();
    let client = api(&gh, TOKEN);
    let err = release_hello(Via::Api(None), &client, "dev-1", "dev-2", MergePolicy::Auto)
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("is a symbolic link in the repository"),
        "{text}"
    );
    assert_eq!(gitops_action::error::exit_code(&err), 2);
    assert_eq!(gh.branch_sha(REPO, "main").unwrap(), before);
    assert!(gh.pulls(REPO).unwrap().is_empty());
}

/// The branch and its commit in one document (`updateRefs` then
/// `createCommitOnBranch`, run in order: GraphQL spec, "Mutation"): where the
/// branch appeared meanwhile, the create is refused, the commit leased on the base
/// lands nowhere, and the answer is a lost race (read again), not an error; the
/// other run's branch is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_made_meanwhile_refuses_the_one_document_create_and_commit() {
    let gh = standin().await;
    let client = api(&gh, TOKEN);
    let read = client
        .read_branches(None, Some("release/hello/dev"), OVERLAY, None)
        .await
        .unwrap();
    assert!(read.head.is_none());
    let theirs = gh
        .push_commit(REPO, "release/hello/dev", &[(OVERLAY, "theirs\n")])
        .unwrap();
    let files = [(OVERLAY, "ours\n")];
    let r = client
        .branch_and_commit(
            &read.repo_id,
            "release/hello/dev",
            gitops_action::github::ZERO_OID,
            &read.base_oid,
            &files,
            "hello: dev",
        )
        .await
        .unwrap();
    assert!(
        matches!(&r, gitops_action::github::Leased::Stale(why) if why.contains("appeared meanwhile")),
        "{r:?}"
    );
    assert_eq!(
        gh.branch_sha(REPO, "release/hello/dev").unwrap().as_deref(),
        Some(theirs.as_str())
    );
    // With no one in the way the same document makes both.
    let r = client
        .branch_and_commit(
            &read.repo_id,
            "release/hello/next",
            gitops_action::github::ZERO_OID,
            &read.base_oid,
            &files,
            "hello: dev",
        )
        .await
        .unwrap();
    let gitops_action::github::Leased::Done(commit) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        gh.branch_sha(REPO, "release/hello/next").unwrap(),
        Some(commit.clone())
    );
    assert_eq!(
        gh.file_at(REPO, &commit, OVERLAY).unwrap().as_deref(),
        Some("ours\n")
    );
    assert!(gh.is_verified(REPO, &commit).unwrap());
}
