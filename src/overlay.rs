//! Lossless reads and edits of the `images:` entries of a `kustomization.yaml`.
//!
//! Nothing is re-serialised: the file is parsed for positions only (saphyr-parser
//! events), and the edit splices new text into the original bytes, so comments,
//! blank lines, key order, quoting, indentation and line endings stay as they were.

use std::io::Write as _;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::error::{Diagnostic, Location, UserError};

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

// ---------------------------------------------------------------------------
// Positions: a tree of the document with byte spans.

#[derive(Debug, Clone)]
struct Scalar {
    value: String,
    style: ScalarStyle,
    /// Byte range of the scalar as written (quotes included).
    start: usize,
    end: usize,
    anchored: bool,
}

#[derive(Debug, Clone)]
enum Node {
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
    fn start(&self) -> usize {
        match self {
            Node::Scalar(s) => s.start,
            Node::Map { start, .. } | Node::Seq { start, .. } | Node::Alias { start, .. } => *start,
        }
    }

    fn end(&self) -> usize {
        match self {
            Node::Scalar(s) => s.end,
            Node::Map { end, .. } | Node::Seq { end, .. } | Node::Alias { end, .. } => *end,
        }
    }

    /// The first anchor or alias in this subtree.
    fn anchor_or_alias(&self) -> Option<usize> {
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

    fn is_null(&self) -> bool {
        matches!(self, Node::Scalar(s) if s.style == ScalarStyle::Plain && matches!(s.value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }
}

/// Source text with char-index -> byte-offset conversion and line lookups.
struct Source<'a> {
    text: &'a str,
    path: &'a Path,
    /// Byte offset of each char index, when the text is not ASCII.
    offsets: Option<Vec<usize>>,
}

impl<'a> Source<'a> {
    fn new(path: &'a Path, text: &'a str) -> Self {
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

    fn byte(&self, char_index: usize) -> usize {
        match &self.offsets {
            Some(v) => v.get(char_index).copied().unwrap_or(self.text.len()),
            None => char_index.min(self.text.len()),
        }
    }

    fn location(&self, byte: usize) -> Location {
        let before = &self.text[..byte.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location::new(self.path, line, before[line_start..].chars().count() + 1)
    }

    fn line_of(&self, byte: usize) -> usize {
        self.text[..byte.min(self.text.len())].matches('\n').count() + 1
    }

    fn error(&self, byte: usize, message: impl Into<String>) -> UserError {
        UserError::at(self.location(byte), message)
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

/// An open collection while the tree is built.
struct Open {
    node: Node,
    pending_key: Option<Scalar>,
}

/// Parse the first document into a positioned tree (`None` for an empty file).
fn parse(src: &Source) -> Result<Option<Node>, UserError> {
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

// ---------------------------------------------------------------------------
// Reading

/// The `images:` sequence and its parsed entries.
struct Images<'t> {
    /// The root mapping's entries.
    root: Option<&'t Node>,
    /// The `images` key and its value, when present.
    key: Option<(&'t Scalar, &'t Node)>,
    entries: Vec<(ImageEntry, &'t Node)>,
}

fn images<'t>(src: &Source, tree: &'t Option<Node>) -> Result<Images<'t>, UserError> {
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
            .error(dup.start, "the key `images` appears twice")
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
                                    dup.start,
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
    let src = Source::new(path, text);
    let tree = parse(&src)?;
    let imgs = images(&src, &tree)?;
    Ok(the_entries(&src, &imgs, image)?
        .first()
        .map(|(e, _)| e.clone()))
}

/// The entries for `image`: the one whose `name` is the image, and every entry
/// that renames another image to it (`newName`), as when two base images are
/// replaced by one. Two entries with the same `name` are a conflict kustomize
/// would resolve silently, so they are refused.
fn the_entries<'i, 't>(
    src: &Source,
    imgs: &'i Images<'t>,
    image: &str,
) -> Result<Vec<&'i (ImageEntry, &'t Node)>, UserError> {
    let matching: Vec<_> = imgs
        .entries
        .iter()
        .filter(|(e, _)| e.matches(image))
        .collect();
    for (i, (a, _)) in matching.iter().enumerate() {
        if let Some((b, node)) = matching[i + 1..].iter().find(|(b, _)| b.name == a.name) {
            return Err(UserError::many(vec![Diagnostic {
                location: Some(src.location(node.start())),
                message: format!(
                    "image `{}` has two entries in `images:` (lines {} and {})",
                    a.name, a.line, b.line
                ),
            }])
            .hint("keep one entry per image name: kustomize would apply only one of them"));
        }
    }
    Ok(matching)
}

// ---------------------------------------------------------------------------
// Editing

/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`, or a UserError naming the value.
fn check_tag(tag: &str) -> Result<(), UserError> {
    if crate::tag::is_valid_tag(tag) {
        Ok(())
    } else {
        Err(UserError::new(format!("`{tag}` is not a valid image tag"))
            .hint("tags are 1 to 128 of `A-Z a-z 0-9 _ . -`, not starting with `.` or `-`"))
    }
}

fn check_digest(digest: &str) -> Result<(), UserError> {
    let ok = match digest.split_once(':') {
        Some(("sha256", hex)) => hex.len() == 64,
        Some(("sha512", hex)) => hex.len() == 128,
        _ => false,
    } && digest
        .split_once(':')
        .is_some_and(|(_, h)| h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    if ok {
        Ok(())
    } else {
        Err(UserError::new(format!("`{digest}` is not a valid digest"))
            .hint("a digest is `sha256:` and 64 lower-case hex digits (or `sha512:` and 128)"))
    }
}

/// Would YAML read this plain scalar as something other than a string?
fn needs_quotes(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    v.is_empty()
        || matches!(
            lower.as_str(),
            "true"
                | "false"
                | "yes"
                | "no"
                | "on"
                | "off"
                | "y"
                | "n"
                | "null"
                | "~"
                | ".inf"
                | "-.inf"
                | "+.inf"
                | ".nan"
        )
        || v.parse::<f64>().is_ok()
        || v.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':' | b'-' | b'+'))
        || lower.starts_with("0x")
        || lower.starts_with("0o")
        || lower.starts_with("0b")
        || v.starts_with([
            '-', '?', ':', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
            '`', ',',
        ])
        || v.contains(": ")
        || v.contains(" #")
}

/// Render `v` in `style`, falling back to double quotes where plain won't do.
fn render(v: &str, style: ScalarStyle) -> String {
    match style {
        ScalarStyle::SingleQuoted => format!("'{}'", v.replace('\'', "''")),
        ScalarStyle::Plain if !needs_quotes(v) => v.to_string(),
        _ => format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

/// One splice: replace `start..end` with `text`.
#[derive(Debug)]
struct Splice {
    start: usize,
    end: usize,
    text: String,
}

struct Editor<'a> {
    src: &'a Source<'a>,
    eol: &'static str,
    splices: Vec<Splice>,
}

impl Editor<'_> {
    /// Byte offset just past the line holding `pos` (past its line ending).
    fn line_end(&self, pos: usize) -> usize {
        match self.src.text[pos..].find('\n') {
            Some(i) => pos + i + 1,
            None => self.src.text.len(),
        }
    }

    /// The char boundary before `pos` (for "the line this value ends on").
    fn before(&self, pos: usize) -> usize {
        let mut p = pos.saturating_sub(1);
        while p > 0 && !self.src.text.is_char_boundary(p) {
            p -= 1;
        }
        p
    }

    fn line_start(&self, pos: usize) -> usize {
        self.src.text[..pos].rfind('\n').map_or(0, |i| i + 1)
    }

    /// The `-` of the block-sequence item that starts at or after it on the same
    /// line: the parser puts an indentless sequence's start at its first key.
    fn dash_of(&self, pos: usize) -> usize {
        let start = self.line_start(pos);
        if self.src.text.as_bytes().get(pos) == Some(&b'-') {
            return pos;
        }
        self.src.text[start..pos]
            .rfind('-')
            .map_or(pos, |i| start + i)
    }

    /// Leading spaces for a key at byte `pos`: its column.
    fn indent_of(&self, pos: usize) -> String {
        // A byte order mark opens the first line but is not indentation.
        let lead = &self.src.text[self.line_start(pos)..pos];
        " ".repeat(lead.chars().filter(|&c| c != '\u{feff}').count())
    }

    /// Insert whole lines after the line holding `pos`. At the end of a file that
    /// lacks a final newline, the new lines lack it too.
    fn insert_lines_after(&mut self, pos: usize, lines: &[String]) {
        let at = self.line_end(pos);
        // New lines end as the line they follow does (files may mix endings).
        let eol = match self.src.text[..at].strip_suffix('\n') {
            Some(line) if line.ends_with('\r') => "\r\n",
            Some(_) => "\n",
            None => self.eol,
        };
        let body = lines.join(eol);
        let text = if at == self.src.text.len() && !self.src.text.ends_with('\n') {
            format!("{eol}{body}")
        } else {
            format!("{body}{eol}")
        };
        self.splices.push(Splice {
            start: at,
            end: at,
            text,
        });
    }

    /// Replace the value `s` of `key` with `value`, in the value's quoting style.
    fn replace(&mut self, key: &Scalar, s: &Scalar, value: &str) {
        if s.start == s.end {
            // `newTag:` with nothing after it: the empty value's mark sits at the
            // next token, so write the value right after the colon instead.
            let colon = self.src.text[key.end..]
                .find(':')
                .map_or(key.end, |i| key.end + i + 1);
            self.splices.push(Splice {
                start: colon,
                end: colon,
                text: format!(" {}", render(value, ScalarStyle::Plain)),
            });
            return;
        }
        self.splices.push(Splice {
            start: s.start,
            end: s.end,
            text: render(value, s.style),
        });
    }

    /// The edited text, or `None` when two splices overlap (the edit would not be
    /// a clean one).
    fn apply(mut self) -> Option<String> {
        self.splices.sort_by_key(|s| (s.start, s.end));
        let mut out = String::with_capacity(self.src.text.len() + 64);
        let mut at = 0;
        for s in &self.splices {
            if s.start < at
                || s.end < s.start
                || !self.src.text.is_char_boundary(s.start)
                || !self.src.text.is_char_boundary(s.end)
            {
                return None;
            }
            out.push_str(&self.src.text[at..s.start]);
            out.push_str(&s.text);
            at = s.end;
        }
        out.push_str(&self.src.text[at..]);
        Some(out)
    }
}

/// The style used for `key` in the neighbouring entries, else plain.
fn neighbour_style(imgs: &Images, key: &str) -> ScalarStyle {
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
        req.tag.is_none_or(|t| c.new_tag.as_deref() == Some(t))
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

fn edit_entry(ed: &mut Editor, node: &Node, req: &SetImage) -> Result<(), UserError> {
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
                    entries[i].0.start,
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
    if let Some(t) = req.tag {
        match tag_at {
            Some(i) => {
                if scalar(i).value != t {
                    ed.replace(&entries[i].0, &scalar(i), t);
                }
            }
            None => new_keys.push(("newTag".into(), render(t, ScalarStyle::Plain))),
        }
    }
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
    let after = match (new_keys.first().map(|k| k.0.as_str()), tag_at) {
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
        let indent = ed.indent_of(entries[0].0.start);
        let lines: Vec<String> = new_keys
            .iter()
            .map(|(k, v)| format!("{indent}{k}: {v}"))
            .collect();
        ed.insert_lines_after(value.end(), &lines);
    }
    Ok(())
}

/// Remove entry `i` of a mapping, with its line (block) or its `, key: value` (flow).
fn remove_key(ed: &mut Editor, entries: &[(Scalar, Node)], i: usize, flow: bool) {
    let (key, value) = &entries[i];
    if flow {
        let (start, end) = if i > 0 {
            (entries[i - 1].1.end(), value.end())
        } else if let Some((next, _)) = entries.get(1) {
            (key.start, next.start)
        } else {
            (key.start, value.end())
        };
        ed.splices.push(Splice {
            start,
            end,
            text: String::new(),
        });
        return;
    }
    let line_start = ed.line_start(key.start);
    let first_on_line = ed.src.text[line_start..key.start].trim().is_empty();
    if first_on_line {
        // The key owns its line(s): drop them whole, trailing comment included.
        let end = ed.line_end(ed.before(value.end()).max(key.start));
        ed.splices.push(Splice {
            start: line_start,
            end,
            text: String::new(),
        });
    } else if let Some((next, _)) = entries.get(i + 1) {
        // `- digest: …` on the dash line: the next key moves up onto it.
        ed.splices.push(Splice {
            start: key.start,
            end: next.start,
            text: String::new(),
        });
    }
}

fn add_entry(ed: &mut Editor, imgs: &Images, req: &SetImage) -> Result<(), UserError> {
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
                end,
                ..
            },
        )) => {
            // Right after the last item (so a `]` on its own line stays there),
            // or before the closing `]` of an empty list.
            let (at, text) = match items.last() {
                Some(last) => (last.end(), format!(", {}", flow_item())),
                None => (ed.src.text[..*end].rfind(']').unwrap_or(*end), flow_item()),
            };
            ed.splices.push(Splice {
                start: at,
                end: at,
                text,
            });
        }
        Some((_, Node::Seq { items, start, .. })) => {
            let dash = ed.indent_of(ed.dash_of(items.first().map_or(*start, Node::start)));
            let keys = match items.first() {
                Some(Node::Map {
                    entries,
                    flow: false,
                    ..
                }) if !entries.is_empty() => ed.indent_of(entries[0].0.start),
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
            let dash = ed.indent_of(key.start) + &sequence_offset(ed, imgs);
            if !matches!(value, Node::Scalar(s) if s.value.is_empty()) {
                let colon = ed.src.text[key.end..value.start()]
                    .find(':')
                    .map_or(key.end, |i| key.end + i + 1);
                ed.splices.push(Splice {
                    start: colon,
                    end: value.end(),
                    text: String::new(),
                });
            }
            ed.insert_lines_after(key.end, &block_item(&dash, &format!("{dash}  ")));
        }
        None => {
            match imgs.root {
                Some(Node::Map {
                    flow: true, start, ..
                }) => {
                    return Err(ed
                    .src
                    .error(*start, "the kustomization is a flow mapping (`{…}`) with no `images:`")
                    .hint("write the kustomization in block style, or add an `images:` list by hand"));
                }
                Some(Node::Map { entries, .. }) if !entries.is_empty() => {
                    let indent = ed.indent_of(entries[0].0.start);
                    let dash = indent.clone() + &sequence_offset(ed, imgs);
                    let mut lines = vec![format!("{indent}images:")];
                    lines.extend(block_item(&dash, &format!("{dash}  ")));
                    let (k, v) = entries.last().expect("not empty");
                    ed.insert_lines_after(ed.before(v.end()).max(k.end), &lines);
                }
                _ => {
                    // An empty file (or only comments): append.
                    let mut lines = vec!["images:".to_string()];
                    lines.extend(block_item("", "  "));
                    let at = ed.src.text.len();
                    let sep = if at == 0 || ed.src.text.ends_with('\n') {
                        ""
                    } else {
                        ed.eol
                    };
                    let tail = if at > 0 && !ed.src.text.ends_with('\n') {
                        ""
                    } else {
                        ed.eol
                    };
                    ed.splices.push(Splice {
                        start: at,
                        end: at,
                        text: format!("{sep}{}{tail}", lines.join(ed.eol)),
                    });
                }
            }
        }
    }
    Ok(())
}

/// How far this file indents block-sequence dashes under their key (`resources:`
/// and the like): "" for flush `- x`, "  " for indented. Flush when unknown, as
/// `kustomize edit` writes.
fn sequence_offset(ed: &Editor, imgs: &Images) -> String {
    let Some(Node::Map { entries, .. }) = imgs.root else {
        return String::new();
    };
    for (k, v) in entries {
        if let Node::Seq {
            flow: false, items, ..
        } = v
            && let Some(first) = items.first()
        {
            let key_col = ed.indent_of(k.start).len();
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

// ---------------------------------------------------------------------------
// Files

/// Atomic write: a temp file in the same folder, synced, then renamed over the
/// target, keeping its permissions. Readers see the old file or the new one. A
/// symlinked file is written through the link, which stays a link.
pub fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let target = if is_link {
        std::fs::canonicalize(path)?
    } else {
        path.to_path_buf()
    };
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".gitops-action-")
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    // The temp file is private (0600); the result gets the old file's mode, or
    // the usual 0644 for a new file.
    let old = std::fs::metadata(&target);
    let perms = match &old {
        Ok(meta) => meta.permissions(),
        Err(_) => std::os::unix::fs::PermissionsExt::from_mode(0o644),
    };
    std::fs::set_permissions(tmp.path(), perms)?;
    // A Docker action runs as root on the runner user's checkout: the file keeps its
    // owner (a new one takes the folder's), or the job's next steps, run as that
    // user, could no longer write it. Only root may give a file away; others keep
    // the file as they made it.
    use std::os::unix::fs::MetadataExt;
    let owner = match &old {
        Ok(meta) => Some((meta.uid(), meta.gid())),
        Err(_) => std::fs::metadata(dir).ok().map(|m| (m.uid(), m.gid())),
    };
    let mine = tmp.as_file().metadata()?;
    if let Some((uid, gid)) = owner
        && (uid, gid) != (mine.uid(), mine.gid())
    {
        match std::os::unix::fs::chown(tmp.path(), Some(uid), Some(gid)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
            Err(e) => return Err(e.into()),
        }
    }
    tmp.persist(&target).map_err(|e| e.error)?;
    // The rename is durable once the folder's entry is on disk.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A unified diff of one hunk around the changed lines, for `--dry-run`.
pub fn unified_diff(label: &str, before: &str, after: &str) -> String {
    let a: Vec<&str> = before.split_inclusive('\n').collect();
    let b: Vec<&str> = after.split_inclusive('\n').collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    if prefix == a.len() && prefix == b.len() {
        return String::new();
    }
    let ctx = 3;
    let start = prefix.saturating_sub(ctx);
    let a_end = (a.len() - suffix + ctx).min(a.len());
    let b_end = (b.len() - suffix + ctx).min(b.len());
    let mut out = format!(
        "--- a/{label}\n+++ b/{label}\n@@ -{},{} +{},{} @@\n",
        start + 1,
        a_end - start,
        start + 1,
        b_end - start
    );
    let line = |prefix: char, l: &str| {
        let mut s = format!("{prefix}{}", l.trim_end_matches(['\n', '\r']));
        s.push('\n');
        if !l.ends_with('\n') {
            s.push_str("\\ No newline at end of file\n");
        }
        s
    };
    for l in &a[start..prefix] {
        out.push_str(&line(' ', l));
    }
    for l in &a[prefix..a.len() - suffix] {
        out.push_str(&line('-', l));
    }
    for l in &b[prefix..b.len() - suffix] {
        out.push_str(&line('+', l));
    }
    for l in &a[a.len() - suffix..a_end] {
        out.push_str(&line(' ', l));
    }
    out
}

#[cfg(test)]
mod tests {
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
        // Digest only keeps the tag.
        assert_eq!(set(text, None, Some(D2)), text.replace(D1, D2));
        // A digest first on the dash line: the next key moves up.
        let text = "images:\n- digest: sha256:1111111111111111111111111111111111111111111111111111111111111111\n  name: ghcr.io/acme/hello\n  newTag: v1\n";
        assert_eq!(
            set(text, Some("v2"), None),
            "images:\n- name: ghcr.io/acme/hello\n  newTag: v2\n"
        );
    }

    #[test]
    fn inserts_missing_keys_in_the_entrys_style() {
        let text = "images:\n    -   name: ghcr.io/acme/hello\n        newName: ghcr.io/acme/hello\n# end\n";
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
        let text = "images:\n- name: other\n  newTag: |-\n    v1\n- name: ghcr.io/acme/hello\n  newTag: v1\n";
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
        let text = "resources:\n- a\nimages:\r\n- name: ghcr.io/acme/hello\r\n  newTag: v1\r\nnamespace: x\n";
        assert_eq!(
            set(text, None, Some(D1)),
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
    fn write_atomic_keeps_mode_follows_links_and_creates_0644() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.yaml");
        std::fs::write(&real, "a\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("kustomization.yaml");
        std::os::unix::fs::symlink("real.yaml", &link).unwrap();
        write_atomic(&link, b"b\n").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
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
                    if let Some(t) = tag { proptest::prop_assert_eq!(back.new_tag.as_deref(), Some(t)); }
                    if let Some(d) = digest { proptest::prop_assert_eq!(back.digest.as_deref(), Some(d)); }
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
            let old_tag = (pos < n).then(|| format!("t{pos}"));
            proptest::prop_assert_eq!(back.new_tag, tag.map(str::to_string).or(old_tag));
            let old_digest = (pos < n && with_digest && tag.is_none()).then_some(D1);
            proptest::prop_assert_eq!(back.digest.as_deref(), digest.or(old_digest));
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
}
