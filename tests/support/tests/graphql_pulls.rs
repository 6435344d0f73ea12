//! The stand-in's GraphQL pull-request mutations (`createPullRequest`,
//! `mergePullRequest`, `addLabelsToLabelable`, `requestReviews`), the reads around
//! them (`Repository.label`/`labels`/`assignableUsers`, `Commit.history`), driven over
//! HTTP as a client sends them. The rules and their sources:
//! docs/github-facts/graphql-pulls.md.

use gitops_testkit::github::{
    Fault, FaultKind, GitHubStandIn, Protection, RequestKind, TokenGrants,
};
use serde_json::{Value, json};

const TOKEN: &str = "ghs_standin_token";
const ZERO: &str = "0000000000000000000000000000000000000000";

/// `acme/app` with `main`, a write-all `GITHUB_TOKEN`, the Actions setting that lets
/// it open PRs on.
fn setup() -> GitHubStandIn {
    let gh = GitHubStandIn::start_blocking().unwrap();
    gh.create_repo("acme/app", "main", &[("README.md", "app\n")])
        .unwrap();
    gh.add_token(TOKEN, TokenGrants::github_token());
    gh.set_setting_actions_can_create_prs(true);
    gh
}

struct Client {
    url: String,
    rest: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    fn new(gh: &GitHubStandIn, token: &str) -> Client {
        Client {
            url: gh.graphql_url(),
            rest: gh.api_url(),
            token: token.into(),
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, url: &str, method: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(&self.token)
            .header("user-agent", "standin-test")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A GraphQL document; GitHub answers 200 whatever its errors.
    async fn gql(&self, query: &str, variables: Value) -> Value {
        let (s, v) = self
            .post(
                &self.url.clone(),
                "POST",
                json!({"query": query, "variables": variables}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }

    async fn rest(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.rest);
        self.post(&url, method, body).await
    }

    async fn repo_id(&self) -> String {
        let v = self
            .gql(
                "query { repository(owner: \"acme\", name: \"app\") { id } }",
                json!({}),
            )
            .await;
        v["data"]["repository"]["id"].as_str().unwrap().to_string()
    }
}

/// The first error's `type` and `message`.
fn first_error(v: &Value) -> (String, String) {
    let e = &v["errors"][0];
    (
        e["type"].as_str().unwrap_or_default().to_string(),
        e["message"].as_str().unwrap_or_default().to_string(),
    )
}

const CREATE: &str = "mutation($input: CreatePullRequestInput!) { createPullRequest(input: $input) { pullRequest { id number url title body isDraft state headRefName baseRefName headRefOid author { login } labels(first: 100) { nodes { name } } autoMergeRequest { enabledAt } } } }";

fn create_input(repo: &str, head: &str) -> Value {
    json!({"input": {"repositoryId": repo, "baseRefName": "main", "headRefName": head,
        "title": "release", "body": "notes", "draft": false, "maintainerCanModify": false}})
}

/// The release's document: a new branch, its commit, the PR, serially.
const RELEASE: &str = r#"mutation($refs: UpdateRefsInput!, $commit: CreateCommitOnBranchInput!, $pr: CreatePullRequestInput!, $l0: String!, $u0: String!) {
  updateRefs(input: $refs) { clientMutationId }
  createCommitOnBranch(input: $commit) { commit { oid } }
  createPullRequest(input: $pr) {
    pullRequest {
      id number url title body isDraft state headRefName baseRefName headRefOid
      author { login }
      labels(first: 100) { nodes { name } }
      autoMergeRequest { enabledAt }
      repository {
        l0: label(name: $l0) { id name }
        u0: assignableUsers(query: $u0, first: 10) { nodes { id login } }
      }
    }
  }
}"#;

fn release_vars(repo: &str, main: &str) -> Value {
    json!({
        "refs": {"repositoryId": repo, "refUpdates": [{"name": "refs/heads/release/dev", "afterOid": main, "beforeOid": ZERO}]},
        "commit": {
            "branch": {"repositoryNameWithOwner": "acme/app", "branchName": "release/dev"},
            "expectedHeadOid": main,
            "message": {"headline": "release dev"},
            "fileChanges": {"additions": [{"path": "overlay.yaml", "contents": "dGFnOiAyCg=="}]},
        },
        "pr": {"repositoryId": repo, "baseRefName": "main", "headRefName": "release/dev",
               "title": "release dev", "body": "the changes", "maintainerCanModify": false},
        "l0": "Release", "u0": "ali",
    })
}

#[tokio::test]
async fn one_document_makes_the_branch_its_commit_and_the_pr() {
    let gh = setup();
    gh.add_collaborator("acme/app", "alice", "write").unwrap();
    gh.create_label("acme/app", "release").unwrap();
    let c = Client::new(&gh, TOKEN);
    let repo = c.repo_id().await;
    let main = gh.branch_sha("acme/app", "main").unwrap().unwrap();
    gh.reset_log();

    let v = c.gql(RELEASE, release_vars(&repo, &main)).await;
    assert!(v.get("errors").is_none(), "{v}");
    let oid = v["data"]["createCommitOnBranch"]["commit"]["oid"]
        .as_str()
        .unwrap();
    let pr = &v["data"]["createPullRequest"]["pullRequest"];
    assert_eq!(
        pr["headRefOid"], oid,
        "the PR sees the commit made before it"
    );
    assert_eq!(pr["state"], "OPEN");
    assert_eq!(pr["isDraft"], false);
    assert_eq!(pr["body"], "the changes");
    assert_eq!(pr["author"]["login"], "github-actions[bot]");
    assert_eq!(pr["labels"]["nodes"], json!([]));
    assert_eq!(pr["autoMergeRequest"], Value::Null);
    // The label lookup matches without regard to case; the user query by login.
    assert_eq!(pr["repository"]["l0"]["name"], "release");
    let users = &pr["repository"]["u0"]["nodes"];
    assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
    assert_eq!(users[0]["login"], "alice");

    // The request log names every root field of the one request.
    let log = gh.request_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, RequestKind::GraphQl);
    assert_eq!(
        log[0].op,
        "mutation updateRefs+createCommitOnBranch+createPullRequest"
    );

    // The node ids are REST's: the PR's, the user's.
    let n = pr["number"].as_u64().unwrap();
    let (_, rest) = c
        .rest("GET", &format!("/repos/acme/app/pulls/{n}"), Value::Null)
        .await;
    assert_eq!(rest["node_id"], pr["id"]);
    assert_eq!(rest["head"]["sha"], oid);
    assert_eq!(rest["maintainer_can_modify"], false);
    let (_, perm) = c
        .rest(
            "GET",
            "/repos/acme/app/collaborators/alice/permission",
            Value::Null,
        )
        .await;
    assert_eq!(perm["user"]["node_id"], users[0]["id"]);

    // The same document again: each field fails with its own error, the next
    // still runs, and nothing moves.
    let v = c.gql(RELEASE, release_vars(&repo, &main)).await;
    let types: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["STALE_DATA", "STALE_DATA", "UNPROCESSABLE"], "{v}");
    assert_eq!(v["data"]["updateRefs"], Value::Null);
    assert_eq!(v["data"]["createCommitOnBranch"], Value::Null);
    assert_eq!(v["data"]["createPullRequest"], Value::Null);
    assert_eq!(
        v["errors"][2]["message"],
        "A pull request already exists for acme:release/dev."
    );
    assert_eq!(v["errors"][2]["path"], json!(["createPullRequest"]));
    assert_eq!(gh.pulls("acme/app").unwrap().len(), 1);

    // The PR's node id is what enablePullRequestAutoMerge takes.
    gh.protect_branch("acme/app", "main", Protection::checks(&["ci"]))
        .unwrap();
    let v = c
        .gql(
            "mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: SQUASH}) { pullRequest { autoMergeRequest { enabledAt } } } }",
            json!({"id": pr["id"]}),
        )
        .await;
    assert!(v.get("errors").is_none(), "{v}");
    assert_eq!(
        gh.pull("acme/app", n).unwrap().auto_merge.as_deref(),
        Some("squash")
    );
}

#[tokio::test]
async fn a_lost_answer_leaves_what_the_document_did() {
    let gh = setup();
    let c = Client::new(&gh, TOKEN);
    let repo = c.repo_id().await;
    let main = gh.branch_sha("acme/app", "main").unwrap().unwrap();
    gh.inject(Fault::new("POST", "/graphql", 1, FaultKind::LostAnswer));
    let (s, _) = c
        .post(
            &c.url.clone(),
            "POST",
            json!({"query": RELEASE, "variables": release_vars(&repo, &main)}),
        )
        .await;
    assert_eq!(s, 502);
    assert_eq!(gh.faults_fired(), 1);
    let pulls = gh.pulls("acme/app").unwrap();
    assert_eq!(pulls.len(), 1, "the work was done");
    assert_eq!(pulls[0].head, "release/dev");
    assert_eq!(
        gh.file_at("acme/app", "release/dev", "overlay.yaml")
            .unwrap()
            .as_deref(),
        Some("tag: 2\n")
    );
}

#[tokio::test]
async fn create_pull_request_refuses_as_rest_does() {
    let gh = setup();
    let c = Client::new(&gh, TOKEN);
    let repo = c.repo_id().await;
    gh.push_commit("acme/app", "feature", &[("f", "1\n")])
        .unwrap();
    let main = gh.branch_sha("acme/app", "main").unwrap().unwrap();
    gh.git("acme/app", &["branch", "same", &main]).unwrap();

    // No commits between.
    let v = c.gql(CREATE, create_input(&repo, "same")).await;
    assert_eq!(
        first_error(&v),
        (
            "UNPROCESSABLE".into(),
            "No commits between main and same".into()
        )
    );
    assert_eq!(v["data"]["createPullRequest"], Value::Null);
    // A head that doesn't exist; a base that doesn't.
    let v = c.gql(CREATE, create_input(&repo, "nope")).await;
    assert_eq!(
        first_error(&v).1,
        "No commits between main and nope, Head ref must be a branch"
    );
    let mut input = create_input(&repo, "feature");
    input["input"]["baseRefName"] = "gone".into();
    let v = c.gql(CREATE, input).await;
    assert_eq!(
        first_error(&v),
        ("UNPROCESSABLE".into(), "Base ref must be a branch".into())
    );
    // An unknown repository id.
    let v = c.gql(CREATE, create_input("R_nope", "feature")).await;
    assert_eq!(
        first_error(&v),
        (
            "NOT_FOUND".into(),
            "Could not resolve to a node with the global id of 'R_nope'".into()
        )
    );
    // The Actions setting off.
    gh.set_setting_actions_can_create_prs(false);
    let v = c.gql(CREATE, create_input(&repo, "feature")).await;
    assert_eq!(
        first_error(&v),
        (
            "FORBIDDEN".into(),
            "GitHub Actions is not permitted to create or approve pull requests".into()
        )
    );
    let (s, r) = c
        .rest(
            "POST",
            "/repos/acme/app/pulls",
            json!({"title": "t", "head": "feature", "base": "main"}),
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(
        r["message"],
        "GitHub Actions is not permitted to create or approve pull requests."
    );
    gh.set_setting_actions_can_create_prs(true);
    // Without `pull-requests: write`.
    gh.add_token("ghs_read", TokenGrants::read_only());
    let ro = Client::new(&gh, "ghs_read");
    let v = ro.gql(CREATE, create_input(&repo, "feature")).await;
    assert_eq!(
        first_error(&v),
        (
            "FORBIDDEN".into(),
            "Resource not accessible by integration".into()
        )
    );
    assert!(gh.pulls("acme/app").unwrap().is_empty());

    // What GitHub's schema lacks is refused before anything runs.
    let v = c
        .gql(
            "mutation($input: CreatePullRequestInput!) { createPullRequest(input: $input) { pullRequest { headSha } } }",
            create_input(&repo, "feature"),
        )
        .await;
    assert_eq!(
        v["errors"][0]["message"],
        "Field 'headSha' doesn't exist on type 'PullRequest'"
    );
    assert!(v.get("data").is_none());
    let mut input = create_input(&repo, "feature");
    input["input"]["reviewers"] = json!(["alice"]);
    let v = c.gql(CREATE, input).await;
    let (kind, msg) = first_error(&v);
    assert_eq!(kind, "INVALID");
    assert!(
        msg.contains("reviewers (Field is not defined on CreatePullRequestInput)"),
        "{msg}"
    );
    assert!(gh.pulls("acme/app").unwrap().is_empty());

    // Then it opens, a draft, maintainers allowed by GraphQL's default.
    let mut input = create_input(&repo, "feature");
    input["input"]["draft"] = true.into();
    input["input"]
        .as_object_mut()
        .unwrap()
        .remove("maintainerCanModify");
    let v = c.gql(CREATE, input).await;
    assert!(v.get("errors").is_none(), "{v}");
    assert_eq!(
        v["data"]["createPullRequest"]["pullRequest"]["isDraft"],
        true
    );
    let (_, rest) = c.rest("GET", "/repos/acme/app/pulls/1", Value::Null).await;
    assert_eq!(rest["draft"], true);
    assert_eq!(rest["maintainer_can_modify"], true);
}

const MERGE: &str = "mutation($input: MergePullRequestInput!, $p0: String!) { mergePullRequest(input: $input) { pullRequest { merged state mergeCommit { oid parents(first: 2) { nodes { oid } } f0: file(path: $p0) { oid object { ... on Blob { text } } } } } } }";

async fn open(c: &Client, gh: &GitHubStandIn, branch: &str, file: &str) -> (String, String) {
    let head = gh
        .push_commit("acme/app", branch, &[(file, "1\n")])
        .unwrap();
    let repo = c.repo_id().await;
    let v = c.gql(CREATE, create_input(&repo, branch)).await;
    assert!(v.get("errors").is_none(), "{v}");
    let id = v["data"]["createPullRequest"]["pullRequest"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    (id, head)
}

#[tokio::test]
async fn merge_pull_request_merges_by_rests_rules() {
    let gh = setup();
    gh.configure_repo("acme/app", |s| s.delete_branch_on_merge = true)
        .unwrap();
    let c = Client::new(&gh, TOKEN);
    let (id, head) = open(&c, &gh, "a", "a.txt").await;
    let main = gh.branch_sha("acme/app", "main").unwrap().unwrap();

    // A stale head: GitHub's words, nothing merged.
    let vars = |oid: &str, method: &str| {
        json!({"input": {"pullRequestId": id, "expectedHeadOid": oid, "mergeMethod": method,
            "commitHeadline": "Release a", "commitBody": "body"}, "p0": "a.txt"})
    };
    let v = c.gql(MERGE, vars(&main, "MERGE")).await;
    assert_eq!(
        first_error(&v),
        (
            "UNPROCESSABLE".into(),
            "Head branch was modified. Review and try the merge again.".into()
        )
    );
    assert_eq!(v["data"]["mergePullRequest"], Value::Null);
    // A method the repository disallows; one the schema lacks.
    gh.configure_repo("acme/app", |s| s.allow_rebase_merge = false)
        .unwrap();
    let v = c.gql(MERGE, vars(&head, "REBASE")).await;
    assert_eq!(
        first_error(&v).1,
        "Rebase merges are not allowed on this repository."
    );
    let v = c.gql(MERGE, vars(&head, "FAST_FORWARD")).await;
    assert_eq!(first_error(&v).0, "INVALID");
    // Without `contents: write`.
    gh.add_token("ghs_read", TokenGrants::read_only());
    let v = Client::new(&gh, "ghs_read")
        .gql(MERGE, vars(&head, "MERGE"))
        .await;
    assert_eq!(first_error(&v).0, "FORBIDDEN");
    // An id that names no PR.
    let mut bad = vars(&head, "MERGE");
    bad["input"]["pullRequestId"] = "PR_nope".into();
    let v = c.gql(MERGE, bad).await;
    assert_eq!(
        first_error(&v),
        (
            "NOT_FOUND".into(),
            "Could not resolve to a node with the global id of 'PR_nope'".into()
        )
    );
    assert!(!gh.pull("acme/app", 1).unwrap().merged);

    // It merges: the merge commit is a real commit, with both parents and the file.
    let v = c.gql(MERGE, vars(&head, "MERGE")).await;
    assert!(v.get("errors").is_none(), "{v}");
    let pr = &v["data"]["mergePullRequest"]["pullRequest"];
    assert_eq!(pr["merged"], true);
    assert_eq!(pr["state"], "MERGED");
    let mc = &pr["mergeCommit"];
    assert_eq!(
        mc["parents"]["nodes"],
        json!([{"oid": main}, {"oid": head}])
    );
    assert_eq!(mc["f0"]["object"]["text"], "1\n");
    assert_eq!(
        gh.branch_sha("acme/app", "main").unwrap().as_deref(),
        mc["oid"].as_str()
    );
    let msg = gh
        .git("acme/app", &["log", "-1", "--format=%B", "main"])
        .unwrap();
    assert_eq!(msg.trim(), "Release a\n\nbody");
    // deleteBranchOnMerge took the head branch.
    assert_eq!(gh.branch_sha("acme/app", "a").unwrap(), None);
    // Merged already: REST's refusal and GraphQL's are one rule.
    let v = c.gql(MERGE, vars(&head, "MERGE")).await;
    let (_, rest) = c
        .rest("PUT", "/repos/acme/app/pulls/1/merge", json!({}))
        .await;
    assert_eq!(first_error(&v).1, rest["message"].as_str().unwrap());
}

#[tokio::test]
async fn merge_pull_request_waits_for_drafts_and_reviews() {
    let gh = setup();
    let c = Client::new(&gh, TOKEN);
    let head = gh.push_commit("acme/app", "d", &[("d", "1\n")]).unwrap();
    let repo = c.repo_id().await;
    let mut input = create_input(&repo, "d");
    input["input"]["draft"] = true.into();
    let v = c.gql(CREATE, input).await;
    let id = v["data"]["createPullRequest"]["pullRequest"]["id"].clone();
    let vars = json!({"input": {"pullRequestId": id, "expectedHeadOid": head}, "p0": "d"});
    let v = c.gql(MERGE, vars).await;
    assert_eq!(
        first_error(&v),
        (
            "UNPROCESSABLE".into(),
            "Pull Request is still a draft".into()
        )
    );

    gh.protect_branch("acme/app", "main", Protection::approvals(1))
        .unwrap();
    let (id, head) = open(&c, &gh, "e", "e.txt").await;
    let vars = json!({"input": {"pullRequestId": id, "expectedHeadOid": head, "mergeMethod": "SQUASH"}, "p0": "e.txt"});
    let v = c.gql(MERGE, vars.clone()).await;
    assert_eq!(
        first_error(&v),
        (
            "UNPROCESSABLE".into(),
            "At least 1 approving review is required by reviewers with write access.".into()
        )
    );
    let (s, rest) = c
        .rest("PUT", "/repos/acme/app/pulls/2/merge", json!({"sha": head}))
        .await;
    assert_eq!(s, 405);
    assert_eq!(rest["message"], first_error(&v).1, "one rule, two answers");
    gh.add_collaborator("acme/app", "alice", "write").unwrap();
    gh.approve_pr("acme/app", 2, "alice").unwrap();
    let v = c.gql(MERGE, vars).await;
    assert!(v.get("errors").is_none(), "{v}");
    let mc = &v["data"]["mergePullRequest"]["pullRequest"]["mergeCommit"];
    assert_eq!(
        mc["parents"]["nodes"].as_array().unwrap().len(),
        1,
        "a squash"
    );
    assert!(gh.pull("acme/app", 2).unwrap().merged);
    assert!(!gh.pull("acme/app", 1).unwrap().merged);
}

const LABEL: &str = "mutation($input: AddLabelsToLabelableInput!) { addLabelsToLabelable(input: $input) { labelable { ... on PullRequest { labels(first: 100) { totalCount nodes { id name } } } } } }";

#[tokio::test]
async fn labels_must_exist_and_need_pull_requests_write() {
    let gh = setup();
    let c = Client::new(&gh, TOKEN);
    let (id, _) = open(&c, &gh, "l", "l.txt").await;
    let release = gh.create_label("acme/app", "release").unwrap();
    let dev = gh.create_label("acme/app", "env: dev").unwrap();

    // Reads: label(name:) null when absent, labels(first:) all of them.
    let v = c
        .gql(
            "query { repository(owner: \"acme\", name: \"app\") { a: label(name: \"RELEASE\") { id name } b: label(name: \"none\") { id } labels(first: 1) { totalCount nodes { name } pageInfo { hasNextPage } } } }",
            json!({}),
        )
        .await;
    assert!(v.get("errors").is_none(), "{v}");
    let r = &v["data"]["repository"];
    assert_eq!(r["a"], json!({"id": release, "name": "release"}));
    assert_eq!(r["b"], Value::Null);
    assert_eq!(r["labels"]["totalCount"], 2);
    assert_eq!(r["labels"]["nodes"], json!([{"name": "env: dev"}]));
    assert_eq!(r["labels"]["pageInfo"]["hasNextPage"], true);

    // A label id that doesn't exist: refused, nothing added (REST would create it).
    let v = c
        .gql(
            LABEL,
            json!({"input": {"labelableId": id, "labelIds": [release, "LA_999999"]}}),
        )
        .await;
    assert_eq!(
        first_error(&v),
        (
            "NOT_FOUND".into(),
            "Could not resolve to a node with the global id of 'LA_999999'".into()
        )
    );
    assert!(gh.pull("acme/app", 1).unwrap().labels.is_empty());
    // `issues: write` alone is not enough for a PR.
    let mut issues_only = TokenGrants::read_only();
    issues_only.issues_write = true;
    gh.add_token("ghs_issues", issues_only);
    let v = Client::new(&gh, "ghs_issues")
        .gql(
            LABEL,
            json!({"input": {"labelableId": id, "labelIds": [release]}}),
        )
        .await;
    assert_eq!(first_error(&v).0, "FORBIDDEN");
    // An id that names no labelable.
    let v = c
        .gql(
            LABEL,
            json!({"input": {"labelableId": "PR_nope", "labelIds": [release]}}),
        )
        .await;
    assert_eq!(first_error(&v).0, "NOT_FOUND");

    let v = c
        .gql(
            LABEL,
            json!({"input": {"labelableId": id, "labelIds": [release, dev]}}),
        )
        .await;
    assert!(v.get("errors").is_none(), "{v}");
    let labels = &v["data"]["addLabelsToLabelable"]["labelable"]["labels"];
    assert_eq!(labels["totalCount"], 2);
    assert_eq!(
        labels["nodes"][0],
        json!({"id": release, "name": "release"})
    );
    assert_eq!(
        gh.pull("acme/app", 1).unwrap().labels,
        ["release", "env: dev"]
    );
    // The ids are REST's node_ids.
    let (_, rest) = c
        .rest("GET", "/repos/acme/app/issues/1/labels", Value::Null)
        .await;
    assert_eq!(rest[0]["node_id"], release);
}

const REVIEWS: &str = "mutation($input: RequestReviewsInput!) { requestReviews(input: $input) { pullRequest { number } } }";

async fn user_node(c: &Client, login: &str) -> String {
    let (_, v) = c
        .rest(
            "GET",
            &format!("/repos/acme/app/collaborators/{login}/permission"),
            Value::Null,
        )
        .await;
    v["user"]["node_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn request_reviews_follows_the_review_request_rules() {
    let gh = setup();
    gh.add_collaborator("acme/app", "alice", "write").unwrap();
    gh.add_collaborator("acme/app", "bob", "write").unwrap();
    gh.add_team_member("acme/ops", "bob", "member");
    gh.add_token("ghp_carol", TokenGrants::user("carol"));
    gh.add_collaborator("acme/app", "carol", "write").unwrap();
    let c = Client::new(&gh, TOKEN);
    let (id, _) = open(&c, &gh, "r", "r.txt").await;
    let alice = user_node(&c, "alice").await;
    let bob = user_node(&c, "bob").await;

    let v = c
        .gql(
            REVIEWS,
            json!({"input": {"pullRequestId": id, "userIds": [alice]}}),
        )
        .await;
    assert!(v.get("errors").is_none(), "{v}");
    assert_eq!(
        gh.pull("acme/app", 1).unwrap().requested_reviewers,
        ["alice"]
    );
    // `union: true` adds; the default replaces.
    c.gql(
        REVIEWS,
        json!({"input": {"pullRequestId": id, "userIds": [bob], "union": true}}),
    )
    .await;
    assert_eq!(
        gh.pull("acme/app", 1).unwrap().requested_reviewers,
        ["alice", "bob"]
    );
    c.gql(
        REVIEWS,
        json!({"input": {"pullRequestId": id, "userIds": [bob]}}),
    )
    .await;
    assert_eq!(gh.pull("acme/app", 1).unwrap().requested_reviewers, ["bob"]);

    // The author; someone who is no collaborator; an id that names nobody.
    let bot = user_node(&c, "github-actions[bot]").await;
    let v = c
        .gql(
            REVIEWS,
            json!({"input": {"pullRequestId": id, "userIds": [bot], "union": true}}),
        )
        .await;
    assert_eq!(
        first_error(&v),
        (
            "UNPROCESSABLE".into(),
            "Review cannot be requested from pull request author.".into()
        )
    );
    gh.add_team_member("other/team", "dave", "member");
    let dave = user_node(&c, "dave").await;
    let v = c
        .gql(
            REVIEWS,
            json!({"input": {"pullRequestId": id, "userIds": [dave], "union": true}}),
        )
        .await;
    assert_eq!(
        first_error(&v).1,
        "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the acme/app repository."
    );
    let v = c
        .gql(
            REVIEWS,
            json!({"input": {"pullRequestId": id, "userIds": ["U_0"], "union": true}}),
        )
        .await;
    assert_eq!(
        first_error(&v),
        (
            "NOT_FOUND".into(),
            "Could not resolve to a node with the global id of 'U_0'".into()
        )
    );
    // A team: a GITHUB_TOKEN cannot resolve it; a token that reads teams can.
    let team_id = {
        let carol = Client::new(&gh, "ghp_carol");
        let (s, v) = carol
            .rest(
                "POST",
                "/repos/acme/app/pulls/1/requested_reviewers",
                json!({"team_reviewers": ["ops"]}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["requested_teams"][0]["node_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let v = c
        .gql(
            REVIEWS,
            json!({"input": {"pullRequestId": id, "teamIds": [team_id]}}),
        )
        .await;
    assert_eq!(first_error(&v).0, "NOT_FOUND");
    let v = Client::new(&gh, "ghp_carol")
        .gql(
            REVIEWS,
            json!({"input": {"pullRequestId": id, "teamIds": [team_id], "userIds": [alice]}}),
        )
        .await;
    assert!(v.get("errors").is_none(), "{v}");
    let p = gh.pull("acme/app", 1).unwrap();
    assert_eq!(p.requested_reviewers, ["alice"]);
    assert_eq!(p.requested_teams, ["acme/ops"]);
}

#[tokio::test]
async fn assignable_users_are_writers_and_organization_readers() {
    let gh = setup();
    gh.add_collaborator("acme/app", "alice", "write").unwrap();
    gh.add_collaborator("acme/app", "alina", "read").unwrap();
    gh.add_collaborator("acme/app", "bob", "triage").unwrap();
    gh.add_team_member("acme/ops", "bob", "member");
    let c = Client::new(&gh, TOKEN);
    let q = "query($q: String!) { repository(owner: \"acme\", name: \"app\") { assignableUsers(query: $q, first: 10) { totalCount nodes { login } } } }";
    let logins = |v: &Value| -> Vec<String> {
        v["data"]["repository"]["assignableUsers"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["login"].as_str().unwrap().to_string())
            .collect()
    };
    let v = c.gql(q, json!({"q": ""})).await;
    assert_eq!(logins(&v), ["acme", "alice", "bob"], "{v}");
    let v = c.gql(q, json!({"q": "AL"})).await;
    assert_eq!(logins(&v), ["alice"]);
}

const HISTORY: &str = "query($sha: GitObjectID!, $first: Int, $after: String) { repository(owner: \"acme\", name: \"app\") { object(oid: $sha) { ... on Commit { history(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { oid url message messageHeadline author { name email user { login } } parents(first: 2) { nodes { oid } } } } } } } }";

#[tokio::test]
async fn commit_history_pages_in_git_log_order() {
    let gh = setup();
    gh.add_token("ghp_alice", TokenGrants::user("alice"));
    let root = gh.branch_sha("acme/app", "main").unwrap().unwrap();
    let second = gh.push_commit("acme/app", "main", &[("x", "1\n")]).unwrap();
    // A commit by alice through the API: her no-reply address, so her account.
    let alice = Client::new(&gh, "ghp_alice");
    let v = alice
        .gql(
            "mutation($input: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $input) { commit { oid } } }",
            json!({"input": {"branch": {"repositoryNameWithOwner": "acme/app", "branchName": "main"},
                "expectedHeadOid": second, "message": {"headline": "third", "body": "more"},
                "fileChanges": {"additions": [{"path": "y", "contents": "Mgo="}]}}}),
        )
        .await;
    let third = v["data"]["createCommitOnBranch"]["commit"]["oid"]
        .as_str()
        .unwrap()
        .to_string();
    let c = Client::new(&gh, TOKEN);

    let v = c.gql(HISTORY, json!({"sha": third, "first": 2})).await;
    assert!(v.get("errors").is_none(), "{v}");
    let h = &v["data"]["repository"]["object"]["history"];
    assert_eq!(h["totalCount"], 3);
    assert_eq!(h["pageInfo"]["hasNextPage"], true);
    let nodes = h["nodes"].as_array().unwrap();
    assert_eq!(nodes[0]["oid"], third);
    assert_eq!(nodes[1]["oid"], second);
    assert_eq!(nodes[0]["message"], "third\n\nmore");
    assert_eq!(nodes[0]["messageHeadline"], "third");
    assert_eq!(nodes[0]["author"]["user"]["login"], "alice");
    assert_eq!(nodes[1]["author"]["email"], "someone@example.com");
    assert_eq!(nodes[1]["author"]["user"], Value::Null);
    assert_eq!(nodes[0]["parents"]["nodes"], json!([{"oid": second}]));
    assert!(
        nodes[0]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/acme/app/commit/{third}"))
    );

    let after = h["pageInfo"]["endCursor"].clone();
    let v = c
        .gql(HISTORY, json!({"sha": third, "first": 2, "after": after}))
        .await;
    let h = &v["data"]["repository"]["object"]["history"];
    let nodes = h["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{h}");
    assert_eq!(nodes[0]["oid"], root);
    assert_eq!(nodes[0]["parents"]["nodes"], json!([]));
    assert_eq!(h["pageInfo"]["hasNextPage"], false);

    // More than 100, or no bound at all: GitHub's refusals.
    let v = c.gql(HISTORY, json!({"sha": third, "first": 101})).await;
    assert_eq!(
        first_error(&v),
        (
            "EXCESSIVE_PAGE_SIZE".into(),
            "Requesting 101 records on the `history` connection exceeds the `first` limit of 100 records.".into()
        )
    );
    assert_eq!(v["data"]["repository"]["object"]["history"], Value::Null);
    let v = c.gql(HISTORY, json!({"sha": third})).await;
    assert_eq!(
        first_error(&v),
        (
            "MISSING_PAGINATION_BOUNDARIES".into(),
            "You must provide a `first` or `last` value to properly paginate the `history` connection.".into()
        )
    );
    // A field GitHub's Commit lacks.
    let v = c
        .gql(
            "query($sha: GitObjectID!) { repository(owner: \"acme\", name: \"app\") { object(oid: $sha) { ... on Commit { history(first: 1) { nodes { sha } } } } } }",
            json!({"sha": third}),
        )
        .await;
    assert_eq!(
        v["errors"][0]["message"],
        "Field 'sha' doesn't exist on type 'Commit'"
    );
}
