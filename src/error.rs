//! The two kinds of failure a user can meet, and the hints that come with them.
//!
//! Bad input or config is a [`UserError`] (exit code 2); anything else that goes
//! wrong while operating is a failure (exit code 1). Both may carry a hint: the one
//! thing the user should do next.

use std::fmt;
use std::path::{Path, PathBuf};

/// A place in a file the user wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
}

impl Location {
    pub fn new(file: impl Into<PathBuf>, line: usize, column: usize) -> Self {
        Location {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem with the user's input, config or files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub location: Option<Location>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Bad input or config: exit code 2. Holds every problem found, so the user can
/// fix them all in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub diagnostics: Vec<Diagnostic>,
    pub hint: Option<String>,
}

impl UserError {
    pub fn new(message: impl Into<String>) -> Self {
        UserError {
            diagnostics: vec![Diagnostic {
                location: None,
                message: message.into(),
            }],
            hint: None,
        }
    }

    pub fn at(location: Location, message: impl Into<String>) -> Self {
        UserError {
            diagnostics: vec![Diagnostic {
                location: Some(location),
                message: message.into(),
            }],
            hint: None,
        }
    }

    pub fn many(diagnostics: Vec<Diagnostic>) -> Self {
        UserError {
            diagnostics,
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UserError {}

/// An operation that failed (network, registry, git, GitHub): exit code 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Exit code for an error chain: 2 when any link is a [`UserError`], else 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.chain().any(|e| e.is::<UserError>()) {
        2
    } else {
        1
    }
}

/// The hint of the first link that has one.
pub fn hint_of(err: &anyhow::Error) -> Option<&str> {
    err.chain().find_map(|e| {
        if let Some(u) = e.downcast_ref::<UserError>() {
            u.hint.as_deref()
        } else if let Some(f) = e.downcast_ref::<Failure>() {
            f.hint.as_deref()
        } else {
            None
        }
    })
}

/// The first location named in the chain, for `::error file=…` annotations.
pub fn location_of(err: &anyhow::Error) -> Option<&Location> {
    err.chain()
        .filter_map(|e| e.downcast_ref::<UserError>())
        .flat_map(|u| u.diagnostics.iter())
        .find_map(|d| d.location.as_ref())
}

/// Shorthand for a location in `path` at 1-based line and column.
pub fn loc(path: &Path, line: usize, column: usize) -> Location {
    Location::new(path, line, column)
}

/// The text of a file the user wrote (an overlay, the config, CODEOWNERS): `Ok(None)`
/// when it does not exist; a [`UserError`] when it is a directory or not UTF-8 (named
/// by line and column); any other I/O error as a failure. `rel` is the path to show.
pub fn read_user_file(path: &Path, rel: &Path) -> anyhow::Result<Option<String>> {
    use anyhow::Context as _;
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(decode_user_text(rel, bytes)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(_) if path.is_dir() => Err(UserError::new(format!(
            "`{}` is a directory, not a file",
            rel.display()
        ))
        .hint("this path must be a file: rename the directory, or point `config` (or the environment's `overlay:`) elsewhere")
        .into()),
        Err(e) => Err(e).with_context(|| format!("reading `{}`", rel.display())),
    }
}

/// `bytes` as UTF-8 text, or a [`UserError`] at the line and column of the first byte
/// that is not (UTF-16, which some Windows editors write, is named as such).
pub fn decode_user_text(rel: &Path, bytes: Vec<u8>) -> Result<String, UserError> {
    let err = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(e) => e,
    };
    let bytes = err.as_bytes();
    let good = err.utf8_error().valid_up_to();
    let prefix = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
    let line = prefix.matches('\n').count() + 1;
    let column = prefix.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    let (what, from) = if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        (
            "is UTF-16 text (it starts with a UTF-16 byte-order mark)".to_string(),
            "UTF-16",
        )
    } else {
        (
            format!("is not UTF-8 text: byte 0x{:02x} here", bytes[good]),
            "LATIN1",
        )
    };
    Err(UserError::at(loc(rel, line, column), what).hint(format!(
        "YAML is read as UTF-8: save `{}` as UTF-8 (from {from}: `iconv -f {from} -t UTF-8`)",
        rel.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_not_utf8_is_named_by_line_and_column() {
        let e =
            decode_user_text(Path::new("o/k.yaml"), b"a: 1\nb: caf\xe9\n".to_vec()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "o/k.yaml:2:7: is not UTF-8 text: byte 0xe9 here"
        );
        assert!(e.hint.unwrap().contains("save `o/k.yaml` as UTF-8"));
        let e = decode_user_text(Path::new("k.yaml"), b"\xff\xfei\x00".to_vec()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "k.yaml:1:1: is UTF-16 text (it starts with a UTF-16 byte-order mark)"
        );
        assert_eq!(
            decode_user_text(Path::new("k"), "é\n".into()).unwrap(),
            "é\n"
        );
    }

    #[test]
    fn a_directory_is_a_user_error_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read_user_file(&dir.path().join("nope"), Path::new("nope"))
                .unwrap()
                .is_none()
        );
        let e = read_user_file(dir.path(), Path::new("overlays/dev")).unwrap_err();
        assert_eq!(exit_code(&e), 2);
        assert_eq!(e.to_string(), "`overlays/dev` is a directory, not a file");
    }
}
