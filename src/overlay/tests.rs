//! The editor's unit and property tests.

use super::edit::*;
use super::*;

const IMG: &str = "ghcr.io/acme/hello";
const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn set(text: &str, tag: Option<&str>, digest: Option<&str>) -> String {
    match set_image(
        Path::new("k.yaml"),
        text,
        &SetImage {
            image: IMG,
            tag,
            digest,
        },
    )
    .unwrap()
    {
        Edit::Changed { text, .. } => text,
        Edit::Unchanged => text.to_string(),
    }
}

fn err(text: &str) -> String {
    set_image(
        Path::new("k.yaml"),
        text,
        &SetImage {
            image: IMG,
            tag: Some("v2"),
            digest: None,
        },
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn replaces_only_the_value_keeping_comments() {
    let text = "# top\nimages:\n  # ours\n  - name: ghcr.io/acme/hello # the app\n    newTag: v1 # bump me\n\n  - name: other\n    newTag: x\n";
    assert_eq!(
        set(text, Some("v2"), None),
        text.replace("newTag: v1 #", "newTag: v2 #")
    );
}

#[test]
fn keeps_quoting_style() {
    let text = "images:\n- name: 'ghcr.io/acme/hello'\n  newTag: \"v1\"\n";
    assert_eq!(
        set(text, Some("v2"), None),
        "images:\n- name: 'ghcr.io/acme/hello'\n  newTag: \"v2\"\n"
    );
    let text = "images:\n- name: ghcr.io/acme/hello\n  newTag: 'v1' # x\n";
    assert_eq!(
        set(text, Some("1.0"), None),
        "images:\n- name: ghcr.io/acme/hello\n  newTag: '1.0' # x\n"
    );
}

#[test]
fn quotes_values_yaml_would_not_read_as_strings() {
    let text = "images:\n- name: ghcr.io/acme/hello\n  newTag: v1\n";
    for v in ["1.0", "2", "true", "1e3", "0x1F", "null", "2024-01-01"] {
        let out = set(text, Some(v), None);
        assert_eq!(
            out,
            format!("images:\n- name: ghcr.io/acme/hello\n  newTag: \"{v}\"\n")
        );
        assert_eq!(
            find_image(Path::new("k"), &out, IMG)
                .unwrap()
                .unwrap()
                .new_tag
                .as_deref(),
            Some(v)
        );
    }
}

#[test]
fn crlf_and_missing_final_newline_survive() {
    let text = "resources:\r\n- base\r\nimages:\r\n- name: ghcr.io/acme/hello\r\n  newTag: v1";
    assert_eq!(
        set(text, Some("v2"), Some(D1)),
        "resources:\r\n- base\r\nimages:\r\n- name: ghcr.io/acme/hello\r\n  newTag: v2\r\n  digest: sha256:1111111111111111111111111111111111111111111111111111111111111111"
    );
    let text = "resources:\r\n- base\r\n";
    assert_eq!(
        set(text, Some("v2"), None),
        "resources:\r\n- base\r\nimages:\r\n- name: ghcr.io/acme/hello\r\n  newTag: v2\r\n"
    );
    let text = "resources:\n  - base";
    assert_eq!(
        set(text, Some("v2"), None),
        "resources:\n  - base\nimages:\n  - name: ghcr.io/acme/hello\n    newTag: v2"
    );
}

#[test]
fn stale_digest_goes_with_its_comment_and_new_digest_is_written() {
    let text = "images:\n  - name: ghcr.io/acme/hello\n    newTag: v1\n    digest: sha256:1111111111111111111111111111111111111111111111111111111111111111 # pinned\n  - name: b\n";
    assert_eq!(
        set(text, Some("v2"), None),
        "images:\n  - name: ghcr.io/acme/hello\n    newTag: v2\n  - name: b\n"
    );
    assert_eq!(
        set(text, Some("v2"), Some(D2)),
        text.replace("v1", "v2").replace(D1, D2)
    );
    // A digest alone drops the stale tag (its line), as a tag alone drops the
    // digest: `image:v1@sha256:…` would read as v1 though v1 is not what runs.
    assert_eq!(
        set(text, None, Some(D2)),
        text.replace("    newTag: v1\n", "").replace(D1, D2)
    );
    // The same pin again, tag already gone: nothing to do.
    let pinned = text.replace("    newTag: v1\n", "").replace(D1, D2);
    assert_eq!(set(&pinned, None, Some(D2)), pinned);
    // The stale tag goes from a dash line, a flow entry, and beside a new digest.
    assert_eq!(
        set(
            "images:\n- newTag: v1\n  name: ghcr.io/acme/hello\n",
            None,
            Some(D1)
        ),
        format!("images:\n- name: ghcr.io/acme/hello\n  digest: {D1}\n")
    );
    assert_eq!(
        set(
            "images: [{name: ghcr.io/acme/hello, newTag: v1}, {name: b}]\n",
            None,
            Some(D1)
        ),
        format!("images: [{{name: ghcr.io/acme/hello, digest: {D1}}}, {{name: b}}]\n")
    );
    assert_eq!(
        set(
            "images:\n- name: ghcr.io/acme/hello\n  newTag: v1 # old\nnamespace: x\n",
            None,
            Some(D1)
        ),
        format!("images:\n- name: ghcr.io/acme/hello\n  digest: {D1}\nnamespace: x\n")
    );
    // An empty `newTag:` is already unset and stays as written.
    assert_eq!(
        set(
            "images:\n- name: ghcr.io/acme/hello\n  newTag:\n",
            None,
            Some(D1)
        ),
        format!("images:\n- name: ghcr.io/acme/hello\n  newTag:\n  digest: {D1}\n")
    );
    // A digest first on the dash line: the next key moves up.
    let text = "images:\n- digest: sha256:1111111111111111111111111111111111111111111111111111111111111111\n  name: ghcr.io/acme/hello\n  newTag: v1\n";
    assert_eq!(
        set(text, Some("v2"), None),
        "images:\n- name: ghcr.io/acme/hello\n  newTag: v2\n"
    );
}

#[test]
fn inserts_missing_keys_in_the_entrys_style() {
    let text =
        "images:\n    -   name: ghcr.io/acme/hello\n        newName: ghcr.io/acme/hello\n# end\n";
    assert_eq!(
        set(text, Some("v2"), Some(D1)),
        format!(
            "images:\n    -   name: ghcr.io/acme/hello\n        newName: ghcr.io/acme/hello\n        newTag: v2\n        digest: {D1}\n# end\n"
        )
    );
}

#[test]
fn appends_an_entry_copying_neighbours() {
    let text = "images:\n  - name: \"a\"\n    newTag: \"1\"\n  - name: \"b\"\n    newTag: \"2\"\n\nnamespace: x\n";
    assert_eq!(
        set(text, Some("v2"), None),
        "images:\n  - name: \"a\"\n    newTag: \"1\"\n  - name: \"b\"\n    newTag: \"2\"\n  - name: \"ghcr.io/acme/hello\"\n    newTag: \"v2\"\n\nnamespace: x\n"
    );
    // Flush lists stay flush; the list is never re-sorted.
    let text = "images:\n- name: z\n  newTag: \"1\"\n- name: a\n  newTag: \"2\"\n";
    assert_eq!(
        set(text, Some("v2"), None),
        "images:\n- name: z\n  newTag: \"1\"\n- name: a\n  newTag: \"2\"\n- name: ghcr.io/acme/hello\n  newTag: \"v2\"\n"
    );
}

#[test]
fn adds_images_when_missing_or_empty() {
    assert_eq!(
        set("", Some("v2"), None),
        "images:\n- name: ghcr.io/acme/hello\n  newTag: v2\n"
    );
    assert_eq!(
        set("# only a comment\n", Some("v2"), None),
        "# only a comment\nimages:\n- name: ghcr.io/acme/hello\n  newTag: v2\n"
    );
    assert_eq!(
        set("images:\nnamespace: x\n", Some("v2"), None),
        "images:\n- name: ghcr.io/acme/hello\n  newTag: v2\nnamespace: x\n"
    );
    assert_eq!(
        set("images: ~ # none\n", Some("v2"), None),
        "images: # none\n- name: ghcr.io/acme/hello\n  newTag: v2\n"
    );
    assert_eq!(
        set("images: []\n", Some("v2"), None),
        "images: [{name: ghcr.io/acme/hello, newTag: v2}]\n"
    );
    assert_eq!(
        set("---\nresources: [a]\n", Some("v2"), None),
        "---\nresources: [a]\nimages:\n- name: ghcr.io/acme/hello\n  newTag: v2\n"
    );
}

#[test]
fn edits_flow_style() {
    let text = "images: [{name: ghcr.io/acme/hello, newTag: v1, digest: sha256:1111111111111111111111111111111111111111111111111111111111111111}, {name: b}]\n";
    assert_eq!(
        set(text, Some("v2"), None),
        "images: [{name: ghcr.io/acme/hello, newTag: v2}, {name: b}]\n"
    );
    let text = "images:\n- {name: ghcr.io/acme/hello}\n";
    assert_eq!(
        set(text, Some("v2"), Some(D1)),
        format!("images:\n- {{name: ghcr.io/acme/hello, newTag: v2, digest: {D1}}}\n")
    );
}

#[test]
fn matches_by_new_name_and_sets_every_renamed_entry() {
    let text = "images:\n- name: hello\n  newName: ghcr.io/acme/hello\n  newTag: v1\n- name: hello-old\n  newName: ghcr.io/acme/hello\n  newTag: v1\n";
    assert_eq!(set(text, Some("v2"), None), text.replace("v1", "v2"));
}

#[test]
fn unchanged_is_unchanged() {
    let text = "images:\n- name: ghcr.io/acme/hello\n  newTag: v1\n";
    assert_eq!(
        set_image(
            Path::new("k"),
            text,
            &SetImage {
                image: IMG,
                tag: Some("v1"),
                digest: None
            }
        )
        .unwrap(),
        Edit::Unchanged
    );
}

#[test]
fn refusals_name_the_place() {
    assert_eq!(
        err("images:\n- name: ghcr.io/acme/hello\n  newTag: v1\n- name: ghcr.io/acme/hello\n"),
        "k.yaml:4:3: image `ghcr.io/acme/hello` has two entries in `images:` (lines 2 and 4)"
    );
    assert_eq!(
        err("base: &b\n  name: ghcr.io/acme/hello\nimages:\n- *b\n"),
        "k.yaml:4:3: anchors and aliases inside `images:` are not supported"
    );
    assert_eq!(
        err("images:\n- &a name: ghcr.io/acme/hello\n"),
        "k.yaml:2:3: anchors and aliases inside `images:` are not supported"
    );
    assert!(
        err("images:\n- name: [x\n").starts_with("k.yaml:3:1: invalid YAML"),
        "{}",
        err("images:\n- name: [x\n")
    );
    assert_eq!(
        err("images: hello\n"),
        "k.yaml:1:9: `images:` is not a list"
    );
    assert_eq!(
        err("images:\n- hello\n"),
        "k.yaml:2:3: an `images:` item is not a mapping"
    );
    assert_eq!(
        err("- a\n"),
        "k.yaml:1:1: the kustomization is not a mapping"
    );
    assert_eq!(
        err("a: 1\n---\nb: 2\n"),
        "k.yaml:3:1: the kustomization holds more than one YAML document"
    );
    assert_eq!(
        err("images:\n- newTag: v1\n"),
        "k.yaml:2:3: an `images:` item has no `name`"
    );
    let bad = set_image(
        Path::new("k"),
        "",
        &SetImage {
            image: IMG,
            tag: Some("-x"),
            digest: None,
        },
    )
    .unwrap_err();
    assert_eq!(bad.to_string(), "`-x` is not a valid image tag");
    let bad = set_image(
        Path::new("k"),
        "",
        &SetImage {
            image: IMG,
            tag: None,
            digest: Some("sha256:12"),
        },
    )
    .unwrap_err();
    assert_eq!(bad.to_string(), "`sha256:12` is not a valid digest");
}

#[test]
fn non_ascii_text_keeps_byte_positions_right() {
    let text = "# café ☕\nimages:\n- name: ghcr.io/acme/hello # ünïcode\n  newTag: v1\n";
    assert_eq!(set(text, Some("v2"), None), text.replace("v1", "v2"));
}

#[test]
fn byte_order_mark_is_kept_and_not_indentation() {
    let text = "\u{feff}resources:\n- a\n";
    assert_eq!(
        set(text, Some("v2"), None),
        "\u{feff}resources:\n- a\nimages:\n- name: ghcr.io/acme/hello\n  newTag: v2\n"
    );
    let text = "\u{feff}images:\n- name: ghcr.io/acme/hello\n  newTag: v1\n";
    assert_eq!(set(text, Some("v2"), None), text.replace("v1", "v2"));
}

#[test]
fn empty_and_null_values_are_unset_and_filled_in_place() {
    let text = "images:\n- name: ghcr.io/acme/hello\n  newTag:\n  digest: ~\n";
    let e = find_image(Path::new("k"), text, IMG).unwrap().unwrap();
    assert_eq!((e.new_tag, e.digest), (None, None));
    assert_eq!(
        set(text, Some("v2"), None),
        "images:\n- name: ghcr.io/acme/hello\n  newTag: v2\n"
    );
    assert_eq!(
        set(text, Some("v2"), Some(D1)),
        format!("images:\n- name: ghcr.io/acme/hello\n  newTag: v2\n  digest: {D1}\n")
    );
    let text = "images:\n- {name: ghcr.io/acme/hello, newTag: }\n";
    assert_eq!(
        set(text, Some("v2"), None),
        "images:\n- {name: ghcr.io/acme/hello, newTag: v2 }\n"
    );
}

#[test]
fn block_scalars_and_duplicate_keys_are_refused_not_mangled() {
    assert_eq!(
        err("images:\n- name: ghcr.io/acme/hello\n  newTag: >-\n    v1\n  digest: x\n"),
        "k.yaml:3:3: `newTag` of image `ghcr.io/acme/hello` is a block scalar (`|` or `>`)"
    );
    assert_eq!(
        err("images:\n- name: ghcr.io/acme/hello\n  newTag: v1\n  newTag: v0\n"),
        "k.yaml:4:3: the key `newTag` appears twice in one `images:` item"
    );
    // Another image's block scalar is not ours to refuse.
    let text =
        "images:\n- name: other\n  newTag: |-\n    v1\n- name: ghcr.io/acme/hello\n  newTag: v1\n";
    assert_eq!(
        set(text, Some("v2"), None),
        "images:\n- name: other\n  newTag: |-\n    v1\n- name: ghcr.io/acme/hello\n  newTag: v2\n"
    );
    // Multi-line plain scalars are one span: replaced whole.
    let text = "images:\n- name: ghcr.io/acme/hello\n  newTag: a\n    b\n";
    assert_eq!(
        set(text, Some("v2"), None),
        "images:\n- name: ghcr.io/acme/hello\n  newTag: v2\n"
    );
}

#[test]
fn flow_lists_and_flow_items_grow_in_their_own_style() {
    let text = "images: [\n  {name: x, newTag: y}\n]\n";
    assert_eq!(
        set(text, Some("v2"), None),
        "images: [\n  {name: x, newTag: y}, {name: ghcr.io/acme/hello, newTag: v2}\n]\n"
    );
    let text = "images:\n  - {name: a, newTag: b}\nnamespace: x\n";
    assert_eq!(
        set(text, Some("v2"), None),
        "images:\n  - {name: a, newTag: b}\n  - {name: ghcr.io/acme/hello, newTag: v2}\nnamespace: x\n"
    );
    assert_eq!(
        err("{resources: [a]}\n"),
        "k.yaml:1:1: the kustomization is a flow mapping (`{…}`) with no `images:`"
    );
}

#[test]
fn inserted_lines_take_the_ending_of_the_line_they_follow() {
    let text =
        "resources:\n- a\nimages:\r\n- name: ghcr.io/acme/hello\r\n  newTag: v1\r\nnamespace: x\n";
    assert_eq!(
        set(text, Some("v1"), Some(D1)),
        format!(
            "resources:\n- a\nimages:\r\n- name: ghcr.io/acme/hello\r\n  newTag: v1\r\n  digest: {D1}\r\nnamespace: x\n"
        )
    );
}

#[test]
fn comments_after_the_list_stay_after_it() {
    let text = "images:\n  - name: x\n    newTag: v1\n  # - name: old\n# end\n";
    assert_eq!(
        set(text, Some("v2"), None),
        "images:\n  - name: x\n    newTag: v1\n  - name: ghcr.io/acme/hello\n    newTag: v2\n  # - name: old\n# end\n"
    );
    let text = "images:\n- name: ghcr.io/acme/hello\n  newTag: v1\n...\n";
    assert_eq!(set(text, Some("v2"), None), text.replace("v1", "v2"));
}

#[test]
fn write_atomic_keeps_mode_refuses_links_and_creates_0644() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.yaml");
    std::fs::write(&real, "a\n").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("kustomization.yaml");
    std::os::unix::fs::symlink("real.yaml", &link).unwrap();
    // A link is never written through (it could point anywhere).
    let e = write_atomic(&link, b"b\n").unwrap_err();
    assert_eq!(crate::error::exit_code(&e), 2);
    assert!(e.to_string().contains("is a symbolic link"), "{e}");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "a\n");
    write_atomic(&real, b"b\n").unwrap();
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "b\n");
    let mode = std::fs::metadata(&real).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let new = dir.path().join("new.yaml");
    write_atomic(&new, b"c\n").unwrap();
    let mode = std::fs::metadata(&new).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "no temp file left: {names:?}");
}

#[test]
fn a_tab_after_the_colon_is_read_and_kept() {
    let text = "images:\n- name:\tghcr.io/acme/hello\n  newTag:\tv1 # t\n";
    assert_eq!(set(text, Some("v2"), None), text.replace("v1", "v2"));
    let text = "images: [{name:\tghcr.io/acme/hello}]\n";
    assert_eq!(
        set(text, Some("v2"), None),
        "images: [{name:\tghcr.io/acme/hello, newTag: v2}]\n"
    );
}

#[test]
fn diff_is_one_hunk() {
    let d = unified_diff("k", "a\nb\nc\n", "a\nB\nc\n");
    assert_eq!(d, "--- a/k\n+++ b/k\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = read_images(Path::new("k"), &text);
        let _ = set_image(Path::new("k"), &text, &SetImage { image: IMG, tag: Some("v2"), digest: Some(D1) });
    }

    #[test]
    fn yaml_like_text_never_panics(text in "[ \\-:\\n#a-z\\[\\]{}&*'\"~]{0,200}") {
        let _ = read_images(Path::new("k"), &text);
        let _ = set_image(Path::new("k"), &text, &SetImage { image: "a", tag: Some("v2"), digest: None });
    }

    /// Real-looking kustomizations with bytes cut, doubled or swapped: never a
    /// panic, and any edit that is made reads back.
    #[test]
    fn mutated_kustomizations_never_panic(
        at in 0usize..400, len in 0usize..12, op in 0usize..4, byte in proptest::sample::select(vec![b' ', b'\n', b'-', b':', b'#', b'"', b'\'', b'[', b'{', b'&', b'*', b'|', b'\t', b'\r']),
    ) {
        let base = "# dev\r\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../base # b\nimages:\n  - name: ghcr.io/acme/hello # app\n    newTag: \"v1\"\n    digest: sha256:1111111111111111111111111111111111111111111111111111111111111111\n  - {name: other, newTag: '2'}\nnamespace: dev\n";
        let mut b = base.as_bytes().to_vec();
        let at = at.min(b.len());
        let end = (at + len).min(b.len());
        match op {
            0 => { b.drain(at..end); }
            1 => { let dup = b[at..end].to_vec(); b.splice(at..at, dup); }
            2 => b.insert(at, byte),
            _ => if end > at { b[at] = byte },
        }
        let text = String::from_utf8_lossy(&b).into_owned();
        let _ = read_images(Path::new("k"), &text);
        for (tag, digest) in [(Some("v2"), None), (Some("1.0"), Some(D2)), (None, Some(D2))] {
            if let Ok(Edit::Changed { text: out, .. }) = set_image(Path::new("k"), &text, &SetImage { image: IMG, tag, digest }) {
                let back = find_image(Path::new("k"), &out, IMG).unwrap().unwrap();
                proptest::prop_assert_eq!(back.new_tag.as_deref(), tag);
                proptest::prop_assert_eq!(back.digest.as_deref(), digest);
            }
        }
    }

    /// Valid inputs: the edit reads back, and doing it again changes nothing.
    #[test]
    fn edits_read_back_and_are_idempotent(
        indent in 0usize..4, dash_gap in 1usize..3, n in 0usize..4, pos in 0usize..4,
        crlf: bool, final_newline: bool, quote in 0usize..3, with_digest: bool,
        flow: bool, mode in 0usize..3,
        tag in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}",
    ) {
        let q = ["", "'", "\""][quote];
        let eol = if crlf { "\r\n" } else { "\n" };
        let pad = " ".repeat(indent);
        let gap = " ".repeat(dash_gap);
        let head = format!("# c{eol}resources:{eol}{pad}- base{eol}images:{eol}");
        let mut text = head.clone();
        for i in 0..n {
            let name = if i == pos { IMG.to_string() } else { format!("other{i}") };
            if flow {
                let digest = if with_digest { format!(", digest: {D1}") } else { String::new() };
                text.push_str(&format!("{pad}-{gap}{{name: {q}{name}{q}, newTag: {q}t{i}{q}{digest}}} # n{eol}"));
                continue;
            }
            text.push_str(&format!("{pad}-{gap}name: {q}{name}{q} # n{eol}{pad} {gap}newTag: {q}t{i}{q}{eol}"));
            if with_digest {
                text.push_str(&format!("{pad} {gap}digest: {D1}{eol}"));
            }
        }
        let tail = format!("namespace: x{}", if final_newline { eol } else { "" });
        text.push_str(&tail);
        let (tag, digest) = match mode {
            0 => (Some(tag.as_str()), None),
            1 => (Some(tag.as_str()), Some(D2)),
            _ => (None, Some(D2)),
        };
        let out = set(&text, tag, digest);
        let back = find_image(Path::new("k"), &out, IMG).unwrap().unwrap();
        // Exactly what was asked: a tag alone drops a stale digest, a digest
        // alone drops a stale tag.
        proptest::prop_assert_eq!(back.new_tag.as_deref(), tag);
        proptest::prop_assert_eq!(back.digest.as_deref(), digest);
        proptest::prop_assert!(out.starts_with(&head) && out.ends_with(&tail), "outside `images:` nothing moves");
        proptest::prop_assert_eq!(out.matches('\n').count(), out.matches(eol).count(), "line endings kept");
        let again = set_image(Path::new("k"), &out, &SetImage { image: IMG, tag, digest }).unwrap();
        proptest::prop_assert_eq!(again, Edit::Unchanged);
        // Other entries are untouched.
        let others: Vec<_> = read_images(Path::new("k"), &text).unwrap().into_iter().filter(|e| e.name != IMG).collect();
        let others_after: Vec<_> = read_images(Path::new("k"), &out).unwrap().into_iter().filter(|e| e.name != IMG).map(|e| (e.name, e.new_tag, e.digest)).collect();
        proptest::prop_assert_eq!(others.into_iter().map(|e| (e.name, e.new_tag, e.digest)).collect::<Vec<_>>(), others_after);
    }
}

#[test]
fn a_new_images_key_goes_after_everything_trailing_comments_included() {
    // Commented-out items of the last list, and a scaffold marker, stay with it:
    // switching them on (or the scaffold tool's next insert) must not land them
    // inside `images:`.
    let text = "resources:\n- base\ncomponents:\n# - components/a\n# +kubebuilder:scaffold:x\n";
    let out = set(text, Some("v2"), None);
    assert_eq!(
        out,
        format!("{text}images:\n- name: ghcr.io/acme/hello\n  newTag: v2\n")
    );
    let on = out.replace("# - components/a", "- components/a");
    assert_eq!(read_images(Path::new("k"), &on).unwrap().len(), 1);
    // The final-newline convention and the line endings are the file's.
    assert_eq!(
        set("resources:\n- base\n# - other", Some("v2"), None),
        "resources:\n- base\n# - other\nimages:\n- name: ghcr.io/acme/hello\n  newTag: v2"
    );
    assert_eq!(
        set(
            "resources:\r\n- base\r\n# - other\r\n\r\n",
            Some("v2"),
            None
        ),
        "resources:\r\n- base\r\n# - other\r\n\r\nimages:\r\n- name: ghcr.io/acme/hello\r\n  newTag: v2\r\n"
    );
    // A document end (`...`) or an empty next document (`---`) is where the
    // document ends: the key goes before the marker, after the comments.
    for marker in ["...", "---", "--- # next"] {
        let text = format!("resources:\n- base\n# - other\n{marker}\n# after\n");
        assert_eq!(
            set(&text, Some("v2"), None),
            format!(
                "resources:\n- base\n# - other\nimages:\n- name: ghcr.io/acme/hello\n  newTag: v2\n{marker}\n# after\n"
            )
        );
    }
    // A line merely starting with dots or dashes is no marker.
    let text = "resources:\n- base\n#...\n";
    assert_eq!(
        set(text, Some("v2"), None),
        format!("{text}images:\n- name: ghcr.io/acme/hello\n  newTag: v2\n")
    );
}

#[test]
fn the_index_finds_what_the_editor_edits() {
    // `status` reads each overlay into an `ImageIndex`; `set-image` edits with
    // `the_entries`. Both go through one rule: `name` or `newName`.
    let text = "images:\n- name: image2\n  newName: my-image2\n  newTag: my-tag\n- name: other\n  newTag: x\n";
    let index = ImageIndex::read(Path::new("k"), text).unwrap();
    for image in ["image2", "my-image2"] {
        let e = index.find(image).unwrap().unwrap();
        assert_eq!((e.name.as_str(), e.line), ("image2", 2), "{image}");
        assert_eq!(
            find_image(Path::new("k"), text, image).unwrap().as_ref(),
            Some(e)
        );
        let edited = set_image(
            Path::new("k"),
            text,
            &SetImage {
                image,
                tag: Some("v2"),
                digest: None,
            },
        )
        .unwrap();
        assert!(matches!(edited, Edit::Changed { before: Some(b), .. } if &b == e));
    }
    assert_eq!(index.find("my-tag").unwrap(), None);
    assert_eq!(index.entries().count(), 2);
    // Two entries of one name: the same refusal, at the same place, from both.
    let text = "images:\n- name: a\n  newTag: '1'\n- name: b\n  newName: a\n-   name: a\n    newTag: '2'\n";
    let by_index = ImageIndex::read(Path::new("k"), text)
        .unwrap()
        .find("a")
        .unwrap_err()
        .to_string();
    let by_editor = set_image(
        Path::new("k"),
        text,
        &SetImage {
            image: "a",
            tag: Some("v2"),
            digest: None,
        },
    )
    .unwrap_err()
    .to_string();
    assert_eq!(by_index, by_editor);
    assert!(
        by_index.starts_with("k:6:5: image `a` has two entries in `images:` (lines 2 and 6)"),
        "{by_index}"
    );
    // Unrelated names never conflict in a lookup.
    assert!(
        ImageIndex::read(Path::new("k"), text)
            .unwrap()
            .find("b")
            .unwrap()
            .is_some()
    );
}
