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
                let subject = c.commit.message.lines().next().unwrap_or_default();
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
