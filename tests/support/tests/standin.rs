//! The GitHub stand-in itself: real `git` over smart HTTP with tokens, raw REST calls
//! checked against GitHub's documented answers, and octocrab's models parsing them.

use std::path::Path;
use std::process::Command;

use gitops_testkit::github::{GitHubStandIn, Protection, RepoSettings, TokenGrants};
use serde_json::{Value, json};

const TOKEN: &str = "ghs_standin_token";
const OVERLAY: &str = "overlays/dev/kustomization.yaml";
const START: &str = "images:\n  - name: ghcr.io/acme/hello\n    newTag: dev-1\n";

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .unwrap()
}

fn git_ok(dir: &Path, args: &[&str]) -> String {
    let out = git(dir, args);
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A stand-in with `acme/app` (overlay on `main`) and a write-all `GITHUB_TOKEN`.
fn setup() -> GitHubStandIn {
    let gh = GitHubStandIn::start_blocking().unwrap();
    gh.create_repo(
        "acme/app",
        "main",
        &[(OVERLAY, START), ("README.md", "app\n")],
    )
    .unwrap();
    gh.add_token(TOKEN, TokenGrants::github_token());
    gh
}

/// Clone over HTTP with the token, commit `files` on a new `branch`, push it.
fn push_branch(
    gh: &GitHubStandIn,
    branch: &str,
    files: &[(&str, &str)],
) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = gh.git_url_with_token("acme", "app", TOKEN);
    git_ok(dir.path(), &["clone", "-q", &url, "w"]);
    let w = dir.path().join("w");
    git_ok(&w, &["checkout", "-q", "-b", branch]);
    for (p, c) in files {
        let f = w.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    }
    git_ok(&w, &["add", "-A"]);
    git_ok(&w, &["commit", "-q", "-m", &format!("change on {branch}")]);
    git_ok(&w, &["push", "-q", "origin", branch]);
    let sha = git_ok(&w, &["rev-parse", "HEAD"]);
    (dir, sha)
}

struct Api {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl Api {
    fn new(gh: &GitHubStandIn, token: Option<&str>) -> Api {
        Api {
            base: gh.api_url(),
            token: token.map(String::from),
            client: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self
            .client
            .request(method.parse().unwrap(), url)
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "standin-test");
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }
}

fn new_pr(head: &str) -> Value {
    json!({"title": "hello: dev dev-1 → dev-2", "body": "body", "head": head, "base": "main"})
}

#[test]
fn git_over_http_needs_the_token() {
    let gh = setup();
    let dir = tempfile::tempdir().unwrap();
    // No credentials: 401 with a Basic challenge, so git gives up (no prompt).
    let out = git(
        dir.path(),
        &["clone", "-q", &gh.git_url("acme", "app"), "a"],
    );
    assert!(!out.status.success());
    let bad = format!("http://x-access-token:nope@{}/acme/app.git", gh.addr());
    assert!(
        !git(dir.path(), &["clone", "-q", &bad, "b"])
            .status
            .success()
    );
    // The token as the password of any user works, and so does a depth-1 clone.
    let any_user = format!("http://someone:{TOKEN}@{}/acme/app.git", gh.addr());
    git_ok(dir.path(), &["clone", "-q", "--depth", "1", &any_user, "c"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("c").join(OVERLAY)).unwrap(),
        START
    );
    // A push lands in the bare repository.
    let (_w, sha) = push_branch(&gh, "feature", &[("new.txt", "x\n")]);
    assert_eq!(gh.branch_sha("acme/app", "feature").unwrap(), Some(sha));
    let log = gh.request_log();
    assert!(log.iter().any(|r| r.status == 401));
    assert!(gh.git_requests() >= 4);
    assert_eq!(gh.api_calls(), 0);
}

#[test]
fn a_read_only_token_cannot_push() {
    let gh = setup();
    gh.add_token("ro", TokenGrants::read_only());
    let dir = tempfile::tempdir().unwrap();
    let url = gh.git_url_with_token("acme", "app", "ro");
    git_ok(dir.path(), &["clone", "-q", &url, "w"]);
    let w = dir.path().join("w");
    std::fs::write(w.join("x"), "x").unwrap();
    git_ok(&w, &["add", "x"]);
    git_ok(&w, &["commit", "-qm", "x"]);
    let out = git(&w, &["push", "origin", "HEAD:refs/heads/x"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "{out:?}"
    );
}

#[test]
fn protected_branch_and_workflow_pushes_are_refused() {
    let gh = setup();
    gh.protect_branch("acme/app", "main", Protection::checks(&["ci"]))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            &gh.git_url_with_token("acme", "app", TOKEN),
            "w",
        ],
    );
    let w = dir.path().join("w");
    std::fs::write(w.join("x"), "x").unwrap();
    git_ok(&w, &["add", "x"]);
    git_ok(&w, &["commit", "-qm", "x"]);
    let out = git(&w, &["push", "origin", "HEAD:main"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("remote: error: GH006: Protected branch update failed for refs/heads/main."),
        "{err}"
    );
    assert!(
        err.contains("Required status check \"ci\" is expected."),
        "{err}"
    );

    // Workflow files need the `workflows` grant, which GITHUB_TOKEN never has.
    std::fs::create_dir_all(w.join(".github/workflows")).unwrap();
    std::fs::write(w.join(".github/workflows/ci.yml"), "on: push\n").unwrap();
    git_ok(&w, &["add", "-A"]);
    git_ok(&w, &["commit", "-qm", "ci"]);
    let out = git(&w, &["push", "origin", "HEAD:refs/heads/wf"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("refusing to allow a GitHub App to create or update workflow `.github/workflows/ci.yml` without `workflows` permission"),
        "{err}"
    );
    gh.add_token("app", TokenGrants::user("admin"));
    let url = gh.git_url_with_token("acme", "app", "app");
    git_ok(&w, &["push", "-q", &url, "HEAD:refs/heads/wf"]);
    assert!(gh.branch_sha("acme/app", "wf").unwrap().is_some());
}

#[tokio::test]
async fn api_needs_a_valid_token() {
    let gh = setup();
    let (s, v) = Api::new(&gh, None)
        .call("GET", "/repos/acme/app", None)
        .await;
    assert_eq!(
        (s, v["message"].as_str()),
        (401, Some("Requires authentication"))
    );
    let (s, v) = Api::new(&gh, Some("wrong"))
        .call("GET", "/repos/acme/app", None)
        .await;
    assert_eq!((s, v["message"].as_str()), (401, Some("Bad credentials")));
    assert!(v["documentation_url"].is_string());
    let (s, v) = Api::new(&gh, Some(TOKEN))
        .call("GET", "/repos/acme/app", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["default_branch"], "main");
    assert_eq!(v["full_name"], "acme/app");
    let (s, _) = Api::new(&gh, Some(TOKEN))
        .call("GET", "/repos/acme/nope", None)
        .await;
    assert_eq!(s, 404);
    assert_eq!(gh.api_calls(), 4);
}

#[tokio::test]
async fn pull_requests_open_refuse_duplicates_and_update() {
    let gh = setup();
    let api = Api::new(&gh, Some(TOKEN));
    let (_w, sha) = push_branch(&gh, "release/hello/dev", &[(OVERLAY, "images: []\n")]);
    let (s, pr) = api
        .call(
            "POST",
            "/repos/acme/app/pulls",
            Some(new_pr("release/hello/dev")),
        )
        .await;
    assert_eq!(s, 201, "{pr}");
    assert_eq!(pr["number"], 1);
    assert_eq!(pr["head"]["sha"], sha.as_str());
    assert_eq!(pr["mergeable"], Value::Null);
    assert!(pr["node_id"].as_str().unwrap().starts_with("PR_"));

    let (s, dup) = api
        .call(
            "POST",
            "/repos/acme/app/pulls",
            Some(new_pr("acme:release/hello/dev")),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(
        dup,
        json!({
            "message": "Validation Failed",
            "errors": [{"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for acme:release/hello/dev."}],
            "documentation_url": "https://docs.github.com/rest",
            "status": "422",
        })
    );
    let (s, none) = api
        .call("POST", "/repos/acme/app/pulls", Some(new_pr("main")))
        .await;
    assert_eq!(s, 422);
    assert_eq!(
        none["errors"][0]["message"],
        "No commits between main and main"
    );
    let (s, missing) = api
        .call("POST", "/repos/acme/app/pulls", Some(new_pr("no/such")))
        .await;
    assert_eq!(s, 422);
    assert_eq!(missing["errors"][0]["field"], "head");

    let (s, list) = api
        .call(
            "GET",
            "/repos/acme/app/pulls?state=open&head=acme%3Arelease%2Fhello%2Fdev&base=main",
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, other) = api
        .call("GET", "/repos/acme/app/pulls?head=acme:other", None)
        .await;
    assert_eq!(other, json!([]));

    let (s, upd) = api
        .call(
            "PATCH",
            "/repos/acme/app/pulls/1",
            Some(json!({"title": "new title", "body": "new body"})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (upd["title"].as_str(), upd["body"].as_str()),
        (Some("new title"), Some("new body"))
    );
    assert_eq!(upd["mergeable"], true);
    assert_eq!(upd["mergeable_state"], "clean");

    let (s, _) = api
        .call(
            "POST",
            "/repos/acme/app/issues/1/labels",
            Some(json!({"labels": ["release", "dev"]})),
        )
        .await;
    assert_eq!(s, 200);
    gh.add_collaborator("acme/app", "alice", "write").unwrap();
    gh.add_team_member("acme/platform", "bob", "member");
    // GITHUB_TOKEN can't resolve a team: 422 for the whole call, users dropped too,
    // `errors` a list of strings (PyGithub/PyGithub#1499, vsoch/pull-request-action#29).
    let (s, r) = api
        .call(
            "POST",
            "/repos/acme/app/pulls/1/requested_reviewers",
            Some(json!({"reviewers": ["alice"], "team_reviewers": ["platform"]})),
        )
        .await;
    assert_eq!(
        (s, r["message"].as_str()),
        (422, Some("Validation Failed")),
        "{r}"
    );
    assert!(
        r["errors"][0]
            .as_str()
            .is_some_and(|e| e.starts_with("Could not resolve to a node with the global id of '")),
        "{r}"
    );
    assert!(
        gh.pull("acme/app", 1)
            .unwrap()
            .requested_reviewers
            .is_empty()
    );
    let (s, r) = api
        .call(
            "POST",
            "/repos/acme/app/pulls/1/requested_reviewers",
            Some(json!({"reviewers": ["alice"]})),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    gh.add_token("org-reader", TokenGrants::user("octo"));
    let (s, r) = Api::new(&gh, Some("org-reader"))
        .call(
            "POST",
            "/repos/acme/app/pulls/1/requested_reviewers",
            Some(json!({"team_reviewers": ["platform"]})),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let (s, r) = api
        .call(
            "POST",
            "/repos/acme/app/pulls/1/requested_reviewers",
            Some(json!({"reviewers": ["mallory"]})),
        )
        .await;
    assert_eq!(s, 422, "{r}");
    let info = gh.pull("acme/app", 1).unwrap();
    assert_eq!(info.labels, ["release", "dev"]);
    assert_eq!(info.requested_reviewers, ["alice"]);
    assert_eq!(info.requested_teams, ["acme/platform"]);

    let (s, closed) = api
        .call(
            "PATCH",
            "/repos/acme/app/pulls/1",
            Some(json!({"state": "closed"})),
        )
        .await;
    assert_eq!((s, closed["state"].as_str()), (200, Some("closed")));
}

#[tokio::test]
async fn permissions_and_the_actions_setting() {
    let gh = setup();
    gh.add_token("ro", TokenGrants::read_only());
    push_branch(&gh, "b", &[("f", "1\n")]);
    let (s, v) = Api::new(&gh, Some("ro"))
        .call("POST", "/repos/acme/app/pulls", Some(new_pr("b")))
        .await;
    assert_eq!(
        (s, v["message"].as_str()),
        (403, Some("Resource not accessible by integration"))
    );
    gh.set_setting_actions_can_create_prs(false);
    let (s, v) = Api::new(&gh, Some(TOKEN))
        .call("POST", "/repos/acme/app/pulls", Some(new_pr("b")))
        .await;
    assert_eq!(
        (s, v["message"].as_str()),
        (
            403,
            Some("GitHub Actions is not permitted to create or approve pull requests.")
        )
    );
    // A user's token is not subject to the Actions setting.
    gh.add_token("pat", TokenGrants::user("octo"));
    let (s, _) = Api::new(&gh, Some("pat"))
        .call("POST", "/repos/acme/app/pulls", Some(new_pr("b")))
        .await;
    assert_eq!(s, 201);
    // Team membership needs an organization permission GITHUB_TOKEN lacks; GitHub
    // answers 404 then, even for a member (srvaroa/labeler#160,
    // actions/github-script#518), and the team itself is hidden the same way.
    gh.add_team_member("acme/ops", "octo", "member");
    let api = Api::new(&gh, Some(TOKEN));
    let (s, _) = api
        .call("GET", "/orgs/acme/teams/ops/memberships/octo", None)
        .await;
    assert_eq!(s, 404);
    let (s, _) = api.call("GET", "/orgs/acme/teams/ops", None).await;
    assert_eq!(s, 404);
    let (s, v) = Api::new(&gh, Some("pat"))
        .call("GET", "/orgs/acme/teams/ops", None)
        .await;
    assert_eq!((s, v["slug"].as_str()), (200, Some("ops")));
    let pat = Api::new(&gh, Some("pat"));
    let (s, v) = pat
        .call("GET", "/orgs/acme/teams/ops/memberships/octo", None)
        .await;
    assert_eq!((s, v["state"].as_str()), (200, Some("active")));
    let (s, _) = pat
        .call("GET", "/orgs/acme/teams/ops/memberships/eve", None)
        .await;
    assert_eq!(s, 404);
    gh.add_collaborator("acme/app", "maint", "maintain")
        .unwrap();
    let (_, v) = api
        .call(
            "GET",
            "/repos/acme/app/collaborators/maint/permission",
            None,
        )
        .await;
    assert_eq!(
        (v["permission"].as_str(), v["role_name"].as_str()),
        (Some("write"), Some("maintain"))
    );
    let (_, v) = api
        .call("GET", "/repos/acme/app/collaborators/eve/permission", None)
        .await;
    assert_eq!(v["permission"], "none");
}

#[tokio::test]
async fn mergeable_comes_from_a_real_merge() {
    let gh = setup();
    let api = Api::new(&gh, Some(TOKEN));
    push_branch(
        &gh,
        "a",
        &[(
            OVERLAY,
            "images:\n  - name: ghcr.io/acme/hello\n    newTag: dev-2\n",
        )],
    );
    api.call("POST", "/repos/acme/app/pulls", Some(new_pr("a")))
        .await;
    let (_, pr) = api.call("GET", "/repos/acme/app/pulls/1", None).await;
    assert_eq!(
        (pr["mergeable"].as_bool(), pr["mergeable_state"].as_str()),
        (Some(true), Some("clean"))
    );
    // Someone changes the same line on main: a real conflict.
    gh.push_commit(
        "acme/app",
        "main",
        &[(
            OVERLAY,
            "images:\n  - name: ghcr.io/acme/hello\n    newTag: dev-3\n",
        )],
    )
    .unwrap();
    let (_, pr) = api.call("GET", "/repos/acme/app/pulls/1", None).await;
    assert_eq!(
        (pr["mergeable"].as_bool(), pr["mergeable_state"].as_str()),
        (Some(false), Some("dirty"))
    );
    let (s, v) = api
        .call(
            "PUT",
            "/repos/acme/app/pulls/1/merge",
            Some(json!({"merge_method": "squash"})),
        )
        .await;
    assert_eq!(
        (s, v["message"].as_str()),
        (405, Some("Pull Request is not mergeable"))
    );
    // A change elsewhere merges cleanly.
    push_branch(&gh, "b", &[("other.txt", "x\n")]);
    api.call("POST", "/repos/acme/app/pulls", Some(new_pr("b")))
        .await;
    let (_, pr) = api.call("GET", "/repos/acme/app/pulls/2", None).await;
    assert_eq!(pr["mergeable_state"], "clean");
}

#[tokio::test]
async fn merge_squash_and_rebase_update_the_bare_repo() {
    let gh = setup();
    gh.configure_repo("acme/app", |s| s.delete_branch_on_merge = true)
        .unwrap();
    let api = Api::new(&gh, Some(TOKEN));
    for (i, method) in ["merge", "squash", "rebase"].iter().enumerate() {
        let n = i as u64 + 1;
        let branch = format!("b{n}");
        let path = format!("f{n}.txt");
        let (_w, head) = push_branch(&gh, &branch, &[(&path, method)]);
        let before = gh.branch_sha("acme/app", "main").unwrap().unwrap();
        let (s, _) = api
            .call("POST", "/repos/acme/app/pulls", Some(new_pr(&branch)))
            .await;
        assert_eq!(s, 201);
        // The head-sha guard.
        let (s, v) = api
            .call(
                "PUT",
                &format!("/repos/acme/app/pulls/{n}/merge"),
                Some(json!({"merge_method": method, "sha": before})),
            )
            .await;
        assert_eq!(
            (s, v["message"].as_str()),
            (
                409,
                Some("Head branch was modified. Review and try the merge again.")
            )
        );
        let (s, v) = api
            .call(
                "PUT",
                &format!("/repos/acme/app/pulls/{n}/merge"),
                Some(json!({"merge_method": method, "sha": head})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["merged"], true);
        let sha = v["sha"].as_str().unwrap().to_string();
        assert_eq!(
            gh.branch_sha("acme/app", "main").unwrap().as_deref(),
            Some(sha.as_str())
        );
        assert_eq!(
            gh.file_at("acme/app", "main", &path).unwrap().as_deref(),
            Some(*method)
        );
        let parents = gh
            .git("acme/app", &["show", "-s", "--format=%P", &sha])
            .unwrap();
        let parents: Vec<&str> = parents.split_whitespace().collect();
        match *method {
            "merge" => assert_eq!(parents, [before.as_str(), head.as_str()]),
            _ => assert_eq!(parents, [before.as_str()]),
        }
        if *method == "squash" {
            let msg = gh
                .git("acme/app", &["show", "-s", "--format=%s", &sha])
                .unwrap();
            assert_eq!(msg, format!("hello: dev dev-1 → dev-2 (#{n})"));
        }
        if *method == "rebase" {
            assert_ne!(sha, head, "rebase rewrites the commit onto the new base");
        }
        let info = gh.pull("acme/app", n).unwrap();
        assert!(info.merged);
        assert_eq!(info.merge_commit_sha.as_deref(), Some(sha.as_str()));
        assert_eq!(
            gh.branch_sha("acme/app", &branch).unwrap(),
            None,
            "head branch deleted"
        );
        let (_, pr) = api
            .call("GET", &format!("/repos/acme/app/pulls/{n}"), None)
            .await;
        assert_eq!(
            (pr["merged"].as_bool(), pr["state"].as_str()),
            (Some(true), Some("closed"))
        );
        let (s, _) = api
            .call("GET", &format!("/repos/acme/app/pulls/{n}/merge"), None)
            .await;
        assert_eq!(s, 204);
    }
}

#[tokio::test]
async fn protection_refuses_merges_until_checks_and_reviews_pass() {
    let gh = setup();
    gh.protect_branch(
        "acme/app",
        "main",
        Protection {
            required_checks: vec!["ci".into()],
            required_approvals: 1,
            ..Protection::default()
        },
    )
    .unwrap();
    gh.add_collaborator("acme/app", "reviewer", "write")
        .unwrap();
    let api = Api::new(&gh, Some(TOKEN));
    let (_w, head) = push_branch(&gh, "r", &[("f", "1\n")]);
    api.call("POST", "/repos/acme/app/pulls", Some(new_pr("r")))
        .await;
    let merge = json!({"merge_method": "squash", "sha": head});
    let (s, v) = api
        .call("PUT", "/repos/acme/app/pulls/1/merge", Some(merge.clone()))
        .await;
    assert_eq!(
        (s, v["message"].as_str()),
        (
            405,
            Some("At least 1 approving review is required by reviewers with write access.")
        )
    );
    let (_, pr) = api.call("GET", "/repos/acme/app/pulls/1", None).await;
    assert_eq!(pr["mergeable_state"], "blocked");
    gh.approve_pr("acme/app", 1, "reviewer").unwrap();
    let (s, v) = api
        .call("PUT", "/repos/acme/app/pulls/1/merge", Some(merge.clone()))
        .await;
    assert_eq!(
        (s, v["message"].as_str()),
        (405, Some("Required status check \"ci\" is expected."))
    );
    gh.set_check("acme/app", &head, "ci", "failure").unwrap();
    let (s, v) = api
        .call("PUT", "/repos/acme/app/pulls/1/merge", Some(merge.clone()))
        .await;
    assert_eq!(
        (s, v["message"].as_str()),
        (405, Some("Required status check \"ci\" is failing."))
    );
    gh.set_check("acme/app", &head, "ci", "success").unwrap();
    let (s, _) = api
        .call("PUT", "/repos/acme/app/pulls/1/merge", Some(merge))
        .await;
    assert_eq!(s, 200);
    // The author cannot approve their own PR.
    assert!(gh.approve_pr("acme/app", 1, "github-actions[bot]").is_err());
}

const ENABLE: &str = "mutation($id: ID!, $method: PullRequestMergeMethod!, $oid: GitObjectID) {\n  enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: $method, expectedHeadOid: $oid}) {\n    pullRequest { number autoMergeRequest { enabledAt } }\n  }\n}";

#[tokio::test]
async fn auto_merge_waits_for_the_check_and_refuses_clean_prs() {
    let gh = setup();
    let api = Api::new(&gh, Some(TOKEN));
    let gql = gh.graphql_url();
    // Without protection the PR is clean: GitHub refuses to enable auto-merge.
    let (_w, head) = push_branch(&gh, "c", &[("c", "1\n")]);
    let (_, pr) = api
        .call("POST", "/repos/acme/app/pulls", Some(new_pr("c")))
        .await;
    let body = json!({"query": ENABLE, "variables": {"id": pr["node_id"], "method": "SQUASH", "oid": head}});
    let (s, v) = api.call("POST", &gql, Some(body)).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["enablePullRequestAutoMerge"], Value::Null);
    assert_eq!(
        v["errors"][0]["message"],
        "Pull request Pull request is in clean status"
    );

    gh.protect_branch("acme/app", "main", Protection::checks(&["ci"]))
        .unwrap();
    let (_w2, head2) = push_branch(&gh, "d", &[("d", "1\n")]);
    let (_, pr) = api
        .call("POST", "/repos/acme/app/pulls", Some(new_pr("d")))
        .await;
    let n = pr["number"].as_u64().unwrap();
    gh.set_check("acme/app", &head2, "ci", "pending").unwrap();
    let body = json!({"query": ENABLE, "variables": {"id": pr["node_id"], "method": "SQUASH", "oid": head2}});
    let (s, v) = api.call("POST", &gql, Some(body)).await;
    assert_eq!(s, 200);
    assert!(v.get("errors").is_none(), "{v}");
    assert!(
        v["data"]["enablePullRequestAutoMerge"]["pullRequest"]["autoMergeRequest"]["enabledAt"]
            .is_string()
    );
    let (_, rest) = api
        .call("GET", &format!("/repos/acme/app/pulls/{n}"), None)
        .await;
    assert_eq!(rest["auto_merge"]["merge_method"], "squash");
    assert!(!gh.pull("acme/app", n).unwrap().merged);
    gh.set_check("acme/app", &head2, "ci", "success").unwrap();
    let info = gh.pull("acme/app", n).unwrap();
    assert!(info.merged, "merged once the check passed");
    assert_eq!(
        gh.file_at("acme/app", "main", "d").unwrap().as_deref(),
        Some("1\n")
    );

    // The query for a PR's id and auto-merge state by number.
    let q = json!({"query": "query($o: String!, $n: String!, $num: Int!) { repository(owner: $o, name: $n) { pullRequest(number: $num) { id state autoMergeRequest { enabledAt } } } }", "variables": {"o": "acme", "n": "app", "num": n}});
    let (_, v) = api.call("POST", &gql, Some(q)).await;
    assert_eq!(v["data"]["repository"]["pullRequest"]["id"], pr["node_id"]);
    assert_eq!(v["data"]["repository"]["pullRequest"]["state"], "MERGED");
    let graphql_calls = gh
        .request_log()
        .iter()
        .filter(|r| r.kind == gitops_testkit::github::RequestKind::GraphQl)
        .count();
    assert_eq!(graphql_calls, 3);
}

#[tokio::test]
async fn compare_history_contents_deployments_and_dispatches() {
    let gh = setup();
    gh.push_commit(
        "acme/app",
        "main",
        &[(
            ".github/workflows/deploy.yml",
            "on:\n  workflow_dispatch:\n    inputs:\n      service: {type: string}\n",
        )],
    )
    .unwrap();
    let api = Api::new(&gh, Some(TOKEN));
    let (_w, head) = push_branch(&gh, "x", &[(OVERLAY, "images: []\n")]);
    let (s, v) = api
        .call("GET", "/repos/acme/app/compare/main...x", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            v["ahead_by"].as_u64(),
            v["behind_by"].as_u64(),
            v["status"].as_str()
        ),
        (Some(1), Some(0), Some("ahead"))
    );
    assert_eq!(v["commits"][0]["sha"], head.as_str());
    assert_eq!(v["commits"][0]["commit"]["message"], "change on x");
    let (_, v) = api
        .call("GET", "/repos/acme/app/compare/x...main", None)
        .await;
    assert_eq!(v["status"], "behind");

    let (_, v) = api
        .call(
            "GET",
            &format!("/repos/acme/app/commits?sha=x&path={OVERLAY}&per_page=5"),
            None,
        )
        .await;
    assert_eq!(
        v.as_array().unwrap().len(),
        2,
        "initial commit and the change"
    );
    assert_eq!(v[0]["sha"], head.as_str());

    let (s, v) = api
        .call(
            "GET",
            &format!("/repos/acme/app/contents/{OVERLAY}?ref=main"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    use base64::Engine;
    let raw: String = v["content"].as_str().unwrap().split('\n').collect();
    let text = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .unwrap();
    assert_eq!(String::from_utf8(text).unwrap(), START);

    let (s, d) = api
        .call("POST", "/repos/acme/app/deployments", Some(json!({"ref": "main", "environment": "dev", "payload": {"service": "hello"}, "auto_merge": false, "required_contexts": []})))
        .await;
    assert_eq!(s, 201, "{d}");
    let id = d["id"].as_u64().unwrap();
    for state in ["in_progress", "success"] {
        let (s, _) = api
            .call(
                "POST",
                &format!("/repos/acme/app/deployments/{id}/statuses"),
                Some(json!({"state": state})),
            )
            .await;
        assert_eq!(s, 201);
    }
    let deps = gh.deployments("acme/app").unwrap();
    assert_eq!(deps[0].environment, "dev");
    assert_eq!(deps[0].payload["service"], "hello");
    let states: Vec<&str> = deps[0].statuses.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, ["in_progress", "success"]);

    let (s, v) = api
        .call(
            "POST",
            "/repos/acme/app/actions/workflows/deploy.yml/dispatches",
            Some(json!({"ref": "main", "inputs": {"service": "hello"}})),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    // An input the workflow doesn't declare: 422, as GitHub (tests/dispatch.rs).
    let (s, v) = api
        .call(
            "POST",
            "/repos/acme/app/actions/workflows/deploy.yml/dispatches",
            Some(json!({"ref": "main", "inputs": {"env": "dev"}})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, _) = api
        .call(
            "POST",
            "/repos/acme/app/actions/workflows/missing.yml/dispatches",
            Some(json!({"ref": "main"})),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(
        gh.dispatches("acme/app").unwrap()[0].inputs["service"],
        "hello"
    );
}

#[tokio::test]
async fn injected_failures_answer_first() {
    let gh = setup();
    gh.fail_next(1, 502, None);
    gh.fail_next(1, 403, Some(1));
    let api = Api::new(&gh, Some(TOKEN));
    assert_eq!(api.call("GET", "/repos/acme/app", None).await.0, 502);
    let resp = reqwest::Client::new()
        .get(format!("{}/repos/acme/app", gh.api_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(api.call("GET", "/repos/acme/app", None).await.0, 200);
}

/// Faults on the nth matching request: each kind does (or skips) the work and
/// answers as documented. Rate limits as in github/docs
/// `content/rest/using-the-rest-api/rate-limits-for-the-rest-api.md` ("Exceeding the
/// rate limit"): primary 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`;
/// secondary 403 with `retry-after` and "secondary rate limit" in the message.
#[tokio::test]
async fn faults_hit_the_nth_matching_request() {
    use gitops_testkit::github::{Fault, FaultKind};
    let gh = setup();
    gh.add_token(TOKEN, TokenGrants::github_token());
    let api = Api::new(&gh, Some(TOKEN));
    let sha = gh.branch_sha("acme/app", "main").unwrap().unwrap();
    let deploy = || json!({"ref": sha, "environment": "dev", "required_contexts": []});
    let count = || gh.deployments("acme/app").unwrap().len();

    // A status: nothing done. The 2nd POST to /deployments only.
    gh.inject(Fault::new(
        "POST",
        "/deployments",
        2,
        FaultKind::Status(502),
    ));
    assert_eq!(
        api.call("GET", "/repos/acme/app/deployments", None).await.0,
        200
    );
    assert_eq!(
        api.call("POST", "/repos/acme/app/deployments", Some(deploy()))
            .await
            .0,
        201
    );
    assert_eq!(
        api.call("POST", "/repos/acme/app/deployments", Some(deploy()))
            .await
            .0,
        502
    );
    assert_eq!(count(), 1);
    assert_eq!(gh.faults_fired(), 1);

    // A lost answer: done, then 502.
    gh.inject(Fault::new("POST", "/deployments", 1, FaultKind::LostAnswer));
    assert_eq!(
        api.call("POST", "/repos/acme/app/deployments", Some(deploy()))
            .await
            .0,
        502
    );
    assert_eq!(count(), 2);

    // Dropped connections, before and after the work: no answer at all.
    let raw = |body: Value| {
        reqwest::Client::new()
            .post(format!("{}/repos/acme/app/deployments", gh.api_url()))
            .bearer_auth(TOKEN)
            .header("user-agent", "standin-test")
            .body(body.to_string())
            .send()
    };
    gh.inject(Fault::new("POST", "/deployments", 1, FaultKind::DropBefore));
    assert!(raw(deploy()).await.is_err());
    assert_eq!(count(), 2);
    gh.inject(Fault::new("POST", "/deployments", 1, FaultKind::DropAfter));
    assert!(raw(deploy()).await.is_err());
    assert_eq!(count(), 3);

    // Rate limits: refused, with GitHub's headers and bodies.
    gh.inject(Fault::new(
        "GET",
        "/repos/acme/app",
        1,
        FaultKind::PrimaryRateLimit,
    ));
    let r = reqwest::Client::new()
        .get(format!("{}/repos/acme/app", gh.api_url()))
        .bearer_auth(TOKEN)
        .header("user-agent", "standin-test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    let reset: u64 = r.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(reset >= now && reset <= now + 2, "{reset} vs {now}");
    assert!(r.text().await.unwrap().contains("API rate limit exceeded"));
    gh.inject(Fault::new(
        "",
        "/repos/acme/app",
        1,
        FaultKind::SecondaryRateLimit,
    ));
    let r = reqwest::Client::new()
        .get(format!("{}/repos/acme/app", gh.api_url()))
        .bearer_auth(TOKEN)
        .header("user-agent", "standin-test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(r.headers()["retry-after"], "1");
    assert!(r.text().await.unwrap().contains("secondary rate limit"));
    assert_eq!(api.call("GET", "/repos/acme/app", None).await.0, 200);
    assert_eq!(gh.faults_fired(), 6);

    // git smart HTTP too: a push whose answer is lost has landed.
    gh.inject(Fault::new(
        "POST",
        "git-receive-pack",
        1,
        FaultKind::LostAnswer,
    ));
    let dir = tempfile::tempdir().unwrap();
    let url = gh.git_url_with_token("acme", "app", TOKEN);
    git_ok(dir.path(), &["clone", "-q", &url, "w"]);
    let w = dir.path().join("w");
    std::fs::write(w.join("x"), "x\n").unwrap();
    git_ok(&w, &["add", "-A"]);
    git_ok(&w, &["commit", "-q", "-m", "x"]);
    let pushed = git(&w, &["push", "-q", "origin", "HEAD:refs/heads/lost"]);
    assert!(!pushed.status.success(), "the answer was lost");
    assert_eq!(
        gh.branch_sha("acme/app", "lost").unwrap().as_deref(),
        Some(git_ok(&w, &["rev-parse", "HEAD"]).as_str())
    );
}

/// A dispatch starts a run, listed as GitHub lists it (REST "List workflow runs for
/// a workflow": `event`, `branch`, `created` filters; `workflow_runs`, newest first).
#[tokio::test]
async fn a_dispatch_is_listed_as_a_workflow_run() {
    let gh = setup();
    gh.push_commit(
        "acme/app",
        "main",
        &[(
            ".github/workflows/d.yaml",
            "on: workflow_dispatch\njobs: {}\n",
        )],
    )
    .unwrap();
    let api = Api::new(&gh, Some(TOKEN));
    let runs = "/repos/acme/app/actions/workflows/d.yaml/runs?event=workflow_dispatch&branch=main&created=%3E%3D2000-01-01T00:00:00Z";
    assert_eq!(api.call("GET", runs, None).await.1["total_count"], 0);
    let (status, _) = api
        .call(
            "POST",
            "/repos/acme/app/actions/workflows/d.yaml/dispatches",
            Some(json!({"ref": "main", "inputs": {}})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, v) = api.call("GET", runs, None).await;
    assert_eq!(status, 200);
    assert_eq!(v["total_count"], 1, "{v}");
    assert_eq!(v["workflow_runs"][0]["event"], "workflow_dispatch");
    assert_eq!(v["workflow_runs"][0]["head_branch"], "main");
    assert_eq!(
        v["workflow_runs"][0]["id"].as_u64(),
        Some(gh.dispatches("acme/app").unwrap()[0].run_id)
    );
    let later = "/repos/acme/app/actions/workflows/d.yaml/runs?created=%3E%3D2999-01-01T00:00:00Z";
    assert_eq!(api.call("GET", later, None).await.1["total_count"], 0);
    let other = "/repos/acme/app/actions/workflows/d.yaml/runs?branch=other";
    assert_eq!(api.call("GET", other, None).await.1["total_count"], 0);
}

/// The answers parse with octocrab's own models, as the product reads them.
#[tokio::test]
async fn octocrab_models_parse_the_answers() {
    use octocrab::models;
    let gh = setup();
    gh.add_collaborator("acme/app", "alice", "write").unwrap();
    let api = Api::new(&gh, Some(TOKEN));
    let (_w, _) = push_branch(&gh, "o", &[("o", "1\n")]);
    let (_, created) = api
        .call("POST", "/repos/acme/app/pulls", Some(new_pr("o")))
        .await;
    api.call(
        "POST",
        "/repos/acme/app/issues/1/labels",
        Some(json!({"labels": ["x"]})),
    )
    .await;
    api.call(
        "POST",
        "/repos/acme/app/pulls/1/requested_reviewers",
        Some(json!({"reviewers": ["alice"]})),
    )
    .await;
    let (_, got) = api.call("GET", "/repos/acme/app/pulls/1", None).await;
    let (_, list) = api
        .call("GET", "/repos/acme/app/pulls?state=all", None)
        .await;
    for v in [created, got.clone()] {
        let pr: models::pulls::PullRequest = serde_json::from_value(v).unwrap();
        assert_eq!(pr.number, 1);
    }
    let pr: models::pulls::PullRequest = serde_json::from_value(got).unwrap();
    assert_eq!(
        pr.mergeable_state,
        Some(models::pulls::MergeableState::Clean)
    );
    assert_eq!(pr.requested_reviewers.unwrap()[0].login, "alice");
    let _: Vec<models::pulls::PullRequest> = serde_json::from_value(list).unwrap();
    let (_, repo) = api.call("GET", "/repos/acme/app", None).await;
    let repo: models::Repository = serde_json::from_value(repo).unwrap();
    assert_eq!(repo.default_branch.as_deref(), Some("main"));
    gh.approve_pr("acme/app", 1, "alice").unwrap();
    let (_, reviews) = api
        .call("GET", "/repos/acme/app/pulls/1/reviews", None)
        .await;
    let reviews: Vec<models::pulls::Review> = serde_json::from_value(reviews).unwrap();
    assert_eq!(reviews[0].state, Some(models::pulls::ReviewState::Approved));
    let (_, cmp) = api
        .call("GET", "/repos/acme/app/compare/main...o", None)
        .await;
    let _: models::commits::CommitComparison = serde_json::from_value(cmp).unwrap();
    let (_, commits) = api.call("GET", "/repos/acme/app/commits?sha=o", None).await;
    let _: Vec<models::repos::RepoCommit> = serde_json::from_value(commits).unwrap();
    let (_, content) = api
        .call("GET", "/repos/acme/app/contents/README.md", None)
        .await;
    let _: models::repos::Content = serde_json::from_value(content).unwrap();
    let (_, dep) = api
        .call(
            "POST",
            "/repos/acme/app/deployments",
            Some(json!({"ref": "main", "environment": "dev"})),
        )
        .await;
    let dep: models::Deployment = serde_json::from_value(dep).unwrap();
    let (_, st) = api
        .call(
            "POST",
            &format!("/repos/acme/app/deployments/{}/statuses", dep.id),
            Some(json!({"state": "success"})),
        )
        .await;
    let _: models::repos::DeploymentStatus = serde_json::from_value(st).unwrap();
    let (_, labels) = api
        .call("GET", "/repos/acme/app/issues/1/labels", None)
        .await;
    let _: Vec<models::Label> = serde_json::from_value(labels).unwrap();

    // And through octocrab itself, against the GHES-style base URL.
    let octo = octocrab::Octocrab::builder()
        .base_uri(gh.api_url())
        .unwrap()
        .personal_token(TOKEN.to_string())
        .build()
        .unwrap();
    let pr = octo.pulls("acme", "app").get(1).await.unwrap();
    assert_eq!(pr.head.ref_field, "o");
    let page = octo
        .pulls("acme", "app")
        .list()
        .state(octocrab::params::State::All)
        .send()
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let r = octo.repos("acme", "app").get().await.unwrap();
    assert_eq!(r.full_name.as_deref(), Some("acme/app"));
}

#[test]
fn settings_disallow_auto_merge_and_methods() {
    let gh = GitHubStandIn::start_blocking().unwrap();
    gh.create_repo_with(
        "acme/strict",
        "trunk",
        &[("a", "1\n")],
        RepoSettings {
            allow_auto_merge: false,
            allow_merge_commit: false,
            ..RepoSettings::default()
        },
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    gh.add_token(TOKEN, TokenGrants::github_token());
    gh.push_commit("acme/strict", "feature", &[("b", "2\n")])
        .unwrap();
    let api = Api::new(&gh, Some(TOKEN));
    rt.block_on(async {
        let (_, repo) = api.call("GET", "/repos/acme/strict", None).await;
        assert_eq!((repo["default_branch"].as_str(), repo["allow_auto_merge"].as_bool()), (Some("trunk"), Some(false)));
        let (s, pr) = api
            .call("POST", "/repos/acme/strict/pulls", Some(json!({"title": "t", "head": "feature", "base": "trunk"})))
            .await;
        assert_eq!(s, 201);
        let (s, v) = api
            .call("PUT", "/repos/acme/strict/pulls/1/merge", Some(json!({"merge_method": "merge"})))
            .await;
        assert_eq!((s, v["message"].as_str()), (405, Some("Merge commits are not allowed on this repository.")));
        let body = json!({"query": format!("mutation {{ enablePullRequestAutoMerge(input: {{pullRequestId: \"{}\", mergeMethod: SQUASH}}) {{ clientMutationId }} }}", pr["node_id"].as_str().unwrap())});
        let (_, v) = api.call("POST", &gh.graphql_url(), Some(body)).await;
        assert_eq!(v["errors"][0]["message"], "Pull request Auto merge is not allowed for this repository");
    });
}

/// A fetch with many local commits sends a negotiation over 1 KiB, which git gzips;
/// `git http-backend` must get `Content-Encoding` to inflate it.
#[test]
fn gzip_request_bodies_reach_http_backend() {
    let gh = setup();
    let dir = tempfile::tempdir().unwrap();
    let url = gh.git_url_with_token("acme", "app", TOKEN);
    git_ok(dir.path(), &["clone", "-q", &url, "w"]);
    let w = dir.path().join("w");
    for i in 0..60 {
        std::fs::write(w.join("README.md"), i.to_string()).unwrap();
        git_ok(&w, &["commit", "-qam", &format!("local {i}")]);
    }
    let theirs = gh
        .push_commit("acme/app", "main", &[("remote.txt", "r\n")])
        .unwrap();
    git_ok(&w, &["-c", "protocol.version=2", "fetch", "-q", "origin"]);
    assert_eq!(git_ok(&w, &["rev-parse", "origin/main"]), theirs);
    git_ok(
        &w,
        &[
            "-c",
            "protocol.version=0",
            "fetch",
            "-q",
            "origin",
            "+refs/heads/*:refs/remotes/v0/*",
        ],
    );
    assert_eq!(git_ok(&w, &["rev-parse", "v0/main"]), theirs);
}

/// The commit and ref mutations as GitHub's schema and answers describe
/// them (docs/github-facts/commits-api.md): a stale `expectedHeadOid` is an HTTP 200
/// with `STALE_DATA` and GitHub's text; a missing one is refused by the schema; a
/// field GitHub doesn't have is refused; `updateRefs` is all or nothing, each
/// update guarded by its `beforeOid`; commits the mutation makes are signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_commit_on_branch_and_update_refs_follow_githubs_rules() {
    let gh = setup();
    let api = Api::new(&gh, Some(TOKEN));
    let gql = gh.graphql_url();
    let main = gh.branch_sha("acme/app", "main").unwrap().unwrap();
    let commit = |expected: &str| {
        json!({"query": "mutation($input: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $input) { commit { oid } } }",
        "variables": {"input": {
            "branch": {"repositoryNameWithOwner": "acme/app", "branchName": "main"},
            "expectedHeadOid": expected,
            "message": {"headline": "api commit"},
            "fileChanges": {"additions": [{"path": "api.txt", "contents": "aGVsbG8K"}]},
        }}})
    };
    let (s, v) = api.call("POST", &gql, Some(commit(&main))).await;
    assert_eq!(s, 200, "{v}");
    let oid = v["data"]["createCommitOnBranch"]["commit"]["oid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(gh.is_verified("acme/app", &oid).unwrap());
    assert_eq!(
        gh.file_at("acme/app", "main", "api.txt")
            .unwrap()
            .as_deref(),
        Some("hello\n")
    );
    let (_, c) = api
        .call("GET", &format!("/repos/acme/app/commits/{oid}"), None)
        .await;
    assert_eq!(c["commit"]["verification"]["verified"], true);
    assert_eq!(c["commit"]["author"]["name"], "github-actions[bot]");
    assert_eq!(c["commit"]["committer"]["email"], "noreply@github.com");

    // The lease: the old head again is stale, in GitHub's words.
    let (s, v) = api.call("POST", &gql, Some(commit(&main))).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["createCommitOnBranch"], Value::Null);
    assert_eq!(v["errors"][0]["type"], "STALE_DATA");
    assert_eq!(
        v["errors"][0]["message"],
        format!("Expected branch to point to \"{main}\" but it did not.  Pull and try again.")
    );
    // No lease at all: the schema refuses it.
    let mut body = commit(&oid);
    body["variables"]["input"]
        .as_object_mut()
        .unwrap()
        .remove("expectedHeadOid");
    let (_, v) = api.call("POST", &gql, Some(body)).await;
    let msg = v["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("expectedHeadOid") && msg.contains("Expected value to not be null"),
        "{v}"
    );
    // A field GitHub doesn't have.
    let q = json!({"query": "query { repository(owner: \"acme\", name: \"app\") { headSha } }"});
    let (_, v) = api.call("POST", &gql, Some(q)).await;
    assert_eq!(
        v["errors"][0]["message"],
        "Field 'headSha' doesn't exist on type 'Repository'"
    );
    assert_eq!(v["errors"][0]["extensions"]["code"], "undefinedField");
    assert!(v.get("data").is_none());

    // updateRefs: one stale `beforeOid` and nothing moves.
    let (_, r) = api
        .call(
            "POST",
            &gql,
            Some(json!({"query": "query { repository(owner: \"acme\", name: \"app\") { id } }"})),
        )
        .await;
    let repo_id = r["data"]["repository"]["id"].as_str().unwrap().to_string();
    let refs = |updates: Value| {
        json!({"query": "mutation($input: UpdateRefsInput!) { updateRefs(input: $input) { clientMutationId } }",
               "variables": {"input": {"repositoryId": repo_id, "refUpdates": updates}}})
    };
    let zero = "0000000000000000000000000000000000000000";
    let (_, v) = api
        .call(
            "POST",
            &gql,
            Some(refs(json!([
                {"name": "refs/heads/new", "afterOid": oid, "beforeOid": zero},
                {"name": "refs/heads/main", "afterOid": main, "beforeOid": main, "force": true},
            ]))),
        )
        .await;
    assert!(v["errors"].is_array(), "{v}");
    assert_eq!(
        gh.branch_sha("acme/app", "new").unwrap(),
        None,
        "all or nothing"
    );
    assert_eq!(
        gh.branch_sha("acme/app", "main").unwrap().as_deref(),
        Some(oid.as_str())
    );
    // Both preconditions hold: both happen.
    let (_, v) = api
        .call(
            "POST",
            &gql,
            Some(refs(json!([
                {"name": "refs/heads/new", "afterOid": oid, "beforeOid": zero},
                {"name": "refs/heads/old", "afterOid": main, "beforeOid": zero},
            ]))),
        )
        .await;
    assert!(v.get("errors").is_none(), "{v}");
    assert_eq!(
        gh.branch_sha("acme/app", "new").unwrap().as_deref(),
        Some(oid.as_str())
    );
    // Not a fast-forward without `force`.
    let (_, v) = api
        .call(
            "POST",
            &gql,
            Some(refs(
                json!([{"name": "refs/heads/new", "afterOid": main, "beforeOid": oid}]),
            )),
        )
        .await;
    assert!(v["errors"].is_array(), "{v}");
    assert_eq!(
        gh.branch_sha("acme/app", "new").unwrap().as_deref(),
        Some(oid.as_str())
    );
}

/// The reads a job's `permissions:` withhold (docs/github-facts/permissions.md,
/// "Reads"): REST 403 "Resource not accessible by integration"; GraphQL the field
/// null with a `FORBIDDEN` error, the rest of the document answered. The same reads
/// with the permission (or `read-all`) are answered.
#[tokio::test]
async fn reads_need_their_permission() {
    use gitops_testkit::workflow::permissions::{Perms, grants};
    let gh = setup();
    let perms =
        |p: &[(&str, u8)]| -> Perms { p.iter().map(|(k, l)| (k.to_string(), *l)).collect() };
    gh.add_token("none", grants(&perms(&[])));
    gh.add_token("prs", grants(&perms(&[("pull-requests", 1)])));
    gh.add_token("deploys", grants(&perms(&[("deployments", 1)])));
    gh.add_token("acts", grants(&perms(&[("actions", 1)])));
    gh.add_token("all", TokenGrants::read_only());
    let denied = Some("Resource not accessible by integration");
    for (path, allowed) in [
        ("/repos/acme/app/pulls", "prs"),
        ("/repos/acme/app/deployments", "deploys"),
        (
            "/repos/acme/app/actions/workflows/overlay-deploy.yaml/runs",
            "acts",
        ),
    ] {
        let (s, v) = Api::new(&gh, Some("none")).call("GET", path, None).await;
        assert_eq!((s, v["message"].as_str()), (403, denied), "{path}");
        let (s, _) = Api::new(&gh, Some(allowed)).call("GET", path, None).await;
        assert_ne!(s, 403, "{path} with {allowed}");
        let (s, _) = Api::new(&gh, Some("all")).call("GET", path, None).await;
        assert_ne!(s, 403, "{path} with read-all");
    }
    let query = json!({"query": "query { repository(owner: \"acme\", name: \"app\") { name pullRequests(first: 5) { nodes { number } } object(expression: \"main\") { ... on Commit { oid } } } }"});
    let (s, v) = Api::new(&gh, Some("none"))
        .call("POST", &gh.graphql_url(), Some(query.clone()))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["repository"]["name"], "app", "{v}");
    assert!(v["data"]["repository"]["pullRequests"].is_null(), "{v}");
    assert!(v["data"]["repository"]["object"].is_null(), "{v}");
    let refused: Vec<(String, String)> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_string(),
                e["path"][1].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        refused,
        [
            ("FORBIDDEN".to_string(), "pullRequests".to_string()),
            ("FORBIDDEN".to_string(), "object".to_string())
        ],
        "{v}"
    );
    let (_, v) = Api::new(&gh, Some("all"))
        .call("POST", &gh.graphql_url(), Some(query))
        .await;
    assert!(v.get("errors").is_none(), "{v}");
    assert!(v["data"]["repository"]["object"]["oid"].is_string(), "{v}");
}
