//! Manifests and indexes: the media types we ask for, read by their exact bytes.

use super::*;
use crate::error::Failure;
use anyhow::Result;
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE as DOCKER_LIST, IMAGE_MANIFEST_MEDIA_TYPE as DOCKER_MANIFEST,
    OCI_IMAGE_INDEX_MEDIA_TYPE as OCI_INDEX, OCI_IMAGE_MEDIA_TYPE as OCI_MANIFEST, OciManifest,
};
use reqwest::StatusCode;
use reqwest::header::{self};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Every manifest kind we copy, indexes first; the registry answers with the stored one
/// unchanged. (Schema 1 manifests are not asked for: registries convert them on the fly,
/// which would change the digest.)
pub(crate) const MANIFEST_TYPES: [&str; 4] =
    [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// The `Accept` header of manifest reads: [`MANIFEST_TYPES`], comma-separated (a test
/// keeps the two equal).
pub(crate) const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
                      application/vnd.docker.distribution.manifest.list.v2+json, \
                      application/vnd.oci.image.manifest.v1+json, \
                      application/vnd.docker.distribution.manifest.v2+json";

/// For a manifest the registry holds but that cannot be copied as it is.
pub(crate) const DAMAGED_HINT: &str = "the manifest in the registry is damaged or not an image: push the image again \
     (an OCI or Docker v2 manifest or index, whose descriptors have `mediaType`, `digest` and `size`)";

#[derive(Debug, Clone)]
pub(crate) struct Manifest {
    /// As the registry sent it: written back unchanged, so the digest stays.
    pub(crate) bytes: Vec<u8>,
    /// What to send as `Content-Type` when writing it.
    pub(crate) media_type: String,
    pub(crate) digest: String,
    /// The same bytes read into oci-client's models, for the children and blobs.
    pub(crate) parsed: OciManifest,
}

impl Manifest {
    /// `None` unless `bytes` is an image manifest or index (OCI or Docker v2).
    pub(crate) fn from_bytes(bytes: Vec<u8>, content_type: Option<String>) -> Option<Manifest> {
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

impl Registry {
    pub(crate) async fn head_manifest(
        &self,
        r: &Reference,
        scope: &Scope,
    ) -> Result<Option<String>> {
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
                Some(d) if is_digest(&d) => Ok(Some(d)),
                // Registries must send it on HEAD; a few proxies drop it.
                _ => Ok(self.get_manifest(r, scope).await?.map(|m| m.digest)),
            },
            _ => Err(self
                .failure(&r.host, resp, format!("looking up `{r}`"))
                .await),
        }
    }

    pub(crate) async fn get_manifest(
        &self,
        r: &Reference,
        scope: &Scope,
    ) -> Result<Option<Manifest>> {
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

    pub(crate) async fn put_manifest(
        &self,
        r: &Reference,
        scope: &Scope,
        m: &Manifest,
    ) -> Result<()> {
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
}
