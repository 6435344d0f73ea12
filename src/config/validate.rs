//! Raw config -> [`Config`]: names, paths, images, tag templates and the chain,
//! every problem at once with the place the schema check recorded.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::raw::{RawConfig, RawService};
use super::schema::location;
use super::{Access, Config, Environment, MergePolicy, Service};
use crate::environment::RefPatterns;
use crate::error::Diagnostic;
use crate::tag::Template;
use crate::yaml::Span;

pub(super) fn validate(
    root: &Path,
    path: &Path,
    raw: RawConfig,
    pos: &BTreeMap<String, Span>,
    owner: Option<String>,
) -> Result<Config, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let at = |key: &str| {
        pos.get(key)
            .or_else(|| pos.get(key.rsplit_once('.').map(|(p, _)| p).unwrap_or("")))
            .map(|s| location(path, *s))
    };
    let mut push = |key: &str, message: String| {
        diags.push(Diagnostic {
            location: at(key),
            message,
        })
    };

    let overlays = raw.overlays.unwrap_or_else(|| "overlays".into());
    if let Err(m) = check_relative_path(root, &overlays) {
        push("overlays", format!("`overlays` path `{overlays}` {m}"));
    }

    let mut services = Vec::new();
    for (name, raw_service) in raw.services.unwrap_or_default() {
        let key = format!("services.{name}");
        if let Err(m) = check_name(&name) {
            push(&format!("{key}#key"), format!("service name `{name}` {m}"));
            continue;
        }
        let s = raw_service.unwrap_or(RawService {
            image: None,
            context: None,
            dockerfile: None,
            target: None,
            build_args: None,
        });
        let image = match s.image {
            Some(i) => {
                if let Err(m) = check_image_name(&i) {
                    push(&format!("{key}.image"), format!("image `{i}` {m}"));
                }
                i
            }
            None => match &owner {
                Some(o) => format!("ghcr.io/{o}/{name}"),
                None => String::new(), // reported when the service is used
            },
        };
        let context = s.context.unwrap_or_else(|| ".".into());
        if let Err(m) = check_relative_path(root, &context) {
            push(
                &format!("{key}.context"),
                format!("build context `{context}` {m}"),
            );
        }
        services.push(Service {
            name,
            image,
            context: PathBuf::from(context),
            dockerfile: s.dockerfile.unwrap_or_else(|| "Dockerfile".into()),
            target: s.target,
            build_args: s
                .build_args
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
        });
    }
    // Two services on one image would fight over the same overlay entry.
    for (i, a) in services.iter().enumerate() {
        if let Some(b) = services[..i]
            .iter()
            .find(|b| !a.image.is_empty() && b.image == a.image)
        {
            push(
                &format!("services.{}.image", a.name),
                format!(
                    "services `{}` and `{}` both use image `{}`",
                    b.name, a.name, a.image
                ),
            );
        }
    }

    let mut environments: Vec<Environment> = Vec::new();
    let raw_envs = match raw.environments {
        Some(e) if !e.is_empty() => e,
        _ => {
            push("environments", "the config has no `environments`".into());
            vec![]
        }
    };
    for (i, e) in raw_envs.into_iter().enumerate() {
        let key = format!("environments[{i}]");
        if let Err(m) = check_name(&e.name) {
            push(
                &format!("{key}.name"),
                format!("environment name `{}` {m}", e.name),
            );
        }
        if environments.iter().any(|x| x.name == e.name) {
            push(
                &format!("{key}.name"),
                format!("environment `{}` is defined twice", e.name),
            );
        }
        let branches = RefPatterns::new(&e.branches).unwrap_or_else(|errs| {
            for (j, m) in errs {
                push(&format!("{key}.branches[{j}]"), m);
            }
            RefPatterns::default()
        });
        let tags = RefPatterns::new(&e.tags).unwrap_or_else(|errs| {
            for (j, m) in errs {
                push(&format!("{key}.tags[{j}]"), m);
            }
            RefPatterns::default()
        });
        let default_tag = if e.tags.is_empty() {
            format!("{}-{{sha7}}-{{timestamp}}", e.name)
        } else {
            format!("{}-{{version}}", e.name)
        };
        let tag_src = e.tag.clone().unwrap_or(default_tag);
        let tag = match Template::parse(&tag_src) {
            Ok(t) => Some(t),
            Err(errs) => {
                for err in errs {
                    push(&format!("{key}.tag"), err.message);
                }
                None
            }
        };
        if let Some(t) = &tag {
            if t.uses(crate::tag::Var::Version) && e.tags.is_empty() {
                push(
                    &format!("{key}.tag"),
                    format!(
                        "tag template `{t}` uses `{{version}}`, which only tag refs give; environment `{}` has no `tags:`",
                        e.name
                    ),
                );
            }
            if t.uses(crate::tag::Var::Branch) && e.branches.is_empty() {
                push(
                    &format!("{key}.tag"),
                    format!(
                        "tag template `{t}` uses `{{branch}}`, but environment `{}` has no `branches:`",
                        e.name
                    ),
                );
            }
        }
        // A derived overlay path is as good as `overlays`, which is checked above.
        let overlay = e
            .overlay
            .clone()
            .unwrap_or_else(|| format!("{overlays}/{}", e.name));
        if e.overlay.is_some()
            && let Err(m) = check_relative_path(root, &overlay)
        {
            push(
                &format!("{key}.overlay"),
                format!("overlay path `{overlay}` {m}"),
            );
        }
        for (j, r) in e.reviewers.iter().enumerate() {
            if !is_reviewer(r) {
                push(
                    &format!("{key}.reviewers[{j}]"),
                    format!("reviewer `{r}` is neither a user login nor `org/team`"),
                );
            }
        }
        let allowed = e.allowed.map(|a| Access {
            users: a.users,
            teams: a.teams,
            permission: a.permission,
        });
        let merge = e.merge.unwrap_or(MergePolicy::Never);
        let allow_direct = e
            .allow_direct
            .unwrap_or(allowed.is_none() || merge == MergePolicy::Direct);
        if let Some(t) = tag {
            environments.push(Environment {
                name: e.name,
                branches,
                tags,
                tag: t,
                merge,
                reviewers: e.reviewers,
                labels: e.labels,
                overlay: PathBuf::from(overlay),
                // `next: null` ends the chain; a missing `next` means the following entry.
                next: match e.next {
                    Some(n) => Some(n),
                    None if pos.contains_key(&format!("{key}.next")) => Some(String::new()),
                    None => None,
                },
                allowed,
                allow_direct,
            });
        }
    }
    for (i, e) in environments.iter().enumerate() {
        if let Some(n) = &e.next {
            if !n.is_empty() && !environments.iter().any(|x| &x.name == n) {
                push(
                    &format!("environments[{i}].next"),
                    format!("`next` names unknown environment `{n}`"),
                );
            }
            if n == &e.name {
                push(
                    &format!("environments[{i}].next"),
                    format!("environment `{n}` cannot promote to itself"),
                );
            }
        }
    }
    if !diags.is_empty() {
        diags.sort_by_key(|d| d.location.as_ref().map(|l| (l.line, l.column)));
        return Err(diags);
    }
    Ok(Config {
        file: Some(path.to_path_buf()),
        root: root.to_path_buf(),
        overlays: PathBuf::from(overlays),
        commit_via: raw.commit_via,
        services,
        environments,
        owner,
    })
}

pub(crate) fn is_reviewer(r: &str) -> bool {
    let login = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    match r.split_once('/') {
        Some((org, team)) => login(org) && login(team),
        None => login(r) && !r.contains(['_', '.']),
    }
}

/// An image repository without tag or digest: `host/path`, lower case.
pub fn check_image_name(image: &str) -> Result<(), &'static str> {
    if image.contains('@') {
        return Err("must not carry a digest: give the repository only");
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') {
        return Err("must not carry a tag: give the repository only");
    }
    if image.is_empty() || image.starts_with('/') || image.ends_with('/') || image.contains("//") {
        return Err("is not an image repository such as `ghcr.io/acme/hello`");
    }
    let path = image
        .split_once('/')
        .map(|(h, p)| {
            if h.contains(['.', ':']) || h == "localhost" {
                p
            } else {
                image
            }
        })
        .unwrap_or(image);
    if !path.bytes().all(|b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'/')
    }) {
        return Err("must be lower case letters, digits, `.`, `_`, `-` and `/`");
    }
    Ok(())
}

/// A path relative to the repository that stays inside it, also through symlinks.
pub fn check_relative_path(root: &Path, p: &str) -> Result<(), String> {
    let path = Path::new(p);
    if p.is_empty() {
        return Err("is empty".into());
    }
    if path.is_absolute() {
        return Err("must be relative to the repository root".into());
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err("must stay inside the repository (no `..`)".into());
    }
    // A symlink along the way may still lead out: resolve what exists.
    let mut probe = root.to_path_buf();
    let Ok(root_real) = root.canonicalize() else {
        return Ok(());
    };
    for c in path.components() {
        probe.push(c);
        match probe.canonicalize() {
            Ok(real) if !real.starts_with(&root_real) => {
                return Err(format!(
                    "leads outside the repository through a symlink (to `{}`)",
                    real.display()
                ));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// `[a-z0-9][a-z0-9-]{0,62}`: safe in paths and branch names.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    let b = name.as_bytes();
    if b.is_empty() {
        return Err("is empty");
    }
    if b.len() > 63 {
        return Err("is longer than 63 characters");
    }
    if !(b[0].is_ascii_lowercase() || b[0].is_ascii_digit()) {
        return Err("must start with a lower case letter or a digit");
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    {
        return Err("may hold only lower case letters, digits and `-`");
    }
    Ok(())
}
