//! Build an image through the Docker Engine API (Docker's socket, which the runner
//! mounts into Docker actions, or podman's compatible service), label it, tag it and
//! push every tag; the pushed digest is read back from the registry.

use crate::date::rfc3339;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{BuildImageOptions, PushImageOptions, TagImageOptions};
use futures_util::StreamExt;

use crate::error::{Failure, UserError};
use crate::registry::{PERMISSION_HINT, Reference, Registry};

/// What to build and where to push it.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The build context folder.
    pub context: PathBuf,
    /// The Dockerfile, relative to the context.
    pub dockerfile: String,
    /// `host/owner/name`, without tag.
    pub image: String,
    /// Tags to push; the first names the build (by convention `sha-<40 hex>`).
    pub tags: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// `linux/amd64` and the like; the daemon's own platform when unset.
    pub platform: Option<String>,
}

/// The OCI labels every build carries; `created` is the commit time, so the same
/// commit always gets the same labels.
pub fn oci_labels(
    revision: &str,
    source: &str,
    commit_time_unix: i64,
    version: &str,
) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert("org.opencontainers.image.revision".into(), revision.into());
    l.insert("org.opencontainers.image.source".into(), source.into());
    l.insert(
        "org.opencontainers.image.created".into(),
        rfc3339(commit_time_unix),
    );
    l.insert("org.opencontainers.image.version".into(), version.into());
    l
}

/// Build `req` on the daemon at `DOCKER_HOST` (default: the runner's socket), push
/// every tag, and return the digest the registry holds for them.
pub async fn build_and_push(req: &BuildRequest, registry: &Registry) -> Result<String> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| DEFAULT_HOST.into());
    build_and_push_on(&host, req, registry).await
}

const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// [`build_and_push`] on the daemon at `docker_host` (`unix://…`, `tcp://…`).
pub async fn build_and_push_on(
    docker_host: &str,
    req: &BuildRequest,
    registry: &Registry,
) -> Result<String> {
    let refs = req
        .tags
        .iter()
        .map(|t| Reference::with_tag(&req.image, t))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = refs.first() else {
        return Err(UserError::new(format!("no tag to push `{}` under", req.image)).into());
    };
    let dockerfile = req.context.join(&req.dockerfile);
    if !dockerfile.is_file() {
        return Err(UserError::new(format!(
            "there is no Dockerfile at `{}`",
            dockerfile.display()
        ))
        .hint("set the service's `context` and `dockerfile` in .github/gitops.yaml")
        .into());
    }
    let context = tar_context(&req.context, &req.dockerfile)
        .with_context(|| format!("packing the build context `{}`", req.context.display()))?;

    let docker = connect(docker_host)?;
    let local = format!("{}/{}:{}", first.host, first.repository, req.tags[0]);
    let options = BuildImageOptions {
        dockerfile: req.dockerfile.clone(),
        t: Some(local.clone()),
        labels: Some(req.labels.clone().into_iter().collect::<HashMap<_, _>>()),
        rm: true,
        forcerm: true,
        platform: req.platform.clone().unwrap_or_default(),
        ..Default::default()
    };
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    let mut tail: Vec<String> = Vec::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| daemon_failure(e, "building the image"))?;
        if let Some(line) = info
            .stream
            .as_deref()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
        {
            tail.push(line.to_string());
            if tail.len() > 20 {
                tail.remove(0);
            }
        }
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            return Err(Failure::new(format!(
                "the image build failed: {err}\n{}",
                tail.join("\n")
            ))
            .hint("the build output above ends where it failed; run the same build locally with `docker build`")
            .into());
        }
    }

    let creds = registry
        .credentials_for(&first.host)
        .map(|(u, p)| DockerCredentials {
            username: Some(u),
            password: Some(p),
            serveraddress: Some(first.host.clone()),
            ..Default::default()
        });
    for r in &refs {
        let tag = r.tag.clone().unwrap_or_default();
        let name = format!("{}/{}", r.host, r.repository);
        if r != first {
            docker
                .tag_image(
                    &local,
                    Some(TagImageOptions {
                        repo: Some(name.clone()),
                        tag: Some(tag.clone()),
                    }),
                )
                .await
                .map_err(|e| daemon_failure(e, "tagging the image"))?;
        }
        let mut push = docker.push_image(
            &name,
            Some(PushImageOptions {
                tag: Some(tag.clone()),
                ..Default::default()
            }),
            creds.clone(),
        );
        while let Some(item) = push.next().await {
            let info = item.map_err(|e| daemon_failure(e, &format!("pushing `{r}`")))?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                let mut f = Failure::new(format!("pushing `{r}` failed: {err}"));
                let lower = err.to_ascii_lowercase();
                if ["denied", "unauthorized", "forbidden", "401", "403"]
                    .iter()
                    .any(|w| lower.contains(w))
                {
                    f = f.hint(PERMISSION_HINT);
                }
                return Err(f.into());
            }
        }
    }

    // The daemon's push report differs between Docker and podman; the registry is
    // the authority on what was stored under each tag.
    let mut digest: Option<String> = None;
    for r in &refs {
        let tag = r.tag.as_deref().unwrap_or_default();
        let got = registry.digest_of(&req.image, tag).await?.ok_or_else(|| {
            Failure::new(format!(
                "`{r}` is missing from the registry right after its push"
            ))
        })?;
        match &digest {
            Some(d) if *d != got => {
                return Err(Failure::new(format!(
                    "`{r}` is `{got}` after the push, but `{}` is `{d}`",
                    refs[0]
                ))
                .into());
            }
            _ => digest = Some(got),
        }
    }
    Ok(digest.unwrap_or_default())
}

fn connect(host: &str) -> Result<Docker> {
    Docker::connect_with_host(host).map_err(|e| {
        Failure::new(format!("cannot reach the Docker daemon at `{host}`: {e}"))
            .hint("mount the Docker socket (`/var/run/docker.sock`) or set `DOCKER_HOST`; or set `build: never` and push images yourself")
            .into()
    })
}

fn daemon_failure(e: bollard::errors::Error, what: &str) -> anyhow::Error {
    Failure::new(format!("{what}: the Docker daemon failed: {e}"))
        .hint("check that the daemon runs and this step can use its socket")
        .into()
}

/// The context as an uncompressed tar, without `.git`, `target` and what
/// `.dockerignore` excludes (patterns with `*`, `**`, `?` and `!` exceptions). The
/// Dockerfile is always sent.
fn tar_context(root: &Path, dockerfile: &str) -> Result<Vec<u8>> {
    let ignore = DockerIgnore::read(root)?;
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut stack = vec![root.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        let mut entries = std::fs::read_dir(&dir)?.collect::<std::io::Result<Vec<_>>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let rel = path
                .strip_prefix(root)?
                .to_string_lossy()
                .replace('\\', "/");
            let is_dir = e.file_type()?.is_dir();
            if rel == ".git" || rel == "target" || (rel != dockerfile && ignore.excludes(&rel)) {
                continue;
            }
            if is_dir {
                builder.append_dir(&rel, &path)?;
                stack.push(path);
            } else {
                files.push((rel, path));
            }
        }
    }
    for (rel, path) in files {
        builder.append_path_with_name(&path, &rel)?;
    }
    Ok(builder.into_inner()?)
}

struct DockerIgnore {
    rules: Vec<(globset::GlobMatcher, bool)>,
}

impl DockerIgnore {
    fn read(root: &Path) -> Result<DockerIgnore> {
        let text = match std::fs::read_to_string(root.join(".dockerignore")) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e.into()),
        };
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pat = pat.trim_start_matches("./").trim_matches('/');
            let glob = globset::GlobBuilder::new(pat)
                .literal_separator(true)
                .build()
                .map_err(|e| {
                    UserError::new(format!(
                        "{}: `{line}` is not a valid pattern: {e}",
                        root.join(".dockerignore").display()
                    ))
                })?;
            rules.push((glob.compile_matcher(), negate));
        }
        Ok(DockerIgnore { rules })
    }

    /// Last matching rule wins; a path is also excluded by a match on a parent.
    fn excludes(&self, rel: &str) -> bool {
        let mut excluded = false;
        for (glob, negate) in &self.rules {
            let hit = glob.is_match(rel)
                || rel
                    .match_indices('/')
                    .any(|(i, _)| glob.is_match(&rel[..i]));
            if hit {
                excluded = !negate;
            }
        }
        excluded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn labels() {
        let l = oci_labels("abc", "https://github.com/acme/hello", 0, "1.2.3");
        assert_eq!(
            l["org.opencontainers.image.created"],
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(l.len(), 4);
    }

    #[test]
    fn context_respects_dockerignore() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for f in [
            "Dockerfile",
            "app/main",
            "app/debug.log",
            "app/keep.log",
            ".git/HEAD",
            "target/release/x",
            "docs/a.md",
        ] {
            std::fs::create_dir_all(p.join(f).parent().unwrap()).unwrap();
            std::fs::write(p.join(f), f).unwrap();
        }
        std::fs::write(
            p.join(".dockerignore"),
            "# comment\n**/*.log\n!app/keep.log\ndocs\nDockerfile\n",
        )
        .unwrap();
        let tar = tar_context(p, "Dockerfile").unwrap();
        let mut names: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with('/'))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ".dockerignore",
                "Dockerfile",
                "app",
                "app/keep.log",
                "app/main"
            ]
        );
    }
}
