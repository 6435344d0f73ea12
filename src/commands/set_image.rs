//! `set-image`: edit one service's target in one environment, in the workspace.

use crate::action::Outputs;
use crate::config::{Environment, Service};
use crate::context::*;
use crate::inputs::SetImage;
use crate::overlay;
use crate::target::{self, version_text};
use anyhow::Context as _;
use std::path::PathBuf;

/// The result of editing one target file.
#[derive(Debug, Clone)]
pub struct TargetChange {
    pub path: PathBuf,
    pub before: Option<target::Version>,
    /// What the target reads after the edit (a format may hold less than was
    /// asked: Flux's full marker takes a digest only where it pins one).
    pub after: Option<target::Version>,
    pub text_before: String,
    pub text_after: Option<String>,
}

/// Read, edit and (unless dry-run) atomically write a service's target in an
/// environment.
pub fn edit_target(
    cx: &Context,
    env: &Environment,
    service: &Service,
    set: target::SetVersion,
    write: bool,
) -> anyhow::Result<TargetChange> {
    let t = cx.config.target(service, env)?;
    let rel = t.path.clone();
    let path = cx.root.join(&rel);
    let text = match crate::fs::read_user_file(&cx.root, &path, &rel)? {
        Some(text) => text,
        None => return Err(t.missing(&service.name, &env.name).into()),
    };
    match t.edit(&text, set)? {
        target::Edit::Unchanged => Ok(TargetChange {
            path: rel,
            before: t.read(&text)?,
            after: None,
            text_before: text,
            text_after: None,
        }),
        target::Edit::Changed { text: new, before } => {
            if write {
                overlay::write_atomic(&path, new.as_bytes())
                    .with_context(|| format!("writing `{}`", rel.display()))?;
            }
            Ok(TargetChange {
                path: rel,
                before,
                after: t.read(&new)?,
                text_before: text,
                text_after: Some(new),
            })
        }
    }
}

pub(crate) fn set_image(cx: &Context, inputs: &SetImage) -> anyhow::Result<Outputs> {
    let env = cx.config.environment(&inputs.env)?;
    let service = cx.config.service(&inputs.service)?;
    let (tag, digest) = (inputs.tag.as_deref(), inputs.digest.as_deref());
    let change = edit_target(
        cx,
        env,
        &service,
        target::SetVersion { tag, digest },
        !cx.dry_run,
    )?;
    let mut out = Outputs::default();
    out.set("env", &env.name);
    out.set("image", &service.image);
    out.set("changed", change.text_after.is_some());
    if let Some(t) = tag {
        out.set("tag", t);
    }
    if let Some(d) = digest {
        out.set("digest", d);
    }
    let old = change.before.as_ref().map_or_else(
        || "(none)".to_string(),
        |b| version_text(b.tag.as_deref(), b.digest.as_deref()),
    );
    // What the target reads after the edit: a tag alone drops a stale digest, a
    // digest alone a stale tag, and a format may hold less than was asked.
    let new = match &change.after {
        Some(v) => v.text(),
        None => version_text(tag, digest),
    };
    match &change.text_after {
        None => println!(
            "{}: unchanged ({} already at `{}`)",
            change.path.display(),
            service.name,
            old
        ),
        Some(after) => {
            if cx.dry_run {
                print!(
                    "{}",
                    overlay::unified_diff(
                        &change.path.display().to_string(),
                        &change.text_before,
                        after
                    )
                );
                println!(
                    "dry run: would update {}: {} `{old}` → `{new}`",
                    change.path.display(),
                    service.name
                );
            } else {
                println!(
                    "updated {}: {} `{old}` → `{new}`",
                    change.path.display(),
                    service.name
                );
            }
            out.summary = format!("`{}` in `{}`: `{old}` → `{new}`\n", service.name, env.name);
        }
    }
    Ok(out)
}
