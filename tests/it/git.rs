//! The git module against real repositories: bare remotes on disk (`file://`), depth-1
//! clones made by git itself, a checkout owned by another uid, races injected between
//! fetch and push, and 20 publishers at once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};

use gitops_action::git::{GitOptions, Identity, Publish, Target, Workspace, release_branch};
use gitops_action::overlay::{self, SetImage};

use crate::util::git;

const OVERLAY: &str = "overlays/dev/kustomization.yaml";
const START: &str = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\nimages:\n  - name: ghcr.io/acme/hello\n    newTag: dev-1\n";

/// `git daemon --inetd` behind our own listener on 127.0.0.1:0, so libgit2 speaks the
/// smart protocol (shallow fetch; receive-pack with its ref compare-and-swap) as it
/// does with GitHub; its local transport can do neither. Killed on drop.
struct Daemon {
    port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
    children: Arc<std::sync::Mutex<Vec<std::process::Child>>>,
}

impl Daemon {
    fn start(root: &Path) -> Daemon {
        use std::os::fd::OwnedFd;
        use std::process::Stdio;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let children = Arc::new(std::sync::Mutex::new(Vec::<std::process::Child>::new()));
        let (root, stop2, children2) = (root.to_path_buf(), stop.clone(), children.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let input = OwnedFd::from(conn.try_clone().unwrap());
                let output = OwnedFd::from(conn);
                let child = Command::new("git")
                    .args([
                        "daemon",
                        "--inetd",
                        "--export-all",
                        "--enable=receive-pack",
                        "--informative-errors",
                    ])
                    .arg(format!("--base-path={}", root.display()))
                    .arg(&root)
                    .env("GIT_CONFIG_GLOBAL", "/dev/null")
                    .env("GIT_CONFIG_NOSYSTEM", "1")
                    .stdin(Stdio::from(input))
                    .stdout(Stdio::from(output))
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                let mut kids = children2.lock().unwrap();
                kids.retain_mut(|c| c.try_wait().ok().flatten().is_none());
                kids.push(child);
            }
        });
        Daemon {
            port,
            stop,
            children,
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        for c in self.children.lock().unwrap().iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A bare remote with `main` holding the overlay, plus a scratch clone to push from.
struct Remote {
    dir: tempfile::TempDir,
    daemon: Daemon,
}

impl Remote {
    fn new() -> Remote {
        let dir = tempfile::tempdir().unwrap();
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", "remote.git"],
        );
        let daemon = Daemon::start(dir.path());
        let r = Remote { dir, daemon };
        let work = r.scratch();
        std::fs::create_dir_all(work.join("overlays/dev")).unwrap();
        std::fs::write(work.join(OVERLAY), START).unwrap();
        std::fs::write(work.join("README.md"), "app\n").unwrap();
        git(&work, &["add", "."]);
        git(&work, &["commit", "-qm", "init"]);
        git(&work, &["push", "-q", "origin", "HEAD:main"]);
        r
    }

    fn bare(&self) -> PathBuf {
        self.dir.path().join("remote.git")
    }

    fn url(&self) -> String {
        format!("git://127.0.0.1:{}/remote.git", self.daemon.port)
    }

    fn file_url(&self) -> String {
        format!("file://{}", self.bare().display())
    }

    /// A fresh full clone in a new directory.
    fn scratch(&self) -> PathBuf {
        let n = std::fs::read_dir(self.dir.path()).unwrap().count();
        let work = self.dir.path().join(format!("scratch{n}"));
        git(
            self.dir.path(),
            &["clone", "-q", &self.url(), work.to_str().unwrap()],
        );
        work
    }

    /// Commit `text` to `path` on `branch` from a scratch clone (someone else's push).
    fn commit(&self, branch: &str, path: &str, text: &str) -> String {
        let work = self.scratch();
        git(
            &work,
            &["checkout", "-q", "-B", branch, &format!("origin/{branch}")],
        );
        let p = work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        git(&work, &["commit", "-qam", &format!("touch {path}")]);
        git(
            &work,
            &["push", "-q", "-f", "origin", &format!("HEAD:{branch}")],
        );
        git(&work, &["rev-parse", "HEAD"])
    }

    fn tip(&self, branch: &str) -> Option<String> {
        let out = Command::new("git")
            .args([
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{branch}"),
            ])
            .current_dir(self.bare())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn show(&self, rev: &str, path: &str) -> String {
        git(&self.bare(), &["show", &format!("{rev}:{path}")])
    }
}

fn opts(workspace: &Path, url: Option<String>) -> GitOptions {
    GitOptions {
        workspace: workspace.to_path_buf(),
        remote_url: url,
        token: None,
        author: Identity::default(),
        committer: Identity::default(),
        max_retries: 8,
    }
}

/// The real overlay edit, as `release` hands it to `publish`.
fn set_tag<'a>(
    image: &'a str,
    tag: &'a str,
) -> impl FnMut(&str, &str) -> anyhow::Result<Option<String>> + 'a {
    let req = SetImage {
        image,
        tag: Some(tag),
        digest: None,
    };
    let mut edit = overlay::edit_fn(Path::new(OVERLAY), req);
    move |_path: &str, text: &str| edit(text)
}

fn release(service: &str) -> Publish {
    Publish {
        base: "main".into(),
        target: Target::Release(release_branch(service, "dev")),
        paths: vec![OVERLAY.into()],
        message: format!("{service}: dev release"),
    }
}

#[test]
fn release_commit_sits_on_the_base_tip_and_leaves_the_worktree_alone() {
    let remote = Remote::new();
    let checkout = remote.scratch();
    let ws = Workspace::open(&opts(&checkout, None)).unwrap();
    assert!(!ws.is_clone());
    let base = remote.tip("main").unwrap();

    let p = ws
        .publish(
            &release("hello"),
            &mut set_tag("ghcr.io/acme/hello", "dev-2"),
        )
        .unwrap();
    assert!(p.changed && p.pushed);
    assert_eq!(p.retries, 0);
    assert_eq!(p.base_sha, base);
    assert_eq!(p.branch, "release/hello/dev");
    assert_eq!(p.before.as_deref(), Some(START));
    let tip = remote.tip("release/hello/dev").unwrap();
    assert_eq!(Some(&tip), p.commit.as_ref());
    assert_eq!(
        git(&remote.bare(), &["rev-parse", &format!("{tip}^")]),
        base
    );
    assert_eq!(
        git(
            &remote.bare(),
            &["log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", &tip]
        ),
        "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>|github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>|hello: dev release"
    );
    assert!(remote.show(&tip, OVERLAY).contains("newTag: dev-2"));
    // One file changed, nothing else.
    assert_eq!(
        git(&remote.bare(), &["diff", "--name-only", &base, &tip]),
        OVERLAY
    );
    // The checkout is as it was: same HEAD, same file, clean status.
    assert_eq!(
        std::fs::read_to_string(checkout.join(OVERLAY)).unwrap(),
        START
    );
    assert_eq!(git(&checkout, &["rev-parse", "HEAD"]), base);
    assert_eq!(git(&checkout, &["status", "--porcelain"]), "");
}

#[test]
fn rerun_pushes_nothing_and_a_moved_base_gets_a_fresh_commit() {
    let remote = Remote::new();
    let ws = Workspace::open(&opts(&remote.scratch(), None)).unwrap();
    let first = ws
        .publish(
            &release("hello"),
            &mut set_tag("ghcr.io/acme/hello", "dev-2"),
        )
        .unwrap();
    let again = ws
        .publish(
            &release("hello"),
            &mut set_tag("ghcr.io/acme/hello", "dev-2"),
        )
        .unwrap();
    assert!(again.changed);
    assert!(
        !again.pushed,
        "re-run must not push an empty or duplicate commit"
    );
    assert_eq!(again.commit, first.commit);
    // A new process with its own depth-1 clone sees the same: nothing to push.
    let empty = tempfile::tempdir().unwrap();
    let other = Workspace::open(&opts(empty.path(), Some(remote.url()))).unwrap();
    let third = other
        .publish(
            &release("hello"),
            &mut set_tag("ghcr.io/acme/hello", "dev-2"),
        )
        .unwrap();
    assert!(!third.pushed);
    assert_eq!(third.commit, first.commit);

    // Someone changes another file on main: the next run rebuilds on the new tip.
    let moved = remote.commit("main", "README.md", "app v2\n");
    let fourth = ws
        .publish(
            &release("hello"),
            &mut set_tag("ghcr.io/acme/hello", "dev-2"),
        )
        .unwrap();
    assert!(fourth.pushed);
    assert_eq!(fourth.base_sha, moved);
    let tip = remote.tip("release/hello/dev").unwrap();
    assert_eq!(
        git(&remote.bare(), &["rev-parse", &format!("{tip}^")]),
        moved
    );
}

#[test]
fn base_that_already_has_the_change_publishes_nothing() {
    let remote = Remote::new();
    let ws = Workspace::open(&opts(&remote.scratch(), None)).unwrap();
    let p = ws
        .publish(
            &release("hello"),
            &mut set_tag("ghcr.io/acme/hello", "dev-1"),
        )
        .unwrap();
    assert!(!p.changed && !p.pushed);
    assert_eq!(p.commit, None);
    assert_eq!(remote.tip("release/hello/dev"), None);
}

#[test]
fn a_push_that_lost_the_lease_is_redone_on_fresh_text() {
    let remote = Remote::new();
    let ws = Workspace::open(&opts(&remote.scratch(), None)).unwrap();
    ws.publish(
        &release("hello"),
        &mut set_tag("ghcr.io/acme/hello", "dev-2"),
    )
    .unwrap();
    // Between our fetch and our push, another run moves the release branch and main.
    let mut calls = 0;
    let mut texts = Vec::new();
    let mut inner = set_tag("ghcr.io/acme/hello", "dev-3");
    let p = ws
        .publish(&release("hello"), &mut |_path: &str, text: &str| {
            calls += 1;
            texts.push(text.to_string());
            if calls == 1 {
                remote.commit("release/hello/dev", "README.md", "someone else\n");
                remote.commit(
                    "main",
                    OVERLAY,
                    &START.replace(
                        "newTag: dev-1",
                        "newTag: dev-1\n  - name: ghcr.io/acme/other\n    newTag: o-1",
                    ),
                );
            }
            inner(_path, text)
        })
        .unwrap();
    assert_eq!(p.retries, 1);
    assert_eq!(calls, 2, "the edit is applied again on the new base");
    assert!(texts[1].contains("ghcr.io/acme/other"));
    let tip = remote.tip("release/hello/dev").unwrap();
    let text = remote.show(&tip, OVERLAY);
    assert!(
        text.contains("newTag: dev-3") && text.contains("newTag: o-1"),
        "{text}"
    );
    assert_eq!(
        git(&remote.bare(), &["rev-parse", &format!("{tip}^")]),
        remote.tip("main").unwrap()
    );
}

#[test]
fn direct_pushes_fast_forward_and_retry_when_the_base_moves() {
    let remote = Remote::new();
    let ws = Workspace::open(&opts(&remote.scratch(), None)).unwrap();
    let req = Publish {
        target: Target::Direct,
        ..release("hello")
    };
    let mut first = true;
    let mut inner = set_tag("ghcr.io/acme/hello", "dev-2");
    let p = ws
        .publish(&req, &mut |_path: &str, text: &str| {
            if std::mem::take(&mut first) {
                remote.commit("main", "README.md", "moved\n");
            }
            inner(_path, text)
        })
        .unwrap();
    assert_eq!(p.retries, 1);
    assert_eq!(p.branch, "main");
    let main = remote.tip("main").unwrap();
    assert_eq!(p.commit.as_deref(), Some(main.as_str()));
    assert_eq!(remote.show("main", "README.md"), "moved");
    assert!(remote.show("main", OVERLAY).contains("newTag: dev-2"));
    // Fast-forward: the other push is an ancestor, nothing was forced away.
    assert_eq!(git(&remote.bare(), &["rev-list", "--count", "main"]), "3");
}

#[test]
fn retries_are_bounded() {
    let remote = Remote::new();
    let mut o = opts(&remote.scratch(), None);
    o.max_retries = 2;
    let ws = Workspace::open(&o).unwrap();
    let req = Publish {
        target: Target::Direct,
        ..release("hello")
    };
    let mut n = 0;
    let mut inner = set_tag("ghcr.io/acme/hello", "dev-2");
    let err = ws
        .publish(&req, &mut |_path: &str, text: &str| {
            n += 1;
            remote.commit("main", "README.md", &format!("moved {n}\n"));
            inner(_path, text)
        })
        .unwrap_err();
    assert_eq!(n, 3);
    assert!(
        format!("{err:#}").contains("gave up pushing `main` after 3 attempts"),
        "{err:#}"
    );
    assert_eq!(gitops_action::error::exit_code(&err), 1);
}

#[test]
fn depth_one_checkout_works_and_history_deepens_on_demand() {
    let remote = Remote::new();
    for i in 2..=5 {
        remote.commit(
            "main",
            OVERLAY,
            &START.replace("dev-1", &format!("dev-{i}")),
        );
        remote.commit("main", "README.md", &format!("r{i}\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let shallow = dir.path().join("ws");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &remote.url(),
            shallow.to_str().unwrap(),
        ],
    );
    assert_eq!(
        git(&shallow, &["rev-parse", "--is-shallow-repository"]),
        "true"
    );
    let ws = Workspace::open(&opts(&shallow, None)).unwrap();
    let p = ws
        .publish(
            &release("hello"),
            &mut set_tag("ghcr.io/acme/hello", "dev-6"),
        )
        .unwrap();
    assert!(p.pushed);

    let history = ws.file_history("origin/main", OVERLAY, 3).unwrap();
    let tags: Vec<String> = history
        .iter()
        .map(|v| {
            let t = v.text.clone().unwrap();
            t.lines()
                .find(|l| l.contains("newTag"))
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(tags, ["newTag: dev-5", "newTag: dev-4", "newTag: dev-3"]);
    // The full history reaches the first version.
    let all = ws.file_history("origin/main", OVERLAY, 50).unwrap();
    let summaries: Vec<(&str, bool)> = all
        .iter()
        .map(|v| (v.summary.as_str(), v.text.is_some()))
        .collect();
    assert_eq!(summaries.len(), 5, "{summaries:?}");
    assert_eq!(all.last().unwrap().summary, "init");
}

#[test]
fn checkout_owned_by_another_uid_opens_and_the_owner_check_comes_back() {
    let remote = Remote::new();
    let checkout = remote.scratch();
    let other = remote.scratch();
    let status = Command::new("chown")
        .args(["-R", "1001:1001"])
        .arg(&checkout)
        .arg(&other)
        .status()
        .unwrap();
    assert!(status.success());
    // As libgit2 would see it without our relaxation (we run as root).
    let Err(refused) = git2::Repository::open(&other) else {
        panic!("libgit2 opened a repository owned by another uid")
    };
    assert!(
        refused.message().contains("not owned"),
        "{}",
        refused.message()
    );

    let ws = Workspace::open(&opts(&checkout, None)).unwrap();
    assert!(!ws.is_clone());
    let p = ws
        .publish(
            &release("hello"),
            &mut set_tag("ghcr.io/acme/hello", "dev-2"),
        )
        .unwrap();
    assert!(p.pushed);
    // Only the workspace was let through: the check is on again for everything else.
    assert!(git2::Repository::open(&other).is_err());
}

#[test]
fn no_checkout_means_our_own_shallow_clone() {
    let remote = Remote::new();
    let empty = tempfile::tempdir().unwrap();
    let ws = Workspace::open(&opts(empty.path(), Some(remote.url()))).unwrap();
    assert!(ws.is_clone());
    assert_eq!(ws.base_branch(None).unwrap(), "main");
    assert_eq!(ws.base_branch(Some("refs/heads/prod")).unwrap(), "prod");
    let p = ws
        .publish(
            &release("hello"),
            &mut set_tag("ghcr.io/acme/hello", "dev-2"),
        )
        .unwrap();
    assert!(p.pushed);
    assert!(
        ws.git_dir().join("shallow").exists(),
        "the clone is shallow"
    );
    assert_eq!(
        std::fs::read_dir(empty.path()).unwrap().count(),
        0,
        "the workspace is not written"
    );
    let head = ws
        .read_at("origin/release/hello/dev", OVERLAY)
        .unwrap()
        .unwrap();
    assert!(head.contains("newTag: dev-2"));
    assert_eq!(ws.read_at("origin/main", "missing.yaml").unwrap(), None);
}

#[test]
fn no_checkout_and_no_remote_is_a_user_error() {
    let empty = tempfile::tempdir().unwrap();
    let err = Workspace::open(&GitOptions {
        remote_url: None,
        ..opts(empty.path(), None)
    });
    // The env may carry GITHUB_SERVER_URL/GITHUB_REPOSITORY on a runner; only
    // assert the refusal when it doesn't.
    if std::env::var_os("GITHUB_REPOSITORY").is_none() {
        let err = err.unwrap_err();
        assert_eq!(gitops_action::error::exit_code(&err), 2);
        assert!(
            format!("{err:#}").contains("is not a git checkout"),
            "{err:#}"
        );
    }
}

#[test]
fn missing_base_branch_is_a_user_error_and_pushes_nothing() {
    let remote = Remote::new();
    let ws = Workspace::open(&opts(&remote.scratch(), None)).unwrap();
    let req = Publish {
        base: "nope".into(),
        ..release("hello")
    };
    let err = ws
        .publish(&req, &mut set_tag("ghcr.io/acme/hello", "dev-2"))
        .unwrap_err();
    assert_eq!(gitops_action::error::exit_code(&err), 2);
    assert!(
        format!("{err:#}").contains("base branch `nope` does not exist"),
        "{err:#}"
    );
    assert_eq!(remote.tip("release/hello/dev"), None);
}

#[test]
fn a_service_without_an_entry_is_added() {
    let remote = Remote::new();
    let ws = Workspace::open(&opts(&remote.scratch(), None)).unwrap();
    let p = ws
        .publish(
            &release("newsvc"),
            &mut set_tag("ghcr.io/acme/newsvc", "dev-9"),
        )
        .unwrap();
    assert!(p.pushed);
    let text = remote.show("release/newsvc/dev", OVERLAY);
    assert!(
        text.contains("ghcr.io/acme/newsvc") && text.contains("dev-9"),
        "{text}"
    );
    assert!(text.contains("ghcr.io/acme/hello"), "{text}");
}

#[test]
fn twenty_publishers_to_one_file_lose_nothing() {
    let remote = Remote::new();
    let n = 20;
    let barrier = Arc::new(Barrier::new(n));
    let url = remote.url();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let url = url.clone();
            std::thread::spawn(move || {
                let empty = tempfile::tempdir().unwrap();
                let mut o = opts(empty.path(), Some(url));
                o.max_retries = 40;
                let ws = Workspace::open(&o).unwrap();
                let image = format!("ghcr.io/acme/svc{i}");
                let tag = format!("dev-{i}");
                let req = Publish {
                    target: Target::Direct,
                    ..release(&format!("svc{i}"))
                };
                barrier.wait();
                ws.publish(&req, &mut set_tag(&image, &tag))
                    .unwrap()
                    .retries
            })
        })
        .collect();
    let retries: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    eprintln!("20 direct publishers: {retries} retries in all");
    let text = remote.show("main", OVERLAY);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for i in 0..n {
        let name = format!("- name: ghcr.io/acme/svc{i}");
        let at: Vec<usize> = (0..lines.len()).filter(|&k| lines[k] == name).collect();
        assert_eq!(at.len(), 1, "svc{i} once:\n{text}");
        assert_eq!(lines[at[0] + 1], format!("newTag: dev-{i}"), "{text}");
    }
    assert_eq!(git(&remote.bare(), &["rev-list", "--count", "main"]), "21");
}

#[test]
fn a_local_path_remote_works_without_shallow_fetches() {
    let remote = Remote::new();
    let empty = tempfile::tempdir().unwrap();
    let ws = Workspace::open(&opts(empty.path(), Some(remote.file_url()))).unwrap();
    let p = ws
        .publish(
            &release("hello"),
            &mut set_tag("ghcr.io/acme/hello", "dev-2"),
        )
        .unwrap();
    assert!(p.pushed);
    assert!(
        remote
            .show("release/hello/dev", OVERLAY)
            .contains("newTag: dev-2")
    );
}
