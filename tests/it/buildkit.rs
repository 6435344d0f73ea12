//! BuildKit builds on a real Docker Engine (Debian's dockerd 20.10, private socket,
//! `vfs`, no bridge): cache and secret mounts, `target`, `.dockerignore`, build
//! args, a Dockerfile that does not parse; the image is checked in the daemon
//! (`docker run`, `docker save`) and in the registry it was pushed to.

use gitops_action::build::{BuildSecrets, Network, build_and_push_on};
use gitops_action::error::{exit_code, location_of};
use gitops_action::registry::{Registry, RegistryOptions};
use gitops_testkit::docker::DockerEngine;
use gitops_testkit::registry::{Auth, TestRegistry};

use crate::build::{SHA, request};

const SECRET: &str = "s3cr3t-build-token-0123456789";

const DOCKERFILE: &str = r#"FROM localhost/busybox AS base
ARG GREETING=unset
COPY . /ctx
RUN --mount=type=cache,target=/cache sh -c 'echo run >> /cache/runs; wc -l < /cache/runs > /runs'
RUN --mount=type=secret,id=token sh -c 'wc -c < /run/secrets/token > /secret-length'
RUN echo "$GREETING" > /greeting

FROM base AS broken
RUN false
"#;

fn run_in(engine: &DockerEngine, image: &str, cmd: &str) -> String {
    engine
        .cli(&["run", "--rm", "--network", "none", image, "sh", "-c", cmd])
        .unwrap()
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_builds_mounts_targets_args_and_honours_dockerignore() {
    let engine = DockerEngine::start().unwrap();
    engine.import_busybox("localhost/busybox").unwrap();
    let reg = TestRegistry::start(Auth::None).unwrap();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(ctx.path().join("kept.txt"), "kept\n").unwrap();
    std::fs::write(ctx.path().join("notes.log"), "ignored\n").unwrap();
    std::fs::write(ctx.path().join(".dockerignore"), "*.log\n").unwrap();

    let registry = Registry::new(RegistryOptions::default());
    let image = format!("{}/acme/kit", reg.host());
    let mut req = request(ctx.path(), image.clone());
    // `broken` is last: only `target` keeps it out of the build.
    req.target = Some("base".into());
    req.build_args = vec![("GREETING".into(), "hello from an arg".into())];
    req.secrets = BuildSecrets(vec![("token".into(), SECRET.into())]);
    req.network = Network::None;
    let digest = build_and_push_on(&engine.docker_host(), &req, &registry)
        .await
        .unwrap();
    assert_eq!(
        registry.digest_of(&image, &req.tags[1]).await.unwrap(),
        Some(digest.clone())
    );
    let local = format!("{image}:{}", req.tags[0]);
    assert_eq!(
        run_in(&engine, &local, "cat /greeting"),
        "hello from an arg"
    );
    // The step read the secret (its length only: the Dockerfile is in the image).
    assert_eq!(
        run_in(&engine, &local, "cat /secret-length"),
        SECRET.len().to_string()
    );
    assert_eq!(run_in(&engine, &local, "cat /runs"), "1");
    assert_eq!(
        run_in(
            &engine,
            &local,
            "ls -a /ctx | grep -v '^\\.*$' | sort | tr '\\n' ' '"
        ),
        ".dockerignore Dockerfile kept.txt"
    );
    // The labels as the legacy builder sets them.
    let labels = engine
        .cli(&["inspect", "--format", "{{json .Config.Labels}}", &local])
        .unwrap();
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["org.opencontainers.image.revision"], SHA);
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    // The secret was mounted for one step only: no layer holds it.
    let saved = std::process::Command::new(gitops_testkit::docker::DOCKER_CLI)
        .args(["save", &local])
        .env("DOCKER_HOST", engine.docker_host())
        .output()
        .unwrap();
    assert!(saved.status.success());
    assert!(saved.stdout.len() > 100_000);
    assert!(
        !saved
            .stdout
            .windows(SECRET.len())
            .any(|w| w == SECRET.as_bytes()),
        "the secret is in the image"
    );

    // A changed file re-runs the steps after `COPY`; the cache mount kept what the
    // first build wrote.
    std::fs::write(ctx.path().join("kept.txt"), "kept, changed\n").unwrap();
    req.tags = vec![format!("sha-{}", "1".repeat(40))];
    build_and_push_on(&engine.docker_host(), &req, &registry)
        .await
        .unwrap();
    let second = format!("{image}:{}", req.tags[0]);
    assert_eq!(run_in(&engine, &second, "cat /runs"), "2");

    // Without `target`, the last stage is built, and its failure is exit 1 with
    // the step that failed.
    req.target = None;
    req.tags = vec![format!("sha-{}", "2".repeat(40))];
    let err = build_and_push_on(&engine.docker_host(), &req, &registry)
        .await
        .unwrap_err();
    assert_eq!(exit_code(&err), 1, "{err:#}");
    let text = format!("{err:#}");
    assert!(text.contains("RUN false"), "{text}");
    assert!(!text.contains(SECRET));
    assert_eq!(
        registry.digest_of(&image, &req.tags[0]).await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dockerfile_that_does_not_parse_is_exit_2_at_its_line() {
    let engine = DockerEngine::start().unwrap();
    let reg = TestRegistry::start(Auth::None).unwrap();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY Dockerfile /\nRUNN make\n",
    )
    .unwrap();
    let registry = Registry::new(RegistryOptions::default());
    let req = request(ctx.path(), format!("{}/acme/typo", reg.host()));
    let err = build_and_push_on(&engine.docker_host(), &req, &registry)
        .await
        .unwrap_err();
    assert_eq!(exit_code(&err), 2, "{err:#}");
    let at = location_of(&err).unwrap();
    assert_eq!(at.line, 3, "{err:#}");
    assert_eq!(at.file, ctx.path().join("Dockerfile"));
    assert!(format!("{err:#}").contains("RUNN"), "{err:#}");
}
