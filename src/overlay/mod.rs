//! Lossless reads and edits of the `images:` entries of a `kustomization.yaml`.
//!
//! Nothing is re-serialised: the file is parsed for positions only (saphyr-parser
//! events), and the edit splices new text into the original bytes, so comments,
//! blank lines, key order, quoting, indentation and line endings stay as they were.
//!
//! Where to look: the positional tree in `tree`, the splicing editor in `edit`,
//! the unified diff of `--dry-run` in `diff`.

mod diff;
mod edit;
mod tree;

pub use crate::fs::write_atomic;
pub use diff::unified_diff;
pub use edit::{edit_fn, set_image};

use crate::error::{Diagnostic, UserError};
use std::path::Path;
use tree::*;

/// One `images:` entry as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
    /// 1-based line of the entry.
    pub line: usize,
}

impl ImageEntry {
    /// The image reference kustomize renders: `newName`, else `name`.
    pub fn image(&self) -> &str {
        self.new_name.as_deref().unwrap_or(&self.name)
    }

    fn matches(&self, image: &str) -> bool {
        self.name == image || self.new_name.as_deref() == Some(image)
    }
}

/// What to set for one image.
#[derive(Debug, Clone, Copy)]
pub struct SetImage<'a> {
    pub image: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    Unchanged,
    Changed {
        text: String,
        before: Option<ImageEntry>,
    },
}

/// The `images:` sequence and its parsed entries.
pub(crate) struct Images<'t> {
    /// The root mapping's entries.
    pub(crate) root: Option<&'t Node>,
    /// The `images` key and its value, when present.
    pub(crate) key: Option<(&'t Scalar, &'t Node)>,
    pub(crate) entries: Vec<(ImageEntry, &'t Node)>,
}

pub(crate) fn images<'t>(src: &Source, tree: &'t Option<Node>) -> Result<Images<'t>, UserError> {
    let hint_shape =
        "each `images:` item is a mapping with `name` and optionally `newName`, `newTag`, `digest`";
    let root = match tree {
        None => {
            return Ok(Images {
                root: None,
                key: None,
                entries: vec![],
            });
        }
        Some(n) if n.is_null() => {
            return Ok(Images {
                root: None,
                key: None,
                entries: vec![],
            });
        }
        Some(n @ Node::Map { .. }) => n,
        Some(other) => {
            return Err(src
                .error(other.start(), "the kustomization is not a mapping")
                .hint("a kustomization.yaml is a mapping with keys such as `resources:` and `images:`"));
        }
    };
    let Node::Map {
        entries: root_entries,
        ..
    } = root
    else {
        unreachable!()
    };
    let mut found = root_entries.iter().filter(|(k, _)| k.value == "images");
    let key = found.next().map(|(k, v)| (k, v));
    if let Some((dup, _)) = found.next() {
        return Err(src
            .error(dup.span.start, "the key `images` appears twice")
            .hint("merge the two `images:` lists into one"));
    }
    let mut out = Vec::new();
    if let Some((_, value)) = key {
        if let Some(at) = value.anchor_or_alias() {
            return Err(src
                .error(at, "anchors and aliases inside `images:` are not supported")
                .hint(
                    "write the image entries out in full, so each one can be edited on its own",
                ));
        }
        match value {
            v if v.is_null() => {}
            Node::Seq { items, .. } => {
                for item in items {
                    let Node::Map { entries, .. } = item else {
                        return Err(src
                            .error(item.start(), "an `images:` item is not a mapping")
                            .hint(hint_shape));
                    };
                    let mut e = ImageEntry {
                        name: String::new(),
                        new_name: None,
                        new_tag: None,
                        digest: None,
                        line: src.line_of(item.start()),
                    };
                    let mut has_name = false;
                    for (i, (k, v)) in entries.iter().enumerate() {
                        if let Some((dup, _)) =
                            entries[i + 1..].iter().find(|(d, _)| d.value == k.value)
                        {
                            return Err(src
                                .error(
                                    dup.span.start,
                                    format!(
                                        "the key `{}` appears twice in one `images:` item",
                                        k.value
                                    ),
                                )
                                .hint(
                                    "keep one of the two lines: kustomize refuses duplicate keys",
                                ));
                        }
                        let slot = match k.value.as_str() {
                            "name" => None,
                            "newName" => Some(&mut e.new_name),
                            "newTag" => Some(&mut e.new_tag),
                            "digest" => Some(&mut e.digest),
                            _ => continue, // other keys are kustomize's business
                        };
                        let Node::Scalar(s) = v else {
                            return Err(src
                                .error(
                                    v.start(),
                                    format!("`{}` of an image entry is not a string", k.value),
                                )
                                .hint(hint_shape));
                        };
                        // These values are printed (status, diffs, PR
                        // titles); a newline could start a workflow command line.
                        if let Some(c) = s.value.chars().find(|c| c.is_control()) {
                            return Err(src
                                .error(
                                    v.start(),
                                    format!(
                                        "`{}` of an image entry holds a control character ({})",
                                        k.value,
                                        c.escape_unicode()
                                    ),
                                )
                                .hint("image names, tags and digests are single-line text: remove the control character (a `\\n` or `\\t` escape in a quoted string is one)"));
                        }
                        match slot {
                            None => {
                                e.name = s.value.clone();
                                has_name = true;
                            }
                            // `newTag:` or `newTag: ~` is unset, as kustomize reads it.
                            Some(_) if v.is_null() => {}
                            Some(slot) => *slot = Some(s.value.clone()),
                        }
                    }
                    if !has_name {
                        return Err(src
                            .error(item.start(), "an `images:` item has no `name`")
                            .hint(hint_shape));
                    }
                    out.push((e, item));
                }
            }
            other => {
                return Err(src
                    .error(other.start(), "`images:` is not a list")
                    .hint(hint_shape));
            }
        }
    }
    Ok(Images {
        root: Some(root),
        key,
        entries: out,
    })
}

/// Every `images:` entry of a kustomization. `path` is used in error locations.
pub fn read_images(path: &Path, text: &str) -> Result<Vec<ImageEntry>, UserError> {
    let src = Source::new(path, text);
    let tree = parse(&src)?;
    Ok(images(&src, &tree)?
        .entries
        .into_iter()
        .map(|(e, _)| e)
        .collect())
}

/// The entry for `image` (by `name` or `newName`), if any. Two entries for the
/// same image is an error.
pub fn find_image(path: &Path, text: &str, image: &str) -> Result<Option<ImageEntry>, UserError> {
    Ok(ImageIndex::read(path, text)?.find(image)?.cloned())
}

/// An overlay's `images:` entries, read once, for any number of lookups (as
/// `status` makes, one per service), by the same rule as `find_image` and
/// `set_image`.
#[derive(Debug, Clone)]
pub struct ImageIndex {
    entries: Vec<(ImageEntry, crate::error::Location)>,
    /// Each `name` and `newName` to the entries that have it, so a lookup costs
    /// the same in an overlay of 500 entries as in one of 5.
    by_image: std::collections::HashMap<String, Vec<usize>>,
}

impl ImageIndex {
    pub fn read(path: &Path, text: &str) -> Result<ImageIndex, UserError> {
        let src = Source::new(path, text);
        let tree = parse(&src)?;
        let entries = images(&src, &tree)?
            .entries
            .into_iter()
            .map(|(e, node)| (e, src.location(node.start())))
            .collect::<Vec<_>>();
        let mut by_image = std::collections::HashMap::<String, Vec<usize>>::new();
        for (i, (e, _)) in entries.iter().enumerate() {
            for key in std::iter::once(&e.name).chain(e.new_name.as_ref()) {
                let at = by_image.entry(key.clone()).or_default();
                if at.last() != Some(&i) {
                    at.push(i);
                }
            }
        }
        Ok(ImageIndex { entries, by_image })
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> impl Iterator<Item = &ImageEntry> {
        self.entries.iter().map(|(e, _)| e)
    }

    /// The entry for `image`: the first of `the_entries`.
    pub fn find(&self, image: &str) -> Result<Option<&ImageEntry>, UserError> {
        let candidates: Vec<&(ImageEntry, crate::error::Location)> = self
            .by_image
            .get(image)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|&i| &self.entries[i])
            .collect();
        let matching = select(&candidates, |(e, _)| e, image)
            .map_err(|((a, _), (b, at))| conflict(at.clone(), a, b))?;
        Ok(matching.first().map(|(e, _)| e))
    }
}

/// The one lookup rule: the items whose entry has `image` as its `name` or its
/// `newName`, in file order; or the first two that share a `name` (a conflict).
fn select<'i, T>(
    items: &'i [T],
    entry: impl Fn(&T) -> &ImageEntry,
    image: &str,
) -> Result<Vec<&'i T>, (&'i T, &'i T)> {
    let matching: Vec<&T> = items.iter().filter(|i| entry(i).matches(image)).collect();
    for (i, a) in matching.iter().enumerate() {
        if let Some(b) = matching[i + 1..]
            .iter()
            .find(|b| entry(b).name == entry(a).name)
        {
            return Err((a, b));
        }
    }
    Ok(matching)
}

fn conflict(at: crate::error::Location, a: &ImageEntry, b: &ImageEntry) -> UserError {
    UserError::many(vec![Diagnostic {
        location: Some(at),
        message: format!(
            "image `{}` has two entries in `images:` (lines {} and {})",
            a.name, a.line, b.line
        ),
    }])
    .hint("keep one entry per image name: kustomize would apply only one of them")
}

/// The entries for `image`: the one whose `name` is the image, and every entry
/// that renames another image to it (`newName`), as when two base images are
/// replaced by one. Two entries with the same `name` are a conflict kustomize
/// would resolve silently, so they are refused.
pub(crate) fn the_entries<'i, 't>(
    src: &Source,
    imgs: &'i Images<'t>,
    image: &str,
) -> Result<Vec<&'i (ImageEntry, &'t Node)>, UserError> {
    select(&imgs.entries, |(e, _)| e, image)
        .map_err(|((a, _), (b, node))| conflict(src.location(node.start()), a, b))
}

#[cfg(test)]
mod tests;
