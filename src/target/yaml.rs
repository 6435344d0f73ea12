//! `yaml`: fields named by path in one document of any YAML file, several
//! documents allowed (`document: { kind, name }` picks one by `kind` and
//! `metadata.name`; without it, the one document that has the field).

use crate::error::UserError;
use crate::yaml::{Document, Node};

use super::path::{Found, Step, follow};
use super::write::Source;
use super::{FieldPath, Fields, Role, Slot, Target, create_in, non_empty};

/// The scalar at `key` of a mapping, if that is what it is.
fn scalar_at<'t>(n: &'t Node, key: &str) -> Option<&'t str> {
    let Node::Map { entries, .. } = n else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| k.value == key)
        .and_then(|(_, v)| match v {
            Node::Scalar(s) => Some(s.value.as_str()),
            _ => None,
        })
}

fn pick<'t>(
    t: &Target,
    src: &Source,
    docs: &'t [Document],
    primary: &FieldPath,
) -> Result<&'t Document, UserError> {
    let path = t.path_str();
    if let Some(sel) = &t.document {
        let hits: Vec<&Document> = non_empty(docs)
            .filter(|d| {
                scalar_at(&d.root, "kind") == Some(sel.kind.as_str())
                    && match &d.root {
                        Node::Map { entries, .. } => {
                            entries
                                .iter()
                                .find(|(k, _)| k.value == "metadata")
                                .and_then(|(_, m)| scalar_at(m, "name"))
                                == Some(sel.name.as_str())
                        }
                        _ => false,
                    }
            })
            .collect();
        return match hits.as_slice() {
            [one] => Ok(one),
            [] => Err(UserError::new(format!(
                "`{path}` has no document of kind `{}` named `{}`",
                sel.kind, sel.name
            ))
            .hint(
                "check `document: { kind, name }` against the file's `kind:` and `metadata.name:`",
            )),
            [_, second, ..] => Err(src
                .error(
                    second.root.start(),
                    format!(
                        "`{path}` has {} documents of kind `{}` named `{}`",
                        hits.len(),
                        sel.kind,
                        sel.name
                    ),
                )
                .hint("keep one document per kind and name in the file")),
        };
    }
    let all: Vec<&Document> = non_empty(docs).collect();
    if let [one] = all.as_slice() {
        return Ok(one);
    }
    if all.is_empty() {
        return Err(UserError::new(format!("`{path}` holds no YAML document"))
            .hint("write the fields into the file first; `create: true` adds a missing key only inside an existing mapping"));
    }
    let having: Vec<&Document> = all
        .iter()
        .copied()
        .filter(|d| matches!(follow(src, &d.root, primary), Ok(Found::Scalar { .. })))
        .collect();
    match having.as_slice() {
        [one] => Ok(one),
        _ => Err(UserError::new(format!(
            "`{path}` holds {} documents and {} of them have `{primary}`",
            all.len(),
            having.len()
        ))
        .hint("say which one with `document: { kind: Deployment, name: hello }`")),
    }
}

/// The slots of `fields` in the chosen document. `for_edit`: a required field
/// that is missing (and may not be created) is an error; a read finds no version.
pub(super) fn slots<'t>(
    t: &Target,
    src: &Source,
    docs: &'t [Document],
    fields: &Fields,
    for_edit: bool,
) -> Result<Vec<Slot<'t>>, UserError> {
    // (role, path, required, written when missing)
    let wanted: Vec<(Role, &FieldPath, bool, bool)> = match fields {
        Fields::Reference(p) => vec![(Role::Reference { pin: true }, p, true, true)],
        Fields::Split {
            repository,
            tag,
            digest,
        } => {
            let mut w = Vec::new();
            if let Some((p, true)) = repository {
                w.push((Role::Name, p, false, true));
            }
            w.push((Role::Tag, tag, true, true));
            if let Some((p, named)) = digest {
                w.push((Role::Digest, p, false, *named));
            }
            w
        }
    };
    let primary = wanted
        .iter()
        .find(|w| w.2)
        .map(|w| w.1)
        .expect("a tag or a reference is always wanted");
    if non_empty(docs).next().is_none() && !for_edit {
        return Ok(vec![]);
    }
    let doc = pick(t, src, docs, primary)?;
    let mut out = Vec::new();
    for (role, path, required, writable) in wanted {
        match follow(src, &doc.root, path)? {
            Found::Scalar { key, value } => out.push(Slot {
                role,
                key,
                value: Some(value),
                create: None,
            }),
            Found::Missing { map, at } => {
                let rest = &path.steps[at..];
                let keys: Option<Vec<String>> = rest
                    .iter()
                    .map(|s| match s {
                        Step::Key(k) => Some(k.clone()),
                        Step::Index(_) => None,
                    })
                    .collect();
                if t.create && writable {
                    let (Some(keys), Some((after, indent))) = (keys, create_in(src, map)) else {
                        return Err(src
                            .error(map.start(), format!("`{path}` is missing and cannot be added here"))
                            .hint("a missing key is added only inside a block mapping (`key: value` lines), never as a list item: add it by hand"));
                    };
                    out.push(Slot {
                        role,
                        key: None,
                        value: None,
                        create: Some((after, indent, keys)),
                    });
                } else if required && for_edit {
                    return Err(src
                        .error(map.start(), format!("`{path}` is not in `{}`", t.path_str()))
                        .hint("add it to the file, fix `fields:`, or set `create: true` on the service or environment to have it added"));
                }
            }
        }
    }
    Ok(out)
}
