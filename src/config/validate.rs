//! Raw config -> [`Config`]: names, paths, images, tag templates and the chain,
//! every problem at once with the place the schema check recorded.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::raw::{RawConfig, RawService, RawTarget};
use super::schema::location;
use super::{Access, Config, Environment, MergePolicy, Service};
use crate::environment::RefPatterns;
use crate::error::Diagnostic;
use crate::tag::Template;
use crate::target::{DocumentSelector, FieldPath, FieldsSpec, Format, TargetSpec, expand};
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
            repository: None,
            context: None,
            dockerfile: None,
            build_target: None,
            build_args: None,
            paths: None,
            target: RawTarget::default(),
        });
        let target = target_spec(root, &key, s.target, &mut push);
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
        let repository = s
            .repository
            .and_then(|r| match crate::repository::RepoName::parse(&r) {
                Ok(n) => Some(n),
                Err(m) => {
                    push(
                        &format!("{key}.repository"),
                        format!("repository `{r}` {m}"),
                    );
                    None
                }
            });
        let context = s.context.unwrap_or_else(|| ".".into());
        if let Err(m) = check_relative_path(root, &context) {
            push(
                &format!("{key}.context"),
                format!("build context `{context}` {m}"),
            );
        }
        let dockerfile = s.dockerfile.unwrap_or_else(|| "Dockerfile".into());
        let paths = match s.paths {
            Some(globs) => {
                for (j, g) in globs.iter().enumerate() {
                    if let Err(m) = super::paths::glob(g) {
                        push(&format!("{key}.paths[{j}]"), format!("path glob `{g}` {m}"));
                    }
                }
                globs
            }
            None => super::paths::default_paths(Path::new(&context), &dockerfile),
        };
        services.push(Service {
            name,
            image,
            context: PathBuf::from(context),
            dockerfile,
            paths,
            build_target: s.build_target,
            build_args: s
                .build_args
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
            target,
            repository,
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
            .target
            .overlay
            .clone()
            .unwrap_or_else(|| format!("{overlays}/{}", e.name));
        let target = target_spec(root, &key, e.target, &mut push);
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
                target,
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
    // What only the pair says: a `yaml` target needs its fields, a `flux` one its
    // policy, wherever each is set.
    for (i, e) in environments.iter().enumerate() {
        for s in &services {
            let t = s.target.over(&e.target);
            let which = if s.target.format.is_some() {
                format!("services.{}.format", s.name)
            } else {
                format!("environments[{i}].format")
            };
            match t.format {
                Some(Format::Yaml) if t.fields.is_none() => push(
                    &which,
                    format!(
                        "the `yaml` target of `{}` in `{}` names no `fields:` (e.g. `fields: {{ image: spec.template.spec.containers[0].image }}`)",
                        s.name, e.name
                    ),
                ),
                Some(Format::Flux) if t.policy.is_none() => push(
                    &which,
                    format!(
                        "the `flux` target of `{}` in `{}` names no `policy:` (e.g. `policy: flux-system:{}`)",
                        s.name, e.name, s.name
                    ),
                ),
                _ => {}
            }
        }
    }
    // Trains share the services' namespace: a `train:` or `service:` input names
    // one thing, whichever it is, and a branch `release/<name>/<env>` is one PR.
    let mut trains = Vec::new();
    for (name, members) in raw.trains.unwrap_or_default() {
        let key = format!("trains.{name}");
        if let Err(m) = check_name(&name) {
            push(&format!("{key}#key"), format!("train name `{name}` {m}"));
            continue;
        }
        if services.iter().any(|s| s.name == name) {
            push(
                &format!("{key}#key"),
                format!(
                    "train `{name}` has the name of a service: trains and services share one namespace, rename one"
                ),
            );
            continue;
        }
        let members = members.unwrap_or_default();
        if members.is_empty() {
            push(
                &key,
                format!(
                    "train `{name}` has no members: list its services, e.g. `{name}: [api, web]`"
                ),
            );
            continue;
        }
        let mut ok = true;
        for (j, m) in members.iter().enumerate() {
            if !services.iter().any(|s| &s.name == m) {
                ok = false;
                let known: Vec<String> = services.iter().map(|s| format!("`{}`", s.name)).collect();
                push(
                    &format!("{key}[{j}]"),
                    format!(
                        "train `{name}` member `{m}` is not a service under `services:` ({})",
                        if known.is_empty() {
                            "none is declared".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
            } else if members[..j].contains(m) {
                ok = false;
                push(
                    &format!("{key}[{j}]"),
                    format!("train `{name}` lists `{m}` twice"),
                );
            }
        }
        if ok {
            trains.push(super::Train { name, members });
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
        trains,
    })
}

/// An environment's or a service's target settings, each checked where it is
/// written: templates (placeholders, staying inside the repository), the format,
/// field paths, the document selector and the Flux policy.
fn target_spec(
    root: &Path,
    key: &str,
    raw: RawTarget,
    push: &mut impl FnMut(&str, String),
) -> TargetSpec {
    let mut template = |name: &str, t: &Option<String>| {
        let Some(t) = t else { return };
        match expand(t, "service", "env") {
            Err(m) => push(&format!("{key}.{name}"), format!("{name} path `{t}` {m}")),
            Ok(p) => {
                if let Err(m) = check_relative_path(root, &p) {
                    push(&format!("{key}.{name}"), format!("{name} path `{t}` {m}"));
                }
            }
        }
    };
    template("overlay", &raw.overlay);
    template("file", &raw.file);
    if raw.overlay.is_some() && raw.file.is_some() {
        push(
            &format!("{key}.file"),
            "give `file:` or `overlay:`, not both (`overlay:` is a Kustomize folder, `file:` any one file)".into(),
        );
    }
    let format = raw.format.as_deref().and_then(Format::parse);
    let fields = raw.fields.map(|f| {
        let mut path = |name: &str, v: Option<String>| {
            let v = v?;
            match FieldPath::parse(&v) {
                Ok(p) => Some(p),
                Err(m) => {
                    push(&format!("{key}.fields.{name}"), format!("field path `{v}` {m}"));
                    None
                }
            }
        };
        let spec = FieldsSpec {
            repository: path("repository", f.repository),
            tag: path("tag", f.tag),
            digest: path("digest", f.digest),
            image: path("image", f.image),
        };
        if spec.image.is_some()
            && (spec.repository.is_some() || spec.tag.is_some() || spec.digest.is_some())
        {
            push(
                &format!("{key}.fields.image"),
                "`fields.image` is the whole `repo:tag@digest` in one string: give it alone, or `repository`/`tag`/`digest` without it".into(),
            );
        }
        spec
    });
    if matches!(format, Some(Format::Kustomize | Format::Flux)) && fields.is_some() {
        push(
            &format!("{key}.fields"),
            "`fields:` is for the `helm` and `yaml` formats (kustomize edits `images:`, flux its markers)".into(),
        );
    }
    let document = raw.document.and_then(|d| match (d.kind, d.name) {
        (Some(kind), Some(name)) => Some(DocumentSelector { kind, name }),
        _ => {
            push(
                &format!("{key}.document"),
                "`document:` needs both `kind` and `name` (the document's `kind:` and `metadata.name:`)".into(),
            );
            None
        }
    });
    if let Some(p) = &raw.policy {
        let ok = p
            .split_once(':')
            .is_some_and(|(ns, n)| !ns.is_empty() && !n.is_empty() && !n.contains(':'));
        if !ok {
            push(
                &format!("{key}.policy"),
                format!("`policy` `{p}` is not `<namespace>:<name>` of a Flux image policy"),
            );
        }
    }
    TargetSpec {
        overlay: raw.overlay,
        file: raw.file,
        format,
        fields,
        document,
        policy: raw.policy,
        create: raw.create,
    }
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
