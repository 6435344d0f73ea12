//! Plumbing on the stand-in's bare repositories through the `git` CLI: commits written
//! without a worktree, merges computed with `git merge-tree --write-tree`, history reads.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// All-zero object id, as git writes for a missing ref side.
pub const ZERO: &str = "0000000000000000000000000000000000000000";

/// The text inside the stand-in's web-flow signatures.
pub const WEB_FLOW_MARK: &str = "stand-in web-flow signature";

/// Who wrote or committed a commit.
#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    pub email: String,
    /// `git` date format (`@1700000000 +0000`, RFC 2822, ISO 8601); `None` is now.
    pub date: Option<String>,
}

impl Person {
    pub fn new(name: &str, email: &str) -> Self {
        Person {
            name: name.into(),
            email: email.into(),
            date: None,
        }
    }

    /// GitHub's web-flow committer.
    pub fn github() -> Self {
        Person::new("GitHub", "noreply@github.com")
    }

    /// The noreply identity GitHub gives a user login.
    pub fn of_login(login: &str) -> Self {
        Person::new(login, &format!("{login}@users.noreply.github.com"))
    }
}

/// One commit as the REST API shows it.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub sha: String,
    pub parents: Vec<String>,
    pub tree: String,
    pub author: (String, String, String),
    pub committer: (String, String, String),
    pub message: String,
}

/// A bare repository on disk.
#[derive(Debug, Clone)]
pub struct Bare {
    pub dir: PathBuf,
}

/// `git` with the user's and the system's configuration shut out.
pub fn git_command() -> Command {
    let mut c = Command::new("git");
    c.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_WORK_TREE");
    c
}

impl Bare {
    /// `git init --bare` with the initial branch named `branch`.
    pub fn init(dir: &Path, branch: &str) -> Result<Bare> {
        std::fs::create_dir_all(dir)?;
        let out = git_command()
            .args(["init", "--bare", "-q", "-b", branch])
            .arg(dir)
            .output()?;
        if !out.status.success() {
            bail!("git init: {}", String::from_utf8_lossy(&out.stderr));
        }
        let b = Bare {
            dir: dir.to_path_buf(),
        };
        // GitHub serves any reachable commit by id, and keeps no reflog we could rely on.
        b.run(&["config", "uploadpack.allowAnySHA1InWant", "true"])?;
        b.run(&["config", "uploadpack.allowFilter", "true"])?;
        b.run(&["config", "receive.advertisePushOptions", "true"])?;
        Ok(b)
    }

    fn cmd(&self) -> Command {
        let mut c = git_command();
        c.current_dir(&self.dir).env("GIT_DIR", &self.dir);
        c
    }

    /// Run git; stdout trimmed of its final newline, or an error carrying stderr.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        self.run_env(args, &[], None)
    }

    pub fn run_env(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&[u8]>,
    ) -> Result<String> {
        let (ok, out, err) = self.try_run(args, env, stdin)?;
        if !ok {
            bail!("git {}: {}", args.join(" "), err.trim());
        }
        Ok(out)
    }

    /// Run git and report success, stdout and stderr without judging.
    pub fn try_run(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&[u8]>,
    ) -> Result<(bool, String, String)> {
        let mut c = self.cmd();
        c.args(args)
            .envs(env.iter().copied())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c
            .spawn()
            .with_context(|| format!("spawning git {args:?}"))?;
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().context("git stdin")?;
            pipe.write_all(input)?;
        }
        let out = child.wait_with_output()?;
        let mut stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if stdout.ends_with('\n') {
            stdout.pop();
        }
        Ok((
            out.status.success(),
            stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// The commit a branch points at, if the branch exists.
    pub fn branch(&self, branch: &str) -> Option<String> {
        self.resolve(&format!("refs/heads/{branch}"))
    }

    /// A commit id for a ref, branch, tag or (abbreviated) id.
    pub fn resolve(&self, rev: &str) -> Option<String> {
        if rev.starts_with('-') {
            return None;
        }
        let (ok, out, _) = self
            .try_run(
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("{rev}^{{commit}}"),
                ],
                &[],
                None,
            )
            .ok()?;
        ok.then_some(out)
    }

    /// Move `refs/heads/branch` to `new` if it is still at `old` (`None`: must not exist).
    pub fn cas_branch(&self, branch: &str, new: &str, old: Option<&str>) -> Result<bool> {
        let r = format!("refs/heads/{branch}");
        let (ok, _, _) = self.try_run(&["update-ref", &r, new, old.unwrap_or(ZERO)], &[], None)?;
        Ok(ok)
    }

    pub fn delete_branch(&self, branch: &str) -> Result<bool> {
        let r = format!("refs/heads/{branch}");
        let (ok, _, _) = self.try_run(&["update-ref", "-d", &r], &[], None)?;
        Ok(ok)
    }

    pub fn is_ancestor(&self, a: &str, b: &str) -> bool {
        self.try_run(&["merge-base", "--is-ancestor", a, b], &[], None)
            .map(|(ok, _, _)| ok)
            .unwrap_or(false)
    }

    pub fn merge_base(&self, a: &str, b: &str) -> Option<String> {
        let (ok, out, _) = self.try_run(&["merge-base", a, b], &[], None).ok()?;
        ok.then_some(out)
    }

    /// Count of commits in `b` not in `a`.
    pub fn count(&self, a: &str, b: &str) -> Result<u64> {
        Ok(self
            .run(&["rev-list", "--count", &format!("{a}..{b}")])?
            .parse()?)
    }

    /// The tree of merging `theirs` into `ours`, or `None` on a conflict. With `base`,
    /// that commit is the merge base (a cherry-pick).
    pub fn merge_tree(
        &self,
        ours: &str,
        theirs: &str,
        base: Option<&str>,
    ) -> Result<Option<String>> {
        let mb;
        let mut args = vec!["merge-tree", "--write-tree", "--no-messages", "--name-only"];
        if let Some(b) = base {
            mb = format!("--merge-base={b}");
            args.push(&mb);
        }
        args.extend([ours, theirs]);
        let out = self.cmd().args(&args).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        match out.status.code() {
            Some(0) => Ok(Some(text.lines().next().unwrap_or_default().to_string())),
            Some(1) => Ok(None),
            _ => bail!(
                "git merge-tree {ours} {theirs}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }
    }

    /// `git commit-tree`: a commit object with these parents; nothing points at it yet.
    pub fn commit_tree(
        &self,
        tree: &str,
        parents: &[&str],
        message: &str,
        author: &Person,
        committer: &Person,
    ) -> Result<String> {
        let mut args = vec!["commit-tree", tree];
        for p in parents {
            args.push("-p");
            args.push(p);
        }
        let mut env = vec![
            ("GIT_AUTHOR_NAME", author.name.as_str()),
            ("GIT_AUTHOR_EMAIL", author.email.as_str()),
            ("GIT_COMMITTER_NAME", committer.name.as_str()),
            ("GIT_COMMITTER_EMAIL", committer.email.as_str()),
        ];
        if let Some(d) = &author.date {
            env.push(("GIT_AUTHOR_DATE", d));
        }
        if let Some(d) = &committer.date {
            env.push(("GIT_COMMITTER_DATE", d));
        }
        self.run_env(&args, &env, Some(message.as_bytes()))
    }

    /// A commit on top of `parent` (or a root commit) that writes `files` (`None`
    /// deletes the path) over the parent's tree.
    pub fn commit_files(
        &self,
        parent: Option<&str>,
        files: &[(&str, Option<&[u8]>)],
        message: &str,
        author: &Person,
    ) -> Result<String> {
        let index = tempfile::NamedTempFile::new()?;
        let index_path = index.path().to_string_lossy().into_owned();
        // An empty file is not a valid index; let git create it.
        std::fs::remove_file(index.path())?;
        let env = [("GIT_INDEX_FILE", index_path.as_str())];
        if let Some(p) = parent {
            self.run_env(&["read-tree", p], &env, None)?;
        }
        for (path, contents) in files {
            let path = path.trim_start_matches('/');
            match contents {
                Some(bytes) => {
                    let blob = self.run_env(&["hash-object", "-w", "--stdin"], &[], Some(bytes))?;
                    let info = format!("100644,{blob},{path}");
                    self.run_env(&["update-index", "--add", "--cacheinfo", &info], &env, None)?;
                }
                None => self.remove_entry(path, &env)?,
            }
        }
        let tree = self.run_env(&["write-tree"], &env, None)?;
        let parents: Vec<&str> = parent.into_iter().collect();
        self.commit_tree(&tree, &parents, message, author, author)
    }

    /// Drop `path` from the index at `env`'s `GIT_INDEX_FILE`. `--force-remove
    /// <path>` wants a work tree; an `--index-info` line of mode 0 removes the
    /// entry in a bare repository too.
    fn remove_entry(&self, path: &str, env: &[(&str, &str)]) -> Result<()> {
        let line = format!("0 {ZERO}\t{path}\n");
        self.run_env(
            &["update-index", "--index-info"],
            env,
            Some(line.as_bytes()),
        )?;
        Ok(())
    }

    /// The tree of `parent` with `files` written over it (`None` deletes the path).
    pub fn tree_with(&self, parent: &str, files: &[(&str, Option<&[u8]>)]) -> Result<String> {
        let index = tempfile::NamedTempFile::new()?;
        let index_path = index.path().to_string_lossy().into_owned();
        std::fs::remove_file(index.path())?;
        let env = [("GIT_INDEX_FILE", index_path.as_str())];
        self.run_env(&["read-tree", parent], &env, None)?;
        for (path, contents) in files {
            match contents {
                Some(bytes) => {
                    let blob = self.run_env(&["hash-object", "-w", "--stdin"], &[], Some(bytes))?;
                    // An existing file keeps its mode (an executable stays one).
                    let mode = self
                        .entry(parent, path)
                        .map(|e| e.0)
                        .filter(|m| m == "100755")
                        .unwrap_or_else(|| "100644".into());
                    let info = format!("{mode},{blob},{path}");
                    self.run_env(&["update-index", "--add", "--cacheinfo", &info], &env, None)?;
                }
                None => self.remove_entry(path, &env)?,
            }
        }
        self.run_env(&["write-tree"], &env, None)
    }

    /// A commit signed the way GitHub signs what its web flow and API commit: a
    /// `gpgsig` header (here a marker, not a real signature), so `git cat-file` shows
    /// it signed and the stand-in's REST `verification` and `GH013` rule read it.
    pub fn commit_signed(
        &self,
        tree: &str,
        parents: &[&str],
        message: &str,
        author: &Person,
        committer: &Person,
    ) -> Result<String> {
        // `commit-tree` writes the object (dates as given), then the signature
        // header goes in after `committer`, where git puts `gpgsig`.
        let plain = self.commit_tree(tree, parents, message, author, committer)?;
        let raw = self.run(&["cat-file", "commit", &plain])?;
        let (head, body) = raw.split_once("\n\n").unwrap_or((raw.as_str(), ""));
        let mut signed = format!(
            "{head}\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n {WEB_FLOW_MARK}\n -----END PGP SIGNATURE-----\n\n{body}"
        );
        if !signed.ends_with('\n') {
            signed.push('\n');
        }
        self.run_env(
            &["hash-object", "-t", "commit", "-w", "--stdin"],
            &[],
            Some(signed.as_bytes()),
        )
    }

    /// Whether GitHub signed this commit (see [`Bare::commit_signed`]).
    pub fn is_web_signed(&self, sha: &str) -> bool {
        self.run(&["cat-file", "commit", sha])
            .map(|t| {
                t.split("\n\n").next().is_some_and(|h| {
                    h.contains("gpgsig -----BEGIN PGP SIGNATURE-----") && h.contains(WEB_FLOW_MARK)
                })
            })
            .unwrap_or(false)
    }

    /// `(mode, type, id)` of the tree entry at `path` in `rev`.
    pub fn entry(&self, rev: &str, path: &str) -> Option<(String, String, String)> {
        let out = self.run(&["ls-tree", rev, "--", path]).ok()?;
        let line = out.lines().next()?;
        let (meta, name) = line.split_once('\t')?;
        if name != path {
            return None;
        }
        let mut f = meta.split_whitespace();
        Some((f.next()?.into(), f.next()?.into(), f.next()?.into()))
    }

    /// Files a commit changed against its first parent (all of them for a root).
    pub fn changed_files(&self, sha: &str) -> Option<u64> {
        let out = self
            .run(&[
                "diff-tree",
                "-r",
                "--no-commit-id",
                "--name-only",
                "--root",
                sha,
            ])
            .ok()?;
        Some(out.lines().filter(|l| !l.is_empty()).count() as u64)
    }

    /// The raw bytes of a blob.
    pub fn blob(&self, id: &str) -> Option<Vec<u8>> {
        let out = self.cmd().args(["cat-file", "blob", id]).output().ok()?;
        out.status.success().then_some(out.stdout)
    }

    pub fn commit_info(&self, rev: &str) -> Result<CommitInfo> {
        let out = self.run(&[
            "show",
            "-s",
            "--format=%H%x00%P%x00%T%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B",
            rev,
        ])?;
        let f: Vec<&str> = out.splitn(10, '\0').collect();
        if f.len() < 10 {
            bail!("unexpected `git show` output for {rev}");
        }
        Ok(CommitInfo {
            sha: f[0].into(),
            parents: f[1].split_whitespace().map(String::from).collect(),
            tree: f[2].into(),
            author: (f[3].into(), f[4].into(), f[5].into()),
            committer: (f[6].into(), f[7].into(), f[8].into()),
            message: f[9].trim_end_matches('\n').into(),
        })
    }

    /// Commit ids of `rev-list` with these arguments.
    pub fn rev_list(&self, args: &[&str]) -> Result<Vec<String>> {
        let mut a = vec!["rev-list"];
        a.extend_from_slice(args);
        Ok(self.run(&a)?.lines().map(String::from).collect())
    }

    /// The contents and blob id of `path` at `rev`, if it is a file there.
    pub fn file(&self, rev: &str, path: &str) -> Option<(Vec<u8>, String)> {
        let spec = format!("{rev}:{}", path.trim_start_matches('/'));
        let (ok, kind, _) = self.try_run(&["cat-file", "-t", &spec], &[], None).ok()?;
        if !ok || kind != "blob" {
            return None;
        }
        let blob = self.run(&["rev-parse", &spec]).ok()?;
        let out = self.cmd().args(["cat-file", "blob", &blob]).output().ok()?;
        out.status.success().then_some((out.stdout, blob))
    }
}
