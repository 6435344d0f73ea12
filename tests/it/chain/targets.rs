//! A release to each format of target through the real binary, by `commit-via`
//! api and git: the file at the base afterwards differs from the one before only
//! in the version's bytes; `status` reads it back; `promote` copies the exact tag
//! and digest from a Helm values file into a Kustomize overlay; and the requests
//! per release do not depend on the format.

use super::*;
use gitops_testkit::github::RequestKind::{Git, GraphQl, Rest};

/// One layout: the service's and the environments' target settings, and the
/// file that holds dev's version (`IMAGE` is the registry's image).
struct Layout {
    name: &'static str,
    service: &'static str,
    env: &'static str,
    file: &'static str,
    text: &'static str,
}

const LAYOUTS: &[Layout] = &[
    Layout {
        name: "kustomize per service",
        service: "",
        env: "    overlay: apps/{service}/overlays/{env}\n",
        file: "apps/hello/overlays/dev/kustomization.yaml",
        text: "resources:\n  - ../../base\n\nimages:\n  - name: IMAGE # the app\n    newTag: old\n",
    },
    Layout {
        name: "helm",
        service: "    format: helm\n    file: charts/{service}/values-{env}.yaml\n",
        env: "",
        file: "charts/hello/values-dev.yaml",
        text: "replicaCount: 1\r\n\r\nimage:\r\n  repository: IMAGE\r\n  tag: \"old\" # set by gitops-action\r\n  digest: \"\"\r\n  pullPolicy: IfNotPresent",
    },
    Layout {
        name: "yaml",
        service: "    format: yaml\n    file: envs/{env}/{service}.yaml\n    fields: { image: 'spec.template.spec.containers[0].image' }\n    document: { kind: Deployment, name: hello }\n",
        env: "",
        file: "envs/dev/hello.yaml",
        text: "apiVersion: v1\nkind: Service\nmetadata:\n  name: hello\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: 'IMAGE:old' # pinned\n",
    },
    Layout {
        name: "flux",
        service: "    format: flux\n    file: clusters/{env}/hello.yaml\n    policy: flux-system:hello\n",
        env: "",
        file: "clusters/dev/hello.yaml",
        text: "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: IMAGE:old # {\"$imagepolicy\": \"flux-system:hello\"}\n      - name: side\n        image: IMAGE:old # {\"$imagepolicy\": \"flux-system:other\"}\n",
    },
];

fn config(l: &Layout) -> String {
    format!(
        "services:\n  hello:\n    image: IMAGE\n    context: app\n{}environments:\n  - name: dev\n    branches: [\"**\"]\n    tag: \"dev-{{sha7}}\"\n    merge: immediate\n{}  - name: uat\n    branches: [\"test/uat\"]\n    tag: \"tst-{{sha7}}\"\n    merge: never\n",
        l.service, l.env
    )
}

/// Run one release of `hello` to dev; returns (the file after, requests by kind).
fn release(l: &Layout, via: &str) -> (Rig, String, String, String, (usize, usize, usize)) {
    let rig = Rig::new(&config(l));
    let before = l.text.replace("IMAGE", &rig.image);
    rig.gh
        .push_commit(REPO, "main", &[(l.file, before.as_str())])
        .unwrap();
    let ws = rig.checkout("ws", "main");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    let digest = rig.push_build(&sha);
    let count = |k| rig.gh.request_log().iter().filter(|r| r.kind == k).count();
    let start = (count(Rest), count(GraphQl), count(Git));
    let s = rig
        .dispatch_main(&ws, &[("command", "release"), ("commit-via", via)])
        .ok();
    let used = (
        count(Rest) - start.0,
        count(GraphQl) - start.1,
        count(Git) - start.2,
    );
    assert_eq!(s.out("merged"), "true", "{}", s.run.transcript());
    let tag = s.out("tag").to_string();
    assert_eq!(tag, format!("dev-{}", &sha[..7]));
    let after = rig.gh.file_at(REPO, "main", l.file).unwrap().unwrap();
    (rig, before, after, format!("{tag}@{digest}"), used)
}

#[test]
fn a_release_edits_only_the_version_bytes_in_every_format() {
    for l in LAYOUTS {
        for via in ["api", "git"] {
            let (rig, before, after, version, _) = release(l, via);
            let (tag, digest) = version.split_once('@').unwrap();
            let want = match l.name {
                "kustomize per service" => before.replace(
                    "newTag: old\n",
                    &format!("newTag: {tag}\n    digest: {digest}\n"),
                ),
                "helm" => before
                    .replace("tag: \"old\"", &format!("tag: \"{tag}\""))
                    .replace("digest: \"\"", &format!("digest: \"{digest}\"")),
                "yaml" => before.replace(":old'", &format!(":{tag}@{digest}'")),
                "flux" => before.replacen(":old #", &format!(":{tag} #"), 1),
                _ => unreachable!(),
            };
            assert_eq!(after, want, "{} via {via}", l.name);
            // `status` on a fresh checkout reads the same version back.
            let ws = rig.checkout("after", "main");
            let out = Command::new(BIN)
                .current_dir(&ws)
                .args(["status", "--format", "json"])
                .env_remove("GITHUB_ACTIONS")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let dev = &v["services"][0]["deployed"]["dev"];
            assert_eq!(dev["tag"], tag, "{} {v}", l.name);
            assert_eq!(dev["file"], l.file);
            if l.name != "flux" {
                assert_eq!(dev["digest"], digest, "{} {v}", l.name);
            }
        }
    }
}

#[test]
fn promote_copies_the_exact_tag_and_digest_from_helm_values_into_an_overlay() {
    // dev keeps its version in Helm values, uat in a Kustomize overlay, and both
    // share one tag template, so the exact tag moves.
    let cfg = "services:\n  hello:\n    image: IMAGE\n    context: app\nenvironments:\n  - name: dev\n    branches: [\"**\"]\n    tag: \"v-{sha7}\"\n    merge: immediate\n    format: helm\n    file: values/dev.yaml\n  - name: uat\n    branches: [\"test/uat\"]\n    tag: \"v-{sha7}\"\n    merge: immediate\n";
    let rig = Rig::new(cfg);
    rig.gh
        .push_commit(
            REPO,
            "main",
            &[("values/dev.yaml", "image:\n  tag: none\n  digest: ''\n")],
        )
        .unwrap();
    let ws = rig.checkout("ws", "main");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    let digest = rig.push_build(&sha);
    rig.dispatch_main(&ws, &[("command", "release")]).ok();
    let ws = rig.checkout("ws2", "main");
    let s = rig
        .step(
            &ws,
            "workflow_dispatch",
            dispatch("hello", "refs/heads/main"),
            &[("command", "promote"), ("to", "uat")],
        )
        .ok();
    assert_eq!(s.out("merged"), "true");
    let uat = rig.overlay("uat");
    let tag = format!("v-{}", &sha[..7]);
    assert_eq!(
        entry_line(&uat, "newTag:"),
        format!("newTag: {tag}"),
        "{uat}"
    );
    assert_eq!(
        entry_line(&uat, "digest:"),
        format!("digest: {digest}"),
        "{uat}"
    );
}

/// `scripts/bench-chain`: requests to GitHub for one release, by format and
/// `commit-via`. The format decides which bytes change, never how many requests
/// carry them: one file is read and written either way.
#[test]
#[ignore = "benchmark: run by scripts/bench-chain"]
fn bench_requests_per_release_per_format() {
    let mut seen: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for via in ["api", "git"] {
        for l in LAYOUTS {
            let (.., used) = release(l, via);
            println!(
                "BENCH requests per release, format {:<22} commit-via {via}: {} in all = {} REST + {} GraphQL + {} git round trips",
                l.name,
                used.0 + used.1 + used.2,
                used.0,
                used.1,
                used.2
            );
            if let Some(first) = seen.get(via) {
                assert_eq!(*first, used, "{} via {via}", l.name);
            }
            seen.entry(via).or_insert(used);
        }
    }
}

/// Rollback reads the target file's own history: two releases into a flux-marked
/// file, then one step back restores the first tag there (the digest from the
/// registry, the full marker holding no pin), and only the marked line moves.
#[test]
fn rollback_one_step_in_a_flux_marked_file() {
    let l = &LAYOUTS[3];
    let (rig, _, first, version_a, _) = release(l, "api");
    let (tag_a, digest_a) = version_a.split_once('@').unwrap();
    rig.gh
        .push_commit(REPO, "main", &[("app/hello.txt", "hello again\n")])
        .unwrap();
    let ws = rig.checkout("b", "main");
    let b = git(&ws, &["rev-parse", "HEAD"]);
    rig.reg
        .client()
        .push_image("acme/hello", &format!("sha-{b}"), 2, 2048, 8)
        .unwrap();
    rig.dispatch_main(&ws, &[("command", "release")]).ok();
    let second = rig.gh.file_at(REPO, "main", l.file).unwrap().unwrap();
    assert_ne!(first, second);
    let ws = rig.checkout("c", "main");
    let s = rig
        .step(
            &ws,
            "workflow_dispatch",
            serde_json::json!({"inputs": {}}),
            &[
                ("command", "rollback"),
                ("service", "hello"),
                ("env", "dev"),
                ("steps", "1"),
            ],
        )
        .ok();
    assert_eq!(s.out("tag"), tag_a);
    assert_eq!(s.out("digest"), digest_a);
    assert_eq!(
        rig.gh.file_at(REPO, "main", l.file).unwrap().unwrap(),
        first
    );
}
