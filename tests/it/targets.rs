//! Targets through the real binary: `set-image`, `status` and `codeowners` on one
//! environment per format (fixtures in `tests/fixtures/targets/`), and every bad
//! input refused with exit 2, its place and a hint, the files left as they were.

use crate::util::{Workspace, repo_root};

const D: &str = "sha256:4444444444444444444444444444444444444444444444444444444444444444";

const CONFIG: &str = r#"services:
  hello:
    image: ghcr.io/acme/hello
environments:
  - name: helm
    format: helm
    file: charts/{service}/values-{env}.yaml
    fields: { tag: hello.image.tag, digest: hello.image.digest }
    reviewers: [acme/helm-team]
  - name: yaml
    format: yaml
    file: envs/{env}/{service}.yaml
    fields: { image: "spec.template.spec.containers[0].image" }
    document: { kind: Deployment, name: hello }
  - name: flux
    format: flux
    file: clusters/{env}/apps.yaml
    policy: flux-system:hello
    reviewers: [acme/flux-team]
  - name: kustomize
    overlay: apps/{service}/overlays/{env}
    reviewers: [acme/kustomize-team]
"#;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures/targets").join(name)).unwrap()
}

/// Every environment of `CONFIG` with its file.
fn layout() -> Workspace {
    let ws = Workspace::empty();
    ws.write(".github/gitops.yaml", CONFIG);
    ws.write("charts/hello/values-helm.yaml", &fixture("values-dev.yaml"));
    ws.write("envs/yaml/hello.yaml", &fixture("deployment-dev.yaml"));
    ws.write("clusters/flux/apps.yaml", &fixture("flux-dev.yaml"));
    ws.write(
        "apps/hello/overlays/kustomize/kustomization.yaml",
        &fixture("kustomization.yaml"),
    );
    ws
}

const FILES: [(&str, &str); 4] = [
    ("helm", "charts/hello/values-helm.yaml"),
    ("yaml", "envs/yaml/hello.yaml"),
    ("flux", "clusters/flux/apps.yaml"),
    (
        "kustomize",
        "apps/hello/overlays/kustomize/kustomization.yaml",
    ),
];

/// `⏎` for CRLF, so a snapshot shows the line ends it kept.
fn visible(s: &str) -> String {
    s.replace("\r\n", "⏎\n")
}

#[test]
fn set_image_edits_each_format_in_place_and_status_reads_them() {
    let ws = layout();
    let mut all = String::new();
    for (env, file) in FILES {
        let before = ws.read(file);
        let run = ws
            .run(&[
                "set-image",
                "--env",
                env,
                "--service",
                "hello",
                "--tag",
                "1.1.0",
                "--digest",
                D,
            ])
            .expect(0);
        let after = ws.read(file);
        assert_ne!(before, after);
        // Only whole lines holding the version differ; the rest is byte for byte.
        let (a, b): (Vec<&str>, Vec<&str>) = (
            before.split_inclusive('\n').collect(),
            after.split_inclusive('\n').collect(),
        );
        if env != "kustomize" {
            assert_eq!(a.len(), b.len(), "{env}");
            for (x, y) in a.iter().zip(&b) {
                if x != y {
                    assert!(
                        x.contains("1.0.0") || x.contains("digest"),
                        "{env}: {x:?} -> {y:?}"
                    );
                }
            }
        }
        all.push_str(&format!(
            "## {env}\n{}\n{}\n",
            run.transcript(),
            visible(&after)
        ));
        // Again: unchanged, exit 0, the file as it is.
        let again = ws
            .run(&[
                "set-image",
                "--env",
                env,
                "--service",
                "hello",
                "--tag",
                "1.1.0",
                "--digest",
                D,
            ])
            .expect(0);
        assert!(again.stdout.contains("unchanged"), "{}", again.transcript());
        assert_eq!(ws.read(file), after);
    }
    insta::assert_snapshot!(all);
    let status = ws.run(&["status"]).expect(0);
    insta::assert_snapshot!(status.transcript());
    let json = ws.run(&["status", "--format", "json"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    for (env, file) in FILES {
        let d = &v["services"][0]["deployed"][env];
        assert_eq!(d["tag"], "1.1.0", "{env}: {v}");
        assert_eq!(d["file"], file);
    }
    // Flux's full marker had no digest, so none is added there; the `:tag` marker
    // holds the tag, so the version reads the same.
    assert_eq!(v["services"][0]["deployed"]["helm"]["digest"], D);
}

#[test]
fn a_dry_run_prints_the_diff_and_writes_nothing() {
    let ws = layout();
    let before = ws.read("charts/hello/values-helm.yaml");
    let run = ws
        .run(&[
            "set-image",
            "--env",
            "helm",
            "--service",
            "hello",
            "--tag",
            "1.1.0",
            "--dry-run",
        ])
        .expect(0);
    assert!(
        run.stdout.contains("-    tag: \"1.0.0\""),
        "{}",
        run.transcript()
    );
    assert!(
        run.stdout.contains("+    tag: \"1.1.0\""),
        "{}",
        run.transcript()
    );
    assert_eq!(ws.read("charts/hello/values-helm.yaml"), before);
}

#[test]
fn codeowners_owns_each_target_file_or_folder() {
    let ws = layout();
    let run = ws.run(&["codeowners"]).expect(0);
    insta::assert_snapshot!(run.stdout);
    // Without `services:`, `{service}` is CODEOWNERS' `*`.
    ws.write(
        ".github/gitops.yaml",
        "environments:\n  - name: dev\n    overlay: apps/{service}/overlays/{env}\n    reviewers: [acme/dev]\n",
    );
    let run = ws.run(&["codeowners"]).expect(0);
    assert!(
        run.stdout.contains("/apps/*/overlays/dev/ @acme/dev"),
        "{}",
        run.stdout
    );
}

/// One bad input: a config (or the layout's), a file to plant, the command.
struct Bad {
    name: &'static str,
    config: Option<&'static str>,
    plant: &'static [(&'static str, &'static str)],
    env: &'static str,
}

#[test]
fn bad_input_is_exit_2_with_the_place_and_a_hint_and_nothing_written() {
    const HOSTILE: &str = "hostile-values.yaml";
    let hostile = HOSTILE;
    let cases = [
        Bad {
            name: "unknown format",
            config: Some(
                "services:\n  hello:\n    image: ghcr.io/acme/hello\n    format: jsonnet\nenvironments:\n  - name: dev\n",
            ),
            plant: &[],
            env: "dev",
        },
        Bad {
            name: "unknown placeholder",
            config: Some(
                "environments:\n  - name: dev\n    file: charts/{app}/values-{env}.yaml\n    format: helm\n",
            ),
            plant: &[],
            env: "dev",
        },
        Bad {
            name: "a field path that does not parse",
            config: Some(
                "environments:\n  - name: dev\n    format: helm\n    file: v.yaml\n    fields: { tag: 'hello..image[x]' }\n",
            ),
            plant: &[],
            env: "dev",
        },
        Bad {
            name: "a file escaping the repository",
            config: Some(
                "environments:\n  - name: dev\n    format: helm\n    file: ../{env}/values.yaml\n",
            ),
            plant: &[],
            env: "dev",
        },
        Bad {
            name: "yaml without fields, flux without a policy",
            config: Some(
                "services:\n  hello:\n    image: ghcr.io/acme/hello\nenvironments:\n  - name: dev\n    format: yaml\n    file: d.yaml\n  - name: uat\n    format: flux\n    file: d.yaml\n",
            ),
            plant: &[],
            env: "dev",
        },
        Bad {
            name: "a flux file with only another policy's marker",
            config: None,
            plant: &[(
                "clusters/flux/apps.yaml",
                "image: ghcr.io/acme/other:1.0.0 # {\"$imagepolicy\": \"flux-system:other\"}\n",
            )],
            env: "flux",
        },
        Bad {
            name: "an alias",
            config: Some(
                "services:\n  hello:\n    image: ghcr.io/acme/hello\nenvironments:\n  - name: dev\n    format: helm\n    file: v.yaml\n    fields: { tag: alias.image.tag }\n",
            ),
            plant: &[("v.yaml", HOSTILE)],
            env: "dev",
        },
        Bad {
            name: "a merge key",
            config: Some(
                "services:\n  hello:\n    image: ghcr.io/acme/hello\nenvironments:\n  - name: dev\n    format: helm\n    file: v.yaml\n    fields: { tag: merged.image.tag }\n",
            ),
            plant: &[("v.yaml", HOSTILE)],
            env: "dev",
        },
        Bad {
            name: "a Helm template",
            config: Some(
                "services:\n  hello:\n    image: ghcr.io/acme/hello\nenvironments:\n  - name: dev\n    format: helm\n    file: v.yaml\n    fields: { tag: template.image.tag }\n",
            ),
            plant: &[("v.yaml", HOSTILE)],
            env: "dev",
        },
        Bad {
            name: "a block scalar",
            config: Some(
                "services:\n  hello:\n    image: ghcr.io/acme/hello\nenvironments:\n  - name: dev\n    format: helm\n    file: v.yaml\n    fields: { tag: block.image.tag }\n",
            ),
            plant: &[("v.yaml", HOSTILE)],
            env: "dev",
        },
        Bad {
            name: "not a single value",
            config: Some(
                "services:\n  hello:\n    image: ghcr.io/acme/hello\nenvironments:\n  - name: dev\n    format: helm\n    file: v.yaml\n    fields: { tag: nested.image.tag }\n",
            ),
            plant: &[("v.yaml", HOSTILE)],
            env: "dev",
        },
        Bad {
            name: "a missing field without create",
            config: Some(
                "services:\n  hello:\n    image: ghcr.io/acme/hello\nenvironments:\n  - name: dev\n    format: helm\n    file: v.yaml\n",
            ),
            plant: &[("v.yaml", "replicaCount: 1\n")],
            env: "dev",
        },
    ];
    let mut all = String::new();
    for c in cases {
        let ws = layout();
        if let Some(cfg) = c.config {
            ws.write(".github/gitops.yaml", cfg);
        }
        for (path, text) in c.plant {
            let text = if *text == hostile {
                fixture(hostile)
            } else {
                text.to_string()
            };
            ws.write(path, &text);
        }
        let before: Vec<String> = c.plant.iter().map(|(p, _)| ws.read(p)).collect();
        let run = ws
            .run(&[
                "set-image",
                "--env",
                c.env,
                "--service",
                "hello",
                "--tag",
                "1.1.0",
            ])
            .expect(2);
        assert!(
            run.stderr.contains("hint:"),
            "{}: {}",
            c.name,
            run.transcript()
        );
        for ((p, _), b) in c.plant.iter().zip(&before) {
            assert_eq!(&ws.read(p), b, "{}", c.name);
        }
        all.push_str(&format!("## {}\n{}\n", c.name, run.transcript()));
    }
    // A `file:` that is a link out of the repository.
    let ws = layout();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("values.yaml"), "image:\n  tag: x\n").unwrap();
    std::fs::create_dir_all(ws.path().join("charts/hello")).unwrap();
    std::fs::remove_file(ws.path().join("charts/hello/values-helm.yaml")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("values.yaml"),
        ws.path().join("charts/hello/values-helm.yaml"),
    )
    .unwrap();
    let run = ws
        .run(&[
            "set-image",
            "--env",
            "helm",
            "--service",
            "hello",
            "--tag",
            "1.1.0",
        ])
        .expect(2);
    assert_eq!(
        std::fs::read_to_string(outside.path().join("values.yaml")).unwrap(),
        "image:\n  tag: x\n"
    );
    let shown = run
        .transcript()
        .replace(&outside.path().display().to_string(), "<outside>");
    all.push_str(&format!("## a file that is a link out\n{shown}\n"));
    insta::assert_snapshot!(all);
}

/// The example layouts (`examples/layouts/`, which `scripts/demo-layout` prepares
/// for the demo): their configs read, `status` finds every version, a release's
/// edit of dev is one tag line, and CODEOWNERS names their files.
#[test]
fn the_example_layouts_read_and_edit() {
    for (layout, file) in [
        ("helm", "charts/hello/values-dev.yaml"),
        (
            "per-service-kustomize",
            "apps/hello/overlays/dev/kustomization.yaml",
        ),
    ] {
        let ws = Workspace::empty();
        crate::util::copy_dir(
            &repo_root().join("examples/layouts").join(layout),
            ws.path(),
        );
        let status = ws.run(&["status", "--format", "json"]).expect(0);
        let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
        for s in v["services"].as_array().unwrap() {
            for env in ["dev", "uat", "prod"] {
                assert!(s["deployed"][env]["tag"].is_string(), "{layout} {env}: {v}");
            }
        }
        let before = ws.read(file);
        ws.run(&[
            "set-image",
            "--env",
            "dev",
            "--service",
            "hello",
            "--tag",
            "dev-main-1234567-1",
            "--digest",
            D,
        ])
        .expect(0);
        let after = ws.read(file);
        assert_eq!(before.lines().count(), after.lines().count(), "{after}");
        let changed: Vec<(&str, &str)> = before
            .lines()
            .zip(after.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed.len(), 2, "{layout}: {changed:?}");
        assert!(changed[0].1.contains("dev-main-1234567-1"), "{changed:?}");
        assert!(changed[1].1.contains(D), "{changed:?}");
        let owners = ws.run(&["codeowners"]).expect(0);
        assert!(owners.stdout.contains("@acme/qa"), "{}", owners.stdout);
    }
}
