//! The release PR's title and body: the image table, the commits, the links.

use super::*;

/// `<service>: <env> <old-tag> → <new-tag>`.
pub fn pr_title(service: &str, env: &str, old_tag: Option<&str>, new_tag: &str) -> String {
    format!(
        "{service}: {env} {} → {new_tag}",
        old_tag.unwrap_or("(none)")
    )
}

/// The parts of a release PR's body.
#[derive(Debug, Clone, Default)]
pub struct PrBody {
    pub service: String,
    pub env: String,
    pub image: String,
    pub old_tag: Option<String>,
    pub new_tag: String,
    pub old_digest: Option<String>,
    pub new_digest: Option<String>,
    /// Commits between the old and new source commit (from [`GitHub::compare`]).
    pub commits: Vec<CommitRef>,
    pub compare_url: Option<String>,
    /// Extra `(text, url)` links: the run, the image, the previous PR.
    pub links: Vec<(String, String)>,
}

impl PrBody {
    pub fn render(&self) -> String {
        let cell = |v: Option<&str>| v.map_or("—".to_string(), |v| format!("`{v}`"));
        let mut s = format!("Release of **{}** to **{}**.\n\n", self.service, self.env);
        s.push_str("| | old | new |\n|---|---|---|\n");
        s.push_str(&format!(
            "| image | `{}` | `{}` |\n",
            self.image, self.image
        ));
        s.push_str(&format!(
            "| tag | {} | {} |\n",
            cell(self.old_tag.as_deref()),
            cell(Some(&self.new_tag))
        ));
        s.push_str(&format!(
            "| digest | {} | {} |\n",
            cell(self.old_digest.as_deref()),
            cell(self.new_digest.as_deref())
        ));
        if !self.commits.is_empty() {
            s.push_str(&format!("\n### Commits ({})\n\n", self.commits.len()));
            // Long lists would drown the table; GitHub truncates bodies at 65536 chars.
            for c in self.commits.iter().rev().take(50) {
                let subject = inert(c.commit.message.lines().next().unwrap_or_default());
                let short = &c.sha[..c.sha.len().min(7)];
                if c.html_url.is_empty() {
                    s.push_str(&format!("- {short} {subject}\n"));
                } else {
                    s.push_str(&format!("- [{short}]({}) {subject}\n", c.html_url));
                }
            }
            if self.commits.len() > 50 {
                s.push_str(&format!("- … and {} more\n", self.commits.len() - 50));
            }
        }
        if self.compare_url.is_some() || !self.links.is_empty() {
            s.push_str("\n### Links\n\n");
            if let Some(u) = &self.compare_url {
                s.push_str(&format!("- [Compare]({u})\n"));
            }
            for (t, u) in &self.links {
                s.push_str(&format!("- [{t}]({u})\n"));
            }
        }
        s.push_str("\n<!-- gitops-action -->\n");
        s
    }
}

/// A commit subject as inert markdown: a code span. Subjects are untrusted text (anyone
/// who can push writes them), and in a PR body they would otherwise be live: an
/// `@team` mention notifies, `![x](url)` loads an image, `[text](url)` is a link, HTML
/// renders, and `Fixes #1` closes an issue when the PR merges.
///
/// - GFM spec, "Code spans": the content is literal: no emphasis, links, images, raw
///   HTML or backslash escapes inside; a run of N backticks is closed only by a run
///   of exactly N, and one space is stripped from each end when both ends have one.
/// - GitHub's reference filters (html-pipeline's `MentionFilter`, issue and commit
///   reference filters) skip text under `pre`, `code`, `a`, `style`, `script`.
/// - Closing keywords are documented without saying whether code spans count
///   (docs "Linking a pull request to an issue"), so `#` before a digit also gets a
///   zero-width space after it: `#1` no longer reads as an issue reference anywhere.
pub(crate) fn inert(subject: &str) -> String {
    let mut text = String::with_capacity(subject.len() + 8);
    let mut chars = subject.chars().peekable();
    while let Some(c) = chars.next() {
        text.push(if c.is_control() { ' ' } else { c });
        if c == '#' && chars.peek().is_some_and(char::is_ascii_digit) {
            text.push('\u{200B}');
        }
    }
    let text = text.trim();
    if text.is_empty() {
        return "(no subject)".to_string();
    }
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    // A padding space each side keeps a backtick at either end from joining the fence;
    // GFM strips exactly that one space from each end.
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::models::{CommitDetail, CommitRef};
    use pulldown_cmark::{Event, Options, Parser, Tag};

    const HOSTILE: &[&str] = &[
        "cc @acme/release-managers and @rosa",
        "Fixes #1",
        "closes: #2, resolves acme/hello#3",
        "![pixel](https://evil.example/p.png)",
        "[Approve here](https://evil.example/login)",
        "<img src=x onerror=alert(1)> <b>bold</b>",
        "`code` at the start and the end `",
        "a ``` run and ` one",
        "**bold** _em_ ~~gone~~ https://evil.example/auto <https://evil.example/x>",
        "<!-- gitops-action --> a marker",
        "tab\there\u{7}bell",
        "",
    ];

    fn body_of(subjects: &[&str]) -> String {
        PrBody {
            service: "hello".into(),
            env: "dev".into(),
            image: "ghcr.io/acme/hello".into(),
            new_tag: "dev-2".into(),
            commits: subjects
                .iter()
                .enumerate()
                .map(|(i, m)| CommitRef {
                    sha: format!("{i:07}abcdef"),
                    html_url: format!("https://github.com/acme/hello/commit/{i:07}"),
                    commit: CommitDetail {
                        message: format!("{m}\n\nbody @ignored"),
                    },
                })
                .collect(),
            ..Default::default()
        }
        .render()
    }

    /// Each subject, parsed back by a CommonMark parser with GitHub's extensions, is
    /// one code span holding its text; the only links are our short shas.
    #[test]
    fn hostile_subjects_render_as_code_and_nothing_else() {
        let body = body_of(HOSTILE);
        let start = body.find("### Commits").unwrap();
        // Up to our own closing marker, the one HTML comment the body has.
        let end = body.rfind("\n<!-- gitops-action -->").unwrap();
        let list = &body[start..end];
        let opts = Options::ENABLE_TABLES
            | Options::ENABLE_STRIKETHROUGH
            | Options::ENABLE_TASKLISTS
            | Options::ENABLE_GFM;
        let mut codes = Vec::new();
        let mut links = Vec::new();
        let mut in_link = false;
        for ev in Parser::new_ext(list, opts) {
            match ev {
                Event::Start(Tag::Link { dest_url, .. }) => {
                    in_link = true;
                    links.push(dest_url.to_string());
                }
                Event::End(pulldown_cmark::TagEnd::Link) => in_link = false,
                Event::Start(Tag::Image { .. }) => panic!("an image in {list}"),
                Event::Start(Tag::Emphasis | Tag::Strong | Tag::Strikethrough) => {
                    panic!("markup in {list}")
                }
                Event::Html(h) | Event::InlineHtml(h) => panic!("HTML `{h}` in {list}"),
                Event::Code(c) => codes.push(c.to_string()),
                Event::Text(t) if !in_link => {
                    // Outside code spans only the list's own text: the heading, the
                    // spaces, "(no subject)".
                    assert!(
                        !t.contains('@') && !t.contains('#') || t.starts_with("Commits"),
                        "live text `{t}` in {list}"
                    );
                }
                _ => {}
            }
        }
        // Newest first in the body: the list is the commits reversed.
        let mut want: Vec<String> = HOSTILE
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect::<String>()
            })
            .map(|s| s.trim().to_string())
            .collect();
        want.reverse();
        let got: Vec<String> = codes.iter().map(|c| c.replace('\u{200B}', "")).collect();
        assert_eq!(got, want, "{list}");
        assert!(
            links
                .iter()
                .all(|l| l.starts_with("https://github.com/acme/hello/commit/")),
            "{links:?}"
        );
        assert_eq!(links.len(), HOSTILE.len());
        assert!(list.contains("(no subject)"));
    }

    /// GitHub links `#N` and closes issues with `fixes #N` (docs "Linking a pull request
    /// to an issue"); with the zero-width space no `#` is followed by a digit.
    #[test]
    fn no_issue_reference_survives() {
        let body = body_of(HOSTILE);
        let b = body.as_bytes();
        for (i, _) in body.match_indices('#') {
            assert!(
                !b.get(i + 1).is_some_and(u8::is_ascii_digit),
                "`#N` at {i}: {body}"
            );
        }
    }

    #[test]
    fn fences_outgrow_the_subjects_backticks() {
        assert_eq!(inert("plain"), "`plain`");
        assert_eq!(inert("a ` b"), "``a ` b``");
        assert_eq!(inert("`x`"), "`` `x` ``");
        assert_eq!(inert("a ``` b"), "````a ``` b````");
        assert_eq!(inert("   "), "(no subject)");
    }
}
