//! Shared set-up of the tests that drive the release loop (`session::pull_request::
//! release`) against the GitHub stand-in, by git (`github.rs`) and through the API
//! (`commit_api.rs`): the repository, the clients, the overlay edit, the request.

use std::path::Path;

use gitops_action::git::{GitOptions, Identity, Publish, Target, Workspace, release_branch};
use gitops_action::github::{GitHub, GitHubOptions, MergeMethod, MergePolicy, PrContent, pr_title};
use gitops_action::overlay::{self, SetImage};
use gitops_action::session::pull_request::{Release, ReleaseOutcome, Via, release};
use gitops_testkit::github::{GitHubStandIn, RequestKind, TokenGrants};

pub const REPO: &str = "acme/app";
pub const TOKEN: &str = "ghs_0123456789abcdefghijklmnopqrstuvwxyz";
pub const OVERLAY: &str = "overlays/dev/kustomization.yaml";
pub const START: &str = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\nimages:\n  - name: ghcr.io/acme/hello\n    newTag: dev-1\n";

pub async fn standin() -> GitHubStandIn {
    let gh = GitHubStandIn::start().await.unwrap();
    gh.create_repo(REPO, "main", &[(OVERLAY, START), ("README.md", "app\n")])
        .unwrap();
    gh.add_token(TOKEN, TokenGrants::github_token());
    gh
}

pub fn git_opts(gh: &GitHubStandIn, token: &str) -> GitOptions {
    GitOptions {
        // No checkout: the module clones (depth 1) with the token.
        workspace: std::env::temp_dir().join("gitops-action-no-such-workspace"),
        remote_url: Some(gh.git_url("acme", "app")),
        token: Some(token.into()),
        author: Identity::default(),
        committer: Identity::default(),
        max_retries: 30,
    }
}

pub fn api(gh: &GitHubStandIn, token: &str) -> GitHub {
    GitHub::new(&GitHubOptions {
        api_url: gh.api_url(),
        graphql_url: gh.graphql_url(),
        server_url: gh.server_url(),
        token: Some(token.into()),
        repository: REPO.into(),
        max_attempts: 3,
        max_wait: std::time::Duration::from_secs(5),
    })
    .unwrap()
}

/// The real overlay edit, as `release` hands it to `publish`.
pub fn set_tag<'a>(
    image: &'a str,
    tag: &'a str,
) -> impl FnMut(&str, &str) -> anyhow::Result<Option<String>> + 'a {
    let req = SetImage {
        image,
        tag: Some(tag),
        digest: None,
    };
    let mut edit = overlay::edit_fn(Path::new(OVERLAY), req);
    move |_path: &str, text: &str| edit(text)
}

pub fn request(service: &str, old: &str, new: &str, policy: MergePolicy) -> Release {
    Release {
        publish: Publish {
            base: "main".into(),
            target: Target::Release(release_branch(service, "dev")),
            paths: vec![OVERLAY.into()],
            message: format!("{service}: dev {old} → {new}"),
        },
        content: PrContent {
            title: pr_title(service, "dev", Some(old), new),
            body: format!("Release of {service} {new}"),
            ..Default::default()
        },
        policy,
        method: MergeMethod::Squash,
        defer_delete: false,
        max_rounds: 10,
        close_comment: Some("The base already holds this version.".into()),
    }
}

/// Release `ghcr.io/acme/hello:<new>` (the PR says `<old>` → `<new>`).
pub async fn release_hello(
    via: Via<'_>,
    client: &GitHub,
    old: &str,
    new: &str,
    policy: MergePolicy,
) -> anyhow::Result<ReleaseOutcome> {
    release(
        via,
        client,
        &request("hello", old, new, policy),
        &mut set_tag("ghcr.io/acme/hello", new),
    )
    .await
}

/// Release `ghcr.io/acme/hello:<tag>` with a request the test shaped itself.
pub async fn release_req(
    via: Via<'_>,
    client: &GitHub,
    req: &Release,
    tag: &str,
) -> anyhow::Result<ReleaseOutcome> {
    release(via, client, req, &mut set_tag("ghcr.io/acme/hello", tag)).await
}

/// The overlay on `main` now.
pub fn main_overlay(gh: &GitHubStandIn) -> String {
    gh.file_at(REPO, "main", OVERLAY)
        .unwrap()
        .unwrap_or_default()
}

/// Requests of a kind the stand-in answered so far.
pub fn requests(gh: &GitHubStandIn, kind: RequestKind) -> usize {
    gh.request_log().iter().filter(|r| r.kind == kind).count()
}

/// Twenty processes' worth of releases of twenty services to one overlay, started
/// together, by git (`git: true`) or through the API: all merge, every service is
/// in the overlay once with its own tag, and each release branch has one PR.
/// Returns the races lost and retried, in all.
pub fn twenty_concurrent_releases(git: bool) -> u32 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gh = rt.block_on(standin());
    let n = 20;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let retries: u32 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let barrier = barrier.clone();
                let gh = &gh;
                s.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        let ws = git.then(|| Workspace::open(&git_opts(gh, TOKEN)).unwrap());
                        let client = api(gh, TOKEN);
                        let service = format!("svc{i}");
                        let image = format!("ghcr.io/acme/{service}");
                        let tag = format!("dev-{i}");
                        let req = request(&service, "-", &tag, MergePolicy::Auto);
                        let via = match &ws {
                            Some(ws) => Via::Git(ws),
                            None => Via::Api(None),
                        };
                        barrier.wait();
                        let out = release(via, &client, &req, &mut set_tag(&image, &tag))
                            .await
                            .unwrap();
                        assert!(out.merged, "{service}: {out:?}");
                        out.retries
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let text = main_overlay(&gh);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for i in 0..n {
        let name = format!("- name: ghcr.io/acme/svc{i}");
        let at: Vec<usize> = (0..lines.len()).filter(|&k| lines[k] == name).collect();
        assert_eq!(at.len(), 1, "svc{i} once:\n{text}");
        assert_eq!(lines[at[0] + 1], format!("newTag: dev-{i}"), "{text}");
    }
    let pulls = gh.pulls(REPO).unwrap();
    for i in 0..n {
        let head = format!("release/svc{i}/dev");
        let count = pulls.iter().filter(|p| p.head == head).count();
        assert_eq!(count, 1, "{head}: {count} PRs");
    }
    if !git {
        assert_eq!(requests(&gh, RequestKind::Git), 0, "no git transport");
    }
    retries
}
