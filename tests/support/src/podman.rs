//! podman's Docker-compatible Engine API (`podman system service`) on a unix socket
//! in a temp folder, for the build tests; killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub struct PodmanService {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl PodmanService {
    /// Start the service; `insecure` registries (`host:port`) are pushed to over
    /// plain HTTP through a registries.conf of its own (the machine's stays as is).
    pub fn start(insecure: &[String]) -> Result<PodmanService> {
        let dir = tempfile::tempdir()?;
        let conf = dir.path().join("registries.conf");
        let mut text = String::from("unqualified-search-registries = []\n");
        for host in insecure {
            text.push_str(&format!(
                "\n[[registry]]\nlocation = \"{host}\"\ninsecure = true\n"
            ));
        }
        std::fs::write(&conf, text)?;
        let sock = dir.path().join("podman.sock");
        let child = crate::lifetime::die_with_parent(&mut Command::new("podman"))
            .args(["--runtime", "runc", "system", "service", "--time=0"])
            .arg(format!("unix://{}", sock.display()))
            .env("CONTAINERS_REGISTRIES_CONF", &conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("podman.err"))?)
            .spawn()
            .context("starting `podman system service` (apt-get install podman runc)")?;
        let mut svc = PodmanService {
            child: Some(child),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !sock.exists() {
            if let Some(status) = svc.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let err =
                    std::fs::read_to_string(svc.dir.path().join("podman.err")).unwrap_or_default();
                bail!("podman system service exited with {status}: {err}");
            }
            if Instant::now() > deadline {
                bail!("podman system service did not create {}", sock.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(svc)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("podman.sock")
    }

    /// The value for `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }
}

impl Drop for PodmanService {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The action's image as the container tests run it: `scripts/build-static --test`
/// (the musl binary in `target/docker-test`), then the Dockerfile's `prebuilt` stage
/// tagged `localhost/gitops-action:container-test`. `root` is the repository.
pub fn build_action_image(root: &std::path::Path) -> Result<String> {
    let staged = Command::new("bash")
        .arg(root.join("scripts/build-static"))
        .arg("--test")
        .current_dir(root)
        .output()
        .context("scripts/build-static --test")?;
    if !staged.status.success() {
        bail!(
            "scripts/build-static --test failed:\n{}",
            String::from_utf8_lossy(&staged.stderr)
        );
    }
    let name = "localhost/gitops-action:container-test".to_string();
    let out = Command::new("podman")
        .args(["--runtime", "runc"])
        .args(["build", "--target", "prebuilt", "--pull=never", "--quiet"])
        .args(["--build-arg", "PREBUILT=target/docker-test"])
        .args(["-f", "Dockerfile", "-t", &name, "."])
        .current_dir(root)
        .output()
        .context("podman (apt-get install podman runc; scripts/install-deps)")?;
    if !out.status.success() {
        bail!(
            "podman build failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(name)
}
