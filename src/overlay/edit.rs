//! The editor: set an entry's tag and digest, or add the entry, by splicing text
//! into the original bytes in the style of its neighbours.

use super::tree::*;
use super::*;
use crate::error::UserError;
pub(crate) use crate::target::write::{Editor, Splice, check_digest, check_tag, render};
use saphyr_parser::ScalarStyle;
use std::path::Path;

/// The style used for `key` in the neighbouring entries, else plain.
pub(crate) fn neighbour_style(imgs: &Images, key: &str) -> ScalarStyle {
    imgs.entries
        .iter()
        .filter_map(|(_, n)| match n {
            Node::Map { entries, .. } => {
                entries
                    .iter()
                    .find(|(k, _)| k.value == key)
                    .and_then(|(_, v)| match v {
                        Node::Scalar(s) => Some(s.style),
                        _ => None,
                    })
            }
            _ => None,
        })
        .next()
        .unwrap_or(ScalarStyle::Plain)
}

/// Set the tag and/or digest of `req.image`: a pure text-to-text edit.
pub fn set_image(path: &Path, text: &str, req: &SetImage) -> Result<Edit, UserError> {
    if let Some(t) = req.tag {
        check_tag(t)?;
    }
    if let Some(d) = req.digest {
        check_digest(d)?;
    }
    if req.tag.is_none() && req.digest.is_none() {
        return Err(
            UserError::new("nothing to set: give a tag, a digest or both")
                .hint("pass `--tag`, `--digest` or both"),
        );
    }
    let src = Source::new(path, text);
    let tree = parse(&src)?;
    let imgs = images(&src, &tree)?;
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut ed = Editor {
        src: &src,
        eol,
        splices: vec![],
    };
    let matching = the_entries(&src, &imgs, req.image)?;
    for (_, node) in &matching {
        edit_entry(&mut ed, node, req)?;
    }
    let before = match matching.first() {
        Some((entry, _)) => Some(entry.clone()),
        None => {
            add_entry(&mut ed, &imgs, req)?;
            None
        }
    };
    let cannot = || {
        UserError::new(format!(
            "cannot edit the entry of `{}` in `{}` without changing its meaning",
            req.image,
            path.display()
        ))
        .hint("rewrite the entry in plain block style (`- name: …` with `newTag:` on its own line)")
    };
    let new = ed.apply().ok_or_else(cannot)?;
    if new == text {
        return Ok(Edit::Unchanged);
    }
    // The edit must leave a kustomization that reads back to what was asked, with
    // every other entry as it was.
    let check = find_image(path, &new, req.image).ok().flatten();
    let ok = check.as_ref().is_some_and(|c| {
        c.new_tag.as_deref() == req.tag
            && match req.digest {
                Some(d) => c.digest.as_deref() == Some(d),
                None => req.tag.is_none() || c.digest.is_none(),
            }
    });
    let others = |t: &str| -> Option<Vec<ImageEntry>> {
        let all = read_images(path, t).ok()?;
        Some(
            all.into_iter()
                .filter(|e| !e.matches(req.image))
                .map(|e| ImageEntry { line: 0, ..e })
                .collect(),
        )
    };
    if !ok || others(&new) != others(text) {
        return Err(cannot());
    }
    Ok(Edit::Changed { text: new, before })
}

pub(crate) fn edit_entry(ed: &mut Editor, node: &Node, req: &SetImage) -> Result<(), UserError> {
    let Node::Map { entries, flow, .. } = node else {
        return Ok(());
    };
    let find = |key: &str| entries.iter().position(|(k, _)| k.value == key);
    let scalar = |i: usize| match &entries[i].1 {
        Node::Scalar(s) => s.clone(),
        _ => unreachable!("checked when read"),
    };
    // A block scalar's span covers neither its `|`/`>` header nor a clean line
    // end, so it cannot be spliced; such values are rare enough to refuse.
    for key in ["newTag", "digest"] {
        if let Some(i) = find(key)
            && matches!(scalar(i).style, ScalarStyle::Literal | ScalarStyle::Folded)
        {
            return Err(ed
                .src
                .error(
                    entries[i].0.span.start,
                    format!(
                        "`{key}` of image `{}` is a block scalar (`|` or `>`)",
                        req.image
                    ),
                )
                .hint(format!(
                    "write it on one line, as `{key}: value`, and run again"
                )));
        }
    }
    // The entry after which new keys go: newTag after name/newName, digest after newTag.
    let anchor_for_tag = [find("newName"), find("name")]
        .into_iter()
        .flatten()
        .max()
        .expect("entries have a name");
    let mut new_keys: Vec<(String, String)> = Vec::new();
    let tag_at = find("newTag");
    match (req.tag, tag_at) {
        (Some(t), Some(i)) => {
            if scalar(i).value != t {
                ed.replace(&entries[i].0, &scalar(i), t);
            }
        }
        (Some(t), None) => new_keys.push(("newTag".into(), render(t, ScalarStyle::Plain))),
        // A digest without a tag: a stale tag would render as `image:old@digest`
        // and read as the old version, so it goes, as `kustomize edit set image
        // name@digest` drops it.
        (None, Some(i)) if req.digest.is_some() && !entries[i].1.is_null() => {
            remove_key(ed, entries, i, *flow);
        }
        (None, _) => {}
    }
    let tag_kept =
        tag_at.filter(|&i| req.tag.is_some() || req.digest.is_none() || entries[i].1.is_null());
    let digest_at = find("digest");
    match (req.digest, digest_at) {
        (Some(d), Some(i)) => {
            if scalar(i).value != d {
                ed.replace(&entries[i].0, &scalar(i), d);
            }
        }
        (Some(d), None) => new_keys.push(("digest".into(), render(d, ScalarStyle::Plain))),
        // A tag without a digest: a stale pin would override the new tag.
        (None, Some(i)) if req.tag.is_some() => remove_key(ed, entries, i, *flow),
        (None, _) => {}
    }
    if new_keys.is_empty() {
        return Ok(());
    }
    // Keys that already exist keep their place; new ones follow the last of
    // name/newName/newTag that exists.
    let after = match (new_keys.first().map(|k| k.0.as_str()), tag_kept) {
        (Some("digest"), Some(t)) => t.max(anchor_for_tag),
        _ => anchor_for_tag,
    };
    let (_, value) = &entries[after];
    if *flow {
        let text: String = new_keys
            .iter()
            .map(|(k, v)| format!(", {k}: {v}"))
            .collect();
        ed.splices.push(Splice {
            start: value.end(),
            end: value.end(),
            text,
        });
    } else {
        let indent = ed.indent_of(entries[0].0.span.start);
        let lines: Vec<String> = new_keys
            .iter()
            .map(|(k, v)| format!("{indent}{k}: {v}"))
            .collect();
        ed.insert_lines_after(value.end(), &lines);
    }
    Ok(())
}

/// Remove entry `i` of a mapping, with its line (block) or its `, key: value` (flow).
pub(crate) fn remove_key(ed: &mut Editor, entries: &[(Scalar, Node)], i: usize, flow: bool) {
    let (key, value) = &entries[i];
    if flow {
        let (start, end) = if i > 0 {
            (entries[i - 1].1.end(), value.end())
        } else if let Some((next, _)) = entries.get(1) {
            (key.span.start, next.span.start)
        } else {
            (key.span.start, value.end())
        };
        ed.splices.push(Splice {
            start,
            end,
            text: String::new(),
        });
        return;
    }
    let line_start = ed.line_start(key.span.start);
    let first_on_line = ed.src.text[line_start..key.span.start].trim().is_empty();
    if first_on_line {
        // The key owns its line(s): drop them whole, trailing comment included.
        let end = ed.line_end(ed.before(value.end()).max(key.span.start));
        ed.splices.push(Splice {
            start: line_start,
            end,
            text: String::new(),
        });
    } else if let Some((next, _)) = entries.get(i + 1) {
        // `- digest: …` on the dash line: the next key moves up onto it.
        ed.splices.push(Splice {
            start: key.span.start,
            end: next.span.start,
            text: String::new(),
        });
    }
}

pub(crate) fn add_entry(ed: &mut Editor, imgs: &Images, req: &SetImage) -> Result<(), UserError> {
    let name_style = neighbour_style(imgs, "name");
    let tag_style = neighbour_style(imgs, "newTag");
    let mut fields = vec![("name", render(req.image, name_style))];
    if let Some(t) = req.tag {
        fields.push(("newTag", render(t, tag_style)));
    }
    if let Some(d) = req.digest {
        fields.push(("digest", render(d, neighbour_style(imgs, "digest"))));
    }
    let flow_item = || {
        format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    // The first key sits after the dash at the same column as the others.
    let block_item = |dash: &str, keys: &str| -> Vec<String> {
        let gap = " ".repeat(keys.len().saturating_sub(dash.len() + 1).max(1));
        fields
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                if i == 0 {
                    format!("{dash}-{gap}{k}: {v}")
                } else {
                    format!("{keys}{k}: {v}")
                }
            })
            .collect()
    };
    match imgs.key {
        Some((
            _,
            Node::Seq {
                items,
                flow: true,
                span,
                ..
            },
        )) => {
            // Right after the last item (so a `]` on its own line stays there),
            // or before the closing `]` of an empty list.
            let (at, text) = match items.last() {
                Some(last) => (last.end(), format!(", {}", flow_item())),
                None => (
                    ed.src.text[..span.end].rfind(']').unwrap_or(span.end),
                    flow_item(),
                ),
            };
            ed.splices.push(Splice {
                start: at,
                end: at,
                text,
            });
        }
        Some((_, Node::Seq { items, span, .. })) => {
            let start = &span.start;
            let dash = ed.indent_of(ed.dash_of(items.first().map_or(*start, Node::start)));
            let keys = match items.first() {
                Some(Node::Map {
                    entries,
                    flow: false,
                    ..
                }) if !entries.is_empty() => ed.indent_of(entries[0].0.span.start),
                _ => format!("{dash}  "),
            };
            let last_end = items.last().map_or(*start, Node::end);
            // `- {name: …}` neighbours get a flow item too.
            let lines = match items.last() {
                Some(Node::Map { flow: true, .. }) => vec![format!("{dash}- {}", flow_item())],
                _ => block_item(&dash, &keys),
            };
            ed.insert_lines_after(ed.before(last_end).max(*start), &lines);
        }
        Some((key, value)) => {
            // `images:` with no value (or `~`): drop the null, add a block list.
            let dash = ed.indent_of(key.span.start) + &sequence_offset(ed, imgs);
            if !matches!(value, Node::Scalar(s) if s.value.is_empty()) {
                let colon = ed.src.text[key.span.end..value.start()]
                    .find(':')
                    .map_or(key.span.end, |i| key.span.end + i + 1);
                ed.splices.push(Splice {
                    start: colon,
                    end: value.end(),
                    text: String::new(),
                });
            }
            ed.insert_lines_after(key.span.end, &block_item(&dash, &format!("{dash}  ")));
        }
        None => {
            match imgs.root {
                Some(Node::Map {
                    flow: true, span, ..
                }) => {
                    return Err(ed
                    .src
                    .error(span.start, "the kustomization is a flow mapping (`{…}`) with no `images:`")
                    .hint("write the kustomization in block style, or add an `images:` list by hand"));
                }
                Some(Node::Map { entries, .. }) if !entries.is_empty() => {
                    let indent = ed.indent_of(entries[0].0.span.start);
                    let dash = indent.clone() + &sequence_offset(ed, imgs);
                    let mut lines = vec![format!("{indent}images:")];
                    lines.extend(block_item(&dash, &format!("{dash}  ")));
                    // After everything, trailing comments included: comments after
                    // the last key are most often that block's own (commented-out
                    // items waiting to be switched on, scaffold markers that tools
                    // insert at), and must stay under it. Only a document marker
                    // (`---`, `...`) ends the document before the end of the file.
                    let (k, v) = entries.last().expect("not empty");
                    let after_last = ed.line_end(ed.before(v.end()).max(k.span.end));
                    match ed.document_marker_from(after_last) {
                        Some(at) => ed.insert_lines_before(at, &lines),
                        None => ed.append_lines(&lines),
                    }
                }
                _ => {
                    // An empty file (or only comments): append.
                    let mut lines = vec!["images:".to_string()];
                    lines.extend(block_item("", "  "));
                    ed.append_lines(&lines);
                }
            }
        }
    }
    Ok(())
}

/// How far this file indents block-sequence dashes under their key (`resources:`
/// and the like): "" for flush `- x`, "  " for indented. Flush when unknown, as
/// `kustomize edit` writes.
pub(crate) fn sequence_offset(ed: &Editor, imgs: &Images) -> String {
    let Some(Node::Map { entries, .. }) = imgs.root else {
        return String::new();
    };
    for (k, v) in entries {
        if let Node::Seq {
            flow: false, items, ..
        } = v
            && let Some(first) = items.first()
        {
            let key_col = ed.indent_of(k.span.start).len();
            let dash_col = ed.indent_of(ed.dash_of(first.start())).len();
            return " ".repeat(dash_col.saturating_sub(key_col));
        }
    }
    String::new()
}

/// The edit as a function of the overlay's current text, as
/// `git::Workspace::publish` wants it: it re-applies the edit to the file at each
/// fresh base tip, and gets `Some(new text)`, or `None` when already up to date.
pub fn edit_fn<'a>(
    path: &'a Path,
    req: SetImage<'a>,
) -> impl FnMut(&str) -> anyhow::Result<Option<String>> + 'a {
    move |text: &str| {
        Ok(match set_image(path, text, &req)? {
            Edit::Unchanged => None,
            Edit::Changed { text, .. } => Some(text),
        })
    }
}
