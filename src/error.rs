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
