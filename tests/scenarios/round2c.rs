//! The workflow runner, round 2, third part (issue 27): permissions the stand-in
//! enforces as GitHub does, each scenario failing if the rule went back (sources in
//! docs/github-facts/permissions.md).

use gitops_testkit::workflow::{RunRecord, Runner};

use crate::*;

/// `test/uat` one commit further, built by CI; returns its sha.
fn built_uat(rig: &Rig, n: u32) -> String {
    let sha = rig
        .gh
        .push_commit(
            REPO,
            "test/uat",
            &[("app/hello.txt", &format!("uat {n}\n"))],
        )
        .unwrap();
    rig.push_build(&sha);
    sha
}

fn release_uat(rig: &Rig, r: &mut Runner) -> Vec<RunRecord> {
    r.click_run_workflow(
        &rig.alice,
        "service-release.yaml",
        "main",
        &[("service", "hello"), ("ref", "test/uat")],
    )
    .unwrap()
}

/// A user's copy of a file on main, `from` replaced by `to`.
fn edit_on_main(rig: &Rig, path: &str, from: &str, to: &str) {
    let text = rig.gh.file_at(REPO, "main", path).unwrap().unwrap();
    let edited = text.replacen(from, to, 1);
    assert_ne!(edited, text, "{path} has no `{from}`");
    rig.gh
        .push_commit(REPO, "main", &[(path, &edited)])
        .unwrap();
}

/// uat's PR is open (merge: never). The team then adds a label to uat, and narrows
/// its copies of service-release and overlay-update from `pull-requests: write` to
/// `pull-requests: read` and `issues: write` ("labels are issues"; the read keeps the
/// PR lookup, which GitHub refuses without it: round2d). The next release to uat finds the open PR
/// and adds the missing label first: GitHub refuses it (403 "Resource not accessible
/// by integration") as it refuses `issues: write` alone on a pull request, and the
/// run fails there. Before: the stand-in took either permission, the label went on,
/// and the run failed later, at the PR's update.
#[test]
fn labels_on_a_pull_request_need_pull_requests_write() {
    let rig = Rig::new(CONFIG_000);
    let mut r = rig.runner();
    built_uat(&rig, 1);
    let first = release_uat(&rig, &mut r);
    expect_runs(
        &first,
        &[("service-release.yaml", "workflow_dispatch", "success")],
    );
    let pr = rig.open_pr("release/hello/uat").expect("uat's PR");
    assert_eq!(pr.labels, ["uat"]);
    edit_on_main(
        &rig,
        ".github/gitops.yaml",
        "    labels: [\"uat\"]\n",
        "    labels: [\"uat\", \"qa-ready\"]\n",
    );
    for file in ["service-release.yaml", "overlay-update.yaml"] {
        let path = format!(".github/workflows/{file}");
        let text = rig.gh.file_at(REPO, "main", &path).unwrap().unwrap();
        let at = text
            .find("      pull-requests: write")
            .unwrap_or_else(|| panic!("{file}"));
        let end = at + text[at..].find('\n').unwrap();
        let edited = format!(
            "{}      pull-requests: read\n      issues: write{}",
            &text[..at],
            &text[end..]
        );
        rig.gh
            .push_commit(REPO, "main", &[(&path, &edited)])
            .unwrap();
    }
    built_uat(&rig, 2);
    let runs = release_uat(&rig, &mut r);
    expect_runs(
        &runs,
        &[("service-release.yaml", "workflow_dispatch", "failure")],
    );
    let step = runs[0].action_steps()[1];
    assert_eq!(step.outcome, "failure", "{}", runs[0].describe());
    let calls = runs[0].api_calls();
    let label = format!("POST /repos/{REPO}/issues/{}/labels 403", pr.number);
    assert!(calls.contains(&label), "{calls:#?}");
    assert!(
        !calls.iter().any(|c| c.starts_with("PATCH ")),
        "the run stops at the label: {calls:#?}"
    );
    let err = step
        .annotations
        .iter()
        .find(|a| a.level == "error")
        .map(|a| a.message.clone())
        .unwrap_or_default();
    assert!(err.contains("label the pull request"), "{err}");
    assert!(
        err.contains("Resource not accessible by integration"),
        "{err}"
    );
    assert_eq!(
        rig.open_pr("release/hello/uat").unwrap().labels,
        ["uat"],
        "no label added"
    );
}

/// A user's copy of overlay-push whose `resolve` job asks `actions: read` instead
/// of `contents: read` (so `contents` is `none`): on this private repository the
/// checkout's fetch gets git's "Repository not found.", the job fails and nothing
/// is released. The shipped overlay-push (`contents: read`) releases the same push.
/// Before: every token the stand-in knew could read, and the copy released.
#[test]
fn a_job_without_contents_read_cannot_check_out() {
    let rig = Rig::new(CONFIG_000);
    let mut r = rig.runner();
    let (_, runs) = r
        .push(&rig.alice, "feature/ok", &[("app/hello.txt", "shipped\n")])
        .unwrap();
    assert_eq!(runs[0].workflow, "overlay-push.yaml");
    assert_eq!(
        runs[0].job("resolve").result,
        "success",
        "{}",
        runs[0].describe()
    );
    edit_on_main(
        &rig,
        ".github/workflows/overlay-push.yaml",
        "    permissions:\n      contents: read\n",
        "    permissions:\n      actions: read\n",
    );
    let sha = rig
        .gh
        .push_commit(REPO, "feature/y", &[("app/hello.txt", "no contents\n")])
        .unwrap();
    rig.push_build(&sha);
    let before = rig.gh.pulls(REPO).unwrap().len();
    let runs = r.push_ref(&rig.alice, "feature/z", &sha).unwrap();
    expect_runs(&runs, &[("overlay-push.yaml", "push", "failure")]);
    let resolve = runs[0].job("resolve");
    assert_eq!(resolve.result, "failure");
    let checkout = &resolve.steps[0];
    assert_eq!(checkout.outcome, "failure");
    assert!(
        checkout.annotations[0]
            .message
            .contains("Repository not found."),
        "{:?}",
        checkout.annotations
    );
    assert_eq!(runs[0].job("release").result, "skipped");
    assert_eq!(
        rig.gh.pulls(REPO).unwrap().len(),
        before,
        "nothing released"
    );
}
