//! Edited overlays render with real Kustomize (`kubectl kustomize`, v5) to the
//! new image reference.

use std::process::Command;

use crate::util::Workspace;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn render(ws: &Workspace, env: &str) -> Vec<String> {
    let out = Command::new("kubectl")
        .args([
            "kustomize",
            &ws.path().join("overlays").join(env).display().to_string(),
        ])
        .output()
        .expect("kubectl is on the machine (with Kustomize v5)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("- image: ")
                .or_else(|| l.trim().strip_prefix("image: "))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn bundled_overlays_render_the_new_image() {
    let ws = Workspace::example();
    ws.run(&[
        "set-image",
        "--env",
        "uat",
        "--service",
        "hello",
        "--tag",
        "tst-abcdef0-1763300000",
        "--digest",
        DIGEST,
    ])
    .expect(0);
    assert_eq!(
        render(&ws, "uat"),
        [format!(
            "ghcr.io/acme/hello:tst-abcdef0-1763300000@{DIGEST}"
        )]
    );
    // A tag alone drops the stale digest, so the tag is what runs.
    ws.run(&[
        "set-image",
        "--env",
        "prod",
        "--service",
        "hello",
        "--tag",
        "prd-1.5.0",
    ])
    .expect(0);
    assert_eq!(render(&ws, "prod"), ["ghcr.io/acme/hello:prd-1.5.0"]);
}

#[test]
fn renamed_images_flow_style_and_crlf_render() {
    let ws = Workspace::example();
    // The base names `hello`; the overlay renames it to the registry image.
    let dep = ws
        .read("overlays/base/deployment.yaml")
        .replace("image: ghcr.io/acme/hello", "image: hello");
    ws.write("overlays/base/deployment.yaml", &dep);
    ws.write(
        "overlays/dev/kustomization.yaml",
        "resources:\r\n  - ../base\r\nimages: [{name: hello, newName: ghcr.io/acme/hello, newTag: old}]\r\n",
    );
    ws.run(&[
        "set-image",
        "--env",
        "dev",
        "--service",
        "hello",
        "--tag",
        "dev-x-1234567-1",
    ])
    .expect(0);
    assert_eq!(
        ws.read("overlays/dev/kustomization.yaml"),
        "resources:\r\n  - ../base\r\nimages: [{name: hello, newName: ghcr.io/acme/hello, newTag: dev-x-1234567-1}]\r\n"
    );
    assert_eq!(render(&ws, "dev"), ["ghcr.io/acme/hello:dev-x-1234567-1"]);
}

#[test]
fn an_overlay_without_images_gets_one_that_renders() {
    let ws = Workspace::example();
    ws.write(
        "overlays/dev/kustomization.yaml",
        "# dev\nresources:\n- ../base\nnamespace: dev # ns",
    );
    ws.run(&[
        "set-image",
        "--env",
        "dev",
        "--service",
        "hello",
        "--tag",
        "dev-y-7654321-2",
        "--digest",
        DIGEST,
    ])
    .expect(0);
    insta::assert_snapshot!(ws.read("overlays/dev/kustomization.yaml"));
    assert_eq!(
        render(&ws, "dev"),
        [format!("ghcr.io/acme/hello:dev-y-7654321-2@{DIGEST}")]
    );
}

/// A new `images:` goes after the trailing comments, so switching a commented-out
/// item on, and a scaffold tool's insert before its marker line (kubebuilder's
/// `insertStrings`, `pkg/machinery/scaffold.go`, writes fragments before the
/// `+kubebuilder:scaffold:…` line), still land in `resources:` and render.
#[test]
fn trailing_comments_stay_with_their_list_and_still_render_when_switched_on() {
    let ws = Workspace::example();
    for extra in ["extra", "scaffolded"] {
        ws.write(
            &format!("overlays/{extra}/kustomization.yaml"),
            &format!("configMapGenerator:\n- name: {extra}\n  literals: [a=b]\n"),
        );
    }
    ws.write(
        "overlays/dev/kustomization.yaml",
        "resources:\n- ../base\n# - ../extra\n# +kubebuilder:scaffold:resources\n",
    );
    ws.run(&[
        "set-image",
        "--env",
        "dev",
        "--service",
        "hello",
        "--tag",
        "dev-z-1234567-3",
    ])
    .expect(0);
    let edited = ws.read("overlays/dev/kustomization.yaml");
    assert_eq!(
        edited,
        "resources:\n- ../base\n# - ../extra\n# +kubebuilder:scaffold:resources\nimages:\n- name: ghcr.io/acme/hello\n  newTag: dev-z-1234567-3\n"
    );
    ws.write(
        "overlays/dev/kustomization.yaml",
        &edited.replace("# - ../extra", "- ../extra").replace(
            "# +kubebuilder:scaffold:resources",
            "- ../scaffolded\n# +kubebuilder:scaffold:resources",
        ),
    );
    let out = Command::new("kubectl")
        .args([
            "kustomize",
            &ws.path().join("overlays/dev").display().to_string(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["name: extra-", "name: scaffolded-"] {
        assert!(stdout.contains(name), "{name} rendered:\n{stdout}");
    }
    assert_eq!(render(&ws, "dev"), ["ghcr.io/acme/hello:dev-z-1234567-3"]);
}

/// A digest alone drops a stale tag, as `kustomize edit set image name@digest`
/// does: its `RunSetImage` (kubernetes-sigs/kustomize,
/// `kustomize/commands/edit/set/setimage.go`) replaces the entry with the one
/// parsed from the argument, which has no tag, and its `setimage_test.go` case
/// "multiple args with multiple overrides" turns `{name: image2, newName:
/// my-image2, newTag: my-tag2}` into `{digest: …, name: image2, newName:
/// my-image2}`. With both set, Kustomize renders `name:tag@digest`, which reads
/// as the old tag.
#[test]
fn a_digest_alone_renders_without_the_stale_tag() {
    let ws = Workspace::example();
    let run = ws
        .run(&[
            "set-image",
            "--env",
            "dev",
            "--service",
            "hello",
            "--digest",
            DIGEST,
        ])
        .expect(0);
    assert_eq!(render(&ws, "dev"), [format!("ghcr.io/acme/hello@{DIGEST}")]);
    insta::assert_snapshot!(run.transcript());
    // status reads what renders: no tag, the digest.
    let status = ws.run(&["status", "--format", "json"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let dev = &v["services"][0]["deployed"]["dev"];
    assert_eq!(dev["tag"], serde_json::Value::Null, "{dev}");
    assert_eq!(dev["digest"], DIGEST, "{dev}");
}
