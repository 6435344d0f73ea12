//! The one writer every format shares: the file's text, the splices a format asks
//! for (a scalar's bytes replaced, whole lines inserted), applied to the original
//! bytes so nothing else moves; and how a value is written in a scalar's style.
//!
//! A format never re-serialises: it finds the byte spans of its fields in the
//! positional tree (`crate::yaml`) and hands them here, as Renovate's managers
//! hand their updater the exact text to replace.

use std::path::Path;

use crate::error::{Location, UserError};
use saphyr_parser::ScalarStyle;

use crate::yaml::Scalar;

/// The text being read or edited, and its path for messages.
pub(crate) struct Source<'a> {
    pub(crate) text: &'a str,
    pub(crate) path: &'a Path,
    /// The last `line_of` answer (byte, line): readers ask in file order, so each
    /// asks only for the newlines since the last one. Counting from the start
    /// each time made reading a 500-entry overlay quadratic (`scripts/bench-fleet`).
    last: std::cell::Cell<(usize, usize)>,
}

impl<'a> Source<'a> {
    pub(crate) fn new(path: &'a Path, text: &'a str) -> Self {
        Source {
            text,
            path,
            last: std::cell::Cell::new((0, 1)),
        }
    }

    pub(crate) fn location(&self, byte: usize) -> Location {
        let before = &self.text[..byte.min(self.text.len())];
        let line = self.line_of(byte);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location::new(self.path, line, before[line_start..].chars().count() + 1)
    }

    pub(crate) fn line_of(&self, byte: usize) -> usize {
        let byte = byte.min(self.text.len());
        let (from, line) = match self.last.get() {
            (b, l) if b <= byte => (b, l),
            _ => (0, 1),
        };
        let n = line + memchr_count(&self.text.as_bytes()[from..byte]);
        self.last.set((byte, n));
        n
    }

    pub(crate) fn error(&self, byte: usize, message: impl Into<String>) -> UserError {
        UserError::at(self.location(byte), message)
    }
}

fn memchr_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// An OCI tag (`crate::grammar::is_tag`), or a UserError naming the value.
pub(crate) fn check_tag(tag: &str) -> Result<(), UserError> {
    if crate::grammar::is_tag(tag) {
        Ok(())
    } else {
        Err(UserError::new(format!("`{tag}` is not a valid image tag"))
            .hint("tags are 1 to 128 of `A-Z a-z 0-9 _ . -`, not starting with `.` or `-`"))
    }
}

/// A digest we can verify (`crate::grammar::is_digest`), or a UserError naming the value.
pub(crate) fn check_digest(digest: &str) -> Result<(), UserError> {
    if crate::grammar::is_digest(digest) {
        Ok(())
    } else {
        Err(UserError::new(format!("`{digest}` is not a valid digest"))
            .hint("a digest is `sha256:` and 64 lower-case hex digits (or `sha512:` and 128)"))
    }
}

/// Would YAML read this plain scalar as something other than a string?
pub(crate) fn needs_quotes(v: &str) -> bool {
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
        || reads_as_number_or_date(v)
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
pub(crate) fn render(v: &str, style: ScalarStyle) -> String {
    match style {
        ScalarStyle::SingleQuoted => format!("'{}'", v.replace('\'', "''")),
        ScalarStyle::Plain if !needs_quotes(v) => v.to_string(),
        _ => format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

/// One splice: replace `start..end` with `text`.
#[derive(Debug)]
pub(crate) struct Splice {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) text: String,
}

pub(crate) struct Editor<'a> {
    pub(crate) src: &'a Source<'a>,
    pub(crate) eol: &'static str,
    pub(crate) splices: Vec<Splice>,
}

impl Editor<'_> {
    /// Byte offset just past the line holding `pos` (past its line ending).
    pub(crate) fn line_end(&self, pos: usize) -> usize {
        match self.src.text[pos..].find('\n') {
            Some(i) => pos + i + 1,
            None => self.src.text.len(),
        }
    }

    /// The char boundary before `pos` (for "the line this value ends on").
    pub(crate) fn before(&self, pos: usize) -> usize {
        let mut p = pos.saturating_sub(1);
        while p > 0 && !self.src.text.is_char_boundary(p) {
            p -= 1;
        }
        p
    }

    pub(crate) fn line_start(&self, pos: usize) -> usize {
        self.src.text[..pos].rfind('\n').map_or(0, |i| i + 1)
    }

    /// The `-` of the block-sequence item that starts at or after it on the same
    /// line: the parser puts an indentless sequence's start at its first key.
    pub(crate) fn dash_of(&self, pos: usize) -> usize {
        let start = self.line_start(pos);
        if self.src.text.as_bytes().get(pos) == Some(&b'-') {
            return pos;
        }
        self.src.text[start..pos]
            .rfind('-')
            .map_or(pos, |i| start + i)
    }

    /// Leading spaces for a key at byte `pos`: its column.
    pub(crate) fn indent_of(&self, pos: usize) -> String {
        // A byte order mark opens the first line but is not indentation.
        let lead = &self.src.text[self.line_start(pos)..pos];
        " ".repeat(lead.chars().filter(|&c| c != '\u{feff}').count())
    }

    /// Insert whole lines after the line holding `pos`. At the end of a file that
    /// lacks a final newline, the new lines lack it too.
    pub(crate) fn insert_lines_after(&mut self, pos: usize, lines: &[String]) {
        let at = self.line_end(pos);
        self.lines_at(at, lines);
    }

    /// Whole lines at `at`, the end of a line or of the file: they end as the line
    /// they follow does (files may mix endings), and at the end of a file without a
    /// final newline they get none either.
    fn lines_at(&mut self, at: usize, lines: &[String]) {
        let eol = self.eol_before(at);
        let body = lines.join(eol);
        let text = if at > 0 && at == self.src.text.len() && !self.src.text.ends_with('\n') {
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

    /// The line ending of the line that ends at `at` (just past its `\n`), else
    /// the file's.
    fn eol_before(&self, at: usize) -> &'static str {
        match self.src.text[..at].strip_suffix('\n') {
            Some(line) if line.ends_with('\r') => "\r\n",
            Some(_) => "\n",
            None => self.eol,
        }
    }

    /// Whole lines at the end of the file, which keeps its final-newline
    /// convention: without a final newline before, none after.
    pub(crate) fn append_lines(&mut self, lines: &[String]) {
        self.lines_at(self.src.text.len(), lines);
    }

    /// Whole lines before the line that starts at `at`.
    pub(crate) fn insert_lines_before(&mut self, at: usize, lines: &[String]) {
        let eol = self.eol_before(at);
        self.splices.push(Splice {
            start: at,
            end: at,
            text: format!("{}{eol}", lines.join(eol)),
        });
    }

    /// The start of the first line at or after `from` (a line start) that is a
    /// document marker, `---` or `...` alone or before a space or comment.
    pub(crate) fn document_marker_from(&self, from: usize) -> Option<usize> {
        let mut at = from;
        for line in self.src.text[from..].split_inclusive('\n') {
            let is_marker = ["---", "..."].iter().any(|m| {
                line.strip_prefix(m).is_some_and(|rest| {
                    rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n'])
                })
            });
            if is_marker {
                return Some(at);
            }
            at += line.len();
        }
        None
    }

    /// Replace the value `s` of `key` with `value`, in the value's quoting style.
    pub(crate) fn replace(&mut self, key: &Scalar, s: &Scalar, value: &str) {
        if s.span.start == s.span.end {
            // `newTag:` with nothing after it: the empty value's mark sits at the
            // next token, so write the value right after the colon instead.
            let colon = self.src.text[key.span.end..]
                .find(':')
                .map_or(key.span.end, |i| key.span.end + i + 1);
            self.splices.push(Splice {
                start: colon,
                end: colon,
                text: format!(" {}", render(value, ScalarStyle::Plain)),
            });
            return;
        }
        self.splices.push(Splice {
            start: s.span.start,
            end: s.span.end,
            text: render(value, s.style),
        });
    }

    /// The edited text, or `None` when two splices overlap (the edit would not be
    /// a clean one).
    pub(crate) fn apply(mut self) -> Option<String> {
        splice(self.src.text, &mut self.splices)
    }
}

/// A plain scalar YAML 1.1 or 1.2 would resolve to a number or a timestamp rather
/// than a string: `1_000`, `+12`, `1:20` (1.1's base 60), `2024-01-01`. A version
/// such as `1.2.3` is none of these and stays plain.
fn reads_as_number_or_date(v: &str) -> bool {
    let s = v.strip_prefix(['-', '+']).unwrap_or(v);
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let no_underscores = s.replace('_', "");
    if !no_underscores.is_empty() && no_underscores.parse::<f64>().is_ok() {
        return true;
    }
    if s.contains(':') {
        let mut parts = s.split(':');
        let last = parts.next_back().unwrap_or_default();
        let (whole, frac) = last.split_once('.').unwrap_or((last, "0"));
        if parts.all(digits) && digits(whole) && (frac.is_empty() || digits(frac)) {
            return true;
        }
    }
    let b = s.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

/// Apply `splices` to `text`: `None` when two overlap or one cuts a character.
pub(crate) fn splice(text: &str, splices: &mut [Splice]) -> Option<String> {
    splices.sort_by_key(|s| (s.start, s.end));
    let mut out = String::with_capacity(text.len() + 64);
    let mut at = 0;
    for s in splices.iter() {
        if s.start < at
            || s.end < s.start
            || !text.is_char_boundary(s.start)
            || !text.is_char_boundary(s.end)
        {
            return None;
        }
        out.push_str(&text[at..s.start]);
        out.push_str(&s.text);
        at = s.end;
    }
    out.push_str(&text[at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asked in any order, `line_of` answers as counting from the start would.
    #[test]
    fn line_of_in_any_order_is_the_count_from_the_start() {
        let text = "a\nbb\n\nccc\nd";
        let src = Source::new(Path::new("x"), text);
        for byte in [0, 3, 2, 9, 5, 5, 11, 1, 40, 6, 0] {
            let want = text[..byte.min(text.len())].matches('\n').count() + 1;
            assert_eq!(src.line_of(byte), want, "byte {byte}");
            assert_eq!(src.location(byte).line, want, "byte {byte}");
        }
    }
}
