//! Whose token a run holds, told by GitHub itself: GraphQL `viewer { login }`.
//!
//! It matters after a merge the tool made. Events a `GITHUB_TOKEN` causes start no
//! workflow (except `workflow_dispatch` and `repository_dispatch`), so the chain
//! must dispatch the deploy workflow; a merge made with an App installation token
//! or a personal token fires `pull_request: closed`, which starts it by itself, and
//! dispatching too would deploy every merge twice (docs "Automatic token
//! authentication"; docs "Triggering a workflow from a workflow").
//!
//! The prefix of a token (`ghs_`, `ghp_`, `github_pat_`) does not tell: `ghs_` is
//! every installation token, the workflow's and an App's alike. REST `GET /user`
//! answers 403 to installation tokens; `viewer` answers for both kinds, with
//! `<app-slug>[bot]` for an App and the user's login for a PAT
//! (joshjohanning/bulk-github-repo-settings-sync-action#194, fullsend-ai/fullsend#1953),
//! and `github-actions[bot]` for the workflow's own token, the installation token of
//! the GitHub Actions app. The field rides in the query a run already makes
//! (`read_branches`), so with `commit-via: api` telling costs no request.

use super::GitHub;
use serde_json::{Value, json};

/// The login the workflow's `GITHUB_TOKEN` acts as.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

/// What the token's writes start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// The workflow's `GITHUB_TOKEN`: its merges start no workflow.
    WorkflowToken,
    /// An App installation token or a personal token, acting as this login: its
    /// merges start workflows like a person's.
    Other(String),
}

impl GitHub {
    /// Keep `viewer.login` of a GraphQL answer, for [`GitHub::token_kind`].
    pub(crate) fn saw_viewer(&self, answer: &Value) {
        if let Some(l) = answer["data"]["viewer"]["login"].as_str() {
            let _ = self.viewer.set(l.to_string());
        }
    }

    /// The token's kind: from a query already answered, else one `viewer` query.
    pub async fn token_kind(&self) -> anyhow::Result<TokenKind> {
        let login = match self.viewer.get() {
            Some(l) => l.clone(),
            None => {
                let v = self
                    .graphql(
                        "tell whose token this is",
                        "query { viewer { login } }",
                        json!({}),
                    )
                    .await?;
                self.saw_viewer(&v);
                self.viewer.get().cloned().ok_or_else(|| {
                    crate::error::Failure::new("GitHub's answer names no `viewer` login")
                })?
            }
        };
        Ok(if login == ACTIONS_BOT {
            TokenKind::WorkflowToken
        } else {
            TokenKind::Other(login)
        })
    }
}
