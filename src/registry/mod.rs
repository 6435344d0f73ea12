//! Container registries (OCI distribution API): find the build of a commit, retag it
//! without rebuilding, copy it across repositories with its blobs cross-mounted.
//!
//! The HTTP is written here on reqwest rather than through `oci-client`, for three
//! reasons found in its 0.18 source: its `auth()` pings `/v2/` before every token
//! exchange (one request more per scope, so a same-repository retag cannot stay at
//! the 3 requests without auth / 5 with a token this module promises, 2 / 4 when
//! the destination already has the digest); its token
//! scope names one repository only, so a registry with token auth refuses the
//! cross-repository mount (which needs `pull` on the source in the same token); and
//! it would keep a second token cache and retry policy beside ours. What remains is
//! small: manifests by raw bytes, blob mount, streamed blob copy. The manifest and
//! index models and the media types do come from `oci-client` (its `manifest` module):
//! a manifest is parsed into them to find its children and blobs, and the bytes that
//! were read are the bytes written back, so the digest never changes.
//!
//! Where to look: the reference grammar in `reference`, credentials and token
//! exchange in `auth`, manifests in `manifest`, retag and blob copy in `transfer`.

mod auth;
mod labels;
mod manifest;
mod reference;
mod transfer;

pub use reference::Reference;

use crate::error::{Failure, UserError};
use crate::grammar::is_digest;
use anyhow::Result;
use auth::{Challenge, Scope, read_docker_config};
use manifest::Manifest;
use reference::is_loopback;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to do about 401/403: the two settings that cause nearly all of them on GHCR.
pub const PERMISSION_HINT: &str = "the workflow needs `permissions: packages: write`, and the package must grant \
     this repository access (package settings → Manage Actions access); outside Actions, \
     check `registry-username` and `registry-password`";

pub(crate) const ATTEMPTS: u32 = 4;

/// How to reach and log in to registries; one per run.
#[derive(Clone, Default)]
pub struct RegistryOptions {
    pub username: Option<String>,
    pub password: Option<String>,
    /// Hosts (`host` or `host:port`) spoken to over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
    /// `config.json` with `auths`; default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
    /// The `token` input: ghcr.io's default credential. A Docker action gets no
    /// `GITHUB_TOKEN` variable (actions/runner src/Runner.Worker/GitHubContext.cs
    /// `_contextEnvAllowlist` has no `token`), only `INPUT_TOKEN` from the input's
    /// `${{ github.token }}` default.
    pub github_token: Option<String>,
    /// The registry `username`/`password` are for (`host` or `host:port`): the one
    /// written to (the service's image, `retag`'s target). They are offered to no
    /// other host: a cross-registry copy reads its source with that
    /// host's own credentials (`config.json`, GHCR's token) or anonymously.
    pub credential_host: Option<String>,
    /// Another host that is GitHub's Container registry for this run
    /// (`GITOPS_GHCR_HOST`): it alone gets ghcr.io's default credentials too.
    pub ghcr_host: Option<String>,
}

impl fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryOptions")
            .field("username", &self.username)
            .field("password", &crate::secrets::hidden(&self.password))
            .field("insecure", &self.insecure)
            .field("docker_config", &self.docker_config)
            .field("github_token", &crate::secrets::hidden(&self.github_token))
            .field("credential_host", &self.credential_host)
            .field("ghcr_host", &self.ghcr_host)
            .finish()
    }
}

/// A registry session for one run: credentials, cached tokens, a request counter.
/// Cheap to clone; clones share the caches and the counter.
#[derive(Clone)]
pub struct Registry {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) opts: RegistryOptions,
    pub(crate) docker_auths: HashMap<String, (String, String)>,
    /// How each host asked us to authenticate (learnt from its first 401).
    pub(crate) challenges: Mutex<HashMap<String, Challenge>>,
    /// Bearer tokens by host and scope, for the run.
    pub(crate) tokens: Mutex<HashMap<(String, String), String>>,
    pub(crate) requests: AtomicUsize,
    pub(crate) backoff: Duration,
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

impl Registry {
    pub fn new(opts: RegistryOptions) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("gitops-action/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        for secret in opts.password.iter() {
            crate::output::register_secret(secret);
        }
        let docker_auths = read_docker_config(opts.docker_config.clone());
        for (_, p) in docker_auths.values() {
            crate::output::register_secret(p);
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

    /// The build of a commit, read whole (one GET of `sha-<sha>`), so that giving
    /// it another tag is one PUT of the same bytes ([`Registry::tag_build`]).
    pub async fn fetch_commit_build(&self, image: &str, sha: &str) -> Result<Option<Build>> {
        if sha.len() != 40 || !sha.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(UserError::new(format!(
                "`{sha}` is not a full commit SHA (40 hex digits)"
            ))
            .into());
        }
        let r = Reference::with_tag(image, &format!("sha-{}", sha.to_ascii_lowercase()))?;
        Ok(self
            .get_manifest(&r, &Scope::pull(&r.repository))
            .await?
            .map(|manifest| Build {
                digest: manifest.digest.clone(),
                manifest,
            }))
    }

    /// Put `build` under `image:tag` (its own repository): one PUT of the bytes
    /// read, so the digest is the build's.
    pub async fn tag_build(&self, image: &str, tag: &str, build: &Build) -> Result<()> {
        let r = Reference::with_tag(image, tag)?;
        self.put_manifest(&r, &Scope::push(&r.repository), &build.manifest)
            .await
    }

    /// Before writing to repositories (a release's image, a train's members): one
    /// token that covers `pull,push` on all of them, per host, in one exchange (the token
    /// endpoint takes `scope` more than once: distribution's "Token Authentication
    /// Specification", and Docker sends two for a cross-repository mount), after one
    /// `GET /v2/` to learn how the host authenticates when no earlier answer said.
    /// Without this each repository costs a 401 and an exchange of its own.
    pub async fn authorize_push(&self, images: &[&str]) -> Result<()> {
        let mut by_host: Vec<(String, Vec<String>)> = Vec::new();
        for i in images {
            let r = Reference::parse(i)?;
            match by_host.iter_mut().find(|(h, _)| *h == r.host) {
                Some((_, repos)) if !repos.contains(&r.repository) => repos.push(r.repository),
                Some(_) => {}
                None => by_host.push((r.host.clone(), vec![r.repository])),
            }
        }
        for (host, repos) in by_host {
            let scope = Scope(
                repos
                    .iter()
                    .map(|r| format!("repository:{r}:pull,push"))
                    .collect(),
            );
            let held = lock(&self.inner.tokens)
                .keys()
                .any(|(h, key)| *h == host && scope.covered_by(key));
            if held {
                continue;
            }
            if lock(&self.inner.challenges).get(&host).is_none() {
                let url = format!("{}/v2/", self.base_url(&host));
                self.inner.requests.fetch_add(1, Ordering::Relaxed);
                let resp = self
                    .inner
                    .http
                    .get(&url)
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
                    .map_err(|e| transport(&host, e, "GET /v2/"))?;
                if resp.status() != StatusCode::UNAUTHORIZED {
                    continue;
                }
                let headers = resp.headers().clone();
                self.answer_challenge(&host, &scope, &headers).await?;
                continue;
            }
            let challenge = lock(&self.inner.challenges).get(&host).cloned();
            if let Some(Challenge::Bearer { realm, service }) = challenge {
                let token = self
                    .fetch_token(&host, &realm, service.as_deref(), &scope)
                    .await?;
                lock(&self.inner.tokens).insert((host.clone(), scope.key()), token);
            }
        }
        Ok(())
    }

    /// Does `image@digest` exist?
    pub async fn exists(&self, image: &str, digest: &str) -> Result<bool> {
        if !is_digest(digest) {
            return Err(UserError::new(format!("`{digest}` is not a digest")).into());
        }
        let r = Reference::parse(image)?.at_digest(digest);
        Ok(self
            .head_manifest(&r, &Scope::pull(&r.repository))
            .await?
            .is_some())
    }

    pub(crate) fn base_url(&self, host: &str) -> String {
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

    pub(crate) fn manifest_url(&self, r: &Reference, reference: &str) -> String {
        format!(
            "{}/v2/{}/manifests/{reference}",
            self.base_url(&r.host),
            r.repository
        )
    }

    /// Send with the credentials the host asked for, answering one 401 challenge and
    /// retrying 429, 5xx and transport errors (refused, reset, timed out) with
    /// backoff (bounded).
    pub(crate) async fn send<F>(
        &self,
        host: &str,
        scope: &Scope,
        build: F,
    ) -> Result<reqwest::Response>
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
                    // Every registry request is safe to resend: reads, PUTs of a
                    // manifest or a blob named by its digest, and POSTs that mount a
                    // blob or open an upload session (a spare session expires unused).
                    // So a reset, like a refused connect or a timeout, is retried.
                    if attempt < ATTEMPTS && !e.is_builder() {
                        tokio::time::sleep(self.backoff(attempt, None)).await;
                        continue;
                    }
                    // Name the operation: `PUT /v2/<name>/manifests/<tag>`.
                    let what = build()
                        .build()
                        .map(|r| format!("{} {}", r.method(), r.url().path()))
                        .unwrap_or_default();
                    return Err(transport(host, e, &what).into());
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

    pub(crate) fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        // Honour the registry's Retry-After, within reason for a CI step.
        crate::retry::Backoff {
            base: self.inner.backoff,
            ..crate::retry::Backoff::REGISTRY
        }
        .wait(attempt, retry_after)
    }

    /// A failed response as an error: the registry's own code and message, as sent.
    pub(crate) async fn failure(
        &self,
        host: &str,
        resp: reqwest::Response,
        what: String,
    ) -> anyhow::Error {
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

/// A commit's build as read from the registry (see [`Registry::fetch_commit_build`]).
pub struct Build {
    pub digest: String,
    manifest: Manifest,
}

impl fmt::Debug for Build {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Build")
            .field("digest", &self.digest)
            .finish()
    }
}

/// The error for a commit with no image; the hint names the input that builds one.
pub fn no_build_error(image: &str, sha: &str) -> Failure {
    Failure::new(format!(
        "no image for commit `{sha}`: `{image}:sha-{sha}` does not exist"
    ))
    .hint("build it first, or set `build: auto` (build when missing) or `build: always`")
}

pub(crate) fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::to_string)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `CODE: message` for each entry of a distribution error envelope.
pub(crate) fn registry_errors(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    pub(crate) struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    pub(crate) struct Entry {
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
pub(crate) fn transport(host: &str, e: reqwest::Error, what: &str) -> Failure {
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

#[cfg(test)]
mod tests {
    use super::auth::*;
    use super::manifest::*;
    use super::reference::*;
    use super::*;
    use base64::Engine;
    use oci_client::manifest::{
        IMAGE_MANIFEST_MEDIA_TYPE as DOCKER_MANIFEST, OCI_IMAGE_INDEX_MEDIA_TYPE as OCI_INDEX,
        OCI_IMAGE_MEDIA_TYPE as OCI_MANIFEST, OciManifest,
    };

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

    /// Explicit credentials go to their own registry only.
    #[test]
    fn explicit_credentials_are_tied_to_their_host() {
        let r = Registry::new(RegistryOptions {
            username: Some("bot".into()),
            password: Some("s3cret-registry-pass".into()),
            credential_host: Some("reg.example:5000".into()),
            ..Default::default()
        });
        let want = Some(("bot".to_string(), "s3cret-registry-pass".to_string()));
        assert_eq!(r.credentials_for("reg.example:5000"), want);
        assert_eq!(r.credentials_for("other.example"), None);
        assert_eq!(r.credentials_for("reg.example:5001"), None);
        let unbound = Registry::new(RegistryOptions {
            password: Some("s3cret-registry-pass".into()),
            ..Default::default()
        });
        assert_eq!(unbound.credentials_for("reg.example:5000"), None);
    }

    /// A token realm gets credentials only over HTTPS on the
    /// registry's own site; plain HTTP only for loopback and `insecure-registries`.
    #[test]
    fn token_realms_must_be_https_on_the_registrys_site() {
        let r = Registry::new(RegistryOptions {
            insecure: vec!["plain.example:5000".into()],
            ..Default::default()
        });
        let ok = |host: &str, realm: &str| r.check_realm(host, realm).is_ok();
        assert!(ok("ghcr.io", "https://ghcr.io/token"));
        assert!(ok("docker.io", "https://auth.docker.io/token"));
        assert!(ok("registry.gitlab.com", "https://gitlab.com/jwt/auth"));
        assert!(ok("127.0.0.1:5000", "http://127.0.0.1:5001/token"));
        assert!(ok("localhost:5000", "http://127.0.0.1:5001/token"));
        assert!(ok("plain.example:5000", "http://plain.example:5000/token"));
        assert!(!ok("ghcr.io", "http://ghcr.io/token"), "plain HTTP");
        assert!(!ok("ghcr.io", "https://evil.example/token"), "other site");
        assert!(!ok("ghcr.io", "https://ghcr.io.evil.example/token"));
        assert!(!ok("ghcr.io", "https://io/token"), "a TLD is no site");
        assert!(!ok("127.0.0.1:5000", "http://evil.example/token"));
        assert!(!ok("127.0.0.1:5000", "https://evil.example/token"));
        assert!(!ok("plain.example:5000", "http://other.example/token"));
        assert!(!ok("ghcr.io", "https://u:p@ghcr.io/token"));
        assert!(!ok("ghcr.io", "not a url"));
        let e = r
            .check_realm("ghcr.io", "http://evil.example/t\n::warning::x")
            .unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 1);
        assert!(e.to_string().contains("nothing was sent there"), "{e}");
    }

    #[test]
    fn upload_locations_on_another_origin_get_no_auth() {
        use transfer::same_origin;
        assert!(same_origin(
            "https://ghcr.io/v2/a/blobs/uploads/1?x=1",
            "https://ghcr.io"
        ));
        assert!(!same_origin(
            "https://s3.example/bucket?sig=1",
            "https://ghcr.io"
        ));
        assert!(!same_origin("http://ghcr.io/v2/x", "https://ghcr.io"));
        assert!(!same_origin("https://ghcr.io:8443/v2/x", "https://ghcr.io"));
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

    /// A Docker action's container has no `GITHUB_TOKEN`
    /// variable (actions/runner src/Runner.Worker/GitHubContext.cs
    /// `_contextEnvAllowlist`; docs "Automatic token authentication": actions reach
    /// the token through `github.token`), so ghcr.io's default is the `token` input,
    /// as action.yml says. Before the fix only the variable was read: anonymous.
    #[test]
    fn ghcr_defaults_to_the_token_input_without_a_github_token_variable() {
        if std::env::var_os("GITHUB_TOKEN").is_some() {
            return; // a runner's own variable would hide what is under test
        }
        let r = Registry::new(RegistryOptions {
            github_token: Some("ghs_inputToken0123".into()),
            ..Default::default()
        });
        let (user, password) = r.credentials_for("ghcr.io").expect("ghcr.io credentials");
        assert_eq!(password, "ghs_inputToken0123");
        assert!(!user.is_empty());
        assert_eq!(r.credentials_for("registry.example"), None);
        assert_eq!(
            Registry::new(RegistryOptions::default()).credentials_for("ghcr.io"),
            None
        );
    }

    /// `GITOPS_GHCR_HOST` gives ghcr.io's default credentials to exactly the host it
    /// names, port included, and to no other: not another port, not a host that only
    /// starts or ends like it.
    #[test]
    fn the_ghcr_host_variable_names_one_host_and_only_that_one() {
        if std::env::var_os("GITHUB_TOKEN").is_some() {
            return;
        }
        let r = Registry::new(RegistryOptions {
            github_token: Some("ghs_inputToken0123".into()),
            ghcr_host: Some("containers.ghes.example:8443".into()),
            ..Default::default()
        });
        for host in [
            "ghcr.io",
            "containers.ghes.example:8443",
            "Containers.GHES.example:8443",
        ] {
            let (_, password) = r.credentials_for(host).unwrap_or_else(|| panic!("{host}"));
            assert_eq!(password, "ghs_inputToken0123");
        }
        for host in [
            "containers.ghes.example",
            "containers.ghes.example:443",
            "ghes.example:8443",
            "containers.ghes.example:84430",
            "evil.containers.ghes.example:8443",
        ] {
            assert_eq!(r.credentials_for(host), None, "{host}");
        }
        let plain = Registry::new(RegistryOptions {
            github_token: Some("ghs_inputToken0123".into()),
            ..Default::default()
        });
        assert_eq!(plain.credentials_for("containers.ghes.example:8443"), None);
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
            b >= Duration::from_millis(500) && b <= Duration::from_millis(1000),
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
