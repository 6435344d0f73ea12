//! Git refs to environments: branch globs and SemVer tag globs with `!`
//! exclusions, where the last matching pattern decides, as in `.gitignore`.

use globset::{GlobBuilder, GlobMatcher};

/// A git ref, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    Branch(String),
    Tag(String),
    /// Pull request merge refs and anything else: no environment.
    Other(String),
}

impl GitRef {
    /// `refs/heads/x` and `refs/tags/x` as GitHub sends them; a bare name is a branch.
    pub fn parse(r: &str) -> GitRef {
        if let Some(b) = r.strip_prefix("refs/heads/") {
            GitRef::Branch(b.to_string())
        } else if let Some(t) = r.strip_prefix("refs/tags/") {
            GitRef::Tag(t.to_string())
        } else if r.starts_with("refs/") {
            GitRef::Other(r.to_string())
        } else {
            GitRef::Branch(r.to_string())
        }
    }

    /// [`GitRef::parse`] for a ref the user gave (`ref` input, `GITHUB_REF`): refuses
    /// what git would not accept as a ref name, such as `refs/heads/` or `a..b`.
    pub fn parse_input(r: &str) -> Result<GitRef, crate::error::UserError> {
        let full = if r.starts_with("refs/") {
            r.to_string()
        } else {
            format!("refs/heads/{r}")
        };
        if !git2::Reference::is_valid_name(&full) {
            return Err(
                crate::error::UserError::new(format!("`{r}` is not a valid git ref"))
                    .hint("give a branch or tag as `refs/heads/<branch>`, `refs/tags/<tag>`, or a bare branch name"),
            );
        }
        Ok(GitRef::parse(r))
    }

    pub fn name(&self) -> &str {
        match self {
            GitRef::Branch(n) | GitRef::Tag(n) | GitRef::Other(n) => n,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            GitRef::Branch(_) => "branch",
            GitRef::Tag(_) => "tag",
            GitRef::Other(_) => "ref",
        }
    }
}

#[derive(Debug, Clone)]
struct Pattern {
    source: String,
    negated: bool,
    matcher: GlobMatcher,
}

/// An ordered list of globs; `!` negates; the last pattern that matches decides.
#[derive(Debug, Clone, Default)]
pub struct RefPatterns {
    patterns: Vec<Pattern>,
}

impl RefPatterns {
    /// Compile the patterns; returns the index and message of each bad one.
    pub fn new<S: AsRef<str>>(sources: &[S]) -> Result<RefPatterns, Vec<(usize, String)>> {
        let mut patterns = Vec::new();
        let mut errors = Vec::new();
        for (i, s) in sources.iter().enumerate() {
            let s = s.as_ref();
            let (negated, glob) = match s.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, s),
            };
            if glob.is_empty() {
                errors.push((i, format!("empty pattern `{s}`")));
                continue;
            }
            // `*` stays within one path segment and `**` crosses them, as in git.
            match GlobBuilder::new(glob)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
            {
                Ok(g) => patterns.push(Pattern {
                    source: s.to_string(),
                    negated,
                    matcher: g.compile_matcher(),
                }),
                Err(e) => errors.push((i, format!("bad pattern `{s}`: {}", e.kind()))),
            }
        }
        if errors.is_empty() {
            Ok(RefPatterns { patterns })
        } else {
            Err(errors)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The pattern that decides for `name`, if it includes it.
    pub fn decide(&self, name: &str) -> Option<&str> {
        let last = self
            .patterns
            .iter()
            .rev()
            .find(|p| p.matcher.is_match(name))?;
        (!last.negated).then_some(last.source.as_str())
    }

    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(|p| p.source.as_str())
    }
}

/// Why a ref did or did not select an environment, for `resolve`'s notices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefMatch {
    /// The pattern that selected it.
    Selected(String),
    NotSelected,
}

/// Does a tag pattern select `tag`? Only SemVer tags are considered; a prerelease
/// (`v1.1.0-alpha1`) is selected only by a pattern that names a prerelease part
/// (contains `-`), so it can never reach a stable channel such as `v*`.
pub fn tag_selects(patterns: &RefPatterns, tag: &str) -> RefMatch {
    let Some(version) = crate::tag::parse_semver_tag(tag) else {
        return RefMatch::NotSelected;
    };
    match patterns.decide(tag) {
        Some(p) if version.pre.is_empty() || p.trim_start_matches('!').contains('-') => {
            RefMatch::Selected(p.to_string())
        }
        _ => RefMatch::NotSelected,
    }
}

/// Does a branch pattern list select `branch`?
pub fn branch_selects(patterns: &RefPatterns, branch: &str) -> RefMatch {
    match patterns.decide(branch) {
        Some(p) => RefMatch::Selected(p.to_string()),
        None => RefMatch::NotSelected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(p: &[&str]) -> RefPatterns {
        RefPatterns::new(p).unwrap()
    }

    #[test]
    fn last_match_decides() {
        let dev = pats(&["**", "!main", "!test/**"]);
        assert!(dev.decide("feature/x").is_some());
        assert!(dev.decide("main").is_none());
        assert!(dev.decide("test/uat").is_none());
        assert!(dev.decide("test").is_some());
        let p = pats(&["release/*", "!release/old", "release/old"]);
        assert_eq!(p.decide("release/old"), Some("release/old"));
        assert!(pats(&["feature/*"]).decide("feature/a/b").is_none());
    }

    #[test]
    fn semver_channels() {
        let prod = pats(&["v*"]);
        let beta = pats(&["v*-beta*"]);
        assert_eq!(
            tag_selects(&prod, "v1.2.3"),
            RefMatch::Selected("v*".into())
        );
        assert_eq!(tag_selects(&prod, "v1.1.0-alpha1"), RefMatch::NotSelected);
        assert_eq!(
            tag_selects(&beta, "v1.3.0-beta1"),
            RefMatch::Selected("v*-beta*".into())
        );
        assert_eq!(tag_selects(&beta, "v1.3.0"), RefMatch::NotSelected);
        assert_eq!(tag_selects(&prod, "vnext"), RefMatch::NotSelected);
        assert_eq!(
            tag_selects(&pats(&["*"]), "2.0.0"),
            RefMatch::Selected("*".into())
        );
    }

    #[test]
    fn refs() {
        assert_eq!(
            GitRef::parse("refs/heads/feature/x"),
            GitRef::Branch("feature/x".into())
        );
        assert_eq!(
            GitRef::parse("refs/tags/v1.2.3"),
            GitRef::Tag("v1.2.3".into())
        );
        assert_eq!(
            GitRef::parse("refs/pull/1/merge"),
            GitRef::Other("refs/pull/1/merge".into())
        );
        assert_eq!(GitRef::parse("main"), GitRef::Branch("main".into()));
        for bad in [
            "refs/heads/",
            "refs/heads/a..b",
            "feature x",
            "refs/tags/v1.lock",
            "",
        ] {
            assert!(GitRef::parse_input(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            GitRef::parse_input("refs/tags/v1.2.3").unwrap(),
            GitRef::Tag("v1.2.3".into())
        );
    }

    #[test]
    fn bad_patterns_are_reported() {
        let errs = RefPatterns::new(&["ok", "a[", "!"]).unwrap_err();
        assert_eq!(errs.iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 2]);
    }
}
