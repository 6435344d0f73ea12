//! The action's image, built with podman from the Dockerfile's `prebuilt` stage and
//! run the way GitHub's runner runs a Docker action: `INPUT_*` (upper case, hyphens
//! kept) and `GITHUB_*` variables, the event file and the file commands mounted from
//! the runner's temp folder, the workspace (owned by the runner's uid 1001, not
//! root) mounted at `/github/workspace` as the working directory, host network.
//!
//! The image needs the static binary of `scripts/build-static --test`; the first
//! test to get here runs it (a no-op when up to date). Without podman these tests
//! fail: they never skip.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use gitops_testkit::github::{GitHubStandIn, TokenGrants};
use gitops_testkit::registry::{Auth, PASSWORD, TestRegistry, USER};

use crate::util::{RUNNER_UID, Run, Workspace, chown_runner, git, parse_outputs, repo_root};

const REPO: &str = "acme/app";
const TOKEN: &str = "ghs_containerTokenOfTheWorkflow0123456789";

/// `podman` as this machine kind needs it (crun fails here; see DESIGN.md).
fn podman() -> Command {
    let mut c = Command::new("podman");
    c.args(["--runtime", "runc"]);
    c
}

/// Build the image once per test process; every test gets the same answer.
fn image() -> &'static str {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    match IMAGE.get_or_init(build_image) {
        Ok(name) => name,
        Err(e) => panic!("cannot build the action's image: {e}"),
    }
}

fn build_image() -> Result<String, String> {
    gitops_testkit::podman::build_action_image(&repo_root()).map_err(|e| format!("{e:#}"))
}

/// One job's runner temp folder: `_github_workflow` (the event) and
/// `_runner_file_commands` (outputs, summary), both owned by the runner's user.
struct Runner {
    temp: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// What one step left behind.
struct Step {
    run: Run,
    outputs: BTreeMap<String, String>,
    summary: String,
}

impl Runner {
    fn new(event: &str, payload: serde_json::Value) -> Runner {
        let temp = tempfile::tempdir().unwrap();
        for d in [
            "_github_workflow",
            "_runner_file_commands",
            "_github_home",
            "_temp",
        ] {
            std::fs::create_dir_all(temp.path().join(d)).unwrap();
        }
        std::fs::write(
            temp.path().join("_github_workflow/event.json"),
            payload.to_string(),
        )
        .unwrap();
        chown_runner(temp.path());
        let env = [
            ("CI", "true"),
            ("HOME", "/github/home"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_WORKSPACE", "/github/workspace"),
            ("GITHUB_EVENT_NAME", event),
            ("GITHUB_EVENT_PATH", "/github/workflow/event.json"),
            (
                "GITHUB_OUTPUT",
                "/github/file_commands/set_output_5f0c2b1e-7d4a-4f3e-9d61-2b8e4c3a1f00",
            ),
            (
                "GITHUB_STEP_SUMMARY",
                "/github/file_commands/step_summary_5f0c2b1e-7d4a-4f3e-9d61-2b8e4c3a1f00",
            ),
            ("GITHUB_REPOSITORY", REPO),
            ("GITHUB_REPOSITORY_OWNER", "acme"),
            ("GITHUB_ACTOR", "alice"),
            ("GITHUB_RUN_ID", "4242"),
            ("GITHUB_JOB", "release"),
            ("GITHUB_ACTION", "__gitops-action"),
            ("RUNNER_OS", "Linux"),
            // As the container sees it: the runner mounts `_work/_temp` there
            // (docs/github-facts/runner.md, "Paths as seen inside the container").
            ("RUNNER_TEMP", "/github/runner_temp"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Runner { temp, env }
    }

    fn set(&mut self, k: &str, v: &str) -> &mut Runner {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// `docker run` as the runner writes it for a `uses: docker://…` step.
    fn run(&self, workspace: &Path, inputs: &[(&str, &str)], args: &[&str]) -> Step {
        let mut c = podman();
        c.args(["run", "--rm", "--network", "host", "--pull=never"])
            .args(["--workdir", "/github/workspace"]);
        let t = self.temp.path();
        for (host, guest) in [
            (workspace.to_path_buf(), "/github/workspace"),
            (t.join("_github_workflow"), "/github/workflow"),
            (t.join("_runner_file_commands"), "/github/file_commands"),
            (t.join("_github_home"), "/github/home"),
            (t.join("_temp"), "/github/runner_temp"),
        ] {
            c.arg("-v").arg(format!("{}:{guest}", host.display()));
        }
        for (k, v) in &self.env {
            c.arg("-e").arg(format!("{k}={v}"));
        }
        for (k, v) in inputs {
            // The runner keeps hyphens: `dry-run` is `INPUT_DRY-RUN`.
            c.arg("-e").arg(format!("INPUT_{}={v}", k.to_uppercase()));
        }
        c.arg(image()).args(args);
        let run = Run::from(c.output().expect("podman run"));
        let commands = t.join("_runner_file_commands");
        let read = |prefix: &str| {
            std::fs::read_dir(&commands)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
                .map(|p| std::fs::read_to_string(p).unwrap())
                .unwrap_or_default()
        };
        let step = Step {
            outputs: parse_outputs(&read("set_output_")),
            summary: read("step_summary_"),
            run,
        };
        // Each step gets fresh file-command files.
        for e in std::fs::read_dir(&commands).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        step
    }
}

impl Step {
    fn ok(self) -> Step {
        assert_eq!(self.run.code, 0, "{}", self.run.transcript());
        self
    }

    fn out(&self, k: &str) -> &str {
        self.outputs.get(k).map(String::as_str).unwrap_or_else(|| {
            panic!(
                "no output `{k}` in {:?}\n{}",
                self.outputs,
                self.run.transcript()
            )
        })
    }
}

/// `actions/checkout` of the bundled example: a git work tree owned by the runner.
fn example_checkout() -> tempfile::TempDir {
    let ws = Workspace::example().dir;
    git(ws.path(), &["init", "-q", "-b", "main"]);
    git(ws.path(), &["add", "-A"]);
    git(ws.path(), &["commit", "-q", "-m", "example"]);
    chown_runner(ws.path());
    ws
}

fn entry_line(text: &str, key: &str) -> String {
    text.lines()
        .find(|l| l.trim_start().starts_with(key))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn image_is_static_on_scratch_and_runs_as_root() {
    let out = podman()
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Config.User}}|{{json .Config.Entrypoint}}|{{len .RootFS.Layers}}",
        ])
        .arg(image())
        .output()
        .unwrap();
    assert!(out.status.success());
    // No USER (root), the binary as entrypoint, and only our three COPY layers (CA bundle, binary, empty /tmp).
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"|["/gitops-action"]|3"#
    );
    // A `/tmp` for scratch files where no `RUNNER_TEMP` is mounted (outside Actions):
    // `FROM scratch` has none, and a release's private fetches failed there with
    // "cannot create a directory for the private repository" (found by the journey
    // of tests/scenarios run in the image).
    let id = podman().args(["create", image()]).output().unwrap();
    assert!(id.status.success());
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    let export = podman().args(["export", &id]).output().unwrap();
    let _ = podman().args(["rm", &id]).output();
    let entries: Vec<String> = tar::Archive::new(export.stdout.as_slice())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        entries.iter().any(|e| e.trim_end_matches('/') == "tmp"),
        "{entries:?}"
    );
    let r = Runner::new("push", serde_json::json!({}));
    let ws = tempfile::tempdir().unwrap();
    let s = r.run(ws.path(), &[], &["--version"]).ok();
    assert!(
        s.run.stdout.starts_with("gitops-action "),
        "{}",
        s.run.transcript()
    );
}

/// `status` then `set-image` on the bundled example, as two steps of one job.
#[test]
fn status_and_set_image_as_the_runner_runs_them() {
    let ws = example_checkout();
    let before =
        std::fs::read_to_string(ws.path().join("overlays/uat/kustomization.yaml")).unwrap();
    let mut r = Runner::new(
        "push",
        serde_json::json!({"ref": "refs/heads/main", "after": "0".repeat(40)}),
    );
    r.set("GITHUB_REF", "refs/heads/main");

    let s = r.run(ws.path(), &[("command", "status")], &[]).ok();
    let status: serde_json::Value = serde_json::from_str(s.out("status")).unwrap();
    let text = status.to_string();
    for needle in ["hello", "dev", "uat", "prod"] {
        assert!(text.contains(needle), "`{needle}` missing from {text}");
    }
    assert!(s.summary.contains("| `hello` |"), "summary:\n{}", s.summary);
    assert!(s.summary.contains("uat"), "summary:\n{}", s.summary);

    let tag = "tst-2c26b46-1763100000";
    let s = r
        .run(
            ws.path(),
            &[
                ("command", "set-image"),
                ("env", "uat"),
                ("service", "hello"),
                ("tag", tag),
                ("dry-run", "false"),
            ],
            &[],
        )
        .ok();
    assert_eq!(s.out("env"), "uat");
    assert_eq!(s.out("image"), "ghcr.io/acme/hello");
    assert_eq!(s.out("tag"), tag);
    assert_eq!(s.out("changed"), "true");
    assert!(s.summary.contains(tag), "summary:\n{}", s.summary);
    let path = ws.path().join("overlays/uat/kustomization.yaml");
    let after = std::fs::read_to_string(&path).unwrap();
    assert_eq!(entry_line(&after, "newTag:"), format!("newTag: {tag}"));
    assert!(!after.contains("digest:"), "stale digest dropped:\n{after}");
    // Only the image entry moved: the rest of the file is the same lines.
    let kept = |t: &str| {
        t.lines()
            .filter(|l| !l.contains("newTag:") && !l.contains("digest:"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(kept(&before), kept(&after));
    // The next step of the job runs as the runner's user: the file must stay its.
    assert_eq!(std::fs::metadata(&path).unwrap().uid(), RUNNER_UID);
    assert!(git(ws.path(), &["status", "--porcelain"]).contains("overlays/uat/kustomization.yaml"));
}

/// Bad inputs: the `::error` annotation on stdout, `error:` and `hint:` on stderr,
/// exit 2, and nothing written.
#[test]
fn bad_inputs_are_an_error_annotation_and_exit_2() {
    let ws = example_checkout();
    let r = Runner::new("push", serde_json::json!({}));
    let before =
        std::fs::read_to_string(ws.path().join("overlays/uat/kustomization.yaml")).unwrap();

    let s = r.run(
        ws.path(),
        &[
            ("command", "set-image"),
            ("env", "uat"),
            ("service", "hello"),
            ("tag", "tst-1"),
            ("dry-run", "maybe"),
        ],
        &[],
    );
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run
            .stdout
            .lines()
            .any(|l| l.starts_with("::error") && l.contains("`dry-run` is `maybe`")),
        "{}",
        s.run.transcript()
    );
    assert!(s.run.stderr.contains("\nhint: "), "{}", s.run.transcript());

    let s = r.run(
        ws.path(),
        &[
            ("command", "set-image"),
            ("env", "qa"),
            ("service", "hello"),
            ("tag", "x"),
        ],
        &[],
    );
    assert_eq!(s.run.code, 2, "{}", s.run.transcript());
    assert!(
        s.run
            .stdout
            .lines()
            .any(|l| l.starts_with("::error") && l.contains("qa")),
        "{}",
        s.run.transcript()
    );
    assert!(s.run.stderr.contains("\nhint: "), "{}", s.run.transcript());
    assert!(!s.run.stderr.contains("panicked"), "{}", s.run.transcript());
    assert!(s.outputs.is_empty(), "{:?}", s.outputs);
    let after = std::fs::read_to_string(ws.path().join("overlays/uat/kustomization.yaml")).unwrap();
    assert_eq!(before, after);
}

/// `release` from the container against the local registry (GHCR-style token auth)
/// and the GitHub stand-in: the build of the commit retagged for dev, the overlay
/// commit on the release branch, the PR opened and merged; the token never printed.
#[test]
fn release_from_the_container() {
    let reg = TestRegistry::start(Auth::Token).unwrap();
    let gh = GitHubStandIn::start_blocking().unwrap();
    let image_ref = format!("{}/acme/hello", reg.host());
    let mut files: Vec<(String, String)> = Vec::new();
    for env in ["base", "dev", "uat", "prod"] {
        for e in std::fs::read_dir(repo_root().join("overlays").join(env)).unwrap() {
            let p = e.unwrap().path();
            let text = std::fs::read_to_string(&p)
                .unwrap()
                .replace("ghcr.io/acme/hello", &image_ref);
            files.push((
                format!(
                    "overlays/{env}/{}",
                    p.file_name().unwrap().to_string_lossy()
                ),
                text,
            ));
        }
    }
    let config = std::fs::read_to_string(repo_root().join(".github/gitops.yaml"))
        .unwrap()
        .replace("ghcr.io/acme/hello", &image_ref)
        .replace("reviewers: [\"acme/qa\"]", "reviewers: [\"alice\"]");
    files.push((".github/gitops.yaml".into(), config));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    gh.create_repo(REPO, "main", &refs).unwrap();
    gh.add_token(TOKEN, TokenGrants::github_token());
    gh.add_collaborator(REPO, "alice", "maintain").unwrap();
    // A push to a feature branch: the config maps it to dev.
    gh.git(REPO, &["branch", "feature/greeting", "main"])
        .unwrap();

    // actions/checkout: a depth-1 clone whose origin has no credentials, as uid 1001.
    let scratch = tempfile::tempdir().unwrap();
    let ws = scratch.path().join("ws");
    git(
        scratch.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "-b",
            "feature/greeting",
            &gh.git_url_with_token("acme", "app", TOKEN),
            ws.to_str().unwrap(),
        ],
    );
    git(
        &ws,
        &["remote", "set-url", "origin", &gh.git_url("acme", "app")],
    );
    chown_runner(&ws);
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    // CI's build of the commit, under its canonical tag.
    let digest = reg
        .client()
        .push_image("acme/hello", &format!("sha-{sha}"), 2, 2048, 11)
        .unwrap()
        .digest;

    let mut r = Runner::new(
        "push",
        serde_json::json!({"ref": "refs/heads/feature/greeting", "after": sha}),
    );
    r.set("GITHUB_REF", "refs/heads/feature/greeting")
        .set("GITHUB_SHA", &sha)
        .set("GITHUB_API_URL", &gh.api_url())
        .set("GITHUB_GRAPHQL_URL", &gh.graphql_url())
        .set("GITHUB_SERVER_URL", &gh.server_url());
    let s = r
        .run(
            &ws,
            &[
                ("command", "release"),
                ("service", "hello"),
                ("token", TOKEN),
                ("registry-username", USER),
                ("registry-password", PASSWORD),
                ("chain", "none"),
            ],
            &[],
        )
        .ok();
    let short = &sha[..7];
    let tag = s.out("tag").to_string();
    assert!(
        tag.starts_with(&format!("dev-feature-greeting-{short}-")),
        "{tag}"
    );
    assert_eq!(s.out("env"), "dev");
    assert_eq!(s.out("image"), image_ref);
    assert_eq!(s.out("built"), "false");
    assert_eq!(s.out("digest"), digest);
    assert_eq!(s.out("pr-operation"), "created");
    assert_eq!(s.out("merged"), "true");
    assert_eq!(s.out("changed"), "true");
    assert!(s.summary.contains(&tag), "summary:\n{}", s.summary);
    // Secrets appear only in `::add-mask::` commands, which the runner swallows.
    for secret in [TOKEN, PASSWORD] {
        let printed = s
            .run
            .stdout
            .lines()
            .chain(s.run.stderr.lines())
            .filter(|l| !l.starts_with("::add-mask::"))
            .any(|l| l.contains(secret));
        assert!(!printed, "secret printed:\n{}", s.run.transcript());
    }
    assert!(
        s.run.stdout.contains(&format!("::add-mask::{TOKEN}")),
        "{}",
        s.run.transcript()
    );

    // The retag in the registry: the same digest under the dev tag.
    let (_, bytes) = reg
        .client()
        .get_manifest("acme/hello", &tag)
        .unwrap()
        .expect("the dev tag exists");
    assert_eq!(gitops_testkit::registry::digest_of(&bytes), digest);

    // The PR and the overlay commit it merged into main.
    let pulls = gh.pulls(REPO).unwrap();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let pr = &pulls[0];
    assert_eq!(pr.head, "release/hello/dev");
    assert!(pr.merged, "{pr:#?}");
    assert_eq!(s.out("pr-number"), pr.number.to_string());
    assert!(pr.body.contains(&digest), "{}", pr.body);
    let dev = gh
        .file_at(REPO, "main", "overlays/dev/kustomization.yaml")
        .unwrap()
        .unwrap();
    assert_eq!(entry_line(&dev, "newTag:"), format!("newTag: {tag}"));
    assert_eq!(entry_line(&dev, "digest:"), format!("digest: {digest}"));
    let merge_sha = s.out("merge-sha");
    assert_eq!(
        gh.branch_sha(REPO, "main").unwrap().as_deref(),
        Some(merge_sha)
    );
    let changed = gh
        .git(
            REPO,
            &["diff", "--name-only", &format!("{merge_sha}~1"), merge_sha],
        )
        .unwrap();
    assert_eq!(changed.trim(), "overlays/dev/kustomization.yaml");
    // The checkout the runner hands to the next step is still the runner's.
    assert_eq!(std::fs::metadata(&ws).unwrap().uid(), RUNNER_UID);
}

/// The sample service's image (`examples/hello`, prebuilt stage) serves seed 002's
/// two routes as its unprivileged user.
#[test]
fn hello_image_serves_both_routes() {
    image(); // scripts/build-static --test also stages examples/hello/dist/hello
    let name = "localhost/hello:container-test";
    let out = podman()
        .args(["build", "--target", "prebuilt", "--pull=never", "--quiet"])
        .args(["-t", name, "."])
        .current_dir(repo_root().join("examples/hello"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let user = podman()
        .args(["image", "inspect", "--format", "{{.Config.User}}", name])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&user.stdout).trim(), "65534:65534");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let container = format!("hello-test-{}-{port}", std::process::id());
    let run = podman()
        .args([
            "run",
            "-d",
            "--rm",
            "--network",
            "host",
            "--name",
            &container,
            name,
        ])
        .arg(format!("--addr=127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    struct Stop(String);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = podman().args(["rm", "-f", "-t", "0", &self.0]).output();
        }
    }
    let _stop = Stop(container);
    let get = |path: &str| -> String {
        use std::io::{Read, Write};
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            match std::net::TcpStream::connect(("127.0.0.1", port)) {
                Ok(mut s) => {
                    write!(
                        s,
                        "GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
                    )
                    .unwrap();
                    let mut text = String::new();
                    s.read_to_string(&mut text).unwrap();
                    return text;
                }
                Err(e) if std::time::Instant::now() > deadline => {
                    panic!("hello never listened: {e}")
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
    };
    let root = get("/");
    assert!(root.starts_with("HTTP/1.1 200 OK\r\n"), "{root}");
    assert!(
        root.contains("\r\nContent-Type: text/html; charset=utf-8\r\n"),
        "{root}"
    );
    assert!(root.ends_with("\r\n\r\nHello, World!"), "{root}");
    let api = get("/api");
    assert!(
        api.contains("\r\nContent-Type: application/json\r\n"),
        "{api}"
    );
    assert!(api.ends_with("\r\n\r\n{\"hello\": \"world\"}"), "{api}");
}
