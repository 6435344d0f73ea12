//! Two repositories in the runner (issue 23, item 8): the bundled example
//! `examples/config-repo/` as users copy it. The code's repository (`acme/hello`)
//! releases each push to main into the GitOps repository (`acme/gitops`) with an
//! App's installation token (`actions/create-github-app-token`, emulated by the
//! runner); the App's merge there starts acme/gitops's own overlay-deploy, which
//! records the deployment on acme/hello and opens the next environment's PR there.
//! Sources: docs/github-facts/events.md ("Two repositories") and
//! `gitops_testkit::workflow::app_token`.

use std::path::Path;

use gitops_testkit::github::TokenGrants;
use gitops_testkit::registry::TestRegistry;
use gitops_testkit::seed::{as_refs, example_repository};
use gitops_testkit::workflow::{ActionMode, App, Person, Runner};

use crate::*;

const CODE: &str = "acme/hello";
const CFG: &str = "acme/gitops";
const APP_ID: &str = "1234567";
const APP_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAtwoRepositoriesTestKey\n-----END RSA PRIVATE KEY-----";

struct Two {
    gh: gitops_testkit::github::GitHubStandIn,
    reg: TestRegistry,
    alice: Person,
}

/// Every file under `dir`, as `(path from dir, text)`, `ghcr.io/acme/hello`
/// pointed at the local registry's `image`.
fn tree(dir: &Path, image: &str) -> Vec<(String, String)> {
    fn walk(base: &Path, d: &Path, image: &str, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(base, &p, image, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&p)
                    .unwrap()
                    .replace("ghcr.io/acme/hello", image);
                out.push((rel, text));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, image, &mut out);
    out
}

impl Two {
    fn new() -> Two {
        // GHCR's rules: acme/hello's package, published by its CI; acme/gitops's
        // workflows retag it too, so the package lists acme/gitops under Manage
        // Actions access with Write, as the example's set-up says.
        let reg = TestRegistry::start_ghcr().unwrap();
        reg.grant_actions_access("acme/hello", CODE, true);
        reg.grant_actions_access("acme/hello", CFG, true);
        let image = format!("{}/acme/hello", reg.host());
        let gh = gitops_testkit::github::GitHubStandIn::start_blocking().unwrap();
        let example = repo_root().join("examples/config-repo");
        gh.create_repo(
            CFG,
            "main",
            &as_refs(&tree(&example.join("gitops"), &image)),
        )
        .unwrap();
        // The code's repository: the buildable app of the bundled example, and the
        // example's release workflow.
        let mut code: Vec<(String, String)> = example_repository(&repo_root(), &image, "", &[])
            .into_iter()
            .filter(|(p, _)| p.starts_with("app/"))
            .collect();
        code.extend(tree(&example.join("app"), &image));
        gh.create_repo(CODE, "main", &as_refs(&code)).unwrap();
        let alice = Person {
            login: "alice".into(),
            token: "ghp_aliceReleaseEngineer0123456789abcdef".into(),
        };
        gh.add_token(&alice.token, TokenGrants::user("alice"));
        for repo in [CODE, CFG] {
            gh.add_collaborator(repo, "alice", "maintain").unwrap();
        }
        gh.add_team_member("acme/qa", "alice", "member");
        gh.add_team_member("acme/release-managers", "alice", "member");
        Two { gh, reg, alice }
    }

    /// The runner on acme/hello, watching acme/gitops; the App installed on both
    /// with what the README's set-up grants it, its id and key as secrets.
    fn runner(&self) -> Runner<'_> {
        let mut r = Runner::new(
            &self.gh,
            CODE,
            &repo_root().join("action.yml"),
            ActionMode::Binary(std::path::PathBuf::from(BIN)),
        )
        .unwrap();
        r.watch(CFG).unwrap();
        r.registry = Some(&self.reg);
        r.apps.push(App {
            id: APP_ID.into(),
            slug: "acme-release".into(),
            private_key: APP_KEY.into(),
            installation_id: 77,
            owner: "acme".into(),
            repositories: vec!["hello".into(), "gitops".into()],
            permissions: [
                ("contents", 2),
                ("pull-requests", 2),
                ("deployments", 2),
                ("actions", 2),
                ("members", 1),
            ]
            .into_iter()
            .map(|(k, l)| (k.to_string(), l))
            .collect(),
        });
        r.secrets.insert("RELEASE_APP_ID".into(), APP_ID.into());
        r.secrets.insert("RELEASE_APP_KEY".into(), APP_KEY.into());
        r
    }

    fn build(&self, sha: &str) -> String {
        self.reg
            .client()
            .push_image("acme/hello", &format!("sha-{sha}"), 2, 2048, 7)
            .unwrap()
            .digest
    }

    fn tag_in(&self, env: &str) -> String {
        let text = self
            .gh
            .file_at(CFG, "main", &format!("overlays/{env}/kustomization.yaml"))
            .unwrap()
            .unwrap();
        entry(&text, "newTag:")
    }

    fn pr(&self, head: &str) -> gitops_testkit::github::PullInfo {
        self.gh
            .pulls(CFG)
            .unwrap()
            .into_iter()
            .rev()
            .find(|p| p.head == head)
            .unwrap_or_else(|| panic!("no PR from {head}: {:#?}", self.gh.pulls(CFG)))
    }
}

/// A push to acme/hello's main runs its release.yaml: the App's token (hello and
/// gitops, four permissions) opens and merges the dev PR in acme/gitops; that merge
/// starts acme/gitops's overlay-deploy (its files, its job token), which records
/// the deployment on acme/hello and opens uat's PR; merging it runs overlay-deploy
/// again, which opens prod's PR at `prd-1.4.0`, from the commit's tag in acme/hello.
/// Before: the runner knew one repository, so nothing ran in acme/gitops, and it
/// refused `actions/create-github-app-token`.
#[test]
fn a_push_in_the_code_repository_deploys_through_the_gitops_repository() {
    let two = Two::new();
    let sha = two
        .gh
        .push_commit(
            CODE,
            "feature/greeting",
            &[("app/hello.txt", "hello, two repositories\n")],
        )
        .unwrap();
    two.build(&sha);
    // Tagged before this journey (its own release is another one).
    two.gh.git(CODE, &["tag", "v1.4.0", &sha]).unwrap();
    let mut r = two.runner();
    let runs = r.push_ref(&two.alice, "main", &sha).unwrap();
    print_figures("two repositories, dev", &runs);
    expect_runs(
        &runs,
        &[
            ("release.yaml", "push", "success"),
            ("overlay-deploy.yaml", "pull_request", "success"),
        ],
    );
    let (release, deploy) = (&runs[0], &runs[1]);
    // The App token: masked in the logs, its writes the App's.
    let app = &release.job("release").steps[1];
    let token = app.outputs["token"].clone();
    assert!(token.starts_with("ghs_"), "{}", release.describe());
    assert_eq!(app.outputs["app-slug"], "acme-release");
    assert_eq!(app.outputs["installation-id"], "77");
    let logs: String = runs.iter().map(|r| r.describe()).collect();
    assert!(!logs.contains(&token), "the App token is masked:\n{logs}");
    let dev = two.pr("release/hello/dev");
    assert!(dev.merged, "{dev:#?}");
    assert_eq!(dev.user, "acme-release[bot]");
    assert_eq!(dev.merged_by.as_deref(), Some("acme-release[bot]"));
    // overlay-deploy ran in acme/gitops: its merge commit, its own job token.
    assert_eq!(deploy.actor, "acme-release[bot]");
    assert_eq!(deploy.sha, dev.merge_commit_sha.clone().unwrap());
    let step = deploy.action_steps()[0];
    assert_eq!(step.env["GITHUB_REPOSITORY"], CFG, "{}", deploy.describe());
    let dev_tag = release.action_steps()[0].outputs["tag"].clone();
    assert!(
        dev_tag.starts_with(&format!("dev-{}", &sha[..7])),
        "{dev_tag}"
    );
    assert_eq!(two.tag_in("dev"), dev_tag);
    // The deployment is the code's: on acme/hello, against its commit.
    let deployments = two.gh.deployments(CODE).unwrap();
    assert_eq!(deployments.len(), 1, "{deployments:#?}");
    assert_eq!(deployments[0].environment, "dev");
    assert_eq!(deployments[0].sha, sha);
    assert!(two.gh.deployments(CFG).unwrap().is_empty());
    // The App token died with its job (the action's post step).
    let status = reqwest::blocking::Client::new()
        .get(format!("{}/repos/{CFG}", two.gh.api_url()))
        .bearer_auth(&token)
        .header("user-agent", "t")
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 401, "revoked");

    // uat: the PR waits for acme/qa; alice merges it in acme/gitops.
    let uat = two.pr("release/hello/uat");
    assert_eq!(uat.state, "open");
    assert_eq!(uat.user, "acme-release[bot]");
    assert!(
        uat.requested_teams.iter().any(|t| t.ends_with("qa")),
        "uat's reviewers, requested with the App's members: read: {uat:#?}"
    );
    r.switch_to(CFG).unwrap();
    let runs = r.merge(&two.alice, uat.number, "merge").unwrap();
    print_figures("two repositories, uat", &runs);
    expect_runs(&runs, &[("overlay-deploy.yaml", "pull_request", "success")]);
    let prod = two.pr("release/hello/prod");
    assert_eq!(prod.state, "open", "{}", runs[0].describe());
    assert_eq!(
        two.gh
            .file_at(CFG, &prod.head, "overlays/prod/kustomization.yaml")
            .unwrap()
            .map(|t| entry(&t, "newTag:"))
            .as_deref(),
        Some("prd-1.4.0")
    );
    let envs: Vec<String> = two
        .gh
        .deployments(CODE)
        .unwrap()
        .into_iter()
        .map(|d| d.environment)
        .collect();
    assert_eq!(envs, ["dev", "uat"]);
}

/// A user's copy of release.yaml asking the App for a permission its installation
/// lacks (`permission-packages: write`): the token step fails with GitHub's
/// message, the release never starts, and nothing happens in acme/gitops. Before:
/// the runner refused the action outright, so this could not be seen.
#[test]
fn an_app_token_asking_more_than_the_installation_fails_its_step() {
    let two = Two::new();
    let path = ".github/workflows/release.yaml";
    let text = two.gh.file_at(CODE, "main", path).unwrap().unwrap();
    let edited = text.replacen(
        "          permission-actions: write\n",
        "          permission-actions: write\n          permission-packages: write\n",
        1,
    );
    assert_ne!(edited, text);
    two.gh
        .push_commit(CODE, "main", &[(path, &edited)])
        .unwrap();
    let sha = two
        .gh
        .push_commit(CODE, "feature/more", &[("app/hello.txt", "more\n")])
        .unwrap();
    two.build(&sha);
    let mut r = two.runner();
    let runs = r.push_ref(&two.alice, "main", &sha).unwrap();
    expect_runs(&runs, &[("release.yaml", "push", "failure")]);
    let job = runs[0].job("release");
    assert_eq!(job.steps[1].outcome, "failure");
    assert_eq!(
        job.steps[1].annotations[0].message,
        "The permissions requested are not granted to this installation."
    );
    assert_eq!(job.steps[2].outcome, "skipped", "our action never ran");
    assert!(two.gh.pulls(CFG).unwrap().is_empty());
    assert!(two.gh.deployments(CODE).unwrap().is_empty());
}

/// A user's copy of release.yaml whose job asks `packages: read` instead of
/// `write`: the job's token may pull the commit's build but not push its dev tag,
/// so the registry refuses the retag, the action exits 1 naming the write and the
/// registry's answer, and no PR is opened in acme/gitops. Before: the runner planted a login
/// that could push whatever the job's `permissions:` said.
#[test]
fn a_release_without_packages_write_is_refused_by_the_registry() {
    let two = Two::new();
    let path = ".github/workflows/release.yaml";
    let text = two.gh.file_at(CODE, "main", path).unwrap().unwrap();
    let edited = text.replacen("      packages: write", "      packages: read", 1);
    assert_ne!(edited, text);
    two.gh
        .push_commit(CODE, "main", &[(path, &edited)])
        .unwrap();
    let sha = two
        .gh
        .push_commit(CODE, "feature/pkg", &[("app/hello.txt", "packages\n")])
        .unwrap();
    two.build(&sha);
    let mut r = two.runner();
    let runs = r.push_ref(&two.alice, "main", &sha).unwrap();
    expect_runs(&runs, &[("release.yaml", "push", "failure")]);
    let step = runs[0].action_steps()[0];
    assert_eq!(step.exit_code, Some(1), "{}", runs[0].describe());
    let err: String = step
        .annotations
        .iter()
        .filter(|a| a.level == "error")
        .map(|a| a.message.clone())
        .collect();
    // GHCR's answer to a job token without `packages: write` (the registry's GHCR
    // front; docs/github-facts/registry.md).
    assert!(
        err.contains("writing `")
            && err.contains(":dev-")
            && err.contains("403 Forbidden")
            && err.contains("DENIED: installation not allowed to Write organization package"),
        "the registry's denial is named: {err}"
    );
    assert!(two.gh.pulls(CFG).unwrap().is_empty());
    let pushed: Vec<_> = two
        .reg
        .requests()
        .into_iter()
        .filter(|q| q.method == "PUT" && q.path.contains("/manifests/dev-") && q.status < 300)
        .collect();
    assert!(pushed.is_empty(), "no dev tag: {pushed:?}");
}
