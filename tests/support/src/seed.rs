//! The repository a team starts from: this project's bundled example overlays
//! pointed at a test registry, a buildable app and a config, as files to seed the
//! GitHub stand-in with.

use std::path::Path;

/// The files of the seeded repository, as `(path, text)`:
/// - `overlays/{base,dev,uat,prod}/*` from `root` (this repository), with the example's
///   image `ghcr.io/acme/hello` replaced by `image`;
/// - one overlay per `extra_envs` (seed 002's `staging`, `beta`), a copy of uat's;
/// - `.github/gitops.yaml`: `config` with `IMAGE` replaced by `image`;
/// - `app/Dockerfile` and `app/hello.txt`, a build context that needs no base image.
pub fn example_repository(
    root: &Path,
    image: &str,
    config: &str,
    extra_envs: &[&str],
) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    for env in ["base", "dev", "uat", "prod"] {
        let mut entries: Vec<_> = std::fs::read_dir(root.join("overlays").join(env))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let text = std::fs::read_to_string(&p)
                .unwrap()
                .replace("ghcr.io/acme/hello", image);
            files.push((
                format!(
                    "overlays/{env}/{}",
                    p.file_name().unwrap().to_string_lossy()
                ),
                text,
            ));
        }
    }
    let uat = std::fs::read_to_string(root.join("overlays/uat/kustomization.yaml"))
        .unwrap()
        .replace("ghcr.io/acme/hello", image);
    for extra in extra_envs {
        files.push((
            format!("overlays/{extra}/kustomization.yaml"),
            uat.replace("hello-uat", &format!("hello-{extra}")),
        ));
    }
    files.push((".github/gitops.yaml".into(), config.replace("IMAGE", image)));
    files.push((
        "app/Dockerfile".into(),
        "FROM scratch\nCOPY hello.txt /hello.txt\n".into(),
    ));
    files.push(("app/hello.txt".into(), "hello\n".into()));
    files
}

/// `files` as the borrowed pairs `GitHubStandIn::create_repo` takes.
pub fn as_refs(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect()
}
