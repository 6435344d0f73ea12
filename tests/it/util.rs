//! Running the real binary in a scratch workspace, and filters for snapshots.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_gitops-action");

/// The repository root (where the bundled example lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temp copy of the bundled example (`overlays/`, `.github/gitops.yaml`).
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn example() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&repo_root().join("overlays"), &dir.path().join("overlays"));
        std::fs::create_dir_all(dir.path().join(".github")).unwrap();
        std::fs::copy(
            repo_root().join(".github/gitops.yaml"),
            dir.path().join(".github/gitops.yaml"),
        )
        .unwrap();
        Workspace { dir }
    }

    pub fn empty() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap()
    }

    /// The binary with a clean environment: no runner variables leak in from the host.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(self.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("GITHUB_")
                || k.starts_with("INPUT_")
                || k == "SOURCE_DATE_EPOCH"
                || k.starts_with("RUNNER_")
            {
                c.env_remove(k);
            }
        }
        c.env("NO_COLOR", "1");
        c
    }

    /// The binary as an Action step: `GITHUB_ACTIONS=true`, this workspace, no args.
    pub fn action(&self) -> Command {
        let mut c = self.cmd();
        c.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", self.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd().args(args).output().unwrap())
    }
}

/// `git` in `dir` with the user's and the system's config shut out, any owner
/// accepted, and a fixed identity; its trimmed stdout. Fails the test on error.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .current_dir(dir)
        .args(["-c", "safe.directory=*"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// What a run printed, for snapshots: `exit: N`, then stdout, then stderr.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Panics with the transcript unless the exit code is `code`.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(self.code, code, "{}", self.transcript());
        assert!(!self.stderr.contains("panicked"), "{}", self.transcript());
        self
    }
}

/// `GITHUB_OUTPUT`'s `name<<DELIM` heredocs, the only form the binary writes; a line
/// in any other form, or an output left open, is a defect.
pub fn parse_outputs(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        let (name, delim) = l
            .split_once("<<")
            .unwrap_or_else(|| panic!("not a heredoc line {l:?} in\n{text}"));
        let mut value = Vec::new();
        let mut closed = false;
        for v in lines.by_ref() {
            if v == delim {
                closed = true;
                break;
            }
            value.push(v);
        }
        assert!(closed, "unterminated output `{name}` in\n{text}");
        out.insert(name.to_string(), value.join("\n"));
    }
    out
}

/// The runner's user on GitHub-hosted Linux runners (`runner`, uid 1001); a Docker
/// action runs as root over a workspace that user owns.
pub const RUNNER_UID: u32 = 1001;

/// Hand `path` to the runner user, as a workspace on a runner is.
pub fn chown_runner(path: &Path) {
    let o = Command::new("chown")
        .args(["-R", &format!("{RUNNER_UID}:{RUNNER_UID}")])
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `actions/checkout`'s clone: `branch` at depth 1 from `url` (which carries the
/// token) into `dir`, then the token-free `origin` it leaves behind. `extra` goes
/// to `git clone` (`--no-tags`).
pub fn checkout_depth1(dir: &Path, branch: &str, url: &str, origin: &str, extra: &[&str]) {
    let parent = dir.parent().unwrap();
    let mut args = vec!["clone", "-q", "--depth", "1"];
    args.extend_from_slice(extra);
    args.extend(["-b", branch, url, dir.to_str().unwrap()]);
    git(parent, &args);
    git(dir, &["remote", "set-url", "origin", origin]);
}
