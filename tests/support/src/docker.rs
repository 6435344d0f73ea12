//! A real Docker Engine (Debian's `docker.io`: dockerd 20.10 with BuildKit and
//! containerd) on a private socket, for the BuildKit build tests: `vfs` storage, no
//! iptables and no bridge (so `RUN` steps need `build-network: host` or `none`),
//! every path in a short temp folder (containerd's socket path must fit in 108
//! bytes). Stopped with SIGTERM and a wait on drop (it unmounts its data root and
//! stops its containerd), and sent SIGTERM by the kernel if the test process dies.
//! No image can be pulled here: [`DockerEngine::import_busybox`] makes a base image
//! from Debian's `busybox-static`.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Debian's 20.10 CLI, whose `DOCKER_BUILDKIT=1` client works with this daemon
/// (`/usr/local/bin/docker` on these machines is a newer CLI without buildx).
pub const DOCKER_CLI: &str = "/usr/bin/docker";

pub struct DockerEngine {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl DockerEngine {
    /// Start dockerd and wait until it answers `/_ping` (a few seconds).
    pub fn start() -> Result<DockerEngine> {
        if !Path::new("/usr/sbin/dockerd").exists() {
            bail!("dockerd is missing: apt-get install docker.io (scripts/install-deps)");
        }
        let dir = tempfile::Builder::new().prefix("dk").tempdir_in("/tmp")?;
        let d = dir.path();
        let config = serde_json::json!({
            "features": {"buildkit": true},
            "iptables": false,
            "ip-forward": false,
            "ip-masq": false,
            "bridge": "none",
            "storage-driver": "vfs",
            "data-root": d.join("root"),
            "exec-root": d.join("exec"),
            "pidfile": d.join("docker.pid"),
            "hosts": [format!("unix://{}", d.join("docker.sock").display())],
            // Else it writes /etc/docker/key.json, outside the temp folder.
            "deprecated-key-path": d.join("key.json"),
        });
        std::fs::write(d.join("daemon.json"), serde_json::to_vec_pretty(&config)?)?;
        let mut cmd = Command::new("/usr/sbin/dockerd");
        cmd.arg("--config-file")
            .arg(d.join("daemon.json"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("dockerd.log"))?);
        // SAFETY: prctl only, between fork and exec; it allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .context("starting dockerd (apt-get install docker.io)")?;
        let mut engine = DockerEngine {
            child: Some(child),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = engine
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("dockerd exited with {status}:\n{}", engine.log());
            }
            if engine.socket().exists() && engine.cli(&["version"]).is_ok() {
                return Ok(engine);
            }
            if Instant::now() > deadline {
                bail!("dockerd did not answer within 60 s:\n{}", engine.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// The value for `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// Run Debian's `docker` CLI against this daemon; its stdout.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(DOCKER_CLI)
            .args(args)
            .env("DOCKER_HOST", self.docker_host())
            .env("DOCKER_CONFIG", self.dir.path().join("cli"))
            .output()
            .with_context(|| format!("{DOCKER_CLI} (apt-get install docker.io)"))?;
        if !out.status.success() {
            bail!(
                "docker {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `docker import` a root filesystem of Debian's static busybox (`sh`, `echo`,
    /// `cat`, … as links) as `name`, the base image of the tests' Dockerfiles.
    pub fn import_busybox(&self, name: &str) -> Result<()> {
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .context("busybox is missing: apt-get install busybox-static")?;
        let mut tar = tar::Builder::new(Vec::new());
        let mut dir = |path: &str| -> Result<()> {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            tar.append_data(&mut h, path, std::io::empty())?;
            Ok(())
        };
        for d in ["bin", "tmp", "etc", "run"] {
            dir(d)?;
        }
        let bytes = std::fs::read(busybox)?;
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o755);
        h.set_size(bytes.len() as u64);
        tar.append_data(&mut h, "bin/busybox", &bytes[..])?;
        for applet in [
            "sh", "echo", "cat", "ls", "test", "mkdir", "cp", "wc", "grep", "true", "false",
            "find", "sleep", "env",
        ] {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            tar.append_link(&mut h, format!("bin/{applet}"), "busybox")?;
        }
        let data = tar.into_inner()?;
        let mut child = Command::new(DOCKER_CLI)
            .args(["import", "-", name])
            .env("DOCKER_HOST", self.docker_host())
            .env("DOCKER_CONFIG", self.dir.path().join("cli"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(&data)?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "docker import failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for DockerEngine {
    fn drop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        // SAFETY: a signal to our own child, by its pid.
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}
