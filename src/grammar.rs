//! The OCI grammars of tags, digests and repository names: one copy, below `tag`,
//! `registry` and `overlay`, which all check against it.
//!
//! Sources: the distribution spec
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md>, "Pulling
//! manifests": `<reference>` and `<name>`) and the image spec's descriptor
//! (<https://github.com/opencontainers/image-spec/blob/main/descriptor.md>, "Digests").
//! It lives in a module of its own rather than in `registry/reference.rs` because
//! `tag`, which sits below `registry` in the data flow, needs the tag grammar too.

/// A tag is at most this many characters.
pub const MAX_TAG_LEN: usize = 128;

/// The tag grammar, for messages.
pub(crate) const TAG_PATTERN: &str = "[A-Za-z0-9_][A-Za-z0-9._-]{0,127}";

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` (distribution spec, `<reference>` as
/// a tag). ASCII only: a non-ASCII letter is not `[a-zA-Z]`.
pub fn is_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphanumeric() || *c == b'_' => {}
        _ => return false,
    }
    b.len() <= MAX_TAG_LEN
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A digest we can verify: `algorithm ":" encoded` with a registered algorithm,
/// `sha256` and 64 lower-case hex digits or `sha512` and 128.
///
/// The descriptor's general grammar (`algorithm-component ::= [a-z0-9]+`, joined by
/// `[+._-]`; `encoded ::= [a-zA-Z0-9=_-]+`) admits algorithms nobody registered;
/// those are refused, since a digest we cannot compute is one we cannot check, and
/// so is upper-case hex, which the registered algorithms forbid.
pub fn is_digest(digest: &str) -> bool {
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    };
    match digest.split_once(':') {
        Some(("sha256", encoded)) => hex(encoded, 64),
        Some(("sha512", encoded)) => hex(encoded, 128),
        _ => false,
    }
}

/// One `/`-separated component of a repository name:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` (distribution spec, `<name>`).
pub(crate) fn is_path_component(c: &str) -> bool {
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

/// A registry host as a reference names it: DNS labels or a bracketed IPv6
/// address, with an optional `:port` (the Docker reference grammar's `domain`,
/// which the distribution spec leaves to clients).
pub(crate) fn is_registry_host(h: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_at_their_edges() {
        for ok in ["a", "_", "0", "v1.2.3", "_x", "A-b_c.d", "sha-0123abc"] {
            assert!(is_tag(ok), "{ok}");
        }
        assert!(is_tag(&"a".repeat(MAX_TAG_LEN)));
        for bad in [
            "", ".x", "-x", "a/b", "a:b", "a@b", "a b", "é", "a\n", "a+b",
        ] {
            assert!(!is_tag(bad), "{bad:?}");
        }
        assert!(!is_tag(&"a".repeat(MAX_TAG_LEN + 1)));
    }

    #[test]
    fn digests_at_their_edges() {
        let hex64 = "0123456789abcdef".repeat(4);
        assert!(is_digest(&format!("sha256:{hex64}")));
        assert!(is_digest(&format!("sha512:{hex64}{hex64}")));
        for bad in [
            String::new(),
            "sha256:".into(),
            hex64.clone(),
            format!("sha256:{}", &hex64[1..]),
            format!("sha256:{hex64}0"),
            format!("sha256:{}", hex64.to_uppercase()),
            format!("SHA256:{hex64}"),
            format!("sha512:{hex64}"),
            format!("sha384:{hex64}"),
            // Fits the descriptor's general grammar, but no one registered it.
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8".into(),
            format!("sha256:{}g", &hex64[1..]),
            format!("sha256:{}é", &hex64[2..]),
        ] {
            assert!(!is_digest(&bad), "{bad:?}");
        }
    }

    #[test]
    fn path_components_and_hosts() {
        for ok in ["a", "a.b", "a_b", "a__b", "a---b", "a0-9z"] {
            assert!(is_path_component(ok), "{ok}");
        }
        for bad in ["", "A", "-a", "a-", "a..b", "a___b", "a._b", "a/b", "é"] {
            assert!(!is_path_component(bad), "{bad:?}");
        }
        for ok in [
            "ghcr.io",
            "localhost:5000",
            "127.0.0.1:5000",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_registry_host(ok), "{ok}");
        }
        for bad in [
            "",
            "-a.io",
            "a-.io",
            "a..io",
            "a.io:",
            "a.io:123456",
            "[::1",
            "[zz]:1",
        ] {
            assert!(!is_registry_host(bad), "{bad:?}");
        }
    }
}
