//! A fleet's two read paths, timed on the real binary (issue 24, item 3): `changed`
//! over 500 services and a 10,000-file change, and `status` over 500 services × 4
//! environments. Each must be well under 100 ms on a release build. Run by
//! `scripts/bench-fleet`; the `BENCH` lines are its figures.
//!
//! The peers, in the same run: `git diff --name-only` of the same two commits (the
//! list alone, no matching), and that list matched the way dorny/paths-filter does
//! (every filter's globs tried against every file: its `src/filter.ts` keeps one
//! list of compiled minimatch/picomatch matchers per filter), written here in
//! Python with each glob compiled once, so it is that approach's cost, not
//! paths-filter's own code.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{BIN, Run, git, parse_outputs};

const SERVICES: usize = 500;
const FILES_PER_SERVICE: usize = 25;
/// Services whose every file the change touches: 400 × 25 = 10,000 files.
const CHANGED: usize = 400;
const ENVS: [&str; 4] = ["dev", "uat", "staging", "prod"];

/// The config: every tenth service also owns a shared library and not its docs.
fn config() -> String {
    let mut s = String::from("overlays: overlays\nservices:\n");
    for i in 0..SERVICES {
        let _ = write!(
            s,
            "  svc-{i:03}:\n    image: ghcr.io/acme/svc-{i:03}\n    context: services/svc-{i:03}\n"
        );
        if i % 10 == 0 {
            let _ = writeln!(
                s,
                "    paths: [\"services/svc-{i:03}/**\", \"shared/lib-{:02}/**\", \"!services/svc-{i:03}/**/*.md\"]",
                i / 10 % 20
            );
        }
    }
    s.push_str("environments:\n");
    for e in ENVS {
        let _ = writeln!(
            s,
            "  - name: {e}\n    branches: [\"{e}\"]\n    tag: \"{e}-{{sha7}}-{{timestamp}}\""
        );
    }
    s
}

/// Service `i`'s tag in environment `j` (`e`): a `{sha7}` and a timestamp.
fn tag_of(i: usize, j: usize, e: &str) -> String {
    let sha = format!("{:07x}", (i * 7919 + j) % 0x1000_0000);
    format!("{e}-{sha}-{}", 1_700_000_000 + i * 10 + j)
}

fn overlay(j: usize, e: &str) -> String {
    let mut s = String::from("# generated\nimages:\n");
    for i in 0..SERVICES {
        let _ = writeln!(
            s,
            "  - name: ghcr.io/acme/svc-{i:03}  # service {i}\n    newTag: {}",
            tag_of(i, j, e)
        );
    }
    s
}

/// Two commits through `git fast-import`: the fleet, then the change.
fn build_repo(dir: &Path) -> (String, String) {
    git(dir, &["init", "-q", "-b", "main"]);
    let mut stream = String::new();
    let file = |s: &mut String, path: &str, body: &str| {
        let _ = write!(s, "M 100644 inline {path}\ndata {}\n{body}\n", body.len());
    };
    let commit = |s: &mut String, mark: usize, msg: &str, from: Option<usize>| {
        let _ = write!(
            s,
            "commit refs/heads/main\nmark :{mark}\ncommitter Bench <bench@example.com> 1700000000 +0000\ndata {}\n{msg}\n",
            msg.len()
        );
        if let Some(f) = from {
            let _ = writeln!(s, "from :{f}");
        }
    };
    commit(&mut stream, 1, "the fleet", None);
    file(&mut stream, ".github/gitops.yaml", &config());
    for (j, e) in ENVS.iter().enumerate() {
        file(
            &mut stream,
            &format!("overlays/{e}/kustomization.yaml"),
            &overlay(j, e),
        );
    }
    for l in 0..20 {
        file(&mut stream, &format!("shared/lib-{l:02}/x.txt"), "lib\n");
    }
    for i in 0..SERVICES {
        file(
            &mut stream,
            &format!("services/svc-{i:03}/README.md"),
            "# svc\n",
        );
        file(
            &mut stream,
            &format!("services/svc-{i:03}/Dockerfile"),
            "FROM scratch\n",
        );
        for k in 0..FILES_PER_SERVICE {
            file(
                &mut stream,
                &format!("services/svc-{i:03}/src/f-{k:02}.txt"),
                "v1\n",
            );
        }
    }
    commit(&mut stream, 2, "ten thousand files", Some(1));
    for i in 0..CHANGED {
        for k in 0..FILES_PER_SERVICE {
            file(
                &mut stream,
                &format!("services/svc-{i:03}/src/f-{k:02}.txt"),
                "v2\n",
            );
        }
    }
    let mut p = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(p.wait().unwrap().success());
    git(dir, &["checkout", "-q", "-f", "main"]);
    (
        git(dir, &["rev-parse", "main~1"]),
        git(dir, &["rev-parse", "main"]),
    )
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

/// Wall time of `run` over `n` runs after `warm` unmeasured ones.
fn time(warm: usize, n: usize, mut run: impl FnMut()) -> f64 {
    for _ in 0..warm {
        run();
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        run();
        times.push(t.elapsed());
    }
    median(times)
}

/// `changed` as a push's step: the checkout holds both commits, so nothing is
/// asked of GitHub (the API URL is a closed port: a request would fail the run).
fn changed(ws: &Path, before: &str, after: &str) -> (Run, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    let payload = serde_json::json!({
        "ref": "refs/heads/main", "before": before, "after": after,
        "repository": {"full_name": "acme/fleet", "default_branch": "main"},
    });
    std::fs::write(&event, payload.to_string()).unwrap();
    let output = dir.path().join("output");
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("GITHUB_") || k.starts_with("INPUT_") || k.starts_with("RUNNER_") {
            c.env_remove(k);
        }
    }
    c.current_dir(ws)
        .env("NO_COLOR", "1")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", ws)
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", dir.path().join("summary"))
        .env("GITHUB_REPOSITORY", "acme/fleet")
        .env("GITHUB_REF", "refs/heads/main")
        .env("GITHUB_SHA", after)
        .env("GITHUB_API_URL", "http://127.0.0.1:9")
        .env("GITHUB_GRAPHQL_URL", "http://127.0.0.1:9/graphql")
        .env("GITHUB_SERVER_URL", "http://127.0.0.1:9")
        .env("INPUT_TOKEN", "ghs_benchTokenNeverSent0123456789abcdefgh")
        .env("INPUT_COMMAND", "changed");
    let run = Run::from(c.output().unwrap());
    let outputs = parse_outputs(&std::fs::read_to_string(&output).unwrap_or_default());
    let services = outputs
        .get("services")
        .map(|s| serde_json::from_str(s).unwrap())
        .unwrap_or_default();
    (run, services)
}

/// dorny/paths-filter's approach in Python: the globs compiled once, then every
/// file tried against every filter (the last matching pattern decides, as ours).
fn peer_script(ws: &Path) -> String {
    // The filters as data the script reads: one line per service, its globs.
    let mut filters = String::new();
    for i in 0..SERVICES {
        let mut globs = vec![format!("services/svc-{i:03}/**")];
        if i % 10 == 0 {
            globs.push(format!("shared/lib-{:02}/**", i / 10 % 20));
            globs.push(format!("!services/svc-{i:03}/**/*.md"));
        }
        let _ = writeln!(filters, "svc-{i:03} {}", globs.join(" "));
    }
    std::fs::write(ws.join(".git/filters.txt"), filters).unwrap();
    r#"
import re, subprocess, sys

def compile_glob(g):
    # `**` any depth, `*` within a segment, `?` one character (minimatch's reading).
    out, i = "", 0
    while i < len(g):
        if g.startswith("**/", i):
            out += "(?:.*/)?"; i += 3
        elif g.startswith("**", i):
            out += ".*"; i += 2
        elif g[i] == "*":
            out += "[^/]*"; i += 1
        elif g[i] == "?":
            out += "[^/]"; i += 1
        else:
            out += re.escape(g[i]); i += 1
    return re.compile(out + r"\Z")

filters = []
for line in open(sys.argv[1]):
    name, *globs = line.split()
    filters.append((name, [(compile_glob(g.lstrip("!")), not g.startswith("!")) for g in globs]))
files = subprocess.run(["git", "diff", "--name-only", sys.argv[2], sys.argv[3]],
                       capture_output=True, text=True, check=True).stdout.split("\n")
files = [f for f in files if f]
hit = []
for name, rules in filters:
    for f in files:
        decided = False
        for rx, include in rules:
            if rx.match(f):
                decided = include
        if decided:
            hit.append(name)
            break
print(len(hit))
"#
    .to_string()
}

#[test]
#[ignore = "benchmark: run by scripts/bench-fleet"]
fn bench_changed_and_status_over_a_fleet() {
    let scratch = tempfile::tempdir().unwrap();
    let ws = scratch.path().join("fleet");
    std::fs::create_dir_all(&ws).unwrap();
    let (before, after) = build_repo(&ws);
    let files = git(&ws, &["diff", "--name-only", &before, &after]);
    assert_eq!(files.lines().count(), CHANGED * FILES_PER_SERVICE);

    // `changed`: the right answer first, then its time.
    let (run, services) = changed(&ws, &before, &after);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let want: Vec<String> = (0..CHANGED).map(|i| format!("svc-{i:03}")).collect();
    assert_eq!(services, want);
    let changed_ms = time(3, 21, || {
        let (r, _) = changed(&ws, &before, &after);
        assert_eq!(r.code, 0);
    });
    let diff_ms = time(3, 21, || {
        git(&ws, &["diff", "--name-only", &before, &after]);
    });
    let script = scratch.path().join("peer.py");
    std::fs::write(&script, peer_script(&ws)).unwrap();
    let peer = |out: &mut String| {
        let o = Command::new("python3")
            .arg(&script)
            .arg(ws.join(".git/filters.txt"))
            .args([&before, &after])
            .current_dir(&ws)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        *out = String::from_utf8_lossy(&o.stdout).trim().to_string();
    };
    let mut count = String::new();
    peer(&mut count);
    assert_eq!(
        count,
        CHANGED.to_string(),
        "the peer finds the same services"
    );
    let peer_ms = time(0, 3, || peer(&mut count));
    println!(
        "BENCH changed, {SERVICES} services, a {}-file change ({CHANGED} services changed, 0 GitHub requests): median {changed_ms:.1} ms (peers: `git diff --name-only` alone {diff_ms:.1} ms; that list matched per file per filter as dorny/paths-filter does, in Python: {peer_ms:.1} ms)",
        CHANGED * FILES_PER_SERVICE
    );

    // `status` over the same fleet: 500 services × 4 environments.
    let status = || {
        let o = Command::new(BIN)
            .args(["-C", ws.to_str().unwrap(), "status", "--format", "json"])
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_ACTIONS")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let report: serde_json::Value = serde_json::from_slice(&status()).unwrap();
    let listed = report["services"].as_array().map_or(0, Vec::len);
    assert_eq!(listed, SERVICES, "{report}");
    assert_eq!(
        report["services"][250]["deployed"]["staging"]["tag"],
        tag_of(250, 2, "staging")
    );
    let status_ms = time(3, 21, || {
        status();
    });
    println!(
        "BENCH status, {SERVICES} services x {} environments: median {status_ms:.1} ms",
        ENVS.len()
    );
}

/// The drift `status` reports from the tags' commits: `ahead` by the commits
/// between them when the checkout has both (a `{sha7}` and a `{sha}` tag), `differs`
/// when one is not here (a depth-1 checkout) or the tag names no commit.
#[test]
fn status_counts_the_commits_between_two_environments_tags() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    git(ws, &["init", "-q", "-b", "main"]);
    let config = "overlays: overlays\nservices:\n  api:\n    image: ghcr.io/acme/api\n  web:\n    image: ghcr.io/acme/web\n  db:\n    image: ghcr.io/acme/db\nenvironments:\n  - name: dev\n    branches: [main]\n    tag: \"dev-{sha7}\"\n  - name: uat\n    branches: [uat]\n    tag: \"uat-{sha}\"\n";
    std::fs::create_dir_all(ws.join(".github")).unwrap();
    std::fs::write(ws.join(".github/gitops.yaml"), config).unwrap();
    let mut shas = Vec::new();
    for n in 0..3 {
        std::fs::write(ws.join("n.txt"), format!("{n}\n")).unwrap();
        git(ws, &["add", "-A"]);
        git(
            ws,
            &[
                "-c",
                "user.name=a",
                "-c",
                "user.email=a@b",
                "commit",
                "-qm",
                "c",
            ],
        );
        shas.push(git(ws, &["rev-parse", "HEAD"]));
    }
    let overlay = |e: &str, tags: [String; 3]| {
        let mut s = String::from("images:\n");
        for (img, t) in ["api", "web", "db"].iter().zip(tags) {
            let _ = writeln!(s, "  - name: ghcr.io/acme/{img}\n    newTag: {e}-{t}");
        }
        std::fs::create_dir_all(ws.join(format!("overlays/{e}"))).unwrap();
        std::fs::write(ws.join(format!("overlays/{e}/kustomization.yaml")), s).unwrap();
    };
    let s7 = |s: &str| s[..7].to_string();
    // api: dev two commits past uat; web: in step; db: uat's commit is not here.
    overlay("dev", [s7(&shas[2]), s7(&shas[1]), s7(&shas[2])]);
    overlay("uat", [shas[0].clone(), shas[1].clone(), "f".repeat(40)]);
    let o = Command::new(BIN)
        .args(["-C", ws.to_str().unwrap(), "status", "--format", "json"])
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let drift = |name: &str| {
        let s = r["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap();
        let d = &s["drift"][0];
        (
            d["state"].as_str().unwrap().to_string(),
            d["ahead"].as_u64(),
        )
    };
    assert_eq!(drift("api"), ("ahead".into(), Some(2)), "{r:#}");
    // One commit, named by seven digits in dev and forty in uat: none between.
    assert_eq!(drift("web").1, Some(0), "{r:#}");
    assert_eq!(drift("db"), ("differs".into(), None), "{r:#}");
}
