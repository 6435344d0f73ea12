//! Git on libgit2: find the Action's remote, fetch into a private repository (never
//! into the user's checkout), make the release commit without touching any worktree,
//! and push it as a lease, re-applying the edit on races.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use git2::{
    Cred, CredentialType, ErrorCode, FetchOptions, ObjectType, Oid, PushOptions, RemoteCallbacks,
    Repository, Signature, Tree,
};

use crate::error::{Failure, UserError};
use crate::retry::Backoff;

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
            .field("token", &crate::action::hidden(&self.token))
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
    /// Repository-relative path of the file the edit rewrites.
    pub path: String,
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
    /// The file's text at the base tip, before the edit (`None`: no such file).
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
            crate::action::register_secret(t);
        }
        Ok(Workspace {
            repo,
            url,
            token: opts.token.clone(),
            author: opts.author.clone(),
            committer: opts.committer.clone(),
            max_retries: opts.max_retries,
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
        let auth = Auth::new(self.token.as_deref(), &self.url);
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
    fn fetch_options<'a>(&self, auth: &Auth<'a>, depth: i32) -> FetchOptions<'a> {
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
        let auth = Auth::new(self.token.as_deref(), &self.url);
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
        let auth = Auth::new(self.token.as_deref(), &self.url);
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

    /// Commit the edit of `req.path` on the base tip and push it, retrying lost races.
    ///
    /// `edit` gets the file's current text at the fresh base tip (`""` when it is
    /// missing) and returns the new text, or `None` when it already holds the change.
    /// It is called again on every retry: the change is re-applied to the new text,
    /// never rebased as a patch.
    pub fn publish(
        &self,
        req: &Publish,
        edit: &mut dyn FnMut(&str) -> anyhow::Result<Option<String>>,
    ) -> anyhow::Result<Published> {
        check_path(&req.path)?;
        let branch = match &req.target {
            Target::Release(b) => b.clone(),
            Target::Direct => req.base.clone(),
        };
        let mut retries = 0;
        loop {
            match self.attempt(req, &branch, edit)? {
                Attempt::Done(mut p) => {
                    p.retries = retries;
                    return Ok(p);
                }
                Attempt::Raced(why) => {
                    if retries >= self.max_retries {
                        return Err(Failure::new(format!(
                            "gave up pushing `{branch}` after {} attempts: {why}",
                            retries + 1
                        ))
                        .hint("others kept changing the same branch; run the step again")
                        .into());
                    }
                    retries += 1;
                    eprintln!("git: {why}; retrying ({retries}/{})", self.max_retries);
                    std::thread::sleep(Backoff::GIT.delay(retries));
                }
            }
        }
    }

    fn attempt(
        &self,
        req: &Publish,
        branch: &str,
        edit: &mut dyn FnMut(&str) -> anyhow::Result<Option<String>>,
    ) -> anyhow::Result<Attempt> {
        let wanted: Vec<&str> = match &req.target {
            Target::Release(b) => vec![req.base.as_str(), b.as_str()],
            Target::Direct => vec![req.base.as_str()],
        };
        let tips = self.fetch(&wanted)?;
        let Some(base_tip) = tips[0] else {
            return Err(UserError::new(format!(
                "base branch `{}` does not exist in `{}`",
                req.base,
                self.remote_display()
            ))
            .hint("check the `base` input, or push the branch first")
            .into());
        };
        // The lease: the release branch must still be where this fetch saw it.
        let lease = match &req.target {
            Target::Release(_) => tips[1],
            Target::Direct => Some(base_tip),
        };
        let base_commit = self.repo.find_commit(base_tip)?;
        let base_tree = base_commit.tree()?;
        let before = read_in_tree(&self.repo, &base_tree, &req.path)?;
        // No edit, or one that gives the same text: the base already has the change.
        let after = match edit(before.as_deref().unwrap_or(""))? {
            Some(after) if before.as_deref() != Some(after.as_str()) => after,
            _ => {
                return Ok(Attempt::Done(Published {
                    commit: None,
                    base_sha: base_tip.to_string(),
                    branch: branch.to_string(),
                    changed: false,
                    pushed: false,
                    retries: 0,
                    before,
                }));
            }
        };
        let blob = self.repo.blob(after.as_bytes())?;
        let parts: Vec<&str> = req.path.split('/').collect();
        let tree_id = replace_blob(&self.repo, Some(&base_tree), &parts, blob)?;

        // Re-running with the same change on the same base pushes nothing: the
        // branch keeps its commit, so the PR sees no new (empty) commit.
        if let (Target::Release(_), Some(current)) = (&req.target, lease)
            && let Ok(c) = self.repo.find_commit(current)
            && c.tree_id() == tree_id
            && raw_parents(&self.repo, current) == [base_tip]
        {
            return Ok(Attempt::Done(Published {
                commit: Some(current.to_string()),
                base_sha: base_tip.to_string(),
                branch: branch.to_string(),
                changed: true,
                pushed: false,
                retries: 0,
                before,
            }));
        }

        let tree = self.repo.find_tree(tree_id)?;
        let author = Signature::now(&self.author.name, &self.author.email)?;
        let committer = Signature::now(&self.committer.name, &self.committer.email)?;
        let commit = self.repo.commit(
            None,
            &author,
            &committer,
            &req.message,
            &tree,
            &[&base_commit],
        )?;

        let force = matches!(req.target, Target::Release(_));
        match self.push(Some(commit), branch, lease, force)? {
            PushResult::Ok => {
                // Keep the tracking ref true, so a later lease starts from our push.
                let _ = self.repo.reference(
                    &format!("refs/remotes/origin/{branch}"),
                    commit,
                    true,
                    "gitops-action: push",
                );
                Ok(Attempt::Done(Published {
                    commit: Some(commit.to_string()),
                    base_sha: base_tip.to_string(),
                    branch: branch.to_string(),
                    changed: true,
                    pushed: true,
                    retries: 0,
                    before,
                }))
            }
            PushResult::Raced(why) => Ok(Attempt::Raced(why)),
            PushResult::Unclear(why) => {
                // Read the ref to learn whether the push landed.
                let now = self.remote_tip(branch)?;
                if now == Some(commit) {
                    eprintln!("git: push of `{branch}` got no answer ({why}), but it landed");
                    let _ = self.repo.reference(
                        &format!("refs/remotes/origin/{branch}"),
                        commit,
                        true,
                        "gitops-action: push",
                    );
                    return Ok(Attempt::Done(Published {
                        commit: Some(commit.to_string()),
                        base_sha: base_tip.to_string(),
                        branch: branch.to_string(),
                        changed: true,
                        pushed: true,
                        retries: 0,
                        before,
                    }));
                }
                Ok(Attempt::Raced(format!(
                    "push of `{branch}` got no answer ({why}) and did not land"
                )))
            }
        }
    }

    /// The tip of `branch` as the remote advertises it now (`ls-remote`), retrying
    /// 5xx and dropped connections.
    fn remote_tip(&self, branch: &str) -> anyhow::Result<Option<Oid>> {
        let name = format!("refs/heads/{branch}");
        let mut tries = 0;
        loop {
            tries += 1;
            let mut remote = self.repo.remote_anonymous(&self.url)?;
            let auth = Auth::new(self.token.as_deref(), &self.url);
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
            let auth = Auth::new(self.token.as_deref(), &self.url);
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

    /// Push `commit` to `branch`.
    ///
    /// libgit2 has no `--force-with-lease`, so the lease is checked in the
    /// push-negotiation callback: it sees the ref's value as the server advertised it
    /// for this very push, and we cancel unless that is still `lease`. The receive-pack
    /// command then carries that value as the expected old id, and the server updates
    /// the ref only if it still holds it (a compare-and-swap under the ref lock), so
    /// the gap between advertisement and update is closed by the server too. Should a
    /// server not honour it, the PR merge is guarded by the head sha we pushed, so a
    /// commit we did not see can never be merged in our name.
    fn push(
        &self,
        commit: Option<Oid>,
        branch: &str,
        lease: Option<Oid>,
        force: bool,
    ) -> anyhow::Result<PushResult> {
        let mut remote = self.repo.remote_anonymous(&self.url)?;
        let auth = Auth::new(self.token.as_deref(), &self.url);
        let dst = format!("refs/heads/{branch}");
        let moved: RefCell<Option<String>> = RefCell::new(None);
        let rejected: RefCell<Option<String>> = RefCell::new(None);
        let remote_text: RefCell<String> = RefCell::new(String::new());
        let mut cbs = auth.callbacks();
        cbs.push_negotiation(|updates| {
            for u in updates {
                if u.dst_refname() == Ok(dst.as_str()) {
                    let seen = (!u.src().is_zero()).then(|| u.src());
                    if seen != lease {
                        *moved.borrow_mut() = Some(format!(
                            "`{branch}` moved on the remote (now {}, expected {})",
                            short(seen),
                            short(lease)
                        ));
                        return Err(git2::Error::from_str("lease broken"));
                    }
                }
            }
            Ok(())
        });
        cbs.push_update_reference(|name, status| {
            if let Some(msg) = status {
                *rejected.borrow_mut() = Some(format!("{name}: {msg}"));
            }
            Ok(())
        });
        cbs.sideband_progress(|data| {
            remote_text
                .borrow_mut()
                .push_str(&String::from_utf8_lossy(data));
            true
        });
        let mut po = PushOptions::new();
        po.remote_callbacks(cbs);
        let spec = match commit {
            Some(c) => format!("{}{c}:{dst}", if force { "+" } else { "" }),
            None => format!(":{dst}"),
        };
        let result = remote.push(&[spec.as_str()], Some(&mut po));
        drop(po);
        if let Some(why) = moved.into_inner() {
            return Ok(PushResult::Raced(why));
        }
        let remote_text = remote_text.into_inner();
        if let Err(e) = result {
            // Non-fast-forward on the base (direct) is a lost race; the rest is not.
            if e.code() == ErrorCode::NotFastForward {
                return Ok(PushResult::Raced(format!("`{branch}` moved on the remote")));
            }
            // A 5xx or a dropped connection: the ref may or may not have moved.
            if is_transient(&e, &auth) {
                return Ok(PushResult::Unclear(scrub(
                    e.message(),
                    self.token.as_deref(),
                )));
            }
            return Err(self.push_error(branch, &format!("{}\n{remote_text}", e.message()), &auth));
        }
        if let Some(msg) = rejected.into_inner() {
            let text = format!("{msg}\n{remote_text}");
            if is_lost_race(&text) {
                return Ok(PushResult::Raced(format!(
                    "push of `{branch}` rejected: {msg}"
                )));
            }
            return Err(self.push_error(branch, &text, &auth));
        }
        Ok(PushResult::Ok)
    }

    /// Delete our `branch` on the remote, only while it still points at `expected`
    /// (after a merge we made: a newer push by another run survives).
    pub fn delete_branch(&self, branch: &str, expected: &str) -> anyhow::Result<bool> {
        let expected = Oid::from_str(expected)
            .map_err(|_| Failure::new(format!("`{expected}` is not a commit id")))?;
        match self.push(None, branch, Some(expected), true)? {
            PushResult::Ok => {
                if let Ok(mut r) = self
                    .repo
                    .find_reference(&format!("refs/remotes/origin/{branch}"))
                {
                    let _ = r.delete();
                }
                Ok(true)
            }
            PushResult::Raced(_) => Ok(false),
            PushResult::Unclear(_) => Ok(self.remote_tip(branch)?.is_none()),
        }
    }

    fn push_error(&self, branch: &str, text: &str, auth: &Auth) -> anyhow::Error {
        let text = scrub(text, self.token.as_deref());
        let first = text
            .lines()
            .map(|l| l.trim().trim_start_matches("remote:").trim())
            .find(|l| !l.is_empty())
            .unwrap_or("rejected")
            .to_string();
        let lower = text.to_lowercase();
        let f = Failure::new(format!(
            "push of `{branch}` to `{}` refused: {first}",
            self.remote_display()
        ));
        let rules: Vec<&str> = text
            .lines()
            .map(|l| l.trim().trim_start_matches("remote:").trim())
            .filter(|l| l.starts_with("- "))
            .collect();
        let f = if lower.contains("gh013") && lower.contains("verified signatures") {
            // A ruleset "Require signed commits" (GH013): a push from CI has no
            // signature; commits GitHub makes through its API are signed.
            Failure::new(format!(
                "push of `{branch}` to `{}` refused: GH013: repository rule violations: {}",
                self.remote_display(),
                rules.join(" ").trim_start_matches("- ")
            ))
            .hint("a ruleset requires verified signatures, and a push from CI carries none: use `commit-via: api` (GitHub makes and signs the commits; `author` and `committer` can't be set there)")
        } else if lower.contains("workflow") && lower.contains("permission") {
            f.hint("the change touches `.github/workflows`; pushing it needs a token with the `workflows` permission (a GitHub App or PAT), which `GITHUB_TOKEN` never has")
        } else if lower.contains("protected branch")
            || lower.contains("gh006")
            || lower.contains("protect")
        {
            let rule = text
                .lines()
                .map(|l| l.trim().trim_start_matches("remote:").trim())
                .find(|l| {
                    let l = l.to_lowercase();
                    l.contains("required") || l.contains("protect")
                })
                .unwrap_or("branch protection")
                .to_string();
            f.hint(format!("`{branch}` is protected ({rule}); use a release PR (`merge: auto` or `immediate`) instead of `merge: direct`, or allow this actor in the branch rules"))
        } else if auth.failed.get()
            || lower.contains("401")
            || lower.contains("403")
            || lower.contains("permission")
            || lower.contains("denied")
        {
            f.hint(
                "give the workflow `permissions: contents: write`, or pass a token that may push",
            )
        } else {
            f
        };
        f.into()
    }

    fn transport_error(&self, what: &str, e: git2::Error, auth: &Auth) -> anyhow::Error {
        let msg = scrub(e.message(), self.token.as_deref());
        let f = Failure::new(format!("cannot {what} `{}`: {msg}", self.remote_display()));
        let f = if auth.failed.get()
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

    /// The last `n` versions of `path` reachable from `rev` (newest first), each the
    /// commit that changed it. Deepens a shallow history when it runs out.
    pub fn file_history(
        &self,
        rev: &str,
        path: &str,
        n: usize,
    ) -> anyhow::Result<Vec<FileVersion>> {
        let branch = rev.strip_prefix("origin/").unwrap_or(rev).to_string();
        let mut depth = 50;
        // An open repository keeps the grafts and parsed commits of the shallow past
        // it was opened with; only a new handle sees a history deepened since.
        let mut repo = open_foreign_owned(self.repo.path())?;
        loop {
            let (versions, truncated) = walk_history(&repo, rev, path, n)?;
            if versions.len() >= n || !truncated || depth == 0 {
                return Ok(versions);
            }
            // Shallow history ended before we found enough versions: fetch deeper.
            let mut remote = self.repo.remote_anonymous(&self.url)?;
            let auth = Auth::new(self.token.as_deref(), &self.url);
            let mut fo = self.fetch_options(&auth, depth);
            let spec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
            remote
                .fetch(&[spec.as_str()], Some(&mut fo), None)
                .map_err(|e| self.transport_error("fetch history from", e, &auth))?;
            repo = open_foreign_owned(self.repo.path())?;
            depth = match depth {
                i32::MAX => 0,
                d if d >= 800 => i32::MAX,
                d => d * 4,
            };
        }
    }
}

/// A lock file held by another git process (`*.lock` exists).
fn is_lock_error(e: &git2::Error) -> bool {
    let m = e.message();
    e.code() == ErrorCode::Locked
        || m.contains("failed to lock")
        || (m.contains("locked file") && m.contains("exists"))
}

/// Versions of `path` from `rev` back (newest first), and whether the walk stopped
/// at a shallow boundary before finding `n`.
fn walk_history(
    repo: &Repository,
    rev: &str,
    path: &str,
    n: usize,
) -> anyhow::Result<(Vec<FileVersion>, bool)> {
    let shallow = shallow_roots(repo);
    let start = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| Failure::new(format!("cannot resolve `{rev}`: {}", e.message())))?;
    let mut walk = repo.revwalk()?;
    walk.push(start.id())?;
    walk.simplify_first_parent()?;
    let mut out = Vec::new();
    for id in walk {
        let id = id?;
        let commit = repo.find_commit(id)?;
        let here = blob_id(&commit.tree()?, path);
        if shallow.contains(&id) {
            // Whether this commit changed the file is unknown: its parent is not here.
            return Ok((out, true));
        }
        let parent = match commit.parent(0) {
            Ok(p) => blob_id(&p.tree()?, path),
            Err(_) => None,
        };
        if here != parent {
            out.push(version(repo, &commit, path)?);
            if out.len() >= n {
                return Ok((out, false));
            }
        }
    }
    Ok((out, false))
}

fn version(
    repo: &Repository,
    commit: &git2::Commit<'_>,
    path: &str,
) -> anyhow::Result<FileVersion> {
    Ok(FileVersion {
        commit: commit.id().to_string(),
        time: commit.time().seconds(),
        summary: commit
            .summary()
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_string(),
        text: read_in_tree(repo, &commit.tree()?, path)?,
    })
}

/// The parents a commit object names. libgit2's `parent_ids` hides them on a shallow
/// boundary, and a release commit fetched at depth 1 is always one.
fn raw_parents(repo: &Repository, id: Oid) -> Vec<Oid> {
    let Ok(odb) = repo.odb() else {
        return Vec::new();
    };
    let Ok(obj) = odb.read(id) else {
        return Vec::new();
    };
    let data = String::from_utf8_lossy(obj.data()).into_owned();
    data.lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.strip_prefix("parent "))
        .filter_map(|h| Oid::from_str(h.trim()).ok())
        .collect()
}

fn shallow_roots(repo: &Repository) -> Vec<Oid> {
    std::fs::read_to_string(repo.path().join("shallow"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| Oid::from_str(l.trim()).ok())
        .collect()
}

enum Attempt {
    Done(Published),
    Raced(String),
}

enum PushResult {
    Ok,
    Raced(String),
    /// No answer (a 5xx, a dropped connection): read the ref to know.
    Unclear(String),
}

/// Tries of a network operation that a 5xx or a dropped connection interrupted.
const NET_ATTEMPTS: u32 = 4;

/// A 5xx or a broken connection, not a refusal: worth another try (a fetch), or a
/// look at the ref (a push).
fn is_transient(e: &git2::Error, auth: &Auth) -> bool {
    if auth.failed.get() || e.code() == ErrorCode::Auth {
        return false;
    }
    let m = e.message().to_lowercase();
    if let Some(code) = m.split("status code: ").nth(1) {
        return code.starts_with('5') || code.starts_with("429");
    }
    matches!(
        e.class(),
        git2::ErrorClass::Net
            | git2::ErrorClass::Os
            | git2::ErrorClass::Ssl
            | git2::ErrorClass::Http
    ) && [
        "eof",
        "connection",
        "reset",
        "timed out",
        "failed to receive",
        "failed to send",
        "broken pipe",
        "closed",
        "unexpected disconnect",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// Credentials for one network operation: the token as `x-access-token` basic auth
/// (what GitHub expects from `GITHUB_TOKEN` and App tokens), offered once. libgit2
/// asks again after a 401; answering with the same token would loop forever.
struct Auth<'t> {
    token: Option<&'t str>,
    /// The origin the token may go to: `GITHUB_SERVER_URL`, else (outside
    /// Actions) the remote the workspace was opened with.
    origin: String,
    failed: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<'t> Auth<'t> {
    fn new(token: Option<&'t str>, remote: &str) -> Self {
        Auth {
            token,
            origin: server_origin().unwrap_or_else(|| remote.to_string()),
            failed: Default::default(),
        }
    }

    fn callbacks(&self) -> RemoteCallbacks<'t> {
        let mut cbs = RemoteCallbacks::new();
        let token = self.token;
        let failed = self.failed.clone();
        let origin = self.origin.clone();
        let mut offered = false;
        cbs.credentials(move |url, _user, allowed| {
            // Issue 14: the token is GitHub's; it goes to the `GITHUB_SERVER_URL`
            // origin only, never to another host a remote (or a redirect) names.
            if token.is_some() && !token_may_go_to(url, &origin) {
                failed.set(true);
                return Err(git2::Error::from_str(&format!(
                    "`{}` asks for credentials, but the token is only sent to `{}` (`GITHUB_SERVER_URL`, else the workspace's remote)",
                    display_url(url),
                    display_url(&origin)
                )));
            }
            let Some(token) = token else {
                failed.set(true);
                return Err(git2::Error::from_str(
                    "the remote asks for credentials and no token is set",
                ));
            };
            if offered || !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                failed.set(true);
                return Err(git2::Error::from_str("the remote refused the token"));
            }
            offered = true;
            Cred::userpass_plaintext("x-access-token", token)
        });
        cbs
    }
}

/// `GITHUB_SERVER_URL`, the origin the token belongs to in Actions.
fn server_origin() -> Option<String> {
    std::env::var("GITHUB_SERVER_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Whether `url` is on the origin (scheme, host, port) of `server`.
fn token_may_go_to(url: &str, server: &str) -> bool {
    match (reqwest::Url::parse(url), reqwest::Url::parse(server)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
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
    crate::action::scrub(text, token)
}

fn short(oid: Option<Oid>) -> String {
    match oid {
        Some(o) => o.to_string()[..7].to_string(),
        None => "absent".into(),
    }
}

/// Rejections that mean someone else updated the ref first.
fn is_lost_race(text: &str) -> bool {
    let t = text.to_lowercase();
    [
        "fetch first",
        "non-fast-forward",
        "stale info",
        "cannot lock ref",
        "failed to update ref",
        "failed to lock",
        "but expected",
        "is at ",
    ]
    .iter()
    .any(|s| t.contains(s))
        && !t.contains("protected")
}

fn check_path(path: &str) -> anyhow::Result<()> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c == ".git");
    if bad {
        return Err(UserError::new(format!("`{path}` is not a path inside the repository")).into());
    }
    Ok(())
}

fn blob_id(tree: &Tree<'_>, path: &str) -> Option<Oid> {
    tree.get_path(Path::new(path))
        .ok()
        .filter(|e| e.kind() == Some(ObjectType::Blob))
        .map(|e| e.id())
}

fn read_in_tree(repo: &Repository, tree: &Tree<'_>, path: &str) -> anyhow::Result<Option<String>> {
    let Some(id) = blob_id(tree, path) else {
        return Ok(None);
    };
    // Issue 14: the base branch is repository text too. A link (mode 120000) would
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

/// A new tree equal to `tree` but with `path` (split in components) set to `blob`,
/// creating directories as needed and keeping an existing file's mode.
fn replace_blob(
    repo: &Repository,
    tree: Option<&Tree<'_>>,
    path: &[&str],
    blob: Oid,
) -> anyhow::Result<Oid> {
    let mut builder = repo.treebuilder(tree)?;
    let (name, rest) = path.split_first().expect("check_path rejects empty paths");
    if rest.is_empty() {
        let mode = match builder.get(name)? {
            Some(e) if e.kind() == Some(ObjectType::Blob) => e.filemode(),
            _ => 0o100644,
        };
        builder.insert(name, blob, mode)?;
    } else {
        let sub = match builder.get(name)? {
            Some(e) if e.kind() == Some(ObjectType::Tree) => Some(repo.find_tree(e.id())?),
            _ => None,
        };
        let id = replace_blob(repo, sub.as_ref(), rest, blob)?;
        builder.insert(name, id, 0o040000)?;
    }
    Ok(builder.write()?)
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
    fn the_token_goes_to_the_server_origin_only() {
        let gh = "https://github.com";
        assert!(token_may_go_to("https://github.com/acme/app.git", gh));
        assert!(!token_may_go_to("https://evil.example/acme/app.git", gh));
        assert!(!token_may_go_to("http://github.com/acme/app.git", gh));
        assert!(!token_may_go_to(
            "https://github.com.evil.example/a.git",
            gh
        ));
        assert!(token_may_go_to(
            "http://127.0.0.1:8080/a/b.git",
            "http://127.0.0.1:8080"
        ));
        assert!(!token_may_go_to(
            "http://127.0.0.1:8081/a/b.git",
            "http://127.0.0.1:8080"
        ));
        assert!(!token_may_go_to("/local/path", gh));
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
    fn paths_must_stay_inside_the_repository() {
        for bad in ["", "/etc/passwd", "a/../b", "./a", "a//b", ".git/config"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        check_path("overlays/dev/kustomization.yaml").unwrap();
    }

    #[test]
    fn lost_races_are_told_from_refusals() {
        assert!(is_lost_race("refs/heads/main: failed to update ref"));
        assert!(is_lost_race(
            "cannot lock ref 'refs/heads/x': is at 1234 but expected 5678"
        ));
        assert!(!is_lost_race(
            "refs/heads/main: protected branch hook declined"
        ));
        assert!(!is_lost_race(
            "refusing to allow a GitHub App to create or update workflow"
        ));
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

    #[test]
    fn server_errors_and_resets_are_transient_refusals_are_not() {
        use git2::{Error, ErrorClass};
        let auth = Auth::new(None, "https://github.com");
        let e = |class, msg: &str| Error::new(ErrorCode::GenericError, class, msg);
        for (class, msg) in [
            (ErrorClass::Http, "unexpected http status code: 502"),
            (ErrorClass::Http, "unexpected http status code: 503"),
            (ErrorClass::Net, "connection reset by peer"),
            (ErrorClass::Net, "early EOF"),
            (
                ErrorClass::Os,
                "failed to receive response: Connection closed",
            ),
        ] {
            assert!(is_transient(&e(class, msg), &auth), "{msg}");
        }
        for (class, msg) in [
            (ErrorClass::Http, "unexpected http status code: 403"),
            (ErrorClass::Http, "unexpected http status code: 404"),
            (ErrorClass::Reference, "cannot lock ref"),
            (ErrorClass::Callback, "lease broken"),
        ] {
            assert!(!is_transient(&e(class, msg), &auth), "{msg}");
        }
        let refused = Auth::new(Some("t"), "https://github.com");
        refused.failed.set(true);
        assert!(!is_transient(
            &e(ErrorClass::Http, "unexpected http status code: 502"),
            &refused
        ));
    }

    #[test]
    fn nested_paths_are_replaced_and_created() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let a = repo.blob(b"a").unwrap();
        let b = repo.blob(b"b").unwrap();
        let t1 = replace_blob(&repo, None, &["overlays", "dev", "k.yaml"], a).unwrap();
        let t1 = repo.find_tree(t1).unwrap();
        let t2 = replace_blob(&repo, Some(&t1), &["overlays", "prd", "k.yaml"], b).unwrap();
        let t2 = repo.find_tree(t2).unwrap();
        assert_eq!(
            read_in_tree(&repo, &t2, "overlays/dev/k.yaml")
                .unwrap()
                .as_deref(),
            Some("a")
        );
        assert_eq!(
            read_in_tree(&repo, &t2, "overlays/prd/k.yaml")
                .unwrap()
                .as_deref(),
            Some("b")
        );
        assert_eq!(
            read_in_tree(&repo, &t2, "overlays/uat/k.yaml").unwrap(),
            None
        );
    }
}
