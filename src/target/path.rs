//! Field paths (`image.tag`, `spec.template.spec.containers[0].image`) and where
//! they lead in a positional tree: to a scalar with its key, or to the deepest
//! mapping that exists when the rest is missing.
//!
//! A path is refused on the way through anything an edit of its bytes would not
//! change alone: an alias (the value lives at its anchor), a mapping with a merge
//! key (`<<:`, the value may come from elsewhere), an anchored scalar (its aliases
//! would change too).

use std::fmt;

use crate::error::UserError;
use crate::yaml::{Node, Scalar};

use super::write::Source;

/// One step of a path: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A dotted path with `[N]` indexes, as the config writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    pub steps: Vec<Step>,
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.steps.iter().enumerate() {
            match s {
                Step::Key(k) if i == 0 => write!(f, "{k}")?,
                Step::Key(k) => write!(f, ".{k}")?,
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

impl FieldPath {
    /// `a.b[0].c`: keys of any characters but `.`, `[`, `]` and space, each
    /// followed by any number of `[N]`. The message says what is wrong.
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        if text.is_empty() {
            return Err("is empty".into());
        }
        let mut steps = Vec::new();
        for part in text.split('.') {
            let (key, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if key.is_empty() {
                return Err(
                    "has an empty key (two dots in a row, or a leading or trailing dot)".into(),
                );
            }
            if key.contains([']', ' ', '\t']) || key.chars().any(char::is_control) {
                return Err(format!(
                    "has a key `{key}` with `]`, a space or a control character"
                ));
            }
            steps.push(Step::Key(key.to_string()));
            while !rest.is_empty() {
                let Some(close) = rest.find(']') else {
                    return Err(format!("has an unclosed `[` in `{part}`"));
                };
                let n = &rest[1..close];
                let index = n
                    .parse::<usize>()
                    .ok()
                    .filter(|_| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| format!("has an index `[{n}]` that is not a number"))?;
                steps.push(Step::Index(index));
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(format!(
                        "has `{rest}` after an index in `{part}`: separate keys with `.`"
                    ));
                }
            }
        }
        Ok(FieldPath { steps })
    }

    pub fn key(k: &str) -> FieldPath {
        FieldPath::parse(k).expect("built-in paths parse")
    }
}

/// Where a path leads.
pub(crate) enum Found<'t> {
    /// The scalar, with the mapping key it is the value of (none in a list).
    Scalar {
        key: Option<&'t Scalar>,
        value: &'t Scalar,
    },
    /// The path stops at `map`, a mapping: `rest` (from step `at`) does not exist.
    Missing { map: &'t Node, at: usize },
}

/// Follow `path` from `root`. `what` names the field in messages (`image.tag`).
pub(crate) fn follow<'t>(
    src: &Source,
    root: &'t Node,
    path: &FieldPath,
) -> Result<Found<'t>, UserError> {
    let mut node = root;
    let mut key: Option<&Scalar> = None;
    for (i, step) in path.steps.iter().enumerate() {
        if let Node::Alias { span } = node {
            return Err(alias(src, span.start, path));
        }
        match (step, node) {
            (Step::Key(k), Node::Map { entries, .. }) => {
                let mut hits = entries.iter().filter(|(ek, _)| &ek.value == k);
                match hits.next() {
                    Some((ek, v)) => {
                        if let Some((dup, _)) = hits.next() {
                            return Err(src
                                .error(dup.span.start, format!("the key `{k}` appears twice"))
                                .hint(
                                    "keep one of the two: YAML readers disagree on which one wins",
                                ));
                        }
                        key = Some(ek);
                        node = v;
                    }
                    None => {
                        if let Some((m, _)) = entries.iter().find(|(ek, _)| ek.value == "<<") {
                            return Err(src
                                .error(
                                    m.span.start,
                                    format!("`{path}` may come from a merge key (`<<:`) here"),
                                )
                                .hint(format!(
                                    "write `{k}` out in this mapping, so the version has one place to live"
                                )));
                        }
                        return Ok(Found::Missing { map: node, at: i });
                    }
                }
            }
            (Step::Index(n), Node::Seq { items, .. }) => match items.get(*n) {
                Some(item) => {
                    key = None;
                    node = item;
                }
                None => {
                    return Err(src
                        .error(
                            node.start(),
                            format!("`{path}`: the list has {} item(s), no [{n}]", items.len()),
                        )
                        .hint("check the index in `fields:` (indexes count from 0)"));
                }
            },
            (_, n) if n.is_null() => {
                // `image:` with nothing under it: the rest is missing.
                return Err(src
                    .error(
                        key.map_or(n.start(), |k| k.span.start),
                        format!("`{path}` is missing: `{}` is empty", prefix(path, i)),
                    )
                    .hint(format!("write `{path}` into the file (`create: true` adds a missing key only inside an existing mapping)")));
            }
            (Step::Key(_), other) => {
                return Err(src
                    .error(
                        other.start(),
                        format!(
                            "`{}` is not a mapping, so `{path}` cannot be in it",
                            prefix(path, i)
                        ),
                    )
                    .hint("check the path in `fields:` against the file"));
            }
            (Step::Index(_), other) => {
                return Err(src
                    .error(
                        other.start(),
                        format!(
                            "`{}` is not a list, so `{path}` cannot be in it",
                            prefix(path, i)
                        ),
                    )
                    .hint("check the path in `fields:` against the file"));
            }
        }
    }
    match node {
        Node::Scalar(s) => {
            if s.anchored {
                return Err(src
                    .error(s.span.start, format!("`{path}` carries an anchor (`&…`)"))
                    .hint("aliases of it would change too: write the value out where it is used, without the anchor"));
            }
            Ok(Found::Scalar { key, value: s })
        }
        Node::Alias { span } => Err(alias(src, span.start, path)),
        other => Err(src
            .error(
                other.start(),
                format!("`{path}` is a {}, not a single value", kind(other)),
            )
            .hint(
                "name the field that holds the text itself (for example `image.tag`, not `image`)",
            )),
    }
}

fn prefix(path: &FieldPath, upto: usize) -> String {
    if upto == 0 {
        return "the document".into();
    }
    FieldPath {
        steps: path.steps[..upto].to_vec(),
    }
    .to_string()
}

fn kind(n: &Node) -> &'static str {
    match n {
        Node::Map { .. } => "mapping",
        Node::Seq { .. } => "list",
        Node::Scalar(_) => "value",
        Node::Alias { .. } => "alias",
    }
}

fn alias(src: &Source, at: usize, path: &FieldPath) -> UserError {
    src.error(at, format!("`{path}` goes through an alias (`*…`)"))
        .hint("the value lives at its anchor and is shared: write it out in full here, so this field can change alone")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_and_print_back() {
        for p in [
            "image.tag",
            "spec.template.spec.containers[0].image",
            "a[1][2].b",
            "hello.image",
        ] {
            assert_eq!(FieldPath::parse(p).unwrap().to_string(), p);
        }
        let p = FieldPath::parse("c[10].image").unwrap();
        assert_eq!(
            p.steps,
            [
                Step::Key("c".into()),
                Step::Index(10),
                Step::Key("image".into())
            ]
        );
        for bad in [
            "", "a..b", ".a", "a.", "a[x]", "a[", "a[1]b", "a[]", "a b", "a[-1]",
        ] {
            assert!(FieldPath::parse(bad).is_err(), "{bad}");
        }
    }
}
