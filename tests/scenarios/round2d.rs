//! The workflow runner, round 2, fourth part (issue 27): GHCR reached through the
//! action's own default credentials, with GHCR's answers (docs/github-facts/registry.md),
//! and the reads GitHub refuses to a job token without the permission
//! (docs/github-facts/permissions.md, "Reads"). Each scenario fails if its rule
//! went back.

use gitops_testkit::workflow::{RunRecord, Runner, StepRecord};

use crate::*;

/// A user's copy of a file on main, `from` replaced by `to`.
fn edit_on_main(rig: &Rig, path: &str, from: &str, to: &str) {
    let text = rig.gh.file_at(REPO, "main", path).unwrap().unwrap();
    let edited = text.replacen(from, to, 1);
    assert_ne!(edited, text, "{path} has no `{from}`");
    rig.gh
        .push_commit(REPO, "main", &[(path, &edited)])
        .unwrap();
}

/// A commit CI built, pushed to `feature/<name>`: overlay-push releases it to dev.
fn push_built(rig: &Rig, r: &mut Runner, name: &str) -> Vec<RunRecord> {
    let sha = rig
        .gh
        .push_commit(
            REPO,
            &format!("feature/{name}-src"),
            &[("app/hello.txt", &format!("{name}\n"))],
        )
        .unwrap();
    rig.push_build(&sha);
    r.push_ref(&rig.alice, &format!("feature/{name}"), &sha)
        .unwrap()
}

/// Our action's step that ran `release` in the run.
fn release_step(run: &RunRecord) -> &StepRecord {
    run.action_steps()
        .into_iter()
        .find(|s| s.env.get("INPUT_COMMAND").map(String::as_str) == Some("release"))
        .unwrap_or_else(|| panic!("no release step: {}", run.describe()))
}

fn errors(step: &StepRecord) -> String {
    step.annotations
        .iter()
        .filter(|a| a.level == "error")
        .map(|a| a.message.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

/// dev tags in the registry.
fn dev_tags(rig: &Rig) -> Vec<String> {
    rig.reg
        .requests()
        .into_iter()
        .filter(|q| q.method == "PUT" && q.path.contains("/manifests/dev-") && q.status < 300)
        .map(|q| q.path)
        .collect()
}

/// The shipped overlay-push releases a push to dev with nothing planted for the
/// registry: no `config.json` in the action's home, no `registry-password`; the
/// action logs in to GitHub's registry with its own defaults, `GITHUB_ACTOR` (alice,
/// who pushed) and the `token` input (the job's token), as it would on ghcr.io.
/// Before: the runner wrote a login for the registry's own user into the action's
/// `$HOME/.docker/config.json`, which the action preferred, and the job token
/// never reached the registry.
#[test]
fn the_shipped_release_logs_in_to_ghcr_with_the_actions_own_defaults() {
    let rig = Rig::new(CONFIG_000);
    let mut r = rig.runner();
    rig.reg.reset_log();
    let runs = push_built(&rig, &mut r, "ghcr");
    expect_runs(
        &runs,
        &[
            ("overlay-push.yaml", "push", "success"),
            ("overlay-deploy.yaml", "workflow_dispatch", "success"),
        ],
    );
    let step = release_step(&runs[0]);
    assert_eq!(step.env["INPUT_REGISTRY-PASSWORD"], "");
    assert_eq!(step.env["INPUT_REGISTRY-USERNAME"], "");
    assert_eq!(step.env["GITHUB_ACTOR"], "alice");
    let job_token = step.env["INPUT_TOKEN"].clone();
    assert!(job_token.starts_with("ghs_"), "{job_token}");
    let home = std::path::Path::new(&step.env["HOME"]);
    assert!(
        !home.join(".docker/config.json").exists(),
        "nothing planted in {}",
        home.display()
    );
    let logins = rig.reg.job_logins();
    assert!(
        logins
            .iter()
            .any(|(user, token)| user == "alice" && *token == job_token),
        "the action logged in as GITHUB_ACTOR with the job's token: {logins:?}"
    );
    assert_eq!(dev_tags(&rig).len(), 1, "the dev tag was written");
}

/// A user's copy of overlay-update whose job asks `packages: read` instead of
/// `write`: the login succeeds, and the retag's write gets GHCR's answer to a job
/// token without the permission, `denied: installation not allowed to Write
/// organization package`; exit 1 with it named, no dev tag, no PR. Before: the
/// planted login could write whatever the job's `permissions:` said, and the copy
/// released.
#[test]
fn a_release_without_packages_write_gets_ghcrs_denial() {
    let rig = Rig::new(CONFIG_000);
    edit_on_main(
        &rig,
        ".github/workflows/overlay-update.yaml",
        "      packages: write",
        "      packages: read",
    );
    let mut r = rig.runner();
    rig.reg.reset_log();
    let before = rig.gh.pulls(REPO).unwrap().len();
    let runs = push_built(&rig, &mut r, "pkgread");
    expect_runs(&runs, &[("overlay-push.yaml", "push", "failure")]);
    let step = release_step(&runs[0]);
    assert_eq!(step.exit_code, Some(1), "{}", runs[0].describe());
    let err = errors(step);
    assert!(
        err.contains("403 Forbidden")
            && err.contains("DENIED: installation not allowed to Write organization package"),
        "GHCR's denial is named: {err}"
    );
    assert!(err.contains(":dev-"), "{err}");
    assert!(dev_tags(&rig).is_empty());
    assert_eq!(rig.gh.pulls(REPO).unwrap().len(), before, "no PR");
}

/// `packages: write`, but the package's *Manage Actions access* lists the
/// repository with Read only (a package first pushed from elsewhere): GHCR answers
/// the write `denied: permission_denied: write_package`. Before: a job token with
/// `packages: write` could write every package.
#[test]
fn a_package_not_open_to_the_repository_is_permission_denied() {
    let rig = Rig::new(CONFIG_000);
    rig.reg.grant_actions_access("acme/hello", REPO, false);
    let mut r = rig.runner();
    rig.reg.reset_log();
    let runs = push_built(&rig, &mut r, "noaccess");
    expect_runs(&runs, &[("overlay-push.yaml", "push", "failure")]);
    let step = release_step(&runs[0]);
    assert_eq!(step.exit_code, Some(1), "{}", runs[0].describe());
    let err = errors(step);
    assert!(
        err.contains("DENIED: permission_denied: write_package"),
        "GHCR's denial is named: {err}"
    );
    assert!(dev_tags(&rig).is_empty());
}

/// A user's copy of overlay-update that drops `pull-requests: write` (the team
/// thinks a merge-on-green dev needs only `contents`): the release's first look
/// for the environment's open PR is a pull-request read, which GitHub refuses to a
/// job token without `pull-requests: read` (GraphQL `FORBIDDEN` "Resource not
/// accessible by integration", REST 403), so the run fails there, before any
/// branch is pushed or PR opened. Before: every token could read pulls, the run
/// pushed the release branch and failed later at `POST /pulls` (403).
#[test]
fn a_release_without_pull_requests_read_fails_at_the_pr_lookup() {
    let rig = Rig::new(CONFIG_000);
    edit_on_main(
        &rig,
        ".github/workflows/overlay-update.yaml",
        "      pull-requests: write # open, label, request reviews, merge\n",
        "",
    );
    let mut r = rig.runner();
    rig.reg.reset_log();
    let runs = push_built(&rig, &mut r, "noprs");
    expect_runs(&runs, &[("overlay-push.yaml", "push", "failure")]);
    let step = release_step(&runs[0]);
    assert_eq!(step.exit_code, Some(1), "{}", runs[0].describe());
    let err = errors(step);
    assert!(
        err.contains("Resource not accessible by integration"),
        "{err}"
    );
    // The hint names the permission the refused field needs (the error's path),
    // not `contents` (a regression: it did).
    assert!(
        step.stderr
            .contains("hint: give the workflow `permissions: pull-requests: write`"),
        "{}",
        step.stderr
    );
    let calls = runs[0].api_calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with(&format!("POST /repos/{REPO}/pulls"))),
        "no PR attempted: {calls:#?}"
    );
    assert!(
        rig.gh
            .branch_sha(REPO, "release/hello/dev")
            .unwrap()
            .is_none(),
        "no release branch pushed"
    );
    assert!(dev_tags(&rig).is_empty(), "nothing written to the registry");
}

/// A user's copy of overlay-update whose step sets `GITOPS_GHCR_HOST` to a URL with
/// a path (not one registry host): exit 2 before anything is read or written,
/// naming the variable and its value, then a hint. The variable decides where the
/// job's token goes, so anything but one host is refused rather than guessed at.
#[test]
fn a_ghcr_host_that_is_not_one_host_is_bad_input() {
    let rig = Rig::new(CONFIG_000);
    edit_on_main(
        &rig,
        ".github/workflows/overlay-update.yaml",
        "      - id: update\n",
        "      - id: update\n        env:\n          GITOPS_GHCR_HOST: https://containers.ghes.example/acme\n",
    );
    let mut r = rig.runner();
    rig.reg.reset_log();
    let before = rig.gh.pulls(REPO).unwrap().len();
    let runs = push_built(&rig, &mut r, "badhost");
    expect_runs(&runs, &[("overlay-push.yaml", "push", "failure")]);
    let step = release_step(&runs[0]);
    assert_eq!(step.exit_code, Some(2), "{}", runs[0].describe());
    let err = errors(step);
    assert!(
        err.contains(
            "GITOPS_GHCR_HOST `https://containers.ghes.example/acme` is not a registry host"
        ),
        "{err}"
    );
    assert!(step.stderr.contains("hint: "), "{}", step.stderr);
    assert!(rig.reg.job_logins().is_empty(), "no login anywhere");
    assert!(dev_tags(&rig).is_empty());
    assert_eq!(rig.gh.pulls(REPO).unwrap().len(), before);
}
