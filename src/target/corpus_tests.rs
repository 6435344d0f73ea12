//! Every image field of the real files in `../shared/corpus/targets/` (Helm values,
//! Flux-marked and multi-document manifests) and `../shared/corpus/kustomize/`,
//! edited once each: the result is the input except the changed bytes (a byte
//! diff, line by line), and a YAML parse (serde_norway, a different parser) shows
//! that field changed and nothing else. A field we refuse must be refused with a
//! place, never a panic.

use std::path::{Path, PathBuf};

use serde_norway::Value;

use super::path::Step;
use super::*;
use crate::yaml::{self as tree, Node};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const TAG: &str = "gitops-corpus-1";

fn corpus(dir: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "the corpus sits beside the repository ({}): {e}",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

/// A place in the parsed value: keys and indexes, under a document index.
type Leaf = Vec<String>;

fn leaves_differing(a: &Value, b: &Value, at: &mut Leaf, out: &mut Vec<Leaf>) {
    match (a, b) {
        (Value::Mapping(x), Value::Mapping(y)) => {
            for (k, v) in x {
                at.push(format!("{k:?}"));
                match y.get(k) {
                    Some(w) => leaves_differing(v, w, at, out),
                    None => out.push(at.clone()),
                }
                at.pop();
            }
            for (k, _) in y {
                if !x.contains_key(k) {
                    at.push(format!("{k:?}"));
                    out.push(at.clone());
                    at.pop();
                }
            }
        }
        (Value::Sequence(x), Value::Sequence(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                at.push(i.to_string());
                leaves_differing(v, w, at, out);
                at.pop();
            }
        }
        _ if a == b => {}
        _ => out.push(at.clone()),
    }
}

fn documents(text: &str) -> Option<Vec<Value>> {
    use serde::Deserialize;
    serde_norway::Deserializer::from_str(text)
        .map(Value::deserialize)
        .collect::<Result<Vec<_>, _>>()
        .ok()
}

/// Lines of `a` that differ in `b` (same count), by index.
fn changed_lines(a: &str, b: &str) -> Option<Vec<usize>> {
    let x: Vec<&str> = a.split_inclusive('\n').collect();
    let y: Vec<&str> = b.split_inclusive('\n').collect();
    (x.len() == y.len()).then(|| {
        x.iter()
            .zip(&y)
            .enumerate()
            .filter(|(_, (p, q))| p != q)
            .map(|(i, _)| i + 1)
            .collect()
    })
}

/// One edit's outcome.
enum Outcome {
    Edited,
    Refused,
}

/// Edit `file` through `t`; check the byte and the parse diffs. `lines`: the
/// lines of the fields, the only ones that may change; `values`: how many parsed
/// leaves may differ at most.
fn check(file: &Path, text: &str, t: &Target, lines: &[usize], values: usize) -> Outcome {
    let name = file.file_name().unwrap().to_string_lossy();
    let new = match t.edit(
        text,
        SetVersion {
            tag: Some(TAG),
            digest: Some(DIGEST),
        },
    ) {
        Ok(Edit::Changed { text, .. }) => text,
        Ok(Edit::Unchanged) => panic!("{name}: {t:?} changed nothing"),
        Err(e) => {
            assert!(
                e.to_string().contains(&format!("{}:", t.path.display())) || e.hint.is_some(),
                "{name}: {e}"
            );
            assert!(e.hint.is_some(), "{name}: a refusal without a hint: {e}");
            eprintln!("refused: {e}");
            return Outcome::Refused;
        }
    };
    let changed =
        changed_lines(text, &new).unwrap_or_else(|| panic!("{name}: lines were added or removed"));
    assert!(!changed.is_empty());
    for l in &changed {
        assert!(
            lines.contains(l),
            "{name}: line {l} changed, fields are on {lines:?}\n{new}"
        );
    }
    // Outside the changed lines, every byte is the input's.
    let (a, b): (Vec<&str>, Vec<&str>) = (
        text.split_inclusive('\n').collect(),
        new.split_inclusive('\n').collect(),
    );
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if !changed.contains(&(i + 1)) {
            assert_eq!(x, y);
        } else {
            // Within a changed line, the bytes around the value are kept too.
            let p = x.bytes().zip(y.bytes()).take_while(|(c, d)| c == d).count();
            let s = x
                .bytes()
                .rev()
                .zip(y.bytes().rev())
                .take_while(|(c, d)| c == d)
                .count();
            let old_mid = &x[p.min(x.len())..x.len().saturating_sub(s).max(p.min(x.len()))];
            assert!(
                !old_mid.contains('#') && !old_mid.contains('\r'),
                "{name}: `{old_mid}` in line {} changed",
                i + 1
            );
        }
    }
    let read = t.read(&new).unwrap().unwrap();
    assert_eq!(read.tag.as_deref(), Some(TAG), "{name}");
    if let (Some(before), Some(after)) = (documents(text), documents(&new)) {
        assert_eq!(before.len(), after.len(), "{name}");
        let mut diff = Vec::new();
        for (i, (x, y)) in before.iter().zip(&after).enumerate() {
            leaves_differing(x, y, &mut vec![i.to_string()], &mut diff);
        }
        assert!(
            !diff.is_empty() && diff.len() <= values,
            "{name}: {} leaves changed: {diff:?}",
            diff.len()
        );
    }
    Outcome::Edited
}

fn key_of<'t>(n: &'t Node, key: &str) -> Option<(&'t crate::yaml::Scalar, &'t Node)> {
    let Node::Map { entries, .. } = n else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| k.value == key)
        .map(|(k, v)| (k, v))
}

/// Paths to image fields: maps with a `tag` beside a `repository`/`name`/
/// `image`/`registry` (split), and `image:` strings that look like references.
fn image_fields(
    n: &Node,
    at: &mut Vec<Step>,
    split: &mut Vec<Vec<Step>>,
    refs: &mut Vec<Vec<Step>>,
) {
    match n {
        Node::Map { entries, .. } => {
            let has_repo = ["repository", "name", "image", "registry"]
                .iter()
                .any(|k| key_of(n, k).is_some());
            if has_repo && matches!(key_of(n, "tag"), Some((_, Node::Scalar(_)))) {
                split.push(at.clone());
            }
            for (k, v) in entries {
                at.push(Step::Key(k.value.clone()));
                if k.value == "image"
                    && let Node::Scalar(s) = v
                    && s.value.contains(':')
                    && !s.value.contains(' ')
                    && s.value.contains('/')
                {
                    refs.push(at.clone());
                }
                image_fields(v, at, split, refs);
                at.pop();
            }
        }
        Node::Seq { items, .. } => {
            for (i, item) in items.iter().enumerate() {
                at.push(Step::Index(i));
                image_fields(item, at, split, refs);
                at.pop();
            }
        }
        _ => {}
    }
}

fn line_of(text: &str, root: &Node, steps: &[Step]) -> Option<usize> {
    let src = write::Source::new(Path::new("x"), text);
    match path::follow(
        &src,
        root,
        &FieldPath {
            steps: steps.to_vec(),
        },
    )
    .ok()?
    {
        path::Found::Scalar { value, .. } => Some(src.line_of(value.span.start)),
        path::Found::Missing { .. } => None,
    }
}

fn selector(root: &Node) -> Option<DocumentSelector> {
    let kind = match key_of(root, "kind")?.1 {
        Node::Scalar(s) => s.value.clone(),
        _ => return None,
    };
    let name = match key_of(key_of(root, "metadata")?.1, "name")?.1 {
        Node::Scalar(s) => s.value.clone(),
        _ => return None,
    };
    Some(DocumentSelector { kind, name })
}

#[test]
fn every_image_field_of_the_targets_corpus_edits_byte_exactly() {
    let (mut files, mut edited, mut refused, mut flux_markers) = (0, 0, 0, 0);
    for file in corpus("targets") {
        let text = std::fs::read_to_string(&file).unwrap();
        let Ok(docs) = tree::parse(&text) else {
            continue;
        };
        files += 1;
        let rel = PathBuf::from(file.file_name().unwrap());
        let base = Target {
            path: rel.clone(),
            format: Format::Helm,
            image: "ghcr.io/acme/hello".into(),
            fields: None,
            document: None,
            policy: None,
            create: false,
        };
        let several = docs.iter().filter(|d| !d.root.is_null()).count() > 1;
        for d in docs.iter().filter(|d| !d.root.is_null()) {
            let document = if several {
                match selector(&d.root) {
                    Some(s) => Some(s),
                    None => continue,
                }
            } else {
                None
            };
            if several {
                let sel = document.as_ref().unwrap();
                let same = docs
                    .iter()
                    .filter(|e| selector(&e.root).as_ref() == Some(sel))
                    .count();
                if same > 1 {
                    continue;
                }
            }
            let (mut split, mut refs) = (vec![], vec![]);
            image_fields(&d.root, &mut vec![], &mut split, &mut refs);
            for at in split {
                let tag: Vec<Step> = at
                    .iter()
                    .cloned()
                    .chain([Step::Key("tag".into())])
                    .collect();
                let digest: Vec<Step> = at
                    .iter()
                    .cloned()
                    .chain([Step::Key("digest".into())])
                    .collect();
                let has_digest = line_of(&text, &d.root, &digest);
                let mut lines: Vec<usize> = line_of(&text, &d.root, &tag).into_iter().collect();
                lines.extend(has_digest);
                let t = Target {
                    format: if several { Format::Yaml } else { Format::Helm },
                    fields: Some(Fields::Split {
                        repository: None,
                        tag: FieldPath { steps: tag },
                        digest: has_digest.map(|_| (FieldPath { steps: digest }, true)),
                    }),
                    document: document.clone(),
                    ..base.clone()
                };
                match check(&file, &text, &t, &lines, 2) {
                    Outcome::Edited => edited += 1,
                    Outcome::Refused => refused += 1,
                }
            }
            for at in refs {
                let lines: Vec<usize> = line_of(&text, &d.root, &at).into_iter().collect();
                let t = Target {
                    format: Format::Yaml,
                    fields: Some(Fields::Reference(FieldPath { steps: at })),
                    document: document.clone(),
                    ..base.clone()
                };
                match check(&file, &text, &t, &lines, 1) {
                    Outcome::Edited => edited += 1,
                    Outcome::Refused => refused += 1,
                }
            }
        }
        // Flux: each policy marked in the file, once.
        let mut policies: Vec<String> = text
            .lines()
            .filter_map(|l| l.find('#').and_then(|i| flux::marker(&l[i..])))
            .map(|p| {
                let mut parts: Vec<&str> = p.split(':').collect();
                if parts.len() > 2 {
                    parts.truncate(2);
                }
                parts.join(":")
            })
            .collect();
        policies.sort();
        policies.dedup();
        for p in policies {
            let t = Target {
                format: Format::Flux,
                policy: Some(p.clone()),
                ..base.clone()
            };
            let lines: Vec<usize> = text
                .lines()
                .enumerate()
                .filter(|(_, l)| {
                    l.find('#')
                        .and_then(|i| flux::marker(&l[i..]))
                        .is_some_and(|m| {
                            m == p || m.strip_prefix(&p).is_some_and(|s| s.starts_with(':'))
                        })
                })
                .map(|(i, _)| i + 1)
                .collect();
            flux_markers += lines.len();
            match check(&file, &text, &t, &lines, lines.len()) {
                Outcome::Edited => edited += 1,
                Outcome::Refused => refused += 1,
            }
        }
    }
    // The refusals: giantswarm's markers sit inside a `patch: |-` block scalar,
    // text to YAML (and to kyaml), so its file has no marker of those policies.
    eprintln!(
        "targets corpus: {files} files, {edited} fields edited, {refused} refused, {flux_markers} flux marker lines"
    );
    assert!(files >= 47, "{files}");
    assert!(edited >= 120, "{edited}");
}

#[test]
fn every_images_entry_of_the_kustomize_corpus_edits_byte_exactly() {
    let (mut files, mut edited, mut refused) = (0, 0, 0);
    for file in corpus("kustomize") {
        let text = std::fs::read_to_string(&file).unwrap();
        let Ok(entries) = crate::overlay::read_images(&file, &text) else {
            continue;
        };
        files += 1;
        let mut seen = Vec::new();
        for e in &entries {
            if seen.contains(&e.name) || entries.iter().filter(|o| o.name == e.name).count() > 1 {
                continue;
            }
            seen.push(e.name.clone());
            let t = Target {
                path: PathBuf::from(file.file_name().unwrap()),
                format: Format::Kustomize,
                image: e.name.clone(),
                fields: None,
                document: None,
                policy: None,
                create: false,
            };
            // Tag and digest: both lines may be added, so compare by parse only.
            match t.edit(
                &text,
                SetVersion {
                    tag: Some(TAG),
                    digest: Some(DIGEST),
                },
            ) {
                Ok(Edit::Changed { text: new, .. }) => {
                    let v = t.read(&new).unwrap().unwrap();
                    assert_eq!(
                        (v.tag.as_deref(), v.digest.as_deref()),
                        (Some(TAG), Some(DIGEST))
                    );
                    if let (Some(a), Some(b)) = (documents(&text), documents(&new)) {
                        let mut diff = Vec::new();
                        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                            leaves_differing(x, y, &mut vec![i.to_string()], &mut diff);
                        }
                        assert!(diff.iter().all(|d| d.get(1).map(String::as_str) == Some("String(\"images\")")), "{}: {diff:?}", file.display());
                    }
                    // Outside the entry's lines nothing moved: the prefix before
                    // the entry and the suffix after it are the input's.
                    let p = text
                        .bytes()
                        .zip(new.bytes())
                        .take_while(|(a, b)| a == b)
                        .count();
                    assert!(
                        text[..p].lines().count() + 1 >= e.line,
                        "{}",
                        file.display()
                    );
                    edited += 1;
                }
                Ok(Edit::Unchanged) => panic!("{}: nothing changed", file.display()),
                Err(err) => {
                    assert!(err.hint.is_some(), "{err}");
                    refused += 1;
                }
            }
        }
    }
    eprintln!("kustomize corpus: {files} files, {edited} entries edited, {refused} refused");
    assert!(files >= 50, "{files}");
}
