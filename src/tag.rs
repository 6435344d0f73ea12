//! Tag templates: turn a commit into a sortable image tag, parse a tag back, and
//! order tags newest first. Every tag produced satisfies the OCI tag grammar.

use std::cmp::Ordering;
use std::fmt;

/// The placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &["env", "branch", "sha", "sha7", "timestamp", "version"];

use crate::grammar::{self, MAX_TAG_LEN};

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(Var),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    Env,
    Branch,
    Sha,
    Sha7,
    Timestamp,
    Version,
}

impl Var {
    fn from_name(name: &str) -> Option<Var> {
        Some(match name {
            "env" => Var::Env,
            "branch" => Var::Branch,
            "sha" => Var::Sha,
            "sha7" => Var::Sha7,
            "timestamp" => Var::Timestamp,
            "version" => Var::Version,
            _ => return None,
        })
    }
}

/// Why a template string is not a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset in the template where the problem starts.
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A validated tag template such as `dev-{branch}-{sha7}-{timestamp}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// What a tag is made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagVars {
    pub env: String,
    /// The branch name as in git (`feature/X`); sanitized when formatted.
    pub branch: Option<String>,
    /// Full 40-hex commit id.
    pub sha: String,
    /// Commit time in Unix seconds (or `SOURCE_DATE_EPOCH`).
    pub timestamp: i64,
    /// SemVer without the leading `v`.
    pub version: Option<String>,
}

/// What a tag says about itself, recovered through its template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedTag {
    pub env: Option<String>,
    pub branch: Option<String>,
    pub sha: Option<String>,
    pub sha7: Option<String>,
    pub timestamp: Option<i64>,
    pub version: Option<semver::Version>,
}

/// A template needs a value the caller doesn't have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingVar(pub &'static str);

impl fmt::Display for MissingVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the tag template needs `{{{}}}` but none is known",
            self.0
        )
    }
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, Vec<TemplateError>> {
        let mut parts = Vec::new();
        let mut errors = Vec::new();
        let mut literal = String::new();
        let mut rest = source.char_indices().peekable();
        while let Some((i, c)) = rest.next() {
            match c {
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, c) in rest.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        errors.push(TemplateError {
                            offset: i,
                            message: format!("unclosed `{{` in tag template `{source}`"),
                        });
                        break;
                    }
                    match Var::from_name(&name) {
                        Some(var) => {
                            if !literal.is_empty() {
                                parts.push(Part::Literal(std::mem::take(&mut literal)));
                            }
                            parts.push(Part::Var(var));
                        }
                        None => errors.push(TemplateError {
                            offset: i,
                            message: format!(
                                "unknown placeholder `{{{name}}}` in tag template `{source}` (known: {})",
                                PLACEHOLDERS
                                    .iter()
                                    .map(|p| format!("`{{{p}}}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        }),
                    }
                }
                '}' => errors.push(TemplateError {
                    offset: i,
                    message: format!("unmatched `}}` in tag template `{source}`"),
                }),
                c if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') => literal.push(c),
                c => errors.push(TemplateError {
                    offset: i,
                    message: format!(
                        "character `{c}` in tag template `{source}` is not allowed in an OCI tag"
                    ),
                }),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        if errors.is_empty() && parts.is_empty() {
            errors.push(TemplateError {
                offset: 0,
                message: "the tag template is empty".into(),
            });
        }
        if errors.is_empty() && !parts.iter().any(|p| matches!(p, Part::Var(_))) {
            errors.push(TemplateError {
                offset: 0,
                message: format!(
                    "tag template `{source}` has no placeholder, so every release would get the same tag"
                ),
            });
        }
        if let Some(Part::Literal(l)) = parts.first()
            && l.starts_with(['.', '-'])
        {
            errors.push(TemplateError {
                offset: 0,
                message: format!("tag template `{source}` must not start with `.` or `-`"),
            });
        }
        if errors.is_empty() {
            Ok(Template {
                source: source.to_string(),
                parts,
            })
        } else {
            Err(errors)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn uses(&self, var: Var) -> bool {
        self.parts.contains(&Part::Var(var))
    }

    /// Tags of `{version}` templates sort by SemVer precedence, others by time.
    pub fn is_versioned(&self) -> bool {
        self.uses(Var::Version)
    }

    /// Render the tag. When it would be longer than 128 characters, the `{branch}`
    /// part is shortened; the sha, timestamp and version never are.
    pub fn format(&self, vars: &TagVars) -> Result<String, MissingVar> {
        let branch = match &vars.branch {
            // A branch of only punctuation sanitizes to nothing; keep the tag parseable.
            Some(b) => Some(
                Some(sanitize_branch(b))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "branch".into()),
            ),
            None if self.uses(Var::Branch) => return Err(MissingVar("branch")),
            None => None,
        };
        let version = match &vars.version {
            Some(v) => Some(sanitize_version(v)),
            None if self.uses(Var::Version) => return Err(MissingVar("version")),
            None => None,
        };
        let render = |branch: &str| -> String {
            let mut out = String::new();
            for part in &self.parts {
                match part {
                    Part::Literal(l) => out.push_str(l),
                    Part::Var(Var::Env) => out.push_str(&vars.env),
                    Part::Var(Var::Branch) => out.push_str(branch),
                    Part::Var(Var::Sha) => out.push_str(&vars.sha),
                    Part::Var(Var::Sha7) => out.push_str(&vars.sha[..vars.sha.len().min(7)]),
                    Part::Var(Var::Timestamp) => out.push_str(&vars.timestamp.to_string()),
                    Part::Var(Var::Version) => out.push_str(version.as_deref().unwrap_or_default()),
                }
            }
            out
        };
        let branch = branch.unwrap_or_default();
        let mut tag = render(&branch);
        if tag.len() > MAX_TAG_LEN {
            let uses = self
                .parts
                .iter()
                .filter(|p| **p == Part::Var(Var::Branch))
                .count();
            if uses > 0 {
                let excess = tag.len() - MAX_TAG_LEN;
                let keep = branch.len().saturating_sub(excess.div_ceil(uses)).max(1);
                let short = branch[..keep].trim_end_matches(['-', '.']);
                tag = render(if short.is_empty() {
                    &branch[..1]
                } else {
                    short
                });
            }
        }
        Ok(tag)
    }

    /// Recover the variables from a tag made by this template, or `None` when the
    /// tag was not made by it.
    pub fn parse_tag(&self, tag: &str) -> Option<ParsedTag> {
        if !grammar::is_tag(tag) {
            return None;
        }
        let mut out = ParsedTag::default();
        if match_parts(&self.parts, tag, &mut out) {
            Some(out)
        } else {
            None
        }
    }

    /// Order two tags of this template: newest first. Tags the template did not
    /// make sort after all the others, by name.
    pub fn newest_first(&self, a: &str, b: &str) -> Ordering {
        let (pa, pb) = (self.parse_tag(a), self.parse_tag(b));
        match (pa, pb) {
            (Some(pa), Some(pb)) => {
                let by_key = if self.is_versioned() {
                    pb.version
                        .cmp(&pa.version)
                        .then(pb.timestamp.cmp(&pa.timestamp))
                } else {
                    pb.timestamp
                        .cmp(&pa.timestamp)
                        .then(pb.version.cmp(&pa.version))
                };
                by_key.then_with(|| b.cmp(a))
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => a.cmp(b),
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Backtracking match of template parts against a tag.
fn match_parts(parts: &[Part], s: &str, out: &mut ParsedTag) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return s.is_empty();
    };
    match first {
        Part::Literal(l) => s
            .strip_prefix(l.as_str())
            .is_some_and(|s| match_parts(rest, s, out)),
        Part::Var(var) => {
            // Candidate lengths, longest first: greedy like a regex.
            let max = s.len();
            for len in (1..=max).rev() {
                let (value, tail) = s.split_at(len);
                if !var_accepts(*var, value) {
                    continue;
                }
                let mut trial = out.clone();
                if !assign(*var, value, &mut trial) {
                    continue;
                }
                if match_parts(rest, tail, &mut trial) {
                    *out = trial;
                    return true;
                }
            }
            false
        }
    }
}

fn var_accepts(var: Var, v: &str) -> bool {
    let hex = |v: &str| v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match var {
        Var::Sha => v.len() == 40 && hex(v),
        Var::Sha7 => v.len() == 7 && hex(v),
        Var::Timestamp => v.len() <= 19 && v.bytes().all(|b| b.is_ascii_digit()),
        Var::Env => v
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-')),
        Var::Branch => v
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-')),
        Var::Version => v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')),
    }
}

fn assign(var: Var, v: &str, out: &mut ParsedTag) -> bool {
    match var {
        Var::Env => out.env = Some(v.to_string()),
        Var::Branch => out.branch = Some(v.to_string()),
        Var::Sha => {
            if out.sha7.as_deref().is_some_and(|s7| !v.starts_with(s7)) {
                return false;
            }
            out.sha = Some(v.to_string());
        }
        Var::Sha7 => {
            if out.sha.as_deref().is_some_and(|s| !s.starts_with(v)) {
                return false;
            }
            out.sha7 = Some(v.to_string());
        }
        Var::Timestamp => match v.parse() {
            Ok(t) => out.timestamp = Some(t),
            Err(_) => return false,
        },
        Var::Version => match semver::Version::parse(&v.replacen('_', "+", 1)) {
            Ok(ver) => out.version = Some(ver),
            Err(_) => return false,
        },
    }
    true
}

/// Lower case; anything outside `[a-z0-9_.-]` becomes `-`; no leading or trailing
/// `-` or `.`, so the result can start a tag.
pub fn sanitize_branch(branch: &str) -> String {
    let mapped: String = branch
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    mapped.trim_matches(['-', '.']).to_string()
}

/// SemVer build metadata (`+meta`) cannot appear in a tag; Docker's convention
/// writes it as `_meta`.
pub fn sanitize_version(version: &str) -> String {
    version.trim_start_matches('v').replace('+', "_")
}

/// Parse a git tag such as `v1.2.3` or `1.3.0-beta1` as SemVer 2.0.
pub fn parse_semver_tag(tag: &str) -> Option<semver::Version> {
    let v = tag.strip_prefix('v').unwrap_or(tag);
    semver::Version::parse(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "b4b9fda0c0ffee0123456789abcdef0123456789";

    fn vars() -> TagVars {
        TagVars {
            env: "dev".into(),
            branch: Some("Feature/JIRA-12_x".into()),
            sha: SHA.into(),
            timestamp: 1654880868,
            version: None,
        }
    }

    #[test]
    fn formats_the_seed_schemes() {
        let t = Template::parse("dev-{branch}-{sha7}-{timestamp}").unwrap();
        assert_eq!(
            t.format(&vars()).unwrap(),
            "dev-feature-jira-12_x-b4b9fda-1654880868"
        );
        let t = Template::parse("tst-{sha7}-{timestamp}").unwrap();
        assert_eq!(t.format(&vars()).unwrap(), "tst-b4b9fda-1654880868");
        let t = Template::parse("prd-{version}").unwrap();
        let v = TagVars {
            version: Some("1.2.3+build.7".into()),
            ..vars()
        };
        assert_eq!(t.format(&v).unwrap(), "prd-1.2.3_build.7");
        assert_eq!(t.format(&vars()), Err(MissingVar("version")));
    }

    #[test]
    fn rejects_bad_templates() {
        let errs = Template::parse("dev-{brnch}-{sha7}/{x").unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].message.contains("unknown placeholder `{brnch}`"));
        assert!(errs[1].message.contains("character `/`"));
        assert!(errs[2].message.contains("unclosed"));
        assert!(Template::parse("static").is_err());
        assert!(Template::parse("-{sha}").is_err());
    }

    #[test]
    fn long_branches_are_shortened_never_the_sha_or_time() {
        let t = Template::parse("dev-{branch}-{sha7}-{timestamp}").unwrap();
        let v = TagVars {
            branch: Some("x".repeat(300)),
            ..vars()
        };
        let tag = t.format(&v).unwrap();
        assert_eq!(tag.len(), MAX_TAG_LEN);
        assert!(tag.ends_with("-b4b9fda-1654880868"));
        assert!(grammar::is_tag(&tag));
        let p = t.parse_tag(&tag).unwrap();
        assert_eq!(p.timestamp, Some(1654880868));
    }

    #[test]
    fn parses_tags_back() {
        let t = Template::parse("dev-{branch}-{sha7}-{timestamp}").unwrap();
        let p = t.parse_tag("dev-feature-a-b-b4b9fda-1654880868").unwrap();
        assert_eq!(p.branch.as_deref(), Some("feature-a-b"));
        assert_eq!(p.sha7.as_deref(), Some("b4b9fda"));
        assert_eq!(p.timestamp, Some(1654880868));
        assert!(t.parse_tag("stg-b4b9fda-1654880868").is_none());
        let t = Template::parse("prd-{version}").unwrap();
        assert_eq!(
            t.parse_tag("prd-1.3.0-beta1").unwrap().version,
            Some("1.3.0-beta1".parse().unwrap())
        );
        let t = Template::parse("{sha}").unwrap();
        assert_eq!(t.parse_tag(SHA).unwrap().sha.as_deref(), Some(SHA));
    }

    #[test]
    fn sorts_newest_first() {
        let t = Template::parse("stg-{sha7}-{timestamp}").unwrap();
        let mut tags = vec![
            "stg-aaaaaaa-100",
            "junk",
            "stg-bbbbbbb-300",
            "stg-ccccccc-200",
        ];
        tags.sort_by(|a, b| t.newest_first(a, b));
        assert_eq!(
            tags,
            [
                "stg-bbbbbbb-300",
                "stg-ccccccc-200",
                "stg-aaaaaaa-100",
                "junk"
            ]
        );
        let t = Template::parse("prd-{version}").unwrap();
        let mut tags = vec!["prd-1.2.3", "prd-1.10.0", "prd-1.10.0-rc.1", "prd-1.9.9"];
        tags.sort_by(|a, b| t.newest_first(a, b));
        assert_eq!(
            tags,
            ["prd-1.10.0", "prd-1.10.0-rc.1", "prd-1.9.9", "prd-1.2.3"]
        );
    }

    proptest::proptest! {
        #[test]
        fn any_branch_gives_a_valid_tag_that_parses_back(branch in "\\PC{0,300}", ts in 0i64..4_000_000_000) {
            let t = Template::parse("dev-{branch}-{sha7}-{timestamp}").unwrap();
            let v = TagVars { branch: Some(branch), timestamp: ts, ..vars() };
            let tag = t.format(&v).unwrap();
            proptest::prop_assert!(grammar::is_tag(&tag), "{}", tag);
            let p = t.parse_tag(&tag).expect("every tag the template makes parses back");
            proptest::prop_assert_eq!(p.timestamp, Some(ts));
            proptest::prop_assert_eq!(p.sha7.as_deref(), Some("b4b9fda"));
        }
    }
}
