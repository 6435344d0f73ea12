//! The overlay editor against 58 real kustomization files from public
//! repositories (`../shared/corpus/kustomize`, sources in its `SOURCES.tsv`),
//! through the real binary: each edit touches only what it must.

use std::path::{Path, PathBuf};

use gitops_action::overlay;

use crate::util::Workspace;

const NEW_TAG: &str = "gitops-test-1";

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/kustomize")
}

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("the corpus sits beside the repository, in ../shared/corpus/kustomize")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

/// Lines removed from `a` and added in `b`, by a common prefix/suffix split.
fn changed_lines(a: &str, b: &str) -> (Vec<String>, Vec<String>) {
    let a: Vec<&str> = a.split_inclusive('\n').collect();
    let b: Vec<&str> = b.split_inclusive('\n').collect();
    let p = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let s = a[p..]
        .iter()
        .rev()
        .zip(b[p..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    (
        a[p..a.len() - s].iter().map(|l| l.to_string()).collect(),
        b[p..b.len() - s].iter().map(|l| l.to_string()).collect(),
    )
}

/// Run `set-image` through the binary on a copy of `file` as the dev overlay.
/// A few corpus entries name templated images (`gcr.io/<<PROJECT>>/…`) that the
/// config rightly refuses; those go through the library call the binary makes.
fn edit_with_binary(file: &Path, image: &str) -> (String, String) {
    let original = std::fs::read_to_string(file).unwrap();
    if gitops_action::config::check_image_name(image).is_err() {
        let req = overlay::SetImage {
            image,
            tag: Some(NEW_TAG),
            digest: None,
        };
        return match overlay::set_image(file, &original, &req).unwrap() {
            overlay::Edit::Changed { text, .. } => (text, "library".into()),
            overlay::Edit::Unchanged => (original, "library".into()),
        };
    }
    let ws = Workspace::empty();
    let name = file.file_name().unwrap().to_string_lossy();
    let overlay_file = if name.ends_with(".yml") {
        "kustomization.yml"
    } else {
        "kustomization.yaml"
    };
    ws.write(&format!("overlays/dev/{overlay_file}"), &original);
    ws.write(
        ".github/gitops.yaml",
        &format!("services:\n  svc:\n    image: \"{image}\"\nenvironments:\n  - name: dev\n    branches: ['**']\n"),
    );
    let run = ws.run(&[
        "set-image",
        "--env",
        "dev",
        "--service",
        "svc",
        "--tag",
        NEW_TAG,
    ]);
    let run = run.expect(0);
    (ws.read(&format!("overlays/dev/{overlay_file}")), run.stdout)
}

/// The original with, for each entry of `image`, the old tag replaced by
/// `NEW_TAG` on its `newTag` line and its `digest:` line removed. An entry's
/// lines run from its first line to the next entry's (block style; the corpus
/// has no flow-style entry with a tag).
fn expected_tag_edit(original: &str, entries: &[overlay::ImageEntry], image: &str) -> String {
    let mut lines: Vec<Option<String>> = original
        .split_inclusive('\n')
        .map(|l| Some(l.to_string()))
        .collect();
    for (k, e) in entries.iter().enumerate() {
        if e.image() != image && e.name != image {
            continue;
        }
        let end = entries.get(k + 1).map_or(lines.len(), |n| n.line - 1);
        let range = e.line - 1..end;
        if let Some(old) = &e.new_tag {
            let at = range
                .clone()
                .find(|&i| lines[i].as_deref().is_some_and(|l| l.contains("newTag")))
                .expect("the entry has a newTag line");
            let line = lines[at].take().unwrap();
            let key = line.find("newTag").unwrap();
            let v = key
                + line[key..]
                    .find(old.as_str())
                    .expect("the old tag is on its line");
            lines[at] = Some(format!("{}{NEW_TAG}{}", &line[..v], &line[v + old.len()..]));
        }
        if let Some(d) = &e.digest {
            let at = range
                .clone()
                .find(|&i| {
                    lines[i]
                        .as_deref()
                        .is_some_and(|l| l.contains("digest:") && l.contains(d.as_str()))
                })
                .expect("the entry has a digest line");
            lines[at] = None;
        }
    }
    lines.into_iter().flatten().collect()
}

#[test]
fn every_corpus_file_is_edited_correctly() {
    let files = corpus();
    assert_eq!(files.len(), 58, "the corpus has 58 kustomization files");
    let mut ok = 0;
    let mut appended = 0;
    let mut report = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let original = std::fs::read_to_string(file).unwrap();
        let entries =
            overlay::read_images(file, &original).unwrap_or_else(|e| panic!("{name}: {e}"));
        match entries.first() {
            Some(first) => {
                let image = first.image().to_string();
                let (edited, _) = edit_with_binary(file, &image);
                let (removed, added) = changed_lines(&original, &edited);
                let back = overlay::find_image(file, &edited, &image).unwrap().unwrap();
                assert_eq!(back.new_tag.as_deref(), Some(NEW_TAG), "{name}");
                let again = overlay::SetImage {
                    image: &image,
                    tag: Some(NEW_TAG),
                    digest: None,
                };
                assert_eq!(
                    overlay::set_image(file, &edited, &again).unwrap(),
                    overlay::Edit::Unchanged,
                    "{name}: the same edit again changes nothing"
                );
                assert_eq!(
                    back.digest, None,
                    "{name}: a tag without digest drops the stale digest"
                );
                // Every entry for the image is set (two base images may be renamed to it).
                let targets = entries
                    .iter()
                    .filter(|e| e.image() == image || e.name == image)
                    .count();
                let had_tag = first.new_tag.is_some();
                let had_digest = first.digest.is_some();
                if had_tag {
                    // Exactly this: the tag value replaced on each entry's `newTag`
                    // line, each stale `digest:` line dropped whole, nothing else.
                    let expected = expected_tag_edit(&original, &entries, &image);
                    assert_eq!(
                        edited, expected,
                        "{name}: only the tag (and a stale digest) change"
                    );
                    assert_ne!(edited, original, "{name}");
                } else {
                    // No `newTag` yet: one line inserted per entry, nothing removed.
                    assert!(removed.is_empty(), "{name}: {removed:?}");
                    assert_eq!(added.len(), targets, "{name}: {added:?}");
                    for line in &added {
                        assert_eq!(
                            line.trim_end(),
                            format!(
                                "{}newTag: {NEW_TAG}",
                                " ".repeat(line.len() - line.trim_start().len())
                            ),
                            "{name}"
                        );
                    }
                    assert!(
                        !had_digest,
                        "{name}: a digest without a tag is not in the corpus"
                    );
                }
                report.push(format!("{name}: images entry `{image}` set to `{NEW_TAG}`"));
            }
            None => report.push(format!("{name}: no images")),
        }
        // Adding an image no entry names: an insertion only, in every file.
        {
            let (edited, _) = edit_with_binary(file, "ghcr.io/acme/svc");
            {
                // Only an insertion: the original bytes are a prefix and a suffix of
                // the result (`images: []` gets its item inside the brackets).
                let p = original.len().min(edited.len());
                let prefix = original
                    .bytes()
                    .zip(edited.bytes())
                    .take_while(|(a, b)| a == b)
                    .count()
                    .min(p);
                let suffix = original
                    .bytes()
                    .rev()
                    .zip(edited.bytes().rev())
                    .take_while(|(a, b)| a == b)
                    .count();
                assert!(
                    prefix + suffix >= original.len(),
                    "{name}: the original bytes are untouched"
                );
                // A new `images:` key goes after everything, trailing comments
                // included, with the file's final-newline convention.
                if !original.lines().any(|l| l.starts_with("images:")) {
                    let eol = if original.contains("\r\n") {
                        "\r\n"
                    } else {
                        "\n"
                    };
                    let (head, tail) = if original.ends_with('\n') {
                        (original.clone(), eol)
                    } else {
                        (format!("{original}{eol}"), "")
                    };
                    let added = edited
                        .strip_prefix(&head)
                        .unwrap_or_else(|| panic!("{name}: appended at the very end"));
                    assert!(added.starts_with("images:"), "{name}: {added:?}");
                    assert!(
                        added.ends_with(&format!("newTag: {NEW_TAG}{tail}")),
                        "{name}: {added:?}"
                    );
                    appended += 1;
                }
                let back = overlay::find_image(file, &edited, "ghcr.io/acme/svc")
                    .unwrap()
                    .unwrap();
                assert_eq!(back.new_tag.as_deref(), Some(NEW_TAG), "{name}");
                report.push(format!("{name}: entry for a new image added"));
            }
        }
        ok += 1;
    }
    report.push(format!(
        "corpus: {ok} of {} files edited correctly; {appended} got a new `images:` key, appended after everything",
        files.len()
    ));
    let text = report.join("\n") + "\n";
    eprintln!("{text}");
    // Kept for the release note and for looking at after a run.
    let kept = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("corpus-report.txt");
    std::fs::write(&kept, &text).unwrap();
    eprintln!("report kept in {}", kept.display());
    assert_eq!(ok, files.len());
}

/// Trailing comments belong to the block above them: commented-out items waiting
/// to be switched on, and scaffold markers that tools insert before (kubebuilder's
/// `insertStrings`, `pkg/machinery/scaffold.go` in kubernetes-sigs/kubebuilder,
/// writes each code fragment on the lines before the `+kubebuilder:scaffold:…`
/// marker line). After a new `images:` key is added, switching such a line on, or
/// kubebuilder's next scaffold, must land in the block it was written for, not in
/// `images:`.
#[test]
fn a_new_images_key_leaves_trailing_comments_to_the_block_above() {
    let kubebuilder_fragment = " - source:\n     kind: Certificate\n     group: cert-manager.io\n     version: v1\n     name: serving-cert\n     fieldPath: .metadata.namespace\n   targets:\n     - select:\n         kind: CustomResourceDefinition\n         name: admirals.crew.testproject.org\n       fieldPaths:\n         - .metadata.annotations.[cert-manager.io/inject-ca-from]\n       options:\n         delimiter: '/'\n         index: 0\n         create: true\n";
    // (file, the line as found, the line after the user or the tool, the key it belongs to)
    let cases: [(&str, &str, String, &str); 5] = [
        (
            "GoogleCloudPlatform__microservices-demo__kustomize__kustomization.yaml",
            "# - components/cymbal-branding\n",
            "- components/cymbal-branding\n".into(),
            "components",
        ),
        (
            "GoogleCloudPlatform__microservices-demo__kustomize__kustomization.yaml",
            "# - components/container-images-registry",
            "- components/container-images-registry".into(),
            "components",
        ),
        (
            "kubeflow__manifests__example__kustomization.yaml",
            "# - ../experimental/ray/kuberay-operator/overlays/kubeflow\n",
            "- ../experimental/ray/kuberay-operator/overlays/kubeflow\n".into(),
            "resources",
        ),
        (
            "kubernetes-sigs__kueue__config__default__kustomization.yaml",
            "#- path: mutating_webhookcainjection_patch.yaml\n",
            "- path: mutating_webhookcainjection_patch.yaml\n".into(),
            "patches",
        ),
        (
            "kubernetes-sigs__kubebuilder__testdata__project-v4__config__default__kustomization.yaml",
            "# +kubebuilder:scaffold:crdkustomizecainjectionname\n",
            format!("{kubebuilder_fragment}# +kubebuilder:scaffold:crdkustomizecainjectionname\n"),
            "replacements",
        ),
    ];
    let image = "ghcr.io/acme/svc";
    for (file, found, after, key) in &cases {
        let path = corpus_dir().join(file);
        let original = std::fs::read_to_string(&path).unwrap();
        let (edited, _) = edit_with_binary(&path, image);
        assert!(edited.starts_with(&original), "{file}: appended at the end");
        // The line is in the trailing comments, after the last key's value.
        let at = edited
            .rfind(found)
            .unwrap_or_else(|| panic!("{file}: {found:?}"));
        assert!(
            at < original.len() && edited.find("\nimages:").unwrap() > at,
            "{file}"
        );
        let switched_on = format!("{}{after}{}", &edited[..at], &edited[at + found.len()..]);
        let before: serde_norway::Value = serde_norway::from_str(&original).unwrap();
        let doc: serde_norway::Value = serde_norway::from_str(&switched_on)
            .unwrap_or_else(|e| panic!("{file}: {e}\n{switched_on}"));
        let images = doc["images"].as_sequence().expect("images is a list");
        assert_eq!(images.len(), 1, "{file}: only the new entry in `images:`");
        assert_eq!(images[0]["name"].as_str(), Some(image), "{file}");
        assert_eq!(images[0]["newTag"].as_str(), Some(NEW_TAG), "{file}");
        let count = |v: &serde_norway::Value| v[*key].as_sequence().map_or(0, Vec::len);
        assert_eq!(
            count(&doc),
            count(&before) + 1,
            "{file}: the line switched on joined `{key}:`"
        );
        // And the image entry reads back through the binary's own reader.
        let back = overlay::find_image(&path, &switched_on, image)
            .unwrap()
            .unwrap();
        assert_eq!(back.new_tag.as_deref(), Some(NEW_TAG), "{file}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// Every corpus file with a slice cut, doubled, or a byte swapped for a YAML
    /// indicator: reading and editing never panic, and an edit that is made
    /// reads back.
    #[test]
    fn mutated_corpus_files_never_panic(
        file in 0usize..58, at in 0.0f64..1.0, len in 0usize..40, op in 0usize..4,
        byte in proptest::sample::select(b" \n-:#\"'[]{}&*|>!%@\t\r".to_vec()),
    ) {
        let files = corpus();
        let path = &files[file % files.len()];
        let mut b = std::fs::read(path).unwrap();
        let at = ((b.len() as f64) * at) as usize;
        let end = (at + len).min(b.len());
        match op {
            0 => { b.drain(at..end); }
            1 => { let dup = b[at..end].to_vec(); b.splice(at..at, dup); }
            2 => b.insert(at, byte),
            _ => if end > at { b[at] = byte },
        }
        let text = String::from_utf8_lossy(&b).into_owned();
        let image = overlay::read_images(path, &text).ok().and_then(|e| e.first().map(|e| e.image().to_string()));
        for image in [image.as_deref().unwrap_or("ghcr.io/acme/svc"), "ghcr.io/acme/svc"] {
            let req = overlay::SetImage { image, tag: Some(NEW_TAG), digest: None };
            if let Ok(overlay::Edit::Changed { text: out, .. }) = overlay::set_image(path, &text, &req) {
                let back = overlay::find_image(path, &out, image).unwrap().unwrap();
                proptest::prop_assert_eq!(back.new_tag.as_deref(), Some(NEW_TAG));
                proptest::prop_assert_eq!(overlay::set_image(path, &out, &req).unwrap(), overlay::Edit::Unchanged);
            }
        }
    }
}
