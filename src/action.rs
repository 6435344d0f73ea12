//! GitHub Actions I/O: the event's facts, outputs through `$GITHUB_OUTPUT`, the
//! step summary and error annotations. `INPUT_*` are read in `inputs/raw.rs`; the
//! workflow commands we print (notices, warnings, groups) and the filter for the
//! rest are in `output.rs`; secrets in `secrets.rs`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

use crate::error::{Diagnostic, UserError};
use crate::inputs::Inputs;
use crate::output::{escape_message, escape_property};
use crate::secrets::redact;

/// `::error file=…,line=…,col=…,title=…::message` for each diagnostic.
pub fn error_annotation(d: &Diagnostic, title: &str) -> String {
    let mut props = Vec::new();
    if let Some(loc) = &d.location {
        props.push(format!(
            "file={}",
            escape_property(&loc.file.display().to_string())
        ));
        props.push(format!("line={}", loc.line));
        props.push(format!("col={}", loc.column));
    }
    props.push(format!("title={}", escape_property(title)));
    format!(
        "::error {}::{}",
        props.join(","),
        escape_message(&redact(&d.message))
    )
}

/// What a command hands back: outputs (for `$GITHUB_OUTPUT` and `--format json`)
/// and a markdown summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outputs {
    pub values: BTreeMap<String, String>,
    pub summary: String,
}

impl Outputs {
    pub fn set(&mut self, key: &str, value: impl ToString) {
        self.values.insert(key.to_string(), value.to_string());
    }

    /// `GITHUB_OUTPUT` or `GITHUB_STEP_SUMMARY` that can't be appended
    /// to (a directory, a missing folder) is found before anything is written, and
    /// named, instead of failing after the overlay changed.
    pub fn check_targets() -> anyhow::Result<()> {
        for var in ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"] {
            let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else {
                continue;
            };
            let path = PathBuf::from(path);
            let bad = if path.is_dir() {
                Some("is a directory".to_string())
            } else {
                match path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    Some(dir) if !dir.is_dir() => {
                        Some(format!("is in `{}`, which is not a folder", dir.display()))
                    }
                    _ => None,
                }
            };
            if let Some(why) = bad {
                return Err(crate::error::Failure::new(format!(
                    "`{var}` (`{}`) {why}, so the step's results cannot be written",
                    path.display()
                ))
                .hint(format!("the runner sets `{var}` to a file it created; unset it outside Actions, or point it at a file"))
                .into());
            }
        }
        Ok(())
    }

    /// Write the outputs and the summary where the runner asks for them.
    pub fn publish(&self) -> anyhow::Result<()> {
        append_file_command(
            "GITHUB_OUTPUT",
            "the outputs",
            &format_outputs(&self.values),
        )?;
        if !self.summary.is_empty() {
            let mut summary = redact(&self.summary);
            if !summary.ends_with('\n') {
                summary.push('\n');
            }
            append_file_command("GITHUB_STEP_SUMMARY", "the summary", &summary)?;
        }
        Ok(())
    }
}

/// Append `text` to the file a runner's file command names (`GITHUB_OUTPUT`,
/// `GITHUB_STEP_SUMMARY`), when the variable is set.
fn append_file_command(var: &str, what: &str, text: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let path = PathBuf::from(path);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("writing {what} to `{var}` (`{}`)", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {what} to `{var}` (`{}`)", path.display()))
}

/// `name<<DELIM\nvalue\nDELIM\n` for each output, with a delimiter that occurs in
/// no value, so multiline values can't end the block early or inject outputs.
pub fn format_outputs(values: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (k, v) in values {
        let v = redact(v);
        let mut delim = String::from("ghadelimiter_");
        let mut n: u64 = rand::random();
        loop {
            let candidate = format!("{delim}{n:016x}");
            if !v.contains(&candidate) {
                delim = candidate;
                break;
            }
            n = n.wrapping_add(1);
        }
        out.push_str(&format!("{k}<<{delim}\n{v}\n{delim}\n"));
    }
    out
}

/// The event that started the workflow, when there is one.
/// The number of the merged pull request this run's event is about (a
/// `pull_request: closed` run), for the record of what deployed it.
pub(crate) fn merged_pr_number() -> Option<u64> {
    let (name, payload) = event_payload().ok().flatten()?;
    let pr = &payload["pull_request"];
    (name.starts_with("pull_request") && pr["merged"].as_bool() == Some(true))
        .then(|| pr["number"].as_u64())
        .flatten()
}

pub fn event_payload() -> anyhow::Result<Option<(String, serde_json::Value)>> {
    let name = std::env::var("GITHUB_EVENT_NAME")
        .ok()
        .filter(|s| !s.is_empty());
    let path = std::env::var_os("GITHUB_EVENT_PATH").filter(|s| !s.is_empty());
    match (name, path) {
        (Some(name), Some(path)) => {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let value = serde_json::from_str(&text).map_err(|e| {
                UserError::new(format!(
                    "the event file `{}` is not JSON: {e}",
                    PathBuf::from(&path).display()
                ))
                .hint("`GITHUB_EVENT_PATH` must point at the event payload the runner wrote")
            })?;
            Ok(Some((name, value)))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::register_secret;
    use crate::secrets::*;

    #[test]
    fn outputs_survive_multiline_values_and_delimiter_lookalikes() {
        let mut values = BTreeMap::new();
        values.insert("a".to_string(), "one\ntwo\nghadelimiter_x".to_string());
        values.insert("b".to_string(), String::new());
        let text = format_outputs(&values);
        let mut lines = text.lines();
        let first = lines.next().unwrap();
        let delim = first.strip_prefix("a<<").unwrap();
        assert_eq!(lines.next(), Some("one"));
        assert_eq!(lines.next(), Some("two"));
        assert_eq!(lines.next(), Some("ghadelimiter_x"));
        assert_eq!(lines.next(), Some(delim));
    }

    #[test]
    fn annotations_escape() {
        let d = Diagnostic {
            location: Some(crate::error::Location::new("a,b:c.yaml", 3, 4)),
            message: "100% bad\nreally".into(),
        };
        assert_eq!(
            error_annotation(&d, "gitops-action"),
            "::error file=a%2Cb%3Ac.yaml,line=3,col=4,title=gitops-action::100%25 bad%0Areally"
        );
    }

    #[test]
    fn scrub_hides_the_clients_credential_and_every_registered_secret() {
        register_secret("ghs_registered_for_scrub_0001");
        let text = "401 for ghp_heldbytheclient with ghs_registered_for_scrub_0001";
        assert_eq!(
            scrub(text, Some("ghp_heldbytheclient")),
            "401 for *** with ***"
        );
        assert_eq!(scrub("nothing held", None), "nothing held");
        assert_eq!(scrub("empty", Some("")), "empty");
    }

    #[test]
    fn secrets_are_redacted() {
        register_secret("ghs_supersecret_token_value");
        assert_eq!(redact("x ghs_supersecret_token_value y"), "x *** y");
    }

    /// The clients' options (the raw inputs: `inputs/raw.rs`).
    #[test]
    fn debug_never_shows_secrets() {
        let o = crate::registry::RegistryOptions {
            password: Some("pw-debugShown".into()),
            ..Default::default()
        };
        assert!(!format!("{o:?}").contains("debugShown"));
        let g = crate::github::GitHubOptions {
            token: Some("ghp_debugShownToken".into()),
            ..crate::github::GitHubOptions::from_env()
        };
        assert!(!format!("{g:?}").contains("debugShown"));
        let mut go = crate::git::GitOptions::from_env();
        go.token = Some("ghp_debugShownToken".into());
        assert!(!format!("{go:?}").contains("debugShown"));
    }
}

/// What the triggering event says about the release, merged under the inputs
/// (an input always wins), so every trigger gives the same result for the same
/// inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFacts {
    pub name: String,
    pub service: Option<String>,
    pub env: Option<String>,
    pub git_ref: Option<String>,
    pub sha: Option<String>,
    pub version: Option<String>,
    /// A merged release PR: its number and merge commit.
    pub merged_pr: Option<(u64, String)>,
    /// A merged PR whose head is another repository (a fork, or a deleted one):
    /// its name, or `(deleted)`. Such a PR never deploys.
    pub fork: Option<String>,
    /// The ref a `push` deleted (`deleted: true`, `after` all zeros). GitHub starts
    /// the push's workflows for it too, with `GITHUB_SHA` the default branch's tip
    /// (docs "Events that trigger workflows", push); there is nothing to release.
    pub deleted: Option<String>,
}

impl EventFacts {
    /// Read the facts from an event payload.
    pub fn from_payload(name: &str, payload: &serde_json::Value) -> EventFacts {
        let s = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let mut f = EventFacts {
            name: name.to_string(),
            ..EventFacts::default()
        };
        match name {
            "push" => {
                f.git_ref = s(&payload["ref"]);
                let raw_after = s(&payload["after"]);
                // All zeros is GitHub's "no commit": the ref was deleted. A payload
                // without `after` at all is no deletion (its sha is GITHUB_SHA's).
                let zeros = raw_after
                    .as_deref()
                    .is_some_and(|a| a.bytes().all(|b| b == b'0'));
                let after = raw_after.filter(|_| !zeros);
                if payload["deleted"] == true || zeros {
                    f.deleted.clone_from(&f.git_ref);
                } else if f
                    .git_ref
                    .as_deref()
                    .is_some_and(|r| r.starts_with("refs/tags/"))
                {
                    // An annotated tag's `after` is the tag object, not a commit; the
                    // commit is `head_commit.id` (GitHub changelog 2021-10-01, "The
                    // push webhook payload provides a consistent head_commit on tag
                    // creation"). Without it the tag is resolved from the repository.
                    f.sha = s(&payload["head_commit"]["id"]);
                } else {
                    f.sha = after;
                }
            }
            "workflow_dispatch" | "workflow_call" => {
                let i = &payload["inputs"];
                f.service = s(&i["service"]);
                f.env = s(&i["env"]).or_else(|| s(&i["overlay"]));
                f.git_ref = s(&i["ref"]).or_else(|| s(&payload["ref"]));
                f.sha = s(&i["sha"]);
                f.version = s(&i["version"]);
            }
            "repository_dispatch" => {
                let p = &payload["client_payload"];
                f.service = s(&p["service"]);
                f.env = s(&p["env"]);
                f.git_ref = s(&p["ref"]);
                f.sha = s(&p["sha"]);
                f.version = s(&p["version"]);
            }
            "pull_request" | "pull_request_target" => {
                let pr = &payload["pull_request"];
                let merged = pr["merged"].as_bool().unwrap_or(false);
                // A fork may name its branch `release/<svc>/<env>` too.
                // Its head repository differs from ours, or is null when the fork
                // was deleted (docs "Events that trigger workflows", pull_request,
                // "Workflows in forked repositories"; github/rest-api-description#161).
                let ours = s(&payload["repository"]["full_name"])
                    .or_else(|| s(&pr["base"]["repo"]["full_name"]));
                let head_repo = s(&pr["head"]["repo"]["full_name"]);
                let foreign = match (&ours, &head_repo) {
                    (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
                    (_, None) => true,
                    (None, Some(_)) => false,
                };
                if merged && foreign {
                    f.fork = Some(head_repo.unwrap_or_else(|| "(deleted)".into()));
                }
                if merged && !foreign {
                    if let Some((service, env)) = s(&pr["head"]["ref"])
                        .as_deref()
                        .and_then(parse_release_branch)
                    {
                        f.service = Some(service);
                        f.env = Some(env);
                    }
                    if let (Some(n), Some(sha)) =
                        (pr["number"].as_u64(), s(&pr["merge_commit_sha"]))
                    {
                        f.merged_pr = Some((n, sha.clone()));
                        f.sha = Some(sha);
                    }
                }
            }
            _ => {}
        }
        f
    }

    /// A push that deleted its branch or tag, for a command that would act on the
    /// pushed commit with none named in the inputs: a notice and the empty outputs
    /// (no environment, nothing changed), so the run ends green having written
    /// nothing.
    pub fn deleted_ref(&self, inputs: &Inputs) -> Option<Outputs> {
        let r = self.deleted.as_ref()?;
        let reads_only = matches!(
            inputs.command.as_deref(),
            Some("status" | "codeowners" | "set-image")
        );
        if reads_only || inputs.sha.is_some() {
            return None;
        }
        let msg =
            format!("the push deleted `{r}`: there is no commit to release, so nothing was done");
        crate::output::notice(&msg);
        println!("{msg}");
        let mut out = Outputs::default();
        out.set("env", "");
        out.set("environments", "");
        out.set("changed", false);
        Some(out)
    }

    /// Fill the inputs the user left unset from the event.
    pub fn fill(&self, inputs: &mut Inputs) {
        fn or(slot: &mut Option<String>, v: &Option<String>) {
            if slot.is_none() {
                slot.clone_from(v);
            }
        }
        or(&mut inputs.service, &self.service);
        or(&mut inputs.env, &self.env);
        or(&mut inputs.git_ref, &self.git_ref);
        or(&mut inputs.sha, &self.sha);
        or(&mut inputs.version, &self.version);
    }
}

/// `release/<service>/<env>` -> (service, env).
pub fn parse_release_branch(branch: &str) -> Option<(String, String)> {
    let rest = branch.strip_prefix("release/")?;
    let (service, env) = rest.split_once('/')?;
    (crate::config::check_name(service).is_ok() && crate::config::check_name(env).is_ok())
        .then(|| (service.to_string(), env.to_string()))
}

#[cfg(test)]
mod event_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merged_release_pr() {
        let p = json!({"repository": {"full_name": "acme/app"}, "pull_request": {"number": 7, "merged": true, "merge_commit_sha": "abc", "head": {"ref": "release/hello/uat", "repo": {"full_name": "acme/app"}}}});
        let f = EventFacts::from_payload("pull_request", &p);
        assert_eq!(f.service.as_deref(), Some("hello"));
        assert_eq!(f.env.as_deref(), Some("uat"));
        assert_eq!(f.merged_pr, Some((7, "abc".into())));
        assert_eq!(f.fork, None);
        // The same branch name from a fork (or a deleted fork) is no release.
        for head in [json!({"full_name": "mallory/app"}), serde_json::Value::Null] {
            let p = json!({"repository": {"full_name": "acme/app"}, "pull_request": {"number": 8, "merged": true, "merge_commit_sha": "abd", "head": {"ref": "release/hello/prod", "repo": head}}});
            let f = EventFacts::from_payload("pull_request", &p);
            assert_eq!((f.service, f.env, f.merged_pr), (None, None, None));
            assert!(f.fork.is_some());
        }
        let p = json!({"pull_request": {"number": 7, "merged": false, "head": {"ref": "release/hello/uat"}}});
        assert_eq!(EventFacts::from_payload("pull_request", &p).env, None);
    }

    #[test]
    fn inputs_win_over_the_event() {
        let p =
            json!({"ref": "refs/heads/main", "after": "0000000000000000000000000000000000000000"});
        let f = EventFacts::from_payload("push", &p);
        assert_eq!(f.sha, None, "a deleted branch has no commit");
        assert_eq!(f.deleted.as_deref(), Some("refs/heads/main"));
        let mut i = Inputs {
            git_ref: Some("refs/heads/dev".into()),
            ..Inputs::default()
        };
        f.fill(&mut i);
        assert_eq!(i.git_ref.as_deref(), Some("refs/heads/dev"));
        // Regression: a payload without `after` deleted nothing (the release was
        // skipped as a deletion); its commit is then GITHUB_SHA's.
        let f = EventFacts::from_payload("push", &json!({"ref": "refs/heads/main"}));
        assert_eq!((f.sha, f.deleted), (None, None));
    }

    /// An annotated tag's push: `after` is the tag object, `head_commit` the commit
    /// (MishaKav/pytest-coverage-comment#227, openSUSE/open-build-service#13500).
    #[test]
    fn an_annotated_tag_releases_its_commit() {
        let p = json!({"ref": "refs/tags/v1.3.0", "after": "7a9e0000000000000000000000000000000000aa",
            "deleted": false, "head_commit": {"id": "c0ffee0000000000000000000000000000000001"}});
        let f = EventFacts::from_payload("push", &p);
        assert_eq!(
            f.sha.as_deref(),
            Some("c0ffee0000000000000000000000000000000001")
        );
        assert_eq!(f.deleted, None);
        // No head_commit: the tag is resolved from the repository, never taken as a commit.
        let p =
            json!({"ref": "refs/tags/v1.3.0", "after": "7a9e0000000000000000000000000000000000aa"});
        assert_eq!(EventFacts::from_payload("push", &p).sha, None);
        let p = json!({"ref": "refs/tags/v1.3.0", "deleted": true,
            "after": "0000000000000000000000000000000000000000", "head_commit": null});
        let f = EventFacts::from_payload("push", &p);
        assert_eq!(
            (f.sha.as_deref(), f.deleted.as_deref()),
            (None, Some("refs/tags/v1.3.0"))
        );
        let release = Inputs {
            command: Some("release".into()),
            ..Inputs::default()
        };
        let out = f.deleted_ref(&release).expect("nothing to release");
        assert_eq!(out.values["env"], "");
        let status = Inputs {
            command: Some("status".into()),
            ..Inputs::default()
        };
        assert_eq!(f.deleted_ref(&status), None);
    }

    #[test]
    fn release_branches() {
        assert_eq!(
            parse_release_branch("release/hello/dev"),
            Some(("hello".into(), "dev".into()))
        );
        assert_eq!(parse_release_branch("release/hello"), None);
        assert_eq!(parse_release_branch("release/Hello/dev"), None);
        assert_eq!(parse_release_branch("feature/x"), None);
    }
}
