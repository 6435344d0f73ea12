//! GitHub's answers as we read them, and the merge policies and outcomes.

use crate::error::UserError;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    #[serde(default)]
    pub node_id: String,
    #[serde(default)]
    pub html_url: String,
    pub state: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub head: BranchRef,
    pub base: BranchRef,
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub auto_merge: Option<Value>,
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Who opened it (`github-actions[bot]` for `GITHUB_TOKEN`).
    #[serde(default)]
    pub user: Option<Login>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Login {
    pub login: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BranchRef {
    #[serde(rename = "ref")]
    pub ref_field: String,
    pub sha: String,
}

/// `GET /compare/{base}...{head}` (REST docs "Compare two commits"): one page of
/// the commits, oldest first, and how many the whole comparison holds.
#[derive(Debug, Clone, Deserialize)]
pub struct Comparison {
    #[serde(default)]
    pub commits: Vec<CommitRef>,
    /// `ahead`, `behind`, `diverged` or `identical`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub total_commits: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommitRef {
    pub sha: String,
    #[serde(default)]
    pub html_url: String,
    pub commit: CommitDetail,
    /// The GitHub account of the commit's author; `null` when the email is no
    /// account's.
    #[serde(default)]
    pub author: Option<Account>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommitDetail {
    pub message: String,
    /// The git author (`name`, `email`, `date`).
    #[serde(default)]
    pub author: Option<GitPerson>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    #[serde(default)]
    pub login: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GitPerson {
    #[serde(default)]
    pub name: String,
}

/// A PR opened in a commit's GraphQL document, with the node ids its labels and
/// user reviewers have (`None`: not found by name, so asked for through REST).
#[derive(Debug, Clone)]
pub struct OpenedPr {
    pub pr: PullRequest,
    pub labels: Vec<(String, Option<String>)>,
    pub users: Vec<(String, Option<String>)>,
}

/// What the PR step did, for the `pr-operation` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrOperation {
    Created,
    Updated,
    Unchanged,
    Closed,
}

impl PrOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            PrOperation::Created => "created",
            PrOperation::Updated => "updated",
            PrOperation::Unchanged => "unchanged",
            PrOperation::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrState {
    pub number: u64,
    pub url: String,
    pub node_id: String,
    pub head_sha: String,
    pub operation: PrOperation,
    /// Auto-merge already enabled on this PR.
    pub auto_merge: bool,
    /// Who opened it.
    pub author: String,
}

impl PrState {
    pub(crate) fn from_pr(pr: PullRequest, operation: PrOperation) -> Self {
        PrState {
            number: pr.number,
            url: pr.html_url,
            node_id: pr.node_id,
            head_sha: pr.head.sha,
            operation,
            auto_merge: pr.auto_merge.is_some_and(|v| !v.is_null()),
            author: pr.user.map(|u| u.login).unwrap_or_default(),
        }
    }
}

/// What to put in the PR; built by the caller (see [`pr_title`], [`PrBody`]).
#[derive(Debug, Clone, Default)]
pub struct PrContent {
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    /// Users, and teams as `org/team`.
    pub reviewers: Vec<String>,
    pub draft: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeMethod {
    #[default]
    Squash,
    Merge,
    Rebase,
}

impl MergeMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMethod::Squash => "squash",
            MergeMethod::Merge => "merge",
            MergeMethod::Rebase => "rebase",
        }
    }

    pub(crate) fn graphql(self) -> &'static str {
        match self {
            MergeMethod::Squash => "SQUASH",
            MergeMethod::Merge => "MERGE",
            MergeMethod::Rebase => "REBASE",
        }
    }
}

impl std::str::FromStr for MergeMethod {
    type Err = UserError;
    fn from_str(s: &str) -> Result<Self, UserError> {
        match s {
            "squash" => Ok(MergeMethod::Squash),
            "merge" => Ok(MergeMethod::Merge),
            "rebase" => Ok(MergeMethod::Rebase),
            _ => Err(UserError::new(format!("input `merge-method` is `{s}`"))
                .hint("use `squash`, `merge` or `rebase`")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeTry {
    Merged(String),
    /// 405: not mergeable now (checks, reviews, conflicts), with GitHub's reason.
    Refused(String),
    /// 409: the head is no longer the sha we pushed.
    HeadModified(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoMerge {
    Enabled,
    /// "Pull request is in clean status": mergeable right now.
    Clean,
    AlreadyMerged,
    Refused(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    Merged(String),
    /// Auto-merge is on; GitHub's reason the merge had to wait, when we asked.
    AutoMerge(Option<String>),
    Left,
    /// Conflicts with the base: re-apply the edit on the new base.
    Conflict(String),
    /// Someone pushed to our branch after us.
    HeadModified(String),
    /// Not mergeable and auto-merge not possible; GitHub's reason.
    Blocked(String),
}
