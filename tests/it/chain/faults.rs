//! Exactly once under faults: one release to dev per fault, then a
//! re-run, with the fault on the nth request of one kind — REST, git smart HTTP —
//! injected by the GitHub stand-in.
//!
//! Every case must hold:
//! - no panic, and the run ends (the rig's requests are all bounded);
//! - at most one release PR, one deployment and one dispatch per step;
//! - exit 0 with the change on `main` and outputs that say what happened (`merged`,
//!   `pr-operation=created`, `dispatched` or `dispatch-unclear`, `deployed`). Each
//!   case has one fault on a request that is safe to resend or can be looked up, so
//!   an exit 1 breaks the case too (it is still checked to leave `main` untouched
//!   and to print an `error:`, for the table);
//! - a re-run converges: `main` has the change, the PR is merged, and each step
//!   was done exactly once (or, for a dispatch GitHub cannot account for, the run
//!   said so and did not send it twice).
//!
//! GitHub's rules the faults follow, with sources:
//! - primary rate limit: 403 with `x-ratelimit-remaining: 0`, retry after
//!   `x-ratelimit-reset`; secondary: 403 "You have exceeded a secondary rate limit",
//!   retry after `retry-after` (github/docs
//!   `content/rest/using-the-rest-api/rate-limits-for-the-rest-api.md`, "Exceeding
//!   the rate limit"). A rate-limited request was refused, so it is sent again.
//! - deployments are listed by `sha` and `environment` (REST "List deployments",
//!   query parameters), which is how a deployment whose answer was lost is found.
//! - a dispatch answers 204 with no run id; its run is listed by
//!   `GET …/actions/workflows/{id}/runs?event=workflow_dispatch&branch=&created=`
//!   (REST "List workflow runs for a workflow"). GitHub starts the run
//!   asynchronously and cannot tie it to a dispatch (orgs/community#126578), so a
//!   dispatch that is not found is reported as unclear, never sent twice.
//!
//! `GITOPS_ACTION_BIN=<binary> cargo test --test it faults` runs another build and
//! prints its table without failing on it (how the "before" column was made);
//! `FAULTS_TABLE=<file>` writes the table there too.

use super::*;
use gitops_testkit::github::{Fault, FaultKind};
use gitops_testkit::registry::FaultProxy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Dispatch,
    Inline,
}

/// Where a fault hits: a name for the table, the method, a path fragment, which one.
struct Target {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    nth: usize,
    git: bool,
    /// Run with `commit-via: git`: the request is one only that mode makes (the
    /// git transport, or the PR list the API read makes unneeded).
    via_git: bool,
    /// The registry (through [`FaultProxy`]), not the GitHub stand-in.
    registry: bool,
}

const TARGETS: &[Target] = &[
    Target {
        name: "list PRs",
        method: "GET",
        path: "/repos/acme/app/pulls",
        nth: 1,
        git: false,
        via_git: true,
        registry: false,
    },
    // Through the API the PR is opened in the commit's document ("API commit"):
    // REST's create is the git path's.
    Target {
        name: "create PR",
        method: "POST",
        path: "/repos/acme/app/pulls",
        nth: 1,
        git: false,
        via_git: true,
        registry: false,
    },
    Target {
        name: "merge",
        method: "PUT",
        path: "/merge",
        nth: 1,
        git: false,
        via_git: false,
        registry: false,
    },
    Target {
        name: "dispatch",
        method: "POST",
        path: "/dispatches",
        nth: 1,
        git: false,
        via_git: false,
        registry: false,
    },
    Target {
        name: "create deployment",
        method: "POST",
        path: "/repos/acme/app/deployments",
        nth: 1,
        git: false,
        via_git: false,
        registry: false,
    },
    Target {
        name: "deployment status",
        method: "POST",
        path: "/statuses",
        nth: 1,
        git: false,
        via_git: false,
        registry: false,
    },
    Target {
        name: "git fetch",
        method: "POST",
        path: "git-upload-pack",
        nth: 1,
        git: true,
        via_git: true,
        registry: false,
    },
    Target {
        name: "git push",
        method: "POST",
        path: "git-receive-pack",
        nth: 1,
        git: true,
        via_git: true,
        registry: false,
    },
    // `commit-via: api` (the default): the one read (the rules, the overlay and
    // the release branch), the commit, and the branch's creation (one document
    // with the commit; the 2nd `updateRefs` deletes the branch after the merge).
    // GraphQL requests are matched by their document.
    Target {
        name: "API read",
        method: "POST",
        path: "file(path: $path)",
        nth: 1,
        git: false,
        via_git: false,
        registry: false,
    },
    Target {
        name: "API commit",
        method: "POST",
        path: "createCommitOnBranch",
        nth: 1,
        git: false,
        via_git: false,
        registry: false,
    },
    // An inline chain merges through `mergePullRequest`, reading the next
    // environment in its payload (a dispatched one through REST: "merge").
    Target {
        name: "API merge",
        method: "POST",
        path: "mergePullRequest",
        nth: 1,
        git: false,
        via_git: false,
        registry: false,
    },
    Target {
        name: "API create branch",
        method: "POST",
        path: "updateRefs",
        nth: 1,
        git: false,
        via_git: false,
        registry: false,
    },
    Target {
        name: "registry read",
        method: "",
        path: "/manifests/",
        nth: 1,
        git: false,
        via_git: false,
        registry: true,
    },
    Target {
        name: "registry retag",
        method: "PUT",
        path: "/manifests/",
        nth: 1,
        git: false,
        via_git: false,
        registry: true,
    },
];

const KINDS: &[(&str, FaultKind)] = &[
    ("502", FaultKind::Status(502)),
    ("lost answer", FaultKind::LostAnswer),
    ("drop before", FaultKind::DropBefore),
    ("drop after", FaultKind::DropAfter),
    ("primary rate limit", FaultKind::PrimaryRateLimit),
    ("secondary rate limit", FaultKind::SecondaryRateLimit),
];

struct Case {
    target: &'static Target,
    kind: (&'static str, FaultKind),
    mode: Mode,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for t in TARGETS {
        for k in KINDS {
            // git smart HTTP has no JSON rate-limit answers.
            if t.git
                && matches!(
                    k.1,
                    FaultKind::PrimaryRateLimit | FaultKind::SecondaryRateLimit
                )
            {
                continue;
            }
            // GraphQL's primary limit is an HTTP 200 with `errors[].type:
            // RATE_LIMITED`, not the REST answer the fault sends (docs "Rate limits
            // and node limits for the GraphQL API").
            if t.name.starts_with("API") && matches!(k.1, FaultKind::PrimaryRateLimit) {
                continue;
            }
            let modes: &[Mode] = match t.name {
                // The registry is used the same way by both chains.
                "dispatch" | "registry read" | "registry retag" => &[Mode::Dispatch],
                "create deployment" | "deployment status" | "API merge" => &[Mode::Inline],
                "merge" => &[Mode::Dispatch],
                _ => &[Mode::Dispatch, Mode::Inline],
            };
            for &mode in modes {
                out.push(Case {
                    target: t,
                    kind: *k,
                    mode,
                });
            }
        }
    }
    out
}

/// What one case did, and what broke.
struct Outcome {
    row: String,
    broken: Vec<String>,
}

fn inputs(mode: Mode) -> Vec<(&'static str, &'static str)> {
    match mode {
        Mode::Dispatch => vec![
            ("command", "release"),
            ("deploy-workflow", "overlay-deploy.yaml"),
        ],
        Mode::Inline => vec![("command", "release"), ("chain", "inline")],
    }
}

fn run_case(case: &Case) -> Outcome {
    let reg = TestRegistry::start(Auth::Token).unwrap();
    let proxy = FaultProxy::start(&reg.host()).unwrap();
    let rig = Rig::with_registry_at(CONFIG, reg, &proxy.host());
    let ws = rig.checkout("ws", "main");
    let sha = git(&ws, &["rev-parse", "HEAD"]);
    rig.push_build(&sha);
    let before = rig.overlay("dev");
    let t = case.target;
    let fault = Fault::new(t.method, t.path, t.nth, case.kind.1);
    if t.registry {
        proxy.inject(fault);
    } else {
        rig.gh.inject(fault);
    }
    let mut inputs = inputs(case.mode);
    if t.via_git {
        inputs.push(("commit-via", "git"));
    }
    let first = rig.dispatch_main(&ws, &inputs);
    let fired = rig.gh.faults_fired() + proxy.faults_fired() == 1;
    let mut broken = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            broken.push(what);
        }
    };
    check(fired, "the fault never hit a request".into());
    let out = |s: &Step, k: &str| s.outputs.get(k).cloned().unwrap_or_default();
    let dev_prs = |rig: &Rig| {
        rig.gh
            .pulls(REPO)
            .unwrap()
            .into_iter()
            .filter(|p| p.head == "release/hello/dev")
            .collect::<Vec<_>>()
    };
    let dev_deployments = |rig: &Rig| {
        rig.gh
            .deployments(REPO)
            .unwrap()
            .into_iter()
            .filter(|d| d.environment == "dev")
            .collect::<Vec<_>>()
    };
    let text = format!("{}{}", first.run.stdout, first.run.stderr);
    check(
        !text.contains("panicked"),
        format!("run 1 panicked:\n{}", first.run.transcript()),
    );
    let prs = dev_prs(&rig);
    let deployments = dev_deployments(&rig);
    let dispatches = rig.gh.dispatches(REPO).unwrap();
    check(prs.len() <= 1, format!("run 1 opened {} PRs", prs.len()));
    check(
        deployments.len() <= 1,
        format!("run 1 made {} deployments", deployments.len()),
    );
    check(
        dispatches.len() <= 1,
        format!("run 1 dispatched {} times", dispatches.len()),
    );
    let landed = rig.overlay("dev") != before;
    let merged = prs.first().is_some_and(|p| p.merged);
    let unclear = out(&first, "dispatch-unclear");
    let run1 = match first.run.code {
        0 => {
            check(
                landed,
                "run 1 exited 0 but main does not have the change".into(),
            );
            check(
                out(&first, "merged") == merged.to_string(),
                format!(
                    "run 1 says merged={} but the PR is merged={merged}",
                    out(&first, "merged")
                ),
            );
            check(
                out(&first, "pr-operation") == "created",
                format!(
                    "run 1 created the PR but says pr-operation={}",
                    out(&first, "pr-operation")
                ),
            );
            match case.mode {
                Mode::Dispatch => {
                    if unclear.is_empty() {
                        check(
                            dispatches.len() == 1
                                && out(&first, "dispatched") == "overlay-deploy.yaml",
                            format!(
                                "run 1: {} dispatches, dispatched={:?}",
                                dispatches.len(),
                                out(&first, "dispatched")
                            ),
                        );
                    } else {
                        check(
                            out(&first, "dispatched").is_empty()
                                && first.summary.contains("cannot be told")
                                && first.run.stdout.contains("::warning"),
                            "an unclear dispatch must be a warning and in the summary, not `dispatched`".into(),
                        );
                    }
                }
                Mode::Inline => {
                    let success = deployments.len() == 1
                        && deployments[0]
                            .statuses
                            .last()
                            .is_some_and(|s| s.state == "success");
                    check(
                        success && out(&first, "deployed") == "true",
                        format!(
                            "run 1 says deployed={:?}; deployments {deployments:?}",
                            out(&first, "deployed")
                        ),
                    );
                    let states: Vec<&str> = deployments[0..deployments.len().min(1)]
                        .iter()
                        .flat_map(|d| d.statuses.iter().map(|s| s.state.as_str()))
                        .collect();
                    check(
                        states == ["success"],
                        format!("deployment statuses {states:?}, want each once"),
                    );
                }
            }
            let mut s = format!(
                "exit 0, merged={}, pr-operation={}",
                out(&first, "merged"),
                out(&first, "pr-operation")
            );
            match case.mode {
                Mode::Dispatch if !unclear.is_empty() => s.push_str(", dispatch unclear (warned)"),
                Mode::Dispatch => s.push_str(&format!(", {} dispatch", dispatches.len())),
                Mode::Inline => s.push_str(&format!(", {} deployment", deployments.len())),
            }
            s
        }
        1 => {
            // Every request here can be resent or looked up, and one fault is
            // within the bounded retries: failing the step is giving up too soon.
            check(
                false,
                "one fault on a request that can be resent or looked up failed the step".into(),
            );
            check(!landed, "run 1 exited 1 but changed main".into());
            check(
                first.run.stderr.contains("error: "),
                format!(
                    "run 1 exited 1 without an error line:\n{}",
                    first.run.stderr
                ),
            );
            let err = first
                .run
                .stderr
                .lines()
                .find(|l| l.starts_with("error: "))
                .unwrap_or_default()
                .chars()
                .take(90)
                .collect::<String>()
                .replace('|', "\\|");
            format!("exit 1 (`{err}…`)")
        }
        n => {
            check(
                false,
                format!("run 1 exited {n}:\n{}", first.run.transcript()),
            );
            format!("exit {n}")
        }
    };

    // The re-run, with no fault: the same commit (`GITHUB_SHA`), as Actions re-runs.
    let second = rig.dispatch_main(&ws, &inputs);
    check(
        second.run.code == 0,
        format!(
            "the re-run exited {}:\n{}",
            second.run.code,
            second.run.transcript()
        ),
    );
    let prs = dev_prs(&rig);
    let deployments = dev_deployments(&rig);
    let dispatches = rig.gh.dispatches(REPO).unwrap();
    check(
        rig.overlay("dev") != before,
        "after the re-run main still lacks the change".into(),
    );
    check(
        prs.len() == 1 && prs[0].merged,
        format!(
            "after the re-run: {} dev PRs, merged: {:?}",
            prs.len(),
            prs.iter().map(|p| p.merged).collect::<Vec<_>>()
        ),
    );
    match case.mode {
        Mode::Dispatch => {
            let want = if unclear.is_empty() {
                1
            } else {
                dispatches.len().min(1)
            };
            check(
                dispatches.len() == want && want <= 1,
                format!("after the re-run: {} dispatches", dispatches.len()),
            );
        }
        Mode::Inline => check(
            deployments.len() == 1,
            format!("after the re-run: {} deployments", deployments.len()),
        ),
    }
    let rerun = format!(
        "exit {}; {} PR, {}",
        second.run.code,
        prs.len(),
        match case.mode {
            Mode::Dispatch => format!("{} dispatch", dispatches.len()),
            Mode::Inline => format!("{} deployment", deployments.len()),
        }
    );
    let row = format!(
        "| {} | {} | {} | {run1} | {rerun} | {} |",
        t.name,
        case.kind.0,
        match case.mode {
            Mode::Dispatch => "dispatch",
            Mode::Inline => "inline",
        },
        match broken.first() {
            None => "holds".to_string(),
            Some(why) => format!(
                "**breaks**: {}",
                why.lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(80)
                    .collect::<String>()
                    .replace('|', "\\|")
            ),
        }
    );
    Outcome { row, broken }
}

/// Every fault × target × chain, then a re-run; the table of outcomes.
#[test]
fn a_release_is_done_exactly_once_under_faults() {
    let filter = std::env::var("FAULTS_ONLY").unwrap_or_default();
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|c| {
            filter.is_empty() || format!("{} {}", c.target.name, c.kind.0).contains(&filter)
        })
        .collect();
    let mut table =
        String::from("| request | fault | chain | run 1 | re-run | |\n|---|---|---|---|---|---|\n");
    let mut broken = Vec::new();
    let started = std::time::Instant::now();
    // Three cases at a time: they mostly wait (backoffs, rate limits), each on its
    // own stand-in and registry.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(c) = cases.get(i) else { break };
                    let o = run_case(c);
                    done.lock().unwrap().push((i, o));
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap();
    done.sort_by_key(|(i, _)| *i);
    let mut failing = 0;
    for (_, o) in done {
        failing += usize::from(!o.broken.is_empty());
        table.push_str(&o.row);
        table.push('\n');
        for b in o.broken {
            broken.push(format!("{}: {b}", o.row));
        }
    }
    let held = cases.len() - failing;
    table.push_str(&format!(
        "\n{held} of {} cases hold ({}s)\n",
        cases.len(),
        started.elapsed().as_secs()
    ));
    println!("{table}");
    if let Ok(p) = std::env::var("FAULTS_TABLE") {
        std::fs::write(p, &table).unwrap();
    }
    if std::env::var("GITOPS_ACTION_BIN").is_ok() {
        return;
    }
    assert!(broken.is_empty(), "{}\n{table}", broken.join("\n"));
}

/// What people see when GitHub loses a dispatch's answer and no run shows up: a
/// warning with the runs page, a note in the step summary, `dispatch-unclear`, and
/// no second dispatch.
#[test]
fn an_unclear_dispatch_is_a_warning_with_the_link_not_a_second_dispatch() {
    let (rig, ws, _) = Rig::ready(CONFIG);
    rig.gh
        .inject(Fault::new("POST", "/dispatches", 1, FaultKind::Status(502)));
    let s = rig
        .step(
            &ws,
            "workflow_dispatch",
            dispatch("hello", "refs/heads/main"),
            &inputs(Mode::Dispatch),
        )
        .ok();
    assert_eq!(s.out("merged"), "true");
    assert_eq!(s.out("dispatch-unclear"), "overlay-deploy.yaml");
    assert!(!s.outputs.contains_key("dispatched"), "{:?}", s.outputs);
    assert!(rig.gh.dispatches(REPO).unwrap().is_empty());
    let server = rig.gh.server_url();
    let tag = s.out("tag").to_string();
    let clean = |t: &str| {
        t.replace(&server, "http://github.test")
            .replace(&tag, "<tag>")
    };
    let warning: Vec<String> = s
        .run
        .stdout
        .lines()
        .filter(|l| l.starts_with("::warning"))
        .map(clean)
        .collect();
    insta::assert_snapshot!(format!(
        "{}\n--- summary\n{}",
        warning.join("\n"),
        clean(&s.summary)
    ));
}
