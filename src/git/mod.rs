//! Git on libgit2: find the Action's remote, fetch into a private repository (never
//! into the user's checkout), make the release commit without touching any worktree,
//! and push it as a lease, re-applying the edit on races.

mod auth;
mod history;
mod http;
mod publish;
pub use publish::Edit;
mod transport;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use git2::{ErrorCode, FetchOptions, ObjectType, Oid, Repository, Tree};

use crate::error::{Failure, UserError};
use crate::retry::Backoff;

use auth::{Auth, NET_ATTEMPTS, is_lock_error, is_transient};
use http::Limits;

/// The variable that sets git's read limit in seconds (the connect limit is at most
/// that too); see [`Limits::default`] for the defaults.
pub const TIMEOUT_VAR: &str = "GITOPS_GIT_TIMEOUT";

/// Who authors and commits the release commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

impl Default for Identity {
    /// The identity GitHub shows as the Actions bot.
    fn default() -> Self {
        Identity {
            name: "github-actions[bot]".into(),
            email: "41898282+github-actions[bot]@users.noreply.github.com".into(),
        }
    }
}

impl Identity {
    /// Parse `Name <email>`.
    pub fn parse(text: &str) -> Result<Self, UserError> {
        let text = text.trim();
        let bad = || {
            UserError::new(format!("`{text}` is not an identity"))
                .hint("write it as `Name <email@example.com>`")
        };
        let (name, rest) = text.split_once('<').ok_or_else(bad)?;
        let email = rest.strip_suffix('>').ok_or_else(bad)?.trim();
        let name = name.trim();
        if name.is_empty() || email.is_empty() || email.contains(['<', '>']) {
            return Err(bad());
        }
        Ok(Identity {
            name: name.into(),
            email: email.into(),
        })
    }
}

/// How to reach and write the repository.
#[derive(Clone)]
pub struct GitOptions {
    /// The checkout whose `origin` we publish to; it is never written, not even by a fetch.
    pub workspace: PathBuf,
    /// Push/fetch URL; else the workspace's `origin`, else
    /// `GITHUB_SERVER_URL/GITHUB_REPOSITORY.git`.
    pub remote_url: Option<String>,
    pub token: Option<String>,
    pub author: Identity,
    pub committer: Identity,
    /// Attempts after the first when the base moved or a push lost a race.
    pub max_retries: u32,
}

impl std::fmt::Debug for GitOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitOptions")
            .field("workspace", &self.workspace)
            .field("remote_url", &self.remote_url.as_deref().map(display_url))
            .field("token", &crate::secrets::hidden(&self.token))
            .field("author", &self.author)
            .field("committer", &self.committer)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

impl GitOptions {
    /// Defaults from the Actions environment: `GITHUB_WORKSPACE` (else
    /// `/github/workspace` inside a Docker action, else `.`) and `GITHUB_TOKEN`.
    pub fn from_env() -> Self {
        let workspace = match std::env::var_os("GITHUB_WORKSPACE") {
            Some(w) if !w.is_empty() => PathBuf::from(w),
            _ if Path::new("/github/workspace").is_dir() => PathBuf::from("/github/workspace"),
            _ => PathBuf::from("."),
        };
        let token = ["INPUT_TOKEN", "GITHUB_TOKEN"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|t| !t.is_empty()));
        GitOptions {
            workspace,
            remote_url: None,
            token,
            author: Identity::default(),
            committer: Identity::default(),
            max_retries: 5,
        }
    }
}

/// Where the commit goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Our own `release/<service>/<env>` branch, force-updated as a lease.
    Release(String),
    /// Straight onto the base branch (`merge: direct`), fast-forward only.
    Direct,
}

/// One overlay change to publish.
#[derive(Debug, Clone)]
pub struct Publish {
    pub base: String,
    pub target: Target,
    /// Repository-relative paths of the files the edit rewrites, in one commit
    /// (a release: one; a train: every member's target file, each once).
    pub paths: Vec<String>,
    pub message: String,
}

/// The release branch name for a service and environment.
pub fn release_branch(service: &str, env: &str) -> String {
    format!("release/{service}/{env}")
}

/// Fill `{name}` placeholders of a commit-message template.
pub fn render_message(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// What [`Workspace::publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The commit the branch points to (`None` when the base already had the change).
    pub commit: Option<String>,
    /// The base tip the commit sits on.
    pub base_sha: String,
    /// The branch written (`release/…` or the base).
    pub branch: String,
    /// `false` when the base already holds the edited text.
    pub changed: bool,
    /// `false` when the branch already held exactly this change on this base.
    pub pushed: bool,
    /// Races lost and retried.
    pub retries: u32,
    /// The first file's text at the base tip, before the edit (`None`: no such file).
    pub before: Option<String>,
}

/// One version of a file, newest first in [`Workspace::file_history`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersion {
    pub commit: String,
    pub time: i64,
    pub summary: String,
    /// `None` when the commit deleted the file.
    pub text: Option<String>,
}

/// The remote a run publishes to, and the private repository its fetches land in.
///
/// Everything fetched lands in a private bare repository that lives as long as this
/// value, never in the caller's checkout: a depth-1 fetch into a full clone would make
/// it shallow (`.git/shallow`) and cost the steps after ours, and our own `rollback`,
/// their history. The checkout only tells the remote (`origin`).
pub struct Workspace {
    repo: Repository,
    url: String,
    token: Option<String>,
    author: Identity,
    committer: Identity,
    max_retries: u32,
    /// How long git's HTTP may wait to connect, and for each read or write.
    limits: Limits,
    /// `true` when the workspace was a git checkout (we still fetch privately).
    checkout: bool,
    /// The private bare repository the fetches go to.
    _private: tempfile::TempDir,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("path", &self.repo.path())
            .field("url", &display_url(&self.url))
            .finish_non_exhaustive()
    }
}

/// libgit2's owner check is a process-wide switch; serialize flipping it.
static OWNER_CHECK: Mutex<()> = Mutex::new(());

/// Open `path` as a repository even when another uid owns it.
///
/// A Docker action runs as root on the checkout the runner user made, and libgit2
/// (like git's `safe.directory`) refuses such a repository. The workspace is the one
/// repository we were handed on purpose, so we relax the check for this open only and
/// restore it before anything else can open a repository.
pub fn open_foreign_owned(path: &Path) -> Result<Repository, git2::Error> {
    let _guard = OWNER_CHECK.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: libgit2 options are global; the mutex keeps our own flips from
    // interleaving, and no other code in this process toggles this option.
    unsafe { git2::opts::set_verify_owner_validation(false)? };
    let opened = Repository::open(path);
    // SAFETY: as above.
    let restored = unsafe { git2::opts::set_verify_owner_validation(true) };
    let repo = opened?;
    restored?;
    Ok(repo)
}

impl Workspace {
    /// Open the workspace checkout for its remote, and a private bare repository for
    /// the objects; with no checkout, the remote comes from the options or the env.
    pub fn open(opts: &GitOptions) -> anyhow::Result<Self> {
        let limits = limits_from_env()?;
        transport::register()
            .map_err(|e| anyhow::Error::new(Failure::new(e.message().to_string())))?;
        let checkout = if opts.workspace.join(".git").exists() || is_bare_repo(&opts.workspace) {
            Some(open_foreign_owned(&opts.workspace).map_err(|e| {
                anyhow::Error::new(Failure::new(format!(
                    "cannot open the git repository in `{}`: {}",
                    opts.workspace.display(),
                    e.message()
                )))
            })?)
        } else {
            None
        };
        let origin = checkout.as_ref().and_then(|r| {
            r.find_remote("origin")
                .ok()
                .and_then(|r| r.url().ok().map(String::from))
        });
        let scratch = crate::fs::scratch_dir();
        let dir = tempfile::Builder::new()
            .prefix("gitops-action-git-")
            .tempdir_in(&scratch)
            .with_context(|| {
                format!(
                    "cannot create a directory for the private repository in `{}`",
                    scratch.display()
                )
            })?;
        let repo = Repository::init_bare(dir.path()).map_err(|e| {
            Failure::new(format!(
                "cannot create a private repository: {}",
                e.message()
            ))
        })?;
        let url = match &opts.remote_url {
            Some(u) => u.clone(),
            None => match origin {
                Some(u) => u,
                None => remote_from_env().ok_or_else(|| {
                    if checkout.is_none() {
                        UserError::new(format!(
                            "`{}` is not a git checkout and no remote is known",
                            opts.workspace.display()
                        ))
                        .hint("run `actions/checkout` first, or set `GITHUB_SERVER_URL` and `GITHUB_REPOSITORY`")
                    } else {
                        UserError::new(format!(
                            "the git repository in `{}` has no remote `origin`, and no other remote is known",
                            opts.workspace.display()
                        ))
                        .hint("add it (`git remote add origin <url>`), or set `GITHUB_SERVER_URL` and `GITHUB_REPOSITORY`")
                    }
                })?,
            },
        };
        if let Some(t) = &opts.token {
            crate::output::register_secret(t);
        }
        Ok(Workspace {
            repo,
            url,
            token: opts.token.clone(),
            author: opts.author.clone(),
            committer: opts.committer.clone(),
            max_retries: opts.max_retries,
            limits,
            checkout: checkout.is_some(),
            _private: dir,
        })
    }

    /// `true` when the workspace was not a git checkout, so the remote came from the
    /// options or the env.
    pub fn is_clone(&self) -> bool {
        !self.checkout
    }

    /// Where the private repository the fetches go to is.
    pub fn git_dir(&self) -> &Path {
        self.repo.path()
    }

    /// The remote URL without any credentials, for messages.
    pub fn remote_display(&self) -> String {
        display_url(&self.url)
    }

    /// The base branch: `explicit`, else the remote's default branch.
    pub fn base_branch(&self, explicit: Option<&str>) -> anyhow::Result<String> {
        if let Some(b) = explicit.filter(|b| !b.is_empty()) {
            return Ok(b.trim_start_matches("refs/heads/").to_string());
        }
        let mut remote = self.repo.remote_anonymous(&self.url)?;
        let auth = self.auth();
        let conn = remote
            .connect_auth(git2::Direction::Fetch, Some(auth.callbacks()), None)
            .map_err(|e| self.transport_error("list branches of", e, &auth))?;
        let head = conn.default_branch().map_err(|e| {
            Failure::new(format!(
                "`{}` does not name a default branch: {}",
                self.remote_display(),
                e.message()
            ))
            .hint("set the `base` input")
        })?;
        let head = head.as_str().unwrap_or_default();
        Ok(head.trim_start_matches("refs/heads/").to_string())
    }

    /// Fetch `branch` (depth 1) and return its tip; `None` when the remote lacks it.
    pub fn fetch_branch(&self, branch: &str) -> anyhow::Result<Option<String>> {
        let tips = self.fetch(&[branch])?;
        Ok(tips.into_iter().next().flatten().map(|o| o.to_string()))
    }

    /// Fetch options of one attempt: the token offered once, no tags, and `depth`
    /// commits where the private repository can be shallow.
    fn fetch_options<'a>(&self, auth: &Auth, depth: i32) -> FetchOptions<'a> {
        let mut fo = FetchOptions::new();
        fo.remote_callbacks(auth.callbacks());
        if self.can_shallow() {
            fo.depth(depth);
        }
        fo.download_tags(git2::AutotagOption::None);
        fo
    }

    /// The commit `what` names on the remote (a full ref `refs/heads/…`/`refs/tags/…`,
    /// or a full sha), fetched at depth 1 into the private repository: its sha and
    /// committer time; `None` when the remote has no such ref. GitHub serves any
    /// reachable commit by sha (actions/checkout fetches `origin <sha>` the same way:
    /// src/ref-helper.ts `getRefSpec`).
    pub fn fetch_commit(&self, what: &str) -> anyhow::Result<Option<(String, i64)>> {
        const LOCAL: &str = "refs/gitops-action/commit";
        let mut remote = self.repo.remote_anonymous(&self.url)?;
        let auth = self.auth();
        let mut fo = self.fetch_options(&auth, 1);
        let spec = format!("+{what}:{LOCAL}");
        if let Err(e) = remote.fetch(&[spec.as_str()], Some(&mut fo), None) {
            let by_sha = what.len() == 40 && what.bytes().all(|b| b.is_ascii_hexdigit());
            if by_sha && !auth.failed.get() && e.code() != ErrorCode::Auth {
                return Err(UserError::new(format!(
                    "commit `{what}` is not in `{}`: {}",
                    self.remote_display(),
                    scrub(e.message(), self.token.as_deref())
                ))
                .hint("push the commit, or pass the sha of a commit the remote has")
                .into());
            }
            return Err(self.transport_error("fetch a commit from", e, &auth));
        }
        let Ok(found) = self.repo.find_reference(LOCAL) else {
            return Ok(None);
        };
        let commit = found
            .peel_to_commit()
            .map_err(|e| Failure::new(format!("`{what}` is not a commit: {}", e.message())))?;
        let out = (commit.id().to_string(), commit.committer().when().seconds());
        drop(commit);
        let _ = self.repo.find_reference(LOCAL).and_then(|mut r| r.delete());
        Ok(Some(out))
    }

    /// The tags on the remote that point at `sha` (lightweight, or annotated and
    /// peeled), from one ref advertisement (`git ls-remote`): a depth-1 checkout has
    /// no tags (actions/checkout fetches with `--no-tags`: src/git-command-manager.ts
    /// `fetch`), yet `{version}` comes from them.
    /// `sha` may be an abbreviation of at least 7 digits (a `{sha7}` tag's).
    pub fn tags_at(&self, sha: &str) -> anyhow::Result<Vec<String>> {
        let sha = sha.to_ascii_lowercase();
        if sha.len() < 7 || sha.len() > 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Vec::new());
        }
        let mut remote = self.repo.remote_anonymous(&self.url)?;
        let auth = self.auth();
        let conn = remote
            .connect_auth(git2::Direction::Fetch, Some(auth.callbacks()), None)
            .map_err(|e| self.transport_error("list tags of", e, &auth))?;
        let mut tags: Vec<String> = conn
            .list()?
            .iter()
            .filter(|h| h.oid().to_string().starts_with(&sha))
            .filter_map(|h| h.name().strip_prefix("refs/tags/"))
            .map(|n| n.trim_end_matches("^{}").to_string())
            .collect();
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    /// Text of `path` at `rev` (a sha, a branch fetched as `origin/<branch>`, any
    /// revspec); `None` when the file doesn't exist there.
    pub fn read_at(&self, rev: &str, path: &str) -> anyhow::Result<Option<String>> {
        let commit = self
            .repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map_err(|e| Failure::new(format!("cannot resolve `{rev}`: {}", e.message())))?;
        read_in_tree(&self.repo, &commit.tree()?, path)
    }

    /// The tip of `branch` as the remote advertises it now (`ls-remote`), retrying
    /// 5xx and dropped connections.
    fn remote_tip(&self, branch: &str) -> anyhow::Result<Option<Oid>> {
        let name = format!("refs/heads/{branch}");
        let mut tries = 0;
        loop {
            tries += 1;
            let mut remote = self.repo.remote_anonymous(&self.url)?;
            let auth = self.auth();
            let listed = remote
                .connect_auth(git2::Direction::Fetch, Some(auth.callbacks()), None)
                .and_then(|c| Ok(c.list()?.iter().find(|h| h.name() == name).map(|h| h.oid())));
            match listed {
                Ok(tip) => return Ok(tip),
                Err(e) if is_transient(&e, &auth) && tries < NET_ATTEMPTS => {
                    std::thread::sleep(Backoff::GIT.delay(tries));
                }
                Err(e) => {
                    return Err(self.transport_error(
                        &format!("read `{branch}` (to learn whether the push landed) from"),
                        e,
                        &auth,
                    ));
                }
            }
        }
    }

    /// libgit2's local transport (`file://`, plain paths) refuses shallow fetches;
    /// a local fetch copies no bytes over a network anyway.
    fn can_shallow(&self) -> bool {
        self.url.contains("://") && !self.url.starts_with("file://")
    }

    /// Fetch the given branches at depth 1 into `refs/remotes/origin/*`; return each
    /// one's tip as the remote advertised it (`None`: no such branch there).
    fn fetch(&self, branches: &[&str]) -> anyhow::Result<Vec<Option<Oid>>> {
        let mut remote = self.repo.remote_anonymous(&self.url)?;
        let specs: Vec<String> = branches
            .iter()
            .map(|b| format!("+refs/heads/{b}:refs/remotes/origin/{b}"))
            .collect();
        // Another process fetching into the same checkout holds the ref (or
        // `shallow`) lock for a moment: wait for it instead of failing the release.
        // Each attempt gets fresh callbacks: the token is offered once per attempt.
        let mut locked = 0;
        let mut transient = 0;
        loop {
            let auth = self.auth();
            let mut fo = self.fetch_options(&auth, 1);
            match remote.fetch(&specs, Some(&mut fo), None) {
                Ok(()) => break,
                Err(e) if is_lock_error(&e) && locked < 200 => {
                    locked += 1;
                    use rand::Rng as _;
                    std::thread::sleep(Duration::from_millis(20 + rand::rng().random_range(0..80)));
                }
                // A fetch changes nothing on the remote: a 5xx or a dropped
                // connection is sent again, a bounded number of times.
                Err(e) if is_transient(&e, &auth) && transient < NET_ATTEMPTS => {
                    transient += 1;
                    eprintln!(
                        "git: fetch from `{}`: {}; trying again ({transient}/{NET_ATTEMPTS})",
                        self.remote_display(),
                        scrub(e.message(), self.token.as_deref())
                    );
                    std::thread::sleep(Backoff::GIT.delay(transient));
                }
                Err(e) => return Err(self.transport_error("fetch from", e, &auth)),
            }
        }
        // The advertisement, not the local tracking refs: a branch deleted upstream
        // (after a merge) must read as absent, not as its stale local copy.
        let heads = remote.list()?;
        Ok(branches
            .iter()
            .map(|b| {
                let name = format!("refs/heads/{b}");
                heads.iter().find(|h| h.name() == name).map(|h| h.oid())
            })
            .collect())
    }

    /// Credentials and limits for one network operation.
    fn auth(&self) -> Auth {
        Auth::new(self.token.as_deref(), &self.url, self.limits)
    }

    fn transport_error(&self, what: &str, e: git2::Error, auth: &Auth) -> anyhow::Error {
        let msg = scrub(e.message(), self.token.as_deref());
        let f = Failure::new(format!("cannot {what} `{}`: {msg}", self.remote_display()));
        let f = if auth.timed_out.get() {
            f.hint(format!(
                "the git server stopped answering; try again later, or allow it longer with `{TIMEOUT_VAR}` (seconds without data, now {})",
                http::secs(self.limits.read).trim_end_matches(" s")
            ))
        } else if auth.failed.get()
            || e.code() == ErrorCode::Auth
            || e.class() == git2::ErrorClass::Http && msg.contains("401")
        {
            if self.token.is_some() {
                f.hint("the token was refused; check that it is valid and has `contents: write` on this repository")
            } else {
                f.hint("set the `token` input (e.g. `${{ github.token }}`)")
            }
        } else {
            f
        };
        f.into()
    }
}

/// [`Limits::default`], or the read limit `GITOPS_GIT_TIMEOUT` sets (in seconds), with
/// the connect limit no longer than it.
fn limits_from_env() -> Result<Limits, UserError> {
    let mut limits = Limits::default();
    let Some(raw) = std::env::var(TIMEOUT_VAR)
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(limits);
    };
    let secs: f64 = raw
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .ok_or_else(|| {
            UserError::new(format!(
                "`{TIMEOUT_VAR}` is `{}`, not a number of seconds",
                raw.escape_debug()
            ))
            .hint(format!(
                "write a number of seconds up to 86400, e.g. `{TIMEOUT_VAR}=120`, or unset it"
            ))
        })?;
    limits.read = Duration::from_secs_f64(secs);
    limits.connect = limits.connect.min(limits.read);
    Ok(limits)
}

fn is_bare_repo(path: &Path) -> bool {
    path.join("HEAD").is_file() && path.join("objects").is_dir()
}

fn remote_from_env() -> Option<String> {
    let server = std::env::var("GITHUB_SERVER_URL")
        .ok()
        .filter(|s| !s.is_empty())?;
    let repo = std::env::var("GITHUB_REPOSITORY")
        .ok()
        .filter(|s| !s.is_empty())?;
    Some(format!("{}/{repo}.git", server.trim_end_matches('/')))
}

/// The URL without user info, so a token someone put there is never shown.
fn display_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && !userinfo.contains('/')
    {
        return format!("{scheme}://{host}");
    }
    url.to_string()
}

fn scrub(text: &str, token: Option<&str>) -> String {
    crate::secrets::scrub(text, token)
}

fn blob_id(tree: &Tree<'_>, path: &str) -> Option<Oid> {
    tree.get_path(Path::new(path))
        .ok()
        .filter(|e| e.kind() == Some(ObjectType::Blob))
        .map(|e| e.id())
}

pub(crate) fn read_in_tree(
    repo: &Repository,
    tree: &Tree<'_>,
    path: &str,
) -> anyhow::Result<Option<String>> {
    let Some(id) = blob_id(tree, path) else {
        return Ok(None);
    };
    // The base branch is repository text too. A link (mode 120000) would
    // have its target read as YAML and be committed back as a link; refuse it, and
    // any blob over the size cap, as the checkout's reader does.
    if tree
        .get_path(Path::new(path))
        .is_ok_and(|e| e.filemode() == 0o120000)
    {
        return Err(UserError::new(format!(
            "`{path}` is a symbolic link in the repository, not a regular file"
        ))
        .hint("overlays and config must be regular files: replace the link with the file itself")
        .into());
    }
    let blob = repo.find_blob(id)?;
    if blob.size() as u64 > crate::fs::MAX_FILE_BYTES {
        return Err(UserError::new(format!(
            "`{path}` holds {} bytes, more than the {} this action reads",
            blob.size(),
            crate::fs::MAX_FILE_BYTES
        ))
        .into());
    }
    let text = crate::fs::decode_user_text(std::path::Path::new(path), blob.content().to_vec())?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_parses_and_refuses() {
        let id = Identity::parse("Release Bot <bot@example.com>").unwrap();
        assert_eq!(id.name, "Release Bot");
        assert_eq!(id.email, "bot@example.com");
        assert!(Identity::parse("bot@example.com").is_err());
        assert!(Identity::parse("<bot@example.com>").is_err());
        assert!(Identity::parse("Bot <>").is_err());
    }

    #[test]
    fn urls_lose_their_credentials_for_display() {
        assert_eq!(
            display_url("https://x-access-token:ghs_abc@github.com/o/r"),
            "https://github.com/o/r"
        );
        assert_eq!(
            display_url("https://github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(display_url("file:///tmp/a@b/r"), "file:///tmp/a@b/r");
    }

    #[test]
    fn messages_fill_placeholders() {
        assert_eq!(
            render_message(
                "{service}: {env} {old} → {new}",
                &[
                    ("service", "hello"),
                    ("env", "dev"),
                    ("old", "a"),
                    ("new", "b")
                ]
            ),
            "hello: dev a → b"
        );
    }
}
