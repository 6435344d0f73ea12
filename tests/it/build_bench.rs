//! The build benchmark (`scripts/bench-build`): the demo app (`examples/hello`,
//! its `prebuilt` stage, which pulls nothing) built and pushed through our BuildKit
//! path beside `DOCKER_BUILDKIT=1 docker build` and `docker push` (Debian's 20.10
//! CLI) on the same real dockerd, into the same kind of registry, in one run: a
//! first build (the builder's cache and the images removed, a fresh registry) and
//! a rebuild with nothing changed. The two are interleaved run by run, so both see
//! the same machine. Not a test: nothing asserts a time.

use std::process::Command;
use std::time::{Duration, Instant};

use gitops_action::build::{Network, build_and_push_on};
use gitops_action::registry::{Registry, RegistryOptions};
use gitops_testkit::docker::{DOCKER_CLI, DockerEngine};
use gitops_testkit::registry::{Auth, TestRegistry};

use crate::build::request;
use crate::util::repo_root;

const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

/// Forget every build: BuildKit's cache and the images of earlier runs.
fn forget(engine: &DockerEngine, images: &[String]) {
    engine.cli(&["builder", "prune", "-af"]).unwrap();
    for i in images {
        let _ = engine.cli(&["image", "rm", "-f", i]);
    }
}

/// `docker build` with what our path gives BuildKit (target, labels, the
/// `SOURCE_DATE_EPOCH` argument, the network), then `docker push`.
fn docker_build_and_push(engine: &DockerEngine, req: &gitops_action::build::BuildRequest) {
    let local = format!("{}:{}", req.image, req.tags[0]);
    let mut cmd = Command::new(DOCKER_CLI);
    cmd.env("DOCKER_HOST", engine.docker_host())
        .env("DOCKER_BUILDKIT", "1")
        .args(["build", "-q", "--network", "none", "-t", &local])
        .args(["--target", req.target.as_deref().unwrap()])
        .args([
            "--build-arg",
            &format!("SOURCE_DATE_EPOCH={}", req.source_date_epoch),
        ]);
    for (k, v) in &req.labels {
        cmd.args(["--label", &format!("{k}={v}")]);
    }
    let out = cmd.arg(&req.context).output().unwrap();
    assert!(
        out.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    engine.cli(&["push", "-q", &local]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: scripts/bench-build"]
async fn bench_demo_app_build() {
    let context = repo_root().join("examples/hello");
    assert!(
        context.join("dist/hello").is_file(),
        "examples/hello/dist/hello is missing: scripts/bench-build stages it"
    );
    let engine = DockerEngine::start().unwrap();
    let version = engine
        .cli(&["version", "--format", "{{.Server.Version}}"])
        .unwrap();
    let registry = Registry::new(RegistryOptions::default());
    let (mut ours_first, mut ours_again) = (Vec::new(), Vec::new());
    let (mut docker_first, mut docker_again) = (Vec::new(), Vec::new());
    let mut images = Vec::new();
    for run in 0..RUNS {
        // A fresh registry for each first build, so no push finds its blobs there.
        let reg = TestRegistry::start(Auth::None).unwrap();
        let mut ours = request(&context, format!("{}/acme/hello-ours", reg.host()));
        ours.target = Some("prebuilt".into());
        ours.tags.truncate(1);
        ours.network = Network::None;
        let mut docker = ours.clone();
        docker.image = format!("{}/acme/hello-docker", reg.host());
        images.push(format!("{}:{}", ours.image, ours.tags[0]));
        images.push(format!("{}:{}", docker.image, docker.tags[0]));

        // Alternate which goes first, so neither always follows the other's prune.
        let order: [bool; 2] = if run % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_ours in order {
            forget(&engine, &images);
            for again in [false, true] {
                let t = Instant::now();
                if is_ours {
                    let digest = build_and_push_on(&engine.docker_host(), &ours, &registry)
                        .await
                        .unwrap();
                    assert!(digest.starts_with("sha256:"));
                } else {
                    docker_build_and_push(&engine, &docker);
                }
                let took = t.elapsed();
                match (is_ours, again) {
                    (true, false) => ours_first.push(took),
                    (true, true) => ours_again.push(took),
                    (false, false) => docker_first.push(took),
                    (false, true) => docker_again.push(took),
                }
            }
        }
    }
    println!(
        "BENCH demo app (examples/hello, --target prebuilt) on dockerd {}, BuildKit, build + push, median of {RUNS}: first build {:.0} ms (peer: docker build + docker push {:.0} ms); rebuild with nothing changed {:.0} ms (peer: {:.0} ms)",
        version.trim(),
        median(ours_first),
        median(docker_first),
        median(ours_again),
        median(docker_again),
    );
}
