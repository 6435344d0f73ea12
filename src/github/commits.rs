//! Commits and branches through GitHub's GraphQL API (`commit-via: api`):
//! one query reads the base tip, the file a release edits there, the config, and
//! our release branch; `createCommitOnBranch` writes commits GitHub signs, leased
//! by `expectedHeadOid`; `updateRefs` moves and deletes branches with the old value
//! as a precondition. No git transport, no git credentials.
//!
//! Sources (quotes in docs/github-facts/commits-api.md): the public schema's doc
//! strings (octokit/graphql-schema), GitHub's changelog of 2021-09-13 on signing,
//! and a full answer to a stale `expectedHeadOid` (HTTP 200, `STALE_DATA`).

use super::{GRAPHQL, GitHub, Resend};
use crate::error::{Failure, UserError};
use base64::Engine as _;
use http::Method;
use serde_json::{Value, json};

/// The all-zero id: "must not exist" as a `beforeOid`, "delete" as an `afterOid`.
pub const ZERO_OID: &str = "0000000000000000000000000000000000000000";

/// A file at a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileAt {
    /// The blob id.
    pub oid: String,
    pub text: String,
}

/// A branch tip as the API reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tip {
    pub oid: String,
    pub parents: Vec<String>,
    /// The blob id of the (first) edited file there (`None`: no such file).
    pub file_oid: Option<String>,
    /// The blob ids of every file asked for, in the order asked.
    pub file_oids: Vec<Option<String>>,
    /// Files the tip changed against its first parent, where GitHub can tell.
    pub changed_files: Option<u64>,
}

/// What one query tells about the base and the release branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branches {
    /// The repository's node ID (for `updateRefs`).
    pub repo_id: String,
    /// The base branch's name (the default branch when none was asked for).
    pub base: String,
    pub base_oid: String,
    /// The (first) edited file at the base tip.
    pub file: Option<FileAt>,
    /// Every file asked for at the base tip, in the order asked (a train's).
    pub files: Vec<Option<FileAt>>,
    /// The config file at the base tip, when asked for.
    pub config: Option<FileAt>,
    /// The release branch, when asked for and present.
    pub head: Option<Tip>,
    /// With a release branch asked for: the number of the open PR from it into the
    /// base (`None`: there is none, so the PR is created without a list call).
    pub open_pr: Option<u64>,
    /// The repository deletes a merged PR's head branch itself (Settings →
    /// "Automatically delete head branches"; GraphQL `Repository.deleteBranchOnMerge`).
    pub delete_branch_on_merge: bool,
    /// The commit history asked for with [`HistoryFrom`], when it was.
    pub history: Option<History>,
}

/// Whose history a read asks for (the release PR's commit list, read in the
/// same query instead of a compare request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryFrom {
    /// The released commit's.
    Commit(String),
    /// The base tip's (a deploy's promotion: the version it moves is on the base).
    BaseTip,
}

/// One commit of a [`History`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCommit {
    pub oid: String,
    pub url: String,
    pub message: String,
    /// The GitHub login, else the git author's name.
    pub author: Option<String>,
    pub parents: Vec<String>,
}

/// The newest commits of a history, in GitHub's order (`Commit.history`, as
/// `git log`: newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub commits: Vec<HistoryCommit>,
}

/// The most commits one `Commit.history` page holds: GitHub GraphQL docs "Rate
/// limits and query limits for the GraphQL API", Node limit: "Values of `first`
/// and `last` must be within 1-100."
pub const HISTORY_PAGE: usize = 100;

impl History {
    /// The commits of `old..new` (what `new` has and `old` lacks), oldest first,
    /// read from this window alone; `None` when the window cannot tell exactly: one
    /// end is not in it, the way between them leaves it, or it passes a merge
    /// commit (whose other parent's side only a compare can cut at `old`).
    /// Either end may be abbreviated (a tag's `{sha7}`).
    pub fn between(&self, old: &str, new: &str) -> Option<Vec<HistoryCommit>> {
        let is = |oid: &str, end: &str| {
            end.len() >= 7
                && end.bytes().all(|b| b.is_ascii_hexdigit())
                && oid.starts_with(&end.to_ascii_lowercase())
        };
        let by_oid: std::collections::HashMap<&str, &HistoryCommit> =
            self.commits.iter().map(|c| (c.oid.as_str(), c)).collect();
        let mut at = self.commits.iter().find(|c| is(&c.oid, new))?;
        let mut out = Vec::new();
        // A linear walk cannot meet a commit twice; the bound keeps a bad answer
        // (a cycle) from looping.
        for _ in 0..=self.commits.len() {
            if is(&at.oid, old) {
                out.reverse();
                return Some(out);
            }
            let [parent] = at.parents.as_slice() else {
                // A merge (other side unknown here) or a root without `old`.
                return None;
            };
            out.push(at.clone());
            at = by_oid.get(parent.as_str())?;
        }
        None
    }
}

impl Branches {
    /// This read narrowed to the files `want` of the files `all` it was asked for
    /// (in `want`'s order), as if only those had been asked for; `None` when one of
    /// them was not read.
    pub fn only(&self, all: &[String], want: &[String]) -> Option<Branches> {
        let at: Vec<usize> = want
            .iter()
            .map(|w| all.iter().position(|a| a == w))
            .collect::<Option<_>>()?;
        let mut b = self.clone();
        b.files = at
            .iter()
            .map(|&i| self.files.get(i).cloned())
            .collect::<Option<_>>()?;
        b.file = b.files.first().cloned().flatten();
        if let Some(t) = &mut b.head {
            t.file_oids = at
                .iter()
                .map(|&i| t.file_oids.get(i).cloned().flatten())
                .collect();
            t.file_oid = t.file_oids.first().cloned().flatten();
        }
        Some(b)
    }
}

/// One `RefUpdate` of `updateRefs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// Branch name without `refs/heads/`.
    pub branch: String,
    /// `None`: delete.
    pub after: Option<String>,
    /// The value the branch must have (`ZERO_OID`: must not exist); `None`: any.
    pub before: Option<String>,
    pub force: bool,
}

/// How a leased write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leased {
    Done(String),
    /// The branch was not where we expected: read again and re-apply.
    Stale(String),
}

/// The alias of the `i`th file a query asks for: `file`, `file1`, `file2`…
fn alias(i: usize) -> String {
    if i == 0 {
        "file".into()
    } else {
        format!("file{i}")
    }
}

const TIP_FIELDS: &str = "oid parents(first: 2) { nodes { oid } } changedFilesIfAvailable";

fn blob(alias: &str, var: &str) -> String {
    format!(
        "{alias}: file(path: ${var}) {{ oid mode object {{ ... on Blob {{ text isBinary isTruncated byteSize }} }} }}"
    )
}

/// A tree entry's mode for a symbolic link (`TreeEntry.mode` is the git mode as a
/// number: 0o120000).
const LINK_MODE: u64 = 0o120000;

/// A document this GitHub's schema lacks a field or argument of (graphql-ruby's
/// "Field 'x' doesn't exist on type 'Y'", "… doesn't accept argument …").
fn is_schema_error(message: &str) -> bool {
    message.contains("doesn't exist on type") || message.contains("doesn't accept argument")
}

/// What to grant for a field GitHub refused (`FORBIDDEN`), by the error's
/// `path`: the open PRs of the release branch (alias `open`, `pullRequests`) need
/// `pull-requests: read`; the rest of what a run reads or writes is the code.
fn forbidden_hint(path: &Value) -> &'static str {
    let names: Vec<&str> = path
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if names
        .iter()
        .any(|n| matches!(*n, "open" | "pullRequests" | "pullRequest"))
    {
        "give the workflow `permissions: pull-requests: write` (a release reads the release branch's open PR, then opens or updates it), or pass a token that may"
    } else {
        "give the workflow `permissions: contents: write` (commits through the API need it), or pass a token that may write to the repository"
    }
}

/// A `RefUpdate` input of `updateRefs`.
fn ref_update_json(u: &RefUpdate) -> Value {
    let mut r = json!({
        "name": format!("refs/heads/{}", u.branch),
        "afterOid": u.after.as_deref().unwrap_or(ZERO_OID),
        "force": u.force,
    });
    if let Some(b) = &u.before {
        r["beforeOid"] = b.as_str().into();
    }
    r
}

/// What a read of the base and the release branch asks of a repository: its
/// fields (inside `repository { … }`, or a mutation payload's `repository`), the
/// variables they use and their declarations (`, $path: String!…`).
#[derive(Debug, Clone)]
pub(crate) struct ReadShape {
    pub(crate) decl: String,
    pub(crate) vars: Value,
    pub(crate) fields: String,
    base: Option<String>,
    paths: Vec<String>,
    config: Option<String>,
    history: Option<HistoryFrom>,
}

impl ReadShape {
    pub(crate) fn new(
        base: Option<&str>,
        head: Option<&str>,
        paths: &[&str],
        config: Option<&str>,
        history: Option<&HistoryFrom>,
    ) -> ReadShape {
        let path = paths.first().copied().unwrap_or_default();
        let base_field = match base {
            Some(_) => "base: ref(qualifiedName: $base)",
            None => "base: defaultBranchRef",
        };
        let mut vars = json!({"path": path});
        let mut decl = String::from(", $path: String!");
        if let Some(b) = base {
            vars["base"] = format!("refs/heads/{b}").into();
            decl.push_str(", $base: String!");
        }
        let mut base_files = blob("file", "path");
        let mut head_files = String::from("file(path: $path) { oid }");
        for (i, p) in paths.iter().enumerate().skip(1) {
            vars[format!("path{i}")] = (*p).into();
            decl.push_str(&format!(", $path{i}: String!"));
            base_files.push(' ');
            base_files.push_str(&blob(&format!("file{i}"), &format!("path{i}")));
            head_files.push_str(&format!(" file{i}: file(path: $path{i}) {{ oid }}"));
        }
        if let Some(c) = config {
            vars["config"] = c.into();
            decl.push_str(", $config: String!");
            base_files.push(' ');
            base_files.push_str(&blob("config", "config"));
        }
        let history = history.map(|h| {
            let field = format!("history(first: {HISTORY_PAGE}) {{ nodes {{ oid url message author {{ name user {{ login }} }} parents(first: 2) {{ nodes {{ oid }} }} }} }}");
            (h, field)
        });
        let mut released = String::new();
        match &history {
            Some((HistoryFrom::BaseTip, field)) => {
                base_files.push(' ');
                base_files.push_str(field);
            }
            Some((HistoryFrom::Commit(sha), field)) => {
                vars["released"] = sha.as_str().into();
                decl.push_str(", $released: GitObjectID!");
                released =
                    format!(" released: object(oid: $released) {{ ... on Commit {{ {field} }} }}");
            }
            None => {}
        }
        let head_field = match head {
            Some(h) => {
                vars["head"] = format!("refs/heads/{h}").into();
                vars["headName"] = h.into();
                decl.push_str(", $head: String!, $headName: String!");
                format!(
                    "head: ref(qualifiedName: $head) {{ target {{ ... on Commit {{ {TIP_FIELDS} {head_files} }} }} }} open: pullRequests(headRefName: $headName, states: [OPEN], first: 10) {{ nodes {{ number baseRefName headRepository {{ nameWithOwner }} }} }}"
                )
            }
            None => String::new(),
        };
        ReadShape {
            decl,
            vars,
            fields: format!(
                "id deleteBranchOnMerge {base_field} {{ name target {{ ... on Commit {{ oid {base_files} }} }} }} {head_field}{released}"
            ),
            base: base.map(String::from),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            config: config.map(String::from),
            history: history.map(|(h, _)| h.clone()),
        }
    }
}

/// The pull request [`GitHub::branch_commit_pr`] opens with the commit.
#[derive(Debug, Clone, Copy)]
pub struct NewPr<'a> {
    pub base: &'a str,
    pub content: &'a super::PrContent,
}

/// What became of the `createPullRequest` of a commit document.
#[derive(Debug, Clone)]
pub enum PrField {
    NotAsked,
    Opened(Box<super::OpenedPr>),
    /// Refused: a PR from the branch is open already; `maybe_ours` when the
    /// document was sent again after a lost answer (the first copy's, then).
    Exists {
        maybe_ours: bool,
    },
    /// Refused otherwise (the REST create then says why, with its hints).
    Refused,
}

fn opened_pr(v: &Value, p: &NewPr<'_>, users: &[&str], resent: bool) -> PrField {
    let node = &v["data"]["pr"]["pullRequest"];
    let Some(number) = node["number"].as_u64() else {
        let exists = v["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["path"][0].as_str() == Some("pr"))
            .any(|e| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.to_lowercase().contains("already exists"))
            });
        return if exists {
            PrField::Exists { maybe_ours: resent }
        } else {
            PrField::Refused
        };
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let repo = &node["repository"];
    let labels = p
        .content
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (
                l.clone(),
                repo[format!("l{i}")]["id"].as_str().map(String::from),
            )
        })
        .collect();
    let users = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let id = repo[format!("u{i}")]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|n| {
                    n["login"]
                        .as_str()
                        .is_some_and(|l| l.eq_ignore_ascii_case(u))
                })
                .and_then(|n| n["id"].as_str())
                .map(String::from);
            (u.to_string(), id)
        })
        .collect();
    let pr = super::PullRequest {
        number,
        node_id: text(&node["id"]),
        html_url: text(&node["url"]),
        state: text(&node["state"]).to_lowercase(),
        title: text(&node["title"]),
        body: node["body"].as_str().map(String::from),
        head: super::BranchRef {
            ref_field: text(&node["headRefName"]),
            sha: text(&node["headRefOid"]),
        },
        base: super::BranchRef {
            ref_field: text(&node["baseRefName"]),
            sha: String::new(),
        },
        merged: Some(false),
        merge_commit_sha: None,
        auto_merge: None,
        labels: Vec::new(),
        user: node["author"]["login"].as_str().map(|l| super::Login {
            login: l.to_string(),
        }),
    };
    PrField::Opened(Box::new(super::OpenedPr { pr, labels, users }))
}

/// A `CommitHistoryConnection` as read; `None` when it was not answered (the
/// commit is not in the repository, or the field was refused).
fn history_of(h: &Value) -> Option<History> {
    let nodes = h["nodes"].as_array()?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Some(History {
        commits: nodes
            .iter()
            .map(|n| HistoryCommit {
                oid: text(&n["oid"]).to_ascii_lowercase(),
                url: text(&n["url"]),
                message: text(&n["message"]),
                author: n["author"]["user"]["login"]
                    .as_str()
                    .or(n["author"]["name"].as_str())
                    .filter(|a| !a.is_empty())
                    .map(String::from),
                parents: n["parents"]["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| text(&p["oid"]).to_ascii_lowercase())
                    .collect(),
            })
            .collect(),
    })
}

/// GitHub's `errors[]`: (type, message).
fn errors_of(v: &Value) -> Vec<(String, String)> {
    v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["type"]
                    .as_str()
                    .or(e["extensions"]["code"].as_str())
                    .unwrap_or_default()
                    .to_string(),
                e["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

impl GitHub {
    pub(crate) fn owner_name(&self) -> (String, String) {
        let r = self.repository();
        let (o, n) = r.split_once('/').unwrap_or((&r, ""));
        (o.to_string(), n.to_string())
    }

    /// Send a GraphQL document; refusals of the token become errors with a hint.
    pub(crate) async fn graphql(
        &self,
        what: &str,
        query: &str,
        vars: Value,
    ) -> anyhow::Result<Value> {
        Ok(self.graphql_resent(what, query, vars).await?.0)
    }

    /// [`GitHub::graphql`], and whether the document was sent again after a lost
    /// answer (an earlier copy may have done what this answer refuses).
    pub(crate) async fn graphql_resent(
        &self,
        what: &str,
        query: &str,
        vars: Value,
    ) -> anyhow::Result<(Value, bool)> {
        let body = json!({"query": query, "variables": vars});
        let a = self
            .send_as(Method::POST, GRAPHQL, Some(&body), Resend::Safe)
            .await?;
        if !a.status.is_success() {
            return Err(self.error(what, &a));
        }
        let v: Value = a.json(what)?;
        let forbidden = v["errors"].as_array().into_iter().flatten().find(|e| {
            e["type"].as_str() == Some("FORBIDDEN")
                || e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("Resource not accessible"))
        });
        if let Some(e) = forbidden {
            let msg = e["message"].as_str().unwrap_or_default();
            return Err(Failure::new(format!(
                "cannot {what}: GitHub answered: {}",
                self.scrub(msg)
            ))
            .hint(forbidden_hint(&e["path"]))
            .into());
        }
        Ok((v, a.resent))
    }

    /// One query: the base tip (or the default branch's) with `path` and `config`
    /// there, and the tip of `head` with its parents and its copy of `path`.
    pub async fn read_branches(
        &self,
        base: Option<&str>,
        head: Option<&str>,
        path: &str,
        config: Option<&str>,
    ) -> anyhow::Result<Branches> {
        self.read_branches_files(base, head, &[path], config).await
    }

    /// [`GitHub::read_branches_with`] without a history.
    pub async fn read_branches_files(
        &self,
        base: Option<&str>,
        head: Option<&str>,
        paths: &[&str],
        config: Option<&str>,
    ) -> anyhow::Result<Branches> {
        self.read_branches_with(base, head, paths, config, None)
            .await
    }

    /// [`GitHub::read_branches`] for several files at once (a train's targets):
    /// still one query, each file an alias of its own; with `history`, the newest
    /// [`HISTORY_PAGE`] commits of it too.
    pub async fn read_branches_with(
        &self,
        base: Option<&str>,
        head: Option<&str>,
        paths: &[&str],
        config: Option<&str>,
        history: Option<&HistoryFrom>,
    ) -> anyhow::Result<Branches> {
        let (owner, name) = self.owner_name();
        let shape = ReadShape::new(base, head, paths, config, history);
        let mut vars = shape.vars.clone();
        vars["owner"] = owner.into();
        vars["name"] = name.into();
        let query = format!(
            "query($owner: String!, $name: String!{}) {{ viewer {{ login }} repository(owner: $owner, name: $name) {{ {} }} }}",
            shape.decl, shape.fields
        );
        let v = self
            .graphql("read the base branch through the API", &query, vars)
            .await?;
        self.saw_viewer(&v);
        let repo = &v["data"]["repository"];
        if repo.is_null() {
            let errors = errors_of(&v);
            if errors.iter().any(|(_, m)| is_schema_error(m)) {
                return Err(self.mutation_error("read the base branch through the API", &errors));
            }
            let why = errors
                .into_iter()
                .map(|(_, m)| m)
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Failure::new(format!(
                "cannot read `{}` through the API: {}",
                self.repository(),
                self.scrub(&why)
            ))
            .hint("check `GITHUB_REPOSITORY` and that the token may read the repository (`permissions: contents: read`)")
            .into());
        }
        self.parse_read(repo, &shape)
    }

    /// A [`ReadShape`]'s fields of a repository, as answered.
    pub(crate) fn parse_read(&self, repo: &Value, shape: &ReadShape) -> anyhow::Result<Branches> {
        let base = shape.base.as_deref();
        let paths: Vec<&str> = shape.paths.iter().map(String::as_str).collect();
        let paths = paths.as_slice();
        let path = paths.first().copied().unwrap_or_default();
        let config = shape.config.as_deref();
        let history = shape.history.as_ref();
        let b = &repo["base"];
        let Some(base_oid) = b["target"]["oid"].as_str() else {
            return Err(UserError::new(match base {
                Some(name) => format!(
                    "base branch `{name}` does not exist in `{}`",
                    self.repository()
                ),
                None => format!("`{}` has no default branch", self.repository()),
            })
            .hint("set the `base` input to an existing branch")
            .into());
        };
        let file = |node: &Value, path: &str| -> anyhow::Result<Option<FileAt>> {
            if node.is_null() {
                return Ok(None);
            }
            let o = &node["object"];
            // The base branch is repository text too. A link would have
            // its target read as YAML (and be replaced by a file on the way back).
            if node["mode"].as_u64() == Some(LINK_MODE) {
                return Err(UserError::new(format!(
                    "`{path}` is a symbolic link in the repository, not a regular file"
                ))
                .hint("overlays and config must be regular files: replace the link with the file itself")
                .into());
            }
            let size = o["byteSize"].as_u64().unwrap_or_default();
            if size > crate::fs::MAX_FILE_BYTES {
                return Err(UserError::new(format!(
                    "`{path}` holds {size} bytes, more than the {} this action reads",
                    crate::fs::MAX_FILE_BYTES
                ))
                .hint("an overlay or config is a small YAML file; check the path")
                .into());
            }
            if o["isBinary"].as_bool() == Some(true)
                || o["isTruncated"].as_bool() == Some(true)
                || o["text"].is_null()
            {
                return Err(UserError::new(format!(
                    "`{path}` at the base tip is binary or too large ({} bytes) to edit through the API",
                    o["byteSize"].as_u64().unwrap_or_default()
                ))
                .hint("an overlay is a small YAML file; check the path, or use `commit-via: git`")
                .into());
            }
            Ok(Some(FileAt {
                oid: node["oid"].as_str().unwrap_or_default().to_string(),
                text: o["text"].as_str().unwrap_or_default().to_string(),
            }))
        };
        let target = &b["target"];
        let head = repo["head"]["target"].as_object().map(|t| Tip {
            oid: t["oid"].as_str().unwrap_or_default().to_string(),
            parents: t["parents"]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["oid"].as_str().map(String::from))
                .collect(),
            file_oid: t["file"]["oid"].as_str().map(String::from),
            file_oids: (0..paths.len())
                .map(|i| {
                    t.get(&alias(i))
                        .and_then(|f| f["oid"].as_str())
                        .map(String::from)
                })
                .collect(),
            changed_files: t["changedFilesIfAvailable"].as_u64(),
        });
        let base_name = b["name"].as_str().unwrap_or_default().to_string();
        // Ours: from this repository (not a fork's branch of the same name) into the base.
        let open_pr = repo["open"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| {
                p["baseRefName"].as_str() == Some(base_name.as_str())
                    && p["headRepository"]["nameWithOwner"].as_str()
                        == Some(self.repository().as_str())
            })
            .and_then(|p| p["number"].as_u64());
        let history = match history {
            Some(HistoryFrom::BaseTip) => history_of(&target["history"]),
            Some(HistoryFrom::Commit(_)) => history_of(&repo["released"]["history"]),
            None => None,
        };
        Ok(Branches {
            history,
            repo_id: repo["id"].as_str().unwrap_or_default().to_string(),
            open_pr,
            delete_branch_on_merge: repo["deleteBranchOnMerge"].as_bool().unwrap_or(false),
            base: base_name,
            base_oid: base_oid.to_string(),
            file: file(&target["file"], path)?,
            files: paths
                .iter()
                .enumerate()
                .map(|(i, p)| file(&target[&alias(i)], p))
                .collect::<anyhow::Result<_>>()?,
            config: match config {
                Some(c) => file(&target["config"], c)?,
                None => None,
            },
            head,
        })
    }

    /// `createCommitOnBranch`: one file's new text on `branch`, only while the
    /// branch is at `expected`. GitHub signs the commit.
    pub async fn commit_on_branch(
        &self,
        branch: &str,
        expected: &str,
        path: &str,
        text: &str,
        message: &str,
    ) -> anyhow::Result<Leased> {
        self.commit_files_on_branch(branch, expected, &[(path, text)], message)
            .await
    }

    /// `createCommitOnBranch` with several files in one commit (`FileChanges`'
    /// `additions` is a list).
    pub async fn commit_files_on_branch(
        &self,
        branch: &str,
        expected: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> anyhow::Result<Leased> {
        let query = "mutation($input: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $input) { commit { oid } } }";
        let input = self.commit_input(branch, expected, files, message);
        let v = self
            .graphql(
                &format!("commit to `{branch}` through the API"),
                query,
                json!({"input": input}),
            )
            .await?;
        if let Some(oid) = v["data"]["createCommitOnBranch"]["commit"]["oid"].as_str() {
            return Ok(Leased::Done(oid.to_string()));
        }
        let errors = errors_of(&v);
        if let Some((_, m)) = errors.iter().find(|(t, _)| t == "STALE_DATA") {
            return Ok(Leased::Stale(self.scrub(m)));
        }
        Err(self.mutation_error(&format!("commit to `{branch}`"), &errors))
    }

    /// Put `branch` at `base` (creating it where `before` is [`ZERO_OID`], resetting
    /// it from `before` otherwise) and commit `files` on it, in one request: one
    /// GraphQL document with `updateRefs` then `createCommitOnBranch`. GraphQL runs
    /// the root fields of a mutation serially, in document order (GraphQL spec,
    /// "Mutation" and "Normal and Serial Execution": "executed serially"), so the
    /// commit sees the branch the first field made. When the first field is
    /// refused, the commit is leased on `base` and cannot land anywhere else:
    /// whether GitHub then runs it or skips it, the branch is not ours as we saw it,
    /// and the answer is [`Leased::Stale`]. Only for a branch with no open PR (a
    /// reset branch with one would close it).
    pub async fn branch_and_commit(
        &self,
        repo_id: &str,
        branch: &str,
        before: &str,
        base: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> anyhow::Result<Leased> {
        Ok(self
            .branch_commit_pr(repo_id, branch, before, base, files, message, None)
            .await?
            .0)
    }

    /// [`GitHub::branch_and_commit`], and with `pr` the pull request from the
    /// branch opened in the same document (`createPullRequest` after the commit,
    /// which it sees: the fields run serially), with the ids its labels and
    /// reviewers need read in its payload. GitHub refuses a second PR from one
    /// branch into one base ("A pull request already exists"), so a copy sent
    /// again after a lost answer opens none.
    #[allow(clippy::too_many_arguments)]
    pub async fn branch_commit_pr(
        &self,
        repo_id: &str,
        branch: &str,
        before: &str,
        base: &str,
        files: &[(&str, &str)],
        message: &str,
        pr: Option<NewPr<'_>>,
    ) -> anyhow::Result<(Leased, PrField)> {
        let refs = json!({"repositoryId": repo_id, "refUpdates": [{
            "name": format!("refs/heads/{branch}"),
            "beforeOid": before,
            "afterOid": base,
            "force": true,
        }]});
        let input = self.commit_input(branch, base, files, message);
        let mut vars = json!({"refs": refs, "input": input});
        let mut decl = String::from("$refs: UpdateRefsInput!, $input: CreateCommitOnBranchInput!");
        let mut pr_field = String::new();
        let (users, _) = pr
            .as_ref()
            .map(|p| super::pulls::split_reviewers(&p.content.reviewers))
            .unwrap_or_default();
        if let Some(p) = &pr {
            vars["pr"] = json!({
                "repositoryId": repo_id,
                "baseRefName": p.base,
                "headRefName": branch,
                "title": p.content.title,
                "body": p.content.body,
                "draft": p.content.draft,
                "maintainerCanModify": false,
            });
            decl.push_str(", $pr: CreatePullRequestInput!");
            let mut ids = String::new();
            for (i, l) in p.content.labels.iter().enumerate() {
                vars[format!("l{i}")] = l.as_str().into();
                decl.push_str(&format!(", $l{i}: String!"));
                ids.push_str(&format!(" l{i}: label(name: $l{i}) {{ id name }}"));
            }
            for (i, u) in users.iter().enumerate() {
                vars[format!("u{i}")] = (*u).into();
                decl.push_str(&format!(", $u{i}: String"));
                ids.push_str(&format!(
                    " u{i}: assignableUsers(query: $u{i}, first: 10) {{ nodes {{ id login }} }}"
                ));
            }
            let repo = if ids.is_empty() {
                String::new()
            } else {
                format!(" repository {{{ids} }}")
            };
            pr_field = format!(
                " pr: createPullRequest(input: $pr) {{ pullRequest {{ id number url title body state headRefName baseRefName headRefOid author {{ login }}{repo} }} }}"
            );
        }
        // Merged branches of this run whose delete waited for this document: a
        // field of their own (its refusal is theirs alone), after the rest.
        let gone = self.take_deferred(repo_id);
        let mut gone_field = "";
        if !gone.is_empty() {
            vars["gone"] = json!({"repositoryId": repo_id, "refUpdates": gone.iter().map(ref_update_json).collect::<Vec<_>>()});
            decl.push_str(", $gone: UpdateRefsInput!");
            gone_field = " gone: updateRefs(input: $gone) { clientMutationId }";
        }
        let query = format!(
            "mutation({decl}) {{ branch: updateRefs(input: $refs) {{ clientMutationId }} commit: createCommitOnBranch(input: $input) {{ commit {{ oid }} }}{pr_field}{gone_field} }}"
        );
        let (v, resent) = self
            .graphql_resent(
                &format!("commit to `{branch}` through the API"),
                &query,
                vars,
            )
            .await?;
        let pr_out = match &pr {
            None => PrField::NotAsked,
            Some(p) => opened_pr(&v, p, &users, resent),
        };
        if let Some(e) = v["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["path"][0].as_str() == Some("gone"))
        {
            let names: Vec<&str> = gone.iter().map(|u| u.branch.as_str()).collect();
            eprintln!(
                "could not delete `{}`: {}",
                names.join("`, `"),
                self.scrub(e["message"].as_str().unwrap_or_default())
            );
        }
        let leased = self.branch_commit_leased(&v, branch, before)?;
        Ok((leased, pr_out))
    }

    fn branch_commit_leased(
        &self,
        v: &Value,
        branch: &str,
        before: &str,
    ) -> anyhow::Result<Leased> {
        if let Some(oid) = v["data"]["commit"]["commit"]["oid"].as_str() {
            return Ok(Leased::Done(oid.to_string()));
        }
        let errors = errors_of(v);
        if errors.iter().any(|(_, m)| is_schema_error(m)) {
            return Err(self.mutation_error(&format!("commit to `{branch}`"), &errors));
        }
        let at = |field: &str| {
            v["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["path"][0].as_str() == Some(field))
                .map(|e| {
                    (
                        e["type"].as_str().unwrap_or_default().to_string(),
                        self.scrub(e["message"].as_str().unwrap_or_default()),
                    )
                })
        };
        // The branch was not as we saw it (created or moved meanwhile): read again.
        if let Some((_, why)) = at("branch") {
            let what = if before == ZERO_OID {
                "appeared"
            } else {
                "moved"
            };
            return Ok(Leased::Stale(format!(
                "`{branch}` {what} meanwhile ({why})"
            )));
        }
        match at("commit") {
            Some((kind, why)) if kind == "STALE_DATA" => Ok(Leased::Stale(why)),
            _ => Err(self.mutation_error(&format!("commit to `{branch}`"), &errors)),
        }
    }

    /// `CreateCommitOnBranchInput` for `files` on `branch` at `expected`.
    fn commit_input(
        &self,
        branch: &str,
        expected: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> Value {
        let (headline, body) = match message.split_once('\n') {
            Some((h, b)) => (h, b.trim_start_matches('\n')),
            None => (message, ""),
        };
        json!({
            "branch": {"repositoryNameWithOwner": self.repository(), "branchName": branch},
            "expectedHeadOid": expected,
            "message": {"headline": headline, "body": body},
            "fileChanges": {"additions": files.iter().map(|(path, text)| json!({
                "path": path,
                "contents": base64::engine::general_purpose::STANDARD.encode(text),
            })).collect::<Vec<_>>()},
        })
    }

    /// Delete `update.branch` with the next commit document of this run (one
    /// request less), or at [`GitHub::flush_deferred`] at the latest.
    pub(crate) fn defer_delete(&self, repo_id: &str, update: RefUpdate) {
        self.deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((repo_id.to_string(), update));
    }

    fn take_deferred(&self, repo_id: &str) -> Vec<RefUpdate> {
        let mut d = self.deferred.lock().unwrap_or_else(|p| p.into_inner());
        let (mine, rest): (Vec<_>, Vec<_>) = d.drain(..).partition(|(id, _)| id == repo_id);
        *d = rest;
        mine.into_iter().map(|(_, u)| u).collect()
    }

    /// Send the deletes no commit document carried (each on its own lease).
    pub(crate) async fn flush_deferred(&self) {
        let all: Vec<_> = self
            .deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for (id, u) in all {
            let branch = u.branch.clone();
            match self.update_refs(&id, &[u]).await {
                Ok(Leased::Done(_)) => {}
                Ok(Leased::Stale(why)) => eprintln!("could not delete `{branch}`: {why}"),
                Err(e) => eprintln!("could not delete `{branch}`: {e:#}"),
            }
        }
    }

    /// `updateRefs`: all of `updates` or none, each only while its branch is at
    /// its `before`.
    pub async fn update_refs(
        &self,
        repo_id: &str,
        updates: &[RefUpdate],
    ) -> anyhow::Result<Leased> {
        let query =
            "mutation($input: UpdateRefsInput!) { updateRefs(input: $input) { clientMutationId } }";
        let refs: Vec<Value> = updates.iter().map(ref_update_json).collect();
        let names: Vec<&str> = updates.iter().map(|u| u.branch.as_str()).collect();
        let what = format!("move `{}` through the API", names.join("`, `"));
        let v = self
            .graphql(
                &what,
                query,
                json!({"input": {"repositoryId": repo_id, "refUpdates": refs}}),
            )
            .await?;
        if !v["data"]["updateRefs"].is_null() && v.get("errors").is_none() {
            return Ok(Leased::Done(String::new()));
        }
        let errors = errors_of(&v);
        // A GitHub without the call (GHES before 3.16) answers with a schema error.
        if errors.iter().any(|(_, m)| is_schema_error(m)) {
            return Err(self.mutation_error(&what, &errors));
        }
        // GitHub's wording for a failed precondition is not documented: whether the
        // branches moved is read back by the caller, which decides.
        if let Some((_, m)) = errors.first() {
            return Ok(Leased::Stale(self.scrub(m)));
        }
        Err(self.mutation_error(&what, &errors))
    }

    fn mutation_error(&self, what: &str, errors: &[(String, String)]) -> anyhow::Error {
        let text = errors
            .iter()
            .map(|(_, m)| self.scrub(m))
            .collect::<Vec<_>>()
            .join("; ");
        let lower = text.to_lowercase();
        let f = Failure::new(format!("cannot {what}: GitHub answered: {text}"));
        let f = if lower.contains("workflow") {
            f.hint("changes to `.github/workflows` need a token with the `workflows` permission, which `GITHUB_TOKEN` never has")
        } else if lower.contains("protected") || lower.contains("rule") {
            f.hint("the branch is protected; use a release PR (`merge: auto` or `immediate`) instead of `merge: direct`, or allow this actor in the branch rules")
        } else if errors.iter().any(|(_, m)| is_schema_error(m)) {
            f.hint("this GitHub lacks a GraphQL call `commit-via: api` needs (GitHub Enterprise Server before 3.16?); use `commit-via: git`")
        } else {
            f.hint("GitHub refused the write; run the step again (it starts from what is there), or use `commit-via: git` if it keeps refusing")
        };
        f.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(list: &[(&str, &[&str])]) -> History {
        History {
            commits: list
                .iter()
                .map(|(oid, parents)| HistoryCommit {
                    oid: oid.repeat(40 / oid.len()),
                    url: String::new(),
                    message: format!("commit {oid}"),
                    author: None,
                    parents: parents.iter().map(|p| p.repeat(40 / p.len())).collect(),
                })
                .collect(),
        }
    }

    /// The window gives `old..new` exactly where the way is linear and inside it;
    /// it answers nothing (a compare decides) past a merge, outside the window, or
    /// when `old` is no ancestor.
    #[test]
    fn a_history_window_gives_old_to_new_only_when_it_can_tell() {
        let linear = window(&[("d", &["c"]), ("c", &["b"]), ("b", &["a"]), ("a", &[])]);
        let names = |v: Vec<HistoryCommit>| -> Vec<String> {
            v.into_iter().map(|c| c.oid[..1].to_string()).collect()
        };
        assert_eq!(
            names(linear.between("aaaaaaa", &"d".repeat(40)).unwrap()),
            ["b", "c", "d"]
        );
        assert_eq!(
            names(linear.between(&"c".repeat(40), "ddddddd").unwrap()),
            ["d"]
        );
        assert_eq!(linear.between("ddddddd", "ddddddd").unwrap().len(), 0);
        // `old` after `new`, or nowhere: not an ancestor as far as this shows.
        assert!(linear.between("ddddddd", "bbbbbbb").is_none());
        assert!(linear.between("eeeeeee", "ddddddd").is_none());
        // `new` not in the window.
        assert!(linear.between("aaaaaaa", "fffffff").is_none());
        // Not a sha (a `v1.2.3` tag): only a compare resolves it.
        assert!(linear.between("v1.2.3", "ddddddd").is_none());
        // A merge on the way: its other side is not cut here.
        let merged = window(&[("d", &["c", "e"]), ("c", &["b"]), ("e", &["b"]), ("b", &[])]);
        assert!(merged.between("bbbbbbb", "ddddddd").is_none());
        assert_eq!(names(merged.between("bbbbbbb", "ccccccc").unwrap()), ["c"]);
        // The way leaves the window (its oldest commit's parent is not in it).
        let cut = window(&[("d", &["c"]), ("c", &["b"])]);
        assert!(cut.between("aaaaaaa", "ddddddd").is_none());
    }
    use crate::github::GitHubOptions;

    /// A GitHub Enterprise Server without `updateRefs` answers with a schema error:
    /// that is an error naming `commit-via: git`, not a lost race to retry.
    #[tokio::test]
    async fn a_github_without_the_calls_points_to_commit_via_git() {
        let gh = GitHub::new(&GitHubOptions {
            api_url: "https://ghes.example/api/v3".into(),
            graphql_url: "https://ghes.example/api/graphql".into(),
            server_url: "https://ghes.example".into(),
            token: None,
            repository: "acme/app".into(),
            max_attempts: 1,
            max_wait: std::time::Duration::from_secs(1),
        })
        .unwrap();
        let errors = vec![(
            "undefinedField".to_string(),
            "Field 'updateRefs' doesn't exist on type 'Mutation'".to_string(),
        )];
        assert!(is_schema_error(&errors[0].1));
        assert!(!is_schema_error(
            "Expected branch to point to \"x\" but it did not."
        ));
        let e = gh.mutation_error("move `release/a/dev` through the API", &errors);
        let hint = crate::error::hint_of(&e).unwrap_or_default();
        assert!(hint.contains("commit-via: git"), "{hint}");
    }
}
