//! A release through the shipped workflows, unchanged, for the example layouts
//! (`examples/layouts/`): Helm values per service and environment, and one
//! Kustomize folder per application. The journey is journey 1's: a person runs
//! service-release from the Actions tab for `feature/x`; dev is merged, the deploy
//! run follows through the dispatch, and the uat promotion opens in uat's file.

use gitops_testkit::workflow::RunRecord;

use crate::*;

/// The layout's tree as a repository's files, its images at the local registry.
fn layout_files(name: &str, image: &str) -> Vec<(String, String)> {
    let root = repo_root().join("examples/layouts").join(name);
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let text = std::fs::read_to_string(&p)
                    .unwrap()
                    .replace("ghcr.io/acme/hello", image);
                out.push((rel, text));
            }
        }
    }
    out.sort();
    out
}

fn release_in(layout: &str, dev: &str, uat: &str, key: &str) {
    let rig = Rig::new(CONFIG_000);
    let files = layout_files(layout, &rig.image);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    rig.gh.push_commit(REPO, "main", &refs).unwrap();
    let sha_x = rig
        .gh
        .push_commit(REPO, "feature/x", &[("app/hello.txt", "hello from x\n")])
        .unwrap();
    let build = rig.push_build(&sha_x);
    let dev_before = rig.gh.file_at(REPO, "main", dev).unwrap().unwrap();
    let mut r = rig.runner();
    let runs: Vec<RunRecord> = r
        .click_run_workflow(
            &rig.alice,
            "service-release.yaml",
            "main",
            &[("service", "hello"), ("ref", "feature/x")],
        )
        .unwrap();
    print_figures(&format!("layout {layout}"), &runs);
    expect_runs(
        &runs,
        &[
            ("service-release.yaml", "workflow_dispatch", "success"),
            ("overlay-deploy.yaml", "workflow_dispatch", "success"),
        ],
    );
    let step = &runs[0].action_steps()[1];
    let tag = step.outputs["tag"].clone();
    assert!(
        tag.starts_with(&format!("dev-feature-x-{}-", &sha_x[..7])),
        "{tag}"
    );
    assert_eq!(step.outputs["merged"], "true");
    // Dev's file on main: the version's line changed, every other byte as it was.
    let dev_after = rig.gh.file_at(REPO, "main", dev).unwrap().unwrap();
    let changed: Vec<(&str, &str)> = dev_before
        .lines()
        .zip(dev_after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        dev_before.lines().count(),
        dev_after.lines().count(),
        "{dev_after}"
    );
    assert!(!changed.is_empty() && changed.len() <= 2, "{changed:?}");
    assert_eq!(entry(&dev_after, key), tag, "{dev_after}");
    // The deployment, then the uat promotion in uat's own file.
    let deployments = rig.gh.deployments(REPO).unwrap();
    assert_eq!(deployments.len(), 1, "{deployments:#?}");
    assert_eq!(deployments[0].payload["digest"], build.as_str());
    rig.open_pr("release/hello/uat")
        .expect("the uat PR is open");
    let uat_text = rig
        .gh
        .file_at(REPO, "release/hello/uat", uat)
        .unwrap()
        .unwrap();
    let uat_tag = entry(&uat_text, key);
    assert!(
        uat_tag.starts_with(&format!("tst-{}-", &sha_x[..7])),
        "{uat_text}"
    );
    assert_eq!(rig.digest(&uat_tag).as_deref(), Some(build.as_str()));
}

#[test]
fn a_release_through_the_workflows_in_a_helm_layout() {
    release_in(
        "helm",
        "charts/hello/values-dev.yaml",
        "charts/hello/values-uat.yaml",
        "tag:",
    );
}

#[test]
fn a_release_through_the_workflows_in_a_per_service_kustomize_layout() {
    release_in(
        "per-service-kustomize",
        "apps/hello/overlays/dev/kustomization.yaml",
        "apps/hello/overlays/uat/kustomization.yaml",
        "newTag:",
    );
}
