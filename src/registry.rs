//! Container registries (OCI distribution API): find the build of a commit, retag it
//! without rebuilding, copy it across repositories with its blobs cross-mounted.
//!
//! The HTTP is written here on reqwest rather than through `oci-client`, for three
//! reasons found in its 0.18 source: its `auth()` pings `/v2/` before every token
//! exchange (one request more per scope, so a same-repository retag cannot stay at
//! the 2 requests without auth / 4 with a token this module promises); its token
//! scope names one repository only, so a registry with token auth refuses the
//! cross-repository mount (which needs `pull` on the source in the same token); and
//! it would keep a second token cache and retry policy beside ours. What remains is
//! small: manifests by raw bytes, blob mount, streamed blob copy. The manifest and
//! index models and the media types do come from `oci-client` (its `manifest` module):
//! a manifest is parsed into them to find its children and blobs, and the bytes that
//! were read are the bytes written back, so the digest never changes.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

use crate::error::{Failure, UserError};

use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE as DOCKER_LIST, IMAGE_MANIFEST_MEDIA_TYPE as DOCKER_MANIFEST,
    OCI_IMAGE_INDEX_MEDIA_TYPE as OCI_INDEX, OCI_IMAGE_MEDIA_TYPE as OCI_MANIFEST, OciManifest,
};

/// Every manifest kind we copy, indexes first; the registry answers with the stored one
/// unchanged. (Schema 1 manifests are not asked for: registries convert them on the fly,
/// which would change the digest.)
const MANIFEST_TYPES: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// The `Accept` header of manifest reads: [`MANIFEST_TYPES`], comma-separated (a test
/// keeps the two equal).
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
                      application/vnd.docker.distribution.manifest.list.v2+json, \
                      application/vnd.oci.image.manifest.v1+json, \
                      application/vnd.docker.distribution.manifest.v2+json";

/// What to do about 401/403: the two settings that cause nearly all of them on GHCR.
pub const PERMISSION_HINT: &str = "the workflow needs `permissions: packages: write`, and the package must grant \
     this repository access (package settings → Manage Actions access); outside Actions, \
     check `registry-username` and `registry-password`";

/// For a manifest the registry holds but that cannot be copied as it is.
const DAMAGED_HINT: &str = "the manifest in the registry is damaged or not an image: push the image again \
     (an OCI or Docker v2 manifest or index, whose descriptors have `mediaType`, `digest` and `size`)";

const ATTEMPTS: u32 = 4;
const BLOB_CONCURRENCY: usize = 4;

/// How to reach and log in to registries; one per run.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    pub username: Option<String>,
    pub password: Option<String>,
    /// Hosts (`host` or `host:port`) spoken to over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
    /// `config.json` with `auths`; default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
}

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
    fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    fn at_digest(&self, digest: &str) -> Reference {
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

fn parse_reference(text: &str) -> Result<Reference, String> {
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

fn valid_tag(tag: &str) -> bool {
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

fn valid_host(h: &str) -> bool {
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

fn valid_component(c: &str) -> bool {
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
fn is_loopback(host: &str) -> bool {
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

/// The result of a retag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retagged {
    pub digest: String,
    pub media_type: String,
    /// False when the destination already pointed at this digest.
    pub written: bool,
}

/// A registry session for one run: credentials, cached tokens, a request counter.
/// Cheap to clone; clones share the caches and the counter.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    opts: RegistryOptions,
    docker_auths: HashMap<String, (String, String)>,
    /// How each host asked us to authenticate (learnt from its first 401).
    challenges: Mutex<HashMap<String, Challenge>>,
    /// Bearer tokens by host and scope, for the run.
    tokens: Mutex<HashMap<(String, String), String>>,
    requests: AtomicUsize,
    backoff: Duration,
}

#[derive(Debug, Clone)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the credentials or tokens.
        f.debug_struct("Registry")
            .field("insecure", &self.inner.opts.insecure)
            .field("requests", &self.request_count())
            .finish()
    }
}

/// What a request needs: which repositories and actions its token must cover.
#[derive(Debug, Clone)]
struct Scope(Vec<String>);

impl Scope {
    fn push(repo: &str) -> Scope {
        Scope(vec![format!("repository:{repo}:pull,push")])
    }
    fn pull(repo: &str) -> Scope {
        Scope(vec![format!("repository:{repo}:pull")])
    }
    /// Push to one repository and mount from another: one token must cover both.
    fn mount(dst: &str, src: &str) -> Scope {
        Scope(vec![
            format!("repository:{dst}:pull,push"),
            format!("repository:{src}:pull"),
        ])
    }
    fn key(&self) -> String {
        self.0.join(" ")
    }
    /// Cache keys whose tokens also cover this scope: a `pull,push` token serves a
    /// later `pull` on the same repository without another exchange.
    fn covering_keys(&self) -> Vec<String> {
        let mut keys = vec![self.key()];
        if let [one] = self.0.as_slice()
            && let Some(repo) = one.strip_suffix(":pull")
        {
            keys.push(format!("{repo}:pull,push"));
        }
        keys
    }
}

impl Registry {
    pub fn new(opts: RegistryOptions) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("gitops-action/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        for secret in opts.password.iter() {
            crate::action::register_secret(secret);
        }
        let docker_auths = read_docker_config(opts.docker_config.clone());
        for (_, p) in docker_auths.values() {
            crate::action::register_secret(p);
        }
        Registry {
            inner: Arc::new(Inner {
                http,
                opts,
                docker_auths,
                challenges: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
                requests: AtomicUsize::new(0),
                backoff: Duration::from_millis(250),
            }),
        }
    }

    /// HTTP requests sent so far (token exchanges included).
    pub fn request_count(&self) -> usize {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// The digest of `image:tag` if it exists (one HEAD), `None` if it does not.
    pub async fn digest_of(&self, image: &str, tag: &str) -> Result<Option<String>> {
        let r = Reference::with_tag(image, tag)?;
        self.head_manifest(&r, &Scope::pull(&r.repository)).await
    }

    /// The build of a commit: the image tagged `sha-<40 hex>`.
    pub async fn find_commit_build(&self, image: &str, sha: &str) -> Result<Option<String>> {
        if sha.len() != 40 || !sha.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(UserError::new(format!(
                "`{sha}` is not a full commit SHA (40 hex digits)"
            ))
            .into());
        }
        self.digest_of(image, &format!("sha-{}", sha.to_ascii_lowercase()))
            .await
    }

    /// Does `image@digest` exist?
    pub async fn exists(&self, image: &str, digest: &str) -> Result<bool> {
        if !valid_digest(digest) {
            return Err(UserError::new(format!("`{digest}` is not a digest")).into());
        }
        let r = Reference::parse(image)?.at_digest(digest);
        Ok(self
            .head_manifest(&r, &Scope::pull(&r.repository))
            .await?
            .is_some())
    }

    /// Give `dst` the manifest of `src`, byte for byte (same digest). Both are full
    /// references; they may be in different repositories or registries.
    pub async fn retag(&self, src: &str, dst: &str) -> Result<Retagged> {
        let src = Reference::parse(src)?;
        let dst = Reference::parse(dst)?;
        if dst.tag.is_none() {
            return Err(UserError::new(format!("`{dst}` has no tag to set"))
                .hint("name the destination with a tag, e.g. `ghcr.io/acme/hello:uat`")
                .into());
        }
        let same_repo = src.host == dst.host && src.repository == dst.repository;
        let same_host = src.host == dst.host;
        let dst_scope = if same_host && !same_repo {
            Scope::mount(&dst.repository, &src.repository)
        } else {
            Scope::push(&dst.repository)
        };
        let src_scope = if same_host {
            dst_scope.clone()
        } else {
            Scope::pull(&src.repository)
        };

        // With the digest known, one HEAD may show there is nothing to do.
        if let (Some(want), Some(_)) = (&src.digest, &dst.tag)
            && self.head_manifest(&dst, &dst_scope).await?.as_deref() == Some(want.as_str())
        {
            return Ok(Retagged {
                digest: want.clone(),
                media_type: String::new(),
                written: false,
            });
        }

        let manifest = self.get_manifest(&src, &src_scope).await?.ok_or_else(|| {
            Failure::new(format!("there is no image `{src}`"))
                .hint("check the source reference: its repository, tag or digest")
        })?;
        if same_repo && src.tag == dst.tag && src.digest.is_none() {
            return Ok(Retagged {
                digest: manifest.digest,
                media_type: manifest.media_type,
                written: false,
            });
        }
        // Across repositories a HEAD saves the blob copy when the destination already
        // has the image. Within one, the PUT of the very same bytes is itself the
        // cheapest check: idempotent, and the digest cannot change (2 requests).
        if src.digest.is_none()
            && !same_repo
            && self.head_manifest(&dst, &dst_scope).await?.as_deref()
                == Some(manifest.digest.as_str())
        {
            return Ok(Retagged {
                digest: manifest.digest,
                media_type: manifest.media_type,
                written: false,
            });
        }
        if !same_repo {
            self.copy_contents(&src, &src_scope, &dst, &dst_scope, &manifest, 0)
                .await
                .with_context(|| format!("copying `{src}` to `{dst}`"))?;
        }
        self.put_manifest(&dst, &dst_scope, &manifest).await?;
        Ok(Retagged {
            digest: manifest.digest,
            media_type: manifest.media_type,
            written: true,
        })
    }

    /// Credentials for `host`: explicit ones, then `config.json`, then for `ghcr.io`
    /// the workflow's `GITHUB_ACTOR` / `GITHUB_TOKEN`.
    pub fn credentials_for(&self, host: &str) -> Option<(String, String)> {
        let o = &self.inner.opts;
        if let Some(p) = o.password.as_ref().filter(|p| !p.is_empty()) {
            let user = o
                .username
                .clone()
                .filter(|u| !u.is_empty())
                .or_else(|| std::env::var("GITHUB_ACTOR").ok())
                .unwrap_or_else(|| "gitops-action".into());
            return Some((user, p.clone()));
        }
        if let Some(c) = self.inner.docker_auths.get(&normalize_host(host)) {
            return Some(c.clone());
        }
        if host == "ghcr.io"
            && let Ok(token) = std::env::var("GITHUB_TOKEN")
            && !token.is_empty()
        {
            crate::action::register_secret(&token);
            let actor = std::env::var("GITHUB_ACTOR").unwrap_or_else(|_| "x-access-token".into());
            return Some((actor, token));
        }
        None
    }

    fn base_url(&self, host: &str) -> String {
        let endpoint = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let insecure = is_loopback(host)
            || self.inner.opts.insecure.iter().any(|i| {
                let i = i.trim().trim_start_matches("http://").trim_end_matches('/');
                i == host || host.rsplit_once(':').is_some_and(|(n, _)| n == i)
            });
        format!("{}://{endpoint}", if insecure { "http" } else { "https" })
    }

    fn manifest_url(&self, r: &Reference, reference: &str) -> String {
        format!(
            "{}/v2/{}/manifests/{reference}",
            self.base_url(&r.host),
            r.repository
        )
    }

    async fn head_manifest(&self, r: &Reference, scope: &Scope) -> Result<Option<String>> {
        let url = self.manifest_url(r, r.reference());
        let resp = self
            .send(&r.host, scope, || {
                self.inner
                    .http
                    .head(&url)
                    .header(header::ACCEPT, ACCEPT)
                    .timeout(Duration::from_secs(60))
            })
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => match header_str(resp.headers(), "docker-content-digest") {
                Some(d) if valid_digest(&d) => Ok(Some(d)),
                // Registries must send it on HEAD; a few proxies drop it.
                _ => Ok(self.get_manifest(r, scope).await?.map(|m| m.digest)),
            },
            _ => Err(self
                .failure(&r.host, resp, format!("looking up `{r}`"))
                .await),
        }
    }

    async fn get_manifest(&self, r: &Reference, scope: &Scope) -> Result<Option<Manifest>> {
        let url = self.manifest_url(r, r.reference());
        let resp = self
            .send(&r.host, scope, || {
                self.inner
                    .http
                    .get(&url)
                    .header(header::ACCEPT, ACCEPT)
                    .timeout(Duration::from_secs(60))
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self.failure(&r.host, resp, format!("reading `{r}`")).await);
        }
        let content_type = header_str(resp.headers(), "content-type");
        let header_digest = header_str(resp.headers(), "docker-content-digest");
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport(&r.host, e, &format!("reading `{r}`")))?;
        let manifest = Manifest::from_bytes(bytes.to_vec(), content_type).ok_or_else(|| {
            Failure::new(format!(
                "registry `{}` answered `{r}` with something that is not an image manifest",
                r.host
            ))
            .hint(DAMAGED_HINT)
        })?;
        let expected = r.digest.as_ref().or(header_digest.as_ref());
        if let Some(want) = expected
            && want.starts_with("sha256:")
            && *want != manifest.digest
        {
            return Err(Failure::new(format!(
                "registry `{}` sent a manifest for `{r}` whose digest is `{}`, not `{want}`",
                r.host, manifest.digest
            ))
            .into());
        }
        Ok(Some(manifest))
    }

    async fn put_manifest(&self, r: &Reference, scope: &Scope, m: &Manifest) -> Result<()> {
        let url = self.manifest_url(r, r.reference());
        let resp = self
            .send(&r.host, scope, || {
                self.inner
                    .http
                    .put(&url)
                    .header(header::CONTENT_TYPE, &m.media_type)
                    .body(m.bytes.clone())
                    .timeout(Duration::from_secs(60))
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self.failure(&r.host, resp, format!("writing `{r}`")).await);
        }
        if let Some(d) = header_str(resp.headers(), "docker-content-digest")
            && d != m.digest
        {
            return Err(Failure::new(format!(
                "registry `{}` stored `{r}` under digest `{d}` instead of `{}`",
                r.host, m.digest
            ))
            .into());
        }
        Ok(())
    }

    /// Everything `m` refers to, made present in `dst`'s repository: blobs, and for
    /// an index its child manifests (pushed before the index that names them).
    fn copy_contents<'a>(
        &'a self,
        src: &'a Reference,
        src_scope: &'a Scope,
        dst: &'a Reference,
        dst_scope: &'a Scope,
        m: &'a Manifest,
        depth: usize,
    ) -> futures_util::future::BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if depth > 2 {
                return Err(Failure::new(format!("`{src}` nests indexes too deeply")).into());
            }
            let image = match &m.parsed {
                OciManifest::ImageIndex(index) => {
                    for child in &index.manifests {
                        let digest = child.digest.as_str();
                        if !valid_digest(digest) {
                            return Err(Failure::new(format!(
                                "`{src}` lists a manifest whose digest `{digest}` is not valid"
                            ))
                            .hint(DAMAGED_HINT)
                            .into());
                        }
                        let dst_child = dst.at_digest(digest);
                        if self.head_manifest(&dst_child, dst_scope).await?.is_some() {
                            continue;
                        }
                        let src_child = src.at_digest(digest);
                        let cm =
                            self.get_manifest(&src_child, src_scope)
                                .await?
                                .ok_or_else(|| {
                                    Failure::new(format!(
                                        "`{src_child}` is listed by `{src}` but missing"
                                    ))
                                })?;
                        self.copy_contents(src, src_scope, dst, dst_scope, &cm, depth + 1)
                            .await?;
                        self.put_manifest(&dst_child, dst_scope, &cm).await?;
                    }
                    return Ok(());
                }
                OciManifest::Image(image) => image,
            };
            let mut blobs: Vec<(String, Option<u64>)> = Vec::new();
            for d in std::iter::once(&image.config).chain(&image.layers) {
                // Foreign layers live elsewhere (their `urls`); registries do not hold them.
                if d.urls.is_some() || d.media_type.contains("foreign") {
                    continue;
                }
                if !valid_digest(&d.digest) {
                    return Err(Failure::new(format!(
                        "`{src}` names a blob whose digest `{}` is not valid",
                        d.digest
                    ))
                    .hint(DAMAGED_HINT)
                    .into());
                }
                if !blobs.iter().any(|(b, _)| *b == d.digest) {
                    blobs.push((d.digest.clone(), u64::try_from(d.size).ok()));
                }
            }
            futures_util::stream::iter(blobs)
                .map(|(digest, size)| async move {
                    self.copy_blob(src, src_scope, dst, dst_scope, &digest, size)
                        .await
                })
                .buffer_unordered(BLOB_CONCURRENCY)
                .try_collect::<Vec<()>>()
                .await?;
            Ok(())
        })
    }

    async fn copy_blob(
        &self,
        src: &Reference,
        src_scope: &Scope,
        dst: &Reference,
        dst_scope: &Scope,
        digest: &str,
        size: Option<u64>,
    ) -> Result<()> {
        let dst_base = self.base_url(&dst.host);
        let uploads = format!("{dst_base}/v2/{}/blobs/uploads/", dst.repository);
        let location = if src.host == dst.host {
            // 201: mounted (or already there). 202: the registry would not mount and
            // opened an upload instead; fill it by copying.
            let url = format!("{uploads}?mount={digest}&from={}", src.repository);
            let resp = self
                .send(&dst.host, dst_scope, || {
                    self.inner
                        .http
                        .post(&url)
                        .header(header::CONTENT_LENGTH, "0")
                        .timeout(Duration::from_secs(60))
                })
                .await?;
            match resp.status() {
                StatusCode::CREATED => return Ok(()),
                StatusCode::ACCEPTED => upload_location(&dst_base, resp.headers(), &dst.host)?,
                _ => {
                    return Err(self
                        .failure(&dst.host, resp, format!("mounting blob `{digest}`"))
                        .await);
                }
            }
        } else {
            let head = format!("{dst_base}/v2/{}/blobs/{digest}", dst.repository);
            let resp = self
                .send(&dst.host, dst_scope, || {
                    self.inner.http.head(&head).timeout(Duration::from_secs(60))
                })
                .await?;
            if resp.status().is_success() {
                return Ok(());
            }
            let resp = self
                .send(&dst.host, dst_scope, || {
                    self.inner
                        .http
                        .post(&uploads)
                        .header(header::CONTENT_LENGTH, "0")
                        .timeout(Duration::from_secs(60))
                })
                .await?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(self
                    .failure(
                        &dst.host,
                        resp,
                        format!("starting the upload of blob `{digest}`"),
                    )
                    .await);
            }
            upload_location(&dst_base, resp.headers(), &dst.host)?
        };

        let get = format!(
            "{}/v2/{}/blobs/{digest}",
            self.base_url(&src.host),
            src.repository
        );
        let resp = self
            .send(&src.host, src_scope, || self.inner.http.get(&get))
            .await?;
        if !resp.status().is_success() {
            return Err(self
                .failure(
                    &src.host,
                    resp,
                    format!("reading blob `{digest}` of `{src}`"),
                )
                .await);
        }
        let length = size.or(resp.content_length());
        let src_host = src.host.clone();
        let body = reqwest::Body::wrap_stream(resp.bytes_stream());
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        // A streamed body cannot be replayed, so this PUT is sent once, with the
        // token the upload was opened with.
        let mut req = self
            .inner
            .http
            .put(&put)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(body);
        if let Some(n) = length {
            req = req.header(header::CONTENT_LENGTH, n);
        }
        req = self.authorize(req, &dst.host, dst_scope);
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let resp = req.send().await.map_err(|e| {
            let host = if e.is_body() { &src_host } else { &dst.host };
            transport(host, e, &format!("copying blob `{digest}`"))
        })?;
        if resp.status() != StatusCode::CREATED {
            return Err(self
                .failure(&dst.host, resp, format!("writing blob `{digest}`"))
                .await);
        }
        Ok(())
    }

    fn authorize(
        &self,
        req: reqwest::RequestBuilder,
        host: &str,
        scope: &Scope,
    ) -> reqwest::RequestBuilder {
        let challenge = lock(&self.inner.challenges).get(host).cloned();
        match challenge {
            Some(Challenge::Bearer { .. }) => {
                let tokens = lock(&self.inner.tokens);
                let token = scope
                    .covering_keys()
                    .into_iter()
                    .find_map(|k| tokens.get(&(host.to_string(), k)));
                match token {
                    Some(t) => req.bearer_auth(t),
                    None => req,
                }
            }
            Some(Challenge::Basic) => match self.credentials_for(host) {
                Some((u, p)) => req.basic_auth(u, Some(p)),
                None => req,
            },
            None => req,
        }
    }

    /// Send with the credentials the host asked for, answering one 401 challenge and
    /// retrying 429, 5xx and transport errors with backoff (bounded).
    async fn send<F>(&self, host: &str, scope: &Scope, build: F) -> Result<reqwest::Response>
    where
        F: Fn() -> reqwest::RequestBuilder,
    {
        let mut attempt = 0;
        let mut answered_challenge = false;
        loop {
            attempt += 1;
            let req = self.authorize(build(), host, scope);
            self.inner.requests.fetch_add(1, Ordering::Relaxed);
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    if attempt < ATTEMPTS && (e.is_timeout() || e.is_connect()) && !e.is_builder() {
                        tokio::time::sleep(self.backoff(attempt, None)).await;
                        continue;
                    }
                    return Err(transport(host, e, "").into());
                }
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !answered_challenge {
                answered_challenge = true;
                if self.answer_challenge(host, scope, resp.headers()).await? {
                    attempt -= 1;
                    continue;
                }
                return Ok(resp);
            }
            if (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error())
                && attempt < ATTEMPTS
            {
                let after = header_str(resp.headers(), "retry-after")
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                tokio::time::sleep(self.backoff(attempt, after)).await;
                continue;
            }
            return Ok(resp);
        }
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self.inner.backoff * 2u32.pow(attempt.saturating_sub(1).min(6));
        let jitter = Duration::from_millis(rand::random::<u64>() % 100);
        // Honour the registry's Retry-After, within reason for a CI step.
        retry_after
            .map(|d| d.min(Duration::from_secs(30)))
            .unwrap_or(exp + jitter)
    }

    /// Learn how `host` wants us to authenticate; true when a retry may now succeed.
    async fn answer_challenge(
        &self,
        host: &str,
        scope: &Scope,
        headers: &HeaderMap,
    ) -> Result<bool> {
        let Some(challenge) = headers
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(parse_challenge)
        else {
            return Ok(false);
        };
        lock(&self.inner.challenges).insert(host.to_string(), challenge.clone());
        match challenge {
            Challenge::Basic => Ok(self.credentials_for(host).is_some()),
            Challenge::Bearer { realm, service } => {
                let token = self
                    .fetch_token(host, &realm, service.as_deref(), scope)
                    .await?;
                lock(&self.inner.tokens).insert((host.to_string(), scope.key()), token);
                Ok(true)
            }
        }
    }

    async fn fetch_token(
        &self,
        host: &str,
        realm: &str,
        service: Option<&str>,
        scope: &Scope,
    ) -> Result<String> {
        let mut query: Vec<(&str, &str)> = scope.0.iter().map(|s| ("scope", s.as_str())).collect();
        if let Some(s) = service {
            query.push(("service", s));
        }
        let creds = self.credentials_for(host);
        if let Some((u, _)) = &creds {
            query.push(("account", u.as_str()));
        }
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            let mut req = self
                .inner
                .http
                .get(realm)
                .query(&query)
                .timeout(Duration::from_secs(30));
            if let Some((u, p)) = &creds {
                req = req.basic_auth(u, Some(p));
            }
            self.inner.requests.fetch_add(1, Ordering::Relaxed);
            let resp = req
                .send()
                .await
                .map_err(|e| transport(host, e, "getting a registry token"))?;
            let s = resp.status();
            if (s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error()) && attempt < ATTEMPTS {
                tokio::time::sleep(self.backoff(attempt, None)).await;
                continue;
            }
            break resp;
        };
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let who = match &creds {
                Some((u, _)) => format!("as `{u}`"),
                None => "anonymously".to_string(),
            };
            return Err(Failure::new(format!(
                "registry `{host}` refused a token {who} for `{}` ({})",
                scope.key(),
                status.as_u16()
            ))
            .hint(PERMISSION_HINT)
            .into());
        }
        if !status.is_success() {
            return Err(self
                .failure(host, resp, "getting a registry token".to_string())
                .await);
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| transport(host, e, "getting a registry token"))?;
        // The body holds the token: never quote it in an error.
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
            Failure::new(format!(
                "the token service of registry `{host}` answered with something that is not a token"
            ))
        })?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Failure::new(format!(
                    "the token service of registry `{host}` answered without a token"
                ))
            })?;
        crate::action::register_secret(&token);
        Ok(token)
    }

    /// A failed response as an error: the registry's own code and message, as sent.
    async fn failure(&self, host: &str, resp: reqwest::Response, what: String) -> anyhow::Error {
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        let detail = registry_errors(&body);
        let mut msg = format!(
            "{what} failed: registry `{host}` answered {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_string();
        if !detail.is_empty() {
            msg.push_str(": ");
            msg.push_str(&detail);
        }
        let mut f = Failure::new(msg);
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            f = f.hint(PERMISSION_HINT);
        }
        f.into()
    }
}

/// The error for a commit with no image; the hint names the input that builds one.
pub fn no_build_error(image: &str, sha: &str) -> Failure {
    Failure::new(format!(
        "no image for commit `{sha}`: `{image}:sha-{sha}` does not exist"
    ))
    .hint("build it first, or set `build: auto` (build when missing) or `build: always`")
}

#[derive(Debug, Clone)]
struct Manifest {
    /// As the registry sent it: written back unchanged, so the digest stays.
    bytes: Vec<u8>,
    /// What to send as `Content-Type` when writing it.
    media_type: String,
    digest: String,
    /// The same bytes read into oci-client's models, for the children and blobs.
    parsed: OciManifest,
}

impl Manifest {
    /// `None` unless `bytes` is an image manifest or index (OCI or Docker v2).
    fn from_bytes(bytes: Vec<u8>, content_type: Option<String>) -> Option<Manifest> {
        let parsed: OciManifest = serde_json::from_slice(&bytes).ok()?;
        let declared = match &parsed {
            OciManifest::Image(m) => m.media_type.as_deref(),
            OciManifest::ImageIndex(i) => i.media_type.as_deref(),
        };
        let from_header = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .filter(|c| MANIFEST_TYPES.contains(&c.as_str()));
        let media_type = match (from_header, declared, &parsed) {
            (Some(h), _, _) => h,
            (None, Some(d), _) => d.to_string(),
            // OCI allows leaving `mediaType` out; the shape tells which it is. (Not
            // `OciManifest::content_type`, which takes an unlabelled index for Docker's.)
            (None, None, OciManifest::ImageIndex(_)) => OCI_INDEX.to_string(),
            (None, None, OciManifest::Image(_)) => OCI_MANIFEST.to_string(),
        };
        let digest = sha256_digest(&bytes);
        Some(Manifest {
            bytes,
            media_type,
            digest,
            parsed,
        })
    }
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    let h = Sha256::digest(bytes);
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in h {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::to_string)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn upload_location(base: &str, h: &HeaderMap, host: &str) -> Result<String> {
    let loc = header_str(h, "location").ok_or_else(|| {
        Failure::new(format!(
            "registry `{host}` opened an upload without a `Location`"
        ))
    })?;
    Ok(
        if loc.starts_with("http://") || loc.starts_with("https://") {
            loc
        } else {
            format!(
                "{base}{}",
                if loc.starts_with('/') {
                    loc
                } else {
                    format!("/{loc}")
                }
            )
        },
    )
}

/// `Bearer realm="…",service="…"` or `Basic realm="…"`.
fn parse_challenge(h: &str) -> Option<Challenge> {
    let (scheme, params) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        match key.as_str() {
            "realm" => realm = Some(value.to_string()),
            "service" => service = Some(value.to_string()),
            _ => {}
        }
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer {
        realm: realm?,
        service,
    })
}

/// `CODE: message` for each entry of a distribution error envelope.
fn registry_errors(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(env) => env
            .errors
            .iter()
            .map(|e| match (&e.code, &e.message) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.clone(),
                (None, Some(m)) => m.clone(),
                (None, None) => String::new(),
            })
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => String::new(),
    }
}

/// A transport error as a failure: the causes, without the URL.
fn transport(host: &str, e: reqwest::Error, what: &str) -> Failure {
    let mut causes = Vec::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = src {
        let text = s.to_string();
        if !causes.iter().any(|c: &String| c.contains(&text)) {
            causes.push(text);
        }
        src = s.source();
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "connection broke mid-transfer"
    } else {
        "request failed"
    };
    let mut msg = if what.is_empty() {
        format!("registry `{host}`: {kind}")
    } else {
        format!("{what}: registry `{host}`: {kind}")
    };
    if !causes.is_empty() {
        msg.push_str(": ");
        msg.push_str(&causes.join(": "));
    }
    Failure::new(msg).hint("check the registry host and that it is up; loopback registries use plain HTTP, others need `insecure-registries` for it")
}

fn normalize_host(key: &str) -> String {
    let k = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let k = k.split('/').next().unwrap_or(k);
    match k {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

/// `auths` of a Docker `config.json`: host → (user, password). Unreadable files
/// count as empty: a stray config must not break a run that does not need it.
fn read_docker_config(path: Option<PathBuf>) -> HashMap<String, (String, String)> {
    let path = path.or_else(|| {
        std::env::var_os("DOCKER_CONFIG")
            .map(|d| PathBuf::from(d).join("config.json"))
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
            })
    });
    let Some(text) = path.and_then(|p| std::fs::read(p).ok()) else {
        return HashMap::new();
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return HashMap::new();
    };
    let mut out = HashMap::new();
    if let Some(auths) = json.get("auths").and_then(|a| a.as_object()) {
        for (host, entry) in auths {
            let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) else {
                continue;
            };
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(auth.trim()) else {
                continue;
            };
            let Ok(decoded) = String::from_utf8(decoded) else {
                continue;
            };
            if let Some((u, p)) = decoded.split_once(':') {
                out.insert(normalize_host(host), (u.to_string(), p.to_string()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = Reference::parse("ghcr.io/acme/hello:sha-0123").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("ghcr.io", "acme/hello", Some("sha-0123"))
        );
        let r = Reference::parse("127.0.0.1:5000/a/b@sha256:".to_string().as_str());
        assert!(r.is_err());
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("localhost:5000/a/b:t@{d}")).unwrap();
        assert_eq!(r.host, "localhost:5000");
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.reference(), d);
        let r = Reference::parse("nginx").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repository.as_str()),
            ("docker.io", "library/nginx")
        );
        let r = Reference::parse("[::1]:5000/x:y").unwrap();
        assert_eq!(r.host, "[::1]:5000");
        assert_eq!(r.to_string(), "[::1]:5000/x:y");
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in [
            "",
            "ghcr.io/Acme/hello",
            "ghcr.io/acme/hello:",
            "ghcr.io/acme/hello:-x",
            "ghcr.io/acme//hello",
            "ghcr.io/acme/hello@sha256:abc",
            "ghcr.io/acme/he llo",
            "ghcr.io:port/x",
            "ghcr.io/acme/hello-",
            "ghcr.io/",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "a/b__c/d-e.f:1",
            "ghcr.io/a/b---c:_x",
            "host-1.example:443/a",
        ] {
            assert!(Reference::parse(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn loopback_is_plain_http() {
        let r = Registry::new(RegistryOptions {
            insecure: vec!["registry.internal:5000".into(), "plain.example".into()],
            ..Default::default()
        });
        assert_eq!(r.base_url("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(r.base_url("localhost:1"), "http://localhost:1");
        assert_eq!(r.base_url("[::1]:5000"), "http://[::1]:5000");
        assert_eq!(r.base_url("ghcr.io"), "https://ghcr.io");
        assert_eq!(r.base_url("docker.io"), "https://registry-1.docker.io");
        assert_eq!(
            r.base_url("registry.internal:5000"),
            "http://registry.internal:5000"
        );
        assert_eq!(
            r.base_url("plain.example:8080"),
            "http://plain.example:8080"
        );
        assert_eq!(r.base_url("127.example.com"), "https://127.example.com");
    }

    #[test]
    fn parses_challenges() {
        match parse_challenge(
            r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull""#,
        ) {
            Some(Challenge::Bearer { realm, service }) => {
                assert_eq!(realm, "https://ghcr.io/token");
                assert_eq!(service.as_deref(), Some("ghcr.io"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        ));
        assert!(parse_challenge("Negotiate").is_none());
        assert!(parse_challenge("Bearer service=x").is_none());
    }

    #[test]
    fn error_envelope_is_shown_as_sent() {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(registry_errors(body), "MANIFEST_UNKNOWN: manifest unknown");
        assert_eq!(registry_errors(b"<html>"), "");
    }

    #[test]
    fn docker_config_auths() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("bot:p4ss:word");
        std::fs::write(
            &p,
            format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},"reg.example:5000":{{"auth":"{auth}"}}}}}}"#),
        )
        .unwrap();
        let r = Registry::new(RegistryOptions {
            docker_config: Some(p),
            ..Default::default()
        });
        let want = Some(("bot".to_string(), "p4ss:word".to_string()));
        assert_eq!(r.credentials_for("docker.io"), want);
        assert_eq!(r.credentials_for("reg.example:5000"), want);
        assert_eq!(r.credentials_for("other.example"), None);
        assert!(!format!("{r:?}").contains("p4ss"));
    }

    #[test]
    fn backoff_honours_retry_after_within_bounds() {
        let r = Registry::new(RegistryOptions::default());
        assert_eq!(
            r.backoff(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            r.backoff(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
        let b = r.backoff(3, None);
        assert!(
            b >= Duration::from_millis(1000) && b < Duration::from_millis(1100),
            "{b:?}"
        );
    }

    #[test]
    fn accept_lists_every_manifest_type() {
        assert_eq!(ACCEPT, MANIFEST_TYPES.join(", "));
    }

    #[test]
    fn manifests_are_recognised_by_type_or_shape() {
        let m =
            Manifest::from_bytes(br#"{"schemaVersion":2,"manifests":[]}"#.to_vec(), None).unwrap();
        assert_eq!(m.media_type, OCI_INDEX);
        let image = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
        let m = Manifest::from_bytes(
            image.to_vec(),
            Some(format!("{DOCKER_MANIFEST}; charset=utf-8")),
        )
        .unwrap();
        assert_eq!(m.media_type, DOCKER_MANIFEST);
        assert!(matches!(m.parsed, OciManifest::Image(_)));
        let m = Manifest::from_bytes(image.to_vec(), None).unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
        // A config without its digest and size is not a manifest we can copy.
        assert!(
            Manifest::from_bytes(
                br#"{"schemaVersion":2,"config":{},"layers":[]}"#.to_vec(),
                Some(DOCKER_MANIFEST.into())
            )
            .is_none()
        );
        assert!(Manifest::from_bytes(b"garbage".to_vec(), None).is_none());
        assert!(Manifest::from_bytes(br#"{"a":1}"#.to_vec(), Some(OCI_MANIFEST.into())).is_none());
    }
}
