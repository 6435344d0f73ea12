//! Each format on small files: what it reads, the bytes an edit changes (and only
//! those), and what it refuses, with the place.

use super::*;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn target(format: Format) -> Target {
    Target {
        path: PathBuf::from("values.yaml"),
        format,
        image: "ghcr.io/acme/hello".into(),
        fields: (format == Format::Helm).then(Fields::helm_default),
        document: None,
        policy: (format == Format::Flux).then(|| "flux-system:hello".to_string()),
        create: false,
    }
}

fn with_fields(format: Format, fields: Fields) -> Target {
    Target {
        fields: Some(fields),
        ..target(format)
    }
}

fn set<'a>(tag: &'a str, digest: Option<&'a str>) -> SetVersion<'a> {
    SetVersion {
        tag: Some(tag),
        digest,
    }
}

fn edited(t: &Target, text: &str, s: SetVersion) -> String {
    match t.edit(text, s).unwrap() {
        Edit::Changed { text, .. } => text,
        Edit::Unchanged => text.to_string(),
    }
}

fn err(t: &Target, text: &str) -> String {
    let e = t.edit(text, set("v2", Some(D2))).unwrap_err();
    format!("{e} | hint: {}", e.hint.clone().unwrap_or_default())
}

#[test]
fn helm_defaults_keep_quotes_comments_crlf_and_no_final_newline() {
    let t = target(Format::Helm);
    let text = "# values\r\nimage:\r\n  repository: ghcr.io/acme/hello  # the repo\r\n\r\n  tag: \"1.0.0\" # pinned\r\n  digest: ''\r\nreplicas: 2";
    let v = t.read(text).unwrap().unwrap();
    assert_eq!(
        (v.tag.as_deref(), v.digest, v.line),
        (Some("1.0.0"), None, 5)
    );
    let out = edited(&t, text, set("1.1.0", Some(D2)));
    assert_eq!(
        out,
        format!(
            "# values\r\nimage:\r\n  repository: ghcr.io/acme/hello  # the repo\r\n\r\n  tag: \"1.1.0\" # pinned\r\n  digest: '{D2}'\r\nreplicas: 2"
        )
    );
    // Again: nothing to do.
    assert_eq!(
        t.edit(&out, set("1.1.0", Some(D2))).unwrap(),
        Edit::Unchanged
    );
}

#[test]
fn helm_writes_no_digest_where_there_is_none_and_clears_a_stale_one() {
    let t = target(Format::Helm);
    let out = edited(&t, "image:\n  tag: v1\n", set("v2", Some(D2)));
    assert_eq!(out, "image:\n  tag: v2\n");
    let out = edited(
        &t,
        &format!("image:\n  tag: v1\n  digest: {D1}\n"),
        set("v2", None),
    );
    assert_eq!(out, "image:\n  tag: v2\n  digest: \"\"\n");
    // A plain version stays plain; one YAML would read as a number is quoted.
    assert_eq!(
        edited(&t, "image:\n  tag: 1.0.0\n", set("1.2.3", None)),
        "image:\n  tag: 1.2.3\n"
    );
    assert_eq!(
        edited(&t, "image:\n  tag: v1\n", set("1.10", None)),
        "image:\n  tag: \"1.10\"\n"
    );
    // `tag:` with nothing, or `~`.
    assert_eq!(
        edited(&t, "image:\n  tag:\nx: 1\n", set("v2", None)),
        "image:\n  tag: v2\nx: 1\n"
    );
    assert_eq!(
        edited(&t, "image:\n  tag: ~\n", set("v2", None)),
        "image:\n  tag: v2\n"
    );
}

#[test]
fn helm_umbrella_paths_indexes_and_the_one_string_form() {
    let t = with_fields(
        Format::Helm,
        Fields::Split {
            repository: None,
            tag: FieldPath::key("hello.image.tag"),
            digest: Some((FieldPath::key("hello.image.digest"), true)),
        },
    );
    let text = "other:\n  image:\n    tag: keep\nhello:\n  image:\n    tag: v1\n    digest: \"\"\n";
    assert_eq!(
        edited(&t, text, set("v2", Some(D2))),
        format!(
            "other:\n  image:\n    tag: keep\nhello:\n  image:\n    tag: v2\n    digest: \"{D2}\"\n"
        )
    );
    let t = with_fields(
        Format::Helm,
        Fields::Reference(FieldPath::key("hello.image")),
    );
    let text = "hello:\n  image: ghcr.io/acme/hello:v1 # app\n";
    assert_eq!(t.read(text).unwrap().unwrap().tag.as_deref(), Some("v1"));
    assert_eq!(
        edited(&t, text, set("v2", Some(D2))),
        format!("hello:\n  image: ghcr.io/acme/hello:v2@{D2} # app\n")
    );
    let t = with_fields(
        Format::Yaml,
        Fields::Reference(FieldPath::key("c[1].image")),
    );
    let text = "c:\n- image: a:1\n- image: b:1\n";
    assert_eq!(
        edited(&t, text, set("v2", None)),
        "c:\n- image: a:1\n- image: ghcr.io/acme/hello:v2\n"
    );
}

#[test]
fn a_registry_port_is_not_a_tag() {
    assert_eq!(
        split_reference("localhost:5000/a/b"),
        ("localhost:5000/a/b", None, None)
    );
    assert_eq!(
        split_reference("localhost:5000/a/b:v1@sha256:x"),
        ("localhost:5000/a/b", Some("v1"), Some("sha256:x"))
    );
}

#[test]
fn create_adds_only_the_new_lines() {
    let mut t = target(Format::Helm);
    assert!(err(&t, "image:\n  repository: x\n").contains("`image.tag` is not in `values.yaml`"));
    t.create = true;
    assert_eq!(
        edited(
            &t,
            "image:\n  repository: x\n\nother: 1\n",
            set("v2", Some(D2))
        ),
        "image:\n  repository: x\n  tag: v2\n\nother: 1\n"
    );
    assert_eq!(
        edited(&t, "replicas: 1 # one\nz: 2", set("v2", None)),
        "replicas: 1 # one\nz: 2\nimage:\n  tag: v2"
    );
}

#[test]
fn refusals_name_the_place_and_say_what_to_do() {
    let t = target(Format::Helm);
    for (text, want) in [
        (
            "base: &b v1\nimage:\n  tag: *b\n",
            "values.yaml:3:8: `image.tag` goes through an alias",
        ),
        (
            "image:\n  tag: &t v1\n",
            "values.yaml:2:8: `image.tag` carries an anchor",
        ),
        (
            "defaults: &d {tag: v1}\nimage:\n  <<: *d\n",
            "values.yaml:3:3: `image.tag` may come from a merge key",
        ),
        (
            "image:\n  tag: \"{{ .Values.global.tag }}\"\n",
            "values.yaml:2:8: the version field holds a Helm template",
        ),
        (
            "image:\n  tag: |\n    v1\n",
            "values.yaml:2:3: the version field is a block scalar",
        ),
        (
            "image:\n  tag: [v1]\n",
            "values.yaml:2:8: `image.tag` is a list, not a single value",
        ),
        ("image: x:1\n", "values.yaml:1:8: `image` is not a mapping"),
        ("image: [\n", "values.yaml:"),
    ] {
        let got = err(&t, text);
        assert!(got.contains(want), "{text:?}: {got}");
        assert!(got.contains("hint: ") && !got.ends_with("hint: "), "{got}");
    }
}

#[test]
fn yaml_picks_the_document_by_kind_and_name_or_by_the_field() {
    let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: hello\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/acme/hello:v1\n";
    let t = with_fields(
        Format::Yaml,
        Fields::Reference(FieldPath::key("spec.template.spec.containers[0].image")),
    );
    let out = edited(&t, text, set("v2", None));
    assert_eq!(out, text.replace("hello:v1", "hello:v2"));
    let t = Target {
        document: Some(DocumentSelector {
            kind: "Deployment".into(),
            name: "nope".into(),
        }),
        ..t
    };
    assert!(err(&t, text).contains("no document of kind `Deployment` named `nope`"));
    let two = format!(
        "{text}---\n{}",
        &text[text.find("apiVersion: apps").unwrap()..]
    );
    let t = Target {
        document: None,
        ..t
    };
    assert!(
        err(&t, &two).contains("2 of them have"),
        "{}",
        err(&t, &two)
    );
}

#[test]
fn flux_sets_the_policy_markers_only() {
    let t = target(Format::Flux);
    let text = concat!(
        "spec:\n",
        "  containers:\n",
        "  - image: ghcr.io/acme/hello:v1 # {\"$imagepolicy\": \"flux-system:hello\"}\n",
        "  - image: ghcr.io/acme/other:v1 # {\"$imagepolicy\": \"flux-system:other\"}\n",
        "images:\n",
        "- name: x\n",
        "  newName: old # {\"$imagepolicy\": \"flux-system:hello:name\"}\n",
        "  newTag: v1 # {\"$imagepolicy\": \"flux-system:hello:tag\"}\n",
        "  digest: '' # {\"$imagepolicy\": \"flux-system:hello:digest\"}\n",
        "label: v1 # not a marker {\"$imagepolicy\": \"flux-system:hello:tag\"}\n",
        "script: |\n",
        "  image: a:v1 # {\"$imagepolicy\": \"flux-system:hello\"}\n",
    );
    let v = t.read(text).unwrap().unwrap();
    assert_eq!((v.tag.as_deref(), v.line), (Some("v1"), 3));
    let out = edited(&t, text, set("v2", Some(D2)));
    let want = text
        .replace("hello:v1 #", "hello:v2 #")
        .replace("newName: old", "newName: ghcr.io/acme/hello")
        .replace("newTag: v1", "newTag: v2")
        .replace("digest: ''", &format!("digest: '{D2}'"));
    assert_eq!(out, want);
    // The full marker keeps a digest where it had one.
    let pinned = format!(
        "image: ghcr.io/acme/hello:v1@{D1} # {{\"$imagepolicy\": \"flux-system:hello\"}}\n"
    );
    assert_eq!(
        edited(&t, &pinned, set("v2", Some(D2))),
        pinned.replace(&format!("v1@{D1}"), &format!("v2@{D2}"))
    );
}

#[test]
fn a_flux_file_without_a_marker_of_the_policy_is_refused() {
    let t = target(Format::Flux);
    let other = "image: a:v1 # {\"$imagepolicy\": \"flux-system:other\"}\n";
    let e = t.read(other).unwrap_err().to_string();
    assert!(e.contains("no marker of image policy `flux-system:hello`: markers of other policies only (`flux-system:other`)"), "{e}");
    let e = err(&t, "image: a:v1\n");
    assert!(e.contains("no setter marker at all"), "{e}");
}

#[test]
fn kustomize_goes_through_the_overlay_editor() {
    let t = Target {
        path: PathBuf::from("overlays/dev/kustomization.yaml"),
        ..target(Format::Kustomize)
    };
    let text = "images:\n  - name: ghcr.io/acme/hello\n    newTag: v1 # keep\n";
    assert_eq!(t.read(text).unwrap().unwrap().tag.as_deref(), Some("v1"));
    assert_eq!(
        edited(&t, text, set("v2", Some(D2))),
        format!("images:\n  - name: ghcr.io/acme/hello\n    newTag: v2 # keep\n    digest: {D2}\n")
    );
}

#[test]
fn fields_that_disagree_are_reported_by_line() {
    let t = target(Format::Flux);
    let text = concat!(
        "a: ghcr.io/acme/hello:v1 # {\"$imagepolicy\": \"flux-system:hello\"}\n",
        "b: v1 # {\"$imagepolicy\": \"flux-system:hello:tag\"}\n",
        "c: v0 # {\"$imagepolicy\": \"flux-system:hello:tag\"}\n",
    );
    let v = t.read(text).unwrap().unwrap();
    assert_eq!(
        (v.tag.as_deref(), v.line, v.differs_at),
        (Some("v1"), 1, Some(3))
    );
    // After a release they agree again.
    let v = t.read(&edited(&t, text, set("v2", None))).unwrap().unwrap();
    assert_eq!(v.differs_at, None);
}
