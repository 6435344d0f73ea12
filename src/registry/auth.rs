//! Credentials per host, the `WWW-Authenticate` challenge and the token exchange.

use super::*;
use crate::error::Failure;
use anyhow::Result;
use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// What a request needs: which repositories and actions its token must cover.
#[derive(Debug, Clone)]
pub(crate) struct Scope(pub(crate) Vec<String>);

impl Scope {
    pub(crate) fn push(repo: &str) -> Scope {
        Scope(vec![format!("repository:{repo}:pull,push")])
    }
    pub(crate) fn pull(repo: &str) -> Scope {
        Scope(vec![format!("repository:{repo}:pull")])
    }
    /// Push to one repository and mount from another: one token must cover both.
    pub(crate) fn mount(dst: &str, src: &str) -> Scope {
        Scope(vec![
            format!("repository:{dst}:pull,push"),
            format!("repository:{src}:pull"),
        ])
    }
    pub(crate) fn key(&self) -> String {
        self.0.join(" ")
    }
    /// Whether a token granted for `key` (scopes joined by spaces) covers every
    /// entry of this scope: the same entry, or `pull,push` for a `pull`.
    pub(crate) fn covered_by(&self, key: &str) -> bool {
        let granted: Vec<&str> = key.split(' ').collect();
        self.0.iter().all(|want| {
            granted.contains(&want.as_str())
                || want
                    .strip_suffix(":pull")
                    .is_some_and(|repo| granted.contains(&format!("{repo}:pull,push").as_str()))
        })
    }

    /// Cache keys whose tokens also cover this scope: a `pull,push` token serves a
    /// later `pull` on the same repository without another exchange.
    pub(crate) fn covering_keys(&self) -> Vec<String> {
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
    /// Credentials for `host`: explicit ones (only for the host they are for), then
    /// `config.json`, then for `ghcr.io` (and the one host `GITOPS_GHCR_HOST` names)
    /// `GITHUB_ACTOR` with the `token` input (else a `GITHUB_TOKEN` variable).
    pub fn credentials_for(&self, host: &str) -> Option<(String, String)> {
        let o = &self.inner.opts;
        let theirs = o
            .credential_host
            .as_deref()
            .is_some_and(|h| normalize_host(h) == normalize_host(host));
        if let Some(p) = o.password.as_ref().filter(|p| !p.is_empty() && theirs) {
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
        if self.is_github_registry(host)
            && let Some(token) = o
                .github_token
                .clone()
                .or_else(|| std::env::var("GITHUB_TOKEN").ok())
                .filter(|t| !t.is_empty())
        {
            crate::output::register_secret(&token);
            let actor = std::env::var("GITHUB_ACTOR")
                .ok()
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| "x-access-token".into());
            return Some((actor, token));
        }
        None
    }

    /// `ghcr.io`, or exactly the host `GITOPS_GHCR_HOST` named (port included).
    pub(crate) fn is_github_registry(&self, host: &str) -> bool {
        let host = normalize_host(host).to_ascii_lowercase();
        host == "ghcr.io"
            || self
                .inner
                .opts
                .ghcr_host
                .as_deref()
                .is_some_and(|h| normalize_host(h).to_ascii_lowercase() == host)
    }

    pub(crate) fn authorize(
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
                    .find_map(|k| tokens.get(&(host.to_string(), k)))
                    .or_else(|| {
                        // A token for several repositories at once (a train's).
                        tokens
                            .iter()
                            .find(|((h, key), _)| h == host && scope.covered_by(key))
                            .map(|(_, t)| t)
                    });
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

    /// Learn how `host` wants us to authenticate; true when a retry may now succeed.
    pub(crate) async fn answer_challenge(
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

    pub(crate) async fn fetch_token(
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
        self.check_realm(host, realm)?;
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
        crate::output::register_secret(&token);
        Ok(token)
    }
}

impl Registry {
    /// A registry names the token service its credentials go to (the
    /// `realm` of its `WWW-Authenticate` challenge, distribution's "Token
    /// Authentication Specification"). Only one over HTTPS on the registry's own
    /// site gets them: the same host, or a host under the registry's parent domain
    /// (`registry-1.docker.io` → `auth.docker.io`, `registry.gitlab.com` →
    /// `gitlab.com`). Plain HTTP only to loopback or an `insecure-registries` host.
    pub(crate) fn check_realm(&self, host: &str, realm: &str) -> Result<()> {
        let refuse = |why: &str| -> anyhow::Error {
            Failure::new(format!(
                "registry `{host}` asks for credentials at `{}`, {why}; nothing was sent there",
                crate::output::defuse(realm).trim_end()
            ))
            .hint("a registry's token service must be on its own site over HTTPS; for a registry you run yourself over plain HTTP, list it in `insecure-registries`")
            .into()
        };
        let Ok(url) = reqwest::Url::parse(realm) else {
            return Err(refuse("which is not a URL"));
        };
        let Some(realm_host) = url
            .host_str()
            .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
        else {
            return Err(refuse("which names no host"));
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("which carries credentials of its own"));
        }
        let name = |h: &str| -> String {
            let h = normalize_host(h);
            let h = if h.starts_with('[') {
                h.split(']')
                    .next()
                    .unwrap_or("")
                    .trim_start_matches('[')
                    .to_string()
            } else {
                h.rsplit_once(':').map_or(h.clone(), |(n, _)| n.to_string())
            };
            match h.as_str() {
                "docker.io" => "registry-1.docker.io".to_string(),
                _ => h.to_ascii_lowercase(),
            }
        };
        let reg_name = name(host);
        let loopback = reference::is_loopback(&realm_host);
        let insecure_ok = loopback
            || self
                .base_url(&match url.port() {
                    Some(p) => format!("{realm_host}:{p}"),
                    None => realm_host.clone(),
                })
                .starts_with("http://");
        match url.scheme() {
            "https" => {}
            "http" if insecure_ok => {}
            _ => return Err(refuse("which is not HTTPS")),
        }
        let parent = reg_name
            .split_once('.')
            .map(|(_, p)| p)
            .filter(|p| p.contains('.'));
        let same_site = realm_host == reg_name
            || (loopback && reference::is_loopback(&reg_name))
            || parent.is_some_and(|p| realm_host == p || realm_host.ends_with(&format!(".{p}")));
        if !same_site {
            return Err(refuse("which is not on the registry's own site"));
        }
        Ok(())
    }
}

/// `Bearer realm="…",service="…"` or `Basic realm="…"`.
pub(crate) fn parse_challenge(h: &str) -> Option<Challenge> {
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

pub(crate) fn normalize_host(key: &str) -> String {
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
pub(crate) fn read_docker_config(path: Option<PathBuf>) -> HashMap<String, (String, String)> {
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
