//! `testkit bench-registry RETAG_CMD [RUNS]`: the registry benchmark. Starts local
//! registries, pushes a several-layer image and a multi-arch index, then times the
//! retag command beside `skopeo copy --all --preserve-digests` in the same run,
//! counting requests from the registry's access log. Prints one line per figure.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use gitops_testkit::registry::{Auth, PASSWORD, TestRegistry, USER};

const SHA: &str = "3f786850e387550fdab836ed7e6dc881de23001b";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("github") => gitops_testkit::github::serve_cli(&args[1..]),
        Some("registry") => serve_registry(&args[1..]),
        Some("bench-registry") => {
            let retag = args
                .get(1)
                .context("usage: testkit bench-registry RETAG_CMD [RUNS]")?;
            let runs = args.get(2).map_or(Ok(20), |r| r.parse())?;
            bench(retag, runs)
        }
        _ => bail!(
            "usage: testkit bench-registry RETAG_CMD [RUNS] | testkit github … | testkit registry [--push REPO:TAG]…"
        ),
    }
}

/// `testkit registry [--push REPO:TAG]…`: a registry with GHCR-style token auth on
/// loopback, with an image pushed under each `REPO:TAG`; prints `REGISTRY=host:port`,
/// `REGISTRY_USERNAME=…` and `REGISTRY_PASSWORD=…`, then serves until SIGTERM,
/// SIGINT or SIGHUP, and then stops the registry and removes its storage.
fn serve_registry(args: &[String]) -> Result<()> {
    gitops_testkit::lifetime::catch_stop_signals();
    let reg = TestRegistry::start(Auth::Token)?;
    let mut it = args.iter();
    let mut seed = 1;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--push" => {
                let spec = it.next().context("--push needs REPO:TAG")?;
                let (repo, tag) = spec.split_once(':').context("--push needs REPO:TAG")?;
                reg.client().push_image(repo, tag, 2, 4096, seed)?;
                seed += 1;
            }
            _ => bail!("usage: testkit registry [--push REPO:TAG]…"),
        }
    }
    println!("REGISTRY={}", reg.host());
    println!("REGISTRY_USERNAME={USER}");
    println!("REGISTRY_PASSWORD={PASSWORD}");
    use std::io::Write as _;
    std::io::stdout().flush()?;
    gitops_testkit::lifetime::until_signalled();
    drop(reg);
    Ok(())
}

struct Measure {
    requests: usize,
    blob_requests: usize,
    /// Manifest PUTs: what the registry records as a write.
    manifest_puts: usize,
    median_ms: f64,
}

/// Run `cmd(i)` `runs` times (after one warm-up), each time counting what reached
/// the registry (token server included) and the wall time of the process.
fn measure(reg: &TestRegistry, runs: usize, cmd: impl Fn(usize) -> Command) -> Result<Measure> {
    let mut times = Vec::new();
    let mut counts = Vec::new();
    for i in 0..=runs {
        reg.reset_log();
        let tokens = reg.token_requests();
        let mut c = cmd(i);
        let start = Instant::now();
        let out = c.output().with_context(|| format!("running {c:?}"))?;
        let wall = start.elapsed().as_secs_f64() * 1000.0;
        if !out.status.success() {
            bail!("{c:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let log = reg.requests();
        let blobs = log.iter().filter(|r| r.is_blob()).count();
        let puts = log
            .iter()
            .filter(|r| r.method == "PUT" && r.path.contains("/manifests/"))
            .count();
        if i > 0 {
            times.push(wall);
            counts.push((log.len() + reg.token_requests() - tokens, blobs, puts));
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median_ms = if times.len() % 2 == 1 {
        times[times.len() / 2]
    } else {
        (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2.0
    };
    // Every run does the same work; report the largest count seen.
    let (requests, blob_requests, manifest_puts) =
        counts.iter().copied().max().unwrap_or((0, 0, 0));
    Ok(Measure {
        requests,
        blob_requests,
        manifest_puts,
        median_ms,
    })
}

fn ours(retag: &str, auth: Auth, src: String, dst: String) -> Command {
    let mut parts = retag.split_whitespace();
    let mut c = Command::new(parts.next().unwrap_or("gitops-action"));
    c.args(parts).arg(src).arg(dst);
    if auth != Auth::None {
        c.env("REGISTRY_USERNAME", USER)
            .env("REGISTRY_PASSWORD", PASSWORD);
    }
    c
}

fn skopeo(auth: Auth, src: String, dst: String) -> Command {
    let mut c = Command::new("skopeo");
    c.args([
        "copy",
        "--quiet",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
    ]);
    if auth != Auth::None {
        let creds = format!("{USER}:{PASSWORD}");
        c.args(["--src-creds", &creds, "--dest-creds", &creds]);
    }
    c.arg(format!("docker://{src}"))
        .arg(format!("docker://{dst}"));
    c
}

fn bench(retag: &str, runs: usize) -> Result<()> {
    for (auth, label) in [(Auth::None, "no auth"), (Auth::Token, "token auth")] {
        let reg = TestRegistry::start(auth)?;
        let client = reg.client();
        client.push_image("bench/app", &format!("sha-{SHA}"), 5, 1 << 20, 1)?;
        let h = reg.host();
        let src = format!("{h}/bench/app:sha-{SHA}");
        let a = measure(&reg, runs, |i| {
            ours(retag, auth, src.clone(), format!("{h}/bench/app:dev-{i}"))
        })?;
        let s = measure(&reg, runs, |i| {
            skopeo(auth, src.clone(), format!("{h}/bench/app:skopeo-{i}"))
        })?;
        println!(
            "retag, same repository, 5 x 1 MiB layers, {label}: {} requests, {} blob requests, median {:.1} ms over {runs} runs (peer: skopeo copy --all --preserve-digests: {} requests, {} blob requests, median {:.1} ms)",
            a.requests, a.blob_requests, a.median_ms, s.requests, s.blob_requests, s.median_ms
        );
        // The same destination every run: the warm-up run writes it, the measured
        // runs find it already holding the digest.
        let a = measure(&reg, runs, |_| {
            ours(retag, auth, src.clone(), format!("{h}/bench/app:dev-same"))
        })?;
        let s = measure(&reg, runs, |_| {
            skopeo(auth, src.clone(), format!("{h}/bench/app:skopeo-same"))
        })?;
        println!(
            "retag, same repository, destination already at the digest, {label}: {} requests, {} manifest PUTs, median {:.1} ms over {runs} runs (peer: skopeo copy --all --preserve-digests: {} requests, {} manifest PUTs, median {:.1} ms)",
            a.requests, a.manifest_puts, a.median_ms, s.requests, s.manifest_puts, s.median_ms
        );
        let c = measure(&reg, runs.min(5), |i| {
            ours(
                retag,
                auth,
                src.clone(),
                format!("{h}/bench/prod/app-{i}:1.0.0"),
            )
        })?;
        println!(
            "retag, across repositories (blob mount), {label}: {} requests, {} blob requests, median {:.1} ms over {} runs",
            c.requests,
            c.blob_requests,
            c.median_ms,
            runs.min(5)
        );
        if auth == Auth::None {
            let (index, _) = client.push_index("bench/multi", &format!("sha-{SHA}"), 9)?;
            let src = format!("{h}/bench/multi:sha-{SHA}");
            for (dst_repo, what) in [
                ("bench/multi", "same repository"),
                ("bench/prod/multi", "across repositories"),
            ] {
                let out =
                    ours(retag, auth, src.clone(), format!("{h}/{dst_repo}:prod")).output()?;
                if !out.status.success() {
                    bail!(
                        "retag of the index failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                let (_, bytes) = client
                    .get_manifest(dst_repo, "prod")?
                    .context("index missing after retag")?;
                let got = gitops_testkit::registry::digest_of(&bytes);
                println!(
                    "multi-arch index digest after retag, {what}: {} ({got})",
                    if got == index.digest {
                        "identical"
                    } else {
                        "CHANGED"
                    }
                );
            }
        }
    }
    Ok(())
}
