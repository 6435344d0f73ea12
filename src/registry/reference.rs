//! Image references: `host/path:tag@digest`, split into their parts, each checked
//! against the OCI grammar in `crate::grammar`.

use crate::error::UserError;
use crate::grammar;
use anyhow::Result;
use std::fmt;

/// `host/repository[:tag][@digest]`, validated against the distribution grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// As written (`docker.io` when none was).
    pub host: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// Parse a full reference; a tag or digest is optional here.
    pub fn parse(text: &str) -> Result<Reference, UserError> {
        parse_reference(text).map_err(|why| {
            UserError::new(format!("`{text}` is not a valid image reference: {why}")).hint(
                "write it as `registry/owner/name:tag` or `registry/owner/name@sha256:…`, \
                 e.g. `ghcr.io/acme/hello:sha-<40 hex>`",
            )
        })
    }

    /// A name without tag or digest, plus a tag checked against the OCI grammar.
    pub fn with_tag(image: &str, tag: &str) -> Result<Reference, UserError> {
        let mut r = Reference::parse(image)?;
        if r.tag.is_some() || r.digest.is_some() {
            return Err(UserError::new(format!(
                "`{image}` should name an image without a tag or digest"
            ))
            .hint("give the tag separately"));
        }
        if !grammar::is_tag(tag) {
            return Err(UserError::new(format!(
                "`{tag}` is not a valid tag: tags are `{}`",
                grammar::TAG_PATTERN
            ))
            .hint("use a tag the environment's template made (see `gitops-action status`), e.g. `dev-main-0123abc-1700000000`"));
        }
        r.tag = Some(tag.to_string());
        Ok(r)
    }

    /// `host/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.host, self.repository)
    }

    /// The path component after `manifests/`: the digest when there is one.
    pub(crate) fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    pub(crate) fn at_digest(&self, digest: &str) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

pub(crate) fn parse_reference(text: &str) -> Result<Reference, String> {
    if text.is_empty() {
        return Err("it is empty".into());
    }
    if text.len() > 4096 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains whitespace or control characters".into());
    }
    let (rest, digest) = match text.split_once('@') {
        Some((r, d)) => {
            if !grammar::is_digest(d) {
                return Err(format!(
                    "`{d}` is not a digest (`sha256:` and 64 lower-case hex digits)"
                ));
            }
            (r, Some(d.to_string()))
        }
        None => (text, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let tag = &rest[last_slash + i + 1..];
            if !grammar::is_tag(tag) {
                return Err(format!(
                    "`{tag}` is not a valid tag (`{}`)",
                    grammar::TAG_PATTERN
                ));
            }
            (&rest[..last_slash + i], Some(tag.to_string()))
        }
        None => (rest, None),
    };
    let (host, repository) = match name.split_once('/') {
        Some((first, path))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.starts_with('[') =>
        {
            if !grammar::is_registry_host(first) {
                return Err(format!("`{first}` is not a registry host"));
            }
            (first.to_string(), path.to_string())
        }
        Some(_) => ("docker.io".to_string(), name.to_string()),
        None => ("docker.io".to_string(), format!("library/{name}")),
    };
    if repository.is_empty() {
        return Err("the repository name is missing".into());
    }
    for comp in repository.split('/') {
        if !grammar::is_path_component(comp) {
            return Err(format!(
                "`{comp}` is not a valid repository path component (lower-case letters, digits, \
                 and `.`, `_`, `__` or `-` between them)"
            ));
        }
    }
    if host.len() + 1 + repository.len() > 255 {
        return Err("the name is longer than 255 characters".into());
    }
    Ok(Reference {
        host,
        repository,
        tag,
        digest,
    })
}

/// Loopback registries are spoken to over plain HTTP, as Docker does.
pub(crate) fn is_loopback(host: &str) -> bool {
    let name = if host.starts_with('[') {
        host.split(']').next().unwrap_or("").trim_start_matches('[')
    } else {
        host.rsplit_once(':').map_or(host, |(n, _)| n)
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
