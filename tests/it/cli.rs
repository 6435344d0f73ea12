//! The core commands through the real binary: status, resolve, set-image, config
//! errors, and the Action's input/output layer.

use crate::util::{Workspace, parse_outputs};

const SHA: &str = "9fceb02d0ae598e95dc970b74767f19372d61af8";

/// The documented example: five environments, channels and all.
const FIVE_ENVS: &str = include_str!("../fixtures/gitops-five-environments.yaml");

fn resolve(ws: &Workspace, r: &str) -> serde_json::Value {
    let run = ws
        .cmd()
        .args(["resolve", "--ref", r, "--sha", SHA, "--format", "json"])
        .env("SOURCE_DATE_EPOCH", "1654880868")
        .output()
        .unwrap();
    let run = crate::util::Run::from(run).expect(0);
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
fn refs_map_to_environments_and_tags() {
    let ws = Workspace::example();
    ws.write(".github/gitops.yaml", FIVE_ENVS);
    let cases = [
        (
            "refs/heads/feature/Login",
            vec![("dev", "dev-feature-login-9fceb02-1654880868")],
        ),
        (
            "refs/heads/test/uat",
            vec![("uat", "tst-9fceb02-1654880868")],
        ),
        (
            "refs/heads/main",
            vec![("staging", "stg-9fceb02-1654880868")],
        ),
        ("refs/tags/v1.2.3", vec![("prod", "prd-1.2.3")]),
        ("refs/tags/v1.3.0-beta1", vec![("beta", "prd-1.3.0-beta1")]),
        ("refs/tags/v1.1.0-alpha1", vec![]),
        ("refs/pull/7/merge", vec![]),
    ];
    for (r, want) in cases {
        let v = resolve(&ws, r);
        let got: Vec<(String, String)> = v["environments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    e["tags"]["hello"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = want
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want, "{r}");
    }
}

#[test]
fn a_ref_with_no_environment_is_a_notice_not_an_error() {
    let ws = Workspace::example();
    let run = ws
        .cmd()
        .args([
            "resolve",
            "--ref",
            "refs/tags/v2.0.0-rc.1",
            "--sha",
            SHA,
            "--format",
            "json",
        ])
        .env("SOURCE_DATE_EPOCH", "1")
        .output()
        .unwrap();
    let run = crate::util::Run::from(run).expect(0);
    insta::assert_snapshot!(run.transcript());
}

#[test]
fn status_of_the_bundled_example() {
    let ws = Workspace::example();
    let run = ws.run(&["status"]).expect(0);
    insta::assert_snapshot!(run.transcript());
    let run = ws.run(&["status", "--format", "json"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["environments"], serde_json::json!(["dev", "uat", "prod"]));
    assert_eq!(v["services"][0]["deployed"]["prod"]["tag"], "prd-1.4.2");
    assert_eq!(v["services"][0]["deployed"]["prod"]["line"], 10);
    let run = ws.run(&["status", "--format", "markdown"]).expect(0);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn set_image_edits_one_line_and_is_idempotent() {
    let ws = Workspace::example();
    let before = ws.read("overlays/uat/kustomization.yaml");
    let run = ws
        .run(&[
            "set-image",
            "--env",
            "uat",
            "--service",
            "hello",
            "--tag",
            "tst-abcdef0-1763300000",
            "--dry-run",
        ])
        .expect(0);
    insta::assert_snapshot!("set_image_dry_run", run.transcript());
    assert_eq!(
        ws.read("overlays/uat/kustomization.yaml"),
        before,
        "dry run must not write"
    );

    let run = ws
        .run(&[
            "set-image",
            "--env",
            "uat",
            "--service",
            "hello",
            "--tag",
            "tst-abcdef0-1763300000",
        ])
        .expect(0);
    insta::assert_snapshot!("set_image_write", run.transcript());
    insta::assert_snapshot!("set_image_file", ws.read("overlays/uat/kustomization.yaml"));

    let run = ws
        .run(&[
            "set-image",
            "--env",
            "uat",
            "--service",
            "hello",
            "--tag",
            "tst-abcdef0-1763300000",
        ])
        .expect(0);
    assert!(run.stdout.contains("unchanged"), "{}", run.transcript());
}

#[test]
fn config_errors_name_file_line_and_value_and_exit_2() {
    let ws = Workspace::example();
    ws.write(
        ".github/gitops.yaml",
        "services:\n  hello:\n    imag: ghcr.io/acme/hello\nenvironments:\n  - name: dev\n    merge: sometimes\n    tagg: x\n",
    );
    let run = ws.run(&["status"]).expect(2);
    insta::assert_snapshot!(run.transcript());

    ws.write(
        ".github/gitops.yaml",
        "environments:\n  - name: Dev\n    tag: \"dev-{brnch}\"\n    overlay: ../elsewhere\n",
    );
    let run = ws.run(&["status"]).expect(2);
    insta::assert_snapshot!(run.transcript());

    ws.write(".github/gitops.yaml", "environments: [\n");
    let run = ws.run(&["status"]).expect(2);
    assert!(
        run.stderr.starts_with("error: .github/gitops.yaml:"),
        "{}",
        run.transcript()
    );
    assert!(run.stderr.contains("\nhint: "), "{}", run.transcript());
}

#[test]
fn overlay_path_through_a_symlink_out_of_the_repo_is_refused() {
    let ws = Workspace::example();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), ws.path().join("escape")).unwrap();
    ws.write(
        ".github/gitops.yaml",
        "environments:\n  - name: dev\n    branches: ['**']\n    overlay: escape/dev\n",
    );
    let run = ws.run(&["status"]).expect(2);
    assert!(
        run.stderr
            .contains("leads outside the repository through a symlink"),
        "{}",
        run.transcript()
    );
}

#[test]
fn without_a_config_the_default_chain_applies() {
    let ws = Workspace::example();
    std::fs::remove_file(ws.path().join(".github/gitops.yaml")).unwrap();
    let run = ws
        .cmd()
        .arg("status")
        .env("GITHUB_REPOSITORY_OWNER", "Acme")
        .output()
        .unwrap();
    let run = crate::util::Run::from(run).expect(0);
    insta::assert_snapshot!(run.transcript());
    // An explicit config that is missing is an error, not a silent default.
    let run = ws.run(&["status", "--config", "nope.yaml"]).expect(2);
    assert!(
        run.stderr
            .contains("config file `nope.yaml` does not exist"),
        "{}",
        run.transcript()
    );
}

#[test]
fn as_an_action_step_inputs_come_from_env_and_outputs_go_to_files() {
    let ws = Workspace::example();
    let out = ws.path().join("output.txt");
    let summary = ws.path().join("summary.md");
    let run = ws
        .action()
        .env("GITHUB_OUTPUT", &out)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("INPUT_COMMAND", "set-image")
        .env("INPUT_ENV", "dev")
        .env("INPUT_SERVICE", "hello")
        .env("INPUT_TAG", "dev-main-1234567-1")
        .env("INPUT_DIGEST", "")
        .env("INPUT_DRY-RUN", "false")
        .env("INPUT_TOKEN", "ghs_0123456789abcdefghijklmnopqrstuvwxyz")
        .output()
        .unwrap();
    let run = crate::util::Run::from(run).expect(0);
    assert!(
        run.stdout
            .contains("::add-mask::ghs_0123456789abcdefghijklmnopqrstuvwxyz"),
        "{}",
        run.transcript()
    );
    let outputs = std::fs::read_to_string(&out).unwrap();
    let parsed = parse_outputs(&outputs);
    assert_eq!(parsed["changed"], "true");
    assert_eq!(parsed["tag"], "dev-main-1234567-1");
    assert_eq!(parsed["env"], "dev");
    assert!(
        std::fs::read_to_string(&summary)
            .unwrap()
            .contains("`hello` in `dev`")
    );
    // Tag without digest dropped the stale digest.
    assert!(
        !ws.read("overlays/dev/kustomization.yaml")
            .contains("digest:")
    );
}

#[test]
fn bad_input_in_an_action_step_is_an_error_annotation_and_exit_2() {
    let ws = Workspace::example();
    let run = ws
        .action()
        .env("INPUT_COMMAND", "set-image")
        .env("INPUT_ENV", "qa")
        .env("INPUT_SERVICE", "hello")
        .env("INPUT_TAG", "x")
        .env("INPUT_TOKEN", "ghs_0123456789abcdefghijklmnopqrstuvwxyz")
        .output()
        .unwrap();
    let run = crate::util::Run::from(run).expect(2);
    assert!(
        !run.stdout
            .replace("::add-mask::ghs_0123456789abcdefghijklmnopqrstuvwxyz", "")
            .contains("ghs_0123")
    );
    insta::assert_snapshot!(run.transcript());

    let ws = Workspace::example();
    ws.write(
        ".github/gitops.yaml",
        "environments:\n  - name: dev\n    merge: sometimes\n",
    );
    let run = ws.action().env("INPUT_COMMAND", "status").output().unwrap();
    let run = crate::util::Run::from(run).expect(2);
    assert!(
        run.stdout.contains("::error file=.github/gitops.yaml,line=3,col=12,title=gitops-action::`environments[0].merge` is `sometimes`"),
        "{}",
        run.transcript()
    );
}

#[test]
fn unknown_command_input_is_exit_2() {
    let ws = Workspace::example();
    let run = ws
        .action()
        .env("INPUT_COMMAND", "deploy-all")
        .output()
        .unwrap();
    let run = crate::util::Run::from(run).expect(2);
    assert!(
        run.stderr.contains("unknown command `deploy-all`"),
        "{}",
        run.transcript()
    );
}

/// Only `INPUT_*` are read, whatever bytes other variables hold (reading the
/// inputs through `std::env::vars` panicked on any variable that is not UTF-8), and
/// an input that is not UTF-8 is exit 2 naming it.
#[test]
fn inputs_that_are_not_utf8_are_exit_2_and_other_variables_are_ignored() {
    use std::os::unix::ffi::OsStrExt as _;
    let bytes = std::ffi::OsStr::from_bytes(b"caf\xe9");
    let ws = Workspace::example();
    let run = ws.action().env("LANG_LATIN1", bytes).output().unwrap();
    crate::util::Run::from(run).expect(0);
    let run = ws
        .action()
        .env("INPUT_COMMAND", "status")
        .env("INPUT_FORMAT", bytes)
        .output()
        .unwrap();
    let run = crate::util::Run::from(run).expect(2);
    assert!(
        run.stderr.contains("input `format` is not UTF-8 text"),
        "{}",
        run.transcript()
    );
}

#[test]
fn an_unknown_format_is_exit_2_with_the_choices() {
    let ws = Workspace::example();
    let run = ws.run(&["status", "--format", "yaml"]).expect(2);
    assert_eq!(
        run.stderr,
        "error: unknown format `yaml`\n\nhint: use one of `text`, `table`, `json`, `markdown`\n"
    );
    let run = ws
        .run(&["resolve", "--ref", "main", "--format", "table"])
        .expect(2);
    assert!(
        run.stderr
            .starts_with("error: this command has no `table` format"),
        "{}",
        run.transcript()
    );
}

#[test]
fn a_push_event_gives_the_ref_and_commit_and_inputs_win() {
    let ws = Workspace::example();
    ws.write(".github/gitops.yaml", FIVE_ENVS);
    let event = ws.path().join("event.json");
    std::fs::write(
        &event,
        // As GitHub sends a new tag's push: its commit in `head_commit`.
        format!(
            r#"{{"ref": "refs/tags/v1.2.3", "after": "{SHA}", "head_commit": {{"id": "{SHA}"}}}}"#
        ),
    )
    .unwrap();
    let out = ws.path().join("out.txt");
    let run = |extra: &[(&str, &str)]| {
        let mut c = ws.action();
        c.env("GITHUB_EVENT_NAME", "push")
            .env("GITHUB_EVENT_PATH", &event)
            .env("GITHUB_OUTPUT", &out)
            .env("SOURCE_DATE_EPOCH", "1654880868")
            .env("INPUT_COMMAND", "resolve");
        for (k, v) in extra {
            c.env(k, v);
        }
        std::fs::write(&out, "").unwrap();
        crate::util::Run::from(c.output().unwrap()).expect(0);
        parse_outputs(&std::fs::read_to_string(&out).unwrap())
    };
    let o = run(&[]);
    assert_eq!(
        (o["env"].as_str(), o["tag"].as_str(), o["sha"].as_str()),
        ("prod", "prd-1.2.3", SHA)
    );
    let o = run(&[("INPUT_REF", "refs/heads/main")]);
    assert_eq!(
        (o["env"].as_str(), o["tag"].as_str()),
        ("staging", "stg-9fceb02-1654880868")
    );
}

#[test]
fn an_event_file_that_is_not_json_is_exit_2() {
    let ws = Workspace::example();
    let event = ws.path().join("event.json");
    std::fs::write(&event, "{not json").unwrap();
    let run = ws
        .action()
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_EVENT_PATH", &event)
        .output()
        .unwrap();
    let run = crate::util::Run::from(run).expect(2);
    assert!(
        run.stderr.contains("is not JSON") && run.stderr.contains("\nhint: "),
        "{}",
        run.transcript()
    );
}

/// Bad input to the commands that move a service: exit 2, the value named, a hint,
/// and nothing contacted (no server runs here).
#[test]
fn release_promote_rollback_retag_refuse_bad_input_with_a_hint() {
    let ws = Workspace::example();
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let rel = [
        "release",
        "--service",
        "hello",
        "--env",
        "dev",
        "--sha",
        sha,
        "--ref",
        "refs/heads/main",
    ];
    let with = |extra: &[&'static str]| -> Vec<&str> { rel.iter().chain(extra).copied().collect() };
    let checked_first = [
        vec![
            "promote",
            "--service",
            "hello",
            "--to",
            "prod",
            "--from",
            "prod",
        ],
        vec!["resolve", "--ref", "refs/heads/"],
        vec!["release", "--service", "hello", "--ref", "refs/heads/a b"],
        vec![
            "rollback",
            "--service",
            "hello",
            "--env",
            "dev",
            "--to",
            "bad tag",
        ],
        with(&["--merge-method", "fast"]),
        with(&["--chain", "sideways"]),
        with(&["--chain", "dispatch"]),
        with(&["--reviewers", "alice,@@@"]),
        with(&["--base", "../main"]),
        with(&["--deploy-workflow", "../../deploy.yaml"]),
        with(&["--author", "nobody"]),
        with(&["--merge", "sometimes"]),
        vec![
            "deploy",
            "--service",
            "hello",
            "--env",
            "dev",
            "--verify-url",
            "localhost:8080",
        ],
        vec![
            "deploy",
            "--service",
            "hello",
            "--env",
            "dev",
            "--verify-url",
            "http://x",
            "--verify-timeout",
            "5x",
        ],
    ];
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["rollback", "--service", "hello", "--env", "prod"],
        vec!["release", "--service", "nope", "--env", "dev"],
        vec![
            "release",
            "--service",
            "hello",
            "--env",
            "dev",
            "--sha",
            sha,
            "--build",
            "sometimes",
        ],
        vec!["promote", "--service", "hello", "--to", "dev"],
        vec![
            "retag",
            "ghcr.io/acme/hello:Not A Tag",
            "ghcr.io/acme/hello:dev",
        ],
        vec![
            "rollback",
            "--service",
            "hello",
            "--env",
            "prod",
            "--steps",
            "zero",
        ],
    ];
    cases.extend(checked_first);
    let mut all = String::new();
    for args in &cases {
        let mut c = ws.cmd();
        c.args(args).env("SOURCE_DATE_EPOCH", "1700000000");
        let run = crate::util::Run::from(c.output().unwrap()).expect(2);
        assert!(run.stderr.contains("\nhint: "), "{}", run.transcript());
        all.push_str(&format!(
            "$ gitops-action {}\n{}\n",
            args.join(" "),
            run.transcript()
        ));
    }
    insta::assert_snapshot!(all);
}

/// `deploy` on a closed PR that wasn't merged, or isn't a release branch: a notice,
/// exit 0, `deployed=false`, nothing read from any server. A fork's
/// branch named `release/<svc>/<env>` is not a release either (its head
/// repository is another one: docs "Events that trigger workflows",
/// pull_request, "Workflows in forked repositories"; null once the fork is
/// deleted, github/rest-api-description#161).
#[test]
fn deploy_on_an_unmerged_or_foreign_pr_is_a_notice() {
    let ws = Workspace::example();
    let ours = serde_json::json!({"full_name": "acme/app"});
    for (merged, head, repo, says) in [
        (
            false,
            "release/hello/dev",
            ours.clone(),
            "was closed without a merge",
        ),
        (
            true,
            "feature/x",
            ours.clone(),
            "is not a `release/<service>/<env>` branch",
        ),
        (
            true,
            "release/hello/prod",
            serde_json::json!({"full_name": "mallory/app"}),
            "comes from another repository (mallory/app)",
        ),
        (
            true,
            "release/hello/prod",
            serde_json::Value::Null,
            "comes from another repository ((deleted))",
        ),
    ] {
        let event = ws.path().join("event.json");
        let payload = serde_json::json!({"action": "closed",
            "repository": {"full_name": "acme/app"},
            "pull_request": {
            "number": 7, "merged": merged, "head": {"ref": head, "repo": repo},
            "base": {"ref": "main", "repo": {"full_name": "acme/app"}},
            "merge_commit_sha": "0123456789abcdef0123456789abcdef01234567"}});
        std::fs::write(&event, payload.to_string()).unwrap();
        let out = ws.path().join("out");
        let run = crate::util::Run::from(
            ws.action()
                .env("INPUT_COMMAND", "deploy")
                .env("GITHUB_EVENT_NAME", "pull_request")
                .env("GITHUB_EVENT_PATH", &event)
                .env("GITHUB_OUTPUT", &out)
                .output()
                .unwrap(),
        )
        .expect(0);
        assert!(run.stdout.contains("::notice"), "{}", run.transcript());
        assert!(run.stdout.contains(says), "{}", run.transcript());
        let outputs = parse_outputs(&std::fs::read_to_string(&out).unwrap());
        assert_eq!(outputs["deployed"], "false");
    }
}

/// Regression: a checkout without an `origin` remote was called "not a git
/// checkout". The message now says what is missing.
#[test]
fn a_checkout_without_origin_is_named_as_such() {
    let ws = Workspace::example();
    crate::util::git(ws.path(), &["init", "-q", "-b", "main"]);
    crate::util::git(ws.path(), &["add", "-A"]);
    crate::util::git(ws.path(), &["commit", "-q", "-m", "example"]);
    let mut c = ws.cmd();
    c.args([
        "rollback",
        "--service",
        "hello",
        "--env",
        "dev",
        "--steps",
        "1",
        "--dry-run",
    ]);
    let run = crate::util::Run::from(c.output().unwrap()).expect(2);
    assert!(
        run.stderr.contains("has no remote `origin`"),
        "{}",
        run.transcript()
    );
    assert!(run.stderr.contains("hint: add it"), "{}", run.transcript());
}

/// Regression: an overlay or config that is not UTF-8, or a directory where the
/// overlay file should be, was a failure (exit 1) without a place or a hint.
#[test]
fn files_that_are_not_utf8_text_are_named_by_line_and_column() {
    let ws = Workspace::example();
    let overlay = "overlays/dev/kustomization.yaml";
    let mut bytes = std::fs::read(ws.path().join(overlay)).unwrap();
    bytes.extend_from_slice(b"# caf\xe9\n");
    std::fs::write(ws.path().join(overlay), &bytes).unwrap();
    let set = [
        "set-image",
        "--service",
        "hello",
        "--env",
        "dev",
        "--tag",
        "v2",
    ];
    let run = ws.run(&set).expect(2);
    insta::assert_snapshot!(run.transcript());
    assert_eq!(
        std::fs::read(ws.path().join(overlay)).unwrap(),
        bytes,
        "untouched"
    );
    ws.run(&["status"]).expect(2);

    std::fs::remove_file(ws.path().join(overlay)).unwrap();
    std::fs::create_dir(ws.path().join(overlay)).unwrap();
    let run = ws.run(&set).expect(2);
    insta::assert_snapshot!(run.transcript());

    std::fs::write(ws.path().join(".github/gitops.yaml"), b"\xff\xfee\x00n\x00").unwrap();
    let run = ws.run(&["status"]).expect(2);
    insta::assert_snapshot!(run.transcript());
}
