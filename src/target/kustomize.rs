//! `kustomize`: the service's entry in the `images:` of a kustomization, read and
//! edited by the overlay editor (`crate::overlay`), which finds the entry by
//! `name` or `newName` and splices through the shared writer.

use crate::error::UserError;
use crate::overlay::{self, ImageEntry, ImageIndex};

use super::{Edit, SetVersion, Target, Version};

fn version(e: &ImageEntry) -> Version {
    Version {
        tag: e.new_tag.clone(),
        digest: e.digest.clone(),
        line: e.line,
        differs_at: None,
    }
}

pub(super) fn read(t: &Target, text: &str) -> Result<Option<Version>, UserError> {
    Ok(overlay::find_image(&t.path, text, &t.image)?
        .as_ref()
        .map(version))
}

pub(super) fn from_index(index: &ImageIndex, image: &str) -> Result<Option<Version>, UserError> {
    Ok(index.find(image)?.map(version))
}

pub(super) fn edit(t: &Target, text: &str, set: SetVersion) -> Result<Edit, UserError> {
    let req = overlay::SetImage {
        image: &t.image,
        tag: set.tag,
        digest: set.digest,
    };
    Ok(match overlay::set_image(&t.path, text, &req)? {
        overlay::Edit::Unchanged => Edit::Unchanged,
        overlay::Edit::Changed { text, before } => Edit::Changed {
            text,
            before: before.as_ref().map(version),
        },
    })
}
