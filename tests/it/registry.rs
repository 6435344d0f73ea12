//! The registry module against a real `docker-registry` (token, htpasswd and no
//! auth): find builds, retag in and across repositories, and fail clearly.

use gitops_action::error::{Failure, UserError, exit_code, hint_of};
use gitops_action::registry::{PERMISSION_HINT, Registry, RegistryOptions};
use gitops_testkit::registry::{Auth, CutProxy, JunkServer, PASSWORD, TestRegistry, USER};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// Logged in to the registry at `host`: explicit credentials are offered to that
/// host only.
fn logged_in(host: &str) -> Registry {
    Registry::new(RegistryOptions {
        username: Some(USER.into()),
        password: Some(PASSWORD.into()),
        credential_host: Some(host.into()),
        ..Default::default()
    })
}

fn anonymous() -> Registry {
    Registry::new(RegistryOptions::default())
}

/// `METHOD path` of each logged request, for exact comparisons.
fn lines(reg: &TestRegistry) -> Vec<String> {
    reg.requests()
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect()
}

#[tokio::test]
async fn same_repository_retag_is_a_manifest_get_head_and_put() {
    let reg = TestRegistry::start(Auth::None).unwrap();
    let image = reg
        .client()
        .push_image("acme/hello", &format!("sha-{SHA}"), 3, 4096, 1)
        .unwrap();
    reg.reset_log();
    let r = anonymous();
    let name = format!("{}/acme/hello", reg.host());

    assert_eq!(
        r.fetch_commit_build(&name, SHA)
            .await
            .unwrap()
            .map(|b| b.digest),
        Some(image.digest.clone())
    );
    assert_eq!(r.digest_of(&name, "dev").await.unwrap(), None);
    assert_eq!(r.request_count(), 2);
    reg.reset_log();

    let before = r.request_count();
    let done = r
        .retag(&format!("{name}:sha-{SHA}"), &format!("{name}:dev"))
        .await
        .unwrap();
    assert!(done.written);
    assert_eq!(done.digest, image.digest);
    assert_eq!(
        lines(&reg),
        [
            format!("GET /v2/acme/hello/manifests/sha-{SHA} 200"),
            "HEAD /v2/acme/hello/manifests/dev 404".to_string(),
            "PUT /v2/acme/hello/manifests/dev 201".to_string(),
        ]
    );
    assert_eq!(r.request_count() - before, 3);
    let (_, bytes) = reg
        .client()
        .get_manifest("acme/hello", "dev")
        .unwrap()
        .unwrap();
    assert_eq!(bytes, image.manifest, "the very same bytes");

    // Knowing the digest, a retag to a tag that already has it is one HEAD.
    reg.reset_log();
    let again = r
        .retag(&format!("{name}@{}", image.digest), &format!("{name}:dev"))
        .await
        .unwrap();
    assert!(!again.written);
    assert_eq!(lines(&reg), ["HEAD /v2/acme/hello/manifests/dev 200"]);

    // By tag within one repository, the destination already holding the digest:
    // GET and HEAD, and no PUT (a write the registry would record).
    reg.reset_log();
    let again = r
        .retag(&format!("{name}:sha-{SHA}"), &format!("{name}:dev"))
        .await
        .unwrap();
    assert_eq!(again.digest, image.digest);
    assert!(!again.written);
    assert_eq!(
        lines(&reg),
        [
            format!("GET /v2/acme/hello/manifests/sha-{SHA} 200"),
            "HEAD /v2/acme/hello/manifests/dev 200".to_string(),
        ]
    );
    let (_, bytes) = reg
        .client()
        .get_manifest("acme/hello", "dev")
        .unwrap()
        .unwrap();
    assert_eq!(bytes, image.manifest);
}

#[tokio::test]
async fn token_auth_retag_needs_one_token_and_no_blob() {
    let reg = TestRegistry::start(Auth::Token).unwrap();
    let image = reg
        .client()
        .push_image("acme/hello", "sha-x", 3, 4096, 2)
        .unwrap();
    reg.reset_log();
    let tokens_before = reg.token_requests();
    let r = logged_in(&reg.host());
    let name = format!("{}/acme/hello", reg.host());
    let done = r
        .retag(&format!("{name}:sha-x"), &format!("{name}:uat"))
        .await
        .unwrap();
    assert!(done.written);
    assert_eq!(done.digest, image.digest);
    let log = lines(&reg);
    assert_eq!(
        log,
        [
            "GET /v2/acme/hello/manifests/sha-x 401",
            "GET /v2/acme/hello/manifests/sha-x 200",
            "HEAD /v2/acme/hello/manifests/uat 404",
            "PUT /v2/acme/hello/manifests/uat 201",
        ]
    );
    assert_eq!(
        reg.token_requests() - tokens_before,
        1,
        "one token for the run"
    );
    assert_eq!(r.request_count(), 5, "401, token, GET, HEAD, PUT");
    assert!(reg.requests().iter().all(|q| !q.is_blob()));

    // A second operation on the same repository reuses the token.
    let t = reg.token_requests();
    assert!(r.digest_of(&name, "uat").await.unwrap().is_some());
    assert_eq!(reg.token_requests(), t);
}

#[tokio::test]
async fn cross_repository_retag_mounts_blobs() {
    let reg = TestRegistry::start(Auth::Token).unwrap();
    let image = reg
        .client()
        .push_image("acme/dev/hello", "sha-y", 3, 8192, 3)
        .unwrap();
    reg.reset_log();
    let r = logged_in(&reg.host());
    let done = r
        .retag(
            &format!("{}/acme/dev/hello:sha-y", reg.host()),
            &format!("{}/acme/hello:1.2.0", reg.host()),
        )
        .await
        .unwrap();
    assert!(done.written);
    assert_eq!(done.digest, image.digest);
    let log = reg.requests();
    let mounts = log.iter().filter(|q| q.path.contains("mount=")).count();
    assert_eq!(mounts, 4, "3 layers and the config: {log:?}");
    assert!(
        log.iter()
            .filter(|q| q.path.contains("mount="))
            .all(|q| q.status == 201)
    );
    assert!(
        !log.iter()
            .any(|q| q.is_blob() && (q.method == "GET" || q.method == "PUT")),
        "no blob bytes moved: {log:?}"
    );
    let c = reg.client();
    for b in &image.blobs {
        assert!(c.blob_exists("acme/hello", b).unwrap());
    }
    let (_, bytes) = c.get_manifest("acme/hello", "1.2.0").unwrap().unwrap();
    assert_eq!(bytes, image.manifest);
}

#[tokio::test]
async fn multi_arch_index_keeps_its_digest_across_repositories() {
    let reg = TestRegistry::start(Auth::Htpasswd).unwrap();
    let (index, children) = reg
        .client()
        .push_index("acme/dev/multi", "sha-z", 4)
        .unwrap();
    reg.reset_log();
    let r = logged_in(&reg.host());
    let done = r
        .retag(
            &format!("{}/acme/dev/multi:sha-z", reg.host()),
            &format!("{}/acme/multi:prod", reg.host()),
        )
        .await
        .unwrap();
    assert_eq!(done.digest, index.digest);
    assert_eq!(done.media_type, "application/vnd.oci.image.index.v1+json");
    let log = lines(&reg);
    let pos = |needle: &str| {
        log.iter()
            .position(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("{needle} not in {log:?}"))
    };
    let index_put = pos("PUT /v2/acme/multi/manifests/prod");
    for c in &children {
        assert!(pos(&format!("PUT /v2/acme/multi/manifests/{}", c.digest)) < index_put);
    }
    let client = reg.client();
    let (ct, bytes) = client.get_manifest("acme/multi", "prod").unwrap().unwrap();
    assert_eq!(ct, "application/vnd.oci.image.index.v1+json");
    assert_eq!(bytes, index.manifest);
    for c in &children {
        assert!(
            client
                .get_manifest("acme/multi", &c.digest)
                .unwrap()
                .is_some()
        );
    }
    assert!(
        r.exists(&format!("{}/acme/multi", reg.host()), &index.digest)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn across_registries_blobs_are_copied() {
    let a = TestRegistry::start(Auth::None).unwrap();
    let b = TestRegistry::start(Auth::Token).unwrap();
    let image = a
        .client()
        .push_image("acme/hello", "sha-w", 2, 100_000, 5)
        .unwrap();
    let r = logged_in(&b.host());
    let done = r
        .retag(
            &format!("{}/acme/hello:sha-w", a.host()),
            &format!("{}/mirror/hello:sha-w", b.host()),
        )
        .await
        .unwrap();
    assert!(done.written);
    let (_, bytes) = b
        .client()
        .get_manifest("mirror/hello", "sha-w")
        .unwrap()
        .unwrap();
    assert_eq!(bytes, image.manifest);
    for blob in &image.blobs {
        assert!(b.client().blob_exists("mirror/hello", blob).unwrap());
    }
}

#[tokio::test]
async fn a_connection_cut_mid_copy_is_a_failure_and_nothing_is_tagged() {
    let a = TestRegistry::start(Auth::None).unwrap();
    let b = TestRegistry::start(Auth::None).unwrap();
    a.client()
        .push_image("acme/big", "sha-v", 1, 2_000_000, 6)
        .unwrap();
    let proxy = CutProxy::start(&a.host(), 200_000).unwrap();
    let err = anonymous()
        .retag(
            &format!("{}/acme/big:sha-v", proxy.host()),
            &format!("{}/acme/big:sha-v", b.host()),
        )
        .await
        .unwrap_err();
    assert_eq!(exit_code(&err), 1, "{err:#}");
    assert!(err.chain().any(|e| e.is::<Failure>()));
    let text = format!("{err:#}");
    assert!(text.contains("blob"), "{text}");
    assert!(
        b.client()
            .get_manifest("acme/big", "sha-v")
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_killed_registry_is_a_failure() {
    let mut a = TestRegistry::start(Auth::None).unwrap();
    a.client().push_image("acme/x", "t", 1, 100, 7).unwrap();
    let host = a.host();
    a.kill();
    let err = anonymous()
        .retag(&format!("{host}/acme/x:t"), &format!("{host}/acme/x:u"))
        .await
        .unwrap_err();
    assert_eq!(exit_code(&err), 1);
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!("registry `{host}`: cannot connect")),
        "{text}"
    );
}

#[tokio::test]
async fn wrong_password_and_anonymous_get_the_permissions_hint() {
    for auth in [Auth::Token, Auth::Htpasswd] {
        let reg = TestRegistry::start(auth).unwrap();
        reg.client().push_image("acme/p", "t", 1, 100, 8).unwrap();
        let name = format!("{}/acme/p", reg.host());
        let bad = Registry::new(RegistryOptions {
            username: Some(USER.into()),
            password: Some("wrong-password-123".into()),
            ..Default::default()
        });
        for r in [bad, anonymous()] {
            let err = r.digest_of(&name, "t").await.unwrap_err();
            assert_eq!(exit_code(&err), 1, "{auth:?}: {err:#}");
            assert_eq!(hint_of(&err), Some(PERMISSION_HINT), "{auth:?}: {err:#}");
            let text = format!("{err:#} {err:?}");
            assert!(!text.contains("wrong-password-123"), "{text}");
            assert!(!text.contains(PASSWORD), "{text}");
            for t in reg.issued_tokens() {
                assert!(!text.contains(&t), "token leaked: {text}");
            }
        }
    }
}

#[tokio::test]
async fn malformed_references_are_user_errors() {
    let r = anonymous();
    for (src, dst) in [
        ("ghcr.io/Acme/hello:1", "ghcr.io/acme/hello:2"),
        ("ghcr.io/acme/hello:1", "ghcr.io/acme/hello"),
        ("ghcr.io/acme/hello:bad tag", "ghcr.io/acme/hello:2"),
        ("ghcr.io/acme/hello@sha256:1234", "ghcr.io/acme/hello:2"),
    ] {
        let err = r.retag(src, dst).await.unwrap_err();
        assert_eq!(exit_code(&err), 2, "{src} {dst}: {err:#}");
        assert!(err.chain().any(|e| e.is::<UserError>()));
        assert!(hint_of(&err).is_some());
    }
    let err = r
        .fetch_commit_build("ghcr.io/acme/hello", "abc")
        .await
        .unwrap_err();
    assert_eq!(exit_code(&err), 2);
    assert_eq!(r.request_count(), 0, "nothing sent for bad input");
}

#[tokio::test]
async fn unknown_hosts_and_garbage_are_failures() {
    let r = anonymous();
    let err = r
        .digest_of("no-such-registry.invalid/acme/x", "t")
        .await
        .unwrap_err();
    assert_eq!(exit_code(&err), 1, "{err:#}");
    assert!(format!("{err:#}").contains("no-such-registry.invalid"));

    let junk = JunkServer::start(b"SSH-2.0-OpenSSH_9.2\r\n").unwrap();
    let err = r
        .digest_of(&format!("{}/acme/x", junk.host()), "t")
        .await
        .unwrap_err();
    assert_eq!(exit_code(&err), 1, "{err:#}");

    let html = JunkServer::start(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\nConnection: close\r\n\r\n<html></html>",
    )
    .unwrap();
    let err = r
        .retag(
            &format!("{}/acme/x:t", html.host()),
            &format!("{}/acme/x:u", html.host()),
        )
        .await
        .unwrap_err();
    assert_eq!(exit_code(&err), 1);
    assert!(
        format!("{err:#}").contains("not an image manifest"),
        "{err:#}"
    );

    let envelope = JunkServer::start(
        b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 74\r\nConnection: close\r\n\r\n{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"repository name not known\"}]}",
    )
    .unwrap();
    // A 404 on a manifest is "not there"; on a blob upload start it is an error shown as sent.
    assert_eq!(
        r.digest_of(&format!("{}/acme/x", envelope.host()), "t")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_missing_source_is_a_failure() {
    let reg = TestRegistry::start(Auth::None).unwrap();
    let name = format!("{}/acme/none", reg.host());
    let err = anonymous()
        .retag(&format!("{name}:a"), &format!("{name}:b"))
        .await
        .unwrap_err();
    assert_eq!(exit_code(&err), 1);
    assert_eq!(format!("{err:#}"), format!("there is no image `{name}:a`"));
}

/// `retag SRC DST` through the binary, within one repository: the first run
/// writes (GET, HEAD, PUT), the second finds the digest already there and writes
/// nothing (GET, HEAD; no manifest PUT in the registry's log), with
/// `changed=false`. Counted from the registry's access log plus the token
/// server, as `scripts/bench-registry` counts, and checked against the count the
/// binary prints.
#[test]
fn retag_to_a_tag_that_has_the_digest_writes_nothing() {
    for (auth, first, second) in [(Auth::None, 3, 2), (Auth::Token, 5, 4)] {
        let reg = TestRegistry::start(auth).unwrap();
        let image = reg
            .client()
            .push_image("acme/hello", &format!("sha-{SHA}"), 2, 4096, 7)
            .unwrap();
        let ws = crate::util::Workspace::empty();
        let src = format!("{}/acme/hello:sha-{SHA}", reg.host());
        let dst = format!("{}/acme/hello:dev", reg.host());
        let run = |n: usize| {
            reg.reset_log();
            let tokens = reg.token_requests();
            let output = ws.path().join(format!("output-{n}"));
            let mut c = ws.cmd();
            c.args(["retag", &src, &dst]).env("GITHUB_OUTPUT", &output);
            if auth != Auth::None {
                c.env("REGISTRY_USERNAME", USER)
                    .env("REGISTRY_PASSWORD", PASSWORD);
            }
            let run = crate::util::Run::from(c.output().unwrap()).expect(0);
            let log = lines(&reg);
            let requests = log.len() + reg.token_requests() - tokens;
            assert!(
                run.stderr
                    .contains(&format!("registry: {requests} requests")),
                "{auth:?}: the binary counts what reached the registry: {log:?}\n{}",
                run.transcript()
            );
            let out = std::fs::read_to_string(output).unwrap();
            let changed = out
                .lines()
                .skip_while(|l| !l.starts_with("changed<<"))
                .nth(1)
                .unwrap_or_default()
                .to_string();
            (log, requests, changed, run.stdout)
        };
        let (log, requests, changed, stdout) = run(1);
        assert_eq!(changed, "true", "{auth:?}");
        assert_eq!(requests, first, "{auth:?}: {log:?}");
        assert!(log.contains(&"PUT /v2/acme/hello/manifests/dev 201".to_string()));
        assert_eq!(
            stdout,
            format!("retagged `{src}` as `{dst}` ({})\n", image.digest)
        );

        let (log, requests, changed, stdout) = run(2);
        assert_eq!(changed, "false", "{auth:?}");
        assert_eq!(requests, second, "{auth:?}: {log:?}");
        assert!(
            log.iter().all(|l| !l.starts_with("PUT ")),
            "{auth:?}: no manifest written: {log:?}"
        );
        assert_eq!(
            log.last().map(String::as_str),
            Some("HEAD /v2/acme/hello/manifests/dev 200")
        );
        assert_eq!(
            stdout,
            format!("`{dst}` is already `{}`; nothing written\n", image.digest)
        );
        let (_, bytes) = reg
            .client()
            .get_manifest("acme/hello", "dev")
            .unwrap()
            .unwrap();
        assert_eq!(bytes, image.manifest, "the very same bytes");
    }
}
