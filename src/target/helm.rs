//! `helm`: a values file. The fields default to `image.repository` (read, never
//! rewritten unless named), `image.tag` and `image.digest` (written only where it
//! exists or is named); `fields: { image: hello.image }` is the one-string form,
//! and an umbrella chart's values nest under the subchart's key
//! (`fields: { tag: hello.image.tag }`). A value holding `{{ … }}` is a template
//! for Helm's `tpl`, not a version, and is refused (in `super::check_value`).

use crate::error::UserError;
use crate::yaml::Document;

use super::write::Source;
use super::{Slot, Target};

pub(super) fn slots<'t>(
    t: &Target,
    src: &Source,
    docs: &'t [Document],
    for_edit: bool,
) -> Result<Vec<Slot<'t>>, UserError> {
    super::yaml::slots(t, src, docs, t.fields_or_default(), for_edit)
}
