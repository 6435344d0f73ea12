//! Where a service's version lives in an environment: one file, one format, the
//! fields in it. Every command that reads or writes a version goes through a
//! [`Target`], so none of them knows the format.
//!
//! Each format finds the byte spans of its fields in the positional tree
//! (`crate::yaml`) — `kustomize` (an `images:` entry, through `crate::overlay`),
//! `helm` (values fields), `yaml` (fields of one document of any YAML file), `flux`
//! (Flux's setter markers) — and the one writer (`write`) splices the new scalars
//! into the original bytes. Field paths are in `path`; the config's side (templates,
//! which setting wins) in `spec`.

mod flux;
mod helm;
mod kustomize;
mod path;
mod spec;
pub(crate) mod write;
mod yaml;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use crate::error::UserError;
use crate::yaml::{Document, Node, Scalar, ScalarStyle};

pub use path::FieldPath;
pub use spec::{DocumentSelector, FieldsSpec, TargetSpec, expand};
use write::{Editor, Source};

/// How a target file is read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Kustomize,
    Helm,
    Yaml,
    Flux,
}

impl Format {
    pub const NAMES: [&'static str; 4] = ["kustomize", "helm", "yaml", "flux"];

    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "kustomize" => Format::Kustomize,
            "helm" => Format::Helm,
            "yaml" => Format::Yaml,
            "flux" => Format::Flux,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Format::NAMES[self as usize]
    }
}

/// The fields of a `helm` or `yaml` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fields {
    /// The repository, tag and digest in fields of their own. `named`: the config
    /// names the field, so it is written (created with `create: true`) even when
    /// absent; an unnamed default is written only where it exists (digest) or
    /// never (repository: charts split it into `registry` + `repository`, and the
    /// release changes the version, not where the image lives).
    Split {
        repository: Option<(FieldPath, bool)>,
        tag: FieldPath,
        digest: Option<(FieldPath, bool)>,
    },
    /// One `repo:tag@digest` string.
    Reference(FieldPath),
}

impl Fields {
    /// Helm's defaults: `image.repository` (read only), `image.tag`, `image.digest`.
    pub fn helm_default() -> Fields {
        Fields::Split {
            repository: Some((FieldPath::key("image.repository"), false)),
            tag: FieldPath::key("image.tag"),
            digest: Some((FieldPath::key("image.digest"), false)),
        }
    }
}

/// A service's target in an environment.
#[derive(Debug, Clone)]
pub struct Target {
    /// The file, relative to the repository root.
    pub path: PathBuf,
    pub format: Format,
    /// The service's image repository, `ghcr.io/acme/hello`.
    pub image: String,
    /// `helm` and `yaml`.
    pub fields: Option<Fields>,
    /// `yaml`: the document to edit in a file of several.
    pub document: Option<DocumentSelector>,
    /// `flux`: `<namespace>:<name>` of the image policy whose markers are set.
    pub policy: Option<String>,
    /// `helm`, `yaml`: a missing field is added (its line only).
    pub create: bool,
}

/// The version a target holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Version {
    pub tag: Option<String>,
    pub digest: Option<String>,
    /// 1-based line of the (first) field.
    pub line: usize,
    /// The line of a field that holds another tag or digest than the first one
    /// (two Flux markers of one policy set apart by hand, a reference string and
    /// a tag field that disagree): the target is inconsistent.
    pub differs_at: Option<usize>,
}

impl Version {
    /// As the image reference ends: `tag@digest`, `tag`, `@digest` or `(none)`.
    pub fn text(&self) -> String {
        version_text(self.tag.as_deref(), self.digest.as_deref())
    }
}

/// `tag@digest`, `tag`, `@digest` or `(none)`.
pub fn version_text(tag: Option<&str>, digest: Option<&str>) -> String {
    match (tag, digest) {
        (Some(t), Some(d)) => format!("{t}@{d}"),
        (Some(t), None) => t.to_string(),
        (None, Some(d)) => format!("@{d}"),
        (None, None) => "(none)".to_string(),
    }
}

/// What to set. A tag alone clears a stale digest, a digest alone a stale tag, so
/// a target never pairs a tag and a digest that don't belong together.
#[derive(Debug, Clone, Copy)]
pub struct SetVersion<'a> {
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    Unchanged,
    Changed {
        text: String,
        before: Option<Version>,
    },
}

/// What a field is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The image repository (`image.repository`, Flux's `:name`).
    Name,
    Tag,
    Digest,
    /// `repo:tag@digest` in one string. `pin`: write the digest in it too.
    Reference {
        pin: bool,
    },
}

/// A field a format found: its role, its key and value as they stand, or where
/// to add it.
pub(crate) struct Slot<'t> {
    pub(crate) role: Role,
    pub(crate) key: Option<&'t Scalar>,
    pub(crate) value: Option<&'t Scalar>,
    /// For a missing field: insert after the line holding this byte, at this
    /// indent, these keys (nested), the last one holding the value.
    pub(crate) create: Option<(usize, String, Vec<String>)>,
}

impl Target {
    /// The file in messages and diffs, with `/` separators.
    pub fn path_str(&self) -> String {
        self.path.to_string_lossy().replace('\\', "/")
    }

    /// The error for a target file that does not exist (where an edit needs it).
    pub fn missing(&self, service: &str, env: &str) -> UserError {
        let file = self.path_str();
        match self.format {
            Format::Kustomize => UserError::new(format!("overlay `{file}` does not exist")).hint(
                format!(
                    "create `{file}` (with `resources:` pointing at your base), or set `overlay:` for environment `{env}`"
                ),
            ),
            _ => UserError::new(format!("`{file}` does not exist")).hint(format!(
                "create it with {service}'s fields, or fix `file:` of `{service}` or of environment `{env}`"
            )),
        }
    }

    /// The version the file holds, `None` when it holds none for this service.
    pub fn read(&self, text: &str) -> Result<Option<Version>, UserError> {
        if self.format == Format::Kustomize {
            return kustomize::read(self, text);
        }
        let src = Source::new(&self.path, text);
        let docs = parse_all(&src)?;
        let slots = self.slots(&src, &docs, false)?;
        Ok(version_of(&src, &slots))
    }

    /// Set the version: a pure text-to-text edit, refused (exit 2, `file:line:col`
    /// and a hint) rather than made where it could change anything else.
    pub fn edit(&self, text: &str, set: SetVersion) -> Result<Edit, UserError> {
        if let Some(t) = set.tag {
            write::check_tag(t)?;
        }
        if let Some(d) = set.digest {
            write::check_digest(d)?;
        }
        if set.tag.is_none() && set.digest.is_none() {
            return Err(
                UserError::new("nothing to set: give a tag, a digest or both")
                    .hint("pass `--tag`, `--digest` or both"),
            );
        }
        if self.format == Format::Kustomize {
            return kustomize::edit(self, text, set);
        }
        let src = Source::new(&self.path, text);
        let docs = parse_all(&src)?;
        let slots = self.slots(&src, &docs, true)?;
        let before = version_of(&src, &slots);
        let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let mut ed = Editor {
            src: &src,
            eol,
            splices: vec![],
        };
        let mut wanted = Vec::new();
        for slot in &slots {
            let current = slot.value.map(text_of);
            let new = self.new_value(slot, current, set);
            wanted.push(new.clone());
            match (slot.value, &slot.create) {
                (Some(v), _) if text_of(v) == new => {}
                (Some(v), _) => match slot.key {
                    Some(k) => ed.replace(k, v, &new),
                    None => ed.splices.push(write::Splice {
                        start: v.span.start,
                        end: v.span.end,
                        text: write::render(&new, v.style),
                    }),
                },
                (None, Some((after, indent, keys))) => {
                    let mut lines = Vec::new();
                    for (depth, k) in keys.iter().enumerate() {
                        let pad = format!("{indent}{}", "  ".repeat(depth));
                        if depth + 1 == keys.len() {
                            lines.push(format!(
                                "{pad}{k}: {}",
                                write::render(&new, ScalarStyle::Plain)
                            ));
                        } else {
                            lines.push(format!("{pad}{k}:"));
                        }
                    }
                    ed.insert_lines_after(*after, &lines);
                }
                (None, None) => {}
            }
        }
        let cannot = || {
            UserError::new(format!(
                "cannot set the version in `{}` without changing something else",
                self.path_str()
            ))
            .hint("write the field as a plain `key: value` line, and run again")
        };
        let new_text = ed.apply().ok_or_else(cannot)?;
        if new_text == text {
            return Ok(Edit::Unchanged);
        }
        // Read back: the same fields, now holding exactly what was written.
        let nsrc = Source::new(&self.path, &new_text);
        let ndocs = parse_all(&nsrc).map_err(|_| cannot())?;
        let nslots = self.slots(&nsrc, &ndocs, true).map_err(|_| cannot())?;
        let got: Vec<Option<&str>> = nslots.iter().map(|s| s.value.map(text_of)).collect();
        let want: Vec<Option<&str>> = slots
            .iter()
            .zip(&wanted)
            .map(|(s, w)| (s.value.is_some() || s.create.is_some()).then_some(w.as_str()))
            .collect();
        if got != want {
            return Err(cannot());
        }
        Ok(Edit::Changed {
            text: new_text,
            before,
        })
    }

    /// The edit as a function of the file's current text, as the publishers want
    /// it (re-applied to the file at each fresh base tip): `Some(new text)`, or
    /// `None` when already up to date.
    pub fn edit_fn<'a>(
        &'a self,
        set: SetVersion<'a>,
    ) -> impl FnMut(&str) -> anyhow::Result<Option<String>> + 'a {
        move |text: &str| {
            Ok(match self.edit(text, set)? {
                Edit::Unchanged => None,
                Edit::Changed { text, .. } => Some(text),
            })
        }
    }

    fn slots<'t>(
        &self,
        src: &Source,
        docs: &'t [Document],
        for_edit: bool,
    ) -> Result<Vec<Slot<'t>>, UserError> {
        let slots = match self.format {
            Format::Kustomize => unreachable!("kustomize reads through the overlay editor"),
            Format::Helm => helm::slots(self, src, docs, for_edit)?,
            Format::Yaml => yaml::slots(self, src, docs, self.fields_or_default(), for_edit)?,
            Format::Flux => flux::slots(self, src, docs)?,
        };
        for s in &slots {
            if let Some(v) = s.value {
                check_value(src, s.key, v)?;
            }
        }
        Ok(slots)
    }

    fn fields_or_default(&self) -> &Fields {
        static DEFAULT: std::sync::OnceLock<Fields> = std::sync::OnceLock::new();
        self.fields
            .as_ref()
            .unwrap_or_else(|| DEFAULT.get_or_init(Fields::helm_default))
    }

    /// The text a field gets.
    fn new_value(&self, slot: &Slot, current: Option<&str>, set: SetVersion) -> String {
        match slot.role {
            Role::Name => self.image.clone(),
            Role::Tag => set.tag.unwrap_or_default().to_string(),
            Role::Digest => set.digest.unwrap_or_default().to_string(),
            Role::Reference { pin } => {
                let keeps_digest = current.is_some_and(|c| split_reference(c).2.is_some());
                let mut r = self.image.clone();
                if let Some(t) = set.tag {
                    r.push(':');
                    r.push_str(t);
                }
                if let Some(d) = set
                    .digest
                    .filter(|_| pin || keeps_digest || set.tag.is_none())
                {
                    r.push('@');
                    r.push_str(d);
                }
                r
            }
        }
    }
}

/// A scalar's text, null read as empty (`tag: ~` holds no tag).
fn text_of(s: &Scalar) -> &str {
    if s.is_null() { "" } else { &s.value }
}

/// `name:tag@digest` → (name, tag, digest); the tag is what follows the last `:`
/// after the last `/` (a registry's `:port` is not a tag).
pub(crate) fn split_reference(r: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match r.split_once('@') {
        Some((a, d)) => (a, Some(d)),
        None => (r, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..]), digest),
        None => (rest, None, digest),
    }
}

/// The version the fields hold: the first tag and the first digest found.
fn version_of(src: &Source, slots: &[Slot]) -> Option<Version> {
    let mut v = Version::default();
    for s in slots {
        let Some(val) = s.value.filter(|v| !text_of(v).is_empty()) else {
            continue;
        };
        let (tag, digest) = match s.role {
            Role::Name => continue,
            Role::Tag => (Some(val.value.as_str()), None),
            Role::Digest => (None, Some(val.value.as_str())),
            Role::Reference { .. } => {
                let (_, t, d) = split_reference(&val.value);
                (t, d)
            }
        };
        if v.line == 0 && (tag.is_some() || digest.is_some()) {
            v.line = src.line_of(val.span.start);
        }
        let other = |have: &Option<String>, now: Option<&str>| matches!((have, now), (Some(h), Some(n)) if h != n);
        if v.differs_at.is_none() && (other(&v.tag, tag) || other(&v.digest, digest)) {
            v.differs_at = Some(src.line_of(val.span.start));
        }
        if v.tag.is_none() {
            v.tag = tag.map(str::to_string);
        }
        if v.digest.is_none() {
            v.digest = digest.map(str::to_string);
        }
    }
    (v.tag.is_some() || v.digest.is_some()).then_some(v)
}

/// A value we may read and splice: one line of text, no Helm template.
fn check_value(src: &Source, key: Option<&Scalar>, v: &Scalar) -> Result<(), UserError> {
    let at = key.map_or(v.span.start, |k| k.span.start);
    if matches!(v.style, ScalarStyle::Literal | ScalarStyle::Folded) {
        return Err(src
            .error(at, "the version field is a block scalar (`|` or `>`)")
            .hint("write it on one line, as `key: value`, and run again"));
    }
    if v.value.contains("{{") {
        return Err(src
            .error(
                v.span.start,
                format!("the version field holds a Helm template (`{}`)", v.value),
            )
            .hint("a template is rendered by Helm, not edited: point `fields:` at the values entry that feeds it"));
    }
    if let Some(c) = v.value.chars().find(|c| c.is_control()) {
        return Err(src
            .error(
                v.span.start,
                format!(
                    "the version field holds a control character ({})",
                    c.escape_unicode()
                ),
            )
            .hint(
                "image names, tags and digests are single-line text: remove the control character",
            ));
    }
    Ok(())
}

/// Every document of the file, with YAML errors at their place.
fn parse_all(src: &Source) -> Result<Vec<Document>, UserError> {
    // saphyr-parser refuses a tab right after a `:`, which YAML allows; a space of
    // the same width keeps every position (the text edited is the original).
    let spaced;
    let input = if src.text.contains(":\t") {
        spaced = src.text.replace(":\t", ": ");
        spaced.as_str()
    } else {
        src.text
    };
    crate::yaml::parse(input).map_err(|e| match e.kind {
        crate::yaml::ErrorKind::Syntax(info) => src
            .error(e.at.start, format!("invalid YAML: {info}"))
            .hint("fix the YAML at that place (a Helm template file is not a values file: point `file:` at the values)"),
        crate::yaml::ErrorKind::ComplexKey => src
            .error(e.at.start, "complex mapping keys are not supported")
            .hint("use plain string keys"),
    })
}

/// The documents that are not empty.
fn non_empty(docs: &[Document]) -> impl Iterator<Item = &Document> {
    docs.iter().filter(|d| !d.root.is_null())
}

/// Everything `status` needs from many targets, each file read and parsed once.
#[derive(Default)]
pub struct Reader {
    texts: std::collections::HashMap<PathBuf, Option<String>>,
    kustomize: std::collections::HashMap<PathBuf, crate::overlay::ImageIndex>,
}

impl Reader {
    /// The version `target` holds in the workspace at `root`; `Ok(None)` when the
    /// file or the service's fields are not there.
    pub fn read(&mut self, root: &Path, target: &Target) -> anyhow::Result<Option<Version>> {
        if !self.texts.contains_key(&target.path) {
            let text = crate::fs::read_user_file(root, &root.join(&target.path), &target.path)?;
            self.texts.insert(target.path.clone(), text);
        }
        let Some(text) = &self.texts[&target.path] else {
            return Ok(None);
        };
        if target.format == Format::Kustomize {
            if !self.kustomize.contains_key(&target.path) {
                let index = crate::overlay::ImageIndex::read(&target.path, text)?;
                self.kustomize.insert(target.path.clone(), index);
            }
            return Ok(kustomize::from_index(
                &self.kustomize[&target.path],
                &target.image,
            )?);
        }
        Ok(target.read(text)?)
    }

    /// Every image a kustomize file read so far names, in file order.
    pub fn kustomize_images(&self, path: &Path) -> Vec<String> {
        self.kustomize
            .get(path)
            .map(|i| i.entries().map(|e| e.image().to_string()).collect())
            .unwrap_or_default()
    }

    /// Read a kustomize file for its images (status without `services:`).
    pub fn load_kustomize(&mut self, root: &Path, path: &Path) -> anyhow::Result<bool> {
        let text = crate::fs::read_user_file(root, &root.join(path), path)?;
        let found = text.is_some();
        if let Some(t) = &text {
            let index = crate::overlay::ImageIndex::read(path, t)?;
            self.kustomize.insert(path.to_path_buf(), index);
        }
        self.texts.insert(path.to_path_buf(), text);
        Ok(found)
    }
}

/// Insert point for keys missing under `map` (a block mapping with entries):
/// after its last entry, at its keys' indent.
fn create_in(ed_src: &Source, map: &Node) -> Option<(usize, String)> {
    let Node::Map {
        entries,
        flow: false,
        ..
    } = map
    else {
        return None;
    };
    let (k, v) = entries.last()?;
    let ed = Editor {
        src: ed_src,
        eol: "\n",
        splices: vec![],
    };
    let indent = ed.indent_of(entries[0].0.span.start);
    // The line the last value ends on (a value's end may sit at the next line's start).
    let at = ed.before(v.end()).max(k.span.end);
    Some((at, indent))
}
