//! What a run needs from a repository other than the one it changes: the code's
//! repository, read from the config repository's side (its tags, a short sha's
//! commit), and the one request that proves a token can write the config
//! repository before anything is written anywhere.

use super::*;
use crate::error::Failure;
use crate::repository::RepoName;
use http::{Method, StatusCode};
use serde_json::{Value, json};

impl GitHub {
    /// A client of `repo` at the same GitHub, with `token` (the config's client's
    /// token when `None`).
    pub fn for_repository(&self, repo: &RepoName, token: Option<&str>) -> anyhow::Result<GitHub> {
        let mut o = GitHubOptions::from_env();
        o.api_url = self.api.to_string();
        o.graphql_url = self.graphql.to_string();
        o.server_url = self.server_url.clone();
        o.repository = repo.to_string();
        o.token = token.map(str::to_string).or_else(|| self.token.clone());
        GitHub::new(&o)
    }

    /// Whether the token may write this repository's contents, asked with one write
    /// that changes nothing anyone sees: an empty blob (`POST /git/blobs`, which
    /// needs `contents: write`; an unreferenced object is garbage to git). GitHub's
    /// answers tell the cases apart: 404 for a repository the token cannot see
    /// (private repositories are hidden, not refused), 403 `Resource not accessible
    /// by integration` for one it sees without the permission (docs
    /// "Troubleshooting the REST API"). `GET /repos` would not do: its
    /// `permissions` are the user's, absent or wrong for installation tokens
    /// (semantic-release/github#266).
    pub async fn check_push(&self) -> anyhow::Result<()> {
        let body = json!({"content": "", "encoding": "utf-8"});
        let a = self
            .send_as(
                Method::POST,
                &self.repo_path("/git/blobs"),
                Some(&body),
                // Creating the same empty blob twice is the same object.
                Resend::Safe,
            )
            .await?;
        let repo = self.repository();
        let needs = "`contents: write` and `pull-requests: write`";
        match a.status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(Failure::new(format!(
                "the token cannot see the config repository `{repo}` (GitHub answered 404)"
            ))
            .hint(format!(
                "pass as `token` a GitHub App installation token of an App installed on `{repo}` (actions/create-github-app-token with `repositories: {}`), or a fine-grained token for it, with {needs}; the workflow's GITHUB_TOKEN can only write its own repository",
                self.repo
            ))
            .into()),
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => Err(Failure::new(format!(
                "the token may not write the config repository `{repo}`: GitHub answered {} {}",
                a.status.as_u16(),
                self.scrub(&a.message())
            ))
            .hint(format!(
                "give the token {needs} on `{repo}` (the App's repository permissions, or the fine-grained token's)"
            ))
            .into()),
            _ => Err(self.error(&format!("check that the token may write `{repo}`"), &a)),
        }
    }

    /// The tag names pointing at `sha` among the newest 100 tags (by their commit's
    /// date), lightweight or annotated, in one GraphQL query
    /// (`Repository.refs(refPrefix: "refs/tags/", orderBy: TAG_COMMIT_DATE)`; a tag
    /// object's `target` is the commit). A commit released now is among the newest.
    pub async fn tags_at(&self, sha: &str) -> anyhow::Result<Vec<String>> {
        let (owner, name) = self.owner_name();
        let query = "query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { refs(refPrefix: \"refs/tags/\", first: 100, orderBy: {field: TAG_COMMIT_DATE, direction: DESC}) { nodes { name target { __typename oid ... on Tag { target { oid } } } } } } }";
        let v = self
            .graphql(
                &format!("read the tags of `{}`", self.repository()),
                query,
                json!({"owner": owner, "name": name}),
            )
            .await?;
        let repo = &v["data"]["repository"];
        if repo.is_null() {
            return Err(Failure::new(format!(
                "cannot read the tags of `{}`: {}",
                self.repository(),
                self.scrub(&graphql_errors(&v))
            ))
            .hint(format!(
                "pass a `source-token` that can read `{}` (`contents: read`)",
                self.repository()
            ))
            .into());
        }
        let sha = sha.to_ascii_lowercase();
        Ok(repo["refs"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| {
                let t = &n["target"];
                let commit = match t["__typename"].as_str() {
                    Some("Tag") => t["target"]["oid"].as_str(),
                    _ => t["oid"].as_str(),
                };
                commit.is_some_and(|c| {
                    c.eq_ignore_ascii_case(&sha) || (sha.len() < 40 && c.starts_with(&sha))
                })
            })
            .filter_map(|n| n["name"].as_str().map(str::to_string))
            .collect())
    }

    /// The full sha of commit `rev` (a short sha): `GET /commits/{rev}`.
    pub async fn commit_sha(&self, rev: &str) -> anyhow::Result<Option<String>> {
        let a = self
            .send(
                Method::GET,
                &self.repo_path(&format!("/commits/{}", enc_path(rev))),
                None,
            )
            .await?;
        match a.status {
            s if s.is_success() => {
                let v: Value = a.json("the commit")?;
                Ok(v["sha"].as_str().map(str::to_string))
            }
            StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY => Ok(None),
            _ => Err(self.error(&format!("read commit `{rev}`"), &a)),
        }
    }
}

/// The messages of a GraphQL answer's `errors`, joined.
fn graphql_errors(v: &Value) -> String {
    let msgs: Vec<&str> = v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["message"].as_str())
        .collect();
    if msgs.is_empty() {
        "no repository in the answer".to_string()
    } else {
        msgs.join("; ")
    }
}
