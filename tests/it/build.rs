//! Build and push through podman's Docker-compatible API to a registry with token
//! auth: a `FROM scratch` Dockerfile, OCI labels, two tags with one digest.

use gitops_action::build::{BuildRequest, build_and_push_on, oci_labels};
use gitops_action::error::exit_code;
use gitops_action::registry::{Registry, RegistryOptions};
use gitops_testkit::podman::PodmanService;
use gitops_testkit::registry::{Auth, PASSWORD, TestRegistry, USER};

pub const SHA: &str = "89abcdef0123456789abcdef0123456789abcdef";

pub fn request(context: &std::path::Path, image: String) -> BuildRequest {
    BuildRequest {
        context: context.to_path_buf(),
        dockerfile: "Dockerfile".into(),
        target: None,
        image,
        tags: vec![format!("sha-{SHA}"), "dev-89abcde".into()],
        labels: oci_labels(
            SHA,
            "https://github.com/acme/hello",
            1_700_000_000,
            "dev-89abcde",
        ),
        build_args: Vec::new(),
        secrets: Default::default(),
        network: Default::default(),
        source_date_epoch: 1_700_000_000,
        platform: None,
    }
}

#[tokio::test]
async fn builds_labels_and_pushes_both_tags() {
    let reg = TestRegistry::start(Auth::Token).unwrap();
    let podman = PodmanService::start(&[reg.host()]).unwrap();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("hello.txt"), "hello from a scratch image\n").unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\n",
    )
    .unwrap();
    std::fs::create_dir_all(ctx.path().join("target")).unwrap();
    std::fs::write(ctx.path().join("target/big"), vec![0u8; 1 << 20]).unwrap();

    // Explicit credentials are offered to their own registry only.
    let registry = Registry::new(RegistryOptions {
        username: Some(USER.into()),
        password: Some(PASSWORD.into()),
        credential_host: Some(reg.host()),
        ..Default::default()
    });
    let image = format!("{}/acme/hello", reg.host());
    let digest = build_and_push_on(
        &podman.docker_host(),
        &request(ctx.path(), image.clone()),
        &registry,
    )
    .await
    .unwrap();
    assert_eq!(
        registry
            .fetch_commit_build(&image, SHA)
            .await
            .unwrap()
            .map(|b| b.digest),
        Some(digest.clone())
    );
    assert_eq!(
        registry.digest_of(&image, "dev-89abcde").await.unwrap(),
        Some(digest.clone())
    );

    let client = reg.client();
    let (_, manifest) = client.get_manifest("acme/hello", &digest).unwrap().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&client.get_blob("acme/hello", config_digest).unwrap()).unwrap();
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.revision"], SHA);
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://github.com/acme/hello"
    );
    assert_eq!(labels["org.opencontainers.image.version"], "dev-89abcde");
    // `target/` stayed out of the context: one small layer.
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert!(layers[0]["size"].as_u64().unwrap() < 100_000, "{layers:?}");
}

#[tokio::test]
async fn a_failing_build_and_a_missing_daemon_are_clear() {
    let reg = TestRegistry::start(Auth::None).unwrap();
    let podman = PodmanService::start(&[reg.host()]).unwrap();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY missing.txt /\n",
    )
    .unwrap();
    let registry = Registry::new(RegistryOptions::default());
    let req = request(ctx.path(), format!("{}/acme/broken", reg.host()));
    let err = build_and_push_on(&podman.docker_host(), &req, &registry)
        .await
        .unwrap_err();
    assert_eq!(exit_code(&err), 1);
    assert!(format!("{err:#}").contains("missing.txt"), "{err:#}");
    assert_eq!(
        registry.digest_of(&req.image, &req.tags[0]).await.unwrap(),
        None
    );

    let err = build_and_push_on("unix:///nonexistent/docker.sock", &req, &registry)
        .await
        .unwrap_err();
    assert_eq!(exit_code(&err), 1);
    assert!(
        gitops_action::error::hint_of(&err)
            .unwrap()
            .contains("DOCKER_HOST")
    );

    std::fs::remove_file(ctx.path().join("Dockerfile")).unwrap();
    let err = build_and_push_on(&podman.docker_host(), &req, &registry)
        .await
        .unwrap_err();
    assert_eq!(exit_code(&err), 2, "{err:#}");
}

/// podman offers no BuildKit: the legacy builder, said so; build secrets are
/// refused with the hint to build elsewhere, before anything is built.
#[tokio::test]
async fn without_buildkit_secrets_are_refused_with_a_hint() {
    let reg = TestRegistry::start(Auth::None).unwrap();
    let podman = PodmanService::start(&[reg.host()]).unwrap();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY Dockerfile /\n",
    )
    .unwrap();
    let registry = Registry::new(RegistryOptions::default());
    let mut req = request(ctx.path(), format!("{}/acme/secretive", reg.host()));
    req.secrets = gitops_action::build::BuildSecrets(vec![("token".into(), "s3cr3t-value".into())]);
    let err = build_and_push_on(&podman.docker_host(), &req, &registry)
        .await
        .unwrap_err();
    assert_eq!(exit_code(&err), 1);
    assert!(!format!("{err:#}").contains("s3cr3t-value"));
    let hint = gitops_action::error::hint_of(&err).unwrap();
    assert!(
        hint.contains("build: never") && hint.contains("docker/build-push-action"),
        "{hint}"
    );
    assert_eq!(
        registry.digest_of(&req.image, &req.tags[0]).await.unwrap(),
        None
    );
}
