//! `flux`: Flux's setter markers, as fluxcd/image-automation-controller defines
//! them (`internal/update/setters.go`): a field whose line comment is the JSON
//! object `{"$imagepolicy": "<ns>:<policy>"}` gets the policy's whole reference
//! (`name:tag`, `@digest` added only under a digest reflection policy); with
//! `:tag`, `:name` or `:digest` after the policy, that part alone. kyaml reads the
//! comment with its leading `#`s trimmed as a JSON object of strings
//! (`fieldmeta.processShortHand`), and a `${…}` around the name is dropped.
//!
//! Only the markers of the configured `policy:` in the target file are set —
//! never the rest of the repository (Flux sets every marked line it finds, so
//! environments sharing a policy flap: fluxcd/flux2#1657). A target file with
//! no marker of its policy is refused.

use std::collections::BTreeMap;

use crate::error::UserError;
use crate::yaml::{Document, Node, Scalar};

use super::write::Source;
use super::{Role, Slot, Target};

/// The comment that ends the line at `pos`, if the rest of the line is one.
fn comment_at(text: &str, pos: usize) -> Option<&str> {
    let rest = &text[pos.min(text.len())..];
    let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
    let line = line.trim_end_matches('\r');
    let t = line.trim_start_matches([' ', '\t']);
    // In YAML a comment is set off by white space (or opens the line).
    (t.starts_with('#') && (t.len() < line.len() || pos == 0 || text.as_bytes()[pos - 1] == b'\n'))
        .then_some(t)
}

/// The policy a marker comment names (`ns:name`, `ns:name:tag`, …), if it is one.
pub(crate) fn marker(comment: &str) -> Option<String> {
    let body = comment.trim_start_matches('#');
    let map: BTreeMap<String, String> = serde_json::from_str(body.trim()).ok()?;
    let name = map.get("$imagepolicy").filter(|n| !n.is_empty())?;
    let name = name.strip_prefix("${").unwrap_or(name);
    Some(name.strip_suffix('}').unwrap_or(name).to_string())
}

struct Marked<'t> {
    key: Option<&'t Scalar>,
    node: &'t Node,
    policy: String,
}

fn walk<'t>(text: &str, key: Option<&'t Scalar>, node: &'t Node, out: &mut Vec<Marked<'t>>) {
    let same_line = |a: usize, b: usize| !text[a.min(b)..a.max(b)].contains('\n');
    let comment = match (key, node) {
        (_, Node::Scalar(s)) if s.span.end > s.span.start => comment_at(text, s.span.end),
        (Some(k), n) if !matches!(n, Node::Scalar(_)) && same_line(k.span.end, n.end()) => {
            comment_at(text, n.end())
        }
        (Some(k), _) => {
            // An empty value, or a block collection under the key: the key's line.
            let colon = text[k.span.end..].find(':').map(|i| k.span.end + i + 1);
            colon.and_then(|c| comment_at(text, c))
        }
        (None, _) => None,
    };
    if let Some(p) = comment.and_then(marker) {
        out.push(Marked {
            key,
            node,
            policy: p,
        });
    }
    match node {
        Node::Map { entries, .. } => {
            for (k, v) in entries {
                walk(text, Some(k), v, out);
            }
        }
        Node::Seq { items, .. } => {
            for i in items {
                walk(text, None, i, out);
            }
        }
        _ => {}
    }
}

pub(super) fn slots<'t>(
    t: &Target,
    src: &Source,
    docs: &'t [Document],
) -> Result<Vec<Slot<'t>>, UserError> {
    let policy = t.policy.as_deref().unwrap_or_default();
    let mut marked = Vec::new();
    for d in docs {
        walk(src.text, None, &d.root, &mut marked);
    }
    let mut out = Vec::new();
    for m in &marked {
        let role = match m.policy.strip_prefix(policy) {
            Some("") => Role::Reference { pin: false },
            Some(":tag") => Role::Tag,
            Some(":name") => Role::Name,
            Some(":digest") => Role::Digest,
            _ => continue,
        };
        let value = match m.node {
            Node::Scalar(s) if s.anchored => {
                return Err(src
                    .error(
                        s.span.start,
                        format!("a field marked for `{}` carries an anchor (`&…`)", m.policy),
                    )
                    .hint("aliases of it would change too: write the value out where it is used"));
            }
            Node::Scalar(s) => s,
            other => {
                return Err(src
                    .error(
                        m.key.map_or(other.start(), |k| k.span.start),
                        format!("the field marked for `{}` is not a single value", m.policy),
                    )
                    .hint("put the marker on the line of the value it sets (`image: repo:tag # {\"$imagepolicy\": \"ns:name\"}`)"));
            }
        };
        out.push(Slot {
            role,
            key: m.key,
            value: Some(value),
            create: None,
        });
    }
    if out.is_empty() {
        let mut others: Vec<&str> = marked.iter().map(|m| m.policy.as_str()).collect();
        others.dedup();
        let found = if others.is_empty() {
            "no setter marker at all".to_string()
        } else {
            format!(
                "markers of other policies only ({})",
                others
                    .iter()
                    .map(|o| format!("`{o}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(UserError::new(format!(
            "`{}` holds no marker of image policy `{policy}`: {found}",
            t.path_str()
        ))
        .hint(format!(
            "mark the field, e.g. `image: {}:1.0.0 # {{\"$imagepolicy\": \"{policy}\"}}`, or fix `policy:`",
            t.image
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_json_objects_of_strings_as_kyaml_reads_them() {
        assert_eq!(
            marker(r#"# {"$imagepolicy": "ns:p"}"#).as_deref(),
            Some("ns:p")
        );
        assert_eq!(
            marker(r#"##{"$imagepolicy":"ns:p:tag"}  "#).as_deref(),
            Some("ns:p:tag")
        );
        assert_eq!(
            marker(r#"# {"$imagepolicy": "${ns:p}"}"#).as_deref(),
            Some("ns:p")
        );
        assert_eq!(marker(r#"# {"$imagepolicy": "ns:p"} trailing"#), None);
        assert_eq!(marker(r#"# {"$imagepolicy": 1}"#), None);
        assert_eq!(marker(r#"# {"$imagepolicy": ""}"#), None);
        assert_eq!(marker("# plain comment"), None);
    }
}
