//! An image's labels, read from its config blob: the `org.opencontainers.image.revision`
//! our builds set (and docker/build-push-action's metadata does) names the commit an
//! image was built from, which is where a changelog starts.

use super::*;
use oci_client::manifest::OciManifest;

/// A config blob larger than this is not an image config anyone wrote by hand or
/// by a builder: it is not read.
const MAX_CONFIG: usize = 4 << 20;

impl Registry {
    /// The commit `image` at `reference` (a tag or a digest) says it was built from:
    /// its `org.opencontainers.image.revision` label when that is a full commit sha.
    /// For an index, the first `linux/amd64` image's (else the first image's). Two
    /// or three requests (the manifest, the index's child, the config blob). `None`
    /// when the image, the label or a sha in it is missing.
    pub async fn revision_of(&self, image: &str, reference: &str) -> Result<Option<String>> {
        let r = if is_digest(reference) {
            Reference::parse(image)?.at_digest(reference)
        } else {
            Reference::with_tag(image, reference)?
        };
        let scope = Scope::pull(&r.repository);
        let Some(mut m) = self.get_manifest(&r, &scope).await? else {
            return Ok(None);
        };
        if let OciManifest::ImageIndex(index) = &m.parsed {
            let amd64 = index.manifests.iter().find(|d| {
                d.platform.as_ref().is_some_and(|p| {
                    p.os.to_string() == "linux" && p.architecture.to_string() == "amd64"
                })
            });
            let Some(child) = amd64.or(index.manifests.first()) else {
                return Ok(None);
            };
            if !is_digest(&child.digest) {
                return Ok(None);
            }
            let c = Reference::parse(image)?.at_digest(&child.digest);
            match self.get_manifest(&c, &scope).await? {
                Some(cm) => m = cm,
                None => return Ok(None),
            }
        }
        let OciManifest::Image(img) = &m.parsed else {
            return Ok(None);
        };
        let digest = &img.config.digest;
        if !is_digest(digest) || usize::try_from(img.config.size).is_ok_and(|s| s > MAX_CONFIG) {
            return Ok(None);
        }
        let url = format!(
            "{}/v2/{}/blobs/{digest}",
            self.base_url(&r.host),
            r.repository
        );
        let resp = self
            .send(&r.host, &scope, || self.inner.http.get(&url))
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self
                .failure(&r.host, resp, format!("reading the config of `{r}`"))
                .await);
        }
        if resp
            .content_length()
            .is_some_and(|n| n as usize > MAX_CONFIG)
        {
            return Ok(None);
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport(&r.host, e, &format!("reading the config of `{r}`")))?;
        if bytes.len() > MAX_CONFIG || manifest::sha256_digest(&bytes) != *digest {
            return Ok(None);
        }
        Ok(revision_label(&bytes))
    }
}

/// The revision label of an image config (`config.Labels`), if it is a full sha.
fn revision_label(config: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(config).ok()?;
    let rev = v
        .get("config")?
        .get("Labels")?
        .get("org.opencontainers.image.revision")?
        .as_str()?
        .trim()
        .to_ascii_lowercase();
    (rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())).then_some(rev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_full_sha_is_a_revision() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let cfg = |rev: &str| {
            serde_json::json!({"config": {"Labels": {"org.opencontainers.image.revision": rev}}})
                .to_string()
        };
        assert_eq!(revision_label(cfg(sha).as_bytes()).as_deref(), Some(sha));
        assert_eq!(
            revision_label(cfg(&sha.to_uppercase()).as_bytes()).as_deref(),
            Some(sha)
        );
        for bad in ["main", "0123456", "", "../../etc", &format!("{sha}0")] {
            assert_eq!(revision_label(cfg(bad).as_bytes()), None, "{bad}");
        }
        assert_eq!(revision_label(b"{\"config\": {\"Labels\": null}}"), None);
        assert_eq!(revision_label(b"not json"), None);
    }
}
