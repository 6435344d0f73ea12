//! `.github/gitops.yaml`: read, checked against its schema with every problem
//! reported at once (each with `file:line:col`), then validated into a [`Config`].
//!
//! Two passes, because serde can't carry source positions: a span-keeping walk over
//! saphyr-parser events checks the shape and remembers where each value sits, then
//! serde_norway turns the (now known-good) text into the raw types.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::environment::RefPatterns;
use crate::error::{Diagnostic, Location, UserError};
use crate::tag::Template;
use crate::yaml::{self, Node, Span};

pub const DEFAULT_CONFIG: &str = ".github/gitops.yaml";

/// How a release PR of an environment gets merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MergePolicy {
    /// Merge when mergeable, else enable GitHub auto-merge.
    Auto,
    /// Merge now (with the head-sha guard).
    Immediate,
    /// Leave the PR for reviewers.
    Never,
    /// No PR: push to the base branch (fast-forward only).
    Direct,
}

impl MergePolicy {
    pub fn parse(s: &str) -> Option<MergePolicy> {
        Some(match s {
            "auto" => MergePolicy::Auto,
            "immediate" => MergePolicy::Immediate,
            "never" => MergePolicy::Never,
            "direct" => MergePolicy::Direct,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MergePolicy::Auto => "auto",
            MergePolicy::Immediate => "immediate",
            MergePolicy::Never => "never",
            MergePolicy::Direct => "direct",
        }
    }
}

/// Who may release to an environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    pub users: Vec<String>,
    /// `org/team` slugs.
    pub teams: Vec<String>,
    /// Minimum repository permission: `read`, `triage`, `write`, `maintain` or `admin`.
    pub permission: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    /// Image repository without tag, e.g. `ghcr.io/acme/hello`.
    pub image: String,
    /// Build context relative to the repository root.
    pub context: PathBuf,
    pub dockerfile: String,
}

#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub branches: RefPatterns,
    pub tags: RefPatterns,
    pub tag: Template,
    pub merge: MergePolicy,
    pub reviewers: Vec<String>,
    pub labels: Vec<String>,
    /// Overlay folder relative to the repository root.
    pub overlay: PathBuf,
    /// The environment promoted to after this one, if any.
    pub next: Option<String>,
    pub allowed: Option<Access>,
    /// Whether the `merge` input may ask for `direct` (a push to the base with no
    /// pull request). Default: yes, unless the environment has an `allowed:` rule.
    pub allow_direct: bool,
}

impl Environment {
    /// The overlay's kustomization file: `kustomization.yaml`, or the `.yml` or
    /// `Kustomization` spelling kustomize also accepts when that is the one present.
    pub fn kustomization(&self, root: &Path) -> PathBuf {
        let dir = root.join(&self.overlay);
        ["kustomization.yaml", "kustomization.yml", "Kustomization"]
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
            .unwrap_or_else(|| dir.join("kustomization.yaml"))
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from; `None` for the built-in default.
    pub file: Option<PathBuf>,
    /// Repository root: overlay paths are relative to it.
    pub root: PathBuf,
    pub overlays: PathBuf,
    /// Declared services, in file order. Empty means "any service name", with the
    /// default image.
    pub services: Vec<Service>,
    pub environments: Vec<Environment>,
    /// Owner for default images (`GITHUB_REPOSITORY_OWNER`), lower-cased.
    pub owner: Option<String>,
}

impl Config {
    pub fn environment(&self, name: &str) -> Result<&Environment, UserError> {
        self.environments
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| {
                UserError::new(format!("unknown environment `{name}`")).hint(format!(
                    "environments in {}: {}",
                    self.source_name(),
                    self.environments
                        .iter()
                        .map(|e| format!("`{}`", e.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// The declared service, or — with no `services:` — one with the default image.
    pub fn service(&self, name: &str) -> Result<Service, UserError> {
        if let Some(s) = self.services.iter().find(|s| s.name == name) {
            return Ok(s.clone());
        }
        if !self.services.is_empty() {
            return Err(
                UserError::new(format!("unknown service `{name}`")).hint(format!(
                    "services in {}: {}",
                    self.source_name(),
                    self.services
                        .iter()
                        .map(|s| format!("`{}`", s.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
        check_name(name).map_err(|m| {
            UserError::new(format!("service name `{name}` {m}"))
                .hint("service names are lower case letters, digits and `-`, starting with a letter or digit")
        })?;
        Ok(Service {
            name: name.to_string(),
            image: default_image(self.owner.as_deref(), name)?,
            context: PathBuf::from("."),
            dockerfile: "Dockerfile".into(),
        })
    }

    /// The environment after `name` in the chain.
    pub fn next_of(&self, name: &str) -> Option<&Environment> {
        let i = self.environments.iter().position(|e| e.name == name)?;
        match &self.environments[i].next {
            Some(n) => self.environments.iter().find(|e| &e.name == n),
            None if self.environments[i].has_explicit_end() => None,
            None => self.environments.get(i + 1),
        }
    }

    /// The environment whose `next` is `name` (the default promotion source).
    pub fn previous_of(&self, name: &str) -> Option<&Environment> {
        self.environments
            .iter()
            .find(|e| self.next_of(&e.name).is_some_and(|n| n.name == name))
    }

    fn source_name(&self) -> String {
        match &self.file {
            Some(f) => format!("`{}`", f.display()),
            None => "the built-in default config".into(),
        }
    }
}

impl Environment {
    fn has_explicit_end(&self) -> bool {
        self.next.as_deref() == Some("")
    }
}

fn default_image(owner: Option<&str>, service: &str) -> Result<String, UserError> {
    match owner {
        Some(o) => Ok(format!("ghcr.io/{o}/{service}")),
        None => Err(UserError::new(format!("no image is known for service `{service}`")).hint(
            "set `services.<name>.image` in the config, or `GITHUB_REPOSITORY_OWNER` (set on every GitHub runner)",
        )),
    }
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

/// The owner for default images, from the runner's environment.
pub fn owner_from_env() -> Option<String> {
    let from = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    from("GITHUB_REPOSITORY_OWNER")
        .or_else(|| from("GITHUB_REPOSITORY").and_then(|r| r.split('/').next().map(str::to_string)))
        .map(|o| o.to_ascii_lowercase())
}

/// Load the config at `path` (relative to `root` unless absolute). When the file
/// is absent and `explicit` is false, the built-in default applies.
pub fn load(root: &Path, path: &Path, explicit: bool) -> anyhow::Result<Config> {
    let full = if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    };
    let owner = owner_from_env();
    match crate::fs::read_user_file(root, &full, path)? {
        Some(text) => Ok(parse(root, path, &text, owner)?),
        None if !explicit => Ok(default_config(root, owner)),
        None => Err(UserError::new(format!(
            "config file `{}` does not exist",
            path.display()
        ))
        .hint("create it, or drop `--config` to use the built-in default (dev → uat → prod under `overlays/`)")
        .into()),
    }
}

/// The built-in default: dev → uat → prod under `overlays/`, with the tag schemes
/// of the seed (`dev-<branch>-<sha7>-<ts>`, `tst-…`, `prd-<semver>`).
pub fn default_config(root: &Path, owner: Option<String>) -> Config {
    let env = |name: &str, branches: &[&str], tags: &[&str], tag: &str, merge| Environment {
        name: name.into(),
        branches: RefPatterns::new(branches).expect("built-in patterns are valid"),
        tags: RefPatterns::new(tags).expect("built-in patterns are valid"),
        tag: Template::parse(tag).expect("built-in templates are valid"),
        merge,
        reviewers: vec![],
        labels: vec![],
        overlay: PathBuf::from("overlays").join(name),
        next: None,
        allowed: None,
        allow_direct: true,
    };
    Config {
        file: None,
        root: root.to_path_buf(),
        overlays: PathBuf::from("overlays"),
        services: vec![],
        environments: vec![
            env(
                "dev",
                &["**", "!main", "!test/**"],
                &[],
                "dev-{branch}-{sha7}-{timestamp}",
                MergePolicy::Auto,
            ),
            env(
                "uat",
                &["main"],
                &[],
                "tst-{sha7}-{timestamp}",
                MergePolicy::Never,
            ),
            env("prod", &[], &["v*"], "prd-{version}", MergePolicy::Never),
        ],
        owner,
    }
}

// ---------------------------------------------------------------------------
// Raw types: what serde_norway reads once the shape is known to be right.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    overlays: Option<String>,
    #[serde(default)]
    services: Option<BTreeMap<String, Option<RawService>>>,
    environments: Option<Vec<RawEnvironment>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    image: Option<String>,
    context: Option<String>,
    dockerfile: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawEnvironment {
    name: String,
    #[serde(default)]
    branches: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    tag: Option<String>,
    merge: Option<MergePolicy>,
    #[serde(default)]
    reviewers: Vec<String>,
    #[serde(default)]
    labels: Vec<String>,
    overlay: Option<String>,
    next: Option<String>,
    allowed: Option<RawAccess>,
    allow_direct: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccess {
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    teams: Vec<String>,
    permission: Option<String>,
}

// ---------------------------------------------------------------------------
// Schema check: every problem, with its place.

#[derive(Clone, Copy)]
enum Shape {
    Str,
    StrList,
    Map(&'static [(&'static str, Shape)]),
    /// A map from names to the shape.
    Named(&'static Shape),
    List(&'static Shape),
    /// A string or null.
    OptStr,
    OneOf(&'static [&'static str]),
}

const ACCESS: Shape = Shape::Map(&[
    ("users", Shape::StrList),
    ("teams", Shape::StrList),
    (
        "permission",
        Shape::OneOf(&["read", "triage", "write", "maintain", "admin"]),
    ),
]);
const ENVIRONMENT: Shape = Shape::Map(&[
    ("name", Shape::Str),
    ("branches", Shape::StrList),
    ("tags", Shape::StrList),
    ("tag", Shape::Str),
    (
        "merge",
        Shape::OneOf(&["auto", "immediate", "never", "direct"]),
    ),
    ("reviewers", Shape::StrList),
    ("labels", Shape::StrList),
    ("overlay", Shape::Str),
    ("next", Shape::OptStr),
    ("allowed", ACCESS),
    ("allow-direct", Shape::OneOf(&["true", "false"])),
]);
const SERVICE: Shape = Shape::Map(&[
    ("image", Shape::Str),
    ("context", Shape::Str),
    ("dockerfile", Shape::Str),
]);
const CONFIG: Shape = Shape::Map(&[
    ("overlays", Shape::Str),
    ("services", Shape::Named(&SERVICE)),
    ("environments", Shape::List(&ENVIRONMENT)),
]);

struct Checker<'a> {
    file: &'a Path,
    diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn at(&mut self, span: Span, message: String) {
        self.diags.push(Diagnostic {
            location: Some(location(self.file, span)),
            message,
        });
    }

    fn check(&mut self, shape: Shape, value: &Node, path: &str) {
        let span = value.span();
        let what = if path.is_empty() {
            "the top level".to_string()
        } else {
            format!("`{path}`")
        };
        let child = |k: &str| {
            if path.is_empty() {
                k.to_string()
            } else {
                format!("{path}.{k}")
            }
        };
        let node = value;
        if let Node::Alias { .. } = node {
            self.at(
                span,
                format!("{what}: aliases are not supported in the config"),
            );
            return;
        }
        match shape {
            Shape::Str => match node {
                Node::Scalar(s) if !s.is_null() => {}
                _ => self.at(span, format!("{what} must be a string")),
            },
            Shape::OptStr => match node {
                Node::Scalar(..) => {}
                _ => self.at(span, format!("{what} must be a string or null")),
            },
            Shape::OneOf(allowed) => match node {
                Node::Scalar(s) if allowed.contains(&s.value.as_str()) => {}
                Node::Scalar(s) => self.at(
                    span,
                    format!(
                        "{what} is `{}`, expected one of {}",
                        s.value,
                        allowed
                            .iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                _ => self.at(span, format!("{what} must be a string")),
            },
            Shape::StrList | Shape::List(_) => match node {
                Node::Seq { items, .. } => {
                    let inner = match shape {
                        Shape::List(inner) => *inner,
                        _ => Shape::Str,
                    };
                    for (i, item) in items.iter().enumerate() {
                        self.check(inner, item, &format!("{path}[{i}]"));
                    }
                }
                _ if matches!(shape, Shape::StrList) => {
                    self.at(span, format!("{what} must be a list of strings"))
                }
                _ => self.at(span, format!("{what} must be a list")),
            },
            Shape::Named(inner) => match node {
                Node::Map { entries, .. } => {
                    for (k, v) in entries {
                        // `hello:` with no settings takes every default.
                        if !v.is_null() {
                            self.check(*inner, v, &child(&k.value));
                        }
                    }
                }
                _ if value.is_null() => {}
                _ => self.at(span, format!("{what} must be a mapping")),
            },
            Shape::Map(fields) => match node {
                Node::Map { entries, .. } => {
                    let mut seen: Vec<&str> = vec![];
                    for (key, v) in entries {
                        let k = key.value.as_str();
                        if seen.contains(&k) {
                            self.at(key.span, format!("duplicate key `{k}` in {what}"));
                            continue;
                        }
                        seen.push(k);
                        match fields.iter().find(|(name, _)| *name == k) {
                            Some((_, shape)) => self.check(*shape, v, &child(k)),
                            None => self.at(
                                key.span,
                                format!(
                                    "unknown key `{k}` in {what} (expected one of {})",
                                    fields
                                        .iter()
                                        .map(|(f, _)| format!("`{f}`"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            ),
                        }
                    }
                }
                _ => self.at(span, format!("{what} must be a mapping")),
            },
        }
    }
}

fn location(file: &Path, span: Span) -> Location {
    Location::new(file, span.line, span.column)
}

/// Where each value sits, by a path such as `environments[1].tag`; keys also
/// under `<path>#key`.
fn index_positions(value: &Node, path: String, out: &mut BTreeMap<String, Span>) {
    out.insert(path.clone(), value.span());
    match value {
        Node::Map { entries, .. } => {
            for (k, v) in entries {
                let p = if path.is_empty() {
                    k.value.clone()
                } else {
                    format!("{path}.{}", k.value)
                };
                out.insert(format!("{p}#key"), k.span);
                index_positions(v, p, out);
            }
        }
        Node::Seq { items, .. } => {
            for (i, item) in items.iter().enumerate() {
                index_positions(item, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The config's one document as a tree, with no control character in any value.
fn read_tree(path: &Path, text: &str) -> Result<Option<Node>, UserError> {
    let invalid = |at: Span, msg: &str| {
        UserError::at(location(path, at), format!("invalid YAML: {msg}"))
            .hint("fix the YAML syntax at that place")
    };
    let mut documents = yaml::parse(text).map_err(|e| match e.kind {
        yaml::ErrorKind::Syntax(msg) => invalid(e.at, &msg),
        yaml::ErrorKind::ComplexKey => invalid(e.at, "only plain scalar keys are allowed"),
    })?;
    let Some(first) = documents.first() else {
        return Ok(None);
    };
    // Issue 14: config values end up in printed lines (codeowners, status, PR
    // bodies); a newline in one could start a workflow command line.
    for s in first.root.scalars() {
        if let Some(c) = s.value.chars().find(|c| c.is_control()) {
            return Err(UserError::at(
                location(path, s.span),
                format!(
                    "a value holds a control character ({}): config values are single-line text",
                    c.escape_unicode()
                ),
            )
            .hint("remove the control character (a `\\n` or `\\t` escape in a quoted string, or a block scalar `|`, is one)"));
        }
    }
    if let Some(second) = documents.get(1) {
        return Err(invalid(
            second.start,
            "the config must be a single YAML document",
        ));
    }
    Ok(Some(documents.swap_remove(0).root))
}

/// Parse and validate config text. `path` is used in messages as given.
pub fn parse(
    root: &Path,
    path: &Path,
    text: &str,
    owner: Option<String>,
) -> Result<Config, UserError> {
    let hint = "fix the config, then run `gitops-action status` to check it; the README's config reference lists every key";
    let tree = read_tree(path, text)?;
    let Some(tree) = tree else {
        return Err(
            UserError::at(Location::new(path, 1, 1), "the config file is empty").hint(
                "add an `environments:` list, or delete the file to use the built-in default",
            ),
        );
    };
    let mut checker = Checker {
        file: path,
        diags: vec![],
    };
    checker.check(CONFIG, &tree, "");
    if !checker.diags.is_empty() {
        return Err(UserError::many(checker.diags).hint(hint));
    }
    let mut pos = BTreeMap::new();
    index_positions(&tree, String::new(), &mut pos);
    let raw: RawConfig = serde_norway::from_str(text).map_err(|e| {
        let loc = e
            .location()
            .map(|l| Location::new(path, l.line(), l.column()))
            .unwrap_or_else(|| Location::new(path, 1, 1));
        UserError::at(loc, e.to_string()).hint(hint)
    })?;
    validate(root, path, raw, &pos, owner).map_err(|d| UserError::many(d).hint(hint))
}

fn validate(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, UserError> {
        parse(
            Path::new("."),
            Path::new("gitops.yaml"),
            text,
            Some("acme".into()),
        )
    }

    const ISSUE_EXAMPLE: &str = include_str!("../tests/fixtures/gitops-five-environments.yaml");

    #[test]
    fn reads_the_documented_example() {
        let c = parse_str(ISSUE_EXAMPLE).unwrap();
        assert_eq!(c.environments.len(), 5);
        assert_eq!(c.environments[0].merge, MergePolicy::Auto);
        assert_eq!(c.environments[1].reviewers, ["acme/qa"]);
        assert_eq!(c.next_of("dev").unwrap().name, "uat");
        assert_eq!(c.previous_of("uat").unwrap().name, "dev");
        assert_eq!(c.environments[3].overlay, PathBuf::from("overlays/prod"));
        assert_eq!(
            c.service("hello").unwrap().context,
            PathBuf::from("examples/hello")
        );
        assert!(c.service("nope").is_err());
    }

    #[test]
    fn reports_every_problem_with_its_place() {
        let text = "overlays: ../out\nservices:\n  Hello:\n    image: ghcr.io/acme/hello\n  hi:\n    imag: x\nenvironments:\n  - name: dev\n    tag: \"dev-{brnch}\"\n    merge: sometimes\n  - name: Prod\n    branches: main\n";
        let err = parse_str(text).unwrap_err();
        let msgs: Vec<String> = err.diagnostics.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "gitops.yaml:6:5: unknown key `imag` in `services.hi` (expected one of `image`, `context`, `dockerfile`)",
                "gitops.yaml:10:12: `environments[0].merge` is `sometimes`, expected one of `auto`, `immediate`, `never`, `direct`",
                "gitops.yaml:12:15: `environments[1].branches` must be a list of strings",
            ],
            "{msgs:#?}"
        );
        // Once the shape is right, the semantic problems come all at once.
        let text = "overlays: ../out\nservices:\n  Hello:\n    image: ghcr.io/acme/hello\nenvironments:\n  - name: dev\n    tag: \"dev-{brnch}\"\n  - name: Prod\n    branches: [main]\n";
        let err = parse_str(text).unwrap_err();
        let msgs: Vec<String> = err.diagnostics.iter().map(|d| d.to_string()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:#?}");
        assert!(
            msgs[0].starts_with("gitops.yaml:1:11: `overlays` path `../out` must stay inside"),
            "{msgs:#?}"
        );
        assert!(
            msgs[1].starts_with("gitops.yaml:3:3: service name `Hello`"),
            "{msgs:#?}"
        );
        assert!(
            msgs[2].starts_with("gitops.yaml:7:10: unknown placeholder `{brnch}`"),
            "{msgs:#?}"
        );
        assert!(
            msgs[3].starts_with("gitops.yaml:8:11: environment name `Prod`"),
            "{msgs:#?}"
        );
    }

    /// Issue 12: the config's checker took only `~`, `null` and an empty value as
    /// null, while serde_norway (which reads the values) and kustomize also take
    /// `Null` and `NULL`. `image: NULL` passed the check as a string, then read as
    /// no image; `hello: Null` was refused where `hello: null` was not.
    #[test]
    fn null_is_the_core_schema_set() {
        for null in ["Null", "NULL"] {
            let text = format!("services:\n  hello: {null}\nenvironments:\n  - name: dev\n");
            let c = parse_str(&text).unwrap();
            assert_eq!(c.services[0].image, "ghcr.io/acme/hello");
            let text =
                format!("services:\n  hello:\n    image: {null}\nenvironments:\n  - name: dev\n");
            let err = parse_str(&text).unwrap_err();
            assert_eq!(
                err.diagnostics[0].to_string(),
                "gitops.yaml:3:12: `services.hello.image` must be a string"
            );
        }
        // Quoted, it is a string like any other.
        let c =
            parse_str("services:\n  hello:\n    image: \"null\"\nenvironments:\n  - name: dev\n")
                .unwrap();
        assert_eq!(c.services[0].image, "null");
    }

    #[test]
    fn malformed_yaml_has_a_place() {
        let err = parse_str("environments:\n  - name: dev\n   tag: [\n").unwrap_err();
        let d = &err.diagnostics[0];
        assert!(d.location.is_some());
        assert!(d.message.starts_with("invalid YAML"), "{d}");
    }

    #[test]
    fn names() {
        assert!(check_name("hello-2").is_ok());
        assert!(check_name("-x").is_err());
        assert!(check_name("a_b").is_err());
        assert!(check_name(&"a".repeat(64)).is_err());
        assert!(check_name(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn default_chain() {
        let c = default_config(Path::new("."), Some("acme".into()));
        let names: Vec<_> = c.environments.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["dev", "uat", "prod"]);
        assert_eq!(c.service("hello").unwrap().image, "ghcr.io/acme/hello");
        assert!(c.next_of("prod").is_none());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Arbitrary text never panics: it parses or gives diagnostics.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let _ = parse_str(&text);
        }

        /// Mutations of a valid config never panic either.
        #[test]
        fn mutated_configs_never_panic(cut in 0usize..ISSUE_EXAMPLE.len(), insert in "[ :\\-\\[\\]{}\n\"'a-z*!&]{0,8}") {
            let mut text = ISSUE_EXAMPLE.to_string();
            let cut = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            text.insert_str(cut, &insert);
            let _ = parse_str(&text);
        }
    }
}
