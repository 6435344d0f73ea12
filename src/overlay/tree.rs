//! A kustomization as a positional tree: the shared YAML tree (`crate::yaml`) read
//! with the kustomization's rules (one document, plain keys), and its source text
//! for error locations.

use crate::error::UserError;
use crate::yaml::{self, ErrorKind};

pub(crate) use crate::yaml::{Node, Scalar};

pub(crate) use crate::target::write::Source;

/// Parse the kustomization into a positioned tree (`None` for an empty file).
/// Later documents are allowed only when empty.
pub(crate) fn parse(src: &Source) -> Result<Option<Node>, UserError> {
    // saphyr-parser refuses a tab right after a `:` (`newTag:<TAB>v1`), which YAML
    // and kustomize allow; a space of the same width parses alike and keeps every
    // position, and the text that is edited is still the original.
    let spaced;
    let input = if src.text.contains(":\t") {
        spaced = src.text.replace(":\t", ": ");
        spaced.as_str()
    } else {
        src.text
    };
    let mut documents = yaml::parse(input).map_err(|e| match e.kind {
        ErrorKind::Syntax(info) => src.error(e.at.start, format!("invalid YAML: {info}")).hint(
            "fix the YAML at that place; `kubectl kustomize` on the overlay shows the same problem",
        ),
        ErrorKind::ComplexKey => src
            .error(e.at.start, "complex mapping keys are not supported")
            .hint("use plain string keys in the kustomization"),
    })?;
    if let Some(extra) = documents.iter().skip(1).find(|d| !d.root.is_null()) {
        return Err(src
            .error(
                extra.root.start(),
                "the kustomization holds more than one YAML document",
            )
            .hint(
                "a kustomization.yaml is a single document: split the extra one into its own file",
            ));
    }
    Ok((!documents.is_empty()).then(|| documents.swap_remove(0).root))
}
