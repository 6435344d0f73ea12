//! Image references: `host/path:tag@digest`, checked against the distribution grammar.

use crate::error::UserError;
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
        if !valid_tag(tag) {
            return Err(UserError::new(format!(
                "`{tag}` is not a valid tag: tags are `[A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}`"
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
            if !valid_digest(d) {
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
            if !valid_tag(tag) {
                return Err(format!(
                    "`{tag}` is not a valid tag (`[A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}`)"
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
            if !valid_host(first) {
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
        if !valid_component(comp) {
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

pub(crate) fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// `sha256:` + 64 hex or `sha512:` + 128 hex, lower case.
pub fn valid_digest(d: &str) -> bool {
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    };
    match d.split_once(':') {
        Some(("sha256", h)) => hex(h, 64),
        Some(("sha512", h)) => hex(h, 128),
        _ => false,
    }
}

pub(crate) fn valid_host(h: &str) -> bool {
    let (name, port) = if let Some(rest) = h.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, port)) => {
                if ip.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                ("", port)
            }
            None => return false,
        }
    } else {
        match h.rsplit_once(':') {
            Some((n, _)) => (n, &h[n.len()..]),
            None => (h, ""),
        }
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.len() <= 5 && p.bytes().all(|c| c.is_ascii_digit())
        });
    let name_ok = h.starts_with('[')
        || (!name.is_empty()
            && name.split('.').all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
            }));
    port_ok && name_ok
}

pub(crate) fn valid_component(c: &str) -> bool {
    // [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
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
