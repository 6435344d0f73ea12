//! The config's shape, checked on the positional YAML tree: every problem at once,
//! each with its place, and where each value sits for the checks that follow.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Diagnostic, Location, UserError};
use crate::yaml::{self, Node, Span};

#[derive(Clone, Copy)]
enum Shape {
    Str,
    StrList,
    Map(&'static [(&'static str, Shape)]),
    /// A map from names to the shape.
    Named(&'static Shape),
    List(&'static Shape),
    /// A string or null.
    OptStr,
    OneOf(&'static [&'static str]),
}

const ACCESS: Shape = Shape::Map(&[
    ("users", Shape::StrList),
    ("teams", Shape::StrList),
    (
        "permission",
        Shape::OneOf(&["read", "triage", "write", "maintain", "admin"]),
    ),
]);
const ENVIRONMENT: Shape = Shape::Map(&[
    ("name", Shape::Str),
    ("branches", Shape::StrList),
    ("tags", Shape::StrList),
    ("tag", Shape::Str),
    (
        "merge",
        Shape::OneOf(&["auto", "immediate", "never", "direct"]),
    ),
    ("reviewers", Shape::StrList),
    ("labels", Shape::StrList),
    ("overlay", Shape::Str),
    ("next", Shape::OptStr),
    ("allowed", ACCESS),
    ("allow-direct", Shape::OneOf(&["true", "false"])),
    ("file", Shape::Str),
    ("format", FORMAT),
    ("fields", FIELDS),
    ("document", DOCUMENT),
    ("policy", Shape::Str),
    ("create", Shape::OneOf(&["true", "false"])),
]);
const FORMAT: Shape = Shape::OneOf(&crate::target::Format::NAMES);
const FIELDS: Shape = Shape::Map(&[
    ("repository", Shape::Str),
    ("tag", Shape::Str),
    ("digest", Shape::Str),
    ("image", Shape::Str),
]);
const DOCUMENT: Shape = Shape::Map(&[("kind", Shape::Str), ("name", Shape::Str)]);
const SERVICE: Shape = Shape::Map(&[
    ("image", Shape::Str),
    ("repository", Shape::Str),
    ("context", Shape::Str),
    ("dockerfile", Shape::Str),
    ("overlay", Shape::Str),
    ("file", Shape::Str),
    ("format", FORMAT),
    ("fields", FIELDS),
    ("document", DOCUMENT),
    ("policy", Shape::Str),
    ("create", Shape::OneOf(&["true", "false"])),
    ("target", Shape::Str),
    ("build-args", Shape::Named(&Shape::Str)),
    ("paths", Shape::StrList),
]);
const CONFIG: Shape = Shape::Map(&[
    ("overlays", Shape::Str),
    ("commit-via", Shape::OneOf(&["api", "git"])),
    ("services", Shape::Named(&SERVICE)),
    ("environments", Shape::List(&ENVIRONMENT)),
    ("trains", Shape::Named(&Shape::StrList)),
]);

struct Checker<'a> {
    file: &'a Path,
    diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn at(&mut self, span: Span, message: String) {
        self.diags.push(Diagnostic {
            location: Some(location(self.file, span)),
            message,
        });
    }

    fn check(&mut self, shape: Shape, value: &Node, path: &str) {
        let span = value.span();
        let what = if path.is_empty() {
            "the top level".to_string()
        } else {
            format!("`{path}`")
        };
        let child = |k: &str| {
            if path.is_empty() {
                k.to_string()
            } else {
                format!("{path}.{k}")
            }
        };
        let node = value;
        if let Node::Alias { .. } = node {
            self.at(
                span,
                format!("{what}: aliases are not supported in the config"),
            );
            return;
        }
        match shape {
            Shape::Str => match node {
                Node::Scalar(s) if !s.is_null() => {}
                _ => self.at(span, format!("{what} must be a string")),
            },
            Shape::OptStr => match node {
                Node::Scalar(..) => {}
                _ => self.at(span, format!("{what} must be a string or null")),
            },
            Shape::OneOf(allowed) => match node {
                Node::Scalar(s) if allowed.contains(&s.value.as_str()) => {}
                Node::Scalar(s) => self.at(
                    span,
                    format!(
                        "{what} is `{}`, expected one of {}",
                        s.value,
                        allowed
                            .iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                _ => self.at(span, format!("{what} must be a string")),
            },
            Shape::StrList | Shape::List(_) => match node {
                Node::Seq { items, .. } => {
                    let inner = match shape {
                        Shape::List(inner) => *inner,
                        _ => Shape::Str,
                    };
                    for (i, item) in items.iter().enumerate() {
                        self.check(inner, item, &format!("{path}[{i}]"));
                    }
                }
                _ if matches!(shape, Shape::StrList) => {
                    self.at(span, format!("{what} must be a list of strings"))
                }
                _ => self.at(span, format!("{what} must be a list")),
            },
            Shape::Named(inner) => match node {
                Node::Map { entries, .. } => {
                    for (k, v) in entries {
                        // `hello:` with no settings takes every default.
                        if !v.is_null() {
                            self.check(*inner, v, &child(&k.value));
                        }
                    }
                }
                _ if value.is_null() => {}
                _ => self.at(span, format!("{what} must be a mapping")),
            },
            Shape::Map(fields) => match node {
                Node::Map { entries, .. } => {
                    let mut seen: Vec<&str> = vec![];
                    for (key, v) in entries {
                        let k = key.value.as_str();
                        if seen.contains(&k) {
                            self.at(key.span, format!("duplicate key `{k}` in {what}"));
                            continue;
                        }
                        seen.push(k);
                        match fields.iter().find(|(name, _)| *name == k) {
                            Some((_, shape)) => self.check(*shape, v, &child(k)),
                            None => self.at(
                                key.span,
                                format!(
                                    "unknown key `{k}` in {what} (expected one of {})",
                                    fields
                                        .iter()
                                        .map(|(f, _)| format!("`{f}`"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            ),
                        }
                    }
                }
                _ => self.at(span, format!("{what} must be a mapping")),
            },
        }
    }
}

pub(super) fn location(file: &Path, span: Span) -> Location {
    Location::new(file, span.line, span.column)
}

/// Where each value sits, by a path such as `environments[1].tag`; keys also
/// under `<path>#key`.
fn index_positions(value: &Node, path: String, out: &mut BTreeMap<String, Span>) {
    out.insert(path.clone(), value.span());
    match value {
        Node::Map { entries, .. } => {
            for (k, v) in entries {
                let p = if path.is_empty() {
                    k.value.clone()
                } else {
                    format!("{path}.{}", k.value)
                };
                out.insert(format!("{p}#key"), k.span);
                index_positions(v, p, out);
            }
        }
        Node::Seq { items, .. } => {
            for (i, item) in items.iter().enumerate() {
                index_positions(item, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The config's one document as a tree, with no control character in any value.
pub(super) fn read_tree(path: &Path, text: &str) -> Result<Option<Node>, UserError> {
    let invalid = |at: Span, msg: &str| {
        UserError::at(location(path, at), format!("invalid YAML: {msg}"))
            .hint("fix the YAML syntax at that place")
    };
    let mut documents = yaml::parse(text).map_err(|e| match e.kind {
        yaml::ErrorKind::Syntax(msg) => invalid(e.at, &msg),
        yaml::ErrorKind::ComplexKey => invalid(e.at, "only plain scalar keys are allowed"),
    })?;
    let Some(first) = documents.first() else {
        return Ok(None);
    };
    // Config values end up in printed lines (codeowners, status, PR
    // bodies); a newline in one could start a workflow command line.
    for s in first.root.scalars() {
        if let Some(c) = s.value.chars().find(|c| c.is_control()) {
            return Err(UserError::at(
                location(path, s.span),
                format!(
                    "a value holds a control character ({}): config values are single-line text",
                    c.escape_unicode()
                ),
            )
            .hint("remove the control character (a `\\n` or `\\t` escape in a quoted string, or a block scalar `|`, is one)"));
        }
    }
    if let Some(second) = documents.get(1) {
        return Err(invalid(
            second.start,
            "the config must be a single YAML document",
        ));
    }
    Ok(Some(documents.swap_remove(0).root))
}

/// Check `tree` against the config's shape; on success, where each value sits.
pub(super) fn check(file: &Path, tree: &Node) -> Result<BTreeMap<String, Span>, Vec<Diagnostic>> {
    let mut checker = Checker {
        file,
        diags: vec![],
    };
    checker.check(CONFIG, tree, "");
    if !checker.diags.is_empty() {
        return Err(checker.diags);
    }
    let mut pos = BTreeMap::new();
    index_positions(tree, String::new(), &mut pos);
    Ok(pos)
}
