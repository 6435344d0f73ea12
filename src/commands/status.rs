//! `status`: the version of each service in each environment, and the drift
//! between neighbours.

use crate::action::Outputs;
use crate::config::Service;
use crate::context::*;
use crate::target;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::inputs::{Format, Status};

#[derive(Debug, Serialize)]
pub(crate) struct StatusReport {
    pub(crate) environments: Vec<String>,
    pub(crate) services: Vec<ServiceStatus>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ServiceStatus {
    pub(crate) name: String,
    pub(crate) image: String,
    pub(crate) deployed: BTreeMap<String, Option<Deployed>>,
    pub(crate) drift: Vec<Drift>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Deployed {
    pub(crate) tag: Option<String>,
    pub(crate) digest: Option<String>,
    /// The commit the tag was made from, when the tag template says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sha: Option<String>,
    pub(crate) file: String,
    pub(crate) line: usize,
    /// A field of the same target that holds another version, by line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) differs_at: Option<usize>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Drift {
    pub(crate) from: String,
    pub(crate) to: String,
    /// `in-sync`, `ahead`, `missing` or `differs`.
    pub(crate) state: &'static str,
    /// Commits by which `from` is ahead of `to`, when both commits are known locally.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ahead: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) compare_url: Option<String>,
}

pub(crate) fn status(cx: &Context, inputs: &Status) -> anyhow::Result<Outputs> {
    let envs = &cx.config.environments;
    // Each file read and parsed once, however many services and environments
    // share it: status stays linear in services × envs.
    let mut reader = target::Reader::default();
    let services: Vec<Service> = if cx.config.services.is_empty() {
        // No `services:`: the images the environments' kustomizations name, where
        // one file serves every service.
        let mut discovered: Vec<String> = Vec::new();
        for env in envs {
            let spec = &env.target;
            let per_service = [&spec.file, &spec.overlay]
                .iter()
                .any(|p| p.as_deref().is_some_and(|p| p.contains("{service}")));
            if per_service || spec.format.is_some_and(|f| f != target::Format::Kustomize) {
                continue;
            }
            let probe = Service::bare("", "");
            let path = cx.config.target(&probe, env)?.path;
            if reader.load_kustomize(&cx.root, &path)? {
                for image in reader.kustomize_images(&path) {
                    if !discovered.contains(&image) {
                        discovered.push(image);
                    }
                }
            }
        }
        discovered
            .into_iter()
            .map(|i| Service::bare(i.rsplit('/').next().unwrap_or(&i), i.clone()))
            .collect()
    } else {
        cx.config.services.clone()
    };
    let repo = crate::git::open_foreign_owned(&cx.root).ok();
    let mut commits = repo.as_ref().map(Commits::new);
    let web = compare_base();
    let mut report = StatusReport {
        environments: envs.iter().map(|e| e.name.clone()).collect(),
        services: vec![],
    };
    for service in services {
        let mut deployed = BTreeMap::new();
        for env in envs {
            // What `set-image`, `release` and `deploy` would edit, read the same way.
            let t = cx.config.target(&service, env)?;
            let found = reader.read(&cx.root, &t)?.map(|v| Deployed {
                sha: v
                    .tag
                    .as_deref()
                    .and_then(|tag| env.tag.parse_tag(tag))
                    .and_then(|p| p.sha.or(p.sha7)),
                tag: v.tag,
                digest: v.digest,
                file: t.path_str(),
                line: v.line,
                differs_at: v.differs_at,
            });
            deployed.insert(env.name.clone(), found);
        }
        let mut drift = Vec::new();
        for env in envs {
            let Some(next) = cx.config.next_of(&env.name) else {
                continue;
            };
            let (a, b) = (deployed[&env.name].as_ref(), deployed[&next.name].as_ref());
            let (state, ahead, compare_url) = match (a, b) {
                (None, _) => continue,
                (Some(_), None) => ("missing", None, None),
                (Some(a), Some(b)) if a.digest.is_some() && a.digest == b.digest => {
                    ("in-sync", Some(0), None)
                }
                // A target that holds no digest (Flux's full marker without a
                // pin, a Helm chart without `image.digest`) is compared by tag.
                (Some(a), Some(b))
                    if (a.digest.is_none() || b.digest.is_none()) && a.tag == b.tag =>
                {
                    ("in-sync", Some(0), None)
                }
                (Some(a), Some(b)) => match (&a.sha, &b.sha) {
                    (Some(sa), Some(sb)) if sa == sb => ("in-sync", Some(0), None),
                    (Some(sa), Some(sb)) => {
                        let ahead = commits.as_mut().and_then(|c| c.ahead(sa, sb));
                        let url = web.as_ref().map(|w| format!("{w}/compare/{sb}...{sa}"));
                        (
                            if ahead.is_some() { "ahead" } else { "differs" },
                            ahead,
                            url,
                        )
                    }
                    _ => ("differs", None, None),
                },
            };
            drift.push(Drift {
                from: env.name.clone(),
                to: next.name.clone(),
                state,
                ahead,
                compare_url,
            });
        }
        report.services.push(ServiceStatus {
            name: service.name,
            image: service.image,
            deployed,
            drift,
        });
    }

    let mut out = Outputs {
        summary: status_markdown(&report),
        ..Outputs::default()
    };
    match inputs.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Markdown => print!("{}", out.summary),
        Format::Text | Format::Table => print!("{}", status_table(&report)),
    }
    out.set("status", serde_json::to_string(&report)?);
    Ok(out)
}

pub(crate) fn short(d: &Deployed) -> String {
    let v = version_cell(d);
    match d.differs_at {
        Some(l) => format!("{v} (line {l} differs)"),
        None => v,
    }
}

fn version_cell(d: &Deployed) -> String {
    match (&d.tag, &d.digest) {
        (Some(t), Some(g)) => format!("{t}@{}", g.chars().take(19).collect::<String>()),
        (Some(t), None) => t.clone(),
        (None, Some(g)) => format!("@{}", g.chars().take(19).collect::<String>()),
        (None, None) => "(no tag)".into(),
    }
}

pub(crate) fn status_table(r: &StatusReport) -> String {
    let mut rows: Vec<Vec<String>> = vec![];
    let mut header = vec!["SERVICE".to_string()];
    header.extend(r.environments.iter().map(|e| e.to_uppercase()));
    header.push("DRIFT".into());
    rows.push(header);
    for s in &r.services {
        let mut row = vec![s.name.clone()];
        for e in &r.environments {
            row.push(
                s.deployed[e]
                    .as_ref()
                    .map(short)
                    .unwrap_or_else(|| "-".into()),
            );
        }
        row.push(drift_text(&s.drift));
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if r.services.is_empty() {
        out.push_str("(no images in any overlay)\n");
    }
    out
}

pub(crate) fn drift_text(drift: &[Drift]) -> String {
    let parts: Vec<String> = drift
        .iter()
        .filter(|d| d.state != "in-sync")
        .map(|d| match (d.state, d.ahead) {
            ("ahead", Some(n)) => format!("{}→{} +{n}", d.from, d.to),
            ("missing", _) => format!("{}→{} not deployed", d.from, d.to),
            _ => format!("{}→{} differs", d.from, d.to),
        })
        .collect();
    if parts.is_empty() {
        "in sync".into()
    } else {
        parts.join(", ")
    }
}

pub(crate) fn status_markdown(r: &StatusReport) -> String {
    let mut out = String::from("### Deployed versions\n\n| Service |");
    for e in &r.environments {
        out.push_str(&format!(" {e} |"));
    }
    out.push_str(" Drift |\n|---|");
    for _ in &r.environments {
        out.push_str("---|");
    }
    out.push_str("---|\n");
    for s in &r.services {
        out.push_str(&format!("| `{}` |", s.name));
        for e in &r.environments {
            match &s.deployed[e] {
                Some(d) => out.push_str(&format!(" `{}` |", short(d))),
                None => out.push_str(" – |"),
            }
        }
        let links: Vec<String> = s
            .drift
            .iter()
            .filter(|d| d.state != "in-sync")
            .map(|d| match &d.compare_url {
                Some(u) => format!("[{}]({u})", drift_text(std::slice::from_ref(d))),
                None => drift_text(std::slice::from_ref(d)),
            })
            .collect();
        out.push_str(&format!(
            " {} |\n",
            if links.is_empty() {
                "in sync".into()
            } else {
                links.join("<br>")
            }
        ));
    }
    out
}

/// Commits reachable from `from` but not from `to`, if both are in the local clone.
/// The commits the tags name (`{sha}`, `{sha7}`), each looked up once and only as
/// an object id: `revparse` would first try it as six ref names (a stat and a
/// `packed-refs` read each), which for 500 services × 4 environments was 60 ms of
/// a 100 ms `status` (`scripts/bench-fleet`). A depth-1 checkout holds few of
/// them, so misses are the usual case and must be cheap too.
struct Commits<'r> {
    repo: &'r git2::Repository,
    odb: Option<git2::Odb<'r>>,
    seen: std::collections::HashMap<String, Option<git2::Oid>>,
}

impl<'r> Commits<'r> {
    fn new(repo: &'r git2::Repository) -> Self {
        Commits {
            repo,
            odb: repo.odb().ok(),
            seen: Default::default(),
        }
    }

    fn commit(&mut self, hex: &str) -> Option<git2::Oid> {
        if let Some(c) = self.seen.get(hex) {
            return *c;
        }
        let found = (|| {
            if !(4..=40).contains(&hex.len()) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let odb = self.odb.as_ref()?;
            let short = git2::Oid::from_str(hex).ok()?;
            let id = if hex.len() == 40 {
                // Just opened: a miss needs no second look at the packs.
                odb.exists_ext(short, git2::OdbLookupFlags::NO_REFRESH)
                    .then_some(short)?
            } else {
                odb.exists_prefix(short, hex.len()).ok()?
            };
            Some(self.repo.find_commit(id).ok()?.id())
        })();
        self.seen.insert(hex.to_string(), found);
        found
    }

    /// Commits `from` has that `to` has not, when both are here.
    fn ahead(&mut self, from: &str, to: &str) -> Option<usize> {
        let a = self.commit(from)?;
        let b = self.commit(to)?;
        self.repo
            .graph_ahead_behind(a, b)
            .ok()
            .map(|(ahead, _)| ahead)
    }
}

/// `https://github.com/owner/repo`, when the runner tells us the repository.
pub(crate) fn compare_base() -> Option<String> {
    let repo = std::env::var("GITHUB_REPOSITORY")
        .ok()
        .filter(|r| !r.is_empty())?;
    let server = std::env::var("GITHUB_SERVER_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "https://github.com".into());
    Some(format!("{}/{repo}", server.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever an overlay holds (it is read from the
        /// repository, so anything that passes the reader), the status cell is cut
        /// on characters, never inside one.
        #[test]
        fn status_cells_never_panic(
            tag in proptest::option::of("\\PC{0,30}"),
            digest in proptest::option::of("\\PC{0,30}"),
        ) {
            let d = Deployed { tag, digest, sha: None, file: String::new(), line: 1, differs_at: None };
            let _ = short(&d);
        }
    }
}
