//! A monorepo of services on the workflow runner: `examples/monorepo/`'s own
//! files (its config, overlays and `release.yaml`, with the shipped
//! `overlay-deploy.yaml` beside it as its README says), a push to `main`, and the
//! matrix GitHub makes of `changed`'s output. Then the matrix itself, with a probe
//! workflow: fail-fast, max-parallel, `needs` and outputs of a matrix job, an empty
//! vector with and without an `if:`.

use std::path::Path;

use gitops_testkit::github::{GitHubStandIn, TokenGrants};
use gitops_testkit::registry::TestRegistry;
use gitops_testkit::seed::as_refs;
use gitops_testkit::workflow::{ActionMode, Person, RunRecord, Runner};

use crate::*;

const MONO: &str = "acme/mono";
const SERVICES: [&str; 3] = ["api", "web", "worker"];

struct Mono {
    gh: GitHubStandIn,
    reg: TestRegistry,
    alice: Person,
}

/// Every file under `dir`, relative to it.
fn tree(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

impl Mono {
    /// The example as a repository, its images at the local registry, plus
    /// `extra` files (a probe workflow).
    fn new(extra: &[(&str, &str)]) -> Mono {
        // GHCR's rules in front of the registry; each service's package lets
        // the monorepo's workflows write it (Manage Actions access).
        let reg = TestRegistry::start_ghcr().unwrap();
        for s in SERVICES {
            reg.grant_actions_access(&format!("acme/{s}"), MONO, true);
        }
        let gh = GitHubStandIn::start_blocking().unwrap();
        let root = repo_root();
        let host = reg.host();
        let mut files: Vec<(String, String)> = tree(&root.join("examples/monorepo"))
            .into_iter()
            .filter(|(p, _)| p != "README.md")
            .map(|(p, t)| (p, t.replace("ghcr.io/acme/", &format!("{host}/acme/"))))
            .collect();
        files.push((
            ".github/workflows/overlay-deploy.yaml".into(),
            std::fs::read_to_string(root.join(".github/workflows/overlay-deploy.yaml")).unwrap(),
        ));
        for (p, t) in extra {
            files.push((p.to_string(), t.to_string()));
        }
        gh.create_repo(MONO, "main", &as_refs(&files)).unwrap();
        let alice = Person {
            login: "alice".into(),
            token: "ghp_aliceMonorepoMaintainer0123456789ab".into(),
        };
        gh.add_token(&alice.token, TokenGrants::user("alice"));
        gh.add_collaborator(MONO, "alice", "maintain").unwrap();
        Mono { gh, reg, alice }
    }

    fn runner(&self) -> Runner<'_> {
        let mut r = Runner::new(
            &self.gh,
            MONO,
            &repo_root().join("action.yml"),
            ActionMode::Binary(BIN.into()),
        )
        .unwrap();
        r.registry = Some(&self.reg);
        r
    }

    /// CI's build of every service at `sha`.
    fn build_all(&self, sha: &str) {
        for (n, s) in SERVICES.iter().enumerate() {
            self.reg
                .client()
                .push_image(
                    &format!("acme/{s}"),
                    &format!("sha-{sha}"),
                    1,
                    512,
                    n as u64,
                )
                .unwrap();
        }
    }

    fn dev_tag(&self, service: &str) -> String {
        let text = self
            .gh
            .file_at(MONO, "main", "overlays/dev/kustomization.yaml")
            .unwrap()
            .unwrap();
        let image = format!("{}/acme/{service}", self.reg.host());
        let mut lines = text.lines().skip_while(|l| !l.ends_with(&image));
        lines.next();
        entry(lines.next().unwrap_or_default(), "newTag:")
    }
}

fn jobs(run: &RunRecord) -> Vec<(String, String)> {
    run.jobs
        .iter()
        .map(|j| (j.name.clone(), j.result.clone()))
        .collect()
}

#[test]
fn a_push_changing_two_of_three_services_releases_exactly_those_two() {
    let m = Mono::new(&[]);
    let mut r = m.runner();
    let sha = r
        .queue_push(
            &m.alice,
            "main",
            &[
                ("services/api/main.go", "package main // v2\n"),
                ("shared/proto/jobs.proto", "syntax = \"proto3\"; // v2\n"),
            ],
        )
        .unwrap();
    m.build_all(&sha);
    let runs = r.settle().unwrap();
    print_figures("monorepo push", &runs);
    let release = &runs[0];
    assert_eq!(release.workflow, "release.yaml", "{}", release.describe());
    assert_eq!(release.conclusion, "success", "{}", release.describe());
    assert_eq!(
        release.job("changed").outputs["services"],
        r#"["api","worker"]"#
    );
    // One job per listed service, each in its own group.
    assert_eq!(
        jobs(release),
        vec![
            ("changed".to_string(), "success".to_string()),
            ("release (api)".into(), "success".into()),
            ("release (worker)".into(), "success".into()),
        ],
        "{}",
        release.describe()
    );
    assert_eq!(
        release.job("release (api)").concurrency.as_deref(),
        Some("gitops-api-dev")
    );
    assert_eq!(
        release.job("release (worker)").concurrency.as_deref(),
        Some("gitops-worker-dev")
    );
    let steps = &release.job("release (worker)").steps;
    assert_eq!(steps[1].env["INPUT_SERVICE"], "worker");
    // Two release PRs, merged; two deploy runs dispatched; web untouched.
    let pulls = m.gh.pulls(MONO).unwrap();
    let mut heads: Vec<&str> = pulls.iter().map(|p| p.head.as_str()).collect();
    heads.sort();
    assert_eq!(
        heads,
        ["release/api/dev", "release/worker/dev"],
        "{pulls:#?}"
    );
    assert!(pulls.iter().all(|p| p.merged), "{pulls:#?}");
    let deploys: Vec<&RunRecord> = runs
        .iter()
        .filter(|x| x.workflow == "overlay-deploy.yaml")
        .collect();
    assert_eq!(
        deploys.len(),
        2,
        "{}",
        runs.iter().map(RunRecord::describe).collect::<String>()
    );
    assert!(deploys.iter().all(|d| d.conclusion == "success"));
    let deployments = m.gh.deployments(MONO).unwrap();
    let mut envs: Vec<String> = deployments
        .iter()
        .map(|d| {
            format!(
                "{}:{}",
                d.payload["service"].as_str().unwrap_or("?"),
                d.environment
            )
        })
        .collect();
    envs.sort();
    assert_eq!(envs, ["api:dev", "worker:dev"], "{deployments:#?}");
    let short = &sha[..7];
    assert!(m.dev_tag("api").starts_with(&format!("dev-{short}-")));
    assert!(m.dev_tag("worker").starts_with(&format!("dev-{short}-")));
    assert_eq!(m.dev_tag("web"), "0");
}

#[test]
fn a_push_changing_no_service_skips_the_matrix_job_and_the_run_is_green() {
    let m = Mono::new(&[]);
    let mut r = m.runner();
    // Docs of the worker do not release it (its `paths:` exclude them).
    let sha = r
        .queue_push(
            &m.alice,
            "main",
            &[
                ("README.md", "# notes\n"),
                ("services/worker/NOTES.md", "later\n"),
            ],
        )
        .unwrap();
    m.build_all(&sha);
    let runs = r.settle().unwrap();
    expect_runs(&runs, &[("release.yaml", "push", "success")]);
    assert_eq!(runs[0].job("changed").outputs["services"], "[]");
    assert_eq!(
        jobs(&runs[0]),
        vec![
            ("changed".to_string(), "success".to_string()),
            ("release".into(), "skipped".into()),
        ]
    );
    assert!(m.gh.pulls(MONO).unwrap().is_empty());
    assert!(m.gh.deployments(MONO).unwrap().is_empty());
}

/// A probe of the matrix: `resolve` per combination (exit 2 for a service the
/// config does not have), a job after it reading its merged output.
const PROBE: &str = r#"name: probe
on:
  workflow_dispatch:
    inputs:
      services:
        required: true
        type: string
      fail-fast:
        required: false
        type: string
        default: "true"
      guard:
        required: false
        type: string
        default: "false"
permissions: {}
jobs:
  each:
    if: inputs.guard != 'true' || inputs.services != '[]'
    runs-on: ubuntu-latest
    permissions:
      contents: read
    strategy:
      fail-fast: ${{ inputs.fail-fast == 'true' }}
      max-parallel: 2
      matrix:
        service: ${{ fromJSON(inputs.services) }}
        env: [dev]
        include:
          - service: web
            note: the web one
    concurrency:
      group: probe-${{ matrix.service }}-${{ matrix.env }}
    outputs:
      last: ${{ matrix.service }}-${{ steps.r.outputs.env }}
      note: ${{ matrix.note }}
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
      - id: r
        uses: gitops-action/gitops-action@v1
        with:
          command: resolve
          service: ${{ matrix.service }}
          message: ${{ matrix.note }} ${{ strategy.job-index }}/${{ strategy.job-total }}
  after:
    needs: each
    runs-on: ubuntu-latest
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
      - uses: gitops-action/gitops-action@v1
        with:
          command: resolve
          service: api
          message: ${{ needs.each.outputs.last }}|${{ needs.each.outputs.note }}
"#;

fn probe(services: &str, fail_fast: &str, guard: &str) -> (Mono, RunRecord) {
    let m = Mono::new(&[(".github/workflows/probe.yaml", PROBE)]);
    let mut r = m.runner();
    let runs = r
        .click_run_workflow(
            &m.alice,
            "probe.yaml",
            "main",
            &[
                ("services", services),
                ("fail-fast", fail_fast),
                ("guard", guard),
            ],
        )
        .unwrap();
    assert_eq!(runs.len(), 1);
    let run = runs[0].clone();
    (m, run)
}

#[test]
fn a_matrix_runs_every_combination_then_its_dependents_with_merged_outputs() {
    let (_m, run) = probe(r#"["api","web","worker"]"#, "true", "false");
    assert_eq!(run.conclusion, "success", "{}", run.describe());
    assert_eq!(
        jobs(&run),
        vec![
            ("each (api, dev)".to_string(), "success".to_string()),
            ("each (web, dev, the web one)".into(), "success".into()),
            ("each (worker, dev)".into(), "success".into()),
            ("after".into(), "success".into()),
        ],
        "{}",
        run.describe()
    );
    let input = |job: &str| run.job(job).steps.last().unwrap().env["INPUT_MESSAGE"].clone();
    assert_eq!(input("each (web, dev, the web one)"), "the web one 1/3");
    assert_eq!(input("each (api, dev)"), " 0/3");
    // The matrix's outputs: every combination set `last`, and the last to run
    // wins; only web set `note`, and the others' empty value did not unset it.
    assert_eq!(input("after"), "worker-dev|the web one");
    assert_eq!(
        run.job("each (web, dev, the web one)")
            .concurrency
            .as_deref(),
        Some("probe-web-dev")
    );
}

#[test]
fn fail_fast_cancels_the_combinations_not_yet_run_and_the_dependents_skip() {
    // max-parallel 2: `nope` fails in the first pair, `worker` is still queued.
    let (_m, run) = probe(r#"["nope","api","worker"]"#, "true", "false");
    assert_eq!(run.conclusion, "failure", "{}", run.describe());
    assert_eq!(
        jobs(&run),
        vec![
            ("each (nope, dev)".to_string(), "failure".to_string()),
            // Queued: cancelled at once; `api`, started beside `nope`, when it
            // comes up (the runner runs a round's jobs one after the other).
            ("each (worker, dev)".into(), "cancelled".into()),
            ("each (web, the web one)".into(), "cancelled".into()),
            ("each (api, dev)".into(), "cancelled".into()),
            ("after".into(), "skipped".into()),
        ],
        "{}",
        run.describe()
    );
    assert_eq!(
        run.job("each (worker, dev)").error.as_deref(),
        Some("cancelled by fail-fast: `each (nope, dev)` failed")
    );
    // Without fail-fast every combination runs; the matrix job still failed.
    let (_m, run) = probe(r#"["nope","api","worker"]"#, "false", "false");
    assert_eq!(
        jobs(&run),
        vec![
            ("each (nope, dev)".to_string(), "failure".to_string()),
            ("each (api, dev)".into(), "success".into()),
            ("each (worker, dev)".into(), "success".into()),
            ("each (web, the web one)".into(), "success".into()),
            ("after".into(), "skipped".into()),
        ],
        "{}",
        run.describe()
    );
}

#[test]
fn an_empty_vector_fails_the_job_unless_its_if_skips_it_first() {
    let (_m, run) = probe("[]", "true", "false");
    assert_eq!(run.conclusion, "failure", "{}", run.describe());
    assert_eq!(
        jobs(&run),
        vec![
            ("each".to_string(), "failure".to_string()),
            ("after".into(), "skipped".into()),
        ]
    );
    assert_eq!(
        run.job("each").error.as_deref(),
        Some(
            "Error when evaluating 'strategy' for job 'each'. .github/workflows/probe.yaml: Matrix vector 'service' does not contain any values"
        )
    );
    let (_m, run) = probe("[]", "true", "true");
    assert_eq!(
        jobs(&run),
        vec![
            ("each".to_string(), "skipped".to_string()),
            ("after".into(), "skipped".into()),
        ]
    );
    assert_eq!(run.conclusion, "skipped", "{}", run.describe());
}

/// The train variant: `release-train.yaml` dispatched from the Actions tab on a
/// commit with a SemVer tag releases `platform` (all three services) as one: one
/// PR, one merge, one overlay-deploy run with three deployments, and one prod PR
/// with exactly the versions deployed together.
#[test]
fn a_train_of_three_is_one_pr_one_merge_three_deployments_one_promotion() {
    let m = Mono::new(&[]);
    let mut r = m.runner();
    let sha = m.gh.branch_sha(MONO, "main").unwrap().unwrap();
    m.build_all(&sha);
    // The commit's version, for prod's `prd-{version}` (pushed quietly: no
    // workflow takes tag pushes here).
    m.gh.git(MONO, &["tag", "v1.4.0", &sha]).unwrap();
    let runs = r
        .click_run_workflow(
            &m.alice,
            "release-train.yaml",
            "main",
            &[("train", "platform")],
        )
        .unwrap();
    print_figures("monorepo train", &runs);
    let all = runs.iter().map(RunRecord::describe).collect::<String>();
    expect_runs(
        &runs,
        &[
            ("release-train.yaml", "workflow_dispatch", "success"),
            ("overlay-deploy.yaml", "workflow_dispatch", "success"),
        ],
    );
    // One dev PR for the three, merged; one prod PR, open for review.
    let pulls = m.gh.pulls(MONO).unwrap();
    let mut heads: Vec<(&str, bool)> = pulls.iter().map(|p| (p.head.as_str(), p.merged)).collect();
    heads.sort();
    assert_eq!(
        heads,
        [
            ("release/platform/dev", true),
            ("release/platform/prod", false)
        ],
        "{all}"
    );
    let short = &sha[..7];
    for s in SERVICES {
        assert!(m.dev_tag(s).starts_with(&format!("dev-{short}-")), "{s}");
    }
    // Three deployments to dev, one per member, all successful.
    let deployments = m.gh.deployments(MONO).unwrap();
    let mut recorded: Vec<String> = deployments
        .iter()
        .map(|d| {
            format!(
                "{}:{}:{}",
                d.payload["service"].as_str().unwrap_or("?"),
                d.environment,
                d.statuses.last().map(|s| s.state.as_str()).unwrap_or("?")
            )
        })
        .collect();
    recorded.sort();
    assert_eq!(
        recorded,
        ["api:dev:success", "web:dev:success", "worker:dev:success"],
        "{all}"
    );
    // The deploy was told the train, and the prod PR carries all three at
    // `prd-1.4.0`, each the digest deployed in dev.
    let deploy = &runs[1];
    assert_eq!(deploy.action_steps()[0].env["INPUT_TRAIN"], "platform");
    let prod = pulls
        .iter()
        .find(|p| p.head == "release/platform/prod")
        .unwrap();
    assert!(prod.title.starts_with("platform: prod "), "{}", prod.title);
    let head =
        m.gh.branch_sha(MONO, "release/platform/prod")
            .unwrap()
            .unwrap();
    let overlay =
        m.gh.file_at(MONO, &head, "overlays/prod/kustomization.yaml")
            .unwrap()
            .unwrap();
    assert_eq!(
        overlay.matches("newTag: \"prd-1.4.0\"").count(),
        3,
        "{overlay}"
    );
}

/// Two pushes in quick succession, both touching `api`: each run's matrix job of
/// `api` queues in `gitops-api-dev` (one running, one pending), while the second
/// run's `web` goes on beside them; nothing is cancelled and `api` ends at the
/// second push's commit.
#[test]
fn two_quick_pushes_queue_their_api_jobs_in_one_group_and_web_goes_on() {
    let m = Mono::new(&[]);
    let mut r = m.runner();
    let first = r
        .queue_push(
            &m.alice,
            "main",
            &[("services/api/main.go", "package main // 2\n")],
        )
        .unwrap();
    m.build_all(&first);
    let second = r
        .queue_push(
            &m.alice,
            "main",
            &[
                ("services/api/main.go", "package main // 3\n"),
                ("services/web/index.html", "<p>3</p>\n"),
            ],
        )
        .unwrap();
    m.build_all(&second);
    let runs = r.settle().unwrap();
    let releases: Vec<&RunRecord> = runs
        .iter()
        .filter(|x| x.workflow == "release.yaml")
        .collect();
    let detail: String = runs.iter().map(RunRecord::describe).collect();
    assert_eq!(releases.len(), 2, "{detail}");
    assert!(
        releases
            .iter()
            .all(|x| x.conclusion == "success" && x.cancelled.is_none()),
        "{detail}"
    );
    assert_eq!(
        jobs(releases[0]),
        vec![
            ("changed".to_string(), "success".to_string()),
            ("release (api)".into(), "success".into()),
        ]
    );
    assert_eq!(
        jobs(releases[1]),
        vec![
            ("changed".to_string(), "success".to_string()),
            // Its own group was free: it ran in the round `api` waited in.
            ("release (web)".into(), "success".into()),
            ("release (api)".into(), "success".into()),
        ],
        "{detail}"
    );
    assert!(
        m.dev_tag("api")
            .starts_with(&format!("dev-{}-", &second[..7])),
        "{detail}"
    );
    assert!(
        m.dev_tag("web")
            .starts_with(&format!("dev-{}-", &second[..7])),
        "{detail}"
    );
    assert_eq!(m.dev_tag("worker"), "0");
}
