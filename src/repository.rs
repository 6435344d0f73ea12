//! A GitHub repository's name, `owner/name`: the two repositories a run may touch
//! (the one whose code is released, and the one whose config and manifests change)
//! are kept apart by this type, not by strings, so a request is sent to the one
//! meant.

use std::fmt;

/// `owner/name`, as GitHub spells it. Compared without case, as GitHub's names are
/// ("Acme/Hello" and "acme/hello" are the same repository).
#[derive(Debug, Clone)]
pub struct RepoName {
    pub owner: String,
    pub name: String,
}

impl RepoName {
    /// `owner/name`. An owner is 1–39 of ASCII letters, digits and single inner
    /// hyphens (GitHub's login rule); a repository name 1–100 of ASCII letters,
    /// digits, `-`, `_` and `.`, not `.` or `..`. Anything else is no repository
    /// GitHub can have, so it is refused before a request is made.
    pub fn parse(s: &str) -> Result<RepoName, &'static str> {
        let (owner, name) = s.trim().split_once('/').ok_or("is not `owner/name`")?;
        let owner_ok = !owner.is_empty()
            && owner.len() <= 39
            && owner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !owner.starts_with('-')
            && !owner.ends_with('-')
            && !owner.contains("--");
        if !owner_ok {
            return Err(
                "has an owner GitHub does not allow (letters, digits and single inner hyphens, at most 39)",
            );
        }
        let name_ok = !name.is_empty()
            && name.len() <= 100
            && name != "."
            && name != ".."
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !name_ok {
            return Err(
                "has a name GitHub does not allow (letters, digits, `-`, `_`, `.`, at most 100)",
            );
        }
        Ok(RepoName {
            owner: owner.to_string(),
            name: name.to_string(),
        })
    }

    /// `GITHUB_REPOSITORY`: the repository of the run.
    pub fn of_run() -> Option<RepoName> {
        std::env::var("GITHUB_REPOSITORY")
            .ok()
            .and_then(|r| RepoName::parse(&r).ok())
    }
}

impl PartialEq for RepoName {
    fn eq(&self, o: &Self) -> bool {
        self.owner.eq_ignore_ascii_case(&o.owner) && self.name.eq_ignore_ascii_case(&o.name)
    }
}

impl Eq for RepoName {}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_github_allows() {
        let r = RepoName::parse("acme/hello.web_2").unwrap();
        assert_eq!((r.owner.as_str(), r.name.as_str()), ("acme", "hello.web_2"));
        assert_eq!(r.to_string(), "acme/hello.web_2");
        assert_eq!(
            RepoName::parse("Acme/Hello").unwrap(),
            r.clone().with_name("hello")
        );
        for bad in [
            "acme",
            "/x",
            "acme/",
            "acme/a/b",
            "-acme/x",
            "ac--me/x",
            "acme/..",
            "acme/a b",
            "acme/x?y",
            "https://github.com/acme/x",
        ] {
            assert!(RepoName::parse(bad).is_err(), "{bad}");
        }
    }

    impl RepoName {
        fn with_name(mut self, n: &str) -> RepoName {
            self.name = n.into();
            self
        }
    }
}
