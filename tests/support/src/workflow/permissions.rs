//! A job's `permissions:` as the grants of its `GITHUB_TOKEN`.
//!
//! The stand-in refuses what a permission doesn't cover with GitHub's 403
//! "Resource not accessible by integration" (see `github/api.rs`, `need(...)`). The
//! endpoint → permission rows it enforces, from GitHub's published table
//! (github/docs `src/github-apps/data/fpt-2022-11-28/server-to-server-permissions.json`,
//! which drives the docs page "Permissions required for GitHub Apps"; octokit/app-permissions
//! `generated/api.github.com.json` where marked):
//!
//! | endpoint | permission |
//! |---|---|
//! | `POST /repos/{o}/{r}/pulls`, `PATCH …/pulls/{n}` | `pull-requests: write` |
//! | `POST/DELETE …/pulls/{n}/requested_reviewers`, `POST …/pulls/{n}/reviews` | `pull-requests: write` |
//! | `PUT …/pulls/{n}/merge` | `contents: write` (merge-a-pull-request is in the contents section) |
//! | `POST/PUT …/issues/{n}/labels` on a pull request | `pull-requests: write` (`issues: write` alone is refused on a PR: permissions.md, Labels) |
//! | `POST …/issues/{n}/comments` | `issues: write` or `pull-requests: write` |
//! | `DELETE …/git/refs/heads/{b}`, git push | `contents: write` |
//! | `POST …/deployments`, `POST …/deployments/{id}/statuses` | `deployments: write` |
//! | `POST …/statuses/{sha}` | `statuses: write` |
//! | `POST …/actions/workflows/{id}/dispatches` | `actions: write` (octokit/app-permissions) |
//! | `GET /orgs/{org}/teams/{slug}/memberships/{u}` | organization `members: read`, which `GITHUB_TOKEN` never has (actions/github-script#572, maintainer) |
//! | GraphQL `enablePullRequestAutoMerge` | `pull-requests: write` + `contents: write` (inferred; GitHub publishes no per-mutation table) |
//!
//! Reads: `contents: read` is enforced on private repositories (git fetch
//! "Repository not found.", REST 404 on contents, commits, compare, trees, refs and
//! branches; `TokenGrants::contents_read`). The other reads (`pull-requests: read`,
//! `deployments: read`, `actions: read`, GraphQL reads) are not: every token the
//! stand-in knows may make them.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde_json::Value;

use crate::github::TokenGrants;

/// `permissions:` keys GitHub accepts (docs "Workflow syntax",
/// `jobs.<job_id>.permissions`), with `none`/`read`/`write`.
pub const KEYS: &[&str] = &[
    "actions",
    "attestations",
    "checks",
    "contents",
    "deployments",
    "discussions",
    "id-token",
    "issues",
    "models",
    "packages",
    "pages",
    "pull-requests",
    "repository-projects",
    "security-events",
    "statuses",
];

/// Access per key: 0 none, 1 read, 2 write.
pub type Perms = BTreeMap<String, u8>;

/// Parse a `permissions:` value (`{}`, a map, `read-all`, `write-all`).
pub fn parse(v: &Value) -> Result<Perms> {
    let all = |level: u8| KEYS.iter().map(|k| (k.to_string(), level)).collect();
    match v {
        Value::String(s) if s == "read-all" => Ok(all(1)),
        Value::String(s) if s == "write-all" => Ok(all(2)),
        Value::Object(m) => {
            let mut p: Perms = all(0);
            for (k, level) in m {
                if !KEYS.contains(&k.as_str()) {
                    bail!("unknown permission `{k}` (docs \"Workflow syntax\", permissions)");
                }
                let l = match level.as_str() {
                    Some("none") => 0,
                    Some("read") => 1,
                    Some("write") => 2,
                    _ => bail!("permission `{k}: {level}` is not none, read or write"),
                };
                p.insert(k.clone(), l);
            }
            Ok(p)
        }
        other => bail!("`permissions: {other}` is not a map, read-all or write-all"),
    }
}

/// GitHub's default for a repository created today: "restricted" — `contents: read`
/// and `packages: read` (docs "Controlling permissions for GITHUB_TOKEN", default
/// access table).
pub fn default_restricted() -> Perms {
    let mut p: Perms = KEYS.iter().map(|k| (k.to_string(), 0)).collect();
    p.insert("contents".into(), 1);
    p.insert("packages".into(), 1);
    p
}

/// A called workflow's job gets at most what the calling job has: "The GITHUB_TOKEN
/// permissions passed from the caller workflow can be only downgraded … by the called
/// workflow" (github/docs reusable-workflows.md, "Access and permissions").
pub fn intersect(a: &Perms, b: &Perms) -> Perms {
    KEYS.iter()
        .map(|k| {
            let x = a.get(*k).copied().unwrap_or(0);
            let y = b.get(*k).copied().unwrap_or(0);
            (k.to_string(), x.min(y))
        })
        .collect()
}

/// The stand-in's grants for a job token with these permissions. Organization
/// permissions (`members`) and `workflows` are never available to `GITHUB_TOKEN`
/// (docs/github-facts/permissions.md: actions/github-script#572; peter-evans/create-pull-request#1713).
pub fn grants(p: &Perms) -> TokenGrants {
    let w = |k: &str| p.get(k).copied().unwrap_or(0) >= 2;
    let r = |k: &str| p.get(k).copied().unwrap_or(0) >= 1;
    TokenGrants {
        contents_read: r("contents"),
        contents_write: w("contents"),
        pull_requests_read: r("pull-requests"),
        pull_requests_write: w("pull-requests"),
        issues_read: r("issues"),
        issues_write: w("issues"),
        workflows: false,
        packages_write: w("packages"),
        actions_read: r("actions"),
        actions_write: w("actions"),
        deployments_read: r("deployments"),
        deployments_write: w("deployments"),
        statuses_write: w("statuses"),
        members_read: false,
        ..TokenGrants::read_only()
    }
}

/// `contents: write, pull-requests: write` — the non-none keys, for reports.
pub fn describe(p: &Perms) -> String {
    let parts: Vec<String> = p
        .iter()
        .filter(|(_, l)| **l > 0)
        .map(|(k, l)| format!("{k}: {}", if *l >= 2 { "write" } else { "read" }))
        .collect();
    if parts.is_empty() {
        "{}".into()
    } else {
        parts.join(", ")
    }
}
