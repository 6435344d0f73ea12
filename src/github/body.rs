//! The release PR's title and body: the image table, the commits, the links.

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
    /// The source repository's commits between the old version and the new one.
    pub changelog: Changelog,
    /// Extra `(text, url)` links: the run, the image, the previous PR.
    pub links: Vec<(String, String)>,
}

/// The repository the service's code lives in: where the commits, their `#N` and
/// the compare link point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceRepo {
    /// `owner/name`.
    pub full_name: String,
    /// `https://github.com/owner/name`.
    pub web_url: String,
}

/// One commit of the list, as the compare answered it: all of it untrusted text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeCommit {
    pub sha: String,
    pub html_url: String,
    pub message: String,
    /// The GitHub login, else the git author's name.
    pub author: Option<String>,
}

/// The body's commit section.
#[derive(Debug, Clone, Default)]
pub enum Changelog {
    /// No section: no new commit is known, or it is the one running now.
    #[default]
    Omitted,
    /// The commits from `base` to `head`, oldest first; `total` may exceed their
    /// count (one page of the compare: the oldest [`MAX_LISTED`]).
    Listed {
        repo: SourceRepo,
        base: String,
        head: String,
        /// How the old commit was found, for the reader: "the image's revision label".
        found_by: String,
        commits: Vec<ChangeCommit>,
        total: usize,
        compare_url: String,
    },
    /// No list, and why (our own words; values in code spans); the compare link
    /// when both ends were known.
    Missing {
        reason: String,
        compare_url: Option<String>,
    },
}

/// Commits listed in a body at most: the rest are "and N more" and the compare link
/// (GitHub cuts a body at 65536 characters).
pub const MAX_LISTED: usize = 50;

impl PrBody {
    pub fn render(&self) -> String {
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
        let compare = self.commits_section(&mut s, "Commits");
        links(&mut s, compare, &self.links);
        s
    }

    /// The commit section under `### {heading}`; the compare link, if any.
    fn commits_section(&self, s: &mut String, heading: &str) -> Option<&String> {
        match &self.changelog {
            Changelog::Omitted => None,
            Changelog::Listed {
                repo,
                base,
                head,
                found_by,
                commits,
                total,
                compare_url,
            } => {
                let total = (*total).max(commits.len());
                s.push_str(&format!("\n### {heading} ({total})\n\n"));
                s.push_str(&format!(
                    "In `{}`, oldest first, from `{}` ({found_by}) to `{}`:\n\n",
                    repo.full_name,
                    short(base),
                    short(head)
                ));
                // The compare's first page: the oldest commits after the old one.
                let shown = &commits[..commits.len().min(MAX_LISTED)];
                for c in shown {
                    s.push_str(&commit_line(c, repo));
                }
                if total > shown.len() {
                    s.push_str(&format!(
                        "- … and {} more, newer ([compare]({compare_url}))\n",
                        total - shown.len()
                    ));
                }
                if commits.is_empty() && total == 0 {
                    s.push_str("- (none: the new commit is not ahead of the old one)\n");
                }
                Some(compare_url)
            }
            Changelog::Missing {
                reason,
                compare_url,
            } => {
                s.push_str(&format!("\n### {heading}\n\nNo commit list: {reason}.\n"));
                compare_url.as_ref()
            }
        }
    }
}

/// The body of a train's PR: one row per member (old → new tag and digest), then
/// each member's commits, under its name.
#[derive(Debug, Clone, Default)]
pub struct TrainBody {
    pub train: String,
    pub env: String,
    /// Each member's part, in the train's order.
    pub members: Vec<PrBody>,
    pub links: Vec<(String, String)>,
}

impl TrainBody {
    pub fn render(&self) -> String {
        let names: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("**{}**", m.service))
            .collect();
        let mut s = format!(
            "Release of train **{}** ({}) to **{}**, as one: one commit, one merge.\n\n",
            self.train,
            names.join(", "),
            self.env
        );
        s.push_str("| service | image | old tag | new tag | old digest | new digest |\n|---|---|---|---|---|---|\n");
        for m in &self.members {
            s.push_str(&format!(
                "| {} | `{}` | {} | {} | {} | {} |\n",
                m.service,
                m.image,
                cell(m.old_tag.as_deref()),
                cell(Some(&m.new_tag)),
                cell(m.old_digest.as_deref()),
                cell(m.new_digest.as_deref())
            ));
        }
        let mut compares = Vec::new();
        for m in &self.members {
            if let Some(u) = m.commits_section(&mut s, &format!("{}: commits", m.service)) {
                compares.push((format!("Compare {}", m.service), u.clone()));
            }
        }
        compares.extend(self.links.iter().cloned());
        links(&mut s, None, &compares);
        s
    }
}

/// `<train>: <env> api a → b, web c → d`, cut to a title's length.
pub fn train_title(train: &str, env: &str, members: &[(&str, Option<&str>, &str)]) -> String {
    let parts: Vec<String> = members
        .iter()
        .map(|(s, old, new)| format!("{s} {} → {new}", old.unwrap_or("(none)")))
        .collect();
    let t = format!("{train}: {env} {}", parts.join(", "));
    if t.chars().count() <= 200 {
        return t;
    }
    let mut cut: String = t.chars().take(199).collect();
    cut.push('…');
    cut
}

/// A table cell of the base file's text (the old tag and digest): a code span
/// that no backtick in them can close.
fn cell(v: Option<&str>) -> String {
    v.map_or("—".to_string(), inert)
}

/// The `### Links` section (when there is one) and the body's end marker.
fn links(s: &mut String, compare: Option<&String>, extra: &[(String, String)]) {
    if compare.is_some() || !extra.is_empty() {
        s.push_str("\n### Links\n\n");
        if let Some(u) = compare {
            s.push_str(&format!("- [Compare]({u})\n"));
        }
        for (t, u) in extra {
            s.push_str(&format!("- [{t}]({u})\n"));
        }
    }
    s.push_str("\n<!-- gitops-action -->\n");
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// `- [abc1234](url) subject — author`: the short sha our link (hex only), the
/// subject and the author inert text.
fn commit_line(c: &ChangeCommit, repo: &SourceRepo) -> String {
    let short = short(&c.sha);
    let subject = subject_markdown(c.message.lines().next().unwrap_or_default(), repo);
    let mut line = if c.html_url.is_empty() {
        format!("- `{short}` {subject}")
    } else {
        format!("- [{short}]({}) {subject}", c.html_url)
    };
    if let Some(a) = c.author.as_deref().filter(|a| !a.trim().is_empty()) {
        line.push_str(" — ");
        line.push_str(&inert(a));
    }
    line.push('\n');
    line
}

/// GitHub's closing keywords (docs "Linking a pull request to an issue", "Linking a
/// pull request to an issue using a keyword").
const CLOSING_KEYWORDS: [&str; 9] = [
    "close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves", "resolved",
];

/// A commit subject as markdown: its text in code spans ([`inert`]), each bare `#N`
/// or `GH-N` (the source repository's issue or PR, docs "Autolinked references and
/// URLs") a link to `owner/app#N`, so it points at the app repository even in a
/// body that lives in another. A closing keyword before a reference gets a
/// zero-width space after its first letter: no keyword parse, on the source or on
/// the rendered text, reads `fixes` next to the link, and the PR closes nothing in
/// either repository.
pub(crate) fn subject_markdown(subject: &str, repo: &SourceRepo) -> String {
    let Some(text) = one_line(subject) else {
        return "(no subject)".to_string();
    };
    let text = defang_keywords(&text);
    let mut out = String::new();
    let mut rest = text.as_str();
    let mut pending = String::new();
    while !rest.is_empty() {
        if let Some((number, len)) = bare_reference(&pending, rest) {
            out.push_str(&text_segment(&pending));
            pending.clear();
            out.push_str(&format!(
                "[{}#{number}]({}/pull/{number})",
                repo.full_name, repo.web_url
            ));
            rest = &rest[len..];
            continue;
        }
        let c = rest.chars().next().unwrap_or_default();
        pending.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.push_str(&text_segment(&pending));
    out
}

/// `#N` or `GH-N` at the start of `rest`, not glued to a word before it (`a#1`,
/// `acme/x#1` and `&#1;` are not bare references): its number and length.
fn bare_reference(before: &str, rest: &str) -> Option<(u64, usize)> {
    if before
        .chars()
        .last()
        .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '&' | '-' | '.'))
    {
        return None;
    }
    let prefix = if rest.starts_with('#') {
        1
    } else if rest.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("gh-")) {
        3
    } else {
        return None;
    };
    let digits = rest[prefix..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    if digits == 0 || digits > 9 {
        return None;
    }
    // `#12abc` is no reference on GitHub either.
    if rest[prefix + digits..]
        .chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_')
    {
        return None;
    }
    let number: u64 = rest[prefix..prefix + digits].parse().ok()?;
    (number > 0).then_some((number, prefix + digits))
}

/// A run of subject text: code spans, its outer spaces kept outside them.
fn text_segment(t: &str) -> String {
    if t.is_empty() {
        return String::new();
    }
    let core = t.trim();
    let mut s = String::new();
    if t.starts_with(char::is_whitespace) {
        s.push(' ');
    }
    if !core.is_empty() {
        s.push_str(&code_span(core));
        if t.ends_with(char::is_whitespace) {
            s.push(' ');
        }
    }
    s
}

/// A closing keyword followed (after `:` and spaces) by what could be a reference
/// gets a zero-width space after its first letter.
fn defang_keywords(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut word = String::new();
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            if iter
                .peek()
                .is_some_and(|(_, n)| n.is_alphanumeric() || *n == '_')
            {
                continue;
            }
            let end = i + c.len_utf8();
            let lower = word.to_lowercase();
            if CLOSING_KEYWORDS.contains(&lower.as_str())
                && !text[..end - word.len()]
                    .chars()
                    .last()
                    .is_some_and(|p| p.is_alphanumeric() || p == '_')
                && reference_follows(&text[end..])
            {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    out.push(first);
                    out.push('\u{200B}');
                    out.extend(chars);
                }
            } else {
                out.push_str(&word);
            }
            word.clear();
        } else {
            out.push(c);
        }
    }
    out
}

/// After a keyword: `:`, spaces, then `#`, `GH-`, a URL or an `owner/repo#N`.
fn reference_follows(after: &str) -> bool {
    let t = after.strip_prefix(':').unwrap_or(after);
    let t2 = t.trim_start();
    if t2.len() == t.len() {
        return false;
    }
    let token: &str = t2.split(char::is_whitespace).next().unwrap_or_default();
    let lower = token.to_ascii_lowercase();
    token.starts_with('[')
        || token.starts_with('#')
        || lower.starts_with("gh-")
        || lower.starts_with("http")
        || token.contains('#')
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
    match one_line(subject) {
        Some(text) => code_span(&text),
        None => "(no subject)".to_string(),
    }
}

/// `text` with control characters as spaces, trimmed; `None` when nothing is left.
fn one_line(text: &str) -> Option<String> {
    let t: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// `text` as one code span, `#` before a digit followed by a zero-width space.
fn code_span(text: &str) -> String {
    let mut t = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        t.push(c);
        if c == '#' && chars.peek().is_some_and(char::is_ascii_digit) {
            t.push('\u{200B}');
        }
    }
    let text = t.as_str();
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
        "FIXED GH-9; fix: https://github.com/acme/hello/issues/4",
        "",
    ];

    fn repo() -> SourceRepo {
        SourceRepo {
            full_name: "acme/app".into(),
            web_url: "https://github.com/acme/app".into(),
        }
    }

    fn listed(subjects: &[&str], total: usize) -> Changelog {
        Changelog::Listed {
            repo: repo(),
            base: "a".repeat(40),
            head: "b".repeat(40),
            found_by: "the running image's revision label".into(),
            commits: subjects
                .iter()
                .enumerate()
                .map(|(i, m)| ChangeCommit {
                    sha: format!("{i:07}abcdef"),
                    html_url: format!("https://github.com/acme/app/commit/{i:07}"),
                    message: format!("{m}\n\nbody @ignored fixes #77"),
                    author: Some(if i % 2 == 0 {
                        "@rosa".into()
                    } else {
                        "Rosa **B**".into()
                    }),
                })
                .collect(),
            total,
            compare_url: "https://github.com/acme/app/compare/a...b".into(),
        }
    }

    fn body_with(changelog: Changelog) -> String {
        PrBody {
            service: "hello".into(),
            env: "dev".into(),
            image: "ghcr.io/acme/hello".into(),
            old_tag: Some("dev-1".into()),
            new_tag: "dev-2".into(),
            new_digest: Some("sha256:abc".into()),
            changelog,
            ..Default::default()
        }
        .render()
    }

    /// The commit section, up to our closing marker (the body's one HTML comment).
    fn section(body: &str) -> &str {
        let start = body.find("### Commits").unwrap();
        let end = body.rfind("\n<!-- gitops-action -->").unwrap();
        &body[start..end]
    }

    const GFM: Options = Options::ENABLE_TABLES
        .union(Options::ENABLE_STRIKETHROUGH)
        .union(Options::ENABLE_TASKLISTS)
        .union(Options::ENABLE_GFM);

    /// Parsed back by a CommonMark parser with GitHub's extensions: no image, no
    /// markup, no HTML, no live `@` or `#` outside code spans and our links, and
    /// the only links are our short shas, `acme/app#N` and the compare.
    #[test]
    fn hostile_subjects_and_authors_render_inert() {
        let body = body_with(listed(HOSTILE, HOSTILE.len()));
        let list = section(&body);
        let mut links = Vec::new();
        let mut in_link = false;
        for ev in Parser::new_ext(list, GFM) {
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
                Event::Text(t) if !in_link => {
                    assert!(
                        !t.contains('@') && !t.contains('#') || t.starts_with("Commits"),
                        "live text `{t}` in {list}"
                    );
                }
                _ => {}
            }
        }
        let commits = links
            .iter()
            .filter(|l| l.starts_with("https://github.com/acme/app/commit/"))
            .count();
        assert_eq!(commits, HOSTILE.len(), "{links:?}");
        for l in &links {
            assert!(
                l.starts_with("https://github.com/acme/app/commit/")
                    || l.starts_with("https://github.com/acme/app/pull/")
                    || l == "https://github.com/acme/app/compare/a...b",
                "{l}"
            );
        }
        assert!(list.contains("(no subject)"));
        // Only the subject: the message body's `fixes #77` is not in the list.
        assert!(!list.contains("77"), "{list}");
    }

    /// `#N` and `GH-N` of the code's repository point there, wherever the PR lives
    /// (docs "Autolinked references and URLs"); `owner/repo#N`, `a#1` and URLs stay
    /// text.
    #[test]
    fn bare_references_point_at_the_code_repository() {
        let r = repo();
        let md = subject_markdown("Fixes #12 and gh-7, see acme/x#3, a#4, #5x, (#6)", &r);
        assert!(
            md.contains("[acme/app#12](https://github.com/acme/app/pull/12)"),
            "{md}"
        );
        assert!(
            md.contains("[acme/app#7](https://github.com/acme/app/pull/7)"),
            "{md}"
        );
        assert!(
            md.contains("[acme/app#6](https://github.com/acme/app/pull/6)"),
            "{md}"
        );
        for not in ["pull/3", "pull/4", "pull/5"] {
            assert!(!md.contains(not), "{md}");
        }
        assert!(md.contains("F\u{200B}ixes"), "{md}");
    }

    /// No closing keyword (docs "Linking a pull request to an issue using a keyword")
    /// stands next to a reference in the rendered text: merging the PR closes
    /// nothing, in the config repository or the code's.
    #[test]
    fn no_closing_keyword_survives() {
        let body = body_with(listed(HOSTILE, HOSTILE.len()));
        let mut text = String::new();
        for ev in Parser::new_ext(section(&body), GFM) {
            match ev {
                Event::Text(t) | Event::Code(t) => text.push_str(&t),
                Event::SoftBreak | Event::HardBreak | Event::End(_) => text.push(' '),
                _ => {}
            }
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        for pair in words.windows(2) {
            let w = pair[0]
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            let next = pair[1];
            let reference = next.contains('#')
                || next.to_lowercase().starts_with("gh-")
                || next.starts_with("http");
            assert!(
                !(CLOSING_KEYWORDS.contains(&w.as_str()) && reference),
                "`{} {next}` in {text}",
                pair[0]
            );
        }
    }

    #[test]
    fn long_lists_stop_at_fifty_and_count_the_rest() {
        let subjects: Vec<String> = (0..60).map(|i| format!("change {i}")).collect();
        let refs: Vec<&str> = subjects.iter().map(String::as_str).collect();
        let body = body_with(listed(&refs[..MAX_LISTED], 137));
        let list = section(&body);
        assert!(list.starts_with("### Commits (137)"), "{list}");
        assert_eq!(
            list.matches("](https://github.com/acme/app/commit/")
                .count(),
            50
        );
        assert!(list.contains("`change 0`") && list.contains("`change 49`"));
        assert!(
            list.contains(
                "- … and 87 more, newer ([compare](https://github.com/acme/app/compare/a...b))"
            ),
            "{list}"
        );
        assert!(list.contains("In `acme/app`, oldest first, from `aaaaaaa` (the running image's revision label) to `bbbbbbb`"), "{list}");
        assert!(body.contains("- [Compare](https://github.com/acme/app/compare/a...b)"));
    }

    #[test]
    fn a_missing_list_says_why_and_the_release_goes_on() {
        let body = body_with(Changelog::Missing {
            reason: "the running `dev-1` names no commit".into(),
            compare_url: None,
        });
        assert!(
            body.contains("### Commits\n\nNo commit list: the running `dev-1` names no commit.\n"),
            "{body}"
        );
        assert!(!body.contains("### Links"), "{body}");
        let body = body_with(Changelog::Omitted);
        assert!(!body.contains("### Commits"), "{body}");
    }

    /// Regression: a zero-width space (ours or the author's) or any multi-byte
    /// character before `gh-` cut a string inside a character and panicked.
    #[test]
    fn any_text_renders_without_a_panic() {
        let r = repo();
        let pieces = [
            "F\u{200B}ixes",
            "é",
            "日本",
            "gh-",
            "GH-1",
            "#",
            "#1",
            "fix",
            ":",
            " ",
            "`",
            "a",
            "🚀",
            "\u{200B}",
            "/",
            "&",
            "\n",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let t = format!("{a}{b}{c}");
                    let _ = subject_markdown(&t, &r);
                    let _ = inert(&t);
                }
            }
        }
    }

    /// The old tag is the base file's text: a backtick in it closes no code span.
    #[test]
    fn a_hostile_old_tag_stays_in_its_cell() {
        let body = PrBody {
            old_tag: Some("x` @everyone ![i](https://evil.example/p.png) `".into()),
            new_tag: "dev-2".into(),
            ..Default::default()
        }
        .render();
        for ev in Parser::new_ext(&body, GFM) {
            match ev {
                Event::Text(t) => assert!(!t.contains('@'), "live `{t}` in {body}"),
                Event::Start(Tag::Image { .. } | Tag::Link { .. }) => panic!("{body}"),
                _ => {}
            }
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
