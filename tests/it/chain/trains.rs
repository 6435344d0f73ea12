//! Release trains through the real binary against the stand-in and the registry:
//! `trains: { shop: [api, web] }` with members in different files and formats
//! (the shared Kustomize overlay and a Helm values file). One commit of every
//! member's file, one PR on `release/shop/<env>`, one merge; a member without a
//! build writes nothing anywhere; the merged train's deploy records a deployment
//! per member and opens one promotion PR with exactly those versions.

use super::*;
use gitops_testkit::github::RequestKind::{Git, GraphQl, Rest};

/// `HOST` is the registry's. `api` lives in the shared overlay, `web` in a Helm
/// values file, `worker` (not in the train) in the overlay too.
const TRAIN_CONFIG: &str = r#"overlays: overlays
services:
  api:
    image: HOST/acme/api
    context: api
  web:
    image: HOST/acme/web
    context: web
    format: helm
    file: charts/web/values-{env}.yaml
  worker:
    image: HOST/acme/worker
    context: worker
trains:
  shop: [api, web]
environments:
  - name: dev
    branches: ["**", "!test/**"]
    tag: "dev-{sha7}"
    merge: immediate
  - name: uat
    branches: ["test/uat"]
    tag: "tst-{sha7}"
    merge: never
"#;

const VALUES: &str = "replicaCount: 1\nimage:\n  repository: HOST/acme/web\n  tag: \"old\" # set by gitops-action\n  digest: \"\"\n";

fn overlay(host: &str, env: &str) -> String {
    format!(
        "resources:\n  - ../../base\nimages:\n  - name: {host}/acme/api\n    newTag: {env}-old\n  - name: {host}/acme/worker\n    newTag: {env}-old\n"
    )
}

struct TrainRig {
    rig: Rig,
    ws: PathBuf,
    sha: String,
}

/// A rig for the train config; `built`: the services whose CI build of the
/// checkout's head is in the registry.
fn train_rig(built: &[&str]) -> TrainRig {
    let reg = TestRegistry::start(Auth::Token).unwrap();
    let host = reg.host();
    let config = TRAIN_CONFIG.replace("HOST", &host);
    let values = VALUES.replace("HOST", &host);
    let dev = overlay(&host, "dev");
    let uat = overlay(&host, "uat");
    let own: Vec<(&str, &str)> = vec![
        ("overlays/dev/kustomization.yaml", dev.as_str()),
        ("overlays/uat/kustomization.yaml", uat.as_str()),
        ("charts/web/values-dev.yaml", values.as_str()),
        ("charts/web/values-uat.yaml", values.as_str()),
    ];
    let rig = Rig::with_files(&config, reg, &host, &own);
    let ws = rig.checkout("ws", "main");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    for (i, s) in built.iter().enumerate() {
        rig.reg
            .client()
            .push_image(
                &format!("acme/{s}"),
                &format!("sha-{sha}"),
                2,
                2048,
                7 + i as u64,
            )
            .unwrap();
    }
    TrainRig { rig, ws, sha }
}

impl TrainRig {
    fn release(&self, inputs: &[(&str, &str)]) -> Step {
        let mut all = vec![("command", "release"), ("env", "dev"), ("build", "never")];
        all.extend_from_slice(inputs);
        self.rig.step(
            &self.ws,
            "workflow_dispatch",
            serde_json::json!({"inputs": {}, "ref": "refs/heads/main"}),
            &all,
        )
    }

    fn file(&self, path: &str) -> String {
        self.rig.gh.file_at(REPO, "main", path).unwrap().unwrap()
    }

    fn tag_of(&self, service: &str, tag: &str) -> Option<String> {
        let repo = format!("acme/{service}");
        self.rig
            .reg
            .client()
            .get_manifest(&repo, tag)
            .ok()
            .flatten()
            .map(|(_, bytes)| gitops_testkit::registry::digest_of(&bytes))
    }
}

/// One commit of both members' files (the overlay and the values file), one PR
/// on `release/shop/dev` whose body has each member's old → new tag and digest,
/// one merge; `worker` (not in the train) is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_train_moves_as_one_commit_one_pr_one_merge() {
    let t = train_rig(&["api", "web"]);
    let s = t.release(&[("train", "shop")]).ok();
    let tag = format!("dev-{}", &t.sha[..7]);
    assert_eq!(s.out("merged"), "true", "{}", s.run.transcript());
    assert_eq!(s.out("train"), "shop");
    assert_eq!(s.out("services"), r#"["api","web"]"#);
    assert_eq!(s.out("tag"), tag);
    let digests: serde_json::Value = serde_json::from_str(s.out("digests")).unwrap();
    assert!(digests["api"].as_str().unwrap().starts_with("sha256:"));
    assert_ne!(digests["api"], digests["web"]);
    // Both files at the base carry the new versions; worker keeps its own.
    let ov = t.file("overlays/dev/kustomization.yaml");
    assert!(ov.contains(&format!("newTag: {tag}")), "{ov}");
    assert!(ov.contains("newTag: dev-old"), "worker moved: {ov}");
    let values = t.file("charts/web/values-dev.yaml");
    assert!(values.contains(&format!("tag: \"{tag}\"")), "{values}");
    assert!(
        values.contains(digests["web"].as_str().unwrap()),
        "{values}"
    );
    // One PR, one merge commit that changed exactly the two files.
    let pulls = t.rig.gh.pulls(REPO).unwrap();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let pr = &pulls[0];
    assert_eq!(pr.head, "release/shop/dev");
    assert!(pr.merged);
    assert!(
        pr.title.starts_with("shop: dev api dev-old → "),
        "{}",
        pr.title
    );
    for needle in [
        "Release of train **shop** (**api**, **web**) to **dev**",
        "| api |",
        "| web |",
        digests["api"].as_str().unwrap(),
        digests["web"].as_str().unwrap(),
    ] {
        assert!(pr.body.contains(needle), "{needle} not in\n{}", pr.body);
    }
    let merge = pr.merge_commit_sha.clone().unwrap();
    let files = t
        .rig
        .gh
        .git(REPO, &["diff", "--name-only", &format!("{merge}^"), &merge])
        .unwrap();
    assert_eq!(
        files.lines().collect::<Vec<_>>(),
        [
            "charts/web/values-dev.yaml",
            "overlays/dev/kustomization.yaml"
        ]
    );
    // Each member's image got the environment's tag.
    assert_eq!(t.tag_of("api", &tag).as_deref(), digests["api"].as_str());
    assert_eq!(t.tag_of("web", &tag).as_deref(), digests["web"].as_str());
    assert!(t.tag_of("worker", &tag).is_none());
}

/// `web` has no build of the commit: nothing is written anywhere (no tag on
/// `api` either, no branch, no PR), exit 1 as for one service, the missing named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_a_build_writes_nothing() {
    let t = train_rig(&["api"]);
    let before = t.rig.gh.branches(REPO).unwrap();
    let s = t.release(&[("train", "shop")]);
    assert_eq!(s.run.code, 1, "{}", s.run.transcript());
    assert!(s.run.stderr.contains("/acme/web:sha-"), "{}", s.run.stderr);
    assert!(s.run.stderr.contains("hint:"), "{}", s.run.stderr);
    let tag = format!("dev-{}", &t.sha[..7]);
    assert!(t.tag_of("api", &tag).is_none(), "api was retagged");
    assert_eq!(t.rig.gh.branches(REPO).unwrap(), before);
    assert!(t.rig.gh.pulls(REPO).unwrap().is_empty());
}

/// `services` restricts the train to some members: only `api` moves, still on
/// the train's branch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_restricts_a_train_to_some_members() {
    let t = train_rig(&["api"]);
    let s = t
        .release(&[("train", "shop"), ("services", r#"["api"]"#)])
        .ok();
    assert_eq!(s.out("services"), r#"["api"]"#);
    let pulls = t.rig.gh.pulls(REPO).unwrap();
    assert_eq!(pulls[0].head, "release/shop/dev");
    assert!(
        t.file("charts/web/values-dev.yaml")
            .contains("tag: \"old\"")
    );
}

/// Bad input is exit 2 with a hint and writes nothing: an unknown train, a
/// non-member in `services`, `service` and `train` together, `services` alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_train_inputs_are_exit_2_and_write_nothing() {
    let t = train_rig(&["api", "web"]);
    for (inputs, says) in [
        (vec![("train", "cart")], "unknown train `cart`"),
        (vec![("train", "api")], "`api` is a service, not a train"),
        (
            vec![("train", "shop"), ("services", "api,worker")],
            "`worker`, which is not a member of train `shop`",
        ),
        (
            vec![("train", "shop"), ("service", "api")],
            "both `service` (`api`) and `train` (`shop`) are set",
        ),
        (
            vec![("services", "api")],
            "`services` is set without `train`",
        ),
    ] {
        let s = t.release(&inputs);
        assert_eq!(s.run.code, 2, "{inputs:?}: {}", s.run.transcript());
        assert!(s.run.stderr.contains(says), "{inputs:?}: {}", s.run.stderr);
        assert!(s.run.stderr.contains("hint:"), "{}", s.run.stderr);
    }
    assert!(t.rig.gh.pulls(REPO).unwrap().is_empty());
}

/// The merged train's deploy (the `pull_request: closed` event of
/// `release/shop/dev`): one deployment per member, then one uat PR on
/// `release/shop/uat` with exactly the versions deployed together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_of_a_merged_train_records_each_member_and_promotes_it_as_one() {
    let t = train_rig(&["api", "web"]);
    let s = t.release(&[("train", "shop")]).ok();
    let digests: serde_json::Value = serde_json::from_str(s.out("digests")).unwrap();
    let pr = t.rig.gh.pulls(REPO).unwrap().remove(0);
    let merge = pr.merge_commit_sha.clone().unwrap();
    let ws = t.rig.checkout("deploy", "main");
    let d = t
        .rig
        .step(
            &ws,
            "pull_request",
            merged_pr_event(pr.number, "release/shop/dev", &merge),
            &[("command", "deploy")],
        )
        .ok();
    assert_eq!(d.out("train"), "shop", "{}", d.run.transcript());
    let ids: serde_json::Value = serde_json::from_str(d.out("deployment-ids")).unwrap();
    assert_eq!(ids.as_object().unwrap().len(), 2, "{ids}");
    let deps = t.rig.gh.deployments(REPO).unwrap();
    assert_eq!(deps.len(), 2, "{deps:?}");
    let mut services: Vec<&str> = deps
        .iter()
        .map(|d| d.payload["service"].as_str().unwrap())
        .collect();
    services.sort();
    assert_eq!(services, ["api", "web"]);
    for dep in &deps {
        assert_eq!(dep.environment, "dev");
        assert_eq!(dep.sha, merge);
        // Both stay active: the second's success does not retire the first.
        assert_eq!(dep.statuses.last().unwrap().state, "success", "{dep:?}");
    }
    // One promotion PR, both members, the same digests under uat's tag.
    let uat = t
        .rig
        .gh
        .pulls(REPO)
        .unwrap()
        .into_iter()
        .filter(|p| p.head == "release/shop/uat")
        .collect::<Vec<_>>();
    assert_eq!(uat.len(), 1);
    let tst = format!("tst-{}", &t.sha[..7]);
    let tags: serde_json::Value = serde_json::from_str(d.out("next-tags")).unwrap();
    assert_eq!(tags["api"], tst.as_str());
    assert_eq!(tags["web"], tst.as_str());
    assert_eq!(t.tag_of("api", &tst).as_deref(), digests["api"].as_str());
    assert_eq!(t.tag_of("web", &tst).as_deref(), digests["web"].as_str());
    let head = t
        .rig
        .gh
        .branch_sha(REPO, "release/shop/uat")
        .unwrap()
        .unwrap();
    let values = t
        .rig
        .gh
        .file_at(REPO, &head, "charts/web/values-uat.yaml")
        .unwrap()
        .unwrap();
    assert!(values.contains(&tst), "{values}");
    let ov = t
        .rig
        .gh
        .file_at(REPO, &head, "overlays/uat/kustomization.yaml")
        .unwrap()
        .unwrap();
    assert!(ov.contains(&format!("newTag: {tst}")), "{ov}");
    assert!(ov.contains("newTag: uat-old"), "worker moved: {ov}");
}

/// A train and a release of one of its members alone, at the same time: both
/// land (the later one re-applies on the new base), and the base ends with the
/// train's version of `web` and `api` from whichever merged last, each PR merged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_train_and_a_member_released_alone_at_once_lose_nothing() {
    let t = train_rig(&["api", "web", "worker"]);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| t.release(&[("train", "shop")]));
        let b = s.spawn(|| t.release(&[("service", "worker")]));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.run.code, 0, "{}", a.run.transcript());
    assert_eq!(b.run.code, 0, "{}", b.run.transcript());
    let tag = format!("dev-{}", &t.sha[..7]);
    let ov = t.file("overlays/dev/kustomization.yaml");
    assert_eq!(ov.matches(&format!("newTag: {tag}")).count(), 2, "{ov}");
    assert!(t.file("charts/web/values-dev.yaml").contains(&tag));
    let pulls = t.rig.gh.pulls(REPO).unwrap();
    assert_eq!(pulls.len(), 2);
    assert!(pulls.iter().all(|p| p.merged), "{pulls:?}");
}

/// The request budget of a train: N = 1, 10 and 50 members cost the GitHub
/// requests of one service's release plus at most 2, and the registry's work per
/// member is bounded (run concurrently). Printed for `scripts/bench-chain`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by scripts/bench-chain"]
async fn bench_requests_per_train() {
    for n in [1usize, 10, 50] {
        let reg = TestRegistry::start(Auth::Token).unwrap();
        let host = reg.host();
        // `solo` (not in the train) is the one service released alone beside it.
        let mut config = format!(
            "overlays: overlays\nservices:\n  solo:\n    image: {host}/acme/solo\n    context: app\n"
        );
        let mut images = format!("  - name: {host}/acme/solo\n    newTag: old\n");
        for i in 0..n {
            config.push_str(&format!(
                "  s{i}:\n    image: {host}/acme/s{i}\n    context: app\n"
            ));
            images.push_str(&format!("  - name: {host}/acme/s{i}\n    newTag: old\n"));
        }
        let members: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
        config.push_str(&format!(
            "trains:\n  fleet: [{}]\nenvironments:\n  - name: dev\n    branches: [\"**\"]\n    tag: \"dev-{{sha7}}\"\n    merge: immediate\n",
            members.join(", ")
        ));
        let overlay = format!("resources:\n  - ../../base\nimages:\n{images}");
        let rig = Rig::with_files(
            &config,
            reg,
            &host,
            &[("overlays/dev/kustomization.yaml", overlay.as_str())],
        );
        let ws = rig.checkout("ws", "main");
        let sha = git(&ws, &["rev-parse", "HEAD"]);
        let names = (0..n).map(|i| format!("s{i}")).chain(["solo".to_string()]);
        for (i, name) in names.enumerate() {
            let repo = format!("acme/{name}");
            let tag = format!("sha-{sha}");
            rig.reg
                .client()
                .push_image(&repo, &tag, 2, 2048, i as u64)
                .unwrap();
        }
        let count = |k| rig.gh.request_log().iter().filter(|r| r.kind == k).count();
        let run = |inputs: &[(&str, &str)]| {
            let start = (count(Rest), count(GraphQl), count(Git));
            let mut all = vec![("command", "release"), ("env", "dev"), ("build", "never")];
            all.extend_from_slice(inputs);
            let s = rig
                .step(
                    &ws,
                    "workflow_dispatch",
                    serde_json::json!({"inputs": {}, "ref": "refs/heads/main"}),
                    &all,
                )
                .ok();
            let used = count(Rest) - start.0 + count(GraphQl) - start.1 + count(Git) - start.2;
            (s, used)
        };
        let (s, single) = run(&[("service", "solo")]);
        assert_eq!(s.out("merged"), "true");
        let solo_ms = s.elapsed.as_millis();
        let registry_of = |s: &Step| {
            s.run
                .stderr
                .lines()
                .find_map(|l| l.strip_prefix("registry: "))
                .unwrap_or("?")
                .to_string()
        };
        let solo_registry = registry_of(&s);
        let (s, used) = run(&[("train", "fleet")]);
        assert_eq!(s.out("merged"), "true", "{}", s.run.transcript());
        let registry = registry_of(&s);
        println!(
            "BENCH train of {n}: {used} GitHub requests, registry {registry}, {} ms (one service beside it: {single} GitHub, registry {solo_registry}, {solo_ms} ms)",
            s.elapsed.as_millis()
        );
        assert!(used <= single + 2, "train of {n}: {used} requests");
    }
}

/// The fault suite on a train (chain inline: release, merge, a deployment per
/// member, the uat train PR): one lost answer in the middle — the commit with its
/// PR, the merge, the second member's deployment, a status, the uat PR — then a
/// re-run. It
/// converges with no duplicate: one dev PR, merged; one deployment per member;
/// one uat PR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_in_the_middle_of_a_train_converges_on_a_re_run() {
    use gitops_testkit::github::{Fault, FaultKind};
    let cases: &[(&str, &str, usize)] = &[
        // The commit with the PR's creation, in one document.
        ("POST", "createPullRequest", 1),
        // The merge, with the uat read in its payload.
        ("POST", "mergePullRequest", 1),
        // The uat PR's document (and the dev branch's delete in it).
        ("POST", "createPullRequest", 2),
        ("POST", "/repos/acme/app/deployments", 2),
        // The second member's `success` (no gate: no `in_progress`).
        ("POST", "/statuses", 2),
    ];
    for (method, path, nth) in cases {
        let t = train_rig(&["api", "web"]);
        t.rig
            .gh
            .inject(Fault::new(method, path, *nth, FaultKind::LostAnswer));
        let inputs = [("train", "shop"), ("chain", "inline")];
        let first = t.release(&inputs);
        let case = format!("{method} {path} #{nth}");
        assert!(t.rig.gh.faults_fired() == 1, "{case}: the fault never hit");
        assert!(
            !first.run.stderr.contains("panicked"),
            "{case}: {}",
            first.run.transcript()
        );
        let again = t.release(&inputs);
        assert_eq!(again.run.code, 0, "{case}: {}", again.run.transcript());
        let pulls = t.rig.gh.pulls(REPO).unwrap();
        let dev: Vec<_> = pulls
            .iter()
            .filter(|p| p.head == "release/shop/dev")
            .collect();
        assert_eq!(dev.len(), 1, "{case}: {pulls:?}");
        assert!(dev[0].merged, "{case}");
        let tag = format!("dev-{}", &t.sha[..7]);
        assert!(
            t.file("charts/web/values-dev.yaml").contains(&tag),
            "{case}"
        );
        let deps = t.rig.gh.deployments(REPO).unwrap();
        for member in ["api", "web"] {
            let n = deps
                .iter()
                .filter(|d| d.environment == "dev" && d.payload["service"] == member)
                .count();
            // The re-run finds the change merged and moves nothing: the first run
            // must have deployed each member exactly once (or said why not).
            assert!(n <= 1, "{case}: {member} deployed {n} times");
            if first.run.code == 0 {
                assert_eq!(n, 1, "{case}: {member}: {}", first.run.transcript());
            }
        }
        let uat = pulls
            .iter()
            .filter(|p| p.head == "release/shop/uat")
            .count();
        assert!(uat <= 1, "{case}: {uat} uat PRs");
        if first.run.code == 0 {
            assert_eq!(uat, 1, "{case}");
        }
    }
}

/// Members released together before share their commit range. Where the way from
/// the old commit to the new one is linear, the first read's history (the released
/// commit's newest commits, in the same GraphQL query) gives every member's list:
/// no compare at all. Past a merge commit the window cannot cut the other side at
/// the old commit, so GitHub's compare is asked, once for both members.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_with_one_old_commit_share_one_compare() {
    for merged in [false, true] {
        let t = train_rig(&[]);
        let old = t.sha.clone();
        // What runs now: both members' images of the first commit, labelled with it.
        for (repo, tag, seed) in [("acme/api", "dev-old", 40), ("acme/web", "old", 41)] {
            t.rig
                .reg
                .client()
                .push_image_labelled(
                    repo,
                    tag,
                    1,
                    512,
                    seed,
                    ("linux", "amd64"),
                    &[("org.opencontainers.image.revision", old.as_str())],
                )
                .unwrap();
        }
        let change = t
            .rig
            .gh
            .push_commit(REPO, "main", &[("api/main.go", "package main // v2\n")])
            .unwrap();
        let new = if merged {
            // A side branch from the old commit, merged into main with a merge
            // commit (as "Create a merge commit" does).
            let git = |args: &[&str]| t.rig.gh.git(REPO, args).unwrap().trim().to_string();
            let id = ["-c", "user.name=Ann", "-c", "user.email=ann@example.com"];
            let tree = git(&["rev-parse", &format!("{old}^{{tree}}")]);
            let side = git(&[&id[..], &["commit-tree", &tree, "-p", &old, "-m", "side"]].concat());
            let top = git(&["rev-parse", &format!("{change}^{{tree}}")]);
            let merge = git(&[
                &id[..],
                &[
                    "commit-tree",
                    &top,
                    "-p",
                    &change,
                    "-p",
                    &side,
                    "-m",
                    "Merge side",
                ],
            ]
            .concat());
            git(&["update-ref", "refs/heads/main", &merge, &change]);
            merge
        } else {
            change.clone()
        };
        let ws = t.rig.checkout("ws2", "main");
        for (i, s) in ["api", "web"].iter().enumerate() {
            t.rig
                .reg
                .client()
                .push_image(
                    &format!("acme/{s}"),
                    &format!("sha-{new}"),
                    2,
                    2048,
                    50 + i as u64,
                )
                .unwrap();
        }
        let compares = || {
            t.rig
                .gh
                .request_log()
                .iter()
                .filter(|r| r.path.contains("/compare/"))
                .count()
        };
        let before = compares();
        let s = t.rig.step(
            &ws,
            "workflow_dispatch",
            serde_json::json!({"inputs": {}, "ref": "refs/heads/main"}),
            &[
                ("command", "release"),
                ("env", "dev"),
                ("build", "never"),
                ("train", "shop"),
            ],
        );
        assert_eq!(s.run.code, 0, "{}", s.run.transcript());
        let pr = t.rig.gh.pulls(REPO).unwrap().remove(0);
        if merged {
            assert_eq!(compares() - before, 1, "one compare for both members");
            for heading in ["### api: commits (3)", "### web: commits (3)"] {
                assert!(pr.body.contains(heading), "{heading}:\n{}", pr.body);
            }
            assert!(pr.body.contains(&new[..7]), "{}", pr.body);
        } else {
            assert_eq!(compares() - before, 0, "the history told both lists");
            for heading in ["### api: commits (1)", "### web: commits (1)"] {
                assert!(pr.body.contains(heading), "{heading}:\n{}", pr.body);
            }
        }
        assert!(pr.body.contains(&change[..7]), "{}", pr.body);
        // Tags without a commit in them (`dev-old`): the old end is the label's.
        assert!(
            pr.body.contains("(the running image's revision label)"),
            "{}",
            pr.body
        );
    }
}

/// A member whose target in the environment is missing, or lacks its fields:
/// exit 2 naming the file, and nothing written anywhere (the other member's image
/// is not retagged either), checked in the same read that precedes every write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_a_target_in_the_environment_writes_nothing() {
    for (change, says) in [
        (None, "`charts/web/values-dev.yaml` does not exist"),
        (Some("replicaCount: 1\n"), "charts/web/values-dev.yaml"),
    ] {
        let t = train_rig(&["api", "web"]);
        t.rig
            .gh
            .push_change(
                REPO,
                "main",
                &[("charts/web/values-dev.yaml", change)],
                "drop web",
            )
            .unwrap();
        let before = t.rig.gh.branches(REPO).unwrap();
        let s = t.release(&[("train", "shop")]);
        assert_eq!(s.run.code, 2, "{change:?}: {}", s.run.transcript());
        assert!(s.run.stderr.contains(says), "{}", s.run.stderr);
        assert!(s.run.stderr.contains("hint:"), "{}", s.run.stderr);
        let tag = format!("dev-{}", &t.sha[..7]);
        assert!(t.tag_of("api", &tag).is_none(), "api was retagged");
        assert_eq!(t.rig.gh.branches(REPO).unwrap(), before);
        assert!(t.rig.gh.pulls(REPO).unwrap().is_empty());
    }
}

/// The twenty-process race, with trains in it: twenty services, two trains of
/// five, and fourteen processes at once: both trains, a release alone of one
/// member of each, and the other ten services alone. Every service ends at the
/// new version exactly once; each train's PR merged; a member's own PR merged or,
/// when its train landed the same version first, closed as stale.
#[test]
fn twenty_services_two_trains_fourteen_processes_lose_nothing() {
    let n = 20;
    let reg = TestRegistry::start(Auth::Token).unwrap();
    let host = reg.host();
    let mut config = String::from("overlays: overlays\nservices:\n");
    for i in 0..n {
        config.push_str(&format!("  svc{i:02}:\n    image: {host}/acme/svc{i:02}\n"));
    }
    config.push_str("trains:\n  north: [svc00, svc01, svc02, svc03, svc04]\n  south: [svc05, svc06, svc07, svc08, svc09]\n");
    config.push_str(
        "environments:\n  - name: dev\n    branches: [\"**\"]\n    tag: \"dev-{sha7}\"\n    merge: auto\n",
    );
    let rig = Rig::with_registry(&config, reg);
    let ws = rig.checkout("ws", "main");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    for i in 0..n {
        let (repo, tag) = (format!("acme/svc{i:02}"), format!("sha-{sha}"));
        rig.reg
            .client()
            .push_image(&repo, &tag, 1, 512, i as u64)
            .unwrap();
    }
    let mut who: Vec<(&str, String)> = vec![
        ("--train", "north".into()),
        ("--train", "south".into()),
        ("--service", "svc00".into()),
        ("--service", "svc05".into()),
    ];
    who.extend((10..n).map(|i| ("--service", format!("svc{i:02}"))));
    let children: Vec<_> = who
        .iter()
        .map(|(flag, name)| rig.spawn_release(&ws, &[flag, name, "--env", "dev"]))
        .collect();
    for ((_, name), child) in who.iter().zip(children) {
        let run = Run::from(child.wait_with_output().unwrap());
        assert_eq!(run.code, 0, "{name}: {}", run.transcript());
    }
    let text = rig.overlay("dev");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for i in 0..n {
        let name = format!("- name: {host}/acme/svc{i:02}");
        let at: Vec<usize> = (0..lines.len()).filter(|&k| lines[k] == name).collect();
        assert_eq!(at.len(), 1, "svc{i:02} once:\n{text}");
        assert_eq!(
            lines[at[0] + 1],
            format!("newTag: dev-{}", &sha[..7]),
            "{text}"
        );
    }
    let pulls = rig.gh.pulls(REPO).unwrap();
    for head in ["release/north/dev", "release/south/dev"] {
        let prs: Vec<_> = pulls.iter().filter(|p| p.head == head).collect();
        assert_eq!(prs.len(), 1, "{head}");
        assert!(prs[0].merged, "{head}");
    }
    for i in (10..n).chain([0, 5]) {
        let head = format!("release/svc{i:02}/dev");
        let prs: Vec<_> = pulls.iter().filter(|p| p.head == head).collect();
        assert!(prs.len() <= 1, "{head}: {prs:?}");
        if i >= 10 {
            assert!(prs.len() == 1 && prs[0].merged, "{head}");
        } else if let Some(p) = prs.first() {
            assert!(p.merged || p.state == "closed", "{head}: {p:?}");
        }
    }
}
