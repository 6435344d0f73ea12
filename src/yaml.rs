//! One positional YAML tree from saphyr-parser events, shared by the config reader
//! and the overlay editor: every node with its byte span, line and column.
//!
//! The tree is policy-free: how many documents a file may hold, which keys are
//! allowed and what a value must look like are the caller's to decide.

use saphyr_parser::{Event, Marker, Parser};

pub(crate) use saphyr_parser::ScalarStyle;

/// Where a node sits: the byte range of its text as written, and the line and
/// column of its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    /// Byte offset of the first byte.
    pub(crate) start: usize,
    /// Byte offset just past the node (for a quoted scalar, past its closing quote;
    /// for a block collection, past its last child).
    pub(crate) end: usize,
    /// 1-based line of the start.
    pub(crate) line: usize,
    /// 1-based column of the start, in characters.
    pub(crate) column: usize,
}

/// A scalar as read: its value after unescaping, and how it was written.
#[derive(Debug, Clone)]
pub(crate) struct Scalar {
    pub(crate) value: String,
    /// Plain, quoted or block: an edit writes the new value in the same style.
    pub(crate) style: ScalarStyle,
    /// Quotes included.
    pub(crate) span: Span,
    /// Carries an anchor (`&name`).
    pub(crate) anchored: bool,
}

impl Scalar {
    /// Null in the YAML 1.2 core schema: a plain `null`, `Null`, `NULL`, `~` or
    /// nothing at all. A quoted `"null"` is a string.
    ///
    /// The same set as kustomize's parser (go-yaml v3, `resolve.go`: `""`, `~`,
    /// `null`, `Null`, `NULL`) and as serde_norway's, which reads the config once
    /// its shape is checked (`de.rs`, `parse_null`).
    pub(crate) fn is_null(&self) -> bool {
        self.style == ScalarStyle::Plain
            && matches!(self.value.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Scalar(Scalar),
    Map {
        entries: Vec<(Scalar, Node)>,
        /// `{…}` rather than block style.
        flow: bool,
        span: Span,
        anchored: bool,
    },
    Seq {
        items: Vec<Node>,
        /// `[…]` rather than block style.
        flow: bool,
        span: Span,
        anchored: bool,
    },
    Alias {
        span: Span,
    },
}

impl Node {
    pub(crate) fn span(&self) -> Span {
        match self {
            Node::Scalar(s) => s.span,
            Node::Map { span, .. } | Node::Seq { span, .. } | Node::Alias { span } => *span,
        }
    }

    /// Byte offset of the start.
    pub(crate) fn start(&self) -> usize {
        self.span().start
    }

    /// Byte offset just past the end.
    pub(crate) fn end(&self) -> usize {
        self.span().end
    }

    /// See [`Scalar::is_null`]; a collection or an alias is never null.
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Node::Scalar(s) if s.is_null())
    }

    /// Byte offset of the first anchor or alias in this subtree.
    pub(crate) fn anchor_or_alias(&self) -> Option<usize> {
        match self {
            Node::Alias { span } => Some(span.start),
            Node::Scalar(s) => s.anchored.then_some(s.span.start),
            Node::Map {
                entries,
                anchored,
                span,
                ..
            } => {
                if *anchored {
                    return Some(span.start);
                }
                entries.iter().find_map(|(k, v)| {
                    if k.anchored {
                        Some(k.span.start)
                    } else {
                        v.anchor_or_alias()
                    }
                })
            }
            Node::Seq {
                items,
                anchored,
                span,
                ..
            } => {
                if *anchored {
                    return Some(span.start);
                }
                items.iter().find_map(Node::anchor_or_alias)
            }
        }
    }

    /// Every scalar of the subtree, keys included, in the order they are written.
    pub(crate) fn scalars(&self) -> Vec<&Scalar> {
        fn walk<'a>(n: &'a Node, out: &mut Vec<&'a Scalar>) {
            match n {
                Node::Scalar(s) => out.push(s),
                Node::Map { entries, .. } => {
                    for (k, v) in entries {
                        out.push(k);
                        walk(v, out);
                    }
                }
                Node::Seq { items, .. } => items.iter().for_each(|i| walk(i, out)),
                Node::Alias { .. } => {}
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}

/// One document of the stream: where it starts (its `---`, or its first node) and
/// its root. An empty document's root is an empty plain scalar, which is null.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub(crate) start: Span,
    pub(crate) root: Node,
}

/// Why a text is not a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The parser's own message.
    Syntax(String),
    /// A mapping key that is a collection or an alias.
    ComplexKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Error {
    pub(crate) at: Span,
    pub(crate) kind: ErrorKind,
}

/// Char index -> byte offset: saphyr-parser counts characters.
struct Offsets<'a> {
    text: &'a str,
    /// Byte offset of each char index, when the text is not ASCII.
    bytes: Option<Vec<usize>>,
}

impl Offsets<'_> {
    fn byte(&self, char_index: usize) -> usize {
        match &self.bytes {
            Some(v) => v.get(char_index).copied().unwrap_or(self.text.len()),
            None => char_index.min(self.text.len()),
        }
    }

    fn span(&self, start: &Marker, end: &Marker) -> Span {
        Span {
            start: self.byte(start.index()),
            end: self.byte(end.index()),
            line: start.line().max(1),
            column: start.col() + 1,
        }
    }

    /// Where a quoted scalar really ends: the parser's span may run past the
    /// closing quote (over a trailing comment), so find the quote ourselves.
    fn quoted_end(&self, start: usize, style: ScalarStyle) -> usize {
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

/// A collection while it is built, and (for a mapping) the key awaiting its value.
struct Open {
    node: Node,
    pending_key: Option<Scalar>,
}

/// Parse every document of `text` into positioned trees (none for an empty text or
/// one of comments only).
pub(crate) fn parse(text: &str) -> Result<Vec<Document>, Error> {
    let at = Offsets {
        text,
        bytes: (!text.is_ascii()).then(|| {
            let mut v: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
            v.push(text.len());
            v
        }),
    };
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut documents = Vec::new();
    let mut document_start = Span::default();
    loop {
        let (event, span) = match parser.next_event() {
            None => break,
            Some(Ok(e)) => e,
            Some(Err(e)) => {
                return Err(Error {
                    at: at.span(e.marker(), e.marker()),
                    kind: ErrorKind::Syntax(e.info().to_string()),
                });
            }
        };
        let span = at.span(&span.start, &span.end);
        let done = match event {
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                document_start = span;
                None
            }
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                let is_map = matches!(event, Event::MappingStart(..));
                let flow =
                    text.as_bytes().get(span.start) == Some(if is_map { &b'{' } else { &b'[' });
                // The end is settled when the collection closes.
                let span = Span {
                    end: span.start,
                    ..span
                };
                let node = if is_map {
                    Node::Map {
                        entries: vec![],
                        flow,
                        span,
                        anchored: anchor != 0,
                    }
                } else {
                    Node::Seq {
                        items: vec![],
                        flow,
                        span,
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
                let Some(open) = stack.pop() else {
                    unreachable!("the parser balances starts and ends")
                };
                let mut node = open.node;
                // A flow collection ends at its bracket; a block one with its last
                // child, not at the next token (which may be lines further down).
                match &mut node {
                    Node::Map {
                        flow: true,
                        span: s,
                        ..
                    }
                    | Node::Seq {
                        flow: true,
                        span: s,
                        ..
                    } => s.end = span.end,
                    Node::Map {
                        entries, span: s, ..
                    } => {
                        s.end = entries
                            .last()
                            .map_or(s.end, |(k, v)| v.end().max(k.span.end))
                    }
                    Node::Seq { items, span: s, .. } => {
                        s.end = items.last().map_or(s.end, Node::end)
                    }
                    _ => {}
                }
                Some(node)
            }
            Event::Scalar(value, style, anchor, _) => {
                let end = match style {
                    ScalarStyle::DoubleQuoted | ScalarStyle::SingleQuoted => {
                        at.quoted_end(span.start, style)
                    }
                    _ => span.end,
                };
                Some(Node::Scalar(Scalar {
                    value: value.into_owned(),
                    style,
                    span: Span { end, ..span },
                    anchored: anchor != 0,
                }))
            }
            Event::Alias(_) => Some(Node::Alias { span }),
            _ => None,
        };
        let Some(node) = done else { continue };
        match stack.last_mut() {
            None => documents.push(Document {
                start: document_start,
                root: node,
            }),
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
                        return Err(Error {
                            at: other.span(),
                            kind: ErrorKind::ComplexKey,
                        });
                    }
                },
                Some(k) => entries.push((k, node)),
            },
            Some(_) => unreachable!("only collections are pushed"),
        }
    }
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        parse(text).unwrap().remove(0).root
    }

    fn value<'a>(map: &'a Node, key: &str) -> &'a Node {
        let Node::Map { entries, .. } = map else {
            panic!("not a map: {map:?}")
        };
        &entries.iter().find(|(k, _)| k.value == key).unwrap().1
    }

    #[test]
    fn null_is_the_core_schema_set_in_plain_style_only() {
        let text =
            "a:\nb: ~\nc: null\nd: Null\ne: NULL\nf: nUll\ng: \"null\"\nh: ''\ni: '~'\nj: [~]\n";
        let tree = root(text);
        for key in ["a", "b", "c", "d", "e"] {
            assert!(value(&tree, key).is_null(), "{key}");
        }
        for key in ["f", "g", "h", "i", "j"] {
            assert!(!value(&tree, key).is_null(), "{key}");
        }
    }

    #[test]
    fn spans_are_bytes_with_line_and_column() {
        let text = "# é\nk: \"v\" # c\nl:\n  - x\n  - {a: 1}\n";
        let tree = root(text);
        let Node::Scalar(v) = value(&tree, "k") else {
            panic!()
        };
        assert_eq!(&text[v.span.start..v.span.end], "\"v\"");
        assert_eq!((v.span.line, v.span.column), (2, 4));
        assert_eq!(v.style, ScalarStyle::DoubleQuoted);
        let l = value(&tree, "l");
        assert_eq!(&text[l.start()..l.end()], "- x\n  - {a: 1}");
        let Node::Seq { items, .. } = l else { panic!() };
        assert!(matches!(&items[1], Node::Map { flow: true, .. }));
        assert_eq!(&text[items[1].start()..items[1].end()], "{a: 1}");
        assert_eq!((items[1].span().line, items[1].span().column), (5, 5));
    }

    #[test]
    fn every_document_and_the_empty_stream() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# only a comment\n").unwrap().is_empty());
        let docs = parse("a: 1\n---\n---\nb\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert!(docs[1].root.is_null());
        assert_eq!(docs[1].start.line, 2);
        assert!(!docs[2].root.is_null());
    }

    #[test]
    fn anchors_aliases_and_complex_keys() {
        let tree = root("a: &x 1\nb: *x\n");
        assert_eq!(tree.anchor_or_alias(), Some(3));
        let err = parse("? [a]\n: 1\n").unwrap_err();
        assert_eq!(err.kind, ErrorKind::ComplexKey);
        let err = parse("a: [\n").unwrap_err();
        assert!(matches!(err.kind, ErrorKind::Syntax(_)));
        assert!(err.at.line >= 1);
    }

    #[test]
    fn scalars_in_written_order() {
        let tree = root("a: [b, {c: d}]\ne: f\n");
        let all: Vec<&str> = tree.scalars().iter().map(|s| s.value.as_str()).collect();
        assert_eq!(all, ["a", "b", "c", "d", "e", "f"]);
    }
}
