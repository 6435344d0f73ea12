//! `set-image` through the real binary on fixture overlays that carry their own
//! resources (`tests/fixtures/overlay/<name>/{base,dev}`): the edit keeps every other
//! byte, real Kustomize renders the new reference, refusals leave the file alone,
//! and writes are atomic and keep the file mode.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Command;

use crate::util::{Workspace, copy_dir, repo_root};

const IMG: &str = "ghcr.io/acme/hello";
const TAG: &str = "dev-main-abcdef0-1763300000";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const OVERLAY: &str = "overlays/dev/kustomization.yaml";

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/overlay").join(name)
}

/// A workspace whose `overlays/` is the fixture and whose config names one
/// service, `hello`, with the image `ghcr.io/acme/hello`, and one environment, `dev`.
fn workspace(name: &str) -> Workspace {
    let ws = Workspace::empty();
    copy_dir(&fixture(name), &ws.path().join("overlays"));
    ws.write(
        ".github/gitops.yaml",
        &format!(
            "services:\n  hello:\n    image: {IMG}\nenvironments:\n  - name: dev\n    branches: ['**']\n"
        ),
    );
    ws
}

/// The `image:` references `kubectl kustomize` renders for the dev overlay.
fn rendered_images(ws: &Workspace) -> Vec<String> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(ws.path().join("overlays/dev"))
        .output()
        .expect("kubectl is on the machine (with Kustomize v5)");
    assert!(
        out.status.success(),
        "kustomize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("image: "))
        .map(str::to_string)
        .collect()
}

/// The file as a snapshot can show it: carriage returns and a missing final
/// newline made visible.
fn visible(text: &str) -> String {
    let mut s = text.replace('\r', "␍");
    if !s.ends_with('\n') {
        s.push_str("⟨no newline at end of file⟩\n");
    }
    s
}

fn set_image(ws: &Workspace, extra: &[&str]) -> crate::util::Run {
    let mut args = vec!["set-image", "--env", "dev", "--service", "hello"];
    args.extend_from_slice(extra);
    ws.run(&args)
}

#[test]
fn crlf_comments_and_a_stale_digest() {
    let ws = workspace("crlf-comments");
    let before = ws.read(OVERLAY);
    assert_eq!(
        rendered_images(&ws),
        [
            format!("{IMG}:dev-old-1111111-1700000000@sha256:{}", "a".repeat(64)),
            "busybox:1.36".into()
        ]
    );
    let run = set_image(&ws, &["--tag", TAG]).expect(0);
    let after = ws.read(OVERLAY);
    // The tag keeps its single quotes and comment; the stale digest line goes
    // whole, with its comment; nothing else moves.
    let digest_line = format!("    digest: sha256:{} # stale pin\r\n", "a".repeat(64));
    assert_eq!(
        after,
        before
            .replace("'dev-old-1111111-1700000000'", &format!("'{TAG}'"))
            .replace(&digest_line, "")
    );
    assert!(!after.ends_with('\n') && !after.replace("\r\n", "").contains('\n'));
    insta::assert_snapshot!(run.transcript());
    insta::assert_snapshot!(visible(&after));
    assert_eq!(
        rendered_images(&ws),
        [format!("{IMG}:{TAG}"), "busybox:1.36".into()]
    );
}

#[test]
fn a_renamed_image_keeps_double_quotes_on_a_numeric_tag() {
    let ws = workspace("renamed-quoted");
    let before = ws.read(OVERLAY);
    set_image(&ws, &["--tag", "2.0"]).expect(0);
    let after = ws.read(OVERLAY);
    // `2.0` unquoted would be a float; the neighbour style is double quotes anyway.
    assert_eq!(after, before.replace("\"1.0\"", "\"2.0\""));
    assert_eq!(
        rendered_images(&ws),
        [format!("{IMG}:2.0"), format!("{IMG}:2.0")],
        "container and init container"
    );
}

#[test]
fn an_overlay_without_images_gets_an_entry_at_the_end() {
    let ws = workspace("no-images");
    let before = ws.read(OVERLAY);
    set_image(&ws, &["--tag", TAG, "--digest", DIGEST]).expect(0);
    let after = ws.read(OVERLAY);
    assert!(after.starts_with(&before), "an insertion only:\n{after}");
    assert!(!after.ends_with('\n'), "still no final newline");
    insta::assert_snapshot!(visible(&after));
    assert_eq!(rendered_images(&ws), [format!("{IMG}:{TAG}@{DIGEST}")]);
}

/// A digest alone drops the stale tag (what `kustomize edit set image
/// name@digest` writes), so what renders is the digest, not `v1@digest`; the
/// message names the digest.
#[test]
fn flow_style_digest_only_drops_the_stale_tag() {
    let ws = workspace("flow-style");
    let before = ws.read(OVERLAY);
    let run = set_image(&ws, &["--digest", DIGEST]).expect(0);
    let after = ws.read(OVERLAY);
    assert_eq!(
        after,
        before.replace("newTag: v1}", &format!("digest: {DIGEST}}}"))
    );
    assert_eq!(
        rendered_images(&ws),
        [format!("{IMG}@{DIGEST}"), "busybox:1.36".into()]
    );
    assert_eq!(
        run.stdout,
        format!("updated {OVERLAY}: hello `v1` → `@{DIGEST}`\n")
    );
    // The same digest again: unchanged, and said so with the digest.
    let again = set_image(&ws, &["--digest", DIGEST]).expect(0);
    assert_eq!(ws.read(OVERLAY), after);
    assert_eq!(
        again.stdout,
        format!("{OVERLAY}: unchanged (hello already at `@{DIGEST}`)\n")
    );
}

#[test]
fn a_new_entry_follows_the_last_one_in_its_style() {
    let ws = workspace("append-entry");
    let before = ws.read(OVERLAY);
    let run = set_image(&ws, &["--tag", TAG, "--dry-run"]).expect(0);
    assert_eq!(ws.read(OVERLAY), before, "a dry run writes nothing");
    insta::assert_snapshot!(run.transcript());
    set_image(&ws, &["--tag", TAG]).expect(0);
    let after = ws.read(OVERLAY);
    assert_eq!(
        after,
        before.replace(
            "  newTag: 1.27-alpine\n",
            &format!("  newTag: 1.27-alpine\n- name: {IMG}\n  newTag: {TAG}\n")
        )
    );
    assert_eq!(
        rendered_images(&ws),
        [format!("{IMG}:{TAG}"), "nginx:1.27-alpine".into()]
    );
}

#[test]
fn writes_are_atomic_keep_the_mode_and_unchanged_rewrites_nothing() {
    let ws = workspace("append-entry");
    let path = ws.path().join(OVERLAY);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let inode = std::fs::metadata(&path).unwrap().ino();
    set_image(&ws, &["--tag", TAG]).expect(0);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640, "mode kept");
    assert_ne!(meta.ino(), inode, "a new file renamed over the old one");
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["kustomization.yaml"], "no temp files left");

    let run = set_image(&ws, &["--tag", TAG]).expect(0);
    assert!(run.stdout.contains("unchanged"), "{}", run.transcript());
    assert_eq!(
        std::fs::metadata(&path).unwrap().ino(),
        meta.ino(),
        "an unchanged run does not rewrite the file"
    );
}

#[test]
fn refusals_exit_2_name_the_place_and_leave_the_file_alone() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "malformed",
            "resources:\n- ../base\nimages:\n- name: ghcr.io/acme/hello\n  newTag: [v1\n",
            &["--tag", TAG],
        ),
        (
            "duplicate",
            "images:\n- name: ghcr.io/acme/hello\n  newTag: a\n- name: ghcr.io/acme/hello # again\n  newTag: b\n",
            &["--tag", TAG],
        ),
        (
            "alias",
            "x-common: &img\n  name: ghcr.io/acme/hello\nimages:\n- *img\n",
            &["--tag", TAG],
        ),
        (
            "not_a_list",
            "images:\n  name: ghcr.io/acme/hello\n",
            &["--tag", TAG],
        ),
        (
            "multi_document",
            "resources:\n- ../base\n---\nimages: []\n",
            &["--tag", TAG],
        ),
        ("bad_tag", "resources:\n- ../base\n", &["--tag=-not-a-tag"]),
        (
            "bad_digest",
            "resources:\n- ../base\n",
            &["--digest", "sha256:abc"],
        ),
    ];
    let mut all = String::new();
    for (name, text, args) in cases {
        let ws = workspace("append-entry");
        ws.write(OVERLAY, text);
        let run = set_image(&ws, args).expect(2);
        assert_eq!(ws.read(OVERLAY), *text, "{name}: the file is untouched");
        assert!(
            run.stderr.contains("hint: "),
            "{name}: {}",
            run.transcript()
        );
        all.push_str(&format!("## {name}\n{}\n", run.transcript()));
    }
    insta::assert_snapshot!(all);
}

/// `status` finds a service's entry as `set-image` does, by `name` or `newName`:
/// an entry that renames the service's image (`name: image2`, `newName:
/// my-image2`) is the one `set-image` edits, and the one `status` reports, with
/// the config's services and without.
#[test]
fn status_and_set_image_find_the_same_renamed_entry() {
    let ws = Workspace::empty();
    ws.write(
        ".github/gitops.yaml",
        "services:\n  svc:\n    image: image2\nenvironments:\n  - name: dev\n    branches: ['**']\n  - name: prod\n    branches: [main]\n",
    );
    ws.write(
        "overlays/dev/kustomization.yaml",
        "images:\n- name: image2\n  newName: my-image2\n  newTag: my-tag\n",
    );
    ws.write(
        "overlays/prod/kustomization.yaml",
        "images:\n- name: other\n  newName: image2\n  newTag: prod-tag\n",
    );
    let deployed = |ws: &Workspace| -> (String, String) {
        let run = ws.run(&["status", "--format", "json"]).expect(0);
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let d = &v["services"][0]["deployed"];
        (d["dev"]["tag"].to_string(), d["prod"]["tag"].to_string())
    };
    // By `name` in dev, by `newName` in prod.
    assert_eq!(
        deployed(&ws),
        ("\"my-tag\"".to_string(), "\"prod-tag\"".to_string())
    );
    let table = ws.run(&["status"]).expect(0);
    insta::assert_snapshot!(table.transcript());
    for env in ["dev", "prod"] {
        ws.run(&["set-image", "--env", env, "--service", "svc", "--tag", "v2"])
            .expect(0);
    }
    assert_eq!(
        ws.read("overlays/dev/kustomization.yaml"),
        "images:\n- name: image2\n  newName: my-image2\n  newTag: v2\n"
    );
    assert_eq!(deployed(&ws), ("\"v2\"".to_string(), "\"v2\"".to_string()));
    // Two entries of one name: `status` refuses them as `set-image` does.
    let twice = "images:\n- name: image2\n  newTag: a\n- name: image2\n  newTag: b\n";
    ws.write("overlays/dev/kustomization.yaml", twice);
    let s = ws.run(&["status"]).expect(2);
    let e = ws
        .run(&[
            "set-image",
            "--env",
            "dev",
            "--service",
            "svc",
            "--tag",
            "v3",
        ])
        .expect(2);
    assert_eq!(s.stderr, e.stderr);
    assert!(
        s.stderr
            .contains("overlays/dev/kustomization.yaml:4:3: image `image2` has two entries"),
        "{}",
        s.transcript()
    );
}

/// The tag and digest cases of Kustomize's own `TestSetImage`
/// (kubernetes-sigs/kustomize, `kustomize/commands/edit/set/setimage_test.go`,
/// v5), through `set-image`. Kustomize checks that its output contains the
/// expected lines; where it re-sorts keys (`digest` first) only the entries can
/// be compared, not the bytes. Cases that change `newName` are out of scope:
/// `set-image` sets tags and digests. The default file stands in for Kustomize's
/// `WriteTestKustomization`.
#[test]
fn kustomize_set_image_test_cases_for_tags_and_digests() {
    const D: &str = "sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3";
    let default = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n";
    // (Kustomize's description or argument, file, image, tag, digest, expected, bytes compared)
    type Case<'a> = (
        &'a str,
        String,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        String,
        bool,
    );
    let cases: Vec<Case> = vec![
        (
            "image1:my-tag",
            default.into(),
            "image1",
            Some("my-tag"),
            None,
            "images:\n- name: image1\n  newTag: my-tag".into(),
            true,
        ),
        (
            "image1@sha256:…",
            default.into(),
            "image1",
            None,
            Some(D),
            format!("images:\n- digest: {D}\n  name: image1"),
            false,
        ),
        (
            "my-image1:my-tag@sha256:…",
            default.into(),
            "my-image1",
            Some("my-tag"),
            Some(D),
            format!("images:\n- digest: {D}\n  name: my-image1\n  newTag: my-tag"),
            false,
        ),
        (
            "override new tag and new name with just a new tag",
            "images:\n- name: image1\n  newTag: my-tag".into(),
            "image1",
            Some("v1"),
            None,
            "images:\n- name: image1\n  newTag: v1".into(),
            true,
        ),
        (
            "multiple args with multiple overrides (image2 and image3)",
            "images:\n- name: image1\n  newName: my-image1\n  newTag: my-tag1\n- name: image2\n  newName: my-image2\n  newTag: my-tag2\n- name: image3\n  newTag: my-tag".into(),
            "image2",
            None,
            Some(D),
            format!("images:\n- name: image1\n  newName: my-image1\n  newTag: my-tag1\n- digest: {D}\n  name: image2\n  newName: my-image2\n- name: image3\n  newTag: my-tag"),
            false,
        ),
        (
            "override new tag but keep new name",
            "images:\n- name: image1\n  newName: foo.bar.foo:8800/foo/image1\n  newTag: my-tag".into(),
            "image1",
            Some("v1"),
            None,
            "images:\n- name: image1\n  newName: foo.bar.foo:8800/foo/image1\n  newTag: v1".into(),
            true,
        ),
        (
            "do not set asterisk as new name for existing image",
            "images:\n- name: image1\n  newTag: my-tag".into(),
            "image1",
            Some("v1"),
            None,
            "images:\n- name: image1\n  newTag: v1".into(),
            true,
        ),
        (
            "do not set asterisk as new name",
            default.into(),
            "image1",
            Some("v1"),
            None,
            "images:\n- name: image1\n  newTag: v1".into(),
            true,
        ),
        (
            "keep new name and update digest",
            "images:\n- name: image2\n  newName: my-image2\n  digest: sha256:abcdef12345".into(),
            "image2",
            None,
            Some(D),
            format!("images:\n- digest: {D}\n  name: image2\n  newName: my-image2"),
            false,
        ),
        (
            "keep new name, remove tag, and set digest",
            "images:\n- name: image2\n  newName: my-image2\n  newTag: my-tag".into(),
            "image2",
            None,
            Some(D),
            format!("images:\n- digest: {D}\n  name: image2\n  newName: my-image2"),
            false,
        ),
    ];
    type Entry = std::collections::BTreeMap<String, String>;
    let entries = |text: &str| -> Vec<Entry> {
        let v: serde_norway::Value = serde_norway::from_str(text).unwrap();
        serde_norway::from_value(v["images"].clone()).unwrap()
    };
    let mut bytes = 0;
    for (what, file, image, tag, digest, expected, compare_bytes) in &cases {
        let ws = Workspace::empty();
        ws.write(
            ".github/gitops.yaml",
            &format!(
                "services:\n  svc:\n    image: {image}\nenvironments:\n  - name: dev\n    branches: ['**']\n"
            ),
        );
        ws.write(OVERLAY, file);
        let mut args = vec!["set-image", "--env", "dev", "--service", "svc"];
        if let Some(t) = tag {
            args.extend(["--tag", t]);
        }
        if let Some(d) = digest {
            args.extend(["--digest", d]);
        }
        ws.run(&args).expect(0);
        let out = ws.read(OVERLAY);
        if *compare_bytes {
            assert!(out.contains(expected.as_str()), "{what}:\n{out}");
            bytes += 1;
        }
        assert_eq!(entries(&out), entries(expected), "{what}:\n{out}");
    }
    assert_eq!((cases.len(), bytes), (10, 5));
}
