//! `set-image`: edit one environment's overlay in the workspace.

use crate::action::Outputs;
use crate::config::Environment;
use crate::context::*;
use crate::error::UserError;
use crate::inputs::SetImage;
use crate::overlay;
use anyhow::Context as _;
use std::path::PathBuf;

/// The result of editing one overlay.
#[derive(Debug, Clone)]
pub struct OverlayChange {
    pub path: PathBuf,
    pub before: Option<overlay::ImageEntry>,
    pub text_before: String,
    pub text_after: Option<String>,
}

/// Read, edit and (unless dry-run) atomically write an environment's overlay.
pub fn edit_overlay(
    cx: &Context,
    env: &Environment,
    image: &str,
    tag: Option<&str>,
    digest: Option<&str>,
    write: bool,
) -> anyhow::Result<OverlayChange> {
    let path = env.kustomization(&cx.root);
    let rel = cx.rel(&path);
    let text = match crate::fs::read_user_file(&cx.root, &path, &rel)? {
        Some(t) => t,
        None => {
            return Err(UserError::new(format!("overlay `{}` does not exist", rel.display()))
                .hint(format!(
                    "create `{}` (with `resources:` pointing at your base), or set `overlay:` for environment `{}`",
                    rel.display(),
                    env.name
                ))
                .into());
        }
    };
    let edit = overlay::set_image(&rel, &text, &overlay::SetImage { image, tag, digest })?;
    match edit {
        overlay::Edit::Unchanged => {
            let before = overlay::find_image(&rel, &text, image)?;
            Ok(OverlayChange {
                path: rel,
                before,
                text_before: text,
                text_after: None,
            })
        }
        overlay::Edit::Changed { text: new, before } => {
            if write {
                overlay::write_atomic(&path, new.as_bytes())
                    .with_context(|| format!("writing `{}`", rel.display()))?;
            }
            Ok(OverlayChange {
                path: rel,
                before,
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
    let change = edit_overlay(cx, env, &service.image, tag, digest, !cx.dry_run)?;
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
        |b| version_text(b.new_tag.as_deref(), b.digest.as_deref()),
    );
    // What was asked is what the entry reads after the edit: a tag alone drops a
    // stale digest, a digest alone drops a stale tag.
    let new = version_text(tag, digest);
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

/// An entry's version as the image reference ends: `tag`, `tag@digest`, `@digest`,
/// or `(none)` for an entry with neither.
fn version_text(tag: Option<&str>, digest: Option<&str>) -> String {
    match (tag, digest) {
        (Some(t), Some(d)) => format!("{t}@{d}"),
        (Some(t), None) => t.to_string(),
        (None, Some(d)) => format!("@{d}"),
        (None, None) => "(none)".to_string(),
    }
}
