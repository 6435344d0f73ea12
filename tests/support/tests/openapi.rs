//! The stand-in against GitHub's published OpenAPI description. Every REST operation the
//! stand-in serves is driven for real (HTTP, a token), and each answer is checked against
//! `tests/fixtures/github-openapi.json` (made by `scripts/openapi-subset` from
//! github/rest-api-description): the status is one the description lists for the
//! operation, and every `required` property of the answer's schema is present with its
//! JSON type (`null` only where the schema says nullable), through every schema the fixture
//! holds (`head`, `base`, `user`, `labels[]`, `requested_reviewers[]`, commits, …).
//! Refusals are checked the same way: the status must be listed for the operation and the
//! body must carry GitHub's `message` and `documentation_url`.

use std::collections::BTreeSet;

use gitops_testkit::github::{GitHubStandIn, Protection, TokenGrants};
use serde_json::{Value, json};

const FIXTURE: &str = include_str!("../../fixtures/github-openapi.json");
const TOKEN: &str = "ghs_openapi_token";
const USER_TOKEN: &str = "ghp_openapi_user";
const REPO: &str = "acme/app";
const WORKFLOW: &str = "on:\n  workflow_dispatch:\njobs: {}\n";

/// The trimmed description and a checker for answers.
struct Spec {
    doc: Value,
}

impl Spec {
    fn load() -> Spec {
        Spec {
            doc: serde_json::from_str(FIXTURE).expect("fixture is JSON"),
        }
    }

    fn operation(&self, op: &str) -> Option<&Value> {
        self.doc["operations"].get(op)
    }

    fn schema(&self, name: &str) -> Option<&Value> {
        self.doc["schemas"].get(name)
    }

    /// The problems of `value` against the trimmed schema `shape`, each prefixed by `at`.
    fn check(&self, value: &Value, shape: &Value, at: &str, errs: &mut Vec<String>) {
        if let Some(name) = shape["ref"].as_str() {
            // A schema under `missing_schemas` was not extracted: presence only.
            if let Some(s) = self.schema(name) {
                self.check(value, s, &format!("{at}<{name}>"), errs);
            }
            return;
        }
        if value.is_null() {
            let known = shape.get("type").is_some()
                || shape.get("required").is_some()
                || shape.get("one_of").is_some();
            if known && shape["nullable"] != true {
                errs.push(format!("{at}: null, but the schema is not nullable"));
            }
            return;
        }
        if let Some(d) = shape["discriminator"].as_object() {
            // The alternative is the one the discriminating property names.
            let prop = d["property"].as_str().unwrap_or_default();
            let tag = value[prop].as_str().unwrap_or_default();
            match d["mapping"][tag].as_str() {
                Some(name) => self.check(value, &json!({ "ref": name }), at, errs),
                None => errs.push(format!(
                    "{at}.{prop}: {:?} is none of {}",
                    tag, d["mapping"]
                )),
            }
            return;
        }
        if let Some(alts) = shape["one_of"].as_array() {
            let fits = alts.iter().any(|alt| {
                let mut e = Vec::new();
                self.check(value, alt, at, &mut e);
                e.is_empty()
            });
            if !fits {
                errs.push(format!(
                    "{at}: matches none of {}",
                    Value::from(alts.clone())
                ));
            }
            return;
        }
        if let Some(t) = shape["type"].as_str() {
            let fits = match t {
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                "array" => value.is_array(),
                "object" => value.is_object(),
                _ => true,
            };
            if !fits {
                let mut shown = value.to_string();
                shown.truncate(60);
                errs.push(format!("{at}: expected {t}, got {shown}"));
                return;
            }
        }
        if let (Some(items), Some(list)) = (shape.get("items"), value.as_array()) {
            for (i, v) in list.iter().enumerate() {
                self.check(v, items, &format!("{at}[{i}]"), errs);
            }
        }
        if let Some(required) = shape["required"].as_object() {
            let Some(obj) = value.as_object() else {
                errs.push(format!("{at}: expected an object"));
                return;
            };
            for (k, s) in required {
                match obj.get(k) {
                    Some(v) => self.check(v, s, &format!("{at}.{k}"), errs),
                    None => errs.push(format!("{at}.{k}: required property missing")),
                }
            }
        }
        if let Some(optional) = shape["optional"].as_object() {
            for (k, s) in optional {
                if let Some(v) = value.get(k) {
                    self.check(v, s, &format!("{at}.{k}"), errs);
                }
            }
        }
    }
}

/// Drives the stand-in and collects every way its answers differ from the description.
struct Run {
    spec: Spec,
    base: String,
    client: reqwest::Client,
    errs: Vec<String>,
    answered: BTreeSet<String>,
}

impl Run {
    async fn send(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "openapi-test");
        if let Some(t) = token {
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

    /// `op` ("METHOD /templated/path" as in the description) at the concrete `path`: the
    /// answer must be `want` (so the test knows which branch it drove), a status the
    /// description lists for `op`, and shaped like the schema it gives for that status.
    async fn call(
        &mut self,
        token: &str,
        op: &str,
        path: &str,
        body: Option<Value>,
        want: u16,
    ) -> Value {
        let method = op.split(' ').next().unwrap();
        let (status, v) = self.send(Some(token), method, path, body).await;
        assert_eq!(status, want, "{op} ({path}) answered {status}: {v}");
        self.conforms(op, status, &v);
        v
    }

    /// GitHub's error bodies (basic-error, validation-error, and the inline 405/409 bodies
    /// of pulls/merge) carry a string `message` and `documentation_url`.
    fn error_body(&mut self, what: &str, v: &Value) {
        for k in ["message", "documentation_url"] {
            if !v[k].is_string() {
                self.errs
                    .push(format!("{what}: error body without string `{k}`: {v}"));
            }
        }
    }

    fn conforms(&mut self, op: &str, status: u16, v: &Value) {
        let code = status.to_string();
        if status >= 400 {
            self.error_body(&format!("{op} {code}"), v);
        }
        let Some(o) = self.spec.operation(op) else {
            self.errs
                .push(format!("{op}: not in the fixture (missing_operations)"));
            return;
        };
        self.answered.insert(format!("{op} {code}"));
        let Some(r) = o["responses"].get(&code) else {
            let listed: Vec<&String> = o["responses"].as_object().unwrap().keys().collect();
            self.errs.push(format!(
                "{op}: status {code} is not one the description lists ({listed:?})"
            ));
            return;
        };
        if let Some(s) = r.get("schema") {
            let mut errs = Vec::new();
            self.spec.check(v, s, &format!("{op} {code}"), &mut errs);
            self.errs.extend(errs);
        } else if status == 204 && !v.is_null() {
            self.errs.push(format!("{op} 204 with a body: {v}"));
        }
    }
}

fn standin() -> GitHubStandIn {
    let gh = GitHubStandIn::start_blocking().unwrap();
    gh.create_repo(
        REPO,
        "main",
        &[
            (
                "overlays/dev/kustomization.yaml",
                "images:\n  - name: ghcr.io/acme/hello\n    newTag: dev-1\n",
            ),
            ("README.md", "app\n"),
            (".github/workflows/deploy.yml", WORKFLOW),
        ],
    )
    .unwrap();
    gh.add_token(TOKEN, TokenGrants::github_token());
    gh.add_token(USER_TOKEN, TokenGrants::user("octo"));
    gh.add_collaborator(REPO, "octo", "write").unwrap();
    gh.add_team_member("acme/platform", "octo", "member");
    gh
}

#[tokio::test]
async fn every_answer_matches_the_openapi_description() {
    let gh = standin();
    let mut run = Run {
        spec: Spec::load(),
        base: gh.api_url(),
        client: reqwest::Client::new(),
        errs: Vec::new(),
        answered: BTreeSet::new(),
    };
    let (t, u) = (TOKEN, USER_TOKEN);
    let r = "/repos/acme/app";
    let rp = "/repos/{owner}/{repo}";

    let me = run.call(u, "GET /user", "/user", None, 200).await;
    assert_eq!(me["login"], "octo");
    assert_eq!(me["user_view_type"], "private", "checked as private-user");
    run.call(t, "GET /rate_limit", "/rate_limit", None, 200)
        .await;
    run.call(
        u,
        "GET /orgs/{org}/teams/{team_slug}/memberships/{username}",
        "/orgs/acme/teams/platform/memberships/octo",
        None,
        200,
    )
    .await;
    run.call(t, &format!("GET {rp}"), r, None, 200).await;

    // A pull request through its life.
    let head = gh
        .push_commit(
            REPO,
            "feature",
            &[("overlays/dev/kustomization.yaml", "images: []\n")],
        )
        .unwrap();
    let new_pr =
        json!({"title": "hello: dev-2", "head": "feature", "base": "main", "body": "Moves dev."});
    let pr = run
        .call(
            t,
            &format!("POST {rp}/pulls"),
            &format!("{r}/pulls"),
            Some(new_pr),
            201,
        )
        .await;
    let n = pr["number"].as_u64().unwrap();
    let p = format!("{r}/pulls/{n}");
    run.call(
        t,
        &format!("GET {rp}/pulls"),
        &format!("{r}/pulls?state=open"),
        None,
        200,
    )
    .await;
    run.call(t, &format!("GET {rp}/pulls/{{pull_number}}"), &p, None, 200)
        .await;
    run.call(
        t,
        &format!("PATCH {rp}/pulls/{{pull_number}}"),
        &p,
        Some(json!({"body": "Moves dev to dev-2."})),
        200,
    )
    .await;
    let rr = format!("{rp}/pulls/{{pull_number}}/requested_reviewers");
    // Teams need a token that can read the organization (GITHUB_TOKEN gets 422).
    run.call(
        u,
        &format!("POST {rr}"),
        &format!("{p}/requested_reviewers"),
        Some(json!({"reviewers": ["octo"], "team_reviewers": ["platform"]})),
        201,
    )
    .await;
    let asked = run
        .call(
            t,
            &format!("GET {rr}"),
            &format!("{p}/requested_reviewers"),
            None,
            200,
        )
        .await;
    assert_eq!(
        asked["users"][0]["login"], "octo",
        "the reviewer request must be visible"
    );
    // The team comes back as a team (reviewer requests) and a team-simple (the pull).
    assert_eq!(asked["teams"][0]["slug"], "platform");
    let pr_now = run
        .call(t, &format!("GET {rp}/pulls/{{pull_number}}"), &p, None, 200)
        .await;
    assert_eq!(pr_now["requested_reviewers"][0]["login"], "octo");
    assert_eq!(pr_now["requested_teams"][0]["slug"], "platform");
    run.call(
        t,
        &format!("DELETE {rr}"),
        &format!("{p}/requested_reviewers"),
        Some(json!({"reviewers": ["octo"], "team_reviewers": ["platform"]})),
        200,
    )
    .await;
    let reviews = format!("{rp}/pulls/{{pull_number}}/reviews");
    run.call(
        t,
        &format!("POST {reviews}"),
        &format!("{p}/reviews"),
        Some(json!({"event": "COMMENT", "body": "Looks right."})),
        200,
    )
    .await;
    run.call(
        t,
        &format!("GET {reviews}"),
        &format!("{p}/reviews"),
        None,
        200,
    )
    .await;
    let labels = format!("{rp}/issues/{{issue_number}}/labels");
    let lp = format!("{r}/issues/{n}/labels");
    run.call(
        t,
        &format!("POST {labels}"),
        &lp,
        Some(json!({"labels": ["release"]})),
        200,
    )
    .await;
    run.call(
        t,
        &format!("PUT {labels}"),
        &lp,
        Some(json!({"labels": ["release", "env:dev"]})),
        200,
    )
    .await;
    let on_pr = run.call(t, &format!("GET {labels}"), &lp, None, 200).await;
    assert_eq!(on_pr.as_array().map(Vec::len), Some(2));
    run.call(
        t,
        &format!("POST {rp}/issues/{{issue_number}}/comments"),
        &format!("{r}/issues/{n}/comments"),
        Some(json!({"body": "Deployed to dev."})),
        201,
    )
    .await;

    // History, statuses, contents, branches and refs.
    run.call(
        t,
        &format!("GET {rp}/compare/{{basehead}}"),
        &format!("{r}/compare/main...feature"),
        None,
        200,
    )
    .await;
    run.call(
        t,
        &format!("GET {rp}/commits"),
        &format!("{r}/commits?sha=feature"),
        None,
        200,
    )
    .await;
    run.call(
        t,
        &format!("GET {rp}/commits/{{ref}}"),
        &format!("{r}/commits/{head}"),
        None,
        200,
    )
    .await;
    let status = json!({"state": "success", "context": "ci", "target_url": "https://ci.example/1", "description": "green"});
    run.call(
        t,
        &format!("POST {rp}/statuses/{{sha}}"),
        &format!("{r}/statuses/{head}"),
        Some(status),
        201,
    )
    .await;
    gh.set_check(REPO, &head, "lint", "pending").unwrap();
    run.call(
        t,
        &format!("GET {rp}/commits/{{ref}}/status"),
        &format!("{r}/commits/{head}/status"),
        None,
        200,
    )
    .await;
    let listed = run
        .call(
            t,
            &format!("GET {rp}/commits/{{ref}}/statuses"),
            &format!("{r}/commits/{head}/statuses"),
            None,
            200,
        )
        .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    let contents = format!("GET {rp}/contents/{{path}}");
    let file = run
        .call(
            t,
            &contents,
            &format!("{r}/contents/README.md?ref=feature"),
            None,
            200,
        )
        .await;
    assert_eq!(file["type"], "file");
    let dir = run
        .call(t, &contents, &format!("{r}/contents/overlays"), None, 200)
        .await;
    assert!(dir.is_array());
    let branch = format!("GET {rp}/branches/{{branch}}");
    run.call(t, &branch, &format!("{r}/branches/main"), None, 200)
        .await;
    gh.push_commit(REPO, "stable", &[("STABLE", "1\n")])
        .unwrap();
    gh.protect_branch(REPO, "stable", Protection::checks(&["ci"]))
        .unwrap();
    let stable = run
        .call(t, &branch, &format!("{r}/branches/stable"), None, 200)
        .await;
    assert_eq!(stable["protected"], true);
    run.call(
        t,
        &format!("GET {rp}/git/ref/{{ref}}"),
        &format!("{r}/git/ref/heads/feature"),
        None,
        200,
    )
    .await;

    // Merging, then the branch goes.
    let merge = format!("{rp}/pulls/{{pull_number}}/merge");
    run.call(t, &format!("GET {merge}"), &format!("{p}/merge"), None, 404)
        .await;
    let stale = json!({"sha": "0000000000000000000000000000000000000000"});
    run.call(
        t,
        &format!("PUT {merge}"),
        &format!("{p}/merge"),
        Some(stale),
        409,
    )
    .await;
    run.call(
        t,
        &format!("PUT {merge}"),
        &format!("{p}/merge"),
        Some(json!({"merge_method": "squash"})),
        200,
    )
    .await;
    run.call(t, &format!("GET {merge}"), &format!("{p}/merge"), None, 204)
        .await;
    run.call(
        t,
        &format!("DELETE {rp}/git/refs/{{ref}}"),
        &format!("{r}/git/refs/heads/feature"),
        None,
        204,
    )
    .await;

    // Deployments and a workflow dispatch.
    let dep = json!({"ref": "main", "environment": "dev", "required_contexts": [], "payload": {"image": "ghcr.io/acme/hello"}});
    let d = run
        .call(
            t,
            &format!("POST {rp}/deployments"),
            &format!("{r}/deployments"),
            Some(dep),
            201,
        )
        .await;
    let id = d["id"].as_u64().unwrap();
    run.call(
        t,
        &format!("GET {rp}/deployments"),
        &format!("{r}/deployments?environment=dev"),
        None,
        200,
    )
    .await;
    run.call(
        t,
        &format!("GET {rp}/deployments/{{deployment_id}}"),
        &format!("{r}/deployments/{id}"),
        None,
        200,
    )
    .await;
    let ds = format!("{rp}/deployments/{{deployment_id}}/statuses");
    let body = json!({"state": "success", "log_url": "https://ci.example/d/1", "environment_url": "https://dev.example"});
    run.call(
        t,
        &format!("POST {ds}"),
        &format!("{r}/deployments/{id}/statuses"),
        Some(body),
        201,
    )
    .await;
    run.call(
        t,
        &format!("GET {ds}"),
        &format!("{r}/deployments/{id}/statuses"),
        None,
        200,
    )
    .await;
    let wf = format!("POST {rp}/actions/workflows/{{workflow_id}}/dispatches");
    run.call(
        t,
        &wf,
        &format!("{r}/actions/workflows/deploy.yml/dispatches"),
        Some(json!({"ref": "main"})),
        204,
    )
    .await;
    let perm = run
        .call(
            t,
            &format!("GET {rp}/collaborators/{{username}}/permission"),
            &format!("{r}/collaborators/octo/permission"),
            None,
            200,
        )
        .await;
    assert_eq!(perm["permission"], "write");

    // Refusals: each status must be one the description documents for the operation.
    run.call(
        t,
        &format!("GET {rp}/pulls/{{pull_number}}"),
        &format!("{r}/pulls/999"),
        None,
        404,
    )
    .await;
    let missing = json!({"title": "no branches"});
    let v = run
        .call(
            t,
            &format!("POST {rp}/pulls"),
            &format!("{r}/pulls"),
            Some(missing),
            422,
        )
        .await;
    let codes: Vec<&str> = v["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["code"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        codes.contains(&"missing_field"),
        "422 names what is missing: {v}"
    );
    gh.set_setting_actions_can_create_prs(false);
    let again = json!({"title": "t", "head": "stable", "base": "main"});
    run.call(
        t,
        &format!("POST {rp}/pulls"),
        &format!("{r}/pulls"),
        Some(again),
        403,
    )
    .await;
    gh.set_setting_actions_can_create_prs(true);
    gh.push_commit(REPO, "wip", &[("WIP", "1\n")]).unwrap();
    let draft = json!({"title": "wip", "head": "wip", "base": "main", "draft": true});
    let wip = run
        .call(
            t,
            &format!("POST {rp}/pulls"),
            &format!("{r}/pulls"),
            Some(draft),
            201,
        )
        .await;
    let wip = wip["number"].as_u64().unwrap();
    run.call(
        t,
        &format!("PUT {merge}"),
        &format!("{r}/pulls/{wip}/merge"),
        None,
        405,
    )
    .await;
    let failing = gh
        .push_commit(REPO, "broken", &[("BROKEN", "1\n")])
        .unwrap();
    gh.set_check(REPO, &failing, "ci", "failure").unwrap();
    let dep = json!({"ref": "broken", "required_contexts": ["ci"]});
    run.call(
        t,
        &format!("POST {rp}/deployments"),
        &format!("{r}/deployments"),
        Some(dep),
        409,
    )
    .await;
    // A deployment's payload is an object or a string (a string holding a JSON object is
    // answered as the object); anything else is refused.
    let listed_payload = json!({"ref": "main", "required_contexts": [], "payload": "[1, 2]"});
    let d = run
        .call(
            t,
            &format!("POST {rp}/deployments"),
            &format!("{r}/deployments"),
            Some(listed_payload),
            201,
        )
        .await;
    assert_eq!(d["payload"], "[1, 2]");
    let array_payload = json!({"ref": "main", "required_contexts": [], "payload": [1, 2]});
    run.call(
        t,
        &format!("POST {rp}/deployments"),
        &format!("{r}/deployments"),
        Some(array_payload),
        422,
    )
    .await;
    run.call(
        t,
        &format!("DELETE {rp}/git/refs/{{ref}}"),
        &format!("{r}/git/refs/heads/main"),
        None,
        422,
    )
    .await;
    run.call(
        t,
        &format!("GET {rp}/compare/{{basehead}}"),
        &format!("{r}/compare/main...nope"),
        None,
        404,
    )
    .await;
    run.call(t, &contents, &format!("{r}/contents/nope.txt"), None, 404)
        .await;
    // Without a token GitHub answers 401 everywhere (components/responses/requires_authentication).
    let (s, v) = run.send(None, "GET", &p, None).await;
    assert_eq!(s, 401);
    run.error_body(
        "GET /repos/{owner}/{repo}/pulls/{pull_number} without a token",
        &v,
    );
    // GET /user lists its 401, and a 403 for a token that cannot read the user (the
    // workflow's GITHUB_TOKEN).
    let (s, v) = run.send(None, "GET", "/user", None).await;
    assert_eq!(s, 401);
    run.conforms("GET /user", s, &v);
    run.call(t, "GET /user", "/user", None, 403).await;
    run.call(
        u,
        "GET /orgs/{org}/teams/{team_slug}/memberships/{username}",
        "/orgs/acme/teams/platform/memberships/someone-else",
        None,
        404,
    )
    .await;
    run.call(t, &format!("GET {rp}"), "/repos/acme/nope", None, 404)
        .await;
    run.call(
        t,
        &format!("GET {rp}/collaborators/{{username}}/permission"),
        "/repos/acme/nope/collaborators/octo/permission",
        None,
        404,
    )
    .await;

    // Every operation of the fixture was answered successfully at least once.
    let ops = run.spec.doc["operations"].as_object().unwrap();
    for (op, o) in ops {
        let ok = o["responses"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|c| c.starts_with('2'))
            .any(|c| run.answered.contains(&format!("{op} {c}")));
        assert!(
            ok,
            "{op} is in the fixture but no success answer of it was checked"
        );
    }
    assert!(
        run.errs.is_empty(),
        "the stand-in differs from GitHub's description:\n{}",
        run.errs.join("\n")
    );
}

/// The checker catches what it is there to catch: a test that cannot fail is a defect.
#[tokio::test]
async fn the_checker_rejects_answers_unlike_the_description() {
    let gh = standin();
    gh.push_commit(REPO, "feature", &[("X", "1\n")]).unwrap();
    let mut run = Run {
        spec: Spec::load(),
        base: gh.api_url(),
        client: reqwest::Client::new(),
        errs: Vec::new(),
        answered: BTreeSet::new(),
    };
    let body = json!({"title": "t", "head": "feature", "base": "main"});
    let (s, _) = run
        .send(Some(TOKEN), "POST", "/repos/acme/app/pulls", Some(body))
        .await;
    assert_eq!(s, 201);
    let (_, pr) = run
        .send(Some(TOKEN), "GET", "/repos/acme/app/pulls/1", None)
        .await;
    let shape = json!({"ref": "pull-request"});
    let errs = |v: &Value| {
        let mut e = Vec::new();
        run.spec.check(v, &shape, "pr", &mut e);
        e
    };
    assert_eq!(errs(&pr), Vec::<String>::new(), "the real answer conforms");
    type Breaker = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Breaker)> = vec![
        (
            "<pull-request>.mergeable_state: required property missing",
            Box::new(|v| drop(v.as_object_mut().unwrap().remove("mergeable_state"))),
        ),
        (
            "<pull-request>.number: expected integer",
            Box::new(|v| v["number"] = json!("1")),
        ),
        (
            "<pull-request>.title: null, but the schema is not nullable",
            Box::new(|v| v["title"] = Value::Null),
        ),
        (
            "<pull-request>.head.sha: required property missing",
            Box::new(|v| drop(v["head"].as_object_mut().unwrap().remove("sha"))),
        ),
        (
            "<pull-request>.head.repo<repository>.svn_url: required property missing",
            Box::new(|v| drop(v["head"]["repo"].as_object_mut().unwrap().remove("svn_url"))),
        ),
        (
            "<pull-request>.user<simple-user>.login: required property missing",
            Box::new(|v| drop(v["user"].as_object_mut().unwrap().remove("login"))),
        ),
        (
            "<pull-request>.labels[0].default: expected boolean",
            Box::new(
                |v| v["labels"] = json!([{"id": 1, "node_id": "L", "url": "u", "name": "n", "description": null, "color": "c", "default": "no"}]),
            ),
        ),
        (
            "<pull-request>.requested_reviewers[0]<simple-user>.id: expected integer",
            Box::new(|v| v["requested_reviewers"] = json!([{"id": "x"}])),
        ),
    ];
    for (want, break_it) in cases {
        let mut v = pr.clone();
        break_it(&mut v);
        let got = errs(&v);
        assert!(
            got.iter().any(|e| e.contains(want)),
            "expected `{want}` among {got:?}"
        );
    }
    // `body` is nullable, `merged_by` too: null there is fine.
    let mut v = pr.clone();
    v["body"] = Value::Null;
    v["merged_by"] = Value::Null;
    assert_eq!(errs(&v), Vec::<String>::new());

    // GET /user: the discriminator (`user_view_type`) picks the schema.
    let (s, me) = run.send(Some(USER_TOKEN), "GET", "/user", None).await;
    assert_eq!(s, 200);
    let ushape = run.spec.operation("GET /user").unwrap()["responses"]["200"]["schema"].clone();
    let uerrs = |v: &Value| {
        let mut e = Vec::new();
        run.spec.check(v, &ushape, "me", &mut e);
        e
    };
    assert_eq!(uerrs(&me), Vec::<String>::new(), "the real answer conforms");
    let mut v = me.clone();
    v.as_object_mut()
        .unwrap()
        .remove("two_factor_authentication");
    let got = uerrs(&v);
    assert!(
        got.iter()
            .any(|e| e
                .contains("me<private-user>.two_factor_authentication: required property missing")),
        "{got:?}"
    );
    let mut v = me.clone();
    v["user_view_type"] = json!("secret");
    let got = uerrs(&v);
    assert!(
        got.iter()
            .any(|e| e.contains("me.user_view_type: \"secret\" is none of")),
        "{got:?}"
    );

    // deployment (as read from the description): its payload is an object or a string.
    let dep = json!({"ref": "main", "required_contexts": []});
    let (s, d) = run
        .send(
            Some(TOKEN),
            "POST",
            "/repos/acme/app/deployments",
            Some(dep),
        )
        .await;
    assert_eq!(s, 201);
    let dshape = json!({"ref": "deployment"});
    let derrs = |v: &Value| {
        let mut e = Vec::new();
        run.spec.check(v, &dshape, "d", &mut e);
        e
    };
    assert_eq!(derrs(&d), Vec::<String>::new(), "the real answer conforms");
    let mut v = d.clone();
    v["payload"] = json!([1]);
    let got = derrs(&v);
    assert!(
        got.iter()
            .any(|e| e.contains("d<deployment>.payload: matches none of")),
        "{got:?}"
    );
    let mut v = d.clone();
    v.as_object_mut().unwrap().remove("task");
    let got = derrs(&v);
    assert!(
        got.iter()
            .any(|e| e.contains("d<deployment>.task: required property missing")),
        "{got:?}"
    );

    // Statuses: one the description does not list for the operation is caught (the
    // dispatch answers 204, or 200 with run details; never 201), and so is a body on a 204.
    let dispatch = "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches";
    run.conforms(dispatch, 201, &json!({}));
    run.conforms(dispatch, 204, &json!({"id": 1}));
    run.conforms("GET /repos/{owner}/{repo}", 405, &json!({}));
    run.conforms("GET /nowhere", 200, &json!({}));
    for want in [
        "dispatches: status 201 is not one the description lists",
        "dispatches 204 with a body",
        "GET /repos/{owner}/{repo}: status 405 is not one the description lists",
        "GET /repos/{owner}/{repo} 405: error body without string `message`",
        "GET /nowhere: not in the fixture",
    ] {
        assert!(
            run.errs.iter().any(|e| e.contains(want)),
            "expected `{want}` among {:?}",
            run.errs
        );
    }
    // The team membership's 404 is listed (as a bare description): no complaint.
    let before = run.errs.len();
    let not_member =
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"});
    run.conforms(
        "GET /orgs/{org}/teams/{team_slug}/memberships/{username}",
        404,
        &not_member,
    );
    assert_eq!(run.errs.len(), before, "{:?}", &run.errs[before..]);
}

/// The fixture names its source and covers the routes of the stand-in.
#[test]
fn the_fixture_names_its_source_and_every_route() {
    let doc: Value = serde_json::from_str(FIXTURE).unwrap();
    let src = &doc["source"];
    assert_eq!(src["repository"], "github/rest-api-description");
    assert_eq!(src["commit"].as_str().map(str::len), Some(40));
    assert!(!src["info_version"].as_str().unwrap_or("").is_empty());
    let ops = doc["operations"].as_object().unwrap();
    // scripts/openapi-subset OPERATIONS: the 36 operations `rest`/`repo_route` serve, all
    // read from the description, each with its whole response list.
    assert_eq!(ops.len(), 36);
    assert_eq!(doc["missing_operations"], json!([]));
    for (op, o) in ops {
        assert!(
            o.get("responses_incomplete").is_none(),
            "{op}: response list incomplete"
        );
    }
    for name in [
        "pull-request",
        "simple-user",
        "repository",
        "commit",
        "status",
    ] {
        assert!(doc["schemas"].get(name).is_some(), "{name} in the fixture");
    }
    // simple-user and deployment as read, not derived from their nullable- twins.
    for name in ["simple-user", "deployment"] {
        assert!(doc["schemas"][name].get("derived_from").is_none(), "{name}");
        assert!(doc["schemas"][name].get("nullable").is_none(), "{name}");
    }
    // Every schema reached through required (and kept optional) properties was read, so
    // the checker knows the shape of everything it meets, not only its presence.
    assert_eq!(doc["missing_schemas"], json!([]));
    let schemas = doc["schemas"].as_object().unwrap();
    let mut refs = Vec::new();
    for o in doc["operations"].as_object().unwrap().values() {
        // Only answer schemas: a response's own `ref` names a components/responses entry.
        for r in o["responses"].as_object().unwrap().values() {
            collect_refs(&r["schema"], &mut refs);
        }
    }
    collect_refs(&doc["schemas"], &mut refs);
    for name in refs {
        assert!(
            schemas.contains_key(&name),
            "{name} is referenced but not in the fixture"
        );
    }
}

/// Every schema name `v` refers to (`{"ref": name}`), at any depth.
fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(name)) = m.get("ref") {
                out.push(name.clone());
            }
            for x in m.values() {
                collect_refs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

// -- GraphQL -------------------------------------------------------------------------

/// The app's own source: its auto-merge mutation is checked against the schema too.
const APP_GITHUB: &str = include_str!("../../../src/github/pulls.rs");

/// GitHub's public GraphQL schema, the stand-in's trimmed copy
/// (tests/support/graphql/schema.graphql, from octokit/graphql-schema): the one the
/// stand-in checks every document against, so answers and queries meet one schema.
struct Gql {
    types: Value,
}

impl Gql {
    fn load() -> Gql {
        Gql {
            types: gitops_testkit::github::graphql_types(),
        }
    }

    fn field(&self, ty: &str, name: &str) -> Option<&Value> {
        self.types[ty]["fields"].get(name)
    }

    /// The problems of `value` as a GraphQL answer of type reference `tr` ("X!", "[X]", …).
    fn check(&self, value: &Value, tr: &str, at: &str, errs: &mut Vec<String>) {
        let (inner, non_null) = match tr.strip_suffix('!') {
            Some(t) => (t, true),
            None => (tr, false),
        };
        if value.is_null() {
            if non_null {
                errs.push(format!("{at}: null, but the schema says {tr}"));
            }
            return;
        }
        if let Some(item) = inner.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            match value.as_array() {
                Some(list) => {
                    for (i, v) in list.iter().enumerate() {
                        self.check(v, item, &format!("{at}[{i}]"), errs);
                    }
                }
                None => errs.push(format!("{at}: expected a list ({tr})")),
            }
            return;
        }
        let fits = match inner {
            "Int" => value.is_i64() || value.is_u64(),
            "Float" => value.is_number(),
            "Boolean" => value.is_boolean(),
            "String" | "ID" | "URI" | "GitObjectID" | "DateTime" | "HTML" => value.is_string(),
            _ => true,
        };
        if !fits {
            errs.push(format!("{at}: {value} is not a {inner}"));
            return;
        }
        let ty = &self.types[inner];
        if let Some(values) = ty["values"].as_array() {
            if !values.iter().any(|v| Some(v) == Some(value)) {
                errs.push(format!("{at}: {value} is not a value of enum {inner}"));
            }
        } else if let Some(obj) = value.as_object().filter(|_| ty["fields"].is_object()) {
            for (k, v) in obj {
                match self.field(inner, k) {
                    Some(f) => {
                        let t = f["type"].as_str().unwrap_or_default();
                        self.check(v, t, &format!("{at}.{k}"), errs);
                    }
                    None => errs.push(format!("{at}.{k}: {inner} has no field `{k}`")),
                }
            }
        } else if ty["fields"].is_object() {
            errs.push(format!("{at}: expected an object ({inner})"));
        }
    }

    /// The field names of a selection set ("{ a b { c } }") under type `ty`.
    fn selection(
        &self,
        ty: &str,
        toks: &mut std::iter::Peekable<std::vec::IntoIter<String>>,
        errs: &mut Vec<String>,
    ) {
        assert_eq!(toks.next().as_deref(), Some("{"));
        let mut last: Option<String> = None;
        while let Some(t) = toks.peek().cloned() {
            match t.as_str() {
                "}" => {
                    toks.next();
                    return;
                }
                "{" => {
                    let f = last.take().expect("a field before `{`");
                    let sub = self
                        .field(ty, &f)
                        .and_then(|v| v["type"].as_str())
                        .unwrap_or_default();
                    let named: String = sub
                        .chars()
                        .filter(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    self.selection(&named, toks, errs);
                }
                _ => {
                    toks.next();
                    if self.field(ty, &t).is_none() {
                        errs.push(format!("{ty} has no field `{t}`"));
                    }
                    last = Some(t);
                }
            }
        }
    }
}

/// The app's `enablePullRequestAutoMerge` mutation as written in src/github/pulls.rs.
fn app_mutation() -> String {
    let start = APP_GITHUB
        .find("\"mutation($id")
        .expect("the auto-merge mutation in src/github/pulls.rs");
    let rest = &APP_GITHUB[start + 1..];
    rest[..rest.find("\";").unwrap()].replace("\\n", "\n")
}

#[test]
fn the_apps_auto_merge_mutation_uses_fields_of_the_public_schema() {
    let gql = Gql::load();
    let m = app_mutation();
    // Variables: `$id: ID!` … must have the input fields' named types.
    let header = &m[m.find('(').unwrap() + 1..m.find(')').unwrap()];
    let vars: Vec<(&str, &str)> = header
        .split(',')
        .filter_map(|v| v.split_once(':'))
        .map(|(k, t)| (k.trim().trim_start_matches('$'), t.trim()))
        .collect();
    let call = m
        .find("enablePullRequestAutoMerge(input: {")
        .expect("the mutation field");
    let args_at = call + "enablePullRequestAutoMerge(input: {".len();
    let args = &m[args_at..args_at + m[args_at..].find('}').unwrap()];
    let mut errs = Vec::new();
    let mut used = 0;
    for arg in args.split(',') {
        let (k, v) = arg.split_once(':').unwrap();
        let (k, var) = (k.trim(), v.trim().trim_start_matches('$'));
        used += 1;
        let Some(f) = gql.field("EnablePullRequestAutoMergeInput", k) else {
            errs.push(format!(
                "EnablePullRequestAutoMergeInput has no field `{k}`"
            ));
            continue;
        };
        let named = |t: &str| t.trim_end_matches('!').to_string();
        let declared = vars.iter().find(|(n, _)| *n == var).map(|(_, t)| named(t));
        if declared != Some(named(f["type"].as_str().unwrap())) {
            errs.push(format!(
                "${var} is declared {declared:?}, `{k}` is {}",
                f["type"]
            ));
        }
    }
    assert_eq!(
        used, 3,
        "pullRequestId, mergeMethod, expectedHeadOid: {args}"
    );
    // The selection set after the arguments, against the payload type.
    let sel = &m[args_at + m[args_at..].find("})").unwrap() + 2..];
    let spaced = sel.replace('{', " { ").replace('}', " } ");
    let toks: Vec<String> = spaced.split_whitespace().map(String::from).collect();
    let mut it = toks.into_iter().peekable();
    gql.selection("EnablePullRequestAutoMergePayload", &mut it, &mut errs);
    assert!(errs.is_empty(), "{}", errs.join("\n"));
    // The checker is not blind: a field GitHub does not have is reported.
    let mut e = Vec::new();
    let toks: Vec<String> = "{ pullRequest { numbr } }"
        .split_whitespace()
        .map(String::from)
        .collect();
    gql.selection(
        "EnablePullRequestAutoMergePayload",
        &mut toks.into_iter().peekable(),
        &mut e,
    );
    assert_eq!(e, vec!["PullRequest has no field `numbr`".to_string()]);
}

#[tokio::test]
async fn graphql_answers_match_the_public_schema() {
    let gql = Gql::load();
    let gh = standin();
    gh.push_commit(REPO, "feature", &[("X", "1\n")]).unwrap();
    gh.protect_branch(REPO, "main", Protection::checks(&["ci"]))
        .unwrap();
    gh.configure_repo(REPO, |s| s.allow_auto_merge = true)
        .unwrap();
    let mut run = Run {
        spec: Spec::load(),
        base: gh.api_url(),
        client: reqwest::Client::new(),
        errs: Vec::new(),
        answered: BTreeSet::new(),
    };
    let pr = json!({"title": "t", "head": "feature", "base": "main"});
    let (s, pr) = run
        .send(Some(TOKEN), "POST", "/repos/acme/app/pulls", Some(pr))
        .await;
    assert_eq!(s, 201);
    let node = pr["node_id"].as_str().unwrap().to_string();
    let graphql = |query: String, variables: Value| {
        let url = gh.graphql_url();
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .bearer_auth(TOKEN)
                .header("user-agent", "openapi-test")
                .header("content-type", "application/json")
                .body(json!({"query": query, "variables": variables}).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            serde_json::from_str::<Value>(&resp.text().await.unwrap()).unwrap()
        }
    };
    let mut errs = Vec::new();
    let mutation_type = |f: &str| {
        gql.field("Mutation", f).unwrap()["type"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // The app's mutation, on a pull request blocked by a required check: enabled.
    let vars = json!({"id": node, "method": "SQUASH", "oid": pr["head"]["sha"]});
    let v = graphql(app_mutation(), vars.clone()).await;
    assert!(v.get("errors").is_none(), "{v}");
    let field = "enablePullRequestAutoMerge";
    gql.check(&v["data"][field], &mutation_type(field), field, &mut errs);
    // Exactly the fields selected (the app asks `autoMergeRequest { enabledAt }`);
    // the method shows in the REST view below.
    assert!(
        v["data"][field]["pullRequest"]["autoMergeRequest"]["enabledAt"].is_string(),
        "{v}"
    );
    assert!(
        v["data"][field]["pullRequest"]["autoMergeRequest"]
            .get("mergeMethod")
            .is_none()
    );
    // The REST view of that pull request carries it as an auto-merge object.
    let one = format!("/repos/acme/app/pulls/{}", pr["number"]);
    let (s, rest) = run.send(Some(TOKEN), "GET", &one, None).await;
    assert_eq!(s, 200);
    assert_eq!(rest["auto_merge"]["merge_method"], "squash", "{rest}");
    run.conforms("GET /repos/{owner}/{repo}/pulls/{pull_number}", s, &rest);
    assert!(run.errs.is_empty(), "{}", run.errs.join("\n"));
    // The pull request query.
    let q = "query($o: String!, $n: String!, $num: Int!) { repository(owner: $o, name: $n) { pullRequest(number: $num) { id number state mergeStateStatus autoMergeRequest { enabledAt enabledBy { login } } } } }";
    let v = graphql(
        q.into(),
        json!({"o": "acme", "n": "app", "num": pr["number"]}),
    )
    .await;
    let repo = gql.field("Query", "repository").unwrap()["type"]
        .as_str()
        .unwrap();
    gql.check(&v["data"]["repository"], repo, "repository", &mut errs);
    // Disabling.
    let d = "mutation($id: ID!) { disablePullRequestAutoMerge(input: {pullRequestId: $id}) { pullRequest { number } } }";
    let v = graphql(d.into(), json!({"id": node})).await;
    let field = "disablePullRequestAutoMerge";
    gql.check(&v["data"][field], &mutation_type(field), field, &mut errs);
    // Refusals come as GraphQL errors with `data.<field>` null, which the schema allows.
    gh.unprotect_branch(REPO, "main").unwrap();
    for (id, what) in [
        (node.as_str(), "clean status"),
        ("PR_nope", "Could not resolve"),
    ] {
        let v = graphql(
            app_mutation(),
            json!({"id": id, "method": "MERGE", "oid": null}),
        )
        .await;
        let field = "enablePullRequestAutoMerge";
        gql.check(&v["data"][field], &mutation_type(field), field, &mut errs);
        let list = v["errors"].as_array().cloned().unwrap_or_default();
        assert!(!list.is_empty(), "{v}");
        for e in &list {
            // The GraphQL response format: message, path, locations {line, column}.
            let shaped = e["message"].is_string()
                && e["path"]
                    .as_array()
                    .is_some_and(|p| p.iter().all(Value::is_string))
                && e["locations"]
                    .as_array()
                    .is_some_and(|l| l.iter().all(|x| x["line"].is_u64() && x["column"].is_u64()));
            if !shaped {
                errs.push(format!("error not shaped like GitHub's: {e}"));
            }
        }
        assert!(list[0]["message"].as_str().unwrap().contains(what), "{v}");
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
    // Not blind: a value outside the enum is reported.
    let mut e = Vec::new();
    gql.check(&json!({"state": "DONE"}), "PullRequest", "pr", &mut e);
    assert_eq!(
        e,
        vec!["pr.state: \"DONE\" is not a value of enum PullRequestState".to_string()]
    );
}
