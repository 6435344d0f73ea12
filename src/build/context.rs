//! The build context as the daemon receives it: a tar of the context folder without
//! `.git`, `target` and what `.dockerignore` excludes, the same for both builders.

use std::path::Path;

use anyhow::Result;

use crate::error::UserError;

/// The context as an uncompressed tar, without `.git`, `target` and what
/// `.dockerignore` excludes (patterns with `*`, `**`, `?` and `!` exceptions). The
/// Dockerfile is always sent.
pub(super) fn tar_context(root: &Path, dockerfile: &str) -> Result<Vec<u8>> {
    let ignore = DockerIgnore::read(root)?;
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    // BuildKit tells a tar context from a bare Dockerfile by reading one header from
    // the first 1024 bytes; a first entry with a GNU long-name (or PAX) header spans
    // more, and dockerd 20.10 then reads the whole tar as the Dockerfile. `./` is a
    // short first entry whatever the context holds.
    builder.append_dir(".", root)?;
    let mut stack = vec![root.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        let mut entries = std::fs::read_dir(&dir)?.collect::<std::io::Result<Vec<_>>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let rel = path
                .strip_prefix(root)?
                .to_string_lossy()
                .replace('\\', "/");
            let is_dir = e.file_type()?.is_dir();
            if rel == ".git" || rel == "target" || (rel != dockerfile && ignore.excludes(&rel)) {
                continue;
            }
            if is_dir {
                builder.append_dir(&rel, &path)?;
                stack.push(path);
            } else {
                files.push((rel, path));
            }
        }
    }
    for (rel, path) in files {
        builder.append_path_with_name(&path, &rel)?;
    }
    Ok(builder.into_inner()?)
}

struct DockerIgnore {
    rules: Vec<(globset::GlobMatcher, bool)>,
}

impl DockerIgnore {
    fn read(root: &Path) -> Result<DockerIgnore> {
        let text = match std::fs::read_to_string(root.join(".dockerignore")) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e.into()),
        };
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pat = pat.trim_start_matches("./").trim_matches('/');
            let glob = globset::GlobBuilder::new(pat)
                .literal_separator(true)
                .build()
                .map_err(|e| {
                    UserError::new(format!(
                        "{}: `{line}` is not a valid pattern: {e}",
                        root.join(".dockerignore").display()
                    ))
                })?;
            rules.push((glob.compile_matcher(), negate));
        }
        Ok(DockerIgnore { rules })
    }

    /// Last matching rule wins; a path is also excluded by a match on a parent.
    fn excludes(&self, rel: &str) -> bool {
        let mut excluded = false;
        for (glob, negate) in &self.rules {
            let hit = glob.is_match(rel)
                || rel
                    .match_indices('/')
                    .any(|(i, _)| glob.is_match(&rel[..i]));
            if hit {
                excluded = !negate;
            }
        }
        excluded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_respects_dockerignore() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for f in [
            "Dockerfile",
            "app/main",
            "app/debug.log",
            "app/keep.log",
            ".git/HEAD",
            "target/release/x",
            "docs/a.md",
        ] {
            std::fs::create_dir_all(p.join(f).parent().unwrap()).unwrap();
            std::fs::write(p.join(f), f).unwrap();
        }
        std::fs::write(
            p.join(".dockerignore"),
            "# comment\n**/*.log\n!app/keep.log\ndocs\nDockerfile\n",
        )
        .unwrap();
        let tar = tar_context(p, "Dockerfile").unwrap();
        let first = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .header()
            .path_bytes()
            .into_owned();
        // A short plain entry for the root (the tar crate writes it as `.`), never a
        // PAX or GNU long-name header, which dockerd 20.10 misreads without a session.
        assert!(
            first == b"." || first == b"./",
            "{:?}",
            String::from_utf8_lossy(&first)
        );
        let mut names: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with('/') && n != ".")
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ".dockerignore",
                "Dockerfile",
                "app",
                "app/keep.log",
                "app/main"
            ]
        );
    }
}
