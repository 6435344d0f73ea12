//! A positional tree of the file from saphyr-parser events: every node with its
//! byte span, for reading entries and splicing edits.

use crate::error::{Location, UserError};
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::path::Path;

#[derive(Debug, Clone)]
pub(crate) struct Scalar {
    pub(crate) value: String,
    pub(crate) style: ScalarStyle,
    /// Byte range of the scalar as written (quotes included).
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) anchored: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Scalar(Scalar),
    Map {
        entries: Vec<(Scalar, Node)>,
        flow: bool,
        start: usize,
        end: usize,
        anchored: bool,
    },
    Seq {
        items: Vec<Node>,
        flow: bool,
        start: usize,
        end: usize,
        anchored: bool,
    },
    Alias {
        start: usize,
        end: usize,
    },
}

impl Node {
    pub(crate) fn start(&self) -> usize {
        match self {
            Node::Scalar(s) => s.start,
            Node::Map { start, .. } | Node::Seq { start, .. } | Node::Alias { start, .. } => *start,
        }
    }

    pub(crate) fn end(&self) -> usize {
        match self {
            Node::Scalar(s) => s.end,
            Node::Map { end, .. } | Node::Seq { end, .. } | Node::Alias { end, .. } => *end,
        }
    }

    /// The first anchor or alias in this subtree.
    pub(crate) fn anchor_or_alias(&self) -> Option<usize> {
        match self {
            Node::Alias { start, .. } => Some(*start),
            Node::Scalar(s) => s.anchored.then_some(s.start),
            Node::Map {
                entries,
                anchored,
                start,
                ..
            } => {
                if *anchored {
                    return Some(*start);
                }
                entries.iter().find_map(|(k, v)| {
                    if k.anchored {
                        Some(k.start)
                    } else {
                        v.anchor_or_alias()
                    }
                })
            }
            Node::Seq {
                items,
                anchored,
                start,
                ..
            } => {
                if *anchored {
                    return Some(*start);
                }
                items.iter().find_map(Node::anchor_or_alias)
            }
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Node::Scalar(s) if s.style == ScalarStyle::Plain && matches!(s.value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }
}

/// Source text with char-index -> byte-offset conversion and line lookups.
pub(crate) struct Source<'a> {
    pub(crate) text: &'a str,
    pub(crate) path: &'a Path,
    /// Byte offset of each char index, when the text is not ASCII.
    pub(crate) offsets: Option<Vec<usize>>,
}

impl<'a> Source<'a> {
    pub(crate) fn new(path: &'a Path, text: &'a str) -> Self {
        let offsets = (!text.is_ascii()).then(|| {
            let mut v: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
            v.push(text.len());
            v
        });
        Source {
            text,
            path,
            offsets,
        }
    }

    pub(crate) fn byte(&self, char_index: usize) -> usize {
        match &self.offsets {
            Some(v) => v.get(char_index).copied().unwrap_or(self.text.len()),
            None => char_index.min(self.text.len()),
        }
    }

    pub(crate) fn location(&self, byte: usize) -> Location {
        let before = &self.text[..byte.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location::new(self.path, line, before[line_start..].chars().count() + 1)
    }

    pub(crate) fn line_of(&self, byte: usize) -> usize {
        self.text[..byte.min(self.text.len())].matches('\n').count() + 1
    }

    pub(crate) fn error(&self, byte: usize, message: impl Into<String>) -> UserError {
        UserError::at(self.location(byte), message)
    }

    /// Where a quoted scalar really ends: the parser's span may run past the
    /// closing quote (over a trailing comment), so find the quote ourselves.
    pub(crate) fn quoted_end(&self, start: usize, style: ScalarStyle) -> usize {
        let b = self.text.as_bytes();
        let mut i = start + 1;
        while i < b.len() {
            match (style, b[i]) {
                (ScalarStyle::DoubleQuoted, b'\\') => i += 2,
                (ScalarStyle::DoubleQuoted, b'"') => return i + 1,
                (ScalarStyle::SingleQuoted, b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
                (ScalarStyle::SingleQuoted, b'\'') => return i + 1,
                _ => i += 1,
            }
        }
        b.len()
    }
}

/// An open collection while the tree is built.
pub(crate) struct Open {
    pub(crate) node: Node,
    pub(crate) pending_key: Option<Scalar>,
}

/// Parse the first document into a positioned tree (`None` for an empty file).
pub(crate) fn parse(src: &Source) -> Result<Option<Node>, UserError> {
    // saphyr-parser refuses a tab right after a `:` (`newTag:<TAB>v1`), which YAML
    // and kustomize allow; a space of the same width parses alike and keeps every
    // position, and the text that is edited is still the original.
    let spaced;
    let input = if src.text.contains(":\t") {
        spaced = src.text.replace(":\t", ": ");
        spaced.as_str()
    } else {
        src.text
    };
    let mut parser = Parser::new_from_str(input);
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    let hint =
        "fix the YAML at that place; `kubectl kustomize` on the overlay shows the same problem";
    loop {
        let (event, span) = match parser.next_event() {
            None => break,
            Some(Ok(e)) => e,
            Some(Err(e)) => {
                let at = src.byte(e.marker().index());
                return Err(src
                    .error(at, format!("invalid YAML: {}", e.info()))
                    .hint(hint));
            }
        };
        let (start, end) = (src.byte(span.start.index()), src.byte(span.end.index()));
        let done = match event {
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                None
            }
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                let is_map = matches!(event, Event::MappingStart(..));
                let flow =
                    src.text.as_bytes().get(start) == Some(if is_map { &b'{' } else { &b'[' });
                let node = if is_map {
                    Node::Map {
                        entries: vec![],
                        flow,
                        start,
                        end: start,
                        anchored: anchor != 0,
                    }
                } else {
                    Node::Seq {
                        items: vec![],
                        flow,
                        start,
                        end: start,
                        anchored: anchor != 0,
                    }
                };
                stack.push(Open {
                    node,
                    pending_key: None,
                });
                None
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let open = stack.pop().expect("the parser balances starts and ends");
                let mut node = open.node;
                match &mut node {
                    Node::Map {
                        flow: true, end: e, ..
                    }
                    | Node::Seq {
                        flow: true, end: e, ..
                    } => *e = end,
                    Node::Map {
                        entries, end: e, ..
                    } => *e = entries.last().map_or(*e, |(k, v)| v.end().max(k.end)),
                    Node::Seq { items, end: e, .. } => *e = items.last().map_or(*e, Node::end),
                    _ => {}
                }
                Some(node)
            }
            Event::Scalar(value, style, anchor, _) => {
                let end = match style {
                    ScalarStyle::DoubleQuoted | ScalarStyle::SingleQuoted => {
                        src.quoted_end(start, style)
                    }
                    _ => end,
                };
                Some(Node::Scalar(Scalar {
                    value: value.into_owned(),
                    style,
                    start,
                    end,
                    anchored: anchor != 0,
                }))
            }
            Event::Alias(_) => Some(Node::Alias { start, end }),
            _ => None,
        };
        let Some(node) = done else { continue };
        match stack.last_mut() {
            None => {
                if documents > 1 {
                    if !node.is_null() {
                        return Err(src
                            .error(node.start(), "the kustomization holds more than one YAML document")
                            .hint("a kustomization.yaml is a single document: split the extra one into its own file"));
                    }
                } else {
                    root = Some(node);
                }
            }
            Some(Open {
                node: Node::Seq { items, .. },
                ..
            }) => items.push(node),
            Some(Open {
                node: Node::Map { entries, .. },
                pending_key,
            }) => match pending_key.take() {
                None => match node {
                    Node::Scalar(k) => *pending_key = Some(k),
                    other => {
                        return Err(src
                            .error(other.start(), "complex mapping keys are not supported")
                            .hint("use plain string keys in the kustomization"));
                    }
                },
                Some(k) => entries.push((k, node)),
            },
            Some(_) => unreachable!("only collections are pushed"),
        }
    }
    Ok(root)
}
