//! `actions/create-github-app-token` as a step: an App's installation token for
//! some of an owner's repositories, with the permissions asked for.
//!
//! What it does, from its `action.yml` and `lib/main.js` (actions/create-github-app-token,
//! v2): inputs `app-id`, `private-key`, `owner`, `repositories` (comma or newline
//! separated names), `skip-token-revoke` and one `permission-<name>` per App
//! permission (`read` or `write`); outputs `token`, `installation-id`, `app-slug`.
//! Neither `owner` nor `repositories`: the current repository; `owner` only: every
//! repository of the installation; `repositories` only: under
//! `GITHUB_REPOSITORY_OWNER`. The token is registered as a secret (`core.setSecret`),
//! so the runner masks it in every later log line, and its post step revokes it
//! when the job ends unless `skip-token-revoke` is true.
//!
//! GitHub's side (docs "REST API endpoints for GitHub Apps", "Create an installation
//! access token for an app"): "If permissions is not specified, the installation
//! access token will have all of the permissions that were granted to the app. The
//! installation access token cannot be granted permissions that the app was not
//! granted", nor repositories the installation does not cover. The refusals as the
//! action prints them: `The permissions requested are not granted to this
//! installation.` (a public run quoted in Rust-Commercial-Network/rcn#58) and, for a
//! repository outside the installation, `Not Found` from `GET
//! /repos/{owner}/{repo}/installation`. An installation token's writes are made as
//! `<slug>[bot]` and start workflows (docs "Triggering a workflow from a workflow").

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Result, bail};

use super::{Annotation, Perms, RunCtx, Runner, StepRecord, hex16};
use crate::github::TokenGrants;

/// The inputs the emulation knows (the action's own, but `github-api-url`).
const INPUTS: &[&str] = &[
    "app-id",
    "private-key",
    "owner",
    "repositories",
    "skip-token-revoke",
];

/// `permission-<name>` inputs the stand-in enforces a permission for.
const PERMISSIONS: &[&str] = &[
    "actions",
    "contents",
    "deployments",
    "issues",
    "members",
    "packages",
    "pull-requests",
    "statuses",
    "workflows",
];

/// The installation token's grants for `perms` (App permission names).
pub fn app_grants(slug: &str, perms: &Perms, repos: Vec<String>) -> TokenGrants {
    let at = |k: &str| perms.get(k).copied().unwrap_or(0);
    TokenGrants {
        contents_read: at("contents") >= 1,
        contents_write: at("contents") >= 2,
        pull_requests_read: at("pull-requests") >= 1,
        pull_requests_write: at("pull-requests") >= 2,
        issues_read: at("issues") >= 1,
        issues_write: at("issues") >= 2,
        workflows: at("workflows") >= 2,
        packages_write: at("packages") >= 2,
        actions_read: at("actions") >= 1,
        actions_write: at("actions") >= 2,
        deployments_read: at("deployments") >= 1,
        deployments_write: at("deployments") >= 2,
        statuses_write: at("statuses") >= 2,
        members_read: at("members") >= 1,
        user_login: format!("{slug}[bot]"),
        repositories: Some(repos),
        actions: false,
    }
}

/// What the step did: its record, and the token to revoke when the job ends.
pub(super) struct Minted {
    pub record: StepRecord,
    pub token: Option<String>,
    pub revoke: bool,
}

impl Runner<'_> {
    pub(super) fn create_app_token(
        &mut self,
        ctx: &RunCtx,
        with: &BTreeMap<String, String>,
        id: Option<String>,
        uses: &str,
    ) -> Result<Minted> {
        let started = Instant::now();
        let mut asked: Perms = BTreeMap::new();
        for (k, v) in with {
            if let Some(p) = k.strip_prefix("permission-") {
                if !PERMISSIONS.contains(&p) {
                    bail!(
                        "{}: {uses}: input `{k}` is outside what the workflow runner emulates",
                        ctx.file
                    );
                }
                let level = match v.as_str() {
                    "read" => 1,
                    "write" => 2,
                    _ => bail!("{}: {uses}: `{k}: {v}` is not read or write", ctx.file),
                };
                asked.insert(p.to_string(), level);
            } else if !INPUTS.contains(&k.as_str()) {
                bail!(
                    "{}: {uses}: input `{k}` is outside what the workflow runner emulates",
                    ctx.file
                );
            }
        }
        let get = |k: &str| with.get(k).map(|v| v.trim()).unwrap_or_default();
        let (here_owner, here_name) = self.repo.split_once('/').unwrap_or_default();
        let names = |s: &str| -> Vec<String> {
            s.split([',', '\n'])
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(String::from)
                .collect()
        };
        let (owner, repos) = match (get("owner"), get("repositories")) {
            ("", "") => (here_owner.to_string(), vec![here_name.to_string()]),
            (o, "") => (o.to_string(), Vec::new()),
            ("", r) => (here_owner.to_string(), names(r)),
            (o, r) => (o.to_string(), names(r)),
        };
        let fail = |message: String| -> Result<Minted> {
            Ok(Minted {
                record: StepRecord {
                    id: id.clone(),
                    uses: uses.to_string(),
                    outcome: "failure".into(),
                    exit_code: Some(1),
                    annotations: vec![Annotation {
                        level: "error".into(),
                        message: message.clone(),
                    }],
                    summary: String::new(),
                    outputs: BTreeMap::new(),
                    stdout: format!("::error::{message}\n"),
                    stderr: String::new(),
                    elapsed: started.elapsed(),
                    env: BTreeMap::new(),
                },
                token: None,
                revoke: false,
            })
        };
        // The JWT: an App this server knows, signed with its key; GitHub answers
        // 401 "A JSON web token could not be decoded" to anything else (docs
        // "Generating a JSON Web Token (JWT) for a GitHub App").
        let Some(app) = self
            .apps
            .iter()
            .find(|a| a.id == get("app-id") && a.private_key.trim() == get("private-key"))
            .cloned()
        else {
            return fail("A JSON web token could not be decoded".into());
        };
        if !app.owner.eq_ignore_ascii_case(&owner) {
            return fail("Not Found".into());
        }
        let repos = if repos.is_empty() {
            app.repositories.clone()
        } else {
            repos
        };
        if let Some(first) = repos.first()
            && !app
                .repositories
                .iter()
                .any(|r| r.eq_ignore_ascii_case(first))
        {
            // GET /repos/{owner}/{first}/installation
            return fail("Not Found".into());
        }
        if repos
            .iter()
            .any(|r| !app.repositories.iter().any(|a| a.eq_ignore_ascii_case(r)))
        {
            return fail(
                "There is at least one repository that does not exist or is not accessible to the parent installation."
                    .into(),
            );
        }
        let perms = if asked.is_empty() {
            app.permissions.clone()
        } else {
            asked
        };
        if perms
            .iter()
            .any(|(k, l)| *l > app.permissions.get(k).copied().unwrap_or(0))
        {
            return fail("The permissions requested are not granted to this installation.".into());
        }
        self.next_token += 1;
        let token = format!(
            "ghs_{:04}{}",
            self.next_token,
            hex16(ctx.run_id.wrapping_mul(104_729) ^ (self.next_token << 20))
        );
        let full: Vec<String> = repos.iter().map(|r| format!("{owner}/{r}")).collect();
        self.gh
            .add_token(&token, app_grants(&app.slug, &perms, full.clone()));
        let outputs = BTreeMap::from([
            ("token".to_string(), token.clone()),
            (
                "installation-id".to_string(),
                app.installation_id.to_string(),
            ),
            ("app-slug".to_string(), app.slug.clone()),
        ]);
        Ok(Minted {
            record: StepRecord {
                id,
                uses: uses.to_string(),
                outcome: "success".into(),
                exit_code: Some(0),
                annotations: Vec::new(),
                summary: String::new(),
                outputs,
                stdout: format!(
                    "Creating token for the following repositories:\n{}\n",
                    full.iter()
                        .map(|r| format!("- {r}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
                stderr: String::new(),
                elapsed: started.elapsed(),
                env: BTreeMap::new(),
            },
            token: Some(token),
            revoke: !get("skip-token-revoke").eq_ignore_ascii_case("true"),
        })
    }
}
