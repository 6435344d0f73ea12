//! `workflow_dispatch` through the REST API: inputs the workflow doesn't declare are
//! refused with 422 `Unexpected inputs provided: [...]`, as GitHub answers
//! (convictional/trigger-workflow-and-wait#4 shows the body; benc-uk/workflow-dispatch#80).

use gitops_testkit::github::{GitHubStandIn, TokenGrants};
use serde_json::{Value, json};

const WF: &str = "on:\n  workflow_dispatch:\n    inputs:\n      service: {required: true, type: string}\n      env: {type: string}\njobs: {}\n";

fn dispatch(gh: &GitHubStandIn, inputs: Value) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .post(format!(
            "{}/repos/acme/app/actions/workflows/deploy.yaml/dispatches",
            gh.api_url()
        ))
        .bearer_auth("ghs_dispatchTest")
        .header("user-agent", "test")
        .header("content-type", "application/json")
        .body(json!({"ref": "main", "inputs": inputs}).to_string())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn undeclared_inputs_are_refused_like_github() {
    let gh = GitHubStandIn::start_blocking().unwrap();
    gh.create_repo("acme/app", "main", &[(".github/workflows/deploy.yaml", WF)])
        .unwrap();
    gh.add_token("ghs_dispatchTest", TokenGrants::github_token());
    let (status, body) = dispatch(&gh, json!({"service": "hello", "sevice": "typo"}));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["message"], r#"Unexpected inputs provided: ["sevice"]"#);
    assert!(gh.dispatches("acme/app").unwrap().is_empty());
    let (status, body) = dispatch(&gh, json!({"service": "hello", "env": "dev"}));
    assert_eq!(status, 204, "{body}");
    assert_eq!(gh.dispatches("acme/app").unwrap().len(), 1);
}
