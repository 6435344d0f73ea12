//! GraphQL reads of repositories, refs, commits, files, pull requests, labels and
//! users, and the write mutations a release uses through the API:
//! `createCommitOnBranch`, `updateRefs`, `createPullRequest`, `mergePullRequest`,
//! `addLabelsToLabelable`, `requestReviews` (the last four by the rules REST's routes
//! use, one function each in [`super::api`]; sources in
//! docs/github-facts/graphql-pulls.md). Documents are parsed and checked against
//! GitHub's schema ([`super::schema`]); answers select exactly the fields asked for.
//!
//! Sources, per rule (see docs/github-facts/commits-api.md for the quotes):
//! - SCHEMA: octokit/graphql-schema `schema.graphql` at 82ff2d4, the doc strings of
//!   `createCommitOnBranch`, `CommittableBranch`, `FileChanges`, `updateRefs`.
//! - STALE: modernisation-platform#11985 (a full GitHub answer to a stale
//!   `expectedHeadOid`: HTTP 200, `type: STALE_DATA`, "Expected branch to point to
//!   \"<oid>\" but it did not.  Pull and try again.").
//! - CHANGELOG: GitHub changelog 2021-09-13: commits made with the mutation "are
//!   automatically GPG signed and are marked as verified"; the author is the
//!   credential's owner, the committer GitHub's web flow.
//!
//! Not pinned down by any source we found, and modelled on GitHub's neighbouring
//! answers (marked `NOT PINNED` below): the error for a branch that doesn't exist,
//! for a protected branch, and the text of an `updateRefs` refusal.

use base64::Engine;
use graphql_parser::query::{self as q, Selection};
use serde_json::{Map, Value, json};

use super::api::{self, ApiError};
use super::git::{Person, ZERO};
use super::schema;
use super::{State, TokenGrants};

/// A value a field resolves to.
#[derive(Clone)]
enum R {
    S(Value),
    N(Node),
    L(Vec<Node>),
}

/// An object of the schema, resolved lazily from the repository on disk.
#[derive(Clone)]
enum Node {
    Repo(String),
    /// Repository, branch.
    Ref(String, String),
    Commit(String, String),
    /// Repository, commit, path.
    Entry(String, String, String),
    Blob(String, String),
    /// Repository (unread: a tree answers only its oid), tree oid.
    #[allow(dead_code)]
    Tree(String, String),
    /// Repository, tag name (`refs/tags/<name>`).
    TagRef(String, String),
    /// Repository, the oid of an annotated tag object.
    Tag(String, String),
    Json(&'static str, Value),
    Conn(Vec<Node>),
    Payload(&'static str, Vec<(&'static str, R)>),
    /// Repository, PR number.
    Pull(String, u64),
    /// Repository, label name.
    Label(String, String),
    /// A user (or a bot, by its `[bot]` login).
    User(String),
    /// A commit's author or committer: name, email, date.
    GitActor(String, String, String),
    /// One page of a connection.
    Page(Page),
}

#[derive(Clone)]
struct Page {
    nodes: Vec<Node>,
    total: usize,
    start: usize,
    has_next: bool,
    /// The connection's name, in its cursors.
    conn: &'static str,
}

impl Node {
    fn typename(&self) -> &'static str {
        match self {
            Node::Repo(_) => "Repository",
            Node::Ref(..) | Node::TagRef(..) => "Ref",
            Node::Tag(..) => "Tag",
            Node::Commit(..) => "Commit",
            Node::Entry(..) => "TreeEntry",
            Node::Blob(..) => "Blob",
            Node::Tree(..) => "Tree",
            Node::Json(t, _) => t,
            Node::Conn(_) | Node::Page(_) => "Connection",
            Node::Payload(t, _) => t,
            Node::Pull(..) => "PullRequest",
            Node::Label(..) => "Label",
            Node::User(l) if l.ends_with("[bot]") => "Bot",
            Node::User(_) => "User",
            Node::GitActor(..) => "GitActor",
        }
    }

    fn is_a(&self, cond: &str) -> bool {
        let t = self.typename();
        cond == t
            || (cond == "GitObject" && matches!(t, "Commit" | "Blob" | "Tree" | "Tag"))
            || (cond == "Labelable" && t == "PullRequest")
            || (cond == "Actor" && matches!(t, "User" | "Bot"))
            || (cond == "Node"
                && !matches!(
                    self,
                    Node::Conn(_) | Node::Payload(..) | Node::Page(_) | Node::GitActor(..)
                ))
    }
}

/// A field error: `errors[]` entry; the field's value becomes null.
struct FieldError {
    kind: &'static str,
    message: String,
}

fn ferr(kind: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        kind,
        message: message.into(),
    }
}

/// The node ID of a branch: opaque to clients, as GitHub's are.
pub(crate) fn ref_id(full: &str, branch: &str) -> String {
    let raw = format!("{full}\n{branch}");
    format!(
        "REF_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    )
}

fn parse_ref_id(id: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id.strip_prefix("REF_")?)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (full, branch) = raw.split_once('\n')?;
    Some((full.to_string(), branch.to_string()))
}

fn repo_id(st: &State, full: &str) -> Option<String> {
    st.repos.get(full).map(|r| format!("R_{}", r.id))
}

/// A Label's node id: REST's `node_id` for it (`LA_<id>`).
pub(crate) fn label_id(id: u64) -> String {
    format!("LA_{id}")
}

/// A user's node id: REST's `node_id` for the same login.
pub(crate) fn user_id(login: &str) -> String {
    format!("U_{}", api::stable_id(login))
}

/// Every login the stand-in knows: owners, collaborators, team members, PR
/// authors, token users.
fn known_logins(st: &State) -> std::collections::BTreeSet<String> {
    let mut v = std::collections::BTreeSet::new();
    for r in st.repos.values() {
        v.insert(r.owner.clone());
        v.extend(r.collaborators.keys().cloned());
        v.extend(r.pulls.values().map(|p| p.user.clone()));
    }
    for ms in st.teams.values() {
        v.extend(ms.iter().map(|(l, _)| l.clone()));
    }
    v.extend(st.tokens.values().map(|t| t.user_login.clone()));
    v
}

/// The user a commit's email belongs to: GitHub links a commit to the account
/// whose email it carries, the no-reply `ID+USERNAME@users.noreply.github.com`
/// (or the older `USERNAME@users.noreply.github.com`) included (docs "Setting your
/// commit email address"). Here a user's only address is the no-reply one. A bot
/// is not a `User` (`GitActor.user` is `User`): null for `…[bot]`.
fn user_of_email(st: &State, email: &str) -> Option<String> {
    let local = email.strip_suffix("@users.noreply.github.com")?.to_string();
    let login = match local.split_once('+') {
        Some((id, l)) if id.chars().all(|c| c.is_ascii_digit()) => l.to_string(),
        _ => local,
    };
    known_logins(st)
        .into_iter()
        .find(|l| l.eq_ignore_ascii_case(&login) && !l.ends_with("[bot]"))
}

/// Whom `assignableUsers` lists: "anyone with write permissions to the repository,
/// and organization members with read permissions to the repository" (docs
/// "Assigning issues and pull requests to other GitHub users"). An organization
/// member here is a member of one of its teams.
fn assignable(st: &State, repo: &super::Repo) -> Vec<String> {
    let member = |l: &str| {
        st.teams.iter().any(|(t, ms)| {
            t.starts_with(&format!("{}/", repo.owner)) && ms.iter().any(|(m, _)| m == l)
        })
    };
    known_logins(st)
        .into_iter()
        .filter(|l| !l.ends_with("[bot]"))
        .filter(|l| match st.role(repo, l).as_deref() {
            Some("admin" | "maintain" | "write") => true,
            Some("triage" | "read") => member(l),
            _ => false,
        })
        .collect()
}

/// A connection's cursor: opaque to clients, as GitHub's are.
fn cursor(conn: &str, i: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{conn}:{i}"))
}

/// One page of `nodes` by the connection arguments `first` and `after` (`last`
/// alone takes the last ones). GitHub requires `first` or `last` and refuses more
/// than 100: graphql-ruby's connection errors as GitHub words them
/// (graphql-pulls.md).
fn paginate(
    nodes: Vec<Node>,
    args: &Map<String, Value>,
    conn: &'static str,
) -> Result<Page, FieldError> {
    let first = args.get("first").and_then(Value::as_i64);
    let last = args.get("last").and_then(Value::as_i64);
    if first.is_none() && last.is_none() {
        return Err(ferr(
            "MISSING_PAGINATION_BOUNDARIES",
            format!(
                "You must provide a `first` or `last` value to properly paginate the `{conn}` connection."
            ),
        ));
    }
    for (k, v) in [("first", first), ("last", last)] {
        match v {
            Some(n) if n > 100 => {
                return Err(ferr(
                    "EXCESSIVE_PAGE_SIZE",
                    format!(
                        "Requesting {n} records on the `{conn}` connection exceeds the `{k}` limit of 100 records."
                    ),
                ));
            }
            // NOT PINNED: the wording for a negative bound.
            Some(n) if n < 0 => {
                return Err(ferr(
                    "INVALID",
                    format!("`{k}` on the `{conn}` connection cannot be less than zero."),
                ));
            }
            _ => {}
        }
    }
    let total = nodes.len();
    let mut start = 0;
    if let Some(a) = arg(args, "after") {
        let at = base64::engine::general_purpose::STANDARD
            .decode(a)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| {
                t.strip_prefix(&format!("{conn}:"))
                    .and_then(|i| i.parse::<usize>().ok())
            });
        match at {
            Some(i) => start = i + 1,
            // NOT PINNED: the wording for a cursor of another connection.
            None => {
                return Err(ferr(
                    "INVALID",
                    format!("`{a}` does not appear to be a valid cursor."),
                ));
            }
        }
    }
    let start = start.min(total);
    let mut end = total;
    if let Some(f) = first {
        end = (start + f as usize).min(total);
    }
    let mut from = start;
    if let Some(l) = last {
        from = end.saturating_sub(l as usize).max(start);
    }
    Ok(Page {
        nodes: nodes[from..end].to_vec(),
        total,
        start: from,
        has_next: end < total,
        conn,
    })
}

/// Whether this document is for this module (every read rooted at `repository`,
/// `node` or `viewer`, and the commit, ref and pull-request mutations). A document
/// of anything else is answered by [`super::api`].
pub(crate) fn handles(op: &str, set: &q::SelectionSet<'_, String>) -> bool {
    set.items.iter().any(|s| match s {
        Selection::Field(f) => match op {
            "Mutation" => matches!(
                f.name.as_str(),
                "createCommitOnBranch"
                    | "updateRefs"
                    | "createPullRequest"
                    | "mergePullRequest"
                    | "addLabelsToLabelable"
                    | "requestReviews"
                    | "enablePullRequestAutoMerge"
                    | "disablePullRequestAutoMerge"
            ),
            _ => matches!(f.name.as_str(), "repository" | "node" | "viewer"),
        },
        _ => false,
    })
}

pub(crate) fn answer(
    st: &mut State,
    g: &TokenGrants,
    op: &str,
    set: &q::SelectionSet<'_, String>,
    vars: &Value,
) -> Result<Value, ApiError> {
    let mut errors = Vec::new();
    let mut data = Map::new();
    // A mutation's root fields run one after another, in document order (GraphQL
    // spec, "Mutation": "executed serially"; "Normal and Serial Execution"); a
    // field that fails is null with its error, and the next one still runs (spec,
    // "Handling Field Errors": the payloads are nullable). So `updateRefs` then
    // `createCommitOnBranch` in one document commits on the branch just made.
    for sel in &set.items {
        let Selection::Field(f) = sel else { continue };
        let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
        let args = args_of(f, vars);
        let r = if op == "Mutation" {
            mutate(st, g, &f.name, &args)
        } else if let Some(e) = unseen(st, g, &f.name, &args) {
            Err(e)
        } else {
            // `viewer` is whoever the token acts as: the user of a PAT, `<app>[bot]`
            // for an App installation token, `github-actions[bot]` for a workflow's
            // `GITHUB_TOKEN` (docs/github-facts/events.md, "Token kinds").
            let viewer = Node::Json("User", json!({"login": g.user_login}));
            resolve(
                st,
                g,
                &Node::Payload("Query", vec![("viewer", R::N(viewer))]),
                &f.name,
                &args,
            )
        };
        match r {
            Ok(r) => {
                let v = select_r(
                    st,
                    g,
                    vars,
                    r,
                    &f.selection_set,
                    &mut vec![key.clone()],
                    &mut errors,
                );
                data.insert(key, v);
            }
            Err(e) => {
                errors.push(json!({
                    "type": e.kind, "path": [key], "message": e.message,
                    "locations": [{"line": f.position.line, "column": f.position.column}],
                }));
                data.insert(key, Value::Null);
            }
        }
    }
    let mut out = json!({ "data": data });
    if !errors.is_empty() {
        out["errors"] = Value::Array(errors);
    }
    Ok(out)
}

/// A root field naming a repository the token cannot see: the answer GitHub gives
/// for a repository that does not exist (`TokenGrants::repositories`).
fn unseen(
    st: &State,
    g: &TokenGrants,
    name: &str,
    args: &Map<String, Value>,
) -> Option<FieldError> {
    let full = match name {
        "repository" => format!(
            "{}/{}",
            arg(args, "owner").unwrap_or_default(),
            arg(args, "name").unwrap_or_default()
        ),
        "node" => {
            let id = arg(args, "id").unwrap_or_default();
            let (full, _) = parse_ref_id(id)?;
            if g.sees(&full) {
                return None;
            }
            return Some(ferr(
                "NOT_FOUND",
                format!("Could not resolve to a node with the global id of '{id}'"),
            ));
        }
        _ => return None,
    };
    (st.repos.contains_key(&full) && !g.sees(&full)).then(|| {
        ferr(
            "NOT_FOUND",
            format!("Could not resolve to a Repository with the name '{full}'."),
        )
    })
}

fn args_of(f: &q::Field<'_, String>, vars: &Value) -> Map<String, Value> {
    f.arguments
        .iter()
        .map(|(k, v)| (k.clone(), schema::to_json(v, vars)))
        .collect()
}

fn select_r(
    st: &State,
    g: &TokenGrants,
    vars: &Value,
    r: R,
    set: &q::SelectionSet<'_, String>,
    path: &mut Vec<String>,
    errors: &mut Vec<Value>,
) -> Value {
    match r {
        R::S(v) => v,
        R::N(n) => select(st, g, vars, &n, set, path, errors),
        R::L(ns) => Value::Array(
            ns.iter()
                .enumerate()
                .map(|(i, n)| {
                    path.push(i.to_string());
                    let v = select(st, g, vars, n, set, path, errors);
                    path.pop();
                    v
                })
                .collect(),
        ),
    }
}

fn select(
    st: &State,
    g: &TokenGrants,
    vars: &Value,
    node: &Node,
    set: &q::SelectionSet<'_, String>,
    path: &mut Vec<String>,
    errors: &mut Vec<Value>,
) -> Value {
    let mut out = Map::new();
    select_into(st, g, vars, node, set, path, errors, &mut out);
    Value::Object(out)
}

#[allow(clippy::too_many_arguments)]
fn select_into(
    st: &State,
    g: &TokenGrants,
    vars: &Value,
    node: &Node,
    set: &q::SelectionSet<'_, String>,
    path: &mut Vec<String>,
    errors: &mut Vec<Value>,
    out: &mut Map<String, Value>,
) {
    for sel in &set.items {
        match sel {
            Selection::Field(f) => {
                let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
                if f.name == "__typename" {
                    out.insert(key, node.typename().into());
                    continue;
                }
                path.push(key.clone());
                let args = args_of(f, vars);
                let v = match resolve(st, g, node, &f.name, &args) {
                    Ok(r) => select_r(st, g, vars, r, &f.selection_set, path, errors),
                    Err(e) => {
                        errors.push(json!({
                            "type": e.kind, "path": path.clone(), "message": e.message,
                            "locations": [{"line": f.position.line, "column": f.position.column}],
                        }));
                        Value::Null
                    }
                };
                path.pop();
                out.insert(key, v);
            }
            Selection::InlineFragment(i) => {
                let applies = match &i.type_condition {
                    Some(q::TypeCondition::On(t)) => node.is_a(t),
                    None => true,
                };
                if applies {
                    select_into(st, g, vars, node, &i.selection_set, path, errors, out);
                }
            }
            Selection::FragmentSpread(_) => {}
        }
    }
}

fn s(v: impl Into<Value>) -> Result<R, FieldError> {
    Ok(R::S(v.into()))
}

fn null() -> Result<R, FieldError> {
    Ok(R::S(Value::Null))
}

fn arg<'a>(args: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    args.get(k).and_then(Value::as_str)
}

fn resolve(
    st: &State,
    g: &TokenGrants,
    node: &Node,
    name: &str,
    args: &Map<String, Value>,
) -> Result<R, FieldError> {
    let internal = |e: anyhow::Error| ferr("INTERNAL", e.to_string());
    match node {
        Node::Payload(_, fields) => {
            if let Some((_, r)) = fields.iter().find(|(k, _)| *k == name) {
                return Ok(match r {
                    R::S(v) => R::S(v.clone()),
                    R::N(n) => R::N(n.clone_node()),
                    R::L(l) => R::L(l.iter().map(Node::clone_node).collect()),
                });
            }
            match name {
                // Query root.
                "repository" => {
                    let full = format!(
                        "{}/{}",
                        arg(args, "owner").unwrap_or_default(),
                        arg(args, "name").unwrap_or_default()
                    );
                    if st.repos.contains_key(&full) {
                        Ok(R::N(Node::Repo(full)))
                    } else {
                        Err(ferr(
                            "NOT_FOUND",
                            format!("Could not resolve to a Repository with the name '{full}'."),
                        ))
                    }
                }
                "node" => {
                    let id = arg(args, "id").unwrap_or_default();
                    match parse_ref_id(id) {
                        Some((full, b))
                            if st.repo(&full).is_ok_and(|r| r.git.branch(&b).is_some()) =>
                        {
                            Ok(R::N(Node::Ref(full, b)))
                        }
                        _ => Err(ferr(
                            "NOT_FOUND",
                            format!("Could not resolve to a node with the global id of '{id}'"),
                        )),
                    }
                }
                _ => null(),
            }
        }
        Node::Repo(full) => {
            let repo = st.repo(full).map_err(internal)?;
            // Reads a job's `permissions:` may withhold (the repository itself is
            // *Metadata*, always granted): GraphQL answers the field with a `FORBIDDEN`
            // error and null, the rest of the document resolving
            // (fpicalausa/remove-stale-branches#49: `associatedPullRequests` of a
            // token without `pull-requests: read`; docs/github-facts/permissions.md,
            // Reads). The code (`ref`, `refs`, `object`) needs `contents: read` on a
            // private repository, as REST and git do.
            let code = !repo.settings.private || g.contents_read;
            let allowed = match name {
                "pullRequests" => g.pull_requests_read,
                "pullRequest" => g.pull_requests_read || g.contents_read,
                "ref" | "refs" | "object" => code,
                // Labels are the issues' and pull requests' (the REST labels
                // endpoints take *Issues* or *Pull requests*, read: permissions.md).
                "label" | "labels" => g.issues_read || g.pull_requests_read,
                _ => true,
            };
            if !allowed {
                return Err(ferr("FORBIDDEN", "Resource not accessible by integration"));
            }
            match name {
                "id" => s(format!("R_{}", repo.id)),
                "name" => s(repo.name.clone()),
                "nameWithOwner" => s(full.clone()),
                "label" => {
                    // GitHub's label names are unique without regard to case (a
                    // second "Bug" beside "bug" is refused: "Name has already been
                    // taken"); the lookup matches the same way, null when absent.
                    let want = arg(args, "name").unwrap_or_default();
                    let found = repo
                        .labels
                        .keys()
                        .find(|n| *n == want)
                        .or_else(|| repo.labels.keys().find(|n| n.eq_ignore_ascii_case(want)));
                    match found {
                        Some(n) => Ok(R::N(Node::Label(full.clone(), n.clone()))),
                        None => null(),
                    }
                }
                "labels" => {
                    let nodes = repo
                        .labels
                        .keys()
                        .map(|n| Node::Label(full.clone(), n.clone()))
                        .collect();
                    Ok(R::N(Node::Page(paginate(nodes, args, "labels")?)))
                }
                "assignableUsers" => {
                    let q = arg(args, "query").unwrap_or_default().to_lowercase();
                    let nodes = assignable(st, repo)
                        .into_iter()
                        .filter(|l| l.to_lowercase().contains(&q))
                        .map(Node::User)
                        .collect();
                    Ok(R::N(Node::Page(paginate(nodes, args, "assignableUsers")?)))
                }
                "deleteBranchOnMerge" => {
                    Ok(R::S(Value::Bool(repo.settings.delete_branch_on_merge)))
                }
                "url" => s(format!("{}/{full}", st.base_url)),
                "defaultBranchRef" => match super::default_branch(&repo.git) {
                    Ok(b) if repo.git.branch(&b).is_some() => Ok(R::N(Node::Ref(full.clone(), b))),
                    _ => null(),
                },
                "ref" => {
                    let q = arg(args, "qualifiedName").unwrap_or_default();
                    let b = q.strip_prefix("refs/heads/").unwrap_or(q);
                    if q.starts_with("refs/") && !q.starts_with("refs/heads/") {
                        return null();
                    }
                    match repo.git.branch(b) {
                        Some(_) => Ok(R::N(Node::Ref(full.clone(), b.to_string()))),
                        None => null(),
                    }
                }
                "refs" => {
                    // Tags only (`refPrefix: "refs/tags/"`), newest first for
                    // `TAG_COMMIT_DATE DESC` (the order `git for-each-ref` gives for
                    // `-creatordate`), `first` at most 100 as GitHub's connections.
                    if arg(args, "refPrefix") != Some("refs/tags/") {
                        return Ok(R::N(Node::Conn(Vec::new())));
                    }
                    let first = args.get("first").and_then(Value::as_u64).unwrap_or(100);
                    if first > 100 {
                        return Err(ferr(
                            "EXCESSIVE_PAGE_SIZE",
                            format!(
                                "Requesting {first} records on the `refs` connection exceeds the `first` limit of 100 records."
                            ),
                        ));
                    }
                    let desc = args
                        .get("orderBy")
                        .and_then(|o| o.get("direction"))
                        .and_then(Value::as_str)
                        == Some("DESC");
                    let sort = if desc {
                        "--sort=-creatordate"
                    } else {
                        "--sort=creatordate"
                    };
                    let names = repo
                        .git
                        .run(&[
                            "for-each-ref",
                            sort,
                            "--format=%(refname:strip=2)",
                            "refs/tags",
                        ])
                        .map_err(internal)?;
                    let nodes = names
                        .lines()
                        .filter(|n| !n.is_empty())
                        .take(first as usize)
                        .map(|n| Node::TagRef(full.clone(), n.to_string()))
                        .collect();
                    Ok(R::N(Node::Conn(nodes)))
                }
                "pullRequests" => {
                    let head = arg(args, "headRefName");
                    let base = arg(args, "baseRefName");
                    let states: Vec<String> = args
                        .get("states")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
                    let first = args.get("first").and_then(Value::as_u64).unwrap_or(100) as usize;
                    let mut nodes = Vec::new();
                    for p in repo.pulls.values() {
                        if head.is_some_and(|h| h != p.head) || base.is_some_and(|b| b != p.base) {
                            continue;
                        }
                        let state = if p.merged.is_some() {
                            "MERGED"
                        } else if p.open {
                            "OPEN"
                        } else {
                            "CLOSED"
                        };
                        if !states.is_empty() && !states.iter().any(|x| x == state) {
                            continue;
                        }
                        nodes.push(Node::Pull(full.clone(), p.number));
                    }
                    nodes.truncate(first);
                    Ok(R::N(Node::Conn(nodes)))
                }
                "pullRequest" => {
                    let n = args
                        .get("number")
                        .and_then(Value::as_u64)
                        .unwrap_or_default();
                    match repo.pulls.get(&n) {
                        Some(_) => Ok(R::N(Node::Pull(full.clone(), n))),
                        None => Err(ferr(
                            "NOT_FOUND",
                            format!("Could not resolve to a PullRequest with the number of {n}."),
                        )),
                    }
                }
                "object" => {
                    let expr = arg(args, "expression")
                        .or(arg(args, "oid"))
                        .unwrap_or_default();
                    if let Some((rev, path)) = expr.split_once(':') {
                        let Some(c) = repo.git.resolve(rev) else {
                            return null();
                        };
                        return Ok(match repo.git.entry(&c, path) {
                            Some((_, t, id)) if t == "blob" => R::N(Node::Blob(full.clone(), id)),
                            Some((_, t, id)) if t == "tree" => R::N(Node::Tree(full.clone(), id)),
                            _ => R::S(Value::Null),
                        });
                    }
                    match repo.git.resolve(expr) {
                        Some(c) => Ok(R::N(Node::Commit(full.clone(), c))),
                        None => null(),
                    }
                }
                _ => null(),
            }
        }
        Node::Ref(full, b) => {
            let repo = st.repo(full).map_err(internal)?;
            // A branch's name is *Metadata*; its commit is the code (as `object` above).
            if name == "target" && repo.settings.private && !g.contents_read {
                return Err(ferr("FORBIDDEN", "Resource not accessible by integration"));
            }
            match name {
                "id" => s(ref_id(full, b)),
                "name" => s(b.clone()),
                "prefix" => s("refs/heads/"),
                "target" => match repo.git.branch(b) {
                    Some(c) => Ok(R::N(Node::Commit(full.clone(), c))),
                    None => null(),
                },
                "repository" => Ok(R::N(Node::Repo(full.clone()))),
                _ => null(),
            }
        }
        Node::Commit(full, sha) => {
            let repo = st.repo(full).map_err(internal)?;
            let g = &repo.git;
            let info = || g.commit_info(sha).map_err(internal);
            match name {
                "id" => s(format!("C_{}", &sha[..12])),
                "oid" => s(sha.clone()),
                "abbreviatedOid" => s(sha[..7].to_string()),
                "url" => s(format!("{}/{full}/commit/{sha}", st.base_url)),
                "message" => s(info()?.message),
                "messageHeadline" => s(info()?
                    .message
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string()),
                "tree" => Ok(R::N(Node::Tree(full.clone(), info()?.tree))),
                "parents" => {
                    let first = args.get("first").and_then(Value::as_u64).unwrap_or(100) as usize;
                    let ps = info()?.parents;
                    Ok(R::N(Node::Conn(
                        ps.into_iter()
                            .take(first)
                            .map(|p| Node::Commit(full.clone(), p))
                            .collect(),
                    )))
                }
                "file" => {
                    let path = arg(args, "path").unwrap_or_default();
                    match g.entry(sha, path) {
                        Some(_) => Ok(R::N(Node::Entry(
                            full.clone(),
                            sha.clone(),
                            path.to_string(),
                        ))),
                        None => null(),
                    }
                }
                "changedFilesIfAvailable" => s(g.changed_files(sha)),
                "committedViaWeb" => s(g.is_web_signed(sha)),
                "signature" => {
                    if g.is_web_signed(sha) {
                        Ok(R::N(Node::Json(
                            "GpgSignature",
                            json!({"isValid": true, "state": "VALID", "wasSignedByGitHub": true,
                                   "email": "noreply@github.com", "keyId": "B5690EEEBB952194"}),
                        )))
                    } else {
                        null()
                    }
                }
                "author" | "committer" => {
                    let c = info()?;
                    let p = if name == "author" {
                        c.author
                    } else {
                        c.committer
                    };
                    Ok(R::N(Node::GitActor(p.0, p.1, p.2)))
                }
                "history" => {
                    // `git log` order from this commit (SCHEMA: "The linear commit
                    // history starting from (and including) this commit").
                    let shas = g.rev_list(&[sha.as_str()]).map_err(internal)?;
                    let nodes = shas
                        .into_iter()
                        .map(|c| Node::Commit(full.clone(), c))
                        .collect();
                    Ok(R::N(Node::Page(paginate(nodes, args, "history")?)))
                }
                _ => null(),
            }
        }
        Node::Entry(full, c, path) => {
            let repo = st.repo(full).map_err(internal)?;
            let Some((mode, kind, id)) = repo.git.entry(c, path) else {
                return null();
            };
            match name {
                "oid" => s(id),
                "path" => s(path.clone()),
                "name" => s(path.rsplit('/').next().unwrap_or(path).to_string()),
                "mode" => s(i64::from_str_radix(&mode, 8).unwrap_or_default()),
                "type" => s(kind),
                "object" => Ok(R::N(if kind == "blob" {
                    Node::Blob(full.clone(), id)
                } else {
                    Node::Tree(full.clone(), id)
                })),
                _ => null(),
            }
        }
        Node::Blob(full, id) => {
            let repo = st.repo(full).map_err(internal)?;
            let bytes = repo.git.blob(id).unwrap_or_default();
            let binary = bytes.contains(&0) || std::str::from_utf8(&bytes).is_err();
            match name {
                "oid" => s(id.clone()),
                "abbreviatedOid" => s(id[..7].to_string()),
                "byteSize" => s(bytes.len()),
                "isBinary" => s(binary),
                "isTruncated" => s(false),
                "text" if binary => null(),
                "text" => s(String::from_utf8_lossy(&bytes).into_owned()),
                _ => null(),
            }
        }
        Node::Tree(_, id) => match name {
            "oid" => s(id.clone()),
            _ => null(),
        },
        Node::TagRef(full, t) => {
            let repo = st.repo(full).map_err(internal)?;
            match name {
                "name" => s(t.clone()),
                "prefix" => s("refs/tags/"),
                "repository" => Ok(R::N(Node::Repo(full.clone()))),
                "target" => {
                    let out = repo
                        .git
                        .run(&[
                            "for-each-ref",
                            "--format=%(objecttype) %(objectname)",
                            &format!("refs/tags/{t}"),
                        ])
                        .map_err(internal)?;
                    match out.split_once(' ') {
                        Some(("tag", oid)) => Ok(R::N(Node::Tag(full.clone(), oid.to_string()))),
                        Some(("commit", oid)) => {
                            Ok(R::N(Node::Commit(full.clone(), oid.to_string())))
                        }
                        _ => null(),
                    }
                }
                _ => null(),
            }
        }
        Node::Tag(full, oid) => {
            let repo = st.repo(full).map_err(internal)?;
            match name {
                "oid" => s(oid.clone()),
                "abbreviatedOid" => s(oid[..7].to_string()),
                "name" | "message" | "target" => {
                    let text = repo.git.run(&["cat-file", "tag", oid]).map_err(internal)?;
                    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
                    let field = |k: &str| {
                        head.lines()
                            .find_map(|l| l.strip_prefix(k).map(str::to_string))
                            .unwrap_or_default()
                    };
                    match name {
                        "name" => s(field("tag ")),
                        "message" => s(body.to_string()),
                        _ => {
                            let target = field("object ");
                            Ok(R::N(match field("type ").as_str() {
                                "tag" => Node::Tag(full.clone(), target),
                                _ => Node::Commit(full.clone(), target),
                            }))
                        }
                    }
                }
                "repository" => Ok(R::N(Node::Repo(full.clone()))),
                _ => null(),
            }
        }
        Node::Pull(full, n) => {
            let repo = st.repo(full).map_err(internal)?;
            let p = repo
                .pulls
                .get(n)
                .ok_or_else(|| ferr("NOT_FOUND", format!("no pull request #{n}")))?;
            match name {
                "body" => s(p.body.clone().unwrap_or_default()),
                "author" => Ok(R::N(Node::User(p.user.clone()))),
                "repository" | "baseRepository" | "headRepository" => {
                    Ok(R::N(Node::Repo(full.clone())))
                }
                "labels" => {
                    let nodes = p
                        .labels
                        .iter()
                        .map(|l| Node::Label(full.clone(), l.clone()))
                        .collect();
                    Ok(R::N(Node::Page(paginate(nodes, args, "labels")?)))
                }
                "mergeCommit" => match &p.merged {
                    Some(m) => Ok(R::N(Node::Commit(full.clone(), m.sha.clone()))),
                    None => null(),
                },
                "mergedAt" => s(p.merged.as_ref().map(|m| m.at.clone())),
                "createdAt" => s(p.created_at.clone()),
                "maintainerCanModify" => s(p.maintainer_can_modify),
                _ => {
                    let v = api::gql_pr(st, repo, p).map_err(internal)?;
                    resolve(st, g, &Node::Json("PullRequest", v), name, args)
                }
            }
        }
        Node::Label(full, n) => {
            let repo = st.repo(full).map_err(internal)?;
            let id = repo.labels.get(n).copied().unwrap_or_default();
            match name {
                "id" => s(label_id(id)),
                "name" => s(n.clone()),
                "color" => s("ededed"),
                "description" => null(),
                "isDefault" => s(false),
                "url" => s(format!(
                    "{}/{full}/labels/{}",
                    st.base_url,
                    n.replace(' ', "%20")
                )),
                _ => null(),
            }
        }
        Node::User(login) => match name {
            "id" => s(user_id(login)),
            "login" => s(login.clone()),
            // The stand-in's users have no profile name (REST's `name` is null too).
            "name" => null(),
            "url" => s(format!("{}/{login}", st.base_url)),
            _ => null(),
        },
        Node::GitActor(n, e, d) => match name {
            "name" => s(n.clone()),
            "email" => s(e.clone()),
            "date" => s(d.clone()),
            "user" => match user_of_email(st, e) {
                Some(l) => Ok(R::N(Node::User(l))),
                None => null(),
            },
            _ => null(),
        },
        Node::Page(p) => match name {
            "nodes" => Ok(R::L(p.nodes.clone())),
            "totalCount" => s(p.total),
            "pageInfo" => {
                let cur = |i: usize| Value::String(cursor(p.conn, i));
                let empty = p.nodes.is_empty();
                Ok(R::N(Node::Json(
                    "PageInfo",
                    json!({
                        "hasNextPage": p.has_next,
                        "hasPreviousPage": p.start > 0,
                        "startCursor": if empty { Value::Null } else { cur(p.start) },
                        "endCursor": if empty { Value::Null } else { cur(p.start + p.nodes.len() - 1) },
                    }),
                )))
            }
            _ => null(),
        },
        Node::Conn(nodes) => match name {
            "nodes" => Ok(R::L(nodes.iter().map(Node::clone_node).collect())),
            "totalCount" => s(nodes.len()),
            "pageInfo" => Ok(R::N(Node::Json(
                "PageInfo",
                json!({"hasNextPage": false, "hasPreviousPage": false, "endCursor": null, "startCursor": null}),
            ))),
            _ => null(),
        },
        Node::Json(_, v) => Ok(match v.get(name) {
            Some(Value::Object(_)) => R::N(Node::Json("Object", v[name].clone())),
            Some(Value::Array(a)) if a.iter().all(Value::is_object) => {
                R::L(a.iter().map(|x| Node::Json("Object", x.clone())).collect())
            }
            Some(x) => R::S(x.clone()),
            None => R::S(Value::Null),
        }),
    }
}

impl Node {
    fn clone_node(&self) -> Node {
        self.clone()
    }
}

// -- mutations --------------------------------------------------------------------

/// Who a token commits as through the API: its owner (CHANGELOG); for
/// `GITHUB_TOKEN` that is `github-actions[bot]` with its noreply address.
fn author_of(g: &TokenGrants) -> Person {
    if g.user_login == "github-actions[bot]" {
        return Person::new(
            "github-actions[bot]",
            "41898282+github-actions[bot]@users.noreply.github.com",
        );
    }
    Person::of_login(&g.user_login)
}

fn mutate(
    st: &mut State,
    g: &TokenGrants,
    name: &str,
    args: &Map<String, Value>,
) -> Result<R, FieldError> {
    let input = args.get("input").cloned().unwrap_or(Value::Null);
    let ty = match name {
        "createCommitOnBranch" => "CreateCommitOnBranchInput",
        "updateRefs" => "UpdateRefsInput",
        "createPullRequest" => "CreatePullRequestInput",
        "mergePullRequest" => "MergePullRequestInput",
        "addLabelsToLabelable" => "AddLabelsToLabelableInput",
        "requestReviews" => "RequestReviewsInput",
        "enablePullRequestAutoMerge" => "EnablePullRequestAutoMergeInput",
        "disablePullRequestAutoMerge" => "DisablePullRequestAutoMergeInput",
        // Not silently null: a mutation this executor does not run is the
        // stand-in's gap, said as such.
        other => {
            return Err(ferr(
                "INTERNAL",
                format!(
                    "stand-in: the mutation `{other}` is not answered in a document with these mutations"
                ),
            ));
        }
    };
    let mut problems = Vec::new();
    schema::check_input(ty, &input, &mut vec![], &mut problems);
    if let Some(p) = problems.first() {
        // graphql-ruby's answer to an input that breaks the schema (the quoted
        // form is from avitorio/outstatic#17).
        let (field, why) = p.split_once(' ').unwrap_or((p, ""));
        return Err(ferr(
            "INVALID",
            format!("Variable $input of type {ty}! was provided invalid value for {field} {why}"),
        ));
    }
    let r = match name {
        "createCommitOnBranch" | "updateRefs" => {
            if !g.contents_write {
                return Err(ferr("FORBIDDEN", "Resource not accessible by integration"));
            }
            if name == "createCommitOnBranch" {
                create_commit_on_branch(st, g, &input)
            } else {
                update_refs(st, g, &input)
            }
        }
        "createPullRequest" => create_pull_request(st, g, &input),
        "mergePullRequest" => merge_pull_request(st, g, &input),
        "addLabelsToLabelable" => add_labels(st, g, &input),
        "requestReviews" => request_reviews(st, g, &input),
        _ => auto_merge(st, g, name, &input),
    };
    if r.is_ok() {
        let _ = api::settle(st);
    }
    r
}

fn refusal(r: api::Refused) -> FieldError {
    ferr(r.kind, r.message)
}

fn no_node(id: &str) -> FieldError {
    ferr(
        "NOT_FOUND",
        format!("Could not resolve to a node with the global id of '{id}'"),
    )
}

/// The PR a node id names, if the token can see its repository.
fn pull_of(st: &State, g: &TokenGrants, id: &str) -> Result<(String, u64), FieldError> {
    api::find_node(st, id)
        .filter(|(f, _)| g.sees(f))
        .ok_or_else(|| no_node(id))
}

fn pull_payload(ty: &'static str, input: &Value, g: &TokenGrants, full: String, n: u64) -> R {
    R::N(Node::Payload(
        ty,
        vec![
            ("clientMutationId", R::S(input["clientMutationId"].clone())),
            ("actor", R::N(Node::User(g.user_login.clone()))),
            ("pullRequest", R::N(Node::Pull(full, n))),
        ],
    ))
}

/// `createPullRequest`: the rules of REST's `POST /pulls` ([`api::open_pull`]).
fn create_pull_request(st: &mut State, g: &TokenGrants, input: &Value) -> Result<R, FieldError> {
    let id = input["repositoryId"].as_str().unwrap_or_default();
    let find = |id: &str| {
        st.repos
            .keys()
            .find(|f| repo_id(st, f).as_deref() == Some(id) && g.sees(f))
            .cloned()
    };
    let full = find(id).ok_or_else(|| no_node(id))?;
    let mut head = input["headRefName"].as_str().map(String::from);
    // SCHEMA: a head in another repository of the network is `owner:branch`; the
    // stand-in has no forks, so that head is refused as REST refuses it.
    if let Some(h) = input["headRepositoryId"].as_str()
        && h != id
    {
        let other = find(h).ok_or_else(|| no_node(h))?;
        let owner = other.split('/').next().unwrap_or_default().to_string();
        head = head.map(|b| format!("{owner}:{b}"));
    }
    let np = api::NewPull {
        title: input["title"].as_str().map(String::from),
        head,
        base: input["baseRefName"].as_str().map(String::from),
        body: input["body"].as_str().map(String::from),
        draft: input["draft"].as_bool().unwrap_or(false),
        // SCHEMA: `maintainerCanModify: Boolean = true` (REST's default is false).
        maintainer_can_modify: input["maintainerCanModify"].as_bool().unwrap_or(true),
    };
    let n = api::open_pull(st, g, &full, np).map_err(refusal)?;
    Ok(R::N(Node::Payload(
        "CreatePullRequestPayload",
        vec![
            ("clientMutationId", R::S(input["clientMutationId"].clone())),
            ("pullRequest", R::N(Node::Pull(full, n))),
        ],
    )))
}

/// `mergePullRequest`: the rules of REST's `PUT …/merge` ([`api::merge_pull`]).
fn merge_pull_request(st: &mut State, g: &TokenGrants, input: &Value) -> Result<R, FieldError> {
    let id = input["pullRequestId"].as_str().unwrap_or_default();
    let method = input["mergeMethod"].as_str().unwrap_or("MERGE");
    if !["MERGE", "SQUASH", "REBASE"].contains(&method) {
        // graphql-ruby's coercion error for an enum value the schema lacks.
        return Err(ferr(
            "INVALID",
            format!(
                "Variable $input of type MergePullRequestInput! was provided invalid value for mergeMethod (Expected \"{method}\" to be one of: MERGE, SQUASH, REBASE)"
            ),
        ));
    }
    let (full, n) = pull_of(st, g, id)?;
    let text = |k: &str| input[k].as_str().map(String::from);
    api::merge_pull(
        st,
        g,
        &full,
        n,
        &method.to_lowercase(),
        input["expectedHeadOid"].as_str(),
        text("commitHeadline"),
        text("commitBody"),
    )
    .map_err(refusal)?;
    Ok(pull_payload("MergePullRequestPayload", input, g, full, n))
}

/// `addLabelsToLabelable`: labels by id, each of which must exist (REST's `POST
/// …/labels` makes a missing one; this mutation cannot, it has no names).
fn add_labels(st: &mut State, g: &TokenGrants, input: &Value) -> Result<R, FieldError> {
    let id = input["labelableId"].as_str().unwrap_or_default();
    let (full, n) = pull_of(st, g, id)?;
    let repo = st
        .repo(&full)
        .map_err(|e| ferr("INTERNAL", e.to_string()))?;
    let mut names = Vec::new();
    for l in input["labelIds"].as_array().into_iter().flatten() {
        let lid = l.as_str().unwrap_or_default();
        let name = repo
            .labels
            .iter()
            .find(|(_, i)| label_id(**i) == lid)
            .map(|(n, _)| n.clone())
            .ok_or_else(|| no_node(lid))?;
        names.push(name);
    }
    api::label_pull(st, g, &full, n, names, false, false).map_err(refusal)?;
    Ok(R::N(Node::Payload(
        "AddLabelsToLabelablePayload",
        vec![
            ("clientMutationId", R::S(input["clientMutationId"].clone())),
            ("labelable", R::N(Node::Pull(full, n))),
        ],
    )))
}

/// `enablePullRequestAutoMerge` / `disablePullRequestAutoMerge`
/// ([`api::auto_merge`]).
fn auto_merge(st: &mut State, g: &TokenGrants, name: &str, input: &Value) -> Result<R, FieldError> {
    let id = input["pullRequestId"].as_str().unwrap_or_default();
    let text = |k: &str| input[k].as_str().map(String::from);
    let enable = (name == "enablePullRequestAutoMerge").then(|| api::AutoMergeAsk {
        method: input["mergeMethod"]
            .as_str()
            .unwrap_or("MERGE")
            .to_lowercase(),
        expected: text("expectedHeadOid"),
        commit_title: text("commitHeadline"),
        commit_message: text("commitBody"),
    });
    let ty = if enable.is_some() {
        "EnablePullRequestAutoMergePayload"
    } else {
        "DisablePullRequestAutoMergePayload"
    };
    let (full, n) = api::auto_merge(st, g, id, enable).map_err(|(k, m)| ferr(k, m))?;
    Ok(pull_payload(ty, input, g, full, n))
}

/// `requestReviews`: users and teams by id, the rules of REST's
/// `POST …/requested_reviewers` ([`api::ask_reviews`]).
fn request_reviews(st: &mut State, g: &TokenGrants, input: &Value) -> Result<R, FieldError> {
    let id = input["pullRequestId"].as_str().unwrap_or_default();
    let (full, n) = pull_of(st, g, id)?;
    let logins = known_logins(st);
    let mut users = Vec::new();
    for u in input["userIds"].as_array().into_iter().flatten() {
        let uid = u.as_str().unwrap_or_default();
        let login = logins
            .iter()
            .find(|l| user_id(l) == uid)
            .cloned()
            .ok_or_else(|| no_node(uid))?;
        users.push(login);
    }
    let mut teams = Vec::new();
    for t in input["teamIds"].as_array().into_iter().flatten() {
        let tid = t.as_str().unwrap_or_default();
        // A token that cannot read the organization's teams (every `GITHUB_TOKEN`)
        // cannot resolve a team's node, as REST's refusal says.
        let team = st
            .teams
            .keys()
            .find(|k| g.members_read && format!("T_{}", api::stable_id(k)) == tid)
            .cloned()
            .ok_or_else(|| no_node(tid))?;
        teams.push(team);
    }
    let union = input["union"].as_bool().unwrap_or(false);
    api::ask_reviews(st, g, &full, n, users, teams, union).map_err(refusal)?;
    let mut p = pull_payload("RequestReviewsPayload", input, g, full, n);
    if let R::N(Node::Payload(_, f)) = &mut p {
        f.push(("requestedReviewersEdge", R::S(Value::Null)));
    }
    Ok(p)
}

fn create_commit_on_branch(
    st: &mut State,
    g: &TokenGrants,
    input: &Value,
) -> Result<R, FieldError> {
    let internal = |e: anyhow::Error| ferr("INTERNAL", e.to_string());
    let b = &input["branch"];
    // CommittableBranch: `id`, or `repositoryNameWithOwner` with `branchName`
    // (the `refs/heads/` prefix optional) — SCHEMA.
    let (full, branch) = if let Some(id) = b["id"].as_str() {
        parse_ref_id(id).ok_or_else(|| {
            ferr(
                "NOT_FOUND",
                format!("Could not resolve to a node with the global id of '{id}'"),
            )
        })?
    } else {
        match (
            b["repositoryNameWithOwner"].as_str(),
            b["branchName"].as_str(),
        ) {
            (Some(r), Some(n)) => (
                r.to_string(),
                n.strip_prefix("refs/heads/").unwrap_or(n).to_string(),
            ),
            _ => {
                return Err(ferr(
                    "INVALID",
                    "Either branch id or both repositoryNameWithOwner and branchName must be provided",
                ));
            }
        }
    };
    let repo = match st.repo(&full) {
        Ok(r) if g.sees(&full) => r,
        _ => {
            return Err(ferr(
                "NOT_FOUND",
                format!("Could not resolve to a Repository with the name '{full}'."),
            ));
        }
    };
    // NOT PINNED: the answer for a branch that doesn't exist.
    let Some(head) = repo.git.branch(&branch) else {
        return Err(ferr(
            "NOT_FOUND",
            format!("A ref named \"refs/heads/{branch}\" does not exist"),
        ));
    };
    let expected = input["expectedHeadOid"].as_str().unwrap_or_default();
    if head != expected {
        // STALE: the text GitHub sends, two spaces before "Pull" included.
        return Err(ferr(
            "STALE_DATA",
            format!(
                "Expected branch to point to \"{expected}\" but it did not.  Pull and try again."
            ),
        ));
    }
    if let Some(p) = repo.protection.get(&branch)
        && p.blocks_pushes()
    {
        // NOT PINNED: modelled on the git push refusal (GH006) for the same rule.
        return Err(ferr(
            "UNPROCESSABLE",
            format!(
                "Protected branch update failed for refs/heads/{branch}: changes must be made through a pull request"
            ),
        ));
    }
    let changes = &input["fileChanges"];
    let mut files: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    for a in changes["additions"].as_array().into_iter().flatten() {
        let path = a["path"].as_str().unwrap_or_default().to_string();
        let contents = a["contents"].as_str().unwrap_or_default();
        // FileChanges: contents are RFC 4648 base64 with padding — SCHEMA.
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(contents)
            .map_err(|_| ferr("INVALID", format!("Invalid base64 contents for `{path}`")))?;
        files.push((path, Some(bytes)));
    }
    for d in changes["deletions"].as_array().into_iter().flatten() {
        let path = d["path"].as_str().unwrap_or_default().to_string();
        if repo.git.entry(&head, &path).is_none() {
            return Err(ferr(
                "UNPROCESSABLE",
                format!(
                    "A path was requested for deletion which does not exist as of commit oid `{head}`"
                ),
            ));
        }
        files.push((path, None));
    }
    for (i, (p, _)) in files.iter().enumerate() {
        if p.is_empty()
            || p.starts_with('/')
            || p.contains("//")
            || p.split('/').any(|c| c == "." || c == "..")
        {
            return Err(ferr("INVALID", format!("Invalid path `{p}`")));
        }
        if files[..i].iter().any(|(q, _)| q == p) {
            return Err(ferr(
                "INVALID",
                format!("A path was given more than once: `{p}`"),
            ));
        }
        if p.starts_with(".github/workflows/") && !g.workflows {
            return Err(ferr(
                "FORBIDDEN",
                format!(
                    "refusing to allow a GitHub App to create or update workflow `{p}` without `workflows` permission"
                ),
            ));
        }
    }
    let msg = &input["message"];
    let mut message = msg["headline"].as_str().unwrap_or_default().to_string();
    if let Some(body) = msg["body"].as_str().filter(|b| !b.is_empty()) {
        message.push_str("\n\n");
        message.push_str(body);
    }
    let refs: Vec<(&str, Option<&[u8]>)> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_deref()))
        .collect();
    let tree = repo.git.tree_with(&head, &refs).map_err(internal)?;
    let commit = repo
        .git
        .commit_signed(&tree, &[&head], &message, &author_of(g), &Person::github())
        .map_err(internal)?;
    if !repo
        .git
        .cas_branch(&branch, &commit, Some(&head))
        .map_err(internal)?
    {
        return Err(ferr(
            "STALE_DATA",
            format!(
                "Expected branch to point to \"{expected}\" but it did not.  Pull and try again."
            ),
        ));
    }
    Ok(R::N(Node::Payload(
        "CreateCommitOnBranchPayload",
        vec![
            ("clientMutationId", R::S(input["clientMutationId"].clone())),
            ("commit", R::N(Node::Commit(full.clone(), commit))),
            ("ref", R::N(Node::Ref(full, branch))),
        ],
    )))
}

fn update_refs(st: &mut State, g: &TokenGrants, input: &Value) -> Result<R, FieldError> {
    let internal = |e: anyhow::Error| ferr("INTERNAL", e.to_string());
    let id = input["repositoryId"].as_str().unwrap_or_default();
    let Some(full) = st
        .repos
        .keys()
        .find(|f| repo_id(st, f).as_deref() == Some(id) && g.sees(f))
        .cloned()
    else {
        return Err(ferr(
            "NOT_FOUND",
            format!("Could not resolve to a node with the global id of '{id}'"),
        ));
    };
    let repo = st.repo(&full).map_err(internal)?;
    let updates = input["refUpdates"].as_array().cloned().unwrap_or_default();
    let mut plan = Vec::new();
    // Check every update first: all or nothing (SCHEMA: "performed atomically").
    for u in &updates {
        let name = u["name"].as_str().unwrap_or_default();
        let Some(branch) = name.strip_prefix("refs/heads/").filter(|b| !b.is_empty()) else {
            return Err(ferr(
                "UNPROCESSABLE",
                format!(
                    "Invalid ref name `{name}`: only fully qualified branch names (refs/heads/…) are supported"
                ),
            ));
        };
        let after = u["afterOid"].as_str().unwrap_or_default().to_string();
        let current = repo.git.branch(branch);
        // NOT PINNED: the wording of a refusal; the rule itself is SCHEMA's.
        if let Some(before) = u["beforeOid"].as_str() {
            let now = current.clone().unwrap_or_else(|| ZERO.to_string());
            if now != before {
                return Err(ferr(
                    "STALE_DATA",
                    format!("Ref {name} was expected to point to {before} but points to {now}"),
                ));
            }
        }
        if after != ZERO && repo.git.resolve(&after).as_deref() != Some(after.as_str()) {
            return Err(ferr(
                "UNPROCESSABLE",
                format!("Object does not exist: {after}"),
            ));
        }
        let force = u["force"].as_bool().unwrap_or(false);
        if let Some(c) = &current
            && after != ZERO
            && !force
            && !repo.git.is_ancestor(c, &after)
        {
            return Err(ferr(
                "UNPROCESSABLE",
                format!("Update to {name} is not a fast forward"),
            ));
        }
        if let Some(p) = repo.protection.get(branch) {
            let refused = if after == ZERO {
                Some("Cannot delete this branch")
            } else if p.blocks_pushes() {
                Some("Changes must be made through a pull request.")
            } else if current
                .as_ref()
                .is_some_and(|c| !repo.git.is_ancestor(c, &after))
            {
                Some("Cannot force-push to this branch")
            } else {
                None
            };
            if let Some(why) = refused {
                return Err(ferr(
                    "UNPROCESSABLE",
                    format!("Protected branch update failed for {name}. {why}"),
                ));
            }
        }
        if after != ZERO && repo.signed_required(branch) {
            let new = repo
                .git
                .rev_list(&[&after, "--not", "--all"])
                .map_err(internal)?;
            let unsigned: Vec<String> = new
                .into_iter()
                .filter(|c| !repo.git.is_web_signed(c))
                .collect();
            if !unsigned.is_empty() {
                return Err(ferr(
                    "UNPROCESSABLE",
                    format!(
                        "Repository rule violations found\n\nCommits must have verified signatures.\n\n{}",
                        unsigned.join("\n")
                    ),
                ));
            }
        }
        if after != ZERO && !g.workflows {
            let new = repo
                .git
                .rev_list(&[&after, "--not", "--all"])
                .map_err(internal)?;
            for c in new {
                let touched = repo
                    .git
                    .run(&[
                        "diff-tree",
                        "-r",
                        "--no-commit-id",
                        "--name-only",
                        "--root",
                        &c,
                    ])
                    .unwrap_or_default();
                if let Some(f) = touched
                    .lines()
                    .find(|l| l.starts_with(".github/workflows/"))
                {
                    return Err(ferr(
                        "FORBIDDEN",
                        format!(
                            "refusing to allow a GitHub App to create or update workflow `{f}` without `workflows` permission"
                        ),
                    ));
                }
            }
        }
        plan.push((branch.to_string(), after, current));
    }
    for (branch, after, current) in &plan {
        let ok = if after == ZERO {
            repo.git.delete_branch(branch).map_err(internal)?
        } else {
            repo.git
                .cas_branch(branch, after, current.as_deref())
                .map_err(internal)?
        };
        if !ok {
            return Err(ferr(
                "STALE_DATA",
                format!("refs/heads/{branch} moved during the update"),
            ));
        }
    }
    Ok(R::N(Node::Payload(
        "UpdateRefsPayload",
        vec![("clientMutationId", R::S(input["clientMutationId"].clone()))],
    )))
}
